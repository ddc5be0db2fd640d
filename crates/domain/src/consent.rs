//! Consent (S13, PIPL arts. 14, 15, 29, 31): what a patient account agreed to, for which
//! purpose, on which text, when and where — and its withdrawal, which takes effect at
//! once. A purpose is either part of the service the patient signed up for (notices:
//! recorded at sign-in with the privacy policy's version, in force until withdrawn) or
//! a separate consent that nothing may be processed without (a child's 少儿医保 binding by
//! the guardian; face enrolment and the health card later): in force only while granted.

/// Why the platform processes something it needs a consent for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Service notices through the WeChat official account (template and subscribe messages).
    WechatNotices,
    /// Service notices by SMS to the mobile of the account's 就诊人.
    SmsNotices,
    /// The guardian's consent to bind and use a child's 少儿医保 (a minor's data: PIPL 31).
    ChildInsurance,
    /// One 就诊人's face-scan services (刷脸就医, FACE-1…4): a separate consent to process
    /// sensitive biometric data (PIPL 28, 29; the 2025 face-recognition measures), given
    /// on its own page, never bundled with another.
    FaceEnrolment,
}

/// Where a consent was given or withdrawn.
pub mod channel {
    pub const SIGN_IN: &str = "wechat_sign_in";
    pub const SETTINGS_PAGE: &str = "settings_page";
    pub const CHILD_BIND_PAGE: &str = "child_bind_page";
    pub const CHILDREN_PAGE: &str = "children_page";
    pub const FACE_PAGE: &str = "face_page";
    pub const API: &str = "api";
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [Purpose::WechatNotices, Purpose::SmsNotices, Purpose::ChildInsurance, Purpose::FaceEnrolment];

    pub fn code(self) -> &'static str {
        match self {
            Purpose::WechatNotices => "wechat_notices",
            Purpose::SmsNotices => "sms_notices",
            Purpose::ChildInsurance => "child_insurance",
            Purpose::FaceEnrolment => "face_enrolment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Purpose::WechatNotices => "微信服务通知",
            Purpose::SmsNotices => "短信通知",
            Purpose::ChildInsurance => "少儿医保绑定",
            Purpose::FaceEnrolment => "刷脸就医",
        }
    }

    /// The words agreed to, as the page shows them next to the choice.
    pub fn text_zh(self) -> &'static str {
        match self {
            Purpose::WechatNotices => "同意医院通过微信公众号向我发送预约、缴费、报告、住院等就诊服务通知，通知中可能包含就诊人的姓名（脱敏）和就诊信息。",
            Purpose::SmsNotices => "同意医院向就诊人登记的手机号发送就诊服务短信；微信无法送达的重要通知（如停诊、危急值）也将通过短信送达。",
            Purpose::ChildInsurance => "我是该儿童的监护人，同意授权绑定，并同意医院为结算需要使用孩子的身份与医保信息。",
            Purpose::FaceEnrolment => {
                "本人（或作为未满14周岁就诊人的监护人）同意医院采集就诊人的人脸信息，用于与公安身份证照片核验身份，并在本院分诊台报到、诊室就诊、自助机缴费时识别就诊人。人脸信息属于敏感个人信息：医院仅保存人脸识别引擎中的用户编号，不保存人脸照片；人脸数据存放在医院内部的人脸库中，不向第三方提供；每次识别均留有记录。不同意不影响您使用身份证、就诊卡或预约二维码办理上述全部业务；您可随时撤回，撤回后医院立即删除该就诊人的人脸信息。"
            }
        }
    }

    /// The version of [`Purpose::text_zh`] (a changed text is a new version, and a new
    /// grant is asked for where the purpose needs a separate one).
    pub fn text_version(self) -> &'static str {
        match self {
            Purpose::WechatNotices | Purpose::SmsNotices => "privacy-2026-12-01",
            Purpose::ChildInsurance => "child-insurance-2026-12-01",
            Purpose::FaceEnrolment => "face-2026-12-08",
        }
    }

    /// Nothing is processed for this purpose without a grant on record (a separate
    /// consent); the others are in force from sign-in until withdrawn.
    pub fn needs_separate_grant(self) -> bool {
        matches!(self, Purpose::ChildInsurance | Purpose::FaceEnrolment)
    }

    /// Whether a grant is about one 就诊人 (a child, a face) rather than the whole account.
    pub fn per_patient(self) -> bool {
        matches!(self, Purpose::ChildInsurance | Purpose::FaceEnrolment)
    }

    /// What withdrawing changes, said before the patient confirms.
    pub fn withdrawal_effect_zh(self) -> &'static str {
        match self {
            Purpose::WechatNotices => {
                "撤回后立即停止向您发送微信通知（含已排队未发出的），消息仍保存在消息中心；停诊、危急值等重要通知将改为短信或由医院工作人员电话联系。"
            }
            Purpose::SmsNotices => "撤回后立即停止向就诊人手机号发送短信（含已排队未发出的）；重要通知在微信无法送达时将由医院工作人员电话联系。",
            Purpose::ChildInsurance => "撤回后立即解除该儿童的少儿医保绑定，不能再用少儿医保在线支付；如需再次使用，请重新绑定。",
            Purpose::FaceEnrolment => {
                "撤回后立即停止该就诊人的刷脸服务，并从医院人脸库中删除其人脸信息；报到、就诊、缴费仍可使用身份证、就诊卡或预约二维码办理。如需再次使用，请重新开通。"
            }
        }
    }
}

/// A text version as a patient reads it: the document and its date
/// (`privacy-2026-12-01` → 《个人信息保护政策》2026年12月1日版).
pub fn version_label_zh(version: &str) -> String {
    let (doc, date) = match version.rsplit_once('-').and_then(|(a, _)| a.rsplit_once('-')).and_then(|(a, _)| a.rsplit_once('-')) {
        Some((doc, _)) => (doc, &version[doc.len() + 1..]),
        None => return version.to_owned(),
    };
    let name = match doc {
        "privacy" => "《个人信息保护政策》",
        "child-insurance" => "少儿医保绑定授权",
        "face" => "《刷脸就医授权书》",
        _ => return version.to_owned(),
    };
    match chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(d) => format!("{name}{}", d.format("%Y年%-m月%-d日版")),
        Err(_) => version.to_owned(),
    }
}

/// One consent as kept: a grant, and its withdrawal once there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    pub purpose: Purpose,
    pub patient_id: Option<i64>,
    pub text_version: String,
    pub channel: String,
    pub granted_at: chrono::DateTime<chrono::Utc>,
    pub withdrawn_at: Option<chrono::DateTime<chrono::Utc>>,
    pub withdrawn_channel: Option<String>,
}

/// Whether `purpose` is in force given its newest record (for the account, or for the
/// 就诊人 where the purpose is per patient). With no record at all, only a purpose that
/// is part of the service is (an account from before consents were recorded).
pub fn in_force(purpose: Purpose, newest: Option<&ConsentRecord>) -> bool {
    match newest {
        Some(r) => r.withdrawn_at.is_none(),
        None => !purpose.needs_separate_grant(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(withdrawn: bool) -> ConsentRecord {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        ConsentRecord {
            purpose: Purpose::SmsNotices,
            patient_id: None,
            text_version: "v".into(),
            channel: channel::SIGN_IN.into(),
            granted_at: at,
            withdrawn_at: withdrawn.then_some(at),
            withdrawn_channel: None,
        }
    }

    #[test]
    fn a_separate_consent_is_off_until_granted_and_a_withdrawal_ends_any() {
        for p in Purpose::ALL {
            assert_eq!(in_force(p, None), !p.needs_separate_grant(), "{p:?} with no record");
            assert!(in_force(p, Some(&record(false))), "{p:?} granted");
            assert!(!in_force(p, Some(&record(true))), "{p:?} withdrawn");
            assert_eq!(Purpose::parse(p.code()), Some(p));
            assert!(!p.text_zh().is_empty() && !p.withdrawal_effect_zh().is_empty());
        }
        assert_eq!(Purpose::parse("face"), None, "codes are whole words");
        assert_eq!(version_label_zh(Purpose::FaceEnrolment.text_version()), "《刷脸就医授权书》2026年12月8日版");
        assert_eq!(version_label_zh(Purpose::SmsNotices.text_version()), "《个人信息保护政策》2026年12月1日版");
        assert_eq!(version_label_zh(Purpose::ChildInsurance.text_version()), "少儿医保绑定授权2026年12月1日版");
        assert_eq!(version_label_zh("odd"), "odd");
    }
}
