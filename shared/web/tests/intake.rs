//! The intake router on the embedded adapters (SQLite idempotency and queue in a temp dir):
//! each request goes through [`connector_web::intake::router`] as an `http::Request`.

use axum::body::Body;
use chrono::{DateTime, TimeZone, Utc};
use connector_core::event::{FlowMessage, InboundEvent, Source, parse_event};
use connector_core::signature;
use connector_store::embedded::{self, EmbeddedOptions};
use connector_store::{Claim, Stores};
use connector_web::intake::{self, IntakeDeps, MAX_BODY_BYTES, Secret, Secrets, default_ttl};
use lambda_http::request::RequestContext;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// A delivery as the tests write it: the request is built from it in [`handle`].
#[derive(Debug, Clone, Default)]
struct Post {
    method: String,
    path: String,
    /// Header names in lower case.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// API Gateway's `requestContext.requestId` (put in the extensions as lambda_http does).
    request_id: Option<String>,
}

/// What the router answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

fn http_request(req: &Post) -> axum::http::Request<Body> {
    let uri = axum::http::Uri::builder().path_and_query(req.path.as_str()).build().expect("path");
    let mut builder = axum::http::Request::builder().method(req.method.as_str()).uri(uri);
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    if let Some(id) = &req.request_id {
        let mut ctx = lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        ctx.request_id = Some(id.clone());
        builder = builder.extension(RequestContext::ApiGatewayV2(ctx));
    }
    builder.body(Body::from(req.body.clone())).expect("request")
}

/// Sends `req` through the intake router on `deps`.
async fn send(deps: &IntakeDeps, req: axum::http::Request<Body>) -> Answer {
    let resp = intake::router(Arc::new(deps.clone())).oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json", "every answer is JSON");
    let headers = resp
        .headers()
        .iter()
        .filter(|(n, _)| *n != "content-type" && *n != "content-length")
        .map(|(n, v)| (&*String::leak(n.as_str().to_string()), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let body = serde_json::from_slice(&bytes).expect("a JSON body");
    Answer { status, headers, body }
}

async fn handle(deps: &IntakeDeps, req: Post) -> Answer {
    send(deps, http_request(&req)).await
}

const OTMM_SECRET: &[u8] = b"local-dev-otmm-webhook-secret";
const CONSONANCE_SECRET: &[u8] = b"local-dev-consonance-webhook-secret";
const ASSET: &str = "4f1c2a9e0b7d3c5e8a6f1b2c3d4e5f6a7b8c9d0e";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 21, 9, 31, 0).unwrap()
}

struct Harness {
    _dir: tempfile::TempDir,
    stores: Stores,
    deps: IntakeDeps,
}

fn secrets() -> Secrets {
    Secrets::new()
        .with(Source::Otmm, Secret::new(OTMM_SECRET).unwrap())
        .with(Source::Consonance, Secret::new(CONSONANCE_SECRET).unwrap())
}

fn harness_at(at: DateTime<Utc>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let stores = embedded::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let deps = IntakeDeps {
        idempotency: stores.idempotency.clone(),
        queue: stores.queue.clone(),
        secrets: secrets(),
        now: Arc::new(move || at),
        ttl: default_ttl(),
        duplicate_wait: intake::DUPLICATE_WAIT,
    };
    Harness { _dir: dir, stores, deps }
}

fn harness() -> Harness {
    harness_at(now())
}

impl Harness {
    async fn post(&self, req: Post) -> Answer {
        handle(&self.deps, req).await
    }
    /// Every message in the queue (received with a long visibility, so each is seen once).
    async fn messages(&self) -> Vec<FlowMessage> {
        let msgs = self.stores.queue.receive(10, Duration::from_secs(600)).await.unwrap();
        msgs.iter().map(|m| FlowMessage::from_json(&m.body).unwrap()).collect()
    }
    async fn queued(&self) -> u64 {
        let d = self.stores.queue.depth().await.unwrap();
        d.visible + d.in_flight
    }
}

fn otmm_body(event_id: &str) -> Value {
    json!({
        "event_id": event_id,
        "event_type": "asset.approved",
        "otmm_event_id": 80008,
        "asset_id": ASSET,
        "version": 2,
        "occurred_at": "2026-09-21T09:30:00Z",
        "actor": {"user_id": "jdoe", "name": "Jane Doe"}
    })
}

/// A POST to `/webhooks/{source}` signed with `secret` at `ts`.
fn request(source: &str, body: &[u8], secret: &[u8], ts: i64) -> Post {
    let mut req = Post {
        method: "POST".into(),
        path: format!("/webhooks/{source}"),
        body: body.to_vec(),
        request_id: Some("req-1".into()),
        ..Default::default()
    };
    req.headers.insert("content-type".into(), "application/json; charset=utf-8".into());
    req.headers.insert("content-length".into(), body.len().to_string());
    req.headers.insert(signature::TIMESTAMP_HEADER.into(), ts.to_string());
    req.headers.insert(signature::SIGNATURE_HEADER.into(), signature::sign(secret, ts, body));
    req
}

fn signed_otmm(body: &Value) -> Post {
    request("otmm", &serde_json::to_vec(body).unwrap(), OTMM_SECRET, now().timestamp())
}

#[tokio::test]
async fn valid_signed_event_is_accepted_and_enqueued_once() {
    let h = harness();
    let body = otmm_body("evt-1");
    let mut req = signed_otmm(&body);
    req.headers.insert("x-correlation-id".into(), "corr-42".into());
    let resp = h.post(req).await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.body, json!({"event_id": "evt-1", "status": "accepted"}));

    let msgs = h.messages().await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.schema, 1);
    assert_eq!(m.source, Source::Otmm);
    assert_eq!(m.event_id.as_str(), "evt-1");
    assert_eq!(m.received_at, now());
    assert_eq!(m.correlation_id, "corr-42");
    assert_eq!(m.event, parse_event(Source::Otmm, &serde_json::to_vec(&body).unwrap()).unwrap());
    let InboundEvent::Otmm(e) = &m.event else { panic!("{m:?}") };
    assert_eq!((e.asset_id.as_str(), e.version), (ASSET, 2));

    // The key is completed with the event id as its data.
    let claim = h.stores.idempotency.claim("intake#otmm#evt-1", None, now(), default_ttl()).await.unwrap();
    assert_eq!(claim, Claim::Completed { data: Some("evt-1".into()) });
}

#[tokio::test]
async fn consonance_notification_is_accepted_with_its_own_secret() {
    let h = harness();
    let body = json!({"event_id": "c-1", "event_type": "work.changed", "work_id": 1001,
                      "changed_at": "2026-09-21T09:00:00Z", "fields": ["title"]});
    let bytes = serde_json::to_vec(&body).unwrap();
    let resp = h.post(request("consonance", &bytes, CONSONANCE_SECRET, now().timestamp())).await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(h.messages().await[0].source, Source::Consonance);
    // The OTMM secret does not open the Consonance route.
    let resp = h.post(request("consonance", &bytes, OTMM_SECRET, now().timestamp())).await;
    assert_eq!(resp.status, 401);
}

#[tokio::test]
async fn forged_signature_is_401_naming_the_signature_header() {
    let h = harness();
    let resp = h
        .post(request(
            "otmm",
            &serde_json::to_vec(&otmm_body("evt-1")).unwrap(),
            b"not-the-real-secret!",
            now().timestamp(),
        ))
        .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.body["error"], "invalid_signature");
    assert_eq!(resp.body["header"], "X-Signature-256");
    assert!(resp.body["message"].as_str().unwrap().contains("does not match"));
    // A body changed after signing fails the same way.
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.body = serde_json::to_vec(&otmm_body("evt-2")).unwrap();
    req.headers.insert("content-length".into(), req.body.len().to_string());
    assert_eq!(h.post(req).await.body["header"], "X-Signature-256");
    assert_eq!(h.queued().await, 0);
}

#[tokio::test]
async fn stale_timestamp_is_401_naming_the_timestamp_header() {
    let h = harness();
    let bytes = serde_json::to_vec(&otmm_body("evt-1")).unwrap();
    let resp = h.post(request("otmm", &bytes, OTMM_SECRET, now().timestamp() - 301)).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.body["header"], "X-Signature-Timestamp");
    assert!(resp.body["message"].as_str().unwrap().contains("301 s away"), "{}", resp.body);
    // Inside the window (and from a sender a little ahead) it passes.
    assert_eq!(h.post(request("otmm", &bytes, OTMM_SECRET, now().timestamp() + 200)).await.status, 202);
}

#[tokio::test]
async fn missing_signature_headers_are_named() {
    let h = harness();
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.headers.remove(signature::SIGNATURE_HEADER);
    let resp = h.post(req).await;
    assert_eq!((resp.status, resp.body["header"].clone()), (401, json!("X-Signature-256")));
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.headers.remove(signature::TIMESTAMP_HEADER);
    let resp = h.post(req).await;
    assert_eq!((resp.status, resp.body["header"].clone()), (401, json!("X-Signature-Timestamp")));
}

#[tokio::test]
async fn malformed_json_is_400_naming_line_and_column() {
    let h = harness();
    let body = b"{\n  \"event_id\": \"evt-1\",\n  \"event_type\": asset.approved\n}";
    let resp = h.post(request("otmm", body, OTMM_SECRET, now().timestamp())).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.body["error"], "invalid_json");
    assert_eq!(resp.body["line"], 3);
    assert_eq!(resp.body["column"], 17);
    assert_eq!(h.queued().await, 0);
}

#[tokio::test]
async fn missing_field_is_400_naming_it() {
    let h = harness();
    let mut body = otmm_body("evt-1");
    body.as_object_mut().unwrap().remove("occurred_at");
    let resp = h.post(signed_otmm(&body)).await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.body,
        json!({"error": "missing_field", "field": "occurred_at", "message": "field occurred_at is required"})
    );
}

#[tokio::test]
async fn invalid_field_and_unknown_type_are_400_naming_the_field() {
    let h = harness();
    let mut body = otmm_body("evt-1");
    body["asset_id"] = json!("12345");
    let resp = h.post(signed_otmm(&body)).await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.body,
        json!({"error": "invalid_field", "field": "asset_id", "message": "must be 40 hexadecimal characters"})
    );
    let mut body = otmm_body("evt-1");
    body["event_type"] = json!("asset.renamed");
    let resp = h.post(signed_otmm(&body)).await;
    assert_eq!((resp.status, resp.body["field"].clone()), (400, json!("event_type")));
    assert_eq!(resp.body["accepted"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let h = harness();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=iso-8859-1"),
        None,
    ] {
        let mut req = signed_otmm(&otmm_body("evt-1"));
        match ct {
            Some(ct) => req.headers.insert("content-type".into(), ct.into()),
            None => req.headers.remove("content-type"),
        };
        let resp = h.post(req).await;
        assert_eq!(resp.status, 415, "{ct:?}: {resp:?}");
        assert_eq!(resp.body["error"], "unsupported_media_type");
    }
    assert_eq!(h.queued().await, 0);
}

#[tokio::test]
async fn oversize_body_is_413_by_length_and_by_declared_length() {
    let h = harness();
    let mut body = otmm_body("evt-1");
    body["padding"] = json!("x".repeat(MAX_BODY_BYTES));
    let resp = h.post(signed_otmm(&body)).await;
    assert_eq!(resp.status, 413);
    assert!(resp.body["message"].as_str().unwrap().contains("at most 262144"));
    // Content-Length alone is enough to refuse.
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.headers.insert("content-length".into(), (MAX_BODY_BYTES + 1).to_string());
    assert_eq!(h.post(req).await.status, 413);
    // And an understated Content-Length does not let a large body through.
    let mut req = signed_otmm(&body);
    req.headers.insert("content-length".into(), "10".into());
    assert_eq!(h.post(req).await.status, 413);
    // Without Content-Length (chunked), reading stops one byte past the limit: a body of 1 MiB
    // is refused without being held, so its length is not known.
    let mut big = otmm_body("evt-2");
    big["padding"] = json!("x".repeat(4 * MAX_BODY_BYTES));
    let mut req = signed_otmm(&big);
    req.headers.remove("content-length");
    let resp = h.post(req).await;
    assert_eq!((resp.status, resp.body["error"].as_str()), (413, Some("payload_too_large")), "{resp:?}");
    assert!(resp.body["message"].as_str().unwrap().starts_with("body is more than 262144 bytes"), "{resp:?}");
    assert_eq!(h.queued().await, 0);
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() {
    let h = harness();
    let mut body = otmm_body("evt-max");
    body["padding"] = json!("");
    let base = serde_json::to_vec(&body).unwrap().len();
    body["padding"] = json!("x".repeat(MAX_BODY_BYTES - base));
    let exact = serde_json::to_vec(&body).unwrap();
    assert_eq!(exact.len(), MAX_BODY_BYTES);
    let resp = h.post(request("otmm", &exact, OTMM_SECRET, now().timestamp())).await;
    assert_eq!(resp.status, 202, "{resp:?}");
    body["event_id"] = json!("evt-mbx");
    body["padding"] = json!("x".repeat(MAX_BODY_BYTES - base + 1));
    let over = serde_json::to_vec(&body).unwrap();
    assert_eq!(over.len(), MAX_BODY_BYTES + 1);
    assert_eq!(h.post(request("otmm", &over, OTMM_SECRET, now().timestamp())).await.status, 413);
}

#[tokio::test]
async fn duplicate_delivery_is_202_with_the_same_event_id_and_enqueues_nothing() {
    let h = harness();
    let body = otmm_body("evt-dup");
    assert_eq!(h.post(signed_otmm(&body)).await.body["status"], "accepted");
    // The retry: re-signed later, re-serialised with other whitespace and key order.
    let pretty = serde_json::to_vec_pretty(&json!({
        "actor": body["actor"], "version": 2, "asset_id": ASSET.to_uppercase(), "otmm_event_id": 80008,
        "occurred_at": "2026-09-21T10:30:00+01:00", "event_type": "asset.approved", "event_id": "evt-dup"
    }))
    .unwrap();
    let resp = h.post(request("otmm", &pretty, OTMM_SECRET, now().timestamp() + 60)).await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.body, json!({"event_id": "evt-dup", "status": "duplicate"}));
    assert_eq!(h.queued().await, 1);
    // The same event id from the other source is another event.
    let c = json!({"event_id": "evt-dup", "event_type": "product.changed", "product_id": 5,
                   "changed_at": "2026-09-21T09:00:00Z"});
    let resp = h
        .post(request("consonance", &serde_json::to_vec(&c).unwrap(), CONSONANCE_SECRET, now().timestamp()))
        .await;
    assert_eq!(resp.body["status"], "accepted");
    assert_eq!(h.queued().await, 2);
}

#[tokio::test]
async fn same_event_id_with_a_different_body_is_409() {
    let h = harness();
    assert_eq!(h.post(signed_otmm(&otmm_body("evt-x"))).await.status, 202);
    let mut other = otmm_body("evt-x");
    other["version"] = json!(3);
    let resp = h.post(signed_otmm(&other)).await;
    assert_eq!(resp.status, 409);
    assert_eq!(resp.body["error"], "event_id_conflict");
    assert_eq!(resp.body["event_id"], "evt-x");
    assert!(resp.body["message"].as_str().unwrap().contains("different body"));
    assert_eq!(h.queued().await, 1);
}

/// Another request holding the claim of `body`'s event (it has not sent or completed yet).
async fn claim_elsewhere(h: &Harness, body: &Value) -> InboundEvent {
    let event = parse_event(Source::Otmm, &serde_json::to_vec(body).unwrap()).unwrap();
    let claim = h
        .stores
        .idempotency
        .claim(&event.dedupe_key(), Some(&event.payload_hash()), now(), default_ttl())
        .await
        .unwrap();
    assert_eq!(claim, Claim::Acquired);
    event
}

#[tokio::test]
async fn a_duplicate_in_flight_waits_for_the_first_delivery_and_answers_202_with_its_id() {
    let h = harness();
    let body = otmm_body("evt-busy");
    let event = claim_elsewhere(&h, &body).await;
    // The first delivery completes 100 ms later, under the id it accepted the event as.
    let idempotency = h.stores.idempotency.clone();
    let key = event.dedupe_key();
    let first = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        idempotency.complete(&key, Some("evt-busy-original"), now(), default_ttl()).await.unwrap();
    });
    let resp = h.post(signed_otmm(&body)).await;
    first.await.unwrap();
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.body, json!({"event_id": "evt-busy-original", "status": "duplicate"}));
    assert_eq!(h.queued().await, 0, "the first delivery enqueues it, not the duplicate");
}

#[tokio::test]
async fn a_duplicate_takes_over_when_the_first_delivery_gives_the_claim_back() {
    let h = harness();
    let body = otmm_body("evt-given-back");
    let event = claim_elsewhere(&h, &body).await;
    // The first delivery's enqueue failed: it releases the claim (and answers 503).
    let idempotency = h.stores.idempotency.clone();
    let key = event.dedupe_key();
    let first = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        idempotency.release(&key).await.unwrap();
    });
    let resp = h.post(signed_otmm(&body)).await;
    first.await.unwrap();
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.body, json!({"event_id": "evt-given-back", "status": "accepted"}));
    assert_eq!(h.queued().await, 1);
}

#[tokio::test]
async fn a_duplicate_of_a_stuck_delivery_is_503_not_409_and_not_accepted() {
    let mut h = harness();
    h.deps.duplicate_wait = Duration::from_millis(200);
    let body = otmm_body("evt-stuck");
    claim_elsewhere(&h, &body).await;
    let started = std::time::Instant::now();
    let resp = h.post(signed_otmm(&body)).await;
    assert!(started.elapsed() >= Duration::from_millis(200), "it waits for the first delivery");
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_eq!(resp.body["error"], "in_progress");
    assert_eq!(resp.body["retry_after_secs"], 1);
    assert!(resp.headers.contains(&("retry-after", "1".to_string())));
    assert_eq!(h.queued().await, 0);
}

#[tokio::test]
async fn fifty_concurrent_deliveries_of_one_event_all_answer_202_with_one_enqueue() {
    let h = harness();
    let body = otmm_body("evt-fifty");
    let answers = futures::future::join_all((0..50).map(|_| h.post(signed_otmm(&body)))).await;
    for a in &answers {
        assert_eq!(a.status, 202, "{a:?}");
        assert_eq!(a.body["event_id"], "evt-fifty", "{a:?}");
    }
    let accepted = answers.iter().filter(|a| a.body["status"] == "accepted").count();
    assert_eq!(accepted, 1, "{answers:?}");
    assert_eq!(h.queued().await, 1);
    // The same id with another body is still a conflict.
    let mut other = body.clone();
    other["version"] = json!(9);
    assert_eq!(h.post(signed_otmm(&other)).await.status, 409);
}

#[tokio::test]
async fn concurrent_identical_deliveries_enqueue_exactly_one_message() {
    let h = harness();
    let body = otmm_body("evt-race");
    let (a, b) = tokio::join!(h.post(signed_otmm(&body)), h.post(signed_otmm(&body)));
    let statuses = [(a.status, a.body["status"].clone()), (b.status, b.body["status"].clone())];
    assert!(statuses.contains(&(202, json!("accepted"))), "{statuses:?}");
    assert_eq!(h.queued().await, 1);
}

#[tokio::test]
async fn routes_methods_and_disabled_sources() {
    let h = harness();
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.path = "/webhooks/sap".into();
    let resp = h.post(req).await;
    assert_eq!((resp.status, resp.body["error"].clone()), (404, json!("unknown_source")));
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.path = "/health".into();
    assert_eq!(h.post(req).await.status, 404);
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.method = "GET".into();
    let resp = h.post(req).await;
    assert_eq!(resp.status, 405);
    assert!(resp.headers.contains(&("allow", "POST".to_string())));
    // A stage prefix is fine.
    let mut req = signed_otmm(&otmm_body("evt-1"));
    req.path = "/prod/webhooks/otmm/".into();
    assert_eq!(h.post(req).await.status, 202);

    let mut only_otmm = harness();
    only_otmm.deps.secrets = Secrets::new().with(Source::Otmm, Secret::new(OTMM_SECRET).unwrap());
    let c =
        br#"{"event_id":"c","event_type":"work.changed","work_id":1,"changed_at":"2026-09-21T09:00:00Z"}"#;
    let resp = only_otmm.post(request("consonance", c, CONSONANCE_SECRET, now().timestamp())).await;
    assert_eq!((resp.status, resp.body["error"].clone()), (404, json!("source_not_enabled")));
}

/// The real SQS adapter pointed at a closed port: sending fails like an SQS outage would.
fn unreachable_sqs() -> Arc<dyn connector_store::Queue> {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(RetryConfig::disabled())
        .build();
    let cfg = connector_store::aws::AwsConfig {
        state_table: "state".into(),
        audit_table: "audit".into(),
        idempotency_table: "idempotency".into(),
        queue_url: "http://127.0.0.1:1/000000000000/flow".into(),
        dead_letter_queue_url: "http://127.0.0.1:1/000000000000/flow-dlq".into(),
        bucket: "staging".into(),
        endpoint_url: Some("http://127.0.0.1:1".into()),
        force_path_style: true,
    };
    Arc::new(connector_store::aws::SqsQueue::new(aws_sdk_sqs::Client::from_conf(conf), &cfg))
}

#[tokio::test]
async fn queue_failure_releases_the_claim_and_answers_503_so_the_retry_succeeds() {
    let h = harness();
    let broken = IntakeDeps { queue: unreachable_sqs(), ..h.deps.clone() };
    let body = otmm_body("evt-outage");
    let resp = handle(&broken, signed_otmm(&body)).await;
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_eq!(resp.body["error"], "queue_unavailable");
    assert!(resp.headers.iter().any(|(n, _)| *n == "retry-after"));
    // The claim was released: the sender's retry, with the queue back, is accepted.
    let resp = h.post(signed_otmm(&body)).await;
    assert_eq!(resp.body, json!({"event_id": "evt-outage", "status": "accepted"}));
    assert_eq!(h.queued().await, 1);
}

/// The samples under events/, decoded by lambda_http as the Lambda decodes them (request
/// context in the extensions), are accepted at their signing time, and refused as stale five
/// minutes later.
#[tokio::test]
async fn sample_events_are_accepted_when_fresh_and_refused_when_stale() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let decode = |text: &str| lambda_http::request::from_str(text).unwrap().map(|b| Body::from(b.to_vec()));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("webhook-") && name.ends_with(".json")) {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let req = decode(&text);
        assert_eq!(req.method(), "POST", "{name}");
        assert!(
            matches!(req.extensions().get::<RequestContext>(), Some(RequestContext::ApiGatewayV2(c)) if c.request_id.is_some()),
            "{name}"
        );
        let header = |n: &str| req.headers()[n].to_str().unwrap().to_string();
        let ts: i64 = header("x-signature-timestamp").parse().unwrap();
        let correlation = header("x-correlation-id");
        let body: Value =
            serde_json::from_slice(&axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap())
                .unwrap();
        let at = Utc.timestamp_opt(ts, 0).unwrap();

        let stale = harness_at(at + chrono::Duration::seconds(301));
        let resp = send(&stale.deps, decode(&text)).await;
        assert_eq!(
            (resp.status, resp.body["header"].clone()),
            (401, json!("X-Signature-Timestamp")),
            "{name}"
        );

        let fresh = harness_at(at + chrono::Duration::seconds(5));
        let resp = send(&fresh.deps, decode(&text)).await;
        assert_eq!(resp.status, 202, "{name}: {resp:?}");
        let msgs = fresh.messages().await;
        assert_eq!(msgs.len(), 1, "{name}");
        assert_eq!(msgs[0].correlation_id, correlation, "{name}");
        assert_eq!(msgs[0].event.event_type(), body["event_type"]);
    }
    assert_eq!(seen, 6, "one sample per OTMM event type and one Consonance notification");
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Arbitrary bodies, validly signed or not, with arbitrary header values: always a JSON
        /// answer with a known status, never a panic.
        #[test]
        fn any_input_gets_a_json_answer(
            body in prop::collection::vec(any::<u8>(), 0..300),
            sign_it in any::<bool>(),
            ct in prop::option::of("\\PC{0,40}"),
            ts in prop::option::of("\\PC{0,12}"),
            path in prop::sample::select(vec!["/webhooks/otmm", "/webhooks/consonance", "/webhooks/", "/", "//webhooks//otmm"]),
            method in prop::sample::select(vec!["POST", "GET", "PUT", "post"]),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let h = harness();
            let mut req = request("otmm", &body, if sign_it { OTMM_SECRET } else { b"wrong-secret-wrong" }, now().timestamp());
            req.path = path.into();
            req.method = method.into();
            if let Some(ct) = ct { req.headers.insert("content-type".into(), ct); }
            if let Some(ts) = ts { req.headers.insert("x-signature-timestamp".into(), ts); }
            let resp = rt.block_on(h.post(req));
            prop_assert!([202u16, 400, 401, 404, 405, 413, 415].contains(&resp.status), "{resp:?}");
            prop_assert!(resp.body["error"].is_string() || resp.status == 202);
        }
    }
}
