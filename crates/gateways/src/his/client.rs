//! The HIS connector's transport: every call signed with the channel key (HMAC-SHA256 of
//! the JSON envelope), bounded by admission permits, timed, and its answer handed to
//! [`super::decode`]. The wire format is `sim::his`'s.
use super::decode::{self, Answer, answer_ok, malformed, open_envelope};
use crate::http::{HttpExecutor, TransportError};
use async_trait::async_trait;
use chrono::NaiveDate;
use domain::identity::Gender;
use domain::ports::*;
use domain::registration::{Department, Doctor, Schedule, SessionChange};
use domain::reports::LabSnapshot;
use domain::{DomainError, ErrorCode, Fen};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct HisClientConfig {
    pub base_url: String,
    pub channel_id: String,
    pub channel_key: domain::Secret,
    pub timeout: Duration,
}

pub struct HisClient {
    cfg: HisClientConfig,
    http: HttpExecutor,
    clock: std::sync::Arc<dyn domain::Clock>,
    /// Admission control: every call takes a permit first (issue 7).
    permits: Option<std::sync::Arc<dyn domain::ports::CallPermits>>,
}

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
        let sign = hex::encode(crypto::mac::hmac_sha256(self.cfg.channel_key.expose().as_bytes(), body.as_bytes()));
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
        let sign = hex::encode(crypto::mac::hmac_sha256(self.cfg.channel_key.expose().as_bytes(), format!("GET {path}").as_bytes()));
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

    async fn pay_deposit(&self, inpatient_no: &str, card_no: &str, amount: Fen, pay_trade_no: &str) -> Result<Fen, DomainError> {
        decode::deposit_balance(
            self.call_ok("prepay", json!({"inpatientNo": inpatient_no, "cardNo": card_no, "amount": amount.0, "payTradeNo": pay_trade_no})).await?,
        )
    }

    async fn card_account(&self, his_patient_id: &str) -> Result<Option<CardAccount>, DomainError> {
        decode::card_account(self.call("card_info", json!({"patientId": his_patient_id})).await?)
    }

    async fn bind_card(&self, his_patient_id: &str, card_no: &str) -> Result<CardAccount, DomainError> {
        decode::card_bound(self.call("card_bind", json!({"patientId": his_patient_id, "cardNo": card_no})).await?)
    }

    async fn card_trades(&self, his_patient_id: &str) -> Result<Vec<CardTrade>, DomainError> {
        decode::card_trades(self.call_ok("card_trades", json!({"patientId": his_patient_id})).await?)
    }

    async fn recharge_card(&self, his_patient_id: &str, card_no: &str, amount: Fen, pay_trade_no: &str) -> Result<Fen, DomainError> {
        decode::card_balance(
            self.call_ok("card_recharge", json!({"patientId": his_patient_id, "cardNo": card_no, "amount": amount.0, "payTradeNo": pay_trade_no})).await?,
        )
    }

    async fn daily_fees(&self, inpatient_no: &str, date: NaiveDate) -> Result<DailyFeeList, DomainError> {
        decode::daily_fees(self.call_ok("daily_list", json!({"inpatientNo": inpatient_no, "date": date.to_string()})).await?)
    }

    async fn stay_class_totals(&self, inpatient_no: &str) -> Result<Vec<(domain::inpatient::InsuranceClass, Fen, Fen)>, DomainError> {
        decode::stay_class_totals(self.call_ok("inhospital_fee_summary", json!({"inpatientNo": inpatient_no})).await?)
    }

    async fn stay_deposits(&self, inpatient_no: &str) -> Result<Vec<domain::inpatient::DepositPayment>, DomainError> {
        decode::stay_deposits("inhospital_deposits", self.call_ok("inhospital_deposits", json!({"inpatientNo": inpatient_no})).await?)
    }

    async fn ward_inpatients(&self) -> Result<Vec<WardInpatient>, DomainError> {
        decode::ward_inpatients(self.call_ok("ward_inpatients", json!({})).await?)
    }

    async fn close_account(&self, inpatient_no: &str, operator: &str) -> Result<(), DomainError> {
        self.call_ok("inhospital_close", json!({"inpatientNo": inpatient_no, "operator": operator})).await.map(|_| ())
    }

    async fn discharge_pre_settle(&self, inpatient_no: &str) -> Result<domain::inpatient::DischargeQuote, DomainError> {
        decode::discharge_quote(self.call_ok("inhospital_presettle", json!({"inpatientNo": inpatient_no})).await?)
    }

    async fn discharge_settle(&self, req: &DischargeSettleRequest) -> Result<DischargeSettleOutcome, DomainError> {
        let refunds: Vec<Value> = req
            .refunds
            .iter()
            .map(|p| json!({"depositNo": p.deposit_no, "amount": p.amount.0, "refundWay": if p.at_window() { "WINDOW" } else { "ORIGINAL" }}))
            .collect();
        let data = json!({
            "inpatientNo": req.inpatient_no, "preSettleId": req.pre_settle_id, "settleNo": req.settle_no,
            "payTradeNo": req.paid.as_ref().map(|p| p.0.clone()), "payAmount": req.paid.as_ref().map_or(0, |p| p.1.0), "refunds": refunds,
        });
        decode::discharge_settled(self.call("inhospital_settle", data).await?)
    }

    async fn cancel_discharge_settlement(&self, settle_id: &str, reason: &str) -> Result<(), DomainError> {
        self.call_ok("inhospital_cancel_settle", json!({"settleId": settle_id, "reason": reason})).await.map(|_| ())
    }

    async fn discharge_summary(&self, inpatient_no: &str) -> Result<Option<DischargeSummary>, DomainError> {
        decode::discharge_summary(self.call("discharge_summary", json!({"inpatientNo": inpatient_no})).await?)
    }

    async fn trade_records(&self, date: NaiveDate) -> Result<Vec<HisTradeRecord>, DomainError> {
        decode::trade_records(self.call_ok("trade_check", json!({"date": date.to_string()})).await?)
    }

    async fn record_encounters(&self, his_patient_id: &str) -> Result<Vec<domain::records::RecordEncounter>, DomainError> {
        decode::record_encounters(self.call_ok("record_encounters", json!({"patientId": his_patient_id})).await?)
    }

    async fn admission_notices(&self, his_patient_id: &str) -> Result<Vec<domain::inpatient::admission_booking::AdmissionNotice>, DomainError> {
        decode::admission_notices(self.call_ok("admission_notices", json!({"patientId": his_patient_id})).await?)
    }

    async fn register_admission(&self, req: &AdmissionRegistration) -> Result<String, DomainError> {
        let data = json!({
            "noticeNo": req.notice_no, "admitDate": req.date.to_string(), "bedType": req.bed_type, "bookingNo": req.booking_no, "operator": req.operator,
        });
        decode::admission_registered(self.call_ok("admission_register", data).await?, Some(req))
    }

    async fn cancel_admission(&self, notice_no: &str, booking_no: &str, reason: &str) -> Result<(), DomainError> {
        self.call_ok("admission_cancel", json!({"noticeNo": notice_no, "bookingNo": booking_no, "reason": reason})).await.map(|_| ())
    }
}
