//! Errors of the Consonance client. Every variant names the operation it came from.

use connector_http::{Classify, FaultKind, HttpError};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsonanceError {
    /// HTTP 401/403, or a GraphQL error saying the key is not accepted.
    #[error("Consonance {operation}: unauthorized: {message}")]
    Unauthorized { operation: &'static str, message: String },
    /// The record asked for does not exist (a null `work`/`product`/`contract`, or a GraphQL
    /// error saying so).
    #[error("Consonance {operation}: not found: {what}")]
    NotFound { operation: &'static str, what: String },
    /// GraphQL refused the request (schema validation or a mutation's own checks), HTTP 200.
    #[error("Consonance {operation}: rejected as invalid: {message}{}", path.as_deref().map(|p| format!(" (at {p})")).unwrap_or_default())]
    Validation { operation: &'static str, message: String, path: Option<String> },
    /// 429 or 5xx: try again later (after `retry_after` when given).
    #[error("Consonance {operation}: HTTP {status}, try again later{}", retry_after.map(|d| format!(" (Retry-After {} s)", d.as_secs())).unwrap_or_default())]
    Transient { operation: &'static str, status: u16, retry_after: Option<Duration> },
    /// Another HTTP error status (400, 404 on the endpoint, 422...).
    #[error("Consonance {operation}: HTTP {status}: {message}")]
    Rejected { operation: &'static str, status: u16, message: String },
    /// The tenant's schema does not offer what the call needs (e.g. no `Work.contract`).
    #[error("Consonance {operation}: not supported by this tenant: {what}")]
    Unsupported { operation: &'static str, what: String },
    /// A GraphQL answer whose `data` is not the shape the API promises (a missing field,
    /// another type): a contract mismatch, not fixed by asking again.
    #[error("Consonance {operation}: unexpected response: {message}")]
    Protocol { operation: &'static str, message: String },
    /// The answer did not arrive whole or is not Consonance's: truncated or invalid JSON, an
    /// HTML page from a proxy, JSON that is no GraphQL envelope, an error status without
    /// Consonance's error body, a connection dropped mid-body. Transient.
    #[error("Consonance {operation}: unreadable response{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Unreadable { operation: &'static str, status: Option<u16>, message: String },
    /// No response at all (timeout, connection refused).
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl ConsonanceError {
    /// May succeed if tried again later: 429/5xx, timeouts, broken connections and answers that
    /// are not Consonance's (decided by [`connector_http::fault`]).
    pub fn is_transient(&self) -> bool {
        self.fault_kind().is_transient()
    }

    /// What the failure means, for [`connector_http::fault`].
    pub fn fault_kind(&self) -> FaultKind {
        match self {
            ConsonanceError::Unauthorized { .. }
            | ConsonanceError::NotFound { .. }
            | ConsonanceError::Validation { .. }
            | ConsonanceError::Rejected { .. } => FaultKind::Refused,
            ConsonanceError::Transient { status, .. } => FaultKind::Status(*status),
            // The tenant's schema lacks what the call needs: asking again gives the same answer.
            ConsonanceError::Protocol { .. } | ConsonanceError::Unsupported { .. } => {
                FaultKind::ContractMismatch
            }
            ConsonanceError::Unreadable { .. } => FaultKind::Unreadable,
            ConsonanceError::Http(e) => e.fault_kind(),
        }
    }

    /// After a write, whether it may have been applied even though we got an error: no answer,
    /// a 429/5xx from something in front of Consonance, or an answer we could not read.
    pub fn write_outcome_unknown(&self) -> bool {
        self.is_transient() || matches!(self, ConsonanceError::Protocol { .. })
    }

    pub fn operation(&self) -> &'static str {
        match self {
            ConsonanceError::Unauthorized { operation, .. }
            | ConsonanceError::NotFound { operation, .. }
            | ConsonanceError::Validation { operation, .. }
            | ConsonanceError::Transient { operation, .. }
            | ConsonanceError::Rejected { operation, .. }
            | ConsonanceError::Unsupported { operation, .. }
            | ConsonanceError::Protocol { operation, .. }
            | ConsonanceError::Unreadable { operation, .. } => operation,
            ConsonanceError::Http(e) => e.operation(),
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConsonanceError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Classify for ConsonanceError {
    fn fault_kind(&self) -> FaultKind {
        ConsonanceError::fault_kind(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        ConsonanceError::retry_after(self)
    }
}
