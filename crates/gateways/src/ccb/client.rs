//! The bank connector: creates a payment (TXCODE 530550 → PAYURL → QRURL), queries it
//! (5W1002) and refunds it (5W1004) through the merchant client, and verifies result
//! notifications. The merchant client's transport (XML over HTTP, UTF-8) is our choice
//! where the public material stops [I]; the real one is a local TCP client in GB2312.
use super::signing::{self, Notification, NotifyError, OrderFields, SignDigest};
#[cfg(feature = "http")]
use crate::http::HttpExecutor;
use crypto::rsa_sha256::RsaVerifier;
#[cfg(feature = "http")]
use domain::ports::{BankNotification, BankPort};
use domain::{DomainError, ErrorCode, Fen};
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct CcbClientConfig {
    /// Base of `/CCBIS/ccbMain` (the bank's host in production).
    pub base_url: String,
    /// The merchant client's URL.
    pub merchant_client_url: String,
    pub merchant_id: String,
    pub pos_id: String,
    pub branch_id: String,
    pub user_id: String,
    pub password: domain::Secret,
    /// The bank-issued public key (PEM or bare Base64).
    pub bank_public_key: String,
    pub digest: SignDigest,
    pub timeout: Duration,
}

#[cfg(feature = "http")]
pub struct CcbClient {
    cfg: CcbClientConfig,
    verifier: RsaVerifier,
    pub_tail: String,
    http: HttpExecutor,
}

pub use domain::ports::{BankOrder, BankStatementLine as StatementLine, BankStatus};

fn unavailable(d: String) -> DomainError {
    DomainError::new(ErrorCode::UpstreamUnavailable, d)
}

/// The text of the first `<tag>…</tag>` in a flat merchant-client message.
pub fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(feature = "http")]
impl CcbClient {
    pub fn new(cfg: CcbClientConfig) -> Result<Self, DomainError> {
        let body: String = cfg.bank_public_key.lines().filter(|l| !l.starts_with("-----")).collect::<String>().chars().filter(|c| !c.is_whitespace()).collect();
        let pem = if cfg.bank_public_key.contains("BEGIN") {
            cfg.bank_public_key.clone()
        } else {
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
        };
        let verifier = RsaVerifier::from_public_key_pem(&pem).map_err(|e| DomainError::new(ErrorCode::Internal, format!("ccb bank key: {e}")))?;
        let http = HttpExecutor::new(cfg.timeout);
        Ok(Self { pub_tail: signing::pub_tail(&body), cfg, verifier, http })
    }

    /// Creates the bank order (530550 → PAYURL → QRURL) and returns the cashier URL the
    /// patient opens (or that a QR code carries). `remark1` travels back in the notification.
    pub async fn create_payment_with_remark(&self, order_id: &str, amount: Fen, remark1: &str) -> Result<String, DomainError> {
        let fields = OrderFields {
            merchant_id: self.cfg.merchant_id.clone(),
            pos_id: self.cfg.pos_id.clone(),
            branch_id: self.cfg.branch_id.clone(),
            order_id: order_id.to_owned(),
            payment: amount,
            remark1: remark1.to_owned(),
            remark2: String::new(),
            timeout: String::new(),
        };
        #[derive(Deserialize)]
        #[allow(non_snake_case)]
        struct Step {
            SUCCESS: String,
            PAYURL: Option<String>,
            QRURL: Option<String>,
            ERRCODE: Option<String>,
        }
        let url = format!("{}/CCBIS/ccbMain", self.cfg.base_url.trim_end_matches('/'));
        let s1: Step = self
            .http
            .send(self.http.client().post(url).form(&signing::order_form(&fields, &self.pub_tail)))
            .await
            .map_err(|e| unavailable(format!("ccb 530550: {e}")))?
            .json()
            .map_err(|e| unavailable(format!("ccb 530550: {e}")))?;
        if s1.SUCCESS != "true" {
            return Err(unavailable(format!("ccb 530550 refused {}", s1.ERRCODE.unwrap_or_default())));
        }
        let pay_url = s1.PAYURL.ok_or_else(|| unavailable("ccb 530550: no PAYURL".into()))?;
        let s2: Step = self
            .http
            .send(self.http.client().get(pay_url))
            .await
            .map_err(|e| unavailable(format!("ccb PAYURL: {e}")))?
            .json()
            .map_err(|e| unavailable(format!("ccb PAYURL: {e}")))?;
        let qr = s2.QRURL.filter(|_| s2.SUCCESS == "true").ok_or_else(|| unavailable("ccb PAYURL: no QRURL".into()))?;
        percent_decode(&qr).ok_or_else(|| unavailable("ccb QRURL not URL-encoded text".into()))
    }

    async fn merchant_client(&self, tx_code: &str, info: &str) -> Result<String, DomainError> {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><TX><REQUEST_SN>{}</REQUEST_SN><CUST_ID>{}</CUST_ID><USER_ID>{}</USER_ID><PASSWORD>{}</PASSWORD><TX_CODE>{tx_code}</TX_CODE><LANGUAGE>CN</LANGUAGE><TX_INFO>{info}</TX_INFO></TX>",
            hex::encode(crypto::random_bytes::<8>()),
            xml_escape(&self.cfg.merchant_id),
            xml_escape(&self.cfg.user_id),
            xml_escape(self.cfg.password.expose())
        );
        let body = self
            .http
            .send(self.http.client().post(&self.cfg.merchant_client_url).header("content-type", "application/xml; charset=utf-8").body(xml))
            .await
            .map_err(|e| unavailable(format!("ccb {tx_code}: {e}")))?;
        Ok(String::from_utf8_lossy(&body.0).into_owned())
    }

    /// Parses and verifies a result notification from its form pairs.
    pub fn verify_signed(&self, pairs: &[(String, String)]) -> Result<Notification, NotifyError> {
        let n = Notification::from_pairs(pairs)?;
        n.verify(&self.verifier, self.cfg.digest)?;
        n.amount()?;
        Ok(n)
    }
}

#[cfg(feature = "http")]
#[async_trait::async_trait]
impl BankPort for CcbClient {
    async fn create_payment(&self, order_id: &str, amount: Fen) -> Result<String, DomainError> {
        self.create_payment_with_remark(order_id, amount, "").await
    }

    /// 5W1002: the bank's word on an order.
    async fn query(&self, order_id: &str) -> Result<Option<BankOrder>, DomainError> {
        let x = self
            .merchant_client(
                "5W1002",
                &format!(
                    "<START></START><END></END><KIND>0</KIND><ORDER>{}</ORDER><DEXCEL>1</DEXCEL><NORDERBY>2</NORDERBY><STATUS>3</STATUS>",
                    xml_escape(order_id)
                ),
            )
            .await?;
        match xml_tag(&x, "RETURN_CODE") {
            Some("000000") => {}
            Some("0130Z0100004") => return Ok(None),
            other => return Err(unavailable(format!("ccb 5W1002 code {other:?}"))),
        }
        let money = |t| xml_tag(&x, t).and_then(Fen::parse_yuan).ok_or_else(|| unavailable(format!("ccb 5W1002 malformed {t}")));
        let status = match xml_tag(&x, "ORDER_STATUS") {
            Some("1") => BankStatus::Paid,
            Some("2") => BankStatus::Pending,
            Some("5") => BankStatus::Refunded,
            Some("0") => BankStatus::Failed,
            other => return Err(unavailable(format!("ccb 5W1002 ORDER_STATUS {other:?}"))),
        };
        Ok(Some(BankOrder { status, amount: money("PAYMENT_MONEY")?, refunded: money("REFUND_MONEY")? }))
    }

    /// The daily statement (对账单) of a local day. The download transaction is not in the
    /// public material; `5W1005` with a `|`-separated text file is our choice [I], kept
    /// behind this one function so a deployment changes it here.
    async fn statement(&self, day: chrono::NaiveDate) -> Result<Vec<StatementLine>, DomainError> {
        let x = self.merchant_client("5W1005", &format!("<DATE>{}</DATE>", day.format("%Y%m%d"))).await?;
        if xml_tag(&x, "RETURN_CODE") != Some("000000") {
            return Err(unavailable(format!("ccb 5W1005 code {:?}", xml_tag(&x, "RETURN_CODE"))));
        }
        let file = xml_tag(&x, "FILE").ok_or_else(|| unavailable("ccb 5W1005 without FILE".into()))?;
        parse_statement(file)
    }

    /// 5W1004: refunds `amount`; `refund_code` is stable per refund, so a retry after a
    /// lost answer is the same refund.
    async fn refund(&self, order_id: &str, refund_code: &str, amount: Fen) -> Result<(), DomainError> {
        let x = self
            .merchant_client(
                "5W1004",
                &format!(
                    "<MONEY>{}</MONEY><ORDER>{}</ORDER><REFUND_CODE>{}</REFUND_CODE>",
                    amount.to_yuan_string(),
                    xml_escape(order_id),
                    xml_escape(refund_code)
                ),
            )
            .await?;
        match xml_tag(&x, "RETURN_CODE") {
            Some("000000") if xml_tag(&x, "AMOUNT").and_then(Fen::parse_yuan) == Some(amount) => Ok(()),
            Some("YBLA10001112") => Err(DomainError::new(ErrorCode::RefundExceedsCaptured, "ccb: refund above what is left")),
            other => Err(unavailable(format!("ccb 5W1004 code {other:?}"))),
        }
    }

    /// 5W1003: whether the bank carried out the refund `refund_code`, and for how much.
    /// `None` = the bank has no such refund (it may be issued, or issued again).
    async fn refund_query(&self, order_id: &str, refund_code: &str) -> Result<Option<Fen>, DomainError> {
        let x = self
            .merchant_client("5W1003", &format!("<ORDER>{}</ORDER><REFUND_CODE>{}</REFUND_CODE><KIND>0</KIND>", xml_escape(order_id), xml_escape(refund_code)))
            .await?;
        match xml_tag(&x, "RETURN_CODE") {
            Some("000000") => {}
            Some("0130Z0100004") => return Ok(None),
            other => return Err(unavailable(format!("ccb 5W1003 code {other:?}"))),
        }
        // ORDER_STATUS [I]: 1 refunded; anything else is not (yet) a refund.
        if xml_tag(&x, "ORDER_STATUS") != Some("1") {
            return Ok(None);
        }
        let amount =
            xml_tag(&x, "REFUNDEMENT_AMOUNT").and_then(Fen::parse_yuan).ok_or_else(|| unavailable("ccb 5W1003 malformed REFUNDEMENT_AMOUNT".into()))?;
        Ok(Some(amount))
    }

    fn verify_notification(&self, pairs: &[(String, String)]) -> Result<BankNotification, DomainError> {
        let n = self.verify_signed(pairs).map_err(|e| match e {
            NotifyError::BadAmount => DomainError::new(ErrorCode::AmountMismatch, "ccb notification amount"),
            e => DomainError::new(ErrorCode::BadRequest, format!("ccb notification: {e}")),
        })?;
        // Signed by the bank, but for this hospital's counter? The notification names the
        // POS and branch (and, in some deployments, the merchant [I]); any other is refused.
        let merchant = pairs.iter().find(|(k, _)| k == "MERCHANTID").map(|(_, v)| v.as_str());
        if n.pos_id != self.cfg.pos_id || n.branch_id != self.cfg.branch_id || merchant.is_some_and(|m| m != self.cfg.merchant_id) {
            return Err(DomainError::new(ErrorCode::MerchantMismatch, "ccb notification for another merchant, POS or branch"));
        }
        let amount = n.amount().map_err(|_| DomainError::new(ErrorCode::AmountMismatch, "ccb notification amount"))?;
        let accounting_date = match n.acc_date.as_deref().filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y%m%d")
                    .map_err(|_| DomainError::new(ErrorCode::BadRequest, "ccb notification ACCDATE is not YYYYMMDD"))?,
            ),
        };
        // The bank gives no event id: the verified content identifies a notification.
        let event_id = crypto::sm3::hex_digest(n.verify_string().as_bytes());
        Ok(BankNotification { paid: n.says_paid(), order_id: n.order_id, amount, event_id, accounting_date })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses the statement text: a header, then `date|time|order|PAY or REFUND|yuan|serial`.
/// A line that does not parse fails the whole file (a statement is all or nothing).
pub fn parse_statement(file: &str) -> Result<Vec<StatementLine>, DomainError> {
    file.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            let bad = || unavailable(format!("ccb statement line malformed: {}", l.chars().take(80).collect::<String>()));
            if f.len() != 6 || f[2].is_empty() {
                return Err(bad());
            }
            let refund = match f[3] {
                "PAY" => false,
                "REFUND" => true,
                _ => return Err(bad()),
            };
            let amount = Fen::parse_yuan(f[4]).filter(|a| a.0 > 0).ok_or_else(bad)?;
            Ok(StatementLine { order_id: f[2].to_owned(), refund, amount, serial: f[5].to_owned() })
        })
        .collect()
}
