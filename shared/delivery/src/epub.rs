//! EPUB: the OCF container (`mimetype` first and stored, `META-INF/container.xml`), the
//! package document it names (version, unique identifier, schema.org accessibility
//! metadata), and EPUBCheck's verdict where it is installed.
//!
//! The archive is spooled (its directory is at the end) and read with `zip` and `quick-xml`.
//! Zip-bomb guards come before any entry is inflated: the entry count from the end record
//! (before `zip` builds its index), then every entry's declared size, the total and the
//! compression ratio; the two XML documents read are read through a byte cap, so an entry
//! that lies about its size still stops at the cap.

use crate::Options;
use crate::spool::{Spool, spool_as};
use connector_core::delivery::{EpubMeasurements, EpubcheckReport};
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DC: &str = "http://purl.org/dc/elements/1.1/";
/// Declared sizes below this are not held to the ratio guard (a small, very repetitive file
/// compresses well and is harmless).
const RATIO_FLOOR: u64 = 1 << 20;

pub(crate) fn measure(input: &mut impl Read, options: &Options) -> (EpubMeasurements, Option<String>) {
    let mut m = EpubMeasurements::default();
    let spooled = match spool_as(input, options, ".epub") {
        Ok(s) => s,
        Err(e) => return (m, Some(e)),
    };
    let problem = read(&spooled, options, &mut m).err();
    if let Some(epubcheck) = &options.epubcheck {
        m.epubcheck = run_epubcheck(epubcheck, spooled.file.path(), options.epubcheck_timeout);
    }
    (m, problem)
}

fn read(spooled: &Spool, options: &Options, m: &mut EpubMeasurements) -> Result<(), String> {
    let mut file = spooled.reopen().map_err(|e| format!("could not read the spool file: {e}"))?;
    let entries = entry_count(&mut file, spooled.len)?;
    if entries > options.zip_max_entries {
        return Err(format!("zip bomb guard: {entries} entries, the limit is {}", options.zip_max_entries));
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut zip =
        zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| format!("not a zip archive: {e}"))?;

    let mut total = 0u64;
    let mut first: Option<(u64, String, usize)> = None;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| format!("zip entry {i}: {e}"))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let (size, packed) = (entry.size(), entry.compressed_size());
        if size > options.zip_max_entry_bytes {
            return Err(format!(
                "zip bomb guard: {name} declares {size} bytes, the limit is {}",
                options.zip_max_entry_bytes
            ));
        }
        if size > RATIO_FLOOR && size / packed.max(1) > options.zip_max_ratio {
            return Err(format!(
                "zip bomb guard: {name} expands {size} bytes from {packed} ({}:1), the limit is {}:1",
                size / packed.max(1),
                options.zip_max_ratio
            ));
        }
        total = total.saturating_add(size);
        if total > options.zip_max_total_bytes {
            return Err(format!(
                "zip bomb guard: the entries declare more than {} bytes in all",
                options.zip_max_total_bytes
            ));
        }
        if first.as_ref().is_none_or(|(at, _, _)| entry.header_start() < *at) {
            first = Some((entry.header_start(), name, i));
        }
    }
    let (first_at, first_name, first_index) = first.ok_or("the archive is empty")?;
    m.first_entry = Some(first_name.clone());
    if first_name == "mimetype" {
        let stored = zip.by_index_raw(first_index).map(|e| e.compression() == zip::CompressionMethod::Stored);
        let no_extra = spooled.reopen().and_then(|mut f| local_extra_len(&mut f, first_at)).map(|n| n == 0);
        m.mimetype_stored = Some(stored.unwrap_or(false) && no_extra.unwrap_or(false));
        let content = read_entry(&mut zip, "mimetype", 256)?;
        m.mimetype_content = Some(String::from_utf8_lossy(&content).into_owned());
    }

    let Ok(container) = read_entry(&mut zip, "META-INF/container.xml", options.xml_max_bytes) else {
        return Err("no META-INF/container.xml".into());
    };
    m.container_xml = true;
    let path = rootfile(&container)?.ok_or("META-INF/container.xml names no package document (rootfile)")?;
    let opf = read_entry(&mut zip, &path, options.xml_max_bytes)
        .map_err(|e| format!("the package document {path}: {e}"))?;
    package_document(&opf, m).map_err(|e| format!("the package document {path}: {e}"))?;
    m.package_document = Some(path);
    Ok(())
}

/// Entries in the archive, from the end-of-central-directory record (ZIP64's when present).
fn entry_count(file: &mut File, len: u64) -> Result<u64, String> {
    let tail_len = len.min(22 + 65_535 + 20);
    file.seek(SeekFrom::Start(len - tail_len)).map_err(|e| e.to_string())?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or("not a zip archive: no end-of-central-directory record")?;
    let entries = u64::from(u16::from_le_bytes([tail[at + 10], tail[at + 11]]));
    if entries != 0xFFFF || at < 20 || tail[at - 20..at - 16] != [0x50, 0x4b, 0x06, 0x07] {
        return Ok(entries);
    }
    let le = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let record = le(&tail[at - 12..at - 4]);
    let mut zip64 = [0u8; 56];
    file.seek(SeekFrom::Start(record)).map_err(|e| e.to_string())?;
    file.read_exact(&mut zip64).map_err(|_| "not a zip archive: bad ZIP64 end record".to_string())?;
    Ok(le(&zip64[32..40]))
}

/// Length of the extra field in the local header at `at`.
fn local_extra_len(r: &mut (impl Read + Seek), at: u64) -> io::Result<u16> {
    let mut header = [0u8; 30];
    r.seek(SeekFrom::Start(at))?;
    r.read_exact(&mut header)?;
    Ok(u16::from_le_bytes([header[28], header[29]]))
}

/// An entry's bytes, at most `max` of them (whatever its header declares).
fn read_entry<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, name: &str, max: u64) -> Result<Vec<u8>, String> {
    let entry = zip.by_name(name).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    entry.take(max + 1).read_to_end(&mut out).map_err(|e| format!("{name}: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!("zip bomb guard: {name} inflates past {max} bytes"));
    }
    Ok(out)
}

/// The `full-path` of the first package document in container.xml.
fn rootfile(xml: &[u8]) -> Result<Option<String>, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| format!("META-INF/container.xml: {e}"))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "rootfile" => {
                let mut path = None;
                let mut media_type = None;
                for a in e.attributes().flatten() {
                    let v = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    match a.key.local_name().as_ref() {
                        "full-path" => path = Some(v),
                        "media-type" => media_type = Some(v),
                        _ => {}
                    }
                }
                if media_type.as_deref().is_none_or(|t| t == "application/oebps-package+xml")
                    && path.is_some()
                {
                    return Ok(path);
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
        buf.clear();
    }
}

/// What the package document says: version, unique identifier, accessibility metadata.
fn package_document(xml: &[u8], m: &mut EpubMeasurements) -> Result<(), String> {
    let mut reader = quick_xml::NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut unique_id: Option<String> = None;
    let mut identifiers: Vec<(Option<String>, String)> = Vec::new();
    // The element whose text is being collected: a dc:identifier (with its id) or a meta
    // property (with its name).
    enum Collect {
        Identifier(Option<String>),
        Property(String),
    }
    let mut collecting: Option<(Collect, String)> = None;
    let add_property = |m: &mut EpubMeasurements, property: &str, value: String| {
        if !property.starts_with("schema:access") {
            return;
        }
        match m.accessibility.iter_mut().find(|(p, _)| p == property) {
            Some((_, values)) => values.push(value),
            None => m.accessibility.push((property.to_string(), vec![value])),
        }
    };
    loop {
        let (ns, event) = reader.read_resolved_event_into(&mut buf).map_err(|e| e.to_string())?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let attr = |key: &str| {
                    e.attributes().flatten().find(|a| a.key.as_ref() == key).and_then(|a| {
                        a.normalized_value(XmlVersion::Implicit1_0).ok().map(|v| v.into_owned())
                    })
                };
                let local = e.local_name();
                let in_dc = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == DC);
                match local.as_ref() {
                    "package" if !in_dc => {
                        m.version = attr("version");
                        unique_id = attr("unique-identifier");
                    }
                    "identifier" if in_dc && !empty => {
                        collecting = Some((Collect::Identifier(attr("id")), String::new()));
                    }
                    "meta" if !in_dc => {
                        if let Some(property) = attr("property") {
                            if !empty {
                                collecting = Some((Collect::Property(property), String::new()));
                            }
                        } else if let (Some(name), Some(content)) = (attr("name"), attr("content")) {
                            // EPUB 2 style: <meta name="schema:accessMode" content="textual"/>.
                            add_property(m, &name, content);
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let Some((_, text)) = &mut collecting {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some((_, text)) = &mut collecting {
                    text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, text)) = &mut collecting {
                    let name = r.xml10_content();
                    let resolved =
                        r.resolve_char_ref().ok().flatten().map(String::from).or_else(|| {
                            quick_xml::escape::resolve_predefined_entity(&name).map(str::to_string)
                        });
                    text.push_str(&resolved.unwrap_or_default());
                }
            }
            Event::End(_) => {
                if let Some((what, text)) = collecting.take() {
                    let text = text.trim().to_string();
                    match what {
                        Collect::Identifier(id) => identifiers.push((id, text)),
                        Collect::Property(p) => add_property(m, &p, text),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if m.version.is_none() {
        return Err("no <package> element with a version".into());
    }
    m.identifier = identifiers
        .iter()
        .find(|(id, _)| id.is_some() && *id == unique_id)
        .or_else(|| unique_id.is_none().then(|| identifiers.first()).flatten())
        .map(|(_, v)| v.clone());
    Ok(())
}

/// EPUBCheck, if installed: `$EPUBCHECK` (a jar or a program), else Debian's
/// `/usr/share/java/epubcheck.jar` (package `epubcheck`) run with the `java` on the PATH.
/// Debian's `/usr/bin/epubcheck` is the jar itself, which runs only where binfmt_misc is set
/// up for jars (not in most containers), so the jar is run through `java -jar`.
pub fn find_epubcheck() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EPUBCHECK").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let jar = PathBuf::from("/usr/share/java/epubcheck.jar");
    let java = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .any(|dir| dir.join("java").is_file());
    (jar.is_file() && java).then_some(jar)
}

/// Runs EPUBCheck with a JSON report; `None` when it could not run or said nothing readable.
fn run_epubcheck(epubcheck: &Path, epub: &Path, timeout: Duration) -> Option<EpubcheckReport> {
    let report = tempfile::NamedTempFile::new().ok()?;
    let mut command = if epubcheck.extension().is_some_and(|e| e == "jar") {
        let mut java = Command::new("java");
        java.arg("-jar").arg(epubcheck);
        java
    } else {
        Command::new(epubcheck)
    };
    let mut child = command
        .arg(epub)
        .arg("--json")
        .arg(report.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        if child.try_wait().ok()?.is_some() {
            break;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let json: serde_json::Value =
        serde_json::from_reader(io::BufReader::new(File::open(report.path()).ok()?)).ok()?;
    let checker = &json["checker"];
    let count = |k: &str| checker[k].as_u64().unwrap_or(0) as u32;
    let first_message = json["messages"].as_array().and_then(|messages| {
        messages.iter().find(|msg| matches!(msg["severity"].as_str(), Some("FATAL" | "ERROR"))).map(|msg| {
            format!("{}: {}", msg["ID"].as_str().unwrap_or("?"), msg["message"].as_str().unwrap_or(""))
        })
    });
    Some(EpubcheckReport {
        version: checker["checkerVersion"].as_str().unwrap_or("?").to_string(),
        fatals: count("nFatal"),
        errors: count("nError"),
        warnings: count("nWarning"),
        first_message,
    })
}
