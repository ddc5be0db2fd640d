//! The insurance-centre connector against its simulator over real HTTP: the envelope
//! both ways, the ordStas machine, refunds idempotent on their serial number and never
//! above what was paid, revocation, and forged or faulty answers refused.
use crypto::sm2::{Sm2Signer, Sm2Verifier};
use domain::ports::{InsuranceAuthPort, InsuranceCentrePort};
use domain::{ErrorCode, Fen, SystemClock};
use gateways::nhsa::auth::{MedInsAuthClient, MedInsAuthConfig};
use gateways::nhsa::client::{NhsaClient, OrdStasClass, classify};
use gateways::nhsa::envelope::Party;
use std::sync::Arc;

async fn setup() -> (sim::RunningSims, NhsaClient, sim::nhsa::NhsaSimConfig) {
    let cfg = sim::SimConfig::default();
    let sims = sim::start(cfg.clone(), Arc::new(SystemClock)).await.unwrap();
    let n = cfg.nhsa.clone();
    let centre_pub = sims.nhsa.lock().unwrap().centre_public();
    let party = Party {
        app_id: n.app_id.clone(),
        app_secret: n.app_secret.clone(),
        signer: Sm2Signer::from_secret_bytes(&n.signer_id, &sim::nhsa::demo_secret("carebridge-demo-hospital-sm2")).unwrap(),
        peer: Sm2Verifier::from_public_key_bytes(&n.signer_id, &centre_pub).unwrap(),
    };
    let client = NhsaClient::new(&sims.nhsa_url, party, std::time::Duration::from_secs(3), Arc::new(SystemClock));
    (sims, client, n)
}

fn lines() -> Vec<(String, String, Fen)> {
    vec![
        ("250101001".into(), "血常规".into(), Fen(2_500)),
        ("XY0001".into(), "阿莫西林胶囊".into(), Fen(1_860)),
        ("ZF0001".into(), "医用护具".into(), Fen(4_500)),
    ]
}

fn auth_client(sims: &sim::RunningSims, n: &sim::nhsa::NhsaSimConfig, secret: &str) -> MedInsAuthClient {
    MedInsAuthClient::new(
        MedInsAuthConfig {
            auth_page_url: format!("{}/__sim/medins/auth", sims.nhsa_url),
            family_bind_page_url: format!("{}/__sim/medins/family-bind", sims.nhsa_url),
            receiver_base: sims.nhsa_url.clone(),
            partner_id: n.partner_id.clone(),
            partner_secret: secret.into(),
            org_codg: "H44030300001".into(),
            city_code: "440300".into(),
            timeout: std::time::Duration::from_secs(3),
        },
        Arc::new(SystemClock),
    )
}

/// The patient authorises (the sim issues the one-time code) and the hospital trades it.
async fn authorise(sims: &sim::RunningSims, n: &sim::nhsa::NhsaSimConfig, relative: bool) -> String {
    let code = sims.nhsa.lock().unwrap().issue_auth_code(relative);
    let auth = auth_client(sims, n, &n.partner_secret).user_query(&code, "oDemo_zhangwei_0001").await.unwrap();
    assert_eq!(auth.for_relative, relative);
    assert!(auth.pay_auth_no.starts_with("AUTH440300"), "{}", auth.pay_auth_no);
    auth.pay_auth_no
}

async fn confirm(sims: &sim::RunningSims, id: &str) {
    let r = reqwest::Client::new().post(format!("{}/__sim/nhsa/confirm/{id}", sims.nhsa_url)).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn authorisation_is_signed_single_use_and_knows_relatives() {
    let (sims, _, n) = setup().await;
    let code = sims.nhsa.lock().unwrap().issue_auth_code(false);
    let e = auth_client(&sims, &n, "wrong-secret").user_query(&code, "o1").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InsuranceAuthFailed, "a bad partner signature is refused");
    let good = auth_client(&sims, &n, &n.partner_secret);
    assert!(!good.user_query(&code, "o1").await.unwrap().for_relative);
    assert_eq!(good.user_query(&code, "o1").await.unwrap_err().code, ErrorCode::InsuranceAuthFailed, "a code works once");
    authorise(&sims, &n, true).await;
    let url = good.authorize_url("http://localhost:1/pay/CB1/insurance-auth", "st&ate", gateways::nhsa::auth::AuthFor::Relative);
    assert!(url.contains("relative=1") && url.contains("state=st%26ate") && url.contains("bizType=04107"), "{url}");
}

#[tokio::test]
async fn pay_query_refund_round_trip() {
    let (sims, nhsa, n) = setup().await;
    // Everything in the catalogue and the personal account used: no cash part.
    let insurable: Vec<(String, String, Fen)> = lines().into_iter().take(2).collect();
    let auth = authorise(&sims, &n, false).await;
    let up = nhsa.upload_fees("CB-RX-1", &auth, &insurable, Fen(4_360), true).await.unwrap();
    assert!(up.pay_ord_id.starts_with("ORD"));
    let pre = nhsa.pay_order(&up, &auth, true).await.unwrap();
    assert_eq!(pre.fee_sumamt, Fen(4_360));
    assert_eq!((pre.fund_pay, pre.psn_acct_pay, pre.own_pay_amt), (Fen(3_052), Fen(1_308), Fen(0)), "70 % fund, the rest from the account");
    assert_eq!(classify(&pre.ord_stas), Some(OrdStasClass::Processing), "6202 is not payment success");
    confirm(&sims, &up.pay_ord_id).await;
    let q = nhsa.query(&up).await.unwrap();
    assert_eq!(classify(&q.ord_stas), Some(OrdStasClass::Paid));
    // Partial fund refund, retried with the same serial: one refund.
    assert_eq!(nhsa.refund(&up, "RF-1", "HI", Fen(1_000), Fen(0), Fen(0)).await.unwrap(), "SUCC");
    assert_eq!(nhsa.refund(&up, "RF-1", "HI", Fen(1_000), Fen(0), Fen(0)).await.unwrap(), "SUCC");
    assert_eq!(nhsa.query(&up).await.unwrap().ord_stas, "8");
    // More than is left is refused; the same serial with another amount too.
    assert!(nhsa.refund(&up, "RF-2", "HI", pre.fund_pay, Fen(0), Fen(0)).await.is_err());
    assert!(nhsa.refund(&up, "RF-1", "HI", Fen(999), Fen(0), Fen(0)).await.is_err());
    // The rest, both parts: fully refunded.
    nhsa.refund(&up, "RF-3", "ALL", Fen(pre.fund_pay.0 - 1_000), pre.psn_acct_pay, Fen(0)).await.unwrap();
    assert_eq!(nhsa.query(&up).await.unwrap().ord_stas, "7");
}

#[tokio::test]
async fn mixed_order_waits_for_cash_and_reverses() {
    let (sims, nhsa, n) = setup().await;
    let auth = authorise(&sims, &n, true).await;
    let up = nhsa.upload_fees("CB-RX-5", &auth, &lines(), Fen(4_360), true).await.unwrap();
    // A child's insurance (亲情付) has no personal account, even when asked.
    let pre = nhsa.pay_order(&up, &auth, true).await.unwrap();
    assert_eq!((pre.fund_pay, pre.psn_acct_pay, pre.own_pay_amt), (Fen(3_052), Fen(0), Fen(5_808)));
    assert_eq!(pre.ord_stas, "2", "cash due");
    confirm(&sims, &up.pay_ord_id).await;
    assert_eq!(nhsa.query(&up).await.unwrap().ord_stas, "4", "insurance paid, cash pending");
    // The cash part failed: the insurance part is reversed (P9).
    assert_eq!(nhsa.refund(&up, "RV-1", "HI", pre.fund_pay, Fen(0), Fen(0)).await.unwrap(), "SUCC");
    assert_eq!(classify(&nhsa.query(&up).await.unwrap().ord_stas), Some(OrdStasClass::Refunded));
}

#[tokio::test]
async fn revoke_unpaid_and_refuse_bad_input() {
    let (sims, nhsa, n) = setup().await;
    let auth = authorise(&sims, &n, false).await;
    let up = nhsa.upload_fees("CB-RX-2", &auth, &lines(), Fen(4_360), true).await.unwrap();
    assert!(nhsa.pay_order(&up, "AUTH440300NEVERISSUED", false).await.is_err(), "an authorisation the centre never issued is refused");
    nhsa.revoke(&up).await.unwrap();
    assert_eq!(classify(&nhsa.query(&up).await.unwrap().ord_stas), Some(OrdStasClass::Cancelled));
    assert!(nhsa.refund(&up, "RF-X", "ALL", Fen(100), Fen(0), Fen(0)).await.is_err(), "nothing to refund on a revoked order");
    // Insurable above the total: the centre refuses the upload.
    assert!(nhsa.upload_fees("CB-RX-3", &auth, &lines(), Fen(9_999), true).await.is_err());
    let paid = nhsa.upload_fees("CB-RX-4", &auth, &lines(), Fen(4_360), true).await.unwrap();
    nhsa.pay_order(&paid, &auth, false).await.unwrap();
    confirm(&sims, &paid.pay_ord_id).await;
    assert!(nhsa.revoke(&paid).await.is_err(), "a paid order is refunded, not revoked");
}

#[tokio::test]
async fn forged_signatures_and_faults() {
    let (sims, _, n) = setup().await;
    // A hospital with the wrong key: the centre refuses its requests.
    let centre_pub = sims.nhsa.lock().unwrap().centre_public();
    let impostor = Party {
        app_id: n.app_id.clone(),
        app_secret: n.app_secret.clone(),
        signer: Sm2Signer::generate(&n.signer_id),
        peer: Sm2Verifier::from_public_key_bytes(&n.signer_id, &centre_pub).unwrap(),
    };
    let bad = NhsaClient::new(&sims.nhsa_url, impostor, std::time::Duration::from_secs(3), Arc::new(SystemClock));
    let e = bad.upload_fees("X", "AUTH1", &lines(), Fen(0), true).await.unwrap_err();
    assert!(e.detail.contains("code 1002"), "{e:?}");
    // A hospital expecting another centre key: it refuses the centre's answers.
    let wrong_peer = Party {
        app_id: n.app_id.clone(),
        app_secret: n.app_secret.clone(),
        signer: Sm2Signer::from_secret_bytes(&n.signer_id, &sim::nhsa::demo_secret("carebridge-demo-hospital-sm2")).unwrap(),
        peer: Sm2Verifier::from_public_key_bytes(&n.signer_id, &Sm2Signer::generate(&n.signer_id).public_key_bytes()).unwrap(),
    };
    let suspicious = NhsaClient::new(&sims.nhsa_url, wrong_peer, std::time::Duration::from_secs(3), Arc::new(SystemClock));
    let e = suspicious.upload_fees("Y", "AUTH1", &lines(), Fen(0), true).await.unwrap_err();
    assert!(e.detail.contains("signature"), "{e:?}");
    assert_eq!(e.code, ErrorCode::UpstreamUnavailable);
    // A lost answer after the centre acted: an error for us, the order exists there.
    let (sims2, nhsa2, _) = setup().await;
    reqwest::Client::new().post(format!("{}/__sim/faults", sims2.nhsa_url)).json(&serde_json::json!({"lose_response_next": ["6201"]})).send().await.unwrap();
    assert!(nhsa2.upload_fees("Z", "AUTH1", &lines(), Fen(0), true).await.unwrap_err().detail.contains("6201"));
}
