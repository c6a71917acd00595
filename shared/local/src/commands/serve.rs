//! `connector serve`: the webhook routes, the people-facing API and board, and the worker, in
//! one process on the local state; against the simulators unless OTMM_BASE_URL /
//! CONSONANCE_BASE_URL (and their credentials) are set. Prints a banner of where everything
//! is, ending in a `connector serve: ready` line.

use super::CommandError;
use crate::{SIM_WEBHOOK_SECRET, Simulators, app_from_env, http, intake_deps, open_state, worker};
use connector_app::sizing::QueueTiming;
use connector_sim::catalogue::Catalogue;
use connector_web::api::ApiDeps;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080", env = "CONNECTOR_LISTEN")]
    pub listen: String,
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Catalogue size for the simulators (when they are used).
    #[arg(long, default_value_t = 50)]
    pub sim_titles: usize,
    #[command(flatten)]
    pub timing: TimingArgs,
    /// Where state lives: `embedded` (SQLite and a folder in --state-dir) or `aws` (the
    /// tables, queues and bucket named by STATE_TABLE, FLOW_QUEUE_URL, ...; needs a build
    /// with the `aws` feature).
    #[arg(long, default_value = "embedded", env = "CONNECTOR_STATE")]
    pub state: StateBackend,
    /// Stop when stdin closes (a parent process that dies takes the connector along).
    #[arg(long)]
    pub exit_when_stdin_closes: bool,
}

/// The flow queue's timing for the local worker (see `connector_app::sizing`): claims, leases
/// and retry waits are derived from it, and a timing that breaks the rule is refused.
#[derive(clap::Args, Debug, Clone)]
pub struct TimingArgs {
    /// Seconds a received message stays hidden (the local queue's visibility timeout).
    #[arg(long, default_value_t = QueueTiming::LOCAL.visibility.as_secs(), env = "CONNECTOR_VISIBILITY_SECS")]
    pub visibility_secs: u64,
    /// The longest the worker spends on one message, in seconds.
    #[arg(long, default_value_t = QueueTiming::LOCAL.step_timeout.as_secs(), env = "CONNECTOR_STEP_TIMEOUT_SECS")]
    pub step_timeout_secs: u64,
    /// First wait before retrying a transient failure without Retry-After, in milliseconds.
    #[arg(long, default_value_t = QueueTiming::LOCAL.base_retry.as_millis() as u64, env = "CONNECTOR_RETRY_BASE_MS")]
    pub retry_base_ms: u64,
}

impl TimingArgs {
    pub fn timing(&self) -> QueueTiming {
        QueueTiming {
            visibility: Duration::from_secs(self.visibility_secs),
            step_timeout: Duration::from_secs(self.step_timeout_secs),
            max_receives: QueueTiming::LOCAL.max_receives,
            base_retry: Duration::from_millis(self.retry_base_ms),
        }
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateBackend {
    Embedded,
    Aws,
}

/// The state ports `serve` runs on.
async fn serve_stores(
    state: StateBackend,
    state_dir: &Path,
    max_receives: u32,
) -> Result<connector_store::Stores, CommandError> {
    match state {
        StateBackend::Embedded => open_state(state_dir, max_receives).map_err(CommandError::from_display),
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

pub async fn run(args: ServeArgs) -> Result<(), CommandError> {
    let ServeArgs { listen, state_dir, sim_titles, timing, state, exit_when_stdin_closes } = args;
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
    let serve_url = super::status::ServeUrlFile::write(&state_dir, addr).map_err(|e| e.to_string())?;
    let mut banner = vec![format!("connector serve: listening on http://{addr}")];
    let env_file = state_dir.join(crate::SERVE_ENV_FILE);
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
        let consonance_secret =
            consonance_configured.clone().unwrap_or_else(|| crate::SIM_CONSONANCE_WEBHOOK_SECRET.to_string());
        let deps = intake_deps(&stores, &otmm_secret, Some(&consonance_secret))?;
        let catalogue = Catalogue::generate(sim_titles, 7, chrono::Utc::now());
        let sims =
            Simulators::start(&catalogue, Some(format!("http://{addr}/webhooks/otmm")), &otmm_secret).await;
        let env = crate::overlay_env(sims.env(), process_env);
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
            shown(&consonance_configured, crate::SIM_CONSONANCE_WEBHOOK_SECRET, "WEBHOOK_SECRET_CONSONANCE")
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
        _ = crate::sim_process::stdin_closed(exit_when_stdin_closes) => eprintln!("stdin closed; stopping"),
    }
    drop(serve_url);
    if let Some(s) = sims {
        let _ = std::fs::remove_file(&env_file);
        s.otmm.shutdown().await;
        s.consonance.shutdown().await;
    }
    Ok(())
}
