use crate::support::{self, PdfSpec};
use crate::{failed, measured, result, verdict};
use connector_core::delivery::{Check, DeliverySpec, FileMeasurements, Measured, PdfMeasurements};
use delivery::FileKind;

fn check(spec: &PdfSpec) -> FileMeasurements {
    measured(FileKind::PrintPdf, "interior.pdf", &support::pdf(spec))
}

fn pdf(m: &FileMeasurements) -> &PdfMeasurements {
    match &m.detail {
        Measured::PrintPdf(p) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pdfx_file_with_embedded_fonts_boxes_and_bleed_passes_the_printer() {
    let m = check(&PdfSpec::default());
    assert_eq!(m.problem, None);
    let p = pdf(&m);
    assert_eq!(p.version.as_deref(), Some("1.6"));
    assert_eq!(p.pdfx_version.as_deref(), Some("PDF/X-4"));
    assert_eq!(p.output_intent.as_deref(), Some("FOGRA39"));
    assert_eq!((p.encrypted, p.pages, p.fonts, p.fonts_not_embedded), (Some(false), Some(3), 1, 0));
    assert_eq!((p.pages_without_trim_box, p.pages_without_bleed_box), (0, 0));
    assert_eq!(p.min_bleed_mm, Some(3.18), "{p:?}");
    // 1,500 px drawn over 360 pt (5 in): 300 ppi.
    assert_eq!((p.min_image_ppi, p.images_measured), (Some(300.0), 3));
    let results = verdict(&DeliverySpec::printer(), vec![m]);
    assert!(failed(&results).is_empty(), "{results:#?}");
}

#[test]
fn fonts_not_embedded_are_named() {
    let m = check(&PdfSpec { embed_fonts: false, ..PdfSpec::default() });
    assert_eq!((pdf(&m).fonts, pdf(&m).fonts_not_embedded), (1, 1));
    let results = verdict(&DeliverySpec::printer(), vec![m]);
    assert_eq!(failed(&results), [Check::PdfFontsEmbedded]);
    assert_eq!(
        result(&results, Check::PdfFontsEmbedded).reason,
        "interior.pdf: pdf.fonts_embedded is 1; the limit is at most 0 (of 1 fonts; not embedded: Helvetica)"
    );
}

#[test]
fn missing_boxes_and_thin_bleed_fail() {
    let m = check(&PdfSpec { trim_box: false, bleed_mm: None, ..PdfSpec::default() });
    assert_eq!((pdf(&m).pages_without_trim_box, pdf(&m).pages_without_bleed_box), (3, 3));
    let results = verdict(&DeliverySpec::printer(), vec![m]);
    assert_eq!(failed(&results), [Check::PdfTrimBox, Check::PdfBleedBox, Check::PdfBleed]);
    assert_eq!(
        result(&results, Check::PdfTrimBox).reason,
        "interior.pdf: pdf.trim_box is 3; the limit is at most 0 (pages without it, of 3)"
    );

    let thin = check(&PdfSpec { bleed_mm: Some(2.0), ..PdfSpec::default() });
    assert_eq!(pdf(&thin).min_bleed_mm, Some(2.0));
    let results = verdict(&DeliverySpec::printer(), vec![thin]);
    assert_eq!(failed(&results), [Check::PdfBleed]);
    assert_eq!(
        result(&results, Check::PdfBleed).reason,
        "interior.pdf: pdf.bleed is 2 mm; the limit is at least 3 mm (narrowest on any side of page 1)"
    );
}

#[test]
fn a_low_resolution_image_fails_with_its_page() {
    // 600 px over 5 in.
    let m = check(&PdfSpec { image: Some((600, 600, 360.0, 360.0)), ..PdfSpec::default() });
    assert_eq!(pdf(&m).min_image_ppi, Some(120.0));
    let results = verdict(&DeliverySpec::printer(), vec![m]);
    assert_eq!(failed(&results), [Check::PdfImageResolution]);
    assert_eq!(
        result(&results, Check::PdfImageResolution).reason,
        "interior.pdf: pdf.image_resolution is 120 ppi; the limit is at least 300 ppi (lowest on page 1, of 3 images)"
    );
}

#[test]
fn no_pdfx_declaration_or_output_intent_fails() {
    let m = check(&PdfSpec { pdfx: None, output_intent: false, ..PdfSpec::default() });
    assert_eq!((pdf(&m).pdfx_version.clone(), pdf(&m).output_intent.clone()), (None, None));
    assert_eq!(
        failed(&verdict(&DeliverySpec::printer(), vec![m])),
        [Check::PdfxVersion, Check::PdfOutputIntent]
    );
}

#[test]
fn the_pdfx_version_is_read_from_xmp_and_resources_from_the_page_tree() {
    let m = check(&PdfSpec {
        xmp: true,
        pdfx: Some("PDF/X-1a:2003"),
        inherit_resources: true,
        ..PdfSpec::default()
    });
    assert_eq!(m.problem, None);
    let p = pdf(&m);
    assert_eq!(p.pdfx_version.as_deref(), Some("PDF/X-1a:2003"));
    assert_eq!((p.fonts, p.images_measured), (1, 3));
    assert!(failed(&verdict(&DeliverySpec::printer(), vec![m])).is_empty());
}

#[test]
fn an_encrypted_pdf_fails() {
    let m = check(&PdfSpec { encrypt: true, ..PdfSpec::default() });
    assert_eq!(pdf(&m).encrypted, Some(true));
    assert!(m.problem.as_deref().unwrap().starts_with("encrypted"), "{:?}", m.problem);
    let results = verdict(&DeliverySpec::printer(), vec![m]);
    assert!(failed(&results).starts_with(&[Check::PdfReadable, Check::PdfEncryption]), "{results:#?}");
}

#[test]
fn a_file_that_is_not_a_pdf_or_is_cut_short_fails_readable() {
    let m = measured(FileKind::PrintPdf, "interior.pdf", b"PK\x03\x04 this is a zip, not a PDF");
    assert_eq!(m.problem.as_deref(), Some("not a PDF: no %PDF- header in the first 1,024 bytes"));
    let results = verdict(&DeliverySpec::printer(), vec![m]);
    assert!(!result(&results, Check::PdfReadable).passed);

    let bytes = support::pdf(&PdfSpec::default());
    let m = measured(FileKind::PrintPdf, "interior.pdf", &bytes[..bytes.len() / 2]);
    assert!(m.problem.as_deref().unwrap().starts_with("not a readable PDF"), "{:?}", m.problem);
    let empty = measured(FileKind::PrintPdf, "interior.pdf", b"");
    assert_eq!(empty.problem.as_deref(), Some("not a PDF: the file is empty"));
}
