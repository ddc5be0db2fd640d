//! The HIS simulator's operations, one method each, as the front-end processor answers
//! them (`dispatch` in the parent module routes by operation name).
use super::*;

impl HisState {
    pub(super) fn department_list(&mut self, _data: &Value) -> OpResult {
        Ok(Value::Array(
            self.hospital
                .departments
                .iter()
                .map(|d| json!({"deptId": d.dept_id, "deptName": d.name, "category": d.category, "location": d.location, "intro": d.intro}))
                .collect(),
        ))
    }

    pub(super) fn doctor_list(&mut self, data: &Value) -> OpResult {
        let dept = s(data, "deptId")?;
        Ok(Value::Array(
            self.hospital
                .doctors
                .iter()
                .filter(|d| d.dept_id == dept)
                .map(|d| json!({"doctorCode": d.doctor_code, "deptId": d.dept_id, "doctorName": d.name, "title": d.title, "specialty": d.specialty, "regFee": d.reg_fee.0, "treatFee": d.treat_fee.0}))
                .collect(),
        ))
    }

    pub(super) fn schedule_list(&mut self, data: &Value) -> OpResult {
        let dept = s(data, "deptId")?;
        let parse = |k| NaiveDate::parse_from_str(s(data, k)?, "%Y-%m-%d").map_err(|_| ("1001", format!("日期格式错误 {k}")));
        let (from, to) = (parse("beginDate")?, parse("endDate")?);
        Ok(Value::Array(
            self.hospital
                .schedules
                .iter()
                .filter(|x| x.dept_id == dept && x.date >= from && x.date <= to)
                .map(|x| {
                    json!({
                        "scheduleId": x.schedule_id, "doctorCode": x.doctor_code, "deptId": x.dept_id,
                        "scheduleDate": x.date.format("%Y-%m-%d").to_string(), "timeFlag": period_flag(x.period),
                        "stopFlag": if x.suspended { "1" } else { "0" },
                        "slots": x.slots.iter().map(|sl| json!({"slotId": sl.slot_id, "startTime": sl.start.format("%H:%M").to_string(), "endTime": sl.end.format("%H:%M").to_string(), "total": sl.capacity, "remain": sl.available})).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ))
    }

    pub(super) fn patient_query(&mut self, data: &Value) -> OpResult {
        let id = s(data, "idCardNo")?.to_ascii_uppercase();
        match self.patients.iter().find(|p| p.citizen.id_card_no == id) {
            Some(p) => Ok(patient_json(p)),
            None => err("2001", "患者不存在"),
        }
    }

    pub(super) fn patient_info(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        match self.patient_by_id(pid) {
            Some(p) => Ok(patient_json(p)),
            None => err("2001", "患者不存在"),
        }
    }

    pub(super) fn patient_create(&mut self, data: &Value) -> OpResult {
        let id = s(data, "idCardNo")?.to_ascii_uppercase();
        let name = s(data, "name")?;
        if let Some(p) = self.patients.iter().find(|p| p.citizen.id_card_no == id) {
            // 建档 is idempotent per ID number; a different name is refused.
            return if p.citizen.name == name { Ok(patient_json(p)) } else { err("2006", "姓名与证件号码不符") };
        }
        let known = self.hospital.citizens.iter().find(|c| c.id_card_no == id).cloned();
        if let Some(k) = &known
            && k.name != name
        {
            return err("2006", "姓名与证件号码不符");
        }
        let citizen = known.unwrap_or_else(|| Citizen {
            name: name.to_owned(),
            id_card_no: id.clone(),
            mobile: data.get("mobile").and_then(Value::as_str).unwrap_or("").to_owned(),
            coverage: domain::insurance::Coverage::self_pay(),
            registered_in_his: true,
            guardian_id: data.get("guardianIdCardNo").and_then(Value::as_str).map(str::to_owned),
            note: "线上建档",
        });
        let i = self.create_patient(citizen);
        Ok(patient_json(&self.patients[i]))
    }

    pub(super) fn lock_reg(&mut self, data: &Value) -> OpResult {
        let slot_id = s(data, "slotId")?.to_owned();
        let patient_id = s(data, "patientId")?.to_owned();
        let order_no = s(data, "channelOrderNo")?.to_owned();
        if self.patient_by_id(&patient_id).is_none() {
            return err("2001", "患者不存在");
        }
        if let Some(l) = self.locks.iter().find(|l| l.channel_order_no == order_no && l.cancelled.is_none()) {
            return Ok(json!({"preId": l.pre_id, "seeNo": l.see_no, "regFee": l.fee.0, "expireTime": l.expires_at.to_rfc3339()}));
        }
        let (sched_id, doctor_code, suspended) = match self.schedule_mut(&slot_id) {
            Some((s, _)) => (s.schedule_id.clone(), s.doctor_code.clone(), s.suspended),
            None => return err("2002", "号源不存在"),
        };
        if suspended {
            return err("2004", "该医生已停诊");
        }
        if self.locks.iter().any(|l| l.patient_id == patient_id && l.cancelled.is_none() && l.slot_id.starts_with(&sched_id)) {
            return err("2005", "同一时段不能重复挂号");
        }
        let fee = self.hospital.doctors.iter().find(|d| d.doctor_code == doctor_code).map(|d| Fen(d.reg_fee.0 + d.treat_fee.0)).unwrap_or(Fen::ZERO);
        let (s, i) = self.schedule_mut(&slot_id).expect("found above");
        if s.slots[i].available == 0 {
            return err("2003", "号源已满");
        }
        s.slots[i].available -= 1;
        let see_no = (s.slots[i].capacity - s.slots[i].available) + i as u32 * s.slots[i].capacity;
        let pre_id = self.next("PRE");
        let expires_at = self.clock.now() + Duration::minutes(LOCK_TTL_MINUTES);
        self.locks.push(Lock {
            pre_id: pre_id.clone(),
            slot_id,
            patient_id,
            channel_order_no: order_no,
            see_no,
            fee,
            expires_at,
            confirmed: None,
            cancelled: None,
            queue_no: None,
        });
        Ok(json!({"preId": pre_id, "seeNo": see_no, "regFee": fee.0, "expireTime": expires_at.to_rfc3339()}))
    }

    pub(super) fn unlock_reg(&mut self, data: &Value) -> OpResult {
        let pre_id = s(data, "preId")?;
        let Some(pos) = self.locks.iter().position(|l| l.pre_id == pre_id) else {
            return err("2007", "锁号不存在或已过期");
        };
        if self.locks[pos].confirmed.is_some() {
            return err("2008", "已挂号，请走退号流程");
        }
        let l = self.locks.remove(pos);
        if let Some((s, i)) = self.schedule_mut(&l.slot_id) {
            s.slots[i].available += 1;
        }
        Ok(json!({}))
    }

    pub(super) fn reg_confirm(&mut self, data: &Value) -> OpResult {
        let pre_id = s(data, "preId")?.to_owned();
        let trade_no = s(data, "payTradeNo")?.to_owned();
        let amount = fen(data, "amount")?;
        let now = self.clock.now();
        let Some(pos) = self.locks.iter().position(|l| l.pre_id == pre_id && l.cancelled.is_none()) else {
            return err("2007", "锁号不存在或已过期");
        };
        if amount != self.locks[pos].fee {
            return err("1003", "金额不符");
        }
        let slot_id = self.locks[pos].slot_id.clone();
        if self.locks[pos].confirmed.is_none() && self.schedule_mut(&slot_id).is_some_and(|(s, _)| s.suspended) {
            return err("2004", "该医生已停诊");
        }
        if let Some(reg) = &self.locks[pos].confirmed {
            return Ok(json!({"regId": reg, "seeNo": self.locks[pos].see_no}));
        }
        let reg_id = self.next("REG");
        self.locks[pos].confirmed = Some(reg_id.clone());
        let see_no = self.locks[pos].see_no;
        self.trades.push(Trade { trade_no, kind: "register", amount, at: now });
        Ok(json!({"regId": reg_id, "seeNo": see_no}))
    }

    pub(super) fn reg_cancel(&mut self, data: &Value) -> OpResult {
        let reg_id = s(data, "regId")?.to_owned();
        let refund_no = s(data, "refundTradeNo")?.to_owned();
        let now = self.clock.now();
        let Some(pos) = self.locks.iter().position(|l| l.confirmed.as_deref() == Some(reg_id.as_str())) else {
            return err("2007", "挂号记录不存在");
        };
        match &self.locks[pos].cancelled {
            Some(no) if *no == refund_no => return Ok(json!({})),
            Some(_) => return err("2009", "已退号"),
            None => {}
        }
        // The slot's start, local time: no 退号 once it has begun — unless the
        // session was suspended (停诊), when every booking may be refunded.
        let slot_id = self.locks[pos].slot_id.clone();
        let (starts, suspended) = match self.schedule_mut(&slot_id) {
            Some((s, i)) => (Some(s.date.and_time(s.slots[i].start)), s.suspended),
            None => (None, false),
        };
        if !suspended && starts.is_none_or(|st| st <= domain::clock::to_local(now).naive_local()) {
            return err("2009", "已过就诊时间，不能退号");
        }
        self.locks[pos].cancelled = Some(refund_no.clone());
        let fee = self.locks[pos].fee;
        if let Some((s, i)) = self.schedule_mut(&slot_id) {
            s.slots[i].available += 1;
        }
        self.trades.push(Trade { trade_no: refund_no, kind: "register_refund", amount: Fen(-fee.0), at: now });
        Ok(json!({}))
    }

    // 签到/取号: on the visit day, from an hour before the slot until it ends. The
    // doctor calls one patient every ten minutes from the session's first slot.
    pub(super) fn reg_checkin_or_queue_status(&mut self, op: &str, data: &Value) -> OpResult {
        let reg_id = s(data, "regId")?.to_owned();
        let now = domain::clock::to_local(self.clock.now()).naive_local();
        let Some(pos) = self.locks.iter().position(|l| l.confirmed.as_deref() == Some(reg_id.as_str()) && l.cancelled.is_none()) else {
            return err("2007", "挂号记录不存在");
        };
        let slot_id = self.locks[pos].slot_id.clone();
        let Some((sched, i)) = self.schedule_mut(&slot_id) else { return err("2002", "号源不存在") };
        let (start, end) = (sched.date.and_time(sched.slots[i].start), sched.date.and_time(sched.slots[i].end));
        let first = sched.date.and_time(sched.slots[0].start);
        let (sched_id, dept) = (sched.schedule_id.clone(), sched.dept_id.clone());
        if self.locks[pos].queue_no.is_none() {
            if op == "queue_status" {
                return err("2013", "尚未签到");
            }
            if now < start - Duration::minutes(60) || now >= end {
                return err("2012", "不在签到时间内");
            }
            let taken = self.locks.iter().filter(|l| l.slot_id.starts_with(&sched_id) && l.queue_no.is_some()).count() as u32;
            self.locks[pos].queue_no = Some(taken + 1);
        }
        let queue_no = self.locks[pos].queue_no.expect("set above");
        let called = if now > first { ((now - first).num_minutes() / 10) as u32 } else { 0 };
        let room = self.hospital.departments.iter().find(|d| d.dept_id == dept).map(|d| d.location.clone()).unwrap_or_default();
        Ok(json!({"queueNo": queue_no, "ahead": queue_no.saturating_sub(1).saturating_sub(called), "room": room}))
    }

    // 停诊 / 改诊 / 替诊 (operation name after the vendor docs' schedule change) [I].
    pub(super) fn schedule_change(&mut self, data: &Value) -> OpResult {
        let sched_id = s(data, "scheduleId")?.to_owned();
        let kind = s(data, "changeType")?.to_owned();
        let Some(pos) = self.hospital.schedules.iter().position(|x| x.schedule_id == sched_id) else { return err("2002", "排班不存在") };
        match kind.as_str() {
            "stop" => self.hospital.schedules[pos].suspended = true,
            "change" => {
                let shift = Duration::minutes(data.get("shiftMinutes").and_then(Value::as_i64).unwrap_or(0));
                for sl in &mut self.hospital.schedules[pos].slots {
                    sl.start += shift;
                    sl.end += shift;
                }
            }
            "replace" => {
                let code = s(data, "doctorCode")?;
                let dept = self.hospital.schedules[pos].dept_id.clone();
                if !self.hospital.doctors.iter().any(|d| d.doctor_code == code && d.dept_id == dept) {
                    return err("2014", "替诊医生不属于本科室");
                }
                self.hospital.schedules[pos].doctor_code = code.to_owned();
            }
            _ => return err("1001", "changeType 不正确"),
        }
        Ok(json!({}))
    }

    pub(super) fn visit_fee_list(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        let mut visits: Vec<&Bill> = self.bills.get(pid).map(|b| b.iter().collect()).unwrap_or_default();
        visits.sort_by_key(|b| std::cmp::Reverse(b.issued_at));
        Ok(Value::Array(
            visits
                .iter()
                .map(|b| {
                    let total: i64 = b.items.iter().map(|i| i.amount.0).sum();
                    let lines: Vec<Value> = b
                        .items
                        .iter()
                        .map(|i| json!({"itemCode": i.item_code, "itemName": i.name, "qty": i.qty, "price": i.unit_price.0, "amount": i.amount.0, "insurable": i.insurable, "paid": b.paid}))
                        .collect();
                    json!({"visitId": b.visit_id, "visitDate": domain::clock::to_local(b.issued_at).date_naive().to_string(), "deptName": b.dept_name, "doctorName": b.doctor_name,
                        "items": lines, "totalFee": total, "paidFee": if b.paid { total } else { 0 }})
                })
                .collect(),
        ))
    }

    pub(super) fn unpaid_fees(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        let bills = self.bills.get(pid).map(|b| b.iter().filter(|b| !b.paid).collect::<Vec<_>>()).unwrap_or_default();
        Ok(Value::Array(
            bills
                .iter()
                .map(|b| {
                    let total: i64 = b.items.iter().map(|i| i.amount.0).sum();
                    json!({"recipeId": b.recipe_id, "visitId": b.visit_id, "deptId": b.dept_id, "deptName": b.dept_name, "doctorName": b.doctor_name, "issuedAt": b.issued_at.to_rfc3339(), "items": items_json(&b.items), "totalFee": total})
                })
                .collect(),
        ))
    }

    pub(super) fn settlement_pre(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?.to_owned();
        let med = data.get("medType").and_then(Value::as_str).unwrap_or("O");
        let ids: Vec<String> =
            data.get("recipeIds").and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default();
        if ids.is_empty() {
            return err("1001", "缺少参数 recipeIds");
        }
        let Some(patient) = self.patient_by_id(&pid) else { return err("2001", "患者不存在") };
        let cov = patient.citizen.coverage.clone();
        let bills = self.bills.get(&pid).map(|v| v.as_slice()).unwrap_or_default();
        let mut total = 0i64;
        let mut insurable = 0i64;
        for id in &ids {
            let Some(b) = bills.iter().find(|b| &b.recipe_id == id && !b.paid) else { return err("3001", "处方不存在或已缴费") };
            for i in &b.items {
                total += i.amount.0;
                if i.insurable {
                    insurable += i.amount.0;
                }
            }
        }
        // With insurance, the HIS books what the insurance centre settled (its
        // payOrdId and parts); it only checks they fit the bill.
        let (fund, acct) = if med == "M" {
            if cov.kind == domain::insurance::InsuranceKind::SelfPay {
                return err("3003", "该患者无医保参保信息");
            }
            s(data, "insuPayOrdId")?;
            let (fund, acct, mulaid) = (fen(data, "fundPay")?.0, fen(data, "acctPay")?.0, fen(data, "mulaidPay")?.0);
            if fund < 0 || acct < 0 || mulaid < 0 || fund + acct + mulaid > insurable {
                return err("3004", "医保支付金额超过可报销金额");
            }
            (fund, acct + mulaid)
        } else {
            (0, 0)
        };
        let own = total - fund - acct;
        let id = self.next("PS");
        self.pre_settles.insert(
            id.clone(),
            PreSettle { patient_id: pid, recipe_ids: ids, total: Fen(total), fund: Fen(fund), acct: Fen(acct), own: Fen(own), settled: None },
        );
        Ok(json!({"preSettleId": id, "totalFee": total, "fundPay": fund, "acctPay": acct, "ownPay": own}))
    }

    pub(super) fn charge_commit(&mut self, data: &Value) -> OpResult {
        let ps_id = s(data, "preSettleId")?.to_owned();
        let trade_no = s(data, "payTradeNo")?.to_owned();
        let own = fen(data, "ownPay")?;
        let now = self.clock.now();
        let Some(ps) = self.pre_settles.get(&ps_id) else { return err("3002", "预结算不存在或已失效") };
        if let Some((settle, invoice)) = &ps.settled {
            let (settle, invoice, pid, ids) = (settle.clone(), invoice.clone(), ps.patient_id.clone(), ps.recipe_ids.clone());
            return Ok(json!({"settleId": settle, "invoiceNo": invoice, "guide": self.guidance(&pid, &ids)}));
        }
        if ps.own != own {
            return err("1003", "金额不符");
        }
        let (pid, ids, total) = (ps.patient_id.clone(), ps.recipe_ids.clone(), ps.total);
        let settle = self.next("ST");
        let invoice = self.next("INV");
        for b in self.bills.get_mut(&pid).into_iter().flatten() {
            if ids.contains(&b.recipe_id) {
                b.paid = true;
            }
        }
        let paid_tests: Vec<PaidTests> = self
            .bills
            .get(&pid)
            .into_iter()
            .flatten()
            .filter(|b| ids.contains(&b.recipe_id))
            .map(|b| (b.recipe_id.clone(), b.items.iter().map(|i| (i.item_code.clone(), i.name.clone())).collect(), b.dept_name.clone(), b.doctor_name.clone()))
            .collect();
        for (recipe, items, dept, doctor) in paid_tests {
            self.lab.on_paid(&pid, &recipe, &items, &dept, &doctor, now);
        }
        let ps = self.pre_settles.get_mut(&ps_id).expect("present");
        ps.settled = Some((settle.clone(), invoice.clone()));
        let _ = (ps.fund, ps.acct);
        self.trades.push(Trade { trade_no, kind: "outpatient", amount: total, at: now });
        let guide = self.guidance(&pid, &ids);
        Ok(json!({"settleId": settle, "invoiceNo": invoice, "guide": guide}))
    }

    pub(super) fn lab_order_list(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        if self.patient_by_id(pid).is_none() {
            return err("2001", "患者不存在");
        }
        Ok(self.lab.list(pid))
    }

    pub(super) fn lab_order_query(&mut self, data: &Value) -> OpResult {
        match self.lab.query(s(data, "orderNo")?) {
            Some(v) => Ok(v),
            None => err("2020", "申请单不存在"),
        }
    }

    pub(super) fn specimen_reject(&mut self, data: &Value) -> OpResult {
        let (order_no, reason) = (s(data, "orderNo")?.to_owned(), s(data, "reason")?.to_owned());
        let instruction = data.get("instruction").and_then(Value::as_str).unwrap_or("").to_owned();
        let by = data.get("operator").and_then(Value::as_str).unwrap_or("").to_owned();
        let now = self.clock.now();
        let i = self.lab.reject(&order_no, &reason, &instruction, &by, now)?;
        Ok(self.lab.order_json(i))
    }

    // The visiting card (就诊卡) and its stored value: every registered patient has one.
    pub(super) fn card_info(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        let Some(card_no) = self.card_no_of(pid) else { return err("2020", "无就诊卡") };
        let card_type = if self.bound_cards.contains_key(pid) { "PHYSICAL" } else { "VIRTUAL" };
        Ok(json!({"cardNo": card_no, "balance": self.cards.get(pid).copied().unwrap_or(0), "cardType": card_type}))
    }

    /// The patient's card now: the bound plastic card, or the virtual one issued at 建档.
    pub(super) fn card_no_of(&self, pid: &str) -> Option<String> {
        let p = self.patient_by_id(pid)?;
        Some(self.bound_cards.get(pid).cloned().unwrap_or_else(|| format!("JZK{}", &p.patient_id[1..])))
    }

    /// Binds a plastic card: the simulator's cards are `8` + the patient number's digits
    /// (the number printed on the card the window issued) [I].
    pub(super) fn card_bind(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?.to_owned();
        let card_no = s(data, "cardNo")?.trim().to_owned();
        let Some(p) = self.patient_by_id(&pid) else { return err("2020", "无就诊卡") };
        if card_no != demo::physical_card_no(&p.patient_id) {
            return err("2021", "卡号与就诊人信息不符");
        }
        self.bound_cards.insert(pid.clone(), card_no);
        self.card_info(&json!({"patientId": pid}))
    }

    pub(super) fn card_recharge(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?.to_owned();
        let amount = fen(data, "amount")?;
        let trade_no = s(data, "payTradeNo")?.to_owned();
        if amount.0 <= 0 {
            return err("1001", "金额必须大于0");
        }
        let Some(card_no) = self.card_no_of(&pid) else { return err("2020", "无就诊卡") };
        if s(data, "cardNo")? != card_no {
            return err("2021", "卡号与患者不符");
        }
        if !self.trades.iter().any(|t| t.trade_no == trade_no) {
            let now = self.clock.now();
            *self.cards.entry(pid.clone()).or_default() += amount.0;
            self.card_log.push(CardEntry {
                patient_id: pid.clone(),
                trade_no: trade_no.clone(),
                kind: "RECHARGE",
                amount: amount.0,
                at: now,
                remark: "微信服务号充值".into(),
            });
            self.trades.push(Trade { trade_no, kind: "card", amount, at: now });
        }
        Ok(json!({"balance": self.cards.get(&pid).copied().unwrap_or(0)}))
    }

    pub(super) fn trade_check(&mut self, data: &Value) -> OpResult {
        let date = NaiveDate::parse_from_str(s(data, "date")?, "%Y-%m-%d").map_err(|_| ("1001", "日期格式错误".to_owned()))?;
        Ok(Value::Array(
            self.trades
                .iter()
                .filter(|t| domain::clock::to_local(t.at).date_naive() == date)
                .map(|t| json!({"tradeNo": t.trade_no, "tradeType": t.kind, "amount": t.amount.0, "tradeTime": t.at.to_rfc3339()}))
                .collect(),
        ))
    }
}
