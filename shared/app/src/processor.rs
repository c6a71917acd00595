//! The flow processor: one queue message in, side effects applied once, mapping and audit
//! written together. Transient failures are left on the queue to retry; permanent ones are
//! dead-lettered with an audit record naming the cause.

use crate::App;
use crate::systems::{ResourceRequest, SystemError};
use connector_core::event::{ConsonanceEvent, FlowMessage, InboundEvent, OtmmEvent, OtmmEventType};
use connector_core::plan::{
    AssetFacts, Command, Note, Plan, TitleFacts, TitleLookup, Verdict, asset_isbn, link_create_key,
    plan_asset, repeated_approval, work_titles,
};
use connector_core::{
    Actor, AssetId, AssetLink, AuditAction, AuditRecord, Flow, Isbn13, LinkKey, LinkStatus, Outcome,
    TitleRecord,
};
use connector_store::{Claim, ConflictReason, QueueMessage, StoreError, new_audit_id};
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

/// Why a step failed.
#[derive(Debug, Clone)]
enum Failure {
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// `records`: audit records that explain it (e.g. `asset.not_found`), written together with
    /// the dead letter's record; empty, the processor writes a `message.dead_lettered` one.
    Permanent {
        cause: String,
        records: Vec<AuditRecord>,
    },
}

impl Failure {
    fn permanent(cause: impl Into<String>) -> Self {
        Failure::Permanent { cause: cause.into(), records: Vec::new() }
    }
}

impl From<SystemError> for Failure {
    fn from(e: SystemError) -> Self {
        match e {
            SystemError::Transient { retry_after, .. } => {
                Failure::Transient { reason: e.to_string(), retry_after }
            }
            other => Failure::permanent(other.to_string()),
        }
    }
}

impl From<crate::readiness::ReadinessError> for Failure {
    fn from(e: crate::readiness::ReadinessError) -> Self {
        if e.is_transient() {
            Failure::Transient { reason: e.to_string(), retry_after: None }
        } else {
            Failure::permanent(e.to_string())
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        // Store failures (throttling, a lost race) are retried; the plan is made again then.
        if e.is_transient() || e.is_conflict() {
            Failure::Transient { reason: e.to_string(), retry_after: None }
        } else {
            Failure::permanent(e.to_string())
        }
    }
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
                InboundEvent::Otmm(e) => process_otmm(app, &flow_message, e).await,
                InboundEvent::Consonance(e) => process_consonance(app, &flow_message, e).await,
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

fn record(
    app: &App,
    flow: Flow,
    action: AuditAction,
    outcome: Outcome,
    detail: &str,
    isbn: Option<Isbn13>,
    asset: Option<(&AssetId, u32)>,
) -> AuditRecord {
    let at = app.now();
    AuditRecord {
        id: new_audit_id(at),
        at,
        flow,
        action,
        outcome,
        isbn,
        asset_id: asset.map(|(a, _)| a.clone()),
        asset_version: asset.map(|(_, v)| v),
        actor: None,
        correlation_id: String::new(),
        detail: detail.to_string(),
        data: serde_json::Value::Null,
    }
}

/// Audit records for a plan's notes.
fn records_for(
    app: &App,
    notes: &[Note],
    isbn: Option<&Isbn13>,
    facts: &AssetFacts,
    actor: &Actor,
    correlation_id: &str,
) -> Vec<AuditRecord> {
    notes
        .iter()
        .map(|n| {
            let mut data = n.data.clone();
            if let Some(obj) = data.as_object_mut() {
                obj.insert("asset_name".into(), facts.name.clone().into());
            }
            AuditRecord {
                actor: Some(facts.approved_by.clone().unwrap_or_else(|| actor.clone())),
                correlation_id: correlation_id.to_string(),
                data,
                ..record(
                    app,
                    n.flow,
                    n.action,
                    n.outcome,
                    &n.detail,
                    isbn.cloned(),
                    Some((&facts.lineage_id, facts.version)),
                )
            }
        })
        .collect()
}

async fn process_otmm(app: &App, message: &FlowMessage, event: &OtmmEvent) -> Result<(), Failure> {
    let facts = match app.dam.asset(&event.asset_id).await {
        Ok(facts) => facts,
        Err(SystemError::NotFound { .. }) if event.event_type == OtmmEventType::AssetDeleted => {
            return withdraw_links_of_deleted_asset(app, message, event).await;
        }
        Err(SystemError::NotFound { what, .. }) => {
            let cause = format!("OTMM has no asset {what}");
            let rec = AuditRecord {
                correlation_id: message.correlation_id.clone(),
                actor: Some(event.actor.clone()),
                ..record(
                    app,
                    Flow::LinkApprovedAsset,
                    AuditAction::AssetNotFound,
                    Outcome::DeadLettered,
                    &cause,
                    None,
                    Some((&event.asset_id, event.version)),
                )
            };
            return Err(Failure::Permanent { cause, records: vec![rec] });
        }
        Err(e) => return Err(e.into()),
    };

    // The slot this asset version would go in, and what is there now.
    let role = facts.asset_type_field.as_deref().and_then(|v| app.config.role_for(v));
    let isbn = asset_isbn(&facts).ok();
    // One writer per role slot: versions of one asset (or two designs for one cover) arriving
    // together would otherwise each read the same current link and each create a resource.
    let slot = match (&isbn, role) {
        (Some(isbn), Some(role)) => Some(LinkKey::for_asset(isbn.clone(), role, &facts.lineage_id)),
        _ => None,
    };
    let lease = match &slot {
        Some(key) => Some(acquire_slot(app, key).await?),
        None => None,
    };
    let result = plan_and_apply(app, message, event, &facts, slot.as_ref()).await;
    if let Some(lease) = lease {
        // Best effort: an unreleased lease lapses after `settings.lease`.
        let _ = app.stores.idempotency.release(&lease).await;
    }
    result?;
    match &slot {
        Some(key) => packages_after_link(app, message, &facts, key).await,
        None => Ok(()),
    }
}

/// Flow 5 hook: once this version is what its slot holds (just linked, a repeat of a link made
/// before, or withdrawn), the work's production packages are built or confirmed. Idempotent,
/// so a retried message (which finds the link already made) builds what a failure left undone.
async fn packages_after_link(
    app: &App,
    message: &FlowMessage,
    facts: &AssetFacts,
    key: &LinkKey,
) -> Result<(), Failure> {
    if !app.settings.packages_on_link || !crate::packages::takes_role(app, key.role) {
        return Ok(());
    }
    let Some(link) = app.stores.mapping.get_link(key).await? else { return Ok(()) };
    if link.approval.asset_id != facts.lineage_id || link.approval.version != facts.version {
        return Ok(());
    }
    package_result(
        app,
        message,
        &key.isbn,
        crate::packages::build_for_isbn(app, &key.isbn, &message.correlation_id).await,
    )
    .await
}

/// A package build's error as a flow failure; a permanent one is audited first.
async fn package_result<T>(
    app: &App,
    message: &FlowMessage,
    isbn: &Isbn13,
    result: Result<T, crate::packages::PackageError>,
) -> Result<(), Failure> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_transient() => {
            Err(Failure::Transient { reason: format!("package build: {e}"), retry_after: e.retry_after() })
        }
        Err(e) => {
            let cause = format!("package build for {isbn} failed: {e}");
            let rec = AuditRecord {
                correlation_id: message.correlation_id.clone(),
                ..record(
                    app,
                    Flow::ProductionPackage,
                    AuditAction::PackageFailed,
                    Outcome::DeadLettered,
                    &cause,
                    Some(isbn.clone()),
                    None,
                )
            };
            Err(Failure::Permanent { cause, records: vec![rec] })
        }
    }
}

/// The lease key of a role slot.
fn slot_lease(key: &LinkKey) -> String {
    format!("lease:{}:{}:{}", key.isbn, key.role, key.slot)
}

async fn acquire_slot(app: &App, key: &LinkKey) -> Result<String, Failure> {
    let lease = slot_lease(key);
    let ttl =
        connector_store::IdempotencyTtl { in_progress: app.settings.lease, completed: app.settings.lease };
    let started = std::time::Instant::now();
    loop {
        // A lease is never completed, only released: anything but Acquired means it is held.
        let until = match app.stores.idempotency.claim(&lease, None, app.now(), ttl).await? {
            Claim::Acquired => return Ok(lease),
            Claim::InProgress { until } => until,
            Claim::Completed { .. } => {
                app.now() + chrono::Duration::from_std(app.settings.lease).unwrap_or_default()
            }
        };
        if started.elapsed() >= app.settings.slot_wait {
            // Back when the holder's lease lapses (it may have died): one receive, not five.
            return Err(Failure::Transient {
                reason: format!("another worker is updating {} {} of {}", key.role, key.slot, key.isbn),
                retry_after: Some(crate::sizing::wait_for_lapse(
                    until,
                    app.now(),
                    app.settings.contention_delay,
                )),
            });
        }
        tokio::time::sleep(app.settings.contention_delay).await;
    }
}

async fn plan_and_apply(
    app: &App,
    message: &FlowMessage,
    event: &OtmmEvent,
    facts: &AssetFacts,
    slot: Option<&LinkKey>,
) -> Result<(), Failure> {
    let current = match slot {
        Some(key) => app.stores.mapping.get_link(key).await?,
        None => None,
    };
    let isbn = slot.map(|k| &k.isbn);
    // A repeated approval of the version its slot holds costs no Consonance read when nothing
    // there could change the answer (connector_core::plan::repeated_approval). Only approval
    // events: re-evaluations (metadata changes) always plan in full.
    if event.event_type == OtmmEventType::AssetApproved
        && let Some(isbn) = isbn
    {
        let stored = app.stores.mapping.get_title(isbn).await?;
        let today = app.now().date_naive();
        if let Some(plan) = repeated_approval(facts, current.as_ref(), stored.as_ref(), &app.config, today) {
            return apply(app, message, event, facts, None, current.as_ref(), plan).await;
        }
    }
    let title = match isbn {
        Some(isbn) => app.pms.title_by_isbn(isbn).await?,
        None => None,
    };
    if let Some(title) = &title {
        // Each product of the work the link may cover keeps its sales-rights snapshot (flow 4).
        for t in work_titles(title) {
            record_title(app, &t, &message.correlation_id).await?;
        }
    }
    let lookup = title.as_ref().map_or(TitleLookup::NotFound, TitleLookup::Found);
    let plan = plan_asset(facts, lookup, current.as_ref(), &app.config, app.now());
    apply(app, message, event, facts, title.as_ref(), current.as_ref(), plan).await
}

/// Carries out a plan's commands, then writes link and audit together.
async fn apply(
    app: &App,
    message: &FlowMessage,
    event: &OtmmEvent,
    facts: &AssetFacts,
    title: Option<&TitleFacts>,
    current: Option<&AssetLink>,
    plan: Plan,
) -> Result<(), Failure> {
    let mut created: Option<String> = None;
    for command in &plan.commands {
        if let Some(id) = run_command(app, command, facts, title).await? {
            created = Some(id);
        }
    }
    // The current link's resource is gone: free its create key, so the same product set can be
    // linked again later (a right restored) instead of finding the deleted resource's id.
    if let Some(cur) = current
        && let Some(old) = &cur.consonance_resource_id
        && plan
            .commands
            .iter()
            .any(|c| matches!(c, Command::DeleteResource { resource_id } if resource_id == old))
    {
        app.stores.idempotency.release(&link_create_key(cur)).await?;
    }
    // Flow 4: the link's next rights day (expiry, start) in the watch index, before the link.
    if let Some(link) = &plan.link {
        crate::rights::watch(app, link).await?;
    }
    let records =
        records_for(app, &plan.notes, plan.isbn.as_ref(), facts, &event.actor, &message.correlation_id);
    // A permanent verdict without a link: its records (`title.not_found`) are written with the
    // dead letter's record, in the same transaction.
    let park_records = plan.link.is_none() && matches!(plan.verdict, Verdict::Permanent { .. });
    let mut linked = None;
    match plan.link {
        Some(mut link) => {
            if created.is_some() {
                link.consonance_resource_id = created.clone();
            }
            match app.stores.mapping.put_link(&link, current.map(|c| c.revision), &records).await {
                Ok(_) => linked = Some(link.key.role),
                Err(StoreError::Conflict {
                    reason: ConflictReason::StaleVersion { stored_version, .. },
                    ..
                }) => {
                    // A newer approval was linked while this one was applied: take ours back out.
                    if let Some(id) = &created {
                        app.pms.delete_resource(id).await?;
                    }
                    let detail = format!(
                        "a newer approval (version {stored_version}) was linked meanwhile; this one was withdrawn"
                    );
                    let rec = AuditRecord {
                        correlation_id: message.correlation_id.clone(),
                        ..record(
                            app,
                            Flow::LinkApprovedAsset,
                            AuditAction::LinkSuperseded,
                            Outcome::Skipped,
                            &detail,
                            plan.isbn.clone(),
                            Some((&facts.lineage_id, facts.version)),
                        )
                    };
                    app.stores.audit.append(&[rec]).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        None if park_records => {}
        None => {
            if !records.is_empty() {
                app.stores.audit.append(&records).await?;
            }
        }
    }
    // Flows 3 and 8: an asset linked may close its request and change the work's readiness.
    if let (Some(role), Some(title)) = (linked, title) {
        crate::readiness::refresh_after_link(app, title, role, &message.correlation_id).await?;
    }
    match plan.verdict {
        Verdict::Done => Ok(()),
        Verdict::Permanent { cause } => {
            Err(Failure::Permanent { cause, records: if park_records { records } else { Vec::new() } })
        }
    }
}

/// Runs one command under its idempotency key. Returns the created resource id, if any.
async fn run_command(
    app: &App,
    command: &Command,
    facts: &AssetFacts,
    title: Option<&TitleFacts>,
) -> Result<Option<String>, Failure> {
    let key = command.idempotency_key();
    let ttl = app.settings.idempotency_ttl;
    match app.stores.idempotency.claim(&key, None, app.now(), ttl).await? {
        Claim::Completed { data } => {
            info!(%key, "side effect already applied");
            return Ok(data);
        }
        Claim::InProgress { until } => {
            // If the holder died, its claim lapses at `until`: come back then, not sooner, or a
            // dead worker's claim uses up this message's receives (crate::sizing, rule 3).
            return Err(Failure::Transient {
                reason: format!("another worker is applying {key}"),
                retry_after: Some(crate::sizing::wait_for_lapse(
                    until,
                    app.now(),
                    app.settings.contention_delay,
                )),
            });
        }
        Claim::Acquired => {}
    }
    let result: Result<Option<String>, SystemError> = match command {
        Command::CreateResource {
            work_id,
            product_ids,
            resource_variant,
            status,
            dedupe_marker,
            unlink_previous,
            role,
        } => {
            let request = ResourceRequest {
                work_id: *work_id,
                product_ids: product_ids.clone(),
                resource_variant: resource_variant.clone(),
                status: status.clone(),
                dedupe_marker: dedupe_marker.clone(),
                unlink_previous: *unlink_previous,
                file_url: app.dam.content_url(facts),
                file_name: facts.name.clone(),
                mime_type: facts.mime_type.clone(),
                caption: format!(
                    "{role} for {} [{dedupe_marker}]",
                    title.map_or_else(|| facts.name.clone(), |t| t.title.clone())
                ),
            };
            ensure_resource(app, &request, facts).await.map(Some)
        }
        // Files that are not JPG images: web links (the planner chose the route).
        Command::CreateWebLinks { work_id, product_ids, role, website_role, target, dedupe_marker } => {
            crate::web_links::ensure(
                app,
                facts,
                title,
                *work_id,
                product_ids,
                *role,
                website_role,
                *target,
                dedupe_marker,
            )
            .await
            .map(Some)
        }
        Command::DeleteResource { resource_id } => app.pms.delete_resource(resource_id).await.map(|()| None),
        Command::RemoveResourcesMarked { work_id, marker_prefix } => {
            app.pms.delete_resources_marked(*work_id, marker_prefix).await.map(|_| None)
        }
        Command::UpdateOtmmFields { asset_id, fields } => {
            app.dam.update_fields(asset_id, fields).await.map(|()| None)
        }
    };
    match result {
        Ok(data) => {
            app.stores.idempotency.complete(&key, data.as_deref(), app.now(), ttl).await?;
            Ok(data)
        }
        Err(e) => {
            // Give the key back so the retry can claim it.
            let _ = app.stores.idempotency.release(&key).await;
            Err(e.into())
        }
    }
}

async fn ensure_resource(
    app: &App,
    request: &ResourceRequest,
    facts: &AssetFacts,
) -> Result<String, SystemError> {
    let ensured = app.pms.ensure_resource(request).await?;
    if let Some(url) = &ensured.upload_url {
        let bytes = app.dam.content(&facts.asset_id).await?;
        app.pms.upload(&ensured.id, url, &facts.mime_type, bytes).await?;
    }
    Ok(ensured.id)
}

/// Keeps the title record (identifiers on both sides) current; audits changes.
async fn record_title(app: &App, title: &TitleFacts, correlation_id: &str) -> Result<(), Failure> {
    let stored = app.stores.mapping.get_title(&title.isbn).await?;
    let product = title.products.iter().find(|p| p.product_id == title.product_id);
    let fresh = TitleRecord {
        isbn: title.isbn.clone(),
        work_id: title.work_id,
        product_id: title.product_id,
        title: title.title.clone(),
        imprint: title.imprint.clone(),
        product_form: product.and_then(|p| p.form.as_ref()).map(|f| f.to_string()),
        publication_date: product.and_then(|p| p.publication_date),
        sales_rights: product.map(|p| p.sales_rights.clone()),
        updated_at: app.now(),
        revision: 0,
    };
    let same =
        |s: &TitleRecord| TitleRecord { updated_at: fresh.updated_at, revision: 0, ..s.clone() } == fresh;
    if stored.as_ref().is_some_and(same) {
        return Ok(());
    }
    let action = if stored.is_some() { AuditAction::TitleUpdated } else { AuditAction::TitleMapped };
    // Flow 4: the product's sales rights changed: every link of the work is evaluated again
    // (enqueued before the title is written, so a failure in between repeats it, never loses it).
    let mut rights_record = None;
    if let Some(before) = stored.as_ref().filter(|s| s.sales_rights != fresh.sales_rights) {
        let links = crate::rights::links_of_work(app, title).await?;
        let n = crate::rights::enqueue_reevaluations(app, &links, "sales", correlation_id).await?;
        let show =
            |r: &Option<connector_core::ProductSalesRights>| serde_json::to_string(r).unwrap_or_default();
        let detail = format!(
            "sales rights of product {} (ISBN {}) changed in Consonance: {} -> {}; {n} links of work {} re-evaluated",
            title.product_id,
            title.isbn,
            show(&before.sales_rights),
            show(&fresh.sales_rights),
            title.work_id
        );
        rights_record = Some(AuditRecord {
            correlation_id: correlation_id.to_string(),
            data: serde_json::json!({
                "product_id": title.product_id, "work_id": title.work_id,
                "before": before.sales_rights, "after": fresh.sales_rights,
                "links": links.iter().map(|l| serde_json::json!({"role": l.key.role, "slot": l.key.slot, "isbn": l.key.isbn, "status": l.status})).collect::<Vec<_>>(),
            }),
            ..record(
                app,
                Flow::RightsSync,
                AuditAction::RightsSalesChanged,
                Outcome::Applied,
                &detail,
                Some(title.isbn.clone()),
                None,
            )
        });
    }
    let detail = format!(
        "ISBN {} is product {} of work {} in Consonance ({})",
        title.isbn, title.product_id, title.work_id, title.title
    );
    let rec = AuditRecord {
        correlation_id: correlation_id.to_string(),
        data: serde_json::json!({"work_id": title.work_id, "product_id": title.product_id, "imprint": title.imprint}),
        ..record(
            app,
            Flow::IdentifierAlignment,
            action,
            Outcome::Applied,
            &detail,
            Some(title.isbn.clone()),
            None,
        )
    };
    let records: Vec<AuditRecord> = std::iter::once(rec).chain(rights_record).collect();
    match app.stores.mapping.put_title(&fresh, stored.map(|s| s.revision), &records).await {
        // Another worker recorded it first: theirs is as fresh as ours.
        Err(StoreError::Conflict { .. }) => Ok(()),
        other => other.map(|_| ()).map_err(Failure::from),
    }
}

/// The asset is gone from OTMM: withdraw whatever it was linked as.
async fn withdraw_links_of_deleted_asset(
    app: &App,
    message: &FlowMessage,
    event: &OtmmEvent,
) -> Result<(), Failure> {
    let links = app.stores.mapping.links_for_asset(&event.asset_id).await?;
    for link in links.into_iter().filter(|l| l.status == LinkStatus::Linked) {
        if let Some(id) = &link.consonance_resource_id {
            let key = format!("delete-resource:{id}");
            if !matches!(
                app.stores.idempotency.claim(&key, None, app.now(), app.settings.idempotency_ttl).await?,
                Claim::Completed { .. }
            ) {
                app.pms.delete_resource(id).await?;
                app.stores.idempotency.complete(&key, None, app.now(), app.settings.idempotency_ttl).await?;
            }
        }
        let detail =
            format!("asset {} was deleted in OTMM; its {} link was withdrawn", event.asset_id, link.key.role);
        let rec = AuditRecord {
            correlation_id: message.correlation_id.clone(),
            actor: Some(event.actor.clone()),
            ..record(
                app,
                Flow::LinkApprovedAsset,
                AuditAction::LinkWithdrawn,
                Outcome::Applied,
                &detail,
                Some(link.key.isbn.clone()),
                Some((&event.asset_id, link.approval.version)),
            )
        };
        let revision = link.revision;
        let (isbn, role) = (link.key.isbn.clone(), link.key.role);
        let withdrawn = AssetLink { status: LinkStatus::Withdrawn, updated_at: app.now(), ..link };
        app.stores.mapping.put_link(&withdrawn, Some(revision), &[rec]).await?;
        // Flows 3 and 8: the role is missing again for the work's products.
        if let Some(title) = app.pms.title_by_isbn(&isbn).await? {
            crate::readiness::refresh_after_link(app, &title, role, &message.correlation_id).await?;
        }
        // A package that held the file is blocked until a replacement is linked.
        if app.settings.packages_on_link && crate::packages::takes_role(app, role) {
            let built = crate::packages::build_for_isbn(app, &isbn, &message.correlation_id).await;
            package_result(app, message, &isbn, built).await?;
        }
    }
    Ok(())
}

async fn process_consonance(
    app: &App,
    message: &FlowMessage,
    event: &ConsonanceEvent,
) -> Result<(), Failure> {
    let titles: Vec<TitleFacts> = if let Some(isbn) = &event.isbn {
        app.pms.title_by_isbn(isbn).await?.into_iter().collect()
    } else if let Some(work_id) = event.work_id {
        app.pms.titles_of_work(work_id).await?
    } else {
        // A product id alone: the mapping knows which title it is, if any.
        Vec::new()
    };
    if titles.is_empty() {
        let detail = format!(
            "change notification names no title known to Consonance (work {:?}, product {:?}, isbn {:?})",
            event.work_id.map(|w| w.0),
            event.product_id.map(|p| p.0),
            event.isbn.as_ref().map(|i| i.to_string())
        );
        let rec = AuditRecord {
            correlation_id: message.correlation_id.clone(),
            ..record(
                app,
                Flow::IdentifierAlignment,
                AuditAction::TitleChangeIgnored,
                Outcome::Skipped,
                &detail,
                event.isbn.clone(),
                None,
            )
        };
        app.stores.audit.append(&[rec]).await?;
        return Ok(());
    }
    for title in &titles {
        record_title(app, title, &message.correlation_id).await?;
    }
    // Flows 3 and 8: a stage or schedule change raises or re-dates requests, moves readiness.
    crate::readiness::refresh_titles(app, &titles, &message.correlation_id).await?;
    // Sales rights or dates may have changed: the work's packages are evaluated again.
    if app.settings.packages_on_link && app.config.packages.is_some() {
        let title = &titles[0];
        let built = crate::packages::build_for_work(app, title, &message.correlation_id).await;
        package_result(app, message, &title.isbn, built).await?;
    }
    Ok(())
}
