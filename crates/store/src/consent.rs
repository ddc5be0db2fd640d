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

/// Writes one record on the purpose's current text; `withdrawn_via` withdraws it at once.
async fn insert_record<C: ConnectionTrait>(
    conn: &C,
    account_id: i64,
    patient_id: Option<i64>,
    purpose: Purpose,
    channel: &str,
    now: DateTime<Utc>,
    withdrawn_via: Option<&str>,
) -> Result<(), DomainError> {
    consent_record::ActiveModel {
        account_id: Set(account_id),
        patient_id: Set(patient_id),
        purpose: Set(purpose.code().into()),
        text_version: Set(purpose.text_version().into()),
        channel: Set(channel.into()),
        granted_at: Set(micros(now)),
        withdrawn_at: Set(withdrawn_via.map(|_| micros(now))),
        withdrawn_channel: Set(withdrawn_via.map(str::to_owned)),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

impl Store {
    /// Records, at first sign-in, the account's grants of `purposes` that have no record
    /// at all (a later withdrawal stays withdrawn however often the patient signs in):
    /// one query when, as on every later sign-in, there is nothing to write.
    pub async fn grant_account_consents_if_none<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        purposes: &[Purpose],
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        for (purpose, newest) in self.newest_account_consents(conn, account_id, purposes).await? {
            if newest.is_none() {
                insert_record(conn, account_id, None, purpose, channel, now, None).await?;
            }
        }
        Ok(())
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

    /// The newest record of each of `purposes` of the whole account (no 就诊人), in one
    /// query: what every message send and every sign-in asks.
    pub async fn newest_account_consents<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        purposes: &[Purpose],
    ) -> Result<Vec<(Purpose, Option<ConsentRecord>)>, DomainError> {
        let rows = consent_record::Entity::find()
            .filter(consent_record::Column::AccountId.eq(account_id))
            .filter(consent_record::Column::PatientId.is_null())
            .filter(consent_record::Column::Purpose.is_in(purposes.iter().map(|p| p.code())))
            .order_by_desc(consent_record::Column::Id)
            .all(conn)
            .await
            .map_err(db_err)?;
        let records: Vec<ConsentRecord> = rows.into_iter().filter_map(of_row).collect();
        Ok(purposes.iter().map(|p| (*p, records.iter().find(|r| r.purpose == *p).cloned())).collect())
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

    /// Records a grant unless one on the same text is in force. Returns whether a row
    /// was written.
    pub async fn grant_consent<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        patient_id: Option<i64>,
        purpose: Purpose,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let newest = self.newest_consent(conn, account_id, patient_id, purpose).await?;
        if newest.is_some_and(|r| r.withdrawn_at.is_none() && r.text_version == purpose.text_version()) {
            return Ok(false);
        }
        insert_record(conn, account_id, patient_id, purpose, channel, now, None).await?;
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
            insert_record(conn, account_id, patient_id, purpose, "before_records", now, Some(channel)).await?;
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
