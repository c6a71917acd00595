//! The demo's delivery checks (issue 18): two ebook recipients added to the example mapping
//! config, generated covers in the OTMM simulator, and the figures the report shows.

use super::{DemoError, DemoSummary};
use crate::Simulators;
use connector_sim::catalogue::Catalogue;

/// The demo's recipients (issue 18), added to the example mapping config: an ebook retailer
/// whose covers need a short side of 1,000 px and a high-resolution vendor that needs
/// 1,600 × 2,560 px (the issue's figures). Two of three front covers are generated at the
/// larger size, one at 1,200 × 1,800 px: staged for the first, blocked for the second.
const DEMO_RECIPIENTS: &str = r#"
[packages.recipients.retailer_web]
channel = "ebook"
[packages.recipients.retailer_web.images]
min_short_side_px = 1000
min_long_side_px = 1500

[packages.recipients.vendor_hires]
channel = "ebook"
[packages.recipients.vendor_hires.images]
min_short_side_px = 1600
min_long_side_px = 2560
"#;

/// The example mapping config with the demo's recipients and the OTMM flag field.
pub(super) fn demo_mapping() -> Result<connector_core::config::MappingConfig, DemoError> {
    let text = connector_app::wiring::EXAMPLE_MAPPING_CONFIG
        .replace("# check_flag_field = ", "check_flag_field = ")
        + DEMO_RECIPIENTS;
    connector_core::config::MappingConfig::from_toml_str(
        &text,
        "the example mapping config + the demo's recipients",
    )
    .map_err(|e| DemoError::Wiring(e.to_string()))
}

/// Real JPEG bytes for every version of the images an ebook package takes (the simulator's
/// other contents are pseudo-random): front covers at 1,600 × 2,560 px, every third at
/// 1,200 × 1,800 px; illustrations at the larger size. Two images, shared by reference.
pub(super) fn set_cover_contents(sims: &Simulators, catalogue: &Catalogue) {
    let large = large_cover();
    let small = bytes::Bytes::from(connector_sim::content::rgb_jpeg(1200, 1800));
    let mut covers = 0usize;
    for asset in &catalogue.assets {
        let content = match asset.asset_type.as_str() {
            "Front Cover" => {
                covers += 1;
                if covers.is_multiple_of(3) { &small } else { &large }
            }
            "Interior Illustration" => &large,
            _ => continue,
        };
        for v in &asset.versions {
            let _ = sims.otmm.set_content(&v.asset_id, content.clone());
        }
    }
}

/// The 1,600 × 2,560 px cover, encoded once.
pub(super) fn large_cover() -> bytes::Bytes {
    static LARGE: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    LARGE.get_or_init(|| connector_sim::content::rgb_jpeg(1600, 2560).into()).clone()
}

/// A check of an image's pixel size (what the demo's recipients differ on).
pub(super) fn size_check(c: &connector_core::delivery::CheckResult) -> bool {
    use connector_core::delivery::Check;
    matches!(c.check, Check::ImageShortSide | Check::ImageLongSide)
}

/// Per recipient: passed or blocked, and a few samples with the measured short side.
pub(super) fn delivery_figures(d: &connector_app::packages::PackageDoc, s: &mut DemoSummary) {
    use connector_core::delivery::{Check, failures};
    for v in &d.delivery_checks {
        let e = s.delivery_by_recipient.entry(v.recipient.clone()).or_default();
        if v.passed {
            e.0 += 1
        } else {
            e.1 += 1
        }
        let verdict = if v.passed { "passed " } else { "blocked" };
        let seen = s
            .delivery_samples
            .iter()
            .filter(|x| x.starts_with(&format!("{verdict} {} ", v.recipient)))
            .count();
        if seen >= 1 {
            continue;
        }
        // The cover's measured short side against the recipient's limit, passed or blocked.
        let check =
            v.checks.iter().find(|c| c.check == Check::ImageShortSide && c.file.starts_with("front_cover"));
        if let Some(c) = check.filter(|c| c.passed == v.passed && failures(&v.checks).all(size_check)) {
            s.delivery_samples.push(format!(
                "{verdict} {} {} {} v{}: {}",
                v.recipient, d.isbn, d.channel, d.package_version, c.reason
            ));
        }
    }
}
