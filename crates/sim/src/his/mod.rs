//! The HIS simulator: a hospital information system's front-end-processor API as
//! Chinese HIS vendors expose it (protocols.md §8.2): `POST /his/api/v1/<operation>`,
//! a JSON envelope `{channelId, timestamp, nonce, data}`, an HMAC-SHA256 signature of
//! the raw body in `X-His-Sign`, and answers `{resultCode, resultMsg, data}` where
//! `resultCode` "0" is success. Amounts are integer fen.
//!
//! The vendor protocols are proprietary, so the exact operation and field names here
//! are our choice, modelled on the names those integrations use [I]; the connector in
//! `gateways::his` is the only code that depends on them.
mod admission_booking;
mod inpatient;
mod ops;
mod records;

pub use admission_booking::NewNotice;
pub use inpatient::Admission;

use crate::demo::{self, Citizen, DemoHospital};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::ports::FeeItem;
use domain::registration::{Schedule, SessionPeriod};
use domain::{Clock, Fen};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const LOCK_TTL_MINUTES: i64 = 15;

#[derive(Clone, Debug)]
pub struct HisSimConfig {
    pub channel_id: String,
    pub channel_key: String,
    pub seed: u64,
    /// Where the HIS pushes its notices (Carebridge's open message interface), and the
    /// client key and secret it signs with; empty: events are not pushed.
    pub push_base_url: String,
    pub push_key_id: String,
    pub push_secret: String,
    /// Where the QR under 扫码核验真伪 on the LIS's own form leads (the hospital's verification
    /// page, the code appended) and the key the code is made with; empty: a bare report number.
    pub report_verify_base: String,
    pub report_verify_key: Vec<u8>,
}

/// The demo HIS's client of the open message interface (the demo seeds it).
pub const DEMO_PUSH_KEY_ID: &str = "his-demo";
pub const DEMO_PUSH_SECRET: &str = "demo-his-open-api-secret-0001";

impl Default for HisSimConfig {
    fn default() -> Self {
        Self {
            channel_id: "WX01".into(),
            channel_key: "demo-his-channel-key".into(),
            seed: demo::DEFAULT_SEED,
            push_base_url: String::new(),
            push_key_id: DEMO_PUSH_KEY_ID.into(),
            push_secret: DEMO_PUSH_SECRET.into(),
            report_verify_base: String::new(),
            report_verify_key: Vec::new(),
        }
    }
}

/// Injected faults, set through `POST /__sim/faults`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Faults {
    #[serde(default)]
    pub latency_ms: u64,
    /// Each call takes `latency_ms` ± up to this many milliseconds (uniform).
    #[serde(default)]
    pub latency_jitter_ms: u64,
    /// How many calls the HIS works on at once (0: unbounded). Calls beyond it wait
    /// in the HIS's own queue, so an overloaded HIS gets slow, as a real one does.
    #[serde(default)]
    pub capacity: usize,
    /// The next calls of an operation answer with this result code.
    #[serde(default)]
    pub fail_next: Vec<(String, String)>,
    /// The next call of an operation is carried out, then answered with 504: the
    /// caller cannot tell whether it happened (timeout after commit).
    #[serde(default)]
    pub lose_response_next: Vec<String>,
    /// Added to every non-empty day list's total: a HIS whose lines do not add up.
    #[serde(default)]
    pub fee_list_off_by: i64,
    /// Days on which the wards are full: a registration for one is refused (2035).
    #[serde(default)]
    pub full_admission_days: Vec<NaiveDate>,
}

struct Patient {
    patient_id: String,
    mr_no: String,
    citizen: Citizen,
}

struct Lock {
    pre_id: String,
    slot_id: String,
    patient_id: String,
    channel_order_no: String,
    see_no: u32,
    fee: Fen,
    expires_at: DateTime<Utc>,
    confirmed: Option<String>,
    /// 退号: the refund trade number it was cancelled under.
    cancelled: Option<String>,
    /// 签到: the queue number taken.
    queue_no: Option<u32>,
}

struct Bill {
    recipe_id: String,
    visit_id: String,
    dept_id: String,
    dept_name: String,
    doctor_name: String,
    issued_at: DateTime<Utc>,
    items: Vec<FeeItem>,
    paid: bool,
}

struct PreSettle {
    patient_id: String,
    recipe_ids: Vec<String>,
    total: Fen,
    fund: Fen,
    acct: Fen,
    own: Fen,
    settled: Option<(String, String)>,
}

/// One recharge or spending on a patient's card.
struct CardEntry {
    patient_id: String,
    trade_no: String,
    kind: &'static str,
    amount: i64,
    at: DateTime<Utc>,
    remark: String,
}

struct Trade {
    trade_no: String,
    kind: &'static str,
    amount: Fen,
    at: DateTime<Utc>,
}

pub struct HisState {
    cfg: HisSimConfig,
    clock: Arc<dyn Clock>,
    hospital: DemoHospital,
    patients: Vec<Patient>,
    locks: Vec<Lock>,
    /// How many times each operation was called (answered or refused): a test proves
    /// the platform wrote something once (`reg_confirm`, `charge_commit`) with it.
    pub op_calls: HashMap<String, u64>,
    bills: HashMap<String, Vec<Bill>>,
    pre_settles: HashMap<String, PreSettle>,
    stays: Vec<inpatient::Stay>,
    /// Admission notices (入院通知单) and their registrations.
    notices: Vec<admission_booking::Notice>,
    trades: Vec<Trade>,
    seq: u64,
    faults: Faults,
    /// Visiting-card stored value per patient (fen).
    cards: HashMap<String, i64>,
    /// Card recharges and spending per patient.
    card_log: Vec<CardEntry>,
    /// Physical cards bound on the phone, per patient.
    bound_cards: HashMap<String, String>,
    /// The LIS/PACS behind the HIS.
    pub(crate) lab: crate::lis::LabState,
    pub load: Arc<HisLoad>,
}

pub type SharedHis = Arc<Mutex<HisState>>;

/// How loaded the HIS is: calls received and not yet answered (queued or worked on),
/// the peak of that since the last reset, and the number of calls.
#[derive(Default)]
pub struct HisLoad {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    calls: AtomicU64,
    /// Bounds the calls worked on at once (`Faults::capacity`).
    workers: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
}

/// Counts one call as in flight until dropped.
struct InFlight<'a>(&'a HisLoad);

impl HisLoad {
    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }
    fn set_capacity(&self, capacity: usize) {
        *self.workers.lock().expect("his load lock") = (capacity > 0).then(|| Arc::new(tokio::sync::Semaphore::new(capacity)));
    }
    fn workers(&self) -> Option<Arc<tokio::sync::Semaphore>> {
        self.workers.lock().expect("his load lock").clone()
    }
    /// (in flight now, peak since reset, calls since reset).
    pub fn snapshot(&self) -> (usize, usize, u64) {
        (self.in_flight.load(Ordering::SeqCst), self.peak.load(Ordering::SeqCst), self.calls.load(Ordering::Relaxed))
    }
    pub fn reset(&self) {
        self.peak.store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        self.calls.store(0, Ordering::Relaxed);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

type OpResult = Result<Value, (&'static str, String)>;

/// A paid recipe's tests: recipe, (item code, name)s, department, doctor.
type PaidTests = (String, Vec<(String, String)>, String, String);

fn err<T>(code: &'static str, msg: impl Into<String>) -> Result<T, (&'static str, String)> {
    Err((code, msg.into()))
}

fn s<'a>(data: &'a Value, key: &str) -> Result<&'a str, (&'static str, String)> {
    data.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()).ok_or(("1001", format!("缺少参数 {key}")))
}

fn fen(data: &Value, key: &str) -> Result<Fen, (&'static str, String)> {
    data.get(key).and_then(Value::as_i64).map(Fen).ok_or(("1001", format!("缺少参数 {key}")))
}

fn period_flag(p: SessionPeriod) -> u8 {
    match p {
        SessionPeriod::Morning => 1,
        SessionPeriod::Afternoon => 2,
        SessionPeriod::Evening => 3,
    }
}

fn items_json(items: &[FeeItem]) -> Value {
    Value::Array(
        items
            .iter()
            .map(
                |i| json!({"itemCode": i.item_code, "itemName": i.name, "qty": i.qty, "price": i.unit_price.0, "amount": i.amount.0, "insurable": i.insurable}),
            )
            .collect(),
    )
}

impl HisState {
    /// Makes the LIS's next report carry this file (`pdf` or `jpeg`) besides its own:
    /// how tests send hostile files through the report intake.
    pub fn lis_next_file(&mut self, kind: &'static str, name: String, bytes: Vec<u8>) {
        self.lab.next_file = Some((kind, name, bytes));
    }

    pub fn new(cfg: HisSimConfig, clock: Arc<dyn Clock>) -> Self {
        let today = domain::clock::to_local(clock.now()).date_naive();
        let hospital = DemoHospital::generate(cfg.seed, today);
        let mut lab = crate::lis::LabState::default();
        lab.verify = (!cfg.report_verify_base.is_empty()).then(|| (cfg.report_verify_base.clone(), cfg.report_verify_key.clone()));
        let mut st = Self {
            cfg,
            clock,
            hospital,
            patients: vec![],
            locks: vec![],
            op_calls: HashMap::new(),
            bills: HashMap::new(),
            pre_settles: HashMap::new(),
            stays: vec![],
            notices: vec![],
            trades: vec![],
            seq: 0,
            faults: Faults::default(),
            cards: HashMap::new(),
            card_log: Vec::new(),
            bound_cards: HashMap::new(),
            lab,
            load: Arc::new(HisLoad::default()),
        };
        let citizens = st.hospital.citizens.clone();
        for c in citizens.into_iter().filter(|c| c.registered_in_his) {
            st.create_patient(c);
        }
        st.seed_activity();
        st.seed_lab();
        st.seed_notices();
        st
    }

    /// Name, sex and age as a report prints them.
    pub(crate) fn patient_brief(&self, patient_id: &str) -> crate::lis::PatientBrief {
        let Some(p) = self.patient_by_id(patient_id) else { return Default::default() };
        let c = &p.citizen;
        let sex = if demo::gender_of(&c.id_card_no) == domain::identity::Gender::Male { "男" } else { "女" };
        let today = domain::clock::to_local(self.clock.now()).date_naive();
        let age = domain::identity::IdCardNo::parse(&c.id_card_no, today).map(|id| format!("{}岁", id.expose().age_on(today))).unwrap_or_default();
        (c.name.clone(), sex.into(), age)
    }

    /// Demo lab history for 张伟: yesterday's visit with a blood count reported (a
    /// PDF), a CRP sampled, a urine test whose specimen was rejected, and a chest film
    /// paid but not yet taken — every state of RPT-1 on first sight.
    fn seed_lab(&mut self) {
        let Some(pid) = self.patients.iter().find(|p| p.citizen.name == "张伟").map(|p| p.patient_id.clone()) else { return };
        let now = self.clock.now();
        let cat = demo::fee_catalogue();
        let items: Vec<FeeItem> =
            ["250101001", "250301001", "250102001", "210102015"].iter().filter_map(|c| cat.iter().find(|i| i.item_code == *c).cloned()).collect();
        let (recipe_id, visit_id) = (self.next("RX"), self.next("V"));
        let dept_name = self.hospital.departments.iter().find(|d| d.dept_id == "0101").map(|d| d.name.clone()).unwrap_or_default();
        let doctor_name = self.hospital.doctors.iter().find(|d| d.dept_id == "0101").map(|d| d.name.clone()).unwrap_or_default();
        let paid_at = now - Duration::hours(3);
        let names: Vec<(String, String)> = items.iter().map(|i| (i.item_code.clone(), i.name.clone())).collect();
        self.bills.entry(pid.clone()).or_default().push(Bill {
            recipe_id: recipe_id.clone(),
            visit_id,
            dept_id: "0101".into(),
            dept_name: dept_name.clone(),
            doctor_name: doctor_name.clone(),
            issued_at: paid_at - Duration::minutes(20),
            items,
            paid: true,
        });
        self.lab.on_paid(&pid, &recipe_id, &names, &dept_name, &doctor_name, paid_at);
        let orders: Vec<(String, String)> =
            self.lab.orders.iter().filter(|o| o.recipe_id == recipe_id).map(|o| (o.order_no.clone(), o.item_code.clone())).collect();
        let brief = self.patient_brief(&pid);
        for (order_no, code) in orders {
            let sampled = paid_at + Duration::minutes(15);
            let _ = match code.as_str() {
                "250101001" => self
                    .lab
                    .sample(&order_no, sampled)
                    .and_then(|_| self.lab.report(&order_no, crate::lis::FileMode::Pdf, brief.clone(), sampled + Duration::minutes(50))),
                "250301001" => self.lab.sample(&order_no, now - Duration::minutes(40)),
                "250102001" => self.lab.sample(&order_no, sampled).and_then(|_| {
                    // The lab takes samples until 16:30: the deadline is never already past.
                    let closes = chrono::NaiveTime::from_hms_opt(16, 30, 0).expect("time");
                    let by = domain::reports::resample_deadline_text(domain::clock::to_local(now).naive_local(), closes);
                    self.lab
                        .reject(
                            &order_no,
                            "标本量不足",
                            &format!("请于{by}前到门诊楼1层检验科B区3号窗口重新留取尿液标本，无需再次缴费。"),
                            "lab01",
                            sampled + Duration::minutes(30),
                        )
                        .map(|_| ())
                        .map_err(|e| e.1)
                }),
                _ => Ok(()),
            };
        }
        // Nobody is listening yet: the platform finds these by polling.
        self.lab.pending.clear();
    }

    fn next(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}{}{:06}", domain::clock::to_local(self.clock.now()).format("%Y%m%d"), self.seq)
    }

    fn create_patient(&mut self, c: Citizen) -> usize {
        self.seq += 1;
        let n = self.patients.len() + 1;
        self.patients.push(Patient { patient_id: format!("P{:08}", 10_000 + n), mr_no: format!("MR{:08}", 2_026_000 + n), citizen: c });
        self.patients.len() - 1
    }

    fn patient_by_id(&self, patient_id: &str) -> Option<&Patient> {
        self.patients.iter().find(|p| p.patient_id == patient_id)
    }

    // --- for the event push (`crate::his_events`) ---------------------------------------

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    pub fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
    pub fn has_patient(&self, patient_id: &str) -> bool {
        self.patient_by_id(patient_id).is_some()
    }
    pub fn patient_list(&self) -> Vec<(String, String)> {
        self.patients.iter().map(|p| (p.patient_id.clone(), p.citizen.name.clone())).collect()
    }
    pub fn push_target(&self) -> Option<(String, String, String)> {
        (!self.cfg.push_base_url.is_empty()).then(|| (self.cfg.push_base_url.clone(), self.cfg.push_key_id.clone(), self.cfg.push_secret.clone()))
    }
    /// The patient's most recent recipe, paid or not.
    pub fn latest_recipe(&self, patient_id: &str) -> String {
        self.bills.get(patient_id).and_then(|b| b.last()).map(|b| b.recipe_id.clone()).unwrap_or_default()
    }
    /// The doctor issues new orders (a blood count and a prescription) in the patient's
    /// department today: a new unpaid bill. Returns (recipe, visit, dept name, doctor,
    /// total fen, item count).
    pub fn issue_orders(&mut self, patient_id: &str) -> (String, String, String, String, i64, usize) {
        let cat = demo::fee_catalogue();
        let items = vec![cat[0].clone(), cat[3].clone()];
        let dept = self.bills.get(patient_id).and_then(|b| b.last()).map(|b| b.dept_id.clone()).unwrap_or_else(|| "0101".into());
        let dept_name = self.hospital.departments.iter().find(|d| d.dept_id == dept).map(|d| d.name.clone()).unwrap_or_default();
        let doctor_name = self.hospital.doctors.iter().find(|d| d.dept_id == dept).map(|d| d.name.clone()).unwrap_or_default();
        let (recipe_id, visit_id) = (self.next("RX"), self.next("V"));
        let total: i64 = items.iter().map(|i| i.amount.0).sum();
        let n = items.len();
        let issued_at = self.clock.now();
        self.bills.entry(patient_id.into()).or_default().push(Bill {
            recipe_id: recipe_id.clone(),
            visit_id: visit_id.clone(),
            dept_id: dept,
            dept_name: dept_name.clone(),
            doctor_name: doctor_name.clone(),
            issued_at,
            items,
            paid: false,
        });
        (recipe_id, visit_id, dept_name, doctor_name, total, n)
    }

    /// Demo activity: unpaid bills, and two inpatients whose discharge the doctor ordered.
    fn seed_activity(&mut self) {
        let now = self.clock.now();
        let cat = demo::fee_catalogue();
        let ids: Vec<(String, String)> = self.patients.iter().map(|p| (p.patient_id.clone(), p.citizen.name.clone())).collect();
        for (pid, name) in &ids {
            let (items, dept): (Vec<FeeItem>, &str) = match name.as_str() {
                "张伟" => (vec![cat[0].clone(), cat[1].clone(), cat[3].clone(), cat[5].clone()], "0101"),
                "李娜" => (vec![cat[2].clone(), cat[5].clone()], "0101"),
                "王芳" => (vec![cat[2].clone()], "0101"),
                "陈静" => (vec![cat[0].clone(), cat[5].clone()], "0101"),
                "赵小雨" => (vec![cat[0].clone(), cat[4].clone()], "0103"),
                _ => continue,
            };
            let dept_name = self.hospital.departments.iter().find(|d| d.dept_id == dept).map(|d| d.name.clone()).unwrap_or_default();
            let doctor_name = self.hospital.doctors.iter().find(|d| d.dept_id == dept).map(|d| d.name.clone()).unwrap_or_default();
            let recipe_id = self.next("RX");
            let visit_id = self.next("V");
            self.bills.entry(pid.clone()).or_default().push(Bill {
                recipe_id,
                visit_id,
                dept_id: dept.into(),
                dept_name,
                doctor_name,
                issued_at: now - Duration::hours(1),
                items,
                paid: false,
            });
        }
        for (pid, name) in &ids {
            // 吴秀英 (her son 张伟 manages her) is to be discharged: her deposits will exceed her
            // share. 黄强 had an operation: his share will exceed his deposit.
            let (profile, deposits) = match name.as_str() {
                "吴秀英" => (demo::StayProfile::Cardiology, vec![(300_000, "POS".to_owned(), 0), (200_000, "CASH".to_owned(), 2)]),
                "黄强" => (demo::StayProfile::Orthopaedics, vec![(200_000, "CASH".to_owned(), 0)]),
                _ => continue,
            };
            let a = Admission {
                patient_id: pid.clone(),
                id_card_no: String::new(),
                profile,
                days_ago: 6,
                deposits,
                discharge_ordered: true,
                extra_lines_per_day: 0,
            };
            self.admit(&a).expect("demo patients are registered");
        }
    }

    /// 张伟's knee: the orthopaedic surgeon issued an admission notice he can book on the
    /// phone (seeded last, so the numbers of everything else stay as they were).
    fn seed_notices(&mut self) {
        if let Some(pid) = self.patients.iter().find(|p| p.citizen.name == "张伟").map(|p| p.patient_id.clone()) {
            let n = NewNotice { patient_id: pid, id_card_no: String::new(), profile: demo::StayProfile::Orthopaedics, from_days: 2, to_days: 14 };
            self.issue_notice(&n).expect("demo patients are registered");
        }
    }

    /// Where a patient goes after paying these recipes: the lab for tests (codes 25…), the
    /// imaging department for exams (21…), a pharmacy window for medicines (XY…).
    fn guidance(&self, patient_id: &str, recipe_ids: &[String]) -> Vec<String> {
        let items: Vec<&FeeItem> =
            self.bills.get(patient_id).into_iter().flatten().filter(|b| recipe_ids.contains(&b.recipe_id)).flat_map(|b| b.items.iter()).collect();
        let mut out = Vec::new();
        if items.iter().any(|i| i.item_code.starts_with("25")) {
            out.push("检验项目：请到门诊楼1层检验科采血处（B区）抽血/留取标本".to_owned());
        }
        if items.iter().any(|i| i.item_code.starts_with("21")) {
            out.push("检查项目：请到医技楼2层放射科登记检查".to_owned());
        }
        if items.iter().any(|i| i.item_code.starts_with("XY")) {
            let window = 1 + recipe_ids.iter().map(|r| r.bytes().map(u32::from).sum::<u32>()).sum::<u32>() % 6;
            out.push(format!("药品：请到门诊楼1层西药房 {window} 号窗口取药"));
        }
        out
    }

    fn schedule_mut(&mut self, slot_id: &str) -> Option<(&mut Schedule, usize)> {
        let sched_id = slot_id.rsplit_once('-')?.0;
        let s = self.hospital.schedules.iter_mut().find(|s| s.schedule_id == sched_id)?;
        let i = s.slots.iter().position(|x| x.slot_id == slot_id)?;
        Some((s, i))
    }

    /// Releases locks that expired unconfirmed: their places return to the pool.
    fn expire_locks(&mut self) {
        let now = self.clock.now();
        let expired: Vec<String> =
            self.locks.iter().filter(|l| l.confirmed.is_none() && l.cancelled.is_none() && l.expires_at <= now).map(|l| l.slot_id.clone()).collect();
        self.locks.retain(|l| l.confirmed.is_some() || l.cancelled.is_some() || l.expires_at > now);
        for slot in expired {
            if let Some((s, i)) = self.schedule_mut(&slot) {
                s.slots[i].available += 1;
            }
        }
    }

    /// How many trades of `kind` (`register`, `outpatient` …) the HIS booked under our trade
    /// number: a test proves a registration or a settlement happened once.
    pub fn trades_of(&self, trade_no: &str, kind: &str) -> usize {
        self.trades.iter().filter(|t| t.trade_no == trade_no && t.kind == kind).count()
    }

    /// One operation of the front-end processor: each is a method of `ops` (by area).
    fn dispatch(&mut self, op: &str, data: &Value) -> OpResult {
        *self.op_calls.entry(op.to_owned()).or_default() += 1;
        self.expire_locks();
        match op {
            "department_list" => self.department_list(data),
            "doctor_list" => self.doctor_list(data),
            "schedule_list" => self.schedule_list(data),
            "patient_query" => self.patient_query(data),
            "patient_info" => self.patient_info(data),
            "patient_create" => self.patient_create(data),
            "lock_reg" => self.lock_reg(data),
            "unlock_reg" => self.unlock_reg(data),
            "reg_confirm" => self.reg_confirm(data),
            "reg_cancel" => self.reg_cancel(data),
            "reg_checkin" | "queue_status" => self.reg_checkin_or_queue_status(op, data),
            "schedule_change" => self.schedule_change(data),
            "visit_fee_list" => self.visit_fee_list(data),
            "unpaid_fees" => self.unpaid_fees(data),
            "settlement_pre" => self.settlement_pre(data),
            "charge_commit" => self.charge_commit(data),
            "lab_order_list" => self.lab_order_list(data),
            "lab_order_query" => self.lab_order_query(data),
            "specimen_reject" => self.specimen_reject(data),
            "inhospital_info" => self.inhospital_info(data),
            "prepay" => self.prepay(data),
            "card_info" => self.card_info(data),
            "card_recharge" => self.card_recharge(data),
            "card_trades" => self.card_trades(data),
            "card_bind" => self.card_bind(data),
            "daily_list" => self.daily_list(data),
            "trade_check" => self.trade_check(data),
            "inhospital_deposits" => self.inhospital_deposits(data),
            "inhospital_fee_summary" => self.inhospital_fee_summary(data),
            "ward_inpatients" => self.ward_inpatients(data),
            "inhospital_close" => self.inhospital_close(data),
            "inhospital_presettle" => self.inhospital_presettle(data),
            "inhospital_settle" => self.inhospital_settle(data),
            "inhospital_cancel_settle" => self.inhospital_cancel_settle(data),
            "discharge_summary" => self.discharge_summary(data),
            "admission_notices" => self.admission_notices(data),
            "admission_register" => self.admission_register(data),
            "admission_cancel" => self.admission_cancel(data),
            "record_encounters" => self.record_encounters(data),
            _ => err("1004", "不支持的业务类型"),
        }
    }
}

fn patient_json(p: &Patient) -> Value {
    let c = &p.citizen;
    let cov = &c.coverage;
    json!({
        "patientId": p.patient_id, "mrNo": p.mr_no, "name": c.name, "guardianIdCardNo": c.guardian_id,
        "mobile": Some(c.mobile.as_str()).filter(|m| !m.is_empty()),
        "allergies": demo::allergies_of(&c.name),
        "sex": if demo::gender_of(&c.id_card_no) == domain::identity::Gender::Male { "1" } else { "2" },
        "birthDate": c.id_card_no.get(6..14).map(|b| format!("{}-{}-{}", &b[0..4], &b[4..6], &b[6..8])),
        "insurance": {
            "medType": cov.kind.as_str(), "psnNo": cov.psn_no, "boundChc": cov.bound_chc,
            "referral": cov.referral.as_ref().map(|r| json!({"referralNo": r.referral_no, "fromChc": r.from_chc, "toOrg": r.to_org, "deptId": r.dept_id, "validUntil": r.valid_until.format("%Y-%m-%d").to_string()})),
            "acctBalance": cov.personal_account_balance.0,
            "mutualAid": cov.mutual_aid_grants.iter().map(|g| json!({"grantorPsnNo": g.grantor_psn_no, "grantorName": g.grantor_name_masked, "validUntil": g.valid_until.format("%Y-%m-%d").to_string()})).collect::<Vec<_>>(),
        }
    })
}

/// HMAC-SHA256 over the raw body, hex: what the HIS front-end processor checks.
pub fn sign(key: &str, body: &[u8]) -> String {
    hex::encode(crypto::mac::hmac_sha256(key.as_bytes(), body))
}

/// The channel key (the file download checks its signature with it).
pub(crate) fn channel_key(st: &SharedHis) -> String {
    st.lock().expect("his lock").cfg.channel_key.clone()
}

fn answer(code: &str, msg: &str, data: Value) -> Response {
    Json(json!({"resultCode": code, "resultMsg": msg, "data": data})).into_response()
}

/// `latency` ± up to `jitter` milliseconds, uniform.
fn call_latency(latency: u64, jitter: u64) -> u64 {
    if jitter == 0 {
        return latency;
    }
    let r = u64::from_le_bytes(crypto::random_bytes::<8>()) % (2 * jitter + 1);
    (latency + r).saturating_sub(jitter)
}

async fn handle(State(st): State<SharedHis>, Path(op): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (latency, injected, lose, key, channel, load) = {
        let mut g = st.lock().expect("his lock");
        let injected = g.faults.fail_next.iter().position(|(o, _)| o == &op).map(|i| g.faults.fail_next.remove(i).1);
        let lose = g.faults.lose_response_next.iter().position(|o| o == &op).map(|i| g.faults.lose_response_next.remove(i)).is_some();
        let latency = call_latency(g.faults.latency_ms, g.faults.latency_jitter_ms);
        (latency, injected, lose, g.cfg.channel_key.clone(), g.cfg.channel_id.clone(), g.load.clone())
    };
    let _in_flight = load.enter();
    // A bounded HIS: calls beyond its capacity queue here and take longer.
    let workers = load.workers();
    let _working = match &workers {
        Some(w) => Some(w.acquire().await.expect("his workers never close")),
        None => None,
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let given = headers.get("x-his-sign").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !crypto::constant_time_eq(given.as_bytes(), sign(&key, &body).as_bytes()) {
        return answer("1002", "签名错误", Value::Null);
    }
    let Ok(env) = serde_json::from_slice::<Value>(&body) else {
        return answer("1001", "报文格式错误", Value::Null);
    };
    if env.get("channelId").and_then(Value::as_str) != Some(channel.as_str()) {
        return answer("1005", "渠道未授权", Value::Null);
    }
    if let Some(code) = injected {
        return answer(&code, "模拟故障", Value::Null);
    }
    let data = env.get("data").cloned().unwrap_or(Value::Null);
    let result = st.lock().expect("his lock").dispatch(&op, &data);
    crate::lis::push_pending(&st);
    if lose {
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    match result {
        Ok(v) => answer("0", "成功", v),
        Err((code, msg)) => answer(code, &msg, Value::Null),
    }
}

async fn set_faults(State(st): State<SharedHis>, Json(f): Json<Faults>) -> StatusCode {
    let mut g = st.lock().expect("his lock");
    g.load.set_capacity(f.capacity);
    g.faults = f;
    StatusCode::NO_CONTENT
}

/// The HIS's load: calls in flight now, the peak since the last reset, calls since.
async fn load_stats(State(st): State<SharedHis>) -> Json<Value> {
    let (in_flight, peak, calls) = st.lock().expect("his lock").load.snapshot();
    Json(json!({"inFlight": in_flight, "peakInFlight": peak, "calls": calls}))
}

async fn load_reset(State(st): State<SharedHis>) -> StatusCode {
    st.lock().expect("his lock").load.reset();
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct DateQuery {
    date: NaiveDate,
}

/// Every session of a day as the HIS counts it: places, places left, places held
/// (locked or registered, not cancelled) and patients holding more than one place in
/// the same session. The flash-crowd benchmark compares this with Carebridge's count.
async fn occupancy(State(st): State<SharedHis>, Query(q): Query<DateQuery>) -> Json<Value> {
    let mut g = st.lock().expect("his lock");
    g.expire_locks();
    let g = &*g;
    let rows: Vec<Value> = g
        .hospital
        .schedules
        .iter()
        .filter(|s| s.date == q.date)
        .map(|s| {
            let mut per_patient: HashMap<&str, u32> = HashMap::new();
            for l in g.locks.iter().filter(|l| l.cancelled.is_none() && l.slot_id.rsplit_once('-').map(|(x, _)| x) == Some(s.schedule_id.as_str())) {
                *per_patient.entry(l.patient_id.as_str()).or_default() += 1;
            }
            json!({
                "scheduleId": s.schedule_id, "deptId": s.dept_id,
                "capacity": s.slots.iter().map(|x| x.capacity).sum::<u32>(),
                "available": s.slots.iter().map(|x| x.available).sum::<u32>(),
                "held": per_patient.values().sum::<u32>(),
                "patientsHoldingMoreThanOne": per_patient.values().filter(|n| **n > 1).count(),
            })
        })
        .collect();
    Json(Value::Array(rows))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatientMobile {
    id_card_no: String,
    /// Empty: the HIS record has no phone.
    mobile: String,
}

/// Sets the mobile the HIS holds for a person (registered or not yet): a window clerk
/// updating it, or a record that never had one. 404 for an unknown person.
async fn set_patient_mobile(State(st): State<SharedHis>, Json(m): Json<PatientMobile>) -> Response {
    let mut g = st.lock().expect("his lock");
    let id = m.id_card_no.to_ascii_uppercase();
    let mut found = false;
    for c in g.hospital.citizens.iter_mut().filter(|c| c.id_card_no == id) {
        c.mobile = m.mobile.clone();
        found = true;
    }
    for p in g.patients.iter_mut().filter(|p| p.citizen.id_card_no == id) {
        p.citizen.mobile = m.mobile.clone();
        found = true;
    }
    if found { axum::http::StatusCode::NO_CONTENT.into_response() } else { axum::http::StatusCode::NOT_FOUND.into_response() }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlashSale {
    date: NaiveDate,
    sessions: usize,
    places_per_session: u32,
}

/// Sets up a slot release for the flash-crowd benchmark: `sessions` sessions of `date`
/// that nobody holds a place in, taken from the departments in turn, each given exactly
/// `places_per_session` places spread over its time slots. Answers the sessions chosen.
async fn flash_sale(State(st): State<SharedHis>, Json(f): Json<FlashSale>) -> Response {
    let mut g = st.lock().expect("his lock");
    let held: std::collections::HashSet<String> = g.locks.iter().filter_map(|l| l.slot_id.rsplit_once('-').map(|(x, _)| x.to_owned())).collect();
    let mut by_dept: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, s) in g.hospital.schedules.iter().enumerate() {
        if s.date != f.date || s.suspended || s.slots.is_empty() || held.contains(&s.schedule_id) {
            continue;
        }
        match by_dept.iter_mut().find(|(d, _)| *d == s.dept_id) {
            Some((_, v)) => v.push(i),
            None => by_dept.push((s.dept_id.clone(), vec![i])),
        }
    }
    let mut chosen = Vec::new();
    let mut round = 0;
    while chosen.len() < f.sessions && by_dept.iter().any(|(_, v)| v.len() > round) {
        for (_, v) in &by_dept {
            if let Some(i) = v.get(round)
                && chosen.len() < f.sessions
            {
                chosen.push(*i);
            }
        }
        round += 1;
    }
    if chosen.len() < f.sessions {
        return (StatusCode::CONFLICT, format!("only {} free sessions on {}", chosen.len(), f.date)).into_response();
    }
    let mut out = Vec::new();
    for i in chosen {
        let s = &mut g.hospital.schedules[i];
        let n = s.slots.len() as u32;
        for (k, slot) in s.slots.iter_mut().enumerate() {
            let places = f.places_per_session / n + u32::from((k as u32) < f.places_per_session % n);
            slot.capacity = places;
            slot.available = places;
        }
        out.push(json!({"scheduleId": s.schedule_id, "deptId": s.dept_id, "doctorCode": s.doctor_code, "places": f.places_per_session}));
    }
    Json(Value::Array(out)).into_response()
}

/// Slot occupancy as the HIS sees it (for tests comparing local and HIS counts).
async fn inspect_slot(State(st): State<SharedHis>, Path(slot_id): Path<String>) -> Response {
    let mut g = st.lock().expect("his lock");
    g.expire_locks();
    match g.schedule_mut(&slot_id) {
        Some((s, i)) => Json(json!({"capacity": s.slots[i].capacity, "available": s.slots[i].available})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub fn router(state: SharedHis) -> Router {
    Router::new()
        .route("/his/api/v1/{op}", post(handle))
        .route("/__sim/faults", post(set_faults))
        .route("/__sim/slot/{slot_id}", axum::routing::get(inspect_slot))
        .route("/__sim/his/load", axum::routing::get(load_stats))
        .route("/__sim/his/load/reset", post(load_reset))
        .route("/__sim/his/occupancy", axum::routing::get(occupancy))
        .route("/__sim/his/flash-sale", post(flash_sale))
        .route("/__sim/his/patient-mobile", post(set_patient_mobile))
        .merge(inpatient::router())
        .merge(admission_booking::router())
        .merge(crate::his_events::router())
        .merge(crate::lis::router())
        .with_state(state)
}
