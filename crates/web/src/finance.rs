//! The finance console: order search, an order's whole story (attempts, raw callbacks,
//! refunds, ledger, audit trail) and refunds with a reason behind a fresh second factor
//! (S6). Finance role only.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::payments::yuan;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use domain::billing::{Channel, OrderState, PerChannel, Purpose};
use domain::{ErrorCode, Fen};
use serde::Deserialize;
use store::billing::{OrderFilter, OrderRow};

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    domain::clock::to_local(t).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn purpose_code(p: Purpose) -> String {
    serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

pub struct OrderLineRow {
    pub order_no: String,
    pub created: String,
    pub purpose: &'static str,
    pub state: &'static str,
    pub total: String,
    pub insurance: String,
    pub self_pay: String,
    pub refunded: String,
}

fn line_row(r: &OrderRow) -> OrderLineRow {
    let o = &r.order;
    OrderLineRow {
        order_no: r.order_no.clone(),
        created: local(r.created_at),
        purpose: o.purpose.label_zh(),
        state: o.state.label_zh(),
        total: yuan(o.total()),
        insurance: yuan(o.due(Channel::Insurance)),
        self_pay: yuan(o.due(Channel::SelfPay)),
        refunded: yuan(o.refunded.total()),
    }
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    no: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_orders.html")]
struct OrdersPage {
    hospital: String,
    q: SearchQuery,
    states: Vec<(&'static str, &'static str)>,
    purposes: Vec<(String, &'static str)>,
    rows: Vec<OrderLineRow>,
    error: Option<&'static str>,
}

fn day(s: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ()> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| ())?;
    Ok(Some(domain::clock::local_midnight_utc(d)))
}

pub async fn orders(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<SearchQuery>) -> Result<Response, AppError> {
    let purposes =
        [Purpose::Registration, Purpose::OutpatientBill, Purpose::DepositTopUp, Purpose::CardRecharge, Purpose::RecordCopy, Purpose::DischargeBalance]
            .into_iter()
            .map(|p| (purpose_code(p), p.label_zh()))
            .collect();
    let states = OrderState::ALL.iter().map(|s| (s.as_str(), s.label_zh())).collect();
    let (from, to) = match (day(&q.from), day(&q.to)) {
        (Ok(f), Ok(t)) => (f, t.map(|t| t + chrono::Duration::days(1))),
        _ => {
            let page = OrdersPage { hospital: st.hospital_name.clone(), q, states, purposes, rows: vec![], error: Some("日期格式应为 2026-11-25") };
            return Ok(page.into_response());
        }
    };
    let f = OrderFilter { order_no: Some(q.no.trim().to_owned()), state: Some(q.state.clone()), purpose: Some(q.purpose.clone()), patient_ids: None, from, to };
    let rows = st.app.store.search_orders(&f, 200).await?.iter().map(line_row).collect();
    Ok(OrdersPage { hospital: st.hospital_name.clone(), q, states, purposes, rows, error: None }.into_response())
}

pub struct Attempt {
    pub channel: &'static str,
    pub reference: String,
    pub detail: String,
    pub at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_order.html")]
struct StoryPage {
    hospital: String,
    o: OrderLineRow,
    patient: String,
    split: Vec<(&'static str, String)>,
    captured: String,
    refundable_insurance: String,
    refundable_self_pay: String,
    can_refund: bool,
    attempts: Vec<Attempt>,
    events: Vec<(String, String, String)>,
    ledger: Vec<(String, String, String, String, String)>,
    ledger_sum: i64,
    audit: Vec<(i64, String, String, String, String)>,
    notice: Option<String>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct StoryQuery {
    refunded: Option<String>,
    error: Option<String>,
}

/// Channel details without anything secret (tokens are never shown).
fn redacted(detail: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(detail).unwrap_or(serde_json::Value::Null);
    if let Some(m) = v.as_object_mut() {
        for k in ["pay_token", "auth_state"] {
            if m.contains_key(k) {
                m.insert(k.into(), serde_json::json!("***"));
            }
        }
    }
    v.to_string()
}

pub async fn order(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Query(q): Query<StoryQuery>,
) -> Result<Response, AppError> {
    let s = st.app.order_story(&no, &Actor::staff(p.id, &cid.0)).await?;
    let o = &s.row.order;
    let split = vec![
        ("医保统筹", yuan(o.split.fund)),
        ("个人账户", yuan(o.split.personal_account)),
        ("家庭共济", yuan(o.split.mutual_aid)),
        ("自付（银行）", yuan(o.split.self_pay)),
    ];
    let page = StoryPage {
        hospital: st.hospital_name.clone(),
        o: line_row(&s.row),
        patient: s.patient_name_masked.clone().unwrap_or_else(|| "—".into()),
        split,
        captured: format!("医保 ¥{} · 银行 ¥{}", yuan(o.captured.insurance), yuan(o.captured.self_pay)),
        refundable_insurance: yuan(o.refundable(Channel::Insurance)),
        refundable_self_pay: yuan(o.refundable(Channel::SelfPay)),
        can_refund: matches!(o.state, OrderState::Paid | OrderState::Fulfilled | OrderState::PartiallyRefunded),
        attempts: s
            .attempts
            .iter()
            .map(|a| Attempt {
                channel: if a.channel == "nhsa" { "医保中心" } else { "建设银行" },
                reference: a.reference.clone(),
                detail: redacted(&a.detail),
                at: local(a.updated_at),
            })
            .collect(),
        events: s.events.iter().map(|e| (local(e.received_at), e.channel.clone(), e.raw.clone())).collect(),
        ledger: s.ledger.iter().map(|e| (local(e.at), e.posting.clone(), e.account.clone(), e.memo.clone(), yuan(Fen(e.amount)))).collect(),
        ledger_sum: s.ledger.iter().map(|e| e.amount).sum(),
        audit: s.audit.iter().map(|a| (a.seq, local(a.at), a.actor.clone(), a.action.clone(), a.reason.clone())).collect(),
        notice: q.refunded.map(|r| format!("退款已受理，退款单号 {r}。银行与医保处理完成后状态将自动更新。")),
        error: q.error.as_deref().and_then(|c| ErrorCode::ALL.iter().find(|e| e.code() == c)).map(|e| e.message_zh()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    insurance: String,
    #[serde(default)]
    self_pay: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    otp: String,
}

pub async fn refund(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<RefundForm>,
) -> Result<Response, AppError> {
    let back = |code: ErrorCode| Redirect::to(&format!("/staff/finance/orders/{no}?error={}", code.code())).into_response();
    let (order, _) = st.app.store.order(&no).await?;
    let self_pay = if f.self_pay.trim().is_empty() { Some(Fen::ZERO) } else { Fen::parse_yuan(f.self_pay.trim()) };
    let Some(self_pay) = self_pay.filter(|f| !f.is_negative()) else { return Ok(back(ErrorCode::ValidationFailed)) };
    let insurance = if f.insurance == "all" { order.refundable(Channel::Insurance) } else { Fen::ZERO };
    let amounts = PerChannel { insurance, self_pay };
    match st.app.finance_refund(p.id, &f.otp, &no, amounts, &f.reason, &cid.0).await {
        Ok(rno) => Ok(Redirect::to(&format!("/staff/finance/orders/{no}?refunded={rno}")).into_response()),
        Err(e) if e.code.http_status() < 500 => {
            tracing::info!(order_no = %no, code = e.code.code(), detail = %e.detail, "refund refused");
            Ok(back(e.code))
        }
        Err(e) => Err(e.into()),
    }
}
