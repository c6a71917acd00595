//! Delivery checks on real files the tests make: measured by the `delivery` crate, judged by
//! `connector_core::delivery::evaluate` against the recipients' specs.

mod support;

mod audio;
mod epub;
mod images;
mod pdf;
mod stream;

use connector_core::delivery::{
    Check, CheckResult, DeliverySpec, FileMeasurements, PackageMeasurements, evaluate, failures,
};
use delivery::{FileKind, Options, measure};

pub fn measured(kind: FileKind, name: &str, bytes: &[u8]) -> FileMeasurements {
    measured_with(kind, name, bytes, &Options::default())
}

pub fn measured_with(kind: FileKind, name: &str, bytes: &[u8], options: &Options) -> FileMeasurements {
    let m = measure(kind, name, std::io::Cursor::new(bytes), options);
    assert_eq!(m.size_bytes, bytes.len() as u64, "every byte is counted");
    m
}

pub fn verdict(spec: &DeliverySpec, files: Vec<FileMeasurements>) -> Vec<CheckResult> {
    evaluate(spec, &PackageMeasurements { isbn: support::ISBN.into(), files })
}

pub fn failed(results: &[CheckResult]) -> Vec<Check> {
    failures(results).map(|r| r.check).collect()
}

pub fn result(results: &[CheckResult], check: Check) -> &CheckResult {
    results.iter().find(|r| r.check == check).unwrap_or_else(|| panic!("no {check} in {results:#?}"))
}
