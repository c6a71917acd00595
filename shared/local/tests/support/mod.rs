//! What the integration tests of `connector` share (each includes it with `mod support;`): the
//! binary as a child process killed when dropped, `connector sim` up to its info line,
//! `connector serve` on simulators of its own up to its ready line, and the JSON GETs they
//! make of the simulators and the connector.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use connector::sim_process::SimInfo;
use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

/// A child process killed (SIGKILL) when dropped, so a failing test leaves nothing running.
pub struct Proc(pub Child);

impl Proc {
    /// Closes its stdin (a `--exit-when-stdin-closes` process stops) and waits for it.
    pub fn close_stdin_and_wait(&mut self) -> ExitStatus {
        drop(self.0.stdin.take());
        self.0.wait().expect("wait for the child")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The variables that would point the binary at other systems, state, config or settings
/// than a test gives it.
const FOREIGN_VARS: [&str; 16] = [
    "OTMM_BASE_URL",
    "CONSONANCE_BASE_URL",
    "OTMM_USERNAME",
    "OTMM_PASSWORD",
    "OTMM_TOKEN",
    "CONSONANCE_API_KEY",
    "WEBHOOK_SECRET_OTMM",
    "WEBHOOK_SECRET_CONSONANCE",
    "MAPPING_CONFIG",
    "MAPPING_CONFIG_PATH",
    "PUBLIC_BASE_URL",
    "MAX_RECEIVE_COUNT",
    "PROCESSOR_CONCURRENCY",
    "CONNECTOR_STATE_DIR",
    "CONNECTOR_LISTEN",
    "CONNECTOR_SERVE_URL",
];

/// The `connector` binary of this build with none of [`FOREIGN_VARS`] and `RUST_LOG=warn`
/// (a test sets what it needs after this).
pub fn connector() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_connector"));
    for v in FOREIGN_VARS {
        c.env_remove(v);
    }
    c.env("RUST_LOG", "warn");
    c
}

/// `connector sim <args> --exit-when-stdin-closes` in its own process (the simulators outlive
/// a connector killed beside them), its stderr to `stderr`; with the line it prints once
/// everything listens.
pub fn start_sims(args: &[&str], stderr: Stdio) -> (Proc, SimInfo) {
    let mut child = connector()
        .arg("sim")
        .args(args)
        .arg("--exit-when-stdin-closes")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("connector sim");
    let stdout = child.stdout.take().expect("sim stdout");
    let proc = Proc(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("sim info");
    let info: SimInfo = serde_json::from_str(&line).unwrap_or_else(|e| panic!("sim info {line:?}: {e}"));
    (proc, info)
}

/// `connector serve` on simulators of its own (6 titles) and `state`, on a free port, with
/// `envs` set; its stdout lines up to its `connector serve: ready` line. Its stderr goes to
/// the file `stderr` (shown if serve ends before it is ready), or nowhere.
pub fn serve(state: &Path, envs: &[(&str, String)], stderr: Option<&Path>) -> (Proc, Vec<String>) {
    let mut child = connector()
        .args(["serve", "--listen", "127.0.0.1:0", "--sim-titles", "6", "--exit-when-stdin-closes"])
        .arg("--state-dir")
        .arg(state)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(match stderr {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("serve's stderr file")),
            None => Stdio::null(),
        })
        .spawn()
        .expect("connector serve");
    let mut out = BufReader::new(child.stdout.take().expect("serve stdout"));
    let proc = Proc(child);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).expect("serve stdout") == 0 {
            let logs = stderr.map(|p| std::fs::read_to_string(p).unwrap_or_default()).unwrap_or_default();
            panic!("serve ended before it was ready: {lines:?}\n{logs}");
        }
        let line = line.trim_end().to_string();
        let ready = line.starts_with("connector serve: ready");
        lines.push(line);
        if ready {
            return (proc, lines);
        }
    }
}

/// The value after `prefix` on the line that starts with it (trimmed).
pub fn after<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {lines:#?}"))
        .trim()
}

/// `GET url` answered with JSON (whatever its status).
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let answer = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    answer.json().await.unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}
