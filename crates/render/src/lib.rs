//! Documents Carebridge produces itself: report PDFs laid out by typst (data passed
//! as JSON, never spliced into markup), PDF pages rasterised for the phone, QR codes,
//! and the checks an incoming PDF or JPEG must pass before it is stored.
//!
//! This crate holds the slow dependencies (typst, the rasteriser) alone so that edits
//! elsewhere never recompile them.

mod images;
mod pdf;
mod report;

pub use images::synthetic_radiograph_jpeg;
pub use pdf::{PdfError, page_count, rasterize};
pub use report::{FormLabels, ReportDoc, ResultLine, render_report_pdf};

/// Where the CJK font is looked for when `CAREBRIDGE_FONT` is not set: Debian's
/// WenQuanYi Micro Hei (the package `fonts-wqy-microhei`), then Noto CJK.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
];

/// Everything that can go wrong rendering a document.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no CJK font found (install fonts-wqy-microhei or set CAREBRIDGE_FONT)")]
    NoFont,
    #[error("layout failed: {0}")]
    Layout(String),
    #[error("pdf export failed: {0}")]
    Export(String),
}

/// A QR code of `text` as an SVG document (black modules on white, a quiet zone).
pub fn qr_svg(text: &str) -> String {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .or_else(|_| qrcode::QrCode::new(text.as_bytes()))
        .expect("a QR code holds any URL we print");
    code.render::<qrcode::render::svg::Color>().min_dimensions(160, 160).quiet_zone(true).build()
}

/// A QR code of `text` as a PNG (4 px modules, a quiet zone), for systems that hand QR
/// codes out as images (the e-invoice platform's `billQRCode`).
pub fn qr_png(text: &str) -> Vec<u8> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .or_else(|_| qrcode::QrCode::new(text.as_bytes()))
        .expect("a QR code holds any URL we print");
    const SCALE: u32 = 4;
    const QUIET: u32 = 4;
    let n = code.width() as u32;
    let side = (n + 2 * QUIET) * SCALE;
    let colors = code.to_colors();
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = ((x / SCALE) as i64 - QUIET as i64, (y / SCALE) as i64 - QUIET as i64);
        let dark = mx >= 0 && my >= 0 && mx < n as i64 && my < n as i64 && colors[(my as u32 * n + mx as u32) as usize] == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("a PNG encodes in memory");
    out.into_inner()
}

/// A Code 128 (set B) barcode of `text` — what a hospital's handheld scanners read from a
/// visiting card — as an SVG document of black bars on white with quiet zones; `None` for
/// text set B cannot carry (only printable ASCII). Bars are drawn here (no style
/// attributes), so the page's CSP allows it inline.
pub fn barcode_svg(text: &str) -> Option<String> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return None;
    }
    let modules = barcoders::sym::code128::Code128::new(format!("\u{0181}{text}")).ok()?.encode();
    const MODULE: usize = 2;
    const QUIET: usize = 10;
    const HEIGHT: usize = 80;
    let width = (modules.len() + 2 * QUIET) * MODULE;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" role="img" aria-label="{text}"><rect width="{width}" height="{HEIGHT}" fill="#fff"/>"##
    );
    let mut i = 0;
    while i < modules.len() {
        if modules[i] == 1 {
            let start = i;
            while i < modules.len() && modules[i] == 1 {
                i += 1;
            }
            svg += &format!(r##"<rect x="{}" width="{}" height="{HEIGHT}" fill="#000"/>"##, (QUIET + start) * MODULE, (i - start) * MODULE);
        } else {
            i += 1;
        }
    }
    svg += "</svg>";
    Some(svg)
}

#[cfg(test)]
mod barcode_tests {
    use super::barcode_svg;

    #[test]
    fn a_card_number_becomes_bars_and_text_set_b_cannot_carry_does_not() {
        let svg = barcode_svg("JZK00010001").unwrap();
        assert!(svg.starts_with("<svg") && svg.matches("fill=\"#000\"").count() > 20 && !svg.contains("style"), "{svg}");
        // Different numbers, different bars.
        assert_ne!(barcode_svg("JZK00010002").unwrap(), svg);
        assert_eq!(barcode_svg("就诊卡"), None);
        assert_eq!(barcode_svg(""), None);
    }
}
