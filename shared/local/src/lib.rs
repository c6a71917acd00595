//! The connector on one machine. Hosts the webhook intake over HTTP, the flow processor as a
//! worker loop, and (unless real systems are configured) the OTMM and Consonance simulators,
//! all on embedded state. The integration tests use the same router and worker.

pub mod commands;
pub mod demo;
pub mod http;
pub mod sim_process;
pub mod worker;

use connector_core::event::Source;
use connector_sim::catalogue::Catalogue;
use connector_sim::consonance::{ConsonanceSim, ConsonanceSimHandle, ConsonanceSimOptions};
use connector_sim::otmm::{OtmmSim, OtmmSimHandle, OtmmSimOptions, WebhookTarget};
use connector_store::Stores;
use connector_web::intake::{IntakeDeps, Secret, Secrets};
use std::path::Path;

/// The signing secret the OTMM simulator and the local intake share when `WEBHOOK_SECRET_OTMM`
/// is not set: the local development secret of `events/README.md` and `events/sign-webhook.py`,
/// so a sample re-signed with their defaults is accepted by `connector serve`.
pub const SIM_WEBHOOK_SECRET: &str = "local-dev-otmm-webhook-secret";

/// The Consonance webhook secret of `connector serve` on the simulators when
/// `WEBHOOK_SECRET_CONSONANCE` is not set (the other local development secret).
pub const SIM_CONSONANCE_WEBHOOK_SECRET: &str = "local-dev-consonance-webhook-secret";

/// The file in the state directory where `connector serve` on the simulators writes their
/// environment (`KEY=VALUE` lines), so `connector reconcile` / `package` on the same state
/// reach the same simulators; removed when `serve` stops.
pub const SERVE_ENV_FILE: &str = "simulators.env";

/// Both simulators, seeded from one catalogue; OTMM posts its events to `webhook_url`.
pub struct Simulators {
    pub otmm: OtmmSimHandle,
    pub consonance: ConsonanceSimHandle,
    consonance_api_key: String,
}

impl Simulators {
    pub async fn start(catalogue: &Catalogue, webhook_url: Option<String>, secret: &str) -> Self {
        Simulators::start_with(
            catalogue,
            webhook_url,
            secret,
            OtmmSimOptions::default(),
            ConsonanceSimOptions::default(),
        )
        .await
    }

    /// With the simulators' own options (e.g. a Consonance schema variant, other OTMM ids);
    /// the webhook target is set from `webhook_url`.
    pub async fn start_with(
        catalogue: &Catalogue,
        webhook_url: Option<String>,
        secret: &str,
        otmm: OtmmSimOptions,
        consonance: ConsonanceSimOptions,
    ) -> Self {
        let webhook = webhook_url.map(|url| WebhookTarget { url, secret: secret.to_string() });
        let otmm = OtmmSim::start(catalogue, OtmmSimOptions { webhook, ..otmm }).await;
        let consonance_api_key = consonance.api_key.clone();
        let consonance = ConsonanceSim::start(catalogue, consonance).await;
        Simulators { otmm, consonance, consonance_api_key }
    }

    /// The environment a real deployment would have, pointing at the simulators.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("OTMM_BASE_URL".into(), self.otmm.base_url().to_string()),
            ("OTMM_USERNAME".into(), self.otmm.username().to_string()),
            ("OTMM_PASSWORD".into(), self.otmm.password().to_string()),
            ("CONSONANCE_BASE_URL".into(), self.consonance.base_url().to_string()),
            ("CONSONANCE_API_KEY".into(), self.consonance_api_key.clone()),
            // The simulators are local: no need to protect them from us.
            ("OTMM_RATE_LIMIT".into(), "0".into()),
            ("CONSONANCE_RATE_LIMIT".into(), "0".into()),
            ("OTMM_MAX_CONCURRENCY".into(), "32".into()),
            ("CONSONANCE_MAX_CONCURRENCY".into(), "32".into()),
        ]
    }
}

/// The variable lookup of `serve` on the simulators: the simulators' own variables (where they
/// are and how to log in) win; everything else (`MAPPING_CONFIG_PATH`, `PUBLIC_BASE_URL`,
/// `MAX_RECEIVE_COUNT`, `PROCESSOR_CONCURRENCY`, ...) comes from the process environment.
pub fn overlay_env(
    simulators: Vec<(String, String)>,
    process: impl Fn(&str) -> Option<String>,
) -> impl Fn(&str) -> Option<String> {
    let sims: std::collections::BTreeMap<String, String> = simulators.into_iter().collect();
    move |k: &str| sims.get(k).cloned().or_else(|| process(k))
}

/// `KEY=VALUE` lines (the [`SERVE_ENV_FILE`] format; `export` prefixes and `#` comments allowed).
pub fn parse_env_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.strip_prefix("export ").unwrap_or(l).split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// An [`App`] on `stores`, with clients built from `env` (see `connector_app::wiring::app`).
pub use connector_app::wiring::app as app_from_env;

/// Intake dependencies on `stores` with the given OTMM and Consonance secrets.
pub fn intake_deps(
    stores: &Stores,
    otmm_secret: &str,
    consonance_secret: Option<&str>,
) -> Result<IntakeDeps, connector_web::intake::SecretError> {
    let mut secrets = Secrets::new().with(Source::Otmm, Secret::new(otmm_secret.as_bytes().to_vec())?);
    if let Some(s) = consonance_secret {
        secrets = secrets.with(Source::Consonance, Secret::new(s.as_bytes().to_vec())?);
    }
    Ok(IntakeDeps::new(stores.idempotency.clone(), stores.queue.clone(), secrets))
}

/// Opens embedded state in `dir`.
pub fn open_state(dir: &Path, max_receives: u32) -> Result<Stores, connector_store::StoreError> {
    connector_store::embedded::open(dir, connector_store::embedded::EmbeddedOptions { max_receives })
}
