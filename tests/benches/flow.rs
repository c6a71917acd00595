//! Events through intake + processor on the embedded adapters, against the simulators.
//!
//! `cargo bench -p connector-tests --bench flow` prints:
//! 1. throughput with zero-latency simulators (events/s: intake, processor, end to end);
//! 2. external API calls per approval event, per duplicate delivery, per repeated approval;
//! 3. throughput with 50 ms added to every simulated API call, as a ratio of the bound that
//!    latency and the allowed concurrency set: `concurrency / (calls per event x 50 ms)`.
//!
//! Figures are recorded in docs/PERFORMANCE.md.

use connector_app::Settings;
use connector_sim::faults::Fault;
use connector_tests::e2e::{Backend, Harness};
use std::time::{Duration, Instant};

fn external_calls(h: &Harness) -> usize {
    h.sims.otmm.faults().requests().len() + h.sims.consonance.faults().requests().len()
}

/// The calls by system, method and path, per event, most first: where a figure above comes from.
fn breakdown(h: &Harness, events: usize) -> String {
    let per_event = |n: usize| n as f64 / events.max(1) as f64;
    h.calls_by_path().iter().map(|(k, n)| format!("    {:.2}  {k}\n", per_event(*n))).collect()
}

fn clear_logs(h: &Harness) {
    h.sims.otmm.faults().clear_log();
    h.sims.consonance.faults().clear_log();
}

/// Approves the latest version of every asset; returns how many approvals were made.
fn approve_all(h: &Harness) -> usize {
    let mut n = 0;
    for a in h.catalogue.assets.iter().filter(|a| {
        a.asset_type == "Front Cover" || a.asset_type == "Author Photo" || a.asset_type == "Spine"
    }) {
        let v = a.versions.last().map(|v| v.version).unwrap_or(1);
        if h.sims.otmm.approve(&a.original_asset_id, v, "bench").is_ok() {
            n += 1;
        }
    }
    n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it:
    // then a small smoke run proves it still works without spending minutes.
    let measuring = std::env::args().any(|a| a == "--bench");
    let default_titles = if measuring { 200 } else { 6 };
    let titles: usize =
        std::env::var("BENCH_TITLES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_titles);

    // 1. Zero-latency simulators.
    let h = Harness::start(Backend::Embedded, "bench-zero", titles).await;
    clear_logs(&h);
    let t0 = Instant::now();
    let events = approve_all(&h);
    let delivered = h.sims.otmm.wait_for_deliveries(events, Duration::from_secs(300)).await.len();
    let intake_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let report = h.drain().await;
    let process_s = t1.elapsed().as_secs_f64();
    let total_s = t0.elapsed().as_secs_f64();
    assert_eq!(report.done as usize, events, "{report:?}");
    let calls_first = external_calls(&h);
    println!("zero latency: {events} approval events ({titles} titles), {delivered} webhooks delivered");
    println!("  intake (signed webhook -> 202, serial sender): {:>8.0} events/s", events as f64 / intake_s);
    println!(
        "  processor (queue -> OTMM -> Consonance -> mapping + audit): {:>8.0} events/s",
        events as f64 / process_s
    );
    println!("  end to end: {:>8.0} events/s ({total_s:.2} s)", events as f64 / total_s);

    // 2. Calls per event.
    let per_event = calls_first as f64 / events as f64;
    println!("external API calls per approval event (first link): {per_event:.2}");
    print!("{}", breakdown(&h, events));
    // Duplicates: the same bodies delivered again (re-signed now) stop at the intake.
    clear_logs(&h);
    let client = reqwest::Client::new();
    let deliveries = h.sims.otmm.deliveries();
    let mut duplicates = 0;
    for d in deliveries.iter().take(100) {
        assert_eq!(h.redeliver(&client, &d.body).await, 202);
        duplicates += 1;
    }
    let depth = h.app.stores.queue.depth().await.unwrap();
    println!(
        "external API calls per duplicate delivery: {:.2} ({duplicates} duplicates, {} messages enqueued)",
        external_calls(&h) as f64 / duplicates as f64,
        depth.visible + depth.in_flight
    );
    // Repeats: a new approval event for a version already linked.
    clear_logs(&h);
    let repeats = approve_all(&h);
    h.sims.otmm.wait_for_deliveries(events + repeats, Duration::from_secs(300)).await;
    let r = h.drain().await;
    println!(
        "external API calls per repeated approval (already linked, nothing written): {:.2} ({} events)",
        (external_calls(&h)) as f64 / repeats as f64,
        r.done
    );

    // 3. 50 ms on every simulated call.
    let latency = Duration::from_millis(50);
    // Enough events that the drain's tail (its last lanes finishing alone, about one message's
    // time) is a small part of the run: 0.85 of the bound at 40 titles (96 events, 4 s), 0.88
    // at 100 and at 200 (3 Dec).
    let latency_titles: usize = std::env::var("BENCH_LATENCY_TITLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 100 } else { titles.min(40) });
    let h = Harness::start(Backend::Embedded, "bench-latency", latency_titles).await;
    let concurrency = Settings::default().concurrency;
    let mut app = h.app.clone();
    app.settings.concurrency = concurrency;
    for faults in [h.sims.otmm.faults(), h.sims.consonance.faults()] {
        faults.set(None, "/", Fault { latency_ms: latency.as_millis() as u64, ..Default::default() });
    }
    let events = approve_all(&h);
    h.sims.otmm.wait_for_deliveries(events, Duration::from_secs(300)).await;
    clear_logs(&h);
    let t = Instant::now();
    let report = connector::worker::drain(&app, Duration::from_secs(600), |_| {}).await.unwrap();
    let elapsed = t.elapsed().as_secs_f64();
    assert_eq!(report.done as usize, events);
    let calls = external_calls(&h) as f64 / events as f64;
    let measured = events as f64 / elapsed;
    let bound = concurrency as f64 / (calls * latency.as_secs_f64());
    println!("50 ms per API call: {events} events, {calls:.2} calls/event, concurrency {concurrency}");
    println!(
        "  measured {measured:.1} events/s; bound concurrency/(calls x latency) = {bound:.1} events/s; ratio {:.2}",
        measured / bound
    );
}
