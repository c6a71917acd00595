//! A plan's commands, each run once under its idempotency key.

use super::failure::Failure;
use crate::App;
use crate::once::{Once, once};
use crate::systems::{ListedResource, ResourceRequest, SystemError};
use connector_core::plan::{AssetFacts, Command, TitleFacts};
use tracing::info;

/// Runs one command under its idempotency key. Returns the created resource id, if any.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn run_command(
    app: &App,
    command: &Command,
    facts: &AssetFacts,
    title: Option<&TitleFacts>,
    listed: Option<Vec<ListedResource>>,
) -> Result<Option<String>, Failure> {
    let key = command.idempotency_key();
    let run = || async {
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
                    listed: listed.clone(),
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
            Command::DeleteResource { resource_id } => {
                app.pms.delete_resource(resource_id).await.map(|()| None)
            }
            Command::RemoveResourcesMarked { work_id, marker_prefix } => {
                app.pms.delete_resources_marked(*work_id, marker_prefix).await.map(|_| None)
            }
            Command::UpdateOtmmFields { asset_id, fields } => {
                app.dam.update_fields(asset_id, fields).await.map(|()| None)
            }
        };
        result.map_err(Failure::from)
    };
    match once(app, &key, app.settings.idempotency_ttl, Clone::clone, run).await? {
        Once::Ran(data) => Ok(data),
        // A resource an earlier attempt made, whose link that attempt did not write: an older
        // version's create may have run since (it looked newer than the link then held) and
        // taken its products, or swept it as that version's leftover. Ensured again by its
        // marker (a listing; made anew if gone or emptied): retries only (found by the chaos
        // run: a link to a resource deleted before the link was written).
        Once::Done(_) if matches!(command, Command::CreateResource { .. }) => {
            info!(%key, "resource made by an earlier attempt; checking it is still there");
            run().await
        }
        Once::Done(data) => {
            info!(%key, "side effect already applied");
            Ok(data)
        }
        // If the holder died, its claim lapses at `until`: come back then, not sooner, or a
        // dead worker's claim uses up this message's receives (crate::sizing, rule 3).
        Once::Held { until } => Err(Failure::Transient {
            reason: format!("another worker is applying {key}"),
            retry_after: Some(crate::sizing::wait_for_lapse(until, app.now(), app.settings.contention_delay)),
        }),
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
