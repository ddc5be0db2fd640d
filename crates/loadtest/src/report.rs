//! The verdict on a flash-crowd run: G1's pass conditions checked one by one, and the
//! numbers as a Markdown table for docs/BENCHMARKS.md.
use crate::crowd::{Answer, Grab, Plan, Probe, SessionCount, percentile};
use std::fmt::Write;

/// Everything a run measured.
#[derive(Debug)]
pub struct Report {
    /// e.g. "PostgreSQL, 2 nodes".
    pub setup: String,
    pub plan: Plan,
    /// HIS calls in flight at most (admission control), and how the HIS was simulated.
    pub his_bound: u32,
    pub his_latency: String,
    pub ceiling: Option<Probe>,
    /// The G2 read endpoints (schedule list, one session's places).
    pub reads: Vec<Probe>,
    pub grab: Grab,
    pub his_peak_in_flight: u64,
    pub his_calls: u64,
    pub counts: Vec<SessionCount>,
}

/// One pass condition.
#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// G1's latency bounds (quality-bar.md), in milliseconds.
pub const LOCK_P99_MS: f64 = 800.0;
pub const SOLD_OUT_P99_MS: f64 = 100.0;
/// G2: lock attempts per second, sustained for this long, in every window of this length.
pub const LOCKS_PER_SEC: f64 = 500.0;
pub const SUSTAINED_SECS: u64 = 60;
pub const RATE_WINDOW_SECS: u64 = 10;
/// G2: the read endpoints (schedule list, slot availability).
pub const READS_PER_SEC: f64 = 5_000.0;
pub const READ_P99_MS: f64 = 200.0;

/// The lowest rate (per second) over the whole `RATE_WINDOW_SECS` windows of the first
/// `secs` seconds of the rush, and how many windows there were: "sustained" means every
/// window, not the average (a burst and then silence averages well).
pub fn lowest_window_rate(sent_at_ms: impl Iterator<Item = u64>, secs: u64) -> (f64, u64) {
    let windows = secs / RATE_WINDOW_SECS;
    let mut counts = vec![0u64; windows as usize];
    for at in sent_at_ms {
        if let Some(c) = counts.get_mut((at / 1000 / RATE_WINDOW_SECS) as usize) {
            *c += 1;
        }
    }
    let lowest = counts.iter().copied().min().unwrap_or(0);
    (lowest as f64 / RATE_WINDOW_SECS as f64, windows)
}

impl Report {
    fn latencies(&self, keep: impl Fn(Answer) -> bool) -> Vec<u64> {
        let mut v: Vec<u64> = self.grab.attempts.iter().filter(|s| keep(s.answer)).map(|s| s.micros).collect();
        v.sort_unstable();
        v
    }

    fn count(&self, a: Answer) -> usize {
        self.grab.attempts.iter().filter(|s| s.answer == a).count()
    }

    /// G1's pass conditions, plus the HIS bound admission control promises.
    pub fn checks(&self, latency_bounds: bool) -> Vec<Check> {
        let mut out = Vec::new();
        let oversold: Vec<String> = self
            .counts
            .iter()
            .filter(|c| c.ours > c.places || c.his > c.places || c.ours != c.his)
            .map(|c| format!("{}: places {}, ours {}, HIS {}", c.schedule_id, c.places, c.ours, c.his))
            .collect();
        out.push(Check {
            name: "0 oversell (ours ≤ places, HIS ≤ places, ours = HIS, every session)",
            passed: oversold.is_empty(),
            detail: if oversold.is_empty() { format!("{} sessions agree", self.counts.len()) } else { oversold.join("; ") },
        });
        let doubles: u32 = self.counts.iter().map(|c| c.our_doubles + c.his_doubles).sum();
        out.push(Check { name: "0 double bookings per patient per session", passed: doubles == 0, detail: format!("{doubles}") });
        let total = self.grab.attempts.len();
        let no_answer = self.count(Answer::NoAnswer);
        out.push(Check { name: "every request answered", passed: no_answer == 0 && total > 0, detail: format!("{no_answer} of {total} without an answer") });
        let five = self.grab.attempts.iter().filter(|s| matches!(s.answer, Answer::ServerError | Answer::Unavailable)).count();
        out.push(Check {
            name: "5xx < 0.1%",
            passed: (five as f64) < 0.001 * total as f64 || five == 0,
            detail: format!("{five} of {total} ({:.3}%)", 100.0 * five as f64 / total.max(1) as f64),
        });
        out.push(Check {
            name: "HIS calls in flight ≤ the admission bound",
            passed: self.his_peak_in_flight <= u64::from(self.his_bound),
            detail: format!("peak {} ≤ {}", self.his_peak_in_flight, self.his_bound),
        });
        let booked = self.count(Answer::Booked);
        out.push(Check { name: "places were sold", passed: booked > 0, detail: format!("{booked} bookings") });
        if latency_bounds {
            let lock = percentile(&self.latencies(|_| true), 99.0);
            out.push(Check { name: "p99 booking request ≤ 800 ms", passed: lock <= LOCK_P99_MS, detail: format!("{lock:.1} ms") });
            let sold = percentile(&self.latencies(Answer::sold_out), 99.0);
            out.push(Check { name: "p99 sold-out answer ≤ 100 ms", passed: sold <= SOLD_OUT_P99_MS, detail: format!("{sold:.1} ms") });
            let secs = self.plan.duration.as_secs().min(self.grab.elapsed.as_secs());
            let (lowest, windows) = lowest_window_rate(self.grab.attempts.iter().map(|a| a.at_ms), secs);
            out.push(Check {
                name: "G2: lock attempts ≥ 500/s sustained 60 s (every 10 s window)",
                passed: windows * RATE_WINDOW_SECS >= SUSTAINED_SECS && lowest >= LOCKS_PER_SEC,
                detail: format!("lowest {lowest:.0}/s over {windows} windows of {RATE_WINDOW_SECS} s"),
            });
            for r in &self.reads {
                out.push(Check {
                    name: "G2: read endpoint ≥ 5,000 req/s, p99 ≤ 200 ms, no failure",
                    passed: r.per_sec >= READS_PER_SEC && r.p99_ms <= READ_P99_MS && r.failures == 0,
                    detail: format!("`GET {}` {:.0} req/s, p99 {:.1} ms, {} failed", r.path, r.per_sec, r.p99_ms, r.failures),
                });
            }
        }
        out
    }

    pub fn passed(&self, latency_bounds: bool) -> bool {
        self.checks(latency_bounds).iter().all(|c| c.passed)
    }

    /// The run as Markdown: setup, the answer mix with latencies, rates, HIS, checks.
    pub fn markdown(&self) -> String {
        let p = &self.plan;
        let mut s = String::new();
        let secs = self.grab.elapsed.as_secs_f64().max(0.001);
        let _ = writeln!(s, "### {}\n", self.setup);
        let _ = writeln!(
            s,
            "{} virtual patients (first taps within {} ms), {} places over {} sessions (hot session {} places, {}% of patients), {}% give their place back; {} s; HIS {}, admission bound {} calls in flight.\n",
            p.patients,
            p.ramp.as_millis(),
            self.counts.iter().map(|c| c.places).sum::<u32>(),
            p.sessions,
            self.counts.first().map(|c| c.places).unwrap_or(0),
            p.hot_percent,
            p.abandon_percent,
            p.duration.as_secs(),
            self.his_latency,
            self.his_bound
        );
        let _ = writeln!(s, "| answer | count | share | p50 ms | p99 ms | max ms |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        let total = self.grab.attempts.len().max(1);
        for a in Answer::ALL {
            let l = self.latencies(|x| x == a);
            if l.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {:.1}% | {:.1} | {:.1} | {:.1} |",
                a.label(),
                l.len(),
                100.0 * l.len() as f64 / total as f64,
                percentile(&l, 50.0),
                percentile(&l, 99.0),
                l.last().copied().unwrap_or(0) as f64 / 1000.0
            );
        }
        let all = self.latencies(|_| true);
        let _ = writeln!(
            s,
            "| **all booking requests** | {} | 100% | {:.1} | {:.1} | {:.1} |\n",
            all.len(),
            percentile(&all, 50.0),
            percentile(&all, 99.0),
            all.last().copied().unwrap_or(0) as f64 / 1000.0
        );
        // The rush over time: the first seconds carry the burst.
        let _ = writeln!(s, "| seconds into the rush | requests | booked | p99 ms (all) | p99 ms (sold out) |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        let edges = [0u64, 1_000, 2_000, 5_000, 10_000, 30_000, u64::MAX];
        for w in edges.windows(2) {
            let within: Vec<_> = self.grab.attempts.iter().filter(|a| a.at_ms >= w[0] && a.at_ms < w[1]).collect();
            if within.is_empty() {
                continue;
            }
            let mut all: Vec<u64> = within.iter().map(|a| a.micros).collect();
            let mut sold: Vec<u64> = within.iter().filter(|a| a.answer.sold_out()).map(|a| a.micros).collect();
            all.sort_unstable();
            sold.sort_unstable();
            let upto = if w[1] == u64::MAX { "end".to_owned() } else { (w[1] / 1000).to_string() };
            let _ = writeln!(
                s,
                "| {}–{} | {} | {} | {:.1} | {:.1} |",
                w[0] / 1000,
                upto,
                within.len(),
                within.iter().filter(|a| a.answer == Answer::Booked).count(),
                percentile(&all, 99.0),
                percentile(&sold, 99.0)
            );
        }
        let _ = writeln!(s);
        let mut reads = self.grab.reads.clone();
        reads.sort_unstable();
        let _ = writeln!(s, "| rate | value |");
        let _ = writeln!(s, "|---|---:|");
        let _ = writeln!(s, "| booking requests (lock attempts) per second, whole run | {:.0} |", self.grab.attempts.len() as f64 / secs);
        let _ = writeln!(s, "| schedule reads by the patients, per second (p99 ms) | {:.0} ({:.1}) |", reads.len() as f64 / secs, percentile(&reads, 99.0));
        let _ = writeln!(s, "| places given back (退号 before paying) and sold again | {} |", self.grab.cancels);
        let _ = writeln!(s, "| HIS calls (all operations), per second | {} ({:.0}/s) |", self.his_calls, self.his_calls as f64 / secs);
        let _ = writeln!(s, "| HIS peak calls in flight | {} (bound {}) |", self.his_peak_in_flight, self.his_bound);
        if let Some(c) = &self.ceiling {
            let _ = writeln!(s, "| ceiling: `GET {}` req/s (p99 ms) | {:.0} ({:.1}) |", c.path, c.per_sec, c.p99_ms);
        }
        for r in &self.reads {
            let ratio = self.ceiling.as_ref().map(|c| format!(", {:.2} of the ceiling", r.per_sec / c.per_sec.max(1.0))).unwrap_or_default();
            let _ = writeln!(s, "| G2 read: `GET {}` req/s (p99 ms) | {:.0} ({:.1}{ratio}) |", r.path, r.per_sec, r.p99_ms);
        }
        if let Some(c) = &self.ceiling {
            let _ = writeln!(s, "| lock attempts ÷ ceiling | {:.3} |", self.grab.attempts.len() as f64 / secs / c.per_sec.max(1.0));
        }
        let _ = writeln!(s, "\n| session | places | ours | HIS | doubles |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for c in &self.counts {
            let _ = writeln!(s, "| {} | {} | {} | {} | {} |", c.schedule_id, c.places, c.ours, c.his, c.our_doubles + c.his_doubles);
        }
        let _ = writeln!(s, "\n| G1 check | result |");
        let _ = writeln!(s, "|---|---|");
        for c in self.checks(true) {
            let _ = writeln!(s, "| {} | {} — {} |", c.name, if c.passed { "pass" } else { "**FAIL**" }, c.detail);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_sustained_only_when_every_window_holds_it() {
        // 600/s for 60 s: six windows, the lowest 600.
        let steady = (0..36_000u64).map(|i| i * 60_000 / 36_000);
        assert_eq!(lowest_window_rate(steady, 60), (600.0, 6));
        // The same number of attempts in the first 30 s and none after: the average is
        // 600/s, the sustained rate 0.
        let burst = (0..36_000u64).map(|i| i * 30_000 / 36_000);
        assert_eq!(lowest_window_rate(burst, 60), (0.0, 6));
        // A 20 s run has two windows: never 60 s, whatever the rate.
        assert_eq!(lowest_window_rate(0..20_000u64, 20).1, 2);
        // Attempts after the planned end count for nothing.
        assert_eq!(lowest_window_rate([5_000, 70_000].into_iter(), 10), (0.1, 1));
    }
}
