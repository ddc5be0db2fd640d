//! Reconciliation runs and the differences they found.
use crate::entity::{recon_item, recon_run};
use crate::{Store, db_err, micros};
use chrono::{DateTime, Utc};
use domain::{DomainError, ErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// A difference to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewItem {
    pub channel: String,
    pub order_no: String,
    pub kind: &'static str,
    pub local_amount: i64,
    pub remote_amount: i64,
    pub detail: String,
    pub resolution: &'static str,
}

impl Store {
    pub async fn start_recon_run(&self, business_date: &str, now: DateTime<Utc>) -> Result<i64, DomainError> {
        // A run of the same day still "running" was cut off (its node died; the job was
        // taken over): it is closed as interrupted, so no run shows "running" for ever.
        recon_run::Entity::update_many()
            .col_expr(recon_run::Column::Status, sea_orm::sea_query::Expr::value("interrupted"))
            .col_expr(recon_run::Column::FinishedAt, sea_orm::sea_query::Expr::value(Some(micros(now))))
            .filter(recon_run::Column::BusinessDate.eq(business_date))
            .filter(recon_run::Column::Status.eq("running"))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        let m = recon_run::ActiveModel {
            business_date: Set(business_date.into()),
            status: Set("running".into()),
            summary: Set("{}".into()),
            started_at: Set(micros(now)),
            finished_at: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(db_err)?;
        Ok(m.id)
    }

    /// Writes a run's items and closes it, in one transaction.
    pub async fn finish_recon_run(
        &self,
        run_id: i64,
        status: &str,
        summary: &serde_json::Value,
        items: &[NewItem],
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let txn = self.write_txn().await?;
        for i in items {
            recon_item::ActiveModel {
                run_id: Set(run_id),
                channel: Set(i.channel.clone()),
                order_no: Set(i.order_no.clone()),
                kind: Set(i.kind.into()),
                local_amount: Set(i.local_amount),
                remote_amount: Set(i.remote_amount),
                detail: Set(i.detail.clone()),
                resolution: Set(i.resolution.into()),
                note: Set(String::new()),
                resolved_by: Set(None),
                resolved_at: Set(None),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(db_err)?;
        }
        recon_run::Entity::update_many()
            .col_expr(recon_run::Column::Status, Expr::value(status.to_owned()))
            .col_expr(recon_run::Column::Summary, Expr::value(summary.to_string()))
            .col_expr(recon_run::Column::FinishedAt, Expr::value(Some(micros(now))))
            .filter(recon_run::Column::Id.eq(run_id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)
    }

    pub async fn recon_runs(&self, limit: u64) -> Result<Vec<recon_run::Model>, DomainError> {
        recon_run::Entity::find().order_by_desc(recon_run::Column::Id).limit(limit).all(&self.db).await.map_err(db_err)
    }

    pub async fn recon_run(&self, run_id: i64) -> Result<(recon_run::Model, Vec<recon_item::Model>), DomainError> {
        let run = recon_run::Entity::find_by_id(run_id).one(&self.db).await.map_err(db_err)?.ok_or(ErrorCode::NotFound)?;
        let items =
            recon_item::Entity::find().filter(recon_item::Column::RunId.eq(run_id)).order_by_asc(recon_item::Column::Id).all(&self.db).await.map_err(db_err)?;
        Ok((run, items))
    }

    /// A person's resolution of an open item. Only an open item can be resolved.
    pub async fn resolve_recon_item(&self, item_id: i64, note: &str, by: &str, now: DateTime<Utc>) -> Result<recon_item::Model, DomainError> {
        let res = recon_item::Entity::update_many()
            .col_expr(recon_item::Column::Resolution, Expr::value("resolved"))
            .col_expr(recon_item::Column::Note, Expr::value(note.to_owned()))
            .col_expr(recon_item::Column::ResolvedBy, Expr::value(Some(by.to_owned())))
            .col_expr(recon_item::Column::ResolvedAt, Expr::value(Some(micros(now))))
            .filter(recon_item::Column::Id.eq(item_id))
            .filter(recon_item::Column::Resolution.eq("open"))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        let m = recon_item::Entity::find_by_id(item_id).one(&self.db).await.map_err(db_err)?.ok_or(ErrorCode::NotFound)?;
        if res.rows_affected != 1 {
            return Err(DomainError::new(ErrorCode::Conflict, "item not open"));
        }
        Ok(m)
    }
}
