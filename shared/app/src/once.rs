//! Side effects done once, and leases held one holder at a time: the claim / complete / release
//! dance of the idempotency table in one place (the key namespaces are `connector_store::keys`).
//!
//! A claim or lease that is never given back (a crash, or a step cut off at its deadline:
//! `crate::sizing`, rule 2) lapses after its TTL; giving one back is therefore best effort, and
//! a failure to is logged, not raised.

use crate::App;
use chrono::{DateTime, Utc};
use connector_store::{Claim, IdempotencyTtl, StoreError};
use std::future::Future;
use tracing::warn;

/// What [`once`] found or did.
#[derive(Debug)]
pub enum Once<T> {
    /// It ran now, and the key is completed with its data.
    Ran(T),
    /// An earlier run completed it: the data it stored.
    Done(Option<String>),
    /// Another worker holds the claim until `until` (if it died, the claim lapses then).
    Held { until: DateTime<Utc> },
}

/// Runs `f` once under `key`: claims the key, runs `f`, and completes the key with `data` of its
/// result; when `f` fails the key is given back so a retry can claim it.
pub async fn once<T, E, Fut>(
    app: &App,
    key: &str,
    ttl: IdempotencyTtl,
    data: impl FnOnce(&T) -> Option<String>,
    f: impl FnOnce() -> Fut,
) -> Result<Once<T>, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: From<StoreError>,
{
    match app.stores.idempotency.claim(key, None, app.now(), ttl).await? {
        Claim::Completed { data } => return Ok(Once::Done(data)),
        Claim::InProgress { until } => return Ok(Once::Held { until }),
        Claim::Acquired => {}
    }
    match f().await {
        Ok(value) => {
            app.stores.idempotency.complete(key, data(&value).as_deref(), app.now(), ttl).await?;
            Ok(Once::Ran(value))
        }
        Err(e) => {
            give_back(app, key).await;
            Err(e)
        }
    }
}

/// Runs `f` holding the lease `key`, waiting up to `settings.slot_wait` for it; `busy(until)`
/// is the error when another holder keeps it (until when, at the latest: it may have died).
/// The lease is given back after `f`, whatever its result.
pub async fn with_lease<T, E, Fut>(
    app: &App,
    key: &str,
    busy: impl FnOnce(DateTime<Utc>) -> E,
    f: Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: From<StoreError>,
{
    let ttl = IdempotencyTtl { in_progress: app.settings.lease, completed: app.settings.lease };
    let started = std::time::Instant::now();
    loop {
        // A lease is never completed, only given back: anything but Acquired means it is held.
        let until = match app.stores.idempotency.claim(key, None, app.now(), ttl).await? {
            Claim::Acquired => break,
            Claim::InProgress { until } => until,
            Claim::Completed { .. } => {
                app.now() + chrono::Duration::from_std(app.settings.lease).unwrap_or_default()
            }
        };
        if started.elapsed() >= app.settings.slot_wait {
            return Err(busy(until));
        }
        tokio::time::sleep(app.settings.contention_delay).await;
    }
    let result = f.await;
    give_back(app, key).await;
    result
}

/// Gives a claim or lease back. Best effort: one not given back lapses at its TTL.
pub async fn give_back(app: &App, key: &str) {
    if let Err(e) = app.stores.idempotency.release(key).await {
        warn!(%key, error = %e, "could not give the key back; it lapses at its TTL");
    }
}
