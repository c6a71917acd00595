//! Errors of the Consonance client. Every variant names the operation it came from.

use connector_http::HttpError;
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
    /// The answer could not be understood: not JSON, truncated, or not the expected shape.
    #[error("Consonance {operation}: unexpected response: {message}")]
    Protocol { operation: &'static str, message: String },
    /// No response at all (timeout, connection refused).
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl ConsonanceError {
    /// May succeed if tried again later: 429/5xx, timeouts and connection failures.
    pub fn is_transient(&self) -> bool {
        match self {
            ConsonanceError::Transient { .. } => true,
            ConsonanceError::Http(e) => e.is_transient(),
            _ => false,
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
            | ConsonanceError::Protocol { operation, .. } => operation,
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
