//! Webhook intake: `POST /webhooks/{otmm|consonance}`.
//!
//! Verify the signature, validate the body into an [`InboundEvent`], claim its dedupe key,
//! send one [`FlowMessage`] to the flow queue and answer 202 with the event id. Nothing else
//! happens on the request path; the flow processor does the work.
//!
//! The handler ([`handle`]) is transport-neutral: it takes an [`IntakeRequest`] and returns an
//! [`IntakeResponse`]. [`from_lambda`] / [`to_lambda`] adapt API Gateway HTTP API (v2) events,
//! which is all `main.rs` adds. The contract senders follow is `docs/webhook-contract.md`.

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

/// A webhook signing secret. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Shortest accepted secret, in bytes.
    pub const MIN_LEN: usize = 16;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(format!("must be at least {} bytes, got {}", Self::MIN_LEN, bytes.len()));
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
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut secrets = Secrets::new();
        for (source, var) in SECRET_ENV {
            if let Some(value) = lookup(var).filter(|v| !v.is_empty()) {
                let secret = Secret::new(value.into_bytes()).map_err(|e| format!("{var}: {e}"))?;
                secrets = secrets.with(source, secret);
            }
        }
        if secrets.by_source.is_empty() {
            return Err(format!("no webhook secret set: set {} and/or {}", SECRET_ENV[0].1, SECRET_ENV[1].1));
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

/// A request, independent of the transport.
#[derive(Debug, Clone, Default)]
pub struct IntakeRequest {
    pub method: String,
    /// The path as received (a stage prefix such as `/prod` is allowed).
    pub path: String,
    /// Header names in lower case. Repeated headers: the first value.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The platform's request id (API Gateway `requestContext.requestId`), for correlation.
    pub request_id: Option<String>,
}

impl IntakeRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntakeResponse {
    pub status: u16,
    /// Extra headers (`Allow`, `Retry-After`); `Content-Type: application/json` is implied.
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl IntakeResponse {
    fn new(status: u16, body: Value) -> Self {
        IntakeResponse { status, headers: Vec::new(), body }
    }
    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        IntakeResponse::new(status, json!({ "error": code, "message": message.into() }))
    }
}

/// The source named by `.../webhooks/{source}` (trailing slash allowed), or why not.
/// The `source` and `outcome` dimensions of a delivery's `webhook_requests` count: the routed
/// source (`unknown` for any other path, so a scanner's paths add no dimension values) and
/// accepted / duplicate (202), rejected (4xx) or failed (5xx, e.g. the queue was unreachable).
pub fn metric_labels(path: &str, response: &IntakeResponse) -> (&'static str, &'static str) {
    let source = route(path).map(Source::as_str).unwrap_or("unknown");
    let outcome = match response.status {
        200..=299 if response.body.get("status").and_then(Value::as_str) == Some("duplicate") => "duplicate",
        200..=299 => "accepted",
        400..=499 => "rejected",
        _ => "failed",
    };
    (source, outcome)
}

fn route(path: &str) -> Result<Source, IntakeResponse> {
    let trimmed = path.split('?').next().unwrap_or("").trim_end_matches('/');
    let mut segments = trimmed.rsplit('/');
    let (last, before) = (segments.next().unwrap_or(""), segments.next().unwrap_or(""));
    if before != "webhooks" {
        return Err(IntakeResponse::error(
            404,
            "not_found",
            format!("no route for {path:?}; webhooks are posted to /webhooks/otmm or /webhooks/consonance"),
        ));
    }
    last.parse::<Source>().map_err(|e| IntakeResponse::error(404, "unknown_source", e))
}

fn check_content_type(value: Option<&str>) -> Result<(), IntakeResponse> {
    let unsupported = |message: String| IntakeResponse::error(415, "unsupported_media_type", message);
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

fn check_size(req: &IntakeRequest) -> Result<(), IntakeResponse> {
    let too_large = |n: usize| {
        IntakeResponse::error(
            413,
            "payload_too_large",
            format!("body is {n} bytes; at most {MAX_BODY_BYTES} are accepted"),
        )
    };
    if let Some(declared) = req.header("content-length") {
        match declared.trim().parse::<usize>() {
            Ok(n) if n > MAX_BODY_BYTES => return Err(too_large(n)),
            Ok(_) => {}
            Err(_) => {
                return Err(IntakeResponse::new(
                    400,
                    json!({"error": "invalid_header", "header": "Content-Length",
                           "message": format!("Content-Length {declared:?} is not a byte count")}),
                ));
            }
        }
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(too_large(req.body.len()));
    }
    Ok(())
}

fn signature_failure(e: &SignatureError) -> IntakeResponse {
    let header = match e {
        SignatureError::MissingTimestamp | SignatureError::BadTimestamp(_) | SignatureError::Stale { .. } => {
            "X-Signature-Timestamp"
        }
        SignatureError::MissingSignature | SignatureError::BadFormat | SignatureError::Mismatch => {
            "X-Signature-256"
        }
    };
    IntakeResponse::new(
        401,
        json!({ "error": "invalid_signature", "header": header, "message": e.to_string() }),
    )
}

/// A correlation id from the sender's header (if it is a sane token), else the platform's
/// request id, else a new ULID.
fn correlation_id(req: &IntakeRequest) -> String {
    let sane = |s: &&str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    req.header(CORRELATION_HEADER)
        .map(str::trim)
        .filter(sane)
        .map(str::to_string)
        .or_else(|| req.request_id.clone().filter(|s| sane(&s.as_str())))
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

/// Handles one webhook delivery. Never panics; every refusal has a JSON body naming the cause.
pub async fn handle(deps: &IntakeDeps, req: IntakeRequest) -> IntakeResponse {
    let response = match handle_inner(deps, &req).await {
        Ok(r) | Err(r) => r,
    };
    let (source, outcome) = metric_labels(&req.path, &response);
    connector_metrics::webhook_request(source, outcome, response.status);
    if response.status >= 400 && response.body.get("error").and_then(Value::as_str) != Some("in_progress") {
        let text = |key: &str| response.body.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let (error, field, message) = (text("error"), text("field"), text("message"));
        tracing::warn!(
            method = %req.method,
            path = %req.path,
            status = response.status,
            error,
            field,
            message,
            outcome = "refused",
            "webhook refused"
        );
    }
    response
}

async fn handle_inner(deps: &IntakeDeps, req: &IntakeRequest) -> Result<IntakeResponse, IntakeResponse> {
    let source = route(&req.path)?;
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(IntakeResponse::error(
            405,
            "method_not_allowed",
            format!("method {} is not allowed; webhooks are sent with POST", req.method),
        )
        .with_header("allow", "POST"));
    }
    let Some(secret) = deps.secrets.get(source) else {
        return Err(IntakeResponse::error(
            404,
            "source_not_enabled",
            format!(
                "webhooks from {source} are not enabled on this deployment (no signing secret is configured)"
            ),
        ));
    };
    check_content_type(req.header("content-type"))?;
    check_size(req)?;
    let now = (deps.now)();
    signature::verify(
        secret.expose(),
        req.header(signature::SIGNATURE_HEADER),
        req.header(signature::TIMESTAMP_HEADER),
        &req.body,
        now.timestamp(),
    )
    .map_err(|e| signature_failure(&e))?;
    let event =
        parse_event(source, &req.body).map_err(|e: EventError| IntakeResponse::new(400, e.to_json()))?;
    let correlation_id = correlation_id(req);
    Ok(accept(deps, event, now, correlation_id).await)
}

/// Dedupe and enqueue a verified, valid event.
async fn accept(
    deps: &IntakeDeps,
    event: InboundEvent,
    now: DateTime<Utc>,
    correlation_id: String,
) -> IntakeResponse {
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
                return IntakeResponse::new(202, json!({ "event_id": original, "status": "duplicate" }));
            }
            Ok(Claim::InProgress { .. }) if started.elapsed() < deps.duplicate_wait => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Ok(Claim::InProgress { .. }) => {
                // The first delivery is stuck (or died holding the claim): nothing is accepted
                // yet, so this one is not either. Its claim lapses after `ttl.in_progress`.
                log("in_progress", "another delivery of this event is still being accepted");
                return IntakeResponse::new(
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
                return IntakeResponse::new(
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
            IntakeResponse::new(202, json!({ "event_id": event_id, "status": "accepted" }))
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

fn unavailable(code: &str, message: &str) -> IntakeResponse {
    IntakeResponse::new(
        503,
        json!({ "error": code, "message": message, "retry_after_secs": RETRY_AFTER_SECS }),
    )
    .with_header("retry-after", RETRY_AFTER_SECS.to_string())
}

// ---------------------------------------------------------------------------------------------
// API Gateway HTTP API (v2) adapter

/// Converts a `lambda_http` request (API Gateway HTTP API payload v2).
pub fn from_lambda(req: &lambda_http::Request) -> IntakeRequest {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;

    let mut headers = BTreeMap::new();
    for (name, value) in req.headers() {
        if let Ok(v) = value.to_str() {
            headers.entry(name.as_str().to_ascii_lowercase()).or_insert_with(|| v.to_string());
        }
    }
    let raw = req.raw_http_path();
    let path = if raw.is_empty() { req.uri().path().to_string() } else { raw.to_string() };
    let request_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let body = match req.body() {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.as_bytes().to_vec(),
        lambda_http::Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    IntakeRequest { method: req.method().as_str().to_string(), path, headers, body, request_id }
}

/// Converts the handler's answer into a `lambda_http` response.
pub fn to_lambda(resp: IntakeResponse) -> lambda_http::Response<lambda_http::Body> {
    let mut builder =
        lambda_http::Response::builder().status(resp.status).header("content-type", "application/json");
    for (name, value) in &resp.headers {
        builder = builder.header(*name, value.as_str());
    }
    let body = lambda_http::Body::Text(resp.body.to_string());
    builder.body(body).unwrap_or_else(|_| {
        let mut r = lambda_http::Response::new(lambda_http::Body::Text("{\"error\":\"internal\"}".into()));
        *r.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn routes_by_last_two_segments() {
        assert_eq!(route("/webhooks/otmm"), Ok(Source::Otmm));
        assert_eq!(route("/prod/webhooks/consonance/"), Ok(Source::Consonance));
        assert_eq!(route("/webhooks/sap").unwrap_err().status, 404);
        assert_eq!(route("/hooks/otmm").unwrap_err().status, 404);
        assert_eq!(route("").unwrap_err().status, 404);
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
            .unwrap_err();
        assert!(err.contains("WEBHOOK_SECRET_CONSONANCE") && err.contains("at least 16"), "{err}");
        assert!(Secrets::from_lookup(|_| None).unwrap_err().contains("WEBHOOK_SECRET_OTMM"));
        // One byte short of the minimum is refused; the minimum is accepted.
        assert!(Secret::new(vec![b'x'; Secret::MIN_LEN - 1]).is_err());
        assert!(Secret::new(vec![b'x'; Secret::MIN_LEN]).is_ok());
        assert_eq!(format!("{:?}", Secret::new(vec![b'x'; 20]).unwrap()), "Secret(<20 bytes>)");
    }

    #[test]
    fn correlation_prefers_a_sane_sender_header() {
        let mut req = IntakeRequest { request_id: Some("apigw-1".into()), ..Default::default() };
        assert_eq!(correlation_id(&req), "apigw-1");
        req.headers.insert(CORRELATION_HEADER.into(), "abc-123".into());
        assert_eq!(correlation_id(&req), "abc-123");
        req.headers.insert(CORRELATION_HEADER.into(), "bad value\n".into());
        assert_eq!(correlation_id(&req), "apigw-1");
        req.request_id = None;
        assert_eq!(correlation_id(&req).len(), 26);
        // At most 128 characters are taken from the sender.
        req.headers.insert(CORRELATION_HEADER.into(), "c".repeat(128));
        assert_eq!(correlation_id(&req), "c".repeat(128));
        req.headers.insert(CORRELATION_HEADER.into(), "c".repeat(129));
        assert_eq!(correlation_id(&req).len(), 26);
    }
    #[test]
    fn metric_labels_are_a_closed_set() {
        let answer = |status, body| IntakeResponse::new(status, body);
        let accepted = answer(202, json!({"event_id": "e", "status": "accepted"}));
        let duplicate = answer(202, json!({"event_id": "e", "status": "duplicate"}));
        assert_eq!(metric_labels("/webhooks/otmm", &accepted), ("otmm", "accepted"));
        assert_eq!(metric_labels("/webhooks/consonance", &duplicate), ("consonance", "duplicate"));
        let refused = IntakeResponse::error(401, "bad_signature", "no");
        assert_eq!(metric_labels("/webhooks/otmm", &refused), ("otmm", "rejected"));
        let failed = IntakeResponse::error(503, "queue_unavailable", "down");
        assert_eq!(metric_labels("/webhooks/otmm", &failed), ("otmm", "failed"));
        // Whatever path a caller invents counts as one source.
        let unknown = IntakeResponse::error(404, "unknown_source", "no");
        assert_eq!(metric_labels("/webhooks/whatever", &unknown), ("unknown", "rejected"));
        assert_eq!(metric_labels("/wp-login.php", &unknown), ("unknown", "rejected"));
    }
}
