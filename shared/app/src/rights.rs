//! Flow 4 around the planner: re-evaluating links when rights change on the Consonance side,
//! and the proactive expiry pass.
//!
//! Decisions stay in `connector_core` (`rights_eval`, `plan::plan_asset`); this module only
//! finds which links to re-evaluate and enqueues for each the message an OTMM metadata change
//! would have caused, so the processor (slot lease, idempotency keys, one transaction for
//! link and audit) applies every change.
//!
//! ## The watch index
//! Links whose coverage will change on a known day are indexed in the `Documents` store under
//! kind `rights-watch#<YYYY-MM-DD>` (one DynamoDB partition per day), id `<isbn>#<role>#<slot>`
//! (`connector_store::keys::rights_watch_kind`, `keys::link_id`):
//! - a linked asset with an expiry date, on its last day of use (`purpose: "expiry"`);
//! - a link withheld until a start or embargo date, on that date (`purpose: "start"`).
//!
//! The processor writes the entry before the link (an entry for a link write that then fails
//! is harmless: the pass checks the link itself), the weekly full scan backfills it.
//! The daily pass ([`expiry_pass`]) reads only the day partitions from its checkpoint to
//! `today + expiry_warning_days`: cost grows with the links that expire, not the catalogue.

use crate::App;
use crate::reconciler::ReconcileError;
use chrono::{DateTime, Duration as Span, NaiveDate, Utc};
use connector_core::event::{EventId, FlowMessage, InboundEvent, OtmmEvent, OtmmEventType};
use connector_core::plan::TitleFacts;
use connector_core::rights_eval::{RightsReason, expiring_soon};
use connector_core::{
    Actor, AssetLink, AuditAction, AuditRecord, Checkpoint, Flow, Isbn13, LinkKey, LinkStatus, Outcome,
};
use connector_store::{Document, PageRequest, StoreError, keys, new_audit_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// How far back the very first pass looks for entries (later passes start at their checkpoint).
pub const FIRST_PASS_LOOKBACK_DAYS: i64 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchPurpose {
    /// The last day of use of a linked asset: warn before, withdraw after.
    Expiry,
    /// A withheld link's rights start (or its embargo ends): link it that day.
    Start,
}

/// One entry of the watch index (the document body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEntry {
    pub key: LinkKey,
    pub day: NaiveDate,
    pub purpose: WatchPurpose,
    pub version: u32,
    /// `rights.expiring` was reported for this link and day.
    #[serde(default)]
    pub warned: bool,
    /// Handled (re-evaluation enqueued, or the entry no longer matches its link).
    #[serde(default)]
    pub done: bool,
}

/// The day a link needs looking at again, if any.
pub fn watch_day(link: &AssetLink) -> Option<(NaiveDate, WatchPurpose)> {
    match link.status {
        LinkStatus::Linked => link.rights.as_ref()?.window.expiry.map(|e| (e, WatchPurpose::Expiry)),
        LinkStatus::Withdrawn => {
            // Withheld only by dates that will pass: linked again on the latest of them.
            let mut latest: Option<NaiveDate> = None;
            for d in &link.rights_denials {
                for r in &d.reasons {
                    match r {
                        RightsReason::NotYetValid { start: day } | RightsReason::Embargoed { until: day } => {
                            latest = latest.max(Some(*day));
                        }
                        _ => {}
                    }
                }
            }
            latest.map(|d| (d, WatchPurpose::Start))
        }
        _ => None,
    }
}

/// Records the link's next rights day in the watch index (once: an existing entry stays).
pub async fn watch(app: &App, link: &AssetLink) -> Result<(), StoreError> {
    let Some((day, purpose)) = watch_day(link) else { return Ok(()) };
    let doc = Document {
        kind: keys::rights_watch_kind(day),
        id: keys::link_id(&link.key),
        body: serde_json::to_value(WatchEntry {
            key: link.key.clone(),
            day,
            purpose,
            version: link.approval.version,
            warned: false,
            done: false,
        })
        .unwrap_or_default(),
        updated_at: app.now(),
        revision: 0,
    };
    match app.stores.documents.put_doc(&doc, None, &[]).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The message an OTMM metadata change of the link's version would have caused: the processor
/// reads the version and both sides' rights afresh and plans it.
pub fn reevaluation(link: &AssetLink, now: DateTime<Utc>, why: &str, correlation_id: &str) -> FlowMessage {
    let asset_id = link.version_asset_id.clone().unwrap_or_else(|| link.approval.asset_id.clone());
    let id = format!("rights-{why}-{asset_id}-v{}-{}", link.approval.version, new_audit_id(now));
    let event = InboundEvent::Otmm(OtmmEvent {
        event_id: EventId::parse(&id)
            .unwrap_or_else(|_| EventId::parse("rights-reevaluation").expect("valid id")),
        event_type: OtmmEventType::AssetMetadataChanged,
        otmm_event_id: None,
        asset_id,
        version: link.approval.version,
        occurred_at: now,
        actor: Actor { user_id: "rights-sync".into(), name: None },
    });
    FlowMessage::new(event, now, correlation_id.to_string())
}

/// The rights step of one flow message, entered once: the link about to be written gets its
/// next rights day in the watch index (before the link, so a crash in between leaves an entry
/// the daily pass drops as stale, never a link it does not watch), and when a product's sales
/// rights changed (`sales_changed`: a title of the work) every link of the work is re-evaluated
/// (enqueued before the title record is written, so a failure in between repeats them, never
/// loses them). Returns the links re-evaluated.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn after_plan(
    app: &App,
    link: Option<&AssetLink>,
    sales_changed: Option<&TitleFacts>,
    correlation_id: &str,
) -> Result<Vec<AssetLink>, StoreError> {
    if let Some(link) = link {
        watch(app, link).await?;
    }
    let Some(title) = sales_changed else { return Ok(Vec::new()) };
    let links = links_of_work(app, title).await?;
    enqueue_reevaluations(app, &links, "sales", correlation_id).await?;
    Ok(links)
}

/// Every link of the work's titles that rights decide (linked or withdrawn).
async fn links_of_work(app: &App, title: &TitleFacts) -> Result<Vec<AssetLink>, StoreError> {
    let mut isbns: Vec<&Isbn13> = title.products.iter().filter_map(|p| p.isbn.as_ref()).collect();
    if !isbns.contains(&&title.isbn) {
        isbns.push(&title.isbn);
    }
    let mut out = BTreeMap::new();
    for isbn in isbns {
        for link in app.stores.mapping.links_for_title(isbn).await? {
            if matches!(link.status, LinkStatus::Linked | LinkStatus::Withdrawn) {
                out.insert(link.key.clone(), link);
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Enqueues a re-evaluation for each link. Returns how many.
async fn enqueue_reevaluations(
    app: &App,
    links: &[AssetLink],
    why: &str,
    correlation_id: &str,
) -> Result<usize, StoreError> {
    for link in links {
        app.stores.queue.send(&reevaluation(link, app.now(), why, correlation_id).to_json()).await?;
    }
    Ok(links.len())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExpirySummary {
    pub days_scanned: u64,
    pub entries_seen: u64,
    /// `rights.expiring` records written (once per link and expiry day).
    pub expiring_reported: u64,
    /// Re-evaluations enqueued for links past their last day of use.
    pub withdrawals_enqueued: u64,
    /// Re-evaluations enqueued for withheld links whose rights start.
    pub starts_enqueued: u64,
    /// Entries that no longer match their link (rights changed since): dropped.
    pub stale_entries: u64,
    pub finished: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ExpiryCursor {
    next_day: NaiveDate,
}

/// The daily pass: reports links whose rights expire within `rights.expiry_warning_days`
/// (once per link and day), and enqueues the re-evaluation that withdraws them from the day
/// after their last day of use (and links withheld ones whose rights start).
pub async fn expiry_pass(
    app: &App,
    run_id: &str,
    remaining: &(dyn Fn() -> Duration + Send + Sync),
    stop_margin: Duration,
) -> Result<ExpirySummary, ReconcileError> {
    let today = app.now().date_naive();
    let horizon = today + Span::days(i64::from(app.config.rights.expiry_warning_days));
    let cp = app.stores.checkpoints.get_checkpoint(keys::RIGHTS_EXPIRY_CHECKPOINT).await?;
    let start = cp
        .as_ref()
        .and_then(|c| serde_json::from_str::<ExpiryCursor>(&c.cursor).ok())
        .map_or(today - Span::days(FIRST_PASS_LOOKBACK_DAYS), |c| c.next_day);
    let mut summary = ExpirySummary::default();
    let mut day = start.min(today);
    while day <= horizon {
        if remaining() < stop_margin {
            return Ok(summary);
        }
        summary.days_scanned += 1;
        let mut cursor = None;
        loop {
            let page = app
                .stores
                .documents
                .list_docs(&keys::rights_watch_kind(day), PageRequest { limit: 100, cursor })
                .await?;
            for doc in &page.items {
                summary.entries_seen += 1;
                handle_entry(app, doc, today, run_id, &mut summary).await?;
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        day = match day.succ_opt() {
            Some(d) => d,
            None => break,
        };
    }
    // Days before today are done for good; today and later are read again tomorrow.
    let next = Checkpoint {
        name: keys::RIGHTS_EXPIRY_CHECKPOINT.into(),
        cursor: serde_json::to_string(&ExpiryCursor { next_day: today }).unwrap_or_default(),
        updated_at: app.now(),
        revision: 0,
    };
    match app.stores.checkpoints.put_checkpoint(&next, cp.map(|c| c.revision)).await {
        // Another pass moved it meanwhile: it covered the same days.
        Ok(_) | Err(StoreError::Conflict { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    summary.finished = true;
    Ok(summary)
}

async fn handle_entry(
    app: &App,
    doc: &Document,
    today: NaiveDate,
    run_id: &str,
    s: &mut ExpirySummary,
) -> Result<(), ReconcileError> {
    let Ok(entry) = serde_json::from_value::<WatchEntry>(doc.body.clone()) else {
        return Ok(());
    };
    if entry.done {
        return Ok(());
    }
    let link = app.stores.mapping.get_link(&entry.key).await?;
    let current = link.as_ref().filter(|l| watch_day(l) == Some((entry.day, entry.purpose)));
    let Some(link) = current else {
        s.stale_entries += 1;
        return mark(app, doc, WatchEntry { done: true, ..entry }, &[]).await;
    };
    let correlation = format!("rights-pass-{run_id}");
    match entry.purpose {
        WatchPurpose::Expiry if entry.day < today => {
            enqueue_reevaluations(app, std::slice::from_ref(link), "expired", &correlation).await?;
            s.withdrawals_enqueued += 1;
            mark(app, doc, WatchEntry { done: true, ..entry }, &[]).await
        }
        WatchPurpose::Expiry
            if !entry.warned && expiring_soon(entry.day, today, app.config.rights.expiry_warning_days) =>
        {
            let days_left = (entry.day - today).num_days();
            let at = app.now();
            let detail = format!(
                "rights of {} {} v{} expire on {} (last day of use, in {days_left} days); linked to products {:?}; it will be withdrawn the day after unless OTMM extends them",
                link.key.role,
                link.approval.asset_id,
                link.approval.version,
                entry.day,
                link.product_ids.iter().map(|p| p.0).collect::<Vec<_>>()
            );
            let record = AuditRecord {
                id: new_audit_id(at),
                at,
                flow: Flow::RightsSync,
                action: AuditAction::RightsExpiring,
                outcome: Outcome::Applied,
                isbn: Some(link.key.isbn.clone()),
                asset_id: Some(link.approval.asset_id.clone()),
                asset_version: Some(link.approval.version),
                actor: None,
                correlation_id: correlation,
                detail,
                data: serde_json::json!({
                    "expiry": entry.day, "days_left": days_left, "role": link.key.role,
                    "product_ids": link.product_ids, "resource_id": link.consonance_resource_id,
                }),
            };
            s.expiring_reported += 1;
            mark(app, doc, WatchEntry { warned: true, ..entry }, &[record]).await
        }
        WatchPurpose::Start if entry.day <= today => {
            enqueue_reevaluations(app, std::slice::from_ref(link), "start", &correlation).await?;
            s.starts_enqueued += 1;
            mark(app, doc, WatchEntry { done: true, ..entry }, &[]).await
        }
        _ => Ok(()),
    }
}

/// Writes the entry back, with `audit` in the same transaction: the warning is recorded once
/// even when two passes overlap (the second loses the revision check and writes nothing).
async fn mark(
    app: &App,
    doc: &Document,
    entry: WatchEntry,
    audit: &[AuditRecord],
) -> Result<(), ReconcileError> {
    let updated = Document {
        body: serde_json::to_value(entry).unwrap_or_default(),
        updated_at: app.now(),
        ..doc.clone()
    };
    match app.stores.documents.put_doc(&updated, Some(doc.revision), audit).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
