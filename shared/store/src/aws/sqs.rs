//! SQS adapter: the flow queue and its dead-letter queue. Dead-lettering itself is the
//! queue's RedrivePolicy (maxReceiveCount), set by the template.

use super::{AwsConfig, sdk_error};
use crate::{Queue, QueueDepth, QueueMessage, Result, StoreError};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::time::Duration;

const BACKEND: &str = "sqs";
/// SQS returns at most 10 messages per ReceiveMessage.
const RECEIVE_BATCH: usize = 10;
/// SQS's maximum visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// While browsing the DLQ, messages already seen are hidden so the next receive returns
/// others; they are made visible again right after.
const BROWSE_HIDE_SECS: i32 = 60;

/// The flow queue and its dead-letter queue on SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
}

/// SQS counts in whole seconds: round up, so a message is never visible earlier than asked.
fn seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.min(MAX_VISIBILITY_SECS)).unwrap_or(i32::MAX)
}

fn corrupt(queue: &str, message: String) -> StoreError {
    StoreError::Corrupt { key: queue.to_string(), message }
}

impl SqsQueue {
    pub fn new(client: Client, cfg: &AwsConfig) -> Self {
        SqsQueue { client, queue_url: cfg.queue_url.clone(), dlq_url: cfg.dead_letter_queue_url.clone() }
    }

    fn to_message(queue: &str, m: Message) -> Result<QueueMessage> {
        let attr = |name: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&name)).cloned();
        let message_id =
            m.message_id().ok_or_else(|| corrupt(queue, "received a message without id".into()))?.to_string();
        let receipt = m
            .receipt_handle()
            .ok_or_else(|| corrupt(queue, format!("message {message_id} has no receipt handle")))?
            .to_string();
        let receive_count = attr(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let sent_at = attr(MessageSystemAttributeName::SentTimestamp)
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .ok_or_else(|| corrupt(queue, format!("message {message_id} has no SentTimestamp")))?;
        Ok(QueueMessage {
            message_id,
            receipt,
            body: m.body().unwrap_or_default().to_string(),
            receive_count,
            sent_at,
        })
    }

    /// One ReceiveMessage call (no long polling: the processor is invoked by the event source
    /// mapping, and tests must not wait).
    async fn receive_once(&self, queue: &str, max: usize, visibility: i32) -> Result<Vec<QueueMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(i32::try_from(max.min(RECEIVE_BATCH)).unwrap_or(1))
            .wait_time_seconds(0)
            .visibility_timeout(visibility)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "ReceiveMessage", queue, e))?;
        out.messages.unwrap_or_default().into_iter().map(|m| Self::to_message(queue, m)).collect()
    }

    /// Every dead letter (up to `max`), hidden for the browse; the caller decides what to
    /// move and must `restore` the rest.
    async fn browse_dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while out.len() < max {
            let batch = self.receive_once(&self.dlq_url, max - out.len(), BROWSE_HIDE_SECS).await?;
            let mut new = 0;
            for m in batch {
                if seen.insert(m.message_id.clone()) {
                    new += 1;
                    out.push(m);
                }
            }
            if new == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Makes browsed dead letters visible again.
    async fn restore(&self, messages: &[&QueueMessage]) -> Result<()> {
        for chunk in messages.chunks(RECEIVE_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| StoreError::Backend {
                            backend: BACKEND,
                            operation: "build request",
                            message: format!("{}: {e}", self.dlq_url),
                            transient: false,
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, "ChangeMessageVisibilityBatch", &self.dlq_url, e))?;
            if let Some(failed) = out.failed().first() {
                return Err(StoreError::Backend {
                    backend: BACKEND,
                    operation: "ChangeMessageVisibilityBatch",
                    message: format!(
                        "{}: could not make a dead letter visible again: {} {}",
                        self.dlq_url,
                        failed.code(),
                        failed.message().unwrap_or_default()
                    ),
                    transient: !failed.sender_fault(),
                });
            }
        }
        Ok(())
    }

    /// The named counters of `queue`, in the order asked.
    async fn counts(&self, queue: &str, names: &[QueueAttributeName]) -> Result<Vec<u64>> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "GetQueueAttributes", queue, e))?;
        let attributes = out.attributes.unwrap_or_default();
        names
            .iter()
            .map(|name| {
                let value = attributes.get(name).map(String::as_str).unwrap_or("0");
                value
                    .parse::<u64>()
                    .map_err(|e| corrupt(queue, format!("attribute {} = {value:?}: {e}", name.as_str())))
            })
            .collect()
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "SendMessage", &self.queue_url, e))?;
        out.message_id
            .ok_or_else(|| corrupt(&self.queue_url, "SendMessage answered without message id".into()))
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>> {
        let visibility = seconds(visibility);
        let mut out = Vec::new();
        while out.len() < max {
            let batch = self.receive_once(&self.queue_url, max - out.len(), visibility).await?;
            if batch.is_empty() {
                break;
            }
            out.extend(batch);
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "DeleteMessage", &self.queue_url, e))?;
        Ok(())
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(delay))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "ChangeMessageVisibility", &self.queue_url, e))?;
        Ok(())
    }

    async fn dead_letter(&self, message: &QueueMessage, reason: &str) -> Result<()> {
        // Send before delete, as in redrive: a failure in between leaves a duplicate, never a loss.
        let reason_attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason.chars().take(1000).collect::<String>())
            .build()
            .map_err(|e| StoreError::Backend {
                backend: BACKEND,
                operation: "SendMessage",
                message: e.to_string(),
                transient: false,
            })?;
        self.client
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(&message.body)
            .message_attributes("dead_letter_reason", reason_attribute)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "SendMessage", &self.dlq_url, e))?;
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&message.receipt)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "DeleteMessage", &self.queue_url, e))?;
        tracing::warn!(message_id = %message.message_id, reason, "message dead-lettered");
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>> {
        let mut messages = self.browse_dead_letters(max).await?;
        self.restore(&messages.iter().collect::<Vec<_>>()).await?;
        messages.sort_by_key(|m| m.sent_at);
        Ok(messages)
    }

    async fn redrive(&self, message_ids: Option<&[String]>) -> Result<usize> {
        let messages = self.browse_dead_letters(usize::MAX).await?;
        let (chosen, rest): (Vec<&QueueMessage>, Vec<&QueueMessage>) =
            messages.iter().partition(|m| message_ids.is_none_or(|ids| ids.contains(&m.message_id)));
        self.restore(&rest).await?;
        let mut moved = 0;
        for (i, m) in chosen.iter().enumerate() {
            // Send before delete: a failure in between leaves a duplicate, never a loss (the
            // flows are idempotent).
            let sent =
                self.client.send_message().queue_url(&self.queue_url).message_body(&m.body).send().await;
            if let Err(e) = sent {
                let err = sdk_error(BACKEND, "SendMessage", &self.queue_url, e);
                self.restore(&chosen[i..]).await?;
                return Err(err);
            }
            self.client
                .delete_message()
                .queue_url(&self.dlq_url)
                .receipt_handle(&m.receipt)
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, "DeleteMessage", &self.dlq_url, e))?;
            moved += 1;
        }
        Ok(moved)
    }

    async fn depth(&self) -> Result<QueueDepth> {
        use QueueAttributeName::{ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible};
        let both = [ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible];
        let main = self.counts(&self.queue_url, &both).await?;
        // Both on the DLQ too: a dead letter being browsed (hidden for a moment) is still dead.
        let dead = self.counts(&self.dlq_url, &both).await?;
        Ok(QueueDepth {
            visible: main.first().copied().unwrap_or(0),
            in_flight: main.get(1).copied().unwrap_or(0),
            dead: dead.iter().sum(),
        })
    }
}
