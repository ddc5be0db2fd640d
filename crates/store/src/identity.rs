//! WeChat accounts and the patients (就诊人) they manage.
use crate::entity::{patient, wechat_account};
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
pub use domain::identity::PatientSummary;
use domain::identity::{Gender, IdCardNo, Mobile, PersonName, Relationship};
use domain::insurance::InsuranceKind;
use domain::{DomainError, ErrorCode, Masked};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

/// A patient's identifying data, decrypted. Obtaining one is a sensitive read: callers
/// write an audit row.
#[derive(Clone, Debug)]
pub struct PatientIdentity {
    pub summary: PatientSummary,
    pub name: Masked<PersonName>,
    pub id_card_no: Masked<IdCardNo>,
    pub mobile: Option<Masked<Mobile>>,
}

pub struct NewPatient<'a> {
    pub account_id: i64,
    pub relationship: Relationship,
    pub name: &'a Masked<PersonName>,
    pub id_card_no: &'a Masked<IdCardNo>,
    pub mobile: Option<&'a Masked<Mobile>>,
    pub his_patient_id: String,
    pub mr_no: String,
    pub insurance_kind: InsuranceKind,
}

fn gender_str(g: Gender) -> &'static str {
    match g {
        Gender::Male => "male",
        Gender::Female => "female",
    }
}

fn summary(m: &patient::Model) -> PatientSummary {
    PatientSummary {
        id: m.id,
        relationship: Relationship::parse(&m.relationship).unwrap_or(Relationship::Other),
        name_masked: m.name_masked.clone(),
        id_no_masked: m.id_no_masked.clone(),
        mobile_masked: m.mobile_masked.clone(),
        gender: if m.gender == "male" { Gender::Male } else { Gender::Female },
        birth_date: m.birth_date,
        mr_no: m.mr_no.clone(),
        his_patient_id: m.his_patient_id.clone(),
        insurance_kind: m.insurance_kind.clone(),
        is_default: m.is_default,
    }
}

pub const ID_NO_PURPOSE: &str = "patient.id_no";
const COL_NAME: &str = "patient.name";
const COL_ID: &str = "patient.id_no";
const COL_MOBILE: &str = "patient.mobile";
const COL_NICKNAME: &str = "wechat_account.nickname";

impl Store {
    /// Creates or refreshes the account for a WeChat openid; returns its id.
    pub async fn upsert_wechat_account(&self, openid: &str, unionid: Option<&str>, nickname: Option<&str>, now: DateTime<Utc>) -> Result<i64, DomainError> {
        let now = micros(now);
        if let Some(existing) = wechat_account::Entity::find().filter(wechat_account::Column::Openid.eq(openid)).one(&self.db).await.map_err(db_err)? {
            let mut am: wechat_account::ActiveModel = existing.into();
            am.last_login_at = Set(now);
            if let Some(n) = nickname {
                am.nickname = Set(Some(self.keys.cipher.seal(COL_NICKNAME, n)));
            }
            return Ok(am.update(&self.db).await.map_err(db_err)?.id);
        }
        let am = wechat_account::ActiveModel {
            openid: Set(openid.to_owned()),
            unionid: Set(unionid.map(str::to_owned)),
            nickname: Set(nickname.map(|n| self.keys.cipher.seal(COL_NICKNAME, n))),
            created_at: Set(now),
            last_login_at: Set(now),
            ..Default::default()
        };
        match am.insert(&self.db).await {
            Ok(m) => Ok(m.id),
            // Two first logins racing: the other one created it.
            Err(e) if is_unique_violation(&e) => wechat_account::Entity::find()
                .filter(wechat_account::Column::Openid.eq(openid))
                .one(&self.db)
                .await
                .map_err(db_err)?
                .map(|m| m.id)
                .ok_or_else(|| DomainError::new(ErrorCode::Internal, "account vanished after conflict")),
            Err(e) => Err(db_err(e)),
        }
    }

    /// The account of a WeChat openid, if it ever signed in.
    pub async fn wechat_account_id(&self, openid: &str) -> Result<Option<i64>, DomainError> {
        Ok(wechat_account::Entity::find().filter(wechat_account::Column::Openid.eq(openid)).one(&self.db).await.map_err(db_err)?.map(|m| m.id))
    }

    pub async fn wechat_openid(&self, account_id: i64) -> Result<String, DomainError> {
        wechat_account::Entity::find_by_id(account_id).one(&self.db).await.map_err(db_err)?.map(|m| m.openid).ok_or(ErrorCode::Unauthenticated.into())
    }

    /// The account's WeChat nickname, for greeting its owner (sealed at rest: it is often
    /// the person's name).
    pub async fn wechat_account_nickname(&self, account_id: i64) -> Result<Option<String>, DomainError> {
        let sealed = wechat_account::Entity::find_by_id(account_id).one(&self.db).await.map_err(db_err)?.and_then(|m| m.nickname);
        Ok(sealed.and_then(|s| self.keys.cipher.open(COL_NICKNAME, &s).ok()))
    }

    pub fn id_no_hash(&self, id: &Masked<IdCardNo>) -> String {
        self.keys.hasher.digest(ID_NO_PURPOSE, id.expose().as_ref())
    }

    pub async fn count_patients<C: ConnectionTrait>(&self, conn: &C, account_id: i64) -> Result<usize, DomainError> {
        Ok(patient::Entity::find().filter(patient::Column::AccountId.eq(account_id)).count(conn).await.map_err(db_err)? as usize)
    }

    pub async fn account_has_patient<C: ConnectionTrait>(&self, conn: &C, account_id: i64, id: &Masked<IdCardNo>) -> Result<bool, DomainError> {
        Ok(patient::Entity::find()
            .filter(patient::Column::AccountId.eq(account_id))
            .filter(patient::Column::IdNoHash.eq(self.id_no_hash(id)))
            .count(conn)
            .await
            .map_err(db_err)?
            > 0)
    }

    /// Every patient row of one person by ID-number lookup hash, whichever account holds it.
    pub async fn patient_ids_by_id_hash(&self, id_no_hash: &str) -> Result<Vec<i64>, DomainError> {
        Ok(patient::Entity::find().filter(patient::Column::IdNoHash.eq(id_no_hash)).all(&self.db).await.map_err(db_err)?.into_iter().map(|m| m.id).collect())
    }

    /// Every patient row of one person by HIS id (several accounts may hold the same person).
    pub async fn patient_ids_by_his_id(&self, his_patient_id: &str) -> Result<Vec<i64>, DomainError> {
        Ok(patient::Entity::find()
            .filter(patient::Column::HisPatientId.eq(his_patient_id))
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| m.id)
            .collect())
    }

    /// The masked name held for each of these HIS ids (one query for a whole worklist;
    /// the first patient row of a person wins). Ids no account holds are absent.
    pub async fn masked_names_by_his_ids(&self, his_patient_ids: &[String]) -> Result<std::collections::HashMap<String, String>, DomainError> {
        let mut out = std::collections::HashMap::new();
        if his_patient_ids.is_empty() {
            return Ok(out);
        }
        for m in patient::Entity::find()
            .filter(patient::Column::HisPatientId.is_in(his_patient_ids.iter().cloned()))
            .order_by_asc(patient::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
        {
            out.entry(m.his_patient_id).or_insert(m.name_masked);
        }
        Ok(out)
    }

    /// Who hears about a person: every (patient row, account, has a mobile) holding this
    /// HIS id — a child added by both parents is told to both.
    pub async fn recipients_of(&self, his_patient_id: &str) -> Result<Vec<(i64, i64, bool)>, DomainError> {
        Ok(patient::Entity::find()
            .filter(patient::Column::HisPatientId.eq(his_patient_id))
            .order_by_asc(patient::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| (m.id, m.account_id, m.mobile_enc.is_some()))
            .collect())
    }

    /// A patient's mobile, decrypted, to send an SMS. The caller audits the read.
    pub async fn patient_mobile(&self, patient_id: i64) -> Result<Option<Masked<Mobile>>, DomainError> {
        let Some(m) = patient::Entity::find_by_id(patient_id).one(&self.db).await.map_err(db_err)? else { return Ok(None) };
        let Some(enc) = m.mobile_enc else { return Ok(None) };
        let plain = self.keys.cipher.open(COL_MOBILE, &enc).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal {COL_MOBILE}: {e}")))?;
        self.disclosed(crate::Disclosure::Mobile);
        Mobile::parse(&plain).map(Some)
    }

    /// Keeps a mobile learnt from the HIS for a patient who gave none; a mobile the
    /// patient gave is never overwritten. Whether it was stored.
    pub async fn set_missing_mobile(&self, patient_id: i64, mobile: &Masked<Mobile>) -> Result<bool, DomainError> {
        let c = &self.keys.cipher;
        let r = patient::Entity::update_many()
            .col_expr(patient::Column::MobileEnc, Expr::value(c.seal(COL_MOBILE, mobile.expose().as_ref())))
            .col_expr(patient::Column::MobileMasked, Expr::value(mobile.to_string()))
            .filter(patient::Column::Id.eq(patient_id))
            .filter(patient::Column::MobileEnc.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    /// The account's patient with this ID-number lookup hash, if any.
    pub async fn patient_id_by_id_hash(&self, account_id: i64, id_no_hash: &str) -> Result<Option<i64>, DomainError> {
        Ok(patient::Entity::find()
            .filter(patient::Column::AccountId.eq(account_id))
            .filter(patient::Column::IdNoHash.eq(id_no_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(|m| m.id))
    }

    /// Inserts a patient. A second insert of the same ID number for the same account
    /// fails with `PATIENT_ALREADY_ADDED` (the unique index decides, so a double tap
    /// cannot slip through).
    pub async fn insert_patient<C: ConnectionTrait>(&self, conn: &C, p: NewPatient<'_>, now: DateTime<Utc>) -> Result<PatientSummary, DomainError> {
        let c = &self.keys.cipher;
        let id = p.id_card_no.expose();
        let first = self.count_patients(conn, p.account_id).await? == 0;
        let am = patient::ActiveModel {
            account_id: Set(p.account_id),
            relationship: Set(p.relationship.as_str().to_owned()),
            name_enc: Set(c.seal(COL_NAME, p.name.expose().as_ref())),
            name_masked: Set(p.name.to_string()),
            id_no_enc: Set(c.seal(COL_ID, id.as_ref())),
            id_no_hash: Set(self.id_no_hash(p.id_card_no)),
            id_no_masked: Set(p.id_card_no.to_string()),
            mobile_enc: Set(p.mobile.map(|m| c.seal(COL_MOBILE, m.expose().as_ref()))),
            mobile_masked: Set(p.mobile.map(|m| m.to_string())),
            gender: Set(gender_str(id.gender()).to_owned()),
            birth_date: Set(id.birth_date()),
            his_patient_id: Set(p.his_patient_id),
            mr_no: Set(p.mr_no),
            insurance_kind: Set(p.insurance_kind.as_str().to_owned()),
            is_default: Set(first),
            created_at: Set(micros(now)),
            ..Default::default()
        };
        match am.insert(conn).await {
            Ok(m) => Ok(summary(&m)),
            Err(e) if is_unique_violation(&e) => Err(DomainError::new(ErrorCode::PatientAlreadyAdded, "unique (account, id_no_hash)")),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn list_patients(&self, account_id: i64) -> Result<Vec<PatientSummary>, DomainError> {
        let rows = patient::Entity::find()
            .filter(patient::Column::AccountId.eq(account_id))
            .order_by_desc(patient::Column::IsDefault)
            .order_by_asc(patient::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(summary).collect())
    }

    /// Every patient row of one person (several accounts may hold the same person), by
    /// the hospital's medical-record number.
    pub async fn patient_ids_by_mr_no(&self, mr_no: &str) -> Result<Vec<i64>, DomainError> {
        Ok(patient::Entity::find().filter(patient::Column::MrNo.eq(mr_no)).all(&self.db).await.map_err(db_err)?.into_iter().map(|m| m.id).collect())
    }

    /// A patient by id, whatever the account (staff views; the caller audits).
    pub async fn patient_by_id(&self, patient_id: i64) -> Result<Option<PatientSummary>, DomainError> {
        Ok(patient::Entity::find_by_id(patient_id).one(&self.db).await.map_err(db_err)?.as_ref().map(summary))
    }

    /// One patient of this account; another account's patient is "not found" (never
    /// "forbidden", which would confirm it exists).
    pub async fn patient_summary(&self, account_id: i64, patient_id: i64) -> Result<PatientSummary, DomainError> {
        self.owned_patient(account_id, patient_id).await.map(|m| summary(&m))
    }

    async fn owned_patient(&self, account_id: i64, patient_id: i64) -> Result<patient::Model, DomainError> {
        patient::Entity::find_by_id(patient_id)
            .filter(patient::Column::AccountId.eq(account_id))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::new(ErrorCode::PatientNotFound, "no such patient for account"))
    }

    /// Decrypts a patient's identifying data. The caller audits the read.
    pub async fn patient_identity(&self, account_id: i64, patient_id: i64) -> Result<PatientIdentity, DomainError> {
        let m = self.owned_patient(account_id, patient_id).await?;
        let c = &self.keys.cipher;
        let open = |col: &str, v: &str| c.open(col, v).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal {col}: {e}")));
        let name = PersonName::parse(&open(COL_NAME, &m.name_enc)?)?;
        let id_card_no = IdCardNo::parse_stored(&open(COL_ID, &m.id_no_enc)?)?;
        let mobile = match &m.mobile_enc {
            Some(v) => Some(Mobile::parse(&open(COL_MOBILE, v)?)?),
            None => None,
        };
        self.disclosed(crate::Disclosure::Identity);
        Ok(PatientIdentity { summary: summary(&m), name, id_card_no, mobile })
    }

    pub async fn delete_patient<C: ConnectionTrait>(&self, conn: &C, account_id: i64, patient_id: i64) -> Result<(), DomainError> {
        let res = patient::Entity::delete_many()
            .filter(patient::Column::Id.eq(patient_id))
            .filter(patient::Column::AccountId.eq(account_id))
            .exec(conn)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 0 {
            return Err(DomainError::new(ErrorCode::PatientNotFound, "delete: not owned"));
        }
        Ok(())
    }
}
