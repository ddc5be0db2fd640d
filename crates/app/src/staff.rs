//! Staff accounts and sign-in with two factors: an argon2id password and a TOTP code
//! (level-5 item 16; S4, S5). There are no default accounts: the first admin is made
//! with `carebridge admin create`.
use crate::{Actor, App};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use domain::staff::{Role, password_acceptable, valid_username};
use domain::{DomainError, ErrorCode};
use store::session::SessionKind;
use store::staff::{NewStaff, StaffRecord};

pub struct NewStaffAccount {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub roles: Vec<Role>,
}

/// What a new staff member needs to finish enrolment: the TOTP secret for their
/// authenticator app (shown once).
#[derive(Debug, Clone)]
pub struct StaffEnrolment {
    pub staff_id: i64,
    pub username: String,
    pub totp_secret_base32: String,
    pub otpauth_uri: String,
}

#[derive(Clone, Debug)]
pub struct StaffPrincipal {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
}

impl StaffPrincipal {
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}

pub fn hash_password(password: &str) -> Result<String, DomainError> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| DomainError::new(ErrorCode::Internal, format!("argon2: {e}")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// A fixed hash to verify against when the user does not exist, so "no such user" and
/// "wrong password" take the same time.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not-a-real-password-0").expect("argon2 works"))
}

impl App {
    pub async fn create_staff(&self, acct: NewStaffAccount, by: &Actor) -> Result<StaffEnrolment, DomainError> {
        let username = acct.username.trim().to_ascii_lowercase();
        if !valid_username(&username) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "username"));
        }
        let display = acct.display_name.trim();
        if display.is_empty() || display.chars().count() > 32 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "display name"));
        }
        if !password_acceptable(&acct.password) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "password policy"));
        }
        if acct.roles.is_empty() {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "no role"));
        }
        let secret = crypto::random_bytes::<20>();
        let now = self.now();
        let rec = self
            .store
            .insert_staff(
                NewStaff {
                    username: &username,
                    display_name: display,
                    password_hash: hash_password(&acct.password)?,
                    totp_secret: &secret,
                    roles: &acct.roles,
                },
                now,
            )
            .await?;
        let roles: Vec<&str> = acct.roles.iter().map(|r| r.as_str()).collect();
        self.store.audit(&by.entry("staff.create", format!("staff:{}", rec.id), &roles.join(",")), now).await?;
        Ok(StaffEnrolment {
            staff_id: rec.id,
            username: username.clone(),
            totp_secret_base32: crypto::totp::base32_encode(&secret),
            otpauth_uri: crypto::totp::provisioning_uri("Carebridge", &username, &secret),
        })
    }

    /// Password and TOTP together. Every failure looks the same to the caller
    /// (`LOGIN_FAILED`), except a locked account. Returns the session token.
    pub async fn staff_login(&self, username: &str, password: &str, otp: &str, correlation_id: &str) -> Result<(String, StaffPrincipal), DomainError> {
        let now = self.now();
        let username = username.trim().to_ascii_lowercase();
        let Some(rec) = self.store.staff_by_username(&username).await?.filter(|r| r.active) else {
            let _ = verify_password(password, dummy_hash());
            return Err(DomainError::new(ErrorCode::LoginFailed, "no such active user"));
        };
        if rec.locked_until.is_some_and(|t| t > now) {
            return Err(DomainError::new(ErrorCode::AccountLocked, "locked"));
        }
        let password_ok = verify_password(password, &rec.password_hash);
        let secret = self.store.staff_totp_secret(rec.id).await?;
        let step = crypto::totp::verify(&secret, otp, now.timestamp());
        let actor = Actor::staff(rec.id, correlation_id);
        match (password_ok, step) {
            (true, Some(step)) if step > rec.last_totp_step => {
                if !self.store.record_staff_login_success(rec.id, step).await? {
                    return Err(DomainError::new(ErrorCode::OtpReused, "lost race for the step"));
                }
                let token = self.store.create_session(SessionKind::Staff, rec.id, self.policies.staff_session, now).await?;
                self.store.audit(&actor.entry("staff.login", format!("staff:{}", rec.id), "password+totp"), now).await?;
                Ok((token, principal(&rec)))
            }
            (true, Some(_)) => {
                self.store.audit(&actor.entry("staff.login_failed", format!("staff:{}", rec.id), "totp code reused"), now).await?;
                Err(DomainError::new(ErrorCode::OtpReused, "step already used"))
            }
            _ => {
                let failed = rec.failed_logins + 1;
                let lock = (failed >= self.policies.staff_max_failed_logins).then(|| now + self.policies.staff_lockout);
                self.store.record_staff_login_failure(rec.id, if lock.is_some() { 0 } else { failed }, lock).await?;
                self.store
                    .audit(&actor.entry("staff.login_failed", format!("staff:{}", rec.id), if password_ok { "bad totp" } else { "bad password" }), now)
                    .await?;
                Err(DomainError::new(if lock.is_some() { ErrorCode::AccountLocked } else { ErrorCode::LoginFailed }, "bad credentials"))
            }
        }
    }

    /// A fresh second factor for a sensitive action (S6): the current TOTP code, never
    /// one used before (the step is consumed like a login's). Failures count towards the
    /// lockout like login failures do.
    pub async fn staff_step_up(&self, staff_id: i64, otp: &str, action: &str, correlation_id: &str) -> Result<(), DomainError> {
        let now = self.now();
        let rec = self.store.staff_by_id(staff_id).await?.filter(|r| r.active).ok_or(ErrorCode::Unauthenticated)?;
        if rec.locked_until.is_some_and(|t| t > now) {
            return Err(DomainError::new(ErrorCode::AccountLocked, "locked"));
        }
        let secret = self.store.staff_totp_secret(rec.id).await?;
        let actor = Actor::staff(rec.id, correlation_id);
        match crypto::totp::verify(&secret, otp.trim(), now.timestamp()) {
            Some(step) if step > rec.last_totp_step && self.store.record_staff_login_success(rec.id, step).await? => {
                self.store.audit(&actor.entry("staff.step_up", format!("staff:{}", rec.id), action), now).await?;
                Ok(())
            }
            Some(_) => Err(DomainError::new(ErrorCode::OtpReused, "step already used")),
            None => {
                let failed = rec.failed_logins + 1;
                let lock = (failed >= self.policies.staff_max_failed_logins).then(|| now + self.policies.staff_lockout);
                self.store.record_staff_login_failure(rec.id, if lock.is_some() { 0 } else { failed }, lock).await?;
                self.store.audit(&actor.entry("staff.step_up_failed", format!("staff:{}", rec.id), action), now).await?;
                Err(DomainError::new(if lock.is_some() { ErrorCode::AccountLocked } else { ErrorCode::StepUpRequired }, "bad totp"))
            }
        }
    }

    pub async fn staff_session(&self, token: &str) -> Result<StaffPrincipal, DomainError> {
        let info = self.store.touch_session(token, SessionKind::Staff, self.policies.staff_session, self.now()).await?;
        let rec = self.store.staff_by_id(info.subject_id).await?.filter(|r| r.active).ok_or(ErrorCode::Unauthenticated)?;
        Ok(principal(&rec))
    }

    pub async fn list_staff(&self) -> Result<Vec<StaffPrincipal>, DomainError> {
        Ok(self.store.list_staff().await?.iter().map(principal).collect())
    }
}

fn principal(r: &StaffRecord) -> StaffPrincipal {
    StaffPrincipal { id: r.id, username: r.username.clone(), display_name: r.display_name.clone(), roles: r.roles.clone() }
}
