//! Guardians' bindings of children's insurance (INS-3).
use crate::entity::child_binding;
use crate::{Store, db_err, micros};
use chrono::{DateTime, Utc};
use domain::identity::{IdCardNo, PersonName};
use domain::{DomainError, ErrorCode, Masked};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

pub use child_binding::Model as ChildBindingRow;

const COL_NAME: &str = "child_binding.name";
const COL_ID: &str = "child_binding.id_no";

/// A pending binding opened, waiting for the guardian's verification.
pub struct NewChildBinding<'a> {
    pub account_id: i64,
    pub name: &'a Masked<PersonName>,
    pub id_card_no: &'a Masked<IdCardNo>,
    pub source: &'a str,
    pub verify_state: &'a str,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    pub async fn open_child_binding(&self, b: NewChildBinding<'_>, now: DateTime<Utc>) -> Result<i64, DomainError> {
        let c = &self.keys.cipher;
        let m = child_binding::ActiveModel {
            account_id: Set(b.account_id),
            patient_id: Set(None),
            name_enc: Set(c.seal(COL_NAME, b.name.expose().as_ref())),
            name_masked: Set(b.name.to_string()),
            id_no_enc: Set(c.seal(COL_ID, b.id_card_no.expose().as_ref())),
            id_no_hash: Set(self.id_no_hash(b.id_card_no)),
            id_no_masked: Set(b.id_card_no.to_string()),
            source: Set(b.source.into()),
            state: Set("pending".into()),
            verify_state: Set(Some(b.verify_state.into())),
            verified_by: Set(String::new()),
            created_at: Set(micros(now)),
            expires_at: Set(micros(b.expires_at)),
            bound_at: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(db_err)?;
        Ok(m.id)
    }

    /// The account's pending binding for this verification state, with the child's name and
    /// ID number opened (the caller audits the read).
    pub async fn pending_child_binding(
        &self,
        account_id: i64,
        verify_state: &str,
        now: DateTime<Utc>,
    ) -> Result<(ChildBindingRow, String, String), DomainError> {
        let m = child_binding::Entity::find()
            .filter(child_binding::Column::VerifyState.eq(verify_state))
            .filter(child_binding::Column::AccountId.eq(account_id))
            .filter(child_binding::Column::State.eq("pending"))
            .filter(child_binding::Column::ExpiresAt.gt(micros(now)))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::new(ErrorCode::ChildBindingExpired, "no such pending binding"))?;
        let c = &self.keys.cipher;
        let open = |col: &str, v: &str| c.open(col, v).map_err(|e| DomainError::new(ErrorCode::Internal, format!("child binding unseal: {e}")));
        let name = open(COL_NAME, &m.name_enc)?;
        let id = open(COL_ID, &m.id_no_enc)?;
        self.disclosed(crate::Disclosure::ChildIdentity);
        Ok((m, name, id))
    }

    /// Completes a pending binding (once: the verification state is spent).
    pub async fn complete_child_binding(&self, id: i64, patient_id: i64, verified_by: &str, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let res = child_binding::Entity::update_many()
            .col_expr(child_binding::Column::State, Expr::value("bound"))
            .col_expr(child_binding::Column::PatientId, Expr::value(patient_id))
            .col_expr(child_binding::Column::VerifyState, Expr::value(Option::<String>::None))
            .col_expr(child_binding::Column::VerifiedBy, Expr::value(verified_by))
            .col_expr(child_binding::Column::BoundAt, Expr::value(micros(now)))
            .filter(child_binding::Column::Id.eq(id))
            .filter(child_binding::Column::State.eq("pending"))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    /// Whether a guardian has bound this child's 少儿医保 (the 就诊人 row is per account).
    pub async fn child_bound(&self, patient_id: i64) -> Result<bool, DomainError> {
        Ok(child_binding::Entity::find()
            .filter(child_binding::Column::PatientId.eq(patient_id))
            .filter(child_binding::Column::State.eq("bound"))
            .count(&self.db)
            .await
            .map_err(db_err)?
            > 0)
    }

    /// The account's bindings, newest first.
    pub async fn child_bindings(&self, account_id: i64) -> Result<Vec<ChildBindingRow>, DomainError> {
        child_binding::Entity::find()
            .filter(child_binding::Column::AccountId.eq(account_id))
            .filter(child_binding::Column::State.eq("bound"))
            .order_by_desc(child_binding::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }
}

impl Store {
    /// Ends a child's binding (the guardian withdrew the consent): 少儿医保 is no longer
    /// offered for the child. Returns whether a binding was in force.
    pub async fn unbind_child<C: sea_orm::ConnectionTrait>(&self, conn: &C, account_id: i64, patient_id: i64) -> Result<bool, DomainError> {
        let res = child_binding::Entity::update_many()
            .col_expr(child_binding::Column::State, Expr::value("withdrawn"))
            .filter(child_binding::Column::AccountId.eq(account_id))
            .filter(child_binding::Column::PatientId.eq(patient_id))
            .filter(child_binding::Column::State.eq("bound"))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }

    /// The account a 就诊人 row belongs to.
    pub async fn patient_account(&self, patient_id: i64) -> Result<Option<i64>, DomainError> {
        Ok(crate::entity::patient::Entity::find_by_id(patient_id).one(&self.db).await.map_err(db_err)?.map(|p| p.account_id))
    }
}
