//! The HIS connector: the only code that speaks the HIS front-end-processor protocol
//! (see `sim::his` for the wire format). Every call is signed with the channel key;
//! every answer is checked for `resultCode` and its fields parsed into domain types, so
//! a malformed HIS answer becomes an error, never a half-filled value.
#[cfg(feature = "http")]
use crate::http::{HttpExecutor, TransportError};
#[cfg(feature = "http")]
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use domain::booking::{Department, Doctor, Schedule, SessionChange, SessionPeriod, Slot};
use domain::identity::Gender;
use domain::insurance::{Coverage, InsuranceKind, MutualAidGrant, Referral};
use domain::ports::*;
use domain::reports::LabSnapshot;
use domain::{DomainError, ErrorCode, Fen};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct HisClientConfig {
    pub base_url: String,
    pub channel_id: String,
    pub channel_key: String,
    pub timeout: Duration,
}

#[cfg(feature = "http")]
pub struct HisClient {
    cfg: HisClientConfig,
    http: HttpExecutor,
    clock: std::sync::Arc<dyn domain::Clock>,
    /// Admission control: every call takes a permit first (issue 7).
    permits: Option<std::sync::Arc<dyn domain::ports::CallPermits>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    result_code: String,
    result_msg: Option<String>,
    #[serde(default)]
    data: Value,
}

fn malformed(op: &str, why: impl std::fmt::Display) -> DomainError {
    DomainError::new(ErrorCode::HisUnavailable, format!("his {op}: malformed answer: {why}"))
}

/// An answer's `data`, or the HIS's refusal as (resultCode, resultMsg).
type Answer = Result<Value, (String, String)>;

fn open_envelope(op: &str, body: &[u8]) -> Result<Answer, DomainError> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| malformed(op, e))?;
    if env.result_code == "0" { Ok(Ok(env.data)) } else { Ok(Err((env.result_code, env.result_msg.unwrap_or_default()))) }
}

/// An answer whose every refusal is an error.
fn answer_ok(op: &str, a: Answer) -> Result<Value, DomainError> {
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

impl From<ItemDto> for FeeItem {
    fn from(i: ItemDto) -> Self {
        FeeItem { item_code: i.item_code, name: i.item_name, qty: i.qty, unit_price: Fen(i.price), amount: Fen(i.amount), insurable: i.insurable }
    }
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

fn patient(p: PatientDto) -> Result<HisPatient, DomainError> {
    let i = p.insurance;
    let guardian_id_card_no = p.guardian_id_card_no.filter(|g| !g.is_empty());
    Ok(HisPatient {
        guardian_id_card_no,
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
            personal_account_balance: Fen(i.acct_balance),
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

#[cfg(feature = "http")]
impl HisClient {
    pub fn new(cfg: HisClientConfig, clock: std::sync::Arc<dyn domain::Clock>) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http, clock, permits: None }
    }

    /// Bounds the calls in flight: each waits for a permit, or fails with `HIS_BUSY`
    /// without being sent.
    pub fn with_permits(mut self, permits: std::sync::Arc<dyn domain::ports::CallPermits>) -> Self {
        self.permits = Some(permits);
        self
    }

    /// One signed call. `Ok(Err(code, msg))` is a business refusal from the HIS.
    async fn call(&self, op: &str, data: Value) -> Result<Answer, DomainError> {
        let body = json!({
            "channelId": self.cfg.channel_id,
            "timestamp": domain::format::local_time(self.clock.now(), domain::format::TimeStyle::Compact),
            "nonce": hex::encode(crypto::random_bytes::<8>()),
            "data": data,
        })
        .to_string();
        let sign = hex::encode(crypto::mac::hmac_sha256(self.cfg.channel_key.as_bytes(), body.as_bytes()));
        let url = format!("{}/his/api/v1/{op}", self.cfg.base_url.trim_end_matches('/'));
        let req = self.http.client().post(url).header("content-type", "application/json").header("x-his-sign", sign).body(body);
        let _permit = match &self.permits {
            Some(p) => {
                // The catalogue's reads unblock every page view waiting for them.
                let urgent = matches!(op, "department_list" | "doctor_list" | "schedule_list");
                Some(p.acquire(if urgent { domain::ports::CallClass::Urgent } else { domain::ports::CallClass::Normal }).await?)
            }
            None => None,
        };
        let started = std::time::Instant::now();
        let result = self.http.send(req).await;
        metrics::histogram!("carebridge_outbound_seconds", "system" => "his", "op" => op.to_owned()).record(started.elapsed().as_secs_f64());
        let answer = result.map_err(|e| {
            let code = match e {
                TransportError::Unreachable(_) | TransportError::Unknown(_) | TransportError::Status(_) => ErrorCode::HisUnavailable,
                TransportError::Malformed(_) => ErrorCode::HisUnavailable,
            };
            DomainError::new(code, format!("his {op}: {e}"))
        })?;
        open_envelope(op, &answer.0)
    }

    /// A call whose business refusals are all errors.
    async fn call_ok(&self, op: &str, data: Value) -> Result<Value, DomainError> {
        answer_ok(op, self.call(op, data).await?)
    }
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
        _ => ErrorCode::HisRejected,
    };
    DomainError::new(c, format!("his {op} refused {code}: {msg}"))
}

#[cfg(feature = "http")]
#[async_trait]
impl HisPort for HisClient {
    async fn departments(&self) -> Result<Vec<Department>, DomainError> {
        decode::departments(self.call_ok("department_list", json!({})).await?)
    }

    async fn doctors(&self, dept_id: &str) -> Result<Vec<Doctor>, DomainError> {
        decode::doctors(self.call_ok("doctor_list", json!({"deptId": dept_id})).await?)
    }

    async fn schedules(&self, dept_id: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<Schedule>, DomainError> {
        decode::schedules(self.call_ok("schedule_list", json!({"deptId": dept_id, "beginDate": from.to_string(), "endDate": to.to_string()})).await?)
    }

    async fn find_patient(&self, id_card_no: &str) -> Result<Option<HisPatient>, DomainError> {
        decode::maybe_patient("patient_query", self.call("patient_query", json!({"idCardNo": id_card_no})).await?)
    }

    async fn patient(&self, his_patient_id: &str) -> Result<Option<HisPatient>, DomainError> {
        decode::maybe_patient("patient_info", self.call("patient_info", json!({"patientId": his_patient_id})).await?)
    }

    async fn register_patient(&self, p: &NewHisPatient) -> Result<HisPatient, DomainError> {
        let v = self
            .call_ok(
                "patient_create",
                json!({"name": p.name, "idCardNo": p.id_card_no, "mobile": p.mobile, "sex": if p.gender == Gender::Male { "1" } else { "2" }, "birthDate": p.birth_date.to_string(), "guardianIdCardNo": p.guardian_id_card_no}),
            )
            .await?;
        decode::patient("patient_create", v)
    }

    async fn lock_slot(&self, slot_id: &str, his_patient_id: &str, channel_order_no: &str) -> Result<SlotLock, DomainError> {
        decode::slot_lock(self.call("lock_reg", json!({"slotId": slot_id, "patientId": his_patient_id, "channelOrderNo": channel_order_no})).await?)
    }

    async fn unlock_slot(&self, pre_id: &str) -> Result<(), DomainError> {
        self.call_ok("unlock_reg", json!({"preId": pre_id})).await.map(|_| ())
    }

    async fn confirm_registration(&self, pre_id: &str, pay_trade_no: &str, amount: Fen) -> Result<Registration, DomainError> {
        decode::registration(self.call_ok("reg_confirm", json!({"preId": pre_id, "payTradeNo": pay_trade_no, "amount": amount.0})).await?)
    }

    async fn cancel_registration(&self, reg_id: &str, refund_no: &str) -> Result<(), DomainError> {
        decode::cancellation(self.call("reg_cancel", json!({"regId": reg_id, "refundTradeNo": refund_no})).await?)
    }

    async fn change_schedule(&self, schedule_id: &str, change: &SessionChange) -> Result<(), DomainError> {
        let data = match change {
            SessionChange::Suspend { reason } => json!({"scheduleId": schedule_id, "changeType": "stop", "reason": reason}),
            SessionChange::Reschedule { shift_minutes, location, reason } => {
                json!({"scheduleId": schedule_id, "changeType": "change", "shiftMinutes": shift_minutes, "location": location, "reason": reason})
            }
            SessionChange::Substitute { doctor_code, reason } => {
                json!({"scheduleId": schedule_id, "changeType": "replace", "doctorCode": doctor_code, "reason": reason})
            }
        };
        self.call_ok("schedule_change", data).await.map(|_| ())
    }

    async fn visit_fees(&self, his_patient_id: &str) -> Result<Vec<VisitFees>, DomainError> {
        decode::visit_fees(self.call_ok("visit_fee_list", json!({"patientId": his_patient_id})).await?)
    }

    async fn check_in(&self, reg_id: &str) -> Result<QueueStatus, DomainError> {
        decode::check_in(self.call("reg_checkin", json!({"regId": reg_id})).await?)
    }

    async fn queue_status(&self, reg_id: &str) -> Result<Option<QueueStatus>, DomainError> {
        decode::queue_status(self.call("queue_status", json!({"regId": reg_id})).await?)
    }

    async fn unpaid_bills(&self, his_patient_id: &str) -> Result<Vec<UnpaidBill>, DomainError> {
        decode::unpaid_bills(self.call_ok("unpaid_fees", json!({"patientId": his_patient_id})).await?)
    }

    async fn pre_settle(&self, his_patient_id: &str, recipe_ids: &[String], insurance: Option<&InsuranceShare>) -> Result<PreSettlement, DomainError> {
        let data = match insurance {
            Some(i) => json!({"patientId": his_patient_id, "recipeIds": recipe_ids, "medType": "M", "insuPayOrdId": i.pay_ord_id,
                "fundPay": i.fund.0, "acctPay": i.personal_account.0, "mulaidPay": i.mutual_aid.0}),
            None => json!({"patientId": his_patient_id, "recipeIds": recipe_ids, "medType": "O"}),
        };
        decode::pre_settlement(self.call_ok("settlement_pre", data).await?)
    }

    async fn settle(&self, pre_settle_id: &str, pay_trade_no: &str, self_pay: Fen) -> Result<Settlement, DomainError> {
        decode::settlement(self.call_ok("charge_commit", json!({"preSettleId": pre_settle_id, "payTradeNo": pay_trade_no, "ownPay": self_pay.0})).await?)
    }

    async fn lab_orders(&self, his_patient_id: &str) -> Result<Vec<LabSnapshot>, DomainError> {
        decode::lab_orders(self.call_ok("lab_order_list", json!({"patientId": his_patient_id})).await?)
    }

    async fn lab_order(&self, order_no: &str) -> Result<Option<LabSnapshot>, DomainError> {
        decode::lab_order(self.call("lab_order_query", json!({"orderNo": order_no})).await?)
    }

    async fn reject_specimen(&self, order_no: &str, reason: &str, instruction: &str, by: &str) -> Result<LabSnapshot, DomainError> {
        decode::specimen_rejected(
            order_no,
            self.call("specimen_reject", json!({"orderNo": order_no, "reason": reason, "instruction": instruction, "operator": by})).await?,
        )
    }

    async fn report_file(&self, file_id: &str, max_bytes: usize) -> Result<Vec<u8>, DomainError> {
        if file_id.is_empty() || !file_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(malformed("report_file", "file id"));
        }
        let path = format!("/his/api/v1/files/{file_id}");
        let sign = hex::encode(crypto::mac::hmac_sha256(self.cfg.channel_key.as_bytes(), format!("GET {path}").as_bytes()));
        let unavailable = |e: String| DomainError::new(ErrorCode::HisUnavailable, format!("his report_file: {e}"));
        let mut resp = self
            .http
            .client()
            .get(format!("{}{path}", self.cfg.base_url.trim_end_matches('/')))
            .header("x-his-channel", &self.cfg.channel_id)
            .header("x-his-sign", sign)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(DomainError::new(ErrorCode::ReportFileInvalid, format!("his report_file: {file_id} not found")));
        }
        if !resp.status().is_success() {
            return Err(unavailable(format!("status {}", resp.status())));
        }
        let too_large = || DomainError::new(ErrorCode::ReportFileInvalid, format!("his report_file: {file_id} larger than {max_bytes} bytes"));
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unavailable(e.to_string()))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn inpatient_stay(&self, his_patient_id: &str) -> Result<Option<InpatientStay>, DomainError> {
        decode::inpatient_stay(self.call("inhospital_info", json!({"patientId": his_patient_id})).await?)
    }

    async fn pay_deposit(&self, inpatient_no: &str, amount: Fen, pay_trade_no: &str) -> Result<Fen, DomainError> {
        decode::deposit_balance(self.call_ok("prepay", json!({"inpatientNo": inpatient_no, "amount": amount.0, "payTradeNo": pay_trade_no})).await?)
    }

    async fn card_account(&self, his_patient_id: &str) -> Result<Option<CardAccount>, DomainError> {
        decode::card_account(self.call("card_info", json!({"patientId": his_patient_id})).await?)
    }

    async fn recharge_card(&self, his_patient_id: &str, amount: Fen, pay_trade_no: &str) -> Result<Fen, DomainError> {
        decode::card_balance(self.call_ok("card_recharge", json!({"patientId": his_patient_id, "amount": amount.0, "payTradeNo": pay_trade_no})).await?)
    }

    async fn daily_fees(&self, inpatient_no: &str, date: NaiveDate) -> Result<DailyFeeList, DomainError> {
        decode::daily_fees(self.call_ok("daily_list", json!({"inpatientNo": inpatient_no, "date": date.to_string()})).await?)
    }

    async fn trade_records(&self, date: NaiveDate) -> Result<Vec<HisTradeRecord>, DomainError> {
        decode::trade_records(self.call_ok("trade_check", json!({"date": date.to_string()})).await?)
    }
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
    "daily_list",
    "trade_check",
];

/// Decodes a whole answer body for `op` exactly as the connector does after a call,
/// without sending anything: the entry point of the fuzz target and of contract tests.
/// `Ok(true)` when the answer carried something, `Ok(false)` for a "none" or an empty list.
pub fn decode_answer(op: &str, body: &[u8]) -> Result<bool, DomainError> {
    let a = open_envelope(op, body)?;
    Ok(match op {
        "department_list" => !decode::departments(answer_ok(op, a)?)?.is_empty(),
        "doctor_list" => !decode::doctors(answer_ok(op, a)?)?.is_empty(),
        "schedule_list" => !decode::schedules(answer_ok(op, a)?)?.is_empty(),
        "patient_query" | "patient_info" => decode::maybe_patient(op, a)?.is_some(),
        "patient_create" => decode::patient(op, answer_ok(op, a)?).map(|_| true)?,
        "lock_reg" => decode::slot_lock(a).map(|_| true)?,
        "unlock_reg" | "schedule_change" => answer_ok(op, a).map(|_| true)?,
        "reg_confirm" => decode::registration(answer_ok(op, a)?).map(|_| true)?,
        "reg_cancel" => decode::cancellation(a).map(|_| true)?,
        "visit_fee_list" => !decode::visit_fees(answer_ok(op, a)?)?.is_empty(),
        "reg_checkin" => decode::check_in(a).map(|_| true)?,
        "queue_status" => decode::queue_status(a)?.is_some(),
        "unpaid_fees" => !decode::unpaid_bills(answer_ok(op, a)?)?.is_empty(),
        "settlement_pre" => decode::pre_settlement(answer_ok(op, a)?).map(|_| true)?,
        "charge_commit" => decode::settlement(answer_ok(op, a)?).map(|_| true)?,
        "lab_order_list" => !decode::lab_orders(answer_ok(op, a)?)?.is_empty(),
        "lab_order_query" => decode::lab_order(a)?.is_some(),
        "specimen_reject" => decode::specimen_rejected("-", a).map(|_| true)?,
        "inhospital_info" => decode::inpatient_stay(a)?.is_some(),
        "prepay" => decode::deposit_balance(answer_ok(op, a)?).map(|_| true)?,
        "card_info" => decode::card_account(a)?.is_some(),
        "card_recharge" => decode::card_balance(answer_ok(op, a)?).map(|_| true)?,
        "daily_list" => decode::daily_fees(answer_ok(op, a)?).map(|_| true)?,
        "trade_check" => !decode::trade_records(answer_ok(op, a)?)?.is_empty(),
        _ => return Err(malformed(op, "unknown operation")),
    })
}

/// The answer decoders, one per operation: the `data` of an answer (or the refusal the
/// HIS gave) into domain types, refusing anything inconsistent.
mod decode {
    use super::*;

    pub(super) fn departments(v: Value) -> Result<Vec<Department>, DomainError> {
        let v: Vec<DeptDto> = parse("department_list", v)?;
        Ok(v.into_iter().map(|d| Department { dept_id: d.dept_id, name: d.dept_name, category: d.category, location: d.location, intro: d.intro }).collect())
    }

    pub(super) fn doctors(v: Value) -> Result<Vec<Doctor>, DomainError> {
        let v: Vec<DoctorDto> = parse("doctor_list", v)?;
        Ok(v.into_iter()
            .map(|d| Doctor {
                doctor_code: d.doctor_code,
                dept_id: d.dept_id,
                name: d.doctor_name,
                title: d.title,
                specialty: d.specialty,
                reg_fee: Fen(d.reg_fee),
                treat_fee: Fen(d.treat_fee),
            })
            .collect())
    }

    pub(super) fn schedules(v: Value) -> Result<Vec<Schedule>, DomainError> {
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

    pub(super) fn patient(op: &str, v: Value) -> Result<HisPatient, DomainError> {
        super::patient(parse(op, v)?)
    }

    /// A patient lookup: "2001" means no such patient.
    pub(super) fn maybe_patient(op: &str, a: Answer) -> Result<Option<HisPatient>, DomainError> {
        match a {
            Ok(v) => Ok(Some(patient(op, v)?)),
            Err((code, _)) if code == "2001" => Ok(None),
            Err((code, msg)) => Err(refusal(op, &code, &msg)),
        }
    }

    pub(super) fn slot_lock(a: Answer) -> Result<SlotLock, DomainError> {
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
        Ok(SlotLock { pre_id: r.pre_id, see_no: r.see_no, reg_fee: Fen(r.reg_fee), expires_at: r.expire_time })
    }

    pub(super) fn registration(v: Value) -> Result<Registration, DomainError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            reg_id: String,
            see_no: u32,
        }
        let r: R = parse("reg_confirm", v)?;
        Ok(Registration { reg_id: r.reg_id, see_no: r.see_no })
    }

    pub(super) fn cancellation(a: Answer) -> Result<(), DomainError> {
        match a {
            Ok(_) => Ok(()),
            Err((code, msg)) if code == "2009" => Err(DomainError::new(ErrorCode::BookingNotCancellable, format!("his reg_cancel refused {code}: {msg}"))),
            Err((code, msg)) => Err(refusal("reg_cancel", &code, &msg)),
        }
    }

    pub(super) fn visit_fees(v: Value) -> Result<Vec<VisitFees>, DomainError> {
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
                let items: Vec<(FeeItem, bool)> = r.items.into_iter().map(|l| (l.item.into(), l.paid)).collect();
                let total = checked_sum(items.iter().map(|(i, _)| i.amount.0)).ok_or_else(|| malformed("visit_fee_list", "amounts overflow"))?;
                let paid =
                    checked_sum(items.iter().filter(|(_, p)| *p).map(|(i, _)| i.amount.0)).ok_or_else(|| malformed("visit_fee_list", "amounts overflow"))?;
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

    pub(super) fn check_in(a: Answer) -> Result<QueueStatus, DomainError> {
        match a {
            Ok(v) => queue(parse("reg_checkin", v)?),
            Err((code, msg)) if code == "2012" => Err(DomainError::new(ErrorCode::CheckInNotOpen, format!("his reg_checkin refused {code}: {msg}"))),
            Err((code, msg)) => Err(refusal("reg_checkin", &code, &msg)),
        }
    }

    pub(super) fn queue_status(a: Answer) -> Result<Option<QueueStatus>, DomainError> {
        match a {
            Ok(v) => Ok(Some(queue(parse("queue_status", v)?)?)),
            Err((code, _)) if code == "2013" => Ok(None),
            Err((code, msg)) => Err(refusal("queue_status", &code, &msg)),
        }
    }

    pub(super) fn unpaid_bills(v: Value) -> Result<Vec<UnpaidBill>, DomainError> {
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
                let items: Vec<FeeItem> = b.items.into_iter().map(Into::into).collect();
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
                    total: Fen(b.total_fee),
                })
            })
            .collect()
    }

    pub(super) fn pre_settlement(v: Value) -> Result<PreSettlement, DomainError> {
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
            total: Fen(r.total_fee),
            fund_pay: Fen(r.fund_pay),
            personal_account_pay: Fen(r.acct_pay),
            self_pay: Fen(r.own_pay),
        })
    }

    pub(super) fn settlement(v: Value) -> Result<Settlement, DomainError> {
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

    pub(super) fn lab_orders(v: Value) -> Result<Vec<LabSnapshot>, DomainError> {
        let v: Vec<LabOrderDto> = parse("lab_order_list", v)?;
        v.into_iter().map(|o| lab_snapshot("lab_order_list", o)).collect()
    }

    pub(super) fn lab_order(a: Answer) -> Result<Option<LabSnapshot>, DomainError> {
        match a {
            Ok(v) => Ok(Some(lab_snapshot("lab_order_query", parse("lab_order_query", v)?)?)),
            Err((code, _)) if code == LAB_ORDER_UNKNOWN => Ok(None),
            Err((code, msg)) => Err(refusal("lab_order_query", &code, &msg)),
        }
    }

    pub(super) fn specimen_rejected(order_no: &str, a: Answer) -> Result<LabSnapshot, DomainError> {
        match a {
            Ok(v) => lab_snapshot("specimen_reject", parse("specimen_reject", v)?),
            Err((code, _)) if code == LAB_ORDER_UNKNOWN => {
                Err(DomainError::new(ErrorCode::LabOrderUnknown, format!("his specimen_reject: {order_no} unknown")))
            }
            Err((code, msg)) if code == LAB_NOT_REJECTABLE => {
                Err(DomainError::new(ErrorCode::SpecimenNotRejectable, format!("his specimen_reject refused: {msg}")))
            }
            Err((code, msg)) => Err(refusal("specimen_reject", &code, &msg)),
        }
    }

    pub(super) fn inpatient_stay(a: Answer) -> Result<Option<InpatientStay>, DomainError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            inpatient_no: String,
            ward: String,
            bed: String,
            admit_time: DateTime<Utc>,
            prepay_balance: i64,
            total_cost: i64,
            account_closed: bool,
        }
        match a {
            Ok(v) => {
                let r: R = parse("inhospital_info", v)?;
                Ok(Some(InpatientStay {
                    inpatient_no: r.inpatient_no,
                    ward: r.ward,
                    bed: r.bed,
                    admitted_at: r.admit_time,
                    deposit_balance: Fen(r.prepay_balance),
                    charges_to_date: Fen(r.total_cost),
                    account_closed: r.account_closed,
                }))
            }
            Err((code, _)) if code == "2010" => Ok(None),
            Err((code, msg)) => Err(refusal("inhospital_info", &code, &msg)),
        }
    }

    pub(super) fn deposit_balance(v: Value) -> Result<Fen, DomainError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            prepay_balance: i64,
        }
        let r: R = parse("prepay", v)?;
        Ok(Fen(r.prepay_balance))
    }

    pub(super) fn card_account(a: Answer) -> Result<Option<CardAccount>, DomainError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            card_no: String,
            balance: i64,
        }
        match a {
            Ok(data) => {
                let r: R = parse("card_info", data)?;
                Ok(Some(CardAccount { card_no: r.card_no, balance: Fen(r.balance) }))
            }
            Err((code, _)) if code == "2020" => Ok(None),
            Err((code, msg)) => Err(refusal("card_info", &code, &msg)),
        }
    }

    pub(super) fn card_balance(v: Value) -> Result<Fen, DomainError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            balance: i64,
        }
        let r: R = parse("card_recharge", v)?;
        Ok(Fen(r.balance))
    }

    pub(super) fn daily_fees(v: Value) -> Result<DailyFeeList, DomainError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            date: NaiveDate,
            items: Vec<ItemDto>,
            total_fee: i64,
        }
        let r: R = parse("daily_list", v)?;
        let items: Vec<FeeItem> = r.items.into_iter().map(Into::into).collect();
        if checked_sum(items.iter().map(|i| i.amount.0)) != Some(r.total_fee) {
            return Err(malformed("daily_list", "lines do not sum to totalFee"));
        }
        Ok(DailyFeeList { date: r.date, items, total: Fen(r.total_fee) })
    }

    pub(super) fn trade_records(v: Value) -> Result<Vec<HisTradeRecord>, DomainError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            trade_no: String,
            trade_type: String,
            amount: i64,
            trade_time: DateTime<Utc>,
        }
        let v: Vec<R> = parse("trade_check", v)?;
        Ok(v.into_iter().map(|r| HisTradeRecord { trade_no: r.trade_no, kind: r.trade_type, amount: Fen(r.amount), at: r.trade_time }).collect())
    }

    /// A sum of amounts the HIS sent; `None` when it overflows (a hostile answer must
    /// not panic a debug build or wrap in a release one).
    fn checked_sum(amounts: impl IntoIterator<Item = i64>) -> Option<i64> {
        amounts.into_iter().try_fold(0i64, i64::checked_add)
    }
}
