//! CLI commands that live in their own module (one file per command), so `main.rs` only
//! parses and dispatches.

pub mod status;
