//! The outpatient office's view of registration: a department's sessions of a day with how
//! many patients each holds, before staff suspend, move or substitute one.
use crate::App;
use chrono::NaiveDate;
use domain::DomainError;
use domain::registration::{BookingState, Department, Doctor, Schedule};
use std::collections::HashMap;
use std::sync::Arc;

/// One session and the bookings that hold a place in it.
pub struct SessionLoad {
    pub schedule: Schedule,
    /// Bookings holding a place (locked, paid or checked in).
    pub booked: usize,
    /// Of those, paid (confirmed or checked in): the patients a change must reach.
    pub paid: usize,
}

pub struct SessionBoard {
    pub departments: Arc<Vec<Department>>,
    /// The department shown (the first when the one asked for does not exist).
    pub dept_id: String,
    pub doctors: Arc<Vec<Doctor>>,
    pub sessions: Vec<SessionLoad>,
}

const HOLDING: [BookingState; 3] = [BookingState::Locked, BookingState::Confirmed, BookingState::CheckedIn];

impl App {
    /// `dept_id`'s sessions on `date`, each with its bookings counted (one query for all).
    pub async fn session_board(&self, dept_id: &str, date: NaiveDate) -> Result<SessionBoard, DomainError> {
        let departments = self.departments().await?;
        let dept_id = if departments.iter().any(|d| d.dept_id == dept_id) {
            dept_id.to_owned()
        } else {
            departments.first().map(|d| d.dept_id.clone()).unwrap_or_default()
        };
        if dept_id.is_empty() {
            return Ok(SessionBoard { departments, dept_id, doctors: Arc::default(), sessions: vec![] });
        }
        let view = self.department_view(&dept_id).await?;
        let schedules: Vec<Schedule> = view.schedules.iter().filter(|s| s.date == date).cloned().collect();
        let ids: Vec<String> = schedules.iter().map(|s| s.schedule_id.clone()).collect();
        let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
        for (schedule_id, state) in self.store.booking_states_of_schedules(&ids, &HOLDING).await? {
            let c = counts.entry(schedule_id).or_default();
            c.0 += 1;
            if state != BookingState::Locked.as_str() {
                c.1 += 1;
            }
        }
        let sessions = schedules
            .into_iter()
            .map(|schedule| {
                let (booked, paid) = counts.get(&schedule.schedule_id).copied().unwrap_or_default();
                SessionLoad { schedule, booked, paid }
            })
            .collect();
        Ok(SessionBoard { departments, dept_id, doctors: view.doctors, sessions })
    }

    /// The account's booking that already holds a place for `patient_id` in this session,
    /// if any (a second tap of 提交预约 is taken to it).
    pub async fn live_booking_no(&self, account_id: i64, patient_id: i64, schedule_id: &str) -> Result<Option<String>, DomainError> {
        let Some(row) = self.store.live_booking(patient_id, schedule_id).await? else {
            return Ok(None);
        };
        if self.store.patient_summary(account_id, row.patient_id).await.is_err() {
            return Ok(None);
        }
        Ok(Some(row.booking_no))
    }
}
