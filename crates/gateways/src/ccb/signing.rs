//! CCB order MAC and notification signatures (protocols.md §4.1–4.2, observed in
//! integration code [O]).
//!
//! * Order (TXCODE 530550): `MAC = lowerhex(MD5("MERCHANTID=…&POSID=…&BRANCHID=…&ORDERID=…&
//!   PAYMENT=…&CURCODE=01&TXCODE=530550&REMARK1=…&REMARK2=…&RETURNTYPE=3&TIMEOUT=…&PUB=<last 30
//!   characters of the CCB public key>"))`. `PUB` goes into the MAC only, never on the wire.
//! * Notification: verify string `POSID=…&BRANCHID=…&ORDERID=…&PAYMENT=…&CURCODE=…&REMARK1=…&
//!   REMARK2=…[&ACC_TYPE=…]&SUCCESS=…[&TYPE=…&REFERER=…&CLIENTIP=…][&ACCDATE=…]`, `SIGN` an RSA
//!   signature in hex. MD5withRSA is widely reported but not confirmed [I], so the
//!   digest is a setting (`SignDigest`).
use crypto::rsa_sha256::RsaVerifier;
use domain::Fen;

pub const TXCODE_QR: &str = "530550";
pub const CURCODE_CNY: &str = "01";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFields {
    pub merchant_id: String,
    pub pos_id: String,
    pub branch_id: String,
    pub order_id: String,
    pub payment: Fen,
    pub remark1: String,
    pub remark2: String,
    /// Minutes-to-expiry text as CCB wants it (`yyyyMMddHHmmss` deadline); may be empty.
    pub timeout: String,
}

/// The last 30 characters of the CCB-issued public key, the MAC's secret ingredient.
pub fn pub_tail(ccb_public_key: &str) -> String {
    let k: String = ccb_public_key.chars().filter(|c| !c.is_whitespace()).collect();
    k.chars().skip(k.chars().count().saturating_sub(30)).collect()
}

pub fn order_mac_source(f: &OrderFields, pub_tail: &str) -> String {
    format!(
        "MERCHANTID={}&POSID={}&BRANCHID={}&ORDERID={}&PAYMENT={}&CURCODE={CURCODE_CNY}&TXCODE={TXCODE_QR}&REMARK1={}&REMARK2={}&RETURNTYPE=3&TIMEOUT={}&PUB={pub_tail}",
        f.merchant_id,
        f.pos_id,
        f.branch_id,
        f.order_id,
        f.payment.to_yuan_string(),
        f.remark1,
        f.remark2,
        f.timeout
    )
}

pub fn order_mac(f: &OrderFields, pub_tail: &str) -> String {
    crypto::mac::md5_hex(order_mac_source(f, pub_tail).as_bytes())
}

/// The form fields of the order request, MAC included (PUB excluded).
pub fn order_form(f: &OrderFields, pub_tail: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CCB_IBSVersion", "V6".into()),
        ("MERCHANTID", f.merchant_id.clone()),
        ("POSID", f.pos_id.clone()),
        ("BRANCHID", f.branch_id.clone()),
        ("ORDERID", f.order_id.clone()),
        ("PAYMENT", f.payment.to_yuan_string()),
        ("CURCODE", CURCODE_CNY.into()),
        ("TXCODE", TXCODE_QR.into()),
        ("REMARK1", f.remark1.clone()),
        ("REMARK2", f.remark2.clone()),
        ("RETURNTYPE", "3".into()),
        ("TIMEOUT", f.timeout.clone()),
        ("MAC", order_mac(f, pub_tail)),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignDigest {
    Md5,
    Sha256,
}

/// A result notification as received (GET query or POST form).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notification {
    pub pos_id: String,
    pub branch_id: String,
    pub order_id: String,
    pub payment: String,
    pub curcode: String,
    pub remark1: String,
    pub remark2: String,
    pub acc_type: Option<String>,
    pub success: String,
    /// Present together on some channels.
    pub type_referer_clientip: Option<(String, String, String)>,
    pub acc_date: Option<String>,
    pub sign: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("signature does not verify")]
    BadSignature,
    #[error("PAYMENT is not a yuan amount")]
    BadAmount,
}

impl Notification {
    /// Reads the fields from decoded form pairs. Unknown fields are ignored.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, NotifyError> {
        let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let need = |k: &'static str| get(k).ok_or(NotifyError::Missing(k));
        let trc = match (get("TYPE"), get("REFERER"), get("CLIENTIP")) {
            (Some(t), Some(r), Some(c)) => Some((t, r, c)),
            _ => None,
        };
        Ok(Self {
            pos_id: need("POSID")?,
            branch_id: need("BRANCHID")?,
            order_id: need("ORDERID")?,
            payment: need("PAYMENT")?,
            curcode: need("CURCODE")?,
            remark1: get("REMARK1").unwrap_or_default(),
            remark2: get("REMARK2").unwrap_or_default(),
            acc_type: get("ACC_TYPE"),
            success: need("SUCCESS")?,
            type_referer_clientip: trc,
            acc_date: get("ACCDATE"),
            sign: need("SIGN")?,
        })
    }

    pub fn verify_string(&self) -> String {
        let mut s = format!(
            "POSID={}&BRANCHID={}&ORDERID={}&PAYMENT={}&CURCODE={}&REMARK1={}&REMARK2={}",
            self.pos_id, self.branch_id, self.order_id, self.payment, self.curcode, self.remark1, self.remark2
        );
        if let Some(a) = &self.acc_type {
            s.push_str(&format!("&ACC_TYPE={a}"));
        }
        s.push_str(&format!("&SUCCESS={}", self.success));
        if let Some((t, r, c)) = &self.type_referer_clientip {
            s.push_str(&format!("&TYPE={t}&REFERER={r}&CLIENTIP={c}"));
        }
        if let Some(d) = &self.acc_date {
            s.push_str(&format!("&ACCDATE={d}"));
        }
        s
    }

    /// Checks the bank's signature over the verify string.
    pub fn verify(&self, bank_key: &RsaVerifier, digest: SignDigest) -> Result<(), NotifyError> {
        let src = self.verify_string();
        let r = match digest {
            SignDigest::Md5 => bank_key.verify_md5_hex(src.as_bytes(), &self.sign),
            SignDigest::Sha256 => bank_key.verify_sha256_hex(src.as_bytes(), &self.sign),
        };
        r.map_err(|_| NotifyError::BadSignature)
    }

    /// The amount in fen; a malformed amount is an error, never a rounding.
    pub fn amount(&self) -> Result<Fen, NotifyError> {
        Fen::parse_yuan(&self.payment).ok_or(NotifyError::BadAmount)
    }

    /// Paid only if the signature verified *and* `SUCCESS == "Y"` (protocols.md §4.2).
    pub fn says_paid(&self) -> bool {
        self.success == "Y"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto::rsa_sha256::RsaSigner;

    const KEY: &str = include_str!("../../../crypto/tests/vectors/wechatpay_go_test_key.pem");

    fn fields() -> OrderFields {
        OrderFields {
            merchant_id: "105000000000001".into(),
            pos_id: "100001".into(),
            branch_id: "442000000".into(),
            order_id: "CB20261125000001".into(),
            payment: Fen(1_250),
            remark1: "".into(),
            remark2: "".into(),
            timeout: "".into(),
        }
    }

    #[test]
    fn order_mac_source_and_form() {
        let tail = pub_tail(&format!("{}ABCDEFGHIJKLMNOPQRSTUVWXYZ0123", "x".repeat(200)));
        assert_eq!(tail, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123");
        let src = order_mac_source(&fields(), &tail);
        assert_eq!(
            src,
            "MERCHANTID=105000000000001&POSID=100001&BRANCHID=442000000&ORDERID=CB20261125000001&PAYMENT=12.50&CURCODE=01&TXCODE=530550&REMARK1=&REMARK2=&RETURNTYPE=3&TIMEOUT=&PUB=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
        );
        assert_eq!(order_mac(&fields(), &tail), crypto::mac::md5_hex(src.as_bytes()));
        let form = order_form(&fields(), &tail);
        assert!(form.iter().all(|(k, v)| *k != "PUB" && !v.contains("ABCDEFGHIJ")), "PUB never on the wire");
        assert_ne!(order_mac(&OrderFields { payment: Fen(1_251), ..fields() }, &tail), order_mac(&fields(), &tail), "the amount is covered");
    }

    fn signed_notification(digest: SignDigest) -> (Notification, RsaSigner) {
        let bank = RsaSigner::from_pkcs8_pem(KEY).unwrap();
        let mut n = Notification {
            pos_id: "100001".into(),
            branch_id: "442000000".into(),
            order_id: "CB20261125000001".into(),
            payment: "12.50".into(),
            curcode: "01".into(),
            acc_type: Some("12".into()),
            success: "Y".into(),
            acc_date: Some("20261125".into()),
            ..Default::default()
        };
        n.sign = match digest {
            SignDigest::Md5 => bank.sign_md5_hex(n.verify_string().as_bytes()),
            SignDigest::Sha256 => {
                use base64::Engine;
                hex::encode(base64::engine::general_purpose::STANDARD.decode(bank.sign_base64(n.verify_string().as_bytes())).unwrap())
            }
        };
        (n, bank)
    }

    #[test]
    fn notification_verifies_and_tampering_is_caught() {
        for digest in [SignDigest::Md5, SignDigest::Sha256] {
            let (n, bank) = signed_notification(digest);
            let v = bank.verifier();
            assert_eq!(n.verify(&v, digest), Ok(()));
            assert_eq!(n.amount(), Ok(Fen(1_250)));
            assert!(n.says_paid());
            let mut t = n.clone();
            t.payment = "0.01".into();
            assert_eq!(t.verify(&v, digest), Err(NotifyError::BadSignature));
            let mut t = n.clone();
            t.success = "N".into();
            assert_eq!(t.verify(&v, digest), Err(NotifyError::BadSignature));
            let other = if digest == SignDigest::Md5 { SignDigest::Sha256 } else { SignDigest::Md5 };
            assert_eq!(n.verify(&v, other), Err(NotifyError::BadSignature), "the digest setting matters");
        }
    }

    #[test]
    fn notification_parsing() {
        let (n, _) = signed_notification(SignDigest::Md5);
        let pairs: Vec<(String, String)> = [
            ("POSID", "100001"),
            ("BRANCHID", "442000000"),
            ("ORDERID", "CB20261125000001"),
            ("PAYMENT", "12.50"),
            ("CURCODE", "01"),
            ("REMARK1", ""),
            ("REMARK2", ""),
            ("ACC_TYPE", "12"),
            ("SUCCESS", "Y"),
            ("ACCDATE", "20261125"),
            ("SIGN", n.sign.as_str()),
            ("USRMSG", "ignored"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(Notification::from_pairs(&pairs).unwrap(), n);
        assert_eq!(Notification::from_pairs(&pairs[1..]), Err(NotifyError::Missing("POSID")));
        let mut bad = n.clone();
        bad.payment = "12.5x".into();
        assert_eq!(bad.amount(), Err(NotifyError::BadAmount));
    }
}
