//! The JSON API, described by OpenAPI at `/api/openapi.json` (Swagger UI at
//! `/api/docs`). Patient routes authenticate with the patient session cookie.
use crate::error::{AppError, ErrorBody};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use domain::ErrorCode;
use utoipa::OpenApi;

/// `Json` whose rejections use the error catalogue: wrong content type → 415
/// `UNSUPPORTED_MEDIA_TYPE`, bad JSON → 400 `BAD_REQUEST`, too large → 413, and anything
/// but a JSON object → 422 `VALIDATION_FAILED` (every request body is an object; serde
/// would otherwise read a struct of optional fields from an array such as `[null]`).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<serde_json::Value>::from_request(req, state).await {
            Ok(Json(v)) if !v.is_object() => Err(domain::DomainError::new(ErrorCode::ValidationFailed, "json: the body is not an object").into()),
            Ok(Json(v)) => serde_json::from_value(v).map(Self).map_err(|e| domain::DomainError::new(ErrorCode::ValidationFailed, format!("json: {e}")).into()),
            Err(rej) => {
                let code = match &rej {
                    JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
                    JsonRejection::BytesRejection(_) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                    JsonRejection::JsonDataError(_) => ErrorCode::ValidationFailed,
                    _ => ErrorCode::BadRequest,
                };
                Err(domain::DomainError::new(code, format!("json: {}", rej.body_text())).into())
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&CommonErrors),
    info(title = "Carebridge 智慧服务平台 API", version = "1", description = "Patient-service APIs. Errors are `{code, message, correlation_id}` with stable codes."),
    paths(crate::identity::api_list_patients, crate::identity::api_add_patient, crate::identity::api_remove_patient, crate::registration::api_departments, crate::registration::api_schedules, crate::registration::api_session, crate::billing::api_order, crate::billing::api_orders, crate::billing::api_create_order, crate::billing::api_pay,
        crate::registration::api_book, crate::registration::api_list, crate::registration::api_get, crate::registration::api_cancel,
        crate::insurance::api_start, crate::insurance::api_complete, crate::insurance::api_list,
        crate::registration::api_check_in,
        crate::messages::api_inbox, crate::messages::api_get, crate::messages::api_ack, crate::messages::api_preferences, crate::messages::api_set_preference,
        crate::consent::api_list, crate::consent::api_withdraw, crate::face::api_list,
        crate::open_api::push, crate::open_api::status, crate::face_console::consultation, crate::reports::api_list, crate::reports::api_get, crate::reports::lab_event),
    components(schemas(ErrorBody, crate::identity::PatientDto, crate::identity::AddPatientRequest, crate::registration::DepartmentDto, crate::registration::ScheduleDto, crate::registration::SlotDto, crate::billing::OrderDto, crate::billing::CreateOrderRequest, crate::billing::CreatedOrderDto, crate::billing::PayRequest, crate::billing::PayStepDto,
        crate::registration::BookRequest, crate::registration::BookingDto,
        crate::insurance::StartBindingRequest, crate::insurance::NextStepDto, crate::insurance::CompleteBindingRequest, crate::insurance::ChildDto,
        crate::messages::MessageDto, crate::messages::InboxDto, crate::messages::PreferenceDto, crate::consent::ConsentDto, crate::consent::WithdrawRequest, crate::face::FaceEnrolmentDto,
        crate::face_console::ConsultationScanDto, crate::face_console::ConsultationPatientDto, crate::face_console::ConsultationAnswerDto, crate::open_api::PushRequestDto, crate::open_api::PushAnswerDto, crate::open_api::OpenErrorBody,
        crate::reports::ReportDto, crate::reports::ResultDto, crate::reports::FileDto, crate::reports::LabEventDto, crate::reports::LabEventAnswerDto)),
    tags(
        (name = "identity", description = "就诊人 and sign-in"),
        (name = "booking", description = "Departments, schedules and registrations (挂号)"),
        (name = "payments", description = "Orders and their payment"),
        (name = "messages", description = "The patient's message centre and notice preferences"),
        (name = "consents", description = "The patient's consents per purpose and their withdrawal (S13)"),
        (name = "face", description = "Face-scan services per 就诊人 (FACE-1): enrolment state; consent is withdrawn through `consents`"),
        (name = "reports", description = "Lab and exam reports: state, guidance, results and files (RPT-1/2)"),
        (name = "open", description = "The open message interface for hospital systems (MSG-3): signed pushes and status")
    )
)]
pub struct ApiDoc;

type Op = utoipa::openapi::path::Operation;

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = (&'static str, &mut Op)> {
    [("get", &mut item.get), ("put", &mut item.put), ("post", &mut item.post), ("delete", &mut item.delete), ("patch", &mut item.patch)]
        .into_iter()
        .filter_map(|(m, op)| op.as_mut().map(|o| (m, o)))
}

/// Handlers in different modules share names (`api_get`); the spec needs one id per
/// operation, so a shared name gets its tag in front.
fn unique_operation_ids(api: &mut utoipa::openapi::OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in api.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            *seen.entry(op.operation_id.clone().unwrap_or_default()).or_default() += 1;
        }
    }
    for item in api.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            let id = op.operation_id.clone().unwrap_or_default();
            if seen.get(&id).copied().unwrap_or(0) > 1 {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_default();
                op.operation_id = Some(format!("{tag}_{id}"));
            }
        }
    }
}

/// OpenAPI links: what a created or listed thing's number opens next, so clients (and
/// the stateful phase of the API fuzzing) can follow a booking, an order, a message or a
/// report from where it appears.
fn add_links(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, link::LinkBuilder};
    /// (to method, to path, the parameter, where its value comes from)
    type Target = (&'static str, &'static str, &'static str, &'static str);
    // (from method, from path, status, what it links to)
    const LINKS: &[(&str, &str, &str, &[Target])] = &[
        ("post", "/api/v1/me/patients", "201", &[("delete", "/api/v1/me/patients/{id}", "id", "$response.body#/id")]),
        (
            "post",
            "/api/v1/me/registrations",
            "201",
            &[
                ("get", "/api/v1/me/registrations/{booking_no}", "booking_no", "$response.body#/booking_no"),
                ("post", "/api/v1/me/registrations/{booking_no}/cancel", "booking_no", "$response.body#/booking_no"),
                ("post", "/api/v1/me/registrations/{booking_no}/check-in", "booking_no", "$response.body#/booking_no"),
            ],
        ),
        (
            "post",
            "/api/v1/me/orders",
            "201",
            &[
                ("get", "/api/v1/me/orders/{order_no}", "order_no", "$response.body#/order_no"),
                ("post", "/api/v1/me/orders/{order_no}/pay", "order_no", "$response.body#/order_no"),
            ],
        ),
        (
            "get",
            "/api/v1/me/messages",
            "200",
            &[
                ("get", "/api/v1/me/messages/{message_no}", "message_no", "$response.body#/messages/0/message_no"),
                ("post", "/api/v1/me/messages/{message_no}/ack", "message_no", "$response.body#/messages/0/message_no"),
            ],
        ),
        ("get", "/api/v1/me/reports", "200", &[("get", "/api/v1/me/reports/{order_no}", "order_no", "$response.body#/0/order_no")]),
        ("get", "/api/v1/me/orders", "200", &[("get", "/api/v1/me/orders/{order_no}", "order_no", "$response.body#/0/order_no")]),
        ("get", "/api/v1/me/registrations", "200", &[("get", "/api/v1/me/registrations/{booking_no}", "booking_no", "$response.body#/0/booking_no")]),
        (
            "get",
            "/api/v1/departments/{dept_id}/schedules",
            "200",
            &[("get", "/api/v1/departments/{dept_id}/schedules/{schedule_id}", "schedule_id", "$response.body#/0/schedule_id")],
        ),
    ];
    let id_of = |api: &utoipa::openapi::OpenApi, method: &str, path: &str| -> Option<String> {
        let item = api.paths.paths.get(path)?;
        let op = match method {
            "get" => item.get.as_ref(),
            "post" => item.post.as_ref(),
            "put" => item.put.as_ref(),
            "delete" => item.delete.as_ref(),
            _ => None,
        }?;
        op.operation_id.clone()
    };
    for (from_method, from_path, status, targets) in LINKS {
        let links: Vec<(String, utoipa::openapi::link::Link)> = targets
            .iter()
            .filter_map(|(m, p, param, value)| {
                let id = id_of(api, m, p)?;
                let mut b = LinkBuilder::new().operation_id(id.clone()).parameter(*param, *value);
                if p.contains("{dept_id}") {
                    b = b.parameter("dept_id", "$request.path.dept_id");
                }
                Some((id, b.build()))
            })
            .collect();
        let Some(item) = api.paths.paths.get_mut(*from_path) else { continue };
        let Some((_, op)) = operations_mut(item).find(|(m, _)| m == from_method) else { continue };
        if let Some(RefOr::T(resp)) = op.responses.responses.get_mut(*status) {
            for (name, link) in links {
                resp.links.insert(name, RefOr::T(link));
            }
        }
    }
}

/// The answers any operation can give besides its own, documented once for all (G11:
/// a client generated from the spec must know every status it can meet): 400 for a
/// malformed path, query or body; 413 and 415 for a body too large or not JSON; 401
/// for the patient's own (`/api/v1/me/…`) operations without a live session.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |what: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
                    .build(),
            )
        };
        unique_operation_ids(api);
        add_links(api);
        for (path, item) in api.paths.paths.iter_mut() {
            let mine = path.starts_with("/api/v1/me/");
            for (_, op) in operations_mut(item) {
                let r = &mut op.responses.responses;
                r.entry("400".into()).or_insert_with(|| error("BAD_REQUEST: a malformed path, query or body"));
                if op.request_body.is_some() {
                    r.entry("413".into()).or_insert_with(|| error("PAYLOAD_TOO_LARGE"));
                    r.entry("415".into()).or_insert_with(|| error("UNSUPPORTED_MEDIA_TYPE: the body is not application/json"));
                }
                if mine {
                    r.entry("401".into()).or_insert_with(|| error("UNAUTHENTICATED or SESSION_EXPIRED: sign in again"));
                }
            }
        }
    }
}
