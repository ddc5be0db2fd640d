//! The courier connector's transport: signs the form, posts it, opens the answer.
use super::{
    Answer, CREATE_ORDER, SEARCH_ROUTES, UPDATE_ORDER, already_cancelled, cancel_order_data, create_order_data, msg_digest, open_answer, parse_created,
    parse_route_push, parse_routes, push_answer, routes_query,
};
use crate::http::{HttpExecutor, TransportError};
use async_trait::async_trait;
use domain::ports::{CourierPort, RouteStep, ShipmentOutcome, ShipmentRequest};
use domain::{Clock, DomainError, ErrorCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct CourierClientConfig {
    /// `https://bspgw.sf-express.com/std/service` in production, the sandbox's or the
    /// simulator's otherwise.
    pub url: String,
    /// 顾客编码 and 校验码.
    pub partner_id: String,
    pub check_word: domain::Secret,
    /// The hospital's monthly account (月结卡号) the postage is charged to.
    pub monthly_card: String,
    /// 快递产品: 2 顺丰标快 [I] (a setting).
    pub express_type_id: u32,
    pub timeout: Duration,
}

pub struct CourierClient {
    cfg: CourierClientConfig,
    http: HttpExecutor,
    clock: Arc<dyn Clock>,
}

impl CourierClient {
    pub fn new(cfg: CourierClientConfig, clock: Arc<dyn Clock>) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http, clock }
    }

    /// One signed call. A transport failure is "unknown" (`UpstreamUnavailable`): an order
    /// is placed again under the same orderId, which answers the first one's waybill.
    async fn call(&self, service: &str, data: &Value) -> Result<Answer, DomainError> {
        let msg_data = data.to_string();
        // Milliseconds: the signature document's example [I: the demo sends seconds].
        let timestamp = self.clock.now().timestamp_millis().to_string();
        let digest = msg_digest(&msg_data, &timestamp, self.cfg.check_word.expose());
        let request_id = hex::encode(crypto::random_bytes::<16>());
        let form = [
            ("partnerID", self.cfg.partner_id.as_str()),
            ("requestID", request_id.as_str()),
            ("serviceCode", service),
            ("timestamp", timestamp.as_str()),
            ("msgDigest", digest.as_str()),
            ("msgData", msg_data.as_str()),
        ];
        let req = self.http.client().post(&self.cfg.url).form(&form);
        let started = std::time::Instant::now();
        let result = self.http.send(req).await;
        metrics::histogram!("carebridge_outbound_seconds", "system" => "courier", "op" => service.to_owned()).record(started.elapsed().as_secs_f64());
        let unavailable = |e: String| DomainError::new(ErrorCode::UpstreamUnavailable, format!("courier {service}: {e}"));
        let body = result.map_err(|e: TransportError| unavailable(e.to_string()))?;
        open_answer(&body.0).map_err(unavailable)
    }

    fn refused(service: &str, code: &str, text: &str) -> DomainError {
        // A1005 流量受控, A1009 目标服务异常, A1099 系统异常: the courier's trouble, worth trying later.
        let c = if matches!(code, "A1005" | "A1009" | "A1099") { ErrorCode::UpstreamUnavailable } else { ErrorCode::CourierRefused };
        DomainError::new(c, format!("courier {service} refused {code}: {text}"))
    }
}

#[async_trait]
impl CourierPort for CourierClient {
    async fn create_shipment(&self, req: &ShipmentRequest) -> Result<ShipmentOutcome, DomainError> {
        match self.call(CREATE_ORDER, &create_order_data(req, &self.cfg.monthly_card, self.cfg.express_type_id)).await? {
            Answer::Ok(v) => parse_created(&v).map_err(|e| DomainError::new(ErrorCode::UpstreamUnavailable, format!("courier {CREATE_ORDER}: {e}"))),
            Answer::Refused { code, text } => Err(Self::refused(CREATE_ORDER, &code, &text)),
        }
    }

    async fn cancel_shipment(&self, order_id: &str, waybill_no: &str) -> Result<(), DomainError> {
        match self.call(UPDATE_ORDER, &cancel_order_data(order_id, waybill_no)).await? {
            Answer::Ok(_) => Ok(()),
            Answer::Refused { code, .. } if already_cancelled(&code) => Ok(()),
            Answer::Refused { code, text } => Err(Self::refused(UPDATE_ORDER, &code, &text)),
        }
    }

    async fn routes(&self, waybill_no: &str) -> Result<Vec<RouteStep>, DomainError> {
        match self.call(SEARCH_ROUTES, &routes_query(waybill_no)).await? {
            Answer::Ok(v) => parse_routes(&v).map_err(|e| DomainError::new(ErrorCode::UpstreamUnavailable, format!("courier {SEARCH_ROUTES}: {e}"))),
            Answer::Refused { code, text } => Err(Self::refused(SEARCH_ROUTES, &code, &text)),
        }
    }

    fn read_route_push(&self, body: &[u8]) -> Result<Vec<(String, RouteStep)>, DomainError> {
        parse_route_push(body)
            .map(|steps| steps.into_iter().map(|p| (p.id, p.step)).collect())
            .map_err(|e| DomainError::new(ErrorCode::BadRequest, format!("courier route push: {e}")))
    }

    fn route_push_answer(&self, taken: bool) -> String {
        push_answer(taken).to_string()
    }
}
