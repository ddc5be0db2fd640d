//! Templates: the built-in text of each scene, or the one staff saved (minijinja). Strict
//! about undefined variables, so a template that names a variable the event does not
//! carry fails loudly — on saving (checked against the scene's variables and previewed
//! with sample values) and, if an event lacks one, at sending (a visible dead letter).
use domain::messages::{COMMON_VARIABLES, Channel, Scene, default_provider_template, wechat_fields};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Value, json};

/// A template's source for one scene and channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateSource {
    pub provider_template_id: String,
    pub title: String,
    /// Inbox: the text. WeChat and SMS: one `key: expression` line per field.
    pub body: String,
    pub version: i32,
    pub edited_by: Option<String>,
}

impl TemplateSource {
    /// The scene's built-in template on a channel.
    pub fn builtin(scene: &Scene, channel: Channel) -> Self {
        let body = match channel {
            Channel::Inbox => scene.body.to_owned(),
            _ => scene.fields.iter().map(|(k, e)| format!("{k}: {e}")).collect::<Vec<_>>().join("\n"),
        };
        Self { provider_template_id: default_provider_template(channel, scene.code), title: scene.title.to_owned(), body, version: 0, edited_by: None }
    }
}

fn env() -> Environment<'static> {
    let mut e = Environment::new();
    e.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    e
}

/// Renders one template string.
pub fn render(src: &str, vars: &Value) -> Result<String, String> {
    env().render_str(src, minijinja::Value::from(minijinja::value::Serde(vars))).map_err(|e| describe(&e))
}

fn describe(e: &minijinja::Error) -> String {
    match e.kind() {
        minijinja::ErrorKind::UndefinedError => format!("模板使用了消息中没有的变量：{}", e.detail().map(str::to_owned).unwrap_or_else(|| e.to_string())),
        minijinja::ErrorKind::SyntaxError => format!("模板语法错误：{}", e.detail().unwrap_or_default()),
        _ => format!("模板无法生成：{e}"),
    }
}

/// The `key: expression` lines of a provider template.
pub fn field_lines(body: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once(':').ok_or_else(|| format!("每行应为“字段名: 内容”：{line}"))?;
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("字段名只能包含字母、数字和下划线：{k}"));
        }
        out.push((k.to_owned(), v.trim().to_owned()));
    }
    if out.is_empty() {
        return Err("至少需要一个字段".into());
    }
    Ok(out)
}

/// Renders every field of a provider template.
pub fn render_fields(body: &str, vars: &Value) -> Result<Vec<(String, String)>, String> {
    field_lines(body)?.into_iter().map(|(k, e)| render(&e, vars).map(|v| (k, v))).collect()
}

/// WeChat's fields of a provider template, each fitted to its type's rule
/// (`wechat_fields::fit`): the values, and whether anything was left out — then the
/// message opens the page with the full text. An error names a field that cannot be
/// made valid (a time that is not one): WeChat would refuse it with 47003.
pub fn render_wechat_fields(body: &str, vars: &Value) -> Result<(Vec<(String, String)>, bool), String> {
    fit_wechat_fields(render_fields(body, vars)?)
}

/// Rendered fields fitted to WeChat's rules (see [`render_wechat_fields`]).
pub fn fit_wechat_fields(fields: Vec<(String, String)>) -> Result<(Vec<(String, String)>, bool), String> {
    let mut shortened = false;
    let mut out = Vec::new();
    for (k, v) in fields {
        let f = wechat_fields::fit(&k, &v).map_err(|e| format!("{e}（生成的内容：{v}）"))?;
        shortened |= f.shortened;
        out.push((k, f.value));
    }
    Ok((out, shortened))
}

/// The variables a template source uses that the scene does not provide.
pub fn unknown_variables(scene: &Scene, src: &str) -> Result<Vec<String>, String> {
    let e = env();
    let t = e.template_from_str(src).map_err(|e| describe(&e))?;
    let mut unknown: Vec<String> =
        t.undeclared_variables(false).into_iter().filter(|v| !scene.variables.contains(&v.as_str()) && !COMMON_VARIABLES.contains(&v.as_str())).collect();
    unknown.sort();
    Ok(unknown)
}

/// Checks a template staff want to save: known variables only, valid fields, and that it
/// renders with sample values. Returns the preview.
pub fn check(scene: &Scene, channel: Channel, t: &TemplateSource) -> Result<Preview, String> {
    let limit = |s: &str, n: usize, what: &str| if s.chars().count() > n { Err(format!("{what}过长（最多{n}字）")) } else { Ok(()) };
    limit(&t.title, 40, "标题")?;
    limit(&t.body, 2000, "内容")?;
    limit(&t.provider_template_id, 64, "模板编号")?;
    if channel != Channel::Inbox && t.provider_template_id.trim().is_empty() {
        return Err("请填写在微信或短信平台登记的模板编号".into());
    }
    let mut sources = vec![t.title.clone()];
    match channel {
        Channel::Inbox => sources.push(t.body.clone()),
        _ => sources.extend(field_lines(&t.body)?.into_iter().map(|(_, e)| e)),
    }
    for s in &sources {
        let unknown = unknown_variables(scene, s)?;
        if !unknown.is_empty() {
            return Err(format!("模板使用了本场景没有的变量：{}", unknown.join("、")));
        }
    }
    let vars = sample_variables(scene);
    let title = render(&t.title, &vars)?;
    let (body, fields) = match channel {
        Channel::Inbox => (render(&t.body, &vars)?, vec![]),
        // WeChat refuses a field that breaks its type's rule: staff learn it on saving.
        Channel::WechatTemplate | Channel::WechatSubscribe => (String::new(), render_wechat_fields(&t.body, &vars)?.0),
        Channel::Sms => (String::new(), render_fields(&t.body, &vars)?),
    };
    Ok(Preview { title, body, fields })
}

/// What a template produces with sample values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub title: String,
    pub body: String,
    pub fields: Vec<(String, String)>,
}

/// Sample values for a scene's variables (for previews).
pub fn sample_variables(scene: &Scene) -> Value {
    let mut m = serde_json::Map::new();
    for v in scene.variables.iter().chain(COMMON_VARIABLES) {
        let value = match *v {
            "change" => json!({"reason": "医生临时外出会诊", "shift_minutes": 60, "location": "门诊3楼"}),
            "before" => json!({"start_time": "08:00", "end_time": "08:30", "location": "门诊2楼A区", "doctor_name": "王建国"}),
            "guidance" => json!(["请到门诊1楼西药房取药"]),
            "parts" => json!(["医保统筹12.00元", "原银行卡/微信13.50元"]),
            "bank_part" => json!(true),
            "purpose_name" => json!("挂号费"),
            "recipes" => json!(["R000001"]),
            "total" | "fee" | "insurance" | "self_pay" | "amount" | "balance" | "threshold" | "items" => json!(1250),
            "see_no" => json!(12),
            v if v.ends_with("_yuan") => json!("12.50"),
            "visit_date" | "admit_date" | "latest" => json!("2026-12-01"),
            "reported_at" | "scheduled_at" | "admit_at" | "route_at" => json!("2026-12-01 09:30"),
            "balance_text" => json!("余额12.50元"),
            "window" => json!("3"),
            "order_no" => json!("P20261201093000123456"),
            "start_time" => json!("09:00"),
            "end_time" => json!("09:30"),
            "patient_name_masked" => json!("张*"),
            "application_no" => json!("BL20261207093000A1B2C3D4E5"),
            "waybill_no" => json!("SF1402391875613"),
            "pickup_code" => json!("482913"),
            "pages" | "extra" | "paid" => json!(18),
            "promised_by" => json!("2026-12-10"),
            "resubmitted" => json!(false),
            "hospital_name" => json!("深圳市民医院"),
            "contact_phone" => json!("0755-12345678"),
            other => json!(format!("示例{other}")),
        };
        m.insert((*v).to_owned(), value);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::messages::{SCENES, scene};

    #[test]
    fn every_builtin_template_uses_only_its_scene_variables_and_renders() {
        for s in SCENES {
            for ch in Channel::ALL {
                let t = TemplateSource::builtin(s, ch);
                let p = check(s, ch, &t).unwrap_or_else(|e| panic!("{} {:?}: {e}", s.code, ch));
                assert!(!p.title.is_empty());
            }
        }
    }

    /// Every variable as long as real data gets: 40 characters of names and places, a
    /// long list, an owed balance.
    fn long_variables(s: &Scene) -> Value {
        let mut v = sample_variables(s);
        for (k, val) in v.as_object_mut().unwrap().iter_mut() {
            if val.is_string()
                && !k.ends_with("_at")
                && !k.ends_with("_yuan")
                && !["visit_date", "admit_date", "latest", "start_time", "end_time", "contact_phone", "order_no"].contains(&k.as_str())
            {
                *val = json!(format!("门诊楼三楼B区{k}心血管内科诊区第三诊室（靠近电梯，请提前十五分钟到达）"));
            }
        }
        v["guidance"] = json!(["请到门诊1楼西药房3号窗口取药", "请到门诊2楼检验科采血处抽血", "请到医技楼1楼放射科做胸部CT"]);
        v["drugs"] = json!("阿莫西林胶囊 0.25g×24粒、布洛芬缓释胶囊 0.3g×20粒、蒙脱石散 3g×10袋");
        v["balance_text"] = json!("已欠费63100.00元");
        v["parts"] = json!(["医保统筹1234.56元", "医保个人账户200.00元", "家庭共济账户80.00元", "原银行卡/微信13.50元"]);
        v
    }

    #[test]
    fn every_scene_renders_wechat_fields_that_meet_their_types_rules() {
        for s in SCENES {
            for ch in [Channel::WechatTemplate, Channel::WechatSubscribe] {
                let t = TemplateSource::builtin(s, ch);
                for (vars, long) in [(sample_variables(s), false), (long_variables(s), true)] {
                    let (fields, shortened) = render_wechat_fields(&t.body, &vars).unwrap_or_else(|e| panic!("{} {ch:?}: {e}", s.code));
                    assert_eq!(fields.len(), s.fields.len(), "{}", s.code);
                    for (k, v) in &fields {
                        assert_eq!(wechat_fields::check(k, v), Ok(()), "{} {ch:?} {k}={v:?}", s.code);
                    }
                    // A scene with a field fed from data says when it left something out.
                    let fed = s.fields.iter().any(|(k, e)| k.starts_with("thing") && e.contains("{{") && !e.contains("window"));
                    if long && fed {
                        assert!(shortened, "{}: long values were cut without saying so", s.code);
                    }
                }
            }
        }
    }

    /// A card's field may be shortened; the message page then has it in full, because the
    /// scene's text says everything its fields say.
    #[test]
    fn every_scene_text_carries_what_its_fields_carry() {
        let used =
            |src: &str| -> std::collections::BTreeSet<String> { env().template_from_str(src).unwrap().undeclared_variables(false).into_iter().collect() };
        let mut gaps = Vec::new();
        for s in SCENES {
            let text: std::collections::BTreeSet<String> = used(s.body).union(&used(s.title)).cloned().collect();
            for (k, e) in s.fields {
                let missing: Vec<String> = used(e).difference(&text).cloned().collect();
                if !missing.is_empty() {
                    gaps.push(format!("{} {k}: {missing:?}", s.code));
                }
            }
        }
        assert!(gaps.is_empty(), "texts lacking what their fields say: {gaps:#?}");
    }

    #[test]
    fn a_staff_template_that_breaks_a_field_rule_is_refused_on_saving() {
        let s = scene("bill.paid").unwrap();
        let mut t = TemplateSource::builtin(s, Channel::WechatTemplate);
        t.body = "amount1: {{ total_yuan }}\ncharacter_string2: {{ order_no }}号订单".into();
        // Chinese in a character_string is dropped, the rest still says the number.
        assert!(check(s, Channel::WechatTemplate, &t).is_ok());
        t.body = "amount1: {{ total_yuan }}\ntime2: 今天".into();
        let err = check(s, Channel::WechatTemplate, &t).unwrap_err();
        assert!(err.contains("time2") && err.contains("24小时制"), "{err}");
        // SMS parameters have no such types.
        assert!(check(s, Channel::Sms, &t).is_ok());
    }

    #[test]
    fn an_unknown_variable_is_refused_by_name() {
        let s = scene("booking.confirmed").unwrap();
        let mut t = TemplateSource::builtin(s, Channel::Inbox);
        t.body = "{{ dept_name }} {{ salary }}".into();
        assert_eq!(check(s, Channel::Inbox, &t).unwrap_err(), "模板使用了本场景没有的变量：salary");
        t.body = "{{ dept_name ".into();
        assert!(check(s, Channel::Inbox, &t).unwrap_err().starts_with("模板语法错误"));
        let mut w = TemplateSource::builtin(s, Channel::WechatTemplate);
        w.body = "thing1 {{ dept_name }}".into();
        assert!(check(s, Channel::WechatTemplate, &w).unwrap_err().contains("字段名: 内容"));
    }

    #[test]
    fn rendering_a_missing_variable_fails_instead_of_printing_nothing() {
        let err = render("{{ dept_name }}", &json!({})).unwrap_err();
        assert!(err.contains("没有的变量"), "{err}");
        assert_eq!(render("{{ a }}-{{ b.c }}", &json!({"a": 1, "b": {"c": "x"}})).unwrap(), "1-x");
    }
}
