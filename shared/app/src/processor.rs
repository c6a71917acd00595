//! The flow processor: one queue message in, side effects applied once, mapping and audit
//! written together. Transient failures are left on the queue to retry; permanent ones are
//! dead-lettered with an audit record naming the cause.
//!
//! One message is one pass through the rooms below, each entered once: an OTMM event goes
//! through [`link`] (facts gathered once, one pure plan, then commands, rights, title records,
//! the package follow-up, the link, requests and readiness); a Consonance notification through
//! [`titles`]; a follow-up the processor enqueued for itself (a package build) through
//! [`follow_up`], as a message of its own.

mod commands;
mod failure;
mod follow_up;
mod link;
mod titles;
mod withdraw;

use crate::App;
use connector_core::event::{FlowMessage, InboundEvent};
use connector_core::{AuditAction, AuditRecord, Flow, Outcome};
use connector_store::QueueMessage;
use failure::{Failure, record};
use futures::StreamExt;
use std::time::Duration;
use tracing::{Instrument, info, warn};

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Processed; delete it from the queue.
    Done,
    /// Leave it on the queue; it comes back after `after`.
    Retry { after: Duration, reason: String },
    /// Move it to the dead-letter queue now.
    DeadLetter { cause: String },
}

/// Processes a batch with bounded concurrency; results in the batch's order.
pub async fn process_batch(app: &App, messages: &[QueueMessage]) -> Vec<Disposition> {
    futures::stream::iter(messages.iter().map(|m| process(app, m)))
        .buffered(app.settings.concurrency.max(1))
        .collect()
        .await
}

/// Processes one message. Never panics; every outcome is audited, and every dead letter has
/// its cause recorded (audit record and the dead letter's record, in one write) before it is
/// moved: if that write fails, the message is retried instead.
pub async fn process(app: &App, message: &QueueMessage) -> Disposition {
    let flow_message = match FlowMessage::from_json(&message.body) {
        Ok(m) => m,
        Err(e) => {
            let cause = format!("message {} cannot be read: {e}", message.message_id);
            warn!(message_id = %message.message_id, %cause, "dead-lettering unreadable message");
            let rec = AuditRecord {
                correlation_id: message.message_id.clone(),
                ..record(
                    app,
                    Flow::Intake,
                    AuditAction::MessageUnreadable,
                    Outcome::DeadLettered,
                    &cause,
                    None,
                    None,
                )
            };
            return crate::metrics::processed(
                "unreadable",
                dead_letter(app, message, None, cause, vec![rec], false).await,
            );
        }
    };
    let span = tracing::info_span!(
        "flow",
        event_id = %flow_message.event_id,
        correlation_id = %flow_message.correlation_id,
        source = %flow_message.source,
        event_type = flow_message.event.event_type(),
        receive = message.receive_count,
    );
    async {
        let step = async {
            match &flow_message.event {
                InboundEvent::Otmm(e) => link::process_otmm(app, &flow_message, e).await,
                InboundEvent::Consonance(e) => titles::process_consonance(app, &flow_message, e).await,
                InboundEvent::Connector(e) => follow_up::process(app, &flow_message, e).await,
            }
        };
        // A step that runs past its deadline is given back like a crash: the claims it held
        // lapse before the retry (crate::sizing, rule 2).
        let deadline = app.settings.message_deadline;
        let result = tokio::time::timeout(deadline, step).await.unwrap_or_else(|_| {
            Err(Failure::Transient {
                reason: format!("the step ran past its {} s deadline", deadline.as_secs_f64()),
                retry_after: Some(app.settings.idempotency_ttl.in_progress.max(app.settings.lease)),
            })
        });
        let disposition = match result {
            Ok(()) => Disposition::Done,
            Err(Failure::Permanent { cause, records }) => {
                dead_letter(app, message, Some(&flow_message), cause, records, false).await
            }
            Err(Failure::Transient { reason, retry_after }) => {
                if message.receive_count >= app.settings.max_receives {
                    // The queue would move it to the DLQ on its next receive: do it now, while we
                    // know why.
                    let cause = format!("gave up after {} receives: {reason}", message.receive_count);
                    dead_letter(app, message, Some(&flow_message), cause, Vec::new(), true).await
                } else {
                    let after = retry_after.unwrap_or_else(|| app.settings.retry_wait(message.receive_count));
                    Disposition::Retry { after, reason }
                }
            }
        };
        info!(?disposition, "message processed");
        crate::metrics::processed(flow_message.source.as_str(), disposition)
    }
    .instrument(span)
    .await
}

/// Records why `message` is dead-lettered ([`crate::dlq::park`]: the dead letter's record and
/// its audit records in one transaction), then answers [`Disposition::DeadLetter`]. If the write
/// fails the message is retried rather than parked without its cause.
async fn dead_letter(
    app: &App,
    message: &QueueMessage,
    flow: Option<&FlowMessage>,
    cause: String,
    records: Vec<AuditRecord>,
    exhausted_retries: bool,
) -> Disposition {
    let parked = crate::dlq::Parking { message, flow, cause: &cause, exhausted_retries, at: app.now() };
    match crate::dlq::park(&app.stores, parked, records).await {
        Ok(kind) => {
            connector_metrics::dead_letter(kind.as_str());
            Disposition::DeadLetter { cause }
        }
        Err(e) => {
            warn!(message_id = %message.message_id, error = %e, %cause, "could not record the dead letter; retrying instead");
            Disposition::Retry {
                after: app.settings.retry_wait(message.receive_count),
                reason: format!("the dead letter's record could not be written ({e}); cause: {cause}"),
            }
        }
    }
}
