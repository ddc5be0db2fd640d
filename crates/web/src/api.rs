//! The JSON API, described by OpenAPI at `/api/openapi.json` (Swagger UI at
//! `/api/docs`). Patient routes authenticate with the patient session cookie.
use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::{AppError, ErrorBody};
use crate::middleware::CorrelationId;
use app::identity::AddPatientInput;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// `Json` whose rejections use the error catalogue: wrong content type → 415
/// `UNSUPPORTED_MEDIA_TYPE`, bad JSON → 400 `BAD_REQUEST`, too large → 413.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
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

#[derive(Serialize, ToSchema)]
pub struct PatientDto {
    pub id: i64,
    /// self / child / parent / spouse / other
    pub relationship: String,
    pub name_masked: String,
    pub id_no_masked: String,
    pub mobile_masked: Option<String>,
    pub gender: String,
    pub birth_date: String,
    pub mr_no: String,
    /// tier1 / tier2 / tier3 / children / self_pay
    pub insurance_kind: String,
    pub is_default: bool,
}

impl From<app::identity::PatientSummary> for PatientDto {
    fn from(p: app::identity::PatientSummary) -> Self {
        Self {
            id: p.id,
            relationship: p.relationship.as_str().into(),
            name_masked: p.name_masked,
            id_no_masked: p.id_no_masked,
            mobile_masked: p.mobile_masked,
            gender: format!("{:?}", p.gender).to_lowercase(),
            birth_date: p.birth_date.to_string(),
            mr_no: p.mr_no,
            insurance_kind: p.insurance_kind,
            is_default: p.is_default,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct AddPatientRequest {
    /// As on the ID card.
    pub name: String,
    /// 18-digit resident ID number (GB 11643 check digit).
    pub id_card_no: String,
    pub mobile: Option<String>,
    /// self / child / parent / spouse / other
    pub relationship: String,
}

/// The patients the signed-in WeChat user manages.
#[utoipa::path(get, path = "/api/v1/me/patients", tag = "identity",
    responses((status = 200, body = Vec<PatientDto>), (status = 401, body = ErrorBody)))]
pub async fn list_patients(State(st): State<WebState>, auth: PatientAuth) -> Result<Json<Vec<PatientDto>>, AppError> {
    Ok(Json(st.app.list_patients(auth.account_id).await?.into_iter().map(Into::into).collect()))
}

/// Adds a patient after real-name verification and HIS registration (建档).
#[utoipa::path(post, path = "/api/v1/me/patients", tag = "identity", request_body = AddPatientRequest,
    responses((status = 201, body = PatientDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "PATIENT_ALREADY_ADDED / PATIENT_LIMIT_REACHED"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody, description = "ID_NUMBER_INVALID, NAME_INVALID, MOBILE_INVALID, REAL_NAME_MISMATCH …")))]
pub async fn add_patient(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    ApiJson(req): ApiJson<AddPatientRequest>,
) -> Result<Response, AppError> {
    let input = AddPatientInput { name: req.name, id_card_no: req.id_card_no, mobile: req.mobile, relationship: req.relationship };
    let p = st.app.add_patient(auth.account_id, &input, &cid.0).await?;
    Ok((StatusCode::CREATED, Json(PatientDto::from(p))).into_response())
}

/// Removes a patient from the signed-in user's list.
#[utoipa::path(delete, path = "/api/v1/me/patients/{id}", tag = "identity", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_patient(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    st.app.remove_patient(auth.account_id, id, &cid.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DepartmentDto {
    pub dept_id: String,
    pub name: String,
    pub category: String,
    pub location: String,
    pub intro: String,
}

/// The hospital's departments.
#[utoipa::path(get, path = "/api/v1/departments", tag = "booking", responses((status = 200, body = Vec<DepartmentDto>), (status = 503, body = ErrorBody)))]
pub async fn departments(State(st): State<WebState>) -> Result<Json<Vec<DepartmentDto>>, AppError> {
    Ok(Json(
        st.app
            .departments()
            .await?
            .iter()
            .map(|d| DepartmentDto {
                dept_id: d.dept_id.clone(),
                name: d.name.clone(),
                category: d.category.clone(),
                location: d.location.clone(),
                intro: d.intro.clone(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SlotDto {
    pub slot_id: String,
    /// HH:MM, Asia/Shanghai
    pub start: String,
    pub end: String,
    pub capacity: u32,
    pub available: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleDto {
    pub schedule_id: String,
    pub doctor_code: String,
    pub doctor_name: String,
    pub doctor_title: String,
    /// Registration plus consultation fee, in fen.
    pub fee_fen: i64,
    pub date: String,
    /// morning / afternoon / evening
    pub period: String,
    pub suspended: bool,
    pub slots: Vec<SlotDto>,
}

/// A session as the API shows it; `left` overrides the HIS's `available` with the
/// live count of places left (the single-session view).
fn schedule_dto(s: &domain::booking::Schedule, doctors: &[domain::booking::Doctor], left: Option<&std::collections::HashMap<String, u32>>) -> ScheduleDto {
    let d = doctors.iter().find(|d| d.doctor_code == s.doctor_code);
    ScheduleDto {
        schedule_id: s.schedule_id.clone(),
        doctor_code: s.doctor_code.clone(),
        doctor_name: d.map(|d| d.name.clone()).unwrap_or_default(),
        doctor_title: d.map(|d| d.title.clone()).unwrap_or_default(),
        fee_fen: d.and_then(|d| d.visit_fee()).map_or(0, |f| f.0),
        date: s.date.to_string(),
        period: match s.period {
            domain::booking::SessionPeriod::Morning => "morning",
            domain::booking::SessionPeriod::Afternoon => "afternoon",
            domain::booking::SessionPeriod::Evening => "evening",
        }
        .into(),
        suspended: s.suspended,
        slots: s
            .slots
            .iter()
            .map(|x| SlotDto {
                slot_id: x.slot_id.clone(),
                start: x.start.format("%H:%M").to_string(),
                end: x.end.format("%H:%M").to_string(),
                capacity: x.capacity,
                available: left.map(|l| l.get(&x.slot_id).copied().unwrap_or(0)).unwrap_or(x.available),
            })
            .collect(),
    }
}

fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A department's sessions over the next 14 days, with availability as the HIS last
/// said (refreshed every few seconds).
#[utoipa::path(get, path = "/api/v1/departments/{dept_id}/schedules", tag = "booking", params(("dept_id" = String, Path)),
    responses((status = 200, body = Vec<ScheduleDto>), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn schedules(State(st): State<WebState>, Path(dept_id): Path<String>) -> Result<Json<Vec<ScheduleDto>>, AppError> {
    if !plain_id(&dept_id) {
        return Err(ErrorCode::NotFound.into());
    }
    let v = st.app.department_view(&dept_id).await?;
    Ok(Json(v.schedules.iter().map(|s| schedule_dto(s, &v.doctors, None)).collect()))
}

/// One session with its places left, live: the smaller of what the HIS last said and
/// the capacity less every booking made since, on any node (what to poll during the
/// 8:00 rush).
#[utoipa::path(get, path = "/api/v1/departments/{dept_id}/schedules/{schedule_id}", tag = "booking", params(("dept_id" = String, Path), ("schedule_id" = String, Path)),
    responses((status = 200, body = ScheduleDto), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn session(State(st): State<WebState>, Path((dept_id, schedule_id)): Path<(String, String)>) -> Result<Json<ScheduleDto>, AppError> {
    if !plain_id(&dept_id) || !plain_id(&schedule_id) {
        return Err(ErrorCode::NotFound.into());
    }
    let v = st.app.department_view(&dept_id).await?;
    let s = v.schedules.iter().find(|s| s.schedule_id == schedule_id).ok_or(ErrorCode::NotFound)?;
    let left = st.app.session_places(&v, s).await?;
    Ok(Json(schedule_dto(s, &v.doctors, Some(&left))))
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&CommonErrors),
    info(title = "Carebridge 智慧服务平台 API", version = "1", description = "Patient-service APIs. Errors are `{code, message, correlation_id}` with stable codes."),
    paths(list_patients, add_patient, remove_patient, departments, schedules, session, crate::payments::api_order, crate::payments::api_orders, crate::payments::api_create_order, crate::payments::api_pay,
        crate::registration::api_book, crate::registration::api_list, crate::registration::api_get, crate::registration::api_cancel,
        crate::children::api_start, crate::children::api_complete, crate::children::api_list,
        crate::registration::api_check_in,
        crate::messages::api_inbox, crate::messages::api_get, crate::messages::api_ack, crate::messages::api_preferences, crate::messages::api_set_preference,
        crate::open_api::push, crate::open_api::status, crate::reports::api_list, crate::reports::api_get, crate::reports::lab_event),
    components(schemas(ErrorBody, PatientDto, AddPatientRequest, DepartmentDto, ScheduleDto, SlotDto, crate::payments::OrderDto, crate::payments::CreateOrderRequest, crate::payments::CreatedOrderDto, crate::payments::PayRequest, crate::payments::PayStepDto,
        crate::registration::BookRequest, crate::registration::BookingDto,
        crate::children::StartBindingRequest, crate::children::NextStepDto, crate::children::CompleteBindingRequest, crate::children::ChildDto,
        crate::messages::MessageDto, crate::messages::InboxDto, crate::messages::PreferenceDto,
        crate::open_api::PushRequestDto, crate::open_api::PushAnswerDto, crate::open_api::OpenErrorBody,
        crate::reports::ReportDto, crate::reports::ResultDto, crate::reports::FileDto, crate::reports::LabEventDto, crate::reports::LabEventAnswerDto)),
    tags(
        (name = "identity", description = "就诊人 and sign-in"),
        (name = "booking", description = "Departments, schedules and registrations (挂号)"),
        (name = "payments", description = "Orders and their payment"),
        (name = "messages", description = "The patient's message centre and notice preferences"),
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

/// The bank's result notification (form-encoded). Answers `SUCCESS` once the
/// notification is verified and stored, including for duplicates; a forged or
/// mismatching one gets a stable error and changes nothing.
pub async fn ccb_callback(State(st): State<WebState>, body: axum::body::Bytes) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| AppError::from(ErrorCode::BadRequest))?;
    let raw = String::from_utf8_lossy(&body);
    let outcome = st.app.handle_ccb_notification(&pairs, &raw).await?;
    tracing::info!(?outcome, "ccb notification");
    Ok(([("content-type", "text/plain")], "SUCCESS").into_response())
}
