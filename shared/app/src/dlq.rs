//! The dead-letter queue as people see it: each parked message with what it was about and the
//! audit record that says why it was parked, and re-driving chosen ones (or all) back to the
//! flow queue, audited. Used by the HTTP API (`GET /dlq`, `POST /dlq/replay`) and by the local
//! CLI (`connector replay`).
//!
//! How a dead letter finds its cause: before the processor moves a message it writes a
//! [`DeadLetterRecord`] (document kind [`keys::DEAD_LETTER_KIND`]) together with the audit records
//! naming the cause, in one transaction. The record's id is [`dead_letter_key`], computed from
//! the message body alone, so it is found whatever the queue does to the message (SQS gives a
//! message moved to the DLQ a new id and counts its receives there afresh) and whichever title or
//! asset the audit records are filed under.

use chrono::{DateTime, Utc};
use connector_core::dead_letter::DeadLetterCause;
use connector_core::event::{FlowMessage, InboundEvent};
use connector_core::{AssetId, AuditAction, AuditRecord, Flow, Isbn13, Outcome};
use connector_store::{Document, PageRequest, QueueMessage, StoreError, Stores, keys, new_audit_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why one message was dead-lettered, written by the processor in the same transaction as the
/// audit record it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// [`dead_letter_key`] of the message body: the document id.
    pub key: String,
    /// The message's id on the flow queue when it was dead-lettered.
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub cause: String,
    /// The audit record that names the cause.
    pub audit_id: String,
    /// Receives of the message when it was dead-lettered (this one included).
    pub receive_count: u32,
    /// True when it gave up after the queue's receives ran out on transient failures; false
    /// when a permanent failure parked it at once.
    pub exhausted_retries: bool,
    /// The kind of the cause (absent in records written before kinds were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_kind: Option<DeadLetterCause>,
    pub at: DateTime<Utc>,
}

/// The key a dead letter's record is filed under, from the body alone: `event:<source>:<event
/// id>` for a readable flow message, else `body:<SHA-256 of the body>`.
pub fn dead_letter_key(body: &str) -> String {
    match FlowMessage::from_json(body) {
        Ok(f) => keys::dead_letter_event(f.source, &f.event_id),
        Err(_) => keys::dead_letter_body(body),
    }
}

/// Writes `entry` and `audit` in one transaction (replacing an earlier record of the same key:
/// the same event dead-lettered again after a replay).
pub async fn record(
    stores: &Stores,
    entry: &DeadLetterRecord,
    audit: &[AuditRecord],
) -> Result<(), StoreError> {
    let existing = stores.documents.get_doc(keys::DEAD_LETTER_KIND, &entry.key).await?;
    let body = serde_json::to_value(entry)
        .map_err(|e| StoreError::Corrupt { key: entry.key.clone(), message: e.to_string() })?;
    let doc = Document {
        kind: keys::DEAD_LETTER_KIND.into(),
        id: entry.key.clone(),
        body,
        updated_at: entry.at,
        revision: 0,
    };
    stores.documents.put_doc(&doc, existing.map(|d| d.revision), audit).await?;
    Ok(())
}

/// A message about to be dead-lettered, and why.
pub struct Parking<'a> {
    pub message: &'a QueueMessage,
    pub flow: Option<&'a FlowMessage>,
    pub cause: &'a str,
    pub exhausted_retries: bool,
    pub at: DateTime<Utc>,
}

/// Writes why a message is dead-lettered, in one transaction: its [`DeadLetterRecord`] and
/// `audit`, of which the first dead-lettered record is the one the DLQ shows (a
/// `message.dead_lettered` record naming the cause is added when there is none). That record's
/// `data.dead_letter` gets the key, message id, event id and receive count. Answers the kind of
/// the cause (from that record's action).
pub async fn park(
    stores: &Stores,
    p: Parking<'_>,
    mut audit: Vec<AuditRecord>,
) -> Result<DeadLetterCause, StoreError> {
    let explained = match audit.iter().position(|r| r.outcome == Outcome::DeadLettered) {
        Some(i) => i,
        None => {
            let (isbn, asset) = match p.flow.map(|f| &f.event) {
                Some(InboundEvent::Otmm(e)) => (None, Some((e.asset_id.clone(), e.version))),
                Some(InboundEvent::Consonance(e)) => (e.isbn.clone(), None),
                Some(InboundEvent::Connector(e)) => (Some(e.isbn().clone()), None),
                None => (None, None),
            };
            audit.push(AuditRecord {
                id: new_audit_id(p.at),
                at: p.at,
                flow: Flow::Intake,
                action: AuditAction::MessageDeadLettered,
                outcome: Outcome::DeadLettered,
                isbn,
                asset_id: asset.as_ref().map(|(a, _)| a.clone()),
                asset_version: asset.map(|(_, v)| v),
                actor: None,
                correlation_id: p
                    .flow
                    .map_or_else(|| p.message.message_id.clone(), |f| f.correlation_id.clone()),
                detail: p.cause.to_string(),
                data: serde_json::Value::Null,
            });
            audit.len() - 1
        }
    };
    let entry = DeadLetterRecord {
        key: dead_letter_key(&p.message.body),
        message_id: p.message.message_id.clone(),
        event_id: p.flow.map(|f| f.event_id.to_string()),
        cause: p.cause.to_string(),
        audit_id: audit[explained].id.to_string(),
        receive_count: p.message.receive_count,
        exhausted_retries: p.exhausted_retries,
        cause_kind: Some(DeadLetterCause::of_parking(Some(audit[explained].action), p.exhausted_retries)),
        at: p.at,
    };
    let kind = entry.cause_kind.unwrap_or(DeadLetterCause::PermanentError);
    let stamp = serde_json::json!({
        "key": entry.key, "message_id": entry.message_id, "event_id": entry.event_id,
        "receive_count": entry.receive_count, "exhausted_retries": entry.exhausted_retries,
    });
    match &mut audit[explained].data {
        serde_json::Value::Object(map) => {
            map.insert("dead_letter".into(), stamp);
        }
        other => *other = serde_json::json!({ "dead_letter": stamp, "data": other.take() }),
    }
    record(stores, &entry, &audit).await?;
    Ok(kind)
}

/// The record of a dead letter, if the processor wrote one.
pub async fn record_of(stores: &Stores, body: &str) -> Result<Option<DeadLetterRecord>, StoreError> {
    let key = dead_letter_key(body);
    let Some(doc) = stores.documents.get_doc(keys::DEAD_LETTER_KIND, &key).await? else { return Ok(None) };
    serde_json::from_value(doc.body)
        .map(Some)
        .map_err(|e| StoreError::Corrupt { key, message: e.to_string() })
}

/// Most dead letters listed or considered at once.
pub const MAX_LISTED: usize = 1000;
/// Audit records read per message when looking for its cause (newest first).
const CAUSE_SCAN: usize = 50;

/// One dead letter, with what it was about and why it was parked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// Receives on the flow queue when it was dead-lettered (from its record; the dead-letter
    /// queue's own count when there is none).
    pub receive_count: u32,
    pub sent_at: DateTime<Utc>,
    /// From the flow message, when it can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isbn: Option<Isbn13>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    /// Why it was parked: its [`DeadLetterRecord`]; for messages parked without one, the newest
    /// audit record of its flow (dead-lettered ones first), why the message cannot be read, or
    /// that the queue moved it after its receives ran out with no outcome recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The audit record the cause comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_audit_id: Option<String>,
    /// True when it gave up after its receives ran out on transient failures, false when a
    /// permanent failure parked it at once; absent when no record says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhausted_retries: Option<bool>,
    /// The kind of the cause ([`DeadLetterCause`]): from its record, else from the audit record
    /// found (or `moved_by_queue` when none explains it); absent for an old record without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_kind: Option<DeadLetterCause>,
    /// The first 500 characters of the body.
    pub body_excerpt: String,
}

/// What to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Ids(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayOutcome {
    /// How many moved back to the flow queue.
    pub moved: usize,
    /// Asked-for ids that are not in the dead-letter queue (already replayed, or never there).
    pub not_found: Vec<String>,
    /// The audit record written for the replay.
    pub audit_id: String,
}

/// Up to `max` dead letters (at most [`MAX_LISTED`]), oldest first, each with its cause.
pub async fn list(stores: &Stores, max: usize) -> Result<Vec<DeadLetter>, StoreError> {
    let messages = stores.queue.dead_letters(max.clamp(1, MAX_LISTED)).await?;
    let mut out = Vec::with_capacity(messages.len());
    for m in &messages {
        out.push(describe(stores, m).await?);
    }
    Ok(out)
}

async fn describe(stores: &Stores, m: &QueueMessage) -> Result<DeadLetter, StoreError> {
    let mut d = DeadLetter {
        message_id: m.message_id.clone(),
        receive_count: m.receive_count,
        sent_at: m.sent_at,
        event_id: None,
        source: None,
        event_type: None,
        correlation_id: None,
        isbn: None,
        asset_id: None,
        cause: None,
        cause_audit_id: None,
        exhausted_retries: None,
        cause_kind: None,
        body_excerpt: m.body.chars().take(500).collect(),
    };
    let recorded = record_of(stores, &m.body).await?;
    if let Some(r) = &recorded {
        d.cause = Some(r.cause.clone());
        d.cause_audit_id = Some(r.audit_id.clone());
        d.receive_count = r.receive_count;
        d.exhausted_retries = Some(r.exhausted_retries);
        d.cause_kind = r.cause_kind;
    }
    let flow = match FlowMessage::from_json(&m.body) {
        Ok(f) => f,
        Err(e) => {
            // The processor audits these under no title; say the same thing again here.
            d.cause.get_or_insert_with(|| format!("message {} cannot be read: {e}", m.message_id));
            d.cause_kind.get_or_insert(DeadLetterCause::MessageUnreadable);
            return Ok(d);
        }
    };
    d.event_id = Some(flow.event_id.to_string());
    d.source = Some(flow.source.to_string());
    d.event_type = Some(flow.event.event_type().to_string());
    d.correlation_id = Some(flow.correlation_id.clone());
    match &flow.event {
        InboundEvent::Otmm(e) => d.asset_id = Some(e.asset_id.clone()),
        InboundEvent::Consonance(e) => d.isbn = e.isbn.clone(),
        InboundEvent::Connector(e) => d.isbn = Some(e.isbn().clone()),
    }
    if recorded.is_some() {
        return Ok(d);
    }
    // Parked before dead-letter records existed, or by the queue itself: look in the trail.
    let page = PageRequest { limit: CAUSE_SCAN, cursor: None };
    let records = match (&d.asset_id, &d.isbn) {
        (Some(asset), _) => stores.audit.by_asset(asset, page).await?.items,
        (None, Some(isbn)) => stores.audit.by_title(isbn, page).await?.items,
        (None, None) => Vec::new(),
    };
    if let Some(r) = cause_of(&records, &flow.correlation_id) {
        d.cause = Some(r.detail.clone());
        d.cause_audit_id = Some(r.id.to_string());
        d.cause_kind = Some(match r.outcome {
            Outcome::DeadLettered => DeadLetterCause::of_parking(Some(r.action), false),
            // Its newest record is a retry: the queue moved it after that.
            _ => DeadLetterCause::MovedByQueue,
        });
    } else {
        d.cause = Some(NO_RECORD_CAUSE.to_string());
        d.cause_kind = Some(DeadLetterCause::MovedByQueue);
    }
    Ok(d)
}

/// The cause shown for a dead letter nobody recorded: the queue's redrive policy moved it.
pub const NO_RECORD_CAUSE: &str = "the queue moved it after its receives ran out with no outcome recorded \
(the worker stopped, timed out, or could not write the dead letter's record each time); see the processor's log";

/// The record that explains a dead letter: among `records` (newest first) of its correlation
/// id, the newest dead-lettered one, else the newest of any outcome (a retry names its reason).
pub fn cause_of<'a>(records: &'a [AuditRecord], correlation_id: &str) -> Option<&'a AuditRecord> {
    let mine = || records.iter().filter(|r| r.correlation_id == correlation_id);
    mine().find(|r| r.outcome == Outcome::DeadLettered).or_else(|| mine().next())
}

/// Moves the selected dead letters back to the flow queue and audits the replay (flow
/// `replay`, action `dlq.replayed`, with the ids and counts in `data`).
pub async fn replay(
    stores: &Stores,
    selection: &Selection,
    now: DateTime<Utc>,
    actor: Option<&str>,
) -> Result<ReplayOutcome, StoreError> {
    let (moved, not_found) = match selection {
        Selection::All => (stores.queue.redrive(None).await?, Vec::new()),
        Selection::Ids(ids) => {
            let present: BTreeSet<String> =
                stores.queue.dead_letters(MAX_LISTED).await?.into_iter().map(|m| m.message_id).collect();
            let (known, unknown): (Vec<String>, Vec<String>) =
                ids.iter().cloned().partition(|id| present.contains(id));
            let moved = if known.is_empty() { 0 } else { stores.queue.redrive(Some(&known)).await? };
            (moved, unknown)
        }
    };
    let id = new_audit_id(now);
    let scope = match selection {
        Selection::All => "all dead letters".to_string(),
        Selection::Ids(ids) => format!("{} chosen dead letters", ids.len()),
    };
    let record = AuditRecord {
        id: id.clone(),
        at: now,
        flow: Flow::Replay,
        action: AuditAction::DlqReplayed,
        outcome: Outcome::Applied,
        isbn: None,
        asset_id: None,
        asset_version: None,
        actor: actor.map(|a| connector_core::Actor { user_id: a.to_string(), name: None }),
        correlation_id: id.to_string(),
        detail: format!("replay of {scope}: {moved} moved back to the flow queue"),
        data: serde_json::json!({
            "selection": match selection { Selection::All => serde_json::json!("all"), Selection::Ids(ids) => serde_json::json!(ids) },
            "moved": moved,
            "not_found": not_found,
        }),
    };
    stores.audit.append(&[record]).await?;
    Ok(ReplayOutcome { moved, not_found, audit_id: id.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, corr: &str, outcome: Outcome, detail: &str) -> AuditRecord {
        AuditRecord {
            id: connector_core::AuditId(id.into()),
            at: Utc::now(),
            flow: Flow::LinkApprovedAsset,
            action: AuditAction::MessageDeadLettered,
            outcome,
            isbn: None,
            asset_id: None,
            asset_version: None,
            actor: None,
            correlation_id: corr.into(),
            detail: detail.into(),
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_cause_is_the_newest_dead_lettered_record_of_the_flow() {
        let records = vec![
            rec("3", "other", Outcome::DeadLettered, "someone else's"),
            rec("2", "c1", Outcome::Retrying, "429 from Consonance"),
            rec("1", "c1", Outcome::DeadLettered, "no product for ISBN"),
        ];
        assert_eq!(cause_of(&records, "c1").unwrap().detail, "no product for ISBN");
        let only_retries =
            vec![rec("2", "c2", Outcome::Retrying, "timeout"), rec("1", "c2", Outcome::Skipped, "x")];
        assert_eq!(cause_of(&only_retries, "c2").unwrap().detail, "timeout");
        assert!(cause_of(&records, "nobody").is_none());
    }
}
