//! MP3: frame headers read off the stream (bit rate, sample rate, channels, lost sync), each
//! frame decoded by symphonia's MP3 decoder into the [`levels::LevelMeter`].
//!
//! The frames are cut by our own header walker rather than symphonia's demuxer: the checks need
//! every frame's bit rate (constant bit rate is "every frame the same") and the byte offset of
//! a corrupt frame, which the demuxer skips silently when it resyncs. Memory: one 64 KiB read
//! buffer, one frame, one decoded frame of samples.

pub mod levels;

use crate::{CHUNK, Options};
use connector_core::delivery::AudioMeasurements;
use levels::LevelMeter;
use std::collections::BTreeSet;
use std::io::{self, Read};
use symphonia::core::codecs::audio::well_known::CODEC_ID_MP3;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::PacketRef;
use symphonia::core::units::{Duration, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Mpeg1,
    Mpeg2,
    Mpeg25,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    version: Version,
    layer: u8,
    bitrate_kbps: u32,
    sample_rate: u32,
    channels: u8,
    frame_len: usize,
    samples: u32,
}

const BITRATES_V1: [[u32; 14]; 3] = [
    [32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
];
const BITRATES_V2: [[u32; 14]; 2] = [
    [32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// An MPEG audio frame header, or `None` for anything else (free-format bit rate included:
/// its frame length is not in the header).
fn header(b: &[u8]) -> Option<Header> {
    if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = match (b[1] >> 3) & 3 {
        0 => Version::Mpeg25,
        2 => Version::Mpeg2,
        3 => Version::Mpeg1,
        _ => return None,
    };
    let layer = match (b[1] >> 1) & 3 {
        1 => 3,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    let index = (b[2] >> 4) as usize;
    if index == 0 || index == 15 {
        return None;
    }
    let bitrate_kbps = match version {
        Version::Mpeg1 => BITRATES_V1[layer as usize - 1][index - 1],
        _ => BITRATES_V2[if layer == 1 { 0 } else { 1 }][index - 1],
    };
    let base = match (b[2] >> 2) & 3 {
        0 => 44_100,
        1 => 48_000,
        2 => 32_000,
        _ => return None,
    };
    let sample_rate = match version {
        Version::Mpeg1 => base,
        Version::Mpeg2 => base / 2,
        Version::Mpeg25 => base / 4,
    };
    let padding = u32::from((b[2] >> 1) & 1);
    let channels = if b[3] >> 6 == 3 { 1 } else { 2 };
    let bps = bitrate_kbps * 1000;
    let (frame_len, samples) = match (layer, version) {
        (1, _) => ((12 * bps / sample_rate + padding) * 4, 384),
        (2, _) => (144 * bps / sample_rate + padding, 1152),
        (_, Version::Mpeg1) => (144 * bps / sample_rate + padding, 1152),
        _ => (72 * bps / sample_rate + padding, 576),
    };
    Some(Header {
        version,
        layer,
        bitrate_kbps,
        sample_rate,
        channels,
        frame_len: frame_len as usize,
        samples,
    })
}

/// A Xing/Info (LAME) or VBRI tag frame: metadata in the shape of a silent first frame.
fn is_tag_frame(h: &Header, frame: &[u8]) -> bool {
    let side = match (h.version, h.channels) {
        (Version::Mpeg1, 1) => 17,
        (Version::Mpeg1, _) => 32,
        (_, 1) => 9,
        _ => 17,
    };
    let at = 4 + side;
    let tag = |o: usize| frame.get(o..o + 4);
    matches!(tag(at), Some(b"Xing") | Some(b"Info")) || tag(36) == Some(b"VBRI")
}

/// A read buffer that keeps the absolute offset of its first byte.
struct Input<'a, R> {
    r: &'a mut R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
    eof: bool,
}

impl<R: Read> Input<'_, R> {
    /// At least `n` bytes buffered unless the input ends first.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        while self.end - self.start < n && !self.eof {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() < n {
                self.buf.resize(n.max(CHUNK), 0);
            }
            let end = self.end;
            match self.r.read(&mut self.buf[end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Skips `n` bytes (an ID3v2 tag) without buffering them.
    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        let buffered = (self.end - self.start) as u64;
        let now = buffered.min(n);
        self.consume(now as usize);
        n -= now;
        self.offset += io::copy(&mut self.r.take(n), &mut io::sink())?;
        Ok(())
    }
}

/// Largest frame any valid header describes (layer I, 448 kb/s at 32 kHz: 672 bytes; layer
/// II/III at 8 kHz: 2,881 bytes), with room to read the next header.
const MAX_FRAME: usize = 2_881 + 4;

struct Decoder {
    inner: Box<dyn AudioDecoder>,
    samples: Vec<f32>,
    meter: LevelMeter,
    ts: u64,
}

pub(crate) fn measure(input: &mut impl Read, options: &Options) -> (AudioMeasurements, Option<String>) {
    let mut m = AudioMeasurements { sound_threshold_db: options.sound_threshold_db, ..Default::default() };
    let mut problem = None;
    match walk(input, options, &mut m) {
        Ok(Some(levels)) => {
            m.duration_s = levels.duration_s;
            m.rms_db = Some(levels.rms_db);
            m.peak_db = Some(levels.peak_db);
            m.noise_floor_db = Some(levels.noise_floor_db);
            m.head_room_tone_s = Some(levels.head_room_tone_s);
            m.tail_room_tone_s = Some(levels.tail_room_tone_s);
        }
        Ok(None) => problem = Some("not an MP3: no MPEG audio frame found".to_string()),
        Err(e) => problem = Some(format!("read error: {e}")),
    }
    if problem.is_none() && m.corrupt_frames > 0 {
        problem = Some(format!(
            "{} corrupt or missing frames, the first at byte {}",
            m.corrupt_frames,
            m.first_corrupt_byte.unwrap_or(0)
        ));
    }
    (m, problem)
}

fn walk(
    r: &mut impl Read,
    options: &Options,
    m: &mut AudioMeasurements,
) -> io::Result<Option<levels::Levels>> {
    let mut input = Input { r, buf: vec![0; CHUNK], start: 0, end: 0, offset: 0, eof: false };
    // ID3v2 tag at the head: size is syncsafe (7 bits a byte), plus a footer when flagged.
    input.fill(10)?;
    let head = input.data();
    if head.len() >= 10 && head.starts_with(b"ID3") {
        let size = head[6..10].iter().fold(0u64, |acc, b| (acc << 7) | u64::from(b & 0x7F));
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        input.skip(10 + size + footer)?;
    }
    let (mut bitrates, mut rates, mut channels) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut decoder: Option<Decoder> = None;
    let mut first_frame = true;
    let mut in_sync = true;
    let mut duration = 0.0f64;
    let mut format = None;
    loop {
        input.fill(MAX_FRAME)?;
        let (offset, eof) = (input.offset, input.eof);
        let avail = input.data();
        if avail.is_empty() {
            break;
        }
        // Trailing tags: ID3v1 (128 bytes) or APE.
        if (avail.starts_with(b"TAG") && avail.len() == 128 && eof) || avail.starts_with(b"APETAGEX") {
            break;
        }
        let h = header(avail).filter(|h| format.is_none_or(|f: (Version, u8)| f == (h.version, h.layer)));
        let Some(h) = h else {
            if in_sync {
                corrupt(m, offset);
                in_sync = false;
            }
            input.consume(1);
            continue;
        };
        if h.frame_len > avail.len() {
            // The input ends inside this frame.
            corrupt(m, offset);
            break;
        }
        // Out of sync, a header counts only when the next frame's header follows it.
        if !in_sync {
            let next = &avail[h.frame_len..];
            let confirmed =
                next.len() < 4 || header(next).is_some_and(|n| (n.version, n.layer) == (h.version, h.layer));
            if !confirmed {
                input.consume(1);
                continue;
            }
            in_sync = true;
        }
        let frame = &avail[..h.frame_len];
        let tag = first_frame && is_tag_frame(&h, frame);
        first_frame = false;
        if !tag {
            format.get_or_insert((h.version, h.layer));
            bitrates.insert(h.bitrate_kbps);
            rates.insert(h.sample_rate);
            channels.insert(h.channels);
            m.frames += 1;
            duration += f64::from(h.samples) / f64::from(h.sample_rate);
            if h.layer == 3 {
                let d = match &mut decoder {
                    Some(d) => d,
                    None => decoder.insert(new_decoder(&h, options)?),
                };
                let packet = PacketRef::new(
                    0,
                    Timestamp::new(d.ts as i64),
                    Duration::new(u64::from(h.samples)),
                    frame,
                );
                d.ts += u64::from(h.samples);
                match d.inner.decode_ref(&packet) {
                    Ok(buf) => {
                        d.samples.resize(buf.samples_interleaved(), 0.0);
                        buf.copy_to_slice_interleaved(&mut d.samples[..]);
                        d.meter.push_interleaved(&d.samples);
                    }
                    Err(_) => corrupt(m, offset),
                }
            }
        }
        let len = h.frame_len;
        input.consume(len);
    }
    m.format = format.map(|(v, layer)| match (v, layer) {
        (Version::Mpeg1, 3) => "mp3".to_string(),
        (Version::Mpeg1, l) => format!("mpeg-1 layer {}", ["i", "ii"][l as usize - 1]),
        (v, l) => format!(
            "mpeg-{} layer {}",
            if v == Version::Mpeg2 { "2" } else { "2.5" },
            ["i", "ii", "iii"][l as usize - 1]
        ),
    });
    m.bitrates_kbps = bitrates.into_iter().collect();
    m.sample_rates_hz = rates.into_iter().collect();
    m.channels = (channels.len() == 1).then(|| channels.into_iter().next()).flatten();
    if m.frames == 0 {
        return Ok(None);
    }
    let levels = decoder.map(|d| d.meter.finish());
    m.duration_s = duration;
    Ok(levels.or(Some(levels::Levels {
        duration_s: duration,
        rms_db: levels::SILENCE_DB,
        peak_db: levels::SILENCE_DB,
        noise_floor_db: levels::SILENCE_DB,
        head_room_tone_s: duration,
        tail_room_tone_s: duration,
    })))
}

fn corrupt(m: &mut AudioMeasurements, at: u64) {
    m.corrupt_frames += 1;
    m.first_corrupt_byte.get_or_insert(at);
}

fn new_decoder(h: &Header, options: &Options) -> io::Result<Decoder> {
    let mut params = AudioCodecParameters::new();
    params.codec = CODEC_ID_MP3;
    params.sample_rate = Some(h.sample_rate);
    let inner = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| io::Error::other(format!("no MP3 decoder: {e}")))?;
    Ok(Decoder {
        inner,
        samples: Vec::new(),
        meter: LevelMeter::new(h.sample_rate, usize::from(h.channels), options.sound_threshold_db),
        ts: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_give_the_frame_length_and_rates() {
        // MPEG-1 layer III, 192 kb/s, 44.1 kHz, no padding, mono: 626 bytes.
        let h = header(&[0xFF, 0xFB, 0xB0, 0xC0]).unwrap();
        assert_eq!(
            (h.bitrate_kbps, h.sample_rate, h.channels, h.frame_len, h.samples),
            (192, 44_100, 1, 626, 1152)
        );
        // Padding bit, joint stereo.
        let h = header(&[0xFF, 0xFB, 0xB2, 0x40]).unwrap();
        assert_eq!((h.channels, h.frame_len), (2, 627));
        // MPEG-2 layer III, 64 kb/s, 22.05 kHz.
        let h = header(&[0xFF, 0xF3, 0x80, 0xC0]).unwrap();
        assert_eq!(
            (h.version, h.bitrate_kbps, h.sample_rate, h.frame_len, h.samples),
            (Version::Mpeg2, 64, 22_050, 208, 576)
        );
        // Free format, bad index, reserved rate, no sync.
        for bad in [
            [0xFF, 0xFB, 0x00, 0xC0],
            [0xFF, 0xFB, 0xF0, 0xC0],
            [0xFF, 0xFB, 0xBC, 0xC0],
            [0xFE, 0xFB, 0xB0, 0xC0],
        ] {
            assert_eq!(header(&bad), None, "{bad:02x?}");
        }
    }
}
