//! Patient identity: WeChat sign-in and the 就诊人 a WeChat user manages (self,
//! children as guardian, parents …), with real-name verification and HIS registration.
use crate::{Actor, App};
pub use domain::identity::PatientSummary;
use domain::identity::{IdCardNo, MAX_PATIENTS_PER_ACCOUNT, Mobile, PersonName, Relationship, check_relationship};
use domain::insurance::InsuranceKind;
use domain::ports::NewHisPatient;
use domain::{DomainError, ErrorCode};
use store::identity::NewPatient;
use store::session::SessionKind;

/// What the patient typed on the "add 就诊人" form.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AddPatientInput {
    pub name: String,
    pub id_card_no: String,
    #[serde(default)]
    pub mobile: Option<String>,
    pub relationship: String,
}

/// A signed-in patient session: the cookie token and the account.
pub struct PatientLogin {
    pub token: String,
    pub account_id: i64,
}

/// What the home page greets a signed-in patient with.
pub struct HomeOverview {
    /// The WeChat nickname (sealed at rest; opened only to greet its owner).
    pub nickname: Option<String>,
    /// The account's first 就诊人, shown as the current card.
    pub first_patient: Option<PatientSummary>,
    pub unread_messages: u64,
    /// Critical values not yet acknowledged: (message number, title).
    pub pending_critical: Vec<(String, String)>,
}

impl App {
    /// Where to send the browser to sign in with WeChat; `state` comes back with it.
    pub fn wechat_authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        self.wechat.authorize_url(redirect_uri, state)
    }

    pub async fn home_overview(&self, account_id: i64) -> Result<HomeOverview, DomainError> {
        let unread_messages = self.store.unread_count(account_id).await?;
        let first_patient = self.store.list_patients(account_id).await?.into_iter().next();
        let nickname = self.store.wechat_account_nickname(account_id).await?;
        let pending_critical = self.unacknowledged_critical(account_id).await?.into_iter().map(|m| (m.message_no, m.title)).collect();
        Ok(HomeOverview { nickname, first_patient, unread_messages, pending_critical })
    }

    /// Completes the WeChat OAuth round trip: exchanges the code, finds or creates the
    /// account, opens a new session (a fresh identifier on every login: S2).
    pub async fn wechat_login(&self, code: &str, correlation_id: &str) -> Result<PatientLogin, DomainError> {
        if code.is_empty() || code.len() > 128 || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(DomainError::new(ErrorCode::WechatAuthFailed, "code out of shape"));
        }
        let ident = self.wechat.exchange_code(code).await?;
        let now = self.now();
        let account_id = self.store.upsert_wechat_account(&ident.openid, ident.unionid.as_deref(), ident.nickname.as_deref(), now).await?;
        let token = self.store.create_session(SessionKind::Patient, account_id, self.policies.patient_session, now).await?;
        // Signing in accepts the privacy policy, notices included (the home page says so):
        // recorded once, so a later withdrawal stays withdrawn however often they sign in.
        let notices = [domain::consent::Purpose::WechatNotices, domain::consent::Purpose::SmsNotices];
        self.store.grant_account_consents_if_none(self.store.db(), account_id, &notices, domain::consent::channel::SIGN_IN, now).await?;
        self.store
            .audit(
                &Actor::patient_account(account_id, correlation_id).entry("patient_account.login", format!("patient_account:{account_id}"), "wechat oauth"),
                now,
            )
            .await?;
        Ok(PatientLogin { token, account_id })
    }

    /// The account behind a session token, and when it last signed in.
    pub async fn patient_session(&self, token: &str) -> Result<(i64, chrono::DateTime<chrono::Utc>), DomainError> {
        let info = self.store.touch_session(token, SessionKind::Patient, self.policies.patient_session, self.now()).await?;
        Ok((info.subject_id, info.authenticated_at))
    }

    /// S6: money moves only after a recent sign-in. In WeChat the sign-in round trip is
    /// silent (snsapi_base), so asking again costs the patient nothing.
    pub fn require_fresh_auth(&self, authenticated_at: chrono::DateTime<chrono::Utc>) -> Result<(), DomainError> {
        if self.now() - authenticated_at > self.policies.patient_fresh_auth {
            return Err(DomainError::new(ErrorCode::ReauthRequired, "sign-in older than the fresh-auth window"));
        }
        Ok(())
    }

    /// S6 for health records: a report's file or a record copy's photos are opened only
    /// within a while of signing in (longer than for money; the round trip is as silent).
    pub fn require_recent_sign_in_to_read(&self, authenticated_at: chrono::DateTime<chrono::Utc>) -> Result<(), DomainError> {
        if self.now() - authenticated_at > self.policies.patient_fresh_read {
            return Err(DomainError::new(ErrorCode::ReauthToRead, "sign-in older than the sensitive-read window"));
        }
        Ok(())
    }

    pub async fn logout(&self, token: &str) -> Result<(), DomainError> {
        self.store.delete_session(token).await
    }

    pub async fn list_patients(&self, account_id: i64) -> Result<Vec<PatientSummary>, DomainError> {
        self.store.list_patients(account_id).await
    }

    /// Adds a 就诊人: validates every field (GB 11643 for the ID number), checks the
    /// relationship against age, verifies the name against the ID number, finds or
    /// creates the HIS record (建档), then stores it with an audit row in one
    /// transaction. Nothing is written unless everything passed.
    pub async fn add_patient(&self, account_id: i64, input: &AddPatientInput, correlation_id: &str) -> Result<PatientSummary, DomainError> {
        let today = self.today();
        let name = PersonName::parse(&input.name)?;
        let id = IdCardNo::parse(&input.id_card_no, today)?;
        let mobile = match input.mobile.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => Some(Mobile::parse(m)?),
            None => None,
        };
        let relationship = Relationship::parse(&input.relationship)?;
        check_relationship(relationship, id.expose(), today)?;

        // Cheap refusals before asking anyone outside.
        if self.store.account_has_patient(self.store.db(), account_id, &id).await? {
            return Err(DomainError::new(ErrorCode::PatientAlreadyAdded, "pre-check"));
        }
        if self.store.count_patients(self.store.db(), account_id).await? >= MAX_PATIENTS_PER_ACCOUNT {
            return Err(DomainError::new(ErrorCode::PatientLimitReached, "limit"));
        }
        if relationship == Relationship::Myself && self.store.list_patients(account_id).await?.iter().any(|p| p.relationship == Relationship::Myself) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "a second 'self'"));
        }

        if !self.realname.verify(name.expose().as_ref(), id.expose().as_ref()).await? {
            return Err(DomainError::new(ErrorCode::RealNameMismatch, "real-name check said no"));
        }

        let his_patient = match self.his.find_patient(id.expose().as_ref()).await? {
            Some(p) if p.name != name.expose().as_ref() => return Err(DomainError::new(ErrorCode::RealNameMismatch, "HIS record has another name")),
            Some(p) => p,
            None => {
                let guardian = if relationship == Relationship::Child { self.guardian_id_number(account_id).await? } else { None };
                self.his
                    .register_patient(&NewHisPatient {
                        name: name.expose().as_ref().to_owned(),
                        id_card_no: id.expose().as_ref().to_owned(),
                        mobile: mobile.as_ref().map(|m| m.expose().as_ref().to_owned()),
                        gender: id.expose().gender(),
                        birth_date: id.expose().birth_date(),
                        guardian_id_card_no: guardian,
                    })
                    .await?
            }
        };

        // No mobile given: the one the HIS holds, so a critical value can still reach the
        // phone (issue 17 item 9). A malformed one there is left out, not trusted.
        let mobile = mobile.or_else(|| his_patient.mobile.as_deref().and_then(|m| Mobile::parse(m).ok()));

        let now = self.now();
        let txn = self.store.write_txn().await?;
        let summary = self
            .store
            .insert_patient(
                &txn,
                NewPatient {
                    account_id,
                    relationship,
                    name: &name,
                    id_card_no: &id,
                    mobile: mobile.as_ref(),
                    his_patient_id: his_patient.his_patient_id.clone(),
                    mr_no: his_patient.mr_no.clone(),
                    insurance_kind: his_patient.coverage.kind,
                },
                now,
            )
            .await?;
        self.store
            .append_audit(
                &txn,
                &Actor::patient_account(account_id, correlation_id).entry("patient.add", format!("patient:{}", summary.id), relationship.as_str()),
                now,
            )
            .await?;
        txn.commit().await.map_err(store::db_err)?;
        tracing::info!(patient_id = summary.id, account_id, insurance = his_patient.coverage.kind.as_str(), "patient added");
        Ok(summary)
    }

    /// The guardian's own ID number, when the account has a "self" patient.
    pub(crate) async fn guardian_id_number(&self, account_id: i64) -> Result<Option<String>, DomainError> {
        let me = self.store.list_patients(account_id).await?.into_iter().find(|p| p.relationship == Relationship::Myself);
        match me {
            Some(p) => {
                let full = self.store.patient_identity(account_id, p.id).await?;
                self.store
                    .audit(
                        &Actor::system("his_registration").entry(
                            "patient.identity_read",
                            format!("patient:{}", p.id),
                            "guardian id for HIS registration of a child",
                        ),
                        self.now(),
                    )
                    .await?;
                Ok(Some(full.id_card_no.expose().as_ref().to_owned()))
            }
            None => Ok(None),
        }
    }

    /// One of the account's 就诊人 (masked forms); another account's is "not found".
    pub async fn patient_of(&self, account_id: i64, patient_id: i64) -> Result<PatientSummary, DomainError> {
        self.store.patient_summary(account_id, patient_id).await
    }

    pub async fn remove_patient(&self, account_id: i64, patient_id: i64, correlation_id: &str) -> Result<(), DomainError> {
        let now = self.now();
        let txn = self.store.write_txn().await?;
        self.store.delete_patient(&txn, account_id, patient_id).await?;
        // A removed 就诊人's face goes from the engine too, and the consent ends with them.
        let face = domain::consent::Purpose::FaceEnrolment;
        self.store.withdraw_consent(&txn, account_id, Some(patient_id), face, "patient_removed", now).await?;
        self.withdraw_face_enrolment(&txn, account_id, patient_id, now).await?;
        self.store
            .append_audit(&txn, &Actor::patient_account(account_id, correlation_id).entry("patient.remove", format!("patient:{patient_id}"), "by owner"), now)
            .await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    pub fn insurance_label(kind: &str) -> &'static str {
        [InsuranceKind::Tier1, InsuranceKind::Tier2, InsuranceKind::Tier3, InsuranceKind::Children, InsuranceKind::SelfPay]
            .into_iter()
            .find(|k| k.as_str() == kind)
            .map(|k| k.label_zh())
            .unwrap_or("未知")
    }
}
