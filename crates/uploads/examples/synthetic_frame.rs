//! Writes the synthetic ID card as the camera page frames it (never a real card): a PNG to
//! look at, or a `.y4m` video for Chromium's fake camera on a machine without one:
//!
//!   cargo run -p uploads --example synthetic_frame -- frame.png
//!   cargo run -p uploads --example synthetic_frame -- card.y4m
//!   chromium --use-fake-device-for-media-stream --use-file-for-fake-video-capture=card.y4m http://localhost:8080/
fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "synthetic-frame.png".into());
    if path.ends_with(".y4m") {
        std::fs::write(&path, uploads::id_card::synthetic_frame_y4m()).expect("write the video");
    } else {
        uploads::id_card::synthetic_frame().save(&path).expect("write the PNG");
    }
    println!("{path}");
}
