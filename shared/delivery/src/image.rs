//! Covers and images: format, pixel size and colour space from the headers, and whether the
//! file is complete.
//!
//! JPEG and PNG are walked by small push parsers of our own as the chunks arrive: the facts
//! needed sit in a few header segments (SOFn, the ICC profile's header; PNG's
//! IHDR), and completeness is a walk to the end marker (JPEG's EOI past the entropy-coded data,
//! PNG's IEND with every chunk's CRC checked). No pixel is decoded, so a 50 MB cover costs a
//! few kilobytes of memory. The decoding crates (`zune-jpeg`, `jpeg-decoder`, `png`) either
//! need the whole file in memory or decode every pixel to tell a complete file from a
//! truncated one. TIFF keeps its directory anywhere in the file: it is spooled and read with
//! the `tiff` crate (tags only, no decompression features).

use crate::spool::spool;
use crate::{CHUNK, Options, read_full};
use connector_core::delivery::{ColourSpace, ImageFormat, ImageMeasurements};
use std::io::{self, Read};

pub(crate) fn measure(input: &mut impl Read, options: &Options) -> (ImageMeasurements, Option<String>) {
    let mut first = vec![0u8; CHUNK];
    let n = match read_full(input, &mut first) {
        Ok(n) => n,
        Err(e) => return (ImageMeasurements::default(), Some(format!("read error: {e}"))),
    };
    first.truncate(n);
    match sniff(&first) {
        Some(ImageFormat::Jpeg) => push(Jpeg::default(), &first, input),
        Some(ImageFormat::Png) => push(Png::default(), &first, input),
        Some(ImageFormat::Tiff) => tiff(&mut io::Cursor::new(first).chain(input), options),
        None => {
            let head: Vec<String> = first.iter().take(8).map(|b| format!("{b:02x}")).collect();
            (
                ImageMeasurements::default(),
                Some(format!("not a JPEG, PNG or TIFF image (first bytes {})", head.join(" "))),
            )
        }
    }
}

fn sniff(head: &[u8]) -> Option<ImageFormat> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"].iter().any(|m| head.starts_with(*m)) {
        Some(ImageFormat::Tiff)
    } else {
        None
    }
}

/// A parser fed the file's bytes in order.
trait Walker {
    fn feed(&mut self, data: &[u8]) -> Result<(), String>;
    /// At the end of the input: the measurements, and the problem if the walk did not end.
    fn finish(self) -> (ImageMeasurements, Option<String>);
}

fn push<W: Walker>(mut w: W, first: &[u8], input: &mut impl Read) -> (ImageMeasurements, Option<String>) {
    let fail = |w: W, e: String| {
        let (m, _) = w.finish();
        (m, Some(e))
    };
    if let Err(e) = w.feed(first) {
        return fail(w, e);
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return w.finish(),
            Ok(n) => {
                if let Err(e) = w.feed(&buf[..n]) {
                    return fail(w, e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return fail(w, format!("read error: {e}")),
        }
    }
}

#[derive(Default, Clone, Copy, PartialEq)]
enum JpegState {
    #[default]
    Soi,
    MarkerFf,
    MarkerCode,
    Length,
    Segment,
    Entropy,
    EntropyFf,
    Done,
}

/// JPEG marker walker.
#[derive(Default)]
struct Jpeg {
    state: JpegState,
    /// Bytes consumed so far (for the problem text).
    offset: u64,
    soi_seen: u8,
    marker: u8,
    len: [u8; 2],
    len_have: u8,
    remaining: usize,
    /// The first bytes of the segment being read (kept for SOFn and the ICC profile's APP2).
    captured: Vec<u8>,
    frame: Option<(u32, u32, u8, u8)>,
    icc: Option<String>,
}

const CAPTURE: usize = 64;

fn is_sof(m: u8) -> bool {
    matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC)
}

impl Jpeg {
    fn marker_code(&mut self, code: u8) -> Result<(), String> {
        match code {
            0xFF => self.state = JpegState::MarkerCode,
            0xD9 => self.state = JpegState::Done,
            0x01 | 0xD0..=0xD7 => self.state = JpegState::MarkerFf,
            0xD8 | 0x00 => return Err(format!("unexpected marker 0xff{code:02x} at byte {}", self.offset)),
            _ => {
                self.marker = code;
                self.len_have = 0;
                self.state = JpegState::Length;
            }
        }
        Ok(())
    }

    fn segment_done(&mut self) {
        let d = &self.captured;
        match self.marker {
            m if is_sof(m) && d.len() >= 6 => {
                let height = u32::from(u16::from_be_bytes([d[1], d[2]]));
                let width = u32::from(u16::from_be_bytes([d[3], d[4]]));
                self.frame = Some((width, height, d[5], d[0]));
            }
            0xE2 if d.len() >= 34 && d.starts_with(b"ICC_PROFILE\0") && d[12] == 1 => {
                self.icc = Some(String::from_utf8_lossy(&d[30..34]).into_owned());
            }
            _ => {}
        }
        self.state = if self.marker == 0xDA { JpegState::Entropy } else { JpegState::MarkerFf };
    }
}

impl Walker for Jpeg {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            match self.state {
                JpegState::Soi => {
                    let expected = [0xFF, 0xD8][self.soi_seen as usize];
                    if data[0] != expected {
                        return Err("not a JPEG: no start-of-image marker".into());
                    }
                    self.soi_seen += 1;
                    if self.soi_seen == 2 {
                        self.state = JpegState::MarkerFf;
                    }
                }
                JpegState::MarkerFf => {
                    if data[0] != 0xFF {
                        return Err(format!(
                            "expected a marker at byte {}, found 0x{:02x}",
                            self.offset, data[0]
                        ));
                    }
                    self.state = JpegState::MarkerCode;
                }
                JpegState::MarkerCode => self.marker_code(data[0])?,
                JpegState::Length => {
                    self.len[self.len_have as usize] = data[0];
                    self.len_have += 1;
                    if self.len_have == 2 {
                        let len = u16::from_be_bytes(self.len) as usize;
                        if len < 2 {
                            return Err(format!("segment length {len} at byte {}", self.offset));
                        }
                        self.remaining = len - 2;
                        self.captured.clear();
                        self.state = JpegState::Segment;
                        if self.remaining == 0 {
                            self.segment_done();
                        }
                    }
                }
                JpegState::Segment => {
                    let n = self.remaining.min(data.len());
                    let room = CAPTURE.saturating_sub(self.captured.len()).min(n);
                    self.captured.extend_from_slice(&data[..room]);
                    self.remaining -= n;
                    self.offset += n as u64;
                    data = &data[n..];
                    if self.remaining == 0 {
                        self.segment_done();
                    }
                    continue;
                }
                JpegState::Entropy => match memchr::memchr(0xFF, data) {
                    Some(i) => {
                        self.offset += i as u64;
                        data = &data[i..];
                        self.state = JpegState::EntropyFf;
                    }
                    None => {
                        self.offset += data.len() as u64;
                        return Ok(());
                    }
                },
                JpegState::EntropyFf => match data[0] {
                    0x00 | 0xD0..=0xD7 => self.state = JpegState::Entropy,
                    0xFF => {}
                    code => self.marker_code(code)?,
                },
                // Bytes after EOI (some writers pad) do not matter.
                JpegState::Done => return Ok(()),
            }
            self.offset += 1;
            data = &data[1..];
        }
        Ok(())
    }

    fn finish(self) -> (ImageMeasurements, Option<String>) {
        let mut m = ImageMeasurements {
            format: Some(ImageFormat::Jpeg),
            icc_colour_space: self.icc,
            ..Default::default()
        };
        if let Some((w, h, components, precision)) = self.frame {
            m.width_px = Some(w).filter(|w| *w > 0);
            // Height 0 means a DNL marker gives it later; rare enough to report as unread.
            m.height_px = Some(h).filter(|h| *h > 0);
            m.bits_per_component = Some(precision);
            m.colour_space = Some(match components {
                1 => ColourSpace::Grey,
                3 => ColourSpace::Rgb,
                // Four components: CMYK, or YCCK (Adobe APP14 transform 2), which is CMYK too.
                4 => ColourSpace::Cmyk,
                _ => ColourSpace::Other,
            });
        }
        let problem = if self.state != JpegState::Done {
            Some(format!("truncated: the data ends at byte {} before the end-of-image marker", self.offset))
        } else if self.frame.is_none() {
            Some("no frame header (SOF marker) before the end-of-image marker".into())
        } else {
            None
        };
        (m, problem)
    }
}

#[derive(Default, Clone, Copy, PartialEq)]
enum PngState {
    #[default]
    Signature,
    Head,
    Data,
    Crc,
    Done,
}

/// PNG chunk walker.
#[derive(Default)]
struct Png {
    state: PngState,
    offset: u64,
    have: usize,
    head: [u8; 8],
    crc: [u8; 4],
    remaining: u64,
    hasher: crc32fast::Hasher,
    chunks: u64,
    ihdr: Vec<u8>,
}

impl Png {
    fn chunk_type(&self) -> [u8; 4] {
        [self.head[4], self.head[5], self.head[6], self.head[7]]
    }
}

impl Walker for Png {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            match self.state {
                PngState::Signature => {
                    let n = (8 - self.have).min(data.len());
                    self.have += n;
                    self.offset += n as u64;
                    data = &data[n..];
                    if self.have == 8 {
                        (self.have, self.state) = (0, PngState::Head);
                    }
                }
                PngState::Head => {
                    let n = (8 - self.have).min(data.len());
                    self.head[self.have..self.have + n].copy_from_slice(&data[..n]);
                    self.have += n;
                    self.offset += n as u64;
                    data = &data[n..];
                    if self.have == 8 {
                        let len =
                            u32::from_be_bytes([self.head[0], self.head[1], self.head[2], self.head[3]]);
                        if len > i32::MAX as u32 {
                            return Err(format!("chunk length {len} at byte {}", self.offset - 8));
                        }
                        let kind = self.chunk_type();
                        if self.chunks == 0 && &kind != b"IHDR" {
                            return Err("the first chunk is not IHDR".into());
                        }
                        self.hasher = crc32fast::Hasher::new();
                        self.hasher.update(&kind);
                        (self.remaining, self.have, self.state) = (u64::from(len), 0, PngState::Data);
                        if len == 0 {
                            self.state = PngState::Crc;
                        }
                    }
                }
                PngState::Data => {
                    let n = self.remaining.min(data.len() as u64) as usize;
                    self.hasher.update(&data[..n]);
                    if &self.chunk_type() == b"IHDR" && self.ihdr.len() < 13 {
                        let room = (13 - self.ihdr.len()).min(n);
                        self.ihdr.extend_from_slice(&data[..room]);
                    }
                    self.remaining -= n as u64;
                    self.offset += n as u64;
                    data = &data[n..];
                    if self.remaining == 0 {
                        self.state = PngState::Crc;
                    }
                }
                PngState::Crc => {
                    let n = (4 - self.have).min(data.len());
                    self.crc[self.have..self.have + n].copy_from_slice(&data[..n]);
                    self.have += n;
                    self.offset += n as u64;
                    data = &data[n..];
                    if self.have == 4 {
                        let kind = self.chunk_type();
                        let computed = std::mem::take(&mut self.hasher).finalize();
                        if computed != u32::from_be_bytes(self.crc) {
                            return Err(format!(
                                "chunk {} ending at byte {}: CRC mismatch (corrupt data)",
                                String::from_utf8_lossy(&kind),
                                self.offset
                            ));
                        }
                        self.chunks += 1;
                        self.have = 0;
                        self.state = if &kind == b"IEND" { PngState::Done } else { PngState::Head };
                    }
                }
                PngState::Done => return Ok(()),
            }
        }
        Ok(())
    }

    fn finish(self) -> (ImageMeasurements, Option<String>) {
        let mut m = ImageMeasurements { format: Some(ImageFormat::Png), ..Default::default() };
        if self.ihdr.len() == 13 {
            let d = &self.ihdr;
            m.width_px = Some(u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
            m.height_px = Some(u32::from_be_bytes([d[4], d[5], d[6], d[7]]));
            m.bits_per_component = Some(d[8]);
            m.colour_space = Some(match d[9] {
                0 | 4 => ColourSpace::Grey,
                2 | 3 | 6 => ColourSpace::Rgb,
                _ => ColourSpace::Other,
            });
        }
        let problem = (self.state != PngState::Done)
            .then(|| format!("truncated: the data ends at byte {} before the IEND chunk", self.offset));
        (m, problem)
    }
}

fn tiff(input: &mut impl Read, options: &Options) -> (ImageMeasurements, Option<String>) {
    use tiff::decoder::Decoder;
    use tiff::tags::Tag;
    let mut m = ImageMeasurements { format: Some(ImageFormat::Tiff), ..Default::default() };
    let spooled = match spool(input, options) {
        Ok(s) => s,
        Err(e) => return (m, Some(e)),
    };
    let file = match spooled.reopen() {
        Ok(f) => f,
        Err(e) => return (m, Some(format!("could not read the spool file: {e}"))),
    };
    let mut d = match Decoder::new(io::BufReader::new(file)) {
        Ok(d) => d,
        Err(e) => return (m, Some(format!("not a readable TIFF (truncated or corrupt): {e}"))),
    };
    let tag = |d: &mut Decoder<_>, t: Tag| d.find_tag_unsigned::<u64>(t).ok().flatten();
    m.width_px = tag(&mut d, Tag::ImageWidth).and_then(|v| u32::try_from(v).ok());
    m.height_px = tag(&mut d, Tag::ImageLength).and_then(|v| u32::try_from(v).ok());
    let samples = tag(&mut d, Tag::SamplesPerPixel).unwrap_or(1);
    m.bits_per_component =
        d.find_tag_unsigned_vec::<u8>(Tag::BitsPerSample).ok().flatten().and_then(|v| v.first().copied());
    m.colour_space = tag(&mut d, Tag::PhotometricInterpretation).map(|p| match p {
        0 | 1 => ColourSpace::Grey,
        2 | 3 | 6 => ColourSpace::Rgb,
        5 if samples >= 4 => ColourSpace::Cmyk,
        8..=10 => ColourSpace::Lab,
        _ => ColourSpace::Other,
    });
    // Complete: every strip (or tile) lies inside the file.
    let data_end = [(Tag::StripOffsets, Tag::StripByteCounts), (Tag::TileOffsets, Tag::TileByteCounts)]
        .into_iter()
        .filter_map(|(offsets, counts)| {
            let o = d.find_tag_unsigned_vec::<u64>(offsets).ok().flatten()?;
            let c = d.find_tag_unsigned_vec::<u64>(counts).ok().flatten()?;
            o.iter().zip(&c).map(|(o, c)| o.saturating_add(*c)).max()
        })
        .max();
    let problem = match data_end {
        None => Some("no strip or tile offsets in the first image directory".to_string()),
        Some(end) if end > spooled.len => {
            Some(format!("truncated: image data runs to byte {end}, the file has {} bytes", spooled.len))
        }
        Some(_) if m.width_px.is_none() || m.height_px.is_none() => {
            Some("no image width or length tag".into())
        }
        Some(_) => None,
    };
    (m, problem)
}
