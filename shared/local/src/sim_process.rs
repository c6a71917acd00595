//! `connector sim`: both simulators in a process of their own, each behind a chaos proxy
//! ([`connector_sim::chaos`]), so their state outlives a connector that is killed and started
//! again (the chaos test), and a person can point `connector serve` at them by hand.
//!
//! It prints one JSON line on stdout ([`SimInfo`]) once everything listens, then serves until
//! it is interrupted (or, with `--exit-when-stdin-closes`, until its stdin closes: a parent
//! that dies takes it along).

use crate::Simulators;
use crate::commands::CommandError;
use chrono::{DateTime, Utc};
use connector_sim::catalogue::Catalogue;
use connector_sim::chaos::{ChaosOptions, ChaosProxy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What `connector sim` was asked for.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub titles: usize,
    pub seed: u64,
    /// The catalogue's "now" (its dates are relative to it): the same value gives the same
    /// catalogue, so two runs can be compared.
    pub now: DateTime<Utc>,
    /// Share of requests through the proxies that are faulted (changeable later through
    /// `PUT /__chaos` on each proxy).
    pub chaos_rate: f64,
    pub chaos_seed: u64,
    /// Longer than the connector's request timeout: stalled answers.
    pub stall: Duration,
    /// Shorter than the request timeout: late answers.
    pub latency: Duration,
}

/// The line `connector sim` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimInfo {
    /// The simulators themselves (control routes `/__sim/...`; never faulted).
    pub otmm_sim: String,
    pub consonance_sim: String,
    /// The chaos proxies in front of them (what the connector talks to).
    pub otmm: String,
    pub consonance: String,
    /// The environment for `connector serve` (base URLs are the proxies').
    pub env: Vec<(String, String)>,
}

/// Starts everything; the caller keeps the returned parts alive as long as it serves.
pub async fn start(options: &SimOptions) -> (SimInfo, Simulators, [ChaosProxy; 2]) {
    let catalogue = Catalogue::generate(options.titles, options.seed, options.now);
    let sims = Simulators::start(&catalogue, None, crate::SIM_WEBHOOK_SECRET).await;
    let proxy = |upstream: &str, seed: u64| ChaosOptions {
        upstream: upstream.to_string(),
        rate: options.chaos_rate,
        seed,
        stall: options.stall,
        latency: options.latency,
        retry_after_secs: 1,
    };
    let otmm = ChaosProxy::start(0, proxy(sims.otmm.base_url(), options.chaos_seed)).await;
    let consonance = ChaosProxy::start(0, proxy(sims.consonance.base_url(), options.chaos_seed + 1)).await;
    let env = sims
        .env()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "OTMM_BASE_URL" => (k, otmm.base_url().to_string()),
            "CONSONANCE_BASE_URL" => (k, consonance.base_url().to_string()),
            _ => (k, v),
        })
        .collect();
    let info = SimInfo {
        otmm_sim: sims.otmm.base_url().to_string(),
        consonance_sim: sims.consonance.base_url().to_string(),
        otmm: otmm.base_url().to_string(),
        consonance: consonance.base_url().to_string(),
        env,
    };
    (info, sims, [otmm, consonance])
}

/// `connector sim`: start, print [`SimInfo`], serve until Ctrl-C (or stdin closes).
pub async fn run(options: SimOptions, exit_when_stdin_closes: bool) -> Result<(), CommandError> {
    let (info, sims, proxies) = start(&options).await;
    println!("{}", serde_json::to_string(&info).map_err(|e| e.to_string())?);
    eprintln!(
        "simulators: OTMM {} (via {}), Consonance {} (via {}); chaos rate {}",
        info.otmm_sim, info.otmm, info.consonance_sim, info.consonance, options.chaos_rate
    );
    tokio::select! {
        _ = stdin_closed(exit_when_stdin_closes) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(proxies);
    sims.otmm.shutdown().await;
    sims.consonance.shutdown().await;
    Ok(())
}

/// Resolves when stdin reaches its end (the parent closed the pipe or died); never when `watch`
/// is false.
pub async fn stdin_closed(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 256];
        while matches!(std::io::Read::read(&mut std::io::stdin(), &mut sink), Ok(n) if n > 0) {}
    })
    .await;
}
