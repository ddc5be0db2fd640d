//! The access matrix (S3, S4), generated from the route table: every route the web crate
//! declares (read from `crates/web/src/lib.rs`, so a route added there without an entry
//! here fails this test, and an entry whose route is gone fails it too) is called as its
//! owner, as another patient, without a session, and as each staff role.
//!
//! * Patient routes that name something of a patient (in the path, the query or the body)
//!   are called with 张伟's ids by 李娜's account: refused (403/404, or sent back with an
//!   error), or — for pages that pick a patient from the query — shown without any of
//!   张伟's things. The same request by 张伟 himself must not be refused, so no refusal
//!   here is an accident of a wrong id.
//! * Staff routes: each role outside the route's roles gets 403, each role inside is let
//!   through, a patient or nobody is sent to the staff sign-in.
use domain::staff::Role;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use testkit::{TestApp, on_both_backends};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Access {
    /// Anyone: nothing personal (sign-in, the catalogue, static files, verification).
    Public,
    /// A signed-in patient; the request names one patient-scoped thing.
    Patient,
    /// A signed-in patient's own lists and forms; nothing of another can be named.
    PatientSelf,
    /// Staff holding one of these roles.
    Staff(&'static [Role]),
    /// Hospital systems by signed request (open interface) or the bank by signed
    /// notification: their signatures have their own tests; here they must refuse an
    /// unsigned call.
    Signed,
    /// Health, readiness and metrics.
    Ops,
}

use Access::*;

const ANY: &[Role] = &Role::ALL;
const ADMIN: &[Role] = &[Role::Admin];
const FINANCE: &[Role] = &[Role::Finance];
const OUTPATIENT: &[Role] = &[Role::Outpatient, Role::Admin];
const MESSAGES: &[Role] = &[Role::Outpatient, Role::Admin];
const TASKS: &[Role] = &[Role::Nurse, Role::Doctor, Role::Lab, Role::Outpatient, Role::Finance, Role::Admin];
const WARD: &[Role] = &[Role::Nurse, Role::Finance, Role::Admin];
const LAB: &[Role] = &[Role::Lab, Role::Doctor, Role::Admin];
const ADMISSION_OFFICE: &[Role] = &[Role::Nurse, Role::Admin];
const TRIAGE: &[Role] = &[Role::Nurse, Role::Admin];
const RECORDS: &[Role] = &[Role::Records, Role::Admin];
const RECORDS_LEDGER: &[Role] = &[Role::Records, Role::Finance, Role::Admin];

pub(crate) enum Body {
    None,
    Form(&'static str),
    Json(&'static str),
}

use Body::None as NoBody;
use Body::{Form, Json};

/// (method, route as declared, who may call it, the request made: the target with
/// placeholders for the owner's ids, and its body).
pub(crate) const MATRIX: &[(&str, &str, Access, &str, Body)] = &[
    ("GET", "/", Public, "/", NoBody),
    ("GET", "/agreements/{which}", Public, "/agreements/privacy", NoBody),
    ("GET", "/favicon.ico", Public, "/favicon.ico", NoBody),
    ("GET", "/static/favicon.svg", Public, "/static/favicon.svg", NoBody),
    ("POST", "/csp-report", Public, "/csp-report", Json("{\"csp-report\": {\"document-uri\": \"http://x/\", \"effective-directive\": \"style-src-attr\"}}")),
    ("GET", "/settings/text-size", Public, "/settings/text-size", NoBody),
    ("GET", "/wx/login", Public, "/wx/login", NoBody),
    ("GET", "/wx/callback", Public, "/wx/callback", NoBody),
    ("POST", "/logout", Public, "/logout", NoBody),
    ("GET", "/patients", PatientSelf, "/patients", NoBody),
    ("POST", "/patients", PatientSelf, "/patients", Form("name=&id_card_no=")),
    ("GET", "/patients/new", PatientSelf, "/patients/new", NoBody),
    ("POST", "/patients/{id}/delete", Patient, "/patients/{spare1}/delete", NoBody),
    ("GET", "/departments", Public, "/departments", NoBody),
    ("GET", "/departments/{dept_id}", Public, "/departments/{dept}", NoBody),
    ("GET", "/staff/login", Public, "/staff/login", NoBody),
    ("POST", "/staff/login", Public, "/staff/login", Form("username=nobody&password=x&otp=000000")),
    ("POST", "/staff/logout", Public, "/staff/logout", NoBody),
    ("GET", "/staff", Staff(ANY), "/staff", NoBody),
    ("GET", "/staff/admin/staff", Staff(ADMIN), "/staff/admin/staff", NoBody),
    ("POST", "/staff/admin/staff", Staff(ADMIN), "/staff/admin/staff", Form("username=")),
    ("GET", "/staff/admin/audit", Staff(ADMIN), "/staff/admin/audit", NoBody),
    ("GET", "/staff/admin/open-api", Staff(ADMIN), "/staff/admin/open-api", NoBody),
    ("POST", "/staff/admin/open-api", Staff(ADMIN), "/staff/admin/open-api", Form("name=")),
    ("GET", "/staff/finance/orders", Staff(FINANCE), "/staff/finance/orders", NoBody),
    ("GET", "/staff/finance/orders/{order_no}", Staff(FINANCE), "/staff/finance/orders/{pay_order}", NoBody),
    ("POST", "/staff/finance/orders/{order_no}/refund", Staff(FINANCE), "/staff/finance/orders/{pay_order}/refund", Form("amount_yuan=&reason=&otp=")),
    ("GET", "/staff/finance/ledger", Staff(FINANCE), "/staff/finance/ledger", NoBody),
    ("GET", "/staff/finance/reconciliation", Staff(FINANCE), "/staff/finance/reconciliation", NoBody),
    ("POST", "/staff/finance/reconciliation", Staff(FINANCE), "/staff/finance/reconciliation", Form("day=not-a-day")),
    ("GET", "/staff/finance/reconciliation/{run_id}", Staff(FINANCE), "/staff/finance/reconciliation/1", NoBody),
    (
        "POST",
        "/staff/finance/reconciliation/{run_id}/items/{item_id}/resolve",
        Staff(FINANCE),
        "/staff/finance/reconciliation/1/items/1/resolve",
        Form("note="),
    ),
    ("GET", "/staff/outpatient/sessions", Staff(OUTPATIENT), "/staff/outpatient/sessions", NoBody),
    ("POST", "/staff/outpatient/sessions/{schedule_id}/change", Staff(OUTPATIENT), "/staff/outpatient/sessions/{schedule}/change", Form("kind=")),
    ("GET", "/staff/outpatient/blacklist", Staff(OUTPATIENT), "/staff/outpatient/blacklist", NoBody),
    ("POST", "/staff/outpatient/blacklist/{id}/lift", Staff(OUTPATIENT), "/staff/outpatient/blacklist/999999/lift", Form("reason=")),
    ("GET", "/staff/outpatient/insurance-rules", Staff(OUTPATIENT), "/staff/outpatient/insurance-rules", NoBody),
    ("POST", "/staff/outpatient/insurance-rules", Staff(OUTPATIENT), "/staff/outpatient/insurance-rules", Form("kind=")),
    ("POST", "/staff/outpatient/insurance-rules/{id}", Staff(OUTPATIENT), "/staff/outpatient/insurance-rules/999999", Form("enabled=")),
    ("GET", "/staff/outpatient/visit-notes", Staff(OUTPATIENT), "/staff/outpatient/visit-notes", NoBody),
    ("POST", "/staff/outpatient/visit-notes", Staff(OUTPATIENT), "/staff/outpatient/visit-notes", Form("dept_id=")),
    ("GET", "/staff/messages", Staff(MESSAGES), "/staff/messages", NoBody),
    ("GET", "/staff/messages/templates", Staff(MESSAGES), "/staff/messages/templates", NoBody),
    ("GET", "/staff/messages/templates/{scene}/{channel}", Staff(MESSAGES), "/staff/messages/templates/registration.success/wechat", NoBody),
    ("POST", "/staff/messages/templates/{scene}/{channel}", Staff(MESSAGES), "/staff/messages/templates/registration.success/wechat", Form("body=")),
    ("GET", "/staff/messages/stats", Staff(MESSAGES), "/staff/messages/stats", NoBody),
    ("POST", "/staff/messages/jobs/{id}/requeue", Staff(MESSAGES), "/staff/messages/jobs/999999/requeue", NoBody),
    ("GET", "/staff/messages/{message_no}", Staff(MESSAGES), "/staff/messages/{message}", NoBody),
    ("POST", "/staff/messages/{message_no}/retry", Staff(MESSAGES), "/staff/messages/{message}/retry", NoBody),
    ("GET", "/staff/tasks", Staff(TASKS), "/staff/tasks", NoBody),
    ("POST", "/staff/tasks/{id}/close", Staff(TASKS), "/staff/tasks/999999/close", Form("note=")),
    ("GET", "/staff/lab", Staff(LAB), "/staff/lab", NoBody),
    ("POST", "/staff/lab/{order_no}/reject", Staff(LAB), "/staff/lab/NO-SUCH-ORDER/reject", Form("reason=")),
    ("POST", "/staff/lab/{order_no}/release", Staff(LAB), "/staff/lab/NO-SUCH-ORDER/release", NoBody),
    ("GET", "/api/v1/me/patients", PatientSelf, "/api/v1/me/patients", NoBody),
    ("POST", "/api/v1/me/patients", PatientSelf, "/api/v1/me/patients", Json(r#"{"name":"","id_card_no":"","relationship":"other"}"#)),
    ("DELETE", "/api/v1/me/patients/{id}", Patient, "/api/v1/me/patients/{spare2}", NoBody),
    ("GET", "/api/v1/departments", Public, "/api/v1/departments", NoBody),
    ("POST", "/callbacks/ccb", Signed, "/callbacks/ccb", Form("POSID=1&ORDERID=x&SUCCESS=Y&SIGN=00")),
    ("GET", "/children", PatientSelf, "/children", NoBody),
    ("GET", "/children/bind", PatientSelf, "/children/bind", NoBody),
    ("POST", "/children/bind", PatientSelf, "/children/bind", Form("name=&id_card_no=")),
    ("GET", "/children/bind/back", PatientSelf, "/children/bind/back", NoBody),
    ("GET", "/api/v1/me/children", PatientSelf, "/api/v1/me/children", NoBody),
    (
        "POST",
        "/api/v1/me/children/bindings",
        PatientSelf,
        "/api/v1/me/children/bindings",
        Json(r#"{"name":"","id_card_no":"","redirect_uri":"/children/bind/back"}"#),
    ),
    ("POST", "/api/v1/me/children/bindings/complete", PatientSelf, "/api/v1/me/children/bindings/complete", Json(r#"{"bind_code":"x","state":"y"}"#)),
    ("GET", "/book/{dept_id}/{schedule_id}", Patient, "/book/{dept}/{schedule}?patient={pid}", NoBody),
    ("GET", "/registrations", PatientSelf, "/registrations", NoBody),
    ("POST", "/registrations", Patient, "/registrations", Form("dept_id={dept}&schedule_id={schedule}&slot_id={slot}&patient_id={pid}")),
    ("GET", "/registrations/{booking_no}", Patient, "/registrations/{booking}", NoBody),
    ("POST", "/registrations/{booking_no}/cancel", Patient, "/registrations/{booking}/cancel", NoBody),
    ("GET", "/inpatient/fees", Patient, "/inpatient/fees?patient={pid}", NoBody),
    ("GET", "/inpatient/discharge", Patient, "/inpatient/discharge?patient={pid}", NoBody),
    ("POST", "/inpatient/discharge", Patient, "/inpatient/discharge", Form("patient_id={pid}&pre_settle_id=PS-1")),
    ("GET", "/inpatient/discharge/{no}", Patient, "/inpatient/discharge/{discharge}", NoBody),
    ("GET", "/inpatient/discharge/{no}/summary.pdf", Patient, "/inpatient/discharge/{discharge}/summary.pdf", NoBody),
    ("GET", "/inpatient/admission", Patient, "/inpatient/admission?patient={pid}", NoBody),
    ("POST", "/inpatient/admission", Patient, "/inpatient/admission", Form("patient_id={pid}&notice_no={notice}&date={admit_date}&bed_type=GENERAL")),
    ("GET", "/inpatient/admission/{booking_no}", Patient, "/inpatient/admission/{admission}", NoBody),
    ("POST", "/inpatient/admission/{booking_no}/accept", Patient, "/inpatient/admission/{admission}/accept", NoBody),
    ("POST", "/inpatient/admission/{booking_no}/cancel", Patient, "/inpatient/admission/{admission}/cancel", Form("from=matrix")),
    ("GET", "/staff/admission", Staff(ADMISSION_OFFICE), "/staff/admission", NoBody),
    ("GET", "/records", PatientSelf, "/records", NoBody),
    ("POST", "/records", Patient, "/records", Form("patient_id={pid}")),
    ("GET", "/records/{no}", Patient, "/records/{record}", NoBody),
    ("GET", "/records/{no}/step/{step}", Patient, "/records/{record}/step/relation", NoBody),
    ("POST", "/records/{no}/step/{step}", Patient, "/records/{record}/step/relation", Form("choice=patient")),
    ("POST", "/records/{no}/capture-token", Patient, "/records/{record}/capture-token", Form("document=patient_id_back")),
    ("GET", "/records/{no}/photos/{item}", Patient, "/records/{record}/photos/{record_photo}", NoBody),
    ("POST", "/records/{no}/photos/{item}", Patient, "/records/{record}/photos/patient_id_back", NoBody),
    ("POST", "/records/{no}/submit", Patient, "/records/{record}/submit", NoBody),
    ("POST", "/records/{no}/withdraw", Patient, "/records/{record}/withdraw", Form("from=matrix")),
    ("POST", "/courier/sf/route-push/{secret}", Signed, "/courier/sf/route-push/guess", Json("{}")),
    ("GET", "/static/records.js", Public, "/static/records.js", NoBody),
    ("GET", "/face", PatientSelf, "/face", NoBody),
    ("GET", "/face/{patient_id}/consent", Patient, "/face/{pid}/consent", NoBody),
    ("POST", "/face/{patient_id}/consent", Patient, "/face/{pid}/consent", NoBody),
    ("GET", "/face/{patient_id}/capture", Patient, "/face/{pid}/capture", NoBody),
    ("POST", "/face/{patient_id}/enrol", Patient, "/face/{pid}/enrol", NoBody),
    ("POST", "/face/{patient_id}/close", Patient, "/face/{pid}/close", Form("confirmed=1")),
    ("GET", "/api/v1/me/face", PatientSelf, "/api/v1/me/face", NoBody),
    ("GET", "/static/face.js", Public, "/static/face.js", NoBody),
    ("GET", "/static/triage.js", Public, "/static/triage.js", NoBody),
    ("GET", "/staff/triage", Staff(TRIAGE), "/staff/triage?depts=0101", NoBody),
    ("POST", "/staff/triage/scan", Staff(TRIAGE), "/staff/triage/scan?depts=0101", NoBody),
    ("POST", "/staff/triage/find", Staff(TRIAGE), "/staff/triage/find", Form("depts=0101&booking_no=NOPE")),
    ("POST", "/staff/triage/check-in", Staff(TRIAGE), "/staff/triage/check-in", Form("depts=0101&booking_no={booking}&room=A1")),
    ("GET", "/staff/triage/tickets/{booking_no}", Staff(TRIAGE), "/staff/triage/tickets/{booking}?depts=0101", NoBody),
    ("GET", "/staff/records", Staff(RECORDS), "/staff/records", NoBody),
    ("GET", "/staff/records/{no}", Staff(RECORDS), "/staff/records/{record}", NoBody),
    ("GET", "/staff/records/{no}/photos/{id}", Staff(RECORDS), "/staff/records/{record}/photos/{record_photo}?original=1", NoBody),
    ("POST", "/staff/records/{no}/approve", Staff(RECORDS), "/staff/records/{record}/approve", Form("version=1")),
    ("POST", "/staff/records/{no}/return", Staff(RECORDS), "/staff/records/{record}/return", Form("version=1&reason=photo_unclear")),
    ("POST", "/staff/records/{no}/pages", Staff(RECORDS), "/staff/records/{record}/pages", Form("version=1&pages=3")),
    ("POST", "/staff/records/{no}/pickup", Staff(RECORDS), "/staff/records/{record}/pickup", Form("code=123456")),
    ("POST", "/staff/records/{no}/switch", Staff(RECORDS), "/staff/records/{record}/switch", Form("version=1")),
    ("GET", "/staff/records/ledger", Staff(RECORDS_LEDGER), "/staff/records/ledger", NoBody),
    ("GET", "/staff/records/fees", Staff(ADMIN), "/staff/records/fees", NoBody),
    ("POST", "/staff/records/fees", Staff(ADMIN), "/staff/records/fees", Form("per_page=x&certification=0&postage=0&effective_date=x")),
    ("POST", "/staff/admission/{booking_no}/answer", Staff(ADMISSION_OFFICE), "/staff/admission/{admission}/answer", Form("action=confirm&name=x")),
    ("GET", "/staff/ward", Staff(WARD), "/staff/ward", NoBody),
    ("POST", "/staff/ward/close", Staff(WARD), "/staff/ward/close", Form("his_patient_id=NOBODY")),
    ("GET", "/registrations/{booking_no}/rebook", Patient, "/registrations/{booking}/rebook", NoBody),
    ("POST", "/registrations/{booking_no}/rebook", Patient, "/registrations/{booking}/rebook", Form("slot_id=S20260101D0101011-1")),
    ("POST", "/registrations/{booking_no}/check-in", Patient, "/registrations/{booking}/check-in", NoBody),
    ("POST", "/api/v1/me/registrations/{booking_no}/check-in", Patient, "/api/v1/me/registrations/{booking}/check-in", NoBody),
    ("GET", "/api/v1/me/registrations", PatientSelf, "/api/v1/me/registrations", NoBody),
    ("POST", "/api/v1/me/registrations", Patient, "/api/v1/me/registrations", Json(r#"{"patient_id":{pid},"dept_id":"{dept}","slot_id":"{slot}"}"#)),
    ("GET", "/api/v1/me/registrations/{booking_no}", Patient, "/api/v1/me/registrations/{booking}", NoBody),
    ("POST", "/api/v1/me/registrations/{booking_no}/cancel", Patient, "/api/v1/me/registrations/{booking}/cancel", NoBody),
    ("GET", "/messages", PatientSelf, "/messages", NoBody),
    ("GET", "/messages/settings", PatientSelf, "/messages/settings", NoBody),
    ("POST", "/messages/settings", PatientSelf, "/messages/settings", Form("")),
    ("GET", "/consents", PatientSelf, "/consents", NoBody),
    ("POST", "/consents/{purpose}/withdraw", Patient, "/consents/child_insurance/withdraw", Form("confirmed=1&patient_id={pid}")),
    ("POST", "/consents/{purpose}/grant", PatientSelf, "/consents/wechat_notices/grant", NoBody),
    ("GET", "/messages/{message_no}", Patient, "/messages/{message}", NoBody),
    ("POST", "/messages/{message_no}/ack", Patient, "/messages/{message}/ack", NoBody),
    ("GET", "/api/v1/me/messages", PatientSelf, "/api/v1/me/messages", NoBody),
    ("GET", "/api/v1/me/consents", PatientSelf, "/api/v1/me/consents", NoBody),
    ("POST", "/api/v1/me/consents/{purpose}/withdraw", Patient, "/api/v1/me/consents/child_insurance/withdraw", Json("{\"patient_id\": {pid}}")),
    ("GET", "/api/v1/me/messages/{message_no}", Patient, "/api/v1/me/messages/{message}", NoBody),
    ("POST", "/api/v1/me/messages/{message_no}/ack", Patient, "/api/v1/me/messages/{message}/ack", NoBody),
    ("GET", "/api/v1/me/message-preferences", PatientSelf, "/api/v1/me/message-preferences", NoBody),
    ("PUT", "/api/v1/me/message-preferences", PatientSelf, "/api/v1/me/message-preferences", Json(r#"{"category":"health","enabled":true}"#)),
    ("GET", "/reports", PatientSelf, "/reports", NoBody),
    ("GET", "/reports/{order_no}", Patient, "/reports/{lab_order}", NoBody),
    ("GET", "/reports/{order_no}/files/{file_no}", Patient, "/reports/{lab_order}/files/{file}", NoBody),
    ("GET", "/reports/{order_no}/files/{file_no}/pages/{n}", Patient, "/reports/{lab_order}/files/{file}/pages/1", NoBody),
    ("GET", "/api/v1/me/reports", PatientSelf, "/api/v1/me/reports", NoBody),
    ("GET", "/api/v1/me/reports/{order_no}", Patient, "/api/v1/me/reports/{lab_order}", NoBody),
    ("GET", "/verify/report/{code}", Public, "/verify/report/NOPE-000000000000", NoBody),
    ("POST", "/open/v1/lab-events", Signed, "/open/v1/lab-events", Json("{}")),
    ("POST", "/open/v1/messages", Signed, "/open/v1/messages", Json("{}")),
    ("POST", "/open/v1/face/consultations", Signed, "/open/v1/face/consultations", Json("{}")),
    ("GET", "/open/v1/messages/{message_no}", Signed, "/open/v1/messages/{message}", NoBody),
    ("GET", "/inpatient", Patient, "/inpatient?patient={pid}", NoBody),
    ("POST", "/inpatient/deposit", Patient, "/inpatient/deposit", Form("patient_id={pid}&amount_yuan=100")),
    ("GET", "/invoices", Patient, "/invoices", NoBody),
    ("GET", "/invoices/{id}", Patient, "/invoices/{invoice}", NoBody),
    ("GET", "/invoices/{id}/pdf", Patient, "/invoices/{invoice}/pdf", NoBody),
    ("GET", "/card", Patient, "/card?patient={pid}", NoBody),
    ("POST", "/card/bind", Patient, "/card/bind", Form("patient_id={pid}&card_no=80000")),
    ("POST", "/card/recharge", Patient, "/card/recharge", Form("patient_id={pid}&amount_yuan=100")),
    ("GET", "/bills", PatientSelf, "/bills", NoBody),
    ("GET", "/fees", PatientSelf, "/fees", NoBody),
    ("POST", "/bills/{patient_id}/{recipe_id}/pay", Patient, "/bills/{pid}/{recipe}/pay", NoBody),
    ("GET", "/payments", PatientSelf, "/payments", NoBody),
    ("GET", "/pay/{order_no}", Patient, "/pay/{pay_order}", NoBody),
    ("POST", "/pay/{order_no}/method", Patient, "/pay/{pay_order}/method", Form("method=self_pay")),
    ("GET", "/pay/{order_no}/insurance-auth", Patient, "/pay/{pay_order}/insurance-auth?authCode=x&state=y", NoBody),
    ("POST", "/pay/{order_no}/confirm", Patient, "/pay/{pay_order}/confirm", NoBody),
    ("POST", "/pay/{order_no}/self-pay", Patient, "/pay/{pay_order}/self-pay", NoBody),
    ("GET", "/pay/{order_no}/result", Patient, "/pay/{pay_order}/result", NoBody),
    ("GET", "/api/v1/me/orders", PatientSelf, "/api/v1/me/orders", NoBody),
    ("POST", "/api/v1/me/orders", Patient, "/api/v1/me/orders", Json(r#"{"patient_id":{pid},"recipe_id":"{recipe}"}"#)),
    ("GET", "/api/v1/me/orders/{order_no}", Patient, "/api/v1/me/orders/{pay_order}", NoBody),
    ("POST", "/api/v1/me/orders/{order_no}/pay", Patient, "/api/v1/me/orders/{pay_order}/pay", Json(r#"{"method":"self_pay"}"#)),
    ("GET", "/api/v1/departments/{dept_id}/schedules", Public, "/api/v1/departments/{dept}/schedules", NoBody),
    ("GET", "/api/v1/departments/{dept_id}/schedules/{schedule_id}", Public, "/api/v1/departments/{dept}/schedules/{schedule}", NoBody),
    ("GET", "/static/app.css", Public, "/static/app.css", NoBody),
    ("GET", "/static/pay.js", Public, "/static/pay.js", NoBody),
    ("GET", "/healthz", Ops, "/healthz", NoBody),
    ("GET", "/readyz", Ops, "/readyz", NoBody),
    ("GET", "/metrics", Ops, "/metrics", NoBody),
];

/// The routes `web::router` declares, read from its source: (METHOD, path).
fn declared_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src/lib.rs")).expect("web router source");
    let mut out = BTreeSet::new();
    let mut rest = src.as_str();
    while let Some(at) = rest.find(".route(\"") {
        rest = &rest[at + 8..];
        let end = rest.find('"').expect("route path ends");
        let path = rest[..end].to_owned();
        // The method routers up to the end of this `.route(…)` call.
        let mut depth = 1;
        let mut call_end = end;
        for (i, c) in rest[end..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        call_end = end + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &rest[end..call_end];
        for (m, name) in [("GET", "get("), ("POST", "post("), ("PUT", "put("), ("DELETE", "delete("), ("PATCH", "patch(")] {
            let found = call.match_indices(name).any(|(i, _)| i == 0 || !call.as_bytes()[i - 1].is_ascii_alphanumeric() && call.as_bytes()[i - 1] != b'_');
            if found {
                out.insert((m.to_owned(), path.clone()));
            }
        }
        rest = &rest[call_end..];
    }
    assert!(out.len() > 50, "the route table was not read: {out:?}");
    out
}

#[test]
fn every_declared_route_has_exactly_one_entry() {
    let declared = declared_routes();
    let mut listed = BTreeSet::new();
    for (m, p, ..) in MATRIX {
        assert!(listed.insert((m.to_string(), p.to_string())), "{m} {p} listed twice");
    }
    let missing: Vec<_> = declared.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&declared).collect();
    assert!(missing.is_empty(), "routes without an access-matrix entry: {missing:?}");
    assert!(stale.is_empty(), "entries for routes that no longer exist: {stale:?}");
}

fn fill(template: &str, ids: &HashMap<&str, String>) -> String {
    let mut s = template.to_owned();
    for (k, v) in ids {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    assert!(!s.contains("{pid}") && !s.contains("{booking}"), "unfilled: {s}");
    s
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) body: String,
}

pub(crate) async fn call(t: &TestApp, method: &str, target: &str, body: &Body, cookie: &str, ids: &HashMap<&str, String>, n: &mut u32) -> Answer {
    *n += 1;
    let url = t.url(&fill(target, ids));
    let mut req = TestApp::http().request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url).header("idempotency-key", format!("matrix-{n}"));
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    req = match body {
        Body::None => req,
        Body::Form(f) => req.header("content-type", "application/x-www-form-urlencoded").body(fill(f, ids)),
        Body::Json(j) => req.header("content-type", "application/json").body(fill(j, ids)),
    };
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let location = testkit::location(r.headers());
    let body = r.text().await.unwrap_or_default();
    Answer { status, location, body }
}

/// What of 张伟's must not reach anyone else.
fn leaks(a: &Answer, markers: &[String]) -> Option<String> {
    markers.iter().find(|m| a.body.contains(m.as_str()) || a.location.contains(m.as_str())).cloned()
}

fn sent_to_sign_in(a: &Answer, staff: bool) -> bool {
    let login = if staff { "/staff/login" } else { "/wx/login" };
    (a.status == 303 && a.location.starts_with(login)) || a.status == 401
}

/// A sign-in for each staff role, by the demo staff member holding it.
async fn staff_by_role(t: &TestApp) -> Vec<(Role, String)> {
    let mut out = Vec::new();
    for role in Role::ALL {
        let who = t
            .demo_credentials
            .iter()
            .find(|c| c.roles.split(',').any(|r| r == role.as_str()))
            .unwrap_or_else(|| panic!("no demo staff holds {role:?}"))
            .username
            .clone();
        out.push((role, t.staff_sign_in(&who).await));
    }
    out
}

on_both_backends! {
    async fn every_route_refuses_other_patients_and_the_wrong_roles(backend) {
        use chrono::TimeZone;
        let (t, _clock) = TestApp::spawn_at(backend, chrono::Utc.with_ymd_and_hms(2026, 11, 26, 0, 30, 0).unwrap()).await;
        let mut calls = 0u32;

        let Journey { ids, markers, owner, staff } = journey(&t).await;

        // 李娜's account, with her own patient.
        let (_, other) = t.wechat_sign_in("oDemo_lina_0002").await;
        t.add_demo_patient(&other, "李娜", "self").await;

        let mut checked = 0;
        // Another patient, then nobody, then each role; the owner last (her removals and
        // cancellations go at the very end).
        for (method, route, access, target, body) in MATRIX {
            let what = format!("{method} {route}");
            match access {
                Patient | PatientSelf => {
                    let a = call(&t, method, target, body, &other, &ids, &mut calls).await;
                    assert!(a.status < 500, "{what} as another patient: {}", a.status);
                    if let Some(m) = leaks(&a, &markers) {
                        panic!("{what} as another patient shows 张伟's {m}: {} {}", a.status, a.location);
                    }
                    if *access == Patient {
                        let refused = matches!(a.status, 400 | 403 | 404 | 409 | 422) || (a.status == 303 && a.location.contains("error=")) || a.status == 200;
                        assert!(refused, "{what} as another patient was not refused: {} {}", a.status, a.location);
                        assert_ne!(a.status, 401, "{what}: 李娜 is signed in");
                    }
                    let a = call(&t, method, target, body, "", &ids, &mut calls).await;
                    assert!(sent_to_sign_in(&a, false), "{what} without a session: {} {}", a.status, a.location);
                    for (role, cookie) in &staff {
                        let a = call(&t, method, target, body, cookie, &ids, &mut calls).await;
                        assert!(sent_to_sign_in(&a, false), "{what} as staff {role:?} (no patient session): {} {}", a.status, a.location);
                    }
                    checked += 1;
                }
                Staff(roles) => {
                    for (role, cookie) in &staff {
                        let a = call(&t, method, target, body, cookie, &ids, &mut calls).await;
                        if roles.contains(role) {
                            assert!(a.status < 500 && !matches!(a.status, 401 | 403) && !sent_to_sign_in(&a, true), "{what} as {role:?} must be let through: {} {}", a.status, a.location);
                        } else {
                            assert_eq!(a.status, 403, "{what} as {role:?}: {}", a.location);
                        }
                    }
                    for cookie in [&other, ""] {
                        let a = call(&t, method, target, body, cookie, &ids, &mut calls).await;
                        assert!(sent_to_sign_in(&a, true), "{what} as a patient or nobody: {} {}", a.status, a.location);
                    }
                    checked += 1;
                }
                Signed => {
                    let a = call(&t, method, target, body, &other, &ids, &mut calls).await;
                    assert!(matches!(a.status, 400 | 401 | 403), "{what} unsigned: {}", a.status);
                    checked += 1;
                }
                Public | Ops => {
                    // Without a cookie: the sign-outs are public and would end 李娜's session.
                    let a = call(&t, method, target, body, "", &ids, &mut calls).await;
                    assert!(a.status < 500, "{what}: {}", a.status);
                    assert!(leaks(&a, &markers).is_none(), "{what} shows 张伟's things");
                }
            }
        }
        // The owner, last: each patient request of 张伟's is his to make.
        let mut owner_calls: Vec<_> = MATRIX.iter().filter(|e| e.2 == Patient).collect();
        owner_calls.sort_by_key(|e| e.1.contains("delete") || e.1.contains("cancel") || e.0 == "DELETE");
        for (method, route, _, target, body) in owner_calls {
            let a = call(&t, method, target, body, &owner, &ids, &mut calls).await;
            assert!(
                a.status < 500 && !matches!(a.status, 401 | 403 | 404) && !sent_to_sign_in(&a, false),
                "{method} {route} as its owner: {} {} {}",
                a.status,
                a.location,
                a.body.chars().take(200).collect::<String>()
            );
        }
        let patient_routes = MATRIX.iter().filter(|e| e.2 == Patient).count();
        println!("access matrix: {} routes, {checked} checked against other callers ({patient_routes} patient-scoped, {} staff), {calls} requests", MATRIX.len(), MATRIX.iter().filter(|e| matches!(e.2, Staff(_))).count());
    }
}

/// A slot later today with places (the demo HIS has many).
async fn bookable(t: &TestApp) -> (String, String, String) {
    let now = domain::clock::to_local(t.app.now()).naive_local();
    for d in t.app.departments().await.unwrap().iter() {
        let v = t.app.department_view(&d.dept_id).await.unwrap();
        for s in v.schedules.iter().filter(|s| !s.suspended) {
            for sl in &s.slots {
                if sl.available >= 2 && s.date.and_time(sl.start) > now + chrono::Duration::hours(2) {
                    return (d.dept_id.clone(), s.schedule_id.clone(), sl.slot_id.clone());
                }
            }
        }
    }
    panic!("no bookable slot");
}

/// A blood count ordered, sampled, reported by the LIS and released by the doctor: its
/// order number and the number of its PDF.
async fn released_report(t: &TestApp, his: &str, owner: &str, doctor: &str) -> (String, String) {
    let http = TestApp::http();
    let r = http.post(format!("{}/__sim/lis/orders", t.his_url)).json(&json!({"patient_id": his, "item_code": "250101001"})).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["orderNo"].as_str().unwrap().to_owned();
    for action in ["sample", "report"] {
        let r = http.post(format!("{}/__sim/lis/orders/{no}/{action}?files=pdf", t.his_url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{action}");
    }
    // The LIS pushes in the background: wait until its report has arrived here.
    for _ in 0..400 {
        t.drain_jobs().await;
        let stored = t.store.lab_order(t.store.db(), &no).await.unwrap();
        if stored.is_some_and(|o| o.snapshot.report.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let arrived = t.store.lab_order(t.store.db(), &no).await.unwrap().is_some_and(|o| o.snapshot.report.is_some());
    assert!(arrived, "the LIS's report of {no} did not arrive");
    let r = http.post(t.url(&format!("/staff/lab/{no}/release"))).header("cookie", doctor).form(&[("confirmed", "1")]).send().await.unwrap();
    assert_eq!(r.status(), 303, "release");
    t.drain_jobs().await;
    let v: Value = http.get(t.url(&format!("/api/v1/me/reports/{no}"))).header("cookie", owner).send().await.unwrap().json().await.unwrap();
    let url = v["files"][0]["download_url"].as_str().unwrap_or_else(|| panic!("a released report has a file: {v}")).to_owned();
    let file = url.rsplit('/').next().unwrap().to_owned();
    (no, file)
}

/// What the journey left behind: 张伟's ids by placeholder name, what of his must not
/// reach anyone else, his session, and a session for each staff role.
pub struct Journey {
    pub ids: HashMap<&'static str, String>,
    pub markers: Vec<String>,
    pub owner: String,
    pub staff: Vec<(Role, String)>,
}

/// 张伟's account with himself and two others, a booking, a bill turned into an order,
/// a message and a released report with its file (the fixture of the leak checks too).
pub async fn journey(t: &TestApp) -> Journey {
    let (_, owner) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    let pid = t.add_demo_patient(&owner, "张伟", "self").await;
    let spare1 = t.add_demo_patient(&owner, "王芳", "other").await;
    let spare2 = t.add_demo_patient(&owner, "黄强", "other").await;
    let me = t.store.patient_by_id(pid).await.unwrap().unwrap();
    let account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
    let (dept, schedule, slot) = bookable(t).await;
    let r = TestApp::http()
        .post(t.url("/api/v1/me/registrations"))
        .header("cookie", &owner)
        .header("idempotency-key", "matrix-booking")
        .json(&json!({"patient_id": pid, "dept_id": dept, "slot_id": slot}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "booking");
    let booking = r.json::<Value>().await.unwrap()["booking_no"].as_str().unwrap().to_owned();
    let bills = t.his_port.unpaid_bills(&me.his_patient_id).await.unwrap();
    let recipe = bills.first().expect("张伟 has an unpaid bill in the demo HIS").recipe_id.clone();
    let r = TestApp::http()
        .post(t.url("/api/v1/me/orders"))
        .header("cookie", &owner)
        .header("idempotency-key", "matrix-order")
        .json(&json!({"patient_id": pid, "recipe_id": recipe}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "order");
    let pay_order = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    assert!(t.emit_event("hospital.notice", "matrix-notice", pid, json!({"title": "门诊通知", "body": "请按时就诊"})).await);
    t.drain_jobs().await;
    let message = t.store.inbox(account, None, 100).await.unwrap().first().expect("a message").message_no.clone();
    // Each demo staff member signs in once (a TOTP code is single-use).
    let staff = staff_by_role(t).await;
    let doctor = &staff.iter().find(|(r, _)| *r == Role::Doctor).unwrap().1;
    let (lab_order, file) = released_report(t, &me.his_patient_id, &owner, doctor).await;

    // A discharge of 张伟's, settled, on a stay whose 出院小结 the HIS has written (吴秀英's:
    // the pages read the summary by the stay's number).
    let wu_id = sim::demo::citizens(t.app.today()).into_iter().find(|c| c.name == "吴秀英").unwrap().id_card_no;
    let wu = t.his_port.find_patient(&wu_id).await.unwrap().unwrap();
    let wu_stay = t.his_port.inpatient_stay(&wu.his_patient_id).await.unwrap().unwrap().inpatient_no;
    let discharge = "DSMATRIX0001".to_owned();
    let detail = json!({"deposits": [], "insurance": null, "refunds": []});
    let row = store::inpatient::NewDischarge {
        discharge_no: &discharge,
        patient_id: pid,
        account_id: account,
        his_patient_id: &me.his_patient_id,
        inpatient_no: &wu_stay,
        pre_settle_id: "PS-MATRIX",
        state: domain::inpatient::DischargeState::Settled,
        total: domain::Fen(100),
        fund: domain::Fen(0),
        personal_account: domain::Fen(0),
        self_pay: domain::Fen(100),
        deposits_held: domain::Fen(100),
        balance: domain::Fen(0),
        order_no: None,
        detail: &detail,
    };
    assert!(t.store.insert_discharge(t.store.db(), row, t.app.now()).await.unwrap());
    let invoice = issued_invoice(t, pid).await.to_string();
    // 张伟's admission notice (seeded), booked for a day it allows.
    let notice = t.his_port.admission_notices(&me.his_patient_id).await.unwrap().into_iter().next().expect("the demo notice").notice_no;
    let admit_date = t.app.today() + chrono::Duration::days(3);
    let admission =
        t.app.request_admission(account, pid, &notice, admit_date, "GENERAL", &app::Actor::patient_account(account, "matrix")).await.expect("booked");
    // A record-copy draft of 张伟's with one ID photo taken on the camera page.
    let (record, record_photo) = record_draft(t, account, pid, &me.his_patient_id).await;
    let ids: HashMap<&str, String> = [
        ("record", record.clone()),
        ("record_photo", record_photo.to_string()),
        ("pid", pid.to_string()),
        ("discharge", discharge.clone()),
        ("invoice", invoice),
        ("notice", notice),
        ("admit_date", admit_date.to_string()),
        ("admission", admission.clone()),
        ("spare1", spare1.to_string()),
        ("spare2", spare2.to_string()),
        ("dept", dept.clone()),
        ("schedule", schedule.clone()),
        ("slot", slot.clone()),
        ("booking", booking.clone()),
        ("recipe", recipe.clone()),
        ("pay_order", pay_order.clone()),
        ("message", message.clone()),
        ("lab_order", lab_order.clone()),
        ("file", file.clone()),
    ]
    .into_iter()
    .collect();
    let markers: Vec<String> = vec![
        booking.clone(),
        pay_order.clone(),
        message.clone(),
        lab_order.clone(),
        me.his_patient_id.clone(),
        "张*".into(),
        recipe.clone(),
        admission,
        record,
    ];

    Journey { ids, markers, owner, staff }
}

/// A record-copy draft taken as far as the photos, with the portrait side photographed:
/// its number and the photo's id.
pub(crate) async fn record_draft(t: &TestApp, account: i64, pid: i64, his_patient_id: &str) -> (String, i64) {
    use app::records::StepInput;
    let actor = app::Actor::patient_account(account, "matrix");
    let no = t.app.start_record_application(account, pid, &actor).await.unwrap();
    let stay = t.his_port.record_encounters(his_patient_id).await.unwrap().into_iter().next().expect("an archived encounter").encounter_id;
    for step in [
        StepInput::Relation(domain::records::Applicant::Patient),
        StepInput::Encounter(stay),
        StepInput::Purpose(domain::records::Purpose::SickLeave),
        StepInput::Copies(1),
    ] {
        t.app.save_record_step(account, &no, step, &actor).await.unwrap();
    }
    let token = t.app.mint_capture_token(account, &no, "patient_id_front").await.unwrap();
    let mut jpeg = Vec::new();
    uploads::id_card::synthetic_frame().write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    t.app.upload_record_photo(account, &no, "patient_id_front", &token, jpeg, &actor).await.unwrap();
    let id = t.store.record_application(&no).await.unwrap().id;
    (no.clone(), t.store.record_photos(id).await.unwrap()[0].id)
}

/// An e-invoice of the patient's, issued by the platform's simulator (its PDF is real).
async fn issued_invoice(t: &TestApp, pid: i64) -> i64 {
    use domain::invoices::{InvoiceAmounts, InvoiceKind, InvoiceState, PayChannelCodes, charge_lines, pay_channels};
    use domain::ports::EInvoicePort;
    let e = &t.settings.einvoice;
    let platform = gateways::einvoice::EInvoiceClient::new(gateways::einvoice::EInvoiceClientConfig {
        base_url: e.base_url.clone(),
        appid: e.appid.clone(),
        key: e.key.clone(),
        place_code: e.place_code.clone(),
        payee: e.payee.clone(),
        methods: gateways::einvoice::Methods::default(),
        timeout: std::time::Duration::from_secs(5),
    });
    let kept = InvoiceAmounts::own_only(domain::Fen(1_000)).unwrap();
    let now = t.app.now();
    let req = domain::invoices::InvoiceRequest {
        kind: InvoiceKind::Outpatient,
        bus_no: "ORDER-MATRIX-1".into(),
        bus_time: now,
        payer_name: "张伟".into(),
        id_card_no: String::new(),
        his_patient_id: String::new(),
        card_no: String::new(),
        dept: String::new(),
        amounts: kept,
        charges: charge_lines(&[], kept, "门诊费用"),
        pay_channels: pay_channels(kept, &PayChannelCodes::default()),
        stay: None,
        order_no: "MATRIX".into(),
        remark: String::new(),
    };
    let issued = platform.issue(&req).await.expect("the platform issues");
    let n = store::invoices::NewInvoice {
        subject: "order:MATRIX",
        seq: 1,
        bus_no: &req.bus_no,
        kind: req.kind,
        patient_id: Some(pid),
        amounts: kept,
        bus_time: now,
    };
    assert!(t.store.insert_invoice(t.store.db(), n, now).await.unwrap());
    let row = t.store.invoices_of("order:MATRIX").await.unwrap().remove(0);
    let detail = json!({"issued": issued});
    assert!(
        t.store
            .update_invoice(t.store.db(), (row.id, row.version), InvoiceState::Issued, Some((&issued.batch_code, &issued.bill_no)), &detail, now)
            .await
            .unwrap()
    );
    row.id
}
