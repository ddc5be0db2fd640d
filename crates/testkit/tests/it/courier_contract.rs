//! The courier connector (SF Express 丰桥) against its simulator over real HTTP: the signed
//! form, orders idempotent on our order number (a lost answer is asked again and answers the
//! same waybill), addresses the courier does not serve, cancellation (twice is once; after
//! pickup refused), routes oldest first, route pushes taken once and re-pushed until taken,
//! and each refusal and fault mapped to the catalogue.
use domain::ports::{CourierPort, ShipmentOutcome, ShipmentParty, ShipmentRequest};
use domain::{ErrorCode, SystemClock};
use gateways::courier::client::{CourierClient, CourierClientConfig};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn client(url: &str, check_word: &str) -> CourierClient {
    let cfg = sim::courier::CourierSimConfig::default();
    CourierClient::new(
        CourierClientConfig {
            url: format!("{url}/std/service"),
            partner_id: cfg.partner_id,
            check_word: check_word.into(),
            monthly_card: "7551234567".into(),
            express_type_id: 2,
            timeout: Duration::from_millis(800),
        },
        Arc::new(SystemClock),
    )
}

fn party(name: &str, address: &str) -> ShipmentParty {
    ShipmentParty {
        contact: name.into(),
        mobile: "13800138000".into(),
        province: "广东省".into(),
        city: "深圳市".into(),
        county: "福田区".into(),
        address: address.into(),
        company: String::new(),
    }
}

fn request(order_id: &str, address: &str) -> ShipmentRequest {
    ShipmentRequest {
        order_id: order_id.into(),
        sender: ShipmentParty { company: "深圳市示范医院".into(), ..party("病案室", "深圳市福田区示范路1号病案室") },
        receiver: party("张伟", address),
        cargo: "病历复印件".into(),
        remark: "文件".into(),
    }
}

async fn faults(url: &str, f: Value) {
    let r = reqwest::Client::new().post(format!("{url}/__sim/courier/faults")).json(&f).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

async fn advance(url: &str, waybill: &str) -> Value {
    reqwest::Client::new().post(format!("{url}/__sim/courier/{waybill}/advance")).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn orders_are_idempotent_cancellable_and_tracked() {
    let (url, state) = sim::courier::start(Default::default(), Arc::new(SystemClock), 0).await.unwrap();
    let sf = client(&url, &sim::courier::CourierSimConfig::default().check_word);
    let first = sf.create_shipment(&request("RC0001", "深圳市福田区福华路1号")).await.unwrap();
    let ShipmentOutcome::Accepted { waybill_no } = first.clone() else { panic!("{first:?}") };
    assert!(waybill_no.starts_with("SF"));
    assert_eq!(sf.create_shipment(&request("RC0001", "深圳市福田区福华路1号")).await.unwrap(), first, "a repeat answers the first waybill");
    // A lost answer: placed, then asked again under the same order number — one parcel.
    faults(&url, json!({"lose_answers": 1})).await;
    assert_eq!(sf.create_shipment(&request("RC0002", "深圳市南山区科技园")).await.unwrap_err().code, ErrorCode::UpstreamUnavailable);
    let again = sf.create_shipment(&request("RC0002", "深圳市南山区科技园")).await.unwrap();
    assert!(matches!(again, ShipmentOutcome::Accepted { .. }));
    assert_eq!(state.lock().unwrap().shipments.len(), 2);
    // Not served there; refused by the courier; a bad check word; the courier down.
    assert!(matches!(sf.create_shipment(&request("RC0003", "某地不可收派区域")).await.unwrap(), ShipmentOutcome::Undeliverable { .. }));
    faults(&url, json!({"refuse_next": [["20052", "月结卡号不匹配"]]})).await;
    assert_eq!(sf.create_shipment(&request("RC0004", "深圳市福田区福华路2号")).await.unwrap_err().code, ErrorCode::CourierRefused);
    assert_eq!(client(&url, "wrong").create_shipment(&request("RC0005", "深圳")).await.unwrap_err().code, ErrorCode::CourierRefused, "A1006");
    faults(&url, json!({"down": true})).await;
    assert_eq!(sf.routes(&waybill_no).await.unwrap_err().code, ErrorCode::UpstreamUnavailable);
    faults(&url, json!({})).await;

    // The route, oldest first whatever order the courier answers in.
    for op in ["50", "30", "31"] {
        assert_eq!(advance(&url, &waybill_no).await["opCode"], op);
    }
    let routes = sf.routes(&waybill_no).await.unwrap();
    assert_eq!(routes.iter().map(|r| r.op_code.as_str()).collect::<Vec<_>>(), ["50", "30", "31"]);
    assert!(routes.windows(2).all(|w| w[0].at <= w[1].at) && !routes[2].is_delivered());
    // Picked up: no longer cancellable. Not picked up: cancelled, twice is once, the number
    // is never reused.
    assert_eq!(sf.cancel_shipment("RC0001", &waybill_no).await.unwrap_err().code, ErrorCode::CourierRefused);
    let ShipmentOutcome::Accepted { waybill_no: second } = again else { unreachable!() };
    sf.cancel_shipment("RC0002", &second).await.unwrap();
    sf.cancel_shipment("RC0002", &second).await.unwrap();
    assert_eq!(sf.create_shipment(&request("RC0002", "深圳市南山区科技园")).await.unwrap_err().code, ErrorCode::CourierRefused);
}

#[tokio::test]
async fn route_pushes_are_parsed_and_pushed_again_until_taken() {
    let (url, _state) = sim::courier::start(Default::default(), Arc::new(SystemClock), 0).await.unwrap();
    let sf = client(&url, &sim::courier::CourierSimConfig::default().check_word);
    let ShipmentOutcome::Accepted { waybill_no } = sf.create_shipment(&request("RC0100", "深圳市福田区福华路1号")).await.unwrap() else { panic!() };
    // The merchant's endpoint: refuses the first push, takes the rest; keeps the step ids.
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let calls = Arc::new(Mutex::new(0u32));
    let (r2, c2) = (received.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (received, calls) = (r2.clone(), c2.clone());
            async move {
                let mut n = calls.lock().unwrap();
                *n += 1;
                let steps = gateways::courier::parse_route_push(&body).expect("a route push");
                if *n == 1 {
                    return axum::Json(gateways::courier::push_answer(false));
                }
                received.lock().unwrap().extend(steps.into_iter().map(|s| format!("{}:{}", s.id, s.step.op_code)));
                axum::Json(gateways::courier::push_answer(true))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let r = reqwest::Client::new().post(format!("{url}/__sim/courier/push-url")).json(&json!({"url": push})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(advance(&url, &waybill_no).await["pushed"], false, "refused: the courier keeps it");
    assert_eq!(advance(&url, &waybill_no).await["pushed"], true);
    for _ in 0..3 {
        advance(&url, &waybill_no).await;
    }
    let got = received.lock().unwrap().clone();
    let ops: Vec<&str> = got.iter().map(|s| s.split(':').nth(1).unwrap()).collect();
    assert_eq!(ops, ["50", "30", "31", "44", "80"], "each step once, the refused one pushed again");
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|s| s.split(':').next().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(
        reqwest::Client::new().post(format!("{url}/__sim/courier/{waybill_no}/advance")).send().await.unwrap().status(),
        409,
        "signed for: no further step"
    );
    assert!(sf.routes(&waybill_no).await.unwrap().last().unwrap().is_delivered());
}
