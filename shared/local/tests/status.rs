//! The local counters (issue 17, item 1): `GET /metrics` from a running `connector serve`
//! after an approval travelled the webhook path, and `connector status` on the same state
//! (its counters, the last reconcile run) and on a state with a dead letter (by cause, "serve
//! not running"). Runs the real binary.

mod support;

use connector_metrics::text;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{after, connector, get_json};

fn status_json(state: &Path) -> Value {
    let out = connector().args(["status", "--json", "--state-dir"]).arg(state).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

async fn samples(http: &reqwest::Client, base: &str) -> Vec<text::Sample> {
    let resp = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    text::parse(&resp.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn serve_counts_an_approval_and_status_shows_it() {
    let state = tempfile::tempdir().unwrap();
    let (mut proc, lines) = support::serve(state.path(), &[], None);
    let base = after(&lines, "connector serve: listening on ").to_string();
    let otmm = after(&lines, "OTMM simulator:").split_whitespace().next().unwrap().to_string();
    let http = reqwest::Client::new();
    let before = samples(&http, &base).await;
    assert_eq!(text::total(&before, "events_processed", &[]), 0.0, "{before:?}");

    // Approve a cover: the simulator posts the signed webhook, the worker processes it.
    let assets = get_json(&http, &format!("{otmm}/__sim/otmm/assets?role=front_cover")).await;
    let asset = &assets["assets"][0];
    let approve = serde_json::json!({
        "original_asset_id": asset["original_asset_id"], "version": asset["version"], "approver": "status.test"
    });
    let answer = http.post(format!("{otmm}/__sim/otmm/approve")).json(&approve).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.text().await.unwrap());

    let deadline = Instant::now() + Duration::from_secs(30);
    let after_approval = loop {
        let now = samples(&http, &base).await;
        if text::total(&now, "events_processed", &[("source", "otmm"), ("outcome", "done")]) >= 1.0 {
            break now;
        }
        assert!(Instant::now() < deadline, "the approval was not processed: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let accepted = [("source", "otmm"), ("outcome", "accepted"), ("status", "202")];
    assert!(text::total(&after_approval, "webhook_requests", &accepted) >= 1.0, "{after_approval:?}");
    assert!(text::total(&after_approval, "external_calls", &[("system", "otmm")]) >= 1.0);
    assert!(text::total(&after_approval, "external_calls", &[("system", "consonance")]) >= 1.0);
    assert!(text::total(&after_approval, "external_call_latency_ms", &[]) >= 0.0);

    // A reconcile run beside serve is recorded in the audit trail; status shows it and the
    // counters of the running serve (found through the state directory).
    let run = connector().args(["reconcile", "--state-dir"]).arg(state.path()).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let status = status_json(state.path());
    assert_eq!(status["serve"]["running"], true, "{status}");
    assert_eq!(status["serve"]["url"], base.as_str());
    let counters = status["serve"]["counters"].as_array().unwrap();
    let done = counters.iter().find(|c| {
        c["name"] == "events_processed" && c["labels"]["outcome"] == "done" && c["labels"]["source"] == "otmm"
    });
    assert!(done.is_some_and(|c| c["value"].as_f64() >= Some(1.0)), "{status}");
    assert_eq!(status["last_reconcile"]["summary"]["mode"], "incremental", "{status}");
    assert_eq!(status["queue"]["dead_letters"], 0);

    // The table says the same.
    let table = connector().args(["status", "--state-dir"]).arg(state.path()).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("events_processed{outcome=\"done\",source=\"otmm\"}"), "{table}");
    assert!(table.contains("last reconcile run: 20"), "{table}");

    // Stopping serve removes its URL: status says serve is not running.
    assert!(proc.close_stdin_and_wait().success());
    let status = status_json(state.path());
    assert_eq!(status["serve"]["running"], false);
    assert!(status["serve"]["note"].as_str().unwrap().starts_with("serve not running"), "{status}");
}

#[tokio::test]
async fn status_shows_dead_letters_by_cause() {
    let state = tempfile::tempdir().unwrap();
    let catalogue = connector_sim::catalogue::Catalogue::generate(2, 7, chrono::Utc::now());
    let sims = connector::Simulators::start(&catalogue, None, connector::SIM_WEBHOOK_SECRET).await;
    let env: std::collections::BTreeMap<String, String> = sims.env().into_iter().collect();
    let stores = connector::open_state(state.path(), 5).unwrap();
    let app = connector::app_from_env(stores.clone(), &|k: &str| env.get(k).cloned(), None, None).unwrap();
    stores.queue.send("this is not a flow message").await.unwrap();
    stores.queue.send("nor is this").await.unwrap();
    let report = connector::worker::drain(&app, Duration::from_secs(30), |_| {}).await.unwrap();
    assert_eq!(report.dead_lettered, 2);

    let status = status_json(state.path());
    assert_eq!(status["queue"]["dead_letters"], 2, "{status}");
    assert_eq!(status["dead_letters_by_cause"], serde_json::json!({"message_unreadable": 2}), "{status}");
    assert_eq!(status["last_reconcile"], Value::Null);
    assert_eq!(status["serve"]["running"], false);
    // Against a serve URL that does not answer, it says so too.
    let out = connector()
        .args(["status", "--serve", "http://127.0.0.1:9", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("message_unreadable") && text.contains("2"), "{text}");
    assert!(text.contains("serve not running (http://127.0.0.1:9/metrics"), "{text}");
}
