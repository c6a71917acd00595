//! The crate map of ARCHITECTURE.md, checked: every workspace crate depends (normal
//! dependencies, optional ones included) only on the workspace crates the map allows, the
//! crates below the entry points pull in none of the runtimes and transports they must not, and
//! each Lambda function's `main.rs` stays thin. A new crate fails until it is placed here and
//! in the map.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Workspace crates each crate may depend on. `connector-tests` may use anything.
const MAY_DEPEND_ON: &[(&str, &[&str])] = &[
    ("connector-core", &[]),
    ("connector-metrics", &[]),
    ("connector-http", &["connector-metrics"]),
    ("otmm-client", &["connector-core", "connector-http"]),
    ("consonance-client", &["connector-core", "connector-http"]),
    ("delivery", &["connector-core"]),
    ("connector-store", &["connector-core"]),
    ("connector-sim", &["connector-core"]),
    (
        "connector-app",
        &[
            "connector-core",
            "connector-store",
            "connector-http",
            "connector-metrics",
            "otmm-client",
            "consonance-client",
            "delivery",
        ],
    ),
    ("connector-web", &["connector-core", "connector-store", "connector-metrics", "connector-app"]),
    (
        "connector",
        &[
            "connector-core",
            "connector-store",
            "connector-http",
            "connector-metrics",
            "connector-app",
            "connector-sim",
            "connector-web",
        ],
    ),
    ("webhook-intake", &["connector-web", "connector-store", "connector-metrics"]),
    ("api", &["connector-web", "connector-app", "connector-store", "connector-metrics"]),
    ("flow-processor", &["connector-app", "connector-store", "connector-metrics"]),
    ("reconciler", &["connector-app", "connector-store", "connector-metrics"]),
    ("lambda-hello", &[]),
];

/// External crates (by name prefix) a crate must not depend on.
const MUST_NOT_PULL: &[(&str, &[&str])] = &[
    // Pure domain: no AWS, no HTTP, no async runtime, no database.
    ("connector-core", &["aws", "tokio", "futures", "reqwest", "hyper", "axum", "lambda", "rusqlite"]),
    // The handlers reach the systems through their clients and state through the store ports.
    ("connector-app", &["aws", "reqwest", "hyper", "axum", "lambda", "rusqlite"]),
    ("connector-store", &["reqwest", "hyper", "axum", "lambda"]),
    ("otmm-client", &["aws", "axum", "lambda", "rusqlite"]),
    ("consonance-client", &["aws", "axum", "lambda", "rusqlite"]),
    ("connector-http", &["aws", "axum", "lambda", "rusqlite"]),
    ("delivery", &["aws", "reqwest", "hyper", "axum", "lambda", "rusqlite"]),
];

const MAX_MAIN_LINES: usize = 40;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Each workspace crate's normal dependencies, by crate name.
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata answers JSON");
    let mut crates = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let normal = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .collect();
        crates.insert(package["name"].as_str().unwrap_or_default().to_string(), normal);
    }
    crates
}

#[test]
fn workspace_crates_depend_only_on_what_the_map_allows() {
    let crates = dependencies();
    let allowed: BTreeMap<&str, &[&str]> = MAY_DEPEND_ON.iter().copied().collect();
    let mut wrong = Vec::new();
    for (name, deps) in &crates {
        if name == "connector-tests" {
            continue;
        }
        let Some(may) = allowed.get(name.as_str()) else {
            wrong.push(format!("{name} is not in the map (ARCHITECTURE.md and this test)"));
            continue;
        };
        for dep in deps.iter().filter(|d| crates.contains_key(*d)) {
            if !may.contains(&dep.as_str()) {
                wrong.push(format!("{name} depends on {dep}"));
            }
        }
    }
    assert!(wrong.is_empty(), "the crate map is broken:\n{}", wrong.join("\n"));
}

#[test]
fn lower_crates_pull_no_runtime_or_transport_they_must_not() {
    let crates = dependencies();
    let mut wrong = Vec::new();
    for (name, forbidden) in MUST_NOT_PULL {
        let deps = crates.get(*name).unwrap_or_else(|| panic!("no crate {name} in the workspace"));
        for dep in deps {
            if forbidden.iter().any(|f| dep.starts_with(f)) {
                wrong.push(format!("{name} depends on {dep}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn each_function_main_stays_thin() {
    for function in ["webhook-intake", "flow-processor", "reconciler", "api"] {
        let path = root().join("functions").join(function).join("src/main.rs");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lines = text.lines().count();
        assert!(lines <= MAX_MAIN_LINES, "{} has {lines} lines (at most {MAX_MAIN_LINES})", path.display());
    }
}
