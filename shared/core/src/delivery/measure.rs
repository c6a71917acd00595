//! What the checkers (crate `delivery`) read off a file's bytes: plain data, no judgement.
//! A field is `None` when the file did not get far enough to show it; `problem` then says
//! what stopped the reading. Stored in the manifest as the evidence behind a verdict.

use super::spec::{ColourSpace, ImageFormat};
use serde::{Deserialize, Serialize};

/// What one file is for in its package, where it matters to the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    #[default]
    Main,
    /// The audiobook's retail sample (its length is checked against the sample's range, not
    /// the per-file maximum).
    RetailSample,
}

/// One file's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeasurements {
    pub file_name: String,
    pub size_bytes: u64,
    #[serde(default)]
    pub purpose: Purpose,
    /// What stopped the reading (truncated, not a PDF, a zip bomb, a corrupt frame): the file
    /// fails its `readable` check with this text.
    pub problem: Option<String>,
    pub detail: Measured,
}

/// The kind-specific part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measured {
    Image(ImageMeasurements),
    PrintPdf(PdfMeasurements),
    Epub(EpubMeasurements),
    Audio(AudioMeasurements),
}

/// The files of one package (one product for one recipient).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageMeasurements {
    /// The product's ISBN-13 (file names and the EPUB identifier are compared with it).
    pub isbn: String,
    pub files: Vec<FileMeasurements>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageMeasurements {
    pub format: Option<ImageFormat>,
    pub width_px: Option<u32>,
    pub height_px: Option<u32>,
    pub colour_space: Option<ColourSpace>,
    pub bits_per_component: Option<u8>,
    /// Colour space named by an embedded ICC profile ("RGB ", "CMYK", "GRAY" in the profile
    /// header), if any.
    pub icc_colour_space: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PdfMeasurements {
    /// From the header (`%PDF-1.6` gives "1.6").
    pub version: Option<String>,
    /// `GTS_PDFXVersion` from the document information dictionary or the XMP metadata.
    pub pdfx_version: Option<String>,
    /// `OutputConditionIdentifier` of the catalog's `GTS_PDFX` output intent.
    pub output_intent: Option<String>,
    pub encrypted: Option<bool>,
    pub pages: Option<u32>,
    /// Fonts seen on the pages (and the forms they draw), and those without a font file.
    pub fonts: u32,
    pub fonts_not_embedded: u32,
    /// The first few of them, by base font name.
    pub fonts_not_embedded_names: Vec<String>,
    pub pages_without_trim_box: u32,
    pub pages_without_bleed_box: u32,
    /// Narrowest bleed on any side of any page with both boxes, mm, and its (1-based) page.
    pub min_bleed_mm: Option<f64>,
    pub min_bleed_page: Option<u32>,
    /// The same over the top, bottom and fore-edge only (interiors bleed nowhere else).
    pub min_outer_bleed_mm: Option<f64>,
    pub min_outer_bleed_page: Option<u32>,
    /// Lowest effective resolution of a placed image (pixels over the size it is drawn at).
    pub min_image_ppi: Option<f64>,
    pub min_image_ppi_page: Option<u32>,
    /// Images whose placement was read.
    pub images_measured: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EpubMeasurements {
    /// Name of the archive's first entry (OCF: `mimetype`).
    pub first_entry: Option<String>,
    /// The `mimetype` entry is stored (not compressed) with no extra field.
    pub mimetype_stored: Option<bool>,
    pub mimetype_content: Option<String>,
    pub container_xml: bool,
    /// Full path of the package document named by `META-INF/container.xml`, once read.
    pub package_document: Option<String>,
    /// The package's `version` attribute.
    pub version: Option<String>,
    /// The `dc:identifier` the package's `unique-identifier` names.
    pub identifier: Option<String>,
    /// Accessibility metadata, by property (`schema:accessMode` ...): the values found.
    pub accessibility: Vec<(String, Vec<String>)>,
    /// EPUBCheck's findings, when it ran.
    pub epubcheck: Option<EpubcheckReport>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EpubcheckReport {
    pub version: String,
    pub fatals: u32,
    pub errors: u32,
    pub warnings: u32,
    /// The first fatal or error message.
    pub first_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AudioMeasurements {
    /// "mp3" (MPEG-1 Layer III), "mpeg-2 layer iii", ...; `None`: no frame found.
    pub format: Option<String>,
    /// Distinct frame bit rates (kb/s), ascending; one value means constant bit rate.
    pub bitrates_kbps: Vec<u32>,
    pub sample_rates_hz: Vec<u32>,
    /// 1 or 2; `None` when frames disagree or none was read.
    pub channels: Option<u8>,
    pub frames: u64,
    /// Frames lost to bad headers or undecodable data, and where the first one starts.
    pub corrupt_frames: u64,
    pub first_corrupt_byte: Option<u64>,
    pub duration_s: f64,
    /// dBFS (a full-scale sine reads -3.01); `None`: nothing decoded.
    pub rms_db: Option<f64>,
    pub peak_db: Option<f64>,
    pub noise_floor_db: Option<f64>,
    pub head_room_tone_s: Option<f64>,
    pub tail_room_tone_s: Option<f64>,
    /// Level (dBFS, 50 ms blocks) above which the meter counts sound rather than room tone.
    pub sound_threshold_db: f64,
}
