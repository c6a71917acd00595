//! The OpenAPI document against the running API: schemathesis (pinned, in its own venv made by
//! `scripts/test`; path in `SCHEMATHESIS`, default `.venv/schemathesis/bin/schemathesis`)
//! generates requests from `/openapi.json` for every operation, valid and invalid, and checks
//! each answer: no 5xx, status codes, content types, headers and bodies as documented,
//! invalid input refused, undocumented methods answered 405. Left out: `ignored_auth` and
//! `object_level_authorization` (authentication is API Gateway's, not the function's, and
//! locally there is none) and `positive_data_acceptance` (a string the schema allows as an
//! ISBN can fail its check digit, and `/audit` needs exactly one of two optional parameters,
//! which OpenAPI cannot express: 400 is right there). The document is the one the server
//! serves, less its `security` requirements: in AWS API Gateway checks the JWT or SigV4 before
//! the function runs, and the local server has no authentication, so schemathesis would
//! otherwise report every route for answering without an `Authorization` header. Bounded: few
//! examples per operation and a hard time limit. Runs on the embedded backend with the
//! simulators behind `/reconcile`.

use connector_tests::api_seed;
use connector_tests::e2e::{Backend, Harness};
use connector_web::api;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,\
missing_required_header,unsupported_method,allow_header_conformance,use_after_free,\
ensure_resource_availability";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_holds_against_the_running_api() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let bin = std::env::var("SCHEMATHESIS")
        .unwrap_or_else(|_| root.join(".venv/schemathesis/bin/schemathesis").to_string_lossy().into_owned());
    assert!(
        Path::new(&bin).exists(),
        "schemathesis not found at {bin}: run ./scripts/test, which installs it"
    );

    let h = Harness::start(Backend::Embedded, "api_openapi", 3).await;
    api_seed::seed(&h.app.stores, 10).await;
    let deps = api::ApiDeps::for_app(h.app.clone());
    let addr = connector::http::spawn(api::router(Arc::new(deps)), "127.0.0.1:0").await.unwrap();
    let base = format!("http://{addr}");

    let out_dir = root.join("target/test-output");
    std::fs::create_dir_all(&out_dir).unwrap();
    let started = std::time::Instant::now();
    // The served document, without the security requirements (see above).
    let mut doc: serde_json::Value =
        reqwest::get(format!("{base}/openapi.json")).await.unwrap().json().await.expect("served document");
    assert_eq!(doc, serde_json::from_str::<serde_json::Value>(api::OPENAPI_JSON).unwrap());
    for item in doc["paths"].as_object_mut().unwrap().values_mut() {
        for op in item.as_object_mut().unwrap().values_mut() {
            op.as_object_mut().unwrap().remove("security");
        }
    }
    let schema_file = out_dir.join("openapi.local.json");
    std::fs::write(&schema_file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let schema_url = schema_file.to_string_lossy().into_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["--kill-after=5", "110"])
            .arg(&bin)
            .args(["run", &schema_url, "--url", &base, "--checks", CHECKS])
            .args(["--max-examples", "25", "--workers", "1", "--phases", "examples,coverage,fuzzing"])
            .args(["--suppress-health-check", "all", "--no-color"])
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(&out_dir)
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    println!("schemathesis took {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(
        output.status.success(),
        "schemathesis found problems (exit {:?}); see above",
        output.status.code()
    );
    // It really tested every operation, and every case passed.
    let n = api::ROUTES.len();
    assert!(stdout.contains(&format!("{n} selected / {n} total")), "every operation selected");
    assert!(stdout.contains(&format!("Tested: {n}")), "every operation tested");
}
