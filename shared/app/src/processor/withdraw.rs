//! An asset deleted in OTMM: whatever it was linked as is withdrawn.

use super::failure::{Failure, event_record};
use super::follow_up;
use crate::App;
use crate::once::{Once, once};
use connector_core::event::{FlowMessage, OtmmEvent};
use connector_core::{AssetLink, AuditAction, LinkStatus, Outcome};
use connector_store::keys;

/// The asset is gone from OTMM: withdraw whatever it was linked as.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn links_of_deleted_asset(
    app: &App,
    message: &FlowMessage,
    event: &OtmmEvent,
) -> Result<(), Failure> {
    let links = app.stores.mapping.links_for_asset(&event.asset_id).await?;
    for link in links.into_iter().filter(|l| l.status == LinkStatus::Linked) {
        if let Some(id) = &link.consonance_resource_id {
            let ttl = app.settings.idempotency_ttl;
            let delete = || async { app.pms.delete_resource(id).await.map_err(Failure::from) };
            if let Once::Held { until } = once(app, &keys::delete_resource(id), ttl, |_| None, delete).await?
            {
                return Err(Failure::Transient {
                    reason: format!("another worker is deleting resource {id}"),
                    retry_after: Some(crate::sizing::wait_for_lapse(
                        until,
                        app.now(),
                        app.settings.contention_delay,
                    )),
                });
            }
        }
        let detail =
            format!("asset {} was deleted in OTMM; its {} link was withdrawn", event.asset_id, link.key.role);
        let what = (AuditAction::LinkWithdrawn, Outcome::Applied);
        let isbn = Some(link.key.isbn.clone());
        let rec = event_record(app, message, event, what, &detail, isbn, link.approval.version);
        let revision = link.revision;
        let (isbn, role) = (link.key.isbn.clone(), link.key.role);
        let withdrawn = AssetLink { status: LinkStatus::Withdrawn, updated_at: app.now(), ..link };
        // A package that held the file is blocked until a replacement is linked (its own
        // message, enqueued before the withdrawal is written).
        follow_up::packages_after(app, message, &isbn, role, None).await?;
        app.stores.mapping.put_link(&withdrawn, Some(revision), &[rec]).await?;
        // Flows 3 and 8: the role is missing again for the work's products.
        if let Some(read) = app.pms.title_and_schedule_by_isbn(&isbn).await? {
            let observe = crate::readiness::Observe::Live;
            crate::readiness::refresh_after_link(
                app,
                &read.title,
                &read.schedule,
                role,
                &observe,
                &message.correlation_id,
            )
            .await?;
        }
    }
    Ok(())
}
