//! Nothing leaks into the database (S11, S12) after a whole journey — the access
//! matrix's fixture (patients, a booking, an order, a notice, a released report with
//! its file, every staff role signed in) plus a patient entered with a mobile number:
//! no column of any row of any table, and for SQLite not even the database file with
//! its write-ahead log, holds a demo person's ID number, mobile number or full name in
//! the clear. Then the audit chain verifies, and a row edited in place is named.
use crate::access_matrix::journey;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::{TestApp, TestBackend, on_both_backends};

/// Every table's rows as text, every value of every column (PostgreSQL's `row_to_json`;
/// SQLite's `quote()` of each column).
pub async fn dump(t: &TestApp) -> Vec<(String, String)> {
    let db = t.store.db();
    let backend = t.store.db_backend();
    let text_of = |rows: Vec<sea_orm::QueryResult>, col: &str| -> Vec<String> { rows.iter().map(|r| r.try_get::<String>("", col).unwrap()).collect() };
    let list = match backend {
        sea_orm::DbBackend::Sqlite => "SELECT name AS t FROM sqlite_master WHERE type = 'table'",
        _ => "SELECT tablename::text AS t FROM pg_tables WHERE schemaname = current_schema()",
    };
    let tables = text_of(db.query_all_raw(Statement::from_string(backend, list)).await.unwrap(), "t");
    assert!(tables.len() > 20, "{tables:?}");
    let mut out = Vec::new();
    for table in tables {
        let select = match backend {
            sea_orm::DbBackend::Sqlite => {
                let cols =
                    text_of(db.query_all_raw(Statement::from_string(backend, format!("SELECT name FROM pragma_table_info('{table}')"))).await.unwrap(), "name");
                let values: Vec<String> = cols.iter().map(|c| format!("quote(\"{c}\")")).collect();
                format!("SELECT {} AS j FROM \"{table}\"", values.join(" || '|' || "))
            }
            _ => format!("SELECT row_to_json(x)::text AS j FROM \"{table}\" x"),
        };
        let rows = text_of(db.query_all_raw(Statement::from_string(backend, select)).await.unwrap(), "j");
        out.push((table, rows.join("\n")));
    }
    out
}

on_both_backends! {
    async fn the_database_holds_no_identity_in_the_clear_and_the_audit_chain_catches_an_edit(backend) {
        use chrono::TimeZone;
        let (t, _clock) = TestApp::spawn_at(backend, chrono::Utc.with_ymd_and_hms(2026, 11, 26, 0, 30, 0).unwrap()).await;
        let j = journey(&t).await;
        // 李娜 enters herself with her mobile number.
        let lina = sim::demo::citizens(t.app.today()).into_iter().find(|c| c.name == "李娜").unwrap();
        let (_, cookie) = t.wechat_sign_in("oDemo_lina_0002").await;
        let r = TestApp::http()
            .post(t.url("/api/v1/me/patients"))
            .header("cookie", &cookie)
            .json(&json!({"name": lina.name, "id_card_no": lina.id_card_no, "mobile": lina.mobile, "relationship": "self"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        t.drain_jobs().await;

        let tables = dump(&t).await;
        let all: String = tables.iter().map(|(_, rows)| rows.as_str()).collect();
        // The dump shows values (what is stored in the clear on purpose is there)…
        assert!(all.contains(&j.ids["booking"]) && all.contains("张*"), "the dump does not show row values");
        // …and no one's identity. (Staff display names are work identities the console
        // shows by design; one demo citizen shares a nurse's name.)
        let citizens = sim::demo::citizens(t.app.today());
        let mut checked = 0;
        for (table, rows) in &tables {
            for c in &citizens {
                for (what, value) in [("ID number", &c.id_card_no), ("mobile", &c.mobile), ("name", &c.name)] {
                    if what == "name" && table == "staff_user" {
                        continue;
                    }
                    assert!(!rows.contains(value.as_str()), "{what} of {}* in the clear in table {table}", c.name.chars().next().unwrap());
                    checked += 1;
                }
            }
        }
        if backend == TestBackend::Sqlite {
            let path = t.db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            for c in &citizens {
                for value in [&c.id_card_no, &c.mobile] {
                    assert!(!bytes.windows(value.len()).any(|w| w == value.as_bytes()), "plaintext in the SQLite file");
                }
            }
        }
        println!("database dump: {} tables, {} bytes; {checked} checks of {} people's identity values, none found", tables.len(), all.len(), citizens.len());

        // The audit chain of all that verifies; an edited row is named.
        let verdict = t.store.verify_audit_chain().await.unwrap();
        let store::audit::ChainVerdict::Intact { rows } = verdict else { panic!("{verdict:?}") };
        assert!(rows > 20, "{rows} audit rows");
        let backend_db = t.store.db_backend();
        let middle = t
            .store
            .db()
            .query_one_raw(Statement::from_string(backend_db, format!("SELECT seq FROM audit_log ORDER BY seq LIMIT 1 OFFSET {}", rows / 2)))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "seq")
            .unwrap();
        t.store
            .db()
            .execute_raw(Statement::from_string(backend_db, format!("UPDATE audit_log SET reason = reason || ' ' WHERE seq = {middle}")))
            .await
            .unwrap();
        match t.store.verify_audit_chain().await.unwrap() {
            store::audit::ChainVerdict::Broken { seq, .. } => assert_eq!(seq, middle),
            other => panic!("an edited row went unnoticed: {other:?}"),
        }
    }
}
