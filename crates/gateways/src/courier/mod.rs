//! The courier connector: SF Express 丰桥's JSON "std/service" API (protocols-wave2 §1).
//! A form post of `partnerID, requestID, serviceCode, timestamp, msgDigest, msgData`, where
//! `msgDigest = Base64(MD5(javaUrlEncode(msgData + timestamp + checkWord)))`; the answer is
//! `{apiResultCode, apiErrorMsg, apiResultData}` with the business result (a JSON string,
//! or an object in some copies of the docs: both are read) inside. Route pushes come as
//! `{"Body":{"WaybillRoute":[…]}}` and are answered `{"return_code":"0000", …}`.
//!
//! Pure functions here (the fuzz build and the simulator use them); the transport is in
//! `client`.
#[cfg(feature = "http")]
pub mod client;

use base64::Engine;
use chrono::NaiveDateTime;
use domain::ports::{RouteStep, ShipmentOutcome, ShipmentParty, ShipmentRequest};
use serde_json::{Value, json};

pub const CREATE_ORDER: &str = "EXP_RECE_CREATE_ORDER";
pub const UPDATE_ORDER: &str = "EXP_RECE_UPDATE_ORDER";
pub const SEARCH_ROUTES: &str = "EXP_RECE_SEARCH_ROUTES";

/// `java.net.URLEncoder.encode(s, "UTF-8")`: `A–Z a–z 0–9 . - * _` kept, space as `+`,
/// every other byte `%XX` in capitals.
pub fn java_url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The request's signature over exactly the `msgData` sent.
pub fn msg_digest(msg_data: &str, timestamp: &str, check_word: &str) -> String {
    let signed = java_url_encode(&format!("{msg_data}{timestamp}{check_word}"));
    base64::engine::general_purpose::STANDARD.encode(crypto::mac::md5(signed.as_bytes()))
}

/// The platform's code for "accepted; the business result is inside".
pub const ACCEPTED: &str = "A1000";
/// The business code of success.
pub const BUSINESS_OK: &str = "S0000";

/// An answer opened: the business `msgData`, or a refusal (the platform's A-code, or the
/// business errorCode) with its text.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Ok(Value),
    Refused { code: String, text: String },
}

/// Opens an answer body; `Err` for anything that is not the documented envelope.
pub fn open_answer(body: &[u8]) -> Result<Answer, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let code = v["apiResultCode"].as_str().ok_or("no apiResultCode")?;
    if code != ACCEPTED {
        return Ok(Answer::Refused { code: code.to_owned(), text: v["apiErrorMsg"].as_str().unwrap_or_default().to_owned() });
    }
    let data = match &v["apiResultData"] {
        Value::String(s) => serde_json::from_str::<Value>(s).map_err(|e| format!("apiResultData: {e}"))?,
        o @ Value::Object(_) => o.clone(),
        _ => return Err("no apiResultData".into()),
    };
    let success = data["success"].as_bool().ok_or("apiResultData without success")?;
    let business = data["errorCode"].as_str().unwrap_or_default();
    if !success || (!business.is_empty() && business != BUSINESS_OK) {
        return Ok(Answer::Refused { code: business.to_owned(), text: data["errorMsg"].as_str().unwrap_or_default().to_owned() });
    }
    Ok(Answer::Ok(data["msgData"].clone()))
}

fn party(p: &ShipmentParty, contact_type: u8) -> Value {
    json!({
        "contactType": contact_type, "contact": p.contact, "mobile": p.mobile, "country": "CN", "province": p.province, "city": p.city,
        "county": p.county, "address": p.address, "company": p.company,
    })
}

/// The `msgData` of an order: the hospital sends (1), the applicant receives (2); paid by
/// the hospital's monthly account.
pub fn create_order_data(req: &ShipmentRequest, monthly_card: &str, express_type_id: u32) -> Value {
    json!({
        "orderId": req.order_id, "language": "zh-CN", "expressTypeId": express_type_id, "payMethod": 1, "monthlyCard": monthly_card,
        "parcelQty": 1, "isReturnRoutelabel": 1,
        "contactInfoList": [party(&req.sender, 1), party(&req.receiver, 2)],
        "cargoDetails": [{"name": req.cargo, "count": 1, "unit": "件"}],
        "remark": req.remark.chars().take(100).collect::<String>(),
    })
}

/// An order's answer: the waybill and whether the courier serves the address.
pub fn parse_created(v: &Value) -> Result<ShipmentOutcome, String> {
    let waybill = v["waybillNoInfoList"]
        .as_array()
        .and_then(|l| l.iter().find(|w| w["waybillType"].as_i64() == Some(1)).or_else(|| l.first()))
        .and_then(|w| w["waybillNo"].as_str())
        .map(str::to_owned);
    let filter = v["filterResult"].as_i64().or_else(|| v["filterResult"].as_str().and_then(|s| s.parse().ok()));
    match (filter, waybill) {
        (Some(3), _) => Ok(ShipmentOutcome::Undeliverable { reason: v["remark"].as_str().unwrap_or("不可收派").to_owned() }),
        (Some(1), Some(w)) if !w.is_empty() => Ok(ShipmentOutcome::ToBeChecked { waybill_no: w }),
        (Some(2) | None, Some(w)) if !w.is_empty() => Ok(ShipmentOutcome::Accepted { waybill_no: w }),
        _ => Err("an order answer without its waybill".into()),
    }
}

/// The `msgData` that cancels an order.
pub fn cancel_order_data(order_id: &str, waybill_no: &str) -> Value {
    json!({"orderId": order_id, "dealType": 2, "waybillNoInfoList": [{"waybillType": 1, "waybillNo": waybill_no}]})
}

/// Codes that mean "already cancelled" on a cancel: done, not a failure [I].
pub fn already_cancelled(code: &str) -> bool {
    matches!(code, "8037" | "8253")
}

/// The `msgData` of a route query by waybill.
pub fn routes_query(waybill_no: &str) -> Value {
    json!({"language": "zh-CN", "trackingType": 1, "trackingNumber": [waybill_no], "methodType": 1})
}

fn time(s: &str) -> Result<NaiveDateTime, String> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map_err(|e| format!("acceptTime {s}: {e}"))
}

/// The routes of a query answer, oldest first (the courier does not promise an order).
pub fn parse_routes(v: &Value) -> Result<Vec<RouteStep>, String> {
    let mut out = Vec::new();
    for r in v["routeResps"].as_array().ok_or("no routeResps")? {
        let mail = r["mailNo"].as_str().ok_or("route without mailNo")?;
        for s in r["routes"].as_array().map(Vec::as_slice).unwrap_or_default() {
            out.push(RouteStep {
                waybill_no: mail.to_owned(),
                at: time(s["acceptTime"].as_str().ok_or("route without acceptTime")?)?,
                place: s["acceptAddress"].as_str().unwrap_or_default().to_owned(),
                remark: s["remark"].as_str().unwrap_or_default().to_owned(),
                op_code: s["opCode"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    out.sort_by_key(|s| s.at);
    Ok(out)
}

/// One step of a route push, with the push's own id (steps are deduplicated on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedStep {
    pub id: String,
    pub order_id: String,
    pub step: RouteStep,
}

/// At most this many steps in one push (the courier's documented limit).
pub const MAX_PUSHED: usize = 10;

/// A route push body (json mode): its steps, or why it is not one.
pub fn parse_route_push(body: &[u8]) -> Result<Vec<PushedStep>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = v["Body"]["WaybillRoute"].as_array().ok_or("no Body.WaybillRoute")?;
    if list.len() > MAX_PUSHED {
        return Err(format!("{} steps in one push", list.len()));
    }
    list.iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().map(str::to_owned).ok_or(format!("route push without {k}"));
            Ok(PushedStep {
                id: r["id"].as_str().map(str::to_owned).or_else(|| r["id"].as_i64().map(|i| i.to_string())).ok_or("route push without id")?,
                order_id: r["orderid"].as_str().unwrap_or_default().to_owned(),
                step: RouteStep {
                    waybill_no: text("mailno")?,
                    at: time(&text("acceptTime")?)?,
                    place: r["acceptAddress"].as_str().unwrap_or_default().to_owned(),
                    remark: r["remark"].as_str().unwrap_or_default().to_owned(),
                    op_code: text("opCode")?,
                },
            })
        })
        .collect()
}

/// What the merchant answers a push: taken, or (the courier pushes again) not.
pub fn push_answer(taken: bool) -> Value {
    if taken { json!({"return_code": "0000", "return_msg": "成功"}) } else { json!({"return_code": "1000", "return_msg": "失败"}) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_encoding_is_javas() {
        assert_eq!(java_url_encode("aZ09.-*_ ~!'()"), "aZ09.-*_+%7E%21%27%28%29");
        assert_eq!(java_url_encode("顺丰"), "%E9%A1%BA%E4%B8%B0");
        assert_eq!(java_url_encode("{\"a\":1}"), "%7B%22a%22%3A1%7D");
    }

    #[test]
    fn the_digest_is_base64_of_the_raw_md5_of_the_encoded_concatenation() {
        let encoded = java_url_encode("{}1700000000000abc");
        assert_eq!(encoded, "%7B%7D1700000000000abc");
        let d = msg_digest("{}", "1700000000000", "abc");
        // Python: base64.b64encode(hashlib.md5(b"%7B%7D1700000000000abc").digest())
        assert_eq!(d, "LjfWXAi11A6TnD7fbrRy8g==");
        let raw = base64::engine::general_purpose::STANDARD.decode(&d).unwrap();
        assert_eq!(hex::encode(raw), crypto::mac::md5_hex(encoded.as_bytes()));
        assert_ne!(d, msg_digest("{}", "1700000000001", "abc"), "the timestamp is signed");
        assert_ne!(d, msg_digest("{} ", "1700000000000", "abc"), "every byte of msgData is signed");
    }

    #[test]
    fn answers_open_whether_the_result_is_a_string_or_an_object() {
        let inner = json!({"success": true, "errorCode": "S0000", "msgData": {"orderId": "O1"}});
        for data in [Value::String(inner.to_string()), inner.clone()] {
            let body = json!({"apiResultCode": "A1000", "apiErrorMsg": "", "apiResultData": data}).to_string();
            assert_eq!(open_answer(body.as_bytes()).unwrap(), Answer::Ok(json!({"orderId": "O1"})));
        }
        let refused = json!({"apiResultCode": "A1006", "apiErrorMsg": "数字签名无效"}).to_string();
        assert_eq!(open_answer(refused.as_bytes()).unwrap(), Answer::Refused { code: "A1006".into(), text: "数字签名无效".into() });
        let business = json!({"apiResultCode": "A1000", "apiResultData": {"success": false, "errorCode": "8016", "errorMsg": "重复下单"}}).to_string();
        assert!(matches!(open_answer(business.as_bytes()).unwrap(), Answer::Refused { code, .. } if code == "8016"));
        assert!(open_answer(b"<xml/>").is_err());
        assert!(open_answer(br#"{"apiResultCode":"A1000"}"#).is_err());
    }

    #[test]
    fn routes_come_oldest_first_and_pushes_are_checked() {
        let v = json!({"routeResps": [{"mailNo": "SF1", "routes": [
            {"acceptTime": "2026-12-08 10:00:00", "acceptAddress": "深圳", "remark": "派送中", "opCode": "44"},
            {"acceptTime": "2026-12-07 18:00:00", "acceptAddress": "深圳", "remark": "已收件", "opCode": "50"}]}]});
        let r = parse_routes(&v).unwrap();
        assert_eq!(r.iter().map(|s| s.op_code.as_str()).collect::<Vec<_>>(), ["50", "44"]);
        let push = json!({"Body": {"WaybillRoute": [{"id": "9", "mailno": "SF1", "orderid": "O1", "acceptTime": "2026-12-09 09:00:00", "acceptAddress": "深圳", "remark": "已签收", "opCode": "80"}]}});
        let p = parse_route_push(push.to_string().as_bytes()).unwrap();
        assert!(p[0].step.is_delivered() && p[0].id == "9" && p[0].order_id == "O1");
        let eleven: Vec<Value> = (0..11).map(|_| push["Body"]["WaybillRoute"][0].clone()).collect();
        assert!(parse_route_push(json!({"Body": {"WaybillRoute": eleven}}).to_string().as_bytes()).is_err());
        assert!(parse_route_push(br#"{"Body":{"WaybillRoute":[{"id":"1","mailno":"SF1","acceptTime":"yesterday","opCode":"50"}]}}"#).is_err());
    }

    #[test]
    fn an_order_answer_names_its_waybill_or_why_not() {
        let ok = json!({"orderId": "O1", "filterResult": 2, "waybillNoInfoList": [{"waybillType": 1, "waybillNo": "SF100"}]});
        assert_eq!(parse_created(&ok).unwrap(), ShipmentOutcome::Accepted { waybill_no: "SF100".into() });
        let check = json!({"filterResult": "1", "waybillNoInfoList": [{"waybillType": 1, "waybillNo": "SF101"}]});
        assert_eq!(parse_created(&check).unwrap(), ShipmentOutcome::ToBeChecked { waybill_no: "SF101".into() });
        let no = json!({"filterResult": 3, "remark": "超范围"});
        assert_eq!(parse_created(&no).unwrap(), ShipmentOutcome::Undeliverable { reason: "超范围".into() });
        assert!(parse_created(&json!({"filterResult": 2})).is_err());
    }
}
