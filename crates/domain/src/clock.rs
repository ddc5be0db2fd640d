//! All "now" comes from a clock, so reminders, expiries and retries are testable by
//! moving a fake one.
use chrono::{DateTime, FixedOffset, Utc};
use std::sync::{Arc, Mutex};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told.
#[derive(Clone, Debug)]
pub struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = at;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// The hospital's wall-clock zone (Asia/Shanghai has no DST: a fixed +08:00).
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

pub fn to_local(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&shanghai())
}

/// The instant a local (Shanghai) day starts.
pub fn local_midnight_utc(d: chrono::NaiveDate) -> DateTime<Utc> {
    local_to_utc(d.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The instant of a local (Shanghai) wall-clock time (a fixed offset: every local time
/// exists exactly once).
pub fn local_to_utc(t: chrono::NaiveDateTime) -> DateTime<Utc> {
    (t - chrono::Duration::hours(8)).and_utc()
}

/// Exponential backoff with ±25 % jitter: 2 s·2^`exponent`, capped at `cap` before the
/// jitter. `jitter_unit` ∈ [0, 1). The outbox's retries and the message platform's
/// channel retries both wait this way, with their own caps.
pub fn backoff(exponent: u32, jitter_unit: f64, cap: chrono::Duration) -> chrono::Duration {
    let base = (2_000f64 * 2f64.powi(exponent.min(20) as i32)).min(cap.num_milliseconds() as f64);
    chrono::Duration::milliseconds((base * (0.75 + 0.5 * jitter_unit.clamp(0.0, 1.0))) as i64)
}
