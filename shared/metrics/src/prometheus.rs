//! `connector serve`'s recorder: every counter since the process started, rendered in the
//! Prometheus text format for `GET /metrics`. `metrics-exporter-prometheus` without its
//! default features (no HTTP listener, no push gateway: serve's own router answers). Only
//! counters are recorded, so no upkeep task is needed.

use crate::MetricsError;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The installed Prometheus recorder.
#[derive(Clone)]
pub struct Prometheus(PrometheusHandle);

impl Prometheus {
    /// Installs the Prometheus recorder as the process's metrics recorder (with the help text
    /// of every metric). Fails if a recorder is already installed.
    pub fn install() -> Result<Prometheus, MetricsError> {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| MetricsError::Install { recorder: "Prometheus", message: e.to_string() })?;
        crate::describe();
        Ok(Prometheus(handle))
    }

    /// The text exposition format (`text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        self.0.render()
    }
}

/// The content type of [`Prometheus::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
