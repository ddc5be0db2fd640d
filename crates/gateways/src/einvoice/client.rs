//! The e-invoice connector's transport: signs the envelope, posts it, opens the answer.
use super::{Answer, Methods, decode_answer, envelope, issue_params, parse_issued, parse_reversal, parse_status};
use crate::http::{HttpExecutor, TransportError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::invoices::{InvoiceRequest, InvoiceStatus, IssuedInvoice, ReversalInvoice};
use domain::ports::EInvoicePort;
use domain::{DomainError, ErrorCode};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct EInvoiceClientConfig {
    pub base_url: String,
    pub appid: String,
    pub key: domain::Secret,
    /// 开票点 and the payee (收款人) printed on the bill.
    pub place_code: String,
    pub payee: String,
    pub methods: Methods,
    pub timeout: Duration,
}

pub struct EInvoiceClient {
    cfg: EInvoiceClientConfig,
    http: HttpExecutor,
}

impl EInvoiceClient {
    pub fn new(cfg: EInvoiceClientConfig) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http }
    }

    /// One signed call. A transport failure is "unknown" (`UpstreamUnavailable`): the
    /// caller asks by business number before issuing again.
    async fn call(&self, method: &str, params: Value) -> Result<Answer, DomainError> {
        let h = hex::encode(crypto::random_bytes::<16>());
        let noise = format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
        let body = envelope(&self.cfg.appid, self.cfg.key.expose(), &noise, &params).to_string();
        let url = format!("{}/medical-web/api/medical/{method}", self.cfg.base_url.trim_end_matches('/'));
        let req = self.http.client().post(url).header("content-type", "application/json").body(body);
        let started = std::time::Instant::now();
        let result = self.http.send(req).await;
        metrics::histogram!("carebridge_outbound_seconds", "system" => "einvoice", "op" => method.to_owned()).record(started.elapsed().as_secs_f64());
        let unavailable = |e: String| DomainError::new(ErrorCode::UpstreamUnavailable, format!("einvoice {method}: {e}"));
        let body = result.map_err(|e: TransportError| unavailable(e.to_string()))?;
        decode_answer(&body.0).map_err(unavailable)
    }

    async fn call_ok(&self, method: &str, params: Value) -> Result<Value, DomainError> {
        match self.call(method, params).await? {
            Answer::Ok(v) => Ok(v),
            Answer::Refused { code, text } => Err(DomainError::new(ErrorCode::InvoiceRefused, format!("einvoice {method} refused {code}: {text}"))),
        }
    }
}

fn malformed(method: &str) -> impl Fn(String) -> DomainError + '_ {
    move |e| DomainError::new(ErrorCode::UpstreamUnavailable, format!("einvoice {method}: {e}"))
}

#[async_trait]
impl EInvoicePort for EInvoiceClient {
    async fn issue(&self, req: &InvoiceRequest) -> Result<IssuedInvoice, DomainError> {
        req.check().map_err(|e| DomainError::new(ErrorCode::InvoiceRefused, format!("invoice {}: {e}", req.bus_no)))?;
        let method = self.cfg.methods.for_kind(req.kind).to_owned();
        let v = self.call_ok(&method, issue_params(req, &self.cfg.place_code, &self.cfg.payee)).await?;
        parse_issued(&v).map_err(malformed(&method))
    }

    async fn find_by_bus_no(&self, bus_no: &str, bus_time: DateTime<Utc>) -> Result<Option<IssuedInvoice>, DomainError> {
        // The platform answers a business number it never saw with a refusal; only a
        // readable answer with a bill is "issued".
        match self.call("getEBillByBusNo", json!({"busNo": bus_no, "busDateTime": super::bus_date_time(bus_time)})).await? {
            Answer::Ok(v) => parse_issued(&v).map(Some).map_err(malformed("getEBillByBusNo")),
            Answer::Refused { .. } => Ok(None),
        }
    }

    async fn reverse(&self, batch_code: &str, bill_no: &str, reason: &str, at: DateTime<Utc>) -> Result<ReversalInvoice, DomainError> {
        let reason: String = reason.chars().take(200).collect();
        let v = self
            .call_ok(
                "writeOffEBill",
                json!({"billBatchCode": batch_code, "billNo": bill_no, "reason": reason, "operator": self.cfg.payee, "busDateTime": super::bus_date_time(at), "placeCode": self.cfg.place_code}),
            )
            .await?;
        parse_reversal(&v).map_err(malformed("writeOffEBill"))
    }

    async fn status(&self, batch_code: &str, bill_no: &str) -> Result<InvoiceStatus, DomainError> {
        let v = self.call_ok("getEBillStatesByBillInfo", json!({"billBatchCode": batch_code, "billNo": bill_no})).await?;
        parse_status(&v).map_err(malformed("getEBillStatesByBillInfo"))
    }

    async fn pdf(&self, inv: &IssuedInvoice, max_bytes: usize) -> Result<Vec<u8>, DomainError> {
        let v = self
            .call_ok("getEBillPicUrl", json!({"billBatchCode": inv.batch_code, "billNo": inv.bill_no, "random": inv.check_code, "channelMode": "02"}))
            .await?;
        let url =
            v.get("pictureUrl").and_then(Value::as_str).filter(|u| u.starts_with("http")).ok_or_else(|| malformed("getEBillPicUrl")("no pictureUrl".into()))?;
        let body = self.http.send(self.http.client().get(url)).await.map_err(|e| malformed("pdf")(e.to_string()))?;
        if body.0.len() > max_bytes || !body.0.starts_with(b"%PDF-") {
            return Err(malformed("pdf")(format!("not a PDF within {max_bytes} bytes")));
        }
        Ok(body.0)
    }
}
