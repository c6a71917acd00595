//! What a failed call means, decided in one place for both clients.
//!
//! [`FaultKind`] names every way a call to OTMM or Consonance can fail; [`FaultKind::is_transient`]
//! says whether trying again later may help. Each client maps its own error variants onto a
//! `FaultKind` (`OtmmError::fault_kind`, `ConsonanceError::fault_kind`) and asks here; the
//! adapters turn that into the processor's retry or dead letter. The rule: only a well-formed
//! answer *from the system itself* can be a verdict (not found, invalid, unauthorized). Anything
//! that is not the system speaking in its own format (no answer, a dropped connection, a body cut
//! short, an HTML page from a proxy or load balancer, JSON that is not the system's envelope) is
//! the path failing, and the path recovers.
//!
//! | fault | transient |
//! |---|---|
//! | connect error, connection reset, no answer within the timeout | yes |
//! | HTTP 408, 425, 429, 500, 502, 503, 504 and other 5xx (not 501, 505) | yes |
//! | a body cut short, not JSON, an HTML page, JSON that is not the system's envelope | yes |
//! | a lock or conflict held by someone else (OTMM 409/423) | yes |
//! | the system's own answer: not found, invalid input, unauthorized | no |
//! | the system's envelope with a field missing or of another type (contract mismatch) | no |
//! | a request that cannot be built (bad URL, client configuration) | no |

use std::time::Duration;

/// Why a call failed, by what the failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// No answer in time (connect or request timeout, or a body that stalled).
    Timeout,
    /// Could not connect, or the connection broke before the answer ended.
    Connection,
    /// An answer with this non-2xx status, judged by the status alone.
    Status(u16),
    /// An answer that is not the system's: truncated, not JSON, an HTML page from something in
    /// front of the system, JSON without the system's envelope.
    Unreadable,
    /// Someone else holds a lock or the resource is in a conflicting state: retry later.
    Busy,
    /// The system's own well-formed answer refusing the request: not found, invalid,
    /// unauthorized. Asking again gives the same answer.
    Refused,
    /// The system's envelope, but not the shape its API promises (a missing field, another
    /// type): a contract mismatch that a retry will not fix.
    ContractMismatch,
    /// The request could not be made at all (a bad URL, the client's configuration).
    Local,
}

impl FaultKind {
    /// Worth trying again later.
    pub fn is_transient(self) -> bool {
        match self {
            FaultKind::Timeout | FaultKind::Connection | FaultKind::Unreadable | FaultKind::Busy => true,
            FaultKind::Status(status) => status_is_transient(status),
            FaultKind::Refused | FaultKind::ContractMismatch | FaultKind::Local => false,
        }
    }
}

/// Statuses that say "not now" rather than "no": request timeout, too early, throttled, and
/// server trouble. 501 (not implemented) and 505 (version not supported) will not change.
pub fn status_is_transient(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || ((500..=599).contains(&status) && !matches!(status, 501 | 505))
}

/// The statuses [`crate::ResilientClient::send`] retries inside the call (idempotent requests).
/// A subset of [`status_is_transient`]: a plain 500 is left to the caller (OTMM's client adds its
/// own few tries; the queue retries the rest), so a server bug is not hammered four times at once.
pub fn status_is_retried_in_call(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// What a non-2xx answer means, given whether its body is the system's own error shape
/// (`system_shaped`: OTMM's `exception_body`, Consonance's GraphQL `errors`). Transient statuses
/// stay transient whatever the body; 401/403/407 are about credentials either way; any other
/// status is the system's verdict only when the system wrote the body. A 404 or 400 page in HTML
/// comes from a proxy or a servlet container that is starting up, not from the API.
pub fn answer_fault(status: u16, system_shaped: bool) -> FaultKind {
    if status_is_transient(status) {
        FaultKind::Status(status)
    } else if matches!(status, 401 | 403 | 407) || system_shaped {
        FaultKind::Refused
    } else {
        FaultKind::Unreadable
    }
}

/// How long to wait before trying again: the server's `Retry-After` when it gave one (capped),
/// else exponential backoff with full jitter (`0..=min(max, base * 2^(attempt-1))`).
pub fn retry_wait(
    retry_after: Option<Duration>,
    attempt: u32,
    base_ms: u64,
    max_ms: u64,
    cap: Duration,
) -> Duration {
    match retry_after {
        Some(ra) => ra.min(cap),
        None => {
            let exp = attempt.saturating_sub(1).min(32);
            let ceiling = base_ms.saturating_mul(1u64 << exp).min(max_ms);
            let ms = if ceiling == 0 { 0 } else { rand::random_range(0..=ceiling) };
            Duration::from_millis(ms)
        }
    }
}

/// Errors that can say what kind of fault they are (both clients' errors).
pub trait Classify {
    fn fault_kind(&self) -> FaultKind;
    /// The server's `Retry-After`, when the failure came with one.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use FaultKind::*;
        for kind in
            [Timeout, Connection, Unreadable, Busy, Status(429), Status(500), Status(503), Status(408)]
        {
            assert!(kind.is_transient(), "{kind:?}");
        }
        for kind in [Refused, ContractMismatch, Local, Status(400), Status(404), Status(501), Status(505)] {
            assert!(!kind.is_transient(), "{kind:?}");
        }
        // Every status: transient exactly when the table says so; in-call retries are a subset.
        for status in 100..=599u16 {
            let expected =
                matches!(status, 408 | 425 | 429) || (status >= 500 && status != 501 && status != 505);
            assert_eq!(status_is_transient(status), expected, "{status}");
            assert!(!status_is_retried_in_call(status) || status_is_transient(status), "{status}");
        }
    }

    #[test]
    fn only_the_system_gives_verdicts() {
        assert_eq!(answer_fault(404, true), FaultKind::Refused);
        assert_eq!(answer_fault(404, false), FaultKind::Unreadable);
        assert_eq!(answer_fault(400, false), FaultKind::Unreadable);
        assert_eq!(answer_fault(422, true), FaultKind::Refused);
        assert_eq!(answer_fault(401, false), FaultKind::Refused);
        assert_eq!(answer_fault(403, false), FaultKind::Refused);
        assert_eq!(answer_fault(502, true), FaultKind::Status(502));
        assert!(answer_fault(503, false).is_transient());
    }

    #[test]
    fn waits_honour_retry_after_and_grow() {
        let cap = Duration::from_secs(60);
        assert_eq!(retry_wait(Some(Duration::from_secs(3)), 1, 200, 10_000, cap), Duration::from_secs(3));
        assert_eq!(retry_wait(Some(Duration::from_secs(600)), 1, 200, 10_000, cap), cap);
        for attempt in 1..=10 {
            let w = retry_wait(None, attempt, 200, 10_000, cap);
            let ceiling = (200u64 << (attempt - 1)).min(10_000);
            assert!(w <= Duration::from_millis(ceiling), "{attempt}: {w:?}");
        }
        assert_eq!(retry_wait(None, 3, 0, 0, cap), Duration::ZERO);
    }
}
