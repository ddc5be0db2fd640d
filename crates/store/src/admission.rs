//! Admission control's shared state (issue 7): the HIS permits every node takes before
//! calling the HIS, the rate counters the nodes share, and the places held per slot — Carebridge's own view of what is
//! left, which answers "sold out" without asking the HIS.
use crate::registration::{BookingRow, NewBooking};
use crate::{Store, db_err, dialect, micros};
use chrono::{DateTime, Utc};
use domain::DomainError;
use domain::registration::BookingState;
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, Statement};
use std::collections::HashMap;

#[derive(FromQueryResult)]
struct Slot {
    slot: i32,
}

#[derive(FromQueryResult)]
struct Hits {
    hits: i32,
}

#[derive(FromQueryResult)]
struct Held {
    slot_id: String,
    n: i64,
}

/// A stable 32-bit key for a slot's advisory lock (FNV-1a: the same on every node).
fn slot_lock_key(slot_id: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in slot_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h as i32
}

fn holding_states() -> String {
    BookingState::ALL.iter().filter(|s| s.holds_place()).map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Makes sure permits `1..=bound` exist (more may exist from a larger bound before;
    /// they are never handed out).
    pub async fn ensure_his_permits(&self, bound: u32) -> Result<(), DomainError> {
        let p = |n| dialect::ph(self.backend, n);
        for slot in 1..=bound as i32 {
            let sql = format!("INSERT INTO his_permit (slot, holder, held_until) VALUES ({}, NULL, NULL) ON CONFLICT (slot) DO NOTHING", p(1));
            self.db.execute_raw(Statement::from_sql_and_values(self.db_backend(), sql, [slot.into()])).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// Takes a free permit among `permits` (e.g. `1..=16`) for `holder` until `until` (a
    /// holder that dies loses it then); `None` when all of them are held.
    pub async fn take_his_permit(
        &self,
        holder: &str,
        permits: std::ops::RangeInclusive<u32>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<i32>, DomainError> {
        let sql = dialect::his_permit_take_sql(self.backend);
        let (lowest, highest) = (*permits.start() as i32, *permits.end() as i32);
        let stmt =
            Statement::from_sql_and_values(self.db_backend(), sql, [holder.into(), micros(until).into(), highest.into(), micros(now).into(), lowest.into()]);
        Ok(Slot::find_by_statement(stmt).one(&self.db).await.map_err(db_err)?.map(|s| s.slot))
    }

    /// Gives a permit back, if `holder` still has it (after expiry someone else may).
    pub async fn give_back_his_permit(&self, slot: i32, holder: &str) -> Result<bool, DomainError> {
        let p = |n| dialect::ph(self.backend, n);
        let sql = format!("UPDATE his_permit SET holder = NULL, held_until = NULL WHERE slot = {} AND holder = {}", p(1), p(2));
        let r = self.db.execute_raw(Statement::from_sql_and_values(self.db_backend(), sql, [slot.into(), holder.into()])).await.map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Permits held now (tests; an operator's check on a stuck cluster).
    pub async fn his_permits_held(&self, now: DateTime<Utc>) -> Result<u32, DomainError> {
        let p = |n| dialect::ph(self.backend, n);
        let sql = format!("SELECT slot FROM his_permit WHERE holder IS NOT NULL AND held_until >= {}", p(1));
        let rows = Slot::find_by_statement(Statement::from_sql_and_values(self.db_backend(), sql, [micros(now).into()])).all(&self.db).await.map_err(db_err)?;
        Ok(rows.len() as u32)
    }

    /// Counts one hit of `key` in the window starting at `window_start` (Unix seconds)
    /// and answers the window's hits so far, whichever node counted them.
    pub async fn count_hit(&self, key: &str, window_start: i64) -> Result<u32, DomainError> {
        let p = |n| dialect::ph(self.backend, n);
        let sql = format!(
            "INSERT INTO rate_window (key, window_start, hits) VALUES ({}, {}, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_window.hits + 1 RETURNING hits",
            p(1),
            p(2)
        );
        let row = Hits::find_by_statement(Statement::from_sql_and_values(self.db_backend(), sql, [key.into(), window_start.into()]))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.hits as u32).unwrap_or(0))
    }

    /// Drops windows that started before `before` (Unix seconds).
    pub async fn purge_rate_windows(&self, before: i64) -> Result<u64, DomainError> {
        let sql = format!("DELETE FROM rate_window WHERE window_start < {}", dialect::ph(self.backend, 1));
        let r = self.db.execute_raw(Statement::from_sql_and_values(self.db_backend(), sql, [before.into()])).await.map_err(db_err)?;
        Ok(r.rows_affected())
    }

    /// Places our bookings hold in a session, per slot (bookings that hold or may hold
    /// one: locking, locked, confirmed, checked in).
    pub async fn places_held(&self, schedule_id: &str) -> Result<HashMap<String, u32>, DomainError> {
        places_held_in(&self.db, self.backend, schedule_id).await
    }

    /// Places our bookings hold per slot across several sessions (a department's, when
    /// the catalogue is refreshed).
    pub async fn places_held_in_schedules(&self, schedule_ids: &[String]) -> Result<HashMap<String, u32>, DomainError> {
        let mut out = HashMap::new();
        for chunk in schedule_ids.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| dialect::ph(self.backend, n)).collect();
            let sql = format!(
                "SELECT slot_id, COUNT(*) AS n FROM registration WHERE schedule_id IN ({}) AND state IN ({}) GROUP BY slot_id",
                marks.join(", "),
                holding_states()
            );
            let values: Vec<sea_orm::Value> = chunk.iter().map(|s| s.as_str().into()).collect();
            let rows = Held::find_by_statement(Statement::from_sql_and_values(self.db_backend(), sql, values)).all(&self.db).await.map_err(db_err)?;
            out.extend(rows.into_iter().map(|r| (r.slot_id, r.n as u32)));
        }
        Ok(out)
    }

    /// Writes a booking only if its slot has a place left by our own count: under the
    /// slot's lock, counts the places held and inserts when fewer than `capacity`.
    /// `Ok(None)`: the slot is full. The caller's transaction must be a `write_txn`.
    pub async fn insert_booking_within(
        &self,
        txn: &DatabaseTransaction,
        b: NewBooking,
        capacity: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<BookingRow>, DomainError> {
        if let Some(sql) = dialect::slot_lock_sql(self.backend) {
            txn.execute_raw(Statement::from_sql_and_values(self.db_backend(), sql, [slot_lock_key(&b.slot_id).into()])).await.map_err(db_err)?;
        }
        let held = places_held_in(txn, self.backend, &b.schedule_id).await?;
        if held.get(&b.slot_id).copied().unwrap_or(0) >= capacity {
            return Ok(None);
        }
        self.insert_booking(txn, b, now).await.map(Some)
    }
}

async fn places_held_in<C: ConnectionTrait>(conn: &C, backend: crate::Backend, schedule_id: &str) -> Result<HashMap<String, u32>, DomainError> {
    let sql = format!(
        "SELECT slot_id, COUNT(*) AS n FROM registration WHERE schedule_id = {} AND state IN ({}) GROUP BY slot_id",
        dialect::ph(backend, 1),
        holding_states()
    );
    let rows =
        Held::find_by_statement(Statement::from_sql_and_values(conn.get_database_backend(), sql, [schedule_id.into()])).all(conn).await.map_err(db_err)?;
    Ok(rows.into_iter().map(|r| (r.slot_id, r.n as u32)).collect())
}
