//! `connector`: the OTMM <-> Consonance connector on one machine. Results go to stdout, logs
//! and progress to stderr (`RUST_LOG` sets the log level).
//!
//! The list of commands and the dispatch; each command's arguments and body are in
//! `connector::commands::<name>`.

use clap::{Parser, Subcommand};
use connector::commands::CommandError;
use connector::commands::{
    audit, backfill, check, demo, package, plan, reconcile, replay, serve, sim, status,
};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "connector", version, about = "OTMM <-> Consonance connector, on embedded state")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Try every assumption about the OTMM and Consonance APIs against the systems in the
    /// environment (the simulators when OTMM_BASE_URL / CONSONANCE_BASE_URL are not set), one
    /// line each: PASS/WARN/SKIP/FAIL, what was tried, the config key to change. Reads only.
    /// Exits non-zero when a check fails. Run it first against real systems.
    Check(check::CheckArgs),
    /// Seed a sample catalogue in both simulators, drive approvals through the webhook path,
    /// process them, and report what happened.
    Demo(demo::DemoArgs),
    /// Serve the webhook routes and process events continuously. Uses the simulators unless
    /// OTMM_BASE_URL / CONSONANCE_BASE_URL (and their credentials) are set.
    Serve(serve::ServeArgs),
    /// Run both simulators on their own, each behind a chaos proxy, and print their URLs and
    /// the environment for `serve` as one JSON line (state survives a connector restart).
    Sim(sim::SimArgs),
    /// Pull what changed in OTMM and Consonance since the last run, compare with the mapping,
    /// enqueue repairs and process them. `--full` walks everything and checks every link;
    /// `--rights` runs the daily rights pass. Against the systems in the environment, else the
    /// simulators of a `connector serve` on the same --state-dir (whose worker then processes
    /// the repairs: this command only enqueues them).
    Reconcile(reconcile::ReconcileArgs),
    /// First install: walk the catalogue from a look-back date (OTMM assets changed on or after
    /// it, Consonance works changed since its day) with a progress bar, enqueue what is
    /// missing and process it. Checkpointed after every page: stopped, the same command
    /// continues where it was (another --since starts over). Against the systems in the
    /// environment, else the simulators of a `connector serve` on the same --state-dir (whose
    /// worker then processes the messages).
    Backfill(backfill::BackfillArgs),
    /// Build (or confirm) the production packages of every work the mapping knows, or of one
    /// ISBN's work, against the systems in the environment; `--release` then releases the
    /// staged ones (a web link to the manifest on the Consonance product).
    Package(package::PackageArgs),
    /// A dry run of a full reconcile: reads OTMM and Consonance, writes nothing (to them or to
    /// the state), and reports the links it would create, replace or withdraw (with the rights
    /// reasons), the identifiers it would rewrite, the requests it would raise, the packages it
    /// would stage or block and what it would dead-letter. Against the systems in the
    /// environment, else the simulators of a `connector serve` on --state-dir, else (with
    /// --sim-titles) simulators of its own.
    Plan(plan::PlanArgs),
    /// List dead letters, or move them back to the queue.
    Replay(replay::ReplayArgs),
    /// Queue depth, dead letters by cause, the last reconcile run, and the counters of a
    /// running `connector serve` (its GET /metrics). A table, or --json.
    Status(status::StatusArgs),
    /// Show the audit trail of a title (ISBN) or an asset (OTMM lineage id), newest first.
    Audit(audit::AuditArgs),
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logs();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CommandError> {
    match cli.command {
        Command::Check(args) => check::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Reconcile(args) => reconcile::run(args).await,
        Command::Backfill(args) => backfill::command(args).await,
        Command::Package(args) => package::run(args).await,
        Command::Plan(args) => plan::command(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Status(args) => status::run(args).await.map_err(CommandError::from_display),
        Command::Audit(args) => audit::run(args).await,
    }
}
