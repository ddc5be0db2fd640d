//! The HIS simulator's own events, pushed to Carebridge through its open message
//! interface (MSG-3), as a hospital's integration platform would: the doctor issued
//! orders (a new unpaid bill), the pharmacy has the medicine ready or dispensed it, a
//! report came out, a critical value, a deposit running low, exam precautions, surgery,
//! admission and discharge prompts, medication guidance. A tester fires them from the
//! console page `/__sim/his/events` (or tests `POST` JSON `{event, patient_id}`); the
//! simulator signs each push with its client key and shows Carebridge's answer.
use crate::his::SharedHis;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Duration;
use gateways::messages::open_api::OpenApiClient;
use serde::Deserialize;
use serde_json::{Value, json};

/// The events a tester can fire, with their Chinese labels.
pub const EVENTS: &[(&str, &str)] = &[
    ("orders_issued", "医生开具检查/处方（待缴费）"),
    ("medicine_ready", "药品已备好（取药提醒）"),
    ("dispensed", "药房已发药（取药成功）"),
    ("critical_value", "危急值"),
    ("exam_precautions", "检查预约与注意事项"),
    ("medication_guidance", "用药指导"),
    ("surgery", "手术安排"),
    ("admission_notice", "开具入院通知单（患者在线预约入院）"),
    ("admission", "入院通知"),
    ("deposit_low", "住院押金不足"),
    ("discharge", "可办理出院"),
];

#[derive(Deserialize)]
pub struct Fire {
    pub event: String,
    pub patient_id: String,
}

/// What to push for an event: the scene and its variables, from the HIS's own records.
fn build(st: &SharedHis, event: &str, patient_id: &str) -> Result<(String, Value), String> {
    let mut g = st.lock().expect("his lock");
    let now = g.now();
    let local = |t: chrono::DateTime<chrono::Utc>| domain::clock::to_local(t).format("%Y-%m-%d %H:%M").to_string();
    if !g.has_patient(patient_id) {
        return Err("患者不存在".into());
    }
    let stay = g.stay_of(patient_id);
    let (scene, vars) = match event {
        "orders_issued" => {
            let b = g.issue_orders(patient_id);
            ("bill.due", json!({"recipe_id": b.0, "visit_id": b.1, "dept_name": b.2, "doctor_name": b.3, "total": b.4, "items": b.5, "link": "/bills"}))
        }
        "medicine_ready" => {
            ("medicine.ready", json!({"pharmacy": "门诊西药房", "window": "3", "recipe_id": g.latest_recipe(patient_id), "destination": "PHARMACY-W"}))
        }
        "dispensed" => ("medicine.picked_up", json!({"pharmacy": "门诊西药房", "drugs": "阿莫西林胶囊 0.25g×24粒", "recipe_id": g.latest_recipe(patient_id)})),
        "critical_value" => (
            "critical_value",
            json!({"item": "血钾", "value": "6.8 mmol/L（参考3.5-5.3）", "dept_name": "检验科", "ward": stay.as_ref().map(|s| s.1.clone()).unwrap_or_default(),
                   "contact_phone": "0755-83366388", "report_id": format!("LIS{patient_id}05")}),
        ),
        "exam_precautions" => (
            "exam.precautions",
            json!({"exam_name": "胸部CT平扫", "scheduled_at": local(now + Duration::days(1)), "place": "医技楼1楼放射科CT室",
                   "precautions": "检查前请去除项链、发夹等金属物品，携带检查申请单提前15分钟到达", "destination": "CT-1"}),
        ),
        "medication_guidance" => {
            ("medication.guidance", json!({"drug": "阿托伐他汀钙片", "usage": "每晚睡前口服1片", "advice": "服药期间请定期复查肝功能，如有肌肉酸痛及时就诊。"}))
        }
        "surgery" => (
            "surgery.notice",
            json!({"operation": "腹腔镜胆囊切除术", "scheduled_at": local(now + Duration::days(2)), "place": "住院部5楼手术室",
                   "advice": "术前8小时禁食、4小时禁水，家属请在5楼等候区等候。", "destination": "OR-1"}),
        ),
        "admission_notice" => {
            let (notice_no, dept, doctor, latest) = g.ensure_open_notice(patient_id)?;
            ("admission.notice", json!({"notice_no": notice_no, "dept_name": dept, "doctor": doctor, "latest": latest.to_string()}))
        }
        "admission" => (
            "admission.prompt",
            json!({"ward": "普外科病区（住院部7楼）", "admit_at": local(now + Duration::days(1)), "place": "门诊楼1楼住院服务中心", "destination": "ADMIT"}),
        ),
        "deposit_low" => {
            let (no, ward, balance) = stay.ok_or("该患者无在院记录")?;
            ("deposit.low", json!({"inpatient_no": no, "ward": ward, "balance": balance, "threshold": 100_000}))
        }
        "discharge" => {
            let (no, ward, _) = stay.ok_or("该患者无在院记录")?;
            ("discharge.prompt", json!({"inpatient_no": no, "ward": ward}))
        }
        _ => return Err("未知事件".into()),
    };
    Ok((scene.into(), vars))
}

async fn push(st: &SharedHis, event: &str, patient_id: &str) -> (u16, Value) {
    let (scene, vars) = match build(st, event, patient_id) {
        Ok(x) => x,
        Err(e) => return (400, json!({"error": e})),
    };
    let (target, now, seq) = {
        let mut g = st.lock().expect("his lock");
        (g.push_target(), g.now(), g.bump())
    };
    let Some((base, key, secret)) = target else { return (503, json!({"error": "未配置消息平台地址"})) };
    let client = OpenApiClient::new(&base, &key, &secret, std::time::Duration::from_secs(10));
    let body = json!({"scene": scene, "his_patient_id": patient_id, "variables": vars});
    let r = client
        .request(reqwest::Method::POST, "/open/v1/messages", Some(&body), now.timestamp())
        .header("idempotency-key", format!("his-{event}-{seq}"))
        .send()
        .await;
    match r {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
        Err(e) => (502, json!({"error": e.to_string()})),
    }
}

async fn fire_json(State(st): State<SharedHis>, Json(f): Json<Fire>) -> Response {
    let (status, v) = push(&st, &f.event, &f.patient_id).await;
    (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), Json(v)).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(st: &SharedHis, result: Option<(u16, Value)>) -> Html<String> {
    let patients = st.lock().expect("his lock").patient_list();
    let options: String = patients.iter().map(|(id, name)| format!("<option value='{}'>{} （{}）</option>", escape(id), escape(name), escape(id))).collect();
    let events: String = EVENTS.iter().map(|(code, label)| format!("<option value='{code}'>{label}</option>")).collect();
    let result = match result {
        None => String::new(),
        Some((s, v)) => format!("<pre id=result data-status='{s}'>HTTP {s}\n{}</pre>", escape(&serde_json::to_string_pretty(&v).unwrap_or_default())),
    };
    Html(format!(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>HIS 事件（模拟器）</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;margin:12px}}select,button{{font-size:15px;padding:6px;margin:4px 0;width:100%}}pre{{background:#f4f4f4;padding:8px;white-space:pre-wrap}}</style>\
         <h1 style='font-size:18px'>HIS 事件推送（模拟器）</h1><p>通过消息平台开放接口（签名、随机串、幂等键）向 Carebridge 推送通知。</p>\
         <form method=post action='/__sim/his/events/fire'><label>患者<select name=patient_id id=patient>{options}</select></label><label>事件<select name=event id=event>{events}</select></label><button type=submit id=fire>推送</button></form>{result}</html>"
    ))
}

async fn console(State(st): State<SharedHis>) -> Html<String> {
    page(&st, None)
}

async fn fire_form(State(st): State<SharedHis>, Form(f): Form<Fire>) -> Html<String> {
    let r = push(&st, &f.event, &f.patient_id).await;
    page(&st, Some(r))
}

pub fn router() -> Router<SharedHis> {
    Router::new().route("/__sim/his/events", get(console).post(fire_json)).route("/__sim/his/events/fire", axum::routing::post(fire_form))
}
