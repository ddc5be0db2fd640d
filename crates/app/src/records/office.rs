//! The records office (病案室, REC-4): the queue with its filters and ageing against the
//! promised time; one screen per application with the photos beside the HIS's identity;
//! approve, or return with reasons (the patient fixes just those); after printing the
//! clerk enters the page count, the fee is recomputed from the table the application was
//! submitted under and the difference settled (多退少补: refunded automatically, or an
//! extra charge sent); then a pickup code and 取件提醒, or a courier order whose route
//! reaches the patient step by step. Fee table versions are kept (REC-5).
use super::{
    RECORDS_APPROVED, RECORDS_DELIVERED, RECORDS_EXTRA_DUE, RECORDS_PRINTED, RECORDS_READY, RECORDS_RETURNED, RECORDS_ROUTE, RECORDS_SHIPPED, lines_for,
    state_moved,
};
use crate::job::{JobError, JobHandler, retry};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::billing::{OrderLine, PerChannel, Purpose as OrderPurpose};
use domain::ports::{HisPatient, ShipmentOutcome, ShipmentParty, ShipmentRequest};
use domain::records::{self, ApplicationState, Delivery, FeeLine, FeeTable, ReturnReason, TrueUp};
use domain::{DomainError, ErrorCode, Fen};
use serde_json::json;
use store::outbox::NewJob;
use store::records::{FeeTableRow, RecordApplicationRow, RecordPhotoRow, RecordQueueFilter, TimelineEntry};

/// Places a courier order for a printed express copy (retried while the courier is down).
pub const RECORDS_SHIP: &str = "records.ship";
/// Deletes the photos of applications closed long enough ago.
pub const RECORDS_PURGE: &str = "records.purge";
const PURGE_EVERY_HOURS: i64 = 24;

/// A queue row.
pub struct QueueRow {
    pub row: RecordApplicationRow,
    /// Minutes past the promised time (negative: minutes left).
    pub overdue_minutes: Option<i64>,
}

pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    pub total: u64,
}

/// One application as the clerk reviews it.
pub struct CaseView {
    pub row: RecordApplicationRow,
    /// The HIS's identity of the patient, to hold the photos against.
    pub identity: Option<HisPatient>,
    pub photos: Vec<RecordPhotoRow>,
    pub timeline: Vec<TimelineEntry>,
    pub table: Option<FeeTable>,
    /// The estimate as paid.
    pub lines: Vec<FeeLine>,
    /// Other open applications for the same stay or visit: (number, state).
    pub same_encounter: Vec<(String, ApplicationState)>,
}

fn clerk_name(actor: &Actor) -> String {
    actor.id.clone()
}

impl App {
    pub async fn records_queue(&self, f: &RecordQueueFilter) -> Result<QueuePage, DomainError> {
        let (rows, total) = self.store.record_queue(f).await?;
        let now = self.now();
        let rows = rows
            .into_iter()
            .map(|row| {
                let overdue_minutes = row.promised_by.filter(|_| !row.state.is_closed()).map(|p| (now - p).num_minutes());
                QueueRow { row, overdue_minutes }
            })
            .collect();
        Ok(QueuePage { rows, total })
    }

    /// The clerk's screen of one application: a read of identity photos and the HIS's
    /// identity, audited (S10).
    pub async fn record_case(&self, no: &str, actor: &Actor) -> Result<CaseView, DomainError> {
        let row = self.store.record_application(no).await?;
        let identity = self.his.patient(&row.his_patient_id).await.ok().flatten();
        let photos = self.store.record_photos(row.id).await?.into_iter().filter(|p| p.current).collect();
        let timeline = self.store.record_timeline(row.id).await?;
        let table = match row.fee_version {
            Some(v) => Some(self.store.record_fee_table(v).await?.table),
            None => None,
        };
        let lines = match (&table, row.estimated_pages) {
            (Some(t), Some(p)) => lines_for(t, &row, p).unwrap_or_default(),
            _ => vec![],
        };
        let same_encounter = self
            .open_applications_beside(&row)
            .await?
            .into_iter()
            .filter(|o| o.encounter_id.is_some() && o.encounter_id == row.encounter_id)
            .map(|o| (o.application_no, o.state))
            .collect();
        self.store.audit(&actor.entry("records.case_view", format!("record_application:{no}"), row.state.as_str()), self.now()).await?;
        Ok(CaseView { row, identity, photos, timeline, table, lines, same_encounter })
    }

    /// A photo for the clerk: the original (unmasked) or the shown copy; each view audited.
    pub async fn record_photo_for_clerk(&self, no: &str, photo_id: i64, original: bool, actor: &Actor) -> Result<Vec<u8>, DomainError> {
        let row = self.store.record_application(no).await?;
        let photo = self.store.record_photo(photo_id).await?;
        if photo.application_id != row.id || row.purged_at.is_some() {
            return Err(DomainError::new(ErrorCode::NotFound, "no such photo"));
        }
        let key = if original { &photo.original_key } else { &photo.shown_key };
        self.open_photo(key, actor, no, photo.document, if original { "original" } else { "shown" }).await
    }

    async fn office_row(&self, no: &str, version: i32, want: &[ApplicationState]) -> Result<RecordApplicationRow, DomainError> {
        let row = self.store.record_application(no).await?;
        if row.version != version || !want.contains(&row.state) {
            return Err(state_moved());
        }
        Ok(row)
    }

    pub async fn approve_record_application(&self, no: &str, version: i32, actor: &Actor) -> Result<(), DomainError> {
        let mut row = self.office_row(no, version, &[ApplicationState::Submitted]).await?;
        let now = self.now();
        row.state = ApplicationState::Approved;
        row.clerk = Some(clerk_name(actor));
        let txn = self.store.write_txn().await?;
        if !self.store.save_record_application(&txn, &mut row, now).await? {
            return Err(state_moved());
        }
        self.store.append_record_timeline(&txn, row.id, "approved", "审核通过，正在复印", "病案室", now).await?;
        self.tell(&txn, &row, RECORDS_APPROVED, json!({})).await?;
        self.store.append_audit(&txn, &actor.entry("records.approve", format!("record_application:{no}"), ""), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    /// Returns an application to the patient with reasons: the steps and photos they name
    /// are asked again, the rest kept.
    pub async fn return_record_application(&self, no: &str, version: i32, reasons: &[ReturnReason], note: &str, actor: &Actor) -> Result<(), DomainError> {
        if reasons.is_empty() || note.chars().count() > 200 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "return reasons"));
        }
        let mut row = self.office_row(no, version, &[ApplicationState::Submitted]).await?;
        let applicant = row.applicant.ok_or_else(|| DomainError::new(ErrorCode::Internal, "submitted without an applicant"))?;
        if reasons.contains(&ReturnReason::AddressInvalid) && row.delivery != Some(Delivery::Express) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "no address to fix"));
        }
        let (steps, docs) = records::to_fix(applicant, reasons);
        let now = self.now();
        row.state = ApplicationState::Returned;
        row.fix_steps = steps;
        row.fix_documents = docs;
        row.reasons = reasons.to_vec();
        row.reason_note = Some(note.trim().to_owned()).filter(|n| !n.is_empty());
        row.clerk = Some(clerk_name(actor));
        let said = reasons.iter().map(|r| r.label_zh()).collect::<Vec<_>>().join("；");
        let txn = self.store.write_txn().await?;
        if !self.store.save_record_application(&txn, &mut row, now).await? {
            return Err(state_moved());
        }
        let text = match &row.reason_note {
            Some(n) => format!("退回补正：{said}（{n}）"),
            None => format!("退回补正：{said}"),
        };
        self.store.append_record_timeline(&txn, row.id, "returned", &text, "病案室", now).await?;
        self.tell(&txn, &row, RECORDS_RETURNED, json!({"reasons": said, "note": row.reason_note.clone().unwrap_or_default()})).await?;
        self.store.append_audit(&txn, &actor.entry("records.return", format!("record_application:{no}"), &said), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    /// After printing: the counted pages a copy. The fee is recomputed from the table the
    /// application was submitted under and the difference settled. Returns the true-up.
    pub async fn count_record_pages(&self, no: &str, version: i32, pages: u32, actor: &Actor) -> Result<TrueUp, DomainError> {
        let mut row = self.office_row(no, version, &[ApplicationState::Approved]).await?;
        let table = self.store.record_fee_table(row.fee_version.ok_or_else(|| DomainError::new(ErrorCode::Internal, "no fee version"))?).await?.table;
        let lines = lines_for(&table, &row, pages)?;
        let due = records::total(&lines);
        let settle = records::true_up(row.paid, due);
        let now = self.now();
        row.counted_pages = Some(pages);
        row.due = Some(due);
        row.clerk = Some(clerk_name(actor));
        let counted = format!("实际复印 {pages} 页/份，应收 ¥{}，已付 ¥{}", due.to_yuan_string(), row.paid.to_yuan_string());
        // What the difference does before the one transaction that records it.
        let (note, extra_order) = match settle {
            TrueUp::Extra(extra) => {
                let line = OrderLine {
                    code: domain::records::EXTRA_LINE_CODE.into(),
                    name: "病历复印补缴".into(),
                    qty: 1,
                    unit_price: extra,
                    amount: extra,
                    insurable: false,
                };
                let order_no = self.create_order(Some(row.patient_id), OrderPurpose::RecordCopy, vec![line], Some(&format!("record:{no}")), actor).await?;
                row.state = ApplicationState::ExtraDue;
                row.extra_order_no = Some(order_no.clone());
                (format!("{counted}，需补缴 ¥{}", extra.to_yuan_string()), Some((order_no, extra)))
            }
            TrueUp::Refund(back) => {
                // The refund is asked for first: a failure leaves the application approved
                // and the clerk may enter the count again; once asked, the refund job sees
                // it through (retrying the bank, handing a stuck one to finance).
                let order_no = row.order_no.clone().ok_or_else(|| DomainError::new(ErrorCode::Internal, "no order"))?;
                row.refund_no = Some(self.request_refund(&order_no, PerChannel { insurance: Fen(0), self_pay: back }, "病历复印多退少补", actor).await?);
                row.paid = due;
                (format!("{counted}，多收 ¥{} 原路退回", back.to_yuan_string()), None)
            }
            TrueUp::Even => (counted.clone(), None),
        };
        let txn = self.store.write_txn().await?;
        if !self.store.save_record_application(&txn, &mut row, now).await? {
            return Err(state_moved());
        }
        self.store.append_record_timeline(&txn, row.id, "counted", &note, "病案室", now).await?;
        match extra_order {
            Some((order_no, extra)) => {
                let payload = json!({"pages": pages, "extra": extra.0, "order_no": order_no, "link": format!("/pay/{order_no}")});
                self.tell(&txn, &row, RECORDS_EXTRA_DUE, payload).await?;
            }
            None => finish_printing(self, &txn, &mut row).await?,
        }
        self.store.append_audit(&txn, &actor.entry("records.count", format!("record_application:{no}"), &counted), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(settle)
    }

    /// The applicant collects the copy at the office with its code.
    pub async fn record_pickup(&self, no: &str, code: &str, actor: &Actor) -> Result<(), DomainError> {
        let mut row = self.store.record_application(no).await?;
        if row.state != ApplicationState::ReadyForPickup {
            return Err(state_moved());
        }
        let now = self.now();
        let right = row.pickup_code.as_deref().is_some_and(|c| crypto::constant_time_eq(c.as_bytes(), code.trim().as_bytes()));
        if !right {
            self.store.audit(&actor.entry("records.pickup_refused", format!("record_application:{no}"), "wrong code"), now).await?;
            return Err(DomainError::new(ErrorCode::PickupCodeWrong, "pickup code"));
        }
        row.state = ApplicationState::PickedUp;
        row.closed_at = Some(now);
        let txn = self.store.write_txn().await?;
        if !self.store.save_record_application(&txn, &mut row, now).await? {
            return Err(state_moved());
        }
        self.store.append_record_timeline(&txn, row.id, "picked_up", "已凭取件码领取", "病案室", now).await?;
        self.store.append_audit(&txn, &actor.entry("records.pickup", format!("record_application:{no}"), ""), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    /// An express copy the courier will not take (an address it does not serve): the
    /// office hands it over at the counter instead.
    pub async fn record_switch_to_pickup(&self, no: &str, version: i32, actor: &Actor) -> Result<(), DomainError> {
        let mut row = self.office_row(no, version, &[ApplicationState::Shipped]).await?;
        if row.waybill_no.is_some() {
            return Err(state_moved());
        }
        row.delivery = Some(Delivery::Pickup);
        let now = self.now();
        let txn = self.store.write_txn().await?;
        if !self.store.save_record_application(&txn, &mut row, now).await? {
            return Err(state_moved());
        }
        self.store.append_record_timeline(&txn, row.id, "switched", "快递无法寄送，改为到病案室领取", "病案室", now).await?;
        finish_printing(self, &txn, &mut row).await?;
        self.store.append_audit(&txn, &actor.entry("records.switch_to_pickup", format!("record_application:{no}"), ""), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    /// A route push from the courier: each new step goes to the application's timeline and
    /// to the patient; a signature closes it. Returns what to answer the courier.
    pub async fn courier_route_push(&self, secret: &str, body: &[u8]) -> Result<String, DomainError> {
        let courier = self.records.courier.clone().ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no courier configured"))?;
        let expected = &self.records.settings.courier_push_secret;
        if expected.is_empty() || !crypto::constant_time_eq(expected.as_bytes(), secret.as_bytes()) {
            return Err(DomainError::new(ErrorCode::Forbidden, "route push to a wrong path"));
        }
        let steps = match courier.read_route_push(body) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "courier route push refused");
                return Ok(courier.route_push_answer(false));
            }
        };
        for (push_id, step) in steps {
            let Some(mut row) = self.store.record_application_by_waybill(&step.waybill_no).await? else {
                tracing::warn!(waybill = %step.waybill_no, "route push for a waybill we do not know");
                continue;
            };
            let now = self.now();
            let txn = self.store.write_txn().await?;
            let key = format!("{RECORDS_ROUTE}:{}:{push_id}", step.waybill_no);
            let place = if step.place.is_empty() { String::new() } else { format!("【{}】", step.place) };
            let note = format!("{} {place}{}", step.at.format("%m-%d %H:%M"), step.remark);
            let fresh = self
                .store
                .record_event(
                    &txn,
                    RECORDS_ROUTE,
                    &key,
                    Some(row.patient_id),
                    &json!({
                        "application_no": row.application_no, "waybill_no": step.waybill_no, "remark": step.remark, "place": step.place,
                        "route_at": step.at.format("%Y-%m-%d %H:%M").to_string(), "link": format!("/records/{}", row.application_no),
                    }),
                    now,
                )
                .await?;
            if fresh {
                self.store.append_record_timeline(&txn, row.id, "route", &note, "顺丰速运", now).await?;
                if step.is_delivered() && row.state == ApplicationState::Shipped {
                    row.state = ApplicationState::Delivered;
                    row.closed_at = Some(now);
                    if !self.store.save_record_application(&txn, &mut row, now).await? {
                        return Err(state_moved());
                    }
                    self.tell(&txn, &row, RECORDS_DELIVERED, json!({"waybill_no": step.waybill_no})).await?;
                }
            }
            txn.commit().await.map_err(store::db_err)?;
        }
        Ok(courier.route_push_answer(true))
    }

    // --- fee tables (admin) -----------------------------------------------------------

    pub async fn record_fee_tables(&self) -> Result<Vec<FeeTableRow>, DomainError> {
        self.record_fee_table_now().await?;
        self.store.record_fee_tables().await
    }

    /// Saves a new version taking effect at `effective_from` (not in the past): applications
    /// submitted before keep theirs.
    pub async fn add_record_fee_table(
        &self,
        per_page: Fen,
        certification: Fen,
        postage: Fen,
        effective_from: DateTime<Utc>,
        note: &str,
        actor: &Actor,
    ) -> Result<i32, DomainError> {
        let now = self.now();
        let bad = |f: Fen| f.0 < 0 || f.0 > 100_000;
        if bad(per_page) || bad(certification) || bad(postage) || per_page.0 == 0 || effective_from < now - Duration::minutes(1) || note.chars().count() > 100 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "fee table"));
        }
        let latest = self.record_fee_tables().await?.first().map(|r| r.table.version).unwrap_or(0);
        let t = FeeTable { version: latest + 1, per_page, certification, postage };
        let txn = self.store.write_txn().await?;
        if !self.store.insert_record_fee_table(&txn, &t, effective_from, note.trim(), &actor.id, now).await? {
            return Err(DomainError::new(ErrorCode::Conflict, "fee table version taken"));
        }
        let what = format!("v{} 每页{} 盖章{} 快递{}", t.version, per_page.to_yuan_string(), certification.to_yuan_string(), postage.to_yuan_string());
        self.store.append_audit(&txn, &actor.entry("records.fee_table", format!("record_fee_table:{}", t.version), &what), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(t.version)
    }
}

/// Printed and paid in full: a pickup code and 取件提醒, or a courier order queued.
/// Runs inside the caller's transaction, after the row was saved at `row.version`.
pub(crate) async fn finish_printing<C: sea_orm::ConnectionTrait>(app: &App, conn: &C, row: &mut RecordApplicationRow) -> Result<(), DomainError> {
    let now = app.now();
    match row.delivery.unwrap_or(Delivery::Pickup) {
        Delivery::Pickup => {
            let code = loop {
                if let Some(code) = records::pickup_code_from(u32::from_be_bytes(crypto::random_bytes::<4>())) {
                    break code;
                }
            };
            row.state = ApplicationState::ReadyForPickup;
            row.pickup_code = Some(code.clone());
            if !app.store.save_record_application(conn, row, now).await? {
                return Err(state_moved());
            }
            let s = &app.records.settings;
            app.store.append_record_timeline(conn, row.id, "ready", &format!("已复印完成，请凭取件码到{}领取", s.office_place), "病案室", now).await?;
            app.tell(conn, row, RECORDS_READY, json!({"pickup_code": code, "place": s.office_place, "hours": s.office_hours})).await?;
        }
        Delivery::Express => {
            row.state = ApplicationState::Shipped;
            if !app.store.save_record_application(conn, row, now).await? {
                return Err(state_moved());
            }
            app.store.append_record_timeline(conn, row.id, "printed", "已复印完成，等待快递揽收", "病案室", now).await?;
            app.tell(conn, row, RECORDS_PRINTED, json!({})).await?;
            let job = NewJob::new(RECORDS_SHIP, json!({"application_no": row.application_no}), now)
                .dedupe(format!("{RECORDS_SHIP}:{}", row.application_no))
                .max_attempts(60);
            app.store.enqueue(conn, job, now).await?;
        }
    }
    Ok(())
}

fn split_party(a: &store::records::Address) -> ShipmentParty {
    ShipmentParty {
        contact: a.name.clone(),
        mobile: a.mobile.clone(),
        province: a.province.clone(),
        city: a.city.clone(),
        county: a.county.clone(),
        address: a.detail.clone(),
        company: String::new(),
    }
}

/// Places the courier order of a printed express copy. The order id is the application's
/// number, so a repeat after a lost answer gets the same waybill.
pub struct ShipRecordCopy;

#[async_trait]
impl JobHandler for ShipRecordCopy {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let no = payload["application_no"].as_str().ok_or_else(|| JobError::Permanent("no application_no".into()))?;
        let mut row = app.store.record_application(no).await.map_err(retry)?;
        if row.state != ApplicationState::Shipped || row.waybill_no.is_some() || row.delivery != Some(Delivery::Express) {
            return Ok(());
        }
        let courier = app.records.courier.clone().ok_or_else(|| JobError::Permanent("no courier configured".into()))?;
        let address = row.address.clone().ok_or_else(|| JobError::Permanent("express without an address".into()))?;
        let req = ShipmentRequest {
            order_id: row.application_no.clone(),
            sender: app.records.settings.sender.clone(),
            receiver: split_party(&address),
            cargo: "病历复印件".into(),
            remark: "医疗文件，请当面签收".into(),
        };
        let now = app.now();
        match courier.create_shipment(&req).await {
            Ok(ShipmentOutcome::Accepted { waybill_no } | ShipmentOutcome::ToBeChecked { waybill_no }) => {
                row.waybill_no = Some(waybill_no.clone());
                let txn = app.store.write_txn().await.map_err(retry)?;
                if !app.store.save_record_application(&txn, &mut row, now).await.map_err(retry)? {
                    return Err(JobError::Retry("record application moved meanwhile".into()));
                }
                app.store
                    .append_record_timeline(&txn, row.id, "shipped", &format!("已交顺丰速运寄出，运单号 {waybill_no}"), "病案室", now)
                    .await
                    .map_err(retry)?;
                app.tell(&txn, &row, RECORDS_SHIPPED, json!({"waybill_no": waybill_no})).await.map_err(retry)?;
                txn.commit().await.map_err(store::db_err).map_err(retry)
            }
            Ok(ShipmentOutcome::Undeliverable { reason }) => {
                let txn = app.store.write_txn().await.map_err(retry)?;
                app.store
                    .append_record_timeline(
                        &txn,
                        row.id,
                        "courier_refused",
                        &format!("快递无法寄送到该地址（{reason}），病案室将联系您改为自取"),
                        "病案室",
                        now,
                    )
                    .await
                    .map_err(retry)?;
                txn.commit().await.map_err(store::db_err).map_err(retry)
            }
            Err(e) if e.code == ErrorCode::CourierRefused => {
                let txn = app.store.write_txn().await.map_err(retry)?;
                app.store.append_record_timeline(&txn, row.id, "courier_refused", "快递下单未成功，病案室将尽快处理", "病案室", now).await.map_err(retry)?;
                txn.commit().await.map_err(store::db_err).map_err(retry)
            }
            Err(e) => Err(retry(e)),
        }
    }
}

pub async fn schedule_purge(app: &App) -> Result<(), DomainError> {
    crate::job::schedule_next(app, RECORDS_PURGE, Duration::hours(PURGE_EVERY_HOURS)).await
}

impl App {
    /// Deletes the photo files of applications closed more than the kept days ago, and the
    /// spent capture tokens. Returns how many applications were purged.
    pub async fn purge_record_photos(&self) -> Result<usize, DomainError> {
        let now = self.now();
        let cutoff = now - Duration::days(self.records.settings.keep_photos_days);
        let mut n = 0;
        for mut row in self.store.record_applications_to_purge(cutoff, 200).await? {
            for p in self.store.record_photos(row.id).await? {
                self.reports.files.delete(&p.original_key).await?;
                self.reports.files.delete(&p.shown_key).await?;
            }
            row.purged_at = Some(now);
            let txn = self.store.write_txn().await?;
            if self.store.save_record_application(&txn, &mut row, now).await? {
                self.store.append_record_timeline(&txn, row.id, "purged", "证件照片已按规定删除", "系统", now).await?;
                n += 1;
            }
            txn.commit().await.map_err(store::db_err)?;
        }
        self.store.purge_capture_tokens(now - Duration::days(1)).await?;
        Ok(n)
    }
}

pub struct PurgeRecordPhotos;

#[async_trait]
impl JobHandler for PurgeRecordPhotos {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        app.purge_record_photos().await.map_err(retry)?;
        schedule_purge(app).await.map_err(retry)
    }
}
