//! Reports: LIS snapshots kept by revision, the release, LIS events, report files.
use crate::entity::{lab_event, lab_order, report_file};
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::reports::{LabSnapshot, LabStatus, Merge, Release};
use domain::{DomainError, ErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

pub use report_file::Model as ReportFile;

/// The snapshot is health information: sealed under this column name.
const COL_SNAPSHOT: &str = "lab_order.snapshot";

/// A lab order as held: the newest snapshot, the release, what was announced.
#[derive(Clone, Debug)]
pub struct LabOrderRecord {
    pub id: i64,
    pub snapshot: LabSnapshot,
    pub release: Option<Release>,
    pub announced_version: Option<u32>,
    pub files_version: Option<u32>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    fn lab_record(&self, m: lab_order::Model) -> Result<LabOrderRecord, DomainError> {
        let plain =
            self.keys.cipher.open(COL_SNAPSHOT, &m.snapshot).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal {COL_SNAPSHOT}: {e}")))?;
        let snapshot: LabSnapshot = serde_json::from_str(&plain).map_err(|e| DomainError::new(ErrorCode::Internal, format!("lab snapshot: {e}")))?;
        let release = match (m.released_version, m.released_by, m.released_at, m.visible_at, &m.report_no) {
            (Some(v), Some(by), Some(at), Some(visible), Some(no)) => {
                Some(Release { report_no: no.clone(), version: v as u32, released_by: by, released_at: at, visible_at: visible })
            }
            _ => None,
        };
        Ok(LabOrderRecord {
            id: m.id,
            snapshot,
            release,
            announced_version: m.announced_version.map(|v| v as u32),
            files_version: m.files_version.map(|v| v as u32),
            updated_at: m.updated_at,
        })
    }

    pub async fn lab_order<C: ConnectionTrait>(&self, conn: &C, order_no: &str) -> Result<Option<LabOrderRecord>, DomainError> {
        lab_order::Entity::find().filter(lab_order::Column::OrderNo.eq(order_no)).one(conn).await.map_err(db_err)?.map(|m| self.lab_record(m)).transpose()
    }

    /// The order holding report `report_no` (the verification page's lookup).
    pub async fn lab_order_by_report_no(&self, report_no: &str) -> Result<Option<LabOrderRecord>, DomainError> {
        lab_order::Entity::find().filter(lab_order::Column::ReportNo.eq(report_no)).one(&self.db).await.map_err(db_err)?.map(|m| self.lab_record(m)).transpose()
    }

    /// Seals a file's bytes for the file store, bound to its storage key.
    pub fn seal_file(&self, storage_key: &str, bytes: &[u8]) -> Vec<u8> {
        self.keys.cipher.seal_bytes(storage_key, bytes)
    }

    /// Opens a report file to hand it to its patient: a disclosure the caller audits.
    pub fn open_file(&self, storage_key: &str, sealed: &[u8]) -> Result<Vec<u8>, DomainError> {
        let bytes =
            self.keys.cipher.open_bytes(storage_key, sealed).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal file {storage_key}: {e}")))?;
        self.disclosed(crate::Disclosure::ReportFile);
        Ok(bytes)
    }

    pub async fn lab_order_by_id(&self, id: i64) -> Result<Option<LabOrderRecord>, DomainError> {
        lab_order::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.map(|m| self.lab_record(m)).transpose()
    }

    /// Keeps `snap` if its revision is higher than the one held (or none is held).
    /// Returns what it did and the snapshot it replaced. The conditional update is the
    /// guard: two syncs racing apply the newer one, whatever their order.
    pub async fn apply_lab_snapshot<C: ConnectionTrait>(
        &self,
        conn: &C,
        snap: &LabSnapshot,
        now: DateTime<Utc>,
    ) -> Result<(Merge, Option<LabOrderRecord>), DomainError> {
        let current = self.lab_order(conn, &snap.order_no).await?;
        if domain::reports::merge(current.as_ref().map(|c| &c.snapshot), snap) == Merge::Stale {
            return Ok((Merge::Stale, current));
        }
        let sealed = self.keys.cipher.seal(COL_SNAPSHOT, &serde_json::to_string(snap).expect("snapshot serialises"));
        let report_no = snap.report.as_ref().map(|r| r.report_no.clone());
        let report_version = snap.report.as_ref().map(|r| r.version as i32);
        match &current {
            None => {
                let m = lab_order::ActiveModel {
                    order_no: Set(snap.order_no.clone()),
                    his_patient_id: Set(snap.his_patient_id.clone()),
                    kind: Set(snap.kind.as_str().into()),
                    category: Set(snap.category.clone()),
                    item_code: Set(snap.item_code.clone()),
                    status: Set(snap.status.as_str().into()),
                    revision: Set(snap.revision as i64),
                    snapshot: Set(sealed),
                    report_no: Set(report_no),
                    report_version: Set(report_version),
                    released_version: Set(None),
                    released_by: Set(None),
                    released_at: Set(None),
                    visible_at: Set(None),
                    announced_version: Set(None),
                    files_version: Set(None),
                    ordered_at: Set(micros(snap.ordered_at)),
                    created_at: Set(micros(now)),
                    updated_at: Set(micros(now)),
                    ..Default::default()
                };
                match m.insert(conn).await {
                    Ok(_) => Ok((Merge::Applied, None)),
                    // Another sync inserted it first: it holds some revision; ours is
                    // compared against it on the next sync (the poll), never lost.
                    Err(e) if is_unique_violation(&e) => Ok((Merge::Stale, None)),
                    Err(e) => Err(db_err(e)),
                }
            }
            Some(c) => {
                let r = lab_order::Entity::update_many()
                    .col_expr(lab_order::Column::Status, Expr::value(snap.status.as_str()))
                    .col_expr(lab_order::Column::Revision, Expr::value(snap.revision as i64))
                    .col_expr(lab_order::Column::Snapshot, Expr::value(sealed))
                    .col_expr(lab_order::Column::ReportNo, Expr::value(report_no))
                    .col_expr(lab_order::Column::ReportVersion, Expr::value(report_version))
                    .col_expr(lab_order::Column::Category, Expr::value(snap.category.clone()))
                    .col_expr(lab_order::Column::UpdatedAt, Expr::value(micros(now)))
                    .filter(lab_order::Column::Id.eq(c.id))
                    .filter(lab_order::Column::Revision.lt(snap.revision as i64))
                    .exec(conn)
                    .await
                    .map_err(db_err)?;
                Ok((if r.rows_affected == 1 { Merge::Applied } else { Merge::Stale }, current))
            }
        }
    }

    /// Records the reviewing doctor's release of `version`, if the order still holds
    /// that very version, reported, and it was not released already.
    pub async fn release_report<C: ConnectionTrait>(
        &self,
        conn: &C,
        order_id: i64,
        version: u32,
        by: &str,
        now: DateTime<Utc>,
        visible_at: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let r = lab_order::Entity::update_many()
            .col_expr(lab_order::Column::ReleasedVersion, Expr::value(version as i32))
            .col_expr(lab_order::Column::ReleasedBy, Expr::value(by))
            .col_expr(lab_order::Column::ReleasedAt, Expr::value(micros(now)))
            .col_expr(lab_order::Column::VisibleAt, Expr::value(micros(visible_at)))
            .col_expr(lab_order::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(lab_order::Column::Id.eq(order_id))
            .filter(lab_order::Column::Status.eq(LabStatus::Reported.as_str()))
            .filter(lab_order::Column::ReportVersion.eq(version as i32))
            .filter(lab_order::Column::ReleasedVersion.is_null().or(lab_order::Column::ReleasedVersion.lt(version as i32)))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    /// Marks `version` announced to the patient; `false` if it already was (the
    /// report.ready notice goes out once per version).
    pub async fn mark_report_announced<C: ConnectionTrait>(&self, conn: &C, order_id: i64, version: u32) -> Result<bool, DomainError> {
        let r = lab_order::Entity::update_many()
            .col_expr(lab_order::Column::AnnouncedVersion, Expr::value(version as i32))
            .filter(lab_order::Column::Id.eq(order_id))
            .filter(lab_order::Column::AnnouncedVersion.is_null().or(lab_order::Column::AnnouncedVersion.lt(version as i32)))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    pub async fn mark_files_ingested<C: ConnectionTrait>(&self, conn: &C, order_id: i64, version: u32) -> Result<(), DomainError> {
        lab_order::Entity::update_many()
            .col_expr(lab_order::Column::FilesVersion, Expr::value(version as i32))
            .filter(lab_order::Column::Id.eq(order_id))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// A patient's orders (by HIS id), newest first.
    pub async fn lab_orders_of(&self, his_patient_ids: &[String]) -> Result<Vec<LabOrderRecord>, DomainError> {
        if his_patient_ids.is_empty() {
            return Ok(vec![]);
        }
        self.lab_records(
            lab_order::Entity::find()
                .filter(lab_order::Column::HisPatientId.is_in(his_patient_ids.iter().cloned()))
                .order_by_desc(lab_order::Column::OrderedAt)
                .order_by_desc(lab_order::Column::Id),
        )
        .await
    }

    async fn lab_records(&self, q: sea_orm::Select<lab_order::Entity>) -> Result<Vec<LabOrderRecord>, DomainError> {
        q.all(&self.db).await.map_err(db_err)?.into_iter().map(|m| self.lab_record(m)).collect()
    }

    /// The lab console's list: orders in these LIS states, most recently changed first.
    pub async fn lab_orders_by_status(&self, statuses: &[&str], limit: u64) -> Result<Vec<LabOrderRecord>, DomainError> {
        self.lab_records(
            lab_order::Entity::find()
                .filter(lab_order::Column::Status.is_in(statuses.iter().map(|s| s.to_string())))
                .order_by_desc(lab_order::Column::UpdatedAt)
                .limit(limit),
        )
        .await
    }

    /// Patients whose orders can still change: not yet reported, rejected,
    /// withdrawn, or reported recently (a withdrawal may follow). What the poll asks
    /// the LIS about.
    pub async fn lab_patients_to_poll(&self, reported_since: DateTime<Utc>) -> Result<Vec<String>, DomainError> {
        let open = [LabStatus::Ordered, LabStatus::Sampled, LabStatus::Rejected, LabStatus::Withdrawn].map(|s| s.as_str().to_owned());
        let rows: Vec<String> = lab_order::Entity::find()
            .select_only()
            .column(lab_order::Column::HisPatientId)
            .distinct()
            .filter(lab_order::Column::Status.is_in(open).or(lab_order::Column::UpdatedAt.gte(micros(reported_since))))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn record_lab_event<C: ConnectionTrait>(
        &self,
        conn: &C,
        order_no: &str,
        revision: u64,
        status: &str,
        client_key: &str,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, DomainError> {
        let m = lab_event::ActiveModel {
            order_no: Set(order_no.into()),
            revision: Set(revision as i64),
            status: Set(status.into()),
            client_key: Set(client_key.into()),
            outcome: Set(outcome.into()),
            received_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(db_err)?;
        Ok(m.id)
    }

    pub async fn recent_lab_events(&self, limit: u64) -> Result<Vec<lab_event::Model>, DomainError> {
        lab_event::Entity::find().order_by_desc(lab_event::Column::Id).limit(limit).all(&self.db).await.map_err(db_err)
    }

    /// Records a report file (stored or refused); a second record of the same file
    /// of the same version is a no-op returning the first.
    pub async fn record_report_file(&self, f: report_file::ActiveModel) -> Result<ReportFile, DomainError> {
        let key = f.dedupe_key.clone().unwrap();
        match f.insert(&self.db).await {
            Ok(m) => Ok(m),
            Err(e) if is_unique_violation(&e) => report_file::Entity::find()
                .filter(report_file::Column::DedupeKey.eq(key))
                .one(&self.db)
                .await
                .map_err(db_err)?
                .ok_or_else(|| DomainError::new(ErrorCode::Conflict, "report file vanished")),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn report_files(&self, order_id: i64, version: u32) -> Result<Vec<ReportFile>, DomainError> {
        report_file::Entity::find()
            .filter(report_file::Column::OrderId.eq(order_id))
            .filter(report_file::Column::ReportVersion.eq(version as i32))
            .order_by_asc(report_file::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    /// The files of several orders at once (a worklist), in order of arrival; the caller
    /// picks the version it shows.
    pub async fn report_files_of_orders(&self, order_ids: &[i64]) -> Result<Vec<ReportFile>, DomainError> {
        if order_ids.is_empty() {
            return Ok(vec![]);
        }
        report_file::Entity::find()
            .filter(report_file::Column::OrderId.is_in(order_ids.iter().copied()))
            .order_by_asc(report_file::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    pub async fn report_file_by_no(&self, file_no: &str) -> Result<Option<ReportFile>, DomainError> {
        report_file::Entity::find().filter(report_file::Column::FileNo.eq(file_no)).one(&self.db).await.map_err(db_err)
    }
}
