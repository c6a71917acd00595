//! The connector's application layer: what each function does, over ports.
//!
//! Handlers here take an [`App`]: the state ports ([`connector_store::Stores`]), the two
//! external systems ([`systems::Dam`] for OTMM, [`systems::Pms`] for Consonance), the
//! validated mapping config, settings and a clock. The Lambda `main.rs` files and the local
//! runner build an `App` from their environment and call in; tests build one on the embedded
//! adapters or on moto, with the simulators behind the system ports.

pub mod adapters;
#[cfg(feature = "check")]
pub mod check;
pub mod dlq;
pub mod dry_run;
pub mod metrics;
pub mod once;
pub mod packages;
pub mod processor;
pub mod readiness;
pub mod reconciler;
pub mod requests;
pub mod rights;
pub mod sizing;
pub mod systems;
pub mod web_links;
pub mod wiring;

use chrono::{DateTime, Utc};
use connector_core::config::MappingConfig;
use connector_store::{IdempotencyTtl, Stores};
use std::sync::Arc;
use std::time::Duration;
use systems::{Dam, Pms};

/// Knobs shared by the handlers. The timing fields are sized together from the queue's
/// numbers by [`Settings::sized`] (see [`sizing`]); `Default` is the Lambda deployment's.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The queue's `maxReceiveCount`: on the last attempt a transient failure is audited as
    /// dead-lettered, since the queue will move the message to the DLQ next.
    pub max_receives: u32,
    /// `in_progress`: how long a side effect's claim blocks others ([`sizing::Sizing::claim_ttl`]).
    pub idempotency_ttl: IdempotencyTtl,
    /// Messages of one batch processed at once. Equal to the batch size (the event source
    /// mapping's `BatchSize`), so a batch costs one round of external latency, not two.
    pub concurrency: usize,
    /// First wait before retrying a transient failure that gave no `Retry-After`; receive `n`
    /// waits `min(visibility, retry_delay * 2^(n-1))`.
    pub retry_delay: Duration,
    /// Poll interval while another worker holds the same role slot (the holder finishes
    /// within one flow step), and the shortest wait before a retry after contention.
    pub contention_delay: Duration,
    /// How long a step waits for a held slot before giving the message back to the queue.
    /// Waiting here rather than on the queue keeps contention from using up receives.
    pub slot_wait: Duration,
    /// How long a slot lease blocks others if its holder dies mid-step.
    pub lease: Duration,
    /// The flow queue's visibility timeout: the local worker receives with it, and no retry
    /// waits longer.
    pub visibility: Duration,
    /// The processor's deadline for one message, inside the step timeout: a message that takes
    /// longer is given back (retried) rather than killed with the whole batch.
    pub message_deadline: Duration,
    /// Where people reach the connector's pages (`PUBLIC_BASE_URL`): the readiness web link
    /// written to Consonance is `<this>/titles/<isbn>/readiness`. `None`: no link is written.
    pub public_base_url: Option<String>,
    /// Build the production packages of a work after one of its links changes (flow 5).
    pub packages_on_link: bool,
    /// Works looked up per Consonance query where the connector reads many at once (the full
    /// scan's link check: aliased `work` lookups in one document), `CONSONANCE_LOOKUPS_PER_QUERY`.
    /// How many a tenant allows per query is not published; 1 asks one query per work.
    pub lookups_per_query: usize,
    /// How long readiness after a link may use an ISBN's last OTMM search of its assets
    /// instead of searching again (`READINESS_OBSERVATIONS_MAX_AGE_SECS`; 0: always search).
    /// Requests are raised only on a search made now ([`readiness::Observe`]). It also bounds
    /// the age of the link's read a package follow-up may build from instead of reading again.
    pub observations_max_age: Duration,
}

impl Settings {
    /// Settings whose claims, leases, waits and deadline are derived from the queue's timing,
    /// or the sizing rule the timing breaks.
    pub fn sized(timing: sizing::QueueTiming) -> Result<Settings, sizing::SizingError> {
        let s = timing.sizing()?;
        Ok(Settings {
            max_receives: timing.max_receives,
            idempotency_ttl: IdempotencyTtl { in_progress: s.claim_ttl, ..IdempotencyTtl::default() },
            concurrency: 10,
            retry_delay: timing.base_retry,
            contention_delay: Duration::from_millis(100),
            slot_wait: s.slot_wait,
            lease: s.lease_ttl,
            visibility: timing.visibility,
            message_deadline: s.message_deadline,
            public_base_url: None,
            packages_on_link: true,
            lookups_per_query: 25,
            observations_max_age: Duration::from_secs(600),
        })
    }

    /// The wait before the next receive after a transient failure on receive `receive` that
    /// gave no `Retry-After`.
    pub fn retry_wait(&self, receive: u32) -> Duration {
        sizing::retry_wait(self.retry_delay, self.visibility, receive)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::sized(sizing::QueueTiming::LAMBDA).expect("the Lambda timing follows the sizing rule")
    }
}

pub use connector_core::Clock;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

#[derive(Clone)]
pub struct App {
    pub stores: Stores,
    pub dam: Arc<dyn Dam>,
    pub pms: Arc<dyn Pms>,
    pub config: Arc<MappingConfig>,
    pub settings: Settings,
    pub clock: Clock,
}

impl App {
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}
