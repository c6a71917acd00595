use crate::support::{self, Colour, ISBN};
use crate::{failed, measured, result, verdict};
use connector_core::delivery::{Check, ColourSpace, DeliverySpec, ImageFormat, ImageMeasurements, Measured};
use delivery::FileKind;

fn image(m: &connector_core::delivery::FileMeasurements) -> &ImageMeasurements {
    match &m.detail {
        Measured::Image(i) => i,
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_rgb_jpeg_cover_of_the_right_size_and_name_passes_the_ebook_retailer() {
    let bytes = support::jpeg(1600, 2560, Colour::Rgb);
    let m = measured(FileKind::Image, &format!("{ISBN}.jpg"), &bytes);
    assert_eq!(m.problem, None);
    let i = image(&m);
    assert_eq!(
        (i.format, i.width_px, i.height_px, i.colour_space, i.bits_per_component),
        (Some(ImageFormat::Jpeg), Some(1600), Some(2560), Some(ColourSpace::Rgb), Some(8))
    );
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert!(failed(&results).is_empty(), "{results:#?}");
}

#[test]
fn a_cmyk_jpeg_is_refused_where_rgb_is_wanted_and_taken_by_the_printer() {
    let m = measured(FileKind::Image, &format!("{ISBN}.jpg"), &support::jpeg(1600, 2560, Colour::Cmyk));
    assert_eq!(image(&m).colour_space, Some(ColourSpace::Cmyk));
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m.clone()]);
    assert_eq!(failed(&results), [Check::ImageColourSpace]);
    assert_eq!(
        result(&results, Check::ImageColourSpace).reason,
        format!("{ISBN}.jpg: image.colour_space is \"cmyk\"; the limit is one of rgb")
    );
    assert!(failed(&verdict(&DeliverySpec::printer(), vec![m])).is_empty());
}

#[test]
fn a_small_grey_jpeg_fails_on_size_and_colour() {
    let m = measured(FileKind::Image, "cover.jpg", &support::jpeg(800, 1200, Colour::Grey));
    assert_eq!((image(&m).width_px, image(&m).colour_space), (Some(800), Some(ColourSpace::Grey)));
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert_eq!(
        failed(&results),
        [Check::ImageColourSpace, Check::ImageShortSide, Check::ImageLongSide, Check::ImageFileName]
    );
    assert_eq!(
        result(&results, Check::ImageShortSide).reason,
        "cover.jpg: image.short_side is 800 px; the limit is at least 1600 px (800 × 1200 px)"
    );
}

#[test]
fn a_truncated_jpeg_fails_readable_and_keeps_its_header_facts() {
    let bytes = support::jpeg(1600, 2560, Colour::Rgb);
    let cut = &bytes[..bytes.len() / 2];
    let m = measured(FileKind::Image, &format!("{ISBN}.jpg"), cut);
    let problem = m.problem.clone().expect("a problem");
    assert!(problem.starts_with("truncated: the data ends at byte"), "{problem}");
    assert_eq!(image(&m).width_px, Some(1600));
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert_eq!(failed(&results), [Check::ImageReadable]);
    assert!(result(&results, Check::ImageReadable).reason.contains("truncated"));
}

#[test]
fn an_embedded_icc_profile_names_its_colour_space() {
    let mut icc = vec![0u8; 128];
    icc[16..20].copy_from_slice(b"CMYK");
    icc[36..40].copy_from_slice(b"acsp");
    let pixels = vec![128u8; 64 * 64 * 4];
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 80);
    enc.add_icc_profile(&icc).unwrap();
    enc.encode(&pixels, 64, 64, jpeg_encoder::ColorType::Cmyk).unwrap();
    let m = measured(FileKind::Image, "c.jpg", &out);
    assert_eq!(m.problem, None);
    assert_eq!(image(&m).icc_colour_space.as_deref(), Some("CMYK"));
}

#[test]
fn a_png_is_measured_and_the_audiobook_retailer_wants_jpeg() {
    let m = measured(FileKind::Image, "cover.png", &support::png(2400, 2400));
    assert_eq!(m.problem, None);
    let i = image(&m);
    assert_eq!(
        (i.format, i.width_px, i.height_px, i.colour_space),
        (Some(ImageFormat::Png), Some(2400), Some(2400), Some(ColourSpace::Rgb))
    );
    assert_eq!(failed(&verdict(&DeliverySpec::audiobook_retailer(), vec![m])), [Check::ImageFormat]);
}

#[test]
fn a_truncated_or_corrupted_png_fails_readable() {
    let bytes = support::png(300, 200);
    let m = measured(FileKind::Image, "c.png", &bytes[..bytes.len() - 20]);
    assert!(m.problem.as_deref().unwrap().starts_with("truncated"), "{:?}", m.problem);
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xFF;
    let m = measured(FileKind::Image, "c.png", &flipped);
    assert!(m.problem.as_deref().unwrap().contains("CRC mismatch"), "{:?}", m.problem);
    assert_eq!(image(&m).width_px, Some(300));
}

#[test]
fn tiffs_are_measured_and_a_truncated_one_fails() {
    let cmyk = support::tiff(1700, 2600, Colour::Cmyk);
    let m = measured(FileKind::Image, "c.tif", &cmyk);
    assert_eq!(m.problem, None);
    let i = image(&m);
    assert_eq!(
        (i.format, i.width_px, i.height_px, i.colour_space),
        (Some(ImageFormat::Tiff), Some(1700), Some(2600), Some(ColourSpace::Cmyk))
    );
    let rgb = measured(FileKind::Image, "c.tif", &support::tiff(100, 50, Colour::Rgb));
    assert_eq!(image(&rgb).colour_space, Some(ColourSpace::Rgb));
    // The encoder writes its directory after the pixels: cut, the directory is gone.
    let cut = measured(FileKind::Image, "c.tif", &cmyk[..cmyk.len() - 1000]);
    assert!(cut.problem.as_deref().unwrap().starts_with("not a readable TIFF"), "{:?}", cut.problem);
    // Directory first (as Photoshop writes them): the strips run past the end of the file.
    let front = support::tiff_directory_first(300, 200);
    assert_eq!(measured(FileKind::Image, "c.tif", &front).problem, None);
    let cut = measured(FileKind::Image, "c.tif", &front[..front.len() / 2]);
    assert_eq!(
        cut.problem,
        Some(format!(
            "truncated: image data runs to byte {}, the file has {} bytes",
            front.len(),
            front.len() / 2
        ))
    );
    assert_eq!(image(&cut).width_px, Some(300));
}

#[test]
fn something_that_is_not_an_image_fails_clearly() {
    let m = measured(FileKind::Image, "cover.jpg", b"<html>not an image</html>");
    assert_eq!(
        m.problem.as_deref(),
        Some("not a JPEG, PNG or TIFF image (first bytes 3c 68 74 6d 6c 3e 6e 6f)")
    );
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert!(failed(&results).contains(&Check::ImageReadable));
    let empty = measured(FileKind::Image, "cover.jpg", b"");
    assert!(empty.problem.is_some());
}
