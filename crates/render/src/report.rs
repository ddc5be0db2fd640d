//! The report PDF: typst as a library, the form in `templates/report.typ`, the
//! report's data in a JSON file beside it, the verification QR as an SVG file.
use crate::{FONT_CANDIDATES, RenderError, qr_svg};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

const TEMPLATE: &str = include_str!("templates/report.typ");

/// One line of structured results.
#[derive(Clone, Debug, Serialize)]
pub struct ResultLine {
    pub code: String,
    pub name: String,
    pub value: String,
    pub unit: String,
    pub range: String,
    /// "↑", "↓" or "" (normal).
    pub flag: String,
}

/// Everything printed on the report form. Strings are printed as given.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReportDoc {
    pub hospital: String,
    /// 检验报告单 / 检查报告单
    pub title: String,
    pub report_no: String,
    pub item_name: String,
    pub patient_name: String,
    pub sex: String,
    pub age: String,
    pub patient_id: String,
    pub dept: String,
    pub doctor: String,
    pub specimen: String,
    pub sampled_at: String,
    pub received_at: String,
    pub reported_at: String,
    pub items: Vec<ResultLine>,
    pub findings: String,
    /// 结论 / 诊断意见 / 检验结论
    pub conclusion_label: String,
    pub conclusion: String,
    pub tester: String,
    pub reviewer: String,
    pub reviewed_at: String,
    pub note: String,
    pub footer: String,
    /// Printed under the form; also inside the QR's URL.
    pub verify_code: String,
    /// What the QR code holds (the verification page); empty: the form has no QR.
    #[serde(skip)]
    pub verify_url: String,
    /// The form's printed labels: a report's by default, another document's (出院小结) otherwise.
    pub labels: FormLabels,
}

/// The labels the form prints around the values, so one layout serves the documents the
/// hospital prints on it: the 12 header fields in order (name, sex, age, number; patient id,
/// department, doctor, item; specimen, sampled, received, reported), the six columns of the
/// lines, the heading of the findings and the three signature fields.
#[derive(Clone, Debug, Serialize)]
pub struct FormLabels {
    pub fields: [&'static str; 12],
    pub columns: [&'static str; 6],
    pub findings: &'static str,
    pub signatures: [&'static str; 3],
}

impl Default for FormLabels {
    fn default() -> Self {
        Self {
            fields: ["姓名", "性别", "年龄", "报告编号", "病人ID", "科室", "申请医生", "检查项目", "标本/部位", "采样时间", "接收时间", "报告时间"],
            columns: ["序号", "项目名称", "结果", "提示", "单位", "参考区间"],
            findings: "检查所见",
            signatures: ["检验/检查者", "审核医生", "审核时间"],
        }
    }
}

struct Fonts {
    fonts: Vec<Font>,
    book: LazyHash<FontBook>,
    family: String,
    data: Arc<Vec<u8>>,
}

fn fonts() -> Result<&'static Fonts, RenderError> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let path = std::env::var("CAREBRIDGE_FONT")
                .ok()
                .into_iter()
                .chain(FONT_CANDIDATES.iter().map(|s| s.to_string()))
                .find(|p| std::path::Path::new(p).is_file())?;
            let data = std::fs::read(path).ok()?;
            let fonts: Vec<Font> = Font::iter(Bytes::new(data.clone())).collect();
            let family = fonts.first()?.info().family.clone();
            let book = LazyHash::new(FontBook::from_fonts(&fonts));
            Some(Fonts { fonts, book, family, data: Arc::new(data) })
        })
        .as_ref()
        .ok_or(RenderError::NoFont)
}

/// The CJK font's file (for drawing PDFs that do not embed their fonts).
pub(crate) fn font_data() -> Option<Arc<Vec<u8>>> {
    fonts().ok().map(|f| f.data.clone())
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: OnceLock<LazyHash<Library>> = OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::builder().build()))
}

fn file_id(path: &str) -> FileId {
    RootedPath::new(VirtualRoot::Project, VirtualPath::new(path).expect("a valid fixed path")).intern()
}

struct ReportWorld {
    fonts: &'static Fonts,
    main: Source,
    files: HashMap<FileId, Bytes>,
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }
    fn main(&self) -> FileId {
        self.main.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() { Ok(self.main.clone()) } else { Err(FileError::AccessDenied) }
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files.get(&id).cloned().ok_or(FileError::AccessDenied)
    }
    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.fonts.get(index).cloned()
    }
    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        // Reports print their own times; the form never asks for "today".
        None
    }
}

/// Lays out and exports one report as PDF.
pub fn render_report_pdf(doc: &ReportDoc) -> Result<Vec<u8>, RenderError> {
    let fonts = fonts()?;
    let mut data = serde_json::to_value(doc).map_err(|e| RenderError::Layout(e.to_string()))?;
    data["font"] = serde_json::Value::String(fonts.family.clone());
    let files = HashMap::from([
        (file_id("/data.json"), Bytes::new(serde_json::to_vec(&data).map_err(|e| RenderError::Layout(e.to_string()))?)),
        (file_id("/qr.svg"), Bytes::new(qr_svg(if doc.verify_url.is_empty() { "-" } else { &doc.verify_url }).into_bytes())),
    ]);
    let world = ReportWorld { fonts, main: Source::new(file_id("/main.typ"), TEMPLATE.to_owned()), files };
    let document = typst::compile::<PagedDocument>(&world).output;
    let options = typst_pdf::PdfOptions { ident: typst::foundations::Smart::Custom(doc.report_no.clone()), ..Default::default() };
    let pdf = document.map_err(|errs| RenderError::Layout(errs.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; "))).and_then(|d| {
        typst_pdf::pdf(&d, &options).map_err(|errs| RenderError::Export(errs.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; ")))
    });
    // Every report is a new document: keep only what the last few compilations used
    // (as the typst CLI does), or the memo cache grows with every report rendered.
    comemo::evict(4);
    pdf
}
