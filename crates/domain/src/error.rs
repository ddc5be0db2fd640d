//! The stable error catalogue. Every failure a patient, a staff member or a hospital
//! system can see has a machine code (never renamed once shipped), an HTTP status and a
//! Chinese message a patient understands. Internal causes go to the log with the
//! request's correlation id, never into the response.
use serde::Serialize;

macro_rules! error_codes {
    ($( $variant:ident => ($code:literal, $status:literal, $zh:literal) ),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum ErrorCode { $( $variant ),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant ),* ];
            pub fn code(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code ),* }
            }
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status ),* }
            }
            pub fn message_zh(self) -> &'static str {
                match self { $( ErrorCode::$variant => $zh ),* }
            }
        }
    };
}

error_codes! {
    // Request shape
    BadRequest => ("BAD_REQUEST", 400, "请求格式不正确，请检查后重试"),
    ValidationFailed => ("VALIDATION_FAILED", 422, "填写的信息有误，请检查后重试"),
    PayloadTooLarge => ("PAYLOAD_TOO_LARGE", 413, "提交的内容过大"),
    UnsupportedMediaType => ("UNSUPPORTED_MEDIA_TYPE", 415, "不支持的提交格式"),
    NotFound => ("NOT_FOUND", 404, "您访问的页面或资源不存在"),
    MethodNotAllowed => ("METHOD_NOT_ALLOWED", 405, "不支持该操作"),
    RateLimited => ("RATE_LIMITED", 429, "操作过于频繁，请稍后再试"),
    CsrfRejected => ("CSRF_REJECTED", 403, "页面已过期，请刷新后重试"),
    // Identity
    IdNumberInvalid => ("ID_NUMBER_INVALID", 422, "身份证号码不正确，请核对后重新输入"),
    MobileInvalid => ("MOBILE_INVALID", 422, "手机号码不正确，请输入11位手机号"),
    NameInvalid => ("NAME_INVALID", 422, "姓名格式不正确，请填写证件上的姓名"),
    RelationshipInvalid => ("RELATIONSHIP_INVALID", 422, "请选择与就诊人的关系"),
    GuardianRequired => ("GUARDIAN_REQUIRED", 422, "未满14周岁的就诊人需由监护人添加，关系请选择“子女”"),
    PatientAlreadyAdded => ("PATIENT_ALREADY_ADDED", 409, "该就诊人已添加，无需重复添加"),
    PatientLimitReached => ("PATIENT_LIMIT_REACHED", 409, "就诊人数量已达上限"),
    PatientNotFound => ("PATIENT_NOT_FOUND", 404, "未找到该就诊人"),
    RealNameMismatch => ("REAL_NAME_MISMATCH", 422, "姓名与身份证号码不一致，请核对后重试"),
    // Sessions and access
    Unauthenticated => ("UNAUTHENTICATED", 401, "请先登录"),
    SessionExpired => ("SESSION_EXPIRED", 401, "登录已过期，请重新登录"),
    Forbidden => ("FORBIDDEN", 403, "您没有权限进行此操作"),
    WechatAuthFailed => ("WECHAT_AUTH_FAILED", 401, "微信授权失败，请重新进入"),
    LoginFailed => ("LOGIN_FAILED", 401, "用户名、密码或动态验证码错误"),
    AccountLocked => ("ACCOUNT_LOCKED", 423, "登录失败次数过多，账号已临时锁定，请稍后再试"),
    OtpReused => ("OTP_REUSED", 401, "动态验证码已使用，请等待下一个验证码"),
    // Outside systems
    HisUnavailable => ("HIS_UNAVAILABLE", 503, "医院系统繁忙，请稍后再试"),
    HisBusy => ("HIS_BUSY", 429, "当前办理人数较多，请稍候几秒再试"),
    HisRejected => ("HIS_REJECTED", 502, "医院系统未能办理该业务，请到窗口咨询"),
    UpstreamUnavailable => ("UPSTREAM_UNAVAILABLE", 503, "服务繁忙，请稍后再试"),
    // Money
    OrderNotFound => ("ORDER_NOT_FOUND", 404, "未找到该订单"),
    OrderStateConflict => ("ORDER_STATE_CONFLICT", 409, "订单状态已变化，请刷新后查看"),
    CardNotTheirs => ("CARD_NOT_THEIRS", 422, "该卡号不属于当前就诊人，请核对实体就诊卡上的卡号"),
    CourierRefused => ("COURIER_REFUSED", 502, "快递下单未成功，医院会尽快处理，您也可改为到病案室自取"),
    InvoiceRefused => ("INVOICE_REFUSED", 502, "电子票据暂未开具成功，医院会尽快处理，您也可到收费窗口咨询"),
    DischargeQuoteChanged => ("DISCHARGE_QUOTE_CHANGED", 409, "住院费用刚刚有更新，请重新核对后再确认结算"),
    AdmissionChoiceInvalid => ("ADMISSION_CHOICE_INVALID", 422, "请在入院通知允许的日期内选择入院日期，并选择病区提供的床位类型"),
    AdmissionDayFull => ("ADMISSION_DAY_FULL", 409, "该日病区床位已满，请选择或建议其他入院日期"),
    CaptureTokenInvalid => ("CAPTURE_TOKEN_INVALID", 422, "拍摄已失效，请在本页重新拍摄证件（不能从相册选择）"),
    FaceNotSeen => ("FACE_NOT_SEEN", 422, "未检测到人脸，请正对摄像头、摘下口罩后重新拍摄"),
    FaceLowQuality => ("FACE_LOW_QUALITY", 422, "照片不够清晰或面部有遮挡，请在光线充足处正对摄像头重新拍摄"),
    FaceLivenessFailed => ("FACE_LIVENESS_FAILED", 422, "活体检测未通过，请本人正对摄像头拍摄，不能使用照片或屏幕"),
    FaceNotRecognised => ("FACE_NOT_RECOGNISED", 422, "未能识别您的身份，请使用身份证、就诊卡或预约二维码办理"),
    FaceIdentityMismatch => ("FACE_IDENTITY_MISMATCH", 422, "人脸与身份证信息核验未通过，请确认是就诊人本人拍摄"),
    FaceEngineRefused => ("FACE_ENGINE_REFUSED", 502, "刷脸服务暂不可用，请使用身份证、就诊卡或预约二维码办理"),
    FaceServicesOff => ("FACE_SERVICES_OFF", 409, "本院暂未开通刷脸服务，请使用身份证、就诊卡或预约二维码办理"),
    FaceConsentRequired => ("FACE_CONSENT_REQUIRED", 422, "请先阅读并同意《刷脸就医授权书》，再开通刷脸就医"),
    FaceAlreadyEnrolled => ("FACE_ALREADY_ENROLLED", 409, "该就诊人已开通刷脸就医；如需更换人脸照片，请先关闭后重新开通"),
    FaceEnrolmentPending => ("FACE_ENROLMENT_PENDING", 409, "该就诊人的人脸信息正在处理，请稍后刷新查看"),
    PhotoRefused => ("PHOTO_REFUSED", 422, "照片不合格，请将证件放入取景框内、避免反光后重新拍摄"),
    RecordStepIncomplete => ("RECORD_STEP_INCOMPLETE", 422, "请先完成前面的步骤"),
    RecordApplicationState => ("RECORD_APPLICATION_STATE", 409, "该申请状态已变化，请刷新后查看"),
    PickupCodeWrong => ("PICKUP_CODE_WRONG", 422, "取件码不正确，请核对后重试"),
    AmountMismatch => ("AMOUNT_MISMATCH", 422, "金额与订单不符"),
    RefundExceedsCaptured => ("REFUND_EXCEEDS_CAPTURED", 409, "退款金额超过可退金额"),
    InsuranceAuthFailed => ("INSURANCE_AUTH_FAILED", 422, "医保授权未成功，请重新授权或选择自费支付"),
    InsuranceNotAllowed => ("INSURANCE_NOT_ALLOWED", 422, "该就诊人或该项费用不能使用医保支付，请选择自费支付"),
    InsuranceRejected => ("INSURANCE_REJECTED", 502, "医保结算未成功，请稍后重试或选择自费支付"),
    PaymentMethodLocked => ("PAYMENT_METHOD_LOCKED", 409, "支付已发起，不能更换支付方式，请完成支付或等待订单关闭"),
    InsuranceRefundWhole => ("INSURANCE_REFUND_WHOLE", 422, "医保部分只能整笔退回"),
    StepUpRequired => ("STEP_UP_REQUIRED", 401, "请输入当前的动态验证码以确认此操作"),
    ReauthRequired => ("REAUTH_REQUIRED", 401, "为保障资金安全，请重新验证身份后继续"),
    ReauthToRead => ("REAUTH_TO_READ", 401, "为保护您的健康信息，请重新验证身份后查看"),
    IdempotencyKeyReused => ("IDEMPOTENCY_KEY_REUSED", 422, "请求编号已用于另一笔不同的请求"),
    IdempotencyInProgress => ("IDEMPOTENCY_IN_PROGRESS", 409, "相同的请求正在处理中，请稍候"),
    // Everything else
    // Registration (issue 4)
    SlotTaken => ("SLOT_TAKEN", 409, "该时段号源已被约满，请选择其他时段"),
    SessionFull => ("SESSION_FULL", 409, "该医生本次出诊的号源已约满，请选择其他医生或日期"),
    SessionSuspended => ("SESSION_SUSPENDED", 409, "该医生本时段已停诊，请选择其他医生或时段"),
    SlotNotBookable => ("SLOT_NOT_BOOKABLE", 422, "该时段不可预约（已过就诊时间或不在预约期内）"),
    BookingDuplicate => ("BOOKING_DUPLICATE", 409, "您在该时段已有预约，请勿重复挂号"),
    BookingNotFound => ("BOOKING_NOT_FOUND", 404, "未找到该预约"),
    BookingNotCancellable => ("BOOKING_NOT_CANCELLABLE", 409, "该预约当前不能取消，如有疑问请到窗口咨询"),
    InsuranceRegistrationException => ("INSURANCE_REGISTRATION_EXCEPTION", 422, "医保挂号异常：按深圳医保规定，本次不能使用医保支付，可选择自费支付或先到绑定社康办理转诊"),
    ChildNotInsured => ("CHILD_NOT_INSURED", 422, "未查询到该儿童的少儿医保参保信息，请核对姓名和身份证号，或先办理少儿医保参保"),
    ChildNotYourWard => ("CHILD_NOT_YOUR_WARD", 403, "该儿童登记的监护人与您的实名信息不符，请由登记的监护人绑定"),
    GuardianSelfRequired => ("GUARDIAN_SELF_REQUIRED", 422, "请先添加本人为就诊人并完成实名认证，再绑定孩子的少儿医保"),
    ChildBindingExpired => ("CHILD_BINDING_EXPIRED", 422, "绑定已超时或验证未完成，请重新绑定"),
    ChildBindingRequired => ("CHILD_BINDING_REQUIRED", 422, "请先绑定孩子的少儿医保，再使用少儿医保支付"),
    CheckInNotOpen => ("CHECK_IN_NOT_OPEN", 409, "当前不在签到时间内：请于就诊当日、就诊时段开始前1小时内到院签到"),
    BookingTicketInvalid => ("BOOKING_TICKET_INVALID", 422, "页面已过期或提交过快，请刷新页面后重新选择时段"),
    BookingBlacklisted => ("BOOKING_BLACKLISTED", 403, "因多次预约未就诊，暂停网上预约，请到窗口挂号或联系客服"),
    // Messages
    TemplateInvalid => ("TEMPLATE_INVALID", 422, "消息模板有误，请按提示修改后再保存"),
    SceneUnknown => ("SCENE_UNKNOWN", 422, "消息场景不存在，请核对场景编码"),
    RecipientNotFound => ("RECIPIENT_NOT_FOUND", 404, "未找到该患者，或患者尚未在微信服务号中添加就诊人"),
    SignatureInvalid => ("SIGNATURE_INVALID", 401, "签名校验失败"),
    NonceReplayed => ("NONCE_REPLAYED", 401, "请求已处理过（随机串重复），请勿重放"),
    TimestampSkewed => ("TIMESTAMP_SKEWED", 401, "请求时间与服务器相差过大，请校准时间后重试"),
    MerchantMismatch => ("MERCHANT_MISMATCH", 422, "商户信息与本院不符"),
    // Reports (RPT-1/2)
    LabOrderUnknown => ("LAB_ORDER_UNKNOWN", 404, "未找到该检验检查申请单"),
    ReportNotFound => ("REPORT_NOT_FOUND", 404, "未找到该报告，或报告尚未发布"),
    ReportNotReleasable => ("REPORT_NOT_RELEASABLE", 409, "报告当前不能发布（尚未出具、已撤回或已发布）"),
    ReconDayNotOver => ("RECON_DAY_NOT_OVER", 422, "该日尚未结束，不能对账：当天的交易次日凌晨3点自动对账，也可在次日手动发起"),
    SpecimenNotRejectable => ("SPECIMEN_NOT_REJECTABLE", 409, "该标本当前状态不能标记异常（尚未采样或报告已出）"),
    SpecimenAlreadyRejected => ("SPECIMEN_ALREADY_REJECTED", 409, "该标本已标记为异常，患者已收到通知"),
    ReportFileInvalid => ("REPORT_FILE_INVALID", 422, "报告文件格式不正确或过大"),
    FileStoreUnavailable => ("FILE_STORE_UNAVAILABLE", 503, "报告文件暂时无法读取，请稍后再试"),
    Conflict => ("CONFLICT", 409, "数据已被修改，请刷新后重试"),
    Internal => ("INTERNAL", 500, "系统繁忙，请稍后再试"),
    StoreUnavailable => ("STORE_UNAVAILABLE", 503, "系统繁忙，请稍后再试"),
}

/// A failure with its stable code and a detail for the log (never shown to users, and
/// never holding personal data: values are masked before they get here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", code.code())]
pub struct DomainError {
    pub code: ErrorCode,
    pub detail: String,
}

impl DomainError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }
}

impl From<ErrorCode> for DomainError {
    fn from(code: ErrorCode) -> Self {
        Self { code, detail: String::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_upper_snake_and_have_chinese_messages() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert!(c.code().bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
            assert!(c.message_zh().chars().any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)));
            assert!((400..600).contains(&c.http_status()));
        }
    }
}
