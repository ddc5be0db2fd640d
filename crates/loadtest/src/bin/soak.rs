//! `soak`: ten minutes of ordinary traffic on one backend (G3 of quality-bar.md; see
//! `loadtest::soak`). Starts the simulators here, a fresh database and a release
//! `carebridge serve`, signs patients in, then runs the mixed load at a fixed rate while
//! the lab issues reports. Prints a Markdown report (per-minute gauges, latency by
//! route, the work done, the verdict) and exits 1 when anything is not flat after the
//! warm-up, any request failed, or p99 is over the bound. Loopback only; stops by itself.
//!
//!   scripts/soak                        # SQLite then PostgreSQL, 10 min each
//!   target/release/soak --backend postgres --seconds 120 --warmup-seconds 30
use anyhow::{Context, Result, bail};
use clap::Parser;
use loadtest::crowd::{self, Plan};
use loadtest::deploy::{DeployOptions, Deployment};
use loadtest::soak::{self, Bound, Shared, Staff};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "soak", about = "Mixed traffic for ten minutes: nothing grows, nothing fails (G3)")]
struct Args {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Length of the run, seconds (the warm-up included).
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// The first seconds, not held to flatness (caches fill, pools open).
    #[arg(long, default_value_t = 120)]
    warmup_seconds: u64,
    /// Requests per second to the nodes, all patients together.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Signed-in patients taking turns.
    #[arg(long, default_value_t = 200)]
    patients: usize,
    #[arg(long, default_value_t = 40)]
    sessions: usize,
    #[arg(long, default_value_t = 200)]
    places: u32,
    /// Percent of paid bookings cancelled again (refunded).
    #[arg(long, default_value_t = 40)]
    cancel_percent: u64,
    /// The lab reports one test this often, seconds.
    #[arg(long, default_value_t = 4)]
    report_every_seconds: u64,
    /// Gauges measured this often, seconds.
    #[arg(long, default_value_t = 5)]
    gauge_every_seconds: u64,
    /// p99 of every patient request after the warm-up, at most (ms).
    #[arg(long, default_value_t = 300.0)]
    p99_ms: f64,
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
    #[arg(long)]
    server: Option<PathBuf>,
    /// Append the Markdown report to this file as well.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 20)]
    seed: u64,
}

/// What may move between the start and the end of the measured stretch.
/// G3: resident memory grows less than 10 % after the warm-up.
const RSS: Bound = Bound { abs: 0.0, rel: 0.10 };
const FDS: Bound = Bound { abs: 8.0, rel: 0.0 };
const DB_CONNECTIONS: Bound = Bound { abs: 2.0, rel: 0.0 };
const OUTBOX: Bound = Bound { abs: 20.0, rel: 0.0 };

#[tokio::main]
async fn main() {
    loadtest::exit_with("soak", run(Args::parse()).await)
}

async fn run(args: Args) -> Result<bool> {
    if args.warmup_seconds >= args.seconds || args.patients == 0 || args.patients > 4000 || args.sessions == 0 {
        bail!("--warmup-seconds below --seconds; --patients 1-4000; --sessions at least 1");
    }
    let t0 = Instant::now();
    let opts = DeployOptions {
        backend: args.backend.clone(),
        nodes: 1,
        db_connections: args.db_connections,
        server: args.server.clone(),
        prefix: "soak",
        his_pushes: true,
    };
    let mut dep = Deployment::prepare(&opts, |s| {
        // Reports are seen as soon as the doctor releases them.
        s.reports.release_delay_minutes.clear();
        s.registration.bookings_per_account_per_minute = 600;
        // Notices go out whatever the hour the soak runs at (quiet hours would hold
        // them all until 07:00 and the run would send nothing).
        s.messages.quiet_start = "00:00".into();
        s.messages.quiet_end = "00:00".into();
    })
    .await?;
    let http = crowd::http_client();
    let date = domain::clock::to_local(chrono::Utc::now()).date_naive() + chrono::Duration::days(1);
    let mut plan = Plan {
        nodes: vec![],
        wechat_url: dep.sims.wechat_url.clone(),
        his_url: dep.sims.his_url.clone(),
        patients: args.patients,
        sessions: args.sessions,
        places_per_session: args.places,
        hot_percent: 0,
        duration: Duration::from_secs(args.seconds),
        abandon_percent: 0,
        probe: Duration::ZERO,
        probe_connections: 0,
        ramp: Duration::ZERO,
        date,
        seed: args.seed,
    };
    let sessions = crowd::release_places(&http, &plan).await?;
    // The doctor who releases reports, made as an operator would (the CLI).
    let password = "Soak-Doctor-2026!";
    let out = dep.cli(&["admin", "create", "--username", "doctor01", "--display-name", "医生 王建国", "--roles", "doctor"], &format!("{password}\n")).await?;
    let secret = out.lines().find_map(|l| l.split("shown once): ").nth(1)).context("the CLI printed no TOTP secret")?.trim().to_owned();
    let doctor = Staff { username: "doctor01".into(), password: password.into(), totp_secret: crypto::totp::base32_decode(&secret).context("TOTP secret")? };
    dep.start(&http).await?;
    plan.nodes = dep.urls();
    eprintln!("[{:>5.1}s] node ready on {}; signing in {} patients", t0.elapsed().as_secs_f64(), args.backend, args.patients);

    let result = async {
        let patients = crowd::enrol(&http, &plan).await?;
        // The HIS's ids of our patients, for the lab's orders.
        let his_ids: Vec<String> = {
            let his = dep.sims.his.lock().expect("his lock");
            let list = his.patient_list();
            (0..patients.len()).filter_map(|i| list.iter().find(|(_, name)| *name == crowd::person(i).0).map(|(id, _)| id.clone())).collect()
        };
        if his_ids.len() != patients.len() {
            bail!("the HIS knows {} of our {} patients", his_ids.len(), patients.len());
        }
        eprintln!(
            "[{:>5.1}s] {} patients signed in; {} s of traffic at {} requests/s ({} s warm-up)",
            t0.elapsed().as_secs_f64(),
            patients.len(),
            args.seconds,
            args.rate,
            args.warmup_seconds
        );
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.seconds);
        let sh = Arc::new(Shared {
            http: http.clone(),
            nodes: plan.nodes.clone(),
            wechat_url: plan.wechat_url.clone(),
            sessions: sessions.clone(),
            pacer: soak::Pacer::new(args.rate),
            started,
            deadline,
            calls: Mutex::new(Vec::new()),
            work: Mutex::new(soak::Work::default()),
            cancel_percent: args.cancel_percent,
            seed: args.seed,
        });
        let pg = dep
            .db
            .pg_name()
            .map(|n| (std::env::var("CAREBRIDGE_BENCH_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()), n.to_owned()));
        let gauge = tokio::spawn(soak::gauges(
            http.clone(),
            dep.nodes.iter().map(|n| (n.pid(), n.url.clone())).collect(),
            pg,
            started,
            deadline,
            Duration::from_secs(args.gauge_every_seconds),
        ));
        let lab = tokio::spawn(soak::lab(sh.clone(), plan.his_url.clone(), his_ids, doctor, Duration::from_secs(args.report_every_seconds)));
        let tasks: Vec<_> = patients.into_iter().enumerate().map(|(i, p)| tokio::spawn(soak::patient(sh.clone(), i, p))).collect();
        let mut minute = 0;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let m = started.elapsed().as_secs() / 60;
            if m > minute {
                minute = m;
                let n = sh.calls.lock().expect("calls").len();
                let w = sh.work.lock().expect("work").clone();
                eprintln!(
                    "[{:>5.1}s] minute {m}: {n} requests, {} booked, {} paid, {} cancelled, {} reports released",
                    t0.elapsed().as_secs_f64(),
                    w.bookings,
                    w.paid,
                    w.cancelled,
                    w.reports_released
                );
            }
        }
        for t in tasks {
            let _ = t.await;
        }
        let _ = lab.await;
        let gauges = gauge.await.context("gauges")?;
        let wechat_sent = dep.sims.wechat.lock().expect("wechat lock").messages.sent.len();
        let calls = std::mem::take(&mut *sh.calls.lock().expect("calls"));
        let work = sh.work.lock().expect("work").clone();
        Ok::<_, anyhow::Error>((calls, work, gauges, wechat_sent, started.elapsed()))
    }
    .await;
    let peak_rss = dep.nodes.iter().filter_map(|n| n.peak_rss_mib()).fold(0.0, f64::max);
    let mut alive = true;
    for n in &mut dep.nodes {
        alive &= n.alive();
    }
    dep.finish(std::env::var_os("SOAK_KEEP").is_some()).await;
    let (calls, work, gauges, wechat_sent, elapsed) = result?;
    let (md, passed) = report(&args, &calls, &work, &gauges, wechat_sent, elapsed, peak_rss, alive);
    println!("{md}");
    if let Some(out) = &args.out {
        use std::io::Write;
        std::fs::OpenOptions::new().create(true).append(true).open(out)?.write_all(md.as_bytes())?;
    }
    Ok(passed)
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    calls: &[soak::Call],
    work: &soak::Work,
    gauges: &[soak::Gauge],
    wechat_sent: usize,
    elapsed: Duration,
    peak_rss: f64,
    alive: bool,
) -> (String, bool) {
    let warm = args.warmup_seconds as f64;
    let backend = if args.backend == "postgres" { "PostgreSQL" } else { "SQLite" };
    let mut md = format!(
        "\n### Soak: {backend}, one node, {} s at {} requests/s ({} s warm-up), {} patients\n\n",
        args.seconds, args.rate, args.warmup_seconds, args.patients
    );
    let measured: Vec<&soak::Call> = calls.iter().filter(|c| c.at_s >= warm).collect();
    let errors = calls.iter().filter(|c| c.error).count();
    let (p50, p99, max) = soak::latencies(&measured);
    md.push_str(&format!(
        "{} requests in {:.0} s ({:.1}/s); after the warm-up {} requests, p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.0} ms; {errors} failed.\n\n",
        calls.len(),
        elapsed.as_secs_f64(),
        calls.len() as f64 / elapsed.as_secs_f64().max(1.0),
        measured.len()
    ));
    md.push_str("| route (after warm-up) | requests | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n");
    for (route, cs) in soak::by_route(calls, warm) {
        let (p50, p99, max) = soak::latencies(&cs);
        md.push_str(&format!("| {} | {} | {p50:.1} | {p99:.1} | {max:.0} |\n", route.label(), cs.len()));
    }
    md.push_str(&format!(
        "\nWork done: {} booked, {} paid at the bank, {} cancelled and refunded, {} reports issued by the lab, {} released, {} read by patients, {} PDFs downloaded, {} WeChat messages sent, {} step-up sign-ins.\n\n",
        work.bookings, work.paid, work.cancelled, work.reports_issued, work.reports_released, work.reports_read, work.files_read, wechat_sent, work.sign_ins_again
    ));
    md.push_str("| minute | RSS MiB | fds | pool connections | PostgreSQL backends | outbox due | outbox scheduled |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut last_minute = u64::MAX;
    for g in gauges {
        let m = (g.at_s / 60.0) as u64;
        if m != last_minute {
            last_minute = m;
            md.push_str(&format!(
                "| {m} | {:.1} | {:.0} | {:.0} | {} | {:.0} | {:.0} |\n",
                g.rss_mib,
                g.fds,
                g.db_pool,
                g.pg_backends.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
                g.outbox_due,
                g.outbox_pending
            ));
        }
    }
    let after: Vec<&soak::Gauge> = gauges.iter().filter(|g| g.at_s >= warm).collect();
    let series = |f: fn(&soak::Gauge) -> f64| after.iter().map(|g| f(g)).collect::<Vec<f64>>();
    let mut checks: Vec<(String, bool)> = Vec::new();
    for (name, s, bound) in [
        ("resident memory (MiB)", series(|g| g.rss_mib), RSS),
        ("open file descriptors", series(|g| g.fds), FDS),
        ("database pool connections", series(|g| g.db_pool), DB_CONNECTIONS),
        ("outbox jobs due and not taken", series(|g| g.outbox_due), OUTBOX),
    ] {
        let f = soak::flatness(&s, bound);
        checks.push((
            format!(
                "{name} flat after the warm-up: {:.1} → {:.1} (max {:.1}; allowed growth {:.1})",
                f.start,
                f.end,
                f.max,
                bound.abs.max(f.start * bound.rel)
            ),
            f.flat,
        ));
    }
    if after.iter().any(|g| g.pg_backends.is_some()) {
        let f = soak::flatness(&series(|g| g.pg_backends.unwrap_or(0.0)), DB_CONNECTIONS);
        checks.push((format!("PostgreSQL backends flat: {:.1} → {:.1} (max {:.0})", f.start, f.end, f.max), f.flat));
    }
    let pool_max = after.iter().map(|g| g.db_pool).fold(0.0, f64::max);
    checks.push((format!("pool never above its {} connections (max {pool_max:.0})", args.db_connections), pool_max <= f64::from(args.db_connections)));
    checks.push((format!("no request failed ({errors})"), errors == 0));
    checks.push((format!("p99 after the warm-up ≤ {} ms ({p99:.1})", args.p99_ms), p99 <= args.p99_ms && !measured.is_empty()));
    checks.push((
        "every kind of work was done (booked, paid, cancelled, reports released and read, messages sent)".into(),
        work.bookings > 0 && work.paid > 0 && work.cancelled > 0 && work.reports_released > 0 && work.reports_read > 0 && wechat_sent > 0,
    ));
    checks.push(("the node was still running at the end".into(), alive));
    md.push_str(&format!("\nPeak RSS {peak_rss:.0} MiB. Machine: {}. Date: {}.\n\n", loadtest::deploy::machine(), chrono::Utc::now().format("%Y-%m-%d")));
    let passed = checks.iter().all(|(_, ok)| *ok);
    for (what, ok) in &checks {
        md.push_str(&format!("- {} {what}\n", if *ok { "PASS" } else { "FAIL" }));
    }
    if !work.errors.is_empty() {
        md.push_str(&format!("\nFirst failures: {}\n", work.errors.join("; ")));
    }
    (md, passed)
}
