//! Staff accounts: password hash, sealed TOTP secret, roles, lockout counters.
use crate::entity::staff_user;
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::staff::Role;
use domain::{DomainError, ErrorCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

const COL_TOTP: &str = "staff_user.totp_secret";

#[derive(Clone, Debug)]
pub struct StaffRecord {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub active: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_totp_step: i64,
}

pub struct NewStaff<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: String,
    pub totp_secret: &'a [u8],
    pub roles: &'a [Role],
}

fn record(m: staff_user::Model) -> StaffRecord {
    StaffRecord {
        id: m.id,
        roles: m.roles.split(',').filter_map(Role::parse).collect(),
        username: m.username,
        display_name: m.display_name,
        password_hash: m.password_hash,
        active: m.active,
        failed_logins: m.failed_logins,
        locked_until: m.locked_until,
        last_totp_step: m.last_totp_step,
    }
}

impl Store {
    pub async fn insert_staff(&self, s: NewStaff<'_>, now: DateTime<Utc>) -> Result<StaffRecord, DomainError> {
        let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
        let am = staff_user::ActiveModel {
            username: Set(s.username.to_owned()),
            display_name: Set(s.display_name.to_owned()),
            password_hash: Set(s.password_hash),
            totp_secret_enc: Set(self.keys.cipher.seal(COL_TOTP, &hex::encode(s.totp_secret))),
            roles: Set(roles.join(",")),
            active: Set(true),
            failed_logins: Set(0),
            locked_until: Set(None),
            last_totp_step: Set(0),
            created_at: Set(micros(now)),
            ..Default::default()
        };
        match am.insert(&self.db).await {
            Ok(m) => Ok(record(m)),
            Err(e) if is_unique_violation(&e) => Err(DomainError::new(ErrorCode::Conflict, "username taken")),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn staff_by_username(&self, username: &str) -> Result<Option<StaffRecord>, DomainError> {
        Ok(staff_user::Entity::find().filter(staff_user::Column::Username.eq(username)).one(&self.db).await.map_err(db_err)?.map(record))
    }

    pub async fn staff_by_id(&self, id: i64) -> Result<Option<StaffRecord>, DomainError> {
        Ok(staff_user::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.map(record))
    }

    pub async fn list_staff(&self) -> Result<Vec<StaffRecord>, DomainError> {
        Ok(staff_user::Entity::find().order_by_asc(staff_user::Column::Id).all(&self.db).await.map_err(db_err)?.into_iter().map(record).collect())
    }

    pub async fn staff_count(&self) -> Result<u64, DomainError> {
        use sea_orm::PaginatorTrait;
        staff_user::Entity::find().count(&self.db).await.map_err(db_err)
    }

    /// The TOTP secret, unsealed (a sensitive read of a credential, not of patient data).
    pub async fn staff_totp_secret(&self, id: i64) -> Result<Vec<u8>, DomainError> {
        let m = staff_user::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.ok_or(ErrorCode::LoginFailed)?;
        let hexed = self.keys.cipher.open(COL_TOTP, &m.totp_secret_enc).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal totp: {e}")))?;
        hex::decode(hexed).map_err(|_| DomainError::new(ErrorCode::Internal, "totp secret encoding"))
    }

    pub async fn record_staff_login_failure(&self, id: i64, failed_logins: i32, locked_until: Option<DateTime<Utc>>) -> Result<(), DomainError> {
        staff_user::ActiveModel { id: Set(id), failed_logins: Set(failed_logins), locked_until: Set(locked_until.map(micros)), ..Default::default() }
            .update(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Records a successful login and consumes the TOTP step. The update only succeeds
    /// if the step is newer than the last one used, so two logins racing with the same
    /// code cannot both win.
    pub async fn record_staff_login_success(&self, id: i64, totp_step: i64) -> Result<bool, DomainError> {
        let res = staff_user::Entity::update_many()
            .col_expr(staff_user::Column::FailedLogins, sea_orm::sea_query::Expr::value(0))
            .col_expr(staff_user::Column::LockedUntil, sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(staff_user::Column::LastTotpStep, sea_orm::sea_query::Expr::value(totp_step))
            .filter(staff_user::Column::Id.eq(id))
            .filter(staff_user::Column::LastTotpStep.lt(totp_step))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }
}
