//! Medical-record copies on the phone (病历复印, REC-1…REC-3): the list of the account's
//! applications, the guided steps (one page each, every answer saved on the server at
//! once), the camera page that takes the identity photos (no album: each shot spends a
//! capture token the page asks for), the review with its itemised fees, and the
//! application's page with its timeline, pickup code or waybill.
use crate::WebState;
use crate::auth::{PatientAuth, ReadingPatientAuth};
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::records::StepInput;
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::format::{TimeStyle, local_time, yuan};
use domain::records::Address;
use domain::records::{Applicant, ApplicationState, Delivery, Purpose, Section, Step};
use domain::{DomainError, ErrorCode};
use serde::Deserialize;

fn actor(auth: &PatientAuth, cid: &CorrelationId) -> Actor {
    Actor::patient_account(auth.account_id, &cid.0)
}

#[derive(Deserialize)]
pub struct MessageQuery {
    error: Option<String>,
    done: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "records.html")]
struct HomePage {
    hospital: String,
    big_text: bool,
    back: String,
    patients: Vec<(i64, String)>,
    /// (number, 就诊人, encounter, state label, state code, created)
    applications: Vec<(String, String, String, &'static str, &'static str, String)>,
    error: Option<&'static str>,
}

pub async fn home(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<MessageQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let h = st.app.records_home(auth.account_id).await?;
    let page = HomePage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patients: crate::inpatient::choices(&h.patients, st.app.today()),
        applications: h
            .applications
            .into_iter()
            .map(|(r, name)| {
                let label = r.encounter_label.clone().unwrap_or_else(|| "尚未选择就诊记录".into());
                (r.application_no, name, label, r.state.label_zh(), r.state.as_str(), local_time(r.created_at, TimeStyle::ShortMinute))
            })
            .collect(),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct StartForm {
    patient_id: i64,
}

pub async fn start(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<StartForm>,
) -> Result<Response, AppError> {
    let no = st.app.start_record_application(auth.account_id, f.patient_id, &actor(&auth, &cid)).await?;
    Ok(Redirect::to(&format!("/records/{no}/step/relation")).into_response())
}

/// One choice on a step page: (value, label, hint, chosen).
type Choice = (String, String, String, bool);

#[derive(Template, WebTemplate)]
#[template(path = "records_step.html")]
struct StepPage {
    hospital: String,
    big_text: bool,
    back: String,
    no: String,
    patient: String,
    step: &'static str,
    step_label: &'static str,
    number: usize,
    of: usize,
    returned: bool,
    /// The clerk's reasons, while returned.
    reasons: String,
    choices: Vec<Choice>,
    /// Sections step: what the purpose usually needs.
    hint: String,
    copies: u32,
    /// Photos step: (document, label, taken photo id)
    documents: Vec<(String, &'static str, Option<i64>)>,
    all_taken: bool,
    express_offered: bool,
    address: Address,
    express_chosen: bool,
    /// Review: (label, basis, amount)
    fee_lines: Vec<(&'static str, String, String)>,
    total: String,
    summary: Vec<(&'static str, String)>,
    error: Option<&'static str>,
}

fn step_of(s: &str) -> Result<Step, AppError> {
    Step::parse(s).ok_or_else(|| AppError(DomainError::new(ErrorCode::NotFound, "no such step")))
}

pub async fn step_page(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((no, step)): Path<(String, String)>,
    Query(q): Query<MessageQuery>,
) -> Result<Response, AppError> {
    let step = step_of(&step)?;
    let d = st.app.record_draft(auth.account_id, &no).await?;
    let row = &d.row;
    if !matches!(row.state, ApplicationState::Draft | ApplicationState::Returned) {
        return Ok(Redirect::to(&format!("/records/{no}")).into_response());
    }
    // A step not yet reached sends the patient to where they are.
    if row.state == ApplicationState::Draft && !d.content.may_open(step) {
        return Ok(Redirect::to(&format!("/records/{no}/step/{}", d.next.as_str())).into_response());
    }
    let c = Chrome::new(&st, &headers, &format!("/records/{no}/step/{}", step.as_str()));
    let mut page = StepPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        no: no.clone(),
        patient: d.patient.name_masked.clone(),
        step: step.as_str(),
        step_label: step.label_zh(),
        number: step.number(),
        of: Step::ALL.len(),
        returned: row.state == ApplicationState::Returned,
        reasons: row.reasons.iter().map(|r| r.label_zh()).collect::<Vec<_>>().join("；")
            + &row.reason_note.as_ref().map(|n| format!("（{n}）")).unwrap_or_default(),
        choices: vec![],
        hint: String::new(),
        copies: row.copies.unwrap_or(1),
        documents: vec![],
        all_taken: false,
        express_offered: st.app.records_express_offered(),
        address: row.address.clone().unwrap_or_default(),
        express_chosen: row.delivery == Some(Delivery::Express),
        fee_lines: vec![],
        total: String::new(),
        summary: vec![],
        error: crate::error::message_of(q.error.as_deref()),
    };
    match step {
        Step::Relation => {
            page.choices = Applicant::ALL
                .iter()
                .map(|a| {
                    let docs = a.required_documents().iter().map(|d| d.label_zh()).collect::<Vec<_>>().join("、");
                    (a.as_str().to_owned(), a.label_zh().to_owned(), format!("需拍摄：{docs}"), row.applicant == Some(*a))
                })
                .collect();
        }
        Step::Encounter => {
            let list = st.app.record_encounter_choices(auth.account_id, &no, &actor(&auth, &cid)).await?;
            page.choices = list
                .into_iter()
                .map(|c| {
                    let e = c.encounter;
                    let chosen = row.encounter_id.as_deref() == Some(e.encounter_id.as_str());
                    let note = match c.open_application {
                        Some(other) => format!("病案号 {} · 已有办理中的申请 {other}，可再次申请", e.mr_no),
                        None => format!("病案号 {}", e.mr_no),
                    };
                    (e.encounter_id.clone(), e.label(), note, chosen)
                })
                .collect();
        }
        Step::Purpose => {
            page.choices = Purpose::ALL.iter().map(|p| (p.as_str().to_owned(), p.label_zh().to_owned(), String::new(), row.purpose == Some(*p))).collect();
        }
        Step::Sections => {
            let stay = app::records::is_stay(row);
            let suggested = row.purpose.map(|p| p.suggested_for(stay)).unwrap_or_default();
            page.hint = row
                .purpose
                .map(|p| format!("「{}」通常需要：{}", p.label_zh(), suggested.iter().map(|s| s.label_zh()).collect::<Vec<_>>().join("、")))
                .unwrap_or_default();
            page.choices = Section::of_encounter(stay)
                .iter()
                .map(|s| (s.as_str().to_owned(), s.label_zh().to_owned(), format!("约{}页", s.usual_pages()), row.sections.contains(s)))
                .collect();
        }
        Step::Copies | Step::Delivery => {}
        Step::Photos => {
            let applicant = row.applicant.unwrap_or(Applicant::Patient);
            page.documents = applicant
                .required_documents()
                .iter()
                .map(|doc| {
                    let taken = d.photos.iter().find(|p| p.document == *doc && !row.fix_documents.contains(doc)).map(|p| p.id);
                    (doc.as_str().to_owned(), doc.label_zh(), taken)
                })
                .collect();
            page.all_taken = page.documents.iter().all(|x| x.2.is_some());
        }
        Step::Review => {
            let r = st.app.record_review(auth.account_id, &no).await?;
            page.fee_lines = r.lines.iter().map(|l| (l.kind.label_zh(), l.basis.clone(), yuan(l.amount))).collect();
            page.total = yuan(r.total);
            let rr = &r.draft.row;
            page.summary = vec![
                ("就诊人", r.draft.patient.name_masked.clone()),
                ("申请人", rr.applicant.map(|a| a.label_zh().to_owned()).unwrap_or_default()),
                ("就诊记录", rr.encounter_label.clone().unwrap_or_default()),
                ("复印用途", rr.purpose.map(|p| p.label_zh().to_owned()).unwrap_or_default()),
                ("复印内容", rr.sections.iter().map(|s| s.label_zh()).collect::<Vec<_>>().join("、")),
                ("份数", format!("{} 份（预估每份 {} 页）", rr.copies.unwrap_or(1), r.pages)),
                ("证件照片", format!("已拍摄 {} 张", r.draft.content.photos.len())),
                (
                    "领取方式",
                    match (rr.delivery, &rr.address) {
                        (Some(Delivery::Express), Some(a)) => {
                            format!("快递到 {}{}{}{}（{} {}）", a.province, a.city, a.county, a.detail, a.name, mask_mobile(&a.mobile))
                        }
                        (Some(d), _) => d.label_zh().to_owned(),
                        _ => String::new(),
                    },
                ),
            ];
        }
    }
    Ok(page.into_response())
}

fn mask_mobile(m: &str) -> String {
    if m.len() == 11 { format!("{}****{}", &m[..3], &m[7..]) } else { "***".into() }
}

/// Every step's form: only the fields of the posted step are read (the sections, checkboxes
/// of one name, are read from the pairs).
#[derive(Deserialize, Default)]
pub struct StepForm {
    #[serde(default)]
    choice: String,
    #[serde(default)]
    copies: String,
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    province: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    county: String,
    #[serde(default)]
    detail: String,
}

fn invalid() -> DomainError {
    DomainError::new(ErrorCode::ValidationFailed, "step form")
}

pub async fn save_step(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((no, step)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let step = step_of(&step)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| AppError(invalid()))?;
    let f: StepForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let input = match step {
        Step::Relation => Applicant::parse(f.choice.trim()).map(StepInput::Relation).ok_or_else(invalid),
        Step::Encounter => Some(f.choice.trim().to_owned()).filter(|c| !c.is_empty() && c.len() <= 64).map(StepInput::Encounter).ok_or_else(invalid),
        Step::Purpose => Purpose::parse(f.choice.trim()).map(StepInput::Purpose).ok_or_else(invalid),
        Step::Sections => {
            let s: Option<Vec<Section>> = pairs.iter().filter(|(k, _)| k == "section").map(|(_, v)| Section::parse(v)).collect();
            s.map(StepInput::Sections).ok_or_else(invalid)
        }
        Step::Copies => f.copies.trim().parse::<u32>().map(StepInput::Copies).map_err(|_| invalid()),
        Step::Delivery => match Delivery::parse(f.delivery.trim()) {
            Some(Delivery::Express) => Ok(StepInput::Delivery(
                Delivery::Express,
                Some(Address {
                    name: f.name.trim().to_owned(),
                    mobile: f.mobile.trim().to_owned(),
                    province: f.province.trim().to_owned(),
                    city: f.city.trim().to_owned(),
                    county: f.county.trim().to_owned(),
                    detail: f.detail.trim().to_owned(),
                }),
            )),
            Some(Delivery::Pickup) => Ok(StepInput::Delivery(Delivery::Pickup, None)),
            None => Err(invalid()),
        },
        Step::Photos | Step::Review => return Ok(Redirect::to(&format!("/records/{no}/step/{}", step.as_str())).into_response()),
    };
    let back = |code: &str| Redirect::to(&format!("/records/{no}/step/{}?error={code}", step.as_str())).into_response();
    let input = match input {
        Ok(i) => i,
        Err(e) => return Ok(back(e.code.code())),
    };
    Ok(match st.app.save_record_step(auth.account_id, &no, input, &actor(&auth, &cid)).await {
        Ok(next) => Redirect::to(&format!("/records/{no}/step/{}", next.as_str())).into_response(),
        Err(e) if e.code.http_status() < 500 && e.code != ErrorCode::NotFound && e.code != ErrorCode::PatientNotFound => back(e.code.code()),
        Err(e) => return Err(e.into()),
    })
}

#[derive(Deserialize)]
pub struct TokenForm {
    document: String,
}

/// The camera page asks for a capture token right before each shot.
pub async fn capture_token(State(st): State<WebState>, auth: PatientAuth, Path(no): Path<String>, Form(f): Form<TokenForm>) -> Result<Response, AppError> {
    let token = st.app.mint_capture_token(auth.account_id, &no, &f.document).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(serde_json::json!({"token": token}))).into_response())
}

/// The shot itself: the JPEG the page drew from the camera, with the token in a header.
pub async fn upload_photo(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((no, document)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let token = headers.get("x-capture-token").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    st.app.upload_record_photo(auth.account_id, &no, &document, &token, body.to_vec(), &actor(&auth, &cid)).await?;
    Ok(axum::Json(serde_json::json!({"ok": true})).into_response())
}

/// A photo as the patient sees it (masked, stamped).
pub async fn photo(
    State(st): State<WebState>,
    ReadingPatientAuth(auth): ReadingPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((no, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let bytes = st.app.record_photo_for_patient(auth.account_id, &no, id, &actor(&auth, &cid)).await?;
    Ok(jpeg_response(bytes))
}

pub(crate) fn jpeg_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, no-store"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], bytes).into_response()
}

/// Pays a complete draft (or resubmits a returned one).
pub async fn submit(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    Ok(match st.app.submit_record_application(auth.account_id, &no, &actor(&auth, &cid)).await {
        Ok(Some(order_no)) => Redirect::to(&format!("/pay/{order_no}")).into_response(),
        Ok(None) => Redirect::to(&format!("/records/{no}?done=resubmitted")).into_response(),
        Err(e) if e.code.http_status() < 500 && e.code != ErrorCode::NotFound && e.code != ErrorCode::PatientNotFound => {
            Redirect::to(&format!("/records/{no}/step/review?error={}", e.code.code())).into_response()
        }
        Err(e) => return Err(e.into()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "records_application.html")]
struct ApplicationPage {
    hospital: String,
    big_text: bool,
    back: String,
    no: String,
    state: &'static str,
    phase: &'static str,
    facts: Vec<(&'static str, String)>,
    fee_lines: Vec<(&'static str, String, String)>,
    paid: String,
    /// (time, text, who)
    timeline: Vec<(String, String, String)>,
    photos: Vec<(i64, &'static str)>,
    pickup: Option<(String, String, String)>,
    waybill: String,
    continue_step: Option<&'static str>,
    reasons: String,
    extra_order: Option<String>,
    can_withdraw: bool,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

pub async fn application(
    State(st): State<WebState>,
    headers: HeaderMap,
    ReadingPatientAuth(auth): ReadingPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Query(q): Query<MessageQuery>,
) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/records");
    let v = st.app.record_application_view(auth.account_id, &no, &actor(&auth, &cid)).await?;
    let r = &v.row;
    let mut facts = vec![("就诊人", v.patient.name_masked.clone())];
    if let Some(a) = r.applicant {
        facts.push(("申请人", a.label_zh().to_owned()));
    }
    if let Some(e) = &r.encounter_label {
        facts.push(("就诊记录", e.clone()));
    }
    if let Some(p) = r.purpose {
        facts.push(("用途", p.label_zh().to_owned()));
    }
    if !r.sections.is_empty() {
        facts.push(("复印内容", r.sections.iter().map(|s| s.label_zh()).collect::<Vec<_>>().join("、")));
    }
    if let Some(n) = r.copies {
        facts.push(("份数", format!("{n} 份")));
    }
    if let Some(p) = r.counted_pages {
        facts.push(("实际页数", format!("每份 {p} 页")));
    }
    if let Some(d) = r.delivery {
        facts.push(("领取方式", d.label_zh().to_owned()));
    }
    if let Some(p) = r.promised_by.filter(|_| r.state.is_with_office()) {
        facts.push(("预计完成", local_time(p, TimeStyle::Date)));
    }
    let continue_step = v.continue_step.map(|s| s.as_str());
    let s = st.app.records_settings();
    let page = ApplicationPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        no: no.clone(),
        state: r.state.label_zh(),
        phase: r.state.as_str(),
        facts,
        fee_lines: v.lines.iter().map(|l| (l.kind.label_zh(), l.basis.clone(), yuan(l.amount))).collect(),
        paid: yuan(r.paid),
        timeline: v.timeline.iter().rev().map(|t| (local_time(t.at, TimeStyle::ShortMinute), t.note.clone(), t.by.clone())).collect(),
        photos: v.photos.iter().filter(|_| r.purged_at.is_none()).map(|p| (p.id, p.document.label_zh())).collect(),
        pickup: r
            .pickup_code
            .clone()
            .filter(|_| r.state == ApplicationState::ReadyForPickup)
            .map(|code| (code, s.office_place.clone(), s.office_hours.clone())),
        waybill: r.waybill_no.clone().unwrap_or_default(),
        continue_step,
        reasons: r.reasons.iter().map(|x| x.label_zh()).collect::<Vec<_>>().join("；")
            + &r.reason_note.as_ref().map(|n| format!("（{n}）")).unwrap_or_default(),
        extra_order: r.extra_order_no.clone().filter(|_| r.state == ApplicationState::ExtraDue),
        can_withdraw: r.state.may_withdraw() || r.state == ApplicationState::Draft,
        flash: match q.done.as_deref() {
            Some("resubmitted") => Some("已重新提交，病案室将尽快审核。"),
            Some("withdrawn") => Some("申请已撤回，已付费用将原路退回。"),
            _ => None,
        },
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct WithdrawForm {
    confirmed: Option<String>,
}

/// Withdraws, after asking (what is refunded is said first).
pub async fn withdraw(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<WithdrawForm>,
) -> Result<Response, AppError> {
    let actor = actor(&auth, &cid);
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        let v = st.app.record_application_view(auth.account_id, &no, &actor).await?;
        let paid = v.row.paid;
        let conf = crate::confirm::Confirmation::new("撤回病历复印申请", format!("/records/{no}/withdraw"), format!("/records/{no}"), "撤回")
            .fact("申请编号", no.clone())
            .fact("就诊人", v.patient.name_masked.clone())
            .fact("已付金额", format!("¥{}", yuan(paid)))
            .consequence(if paid.0 > 0 {
                "撤回后病案室不再办理，已付费用原路退回（1–7个工作日到账）。"
            } else {
                "撤回后该申请作废，需要时可重新申请。"
            })
            .confirm_label("确认撤回申请");
        return Ok(conf.patient_page(Chrome::new(&st, &headers, &format!("/records/{no}"))));
    }
    Ok(match st.app.withdraw_record_application(auth.account_id, &no, &actor).await {
        Ok(()) => Redirect::to(&format!("/records/{no}?done=withdrawn")).into_response(),
        Err(e) if e.code == ErrorCode::NotFound => return Err(e.into()),
        Err(e) => Redirect::to(&format!("/records/{no}?error={}", e.code.code())).into_response(),
    })
}

/// SF Express's route push (protocols-wave2 §1: no signature; the path carries a secret).
pub async fn courier_push(State(st): State<WebState>, Path(secret): Path<String>, body: Bytes) -> Result<Response, AppError> {
    let answer = st.app.courier_route_push(&secret, &body).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
}
