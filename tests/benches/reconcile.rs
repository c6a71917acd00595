//! The reconciler over a large simulated catalogue.
//!
//! `BENCH_TITLES=100000 cargo bench -p connector-tests --bench reconcile` prints, for the
//! reconciler alone (the simulators run in a child process, so the parent's peak RSS is the
//! reconciler's, with its embedded state and queue):
//! (a) an incremental run with nothing changed: API calls and wall time;
//! (b) a full scan (first install, then the link check): wall time, API calls, peak RSS;
//! (c) 1% of titles changed: calls and time.

use connector::{Simulators, app_from_env, open_state};
use connector_app::reconciler::{self, Mode, Options};
use connector_core::LinkStatus;
use connector_sim::catalogue::{Catalogue, fixture_now};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and
/// then a small smoke run proves it still works without spending minutes. The child process
/// inherits the size through BENCH_TITLES.
fn titles() -> usize {
    let default = if std::env::args().any(|a| a == "--bench") { 10_000 } else { 20 };
    std::env::var("BENCH_TITLES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak resident set of this process, from /proc (kB).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn sims_child() {
    let catalogue = Catalogue::generate(titles(), 5, fixture_now());
    let sims = Simulators::start(&catalogue, None, "unused-secret-unused").await;
    let out = serde_json::json!({
        "env": sims.env(),
        "otmm_assets": catalogue.assets.len(),
        "versions": catalogue.assets.iter().map(|a| a.versions.len()).sum::<usize>(),
        "products": catalogue.product_count(),
    });
    println!("{out}");
    std::io::stdout().flush().ok();
    // Control: one line per command on stdin.
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["change", percent] => {
                // Approve a new version of the front cover of `percent`% of titles.
                let step = (100.0 / percent.parse::<f64>().unwrap_or(1.0)).round().max(1.0) as usize;
                let mut n = 0;
                for a in catalogue.assets.iter().filter(|a| a.asset_type == "Front Cover").step_by(step) {
                    if let Ok(id) = sims.otmm.add_version(&a.original_asset_id, "In Review") {
                        let v = sims.otmm.asset(&id).map(|x| x.version).unwrap_or(1);
                        let _ = sims.otmm.approve(&a.original_asset_id, v, "bench");
                        n += 1;
                    }
                }
                println!("{{\"changed\":{n}}}");
            }
            ["calls"] => {
                let otmm = sims.otmm.faults().requests().len();
                let consonance = sims.consonance.faults().requests().len();
                sims.otmm.faults().clear_log();
                sims.consonance.faults().clear_log();
                println!("{{\"otmm\":{otmm},\"consonance\":{consonance}}}");
            }
            ["quit"] => break,
            _ => println!("{{}}"),
        }
        std::io::stdout().flush().ok();
    }
}

struct Child {
    process: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Child {
    fn ask(&mut self, command: &str) -> serde_json::Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_default()
    }
}

fn report(label: &str, s: &reconciler::Summary, calls: &serde_json::Value, elapsed: Duration) {
    let otmm = calls["otmm"].as_u64().unwrap_or(0);
    let consonance = calls["consonance"].as_u64().unwrap_or(0);
    println!(
        "{label}: {:.2} s, {} API calls (OTMM {otmm}, Consonance {consonance}), {} pages, {} assets, {} works, {} links checked, drift {:?}, {} enqueued, finished {}",
        elapsed.as_secs_f64(),
        otmm + consonance,
        s.pages,
        s.assets_seen,
        s.works_seen,
        s.links_checked,
        s.drift,
        s.enqueued,
        s.finished
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("sims") {
        return sims_child().await;
    }
    let exe = std::env::current_exe().unwrap();
    let mut process = std::process::Command::new(exe)
        .env("BENCH_ROLE", "sims")
        .env("BENCH_TITLES", titles().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("simulators process");
    let stdin = process.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(process.stdout.take().unwrap());
    let t = Instant::now();
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let info: serde_json::Value = serde_json::from_str(&first).expect("simulator info");
    let mut child = Child { process, stdin, stdout };
    println!(
        "catalogue: {} titles, {} products, {} OTMM assets ({} versions); simulators up in {:.1} s",
        titles(),
        info["products"],
        info["otmm_assets"],
        info["versions"],
        t.elapsed().as_secs_f64()
    );
    let env: BTreeMap<String, String> = info["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let stores = open_state(dir.path(), 5).unwrap();
    let app = app_from_env(stores, &|k: &str| env.get(k).cloned(), None, None).unwrap();
    let forever = || Duration::MAX;
    let rss_start = peak_rss_kb();

    // First install: a full scan over an empty mapping finds everything approved.
    child.ask("calls");
    let t = Instant::now();
    let full =
        reconciler::run(&app, &Options { mode: Mode::Full, ..Default::default() }, &forever).await.unwrap();
    report("(b) full scan, first install", &full, &child.ask("calls"), t.elapsed());
    println!(
        "    peak RSS of the reconciler process: {} MB (at start {} MB)",
        peak_rss_kb() / 1024,
        rss_start / 1024
    );

    // Stand the mapping up as the processor would, so later runs compare against a full mapping
    // (the processor itself is measured in the flow benchmark).
    let t = Instant::now();
    let processed = connector::worker::drain(&app, Duration::from_secs(24 * 3600), |_| {}).await.unwrap();
    let linked = {
        let mut n = 0u64;
        let mut cursor = None;
        loop {
            let page = app
                .stores
                .mapping
                .list_titles(connector_store::PageRequest { limit: 500, cursor })
                .await
                .unwrap();
            for t in &page.items {
                n += app
                    .stores
                    .mapping
                    .links_for_title(&t.isbn)
                    .await
                    .unwrap()
                    .iter()
                    .filter(|l| l.status == LinkStatus::Linked)
                    .count() as u64;
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        n
    };
    println!(
        "    processed the {} enqueued messages in {:.1} s: {linked} links",
        processed.messages,
        t.elapsed().as_secs_f64()
    );
    child.ask("calls");

    let t = Instant::now();
    let full2 =
        reconciler::run(&app, &Options { mode: Mode::Full, ..Default::default() }, &forever).await.unwrap();
    report("(b) full scan, steady state (link check included)", &full2, &child.ask("calls"), t.elapsed());
    println!("    peak RSS of the reconciler process: {} MB", peak_rss_kb() / 1024);

    // The incremental watermark is its own: its first run reads the whole feed once.
    let t = Instant::now();
    let prime = reconciler::run(&app, &Options::default(), &forever).await.unwrap();
    report("first incremental run (sets the watermark)", &prime, &child.ask("calls"), t.elapsed());

    let t = Instant::now();
    let inc = reconciler::run(&app, &Options::default(), &forever).await.unwrap();
    report("(a) incremental, nothing changed", &inc, &child.ask("calls"), t.elapsed());

    let changed = child.ask("change 1");
    let t = Instant::now();
    let inc = reconciler::run(&app, &Options::default(), &forever).await.unwrap();
    report(
        &format!("(c) incremental, 1% of titles changed ({} new versions)", changed["changed"]),
        &inc,
        &child.ask("calls"),
        t.elapsed(),
    );
    println!("    peak RSS of the reconciler process: {} MB", peak_rss_kb() / 1024);
    child.ask("quit");
    let _ = child.process.wait();
}
