//! The HIS simulator's records system (病案系统, REC-1): the stays and visits whose record
//! is archived and may be copied. Operation and fields are ours [I], in the style of
//! protocols.md §8.2. Every patient has an earlier stay and an outpatient visit from the
//! spring (derived from their number, so the demo and tests are the same each run),
//! besides any stay settled in this simulator.
use super::*;

/// The earlier stays the demo's patients had: department, diagnosis.
const PAST_STAYS: &[(&str, &str)] =
    &[("普通外科", "急性阑尾炎"), ("消化内科", "急性胰腺炎"), ("妇产科", "足月顺产"), ("呼吸内科", "社区获得性肺炎"), ("泌尿外科", "输尿管结石")];

impl HisState {
    pub(super) fn record_encounters(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        let Some(p) = self.patient_by_id(pid) else { return err("2001", "患者不存在") };
        let mr_no = p.mr_no.clone();
        let seed: u32 = pid.bytes().map(u32::from).sum();
        let (dept, diagnosis) = PAST_STAYS[seed as usize % PAST_STAYS.len()];
        let today = domain::clock::to_local(self.clock.now()).date_naive();
        let admitted = today - Duration::days(120 + i64::from(seed % 30));
        let discharged = admitted + Duration::days(5 + i64::from(seed % 6));
        let visit = today - Duration::days(60 + i64::from(seed % 20));
        let mut list: Vec<(NaiveDate, Value)> = self
            .settled_stays(pid)
            .into_iter()
            .map(|(no, dept, diagnosis, admitted, settled)| {
                let start = domain::clock::to_local(admitted).date_naive();
                let end = domain::clock::to_local(settled).date_naive();
                (start, json!({"encounterId": no, "kind": "INPATIENT", "mrNo": mr_no, "deptName": dept, "startDate": start.to_string(), "endDate": end.to_string(), "diagnosis": diagnosis}))
            })
            .collect();
        list.push((
            admitted,
            json!({"encounterId": format!("ZYH{pid}"), "kind": "INPATIENT", "mrNo": mr_no, "deptName": dept, "startDate": admitted.to_string(),
                   "endDate": discharged.to_string(), "diagnosis": diagnosis}),
        ));
        list.push((
            visit,
            json!({"encounterId": format!("MZ{pid}"), "kind": "OUTPATIENT", "mrNo": mr_no, "deptName": "内科", "startDate": visit.to_string(),
                   "endDate": visit.to_string(), "diagnosis": "上呼吸道感染"}),
        ));
        list.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(Value::Array(list.into_iter().map(|(_, v)| v).collect()))
    }
}
