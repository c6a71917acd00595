//! Delivery checks on the real bytes (issue 18): reads a file as it streams past and says
//! what it is, as [`connector_core::delivery::FileMeasurements`]; `connector_core::delivery::
//! evaluate` then holds the figures against a recipient's spec.
//!
//! Memory stays bounded whatever the file's size or content:
//! - JPEG and PNG are walked marker by marker / chunk by chunk as the bytes arrive (headers
//!   read, entropy data and chunk bodies skipped), to their end marker: a truncated file fails.
//! - MP3 is read frame by frame (headers checked, lost sync counted) and each frame decoded
//!   (symphonia) into a level meter that keeps a few numbers per 50 ms block.
//! - PDF, EPUB and TIFF need random access: they are spooled to a temporary file (at most
//!   [`Options::max_spool_bytes`]) and read from there (PDF objects lazily through a memory
//!   map, the EPUB's entries through bounded readers with zip-bomb guards).
//!
//! Two entry points: [`measure`] over any `Read`, and [`tee`] over a stream of `Bytes` chunks
//! (the packages code's seam: the same chunks go on to `Staging::put_stream` untouched while a
//! blocking task measures them).

mod audio;
mod epub;
mod image;
mod pdf;
mod spool;
mod stream;

pub use audio::levels::{LevelMeter, Levels};
pub use epub::find_epubcheck;
pub use stream::{Meter, tee};

use connector_core::delivery::{FileMeasurements, Measured, Purpose};
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

/// Which checker reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// JPEG, PNG or TIFF (told apart by their first bytes).
    Image,
    PrintPdf,
    Epub,
    /// MP3.
    Audio,
}

impl FileKind {
    /// From a MIME type; `None` for files no checker reads.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let mime = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "image/jpeg" | "image/jpg" | "image/png" | "image/tiff" => Some(FileKind::Image),
            "application/pdf" => Some(FileKind::PrintPdf),
            "application/epub+zip" => Some(FileKind::Epub),
            "audio/mpeg" | "audio/mp3" => Some(FileKind::Audio),
            _ => None,
        }
    }
}

/// Bounds on what a check may read or hold, and the measuring parameters. Memory stays within
/// a few MB whatever these say; the spool needs disk: in Lambda, `/tmp` (512 MB unless the
/// function's ephemeral storage is raised, up to 10 GB) must hold the largest PDF, EPUB or TIFF.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest PDF, EPUB or TIFF spooled for reading; a larger one fails `readable`.
    pub max_spool_bytes: u64,
    /// Where spools go (the system's temp dir by default).
    pub spool_dir: Option<PathBuf>,
    /// Zip-bomb guards for EPUBs: entries, one entry's declared size, all entries' declared
    /// size, and the compression ratio of any entry.
    pub zip_max_entries: u64,
    pub zip_max_entry_bytes: u64,
    pub zip_max_total_bytes: u64,
    pub zip_max_ratio: u64,
    /// Largest XML document (container.xml, the package document) read from an EPUB.
    pub xml_max_bytes: u64,
    /// Largest decoded PDF stream read (page contents, forms, XMP metadata).
    pub pdf_max_stream_bytes: u64,
    pub pdf_max_pages: u32,
    /// EPUBCheck to run on EPUBs ([`find_epubcheck`] finds Debian's `epubcheck`); `None`: not run.
    pub epubcheck: Option<PathBuf>,
    pub epubcheck_timeout: Duration,
    /// Audio: a 50 ms block above this RMS level (dBFS) is sound, not room tone.
    pub sound_threshold_db: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_spool_bytes: 4 << 30,
            spool_dir: None,
            zip_max_entries: 10_000,
            zip_max_entry_bytes: 512 << 20,
            zip_max_total_bytes: 2 << 30,
            // Text and markup deflate to 3-10:1; deflate's ceiling is about 1032:1.
            zip_max_ratio: 100,
            xml_max_bytes: 8 << 20,
            pdf_max_stream_bytes: 16 << 20,
            pdf_max_pages: 100_000,
            epubcheck: None,
            epubcheck_timeout: Duration::from_secs(300),
            sound_threshold_db: -40.0,
        }
    }
}

/// Counts the bytes read through it (the file's size, whatever the checker stops at).
pub(crate) struct Counting<R> {
    inner: R,
    pub(crate) count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads `reader` to its end and measures it as a `kind` file. Never panics and never fails:
/// what stopped the reading is the measurement's `problem`. The reader is drained even when
/// the checker has seen enough, so `size_bytes` is the file's size.
pub fn measure(kind: FileKind, file_name: &str, reader: impl Read, options: &Options) -> FileMeasurements {
    let mut input = Counting { inner: reader, count: 0 };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match kind {
        FileKind::Image => {
            let (m, problem) = image::measure(&mut input, options);
            (Measured::Image(m), problem)
        }
        FileKind::PrintPdf => {
            let (m, problem) = pdf::measure(&mut input, options);
            (Measured::PrintPdf(m), problem)
        }
        FileKind::Epub => {
            let (m, problem) = epub::measure(&mut input, options);
            (Measured::Epub(m), problem)
        }
        FileKind::Audio => {
            let (m, problem) = audio::measure(&mut input, options);
            (Measured::Audio(m), problem)
        }
    }));
    let (detail, mut problem) = outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        (empty(kind), Some(format!("the checker failed on this file: {what}")))
    });
    // The rest of the bytes (after an end marker, or after a failure): counted, not kept.
    if let Err(e) = io::copy(&mut input, &mut io::sink())
        && problem.is_none()
    {
        problem = Some(format!("read error: {e}"));
    }
    FileMeasurements {
        file_name: file_name.to_string(),
        size_bytes: input.count,
        purpose: Purpose::Main,
        problem,
        detail,
    }
}

pub(crate) fn empty(kind: FileKind) -> Measured {
    match kind {
        FileKind::Image => Measured::Image(Default::default()),
        FileKind::PrintPdf => Measured::PrintPdf(Default::default()),
        FileKind::Epub => Measured::Epub(Default::default()),
        FileKind::Audio => Measured::Audio(Default::default()),
    }
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Chunk size of the push parsers' reads.
pub(crate) const CHUNK: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_mime_types() {
        assert_eq!(FileKind::from_mime("image/jpeg"), Some(FileKind::Image));
        assert_eq!(FileKind::from_mime("Image/TIFF"), Some(FileKind::Image));
        assert_eq!(FileKind::from_mime("application/pdf"), Some(FileKind::PrintPdf));
        assert_eq!(FileKind::from_mime("application/epub+zip; charset=binary"), Some(FileKind::Epub));
        assert_eq!(FileKind::from_mime("audio/mpeg"), Some(FileKind::Audio));
        assert_eq!(FileKind::from_mime("video/mp4"), None);
    }

    #[test]
    fn a_failing_reader_is_a_problem_not_a_panic() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        for kind in [FileKind::Image, FileKind::PrintPdf, FileKind::Epub, FileKind::Audio] {
            let m = measure(kind, "f", Failing, &Options::default());
            assert!(
                m.problem.as_deref().is_some_and(|p| p.contains("disk on fire")),
                "{kind:?}: {:?}",
                m.problem
            );
        }
    }
}
