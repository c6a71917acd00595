//! The tee the packages code streams through: the bytes go on unchanged, the measurements are
//! the same as reading the file, and a failed or dropped stream says so.

use crate::support::{self, Colour};
use bytes::Bytes;
use delivery::{FileKind, Options, measure, tee};
use futures::StreamExt;
use std::io;

fn chunks(bytes: &[u8], size: usize) -> Vec<io::Result<Bytes>> {
    bytes.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tee_passes_every_byte_on_and_measures_the_same_as_a_read() {
    let bytes = support::jpeg(400, 600, Colour::Cmyk);
    for (kind, file) in [
        (FileKind::Image, bytes.clone()),
        (FileKind::PrintPdf, support::pdf(&support::PdfSpec::default())),
        (FileKind::Epub, support::epub(&support::EpubSpec::default())),
    ] {
        let (stream, meter) = tee(kind, "f", futures::stream::iter(chunks(&file, 777)), Options::default());
        let passed: Vec<Bytes> = stream.map(|c| c.unwrap()).collect().await;
        assert_eq!(passed.concat(), file);
        let teed = meter.finish().await;
        let read = measure(kind, "f", io::Cursor::new(&file), &Options::default());
        assert_eq!(teed, read);
        assert_eq!(teed.size_bytes, file.len() as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_is_a_problem_and_the_error_goes_on() {
    let bytes = support::jpeg(400, 600, Colour::Rgb);
    let mut items = chunks(&bytes[..1000], 500);
    items.push(Err(io::Error::other("connection reset")));
    let (stream, meter) = tee(FileKind::Image, "c.jpg", futures::stream::iter(items), Options::default());
    let passed: Vec<io::Result<Bytes>> = stream.collect().await;
    assert_eq!(passed.len(), 3);
    assert!(passed[2].is_err());
    let m = meter.finish().await;
    assert!(
        m.problem.as_deref().unwrap().contains("the source stream failed: connection reset"),
        "{:?}",
        m.problem
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_dropped_before_its_end_is_a_problem() {
    let bytes = support::pdf(&support::PdfSpec::default());
    let (stream, meter) =
        tee(FileKind::PrintPdf, "i.pdf", futures::stream::iter(chunks(&bytes, 1000)), Options::default());
    let mut stream = Box::pin(stream);
    let _ = stream.next().await;
    drop(stream);
    let m = meter.finish().await;
    assert!(m.problem.as_deref().unwrap().contains("dropped before its end"), "{:?}", m.problem);
}
