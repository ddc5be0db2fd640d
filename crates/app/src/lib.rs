//! Use cases, grouped by requirement area. Each is one unit of work: validate, ask the
//! outside systems what must be asked, then one database transaction that writes the
//! state change, its audit row and its outbox jobs together.

pub mod admission;
pub mod audit;
pub mod billing;
pub mod cards;
pub mod consent;
pub mod crash;
pub mod face;
pub mod fairness;
pub mod idempotency;
pub mod identity;
pub mod inpatient;
pub mod insurance;
pub mod invoices;
pub mod job;
pub mod jobs;
pub mod maintenance;
pub mod messages;
pub mod ops;
pub mod records;
pub mod registration;
pub mod reports;
pub mod staff;

use domain::Clock;
use domain::ports::{BankPort, HisPort, RealNamePort, WechatOAuthPort};
use std::sync::Arc;
use store::Store;
use store::session::SessionPolicy;

/// Limits and timeouts the use cases enforce; all from settings.
#[derive(Clone, Debug)]
pub struct Policies {
    pub patient_session: SessionPolicy,
    pub staff_session: SessionPolicy,
    /// Failed staff logins before the account locks (S5 allows at most 100 an hour).
    pub staff_max_failed_logins: i32,
    pub staff_lockout: chrono::Duration,
    /// How long a schedule read from the HIS is served from memory.
    pub schedule_cache_ttl: std::time::Duration,
    /// How long an order may stay unpaid (T_close, P4).
    pub order_close_after: chrono::Duration,
    /// When to ask the bank first if no notification came (P5).
    pub first_payment_query_after: chrono::Duration,
    /// How recent a patient's sign-in must be to start a payment (S6).
    pub patient_fresh_auth: chrono::Duration,
    /// How recent a sign-in must be to open a report's file or a record copy's photos.
    pub patient_fresh_read: chrono::Duration,
    /// A bank notification whose accounting date is further than this from today is
    /// refused as stale (S7).
    pub bank_notify_window_days: i64,
    /// How often a patient's result page may make us ask the bank and the centre about
    /// one order (the page polls every two seconds; thousands may poll at once).
    pub payment_status_check_every: std::time::Duration,
    /// This hospital's 定点医疗机构 code: a referral must name it (INS-2).
    pub hospital_code: String,
    /// How long before a slot starts a paid booking may still be cancelled online.
    pub cancel_before_start: chrono::Duration,
    /// A booking still `Locking` this long after it was made (the HIS answer was lost)
    /// is settled by the sweeper: asked again and released.
    pub lock_answer_grace: chrono::Duration,
    /// Booking attempts per account and per address per minute (S15).
    pub bookings_per_account_per_minute: u32,
    pub bookings_per_address_per_minute: u32,
    /// Count the per-account limit in the shared database (several nodes): the limit
    /// then holds for the cluster. The per-address limit stays per node.
    pub shared_booking_limits: bool,
    pub no_show: fairness::NoShowRule,
    /// How long an INS-2 judgement is reused (see `App::eligibility`).
    pub eligibility_cache_ttl: std::time::Duration,
    /// The local hour of the evening-before visit reminder.
    pub visit_reminder_hour: u32,
    /// A stay's balance under this is low (住院押金不足提醒)…
    pub deposit_floor: domain::Fen,
    /// …and so is one lasting fewer days than this at the stay's daily average.
    pub deposit_days: i64,
    /// What the 入院提醒 says to bring, where to go, and that place's navigation code.
    pub admission_bring: String,
    pub admission_place: String,
    pub admission_destination: String,
    /// How long each class of kept data lives (S14).
    pub retention: maintenance::Retention,
}

/// What a patient brings to be admitted, unless the hospital says otherwise.
pub const ADMISSION_BRING: &str = "身份证、医保卡或电子医保凭证、入院通知单、近期检查检验报告、正在服用的药物、个人洗漱用品";
/// Where admissions are done, unless the hospital says otherwise.
pub const ADMISSION_PLACE: &str = "住院楼1楼住院服务中心";

impl Default for Policies {
    fn default() -> Self {
        Self {
            patient_session: SessionPolicy { idle: chrono::Duration::minutes(30), absolute: chrono::Duration::days(7) },
            staff_session: SessionPolicy { idle: chrono::Duration::minutes(15), absolute: chrono::Duration::hours(10) },
            staff_max_failed_logins: 10,
            staff_lockout: chrono::Duration::minutes(15),
            schedule_cache_ttl: std::time::Duration::from_secs(5),
            order_close_after: chrono::Duration::minutes(15),
            first_payment_query_after: chrono::Duration::seconds(60),
            patient_fresh_auth: chrono::Duration::minutes(10),
            patient_fresh_read: chrono::Duration::minutes(30),
            bank_notify_window_days: 2,
            payment_status_check_every: std::time::Duration::from_secs(3),
            hospital_code: String::new(),
            cancel_before_start: chrono::Duration::minutes(30),
            lock_answer_grace: chrono::Duration::minutes(2),
            bookings_per_account_per_minute: 10,
            bookings_per_address_per_minute: 60,
            shared_booking_limits: false,
            no_show: fairness::NoShowRule::default(),
            eligibility_cache_ttl: std::time::Duration::from_secs(20),
            visit_reminder_hour: 18,
            deposit_floor: domain::Fen(100_000),
            deposit_days: 2,
            admission_bring: ADMISSION_BRING.into(),
            admission_place: ADMISSION_PLACE.into(),
            admission_destination: "ADMIT".into(),
            retention: maintenance::Retention::default(),
        }
    }
}

/// Everything a use case needs, cheap to clone. Its parts are private: the web layer
/// reaches the store and the outside systems only through the use cases (the compiler
/// keeps it so: `web` does not even depend on `store` or `gateways`).
#[derive(Clone)]
pub struct App {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) his: Arc<dyn HisPort>,
    pub(crate) wechat: Arc<dyn WechatOAuthPort>,
    pub(crate) realname: Arc<dyn RealNamePort>,
    pub(crate) policies: Policies,
    pub(crate) catalogue: Arc<registration::catalogue::CatalogueCache>,
    /// When each open order's channels were last asked on a patient's behalf.
    pub(crate) status_checks: Arc<billing::patient::StatusThrottle>,
    /// The bank's aggregated payment; `None` where it is not configured.
    pub(crate) bank: Option<Arc<dyn BankPort>>,
    /// The insurance centre and its authorisation; `None` where insurance payment is not offered.
    pub(crate) insurance: Option<Arc<billing::InsuranceChannel>>,
    /// Booking attempts per account and per address (S15).
    pub(crate) booking_limits: Arc<(fairness::RateLimiter, fairness::RateLimiter)>,
    /// Bookings on their way to the database, per slot (admission control).
    pub(crate) slot_claims: Arc<admission::SlotClaims>,
    /// Recent counts of places held per session (admission control).
    pub(crate) held_cache: Arc<admission::HeldCache>,
    pub(crate) eligibility_cache: Arc<insurance::EligibilityCache>,
    /// The message platform's channels and policy.
    pub(crate) messaging: Arc<messages::Messaging>,
    pub(crate) reports: Arc<reports::Reports>,
    /// The e-invoice platform; `None` where the hospital issues invoices at its windows only.
    pub(crate) invoicing: Option<Arc<invoices::Invoicing>>,
    /// Record copies: settings and the courier.
    pub(crate) records: Arc<records::Records>,
    /// The face engine (FACE-1…4); none: the face services are off.
    pub(crate) face: Arc<face::FaceServices>,
}

impl App {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        his: Arc<dyn HisPort>,
        wechat: Arc<dyn WechatOAuthPort>,
        realname: Arc<dyn RealNamePort>,
        policies: Policies,
    ) -> Self {
        let catalogue = Arc::new(registration::catalogue::CatalogueCache::new(policies.schedule_cache_ttl));
        let status_checks = Arc::new(billing::patient::StatusThrottle::new(policies.payment_status_check_every));
        let minute = std::time::Duration::from_secs(60);
        let booking_limits = Arc::new((
            fairness::RateLimiter::new(policies.bookings_per_account_per_minute, minute),
            fairness::RateLimiter::new(policies.bookings_per_address_per_minute, minute),
        ));
        let eligibility_cache = Arc::new(insurance::EligibilityCache::new(policies.eligibility_cache_ttl));
        Self {
            store,
            clock,
            his,
            wechat,
            realname,
            policies,
            catalogue,
            status_checks,
            bank: None,
            insurance: None,
            booking_limits,
            slot_claims: Arc::default(),
            held_cache: Arc::default(),
            eligibility_cache,
            messaging: Arc::new(messages::Messaging::default()),
            reports: Arc::new(reports::Reports::default()),
            invoicing: None,
            records: Arc::default(),
            face: Arc::default(),
        }
    }

    pub fn with_bank(mut self, bank: Arc<dyn BankPort>) -> Self {
        self.bank = Some(bank);
        self
    }

    pub fn with_messaging(mut self, messaging: messages::Messaging) -> Self {
        self.messaging = Arc::new(messaging);
        self
    }

    pub fn with_reports(mut self, reports: reports::Reports) -> Self {
        self.reports = Arc::new(reports);
        self
    }

    pub fn with_insurance(mut self, insurance: billing::InsuranceChannel) -> Self {
        self.insurance = Some(Arc::new(insurance));
        self
    }

    /// The limits and timeouts this node enforces (pages state them to people).
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn today(&self) -> chrono::NaiveDate {
        domain::clock::to_local(self.now()).date_naive()
    }
}

/// Who is acting, for audit rows.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: String,
    pub correlation_id: String,
}

impl Actor {
    pub fn patient_account(account_id: i64, correlation_id: &str) -> Self {
        Self { id: format!("patient_account:{account_id}"), correlation_id: correlation_id.into() }
    }
    pub fn staff(staff_id: i64, correlation_id: &str) -> Self {
        Self { id: format!("staff:{staff_id}"), correlation_id: correlation_id.into() }
    }
    pub fn system(what: &str) -> Self {
        Self { id: format!("system:{what}"), correlation_id: String::new() }
    }
    pub fn entry(&self, action: &str, subject: impl Into<String>, reason: &str) -> domain::audit::AuditEntry {
        domain::audit::AuditEntry::new(self.id.clone(), action, subject, reason).with_correlation(self.correlation_id.clone())
    }
}
