use crate::support::{self, EpubSpec, ISBN};
use crate::{failed, measured, measured_with, result, verdict};
use connector_core::delivery::{Check, DeliverySpec, EpubMeasurements, FileMeasurements, Measured};
use delivery::{FileKind, Options};

fn epub(m: &FileMeasurements) -> &EpubMeasurements {
    match &m.detail {
        Measured::Epub(e) => e,
        other => panic!("{other:?}"),
    }
}

fn check(spec: &EpubSpec) -> FileMeasurements {
    measured(FileKind::Epub, "book.epub", &support::epub(spec))
}

#[test]
fn an_epub3_with_the_isbn_and_accessibility_metadata_passes() {
    let m = check(&EpubSpec::default());
    assert_eq!(m.problem, None);
    let e = epub(&m);
    assert_eq!(e.first_entry.as_deref(), Some("mimetype"));
    assert_eq!(
        (e.mimetype_stored, e.mimetype_content.as_deref()),
        (Some(true), Some("application/epub+zip"))
    );
    assert_eq!((e.container_xml, e.package_document.as_deref()), (true, Some("OEBPS/content.opf")));
    assert_eq!(e.version.as_deref(), Some("3.0"));
    assert_eq!(e.identifier, Some(format!("urn:isbn:{ISBN}")));
    let summary = e.accessibility.iter().find(|(p, _)| p == "schema:accessibilitySummary").unwrap();
    assert_eq!(summary.1, ["Text with headings & a table of contents."]);
    let features = e.accessibility.iter().find(|(p, _)| p == "schema:accessibilityFeature").unwrap();
    assert_eq!(features.1, ["structuralNavigation", "tableOfContents"]);
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert!(failed(&results).is_empty(), "{results:#?}");
}

#[test]
fn a_wrong_identifier_fails() {
    let m = check(&EpubSpec { identifier: "urn:isbn:9780000000002".into(), ..EpubSpec::default() });
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert_eq!(failed(&results), [Check::EpubIdentifier]);
    assert_eq!(
        result(&results, Check::EpubIdentifier).reason,
        format!(
            "book.epub: epub.identifier is \"9780000000002\"; the limit is \"{ISBN}\" (dc:identifier \"urn:isbn:9780000000002\")"
        )
    );
}

#[test]
fn a_misplaced_or_compressed_mimetype_fails() {
    let late = check(&EpubSpec { mimetype_first: false, ..EpubSpec::default() });
    assert_eq!(epub(&late).first_entry.as_deref(), Some("META-INF/container.xml"));
    assert_eq!(failed(&verdict(&DeliverySpec::ebook_retailer(), vec![late])), [Check::EpubMimetype]);
    let deflated = check(&EpubSpec { mimetype_stored: false, ..EpubSpec::default() });
    assert_eq!(epub(&deflated).mimetype_stored, Some(false));
    assert_eq!(failed(&verdict(&DeliverySpec::ebook_retailer(), vec![deflated])), [Check::EpubMimetype]);
}

#[test]
fn epub2_without_accessibility_metadata_fails_four_checks_and_the_version() {
    let m = check(&EpubSpec { version: "2.0", accessibility: false, ..EpubSpec::default() });
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert_eq!(
        failed(&results),
        [
            Check::EpubVersion,
            Check::EpubAccessMode,
            Check::EpubAccessibilityFeature,
            Check::EpubAccessibilityHazard,
            Check::EpubAccessibilitySummary
        ]
    );
}

#[test]
fn no_container_fails() {
    let m = check(&EpubSpec { container: false, ..EpubSpec::default() });
    assert_eq!(m.problem.as_deref(), Some("no META-INF/container.xml"));
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![m]);
    assert!(failed(&results).starts_with(&[
        Check::EpubReadable,
        Check::EpubContainer,
        Check::EpubPackageDocument
    ]));
}

#[test]
fn zip_bombs_are_refused_before_inflating() {
    // 16 MiB of zeros deflate to about 16 KiB: 1000:1.
    let m = check(&EpubSpec { zeros_entry: Some(16 << 20), ..EpubSpec::default() });
    let problem = m.problem.clone().unwrap();
    assert!(problem.starts_with("zip bomb guard: OEBPS/zeros.bin expands 16777216 bytes from"), "{problem}");
    assert!(failed(&verdict(&DeliverySpec::ebook_retailer(), vec![m])).contains(&Check::EpubReadable));

    let bytes = support::epub(&EpubSpec { extra_entries: 10, ..EpubSpec::default() });
    let few = Options { zip_max_entries: 12, ..Options::default() };
    let m = measured_with(FileKind::Epub, "book.epub", &bytes, &few);
    assert_eq!(m.problem.as_deref(), Some("zip bomb guard: 15 entries, the limit is 12"));

    // An entry read for checking stops at the cap, whatever its header says.
    let small = Options { xml_max_bytes: 512, ..Options::default() };
    let m = measured_with(FileKind::Epub, "book.epub", &support::epub(&EpubSpec::default()), &small);
    assert_eq!(
        m.problem.as_deref(),
        Some(
            "the package document OEBPS/content.opf: zip bomb guard: OEBPS/content.opf inflates past 512 bytes"
        )
    );
}

#[test]
fn a_file_that_is_not_a_zip_fails_readable() {
    let m = measured(FileKind::Epub, "book.epub", b"%PDF-1.7 not an epub");
    assert_eq!(m.problem.as_deref(), Some("not a zip archive: no end-of-central-directory record"));
    let bytes = support::epub(&EpubSpec::default());
    let m = measured(FileKind::Epub, "book.epub", &bytes[..bytes.len() - 30]);
    assert!(m.problem.is_some());
}

/// Debian's epubcheck (Java): `apt-get install epubcheck`, then
/// `cargo test -p delivery --test checks -- --ignored epubcheck`.
#[test]
#[ignore = "needs EPUBCheck (Debian's epubcheck package and a Java runtime)"]
fn epubcheck_passes_the_generated_epub_and_reports_a_broken_one() {
    let epubcheck = delivery::find_epubcheck().expect("epubcheck on PATH");
    let options = Options { epubcheck: Some(epubcheck), ..Options::default() };
    let good = measured_with(FileKind::Epub, "book.epub", &support::epub(&EpubSpec::default()), &options);
    let report = epub(&good).epubcheck.clone().expect("EPUBCheck ran");
    assert_eq!((report.fatals, report.errors), (0, 0), "{report:?}");
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![good]);
    assert!(result(&results, Check::EpubCheck).passed, "{results:#?}");

    let bad = measured_with(
        FileKind::Epub,
        "book.epub",
        &support::epub(&EpubSpec { mimetype_stored: false, ..EpubSpec::default() }),
        &options,
    );
    let report = epub(&bad).epubcheck.clone().expect("EPUBCheck ran");
    assert!(report.fatals + report.errors > 0, "{report:?}");
    let results = verdict(&DeliverySpec::ebook_retailer(), vec![bad]);
    assert!(!result(&results, Check::EpubCheck).passed);
}
