//! The NHSA envelope (protocols.md §1.3, several sources agree [O]).
//!
//! Plain request: `{"appId","data":{…},"encType":"SM4","signType":"SM2","timestamp","version"}`.
//! On the wire `data` is replaced by `encData` and `signData` is added.
//!
//! * Sign string: every top-level field except `signData`, `encData` and `extra`, empty
//!   values dropped, keys in ASCII order, `data` as compact JSON with sorted keys and
//!   null/empty values dropped; joined `k=v` with `&`, then `&key=<appSecret>`.
//! * Signature: SM3withSM2, Base64 of raw `r‖s`. The signer ID differs between
//!   deployments (the app secret in the Java demo, `1234567812345678` elsewhere), so it
//!   is a setting.
//! * Encryption: `k1 = appId[0..16]`; `t = SM4-ECB-PKCS7(k1, appSecret)`;
//!   `secKey = UPPERHEX(t)[0..16]` as ASCII bytes; `encData = UPPERHEX(SM4-ECB-PKCS7(secKey,
//!   json(data)))`. Decoding accepts either hex case (the C# demo emits lower case).
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use crypto::sm2::{Sm2Signer, Sm2Verifier};
use serde_json::{Map, Value};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is not a JSON object or lacks {0}")]
    Missing(&'static str),
    #[error("encData does not decrypt with this app's key")]
    Decrypt,
    #[error("decrypted data is not JSON")]
    NotJson,
    #[error("signature does not verify")]
    BadSignature,
    #[error("appId {0} is not ours")]
    WrongApp(String),
}

/// Derives the SM4 key from the app id and secret.
pub fn sm4_key(app_id: &str, app_secret: &str) -> [u8; 16] {
    let k1 = &app_id.as_bytes()[..app_id.len().min(16)];
    let mut k1 = k1.to_vec();
    k1.resize(16, 0);
    let t = crypto::sm4::ecb_encrypt_pkcs7(&k1, app_secret.as_bytes()).expect("16-byte key");
    let hexed = hex::encode_upper(t);
    hexed.as_bytes()[..16].try_into().expect("at least 32 hex chars")
}

/// Object keys sorted (serde_json's map is ordered when `preserve_order` is off) and
/// nulls and empty strings dropped, recursively.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let c = canonical(&m[k]);
                let empty = matches!(&c, Value::Null) || matches!(&c, Value::String(s) if s.is_empty());
                if !empty {
                    out.insert(k.clone(), c);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn field_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(canonical(other).to_string()),
    }
}

/// The string that is signed: see the module documentation.
pub fn sign_string(fields: &Map<String, Value>, app_secret: &str) -> String {
    let mut keys: Vec<&String> = fields.keys().filter(|k| !matches!(k.as_str(), "signData" | "encData" | "extra")).collect();
    keys.sort();
    let mut parts: Vec<String> = keys.into_iter().filter_map(|k| field_text(&fields[k]).map(|v| format!("{k}={v}"))).collect();
    parts.push(format!("key={app_secret}"));
    parts.join("&")
}

pub fn encrypt_data(key: &[u8; 16], data: &Value) -> String {
    hex::encode_upper(crypto::sm4::ecb_encrypt_pkcs7(key, canonical(data).to_string().as_bytes()).expect("16-byte key"))
}

pub fn decrypt_data(key: &[u8; 16], enc: &str) -> Result<Value, EnvelopeError> {
    let raw = hex::decode(enc.trim()).map_err(|_| EnvelopeError::Decrypt)?;
    let pt = crypto::sm4::ecb_decrypt_pkcs7(key, &raw).map_err(|_| EnvelopeError::Decrypt)?;
    serde_json::from_slice(&pt).map_err(|_| EnvelopeError::NotJson)
}

/// One side of the channel: our app credentials, our signing key, and the other
/// side's public key.
pub struct Party {
    pub app_id: String,
    pub app_secret: String,
    pub signer: Sm2Signer,
    pub peer: Sm2Verifier,
}

impl Party {
    fn key(&self) -> [u8; 16] {
        sm4_key(&self.app_id, &self.app_secret)
    }

    /// Builds the wire form of a message: `fields` are the top-level fields other than
    /// `data` (for a request: `encType`, `signType`, `timestamp`, `version`; a response
    /// adds `code` and `message`).
    pub fn seal(&self, mut fields: Map<String, Value>, data: &Value) -> Value {
        fields.insert("appId".into(), Value::String(self.app_id.clone()));
        fields.insert("data".into(), canonical(data));
        let to_sign = sign_string(&fields, &self.app_secret);
        let sig = B64.encode(self.signer.sign(to_sign.as_bytes()));
        fields.remove("data");
        fields.insert("encData".into(), Value::String(encrypt_data(&self.key(), data)));
        fields.insert("signData".into(), Value::String(sig));
        Value::Object(fields)
    }

    /// Opens a wire message from the peer: checks the app id, decrypts `encData`,
    /// verifies the signature over the decrypted content. Returns `data` and the other
    /// top-level fields.
    pub fn open(&self, wire: &Value) -> Result<(Value, Map<String, Value>), EnvelopeError> {
        let obj = wire.as_object().ok_or(EnvelopeError::Missing("object"))?;
        let app = obj.get("appId").and_then(Value::as_str).ok_or(EnvelopeError::Missing("appId"))?;
        if app != self.app_id {
            return Err(EnvelopeError::WrongApp(app.chars().take(40).collect()));
        }
        let sig = obj.get("signData").and_then(Value::as_str).ok_or(EnvelopeError::Missing("signData"))?;
        let sig = B64.decode(sig.trim()).map_err(|_| EnvelopeError::BadSignature)?;
        let data = match obj.get("encData").and_then(Value::as_str) {
            Some(enc) if !enc.is_empty() => decrypt_data(&self.key(), enc)?,
            _ => Value::Null,
        };
        let mut fields = obj.clone();
        fields.remove("encData");
        fields.remove("signData");
        let mut signed = fields.clone();
        if !data.is_null() {
            signed.insert("data".into(), data.clone());
        }
        self.peer.verify(sign_string(&signed, &self.app_secret).as_bytes(), &sig).map_err(|_| EnvelopeError::BadSignature)?;
        Ok((data, fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP_ID: &str = "0F0822652EB7CB91A644E638FBE9941E";
    const APP_SECRET: &str = "30BFE2B0C715E516E5EDF21E289DA826";

    // protocols.md §1.3 vector (computed with Python `cryptography` from yh-gm's demo values).
    #[test]
    fn key_derivation_and_encryption_vector() {
        let key = sm4_key(APP_ID, APP_SECRET);
        assert_eq!(&key, b"1819F24C758EB2EB");
        assert_eq!(encrypt_data(&key, &json!({"userName": "张三"})), "351C24C165D119E970738BA55CEA5967D29A18ED61BECF18BCFEAFF28FA3452A");
        assert_eq!(
            decrypt_data(&key, "351c24c165d119e970738ba55cea5967d29a18ed61becf18bcfeaff28fa3452a").unwrap(),
            json!({"userName": "张三"}),
            "lower-case hex accepted"
        );
        assert_eq!(decrypt_data(&key, "00"), Err(EnvelopeError::Decrypt));
    }

    #[test]
    fn sign_string_shape() {
        let mut f = Map::new();
        f.insert("version".into(), json!("2.0.1"));
        f.insert("appId".into(), json!("A1"));
        f.insert("encType".into(), json!("SM4"));
        f.insert("signType".into(), json!("SM2"));
        f.insert("timestamp".into(), json!("1650000000000"));
        f.insert("extra".into(), json!("ignored"));
        f.insert("encData".into(), json!("ignored"));
        f.insert("empty".into(), json!(""));
        f.insert("data".into(), json!({"payOrdId": "ORD1", "b": null, "a": "", "feeSumamt": "12.30"}));
        assert_eq!(
            sign_string(&f, "SECRET"),
            r#"appId=A1&data={"feeSumamt":"12.30","payOrdId":"ORD1"}&encType=SM4&signType=SM2&timestamp=1650000000000&version=2.0.1&key=SECRET"#
        );
    }

    fn pair(signer_id: &str) -> (Party, Party) {
        let hospital = Sm2Signer::generate(signer_id);
        let centre = Sm2Signer::generate(signer_id);
        let h_pub = hospital.public_key_bytes();
        let c_pub = centre.public_key_bytes();
        let h = Party {
            app_id: APP_ID.into(),
            app_secret: APP_SECRET.into(),
            peer: Sm2Verifier::from_public_key_bytes(signer_id, &c_pub).unwrap(),
            signer: hospital,
        };
        let c = Party {
            app_id: APP_ID.into(),
            app_secret: APP_SECRET.into(),
            peer: Sm2Verifier::from_public_key_bytes(signer_id, &h_pub).unwrap(),
            signer: centre,
        };
        (h, c)
    }

    fn request_fields() -> Map<String, Value> {
        let mut f = Map::new();
        f.insert("encType".into(), json!("SM4"));
        f.insert("signType".into(), json!("SM2"));
        f.insert("timestamp".into(), json!("20261125080000"));
        f.insert("version".into(), json!("2.0.1"));
        f
    }

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let (hospital, centre) = pair(APP_SECRET);
        let data = json!({"payAuthNo": "AUTH440300202611250800000001", "payOrdId": "ORD1", "feeSumamt": "100.00"});
        let wire = hospital.seal(request_fields(), &data);
        assert!(wire.get("data").is_none() && wire.get("encData").is_some());
        let (got, fields) = centre.open(&wire).unwrap();
        assert_eq!(got, canonical(&data));
        assert_eq!(fields["version"], "2.0.1");
        // The centre's answer back.
        let mut rf = request_fields();
        rf.insert("code".into(), json!("0"));
        rf.insert("message".into(), json!("成功"));
        let answer = centre.seal(rf, &json!({"ordStas": "1"}));
        assert_eq!(hospital.open(&answer).unwrap().0, json!({"ordStas": "1"}));
        // Tampering with any signed field, or with the encrypted data, is detected.
        let mut t = wire.clone();
        t["timestamp"] = json!("20261125080001");
        assert_eq!(centre.open(&t), Err(EnvelopeError::BadSignature));
        let other = hospital.seal(request_fields(), &json!({"payOrdId": "ORD2", "feeSumamt": "100.00"}));
        let mut t = wire.clone();
        t["encData"] = other["encData"].clone();
        assert_eq!(centre.open(&t), Err(EnvelopeError::BadSignature));
        let mut t = wire.clone();
        t["appId"] = json!("SOMEONE-ELSE");
        assert!(matches!(centre.open(&t), Err(EnvelopeError::WrongApp(_))));
        // Only the hospital's key verifies: a message signed by the centre's key as if
        // from the hospital is refused.
        assert_eq!(centre.open(&centre.seal(request_fields(), &data)), Err(EnvelopeError::BadSignature));
    }

    /// Found by fuzzing (fuzz/seeds/nhsa_envelope/float-roundtrip): a large float in
    /// the data came back one ULP off after decryption, so a genuine answer failed its
    /// signature. serde_json's `float_roundtrip` keeps parse(print(x)) == x.
    #[test]
    fn numbers_survive_sealing_and_opening() {
        let (hospital, centre) = pair(APP_SECRET);
        for text in [&"6".repeat(135)[..], "0.1", "12.30", "1e-7", "9007199254740993", "-0.0", "1.7976931348623157e308"] {
            let data: Value = serde_json::from_str(&format!("{{\"amount\": {text}}}")).unwrap();
            let opened = hospital.open(&centre.seal(Map::new(), &data)).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(opened.0, canonical(&data), "{text}");
        }
    }

    #[test]
    fn signer_id_must_match_between_the_sides() {
        let (hospital, _) = pair(APP_SECRET);
        let (_, centre_default) = pair(crypto::sm2::DEFAULT_SIGNER_ID);
        let centre =
            Party { peer: Sm2Verifier::from_public_key_bytes(crypto::sm2::DEFAULT_SIGNER_ID, &hospital.signer.public_key_bytes()).unwrap(), ..centre_default };
        let wire = hospital.seal(request_fields(), &json!({"a": "1"}));
        assert_eq!(centre.open(&wire), Err(EnvelopeError::BadSignature));
    }
}
