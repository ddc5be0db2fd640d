//! The audit chain, sessions and patient records on both backends.
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use domain::ErrorCode;
use domain::audit::AuditEntry;
use domain::identity::{IdCardNo, Mobile, PersonName, Relationship};
use domain::insurance::InsuranceKind;
use sea_orm::ConnectionTrait;
use store::audit::ChainVerdict;
use store::identity::NewPatient;
use store::session::{SessionKind, SessionPolicy};
use testkit::{TestDb, on_both_backends};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

on_both_backends! {
    async fn audit_chain_verifies_and_detects_edits_and_deletions(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        for i in 0..5 {
            store.audit(&AuditEntry::new("staff:1", "patient.view", format!("patient:{i}"), "triage"), t0() + Duration::seconds(i)).await.unwrap();
        }
        assert_eq!(store.verify_audit_chain().await.unwrap(), ChainVerdict::Intact { rows: 5 });
        store.db().execute_unprepared("UPDATE audit_log SET subject = 'patient:99' WHERE seq = 3").await.unwrap();
        assert!(matches!(store.verify_audit_chain().await.unwrap(), ChainVerdict::Broken { seq: 3, .. }));
        store.db().execute_unprepared("UPDATE audit_log SET subject = 'patient:2' WHERE seq = 3").await.unwrap();
        assert_eq!(store.verify_audit_chain().await.unwrap(), ChainVerdict::Intact { rows: 5 });
        store.db().execute_unprepared("DELETE FROM audit_log WHERE seq = 2").await.unwrap();
        assert!(matches!(store.verify_audit_chain().await.unwrap(), ChainVerdict::Broken { seq: 3, .. }));
    }
}

on_both_backends! {
    async fn concurrent_audit_appends_keep_one_chain(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let mut hs = Vec::new();
        for w in 0..4 {
            let s = store.clone();
            hs.push(tokio::spawn(async move {
                for i in 0..10 {
                    s.audit(&AuditEntry::new(format!("staff:{w}"), "x", format!("n:{i}"), "r"), t0()).await.unwrap();
                }
            }));
        }
        for h in hs { h.await.unwrap(); }
        assert_eq!(store.verify_audit_chain().await.unwrap(), ChainVerdict::Intact { rows: 40 });
        // S19: what did actor staff:2 touch in the window?
        let rows = store.audit_by_actor("staff:2", t0() - Duration::minutes(1), t0() + Duration::minutes(1)).await.unwrap();
        assert_eq!(rows.len(), 10);
    }
}

on_both_backends! {
    async fn sessions_expire_on_idle_and_absolute_and_die_on_logout(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let policy = SessionPolicy { idle: Duration::minutes(30), absolute: Duration::hours(8) };
        let tok = store.create_session(SessionKind::Staff, 7, policy, t0()).await.unwrap();
        assert!(tok.len() >= 64, "256-bit token");
        let info = store.touch_session(&tok, SessionKind::Staff, policy, t0() + Duration::minutes(20)).await.unwrap();
        assert_eq!(info.subject_id, 7);
        // Activity at +20 min moved the idle window: +45 min is still alive.
        store.touch_session(&tok, SessionKind::Staff, policy, t0() + Duration::minutes(45)).await.unwrap();
        assert_eq!(store.touch_session(&tok, SessionKind::Patient, policy, t0() + Duration::minutes(46)).await.unwrap_err().code, ErrorCode::Unauthenticated);
        assert_eq!(store.touch_session(&tok, SessionKind::Staff, policy, t0() + Duration::minutes(80)).await.unwrap_err().code, ErrorCode::SessionExpired);
        assert_eq!(store.touch_session(&tok, SessionKind::Staff, policy, t0() + Duration::minutes(81)).await.unwrap_err().code, ErrorCode::Unauthenticated, "expired session was deleted");

        let tok = store.create_session(SessionKind::Patient, 1, policy, t0()).await.unwrap();
        store.delete_session(&tok).await.unwrap();
        assert!(store.touch_session(&tok, SessionKind::Patient, policy, t0()).await.is_err());
        // The table holds only hashes of tokens.
        let raw: Vec<String> = store.db().query_all_raw(sea_orm::Statement::from_string(store.db_backend(), "SELECT token_hash FROM session")).await.unwrap().iter().map(|r| r.try_get::<String>("", "token_hash").unwrap()).collect();
        assert!(raw.iter().all(|h| h != &tok));
    }
}

on_both_backends! {
    async fn patients_are_sealed_deduplicated_and_scoped_to_their_account(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let a = store.upsert_wechat_account("openid-a", None, Some("阿张"), t0()).await.unwrap();
        let b = store.upsert_wechat_account("openid-b", None, None, t0()).await.unwrap();
        assert_eq!(store.upsert_wechat_account("openid-a", None, None, t0()).await.unwrap(), a);
        let id_raw = format!("44030520200601003{}", IdCardNo::check_char("44030520200601003").unwrap());
        let id = IdCardNo::parse(&id_raw, today).unwrap();
        let name = PersonName::parse("杨小宝").unwrap();
        let mobile = Mobile::parse("13800138000").unwrap();
        let mk = |acc| NewPatient { account_id: acc, relationship: Relationship::Child, name: &name, id_card_no: &id, mobile: Some(&mobile), his_patient_id: "H1".into(), mr_no: "MR1".into(), insurance_kind: InsuranceKind::Children };
        let p = store.insert_patient(store.db(), mk(a), t0()).await.unwrap();
        assert!(p.is_default);
        assert_eq!(store.insert_patient(store.db(), mk(a), t0()).await.unwrap_err().code, ErrorCode::PatientAlreadyAdded);
        // Another guardian (the other parent) may add the same child.
        store.insert_patient(store.db(), mk(b), t0()).await.unwrap();
        assert_eq!(store.list_patients(a).await.unwrap().len(), 1);
        assert_eq!(store.patient_summary(b, p.id).await.unwrap_err().code, ErrorCode::PatientNotFound);
        let full = store.patient_identity(a, p.id).await.unwrap();
        assert_eq!(full.id_card_no.expose().as_ref(), id_raw);
        assert_eq!(full.name.expose().as_ref(), "杨小宝");
        // S12: no plaintext ID number or phone anywhere in the table.
        let rows = store.db().query_all_raw(sea_orm::Statement::from_string(store.db_backend(), "SELECT * FROM patient")).await.unwrap();
        let dump = format!("{rows:?}");
        assert!(!dump.contains(&id_raw) && !dump.contains("13800138000") && !dump.contains("杨小宝"), "{dump}");
        assert_eq!(store.delete_patient(store.db(), b, p.id).await.unwrap_err().code, ErrorCode::PatientNotFound);
        store.delete_patient(store.db(), a, p.id).await.unwrap();
        assert!(store.list_patients(a).await.unwrap().is_empty());
    }
}

on_both_backends! {
    async fn migrations_are_idempotent_and_race_safe(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        // Two more "nodes" migrating at once against an already-migrated database.
        let (x, y) = tokio::join!(db.store(), db.store());
        x.ping().await.unwrap();
        y.ping().await.unwrap();
        store.migrate().await.unwrap();
    }
}
