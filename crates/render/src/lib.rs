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
pub use report::{ReportDoc, ResultLine, render_report_pdf};

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
