//! The bank's aggregated-payment simulator (建行聚合支付, protocols.md §4). Legacy
//! B2C/QR interface as observed [O], with the unknowns of §4.4 chosen here [I]:
//!
//! * `POST /CCBIS/ccbMain` (form, TXCODE 530550, MD5 MAC with the public-key tail) →
//!   `{"SUCCESS":"true","PAYURL":…}`; `GET PAYURL` → `{"SUCCESS":"true","QRURL":…}`.
//! * `QRURL` opens the cashier page, where a demo patient pays or cancels (or walks away).
//! * The result notification is a form POST to the merchant's notify URL, signed
//!   (MD5withRSA by default, hex), sent `notify_copies` times to exercise duplicates.
//! * The merchant client (外联平台) is XML; the real one is a TCP client speaking GB2312.
//!   Here it is `POST /merchant-client` with UTF-8 XML [I]: 5W1002 query, 5W1004 refund
//!   (our `REFUND_CODE` element makes a refund retry-safe [I]).
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use crypto::rsa_sha256::RsaSigner;
use domain::Fen;
use gateways::ccb::signing::{self, OrderFields};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A published test key (wechatpay-go's), used as the simulated bank's signing key.
pub const DEMO_BANK_KEY: &str = include_str!("../../crypto/tests/vectors/wechatpay_go_test_key.pem");

#[derive(Clone, Debug)]
pub struct CcbSimConfig {
    pub merchant_id: String,
    pub pos_id: String,
    pub branch_id: String,
    /// Where result notifications go (the platform's callback URL).
    pub notify_url: String,
    /// How many copies of each notification to send (duplicates on purpose).
    pub notify_copies: usize,
    pub sha256_signatures: bool,
    /// The merchant's result page, where the cashier sends the payer afterwards; `{order}`
    /// is replaced by the order number. (The bank lets a merchant register one [I].)
    pub return_url: String,
}

impl Default for CcbSimConfig {
    fn default() -> Self {
        Self {
            merchant_id: "105000000000001".into(),
            pos_id: "100001".into(),
            branch_id: "442000000".into(),
            notify_url: String::new(),
            notify_copies: 1,
            sha256_signatures: false,
            return_url: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Paid,
    Cancelled,
}

struct Payment {
    order_id: String,
    amount: Fen,
    remark1: String,
    remark2: String,
    status: Status,
    refunds: HashMap<String, Fen>,
}

/// Injected faults, set through `POST /__sim/faults`.
#[derive(Default, serde::Deserialize)]
pub struct CcbFaults {
    /// Merchant-client transactions (e.g. `5W1004`) carried out, then answered with 504.
    #[serde(default)]
    pub lose_response_next: Vec<String>,
    /// Drop the next N result notifications (the bank's callback never arrives).
    #[serde(default)]
    pub drop_notifications: usize,
    /// Create the next N payments, then answer with 504 (the merchant never hears).
    #[serde(default)]
    pub lose_create_next: usize,
    /// Never notify for these orders (a lost callback for one order among many).
    #[serde(default)]
    pub drop_for: std::collections::HashSet<String>,
    /// Refuse refunds of these orders (a closed account: the bank keeps answering 0130Z0100008).
    #[serde(default)]
    pub refuse_refunds_for: std::collections::HashSet<String>,
}

/// One line of the bank's books, for the daily statement.
#[derive(Clone, Debug)]
pub struct JournalLine {
    pub at: chrono::DateTime<chrono::Utc>,
    pub order_id: String,
    /// `PAY` or `REFUND`.
    pub kind: &'static str,
    pub amount: Fen,
    /// The refund number for a refund; empty for a payment.
    pub serial: String,
}

pub struct CcbState {
    pub faults: CcbFaults,
    clock: Arc<dyn domain::Clock>,
    pub journal: Vec<JournalLine>,
    pub cfg: CcbSimConfig,
    signer: RsaSigner,
    base_url: String,
    by_token: HashMap<String, String>,
    payments: HashMap<String, Payment>,
    pub notifications_sent: usize,
}

pub type SharedCcb = Arc<Mutex<CcbState>>;

impl CcbState {
    pub fn new(cfg: CcbSimConfig, clock: Arc<dyn domain::Clock>) -> Self {
        Self {
            faults: CcbFaults::default(),
            clock,
            journal: Vec::new(),
            cfg,
            signer: RsaSigner::from_pkcs8_pem(DEMO_BANK_KEY).expect("demo key"),
            base_url: String::new(),
            by_token: HashMap::new(),
            payments: HashMap::new(),
            notifications_sent: 0,
        }
    }
    pub fn set_base_url(&mut self, base: &str) {
        self.base_url = base.to_owned();
    }
    /// The bank's public key as issued to merchants (PEM), whose last 30 characters
    /// (of the Base64 body) feed the order MAC.
    pub fn public_key_pem(&self) -> String {
        self.signer.public_key_pem()
    }
    pub fn public_key_body(&self) -> String {
        self.public_key_pem().lines().filter(|l| !l.starts_with("-----")).collect()
    }

    /// The signed notification the bank would send now for `order_id` (tests replay it).
    pub fn notification_for(&self, order_id: &str) -> Option<Vec<(String, String)>> {
        self.payments.get(order_id).map(|p| self.notification(p))
    }

    fn notification(&self, p: &Payment) -> Vec<(String, String)> {
        let mut n = self.notification_fields(&p.order_id, p.amount, p.status == Status::Paid);
        n.remark1 = p.remark1.clone();
        n.remark2 = p.remark2.clone();
        self.sign_notification(n)
    }

    /// The fields of a notification as this bank fills them now, unsigned: a test changes
    /// one (another POS, an old accounting date, an order we never opened) and signs it.
    pub fn notification_fields(&self, order_id: &str, amount: Fen, paid: bool) -> signing::Notification {
        signing::Notification {
            pos_id: self.cfg.pos_id.clone(),
            branch_id: self.cfg.branch_id.clone(),
            order_id: order_id.to_owned(),
            payment: amount.to_yuan_string(),
            curcode: "01".into(),
            remark1: String::new(),
            remark2: String::new(),
            acc_type: Some("12".into()),
            success: if paid { "Y".into() } else { "N".into() },
            type_referer_clientip: None,
            acc_date: Some(domain::clock::to_local(self.clock.now()).format("%Y%m%d").to_string()),
            sign: String::new(),
        }
    }

    /// Signs notification fields with the bank's key and lays them out as the form it posts.
    pub fn sign_notification(&self, mut n: signing::Notification) -> Vec<(String, String)> {
        let src = n.verify_string();
        n.sign = if self.cfg.sha256_signatures {
            use base64::Engine;
            hex::encode(base64::engine::general_purpose::STANDARD.decode(self.signer.sign_base64(src.as_bytes())).expect("base64"))
        } else {
            self.signer.sign_md5_hex(src.as_bytes())
        };
        let v = vec![
            ("POSID", n.pos_id),
            ("BRANCHID", n.branch_id),
            ("ORDERID", n.order_id),
            ("PAYMENT", n.payment),
            ("CURCODE", n.curcode),
            ("REMARK1", n.remark1),
            ("REMARK2", n.remark2),
            ("ACC_TYPE", n.acc_type.unwrap_or_default()),
            ("SUCCESS", n.success),
            ("ACCDATE", n.acc_date.unwrap_or_default()),
            ("SIGN", n.sign),
        ];
        v.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

fn form_value<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

async fn ccb_main(State(st): State<SharedCcb>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut g = st.lock().expect("ccb lock");
    let fail = |code: &str, msg: &str| axum::Json(json!({"SUCCESS": "false", "ERRCODE": code, "ERRMSG": msg})).into_response();
    if form_value(&f, "TXCODE") != signing::TXCODE_QR {
        return fail("0130Z1101001", "交易码错误");
    }
    if form_value(&f, "MERCHANTID") != g.cfg.merchant_id || form_value(&f, "POSID") != g.cfg.pos_id || form_value(&f, "BRANCHID") != g.cfg.branch_id {
        return fail("0130Z1101002", "商户信息错误");
    }
    let Some(amount) = Fen::parse_yuan(form_value(&f, "PAYMENT")).filter(|a| a.0 > 0) else {
        return fail("0130Z1101003", "金额错误");
    };
    let fields = OrderFields {
        merchant_id: g.cfg.merchant_id.clone(),
        pos_id: g.cfg.pos_id.clone(),
        branch_id: g.cfg.branch_id.clone(),
        order_id: form_value(&f, "ORDERID").to_owned(),
        payment: amount,
        remark1: form_value(&f, "REMARK1").to_owned(),
        remark2: form_value(&f, "REMARK2").to_owned(),
        timeout: form_value(&f, "TIMEOUT").to_owned(),
    };
    let tail = signing::pub_tail(&g.public_key_body());
    if !crypto::constant_time_eq(signing::order_mac(&fields, &tail).as_bytes(), form_value(&f, "MAC").as_bytes()) {
        return fail("0130Z1101004", "MAC校验失败");
    }
    if let Some(p) = g.payments.get(&fields.order_id)
        && p.amount != amount
    {
        return fail("0130Z1101005", "订单号重复且金额不同");
    }
    let token = hex::encode(crypto::random_bytes::<12>());
    g.by_token.insert(token.clone(), fields.order_id.clone());
    g.payments.entry(fields.order_id.clone()).or_insert(Payment {
        order_id: fields.order_id.clone(),
        amount,
        remark1: fields.remark1,
        remark2: fields.remark2,
        status: Status::Pending,
        refunds: HashMap::new(),
    });
    if g.faults.lose_create_next > 0 {
        g.faults.lose_create_next -= 1;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    axum::Json(json!({"SUCCESS": "true", "PAYURL": format!("{}/CCBIS/payurl/{token}", g.base_url)})).into_response()
}

async fn pay_url(State(st): State<SharedCcb>, Path(token): Path<String>) -> Response {
    let g = st.lock().expect("ccb lock");
    if !g.by_token.contains_key(&token) {
        return axum::Json(json!({"SUCCESS": "false", "ERRMSG": "无效的支付链接"})).into_response();
    }
    let url = format!("{}/cashier/{token}", g.base_url);
    axum::Json(json!({"SUCCESS": "true", "QRURL": domain::format::url_encode(&url)})).into_response()
}

async fn cashier(State(st): State<SharedCcb>, Path(token): Path<String>) -> Response {
    let g = st.lock().expect("ccb lock");
    let Some(p) = g.by_token.get(&token).and_then(|o| g.payments.get(o)) else {
        return (StatusCode::NOT_FOUND, Html("<p>支付链接无效</p>".to_owned())).into_response();
    };
    let status = match p.status {
        Status::Pending => "待支付",
        Status::Paid => "已支付",
        Status::Cancelled => "已取消",
    };
    Html(format!(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>建行聚合支付（模拟）</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f2f4f7}}main{{background:#fff;margin:12px;padding:16px;border-radius:8px}}.amt{{font-size:32px;font-weight:600}}button{{width:100%;padding:12px;margin:8px 0;font-size:16px;border:0;border-radius:6px}}.pay{{background:#0066b3;color:#fff}}.cancel{{background:#eee}}</style>\
         <main><h1 style='font-size:18px'>建设银行 聚合支付（模拟器）</h1><p>订单号 {}</p><p class=amt>¥{}</p><p>状态：<span id=status>{status}</span></p>\
         <form method=post action='/cashier/{token}/pay'><button class=pay id=pay type=submit>确认支付</button></form>\
         <form method=post action='/cashier/{token}/cancel'><button class=cancel id=cancel type=submit>取消支付</button></form></main></html>",
        p.order_id,
        p.amount.to_yuan_string()
    ))
    .into_response()
}

async fn finish(st: SharedCcb, token: String, to: Status) -> Response {
    let (notify_url, copies, form, back) = {
        let mut g = st.lock().expect("ccb lock");
        let Some(order_id) = g.by_token.get(&token).cloned() else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let now = g.clock.now();
        let p = g.payments.get_mut(&order_id).expect("payment of token");
        let paid_now = p.status == Status::Pending && to == Status::Paid;
        if p.status == Status::Pending {
            p.status = to;
        }
        let amount = p.amount;
        if paid_now {
            g.journal.push(JournalLine { at: now, order_id: order_id.clone(), kind: "PAY", amount, serial: String::new() });
        }
        let p = &g.payments[&order_id];
        let form = g.notification(p);
        let copies = if g.faults.drop_for.contains(&order_id) {
            0
        } else if g.faults.drop_notifications > 0 {
            g.faults.drop_notifications -= 1;
            0
        } else {
            g.cfg.notify_copies
        };
        g.notifications_sent += copies;
        let back = if g.cfg.return_url.is_empty() { format!("/cashier/{token}") } else { g.cfg.return_url.replace("{order}", &order_id) };
        (g.cfg.notify_url.clone(), copies, form, back)
    };
    if !notify_url.is_empty() {
        // Fire and forget, like the bank: the merchant queries if it hears nothing.
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for _ in 0..copies {
                let _ = http.post(&notify_url).form(&form).send().await;
            }
        });
    }
    Redirect::to(&back).into_response()
}

async fn pay(State(st): State<SharedCcb>, Path(token): Path<String>) -> Response {
    finish(st, token, Status::Paid).await
}

async fn cancel(State(st): State<SharedCcb>, Path(token): Path<String>) -> Response {
    finish(st, token, Status::Cancelled).await
}

pub use gateways::ccb::client::xml_tag;

fn reply(code: &str, msg: &str, info: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><TX><REQUEST_SN></REQUEST_SN><RETURN_CODE>{code}</RETURN_CODE><RETURN_MSG>{msg}</RETURN_MSG><TX_INFO>{info}</TX_INFO></TX>"
    );
    ([("content-type", "application/xml; charset=utf-8")], body).into_response()
}

async fn merchant_client(State(st): State<SharedCcb>, _h: HeaderMap, body: Bytes) -> Response {
    let xml = String::from_utf8_lossy(&body).to_string();
    let mut g = st.lock().expect("ccb lock");
    if xml_tag(&xml, "CUST_ID") != Some(g.cfg.merchant_id.as_str()) {
        return reply("0130Z0100001", "商户号错误", "");
    }
    let order = xml_tag(&xml, "ORDER").unwrap_or("").to_owned();
    let tx = xml_tag(&xml, "TX_CODE").unwrap_or("").to_owned();
    let lose = g.faults.lose_response_next.iter().position(|t| *t == tx).map(|i| g.faults.lose_response_next.remove(i)).is_some();
    let answer = handle_tx(&mut g, &xml, &order);
    if lose {
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    answer
}

fn handle_tx(g: &mut CcbState, xml: &str, order: &str) -> Response {
    let order = order.to_owned();
    match xml_tag(xml, "TX_CODE") {
        Some("5W1002") => match g.payments.get(&order) {
            None => reply("0130Z0100004", "流水记录不存在", ""),
            Some(p) => {
                // ORDER_STATUS [I]: 0 失败/取消, 1 成功, 2 待支付, 5 已退款 (any refund recorded).
                let refunded: i64 = p.refunds.values().map(|f| f.0).sum();
                let status = match (&p.status, refunded) {
                    (Status::Paid, 0) => "1",
                    (Status::Paid, _) => "5",
                    (Status::Pending, _) => "2",
                    (Status::Cancelled, _) => "0",
                };
                reply(
                    "000000",
                    "成功",
                    &format!(
                        "<ORDER>{order}</ORDER><PAYMENT_MONEY>{}</PAYMENT_MONEY><REFUND_MONEY>{}</REFUND_MONEY><ORDER_STATUS>{status}</ORDER_STATUS>",
                        p.amount.to_yuan_string(),
                        Fen(refunded).to_yuan_string()
                    ),
                )
            }
        },
        Some("5W1003") => {
            let code = xml_tag(xml, "REFUND_CODE").unwrap_or("");
            match g.payments.get(&order).and_then(|p| p.refunds.get(code)) {
                None => reply("0130Z0100004", "流水记录不存在", ""),
                Some(money) => reply(
                    "000000",
                    "成功",
                    &format!(
                        "<ORDER>{order}</ORDER><REFUND_CODE>{code}</REFUND_CODE><ORDER_STATUS>1</ORDER_STATUS><REFUNDEMENT_AMOUNT>{}</REFUNDEMENT_AMOUNT>",
                        money.to_yuan_string()
                    ),
                ),
            }
        }
        Some("5W1004") => {
            let Some(money) = xml_tag(xml, "MONEY").and_then(Fen::parse_yuan).filter(|m| m.0 > 0) else {
                return reply("0130Z0100002", "退款金额错误", "");
            };
            let code = xml_tag(xml, "REFUND_CODE").unwrap_or("").to_owned();
            if g.faults.refuse_refunds_for.contains(&order) {
                return reply("0130Z0100008", "原支付账户状态异常，无法原路退回", "");
            }
            let Some(p) = g.payments.get_mut(&order) else {
                return reply("0130Z0100004", "流水记录不存在", "");
            };
            if p.status != Status::Paid {
                return reply("0130Z0100005", "订单未支付", "");
            }
            if let Some(prev) = p.refunds.get(&code) {
                return if *prev == money {
                    reply("000000", "成功", &format!("<ORDER_NUM>{order}</ORDER_NUM><AMOUNT>{}</AMOUNT>", money.to_yuan_string()))
                } else {
                    reply("0130Z0100006", "退款流水号重复", "")
                };
            }
            let refunded: i64 = p.refunds.values().map(|f| f.0).sum();
            if refunded + money.0 > p.amount.0 {
                return reply("YBLA10001112", "退款金额超过可退金额", "");
            }
            p.refunds.insert(code.clone(), money);
            let now = g.clock.now();
            g.journal.push(JournalLine { at: now, order_id: order.clone(), kind: "REFUND", amount: money, serial: code });
            reply("000000", "成功", &format!("<ORDER_NUM>{order}</ORDER_NUM><AMOUNT>{}</AMOUNT>", money.to_yuan_string()))
        }
        // The daily statement (对账单) [I]: the public material does not document the
        // download transaction, so this simulator answers `5W1005` with the day's lines as
        // text, `|`-separated, one per line, after a header (protocols.md §4.4).
        Some("5W1005") => {
            let Some(day) = xml_tag(xml, "DATE").and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").ok()) else {
                return reply("0130Z0100002", "日期格式错误", "");
            };
            let mut file = String::from("交易日期|交易时间|订单号|交易类型|交易金额|退款流水号\n");
            for l in g.journal.iter().filter(|l| domain::clock::to_local(l.at).date_naive() == day) {
                let t = domain::clock::to_local(l.at);
                file.push_str(&format!("{}|{}|{}|{}|{}|{}\n", t.format("%Y%m%d"), t.format("%H%M%S"), l.order_id, l.kind, l.amount.to_yuan_string(), l.serial));
            }
            reply("000000", "成功", &format!("<DATE>{}</DATE><FILE>{file}</FILE>", day.format("%Y%m%d")))
        }
        _ => reply("0130Z0100003", "不支持的交易码", ""),
    }
}

async fn set_faults(State(st): State<SharedCcb>, axum::Json(f): axum::Json<CcbFaults>) -> StatusCode {
    st.lock().expect("ccb lock").faults = f;
    StatusCode::NO_CONTENT
}

pub fn router(state: SharedCcb) -> Router {
    Router::new()
        .route("/CCBIS/ccbMain", post(ccb_main))
        .route("/CCBIS/payurl/{token}", get(pay_url))
        .route("/cashier/{token}", get(cashier))
        .route("/cashier/{token}/pay", post(pay))
        .route("/cashier/{token}/cancel", post(cancel))
        .route("/merchant-client", post(merchant_client))
        .route("/__sim/faults", post(set_faults))
        .with_state(state)
}
