//! `connector replay`: lists the dead letters with their causes, or (`--id`, `--all`) moves
//! them back to the flow queue.

use super::CommandError;
use crate::open_state;
use connector_app::dlq;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct ReplayArgs {
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Replay these message ids (repeatable).
    #[arg(long = "id")]
    pub ids: Vec<String>,
    /// Replay every dead letter.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(args: ReplayArgs) -> Result<(), CommandError> {
    let ReplayArgs { state_dir, ids, all } = args;
    let stores = open_state(&state_dir, 5).map_err(|e| e.to_string())?;
    if !all && ids.is_empty() {
        let dead = dlq::list(&stores, dlq::MAX_LISTED).await.map_err(|e| e.to_string())?;
        println!("{} dead letters in {}", dead.len(), state_dir.display());
        for m in dead {
            println!("{}", describe(&m));
        }
        println!("replay with --id <message id> (repeatable) or --all");
        return Ok(());
    }
    let selection = if all { dlq::Selection::All } else { dlq::Selection::Ids(ids) };
    let outcome =
        dlq::replay(&stores, &selection, chrono::Utc::now(), None).await.map_err(|e| e.to_string())?;
    for id in &outcome.not_found {
        eprintln!("not in the dead-letter queue: {id}");
    }
    println!(
        "{} dead letters moved back to the flow queue (audit {}); `connector serve` processes them",
        outcome.moved, outcome.audit_id
    );
    Ok(())
}

/// One dead letter as the listing shows it: what it was about, how it failed, its cause.
fn describe(m: &dlq::DeadLetter) -> String {
    let about = match (&m.isbn, &m.asset_id) {
        (Some(isbn), _) => format!("title {isbn}"),
        (None, Some(asset)) => format!("asset {asset}"),
        _ => "-".to_string(),
    };
    let gave_up = match m.exhausted_retries {
        Some(true) => " (gave up on transient failures)",
        Some(false) => " (permanent)",
        None => "",
    };
    format!(
        "{}  received {}x{gave_up}  {} {}  {}\n    cause: {}\n    audit: {}",
        m.message_id,
        m.receive_count,
        m.event_type.as_deref().unwrap_or("unreadable"),
        m.event_id.as_deref().unwrap_or(""),
        about,
        m.cause.as_deref().unwrap_or("(no audit record names it)"),
        m.cause_audit_id.as_deref().unwrap_or("-"),
    )
}
