//! The patient's insurance standing (INS-2, INS-3): asked of the HIS, judged by the
//! hospital's rules. Payment (`billing::insurance`) and booking (`registration`) ask the
//! same question here, so the rule runs the same way at every step.
use crate::{Actor, App};
use domain::insurance::{Coverage, DeptException, Eligibility, InsuranceRules};
use domain::{DomainError, ErrorCode};

impl App {
    /// The hospital's INS-2 rules: its 定点 code and the department exceptions in force.
    pub async fn insurance_rules(&self) -> Result<InsuranceRules, DomainError> {
        Ok(InsuranceRules { hospital_code: self.policies.hospital_code.clone(), exceptions: self.store.insurance_exceptions().await? })
    }

    /// What insurance may pay for this patient in this department today, with the
    /// coverage it was judged on. The HIS is asked every time: a referral may have been
    /// issued or may have lapsed since the patient last looked.
    ///
    /// A judgement is kept for a few seconds (`Policies::eligibility_cache_ttl`): the pay
    /// page, its polling and the payment steps ask again and again within a minute, and a
    /// referral's validity changes by the day. Editing the rules clears this node's copies.
    pub async fn eligibility(&self, his_patient_id: &str, dept_id: Option<&str>) -> Result<(Coverage, Eligibility), DomainError> {
        let key = format!("{his_patient_id}|{}", dept_id.unwrap_or(""));
        if let Some(hit) = self.eligibility_cache.get(&key) {
            return Ok(hit);
        }
        let patient = self.his.patient(his_patient_id).await?.ok_or(ErrorCode::PatientNotFound)?;
        let rules = self.insurance_rules().await?;
        let e = rules.decide(&patient.coverage, dept_id, self.today());
        self.eligibility_cache.put(key, (patient.coverage.clone(), e.clone()));
        Ok((patient.coverage, e))
    }

    /// Adds a department exception (console, audited).
    pub async fn add_insurance_exception(&self, e: &DeptException, actor: &Actor) -> Result<i64, DomainError> {
        if e.dept_id.trim().is_empty() || e.kinds.is_empty() || e.label.trim().is_empty() || e.label.chars().count() > 60 {
            return Err(ErrorCode::ValidationFailed.into());
        }
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let id = self.store.add_insurance_rule(&txn, e, &actor.id, now).await?;
        let kinds: Vec<&str> = e.kinds.iter().map(|k| k.as_str()).collect();
        let what = format!("{} {} {}", e.dept_id, kinds.join(","), e.label);
        self.store.append_audit(&txn, &actor.entry("insurance.rule_add", format!("insurance_rule:{id}"), &what), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        self.eligibility_cache.clear();
        Ok(id)
    }

    /// Turns an exception on or off (console, audited).
    pub async fn set_insurance_exception_enabled(&self, id: i64, enabled: bool, actor: &Actor) -> Result<(), DomainError> {
        let now = self.now();
        let txn = self.store.write_txn().await?;
        self.store.set_insurance_rule_enabled(&txn, id, enabled, &actor.id, now).await?;
        let what = if enabled { "启用" } else { "停用" };
        self.store.append_audit(&txn, &actor.entry("insurance.rule_toggle", format!("insurance_rule:{id}"), what), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        self.eligibility_cache.clear();
        Ok(())
    }
}

/// One judgement and when it was made.
type Judged = (std::time::Instant, (Coverage, Eligibility));

/// Recent INS-2 judgements per patient and department, in memory (per node).
pub struct EligibilityCache {
    ttl: std::time::Duration,
    entries: std::sync::Mutex<std::collections::HashMap<String, Judged>>,
}

impl EligibilityCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self { ttl, entries: Default::default() }
    }
    fn get(&self, key: &str) -> Option<(Coverage, Eligibility)> {
        let m = self.entries.lock().expect("eligibility cache");
        m.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }
    fn put(&self, key: String, v: (Coverage, Eligibility)) {
        let mut m = self.entries.lock().expect("eligibility cache");
        if m.len() > 50_000 {
            m.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        m.insert(key, (std::time::Instant::now(), v));
    }
    fn clear(&self) {
        self.entries.lock().expect("eligibility cache").clear();
    }
}

/// Where a guardian started binding a child's 少儿医保 (INS-3 names three entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingSource {
    /// The hospital's official-account menu.
    OfficialAccount,
    /// A deep link in the Shenzhen social-security account's notice.
    SiNotice,
    /// The electronic social-security card.
    EssCard,
}

impl BindingSource {
    pub fn parse(s: &str) -> Self {
        match s {
            "si_notice" => Self::SiNotice,
            "esscard" => Self::EssCard,
            _ => Self::OfficialAccount,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OfficialAccount => "official_account",
            Self::SiNotice => "si_notice",
            Self::EssCard => "esscard",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::OfficialAccount => "医院公众号",
            Self::SiNotice => "深圳社保通知",
            Self::EssCard => "电子社保卡",
        }
    }
}

/// How long a guardian has to finish the verification.
const BINDING_WINDOW_MINUTES: i64 = 10;
/// 少儿医保 covers minors.
const CHILD_MAX_AGE: u32 = 17;

impl App {
    /// INS-3, step 1: checks what can be checked before asking the guardian to prove it is
    /// them — the child's name against the ID number (real-name), the child's 少儿医保 and
    /// registered guardian at the HIS, and that the guardian is this account's own 就诊人 —
    /// then opens a pending binding and returns the verification page (WeChat Pay password,
    /// simulated) to send the guardian to.
    pub async fn start_child_binding(
        &self,
        account_id: i64,
        name: &str,
        id_card_no: &str,
        source: BindingSource,
        redirect_uri: &str,
        actor: &Actor,
    ) -> Result<String, DomainError> {
        use domain::identity::{IdCardNo, PersonName};
        let ins = self.insurance.as_deref().ok_or(ErrorCode::InsuranceNotAllowed)?;
        let today = self.today();
        let name = PersonName::parse(name)?;
        let id = IdCardNo::parse(id_card_no, today)?;
        if id.expose().age_on(today) > CHILD_MAX_AGE {
            return Err(DomainError::new(ErrorCode::ChildNotInsured, "not a minor"));
        }
        let guardian = self.guardian_id_number(account_id).await?.ok_or(ErrorCode::GuardianSelfRequired)?;
        if !self.realname.verify(name.expose().as_ref(), id.expose().as_ref()).await? {
            return Err(DomainError::new(ErrorCode::RealNameMismatch, "child's name and ID"));
        }
        let record = self.his.find_patient(id.expose().as_ref()).await?;
        if let Some(r) = &record {
            if r.name != name.expose().as_ref() {
                return Err(DomainError::new(ErrorCode::RealNameMismatch, "HIS record has another name"));
            }
            if r.coverage.kind != domain::insurance::InsuranceKind::Children {
                return Err(DomainError::new(ErrorCode::ChildNotInsured, "HIS says not 少儿医保"));
            }
            let registered = r.guardian_id_card_no.as_deref().unwrap_or_default();
            if !crypto::constant_time_eq(registered.as_bytes(), guardian.as_bytes()) {
                return Err(DomainError::new(ErrorCode::ChildNotYourWard, "guardian differs"));
            }
        }
        // A child the HIS does not know yet is checked when the record is made (建档 with
        // the guardian's ID), after the verification.
        let state = hex::encode(crypto::random_bytes::<16>());
        let now = self.now();
        let b = store::insurance::NewChildBinding {
            account_id,
            name: &name,
            id_card_no: &id,
            source: source.as_str(),
            verify_state: &state,
            expires_at: now + chrono::Duration::minutes(BINDING_WINDOW_MINUTES),
        };
        let binding_id = self.store.open_child_binding(b, now).await?;
        self.store.audit(&actor.entry("child.bind_start", format!("child_binding:{binding_id}"), source.label_zh()), now).await?;
        Ok(ins.auth.family_bind_url(redirect_uri, &state, &name.to_string()))
    }

    /// INS-3, step 2: the guardian is back from the verification. The result is asked of
    /// the receiver (never taken from the URL); then the child becomes one of the account's
    /// 就诊人 (or already is) and the binding is recorded, once.
    pub async fn finish_child_binding(
        &self,
        account_id: i64,
        bind_code: &str,
        state: &str,
        openid: &str,
        actor: &Actor,
    ) -> Result<domain::identity::PatientSummary, DomainError> {
        let ins = self.insurance.as_deref().ok_or(ErrorCode::InsuranceNotAllowed)?;
        let now = self.now();
        let (row, name, id) = self.store.pending_child_binding(account_id, state, now).await?;
        self.store.audit(&actor.entry("child.identity_read", format!("child_binding:{}", row.id), "complete binding"), now).await?;
        let how = ins.auth.family_bind_query(bind_code, openid).await?;
        let input = crate::identity::AddPatientInput { name, id_card_no: id, mobile: None, relationship: "child".into() };
        let (patient, added_now) = match self.add_patient(account_id, &input, &actor.correlation_id).await {
            Ok(p) => (p, true),
            Err(e) if e.code == ErrorCode::PatientAlreadyAdded => {
                let pid = self.store.patient_id_by_id_hash(account_id, &row.id_no_hash).await?.ok_or(e)?;
                (self.store.patient_summary(account_id, pid).await?, false)
            }
            Err(e) => return Err(e),
        };
        // Judged on the HIS record as it is now (a child the HIS registered just now was not
        // checked at step 1): 少儿医保, and this account's own 就诊人 as the guardian.
        let refusal = match self.his.patient(&patient.his_patient_id).await? {
            Some(r) if r.coverage.kind != domain::insurance::InsuranceKind::Children => Some(ErrorCode::ChildNotInsured),
            Some(r) => {
                let guardian = self.guardian_id_number(account_id).await?.unwrap_or_default();
                let ok = crypto::constant_time_eq(r.guardian_id_card_no.unwrap_or_default().as_bytes(), guardian.as_bytes());
                (!ok).then_some(ErrorCode::ChildNotYourWard)
            }
            None => Some(ErrorCode::ChildNotInsured),
        };
        if let Some(code) = refusal {
            // Nothing stays behind from a refused binding.
            if added_now {
                self.remove_patient(account_id, patient.id, &actor.correlation_id).await?;
            }
            return Err(DomainError::new(code, "binding refused after verification"));
        }
        if !self.store.complete_child_binding(row.id, patient.id, &how, self.now()).await? {
            return Err(ErrorCode::ChildBindingExpired.into());
        }
        // The guardian's separate consent (ticked on the binding page), on record per child.
        let purpose = domain::consent::Purpose::ChildInsurance;
        self.store.grant_consent(self.store.db(), account_id, Some(patient.id), purpose, domain::consent::channel::CHILD_BIND_PAGE, self.now()).await?;
        let what = format!("{} {}", row.source, how);
        self.store.audit(&actor.entry("child.bind", format!("patient:{}", patient.id), &what), self.now()).await?;
        Ok(patient)
    }

    /// INS-3, step 2 as the guardian's browser comes back: [`App::finish_child_binding`]
    /// with the account's own WeChat identity, answering the binding as the lists show it.
    pub async fn child_binding_returned(&self, account_id: i64, bind_code: &str, state: &str, actor: &Actor) -> Result<ChildBinding, DomainError> {
        let openid = self.store.wechat_openid(account_id).await?;
        let p = self.finish_child_binding(account_id, bind_code, state, &openid, actor).await?;
        self.child_bindings(account_id)
            .await?
            .into_iter()
            .find(|b| b.patient_id == Some(p.id))
            .ok_or_else(|| DomainError::new(ErrorCode::Internal, "bound child not listed"))
    }

    /// The account's bound children (INS-3).
    pub async fn child_bindings(&self, account_id: i64) -> Result<Vec<ChildBinding>, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        let today = self.today();
        Ok(self
            .store
            .child_bindings(account_id)
            .await?
            .into_iter()
            .map(|b| ChildBinding {
                label: patients.iter().find(|p| Some(p.id) == b.patient_id).map(|p| p.own_label(today)).unwrap_or_else(|| b.name_masked.clone()),
                patient_id: b.patient_id,
                name_masked: b.name_masked,
                id_no_masked: b.id_no_masked,
                source: b.source,
                bound_at: b.bound_at,
            })
            .collect())
    }
}

/// A child's 少儿医保 bound to the account, as the guardian's list shows it (masked forms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildBinding {
    pub patient_id: Option<i64>,
    /// What tells the guardian's children apart (赵*（女儿，8岁）).
    pub label: String,
    pub name_masked: String,
    pub id_no_masked: String,
    /// Where the guardian started: official_account, si_notice or esscard.
    pub source: String,
    pub bound_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An INS-2 department exception as the office edits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionRule {
    pub id: i64,
    pub dept_id: String,
    /// The insurance kinds it lets through, comma-separated (`tier2,tier3`).
    pub kinds: String,
    pub label: String,
    pub enabled: bool,
    pub updated_by: String,
}

impl App {
    pub async fn insurance_exception_rules(&self) -> Result<Vec<ExceptionRule>, DomainError> {
        Ok(self
            .store
            .insurance_rule_rows()
            .await?
            .into_iter()
            .map(|r| ExceptionRule { id: r.id, dept_id: r.dept_id, kinds: r.kinds, label: r.label, enabled: r.enabled, updated_by: r.updated_by })
            .collect())
    }
}
