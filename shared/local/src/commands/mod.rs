//! The CLI's longer commands, one file each (the short ones stay in `main.rs`).

pub mod backfill;
pub mod plan;
pub mod status;
