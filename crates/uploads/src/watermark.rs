//! The stamp on every served copy of an identity photo (REC-1): the upload time and the
//! 病案号, repeated across the whole image in diagonal rows, so a crop of any part still
//! carries it. Drawn with a small built-in bitmap font (digits, Latin capitals and `-:/.`
//! — what a time and a record number are made of), so no font file is needed.
use image::RgbImage;

/// Glyphs of 5 × 7 cells, one row a byte (the low five bits, the leftmost cell highest).
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ' ' => [0; 7],
        _ => return None,
    })
}

/// The cells of `text` that are ink, as (column, row) in a 6-cell advance per character;
/// characters the font lacks are left out.
fn cells(text: &str) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for (i, g) in text.chars().filter_map(glyph).enumerate() {
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) != 0 {
                    out.push((i as u32 * 6 + col, row as u32));
                }
            }
        }
    }
    out
}

/// How strongly the stamp lightens what is under it (0–255).
const ALPHA: u16 = 140;

/// Stamps `text` across the whole image: rows of the text, each shifted, one cell
/// `scale` pixels, blended white so what is under it stays legible to the clerk.
pub fn stamp(img: &mut RgbImage, text: &str, scale: u32) {
    let scale = scale.max(1);
    let ink = cells(text);
    if ink.is_empty() {
        return;
    }
    let (w, h) = img.dimensions();
    let text_w = (text.chars().filter(|c| glyph(*c).is_some()).count() as u32 * 6 + 6) * scale;
    let line_h = 7 * scale * 4;
    let mut row = 0u32;
    let mut y0 = 0u32;
    while y0 < h {
        // Each row starts a little further right: the rows read as a diagonal band.
        let mut x = -i64::from((row * text_w / 3) % text_w);
        while x < i64::from(w) {
            for (cx, cy) in &ink {
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + i64::from(cx * scale + dx);
                        let py = y0 + cy * scale + dy;
                        if px >= 0 && (px as u32) < w && py < h {
                            let p = img.get_pixel_mut(px as u32, py);
                            for c in p.0.iter_mut() {
                                *c = ((u16::from(*c) * (255 - ALPHA) + 255 * ALPHA) / 255) as u8;
                            }
                        }
                    }
                }
            }
            x += i64::from(text_w);
        }
        y0 += line_h;
        row += 1;
    }
}

/// The stamp's text: the upload time and the 病案号, e.g. `2026-12-07 11:20 MR02026001`.
pub fn stamp_text(uploaded_at: &str, mr_no: &str) -> String {
    format!("{uploaded_at} {mr_no}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn changed(a: &RgbImage, b: &RgbImage, x0: u32, y0: u32, w: u32, h: u32) -> u32 {
        let mut n = 0;
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                if a.get_pixel(x, y) != b.get_pixel(x, y) {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn every_part_of_the_image_carries_the_stamp() {
        let plain = RgbImage::from_pixel(856, 540, Rgb([40, 80, 120]));
        let mut stamped = plain.clone();
        stamp(&mut stamped, &stamp_text("2026-12-07 11:20", "MR02026001"), 2);
        assert_eq!(stamped.dimensions(), plain.dimensions());
        // Any 200 × 150 crop still holds part of the stamp.
        for y in (0..540 - 150).step_by(75) {
            for x in (0..856 - 200).step_by(100) {
                assert!(changed(&plain, &stamped, x, y, 200, 150) > 100, "a crop at ({x},{y}) lost the stamp");
            }
        }
        // Lightened, not painted over: what is under it stays (a stamped pixel is still bluish).
        let p = stamped.pixels().find(|p| **p != Rgb([40, 80, 120])).unwrap();
        assert!(p.0[2] > p.0[0], "{p:?}");
    }

    #[test]
    fn the_stamp_says_what_it_was_given() {
        let base = RgbImage::from_pixel(300, 100, Rgb([0, 0, 0]));
        let (mut a, mut b) = (base.clone(), base.clone());
        stamp(&mut a, "2026-12-07 11:20 MR02026001", 1);
        stamp(&mut b, "2026-12-07 11:21 MR02026001", 1);
        assert_ne!(a, b, "a different time stamps differently");
        // Every character of a time and a record number has a glyph.
        for c in "0123456789-: /.ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars() {
            assert!(glyph(c).is_some(), "{c}");
        }
        assert_eq!(cells("1").len(), [0x04u8, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E].iter().map(|b| b.count_ones() as usize).sum::<usize>());
    }
}
