//! The reconciler over a large simulated catalogue.
//!
//! `BENCH_TITLES=100000 cargo bench -p connector-tests --bench reconcile` prints, for the
//! reconciler alone (the simulators run in a child process, so the parent's peak RSS is the
//! reconciler's, with its embedded state and queue):
//! (a) an incremental run with nothing changed: API calls and wall time, while the last
//!     changes are recent (within the 5-minute overlap) and in the steady state (after ten
//!     quiet minutes, on both clocks);
//! (b) a full scan (first install, then the link check): wall time, API calls, peak RSS;
//! (c) 1% of titles changed: calls and time.
//!
//! Each scenario also gives its bound, measured in the same run: the same API calls made by
//! the clients alone, one after another as the reconciler makes them, with no store reads,
//! comparisons, checkpoints or enqueues. The ratio (reconciler / calls alone) is what the
//! connector adds to the cost of the calls it cannot avoid. CPU time of the two processes says
//! where the wall time went.

use chrono::{DateTime, NaiveDate, Utc};
use connector::{Simulators, app_from_env, open_state};
use connector_app::App;
use connector_app::reconciler::{self, Mode, Options};
use connector_core::plan::asset_isbn;
use connector_core::{LinkStatus, WorkId};
use connector_sim::catalogue::{Catalogue, fixture_now};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and
/// then a small smoke run proves it still works without spending minutes. The child process
/// inherits the size through BENCH_TITLES.
fn titles() -> usize {
    let default = if std::env::args().any(|a| a == "--bench") { 10_000 } else { 20 };
    std::env::var("BENCH_TITLES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Peak resident set of this process since the last [`reset_peak_rss`] (kB).
fn peak_rss_kb() -> u64 {
    proc_status_kb("VmHWM:")
}

/// Starts a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM to the current
/// RSS), so each scenario reports its own peak, not the largest of the whole run.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time (user + system, all threads) of this process, in ms.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // Clock ticks are 100 Hz on Linux.
    f.get(11).zip(f.get(12)).map(|(u, s)| (u + s) * 10).unwrap_or(0)
}

async fn sims_child() {
    let t = Instant::now();
    let catalogue = Catalogue::generate(titles(), 5, fixture_now());
    let generated = t.elapsed();
    let sims = Simulators::start(&catalogue, None, "unused-secret-unused").await;
    let out = serde_json::json!({
        "env": sims.env(),
        "otmm_assets": catalogue.assets.len(),
        "versions": catalogue.assets.iter().map(|a| a.versions.len()).sum::<usize>(),
        "products": catalogue.product_count(),
        "generate_ms": generated.as_millis() as u64,
        "start_ms": (t.elapsed() - generated).as_millis() as u64,
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
                // Calls since the last "calls", by kind, and this process's CPU time so far.
                let otmm = sims.otmm.faults();
                let search = otmm.count_requests(|r| r.path.contains("/search/"));
                let versions = otmm.count_requests(|r| r.path.ends_with("/versions"));
                let sessions = otmm.count_requests(|r| r.path.contains("/sessions"));
                let all = otmm.count_requests(|_| true);
                let consonance = sims.consonance.faults().count_requests(|_| true);
                otmm.clear_log();
                sims.consonance.faults().clear_log();
                let out = serde_json::json!({
                    "otmm": all, "otmm_search": search, "otmm_versions": versions,
                    "otmm_sessions": sessions, "consonance": consonance, "cpu_ms": cpu_ms(),
                });
                println!("{out}");
            }
            ["advance", minutes] => {
                // Time passes on OTMM's clock (the parent moves its own by as much).
                let minutes = minutes.parse::<u64>().unwrap_or(0);
                sims.otmm.advance_clock(Duration::from_secs(minutes * 60));
                println!("{{\"advanced\":{minutes}}}");
            }
            ["latency", ms] => {
                // Every OTMM and Consonance answer this late (0: none).
                let ms = ms.parse::<u64>().unwrap_or(0);
                for faults in [sims.otmm.faults(), sims.consonance.faults()] {
                    faults.set(
                        None,
                        "/",
                        connector_sim::faults::Fault { latency_ms: ms, ..Default::default() },
                    );
                }
                println!("{{\"latency_ms\":{ms}}}");
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

/// API calls made in one phase (from the simulators' request logs) and CPU time spent.
#[derive(Debug, Clone, Copy, Default)]
struct Phase {
    wall: Duration,
    otmm: u64,
    otmm_search: u64,
    otmm_versions: u64,
    otmm_sessions: u64,
    consonance: u64,
    /// CPU of the reconciler process and of the simulators' process during the phase.
    cpu_self_ms: u64,
    cpu_sims_ms: u64,
}

impl Phase {
    fn calls(&self) -> u64 {
        self.otmm + self.consonance
    }
}

/// Measures one phase: clears the call logs, runs `f`, reads the logs and CPU clocks.
async fn phase<T, F: std::future::Future<Output = T>>(child: &mut Child, f: F) -> (T, Phase) {
    let before = child.ask("calls");
    let self_before = cpu_ms();
    let t = Instant::now();
    let out = f.await;
    let wall = t.elapsed();
    let after = child.ask("calls");
    let n = |k: &str| after[k].as_u64().unwrap_or(0);
    let phase = Phase {
        wall,
        otmm: n("otmm"),
        otmm_search: n("otmm_search"),
        otmm_versions: n("otmm_versions"),
        otmm_sessions: n("otmm_sessions"),
        consonance: n("consonance"),
        cpu_self_ms: cpu_ms() - self_before,
        cpu_sims_ms: n("cpu_ms").saturating_sub(before["cpu_ms"].as_u64().unwrap_or(0)),
    };
    (out, phase)
}

/// Where each pass of a run starts: (OTMM since, skip), (Consonance since, after).
type Start = ((DateTime<Utc>, u64), (NaiveDate, Option<i64>));

/// The cursors an incremental run will start from (read before it runs).
async fn incremental_start(app: &App) -> Start {
    let read = |name: &'static str| async move {
        app.stores
            .checkpoints
            .get_checkpoint(name)
            .await
            .unwrap()
            .and_then(|c| serde_json::from_str::<serde_json::Value>(&c.cursor).ok())
            .unwrap_or_default()
    };
    let a = read("otmm-assets").await;
    let w = read("consonance-works").await;
    let since_a = a["since"].as_str().and_then(|s| s.parse().ok()).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let since_w = w["since"].as_str().and_then(|s| s.parse().ok()).unwrap_or(NaiveDate::MIN);
    ((since_a, a["skip"].as_u64().unwrap_or(0)), (since_w, w["after"].as_i64()))
}

fn full_start() -> Start {
    ((DateTime::<Utc>::UNIX_EPOCH, 0), (NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(), None))
}

/// Works with at least one live link: the full scan's link check reads each one's resources.
async fn works_with_links(app: &App) -> Vec<WorkId> {
    let mut works = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = app
            .stores
            .mapping
            .list_titles(connector_store::PageRequest { limit: 500, cursor })
            .await
            .unwrap();
        for t in &page.items {
            for l in app.stores.mapping.links_for_title(&t.isbn).await.unwrap() {
                if l.status == LinkStatus::Linked
                    && let Some(w) = l.work_id
                {
                    works.insert(w.0);
                }
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    works.into_iter().map(WorkId).collect()
}

/// The bound: the calls a run from `start` makes, by the clients alone, in the same order
/// (feed pages, the version listing for an asset whose latest version is not approved, works
/// pages, then each linked work's resources), with nothing else in between.
/// `list_versions`: list the versions of each asset whose latest version is not approved (a
/// full scan does; an incremental run lists them once per change of the asset, so in a
/// measured incremental scenario, which follows one that listed them, none).
async fn calls_alone(
    app: &App,
    start: Start,
    page_size: u64,
    linked_works: &[WorkId],
    list_versions: bool,
) -> u64 {
    let mut items = 0;
    let ((mut since, mut skip), (works_since, mut after)) = start;
    loop {
        let page = app.dam.changed_since(since, skip, page_size).await.unwrap();
        for f in &page {
            items += 1;
            let mapped = f.asset_type_field.as_deref().and_then(|v| app.config.role_for(v)).is_some();
            if list_versions && !f.deleted && mapped && !f.approved && f.version > 1 && asset_isbn(f).is_ok()
            {
                app.dam.versions(f).await.unwrap();
            }
        }
        let Some(last) = page.last() else { break };
        if last.last_updated == since {
            skip += page.len() as u64;
        } else {
            since = last.last_updated;
            skip = page.iter().filter(|f| f.last_updated == since).count() as u64;
        }
        if (page.len() as u64) < page_size {
            break;
        }
    }
    loop {
        let page = app.pms.works_changed_since(works_since, after).await.unwrap();
        let Some(last) = page.last() else { break };
        items += page.len() as u64;
        after = Some(last.work_id.0);
    }
    for works in linked_works.chunks(app.settings.lookups_per_query.max(1)) {
        app.pms.resource_ids_of_works(works).await.unwrap();
        items += works.len() as u64;
    }
    items
}

/// Figures of one scenario, printed as one block and kept for the summary table.
struct Figures {
    label: String,
    run: Phase,
    bound: Option<Phase>,
    summary: reconciler::Summary,
    peak_rss_kb: u64,
}

fn report(f: &Figures) {
    let (r, s) = (&f.run, &f.summary);
    println!("{}:", f.label);
    println!(
        "    wall {:.1} s; API calls {} (OTMM {}: {} searches (feed pages and lineage searches for versions), {} versions resource reads, {} sessions; Consonance {})",
        r.wall.as_secs_f64(),
        r.calls(),
        r.otmm,
        r.otmm_search,
        r.otmm_versions,
        r.otmm_sessions,
        r.consonance
    );
    println!(
        "    {} pages; seen {} assets, {} works, {} links; drift {:?}; {} enqueued; finished {}",
        s.pages, s.assets_seen, s.works_seen, s.links_checked, s.drift, s.enqueued, s.finished
    );
    println!(
        "    CPU: reconciler process {:.1} s, simulators {:.1} s; peak RSS of the reconciler process {:.1} MB",
        r.cpu_self_ms as f64 / 1000.0,
        r.cpu_sims_ms as f64 / 1000.0,
        f.peak_rss_kb as f64 / 1024.0
    );
    if let Some(b) = &f.bound {
        println!(
            "    bound, the same calls alone: {:.1} s for {} calls ({:.2} ms/call); reconciler / bound = {:.2}",
            b.wall.as_secs_f64(),
            b.calls(),
            b.wall.as_secs_f64() * 1000.0 / b.calls().max(1) as f64,
            r.wall.as_secs_f64() / b.wall.as_secs_f64().max(1e-9)
        );
    }
}

/// Runs the reconciler once, measured; with `bound`, then makes the same calls alone.
async fn scenario(
    child: &mut Child,
    app: &App,
    label: &str,
    mode: Mode,
    bound: bool,
    all: &mut Vec<Figures>,
) -> reconciler::Summary {
    let options = Options { mode, ..Default::default() };
    let start = match mode {
        Mode::Full | Mode::Backfill => full_start(),
        // The rights pass reads no change feed: it is not benchmarked here.
        Mode::Incremental | Mode::Rights => incremental_start(app).await,
    };
    let forever = || Duration::MAX;
    reset_peak_rss();
    let (summary, run) = phase(child, reconciler::run(app, &options, &forever)).await;
    let summary = summary.unwrap();
    let peak_rss_kb = peak_rss_kb();
    let bound = if bound {
        let linked = if mode == Mode::Full { works_with_links(app).await } else { Vec::new() };
        let list_versions = mode != Mode::Incremental;
        Some(phase(child, calls_alone(app, start, options.page_size, &linked, list_versions)).await.1)
    } else {
        None
    };
    let f = Figures { label: label.to_string(), run, bound, summary: summary.clone(), peak_rss_kb };
    report(&f);
    all.push(f);
    summary
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
        "catalogue: {} titles, {} products, {} OTMM assets ({} versions); generated in {:.1} s, simulators seeded in {:.1} s, up after {:.1} s",
        titles(),
        info["products"],
        info["otmm_assets"],
        info["versions"],
        info["generate_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        info["start_ms"].as_f64().unwrap_or(0.0) / 1000.0,
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
    let mut app = app_from_env(stores, &|k: &str| env.get(k).cloned(), None, None).unwrap();
    println!("reconciler process RSS before the first run: {} MB", proc_status_kb("VmRSS:") / 1024);
    let mut all = Vec::new();

    // First install: a full scan over an empty mapping finds everything approved.
    let full = scenario(&mut child, &app, "(b) full scan, first install", Mode::Full, true, &mut all).await;
    assert!(full.finished && full.enqueued > 0, "a first install enqueues the approved assets");

    // Stand the mapping up as the processor would, so later runs compare against a full mapping
    // (the processor itself is measured in the flow benchmark). BENCH_PROCESS=0 skips it, and
    // with it the steady-state full scan: the incremental runs then compare against an empty
    // mapping (same calls, but what they find is enqueued again).
    let process = std::env::var("BENCH_PROCESS").as_deref() != Ok("0");
    if !process {
        println!("BENCH_PROCESS=0: no processing, no steady-state full scan");
    }
    if process {
        let (processed, drain) =
            phase(&mut child, connector::worker::drain(&app, Duration::from_secs(24 * 3600), |_| {})).await;
        let processed = processed.unwrap();
        let linked_works = works_with_links(&app).await;
        println!(
            "processing the {} enqueued messages (flow processor, for reference): {:.1} s ({:.0} messages/s), {} API calls, CPU reconciler process {:.1} s, simulators {:.1} s; {} works linked",
            processed.messages,
            drain.wall.as_secs_f64(),
            processed.messages as f64 / drain.wall.as_secs_f64().max(1e-9),
            drain.calls(),
            drain.cpu_self_ms as f64 / 1000.0,
            drain.cpu_sims_ms as f64 / 1000.0,
            linked_works.len()
        );

        let steady = scenario(
            &mut child,
            &app,
            "(b) full scan, steady state (link check included)",
            Mode::Full,
            true,
            &mut all,
        )
        .await;
        assert!(steady.links_checked > 0, "the steady full scan checks the links");

        // (d) The steady full scan with every answer 50 ms late, one read at a time and with
        // the default concurrency (version lists of a page, resource listings of a page's
        // works): the wall time the calls' latency sets, and what concurrency takes off it.
        let latency_ms: u64 =
            std::env::var("BENCH_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
        if latency_ms > 0 {
            child.ask(&format!("latency {latency_ms}"));
            let mut walls = Vec::new();
            // BENCH_LATENCY_SEQUENTIAL=0 leaves out the one-at-a-time run (at 100,000 titles it
            // alone takes about calls x latency: hours).
            let sequential_too = std::env::var("BENCH_LATENCY_SEQUENTIAL").as_deref() != Ok("0");
            let runs: &[usize] = if sequential_too {
                &[1, Options::default().concurrency]
            } else {
                &[Options::default().concurrency]
            };
            for &concurrency in runs {
                let options = Options { mode: Mode::Full, concurrency, ..Default::default() };
                let forever = || Duration::MAX;
                reset_peak_rss();
                let (summary, run) = phase(&mut child, reconciler::run(&app, &options, &forever)).await;
                let summary = summary.unwrap();
                let sequential = Duration::from_millis(run.calls() * latency_ms);
                walls.push(run.wall);
                let f = Figures {
                    label: format!(
                        "(d) full scan, steady state, {latency_ms} ms per call, concurrency {concurrency}"
                    ),
                    run,
                    bound: None,
                    summary,
                    peak_rss_kb: peak_rss_kb(),
                };
                report(&f);
                println!(
                    "    {} calls x {latency_ms} ms = {:.1} s one after another; measured {:.1} s ({:.2} of it)",
                    run.calls(),
                    sequential.as_secs_f64(),
                    run.wall.as_secs_f64(),
                    run.wall.as_secs_f64() / sequential.as_secs_f64().max(1e-9)
                );
                all.push(f);
            }
            if let [one, many] = walls[..] {
                println!(
                    "    concurrency {} / 1: {:.2}x faster",
                    Options::default().concurrency,
                    one.as_secs_f64() / many.as_secs_f64().max(1e-9)
                );
            }
            child.ask("latency 0");
        }
    }

    // The incremental watermark is its own: its first run reads the whole feed once.
    scenario(
        &mut child,
        &app,
        "first incremental run (sets its watermark)",
        Mode::Incremental,
        false,
        &mut all,
    )
    .await;
    let nothing = scenario(
        &mut child,
        &app,
        "(a) incremental, nothing changed (the last changes within the overlap)",
        Mode::Incremental,
        true,
        &mut all,
    )
    .await;
    assert!(!process || nothing.enqueued == 0, "nothing changed, nothing enqueued");

    // Ten quiet minutes, on both clocks: the steady state of a catalogue nobody is editing.
    child.ask("advance 10");
    let later = chrono::Duration::minutes(10);
    app.clock = std::sync::Arc::new(move || Utc::now() + later);
    // The first run after them still reads what the last one did (that run began within the
    // overlap of the last changes); the one after it is the steady state.
    scenario(
        &mut child,
        &app,
        "first incremental run after ten quiet minutes",
        Mode::Incremental,
        false,
        &mut all,
    )
    .await;
    let steady = scenario(
        &mut child,
        &app,
        "(a) incremental, nothing changed since (steady state)",
        Mode::Incremental,
        true,
        &mut all,
    )
    .await;
    assert!(!process || steady.enqueued == 0, "nothing changed, nothing enqueued");

    let changed = child.ask("change 1");
    let c = scenario(
        &mut child,
        &app,
        &format!(
            "(c) incremental, 1% of titles changed ({} new front-cover versions approved)",
            changed["changed"]
        ),
        Mode::Incremental,
        true,
        &mut all,
    )
    .await;
    assert!(c.enqueued > 0, "changed titles are enqueued");

    println!();
    println!(
        "| run | wall time | API calls (OTMM + Consonance) | enqueued | reconciler CPU | simulators CPU | peak RSS | calls alone | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for f in &all {
        let (r, b) = (&f.run, f.bound.as_ref());
        println!(
            "| {} | {:.1} s | {} ({} + {}) | {} | {:.1} s | {:.1} s | {:.1} MB | {} | {} |",
            f.label,
            r.wall.as_secs_f64(),
            r.calls(),
            r.otmm,
            r.consonance,
            f.summary.enqueued,
            r.cpu_self_ms as f64 / 1000.0,
            r.cpu_sims_ms as f64 / 1000.0,
            f.peak_rss_kb as f64 / 1024.0,
            b.map(|b| format!("{:.1} s", b.wall.as_secs_f64())).unwrap_or_default(),
            b.map(|b| format!("{:.2}", r.wall.as_secs_f64() / b.wall.as_secs_f64().max(1e-9)))
                .unwrap_or_default(),
        );
    }
    child.ask("quit");
    let _ = child.process.wait();
}
