//! The whole application on 127.0.0.1:0, wired exactly as `carebridge serve --demo`
//! wires it (simulators on loopback ports, real HTTP between every part), on a fresh
//! database of the chosen backend.
use crate::db::{TestBackend, TestDb};
use domain::{Clock, SystemClock};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use server::settings::Settings;
use std::sync::Arc;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub app: app::App,
    /// Behind the use cases, for what a test must look at or set up directly.
    pub store: store::Store,
    /// The HIS connector the node uses (the real one, pointed at the simulator).
    pub his_port: Arc<dyn domain::ports::HisPort>,
    bank: Option<Arc<dyn domain::ports::BankPort>>,
    insurance_centre: Option<Arc<dyn domain::ports::InsuranceCentrePort>>,
    pub his_url: String,
    pub wechat_url: String,
    pub his: sim::his::SharedHis,
    pub wechat: sim::wechat::SharedWechat,
    pub ccb_url: String,
    pub ccb: sim::ccb::SharedCcb,
    pub nhsa_url: String,
    pub nhsa: sim::nhsa::SharedNhsa,
    pub sms_url: String,
    pub sms: sim::sms::SharedSms,
    pub navigation_url: String,
    pub einvoice_url: String,
    pub einvoice: sim::einvoice::SharedEInvoice,
    pub courier_url: String,
    pub courier: sim::courier::SharedCourier,
    pub face_url: String,
    pub face: sim::face::SharedFace,
    pub demo_credentials: Vec<server::demo::DemoCredential>,
    pub data_dir: std::path::PathBuf,
    pub db: TestDb,
    /// The settings the node runs with (pointed at its simulators).
    pub settings: Settings,
    clock: Arc<dyn Clock>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(backend: TestBackend) -> Self {
        Self::spawn_with(backend, Arc::new(SystemClock), |_| {}).await
    }

    pub async fn spawn_with(backend: TestBackend, clock: Arc<dyn Clock>, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_opts(backend, clock, true, tweak).await
    }

    /// `workers: false` leaves the outbox to the test (to drive a pool of its own).
    pub async fn spawn_opts(backend: TestBackend, clock: Arc<dyn Clock>, workers: bool, tweak: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDb::new(backend).await;
        let data_dir = std::env::temp_dir().join(format!("cb-app-{}", uuid::Uuid::new_v4().simple()));
        let mut s = Settings::defaults();
        s.database.url = db.url.clone();
        s.database.max_connections = 8;
        s.demo.data_dir = data_dir.display().to_string();
        s.files.dir = data_dir.join("files").display().to_string();
        s.audit.checkpoint_file = data_dir.join("audit-checkpoints.log").display().to_string();
        s.demo.his_port = 0;
        s.demo.wechat_port = 0;
        s.demo.realname_port = 0;
        s.demo.nhsa_port = 0;
        s.demo.ccb_port = 0;
        s.demo.sms_port = 0;
        s.demo.navigation_port = 0;
        s.demo.einvoice_port = 0;
        s.demo.courier_port = 0;
        s.demo.face_port = 0;
        s.workers.count = 2;
        s.workers.poll_ms = 50;
        s.server.bind = "127.0.0.1:0".into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        s.server.callback_base_url = format!("http://{addr}");
        tweak(&mut s);
        let node = server::assemble(s, true, clock, workers).await.expect("assemble node");
        let sims = node.sims.as_ref().expect("demo sims");
        let (his_url, wechat_url, his, wechat, ccb_url, ccb) =
            (sims.his_url.clone(), sims.wechat_url.clone(), sims.his.clone(), sims.wechat.clone(), sims.ccb_url.clone(), sims.ccb.clone());
        let (nhsa_url, nhsa) = (sims.nhsa_url.clone(), sims.nhsa.clone());
        let (sms_url, sms, navigation_url) = (sims.sms_url.clone(), sims.sms.clone(), sims.navigation_url.clone());
        let (einvoice_url, einvoice) = (sims.einvoice_url.clone(), sims.einvoice.clone());
        let (courier_url, courier) = (sims.courier_url.clone(), sims.courier.clone());
        let (face_url, face) = (sims.face_url.clone(), sims.face.clone());
        let app = node.app.clone();
        let (store, his_port, bank, insurance_centre) = (node.store.clone(), node.his.clone(), node.bank.clone(), node.insurance_centre.clone());
        let demo_credentials = node.demo_credentials.clone();
        let settings = node.settings.clone();
        let node_clock = node.clock.clone();
        let (stop, done) = serve_in_background(node, listener);
        Self {
            base: format!("http://{addr}"),
            app,
            store,
            his_port,
            bank,
            insurance_centre,
            his_url,
            wechat_url,
            his,
            wechat,
            ccb_url,
            ccb,
            nhsa_url,
            nhsa,
            sms_url,
            sms,
            navigation_url,
            einvoice_url,
            einvoice,
            courier_url,
            courier,
            face_url,
            face,
            demo_credentials,
            data_dir,
            db,
            settings,
            clock: node_clock,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// The app on a fake clock set to `at`, workers off (tests drive jobs with `drain_jobs`).
    pub async fn spawn_at(backend: TestBackend, at: chrono::DateTime<chrono::Utc>) -> (Self, domain::FakeClock) {
        let clock = domain::FakeClock::new(at);
        let t = Self::spawn_opts(backend, Arc::new(clock.clone()), false, |_| {}).await;
        (t, clock)
    }

    /// Adds the demo citizen `name` to the signed-in account as 就诊人 through the API;
    /// returns the patient id.
    pub async fn add_demo_patient(&self, cookie: &str, name: &str, relationship: &str) -> i64 {
        let c = sim::demo::citizens(self.app.today()).into_iter().find(|x| x.name == name).unwrap_or_else(|| panic!("no demo citizen {name}"));
        let r = Self::http()
            .post(self.url("/api/v1/me/patients"))
            .header("cookie", cookie)
            .json(&serde_json::json!({"name": c.name, "id_card_no": c.id_card_no, "relationship": relationship}))
            .send()
            .await
            .expect("add patient");
        assert_eq!(r.status(), 201, "{name}");
        r.json::<serde_json::Value>().await.expect("json")["id"].as_i64().expect("id")
    }

    /// The bank connector the node uses (pointed at the bank simulator).
    pub fn bank(&self) -> &dyn domain::ports::BankPort {
        self.bank.as_deref().expect("the demo node has a bank")
    }

    /// The insurance centre connector the node uses (pointed at the NHSA simulator).
    pub fn insurance_centre(&self) -> &dyn domain::ports::InsuranceCentrePort {
        self.insurance_centre.as_deref().expect("the demo node has an insurance centre")
    }

    /// Runs due jobs until none is left (tests that drive the outbox themselves).
    pub async fn drain_jobs(&self) {
        let reg = app::jobs::Registry::standard();
        let cfg = app::jobs::PoolConfig::default();
        for _ in 0..5_000 {
            if app::jobs::run_once(&self.app, &reg, &cfg, "test").await.expect("run jobs") == 0 {
                return;
            }
        }
        panic!("jobs keep coming");
    }

    /// The patient authorises on the insurance simulator's page: returns (authCode, state)
    /// from where it sends the browser back.
    pub async fn authorise_insurance(&self, authorize_url: &str, allow: bool) -> (String, String) {
        let q = url_query(authorize_url);
        let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let r = Self::http()
            .post(format!("{}/__sim/medins/auth", self.nhsa_url))
            .form(&[
                ("decision", if allow { "allow" } else { "deny" }),
                ("redirect_uri", &get("redirect_uri")),
                ("state", &get("state")),
                ("relative", &get("relative")),
            ])
            .send()
            .await
            .expect("authorise");
        let back = url_query(&location(r.headers()));
        let get = |k: &str| back.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
        (get("authCode"), get("state"))
    }

    /// A bookable slot of `dept` starting at least `hours_ahead` hours from now (panics if
    /// the demo schedule has none).
    pub async fn free_slot(&self, dept: &str, hours_ahead: i64) -> String {
        free_slot(&self.app, dept, hours_ahead).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that does not follow redirects (tests look at each hop).
    pub fn http() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
    }

    /// Signs in as a demo WeChat user through the real OAuth round trip (our login
    /// endpoint → the WeChat simulator's consent form → our callback). Returns the
    /// session cookie's `Set-Cookie` header and the `name=value` pair to send back.
    pub async fn wechat_sign_in(&self, openid: &str) -> (String, String) {
        let http = Self::http();
        let r = http.get(self.url("/wx/login?next=%2Fpatients")).send().await.expect("login");
        assert_eq!(r.status(), 303, "login redirects to WeChat");
        let state_cookie = cookie_pair(r.headers(), "__Host-cb_oauth").expect("oauth state cookie");
        let authorize = location(r.headers());
        let q: Vec<(String, String)> = url_query(&authorize);
        let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let r = http
            .post(format!("{}/connect/oauth2/authorize/confirm", self.wechat_url))
            .form(&[("openid", openid), ("redirect_uri", &get("redirect_uri")), ("state", &get("state")), ("scope", &get("scope"))])
            .send()
            .await
            .expect("consent");
        assert_eq!(r.status(), 303, "consent redirects back");
        let callback = location(r.headers());
        let r = http.get(callback).header("cookie", &state_cookie).send().await.expect("callback");
        assert_eq!(r.status(), 303, "callback signs in: {:?}", r.headers());
        let set = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("__Host-cb_patient="))
            .expect("session cookie")
            .to_owned();
        let pair = set.split(';').next().unwrap().to_owned();
        (set, pair)
    }

    /// A client of the face engine's simulator, as the platform's own connector speaks to it
    /// (for tests that ask the engine what it holds or finds).
    pub fn face_engine_client(&self) -> gateways::face::client::FaceClient {
        let cfg = sim::face::FaceSimConfig::default();
        gateways::face::client::FaceClient::new(
            gateways::face::client::FaceClientConfig {
                api_base: format!("{}/rest/2.0/face/v3", self.face_url),
                token_url: format!("{}/oauth/2.0/token", self.face_url),
                api_key: cfg.api_key,
                secret_key: cfg.secret_key.as_str().into(),
                timeout: std::time::Duration::from_secs(5),
            },
            Arc::new(domain::SystemClock),
        )
    }

    /// Gives the face consent of a 就诊人 and enrols their face from a live capture (the
    /// demo citizen's synthetic face), as the phone's pages would.
    pub async fn enrol_face(&self, cookie: &str, patient_id: i64, id_number: &str) {
        let r = Self::http().post(self.url(&format!("/face/{patient_id}/consent"))).header("cookie", cookie).send().await.expect("consent");
        assert_eq!(r.status(), 303, "the consent is recorded");
        let r = Self::http()
            .post(self.url(&format!("/face/{patient_id}/enrol")))
            .header("cookie", cookie)
            .header("content-type", "image/jpeg")
            .body(crate::faces::live(id_number, 0))
            .send()
            .await
            .expect("enrol");
        assert_eq!(r.status(), 200, "enrolled: {}", r.text().await.unwrap_or_default());
    }

    /// Books the first free place of today in `dept` for a 就诊人 and pays it at the bank
    /// simulator's cashier; the booking is confirmed when this returns. Returns its number.
    pub async fn book_and_pay_today(&self, cookie: &str, patient_id: i64, dept: &str) -> String {
        // The catalogue's counts may lag a booking just made: the next slot when one is taken.
        let v = self.app.department_view(dept).await.expect("department");
        let now = domain::clock::to_local(self.app.now()).naive_local();
        let today = self.app.today();
        let slots: Vec<String> = v
            .schedules
            .iter()
            .filter(|s| !s.suspended && s.date == today)
            .flat_map(|s| s.slots.iter().filter(move |x| x.available > 0 && s.date.and_time(x.start) > now).map(|x| x.slot_id.clone()))
            .collect();
        let mut booked = None;
        for slot in &slots {
            let r = Self::http()
                .post(self.url("/api/v1/me/registrations"))
                .header("cookie", cookie)
                .header("idempotency-key", format!("today-{patient_id}-{slot}"))
                .json(&serde_json::json!({"patient_id": patient_id, "dept_id": dept, "slot_id": slot}))
                .send()
                .await
                .expect("book");
            let status = r.status();
            let b: serde_json::Value = r.json().await.expect("booking");
            if status == 201 {
                booked = Some(b);
                break;
            }
            assert_eq!(b["code"], "SLOT_TAKEN", "{b}");
        }
        let b = booked.unwrap_or_else(|| panic!("no place today in {dept}"));
        let order_no = b["order_no"].as_str().expect("an order");
        let cashier = self.app.start_self_pay(order_no).await.expect("cashier");
        assert_eq!(Self::http().post(format!("{cashier}/pay")).send().await.expect("pay").status(), 303);
        self.app.resolve_payment(order_no).await.expect("paid");
        self.drain_jobs().await;
        b["booking_no"].as_str().expect("a booking number").to_owned()
    }

    /// Signs a demo staff member in with password and the current TOTP code.
    pub async fn staff_sign_in(&self, username: &str) -> String {
        let c = self.demo_credentials.iter().find(|c| c.username == username).expect("demo staff");
        let secret = crypto::totp::base32_decode(&c.totp_secret).unwrap();
        let code = crypto::totp::code_at(&secret, self.app.now().timestamp());
        let r = Self::http()
            .post(self.url("/staff/login"))
            .form(&[("username", username), ("password", &c.password), ("otp", &code), ("next", "/staff")])
            .send()
            .await
            .expect("staff login");
        assert_eq!(r.status(), 303, "staff login succeeds");
        cookie_pair(r.headers(), "__Host-cb_staff").expect("staff cookie")
    }

    pub async fn set_wechat_faults(&self, faults: serde_json::Value) {
        let r = Self::http().post(format!("{}/__sim/wechat/faults", self.wechat_url)).json(&faults).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }

    pub async fn set_sms_faults(&self, faults: serde_json::Value) {
        let r = Self::http().post(format!("{}/__sim/sms/faults", self.sms_url)).json(&faults).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }

    /// What the WeChat simulator accepted, as its own log says.
    pub fn wechat_sent(&self) -> Vec<sim::wechat_msg::SentWechat> {
        self.wechat.lock().expect("wechat lock").messages.sent.clone()
    }

    /// What the SMS simulator accepted.
    pub fn sms_sent(&self) -> Vec<sim::sms::SentSms> {
        self.sms.lock().expect("sms lock").sent.clone()
    }

    /// Records a journey event as a use case would (in a transaction, with its dispatch
    /// job); returns whether it was new.
    pub async fn emit_event(&self, kind: &str, key: &str, patient_id: i64, payload: serde_json::Value) -> bool {
        let txn = self.store.write_txn().await.unwrap();
        let fresh = self.store.record_event(&txn, kind, key, Some(patient_id), &payload, self.app.now()).await.unwrap();
        txn.commit().await.unwrap();
        fresh
    }

    pub async fn set_his_faults(&self, faults: serde_json::Value) {
        let r = Self::http().post(format!("{}/__sim/faults", self.his_url)).json(&faults).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }

    /// The mobile the HIS holds for a person ("" for none).
    pub async fn set_his_mobile(&self, id_card_no: &str, mobile: &str) {
        let body = serde_json::json!({"idCardNo": id_card_no, "mobile": mobile});
        let r = Self::http().post(format!("{}/__sim/his/patient-mobile", self.his_url)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }
}

/// Serves `node` until the sender is used (or dropped).
fn serve_in_background(node: server::Node, listener: tokio::net::TcpListener) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stop_rx) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let _ = server::serve(node, listener, async move {
            let _ = stop_rx.await;
        })
        .await;
    });
    (stop, done)
}

/// Stops a node served in the background.
fn stop_serving(stop: &mut Option<oneshot::Sender<()>>, done: &mut Option<tokio::task::JoinHandle<()>>) {
    if let Some(s) = stop.take() {
        let _ = s.send(());
    }
    if let Some(d) = done.take() {
        d.abort();
    }
}

/// A further node of the same deployment: same database, same simulators, its own
/// process state (admission permits, caches, workers) — how a hospital group scales out.
pub struct PeerNode {
    pub base: String,
    pub app: app::App,
    pub store: store::Store,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Starts another node on this app's database and simulators, `tweak`ed.
    pub async fn spawn_peer(&self, tweak: impl FnOnce(&mut Settings)) -> PeerNode {
        let mut s = self.settings.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        s.server.bind = addr.to_string();
        tweak(&mut s);
        let node = server::assemble(s, false, self.clock.clone(), true).await.expect("assemble peer node");
        let (app, store) = (node.app.clone(), node.store.clone());
        let (stop, done) = serve_in_background(node, listener);
        PeerNode { base: format!("http://{addr}"), app, store, stop: Some(stop), done: Some(done) }
    }
}

impl Drop for PeerNode {
    fn drop(&mut self) {
        stop_serving(&mut self.stop, &mut self.done);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        stop_serving(&mut self.stop, &mut self.done);
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub fn location(h: &HeaderMap) -> String {
    h.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

pub fn cookie_pair(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

pub fn url_query(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let q = q.split('#').next().unwrap_or("");
    serde_urlencoded::from_str(q).unwrap_or_default()
}

/// A valid ID number (GB 11643) with the given first 17 digits' prefix and birth date.
pub fn id_number(first17: &str) -> String {
    format!("{first17}{}", domain::identity::IdCardNo::check_char(first17).unwrap())
}

/// A bookable slot of `dept` starting at least `hours_ahead` hours from the app's now.
pub async fn free_slot(app: &app::App, dept: &str, hours_ahead: i64) -> String {
    free_place(app, dept, hours_ahead).await.map(|(_, slot, _)| slot).unwrap_or_else(|| panic!("no free slot in {dept}"))
}

/// The first slot of `dept` with a place, starting at least `hours_ahead` hours from the
/// app's now: (schedule, slot, visit date).
pub async fn free_place(app: &app::App, dept: &str, hours_ahead: i64) -> Option<(String, String, chrono::NaiveDate)> {
    let v = app.department_view(dept).await.expect("department");
    let now = domain::clock::to_local(app.now()).naive_local();
    v.schedules
        .iter()
        .filter(|s| !s.suspended)
        .flat_map(|s| s.slots.iter().map(move |x| (s, x)))
        .find(|(s, x)| x.available > 0 && s.date.and_time(x.start) > now + chrono::Duration::hours(hours_ahead))
        .map(|(s, x)| (s.schedule_id.clone(), x.slot_id.clone(), s.date))
}
