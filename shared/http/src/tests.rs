//! Against a tiny local axum server: each route follows a script of statuses, counts its hits
//! and the most requests it had in flight at once.

use super::*;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode as AxStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The statuses (and Retry-After values) a route answers before a 200.
type Script = Vec<(u16, Option<String>)>;

#[derive(Default)]
struct Server {
    scripts: Mutex<HashMap<String, Script>>,
    hits: Mutex<HashMap<String, usize>>,
    hit_times: Mutex<Vec<Instant>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Server {
    fn hits(&self, key: &str) -> usize {
        self.hits.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

#[derive(serde::Deserialize)]
struct SlowQuery {
    ms: u64,
}

async fn scripted(State(s): State<Arc<Server>>, Path(key): Path<String>) -> Response {
    *s.hits.lock().unwrap().entry(key.clone()).or_default() += 1;
    let next = {
        let mut scripts = s.scripts.lock().unwrap();
        scripts.get_mut(&key).and_then(|v| if v.is_empty() { None } else { Some(v.remove(0)) })
    };
    match next {
        None => (AxStatus::OK, "ok").into_response(),
        Some((status, retry_after)) => {
            let mut headers = HeaderMap::new();
            if let Some(ra) = retry_after {
                headers.insert("retry-after", HeaderValue::from_str(&ra).unwrap());
            }
            (AxStatus::from_u16(status).unwrap(), headers, "scripted failure").into_response()
        }
    }
}

async fn slow(State(s): State<Arc<Server>>, Query(q): Query<SlowQuery>) -> &'static str {
    *s.hits.lock().unwrap().entry("slow".into()).or_default() += 1;
    s.hit_times.lock().unwrap().push(Instant::now());
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(q.ms)).await;
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    "done"
}

async fn serve() -> (String, Arc<Server>) {
    let state = Arc::new(Server::default());
    let app = axum::Router::new()
        .route("/s/{key}", get(scripted))
        .route("/slow", get(slow))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state)
}

fn script(s: &Server, key: &str, steps: &[(u16, Option<&str>)]) {
    s.scripts
        .lock()
        .unwrap()
        .insert(key.into(), steps.iter().map(|(st, ra)| (*st, ra.map(str::to_string))).collect());
}

fn fast_policy() -> HttpPolicy {
    HttpPolicy {
        base_backoff_ms: 5,
        max_backoff_ms: 20,
        requests_per_second: 0.0,
        max_concurrency: 0,
        request_timeout_ms: 2_000,
        ..HttpPolicy::default()
    }
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let (base, server) = serve().await;
    script(&server, "a", &[(503, None), (503, None)]);
    let http = ResilientClient::new("test", fast_policy()).unwrap();
    let url = format!("{base}/s/a");
    let resp = http.send("get_a", Retry::Idempotent, |c| c.get(&url)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.hits("a"), 3);
    let m = http.metrics().operation("get_a");
    assert_eq!((m.calls, m.attempts, m.retries, m.status_5xx, m.status_2xx), (1, 3, 2, 2, 1));
    assert_eq!(http.metrics().total.attempts, 3);
}

#[tokio::test]
async fn gives_up_after_max_attempts_and_returns_the_last_response() {
    let (base, server) = serve().await;
    script(&server, "b", &[(502, None), (504, None), (429, None), (503, None), (503, None)]);
    let http = ResilientClient::new("test", HttpPolicy { max_attempts: 3, ..fast_policy() }).unwrap();
    let url = format!("{base}/s/b");
    let resp = http.send("get_b", Retry::Idempotent, |c| c.get(&url)).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(server.hits("b"), 3);
}

#[tokio::test]
async fn never_retries_400_or_500() {
    let (base, server) = serve().await;
    script(&server, "c400", &[(400, None)]);
    script(&server, "c500", &[(500, None)]);
    let http = ResilientClient::new("test", fast_policy()).unwrap();
    for (key, status) in [("c400", 400), ("c500", 500)] {
        let url = format!("{base}/s/{key}");
        let resp = http.send("get_c", Retry::Idempotent, |c| c.get(&url)).await.unwrap();
        assert_eq!(resp.status(), status);
        assert_eq!(server.hits(key), 1, "{key} must not be retried");
    }
}

#[tokio::test]
async fn retry_never_does_not_retry_503() {
    let (base, server) = serve().await;
    script(&server, "d", &[(503, None)]);
    let http = ResilientClient::new("test", fast_policy()).unwrap();
    let url = format!("{base}/s/d");
    let resp = http.send("create_d", Retry::Never, |c| c.get(&url)).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(server.hits("d"), 1);
}

#[tokio::test]
async fn honours_retry_after_and_caps_it() {
    let (base, server) = serve().await;
    script(&server, "e", &[(429, Some("1"))]);
    let http = ResilientClient::new("test", fast_policy()).unwrap();
    let url = format!("{base}/s/e");
    let started = Instant::now();
    let resp = http.send("get_e", Retry::Idempotent, |c| c.get(&url)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.hits("e"), 2);
    assert!(waited >= Duration::from_millis(1_000), "waited only {waited:?}");
    assert!(waited < Duration::from_millis(2_500), "waited {waited:?}");

    // A Retry-After of an hour is cut to max_retry_after_ms.
    script(&server, "f", &[(503, Some("3600"))]);
    let http = ResilientClient::new("test", HttpPolicy { max_retry_after_ms: 150, ..fast_policy() }).unwrap();
    let url = format!("{base}/s/f");
    let started = Instant::now();
    let resp = http.send("get_f", Retry::Idempotent, |c| c.get(&url)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert!(waited >= Duration::from_millis(150) && waited < Duration::from_secs(2), "{waited:?}");
}

#[tokio::test]
async fn concurrency_limit_holds() {
    let (base, server) = serve().await;
    let http = ResilientClient::new("test", HttpPolicy { max_concurrency: 3, ..fast_policy() }).unwrap();
    let url = format!("{base}/slow?ms=80");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            http.send("slow", Retry::Idempotent, |c| c.get(&url)).await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(server.hits("slow"), 12);
    assert_eq!(server.max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn rate_limit_spaces_calls() {
    let (base, server) = serve().await;
    let policy = HttpPolicy { requests_per_second: 20.0, burst: 1, ..fast_policy() };
    let http = ResilientClient::new("test", policy).unwrap();
    let url = format!("{base}/slow?ms=0");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move { http.send("rl", Retry::Idempotent, |c| c.get(&url)).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().status(), 200);
    }
    // 6 calls at 20/s with a burst of 1: the last starts 5 * 50 ms after the first.
    assert!(started.elapsed() >= Duration::from_millis(245), "{:?}", started.elapsed());
    let mut times = server.hit_times.lock().unwrap().clone();
    times.sort();
    let span = times[times.len() - 1] - times[0];
    assert!(span >= Duration::from_millis(230), "server saw them within {span:?}");
}

#[tokio::test]
async fn timeout_gives_timeout_error_and_is_retried_when_idempotent() {
    let (base, server) = serve().await;
    let policy = HttpPolicy { request_timeout_ms: 100, max_attempts: 2, ..fast_policy() };
    let http = ResilientClient::new("otmm", policy).unwrap();
    let url = format!("{base}/slow?ms=1000");
    let err = http.send("get_slow", Retry::Idempotent, |c| c.get(&url)).await.unwrap_err();
    assert!(
        matches!(err, HttpError::Timeout { system: "otmm", operation: "get_slow", after_ms: 100 }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.to_string(), "otmm get_slow: no response within 100 ms");
    assert_eq!(server.hits("slow"), 2);
    let m = http.metrics().operation("get_slow");
    assert_eq!((m.calls, m.attempts, m.no_response), (1, 2, 2));

    let err = http.send("post_slow", Retry::Never, |c| c.get(&url)).await.unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }));
    assert_eq!(server.hits("slow"), 3);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // Bind then drop: the port is (very likely) closed now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let http = ResilientClient::new("consonance", HttpPolicy { max_attempts: 2, ..fast_policy() }).unwrap();
    let url = format!("http://{addr}/x");
    let err = http.send("query", Retry::Idempotent, |c| c.get(&url)).await.unwrap_err();
    assert!(matches!(err, HttpError::Connect { system: "consonance", operation: "query", .. }), "{err:?}");
    assert!(err.to_string().starts_with("consonance query: cannot connect"), "{err}");
    assert_eq!(http.metrics().total.attempts, 2);
}

#[test]
fn retry_after_parses_seconds_and_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
    assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-5", now), None);
    assert_eq!(parse_retry_after("", now), None);
}

#[test]
fn backoff_is_bounded_full_jitter() {
    let p = HttpPolicy { base_backoff_ms: 100, max_backoff_ms: 1_000, ..HttpPolicy::default() };
    for attempt in 1..40 {
        let ceiling = (100u64 << (attempt - 1).min(32)).min(1_000);
        for _ in 0..20 {
            let wait = fault::retry_wait(None, attempt, p.base_backoff_ms, p.max_backoff_ms, Duration::MAX);
            assert!(wait <= Duration::from_millis(ceiling));
        }
    }
}

#[test]
fn policy_deserializes_with_defaults() {
    let p: HttpPolicy = serde_json::from_str(r#"{"max_attempts": 2, "requests_per_second": 5.5}"#).unwrap();
    assert_eq!(p.max_attempts, 2);
    assert_eq!(p.requests_per_second, 5.5);
    assert_eq!(p.burst, HttpPolicy::default().burst);
}

/// A server that reads the request and then closes the connection without answering (a proxy
/// dropping it), counting the connections.
async fn resetting_server() -> (String, Arc<AtomicUsize>) {
    use tokio::io::AsyncReadExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn a_connection_reset_before_the_answer_is_transient_and_retried() {
    let (base, connections) = resetting_server().await;
    let http = ResilientClient::new("otmm", HttpPolicy { max_attempts: 3, ..fast_policy() }).unwrap();
    let url = format!("{base}/x");
    let err = http.send("get_x", Retry::Idempotent, |c| c.get(&url)).await.unwrap_err();
    assert!(matches!(err, HttpError::Interrupted { system: "otmm", operation: "get_x", .. }), "{err:?}");
    assert!(err.is_transient() && err.fault_kind() == FaultKind::Connection);
    assert_eq!(connections.load(Ordering::SeqCst), 3);
    // Not idempotent: one attempt, still transient (the caller decides what to do).
    let err = http.send("create_x", Retry::Never, |c| c.post(&url)).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[derive(Debug)]
struct Garbled;

impl std::fmt::Display for Garbled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("garbled")
    }
}

impl Classify for Garbled {
    fn fault_kind(&self) -> FaultKind {
        FaultKind::Unreadable
    }
}

#[tokio::test]
async fn reread_asks_again_only_for_unreadable_answers_of_idempotent_calls() {
    let http = ResilientClient::new("t", HttpPolicy { max_attempts: 4, ..fast_policy() }).unwrap();
    let calls = AtomicUsize::new(0);
    // Two garbled answers, then a good one.
    let got = http
        .reread("op", Retry::Idempotent, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 2 { Err(Garbled) } else { Ok(n) }
        })
        .await;
    assert_eq!(got.unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Always garbled: max_attempts calls, then the last error.
    calls.store(0, Ordering::SeqCst);
    let got: Result<(), Garbled> = http
        .reread("op", Retry::Idempotent, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Garbled)
        })
        .await;
    assert!(got.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // Not idempotent: once.
    calls.store(0, Ordering::SeqCst);
    let _ = http
        .reread("op", Retry::Never, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Garbled)
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Another kind of failure: at once.
    calls.store(0, Ordering::SeqCst);
    let _ = http
        .reread("op", Retry::Idempotent, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(HttpError::Other { system: "t", operation: "op", message: "bad url".into() })
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
