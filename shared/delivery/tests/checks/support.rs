//! Real files made by the tests (no binary fixtures): JPEG/PNG/TIFF through their encoders,
//! PDFs written object by object, EPUBs through a zip writer, MP3s through LAME. Shared with
//! the benchmark (`benches/delivery.rs` includes this file).
#![allow(dead_code)]

use std::io::{self, Cursor, Write};

pub const ISBN: &str = "9781800100008";

/// A deterministic pseudo-random byte source (xorshift64*), for pixel data and noise.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    /// Uniform in [-1, 1).
    pub fn sample(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

// ---- images ----

pub enum Colour {
    Rgb,
    Cmyk,
    Grey,
}

pub fn jpeg(width: u16, height: u16, colour: Colour) -> Vec<u8> {
    let (channels, kind) = match colour {
        Colour::Rgb => (3, jpeg_encoder::ColorType::Rgb),
        Colour::Cmyk => (4, jpeg_encoder::ColorType::Cmyk),
        Colour::Grey => (1, jpeg_encoder::ColorType::Luma),
    };
    let pixels: Vec<u8> =
        (0..usize::from(width) * usize::from(height) * channels).map(|i| (i * 7 % 251) as u8).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80).encode(&pixels, width, height, kind).expect("jpeg");
    out
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("png header");
        let pixels: Vec<u8> = (0..width as usize * height as usize * 3).map(|i| (i % 253) as u8).collect();
        w.write_image_data(&pixels).expect("png data");
    }
    out
}

pub fn tiff(width: u32, height: u32, colour: Colour) -> Vec<u8> {
    use tiff::encoder::{TiffEncoder, colortype};
    let mut out = Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut out).expect("tiff");
    match colour {
        Colour::Cmyk => {
            let px = vec![90u8; (width * height * 4) as usize];
            enc.write_image::<colortype::CMYK8>(width, height, &px).expect("tiff cmyk");
        }
        Colour::Rgb => {
            let px = vec![90u8; (width * height * 3) as usize];
            enc.write_image::<colortype::RGB8>(width, height, &px).expect("tiff rgb");
        }
        Colour::Grey => {
            let px = vec![90u8; (width * height) as usize];
            enc.write_image::<colortype::Gray8>(width, height, &px).expect("tiff grey");
        }
    }
    out.into_inner()
}

/// An uncompressed CMYK TIFF with its directory before the pixels, written by hand.
pub fn tiff_directory_first(width: u32, height: u32) -> Vec<u8> {
    let entries: [(u16, u16, u32, u32); 10] = [
        (256, 4, 1, width),              // ImageWidth, LONG
        (257, 4, 1, height),             // ImageLength
        (258, 3, 4, 0),                  // BitsPerSample: 4 SHORTs, at an offset (set below)
        (259, 3, 1, 1),                  // Compression: none
        (262, 3, 1, 5),                  // PhotometricInterpretation: separated (CMYK)
        (273, 4, 1, 0),                  // StripOffsets (set below)
        (277, 3, 1, 4),                  // SamplesPerPixel
        (278, 4, 1, height),             // RowsPerStrip
        (279, 4, 1, width * height * 4), // StripByteCounts
        (332, 3, 1, 1),                  // InkSet: CMYK
    ];
    let ifd_len = 2 + entries.len() * 12 + 4;
    let bits_at = 8 + ifd_len as u32;
    let data_at = bits_at + 8;
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        let value = match tag {
            258 => bits_at,
            273 => data_at,
            _ => value,
        };
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        if kind == 3 && count == 1 {
            out.extend_from_slice(&(value as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    for _ in 0..4 {
        out.extend_from_slice(&8u16.to_le_bytes());
    }
    out.resize(out.len() + (width * height * 4) as usize, 60);
    out
}

// ---- PDF ----

/// What a generated PDF has.
#[derive(Clone)]
pub struct PdfSpec {
    pub pages: usize,
    /// GTS_PDFXVersion in the info dictionary, or (with `xmp`) in XMP metadata.
    pub pdfx: Option<&'static str>,
    pub xmp: bool,
    pub output_intent: bool,
    pub embed_fonts: bool,
    pub trim_box: bool,
    /// BleedBox this far beyond the TrimBox on every side; `None`: no BleedBox.
    pub bleed_mm: Option<f64>,
    /// Each page places one image of this many pixels at this size (points).
    pub image: Option<(u32, u32, f64, f64)>,
    /// Bytes of image data per image (random; not a decodable picture, which no check reads).
    pub image_bytes: usize,
    pub encrypt: bool,
    /// Page resources on the Pages node (inherited) rather than on each page.
    pub inherit_resources: bool,
}

impl Default for PdfSpec {
    fn default() -> Self {
        PdfSpec {
            pages: 3,
            pdfx: Some("PDF/X-4"),
            xmp: false,
            output_intent: true,
            embed_fonts: true,
            trim_box: true,
            bleed_mm: Some(3.175),
            image: Some((1500, 1500, 360.0, 360.0)),
            image_bytes: 4096,
            encrypt: false,
            inherit_resources: false,
        }
    }
}

/// Writes the PDF to `out` object by object (the bench writes 300 MB this way).
pub fn write_pdf(spec: &PdfSpec, out: impl Write) -> io::Result<u64> {
    let mut w = PdfWriter { out: io::BufWriter::new(out), pos: 0, offsets: Vec::new() };
    w.raw(b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n")?;
    // Fixed objects 1-8, then three per page: page, content, image.
    let page_id = |i: usize| 9 + 3 * i;
    let kids: Vec<String> = (0..spec.pages).map(|i| format!("{} 0 R", page_id(i))).collect();
    let mut catalog = String::from("<< /Type /Catalog /Pages 2 0 R");
    if spec.output_intent {
        catalog.push_str(
            " /OutputIntents [<< /Type /OutputIntent /S /GTS_PDFX /OutputConditionIdentifier (FOGRA39) /DestOutputProfile 4 0 R >>]",
        );
    }
    if spec.xmp {
        catalog.push_str(" /Metadata 5 0 R");
    }
    catalog.push_str(" >>");
    w.object(1, &catalog)?;
    let resources = "<< /Font << /F1 6 0 R >> /XObject << /Im0 IMAGE >> >>";
    // Inherited: every page draws the first page's image.
    let pages_resources = if spec.inherit_resources {
        format!(" /Resources {}", resources.replace("IMAGE", &format!("{} 0 R", page_id(0) + 2)))
    } else {
        String::new()
    };
    w.object(
        2,
        &format!("<< /Type /Pages /Kids [{}] /Count {}{pages_resources} >>", kids.join(" "), spec.pages),
    )?;
    let mut info = String::from("<< /Producer (delivery tests)");
    if let (Some(v), false) = (spec.pdfx, spec.xmp) {
        info.push_str(&format!(" /GTS_PDFXVersion ({v})"));
    }
    info.push_str(" >>");
    w.object(3, &info)?;
    w.stream(4, "/N 4", &[7u8; 512])?;
    let xmp = format!(
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description xmlns:pdfxid=\"http://www.npes.org/pdfx/ns/id/\"><pdfxid:GTS_PDFXVersion>{}</pdfxid:GTS_PDFXVersion></rdf:Description></rdf:RDF></x:xmpmeta>",
        spec.pdfx.unwrap_or("")
    );
    w.stream(5, "/Type /Metadata /Subtype /XML", xmp.as_bytes())?;
    if spec.embed_fonts {
        w.object(6, "<< /Type /Font /Subtype /TrueType /BaseFont /TestSerif /FirstChar 32 /LastChar 126 /FontDescriptor 7 0 R >>")?;
        w.object(7, "<< /Type /FontDescriptor /FontName /TestSerif /Flags 32 /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile2 8 0 R >>")?;
    } else {
        w.object(6, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")?;
        w.object(7, "null")?;
    }
    w.stream(8, "", &[0u8; 256])?;
    // 6 × 9 in trim.
    let (tw, th) = (432.0, 648.0);
    let b = spec.bleed_mm.unwrap_or(0.0) * 72.0 / 25.4;
    let mut noise = Noise::new(7);
    let mut pixels = vec![0u8; spec.image_bytes];
    for i in 0..spec.pages {
        let id = page_id(i);
        let mut page = format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Contents {} 0 R",
            tw + 2.0 * b,
            th + 2.0 * b,
            id + 1
        );
        if spec.trim_box {
            page.push_str(&format!(" /TrimBox [{b} {b} {} {}]", tw + b, th + b));
        }
        if spec.bleed_mm.is_some() {
            page.push_str(&format!(" /BleedBox [0 0 {} {}]", tw + 2.0 * b, th + 2.0 * b));
        }
        if !spec.inherit_resources {
            page.push_str(&format!(" /Resources {}", resources.replace("IMAGE", &format!("{} 0 R", id + 2))));
        }
        page.push_str(" >>");
        w.object(id, &page)?;
        let mut content = String::from("BT /F1 12 Tf 72 72 Td (Chapter text) Tj ET\n");
        if let Some((_, _, dw, dh)) = spec.image {
            content.push_str(&format!("q {dw} 0 0 {dh} 36 36 cm /Im0 Do Q\n"));
        }
        w.stream(id + 1, "", content.as_bytes())?;
        let (pw, ph) = spec.image.map_or((1, 1), |(pw, ph, _, _)| (pw, ph));
        noise.fill(&mut pixels);
        w.stream(id + 2, &format!("/Type /XObject /Subtype /Image /Width {pw} /Height {ph} /ColorSpace /DeviceRGB /BitsPerComponent 8"), &pixels)?;
    }
    let size = 9 + 3 * spec.pages;
    if spec.encrypt {
        w.object(
            size,
            &format!(
                "<< /Filter /Standard /V 1 /R 2 /O <{}> /U <{}> /P -44 >>",
                "ab".repeat(32),
                "cd".repeat(32)
            ),
        )?;
    }
    let xref = w.pos;
    let count = size + usize::from(spec.encrypt);
    w.raw(format!("xref\n0 {count}\n0000000000 65535 f \n").as_bytes())?;
    for n in 1..count {
        let off = w.offsets.get(n).copied().flatten();
        let line = match off {
            Some(o) => format!("{o:010} 00000 n \n"),
            None => "0000000000 65535 f \n".to_string(),
        };
        w.raw(line.as_bytes())?;
    }
    let mut trailer = format!("trailer\n<< /Size {count} /Root 1 0 R /Info 3 0 R");
    if spec.encrypt {
        trailer.push_str(&format!(" /Encrypt {size} 0 R /ID [<{}> <{}>]", "01".repeat(16), "01".repeat(16)));
    }
    trailer.push_str(&format!(" >>\nstartxref\n{xref}\n%%EOF\n"));
    w.raw(trailer.as_bytes())?;
    w.out.flush()?;
    Ok(w.pos)
}

pub fn pdf(spec: &PdfSpec) -> Vec<u8> {
    let mut out = Vec::new();
    write_pdf(spec, &mut out).expect("pdf");
    out
}

struct PdfWriter<W: Write> {
    out: W,
    pos: u64,
    offsets: Vec<Option<u64>>,
}

impl<W: Write> PdfWriter<W> {
    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }
    fn mark(&mut self, id: usize) {
        if self.offsets.len() <= id {
            self.offsets.resize(id + 1, None);
        }
        self.offsets[id] = Some(self.pos);
    }
    fn object(&mut self, id: usize, body: &str) -> io::Result<()> {
        self.mark(id);
        self.raw(format!("{id} 0 obj\n{body}\nendobj\n").as_bytes())
    }
    fn stream(&mut self, id: usize, dict: &str, data: &[u8]) -> io::Result<()> {
        self.mark(id);
        self.raw(format!("{id} 0 obj\n<< {dict} /Length {} >>\nstream\n", data.len()).as_bytes())?;
        self.raw(data)?;
        self.raw(b"\nendstream\nendobj\n")
    }
}

// ---- EPUB ----

#[derive(Clone)]
pub struct EpubSpec {
    pub identifier: String,
    pub version: &'static str,
    pub accessibility: bool,
    pub mimetype_first: bool,
    pub mimetype_stored: bool,
    pub container: bool,
    /// An extra entry of this many zero bytes, deflated (a zip bomb when large).
    pub zeros_entry: Option<usize>,
    /// Extra small entries.
    pub extra_entries: usize,
}

impl Default for EpubSpec {
    fn default() -> Self {
        EpubSpec {
            identifier: format!("urn:isbn:{ISBN}"),
            version: "3.0",
            accessibility: true,
            mimetype_first: true,
            mimetype_stored: true,
            container: true,
            zeros_entry: None,
            extra_entries: 0,
        }
    }
}

pub fn epub(spec: &EpubSpec) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mimetype = |z: &mut zip::ZipWriter<Cursor<Vec<u8>>>| {
        z.start_file("mimetype", if spec.mimetype_stored { stored } else { deflated }).unwrap();
        z.write_all(b"application/epub+zip").unwrap();
    };
    if spec.mimetype_first {
        mimetype(&mut z);
    }
    if spec.container {
        z.start_file("META-INF/container.xml", deflated).unwrap();
        z.write_all(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"#,
        )
        .unwrap();
    }
    if !spec.mimetype_first {
        mimetype(&mut z);
    }
    let a11y = if spec.accessibility {
        r#"
    <meta property="schema:accessMode">textual</meta>
    <meta property="schema:accessModeSufficient">textual</meta>
    <meta property="schema:accessibilityFeature">structuralNavigation</meta>
    <meta property="schema:accessibilityFeature">tableOfContents</meta>
    <meta property="schema:accessibilityHazard">none</meta>
    <meta property="schema:accessibilitySummary">Text with headings &amp; a table of contents.</meta>"#
    } else {
        ""
    };
    let opf = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="{version}" unique-identifier="pub-id" xml:lang="en">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="other">urn:uuid:2f4b9c1e-0000-4000-8000-000000000001</dc:identifier>
    <dc:identifier id="pub-id">{id}</dc:identifier>
    <dc:title>The Salt Lantern</dc:title>
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2026-11-01T00:00:00Z</meta>{a11y}
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="ch1" href="ch1.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine><itemref idref="ch1"/></spine>
</package>"#,
        version = spec.version,
        id = spec.identifier
    );
    z.start_file("OEBPS/content.opf", deflated).unwrap();
    z.write_all(opf.as_bytes()).unwrap();
    z.start_file("OEBPS/nav.xhtml", deflated).unwrap();
    z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="en" xml:lang="en">
<head><title>Contents</title></head>
<body><nav epub:type="toc" id="toc"><h1>Contents</h1><ol><li><a href="ch1.xhtml">Chapter 1</a></li></ol></nav></body>
</html>"#).unwrap();
    z.start_file("OEBPS/ch1.xhtml", deflated).unwrap();
    z.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en" xml:lang="en">
<head><title>Chapter 1</title></head>
<body><h1>Chapter 1</h1><p>It was a dark and stormy night.</p></body>
</html>"#,
    )
    .unwrap();
    if let Some(n) = spec.zeros_entry {
        z.start_file("OEBPS/zeros.bin", deflated).unwrap();
        let block = vec![0u8; 1 << 16];
        let mut left = n;
        while left > 0 {
            let k = left.min(block.len());
            z.write_all(&block[..k]).unwrap();
            left -= k;
        }
    }
    for i in 0..spec.extra_entries {
        z.start_file(format!("OEBPS/extra{i}.txt"), deflated).unwrap();
        z.write_all(b"x").unwrap();
    }
    z.finish().unwrap().into_inner()
}

// ---- audio ----

/// Room tone: uniform noise at `rms_db` (dBFS).
pub fn room_tone(noise: &mut Noise, rate: u32, seconds: f64, rms_db: f64) -> Vec<f32> {
    // Uniform noise in [-a, a] has RMS a / sqrt(3).
    let a = 10f64.powf(rms_db / 20.0) * 3f64.sqrt();
    (0..(f64::from(rate) * seconds) as usize).map(|_| noise.sample() * a as f32).collect()
}

/// A sine of `amplitude` (linear, full scale 1.0).
pub fn tone(rate: u32, seconds: f64, amplitude: f64, hz: f64) -> Vec<f32> {
    (0..(f64::from(rate) * seconds) as usize)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// A chapter: room tone, a tone, room tone.
pub fn chapter(
    rate: u32,
    head_s: f64,
    body_s: f64,
    tail_s: f64,
    tone_amplitude: f64,
    floor_db: f64,
) -> Vec<f32> {
    let mut noise = Noise::new(42);
    let mut s = room_tone(&mut noise, rate, head_s, floor_db);
    s.extend(tone(rate, body_s, tone_amplitude, 440.0));
    s.extend(room_tone(&mut noise, rate, tail_s, floor_db));
    s
}

/// RMS and peak of samples, dBFS, computed plainly (what the tests compare the meter with).
pub fn rms_peak_db(samples: &[f32]) -> (f64, f64) {
    let ms = samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64;
    let peak = samples.iter().map(|s| f64::from(s.abs())).fold(0.0, f64::max);
    (10.0 * ms.log10(), 20.0 * peak.log10())
}

/// Mono (or the same signal on both channels of a stereo) MP3 through LAME, CBR.
pub fn mp3(samples: &[f32], rate: u32, channels: u8, kbps: mp3lame_encoder::Bitrate) -> Vec<u8> {
    use mp3lame_encoder::{Builder, DualPcm, FlushGap, MonoPcm};
    let mut b = Builder::new().expect("lame");
    b.set_num_channels(channels).expect("channels");
    b.set_sample_rate(rate).expect("rate");
    b.set_brate(kbps).expect("bitrate");
    b.set_quality(mp3lame_encoder::Quality::Good).expect("quality");
    let mut enc = b.build().expect("lame init");
    let mut out = Vec::new();
    for piece in samples.chunks(1152 * 64) {
        out.reserve(mp3lame_encoder::max_required_buffer_size(piece.len()));
        if channels == 1 {
            enc.encode_to_vec(MonoPcm(piece), &mut out).expect("encode");
        } else {
            enc.encode_to_vec(DualPcm { left: piece, right: piece }, &mut out).expect("encode");
        }
    }
    out.reserve(7200);
    enc.flush_to_vec::<FlushGap>(&mut out).expect("flush");
    out
}
