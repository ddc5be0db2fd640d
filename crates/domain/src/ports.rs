//! The ports through which use cases reach outside systems. `gateways` implements each
//! one against the real protocol; tests and demo mode point those at `sim`.
use crate::error::DomainError;
use crate::identity::Gender;
use crate::insurance::Coverage;
use crate::money::Fen;
use crate::registration::{Department, Doctor, Schedule, SessionChange};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A patient record in the HIS (建档 result).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HisPatient {
    pub his_patient_id: String,
    pub mr_no: String,
    pub name: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub coverage: Coverage,
    /// The registered guardian's ID number, for a minor (INS-3 checks the binder is them).
    pub guardian_id_card_no: Option<String>,
    /// The mobile the HIS holds (given at a window or an earlier 建档), unchecked: the
    /// caller parses it. What a critical value's SMS falls back to (issue 17 item 9).
    #[serde(default)]
    pub mobile: Option<String>,
    /// Allergies as the HIS records them (free text; none recorded: `None`), for the
    /// consulting room's workstation (FACE-3).
    #[serde(default)]
    pub allergies: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHisPatient {
    pub name: String,
    pub id_card_no: String,
    pub mobile: Option<String>,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    /// Guardian's ID number for a minor.
    pub guardian_id_card_no: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotLock {
    pub pre_id: String,
    pub see_no: u32,
    pub reg_fee: Fen,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub reg_id: String,
    pub see_no: u32,
}

/// Where a checked-in patient stands in the doctor's queue (排队叫号).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// The number taken at check-in (取号).
    pub queue_no: u32,
    /// Patients still ahead.
    pub ahead: u32,
    /// Where to wait.
    pub room: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeItem {
    pub item_code: String,
    pub name: String,
    pub qty: u32,
    pub unit_price: Fen,
    pub amount: Fen,
    /// Whether insurance may pay for this line (甲/乙类 vs 自费).
    pub insurable: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpaidBill {
    pub recipe_id: String,
    pub visit_id: String,
    pub dept_id: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub issued_at: DateTime<Utc>,
    pub items: Vec<FeeItem>,
    pub total: Fen,
}

/// What the insurance centre settled for a bill (6301), passed to the HIS so its
/// settlement books the same parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuranceShare {
    /// The centre's payment order (payOrdId).
    pub pay_ord_id: String,
    pub fund: Fen,
    pub personal_account: Fen,
    pub mutual_aid: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreSettlement {
    pub pre_settle_id: String,
    pub total: Fen,
    pub fund_pay: Fen,
    pub personal_account_pay: Fen,
    pub self_pay: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub settle_id: String,
    pub invoice_no: String,
    /// Where the patient goes next (检验科采血处, 药房 3 号窗口 …), as the HIS says.
    pub guidance: Vec<String>,
}

/// One visit's fee list (OTH-4): every line the visit charged, paid or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitFees {
    pub visit_id: String,
    pub visit_date: NaiveDate,
    pub dept_name: String,
    pub doctor_name: String,
    /// Each line with whether it has been paid.
    pub items: Vec<(FeeItem, bool)>,
    pub total: Fen,
    pub paid: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InpatientStay {
    pub inpatient_no: String,
    pub ward: String,
    pub bed: String,
    pub admitted_at: DateTime<Utc>,
    pub deposit_balance: Fen,
    pub charges_to_date: Fen,
    /// 封账: the nurse closed the account; discharge settlement may start.
    pub account_closed: bool,
    /// 主治医生 and 责任护士, as the HIS names them.
    pub doctor: String,
    pub nurse: String,
    /// The admission diagnosis as the HIS words it.
    pub diagnosis: String,
    /// The doctor has ordered the discharge (出院医嘱).
    pub discharge_ordered: bool,
    /// When the stay was settled (on the phone or at the window); the HIS keeps a settled
    /// stay visible for some days so the patient can see how it ended.
    pub settled_at: Option<DateTime<Utc>>,
}

/// A patient of a ward as the nurse station lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WardInpatient {
    pub his_patient_id: String,
    pub name: String,
    pub stay: InpatientStay,
}

/// What the platform asks the HIS to settle (住院结算; NHSA 2304 where insured).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DischargeSettleRequest {
    pub inpatient_no: String,
    pub pre_settle_id: String,
    /// Ours, unique per discharge: the HIS answers a repeat with the same settlement.
    pub settle_no: String,
    /// The balance paid on the phone, with its order number, when the deposits fell short.
    pub paid: Option<(String, Fen)>,
    /// How the surplus goes back, per deposit.
    pub refunds: Vec<crate::inpatient::SurplusPart>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DischargeSettleOutcome {
    Settled {
        settle_id: String,
        invoice_no: String,
        settled_at: DateTime<Utc>,
        insurance: Option<crate::inpatient::InsuranceSettlementInfo>,
    },
    /// The stay was settled another way (at the window) before ours arrived.
    SettledElsewhere {
        settled_at: Option<DateTime<Utc>>,
    },
}

/// 出院小结 and what the patient takes home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DischargeSummary {
    pub admitted_on: NaiveDate,
    pub discharged_on: NaiveDate,
    pub admission_diagnosis: String,
    pub discharge_diagnosis: String,
    /// 诊疗经过 and 出院情况, as written.
    pub course: String,
    pub condition: String,
    /// 出院医嘱.
    pub advice: String,
    pub medicines: Vec<TakeHomeMedicine>,
    /// The follow-up visit the doctor asked for: (when, where/which clinic).
    pub follow_up: Option<(NaiveDate, String)>,
    pub doctor: String,
    /// The HIS's own PDF, when it has one (a report file id).
    pub pdf_file_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeHomeMedicine {
    pub name: String,
    pub spec: String,
    pub qty: String,
    pub usage: String,
}

/// A patient's visiting card (就诊卡) with its stored value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardAccount {
    pub card_no: String,
    pub balance: Fen,
    /// A plastic card the patient holds (bound on the phone), not the virtual one.
    #[serde(default)]
    pub physical: bool,
}

/// What moved money on a patient's card account (就诊卡交易).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardTradeKind {
    /// 充值 into the stored value.
    Recharge,
    /// 住院预交金 posted against the card.
    Deposit,
    /// 消费: paid from the stored value (a kiosk, a window).
    Spend,
    /// 退款 back to the card or out of it.
    Refund,
}

impl CardTradeKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Recharge => "充值",
            Self::Deposit => "住院押金",
            Self::Spend => "消费",
            Self::Refund => "退款",
        }
    }
}

/// One transaction of a card, newest first in lists; `amount` is signed (out is negative).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardTrade {
    pub trade_no: String,
    pub kind: CardTradeKind,
    pub amount: Fen,
    pub at: DateTime<Utc>,
    /// What the HIS says of it (the window, the stay).
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyFeeList {
    pub date: NaiveDate,
    pub items: Vec<crate::inpatient::DailyFeeLine>,
    /// The day's total as the HIS states it.
    pub total: Fen,
}

impl DailyFeeList {
    /// The sum of the lines (saturating: the decoder refuses lines that overflow).
    pub fn lines_total(&self) -> Fen {
        Fen(self.items.iter().fold(0i64, |s, l| s.saturating_add(l.item.amount.0)))
    }

    /// Whether the lines add up to the HIS's total; when not, both are shown and staff check.
    pub fn adds_up(&self) -> bool {
        self.lines_total() == self.total
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HisTradeRecord {
    pub trade_no: String,
    pub kind: String,
    pub amount: Fen,
    pub at: DateTime<Utc>,
}

/// The hospital information system.
/// Permission to make one call to a fragile outside system (the HIS), so the calls in
/// flight stay under a bound. Dropping the permit gives it back.
pub struct CallPermit {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl CallPermit {
    pub fn new(release: impl FnOnce() + Send + 'static) -> Self {
        Self { release: Some(Box::new(release)) }
    }
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        if let Some(r) = self.release.take() {
            r();
        }
    }
}

/// How urgent a call is for admission control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallClass {
    /// Most calls (locks, patients, payments): they share the bound less a reserve.
    Normal,
    /// Few calls whose answer many requests wait for (the catalogue's refresh): they may
    /// also use the reserve, so a rush of normal calls cannot starve them.
    Urgent,
}

/// Hands out [`CallPermit`]s: waits a bounded time for one, or answers `HisBusy` when
/// the system is saturated — the call was then never made, which callers may rely on.
#[async_trait]
pub trait CallPermits: Send + Sync {
    async fn acquire(&self, class: CallClass) -> Result<CallPermit, DomainError>;
}

#[async_trait]
pub trait HisPort: Send + Sync {
    async fn departments(&self) -> Result<Vec<Department>, DomainError>;
    async fn doctors(&self, dept_id: &str) -> Result<Vec<Doctor>, DomainError>;
    async fn schedules(&self, dept_id: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<Schedule>, DomainError>;
    async fn find_patient(&self, id_card_no: &str) -> Result<Option<HisPatient>, DomainError>;
    /// The patient's record by HIS id, with today's insurance standing (referrals change).
    async fn patient(&self, his_patient_id: &str) -> Result<Option<HisPatient>, DomainError>;
    async fn register_patient(&self, p: &NewHisPatient) -> Result<HisPatient, DomainError>;
    async fn lock_slot(&self, slot_id: &str, his_patient_id: &str, channel_order_no: &str) -> Result<SlotLock, DomainError>;
    async fn unlock_slot(&self, pre_id: &str) -> Result<(), DomainError>;
    async fn confirm_registration(&self, pre_id: &str, pay_trade_no: &str, amount: Fen) -> Result<Registration, DomainError>;
    /// 退号: cancels a confirmed registration; idempotent on `refund_no`.
    async fn cancel_registration(&self, reg_id: &str, refund_no: &str) -> Result<(), DomainError>;
    /// 停诊 / 改诊 / 替诊 of one session.
    async fn change_schedule(&self, schedule_id: &str, change: &SessionChange) -> Result<(), DomainError>;
    /// 签到/取号 on the visit day; idempotent (a second check-in returns the same number).
    async fn check_in(&self, reg_id: &str) -> Result<QueueStatus, DomainError>;
    /// The queue position of a checked-in registration; `None` before check-in.
    async fn queue_status(&self, reg_id: &str) -> Result<Option<QueueStatus>, DomainError>;
    async fn unpaid_bills(&self, his_patient_id: &str) -> Result<Vec<UnpaidBill>, DomainError>;
    /// The patient's outpatient fee lists per visit, newest first (OTH-4).
    async fn visit_fees(&self, his_patient_id: &str) -> Result<Vec<VisitFees>, DomainError>;
    /// 预结算. With `insurance`, the HIS books the centre's parts and the rest is self-pay;
    /// without, the whole bill is self-pay.
    async fn pre_settle(&self, his_patient_id: &str, recipe_ids: &[String], insurance: Option<&InsuranceShare>) -> Result<PreSettlement, DomainError>;
    async fn settle(&self, pre_settle_id: &str, pay_trade_no: &str, self_pay: Fen) -> Result<Settlement, DomainError>;
    /// The patient's lab and exam orders as the LIS/PACS holds them now (RPT-1).
    async fn lab_orders(&self, his_patient_id: &str) -> Result<Vec<crate::reports::LabSnapshot>, DomainError>;
    /// One order now; `None` when the LIS does not know it.
    async fn lab_order(&self, order_no: &str) -> Result<Option<crate::reports::LabSnapshot>, DomainError>;
    /// Marks a sampled specimen rejected in the LIS. Rejecting one already rejected
    /// changes nothing and returns the order as it is.
    async fn reject_specimen(&self, order_no: &str, reason: &str, instruction: &str, by: &str) -> Result<crate::reports::LabSnapshot, DomainError>;
    /// A report file's bytes (PDF or JPEG), refused past `max_bytes` without reading on.
    async fn report_file(&self, file_id: &str, max_bytes: usize) -> Result<Vec<u8>, DomainError>;
    async fn inpatient_stay(&self, his_patient_id: &str) -> Result<Option<InpatientStay>, DomainError>;
    /// The visiting card's stored value (就诊卡余额); `None` if the patient has no card account.
    async fn card_account(&self, his_patient_id: &str) -> Result<Option<CardAccount>, DomainError>;
    /// Binds a physical card the patient already holds: the HIS checks it is theirs (a
    /// card of someone else is refused) and from then on names it as the patient's card.
    async fn bind_card(&self, his_patient_id: &str, card_no: &str) -> Result<CardAccount, DomainError>;
    /// The card's transactions, newest first (at most the last 100).
    async fn card_trades(&self, his_patient_id: &str) -> Result<Vec<CardTrade>, DomainError>;
    /// Adds money to the visiting card `card_no` (the patient's virtual or bound card);
    /// idempotent on `pay_trade_no`. Returns the balance. A card that is not the patient's
    /// is refused.
    async fn recharge_card(&self, his_patient_id: &str, card_no: &str, amount: Fen, pay_trade_no: &str) -> Result<Fen, DomainError>;
    /// Posts a deposit (住院预交金) to the stay against the patient's card `card_no` (OTH-3);
    /// idempotent on `pay_trade_no`. A card that is not the patient's is refused.
    async fn pay_deposit(&self, inpatient_no: &str, card_no: &str, amount: Fen, pay_trade_no: &str) -> Result<Fen, DomainError>;
    async fn daily_fees(&self, inpatient_no: &str, date: NaiveDate) -> Result<DailyFeeList, DomainError>;
    /// The stay's charges so far by insurance class: (class, amount, self-pay part), in
    /// 甲/乙/丙 order, as the HIS sums them (one call, whatever the stay's length).
    async fn stay_class_totals(&self, inpatient_no: &str) -> Result<Vec<(crate::inpatient::InsuranceClass, Fen, Fen)>, DomainError>;
    /// The deposits of a stay, each with its channel and what was given back of it.
    async fn stay_deposits(&self, inpatient_no: &str) -> Result<Vec<crate::inpatient::DepositPayment>, DomainError>;
    /// The patients in hospital (and those settled in the last days), for the nurse station.
    async fn ward_inpatients(&self) -> Result<Vec<WardInpatient>, DomainError>;
    /// 封账: closes the stay's account for discharge; closing a closed one changes nothing.
    async fn close_account(&self, inpatient_no: &str, operator: &str) -> Result<(), DomainError>;
    /// 住院预结算 of a closed stay.
    async fn discharge_pre_settle(&self, inpatient_no: &str) -> Result<crate::inpatient::DischargeQuote, DomainError>;
    /// 住院结算: idempotent on `settle_no`.
    async fn discharge_settle(&self, req: &DischargeSettleRequest) -> Result<DischargeSettleOutcome, DomainError>;
    /// 撤销住院结算 (NHSA 2305): reopens the stay's account; the deposits are held again.
    async fn cancel_discharge_settlement(&self, settle_id: &str, reason: &str) -> Result<(), DomainError>;
    /// 出院小结; `None` until the doctor has written it.
    async fn discharge_summary(&self, inpatient_no: &str) -> Result<Option<DischargeSummary>, DomainError>;
    async fn trade_records(&self, date: NaiveDate) -> Result<Vec<HisTradeRecord>, DomainError>;
    /// The patient's admission notices (入院通知单, OTH-5), newest first, whatever their status.
    async fn admission_notices(&self, his_patient_id: &str) -> Result<Vec<crate::inpatient::admission_booking::AdmissionNotice>, DomainError>;
    /// 住院登记: registers the admission of a notice for a day and bed type; idempotent on
    /// `booking_no` (a repeat answers the same registration number).
    async fn register_admission(&self, req: &AdmissionRegistration) -> Result<String, DomainError>;
    /// Takes back the registration made under `booking_no`; taking back one already taken
    /// back changes nothing.
    async fn cancel_admission(&self, notice_no: &str, booking_no: &str, reason: &str) -> Result<(), DomainError>;
    /// The patient's archived stays and visits whose record may be copied (REC-1), newest first.
    async fn record_encounters(&self, his_patient_id: &str) -> Result<Vec<crate::records::RecordEncounter>, DomainError>;
}

/// What the admission office registers in the HIS for a notice (OTH-5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionRegistration {
    pub notice_no: String,
    pub date: NaiveDate,
    pub bed_type: String,
    /// The platform's booking number: the registration's idempotency key.
    pub booking_no: String,
    /// Who registered it (the office's staff, or "患者确认" when the patient accepted a proposal).
    pub operator: String,
}

/// A WeChat user identity as the official-account OAuth flow yields it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WechatIdentity {
    pub openid: String,
    pub unionid: Option<String>,
    pub nickname: Option<String>,
}

/// WeChat official-account web authorisation (网页授权).
#[async_trait]
pub trait WechatOAuthPort: Send + Sync {
    /// The URL to send the browser to.
    fn authorize_url(&self, redirect_uri: &str, state: &str) -> String;
    /// Exchanges the one-time `code` for the user's identity.
    async fn exchange_code(&self, code: &str) -> Result<WechatIdentity, DomainError>;
}

/// Real-name verification (实名核验): does this name belong to this ID number?
#[async_trait]
pub trait RealNamePort: Send + Sync {
    async fn verify(&self, name: &str, id_card_no: &str) -> Result<bool, DomainError>;
}

// --- the message platform's channels (MSG-1/2, OTH-1) -----------------------------------

/// A WeChat template or subscribe message, ready to send.
#[derive(Clone, Debug)]
pub struct WechatMessage {
    pub openid: String,
    pub template_id: String,
    /// The full page address it opens.
    pub url: String,
    /// Our message number: WeChat drops a repeat with the same `client_msg_id` [I].
    pub client_msg_id: String,
    /// Field key and value, in the template's order.
    pub data: Vec<(String, String)>,
}

/// The official account's messages (protocols.md §5.1–5.2). Answers are classified,
/// never errors: the delivery engine decides what a classification means.
#[async_trait::async_trait]
pub trait WechatMessagePort: Send + Sync {
    async fn send_template(&self, m: &WechatMessage) -> crate::messages::SendOutcome;
    async fn send_subscribe(&self, m: &WechatMessage) -> crate::messages::SendOutcome;
}

/// An SMS, ready to send.
#[derive(Clone, Debug)]
pub struct SmsMessage {
    pub phone: crate::Masked<crate::identity::Mobile>,
    pub template_code: String,
    pub params: Vec<(String, String)>,
    /// Our message number, echoed back by the provider (`OutId` / `SessionContext`).
    pub out_id: String,
}

/// An SMS provider (Aliyun or Tencent Cloud, protocols.md §5.3).
#[async_trait::async_trait]
pub trait SmsPort: Send + Sync {
    fn provider(&self) -> &'static str;
    async fn send(&self, m: &SmsMessage) -> crate::messages::SendOutcome;
}

/// A route the in-hospital navigation system can show (OTH-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NavRoute {
    pub route_id: String,
    /// The navigation page that guides the patient there.
    pub url: String,
    /// A one-line description for texts ("1楼大厅 → 直行 → 西药房").
    pub summary: String,
}

#[async_trait::async_trait]
pub trait NavigationPort: Send + Sync {
    /// A route from the hospital's main entrance to a destination code of the navigation
    /// system (pharmacy window, exam room …).
    async fn route_to(&self, destination: &str) -> Result<NavRoute, DomainError>;
}

// --- the file store (RPT-2: report PDFs and images) ---------------------------------------

/// Where report files live: a local directory by default, an S3-compatible object
/// store in production. Keys are ours (random, `[a-z0-9/._-]`); bytes arrive sealed.
#[async_trait::async_trait]
pub trait FileStorePort: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), DomainError>;
    /// `None` when there is no such object.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, DomainError>;
    async fn delete(&self, key: &str) -> Result<(), DomainError>;
}

// --- the bank (INS-1: every non-insurance online payment) ---------------------------

/// Where the bank says a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankStatus {
    Pending,
    Paid,
    /// Paid, then (partly) refunded.
    Refunded,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankOrder {
    pub status: BankStatus,
    pub amount: Fen,
    pub refunded: Fen,
}

/// One line of the bank's daily statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankStatementLine {
    pub order_id: String,
    pub refund: bool,
    pub amount: Fen,
    /// The refund number of a refund line.
    pub serial: String,
}

/// A payment-result notification whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankNotification {
    pub order_id: String,
    pub amount: Fen,
    /// The bank says the payment succeeded (a verified "not paid" is a failure).
    pub paid: bool,
    /// Identifies this notification: the bank gives no event id, so it is derived from
    /// the verified content (the same notification delivered twice has the same id).
    pub event_id: String,
    /// The bank's accounting date of the payment, when the notification carries one
    /// (CCB's `ACCDATE`): the only time in it, so the freshness window is checked on it.
    pub accounting_date: Option<chrono::NaiveDate>,
}

/// The province's medical e-invoice platform (财政电子票据; 博思 in Shenzhen's hospitals).
/// Issuing is idempotent on the request's `bus_no`; after a lost answer the platform is
/// asked by that number before anything is issued again.
#[async_trait]
pub trait EInvoicePort: Send + Sync {
    async fn issue(&self, req: &crate::invoices::InvoiceRequest) -> Result<crate::invoices::IssuedInvoice, DomainError>;
    /// The invoice issued for a business number, if any (getEBillByBusNo).
    async fn find_by_bus_no(&self, bus_no: &str, bus_time: DateTime<Utc>) -> Result<Option<crate::invoices::IssuedInvoice>, DomainError>;
    /// 冲红: reverses an issued invoice with a red-letter one.
    async fn reverse(&self, batch_code: &str, bill_no: &str, reason: &str, at: DateTime<Utc>) -> Result<crate::invoices::ReversalInvoice, DomainError>;
    async fn status(&self, batch_code: &str, bill_no: &str) -> Result<crate::invoices::InvoiceStatus, DomainError>;
    /// The invoice's PDF as the platform renders it, refused past `max_bytes`.
    async fn pdf(&self, invoice: &crate::invoices::IssuedInvoice, max_bytes: usize) -> Result<Vec<u8>, DomainError>;
}

/// The bank's aggregated payment. The hospital has one today (CCB); a second bank is one
/// more adapter of this port.
#[async_trait]
pub trait BankPort: Send + Sync {
    /// Opens a payment of `amount` under our order number; returns the cashier URL the
    /// patient opens (or a QR code carries). The bank refuses a second amount under one
    /// order number.
    async fn create_payment(&self, order_id: &str, amount: Fen) -> Result<String, DomainError>;
    /// Where the payment stands; `None` when the bank has never heard of the order.
    async fn query(&self, order_id: &str) -> Result<Option<BankOrder>, DomainError>;
    /// Refunds `amount` under `refund_no`, stable per refund so a retry is the same refund.
    async fn refund(&self, order_id: &str, refund_no: &str, amount: Fen) -> Result<(), DomainError>;
    /// The amount of the refund `refund_no`, if the bank has made it.
    async fn refund_query(&self, order_id: &str, refund_no: &str) -> Result<Option<Fen>, DomainError>;
    /// The bank's statement of a local day (payments and refunds).
    async fn statement(&self, day: NaiveDate) -> Result<Vec<BankStatementLine>, DomainError>;
    /// Verifies a result notification (decoded form or query pairs). A bad signature or
    /// a missing field is `BAD_REQUEST`; an amount that is not yuan is `AMOUNT_MISMATCH`.
    fn verify_notification(&self, pairs: &[(String, String)]) -> Result<BankNotification, DomainError>;
}

// --- the insurance centre (INS-1, INS-2, INS-3: 医保移动支付) ---------------------------

/// What the centre gave back for an uploaded fee list (6201): the handle of every later
/// call about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeUpload {
    pub pay_ord_id: String,
    pub pay_token: String,
}

/// `ordStas` grouped as adapters group it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrdStasClass {
    Processing,
    PaidPartial,
    Paid,
    Refunded,
    Cancelled,
    Failed,
}

/// The centre's `ordStas` code in its class; `None` for a code the centre does not define.
pub fn classify_ord_stas(ord_stas: &str) -> Option<OrdStasClass> {
    Some(match ord_stas.parse::<u8>().ok()? {
        0..=2 | 17 => OrdStasClass::Processing,
        3 | 4 => OrdStasClass::PaidPartial,
        5 | 6 => OrdStasClass::Paid,
        7..=11 => OrdStasClass::Refunded,
        12 | 13 => OrdStasClass::Cancelled,
        14..=16 => OrdStasClass::Failed,
        _ => return None,
    })
}

/// How the centre splits (6202) or settled (6301) an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsuranceSettlement {
    pub ord_stas: String,
    pub fee_sumamt: Fen,
    pub own_pay_amt: Fen,
    pub psn_acct_pay: Fen,
    pub fund_pay: Fen,
    pub acct_mulaid_pay: Fen,
}

impl InsuranceSettlement {
    pub fn class(&self) -> Option<OrdStasClass> {
        classify_ord_stas(&self.ord_stas)
    }
}

/// One line of the centre's daily detail statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CentreLine {
    pub pay_ord_id: String,
    /// Our order number.
    pub med_org_ord: String,
    pub refund: bool,
    pub fund: Fen,
    pub psn_acct: Fen,
    pub serial: String,
}

/// A fee line as uploaded: (catalogue code, name, amount).
pub type FeeLine = (String, String, Fen);

/// The insurance centre's mobile-payment interfaces.
#[async_trait]
pub trait InsuranceCentrePort: Send + Sync {
    /// 6201: uploads the fee lines; `insurable` is the in-catalogue part; `pooled` is false
    /// when the fund pays nothing (a 家庭共济 payment).
    async fn upload_fees(&self, order_no: &str, pay_auth_no: &str, lines: &[FeeLine], insurable: Fen, pooled: bool) -> Result<FeeUpload, DomainError>;
    /// 6202: pre-settles with the patient's authorisation; returns the split.
    async fn pay_order(&self, up: &FeeUpload, pay_auth_no: &str, use_personal_account: bool) -> Result<InsuranceSettlement, DomainError>;
    /// 6301: where the order stands — the answer to every uncertainty.
    async fn query(&self, up: &FeeUpload) -> Result<InsuranceSettlement, DomainError>;
    /// 6203: refunds under `refund_sn` (stable per refund); returns `SUCC`, `FAIL` or `EXP`.
    async fn refund(&self, up: &FeeUpload, refund_sn: &str, refund_type: &str, fund: Fen, psn_acct: Fen, cash: Fen) -> Result<String, DomainError>;
    /// 6401: revokes an upload that was never paid.
    async fn revoke(&self, up: &FeeUpload) -> Result<(), DomainError>;
    /// 3202: the centre's settlement and refund lines of a local day.
    async fn statement_detail(&self, day: NaiveDate) -> Result<Vec<CentreLine>, DomainError>;
    /// 3201: whether the centre's totals of a day agree with ours.
    async fn statement_total(&self, day: NaiveDate, fund: Fen, psn_acct: Fen) -> Result<bool, DomainError>;
}

/// Whose insurance pays: the user's own, or a relative's (a child's 少儿医保 paid by a guardian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFor {
    Own,
    Relative,
}

/// The authorisation a patient gave on the 医保 page, traded for its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayAuth {
    pub pay_auth_no: String,
    pub for_relative: bool,
}

/// The WeChat 医保 authorisation and the family-account (guardian) verification.
#[async_trait]
pub trait InsuranceAuthPort: Send + Sync {
    /// Where to send the patient to authorise.
    fn authorize_url(&self, redirect_uri: &str, state: &str, who: AuthFor) -> String;
    /// Trades the page's `authCode` for the authorisation number.
    async fn user_query(&self, auth_code: &str, openid: &str) -> Result<PayAuth, DomainError>;
    /// Where a guardian proves it is them to bind a child.
    fn family_bind_url(&self, redirect_uri: &str, state: &str, child_name_masked: &str) -> String;
    /// The result of that verification, asked of the receiver (never taken from the URL).
    async fn family_bind_query(&self, bind_code: &str, openid: &str) -> Result<String, DomainError>;
}

/// One party of a shipment (sender or receiver), as the courier needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentParty {
    pub contact: String,
    pub mobile: String,
    pub province: String,
    pub city: String,
    pub county: String,
    pub address: String,
    /// The hospital's name on the sender side; empty for a person.
    pub company: String,
}

/// A parcel to send (record copies, REC-2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRequest {
    /// Our order number: the courier answers a repeat with the first order's waybill.
    pub order_id: String,
    pub sender: ShipmentParty,
    pub receiver: ShipmentParty,
    /// What is in it ("病历复印件").
    pub cargo: String,
    pub remark: String,
}

/// What the courier made of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipmentOutcome {
    /// Accepted for pickup, with its waybill.
    Accepted { waybill_no: String },
    /// Accepted, but the courier's staff check the address first.
    ToBeChecked { waybill_no: String },
    /// The courier does not deliver there.
    Undeliverable { reason: String },
}

/// One step of a parcel's route, as the courier reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStep {
    pub waybill_no: String,
    /// Local time as the courier states it.
    pub at: chrono::NaiveDateTime,
    pub place: String,
    pub remark: String,
    /// The courier's operation code (50 收件, 30 分拣发出, 31 到达中转场, 44 派送中, 80 签收 …).
    pub op_code: String,
}

impl RouteStep {
    /// The parcel was signed for.
    pub fn is_delivered(&self) -> bool {
        self.op_code == "80"
    }
}

/// An express courier (SF Express 丰桥, protocols-wave2 §1).
#[async_trait]
pub trait CourierPort: Send + Sync {
    /// Places an order; a repeat of `order_id` answers the first order's waybill.
    async fn create_shipment(&self, req: &ShipmentRequest) -> Result<ShipmentOutcome, DomainError>;
    /// Cancels an order not yet picked up; cancelling a cancelled one changes nothing.
    async fn cancel_shipment(&self, order_id: &str, waybill_no: &str) -> Result<(), DomainError>;
    /// The parcel's route so far, oldest first.
    async fn routes(&self, waybill_no: &str) -> Result<Vec<RouteStep>, DomainError>;
    /// Reads a route push the courier sent to us: each step with the push's own id (steps
    /// are deduplicated on it). The body is untrusted input.
    fn read_route_push(&self, body: &[u8]) -> Result<Vec<(String, RouteStep)>, DomainError>;
    /// What the courier expects back: taken, or not (it pushes again).
    fn route_push_answer(&self, taken: bool) -> String;
}

// --- face-scan services (FACE-1…4) ------------------------------------------------------

/// A face engine (Baidu AI face v3, cloud or its on-premise edition; protocols-wave2 §3).
/// A picture the engine will not use is refused with its FACE_* code (no face, low
/// quality, liveness failed); the engine unreachable, throttled or out of quota is
/// `UpstreamUnavailable` — the caller offers the other way at once.
#[async_trait]
pub trait FaceEnginePort: Send + Sync {
    /// Adds a face to `user_id` in `group_id` (creating both as needed); answers the
    /// engine's face token. Adding the same token again changes nothing.
    async fn add_face(&self, group_id: &str, user_id: &str, face: crate::face::FaceInput<'_>, checks: crate::face::FaceChecks) -> Result<String, DomainError>;
    /// Deletes a user and every face it holds from a group; a user already gone is done.
    async fn delete_user(&self, group_id: &str, user_id: &str) -> Result<(), DomainError>;
    /// 1:N: the users of these groups (at most 10) like the picture, best first; nobody
    /// like it is an empty list, not an error.
    async fn search(
        &self,
        group_ids: &[String],
        image: &crate::face::FaceImage,
        max_users: u32,
        checks: crate::face::FaceChecks,
    ) -> Result<Vec<crate::face::FaceCandidate>, DomainError>;
    /// 1:1: how alike two pictures are (0–100).
    async fn compare(&self, live: &crate::face::FaceImage, other: &crate::face::FaceImage, checks: crate::face::FaceChecks) -> Result<f32, DomainError>;
    /// The identity check: how alike the picture is to the public-security photo of this
    /// ID number (0–100); a name that does not belong to the number is `FaceIdentityMismatch`.
    async fn verify_identity(&self, image: &crate::face::FaceImage, id_number: &str, name: &str, checks: crate::face::FaceChecks) -> Result<f32, DomainError>;
    /// Single-picture liveness (0–1): compare with `Control::liveness_threshold`.
    async fn liveness(&self, image: &crate::face::FaceImage) -> Result<f32, DomainError>;
}
