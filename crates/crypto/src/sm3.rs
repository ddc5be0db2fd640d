//! SM3 hash (GB/T 32905-2016).
use sm3::{Digest, Sm3};

pub fn digest(data: &[u8]) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(data);
    h.finalize().into()
}

pub fn hex_digest(data: &[u8]) -> String {
    hex::encode(digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    // GB/T 32905-2016 Appendix A, examples 1 and 2.
    #[test]
    fn gbt_32905_example_1_abc() {
        assert_eq!(hex_digest(b"abc"), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    }

    #[test]
    fn gbt_32905_example_2_512_bits() {
        assert_eq!(hex_digest("abcd".repeat(16).as_bytes()), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    }
}
