//! What a recipient (a printer, an ebook vendor, an audiobook retailer) accepts: one section
//! per kind of file. Every section's `Default` is the default for that kind (the
//! common retailer / ACX figures), so a config names only what differs; every key is checked
//! (`deny_unknown_fields`), so a typo is an error at start, not a silently looser check.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One recipient's spec. A section left out is not checked for that recipient (a printer
/// says nothing about audio).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySpec {
    /// Covers and other images.
    pub images: Option<ImageSpec>,
    /// Print-ready PDFs (interior and cover).
    pub print_pdf: Option<PrintPdfSpec>,
    pub epub: Option<EpubSpec>,
    pub audio: Option<AudioSpec>,
}

/// The named presets a config can start from.
pub const PRESETS: [&str; 3] = ["ebook_retailer", "audiobook_retailer", "printer"];

impl DeliverySpec {
    /// An ebook vendor: EPUB 3 with accessibility metadata and an RGB cover of at least
    /// 1,600 × 2,560 px named by ISBN.
    pub fn ebook_retailer() -> Self {
        DeliverySpec {
            images: Some(ImageSpec { file_stem: Some(ISBN_PLACEHOLDER.into()), ..ImageSpec::default() }),
            epub: Some(EpubSpec::default()),
            ..DeliverySpec::default()
        }
    }

    /// An audiobook retailer (ACX's published requirements): MP3 chapters and a retail
    /// sample, and a square cover of at least 2,400 × 2,400 px.
    pub fn audiobook_retailer() -> Self {
        DeliverySpec {
            images: Some(ImageSpec::audiobook_cover()),
            audio: Some(AudioSpec::default()),
            ..DeliverySpec::default()
        }
    }

    /// A printer: PDF/X with embedded fonts, trim and bleed boxes and 3 mm of bleed; cover
    /// images in CMYK or RGB.
    pub fn printer() -> Self {
        DeliverySpec {
            images: Some(ImageSpec {
                formats: vec![ImageFormat::Tiff, ImageFormat::Jpeg],
                colour_spaces: vec![ColourSpace::Cmyk, ColourSpace::Rgb],
                min_short_side_px: 0,
                min_long_side_px: 0,
                ..ImageSpec::default()
            }),
            print_pdf: Some(PrintPdfSpec::default()),
            ..DeliverySpec::default()
        }
    }

    /// A preset by its name in [`PRESETS`].
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "ebook_retailer" => Some(Self::ebook_retailer()),
            "audiobook_retailer" => Some(Self::audiobook_retailer()),
            "printer" => Some(Self::printer()),
            _ => None,
        }
    }
}

/// Stands for the product's ISBN-13 in [`ImageSpec::file_stem`].
pub const ISBN_PLACEHOLDER: &str = "{isbn}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Tiff,
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Tiff => "tiff",
        })
    }
}

/// How the pixels are coded. Palette PNGs count as RGB; JPEG YCbCr as RGB and YCCK as CMYK
/// (what a viewer turns them into).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourSpace {
    Rgb,
    Cmyk,
    Grey,
    Lab,
    Other,
}

impl fmt::Display for ColourSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColourSpace::Rgb => "rgb",
            ColourSpace::Cmyk => "cmyk",
            ColourSpace::Grey => "grey",
            ColourSpace::Lab => "lab",
            ColourSpace::Other => "other",
        })
    }
}

/// Covers and images. Defaults: an ebook retailer's cover (JPEG, PNG or TIFF; RGB; at least
/// 1,600 px on the short side and 2,560 px on the long side; at most 50 MB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageSpec {
    pub formats: Vec<ImageFormat>,
    pub colour_spaces: Vec<ColourSpace>,
    /// 0: no minimum.
    pub min_short_side_px: u32,
    pub min_long_side_px: u32,
    /// Width equal to height (audiobook covers).
    pub square: bool,
    /// 50 MB is 50,000,000 bytes (the retailers' MB is decimal).
    pub max_file_bytes: u64,
    /// The file name without its extension, `{isbn}` standing for the ISBN-13
    /// (`"{isbn}"`, `"{isbn}_cover"`); `None`: any name.
    pub file_stem: Option<String>,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            formats: vec![ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Tiff],
            colour_spaces: vec![ColourSpace::Rgb],
            min_short_side_px: 1600,
            min_long_side_px: 2560,
            square: false,
            max_file_bytes: 50_000_000,
            file_stem: None,
        }
    }
}

impl ImageSpec {
    /// ACX: JPEG, RGB, square, at least 2,400 × 2,400 px.
    pub fn audiobook_cover() -> Self {
        ImageSpec {
            formats: vec![ImageFormat::Jpeg],
            colour_spaces: vec![ColourSpace::Rgb],
            min_short_side_px: 2400,
            min_long_side_px: 2400,
            square: true,
            ..ImageSpec::default()
        }
    }
}

/// Print-ready PDFs. Defaults: PDF/X-1a, X-3 or X-4 declared with an output intent, every
/// font embedded, TrimBox and BleedBox on every page with at least 3 mm of bleed, no
/// encryption, images at 300 ppi or more where their placement can be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrintPdfSpec {
    /// Accepted `GTS_PDFXVersion` values, by prefix (`"PDF/X-4"` takes `"PDF/X-4p"`);
    /// empty: PDF/X is not required.
    pub pdfx_versions: Vec<String>,
    /// A `GTS_PDFX` output intent in the catalog.
    pub require_output_intent: bool,
    pub fonts_embedded: bool,
    pub trim_box: bool,
    pub bleed_box: bool,
    /// Bleed (BleedBox beyond TrimBox) on the [`Self::bleed_sides`] of every page; 0: not checked.
    pub min_bleed_mm: f64,
    pub bleed_sides: BleedSides,
    pub allow_encryption: bool,
    /// Lowest effective resolution of a placed image; 0: not checked.
    pub min_image_ppi: f64,
}

impl Default for PrintPdfSpec {
    fn default() -> Self {
        PrintPdfSpec {
            pdfx_versions: vec!["PDF/X-1a".into(), "PDF/X-3".into(), "PDF/X-4".into()],
            require_output_intent: true,
            fonts_embedded: true,
            trim_box: true,
            bleed_box: true,
            min_bleed_mm: 3.0,
            bleed_sides: BleedSides::All,
            allow_encryption: false,
            min_image_ppi: 300.0,
        }
    }
}

/// Where bleed is needed. A cover bleeds on all four sides; a book interior on the top, the
/// bottom and the fore-edge only (no bleed into the binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BleedSides {
    #[default]
    All,
    /// Top, bottom and fore-edge: the right edge of odd (recto) pages, the left of even ones.
    Outer,
}

/// When to run EPUBCheck (a Java program; the connector runs it when it finds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpubcheckUse {
    Off,
    /// Run it where it is installed; no result where it is not.
    #[default]
    IfAvailable,
    /// A missing EPUBCheck fails the check.
    Required,
}

/// The accessibility metadata the EU Accessibility Act expects in an EPUB's package document
/// (schema.org properties, EPUB Accessibility 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AccessibilityProperty {
    #[serde(rename = "schema:accessMode")]
    AccessMode,
    #[serde(rename = "schema:accessibilityFeature")]
    AccessibilityFeature,
    #[serde(rename = "schema:accessibilityHazard")]
    AccessibilityHazard,
    #[serde(rename = "schema:accessibilitySummary")]
    AccessibilitySummary,
}

impl AccessibilityProperty {
    pub const ALL: [AccessibilityProperty; 4] = [
        AccessibilityProperty::AccessMode,
        AccessibilityProperty::AccessibilityFeature,
        AccessibilityProperty::AccessibilityHazard,
        AccessibilityProperty::AccessibilitySummary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessibilityProperty::AccessMode => "schema:accessMode",
            AccessibilityProperty::AccessibilityFeature => "schema:accessibilityFeature",
            AccessibilityProperty::AccessibilityHazard => "schema:accessibilityHazard",
            AccessibilityProperty::AccessibilitySummary => "schema:accessibilitySummary",
        }
    }
}

/// EPUBs. Defaults: EPUB 3, the package's unique identifier is the product's ISBN, the four
/// schema.org accessibility properties present, EPUBCheck where it is installed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EpubSpec {
    /// Lowest accepted package `version` ("3.0"; "2.0" also takes EPUB 2).
    pub min_version: String,
    pub identifier_is_isbn: bool,
    pub accessibility: Vec<AccessibilityProperty>,
    pub epubcheck: EpubcheckUse,
}

impl Default for EpubSpec {
    fn default() -> Self {
        EpubSpec {
            min_version: "3.0".into(),
            identifier_is_isbn: true,
            accessibility: AccessibilityProperty::ALL.to_vec(),
            epubcheck: EpubcheckUse::IfAvailable,
        }
    }
}

/// An inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// Audiobook files. Defaults: ACX's requirements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSpec {
    pub min_bitrate_kbps: u32,
    /// Constant bit rate: every frame at the same bit rate.
    pub require_cbr: bool,
    pub sample_rates_hz: Vec<u32>,
    /// All files mono or all stereo.
    pub same_channels: bool,
    /// RMS level of the whole file, dBFS.
    pub rms_db: Range,
    /// Highest sample, dBFS.
    pub max_peak_db: f64,
    /// RMS of the quietest half second, dBFS.
    pub max_noise_floor_db: f64,
    /// Room tone before the first sound, seconds.
    pub head_room_tone_s: Range,
    /// Room tone after the last sound, seconds.
    pub tail_room_tone_s: Range,
    /// Longest file (not the retail sample), minutes.
    pub max_file_minutes: f64,
    /// The package has a retail sample of this length, seconds.
    pub require_retail_sample: bool,
    pub retail_sample_s: Range,
}

impl Default for AudioSpec {
    fn default() -> Self {
        AudioSpec {
            min_bitrate_kbps: 192,
            require_cbr: true,
            sample_rates_hz: vec![44_100],
            same_channels: true,
            rms_db: Range { min: -23.0, max: -18.0 },
            max_peak_db: -3.0,
            max_noise_floor_db: -60.0,
            head_room_tone_s: Range { min: 0.5, max: 1.0 },
            tail_room_tone_s: Range { min: 1.0, max: 5.0 },
            max_file_minutes: 120.0,
            require_retail_sample: true,
            retail_sample_s: Range { min: 60.0, max: 300.0 },
        }
    }
}
