//! Real file bytes for simulated assets (`OtmmSimHandle::set_content`): what the delivery
//! checks read in the end-to-end tests and the demo. Generated, never fixtures.

/// A baseline JPEG of `width` × `height` RGB pixels: a smooth gradient (so a cover-sized image
/// compresses to tens of kilobytes, like a photograph would not, but the demo's staging stays
/// small), the same bytes for the same size.
pub fn rgb_jpeg(width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width).max(1), usize::from(height).max(1));
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            pixels.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128]);
        }
    }
    let mut out = Vec::new();
    // Encoding into a Vec fails only on a zero size, which `max(1)` rules out above.
    let _ =
        jpeg_encoder::Encoder::new(&mut out, 80).encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_jpeg_from_start_of_image_to_end_of_image() {
        let j = super::rgb_jpeg(64, 48);
        assert_eq!(&j[..2], [0xff, 0xd8]);
        assert_eq!(&j[j.len() - 2..], [0xff, 0xd9]);
        assert_eq!(j, super::rgb_jpeg(64, 48));
    }
}
