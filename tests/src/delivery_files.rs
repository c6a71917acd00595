//! Files the delivery-check tests generate (no binary fixtures): what the OTMM simulator
//! serves with `set_content`. The checkers' own tests have the full set
//! (shared/delivery/tests/checks/support.rs); the end-to-end tests need only images.

/// A baseline JPEG of `width` × `height` RGB pixels (a fixed pattern, so the bytes are stable).
pub fn rgb_jpeg(width: u16, height: u16) -> Vec<u8> {
    let pixels: Vec<u8> =
        (0..usize::from(width) * usize::from(height) * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("jpeg");
    out
}
