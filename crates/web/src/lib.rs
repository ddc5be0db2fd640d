//! HTTP: patient pages, the staff console, the JSON API with OpenAPI, callbacks and
//! operations endpoints. Handlers are thin: parse, authorise, call one use case,
//! render. Errors become `{code, message, correlation_id}` (or a Chinese error page).

pub mod agreements;
pub mod api;
pub mod auth;
pub mod billing;
pub mod billing_console;
pub mod cards;
pub mod confirm;
pub mod consent;
pub mod error;
pub mod face;
pub mod face_console;
pub mod idempotency;
pub mod identity;
pub mod inpatient;
pub mod inpatient_console;
pub mod insurance;
pub mod invoices;
pub mod messages;
pub mod messages_console;
pub mod middleware;
pub mod open_api;
pub mod ops;
pub mod pages;
pub mod records;
pub mod records_console;
pub mod registration;
pub mod registration_console;
pub mod reports;
pub mod reports_console;
pub mod staff;

use app::App;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post};
use domain::staff::Role;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// Settings the web layer needs.
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub hospital_name: String,
    /// `https://wx.hospital.example` in production; when unset, built from the Host
    /// header (fine on loopback, not behind a proxy).
    pub public_base_url: Option<String>,
    /// Serve `/metrics` to any peer (default: loopback only).
    pub metrics_public: bool,
    pub max_body_bytes: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { hospital_name: "深圳市示范医院".into(), public_base_url: None, metrics_public: false, max_body_bytes: 64 * 1024 }
    }
}

#[derive(Clone)]
pub struct WebState {
    pub app: App,
    pub hospital_name: String,
    pub public_origin: Option<String>,
    pub csp: HeaderValue,
    pub metrics: PrometheusHandle,
    pub metrics_public: bool,
}

impl WebState {
    /// Scheme and host of this site, for absolute URLs (the OAuth redirect).
    pub fn public_base(&self, headers: &axum::http::HeaderMap) -> String {
        if let Some(p) = &self.public_origin {
            return p.clone();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
            .unwrap_or("127.0.0.1");
        format!("http://{host}")
    }
}

static HOSPITAL_NAME: OnceLock<String> = OnceLock::new();

pub(crate) fn hospital_name_for_errors() -> &'static str {
    HOSPITAL_NAME.get().map(String::as_str).unwrap_or("智慧服务平台")
}

/// The process-wide metrics recorder (installed once; later calls share it).
pub fn metrics_handle() -> PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
    .clone()
}

const CSS: &str = include_str!("../static/app.css");
const PAY_JS: &str = include_str!("../static/pay.js");
/// A live photo from the camera page: above the app's own limit (10 MB by default), which
/// answers with the patient's message; every other request keeps `max_body_bytes`.
const PHOTO_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// A face capture is one phone-camera JPEG; the use case refuses more than its setting.
const FACE_BODY_LIMIT: usize = 4 * 1024 * 1024;
const RECORDS_JS: &str = include_str!("../static/records.js");
const FACE_JS: &str = include_str!("../static/face.js");
const TRIAGE_JS: &str = include_str!("../static/triage.js");
const FAVICON: &str = include_str!("../static/favicon.svg");

async fn favicon() -> impl axum::response::IntoResponse {
    ([("content-type", "image/svg+xml"), ("cache-control", "public, max-age=86400")], FAVICON)
}

async fn pay_js() -> impl axum::response::IntoResponse {
    ([("content-type", "text/javascript; charset=utf-8"), ("cache-control", "public, max-age=3600")], PAY_JS)
}

async fn records_js() -> impl axum::response::IntoResponse {
    ([("content-type", "text/javascript; charset=utf-8"), ("cache-control", "public, max-age=3600")], RECORDS_JS)
}

async fn face_js() -> impl axum::response::IntoResponse {
    ([("content-type", "text/javascript; charset=utf-8"), ("cache-control", "public, max-age=3600")], FACE_JS)
}

async fn triage_js() -> impl axum::response::IntoResponse {
    ([("content-type", "text/javascript; charset=utf-8"), ("cache-control", "public, max-age=3600")], TRIAGE_JS)
}

async fn css() -> impl axum::response::IntoResponse {
    ([("content-type", "text/css; charset=utf-8"), ("cache-control", "public, max-age=3600")], CSS)
}

const STAFF_ANY: &[Role] = &Role::ALL;
const STAFF_ADMIN: &[Role] = &[Role::Admin];
const STAFF_FINANCE: &[Role] = &[Role::Finance];
const STAFF_OUTPATIENT: &[Role] = &[Role::Outpatient, Role::Admin];
/// Who answers for the patients' notices: the outpatient office and the administrators.
const STAFF_MESSAGES: &[Role] = &[Role::Outpatient, Role::Admin];
/// Who acts on the tasks critical notices hand over (a ward, a department, the office).
const STAFF_TASKS: &[Role] = &[Role::Nurse, Role::Doctor, Role::Lab, Role::Outpatient, Role::Finance, Role::Admin];
/// The nurse station: the wards' nurses, the inpatient cashiers (finance) and administrators.
const STAFF_WARD: &[Role] = &[Role::Nurse, Role::Finance, Role::Admin];
/// 住院服务中心 is staffed by nurses in most hospitals.
const STAFF_ADMISSION_OFFICE: &[Role] = &[Role::Nurse, Role::Admin];
/// The triage desk (分诊台): nurses.
const STAFF_TRIAGE: &[Role] = &[Role::Nurse, Role::Admin];
/// The lab console: the lab marks specimens, the reviewing doctor releases reports.
const STAFF_LAB: &[Role] = &[Role::Lab, Role::Doctor, Role::Admin];
/// 病案室: the records clerks and administrators.
const STAFF_RECORDS: &[Role] = &[Role::Records, Role::Admin];
/// The records ledger: the records office, finance and administrators.
const STAFF_RECORDS_LEDGER: &[Role] = &[Role::Records, Role::Finance, Role::Admin];

pub fn router(app: App, cfg: WebConfig) -> Router {
    let _ = HOSPITAL_NAME.set(cfg.hospital_name.clone());
    let public_origin = cfg.public_base_url.as_ref().map(|u| u.trim_end_matches('/').to_owned());
    let csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; report-uri /csp-report";
    let st = WebState {
        app,
        hospital_name: cfg.hospital_name.clone(),
        public_origin,
        csp: HeaderValue::from_static(csp),
        metrics: metrics_handle(),
        metrics_public: cfg.metrics_public,
    };

    let staff_any = Router::new().route("/staff", get(staff::home)).route_layer(from_fn_with_state((st.clone(), STAFF_ANY), auth::require_roles));
    let staff_admin = Router::new()
        .route("/staff/admin/staff", get(staff::users).post(staff::create_user))
        .route("/staff/admin/audit", get(staff::audit))
        .route("/staff/admin/open-api", get(messages_console::open_api_clients).post(messages_console::create_open_api_client))
        .route_layer(from_fn_with_state((st.clone(), STAFF_ADMIN), auth::require_roles));

    let staff_finance = Router::new()
        .route("/staff/finance/orders", get(billing_console::orders))
        .route("/staff/finance/orders/{order_no}", get(billing_console::order))
        .route("/staff/finance/orders/{order_no}/refund", post(billing_console::refund))
        .route("/staff/finance/ledger", get(billing_console::ledger))
        .route("/staff/finance/reconciliation", get(billing_console::recon_runs).post(billing_console::run_recon))
        .route("/staff/finance/reconciliation/{run_id}", get(billing_console::recon_run))
        .route("/staff/finance/reconciliation/{run_id}/items/{item_id}/resolve", post(billing_console::resolve_item))
        .route_layer(from_fn_with_state((st.clone(), STAFF_FINANCE), auth::require_roles));
    let staff_outpatient = Router::new()
        .route("/staff/outpatient/sessions", get(registration_console::sessions))
        .route("/staff/outpatient/sessions/{schedule_id}/change", post(registration_console::change))
        .route("/staff/outpatient/blacklist", get(registration_console::blacklist))
        .route("/staff/outpatient/blacklist/{id}/lift", post(registration_console::lift))
        .route("/staff/outpatient/insurance-rules", get(registration_console::insurance_rules).post(registration_console::add_insurance_rule))
        .route("/staff/outpatient/insurance-rules/{id}", post(registration_console::toggle_insurance_rule))
        .route("/staff/outpatient/visit-notes", get(messages_console::visit_notes).post(messages_console::save_visit_note))
        .route_layer(from_fn_with_state((st.clone(), STAFF_OUTPATIENT), auth::require_roles));
    let staff_messages = Router::new()
        .route("/staff/messages", get(messages_console::log))
        .route("/staff/messages/templates", get(messages_console::templates))
        .route("/staff/messages/templates/{scene}/{channel}", get(messages_console::edit_template).post(messages_console::save_template))
        .route("/staff/messages/stats", get(messages_console::stats))
        .route("/staff/messages/jobs/{id}/requeue", post(messages_console::requeue_job))
        .route("/staff/messages/{message_no}", get(messages_console::detail))
        .route("/staff/messages/{message_no}/retry", post(messages_console::retry))
        .route_layer(from_fn_with_state((st.clone(), STAFF_MESSAGES), auth::require_roles));
    let staff_tasks = Router::new()
        .route("/staff/tasks", get(messages_console::tasks))
        .route("/staff/tasks/{id}/close", post(messages_console::close_task))
        .route_layer(from_fn_with_state((st.clone(), STAFF_TASKS), auth::require_roles));
    let staff_ward = Router::new()
        .route("/staff/ward", get(inpatient_console::ward))
        .route("/staff/ward/close", post(inpatient_console::close))
        .route_layer(from_fn_with_state((st.clone(), STAFF_WARD), auth::require_roles));
    let staff_triage = Router::new()
        .route("/staff/triage", get(face_console::desk))
        .route("/staff/triage/scan", post(face_console::scan).layer(DefaultBodyLimit::max(FACE_BODY_LIMIT)))
        .route("/staff/triage/find", post(face_console::find))
        .route("/staff/triage/check-in", post(face_console::check_in))
        .route("/staff/triage/tickets/{booking_no}", get(face_console::ticket))
        .route_layer(from_fn_with_state((st.clone(), STAFF_TRIAGE), auth::require_roles));
    let staff_admission_office = Router::new()
        .route("/staff/admission", get(inpatient_console::admission_office))
        .route("/staff/admission/{booking_no}/answer", post(inpatient_console::admission_answer))
        .route_layer(from_fn_with_state((st.clone(), STAFF_ADMISSION_OFFICE), auth::require_roles));
    let staff_records = Router::new()
        .route("/staff/records", get(records_console::queue))
        .route("/staff/records/{no}", get(records_console::case))
        .route("/staff/records/{no}/photos/{id}", get(records_console::photo))
        .route("/staff/records/{no}/approve", post(records_console::approve))
        .route("/staff/records/{no}/return", post(records_console::return_))
        .route("/staff/records/{no}/pages", post(records_console::pages))
        .route("/staff/records/{no}/pickup", post(records_console::pickup))
        .route("/staff/records/{no}/switch", post(records_console::switch_to_pickup))
        .route_layer(from_fn_with_state((st.clone(), STAFF_RECORDS), auth::require_roles));
    let staff_records_ledger = Router::new()
        .route("/staff/records/ledger", get(records_console::ledger))
        .route_layer(from_fn_with_state((st.clone(), STAFF_RECORDS_LEDGER), auth::require_roles));
    let staff_records_fees = Router::new()
        .route("/staff/records/fees", get(records_console::fees).post(records_console::add_fees))
        .route_layer(from_fn_with_state((st.clone(), STAFF_ADMIN), auth::require_roles));
    let staff_lab = Router::new()
        .route("/staff/lab", get(reports_console::lab))
        .route("/staff/lab/{order_no}/reject", post(reports_console::reject))
        .route("/staff/lab/{order_no}/release", post(reports_console::release))
        .route_layer(from_fn_with_state((st.clone(), STAFF_LAB), auth::require_roles));
    let swagger: Router<WebState> = utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/openapi.json", api::ApiDoc::openapi()).into();

    Router::new()
        .route("/", get(pages::home))
        .route("/settings/text-size", get(pages::text_size))
        .route("/wx/login", get(identity::wechat_login))
        .route("/wx/callback", get(identity::wechat_callback))
        .route("/logout", post(identity::logout))
        .route("/patients", get(identity::patients).post(identity::create_patient))
        .route("/patients/new", get(identity::new_patient))
        .route("/patients/{id}/delete", post(identity::remove_patient))
        .route("/departments", get(registration::departments))
        .route("/departments/{dept_id}", get(registration::department))
        .route("/staff/login", get(staff::login_form).post(staff::login))
        .route("/staff/logout", post(staff::logout))
        .merge(staff_any)
        .merge(staff_admin)
        .merge(staff_finance)
        .merge(staff_outpatient)
        .merge(staff_messages)
        .merge(staff_tasks)
        .merge(staff_lab)
        .merge(staff_ward)
        .merge(staff_triage)
        .merge(staff_admission_office)
        .merge(staff_records_ledger)
        .merge(staff_records_fees)
        .merge(staff_records)
        .route("/api/v1/me/patients", get(identity::api_list_patients).post(identity::api_add_patient))
        .route("/api/v1/me/patients/{id}", delete(identity::api_remove_patient))
        .route("/api/v1/departments", get(registration::api_departments))
        .route("/callbacks/ccb", post(billing::ccb_callback))
        .route("/children", get(insurance::list))
        .route("/children/bind", get(insurance::form).post(insurance::start))
        .route("/children/bind/back", get(insurance::back))
        .route("/api/v1/me/children", get(insurance::api_list))
        .route("/api/v1/me/children/bindings", post(insurance::api_start))
        .route("/api/v1/me/children/bindings/complete", post(insurance::api_complete))
        .route("/book/{dept_id}/{schedule_id}", get(registration::book_page))
        .route("/registrations", get(registration::list).post(registration::submit))
        .route("/registrations/{booking_no}", get(registration::detail))
        .route("/registrations/{booking_no}/cancel", post(registration::cancel))
        .route("/registrations/{booking_no}/rebook", get(registration::rebook_page).post(registration::rebook))
        .route("/registrations/{booking_no}/check-in", post(registration::check_in))
        .route("/api/v1/me/registrations/{booking_no}/check-in", post(registration::api_check_in))
        .route("/api/v1/me/registrations", get(registration::api_list).post(registration::api_book))
        .route("/api/v1/me/registrations/{booking_no}", get(registration::api_get))
        .route("/api/v1/me/registrations/{booking_no}/cancel", post(registration::api_cancel))
        .route("/messages", get(messages::inbox))
        .route("/messages/settings", get(messages::settings).post(messages::save_settings))
        .route("/consents", get(consent::page))
        .route("/consents/{purpose}/withdraw", post(consent::withdraw))
        .route("/consents/{purpose}/grant", post(consent::grant))
        .route("/messages/{message_no}", get(messages::detail))
        .route("/messages/{message_no}/ack", post(messages::acknowledge))
        .route("/api/v1/me/messages", get(messages::api_inbox))
        .route("/api/v1/me/consents", get(consent::api_list))
        .route("/api/v1/me/consents/{purpose}/withdraw", post(consent::api_withdraw))
        .route("/api/v1/me/messages/{message_no}", get(messages::api_get))
        .route("/api/v1/me/messages/{message_no}/ack", post(messages::api_ack))
        .route("/api/v1/me/message-preferences", get(messages::api_preferences).put(messages::api_set_preference))
        .route("/reports", get(reports::list))
        .route("/reports/{order_no}", get(reports::detail))
        .route("/reports/{order_no}/files/{file_no}", get(reports::file))
        .route("/reports/{order_no}/files/{file_no}/pages/{n}", get(reports::page))
        .route("/api/v1/me/reports", get(reports::api_list))
        .route("/api/v1/me/reports/{order_no}", get(reports::api_get))
        .route("/verify/report/{code}", get(reports::verify))
        .route("/open/v1/lab-events", post(reports::lab_event))
        .route("/open/v1/messages", post(open_api::push))
        .route("/open/v1/messages/{message_no}", get(open_api::status))
        .route("/open/v1/face/consultations", post(face_console::consultation).layer(DefaultBodyLimit::max(FACE_BODY_LIMIT)))
        .route("/inpatient", get(inpatient::inpatient))
        .route("/inpatient/deposit", post(inpatient::top_up))
        .route("/inpatient/fees", get(inpatient::fee_day))
        .route("/inpatient/discharge", get(inpatient::discharge).post(inpatient::confirm_discharge))
        .route("/inpatient/discharge/{no}", get(inpatient::discharge_result))
        .route("/inpatient/discharge/{no}/summary.pdf", get(inpatient::discharge_summary_pdf))
        .route("/inpatient/admission", get(inpatient::admission_booking::overview).post(inpatient::admission_booking::request))
        .route("/inpatient/admission/{booking_no}", get(inpatient::admission_booking::detail))
        .route("/inpatient/admission/{booking_no}/accept", post(inpatient::admission_booking::accept))
        .route("/inpatient/admission/{booking_no}/cancel", post(inpatient::admission_booking::cancel))
        .route("/records", get(records::home).post(records::start))
        .route("/records/{no}", get(records::application))
        .route("/records/{no}/step/{step}", get(records::step_page).post(records::save_step))
        .route("/records/{no}/capture-token", post(records::capture_token))
        .route("/records/{no}/photos/{item}", post(records::upload_photo).get(records::photo).layer(DefaultBodyLimit::max(PHOTO_BODY_LIMIT)))
        .route("/records/{no}/submit", post(records::submit))
        .route("/records/{no}/withdraw", post(records::withdraw))
        .route("/courier/sf/route-push/{secret}", post(records::courier_push))
        .route("/face", get(face::home))
        .route("/face/{patient_id}/consent", get(face::consent_page).post(face::agree))
        .route("/face/{patient_id}/capture", get(face::capture_page))
        .route("/face/{patient_id}/enrol", post(face::enrol).layer(DefaultBodyLimit::max(FACE_BODY_LIMIT)))
        .route("/face/{patient_id}/close", post(face::close))
        .route("/api/v1/me/face", get(face::api_list))
        .route("/invoices", get(invoices::list))
        .route("/invoices/{id}", get(invoices::detail))
        .route("/invoices/{id}/pdf", get(invoices::pdf))
        .route("/card", get(cards::card))
        .route("/card/bind", post(cards::bind))
        .route("/card/recharge", post(cards::recharge))
        .route("/bills", get(billing::bills))
        .route("/fees", get(billing::fees))
        .route("/bills/{patient_id}/{recipe_id}/pay", post(billing::pay_bill))
        .route("/payments", get(billing::my_payments))
        .route("/pay/{order_no}", get(billing::pay_page))
        .route("/pay/{order_no}/method", post(billing::choose_method))
        .route("/pay/{order_no}/insurance-auth", get(billing::insurance_auth_back))
        .route("/pay/{order_no}/confirm", post(billing::confirm_insurance))
        .route("/pay/{order_no}/self-pay", post(billing::pay_rest))
        .route("/pay/{order_no}/result", get(billing::result_page))
        .route("/api/v1/me/orders", get(billing::api_orders).post(billing::api_create_order))
        .route("/api/v1/me/orders/{order_no}", get(billing::api_order))
        .route("/api/v1/me/orders/{order_no}/pay", post(billing::api_pay))
        .route("/api/v1/departments/{dept_id}/schedules", get(registration::api_schedules))
        .route("/api/v1/departments/{dept_id}/schedules/{schedule_id}", get(registration::api_session))
        .merge(swagger)
        .route("/static/app.css", get(css))
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route("/agreements/{which}", get(agreements::page))
        .route("/static/pay.js", get(pay_js))
        .route("/static/records.js", get(records_js))
        .route("/static/face.js", get(face_js))
        .route("/static/triage.js", get(triage_js))
        .route("/healthz", get(ops::healthz))
        .route("/csp-report", post(ops::csp_report))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .layer(from_fn(middleware::http_metrics))
        .layer(from_fn_with_state(st.clone(), middleware::same_origin_writes))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(from_fn_with_state(st.clone(), middleware::security_headers))
        .layer(from_fn(middleware::correlate_and_normalise))
        .with_state(st)
}
