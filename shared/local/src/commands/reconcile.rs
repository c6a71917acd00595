//! `connector reconcile [--full | --rights]`: one reconciler run on the local state, then the
//! repairs it enqueued processed here (or left to a running `serve`'s worker).

use super::CommandError;
use crate::worker;
use connector_app::reconciler::{self, Mode};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct ReconcileArgs {
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    #[arg(long, conflicts_with = "rights")]
    pub full: bool,
    /// The daily rights pass: report rights expiring soon, withdraw expired links, link
    /// withheld ones whose rights have started. Reads no external system.
    #[arg(long)]
    pub rights: bool,
    /// Enqueue the repairs and leave them to a worker (a `connector serve` on the same
    /// state); implied when one is running there.
    #[arg(long)]
    pub enqueue_only: bool,
}

pub async fn run(args: ReconcileArgs) -> Result<(), CommandError> {
    let ReconcileArgs { state_dir, full, rights, enqueue_only } = args;
    let serve_running = super::serve_running(&state_dir);
    let app = super::local_app(&state_dir)?;
    let mode = match (full, rights) {
        (_, true) => Mode::Rights,
        (true, false) => Mode::Full,
        (false, false) => Mode::Incremental,
    };
    let summary =
        reconciler::run(&app, &reconciler::Options { mode, ..Default::default() }, &|| Duration::MAX)
            .await
            .map_err(|e| e.to_string())?;
    if enqueue_only || serve_running {
        println!("{}", super::pretty_json(&summary)?);
        let who = if serve_running { "the worker of the running `connector serve`" } else { "a worker" };
        println!("enqueued {} messages, left to {who}", summary.enqueued);
        return Ok(());
    }
    let report = worker::drain(&app, Duration::from_secs(3600), |_| {}).await.map_err(|e| e.to_string())?;
    println!("{}", super::pretty_json(&summary)?);
    println!(
        "processed {} messages ({} done, {} retried, {} dead-lettered)",
        report.messages, report.done, report.retried, report.dead_lettered
    );
    Ok(())
}
