//! The readiness board in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `tests/browser/board.mjs` (playwright-core, installed by `scripts/test` with `npm ci`),
//! against the local runner's router on stored data. Checks each cell's computed colour against
//! the role state in the data, the order, the escaping of hostile titles, the audit links, and
//! that filtering by imprint, format, status and date range (in the page and as query
//! parameters) shows exactly the expected rows. Saves a screenshot to
//! `target/test-output/board.png`. Fails, never skips, when node or chromium is missing.

use connector::http;
use connector_core::readiness::TitleReadiness;
use connector_tests::api_seed::{self, HOSTILE_TITLE, IMPRINTS};
use connector_web::api;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn rgb(hex: &str) -> String {
    let n = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex colour");
    format!("rgb({}, {}, {})", n(1), n(3), n(5))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn expected_rows(reports: &[TitleReadiness], s: &Value) -> Vec<String> {
    let get = |k: &str| s[k].as_str().filter(|v| !v.is_empty());
    let kept: Vec<TitleReadiness> = reports
        .iter()
        .filter(|t| {
            get("imprint").is_none_or(|v| t.imprint.as_deref().is_some_and(|i| i.eq_ignore_ascii_case(v)))
        })
        .filter(|t| {
            get("form").is_none_or(|v| t.product_form.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(v)))
        })
        .filter(|t| get("status").is_none_or(|v| t.status.as_str() == v))
        .filter(|t| {
            get("from").is_none_or(|v| t.publication_date.is_some_and(|d| d.to_string().as_str() >= v))
        })
        .filter(|t| get("to").is_none_or(|v| t.publication_date.is_some_and(|d| d.to_string().as_str() <= v)))
        .cloned()
        .collect();
    api_seed::board_order(&kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run ./scripts/test, which installs Debian's chromium"
    );
    let browser_dir = root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/browser: run ./scripts/test (npm ci there)"
    );

    let dir = tempfile::tempdir().unwrap();
    let stores = connector::open_state(dir.path(), 5).unwrap();
    let seeded = api_seed::seed(&stores, 16).await;
    let addr = http::spawn(api::router(Arc::new(api::ApiDeps::new(stores))), "127.0.0.1:0").await.unwrap();
    let base = format!("http://{addr}");

    let scenarios = json!([
        {"imprint": IMPRINTS[2]},
        {"form": "DG"},
        {"from": "2027-01-01", "to": "2027-03-31"},
        {"imprint": IMPRINTS[1], "form": "AJ"},
        {"status": "blocked", "from": "2027-02-01"},
        {},
    ]);
    let out_dir = root().join("target/test-output");
    std::fs::create_dir_all(&out_dir).unwrap();
    let screenshot = out_dir.join("board.png");
    let _ = std::fs::remove_file(&screenshot);

    let board_url = format!("{base}/board");
    let scenarios_arg = scenarios.to_string();
    let shot = screenshot.to_string_lossy().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("board.mjs")
            .arg(&board_url)
            .arg(&shot)
            .arg(&scenarios_arg)
            .current_dir(&browser_dir)
            .env("CHROMIUM_PATH", &chromium)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (install Node.js: it is needed for the browser test)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "board.mjs failed: {stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).expect("board.mjs prints JSON");
    println!("board screenshot: {}", screenshot.display());

    let initial = &seen["initial"];
    assert_eq!(initial["status"], 200);
    assert_eq!(seen["dialogs"], json!([]), "no script from the data ran");
    assert_eq!(seen["errors"], json!([]), "the page's script runs without errors");
    assert_eq!(initial["scripts"], 1, "only the page's own script");
    let order = api_seed::board_order(&seeded.reports);
    assert_eq!(initial["all_rows"], json!(order), "one row per title, by publication date");
    assert_eq!(initial["rows"], json!(order), "nothing hidden without a filter");

    // Colours: every cell against the data; a role the form does not need is grey.
    let columns: Vec<String> = serde_json::from_value(initial["columns"].clone()).unwrap();
    let cells = initial["cells"].as_array().unwrap();
    assert_eq!(cells.len(), seeded.reports.len() * columns.len());
    let mut states_seen = std::collections::BTreeSet::new();
    for cell in cells {
        let isbn = cell["isbn"].as_str().unwrap();
        let role = cell["role"].as_str().unwrap();
        let report = seeded.reports.iter().find(|r| r.isbn.as_str() == isbn).expect("row of a seeded title");
        let want = match report.roles.iter().find(|r| r.role.as_str() == role) {
            Some(r) => {
                states_seen.insert(r.state);
                rgb(api::colour_of(r.state))
            }
            None => rgb("#f1f3f4"),
        };
        assert_eq!(cell["colour"].as_str(), Some(want.as_str()), "{isbn} {role}");
    }
    assert_eq!(states_seen.len(), api::ROLE_STATE_COLOURS.len(), "the data covers every state");
    for (state, colour) in api::ROLE_STATE_COLOURS {
        assert_eq!(
            initial["legend"][state.as_str()].as_str(),
            Some(rgb(colour).as_str()),
            "legend {state:?}"
        );
    }

    // Titles shown as text, hostile one included; each row links to its audit trail.
    for r in &seeded.reports {
        assert_eq!(initial["titles"][r.isbn.as_str()].as_str(), Some(r.title.as_str()));
        assert_eq!(
            initial["audit_links"][r.isbn.as_str()].as_str(),
            Some(format!("{base}/audit?title={}", r.isbn).as_str())
        );
    }
    assert!(seeded.reports.iter().any(|r| r.title == HOSTILE_TITLE));

    // Filters: in the page (instant) and as query parameters (server-side), the same rows.
    for (i, s) in scenarios.as_array().unwrap().iter().enumerate() {
        let want = expected_rows(&seeded.reports, s);
        if s.as_object().is_some_and(|o| !o.is_empty()) {
            assert!(!want.is_empty() && want.len() < order.len(), "scenario {s} must discriminate");
        }
        assert_eq!(seen["client"][i]["rows"], json!(want), "in-page filter {s}");
        assert_eq!(seen["server"][i]["rows"], json!(want), "query-parameter filter {s}");
        let count = format!("{} of {} titles", want.len(), order.len());
        assert_eq!(seen["client"][i]["count"].as_str(), Some(count.as_str()));
        assert_eq!(seen["server"][i]["count"].as_str(), Some(count.as_str()));
    }

    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
}
