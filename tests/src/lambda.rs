//! A Lambda execution environment on this machine: the Runtime API (2018-06-01) a custom
//! runtime polls, and the function's native binary started as Lambda starts `bootstrap`.
//!
//! The emulator serves what `lambda_runtime` and any other custom runtime call:
//! `GET /runtime/invocation/next` (long poll; the event with `Lambda-Runtime-Aws-Request-Id`,
//! `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id`), `POST /runtime/invocation/{id}/response`,
//! `POST /runtime/invocation/{id}/error` and `POST /runtime/init/error`, with the checks Lambda
//! makes (an unknown or finished request id is refused; a response over 6 MB fails the
//! invocation). One environment runs one invocation at a time, as in Lambda.
//!
//! Timing is taken where Lambda's own `Init Duration` is: from exec to the first `next` poll.
//! Peak RSS is the process's `VmHWM`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, oneshot};

/// Why a function never reached its first `next` poll: how it ended and its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError(pub String);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InitError {}

/// Lambda's limit on a synchronous invocation's response (and request) payload.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// What a runtime reports for a failed invocation or init (`/error`, `/init/error` bodies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    #[serde(rename = "errorType", default)]
    pub error_type: String,
    #[serde(rename = "errorMessage", default)]
    pub error_message: String,
}

/// Why an invocation produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The handler failed (`/response` never came, `/error` did).
    Function(ErrorReport),
    /// The runtime reported an init failure (`/init/error`).
    Init(ErrorReport),
    /// The process exited (Lambda's `Runtime.ExitError`), with the tail of its stderr.
    Exited { status: String, stderr: String },
    /// No answer before the function's timeout; the environment is stopped, as Lambda does.
    Timeout(Duration),
    /// The response broke one of Lambda's rules (size).
    Rejected(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Function(e) => write!(f, "function error {}: {}", e.error_type, e.error_message),
            InvokeError::Init(e) => write!(f, "init error {}: {}", e.error_type, e.error_message),
            InvokeError::Exited { status, stderr } => write!(f, "Runtime.ExitError ({status}): {stderr}"),
            InvokeError::Timeout(t) => write!(f, "Task timed out after {:.2} seconds", t.as_secs_f64()),
            InvokeError::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

/// The outcome of one invocation, timed from submission to the runtime's answer.
#[derive(Debug)]
pub struct Invocation {
    pub request_id: String,
    pub result: Result<Vec<u8>, InvokeError>,
    pub duration: Duration,
}

impl Invocation {
    /// The response as JSON; panics (with the error) when the invocation failed.
    pub fn json(&self) -> serde_json::Value {
        match &self.result {
            Ok(body) => serde_json::from_slice(body).unwrap_or_else(|e| {
                panic!("response of {} is not JSON ({e}): {}", self.request_id, String::from_utf8_lossy(body))
            }),
            Err(e) => panic!("invocation {} failed: {e}", self.request_id),
        }
    }
}

struct Pending {
    request_id: String,
    payload: Vec<u8>,
    deadline_ms: u64,
    trace_id: String,
    done: oneshot::Sender<Result<Vec<u8>, InvokeError>>,
}

#[derive(Default)]
struct Queues {
    waiting: VecDeque<Pending>,
    in_flight: HashMap<String, oneshot::Sender<Result<Vec<u8>, InvokeError>>>,
    finished: Vec<String>,
}

struct Shared {
    function_arn: String,
    queues: Mutex<Queues>,
    arrived: Notify,
    first_next: OnceLock<Instant>,
    first_next_seen: Notify,
    init_error: Mutex<Option<ErrorReport>>,
    next_polls: Mutex<u64>,
}

impl Shared {
    fn fail_all(&self, error: InvokeError) {
        let mut q = self.queues.lock().expect("queues");
        for p in q.waiting.drain(..) {
            let _ = p.done.send(Err(error.clone()));
        }
        for (_, done) in q.in_flight.drain() {
            let _ = done.send(Err(error.clone()));
        }
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// An X-Ray trace header as Lambda passes it (`Root=1-<epoch hex>-<96 bits>;Parent=..;Sampled=0`).
fn trace_id() -> String {
    let r = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{};Parent={};Sampled=0", epoch_ms() / 1000, &r[..24], &r[16..32])
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    *s.next_polls.lock().expect("polls") += 1;
    if s.first_next.set(Instant::now()).is_ok() {
        s.first_next_seen.notify_waiters();
    }
    loop {
        let arrived = s.arrived.notified();
        let pending = {
            let mut q = s.queues.lock().expect("queues");
            q.waiting.pop_front().map(|p| {
                q.in_flight.insert(p.request_id.clone(), p.done);
                (p.request_id, p.payload, p.deadline_ms, p.trace_id)
            })
        };
        if let Some((request_id, payload, deadline_ms, trace_id)) = pending {
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("lambda-runtime-aws-request-id", &request_id)
                .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .header("lambda-runtime-invoked-function-arn", &s.function_arn)
                .header("lambda-runtime-trace-id", &trace_id)
                .body(Body::from(payload))
                .expect("next response");
        }
        arrived.await;
    }
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({"errorType": error_type, "errorMessage": message});
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"status":"OK"}"#).into_response()
}

/// Takes the invocation `id` out of flight, or answers as Lambda does for a wrong id.
fn take(s: &Shared, id: &str) -> Result<oneshot::Sender<Result<Vec<u8>, InvokeError>>, Box<Response>> {
    let mut q = s.queues.lock().expect("queues");
    match q.in_flight.remove(id) {
        Some(done) => {
            q.finished.push(id.to_string());
            Ok(done)
        }
        None if q.finished.iter().any(|f| f == id) => Err(Box::new(runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidStateTransition",
            &format!("invocation {id} was already answered"),
        ))),
        None => Err(Box::new(runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("no invocation {id}"),
        ))),
    }
}

async fn respond(State(s): State<Arc<Shared>>, UrlPath(id): UrlPath<String>, body: Bytes) -> Response {
    let done = match take(&s, &id) {
        Ok(done) => done,
        Err(refused) => return *refused,
    };
    if body.len() > MAX_PAYLOAD {
        let why = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes).",
            body.len()
        );
        let _ = done.send(Err(InvokeError::Rejected(why.clone())));
        return runtime_error(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", &why);
    }
    let _ = done.send(Ok(body.to_vec()));
    accepted()
}

fn report(headers: &HeaderMap, body: &[u8]) -> ErrorReport {
    let mut r: ErrorReport = serde_json::from_slice(body).unwrap_or(ErrorReport {
        error_type: String::new(),
        error_message: String::from_utf8_lossy(body).into_owned(),
    });
    if r.error_type.is_empty() {
        r.error_type = headers
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Unhandled")
            .to_string();
    }
    r
}

async fn invocation_error(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match take(&s, &id) {
        Ok(done) => {
            let _ = done.send(Err(InvokeError::Function(report(&headers, &body))));
            accepted()
        }
        Err(refused) => *refused,
    }
}

async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let r = report(&headers, &body);
    *s.init_error.lock().expect("init error") = Some(r.clone());
    s.fail_all(InvokeError::Init(r));
    accepted()
}

/// Where one function runs: its name and ARN, memory, timeout, log settings.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    pub name: String,
    pub arn: String,
    pub memory_size: u64,
    pub timeout: Duration,
    pub log_group: String,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`) and `ApplicationLogLevel`.
    pub log_format: String,
    pub log_level: Option<String>,
    pub region: String,
}

impl FunctionConfig {
    /// The variables Lambda itself sets in every execution environment of a custom runtime
    /// (besides the role's credentials and the function's own `Environment`).
    pub fn reserved_environment(&self, runtime_api: &str) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.memory_size.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", self.log_group.clone()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", format!("2026/12/01/[$LATEST]{}", uuid::Uuid::new_v4().simple())),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("_HANDLER", "bootstrap".into()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if self.log_format.eq_ignore_ascii_case("json") {
            env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
            if let Some(level) = &self.log_level {
                env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.clone());
            }
        }
        env
    }
}

/// One execution environment: the Runtime API emulator and the function's process.
pub struct Environment {
    pub config: FunctionConfig,
    shared: Arc<Shared>,
    started: Instant,
    runtime_api: String,
    pid: u32,
    logs: Arc<Mutex<Vec<String>>>,
    exit: Arc<Mutex<Option<String>>>,
    kill: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    peak_rss_kb: Arc<Mutex<u64>>,
    server: tokio::task::JoinHandle<()>,
}

impl Environment {
    /// Starts `binary` with exactly `env` (plus `AWS_LAMBDA_RUNTIME_API`), nothing inherited.
    pub async fn start(binary: &Path, config: FunctionConfig, env: BTreeMap<String, String>) -> Environment {
        let shared = Arc::new(Shared {
            function_arn: config.arn.clone(),
            queues: Mutex::new(Queues::default()),
            arrived: Notify::new(),
            first_next: OnceLock::new(),
            first_next_seen: Notify::new(),
            init_error: Mutex::new(None),
            next_polls: Mutex::new(0),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("runtime API port");
        let addr = listener.local_addr().expect("runtime API address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let mut env = env;
        env.insert("AWS_LAMBDA_RUNTIME_API".into(), addr.to_string());
        let started = Instant::now();
        // std::process and threads, not tokio::process: the workspace's tokio has no
        // `process` feature, and turning it on here would rebuild every crate above tokio.
        let mut child = std::process::Command::new(binary)
            .env_clear()
            .envs(&env)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let pid = child.id();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let echo = std::env::var_os("STACK_TEST_LOGS").is_some();
        let mut readers = Vec::new();
        let streams: [(Option<Box<dyn std::io::Read + Send>>, &str); 2] = [
            (child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>), "out"),
            (child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>), "err"),
        ];
        for (stream, name) in streams {
            let Some(stream) = stream else { continue };
            let logs = logs.clone();
            let function = config.name.clone();
            readers.push(std::thread::spawn(move || {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if echo {
                        eprintln!("[{function} {name}] {line}");
                    }
                    logs.lock().expect("logs").push(line);
                }
            }));
        }
        let exit = Arc::new(Mutex::new(None));
        let peak_rss_kb = Arc::new(Mutex::new(0));
        let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
        {
            let (shared, exit, logs, peak) =
                (shared.clone(), exit.clone(), logs.clone(), peak_rss_kb.clone());
            std::thread::spawn(move || {
                let status = loop {
                    match child.try_wait() {
                        Ok(Some(status)) => break status.to_string(),
                        Ok(None) => {}
                        Err(e) => break e.to_string(),
                    }
                    let rss = peak_rss(pid);
                    let mut p = peak.lock().expect("rss");
                    *p = (*p).max(rss);
                    drop(p);
                    if kill_rx.recv_timeout(Duration::from_millis(5)).is_ok() {
                        let _ = child.kill();
                        let _ = child.wait();
                        break "killed".to_string();
                    }
                };
                for r in readers {
                    let _ = r.join();
                }
                *exit.lock().expect("exit") = Some(status.clone());
                let tail: Vec<String> =
                    logs.lock().expect("logs").iter().rev().take(20).rev().cloned().collect();
                shared.fail_all(InvokeError::Exited { status, stderr: tail.join("\n") });
            });
        }
        Environment {
            config,
            shared,
            started,
            runtime_api: addr.to_string(),
            pid,
            logs,
            exit,
            kill: Mutex::new(Some(kill_tx)),
            peak_rss_kb,
            server,
        }
    }

    /// Exec to the first `next` poll; `Err` with the process's state if it never polled.
    pub async fn init_duration(&self, limit: Duration) -> Result<Duration, InitError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self.shared.first_next.get() {
                return Ok(at.duration_since(self.started));
            }
            if let Some(status) = self.exited() {
                let init = self.shared.init_error.lock().expect("init").clone();
                return Err(InitError(format!(
                    "exited ({status}) before polling; init error {init:?}; logs:\n{}",
                    self.logs()
                )));
            }
            if Instant::now() >= deadline {
                return Err(InitError(format!("no next poll within {limit:?}; logs:\n{}", self.logs())));
            }
            let seen = self.shared.first_next_seen.notified();
            let _ = tokio::time::timeout(Duration::from_millis(20), seen).await;
        }
    }

    /// Sends one event and waits for the runtime's answer (at most the function's timeout).
    pub async fn invoke(&self, payload: &serde_json::Value) -> Invocation {
        self.invoke_bytes(serde_json::to_vec(payload).expect("payload is JSON")).await
    }

    pub async fn invoke_bytes(&self, payload: Vec<u8>) -> Invocation {
        let request_id = uuid::Uuid::new_v4().to_string();
        let submitted = Instant::now();
        if payload.len() > MAX_PAYLOAD {
            return Invocation {
                request_id,
                result: Err(InvokeError::Rejected(format!("request payload of {} bytes", payload.len()))),
                duration: Duration::ZERO,
            };
        }
        if let Some(status) = self.exited() {
            return Invocation {
                request_id,
                result: Err(InvokeError::Exited { status, stderr: self.logs() }),
                duration: Duration::ZERO,
            };
        }
        let (done, outcome) = oneshot::channel();
        let timeout = self.config.timeout;
        self.shared.queues.lock().expect("queues").waiting.push_back(Pending {
            request_id: request_id.clone(),
            payload,
            deadline_ms: epoch_ms() + timeout.as_millis() as u64,
            trace_id: trace_id(),
            done,
        });
        self.shared.arrived.notify_one();
        let result = match tokio::time::timeout(timeout, outcome).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(InvokeError::Exited { status: "gone".into(), stderr: self.logs() }),
            Err(_) => {
                self.stop();
                Err(InvokeError::Timeout(timeout))
            }
        };
        self.sample_rss();
        Invocation { request_id, result, duration: submitted.elapsed() }
    }

    /// `host:port` of this environment's Runtime API (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self) -> &str {
        &self.runtime_api
    }

    /// What the runtime posted to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<ErrorReport> {
        self.shared.init_error.lock().expect("init").clone()
    }

    /// How many times the runtime called `next` (one more than the invocations it finished).
    pub fn next_polls(&self) -> u64 {
        *self.shared.next_polls.lock().expect("polls")
    }

    pub fn exited(&self) -> Option<String> {
        self.exit.lock().expect("exit").clone()
    }

    /// Everything the function wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    fn sample_rss(&self) {
        let now = peak_rss(self.pid);
        let mut peak = self.peak_rss_kb.lock().expect("rss");
        *peak = (*peak).max(now);
    }

    /// The process's peak resident set (kB) so far.
    pub fn peak_rss_kb(&self) -> u64 {
        self.sample_rss();
        *self.peak_rss_kb.lock().expect("rss")
    }

    /// Stops the process (as Lambda does after a timeout, or when the environment is recycled).
    pub fn stop(&self) {
        if let Some(kill) = self.kill.lock().expect("kill").take() {
            let _ = kill.send(());
        }
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.stop();
        self.server.abort();
    }
}

/// `VmHWM` of a live process in kB (0 once it is gone).
pub fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
