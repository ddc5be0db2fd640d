//! What one live ID-card photo costs the server (REC-1): cleaning, decoding, the quality
//! check, cutting to the card, masking, the watermark and the two JPEGs, per photo, at the
//! sizes the camera page sends.
//!
//!   cargo run --release -p uploads --example mask_bench -- [photos]
//!
//! The photos are the synthetic card (never a real one) at the camera page's 1200 × 900
//! and at 1600 × 1200 (what it asks the camera for), each with a little sensor noise of its
//! own so no two are byte-identical, encoded as the page encodes them (JPEG, quality 0.92).
//! The numbers go to docs/BENCHMARKS.md.
use image::codecs::jpeg::JpegEncoder;
use image::{RgbImage, imageops};
use std::time::Instant;
use uploads::live_photo::{Subject, process};

fn noisy_jpeg(base: &RgbImage, seed: u32) -> Vec<u8> {
    let mut img = base.clone();
    // A cheap xorshift: deterministic noise of ±3 levels, different per photo.
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    for p in img.pixels_mut() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let d = (s % 7) as i16 - 3;
        for c in p.0.iter_mut() {
            *c = (i16::from(*c) + d).clamp(0, 255) as u8;
        }
    }
    let mut out = Vec::new();
    img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 92)).expect("encode");
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(50);
    let frame = uploads::id_card::synthetic_frame();
    let large = imageops::resize(&frame, 1600, 1200, imageops::FilterType::Triangle);
    println!("| frame | side | JPEG in | per photo p50 | p95 | max | shown copy | original |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, base) in [("1200 × 900", &frame), ("1600 × 1200", &large)] {
        for (side, subject) in [("portrait (masked)", Subject::IdCardPortrait), ("emblem", Subject::IdCardEmblem)] {
            let photos: Vec<Vec<u8>> = (0..n).map(|i| noisy_jpeg(base, i + 1)).collect();
            let mut times = Vec::with_capacity(photos.len());
            let (mut shown, mut original) = (0, 0);
            for bytes in &photos {
                let s = Instant::now();
                let p = process(bytes, subject, "2026-12-07 09:30 病案号 00012345", 16 << 20).expect("a good photo is kept");
                times.push(s.elapsed().as_secs_f64() * 1e3);
                (shown, original) = (p.shown.len(), p.original.len());
            }
            times.sort_by(f64::total_cmp);
            println!(
                "| {label} | {side} | {} KB | {:.1} ms | {:.1} ms | {:.1} ms | {} KB | {} KB |",
                photos[0].len() / 1024,
                percentile(&times, 0.5),
                percentile(&times, 0.95),
                times[times.len() - 1],
                shown / 1024,
                original / 1024
            );
        }
    }
    println!("peak RSS: {:.0} MB", peak_rss_mb());
}
