//! Any bytes as an upload: never a panic or an unbounded allocation; anything accepted
//! is an allowed kind by its own magic bytes, images come out re-encoded (so nothing
//! appended survives), and a display name never keeps a path.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uploads::{Kind, Limits, clean, display_name, sniff};

const LIMITS: Limits = Limits { max_bytes: 1 << 20, max_pixels: 2_000_000, allowed: &Kind::ALL };

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = clean(data, &LIMITS) {
        assert_eq!(sniff(&c.bytes), Some(c.kind));
        if c.kind != Kind::Pdf {
            assert!(u64::from(c.width) * u64::from(c.height) <= LIMITS.max_pixels);
            // The output is our encoder's: cleaning it again is accepted as well.
            assert!(clean(&c.bytes, &LIMITS).is_ok());
        }
    }
    let name = display_name(&String::from_utf8_lossy(data));
    assert!(!name.contains('/') && !name.contains('\\') && !name.chars().any(char::is_control));
});
