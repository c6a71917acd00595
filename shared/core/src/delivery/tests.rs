use super::*;
use proptest::prelude::*;

const ISBN: &str = "9781800100008";

fn file(name: &str, size: u64, detail: Measured) -> FileMeasurements {
    FileMeasurements {
        file_name: name.into(),
        size_bytes: size,
        purpose: Purpose::Main,
        problem: None,
        detail,
    }
}

fn package(files: Vec<FileMeasurements>) -> PackageMeasurements {
    PackageMeasurements { isbn: ISBN.into(), files }
}

fn cover(w: u32, h: u32, colour: ColourSpace) -> ImageMeasurements {
    ImageMeasurements {
        format: Some(ImageFormat::Jpeg),
        width_px: Some(w),
        height_px: Some(h),
        colour_space: Some(colour),
        bits_per_component: Some(8),
        icc_colour_space: None,
    }
}

fn result(results: &[CheckResult], check: Check) -> &CheckResult {
    results.iter().find(|r| r.check == check).unwrap_or_else(|| panic!("no {check} in {results:#?}"))
}

fn failed(results: &[CheckResult]) -> Vec<Check> {
    failures(results).map(|r| r.check).collect()
}

fn good_audio(duration_s: f64) -> AudioMeasurements {
    AudioMeasurements {
        format: Some("mp3".into()),
        bitrates_kbps: vec![192],
        sample_rates_hz: vec![44_100],
        channels: Some(1),
        frames: (duration_s * 44_100.0 / 1152.0) as u64,
        corrupt_frames: 0,
        first_corrupt_byte: None,
        duration_s,
        rms_db: Some(-20.0),
        peak_db: Some(-4.0),
        noise_floor_db: Some(-65.0),
        head_room_tone_s: Some(0.7),
        tail_room_tone_s: Some(2.0),
        sound_threshold_db: -40.0,
    }
}

fn good_pdf() -> PdfMeasurements {
    PdfMeasurements {
        version: Some("1.6".into()),
        pdfx_version: Some("PDF/X-4".into()),
        output_intent: Some("FOGRA39".into()),
        encrypted: Some(false),
        pages: Some(12),
        fonts: 3,
        fonts_not_embedded: 0,
        fonts_not_embedded_names: vec![],
        pages_without_trim_box: 0,
        pages_without_bleed_box: 0,
        min_bleed_mm: Some(3.175),
        min_bleed_page: Some(1),
        min_outer_bleed_mm: Some(3.175),
        min_outer_bleed_page: Some(1),
        min_image_ppi: Some(312.0),
        min_image_ppi_page: Some(4),
        images_measured: 5,
    }
}

fn good_epub() -> EpubMeasurements {
    EpubMeasurements {
        first_entry: Some("mimetype".into()),
        mimetype_stored: Some(true),
        mimetype_content: Some("application/epub+zip".into()),
        container_xml: true,
        package_document: Some("OEBPS/content.opf".into()),
        version: Some("3.0".into()),
        identifier: Some("urn:isbn:978-1-80010-000-8".into()),
        accessibility: AccessibilityProperty::ALL
            .iter()
            .map(|p| (p.as_str().to_string(), vec!["textual".to_string()]))
            .collect(),
        epubcheck: None,
    }
}

#[test]
fn a_good_cover_passes_every_check_of_the_ebook_preset() {
    let spec = DeliverySpec::ebook_retailer();
    let results = evaluate(
        &spec,
        &package(vec![file(
            "9781800100008.jpg",
            2_000_000,
            Measured::Image(cover(1600, 2560, ColourSpace::Rgb)),
        )]),
    );
    assert_eq!(failed(&results), Vec::<Check>::new(), "{results:#?}");
    let checks: Vec<Check> = results.iter().map(|r| r.check).collect();
    assert_eq!(
        checks,
        [
            Check::ImageReadable,
            Check::ImageFormat,
            Check::ImageColourSpace,
            Check::ImageShortSide,
            Check::ImageLongSide,
            Check::ImageFileSize,
            Check::ImageFileName
        ]
    );
}

#[test]
fn a_small_cmyk_cover_fails_with_reasons_naming_file_check_value_and_limit() {
    let spec = DeliverySpec::ebook_retailer();
    let results = evaluate(
        &spec,
        &package(vec![file("front.jpg", 60_000_000, Measured::Image(cover(1200, 1800, ColourSpace::Cmyk)))]),
    );
    assert_eq!(
        failed(&results),
        [
            Check::ImageColourSpace,
            Check::ImageShortSide,
            Check::ImageLongSide,
            Check::ImageFileSize,
            Check::ImageFileName
        ]
    );
    let short = result(&results, Check::ImageShortSide);
    assert_eq!(
        short.reason,
        "front.jpg: image.short_side is 1200 px; the limit is at least 1600 px (1200 × 1800 px)"
    );
    assert_eq!(
        (short.measured.clone(), short.limit.clone()),
        (Value::Number(1200.0), Limit::AtLeast(1600.0))
    );
    assert_eq!(
        result(&results, Check::ImageColourSpace).reason,
        "front.jpg: image.colour_space is \"cmyk\"; the limit is one of rgb"
    );
    assert_eq!(
        result(&results, Check::ImageFileName).reason,
        "front.jpg: image.file_name is \"front\"; the limit is \"9781800100008\""
    );
    assert_eq!(
        result(&results, Check::ImageFileSize).reason,
        "front.jpg: image.file_size is 60000000 bytes; the limit is at most 50000000 bytes"
    );
}

#[test]
fn the_audiobook_cover_must_be_square_and_2400_px() {
    let spec = DeliverySpec::audiobook_retailer();
    let oblong = evaluate(
        &spec,
        &package(vec![file("c.jpg", 1, Measured::Image(cover(2400, 3000, ColourSpace::Rgb)))]),
    );
    assert_eq!(failed(&oblong), [Check::ImageSquare]);
    let square = evaluate(
        &spec,
        &package(vec![file("c.jpg", 1, Measured::Image(cover(2400, 2400, ColourSpace::Rgb)))]),
    );
    assert!(failed(&square).is_empty(), "{square:#?}");
    let png = ImageMeasurements { format: Some(ImageFormat::Png), ..cover(3000, 3000, ColourSpace::Rgb) };
    let results = evaluate(&spec, &package(vec![file("c.png", 1, Measured::Image(png))]));
    assert_eq!(failed(&results), [Check::ImageFormat]);
}

#[test]
fn an_unreadable_file_fails_readable_and_every_check_it_could_not_measure() {
    let spec = DeliverySpec::ebook_retailer();
    let mut f = file(
        "9781800100008.jpg",
        4096,
        Measured::Image(ImageMeasurements {
            format: Some(ImageFormat::Jpeg),
            width_px: None,
            height_px: None,
            ..ImageMeasurements::default()
        }),
    );
    f.problem = Some("truncated: the data ends at byte 4096, before the end-of-image marker".into());
    let results = evaluate(&spec, &package(vec![f]));
    assert_eq!(
        failed(&results),
        [Check::ImageReadable, Check::ImageColourSpace, Check::ImageShortSide, Check::ImageLongSide]
    );
    let readable = result(&results, Check::ImageReadable);
    assert_eq!(
        readable.reason,
        "9781800100008.jpg: image.readable is no; the limit is yes (truncated: the data ends at byte 4096, before the end-of-image marker)"
    );
    assert!(result(&results, Check::ImageColourSpace).reason.contains("not measured"));
}

#[test]
fn print_pdf_checks_name_fonts_and_the_narrowest_bleed() {
    let spec = DeliverySpec::printer();
    let good = evaluate(&spec, &package(vec![file("interior.pdf", 1, Measured::PrintPdf(good_pdf()))]));
    assert!(failed(&good).is_empty(), "{good:#?}");

    let bad = PdfMeasurements {
        pdfx_version: None,
        output_intent: None,
        fonts: 3,
        fonts_not_embedded: 2,
        fonts_not_embedded_names: vec!["Helvetica".into(), "Garamond-Bold".into()],
        pages_without_bleed_box: 12,
        min_bleed_mm: None,
        min_bleed_page: None,
        min_image_ppi: Some(150.0),
        ..good_pdf()
    };
    let results = evaluate(&spec, &package(vec![file("interior.pdf", 1, Measured::PrintPdf(bad))]));
    assert_eq!(
        failed(&results),
        [
            Check::PdfxVersion,
            Check::PdfOutputIntent,
            Check::PdfFontsEmbedded,
            Check::PdfBleedBox,
            Check::PdfBleed,
            Check::PdfImageResolution
        ]
    );
    assert_eq!(
        result(&results, Check::PdfFontsEmbedded).reason,
        "interior.pdf: pdf.fonts_embedded is 2; the limit is at most 0 (of 3 fonts; not embedded: Helvetica, Garamond-Bold)"
    );
    assert_eq!(
        result(&results, Check::PdfImageResolution).reason,
        "interior.pdf: pdf.image_resolution is 150 ppi; the limit is at least 300 ppi (lowest on page 4, of 5 images)"
    );

    let thin = PdfMeasurements { min_bleed_mm: Some(2.0), min_bleed_page: Some(7), ..good_pdf() };
    let results = evaluate(&spec, &package(vec![file("cover.pdf", 1, Measured::PrintPdf(thin))]));
    assert_eq!(
        result(&results, Check::PdfBleed).reason,
        "cover.pdf: pdf.bleed is 2 mm; the limit is at least 3 mm (narrowest on any side of page 7)"
    );
    // An interior with no bleed into the binding passes a spec that wants the outer sides only.
    let interior = PdfMeasurements { min_bleed_mm: Some(0.0), min_bleed_page: Some(1), ..good_pdf() };
    let p = package(vec![file("interior.pdf", 1, Measured::PrintPdf(interior))]);
    assert_eq!(failed(&evaluate(&spec, &p)), [Check::PdfBleed]);
    let outer = DeliverySpec {
        print_pdf: Some(PrintPdfSpec { bleed_sides: BleedSides::Outer, ..PrintPdfSpec::default() }),
        ..DeliverySpec::default()
    };
    assert!(failed(&evaluate(&outer, &p)).is_empty());
    // PDF/X-4p is a PDF/X-4.
    let p = PdfMeasurements { pdfx_version: Some("PDF/X-4p".into()), ..good_pdf() };
    assert!(failed(&evaluate(&spec, &package(vec![file("i.pdf", 1, Measured::PrintPdf(p))]))).is_empty());
    // Encrypted.
    let e = PdfMeasurements { encrypted: Some(true), ..good_pdf() };
    assert_eq!(
        failed(&evaluate(&spec, &package(vec![file("i.pdf", 1, Measured::PrintPdf(e))]))),
        [Check::PdfEncryption]
    );
}

#[test]
fn a_pdf_without_images_has_no_resolution_check() {
    let m =
        PdfMeasurements { images_measured: 0, min_image_ppi: None, min_image_ppi_page: None, ..good_pdf() };
    let results = evaluate(&DeliverySpec::printer(), &package(vec![file("i.pdf", 1, Measured::PrintPdf(m))]));
    assert!(results.iter().all(|r| r.check != Check::PdfImageResolution));
    assert!(failed(&results).is_empty());
}

#[test]
fn the_epub_identifier_must_be_the_isbn() {
    let spec = DeliverySpec::ebook_retailer();
    let good = evaluate(&spec, &package(vec![file("book.epub", 1, Measured::Epub(good_epub()))]));
    assert!(failed(&good).is_empty(), "{good:#?}");
    assert_eq!(result(&good, Check::EpubIdentifier).measured, Value::Text(ISBN.into()));

    let wrong = EpubMeasurements { identifier: Some("urn:uuid:0b7a-44".into()), ..good_epub() };
    let results = evaluate(&spec, &package(vec![file("book.epub", 1, Measured::Epub(wrong))]));
    assert_eq!(failed(&results), [Check::EpubIdentifier]);
    assert_eq!(
        result(&results, Check::EpubIdentifier).reason,
        "book.epub: epub.identifier is \"urn:uuid:0b7a-44\"; the limit is \"9781800100008\" (dc:identifier \"urn:uuid:0b7a-44\")"
    );
}

#[test]
fn epub_structure_version_and_accessibility_fail_one_by_one() {
    let spec = DeliverySpec::ebook_retailer();
    let m = EpubMeasurements {
        first_entry: Some("META-INF/container.xml".into()),
        version: Some("2.0".into()),
        accessibility: vec![("schema:accessMode".into(), vec!["textual".into()])],
        ..good_epub()
    };
    let results = evaluate(&spec, &package(vec![file("b.epub", 1, Measured::Epub(m))]));
    assert_eq!(
        failed(&results),
        [
            Check::EpubMimetype,
            Check::EpubVersion,
            Check::EpubAccessibilityFeature,
            Check::EpubAccessibilityHazard,
            Check::EpubAccessibilitySummary
        ]
    );
    assert_eq!(
        result(&results, Check::EpubVersion).reason,
        "b.epub: epub.version is 2.0; the limit is at least 3.0 (version=\"2.0\")"
    );
    // EPUB 2 is fine for a recipient that says so.
    let epub2 = DeliverySpec {
        epub: Some(EpubSpec { min_version: "2.0".into(), accessibility: vec![], ..EpubSpec::default() }),
        ..DeliverySpec::default()
    };
    let m = EpubMeasurements { version: Some("2.0.1".into()), ..good_epub() };
    assert!(failed(&evaluate(&epub2, &package(vec![file("b.epub", 1, Measured::Epub(m))]))).is_empty());
}

#[test]
fn epubcheck_findings_fail_and_a_required_missing_epubcheck_fails() {
    let report = EpubcheckReport {
        version: "4.2.6".into(),
        fatals: 0,
        errors: 2,
        warnings: 1,
        first_message: Some("RSC-005: Error while parsing file".into()),
    };
    let m = EpubMeasurements { epubcheck: Some(report), ..good_epub() };
    let results =
        evaluate(&DeliverySpec::ebook_retailer(), &package(vec![file("b.epub", 1, Measured::Epub(m))]));
    assert_eq!(failed(&results), [Check::EpubCheck]);
    assert!(result(&results, Check::EpubCheck).reason.contains("RSC-005"), "{results:#?}");

    let required = DeliverySpec {
        epub: Some(EpubSpec { epubcheck: EpubcheckUse::Required, ..EpubSpec::default() }),
        ..DeliverySpec::default()
    };
    let results = evaluate(&required, &package(vec![file("b.epub", 1, Measured::Epub(good_epub()))]));
    assert_eq!(failed(&results), [Check::EpubCheck]);
    // IfAvailable and not available: no result at all.
    let results = evaluate(
        &DeliverySpec::ebook_retailer(),
        &package(vec![file("b.epub", 1, Measured::Epub(good_epub()))]),
    );
    assert!(results.iter().all(|r| r.check != Check::EpubCheck));
}

#[test]
fn acx_audio_passes_and_each_figure_out_of_range_fails_alone() {
    let spec = DeliverySpec::audiobook_retailer();
    let mut sample = file("sample.mp3", 1, Measured::Audio(good_audio(120.0)));
    sample.purpose = Purpose::RetailSample;
    let good = package(vec![file("ch01.mp3", 1, Measured::Audio(good_audio(1800.0))), sample.clone()]);
    let results = evaluate(&spec, &good);
    assert!(failed(&results).is_empty(), "{results:#?}");

    type Edit = fn(&mut AudioMeasurements);
    let cases: [(Edit, Check); 11] = [
        (|m| m.rms_db = Some(-24.0), Check::AudioRms),
        (|m| m.rms_db = Some(-17.5), Check::AudioRms),
        (|m| m.peak_db = Some(-2.9), Check::AudioPeak),
        (|m| m.noise_floor_db = Some(-59.0), Check::AudioNoiseFloor),
        (|m| m.head_room_tone_s = Some(0.2), Check::AudioHeadRoomTone),
        (|m| m.tail_room_tone_s = Some(6.0), Check::AudioTailRoomTone),
        (|m| m.bitrates_kbps = vec![128], Check::AudioBitrate),
        (|m| m.bitrates_kbps = vec![192, 256], Check::AudioConstantBitrate),
        (|m| m.sample_rates_hz = vec![48_000], Check::AudioSampleRate),
        (|m| m.duration_s = 121.0 * 60.0, Check::AudioDuration),
        (|m| (m.corrupt_frames, m.first_corrupt_byte) = (1, Some(77_000)), Check::AudioFramesIntact),
    ];
    for (edit, check) in cases {
        let mut m = good_audio(1800.0);
        edit(&mut m);
        let results =
            evaluate(&spec, &package(vec![file("ch01.mp3", 1, Measured::Audio(m)), sample.clone()]));
        assert_eq!(failed(&results), [check], "{results:#?}");
    }
    let mut m = good_audio(1800.0);
    m.rms_db = Some(-25.5);
    let results = evaluate(&spec, &package(vec![file("ch01.mp3", 1, Measured::Audio(m)), sample.clone()]));
    assert_eq!(
        result(&results, Check::AudioRms).reason,
        "ch01.mp3: audio.rms is -25.50 dB; the limit is between -23 dB and -18 dB"
    );
}

#[test]
fn audio_package_checks_channels_and_the_retail_sample() {
    let spec = DeliverySpec::audiobook_retailer();
    let stereo = AudioMeasurements { channels: Some(2), ..good_audio(600.0) };
    let results = evaluate(
        &spec,
        &package(vec![
            file("ch01.mp3", 1, Measured::Audio(good_audio(600.0))),
            file("ch02.mp3", 1, Measured::Audio(stereo)),
        ]),
    );
    assert_eq!(failed(&results), [Check::AudioChannels, Check::AudioRetailSample]);
    let channels = result(&results, Check::AudioChannels);
    assert_eq!(channels.file, PACKAGE);
    assert_eq!(
        channels.reason,
        "package: audio.channels is \"mono and stereo\"; the limit is one of mono, stereo (ch01.mp3 mono, ch02.mp3 stereo)"
    );
    // A sample of 6 minutes is too long; its length is not held to the per-file maximum.
    let mut sample = file("sample.mp3", 1, Measured::Audio(good_audio(360.0)));
    sample.purpose = Purpose::RetailSample;
    let results =
        evaluate(&spec, &package(vec![file("ch01.mp3", 1, Measured::Audio(good_audio(600.0))), sample]));
    assert_eq!(failed(&results), [Check::AudioRetailSampleDuration]);
}

#[test]
fn a_file_whose_kind_the_spec_does_not_cover_gets_no_checks() {
    let results = evaluate(
        &DeliverySpec::printer(),
        &package(vec![file("ch01.mp3", 1, Measured::Audio(good_audio(10.0)))]),
    );
    assert!(results.is_empty(), "{results:#?}");
}

#[test]
fn a_spec_from_toml_takes_defaults_refuses_unknown_keys_and_changes_the_verdict() {
    let measured = package(vec![file("c.jpg", 1, Measured::Image(cover(1400, 2100, ColourSpace::Rgb)))]);
    let strict: DeliverySpec = toml::from_str("[images]\n").unwrap();
    assert_eq!(strict.images, Some(ImageSpec::default()));
    assert_eq!(failed(&evaluate(&strict, &measured)), [Check::ImageShortSide, Check::ImageLongSide]);

    let looser: DeliverySpec =
        toml::from_str("[images]\nmin_short_side_px = 1400\nmin_long_side_px = 2000\n").unwrap();
    assert!(failed(&evaluate(&looser, &measured)).is_empty());

    let typo = toml::from_str::<DeliverySpec>("[images]\nmin_short_side = 1400\n").unwrap_err();
    assert!(typo.to_string().contains("unknown field `min_short_side`"), "{typo}");

    let audio: DeliverySpec = toml::from_str("[audio]\nrms_db = { min = -24.0, max = -18.0 }\n").unwrap();
    let a = audio.audio.unwrap();
    assert_eq!((a.rms_db.min, a.max_peak_db, a.min_bitrate_kbps), (-24.0, -3.0, 192));
    let bad_range = toml::from_str::<DeliverySpec>("[audio]\nrms_db = { low = -24.0 }\n").unwrap_err();
    assert!(bad_range.to_string().contains("unknown field `low`"), "{bad_range}");
}

#[test]
fn presets_by_name() {
    for name in PRESETS {
        assert!(DeliverySpec::preset(name).is_some(), "{name}");
    }
    assert_eq!(DeliverySpec::preset("nope"), None);
    assert_eq!(DeliverySpec::audiobook_retailer().audio, Some(AudioSpec::default()));
    assert_eq!(DeliverySpec::printer().print_pdf.unwrap().min_bleed_mm, 3.0);
}

#[test]
fn results_serialise_with_stable_names() {
    let results =
        evaluate(&DeliverySpec::printer(), &package(vec![file("i.pdf", 1, Measured::PrintPdf(good_pdf()))]));
    let json = serde_json::to_value(result(&results, Check::PdfBleed)).unwrap();
    assert_eq!(json["check"], "pdf.bleed");
    assert_eq!(json["measured"], 3.175);
    assert_eq!(json["limit"], serde_json::json!({"at_least": 3.0}));
    assert_eq!(json["unit"], "mm");
    let back: CheckResult = serde_json::from_value(json).unwrap();
    assert_eq!(&back, result(&results, Check::PdfBleed));
    assert_eq!(Check::AudioRetailSampleDuration.to_string(), "audio.retail_sample_duration");
}

#[test]
fn version_numbers_order_like_versions() {
    assert_eq!(version_number("3.0"), Some(3.0));
    assert_eq!(version_number("2.0.1"), Some(2.0));
    assert!(version_number("3.3").unwrap() > version_number("3.0").unwrap());
    assert!(version_number("3.10").unwrap() < version_number("4.0").unwrap());
    assert_eq!(version_number("x"), None);
}

// ---- properties ----

fn limits() -> impl Strategy<Value = Limit> {
    prop_oneof![
        (-1e6f64..1e6).prop_map(Limit::AtLeast),
        (-1e6f64..1e6).prop_map(Limit::AtMost),
        (-1e6f64..1e6, 0f64..1e6).prop_map(|(min, w)| Limit::Between { min, max: min + w }),
        proptest::collection::vec("[a-c]", 0..4).prop_map(Limit::OneOf),
    ]
}

fn values() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-2e6f64..2e6).prop_map(Value::Number),
        "[a-d]".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Flag),
        Just(Value::Missing),
    ]
}

/// A tighter version of the limit: fewer values admitted.
fn tighten(limit: &Limit, by: f64, drop: usize) -> Limit {
    match limit {
        Limit::AtLeast(l) => Limit::AtLeast(l + by),
        Limit::AtMost(l) => Limit::AtMost(l - by),
        Limit::Between { min, max } => Limit::Between { min: min + by / 2.0, max: max - by / 2.0 },
        Limit::OneOf(v) => {
            Limit::OneOf(v.iter().enumerate().filter(|(i, _)| *i != drop).map(|(_, s)| s.clone()).collect())
        }
        other => other.clone(),
    }
}

/// A value further from what the limit wants.
fn worsen(limit: &Limit, value: f64, by: f64) -> f64 {
    match limit {
        Limit::AtLeast(_) => value - by,
        Limit::AtMost(_) => value + by,
        Limit::Between { min, max } => {
            if value < (min + max) / 2.0 {
                value - by
            } else {
                value + by
            }
        }
        _ => value,
    }
}

/// A random image spec and measurement, for end-to-end properties.
fn image_case() -> impl Strategy<Value = (ImageSpec, ImageMeasurements, u64)> {
    (
        0u32..4000,
        0u32..4000,
        any::<bool>(),
        0u64..100_000_000,
        0u32..5000,
        0u32..5000,
        0u64..100_000_000,
        0usize..3,
    )
        .prop_map(|(min_short, min_long, square, max_bytes, w, h, size, fmt)| {
            let spec = ImageSpec {
                min_short_side_px: min_short,
                min_long_side_px: min_long,
                square,
                max_file_bytes: max_bytes,
                ..ImageSpec::default()
            };
            let format = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Tiff][fmt];
            (spec, ImageMeasurements { format: Some(format), ..cover(w, h, ColourSpace::Rgb) }, size)
        })
}

fn audio_case() -> impl Strategy<Value = AudioMeasurements> {
    (-40f64..0.0, -40f64..0.0, -90f64..-30.0, 0f64..3.0, 0f64..8.0, 1f64..10_000.0, 0u64..3).prop_map(
        |(rms, peak, floor, head, tail, duration, corrupt)| AudioMeasurements {
            rms_db: Some(rms),
            peak_db: Some(peak),
            noise_floor_db: Some(floor),
            head_room_tone_s: Some(head),
            tail_room_tone_s: Some(tail),
            duration_s: duration,
            corrupt_frames: corrupt,
            ..good_audio(duration)
        },
    )
}

fn failed_set(spec: &DeliverySpec, p: &PackageMeasurements) -> std::collections::BTreeSet<Check> {
    failures(&evaluate(spec, p)).map(|r| r.check).collect()
}

proptest! {
    #[test]
    fn tightening_a_limit_never_turns_a_fail_into_a_pass(limit in limits(), value in values(), by in 0f64..1e5, drop in 0usize..4) {
        if !limit.admits(&value) {
            prop_assert!(!tighten(&limit, by, drop).admits(&value));
        }
    }

    #[test]
    fn a_worse_value_never_turns_a_fail_into_a_pass(limit in limits(), x in -2e6f64..2e6, by in 0f64..1e5) {
        if !limit.admits(&Value::Number(x)) {
            prop_assert!(!limit.admits(&Value::Number(worsen(&limit, x, by))));
        }
    }

    #[test]
    fn a_missing_value_never_passes(limit in limits()) {
        prop_assert!(!limit.admits(&Value::Missing));
    }

    #[test]
    fn image_verdicts_only_get_stricter_with_a_stricter_spec(
        (spec, m, size) in image_case(), more in 0u32..1000, less in 0u64..10_000_000, drop_format in 0usize..3
    ) {
        let p = package(vec![file("c.jpg", size, Measured::Image(m))]);
        let loose = DeliverySpec { images: Some(spec.clone()), ..DeliverySpec::default() };
        let mut formats = spec.formats.clone();
        formats.remove(drop_format);
        let strict = DeliverySpec {
            images: Some(ImageSpec {
                min_short_side_px: spec.min_short_side_px.saturating_add(more).max(1),
                min_long_side_px: spec.min_long_side_px.saturating_add(more).max(1),
                square: true,
                max_file_bytes: spec.max_file_bytes.saturating_sub(less).max(1),
                formats,
                ..spec
            }),
            ..DeliverySpec::default()
        };
        let (before, after) = (failed_set(&loose, &p), failed_set(&strict, &p));
        prop_assert!(before.is_subset(&after), "{before:?} then {after:?}");
    }

    #[test]
    fn image_verdicts_are_monotone_in_pixels_and_bytes(
        (spec, m, size) in image_case(), fewer in 0u32..2000, more_bytes in 0u64..50_000_000
    ) {
        // Squareness is not an order: it is left out here (tested by example above).
        let spec = DeliverySpec { images: Some(ImageSpec { square: false, ..spec }), ..DeliverySpec::default() };
        let smaller = ImageMeasurements {
            width_px: m.width_px.map(|w| w.saturating_sub(fewer)),
            height_px: m.height_px.map(|h| h.saturating_sub(fewer)),
            ..m.clone()
        };
        let before = failed_set(&spec, &package(vec![file("c.jpg", size, Measured::Image(m))]));
        let after = failed_set(&spec, &package(vec![file("c.jpg", size + more_bytes, Measured::Image(smaller))]));
        prop_assert!(before.is_subset(&after), "{before:?} then {after:?}");
    }

    #[test]
    fn audio_verdicts_are_monotone_in_each_figure(m in audio_case(), by in 0f64..20.0, which in 0usize..6) {
        let spec = DeliverySpec { audio: Some(AudioSpec { require_retail_sample: false, ..AudioSpec::default() }), ..DeliverySpec::default() };
        let range = AudioSpec::default();
        let away = |x: Option<f64>, r: Range| x.map(|x| if x < (r.min + r.max) / 2.0 { x - by } else { x + by });
        let mut worse = m.clone();
        match which {
            0 => worse.rms_db = away(m.rms_db, range.rms_db),
            1 => worse.peak_db = m.peak_db.map(|p| p + by),
            2 => worse.noise_floor_db = m.noise_floor_db.map(|f| f + by),
            3 => worse.head_room_tone_s = away(m.head_room_tone_s, range.head_room_tone_s),
            4 => worse.tail_room_tone_s = away(m.tail_room_tone_s, range.tail_room_tone_s),
            _ => {
                worse.duration_s = m.duration_s + by * 600.0;
                worse.corrupt_frames = m.corrupt_frames + by as u64;
            }
        }
        let before = failed_set(&spec, &package(vec![file("a.mp3", 1, Measured::Audio(m))]));
        let after = failed_set(&spec, &package(vec![file("a.mp3", 1, Measured::Audio(worse))]));
        prop_assert!(before.is_subset(&after), "{before:?} then {after:?}");
    }

    #[test]
    fn audio_verdicts_only_get_stricter_with_a_stricter_spec(m in audio_case(), by in 0f64..10.0) {
        let loose = AudioSpec { require_retail_sample: false, ..AudioSpec::default() };
        let shrink = |r: Range| Range { min: r.min + by / 2.0, max: r.max - by / 2.0 };
        let strict = AudioSpec {
            rms_db: shrink(loose.rms_db),
            max_peak_db: loose.max_peak_db - by,
            max_noise_floor_db: loose.max_noise_floor_db - by,
            head_room_tone_s: shrink(loose.head_room_tone_s),
            tail_room_tone_s: shrink(loose.tail_room_tone_s),
            max_file_minutes: loose.max_file_minutes - by,
            min_bitrate_kbps: loose.min_bitrate_kbps + by as u32,
            ..loose.clone()
        };
        let p = package(vec![file("a.mp3", 1, Measured::Audio(m))]);
        let before = failed_set(&DeliverySpec { audio: Some(loose), ..DeliverySpec::default() }, &p);
        let after = failed_set(&DeliverySpec { audio: Some(strict), ..DeliverySpec::default() }, &p);
        prop_assert!(before.is_subset(&after), "{before:?} then {after:?}");
    }
}
