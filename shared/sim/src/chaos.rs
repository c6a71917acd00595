//! A fault-injecting reverse proxy for chaos runs: what a flaky proxy, load balancer or network
//! between the connector and OTMM or Consonance does to a share of the requests.
//!
//! The per-route [`crate::faults`] rules fire on every matching request (or a share of them,
//! with one status); a chaos run needs a *mix*: each request is faulted with probability `rate`,
//! with a kind drawn uniformly from [`ChaosFault::ALL`], seeded. Half the kinds spoil the
//! request before it reaches the system (nothing is applied), half spoil the answer after the
//! system applied it (a create landed, its answer did not), which is what makes a retry
//! dangerous. Control routes (`/__sim/...`) pass through untouched; the proxy's own are
//! `GET /__chaos` (rate and counts per kind), `PUT /__chaos` `{"rate": 0.2}`, and
//! `PUT /__chaos/hold` `{"body_contains": "createSupportingResource", "hold_ms": 5000}`: the next
//! request whose body contains the text is forwarded and its answer held back (`holding` counts
//! those waiting), so a test can kill the client while that change is in flight.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChaosFault {
    /// 429 with `Retry-After`; not forwarded.
    Throttled,
    /// 500; not forwarded.
    ServerError,
    /// 502 with an HTML page; not forwarded.
    BadGatewayPage,
    /// 503 with `Retry-After`; not forwarded.
    Unavailable,
    /// 504; not forwarded.
    GatewayTimeout,
    /// No answer until after the client's timeout; not forwarded.
    StallBeforeApply,
    /// Forwarded; the answer comes late but within the timeout.
    Latency,
    /// Forwarded; the answer's body is cut in half.
    TruncatedBody,
    /// Forwarded; a 200 with an HTML "502 Bad Gateway (proxy)" page instead of the answer.
    HtmlInsteadOfJson,
    /// Forwarded; the body trickles out with pauses longer than the client's read timeout.
    SlowBody,
    /// Forwarded; headers and half the body, then the connection breaks.
    ResetMidBody,
    /// Forwarded; the answer is replaced by a 502 page (the change landed, its answer did not).
    AnswerLost,
    /// Forwarded; no answer until after the client's timeout.
    StallAfterApply,
}

impl ChaosFault {
    pub const ALL: [ChaosFault; 13] = [
        ChaosFault::Throttled,
        ChaosFault::ServerError,
        ChaosFault::BadGatewayPage,
        ChaosFault::Unavailable,
        ChaosFault::GatewayTimeout,
        ChaosFault::StallBeforeApply,
        ChaosFault::Latency,
        ChaosFault::TruncatedBody,
        ChaosFault::HtmlInsteadOfJson,
        ChaosFault::SlowBody,
        ChaosFault::ResetMidBody,
        ChaosFault::AnswerLost,
        ChaosFault::StallAfterApply,
    ];

    /// Whether the request reaches the system.
    pub fn forwards(self) -> bool {
        !matches!(
            self,
            ChaosFault::Throttled
                | ChaosFault::ServerError
                | ChaosFault::BadGatewayPage
                | ChaosFault::Unavailable
                | ChaosFault::GatewayTimeout
                | ChaosFault::StallBeforeApply
        )
    }
}

#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// The system's base URL, e.g. `http://127.0.0.1:4100`.
    pub upstream: String,
    /// Share (0..=1) of requests faulted.
    pub rate: f64,
    pub seed: u64,
    /// Longer than the client's request timeout.
    pub stall: Duration,
    /// Shorter than the client's request timeout.
    pub latency: Duration,
    pub retry_after_secs: u64,
}

/// What `GET /__chaos` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChaosStats {
    pub rate: f64,
    pub requests: u64,
    pub injected: BTreeMap<ChaosFault, u64>,
    /// Answers held back right now (see `PUT /__chaos/hold`), and in all.
    pub holding: u64,
    pub held: u64,
}

#[derive(Deserialize)]
struct RateBody {
    rate: f64,
}

/// `PUT /__chaos/hold`: hold back the answer of the next request whose body contains the text.
#[derive(Debug, Clone, Deserialize)]
pub struct HoldBody {
    pub body_contains: String,
    pub hold_ms: u64,
}

struct Inner {
    rng: StdRng,
    stats: ChaosStats,
    hold: Option<HoldBody>,
}

#[derive(Clone)]
struct Proxy {
    options: Arc<ChaosOptions>,
    client: reqwest::Client,
    inner: Arc<Mutex<Inner>>,
}

impl Proxy {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn decide(&self) -> Option<ChaosFault> {
        let mut inner = self.lock();
        inner.stats.requests += 1;
        let rate = inner.stats.rate.clamp(0.0, 1.0);
        if rate == 0.0 || !inner.rng.random_bool(rate) {
            return None;
        }
        let fault = ChaosFault::ALL[inner.rng.random_range(0..ChaosFault::ALL.len())];
        *inner.stats.injected.entry(fault).or_default() += 1;
        Some(fault)
    }
}

/// A running proxy.
pub struct ChaosProxy {
    base_url: String,
    stats: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl ChaosProxy {
    /// Binds 127.0.0.1:`port` (0: any) in front of `options.upstream`.
    ///
    /// # Panics
    /// When the port cannot be bound (a test setup error).
    pub async fn start(port: u16, options: ChaosOptions) -> ChaosProxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("chaos proxy cannot bind 127.0.0.1:{port}: {e}"));
        let addr: SocketAddr = listener.local_addr().unwrap_or_else(|e| panic!("chaos proxy address: {e}"));
        let inner = Arc::new(Mutex::new(Inner {
            rng: StdRng::seed_from_u64(options.seed),
            stats: ChaosStats { rate: options.rate, ..ChaosStats::default() },
            hold: None,
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("chaos proxy client: {e}"));
        let proxy = Proxy { options: Arc::new(options), client, inner: inner.clone() };
        let router = axum::Router::new()
            .route(
                "/__chaos",
                get(|State(p): State<Proxy>| async move { Json(p.lock().stats.clone()) }).put(
                    |State(p): State<Proxy>, Json(b): Json<RateBody>| async move {
                        p.lock().stats.rate = b.rate;
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .route(
                "/__chaos/hold",
                axum::routing::put(|State(p): State<Proxy>, Json(b): Json<HoldBody>| async move {
                    p.lock().hold = Some(b);
                    StatusCode::NO_CONTENT
                }),
            )
            .fallback(forward)
            .with_state(proxy);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "chaos proxy stopped");
            }
        });
        ChaosProxy { base_url: format!("http://{addr}"), stats: inner, task }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn stats(&self) -> ChaosStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).stats.clone()
    }

    pub fn set_rate(&self, rate: f64) {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).stats.rate = rate;
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const HTML_502: &str = "<html><body><h1>502 Bad Gateway (proxy)</h1></body></html>";

fn page(status: StatusCode, body: &'static str, retry_after: Option<u64>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Hop-by-hop headers and those the body's new framing replaces.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if !matches!(
            name.as_str(),
            "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "host" | "upgrade" | "te"
        ) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let path = req.uri().path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_default();
    let fault = if req.uri().path().starts_with("/__sim") { None } else { p.decide() };
    let o = &p.options;
    match fault {
        Some(ChaosFault::Throttled) => {
            return page(StatusCode::TOO_MANY_REQUESTS, "slow down", Some(o.retry_after_secs));
        }
        Some(ChaosFault::ServerError) => {
            return page(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None);
        }
        Some(ChaosFault::BadGatewayPage) => return page(StatusCode::BAD_GATEWAY, HTML_502, None),
        Some(ChaosFault::Unavailable) => {
            return page(StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(o.retry_after_secs));
        }
        Some(ChaosFault::GatewayTimeout) => {
            return page(StatusCode::GATEWAY_TIMEOUT, "gateway timeout", None);
        }
        Some(ChaosFault::StallBeforeApply) => {
            tokio::time::sleep(o.stall).await;
            return page(StatusCode::GATEWAY_TIMEOUT, "gateway timeout", None);
        }
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let hold = {
        let mut inner = p.lock();
        let hit = inner.hold.as_ref().is_some_and(|h| {
            !h.body_contains.is_empty()
                && body.windows(h.body_contains.len()).any(|w| w == h.body_contains.as_bytes())
        });
        if hit { inner.hold.take().map(|h| Duration::from_millis(h.hold_ms)) } else { None }
    };
    let url = format!("{}{path}", o.upstream.trim_end_matches('/'));
    let upstream =
        p.client.request(parts.method, url).headers(end_to_end(&parts.headers)).body(body).send().await;
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    };
    let status = upstream.status();
    let headers = end_to_end(upstream.headers());
    let bytes = upstream.bytes().await.unwrap_or_default();
    if let Some(hold) = hold {
        // Applied upstream; the answer waits (a client killed now never sees it).
        struct Holding(Proxy);
        impl Drop for Holding {
            fn drop(&mut self) {
                self.0.lock().stats.holding -= 1;
            }
        }
        {
            let mut inner = p.lock();
            inner.stats.holding += 1;
            inner.stats.held += 1;
        }
        let _holding = Holding(p.clone());
        tokio::time::sleep(hold).await;
    }
    let answer = |body: Body| {
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        *resp.headers_mut() = headers.clone();
        resp
    };
    match fault {
        Some(ChaosFault::Latency) => {
            tokio::time::sleep(o.latency).await;
            answer(Body::from(bytes))
        }
        Some(ChaosFault::TruncatedBody) => answer(Body::from(bytes.slice(..bytes.len() / 2))),
        Some(ChaosFault::HtmlInsteadOfJson) => {
            let mut resp = answer(Body::from(HTML_502));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            resp
        }
        Some(ChaosFault::SlowBody) => {
            let pause = o.stall;
            let half = bytes.len() / 2;
            let pieces = vec![bytes.slice(..half), bytes.slice(half..)];
            let stream =
                futures::stream::iter(pieces.into_iter().enumerate()).then(move |(i, piece)| async move {
                    if i > 0 {
                        tokio::time::sleep(pause).await;
                    }
                    Ok::<Bytes, std::io::Error>(piece)
                });
            answer(Body::from_stream(stream))
        }
        Some(ChaosFault::ResetMidBody) => {
            let half = bytes.slice(..bytes.len() / 2);
            let stream = futures::stream::iter(vec![
                Ok(half),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "chaos: connection reset")),
            ]);
            answer(Body::from_stream(stream))
        }
        Some(ChaosFault::AnswerLost) => page(StatusCode::BAD_GATEWAY, HTML_502, None),
        Some(ChaosFault::StallAfterApply) => {
            tokio::time::sleep(o.stall).await;
            answer(Body::from(bytes))
        }
        _ => answer(Body::from(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_kind_is_drawn_and_a_zero_rate_passes_everything_through() {
        let upstream =
            axum::Router::new().route("/x", get(|| async { Json(serde_json::json!({"ok": true})) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, upstream).await });
        let proxy = ChaosProxy::start(
            0,
            ChaosOptions {
                upstream: format!("http://{addr}"),
                rate: 0.0,
                seed: 3,
                stall: Duration::from_millis(300),
                latency: Duration::from_millis(10),
                retry_after_secs: 1,
            },
        )
        .await;
        let client = reqwest::Client::builder().timeout(Duration::from_millis(150)).build().unwrap();
        let url = format!("{}/x", proxy.base_url());
        for _ in 0..5 {
            let v: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
            assert_eq!(v["ok"], true);
        }
        proxy.set_rate(1.0);
        let mut failed = 0;
        for _ in 0..130 {
            let ok = match client.get(&url).send().await {
                Ok(r) => {
                    r.status().is_success()
                        && r.json::<serde_json::Value>().await.is_ok_and(|v| v["ok"] == true)
                }
                Err(_) => false,
            };
            failed += u32::from(!ok);
        }
        let stats = proxy.stats();
        assert_eq!(stats.requests, 135);
        assert_eq!(stats.injected.values().sum::<u64>(), 130);
        assert_eq!(stats.injected.len(), ChaosFault::ALL.len(), "{stats:?}");
        // Only latency within the timeout leaves an answer usable.
        let latency = stats.injected[&ChaosFault::Latency] as u32;
        assert_eq!(failed, 130 - latency, "{stats:?}");
    }
}
