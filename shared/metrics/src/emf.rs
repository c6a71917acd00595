//! The Lambda functions' recorder: CloudWatch embedded metric format on stdout, where Lambda
//! sends it to the function's log group and CloudWatch extracts the metrics (no
//! `PutMetricData`, no extra permission). `metrics_cloudwatch_embedded` without its `lambda`
//! feature (which would pull lambda_http and its default event types into every function):
//! [`Emf::around`] flushes after each invocation instead.
//!
//! Each flush writes one line per dimension set that changed since the last one:
//! `{"_aws":{"Timestamp":…,"CloudWatchMetrics":[{"Namespace":…,"Dimensions":[[…]],"Metrics":[{"Name":…}]}]},"<dimension>":"<value>",…,"<metric>":<delta>}`.

use crate::MetricsError;
use metrics_cloudwatch_embedded::{Builder, Collector};
use std::future::Future;

/// The namespace when `METRICS_NAMESPACE` is not set (the template sets
/// `OtmmConnector/<stack name>`, so two stacks in one account keep their metrics apart).
pub const DEFAULT_NAMESPACE: &str = "OtmmConnector";

/// The installed EMF recorder. Copy: a handle on a process-wide collector.
#[derive(Clone, Copy)]
pub struct Emf(&'static Collector);

impl Emf {
    /// Installs the EMF recorder as the process's metrics recorder, in `namespace` (the value
    /// of `METRICS_NAMESPACE`; unset or blank: [`DEFAULT_NAMESPACE`]). Fails if a recorder is
    /// already installed.
    pub fn install(namespace: Option<String>) -> Result<Emf, MetricsError> {
        let namespace =
            namespace.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let collector = Builder::new()
            .cloudwatch_namespace(namespace)
            .init()
            .map_err(|e| MetricsError::Install { recorder: "EMF", message: e.to_string() })?;
        Ok(Emf(collector))
    }

    /// Writes what changed since the last flush to `out`, one JSON line per dimension set.
    pub fn flush_to(&self, out: impl std::io::Write) -> std::io::Result<()> {
        self.0.flush(out)
    }

    /// Writes what changed since the last flush to stdout. A failed write loses these deltas
    /// (logged), never the invocation.
    pub fn flush(&self) {
        if let Err(e) = self.flush_to(std::io::stdout().lock()) {
            tracing::warn!(error = %e, "could not write the invocation's metrics to stdout");
        }
    }

    /// Runs one invocation's work, then flushes its metrics (also when the work failed).
    pub async fn around<T>(self, work: impl Future<Output = T>) -> T {
        let out = work.await;
        self.flush();
        out
    }
}
