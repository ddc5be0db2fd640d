//! The insurance centre connector: 6201 fee upload, 6202 pay order, 6301 query, 6203
//! refund, 6401 revoke, each sealed with the envelope and each answer opened and
//! verified. Amounts cross the wire as yuan strings and are parsed exactly. A 6202
//! "success" is not payment success: only `ordStas` (from 6301 or a callback) is.
use super::envelope::{EnvelopeError, Party};
#[cfg(feature = "http")]
use crate::http::{HttpExecutor, TransportError};
#[cfg(feature = "http")]
use domain::Clock;
#[cfg(feature = "http")]
use domain::ports::{FeeLine, InsuranceCentrePort};
use domain::{DomainError, ErrorCode, Fen};
use serde_json::{Map, Value, json};
#[cfg(feature = "http")]
use std::sync::Arc;
#[cfg(feature = "http")]
use std::time::Duration;

/// Relay paths as observed in city deployments (protocols.md §1.1); the prefix is the
/// city's, so only the base URL is configured.
pub const PATH_6201: &str = "/org/local/api/hos/uldFeeInfo";
pub const PATH_6202: &str = "/org/local/api/hos/pay_order";
pub const PATH_6203: &str = "/org/local/api/hos/refund_Order";
pub const PATH_6301: &str = "/org/local/api/hos/query_order_info";
pub const PATH_6401: &str = "/org/local/api/hos/revoke_order";
/// Daily statements (对总账 / 对明细账). The mobile-payment relay paths for these are not
/// in the public material; these are our choice [I] and only the base URL is configured.
pub const PATH_3201: &str = "/org/local/api/hos/stmt_total";
pub const PATH_3202: &str = "/org/local/api/hos/stmt_detail";

pub use domain::ports::{CentreLine, FeeUpload, InsuranceSettlement as Settlement, OrdStasClass, classify_ord_stas as classify};

/// Fund + personal account + mutual aid + cash must equal the total (P9); an answer
/// that does not add up is refused.
fn adds_up(s: &Settlement) -> bool {
    s.fund_pay.0 + s.psn_acct_pay.0 + s.acct_mulaid_pay.0 + s.own_pay_amt.0 == s.fee_sumamt.0
}

#[cfg(feature = "http")]
pub struct NhsaClient {
    base_url: String,
    party: Party,
    http: HttpExecutor,
    clock: Arc<dyn Clock>,
}

fn yuan(v: &Value, k: &str) -> Result<Fen, DomainError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(Fen::ZERO),
        Some(Value::String(s)) if s.is_empty() => Ok(Fen::ZERO),
        Some(Value::String(s)) => Fen::parse_yuan(s).ok_or_else(|| malformed(&format!("{k} not yuan"))),
        Some(Value::Number(n)) => Fen::parse_yuan(&n.to_string()).ok_or_else(|| malformed(&format!("{k} not yuan"))),
        _ => Err(malformed(&format!("{k} not yuan"))),
    }
}

fn text(v: &Value, k: &str) -> Result<String, DomainError> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned).ok_or_else(|| malformed(&format!("missing {k}")))
}

fn malformed(why: &str) -> DomainError {
    DomainError::new(ErrorCode::UpstreamUnavailable, format!("nhsa: malformed answer: {why}"))
}

/// The settlement fields of a centre's answer (6202, 6301), refusing an unknown
/// `ordStas`, a non-yuan amount or parts that do not sum to the total.
pub fn settlement(d: &Value) -> Result<Settlement, DomainError> {
    let s = Settlement {
        ord_stas: d.get("ordStas").map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).ok_or_else(|| malformed("missing ordStas"))?,
        fee_sumamt: yuan(d, "feeSumamt")?,
        own_pay_amt: yuan(d, "ownPayAmt")?,
        psn_acct_pay: yuan(d, "psnAcctPay")?,
        fund_pay: yuan(d, "fundPay")?,
        acct_mulaid_pay: yuan(d, "acctMulaidPay")?,
    };
    if classify(&s.ord_stas).is_none() {
        return Err(malformed("unknown ordStas"));
    }
    if s.fee_sumamt.0 > 0 && !adds_up(&s) {
        return Err(malformed("parts do not sum to feeSumamt"));
    }
    Ok(s)
}

#[cfg(feature = "http")]
impl NhsaClient {
    pub fn new(base_url: &str, party: Party, timeout: Duration, clock: Arc<dyn Clock>) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), party, http: HttpExecutor::new(timeout), clock }
    }

    async fn call(&self, infno: &str, path: &str, data: Value) -> Result<Value, DomainError> {
        let mut f = Map::new();
        f.insert("encType".into(), json!("SM4"));
        f.insert("signType".into(), json!("SM2"));
        f.insert("timestamp".into(), json!(self.clock.now().timestamp_millis().to_string()));
        f.insert("version".into(), json!("2.0.1"));
        let wire = self.party.seal(f, &data);
        let req = self.http.client().post(format!("{}{path}", self.base_url)).header("content-type", "application/json").body(wire.to_string());
        let body = self.http.send(req).await.map_err(|e| {
            let why = match e {
                TransportError::Unreachable(_) => "unreachable",
                _ => "no answer (outcome unknown)",
            };
            DomainError::new(ErrorCode::UpstreamUnavailable, format!("nhsa {infno}: {why}: {e}"))
        })?;
        let answer: Value = body.json().map_err(|e| malformed(&e.to_string()))?;
        // Protocol fields first, then the business code, then the transaction status.
        let code = answer.get("code").map(|c| c.as_str().map(str::to_owned).unwrap_or_else(|| c.to_string())).unwrap_or_default();
        if code != "0" {
            let msg = answer.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(DomainError::new(ErrorCode::UpstreamUnavailable, format!("nhsa {infno} refused code {code}: {msg}")));
        }
        let (data, _) = self.party.open(&answer).map_err(|e: EnvelopeError| DomainError::new(ErrorCode::UpstreamUnavailable, format!("nhsa {infno}: {e}")))?;
        Ok(data)
    }
}

#[cfg(feature = "http")]
#[async_trait::async_trait]
impl InsuranceCentrePort for NhsaClient {
    /// 6201: uploads the visit's fee lines; `medfee_sumamt` must equal their sum, and
    /// `insurable` is the part within the insurance catalogue (`inscpScpAmt`).
    /// `pooled` is false when the visit is outside the patient's outpatient pooling (a tier-2
    /// patient without a referral paying through 家庭共济): the centre then pays nothing from
    /// the fund. How a hospital tells the centre so is not public; we send it in `extData`
    /// as `poolPayFlag` "0"/"1" [I] — a real adapter may need `medType` or `psnSetlway` instead.
    async fn upload_fees(&self, med_org_ord: &str, pay_auth_no: &str, lines: &[FeeLine], insurable: Fen, pooled: bool) -> Result<FeeUpload, DomainError> {
        let total: i64 = lines.iter().map(|l| l.2.0).sum();
        let data = json!({
            "extData": {"poolPayFlag": if pooled { "1" } else { "0" }},
            "medOrgOrd": med_org_ord, "payAuthNo": pay_auth_no, "medType": "11",
            "medfeeSumamt": Fen(total).to_yuan_string(), "inscpScpAmt": insurable.to_yuan_string(),
            "fulamtOwnpayAmt": Fen(total - insurable.0).to_yuan_string(),
            "feedetailList": lines.iter().map(|(code, name, amt)| json!({"medListCodg": code, "medListName": name, "cnt": "1", "pric": amt.to_yuan_string(), "detItemFeeSumamt": amt.to_yuan_string()})).collect::<Vec<_>>(),
        });
        let d = self.call("6201", PATH_6201, data).await?;
        Ok(FeeUpload { pay_ord_id: text(&d, "payOrdId")?, pay_token: text(&d, "payToken")? })
    }

    /// 6202: pre-settles with the patient's authorisation; returns the split.
    async fn pay_order(&self, up: &FeeUpload, pay_auth_no: &str, use_personal_account: bool) -> Result<Settlement, DomainError> {
        let d = self.call("6202", PATH_6202, json!({"payAuthNo": pay_auth_no, "payOrdId": up.pay_ord_id, "payToken": up.pay_token, "acctUsedFlag": if use_personal_account { "1" } else { "0" }})).await?;
        settlement(&d)
    }

    /// 6301: where the order stands at the centre — the answer to every uncertainty.
    async fn query(&self, up: &FeeUpload) -> Result<Settlement, DomainError> {
        let d = self.call("6301", PATH_6301, json!({"payOrdId": up.pay_ord_id, "payToken": up.pay_token})).await?;
        settlement(&d)
    }

    /// 6203: refunds; `app_refd_sn` is stable per refund so a retry is the same refund.
    async fn refund(&self, up: &FeeUpload, app_refd_sn: &str, refd_type: &str, fund: Fen, psn_acct: Fen, cash: Fen) -> Result<String, DomainError> {
        let total = Fen(fund.0 + psn_acct.0 + cash.0);
        let d = self
            .call(
                "6203",
                PATH_6203,
                json!({"payOrdId": up.pay_ord_id, "appRefdSn": app_refd_sn, "appRefdTime": domain::clock::to_local(self.clock.now()).format("%Y%m%d%H%M%S").to_string(), "totlRefdAmt": total.to_yuan_string(), "fundRefdAmt": fund.to_yuan_string(), "psnAcctRefdAmt": psn_acct.to_yuan_string(), "cashRefdAmt": cash.to_yuan_string(), "refdType": refd_type}),
            )
            .await?;
        let s = text(&d, "refStatus")?;
        if !matches!(s.as_str(), "SUCC" | "FAIL" | "EXP") {
            return Err(malformed("unknown refStatus"));
        }
        Ok(s)
    }

    /// 3202: the centre's settlement and refund lines of a local day.
    async fn statement_detail(&self, day: chrono::NaiveDate) -> Result<Vec<CentreLine>, DomainError> {
        let d = self.call("3202", PATH_3202, json!({"stmtDate": day.to_string()})).await?;
        let lines = d.get("detail").and_then(Value::as_array).ok_or_else(|| malformed("3202 without detail"))?;
        lines
            .iter()
            .map(|l| {
                let kind = text(l, "type")?;
                if kind != "SETL" && kind != "REFD" {
                    return Err(malformed("3202 line type"));
                }
                Ok(CentreLine {
                    pay_ord_id: text(l, "payOrdId")?,
                    med_org_ord: text(l, "medOrgOrd")?,
                    refund: kind == "REFD",
                    fund: yuan(l, "fundPay")?,
                    psn_acct: yuan(l, "psnAcctPay")?,
                    serial: l.get("serial").and_then(Value::as_str).unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    /// 3201: whether the centre's totals of a day agree with ours (net fund and account).
    async fn statement_total(&self, day: chrono::NaiveDate, fund: Fen, psn_acct: Fen) -> Result<bool, DomainError> {
        let d = self
            .call("3201", PATH_3201, json!({"stmtDate": day.to_string(), "fundPaySumamt": fund.to_yuan_string(), "acctPaySumamt": psn_acct.to_yuan_string()}))
            .await?;
        match text(&d, "stmtRslt")?.as_str() {
            "0" => Ok(true),
            "1" => Ok(false),
            _ => Err(malformed("3201 stmtRslt")),
        }
    }

    /// 6401: revokes an upload that was never paid.
    async fn revoke(&self, up: &FeeUpload) -> Result<(), DomainError> {
        self.call("6401", PATH_6401, json!({"payOrdId": up.pay_ord_id, "payToken": up.pay_token})).await.map(|_| ())
    }
}
