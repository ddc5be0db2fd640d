//! Browsing the hospital's catalogue (departments, doctors, schedules). The HIS is the
//! source of truth; a short cache keeps a morning rush of page views from becoming a
//! rush on the HIS. Booking itself (lock, pay, confirm) is the parent module's.
use crate::App;
use chrono::{Duration, NaiveDate};
use domain::DomainError;
use domain::registration::{Department, Doctor, Schedule};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Cached values are shared, not copied: a rush of page views costs no deep clones.
#[derive(Clone)]
enum Entry {
    Departments(Arc<Vec<Department>>),
    Department(Arc<Vec<Doctor>>, Arc<Vec<Schedule>>, crate::admission::PlacesHeld),
}

pub struct CatalogueCache {
    ttl: std::time::Duration,
    entries: Mutex<HashMap<String, Cached>>,
    /// One load per key at a time: when an entry expires under a rush, one request
    /// asks the HIS and the others wait for its answer instead of asking too.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct Cached {
    loaded_at: Instant,
    fresh_until: Instant,
    entry: Entry,
}

/// How long an expired entry may still be shown while the HIS cannot answer.
const STALE_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

impl CatalogueCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()), loading: Mutex::new(HashMap::new()) }
    }
    fn get(&self, key: &str) -> Option<Entry> {
        let g = self.entries.lock().expect("cache lock");
        g.get(key).filter(|c| Instant::now() < c.fresh_until).map(|c| c.entry.clone())
    }
    fn stale(&self, key: &str) -> Option<Entry> {
        let g = self.entries.lock().expect("cache lock");
        g.get(key).filter(|c| c.loaded_at.elapsed() < STALE_LIMIT).map(|c| c.entry.clone())
    }
    /// Marks a department's cached schedules as expired: after the HIS refused a slot
    /// the page showed, or a booking gave one back, the next view reads the HIS afresh
    /// (the old copy is kept only to show should the HIS not answer).
    pub fn forget_department(&self, dept_id: &str, from: NaiveDate) {
        if let Some(c) = self.entries.lock().expect("cache lock").get_mut(&format!("dept:{dept_id}:{from}")) {
            c.fresh_until = Instant::now();
        }
    }
    fn put(&self, key: String, entry: Entry) {
        let mut g = self.entries.lock().expect("cache lock");
        if g.len() > 1000 {
            g.retain(|_, c| c.loaded_at.elapsed() < STALE_LIMIT);
        }
        let now = Instant::now();
        g.insert(key, Cached { loaded_at: now, fresh_until: now + self.ttl, entry });
    }

    /// The entry under `key`: cached, or loaded by `load` — once at a time per key, the
    /// others meanwhile served the expired copy if there is one. When the HIS fails (or
    /// admission control turns the call away), a recently expired copy is better than an
    /// error page during a rush.
    async fn load<F, Fut>(&self, key: &str, load: F) -> Result<Entry, DomainError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Entry, DomainError>>,
    {
        if let Some(e) = self.get(key) {
            return Ok(e);
        }
        let gate = self.loading.lock().expect("cache lock").entry(key.to_owned()).or_default().clone();
        // While one request refreshes an expired entry, the others are served the copy
        // they would have seen a moment ago: during a rush the refresh waits its turn at
        // the HIS behind the bookings, and nobody else should wait with it.
        let _turn = match gate.clone().try_lock_owned() {
            Ok(turn) => turn,
            Err(_) => match self.stale(key) {
                Some(e) => return Ok(e),
                None => gate.lock_owned().await,
            },
        };
        if let Some(e) = self.get(key) {
            return Ok(e);
        }
        match load().await {
            Ok(e) => {
                self.put(key.to_owned(), e.clone());
                Ok(e)
            }
            Err(err) => match self.stale(key) {
                Some(e) => {
                    tracing::warn!(key, detail = %err.detail, "catalogue: the HIS did not answer; showing the last copy");
                    Ok(e)
                }
                None => Err(err),
            },
        }
    }
}

/// One department's page: its doctors and their sessions over the booking window.
pub struct DepartmentView {
    pub department: Department,
    pub doctors: Arc<Vec<Doctor>>,
    pub schedules: Arc<Vec<Schedule>>,
    /// Places taken per slot by others than our bookings (the window, other channels)
    /// when the HIS was last asked: capacity − available − our holds at that moment.
    pub taken_by_others: crate::admission::PlacesHeld,
}

/// How far ahead patients may book.
pub const BOOKING_WINDOW_DAYS: i64 = 14;

impl App {
    /// Drops what this node holds of a department's schedules from today, so the next
    /// view asks the HIS (after a change the HIS made on its own, e.g. at the window).
    pub fn refresh_department(&self, dept_id: &str) {
        self.catalogue.forget_department(dept_id, self.today());
    }

    pub async fn departments(&self) -> Result<Arc<Vec<Department>>, DomainError> {
        match self.catalogue.load("departments", || async { Ok(Entry::Departments(Arc::new(self.his.departments().await?))) }).await? {
            Entry::Departments(d) => Ok(d),
            Entry::Department(..) => unreachable!("the departments key holds departments"),
        }
    }

    pub async fn department_view(&self, dept_id: &str) -> Result<DepartmentView, DomainError> {
        let department = self.departments().await?.iter().find(|d| d.dept_id == dept_id).cloned().ok_or(domain::ErrorCode::NotFound)?;
        let from: NaiveDate = self.today();
        let key = format!("dept:{dept_id}:{from}");
        let entry = self
            .catalogue
            .load(&key, || async {
                let (doctors, schedules) =
                    tokio::try_join!(self.his.doctors(dept_id), self.his.schedules(dept_id, from, from + Duration::days(BOOKING_WINDOW_DAYS - 1)))?;
                // Our own holds right after the HIS's answer tell its figures apart: what
                // is not ours was taken elsewhere and stays taken until the next refresh.
                let ids: Vec<String> = schedules.iter().map(|s| s.schedule_id.clone()).collect();
                let ours = self.store.places_held_in_schedules(&ids).await?;
                let others = schedules
                    .iter()
                    .flat_map(|s| s.slots.iter())
                    .map(|x| (x.slot_id.clone(), x.capacity.saturating_sub(x.available).saturating_sub(ours.get(&x.slot_id).copied().unwrap_or(0))))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                Ok(Entry::Department(Arc::new(doctors), Arc::new(schedules), Arc::new(others)))
            })
            .await?;
        let Entry::Department(doctors, schedules, taken_by_others) = entry else { unreachable!("a department key holds a department") };
        Ok(DepartmentView { department, doctors, schedules, taken_by_others })
    }
}
