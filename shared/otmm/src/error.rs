//! Typed OTMM errors, parsed from `{"exception_body":{"http_response_code","error_code",
//! "message","debug_message"}}` (API-NOTES "Errors and limits").

use connector_http::{Classify, FaultKind, HttpError};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtmmError {
    /// Credentials rejected, or a session still rejected after logging in again once.
    #[error("OTMM {operation}: not authenticated: {message}")]
    Unauthorized { operation: &'static str, message: String },
    #[error("OTMM {operation}: {what} not found")]
    NotFound { operation: &'static str, what: String },
    /// Locked by someone else, or not locked when it must be (409/423): retry later.
    #[error("OTMM {operation}: conflict (HTTP {status}): {message}")]
    Conflict { operation: &'static str, status: u16, message: String },
    /// 429 or 5xx after the retries allowed: the server may recover.
    #[error("OTMM {operation}: temporarily failing (HTTP {status}): {message}")]
    Transient { operation: &'static str, status: u16, retry_after: Option<Duration>, message: String },
    /// Any other 4xx: the request itself is wrong and will fail again.
    #[error("OTMM {operation}: rejected (HTTP {status}{}): {message}", error_code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Rejected { operation: &'static str, status: u16, error_code: Option<String>, message: String },
    /// The answer is JSON but not what the API promises (a missing or mistyped field): a
    /// contract mismatch, not fixed by asking again.
    #[error("OTMM {operation}: unexpected answer: {message}")]
    Protocol { operation: &'static str, message: String },
    /// The answer did not arrive whole or is not OTMM's: truncated or invalid JSON, an HTML
    /// page from a proxy, an error status without OTMM's `exception_body`, a connection dropped
    /// mid-body. Something between us and OTMM failed: transient.
    #[error("OTMM {operation}: unreadable answer{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Unreadable { operation: &'static str, status: Option<u16>, message: String },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("OTMM client config: {0}")]
    Config(String),
}

impl OtmmError {
    /// Worth retrying later: server trouble, locks, timeouts, broken connections and answers
    /// that are not OTMM's (decided by [`connector_http::fault`]).
    pub fn is_transient(&self) -> bool {
        self.fault_kind().is_transient()
    }

    /// What the failure means, for [`connector_http::fault`].
    pub fn fault_kind(&self) -> FaultKind {
        match self {
            OtmmError::Unauthorized { .. } | OtmmError::NotFound { .. } | OtmmError::Rejected { .. } => {
                FaultKind::Refused
            }
            OtmmError::Conflict { .. } => FaultKind::Busy,
            OtmmError::Transient { status, .. } => FaultKind::Status(*status),
            OtmmError::Protocol { .. } => FaultKind::ContractMismatch,
            OtmmError::Unreadable { .. } => FaultKind::Unreadable,
            OtmmError::Http(e) => e.fault_kind(),
            OtmmError::Config(_) => FaultKind::Local,
        }
    }

    /// How long OTMM asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            OtmmError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn protocol(operation: &'static str, message: impl Into<String>) -> Self {
        OtmmError::Protocol { operation, message: message.into() }
    }

    pub(crate) fn unreadable(operation: &'static str, message: impl Into<String>) -> Self {
        OtmmError::Unreadable { operation, status: None, message: message.into() }
    }
}

impl Classify for OtmmError {
    fn fault_kind(&self) -> FaultKind {
        OtmmError::fault_kind(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        OtmmError::retry_after(self)
    }
}

/// The `message` (and `debug_message`, `error_code`) of an exception body, or the start of
/// whatever the body is; and whether it was OTMM's own `exception_body`.
pub(crate) fn describe_body(body: &[u8]) -> (String, Option<String>, bool) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(e) = v.get("exception_body").filter(|e| e.is_object())
    {
        let s = |k: &str| e.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let code = e.get("error_code").and_then(|c| match c {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        });
        let mut message = s("message").unwrap_or_else(|| "(no message)".into());
        if let Some(d) = s("debug_message").filter(|d| !d.is_empty() && *d != message) {
            message = format!("{message} ({d})");
        }
        return (message, code, true);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return ("(empty body)".into(), None, false);
    }
    let cut: String = text.chars().take(200).collect();
    (if cut.len() < text.len() { format!("{cut}...") } else { cut }, None, false)
}

/// Maps a non-success status and its body to an error. Only OTMM's own `exception_body` is a
/// verdict (not found, rejected); the same status with another body (an HTML page from a proxy
/// or a servlet container) is [`OtmmError::Unreadable`] (see [`connector_http::fault::answer_fault`]).
pub fn from_status(
    operation: &'static str,
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> OtmmError {
    let (message, error_code, otmm_shaped) = describe_body(body);
    match status {
        401 => OtmmError::Unauthorized { operation, message },
        409 | 423 => OtmmError::Conflict { operation, status, message },
        _ => match connector_http::fault::answer_fault(status, otmm_shaped) {
            FaultKind::Status(_) => OtmmError::Transient { operation, status, retry_after, message },
            FaultKind::Unreadable => OtmmError::Unreadable { operation, status: Some(status), message },
            _ if status == 404 => OtmmError::NotFound { operation, what: what.to_string() },
            _ => OtmmError::Rejected { operation, status, error_code, message },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_body_is_read() {
        let body = br#"{"exception_body":{"http_response_code":400,"error_code":"X1","message":"bad field","debug_message":"field FOO unknown"}}"#;
        let e = from_status("update_metadata", "asset a", 400, None, body);
        assert_eq!(
            e.to_string(),
            "OTMM update_metadata: rejected (HTTP 400, X1): bad field (field FOO unknown)"
        );
        assert!(!e.is_transient());
        let not_found = br#"{"exception_body":{"http_response_code":404,"message":"no such asset"}}"#;
        assert!(matches!(
            from_status("get_asset", "asset a", 404, None, not_found),
            OtmmError::NotFound { .. }
        ));
        assert!(from_status("x", "", 503, None, b"<html>").is_transient());
        assert!(from_status("x", "", 409, None, b"").is_transient());
        // The same 404 or 400 without OTMM's body is not OTMM's verdict: a proxy, Tomcat starting.
        let page = b"<html><body>HTTP Status 404 - Not Found</body></html>";
        let e = from_status("get_asset", "asset a", 404, None, page);
        assert!(matches!(e, OtmmError::Unreadable { status: Some(404), .. }) && e.is_transient(), "{e:?}");
        assert!(from_status("x", "", 400, None, b"").is_transient());
        assert!(!from_status("x", "", 401, None, b"<html>").is_transient());
        let (m, _, shaped) = describe_body(&[b'x'; 500]);
        assert!(m.len() < 210 && m.ends_with("...") && !shaped);
    }
}
