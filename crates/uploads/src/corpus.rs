//! The hostile-file corpus of S8, and the builders of clean files it is made from: for
//! the crate's own tests and for tests that send the same files through an intake point
//! over HTTP (feature `corpus`). Every file here is refused or comes out neutralised.
use crate::Refusal;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageBuffer, Rgb, Rgba};

/// What must not survive in a file that was taken: scripts, markup, archives, metadata.
pub const MARKERS: [&[u8]; 6] = [b"<script", b"<html", b"PK\x03\x04", b"Exif", b"GPSLatitude", b"tEXt"];

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img).write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90)).unwrap();
    out
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| Rgba([(x * 3) as u8, (y * 9) as u8, 200, 255]));
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(img).write_with_encoder(PngEncoder::new(&mut out)).unwrap();
    out
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    c.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    c
}

/// A PNG with a text chunk inserted before IEND.
pub fn png_with_text(text: &[u8]) -> Vec<u8> {
    let mut p = png(16, 16);
    let iend = p.len() - 12;
    let chunk = png_chunk(b"tEXt", &[b"Comment\0".as_slice(), text].concat());
    p.splice(iend..iend, chunk);
    p
}

/// A PNG whose header claims `w`×`h` with a few bytes of image data: a bomb if decoded.
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
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
pub fn exif_segment() -> Vec<u8> {
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

pub fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    let mut j = jpeg(w, h);
    j.splice(2..2, exif_segment());
    j
}

/// A real JPEG whose frame header (SOF0) is patched to claim `w`×`h`.
pub fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut j = jpeg(16, 16);
    let sof = j.windows(2).position(|p| p == [0xFF, 0xC0]).expect("baseline JPEG");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}

/// A well-formed one-page PDF (with a correct cross-reference table, so a renderer takes
/// it as it is) whose catalog carries `body`.
pub fn pdf(body: &str) -> Vec<u8> {
    let objects = [
        format!("<< /Type /Catalog /Pages 2 0 R {body} >>"),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Resources << >> /Contents 4 0 R >>".to_owned(),
        "<< /Length 25 >>\nstream\n0 0 1 rg 10 10 80 40 re f\nendstream".to_owned(),
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).into_bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for off in offsets {
        out.extend(format!("{off:010} 00000 n \n").into_bytes());
    }
    out.extend(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).into_bytes());
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Each hostile file with what `clean` must do with it when every kind is allowed
/// (refuse it with this refusal, or take it neutralised).
pub fn hostile() -> Vec<(&'static str, Vec<u8>, Result<(), Refusal>)> {
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
