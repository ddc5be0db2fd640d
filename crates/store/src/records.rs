//! Record-copy applications (issue 19, REC-1…REC-5): the application from its first draft
//! step to pickup or delivery, its photos, the camera page's capture tokens, its timeline
//! and the versioned fee table. An application changes only with its version, so the
//! patient and a clerk (or two clerks) cannot both move it. The delivery address and the
//! pickup code are sealed at rest.
use crate::entity::{record_application as ra, record_capture_token as rct, record_fee_table as rft, record_photo as rp, record_timeline as rt};
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
pub use domain::records::{Address, QueueFilter as RecordQueueFilter};
use domain::records::{Applicant, ApplicationState, Delivery, Document, FeeTable, Purpose, ReturnReason, Section, Step};
use domain::{DomainError, ErrorCode, Fen};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

const COL_ADDRESS: &str = "record_application.address_enc";
const COL_PICKUP: &str = "record_application.pickup_code_enc";

/// An application as read (personal fields opened).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordApplicationRow {
    pub id: i64,
    pub application_no: String,
    pub account_id: i64,
    pub patient_id: i64,
    pub his_patient_id: String,
    pub state: ApplicationState,
    pub applicant: Option<Applicant>,
    pub encounter_id: Option<String>,
    pub encounter_label: Option<String>,
    /// A stay (住院) or a visit (门诊); `None` before the encounter is chosen.
    pub encounter_inpatient: Option<bool>,
    pub mr_no: Option<String>,
    pub purpose: Option<Purpose>,
    pub sections: Vec<Section>,
    pub copies: Option<u32>,
    pub delivery: Option<Delivery>,
    pub address: Option<Address>,
    /// While returned: the steps and photos the clerk asked to redo.
    pub fix_steps: Vec<Step>,
    pub fix_documents: Vec<Document>,
    pub reasons: Vec<ReturnReason>,
    pub reason_note: Option<String>,
    /// The fee table it is charged by (fixed at submission).
    pub fee_version: Option<i32>,
    pub estimated_pages: Option<u32>,
    /// What the patient has paid so far, net of refunds.
    pub paid: Fen,
    pub counted_pages: Option<u32>,
    /// What the counted pages cost.
    pub due: Option<Fen>,
    pub order_no: Option<String>,
    pub extra_order_no: Option<String>,
    pub refund_no: Option<String>,
    pub pickup_code: Option<String>,
    pub waybill_no: Option<String>,
    /// The clerk who handled it last.
    pub clerk: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub promised_by: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub purged_at: Option<DateTime<Utc>>,
}

pub struct NewRecordApplication<'a> {
    pub application_no: &'a str,
    pub account_id: i64,
    pub patient_id: i64,
    pub his_patient_id: &'a str,
}

/// A photo as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPhotoRow {
    pub id: i64,
    pub application_id: i64,
    pub document: Document,
    pub current: bool,
    /// The photo as taken (normalised), sealed: for the reviewing clerk only.
    pub original_key: String,
    /// What anyone else sees: masked (ID cards) and watermarked.
    pub shown_key: String,
    pub width: u32,
    pub height: u32,
    /// What the intake noticed (e.g. "screen"), comma-separated, for the clerk.
    pub flags: Vec<String>,
    pub uploaded_at: DateTime<Utc>,
}

pub struct NewRecordPhoto<'a> {
    pub application_id: i64,
    pub document: Document,
    pub original_key: &'a str,
    pub shown_key: &'a str,
    pub width: u32,
    pub height: u32,
    pub flags: &'a [String],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub note: String,
    pub by: String,
}

/// A fee table version with when it took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeTableRow {
    pub table: FeeTable,
    pub effective_from: DateTime<Utc>,
    pub note: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

fn corrupt(what: &str, v: &str) -> DomainError {
    DomainError::new(ErrorCode::Internal, format!("record application {what}: {v}"))
}

fn list<T>(s: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, DomainError> {
    s.split(',').filter(|x| !x.is_empty()).map(|x| parse(x).ok_or_else(|| corrupt(what, x))).collect()
}

fn join<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> String {
    items.iter().map(|i| name(*i)).collect::<Vec<_>>().join(",")
}

fn count(v: Option<i32>, what: &str) -> Result<Option<u32>, DomainError> {
    v.map(|n| u32::try_from(n).map_err(|_| corrupt(what, &n.to_string()))).transpose()
}

impl Store {
    fn open_application(&self, m: ra::Model) -> Result<RecordApplicationRow, DomainError> {
        let c = &self.keys.cipher;
        let address = match &m.address_enc {
            Some(v) => {
                let plain = c.open(COL_ADDRESS, v).map_err(|e| corrupt("address", &e.to_string()))?;
                Some(serde_json::from_str(&plain).map_err(|e| corrupt("address", &e.to_string()))?)
            }
            None => None,
        };
        let pickup_code = m.pickup_code_enc.as_deref().map(|v| c.open(COL_PICKUP, v).map_err(|e| corrupt("pickup code", &e.to_string()))).transpose()?;
        Ok(RecordApplicationRow {
            state: ApplicationState::parse(&m.state).ok_or_else(|| corrupt("state", &m.state))?,
            applicant: m.applicant.as_deref().map(|a| Applicant::parse(a).ok_or_else(|| corrupt("applicant", a))).transpose()?,
            purpose: m.purpose.as_deref().map(|a| Purpose::parse(a).ok_or_else(|| corrupt("purpose", a))).transpose()?,
            delivery: m.delivery.as_deref().map(|a| Delivery::parse(a).ok_or_else(|| corrupt("delivery", a))).transpose()?,
            sections: list(&m.sections, "section", Section::parse)?,
            fix_steps: list(&m.fix_steps, "step", Step::parse)?,
            fix_documents: list(&m.fix_documents, "document", Document::parse)?,
            reasons: list(&m.reasons, "reason", ReturnReason::parse)?,
            copies: count(m.copies, "copies")?,
            estimated_pages: count(m.estimated_pages, "estimated pages")?,
            counted_pages: count(m.counted_pages, "counted pages")?,
            address,
            pickup_code,
            id: m.id,
            application_no: m.application_no,
            account_id: m.account_id,
            patient_id: m.patient_id,
            his_patient_id: m.his_patient_id,
            encounter_id: m.encounter_id,
            encounter_label: m.encounter_label,
            encounter_inpatient: m.encounter_inpatient,
            mr_no: m.mr_no,
            reason_note: m.reason_note,
            fee_version: m.fee_version,
            paid: Fen(m.paid),
            due: m.due.map(Fen),
            order_no: m.order_no,
            extra_order_no: m.extra_order_no,
            refund_no: m.refund_no,
            waybill_no: m.waybill_no,
            clerk: m.clerk,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            submitted_at: m.submitted_at,
            promised_by: m.promised_by,
            closed_at: m.closed_at,
            purged_at: m.purged_at,
        })
    }

    /// Starts a draft; returns its id.
    pub async fn insert_record_application<C: ConnectionTrait>(&self, conn: &C, a: NewRecordApplication<'_>, now: DateTime<Utc>) -> Result<i64, DomainError> {
        let m = ra::ActiveModel {
            application_no: Set(a.application_no.into()),
            account_id: Set(a.account_id),
            patient_id: Set(a.patient_id),
            his_patient_id: Set(a.his_patient_id.into()),
            state: Set(ApplicationState::Draft.as_str().into()),
            sections: Set(String::new()),
            fix_steps: Set(String::new()),
            fix_documents: Set(String::new()),
            reasons: Set(String::new()),
            paid: Set(0),
            version: Set(1),
            created_at: Set(micros(now)),
            updated_at: Set(micros(now)),
            ..Default::default()
        };
        Ok(m.insert(conn).await.map_err(db_err)?.id)
    }

    pub async fn record_application(&self, application_no: &str) -> Result<RecordApplicationRow, DomainError> {
        let m = ra::Entity::find()
            .filter(ra::Column::ApplicationNo.eq(application_no))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such record application"))?;
        self.open_application(m)
    }

    /// The application an order (first or extra) was opened for.
    pub async fn record_application_of_order(&self, order_no: &str) -> Result<Option<RecordApplicationRow>, DomainError> {
        let m = ra::Entity::find()
            .filter(Condition::any().add(ra::Column::OrderNo.eq(order_no)).add(ra::Column::ExtraOrderNo.eq(order_no)))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        m.map(|m| self.open_application(m)).transpose()
    }

    /// The applications the orders of `order_nos` (first or extra) were opened for.
    pub async fn record_applications_of_orders(&self, order_nos: &[String]) -> Result<Vec<RecordApplicationRow>, DomainError> {
        let mut out = Vec::new();
        for chunk in order_nos.chunks(250) {
            let rows = ra::Entity::find()
                .filter(Condition::any().add(ra::Column::OrderNo.is_in(chunk.to_vec())).add(ra::Column::ExtraOrderNo.is_in(chunk.to_vec())))
                .all(&self.db)
                .await
                .map_err(db_err)?;
            for m in rows {
                out.push(self.open_application(m)?);
            }
        }
        Ok(out)
    }

    /// Applications by the patients of `patient_ids` (an account's 就诊人), newest first.
    pub async fn record_applications_of(&self, patient_ids: &[i64], limit: u64) -> Result<Vec<RecordApplicationRow>, DomainError> {
        if patient_ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = ra::Entity::find()
            .filter(ra::Column::PatientId.is_in(patient_ids.iter().copied()))
            .order_by_desc(ra::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(|m| self.open_application(m)).collect()
    }

    /// Writes every changeable field of `a` if it is still at `a.version`, and moves `a` to
    /// the version written; `false` (and `a` untouched) if it moved meanwhile.
    pub async fn save_record_application<C: ConnectionTrait>(&self, conn: &C, a: &mut RecordApplicationRow, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let c = &self.keys.cipher;
        let address = a.address.as_ref().map(|x| c.seal(COL_ADDRESS, &serde_json::to_string(x).expect("an address serialises")));
        let pickup = a.pickup_code.as_deref().map(|x| c.seal(COL_PICKUP, x));
        let n = |v: Option<u32>| v.map(|x| i32::try_from(x).unwrap_or(i32::MAX));
        let r = ra::Entity::update_many()
            .col_expr(ra::Column::State, Expr::value(a.state.as_str()))
            .col_expr(ra::Column::Applicant, Expr::value(a.applicant.map(|x| x.as_str())))
            .col_expr(ra::Column::EncounterId, Expr::value(a.encounter_id.clone()))
            .col_expr(ra::Column::EncounterLabel, Expr::value(a.encounter_label.clone()))
            .col_expr(ra::Column::EncounterInpatient, Expr::value(a.encounter_inpatient))
            .col_expr(ra::Column::MrNo, Expr::value(a.mr_no.clone()))
            .col_expr(ra::Column::Purpose, Expr::value(a.purpose.map(|x| x.as_str())))
            .col_expr(ra::Column::Sections, Expr::value(join(&a.sections, Section::as_str)))
            .col_expr(ra::Column::Copies, Expr::value(n(a.copies)))
            .col_expr(ra::Column::Delivery, Expr::value(a.delivery.map(|x| x.as_str())))
            .col_expr(ra::Column::AddressEnc, Expr::value(address))
            .col_expr(ra::Column::FixSteps, Expr::value(join(&a.fix_steps, Step::as_str)))
            .col_expr(ra::Column::FixDocuments, Expr::value(join(&a.fix_documents, Document::as_str)))
            .col_expr(ra::Column::Reasons, Expr::value(join(&a.reasons, ReturnReason::as_str)))
            .col_expr(ra::Column::ReasonNote, Expr::value(a.reason_note.clone()))
            .col_expr(ra::Column::FeeVersion, Expr::value(a.fee_version))
            .col_expr(ra::Column::EstimatedPages, Expr::value(n(a.estimated_pages)))
            .col_expr(ra::Column::Paid, Expr::value(a.paid.0))
            .col_expr(ra::Column::CountedPages, Expr::value(n(a.counted_pages)))
            .col_expr(ra::Column::Due, Expr::value(a.due.map(|f| f.0)))
            .col_expr(ra::Column::OrderNo, Expr::value(a.order_no.clone()))
            .col_expr(ra::Column::ExtraOrderNo, Expr::value(a.extra_order_no.clone()))
            .col_expr(ra::Column::RefundNo, Expr::value(a.refund_no.clone()))
            .col_expr(ra::Column::PickupCodeEnc, Expr::value(pickup))
            .col_expr(ra::Column::WaybillNo, Expr::value(a.waybill_no.clone()))
            .col_expr(ra::Column::Clerk, Expr::value(a.clerk.clone()))
            .col_expr(ra::Column::SubmittedAt, Expr::value(a.submitted_at.map(micros)))
            .col_expr(ra::Column::PromisedBy, Expr::value(a.promised_by.map(micros)))
            .col_expr(ra::Column::ClosedAt, Expr::value(a.closed_at.map(micros)))
            .col_expr(ra::Column::PurgedAt, Expr::value(a.purged_at.map(micros)))
            .col_expr(ra::Column::Version, Expr::value(a.version + 1))
            .col_expr(ra::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(ra::Column::Id.eq(a.id))
            .filter(ra::Column::Version.eq(a.version))
            .exec(conn)
            .await
            .map_err(db_err)?;
        if r.rows_affected == 1 {
            a.version += 1;
        }
        Ok(r.rows_affected == 1)
    }

    fn queue_condition(f: &RecordQueueFilter) -> Condition {
        let mut c = Condition::all();
        c = if f.states.is_empty() {
            c.add(ra::Column::State.ne(ApplicationState::Draft.as_str()))
        } else {
            c.add(ra::Column::State.is_in(f.states.iter().map(|s| s.as_str())))
        };
        if let Some(d) = f.delivery {
            c = c.add(ra::Column::Delivery.eq(d.as_str()));
        }
        if let Some(p) = f.purpose {
            c = c.add(ra::Column::Purpose.eq(p.as_str()));
        }
        if let Some(t) = f.submitted_before {
            c = c.add(ra::Column::SubmittedAt.lt(micros(t)));
        }
        if let Some(t) = f.overdue_at {
            c = c.add(ra::Column::PromisedBy.lt(micros(t)));
        }
        c
    }

    /// The records office's queue: oldest submission first, and how many match in all.
    pub async fn record_queue(&self, f: &RecordQueueFilter) -> Result<(Vec<RecordApplicationRow>, u64), DomainError> {
        let cond = Self::queue_condition(f);
        let total = ra::Entity::find().filter(cond.clone()).count(&self.db).await.map_err(db_err)?;
        let rows = ra::Entity::find()
            .filter(cond)
            .order_by_asc(ra::Column::SubmittedAt)
            .order_by_asc(ra::Column::Id)
            .offset(f.offset)
            .limit(f.limit.clamp(1, 500))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok((rows.into_iter().map(|m| self.open_application(m)).collect::<Result<_, _>>()?, total))
    }

    /// Closed applications whose photos are still kept, closed before `cutoff`.
    pub async fn record_applications_to_purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<Vec<RecordApplicationRow>, DomainError> {
        let rows = ra::Entity::find()
            .filter(ra::Column::ClosedAt.lt(micros(cutoff)))
            .filter(ra::Column::PurgedAt.is_null())
            .order_by_asc(ra::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(|m| self.open_application(m)).collect()
    }

    // --- photos -------------------------------------------------------------------------

    /// Stores a photo as the current one of its kind (a retaken one replaces the last).
    pub async fn put_record_photo<C: ConnectionTrait>(&self, conn: &C, p: NewRecordPhoto<'_>, now: DateTime<Utc>) -> Result<i64, DomainError> {
        let slot = format!("{}:{}", p.application_id, p.document.as_str());
        rp::Entity::update_many()
            .col_expr(rp::Column::Slot, Expr::value(Option::<String>::None))
            .filter(rp::Column::Slot.eq(slot.as_str()))
            .exec(conn)
            .await
            .map_err(db_err)?;
        let m = rp::ActiveModel {
            application_id: Set(p.application_id),
            document: Set(p.document.as_str().into()),
            slot: Set(Some(slot)),
            original_key: Set(p.original_key.into()),
            shown_key: Set(p.shown_key.into()),
            width: Set(i32::try_from(p.width).unwrap_or(i32::MAX)),
            height: Set(i32::try_from(p.height).unwrap_or(i32::MAX)),
            flags: Set(p.flags.join(",")),
            uploaded_at: Set(micros(now)),
            ..Default::default()
        };
        Ok(m.insert(conn).await.map_err(db_err)?.id)
    }

    fn open_photo(m: rp::Model) -> Result<RecordPhotoRow, DomainError> {
        Ok(RecordPhotoRow {
            document: Document::parse(&m.document).ok_or_else(|| corrupt("photo document", &m.document))?,
            current: m.slot.is_some(),
            id: m.id,
            application_id: m.application_id,
            original_key: m.original_key,
            shown_key: m.shown_key,
            width: u32::try_from(m.width).unwrap_or(0),
            height: u32::try_from(m.height).unwrap_or(0),
            flags: m.flags.split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect(),
            uploaded_at: m.uploaded_at,
        })
    }

    /// Every photo of an application (retaken ones too), oldest first.
    pub async fn record_photos(&self, application_id: i64) -> Result<Vec<RecordPhotoRow>, DomainError> {
        let rows = rp::Entity::find().filter(rp::Column::ApplicationId.eq(application_id)).order_by_asc(rp::Column::Id).all(&self.db).await.map_err(db_err)?;
        rows.into_iter().map(Self::open_photo).collect()
    }

    pub async fn record_photo(&self, id: i64) -> Result<RecordPhotoRow, DomainError> {
        let m = rp::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such photo"))?;
        Self::open_photo(m)
    }

    /// Seals a photo for the file store under its key.
    pub fn seal_record_photo(&self, key: &str, bytes: &[u8]) -> Vec<u8> {
        self.keys.cipher.seal_bytes(key, bytes)
    }

    /// Opens a photo to show it to someone: a disclosure the caller audits.
    pub fn open_record_photo(&self, key: &str, sealed: &[u8]) -> Result<Vec<u8>, DomainError> {
        let bytes = self.keys.cipher.open_bytes(key, sealed).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal photo {key}: {e}")))?;
        self.disclosed(crate::Disclosure::RecordPhoto);
        Ok(bytes)
    }

    // --- capture tokens -----------------------------------------------------------------

    pub async fn insert_capture_token<C: ConnectionTrait>(
        &self,
        conn: &C,
        token_hash: &str,
        account_id: i64,
        application_id: i64,
        document: Document,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let m = rct::ActiveModel {
            token_hash: Set(token_hash.into()),
            account_id: Set(account_id),
            application_id: Set(application_id),
            document: Set(document.as_str().into()),
            expires_at: Set(micros(expires_at)),
            used_at: Set(None),
            ..Default::default()
        };
        m.insert(conn).await.map_err(db_err)?;
        Ok(())
    }

    /// Uses a capture token once: `true` only for an unused, unexpired token minted for this
    /// account, application and document.
    pub async fn use_capture_token<C: ConnectionTrait>(
        &self,
        conn: &C,
        token_hash: &str,
        account_id: i64,
        application_id: i64,
        document: Document,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let r = rct::Entity::update_many()
            .col_expr(rct::Column::UsedAt, Expr::value(Some(micros(now))))
            .filter(rct::Column::TokenHash.eq(token_hash))
            .filter(rct::Column::AccountId.eq(account_id))
            .filter(rct::Column::ApplicationId.eq(application_id))
            .filter(rct::Column::Document.eq(document.as_str()))
            .filter(rct::Column::UsedAt.is_null())
            .filter(rct::Column::ExpiresAt.gt(micros(now)))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    /// Drops tokens that expired before `cutoff` (used or not).
    pub async fn purge_capture_tokens(&self, cutoff: DateTime<Utc>) -> Result<u64, DomainError> {
        let r = rct::Entity::delete_many().filter(rct::Column::ExpiresAt.lt(micros(cutoff))).exec(&self.db).await.map_err(db_err)?;
        Ok(r.rows_affected)
    }

    // --- timeline -----------------------------------------------------------------------

    pub async fn append_record_timeline<C: ConnectionTrait>(
        &self,
        conn: &C,
        application_id: i64,
        kind: &str,
        note: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let m = rt::ActiveModel {
            application_id: Set(application_id),
            at: Set(micros(now)),
            kind: Set(kind.into()),
            note: Set(note.into()),
            by_whom: Set(by.into()),
            ..Default::default()
        };
        m.insert(conn).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn record_timeline(&self, application_id: i64) -> Result<Vec<TimelineEntry>, DomainError> {
        let rows = rt::Entity::find().filter(rt::Column::ApplicationId.eq(application_id)).order_by_asc(rt::Column::Id).all(&self.db).await.map_err(db_err)?;
        Ok(rows.into_iter().map(|m| TimelineEntry { at: m.at, kind: m.kind, note: m.note, by: m.by_whom }).collect())
    }

    // --- fee tables ---------------------------------------------------------------------

    fn open_fee_table(m: rft::Model) -> FeeTableRow {
        FeeTableRow {
            table: FeeTable { version: m.version, per_page: Fen(m.per_page), certification: Fen(m.certification), postage: Fen(m.postage) },
            effective_from: m.effective_from,
            note: m.note,
            created_by: m.created_by,
            created_at: m.created_at,
        }
    }

    /// Every version, newest first.
    pub async fn record_fee_tables(&self) -> Result<Vec<FeeTableRow>, DomainError> {
        let rows = rft::Entity::find().order_by_desc(rft::Column::Version).all(&self.db).await.map_err(db_err)?;
        Ok(rows.into_iter().map(Self::open_fee_table).collect())
    }

    /// The version in force at `at`: the newest that took effect by then.
    pub async fn record_fee_table_at(&self, at: DateTime<Utc>) -> Result<Option<FeeTableRow>, DomainError> {
        let m = rft::Entity::find()
            .filter(rft::Column::EffectiveFrom.lte(micros(at)))
            .order_by_desc(rft::Column::EffectiveFrom)
            .order_by_desc(rft::Column::Version)
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(m.map(Self::open_fee_table))
    }

    pub async fn record_fee_table(&self, version: i32) -> Result<FeeTableRow, DomainError> {
        let m = rft::Entity::find()
            .filter(rft::Column::Version.eq(version))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such fee table version"))?;
        Ok(Self::open_fee_table(m))
    }

    /// Adds the next version; `false` when another admin took that number meanwhile.
    pub async fn insert_record_fee_table<C: ConnectionTrait>(
        &self,
        conn: &C,
        t: &FeeTable,
        effective_from: DateTime<Utc>,
        note: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let m = rft::ActiveModel {
            version: Set(t.version),
            per_page: Set(t.per_page.0),
            certification: Set(t.certification.0),
            postage: Set(t.postage.0),
            effective_from: Set(micros(effective_from)),
            note: Set(note.into()),
            created_by: Set(by.into()),
            created_at: Set(micros(now)),
            ..Default::default()
        };
        match m.insert(conn).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }
}

impl Store {
    /// The application a waybill belongs to.
    pub async fn record_application_by_waybill(&self, waybill_no: &str) -> Result<Option<RecordApplicationRow>, DomainError> {
        let m = ra::Entity::find().filter(ra::Column::WaybillNo.eq(waybill_no)).one(&self.db).await.map_err(db_err)?;
        m.map(|m| self.open_application(m)).transpose()
    }
}
