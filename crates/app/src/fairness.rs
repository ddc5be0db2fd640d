//! Fairness of booking (level-5 item 1, S15): rate limits per account and per address,
//! a ticket that proves a person looked at the booking page before submitting (scripts
//! that post straight away are refused), and the no-show blacklist.
use crate::job::{JobError, JobHandler};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::registration::BookingState;
use domain::{DomainError, ErrorCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A fixed-window counter per key, in memory. Per node: with several nodes behind a
/// balancer each counts its own share, so the effective limit is the node count times
/// this — used for the per-address limit, and for the per-account one on a single node
/// (`Policies::shared_booking_limits` counts that in the database instead).
pub struct RateLimiter {
    per_window: u32,
    window: std::time::Duration,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(per_window: u32, window: std::time::Duration) -> Self {
        Self { per_window, window, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one attempt; `false` once the key has used up its window.
    pub fn admit(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut m = self.counts.lock().expect("limiter lock");
        if m.len() > 100_000 {
            m.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let e = m.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= self.per_window
    }
}

/// The no-show rule, from settings.
#[derive(Clone, Debug)]
pub struct NoShowRule {
    /// This many no-shows …
    pub limit: u32,
    /// … within this many days …
    pub window_days: i64,
    /// … bar online booking for this many days.
    pub bar_days: i64,
}

impl Default for NoShowRule {
    fn default() -> Self {
        Self { limit: 3, window_days: 90, bar_days: 90 }
    }
}

/// How soon after the page was shown a person can have chosen a slot and a patient.
const MIN_HUMAN_MILLIS: i64 = 800;
/// How long a booking page stays valid.
const TICKET_LIFETIME_MINUTES: i64 = 30;

/// A person barred from booking online for missed visits (level-5 item 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoShowBan {
    pub id: i64,
    /// The keyed hash of the person's ID number (the same person across accounts).
    pub person_key: String,
    pub name_masked: String,
    pub no_shows: i32,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub lifted: bool,
    pub lifted_by: Option<String>,
}

impl App {
    /// The newest bans, lifted ones after those in force.
    pub async fn no_show_bans(&self, limit: u64) -> Result<Vec<NoShowBan>, DomainError> {
        Ok(self
            .store
            .blacklist(limit)
            .await?
            .into_iter()
            .map(|r| NoShowBan {
                id: r.id,
                person_key: r.person_key,
                name_masked: r.name_masked,
                no_shows: r.no_shows,
                until: r.until,
                reason: r.reason,
                lifted: r.lifted,
                lifted_by: r.lifted_by,
            })
            .collect())
    }

    /// Counts a booking attempt against the account's and the address's limits (S15).
    /// With shared limits the account's window is counted in the database, so an account
    /// whose requests are spread over several nodes still gets its limit once.
    pub async fn admit_booking(&self, account_id: i64, address: &str) -> Result<(), DomainError> {
        let key = format!("a:{account_id}");
        let by_account = if self.policies.shared_booking_limits {
            let window = self.now().timestamp().div_euclid(60) * 60;
            self.store.count_hit(&format!("book:{key}"), window).await? <= self.policies.bookings_per_account_per_minute
        } else {
            self.booking_limits.0.admit(&key)
        };
        let by_address = self.booking_limits.1.admit(&format!("ip:{address}"));
        if by_account && by_address {
            Ok(())
        } else {
            metrics::counter!("carebridge_booking_throttled_total").increment(1);
            Err(DomainError::new(ErrorCode::RateLimited, format!("booking attempts over the limit (account {by_account}, address {by_address})")))
        }
    }

    /// A ticket for the booking page: who, which session, when it was shown, keyed.
    pub fn booking_ticket(&self, account_id: i64, schedule_id: &str) -> String {
        let at = self.now().timestamp_millis();
        let mac = self.ticket_mac(account_id, schedule_id, at);
        format!("{at}.{mac}")
    }

    fn ticket_mac(&self, account_id: i64, schedule_id: &str, at: i64) -> String {
        self.store.keys().hasher.digest("booking.ticket", &format!("{account_id}|{schedule_id}|{at}"))
    }

    /// Checks a submitted ticket: ours, for this account and session, shown at least a
    /// moment ago (a person chose) and not long ago.
    pub fn check_booking_ticket(&self, account_id: i64, schedule_id: &str, ticket: &str) -> Result<(), DomainError> {
        let bad = || DomainError::new(ErrorCode::BookingTicketInvalid, "booking ticket");
        let (at, mac) = ticket.split_once('.').ok_or_else(bad)?;
        let at: i64 = at.parse().map_err(|_| bad())?;
        if !crypto::constant_time_eq(mac.as_bytes(), self.ticket_mac(account_id, schedule_id, at).as_bytes()) {
            return Err(bad());
        }
        let age = self.now().timestamp_millis() - at;
        if !(MIN_HUMAN_MILLIS..=TICKET_LIFETIME_MINUTES * 60_000).contains(&age) {
            metrics::counter!("carebridge_booking_too_fast_total").increment(1);
            return Err(DomainError::new(ErrorCode::BookingTicketInvalid, format!("ticket age {age} ms")));
        }
        Ok(())
    }

    /// Marks yesterday's confirmed-but-unattended bookings as no-shows and bars those who
    /// reached the limit. Returns (no-shows marked, people barred).
    pub async fn mark_no_shows(&self, day: chrono::NaiveDate) -> Result<(usize, usize), DomainError> {
        let rule = &self.policies.no_show;
        let now = self.now();
        let rows = self.store.confirmed_bookings_on(&day.to_string()).await?;
        let mut marked = 0;
        let mut barred = 0;
        for row in rows {
            let note = Some("未按时就诊（爽约）".to_owned());
            let change = store::registration::BookingChange { note, ..Default::default() };
            if !self.store.move_booking(self.store.db(), &row.booking_no, &[BookingState::Confirmed], BookingState::NoShow, change, now).await? {
                continue;
            }
            marked += 1;
            let Some(p) = self.store.patient_by_id(row.patient_id).await? else { continue };
            let since = (day - Duration::days(rule.window_days - 1)).to_string();
            let count = self.store.no_shows_since(&p.his_patient_id, &since).await?;
            if count >= rule.limit as usize && self.store.blacklisting(&p.his_patient_id, now).await?.is_none() {
                let until = now + Duration::days(rule.bar_days);
                let reason = format!("{} 天内爽约 {count} 次", rule.window_days);
                self.store.add_blacklisting(&p.his_patient_id, &p.name_masked, count as i32, until, &reason, now).await?;
                self.store.audit(&Actor::system("no_show").entry("blacklist.add", format!("person:{}", p.his_patient_id), &reason), now).await?;
                barred += 1;
            }
        }
        Ok((marked, barred))
    }

    /// Lifts a blacklisting (console, audited).
    pub async fn lift_blacklisting(&self, id: i64, why: &str, actor: &Actor) -> Result<(), DomainError> {
        if why.trim().is_empty() || why.chars().count() > 100 {
            return Err(ErrorCode::ValidationFailed.into());
        }
        self.store.lift_blacklisting(id, &actor.id).await?;
        self.store.audit(&actor.entry("blacklist.lift", format!("blacklist:{id}"), why.trim()), self.now()).await?;
        Ok(())
    }
}

/// The nightly no-show sweep (at 01:00 local, for the day before).
pub const NO_SHOW_DAILY: &str = "registration.no_shows";

pub struct NoShowDaily;

#[async_trait]
impl JobHandler for NoShowDaily {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        let yesterday = app.today() - Duration::days(1);
        app.mark_no_shows(yesterday).await.map_err(|e| JobError::Retry(e.to_string()))?;
        schedule_no_show_sweep(app).await.map_err(|e| JobError::Retry(e.to_string()))
    }
}

/// Schedules the next nightly sweep (once per night, whoever asks).
pub async fn schedule_no_show_sweep(app: &App) -> Result<(), DomainError> {
    let next = next_local(app.now(), 1);
    let job = store::outbox::NewJob::new(NO_SHOW_DAILY, serde_json::json!({}), app.now()).at(next).dedupe(format!("{NO_SHOW_DAILY}:{}", next.timestamp()));
    app.store.enqueue(app.store.db(), job, app.now()).await.map(|_| ())
}

/// The next `hour`:00 local after `now`.
pub fn next_local(now: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    let local = domain::clock::to_local(now);
    let today = domain::clock::local_to_utc(local.date_naive().and_hms_opt(hour, 0, 0).expect("valid hour"));
    if today > now { today } else { today + Duration::days(1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_admits_its_count_then_refuses_until_it_rolls() {
        let l = RateLimiter::new(3, std::time::Duration::from_millis(200));
        assert!((0..3).all(|_| l.admit("k")));
        assert!(!l.admit("k"));
        assert!(l.admit("other"), "keys are counted apart");
        std::thread::sleep(std::time::Duration::from_millis(220));
        assert!(l.admit("k"));
    }

    #[test]
    fn next_local_hour_is_strictly_ahead() {
        use chrono::TimeZone;
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap();
        // 00:30 local is 16:30 UTC the day before; 01:00 local is 17:00 UTC.
        assert_eq!(next_local(at(16, 30), 1), at(17, 0));
        assert_eq!(next_local(at(17, 0), 1), at(17, 0) + Duration::days(1));
    }
}
