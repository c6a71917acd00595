//! The fuzz targets (`fuzz/src/lib.rs`) over their seed corpus (`fuzz/corpus/<target>/`) and
//! every crash input the fuzzer found (`fuzz/regressions/<target>/`, kept as regression tests):
//! a smoke run in the suite, milliseconds. The long runs are `cargo fuzz` (docs/FUZZING.md).

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::PathBuf;

fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

fn run(target: &str, f: fn(&[u8])) {
    let seeds = inputs("corpus", target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seeds");
    for (path, bytes) in seeds.iter().chain(inputs("regressions", target).iter()) {
        let outcome = std::panic::catch_unwind(|| f(bytes));
        assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
    }
}

#[test]
fn webhook() {
    run("webhook", targets::webhook);
}

#[test]
fn otmm_answer() {
    run("otmm_answer", targets::otmm_answer);
}

#[test]
fn consonance_answer() {
    run("consonance_answer", targets::consonance_answer);
}

#[test]
fn mapping_config() {
    run("mapping_config", targets::mapping_config);
}
