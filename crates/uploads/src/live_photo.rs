//! One live photo of a document (REC-1) made fit to keep: cleaned like any upload, refused
//! when there is nothing in the frame, an ID card cut to the card (and its portrait side's
//! birth digits and address covered in the copy others see), any other document bounded in
//! size; the copy others see is stamped with the upload time and 病案号. Both come back as
//! JPEG: the original for the reviewing clerk, the shown copy for everyone else.
use crate::{Kind, Limits, Refusal, decode_image, id_card, quality, watermark};
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;

/// What the photo shows, which decides what is done to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The portrait side of an ID card (人像面): masked.
    IdCardPortrait,
    /// The emblem side (国徽面): cut to the card, nothing to cover.
    IdCardEmblem,
    /// A letter, a certificate: kept as taken, bounded in size.
    Document,
}

/// The largest photo accepted, in pixels (a 48-megapixel phone camera).
pub const MAX_PIXELS: u64 = 50_000_000;
/// A document is kept at most this wide or high.
pub const MAX_SIDE: u32 = 2_000;

pub struct Processed {
    pub original: Vec<u8>,
    pub shown: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// For the clerk: "blurred", "screen".
    pub flags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("{0}")]
    File(#[from] Refusal),
    #[error("nothing in the frame")]
    Empty,
    #[error("encoding failed")]
    Encode,
}

fn jpeg(img: &RgbImage) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::new();
    img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85)).map_err(|_| PhotoError::Encode)?;
    Ok(out)
}

pub fn process(bytes: &[u8], subject: Subject, stamp: &str, max_bytes: usize) -> Result<Processed, PhotoError> {
    let limits = Limits { max_bytes, max_pixels: MAX_PIXELS, allowed: &[Kind::Jpeg, Kind::Png] };
    // Decoded once, under the same checks as any upload; what is kept is re-encoded below,
    // so no metadata of the camera's survives.
    let img = decode_image(bytes, &limits)?.to_rgb8();
    let seen = quality::assess(&img);
    if seen.is_empty() {
        return Err(PhotoError::Empty);
    }
    let (original, mut shown) = match subject {
        Subject::IdCardPortrait | Subject::IdCardEmblem => {
            let card = id_card::normalise(&img);
            let mut shown = card.clone();
            if subject == Subject::IdCardPortrait {
                id_card::mask_portrait_side(&mut shown);
            }
            (card, shown)
        }
        Subject::Document => {
            let (w, h) = img.dimensions();
            let img = if w.max(h) > MAX_SIDE {
                let scale = MAX_SIDE as f32 / w.max(h) as f32;
                image::imageops::resize(&img, ((w as f32 * scale) as u32).max(1), ((h as f32 * scale) as u32).max(1), image::imageops::FilterType::Triangle)
            } else {
                img
            };
            (img.clone(), img)
        }
    };
    let scale = (shown.width() / 400).clamp(1, 4);
    watermark::stamp(&mut shown, stamp, scale);
    Ok(Processed { width: original.width(), height: original.height(), original: jpeg(&original)?, shown: jpeg(&shown)?, flags: seen.flags() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn encode(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 92)).unwrap();
        out
    }

    fn frame_with_card() -> RgbImage {
        id_card::synthetic_frame()
    }

    #[test]
    fn the_portrait_side_is_masked_in_the_shown_copy_only() {
        let p = process(&encode(&frame_with_card()), Subject::IdCardPortrait, "2026-12-07 09:30 病案号 0001", 10 << 20).unwrap();
        assert_eq!((p.width, p.height), (id_card::CARD_W, id_card::CARD_H));
        let original = image::load_from_memory(&p.original).unwrap().to_rgb8();
        let shown = image::load_from_memory(&p.shown).unwrap().to_rgb8();
        let birth = id_card::layout::digit(10);
        let (x, y) = (birth.x + birth.w / 2, birth.y + birth.h / 2);
        let near = |a: &Rgb<u8>, b: Rgb<u8>| a.0.iter().zip(b.0).all(|(p, q)| (i16::from(*p) - i16::from(q)).abs() < 24);
        assert!(near(shown.get_pixel(x, y), id_card::MASK), "birth digit covered in the shown copy");
        assert!(!near(original.get_pixel(x, y), id_card::MASK), "the clerk's original keeps it");
    }

    #[test]
    fn an_empty_frame_and_a_non_image_are_refused() {
        let black = RgbImage::from_pixel(800, 600, Rgb([5, 5, 5]));
        assert!(matches!(process(&encode(&black), Subject::Document, "x", 10 << 20), Err(PhotoError::Empty)));
        assert!(matches!(process(b"<html>", Subject::Document, "x", 10 << 20), Err(PhotoError::File(Refusal::NotAllowed))));
        let emblem = process(&encode(&frame_with_card()), Subject::IdCardEmblem, "x", 10 << 20).unwrap();
        let shown = image::load_from_memory(&emblem.shown).unwrap().to_rgb8();
        let birth = id_card::layout::digit(10);
        assert_ne!(shown.get_pixel(birth.x + 3, birth.y + birth.h / 2), &id_card::MASK, "the emblem side is not masked");
    }
}
