//! How long a report takes to lay out, export and rasterise, and how big it is.
//! `cargo run --release -p render --example render_bench [iterations]`; the numbers go
//! in docs/BENCHMARKS.md.
use render::{FormLabels, ReportDoc, ResultLine, page_count, rasterize, render_report_pdf};
use std::time::Instant;

/// A report; `serial` makes each one different, as real reports are (typst memoises
/// what it laid out before, so repeating one report would measure the cache).
fn doc(lines: usize, serial: usize) -> ReportDoc {
    ReportDoc {
        hospital: "深圳市示范人民医院".into(),
        title: "检验报告单".into(),
        report_no: format!("RP20261126{serial:05}"),
        item_name: "生化全套".into(),
        patient_name: ["张伟", "李娜", "王芳"][serial % 3].into(),
        sex: "男".into(),
        age: "41岁".into(),
        patient_id: "P00010001".into(),
        dept: "内科".into(),
        doctor: "王建国".into(),
        specimen: "静脉血（血清）".into(),
        sampled_at: "2026-11-26 09:12".into(),
        received_at: "2026-11-26 09:30".into(),
        reported_at: "2026-11-26 11:05".into(),
        items: (0..lines)
            .map(|i| ResultLine {
                code: format!("T{i:03}"),
                name: format!("检测项目{i}"),
                value: format!("{}.{}", 3 + (i + serial) % 7, (i * serial) % 10),
                unit: "mmol/L".into(),
                range: "3.5-9.5".into(),
                flag: if i % 5 == 0 { "↑".into() } else { String::new() },
            })
            .collect(),
        findings: String::new(),
        conclusion_label: "检验结论".into(),
        conclusion: "请结合临床。".into(),
        tester: "李晓燕".into(),
        reviewer: "孙丽华".into(),
        reviewed_at: "2026-11-26 11:20".into(),
        note: "本报告仅对所检标本负责。".into(),
        footer: "深圳市示范人民医院 检验科".into(),
        verify_code: "RP2026112600001-0123456789ab".into(),
        verify_url: "https://carebridge.example/verify/report/RP2026112600001-0123456789ab".into(),
        labels: FormLabels::default(),
    }
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    // Warm-up: fonts and the standard library load once per process.
    let started = Instant::now();
    render_report_pdf(&doc(6, 0)).expect("render");
    println!("first render (fonts, library): {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    for lines in [6, 40] {
        let mut pdf = Vec::new();
        let t = Instant::now();
        for i in 0..n {
            pdf = render_report_pdf(&doc(lines, i + 1)).expect("render");
        }
        let layout_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
        let pages = page_count(&pdf).expect("pages");
        let t = Instant::now();
        let mut png_bytes = 0;
        for _ in 0..n {
            png_bytes = rasterize(&pdf, 1080, 30).expect("raster").iter().map(Vec::len).sum::<usize>();
        }
        let raster_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
        println!(
            "{lines} result lines: {pages} page(s), PDF {} KB, layout+export {layout_ms:.1} ms, rasterise at 1080 px {raster_ms:.1} ms ({} KB of PNG)",
            pdf.len() / 1024,
            png_bytes / 1024
        );
    }
    let rss = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(str::to_owned)).unwrap_or_default();
    println!("peak memory: {rss}");
}
