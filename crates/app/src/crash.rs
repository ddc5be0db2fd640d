//! Crash points for the kill -9 test (G4): a named place between two steps where the
//! process can be made to die on purpose, so the test kills it *exactly* there rather
//! than at a time that may or may not fall between the steps. With
//! `CAREBRIDGE_CRASH_AT=<name>` in its environment the process aborts the first time it
//! reaches that point — no unwinding, no flushing, no shutdown: what SIGKILL at that
//! instant leaves. Unset (always, outside the test), a point is one comparison with
//! nothing. Every point is listed in [`POINTS`], so the test can prove it covers them.
use std::sync::OnceLock;

/// Every crash point, in the order of a patient's journey.
pub const POINTS: [&str; 10] = [
    AFTER_HIS_LOCK,
    AFTER_CAPTURE,
    BEFORE_HIS_CONFIRM,
    AFTER_HIS_CONFIRM,
    AFTER_HIS_SETTLE,
    AFTER_BANK_REFUND,
    AFTER_CENTRE_REVERSAL,
    MID_RECONCILIATION,
    AFTER_MESSAGE_SENT,
    MID_REPORT_INGEST,
];

/// The HIS locked the slot for a booking; the lock is not recorded (the answer is lost
/// with the process).
pub const AFTER_HIS_LOCK: &str = "registration.after_his_lock";
/// A report's file is in the file store; its row is not written.
pub const MID_REPORT_INGEST: &str = "reports.mid_ingest";

/// The bank's capture is committed (order Paid, fulfilment queued); the bank not yet answered.
pub const AFTER_CAPTURE: &str = "billing.after_capture";
/// A paid registration's fulfilment, before the HIS is asked to confirm the locked slot.
pub const BEFORE_HIS_CONFIRM: &str = "registration.before_his_confirm";
/// The HIS confirmed the registration; we have not recorded it.
pub const AFTER_HIS_CONFIRM: &str = "registration.after_his_confirm";
/// The HIS settled an outpatient bill; we have not recorded it.
pub const AFTER_HIS_SETTLE: &str = "billing.after_his_settle";
/// The bank carried out a refund; we have not recorded it.
pub const AFTER_BANK_REFUND: &str = "billing.after_bank_refund";
/// The insurance centre reversed a settlement; we have not recorded it.
pub const AFTER_CENTRE_REVERSAL: &str = "billing.after_centre_reversal";
/// Reconciliation healed what it found; the run is not finished.
pub const MID_RECONCILIATION: &str = "billing.mid_reconciliation";
/// A provider accepted a message; we have not recorded it.
pub const AFTER_MESSAGE_SENT: &str = "messages.after_send";

static AT: OnceLock<Option<String>> = OnceLock::new();

/// Dies here if this is the configured crash point.
pub fn point(name: &'static str) {
    let at = AT.get_or_init(|| std::env::var("CAREBRIDGE_CRASH_AT").ok().filter(|s| !s.is_empty()));
    if at.as_deref() == Some(name) {
        eprintln!("crash point reached: {name}");
        std::process::abort();
    }
}
