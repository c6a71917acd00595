//! Typed OTMM errors, parsed from `{"exception_body":{"http_response_code","error_code",
//! "message","debug_message"}}` (API-NOTES "Errors and limits").

use connector_http::HttpError;
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
    /// The answer is not what the API promises (invalid/truncated JSON, missing fields).
    #[error("OTMM {operation}: unexpected answer: {message}")]
    Protocol { operation: &'static str, message: String },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("OTMM client config: {0}")]
    Config(String),
}

impl OtmmError {
    /// Worth retrying later: server trouble, locks, timeouts and connect errors.
    pub fn is_transient(&self) -> bool {
        match self {
            OtmmError::Transient { .. } | OtmmError::Conflict { .. } => true,
            OtmmError::Http(e) => e.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn protocol(operation: &'static str, message: impl Into<String>) -> Self {
        OtmmError::Protocol { operation, message: message.into() }
    }
}

/// The `message` (and `debug_message`, `error_code`) of an exception body, or the start of
/// whatever the body is.
pub(crate) fn describe_body(body: &[u8]) -> (String, Option<String>) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(e) = v.get("exception_body")
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
        return (message, code);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return ("(empty body)".into(), None);
    }
    let cut: String = text.chars().take(200).collect();
    (if cut.len() < text.len() { format!("{cut}...") } else { cut }, None)
}

/// Maps a non-success status and its body to an error.
pub(crate) fn from_status(
    operation: &'static str,
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> OtmmError {
    let (message, error_code) = describe_body(body);
    match status {
        401 => OtmmError::Unauthorized { operation, message },
        404 => OtmmError::NotFound { operation, what: what.to_string() },
        409 | 423 => OtmmError::Conflict { operation, status, message },
        429 | 500..=599 => OtmmError::Transient { operation, status, retry_after, message },
        _ => OtmmError::Rejected { operation, status, error_code, message },
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
        assert!(matches!(from_status("get_asset", "asset a", 404, None, b""), OtmmError::NotFound { .. }));
        assert!(from_status("x", "", 503, None, b"<html>").is_transient());
        assert!(from_status("x", "", 409, None, b"").is_transient());
        let (m, _) = describe_body(&[b'x'; 500]);
        assert!(m.len() < 210 && m.ends_with("..."));
    }
}
