//! `flash-crowd`: the 8:00 slot-release benchmark (G1 and G2 of quality-bar.md).
//!
//! Starts the simulators in this process, prepares a fresh database (a SQLite file or a
//! new PostgreSQL database), starts one or two `carebridge serve` processes on it (the
//! release build), signs the virtual patients in, measures the ceiling (`/healthz` of
//! the same nodes) and the read path, then lets the crowd loose on the released places
//! with the HIS at 50 ± 30 ms and a bounded capacity. Prints a Markdown report and
//! exits 1 when a G1 condition fails. Everything binds to 127.0.0.1 and stops by itself.
//!
//!   scripts/flash-crowd                       # SQLite, one node, the G1 numbers
//!   scripts/flash-crowd --backend postgres --nodes 2
//!
//! `FLASH_CROWD_KEEP=1` keeps the run's folder (node logs, settings);
//! `FLASH_CROWD_SERVER_METRICS=1` prints the nodes' own booking-route metrics at the end.
use anyhow::{Result, bail};
use clap::Parser;
use loadtest::crowd::{self, Plan};
use loadtest::deploy::{DeployOptions, Deployment};
use loadtest::report::Report;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "flash-crowd", about = "The 8:00 flash-crowd benchmark (G1/G2)")]
struct Args {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Carebridge processes on the one database (2 needs postgres).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    #[arg(long, default_value_t = 2000)]
    patients: usize,
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    #[arg(long, default_value_t = 10)]
    places: u32,
    #[arg(long, default_value_t = 50)]
    hot_percent: u64,
    #[arg(long, default_value_t = 10)]
    abandon_percent: u64,
    /// Every patient's first tap falls within this many milliseconds of the release
    /// (2 s: human reaction and mobile networks spread 8:00:00 over a couple of seconds;
    /// 1000 is the harsher stress run in docs/BENCHMARKS.md).
    #[arg(long, default_value_t = 2000)]
    ramp_ms: u64,
    /// Length of the rush, seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Length of each probe (ceiling, read path), seconds; 0 skips them.
    #[arg(long, default_value_t = 10)]
    probe_seconds: u64,
    #[arg(long, default_value_t = 64)]
    probe_connections: usize,
    /// The simulated HIS: latency ± jitter (ms) and calls it works on at once.
    #[arg(long, default_value_t = 50)]
    his_latency_ms: u64,
    #[arg(long, default_value_t = 30)]
    his_jitter_ms: u64,
    #[arg(long, default_value_t = 32)]
    his_capacity: usize,
    /// Admission control: HIS calls in flight at most (for all nodes together); set to
    /// what the HIS can work on at once.
    #[arg(long, default_value_t = 32)]
    his_bound: u32,
    /// Database connections per node.
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
    /// The carebridge binary (default: target/release/carebridge of this workspace).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Append the Markdown report to this file as well.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    seed: u64,
}

#[tokio::main]
async fn main() {
    loadtest::exit_with("flash-crowd", run(Args::parse()).await)
}

async fn run(args: Args) -> Result<bool> {
    if args.sessions == 0 || args.places == 0 || args.patients == 0 {
        bail!("--sessions, --places and --patients must be at least 1");
    }
    let t0 = Instant::now();
    let opts = DeployOptions {
        backend: args.backend.clone(),
        nodes: args.nodes,
        db_connections: args.db_connections,
        server: args.server.clone(),
        prefix: "crowd",
        his_pushes: false,
    };
    let his_bound = args.his_bound;
    let mut dep = Deployment::prepare(&opts, |s| s.admission.his_max_in_flight = his_bound).await?;
    let http = crowd::http_client();
    let date = domain::clock::to_local(chrono::Utc::now()).date_naive() + chrono::Duration::days(1);
    let mut plan = Plan {
        nodes: vec![],
        wechat_url: dep.sims.wechat_url.clone(),
        his_url: dep.sims.his_url.clone(),
        patients: args.patients,
        sessions: args.sessions,
        places_per_session: args.places,
        hot_percent: args.hot_percent,
        duration: Duration::from_secs(args.seconds),
        abandon_percent: args.abandon_percent,
        probe: Duration::from_secs(args.probe_seconds),
        probe_connections: args.probe_connections,
        ramp: Duration::from_millis(args.ramp_ms),
        date,
        seed: args.seed,
    };
    let sessions = crowd::release_places(&http, &plan).await?;
    dep.start(&http).await?;
    plan.nodes = dep.urls();
    let nodes = &dep.nodes;
    eprintln!("[{:>5.1}s] {} node(s) ready on {}; enrolling {} patients", t0.elapsed().as_secs_f64(), nodes.len(), args.backend, args.patients);

    let result = async {
        let patients = crowd::enrol(&http, &plan).await?;
        eprintln!("[{:>5.1}s] patients signed in; probing the ceiling and the read path", t0.elapsed().as_secs_f64());
        crowd::set_his_load(&http, &plan.his_url, args.his_latency_ms, args.his_jitter_ms, args.his_capacity).await?;
        let (ceiling, reads) = if plan.probe.is_zero() {
            (None, vec![])
        } else {
            let c = crowd::probe(&http, &plan.nodes, "/healthz", plan.probe_connections, plan.probe).await;
            let list = format!("/api/v1/departments/{}/schedules", sessions[0].dept_id);
            let mut reads = Vec::new();
            for path in [list, crowd::session_path(&sessions[0])] {
                reads.push(crowd::probe(&http, &plan.nodes, &path, plan.probe_connections, plan.probe).await);
            }
            (Some(c), reads)
        };
        crowd::reset_his_load(&http, &plan.his_url).await?;
        eprintln!("[{:>5.1}s] the rush: {} s", t0.elapsed().as_secs_f64(), args.seconds);
        let grab = crowd::grab(&http, &plan, &sessions, &patients).await;
        let (_, his_peak, his_calls) = crowd::his_load(&http, &plan.his_url).await?;
        if std::env::var_os("FLASH_CROWD_SERVER_METRICS").is_some() {
            for n in &plan.nodes {
                let text = http.get(format!("{n}/metrics")).send().await?.text().await?;
                for l in text.lines().filter(|l| l.contains("/api/v1/me/registrations\",method=\"POST\"") && !l.starts_with('#')) {
                    eprintln!("{n} {l}");
                }
            }
        }
        let counts = crowd::count(&http, &plan, &dep.db.url, &sessions).await?;
        let setup =
            format!("{}, {} node{}", if args.backend == "postgres" { "PostgreSQL" } else { "SQLite" }, args.nodes, if args.nodes > 1 { "s" } else { "" });
        Ok::<_, anyhow::Error>(Report {
            setup,
            plan: plan.clone(),
            his_bound: args.his_bound,
            his_latency: format!("{} ± {} ms, capacity {}", args.his_latency_ms, args.his_jitter_ms, args.his_capacity),
            ceiling,
            reads,
            grab,
            his_peak_in_flight: his_peak,
            his_calls,
            counts,
        })
    }
    .await;
    let rss: Vec<String> = nodes.iter().map(|n| n.peak_rss_mib().map(|m| format!("{m:.0} MiB")).unwrap_or_else(|| "?".into())).collect();
    dep.finish(std::env::var_os("FLASH_CROWD_KEEP").is_some()).await;
    let report = result?;
    let mut md = report.markdown();
    md.push_str(&format!(
        "\nPeak RSS per node: {}. Machine: {}. Date: {}.\n",
        rss.join(", "),
        loadtest::deploy::machine(),
        chrono::Utc::now().format("%Y-%m-%d")
    ));
    println!("{md}");
    if let Some(out) = &args.out {
        use std::io::Write;
        std::fs::OpenOptions::new().create(true).append(true).open(out)?.write_all(md.as_bytes())?;
    }
    let passed = report.passed(true);
    Ok(passed)
}
