//! The medical e-invoice platform (博思 医疗收费电子票据 hospital interface), see
//! `protocols-wave2.md` §2. The envelope is fixed by the integrations seen in the wild:
//! `POST {base}/medical-web/api/medical/{method}` with
//! `{"appid","data","noise","version","sign"}`, `data` = Base64 of the business JSON,
//! `sign = UPPER(hex(MD5("appid=…&data=…&noise=…&key=…&version=…")))` in that fixed order
//! (the key is signed, never sent). The answer's `data` decodes to
//! `{"result":"S0000","message":<Base64>}`; `message` is the business JSON on success and
//! plain error text otherwise.
//!
//! Chosen where the sources are silent, configurable or marked [I]: amounts are sent as
//! yuan strings with two decimals (Java platforms read them as BigDecimal); the method
//! names per invoice kind (one code base spells the outpatient one `invEBillOutpatient`);
//! the busType of 住院 and of the prepayment voucher; the PDF is fetched from the
//! `pictureUrl` the platform answers.
//!
//! This module is pure (signing, building, parsing: what the fuzz target drives); the
//! HTTP client is in `client`.
#[cfg(feature = "http")]
mod client;

#[cfg(feature = "http")]
pub use client::{EInvoiceClient, EInvoiceClientConfig};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use domain::Fen;
use domain::invoices::{InvoiceKind, InvoiceRequest, InvoiceStatus, IssuedInvoice, ReversalInvoice};
use serde_json::{Value, json};

/// The platform's success code; every other code is a refusal with a text.
pub const SUCCESS: &str = "S0000";

/// The platform's method for each kind of invoice (deployment-specific spellings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Methods {
    pub registration: String,
    pub outpatient: String,
    pub inpatient: String,
    /// [I]: the prepayment voucher's issuing method is not in the sources.
    pub prepayment: String,
}

impl Default for Methods {
    fn default() -> Self {
        Self {
            registration: "invEBillRegistration".into(),
            outpatient: "invoiceEBillOutpatient".into(),
            inpatient: "invEBillHospitalized".into(),
            prepayment: "invEBillPrepayment".into(),
        }
    }
}

impl Methods {
    pub fn for_kind(&self, k: InvoiceKind) -> &str {
        match k {
            InvoiceKind::Registration => &self.registration,
            InvoiceKind::Outpatient => &self.outpatient,
            InvoiceKind::Inpatient => &self.inpatient,
            InvoiceKind::Prepayment => &self.prepayment,
        }
    }

    /// The kind a method issues, for the simulator.
    pub fn kind_of(&self, method: &str) -> Option<InvoiceKind> {
        InvoiceKind::ALL.into_iter().find(|k| self.for_kind(*k) == method)
    }
}

/// busType per kind: 02 门诊 and 06 挂号 are in the sources; 住院 01 and 预交金 07 are [I].
pub fn bus_type(k: InvoiceKind) -> &'static str {
    match k {
        InvoiceKind::Outpatient => "02",
        InvoiceKind::Registration => "06",
        InvoiceKind::Inpatient => "01",
        InvoiceKind::Prepayment => "07",
    }
}

/// The envelope's signature over its fields in the platform's fixed order.
pub fn envelope_sign(appid: &str, data: &str, noise: &str, key: &str, version: &str) -> String {
    crypto::mac::md5_hex(format!("appid={appid}&data={data}&noise={noise}&key={key}&version={version}").as_bytes()).to_ascii_uppercase()
}

/// The request envelope for `params`.
pub fn envelope(appid: &str, key: &str, noise: &str, params: &Value) -> Value {
    let data = B64.encode(params.to_string());
    let sign = envelope_sign(appid, &data, noise, key, "1.0");
    json!({"appid": appid, "data": data, "noise": noise, "version": "1.0", "sign": sign})
}

/// A request envelope the platform accepts: signed right, with its params decoded.
pub fn open_envelope(body: &[u8], appid: &str, key: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("报文不是JSON: {e}"))?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).ok_or_else(|| format!("缺少{k}"));
    let (given_appid, data, noise, version, sign) = (field("appid")?, field("data")?, field("noise")?, field("version")?, field("sign")?);
    if given_appid != appid {
        return Err("appid不存在".into());
    }
    let expected = envelope_sign(given_appid, data, noise, key, version);
    if !crypto::constant_time_eq(expected.as_bytes(), sign.as_bytes()) {
        return Err("签名验证失败".into());
    }
    let raw = B64.decode(data).map_err(|_| "data不是Base64".to_owned())?;
    serde_json::from_slice(&raw).map_err(|e| format!("data不是JSON: {e}"))
}

/// The platform's answer envelope: `result` and its message (Base64 inside Base64).
pub fn answer(result: &str, message: &str, noise: &str) -> Value {
    let inner = json!({"result": result, "message": B64.encode(message)});
    json!({"data": B64.encode(inner.to_string()), "noise": noise})
}

/// What an answer says: the business JSON, or the refusal's code and text.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Ok(Value),
    Refused { code: String, text: String },
}

/// Opens an answer envelope. Anything that is not the promised shape is an error (an
/// answer we cannot read is not a refusal: the caller treats it as unknown).
pub fn decode_answer(body: &[u8]) -> Result<Answer, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
    let data = v.get("data").and_then(Value::as_str).ok_or("answer lacks data")?;
    let inner: Value = serde_json::from_slice(&B64.decode(data).map_err(|_| "data is not Base64")?).map_err(|e| format!("data is not JSON: {e}"))?;
    let result = inner.get("result").and_then(Value::as_str).ok_or("answer lacks result")?;
    let message = inner.get("message").and_then(Value::as_str).unwrap_or("");
    let text = String::from_utf8(B64.decode(message).map_err(|_| "message is not Base64")?).map_err(|_| "message is not UTF-8")?;
    if result == SUCCESS {
        Ok(Answer::Ok(serde_json::from_str(&text).map_err(|e| format!("message is not JSON: {e}"))?))
    } else {
        Ok(Answer::Refused { code: result.to_owned(), text: text.chars().take(200).collect() })
    }
}

/// 17-digit yyyyMMddHHmmssSSS in Beijing time.
pub fn bus_date_time(t: DateTime<Utc>) -> String {
    domain::clock::to_local(t).format("%Y%m%d%H%M%S%3f").to_string()
}

fn yuan(f: Fen) -> String {
    f.to_yuan_string()
}

/// Reads an amount the way the platform writes it: a yuan string or number, two decimals at most.
pub fn parse_amount(v: &Value) -> Option<Fen> {
    match v {
        Value::String(s) => Fen::parse_yuan(s),
        Value::Number(n) => Fen::parse_yuan(&n.to_string()),
        _ => None,
    }
}

/// The business params of an issue request.
pub fn issue_params(req: &InvoiceRequest, place_code: &str, payee: &str) -> Value {
    let a = req.amounts;
    let mut p = json!({
        "busNo": req.bus_no,
        "busType": bus_type(req.kind),
        "payer": req.payer_name,
        "busDateTime": bus_date_time(req.bus_time),
        "placeCode": place_code,
        "payee": payee,
        "author": payee,
        "totalAmt": yuan(a.total),
        "remark": req.remark,
        "payerType": "1",
        "idCardNo": req.id_card_no,
        "cardType": "1",
        "cardNo": req.card_no,
        "patientId": req.his_patient_id,
        "category": req.dept,
        "weChatOrderNo": req.order_no,
        "fundPay": yuan(a.fund),
        "accountPay": yuan(a.account),
        "otherfundPay": yuan(a.other_fund),
        "ownPay": yuan(a.own),
        "selfCashPay": yuan(a.own),
        "isArrears": "0",
        "payChannelDetail": req.pay_channels.iter().map(|c| json!({"payChannelCode": c.code, "payChannelValue": yuan(c.amount)})).collect::<Vec<_>>(),
        "chargeDetail": req.charges.iter().enumerate().map(|(i, c)| json!({
            "sortNo": i + 1, "chargeCode": c.code, "chargeName": c.name, "std": c.spec, "number": c.qty,
            "amt": yuan(c.amount), "selfAmt": yuan(c.self_amount),
        })).collect::<Vec<_>>(),
    });
    if let Some((no, bed, from, to)) = &req.stay {
        p["hospitalNo"] = json!(no);
        p["bedNo"] = json!(bed);
        p["inHospitalDate"] = json!(from.format("%Y%m%d").to_string());
        p["outHospitalDate"] = json!(to.format("%Y%m%d").to_string());
    }
    p
}

/// The invoice in an issue or lookup answer.
pub fn parse_issued(v: &Value) -> Result<IssuedInvoice, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let need = |k: &str| s(k).filter(|x| !x.is_empty()).ok_or_else(|| format!("answer lacks {k}"));
    Ok(IssuedInvoice {
        batch_code: need("billBatchCode")?,
        bill_no: need("billNo")?,
        check_code: need("random")?,
        issued_at: s("createTime").unwrap_or_default(),
        qr_png_base64: s("billQRCode").unwrap_or_default(),
        picture_url: s("pictureUrl").unwrap_or_default(),
        view_url: s("pictureNetUrl").unwrap_or_default(),
    })
}

pub fn parse_reversal(v: &Value) -> Result<ReversalInvoice, String> {
    let need = |k: &str| v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty()).map(str::to_owned).ok_or_else(|| format!("answer lacks {k}"));
    Ok(ReversalInvoice { batch_code: need("eScarletBillBatchCode")?, bill_no: need("eScarletBillNo")? })
}

pub fn parse_status(v: &Value) -> Result<InvoiceStatus, String> {
    let code = |k: &str| v.get(k).map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string())).ok_or_else(|| format!("answer lacks {k}"));
    let state = code("state")?;
    let scarlet = code("isScarlet")?;
    match (state.as_str(), scarlet.as_str()) {
        ("1" | "2", "0" | "1") => Ok(InvoiceStatus { voided: state == "2", reversed: scarlet == "1" }),
        _ => Err(format!("unknown state {state}/{scarlet}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_fixed_order_md5_in_capitals() {
        // Computed independently: python3 hashlib.md5(b"appid=HOSP01&data=eyJhIjoxfQ==&noise=n-1&key=secret&version=1.0").
        assert_eq!(envelope_sign("HOSP01", "eyJhIjoxfQ==", "n-1", "secret", "1.0"), "DE08394BD0ED62D7A738243F2AE4CE53");
    }

    #[test]
    fn an_envelope_opens_only_with_its_key_and_untouched() {
        let env = envelope("HOSP01", "k", "n", &json!({"busNo": "B1"}));
        assert_eq!(open_envelope(env.to_string().as_bytes(), "HOSP01", "k").unwrap()["busNo"], "B1");
        assert!(open_envelope(env.to_string().as_bytes(), "HOSP01", "other").is_err());
        let mut forged = env.clone();
        forged["data"] = json!(B64.encode(r#"{"busNo":"B2"}"#));
        assert!(open_envelope(forged.to_string().as_bytes(), "HOSP01", "k").is_err());
    }

    #[test]
    fn answers_carry_the_business_json_or_the_refusal_text() {
        let ok = answer(SUCCESS, r#"{"billNo":"0001"}"#, "n");
        assert_eq!(decode_answer(ok.to_string().as_bytes()).unwrap(), Answer::Ok(json!({"billNo": "0001"})));
        let no = answer("E0001", "票据号段已用完", "n");
        assert_eq!(decode_answer(no.to_string().as_bytes()).unwrap(), Answer::Refused { code: "E0001".into(), text: "票据号段已用完".into() });
        assert!(decode_answer(b"<html>").is_err());
        assert!(decode_answer(br#"{"data":"!!"}"#).is_err());
    }

    #[test]
    fn amounts_and_times_are_written_as_the_platform_reads_them() {
        assert_eq!(parse_amount(&json!("12.30")), Some(Fen(1230)));
        assert_eq!(parse_amount(&json!(12.3)), Some(Fen(1230)));
        assert_eq!(parse_amount(&json!("12.345")), None);
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-06T01:02:03.004Z").unwrap().with_timezone(&Utc);
        assert_eq!(bus_date_time(t), "20261206090203004");
    }
}
