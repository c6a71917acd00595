//! `connector status`: how the local connector is doing, from what is on disk and what a
//! running `connector serve` counts.
//!
//! - the flow queue (visible, in flight) and its dead letters by cause kind
//!   (`connector_core::dead_letter::DeadLetterCause`), from the embedded state;
//! - the last reconcile run: the newest `reconcile.run` audit record (they are filed under no
//!   title), with its summary;
//! - the counters of a running `serve` (`GET /metrics`, Prometheus text) at `--serve URL`, or
//!   at the address the `serve` on the same `--state-dir` wrote to [`SERVE_URL_FILE`]; "serve
//!   not running" when there is none or it does not answer.
//!
//! A table on stdout, or the same as JSON (`--json`).

use connector_app::dlq;
use connector_core::AuditAction;
use connector_metrics::text::{self, Sample};
use connector_store::{PageRequest, StoreError, Stores};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file in the state directory where `connector serve` writes the URL it answers on
/// (`http://127.0.0.1:8080`); removed when it stops.
pub const SERVE_URL_FILE: &str = "serve.url";

/// Audit records of no title read, newest first, looking for the last reconcile run.
const RUN_SCAN: usize = 2_000;

#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    /// The running `connector serve` to read counters from (default: the one on --state-dir,
    /// from its serve.url).
    #[arg(long, env = "CONNECTOR_SERVE_URL")]
    pub serve: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("reading the state in {dir}: {source}")]
    State { dir: PathBuf, source: StoreError },
    #[error("the report cannot be written as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// [`SERVE_URL_FILE`] while `serve` runs: written at start, removed when dropped.
pub struct ServeUrlFile(PathBuf);

impl ServeUrlFile {
    pub fn write(state_dir: &Path, addr: std::net::SocketAddr) -> Result<ServeUrlFile, StatusError> {
        let path = state_dir.join(SERVE_URL_FILE);
        std::fs::create_dir_all(state_dir)
            .and_then(|()| std::fs::write(&path, format!("http://{addr}\n")))
            .map_err(|source| StatusError::File { path: path.clone(), source })?;
        Ok(ServeUrlFile(path))
    }
}

impl Drop for ServeUrlFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub state_dir: String,
    pub queue: QueueStatus,
    /// Dead letters by cause kind (`asset_not_found`, `title_not_found`, ...; `unknown` for a
    /// record written before kinds were kept).
    pub dead_letters_by_cause: BTreeMap<String, u64>,
    pub last_reconcile: Option<ReconcileRun>,
    pub serve: ServeStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueStatus {
    pub visible: u64,
    pub in_flight: u64,
    pub dead_letters: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconcileRun {
    pub at: chrono::DateTime<chrono::Utc>,
    pub run_id: String,
    pub detail: String,
    /// The run's summary as the reconciler wrote it (mode, pages, drift, enqueued, finished).
    pub summary: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServeStatus {
    /// Where it was looked for (none: no --serve and no serve.url in the state directory).
    pub url: Option<String>,
    pub running: bool,
    /// "serve not running" and why, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub counters: Vec<Counter>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counter {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub async fn run(args: StatusArgs) -> Result<(), StatusError> {
    let stores = crate::open_state(&args.state_dir, 5)
        .map_err(|source| StatusError::State { dir: args.state_dir.clone(), source })?;
    let report = report(&stores, &args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// Everything `status` shows, gathered.
pub async fn report(stores: &Stores, args: &StatusArgs) -> Result<StatusReport, StatusError> {
    let state = |source| StatusError::State { dir: args.state_dir.clone(), source };
    let depth = stores.queue.depth().await.map_err(state)?;
    let mut by_cause = BTreeMap::new();
    for d in dlq::list(stores, dlq::MAX_LISTED).await.map_err(state)? {
        let kind = d.cause_kind.map_or_else(|| "unknown".to_string(), |k| k.as_str().to_string());
        *by_cause.entry(kind).or_insert(0) += 1;
    }
    Ok(StatusReport {
        state_dir: args.state_dir.display().to_string(),
        queue: QueueStatus { visible: depth.visible, in_flight: depth.in_flight, dead_letters: depth.dead },
        dead_letters_by_cause: by_cause,
        last_reconcile: last_reconcile(stores).await.map_err(state)?,
        serve: serve_status(args).await,
    })
}

async fn last_reconcile(stores: &Stores) -> Result<Option<ReconcileRun>, StoreError> {
    let mut cursor = None;
    let mut read = 0;
    while read < RUN_SCAN {
        let page = stores.audit.untitled(PageRequest { limit: 200, cursor }).await?;
        read += page.items.len();
        if let Some(r) = page.items.into_iter().find(|r| r.action == AuditAction::ReconcileRun) {
            return Ok(Some(ReconcileRun {
                at: r.at,
                run_id: r.correlation_id,
                detail: r.detail,
                summary: r.data,
            }));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(None)
}

/// The URL to read counters from: `--serve`, else the state directory's [`SERVE_URL_FILE`].
fn serve_url(args: &StatusArgs) -> Option<String> {
    args.serve.clone().or_else(|| {
        std::fs::read_to_string(args.state_dir.join(SERVE_URL_FILE))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
}

async fn serve_status(args: &StatusArgs) -> ServeStatus {
    let Some(url) = serve_url(args) else {
        return ServeStatus {
            url: None,
            running: false,
            note: Some(format!(
                "serve not running (no --serve URL and no {SERVE_URL_FILE} in {})",
                args.state_dir.display()
            )),
            counters: Vec::new(),
        };
    };
    match fetch_counters(&url).await {
        Ok(samples) => ServeStatus {
            url: Some(url),
            running: true,
            note: None,
            counters: samples
                .into_iter()
                .map(|s| Counter { name: s.name, labels: s.labels, value: s.value })
                .collect(),
        },
        Err(why) => ServeStatus {
            note: Some(format!("serve not running ({url}/metrics: {why})")),
            url: Some(url),
            running: false,
            counters: Vec::new(),
        },
    }
}

/// Why the counters could not be read.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Http(#[from] connector_http::HttpError),
    #[error("answered {0}")]
    Status(u16),
    #[error("the answer could not be read: {0}")]
    Body(String),
    #[error(transparent)]
    Text(#[from] text::ParseError),
}

async fn fetch_counters(url: &str) -> Result<Vec<Sample>, FetchError> {
    let policy = connector_http::HttpPolicy {
        connect_timeout_ms: 1_000,
        request_timeout_ms: 3_000,
        max_attempts: 1,
        requests_per_second: 0.0,
        ..Default::default()
    };
    let http = connector_http::ResilientClient::new("serve", policy)?;
    let target = format!("{}/metrics", url.trim_end_matches('/'));
    let resp = http.send("metrics", connector_http::Retry::Never, |c| c.get(&target)).await?;
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    let body = tokio::time::timeout(Duration::from_secs(3), resp.text())
        .await
        .map_err(|_| FetchError::Body("no complete answer within 3 s".into()))?
        .map_err(|e| FetchError::Body(e.to_string()))?;
    Ok(text::parse(&body)?)
}

/// The report as text: one section per part, counters one per line.
pub fn render(r: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "state: {}", r.state_dir);
    let q = &r.queue;
    let _ = writeln!(
        out,
        "queue: {} visible, {} in flight, {} dead letters",
        q.visible, q.in_flight, q.dead_letters
    );
    if r.dead_letters_by_cause.is_empty() {
        let _ = writeln!(out, "dead letters by cause: none");
    } else {
        let _ = writeln!(out, "dead letters by cause:");
        for (cause, n) in &r.dead_letters_by_cause {
            let _ = writeln!(out, "  {cause:<24} {n:>8}");
        }
    }
    match &r.last_reconcile {
        Some(run) => {
            let _ = writeln!(out, "last reconcile run: {} ({})", run.at.to_rfc3339(), run.run_id);
            let _ = writeln!(out, "  {}", run.detail);
        }
        None => {
            let _ = writeln!(out, "last reconcile run: none recorded");
        }
    }
    match (&r.serve.note, &r.serve.url) {
        (Some(note), _) => {
            let _ = writeln!(out, "{note}");
        }
        (None, url) => {
            let _ = writeln!(out, "serve counters ({}/metrics):", url.as_deref().unwrap_or(""));
            let width = r.serve.counters.iter().map(|c| label(c).len()).max().unwrap_or(0);
            for c in &r.serve.counters {
                let _ = writeln!(out, "  {:<width$} {:>10}", label(c), c.value);
            }
        }
    }
    out
}

/// `name{k="v",...}` as the counter is exposed.
fn label(c: &Counter) -> String {
    if c.labels.is_empty() {
        return c.name.clone();
    }
    let pairs: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{}{{{}}}", c.name, pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StatusReport {
        StatusReport {
            state_dir: "/tmp/s".into(),
            queue: QueueStatus { visible: 2, in_flight: 1, dead_letters: 3 },
            dead_letters_by_cause: [
                ("message_unreadable".to_string(), 2),
                ("title_not_found".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            last_reconcile: None,
            serve: ServeStatus {
                url: Some("http://127.0.0.1:1".into()),
                running: true,
                note: None,
                counters: vec![Counter {
                    name: "events_processed".into(),
                    labels: [("outcome".to_string(), "done".to_string())].into_iter().collect(),
                    value: 4.0,
                }],
            },
        }
    }

    #[test]
    fn the_table_shows_each_part() {
        let text = render(&report());
        assert!(text.contains("queue: 2 visible, 1 in flight, 3 dead letters"), "{text}");
        assert!(text.contains("message_unreadable") && text.contains("title_not_found"), "{text}");
        assert!(text.contains("last reconcile run: none recorded"), "{text}");
        assert!(text.contains("events_processed{outcome=\"done\"}"), "{text}");
        let mut down = report();
        down.serve = ServeStatus {
            url: None,
            running: false,
            note: Some("serve not running (x)".into()),
            counters: vec![],
        };
        assert!(render(&down).contains("serve not running (x)"));
    }
}
