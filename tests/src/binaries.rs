//! The functions' native binaries (and the bare `lambda_runtime` hello of the cold-start
//! benchmark), built by cargo on demand: integration tests only get `CARGO_BIN_EXE_*` for
//! their own package's binaries, and these live in other workspace members.
//!
//! `cargo build` runs while `cargo test` runs the tests: cargo holds its build lock only while
//! compiling, so the nested build waits for nothing. It is a no-op when nothing changed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The four functions: binary name -> the template's logical id of its function.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("webhook-intake", "WebhookIntakeFunction"),
    ("flow-processor", "FlowProcessorFunction"),
    ("reconciler", "ReconcilerFunction"),
    ("api", "ApiFunction"),
];

/// The hello of the cold-start benchmark (tests/lambda-hello): a bare `lambda_runtime` echo.
pub const HELLO: &str = "lambda-hello";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Profile {
    /// The test profile (`target/debug`).
    Dev,
    /// The Lambda profile (`target/release`: fat LTO, opt-level "s", as `cargo lambda build --release`).
    Release,
}

/// Builds `packages` (each one's binary of the same name) in `profile` and returns
/// name -> path. One build per profile per process.
type Built = BTreeMap<(Profile, Vec<String>), BTreeMap<String, PathBuf>>;

pub fn build(profile: Profile, packages: &[&str]) -> BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let key = (profile, packages.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = built.get(&key) {
        return found.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::stack::repo_root()).args([
        "build",
        "--bins",
        "--message-format=json-render-diagnostics",
    ]);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building {packages:?} ({profile:?}) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut paths = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str())
            && packages.contains(&name)
        {
            paths.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    for p in packages {
        assert!(paths.contains_key(*p), "cargo built no binary {p}: {paths:?}");
    }
    built.insert(key, paths.clone());
    paths
}

/// The four functions in the test profile.
pub fn functions() -> BTreeMap<String, PathBuf> {
    let names: Vec<&str> = FUNCTIONS.iter().map(|(name, _)| *name).collect();
    build(Profile::Dev, &names)
}
