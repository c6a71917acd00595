//! A temporary file holding a stream for the formats that need random access (PDF, EPUB,
//! TIFF). Written in 64 KiB steps, so memory stays flat; the file is deleted when dropped.

use crate::Options;
use std::io::{self, Read};
use tempfile::NamedTempFile;

pub(crate) struct Spool {
    pub(crate) file: NamedTempFile,
    pub(crate) len: u64,
}

/// Copies `input` into a new spool, up to `options.max_spool_bytes`. `Err` is the problem
/// text (too large, a read error, no space).
pub(crate) fn spool(input: &mut impl Read, options: &Options) -> Result<Spool, String> {
    spool_as(input, options, "")
}

/// The same, with a file name ending (EPUBCheck reads only files named `*.epub`).
pub(crate) fn spool_as(input: &mut impl Read, options: &Options, suffix: &str) -> Result<Spool, String> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("delivery-").suffix(suffix);
    let file = match &options.spool_dir {
        Some(dir) => builder.tempfile_in(dir),
        None => builder.tempfile(),
    }
    .map_err(|e| format!("could not create a spool file: {e}"))?;
    let mut out = io::BufWriter::with_capacity(crate::CHUNK, file);
    let limit = options.max_spool_bytes;
    let copied = io::copy(&mut input.take(limit + 1), &mut out).map_err(|e| format!("read error: {e}"))?;
    if copied > limit {
        return Err(format!("larger than the {limit} bytes the check spools"));
    }
    let file = out.into_inner().map_err(|e| format!("could not write the spool file: {}", e.error()))?;
    Ok(Spool { file, len: copied })
}

impl Spool {
    pub(crate) fn reopen(&self) -> io::Result<std::fs::File> {
        self.file.reopen()
    }
}
