//! Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30-second steps, 6 digits),
//! the second factor of staff sign-in. Authenticator apps read the secret as Base32.
use crate::mac::hmac_sha1;

pub const STEP_SECONDS: i64 = 30;

/// HOTP (RFC 4226) value for `counter`, with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let h = hmac_sha1(secret, &counter.to_be_bytes());
    let offset = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    bin % 10u32.pow(digits)
}

/// The 6-digit code for the 30-second window containing `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> String {
    format!("{:06}", hotp(secret, (unix_seconds / STEP_SECONDS) as u64, 6))
}

/// Checks a submitted code, allowing one step of clock drift either way. Returns the
/// matched time step so the caller can refuse a second use of the same step.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = unix_seconds / STEP_SECONDS;
    (step - 1..=step + 1).find(|s| {
        let expected = format!("{:06}", hotp(secret, *s as u64, 6));
        crate::constant_time_eq(expected.as_bytes(), code.as_bytes())
    })
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 Base32 without padding, the form `otpauth://` URIs carry.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(B32[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(B32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        if c == b' ' {
            continue;
        }
        let v = B32.iter().position(|&x| x == c.to_ascii_uppercase())? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// `otpauth://` provisioning URI for authenticator apps.
pub fn provisioning_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!("otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30", enc(issuer), enc(account), base32_encode(secret), enc(issuer))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    // RFC 6238 Appendix B (SHA-1 rows, 8 digits).
    #[test]
    fn rfc_6238_vectors() {
        for (t, want) in [(59i64, 94287082u32), (1111111109, 7081804), (1111111111, 14050471), (1234567890, 89005924), (2000000000, 69279037)] {
            assert_eq!(hotp(SECRET, (t / 30) as u64, 8), want, "t={t}");
        }
    }

    // RFC 4226 Appendix D.
    #[test]
    fn rfc_4226_hotp_vectors() {
        let want = [755224, 287082, 359152, 969429, 338314];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(hotp(SECRET, c as u64, 6), *w);
        }
    }

    #[test]
    fn verify_allows_one_step_of_drift_only() {
        let now = 1_700_000_000;
        assert!(verify(SECRET, &code_at(SECRET, now), now).is_some());
        assert!(verify(SECRET, &code_at(SECRET, now - 30), now).is_some());
        assert!(verify(SECRET, &code_at(SECRET, now - 90), now).is_none());
        assert!(verify(SECRET, "12345", now).is_none());
        assert!(verify(SECRET, "abcdef", now).is_none());
    }

    #[test]
    fn base32_round_trip_and_rfc_4648_vector() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert!(base32_decode("M1").is_none());
    }
}
