//! `connector demo`: runs [`crate::demo`] on a new state directory, prints its summary and
//! fails when the demo did not converge.

use super::CommandError;
use crate::demo::{self, DemoOptions};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 300)]
    pub titles: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// State directory (default: a new one under .state/).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: DemoArgs) -> Result<(), CommandError> {
    let DemoArgs { titles, seed, state_dir, json } = args;
    let state_dir = state_dir.unwrap_or_else(|| {
        PathBuf::from(format!(".state/demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")))
    });
    eprintln!("demo: {titles} titles, state in {}", state_dir.display());
    let progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary =
        demo::run(DemoOptions { titles, seed, state_dir, progress }).await.map_err(|e| e.to_string())?;
    if json {
        println!("{}", super::pretty_json(&summary)?);
    } else {
        print!("{}", demo::render(&summary));
        println!("{}", demo::one_line(&summary));
    }
    if summary.titles_linked == 0 || summary.messages < summary.webhooks_delivered as u64 {
        return Err("the demo did not link any title or left events unprocessed".into());
    }
    if summary.silent_approvals_linked < summary.silent_approvals
        || summary.resources_restored < summary.resources_deleted_by_hand
    {
        return Err("the reconciler did not converge".into());
    }
    Ok(())
}
