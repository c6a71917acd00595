//! The connector's metrics, one set for every function: what each counter counts and its
//! dimensions ([`METRICS`]), the calls that record them (through the [`metrics`] facade, a
//! no-op until a recorder is installed), and the two recorders:
//!
//! - [`emf`] (feature `emf`): CloudWatch embedded metric format, one JSON line per dimension
//!   set on stdout, flushed at the end of each Lambda invocation (`metrics_cloudwatch_embedded`);
//! - [`prometheus`] (feature `prometheus`): the Prometheus text format `connector serve`
//!   answers on `GET /metrics` (`metrics-exporter-prometheus`, no HTTP listener of its own).
//!
//! Every metric is a counter (a delta per flush in EMF, a running total in Prometheus); the
//! names and dimension names are the same in both. Dimension values come from closed sets
//! (outcomes, kinds, systems, the clients' operation names), never from input, so the number of
//! CloudWatch metrics stays bounded. [`text::parse`] reads the Prometheus text back
//! (`connector status`).

#[cfg(feature = "emf")]
pub mod emf;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod text;

use std::time::Duration;

/// The names, as recorded (EMF `Metrics[].Name`, Prometheus metric name).
pub mod names {
    pub const WEBHOOK_REQUESTS: &str = "webhook_requests";
    pub const EVENTS_PROCESSED: &str = "events_processed";
    pub const DEAD_LETTERS: &str = "dead_letters";
    pub const EXTERNAL_CALLS: &str = "external_calls";
    pub const EXTERNAL_CALL_LATENCY_MS: &str = "external_call_latency_ms";
    pub const EXTERNAL_RETRIES: &str = "external_retries";
    pub const EXTERNAL_THROTTLED: &str = "external_throttled";
    pub const RATE_LIMIT_WAITS: &str = "rate_limit_waits";
    pub const RECONCILE_RUNS: &str = "reconcile_runs";
    pub const RECONCILE_DRIFT: &str = "reconcile_drift";
    pub const RECONCILE_ENQUEUED: &str = "reconcile_enqueued";
    pub const PACKAGE_BUILDS: &str = "package_builds";
    pub const READINESS_EVALUATIONS: &str = "readiness_evaluations";
    pub const RIGHTS_EXPIRING: &str = "rights_expiring";
}

/// One counter: its name, its dimensions (in the order recorded) and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub dimensions: &'static [&'static str],
    pub help: &'static str,
}

/// Every metric the connector records (ARCHITECTURE.md has the same table).
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: names::WEBHOOK_REQUESTS,
        dimensions: &["source", "outcome", "status"],
        help: "Webhook deliveries answered by the intake; outcome accepted, duplicate, rejected (4xx) or failed (5xx), status the HTTP status.",
    },
    MetricDef {
        name: names::EVENTS_PROCESSED,
        dimensions: &["source", "outcome"],
        help: "Flow messages processed; source otmm, consonance or unreadable, outcome done, retry or dead_letter.",
    },
    MetricDef {
        name: names::DEAD_LETTERS,
        dimensions: &["cause"],
        help: "Messages dead-lettered with their cause recorded, by cause kind.",
    },
    MetricDef {
        name: names::EXTERNAL_CALLS,
        dimensions: &["system", "operation"],
        help: "Finished calls to OTMM or Consonance (each with its retries).",
    },
    MetricDef {
        name: names::EXTERNAL_CALL_LATENCY_MS,
        dimensions: &["system", "operation"],
        help: "Wall time of those calls in milliseconds, retries and waits included (divide by external_calls for the mean).",
    },
    MetricDef {
        name: names::EXTERNAL_RETRIES,
        dimensions: &["system", "operation"],
        help: "Attempts sent again inside a call (429/502/503/504, timeouts, broken connections).",
    },
    MetricDef {
        name: names::EXTERNAL_THROTTLED,
        dimensions: &["system"],
        help: "Attempts the system answered 429 (it throttled the connector).",
    },
    MetricDef {
        name: names::RATE_LIMIT_WAITS,
        dimensions: &["system"],
        help: "Attempts that waited for the connector's own rate limit (*_RATE_LIMIT) before being sent.",
    },
    MetricDef {
        name: names::RECONCILE_RUNS,
        dimensions: &["mode", "finished"],
        help: "Reconciler runs by mode (incremental, full, rights); finished false when one stopped at its deadline.",
    },
    MetricDef {
        name: names::RECONCILE_DRIFT,
        dimensions: &["kind"],
        help: "Drift the reconciler found, by kind (not_linked, newer_version, resource_missing, ...).",
    },
    MetricDef {
        name: names::RECONCILE_ENQUEUED,
        dimensions: &["mode"],
        help: "Messages the reconciler enqueued (repairs and re-evaluations).",
    },
    MetricDef {
        name: names::PACKAGE_BUILDS,
        dimensions: &["status"],
        help: "Production package builds per product: staged, unchanged, blocked, not_started, not_packaged or failed.",
    },
    MetricDef {
        name: names::READINESS_EVALUATIONS,
        dimensions: &["status"],
        help: "Launch readiness evaluations by the title's status (ready, at_risk, blocked).",
    },
    MetricDef {
        name: names::RIGHTS_EXPIRING,
        dimensions: &["mode"],
        help: "Links whose rights expire soon, reported by the daily rights pass (rights.expiring).",
    },
];

/// The definition of `name`, if it is one of [`METRICS`].
pub fn def(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// Registers the help text of every metric with the installed recorder (Prometheus `# HELP`).
pub fn describe() {
    for m in METRICS {
        metrics::describe_counter!(m.name, m.help);
    }
}

/// A webhook delivery answered: `source` as routed (`otmm`, `consonance`, `unknown`).
pub fn webhook_request(source: &'static str, outcome: &'static str, status: u16) {
    metrics::counter!(names::WEBHOOK_REQUESTS, "source" => source, "outcome" => outcome, "status" => status.to_string())
        .increment(1);
}

/// A flow message processed.
pub fn event_processed(source: &'static str, outcome: &'static str) {
    metrics::counter!(names::EVENTS_PROCESSED, "source" => source, "outcome" => outcome).increment(1);
}

/// A message dead-lettered with its cause recorded.
pub fn dead_letter(cause: &'static str) {
    metrics::counter!(names::DEAD_LETTERS, "cause" => cause).increment(1);
}

/// One attempt of a call answered with `status` (none: no answer).
pub fn external_attempt(system: &'static str, status: Option<u16>) {
    if status == Some(429) {
        metrics::counter!(names::EXTERNAL_THROTTLED, "system" => system).increment(1);
    }
}

/// A call finished after `attempts` attempts in `latency`.
pub fn external_call(system: &'static str, operation: &'static str, attempts: u32, latency: Duration) {
    metrics::counter!(names::EXTERNAL_CALLS, "system" => system, "operation" => operation).increment(1);
    let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    metrics::counter!(names::EXTERNAL_CALL_LATENCY_MS, "system" => system, "operation" => operation)
        .increment(ms);
    let retries = u64::from(attempts.saturating_sub(1));
    if retries > 0 {
        metrics::counter!(names::EXTERNAL_RETRIES, "system" => system, "operation" => operation)
            .increment(retries);
    }
}

/// An attempt waited for the client's token bucket.
pub fn rate_limit_wait(system: &'static str) {
    metrics::counter!(names::RATE_LIMIT_WAITS, "system" => system).increment(1);
}

/// A reconciler run ended (also one stopped at its deadline: `finished` false).
pub fn reconcile_run<'a>(
    mode: &str,
    finished: bool,
    drift: impl IntoIterator<Item = (&'a str, u64)>,
    enqueued: u64,
) {
    let finished = if finished { "true" } else { "false" };
    metrics::counter!(names::RECONCILE_RUNS, "mode" => mode.to_string(), "finished" => finished).increment(1);
    for (kind, n) in drift {
        if n > 0 {
            metrics::counter!(names::RECONCILE_DRIFT, "kind" => kind.to_string()).increment(n);
        }
    }
    if enqueued > 0 {
        metrics::counter!(names::RECONCILE_ENQUEUED, "mode" => mode.to_string()).increment(enqueued);
    }
}

/// One product's package build ended with `status`.
pub fn package_build(status: &'static str) {
    metrics::counter!(names::PACKAGE_BUILDS, "status" => status).increment(1);
}

/// A title's readiness was evaluated to `status`.
pub fn readiness_evaluated(status: &'static str) {
    metrics::counter!(names::READINESS_EVALUATIONS, "status" => status).increment(1);
}

/// The rights pass reported `n` links expiring soon (dimension `mode`: `rights`, the pass that
/// reports them; CloudWatch metrics without a dimension are awkward to alarm on per stack).
pub fn rights_expiring(n: u64) {
    if n > 0 {
        metrics::counter!(names::RIGHTS_EXPIRING, "mode" => "rights").increment(n);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot install the {recorder} metrics recorder: {message}")]
    Install { recorder: &'static str, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_one_definition() {
        let all = [
            names::WEBHOOK_REQUESTS,
            names::EVENTS_PROCESSED,
            names::DEAD_LETTERS,
            names::EXTERNAL_CALLS,
            names::EXTERNAL_CALL_LATENCY_MS,
            names::EXTERNAL_RETRIES,
            names::EXTERNAL_THROTTLED,
            names::RATE_LIMIT_WAITS,
            names::RECONCILE_RUNS,
            names::RECONCILE_DRIFT,
            names::RECONCILE_ENQUEUED,
            names::PACKAGE_BUILDS,
            names::READINESS_EVALUATIONS,
            names::RIGHTS_EXPIRING,
        ];
        assert_eq!(all.len(), METRICS.len());
        for name in all {
            assert_eq!(METRICS.iter().filter(|m| m.name == name).count(), 1, "{name}");
            // Valid as a Prometheus name and a CloudWatch metric name alike.
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
        }
        assert_eq!(def(names::DEAD_LETTERS).map(|d| d.dimensions), Some(&["cause"][..]));
        assert!(def("nothing").is_none());
    }
}
