//! The e-invoice connector against the platform's simulator over real HTTP: the signed
//! Base64 envelope, issuing idempotent on the business number, the lookup that recovers a
//! lost answer, reversal (冲红) and its state, the PDF, and each refusal and fault mapped
//! to the catalogue.
use domain::invoices::{InvoiceAmounts, InvoiceKind, InvoiceRequest, PayChannelCodes, charge_lines, pay_channels};
use domain::ports::EInvoicePort;
use domain::{ErrorCode, Fen, SystemClock};
use gateways::einvoice::{EInvoiceClient, EInvoiceClientConfig, Methods};
use std::sync::Arc;
use std::time::Duration;

async fn setup() -> (sim::RunningSims, EInvoiceClient) {
    let cfg = sim::SimConfig::default();
    let sims = sim::start(cfg.clone(), Arc::new(SystemClock)).await.unwrap();
    let client = client(&sims.einvoice_url, &cfg.einvoice.key);
    (sims, client)
}

fn client(url: &str, key: &str) -> EInvoiceClient {
    EInvoiceClient::new(EInvoiceClientConfig {
        base_url: url.to_owned(),
        appid: sim::einvoice::EInvoiceSimConfig::default().appid,
        key: key.into(),
        place_code: "001".into(),
        payee: "深圳市示范医院".into(),
        methods: Methods::default(),
        timeout: Duration::from_millis(800),
    })
}

fn request(bus_no: &str, own: i64, fund: i64) -> InvoiceRequest {
    let kept = InvoiceAmounts::new(Fen(fund), Fen(0), Fen(0), Fen(own)).unwrap();
    let lines = vec![
        domain::billing::OrderLine {
            code: "R1".into(),
            name: "阿莫西林胶囊".into(),
            qty: 2,
            unit_price: Fen((own + fund) / 4),
            amount: Fen((own + fund) / 2),
            insurable: true,
        },
        domain::billing::OrderLine {
            code: "R2".into(),
            name: "血常规".into(),
            qty: 1,
            unit_price: Fen(own + fund - (own + fund) / 2),
            amount: Fen(own + fund - (own + fund) / 2),
            insurable: false,
        },
    ];
    InvoiceRequest {
        kind: InvoiceKind::Outpatient,
        bus_no: bus_no.into(),
        bus_time: chrono::Utc::now(),
        payer_name: "张伟".into(),
        id_card_no: String::new(),
        his_patient_id: "P00010001".into(),
        card_no: "800010001".into(),
        dept: "门诊缴费".into(),
        amounts: kept,
        charges: charge_lines(&lines, kept, "门诊费用"),
        pay_channels: pay_channels(kept, &PayChannelCodes::default()),
        stay: None,
        order_no: "O1".into(),
        remark: String::new(),
    }
}

#[tokio::test]
async fn issue_lookup_reverse_and_the_pdf() {
    let (sims, c) = setup().await;
    let req = request("ORDER-O1-1", 3_000, 7_000);
    let first = c.issue(&req).await.unwrap();
    assert!(!first.batch_code.is_empty() && !first.bill_no.is_empty() && !first.check_code.is_empty());
    assert!(first.qr_png_base64.len() > 100, "the verification QR comes as an image");
    // The same business again is the same bill, not a second one.
    let again = c.issue(&req).await.unwrap();
    assert_eq!((again.batch_code.as_str(), again.bill_no.as_str()), (first.batch_code.as_str(), first.bill_no.as_str()));
    {
        let g = sims.einvoice.lock().unwrap();
        assert_eq!((g.bills.len(), g.issue_calls), (1, 2));
        let p = &g.bills[0].params;
        assert_eq!((p["totalAmt"].as_str(), p["fundPay"].as_str(), p["ownPay"].as_str()), (Some("100.00"), Some("70.00"), Some("30.00")));
        assert_eq!(p["busDateTime"].as_str().unwrap().len(), 17);
        assert_eq!(p["payChannelDetail"].as_array().unwrap().len(), 2, "fund and own");
    }
    // A different amount under a used business number is refused.
    let e = c.issue(&request("ORDER-O1-1", 3_100, 7_000)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvoiceRefused);
    assert_eq!(c.find_by_bus_no("ORDER-O1-1", req.bus_time).await.unwrap().unwrap().bill_no, first.bill_no);
    assert_eq!(c.find_by_bus_no("ORDER-NEVER-1", req.bus_time).await.unwrap(), None);

    let pdf = c.pdf(&first, 8 << 20).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let st = c.status(&first.batch_code, &first.bill_no).await.unwrap();
    assert!(!st.reversed && !st.voided);
    let red = c.reverse(&first.batch_code, &first.bill_no, "退费冲红", chrono::Utc::now()).await.unwrap();
    assert_ne!(red.bill_no, first.bill_no);
    assert!(c.status(&first.batch_code, &first.bill_no).await.unwrap().reversed);
    // Reversing again names the same red-letter bill.
    assert_eq!(c.reverse(&first.batch_code, &first.bill_no, "退费冲红", chrono::Utc::now()).await.unwrap(), red);
    // The page the QR opens says the bill was reversed.
    let check = reqwest::get(format!(
        "{}/medical-web/check?billBatchCode={}&billNo={}&random={}",
        sims.einvoice_url, first.batch_code, first.bill_no, first.check_code
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(check.contains("已冲红"), "{check}");
}

#[tokio::test]
async fn refusals_and_faults_map_to_the_catalogue() {
    let (sims, c) = setup().await;
    // A wrong key: the platform refuses the signature.
    let forged = client(&sims.einvoice_url, "not-the-key");
    assert_eq!(forged.issue(&request("ORDER-F-1", 1_000, 0)).await.unwrap_err().code, ErrorCode::InvoiceRefused);
    // What does not add up never leaves the connector.
    let mut bad = request("ORDER-B-1", 1_000, 0);
    bad.pay_channels[0].amount = Fen(999);
    assert_eq!(c.issue(&bad).await.unwrap_err().code, ErrorCode::InvoiceRefused);
    assert_eq!(sims.einvoice.lock().unwrap().issue_calls, 0, "neither reached the issuing: one failed the signature, one never left");
    // The platform's own refusal, with its text.
    sims.einvoice.lock().unwrap().faults.refuse_next = vec![("E3001".into(), "开票点票据已用完".into())];
    let e = c.issue(&request("ORDER-R-1", 1_000, 0)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvoiceRefused);
    assert!(e.detail.contains("开票点票据已用完"), "{}", e.detail);
    // A lost answer is unknown, and the lookup finds what was issued.
    sims.einvoice.lock().unwrap().faults.lose_answers = 1;
    let req = request("ORDER-L-1", 1_000, 0);
    assert_eq!(c.issue(&req).await.unwrap_err().code, ErrorCode::UpstreamUnavailable);
    assert!(c.find_by_bus_no("ORDER-L-1", req.bus_time).await.unwrap().is_some(), "it was issued");
    // Down, or hanging past the timeout: unknown too.
    sims.einvoice.lock().unwrap().faults = sim::einvoice::EInvoiceFaults { down: Some("5xx".into()), ..Default::default() };
    assert_eq!(c.find_by_bus_no("ORDER-L-1", req.bus_time).await.unwrap_err().code, ErrorCode::UpstreamUnavailable);
    sims.einvoice.lock().unwrap().faults = sim::einvoice::EInvoiceFaults { down: Some("hang".into()), hang_ms: 2_000, ..Default::default() };
    assert_eq!(c.find_by_bus_no("ORDER-L-1", req.bus_time).await.unwrap_err().code, ErrorCode::UpstreamUnavailable);
}
