//! Resilient HTTP calls shared by the OTMM and Consonance clients: timeouts, retries with
//! backoff and jitter, `Retry-After`, concurrency and rate limits, one `tracing` span per call
//! and call metrics.
//!
//! ```no_run
//! # async fn demo() -> Result<(), connector_http::HttpError> {
//! use connector_http::{HttpPolicy, ResilientClient, Retry};
//! let http = ResilientClient::new("otmm", HttpPolicy::default())?;
//! let resp = http.send("get_asset", Retry::Idempotent, |c| c.get("http://127.0.0.1:1/x")).await?;
//! // Any final response comes back, success or not: map status and body to your own errors.
//! println!("{}", resp.status());
//! # Ok(()) }
//! ```
//!
//! What a failure *means* (transient or not) is decided in one place, [`fault`]; both clients
//! classify their errors there.
//!
//! What is retried inside a call (only with [`Retry::Idempotent`]): statuses 429, 502, 503 and
//! 504, timeouts, connect errors and connections broken before the answer, up to
//! [`HttpPolicy::max_attempts`] attempts in all; [`ResilientClient::reread`] adds answers whose
//! body did not arrive whole or readable. The wait before a
//! retry is exponential backoff with full jitter, or the server's `Retry-After` (seconds or an
//! HTTP date) when it sends one, capped by [`HttpPolicy::max_retry_after_ms`]. Other 4xx/5xx
//! statuses are never retried: they are answers, and the caller decides what they mean.
//!
//! Limits: at most [`HttpPolicy::max_concurrency`] attempts are in flight at once (a permit is
//! held from sending until the response headers arrive; the body is the caller's to read), and
//! attempts start at no more than [`HttpPolicy::requests_per_second`] with bursts of
//! [`HttpPolicy::burst`] (a token bucket). Waiting for a permit or a token does not count
//! towards the request timeout.

mod bucket;
pub mod fault;
mod metrics;
pub mod tls;

pub use fault::{Classify, FaultKind};
pub use metrics::{CallMetrics, OperationMetrics};

use bucket::TokenBucket;
use metrics::Recorder;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

/// Timeouts, retries and limits for one remote system.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct HttpPolicy {
    /// TCP (and TLS) connect timeout.
    pub connect_timeout_ms: u64,
    /// Time allowed for one attempt until the response headers arrive; also the longest pause
    /// between two reads of a response body.
    pub request_timeout_ms: u64,
    /// Attempts in all, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before retry n (1-based) is drawn from `0..=min(max_backoff, base * 2^(n-1))`.
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// A longer `Retry-After` is shortened to this.
    pub max_retry_after_ms: u64,
    /// Attempts in flight at once; 0 means unlimited.
    pub max_concurrency: usize,
    /// Sustained attempts per second; 0 or less means unlimited.
    pub requests_per_second: f64,
    /// Attempts that may start at once after an idle period (at least 1).
    pub burst: u32,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            connect_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
            max_attempts: 4,
            base_backoff_ms: 200,
            max_backoff_ms: 10_000,
            max_retry_after_ms: 60_000,
            max_concurrency: 8,
            requests_per_second: 20.0,
            burst: 10,
        }
    }
}

/// Whether a request may be sent again after a transient failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Sending it twice has the same effect as sending it once (GET, PUT of a state, lock...).
    Idempotent,
    /// Creates something or is otherwise unsafe to repeat: one attempt only.
    Never,
}

/// No response could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("{system} {operation}: no response within {after_ms} ms")]
    Timeout { system: &'static str, operation: &'static str, after_ms: u64 },
    #[error("{system} {operation}: cannot connect: {message}")]
    Connect { system: &'static str, operation: &'static str, message: String },
    /// Connected, but the connection broke (reset, closed) before the answer's headers arrived.
    #[error("{system} {operation}: connection broke before the answer: {message}")]
    Interrupted { system: &'static str, operation: &'static str, message: String },
    #[error("{system} {operation}: request failed: {message}")]
    Other { system: &'static str, operation: &'static str, message: String },
}

impl HttpError {
    /// Timeouts, connect errors and broken connections may succeed later; other failures (a
    /// request that cannot be built, a redirect loop) will not. See [`fault`].
    pub fn is_transient(&self) -> bool {
        self.fault_kind().is_transient()
    }

    pub fn fault_kind(&self) -> FaultKind {
        match self {
            HttpError::Timeout { .. } => FaultKind::Timeout,
            HttpError::Connect { .. } | HttpError::Interrupted { .. } => FaultKind::Connection,
            HttpError::Other { .. } => FaultKind::Local,
        }
    }

    pub fn system(&self) -> &'static str {
        match self {
            HttpError::Timeout { system, .. }
            | HttpError::Connect { system, .. }
            | HttpError::Interrupted { system, .. }
            | HttpError::Other { system, .. } => system,
        }
    }

    pub fn operation(&self) -> &'static str {
        match self {
            HttpError::Timeout { operation, .. }
            | HttpError::Connect { operation, .. }
            | HttpError::Interrupted { operation, .. }
            | HttpError::Other { operation, .. } => operation,
        }
    }
}

/// Parses a `Retry-After` value: delay seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, RFC 9110 §10.2.3). A date in the past means "now"
/// (zero). `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

struct Inner {
    system: &'static str,
    policy: HttpPolicy,
    client: reqwest::Client,
    permits: Option<Semaphore>,
    bucket: Option<TokenBucket>,
    recorder: Recorder,
}

/// An HTTP client with the resilience rules of one [`HttpPolicy`]. Cheap to clone (shared
/// state): clones share limits and metrics.
#[derive(Clone)]
pub struct ResilientClient {
    inner: Arc<Inner>,
}

impl Classify for HttpError {
    fn fault_kind(&self) -> FaultKind {
        HttpError::fault_kind(self)
    }
}

impl std::fmt::Debug for ResilientClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResilientClient")
            .field("system", &self.inner.system)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Why an attempt is followed by another one.
enum Outcome {
    Response(reqwest::Response),
    Failed(HttpError),
}

impl ResilientClient {
    /// A client with its own `reqwest::Client` (rustls, the policy's connect timeout).
    pub fn new(system: &'static str, policy: HttpPolicy) -> Result<Self, HttpError> {
        let client = Self::builder(&policy).build().map_err(|e| HttpError::Other {
            system,
            operation: "build_client",
            message: e.to_string(),
        })?;
        Ok(Self::with_client(system, policy, client))
    }

    /// A `reqwest::ClientBuilder` with the policy's timeouts set, to add to (cookie store,
    /// default headers) before [`with_client`](Self::with_client).
    pub fn builder(policy: &HttpPolicy) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            // One verifier for every client, built at the first handshake (see `tls`).
            .tls_backend_preconfigured(tls::client_config())
            .connect_timeout(Duration::from_millis(policy.connect_timeout_ms.max(1)))
            .read_timeout(Duration::from_millis(policy.request_timeout_ms.max(1)))
    }

    /// Uses the given client (e.g. one with a cookie store). The request timeout is enforced
    /// here per attempt whatever the client's own settings.
    pub fn with_client(system: &'static str, policy: HttpPolicy, client: reqwest::Client) -> Self {
        let permits = (policy.max_concurrency > 0).then(|| Semaphore::new(policy.max_concurrency));
        let bucket = (policy.requests_per_second > 0.0 && policy.requests_per_second.is_finite())
            .then(|| TokenBucket::new(policy.requests_per_second, policy.burst.max(1)));
        ResilientClient {
            inner: Arc::new(Inner { system, policy, client, permits, bucket, recorder: Recorder::default() }),
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    pub fn system(&self) -> &'static str {
        self.inner.system
    }

    pub fn policy(&self) -> &HttpPolicy {
        &self.inner.policy
    }

    /// A snapshot of the counters since this client was made.
    pub fn metrics(&self) -> CallMetrics {
        self.inner.recorder.snapshot()
    }

    /// Sends the request `build()` makes (called once per attempt). Retries (only when
    /// [`Retry::Idempotent`]) on 429/502/503/504, timeouts and connect errors, with exponential
    /// backoff and full jitter, honouring `Retry-After` (capped by `max_retry_after_ms`). Never
    /// retries other 4xx/5xx. Returns `Ok(response)` for any final response, success or not;
    /// `Err` only when no response could be had.
    pub async fn send<F>(
        &self,
        operation: &'static str,
        retry: Retry,
        build: F,
    ) -> Result<reqwest::Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let span = tracing::info_span!(
            "http_call",
            system = self.inner.system,
            operation,
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        self.send_inner(operation, retry, &build).instrument(span).await
    }

    async fn send_inner<F>(
        &self,
        operation: &'static str,
        retry: Retry,
        build: &F,
    ) -> Result<reqwest::Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let inner = &*self.inner;
        let span = tracing::Span::current();
        let started = Instant::now();
        let max_attempts = match retry {
            Retry::Idempotent => inner.policy.max_attempts.max(1),
            Retry::Never => 1,
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            span.record("attempt", attempt);
            let outcome = self.attempt(operation, build).await;
            let (status, retry_after) = match &outcome {
                Outcome::Response(r) => (Some(r.status()), r.headers().get(reqwest::header::RETRY_AFTER)),
                Outcome::Failed(_) => (None, None),
            };
            inner.recorder.attempt(operation, status.map(|s| s.as_u16()));
            connector_metrics::external_attempt(inner.system, status.map(|s| s.as_u16()));
            let reason = match (&outcome, status) {
                (_, Some(s)) if fault::status_is_retried_in_call(s.as_u16()) => {
                    Some(format!("status {}", s.as_u16()))
                }
                (Outcome::Failed(e), _) if e.is_transient() => Some(e.to_string()),
                _ => None,
            };
            let Some(reason) = reason.filter(|_| attempt < max_attempts) else {
                let latency = started.elapsed();
                span.record("latency_ms", latency.as_millis() as u64);
                if let Some(s) = status {
                    span.record("status", s.as_u16());
                }
                inner.recorder.call(operation, attempt, latency);
                connector_metrics::external_call(inner.system, operation, attempt, latency);
                return match outcome {
                    Outcome::Response(r) => Ok(r),
                    Outcome::Failed(e) => Err(e),
                };
            };
            let retry_after = retry_after
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let wait = self.wait_before_retry(retry_after, attempt);
            tracing::debug!(
                system = inner.system,
                operation,
                attempt,
                reason = %reason,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            );
            // Drop the failed response (and its connection's body) before waiting.
            drop(outcome);
            tokio::time::sleep(wait).await;
        }
    }

    /// The policy's wait before retry `attempt` (1-based): `Retry-After` when given (capped by
    /// `max_retry_after_ms`), else exponential backoff with full jitter.
    pub fn wait_before_retry(&self, retry_after: Option<Duration>, attempt: u32) -> Duration {
        let p = &self.inner.policy;
        fault::retry_wait(
            retry_after,
            attempt,
            p.base_backoff_ms,
            p.max_backoff_ms,
            Duration::from_millis(p.max_retry_after_ms),
        )
    }

    /// Runs `call` (one whole exchange: send, read the body, decode it) again while it fails
    /// with [`FaultKind::Unreadable`] (the answer did not arrive whole or is not the system's:
    /// truncated, an HTML page from a proxy, a connection dropped mid-body), for idempotent
    /// requests, up to `max_attempts` in all with the policy's backoff. Status, timeout and
    /// connect retries already happen inside each [`send`](Self::send); any other error returns
    /// at once, and the last unreadable one is returned as is for the caller to classify.
    pub async fn reread<T, E, F, Fut>(
        &self,
        operation: &'static str,
        retry: Retry,
        mut call: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: Classify + std::fmt::Display,
    {
        let max_attempts = match retry {
            Retry::Idempotent => self.inner.policy.max_attempts.max(1),
            Retry::Never => 1,
        };
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.fault_kind() == FaultKind::Unreadable && attempt < max_attempts => {
                    let wait = self.wait_before_retry(None, attempt);
                    tracing::debug!(
                        system = self.inner.system,
                        operation,
                        attempt,
                        reason = %e,
                        wait_ms = wait.as_millis() as u64,
                        "unreadable answer; asking again"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt<F>(&self, operation: &'static str, build: &F) -> Outcome
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let inner = &*self.inner;
        let system = inner.system;
        let _permit = match &inner.permits {
            Some(sem) => match sem.acquire().await {
                Ok(p) => Some(p),
                Err(_) => {
                    return Outcome::Failed(HttpError::Other {
                        system,
                        operation,
                        message: "concurrency limiter closed".into(),
                    });
                }
            },
            None => None,
        };
        if let Some(bucket) = &inner.bucket
            && bucket.acquire().await
        {
            connector_metrics::rate_limit_wait(system);
        }
        let request = match build(&inner.client).build() {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Failed(HttpError::Other {
                    system,
                    operation,
                    message: format!("cannot build request: {e}"),
                });
            }
        };
        let timeout_ms = inner.policy.request_timeout_ms.max(1);
        match tokio::time::timeout(Duration::from_millis(timeout_ms), inner.client.execute(request)).await {
            Err(_) => Outcome::Failed(HttpError::Timeout { system, operation, after_ms: timeout_ms }),
            Ok(Ok(resp)) => Outcome::Response(resp),
            Ok(Err(e)) => Outcome::Failed(classify(system, operation, timeout_ms, &e)),
        }
    }
}

fn classify(system: &'static str, operation: &'static str, timeout_ms: u64, e: &reqwest::Error) -> HttpError {
    // The full source chain: reqwest's own message is often just "error sending request".
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        HttpError::Timeout { system, operation, after_ms: timeout_ms }
    } else if e.is_connect() {
        HttpError::Connect { system, operation, message }
    } else if e.is_builder() || e.is_redirect() {
        // The request itself is wrong (a bad URL, a redirect loop): it will fail again.
        HttpError::Other { system, operation, message }
    } else {
        // Sent, or being sent, and the connection broke (reset, closed by a proxy).
        HttpError::Interrupted { system, operation, message }
    }
}

#[cfg(test)]
mod tests;
