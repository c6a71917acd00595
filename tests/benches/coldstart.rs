//! Cold start and memory of each function's binary in the Lambda environment emulator
//! (tests/src/lambda.rs), against a bare `lambda_runtime` hello built with the same profile in
//! the same run (tests/lambda-hello).
//!
//! `cargo bench -p connector-tests --bench coldstart` (`BENCH_ROUNDS`, default 9) builds the
//! four functions and the hello with `--release` (the Lambda profile: fat LTO, opt-level "s"),
//! deploys the stack to the IAM-enforcing moto (scripts/test's, or one it starts), and per round
//! starts each binary in a fresh environment with its deployed environment and role:
//! - init: exec to the first `next` poll (Lambda's Init Duration);
//! - first invocation: a representative event of its source (a signed webhook, the batch with
//!   that webhook's message, the incremental schedule, `GET /titles/{isbn}/readiness`), submit
//!   to response: what the first caller waits for beyond init;
//! - peak RSS (`VmHWM`) after it.
//!
//! Prints medians and the ratio to the hello; recorded in docs/PERFORMANCE.md. Without
//! `--bench` (a smoke run) it uses the test profile and one round.

use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use connector::{SIM_WEBHOOK_SECRET, Simulators};
use connector_core::signature::sign;
use connector_store::Queue;
use connector_tests::binaries::{self, FUNCTIONS, HELLO, Profile};
use connector_tests::lambda::{Environment, FunctionConfig};
use connector_tests::packages::{BB, catalogue, default_specs, isbn_of, lineage};
use connector_tests::sources::{HttpRequest, http_event, match_route, schedule_payload};
use connector_tests::stack::{self, IamMoto};
use connector_tests::stack_harness::{AdminStores, deploy_spec};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Default)]
struct Figures {
    init_ms: Vec<f64>,
    first_ms: Vec<f64>,
    rss_kb: Vec<u64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn webhook_event(deployed: &stack::Deployed, round: usize) -> Value {
    let api = deployed.http_apis.iter().find(|a| a.logical_id == "WebhookApi").expect("WebhookApi");
    let route = &api.routes[0];
    let body = json!({
        "event_id": format!("bench-coldstart-{round}-{}", uuid::Uuid::new_v4().simple()),
        "event_type": "asset.approved", "otmm_event_id": 80008,
        "asset_id": lineage(4), "version": 1, "occurred_at": chrono::Utc::now().to_rfc3339(),
        "actor": {"user_id": "bench", "name": "Bench"}
    })
    .to_string();
    let ts = chrono::Utc::now().timestamp();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-signature-timestamp", HeaderValue::from_str(&ts.to_string()).unwrap());
    headers.insert(
        "x-signature-256",
        HeaderValue::from_str(&sign(SIM_WEBHOOK_SECRET.as_bytes(), ts, body.as_bytes())).unwrap(),
    );
    let uri: Uri = "/webhooks/otmm".parse().unwrap();
    let params = match_route(&route.path, uri.path()).expect("the webhook route");
    let request = HttpRequest { method: &Method::POST, uri: &uri, headers: &headers, body: body.as_bytes() };
    http_event(&deployed.api_id("WebhookApi"), &deployed.region, route, &params, &request)
}

fn readiness_event(deployed: &stack::Deployed) -> Value {
    let api = deployed.http_apis.iter().find(|a| a.logical_id == "PeopleApi").expect("PeopleApi");
    let route = api.routes.iter().find(|r| r.path == "/titles/{isbn}/readiness").expect("readiness route");
    let uri: Uri = format!("/titles/{}/readiness", isbn_of(BB)).parse().unwrap();
    let params = match_route(&route.path, uri.path()).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_static("Bearer bench"));
    let request = HttpRequest { method: &Method::GET, uri: &uri, headers: &headers, body: b"" };
    http_event(&deployed.api_id("PeopleApi"), &deployed.region, route, &params, &request)
}

/// The SQS batch the mapping would send for the next message on the flow queue.
async fn next_batch(admin: &AdminStores, deployed: &stack::Deployed) -> (Value, String) {
    let messages = admin.queue.receive(1, Duration::from_secs(60)).await.expect("receive");
    let m = messages.first().expect("the intake enqueued a message");
    let arn = &deployed.event_source_mappings[0].event_source_arn;
    let record = json!({
        "messageId": m.message_id, "receiptHandle": m.receipt, "body": m.body,
        "attributes": {"ApproximateReceiveCount": m.receive_count.to_string(),
                       "SentTimestamp": m.sent_at.timestamp_millis().to_string(),
                       "SenderId": "AROABENCH:webhook-intake",
                       "ApproximateFirstReceiveTimestamp": m.sent_at.timestamp_millis().to_string()},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": arn, "awsRegion": deployed.region,
    });
    (json!({"Records": [record]}), m.receipt.clone())
}

async fn measure(env: Environment, payload: &Value, figures: &mut Figures) {
    let init = env
        .init_duration(Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", env.config.name));
    let first = env.invoke(payload).await;
    if let Err(e) = &first.result {
        panic!("{}: first invocation failed: {e}\n{}", env.config.name, env.logs());
    }
    figures.init_ms.push(ms(init));
    figures.first_ms.push(ms(first.duration));
    figures.rss_kb.push(env.peak_rss_kb());
    env.stop();
}

fn hello_config(like: &FunctionConfig) -> FunctionConfig {
    FunctionConfig { name: HELLO.into(), arn: like.arn.replace(&like.name, HELLO), ..like.clone() }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 9 } else { 1 });
    let profile = if measuring { Profile::Release } else { Profile::Dev };
    let mut packages: Vec<&str> = FUNCTIONS.iter().map(|(bin, _)| *bin).collect();
    packages.push(HELLO);
    eprintln!("building {packages:?} ({profile:?})...");
    let bins = tokio::task::spawn_blocking(move || binaries::build(profile, &packages)).await.unwrap();

    let (moto, _guard) = IamMoto::from_env_or_spawn();
    let sims = Simulators::start(&catalogue(&default_specs(), &[]), None, SIM_WEBHOOK_SECRET).await;
    let name = stack::stack_name("coldstart");
    let deployed = stack::deploy(&moto, &name, &deploy_spec(&name, &sims)).await;
    let admin = AdminStores::new(&moto, &deployed).await;
    let incremental =
        deployed.schedules.iter().find(|s| s.input.is_none()).expect("the incremental schedule");

    // BENCH_ENV_DIR: each function's environment (JSON), to study its init by hand, e.g. under
    // strace with AWS_LAMBDA_RUNTIME_API pointing nowhere (init ends at that connect).
    if let Some(dir) = std::env::var_os("BENCH_ENV_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        for (bin, logical) in FUNCTIONS {
            let env = deployed.environment(logical, "", &moto);
            let text = serde_json::to_string_pretty(&env).unwrap();
            std::fs::write(Path::new(&dir).join(format!("{bin}.json")), text).unwrap();
        }
    }

    let mut figures: BTreeMap<String, Figures> = BTreeMap::new();
    for round in 0..rounds {
        for (bin, logical) in FUNCTIONS {
            let payload = match *logical {
                "WebhookIntakeFunction" => webhook_event(&deployed, round),
                "FlowProcessorFunction" => next_batch(&admin, &deployed).await.0,
                "ReconcilerFunction" => schedule_payload(incremental, &deployed),
                _ => readiness_event(&deployed),
            };
            let env = deployed.start(logical, &bins[*bin], &moto).await;
            measure(env, &payload, figures.entry(bin.to_string()).or_default()).await;
        }
        // The hello with the same reserved environment as the functions (no own variables).
        let config = hello_config(&deployed.config("ApiFunction"));
        let env =
            Environment::start(Path::new(&bins[HELLO]), config.clone(), config.reserved_environment(""))
                .await;
        measure(env, &json!({"hello": "world"}), figures.entry(HELLO.into()).or_default()).await;
    }

    let hello = &figures[HELLO];
    let (hello_init, hello_first) = (median(&hello.init_ms), median(&hello.first_ms));
    println!("\ncold start, {rounds} rounds, {profile:?} build; medians; ratio = function / {HELLO}");
    println!(
        "{:<16} {:>9} {:>7} {:>12} {:>7} {:>9}",
        "binary", "init ms", "ratio", "1st call ms", "ratio", "peak RSS"
    );
    for (bin, _) in FUNCTIONS.iter().chain([(HELLO, "")].iter()) {
        let f = &figures[*bin];
        let (init, first) = (median(&f.init_ms), median(&f.first_ms));
        println!(
            "{bin:<16} {init:>9.1} {:>7.2} {first:>12.1} {:>7.2} {:>6.1} MB",
            init / hello_init,
            first / hello_first,
            *f.rss_kb.iter().max().unwrap_or(&0) as f64 / 1024.0
        );
    }
    println!("\nall init samples (ms):");
    for (bin, f) in &figures {
        println!("{bin:<16} {:?}", f.init_ms.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>());
    }
}
