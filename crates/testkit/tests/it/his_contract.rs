//! The HIS connector against the HIS simulator over real HTTP: every operation of
//! protocols.md §8.2, the answers checked, and the faults (refusals, bad keys, lost
//! answers after commit) mapped to the catalogue.
use chrono::Duration;
use domain::ports::{HisPort, NewHisPatient};
use domain::{Clock, ErrorCode, Fen, SystemClock};
use gateways::{HisClient, HisClientConfig};
use std::sync::Arc;

async fn setup() -> (sim::RunningSims, HisClient) {
    let cfg = sim::SimConfig::default();
    let sims = sim::start(cfg.clone(), Arc::new(SystemClock)).await.unwrap();
    let client = HisClient::new(
        HisClientConfig {
            base_url: sims.his_url.clone(),
            channel_id: cfg.his.channel_id,
            channel_key: cfg.his.channel_key.into(),
            timeout: std::time::Duration::from_secs(3),
        },
        Arc::new(SystemClock),
    );
    (sims, client)
}

fn today() -> chrono::NaiveDate {
    domain::clock::to_local(SystemClock.now()).date_naive()
}

async fn slot_state(sims: &sim::RunningSims, slot: &str) -> (u64, u64) {
    let v: serde_json::Value = reqwest::get(format!("{}/__sim/slot/{slot}", sims.his_url)).await.unwrap().json().await.unwrap();
    (v["capacity"].as_u64().unwrap(), v["available"].as_u64().unwrap())
}

#[tokio::test]
async fn catalogue_operations() {
    let (_sims, his) = setup().await;
    let depts = his.departments().await.unwrap();
    assert!(depts.len() >= 10);
    let mut doctors = 0;
    for d in &depts {
        let docs = his.doctors(&d.dept_id).await.unwrap();
        doctors += docs.len();
        assert!(docs.iter().all(|x| x.dept_id == d.dept_id && x.treat_fee > Fen::ZERO));
    }
    assert!(doctors >= 30);
    let s = his.schedules("0105", today(), today() + Duration::days(13)).await.unwrap();
    assert!(!s.is_empty(), "the fever clinic is open every day");
    assert!(s.iter().all(|x| x.slots.iter().all(|sl| sl.end - sl.start <= Duration::minutes(30))));
}

#[tokio::test]
async fn patient_lookup_and_idempotent_registration() {
    let (_sims, his) = setup().await;
    let cs = sim::demo::citizens(today());
    let zhang = cs.iter().find(|c| c.name == "张伟").unwrap();
    let p = his.find_patient(&zhang.id_card_no).await.unwrap().unwrap();
    assert_eq!(p.coverage.kind, domain::insurance::InsuranceKind::Tier1);
    assert!(p.coverage.personal_account_balance > Fen::ZERO);
    assert_eq!(p.mobile.as_deref(), Some(zhang.mobile.as_str()), "the HIS's mobile comes through");
    assert_eq!(his.patient(&p.his_patient_id).await.unwrap().unwrap().mobile, p.mobile);
    let chen = his.find_patient(&cs.iter().find(|c| c.name == "陈静").unwrap().id_card_no).await.unwrap().unwrap();
    assert_eq!(chen.coverage.mutual_aid_grants.len(), 1);
    let kid = cs.iter().find(|c| c.name == "杨小宝").unwrap();
    assert!(his.find_patient(&kid.id_card_no).await.unwrap().is_none(), "not yet registered");
    let new = NewHisPatient {
        name: kid.name.clone(),
        id_card_no: kid.id_card_no.clone(),
        mobile: None,
        gender: domain::identity::Gender::Male,
        birth_date: chrono::NaiveDate::from_ymd_opt(2020, 6, 1).unwrap(),
        guardian_id_card_no: kid.guardian_id.clone(),
    };
    let a = his.register_patient(&new).await.unwrap();
    let b = his.register_patient(&new).await.unwrap();
    assert_eq!(a.his_patient_id, b.his_patient_id, "建档 is idempotent per ID number");
    assert_eq!(a.coverage.kind, domain::insurance::InsuranceKind::Children);
    let wrong = NewHisPatient { name: "别人".into(), ..new };
    assert_eq!(his.register_patient(&wrong).await.unwrap_err().code, ErrorCode::RealNameMismatch);
}

#[tokio::test]
async fn lock_unlock_confirm_keep_capacity_right() {
    let (sims, his) = setup().await;
    let zhang = his.find_patient(&sim::demo::citizens(today()).iter().find(|c| c.name == "张伟").unwrap().id_card_no).await.unwrap().unwrap();
    let sched = his.schedules("0105", today() + Duration::days(1), today() + Duration::days(1)).await.unwrap();
    let slot = &sched.iter().find(|s| !s.suspended).unwrap().slots[0];
    let (cap, before) = slot_state(&sims, &slot.slot_id).await;
    assert_eq!(before, cap);
    let lock = his.lock_slot(&slot.slot_id, &zhang.his_patient_id, "ORD-1").await.unwrap();
    assert_eq!(slot_state(&sims, &slot.slot_id).await.1, cap - 1);
    // Same channel order number: the same lock, not a second place.
    let again = his.lock_slot(&slot.slot_id, &zhang.his_patient_id, "ORD-1").await.unwrap();
    assert_eq!(again.pre_id, lock.pre_id);
    assert_eq!(slot_state(&sims, &slot.slot_id).await.1, cap - 1);
    his.unlock_slot(&lock.pre_id).await.unwrap();
    assert_eq!(slot_state(&sims, &slot.slot_id).await.1, cap);
    let lock = his.lock_slot(&slot.slot_id, &zhang.his_patient_id, "ORD-2").await.unwrap();
    assert_eq!(his.confirm_registration(&lock.pre_id, "PAY-1", Fen(lock.reg_fee.0 + 1)).await.unwrap_err().code, ErrorCode::HisRejected, "amount must match");
    let reg = his.confirm_registration(&lock.pre_id, "PAY-1", lock.reg_fee).await.unwrap();
    assert_eq!(his.confirm_registration(&lock.pre_id, "PAY-1", lock.reg_fee).await.unwrap(), reg, "confirm is idempotent");
    assert!(his.unlock_slot(&lock.pre_id).await.is_err(), "a confirmed registration is not unlocked");
    let trades = his.trade_records(today()).await.unwrap();
    assert!(trades.iter().any(|t| t.trade_no == "PAY-1" && t.amount == lock.reg_fee));
}

#[tokio::test]
async fn bills_settlement_reports_and_inpatient() {
    let (_sims, his) = setup().await;
    let cs = sim::demo::citizens(today());
    let zhang = his.find_patient(&cs.iter().find(|c| c.name == "张伟").unwrap().id_card_no).await.unwrap().unwrap();
    let bills = his.unpaid_bills(&zhang.his_patient_id).await.unwrap();
    assert_eq!(bills.len(), 1);
    let ids = vec![bills[0].recipe_id.clone()];
    let insurable: i64 = bills[0].items.iter().filter(|i| i.insurable).map(|i| i.amount.0).sum();
    let share =
        |fund: i64, acct: i64| domain::ports::InsuranceShare { pay_ord_id: "ORD1".into(), fund: Fen(fund), personal_account: Fen(acct), mutual_aid: Fen::ZERO };
    let e = his.pre_settle(&zhang.his_patient_id, &ids, Some(&share(insurable, 1))).await.unwrap_err();
    assert_eq!(e.code, domain::ErrorCode::HisRejected, "insurance parts above the insurable amount are refused");
    let pre = his.pre_settle(&zhang.his_patient_id, &ids, Some(&share(1_000, 500))).await.unwrap();
    assert_eq!((pre.fund_pay, pre.personal_account_pay), (Fen(1_000), Fen(500)), "the HIS books the centre's parts");
    assert_eq!(pre.fund_pay.0 + pre.personal_account_pay.0 + pre.self_pay.0, pre.total.0);
    assert_eq!(pre.total, bills[0].total);
    let st = his.settle(&pre.pre_settle_id, "PAY-2", pre.self_pay).await.unwrap();
    assert_eq!(his.settle(&pre.pre_settle_id, "PAY-2", pre.self_pay).await.unwrap(), st, "settle is idempotent");
    assert!(his.unpaid_bills(&zhang.his_patient_id).await.unwrap().is_empty());
    // The LIS: the seeded history (every state) plus one order per test just paid.
    use domain::reports::LabStatus;
    let orders = his.lab_orders(&zhang.his_patient_id).await.unwrap();
    let count = |s: LabStatus| orders.iter().filter(|o| o.status == s).count();
    assert_eq!((count(LabStatus::Ordered), count(LabStatus::Sampled), count(LabStatus::Reported), count(LabStatus::Rejected)), (3, 1, 1, 1), "{orders:?}");
    assert_eq!(orders.iter().filter(|o| o.recipe_id == ids[0]).count(), 2, "the blood count and the CRP just paid became orders");
    let reported = orders.iter().find(|o| o.status == LabStatus::Reported).unwrap();
    let report = reported.report.as_ref().unwrap();
    assert!(!report.items.is_empty() && report.items.iter().any(|i| i.flag == "H"));
    let pdf = his.report_file(&report.files[0].file_id, 5 << 20).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "the LIS serves a real PDF");
    let e = his.report_file(&report.files[0].file_id, 100).await.unwrap_err();
    assert_eq!(e.code, domain::ErrorCode::ReportFileInvalid, "past the size cap the download stops");
    assert_eq!(his.lab_order(&reported.order_no).await.unwrap().as_ref(), Some(reported));
    assert!(his.lab_order("LO-NOPE").await.unwrap().is_none());
    let sampled = orders.iter().find(|o| o.status == LabStatus::Sampled).unwrap();
    let rejected = his.reject_specimen(&sampled.order_no, "标本溶血", "请重新采血", "lab01").await.unwrap();
    assert_eq!((rejected.status, rejected.revision), (LabStatus::Rejected, sampled.revision + 1));
    assert_eq!(
        his.reject_specimen(&sampled.order_no, "标本溶血", "请重新采血", "lab01").await.unwrap().revision,
        rejected.revision,
        "a second rejection changes nothing"
    );
    let pending = orders.iter().find(|o| o.status == LabStatus::Ordered).unwrap();
    assert_eq!(his.reject_specimen(&pending.order_no, "x", "", "lab01").await.unwrap_err().code, domain::ErrorCode::SpecimenNotRejectable);
    assert!(his.inpatient_stay(&zhang.his_patient_id).await.unwrap().is_none());
    let wu = his.find_patient(&cs.iter().find(|c| c.name == "吴秀英").unwrap().id_card_no).await.unwrap().unwrap();
    let stay = his.inpatient_stay(&wu.his_patient_id).await.unwrap().unwrap();
    assert!(!stay.account_closed && stay.discharge_ordered && stay.deposit_balance > stay.charges_to_date && !stay.doctor.is_empty());
    assert_eq!(his.discharge_pre_settle(&stay.inpatient_no).await.unwrap_err().code, ErrorCode::HisRejected, "no pre-settlement before 封账");
    his.close_account(&stay.inpatient_no, "nurse01").await.unwrap();
    his.close_account(&stay.inpatient_no, "nurse01").await.unwrap();
    assert!(his.inpatient_stay(&wu.his_patient_id).await.unwrap().unwrap().account_closed, "封账, twice the same");
    let wu_card = his.card_account(&wu.his_patient_id).await.unwrap().unwrap().card_no;
    assert!(his.pay_deposit(&stay.inpatient_no, &wu_card, Fen(10_000), "DEP-1").await.is_err(), "closed account takes no deposit");
    // Pre-settle, settle (a repeat answers the same settlement), cancel (2305), settle again.
    let q = his.discharge_pre_settle(&stay.inpatient_no).await.unwrap();
    assert_eq!(q.total, stay.charges_to_date);
    assert_eq!(q.deposits.len(), 2);
    let surplus = domain::Fen(q.deposits_held().0 - q.self_pay.0);
    let parts = domain::inpatient::split_surplus(&q.deposits, surplus).unwrap();
    let req = domain::ports::DischargeSettleRequest {
        inpatient_no: stay.inpatient_no.clone(),
        pre_settle_id: q.pre_settle_id.clone(),
        settle_no: "DS-1".into(),
        paid: None,
        refunds: parts.clone(),
    };
    let wrong = domain::ports::DischargeSettleRequest { refunds: vec![], ..req.clone() };
    assert_eq!(his.discharge_settle(&wrong).await.unwrap_err().code, ErrorCode::HisRejected, "a split that is not the surplus is refused");
    let settled = his.discharge_settle(&req).await.unwrap();
    let domain::ports::DischargeSettleOutcome::Settled { settle_id, insurance, .. } = settled.clone() else { panic!("settled") };
    assert!(insurance.is_some_and(|i| i.setl_id.is_some()), "2304 carries setl_id");
    assert_eq!(his.discharge_settle(&req).await.unwrap(), settled, "same settlement number, same answer");
    let other = domain::ports::DischargeSettleRequest { settle_no: "DS-2".into(), ..req.clone() };
    assert!(matches!(his.discharge_settle(&other).await.unwrap(), domain::ports::DischargeSettleOutcome::SettledElsewhere { .. }));
    assert!(his.stay_deposits(&stay.inpatient_no).await.unwrap().iter().map(|d| d.refunded.0).sum::<i64>() == surplus.0);
    his.cancel_discharge_settlement(&settle_id, "费用有误").await.unwrap();
    assert!(his.stay_deposits(&stay.inpatient_no).await.unwrap().iter().all(|d| d.refunded.0 == 0), "2305 gives the deposits back to the stay");
    assert!(his.discharge_summary(&stay.inpatient_no).await.unwrap().is_some_and(|s| !s.medicines.is_empty() && s.follow_up.is_some()));
    assert!(his.ward_inpatients().await.unwrap().iter().any(|w| w.stay.inpatient_no == stay.inpatient_no && w.name == "吴秀英"));
    let huang = his.find_patient(&cs.iter().find(|c| c.name == "黄强").unwrap().id_card_no).await.unwrap().unwrap();
    let stay = his.inpatient_stay(&huang.his_patient_id).await.unwrap().unwrap();
    // Deposits are posted against the patient's own card: another's is refused, and the
    // card's transactions name the deposit.
    let card = his.card_account(&huang.his_patient_id).await.unwrap().unwrap().card_no;
    let e = his.pay_deposit(&stay.inpatient_no, &wu_card, Fen(100_000), "DEP-X").await.unwrap_err();
    assert!(e.code == ErrorCode::HisRejected && e.detail.contains("2021"), "{e:?}");
    let bal = his.pay_deposit(&stay.inpatient_no, &card, Fen(100_000), "DEP-2").await.unwrap();
    assert_eq!(bal, Fen(stay.deposit_balance.0 + 100_000));
    assert_eq!(his.pay_deposit(&stay.inpatient_no, &card, Fen(100_000), "DEP-2").await.unwrap(), bal, "same trade number, no second deposit");
    let trades = his.card_trades(&huang.his_patient_id).await.unwrap();
    assert!(trades.iter().any(|t| t.amount == Fen(100_000) && t.note.contains(&card)), "{trades:?}");
    assert_eq!(his.recharge_card(&huang.his_patient_id, &wu_card, Fen(5_000), "RC-X").await.unwrap_err().code, ErrorCode::HisRejected);
    let fees = his.daily_fees(&stay.inpatient_no, today()).await.unwrap();
    assert_eq!(fees.items.iter().map(|i| i.item.amount.0).sum::<i64>(), fees.total.0);
}

#[tokio::test]
async fn faults_map_to_the_catalogue() {
    let (sims, his) = setup().await;
    let bad_key = HisClient::new(
        HisClientConfig { base_url: sims.his_url.clone(), channel_id: "WX01".into(), channel_key: "wrong".into(), timeout: std::time::Duration::from_secs(2) },
        Arc::new(SystemClock),
    );
    assert_eq!(bad_key.departments().await.unwrap_err().code, ErrorCode::HisUnavailable, "a signature refusal is a configuration fault");
    let unreachable = HisClient::new(
        HisClientConfig {
            base_url: "http://127.0.0.1:9".into(),
            channel_id: "WX01".into(),
            channel_key: "k".into(),
            timeout: std::time::Duration::from_secs(2),
        },
        Arc::new(SystemClock),
    );
    assert_eq!(unreachable.departments().await.unwrap_err().code, ErrorCode::HisUnavailable);
    let set = |f: serde_json::Value| {
        let url = format!("{}/__sim/faults", sims.his_url);
        async move { reqwest::Client::new().post(url).json(&f).send().await.unwrap() }
    };
    set(serde_json::json!({"fail_next": [["department_list", "9999"]]})).await;
    assert_eq!(his.departments().await.unwrap_err().code, ErrorCode::HisRejected);
    assert!(his.departments().await.is_ok(), "one failure only");
    // A lock whose answer is lost: the HIS holds the place although we saw an error.
    let zhang = his.find_patient(&sim::demo::citizens(today()).iter().find(|c| c.name == "张伟").unwrap().id_card_no).await.unwrap().unwrap();
    // A session that is not suspended: the demo suspends about one in fifty, by date.
    let sessions = his.schedules("0105", today() + Duration::days(2), today() + Duration::days(2)).await.unwrap();
    let slot = sessions.iter().find(|s| !s.suspended).unwrap().slots[1].slot_id.clone();
    let (cap, _) = slot_state(&sims, &slot).await;
    set(serde_json::json!({"lose_response_next": ["lock_reg"]})).await;
    assert_eq!(his.lock_slot(&slot, &zhang.his_patient_id, "ORD-LOST").await.unwrap_err().code, ErrorCode::HisUnavailable);
    assert_eq!(slot_state(&sims, &slot).await.1, cap - 1, "committed on the HIS side");
    // Retrying with the same order number recovers the same lock (no second place).
    let lock = his.lock_slot(&slot, &zhang.his_patient_id, "ORD-LOST").await.unwrap();
    assert_eq!(slot_state(&sims, &slot).await.1, cap - 1);
    his.unlock_slot(&lock.pre_id).await.unwrap();
    set(serde_json::json!({"latency_ms": 2500})).await;
    let slow = HisClient::new(
        HisClientConfig {
            base_url: sims.his_url.clone(),
            channel_id: "WX01".into(),
            channel_key: "demo-his-channel-key".into(),
            timeout: std::time::Duration::from_millis(300),
        },
        Arc::new(SystemClock),
    );
    assert_eq!(slow.departments().await.unwrap_err().code, ErrorCode::HisUnavailable, "a timeout is 'unknown', surfaced as unavailable");
}

#[tokio::test]
async fn admission_notices_register_idempotently_and_refusals_map_to_the_catalogue() {
    use domain::inpatient::admission_booking::NoticeStatus;
    use domain::ports::AdmissionRegistration;
    let (sims, his) = setup().await;
    let zhang = his.find_patient(&sim::demo::citizens(today()).iter().find(|c| c.name == "张伟").unwrap().id_card_no).await.unwrap().unwrap();
    let notices = his.admission_notices(&zhang.his_patient_id).await.unwrap();
    assert_eq!(notices.len(), 1, "the demo's orthopaedic notice");
    let n = &notices[0];
    assert_eq!((n.status.clone(), n.earliest, n.latest), (NoticeStatus::Open, today() + Duration::days(2), today() + Duration::days(14)));
    assert_eq!(n.bed_types.iter().map(|b| b.code.as_str()).collect::<Vec<_>>(), ["GENERAL", "DOUBLE", "SINGLE"]);
    assert!(n.deposit_advised > Fen::ZERO && !n.preparation.is_empty() && !n.ward.is_empty());
    let req = |date: chrono::NaiveDate, bed: &str, booking: &str| AdmissionRegistration {
        notice_no: n.notice_no.clone(),
        date,
        bed_type: bed.into(),
        booking_no: booking.into(),
        operator: "contract".into(),
    };
    // Outside the notice's days, an unknown bed type, a full day: each refused with its own code.
    assert_eq!(his.register_admission(&req(today() + Duration::days(1), "GENERAL", "B1")).await.unwrap_err().code, ErrorCode::AdmissionChoiceInvalid);
    assert_eq!(his.register_admission(&req(today() + Duration::days(3), "VIP", "B1")).await.unwrap_err().code, ErrorCode::AdmissionChoiceInvalid);
    let full = today() + Duration::days(4);
    reqwest::Client::new().post(format!("{}/__sim/faults", sims.his_url)).json(&serde_json::json!({"full_admission_days": [full]})).send().await.unwrap();
    assert_eq!(his.register_admission(&req(full, "GENERAL", "B1")).await.unwrap_err().code, ErrorCode::AdmissionDayFull);
    // Registered; the same booking again answers the same registration; another booking is refused.
    let day = today() + Duration::days(5);
    let no = his.register_admission(&req(day, "DOUBLE", "B1")).await.unwrap();
    assert_eq!(his.register_admission(&req(day, "DOUBLE", "B1")).await.unwrap(), no);
    assert_eq!(his.register_admission(&req(day, "DOUBLE", "B2")).await.unwrap_err().code, ErrorCode::HisRejected);
    let status = his.admission_notices(&zhang.his_patient_id).await.unwrap()[0].status.clone();
    assert_eq!(status, NoticeStatus::Registered { register_no: no.clone(), date: day, bed_type: "DOUBLE".into(), booking_no: Some("B1".into()) });
    // The same booking asked for another day is the registration it holds: the connector
    // refuses an answer for a day it did not ask rather than show it as the patient's.
    assert_eq!(his.register_admission(&req(day + Duration::days(1), "DOUBLE", "B1")).await.unwrap_err().code, ErrorCode::HisUnavailable);
    // Taken back by another booking: refused; by its own: the notice is open again, twice over.
    assert_eq!(his.cancel_admission(&n.notice_no, "B2", "x").await.unwrap_err().code, ErrorCode::HisRejected);
    his.cancel_admission(&n.notice_no, "B1", "患者取消").await.unwrap();
    his.cancel_admission(&n.notice_no, "B1", "患者取消").await.unwrap();
    assert_eq!(his.admission_notices(&zhang.his_patient_id).await.unwrap()[0].status, NoticeStatus::Open);
    assert_eq!(his.cancel_admission("RYTZ-NONE", "B1", "x").await.unwrap_err().code, ErrorCode::HisRejected);
}
