//! Simulators of OTMM and Consonance for tests, benchmarks and the local runner.
//!
//! Both are axum servers on a chosen loopback port, seeded from one [`catalogue::Catalogue`]
//! (so the ISBNs in OTMM metadata match the products in Consonance), with per-route fault
//! injection and a request log to assert on. [`chaos`] is a fault-mixing proxy for chaos runs.

pub mod catalogue;
pub mod chaos;
pub mod consonance;
pub mod content;
pub mod faults;
pub mod otmm;
