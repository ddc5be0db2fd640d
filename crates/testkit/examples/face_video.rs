//! Writes the demo's synthetic face of an ID number as a Y4M video for Chromium's fake
//! camera (`--use-file-for-fake-video-capture`), so the face pages can be tried on a
//! laptop against the face-engine simulator:
//! `cargo run -p testkit --example face_video -- 440305198503122031 face.y4m`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [id_number, out] = args.as_slice() else {
        eprintln!("usage: face_video <ID number of a demo citizen> <out.y4m>");
        std::process::exit(2);
    };
    std::fs::write(out, testkit::faces::camera_video(id_number.trim(), 0)).unwrap_or_else(|e| {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    });
    println!("wrote {out}: the synthetic face of {}…", &id_number[..id_number.len().min(6)]);
}
