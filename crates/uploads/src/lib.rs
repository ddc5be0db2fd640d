//! Files that come from outside — a patient's ID photo or document (S8), an image from
//! the PACS — are never stored or served as they arrived. [`clean`] checks the size,
//! tells the kind by its magic bytes against an allow-list (never by the name or the
//! declared type), decodes images under a pixel cap (a decompression bomb is refused
//! before its buffer exists) and re-encodes them, which drops EXIF/GPS, comments and
//! anything appended after the image data: a JPEG+HTML or JPEG+ZIP polyglot comes out a
//! plain JPEG. PDFs cannot be re-encoded here, so they are checked for structure (the
//! header at byte 0, the trailer at the very end, nothing after it) and refused when
//! they carry active content (JavaScript, launch actions, embedded files, forms that
//! submit). Whatever the kind, files are served only as attachments with `nosniff`.
pub mod id_card;
pub mod live_photo;
pub mod quality;
pub mod synthetic_face;
pub mod watermark;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use std::io::Cursor;

/// The kinds of file accepted anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Jpeg,
    Png,
    Pdf,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Jpeg, Kind::Png, Kind::Pdf];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpeg",
            Kind::Png => "png",
            Kind::Pdf => "pdf",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Pdf => "pdf",
        }
    }
}

/// What one intake point accepts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: usize,
    /// Width × height of an image, checked from its header before decoding.
    pub max_pixels: u64,
    pub allowed: &'static [Kind],
}

/// A file fit to store: re-encoded if it is an image, checked if it is a PDF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleaned {
    pub kind: Kind,
    pub bytes: Vec<u8>,
    /// Pixel size of an image; (0, 0) for a PDF.
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("empty file")]
    Empty,
    #[error("file larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("file type not allowed")]
    NotAllowed,
    #[error("image too large: {0} pixels")]
    TooManyPixels(u64),
    #[error("file cannot be decoded")]
    Undecodable,
    #[error("PDF structure not accepted: {0}")]
    BadPdf(&'static str),
    #[error("PDF carries active content: {0}")]
    ActiveContent(String),
}

impl Refusal {
    /// What the patient reads.
    pub fn message_zh(&self) -> &'static str {
        match self {
            Refusal::Empty => "文件为空，请重新选择。",
            Refusal::TooLarge { .. } => "文件太大，请压缩后再上传。",
            Refusal::NotAllowed => "只能上传 JPG、PNG 图片或 PDF 文件。",
            Refusal::TooManyPixels(_) => "图片尺寸过大，请缩小后再上传。",
            Refusal::Undecodable => "文件已损坏或无法识别，请重新拍摄或导出。",
            Refusal::BadPdf(_) => "PDF 文件不完整或格式不正确，请重新导出。",
            Refusal::ActiveContent(_) => "PDF 中含有脚本或附件，出于安全原因不能上传。",
        }
    }
}

/// The kind by magic bytes, whatever the name says.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.starts_with(b"%PDF-") {
        Some(Kind::Pdf)
    } else {
        None
    }
}

/// Checks and cleans one file for an intake point.
pub fn clean(bytes: &[u8], limits: &Limits) -> Result<Cleaned, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(Refusal::TooLarge { max: limits.max_bytes });
    }
    let kind = sniff(bytes).filter(|k| limits.allowed.contains(k)).ok_or(Refusal::NotAllowed)?;
    match kind {
        Kind::Jpeg | Kind::Png => clean_image(bytes, kind, limits.max_pixels),
        Kind::Pdf => {
            check_pdf(bytes)?;
            Ok(Cleaned { kind, bytes: bytes.to_vec(), width: 0, height: 0 })
        }
    }
}

/// An image upload checked as `clean` checks it (size, kind by magic bytes, pixel count,
/// bounded decoder) and decoded with its EXIF turn applied, for a caller that re-encodes
/// what it keeps anyway (metadata never survives that): one decode, no intermediate JPEG.
pub fn decode_image(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(Refusal::TooLarge { max: limits.max_bytes });
    }
    match sniff(bytes).filter(|k| limits.allowed.contains(k)) {
        Some(kind @ (Kind::Jpeg | Kind::Png)) => decode_checked(bytes, kind, limits.max_pixels),
        _ => Err(Refusal::NotAllowed),
    }
}

fn clean_image(bytes: &[u8], kind: Kind, max_pixels: u64) -> Result<Cleaned, Refusal> {
    let img = decode_checked(bytes, kind, max_pixels)?;
    let (width, height) = (img.width(), img.height());
    let mut out = Vec::new();
    match kind {
        Kind::Png => img.write_with_encoder(PngEncoder::new(&mut out)).map_err(|_| Refusal::Undecodable)?,
        _ => {
            let img = match img {
                DynamicImage::ImageLuma8(_) => img,
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 88)).map_err(|_| Refusal::Undecodable)?
        }
    }
    Ok(Cleaned { kind, bytes: out, width, height })
}

fn decode_checked(bytes: &[u8], kind: Kind, max_pixels: u64) -> Result<DynamicImage, Refusal> {
    let format = if kind == Kind::Png { ImageFormat::Png } else { ImageFormat::Jpeg };
    let (w, h) = ImageReader::with_format(Cursor::new(bytes), format).into_dimensions().map_err(|_| Refusal::Undecodable)?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels == 0 {
        return Err(Refusal::Undecodable);
    }
    if pixels > max_pixels {
        return Err(Refusal::TooManyPixels(pixels));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // The header was checked, but the decoder's own allocations (16-bit RGBA, text
    // chunks) are bounded too.
    let mut caps = image::Limits::default();
    caps.max_image_width = Some(w);
    caps.max_image_height = Some(h);
    caps.max_alloc = Some(pixels.saturating_mul(8).saturating_add(16 << 20));
    reader.limits(caps);
    let mut decoder = reader.into_decoder().map_err(|_| Refusal::Undecodable)?;
    // A phone photo is stored sideways with an EXIF turn; the EXIF goes, so the turn is
    // applied to the pixels first.
    let orientation = decoder.orientation().map_err(|_| Refusal::Undecodable)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|_| Refusal::Undecodable)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// PDF names that make a document do something when opened.
const ACTIVE_PDF_NAMES: &[&str] = &["JavaScript", "JS", "Launch", "EmbeddedFile", "EmbeddedFiles", "RichMedia", "XFA", "SubmitForm", "ImportData", "GoToE"];

/// Structure and content checks of a PDF: version header at byte 0, `%%EOF` at the end
/// with nothing but line ends after it (no appended ZIP or HTML), no active names —
/// including ones spelled with `#xx` escapes — and no markup a browser would run.
pub fn check_pdf(b: &[u8]) -> Result<(), Refusal> {
    let header_ok = b.len() > 8 && b.starts_with(b"%PDF-") && matches!(b[5], b'1' | b'2') && b[6] == b'.' && b[7].is_ascii_digit();
    if !header_ok {
        return Err(Refusal::BadPdf("header"));
    }
    let tail_from = b.len().saturating_sub(1024);
    let eof = find_last(&b[tail_from..], b"%%EOF").ok_or(Refusal::BadPdf("no end-of-file marker"))?;
    if !b[tail_from + eof + 5..].iter().all(|c| matches!(c, b'\r' | b'\n' | b' ' | b'\t' | 0)) {
        return Err(Refusal::BadPdf("data after the end-of-file marker"));
    }
    for markup in [&b"<script"[..], b"<html", b"<svg", b"<iframe"] {
        if contains_ignore_case(b, markup) {
            return Err(Refusal::ActiveContent(String::from_utf8_lossy(markup).into_owned()));
        }
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'/' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < b.len() && !is_pdf_delimiter(b[end]) {
            end += 1;
        }
        if let Some(name) = decode_pdf_name(&b[start..end])
            && let Some(active) = ACTIVE_PDF_NAMES.iter().find(|a| a.as_bytes() == name.as_slice())
        {
            return Err(Refusal::ActiveContent((*active).to_owned()));
        }
        i = end.max(start);
    }
    Ok(())
}

fn is_pdf_delimiter(c: u8) -> bool {
    matches!(c, b'\0' | b'\t' | b'\n' | 0x0C | b'\r' | b' ' | b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

/// A name's bytes with `#xx` escapes decoded; `None` for a malformed escape (which no
/// reader would take as an active name either) or a name too long to be one.
fn decode_pdf_name(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() > 64 {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#' {
            let hex = raw.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// A file name fit to show and to log: the last path component only, no control or
/// direction-override characters, at most 60 characters; "附件" when nothing is left.
/// Stored files never use it: they get random names.
pub fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(*c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'))
        .take(60)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() { "附件".to_owned() } else { trimmed.to_owned() }
}

#[cfg(any(test, feature = "corpus"))]
pub mod corpus;
#[cfg(test)]
mod tests;

/// A frame as a one-frame YUV4MPEG2 video (4:2:0, full-range BT.601), which Chromium's
/// `--use-file-for-fake-video-capture` plays as the camera.
pub fn y4m(frame: &image::RgbImage) -> Vec<u8> {
    let (w, h) = (frame.width() & !1, frame.height() & !1);
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\nFRAME\n").into_bytes();
    let px = |x: u32, y: u32| {
        let p = frame.get_pixel(x, y).0;
        (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]))
    };
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            out.push((0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8);
        }
    }
    for chroma in [0, 1] {
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let (r, g, b) = px(x, y);
                let v = if chroma == 0 { 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b } else { 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b };
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}
