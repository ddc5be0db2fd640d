//! Browsing the hospital's catalogue (departments, doctors, schedules). The HIS is the
//! source of truth; a short cache keeps a morning rush of page views from becoming a
//! rush on the HIS. Booking itself (lock, pay, confirm) comes with the registration
//! work.
use crate::App;
use chrono::{Duration, NaiveDate};
use domain::DomainError;
use domain::booking::{Department, Doctor, Schedule};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Cached values are shared, not copied: a rush of page views costs no deep clones.
#[derive(Clone)]
enum Entry {
    Departments(Arc<Vec<Department>>),
    Department(Arc<Vec<Doctor>>, Arc<Vec<Schedule>>),
}

pub struct CatalogueCache {
    ttl: std::time::Duration,
    entries: Mutex<HashMap<String, (Instant, Entry)>>,
}

impl CatalogueCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }
    fn get(&self, key: &str) -> Option<Entry> {
        let g = self.entries.lock().expect("cache lock");
        g.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, e)| e.clone())
    }
    /// Drops a department's cached schedules: after the HIS refused a slot the page
    /// showed, or a booking gave one back, the next view reads the HIS afresh.
    pub fn forget_department(&self, dept_id: &str, from: NaiveDate) {
        self.entries.lock().expect("cache lock").remove(&format!("dept:{dept_id}:{from}"));
    }
    fn put(&self, key: String, e: Entry) {
        let mut g = self.entries.lock().expect("cache lock");
        if g.len() > 1000 {
            g.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        g.insert(key, (Instant::now(), e));
    }
}

/// One department's page: its doctors and their sessions over the booking window.
pub struct DepartmentView {
    pub department: Department,
    pub doctors: Arc<Vec<Doctor>>,
    pub schedules: Arc<Vec<Schedule>>,
}

/// How far ahead patients may book.
pub const BOOKING_WINDOW_DAYS: i64 = 14;

impl App {
    pub async fn departments(&self) -> Result<Arc<Vec<Department>>, DomainError> {
        if let Some(Entry::Departments(d)) = self.catalogue.get("departments") {
            return Ok(d);
        }
        let d = Arc::new(self.his.departments().await?);
        self.catalogue.put("departments".into(), Entry::Departments(d.clone()));
        Ok(d)
    }

    pub async fn department_view(&self, dept_id: &str) -> Result<DepartmentView, DomainError> {
        let department = self.departments().await?.iter().find(|d| d.dept_id == dept_id).cloned().ok_or(domain::ErrorCode::NotFound)?;
        let from: NaiveDate = self.today();
        let key = format!("dept:{dept_id}:{from}");
        let (doctors, schedules) = match self.catalogue.get(&key) {
            Some(Entry::Department(d, s)) => (d, s),
            _ => {
                let (doctors, schedules) =
                    tokio::try_join!(self.his.doctors(dept_id), self.his.schedules(dept_id, from, from + Duration::days(BOOKING_WINDOW_DAYS - 1)))?;
                let (doctors, schedules) = (Arc::new(doctors), Arc::new(schedules));
                self.catalogue.put(key, Entry::Department(doctors.clone(), schedules.clone()));
                (doctors, schedules)
            }
        };
        Ok(DepartmentView { department, doctors, schedules })
    }
}
