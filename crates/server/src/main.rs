//! `carebridge`: the hospital's patient-service platform in one binary.
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use domain::{Clock, SystemClock};
use server::settings::Settings;
use std::io::BufRead;
use std::sync::Arc;

/// mimalloc: under the 8:00 burst glibc's malloc showed up as arena lock contention
/// and consolidation in profiles (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "carebridge", version, about = "Carebridge 智慧服务平台")]
struct Cli {
    /// Settings file (default: ./carebridge.toml if present).
    #[arg(long, global = true)]
    config: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the platform.
    Serve {
        /// Start every simulator on loopback and seed the demo hospital.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Run the simulators standalone (HIS, WeChat, real-name, NHSA, CCB, SMS, navigation).
    Sim,
    /// Administration.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Print the effective settings, secrets masked.
    PrintConfig,
    /// Print the current TOTP code for a Base32 secret (for demo staff sign-in).
    Otp { secret: String },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create a staff account (the first admin, typically). Reads the password from stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// Comma-separated: admin,nurse,doctor,lab,records,finance
        #[arg(long, default_value = "admin")]
        roles: String,
    },
    /// Register a hospital system as a client of the open message interface (MSG-3);
    /// prints its secret once.
    OpenApiClient {
        /// The key it sends as `X-Cb-Key`, e.g. `lis`.
        #[arg(long)]
        key_id: String,
        /// What it is, e.g. "检验科 LIS".
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Recompute the hash chain and compare its end with the last signed checkpoint; exit 1
    /// if any row was edited, removed, reordered or cut from the end.
    Verify,
    /// Sign the chain's head and append it to `audit.checkpoint_file` (run it from cron,
    /// e.g. every 10 minutes, on a host whose files the database's users cannot write).
    Checkpoint,
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("carebridge: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.cmd {
        Cmd::Serve { demo } => {
            if demo {
                settings.log.format = std::env::var("CAREBRIDGE__LOG__FORMAT").unwrap_or_else(|_| "pretty".into());
            }
            settings.validate(demo)?;
            server::init_logging(&settings);
            let bind = settings.server.bind.clone();
            let listener = tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("cannot listen on {bind} (setting `server.bind`)"))?;
            let addr = listener.local_addr()?;
            if demo && settings.server.callback_base_url.is_empty() {
                settings.server.callback_base_url = format!("http://{addr}");
            }
            let data_dir = settings.demo.data_dir.clone();
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let node = server::assemble(settings, demo, clock, true).await?;
            if let Some(sims) = &node.sims {
                // Browsers treat `localhost` as a secure context, so the Secure session cookie works on http.
                let shown = if addr.ip().is_loopback() { format!("http://localhost:{}", addr.port()) } else { format!("http://{addr}") };
                println!("{}", server::demo::banner(&shown, &node.demo_credentials, sims, &data_dir));
            }
            tracing::info!(%addr, demo, "carebridge listening");
            server::serve(node, listener, server::shutdown_signal()).await
        }
        Cmd::Migrate => {
            settings.validate(false)?;
            server::init_logging(&settings);
            let store = server::open_store(&settings).await?;
            store.migrate().await.map_err(|e| anyhow::anyhow!("migrations: {}", e.detail))?;
            println!("migrations applied");
            Ok(())
        }
        Cmd::Sim => {
            settings.log.format = "pretty".into();
            server::init_logging(&settings);
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let sims = sim::start(server::demo::sim_config(&settings), clock).await.context("starting simulators")?;
            let d = sim::SimConfig::default();
            println!("HIS simulator       {}  (channel {} / key {})", sims.his_url, d.his.channel_id, d.his.channel_key);
            println!("WeChat simulator    {}  (appid {} / secret {})", sims.wechat_url, d.wechat.appid, d.wechat.secret);
            println!("Real-name simulator {}  (key {})", sims.realname_url, d.realname.key);
            println!("NHSA simulator      {}  (appId {}; demo SM2 keys, see sim::nhsa)", sims.nhsa_url, d.nhsa.app_id);
            println!("CCB simulator       {}  (merchant {} / POS {} / branch {})", sims.ccb_url, d.ccb.merchant_id, d.ccb.pos_id, d.ccb.branch_id);
            println!("SMS simulator       {}  (AccessKeyId {}; Aliyun and Tencent shapes)", sims.sms_url, d.sms.access_key_id);
            println!("Navigation sim.     {}  (appKey {})", sims.navigation_url, d.navigation.app_key);
            println!("E-invoice simulator {}  (appid {})", sims.einvoice_url, d.einvoice.appid);
            println!("Courier simulator   {}  (partnerID {})", sims.courier_url, d.courier.partner_id);
            println!("Face engine sim.    {}  (Baidu face v3; API Key {})", sims.face_url, d.face.api_key);
            println!("Ctrl-C to stop.");
            server::shutdown_signal().await;
            Ok(())
        }
        Cmd::Admin { cmd: AdminCmd::Create { username, display_name, roles } } => {
            settings.validate(false)?;
            let roles: Vec<domain::staff::Role> =
                roles.split(',').map(|r| domain::staff::Role::parse(r.trim()).with_context(|| format!("unknown role {r}"))).collect::<Result<_>>()?;
            eprintln!("Password for {username} (one line on stdin; at least 10 characters from three of: lower, upper, digit, symbol):");
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let app = offline_app(&settings).await?;
            let en = app
                .create_staff(app::staff::NewStaffAccount { username, display_name, password, roles }, &app::Actor::system("cli"))
                .await
                .map_err(|e| anyhow::anyhow!("{} ({})", e.code.message_zh(), e.detail))?;
            println!("created staff {} (id {})", en.username, en.staff_id);
            println!("TOTP secret (add to an authenticator app; shown once): {}", en.totp_secret_base32);
            println!("{}", en.otpauth_uri);
            Ok(())
        }
        Cmd::Admin { cmd: AdminCmd::OpenApiClient { key_id, name } } => {
            settings.validate(false)?;
            let app = offline_app(&settings).await?;
            let secret = app.create_open_api_client(&key_id, &name, &app::Actor::system("cli")).await.map_err(|e| {
                if e.code == domain::ErrorCode::Conflict { anyhow::anyhow!("a client with key {key_id} exists") } else { anyhow::anyhow!("{}", e.detail) }
            })?;
            println!("open message interface client {key_id} ({name})");
            println!("secret (shown once; sealed in the database): {secret}");
            Ok(())
        }
        Cmd::Audit { cmd: AuditCmd::Verify } => {
            // An auditor has the database and nothing else: no field key, no HIS.
            let store = server::open_store_without_keys(&settings).await?;
            let rows = match store.verify_audit_chain().await.map_err(|e| anyhow::anyhow!(e.detail))? {
                store::audit::ChainVerdict::Intact { rows } => rows,
                store::audit::ChainVerdict::Broken { seq, reason } => bail!("audit chain BROKEN at row {seq}: {reason}"),
            };
            let file = std::path::Path::new(&settings.audit.checkpoint_file);
            match server::audit_checkpoints::last_verified(file)? {
                None => println!("audit chain intact: {rows} rows (no checkpoints at {}: rows cut from the end cannot be seen)", file.display()),
                Some((c, n)) => {
                    if store.audit_hash_at(c.seq).await.map_err(|e| anyhow::anyhow!(e.detail))?.as_deref() != Some(c.hash.as_str()) {
                        bail!(
                            "audit chain BROKEN at its end: the checkpoint of {} names row {}, which the chain no longer holds as signed (rows cut from the end)",
                            c.at,
                            c.seq
                        );
                    }
                    println!(
                        "audit chain intact: {rows} rows; agrees with the last of {n} signed checkpoints (row {} at {}, key {})",
                        c.seq,
                        c.at,
                        server::audit_checkpoints::fingerprint(&c.key)
                    );
                }
            }
            Ok(())
        }
        Cmd::Audit { cmd: AuditCmd::Checkpoint } => {
            let store = server::open_store_without_keys(&settings).await?;
            let file = std::path::Path::new(&settings.audit.checkpoint_file);
            let signer = server::audit_checkpoints::signer(settings.audit.signing_key.expose(), file)?;
            let Some(c) = server::audit_checkpoints::checkpoint_if_moved(&store, file, &signer, &mut None).await? else {
                println!("the audit chain is empty: nothing to checkpoint");
                return Ok(());
            };
            println!("checkpoint: row {} at {} → {} (key {})", c.seq, c.at, file.display(), server::audit_checkpoints::fingerprint(&c.key));
            Ok(())
        }
        Cmd::PrintConfig => {
            print!("{}", settings.masked_toml()?);
            Ok(())
        }
        Cmd::Otp { secret } => {
            let key = crypto::totp::base32_decode(&secret).context("not a Base32 secret")?;
            println!("{}", crypto::totp::code_at(&key, chrono::Utc::now().timestamp()));
            Ok(())
        }
    }
}

/// An App for CLI work: the store and no outside systems reachable (they are not used).
async fn offline_app(s: &Settings) -> Result<app::App> {
    let store = server::open_store(s).await?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("migrations: {}", e.detail))?;
    let t = std::time::Duration::from_secs(1);
    let his = Arc::new(gateways::HisClient::new(
        gateways::HisClientConfig {
            base_url: s.his.base_url.clone(),
            channel_id: s.his.channel_id.clone(),
            channel_key: s.his.channel_key.clone(),
            timeout: t,
        },
        Arc::new(SystemClock),
    ));
    let wechat = Arc::new(gateways::WechatOAuthClient::new(gateways::WechatOAuthConfig {
        authorize_base: s.wechat.authorize_base.clone(),
        api_base: s.wechat.api_base.clone(),
        appid: s.wechat.appid.clone(),
        secret: s.wechat.secret.clone(),
        scope: s.wechat.scope.clone(),
        timeout: t,
    }));
    let realname = Arc::new(gateways::RealNameClient::new(gateways::RealNameClientConfig {
        base_url: s.realname.base_url.clone(),
        key: s.realname.key.clone(),
        timeout: t,
    }));
    Ok(app::App::new(store, Arc::new(SystemClock), his, wechat, realname, app::Policies::default()))
}
