//! S10: one audit row for every sensitive read, no more and no fewer.
//!
//! Two independent counts are held against the audit trail, step by step:
//! * the store counts the personal data it opens to hand out (a patient's ID number, a
//!   mobile for an SMS, a child's identity held for a binding, a report file or page) at
//!   the place it unseals them (`Store::disclosures`), apart from any audit code;
//! * the pages that show sensitive records by themselves (a report, the lab worklist, a
//!   message's full text, an order's detail, an export, an audit query) are declared
//!   below with the action each successful call must write.
//!
//! Every route of the access matrix is called by whoever may call it, then the paths
//! that only happen behind a route (an SMS to a patient's mobile, a child's binding with
//! the guardian's ID number sent to the HIS) are run. After each step the sensitive-read
//! rows it added must equal its disclosures plus its page read, kind by kind; at the end
//! every kind has happened at least once and the audit chain verifies.
use crate::access_matrix::{Access, MATRIX, call, journey};
use domain::staff::Role;
use serde_json::json;
use std::collections::BTreeMap;
use store::DisclosureCounts;
use testkit::{TestApp, on_both_backends};

/// The audit actions that record a read of personal or health data.
const SENSITIVE_READS: &[&str] = &[
    "patient.identity_read",
    "patient.mobile_read",
    "child.identity_read",
    "report.view",
    "report.download",
    "report.page_view",
    "lab.console.view",
    "ward.console.view",
    "discharge.view",
    "discharge.summary_pdf",
    "admission_booking.view",
    "admission_office.view",
    "records.photo_view",
    "records.case_view",
    "invoice.view",
    "invoice.pdf",
    "notify.message.viewed",
    "finance.order_view",
    "finance.export",
    "audit.query",
];

/// Pages that disclose by showing: (method, request target, the action a 200 writes).
/// Targets are matched on the matrix's request target, or are extra requests.
const PAGE_READS: &[(&str, &str, &str)] = &[
    ("GET", "/reports/{lab_order}", "report.view"),
    ("GET", "/api/v1/me/reports/{lab_order}", "report.view"),
    ("GET", "/staff/lab", "lab.console.view"),
    ("GET", "/staff/ward", "ward.console.view"),
    ("GET", "/inpatient/discharge/{discharge}", "discharge.view"),
    ("GET", "/inpatient/discharge/{discharge}/summary.pdf", "discharge.summary_pdf"),
    ("GET", "/inpatient/admission?patient={pid}", "admission_booking.view"),
    ("GET", "/inpatient/admission/{admission}", "admission_booking.view"),
    // The cancellation asks first on a page that shows the booking.
    ("POST", "/inpatient/admission/{admission}/cancel", "admission_booking.view"),
    ("GET", "/staff/admission", "admission_office.view"),
    ("GET", "/staff/records/{record}", "records.case_view"),
    ("GET", "/invoices/{invoice}", "invoice.view"),
    ("GET", "/invoices/{invoice}/pdf", "invoice.pdf"),
    ("GET", "/staff/messages/{message}", "notify.message.viewed"),
    ("GET", "/staff/finance/orders/{pay_order}", "finance.order_view"),
];

/// Requests beyond the matrix's one-per-route, for reads a query string turns on.
const EXTRA_READS: &[(&str, Role, &str)] = &[
    ("/staff/admin/audit?actor=patient_account:1", Role::Admin, "audit.query"),
    ("/staff/finance/ledger?format=csv", Role::Finance, "finance.export"),
    ("/staff/finance/ledger?format=xlsx", Role::Finance, "finance.export"),
];

struct Tally {
    audit: BTreeMap<&'static str, u64>,
    disclosed: DisclosureCounts,
}

async fn tally(t: &TestApp) -> Tally {
    let mut audit = BTreeMap::new();
    for a in SENSITIVE_READS {
        audit.insert(*a, t.store.audit_count(Some(a)).await.unwrap());
    }
    Tally { audit, disclosed: t.store.disclosures() }
}

/// Holds one step's audit rows against its reads; returns how many reads it made.
fn settle(what: &str, before: &Tally, after: &Tally, page_read: Option<&str>) -> u64 {
    let added = |a: &str| after.audit[a] - before.audit[a];
    let d = |f: fn(&DisclosureCounts) -> u64| f(&after.disclosed) - f(&before.disclosed);
    let pairs = [
        ("patient.identity_read", added("patient.identity_read"), d(|c| c.identity)),
        ("patient.mobile_read", added("patient.mobile_read"), d(|c| c.mobile)),
        ("child.identity_read", added("child.identity_read"), d(|c| c.child_identity)),
        ("report.download + report.page_view", added("report.download") + added("report.page_view"), d(|c| c.report_file)),
        ("records.photo_view", added("records.photo_view"), d(|c| c.record_photo)),
    ];
    for (kind, rows, reads) in pairs {
        assert_eq!(rows, reads, "{what}: {kind}: {rows} audit rows for {reads} reads");
    }
    for action in PAGE_READS.iter().map(|p| p.2).chain(EXTRA_READS.iter().map(|e| e.2)) {
        let expected = u64::from(page_read == Some(action));
        assert_eq!(added(action), expected, "{what}: {action} rows (the step showed {page_read:?})");
    }
    d(|c| c.total()) + u64::from(page_read.is_some())
}

on_both_backends! {
    async fn every_sensitive_read_leaves_exactly_one_audit_row(backend) {
        use chrono::TimeZone;
        let (t, _clock) = TestApp::spawn_at(backend, chrono::Utc.with_ymd_and_hms(2026, 11, 26, 0, 30, 0).unwrap()).await;
        let j = journey(&t).await;
        let cookie_of = |role: Role| j.staff.iter().find(|(r, _)| *r == role).map(|(_, c)| c.clone()).unwrap();
        let start = tally(&t).await;
        let mut reads = 0u64;
        let mut steps = 0u32;
        let mut n = 0u32;

        // Every route by someone allowed to call it; nothing that signs out or removes
        // (those would end the journey for the routes after them).
        for (method, route, access, target, body) in MATRIX {
            if *method == "DELETE" || route.contains("delete") || route.contains("cancel") || route.contains("logout") {
                continue;
            }
            let cookie = match access {
                Access::Patient | Access::PatientSelf => j.owner.clone(),
                Access::Staff(roles) => cookie_of(roles[0]),
                Access::Public | Access::Ops | Access::Signed => String::new(),
            };
            let page_read = PAGE_READS.iter().find(|(m, p, _)| m == method && p == target).map(|(_, _, a)| *a);
            let before = tally(&t).await;
            let a = call(&t, method, target, body, &cookie, &j.ids, &mut n).await;
            if page_read.is_some() {
                assert_eq!(a.status, 200, "{method} {route} shows its record to {access:?}");
            }
            reads += settle(&format!("{method} {route} ({})", a.status), &before, &tally(&t).await, page_read);
            steps += 1;
        }
        for (target, role, action) in EXTRA_READS {
            let before = tally(&t).await;
            let a = call(&t, "GET", target, &crate::access_matrix::Body::None, &cookie_of(*role), &j.ids, &mut n).await;
            assert_eq!(a.status, 200, "GET {target}");
            reads += settle(&format!("GET {target}"), &before, &tally(&t).await, Some(action));
            steps += 1;
        }

        // An SMS: WeChat cannot reach 李娜, so her cancellation notice reads her mobile.
        let before = tally(&t).await;
        let (_, lina) = crate::api_messages::patient(&t, "oDemo_lina_0002", "李娜", Some("13800138001")).await;
        t.set_wechat_faults(json!({"unfollowed": ["oDemo_lina_0002"]})).await;
        assert!(t.emit_event("booking.cancelled", "booking.cancelled:S10", lina, crate::api_messages::booking_payload("S10")).await);
        t.drain_jobs().await;
        assert_eq!(t.sms_sent().len(), 1, "the notice went by SMS");
        reads += settle("an SMS to 李娜", &before, &tally(&t).await, None);
        steps += 1;

        // A child's binding: the held identity is opened, and the guardian's ID number is
        // read to compare with the HIS's record of the child.
        let before = tally(&t).await;
        let (_, wang) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        crate::api_children::add_self(&t, &wang, "王芳").await;
        let back = crate::api_children::bind(&t, &wang, "赵小雨", "official_account").await;
        assert!(back.starts_with("/children?bound="), "{back}");
        reads += settle("a child's binding", &before, &tally(&t).await, None);
        steps += 1;

        let end = tally(&t).await;
        let rows: u64 = SENSITIVE_READS.iter().map(|a| end.audit[a] - start.audit[a]).sum();
        assert_eq!(rows, reads, "audit rows for sensitive reads over the whole run");
        for a in SENSITIVE_READS {
            assert!(end.audit[a] > start.audit[a], "the run made no {a} read: the check would prove nothing for it");
        }
        assert_eq!(t.store.verify_audit_chain().await.unwrap(), store::audit::ChainVerdict::Intact { rows: t.store.audit_count(None).await.unwrap() });
        // Operators see the same counts on /metrics.
        let m = TestApp::http().get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
        // The same reader the soak watches the nodes with.
        let gauge = |series: String| loadtest::soak::metric(&m, &series).unwrap_or_else(|| panic!("no {series} on /metrics: {m}"));
        let exported = |kind: &str| Some(gauge(format!("carebridge_disclosures_total{{kind=\"{kind}\"}}")) as u64);
        let d = t.store.disclosures();
        assert_eq!(exported("report_file"), Some(d.report_file), "{m}");
        assert_eq!(exported("identity"), Some(d.identity));
        // And the pool, which the soak holds flat: at least the connection that served
        // this scrape is open, never more than the configured maximum.
        let pool = |state: &str| gauge(format!("carebridge_db_connections{{state=\"{state}\"}}"));
        let (open, idle) = (pool("open"), pool("idle"));
        assert!(open >= 1.0 && open <= f64::from(t.settings.database.max_connections) && idle <= open, "pool gauges: open {open}, idle {idle}");
        let jobs = |state: &str| gauge(format!("carebridge_outbox_jobs{{state=\"{state}\"}}"));
        let (due, pending) = (jobs("due"), jobs("pending"));
        assert!(due <= pending, "outbox gauges: due {due} of {pending}");
        println!("audit reads: {reads} sensitive reads over {steps} steps, one audit row each");
    }
}
