//! ID-card photos (REC-1 自动打码): a photo taken in the capture page's card frame is
//! normalised to the card (cropped to the frame, scaled to [`CARD_W`]×[`CARD_H`], one pixel
//! a tenth of a millimetre of the 85.6 × 54 mm card), then the portrait side's birth date —
//! digits 7–14 of the ID number and the 出生 line — and the address are covered before
//! anyone but the reviewing clerk sees it.
//!
//! The regions follow the layout of the second-generation resident ID card (GB/T 16886-era
//! card, text placed by GA 450) [I]: measured positions with a margin for printing and for a
//! card held slightly off the frame. [`synthetic_card`] draws a card in that layout — the
//! tests' stand-in for a real one, never a real card.
use image::{Rgb, RgbImage, imageops};

/// The normalised card, a tenth of a millimetre a pixel.
pub const CARD_W: u32 = 856;
pub const CARD_H: u32 = 540;

/// The capture page's frame: the card guide takes this share of the photo's width, centred
/// (the page draws the same frame over the camera) [I].
pub const FRAME_WIDTH_SHARE: f32 = 0.9;

/// A rectangle on the normalised card: x, y, width, height in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Region {
    const fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }

    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }
}

/// Where the portrait side prints what is masked, as drawn (without margin): the 18 digits
/// of the number start at 29 mm and take 2.82 mm each, on the line at 44.5–50.5 mm; the
/// address block is 18–55 mm across, 29–43.5 mm down; the 出生 line 22–27.5 mm down.
pub mod layout {
    use super::Region;
    pub const NUMBER_X: u32 = 290;
    pub const DIGIT_W: u32 = 28;
    pub const NUMBER_Y: u32 = 445;
    pub const NUMBER_H: u32 = 60;
    pub const ADDRESS: Region = Region::new(180, 290, 370, 145);
    pub const BIRTH: Region = Region::new(180, 220, 370, 55);
    /// The portrait on the right (left alone: the clerk compares it with the HIS).
    pub const PORTRAIT: Region = Region::new(560, 60, 250, 320);

    /// The box of digit `n` (1-based) of the number.
    pub const fn digit(n: u32) -> Region {
        Region::new(NUMBER_X + (n - 1) * DIGIT_W, NUMBER_Y, DIGIT_W, NUMBER_H)
    }
}

/// Added around each printed region: printing offsets and a card held up to ~2 mm off the
/// frame [I].
pub const MARGIN: u32 = 20;
/// Sideways along the number: half a digit.
pub const DIGIT_MARGIN: u32 = 14;

fn grown(r: Region, m: u32) -> Region {
    let x = r.x.saturating_sub(m);
    let y = r.y.saturating_sub(m);
    Region { x, y, w: (r.x + r.w + m).min(CARD_W) - x, h: (r.y + r.h + m).min(CARD_H) - y }
}

/// The regions [`mask_portrait_side`] covers: the birth digits of the number (7–14), the
/// 出生 line and the address, each with its margin. Digits 1–6 (where the card was issued)
/// and 15–18 stay readable for the clerk's comparison with the HIS.
pub fn masked_regions() -> [Region; 3] {
    let (first, last) = (layout::digit(7), layout::digit(14));
    let digits = Region { x: first.x, y: first.y, w: last.x + last.w - first.x, h: first.h };
    // Sideways half a digit, so a card held ~1 mm off still has 7–14 covered and the region
    // code (1–5) and the tail (16–18) stay readable; 6 and 15 may be partly covered then.
    let digits = Region { x: digits.x - DIGIT_MARGIN, y: digits.y.saturating_sub(MARGIN), w: digits.w + 2 * DIGIT_MARGIN, h: digits.h + 2 * MARGIN };
    [grown(layout::BIRTH, MARGIN), grown(layout::ADDRESS, MARGIN), digits.clamped()]
}

impl Region {
    fn clamped(self) -> Self {
        let w = self.w.min(CARD_W - self.x.min(CARD_W));
        let h = self.h.min(CARD_H - self.y.min(CARD_H));
        Self { w, h, ..self }
    }
}

/// The card cut out of a photo taken in the capture frame, scaled to the normal size.
pub fn normalise(photo: &RgbImage) -> RgbImage {
    let (pw, ph) = photo.dimensions();
    let fw = ((pw as f32) * FRAME_WIDTH_SHARE).round().max(1.0) as u32;
    let fh = ((fw as f32) * CARD_H as f32 / CARD_W as f32).round().max(1.0) as u32;
    let (fw, fh) = if fh > ph { (((ph as f32) * CARD_W as f32 / CARD_H as f32) as u32, ph) } else { (fw, fh) };
    let x = (pw - fw.min(pw)) / 2;
    let y = (ph - fh.min(ph)) / 2;
    let frame = imageops::crop_imm(photo, x, y, fw.min(pw), fh.min(ph)).to_image();
    imageops::resize(&frame, CARD_W, CARD_H, imageops::FilterType::Triangle)
}

/// The colour masked regions are filled with.
pub const MASK: Rgb<u8> = Rgb([96, 96, 96]);

/// Covers the birth date and the address of a normalised portrait side.
pub fn mask_portrait_side(card: &mut RgbImage) {
    for r in masked_regions() {
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                card.put_pixel(x, y, MASK);
            }
        }
    }
}

/// A camera frame (4:3, 1200 × 900) with the synthetic card held in the capture page's guide:
/// what the camera page sends for a card, for tests and the fake camera (never a real card).
pub fn synthetic_frame() -> RgbImage {
    synthetic_card((0, 0)).0
}

/// The synthetic frame as a one-frame video: the browser tests' fake camera, and the
/// demo's on a machine without one.
pub fn synthetic_frame_y4m() -> Vec<u8> {
    crate::y4m(&synthetic_frame())
}

/// A stand-in card for tests and the demo (never a real one): the portrait side in the
/// standard layout, its printed strokes as dark blocks, placed in a photo the way the
/// capture frame places a card, `offset` pixels of the card (±) off the frame.
pub fn synthetic_card(offset: (i32, i32)) -> (RgbImage, Vec<(Region, &'static str)>) {
    let mut card = RgbImage::from_pixel(CARD_W, CARD_H, Rgb([214, 226, 236]));
    let ink = Rgb([30, 30, 40]);
    let mut printed: Vec<(Region, &'static str)> = Vec::new();
    let mut block = |card: &mut RgbImage, r: Region, what: &'static str| {
        let r = r.clamped();
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                card.put_pixel(x, y, ink);
            }
        }
        printed.push((r, what));
    };
    let shift = |r: Region| Region {
        x: (r.x as i32 + offset.0).clamp(0, CARD_W as i32 - 1) as u32,
        y: (r.y as i32 + offset.1).clamp(0, CARD_H as i32 - 1) as u32,
        ..r
    };
    // Name and sex: left alone.
    block(&mut card, shift(Region::new(180, 80, 160, 40)), "name");
    // 出生 line and three address lines of glyph-like strokes.
    for i in 0..6 {
        block(&mut card, shift(Region::new(180 + i * 60, 230, 40, 36)), "birth");
    }
    for line in 0..3 {
        for i in 0..9 {
            block(&mut card, shift(Region::new(180 + i * 40, 298 + line * 46, 30, 36)), "address");
        }
    }
    // The 18 digits, each a stroke inside its box.
    const DIGITS: [&str; 18] = ["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "d16", "d17", "d18"];
    for (n, name) in (1..=18).zip(DIGITS) {
        let d = layout::digit(n);
        block(&mut card, shift(Region::new(d.x + 6, d.y + 10, d.w - 12, d.h - 20)), name);
    }
    // The photo: the card in the centred frame on a darker desk.
    let (pw, ph) = (1200u32, 900u32);
    let mut photo = RgbImage::from_pixel(pw, ph, Rgb([70, 60, 50]));
    let fw = (pw as f32 * FRAME_WIDTH_SHARE).round() as u32;
    let fh = (fw as f32 * CARD_H as f32 / CARD_W as f32).round() as u32;
    let scaled = imageops::resize(&card, fw, fh, imageops::FilterType::Triangle);
    imageops::replace(&mut photo, &scaled, i64::from((pw - fw) / 2), i64::from((ph - fh) / 2));
    (photo, printed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dark pixels (ink) inside `r` on the normalised card.
    fn ink_in(card: &RgbImage, r: Region) -> u32 {
        let mut n = 0;
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                let p = card.get_pixel(x, y).0;
                if p.iter().all(|c| *c < 80) {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn the_birth_date_and_the_address_are_covered_pixel_by_pixel_and_the_rest_stays() {
        // Held up to 1 mm off the frame sideways and 1.5 mm up or down.
        for offset in [(0, 0), (10, 0), (-10, 0), (0, 15), (0, -15), (8, -12), (-8, 12)] {
            let (photo, printed) = synthetic_card(offset);
            let mut card = normalise(&photo);
            // Before masking the normalised card shows every stroke.
            for (r, what) in &printed {
                let inner = Region { x: r.x + 4, y: r.y + 4, w: r.w - 8, h: r.h - 8 };
                assert!(ink_in(&card, inner) > inner.w * inner.h / 2, "{what} at {offset:?} is on the card before masking");
            }
            mask_portrait_side(&mut card);
            for (r, what) in &printed {
                let hidden = matches!(*what, "birth" | "address" | "d7" | "d8" | "d9" | "d10" | "d11" | "d12" | "d13" | "d14");
                // Each pixel of a hidden stroke (its scaled edge included) is the mask colour.
                if hidden {
                    for y in r.y.saturating_sub(2)..(r.y + r.h + 2).min(CARD_H) {
                        for x in r.x.saturating_sub(2)..(r.x + r.w + 2).min(CARD_W) {
                            assert_eq!(*card.get_pixel(x, y), MASK, "{what} at {offset:?}: pixel ({x},{y}) not covered");
                        }
                    }
                } else if !matches!(*what, "d6" | "d15") {
                    let inner = Region { x: r.x + 4, y: r.y + 4, w: r.w - 8, h: r.h - 8 };
                    assert!(ink_in(&card, inner) > inner.w * inner.h / 2, "{what} at {offset:?} must stay readable");
                }
            }
        }
    }

    #[test]
    fn a_photo_of_another_shape_is_cut_to_the_card_and_scaled() {
        for (w, h) in [(1200, 900), (900, 1600), (640, 480), (3000, 1000)] {
            let photo = RgbImage::from_pixel(w, h, Rgb([1, 2, 3]));
            assert_eq!(normalise(&photo).dimensions(), (CARD_W, CARD_H));
        }
        let regions = masked_regions();
        assert!(regions.iter().all(|r| r.x + r.w <= CARD_W && r.y + r.h <= CARD_H));
        // The masks stay off the portrait.
        for r in regions {
            assert!(!r.contains(layout::PORTRAIT.x + 10, layout::PORTRAIT.y + 10));
        }
    }
}
