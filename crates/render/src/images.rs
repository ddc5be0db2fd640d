//! Images from the PACS: checked, decoded and re-encoded (which drops EXIF and any
//! payload hidden after the image data) before they are stored.
use image::{ImageFormat, ImageReader, Luma, codecs::jpeg::JpegEncoder};
use std::io::Cursor;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("not a JPEG image")]
    NotJpeg,
    #[error("image too large: {0} pixels")]
    TooLarge(u64),
    #[error("image cannot be decoded")]
    Undecodable,
}

/// Checks the magic bytes, refuses images over `max_pixels` before decoding them
/// (a decompression bomb never gets its buffer), decodes, and re-encodes as a clean
/// JPEG. Returns (jpeg, width, height).
pub fn normalize_jpeg(bytes: &[u8], max_pixels: u64) -> Result<(Vec<u8>, u32, u32), ImageError> {
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(ImageError::NotJpeg);
    }
    let reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg);
    let (w, h) = reader.into_dimensions().map_err(|_| ImageError::Undecodable)?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(ImageError::TooLarge(pixels));
    }
    let img = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg).decode().map_err(|_| ImageError::Undecodable)?;
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 88).encode_image(&img).map_err(|_| ImageError::Undecodable)?;
    Ok((out, w, h))
}

/// A synthetic grey-scale radiograph (what the PACS simulator serves): soft
/// gradients shaped like a chest film, deterministic for a seed.
pub fn synthetic_radiograph_jpeg(seed: u64, width: u32, height: u32) -> Vec<u8> {
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let phase = (seed % 97) as f64 / 97.0;
    let img = image::ImageBuffer::from_fn(width, height, |x, y| {
        let (dx, dy) = ((f64::from(x) - cx) / cx, (f64::from(y) - cy) / cy);
        // Two lung fields (dark), the mediastinum (bright), ribs as faint bands.
        let lung = |ox: f64| (-(((dx - ox) / 0.32).powi(2) + (dy / 0.62).powi(2))).exp();
        let spine = (-(dx / 0.10).powi(2)).exp();
        let ribs = 0.5 + 0.5 * ((dy * 18.0 + phase * 6.0).sin() * (1.0 - dx.abs())).max(0.0);
        let body = (1.0 - (dx * dx + dy * dy * 0.5)).clamp(0.0, 1.0);
        let v = 40.0 + 150.0 * body - 110.0 * (lung(-0.42) + lung(0.42)) * (0.8 + 0.2 * ribs) + 70.0 * spine;
        Luma([v.clamp(0.0, 255.0) as u8])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img).expect("encoding to memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radiograph_is_a_jpeg_that_normalizes() {
        let jpeg = synthetic_radiograph_jpeg(7, 320, 400);
        let (clean, w, h) = normalize_jpeg(&jpeg, 1_000_000).unwrap();
        assert_eq!((w, h), (320, 400));
        assert!(clean.starts_with(&[0xFF, 0xD8, 0xFF]));
    }

    #[test]
    fn refuses_what_is_not_a_small_jpeg() {
        assert_eq!(normalize_jpeg(b"%PDF-1.7 ...", 10), Err(ImageError::NotJpeg));
        let jpeg = synthetic_radiograph_jpeg(1, 200, 200);
        assert_eq!(normalize_jpeg(&jpeg, 39_999), Err(ImageError::TooLarge(40_000)));
        let mut truncated = jpeg.clone();
        truncated.truncate(40);
        assert_eq!(normalize_jpeg(&truncated, 1_000_000), Err(ImageError::Undecodable));
    }
}
