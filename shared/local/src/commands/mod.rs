//! CLI commands with their own module (one file per command, beside `main.rs`).

pub mod plan;
