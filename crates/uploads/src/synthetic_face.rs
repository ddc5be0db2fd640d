//! Synthetic faces for the face-engine simulator, the tests and the demo (FACE-1…4) — never
//! a real person's. Each identity is a stylised face whose cheeks carry a 3 × 8 band of
//! marks: 20 bits of identity and 4 check bits. The simulator "recognises" a face by
//! reading that band back, so matching is deterministic and survives what a real capture
//! does to an image: a camera frame re-encoded as JPEG, the face off-centre, nearer or
//! farther, lighter or darker, with sensor noise.
//!
//! Three captures are drawn: a live face, the same face out of focus (the engine's quality
//! control refuses it), and a photo of the face on a phone screen held up to the camera
//! (its liveness check refuses it). The platform never calls [`read`]: matching is the
//! engine's job; only the simulator reads faces.
use image::{Rgb, RgbImage};

/// The camera frame the faces are drawn in (a webcam's 4:3).
pub const FRAME_W: u32 = 640;
pub const FRAME_H: u32 = 480;
/// Identity bits in the band (the rest are check bits).
pub const CODE_BITS: u32 = 20;
const COLS: u32 = 8;
const ROWS: u32 = 3;
// The reference face, at scale 1.
const RX: f32 = 118.0;
const RY: f32 = 150.0;
const CELL_W: f32 = 22.0;
const CELL_H: f32 = 18.0;
const BAND_TOP: f32 = 5.0;

/// Where the face is in the frame and how it is lit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Offset of the face's centre from the frame's, in pixels.
    pub dx: i32,
    pub dy: i32,
    /// 1.0 = the reference distance; 0.8 farther, 1.15 nearer.
    pub scale: f32,
    /// Multiplies every colour: 0.8 dim, 1.15 bright.
    pub light: f32,
    /// Seeds the sensor noise.
    pub seed: u64,
}

impl Default for Pose {
    fn default() -> Self {
        Self { dx: 0, dy: 0, scale: 1.0, light: 1.0, seed: 1 }
    }
}

/// How the face came before the camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    Live,
    /// Out of focus: the engine's quality control refuses it.
    Blurred,
    /// A photo of the face shown on a phone screen: the liveness check refuses it.
    Screen,
}

/// The identity a synthetic face shows for an ID number (the simulator's "public security
/// photo" of that number is this face): 20 bits of FNV-1a.
pub fn code_for_id_number(id_number: &str) -> u32 {
    (fnv1a(id_number.trim().to_ascii_uppercase().as_bytes()) & ((1 << CODE_BITS) - 1)) as u32
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn check_bits(code: u32) -> u32 {
    (fnv1a(&code.to_le_bytes()) & 0xF) as u32
}

fn band_bits(code: u32) -> u32 {
    (code & ((1 << CODE_BITS) - 1)) | (check_bits(code) << CODE_BITS)
}

/// The `n`-th of an identity's captures as a phone or a desk camera would take them:
/// each a little off-centre, nearer or farther and differently lit (n = 0 is the
/// reference pose).
pub fn variant(code: u32, n: u32) -> RgbImage {
    if n == 0 {
        return face(code, Pose::default(), Capture::Live);
    }
    let h = fnv1a(&[code.to_le_bytes(), n.to_le_bytes()].concat());
    let pick = |shift: u32, span: i64| ((h >> shift) % (2 * span as u64 + 1)) as i64 - span;
    let pose =
        Pose { dx: pick(0, 40) as i32, dy: pick(8, 25) as i32, scale: 1.0 + pick(16, 12) as f32 / 100.0, light: 1.0 + pick(24, 15) as f32 / 100.0, seed: h };
    face(code, pose, Capture::Live)
}

/// Draws identity `code` in a camera frame.
pub fn face(code: u32, pose: Pose, capture: Capture) -> RgbImage {
    match capture {
        Capture::Live => live(code, pose),
        Capture::Blurred => box_blur(&live(code, pose), 7),
        Capture::Screen => on_screen(&live(code, Pose { seed: pose.seed, ..Pose::default() }), pose),
    }
}

/// A frame with no face in it: a wall.
pub fn empty_frame() -> RgbImage {
    let mut img = RgbImage::new(FRAME_W, FRAME_H);
    background(&mut img);
    img
}

const SKIN_TONES: [[u8; 3]; 3] = [[236, 196, 164], [222, 175, 140], [205, 158, 122]];

fn background(img: &mut RgbImage) {
    let h = img.height() as f32;
    for (_, y, p) in img.enumerate_pixels_mut() {
        let t = y as f32 / h;
        *p = Rgb([(200.0 - 30.0 * t) as u8, (212.0 - 27.0 * t) as u8, (226.0 - 25.0 * t) as u8]);
    }
}

fn fill_ellipse(img: &mut RgbImage, (cx, cy): (f32, f32), (rx, ry): (f32, f32), colour: [u8; 3]) {
    let (x0, x1) = ((cx - rx).floor().max(0.0) as u32, ((cx + rx).ceil() as u32).min(img.width().saturating_sub(1)));
    let (y0, y1) = ((cy - ry).floor().max(0.0) as u32, ((cy + ry).ceil() as u32).min(img.height().saturating_sub(1)));
    if cx + rx < 0.0 || cy + ry < 0.0 {
        return;
    }
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (u, v) = ((x as f32 + 0.5 - cx) / rx, (y as f32 + 0.5 - cy) / ry);
            if u * u + v * v <= 1.0 {
                img.put_pixel(x, y, Rgb(colour));
            }
        }
    }
}

fn fill_rect(img: &mut RgbImage, (x0, y0): (f32, f32), (x1, y1): (f32, f32), colour: [u8; 3]) {
    let clamp = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
    for y in clamp(y0, img.height())..clamp(y1, img.height()) {
        for x in clamp(x0, img.width())..clamp(x1, img.width()) {
            img.put_pixel(x, y, Rgb(colour));
        }
    }
}

fn live(code: u32, pose: Pose) -> RgbImage {
    let mut img = RgbImage::new(FRAME_W, FRAME_H);
    background(&mut img);
    let s = pose.scale;
    let (cx, cy) = (FRAME_W as f32 / 2.0 + pose.dx as f32, 250.0 + pose.dy as f32);
    let skin = SKIN_TONES[(code % 3) as usize];
    // Shoulders, hair, then the face over them.
    fill_ellipse(&mut img, (cx, cy + RY * s + 120.0 * s), (210.0 * s, 150.0 * s), [52, 86, 140]);
    fill_ellipse(&mut img, (cx, cy - 55.0 * s), (RX * s + 14.0 * s, 125.0 * s), [60, 45, 35]);
    fill_ellipse(&mut img, (cx, cy), (RX * s, RY * s), skin);
    for side in [-1.0_f32, 1.0] {
        let ex = cx + side * 45.0 * s;
        fill_rect(&mut img, (ex - 22.0 * s, cy - 62.0 * s), (ex + 22.0 * s, cy - 55.0 * s), [70, 50, 40]);
        fill_ellipse(&mut img, (ex, cy - 35.0 * s), (20.0 * s, 10.0 * s), [246, 246, 242]);
        fill_ellipse(&mut img, (ex, cy - 35.0 * s), (7.0 * s, 7.0 * s), [35, 30, 30]);
    }
    fill_ellipse(&mut img, (cx, cy + 100.0 * s), (34.0 * s, 9.0 * s), [180, 70, 80]);
    // The band of marks on the cheeks: one dark dot per set bit.
    let bits = band_bits(code);
    for row in 0..ROWS {
        for col in 0..COLS {
            if bits >> (row * COLS + col) & 1 == 1 {
                let (mx, my) = cell_centre((cx, cy), s, row, col);
                fill_ellipse(&mut img, (mx, my), (7.0 * s, 7.0 * s), [110, 70, 50]);
            }
        }
    }
    // Light and sensor noise.
    let mut state = pose.seed | 1;
    for p in img.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 13) as f32 - 6.0;
        for c in p.0.iter_mut() {
            *c = (f32::from(*c) * pose.light + noise).round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

fn cell_centre((cx, cy): (f32, f32), s: f32, row: u32, col: u32) -> (f32, f32) {
    let left = cx - CELL_W * COLS as f32 / 2.0 * s;
    (left + (col as f32 + 0.5) * CELL_W * s, cy + (BAND_TOP + (row as f32 + 0.5) * CELL_H) * s)
}

fn box_blur(img: &RgbImage, r: u32) -> RgbImage {
    let pass = |src: &RgbImage, horizontal: bool| {
        let (w, h) = src.dimensions();
        let mut out = RgbImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let mut sum = [0u32; 3];
                let mut n = 0;
                for d in -(r as i64)..=(r as i64) {
                    let (sx, sy) = if horizontal { (x as i64 + d, y as i64) } else { (x as i64, y as i64 + d) };
                    if sx >= 0 && sy >= 0 && (sx as u32) < w && (sy as u32) < h {
                        let p = src.get_pixel(sx as u32, sy as u32).0;
                        for c in 0..3 {
                            sum[c] += u32::from(p[c]);
                        }
                        n += 1;
                    }
                }
                out.put_pixel(x, y, Rgb(sum.map(|v| (v / n) as u8)));
            }
        }
        out
    };
    pass(&pass(img, true), false)
}

/// The face shown on a phone held up to the camera: a dark bezel around a smaller copy of
/// the frame, a glare streak across the glass, a desk behind.
fn on_screen(frame: &RgbImage, pose: Pose) -> RgbImage {
    let mut img = RgbImage::from_pixel(FRAME_W, FRAME_H, Rgb([150, 140, 120]));
    let (sw, sh) = (360_u32, 270_u32);
    let (ox, oy) = ((FRAME_W - sw) / 2 + pose.dx.clamp(-60, 60) as u32, (FRAME_H - sh) / 2);
    fill_rect(&mut img, (ox as f32 - 40.0, oy as f32 - 60.0), ((ox + sw) as f32 + 40.0, (oy + sh) as f32 + 60.0), [18, 18, 20]);
    let small = image::imageops::resize(frame, sw, sh, image::imageops::FilterType::Triangle);
    for (x, y, p) in small.enumerate_pixels() {
        // The glare: a bright diagonal streak washing the picture out.
        let glare = ((x as i64 - y as i64 - 40).abs() < 25) as u8 as f32 * 0.45;
        let px = p.0.map(|c| (f32::from(c) * (1.0 - glare) + 255.0 * glare) as u8);
        img.put_pixel(ox + x, oy + y, Rgb(px));
    }
    img
}

/// What the simulator sees in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading {
    NoFace,
    Face(FaceReading),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceReading {
    /// The identity, when the band reads with its check bits right.
    pub code: Option<u32>,
    /// How clearly the band read: 0 (barely) to 1.
    pub clarity: f32,
    /// Edge strength: a sharp capture is well above [`SHARP_ENOUGH`].
    pub sharpness: f32,
    /// A dark bezel fills much of the frame: a photo of a screen.
    pub on_screen: bool,
}

/// The sharpness below which a capture counts as out of focus.
pub const SHARP_ENOUGH: f32 = 30.0;

fn is_skin(p: &Rgb<u8>) -> bool {
    let [r, g, b] = p.0.map(i32::from);
    r > 120 && r > g + 12 && g > b + 8 && r - b > 45
}

fn luma(p: &Rgb<u8>) -> f32 {
    let [r, g, b] = p.0.map(f32::from);
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Reads a frame: finds the face by its skin, scales the reference geometry to it, and
/// reads the band of marks.
pub fn read(img: &RgbImage) -> Reading {
    let (w, h) = img.dimensions();
    if w < 64 || h < 48 {
        return Reading::NoFace;
    }
    // Skin projections on a 2-px grid; the face's box is where they are substantial.
    let mut cols = vec![0u32; w as usize];
    let mut rows = vec![0u32; h as usize];
    let mut skin_luma = Vec::new();
    let mut dark = 0u32;
    let mut sampled = 0u32;
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let p = img.get_pixel(x, y);
            sampled += 1;
            if luma(p) < 32.0 {
                dark += 1;
            }
            if is_skin(p) {
                cols[x as usize] += 1;
                rows[y as usize] += 1;
                skin_luma.push(luma(p));
            }
        }
    }
    if (skin_luma.len() as u32) < sampled / 50 {
        return Reading::NoFace;
    }
    let span = |counts: &[u32]| {
        let max = counts.iter().copied().max().unwrap_or(0);
        let cut = (max / 8).max(2);
        let first = counts.iter().position(|&c| c >= cut)?;
        let last = counts.iter().rposition(|&c| c >= cut)?;
        Some((first as f32, last as f32 + 2.0))
    };
    let (Some((x0, x1)), Some((y0, y1))) = (span(&cols), span(&rows)) else { return Reading::NoFace };
    let s = (x1 - x0) / (2.0 * RX);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    if s < 0.25 {
        return Reading::NoFace;
    }
    skin_luma.sort_by(f32::total_cmp);
    let skin = skin_luma[skin_luma.len() / 2].max(1.0);
    // Sharpness: the mean of the strongest 2 % of horizontal steps inside the face.
    let mut steps = Vec::new();
    for y in (y0 as u32..(y1 as u32).min(h)).step_by(2) {
        for x in x0 as u32..(x1 as u32).min(w - 1) {
            steps.push((luma(img.get_pixel(x + 1, y)) - luma(img.get_pixel(x, y))).abs());
        }
    }
    steps.sort_by(|a, b| b.total_cmp(a));
    let top = (steps.len() / 50).max(1).min(steps.len());
    let sharpness = if steps.is_empty() { 0.0 } else { steps[..top].iter().sum::<f32>() / top as f32 };
    let on_screen = dark as f32 > sampled as f32 * 0.10;
    // The band: each cell's centre darker than 72 % of the skin is a set bit.
    let mut bits = 0u32;
    let mut clarity = 1.0_f32;
    let r = (3.0 * s).max(1.0) as i64;
    for row in 0..ROWS {
        for col in 0..COLS {
            let (mx, my) = cell_centre((cx, cy), s, row, col);
            let (mut sum, mut n) = (0.0, 0);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (x, y) = (mx as i64 + dx, my as i64 + dy);
                    if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                        sum += luma(img.get_pixel(x as u32, y as u32));
                        n += 1;
                    }
                }
            }
            let ratio = if n == 0 { 1.0 } else { sum / n as f32 / skin };
            if ratio < 0.72 {
                bits |= 1 << (row * COLS + col);
            }
            clarity = clarity.min(((ratio - 0.72).abs() / 0.28).min(1.0));
        }
    }
    let code = bits & ((1 << CODE_BITS) - 1);
    let code = (check_bits(code) == bits >> CODE_BITS).then_some(code);
    Reading::Face(FaceReading { code, clarity, sharpness, on_screen })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;

    fn jpeg_round_trip(img: &RgbImage, quality: u8) -> RgbImage {
        let mut out = Vec::new();
        img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, quality)).unwrap();
        image::load_from_memory(&out).unwrap().to_rgb8()
    }

    fn reading(img: &RgbImage) -> FaceReading {
        match read(img) {
            Reading::Face(f) => f,
            Reading::NoFace => panic!("no face read"),
        }
    }

    #[test]
    fn every_variant_reads_back_as_its_identity_through_jpeg() {
        for id in ["440305198503122031", "44030520180101002X", "110101199003070011", "310104197711054321"] {
            let code = code_for_id_number(id);
            for n in 0..6 {
                let seen = reading(&jpeg_round_trip(&variant(code, n), 70));
                assert_eq!(seen.code, Some(code), "{id} variant {n}: {seen:?}");
                assert!(seen.sharpness > SHARP_ENOUGH && !seen.on_screen, "{seen:?}");
            }
        }
    }

    #[test]
    fn distinct_ids_are_distinct_faces() {
        assert_ne!(code_for_id_number("440305198503122031"), code_for_id_number("440305198503122032"));
        assert_eq!(code_for_id_number("44030520180101002x"), code_for_id_number("44030520180101002X"));
    }

    #[test]
    fn a_blurred_face_is_not_sharp_and_a_screen_is_seen() {
        let code = code_for_id_number("440305198503122031");
        let blurred = reading(&jpeg_round_trip(&face(code, Pose::default(), Capture::Blurred), 80));
        assert!(blurred.sharpness < SHARP_ENOUGH, "{blurred:?}");
        let screen = reading(&jpeg_round_trip(&face(code, Pose::default(), Capture::Screen), 80));
        assert!(screen.on_screen, "{screen:?}");
        let live = reading(&face(code, Pose::default(), Capture::Live));
        assert!(!live.on_screen && live.sharpness > SHARP_ENOUGH, "{live:?}");
    }

    #[test]
    fn a_wall_has_no_face_and_a_flipped_bit_fails_the_check() {
        assert_eq!(read(&empty_frame()), Reading::NoFace);
        // A face whose band was damaged (one mark painted over) reads without an identity
        // rather than as somebody else.
        let code = code_for_id_number("440305198503122031");
        let mut img = face(code, Pose::default(), Capture::Live);
        let first_set = (0..CODE_BITS).find(|b| code >> b & 1 == 1).unwrap();
        let (mx, my) = cell_centre((FRAME_W as f32 / 2.0, 250.0), 1.0, first_set / COLS, first_set % COLS);
        fill_ellipse(&mut img, (mx, my), (9.0, 9.0), SKIN_TONES[(code % 3) as usize]);
        assert_eq!(reading(&img).code, None);
    }
}
