//! `connector plan`: a dry run of a full reconcile that writes nothing and reports what the
//! connector would do (issue 17, item 3).
//!
//! How: the real state (`--state-dir`) is copied to a scratch directory
//! (`connector_store::embedded::snapshot`; none: fresh state, as at a first install), the
//! system ports are wrapped in the dry-run decorators (`connector_app::dry_run`: reads go to
//! the systems, writes are recorded and answered with made-up ids), then the same code as a
//! real run goes over the scratch state: `reconciler::run` in `Mode::Full`, and the local
//! worker drains the scratch queue. The report is built from the audit records that run wrote
//! on the scratch state and the recorded writes ([`report::build`]). The scratch directory is
//! removed at the end.

pub mod html;
pub mod report;

use super::CommandError;
use crate::{Simulators, open_state, worker};
use connector_app::reconciler::{self, Mode};
use connector_sim::catalogue::Catalogue;
use report::{Context, Inputs, PlanReport};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What `connector plan` was asked.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The state to plan from (copied; never written).
    pub state_dir: PathBuf,
    /// With no systems configured and no `connector serve` on the state: start simulators with
    /// this many titles.
    pub sim_titles: Option<usize>,
    /// The longest the worker drains the scratch queue.
    pub deadline: Duration,
    /// How `env` found the systems (`environment`, `serve simulators`), for the report.
    pub systems: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "no systems to plan against: set OTMM_BASE_URL and CONSONANCE_BASE_URL (and their credentials), run it with the --state-dir of a running `connector serve`, or pass --sim-titles N to start simulators"
    )]
    NoSystems,
    #[error("scratch copy of the state: {0}")]
    Io(#[from] std::io::Error),
    #[error("state: {0}")]
    Store(#[from] connector_store::StoreError),
    #[error(transparent)]
    Wiring(#[from] connector_app::wiring::WiringError),
    #[error("the full reconcile of the plan failed: {0}")]
    Reconcile(#[from] reconciler::ReconcileError),
}

#[derive(clap::Args, Debug, Clone)]
pub struct PlanArgs {
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Print the report as JSON (the shape in README, "connector plan").
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// With no systems configured and no `connector serve` on --state-dir: start simulators
    /// with this many titles.
    #[arg(long)]
    pub sim_titles: Option<usize>,
    /// The longest the plan spends processing what the reconcile found, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_secs: u64,
}

/// The command: [`run`] against the systems of [`super::systems_env`], the report on stdout
/// (a table or JSON) and, with `--html`, in a file.
pub async fn command(args: PlanArgs) -> Result<(), CommandError> {
    let PlanArgs { state_dir, json, html: html_file, sim_titles, timeout_secs } = args;
    let from_serve = std::env::var("OTMM_BASE_URL").is_err() || std::env::var("CONSONANCE_BASE_URL").is_err();
    let env = super::systems_env(&state_dir);
    let options = PlanOptions {
        systems: if from_serve { "serve simulators".into() } else { "environment".into() },
        state_dir,
        sim_titles,
        deadline: Duration::from_secs(timeout_secs),
    };
    let report = run(&options, &env).await.map_err(|e| e.to_string())?;
    if let Some(path) = &html_file {
        std::fs::write(path, html::render(&report)).map_err(|e| format!("--html {}: {e}", path.display()))?;
        eprintln!("HTML report: {}", path.display());
    }
    if json {
        println!("{}", super::pretty_json(&report)?);
    } else {
        print!("{}", report::render_table(&report));
    }
    Ok(())
}

/// Runs the plan against the systems `env` names (the simulators of `--sim-titles` when it
/// names none) and returns the report. Writes nothing outside a scratch directory.
pub async fn run(
    options: &PlanOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PlanReport, PlanError> {
    let configured = env("OTMM_BASE_URL").is_some() && env("CONSONANCE_BASE_URL").is_some();
    let (sims, systems) = match (configured, options.sim_titles) {
        (true, _) => (None, options.systems.clone()),
        (false, Some(n)) => {
            let catalogue = Catalogue::generate(n, 7, chrono::Utc::now());
            let sims = Simulators::start(&catalogue, None, crate::SIM_WEBHOOK_SECRET).await;
            (Some(sims), format!("own simulators, {n} titles"))
        }
        (false, None) => return Err(PlanError::NoSystems),
    };
    let sim_env: BTreeMap<String, String> =
        sims.as_ref().map(|s| s.env().into_iter().collect()).unwrap_or_default();
    let lookup = |k: &str| sim_env.get(k).cloned().or_else(|| env(k));
    let result = plan_on_scratch(options, &lookup, systems).await;
    if let Some(s) = sims {
        s.otmm.shutdown().await;
        s.consonance.shutdown().await;
    }
    result
}

async fn plan_on_scratch(
    options: &PlanOptions,
    env: &dyn Fn(&str) -> Option<String>,
    systems: String,
) -> Result<PlanReport, PlanError> {
    let settings = connector_app::wiring::settings_for(&env, connector_app::sizing::QueueTiming::LOCAL)?;
    let scratch = tempfile::Builder::new().prefix("connector-plan-").tempdir()?;
    let copied = connector_store::embedded::snapshot(&options.state_dir, scratch.path())?;
    let stores = open_state(scratch.path(), settings.max_receives)?;
    let mut app = connector_app::wiring::app(stores, &env, None, Some(settings))?;
    // The plan's OTMM reads include its own planned writes (ISBNs aligned): observations stored
    // before it know nothing of them.
    app.settings.observations_max_age = Duration::ZERO;
    let (dam, pms, log) = connector_app::dry_run::wrap(app.dam.clone(), app.pms.clone(), app.config.clone());
    app.dam = dam;
    app.pms = pms;
    let generated_at = app.now();
    // Everything the plan's run writes sorts after this id (audit ids are ULIDs).
    let start = connector_store::new_audit_id(generated_at).0;
    let full = reconciler::Options { mode: Mode::Full, ..Default::default() };
    reconciler::run(&app, &full, &|| Duration::MAX).await?;
    let drained = worker::drain(&app, options.deadline, |_| {}).await?;
    tracing::info!(?drained, "plan: scratch queue drained");
    let records = connector_store::embedded::audit_after(scratch.path(), &start)?;
    let mut roles = BTreeMap::new();
    for r in &records {
        if let (Some(isbn), Some(asset)) = (&r.isbn, &r.asset_id) {
            let key = (isbn.to_string(), asset.to_string());
            if roles.contains_key(&key) || r.action.kind() != "link" {
                continue;
            }
            for link in app.stores.mapping.links_for_asset(asset).await? {
                if &link.key.isbn == isbn {
                    roles.insert(key.clone(), link.key.role.to_string());
                }
            }
        }
    }
    let context = Context {
        otmm: env("OTMM_BASE_URL").unwrap_or_default(),
        consonance: env("CONSONANCE_BASE_URL").unwrap_or_default(),
        systems,
        state: if copied {
            options.state_dir.display().to_string()
        } else {
            format!("none at {} (a first install: fresh state)", options.state_dir.display())
        },
    };
    drop(app);
    Ok(report::build(Inputs { generated_at, context, records, writes: log.writes(), roles }))
}
