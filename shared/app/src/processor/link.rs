//! Flow 1, one OTMM asset event, in one pass: gather the facts (the asset, the slot's link, the
//! title and its work's schedule: one read each), decide in one pure step
//! (`connector_core::plan`), apply once (commands, rights, title records, the package
//! follow-up, the link with its audit), then requests and readiness over the same facts.

use super::commands::run_command;
use super::failure::{Failure, event_record, record, records_for};
use super::{follow_up, titles, withdraw};
use crate::App;
use crate::once::with_lease;
use crate::readiness::Observe;
use crate::systems::{ListedResource, SystemError, TitleRead};
use connector_core::event::{FlowMessage, LinkRead, OtmmEvent, OtmmEventType};
use connector_core::plan::{
    AssetFacts, Command, Plan, TitleFacts, TitleLookup, Verdict, asset_isbn, link_create_key, plan_asset,
    repeated_approval, work_titles,
};
use connector_core::readiness::{ObservedAsset, ScheduleFacts};
use connector_core::{AssetLink, AuditAction, AuditRecord, Flow, LinkKey, Outcome};
use connector_store::{ConflictReason, StoreError, keys};

#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn process_otmm(app: &App, message: &FlowMessage, event: &OtmmEvent) -> Result<(), Failure> {
    let facts = match app.dam.asset(&event.asset_id).await {
        Ok(facts) => facts,
        Err(SystemError::NotFound { .. }) if event.event_type == OtmmEventType::AssetDeleted => {
            return withdraw::links_of_deleted_asset(app, message, event).await;
        }
        Err(SystemError::NotFound { what, .. }) => {
            let cause = format!("OTMM has no asset {what}");
            let what = (AuditAction::AssetNotFound, Outcome::DeadLettered);
            let rec = event_record(app, message, event, what, &cause, None, event.version);
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
    let Some(key) = &slot else { return plan_and_apply(app, message, event, &facts, None).await };
    let busy = |until| Failure::Transient {
        reason: format!("another worker is updating {} {} of {}", key.role, key.slot, key.isbn),
        // Back when the holder's lease lapses (it may have died): one receive, not five.
        retry_after: Some(crate::sizing::wait_for_lapse(until, app.now(), app.settings.contention_delay)),
    };
    with_lease(app, &keys::slot_lease(key), busy, plan_and_apply(app, message, event, &facts, Some(key)))
        .await
}

/// The title side of the facts: Consonance's title with its work's schedule, and the title
/// records that read changes.
struct TitleSide {
    title: TitleFacts,
    schedule: ScheduleFacts,
    /// The work's resources as the title read listed them, for the first create's check.
    resources: Option<Vec<ListedResource>>,
    changes: Vec<titles::TitleChange>,
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
    let side = match isbn {
        Some(isbn) => match app.pms.title_and_schedule_by_isbn(isbn).await? {
            Some(TitleRead { title, schedule, resources }) => {
                // Each product of the work the link may cover keeps its record (flows 4 and 6).
                let changes = titles::changes(app, &work_titles(&title)).await?;
                Some(TitleSide { title, schedule, resources, changes })
            }
            None => None,
        },
        None => None,
    };
    let lookup = side.as_ref().map_or(TitleLookup::NotFound, |s| TitleLookup::Found(&s.title));
    let plan = plan_asset(facts, lookup, current.as_ref(), &app.config, app.now());
    apply(app, message, event, facts, side, current.as_ref(), plan).await
}

/// Carries out a plan: its commands, then rights, the title records, the package follow-up, and
/// the link written with its audit; then requests and readiness. Each step once.
async fn apply(
    app: &App,
    message: &FlowMessage,
    event: &OtmmEvent,
    facts: &AssetFacts,
    side: Option<TitleSide>,
    current: Option<&AssetLink>,
    plan: Plan,
) -> Result<(), Failure> {
    let (title, schedule, mut listed, changes) = match side {
        Some(s) => (Some(s.title), Some(s.schedule), s.resources, s.changes),
        None => (None, None, None, Vec::new()),
    };
    let title = title.as_ref();
    let mut created: Option<String> = None;
    for command in &plan.commands {
        // The title read's listing holds for the first create only.
        let listed = if matches!(command, Command::CreateResource { .. }) { listed.take() } else { None };
        if let Some(id) = run_command(app, command, facts, title, listed).await? {
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
    let correlation_id = &message.correlation_id;
    // Flow 4: the link's next rights day, and the work's links when a sales right moved.
    let sales = title.filter(|_| titles::sales_changed(&changes));
    let reevaluated = crate::rights::after_plan(app, plan.link.as_ref(), sales, correlation_id).await?;
    titles::write(app, changes, &reevaluated, correlation_id).await?;
    // Flow 5: the work's packages, in a message of their own (enqueued before the link).
    if let Some(link) = &plan.link {
        let read = title.map(|t| LinkRead { read_at: app.now(), title: t.clone(), asset: facts.clone() });
        follow_up::packages_after(app, message, &link.key.isbn, link.key.role, read).await?;
    }
    let records = records_for(app, &plan.notes, plan.isbn.as_ref(), facts, &event.actor, correlation_id);
    // A permanent verdict without a link: its records (`title.not_found`) are written with the
    // dead letter's record, in the same transaction.
    let (linked, parked) = match &plan.link {
        None if matches!(plan.verdict, Verdict::Permanent { .. }) => (None, records),
        _ => (write_link(app, message, facts, current, &plan, created, records).await?, Vec::new()),
    };
    // Flows 3 and 8: an asset linked may close its request and change the work's readiness,
    // told with the asset as read here.
    if let (Some(role), Some(title), Some(schedule)) = (linked, title, &schedule) {
        let observe = match &plan.isbn {
            Some(isbn) if !facts.deleted => {
                Observe::AfterRead { isbn: isbn.clone(), asset: ObservedAsset::of(facts, role) }
            }
            _ => Observe::Live,
        };
        crate::readiness::refresh_after_link(app, title, schedule, role, &observe, correlation_id).await?;
    }
    match plan.verdict {
        Verdict::Done => Ok(()),
        Verdict::Permanent { cause } => Err(Failure::Permanent { cause, records: parked }),
    }
}

/// Writes the plan's link with its audit records (or the records alone). Returns the role
/// linked, if the link was written.
async fn write_link(
    app: &App,
    message: &FlowMessage,
    facts: &AssetFacts,
    current: Option<&AssetLink>,
    plan: &Plan,
    created: Option<String>,
    records: Vec<AuditRecord>,
) -> Result<Option<connector_core::AssetRole>, Failure> {
    let Some(link) = &plan.link else {
        if !records.is_empty() {
            app.stores.audit.append(&records).await?;
        }
        return Ok(None);
    };
    let mut link = link.clone();
    if created.is_some() {
        link.consonance_resource_id = created.clone();
    }
    match app.stores.mapping.put_link(&link, current.map(|c| c.revision), &records).await {
        Ok(_) => Ok(Some(link.key.role)),
        Err(StoreError::Conflict { reason: ConflictReason::StaleVersion { stored_version, .. }, .. }) => {
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
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
