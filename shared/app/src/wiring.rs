//! Building an [`App`](crate::App) from the environment: the same variables in Lambda (set by
//! `infra/template.yaml`, secrets resolved from Secrets Manager) and in the local runner.
//!
//! | variable | meaning |
//! |---|---|
//! | `MAPPING_CONFIG_PATH` | the mapping config file (TOML); else `MAPPING_CONFIG` (its text); else the built-in example |
//! | `OTMM_BASE_URL` | e.g. `https://dam.example.com` |
//! | `OTMM_USERNAME`, `OTMM_PASSWORD` | session login; or `OTMM_TOKEN` for a bearer token |
//! | `OTMM_API_VERSION` | `v6` (default) |
//! | `OTMM_CONTENT_URL_TEMPLATE` | where Consonance fetches files (see `OtmmDam`) |
//! | `CONSONANCE_BASE_URL`, `CONSONANCE_API_KEY` | the tenant and its API key |
//! | `OTMM_RATE_LIMIT`, `CONSONANCE_RATE_LIMIT` | requests per second to each system (0: unlimited; default 20) |
//! | `OTMM_MAX_CONCURRENCY`, `CONSONANCE_MAX_CONCURRENCY` | requests in flight to each system (default 8) |
//! | `OTMM_REQUEST_TIMEOUT_MS`, `CONSONANCE_REQUEST_TIMEOUT_MS` | time allowed per attempt until the answer's headers, and between two reads of its body (default 30000) |
//! | `MAX_RECEIVE_COUNT` | the flow queue's `maxReceiveCount` (default 5) |
//! | `PROCESSOR_CONCURRENCY` | messages of a batch processed at once (default 10, the batch size) |
//! | `CONSONANCE_LOOKUPS_PER_QUERY` | works looked up per Consonance query (aliased `work` lookups) in the full scan's link check (default 25; 1: one query per work) |
//! | `READINESS_OBSERVATIONS_MAX_AGE_SECS` | how long readiness after a link uses a title's last OTMM search of its assets instead of searching again (default 600; 0: always search); requests are raised only on a search made then |
//! | `PUBLIC_BASE_URL` | where the connector's pages are served (the API/board); the readiness web link in Consonance points there. Unset: no link |

use crate::adapters::{ConsonancePms, OtmmDam};
use crate::sizing::QueueTiming;
use crate::systems::{Dam, Pms};
use crate::{App, Settings, system_clock};
use connector_core::config::{ConfigError, MappingConfig};
use connector_store::Stores;
use consonance_client::{ConsonanceClient, ConsonanceConfig};
use otmm_client::{OtmmAuth, OtmmClient, OtmmConfig};
use std::sync::Arc;

/// The example mapping config, matching the simulators; used when none is configured.
pub const EXAMPLE_MAPPING_CONFIG: &str = include_str!("../../../config/mapping.example.toml");

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("environment variable {name} is not set: {why}")]
    Missing { name: &'static str, why: &'static str },
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{system} client cannot be built: {message}")]
    Client { system: &'static str, message: String },
}

/// Reads the mapping config as the variables say. Errors name the file, key and reason.
pub fn mapping_config(lookup: &impl Fn(&str) -> Option<String>) -> Result<MappingConfig, WiringError> {
    if let Some(path) = lookup("MAPPING_CONFIG_PATH") {
        return Ok(MappingConfig::load(std::path::Path::new(&path))?);
    }
    if let Some(text) = lookup("MAPPING_CONFIG") {
        return Ok(MappingConfig::from_toml_str(&text, "$MAPPING_CONFIG")?);
    }
    tracing::warn!("no MAPPING_CONFIG_PATH or MAPPING_CONFIG: using the built-in example mapping config");
    Ok(MappingConfig::from_toml_str(EXAMPLE_MAPPING_CONFIG, "config/mapping.example.toml (built in)")?)
}

fn need(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    why: &'static str,
) -> Result<String, WiringError> {
    lookup(name).filter(|v| !v.trim().is_empty()).ok_or(WiringError::Missing { name, why })
}

fn number<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, WiringError> {
    match lookup(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| WiringError::Invalid { name, message: format!("{v:?} is not a number") }),
    }
}

/// The Lambda deployment's settings ([`QueueTiming::LAMBDA`]) with the variables applied.
pub fn settings(lookup: &impl Fn(&str) -> Option<String>) -> Result<Settings, WiringError> {
    settings_for(lookup, QueueTiming::LAMBDA)
}

/// Settings sized for `timing` (its receives from `MAX_RECEIVE_COUNT` when set); a timing that
/// breaks the sizing rule ([`crate::sizing`]) is refused, naming the variable.
pub fn settings_for(
    lookup: &impl Fn(&str) -> Option<String>,
    timing: QueueTiming,
) -> Result<Settings, WiringError> {
    let max_receives = number(lookup, "MAX_RECEIVE_COUNT", timing.max_receives)?;
    let sized = Settings::sized(QueueTiming { max_receives, ..timing })
        .map_err(|e| WiringError::Invalid { name: "MAX_RECEIVE_COUNT", message: e.to_string() })?;
    let lookups_per_query = number(lookup, "CONSONANCE_LOOKUPS_PER_QUERY", sized.lookups_per_query)?;
    if lookups_per_query == 0 {
        return Err(WiringError::Invalid {
            name: "CONSONANCE_LOOKUPS_PER_QUERY",
            message: "must be at least 1 (1 asks one query per work)".into(),
        });
    }
    let max_age =
        number(lookup, "READINESS_OBSERVATIONS_MAX_AGE_SECS", sized.observations_max_age.as_secs())?;
    Ok(Settings {
        concurrency: number(lookup, "PROCESSOR_CONCURRENCY", sized.concurrency)?,
        lookups_per_query,
        observations_max_age: std::time::Duration::from_secs(max_age),
        ..sized
    })
}

/// A system's HTTP policy: defaults, with rate and concurrency limits from the environment.
fn policy(
    lookup: &impl Fn(&str) -> Option<String>,
    [rate, concurrency, timeout]: [&'static str; 3],
) -> Result<connector_http::HttpPolicy, WiringError> {
    let defaults = connector_http::HttpPolicy::default();
    Ok(connector_http::HttpPolicy {
        requests_per_second: number(lookup, rate, defaults.requests_per_second)?,
        max_concurrency: number(lookup, concurrency, defaults.max_concurrency)?,
        request_timeout_ms: number(lookup, timeout, defaults.request_timeout_ms)?,
        ..defaults
    })
}

pub fn otmm_config(lookup: &impl Fn(&str) -> Option<String>) -> Result<OtmmConfig, WiringError> {
    let base = need(lookup, "OTMM_BASE_URL", "the OTMM server to read assets from")?;
    let auth = match lookup("OTMM_TOKEN") {
        Some(token) => OtmmAuth::Token(token),
        None => OtmmAuth::Session {
            username: need(lookup, "OTMM_USERNAME", "OTMM login (or set OTMM_TOKEN)")?,
            password: need(lookup, "OTMM_PASSWORD", "OTMM login (or set OTMM_TOKEN)")?,
        },
    };
    let mut config = OtmmConfig::new(base, auth);
    if let Some(v) = lookup("OTMM_API_VERSION") {
        config.api_version = v;
    }
    config.policy = policy(lookup, ["OTMM_RATE_LIMIT", "OTMM_MAX_CONCURRENCY", "OTMM_REQUEST_TIMEOUT_MS"])?;
    Ok(config)
}

pub fn consonance_config(lookup: &impl Fn(&str) -> Option<String>) -> Result<ConsonanceConfig, WiringError> {
    Ok(ConsonanceConfig {
        base_url: need(lookup, "CONSONANCE_BASE_URL", "the Consonance tenant to link titles in")?,
        api_key: need(lookup, "CONSONANCE_API_KEY", "the Consonance API key")?,
        policy: policy(
            lookup,
            ["CONSONANCE_RATE_LIMIT", "CONSONANCE_MAX_CONCURRENCY", "CONSONANCE_REQUEST_TIMEOUT_MS"],
        )?,
    })
}

/// The two system ports.
pub struct Systems {
    pub dam: Arc<dyn Dam>,
    pub pms: Arc<dyn Pms>,
}

/// The two system ports over real clients.
pub fn systems(
    mut otmm: OtmmConfig,
    consonance: ConsonanceConfig,
    mapping: Arc<MappingConfig>,
    content_url_template: Option<String>,
) -> Result<Systems, WiringError> {
    // Request folders and placeholders as the mapping config describes them.
    if let Some(r) = &mapping.otmm.requests {
        otmm.options.folder_container_type_id = r.container_type_id.clone();
        if let Some(model) = &r.metadata_model_id {
            otmm.options.folder_metadata_model_id = Some(model.clone());
            otmm.options.asset_metadata_model_id = model.clone();
        }
    }
    let otmm =
        OtmmClient::new(otmm).map_err(|e| WiringError::Client { system: "OTMM", message: e.to_string() })?;
    let consonance = ConsonanceClient::new(consonance)
        .map_err(|e| WiringError::Client { system: "Consonance", message: e.to_string() })?;
    let web_links = mapping.consonance.resources.values().any(|r| r.route.is_web_link());
    let upload = mapping.consonance.upload.clone();
    Ok(Systems {
        dam: Arc::new(OtmmDam::new(otmm, mapping, content_url_template)),
        pms: Arc::new(ConsonancePms::new(consonance).with_config(upload, web_links)),
    })
}

/// An [`App`] on `stores`, with clients and settings from `env` (a variable lookup); the
/// mapping config and settings from `env` too unless given.
pub fn app(
    stores: Stores,
    env: &impl Fn(&str) -> Option<String>,
    mapping: Option<Arc<MappingConfig>>,
    settings: Option<Settings>,
) -> Result<App, WiringError> {
    let mapping = match mapping {
        Some(m) => m,
        None => Arc::new(mapping_config(env)?),
    };
    let Systems { dam, pms } = systems(
        otmm_config(env)?,
        consonance_config(env)?,
        mapping.clone(),
        env("OTMM_CONTENT_URL_TEMPLATE"),
    )?;
    let mut settings = match settings {
        Some(s) => s,
        None => self::settings(env)?,
    };
    if settings.public_base_url.is_none() {
        settings.public_base_url = env("PUBLIC_BASE_URL").filter(|v| !v.trim().is_empty());
    }
    Ok(App { stores, dam, pms, config: mapping, settings, clock: system_clock() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn missing_variables_are_named() {
        let err = otmm_config(&env(&[("OTMM_BASE_URL", "http://x")])).unwrap_err();
        assert!(err.to_string().contains("OTMM_USERNAME"), "{err}");
        let err = consonance_config(&env(&[])).unwrap_err();
        assert!(err.to_string().contains("CONSONANCE_BASE_URL"), "{err}");
        let err = settings(&env(&[("MAX_RECEIVE_COUNT", "five")])).unwrap_err();
        assert!(err.to_string().contains("MAX_RECEIVE_COUNT") && err.to_string().contains("five"), "{err}");
        // A count the sizing rule refuses is named too.
        let err = settings(&env(&[("MAX_RECEIVE_COUNT", "1")])).unwrap_err();
        assert!(
            err.to_string().contains("MAX_RECEIVE_COUNT") && err.to_string().contains("too small"),
            "{err}"
        );
        assert_eq!(settings(&env(&[("MAX_RECEIVE_COUNT", "8")])).unwrap().max_receives, 8);
    }

    #[test]
    fn mapping_config_sources_in_order() {
        let built_in = mapping_config(&env(&[])).unwrap();
        assert!(built_in.source.contains("built in"));
        let err = mapping_config(&env(&[("MAPPING_CONFIG", "[otmm]\nbogus = 1\n")])).unwrap_err();
        assert!(err.to_string().contains("$MAPPING_CONFIG"), "{err}");
        let err = mapping_config(&env(&[("MAPPING_CONFIG_PATH", "/nonexistent/mapping.toml")])).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/mapping.toml"), "{err}");
    }

    #[test]
    fn token_auth_needs_no_password() {
        let c = otmm_config(&env(&[("OTMM_BASE_URL", "http://x"), ("OTMM_TOKEN", "t")])).unwrap();
        assert!(matches!(c.auth, OtmmAuth::Token(_)));
    }
}
