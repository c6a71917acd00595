//! `connector`: the OTMM <-> Consonance connector on one machine. Results go to stdout, logs
//! and progress to stderr (`RUST_LOG` sets the log level).

use clap::{Parser, Subcommand};
use connector::demo::{self, DemoOptions};
use connector::{SIM_WEBHOOK_SECRET, Simulators, app_from_env, http, intake_deps, open_state, worker};
use connector_app::dlq;
use connector_app::packages;
use connector_app::reconciler::{self, Mode};
use connector_core::{AssetId, Isbn13};
use connector_sim::catalogue::Catalogue;
use connector_store::PageRequest;
use connector_web::api::ApiDeps;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Seed a sample catalogue in both simulators, drive approvals through the webhook path,
    /// process them, and report what happened.
    Demo {
        #[arg(long, default_value_t = 300)]
        titles: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// State directory (default: a new one under .state/).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Print the summary as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve the webhook routes and process events continuously. Uses the simulators unless
    /// OTMM_BASE_URL / CONSONANCE_BASE_URL (and their credentials) are set.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080", env = "CONNECTOR_LISTEN")]
        listen: String,
        #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
        state_dir: PathBuf,
        /// Catalogue size for the simulators (when they are used).
        #[arg(long, default_value_t = 50)]
        sim_titles: usize,
        #[command(flatten)]
        timing: TimingArgs,
        /// Where state lives: `embedded` (SQLite and a folder in --state-dir) or `aws` (the
        /// tables, queues and bucket named by STATE_TABLE, FLOW_QUEUE_URL, ...; needs a build
        /// with the `aws` feature).
        #[arg(long, default_value = "embedded", env = "CONNECTOR_STATE")]
        state: StateBackend,
        /// Stop when stdin closes (a parent process that dies takes the connector along).
        #[arg(long)]
        exit_when_stdin_closes: bool,
    },
    /// Run both simulators on their own, each behind a chaos proxy, and print their URLs and
    /// the environment for `serve` as one JSON line (state survives a connector restart).
    Sim {
        #[arg(long, default_value_t = 50)]
        titles: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The catalogue's "now" (RFC 3339): the same value gives the same catalogue.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// Share of requests the proxies fault (each proxy: `PUT /__chaos {"rate": r}`).
        #[arg(long, default_value_t = 0.0)]
        chaos_rate: f64,
        #[arg(long, default_value_t = 1)]
        chaos_seed: u64,
        /// Stalled answers last this long (longer than the connector's request timeout).
        #[arg(long, default_value_t = 2_000)]
        stall_ms: u64,
        /// Late answers are this late (shorter than the request timeout).
        #[arg(long, default_value_t = 200)]
        latency_ms: u64,
        #[arg(long)]
        exit_when_stdin_closes: bool,
    },
    /// Pull what changed in OTMM and Consonance since the last run, compare with the mapping,
    /// enqueue repairs and process them. `--full` walks everything and checks every link;
    /// `--rights` runs the daily rights pass. Against the systems in the environment, else the
    /// simulators of a `connector serve` on the same --state-dir (whose worker then processes
    /// the repairs: this command only enqueues them).
    Reconcile {
        #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
        state_dir: PathBuf,
        #[arg(long, conflicts_with = "rights")]
        full: bool,
        /// The daily rights pass: report rights expiring soon, withdraw expired links, link
        /// withheld ones whose rights have started. Reads no external system.
        #[arg(long)]
        rights: bool,
        /// Enqueue the repairs and leave them to a worker (a `connector serve` on the same
        /// state); implied when one is running there.
        #[arg(long)]
        enqueue_only: bool,
    },
    /// First install: walk the catalogue from a look-back date (OTMM assets changed on or after
    /// it, Consonance works changed since its day) with a progress bar, enqueue what is
    /// missing and process it. Checkpointed after every page: stopped, the same command
    /// continues where it was (another --since starts over). Against the systems in the
    /// environment, else the simulators of a `connector serve` on the same --state-dir (whose
    /// worker then processes the messages).
    Backfill {
        #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
        state_dir: PathBuf,
        /// The look-back date: 2024-01-01 or an RFC 3339 time (the whole catalogue without it).
        #[arg(long, value_parser = |s: &str| reconciler::parse_since(s).map_err(|e| format!("--since {e}")))]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Assets per OTMM search page (a checkpoint is written after each).
        #[arg(long, default_value_t = 100)]
        page_size: u64,
        /// Enqueue and leave the processing to a worker (implied beside a running serve).
        #[arg(long)]
        enqueue_only: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build (or confirm) the production packages of every work the mapping knows, or of one
    /// ISBN's work, against the systems in the environment; `--release` then releases the
    /// staged ones (a web link to the manifest on the Consonance product).
    Package {
        #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
        state_dir: PathBuf,
        #[arg(long)]
        isbn: Option<String>,
        #[arg(long)]
        release: bool,
        /// With --release: release to this recipient of `[packages.recipients]`; refused for a
        /// package that failed (or was never checked against) its spec. Without it, a package
        /// blocked for any recipient is not released.
        #[arg(long, requires = "release")]
        recipient: Option<String>,
    },
    /// A dry run of a full reconcile: reads OTMM and Consonance, writes nothing (to them or to
    /// the state), and reports the links it would create, replace or withdraw (with the rights
    /// reasons), the identifiers it would rewrite, the requests it would raise, the packages it
    /// would stage or block and what it would dead-letter. Against the systems in the
    /// environment, else the simulators of a `connector serve` on --state-dir, else (with
    /// --sim-titles) simulators of its own.
    Plan {
        #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
        state_dir: PathBuf,
        /// Print the report as JSON (the shape in README, "connector plan").
        #[arg(long)]
        json: bool,
        /// Also write the report as one self-contained HTML file.
        #[arg(long)]
        html: Option<PathBuf>,
        /// With no systems configured and no `connector serve` on --state-dir: start simulators
        /// with this many titles.
        #[arg(long)]
        sim_titles: Option<usize>,
        /// The longest the plan spends processing what the reconcile found, in seconds.
        #[arg(long, default_value_t = 1800)]
        timeout_secs: u64,
    },
    /// List dead letters, or move them back to the queue.
    Replay {
        #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
        state_dir: PathBuf,
        /// Replay these message ids (repeatable).
        #[arg(long = "id")]
        ids: Vec<String>,
        /// Replay every dead letter.
        #[arg(long)]
        all: bool,
    },
    /// Queue depth, dead letters by cause, the last reconcile run, and the counters of a
    /// running `connector serve` (its GET /metrics). A table, or --json.
    Status(connector::commands::status::StatusArgs),
    /// Show the audit trail of a title (ISBN) or an asset (OTMM lineage id), newest first.
    Audit {
        #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
        state_dir: PathBuf,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        asset: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// The flow queue's timing for the local worker (see `connector_app::sizing`): claims, leases
/// and retry waits are derived from it, and a timing that breaks the rule is refused.
#[derive(clap::Args, Debug, Clone)]
struct TimingArgs {
    /// Seconds a received message stays hidden (the local queue's visibility timeout).
    #[arg(long, default_value_t = connector_app::sizing::QueueTiming::LOCAL.visibility.as_secs(), env = "CONNECTOR_VISIBILITY_SECS")]
    visibility_secs: u64,
    /// The longest the worker spends on one message, in seconds.
    #[arg(long, default_value_t = connector_app::sizing::QueueTiming::LOCAL.step_timeout.as_secs(), env = "CONNECTOR_STEP_TIMEOUT_SECS")]
    step_timeout_secs: u64,
    /// First wait before retrying a transient failure without Retry-After, in milliseconds.
    #[arg(long, default_value_t = connector_app::sizing::QueueTiming::LOCAL.base_retry.as_millis() as u64, env = "CONNECTOR_RETRY_BASE_MS")]
    retry_base_ms: u64,
}

impl TimingArgs {
    fn timing(&self) -> connector_app::sizing::QueueTiming {
        connector_app::sizing::QueueTiming {
            visibility: std::time::Duration::from_secs(self.visibility_secs),
            step_timeout: std::time::Duration::from_secs(self.step_timeout_secs),
            max_receives: connector_app::sizing::QueueTiming::LOCAL.max_receives,
            base_retry: std::time::Duration::from_millis(self.retry_base_ms),
        }
    }
}

/// A variable lookup (the process environment, or it overlaid with the simulators').
type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// The variables `reconcile` and `package` read: the process environment, and, unless it names
/// both systems, the simulators a running `connector serve` on `state_dir` wrote down.
fn systems_env(state_dir: &std::path::Path) -> EnvLookup {
    let process = |k: &str| std::env::var(k).ok();
    if process("OTMM_BASE_URL").is_some() && process("CONSONANCE_BASE_URL").is_some() {
        return Box::new(process);
    }
    let file = state_dir.join(connector::SERVE_ENV_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            eprintln!("using the simulators of `connector serve` ({})", file.display());
            Box::new(connector::overlay_env(connector::parse_env_lines(&text), process))
        }
        Err(_) => Box::new(process),
    }
}

/// Settings for the local worker's queue ([`connector_app::sizing::QueueTiming::LOCAL`]).
fn local_settings(env: &impl Fn(&str) -> Option<String>) -> Result<connector_app::Settings, String> {
    connector_app::wiring::settings_for(env, connector_app::sizing::QueueTiming::LOCAL)
        .map_err(|e| e.to_string())
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum StateBackend {
    Embedded,
    Aws,
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

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Demo { titles, seed, state_dir, json } => {
            let state_dir = state_dir.unwrap_or_else(|| {
                PathBuf::from(format!(".state/demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")))
            });
            eprintln!("demo: {titles} titles, state in {}", state_dir.display());
            let progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let summary = demo::run(DemoOptions { titles, seed, state_dir, progress })
                .await
                .map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
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
        Command::Serve { listen, state_dir, sim_titles, timing, state, exit_when_stdin_closes } => {
            serve(ServeOptions { listen, state_dir, sim_titles, timing, state, exit_when_stdin_closes }).await
        }
        Command::Check { json } => check(json).await,
        Command::Status(args) => connector::commands::status::run(args).await.map_err(|e| e.to_string()),
        Command::Sim {
            titles,
            seed,
            now,
            chaos_rate,
            chaos_seed,
            stall_ms,
            latency_ms,
            exit_when_stdin_closes,
        } => {
            let options = connector::sim_process::SimOptions {
                titles,
                seed,
                now: now.unwrap_or_else(chrono::Utc::now),
                chaos_rate,
                chaos_seed,
                stall: std::time::Duration::from_millis(stall_ms),
                latency: std::time::Duration::from_millis(latency_ms),
            };
            connector::sim_process::run(options, exit_when_stdin_closes).await
        }
        Command::Reconcile { state_dir, full, rights, enqueue_only } => {
            // Two workers on one queue only slow each other down (each waits out the other's
            // claims): beside a running serve, its worker processes what this run enqueues.
            let serve_running = state_dir.join(connector::SERVE_ENV_FILE).exists();
            let env = systems_env(&state_dir);
            let settings = local_settings(&env)?;
            let stores = open_state(&state_dir, settings.max_receives).map_err(|e| e.to_string())?;
            let app = app_from_env(stores, &env, None, Some(settings)).map_err(|e| e.to_string())?;
            let mode = match (full, rights) {
                (_, true) => Mode::Rights,
                (true, false) => Mode::Full,
                (false, false) => Mode::Incremental,
            };
            let summary = reconciler::run(&app, &reconciler::Options { mode, ..Default::default() }, &|| {
                std::time::Duration::MAX
            })
            .await
            .map_err(|e| e.to_string())?;
            if enqueue_only || serve_running {
                println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
                let who =
                    if serve_running { "the worker of the running `connector serve`" } else { "a worker" };
                println!("enqueued {} messages, left to {who}", summary.enqueued);
                return Ok(());
            }
            let report = worker::drain(&app, std::time::Duration::from_secs(3600), |_| {})
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
            println!(
                "processed {} messages ({} done, {} retried, {} dead-lettered)",
                report.messages, report.done, report.retried, report.dead_lettered
            );
            Ok(())
        }
        Command::Backfill { state_dir, since, page_size, enqueue_only, json } => {
            let serve_running = state_dir.join(connector::SERVE_ENV_FILE).exists();
            let env = systems_env(&state_dir);
            let settings = local_settings(&env)?;
            let stores = open_state(&state_dir, settings.max_receives).map_err(|e| e.to_string())?;
            let app = app_from_env(stores, &env, None, Some(settings)).map_err(|e| e.to_string())?;
            let options = connector::commands::backfill::BackfillOptions {
                since,
                page_size,
                enqueue_only: enqueue_only || serve_running,
            };
            let report = connector::commands::backfill::run(&app, &options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            } else {
                print!("{}", connector::commands::backfill::render(&report, since));
            }
            Ok(())
        }
        Command::Package { state_dir, isbn, release, recipient } => {
            let env = systems_env(&state_dir);
            let settings = local_settings(&env)?;
            let stores = open_state(&state_dir, settings.max_receives).map_err(|e| e.to_string())?;
            let app = app_from_env(stores, &env, None, Some(settings)).map_err(|e| e.to_string())?;
            let correlation = format!("cli-package-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
            let outcomes = match &isbn {
                Some(i) => {
                    let isbn = Isbn13::parse(i).map_err(|e| e.to_string())?;
                    packages::build_for_isbn(&app, &isbn, &correlation).await
                }
                None => packages::build_all(&app, &correlation).await,
            }
            .map_err(|e| e.to_string())?;
            for o in &outcomes {
                println!("{}", serde_json::to_string(o).map_err(|e| e.to_string())?);
            }
            if release {
                for d in packages::list(&app).await.map_err(|e| e.to_string())? {
                    let in_scope = isbn.is_none()
                        || outcomes.iter().any(|o| match o {
                            packages::BuildOutcome::Staged { isbn, .. }
                            | packages::BuildOutcome::Unchanged { isbn, .. } => *isbn == d.isbn,
                            _ => false,
                        });
                    if d.status == packages::STAGED && in_scope {
                        let r =
                            packages::release(&app, &d.isbn, d.channel, recipient.as_deref(), &correlation)
                                .await
                                .map_err(|e| e.to_string())?;
                        println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
                    }
                }
            }
            Ok(())
        }
        Command::Plan { state_dir, json, html, sim_titles, timeout_secs } => {
            let from_serve =
                std::env::var("OTMM_BASE_URL").is_err() || std::env::var("CONSONANCE_BASE_URL").is_err();
            let env = systems_env(&state_dir);
            let options = connector::commands::plan::PlanOptions {
                systems: if from_serve { "serve simulators".into() } else { "environment".into() },
                state_dir,
                sim_titles,
                deadline: std::time::Duration::from_secs(timeout_secs),
            };
            let report = connector::commands::plan::run(&options, &env).await.map_err(|e| e.to_string())?;
            if let Some(path) = &html {
                let page = connector::commands::plan::html::render(&report);
                std::fs::write(path, page).map_err(|e| format!("--html {}: {e}", path.display()))?;
                eprintln!("HTML report: {}", path.display());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            } else {
                print!("{}", connector::commands::plan::report::render_table(&report));
            }
            Ok(())
        }
        Command::Replay { state_dir, ids, all } => {
            let stores = open_state(&state_dir, 5).map_err(|e| e.to_string())?;
            if !all && ids.is_empty() {
                let dead = dlq::list(&stores, dlq::MAX_LISTED).await.map_err(|e| e.to_string())?;
                println!("{} dead letters in {}", dead.len(), state_dir.display());
                for m in dead {
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
                    println!(
                        "{}  received {}x{gave_up}  {} {}  {}\n    cause: {}\n    audit: {}",
                        m.message_id,
                        m.receive_count,
                        m.event_type.as_deref().unwrap_or("unreadable"),
                        m.event_id.as_deref().unwrap_or(""),
                        about,
                        m.cause.as_deref().unwrap_or("(no audit record names it)"),
                        m.cause_audit_id.as_deref().unwrap_or("-"),
                    );
                }
                println!("replay with --id <message id> (repeatable) or --all");
                return Ok(());
            }
            let selection = if all { dlq::Selection::All } else { dlq::Selection::Ids(ids) };
            let outcome = dlq::replay(&stores, &selection, chrono::Utc::now(), None)
                .await
                .map_err(|e| e.to_string())?;
            for id in &outcome.not_found {
                eprintln!("not in the dead-letter queue: {id}");
            }
            println!(
                "{} dead letters moved back to the flow queue (audit {}); `connector serve` processes them",
                outcome.moved, outcome.audit_id
            );
            Ok(())
        }
        Command::Audit { state_dir, title, asset, limit } => {
            let stores = open_state(&state_dir, 5).map_err(|e| e.to_string())?;
            let page = PageRequest { limit, cursor: None };
            let records = match (title, asset) {
                (Some(t), None) => {
                    let isbn = Isbn13::parse(&t).map_err(|e| e.to_string())?;
                    stores.audit.by_title(&isbn, page).await
                }
                (None, Some(a)) => {
                    let id = AssetId::parse(&a).map_err(|e| e.to_string())?;
                    stores.audit.by_asset(&id, page).await
                }
                _ => return Err("give exactly one of --title ISBN or --asset ID".into()),
            }
            .map_err(|e| e.to_string())?;
            for r in records.items {
                println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
            }
            Ok(())
        }
    }
}

async fn check(json: bool) -> Result<(), String> {
    let real = std::env::var("OTMM_BASE_URL").is_ok() && std::env::var("CONSONANCE_BASE_URL").is_ok();
    let process_env = |k: &str| std::env::var(k).ok();
    let mapping = Arc::new(connector_app::wiring::mapping_config(&process_env).map_err(|e| e.to_string())?);
    let (report, sims) = if real {
        (connector_app::check::run_from_env(&process_env, mapping).await.map_err(|e| e.to_string())?, None)
    } else {
        eprintln!("OTMM_BASE_URL / CONSONANCE_BASE_URL not set: checking against the simulators");
        let catalogue = Catalogue::generate(20, 7, chrono::Utc::now());
        let sims = Simulators::start(&catalogue, None, SIM_WEBHOOK_SECRET).await;
        let env: BTreeMap<String, String> = sims.env().into_iter().collect();
        let report = connector_app::check::run_from_env(&|k: &str| env.get(k).cloned(), mapping)
            .await
            .map_err(|e| e.to_string())?;
        (report, Some(sims))
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print!("{}", report.render());
    }
    if let Some(s) = sims {
        s.otmm.shutdown().await;
        s.consonance.shutdown().await;
    }
    let failed = report.with(connector_app::check::Status::Fail).len();
    if failed > 0 { Err(format!("{failed} checks failed")) } else { Ok(()) }
}

struct ServeOptions {
    listen: String,
    state_dir: PathBuf,
    sim_titles: usize,
    timing: TimingArgs,
    state: StateBackend,
    exit_when_stdin_closes: bool,
}

/// The state ports `serve` runs on.
async fn serve_stores(
    state: StateBackend,
    state_dir: &std::path::Path,
    max_receives: u32,
) -> Result<connector_store::Stores, String> {
    match state {
        StateBackend::Embedded => open_state(state_dir, max_receives).map_err(|e| e.to_string()),
        #[cfg(feature = "aws")]
        StateBackend::Aws => {
            let cfg = connector_store::aws::AwsConfig::from_env().map_err(|e| e.to_string())?;
            Ok(connector_store::aws::aws_stores(&cfg).await)
        }
        #[cfg(not(feature = "aws"))]
        StateBackend::Aws => {
            Err("--state aws needs a build with the `aws` feature (cargo build -p connector --features aws)"
                .into())
        }
    }
}

async fn serve(options: ServeOptions) -> Result<(), String> {
    let ServeOptions { listen, state_dir, sim_titles, timing, state, exit_when_stdin_closes } = options;
    let process_env = |k: &str| std::env::var(k).ok();
    let settings =
        connector_app::wiring::settings_for(&process_env, timing.timing()).map_err(|e| e.to_string())?;
    let stores = serve_stores(state, &state_dir, settings.max_receives).await?;
    let real = process_env("OTMM_BASE_URL").is_some() && process_env("CONSONANCE_BASE_URL").is_some();
    let secret = process_env("WEBHOOK_SECRET_OTMM");
    let consonance_configured = process_env("WEBHOOK_SECRET_CONSONANCE");
    // Bind first: the OTMM simulator needs the webhook URL, and port 0 means "any".
    let listener =
        tokio::net::TcpListener::bind(&listen).await.map_err(|e| format!("--listen {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let metrics = connector_metrics::prometheus::Prometheus::install().map_err(|e| e.to_string())?;
    let serve_url =
        connector::commands::status::ServeUrlFile::write(&state_dir, addr).map_err(|e| e.to_string())?;
    let mut banner = vec![format!("connector serve: listening on http://{addr}")];
    let env_file = state_dir.join(connector::SERVE_ENV_FILE);
    let (app, sims) = if real {
        let secret = secret.ok_or("WEBHOOK_SECRET_OTMM must be set to receive OTMM webhooks")?;
        let app =
            app_from_env(stores.clone(), &process_env, None, Some(settings)).map_err(|e| e.to_string())?;
        let deps = intake_deps(&stores, &secret, consonance_configured.as_deref())?;
        let api = Arc::new(ApiDeps::for_app(app.clone()));
        http::serve(listener, http::app(Arc::new(deps), api, metrics));
        banner.push("  webhook secrets: from WEBHOOK_SECRET_OTMM / WEBHOOK_SECRET_CONSONANCE".into());
        (app, None)
    } else {
        let otmm_secret = secret.clone().unwrap_or_else(|| SIM_WEBHOOK_SECRET.to_string());
        let consonance_secret = consonance_configured
            .clone()
            .unwrap_or_else(|| connector::SIM_CONSONANCE_WEBHOOK_SECRET.to_string());
        let deps = intake_deps(&stores, &otmm_secret, Some(&consonance_secret))?;
        let catalogue = Catalogue::generate(sim_titles, 7, chrono::Utc::now());
        let sims =
            Simulators::start(&catalogue, Some(format!("http://{addr}/webhooks/otmm")), &otmm_secret).await;
        let env = connector::overlay_env(sims.env(), process_env);
        let app = app_from_env(stores.clone(), &env, None, Some(settings)).map_err(|e| e.to_string())?;
        let api = Arc::new(ApiDeps::for_app(app.clone()));
        http::serve(listener, http::app(Arc::new(deps), api, metrics));
        // Printed only when they are the local defaults; a configured secret stays unprinted.
        let shown = |configured: &Option<String>, value: &str, var: &str| match configured {
            Some(_) => format!("from {var}"),
            None => format!("{value} (the local default; set {var} to change it)"),
        };
        banner.push(format!(
            "  webhook secret OTMM: {}",
            shown(&secret, SIM_WEBHOOK_SECRET, "WEBHOOK_SECRET_OTMM")
        ));
        banner.push(format!(
            "  webhook secret Consonance: {}",
            shown(
                &consonance_configured,
                connector::SIM_CONSONANCE_WEBHOOK_SECRET,
                "WEBHOOK_SECRET_CONSONANCE"
            )
        ));
        banner.push(format!(
            "  OTMM simulator: {} (assets to approve: GET {}/__sim/otmm/assets?isbn=...&role=...)",
            sims.otmm.base_url(),
            sims.otmm.base_url()
        ));
        banner.push(format!("  Consonance simulator: {}", sims.consonance.base_url()));
        let lines: String = sims.env().iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&env_file, &lines).map_err(|e| format!("{}: {e}", env_file.display()))?;
        banner.push(format!(
            "# `connector reconcile` / `package` with --state-dir {} reach these simulators (from {}); elsewhere:",
            state_dir.display(),
            env_file.display()
        ));
        banner.extend(sims.env().iter().map(|(k, v)| format!("export {k}={v}")));
        (app, Some(sims))
    };
    let mapping = match (process_env("MAPPING_CONFIG_PATH"), process_env("MAPPING_CONFIG")) {
        (Some(path), _) => path,
        (None, Some(_)) => "$MAPPING_CONFIG".to_string(),
        (None, None) => "the built-in example (config/mapping.example.toml)".to_string(),
    };
    banner.insert(1, format!(
        "  webhooks: POST http://{addr}/webhooks/{{otmm,consonance}}; API (no authentication locally) and board: http://{addr}/board"
    ));
    banner.insert(2, format!("  mapping config: {mapping}"));
    banner.insert(
        3,
        format!(
            "  settings: max receives {}, processor concurrency {}, public base URL {}; state in {}",
            app.settings.max_receives,
            app.settings.concurrency,
            app.settings.public_base_url.as_deref().unwrap_or("(none: no readiness web links)"),
            state_dir.display()
        ),
    );
    banner
        .push(format!("  metrics: GET http://{addr}/metrics (Prometheus text; `connector status` reads it)"));
    banner.push("connector serve: ready (Ctrl-C stops it)".into());
    for line in &banner {
        println!("{line}");
    }
    tokio::select! {
        _ = worker::run(app) => {}
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
        _ = connector::sim_process::stdin_closed(exit_when_stdin_closes) => eprintln!("stdin closed; stopping"),
    }
    drop(serve_url);
    if let Some(s) = sims {
        let _ = std::fs::remove_file(&env_file);
        s.otmm.shutdown().await;
        s.consonance.shutdown().await;
    }
    Ok(())
}
