//! The insurance-centre connector against its simulator over real HTTP: the envelope
//! both ways, the ordStas machine, refunds idempotent on their serial number and never
//! above what was paid, revocation, and forged or faulty answers refused.
use crypto::sm2::{Sm2Signer, Sm2Verifier};
use domain::{ErrorCode, Fen, SystemClock};
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
    let client = NhsaClient::new(&sims.nhsa_url, party, std::time::Duration::from_secs(3));
    (sims, client, n)
}

fn lines() -> Vec<(String, String, Fen)> {
    vec![
        ("250101001".into(), "血常规".into(), Fen(2_500)),
        ("XY0001".into(), "阿莫西林胶囊".into(), Fen(1_860)),
        ("ZF0001".into(), "医用护具".into(), Fen(4_500)),
    ]
}

async fn confirm(sims: &sim::RunningSims, id: &str) {
    let r = reqwest::Client::new().post(format!("{}/__sim/nhsa/confirm/{id}", sims.nhsa_url)).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn pay_query_refund_round_trip() {
    let (sims, nhsa, _) = setup().await;
    let up = nhsa.upload_fees("CB-RX-1", "AUTH440300202611250800000001", &lines(), Fen(4_360)).await.unwrap();
    assert!(up.pay_ord_id.starts_with("ORD"));
    let pre = nhsa.pay_order(&up, "AUTH440300202611250800000001", false).await.unwrap();
    assert_eq!(pre.fee_sumamt, Fen(8_860));
    assert_eq!(pre.fund_pay.0 + pre.own_pay_amt.0, 8_860, "parts sum to the total (P9)");
    assert_eq!(classify(&pre.ord_stas), Some(OrdStasClass::Processing), "6202 is not payment success");
    confirm(&sims, &up.pay_ord_id).await;
    let q = nhsa.query(&up).await.unwrap();
    assert_eq!(classify(&q.ord_stas), Some(OrdStasClass::Paid));
    // Partial cash refund, retried with the same serial: one refund.
    assert_eq!(nhsa.refund(&up, "RF-1", "CASH", Fen(0), Fen(0), Fen(1_000)).await.unwrap(), "SUCC");
    assert_eq!(nhsa.refund(&up, "RF-1", "CASH", Fen(0), Fen(0), Fen(1_000)).await.unwrap(), "SUCC");
    assert_eq!(nhsa.query(&up).await.unwrap().ord_stas, "10");
    // More than is left is refused; the same serial with another amount too.
    assert!(nhsa.refund(&up, "RF-2", "CASH", Fen(0), Fen(0), Fen(pre.own_pay_amt.0)).await.is_err());
    assert!(nhsa.refund(&up, "RF-1", "CASH", Fen(0), Fen(0), Fen(999)).await.is_err());
    // The rest, both parts: fully refunded.
    nhsa.refund(&up, "RF-3", "ALL", pre.fund_pay, Fen(0), Fen(pre.own_pay_amt.0 - 1_000)).await.unwrap();
    assert_eq!(classify(&nhsa.query(&up).await.unwrap().ord_stas), Some(OrdStasClass::Refunded));
}

#[tokio::test]
async fn revoke_unpaid_and_refuse_bad_input() {
    let (sims, nhsa, _) = setup().await;
    let up = nhsa.upload_fees("CB-RX-2", "AUTH1", &lines(), Fen(4_360)).await.unwrap();
    assert!(nhsa.pay_order(&up, "NOT-AN-AUTH", false).await.is_err(), "a bad authorisation is refused");
    nhsa.revoke(&up).await.unwrap();
    assert_eq!(classify(&nhsa.query(&up).await.unwrap().ord_stas), Some(OrdStasClass::Cancelled));
    assert!(nhsa.refund(&up, "RF-X", "ALL", Fen(100), Fen(0), Fen(0)).await.is_err(), "nothing to refund on a revoked order");
    // Insurable above the total: the centre refuses the upload.
    assert!(nhsa.upload_fees("CB-RX-3", "AUTH1", &lines(), Fen(9_999)).await.is_err());
    let paid = nhsa.upload_fees("CB-RX-4", "AUTH1", &lines(), Fen(4_360)).await.unwrap();
    nhsa.pay_order(&paid, "AUTH1", false).await.unwrap();
    confirm(&sims, &paid.pay_ord_id).await;
    assert!(nhsa.revoke(&paid).await.is_err(), "a settled order is refunded, not revoked");
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
    let bad = NhsaClient::new(&sims.nhsa_url, impostor, std::time::Duration::from_secs(3));
    let e = bad.upload_fees("X", "AUTH1", &lines(), Fen(0)).await.unwrap_err();
    assert!(e.detail.contains("code 1002"), "{e:?}");
    // A hospital expecting another centre key: it refuses the centre's answers.
    let wrong_peer = Party {
        app_id: n.app_id.clone(),
        app_secret: n.app_secret.clone(),
        signer: Sm2Signer::from_secret_bytes(&n.signer_id, &sim::nhsa::demo_secret("carebridge-demo-hospital-sm2")).unwrap(),
        peer: Sm2Verifier::from_public_key_bytes(&n.signer_id, &Sm2Signer::generate(&n.signer_id).public_key_bytes()).unwrap(),
    };
    let suspicious = NhsaClient::new(&sims.nhsa_url, wrong_peer, std::time::Duration::from_secs(3));
    let e = suspicious.upload_fees("Y", "AUTH1", &lines(), Fen(0)).await.unwrap_err();
    assert!(e.detail.contains("signature"), "{e:?}");
    assert_eq!(e.code, ErrorCode::UpstreamUnavailable);
    // A lost answer after the centre acted: an error for us, the order exists there.
    let (sims2, nhsa2, _) = setup().await;
    reqwest::Client::new().post(format!("{}/__sim/faults", sims2.nhsa_url)).json(&serde_json::json!({"lose_response_next": ["6201"]})).send().await.unwrap();
    assert!(nhsa2.upload_fees("Z", "AUTH1", &lines(), Fen(0)).await.unwrap_err().detail.contains("6201"));
}
