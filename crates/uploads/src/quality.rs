//! What can be told of a live photo from its pixels alone (REC-1): a frame with nothing on
//! it — the lens covered, the camera pointed at a dark room — is refused at once; a blurred
//! one, or one with the fine regular stripes a photographed screen shows (moiré), is
//! flagged for the clerk, who decides. The thresholds are [I], measured on the synthetic
//! cards and on the fake camera's frames.
use image::{GrayImage, RgbImage, imageops};

/// What the intake saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assessment {
    /// Mean brightness, 0–255.
    pub brightness: f32,
    /// Standard deviation of brightness: how much there is to see.
    pub contrast: f32,
    /// Variance of the Laplacian on a 512-px-wide copy: low is blurred.
    pub sharpness: f32,
    /// Share of the energy of row-to-row differences at the finest period: high on screens.
    pub moire: f32,
}

/// Below this contrast there is no document in the frame.
pub const MIN_CONTRAST: f32 = 12.0;
/// Darker than this there is nothing to read.
pub const MIN_BRIGHTNESS: f32 = 25.0;
/// Below this sharpness the clerk is warned the photo may be blurred.
pub const BLUR_BELOW: f32 = 40.0;
/// Above this share the clerk is warned it may be a photo of a screen.
pub const MOIRE_ABOVE: f32 = 0.6;

impl Assessment {
    /// Refused outright: nothing to see.
    pub fn is_empty(&self) -> bool {
        self.contrast < MIN_CONTRAST || self.brightness < MIN_BRIGHTNESS
    }

    /// Flags for the clerk.
    pub fn flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.sharpness < BLUR_BELOW {
            f.push("blurred".to_owned());
        }
        if self.moire > MOIRE_ABOVE {
            f.push("screen".to_owned());
        }
        f
    }
}

pub fn assess(img: &RgbImage) -> Assessment {
    let w = 512.min(img.width().max(1));
    let h = (u64::from(img.height()) * u64::from(w) / u64::from(img.width().max(1))).max(1) as u32;
    let gray: GrayImage = imageops::grayscale(&imageops::resize(img, w, h, imageops::FilterType::Triangle));
    let n = f64::from(w) * f64::from(h);
    let mean = gray.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / n;
    let var = gray.pixels().map(|p| (f64::from(p.0[0]) - mean).powi(2)).sum::<f64>() / n;
    let (mut lap_sum, mut lap_sq, mut count) = (0f64, 0f64, 0f64);
    let (mut alternating, mut total) = (0f64, 0f64);
    let px = |x: u32, y: u32| f64::from(gray.get_pixel(x, y).0[0]);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let l = px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y);
            lap_sum += l;
            lap_sq += l * l;
            count += 1.0;
            // A stripe one pixel wide flips the sign of the vertical difference every row.
            let d0 = px(x, y) - px(x, y - 1);
            let d1 = px(x, y + 1) - px(x, y);
            total += d0.abs() + d1.abs();
            if d0 * d1 < 0.0 {
                alternating += (d0.abs()).min(d1.abs()) * 2.0;
            }
        }
    }
    let sharpness = if count > 0.0 { lap_sq / count - (lap_sum / count).powi(2) } else { 0.0 };
    Assessment {
        brightness: mean as f32,
        contrast: var.sqrt() as f32,
        sharpness: sharpness as f32,
        moire: if total > 0.0 { (alternating / total) as f32 } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn a_covered_lens_is_empty_and_a_card_is_not() {
        let black = RgbImage::from_pixel(640, 480, Rgb([8, 8, 8]));
        assert!(assess(&black).is_empty());
        let grey = RgbImage::from_pixel(640, 480, Rgb([180, 180, 180]));
        assert!(assess(&grey).is_empty(), "a blank wall has no contrast");
        let (card, _) = crate::id_card::synthetic_card((0, 0));
        let a = assess(&card);
        assert!(!a.is_empty(), "{a:?}");
        assert!(!a.flags().contains(&"screen".to_owned()), "{a:?}");
    }

    #[test]
    fn a_blurred_card_and_a_striped_screen_are_flagged() {
        let (card, _) = crate::id_card::synthetic_card((0, 0));
        let blurred = imageops::blur(&card, 6.0);
        assert!(assess(&blurred).flags().contains(&"blurred".to_owned()), "{:?}", assess(&blurred));
        assert!(!assess(&card).flags().contains(&"blurred".to_owned()), "{:?}", assess(&card));
        // Rows alternating bright and dark, as a screen's lines caught by a camera.
        let screen = RgbImage::from_fn(512, 400, |x, y| if y % 2 == 0 { Rgb([200, 200, 200]) } else { Rgb([60 + (x % 7) as u8, 60, 60]) });
        assert!(assess(&screen).flags().contains(&"screen".to_owned()), "{:?}", assess(&screen));
    }
}
