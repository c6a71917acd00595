//! Follow-ups: work after a link that need not share its transaction, each in a queue message of
//! its own (`connector_core::event::FollowUpEvent`). A package build that fails is retried or
//! dead-lettered as its own message; the link it follows stays made.

use super::failure::{Failure, record};
use crate::App;
use connector_core::event::{FlowMessage, FollowUpEvent, FollowUpWork, InboundEvent};
use connector_core::{AssetRole, AuditAction, AuditRecord, Flow, Isbn13, Outcome};
use tracing::info;

/// Enqueues the package build of `isbn`'s work after `message` changes a link of `role`, when a
/// package takes the role. Called before the link is written: a crash in between leaves the
/// follow-up (which builds from whatever links are stored, so it is harmless), never a link
/// whose packages nobody builds.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn packages_after(
    app: &App,
    message: &FlowMessage,
    isbn: &Isbn13,
    role: AssetRole,
) -> Result<(), Failure> {
    if !app.settings.packages_on_link || !crate::packages::takes_role(app, role) {
        return Ok(());
    }
    let event = FollowUpEvent::packages(isbn.clone(), &message.event_id, app.now());
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
        FollowUpWork::Packages { isbn } => {
            let built = crate::packages::build_for_isbn(app, isbn, &message.correlation_id).await;
            package_result(app, message, isbn, built)
        }
    }
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
