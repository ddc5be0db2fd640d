//! Admission control in front of the HIS (issue 7). At 8:00 thousands of patients tap
//! at once and the HIS behind us is fragile, so:
//!
//! - every HIS call takes a permit first; at most `max_in_flight` are out at once — per
//!   node, or for the whole cluster when the permits live in the shared database
//!   (`shared`), so two nodes together stay under the same bound. One in eight is kept
//!   for the catalogue's refresh, which every page view may be waiting for;
//! - a call waits at most `max_wait` for its permit, and at most `max_waiting` calls
//!   wait on a node; beyond that the caller gets `HIS_BUSY` (429 with Retry-After) at
//!   once — a definite "not sent", never a storm of timeouts;
//! - booking counts the places our own bookings hold before asking anyone (see
//!   `App::book`), so a sold-out slot or session is answered without the HIS.
use async_trait::async_trait;
use domain::ports::{CallClass, CallPermit, CallPermits};
use domain::{Clock, DomainError, ErrorCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use store::Store;
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct AdmissionSettings {
    /// HIS calls in flight at most (the cluster's total when `shared`).
    pub max_in_flight: u32,
    /// Calls that may wait for a permit on one node; more are refused at once.
    pub max_waiting: usize,
    /// How long a call waits for a permit before it is refused.
    pub max_wait: Duration,
    /// Permits in the database, shared by every node on it.
    pub shared: bool,
    /// How long a shared permit stays taken if its node dies holding it; longer than the
    /// HIS timeout, so a live call never loses its permit.
    pub lease: Duration,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        Self { max_in_flight: 16, max_waiting: 512, max_wait: Duration::from_millis(1500), shared: false, lease: Duration::from_secs(30) }
    }
}

/// Hands out HIS call permits under [`AdmissionSettings`]. A few of them are kept for
/// urgent calls (see [`CallClass`]): normal calls use `1..=bound - reserve`, urgent ones
/// any, the reserve first.
pub struct HisPermits {
    settings: AdmissionSettings,
    /// Every call holds one of these …
    all: Arc<Semaphore>,
    /// … and a normal call one of these too.
    normal: Arc<Semaphore>,
    reserve: u32,
    waiting: AtomicUsize,
    shared: Option<(Store, Arc<dyn Clock>)>,
}

/// Decrements a counter when dropped (a waiter leaving, whichever way).
struct Leave<'a>(&'a AtomicUsize);
impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn busy(why: &str) -> DomainError {
    metrics::counter!("carebridge_his_busy_total").increment(1);
    DomainError::new(ErrorCode::HisBusy, format!("his admission: {why}"))
}

impl HisPermits {
    /// Per-node permits.
    pub fn local(settings: AdmissionSettings) -> Self {
        let bound = settings.max_in_flight.max(1);
        // One in eight for urgent calls (none when the bound is 1).
        let reserve = if bound > 1 { (bound / 8).max(1) } else { 0 };
        Self {
            all: Arc::new(Semaphore::new(bound as usize)),
            normal: Arc::new(Semaphore::new((bound - reserve) as usize)),
            reserve,
            settings,
            waiting: AtomicUsize::new(0),
            shared: None,
        }
    }

    /// Permits shared through the database (creates the rows the bound needs).
    pub async fn shared(settings: AdmissionSettings, store: Store, clock: Arc<dyn Clock>) -> Result<Self, DomainError> {
        store.ensure_his_permits(settings.max_in_flight.max(1)).await?;
        let mut p = Self::local(settings);
        p.shared = Some((store, clock));
        Ok(p)
    }

    /// Polls the shared table until a permit of the class is free or the deadline passes.
    /// Only holders of local permits poll, so a node never has more pollers than the bound.
    async fn take_shared(&self, store: &Store, clock: &Arc<dyn Clock>, class: CallClass, deadline: Instant) -> Result<(i32, String), DomainError> {
        let holder = hex::encode(crypto::random_bytes::<12>());
        let lease = chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::seconds(30));
        let bound = self.settings.max_in_flight.max(1);
        let normal = 1..=bound - self.reserve;
        let ranges = match class {
            CallClass::Normal => vec![normal],
            CallClass::Urgent => vec![bound - self.reserve + 1..=bound, normal],
        };
        let mut pause = 1u64;
        loop {
            let now = clock.now();
            for r in ranges.iter().filter(|r| !r.is_empty()) {
                if let Some(slot) = store.take_his_permit(&holder, r.clone(), now + lease, now).await? {
                    return Ok((slot, holder));
                }
            }
            if Instant::now() >= deadline {
                return Err(busy("no shared permit free within the wait"));
            }
            // 1, 2, 4, 8 ms, then 8 ms with jitter: short enough to use a freed permit soon.
            let jitter = u64::from(crypto::random_bytes::<1>()[0] % 4);
            tokio::time::sleep(Duration::from_millis(pause + jitter)).await;
            pause = (pause * 2).min(8);
        }
    }
}

#[async_trait]
impl CallPermits for HisPermits {
    async fn acquire(&self, class: CallClass) -> Result<CallPermit, DomainError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.settings.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy("too many calls waiting"));
        }
        let leave = Leave(&self.waiting);
        let deadline = Instant::now() + self.settings.max_wait;
        let take = |sem: &Arc<Semaphore>| {
            let sem = sem.clone();
            async move {
                tokio::time::timeout_at(deadline.into(), sem.acquire_owned())
                    .await
                    .map_err(|_| busy("no permit free within the wait"))
                    .map(|p| p.expect("the permit semaphores are never closed"))
            }
        };
        let normal = match class {
            CallClass::Normal => Some(take(&self.normal).await?),
            CallClass::Urgent => None,
        };
        let local = (take(&self.all).await?, normal);
        let shared = match &self.shared {
            Some((store, clock)) => Some((store.clone(), self.take_shared(store, clock, class, deadline).await?)),
            None => None,
        };
        drop(leave);
        metrics::gauge!("carebridge_his_permits_in_use").increment(1.0);
        Ok(CallPermit::new(move || {
            metrics::gauge!("carebridge_his_permits_in_use").decrement(1.0);
            if let Some((store, (slot, holder))) = shared {
                // Given back in the background (a drop cannot wait); should that fail, the
                // lease runs out on its own. The local permit goes with the closure, after.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let _ = store.give_back_his_permit(slot, &holder).await;
                        drop(local);
                    });
                    return;
                }
            }
            drop(local);
        }))
    }
}

/// Bookings on this node between "a place looks free" and "the booking row is
/// written", per slot. No more of them go on to the database than the slot has places
/// left, so a burst of taps on a hot slot is answered at once instead of queueing for
/// the write lock — the row's conditional insert still decides between nodes.
#[derive(Default)]
pub struct SlotClaims {
    claimed: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

/// One claim; dropping it gives it back.
pub struct SlotClaim<'a> {
    claims: &'a SlotClaims,
    slot_id: String,
}

impl SlotClaims {
    /// Claims one of `left` places of `slot_id`; `None` when other bookings on this node
    /// already claim them all.
    pub fn claim(&self, slot_id: &str, left: u32) -> Option<SlotClaim<'_>> {
        let mut m = self.claimed.lock().expect("claims lock");
        let n = m.entry(slot_id.to_owned()).or_insert(0);
        if *n >= left {
            if *n == 0 {
                m.remove(slot_id);
            }
            return None;
        }
        *n += 1;
        Some(SlotClaim { claims: self, slot_id: slot_id.to_owned() })
    }
}

impl Drop for SlotClaim<'_> {
    fn drop(&mut self) {
        let mut m = self.claims.claimed.lock().expect("claims lock");
        if let Some(n) = m.get_mut(&self.slot_id) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.slot_id);
            }
        }
    }
}

/// How long a count of places held is reused (see `App::places_held`).
pub const HELD_FRESH_FOR: Duration = Duration::from_millis(200);

/// Places held per slot of one session.
pub type PlacesHeld = Arc<std::collections::HashMap<String, u32>>;

/// Counts of places held per session, each reused for [`HELD_FRESH_FOR`].
#[derive(Default)]
pub struct HeldCache {
    counts: std::sync::Mutex<std::collections::HashMap<String, (Instant, PlacesHeld)>>,
}

impl HeldCache {
    pub fn get(&self, schedule_id: &str) -> Option<PlacesHeld> {
        let m = self.counts.lock().expect("held cache lock");
        m.get(schedule_id).filter(|(at, _)| at.elapsed() < HELD_FRESH_FOR).map(|(_, h)| h.clone())
    }
    pub fn put(&self, schedule_id: &str, held: PlacesHeld) {
        let mut m = self.counts.lock().expect("held cache lock");
        if m.len() > 10_000 {
            m.retain(|_, (at, _)| at.elapsed() < HELD_FRESH_FOR);
        }
        m.insert(schedule_id.to_owned(), (Instant::now(), held));
    }
    /// This node just changed the session's places: count afresh next time.
    pub fn forget(&self, schedule_id: &str) {
        self.counts.lock().expect("held cache lock").remove(schedule_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_stop_at_the_places_left_and_come_back_when_dropped() {
        let c = SlotClaims::default();
        let a = c.claim("S1-1", 2).expect("first");
        let b = c.claim("S1-1", 2).expect("second");
        assert!(c.claim("S1-1", 2).is_none(), "two places, two claims");
        assert!(c.claim("S1-2", 1).is_some(), "other slots are apart");
        assert!(c.claim("S1-3", 0).is_none(), "no place, no claim");
        drop(a);
        let third = c.claim("S1-1", 2).expect("a place came back");
        assert!(c.claim("S1-1", 2).is_none(), "two claims again");
        drop((b, third));
        assert!(c.claim("S1-1", 1).is_some(), "all given back");
        assert!(c.claimed.lock().unwrap().values().all(|n| *n <= 1), "no count left behind");
    }
}
