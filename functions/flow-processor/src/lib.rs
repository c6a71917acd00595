//! SQS batch in, partial batch failures out: the glue between the Lambda event and
//! [`connector_app::processor`].
//!
//! - done: reported as success; the event source mapping deletes the message.
//! - retry: reported in `batchItemFailures`; its visibility is set to the delay the failure
//!   asked for (`Retry-After`) so the retry does not come sooner.
//! - dead-letter: moved to the DLQ now (with the audit record the processor wrote) and reported
//!   as success, so the mapping does not delete it again.
//!
//! If every message failed, the invocation is still answered normally with all of them listed:
//! the event source mapping treats that like a failed batch (the Powertools semantics).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use connector_app::App;
use connector_app::processor::{Disposition, process_batch};
use connector_store::QueueMessage;

/// The queue message the processor sees for one SQS record.
pub fn queue_message(record: &SqsMessage) -> QueueMessage {
    let attribute = |name: &str| record.attributes.get(name);
    QueueMessage {
        message_id: record.message_id.clone().unwrap_or_default(),
        receipt: record.receipt_handle.clone().unwrap_or_default(),
        body: record.body.clone().unwrap_or_default(),
        receive_count: attribute("ApproximateReceiveCount").and_then(|v| v.parse().ok()).unwrap_or(1),
        sent_at: attribute("SentTimestamp")
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_default(),
    }
}

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let messages: Vec<QueueMessage> = event.records.iter().map(queue_message).collect();
    let dispositions = process_batch(app, &messages).await;
    let mut response = SqsBatchResponse::default();
    for (message, disposition) in messages.iter().zip(dispositions) {
        let failed = match disposition {
            Disposition::Done => false,
            Disposition::Retry { after, reason } => {
                tracing::warn!(message_id = %message.message_id, %reason, delay_s = after.as_secs(), "retry later");
                // Best effort: without it the queue's visibility timeout applies.
                let _ = app.stores.queue.retry_later(&message.receipt, after).await;
                true
            }
            Disposition::DeadLetter { cause } => match app.stores.queue.dead_letter(message, &cause).await {
                Ok(()) => false,
                // Could not move it: let it fail; after maxReceiveCount the redrive policy moves it.
                Err(e) => {
                    tracing::error!(message_id = %message.message_id, error = %e, "could not dead-letter; leaving it to the redrive policy");
                    true
                }
            },
        };
        if failed {
            let mut item = BatchItemFailure::default();
            item.item_identifier = message.message_id.clone();
            response.batch_item_failures.push(item);
        }
    }
    response
}
