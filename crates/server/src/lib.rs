//! Wiring: settings → store → connectors → use cases → web, plus the worker pool and,
//! in demo mode, the simulators. `main.rs` is the CLI over this; the test kit uses the
//! same assembly so tests run the real thing.

pub mod audit_checkpoints;
pub mod demo;
pub mod settings;

use anyhow::{Context, Result};
use app::jobs::{PoolConfig, Registry, WorkerPool};
use app::{App, Policies};
use crypto::{FieldCipher, FieldCipherAlgorithm, KeyedHasher};
use domain::Clock;
use gateways::{HisClient, HisClientConfig, RealNameClient, RealNameClientConfig, WechatOAuthClient, WechatOAuthConfig};
use settings::Settings;
use std::sync::Arc;
use std::time::Duration;
use store::{DataKeys, Store, StoreConfig};

/// A running Carebridge node (without its HTTP listener).
pub struct Node {
    pub app: App,
    /// The parts the use cases were built from, for the composition root's own work
    /// (seeding, shutdown) and for tests that look behind the use cases. `web` gets none
    /// of them.
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub his: Arc<dyn domain::ports::HisPort>,
    pub bank: Option<Arc<dyn domain::ports::BankPort>>,
    pub insurance_centre: Option<Arc<dyn domain::ports::InsuranceCentrePort>>,
    pub router: axum::Router,
    pub pool: Option<WorkerPool>,
    pub sims: Option<sim::RunningSims>,
    pub demo_credentials: Vec<demo::DemoCredential>,
    /// The settings the node runs with (in demo mode: pointed at its simulators).
    pub settings: Settings,
}

pub fn data_keys(s: &Settings) -> Result<DataKeys> {
    let alg = FieldCipherAlgorithm::parse(&s.security.field_cipher).context("security.field_cipher")?;
    Ok(DataKeys {
        cipher: FieldCipher::new(alg, s.security.field_key_version, s.field_key_bytes()?)
            .map_err(|e| anyhow::anyhow!("invalid setting `security.field_key`: {e}"))?,
        hasher: KeyedHasher::new(s.lookup_key_bytes()?).map_err(|e| anyhow::anyhow!("invalid setting `security.lookup_key`: {e}"))?,
    })
}

/// The database alone, for tools that read what needs no key (the audit chain is plain
/// hashes): only `database.*` is checked, and the store gets throwaway keys it never uses,
/// so an auditor needs no field key, HIS or WeChat settings. Nothing is migrated.
pub async fn open_store_without_keys(s: &Settings) -> Result<Store> {
    s.validate_database()?;
    let throwaway = DataKeys {
        cipher: FieldCipher::new(FieldCipherAlgorithm::Aes256Gcm, 1, crypto::random_bytes::<32>().to_vec())
            .map_err(|e| anyhow::anyhow!("throwaway key: {e}"))?,
        hasher: KeyedHasher::new(crypto::random_bytes::<32>().to_vec()).map_err(|e| anyhow::anyhow!("throwaway key: {e}"))?,
    };
    let mut cfg = StoreConfig::new(s.database.url.clone());
    cfg.max_connections = s.database.max_connections.min(2);
    Store::connect(&cfg, throwaway).await.map_err(|e| anyhow::anyhow!("database ({}): {}", settings::mask_db_password(&s.database.url), e.detail))
}

pub async fn open_store(s: &Settings) -> Result<Store> {
    let mut cfg = StoreConfig::new(s.database.url.clone());
    cfg.max_connections = s.database.max_connections;
    let store =
        Store::connect(&cfg, data_keys(s)?).await.map_err(|e| anyhow::anyhow!("database ({}): {}", settings::mask_db_password(&s.database.url), e.detail))?;
    Ok(store)
}

fn insurance_channel(s: &Settings, clock: Arc<dyn Clock>) -> Result<app::billing::InsuranceChannel> {
    use base64::Engine;
    let n = &s.nhsa;
    let b64 = |key: &str, v: &str| {
        base64::engine::general_purpose::STANDARD.decode(v.trim()).map_err(|_| anyhow::anyhow!("invalid setting `nhsa.{key}`: not Base64"))
    };
    let signer_id = if n.signer_id.is_empty() { n.app_secret.expose().to_owned() } else { n.signer_id.expose().to_owned() };
    let signer = crypto::sm2::Sm2Signer::from_secret_bytes(&signer_id, &b64("hospital_private_key", n.hospital_private_key.expose())?)
        .map_err(|e| anyhow::anyhow!("invalid setting `nhsa.hospital_private_key`: {e}"))?;
    let peer = crypto::sm2::Sm2Verifier::from_public_key_bytes(&signer_id, &b64("centre_public_key", &n.centre_public_key)?)
        .map_err(|e| anyhow::anyhow!("invalid setting `nhsa.centre_public_key`: {e}"))?;
    let party = gateways::nhsa::envelope::Party { app_id: n.app_id.clone(), app_secret: n.app_secret.expose().to_owned(), signer, peer };
    let timeout = Duration::from_millis(n.timeout_ms);
    Ok(app::billing::InsuranceChannel {
        centre: Arc::new(gateways::nhsa::client::NhsaClient::new(&n.base_url, party, timeout, clock.clone())),
        auth: Arc::new(gateways::nhsa::auth::MedInsAuthClient::new(
            gateways::nhsa::auth::MedInsAuthConfig {
                auth_page_url: n.auth_page_url.clone(),
                family_bind_page_url: n.family_bind_page_url.clone(),
                receiver_base: n.receiver_base.clone(),
                partner_id: n.partner_id.clone(),
                partner_secret: n.partner_secret.clone(),
                org_codg: n.org_codg.clone(),
                city_code: n.city_code.clone(),
                timeout,
            },
            clock,
        )),
        cashier_url: n.cashier_url.clone(),
        use_personal_account: n.use_personal_account,
    })
}

/// Reports: the policy, the limits and the file store, from settings.
pub fn reports(s: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<app::reports::Reports> {
    let r = &s.reports;
    let files: Arc<dyn domain::ports::FileStorePort> = match s.files.backend.as_str() {
        "s3" => Arc::new(gateways::files::S3Store::new(
            gateways::files::S3Config {
                endpoint: s.files.s3_endpoint.clone(),
                bucket: s.files.s3_bucket.clone(),
                region: s.files.s3_region.clone(),
                access_key: s.files.s3_access_key.clone(),
                secret_key: s.files.s3_secret_key.clone(),
                timeout: Duration::from_millis(s.files.timeout_ms),
            },
            clock,
        )),
        _ => Arc::new(gateways::files::LocalDiskStore::new(&s.files.dir)),
    };
    Ok(app::reports::Reports {
        settings: app::reports::ReportSettings {
            policy: domain::reports::ReportPolicy {
                turnaround_minutes: r.turnaround_minutes.clone(),
                default_turnaround_minutes: r.default_turnaround_minutes,
                release_delay_minutes: r.release_delay_minutes.clone(),
            },
            max_file_bytes: r.max_file_mb << 20,
            max_image_pixels: r.max_image_megapixels * 1_000_000,
            max_pdf_pages: r.max_pdf_pages,
            page_width_px: r.page_width_px,
            poll_every_minutes: r.poll_minutes,
            lab_closes: chrono::NaiveTime::parse_from_str(&r.lab_closes, "%H:%M").context("reports.lab_closes")?,
            resample_place: r.resample_place.clone(),
            hospital_name: s.server.hospital_name.clone(),
            // A key of its own, derived from the lookup key: verification codes
            // reveal nothing about lookups.
            verify_key: report_verify_key(s)?,
        },
        files,
    })
}

/// The key of reports' verification codes: its own, derived from the lookup key, so
/// verification codes reveal nothing about lookups. The LIS is configured with it too.
pub fn report_verify_key(s: &Settings) -> Result<Vec<u8>> {
    Ok(crypto::mac::hmac_sha256(&s.lookup_key_bytes()?, b"carebridge/report-verify").to_vec())
}

/// The message platform's connectors and policy from settings.
fn messaging(s: &Settings, clock: Arc<dyn Clock>) -> app::messages::Messaging {
    use gateways::messages::{navigation, sms, wechat};
    let wechat: Option<Arc<dyn domain::ports::WechatMessagePort>> = (!s.wechat.appid.is_empty()).then(|| {
        Arc::new(wechat::WechatMessageClient::new(wechat::WechatMessageConfig {
            api_base: s.wechat.api_base.clone(),
            appid: s.wechat.appid.clone(),
            secret: s.wechat.secret.clone(),
            miniprogram_appid: s.messages.miniprogram_appid.clone(),
            timeout: Duration::from_millis(s.wechat.timeout_ms),
        })) as Arc<dyn domain::ports::WechatMessagePort>
    });
    let sms: Option<Arc<dyn domain::ports::SmsPort>> = (!s.sms.base_url.is_empty()).then(|| {
        Arc::new(sms::SmsClient::new(
            sms::SmsConfig {
                provider: sms::SmsProvider::parse(&s.sms.provider).unwrap_or(sms::SmsProvider::Aliyun),
                base_url: s.sms.base_url.clone(),
                access_key_id: s.sms.access_key_id.clone(),
                access_key_secret: s.sms.access_key_secret.clone(),
                sign_name: s.sms.sign_name.clone(),
                sdk_app_id: s.sms.sdk_app_id.clone(),
                region: s.sms.region.clone(),
                timeout: Duration::from_millis(s.sms.timeout_ms),
            },
            clock,
        )) as Arc<dyn domain::ports::SmsPort>
    });
    let navigation: Option<Arc<dyn domain::ports::NavigationPort>> = (!s.navigation.base_url.is_empty()).then(|| {
        Arc::new(navigation::NavigationClient::new(navigation::NavigationConfig {
            base_url: s.navigation.base_url.clone(),
            app_key: s.navigation.app_key.clone(),
            entrance: s.navigation.entrance.clone(),
            timeout: Duration::from_millis(s.navigation.timeout_ms),
        })) as Arc<dyn domain::ports::NavigationPort>
    });
    let m = &s.messages;
    app::messages::Messaging {
        wechat,
        sms,
        navigation,
        policy: app::messages::MessagePolicy {
            quiet_start: m.quiet_time(&m.quiet_start).unwrap_or_default(),
            quiet_end: m.quiet_time(&m.quiet_end).unwrap_or_default(),
            critical_ack_within: chrono::Duration::minutes(m.critical_ack_minutes),
            public_base_url: s.patient_base_url(),
            hospital_name: s.server.hospital_name.clone(),
        },
    }
}

/// Builds a node. In demo mode the simulators start on loopback first and the
/// connectors are pointed at them; keys and demo staff are created if missing.
pub async fn assemble(mut s: Settings, demo_mode: bool, clock: Arc<dyn Clock>, start_workers: bool) -> Result<Node> {
    let mut sims = None;
    if demo_mode {
        demo::ensure_demo_keys(&mut s)?;
        let cfg = demo::sim_config(&s);
        let running = sim::start(cfg, clock.clone())
            .await
            .context("starting the simulators (is another demo already running on ports 18081-18089? set demo.*_port = 0)")?;
        demo::point_at_sims(&mut s, &running);
        sims = Some(running);
    }
    s.validate(false)?;
    let store = open_store(&s).await?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("migrations: {}", e.detail))?;

    let admission = app::admission::AdmissionSettings {
        max_in_flight: s.admission.his_max_in_flight,
        max_waiting: s.admission.max_waiting,
        max_wait: Duration::from_millis(s.admission.max_wait_ms),
        shared: s.admission.shared(&s.database.url),
        lease: Duration::from_secs(s.admission.lease_secs),
    };
    let permits = if admission.shared {
        app::admission::HisPermits::shared(admission, store.clone(), clock.clone()).await.map_err(|e| anyhow::anyhow!("admission permits: {}", e.detail))?
    } else {
        app::admission::HisPermits::local(admission)
    };
    let his = Arc::new(
        HisClient::new(
            HisClientConfig {
                base_url: s.his.base_url.clone(),
                channel_id: s.his.channel_id.clone(),
                channel_key: s.his.channel_key.clone(),
                timeout: Duration::from_millis(s.his.timeout_ms),
            },
            clock.clone(),
        )
        .with_permits(Arc::new(permits)),
    );
    let wechat = Arc::new(WechatOAuthClient::new(WechatOAuthConfig {
        authorize_base: s.wechat.authorize_base.clone(),
        api_base: s.wechat.api_base.clone(),
        appid: s.wechat.appid.clone(),
        secret: s.wechat.secret.clone(),
        scope: s.wechat.scope.clone(),
        timeout: Duration::from_millis(s.wechat.timeout_ms),
    }));
    let realname = Arc::new(RealNameClient::new(RealNameClientConfig {
        base_url: s.realname.base_url.clone(),
        key: s.realname.key.clone(),
        timeout: Duration::from_millis(s.realname.timeout_ms),
    }));
    let policies = Policies {
        patient_session: store::session::SessionPolicy {
            idle: chrono::Duration::minutes(s.sessions.patient_idle_minutes),
            absolute: chrono::Duration::hours(s.sessions.patient_absolute_hours),
        },
        staff_session: store::session::SessionPolicy {
            idle: chrono::Duration::minutes(s.sessions.staff_idle_minutes),
            absolute: chrono::Duration::hours(s.sessions.staff_absolute_hours),
        },
        patient_fresh_auth: chrono::Duration::minutes(s.sessions.patient_fresh_auth_minutes),
        patient_fresh_read: chrono::Duration::minutes(s.sessions.patient_fresh_read_minutes),
        bank_notify_window_days: s.ccb.notify_window_days,
        retention: app::maintenance::Retention {
            message_content_days: s.retention.message_content_days,
            raw_callback_days: s.retention.raw_callback_days,
            stored_answer_days: s.retention.stored_answer_days,
            finished_job_days: s.retention.finished_job_days,
        },
        order_close_after: chrono::Duration::minutes(s.payment.close_after_minutes),
        first_payment_query_after: chrono::Duration::seconds(s.payment.first_query_after_secs),
        hospital_code: s.nhsa.org_codg.clone(),
        cancel_before_start: chrono::Duration::minutes(s.registration.cancel_before_minutes),
        lock_answer_grace: chrono::Duration::seconds(s.registration.lock_answer_grace_secs),
        bookings_per_account_per_minute: s.registration.bookings_per_account_per_minute,
        bookings_per_address_per_minute: s.registration.bookings_per_address_per_minute,
        shared_booking_limits: s.admission.shared(&s.database.url),
        visit_reminder_hour: s.messages.visit_reminder_hour,
        deposit_floor: domain::Fen(s.inpatient.deposit_floor_yuan * 100),
        deposit_days: s.inpatient.deposit_days,
        admission_bring: s.inpatient.admission_bring.clone(),
        admission_place: s.inpatient.admission_place.clone(),
        admission_destination: s.inpatient.admission_destination.clone(),
        no_show: app::fairness::NoShowRule {
            // A limit of 0 (or no bar days) turns the blacklist off.
            limit: if s.registration.no_show_bar_days == 0 || s.registration.no_show_limit == 0 { u32::MAX } else { s.registration.no_show_limit },
            window_days: s.registration.no_show_window_days,
            bar_days: s.registration.no_show_bar_days,
        },
        ..Policies::default()
    };
    let his_port: Arc<dyn domain::ports::HisPort> = his.clone();
    let mut app = App::new(store.clone(), clock.clone(), his, wechat, realname, policies);
    let mut bank: Option<Arc<dyn domain::ports::BankPort>> = None;
    if !s.ccb.base_url.is_empty() {
        let ccb = gateways::ccb::client::CcbClient::new(gateways::ccb::client::CcbClientConfig {
            base_url: s.ccb.base_url.clone(),
            merchant_client_url: s.ccb.merchant_client_url.clone(),
            merchant_id: s.ccb.merchant_id.clone(),
            pos_id: s.ccb.pos_id.clone(),
            branch_id: s.ccb.branch_id.clone(),
            user_id: s.ccb.user_id.clone(),
            password: s.ccb.password.clone(),
            bank_public_key: s.ccb.bank_public_key.clone(),
            digest: if s.ccb.notify_digest == "sha256" { gateways::ccb::signing::SignDigest::Sha256 } else { gateways::ccb::signing::SignDigest::Md5 },
            timeout: Duration::from_millis(s.ccb.timeout_ms),
        })
        .map_err(|e| anyhow::anyhow!("invalid setting `ccb.bank_public_key`: {}", e.detail))?;
        let ccb: Arc<dyn domain::ports::BankPort> = Arc::new(ccb);
        app = app.with_bank(ccb.clone());
        bank = Some(ccb);
    }
    let mut insurance_centre = None;
    if !s.nhsa.base_url.is_empty() {
        let channel = insurance_channel(&s, clock.clone())?;
        insurance_centre = Some(channel.centre.clone());
        app = app.with_insurance(channel);
    }

    if !s.einvoice.base_url.is_empty() {
        app = app.with_invoicing(invoicing(&s));
    }
    let channels = messaging(&s, clock.clone());
    app = app.with_messaging(channels);
    app = app.with_reports(reports(&s, clock.clone())?);
    app = app.with_records(records(&s, clock.clone()));
    app = app.with_face(face(&s, clock.clone()));

    let demo_credentials = if demo_mode { demo::seed_demo_staff(&app, &store, &s).await? } else { vec![] };
    if demo_mode {
        demo::seed_insurance_rules(&app, &store).await?;
        demo::seed_open_api_client(&store, clock.now()).await?;
    }
    app::jobs::ensure_recurring(&app).await.map_err(|e| anyhow::anyhow!("scheduling recurring jobs: {}", e.detail))?;
    let pool = start_workers.then(|| {
        WorkerPool::start(
            app.clone(),
            Registry::standard(),
            PoolConfig {
                workers: s.workers.count,
                poll_interval: Duration::from_millis(s.workers.poll_ms),
                lease: chrono::Duration::seconds(s.workers.lease_secs.max(1)),
                ..Default::default()
            },
        )
    });
    let router = web::router(
        app.clone(),
        web::WebConfig {
            hospital_name: s.server.hospital_name.clone(),
            public_base_url: (!s.server.public_base_url.is_empty()).then(|| s.server.public_base_url.clone()),
            metrics_public: s.server.metrics_public,
            max_body_bytes: s.server.max_body_bytes,
        },
    );
    Ok(Node { app, store, clock, his: his_port, bank, insurance_centre, router, pool, sims, demo_credentials, settings: s })
}

/// Serves until `shutdown` resolves, then drains: stop accepting, finish in-flight
/// requests, let running jobs finish (bounded), close the database.
pub async fn serve(node: Node, listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    let Node { store, router, pool, sims, settings, .. } = node;
    // Signed checkpoints of the audit chain's head (S11): every few minutes while serving,
    // and once more at a clean stop.
    let audit = &settings.audit;
    let checkpoints = if audit.checkpoint_minutes > 0 {
        let file = std::path::PathBuf::from(&audit.checkpoint_file);
        let signer = Arc::new(audit_checkpoints::signer(audit.signing_key.expose(), &file)?);
        let task = audit_checkpoints::spawn_periodic(store.clone(), file.clone(), signer.clone(), audit.checkpoint_minutes);
        Some((task, file, signer))
    } else {
        None
    };
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .context("http server")?;
    tracing::info!("http server stopped; draining workers");
    if let Some(p) = pool {
        p.shutdown(Duration::from_secs(10)).await;
    }
    if let Some((task, file, signer)) = checkpoints {
        task.abort();
        if let Err(e) = audit_checkpoints::checkpoint_if_moved(&store, &file, &signer, &mut None).await {
            tracing::error!(error = %e, "audit checkpoint at stop failed");
        }
    }
    drop(sims);
    store.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub fn init_logging(s: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&s.log.level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if s.log.format == "pretty" {
        builder.compact().try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    };
}

/// Record copies: the office's settings and, where configured, the courier.
fn records(s: &Settings, clock: Arc<dyn domain::Clock>) -> app::records::Records {
    let r = &s.records;
    let c = &s.courier;
    let courier: Option<Arc<dyn domain::ports::CourierPort>> = (!c.url.is_empty()).then(|| {
        Arc::new(gateways::courier::client::CourierClient::new(
            gateways::courier::client::CourierClientConfig {
                url: c.url.clone(),
                partner_id: c.partner_id.clone(),
                check_word: c.check_word.clone(),
                monthly_card: c.monthly_card.clone(),
                express_type_id: c.express_type_id,
                timeout: Duration::from_millis(c.timeout_ms),
            },
            clock,
        )) as Arc<dyn domain::ports::CourierPort>
    });
    app::records::Records {
        settings: app::records::RecordsSettings {
            default_fees: domain::records::FeeTable {
                version: 1,
                per_page: domain::Fen(r.default_per_page_fen),
                certification: domain::Fen(r.default_certification_fen),
                postage: domain::Fen(r.default_postage_fen),
            },
            capture_token_ttl: chrono::Duration::minutes(r.capture_token_minutes),
            promise_days: r.promise_days,
            keep_photos_days: r.keep_photos_days,
            office_place: r.office_place.clone(),
            office_hours: r.office_hours.clone(),
            sender: domain::ports::ShipmentParty {
                contact: r.sender_contact.clone(),
                mobile: r.sender_mobile.clone(),
                province: r.sender_province.clone(),
                city: r.sender_city.clone(),
                county: r.sender_county.clone(),
                address: r.sender_address.clone(),
                company: s.server.hospital_name.clone(),
            },
            max_photo_bytes: r.max_photo_bytes,
            courier_push_secret: c.push_secret.expose().to_owned(),
        },
        courier,
    }
}

/// The e-invoice platform's connector and the hospital's codes on it.
/// The face engine and the hospital's thresholds; no `api_base`: the face services are off.
fn face(s: &Settings, clock: Arc<dyn domain::Clock>) -> app::face::FaceServices {
    let f = &s.face;
    let control = |c: &str| domain::face::Control::parse(c).unwrap_or(domain::face::Control::Normal);
    let settings = app::face::FaceSettings {
        group_prefix: f.group_prefix.clone(),
        thresholds: domain::face::FaceThresholds { match_score: f.match_score, ambiguity_margin: f.ambiguity_margin, identity_score: f.identity_score },
        checks: domain::face::FaceChecks { quality: control(&f.quality_control), liveness: control(&f.liveness_control) },
        workstation_rooms: f.workstation_rooms.clone(),
        ..Default::default()
    };
    let engine: Option<Arc<dyn domain::ports::FaceEnginePort>> = (!f.api_base.is_empty()).then(|| {
        Arc::new(gateways::face::client::FaceClient::new(
            gateways::face::client::FaceClientConfig {
                api_base: f.api_base.clone(),
                token_url: f.token_url.clone(),
                api_key: f.api_key.clone(),
                secret_key: f.secret_key.clone(),
                timeout: Duration::from_millis(f.timeout_ms),
            },
            clock,
        )) as Arc<dyn domain::ports::FaceEnginePort>
    });
    app::face::FaceServices { engine, settings }
}

fn invoicing(s: &Settings) -> app::invoices::Invoicing {
    let e = &s.einvoice;
    let client = gateways::einvoice::EInvoiceClient::new(gateways::einvoice::EInvoiceClientConfig {
        base_url: e.base_url.clone(),
        appid: e.appid.clone(),
        key: e.key.clone(),
        place_code: e.place_code.clone(),
        payee: e.payee.clone(),
        methods: gateways::einvoice::Methods {
            registration: e.method_registration.clone(),
            outpatient: e.method_outpatient.clone(),
            inpatient: e.method_inpatient.clone(),
            prepayment: e.method_prepayment.clone(),
        },
        timeout: Duration::from_millis(e.timeout_ms),
    });
    app::invoices::Invoicing {
        platform: Arc::new(client),
        pay_channel_codes: domain::invoices::PayChannelCodes {
            fund: e.channel_fund.clone(),
            account: e.channel_account.clone(),
            other_fund: e.channel_other_fund.clone(),
            own: e.channel_own.clone(),
        },
    }
}
