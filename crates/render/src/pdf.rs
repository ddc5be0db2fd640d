//! Incoming PDFs: parsed (a file that only claims to be a PDF is refused) and
//! rasterised page by page, so that a phone shows the paper report as images and
//! WeChat's browser never has to open a PDF.
use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_interpret::font::FontData;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{RenderCache, RenderSettings, render};
use std::sync::Arc;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    #[error("not a PDF file")]
    NotPdf,
    #[error("the PDF cannot be read (damaged or encrypted)")]
    Unreadable,
    #[error("the PDF has no pages")]
    NoPages,
    #[error("the PDF has {0} pages, more than allowed")]
    TooManyPages(usize),
    #[error("a page could not be rasterised")]
    Raster,
}

fn open(bytes: &[u8]) -> Result<Pdf, PdfError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(PdfError::NotPdf);
    }
    let pdf = Pdf::new(Arc::new(bytes.to_vec())).map_err(|_| PdfError::Unreadable)?;
    if pdf.pages().is_empty() {
        return Err(PdfError::NoPages);
    }
    Ok(pdf)
}

/// The number of pages of a PDF that parses.
pub fn page_count(bytes: &[u8]) -> Result<usize, PdfError> {
    Ok(open(bytes)?.pages().len())
}

/// Every page as a PNG, `width_px` wide (the phone page shows them one under the
/// other). Fonts the PDF does not embed (Chinese hospital PDFs often name SimSun
/// without embedding it) are drawn with the CJK font, when there is one.
pub fn rasterize(bytes: &[u8], width_px: u16, max_pages: usize) -> Result<Vec<Vec<u8>>, PdfError> {
    let pdf = open(bytes)?;
    let pages = pdf.pages();
    if pages.len() > max_pages {
        return Err(PdfError::TooManyPages(pages.len()));
    }
    let mut settings = InterpreterSettings::default();
    if let Some(font) = crate::report::font_data() {
        let data: FontData = font;
        settings.font_resolver = Arc::new(move |_| Some((data.clone(), 0)));
    }
    let cache = RenderCache::new();
    let mut out = Vec::with_capacity(pages.len());
    for page in pages.iter() {
        let (w, h) = page.render_dimensions();
        let scale = f32::from(width_px) / w.max(1.0);
        if !scale.is_finite() || scale <= 0.0 || scale > 20.0 {
            return Err(PdfError::Raster);
        }
        let pixmap = render(
            page,
            &cache,
            &settings,
            &RenderSettings { x_scale: scale, y_scale: scale, width: Some(width_px), height: Some((h * scale).round() as u16), bg_color: WHITE },
        );
        out.push(pixmap.into_png().map_err(|_| PdfError::Raster)?);
    }
    Ok(out)
}
