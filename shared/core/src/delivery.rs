//! Delivery checks (issue 18): does a package's files pass its recipient's spec?
//!
//! The crate `delivery` measures the real bytes (image headers, the PDF's catalog and pages,
//! the EPUB's container and package document, the MP3's frames and decoded levels) into
//! [`FileMeasurements`]; [`evaluate`] compares them with a recipient's [`DeliverySpec`] and
//! says, per check, what was measured, the limit, whether it passed, and a reason naming the
//! file, the check, the value and the limit. Pure: the same measurements and spec give the
//! same results, so a later rejection can be answered from the stored measurements.
//!
//! Every check is one comparison of a [`Value`] with a [`Limit`] ([`Limit::admits`]), so a
//! tighter limit never passes what a looser one failed, and a worse value never passes what a
//! better one failed (both property-tested).

mod check;
mod measure;
mod spec;
mod verdict;

pub use check::Check;
pub use verdict::{RecipientVerdict, recipients_fingerprint, release_refusal, verdicts};

pub use measure::{
    AudioMeasurements, EpubMeasurements, EpubcheckReport, FileMeasurements, ImageMeasurements, Measured,
    PackageMeasurements, PdfMeasurements, Purpose,
};
pub use spec::{
    AccessibilityProperty, AudioSpec, BleedSides, ColourSpace, DeliverySpec, EpubSpec, EpubcheckUse,
    ISBN_PLACEHOLDER, ImageFormat, ImageSpec, PRESETS, PrintPdfSpec, Range,
};

use crate::ids::Isbn13;
use serde::{Deserialize, Serialize};

/// What was measured for one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Number(f64),
    Flag(bool),
    Text(String),
    /// The file did not get far enough to show it.
    Missing,
}

/// What a check requires of its [`Value`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    AtLeast(f64),
    AtMost(f64),
    Between {
        min: f64,
        max: f64,
    },
    OneOf(Vec<String>),
    /// Starts with one of these (`PDF/X-4` takes `PDF/X-4p`).
    PrefixOf(Vec<String>),
    Equals(String),
    Is(bool),
}

impl Limit {
    /// The one rule of every check. A missing value, or a value of the wrong shape, fails.
    pub fn admits(&self, value: &Value) -> bool {
        match (self, value) {
            (Limit::AtLeast(l), Value::Number(x)) => x >= l,
            (Limit::AtMost(l), Value::Number(x)) => x <= l,
            (Limit::Between { min, max }, Value::Number(x)) => x >= min && x <= max,
            (Limit::OneOf(allowed), Value::Text(t)) => allowed.iter().any(|a| a == t),
            (Limit::PrefixOf(prefixes), Value::Text(t)) => prefixes.iter().any(|p| t.starts_with(p.as_str())),
            (Limit::Equals(e), Value::Text(t)) => e == t,
            (Limit::Is(b), Value::Flag(f)) => b == f,
            _ => false,
        }
    }
}

/// Unit of a numeric value or limit, for the reason text and the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    #[default]
    None,
    Px,
    Bytes,
    Mm,
    Ppi,
    Db,
    Seconds,
    Minutes,
    Kbps,
    Count,
    Version,
}

impl Unit {
    fn format(self, x: f64) -> String {
        let n = if self == Unit::Version {
            format!("{x:.1}")
        } else if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
        };
        let suffix = match self {
            Unit::None | Unit::Version => "",
            Unit::Px => " px",
            Unit::Bytes => " bytes",
            Unit::Mm => " mm",
            Unit::Ppi => " ppi",
            Unit::Db => " dB",
            Unit::Seconds => " s",
            Unit::Minutes => " min",
            Unit::Kbps => " kb/s",
            Unit::Count => "",
        };
        format!("{n}{suffix}")
    }

    fn value(self, v: &Value) -> String {
        match v {
            Value::Number(x) => self.format(*x),
            Value::Flag(b) => if *b { "yes" } else { "no" }.to_string(),
            Value::Text(t) => format!("{t:?}"),
            Value::Missing => "not measured".to_string(),
        }
    }

    fn limit(self, l: &Limit) -> String {
        match l {
            Limit::AtLeast(x) => format!("at least {}", self.format(*x)),
            Limit::AtMost(x) => format!("at most {}", self.format(*x)),
            Limit::Between { min, max } => format!("between {} and {}", self.format(*min), self.format(*max)),
            Limit::OneOf(v) => format!("one of {}", v.join(", ")),
            Limit::PrefixOf(v) => {
                format!("one of {}", v.iter().map(|p| format!("{p}*")).collect::<Vec<_>>().join(", "))
            }
            Limit::Equals(e) => format!("{e:?}"),
            Limit::Is(b) => if *b { "yes" } else { "no" }.to_string(),
        }
    }
}

/// One check of one file (or of the package, `file` = [`PACKAGE`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub file: String,
    pub check: Check,
    pub passed: bool,
    pub measured: Value,
    pub limit: Limit,
    #[serde(default)]
    pub unit: Unit,
    /// Names the file, the check, the measured value and the limit, e.g. `cover.jpg:
    /// image.short_side is 1200 px; the limit is at least 1600 px`.
    pub reason: String,
}

/// The `file` of a check over the whole package.
pub const PACKAGE: &str = "package";

/// The checks that failed.
pub fn failures(results: &[CheckResult]) -> impl Iterator<Item = &CheckResult> {
    results.iter().filter(|r| !r.passed)
}

/// Builds results with their reasons.
struct Results<'a> {
    out: Vec<CheckResult>,
    file: &'a str,
    problem: Option<&'a str>,
}

impl Results<'_> {
    fn check(&mut self, check: Check, measured: Value, limit: Limit, unit: Unit, note: Option<String>) {
        let passed = limit.admits(&measured);
        let mut reason = format!(
            "{}: {check} is {}; the limit is {}",
            self.file,
            unit.value(&measured),
            unit.limit(&limit)
        );
        if let Some(note) = note {
            reason.push_str(&format!(" ({note})"));
        } else if measured == Value::Missing
            && let Some(p) = self.problem
        {
            reason.push_str(&format!(" ({p})"));
        }
        self.out.push(CheckResult {
            file: self.file.to_string(),
            check,
            passed,
            measured,
            limit,
            unit,
            reason,
        });
    }

    fn readable(&mut self, check: Check) {
        let note = self.problem.map(str::to_string);
        self.check(check, Value::Flag(self.problem.is_none()), Limit::Is(true), Unit::None, note);
    }
}

fn num<T: Into<f64>>(v: Option<T>) -> Value {
    v.map_or(Value::Missing, |x| Value::Number(x.into()))
}

fn text<T: ToString>(v: Option<T>) -> Value {
    v.map_or(Value::Missing, |x| Value::Text(x.to_string()))
}

/// Every check of `spec` over the package's files, in file order, then the package-wide
/// ones. A file whose kind the spec has no section for gets no checks.
pub fn evaluate(spec: &DeliverySpec, package: &PackageMeasurements) -> Vec<CheckResult> {
    let mut all = Vec::new();
    for file in &package.files {
        let mut r = Results { out: Vec::new(), file: &file.file_name, problem: file.problem.as_deref() };
        match (&file.detail, spec) {
            (Measured::Image(m), DeliverySpec { images: Some(s), .. }) => {
                image(&mut r, s, file, m, &package.isbn)
            }
            (Measured::PrintPdf(m), DeliverySpec { print_pdf: Some(s), .. }) => pdf(&mut r, s, m),
            (Measured::Epub(m), DeliverySpec { epub: Some(s), .. }) => epub(&mut r, s, m, &package.isbn),
            (Measured::Audio(m), DeliverySpec { audio: Some(s), .. }) => audio(&mut r, s, file, m),
            _ => {}
        }
        all.append(&mut r.out);
    }
    if let Some(s) = &spec.audio {
        audio_package(&mut all, s, package);
    }
    all
}

fn image(r: &mut Results, s: &ImageSpec, file: &FileMeasurements, m: &ImageMeasurements, isbn: &str) {
    r.readable(Check::ImageReadable);
    r.check(
        Check::ImageFormat,
        text(m.format),
        Limit::OneOf(s.formats.iter().map(|f| f.to_string()).collect()),
        Unit::None,
        None,
    );
    r.check(
        Check::ImageColourSpace,
        text(m.colour_space),
        Limit::OneOf(s.colour_spaces.iter().map(|c| c.to_string()).collect()),
        Unit::None,
        m.icc_colour_space.as_ref().map(|icc| format!("ICC profile: {}", icc.trim())),
    );
    let size = m.width_px.zip(m.height_px);
    let dims = size.map(|(w, h)| format!("{w} × {h} px"));
    if s.min_short_side_px > 0 {
        let short = size.map(|(w, h)| w.min(h));
        r.check(
            Check::ImageShortSide,
            num(short),
            Limit::AtLeast(s.min_short_side_px.into()),
            Unit::Px,
            dims.clone(),
        );
    }
    if s.min_long_side_px > 0 {
        let long = size.map(|(w, h)| w.max(h));
        r.check(
            Check::ImageLongSide,
            num(long),
            Limit::AtLeast(s.min_long_side_px.into()),
            Unit::Px,
            dims.clone(),
        );
    }
    if s.square {
        r.check(
            Check::ImageSquare,
            size.map_or(Value::Missing, |(w, h)| Value::Flag(w == h)),
            Limit::Is(true),
            Unit::None,
            dims,
        );
    }
    if s.max_file_bytes > 0 {
        r.check(
            Check::ImageFileSize,
            Value::Number(file.size_bytes as f64),
            Limit::AtMost(s.max_file_bytes as f64),
            Unit::Bytes,
            None,
        );
    }
    if let Some(pattern) = &s.file_stem {
        let stem = file.file_name.rsplit_once('.').map_or(file.file_name.as_str(), |(stem, _)| stem);
        let stem = stem.rsplit('/').next().unwrap_or(stem);
        r.check(
            Check::ImageFileName,
            Value::Text(stem.to_string()),
            Limit::Equals(pattern.replace(ISBN_PLACEHOLDER, isbn)),
            Unit::None,
            None,
        );
    }
}

fn pdf(r: &mut Results, s: &PrintPdfSpec, m: &PdfMeasurements) {
    r.readable(Check::PdfReadable);
    if !s.allow_encryption {
        r.check(
            Check::PdfEncryption,
            m.encrypted.map_or(Value::Missing, Value::Flag),
            Limit::Is(false),
            Unit::None,
            None,
        );
    }
    if !s.pdfx_versions.is_empty() {
        r.check(
            Check::PdfxVersion,
            text(m.pdfx_version.as_ref()),
            Limit::PrefixOf(s.pdfx_versions.clone()),
            Unit::None,
            None,
        );
    }
    if s.require_output_intent {
        let note = m.output_intent.as_ref().map(|id| format!("output condition {id:?}"));
        let measured =
            if m.pages.is_some() { Value::Flag(m.output_intent.is_some()) } else { Value::Missing };
        r.check(Check::PdfOutputIntent, measured, Limit::Is(true), Unit::None, note);
    }
    let read = m.pages.is_some();
    let count = |n: u32| if read { Value::Number(n.into()) } else { Value::Missing };
    if s.fonts_embedded {
        let note = (!m.fonts_not_embedded_names.is_empty()).then(|| {
            format!("of {} fonts; not embedded: {}", m.fonts, m.fonts_not_embedded_names.join(", "))
        });
        r.check(Check::PdfFontsEmbedded, count(m.fonts_not_embedded), Limit::AtMost(0.0), Unit::Count, note);
    }
    let pages = m.pages.map(|p| format!("pages without it, of {p}"));
    if s.trim_box {
        r.check(
            Check::PdfTrimBox,
            count(m.pages_without_trim_box),
            Limit::AtMost(0.0),
            Unit::Count,
            pages.clone(),
        );
    }
    if s.bleed_box {
        r.check(Check::PdfBleedBox, count(m.pages_without_bleed_box), Limit::AtMost(0.0), Unit::Count, pages);
    }
    if s.min_bleed_mm > 0.0 {
        let (bleed, page, sides) = match s.bleed_sides {
            BleedSides::All => (m.min_bleed_mm, m.min_bleed_page, "any side"),
            BleedSides::Outer => (m.min_outer_bleed_mm, m.min_outer_bleed_page, "top, bottom or fore-edge"),
        };
        let note = page.map(|p| format!("narrowest on {sides} of page {p}"));
        r.check(Check::PdfBleed, num(bleed), Limit::AtLeast(s.min_bleed_mm), Unit::Mm, note);
    }
    // Only where a placement could be read: a PDF without images has nothing to check.
    if s.min_image_ppi > 0.0 && m.images_measured > 0 {
        let note =
            m.min_image_ppi_page.map(|p| format!("lowest on page {p}, of {} images", m.images_measured));
        r.check(
            Check::PdfImageResolution,
            num(m.min_image_ppi),
            Limit::AtLeast(s.min_image_ppi),
            Unit::Ppi,
            note,
        );
    }
}

/// "3.0" -> 3.0, "2.0.1" -> 2.0, "3.10" -> 3.1 (minor over 10 stays below the next major).
pub fn version_number(v: &str) -> Option<f64> {
    let mut parts = v.trim().split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some(f64::from(major) + f64::from(minor.min(99)) / 100.0)
}

fn epub(r: &mut Results, s: &EpubSpec, m: &EpubMeasurements, isbn: &str) {
    r.readable(Check::EpubReadable);
    let mimetype_ok = m.first_entry.as_deref() == Some("mimetype")
        && m.mimetype_stored == Some(true)
        && m.mimetype_content.as_deref() == Some("application/epub+zip");
    let note = format!(
        "first entry {:?}, {}, content {:?}",
        m.first_entry.as_deref().unwrap_or("none"),
        match m.mimetype_stored {
            Some(true) => "stored",
            Some(false) => "compressed or with an extra field",
            None => "not read",
        },
        m.mimetype_content.as_deref().unwrap_or("none")
    );
    let read = m.first_entry.is_some();
    let flag = |b: bool| if read { Value::Flag(b) } else { Value::Missing };
    r.check(Check::EpubMimetype, flag(mimetype_ok), Limit::Is(true), Unit::None, Some(note));
    r.check(Check::EpubContainer, flag(m.container_xml), Limit::Is(true), Unit::None, None);
    r.check(
        Check::EpubPackageDocument,
        flag(m.package_document.is_some()),
        Limit::Is(true),
        Unit::None,
        m.package_document.clone(),
    );
    if let Some(min) = version_number(&s.min_version) {
        let v = m.version.as_deref().and_then(version_number);
        r.check(
            Check::EpubVersion,
            num(v),
            Limit::AtLeast(min),
            Unit::Version,
            m.version.as_ref().map(|v| format!("version=\"{v}\"")),
        );
    }
    if s.identifier_is_isbn {
        let normalised = m.identifier.as_deref().map(|raw| {
            let lower = raw.trim().to_ascii_lowercase();
            let bare =
                lower.strip_prefix("urn:isbn:").or_else(|| lower.strip_prefix("isbn:")).unwrap_or(&lower);
            Isbn13::parse(bare).map_or_else(|_| raw.trim().to_string(), |i| i.as_str().to_string())
        });
        let note = m.identifier.as_ref().map(|raw| format!("dc:identifier {raw:?}"));
        r.check(Check::EpubIdentifier, text(normalised), Limit::Equals(isbn.to_string()), Unit::None, note);
    }
    for property in &s.accessibility {
        let values = m.accessibility.iter().find(|(p, _)| p == property.as_str()).map(|(_, v)| v.as_slice());
        let present = values.is_some_and(|v| v.iter().any(|x| !x.trim().is_empty()));
        let check = match property {
            AccessibilityProperty::AccessMode => Check::EpubAccessMode,
            AccessibilityProperty::AccessibilityFeature => Check::EpubAccessibilityFeature,
            AccessibilityProperty::AccessibilityHazard => Check::EpubAccessibilityHazard,
            AccessibilityProperty::AccessibilitySummary => Check::EpubAccessibilitySummary,
        };
        let note = values
            .map(|v| v.join(", "))
            .filter(|s| !s.is_empty())
            .map(|v| format!("{}: {v}", property.as_str()));
        let measured = if m.package_document.is_some() { Value::Flag(present) } else { Value::Missing };
        r.check(
            check,
            measured,
            Limit::Is(true),
            Unit::None,
            note.or_else(|| Some(format!("{} in the package metadata", property.as_str()))),
        );
    }
    match (s.epubcheck, &m.epubcheck) {
        (EpubcheckUse::Off, _) | (EpubcheckUse::IfAvailable, None) => {}
        (_, Some(report)) => {
            let note = format!(
                "EPUBCheck {}: {} fatal, {} errors, {} warnings{}",
                report.version,
                report.fatals,
                report.errors,
                report.warnings,
                report.first_message.as_ref().map(|m| format!("; first: {m}")).unwrap_or_default()
            );
            r.check(
                Check::EpubCheck,
                Value::Number(f64::from(report.fatals + report.errors)),
                Limit::AtMost(0.0),
                Unit::Count,
                Some(note),
            );
        }
        (EpubcheckUse::Required, None) => {
            r.check(
                Check::EpubCheck,
                Value::Missing,
                Limit::AtMost(0.0),
                Unit::Count,
                Some("EPUBCheck did not run".into()),
            );
        }
    }
}

fn audio(r: &mut Results, s: &AudioSpec, file: &FileMeasurements, m: &AudioMeasurements) {
    r.readable(Check::AudioReadable);
    r.check(Check::AudioFormat, text(m.format.as_ref()), Limit::Equals("mp3".into()), Unit::None, None);
    let note = m.first_corrupt_byte.map(|b| format!("first at byte {b}, of {} frames", m.frames));
    let decoded = m.frames > 0;
    r.check(
        Check::AudioFramesIntact,
        if decoded || m.corrupt_frames > 0 { Value::Number(m.corrupt_frames as f64) } else { Value::Missing },
        Limit::AtMost(0.0),
        Unit::Count,
        note,
    );
    let rates = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    r.check(
        Check::AudioBitrate,
        num(m.bitrates_kbps.first().copied()),
        Limit::AtLeast(s.min_bitrate_kbps.into()),
        Unit::Kbps,
        (m.bitrates_kbps.len() > 1).then(|| format!("lowest of {} kb/s", rates(&m.bitrates_kbps))),
    );
    if s.require_cbr {
        let measured = if decoded { Value::Flag(m.bitrates_kbps.len() == 1) } else { Value::Missing };
        r.check(
            Check::AudioConstantBitrate,
            measured,
            Limit::Is(true),
            Unit::None,
            Some(format!("frame bit rates: {} kb/s", rates(&m.bitrates_kbps))),
        );
    }
    let measured =
        if m.sample_rates_hz.is_empty() { Value::Missing } else { Value::Text(rates(&m.sample_rates_hz)) };
    r.check(
        Check::AudioSampleRate,
        measured,
        Limit::OneOf(s.sample_rates_hz.iter().map(u32::to_string).collect()),
        Unit::None,
        Some("Hz".into()),
    );
    let between = |range: &Range| Limit::Between { min: range.min, max: range.max };
    r.check(Check::AudioRms, num(m.rms_db), between(&s.rms_db), Unit::Db, None);
    r.check(Check::AudioPeak, num(m.peak_db), Limit::AtMost(s.max_peak_db), Unit::Db, None);
    r.check(
        Check::AudioNoiseFloor,
        num(m.noise_floor_db),
        Limit::AtMost(s.max_noise_floor_db),
        Unit::Db,
        None,
    );
    let duration = decoded.then_some(m.duration_s);
    match file.purpose {
        Purpose::Main => {
            let threshold = Some(format!("sound above {} dB", m.sound_threshold_db));
            r.check(
                Check::AudioHeadRoomTone,
                num(m.head_room_tone_s),
                between(&s.head_room_tone_s),
                Unit::Seconds,
                threshold.clone(),
            );
            r.check(
                Check::AudioTailRoomTone,
                num(m.tail_room_tone_s),
                between(&s.tail_room_tone_s),
                Unit::Seconds,
                threshold,
            );
            r.check(
                Check::AudioDuration,
                num(duration.map(|d| d / 60.0)),
                Limit::AtMost(s.max_file_minutes),
                Unit::Minutes,
                None,
            );
        }
        Purpose::RetailSample => {
            r.check(
                Check::AudioRetailSampleDuration,
                num(duration),
                between(&s.retail_sample_s),
                Unit::Seconds,
                None,
            );
        }
    }
}

fn audio_package(all: &mut Vec<CheckResult>, s: &AudioSpec, package: &PackageMeasurements) {
    let audio: Vec<(&FileMeasurements, &AudioMeasurements)> = package
        .files
        .iter()
        .filter_map(|f| match &f.detail {
            Measured::Audio(m) => Some((f, m)),
            _ => None,
        })
        .collect();
    if audio.is_empty() {
        return;
    }
    let mut r = Results { out: Vec::new(), file: PACKAGE, problem: None };
    if s.same_channels {
        let label = |c: Option<u8>| match c {
            Some(1) => "mono",
            Some(2) => "stereo",
            _ => "unknown",
        };
        let mut seen: Vec<&str> = audio.iter().map(|(_, m)| label(m.channels)).collect();
        seen.sort_unstable();
        seen.dedup();
        let per_file =
            audio.iter().map(|(f, m)| format!("{} {}", f.file_name, label(m.channels))).collect::<Vec<_>>();
        r.check(
            Check::AudioChannels,
            Value::Text(seen.join(" and ")),
            Limit::OneOf(vec!["mono".into(), "stereo".into()]),
            Unit::None,
            Some(per_file.join(", ")),
        );
    }
    if s.require_retail_sample {
        let samples = audio.iter().filter(|(f, _)| f.purpose == Purpose::RetailSample).count();
        r.check(
            Check::AudioRetailSample,
            Value::Number(samples as f64),
            Limit::AtLeast(1.0),
            Unit::Count,
            Some("retail samples in the package".into()),
        );
    }
    all.append(&mut r.out);
}

#[cfg(test)]
mod tests;
