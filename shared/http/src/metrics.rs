//! Call counters: totals and per operation.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Counters of one operation (or of all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OperationMetrics {
    /// Calls to `send` that finished.
    pub calls: u64,
    /// Attempts sent (calls + retries).
    pub attempts: u64,
    pub retries: u64,
    /// Attempts by the status class of their response.
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// Attempts without a response (timeout, connect error).
    pub no_response: u64,
    /// Wall time of finished calls, retries and waits included.
    pub total_latency_ms: u64,
}

impl OperationMetrics {
    fn attempt(&mut self, status: Option<u16>) {
        self.attempts += 1;
        match status {
            Some(200..=299) => self.status_2xx += 1,
            Some(300..=399) => self.status_3xx += 1,
            Some(400..=499) => self.status_4xx += 1,
            Some(_) => self.status_5xx += 1,
            None => self.no_response += 1,
        }
    }

    fn call(&mut self, attempts: u32, latency: Duration) {
        self.calls += 1;
        self.retries += u64::from(attempts.saturating_sub(1));
        self.total_latency_ms += latency.as_millis() as u64;
    }
}

/// A snapshot of a client's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallMetrics {
    pub total: OperationMetrics,
    pub per_operation: BTreeMap<String, OperationMetrics>,
}

impl CallMetrics {
    /// The counters of one operation (zeros if it was never called).
    pub fn operation(&self, name: &str) -> OperationMetrics {
        self.per_operation.get(name).cloned().unwrap_or_default()
    }
}

#[derive(Default)]
pub(crate) struct Recorder {
    inner: Mutex<CallMetrics>,
}

impl Recorder {
    fn with(&self, f: impl FnOnce(&mut CallMetrics)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub(crate) fn attempt(&self, operation: &'static str, status: Option<u16>) {
        self.with(|m| {
            m.total.attempt(status);
            m.per_operation.entry(operation.to_string()).or_default().attempt(status);
        });
    }

    pub(crate) fn call(&self, operation: &'static str, attempts: u32, latency: Duration) {
        self.with(|m| {
            m.total.call(attempts, latency);
            m.per_operation.entry(operation.to_string()).or_default().call(attempts, latency);
        });
    }

    pub(crate) fn snapshot(&self) -> CallMetrics {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
