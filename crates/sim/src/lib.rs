//! Simulators of the outside systems, speaking their wire protocols over real HTTP on
//! loopback, with fault injection; and the demo hospital's data. `carebridge serve
//! --demo` starts them in-process; `carebridge sim` runs them standalone.

pub mod ccb;
pub mod courier;
pub mod demo;
pub mod einvoice;
pub mod face;
pub mod his;
pub mod his_events;
pub mod lis;
pub mod navigation;
pub mod nhsa;
pub mod realname;
pub mod rng;
pub mod s3;
pub mod sms;
pub mod wechat;
pub mod wechat_msg;

use domain::Clock;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    pub his: his::HisSimConfig,
    pub wechat: wechat::WechatSimConfig,
    pub realname: realname::RealNameSimConfig,
    pub nhsa: nhsa::NhsaSimConfig,
    pub ccb: ccb::CcbSimConfig,
    pub sms: sms::SmsSimConfig,
    pub navigation: navigation::NavigationSimConfig,
    pub einvoice: einvoice::EInvoiceSimConfig,
    pub courier: courier::CourierSimConfig,
    pub face: face::FaceSimConfig,
    /// Where the courier pushes route steps (empty: nowhere until set at run time).
    pub courier_push_url: String,
    /// Ports to bind on 127.0.0.1; 0 picks a free one.
    pub his_port: u16,
    pub wechat_port: u16,
    pub realname_port: u16,
    pub nhsa_port: u16,
    pub ccb_port: u16,
    pub sms_port: u16,
    pub navigation_port: u16,
    pub einvoice_port: u16,
    pub courier_port: u16,
    pub face_port: u16,
}

/// Running simulators: their base URLs and handles to their state.
pub struct RunningSims {
    pub his_url: String,
    pub wechat_url: String,
    pub realname_url: String,
    pub nhsa_url: String,
    pub nhsa: nhsa::SharedNhsa,
    pub ccb_url: String,
    pub ccb: ccb::SharedCcb,
    pub his: his::SharedHis,
    pub wechat: wechat::SharedWechat,
    pub sms_url: String,
    pub sms: sms::SharedSms,
    pub navigation_url: String,
    pub navigation: navigation::SharedNav,
    pub einvoice_url: String,
    pub einvoice: einvoice::SharedEInvoice,
    pub courier_url: String,
    pub courier: courier::SharedCourier,
    pub face_url: String,
    pub face: face::SharedFace,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningSims {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// An injected outage of a provider: `"hang"` waits `hang_ms` then answers 504 (a
/// timeout to the caller), anything else answers 503 at once; `None` means up.
pub(crate) async fn outage(mode: Option<&str>, hang_ms: u64) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    match mode {
        None => None,
        Some("hang") => {
            tokio::time::sleep(std::time::Duration::from_millis(hang_ms.max(1))).await;
            Some(axum::http::StatusCode::GATEWAY_TIMEOUT.into_response())
        }
        Some(_) => Some(axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()),
    }
}

async fn serve(router: axum::Router, port: u16) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((addr, task))
}

/// Starts every simulator on loopback.
pub async fn start(cfg: SimConfig, clock: Arc<dyn Clock>) -> std::io::Result<RunningSims> {
    let his_state = Arc::new(Mutex::new(his::HisState::new(cfg.his.clone(), clock.clone())));
    let today = domain::clock::to_local(clock.now()).date_naive();
    let wechat_state = Arc::new(Mutex::new(wechat::WechatState::new(cfg.wechat.clone(), clock.clone())));
    let realname_state = Arc::new(realname::RealNameState { cfg: cfg.realname.clone(), registry: demo::citizens(today) });
    let (his_addr, t1) = serve(his::router(his_state.clone()), cfg.his_port).await?;
    let (wx_addr, t2) = serve(wechat::router(wechat_state.clone()), cfg.wechat_port).await?;
    let (rn_addr, t3) = serve(realname::router(realname_state), cfg.realname_port).await?;
    let nhsa_state = Arc::new(Mutex::new(nhsa::NhsaState::new(&cfg.nhsa, clock.clone())));
    let (nhsa_addr, t4) = serve(nhsa::router(nhsa_state.clone()), cfg.nhsa_port).await?;
    let ccb_state = Arc::new(Mutex::new(ccb::CcbState::new(cfg.ccb.clone(), clock.clone())));
    let (ccb_addr, t5) = serve(ccb::router(ccb_state.clone()), cfg.ccb_port).await?;
    ccb_state.lock().expect("ccb lock").set_base_url(&format!("http://{ccb_addr}"));
    let sms_state = Arc::new(Mutex::new(sms::SmsState::new(cfg.sms.clone(), clock.clone())));
    let (sms_addr, t6) = serve(sms::router(sms_state.clone()), cfg.sms_port).await?;
    let nav_state = Arc::new(Mutex::new(navigation::NavState { cfg: cfg.navigation.clone(), base_url: String::new(), requests: 0 }));
    let (nav_addr, t7) = serve(navigation::router(nav_state.clone()), cfg.navigation_port).await?;
    nav_state.lock().expect("nav lock").base_url = format!("http://{nav_addr}");
    let einvoice_state = Arc::new(Mutex::new(einvoice::EInvoiceState::new(cfg.einvoice.clone(), clock.clone())));
    let (einvoice_addr, t8) = serve(einvoice::router(einvoice_state.clone()), cfg.einvoice_port).await?;
    einvoice_state.lock().expect("einvoice lock").set_base_url(&format!("http://{einvoice_addr}"));
    let courier_state = Arc::new(Mutex::new(courier::CourierState::new(cfg.courier.clone(), clock.clone())));
    courier_state.lock().expect("courier lock").push_url = (!cfg.courier_push_url.is_empty()).then(|| cfg.courier_push_url.clone());
    let (courier_addr, t9) = serve(courier::router(courier_state.clone()), cfg.courier_port).await?;
    let face_state = Arc::new(Mutex::new(face::FaceState::new(cfg.face.clone(), &demo::citizens(today))));
    let (face_addr, t10) = serve(face::router(face_state.clone()), cfg.face_port).await?;
    Ok(RunningSims {
        his_url: format!("http://{his_addr}"),
        wechat_url: format!("http://{wx_addr}"),
        realname_url: format!("http://{rn_addr}"),
        nhsa_url: format!("http://{nhsa_addr}"),
        nhsa: nhsa_state,
        ccb_url: format!("http://{ccb_addr}"),
        ccb: ccb_state,
        his: his_state,
        wechat: wechat_state,
        sms_url: format!("http://{sms_addr}"),
        sms: sms_state,
        navigation_url: format!("http://{nav_addr}"),
        navigation: nav_state,
        einvoice_url: format!("http://{einvoice_addr}"),
        einvoice: einvoice_state,
        courier_url: format!("http://{courier_addr}"),
        courier: courier_state,
        face_url: format!("http://{face_addr}"),
        face: face_state,
        tasks: vec![t1, t2, t3, t4, t5, t6, t7, t8, t9, t10],
    })
}
