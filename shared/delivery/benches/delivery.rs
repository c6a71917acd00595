//! Memory and speed of the delivery checks on big files (issue 18): a 500 MB MP3 and a 300 MB
//! print PDF, each streamed in 64 KiB chunks through `delivery::tee` into a sink (what the
//! packages code does on its way to `Staging::put_stream`), against the same stream into the
//! same sink without checking, and with the SHA-256 + MD5 that `Staging::put_stream` computes
//! on the way anyway (for scale). Each run is its own child process, so its peak resident set
//! (`VmHWM`, file-backed pages of the PDF's memory map included) is the run's alone.
//!
//! `cargo bench -p delivery --bench delivery`; `BENCH_AUDIO_MB`, `BENCH_PDF_MB` (500, 300)
//! set the sizes, `BENCH_PDF_IMAGE_KB` (3000) the PDF's image size, `BENCH_DIR` where the files go (a temporary directory by default).
//! Fails when a check's peak RSS passes `BENCH_RSS_LIMIT_MB` (64).

#[path = "../tests/checks/support.rs"]
mod support;

use bytes::Bytes;
use connector_core::delivery::{DeliverySpec, Measured, PackageMeasurements, evaluate, failures};
use delivery::{FileKind, Options, tee};
use futures::StreamExt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const CHUNK: usize = 64 * 1024;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        child(&args[at + 1], Path::new(&args[at + 2]), &args[at + 3]);
        return;
    }
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("delivery-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).expect("bench dir");
    let limit_mb = env_u64("BENCH_RSS_LIMIT_MB", 64);

    let started = Instant::now();
    let audio = dir.join("long.mp3");
    let audio_bytes = write_mp3(&audio, env_u64("BENCH_AUDIO_MB", 500) << 20);
    let pdf = dir.join("interior.pdf");
    let pdf_bytes = write_pdf(&pdf, env_u64("BENCH_PDF_MB", 300) << 20);
    println!(
        "generated {:.0} MB MP3 and {:.0} MB PDF in {:.1}s under {}",
        audio_bytes as f64 / 1e6,
        pdf_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        dir.display()
    );

    let mut over = false;
    println!(
        "| file | size | read only: time, peak RSS | read + SHA-256 + MD5: time | checked: time, peak RSS | checked MB/s | checked / read only | checked / read + hashes |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (kind, path) in [("audio", &audio), ("pdf", &pdf)] {
        let plain = run(kind, path, "plain");
        let hashed = run(kind, path, "hash");
        let checked = run(kind, path, "check");
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64;
        println!(
            "| {kind} | {:.0} MB | {:.2} s, {:.1} MB | {:.2} s | {:.2} s, {:.1} MB | {:.0} | {:.1} | {:.2} |",
            size / 1e6,
            plain.seconds,
            plain.rss_kb as f64 / 1024.0,
            hashed.seconds,
            checked.seconds,
            checked.rss_kb as f64 / 1024.0,
            size / 1e6 / checked.seconds,
            checked.seconds / plain.seconds,
            checked.seconds / hashed.seconds
        );
        println!("  {kind} measured: {}", checked.summary);
        over |= checked.rss_kb > limit_mb * 1024;
    }
    if std::env::var_os("BENCH_DIR").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if over {
        eprintln!("a check's peak RSS passed {limit_mb} MB");
        std::process::exit(1);
    }
}

struct Run {
    seconds: f64,
    rss_kb: u64,
    summary: String,
}

fn run(kind: &str, path: &Path, mode: &str) -> Run {
    let exe = std::env::current_exe().expect("bench binary");
    let out =
        Command::new(exe).args(["--child", kind, &path.to_string_lossy(), mode]).output().expect("child");
    assert!(out.status.success(), "child {kind} {mode} failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let mut parts = line.splitn(3, '\t');
    Run {
        seconds: parts.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN),
        rss_kb: parts.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        summary: parts.next().unwrap_or("").to_string(),
    }
}

/// The child: stream the file through the tee (or not) into a sink; print seconds, peak RSS
/// and a summary of the measurements.
fn child(kind: &str, path: &Path, mode: &str) {
    let kind = match kind {
        "audio" => FileKind::Audio,
        _ => FileKind::PrintPdf,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let summary = runtime.block_on(async {
        let file = std::fs::File::open(path).expect("bench file");
        let source = futures::stream::unfold(file, |mut f| async move {
            let mut buf = vec![0u8; CHUNK];
            match f.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        });
        if mode == "hash" {
            use sha2::Digest;
            let mut sha = sha2::Sha256::new();
            let mut md5 = md5::Md5::new();
            let mut source = Box::pin(source);
            while let Some(chunk) = source.next().await {
                let chunk = chunk.unwrap();
                sha.update(&chunk);
                md5.update(&chunk);
            }
            format!("sha256 {:x}, md5 {:x}", sha.finalize(), md5.finalize())
        } else if mode == "plain" {
            let bytes: usize = source
                .map(|c: std::io::Result<Bytes>| c.unwrap().len())
                .fold(0, |a, n| async move { a + n })
                .await;
            format!("{bytes} bytes read")
        } else {
            let (stream, meter) = tee(kind, "bench", source, Options::default());
            let bytes: usize = stream.map(|c| c.unwrap().len()).fold(0, |a, n| async move { a + n }).await;
            let m = meter.finish().await;
            assert_eq!(m.size_bytes, bytes as u64);
            let spec = match kind {
                FileKind::Audio => DeliverySpec::audiobook_retailer(),
                _ => DeliverySpec::printer(),
            };
            let results =
                evaluate(&spec, &PackageMeasurements { isbn: support::ISBN.into(), files: vec![m.clone()] });
            let failed: Vec<String> = failures(&results).map(|r| r.check.to_string()).collect();
            let figures = match &m.detail {
                Measured::Audio(a) => format!(
                    "{:.1} min, {} frames, {:?} kb/s, rms {:.1} dB, peak {:.1} dB, floor {:.1} dB",
                    a.duration_s / 60.0,
                    a.frames,
                    a.bitrates_kbps,
                    a.rms_db.unwrap_or(f64::NAN),
                    a.peak_db.unwrap_or(f64::NAN),
                    a.noise_floor_db.unwrap_or(f64::NAN)
                ),
                Measured::PrintPdf(p) => format!(
                    "{} pages, {} fonts, bleed {:?} mm, {} images, min {:?} ppi",
                    p.pages.unwrap_or(0),
                    p.fonts,
                    p.min_bleed_mm,
                    p.images_measured,
                    p.min_image_ppi
                ),
                other => format!("{other:?}"),
            };
            format!("{figures}; problem {:?}; failed {failed:?}", m.problem)
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    println!("{seconds:.3}\t{}\t{summary}", peak_rss_kb());
}

/// A long MP3: one minute of chapter-like audio (room tone, a tone, room tone) encoded once
/// at 192 kb/s CBR without a tag frame, its frames repeated to `bytes`.
fn write_mp3(path: &Path, bytes: u64) -> u64 {
    use mp3lame_encoder::{Bitrate, Builder, FlushGap, MonoPcm, Quality};
    let pcm = support::chapter(44_100, 0.7, 57.0, 2.3, 0.158, -65.0);
    let mut b = Builder::new().expect("lame");
    b.set_num_channels(1).unwrap();
    b.set_sample_rate(44_100).unwrap();
    b.set_brate(Bitrate::Kbps192).unwrap();
    b.set_quality(Quality::Good).unwrap();
    b.set_to_write_vbr_tag(false).unwrap();
    let mut enc = b.build().expect("lame init");
    let mut segment = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(pcm.len()));
    enc.encode_to_vec(MonoPcm(&pcm[..]), &mut segment).unwrap();
    segment.reserve(7200);
    enc.flush_to_vec::<FlushGap>(&mut segment).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("mp3 file"));
    let mut written = 0u64;
    while written < bytes {
        out.write_all(&segment).unwrap();
        written += segment.len() as u64;
    }
    out.flush().unwrap();
    written
}

/// A print PDF of one image per page, `BENCH_PDF_IMAGE_KB` each (3,000: 1,000 × 1,000 RGB),
/// drawn over 3.33 in (300 ppi). Smaller images mean more pages and objects for the same size.
fn write_pdf(path: &Path, bytes: u64) -> u64 {
    let per_image = env_u64("BENCH_PDF_IMAGE_KB", 3000) as usize * 1000;
    let spec = support::PdfSpec {
        pages: (bytes as usize / per_image).max(1),
        image: Some((1000, 1000, 240.0, 240.0)),
        image_bytes: per_image,
        ..support::PdfSpec::default()
    };
    support::write_pdf(&spec, std::fs::File::create(path).expect("pdf file")).expect("pdf")
}
