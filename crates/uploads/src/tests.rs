//! The hostile-file corpus of S8 (`corpus.rs`): every file is refused or comes out neutralised.
use super::corpus::*;
use super::*;

const ALL: Limits = Limits { max_bytes: 2 << 20, max_pixels: 4_000_000, allowed: &Kind::ALL };
const IMAGES: Limits = Limits { max_bytes: 2 << 20, max_pixels: 4_000_000, allowed: &[Kind::Jpeg, Kind::Png] };

#[test]
fn clean_files_of_each_kind_pass_and_images_are_re_encoded() {
    let j = jpeg(40, 30);
    let c = clean(&j, &ALL).unwrap();
    assert_eq!((c.kind, c.width, c.height), (Kind::Jpeg, 40, 30));
    assert!(c.bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
    let p = clean(&png(20, 10), &ALL).unwrap();
    assert_eq!((p.kind, p.width, p.height), (Kind::Png, 20, 10));
    let d = pdf("");
    assert_eq!(clean(&d, &ALL).unwrap(), Cleaned { kind: Kind::Pdf, bytes: d.clone(), width: 0, height: 0 });
}

#[test]
fn exif_and_gps_are_stripped_and_the_turn_is_applied() {
    let j = jpeg_with_exif(40, 30);
    assert!(contains(&j, b"GPSLatitude"));
    let c = clean(&j, &ALL).unwrap();
    assert!(!contains(&c.bytes, b"Exif"), "EXIF survived");
    assert!(!contains(&c.bytes, b"GPSLatitude"));
    assert_eq!((c.width, c.height), (30, 40), "orientation 6 turns the picture upright");
}

#[test]
fn every_hostile_file_is_refused_or_neutralised() {
    let corpus = hostile();
    assert!(corpus.len() >= 37);
    for (name, bytes, expected) in corpus {
        let got = clean(&bytes, &ALL);
        match expected {
            Err(e) => assert_eq!(got.as_ref().map(|_| ()), Err(&e), "{name}"),
            Ok(()) => {
                let c = got.unwrap_or_else(|e| panic!("{name}: refused with {e}"));
                assert_ne!(c.bytes, bytes, "{name}: not re-encoded");
                for marker in MARKERS {
                    assert!(!contains(&c.bytes, marker), "{name}: {:?} survived", String::from_utf8_lossy(marker));
                }
            }
        }
    }
}

/// The live-photo path decodes once without `clean`'s intermediate JPEG: it must refuse
/// exactly what `clean` refuses (the same bombs, the same kinds).
#[test]
fn decoding_for_a_live_photo_refuses_what_cleaning_refuses() {
    for (name, bytes, _) in hostile() {
        let cleaned = clean(&bytes, &IMAGES).map(|_| ());
        let decoded = decode_image(&bytes, &IMAGES).map(|_| ());
        assert_eq!(decoded, cleaned, "{name}");
    }
}

#[test]
fn an_intake_point_takes_only_its_own_kinds() {
    assert_eq!(clean(&pdf(""), &IMAGES), Err(Refusal::NotAllowed));
    assert!(clean(&jpeg(8, 8), &IMAGES).is_ok());
}

#[test]
fn every_refusal_has_a_chinese_message() {
    for r in [
        Refusal::Empty,
        Refusal::TooLarge { max: 1 },
        Refusal::NotAllowed,
        Refusal::TooManyPixels(1),
        Refusal::Undecodable,
        Refusal::BadPdf("x"),
        Refusal::ActiveContent("JS".into()),
    ] {
        assert!(r.message_zh().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{r:?}");
    }
}

#[test]
fn display_names_lose_paths_controls_and_direction_tricks() {
    assert_eq!(display_name("../../etc/passwd"), "passwd");
    assert_eq!(display_name("..\\..\\windows\\win.ini"), "win.ini");
    assert_eq!(display_name("photo\u{202E}gpj.exe"), "photogpj.exe");
    assert_eq!(display_name("a\nb\r\0c.jpg"), "abc.jpg");
    assert_eq!(display_name("../"), "附件");
    assert_eq!(display_name("...."), "附件");
    assert_eq!(display_name(&"长".repeat(500)).chars().count(), 60);
    assert_eq!(display_name("身份证正面.jpg"), "身份证正面.jpg");
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_anything_accepted_is_an_allowed_kind(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        if let Ok(c) = clean(&bytes, &ALL) {
            proptest::prop_assert_eq!(sniff(&c.bytes), Some(c.kind));
        }
    }

    #[test]
    fn names_never_keep_a_separator(raw in ".{0,200}") {
        let n = display_name(&raw);
        proptest::prop_assert!(!n.contains('/') && !n.contains('\\') && !n.chars().any(char::is_control));
        proptest::prop_assert!(n.chars().count() <= 60);
    }
}
