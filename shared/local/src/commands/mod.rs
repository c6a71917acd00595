//! The CLI's commands, one file each: its clap arguments (`<Name>Args`) and its body, a
//! `pub async fn run(args)` (`command(args)` in `backfill` and `plan`, whose `run` is the
//! library call the body makes). `main.rs` holds only the list of commands and the dispatch.

pub mod audit;
pub mod backfill;
pub mod check;
pub mod demo;
pub mod package;
pub mod plan;
pub mod reconcile;
pub mod replay;
pub mod serve;
pub mod sim;
pub mod status;

use crate::{app_from_env, open_state};
use connector_app::App;
use std::fmt;
use std::path::Path;

/// Why a command failed: the message `main` prints before exiting non-zero. A newtype, not a
/// bare `String`, so a command's error is a type; the commands build it from the messages of
/// the errors they meet (`?` on a `String`, or `.map_err(CommandError::from_display)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError(pub String);

impl CommandError {
    pub fn from_display(e: impl fmt::Display) -> Self {
        CommandError(e.to_string())
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandError {}

impl From<String> for CommandError {
    fn from(message: String) -> Self {
        CommandError(message)
    }
}

impl From<&str> for CommandError {
    fn from(message: &str) -> Self {
        CommandError(message.to_string())
    }
}

impl From<connector_web::intake::SecretError> for CommandError {
    fn from(e: connector_web::intake::SecretError) -> Self {
        CommandError::from_display(e)
    }
}

/// A variable lookup (the process environment, or it overlaid with the simulators').
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// The variables `reconcile`, `backfill`, `package` and `plan` read: the process environment,
/// and, unless it names both systems, the simulators a running `connector serve` on
/// `state_dir` wrote down.
pub fn systems_env(state_dir: &Path) -> EnvLookup {
    let process = |k: &str| std::env::var(k).ok();
    if process("OTMM_BASE_URL").is_some() && process("CONSONANCE_BASE_URL").is_some() {
        return Box::new(process);
    }
    let file = state_dir.join(crate::SERVE_ENV_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            eprintln!("using the simulators of `connector serve` ({})", file.display());
            Box::new(crate::overlay_env(crate::parse_env_lines(&text), process))
        }
        Err(_) => Box::new(process),
    }
}

/// Whether a `connector serve` on the simulators runs on `state_dir`. Two workers on one
/// queue only slow each other down (each waits out the other's claims): beside a running
/// serve, its worker processes what a command enqueues.
pub fn serve_running(state_dir: &Path) -> bool {
    state_dir.join(crate::SERVE_ENV_FILE).exists()
}

/// The connector on the embedded state in `state_dir`, against the systems of
/// [`systems_env`], with the local worker's queue settings
/// ([`connector_app::sizing::QueueTiming::LOCAL`]).
pub fn local_app(state_dir: &Path) -> Result<App, CommandError> {
    let env = systems_env(state_dir);
    let settings = connector_app::wiring::settings_for(&env, connector_app::sizing::QueueTiming::LOCAL)
        .map_err(|e| e.to_string())?;
    let stores = open_state(state_dir, settings.max_receives).map_err(|e| e.to_string())?;
    app_from_env(stores, &env, None, Some(settings)).map_err(CommandError::from_display)
}

/// `value` as pretty JSON, or the serializer's error as the command's.
pub fn pretty_json(value: &impl serde::Serialize) -> Result<String, CommandError> {
    serde_json::to_string_pretty(value).map_err(CommandError::from_display)
}
