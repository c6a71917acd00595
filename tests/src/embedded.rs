//! Embedded adapters on a fresh temporary directory per test.

use connector_store::conformance::Context;
use connector_store::embedded::{self, EmbeddedOptions};

/// A conformance context on its own SQLite file and staging folder. The directory lives as
/// long as the returned guard.
pub fn context(name: &str, max_receives: u32) -> (Context, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix(&format!("conformance-{name}-")).tempdir().expect("temp dir");
    let stores = embedded::open(dir.path(), EmbeddedOptions { max_receives }).expect("open embedded stores");
    (Context { stores, max_receives, name: name.to_string() }, dir)
}
