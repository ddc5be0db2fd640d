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
use anyhow::{Context, Result, bail};
use clap::Parser;
use loadtest::crowd::{self, Plan};
use loadtest::report::Report;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `carebridge serve` process of the run.
struct NodeProcess {
    child: tokio::process::Child,
    url: String,
}

impl NodeProcess {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }
    /// Peak resident memory so far (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }
    async fn stop(mut self) {
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// A fresh database for the run; dropped (PostgreSQL) or deleted with the folder.
struct BenchDb {
    url: String,
    pg: Option<(String, String)>,
}

impl BenchDb {
    async fn new(backend: &str, dir: &Path) -> Result<Self> {
        match backend {
            "sqlite" => Ok(Self { url: format!("sqlite://{}/bench.db?mode=rwc", dir.display()), pg: None }),
            "postgres" => {
                let admin = std::env::var("CAREBRIDGE_BENCH_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let name = format!("cbbench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
                let db = sea_orm::Database::connect(&admin).await.with_context(|| format!("PostgreSQL at {admin}"))?;
                use sea_orm::ConnectionTrait;
                db.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                let _ = db.close().await;
                let root = admin.rsplit_once('/').map(|(r, _)| r.to_owned()).unwrap_or(admin.clone());
                Ok(Self { url: format!("{root}/{name}"), pg: Some((admin, name)) })
            }
            other => bail!("--backend {other}: sqlite or postgres"),
        }
    }
    async fn drop_it(&self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(db) = sea_orm::Database::connect(admin).await
        {
            use sea_orm::ConnectionTrait;
            let _ = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            let _ = db.close().await;
        }
    }
}

async fn wait_ready(http: &reqwest::Client, url: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not become ready within 60 s")
}

#[tokio::main]
async fn main() {
    match run(Args::parse()).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("flash-crowd: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn run(args: Args) -> Result<bool> {
    if args.nodes == 0 || args.nodes > 8 {
        bail!("--nodes 1-8");
    }
    if args.nodes > 1 && args.backend != "postgres" {
        bail!("several nodes share a PostgreSQL database: add --backend postgres");
    }
    if args.sessions == 0 || args.places == 0 || args.patients == 0 {
        bail!("--sessions, --places and --patients must be at least 1");
    }
    let server_bin = args.server.clone().unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/carebridge")));
    if !server_bin.exists() {
        bail!("{} not found: build it with `cargo build --release --bin carebridge`", server_bin.display());
    }
    let dir = std::env::temp_dir().join(format!("cb-crowd-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let t0 = Instant::now();

    // The simulators, in this process, on free loopback ports.
    let clock: Arc<dyn domain::Clock> = Arc::new(domain::SystemClock);
    let sims = sim::start(sim::SimConfig::default(), clock).await.context("starting the simulators")?;
    let http = crowd::http_client();
    let date = domain::clock::to_local(chrono::Utc::now()).date_naive() + chrono::Duration::days(1);
    let mut plan = Plan {
        nodes: vec![],
        wechat_url: sims.wechat_url.clone(),
        his_url: sims.his_url.clone(),
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

    // The nodes' settings: the simulators, the database, limits a crowd from one
    // loopback address needs (a hospital sets the address limit for its NAT).
    let db = BenchDb::new(&args.backend, &dir).await?;
    let ports: Vec<u16> = (0..args.nodes).map(|_| free_port()).collect::<Result<_>>()?;
    let mut s = server::settings::Settings::defaults();
    s.demo.data_dir = dir.display().to_string();
    server::demo::ensure_demo_keys(&mut s)?;
    server::demo::point_at_sims(&mut s, &sims);
    s.database.url = db.url.clone();
    s.database.max_connections = args.db_connections;
    s.server.callback_base_url = format!("http://127.0.0.1:{}", ports[0]);
    s.files.dir = dir.join("files").display().to_string();
    s.registration.bookings_per_account_per_minute = 120;
    s.registration.bookings_per_address_per_minute = 10_000_000;
    s.admission.his_max_in_flight = args.his_bound;
    s.workers.count = 2;
    s.workers.poll_ms = 200;
    s.log.level = "warn".into();
    let config = dir.join("carebridge.toml");
    std::fs::write(&config, s.to_toml()?)?;
    let status = tokio::process::Command::new(&server_bin).arg("--config").arg(&config).arg("migrate").status().await?;
    if !status.success() {
        bail!("carebridge migrate failed");
    }
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let log = std::fs::File::create(dir.join(format!("node{i}.log")))?;
        let child = tokio::process::Command::new(&server_bin)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("CAREBRIDGE__SERVER__BIND", format!("127.0.0.1:{port}"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting carebridge")?;
        nodes.push(NodeProcess { child, url: format!("http://127.0.0.1:{port}") });
    }
    for n in &nodes {
        wait_ready(&http, &n.url).await?;
    }
    plan.nodes = nodes.iter().map(|n| n.url.clone()).collect();
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
        let counts = crowd::count(&http, &plan, &db.url, &sessions).await?;
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
    for n in nodes {
        n.stop().await;
    }
    db.drop_it().await;
    let report = result?;
    let mut md = report.markdown();
    md.push_str(&format!(
        "\nPeak RSS per node: {}. Machine: {} cores, {}. Date: {}.\n",
        rss.join(", "),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
            .unwrap_or_default(),
        chrono::Utc::now().format("%Y-%m-%d")
    ));
    println!("{md}");
    if let Some(out) = &args.out {
        use std::io::Write;
        std::fs::OpenOptions::new().create(true).append(true).open(out)?.write_all(md.as_bytes())?;
    }
    let passed = report.passed(true);
    if std::env::var_os("FLASH_CROWD_KEEP").is_some() {
        eprintln!("kept {} (node logs, settings)", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(passed)
}
