//! The hostile-file corpus of S8: every file here is refused or comes out neutralised.
use super::*;
use image::{ImageBuffer, Rgb, Rgba};

const ALL: Limits = Limits { max_bytes: 2 << 20, max_pixels: 4_000_000, allowed: &Kind::ALL };
const IMAGES: Limits = Limits { max_bytes: 2 << 20, max_pixels: 4_000_000, allowed: &[Kind::Jpeg, Kind::Png] };

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img).write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90)).unwrap();
    out
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| Rgba([(x * 3) as u8, (y * 9) as u8, 200, 255]));
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(img).write_with_encoder(PngEncoder::new(&mut out)).unwrap();
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    c.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    c
}

/// A PNG with a text chunk inserted before IEND.
fn png_with_text(text: &[u8]) -> Vec<u8> {
    let mut p = png(16, 16);
    let iend = p.len() - 12;
    let chunk = png_chunk(b"tEXt", &[b"Comment\0".as_slice(), text].concat());
    p.splice(iend..iend, chunk);
    p
}

/// A PNG whose header claims `w`×`h` with a few bytes of image data: a bomb if decoded.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    p.extend(png_chunk(b"IHDR", &ihdr));
    // zlib stream of a few zero bytes; the rest would inflate to gigabytes of zeros.
    p.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]));
    p.extend(png_chunk(b"IEND", &[]));
    p
}

/// An APP1 EXIF segment: orientation 6 (turn 90° clockwise) and a GPS marker text.
fn exif_segment() -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&6u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(b"GPSLatitude 22.5431N GPSLongitude 114.0579E");
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    seg.extend(payload);
    seg
}

fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    let mut j = jpeg(w, h);
    j.splice(2..2, exif_segment());
    j
}

/// A real JPEG whose frame header (SOF0) is patched to claim `w`×`h`.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut j = jpeg(16, 16);
    let sof = j.windows(2).position(|p| p == [0xFF, 0xC0]).expect("baseline JPEG");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}

fn pdf(body: &str) -> Vec<u8> {
    format!("%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R {body} >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n").into_bytes()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

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

/// Each hostile file with what must happen to it. The count is the closing note's
/// "hostile files tried" for the unit corpus.
fn hostile_corpus() -> Vec<(&'static str, Vec<u8>, Result<(), Refusal>)> {
    let mut jpeg_html = jpeg(16, 16);
    jpeg_html.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let mut jpeg_zip = jpeg(16, 16);
    jpeg_zip.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0payload.exe");
    let mut pdf_zip = pdf("");
    pdf_zip.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0evil.js");
    let mut truncated = jpeg(64, 64);
    truncated.truncate(truncated.len() / 3);
    let mut junk_then_pdf = b"GIF89a....".to_vec();
    junk_then_pdf.extend(pdf(""));
    let mut gzip_bomb = vec![0x1F, 0x8B, 0x08, 0x00];
    gzip_bomb.extend(std::iter::repeat_n(0u8, 64));
    vec![
        ("svg with script", br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#.to_vec(), Err(Refusal::NotAllowed)),
        ("svg with xml prolog", br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>"#.to_vec(), Err(Refusal::NotAllowed)),
        ("html named .jpg", b"<!DOCTYPE html><script>alert(1)</script>".to_vec(), Err(Refusal::NotAllowed)),
        ("gif", b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;".to_vec(), Err(Refusal::NotAllowed)),
        ("bmp", b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0".to_vec(), Err(Refusal::NotAllowed)),
        ("webp", b"RIFF\x1a\0\0\0WEBPVP8 ".to_vec(), Err(Refusal::NotAllowed)),
        ("tiff", b"II*\0\x08\0\0\0".to_vec(), Err(Refusal::NotAllowed)),
        ("zip bomb header", b"PK\x03\x04\x14\0\0\0\x08\0".to_vec(), Err(Refusal::NotAllowed)),
        ("gzip bomb header", gzip_bomb, Err(Refusal::NotAllowed)),
        ("elf executable", b"\x7fELF\x02\x01\x01\0".to_vec(), Err(Refusal::NotAllowed)),
        ("windows executable", b"MZ\x90\0\x03\0\0\0".to_vec(), Err(Refusal::NotAllowed)),
        ("pdf behind junk", junk_then_pdf, Err(Refusal::NotAllowed)),
        ("empty", vec![], Err(Refusal::Empty)),
        ("too large", vec![0xFF; (2 << 20) + 1], Err(Refusal::TooLarge { max: 2 << 20 })),
        ("png decompression bomb 30000²", png_bomb(30_000, 30_000), Err(Refusal::TooManyPixels(900_000_000))),
        ("png bomb at the u32 limit", png_bomb(0x7FFF_FFFF, 0x7FFF_FFFF), Err(Refusal::Undecodable)),
        ("png with zero width", png_bomb(0, 10), Err(Refusal::Undecodable)),
        ("jpeg claiming 8000²", jpeg_claiming(8_000, 8_000), Err(Refusal::TooManyPixels(64_000_000))),
        ("jpeg claiming 65535²", jpeg_claiming(65_535, 65_535), Err(Refusal::TooManyPixels(65_535 * 65_535))),
        // Decoded as far as it goes and re-encoded whole: harmless.
        ("truncated jpeg", truncated, Ok(())),
        ("jpeg magic then garbage", b"\xFF\xD8\xFF\xE0garbage garbage garbage".to_vec(), Err(Refusal::Undecodable)),
        ("png magic then garbage", b"\x89PNG\r\n\x1a\ngarbage".to_vec(), Err(Refusal::Undecodable)),
        ("jpeg + html polyglot", jpeg_html, Ok(())),
        ("jpeg + zip polyglot", jpeg_zip, Ok(())),
        ("png with script in a text chunk", png_with_text(b"<script>alert(1)</script>"), Ok(())),
        ("jpeg with exif gps", jpeg_with_exif(16, 16), Ok(())),
        ("pdf with javascript", pdf("/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"), Err(Refusal::ActiveContent("JavaScript".into()))),
        ("pdf with escaped javascript name", pdf("/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >>"), Err(Refusal::ActiveContent("JavaScript".into()))),
        ("pdf with launch", pdf("/OpenAction << /S /Launch /F (cmd.exe) >>"), Err(Refusal::ActiveContent("Launch".into()))),
        ("pdf with embedded file", pdf("/Names << /EmbeddedFiles << /Names [(a.exe) 3 0 R] >> >>"), Err(Refusal::ActiveContent("EmbeddedFiles".into()))),
        ("pdf with xfa form", pdf("/AcroForm << /XFA 4 0 R >>"), Err(Refusal::ActiveContent("XFA".into()))),
        ("pdf with submit form", pdf("/OpenAction << /S /SubmitForm /F (http://x) >>"), Err(Refusal::ActiveContent("SubmitForm".into()))),
        ("pdf + html polyglot", pdf("/Title (<html><script>alert(1)</script>)"), Err(Refusal::ActiveContent("<script".into()))),
        ("pdf + svg polyglot", pdf("/Title (<svg onload=alert(1)>)"), Err(Refusal::ActiveContent("<svg".into()))),
        ("pdf + appended zip", pdf_zip, Err(Refusal::BadPdf("data after the end-of-file marker"))),
        ("pdf without trailer", b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n".to_vec(), Err(Refusal::BadPdf("no end-of-file marker"))),
        ("pdf with a bad version", b"%PDF-x.y\n%%EOF\n".to_vec(), Err(Refusal::BadPdf("header"))),
    ]
}

#[test]
fn every_hostile_file_is_refused_or_neutralised() {
    let corpus = hostile_corpus();
    assert!(corpus.len() >= 37);
    for (name, bytes, expected) in corpus {
        let got = clean(&bytes, &ALL);
        match expected {
            Err(e) => assert_eq!(got.as_ref().map(|_| ()), Err(&e), "{name}"),
            Ok(()) => {
                let c = got.unwrap_or_else(|e| panic!("{name}: refused with {e}"));
                assert_ne!(c.bytes, bytes, "{name}: not re-encoded");
                for marker in [&b"<script"[..], b"<html", b"PK\x03\x04", b"Exif", b"GPSLatitude", b"tEXt"] {
                    assert!(!contains(&c.bytes, marker), "{name}: {:?} survived", String::from_utf8_lossy(marker));
                }
            }
        }
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
