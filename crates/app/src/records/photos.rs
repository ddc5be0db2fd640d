//! Live photos (REC-1): the camera page mints a capture token for one document; an upload
//! spends it (single use, minutes long, bound to the account, the application and the
//! document), so a file picked from the album or sent by a script has nothing to spend.
//! The photo is cleaned (kind by magic bytes, pixel cap, re-encoded), refused when there is
//! nothing in the frame, normalised to the card for an ID card, and stored twice, sealed:
//! the original for the reviewing clerk, and what anyone else sees — the ID card's birth
//! digits and address covered, the upload time and 病案号 stamped across.
use super::{DraftView, parse_document};
use crate::{Actor, App};
use domain::records::{ApplicationState, Document, Step};
use domain::{DomainError, ErrorCode};
use store::records::NewRecordPhoto;

fn subject_of(document: Document) -> uploads::live_photo::Subject {
    use uploads::live_photo::Subject;
    match document {
        Document::PatientIdFront | Document::ApplicantIdFront => Subject::IdCardPortrait,
        Document::PatientIdBack | Document::ApplicantIdBack => Subject::IdCardEmblem,
        _ => Subject::Document,
    }
}

impl App {
    fn photo_step_open(view: &DraftView, document: Document) -> Result<(), DomainError> {
        let applicant = view.row.applicant.ok_or_else(|| DomainError::new(ErrorCode::RecordStepIncomplete, "no applicant"))?;
        if !applicant.required_documents().contains(&document) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "document not asked of this applicant"));
        }
        Self::editable(view, domain::records::Change::Photo(document))
    }

    /// The camera page asks for a token before each shot: 128 random bits, of which only a
    /// hash is kept.
    pub async fn mint_capture_token(&self, account_id: i64, no: &str, document: &str) -> Result<String, DomainError> {
        let document = parse_document(document)?;
        let view = self.record_draft(account_id, no).await?;
        Self::photo_step_open(&view, document)?;
        let token = hex::encode(crypto::random_bytes::<16>());
        let expires = self.now() + self.records.settings.capture_token_ttl;
        self.store.insert_capture_token(self.store.db(), &store::session::token_hash(&token), account_id, view.row.id, document, expires).await?;
        Ok(token)
    }

    /// Takes a photo from the camera page. The token is spent first, whatever becomes of
    /// the photo: a retake asks for a new one.
    pub async fn upload_record_photo(&self, account_id: i64, no: &str, document: &str, token: &str, bytes: Vec<u8>, actor: &Actor) -> Result<(), DomainError> {
        let document = parse_document(document)?;
        let view = self.record_draft(account_id, no).await?;
        Self::photo_step_open(&view, document)?;
        let now = self.now();
        let spent = token.len() == 32
            && self.store.use_capture_token(self.store.db(), &store::session::token_hash(token), account_id, view.row.id, document, now).await?;
        if !spent {
            self.store.audit(&actor.entry("records.photo_refused", format!("record_application:{no}"), "capture token"), now).await?;
            return Err(DomainError::new(ErrorCode::CaptureTokenInvalid, "capture token missing, spent, expired or not this page's"));
        }
        let mr_no = view.row.mr_no.clone().unwrap_or_else(|| view.patient.mr_no.clone());
        let stamp = uploads::watermark::stamp_text(&domain::format::local_time(now, domain::format::TimeStyle::ShortMinute), &mr_no);
        let max = self.records.settings.max_photo_bytes;
        let p = tokio::task::spawn_blocking(move || uploads::live_photo::process(&bytes, subject_of(document), &stamp, max))
            .await
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("photo worker: {e}")))?
            .map_err(|e| DomainError::new(ErrorCode::PhotoRefused, e.to_string()))?;
        let id = view.row.id;
        let stem = hex::encode(crypto::random_bytes::<10>());
        let (original_key, shown_key) = (format!("records/{id}/{stem}-o.jpg"), format!("records/{id}/{stem}-s.jpg"));
        let files = &self.reports.files;
        files.put(&original_key, self.store.seal_record_photo(&original_key, &p.original)).await?;
        files.put(&shown_key, self.store.seal_record_photo(&shown_key, &p.shown)).await?;
        let mut row = view.row.clone();
        row.fix_documents.retain(|d| *d != document);
        let txn = self.store.write_txn().await?;
        let photo = NewRecordPhoto {
            application_id: id,
            document,
            original_key: &original_key,
            shown_key: &shown_key,
            width: p.width,
            height: p.height,
            flags: &p.flags,
        };
        self.store.put_record_photo(&txn, photo, now).await?;
        if row.state == ApplicationState::Returned {
            if row.fix_documents.is_empty() {
                row.fix_steps.retain(|s| *s != Step::Photos);
            }
            if !self.store.save_record_application(&txn, &mut row, now).await? {
                return Err(super::state_moved());
            }
        }
        self.store.append_audit(&txn, &actor.entry("records.photo_upload", format!("record_application:{no}"), document.as_str()), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    /// A photo of the account's application as the patient sees it: masked and stamped.
    pub async fn record_photo_for_patient(&self, account_id: i64, no: &str, photo_id: i64, actor: &Actor) -> Result<Vec<u8>, DomainError> {
        let (row, _) = self.own_application(account_id, no).await?;
        let photo = self.store.record_photo(photo_id).await?;
        if photo.application_id != row.id || row.purged_at.is_some() {
            return Err(DomainError::new(ErrorCode::NotFound, "no such photo"));
        }
        self.open_photo(&photo.shown_key, actor, no, photo.document, "shown").await
    }

    pub(crate) async fn open_photo(&self, key: &str, actor: &Actor, no: &str, document: Document, which: &str) -> Result<Vec<u8>, DomainError> {
        let sealed = self.reports.files.get(key).await?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "photo file gone"))?;
        let bytes = self.store.open_record_photo(key, &sealed)?;
        self.store.audit(&actor.entry("records.photo_view", format!("record_application:{no}"), &format!("{} {which}", document.as_str())), self.now()).await?;
        Ok(bytes)
    }
}
