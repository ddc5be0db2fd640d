//! The message platform's vocabulary (MSG-1/2/3, OTH-1): the scenes a notice can belong
//! to, how critical each is, the channels that carry them, how a provider's answer is
//! classified, quiet hours and the order in which channels are tried. Pure rules; the
//! application sends, the store remembers.
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

pub mod wechat_fields;

/// How much a notice matters. Critical notices ignore quiet hours and preferences and
/// fall back to SMS, then to a person (M4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Critical,
    Transactional,
    Informational,
}

impl Criticality {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Transactional => "transactional",
            Self::Informational => "informational",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Critical => "重要",
            Self::Transactional => "业务",
            Self::Informational => "提示",
        }
    }
}

/// What a patient can mute, as a group of scenes (level-5 item 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Booking,
    Payment,
    Report,
    Inpatient,
    Medicine,
    Care,
    Hospital,
}

impl Category {
    pub const ALL: [Category; 7] = [Self::Booking, Self::Payment, Self::Report, Self::Inpatient, Self::Medicine, Self::Care, Self::Hospital];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Payment => "payment",
            Self::Report => "report",
            Self::Inpatient => "inpatient",
            Self::Medicine => "medicine",
            Self::Care => "care",
            Self::Hospital => "hospital",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Booking => "挂号与就诊提醒",
            Self::Payment => "缴费提醒",
            Self::Report => "检查检验报告",
            Self::Inpatient => "住院服务",
            Self::Medicine => "取药与用药",
            Self::Care => "检查须知与健康指导",
            Self::Hospital => "医院通知",
        }
    }
}

/// The ways a notice reaches a patient. The inbox always works; the others are tried in
/// the order of [`plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    WechatTemplate,
    WechatSubscribe,
    Sms,
    Inbox,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Self::WechatTemplate, Self::WechatSubscribe, Self::Sms, Self::Inbox];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WechatTemplate => "wechat_template",
            Self::WechatSubscribe => "wechat_subscribe",
            Self::Sms => "sms",
            Self::Inbox => "inbox",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::WechatTemplate => "公众号模板消息",
            Self::WechatSubscribe => "订阅消息",
            Self::Sms => "短信",
            Self::Inbox => "消息中心",
        }
    }
    /// M3: whether a send whose answer was lost may be repeated without the patient
    /// getting it twice. WeChat template messages carry `client_msg_id`, which WeChat
    /// uses to drop a repeat [I]; subscribe messages and both SMS providers have no such
    /// key (Aliyun's `SendSms` is documented as not idempotent), so a lost answer there
    /// is taken as probably sent and not repeated — except for critical notices, where a
    /// knowing duplicate on the next channel is better than silence.
    pub fn provider_dedupes(self) -> bool {
        matches!(self, Self::WechatTemplate | Self::Inbox)
    }
}

/// What a provider said to one send, classified (M2/M3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; the provider's id for it.
    Sent(String),
    /// Worth trying again on the same channel (timeouts excluded): 5xx, 429, 45009, -1,
    /// flow control.
    Transient { code: String, detail: String },
    /// Will not work on this channel for this recipient (43004, 43101, 40003, 40037,
    /// 47003, an invalid number, a bad template): move on to the next channel.
    Permanent { code: String, detail: String },
    /// No answer: the provider may or may not have sent it.
    Unknown(String),
}

impl SendOutcome {
    pub fn code(&self) -> &str {
        match self {
            Self::Sent(_) => "ok",
            Self::Transient { code, .. } | Self::Permanent { code, .. } => code,
            Self::Unknown(_) => "timeout",
        }
    }
}

/// What a delivery's outcome code means, for staff (the console never shows a bare
/// `43004` or `no_mobile`). Unknown provider codes keep the code in brackets.
pub fn delivery_reason_zh(code: &str) -> String {
    let known = match code {
        "ok" => "已送达",
        "43004" => "患者未关注公众号",
        "43101" => "患者未授权订阅消息",
        "40003" => "微信身份无效",
        "40037" => "微信模板未登记",
        "41030" => "跳转页面无效",
        "47003" | "field_rule" => "内容不符合微信字段规则",
        "45009" | "45011" | "45047" => "微信发送量超限",
        "-1" | "40001" | "42001" | "token" | "token_timeout" | "token_malformed" => "微信平台暂时不可用",
        "no_mobile" => "未登记手机号，HIS中也没有",
        "no_recipient" => "没有可发送的对象",
        "consent_withdrawn" => "患者已撤回该渠道的通知授权",
        "not_configured" => "该渠道未开通",
        "template" => "模板无法生成",
        "store" => "平台数据库暂时不可用",
        "his" => "HIS暂时无法查询手机号",
        "timeout" => "发送结果未知（对方未应答）",
        "unreachable" => "无法连接服务商",
        "isv.MOBILE_NUMBER_ILLEGAL" | "InvalidParameterValue.IncorrectPhoneNumber" => "手机号无效",
        "isv.BUSINESS_LIMIT_CONTROL" | "LimitExceeded.DeliveryFrequencyLimit" | "LimitExceeded.PhoneNumberDailyLimit" => "短信发送频率超限",
        "FailedOperation.PhoneNumberInBlacklist" | "isv.BLACK_KEY_CONTROL_LIMIT" => "手机号拒收短信",
        c if c.starts_with("http_") => "服务商返回错误",
        _ => return format!("发送失败（{code}）"),
    };
    known.to_owned()
}

/// WeChat's `errcode` classified (protocols.md §5.1–5.2).
pub fn classify_wechat(errcode: i64, errmsg: &str) -> Option<SendOutcome> {
    let o = |transient: bool| {
        let (code, detail) = (errcode.to_string(), errmsg.to_owned());
        if transient { SendOutcome::Transient { code, detail } } else { SendOutcome::Permanent { code, detail } }
    };
    match errcode {
        0 => None,
        // System busy, daily quota, API frequency limits, token trouble after a refresh.
        -1 | 45009 | 45011 | 45047 | 40001 | 42001 => Some(o(true)),
        _ => Some(o(false)),
    }
}

/// When a notice should wait because of quiet hours (non-critical only): `None` to send
/// now, or the end of the quiet period. `start == end` turns quiet hours off.
pub fn quiet_until(now: DateTime<Utc>, start: NaiveTime, end: NaiveTime) -> Option<DateTime<Utc>> {
    if start == end {
        return None;
    }
    let local = crate::clock::to_local(now);
    let t = local.time();
    let today = local.date_naive();
    let inside = if start < end { t >= start && t < end } else { t >= start || t < end };
    if !inside {
        return None;
    }
    let end_day = if start > end && t >= start { today.succ_opt()? } else { today };
    Some(crate::clock::local_to_utc(end_day.and_time(end)))
}

/// What the recipient can be reached by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub wechat: bool,
    pub phone: bool,
}

/// The push channels a notice tries, in order (the inbox copy exists regardless, M4):
/// WeChat first; a subscribe message only as the fallback for a user who no longer
/// follows the account (43004); SMS for critical and transactional notices when WeChat
/// cannot deliver. Muted non-critical notices are pushed nowhere.
pub fn plan(criticality: Criticality, reach: Reach, muted: bool) -> Vec<Channel> {
    if muted && criticality != Criticality::Critical {
        return vec![];
    }
    let mut p = Vec::new();
    if reach.wechat {
        p.push(Channel::WechatTemplate);
        p.push(Channel::WechatSubscribe);
    }
    if reach.phone && criticality != Criticality::Informational {
        p.push(Channel::Sms);
    }
    p
}

/// Whether a planned channel is tried, given how the previous one ended: a subscribe
/// message only reaches someone the template could not because they stopped following
/// the account (43004); after any other failure it is skipped.
pub fn worth_trying(channel: Channel, previous_code: Option<&str>) -> bool {
    channel != Channel::WechatSubscribe || previous_code == Some("43004")
}

/// How long a channel keeps being retried on transient errors before the next one is
/// tried: short for critical notices so the fallback lands within the G8 bound of two
/// minutes, longer for the rest (a WeChat outage should not turn into a bill of SMS).
pub fn channel_deadline(criticality: Criticality) -> Duration {
    match criticality {
        Criticality::Critical => Duration::seconds(60),
        Criticality::Transactional => Duration::minutes(30),
        Criticality::Informational => Duration::hours(6),
    }
}

/// The longest wait between transient retries on one channel (a notice is worth less
/// the later it comes); the waits themselves are `clock::backoff`.
pub const RETRY_CAP: Duration = Duration::minutes(5);

/// One field of a provider template: the provider's key and a minijinja expression.
pub type Field = (&'static str, &'static str);

/// A notice scene: everything the platform needs to send it well.
#[derive(Clone, Copy, Debug)]
pub struct Scene {
    /// Also the journey-event kind that triggers it.
    pub code: &'static str,
    pub name_zh: &'static str,
    pub category: Category,
    pub criticality: Criticality,
    /// After this long an unsent notice is no longer worth sending.
    pub expiry_hours: i64,
    /// The page it opens, when the event did not say (minijinja).
    pub link: &'static str,
    pub title: &'static str,
    /// The inbox and SMS text (minijinja).
    pub body: &'static str,
    /// WeChat template / subscribe fields and SMS template parameters.
    pub fields: &'static [Field],
    /// Variables the event must carry (templates may use only these, plus the common ones).
    pub variables: &'static [&'static str],
    /// Later events of these kinds about the same subject make this notice stale (M7).
    pub superseded_by: &'static [&'static str],
    /// The patient must acknowledge it (危急值).
    pub needs_ack: bool,
    /// The notice carries a route from the in-hospital navigation system (OTH-1).
    pub navigates: bool,
}

/// Variables every notice has.
pub const COMMON_VARIABLES: &[&str] = &["patient_name_masked", "message_no", "link", "hospital_name", "route_url", "route_summary", "subject", "scene_name"];

const BOOKING_VARS: &[&str] =
    &["booking_no", "dept_name", "doctor_name", "doctor_title", "visit_date", "period", "start_time", "end_time", "location", "see_no", "fee", "order_no"];
const SESSION_VARS: &[&str] = &[
    "booking_no",
    "dept_name",
    "doctor_name",
    "doctor_title",
    "visit_date",
    "period",
    "start_time",
    "end_time",
    "location",
    "see_no",
    "fee",
    "order_no",
    "change",
    "before",
];
const BOOKING_FIELDS: &[Field] =
    &[("thing1", "{{ dept_name }} {{ doctor_name }}"), ("time2", "{{ visit_date }} {{ start_time }}~{{ end_time }}"), ("thing3", "{{ location }}")];

/// The scene catalogue: the 14 notices of MSG-2 and the further ones of MSG-1/MSG-3.
pub const SCENES: &[Scene] = &[
    Scene {
        code: "booking.confirmed",
        name_zh: "挂号成功提醒",
        category: Category::Booking,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/registrations/{{ booking_no }}",
        title: "挂号成功",
        body: "{{ patient_name_masked }}您好，您已成功预约{{ dept_name }}{{ doctor_name }}，就诊时间{{ visit_date }} {{ start_time }}-{{ end_time }}，地点{{ location }}{% if see_no %}，序号{{ see_no }}{% endif %}。请按时就诊。",
        fields: BOOKING_FIELDS,
        variables: BOOKING_VARS,
        superseded_by: &["booking.cancelled", "booking.lock_lost"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "booking.visit_tomorrow",
        name_zh: "就诊日提醒",
        category: Category::Booking,
        criticality: Criticality::Transactional,
        expiry_hours: 18,
        link: "/registrations/{{ booking_no }}",
        title: "明日就诊提醒",
        body: "{{ patient_name_masked }}您好，您明天（{{ visit_date }}）{{ start_time }}-{{ end_time }}在{{ location }}就诊（{{ dept_name }} {{ doctor_name }}）。请携带：{{ bring }}。",
        fields: &[("thing1", "{{ dept_name }} {{ doctor_name }}"), ("time2", "{{ visit_date }} {{ start_time }}"), ("thing3", "{{ bring }}")],
        variables: &[
            "booking_no",
            "dept_name",
            "doctor_name",
            "doctor_title",
            "visit_date",
            "period",
            "start_time",
            "end_time",
            "location",
            "see_no",
            "fee",
            "order_no",
            "bring",
        ],
        superseded_by: &["booking.cancelled", "booking.lock_lost", "session.suspended"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "session.suspended",
        name_zh: "停诊提醒",
        category: Category::Booking,
        criticality: Criticality::Critical,
        expiry_hours: 72,
        link: "/registrations/{{ booking_no }}",
        title: "医生停诊通知",
        body: "{{ patient_name_masked }}您好，您预约的{{ visit_date }} {{ start_time }} {{ dept_name }}{{ doctor_name }}门诊因{{ change.reason }}停诊。可在订单详情一键退号退费或改约其他医生，给您带来不便敬请谅解。",
        fields: &[("thing1", "{{ dept_name }} {{ doctor_name }}"), ("time2", "{{ visit_date }} {{ start_time }}"), ("thing3", "{{ change.reason }}")],
        variables: SESSION_VARS,
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "session.rescheduled",
        name_zh: "改诊提醒",
        category: Category::Booking,
        criticality: Criticality::Critical,
        expiry_hours: 72,
        link: "/registrations/{{ booking_no }}",
        title: "门诊时间地点调整",
        body: "{{ patient_name_masked }}您好，您预约的{{ dept_name }}{{ doctor_name }}门诊已调整为{{ visit_date }} {{ start_time }}-{{ end_time }}，地点{{ location }}（原{{ before.start_time }}，{{ before.location }}）。原因：{{ change.reason }}。",
        fields: &[("thing1", "{{ dept_name }} {{ doctor_name }}"), ("time2", "{{ visit_date }} {{ start_time }}"), ("thing3", "{{ location }}")],
        variables: SESSION_VARS,
        superseded_by: &["booking.cancelled"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "session.substituted",
        name_zh: "替诊提醒",
        category: Category::Booking,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/registrations/{{ booking_no }}",
        title: "替诊通知",
        body: "{{ patient_name_masked }}您好，您预约的{{ visit_date }} {{ start_time }} {{ dept_name }}门诊改由{{ doctor_name }}{{ doctor_title }}接诊（原{{ before.doctor_name }}）。如不便可在订单详情一键退号。",
        fields: &[("thing1", "{{ dept_name }}"), ("name2", "{{ doctor_name }}"), ("time3", "{{ visit_date }} {{ start_time }}")],
        variables: SESSION_VARS,
        superseded_by: &["booking.cancelled"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "booking.cancelled",
        name_zh: "取消挂号提醒",
        category: Category::Booking,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/registrations/{{ booking_no }}",
        title: "已取消挂号",
        body: "{{ patient_name_masked }}您好，您{{ visit_date }} {{ start_time }}-{{ end_time }} {{ dept_name }}{{ doctor_name }}的预约已取消{% if fee %}，挂号费将原路退回{% endif %}。",
        fields: &[
            ("thing1", "{{ dept_name }} {{ doctor_name }}"),
            ("time2", "{{ visit_date }} {{ start_time }}~{{ end_time }}"),
            ("thing3", "{% if fee %}挂号费将原路退回{% else %}预约已取消{% endif %}"),
        ],
        variables: BOOKING_VARS,
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "booking.lock_lost",
        name_zh: "挂号未成功退费提醒",
        category: Category::Booking,
        criticality: Criticality::Critical,
        expiry_hours: 72,
        link: "/registrations/{{ booking_no }}",
        title: "挂号未成功，费用将退回",
        body: "{{ patient_name_masked }}您好，很抱歉，您预约的{{ visit_date }} {{ start_time }}-{{ end_time }} {{ dept_name }}{{ doctor_name }}号源已失效，挂号未成功{% if fee %}，已支付的费用将原路退回{% endif %}。",
        fields: &[
            ("thing1", "{{ dept_name }} {{ doctor_name }}"),
            ("time2", "{{ visit_date }} {{ start_time }}~{{ end_time }}"),
            ("thing3", "{% if fee %}挂号未成功，费用将退回{% else %}挂号未成功{% endif %}"),
        ],
        variables: BOOKING_VARS,
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "booking.released",
        name_zh: "预约超时释放提醒",
        category: Category::Booking,
        criticality: Criticality::Transactional,
        expiry_hours: 12,
        link: "/registrations/{{ booking_no }}",
        title: "预约未支付，号源已释放",
        body: "{{ patient_name_masked }}您好，您预约的{{ visit_date }} {{ start_time }}-{{ end_time }} {{ dept_name }}{{ doctor_name }}因未在规定时间内完成支付，号源已释放，未产生费用。如需就诊请重新预约。",
        fields: &[
            ("thing1", "{{ dept_name }} {{ doctor_name }}"),
            ("time2", "{{ visit_date }} {{ start_time }}~{{ end_time }}"),
            ("thing3", "未按时支付，号源已释放"),
        ],
        variables: &[
            "booking_no",
            "dept_id",
            "dept_name",
            "doctor_name",
            "doctor_title",
            "visit_date",
            "period",
            "start_time",
            "end_time",
            "location",
            "see_no",
            "fee",
            "order_no",
        ],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "booking.take_number",
        name_zh: "取号提醒",
        category: Category::Booking,
        criticality: Criticality::Informational,
        expiry_hours: 1,
        link: "/registrations/{{ booking_no }}",
        title: "请及时签到取号",
        body: "{{ patient_name_masked }}您好，您{{ visit_date }} {{ start_time }}在{{ location }}的{{ dept_name }}{{ doctor_name }}就诊即将开始，请到达后在订单详情签到取号。",
        fields: &[("thing1", "{{ dept_name }} {{ doctor_name }}"), ("time2", "{{ visit_date }} {{ start_time }}"), ("thing3", "{{ location }}")],
        variables: BOOKING_VARS,
        superseded_by: &["booking.cancelled", "booking.lock_lost", "session.suspended"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "bill.due",
        name_zh: "门诊缴费提醒",
        category: Category::Payment,
        criticality: Criticality::Informational,
        expiry_hours: 12,
        link: "/bills",
        title: "您有待缴费用",
        body: "{{ patient_name_masked }}您好，{{ dept_name }}{{ doctor_name }}医生已为您开具检查/处方，待缴金额{{ total_yuan }}元，可在线缴费，免去排队。",
        fields: &[("thing1", "{{ dept_name }}"), ("amount2", "{{ total_yuan }}"), ("thing3", "在线缴费免排队")],
        variables: &["recipe_id", "visit_id", "dept_name", "doctor_name", "total", "total_yuan", "items"],
        superseded_by: &["bill.paid"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "bill.paid",
        name_zh: "门诊缴费成功提醒",
        category: Category::Payment,
        criticality: Criticality::Critical,
        expiry_hours: 72,
        link: "/pay/{{ order_no }}/result",
        title: "缴费成功",
        body: "{{ patient_name_masked }}您好，您已成功缴费{{ total_yuan }}元{% if insurance %}（医保支付{{ insurance_yuan }}元）{% endif %}，订单号{{ order_no }}。{{ guidance|join('；') }}",
        fields: &[("amount1", "{{ total_yuan }}"), ("thing2", "{{ guidance|join('；') }}"), ("character_string3", "{{ order_no }}")],
        variables: &["order_no", "total", "total_yuan", "insurance", "insurance_yuan", "self_pay", "invoice_no", "guidance"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "refund.completed",
        name_zh: "退款成功提醒",
        category: Category::Payment,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/pay/{{ order_no }}/result",
        title: "退款成功",
        body: "{{ patient_name_masked }}您好，您的{{ purpose_name }}退款{{ amount_yuan }}元已办理完成：{{ parts|join('，') }}，订单号{{ order_no }}。{% if bank_part %}退回银行卡或微信的款项以银行到账时间为准。{% endif %}",
        fields: &[("amount1", "{{ amount_yuan }}"), ("thing2", "{{ parts|join('，') }}"), ("character_string3", "{{ order_no }}")],
        variables: &["order_no", "purpose_name", "amount", "amount_yuan", "parts", "bank_part"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "refund.failed",
        name_zh: "退款异常提醒",
        category: Category::Payment,
        criticality: Criticality::Transactional,
        expiry_hours: 168,
        link: "/pay/{{ order_no }}/result",
        title: "退款未能自动完成",
        body: "{{ patient_name_masked }}您好，您的{{ purpose_name }}退款{{ amount_yuan }}元未能自动原路退回，医院财务处已接手处理，将在3个工作日内与您联系；您也可携带身份证到门诊收费窗口办理。订单号{{ order_no }}。",
        fields: &[("amount1", "{{ amount_yuan }}"), ("thing2", "财务处将联系您办理退款"), ("character_string3", "{{ order_no }}")],
        variables: &["order_no", "purpose_name", "amount", "amount_yuan"],
        superseded_by: &["refund.completed"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "medicine.picked_up",
        name_zh: "取药成功提醒",
        category: Category::Medicine,
        criticality: Criticality::Informational,
        expiry_hours: 24,
        link: "/messages/{{ message_no }}",
        title: "您已取药",
        body: "{{ patient_name_masked }}您好，您已在{{ pharmacy }}取药{% if drugs %}：{{ drugs }}{% endif %}。请遵医嘱用药，如有疑问可咨询药师。",
        fields: &[("thing1", "{{ pharmacy }}"), ("thing2", "{{ drugs }}")],
        variables: &["pharmacy", "drugs", "recipe_id"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "report.ready",
        name_zh: "新报告单提醒",
        category: Category::Report,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "{% if order_no %}/reports/{{ order_no }}{% else %}/reports{% endif %}",
        title: "您有新的报告",
        body: "{{ patient_name_masked }}您好，您的{{ report_name }}报告已于{{ reported_at }}出具，可在手机上查看和保存，复诊时出示即可，无需打印。",
        fields: &[("thing1", "{{ report_name }}"), ("time2", "{{ reported_at }}")],
        variables: &["report_id", "report_name", "reported_at", "dept_name", "order_no"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "specimen.abnormal",
        name_zh: "标本异常提醒",
        category: Category::Report,
        criticality: Criticality::Transactional,
        expiry_hours: 48,
        link: "/reports/{{ order_no }}",
        title: "标本异常，请重新采样",
        // The reason is the lab's own words ("标本溶血", "采集容器错误"): quoted, never glued to
        // "标本" (which read "标本标本溶血").
        body: "{{ patient_name_masked }}您好，您的{{ item_name }}标本不合格（{{ reason }}），无法出具结果。{{ instruction }}",
        fields: &[("thing1", "{{ item_name }}"), ("thing2", "{{ reason }}"), ("thing3", "{{ instruction }}")],
        variables: &["order_no", "item_name", "reason", "instruction", "place", "dept_name"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "report.withdrawn",
        name_zh: "报告撤回更正提醒",
        category: Category::Report,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/reports/{{ order_no }}",
        title: "报告正在复核更正",
        body: "{{ patient_name_masked }}您好，您的{{ report_name }}报告已撤回复核，请暂勿使用已保存的报告，更正后我们会再次通知您。",
        fields: &[("thing1", "{{ report_name }}"), ("thing2", "报告复核更正中")],
        variables: &["order_no", "report_name", "report_id"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "deposit.low",
        name_zh: "住院押金不足提醒",
        category: Category::Inpatient,
        criticality: Criticality::Transactional,
        expiry_hours: 24,
        link: "/messages/{{ message_no }}",
        title: "住院押金不足",
        body: "{{ patient_name_masked }}您好，您在{{ ward }}的住院押金{{ balance_text }}，已不足{{ threshold_yuan }}元，请及时补缴，以免影响治疗。",
        // A balance can be owed (negative): WeChat's amount type cannot say so, a thing can.
        fields: &[("thing1", "{{ ward }}"), ("thing2", "{{ balance_text }}"), ("thing3", "请及时补缴押金")],
        variables: &["inpatient_no", "ward", "balance", "balance_yuan", "balance_text", "threshold", "threshold_yuan"],
        superseded_by: &["deposit.topped_up"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "deposit.topped_up",
        name_zh: "住院押金补缴成功通知",
        category: Category::Inpatient,
        criticality: Criticality::Critical,
        expiry_hours: 72,
        link: "/pay/{{ order_no }}/result",
        title: "押金补缴成功",
        body: "{{ patient_name_masked }}您好，您已成功补缴住院押金{{ amount_yuan }}元{% if balance_yuan %}，当前余额{{ balance_yuan }}元{% endif %}，订单号{{ order_no }}。",
        fields: &[("amount1", "{{ amount_yuan }}"), ("character_string2", "{{ order_no }}")],
        variables: &["order_no", "inpatient_no", "amount", "amount_yuan", "balance", "balance_yuan"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "card.recharged",
        name_zh: "就诊卡充值成功提醒",
        category: Category::Payment,
        criticality: Criticality::Critical,
        expiry_hours: 72,
        link: "/pay/{{ order_no }}/result",
        title: "就诊卡充值成功",
        body: "{{ patient_name_masked }}您好，您的就诊卡已成功充值{{ amount_yuan }}元{% if balance_yuan %}，余额{{ balance_yuan }}元{% endif %}，订单号{{ order_no }}。",
        fields: &[("amount1", "{{ amount_yuan }}"), ("character_string2", "{{ order_no }}")],
        variables: &["order_no", "amount", "amount_yuan", "balance", "balance_yuan"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "surgery.notice",
        name_zh: "手术通知",
        category: Category::Inpatient,
        criticality: Criticality::Transactional,
        expiry_hours: 48,
        link: "/messages/{{ message_no }}",
        title: "手术安排通知",
        body: "{{ patient_name_masked }}您好，您的{{ operation }}已安排在{{ scheduled_at }}，{{ place }}。{{ advice }}",
        fields: &[("thing1", "{{ operation }}"), ("time2", "{{ scheduled_at }}"), ("thing3", "{{ place }}")],
        variables: &["operation", "scheduled_at", "place", "advice", "destination"],
        superseded_by: &[],
        needs_ack: false,
        navigates: true,
    },
    Scene {
        code: "admission.notice",
        name_zh: "入院通知单提醒",
        category: Category::Inpatient,
        criticality: Criticality::Transactional,
        expiry_hours: 168,
        link: "/inpatient/admission",
        title: "入院通知",
        body: "{{ patient_name_masked }}您好，{{ doctor }}医生已为您开具{{ dept_name }}入院通知单，请在手机上选择入院日期和床位类型{% if latest %}（最晚可约{{ latest }}）{% endif %}，住院服务中心确认后会通知您。",
        fields: &[("thing1", "{{ dept_name }}"), ("thing2", "请在线预约入院日期")],
        variables: &["notice_no", "dept_name", "doctor", "latest"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "admission.proposed",
        name_zh: "入院日期调整通知",
        category: Category::Inpatient,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/inpatient/admission/{{ booking_no }}",
        title: "入院日期调整",
        body: "{{ patient_name_masked }}您好，住院服务中心建议您于{{ admit_date }}入住{{ ward }}（{{ bed_type }}）。{% if note %}{{ note }}。{% endif %}请在手机上确认，或另选日期。",
        fields: &[("thing1", "{{ ward }}"), ("date2", "{{ admit_date }}"), ("thing3", "请在线确认入院日期")],
        variables: &["booking_no", "ward", "admit_date", "bed_type", "note"],
        superseded_by: &["admission.prompt"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "admission.prompt",
        name_zh: "入院提醒",
        category: Category::Inpatient,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/messages/{{ message_no }}",
        title: "入院通知",
        body: "{{ patient_name_masked }}您好，已为您安排{{ ward }}床位{% if bed_type %}（{{ bed_type }}）{% endif %}，请于{{ admit_at }}前到{{ place }}办理入院。{% if note %}{{ note }}。{% endif %}请携带：{% if to_bring %}{{ to_bring }}{% else %}身份证、医保凭证{% endif %}。{% if deposit_yuan %}入院需预交押金{{ deposit_yuan }}元。{% endif %}{% if preparation %}入院前注意：{{ preparation }}{% endif %}{% if route_summary %}路线：{{ route_summary }}{% endif %}",
        fields: &[("thing1", "{{ ward }}"), ("time2", "{{ admit_at }}"), ("thing3", "{{ place }}")],
        variables: &["ward", "admit_at", "place", "destination", "bed_type", "to_bring", "deposit", "deposit_yuan", "preparation", "booking_no", "note"],
        superseded_by: &[],
        needs_ack: false,
        navigates: true,
    },
    Scene {
        code: "records.submitted",
        name_zh: "病历复印申请提交成功通知",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/records/{{ application_no }}",
        title: "病历复印申请已提交",
        body: "{{ patient_name_masked }}您好，您的病历复印申请{{ application_no }}已{% if resubmitted %}补正并重新{% endif %}提交{% if paid %}，已支付{{ paid_yuan }}元{% endif %}，病案室将{% if promised_by %}在{{ promised_by }}前{% endif %}完成审核，进度可在手机上随时查看。",
        fields: &[("character_string1", "{{ application_no }}"), ("thing2", "已提交，待病案室审核")],
        variables: &["application_no", "state", "paid", "paid_yuan", "promised_by", "resubmitted"],
        superseded_by: &["records.returned", "records.approved"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.returned",
        name_zh: "病历复印申请退回补正通知",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 168,
        link: "/records/{{ application_no }}",
        title: "病历复印申请需补正",
        body: "{{ patient_name_masked }}您好，您的病历复印申请{{ application_no }}需要补正：{{ reasons }}{% if note %}（{{ note }}）{% endif %}。请在手机上按提示修改后重新提交，其余内容已为您保留。",
        fields: &[("character_string1", "{{ application_no }}"), ("thing2", "{{ reasons }}"), ("thing3", "请在线补正后重新提交")],
        variables: &["application_no", "state", "reasons", "note"],
        superseded_by: &["records.submitted"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.approved",
        name_zh: "病历复印审核通过通知",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/records/{{ application_no }}",
        title: "病历复印审核通过",
        body: "{{ patient_name_masked }}您好，您的病历复印申请{{ application_no }}已审核通过，病案室正在复印，完成后将通知您。",
        fields: &[("character_string1", "{{ application_no }}"), ("thing2", "审核通过，复印中")],
        variables: &["application_no", "state"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.extra_due",
        name_zh: "病历复印补缴费用通知",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 168,
        link: "/pay/{{ order_no }}",
        title: "病历复印需补缴费用",
        body: "{{ patient_name_masked }}您好，您的病历复印申请{{ application_no }}实际为每份{{ pages }}页，比预估多，需补缴{{ extra_yuan }}元。请在手机上完成支付，支付后即可领取或寄出。",
        fields: &[("character_string1", "{{ application_no }}"), ("amount2", "{{ extra_yuan }}"), ("thing3", "请在线补缴费用")],
        variables: &["application_no", "state", "pages", "extra", "extra_yuan", "order_no"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.printed",
        name_zh: "病历复印完成通知",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/records/{{ application_no }}",
        title: "病历复印已完成",
        body: "{{ patient_name_masked }}您好，您的病历复印申请{{ application_no }}已复印完成，正在交由顺丰速运寄出，运单号将另行通知。",
        fields: &[("character_string1", "{{ application_no }}"), ("thing2", "复印完成，待快递揽收")],
        variables: &["application_no", "state"],
        superseded_by: &["records.shipped"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.ready",
        name_zh: "病历复印取件提醒",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 168,
        link: "/records/{{ application_no }}",
        title: "病历复印件可领取",
        body: "{{ patient_name_masked }}您好，您的病历复印申请{{ application_no }}已复印完成，请于{{ hours }}凭取件码{{ pickup_code }}到{{ place }}领取。",
        fields: &[("character_string1", "{{ application_no }}"), ("character_string2", "{{ pickup_code }}"), ("thing3", "{{ place }}")],
        variables: &["application_no", "state", "pickup_code", "place", "hours"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.shipped",
        name_zh: "病历复印寄出通知",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 168,
        link: "/records/{{ application_no }}",
        title: "病历复印件已寄出",
        body: "{{ patient_name_masked }}您好，您的病历复印申请{{ application_no }}已由顺丰速运寄出，运单号{{ waybill_no }}，物流进度可在手机上查看。",
        fields: &[("character_string1", "{{ application_no }}"), ("character_string2", "{{ waybill_no }}")],
        variables: &["application_no", "state", "waybill_no"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.route",
        name_zh: "病历复印物流动态",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 24,
        link: "/records/{{ application_no }}",
        title: "快递物流动态",
        body: "{{ patient_name_masked }}您好，您的病历复印件（运单号{{ waybill_no }}）{{ route_at }}{% if place %}在{{ place }}{% endif %}：{{ remark }}",
        fields: &[("character_string1", "{{ waybill_no }}"), ("thing2", "{{ remark }}"), ("time3", "{{ route_at }}")],
        variables: &["application_no", "waybill_no", "remark", "place", "route_at"],
        superseded_by: &["records.route", "records.delivered"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "records.delivered",
        name_zh: "病历复印签收通知",
        category: Category::Hospital,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/records/{{ application_no }}",
        title: "病历复印件已签收",
        body: "{{ patient_name_masked }}您好，您的病历复印件（运单号{{ waybill_no }}）已签收。如有疑问请联系病案室。",
        fields: &[("character_string1", "{{ waybill_no }}"), ("thing2", "已签收")],
        variables: &["application_no", "state", "waybill_no"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "discharge.prompt",
        name_zh: "出院提醒",
        category: Category::Inpatient,
        criticality: Criticality::Transactional,
        expiry_hours: 72,
        link: "/messages/{{ message_no }}",
        title: "出院结算提醒",
        body: "{{ patient_name_masked }}您好，您已可办理出院，{{ ward }}已完成封账，可在手机上核对费用并完成出院结算。",
        fields: &[("thing1", "{{ ward }}"), ("thing2", "可在线出院结算")],
        variables: &["inpatient_no", "ward"],
        superseded_by: &["discharge.settled"],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "discharge.settled",
        name_zh: "出院结算成功通知",
        category: Category::Inpatient,
        criticality: Criticality::Critical,
        expiry_hours: 168,
        link: "/inpatient/discharge/{{ discharge_no }}",
        title: "出院结算成功",
        body: "{{ patient_name_masked }}您好，您的出院结算已完成：住院总费用{{ total_yuan }}元，医保基金支付{{ fund_yuan }}元，个人自付{{ self_pay_yuan }}元。{% if refund %}押金余额{{ refund_yuan }}元退还给您。{% endif %}{% if refund_online %}其中{{ refund_online_yuan }}元原路退回，1–7个工作日到账。{% endif %}{% if refund_window %}{{ refund_window_yuan }}元请于工作日8:00–17:30到住院部1楼出院结算窗口领取。{% endif %}{% if paid %}已补缴{{ paid_yuan }}元。{% endif %}结算票据号{{ invoice_no }}。祝您早日康复。",
        fields: &[("amount1", "{{ self_pay_yuan }}"), ("amount2", "{{ refund_yuan }}"), ("character_string3", "{{ invoice_no }}")],
        variables: &[
            "discharge_no",
            "inpatient_no",
            "total",
            "total_yuan",
            "fund",
            "fund_yuan",
            "self_pay",
            "self_pay_yuan",
            "refund",
            "refund_yuan",
            "refund_online",
            "refund_online_yuan",
            "refund_window",
            "refund_window_yuan",
            "paid",
            "paid_yuan",
            "invoice_no",
        ],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "medicine.ready",
        name_zh: "取药提醒",
        category: Category::Medicine,
        criticality: Criticality::Informational,
        expiry_hours: 24,
        link: "/messages/{{ message_no }}",
        title: "请取药",
        body: "{{ patient_name_masked }}您好，您的药品已备好，请到{{ pharmacy }}{% if window %}{{ window }}号窗口{% endif %}取药。{% if route_summary %}路线：{{ route_summary }}{% endif %}",
        // The window is the pharmacy's own words ("3", "西药3"): a thing, not a character_string (no Chinese).
        fields: &[("thing1", "{{ pharmacy }}"), ("thing2", "{% if window %}{{ window }}号窗口{% else %}请留意叫号屏{% endif %}")],
        variables: &["pharmacy", "window", "recipe_id", "destination"],
        superseded_by: &["medicine.picked_up"],
        needs_ack: false,
        navigates: true,
    },
    Scene {
        code: "critical_value",
        name_zh: "危急值通知",
        category: Category::Report,
        criticality: Criticality::Critical,
        expiry_hours: 24,
        link: "/messages/{{ message_no }}",
        title: "危急值通知：请立即就医",
        body: "{{ patient_name_masked }}您好，您的{{ item }}结果为危急值（{{ value }}），请立即联系{{ dept_name }}（电话{{ contact_phone }}）或到急诊就医，并在消息中点击“我已知晓”。",
        fields: &[("thing1", "{{ item }}"), ("thing2", "请立即就医"), ("phone_number3", "{{ contact_phone }}")],
        variables: &["item", "value", "dept_name", "ward", "contact_phone", "report_id"],
        superseded_by: &[],
        needs_ack: true,
        navigates: false,
    },
    Scene {
        code: "exam.precautions",
        name_zh: "检查注意事项",
        category: Category::Care,
        criticality: Criticality::Informational,
        expiry_hours: 72,
        link: "/messages/{{ message_no }}",
        title: "检查注意事项",
        body: "{{ patient_name_masked }}您好，您预约的{{ exam_name }}在{{ scheduled_at }}，{{ place }}。注意事项：{{ precautions }}{% if route_summary %} 路线：{{ route_summary }}{% endif %}",
        fields: &[("thing1", "{{ exam_name }}"), ("time2", "{{ scheduled_at }}"), ("thing3", "{{ place }}")],
        variables: &["exam_name", "scheduled_at", "place", "precautions", "destination"],
        superseded_by: &[],
        needs_ack: false,
        navigates: true,
    },
    Scene {
        code: "medication.guidance",
        name_zh: "用药指导",
        category: Category::Care,
        criticality: Criticality::Informational,
        expiry_hours: 168,
        link: "/messages/{{ message_no }}",
        title: "用药指导",
        body: "{{ patient_name_masked }}您好，{{ drug }}的用法：{{ usage }}。{{ advice }}",
        fields: &[("thing1", "{{ drug }}"), ("thing2", "{{ usage }}")],
        variables: &["drug", "usage", "advice"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
    Scene {
        code: "hospital.notice",
        name_zh: "医院通知",
        category: Category::Hospital,
        criticality: Criticality::Informational,
        expiry_hours: 72,
        link: "/messages/{{ message_no }}",
        title: "{{ title }}",
        body: "{{ text }}",
        fields: &[("thing1", "{{ title }}"), ("thing2", "{{ text }}")],
        variables: &["title", "text"],
        superseded_by: &[],
        needs_ack: false,
        navigates: false,
    },
];

/// The provider template a scene uses on a channel until staff set another: the
/// hospital registers one per scene in the WeChat admin and at the SMS provider and
/// enters its id in the console; the demo's simulators know these.
pub fn default_provider_template(channel: Channel, scene_code: &str) -> String {
    let stem = scene_code.replace('.', "_").to_ascii_uppercase();
    match channel {
        Channel::WechatTemplate => format!("TM_{stem}"),
        Channel::WechatSubscribe => format!("ST_{stem}"),
        Channel::Sms => format!("SMS_{stem}"),
        Channel::Inbox => String::new(),
    }
}

/// The scene of a code.
pub fn scene(code: &str) -> Option<&'static Scene> {
    SCENES.iter().find(|s| s.code == code)
}

/// The scene a free-text notice pushed through the open interface uses (MSG-3).
pub const FREE_SCENE: &str = "hospital.notice";

/// A filter for the console's message log.
#[derive(Clone, Debug, Default)]
pub struct MessageQuery {
    pub status: Option<String>,
    pub scene: Option<String>,
    pub patient_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// The columns the daily counts need.
#[derive(Clone, Debug)]
pub struct CountRow {
    pub created_at: DateTime<Utc>,
    pub scene: String,
    pub status: String,
    pub sent_channel: Option<String>,
}

/// The job that turns a recorded journey event into its messages (the message platform's
/// entry). Enqueued with the event, in the same transaction, so an event is never
/// recorded without being delivered.
pub const NOTIFY_DISPATCH: &str = "notify.dispatch";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_msg2_notice_has_a_scene_with_a_unique_code() {
        let msg2 = [
            "挂号成功提醒",
            "就诊日提醒",
            "停诊提醒",
            "改诊提醒",
            "替诊提醒",
            "取消挂号提醒",
            "取号提醒",
            "门诊缴费提醒",
            "门诊缴费成功提醒",
            "取药成功提醒",
            "新报告单提醒",
            "住院押金不足提醒",
            "住院押金补缴成功通知",
            "就诊卡充值成功提醒",
        ];
        for n in msg2 {
            assert!(SCENES.iter().any(|s| s.name_zh == n), "{n} has no scene");
        }
        for more in ["手术通知", "入院提醒", "出院提醒", "取药提醒", "危急值通知", "检查注意事项", "用药指导", "出院结算成功通知"]
        {
            assert!(SCENES.iter().any(|s| s.name_zh == more), "{more} has no scene");
        }
        let mut codes: Vec<_> = SCENES.iter().map(|s| s.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), SCENES.len());
        for s in SCENES {
            for k in s.superseded_by {
                assert!(scene(k).is_some(), "{} superseded by unknown {k}", s.code);
            }
        }
    }

    #[test]
    fn payment_results_and_suspensions_are_critical_and_critical_value_needs_ack() {
        for c in ["bill.paid", "deposit.topped_up", "card.recharged", "session.suspended", "critical_value"] {
            assert_eq!(scene(c).unwrap().criticality, Criticality::Critical, "{c}");
        }
        assert!(scene("critical_value").unwrap().needs_ack);
        assert_eq!(SCENES.iter().filter(|s| s.needs_ack).count(), 1);
    }

    #[test]
    fn plan_orders_channels_by_criticality_and_reach() {
        let all = Reach { wechat: true, phone: true };
        use Channel::*;
        assert_eq!(plan(Criticality::Critical, all, false), vec![WechatTemplate, WechatSubscribe, Sms]);
        assert_eq!(plan(Criticality::Critical, all, true), vec![WechatTemplate, WechatSubscribe, Sms], "critical cannot be muted");
        assert_eq!(plan(Criticality::Transactional, all, false), vec![WechatTemplate, WechatSubscribe, Sms]);
        assert_eq!(plan(Criticality::Transactional, all, true), vec![]);
        assert_eq!(plan(Criticality::Informational, all, false), vec![WechatTemplate, WechatSubscribe]);
        assert_eq!(plan(Criticality::Informational, Reach { wechat: false, phone: true }, false), vec![]);
        assert_eq!(plan(Criticality::Critical, Reach { wechat: false, phone: true }, false), vec![Sms]);
        assert_eq!(plan(Criticality::Critical, Reach::default(), false), vec![]);
        assert!(worth_trying(WechatSubscribe, Some("43004")));
        assert!(!worth_trying(WechatSubscribe, Some("40003")) && !worth_trying(WechatSubscribe, None));
        assert!(worth_trying(Sms, Some("40003")) && worth_trying(WechatTemplate, None));
    }

    #[test]
    fn wechat_codes_are_classified() {
        assert_eq!(classify_wechat(0, "ok"), None);
        for c in [45009, -1, 42001] {
            assert!(matches!(classify_wechat(c, ""), Some(SendOutcome::Transient { .. })), "{c}");
        }
        for c in [43004, 43101, 40003, 40037, 47003] {
            assert!(matches!(classify_wechat(c, ""), Some(SendOutcome::Permanent { .. })), "{c}");
        }
    }

    #[test]
    fn quiet_hours_wrap_midnight() {
        let (s, e) = (NaiveTime::from_hms_opt(22, 0, 0).unwrap(), NaiveTime::from_hms_opt(7, 0, 0).unwrap());
        // 23:30 local (15:30 UTC) → 07:00 local next day (23:00 UTC).
        let late = Utc.with_ymd_and_hms(2026, 11, 26, 15, 30, 0).unwrap();
        assert_eq!(quiet_until(late, s, e), Some(Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0).unwrap()));
        // 06:00 local (22:00 UTC the day before) → 07:00 local the same day.
        let early = Utc.with_ymd_and_hms(2026, 11, 26, 22, 0, 0).unwrap();
        assert_eq!(quiet_until(early, s, e), Some(Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0).unwrap()));
        // Noon local: send now.
        assert_eq!(quiet_until(Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap(), s, e), None);
        assert_eq!(quiet_until(late, s, s), None);
    }

    #[test]
    fn retries_back_off_and_are_capped_and_yuan_reads_right() {
        use crate::clock::backoff;
        assert!(backoff(0, 0.0, RETRY_CAP) >= Duration::milliseconds(1500));
        assert_eq!(backoff(3, 0.5, RETRY_CAP), Duration::seconds(16));
        assert!(backoff(30, 0.99, RETRY_CAP) <= Duration::seconds(375));
        assert_eq!(backoff(30, 0.5, Duration::hours(1)), Duration::hours(1));
    }
}
