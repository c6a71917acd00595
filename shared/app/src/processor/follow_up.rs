//! Follow-ups: work after a link that need not share its transaction, each in a queue message of
//! its own (`connector_core::event::FollowUpEvent`). A package build that fails is retried or
//! dead-lettered as its own message; the link it follows stays made.

use super::failure::{Failure, record};
use super::titles;
use crate::App;
use connector_core::event::{FlowMessage, FollowUpEvent, FollowUpWork, InboundEvent, LinkRead};
use connector_core::plan::work_titles;
use connector_core::{AssetRole, AuditAction, AuditRecord, Flow, Isbn13, Outcome};
use tracing::{debug, info};

/// Enqueues the package build of `isbn`'s work after `message` changes a link of `role`, when a
/// package takes the role, carrying what the link read (`read`; none after a withdrawal).
/// Called before the link is written: a crash in between leaves the follow-up (which builds
/// from whatever links are stored, so it is harmless), never a link whose packages nobody
/// builds.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn packages_after(
    app: &App,
    message: &FlowMessage,
    isbn: &Isbn13,
    role: AssetRole,
    read: Option<LinkRead>,
) -> Result<(), Failure> {
    if !app.settings.packages_on_link || !crate::packages::takes_role(app, role) {
        return Ok(());
    }
    let event = FollowUpEvent::packages(isbn.clone(), &message.event_id, app.now(), read);
    let follow_up =
        FlowMessage::new(InboundEvent::Connector(event), app.now(), message.correlation_id.clone());
    app.stores.queue.send(&follow_up.to_json()).await?;
    info!(%isbn, follow_up = %follow_up.event_id, "package build enqueued");
    Ok(())
}

/// Runs a follow-up.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn process(app: &App, message: &FlowMessage, event: &FollowUpEvent) -> Result<(), Failure> {
    match &event.work {
        FollowUpWork::Packages { isbn, read } => {
            let built = match usable(app, read.as_deref()).await? {
                Some(read) => {
                    crate::packages::build_for_work(
                        app,
                        &read.title,
                        Some(&read.asset),
                        &message.correlation_id,
                    )
                    .await
                }
                None => crate::packages::build_for_isbn(app, isbn, &message.correlation_id).await,
            };
            package_result(app, message, isbn, built)
        }
    }
}

/// The link's read, where it may stand in for reading the title and the linked version again:
/// younger than `Settings::observations_max_age`, and agreeing with what the connector has
/// stored of the work's titles since (a Consonance change processed after the link read
/// rewrote those records: then the builder reads afresh, so older facts never overwrite the
/// package decision a newer read made).
async fn usable<'a>(app: &App, read: Option<&'a LinkRead>) -> Result<Option<&'a LinkRead>, Failure> {
    let Some(read) = read else { return Ok(None) };
    let max_age = chrono::Duration::from_std(app.settings.observations_max_age).unwrap_or_default();
    if app.now() - read.read_at >= max_age {
        debug!(read_at = %read.read_at, "the link's read is too old for the package build: reading again");
        return Ok(None);
    }
    if !titles::changes(app, &work_titles(&read.title)).await?.is_empty() {
        debug!("the work's titles changed since the link read them: reading again");
        return Ok(None);
    }
    Ok(Some(read))
}

/// A package build's error as a flow failure; a permanent one carries its audit record.
pub(super) fn package_result<T>(
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
