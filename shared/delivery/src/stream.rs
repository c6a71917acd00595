//! The seam in the packages code: [`tee`] passes a stream of chunks on unchanged while a
//! blocking task measures the same chunks (`Bytes` clones share the buffer, nothing is copied).
//! A bounded channel between them keeps memory flat: the upload waits for a slow checker
//! rather than the chunks piling up, and a checker that has seen enough (or failed) stops
//! receiving without holding the upload up.

use crate::{FileKind, Options, measure};
use bytes::Bytes;
use connector_core::delivery::{FileMeasurements, Purpose};
use futures::{Stream, StreamExt};
use std::io::{self, Read};
use tokio::sync::mpsc;

/// Chunks in flight between the stream and the checker.
const IN_FLIGHT: usize = 8;

enum Msg {
    Chunk(Bytes),
    End,
    Failed(String),
}

/// The measuring side of a [`tee`]; [`Meter::finish`] waits for its measurements.
pub struct Meter {
    task: tokio::task::JoinHandle<FileMeasurements>,
    kind: FileKind,
    file_name: String,
}

impl Meter {
    /// The file's measurements, once the stream has ended (or been dropped: then the
    /// measurement's `problem` says the stream stopped before its end).
    pub async fn finish(self) -> FileMeasurements {
        match self.task.await {
            Ok(m) => m,
            Err(e) => FileMeasurements {
                file_name: self.file_name,
                size_bytes: 0,
                purpose: Purpose::Main,
                problem: Some(format!("the checker stopped: {e}")),
                detail: crate::empty(self.kind),
            },
        }
    }
}

/// Measures `stream` as a `kind` file while passing it on. Needs a tokio runtime (the checker
/// runs on the blocking pool).
pub fn tee<S>(
    kind: FileKind,
    file_name: &str,
    stream: S,
    options: Options,
) -> (impl Stream<Item = io::Result<Bytes>> + Send + 'static, Meter)
where
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let name = file_name.to_string();
    let task = tokio::task::spawn_blocking(move || {
        measure(kind, &name, ChannelReader { rx, current: Bytes::new(), ended: false }, &options)
    });
    let passed_on = futures::stream::unfold((stream.boxed(), Some(tx)), |(mut stream, tx)| async move {
        match stream.next().await {
            Some(Ok(chunk)) => {
                if let Some(tx) = &tx {
                    // A closed channel means the checker is done: the bytes still go on.
                    let _ = tx.send(Msg::Chunk(chunk.clone())).await;
                }
                Some((Ok(chunk), (stream, tx)))
            }
            Some(Err(e)) => {
                if let Some(tx) = tx {
                    let _ = tx.send(Msg::Failed(e.to_string())).await;
                }
                Some((Err(e), (stream, None)))
            }
            None => {
                if let Some(tx) = tx {
                    let _ = tx.send(Msg::End).await;
                }
                None
            }
        }
    });
    (passed_on, Meter { task, kind, file_name: file_name.to_string() })
}

/// The checker's `Read` over the channel.
struct ChannelReader {
    rx: mpsc::Receiver<Msg>,
    current: Bytes,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Msg::Chunk(chunk)) => self.current = chunk,
                Some(Msg::End) => self.ended = true,
                Some(Msg::Failed(e)) => {
                    return Err(io::Error::other(format!("the source stream failed: {e}")));
                }
                None => return Err(io::Error::other("the stream was dropped before its end")),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
