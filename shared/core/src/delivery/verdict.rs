//! One package's verdict per recipient: the recipient's spec held against the package's
//! measurements ([`super::evaluate`]), kept whole (every check, passed or not) so a passed
//! package keeps its evidence and a blocked one names the file, the check, the value and the
//! limit.

use super::{CheckResult, DeliverySpec, PackageMeasurements, evaluate, failures};
use crate::config::Recipient;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientVerdict {
    pub recipient: String,
    #[serde(default)]
    pub preset: Option<String>,
    /// The spec checked against, as it was then.
    pub spec: DeliverySpec,
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

impl RecipientVerdict {
    /// The reasons of the failed checks, prefixed by the recipient.
    pub fn reasons(&self) -> Vec<String> {
        failures(&self.checks).map(|c| format!("{}: {}", self.recipient, c.reason)).collect()
    }
}

/// The verdict of every recipient, in the given order.
pub fn verdicts<'a>(
    recipients: impl IntoIterator<Item = &'a Recipient>,
    package: &PackageMeasurements,
) -> Vec<RecipientVerdict> {
    recipients
        .into_iter()
        .map(|r| {
            let checks = evaluate(&r.spec, package);
            let passed = failures(&checks).next().is_none();
            RecipientVerdict {
                recipient: r.name.clone(),
                preset: r.preset.clone(),
                spec: r.spec.clone(),
                passed,
                checks,
            }
        })
        .collect()
}

/// SHA-256 of the recipients' names and specs: part of a package's fingerprint, so a spec
/// change in the config re-checks (and may change the verdict of) a package whose files did
/// not change.
pub fn recipients_fingerprint<'a>(recipients: impl IntoIterator<Item = &'a Recipient>) -> String {
    let mut h = Sha256::new();
    for r in recipients {
        h.update(r.name.as_bytes());
        h.update(serde_json::to_vec(&r.spec).unwrap_or_default());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Why a package may not be released to `recipient` (`None`: to no recipient in particular),
/// or `None` when it may. Without verdicts (no recipients configured) nothing is refused unless
/// a recipient is named: then it was never checked for it. Unnamed, a package blocked for any
/// recipient is refused (the release's link is not per recipient), naming the ones it passed.
pub fn release_refusal(verdicts: &[RecipientVerdict], recipient: Option<&str>) -> Option<String> {
    let names = |passed: bool| -> Vec<&str> {
        verdicts.iter().filter(|v| v.passed == passed).map(|v| v.recipient.as_str()).collect()
    };
    match recipient {
        Some(name) => match verdicts.iter().find(|v| v.recipient == name) {
            None if verdicts.is_empty() => {
                Some(format!("the package was not checked for recipient {name} (no recipients take it)"))
            }
            None => Some(format!(
                "the package was not checked for recipient {name} (its recipients: {})",
                verdicts.iter().map(|v| v.recipient.as_str()).collect::<Vec<_>>().join(", ")
            )),
            Some(v) if !v.passed => Some(format!("blocked for recipient {name}: {}", v.reasons().join("; "))),
            Some(_) => None,
        },
        None if names(false).is_empty() => None,
        None => {
            let reasons: Vec<String> =
                verdicts.iter().filter(|v| !v.passed).flat_map(|v| v.reasons()).collect();
            let passed = names(true);
            let hint = if passed.is_empty() {
                String::new()
            } else {
                format!(" (name a recipient it passed: {})", passed.join(", "))
            };
            Some(format!("blocked for recipient {}: {}{hint}", names(false).join(", "), reasons.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{ColourSpace, ImageFormat};
    use crate::delivery::{FileMeasurements, ImageMeasurements, ImageSpec, Measured, Purpose};
    use crate::rights::Channel;

    fn recipient(name: &str, min_short: u32) -> Recipient {
        Recipient {
            name: name.into(),
            channel: Channel::Ebook,
            forms: Default::default(),
            preset: None,
            spec: DeliverySpec {
                images: Some(ImageSpec {
                    min_short_side_px: min_short,
                    min_long_side_px: 0,
                    ..ImageSpec::default()
                }),
                ..DeliverySpec::default()
            },
        }
    }

    fn cover(w: u32, h: u32) -> PackageMeasurements {
        PackageMeasurements {
            isbn: "9781800100008".into(),
            files: vec![FileMeasurements {
                file_name: "cover.jpg".into(),
                size_bytes: 1000,
                purpose: Purpose::Main,
                problem: None,
                detail: Measured::Image(ImageMeasurements {
                    format: Some(ImageFormat::Jpeg),
                    width_px: Some(w),
                    height_px: Some(h),
                    colour_space: Some(ColourSpace::Rgb),
                    bits_per_component: Some(8),
                    icc_colour_space: None,
                }),
            }],
        }
    }

    #[test]
    fn one_recipient_passes_the_other_is_blocked_with_the_figures() {
        let (loose, strict) = (recipient("loose", 1000), recipient("strict", 1600));
        let v = verdicts([&loose, &strict], &cover(1200, 1800));
        assert!(v[0].passed && !v[1].passed, "{v:#?}");
        assert!(!v[0].checks.is_empty(), "a pass keeps its measurements");
        let reasons = v[1].reasons();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].contains("strict: cover.jpg") && reasons[0].contains("1200 px"), "{reasons:?}");
        assert!(reasons[0].contains("at least 1600 px"), "{reasons:?}");
    }

    #[test]
    fn release_is_refused_for_a_recipient_the_package_failed() {
        let (loose, strict) = (recipient("loose", 1000), recipient("strict", 1600));
        let v = verdicts([&loose, &strict], &cover(1200, 1800));
        assert_eq!(release_refusal(&v, Some("loose")), None);
        let why = release_refusal(&v, Some("strict")).expect("refused");
        assert!(
            why.starts_with("blocked for recipient strict: strict: cover.jpg: image.short_side is 1200 px"),
            "{why}"
        );
        assert!(why.contains("at least 1600 px"), "{why}");
        let unnamed = release_refusal(&v, None).expect("refused unnamed");
        assert!(
            unnamed.contains("recipient strict") && unnamed.ends_with("(name a recipient it passed: loose)"),
            "{unnamed}"
        );
        let unknown = release_refusal(&v, Some("other")).expect("unknown refused");
        assert!(
            unknown.contains("not checked for recipient other (its recipients: loose, strict)"),
            "{unknown}"
        );
        // Every recipient passed, or none configured: released as before.
        let passed = verdicts([&loose], &cover(1200, 1800));
        assert_eq!(release_refusal(&passed, None), None);
        assert_eq!(release_refusal(&[], None), None);
        assert!(release_refusal(&[], Some("loose")).is_some());
    }

    #[test]
    fn a_spec_change_changes_the_fingerprint() {
        let a = recipient("r", 1000);
        assert_eq!(recipients_fingerprint([&a]), recipients_fingerprint([&a.clone()]));
        assert_ne!(recipients_fingerprint([&a]), recipients_fingerprint([&recipient("r", 1001)]));
        assert_ne!(recipients_fingerprint([&a]), recipients_fingerprint([&recipient("s", 1000)]));
    }
}
