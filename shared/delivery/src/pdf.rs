//! Print PDFs: PDF/X declaration and output intent, encryption, fonts, TrimBox/BleedBox and
//! bleed, and the effective resolution of placed images.
//!
//! The file is spooled, memory-mapped and read with pdf-rs (`pdf`) at the level of objects:
//! its xref table and streams are resolved lazily, one object at a time, so only the pages
//! of the file that hold the trailer, the catalog, page and font dictionaries and the
//! content streams are ever touched; image data is never read. (`lopdf` reads the whole file
//! into memory and parses every object, streams included: a 300 MB PDF costs more than
//! 300 MB.) Content streams are decoded here with a size cap and scanned by a small operator
//! scanner that keeps only the graphics-state stack (q, Q, cm, Do, inline images), rather than
//! pdf-rs's `parse_ops`, which builds every operation of the page in memory.

use crate::Options;
use crate::spool::spool;
use connector_core::delivery::PdfMeasurements;
use pdf::backend::Backend;
use pdf::file::{NoCache, NoLog, Storage};
use pdf::object::{NoResolve, ParseOptions, PlainRef, Resolve};
use pdf::primitive::{Dictionary, PdfStream, Primitive};
use std::collections::{HashMap, HashSet};
use std::io::Read;

mod content;

use content::Matrix;

/// Names of fonts without a font file, kept for the reason text.
const NAMES_KEPT: usize = 8;
/// Nesting of form XObjects followed, and forms drawn per page.
const MAX_FORM_DEPTH: usize = 8;
const MAX_FORMS_PER_PAGE: usize = 256;

pub(crate) fn measure(input: &mut impl Read, options: &Options) -> (PdfMeasurements, Option<String>) {
    let spooled = match spool(input, options) {
        Ok(s) => s,
        Err(e) => return (PdfMeasurements::default(), Some(e)),
    };
    if spooled.len == 0 {
        return (PdfMeasurements::default(), Some("not a PDF: the file is empty".into()));
    }
    let file = match spooled.reopen() {
        Ok(f) => f,
        Err(e) => return (PdfMeasurements::default(), Some(format!("could not read the spool file: {e}"))),
    };
    // SAFETY: the spool is this process's own temporary file, written before and never
    // changed while mapped; the map is read-only and dropped before the file.
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => return (PdfMeasurements::default(), Some(format!("could not map the spool file: {e}"))),
    };
    let mut m = PdfMeasurements::default();
    // Every page of the file a read touches stays resident (with the kernel's fault-around,
    // up to 64 KiB per object read): hand them back every few pages, so a PDF of thousands
    // of pages stays as small as one of ten.
    let release = || {
        // SAFETY: MADV_DONTNEED on a read-only mapping of a file nobody writes only drops
        // this process's page-table entries: the next access faults the same bytes back in
        // from the page cache. No reference into the map is invalidated.
        let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    };
    let problem = read(&map, options, &mut m, &release).err();
    (m, problem)
}

/// Pages read between two releases of the map's resident pages.
const PAGES_PER_RELEASE: u32 = 16;

fn read(data: &[u8], options: &Options, m: &mut PdfMeasurements, release: &dyn Fn()) -> Result<(), String> {
    let head = &data[..data.len().min(1024)];
    let at =
        memchr::memmem::find(head, b"%PDF-").ok_or("not a PDF: no %PDF- header in the first 1,024 bytes")?;
    let version: String =
        head[at + 5..].iter().take_while(|b| b.is_ascii_digit() || **b == b'.').map(|b| *b as char).collect();
    m.version = Some(version).filter(|v| !v.is_empty());

    // The trailer first without decryption, to tell "encrypted" from "broken" when pdf-rs
    // cannot open the file. (This first read resolves nothing, so an xref stream whose length
    // is an indirect object fails here and is left to the full load.)
    let start = data.locate_start_offset().map_err(|e| format!("not a readable PDF: {e}"))?;
    let raw_encrypted =
        data.read_xref_table_and_trailer(start, &NoResolve).ok().map(|(_, t)| t.get("Encrypt").is_some());
    let mut storage = Storage::with_cache(data, ParseOptions::strict(), NoCache, NoCache, NoLog)
        .map_err(|e| format!("not a readable PDF: {e}"))?;
    let trailer = match storage.load_storage_and_trailer() {
        Ok(t) => t,
        Err(e) if raw_encrypted == Some(true) => {
            m.encrypted = Some(true);
            return Err(format!("encrypted, and not readable without a password: {e}"));
        }
        Err(e) => return Err(format!("not a readable PDF: {e}")),
    };
    m.encrypted = Some(raw_encrypted.unwrap_or(false) || trailer.get("Encrypt").is_some());
    let r = storage.resolver();
    let catalog = dict(trailer.get("Root"), &r).ok_or("no document catalog (trailer /Root)")?;

    // PDF/X: the info dictionary's GTS_PDFXVersion, else the XMP metadata's.
    m.pdfx_version =
        dict(trailer.get("Info"), &r).and_then(|info| text(info.get("GTS_PDFXVersion"), &r)).or_else(|| {
            let xmp = stream(catalog.get("Metadata"), &r)?;
            let bytes = decode(&xmp, &r, options.pdf_max_stream_bytes)?;
            xmp_pdfx_version(&bytes)
        });
    if let Some(intents) = resolved(catalog.get("OutputIntents"), &r) {
        for intent in intents.as_array().map(<[Primitive]>::to_vec).unwrap_or_default() {
            let Some(intent) = dict(Some(&intent), &r) else { continue };
            if name(intent.get("S")).as_deref() == Some("GTS_PDFX") {
                m.output_intent = text(intent.get("OutputConditionIdentifier"), &r)
                    .or_else(|| text(intent.get("OutputCondition"), &r))
                    .or(Some(String::new()));
            }
        }
    }
    let mut walker = Walker {
        r: &r,
        options,
        m,
        fonts_seen: HashSet::new(),
        images: HashMap::new(),
        forms_drawn: 0,
        release,
    };
    walker.pages(catalog.get("Pages").ok_or("no page tree (catalog /Pages)")?)
}

struct Walker<'a, R: Resolve> {
    r: &'a R,
    options: &'a Options,
    m: &'a mut PdfMeasurements,
    fonts_seen: HashSet<PlainRef>,
    /// Pixel size of each image XObject, by object.
    images: HashMap<PlainRef, Option<(f64, f64)>>,
    forms_drawn: usize,
    release: &'a dyn Fn(),
}

/// What pages inherit from their parents in the page tree.
#[derive(Clone, Default)]
struct Inherited {
    resources: Option<Primitive>,
}

impl<R: Resolve> Walker<'_, R> {
    fn pages(&mut self, root: &Primitive) -> Result<(), String> {
        let mut stack = vec![(root.clone(), Inherited::default())];
        let mut visited = HashSet::new();
        let mut pages = 0u32;
        while let Some((node, inherited)) = stack.pop() {
            if let Primitive::Reference(id) = node
                && !visited.insert(id)
            {
                return Err(format!("the page tree loops back to object {}", id.id));
            }
            let d = dict(Some(&node), self.r).ok_or("a page tree node is not a dictionary")?;
            let inherited = Inherited { resources: d.get("Resources").cloned().or(inherited.resources) };
            if let Some(kids) = resolved(d.get("Kids"), self.r) {
                let kids = kids.as_array().map_err(|e| format!("page tree /Kids: {e}"))?;
                for kid in kids.iter().rev() {
                    stack.push((kid.clone(), inherited.clone()));
                }
                continue;
            }
            pages += 1;
            if pages > self.options.pdf_max_pages {
                return Err(format!("more than {} pages", self.options.pdf_max_pages));
            }
            self.m.pages = Some(pages);
            self.page(pages, &d, &inherited);
            if pages.is_multiple_of(PAGES_PER_RELEASE) {
                (self.release)();
            }
        }
        self.m.pages = Some(pages);
        Ok(())
    }

    fn page(&mut self, number: u32, page: &Dictionary, inherited: &Inherited) {
        let trim = rect(page.get("TrimBox"), self.r);
        let bleed = rect(page.get("BleedBox"), self.r);
        self.m.pages_without_trim_box += u32::from(trim.is_none());
        self.m.pages_without_bleed_box += u32::from(bleed.is_none());
        if let (Some(t), Some(b)) = (trim, bleed) {
            let mm = 25.4 / 72.0;
            let (left, bottom, right, top) =
                ((t[0] - b[0]) * mm, (t[1] - b[1]) * mm, (b[2] - t[2]) * mm, (b[3] - t[3]) * mm);
            // PDF numbers are read as f32: round to 0.01 mm.
            let round = |x: f64| (x * 100.0).round() / 100.0;
            let (left, bottom, right, top) = (round(left), round(bottom), round(right), round(top));
            let all = left.min(bottom).min(right).min(top);
            // Page 1 is a recto: its fore-edge is on the right.
            let fore_edge = if number.is_multiple_of(2) { left } else { right };
            let outer = bottom.min(top).min(fore_edge);
            if self.m.min_bleed_mm.is_none_or(|x| all < x) {
                (self.m.min_bleed_mm, self.m.min_bleed_page) = (Some(all), Some(number));
            }
            if self.m.min_outer_bleed_mm.is_none_or(|x| outer < x) {
                (self.m.min_outer_bleed_mm, self.m.min_outer_bleed_page) = (Some(outer), Some(number));
            }
        }
        let resources = dict(inherited.resources.as_ref(), self.r);
        if let Some(res) = &resources {
            self.fonts(res);
        }
        let user_unit = number_of(page.get("UserUnit"), self.r).unwrap_or(1.0);
        let mut contents = Vec::new();
        let parts = match resolved(page.get("Contents"), self.r) {
            Some(Primitive::Array(parts)) => parts,
            Some(p) => vec![p],
            None => vec![],
        };
        for part in parts {
            let Some(s) = stream(Some(&part), self.r) else { continue };
            let room = self.options.pdf_max_stream_bytes.saturating_sub(contents.len() as u64);
            match decode(&s, self.r, room) {
                Some(bytes) => {
                    contents.extend_from_slice(&bytes);
                    contents.push(b'\n');
                }
                // Too large or an unusual filter: the placements on this page stay unread.
                None => return,
            }
        }
        self.forms_drawn = 0;
        let ctm = Matrix::scale(user_unit);
        self.draw(number, &contents, resources.as_ref(), ctm, 0);
    }

    fn fonts(&mut self, resources: &Dictionary) {
        let Some(fonts) = dict(resources.get("Font"), self.r) else { return };
        for (_, font) in fonts.iter() {
            if let Primitive::Reference(id) = font
                && !self.fonts_seen.insert(*id)
            {
                continue;
            }
            let Some(f) = dict(Some(font), self.r) else { continue };
            self.m.fonts += 1;
            if !font_embedded(&f, self.r) {
                self.m.fonts_not_embedded += 1;
                if self.m.fonts_not_embedded_names.len() < NAMES_KEPT {
                    self.m
                        .fonts_not_embedded_names
                        .push(name(f.get("BaseFont")).unwrap_or_else(|| "(unnamed)".into()));
                }
            }
        }
    }

    /// Follows a content stream's placements of images (and forms, recursively).
    fn draw(&mut self, page: u32, ops: &[u8], resources: Option<&Dictionary>, ctm: Matrix, depth: usize) {
        let xobjects = resources.and_then(|r| dict(r.get("XObject"), self.r));
        content::scan(ops, ctm, |placed| self.place(page, placed, xobjects.as_ref(), resources, depth));
    }

    fn place(
        &mut self,
        page: u32,
        placed: content::Placed,
        xobjects: Option<&Dictionary>,
        resources: Option<&Dictionary>,
        depth: usize,
    ) {
        let (key, ctm) = match placed {
            content::Placed::Inline { width, height, ctm } => return self.image(page, width, height, &ctm),
            content::Placed::XObject { name, ctm } => (name, ctm),
        };
        let Some(entry) = xobjects.and_then(|x| x.get(&key)).cloned() else { return };
        if let Primitive::Reference(id) = entry
            && let Some(known) = self.images.get(&id)
        {
            if let Some((w, h)) = *known {
                self.image(page, w, h, &ctm);
            }
            return;
        }
        let Some(s) = stream(Some(&entry), self.r) else { return };
        match name(s.info.get("Subtype")).as_deref() {
            Some("Image") => {
                let px = number_of(s.info.get("Width"), self.r).zip(number_of(s.info.get("Height"), self.r));
                if let Primitive::Reference(id) = entry {
                    self.images.insert(id, px);
                }
                if let Some((w, h)) = px {
                    self.image(page, w, h, &ctm);
                }
            }
            Some("Form") if depth < MAX_FORM_DEPTH && self.forms_drawn < MAX_FORMS_PER_PAGE => {
                self.forms_drawn += 1;
                let form_resources = dict(s.info.get("Resources"), self.r);
                if let Some(res) = &form_resources {
                    self.fonts(res);
                }
                let matrix = s
                    .info
                    .get("Matrix")
                    .and_then(|m| numbers(m, self.r))
                    .and_then(|v| Matrix::from_slice(&v))
                    .unwrap_or(Matrix::IDENTITY);
                let Some(bytes) = decode(&s, self.r, self.options.pdf_max_stream_bytes) else { return };
                let res = form_resources.as_ref().or(resources);
                self.draw(page, &bytes, res, matrix.then(&ctm), depth + 1);
            }
            _ => {}
        }
    }

    fn image(&mut self, page: u32, width_px: f64, height_px: f64, ctm: &Matrix) {
        let (w_in, h_in) = (ctm.x_length() / 72.0, ctm.y_length() / 72.0);
        if w_in <= 0.0 || h_in <= 0.0 || width_px <= 0.0 || height_px <= 0.0 {
            return;
        }
        let ppi = ((width_px / w_in).min(height_px / h_in) * 10.0).round() / 10.0;
        self.m.images_measured += 1;
        if self.m.min_image_ppi.is_none_or(|x| ppi < x) {
            (self.m.min_image_ppi, self.m.min_image_ppi_page) = (Some(ppi), Some(page));
        }
    }
}

fn font_embedded(font: &Dictionary, r: &impl Resolve) -> bool {
    let has_file = |d: &Dictionary| ["FontFile", "FontFile2", "FontFile3"].iter().any(|k| d.get(k).is_some());
    match name(font.get("Subtype")).as_deref() {
        // Type 3 glyphs are drawn by content streams in the font itself.
        Some("Type3") => true,
        Some("Type0") => resolved(font.get("DescendantFonts"), r)
            .and_then(|d| d.as_array().ok().and_then(|a| a.first().cloned()))
            .and_then(|d| dict(Some(&d), r))
            .and_then(|d| dict(d.get("FontDescriptor"), r))
            .is_some_and(|d| has_file(&d)),
        _ => dict(font.get("FontDescriptor"), r).is_some_and(|d| has_file(&d)),
    }
}

fn resolved(p: Option<&Primitive>, r: &impl Resolve) -> Option<Primitive> {
    match p? {
        Primitive::Reference(id) => r.resolve(*id).ok(),
        p => Some(p.clone()),
    }
}

fn dict(p: Option<&Primitive>, r: &impl Resolve) -> Option<Dictionary> {
    match resolved(p, r)? {
        Primitive::Dictionary(d) => Some(d),
        Primitive::Stream(s) => Some(s.info),
        _ => None,
    }
}

fn stream(p: Option<&Primitive>, r: &impl Resolve) -> Option<PdfStream> {
    match resolved(p, r)? {
        Primitive::Stream(s) => Some(s),
        _ => None,
    }
}

fn name(p: Option<&Primitive>) -> Option<String> {
    match p? {
        Primitive::Name(n) => Some(n.as_str().to_string()),
        _ => None,
    }
}

fn text(p: Option<&Primitive>, r: &impl Resolve) -> Option<String> {
    match resolved(p, r)? {
        Primitive::String(s) => Some(s.to_string_lossy()),
        Primitive::Name(n) => Some(n.as_str().to_string()),
        _ => None,
    }
}

fn number_of(p: Option<&Primitive>, r: &impl Resolve) -> Option<f64> {
    match resolved(p, r)? {
        Primitive::Integer(i) => Some(f64::from(i)),
        Primitive::Number(n) => Some(f64::from(n)),
        _ => None,
    }
}

fn numbers(p: &Primitive, r: &impl Resolve) -> Option<Vec<f64>> {
    let array = resolved(Some(p), r)?;
    array.as_array().ok()?.iter().map(|x| number_of(Some(x), r)).collect()
}

/// A box as (x0, y0, x1, y1) with x0 < x1, y0 < y1.
fn rect(p: Option<&Primitive>, r: &impl Resolve) -> Option<[f64; 4]> {
    let v = numbers(p?, r)?;
    let [a, b, c, d] = <[f64; 4]>::try_from(v).ok()?;
    Some([a.min(c), b.min(d), a.max(c), b.max(d)])
}

/// A stream's decoded bytes, at most `max`; `None` when larger or filtered in a way not read
/// here (only none and FlateDecode without a predictor: what content and metadata use).
fn decode(s: &PdfStream, r: &impl Resolve, max: u64) -> Option<Vec<u8>> {
    let filters: Vec<String> = match resolved(s.info.get("Filter"), r) {
        None => vec![],
        Some(Primitive::Name(n)) => vec![n.as_str().to_string()],
        Some(Primitive::Array(a)) => a.iter().filter_map(|f| name(Some(f))).collect(),
        Some(_) => return None,
    };
    let predictor = dict(s.info.get("DecodeParms"), r).and_then(|p| number_of(p.get("Predictor"), r));
    if predictor.is_some_and(|p| p > 1.0) {
        return None;
    }
    let declared = number_of(s.info.get("Length"), r).unwrap_or(0.0);
    if declared > max as f64 {
        return None;
    }
    let raw = s.raw_data(r).ok()?;
    match filters.as_slice() {
        [] => (raw.len() as u64 <= max).then(|| raw.to_vec()),
        [f] if f == "FlateDecode" || f == "Fl" => {
            let mut out = Vec::new();
            let mut z = flate2::read::ZlibDecoder::new(&raw[..]).take(max + 1);
            z.read_to_end(&mut out).ok()?;
            (out.len() as u64 <= max).then_some(out)
        }
        _ => None,
    }
}

/// `GTS_PDFXVersion` from XMP, as an element or an attribute.
fn xmp_pdfx_version(xmp: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(xmp);
    let at = text.find("GTS_PDFXVersion")?;
    let rest = &text[at + "GTS_PDFXVersion".len()..];
    let value = if let Some(attr) = rest.strip_prefix("=\"").or_else(|| rest.strip_prefix("='")) {
        attr.split(['"', '\'']).next()?
    } else {
        rest.strip_prefix('>')?.split('<').next()?
    };
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmp_gives_the_pdfx_version_as_element_or_attribute() {
        let element =
            b"<rdf:Description><pdfxid:GTS_PDFXVersion>PDF/X-4</pdfxid:GTS_PDFXVersion></rdf:Description>";
        assert_eq!(xmp_pdfx_version(element).as_deref(), Some("PDF/X-4"));
        let attribute = b"<rdf:Description pdfxid:GTS_PDFXVersion=\"PDF/X-1a:2003\" />";
        assert_eq!(xmp_pdfx_version(attribute).as_deref(), Some("PDF/X-1a:2003"));
        assert_eq!(xmp_pdfx_version(b"<x:xmpmeta/>"), None);
    }
}
