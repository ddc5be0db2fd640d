//! The patient's consents (S13, 授权管理): what each is for, on which text, since when and
//! given where; withdrawing one (after a confirmation saying what stops) or giving a
//! notice consent again. A child's 少儿医保 consent is given on the binding page and
//! withdrawn here or from the children's list.
use crate::WebState;
use crate::auth::PatientAuth;
use crate::confirm::Confirmation;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::consent::ConsentView;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::ErrorCode;
use domain::consent::{Purpose, channel};
use domain::format::{TimeStyle, local_time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    local_time(t, TimeStyle::Minute)
}

fn channel_zh(c: &str) -> &'static str {
    match c {
        channel::SIGN_IN => "微信登录时同意",
        channel::SETTINGS_PAGE => "授权管理页面",
        channel::CHILD_BIND_PAGE => "少儿医保绑定页面",
        channel::CHILDREN_PAGE => "少儿医保列表页面",
        channel::FACE_PAGE => "刷脸就医页面",
        channel::API => "接口",
        "before_records" => "登录时（记录启用前）",
        _ => "其他",
    }
}

/// One consent as the page and the API show it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConsentDto {
    /// wechat_notices, sms_notices, child_insurance or face_enrolment.
    pub purpose: String,
    pub label: String,
    /// The words agreed to, and their version.
    pub text: String,
    pub text_version: Option<String>,
    /// The version as the patient reads it (《个人信息保护政策》2026年12月1日版).
    pub text_version_label: Option<String>,
    pub patient_id: Option<i64>,
    pub patient_label: Option<String>,
    pub in_force: bool,
    pub granted_at: Option<String>,
    pub granted_via: Option<String>,
    pub withdrawn_at: Option<String>,
    /// What withdrawing stops.
    pub withdrawal_effect: String,
    /// Whether it can be given again here (notices; a child's is given by binding again).
    pub grantable_here: bool,
    /// Where a separate consent is given again, when not here.
    pub grant_again_at: Option<String>,
}

impl ConsentDto {
    fn of(v: &ConsentView) -> Self {
        let r = v.record.as_ref();
        Self {
            purpose: v.purpose.code().into(),
            label: v.purpose.label_zh().into(),
            text: v.purpose.text_zh().into(),
            text_version: r.map(|r| r.text_version.clone()),
            text_version_label: r.map(|r| domain::consent::version_label_zh(&r.text_version)),
            patient_id: v.patient_id,
            patient_label: v.patient_label.clone(),
            in_force: v.in_force,
            granted_at: r.map(|r| local(r.granted_at)),
            granted_via: r.map(|r| channel_zh(&r.channel).into()),
            withdrawn_at: r.and_then(|r| r.withdrawn_at).map(local),
            withdrawal_effect: v.purpose.withdrawal_effect_zh().into(),
            grantable_here: !v.purpose.needs_separate_grant(),
            grant_again_at: match v.purpose {
                Purpose::ChildInsurance => Some("如需再次使用，请在“少儿医保”中重新绑定。".into()),
                Purpose::FaceEnrolment => Some("如需再次使用，请在“刷脸就医”中重新开通。".into()),
                Purpose::WechatNotices | Purpose::SmsNotices => None,
            },
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "consents.html")]
struct ConsentsPage {
    hospital: String,
    big_text: bool,
    back: String,
    rows: Vec<ConsentDto>,
    flash: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    done: Option<String>,
}

pub async fn page(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<PageQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/messages/settings");
    let o = st.app.consents(auth.account_id).await?;
    let flash = match q.done.as_deref() {
        Some("withdrawn") => Some("已撤回，立即生效。"),
        Some("granted") => Some("已重新授权。"),
        _ => None,
    };
    Ok(ConsentsPage { hospital: c.hospital, big_text: c.big_text, back: c.back, rows: o.current.iter().map(ConsentDto::of).collect(), flash }.into_response())
}

fn purpose_of(code: &str) -> Result<Purpose, AppError> {
    Purpose::parse(code).ok_or_else(|| AppError::from(ErrorCode::NotFound))
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    patient_id: Option<i64>,
    #[serde(default)]
    confirmed: Option<String>,
}

/// Withdraws after a confirmation that says what stops.
pub async fn withdraw(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(code): Path<String>,
    axum::Form(f): axum::Form<ConsentForm>,
) -> Result<Response, AppError> {
    let purpose = purpose_of(&code)?;
    if crate::confirm::confirmed(f.confirmed.as_deref()) {
        let actor = Actor::patient_account(auth.account_id, &cid.0);
        st.app.withdraw_consent(auth.account_id, purpose, f.patient_id, channel::SETTINGS_PAGE, &actor).await?;
        return Ok(Redirect::to("/consents?done=withdrawn").into_response());
    }
    let c = Chrome::new(&st, &headers, "/consents");
    let mut conf = Confirmation::new(&format!("撤回{}授权", purpose.label_zh()), format!("/consents/{code}/withdraw"), "/consents", "撤回")
        .fact("授权事项", purpose.label_zh())
        .consequence(purpose.withdrawal_effect_zh());
    if let Some(pid) = f.patient_id {
        conf = conf.field("patient_id", pid.to_string());
    }
    Ok(conf.patient_page(c))
}

/// Gives a notice consent again (no confirmation: it undoes nothing irreversible).
pub async fn grant(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let purpose = purpose_of(&code)?;
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    st.app.grant_consent(auth.account_id, purpose, channel::SETTINGS_PAGE, &actor).await?;
    Ok(Redirect::to("/consents?done=granted").into_response())
}

/// The account's consents, each with its state and text version.
#[utoipa::path(get, path = "/api/v1/me/consents", tag = "consents", responses((status = 200, body = Vec<ConsentDto>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn api_list(State(st): State<WebState>, auth: PatientAuth) -> Result<Response, AppError> {
    let o = st.app.consents(auth.account_id).await?;
    Ok(axum::Json(o.current.iter().map(ConsentDto::of).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct WithdrawRequest {
    /// The 就诊人, for `child_insurance` and `face_enrolment` (and only for them: a consent
    /// of the whole account names no 就诊人, and naming one is refused with 422).
    #[schema(minimum = 1)]
    pub patient_id: Option<i64>,
}

/// Withdraws a consent at once; answers the consents as they now stand.
#[utoipa::path(post, path = "/api/v1/me/consents/{purpose}/withdraw", tag = "consents", params(("purpose" = String, Path, description = "wechat_notices, sms_notices, child_insurance or face_enrolment")),
    request_body = WithdrawRequest,
    responses((status = 200, body = Vec<ConsentDto>), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_withdraw(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(code): Path<String>,
    crate::api::ApiJson(req): crate::api::ApiJson<WithdrawRequest>,
) -> Result<Response, AppError> {
    let purpose = purpose_of(&code)?;
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    let o = st.app.withdraw_consent(auth.account_id, purpose, req.patient_id, channel::API, &actor).await?;
    Ok(axum::Json(o.current.iter().map(ConsentDto::of).collect::<Vec<_>>()).into_response())
}
