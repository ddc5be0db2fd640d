//! The HIS answers into domain types: the envelope, every operation's `data`, and the
//! HIS's refusals into the error catalogue. Pure functions (no I/O), so the fuzz target
//! and contract tests run exactly the code the connector runs. Anything inconsistent is
//! refused: an unknown status, lines that do not sum to their total, and amounts that
//! are negative or beyond [`MAX_AMOUNT`].
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use domain::identity::Gender;
use domain::insurance::{Coverage, InsuranceKind, MutualAidGrant, Referral};
use domain::ports::*;
use domain::registration::{Department, Doctor, Schedule, SessionPeriod, Slot};
use domain::reports::LabSnapshot;
use domain::{DomainError, ErrorCode, Fen};
use serde::Deserialize;
use serde_json::Value;

/// The largest amount one HIS field may carry: ¥10,000,000. No fee, deposit, balance or
/// bill of one patient comes near it; a larger (or negative) value is a broken or
/// hostile answer, refused before it can reach an order or overflow a sum. [I]: a
/// hospital whose bills exceed it changes this constant.
pub const MAX_AMOUNT: Fen = Fen(1_000_000_000);

/// An amount field as the HIS sent it (integer fen), checked: never negative, never
/// beyond [`MAX_AMOUNT`].
fn amount(op: &str, field: &str, fen: i64) -> Result<Fen, DomainError> {
    if !(0..=MAX_AMOUNT.0).contains(&fen) {
        return Err(malformed(op, format!("{field} {fen} outside 0..={}", MAX_AMOUNT.0)));
    }
    Ok(Fen(fen))
}

/// A signed amount (a trade record: refunds are negative), within ±[`MAX_AMOUNT`].
fn signed_amount(op: &str, field: &str, fen: i64) -> Result<Fen, DomainError> {
    if !(-MAX_AMOUNT.0..=MAX_AMOUNT.0).contains(&fen) {
        return Err(malformed(op, format!("{field} {fen} beyond ±{}", MAX_AMOUNT.0)));
    }
    Ok(Fen(fen))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    result_code: String,
    result_msg: Option<String>,
    #[serde(default)]
    data: Value,
}

pub(crate) fn malformed(op: &str, why: impl std::fmt::Display) -> DomainError {
    DomainError::new(ErrorCode::HisUnavailable, format!("his {op}: malformed answer: {why}"))
}

/// An answer's `data`, or the HIS's refusal as (resultCode, resultMsg).
pub(crate) type Answer = Result<Value, (String, String)>;

pub(crate) fn open_envelope(op: &str, body: &[u8]) -> Result<Answer, DomainError> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| malformed(op, e))?;
    if env.result_code == "0" { Ok(Ok(env.data)) } else { Ok(Err((env.result_code, env.result_msg.unwrap_or_default()))) }
}

/// An answer whose every refusal is an error.
pub(crate) fn answer_ok(op: &str, a: Answer) -> Result<Value, DomainError> {
    a.map_err(|(code, msg)| refusal(op, &code, &msg))
}

fn parse<T: serde::de::DeserializeOwned>(op: &str, v: Value) -> Result<T, DomainError> {
    serde_json::from_value(v).map_err(|e| malformed(op, e))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeptDto {
    dept_id: String,
    dept_name: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    intro: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DoctorDto {
    doctor_code: String,
    dept_id: String,
    doctor_name: String,
    title: String,
    #[serde(default)]
    specialty: String,
    reg_fee: i64,
    treat_fee: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlotDto {
    slot_id: String,
    start_time: String,
    end_time: String,
    total: u32,
    remain: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleDto {
    schedule_id: String,
    doctor_code: String,
    dept_id: String,
    schedule_date: NaiveDate,
    time_flag: u8,
    stop_flag: String,
    slots: Vec<SlotDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReferralDto {
    referral_no: String,
    from_chc: String,
    to_org: String,
    dept_id: Option<String>,
    valid_until: NaiveDate,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrantDto {
    grantor_psn_no: String,
    grantor_name: String,
    valid_until: NaiveDate,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsuranceDto {
    med_type: String,
    psn_no: Option<String>,
    bound_chc: Option<String>,
    referral: Option<ReferralDto>,
    #[serde(default)]
    acct_balance: i64,
    #[serde(default)]
    mutual_aid: Vec<GrantDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatientDto {
    patient_id: String,
    mr_no: String,
    name: String,
    sex: String,
    birth_date: NaiveDate,
    insurance: InsuranceDto,
    #[serde(default)]
    guardian_id_card_no: Option<String>,
    /// Field name [I]: HIS vendors call it mobile/phone/tel; the front-end processor maps it.
    #[serde(default)]
    mobile: Option<String>,
    /// Field name [I]: the allergy history (过敏史) as free text.
    #[serde(default)]
    allergies: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemDto {
    item_code: String,
    item_name: String,
    qty: u32,
    price: i64,
    amount: i64,
    insurable: bool,
}

/// A fee line, its price and amount checked.
fn fee_item(op: &str, i: ItemDto) -> Result<FeeItem, DomainError> {
    Ok(FeeItem {
        unit_price: amount(op, "price", i.price)?,
        amount: amount(op, "amount", i.amount)?,
        item_code: i.item_code,
        name: i.item_name,
        qty: i.qty,
        insurable: i.insurable,
    })
}

fn kind(s: &str) -> Result<InsuranceKind, String> {
    Ok(match s {
        "tier1" => InsuranceKind::Tier1,
        "tier2" => InsuranceKind::Tier2,
        "tier3" => InsuranceKind::Tier3,
        "children" => InsuranceKind::Children,
        "self_pay" => InsuranceKind::SelfPay,
        other => return Err(format!("unknown medType {other}")),
    })
}

fn patient_record(p: PatientDto) -> Result<HisPatient, DomainError> {
    let i = p.insurance;
    let guardian_id_card_no = p.guardian_id_card_no.filter(|g| !g.is_empty());
    let mobile = p.mobile.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    let allergies = p.allergies.map(|a| a.trim().chars().take(200).collect::<String>()).filter(|a| !a.is_empty());
    Ok(HisPatient {
        guardian_id_card_no,
        mobile,
        allergies,
        his_patient_id: p.patient_id,
        mr_no: p.mr_no,
        name: p.name,
        gender: match p.sex.as_str() {
            "1" => Gender::Male,
            "2" => Gender::Female,
            other => return Err(malformed("patient", format!("sex {other}"))),
        },
        birth_date: p.birth_date,
        coverage: Coverage {
            kind: kind(&i.med_type).map_err(|e| malformed("patient", e))?,
            psn_no: i.psn_no,
            bound_chc: i.bound_chc,
            referral: i.referral.map(|r| Referral {
                referral_no: r.referral_no,
                from_chc: r.from_chc,
                to_org: r.to_org,
                dept_id: r.dept_id,
                valid_until: r.valid_until,
            }),
            personal_account_balance: amount("patient", "acctBalance", i.acct_balance)?,
            mutual_aid_grants: i
                .mutual_aid
                .into_iter()
                .map(|g| MutualAidGrant { grantor_psn_no: g.grantor_psn_no, grantor_name_masked: g.grantor_name, valid_until: g.valid_until })
                .collect(),
        },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueDto {
    queue_no: u32,
    ahead: u32,
    room: String,
}

fn queue(q: QueueDto) -> Result<QueueStatus, DomainError> {
    if q.queue_no == 0 {
        return Err(malformed("queue", "queueNo 0"));
    }
    Ok(QueueStatus { queue_no: q.queue_no, ahead: q.ahead, room: q.room })
}

fn hm(op: &str, s: &str) -> Result<NaiveTime, DomainError> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|e| malformed(op, e))
}

/// The LIS does not know the order.
const LAB_ORDER_UNKNOWN: &str = "2020";
/// The specimen cannot be rejected in its state (not sampled, or reported).
const LAB_NOT_REJECTABLE: &str = "2021";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabItemDto {
    code: String,
    name: String,
    value: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    range: String,
    #[serde(default)]
    flag: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabFileDto {
    file_id: String,
    file_type: String,
    #[serde(default)]
    file_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabReportDto {
    report_no: String,
    report_version: u32,
    report_time: DateTime<Utc>,
    #[serde(default)]
    tester: String,
    #[serde(default)]
    reviewer: String,
    #[serde(default)]
    items: Vec<LabItemDto>,
    #[serde(default)]
    findings: String,
    #[serde(default)]
    conclusion: String,
    #[serde(default)]
    files: Vec<LabFileDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabRejectionDto {
    reason: String,
    #[serde(default)]
    instruction: String,
    reject_time: DateTime<Utc>,
    #[serde(default)]
    operator: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabOrderDto {
    order_no: String,
    patient_id: String,
    #[serde(default)]
    recipe_id: String,
    item_code: String,
    item_name: String,
    /// LIS or PACS.
    order_type: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    dept_name: String,
    #[serde(default)]
    doctor_name: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    specimen: String,
    #[serde(default)]
    barcode: String,
    revision: u64,
    status: String,
    order_time: DateTime<Utc>,
    sample_time: Option<DateTime<Utc>>,
    rejection: Option<LabRejectionDto>,
    report: Option<LabReportDto>,
}

/// An LIS order into the domain's snapshot, refusing anything inconsistent: a status
/// we do not know, a report without its body, a rejection without its reason.
fn lab_snapshot(op: &str, o: LabOrderDto) -> Result<LabSnapshot, DomainError> {
    use domain::reports::{FileKind, FileRef, LabStatus, OrderKind, Rejection, ReportBody, ResultItem};
    let status = LabStatus::parse(&o.status).ok_or_else(|| malformed(op, format!("status {}", o.status)))?;
    let kind = match o.order_type.as_str() {
        "LIS" => OrderKind::Lab,
        "PACS" => OrderKind::Exam,
        other => return Err(malformed(op, format!("orderType {other}"))),
    };
    if o.order_no.is_empty() || o.revision == 0 {
        return Err(malformed(op, "orderNo/revision"));
    }
    if matches!(status, LabStatus::Reported | LabStatus::Withdrawn) && o.report.is_none() {
        return Err(malformed(op, "reported without a report"));
    }
    if status == LabStatus::Rejected && o.rejection.is_none() {
        return Err(malformed(op, "rejected without a reason"));
    }
    let report = o
        .report
        .map(|r| -> Result<ReportBody, DomainError> {
            Ok(ReportBody {
                report_no: r.report_no,
                version: r.report_version,
                reported_at: r.report_time,
                tester: r.tester,
                reviewer: r.reviewer,
                items: r
                    .items
                    .into_iter()
                    .map(|i| ResultItem { code: i.code, name: i.name, value: i.value, unit: i.unit, range: i.range, flag: i.flag })
                    .collect(),
                findings: r.findings,
                conclusion: r.conclusion,
                files: r
                    .files
                    .into_iter()
                    .map(|f| {
                        Ok(FileRef {
                            kind: FileKind::parse(&f.file_type).ok_or_else(|| malformed(op, format!("fileType {}", f.file_type)))?,
                            file_id: f.file_id,
                            name: f.file_name,
                        })
                    })
                    .collect::<Result<_, DomainError>>()?,
            })
        })
        .transpose()?;
    Ok(LabSnapshot {
        order_no: o.order_no,
        his_patient_id: o.patient_id,
        recipe_id: o.recipe_id,
        item_code: o.item_code,
        item_name: o.item_name,
        kind,
        category: o.category,
        dept_name: o.dept_name,
        doctor_name: o.doctor_name,
        place: o.place,
        specimen: o.specimen,
        barcode: o.barcode,
        revision: o.revision,
        status,
        ordered_at: o.order_time,
        sampled_at: o.sample_time,
        rejection: o.rejection.map(|r| Rejection { reason: r.reason, instruction: r.instruction, at: r.reject_time, by: r.operator }),
        report,
    })
}

/// Maps HIS result codes to the catalogue. The HIS message goes to the log only.
fn refusal(op: &str, code: &str, msg: &str) -> DomainError {
    let c = match code {
        "1002" | "1005" => ErrorCode::HisUnavailable, // our signature or channel: a configuration fault
        "2006" => ErrorCode::RealNameMismatch,
        "2001" => ErrorCode::PatientNotFound,
        // Admission registration [I]: a day or bed type the notice does not allow; a full ward.
        "2030" | "2031" => ErrorCode::AdmissionChoiceInvalid,
        "2035" => ErrorCode::AdmissionDayFull,
        _ => ErrorCode::HisRejected,
    };
    DomainError::new(c, format!("his {op} refused {code}: {msg}"))
}

/// The operations whose answers [`decode_answer`] knows.
pub const OPERATIONS: &[&str] = &[
    "department_list",
    "doctor_list",
    "schedule_list",
    "patient_query",
    "patient_info",
    "patient_create",
    "lock_reg",
    "unlock_reg",
    "reg_confirm",
    "reg_cancel",
    "schedule_change",
    "visit_fee_list",
    "reg_checkin",
    "queue_status",
    "unpaid_fees",
    "settlement_pre",
    "charge_commit",
    "lab_order_list",
    "lab_order_query",
    "specimen_reject",
    "inhospital_info",
    "prepay",
    "card_info",
    "card_recharge",
    "card_trades",
    "card_bind",
    "daily_list",
    "trade_check",
    "inhospital_deposits",
    "inhospital_fee_summary",
    "ward_inpatients",
    "inhospital_close",
    "inhospital_presettle",
    "inhospital_settle",
    "inhospital_cancel_settle",
    "discharge_summary",
    "admission_notices",
    "admission_register",
    "admission_cancel",
    "record_encounters",
];

/// Decodes a whole answer body for `op` exactly as the connector does after a call,
/// without sending anything: the entry point of the fuzz target and of contract tests.
/// `Ok(true)` when the answer carried something, `Ok(false)` for a "none" or an empty list.
pub fn decode_answer(op: &str, body: &[u8]) -> Result<bool, DomainError> {
    let a = open_envelope(op, body)?;
    Ok(match op {
        "department_list" => !departments(answer_ok(op, a)?)?.is_empty(),
        "doctor_list" => !doctors(answer_ok(op, a)?)?.is_empty(),
        "schedule_list" => !schedules(answer_ok(op, a)?)?.is_empty(),
        "patient_query" | "patient_info" => maybe_patient(op, a)?.is_some(),
        "patient_create" => patient(op, answer_ok(op, a)?).map(|_| true)?,
        "lock_reg" => slot_lock(a).map(|_| true)?,
        "unlock_reg" | "schedule_change" => answer_ok(op, a).map(|_| true)?,
        "reg_confirm" => registration(answer_ok(op, a)?).map(|_| true)?,
        "reg_cancel" => cancellation(a).map(|_| true)?,
        "visit_fee_list" => !visit_fees(answer_ok(op, a)?)?.is_empty(),
        "reg_checkin" => check_in(a).map(|_| true)?,
        "queue_status" => queue_status(a)?.is_some(),
        "unpaid_fees" => !unpaid_bills(answer_ok(op, a)?)?.is_empty(),
        "settlement_pre" => pre_settlement(answer_ok(op, a)?).map(|_| true)?,
        "charge_commit" => settlement(answer_ok(op, a)?).map(|_| true)?,
        "lab_order_list" => !lab_orders(answer_ok(op, a)?)?.is_empty(),
        "lab_order_query" => lab_order(a)?.is_some(),
        "specimen_reject" => specimen_rejected("-", a).map(|_| true)?,
        "inhospital_info" => inpatient_stay(a)?.is_some(),
        "prepay" => deposit_balance(answer_ok(op, a)?).map(|_| true)?,
        "card_info" => card_account(a)?.is_some(),
        "card_recharge" => card_balance(answer_ok(op, a)?).map(|_| true)?,
        "card_trades" => !card_trades(answer_ok(op, a)?)?.is_empty(),
        "card_bind" => card_bound(a).map(|_| true)?,
        "daily_list" => daily_fees(answer_ok(op, a)?).map(|_| true)?,
        "trade_check" => !trade_records(answer_ok(op, a)?)?.is_empty(),
        "inhospital_deposits" => !stay_deposits(op, answer_ok(op, a)?)?.is_empty(),
        "inhospital_fee_summary" => !stay_class_totals(answer_ok(op, a)?)?.is_empty(),
        "ward_inpatients" => !ward_inpatients(answer_ok(op, a)?)?.is_empty(),
        "inhospital_close" | "inhospital_cancel_settle" => answer_ok(op, a).map(|_| true)?,
        "inhospital_presettle" => discharge_quote(answer_ok(op, a)?).map(|_| true)?,
        "inhospital_settle" => matches!(discharge_settled(a)?, DischargeSettleOutcome::Settled { .. }),
        "discharge_summary" => discharge_summary(a)?.is_some(),
        "admission_notices" => !admission_notices(answer_ok(op, a)?)?.is_empty(),
        "admission_register" => admission_registered(answer_ok(op, a)?, None).map(|_| true)?,
        "admission_cancel" => answer_ok(op, a).map(|_| true)?,
        "record_encounters" => !record_encounters(answer_ok(op, a)?)?.is_empty(),
        _ => return Err(malformed(op, "unknown operation")),
    })
}

pub(crate) fn departments(v: Value) -> Result<Vec<Department>, DomainError> {
    let v: Vec<DeptDto> = parse("department_list", v)?;
    Ok(v.into_iter().map(|d| Department { dept_id: d.dept_id, name: d.dept_name, category: d.category, location: d.location, intro: d.intro }).collect())
}

pub(crate) fn doctors(v: Value) -> Result<Vec<Doctor>, DomainError> {
    let v: Vec<DoctorDto> = parse("doctor_list", v)?;
    v.into_iter()
        .map(|d| {
            Ok(Doctor {
                reg_fee: amount("doctor_list", "regFee", d.reg_fee)?,
                treat_fee: amount("doctor_list", "treatFee", d.treat_fee)?,
                doctor_code: d.doctor_code,
                dept_id: d.dept_id,
                name: d.doctor_name,
                title: d.title,
                specialty: d.specialty,
            })
        })
        .collect()
}

pub(crate) fn schedules(v: Value) -> Result<Vec<Schedule>, DomainError> {
    let op = "schedule_list";
    let v: Vec<ScheduleDto> = parse(op, v)?;
    v.into_iter()
        .map(|s| {
            let period = match s.time_flag {
                1 => SessionPeriod::Morning,
                2 => SessionPeriod::Afternoon,
                3 => SessionPeriod::Evening,
                f => return Err(malformed(op, format!("timeFlag {f}"))),
            };
            let slots = s
                .slots
                .into_iter()
                .map(|x| {
                    if x.remain > x.total {
                        return Err(malformed(op, "remain > total"));
                    }
                    Ok(Slot { slot_id: x.slot_id, start: hm(op, &x.start_time)?, end: hm(op, &x.end_time)?, capacity: x.total, available: x.remain })
                })
                .collect::<Result<_, _>>()?;
            Ok(Schedule {
                schedule_id: s.schedule_id,
                doctor_code: s.doctor_code,
                dept_id: s.dept_id,
                date: s.schedule_date,
                period,
                suspended: s.stop_flag == "1",
                slots,
            })
        })
        .collect()
}

pub(crate) fn patient(op: &str, v: Value) -> Result<HisPatient, DomainError> {
    patient_record(parse(op, v)?)
}

/// A patient lookup: "2001" means no such patient.
pub(crate) fn maybe_patient(op: &str, a: Answer) -> Result<Option<HisPatient>, DomainError> {
    match a {
        Ok(v) => Ok(Some(patient(op, v)?)),
        Err((code, _)) if code == "2001" => Ok(None),
        Err((code, msg)) => Err(refusal(op, &code, &msg)),
    }
}

pub(crate) fn slot_lock(a: Answer) -> Result<SlotLock, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        pre_id: String,
        see_no: u32,
        reg_fee: i64,
        expire_time: DateTime<Utc>,
    }
    let r: R = match a {
        Ok(v) => parse("lock_reg", v)?,
        // The refusals a patient can act on get their own codes.
        Err((code, msg)) => {
            let c = match code.as_str() {
                "2003" => ErrorCode::SlotTaken,
                "2004" => ErrorCode::SessionSuspended,
                "2005" => ErrorCode::BookingDuplicate,
                "2002" => ErrorCode::SlotNotBookable,
                _ => return Err(refusal("lock_reg", &code, &msg)),
            };
            return Err(DomainError::new(c, format!("his lock_reg refused {code}: {msg}")));
        }
    };
    Ok(SlotLock { pre_id: r.pre_id, see_no: r.see_no, reg_fee: amount("lock_reg", "regFee", r.reg_fee)?, expires_at: r.expire_time })
}

pub(crate) fn registration(v: Value) -> Result<Registration, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        reg_id: String,
        see_no: u32,
    }
    let r: R = parse("reg_confirm", v)?;
    Ok(Registration { reg_id: r.reg_id, see_no: r.see_no })
}

pub(crate) fn cancellation(a: Answer) -> Result<(), DomainError> {
    match a {
        Ok(_) => Ok(()),
        Err((code, msg)) if code == "2009" => Err(DomainError::new(ErrorCode::BookingNotCancellable, format!("his reg_cancel refused {code}: {msg}"))),
        Err((code, msg)) => Err(refusal("reg_cancel", &code, &msg)),
    }
}

pub(crate) fn visit_fees(v: Value) -> Result<Vec<VisitFees>, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Line {
        #[serde(flatten)]
        item: ItemDto,
        paid: bool,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        visit_id: String,
        visit_date: NaiveDate,
        dept_name: String,
        doctor_name: String,
        items: Vec<Line>,
        total_fee: i64,
        paid_fee: i64,
    }
    let v: Vec<R> = parse("visit_fee_list", v)?;
    v.into_iter()
        .map(|r| {
            let items: Vec<(FeeItem, bool)> =
                r.items.into_iter().map(|l| Ok((fee_item("visit_fee_list", l.item)?, l.paid))).collect::<Result<_, DomainError>>()?;
            let total = checked_sum(items.iter().map(|(i, _)| i.amount.0)).ok_or_else(|| malformed("visit_fee_list", "amounts overflow"))?;
            let paid = checked_sum(items.iter().filter(|(_, p)| *p).map(|(i, _)| i.amount.0)).ok_or_else(|| malformed("visit_fee_list", "amounts overflow"))?;
            if total != r.total_fee || paid != r.paid_fee {
                return Err(malformed("visit_fee_list", "lines do not sum to the totals"));
            }
            Ok(VisitFees {
                visit_id: r.visit_id,
                visit_date: r.visit_date,
                dept_name: r.dept_name,
                doctor_name: r.doctor_name,
                items,
                total: Fen(total),
                paid: Fen(paid),
            })
        })
        .collect()
}

pub(crate) fn check_in(a: Answer) -> Result<QueueStatus, DomainError> {
    match a {
        Ok(v) => queue(parse("reg_checkin", v)?),
        Err((code, msg)) if code == "2012" => Err(DomainError::new(ErrorCode::CheckInNotOpen, format!("his reg_checkin refused {code}: {msg}"))),
        Err((code, msg)) => Err(refusal("reg_checkin", &code, &msg)),
    }
}

pub(crate) fn queue_status(a: Answer) -> Result<Option<QueueStatus>, DomainError> {
    match a {
        Ok(v) => Ok(Some(queue(parse("queue_status", v)?)?)),
        Err((code, _)) if code == "2013" => Ok(None),
        Err((code, msg)) => Err(refusal("queue_status", &code, &msg)),
    }
}

pub(crate) fn unpaid_bills(v: Value) -> Result<Vec<UnpaidBill>, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        recipe_id: String,
        visit_id: String,
        dept_id: String,
        dept_name: String,
        doctor_name: String,
        issued_at: DateTime<Utc>,
        items: Vec<ItemDto>,
        total_fee: i64,
    }
    let v: Vec<R> = parse("unpaid_fees", v)?;
    v.into_iter()
        .map(|b| {
            let items: Vec<FeeItem> = b.items.into_iter().map(|i| fee_item("unpaid_fees", i)).collect::<Result<_, _>>()?;
            if checked_sum(items.iter().map(|i| i.amount.0)) != Some(b.total_fee) {
                return Err(malformed("unpaid_fees", "lines do not sum to totalFee"));
            }
            Ok(UnpaidBill {
                recipe_id: b.recipe_id,
                visit_id: b.visit_id,
                dept_id: b.dept_id,
                dept_name: b.dept_name,
                doctor_name: b.doctor_name,
                issued_at: b.issued_at,
                items,
                total: amount("unpaid_fees", "totalFee", b.total_fee)?,
            })
        })
        .collect()
}

pub(crate) fn pre_settlement(v: Value) -> Result<PreSettlement, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        pre_settle_id: String,
        total_fee: i64,
        fund_pay: i64,
        acct_pay: i64,
        own_pay: i64,
    }
    let r: R = parse("settlement_pre", v)?;
    if r.fund_pay < 0 || r.acct_pay < 0 || r.own_pay < 0 || checked_sum([r.fund_pay, r.acct_pay, r.own_pay]) != Some(r.total_fee) {
        return Err(malformed("settlement_pre", "parts do not sum to the total"));
    }
    Ok(PreSettlement {
        pre_settle_id: r.pre_settle_id,
        total: amount("settlement_pre", "totalFee", r.total_fee)?,
        fund_pay: amount("settlement_pre", "fundPay", r.fund_pay)?,
        personal_account_pay: amount("settlement_pre", "acctPay", r.acct_pay)?,
        self_pay: amount("settlement_pre", "ownPay", r.own_pay)?,
    })
}

pub(crate) fn settlement(v: Value) -> Result<Settlement, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        settle_id: String,
        invoice_no: String,
        #[serde(default)]
        guide: Vec<String>,
    }
    let r: R = parse("charge_commit", v)?;
    Ok(Settlement { settle_id: r.settle_id, invoice_no: r.invoice_no, guidance: r.guide })
}

pub(crate) fn lab_orders(v: Value) -> Result<Vec<LabSnapshot>, DomainError> {
    let v: Vec<LabOrderDto> = parse("lab_order_list", v)?;
    v.into_iter().map(|o| lab_snapshot("lab_order_list", o)).collect()
}

pub(crate) fn lab_order(a: Answer) -> Result<Option<LabSnapshot>, DomainError> {
    match a {
        Ok(v) => Ok(Some(lab_snapshot("lab_order_query", parse("lab_order_query", v)?)?)),
        Err((code, _)) if code == LAB_ORDER_UNKNOWN => Ok(None),
        Err((code, msg)) => Err(refusal("lab_order_query", &code, &msg)),
    }
}

pub(crate) fn specimen_rejected(order_no: &str, a: Answer) -> Result<LabSnapshot, DomainError> {
    match a {
        Ok(v) => lab_snapshot("specimen_reject", parse("specimen_reject", v)?),
        Err((code, _)) if code == LAB_ORDER_UNKNOWN => Err(DomainError::new(ErrorCode::LabOrderUnknown, format!("his specimen_reject: {order_no} unknown"))),
        Err((code, msg)) if code == LAB_NOT_REJECTABLE => {
            Err(DomainError::new(ErrorCode::SpecimenNotRejectable, format!("his specimen_reject refused: {msg}")))
        }
        Err((code, msg)) => Err(refusal("specimen_reject", &code, &msg)),
    }
}

/// A stay as `inhospital_info` and `ward_inpatients` carry it. Doctor, nurse, diagnosis,
/// the discharge order and the settlement time are [I] fields a HIS may leave out.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StayDto {
    inpatient_no: String,
    ward: String,
    bed: String,
    admit_time: DateTime<Utc>,
    prepay_balance: i64,
    total_cost: i64,
    account_closed: bool,
    #[serde(default)]
    doctor: String,
    #[serde(default)]
    nurse: String,
    #[serde(default)]
    diagnosis: String,
    #[serde(default)]
    discharge_ordered: bool,
    #[serde(default)]
    settle_time: Option<DateTime<Utc>>,
}

fn stay(op: &str, r: StayDto) -> Result<InpatientStay, DomainError> {
    Ok(InpatientStay {
        inpatient_no: r.inpatient_no,
        ward: r.ward,
        bed: r.bed,
        admitted_at: r.admit_time,
        deposit_balance: amount(op, "prepayBalance", r.prepay_balance)?,
        charges_to_date: amount(op, "totalCost", r.total_cost)?,
        account_closed: r.account_closed,
        doctor: r.doctor,
        nurse: r.nurse,
        diagnosis: r.diagnosis,
        discharge_ordered: r.discharge_ordered,
        settled_at: r.settle_time,
    })
}

pub(crate) fn inpatient_stay(a: Answer) -> Result<Option<InpatientStay>, DomainError> {
    match a {
        Ok(v) => Ok(Some(stay("inhospital_info", parse("inhospital_info", v)?)?)),
        Err((code, _)) if code == "2010" => Ok(None),
        Err((code, msg)) => Err(refusal("inhospital_info", &code, &msg)),
    }
}

pub(crate) fn ward_inpatients(v: Value) -> Result<Vec<WardInpatient>, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        patient_id: String,
        name: String,
        #[serde(flatten)]
        stay: StayDto,
    }
    let rows: Vec<R> = parse("ward_inpatients", v)?;
    rows.into_iter().map(|r| Ok(WardInpatient { his_patient_id: r.patient_id, name: r.name, stay: stay("ward_inpatients", r.stay)? })).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DepositDto {
    deposit_no: String,
    pay_time: DateTime<Utc>,
    amount: i64,
    #[serde(default)]
    refunded: i64,
    /// BANK (paid online), CASH or POS (at the window) [I].
    pay_way: String,
    #[serde(default)]
    pay_trade_no: Option<String>,
    #[serde(default)]
    operator: String,
}

/// The deposits of a stay; what was given back of one never exceeds it.
pub(crate) fn stay_deposits(op: &str, v: Value) -> Result<Vec<domain::inpatient::DepositPayment>, DomainError> {
    use domain::inpatient::{DepositChannel, DepositPayment};
    let rows: Vec<DepositDto> = parse(op, v)?;
    rows.into_iter()
        .map(|d| {
            let channel = match d.pay_way.as_str() {
                "BANK" => DepositChannel::Bank,
                "CASH" => DepositChannel::WindowCash,
                "POS" => DepositChannel::WindowPos,
                _ => return Err(malformed(op, "unknown payWay")),
            };
            let (paid, refunded) = (amount(op, "amount", d.amount)?, amount(op, "refunded", d.refunded)?);
            if refunded > paid || paid.0 == 0 {
                return Err(malformed(op, "deposit refunded beyond its amount, or empty"));
            }
            Ok(DepositPayment {
                deposit_no: d.deposit_no,
                paid_at: d.pay_time,
                amount: paid,
                refunded,
                channel,
                order_no: d.pay_trade_no.filter(|t| !t.is_empty() && channel == DepositChannel::Bank),
                payer: d.operator,
            })
        })
        .collect()
}

/// Yuan as the national interface writes it (a number or a string, two decimals at most).
fn national_yuan(op: &str, field: &str, v: Option<&Value>) -> Result<Fen, DomainError> {
    let text = match v {
        None | Some(Value::Null) => return Ok(Fen::ZERO),
        Some(Value::String(s)) if s.is_empty() => return Ok(Fen::ZERO),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(malformed(op, format!("{field} is not an amount"))),
    };
    let fen = Fen::parse_yuan(&text).ok_or_else(|| malformed(op, format!("{field} is not an amount")))?;
    amount(op, field, fen.0)
}

/// The NHSA 2303/2304 `setlinfo` the HIS passes through: identifiers, the funds by name
/// (their sum must be the HIS's fund part) and the self-pay parts a patient is shown.
fn insurance_info(op: &str, v: &Value, fund_total: Fen) -> Result<domain::inpatient::InsuranceSettlementInfo, DomainError> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let y = |k: &str| national_yuan(op, k, v.get(k));
    const FUNDS: [(&str, &str); 6] = [
        ("hifp_pay", "基本医疗保险统筹基金"),
        ("hifmi_pay", "大病补充医疗保险"),
        ("hifob_pay", "大额医疗费用补助"),
        ("cvlserv_pay", "公务员医疗补助"),
        ("maf_pay", "医疗救助基金"),
        ("oth_pay", "其他基金"),
    ];
    let mut funds = Vec::new();
    for (k, label) in FUNDS {
        let a = y(k)?;
        if a.0 > 0 {
            funds.push((label.to_owned(), a));
        }
    }
    if checked_sum(funds.iter().map(|f| f.1.0)) != Some(fund_total.0) || y("fund_pay_sumamt")? != fund_total {
        return Err(malformed(op, "setlinfo funds do not add up to fundPay"));
    }
    let mdtrt_id = text("mdtrt_id");
    if mdtrt_id.is_empty() {
        return Err(malformed(op, "setlinfo without mdtrt_id"));
    }
    Ok(domain::inpatient::InsuranceSettlementInfo {
        mdtrt_id,
        setl_id: Some(text("setl_id")).filter(|x| !x.is_empty()),
        psn_no: text("psn_no"),
        insutype: text("insutype"),
        funds,
        deductible: y("act_pay_dedc")?,
        full_self_pay: y("fulamt_ownpay_amt")?,
        pre_self_pay: y("preselfpay_amt")?,
        over_limit: y("overlmt_selfpay")?,
    })
}

/// 住院预结算: the parts add up to the total, the deposits are sound, and an insured
/// stay's funds add up to the fund part.
pub(crate) fn discharge_quote(v: Value) -> Result<domain::inpatient::DischargeQuote, DomainError> {
    const OP: &str = "inhospital_presettle";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        pre_settle_id: String,
        total_fee: i64,
        fund_pay: i64,
        acct_pay: i64,
        own_pay: i64,
        deposits: Value,
        #[serde(default)]
        setlinfo: Option<Value>,
    }
    let r: R = parse(OP, v)?;
    let (total, fund, acct, own) =
        (amount(OP, "totalFee", r.total_fee)?, amount(OP, "fundPay", r.fund_pay)?, amount(OP, "acctPay", r.acct_pay)?, amount(OP, "ownPay", r.own_pay)?);
    if checked_sum([fund.0, acct.0, own.0]) != Some(total.0) {
        return Err(malformed(OP, "parts do not sum to the total"));
    }
    if r.pre_settle_id.is_empty() {
        return Err(malformed(OP, "no preSettleId"));
    }
    let insurance = match r.setlinfo {
        Some(v) if !v.is_null() => Some(insurance_info(OP, &v, fund)?),
        _ if fund.0 > 0 => return Err(malformed(OP, "a fund part without setlinfo")),
        _ => None,
    };
    Ok(domain::inpatient::DischargeQuote {
        pre_settle_id: r.pre_settle_id,
        total,
        fund,
        personal_account: acct,
        self_pay: own,
        deposits: stay_deposits(OP, r.deposits)?,
        insurance,
    })
}

/// The HIS's code for "this stay was settled another way" (at the window) [I].
pub const STAY_SETTLED_ELSEWHERE: &str = "2013";

pub(crate) fn discharge_settled(a: Answer) -> Result<DischargeSettleOutcome, DomainError> {
    const OP: &str = "inhospital_settle";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        settle_id: String,
        invoice_no: String,
        settle_time: DateTime<Utc>,
        #[serde(default)]
        fund_pay: i64,
        #[serde(default)]
        setlinfo: Option<Value>,
    }
    match a {
        Ok(v) => {
            let r: R = parse(OP, v)?;
            if r.settle_id.is_empty() {
                return Err(malformed(OP, "no settleId"));
            }
            let fund = amount(OP, "fundPay", r.fund_pay)?;
            let insurance = match r.setlinfo {
                Some(v) if !v.is_null() => Some(insurance_info(OP, &v, fund)?),
                _ => None,
            };
            Ok(DischargeSettleOutcome::Settled { settle_id: r.settle_id, invoice_no: r.invoice_no, settled_at: r.settle_time, insurance })
        }
        Err((code, _)) if code == STAY_SETTLED_ELSEWHERE => Ok(DischargeSettleOutcome::SettledElsewhere { settled_at: None }),
        Err((code, msg)) => Err(refusal(OP, &code, &msg)),
    }
}

pub(crate) fn discharge_summary(a: Answer) -> Result<Option<DischargeSummary>, DomainError> {
    const OP: &str = "discharge_summary";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Med {
        name: String,
        #[serde(default)]
        spec: String,
        #[serde(default)]
        qty: String,
        #[serde(default)]
        usage: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct FollowUp {
        date: NaiveDate,
        place: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        admit_date: NaiveDate,
        discharge_date: NaiveDate,
        admit_diagnosis: String,
        discharge_diagnosis: String,
        #[serde(default)]
        course: String,
        #[serde(default)]
        condition: String,
        #[serde(default)]
        advice: String,
        #[serde(default)]
        medicines: Vec<Med>,
        #[serde(default)]
        follow_up: Option<FollowUp>,
        #[serde(default)]
        doctor: String,
        #[serde(default)]
        file_id: Option<String>,
    }
    match a {
        Ok(v) => {
            let r: R = parse(OP, v)?;
            if r.discharge_date < r.admit_date {
                return Err(malformed(OP, "discharged before admitted"));
            }
            Ok(Some(DischargeSummary {
                admitted_on: r.admit_date,
                discharged_on: r.discharge_date,
                admission_diagnosis: r.admit_diagnosis,
                discharge_diagnosis: r.discharge_diagnosis,
                course: r.course,
                condition: r.condition,
                advice: r.advice,
                medicines: r.medicines.into_iter().map(|m| TakeHomeMedicine { name: m.name, spec: m.spec, qty: m.qty, usage: m.usage }).collect(),
                follow_up: r.follow_up.map(|f| (f.date, f.place)),
                doctor: r.doctor,
                pdf_file_id: r.file_id.filter(|f| !f.is_empty()),
            }))
        }
        // 2015: not written yet [I].
        Err((code, _)) if code == "2015" => Ok(None),
        Err((code, msg)) => Err(refusal(OP, &code, &msg)),
    }
}

pub(crate) fn deposit_balance(v: Value) -> Result<Fen, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        prepay_balance: i64,
    }
    let r: R = parse("prepay", v)?;
    amount("prepay", "prepayBalance", r.prepay_balance)
}

pub(crate) fn card_account(a: Answer) -> Result<Option<CardAccount>, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        card_no: String,
        balance: i64,
        /// VIRTUAL or PHYSICAL [I]; virtual when absent.
        #[serde(default)]
        card_type: String,
    }
    match a {
        Ok(data) => {
            let r: R = parse("card_info", data)?;
            Ok(Some(CardAccount { card_no: r.card_no, balance: amount("card_info", "balance", r.balance)?, physical: r.card_type == "PHYSICAL" }))
        }
        Err((code, _)) if code == "2020" => Ok(None),
        Err((code, msg)) => Err(refusal("card_info", &code, &msg)),
    }
}

/// The HIS's code for "that card is not this patient's" [I].
pub const CARD_NOT_THEIRS: &str = "2021";

pub(crate) fn card_bound(a: Answer) -> Result<CardAccount, DomainError> {
    match a {
        Err((code, msg)) if code == CARD_NOT_THEIRS => Err(DomainError::new(ErrorCode::CardNotTheirs, format!("his card_bind refused: {msg}"))),
        other => card_account(other)?.ok_or_else(|| malformed("card_bind", "no card in the answer")),
    }
}

/// A card's transactions: kinds RECHARGE/DEPOSIT/SPEND/REFUND [I]; amounts signed within
/// the bound, money in positive except a refund out of the card.
pub(crate) fn card_trades(v: Value) -> Result<Vec<CardTrade>, DomainError> {
    const OP: &str = "card_trades";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        trade_no: String,
        trade_type: String,
        amount: i64,
        trade_time: DateTime<Utc>,
        #[serde(default)]
        remark: String,
    }
    let rows: Vec<R> = parse(OP, v)?;
    let mut out: Vec<CardTrade> = rows
        .into_iter()
        .map(|r| {
            let kind = match r.trade_type.as_str() {
                "RECHARGE" => CardTradeKind::Recharge,
                "DEPOSIT" => CardTradeKind::Deposit,
                "SPEND" => CardTradeKind::Spend,
                "REFUND" => CardTradeKind::Refund,
                _ => return Err(malformed(OP, "unknown tradeType")),
            };
            Ok(CardTrade { trade_no: r.trade_no, kind, amount: signed_amount(OP, "amount", r.amount)?, at: r.trade_time, note: r.remark })
        })
        .collect::<Result<_, _>>()?;
    out.sort_by_key(|t| std::cmp::Reverse(t.at));
    out.truncate(100);
    Ok(out)
}

pub(crate) fn card_balance(v: Value) -> Result<Fen, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        balance: i64,
    }
    let r: R = parse("card_recharge", v)?;
    amount("card_recharge", "balance", r.balance)
}

/// A day-list line: a fee line with its specification, catalogue class and self-pay rate.
/// The field names are our choice [I] (vendors differ): `spec`, `insClass` (甲/乙/丙, A/B/C
/// or 1/2/3) and `selfPayRate` (a fraction, 0–1). Without a class, an insurable line reads
/// as 乙类 and any other as 丙类; without a rate, 丙类 is all self-pay and the others none.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DayItemDto {
    #[serde(flatten)]
    base: ItemDto,
    #[serde(default)]
    spec: String,
    #[serde(default)]
    ins_class: Option<String>,
    #[serde(default)]
    self_pay_rate: Option<f64>,
}

/// An insurance class as HISes spell it (甲/乙/丙, A/B/C, 1/2/3); `None` when absent.
fn ins_class(op: &str, v: Option<&str>) -> Result<Option<domain::inpatient::InsuranceClass>, DomainError> {
    use domain::inpatient::InsuranceClass;
    Ok(match v.map(str::trim) {
        Some("甲" | "甲类" | "A" | "1") => Some(InsuranceClass::A),
        Some("乙" | "乙类" | "B" | "2") => Some(InsuranceClass::B),
        Some("丙" | "丙类" | "C" | "3") => Some(InsuranceClass::C),
        None | Some("") => None,
        Some(_) => return Err(malformed(op, "unknown insClass")),
    })
}

/// The stay's totals by class: each class once, self-pay never beyond the amount.
pub(crate) fn stay_class_totals(v: Value) -> Result<Vec<(domain::inpatient::InsuranceClass, Fen, Fen)>, DomainError> {
    const OP: &str = "inhospital_fee_summary";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Row {
        ins_class: String,
        amount: i64,
        self_pay: i64,
    }
    #[derive(Deserialize)]
    struct R {
        classes: Vec<Row>,
    }
    let r: R = parse(OP, v)?;
    let mut out = Vec::new();
    for row in r.classes {
        let class = ins_class(OP, Some(&row.ins_class))?.ok_or_else(|| malformed(OP, "class missing"))?;
        let (amount, self_pay) = (amount(OP, "amount", row.amount)?, amount(OP, "selfPay", row.self_pay)?);
        if self_pay > amount || out.iter().any(|(c, _, _)| *c == class) {
            return Err(malformed(OP, "self-pay beyond the amount, or a class twice"));
        }
        out.push((class, amount, self_pay));
    }
    out.sort_by_key(|x| x.0);
    Ok(out)
}

fn day_line(i: DayItemDto) -> Result<domain::inpatient::DailyFeeLine, DomainError> {
    use domain::inpatient::InsuranceClass;
    let class = match ins_class("daily_list", i.ins_class.as_deref())? {
        Some(c) => c,
        None => {
            if i.base.insurable {
                InsuranceClass::B
            } else {
                InsuranceClass::C
            }
        }
    };
    let permille = match i.self_pay_rate {
        Some(r) if (0.0..=1.0).contains(&r) => (r * 1000.0).round() as u16,
        Some(_) => return Err(malformed("daily_list", "selfPayRate outside 0-1")),
        None if class == InsuranceClass::C => 1000,
        None => 0,
    };
    Ok(domain::inpatient::DailyFeeLine { item: fee_item("daily_list", i.base)?, spec: i.spec, class, self_pay_permille: permille })
}

pub(crate) fn daily_fees(v: Value) -> Result<DailyFeeList, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        date: NaiveDate,
        items: Vec<DayItemDto>,
        total_fee: i64,
    }
    let r: R = parse("daily_list", v)?;
    let items: Vec<_> = r.items.into_iter().map(day_line).collect::<Result<_, _>>()?;
    // Lines that do not add up to the HIS's total are kept as the HIS says them: the page
    // shows both and staff are asked to check (`DailyFeeList::adds_up`); never "corrected".
    if checked_sum(items.iter().map(|i| i.item.amount.0)).is_none() {
        return Err(malformed("daily_list", "lines overflow"));
    }
    Ok(DailyFeeList { date: r.date, items, total: amount("daily_list", "totalFee", r.total_fee)? })
}

pub(crate) fn trade_records(v: Value) -> Result<Vec<HisTradeRecord>, DomainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        trade_no: String,
        trade_type: String,
        amount: i64,
        trade_time: DateTime<Utc>,
    }
    let v: Vec<R> = parse("trade_check", v)?;
    v.into_iter()
        .map(|r| Ok(HisTradeRecord { amount: signed_amount("trade_check", "amount", r.amount)?, trade_no: r.trade_no, kind: r.trade_type, at: r.trade_time }))
        .collect()
}

/// A sum of amounts the HIS sent; `None` when it overflows (a hostile answer must
/// not panic a debug build or wrap in a release one).
fn checked_sum(amounts: impl IntoIterator<Item = i64>) -> Option<i64> {
    amounts.into_iter().try_fold(0i64, i64::checked_add)
}

/// 病案 encounters (REC-1) [I]: a stay without its 病案号, or one that ends before it starts,
/// is refused.
pub(crate) fn record_encounters(v: Value) -> Result<Vec<domain::records::RecordEncounter>, DomainError> {
    const OP: &str = "record_encounters";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct E {
        encounter_id: String,
        kind: String,
        mr_no: String,
        dept_name: String,
        start_date: NaiveDate,
        #[serde(default)]
        end_date: Option<NaiveDate>,
        #[serde(default)]
        diagnosis: String,
    }
    let list: Vec<E> = parse(OP, v)?;
    list.into_iter()
        .map(|e| {
            if e.encounter_id.is_empty() || e.mr_no.is_empty() {
                return Err(malformed(OP, "no encounterId or mrNo"));
            }
            let inpatient = match e.kind.as_str() {
                "INPATIENT" => true,
                "OUTPATIENT" => false,
                _ => return Err(malformed(OP, "unknown kind")),
            };
            if e.end_date.is_some_and(|end| end < e.start_date) {
                return Err(malformed(OP, "ends before it starts"));
            }
            Ok(domain::records::RecordEncounter {
                encounter_id: e.encounter_id,
                inpatient,
                mr_no: e.mr_no,
                dept_name: e.dept_name,
                started: e.start_date,
                ended: e.end_date,
                diagnosis: e.diagnosis,
            })
        })
        .collect()
}

/// 入院通知单 (OTH-5) [I]: a notice whose window ends before it starts, a registered one
/// without its registration, or a bed type without a code is refused.
pub(crate) fn admission_notices(v: Value) -> Result<Vec<domain::inpatient::admission_booking::AdmissionNotice>, DomainError> {
    use domain::inpatient::admission_booking::{AdmissionNotice, BedType, NoticeStatus};
    const OP: &str = "admission_notices";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bed {
        code: String,
        name: String,
        daily_fee: i64,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Reg {
        register_no: String,
        admit_date: NaiveDate,
        bed_type: String,
        #[serde(default)]
        booking_no: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct N {
        notice_no: String,
        patient_id: String,
        dept_name: String,
        ward: String,
        #[serde(default)]
        doctor: String,
        #[serde(default)]
        diagnosis: String,
        issue_time: DateTime<Utc>,
        earliest_date: NaiveDate,
        latest_date: NaiveDate,
        bed_types: Vec<Bed>,
        #[serde(default)]
        deposit_advised: i64,
        #[serde(default)]
        preparation: String,
        status: String,
        #[serde(default)]
        registration: Option<Reg>,
    }
    let list: Vec<N> = parse(OP, v)?;
    list.into_iter()
        .map(|n| {
            if n.notice_no.is_empty() {
                return Err(malformed(OP, "no noticeNo"));
            }
            if n.latest_date < n.earliest_date {
                return Err(malformed(OP, "window ends before it starts"));
            }
            let bed_types = n
                .bed_types
                .into_iter()
                .map(|b| {
                    if b.code.is_empty() {
                        return Err(malformed(OP, "bed type without code"));
                    }
                    Ok(BedType { code: b.code, name: b.name, daily_fee: amount(OP, "dailyFee", b.daily_fee)? })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let status = match (n.status.as_str(), n.registration) {
                ("OPEN", _) => NoticeStatus::Open,
                ("REGISTERED", Some(r)) if !r.register_no.is_empty() => NoticeStatus::Registered {
                    register_no: r.register_no,
                    date: r.admit_date,
                    bed_type: r.bed_type,
                    booking_no: r.booking_no.filter(|b| !b.is_empty()),
                },
                ("REGISTERED", _) => return Err(malformed(OP, "registered without its registration")),
                ("ADMITTED", _) => NoticeStatus::Admitted,
                ("CANCELLED", _) => NoticeStatus::Cancelled,
                (other, _) => return Err(malformed(OP, format!("status {other}"))),
            };
            Ok(AdmissionNotice {
                notice_no: n.notice_no,
                his_patient_id: n.patient_id,
                dept_name: n.dept_name,
                ward: n.ward,
                doctor: n.doctor,
                diagnosis: n.diagnosis,
                issued_at: n.issue_time,
                earliest: n.earliest_date,
                latest: n.latest_date,
                bed_types,
                deposit_advised: amount(OP, "depositAdvised", n.deposit_advised)?,
                preparation: n.preparation,
                status,
            })
        })
        .collect()
}

/// 住院登记's answer: the registration number, for the day and bed type asked (an answer
/// for another day or bed is refused rather than shown to the patient as theirs).
pub(crate) fn admission_registered(v: Value, asked: Option<&AdmissionRegistration>) -> Result<String, DomainError> {
    const OP: &str = "admission_register";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        register_no: String,
        admit_date: NaiveDate,
        bed_type: String,
    }
    let r: R = parse(OP, v)?;
    if r.register_no.is_empty() {
        return Err(malformed(OP, "no registerNo"));
    }
    if let Some(q) = asked
        && (q.date != r.admit_date || q.bed_type != r.bed_type)
    {
        return Err(malformed(OP, "registered another day or bed type than asked"));
    }
    Ok(r.register_no)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(data: Value) -> Vec<u8> {
        json!({"resultCode": "0", "resultMsg": "", "data": data}).to_string().into_bytes()
    }

    fn doctor(reg_fee: i64) -> Value {
        json!([{"doctorCode": "D1", "deptId": "0101", "doctorName": "张医生", "title": "主任医师", "regFee": reg_fee, "treatFee": 1_000}])
    }

    #[test]
    fn fees_are_refused_when_negative_or_beyond_the_bound() {
        assert!(decode_answer("doctor_list", &body(doctor(1_500))).unwrap());
        assert!(decode_answer("doctor_list", &body(doctor(MAX_AMOUNT.0))).unwrap());
        for bad in [-1, MAX_AMOUNT.0 + 1, i64::MAX, i64::MIN] {
            let e = decode_answer("doctor_list", &body(doctor(bad))).unwrap_err();
            assert_eq!(e.code, ErrorCode::HisUnavailable, "{bad}: a broken answer, not a price");
        }
    }

    #[test]
    fn balances_and_bill_lines_are_checked_too() {
        let stay = |balance: i64| {
            body(
                json!({"inpatientNo": "ZY1", "ward": "W", "bed": "1", "admitTime": "2026-11-20T02:00:00Z", "prepayBalance": balance, "totalCost": 100, "accountClosed": false}),
            )
        };
        assert!(decode_answer("inhospital_info", &stay(5_000)).unwrap());
        assert!(decode_answer("inhospital_info", &stay(-5_000)).is_err(), "a negative deposit balance is not a deposit");
        let line = |amount: i64| json!({"itemCode": "X", "itemName": "药", "qty": 1, "price": amount, "amount": amount, "insurable": true});
        let day = |amount: i64, total: i64| body(json!({"date": "2026-11-25", "items": [line(amount), line(amount)], "totalFee": total}));
        assert!(decode_answer("daily_list", &day(100, 200)).unwrap());
        let off = daily_fees(json!({"date": "2026-11-25", "items": [line(100), line(100)], "totalFee": 300})).unwrap();
        assert_eq!((off.total, off.lines_total(), off.adds_up()), (Fen(300), Fen(200), false), "kept as the HIS says, flagged");
        // Classes and rates as the HIS spells them, and what is assumed without them.
        let with = |extra: Value| {
            let mut item = json!({"itemCode": "X", "itemName": "药", "qty": 1, "price": 100, "amount": 100, "insurable": true});
            item.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            daily_fees(json!({"date": "2026-12-01", "items": [item], "totalFee": 100}))
        };
        let line = |extra: Value| with(extra).unwrap().items.remove(0);
        use domain::inpatient::InsuranceClass;
        assert_eq!((line(json!({"insClass": "甲"})).class, line(json!({"insClass": "甲"})).self_pay_permille), (InsuranceClass::A, 0));
        let b = line(json!({"insClass": "B", "selfPayRate": 0.1, "spec": "0.25g×24粒"}));
        assert_eq!((b.class, b.self_pay_permille, b.spec.as_str()), (InsuranceClass::B, 100, "0.25g×24粒"));
        assert_eq!((line(json!({"insClass": "3"})).class, line(json!({"insClass": "3"})).self_pay_permille), (InsuranceClass::C, 1000));
        assert_eq!(line(json!({})).class, InsuranceClass::B, "an insurable line without a class");
        assert!(with(json!({"insClass": "丁"})).is_err() && with(json!({"selfPayRate": 1.5})).is_err());
        assert!(decode_answer("daily_list", &day(-100, -200)).is_err());
        assert!(decode_answer("daily_list", &day(MAX_AMOUNT.0 / 2, MAX_AMOUNT.0)).unwrap(), "lines at the bound add up");
        assert!(decode_answer("daily_list", &day(MAX_AMOUNT.0, 2 * MAX_AMOUNT.0)).is_err(), "a total beyond the bound is refused");
        assert!(decode_answer("daily_list", &day(i64::MAX, -2)).is_err(), "a wrapping sum never passes");
        assert!(decode_answer("daily_list", &day(MAX_AMOUNT.0, MAX_AMOUNT.0)).unwrap(), "lines beyond their total are shown, not refused");
    }

    #[test]
    fn refunds_in_the_trade_list_are_negative_within_the_bound() {
        let trade = |amount: i64| body(json!([{"tradeNo": "T1", "tradeType": "register_refund", "amount": amount, "tradeTime": "2026-11-25T02:00:00Z"}]));
        assert!(decode_answer("trade_check", &trade(-1_500)).unwrap());
        assert!(decode_answer("trade_check", &trade(-MAX_AMOUNT.0 - 1)).is_err());
    }

    #[test]
    fn admission_notices_that_do_not_hold_together_are_refused() {
        let notice = |earliest: &str, latest: &str, status: &str, reg: serde_json::Value| {
            let v = serde_json::json!({"resultCode": "0", "data": [{
                "noticeNo": "RY1", "patientId": "P1", "deptName": "骨科", "ward": "骨科病区", "issueTime": "2026-12-01T08:00:00Z",
                "earliestDate": earliest, "latestDate": latest, "bedTypes": [{"code": "GENERAL", "name": "普通", "dailyFee": 5000}],
                "depositAdvised": 500000, "status": status, "registration": reg}]});
            serde_json::to_vec(&v).unwrap()
        };
        let reg = serde_json::json!({"registerNo": "ZYDJ1", "admitDate": "2026-12-05", "bedType": "GENERAL", "bookingNo": "RY9"});
        assert!(decode_answer("admission_notices", &notice("2026-12-02", "2026-12-14", "OPEN", serde_json::Value::Null)).unwrap());
        assert!(decode_answer("admission_notices", &notice("2026-12-02", "2026-12-14", "REGISTERED", reg.clone())).unwrap());
        assert!(decode_answer("admission_notices", &notice("2026-12-14", "2026-12-02", "OPEN", serde_json::Value::Null)).is_err(), "a window that ends first");
        assert!(
            decode_answer("admission_notices", &notice("2026-12-02", "2026-12-14", "REGISTERED", serde_json::Value::Null)).is_err(),
            "registered without a registration"
        );
        assert!(decode_answer("admission_notices", &notice("2026-12-02", "2026-12-14", "LOST", serde_json::Value::Null)).is_err(), "an unknown status");
        let answered = |date: &str| serde_json::json!({"registerNo": "ZYDJ1", "admitDate": date, "bedType": "GENERAL"});
        let asked = AdmissionRegistration {
            notice_no: "RY1".into(),
            date: "2026-12-05".parse().unwrap(),
            bed_type: "GENERAL".into(),
            booking_no: "RY9".into(),
            operator: "x".into(),
        };
        assert_eq!(admission_registered(answered("2026-12-05"), Some(&asked)).unwrap(), "ZYDJ1");
        assert!(admission_registered(answered("2026-12-06"), Some(&asked)).is_err(), "another day than asked");
    }
}
