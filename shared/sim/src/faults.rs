//! Fault injection and the request log, shared by both simulators as one axum middleware.
//!
//! A rule matches by method (or any) and path prefix; the longest matching prefix wins. A fault
//! can add latency, fail the next N requests or a random share of them with a status (429 and
//! 503 carry `Retry-After` when set), or corrupt a successful answer (truncated JSON, invalid
//! JSON, a body that trickles out slowly). Every request is logged with the status it got.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Added before the request is handled.
    pub latency_ms: u64,
    /// The next N matching requests fail with `status`.
    pub fail_next: u32,
    /// Share (0..=1) of matching requests that fail with `status`.
    pub error_rate: f64,
    /// Status of injected failures (default 500).
    pub status: Option<u16>,
    /// Sent as `Retry-After` on injected failures.
    pub retry_after_secs: Option<u64>,
    /// Successful answers lose the second half of their body.
    pub truncate_body: bool,
    /// Successful answers are replaced by a body that is not JSON.
    pub invalid_json: bool,
    /// Successful answers are sent in 4 pieces with this pause between them.
    pub slow_body_ms: u64,
    /// Only the next N answers get the body faults above (`truncate_body`, `invalid_json`,
    /// `slow_body_ms`), then they stop; 0: every answer gets them. What a flaky proxy does once,
    /// so a test can check that the client asks again.
    pub corrupt_next: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// `GET`, `POST`...; `None` for any.
    #[serde(default)]
    pub method: Option<String>,
    pub path_prefix: String,
    pub fault: Fault,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// `Some("fail_next")`, `Some("error_rate")`, `Some("truncate_body")`... when a fault fired.
    pub injected: Option<String>,
    pub at: DateTime<Utc>,
}

/// Renders an injected error in the simulated system's own error shape.
pub type ErrorBody = fn(status: u16, message: &str) -> (String, &'static str);

struct Inner {
    rules: Vec<FaultRule>,
    rng: StdRng,
    log: Vec<LoggedRequest>,
}

/// Fault rules and the request log of one simulator. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
    error_body: ErrorBody,
}

enum Verdict {
    Pass { fault: Fault },
    Fail { status: u16, retry_after: Option<u64>, cause: &'static str },
}

impl Faults {
    pub fn new(seed: u64, error_body: ErrorBody) -> Self {
        Faults {
            inner: Arc::new(Mutex::new(Inner {
                rules: Vec::new(),
                rng: StdRng::seed_from_u64(seed),
                log: Vec::new(),
            })),
            error_body,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces the rule for (method, path prefix).
    pub fn set(&self, method: Option<&str>, path_prefix: &str, fault: Fault) {
        let method = method.map(|m| m.to_ascii_uppercase());
        let mut inner = self.lock();
        inner.rules.retain(|r| !(r.method == method && r.path_prefix == path_prefix));
        inner.rules.push(FaultRule { method, path_prefix: path_prefix.to_string(), fault });
    }

    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().rules.clone()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// How many logged requests satisfy `pred`, without copying the log (which holds millions
    /// of entries after a large benchmark phase).
    pub fn count_requests(&self, pred: impl Fn(&LoggedRequest) -> bool) -> usize {
        self.lock().log.iter().filter(|r| pred(r)).count()
    }

    /// How many logged requests match the method (or any) and path prefix.
    pub fn count(&self, method: Option<&str>, path_prefix: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| {
                method.is_none_or(|m| r.method.eq_ignore_ascii_case(m)) && r.path.starts_with(path_prefix)
            })
            .count()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    fn decide(&self, method: &str, path: &str) -> Verdict {
        let mut inner = self.lock();
        let Inner { rules, rng, .. } = &mut *inner;
        let Some(rule) = rules
            .iter_mut()
            .filter(|r| r.method.as_deref().is_none_or(|m| m == method) && path.starts_with(&r.path_prefix))
            .max_by_key(|r| r.path_prefix.len())
        else {
            return Verdict::Pass { fault: Fault::default() };
        };
        let f = &mut rule.fault;
        let status = f.status.unwrap_or(500);
        if f.fail_next > 0 {
            f.fail_next -= 1;
            return Verdict::Fail { status, retry_after: f.retry_after_secs, cause: "fail_next" };
        }
        if f.error_rate > 0.0 && rng.random_bool(f.error_rate.clamp(0.0, 1.0)) {
            return Verdict::Fail { status, retry_after: f.retry_after_secs, cause: "error_rate" };
        }
        let fault = f.clone();
        if f.corrupt_next > 0 {
            f.corrupt_next -= 1;
            if f.corrupt_next == 0 {
                (f.truncate_body, f.invalid_json, f.slow_body_ms) = (false, false, 0);
            }
        }
        Verdict::Pass { fault }
    }

    fn record(
        &self,
        method: String,
        path: String,
        query: Option<String>,
        status: u16,
        injected: Option<&str>,
    ) {
        self.lock().log.push(LoggedRequest {
            method,
            path,
            query,
            status,
            injected: injected.map(str::to_string),
            at: Utc::now(),
        });
    }

    /// Control routes under `/__sim`: `GET/POST/DELETE /__sim/faults`, `GET/DELETE /__sim/requests`.
    pub fn control_router(&self) -> Router {
        Router::new()
            .route(
                "/__sim/faults",
                get(|State(f): State<Faults>| async move { Json(f.rules()) })
                    .post(|State(f): State<Faults>, Json(rule): Json<FaultRule>| async move {
                        f.set(rule.method.as_deref(), &rule.path_prefix, rule.fault);
                        StatusCode::NO_CONTENT
                    })
                    .delete(|State(f): State<Faults>| async move {
                        f.clear();
                        StatusCode::NO_CONTENT
                    }),
            )
            .route(
                "/__sim/requests",
                get(|State(f): State<Faults>| async move { Json(f.requests()) }).delete(
                    |State(f): State<Faults>| async move {
                        f.clear_log();
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state(self.clone())
    }
}

/// The middleware: `router.layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject))`.
/// Control routes (`/__sim/...`) are neither faulted nor logged.
pub async fn inject(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    if path.starts_with("/__sim") {
        return next.run(req).await;
    }
    let query = req.uri().query().map(str::to_string);
    match faults.decide(&method, &path) {
        Verdict::Fail { status, retry_after, cause } => {
            let (body, content_type) = (faults.error_body)(status, "injected fault");
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (code, body).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(secs) = retry_after {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            faults.record(method, path, query, status, Some(cause));
            resp
        }
        Verdict::Pass { fault } => {
            if fault.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
            }
            let resp = next.run(req).await;
            let status = resp.status().as_u16();
            let corrupt = resp.status().is_success()
                && (fault.truncate_body || fault.invalid_json || fault.slow_body_ms > 0);
            if !corrupt {
                faults.record(method, path, query, status, None);
                return resp;
            }
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            let (body, cause) = if fault.invalid_json {
                (Body::from("<html><body>502 Bad Gateway (proxy)</body></html>"), "invalid_json")
            } else if fault.truncate_body {
                (Body::from(bytes.slice(..bytes.len() / 2)), "truncate_body")
            } else {
                let pause = Duration::from_millis(fault.slow_body_ms);
                let chunk = bytes.len().div_ceil(4).max(1);
                let pieces: Vec<bytes::Bytes> =
                    bytes.chunks(chunk).map(bytes::Bytes::copy_from_slice).collect();
                let stream = futures::stream::iter(pieces).then(move |piece| async move {
                    tokio::time::sleep(pause).await;
                    Ok::<_, std::io::Error>(piece)
                });
                (Body::from_stream(stream), "slow_body")
            };
            faults.record(method, path, query, status, Some(cause));
            Response::from_parts(parts, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(status: u16, message: &str) -> (String, &'static str) {
        (format!("{{\"status\":{status},\"message\":\"{message}\"}}"), "application/json")
    }

    async fn serve(faults: &Faults) -> String {
        let app = Router::new()
            .route("/api/items", get(|| async { Json(serde_json::json!({"items": [1, 2, 3, 4, 5, 6]})) }))
            .route("/api/other", get(|| async { "ok" }))
            .merge(faults.control_router())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), inject));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn fail_next_then_recover_with_retry_after_and_log() {
        let faults = Faults::new(1, plain);
        let base = serve(&faults).await;
        faults.set(
            Some("GET"),
            "/api/items",
            Fault { fail_next: 2, status: Some(429), retry_after_secs: Some(3), ..Default::default() },
        );
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let r = client.get(format!("{base}/api/items")).send().await.unwrap();
            assert_eq!(r.status(), 429);
            assert_eq!(r.headers()["retry-after"], "3");
            assert!(r.text().await.unwrap().contains("\"status\":429"));
        }
        let r = client.get(format!("{base}/api/items")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // Other routes are untouched.
        assert_eq!(client.get(format!("{base}/api/other")).send().await.unwrap().status(), 200);
        assert_eq!(faults.count(Some("GET"), "/api/items"), 3);
        let log = faults.requests();
        assert_eq!(log.iter().filter(|r| r.injected.as_deref() == Some("fail_next")).count(), 2);
    }

    #[tokio::test]
    async fn corrupted_bodies_do_not_parse_and_control_routes_work_over_http() {
        let faults = Faults::new(1, plain);
        let base = serve(&faults).await;
        let client = reqwest::Client::new();
        let rule = FaultRule {
            method: None,
            path_prefix: "/api/items".into(),
            fault: Fault { truncate_body: true, ..Default::default() },
        };
        assert_eq!(
            client.post(format!("{base}/__sim/faults")).json(&rule).send().await.unwrap().status(),
            204
        );
        let text = client.get(format!("{base}/api/items")).send().await.unwrap().text().await.unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "{text}");

        faults.set(None, "/api/items", Fault { invalid_json: true, ..Default::default() });
        let text = client.get(format!("{base}/api/items")).send().await.unwrap().text().await.unwrap();
        assert!(text.starts_with("<html>"));

        faults.set(None, "/api/items", Fault { slow_body_ms: 30, ..Default::default() });
        let started = std::time::Instant::now();
        let v: serde_json::Value =
            client.get(format!("{base}/api/items")).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["items"][5], 6);
        assert!(started.elapsed() >= Duration::from_millis(100));

        // corrupt_next: the body faults for the next N answers only.
        faults.set(None, "/api/items", Fault { truncate_body: true, corrupt_next: 2, ..Default::default() });
        for _ in 0..2 {
            let text = client.get(format!("{base}/api/items")).send().await.unwrap().text().await.unwrap();
            assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "{text}");
        }
        let v: serde_json::Value =
            client.get(format!("{base}/api/items")).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["items"][5], 6, "whole again after two corrupted answers");

        assert_eq!(client.delete(format!("{base}/__sim/faults")).send().await.unwrap().status(), 204);
        assert!(faults.rules().is_empty());
        let logged: Vec<LoggedRequest> =
            client.get(format!("{base}/__sim/requests")).send().await.unwrap().json().await.unwrap();
        assert_eq!(logged.len(), 6);
    }

    #[tokio::test]
    async fn error_rate_is_seeded_and_roughly_right() {
        let faults = Faults::new(42, plain);
        faults.set(None, "/api", Fault { error_rate: 0.3, status: Some(503), ..Default::default() });
        let failures =
            (0..1000).filter(|_| matches!(faults.decide("GET", "/api/items"), Verdict::Fail { .. })).count();
        assert!((200..400).contains(&failures), "{failures}");
    }
}
