//! 电子票据 (issue 18 item 5): the account's medical e-invoices, one invoice with its
//! verification QR, and its PDF as the e-invoice platform renders it.
use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::invoices::InvoiceView;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use domain::format::{TimeStyle, local_time, yuan};
use domain::invoices::InvoiceState;

/// One invoice's lines as the pages print them.
pub struct InvoiceLine {
    pub id: i64,
    pub title: &'static str,
    pub state: &'static str,
    /// The state tag's class: "" (issued), `gray` or `red`.
    pub tone: &'static str,
    pub patient: String,
    pub total: String,
    pub numbers: String,
    pub at: String,
    pub reissue: bool,
}

fn line(v: &InvoiceView) -> InvoiceLine {
    InvoiceLine {
        id: v.id,
        title: v.kind_label,
        state: v.state_label,
        tone: match v.state {
            InvoiceState::Issued => "",
            InvoiceState::Refused => "red",
            _ => "gray",
        },
        patient: v.patient_name.clone(),
        total: yuan(v.total),
        numbers: if v.bill_no.is_empty() { String::new() } else { format!("{} {}", v.batch_code, v.bill_no) },
        at: local_time(v.issued_at, TimeStyle::ShortMinute),
        reissue: v.reissue,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "invoices.html")]
struct ListPage {
    hospital: String,
    big_text: bool,
    back: String,
    invoices: Vec<InvoiceLine>,
}

pub async fn list(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let invoices = st.app.my_invoices(auth.account_id).await?.iter().map(line).collect();
    Ok(ListPage { hospital: c.hospital, big_text: c.big_text, back: c.back, invoices }.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "invoice.html")]
struct DetailPage {
    hospital: String,
    big_text: bool,
    back: String,
    inv: InvoiceLine,
    /// (label, amount) of the payer parts that are not zero.
    parts: Vec<(&'static str, String)>,
    check_code: String,
    qr: Option<String>,
    reversal: Option<String>,
    business_link: String,
    has_pdf: bool,
}

pub async fn detail(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/invoices");
    let v = st.app.invoice_detail(auth.account_id, id, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    let parts = [("医保统筹基金", v.fund), ("个人账户", v.account), ("其他医保基金", v.other_fund), ("个人现金支付", v.own)]
        .into_iter()
        .filter(|(_, a)| a.0 > 0)
        .map(|(l, a)| (l, yuan(a)))
        .collect();
    let page = DetailPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        inv: line(&v),
        parts,
        check_code: v.check_code.clone(),
        qr: v.qr_png_base64.as_ref().map(|q| format!("data:image/png;base64,{q}")),
        reversal: v.reversal.as_ref().map(|(b, n)| format!("{b} {n}")),
        business_link: v.business_link.clone(),
        has_pdf: matches!(v.state, InvoiceState::Issued | InvoiceState::Reversed),
    };
    Ok(page.into_response())
}

pub async fn pdf(State(st): State<WebState>, auth: PatientAuth, Extension(cid): Extension<CorrelationId>, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (name, bytes) = st.app.invoice_pdf(auth.account_id, id, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    Ok(crate::reports::file_response(bytes, "application/pdf", &name, false))
}
