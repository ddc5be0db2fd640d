//! The generated report reads right: its text, extracted by poppler's `pdftotext`,
//! carries the Chinese exactly; it rasterises page by page; incoming files that are
//! not what they claim are refused.
use render::{PdfError, ReportDoc, ResultLine, page_count, rasterize, render_report_pdf};
use std::process::Command;

fn sample() -> ReportDoc {
    let line = |code: &str, name: &str, value: &str, unit: &str, range: &str, flag: &str| ResultLine {
        code: code.into(),
        name: name.into(),
        value: value.into(),
        unit: unit.into(),
        range: range.into(),
        flag: flag.into(),
    };
    ReportDoc {
        hospital: "深圳市示范人民医院".into(),
        title: "检验报告单".into(),
        report_no: "R20261126000123".into(),
        item_name: "血常规（五分类）".into(),
        patient_name: "张伟".into(),
        sex: "男".into(),
        age: "41岁".into(),
        patient_id: "P00010001".into(),
        dept: "内科".into(),
        doctor: "王建国".into(),
        specimen: "静脉血".into(),
        sampled_at: "2026-11-26 09:12".into(),
        received_at: "2026-11-26 09:30".into(),
        reported_at: "2026-11-26 10:05".into(),
        items: vec![
            line("WBC", "白细胞计数", "11.2", "10^9/L", "3.5-9.5", "↑"),
            line("HGB", "血红蛋白", "128", "g/L", "130-175", "↓"),
            line("PLT", "血小板计数", "236", "10^9/L", "125-350", ""),
        ],
        findings: String::new(),
        conclusion_label: "检验结论".into(),
        conclusion: "白细胞计数偏高，请结合临床。".into(),
        tester: "李晓燕".into(),
        reviewer: "孙丽华".into(),
        reviewed_at: "2026-11-26 10:20".into(),
        note: "本报告仅对所检标本负责。".into(),
        footer: "深圳市示范人民医院 检验科".into(),
        verify_code: "R20261126000123-9f3a".into(),
        verify_url: "https://carebridge.example/verify/report/R20261126000123-9f3a".into(),
        labels: render::FormLabels::default(),
    }
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("cb-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by scripts/test");
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generated_report_text_comes_out_in_chinese() {
    let pdf = render_report_pdf(&sample()).expect("renders");
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdftotext(&pdf);
    for want in [
        "深圳市示范人民医院",
        "检验报告单",
        "张伟",
        "血常规（五分类）",
        "白细胞计数",
        "11.2",
        "3.5-9.5",
        "血红蛋白",
        "白细胞计数偏高，请结合临床。",
        "审核医生",
        "孙丽华",
        "R20261126000123-9f3a",
        "扫码核验真伪",
    ] {
        assert!(text.contains(want), "{want:?} missing from the extracted text:\n{text}");
    }
    assert_eq!(page_count(&pdf), Ok(1));
}

#[test]
fn a_long_report_breaks_across_pages_and_each_page_rasterises() {
    let mut doc = sample();
    let first = doc.items[0].clone();
    doc.items = (0..90).map(|i| render::ResultLine { code: format!("T{i:03}"), name: format!("检测项目{i}"), ..first.clone() }).collect();
    let pdf = render_report_pdf(&doc).unwrap();
    let pages = page_count(&pdf).unwrap();
    assert!(pages >= 2, "90 lines need more than one page, got {pages}");
    let text = pdftotext(&pdf);
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(squeezed.contains("检测项目89") && squeezed.contains(&format!("第{pages}页/共{pages}页")), "{text}");
    let pngs = rasterize(&pdf, 600, 10).unwrap();
    assert_eq!(pngs.len(), pages);
    for png in &pngs {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let img = image_size(png);
        assert_eq!(img.0, 600);
        assert!(img.1 > 800, "A4 at 600 px wide is ~848 px high, got {}", img.1);
    }
    assert_eq!(rasterize(&pdf, 600, 1), Err(PdfError::TooManyPages(pages)));
}

fn image_size(png: &[u8]) -> (u32, u32) {
    // IHDR: width and height, big-endian, at bytes 16..24.
    (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
}

#[test]
fn files_that_are_not_pdfs_are_refused() {
    assert_eq!(page_count(b"<html><script>alert(1)</script></html>"), Err(PdfError::NotPdf));
    assert_eq!(page_count(b"\xFF\xD8\xFF\xE0 a jpeg"), Err(PdfError::NotPdf));
    assert_eq!(page_count(b"%PDF-1.7\nthis is not really a pdf"), Err(PdfError::Unreadable));
}
