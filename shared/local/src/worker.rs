//! The flow processor as a loop over the embedded queue: what the SQS event source mapping
//! does in AWS (receive, process, delete / leave for retry / dead-letter).

use connector_app::App;
use connector_app::processor::{Disposition, process, process_batch};
use connector_core::event::{Source, source_of};
use connector_store::QueueMessage;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a received message stays invisible while it is processed, unless the settings say
/// otherwise ([`connector_app::sizing::QueueTiming::LOCAL`]: three steps of 60 s).
pub const VISIBILITY: Duration = connector_app::sizing::QueueTiming::LOCAL.visibility;

/// What a drain did. The counts are of events (webhooks, the reconciler's repairs); the
/// connector's own follow-up messages (package builds after a link) are counted apart, so
/// "n events, n done" still reads as it says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    pub messages: u64,
    pub done: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub follow_ups: FollowUps,
}

/// Follow-up messages processed, by disposition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FollowUps {
    pub done: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

impl DrainReport {
    /// Messages of either kind received.
    pub fn received(&self) -> u64 {
        self.messages + self.follow_ups.done + self.follow_ups.retried + self.follow_ups.dead_lettered
    }
}

impl std::ops::AddAssign for DrainReport {
    fn add_assign(&mut self, o: Self) {
        self.messages += o.messages;
        self.done += o.done;
        self.retried += o.retried;
        self.dead_lettered += o.dead_lettered;
        self.follow_ups.done += o.follow_ups.done;
        self.follow_ups.retried += o.follow_ups.retried;
        self.follow_ups.dead_lettered += o.follow_ups.dead_lettered;
    }
}

/// Receives and processes one batch; returns what happened (zero messages when idle).
pub async fn step(app: &App, batch: usize) -> Result<DrainReport, connector_store::StoreError> {
    let messages = app.stores.queue.receive(batch, app.settings.visibility).await?;
    let mut report = DrainReport::default();
    for (message, disposition) in messages.iter().zip(process_batch(app, &messages).await) {
        settle(app, message, disposition, &mut report).await?;
    }
    Ok(report)
}

/// Does with a processed message what its disposition says: delete it, give it back for a
/// retry after the delay, or move it to the dead-letter queue.
async fn settle(
    app: &App,
    message: &QueueMessage,
    disposition: Disposition,
    report: &mut DrainReport,
) -> Result<(), connector_store::StoreError> {
    let queue = &app.stores.queue;
    let follow_up = source_of(&message.body) == Some(Source::Connector);
    if !follow_up {
        report.messages += 1;
    }
    let (done, retried, dead_lettered) = if follow_up {
        let f = &mut report.follow_ups;
        (&mut f.done, &mut f.retried, &mut f.dead_lettered)
    } else {
        (&mut report.done, &mut report.retried, &mut report.dead_lettered)
    };
    match disposition {
        Disposition::Done => {
            queue.ack(&message.receipt).await?;
            *done += 1;
        }
        Disposition::Retry { after, .. } => {
            queue.retry_later(&message.receipt, after).await?;
            *retried += 1;
        }
        Disposition::DeadLetter { cause } => {
            queue.dead_letter(message, &cause).await?;
            *dead_lettered += 1;
        }
    }
    Ok(())
}

/// Processes until the queue is empty (nothing visible, nothing in flight) or `deadline`
/// passes. `on_progress` sees the running totals.
///
/// In lanes, as [`run`] does: up to `concurrency` messages in flight, and a lane that frees up
/// receives its next message at once, so no message waits for the slowest of a batch (the
/// flow bench's throughput under latency, issue 16). Messages still in flight at the deadline
/// are finished and settled.
pub async fn drain(
    app: &App,
    deadline: Duration,
    mut on_progress: impl FnMut(&DrainReport),
) -> Result<DrainReport, connector_store::StoreError> {
    let started = Instant::now();
    let lanes = app.settings.concurrency.max(1);
    let mut total = DrainReport::default();
    let mut in_flight = FuturesUnordered::new();
    loop {
        let open = started.elapsed() < deadline;
        if open && in_flight.len() < lanes {
            let messages = app.stores.queue.receive(lanes - in_flight.len(), app.settings.visibility).await?;
            for message in messages {
                in_flight.push(async move {
                    let disposition = process(app, &message).await;
                    (message, disposition)
                });
            }
        }
        match in_flight.next().await {
            Some((message, disposition)) => {
                settle(app, &message, disposition, &mut total).await?;
                on_progress(&total);
            }
            None if !open => break,
            None => {
                // Empty only if two readings a moment apart agree: the two counts are separate
                // approximations taken one after the other (SQS's and moto's alike), so a
                // message whose retry delay ends between them is counted in neither.
                if queue_empty(app).await? {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    if queue_empty(app).await? {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
    Ok(total)
}

async fn queue_empty(app: &App) -> Result<bool, connector_store::StoreError> {
    let depth = app.stores.queue.depth().await?;
    Ok(depth.visible == 0 && depth.in_flight == 0)
}

/// Runs forever (for `serve`): processes whatever arrives, `concurrency` messages at a time.
/// Unlike [`step`] (a Lambda batch: the next waits for the slowest message of this one), a lane
/// that frees up receives its next message at once, so one stalled answer holds up one lane,
/// not nine.
pub async fn run(app: App) {
    let lanes = Arc::new(Semaphore::new(app.settings.concurrency.max(1)));
    loop {
        let Ok(first) = lanes.clone().acquire_owned().await else { return };
        let mut free = vec![first];
        while let Ok(lane) = lanes.clone().try_acquire_owned() {
            free.push(lane);
        }
        match app.stores.queue.receive(free.len(), app.settings.visibility).await {
            Ok(messages) if messages.is_empty() => {
                drop(free);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(messages) => {
                for (message, lane) in messages.into_iter().zip(free) {
                    let app = app.clone();
                    tokio::spawn(async move {
                        let _lane = lane;
                        let disposition = process(&app, &message).await;
                        if let Err(e) = settle(&app, &message, disposition, &mut DrainReport::default()).await
                        {
                            // The message comes back when its visibility ends, and is processed again.
                            tracing::error!(error = %e, message_id = %message.message_id, "could not settle a processed message");
                        }
                    });
                }
            }
            Err(e) => {
                drop(free);
                tracing::error!(error = %e, "worker receive failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
