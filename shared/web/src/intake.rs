//! Webhook intake: `POST /webhooks/{otmm|consonance}`, as an axum [`router`].
//!
//! Verify the signature, validate the body into an [`InboundEvent`], claim its dedupe key,
//! send one [`FlowMessage`] to the flow queue and answer 202 with the event id. Nothing else
//! happens on the request path; the flow processor does the work.
//!
//! The Lambda (`functions/webhook-intake`) serves [`router`] with `lambda_http`; the local
//! runner merges [`routes`] with the API's router. The contract senders follow is
//! `docs/webhook-contract.md`.

use crate::gateway::RequestId;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use connector_core::event::{EventError, FlowMessage, InboundEvent, Source, parse_event};
use connector_core::signature::{self, SignatureError};
use connector_store::{Claim, Idempotency, IdempotencyTtl, Queue, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Largest accepted body: 256 KiB (an event is well under 1 KiB; SQS takes 256 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The `Retry-After` given with 503 answers.
pub const RETRY_AFTER_SECS: u64 = 5;
/// How long a duplicate delivery waits for the delivery that claimed its event first (that one
/// needs a queue send and one write: milliseconds) before answering.
pub const DUPLICATE_WAIT: Duration = Duration::from_secs(3);
/// First pause between two looks at the first delivery's claim (doubling, at most 200 ms).
const DUPLICATE_POLL: Duration = Duration::from_millis(20);
/// Header a sender may set to carry its own correlation id into the flow.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Why the webhook secrets cannot be used. Display and Error by hand: the intake links into
/// the fuzz workspace, which this crate keeps free of further dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// A secret shorter than [`Secret::MIN_LEN`]; `var` names the variable it came from.
    TooShort { var: Option<&'static str>, len: usize },
    /// Neither source has a secret.
    NoneSet,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::TooShort { var, len } => {
                if let Some(var) = var {
                    write!(f, "{var}: ")?;
                }
                write!(f, "must be at least {} bytes, got {len}", Secret::MIN_LEN)
            }
            SecretError::NoneSet => {
                write!(f, "no webhook secret set: set {} and/or {}", SECRET_ENV[0].1, SECRET_ENV[1].1)
            }
        }
    }
}

impl std::error::Error for SecretError {}

/// A webhook signing secret. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Shortest accepted secret, in bytes.
    pub const MIN_LEN: usize = 16;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(SecretError::TooShort { var: None, len: bytes.len() });
        }
        Ok(Secret(bytes))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

/// Signing secrets per source. A source without a secret is not enabled: its route answers 404.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    by_source: BTreeMap<Source, Secret>,
}

/// Environment variables holding the secrets (in AWS the template injects them from Secrets
/// Manager / SSM Parameter Store; locally they come from the shell or a `.env` file).
pub const SECRET_ENV: [(Source, &str); 2] =
    [(Source::Otmm, "WEBHOOK_SECRET_OTMM"), (Source::Consonance, "WEBHOOK_SECRET_CONSONANCE")];

impl Secrets {
    pub fn new() -> Self {
        Secrets::default()
    }
    pub fn with(mut self, source: Source, secret: Secret) -> Self {
        self.by_source.insert(source, secret);
        self
    }
    pub fn get(&self, source: Source) -> Option<&Secret> {
        self.by_source.get(&source)
    }
    pub fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        self.by_source.keys().copied()
    }

    /// Reads [`SECRET_ENV`] through `lookup`. Unset or empty: that source is disabled. At least
    /// one source must be enabled, and a set secret must be long enough.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SecretError> {
        let mut secrets = Secrets::new();
        for (source, var) in SECRET_ENV {
            if let Some(value) = lookup(var).filter(|v| !v.is_empty()) {
                let secret = Secret::new(value.into_bytes()).map_err(|e| match e {
                    SecretError::TooShort { len, .. } => SecretError::TooShort { var: Some(var), len },
                    other => other,
                })?;
                secrets = secrets.with(source, secret);
            }
        }
        if secrets.by_source.is_empty() {
            return Err(SecretError::NoneSet);
        }
        Ok(secrets)
    }
}

pub use connector_core::Clock;

/// What the handler needs: the two ports, the secrets and a clock.
#[derive(Clone)]
pub struct IntakeDeps {
    pub idempotency: Arc<dyn Idempotency>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Secrets,
    pub now: Clock,
    /// Claim lifetimes: `in_progress` bounds how long a crashed request blocks a retry;
    /// `completed` is how long a delivered event id is remembered.
    pub ttl: IdempotencyTtl,
    /// How long a duplicate waits for the delivery that claimed its event first
    /// ([`DUPLICATE_WAIT`]).
    pub duplicate_wait: Duration,
}

impl IntakeDeps {
    /// The intake's defaults: the system clock, claims held 30 s, event ids remembered 7 days.
    pub fn new(idempotency: Arc<dyn Idempotency>, queue: Arc<dyn Queue>, secrets: Secrets) -> Self {
        IntakeDeps {
            idempotency,
            queue,
            secrets,
            now: Arc::new(Utc::now),
            ttl: default_ttl(),
            duplicate_wait: DUPLICATE_WAIT,
        }
    }
}

pub fn default_ttl() -> IdempotencyTtl {
    IdempotencyTtl { in_progress: Duration::from_secs(30), completed: Duration::from_secs(7 * 24 * 3600) }
}

/// An answer: status, extra headers (`Allow`, `Retry-After`) and a JSON body.
#[derive(Debug, Clone, PartialEq)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

impl Reply {
    fn new(status: u16, body: Value) -> Self {
        Reply { status, headers: Vec::new(), body }
    }
    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Reply::new(status, json!({ "error": code, "message": message.into() }))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// The intake's routes without a fallback (to merge with a router that has its own):
/// `/webhooks/{source}`, also behind a stage prefix (`/prod/webhooks/otmm`) and with a trailing
/// slash. Every method reaches the handler, which answers 405 to all but POST.
pub fn routes(deps: Arc<IntakeDeps>) -> Router {
    let mut router = Router::new();
    for path in ["/webhooks/{source}", "/{stage}/webhooks/{source}"] {
        router = router.route(path, any(webhook)).route(&format!("{path}/"), any(webhook));
    }
    // Read at most one byte more than is accepted: a longer body is refused without being held.
    router.layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1)).with_state(deps)
}

/// The webhook API as the Lambda serves it: [`routes`], and a JSON 404 for any other path.
pub fn router(deps: Arc<IntakeDeps>) -> Router {
    routes(deps).fallback(not_found)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let reply = Reply::error(
        404,
        "not_found",
        format!("no route for {path:?}; webhooks are posted to /webhooks/otmm or /webhooks/consonance"),
    );
    finish(&method, path, None, &reply);
    reply.into_response()
}

/// What the handler reads of a request.
struct Delivery<'a> {
    method: &'a Method,
    path: &'a str,
    headers: &'a HeaderMap,
    /// `Err`: the body could not be read (larger than axum's default limit, or cut off).
    body: Result<Bytes, BytesRejection>,
    request_id: Option<String>,
}

impl Delivery<'_> {
    /// A header's first value, if it is text.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn webhook(
    State(deps): State<Arc<IntakeDeps>>,
    Path(params): Path<BTreeMap<String, String>>,
    RequestId(request_id): RequestId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let source = params.get("source").map(String::as_str).unwrap_or("");
    let delivery = Delivery { method: &method, path: uri.path(), headers: &headers, body, request_id };
    handle(&deps, source, &delivery).await.into_response()
}

/// The source a `/webhooks/{source}` path names, or 404.
fn source(segment: &str) -> Result<Source, Reply> {
    segment.parse::<Source>().map_err(|e| Reply::error(404, "unknown_source", e))
}

fn check_content_type(value: Option<&str>) -> Result<(), Reply> {
    let unsupported = |message: String| Reply::error(415, "unsupported_media_type", message);
    let Some(value) = value else {
        return Err(unsupported("header Content-Type is missing; send application/json".into()));
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(unsupported(format!("Content-Type {value:?} is not accepted; send application/json")));
    }
    for param in parts {
        let (name, val) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("charset")
            && !val.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(unsupported(format!(
                "charset {:?} is not accepted; the body must be UTF-8",
                val.trim()
            )));
        }
    }
    Ok(())
}

/// The body, if the declared and the received size are within [`MAX_BODY_BYTES`].
fn check_size<'a>(req: &'a Delivery<'_>) -> Result<&'a [u8], Reply> {
    let too_large = |n: String| {
        Reply::error(
            413,
            "payload_too_large",
            format!("body is {n} bytes; at most {MAX_BODY_BYTES} are accepted"),
        )
    };
    if let Some(declared) = req.header("content-length") {
        match declared.trim().parse::<usize>() {
            Ok(n) if n > MAX_BODY_BYTES => return Err(too_large(n.to_string())),
            Ok(_) => {}
            Err(_) => {
                return Err(Reply::new(
                    400,
                    json!({"error": "invalid_header", "header": "Content-Length",
                           "message": format!("Content-Length {declared:?} is not a byte count")}),
                ));
            }
        }
    }
    match &req.body {
        Ok(body) if body.len() > MAX_BODY_BYTES => Err(too_large(body.len().to_string())),
        Ok(body) => Ok(body),
        // Cut off by the router's body limit (one byte over ours): too large, length unknown.
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(too_large(format!("more than {MAX_BODY_BYTES}")))
        }
        Err(e) => Err(Reply::error(400, "invalid_body", format!("the body could not be read: {e}"))),
    }
}

fn signature_failure(e: &SignatureError) -> Reply {
    let header = match e {
        SignatureError::MissingTimestamp | SignatureError::BadTimestamp(_) | SignatureError::Stale { .. } => {
            "X-Signature-Timestamp"
        }
        SignatureError::MissingSignature | SignatureError::BadFormat | SignatureError::Mismatch => {
            "X-Signature-256"
        }
    };
    Reply::new(401, json!({ "error": "invalid_signature", "header": header, "message": e.to_string() }))
}

/// A correlation id from the sender's header (if it is a sane token), else the platform's
/// request id, else a new ULID.
fn correlation_id(header: Option<&str>, request_id: Option<&str>) -> String {
    let sane = |s: &&str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    header
        .map(str::trim)
        .filter(sane)
        .or_else(|| request_id.filter(sane))
        .map(str::to_string)
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

/// The `source` and `outcome` dimensions of a delivery's `webhook_requests` count: the routed
/// source (`unknown` for a source the intake does not know, and for any other path: `None`,
/// the fallback's; so a scanner's paths add no dimension values) and accepted / duplicate
/// (202), rejected (4xx) or failed (5xx, e.g. the queue was unreachable).
fn metric_labels(segment: Option<&str>, reply: &Reply) -> (&'static str, &'static str) {
    let source = segment.and_then(|s| s.parse::<Source>().ok()).map(Source::as_str).unwrap_or("unknown");
    let outcome = match reply.status {
        200..=299 if reply.body.get("status").and_then(Value::as_str) == Some("duplicate") => "duplicate",
        200..=299 => "accepted",
        400..=499 => "rejected",
        _ => "failed",
    };
    (source, outcome)
}

/// Counts the answer (`webhook_requests`) and logs it if it is a refusal.
fn finish(method: &Method, path: &str, segment: Option<&str>, reply: &Reply) {
    let (source, outcome) = metric_labels(segment, reply);
    connector_metrics::webhook_request(source, outcome, reply.status);
    log_refusal(method, path, reply);
}

/// Logs a refusal with the fields of its body (an `in_progress` wait is not a refusal).
fn log_refusal(method: &Method, path: &str, reply: &Reply) {
    if reply.status < 400 || reply.body.get("error").and_then(Value::as_str) == Some("in_progress") {
        return;
    }
    let text = |key: &str| reply.body.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let (error, field, message) = (text("error"), text("field"), text("message"));
    tracing::warn!(
        method = %method,
        path = %path,
        status = reply.status,
        error,
        field,
        message,
        outcome = "refused",
        "webhook refused"
    );
}

/// Handles one webhook delivery. Never panics; every refusal has a JSON body naming the cause.
async fn handle(deps: &IntakeDeps, source: &str, req: &Delivery<'_>) -> Reply {
    let reply = match handle_inner(deps, source, req).await {
        Ok(r) | Err(r) => r,
    };
    finish(req.method, req.path, Some(source), &reply);
    reply
}

async fn handle_inner(deps: &IntakeDeps, source: &str, req: &Delivery<'_>) -> Result<Reply, Reply> {
    let source = self::source(source)?;
    if !req.method.as_str().eq_ignore_ascii_case("POST") {
        return Err(Reply::error(
            405,
            "method_not_allowed",
            format!("method {} is not allowed; webhooks are sent with POST", req.method),
        )
        .with_header("allow", "POST"));
    }
    let Some(secret) = deps.secrets.get(source) else {
        return Err(Reply::error(
            404,
            "source_not_enabled",
            format!(
                "webhooks from {source} are not enabled on this deployment (no signing secret is configured)"
            ),
        ));
    };
    check_content_type(req.header("content-type"))?;
    let body = check_size(req)?;
    let now = (deps.now)();
    signature::verify(
        secret.expose(),
        req.header(signature::SIGNATURE_HEADER),
        req.header(signature::TIMESTAMP_HEADER),
        body,
        now.timestamp(),
    )
    .map_err(|e| signature_failure(&e))?;
    let event = parse_event(source, body).map_err(|e: EventError| Reply::new(400, e.to_json()))?;
    let correlation_id = correlation_id(req.header(CORRELATION_HEADER), req.request_id.as_deref());
    Ok(accept(deps, event, now, correlation_id).await)
}

/// Dedupe and enqueue a verified, valid event.
async fn accept(deps: &IntakeDeps, event: InboundEvent, now: DateTime<Utc>, correlation_id: String) -> Reply {
    let key = event.dedupe_key();
    let event_id = event.event_id().to_string();
    let source = event.source();
    let event_type = event.event_type();
    let log = |outcome: &str, detail: &str| {
        tracing::info!(%event_id, %source, event_type, %correlation_id, outcome, detail, "webhook decision");
    };
    // A duplicate in flight waits for the first delivery's outcome: accepted (202 with the
    // original id), or given back after a failure (then this one enqueues it).
    let hash = event.payload_hash();
    let started = std::time::Instant::now();
    let mut pause = DUPLICATE_POLL;
    loop {
        match deps.idempotency.claim(&key, Some(&hash), (deps.now)(), deps.ttl).await {
            Ok(Claim::Acquired) => break,
            Ok(Claim::Completed { data }) => {
                let original = data.unwrap_or_else(|| event_id.clone());
                log("duplicate", "already accepted; nothing enqueued");
                return Reply::new(202, json!({ "event_id": original, "status": "duplicate" }));
            }
            Ok(Claim::InProgress { .. }) if started.elapsed() < deps.duplicate_wait => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Ok(Claim::InProgress { .. }) => {
                // The first delivery is stuck (or died holding the claim): nothing is accepted
                // yet, so this one is not either. Its claim lapses after `ttl.in_progress`.
                log("in_progress", "another delivery of this event is still being accepted");
                return Reply::new(
                    503,
                    json!({
                        "error": "in_progress",
                        "event_id": event_id,
                        "message": format!("event {event_id} is still being accepted by another delivery; retry later"),
                        "retry_after_secs": 1,
                    }),
                )
                .with_header("retry-after", "1");
            }
            Err(StoreError::PayloadMismatch { .. }) => {
                log("conflict", "same event_id, different body");
                return Reply::new(
                    409,
                    json!({
                        "error": "event_id_conflict",
                        "event_id": event_id,
                        "message": format!(
                            "event_id {event_id} was already received from {source} with a different body; \
                             a new event needs a new event_id"
                        ),
                    }),
                );
            }
            Err(e) => {
                tracing::error!(%event_id, %source, %correlation_id, error = %e, outcome = "store_unavailable", "claim failed");
                return unavailable("store_unavailable", "the idempotency store is unavailable; retry later");
            }
        }
    }

    let message = FlowMessage::new(event, now, correlation_id.clone());
    match deps.queue.send(&message.to_json()).await {
        Ok(message_id) => {
            if let Err(e) = deps.idempotency.complete(&key, Some(&event_id), now, deps.ttl).await {
                // Enqueued: the event is not lost. Until the claim expires a retry gets 503
                // in_progress; after that a retry is enqueued again and the flow's own
                // idempotency absorbs the repeat.
                tracing::error!(%event_id, %source, %correlation_id, error = %e, "enqueued but could not complete the claim");
            }
            log("accepted", &format!("enqueued as message {message_id}"));
            Reply::new(202, json!({ "event_id": event_id, "status": "accepted" }))
        }
        Err(e) => {
            // Give the key back so the sender's retry can claim it: nothing is lost.
            if let Err(release) = deps.idempotency.release(&key).await {
                tracing::error!(%event_id, %source, error = %release, "could not release the claim after a queue failure");
            }
            tracing::error!(%event_id, %source, %correlation_id, error = %e, outcome = "queue_unavailable", "enqueue failed");
            unavailable(
                "queue_unavailable",
                "the flow queue is unavailable; the event was not accepted, retry later",
            )
        }
    }
}

fn unavailable(code: &str, message: &str) -> Reply {
    Reply::new(503, json!({ "error": code, "message": message, "retry_after_secs": RETRY_AFTER_SECS }))
        .with_header("retry-after", RETRY_AFTER_SECS.to_string())
}

#[cfg(test)]
mod unit {
    use super::*;

    /// Which error code a GET of `path` gets: the route's own 405 once the path names a
    /// webhook, the fallback's 404 otherwise, 404 for a source the intake does not know.
    #[tokio::test]
    async fn routes_by_last_two_segments() {
        use tower::ServiceExt;
        let dir = tempfile::tempdir().unwrap();
        let stores = connector_store::embedded::open(dir.path(), Default::default()).unwrap();
        let secrets = Secrets::new().with(Source::Otmm, Secret::new(vec![b'x'; 16]).unwrap());
        let app = router(Arc::new(IntakeDeps::new(stores.idempotency, stores.queue, secrets)));
        let code = |path: &'static str| {
            let app = app.clone();
            async move {
                let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
                let resp = app.oneshot(req).await.unwrap();
                let status = resp.status().as_u16();
                let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
                let body: Value = serde_json::from_slice(&body).unwrap();
                (status, body["error"].as_str().unwrap_or("").to_string())
            }
        };
        assert_eq!(code("/webhooks/otmm").await, (405, "method_not_allowed".into()));
        assert_eq!(code("/prod/webhooks/consonance/").await, (405, "method_not_allowed".into()));
        assert_eq!(code("/webhooks/sap").await, (404, "unknown_source".into()));
        assert_eq!(code("/hooks/otmm").await, (404, "not_found".into()));
        assert_eq!(code("/").await, (404, "not_found".into()));
    }

    #[test]
    fn content_type_allows_utf8_charset_only() {
        assert!(check_content_type(Some("application/json")).is_ok());
        assert!(check_content_type(Some("Application/JSON; charset=UTF-8")).is_ok());
        assert!(check_content_type(Some("application/json; charset=\"utf-8\"")).is_ok());
        assert_eq!(check_content_type(Some("application/json; charset=latin1")).unwrap_err().status, 415);
        assert_eq!(check_content_type(Some("text/plain")).unwrap_err().status, 415);
        assert_eq!(check_content_type(None).unwrap_err().status, 415);
    }

    #[test]
    fn secrets_come_from_env_names_and_must_be_long_enough() {
        let s =
            Secrets::from_lookup(|k| (k == "WEBHOOK_SECRET_OTMM").then(|| "0123456789abcdef".to_string()))
                .unwrap();
        assert!(s.get(Source::Otmm).is_some() && s.get(Source::Consonance).is_none());
        let err = Secrets::from_lookup(|k| (k == "WEBHOOK_SECRET_CONSONANCE").then(|| "short".to_string()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("WEBHOOK_SECRET_CONSONANCE") && err.contains("at least 16"), "{err}");
        assert!(Secrets::from_lookup(|_| None).unwrap_err().to_string().contains("WEBHOOK_SECRET_OTMM"));
        // One byte short of the minimum is refused; the minimum is accepted.
        assert!(Secret::new(vec![b'x'; Secret::MIN_LEN - 1]).is_err());
        assert!(Secret::new(vec![b'x'; Secret::MIN_LEN]).is_ok());
        assert_eq!(format!("{:?}", Secret::new(vec![b'x'; 20]).unwrap()), "Secret(<20 bytes>)");
    }

    #[test]
    fn correlation_prefers_a_sane_sender_header() {
        assert_eq!(correlation_id(None, Some("apigw-1")), "apigw-1");
        assert_eq!(correlation_id(Some("abc-123"), Some("apigw-1")), "abc-123");
        assert_eq!(correlation_id(Some("bad value\n"), Some("apigw-1")), "apigw-1");
        assert_eq!(correlation_id(Some("bad value\n"), None).len(), 26);
        // At most 128 characters are taken from the sender.
        assert_eq!(correlation_id(Some(&"c".repeat(128)), None), "c".repeat(128));
        assert_eq!(correlation_id(Some(&"c".repeat(129)), None).len(), 26);
    }

    #[test]
    fn metric_labels_are_a_closed_set() {
        let answer = |status, body| Reply::new(status, body);
        let accepted = answer(202, json!({"event_id": "e", "status": "accepted"}));
        let duplicate = answer(202, json!({"event_id": "e", "status": "duplicate"}));
        assert_eq!(metric_labels(Some("otmm"), &accepted), ("otmm", "accepted"));
        assert_eq!(metric_labels(Some("consonance"), &duplicate), ("consonance", "duplicate"));
        let refused = Reply::error(401, "bad_signature", "no");
        assert_eq!(metric_labels(Some("otmm"), &refused), ("otmm", "rejected"));
        let failed = Reply::error(503, "queue_unavailable", "down");
        assert_eq!(metric_labels(Some("otmm"), &failed), ("otmm", "failed"));
        // Whatever source or path a caller invents (`None`: the fallback's) counts as one source.
        let unknown = Reply::error(404, "unknown_source", "no");
        assert_eq!(metric_labels(Some("whatever"), &unknown), ("unknown", "rejected"));
        assert_eq!(metric_labels(None, &unknown), ("unknown", "rejected"));
    }
}
