//! Consent records (S13): grants and withdrawals, newest first.
use crate::entity::consent_record;
use crate::{Store, db_err, micros};
use chrono::{DateTime, Utc};
use domain::DomainError;
use domain::consent::{ConsentRecord, Purpose};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

fn of_row(r: consent_record::Model) -> Option<ConsentRecord> {
    Some(ConsentRecord {
        purpose: Purpose::parse(&r.purpose)?,
        patient_id: r.patient_id,
        text_version: r.text_version,
        channel: r.channel,
        granted_at: r.granted_at,
        withdrawn_at: r.withdrawn_at,
        withdrawn_channel: r.withdrawn_channel,
    })
}

fn scope(purpose: Purpose, account_id: i64, patient_id: Option<i64>) -> sea_orm::Condition {
    let c = sea_orm::Condition::all().add(consent_record::Column::AccountId.eq(account_id)).add(consent_record::Column::Purpose.eq(purpose.code()));
    match patient_id {
        Some(p) => c.add(consent_record::Column::PatientId.eq(p)),
        None => c.add(consent_record::Column::PatientId.is_null()),
    }
}

impl Store {
    /// The newest record of a purpose for the account (or one of its 就诊人).
    pub async fn newest_consent<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        patient_id: Option<i64>,
        purpose: Purpose,
    ) -> Result<Option<ConsentRecord>, DomainError> {
        let row = consent_record::Entity::find()
            .filter(scope(purpose, account_id, patient_id))
            .order_by_desc(consent_record::Column::Id)
            .one(conn)
            .await
            .map_err(db_err)?;
        Ok(row.and_then(of_row))
    }

    /// Every record of the account, newest first (its history, as the patient sees it).
    pub async fn consents_of(&self, account_id: i64) -> Result<Vec<ConsentRecord>, DomainError> {
        let rows = consent_record::Entity::find()
            .filter(consent_record::Column::AccountId.eq(account_id))
            .order_by_desc(consent_record::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().filter_map(of_row).collect())
    }

    /// Records a grant unless one on the same text is in force; `only_if_none` records
    /// it only where the purpose has no record at all (sign-in never undoes a withdrawal).
    /// Returns whether a row was written.
    #[allow(clippy::too_many_arguments)]
    pub async fn grant_consent<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        patient_id: Option<i64>,
        purpose: Purpose,
        channel: &str,
        only_if_none: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let newest = self.newest_consent(conn, account_id, patient_id, purpose).await?;
        let skip = match &newest {
            Some(_) if only_if_none => true,
            Some(r) => r.withdrawn_at.is_none() && r.text_version == purpose.text_version(),
            None => false,
        };
        if skip {
            return Ok(false);
        }
        consent_record::ActiveModel {
            account_id: Set(account_id),
            patient_id: Set(patient_id),
            purpose: Set(purpose.code().into()),
            text_version: Set(purpose.text_version().into()),
            channel: Set(channel.into()),
            granted_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(db_err)?;
        Ok(true)
    }

    /// Withdraws every grant of the purpose in force. A purpose of the service with no
    /// record yet (an account from before records were kept) gets one, withdrawn at once,
    /// so the withdrawal is on record. Returns whether anything was in force.
    pub async fn withdraw_consent<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        patient_id: Option<i64>,
        purpose: Purpose,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let newest = self.newest_consent(conn, account_id, patient_id, purpose).await?;
        if newest.is_none() && !purpose.needs_separate_grant() {
            consent_record::ActiveModel {
                account_id: Set(account_id),
                patient_id: Set(patient_id),
                purpose: Set(purpose.code().into()),
                text_version: Set(purpose.text_version().into()),
                channel: Set("before_records".into()),
                granted_at: Set(micros(now)),
                withdrawn_at: Set(Some(micros(now))),
                withdrawn_channel: Set(Some(channel.into())),
                ..Default::default()
            }
            .insert(conn)
            .await
            .map_err(db_err)?;
            return Ok(true);
        }
        let res = consent_record::Entity::update_many()
            .col_expr(consent_record::Column::WithdrawnAt, Expr::value(micros(now)))
            .col_expr(consent_record::Column::WithdrawnChannel, Expr::value(channel))
            .filter(scope(purpose, account_id, patient_id))
            .filter(consent_record::Column::WithdrawnAt.is_null())
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }
}
