//! Test support: fresh databases on both backends, the whole application spawned on
//! 127.0.0.1:0 against the simulators, and a headless-Chromium driver.
pub mod app;
pub mod browser;
pub mod db;
pub mod fakes;
pub mod logs;

pub use app::{TestApp, location, url_query};
pub use db::{TestBackend, TestDb, pg_admin_url, test_keys};

/// Pictures of the demo's synthetic faces, as a phone camera would send them.
pub mod faces {
    use image::codecs::jpeg::JpegEncoder;
    use uploads::synthetic_face::{self, Capture, Pose};

    fn jpeg(img: &image::RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85)).expect("a JPEG");
        out
    }

    /// The `n`-th live capture of the person with this ID number.
    pub fn live(id_number: &str, n: u32) -> Vec<u8> {
        jpeg(&synthetic_face::variant(synthetic_face::code_for_id_number(id_number), n))
    }

    /// The person's face held up on a phone screen (a photo of a photo).
    pub fn on_screen(id_number: &str) -> Vec<u8> {
        jpeg(&synthetic_face::face(synthetic_face::code_for_id_number(id_number), Pose::default(), Capture::Screen))
    }

    /// The person's face as a video for Chromium's fake camera.
    pub fn camera_video(id_number: &str, n: u32) -> Vec<u8> {
        uploads::y4m(&synthetic_face::variant(synthetic_face::code_for_id_number(id_number), n))
    }
}
