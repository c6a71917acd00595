//! Claims, leases, visibility and receives, sized together, so that a worker that dies (a
//! SIGKILL, a Lambda timeout) never makes the messages it touched run out of receives.
//!
//! Three numbers come from the queue and its consumer ([`QueueTiming`]): the visibility timeout
//! `V` (a received message reappears after it), the step timeout `F` (the longest a worker holds
//! one message: the Lambda's `Timeout`, or the local worker's deadline) and `maxReceiveCount`
//! `R`. Everything else is derived here ([`QueueTiming::sizing`]) and checked:
//!
//! 1. **Claims and leases outlive their holder**: an in-progress idempotency claim and a role-slot
//!    lease last `F + skew`. A holder lives at most `F` after it received the message, so a
//!    live holder never loses its claim to another worker (`skew` covers two workers' clocks).
//! 2. **...and lapse before its message comes back**: `F + (F + skew) <= V`. A claim is taken at
//!    most `F` after the receive and lasts `F + skew`, the message reappears `V` after the
//!    receive: the interrupted message's next receive finds every claim it held free.
//! 3. **A contender waits for the lapse, not less**: a message that finds a claim or a lease
//!    held is retried when it lapses (`until - now + skew`), never sooner, so a dead holder costs
//!    a contender one receive at most. (The bug this replaced retried after
//!    `min(lapse, 100 ms)`: five receives in under a second.)
//! 4. **Retries of other transient failures back off**: receive `n` waits
//!    `min(V, base * 2^(n-1))` unless the server gave `Retry-After`; over `R - 1` retries the
//!    waits add up to more than a claim's life, so a holder that died is waited out even by a
//!    failure that cannot say when the claim lapses.
//! 5. **Receives to spare**: `R >= 3`: one receive a crash interrupts, one that may meet a claim
//!    still held, one to succeed.
//!
//! The template's values are checked against this in `tests/tests/sizing_template.rs`; the
//! rule is described in ARCHITECTURE.md ("Faults, dead letters and sizing").

use std::time::Duration;

/// Margin for two workers' clocks (claims compare `until` with each worker's own clock).
pub const CLOCK_SKEW: Duration = Duration::from_secs(5);
/// Fewest receives the rule allows (5.).
pub const MIN_RECEIVES: u32 = 3;
/// The longest in-step wait for a held role slot, however long the step may run.
pub const MAX_SLOT_WAIT: Duration = Duration::from_secs(10);

/// The queue and its consumer, as deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTiming {
    /// The flow queue's visibility timeout.
    pub visibility: Duration,
    /// The longest a worker holds one message (Lambda `Timeout`; the local worker's deadline).
    pub step_timeout: Duration,
    /// The queue's `maxReceiveCount`.
    pub max_receives: u32,
    /// First wait before a retry of a transient failure without `Retry-After`.
    pub base_retry: Duration,
}

impl QueueTiming {
    /// The Lambda deployment (`infra/template.yaml`): Timeout 60 s, visibility 360 s, 5 receives.
    pub const LAMBDA: QueueTiming = QueueTiming {
        visibility: Duration::from_secs(360),
        step_timeout: Duration::from_secs(60),
        max_receives: 5,
        base_retry: Duration::from_secs(30),
    };

    /// The local worker (`connector serve`): the same step, a visibility of three steps.
    pub const LOCAL: QueueTiming = QueueTiming {
        visibility: Duration::from_secs(180),
        step_timeout: Duration::from_secs(60),
        max_receives: 5,
        base_retry: Duration::from_secs(30),
    };

    /// Claim and lease lifetimes, slot wait and retry waits derived from these numbers, or the
    /// rule they break.
    pub fn sizing(&self) -> Result<Sizing, SizingError> {
        let f = self.step_timeout;
        let claim = f + CLOCK_SKEW;
        if self.step_timeout.is_zero() {
            return Err(SizingError("the step timeout must be more than 0".into()));
        }
        if f + claim > self.visibility {
            return Err(SizingError(format!(
                "visibility timeout {} s is too short: a claim taken at the end of a {} s step lasts {} s, so \
                 the message must stay hidden at least {} s (step + claim) or it comes back while the dead \
                 worker's claim still blocks it",
                self.visibility.as_secs(),
                f.as_secs(),
                claim.as_secs(),
                (f + claim).as_secs_f64().ceil() as u64,
            )));
        }
        if self.max_receives < MIN_RECEIVES {
            return Err(SizingError(format!(
                "maxReceiveCount {} is too small: at least {MIN_RECEIVES} (a receive a crash interrupts, one \
                 that meets a claim still held, one to succeed)",
                self.max_receives
            )));
        }
        let sizing = Sizing {
            claim_ttl: claim,
            lease_ttl: claim,
            slot_wait: (f / 6).min(MAX_SLOT_WAIT),
            base_retry: self.base_retry,
            visibility: self.visibility,
            message_deadline: f.mul_f64(0.9),
        };
        let retried: Duration = (1..self.max_receives).map(|n| sizing.retry_wait(n)).sum();
        if retried < claim {
            return Err(SizingError(format!(
                "retries without Retry-After span only {} s over {} receives, less than a claim's {} s: \
                 raise the base retry wait ({} ms)",
                retried.as_secs(),
                self.max_receives,
                claim.as_secs(),
                self.base_retry.as_millis()
            )));
        }
        Ok(sizing)
    }
}

/// What [`QueueTiming::sizing`] derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// How long an in-progress idempotency claim blocks others.
    pub claim_ttl: Duration,
    /// How long a role-slot (or package) lease blocks others if its holder dies.
    pub lease_ttl: Duration,
    /// How long a step waits in place for a held slot before giving the message back.
    pub slot_wait: Duration,
    /// The processor's own deadline per message, inside the step timeout (so a slow message
    /// is given back, not killed with the batch).
    pub message_deadline: Duration,
    base_retry: Duration,
    visibility: Duration,
}

impl Sizing {
    /// The wait after a transient failure without `Retry-After` on receive `n` (1-based).
    pub fn retry_wait(&self, receive: u32) -> Duration {
        retry_wait(self.base_retry, self.visibility, receive)
    }
}

/// `min(cap, base * 2^(receive-1))` (rule 4).
pub fn retry_wait(base: Duration, cap: Duration, receive: u32) -> Duration {
    let factor = 1u32 << receive.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(cap)
}

/// The wait before retrying a message that found a claim or lease held until `until`: the rest
/// of its life plus [`CLOCK_SKEW`], at least `floor` (rule 3).
pub fn wait_for_lapse(
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    floor: Duration,
) -> Duration {
    let rest = (until - now).to_std().unwrap_or_default();
    (rest + CLOCK_SKEW).max(floor)
}

/// A timing that breaks the rule, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue timing: {0}")]
pub struct SizingError(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    #[test]
    fn the_deployed_timings_hold() {
        for timing in [QueueTiming::LAMBDA, QueueTiming::LOCAL] {
            let s = timing.sizing().unwrap();
            assert_eq!(s.claim_ttl, Duration::from_secs(65));
            assert_eq!(s.slot_wait, Duration::from_secs(10));
            assert_eq!(s.retry_wait(1), Duration::from_secs(30));
            assert_eq!(s.retry_wait(4), Duration::from_secs(240).min(timing.visibility));
        }
    }

    #[test]
    fn what_the_issue_found_is_refused() {
        // Visibility 120 s with a 60 s step: a claim can outlast the message's invisibility.
        let e =
            QueueTiming { visibility: Duration::from_secs(120), ..QueueTiming::LOCAL }.sizing().unwrap_err();
        assert!(e.0.contains("visibility timeout 120 s is too short"), "{e}");
        let e = QueueTiming { max_receives: 2, ..QueueTiming::LAMBDA }.sizing().unwrap_err();
        assert!(e.0.contains("maxReceiveCount 2"), "{e}");
        let e = QueueTiming { base_retry: Duration::from_millis(10), ..QueueTiming::LAMBDA }
            .sizing()
            .unwrap_err();
        assert!(e.0.contains("base retry wait"), "{e}");
    }

    #[test]
    fn contenders_wait_for_the_lapse() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let until = now + chrono::Duration::seconds(40);
        assert_eq!(wait_for_lapse(until, now, Duration::from_millis(100)), Duration::from_secs(45));
        // Already lapsed: the floor (plus nothing to wait for but skew).
        assert_eq!(wait_for_lapse(now, until, Duration::from_millis(100)), CLOCK_SKEW);
        assert_eq!(wait_for_lapse(now, until, Duration::from_secs(9)), Duration::from_secs(9));
    }

    proptest! {
        /// Whatever timing passes the check, a worker killed at any moment of a step leaves
        /// claims that lapse before its message is received again, and a contender's retries
        /// outlast a claim it cannot see the end of.
        #[test]
        fn an_accepted_timing_never_strands_a_message(
            f in 1u64..600, v in 1u64..4000, r in 1u32..12, base in 1u64..120_000, claim_at in 0.0f64..1.0,
        ) {
            let timing = QueueTiming {
                visibility: Duration::from_secs(v),
                step_timeout: Duration::from_secs(f),
                max_receives: r,
                base_retry: Duration::from_millis(base),
            };
            if let Ok(s) = timing.sizing() {
                // Received at 0, claim taken somewhere in the step, worker killed: the claim
                // lapses no later than the message reappears.
                let taken = Duration::from_secs(f).mul_f64(claim_at);
                prop_assert!(taken + s.claim_ttl <= timing.visibility);
                prop_assert!(taken + s.lease_ttl <= timing.visibility);
                // A live holder keeps it to the end of its step.
                prop_assert!(s.claim_ttl >= timing.step_timeout);
                prop_assert!(s.message_deadline < timing.step_timeout);
                prop_assert!(s.slot_wait < timing.step_timeout);
                let waited: Duration = (1..r).map(|n| s.retry_wait(n)).sum();
                prop_assert!(waited >= s.claim_ttl);
                prop_assert!(r >= MIN_RECEIVES);
            }
        }
    }
}
