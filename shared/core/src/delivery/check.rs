//! The checks' stable names (they go into manifests and audit records).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which check a result is for (stable names: they go into manifests and audit records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Check {
    #[serde(rename = "image.readable")]
    ImageReadable,
    #[serde(rename = "image.format")]
    ImageFormat,
    #[serde(rename = "image.colour_space")]
    ImageColourSpace,
    #[serde(rename = "image.short_side")]
    ImageShortSide,
    #[serde(rename = "image.long_side")]
    ImageLongSide,
    #[serde(rename = "image.square")]
    ImageSquare,
    #[serde(rename = "image.file_size")]
    ImageFileSize,
    #[serde(rename = "image.file_name")]
    ImageFileName,
    #[serde(rename = "pdf.readable")]
    PdfReadable,
    #[serde(rename = "pdf.encryption")]
    PdfEncryption,
    #[serde(rename = "pdf.pdfx_version")]
    PdfxVersion,
    #[serde(rename = "pdf.output_intent")]
    PdfOutputIntent,
    #[serde(rename = "pdf.fonts_embedded")]
    PdfFontsEmbedded,
    #[serde(rename = "pdf.trim_box")]
    PdfTrimBox,
    #[serde(rename = "pdf.bleed_box")]
    PdfBleedBox,
    #[serde(rename = "pdf.bleed")]
    PdfBleed,
    #[serde(rename = "pdf.image_resolution")]
    PdfImageResolution,
    #[serde(rename = "epub.readable")]
    EpubReadable,
    #[serde(rename = "epub.mimetype")]
    EpubMimetype,
    #[serde(rename = "epub.container")]
    EpubContainer,
    #[serde(rename = "epub.package_document")]
    EpubPackageDocument,
    #[serde(rename = "epub.version")]
    EpubVersion,
    #[serde(rename = "epub.identifier")]
    EpubIdentifier,
    #[serde(rename = "epub.access_mode")]
    EpubAccessMode,
    #[serde(rename = "epub.accessibility_feature")]
    EpubAccessibilityFeature,
    #[serde(rename = "epub.accessibility_hazard")]
    EpubAccessibilityHazard,
    #[serde(rename = "epub.accessibility_summary")]
    EpubAccessibilitySummary,
    #[serde(rename = "epub.epubcheck")]
    EpubCheck,
    #[serde(rename = "audio.readable")]
    AudioReadable,
    #[serde(rename = "audio.format")]
    AudioFormat,
    #[serde(rename = "audio.frames_intact")]
    AudioFramesIntact,
    #[serde(rename = "audio.bitrate")]
    AudioBitrate,
    #[serde(rename = "audio.constant_bitrate")]
    AudioConstantBitrate,
    #[serde(rename = "audio.sample_rate")]
    AudioSampleRate,
    #[serde(rename = "audio.rms")]
    AudioRms,
    #[serde(rename = "audio.peak")]
    AudioPeak,
    #[serde(rename = "audio.noise_floor")]
    AudioNoiseFloor,
    #[serde(rename = "audio.head_room_tone")]
    AudioHeadRoomTone,
    #[serde(rename = "audio.tail_room_tone")]
    AudioTailRoomTone,
    #[serde(rename = "audio.duration")]
    AudioDuration,
    #[serde(rename = "audio.retail_sample_duration")]
    AudioRetailSampleDuration,
    #[serde(rename = "audio.channels")]
    AudioChannels,
    #[serde(rename = "audio.retail_sample")]
    AudioRetailSample,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The serde name: one spelling everywhere.
        let name = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string));
        f.write_str(name.as_deref().unwrap_or("?"))
    }
}
