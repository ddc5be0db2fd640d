//! Face enrolments (FACE-1): the engine's user id and sealed face token of a 就诊人, the
//! groups its face was added to, and the moves of its state. No picture is ever stored.
use crate::entity::{face_enrolment as fe, face_group_member as fgm};
use crate::{Store, db_err, micros};
use chrono::{DateTime, Utc};
use domain::face::{Enrolment, EnrolmentState};
use domain::{DomainError, ErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

const COL_FACE_TOKEN: &str = "face_enrolment.face_token_enc";

fn of_row(m: fe::Model) -> Result<Enrolment, DomainError> {
    Ok(Enrolment {
        id: m.id,
        account_id: m.account_id,
        patient_id: m.patient_id,
        engine_user_id: m.engine_user_id,
        state: EnrolmentState::parse(&m.state).ok_or_else(|| DomainError::new(ErrorCode::Internal, format!("face enrolment {}: state {}", m.id, m.state)))?,
        consent_version: m.consent_version,
        created_at: m.created_at,
        enrolled_at: m.enrolled_at,
        withdrawn_at: m.withdrawn_at,
        deleted_at: m.deleted_at,
    })
}

impl Store {
    /// Starts an enrolment (state `enrolling`) before the engine is asked to add the face.
    pub async fn insert_face_enrolment<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        patient_id: i64,
        engine_user_id: &str,
        consent_version: &str,
        now: DateTime<Utc>,
    ) -> Result<Enrolment, DomainError> {
        let m = fe::ActiveModel {
            account_id: Set(account_id),
            patient_id: Set(patient_id),
            engine_user_id: Set(engine_user_id.to_owned()),
            face_token_enc: Set(None),
            state: Set(EnrolmentState::Enrolling.as_str().into()),
            consent_version: Set(consent_version.to_owned()),
            created_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(db_err)?;
        of_row(m)
    }

    pub async fn face_enrolment<C: ConnectionTrait>(&self, conn: &C, id: i64) -> Result<Enrolment, DomainError> {
        let m = fe::Entity::find_by_id(id).one(conn).await.map_err(db_err)?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such face enrolment"))?;
        of_row(m)
    }

    /// The newest enrolment of each of the account's 就诊人 that has one.
    pub async fn face_enrolments_of_account(&self, account_id: i64) -> Result<Vec<Enrolment>, DomainError> {
        let rows = fe::Entity::find().filter(fe::Column::AccountId.eq(account_id)).order_by_desc(fe::Column::Id).all(&self.db).await.map_err(db_err)?;
        let mut newest: Vec<Enrolment> = Vec::new();
        for r in rows {
            if !newest.iter().any(|e| e.patient_id == r.patient_id) {
                newest.push(of_row(r)?);
            }
        }
        Ok(newest)
    }

    /// The newest enrolment of a 就诊人 of the account.
    pub async fn newest_face_enrolment<C: ConnectionTrait>(&self, conn: &C, account_id: i64, patient_id: i64) -> Result<Option<Enrolment>, DomainError> {
        let m = fe::Entity::find()
            .filter(fe::Column::AccountId.eq(account_id))
            .filter(fe::Column::PatientId.eq(patient_id))
            .order_by_desc(fe::Column::Id)
            .one(conn)
            .await
            .map_err(db_err)?;
        m.map(of_row).transpose()
    }

    /// Moves an enrolment from one of `from` to `to`; false when it was in none of them
    /// (someone else moved it first). `face_token` is sealed and kept when given; ending
    /// (withdrawn, failed) forgets it.
    pub async fn move_face_enrolment<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        from: &[EnrolmentState],
        to: EnrolmentState,
        face_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut q = fe::Entity::update_many().col_expr(fe::Column::State, Expr::value(to.as_str()));
        match to {
            EnrolmentState::Active => {
                let sealed = face_token.map(|t| self.keys.cipher.seal(COL_FACE_TOKEN, t));
                q = q.col_expr(fe::Column::FaceTokenEnc, Expr::value(sealed)).col_expr(fe::Column::EnrolledAt, Expr::value(micros(now)));
            }
            EnrolmentState::Withdrawing => q = q.col_expr(fe::Column::WithdrawnAt, Expr::value(micros(now))),
            EnrolmentState::Withdrawn | EnrolmentState::Failed => q = q.col_expr(fe::Column::FaceTokenEnc, Expr::value(Option::<String>::None)),
            EnrolmentState::Enrolling => {}
        }
        let res = q.filter(fe::Column::Id.eq(id)).filter(fe::Column::State.is_in(from.iter().map(|s| s.as_str()))).exec(conn).await.map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    /// The face token of an active enrolment, opened to hand back to the engine that
    /// issued it (copying the face into a day's group): processing, not a disclosure.
    pub async fn face_token(&self, id: i64) -> Result<Option<String>, DomainError> {
        let m = fe::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?;
        let Some(sealed) = m.and_then(|m| m.face_token_enc) else { return Ok(None) };
        self.keys.cipher.open(COL_FACE_TOKEN, &sealed).map(Some).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal face token: {e}")))
    }

    /// Records that an enrolment's face is in `group_id` (again: nothing new).
    pub async fn add_face_group_member<C: ConnectionTrait>(&self, conn: &C, enrolment_id: i64, group_id: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        let exists =
            fgm::Entity::find().filter(fgm::Column::EnrolmentId.eq(enrolment_id)).filter(fgm::Column::GroupId.eq(group_id)).one(conn).await.map_err(db_err)?;
        if exists.is_none() {
            fgm::ActiveModel { enrolment_id: Set(enrolment_id), group_id: Set(group_id.to_owned()), added_at: Set(micros(now)), ..Default::default() }
                .insert(conn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// The groups an enrolment's face was added to.
    pub async fn face_groups_of(&self, enrolment_id: i64) -> Result<Vec<String>, DomainError> {
        let rows = fgm::Entity::find().filter(fgm::Column::EnrolmentId.eq(enrolment_id)).order_by_asc(fgm::Column::Id).all(&self.db).await.map_err(db_err)?;
        Ok(rows.into_iter().map(|r| r.group_id).collect())
    }

    /// Forgets that an enrolment's face is in `group_id` (the engine deleted it there).
    pub async fn remove_face_group_member<C: ConnectionTrait>(&self, conn: &C, enrolment_id: i64, group_id: &str) -> Result<(), DomainError> {
        fgm::Entity::delete_many()
            .filter(fgm::Column::EnrolmentId.eq(enrolment_id))
            .filter(fgm::Column::GroupId.eq(group_id))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Records that the engine confirmed the enrolment's face deleted everywhere.
    pub async fn mark_face_deleted<C: ConnectionTrait>(&self, conn: &C, id: i64, now: DateTime<Utc>) -> Result<(), DomainError> {
        fe::Entity::update_many()
            .col_expr(fe::Column::DeletedAt, Expr::value(micros(now)))
            .col_expr(fe::Column::FaceTokenEnc, Expr::value(Option::<String>::None))
            .filter(fe::Column::Id.eq(id))
            .filter(fe::Column::DeletedAt.is_null())
            .exec(conn)
            .await
            .map_err(db_err)?;
        fgm::Entity::delete_many().filter(fgm::Column::EnrolmentId.eq(id)).exec(conn).await.map_err(db_err)?;
        Ok(())
    }

    /// The active enrolments of these 就诊人.
    pub async fn active_face_enrolments(&self, patient_ids: &[i64]) -> Result<Vec<Enrolment>, DomainError> {
        if patient_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = fe::Entity::find()
            .filter(fe::Column::PatientId.is_in(patient_ids.iter().copied()))
            .filter(fe::Column::State.eq(EnrolmentState::Active.as_str()))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(of_row).collect()
    }

    /// The enrolments whose face is in `group_id`.
    pub async fn face_group_enrolments(&self, group_id: &str) -> Result<Vec<i64>, DomainError> {
        let rows = fgm::Entity::find().filter(fgm::Column::GroupId.eq(group_id)).all(&self.db).await.map_err(db_err)?;
        Ok(rows.into_iter().map(|r| r.enrolment_id).collect())
    }

    /// Day-group memberships recorded before `before` (the enrolment group excepted): what
    /// the nightly purge deletes from the engine. (enrolment id, group, engine user id).
    pub async fn stale_face_group_members(&self, before: DateTime<Utc>, keep_group: &str, limit: u64) -> Result<Vec<(i64, String, String)>, DomainError> {
        use sea_orm::QuerySelect;
        let rows = fgm::Entity::find()
            .filter(fgm::Column::AddedAt.lt(micros(before)))
            .filter(fgm::Column::GroupId.ne(keep_group))
            .order_by_asc(fgm::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let user = fe::Entity::find_by_id(r.enrolment_id).one(&self.db).await.map_err(db_err)?.map(|e| e.engine_user_id).unwrap_or_default();
            out.push((r.enrolment_id, r.group_id, user));
        }
        Ok(out)
    }
}
