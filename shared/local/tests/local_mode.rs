//! `connector serve` on the simulators as a new user meets it (issue 17, item 5): the
//! variables it is given are honoured, the webhook secret is the documented one and printed,
//! `--listen 127.0.0.1:0` prints the bound address and the simulators', `reconcile` (also
//! `--rights`) on the same state reaches those simulators, and `POST /reconcile` takes mode
//! `rights`. Runs the real binary; a few seconds.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::{after, connector, get_json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn json_prefix(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::Deserializer::from_str(&text).into_iter::<Value>().next().expect("JSON on stdout").unwrap()
}

#[tokio::test]
async fn serve_on_the_simulators_honours_its_variables_and_tells_how_to_reach_it() {
    let state = tempfile::tempdir().unwrap();
    // A mapping config of the user's own (the example, at another path).
    let mapping = state.path().join("my-mapping.toml");
    std::fs::copy(repo().join("config/mapping.example.toml"), &mapping).unwrap();
    let envs = [
        ("MAPPING_CONFIG_PATH", mapping.display().to_string()),
        ("PUBLIC_BASE_URL", "http://connector.example.test".to_string()),
        ("MAX_RECEIVE_COUNT", "7".to_string()),
        ("PROCESSOR_CONCURRENCY", "3".to_string()),
    ];
    let stderr = state.path().join("serve.stderr");
    let (mut proc, lines) = support::serve(state.path(), &envs, Some(&stderr));

    // The bound address, not ":0", and it answers.
    let base = after(&lines, "connector serve: listening on ").to_string();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"), "{base}");
    let http = reqwest::Client::new();
    let health = get_json(&http, &format!("{base}/healthz")).await;
    assert_eq!(health["status"], "ok");

    // The variables reached the running connector, and no warning says otherwise.
    assert_eq!(after(&lines, "mapping config:"), mapping.display().to_string());
    let settings = after(&lines, "settings:");
    assert!(settings.contains("max receives 7"), "{settings}");
    assert!(settings.contains("processor concurrency 3"), "{settings}");
    assert!(settings.contains("public base URL http://connector.example.test;"), "{settings}");
    let logs = std::fs::read_to_string(&stderr).unwrap();
    assert!(!logs.contains("built-in example"), "{logs}");

    // The simulators' addresses; the OTMM one lists assets to approve.
    let otmm = after(&lines, "OTMM simulator:").split_whitespace().next().unwrap().to_string();
    let consonance = after(&lines, "Consonance simulator:").to_string();
    assert!(otmm.starts_with("http://127.0.0.1:") && consonance.starts_with("http://127.0.0.1:"));
    let assets = get_json(&http, &format!("{otmm}/__sim/otmm/assets")).await;
    assert!(assets["count"].as_u64().unwrap() > 0, "{assets}");

    // One webhook secret: the documented default, printed, and the one the signing script uses.
    let secret = after(&lines, "webhook secret OTMM:").split_whitespace().next().unwrap().to_string();
    assert_eq!(secret, connector::SIM_WEBHOOK_SECRET);
    for doc in ["events/README.md", "events/sign-webhook.py", "README.md"] {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        assert!(text.contains(&secret), "{doc} does not mention {secret}");
    }
    // The environment for other commands, printed and written down for the same state dir.
    let exported: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("export ")).collect();
    assert!(exported.contains(&format!("OTMM_BASE_URL={otmm}").as_str()), "{exported:?}");
    let env_file = state.path().join(connector::SERVE_ENV_FILE);
    assert!(env_file.exists());

    // `reconcile` on the same state reaches serve's simulators with no variable set.
    let full = connector().args(["reconcile", "--full", "--state-dir"]).arg(state.path()).output().unwrap();
    assert!(full.status.success(), "{}", String::from_utf8_lossy(&full.stderr));
    let summary = json_prefix(&full);
    assert_eq!(summary["mode"], "full");
    assert!(summary["works_seen"].as_u64().unwrap() > 0, "{summary}");
    let said = String::from_utf8_lossy(&full.stdout);
    assert!(said.contains("left to the worker of the running `connector serve`"), "{said}");
    let rights =
        connector().args(["reconcile", "--rights", "--state-dir"]).arg(state.path()).output().unwrap();
    assert!(rights.status.success(), "{}", String::from_utf8_lossy(&rights.stderr));
    let summary = json_prefix(&rights);
    assert_eq!(summary["mode"], "rights");
    assert!(summary["rights"].is_object(), "{summary}");

    // The rights pass through the API as well.
    let answer = http
        .post(format!("{base}/reconcile"))
        .json(&serde_json::json!({"mode": "rights"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["summary"]["mode"], "rights", "{body}");

    // A sample event signed by the script with its default secret is accepted. (Last: the
    // sample's asset is not in the simulator, so its message waits for a retry, which a
    // `reconcile` draining the queue would wait for.)
    let signed = Command::new("python3")
        .arg(repo().join("events/sign-webhook.py"))
        .arg(repo().join("events/webhook-otmm-asset-approved.json"))
        .env_remove("WEBHOOK_SECRET_OTMM")
        .output()
        .expect("python3 events/sign-webhook.py");
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let event: Value = serde_json::from_slice(&signed.stdout).unwrap();
    let mut post =
        http.post(format!("{base}/webhooks/otmm")).body(event["body"].as_str().unwrap().to_string());
    for (k, v) in event["headers"].as_object().unwrap() {
        if k != "content-length" && k != "host" {
            post = post.header(k.as_str(), v.as_str().unwrap());
        }
    }
    let answer = post.send().await.unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());

    // Stopping serve removes the file: its simulators are gone.
    assert!(proc.close_stdin_and_wait().success());
    assert!(!env_file.exists());
}

#[test]
fn serve_reads_the_mapping_config_it_is_given() {
    let state = tempfile::tempdir().unwrap();
    let broken = state.path().join("broken.toml");
    std::fs::write(&broken, "this is = = not toml").unwrap();
    let out = connector()
        .args(["serve", "--listen", "127.0.0.1:0", "--sim-titles", "2", "--state-dir"])
        .arg(state.path())
        .env("MAPPING_CONFIG_PATH", &broken)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml"), "{err}");
}

#[test]
fn reconcile_refuses_full_and_rights_together() {
    let out = connector().args(["reconcile", "--full", "--rights"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rights"));
}
