//! `connector sim`: the arguments of [`crate::sim_process`], which does the work.

use super::CommandError;
use crate::sim_process::{self, SimOptions};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    #[arg(long, default_value_t = 50)]
    pub titles: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The catalogue's "now" (RFC 3339): the same value gives the same catalogue.
    #[arg(long)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Share of requests the proxies fault (each proxy: `PUT /__chaos {"rate": r}`).
    #[arg(long, default_value_t = 0.0)]
    pub chaos_rate: f64,
    #[arg(long, default_value_t = 1)]
    pub chaos_seed: u64,
    /// Stalled answers last this long (longer than the connector's request timeout).
    #[arg(long, default_value_t = 2_000)]
    pub stall_ms: u64,
    /// Late answers are this late (shorter than the request timeout).
    #[arg(long, default_value_t = 200)]
    pub latency_ms: u64,
    #[arg(long)]
    pub exit_when_stdin_closes: bool,
}

pub async fn run(args: SimArgs) -> Result<(), CommandError> {
    let options = SimOptions {
        titles: args.titles,
        seed: args.seed,
        now: args.now.unwrap_or_else(chrono::Utc::now),
        chaos_rate: args.chaos_rate,
        chaos_seed: args.chaos_seed,
        stall: Duration::from_millis(args.stall_ms),
        latency: Duration::from_millis(args.latency_ms),
    };
    sim_process::run(options, args.exit_when_stdin_closes).await
}
