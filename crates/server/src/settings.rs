//! Settings: built-in defaults < `carebridge.toml` < `CAREBRIDGE__*` environment
//! variables (`CAREBRIDGE__DATABASE__URL=postgres://…`). A bad value stops start-up
//! with a message naming the key.
use anyhow::{Context, Result, anyhow, bail};
use domain::Secret;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: Server,
    pub database: Database,
    pub security: Security,
    pub his: His,
    pub wechat: Wechat,
    pub realname: RealName,
    pub ccb: Ccb,
    pub nhsa: Nhsa,
    pub payment: Payment,
    pub sessions: Sessions,
    pub retention: RetentionSettings,
    pub registration: Registration,
    pub admission: Admission,
    pub inpatient: InpatientSettings,
    pub einvoice: EInvoice,
    pub courier: Courier,
    pub records: RecordsSettings,
    pub face: Face,
    pub messages: Messages,
    pub sms: Sms,
    pub navigation: Navigation,
    pub reports: ReportsSettings,
    pub files: Files,
    pub audit: AuditSettings,
    pub workers: Workers,
    pub log: Log,
    pub demo: Demo,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub bind: String,
    pub public_base_url: String,
    /// The base URL outside systems (the bank, the insurance centre) use to reach our
    /// callback routes; often an internal address. Demo mode fills it in.
    pub callback_base_url: String,
    pub hospital_name: String,
    pub metrics_public: bool,
    pub max_body_bytes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `sqlite://data/carebridge.db?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// `sm4-gcm` or `aes-256-gcm`, for personal data at rest.
    pub field_cipher: String,
    /// Hex key for the field cipher (16 bytes for SM4, 32 for AES). Kept out of the database.
    pub field_key: Secret,
    pub field_key_version: u32,
    /// Hex key (≥ 16 bytes) for keyed lookup hashes of ID numbers.
    pub lookup_key: Secret,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct His {
    pub base_url: String,
    pub channel_id: String,
    pub channel_key: Secret,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wechat {
    pub authorize_base: String,
    pub api_base: String,
    pub appid: String,
    pub secret: Secret,
    pub scope: String,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealName {
    pub base_url: String,
    pub key: Secret,
    pub timeout_ms: u64,
}

/// The bank's aggregated payment (protocols.md §4). Empty `base_url` = not configured.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ccb {
    pub base_url: String,
    pub merchant_client_url: String,
    pub merchant_id: String,
    pub pos_id: String,
    pub branch_id: String,
    pub user_id: String,
    pub password: Secret,
    /// The bank-issued RSA public key (PEM or bare Base64).
    pub bank_public_key: String,
    /// `md5` (MD5withRSA, widely reported) or `sha256`: the notification signature digest [I].
    pub notify_digest: String,
    /// A notification whose accounting date (ACCDATE) lies more than this many days from
    /// today is refused as stale (S7). The bank's retry period is not published [I]; two
    /// days covers a notification retried over a night and a weekend's accounting date.
    pub notify_window_days: i64,
    pub timeout_ms: u64,
}

/// The insurance mobile-payment centre (protocols.md §1) and the WeChat 医保 authorisation
/// (§1.6). Empty `base_url` = insurance payment not offered.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nhsa {
    pub base_url: String,
    pub app_id: String,
    pub app_secret: Secret,
    /// The SM2 distinguishing ID; empty means the appSecret (as the Java EncUtil does).
    /// Some provinces use `1234567812345678` [I].
    pub signer_id: Secret,
    /// Base64 of the hospital's SM2 private scalar.
    pub hospital_private_key: Secret,
    /// Base64 of the centre's SM2 public key (`04‖X‖Y`).
    pub centre_public_key: String,
    /// 定点机构编码 and the city code (admdvs) of the hospital.
    pub org_codg: String,
    pub city_code: String,
    /// The H5 authorisation page [I] and the userQuery receiver with its partner credentials.
    pub auth_page_url: String,
    /// The family-account (亲情账户) verification page for binding a child's 少儿医保 [I].
    pub family_bind_page_url: String,
    pub receiver_base: String,
    pub partner_id: String,
    pub partner_secret: Secret,
    /// The 医保 cashier address, `{pay_ord_id}` and `{redirect}` filled in [I].
    pub cashier_url: String,
    /// Let the personal account pay the insurable remainder (acctUsedFlag).
    pub use_personal_account: bool,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// Minutes an order may stay unpaid before it closes (T_close of P4).
    pub close_after_minutes: i64,
    /// Seconds after creation of the first query to the bank, should no notification arrive (P5).
    pub first_query_after_secs: i64,
}

/// How long each class of kept data lives, in days (S14; docs/ARCHITECTURE.md "Retention").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    pub message_content_days: i64,
    pub raw_callback_days: i64,
    pub stored_answer_days: i64,
    pub finished_job_days: i64,
}

/// How long sign-ins last (S2) and how fresh one must be for money and records (S6).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    /// A patient's session dies after this many minutes without a request (≤ 30, S2)…
    pub patient_idle_minutes: i64,
    /// …and this many hours after sign-in, however active.
    pub patient_absolute_hours: i64,
    pub staff_idle_minutes: i64,
    pub staff_absolute_hours: i64,
    /// A payment, a 退号 refund, a report file or a record copy needs a sign-in at most
    /// this many minutes old; an older one signs in again first (S6).
    pub patient_fresh_auth_minutes: i64,
    /// A report's file or a record copy's photos need a sign-in at most this old.
    pub patient_fresh_read_minutes: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Minutes before a slot starts after which a paid booking can no longer be cancelled
    /// online (the patient goes to a window).
    pub cancel_before_minutes: i64,
    /// A booking still waiting for the HIS's lock answer this many seconds after it was
    /// made (the answer was lost, or the node died) is settled by asking the HIS (G5).
    pub lock_answer_grace_secs: i64,
    /// Booking attempts allowed per account and per client address per minute (S15).
    pub bookings_per_account_per_minute: u32,
    pub bookings_per_address_per_minute: u32,
    /// The no-show blacklist: `no_show_limit` no-shows within `no_show_window_days` bar
    /// online booking for `no_show_bar_days` (0 turns the blacklist off).
    pub no_show_limit: u32,
    pub no_show_window_days: i64,
    pub no_show_bar_days: i64,
}

/// Admission control in front of the HIS (issue 7).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admission {
    /// HIS calls in flight at most: for the whole cluster when the scope is `cluster`.
    pub his_max_in_flight: u32,
    /// Calls that may wait for a permit on one node; more are answered HIS_BUSY at once.
    pub max_waiting: usize,
    /// How long a call waits for a permit before it is answered HIS_BUSY.
    pub max_wait_ms: u64,
    /// `node` (permits in memory), `cluster` (permits in the database, shared by every
    /// node on it) or `auto` (`cluster` on PostgreSQL, `node` on SQLite).
    pub scope: String,
    /// How long a cluster permit stays taken if its node dies holding it (longer than
    /// `his.timeout_ms`).
    pub lease_secs: u64,
}

impl Admission {
    /// Whether the permits live in the database for the given database URL.
    pub fn shared(&self, database_url: &str) -> bool {
        match self.scope.as_str() {
            "cluster" => true,
            "node" => false,
            _ => database_url.starts_with("postgres"),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// Non-critical notices wait out the quiet hours (local time, `HH:MM`; equal turns
    /// them off). Critical notices never wait.
    pub quiet_start: String,
    pub quiet_end: String,
    /// The local hour of the evening-before visit reminder.
    pub visit_reminder_hour: u32,
    /// Minutes a patient has to acknowledge a critical value before the ward is tasked
    /// and an SMS goes out.
    pub critical_ack_minutes: i64,
    /// The mini-program subscribe notices open (empty: the web page).
    pub miniprogram_appid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sms {
    /// `aliyun` or `tencent`; an empty `base_url` turns SMS off.
    pub provider: String,
    pub base_url: String,
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub sign_name: String,
    /// Tencent only.
    pub sdk_app_id: String,
    pub region: String,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Navigation {
    /// The in-hospital navigation system; empty turns routes off.
    pub base_url: String,
    pub app_key: Secret,
    /// Where routes start.
    pub entrance: String,
    pub timeout_ms: u64,
}

/// Inpatient services (BED-2): when a stay's deposit counts as low.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InpatientSettings {
    /// A balance (deposits less charges) under this many yuan is low.
    pub deposit_floor_yuan: i64,
    /// So is a balance that lasts fewer than this many days at the stay's daily average.
    pub deposit_days: i64,
    /// Admission booking (OTH-5): what the 入院提醒 tells the patient to bring…
    #[serde(default = "default_admission_bring")]
    pub admission_bring: String,
    /// …where to go on the day…
    #[serde(default = "default_admission_place")]
    pub admission_place: String,
    /// …and the navigation system's code of that place (its route goes with the notice).
    #[serde(default = "default_admission_destination")]
    pub admission_destination: String,
}

fn default_admission_bring() -> String {
    app::ADMISSION_BRING.into()
}
fn default_admission_place() -> String {
    app::ADMISSION_PLACE.into()
}
fn default_admission_destination() -> String {
    "ADMIT".into()
}

/// The medical e-invoice platform (protocols-wave2 §2). Empty `base_url` = not configured:
/// invoices are then issued at the windows only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EInvoice {
    pub base_url: String,
    pub appid: String,
    pub key: Secret,
    /// 开票点 and the payee printed on the bills.
    pub place_code: String,
    pub payee: String,
    /// The platform's method per kind (deployments spell them differently).
    pub method_registration: String,
    pub method_outpatient: String,
    pub method_inpatient: String,
    pub method_prepayment: String,
    /// The hospital's pay-channel codes on the platform.
    pub channel_fund: String,
    pub channel_account: String,
    pub channel_other_fund: String,
    pub channel_own: String,
    pub timeout_ms: u64,
}

/// The courier of record copies (SF Express 丰桥, protocols-wave2 §1). Empty `url` = not
/// configured: copies are then collected at the records office only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Courier {
    pub url: String,
    pub partner_id: String,
    pub check_word: Secret,
    pub monthly_card: String,
    pub express_type_id: u32,
    /// The secret last segment of our route-push URL (`/courier/sf/route-push/<secret>`):
    /// SF signs no push, so the URL registered in its console is the credential.
    pub push_secret: Secret,
    pub timeout_ms: u64,
}

/// The face engine of the face-scan services (FACE-1…4): Baidu AI face v3, cloud or its
/// on-premise edition (protocols-wave2 §3). Empty `api_base` = face services off: every
/// page offers only the other ways (ID card, 就诊卡, booking QR).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Face {
    /// `https://aip.baidubce.com/rest/2.0/face/v3`, or the on-premise engine's.
    pub api_base: String,
    /// `https://aip.baidubce.com/oauth/2.0/token`; empty when the engine takes no token.
    pub token_url: String,
    pub api_key: String,
    pub secret_key: Secret,
    pub timeout_ms: u64,
    /// Starts every group id this hospital makes in the engine (an engine may serve several).
    pub group_prefix: String,
    /// A 1:N candidate at or above this is the person (0–100; the engine recommends 80).
    pub match_score: f32,
    /// A runner-up this close to the best makes a scan ambiguous: confirmed by ID card.
    pub ambiguity_margin: f32,
    /// The identity check at enrolment passes at or above this (0–100).
    pub identity_score: f32,
    /// The engine's checks of a live capture: NONE, LOW, NORMAL or HIGH.
    pub quality_control: String,
    pub liveness_control: String,
    /// The consulting rooms' workstations (FACE-3): the open-interface key of each
    /// workstation and the room it stands in. A workstation gets patients of its own room
    /// only; a key not listed gets none.
    #[serde(default)]
    pub workstation_rooms: std::collections::BTreeMap<String, String>,
}

/// Record copies (REC-1…REC-5): the office, what it promises, how long photos are kept,
/// the fee table used until an administrator publishes one, and the sender of parcels.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsSettings {
    pub office_place: String,
    pub office_hours: String,
    pub promise_days: i64,
    pub keep_photos_days: i64,
    pub capture_token_minutes: i64,
    pub max_photo_bytes: usize,
    pub default_per_page_fen: i64,
    pub default_certification_fen: i64,
    pub default_postage_fen: i64,
    pub sender_contact: String,
    pub sender_mobile: String,
    pub sender_province: String,
    pub sender_city: String,
    pub sender_county: String,
    pub sender_address: String,
}

/// Reports (RPT-1/2): turnaround, release delays, limits on files from the LIS.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsSettings {
    /// Minutes from sampling to result, by test category or by item code.
    pub turnaround_minutes: std::collections::BTreeMap<String, i64>,
    pub default_turnaround_minutes: i64,
    /// Minutes between the doctor's release and the patient seeing it, by category.
    pub release_delay_minutes: std::collections::BTreeMap<String, i64>,
    pub max_file_mb: usize,
    pub max_image_megapixels: u64,
    pub max_pdf_pages: usize,
    pub page_width_px: u16,
    /// How often the LIS is asked about orders that can still change.
    pub poll_minutes: i64,
    /// When the lab stops taking samples (`HH:MM`, local): a new sample is asked for before
    /// today's closing if that is ahead, else tomorrow's.
    pub lab_closes: String,
    /// Where a patient gives a new sample.
    pub resample_place: String,
}

/// Signed checkpoints of the audit chain's head (S11), kept outside the database so that
/// rows cut from the chain's end are found: `carebridge audit checkpoint` appends one,
/// `carebridge audit verify` compares the chain with the last.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// One JSON line per checkpoint; put it where the database's users cannot write.
    pub checkpoint_file: String,
    /// A running node takes a checkpoint this often when the chain moved (and at a clean
    /// stop); 0 leaves it to `carebridge audit checkpoint` from cron.
    pub checkpoint_minutes: u64,
    /// The SM2 key checkpoints are signed with (Base64 of 32 bytes). Empty: a key is made
    /// on first use and kept beside the file (`<file>.key`, mode 0600) — give a real
    /// deployment its own from the secret store.
    pub signing_key: Secret,
}

/// The file store: `local` (a directory) or `s3` (an S3-compatible object store).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    pub backend: String,
    pub dir: String,
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_access_key: String,
    pub s3_secret_key: Secret,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    pub count: usize,
    pub poll_ms: u64,
    /// How long a claimed job is a worker's before another may take it (a crashed
    /// node's jobs run again after this).
    pub lease_secs: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `json` (one object a line, for collectors) or `pretty`.
    pub format: String,
    /// An `EnvFilter` directive, e.g. `info,sqlx=warn`.
    pub level: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    pub seed: u64,
    /// Where demo keys and demo staff credentials are kept between runs.
    pub data_dir: String,
    pub his_port: u16,
    pub wechat_port: u16,
    pub realname_port: u16,
    pub nhsa_port: u16,
    pub ccb_port: u16,
    pub sms_port: u16,
    pub navigation_port: u16,
    pub einvoice_port: u16,
    pub courier_port: u16,
    pub face_port: u16,
}

const DEFAULTS: &str = r#"
[server]
bind = "127.0.0.1:8080"
public_base_url = ""
callback_base_url = ""
hospital_name = "深圳市示范医院"
metrics_public = false
max_body_bytes = 65536

[database]
url = "sqlite://data/carebridge.db?mode=rwc"
max_connections = 16

[security]
field_cipher = "sm4-gcm"
field_key = ""
field_key_version = 1
lookup_key = ""

[his]
base_url = ""
channel_id = "WX01"
channel_key = ""
timeout_ms = 5000

[wechat]
authorize_base = "https://open.weixin.qq.com"
api_base = "https://api.weixin.qq.com"
appid = ""
secret = ""
scope = "snsapi_userinfo"
timeout_ms = 5000

[realname]
base_url = ""
key = ""
timeout_ms = 5000

[ccb]
base_url = ""
merchant_client_url = ""
merchant_id = ""
pos_id = ""
branch_id = ""
user_id = ""
password = ""
bank_public_key = ""
notify_digest = "md5"
notify_window_days = 2
timeout_ms = 5000

[nhsa]
base_url = ""
app_id = ""
app_secret = ""
signer_id = ""
hospital_private_key = ""
centre_public_key = ""
org_codg = ""
city_code = "440300"
auth_page_url = ""
family_bind_page_url = ""
receiver_base = ""
partner_id = ""
partner_secret = ""
cashier_url = ""
use_personal_account = true
timeout_ms = 8000

[payment]
close_after_minutes = 15
first_query_after_secs = 60

[retention]
message_content_days = 180
raw_callback_days = 3650
stored_answer_days = 7
finished_job_days = 30

[sessions]
patient_idle_minutes = 30
patient_absolute_hours = 168
staff_idle_minutes = 15
staff_absolute_hours = 10
patient_fresh_auth_minutes = 10
patient_fresh_read_minutes = 30

[registration]
cancel_before_minutes = 30
lock_answer_grace_secs = 120
bookings_per_account_per_minute = 10
bookings_per_address_per_minute = 60
no_show_limit = 3
no_show_window_days = 90
no_show_bar_days = 90

[admission]
his_max_in_flight = 16
max_waiting = 512
max_wait_ms = 1500
scope = "auto"
lease_secs = 30

[inpatient]
deposit_floor_yuan = 1000
deposit_days = 2
admission_bring = "身份证、医保卡或电子医保凭证、入院通知单、近期检查检验报告、正在服用的药物、个人洗漱用品"
admission_place = "住院楼1楼住院服务中心"
admission_destination = "ADMIT"

[einvoice]
base_url = ""
appid = ""
key = ""
place_code = "001"
payee = "收费处"
method_registration = "invEBillRegistration"
method_outpatient = "invoiceEBillOutpatient"
method_inpatient = "invEBillHospitalized"
method_prepayment = "invEBillPrepayment"
channel_fund = "YBTCJJ"
channel_account = "YBGRZH"
channel_other_fund = "YBQTJJ"
channel_own = "WX"
timeout_ms = 8000

[courier]
url = ""
partner_id = ""
check_word = ""
monthly_card = ""
express_type_id = 2
push_secret = ""
timeout_ms = 8000

[face]
api_base = ""
token_url = ""
api_key = ""
secret_key = ""
timeout_ms = 3000
group_prefix = "cb"
match_score = 80.0
ambiguity_margin = 5.0
identity_score = 80.0
quality_control = "NORMAL"
liveness_control = "LOW"
workstation_rooms = {}

[records]
office_place = "门诊楼3楼病案室"
office_hours = "工作日 8:00–12:00，14:00–17:30"
promise_days = 3
keep_photos_days = 30
capture_token_minutes = 10
max_photo_bytes = 10485760
default_per_page_fen = 50
default_certification_fen = 0
default_postage_fen = 2000
sender_contact = "病案室"
sender_mobile = "075583366388"
sender_province = "广东省"
sender_city = "深圳市"
sender_county = "福田区"
sender_address = "深南中路1号门诊楼3楼病案室"

[messages]
quiet_start = "22:00"
quiet_end = "07:00"
visit_reminder_hour = 18
critical_ack_minutes = 30
miniprogram_appid = ""

[sms]
provider = "aliyun"
base_url = ""
access_key_id = ""
access_key_secret = ""
sign_name = ""
sdk_app_id = ""
region = "ap-guangzhou"
timeout_ms = 5000

[navigation]
base_url = ""
app_key = ""
entrance = "ENTRANCE-MAIN"
timeout_ms = 3000

[reports]
turnaround_minutes = { hematology = 60, urinalysis = 60, biochemistry = 240, immunology = 240, microbiology = 4320, imaging = 120, pathology = 7200 }
default_turnaround_minutes = 240
release_delay_minutes = { pathology = 4320, genetics = 4320 }
max_file_mb = 20
max_image_megapixels = 25
max_pdf_pages = 30
page_width_px = 1080
poll_minutes = 5
lab_closes = "16:30"
resample_place = "门诊楼1层检验科B区3号窗口"

[audit]
checkpoint_file = "data/audit-checkpoints.log"
checkpoint_minutes = 10
signing_key = ""

[files]
backend = "local"
dir = "data/files"
s3_endpoint = ""
s3_bucket = ""
s3_region = "us-east-1"
s3_access_key = ""
s3_secret_key = ""
timeout_ms = 10000

[workers]
count = 4
poll_ms = 500
lease_secs = 60

[log]
format = "json"
level = "info,sqlx=warn,sea_orm=warn,tower_http=warn"

[demo]
seed = 20261125
data_dir = "data"
his_port = 18081
wechat_port = 18082
realname_port = 18083
nhsa_port = 18084
ccb_port = 18085
sms_port = 18086
navigation_port = 18087
einvoice_port = 18088
courier_port = 18089
face_port = 18090
"#;

impl Messages {
    pub fn quiet_time(&self, v: &str) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(v, "%H:%M").ok()
    }
}

impl Settings {
    /// Where patients' pages are (links in messages, the bank's return address): the
    /// public address, else the callback address as a browser reaches it (the demo's
    /// cookies live on `localhost`, not on `127.0.0.1`).
    pub fn patient_base_url(&self) -> String {
        if self.server.public_base_url.is_empty() {
            self.server.callback_base_url.replace("://127.0.0.1", "://localhost")
        } else {
            self.server.public_base_url.clone()
        }
    }

    /// Loads defaults, then the file (if present), then the environment.
    pub fn load(file: Option<&str>) -> Result<Self> {
        let mut b = config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        match file {
            Some(path) => b = b.add_source(config::File::with_name(path).required(true)),
            None => b = b.add_source(config::File::with_name("carebridge.toml").required(false)),
        }
        b = b.add_source(config::Environment::with_prefix("CAREBRIDGE").prefix_separator("__").separator("__").try_parsing(true));
        let s: Settings = b.build().map_err(explain)?.try_deserialize().map_err(explain)?;
        Ok(s)
    }

    /// Built-in defaults only (no file, no environment): the base tests start from.
    pub fn defaults() -> Self {
        config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("built-in defaults are valid")
    }

    /// Checks every value that can be checked without connecting anywhere. `demo`
    /// relaxes what demo mode fills in itself (keys, outside systems).
    /// The database settings alone (what `audit verify` needs).
    pub fn validate_database(&self) -> Result<()> {
        let u = &self.database.url;
        if !(u.starts_with("sqlite:") || u.starts_with("postgres://") || u.starts_with("postgresql://")) {
            return Err(anyhow!("invalid setting `database.url`: must start with sqlite: or postgres://"));
        }
        if self.database.max_connections == 0 {
            return Err(anyhow!("invalid setting `database.max_connections`: at least 1"));
        }
        Ok(())
    }

    pub fn validate(&self, demo: bool) -> Result<()> {
        let bad = |key: &str, why: &str| Err(anyhow!("invalid setting `{key}`: {why}"));
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad("server.bind", "expected host:port, e.g. 127.0.0.1:8080");
        }
        let u = &self.server.public_base_url;
        if !(u.is_empty() || u.starts_with("https://") || u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost")) {
            return bad("server.public_base_url", "must be https:// (http only on loopback)");
        }
        if self.server.hospital_name.trim().is_empty() {
            return bad("server.hospital_name", "must not be empty");
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return bad("server.max_body_bytes", "between 1024 and 67108864");
        }
        let r = &self.retention;
        if r.message_content_days < 30 || r.raw_callback_days < 365 || r.stored_answer_days < 1 || r.finished_job_days < 1 {
            return bad("retention.*", "messages ≥ 30 days, raw callbacks ≥ 365 (accounting evidence), the rest ≥ 1");
        }
        let se = &self.sessions;
        if !(1..=30).contains(&se.patient_idle_minutes) {
            return bad("sessions.patient_idle_minutes", "between 1 and 30 (S2)");
        }
        if !(1..=30).contains(&se.staff_idle_minutes) {
            return bad("sessions.staff_idle_minutes", "between 1 and 30 (S2)");
        }
        if se.patient_absolute_hours < 1 || se.staff_absolute_hours < 1 {
            return bad("sessions.*_absolute_hours", "at least 1");
        }
        if !(1..=60).contains(&se.patient_fresh_auth_minutes) {
            return bad("sessions.patient_fresh_auth_minutes", "between 1 and 60");
        }
        if !(1..=24 * 60).contains(&se.patient_fresh_read_minutes) {
            return bad("sessions.patient_fresh_read_minutes", "between 1 and 1440");
        }
        if !(0..=30).contains(&self.ccb.notify_window_days) {
            return bad("ccb.notify_window_days", "between 0 and 30");
        }
        let f = &self.face;
        if domain::face::Control::parse(&f.quality_control).is_none() || domain::face::Control::parse(&f.liveness_control).is_none() {
            return bad("face.quality_control / face.liveness_control", "NONE, LOW, NORMAL or HIGH");
        }
        let score = |v: f32| v.is_finite() && (50.0..=100.0).contains(&v);
        let margin = f.ambiguity_margin.is_finite() && (0.0..=20.0).contains(&f.ambiguity_margin);
        if !(score(f.match_score) && score(f.identity_score) && margin) {
            return bad("face.*_score / face.ambiguity_margin", "scores 50–100 (the engine recommends 80), margin 0–20");
        }
        if f.group_prefix.is_empty() || f.group_prefix.len() > 16 || !f.group_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad("face.group_prefix", "1–16 letters, digits or _ (the engine's group ids)");
        }
        if !f.api_base.is_empty() && f.timeout_ms == 0 {
            return bad("face.timeout_ms", "must be positive");
        }
        if f.workstation_rooms.iter().any(|(k, r)| k.is_empty() || k.len() > 64 || r.trim().is_empty() || r.chars().count() > 30) {
            return bad("face.workstation_rooms", "open-interface key (1–64) = room (1–30 characters)");
        }
        let a = &self.admission;
        if a.his_max_in_flight == 0 || a.his_max_in_flight > 10_000 || a.max_waiting == 0 || !(1..=60_000).contains(&a.max_wait_ms) {
            return bad("admission", "his_max_in_flight 1-10000, max_waiting ≥1, max_wait_ms 1-60000");
        }
        if !["auto", "node", "cluster"].contains(&a.scope.as_str()) {
            return bad("admission.scope", "auto, node or cluster");
        }
        if a.lease_secs * 1000 <= self.his.timeout_ms {
            return bad("admission.lease_secs", "must be longer than his.timeout_ms");
        }
        let r = &self.reports;
        if r.max_file_mb == 0
            || r.max_file_mb > 200
            || r.max_pdf_pages == 0
            || r.max_image_megapixels == 0
            || r.poll_minutes < 1
            || !(320..=3000).contains(&r.page_width_px)
        {
            return bad("reports", "max_file_mb 1-200, max_pdf_pages ≥1, max_image_megapixels ≥1, poll_minutes ≥1, page_width_px 320-3000");
        }
        if r.turnaround_minutes.values().chain(r.release_delay_minutes.values()).any(|m| *m < 0) || r.default_turnaround_minutes < 0 {
            return bad("reports", "minutes must not be negative");
        }
        if chrono::NaiveTime::parse_from_str(&r.lab_closes, "%H:%M").is_err() {
            return bad("reports.lab_closes", "HH:MM");
        }
        match self.files.backend.as_str() {
            "local" if self.files.dir.trim().is_empty() => return bad("files.dir", "must not be empty"),
            "local" => {}
            "s3" => {
                for (key, v) in [
                    ("files.s3_endpoint", self.files.s3_endpoint.as_str()),
                    ("files.s3_bucket", &self.files.s3_bucket),
                    ("files.s3_access_key", &self.files.s3_access_key),
                    ("files.s3_secret_key", self.files.s3_secret_key.expose()),
                ] {
                    if v.is_empty() {
                        return bad(key, "required with files.backend = \"s3\"");
                    }
                }
            }
            _ => return bad("files.backend", "local or s3"),
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return bad("database.url", "must start with sqlite: or postgres://");
        }
        if self.database.max_connections == 0 || self.database.max_connections > 1000 {
            return bad("database.max_connections", "between 1 and 1000");
        }
        let alg = crypto::FieldCipherAlgorithm::parse(&self.security.field_cipher);
        if alg.is_none() {
            return bad("security.field_cipher", "sm4-gcm or aes-256-gcm");
        }
        if self.log.format != "json" && self.log.format != "pretty" {
            return bad("log.format", "json or pretty");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad("log.level", "not a valid filter directive");
        }
        if self.workers.count == 0 || self.workers.count > 64 {
            return bad("workers.count", "between 1 and 64");
        }
        if !matches!(self.wechat.scope.as_str(), "snsapi_base" | "snsapi_userinfo") {
            return bad("wechat.scope", "snsapi_base or snsapi_userinfo");
        }
        if !matches!(self.ccb.notify_digest.as_str(), "md5" | "sha256") {
            return bad("ccb.notify_digest", "md5 or sha256");
        }
        let r = &self.registration;
        if r.bookings_per_account_per_minute == 0 || r.bookings_per_address_per_minute == 0 {
            return bad("registration.bookings_per_account_per_minute", "at least 1 (both limits)");
        }
        if !(1..=366).contains(&r.no_show_window_days) || !(0..=3660).contains(&r.no_show_bar_days) {
            return bad("registration.no_show_window_days", "1..366 days (bar 0..3660)");
        }
        if !(1..=3600).contains(&self.registration.lock_answer_grace_secs) {
            return bad("registration.lock_answer_grace_secs", "between 1 and 3600");
        }
        if !(0..=7 * 24 * 60).contains(&self.registration.cancel_before_minutes) {
            return bad("registration.cancel_before_minutes", "between 0 and 10080");
        }
        let m = &self.messages;
        if m.quiet_time(&m.quiet_start).is_none() || m.quiet_time(&m.quiet_end).is_none() {
            return bad("messages.quiet_start", "local time as HH:MM (quiet_end too)");
        }
        if !(0..=1_000_000).contains(&self.inpatient.deposit_floor_yuan) {
            return bad("inpatient.deposit_floor_yuan", "between 0 and 1000000");
        }
        if !(0..=30).contains(&self.inpatient.deposit_days) {
            return bad("inpatient.deposit_days", "between 0 and 30");
        }
        if m.visit_reminder_hour > 23 {
            return bad("messages.visit_reminder_hour", "0..23");
        }
        if !(1..=24 * 60).contains(&m.critical_ack_minutes) {
            return bad("messages.critical_ack_minutes", "between 1 and 1440");
        }
        if !matches!(self.sms.provider.as_str(), "aliyun" | "tencent") {
            return bad("sms.provider", "aliyun or tencent");
        }
        if !(1..=24 * 60).contains(&self.payment.close_after_minutes) {
            return bad("payment.close_after_minutes", "between 1 and 1440");
        }
        if demo {
            return Ok(());
        }
        self.field_key_bytes()?;
        self.lookup_key_bytes()?;
        for (key, v) in [
            ("his.base_url", self.his.base_url.as_str()),
            ("wechat.appid", &self.wechat.appid),
            ("wechat.secret", self.wechat.secret.expose()),
            ("his.channel_key", self.his.channel_key.expose()),
            ("realname.base_url", &self.realname.base_url),
            ("realname.key", self.realname.key.expose()),
        ] {
            if v.is_empty() {
                return bad(key, "required (outside demo mode)");
            }
        }
        Ok(())
    }

    pub fn field_key_bytes(&self) -> Result<Vec<u8>> {
        let alg = crypto::FieldCipherAlgorithm::parse(&self.security.field_cipher).ok_or_else(|| anyhow!("invalid setting `security.field_cipher`"))?;
        let k = hex::decode(self.security.field_key.expose()).map_err(|_| anyhow!("invalid setting `security.field_key`: must be hex"))?;
        if k.len() != alg.key_len() {
            bail!("invalid setting `security.field_key`: {} needs {} bytes ({} hex digits)", self.security.field_cipher, alg.key_len(), alg.key_len() * 2);
        }
        Ok(k)
    }

    pub fn lookup_key_bytes(&self) -> Result<Vec<u8>> {
        let k = hex::decode(self.security.lookup_key.expose()).map_err(|_| anyhow!("invalid setting `security.lookup_key`: must be hex"))?;
        if k.len() < 16 {
            bail!("invalid setting `security.lookup_key`: at least 16 bytes (32 hex digits)");
        }
        Ok(k)
    }

    /// Every secret of the settings with where it goes in a configuration file. A new
    /// secret field is masked wherever the settings are shown without being listed here
    /// (its type serialises as a mask); it must be listed to be written by `to_toml`.
    fn secrets(&self) -> [(&'static str, &'static str, &Secret); 18] {
        [
            ("security", "field_key", &self.security.field_key),
            ("security", "lookup_key", &self.security.lookup_key),
            ("his", "channel_key", &self.his.channel_key),
            ("wechat", "secret", &self.wechat.secret),
            ("realname", "key", &self.realname.key),
            ("ccb", "password", &self.ccb.password),
            ("nhsa", "app_secret", &self.nhsa.app_secret),
            ("nhsa", "hospital_private_key", &self.nhsa.hospital_private_key),
            ("nhsa", "partner_secret", &self.nhsa.partner_secret),
            ("nhsa", "signer_id", &self.nhsa.signer_id),
            ("sms", "access_key_secret", &self.sms.access_key_secret),
            ("navigation", "app_key", &self.navigation.app_key),
            ("files", "s3_secret_key", &self.files.s3_secret_key),
            ("einvoice", "key", &self.einvoice.key),
            ("courier", "check_word", &self.courier.check_word),
            ("courier", "push_secret", &self.courier.push_secret),
            ("face", "secret_key", &self.face.secret_key),
            ("audit", "signing_key", &self.audit.signing_key),
        ]
    }

    /// The settings as TOML, secrets included (for writing a configuration file that
    /// another process reads, as the load test and the crash test do).
    pub fn to_toml(&self) -> Result<String> {
        let mut v = serde_json::to_value(self).context("serialise settings")?;
        for (section, key, secret) in self.secrets() {
            v[section][key] = serde_json::Value::String(secret.expose().to_owned());
        }
        Ok(toml_of(&v))
    }

    /// The settings as TOML with every secret replaced by whether it is set, and the
    /// database password hidden: what `print-config` shows.
    pub fn masked_toml(&self) -> Result<String> {
        let mut s = self.clone();
        s.database.url = mask_db_password(&s.database.url);
        toml_string(&s)
    }
}

fn toml_string(s: &Settings) -> Result<String> {
    Ok(toml_of(&serde_json::to_value(s).context("serialise settings")?))
}

/// `config` reads TOML; for writing, serde_json → a small TOML emitter is enough for our
/// two-level shape.
fn toml_of(v: &serde_json::Value) -> String {
    let mut out = String::new();
    for (section, fields) in v.as_object().into_iter().flatten() {
        out.push_str(&format!("[{section}]\n"));
        for (k, val) in fields.as_object().into_iter().flatten() {
            let rendered = toml_value(val);
            out.push_str(&format!("{k} = {rendered}\n"));
        }
        out.push('\n');
    }
    out
}

/// One value as TOML: strings quoted, maps (turnaround by category …) as inline tables.
fn toml_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("{s:?}"),
        serde_json::Value::Object(m) => format!("{{ {} }}", m.iter().map(|(k, v)| format!("{k:?} = {}", toml_value(v))).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn mask_db_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((cred, host)) = rest.split_once('@')
        && let Some((user, _)) = cred.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

fn explain(e: config::ConfigError) -> anyhow::Error {
    anyhow!("invalid settings: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_settings_read_back_the_same_maps_included() {
        let mut s = Settings::defaults();
        s.reports.release_delay_minutes.insert("250301001".into(), 30);
        let path = std::env::temp_dir().join(format!("cb-settings-{}.toml", std::process::id()));
        std::fs::write(&path, s.to_toml().unwrap()).unwrap();
        let back = Settings::load(Some(path.to_str().unwrap())).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(back.reports.turnaround_minutes, s.reports.turnaround_minutes);
        assert_eq!(back.reports.release_delay_minutes.get("250301001"), Some(&30));
        assert_eq!(back.files.backend, "local");
    }

    #[test]
    fn defaults_load_and_validate_in_demo() {
        let s = Settings::load(Some("/nonexistent/none.toml"));
        assert!(s.is_err(), "a named file must exist");
        let s: Settings =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml)).build().unwrap().try_deserialize().unwrap();
        s.validate(true).unwrap();
        let err = s.validate(false).unwrap_err().to_string();
        assert!(err.contains("security.field_key"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let base: Settings =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml)).build().unwrap().try_deserialize().unwrap();
        let mut s = base.clone();
        s.database.url = "mysql://x".into();
        assert!(s.validate(true).unwrap_err().to_string().contains("database.url"));
        let mut s = base.clone();
        s.server.bind = "nonsense".into();
        assert!(s.validate(true).unwrap_err().to_string().contains("server.bind"));
        let mut s = base.clone();
        s.security.field_key = "00".into();
        s.security.lookup_key = "11".repeat(16).into();
        assert!(s.validate(false).unwrap_err().to_string().contains("security.field_key"));
    }

    #[test]
    fn masking_hides_secrets_and_db_password() {
        let mut s: Settings =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml)).build().unwrap().try_deserialize().unwrap();
        s.wechat.secret = "topsecret".into();
        s.database.url = "postgres://app:hunter2@db/carebridge".into();
        let t = s.masked_toml().unwrap();
        assert!(!t.contains("topsecret") && !t.contains("hunter2"), "{t}");
        assert!(t.contains("postgres://app:***@db/carebridge"));
        assert!(t.contains("field_key = \"(unset)\""));
        assert!(t.contains("secret = \"***\""), "{t}");
        assert!(!format!("{s:?}").contains("topsecret"), "Debug never prints a secret either");
    }

    #[test]
    fn a_written_configuration_keeps_its_secrets_and_reads_back_the_same() {
        let mut s: Settings =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml)).build().unwrap().try_deserialize().unwrap();
        s.wechat.secret = "topsecret".into();
        s.security.field_key = "00".repeat(16).into();
        let written = s.to_toml().unwrap();
        let back: Settings =
            config::Config::builder().add_source(config::File::from_str(&written, config::FileFormat::Toml)).build().unwrap().try_deserialize().unwrap();
        for ((section, key, a), (_, _, b)) in s.secrets().iter().zip(back.secrets().iter()) {
            assert_eq!(a.expose(), b.expose(), "{section}.{key}");
        }
        assert_eq!(back.wechat.secret.expose(), "topsecret");
        // A secret missing from `secrets()` would be written as its mask and read back as
        // that text (a node started from the file then fails on it): none may be.
        for mask in ["\"(unset)\"", "\"***\""] {
            assert!(!written.contains(mask), "a secret was written masked ({mask}): add it to Settings::secrets\n{written}");
        }
    }
}
