//! Small pieces every adapter needs: audit ids and checksums.

use chrono::{DateTime, Utc};
use connector_core::AuditId;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

/// A new audit id for an event at `at`: ULIDs from one monotonic generator, so ids made in
/// this process sort in the order they were made, even within one millisecond.
pub fn new_audit_id(at: DateTime<Utc>) -> AuditId {
    let mut guard = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    let id =
        generator.generate_from_datetime(at.into()).unwrap_or_else(|_| ulid::Ulid::from_datetime(at.into()));
    AuditId(id.to_string())
}

/// SHA-256 and MD5 computed together over a body that arrives in pieces.
#[derive(Default, Clone)]
pub struct Checksums {
    sha256: Sha256,
    md5: Md5,
    size: u64,
}

impl Checksums {
    pub fn update(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        self.md5.update(chunk);
        self.size += chunk.len() as u64;
    }
    /// (size, sha256 hex, md5 hex)
    pub fn finish(self) -> (u64, String, String) {
        (self.size, hex::encode(self.sha256.finalize()), hex::encode(self.md5.finalize()))
    }
    pub fn of(bytes: &[u8]) -> (u64, String, String) {
        let mut c = Checksums::default();
        c.update(bytes);
        c.finish()
    }
}

/// Whether a failure reading an upload's *source* stream (a file streamed from OTMM into
/// staging) may pass on another attempt: a timeout or a broken connection upstream, not the
/// staging backend's own fault. Both staging adapters ask here.
#[cfg(any(feature = "embedded", feature = "aws"))]
pub(crate) fn source_failure_is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), TimedOut | ConnectionReset | ConnectionAborted | Interrupted | UnexpectedEof)
}
