//! Writes the synthetic ID card as the camera page frames it (never a real card) to a PNG,
//! to look at: `cargo run -p uploads --example synthetic_frame -- frame.png`.
fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "synthetic-frame.png".into());
    uploads::id_card::synthetic_frame().save(&path).expect("write the PNG");
    println!("{path}");
}
