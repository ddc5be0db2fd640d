//! The user agreement and the personal-information policy the sign-in page refers to:
//! what the hospital's service does with a patient's data, in plain Chinese. The texts
//! are the hospital's to adapt (its legal office signs them); the structure follows the
//! Personal Information Protection Law (个人信息保护法) and the health-data rules.
use crate::WebState;
use crate::pages::Chrome;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use domain::ErrorCode;

type Section = (&'static str, &'static [&'static str]);

const UPDATED: &str = "2026-12-01";

const SERVICE: &[Section] = &[
    (
        "一、服务内容",
        &[
            "本服务由医院通过微信公众号提供，包括预约挂号、门诊缴费、医保移动支付、报告查询、住院押金补缴、就诊卡充值、消息通知等。各项服务以医院信息系统（HIS）的实际数据为准。",
        ],
    ),
    (
        "二、账号与就诊人",
        &[
            "您通过微信授权登录。每个微信账号最多可添加5位就诊人，添加时需完成实名核验；为未成年子女添加就诊人或绑定少儿医保，须由其监护人操作。",
            "请妥善保管您的微信账号；因账号被他人使用造成的损失，医院将协助核查，但不承担因您保管不善产生的责任。",
        ],
    ),
    (
        "三、预约与退号",
        &[
            "预约成功后号源为您保留，请在页面提示的时间内完成支付，超时未支付将自动取消。就诊时段开始前30分钟内不能在线退号；医生停诊时可随时退号并全额退款。",
            "多次预约后未就诊且未退号的，系统将按医院规定暂停在线预约资格一段时间，可向门诊部申请解除。",
        ],
    ),
    (
        "四、支付与退款",
        &[
            "非医保支付通过建设银行聚合支付完成；医保支付通过国家医保移动支付平台完成。支付结果以银行和医保中心的确认为准，页面显示“支付成功”前请勿重复支付。",
            "退款按原支付渠道退回：医保部分整笔退回医保中心，银行部分一般1至7个工作日到账。",
        ],
    ),
    (
        "五、报告与消息",
        &[
            "检验检查报告经医生审核发布后方可查看；部分类别按医院规定延迟开放。电子报告与纸质报告内容一致，可保存到手机。",
            "危急值等重要通知将通过微信和短信送达，请及时查看并确认“我已知晓”。",
        ],
    ),
    ("六、联系我们", &["如有疑问或投诉，请联系门诊部或拨打医院总机，也可到门诊大厅服务台办理。"]),
];

const PRIVACY: &[Section] = &[
    (
        "一、我们收集的信息",
        &[
            "就诊人的姓名、身份证号码、手机号码、医保参保信息，用于实名核验、在医院信息系统建档、医保结算和发送就诊通知。",
            "您的微信用户标识和昵称，用于登录和在首页问候您。",
            "就诊过程中产生的预约、缴费、检验检查报告等医疗信息，来自医院信息系统。",
        ],
    ),
    (
        "二、我们如何保护信息",
        &[
            "身份证号、手机号、姓名、微信昵称以及报告和消息中的健康信息均加密存储，密钥不保存在数据库中；页面和日志中只显示脱敏后的信息（如姓名只显示姓氏，手机号只显示前三位和后四位）。",
            "工作人员查看敏感信息均需登录并经双重认证，每一次查看都会记入不可篡改的审计日志。",
        ],
    ),
    (
        "三、信息的使用与共享",
        &[
            "您的信息仅用于本院医疗服务，只在必要范围内提供给：医院信息系统、国家医保移动支付平台（医保结算）、建设银行（支付）、微信和短信服务商（送达通知）。我们不会出售您的个人信息。",
        ],
    ),
    (
        "四、您的权利",
        &[
            "您可以随时查看、移除就诊人；移除后本账号不再显示该就诊人的信息，医院依法保存的病历不受影响。您可以在“提醒设置”中关闭非必要的通知类别（危急值等重要通知除外）。",
            "如需查阅、更正或删除个人信息，或撤回授权，请联系门诊部，我们将在15个工作日内答复。",
        ],
    ),
    ("五、未成年人信息", &["未满14周岁的儿童信息须由其监护人添加和管理；绑定少儿医保需监护人通过微信支付密码验证身份。"]),
    ("六、信息保存期限", &["就诊相关记录按《医疗机构病历管理规定》等法规要求的期限保存；超过期限的信息将被删除或匿名化处理。"]),
];

#[derive(Template, WebTemplate)]
#[template(path = "agreement.html")]
struct AgreementPage {
    hospital: String,
    big_text: bool,
    back: String,
    title: &'static str,
    updated: &'static str,
    sections: &'static [Section],
}

/// `/agreements/service` (《用户服务协议》) and `/agreements/privacy` (《个人信息保护政策》).
pub async fn page(State(st): State<WebState>, headers: HeaderMap, Path(which): Path<String>) -> Result<Response, crate::error::AppError> {
    let (title, sections) = match which.as_str() {
        "service" => ("用户服务协议", SERVICE),
        "privacy" => ("个人信息保护政策", PRIVACY),
        _ => return Err(ErrorCode::NotFound.into()),
    };
    let c = Chrome::new(&st, &headers, &format!("/agreements/{which}"));
    Ok(AgreementPage { hospital: c.hospital, big_text: c.big_text, back: c.back, title, updated: UPDATED, sections }.into_response())
}
