//! Demo mode: keys generated once and kept under the data folder, the simulators wired
//! in, and demo staff whose passwords and TOTP secrets are generated (never defaults)
//! and written to a file readable by the owner only.
use crate::settings::Settings;
use anyhow::{Context, Result};
use app::staff::NewStaffAccount;
use app::{Actor, App};
use domain::staff::Role;
use std::path::PathBuf;
use store::Store;

#[derive(Clone, Debug)]
pub struct DemoCredential {
    pub username: String,
    pub display_name: String,
    pub roles: String,
    pub password: String,
    pub totp_secret: String,
}

fn data_dir(s: &Settings) -> PathBuf {
    PathBuf::from(&s.demo.data_dir)
}

fn write_private(path: &PathBuf, content: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// Fills in missing data keys from `<data_dir>/demo-keys.toml`, creating it on first run,
/// so a restarted demo can still read what it stored.
pub fn ensure_demo_keys(s: &mut Settings) -> Result<()> {
    // The courier simulator starts in this process and learns the push URL from us, so a
    // fresh secret per run is enough.
    if s.courier.push_secret.is_empty() {
        s.courier.push_secret = hex::encode(crypto::random_bytes::<16>()).as_str().into();
    }
    if !s.security.field_key.is_empty() && !s.security.lookup_key.is_empty() {
        return Ok(());
    }
    let path = data_dir(s).join("demo-keys.toml");
    let (field, lookup) = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} = \""))).map(|v| v.trim_end_matches('"').to_owned());
            (get("field_key").context("demo-keys.toml lacks field_key")?, get("lookup_key").context("demo-keys.toml lacks lookup_key")?)
        }
        Err(_) => {
            let alg = crypto::FieldCipherAlgorithm::parse(&s.security.field_cipher).context("security.field_cipher")?;
            let field = hex::encode(&crypto::random_bytes::<32>()[..alg.key_len()]);
            let lookup = hex::encode(crypto::random_bytes::<32>());
            write_private(
                &path,
                &format!("# Demo-mode data keys. Production keys come from settings or a secret store.\nfield_key = \"{field}\"\nlookup_key = \"{lookup}\"\n"),
            )?;
            (field, lookup)
        }
    };
    if s.security.field_key.is_empty() {
        s.security.field_key = field.into();
    }
    if s.security.lookup_key.is_empty() {
        s.security.lookup_key = lookup.into();
    }
    Ok(())
}

pub fn sim_config(s: &Settings) -> sim::SimConfig {
    let mut c = sim::SimConfig {
        his_port: s.demo.his_port,
        wechat_port: s.demo.wechat_port,
        realname_port: s.demo.realname_port,
        nhsa_port: s.demo.nhsa_port,
        ccb_port: s.demo.ccb_port,
        sms_port: s.demo.sms_port,
        navigation_port: s.demo.navigation_port,
        einvoice_port: s.demo.einvoice_port,
        courier_port: s.demo.courier_port,
        face_port: s.demo.face_port,
        ..Default::default()
    };
    // The bank notifies our callback route; the address is known once the listener is bound.
    if !s.server.callback_base_url.is_empty() {
        c.ccb.notify_url = format!("{}/callbacks/ccb", s.server.callback_base_url.trim_end_matches('/'));
    }
    // Where the bank's cashier sends the payer back: the patient-facing address (the
    // browser keeps its cookies on `localhost`, not on `127.0.0.1`).
    let public = s.patient_base_url();
    if !public.is_empty() {
        c.ccb.return_url = format!("{}/pay/{{order}}/result", public.trim_end_matches('/'));
    }
    c.his.seed = s.demo.seed;
    // The LIS prints the hospital's verification QR on its own form: the page's address
    // and the key its codes are made with (a real LIS is configured the same way).
    if !public.is_empty() {
        c.his.report_verify_base = format!("{}/verify/report/", public.trim_end_matches('/'));
        c.his.report_verify_key = crate::report_verify_key(s).unwrap_or_default();
    }
    // The HIS pushes its events to our open message interface.
    c.his.push_base_url = s.server.callback_base_url.clone();
    // The courier pushes route steps to the secret URL registered in its console.
    if !s.server.callback_base_url.is_empty() {
        c.courier_push_url = format!("{}/courier/sf/route-push/{}", s.server.callback_base_url.trim_end_matches('/'), s.courier.push_secret.expose());
    }
    c
}

/// Points every connector at the running simulators, with the simulators' demo keys.
pub fn point_at_sims(s: &mut Settings, sims: &sim::RunningSims) {
    let d = sim::SimConfig::default();
    s.his.base_url = sims.his_url.clone();
    s.his.channel_id = d.his.channel_id.clone();
    s.his.channel_key = d.his.channel_key.as_str().into();
    s.wechat.authorize_base = sims.wechat_url.clone();
    s.wechat.api_base = sims.wechat_url.clone();
    s.wechat.appid = d.wechat.appid.clone();
    s.wechat.secret = d.wechat.secret.as_str().into();
    s.realname.base_url = sims.realname_url.clone();
    s.realname.key = d.realname.key.as_str().into();
    s.einvoice.base_url = sims.einvoice_url.clone();
    s.einvoice.appid = d.einvoice.appid.clone();
    s.einvoice.key = d.einvoice.key.as_str().into();
    s.einvoice.payee = s.server.hospital_name.clone();
    s.courier.url = format!("{}/std/service", sims.courier_url);
    s.courier.partner_id = d.courier.partner_id.clone();
    s.courier.check_word = d.courier.check_word.as_str().into();
    s.courier.monthly_card = "7551234567".into();
    s.face.api_base = format!("{}/rest/2.0/face/v3", sims.face_url);
    s.face.workstation_rooms.entry(DEMO_WORKSTATION_KEY.into()).or_insert_with(|| DEMO_WORKSTATION_ROOM.into());
    s.face.token_url = format!("{}/oauth/2.0/token", sims.face_url);
    s.face.api_key = d.face.api_key.clone();
    s.face.secret_key = d.face.secret_key.as_str().into();
    s.ccb.base_url = sims.ccb_url.clone();
    s.ccb.merchant_client_url = format!("{}/merchant-client", sims.ccb_url);
    s.ccb.merchant_id = d.ccb.merchant_id.clone();
    s.ccb.pos_id = d.ccb.pos_id.clone();
    s.ccb.branch_id = d.ccb.branch_id.clone();
    s.ccb.user_id = "demo-operator".into();
    s.ccb.password = "demo-operator-password".into();
    s.ccb.bank_public_key = sims.ccb.lock().expect("ccb lock").public_key_pem();
    s.ccb.notify_digest = "md5".into();
    let b64 = |b: &[u8]| base64::engine::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    s.nhsa.base_url = sims.nhsa_url.clone();
    s.nhsa.app_id = d.nhsa.app_id.clone();
    s.nhsa.app_secret = d.nhsa.app_secret.as_str().into();
    s.nhsa.signer_id = d.nhsa.signer_id.as_str().into();
    s.nhsa.hospital_private_key = b64(&sim::nhsa::demo_secret("carebridge-demo-hospital-sm2")).into();
    s.nhsa.centre_public_key = b64(&sims.nhsa.lock().expect("nhsa lock").centre_public());
    s.nhsa.org_codg = sim::demo::HOSPITAL_CODE.into();
    s.nhsa.auth_page_url = format!("{}/__sim/medins/auth", sims.nhsa_url);
    s.nhsa.family_bind_page_url = format!("{}/__sim/medins/family-bind", sims.nhsa_url);
    s.nhsa.receiver_base = sims.nhsa_url.clone();
    s.sms.base_url = sims.sms_url.clone();
    s.sms.access_key_id = d.sms.access_key_id.clone();
    s.sms.access_key_secret = d.sms.access_key_secret.as_str().into();
    s.sms.sign_name = d.sms.sign_name.clone();
    s.sms.sdk_app_id = d.sms.sdk_app_id.clone();
    s.navigation.base_url = sims.navigation_url.clone();
    s.navigation.app_key = d.navigation.app_key.as_str().into();
    s.nhsa.partner_id = d.nhsa.partner_id.clone();
    s.nhsa.partner_secret = d.nhsa.partner_secret.as_str().into();
    s.nhsa.cashier_url = format!("{}/__sim/nhsa/cashier/{{pay_ord_id}}?redirect={{redirect}}", sims.nhsa_url);
}

const DEMO_STAFF: &[(&str, &str, &[Role])] = &[
    ("admin", "系统管理员", &[Role::Admin]),
    ("nurse01", "护士 周敏", &[Role::Nurse]),
    ("doctor01", "医生 王建国", &[Role::Doctor]),
    ("lab01", "检验科 李晓燕", &[Role::Lab]),
    ("records01", "病案室 陈慧敏", &[Role::Records]),
    ("finance01", "财务 刘海涛", &[Role::Finance]),
    ("outpatient01", "门诊部 赵振华", &[Role::Outpatient]),
];

fn random_password() -> String {
    // 12 characters from four classes, so it passes the password policy.
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    let r = crypto::random_bytes::<12>();
    let mut p = String::new();
    for (i, b) in r.iter().enumerate() {
        let set = [LOWER, UPPER, DIGIT][i % 3];
        p.push(set[*b as usize % set.len()] as char);
    }
    p.push('!');
    p
}

/// The demo hospital's INS-2 department exceptions (protocols.md §7: children's,
/// maternity and fever clinics), written once; the console edits them afterwards.
/// The demo HIS's client of the open message interface (MSG-3), so its events reach us.
pub async fn seed_open_api_client(store: &Store, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    let d = sim::his::HisSimConfig::default();
    if store.open_api_secret(&d.push_key_id).await.map_err(|e| anyhow::anyhow!("{}", e.detail))?.is_none() {
        store.add_open_api_client(&d.push_key_id, "HIS 集成平台（演示）", &d.push_secret, now).await.map_err(|e| anyhow::anyhow!("{}", e.detail))?;
    }
    if store.open_api_secret(DEMO_WORKSTATION_KEY).await.map_err(|e| anyhow::anyhow!("{}", e.detail))?.is_none() {
        store
            .add_open_api_client(DEMO_WORKSTATION_KEY, &format!("诊间工作站 {DEMO_WORKSTATION_ROOM}（演示）"), DEMO_WORKSTATION_SECRET, now)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
    }
    Ok(())
}

/// The demo's consulting-room workstation (FACE-3): its open-interface key, secret and room.
pub const DEMO_WORKSTATION_KEY: &str = "ws-0101-3";
pub const DEMO_WORKSTATION_SECRET: &str = "demo-workstation-secret-0101-3";
pub const DEMO_WORKSTATION_ROOM: &str = "内科3诊室";

pub async fn seed_insurance_rules(app: &App, store: &Store) -> Result<()> {
    use domain::insurance::{DeptException, InsuranceKind::*};
    if !store.insurance_rule_rows().await.map_err(|e| anyhow::anyhow!("{}", e.detail))?.is_empty() {
        return Ok(());
    }
    let rows = [
        ("0103", vec![Children], "儿科（少儿医保）直接就诊"),
        ("0104", vec![Tier2, Tier3], "产科（生育）直接就诊"),
        ("0105", vec![Tier2, Tier3, Children], "发热门诊直接就诊"),
    ];
    let actor = Actor::system("demo");
    for (dept, kinds, label) in rows {
        let e = DeptException { dept_id: dept.into(), kinds, label: label.into() };
        app.add_insurance_exception(&e, &actor).await.map_err(|e| anyhow::anyhow!("seeding insurance rules: {}", e.detail))?;
    }
    Ok(())
}

/// Creates the demo staff once (when there are no staff at all) and returns their
/// credentials, read back from the credentials file on later runs.
pub async fn seed_demo_staff(app: &App, store: &Store, s: &Settings) -> Result<Vec<DemoCredential>> {
    let path = data_dir(s).join("demo-credentials.txt");
    if store.staff_count().await.map_err(|e| anyhow::anyhow!(e.detail))? > 0 {
        return Ok(read_credentials(&path));
    }
    let mut creds = Vec::new();
    for (username, name, roles) in DEMO_STAFF {
        let password = random_password();
        let en = app
            .create_staff(
                NewStaffAccount { username: (*username).into(), display_name: (*name).into(), password: password.clone(), roles: roles.to_vec() },
                &Actor::system("demo_seed"),
            )
            .await
            .map_err(|e| anyhow::anyhow!("seeding demo staff: {}", e.detail))?;
        creds.push(DemoCredential {
            username: en.username,
            display_name: (*name).into(),
            roles: roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
            password,
            totp_secret: en.totp_secret_base32,
        });
    }
    let mut text = String::from("# Demo staff (demo mode only). username\tpassword\ttotp_secret\troles\n");
    for c in &creds {
        text.push_str(&format!("{}\t{}\t{}\t{}\t{}\n", c.username, c.password, c.totp_secret, c.roles, c.display_name));
    }
    write_private(&path, &text)?;
    Ok(creds)
}

fn read_credentials(path: &PathBuf) -> Vec<DemoCredential> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 5).then(|| DemoCredential {
                username: f[0].into(),
                password: f[1].into(),
                totp_secret: f[2].into(),
                roles: f[3].into(),
                display_name: f[4].into(),
            })
        })
        .collect()
}

/// What demo mode prints at start.
pub fn banner(base: &str, creds: &[DemoCredential], sims: &sim::RunningSims, data_dir: &str) -> String {
    let mut b = String::new();
    b.push_str("\n================ Carebridge demo hospital ================\n");
    b.push_str(&format!("Patient pages (open at phone width):  {base}/\n"));
    b.push_str("  Sign in with WeChat, then pick a demo WeChat user (张伟, 李娜, 王芳 or a new user).\n");
    b.push_str(&format!("Staff console:  {base}/staff/login\n"));
    b.push_str(&format!("API docs:       {base}/api/docs\n"));
    b.push_str(&format!(
        "Simulators:     HIS {}  WeChat {}  real-name {}  NHSA {}  CCB {}  SMS {}  navigation {}  e-invoice {}  courier {}  face engine {}\n",
        sims.his_url,
        sims.wechat_url,
        sims.realname_url,
        sims.nhsa_url,
        sims.ccb_url,
        sims.sms_url,
        sims.navigation_url,
        sims.einvoice_url,
        sims.courier_url,
        sims.face_url
    ));
    b.push_str(&format!("What phones receive: WeChat {}/__sim/wechat/inbox  SMS {}/__sim/sms/messages\n", sims.wechat_url, sims.sms_url));
    b.push_str(&format!("HIS events (doctor's orders, pharmacy, 危急值, deposit …): {}/__sim/his/events\n", sims.his_url));
    b.push_str(&format!(
        "LIS/PACS (sample, report, withdraw; lose or repeat its pushes): {}/__sim/lis   lab console: {base}/staff/lab (lab01, doctor01)\n",
        sims.his_url
    ));
    b.push_str("Demo staff (password, then the 6-digit code from `carebridge otp <secret>` or any authenticator app):\n");
    for c in creds {
        b.push_str(&format!("  {:<13} {:<11} password {:<14} TOTP secret {}\n", c.username, c.roles, c.password, c.totp_secret));
    }
    b.push_str(&format!("(kept in {data_dir}/demo-credentials.txt)\n"));
    b.push_str("===========================================================\n");
    b
}
