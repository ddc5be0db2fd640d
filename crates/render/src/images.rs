//! The PACS simulator's images. (Checking and cleaning images from outside is the
//! `uploads` crate's.)
use image::{Luma, codecs::jpeg::JpegEncoder};

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
    use image::{ImageFormat, ImageReader};
    use std::io::Cursor;

    #[test]
    fn radiograph_is_a_jpeg_of_the_asked_size() {
        let jpeg = synthetic_radiograph_jpeg(7, 320, 400);
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        let img = ImageReader::with_format(Cursor::new(&jpeg), ImageFormat::Jpeg).decode().unwrap();
        assert_eq!((img.width(), img.height()), (320, 400));
    }
}
