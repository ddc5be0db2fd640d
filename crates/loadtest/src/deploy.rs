//! A deployment to load: the simulators in this process, a fresh database (a SQLite
//! file or a new PostgreSQL database), and one or more `carebridge serve` processes of
//! the release build on it, on free loopback ports. Shared by `flash-crowd` and `soak`.
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// The process's open file descriptors now (sockets, the database files, logs).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `carebridge serve` process of the run.
pub struct NodeProcess {
    child: tokio::process::Child,
    pub url: String,
}

impl NodeProcess {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        proc_status_kib(self.pid()?, "VmHWM:").map(|kb| kb / 1024.0)
    }

    /// Still running (not exited).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// A fresh database for the run; dropped (PostgreSQL) or deleted with the folder.
pub struct BenchDb {
    pub url: String,
    pg: Option<(String, String)>,
}

impl BenchDb {
    pub async fn new(backend: &str, dir: &Path) -> Result<Self> {
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

    /// The PostgreSQL database's name (None on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, n)| n.as_str())
    }

    pub async fn drop_it(&self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(db) = sea_orm::Database::connect(admin).await
        {
            use sea_orm::ConnectionTrait;
            let _ = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            let _ = db.close().await;
        }
    }
}

pub async fn wait_ready(http: &reqwest::Client, url: &str) -> Result<()> {
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

/// What a deployment is made of.
pub struct DeployOptions {
    pub backend: String,
    pub nodes: usize,
    pub db_connections: u32,
    /// The carebridge binary (default: target/release/carebridge of this workspace).
    pub server: Option<PathBuf>,
    /// Name of the run's temporary folder (`cb-<prefix>-<uuid>`).
    pub prefix: &'static str,
    /// The HIS and LIS simulators push their events (bills, lab orders and reports) to
    /// the first node.
    pub his_pushes: bool,
}

/// The simulators, the database and the running nodes of a run.
pub struct Deployment {
    pub sims: sim::RunningSims,
    pub nodes: Vec<NodeProcess>,
    pub db: BenchDb,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub server_bin: PathBuf,
    pub settings: server::settings::Settings,
    ports: Vec<u16>,
}

impl Deployment {
    /// Starts the simulators and prepares the nodes' settings; `tune` adjusts them (limits,
    /// workers) before they are written. The nodes are started by [`Deployment::start`].
    pub async fn prepare(o: &DeployOptions, tune: impl FnOnce(&mut server::settings::Settings)) -> Result<Self> {
        if o.nodes == 0 || o.nodes > 8 {
            bail!("--nodes 1-8");
        }
        if o.nodes > 1 && o.backend != "postgres" {
            bail!("several nodes share a PostgreSQL database: add --backend postgres");
        }
        let server_bin = o.server.clone().unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/carebridge")));
        if !server_bin.exists() {
            bail!("{} not found: build it with `cargo build --release --bin carebridge`", server_bin.display());
        }
        let dir = std::env::temp_dir().join(format!("cb-{}-{}", o.prefix, uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let ports: Vec<u16> = (0..o.nodes).map(|_| free_port()).collect::<Result<_>>()?;
        let clock: Arc<dyn domain::Clock> = Arc::new(domain::SystemClock);
        let mut sim_config = sim::SimConfig::default();
        if o.his_pushes {
            // The HIS (and its LIS) push their events to the first node, signed as the
            // open interface's client `seed_open_api_client` registers.
            sim_config.his.push_base_url = format!("http://127.0.0.1:{}", ports[0]);
        }
        let sims = sim::start(sim_config, clock).await.context("starting the simulators")?;
        let db = BenchDb::new(&o.backend, &dir).await?;
        // The nodes' settings: the simulators, the database, limits a crowd from one
        // loopback address needs (a hospital sets the address limit for its NAT).
        let mut s = server::settings::Settings::defaults();
        s.demo.data_dir = dir.display().to_string();
        server::demo::ensure_demo_keys(&mut s)?;
        server::demo::point_at_sims(&mut s, &sims);
        s.database.url = db.url.clone();
        s.database.max_connections = o.db_connections;
        s.server.callback_base_url = format!("http://127.0.0.1:{}", ports[0]);
        s.server.bind = format!("127.0.0.1:{}", ports[0]);
        s.files.dir = dir.join("files").display().to_string();
        s.audit.checkpoint_file = dir.join("audit-checkpoints.jsonl").display().to_string();
        s.registration.bookings_per_account_per_minute = 120;
        s.registration.bookings_per_address_per_minute = 10_000_000;
        s.workers.count = 2;
        s.workers.poll_ms = 200;
        s.log.level = "warn".into();
        tune(&mut s);
        let config = dir.join("carebridge.toml");
        std::fs::write(&config, s.to_toml()?)?;
        let status = tokio::process::Command::new(&server_bin).arg("--config").arg(&config).arg("migrate").status().await?;
        if !status.success() {
            bail!("carebridge migrate failed");
        }
        if o.his_pushes {
            let store = server::open_store(&s).await?;
            server::demo::seed_open_api_client(&store, chrono::Utc::now()).await?;
            store.close().await;
        }
        Ok(Self { sims, nodes: Vec::new(), db, dir, config, server_bin, settings: s, ports })
    }

    /// Runs a `carebridge` command on the run's settings (e.g. `admin create`), with
    /// `stdin` as its input; its standard output.
    pub async fn cli(&self, args: &[&str], stdin: &str) -> Result<String> {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(&self.server_bin)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child.stdin.take().context("stdin")?.write_all(stdin.as_bytes()).await?;
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            bail!("carebridge {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts the nodes (each logging to `node<i>.log` in the run's folder) and waits
    /// until every one answers.
    pub async fn start(&mut self, http: &reqwest::Client) -> Result<()> {
        for (i, port) in self.ports.iter().enumerate() {
            let log = std::fs::File::create(self.dir.join(format!("node{i}.log")))?;
            let child = tokio::process::Command::new(&self.server_bin)
                .arg("--config")
                .arg(&self.config)
                .arg("serve")
                .env("CAREBRIDGE__SERVER__BIND", format!("127.0.0.1:{port}"))
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .context("starting carebridge")?;
            self.nodes.push(NodeProcess { child, url: format!("http://127.0.0.1:{port}") });
        }
        for n in &self.nodes {
            wait_ready(http, &n.url).await?;
        }
        Ok(())
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// Stops the nodes, drops the database and removes the folder (kept, and said so,
    /// when `keep`).
    pub async fn finish(mut self, keep: bool) {
        for n in self.nodes.drain(..) {
            n.stop().await;
        }
        self.db.drop_it().await;
        if keep {
            eprintln!("kept {} (node logs, settings)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// This machine, for the reports: cores and CPU model.
pub fn machine() -> String {
    format!(
        "{} cores, {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
            .unwrap_or_default()
    )
}
