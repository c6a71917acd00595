//! The web-link route (flow 1/2 for files that are not JPG images): audio samples, trailers and
//! PDFs reach Consonance as `createWebLink`s on each product, pointing at the OTMM delivery URL
//! of the version or at a copy staged for the purpose (`link_target` per role in the mapping
//! config). The planner chooses the route; this carries it out.

use crate::App;
use crate::systems::{SystemError, WebLinkRequest};
use connector_core::config::LinkTarget;
use connector_core::plan::{AssetFacts, TitleFacts};
use connector_core::{AssetRole, ProductId, WorkId};

/// Where a staged copy of a version's file lives: one object per version, so a retry finds it.
pub fn staged_key(isbn: &str, role: AssetRole, facts: &AssetFacts) -> String {
    let ext = facts
        .name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".into());
    format!("links/{isbn}/{role}/{}-v{}.{ext}", facts.lineage_id, facts.version)
}

/// The link for a version: its file's URL with the dedupe marker as the fragment, so the link
/// is recognised on a retry and never mistaken for the link of another version or product set.
pub fn link_with_marker(file_url: &str, marker: &str) -> String {
    let base = file_url.split('#').next().unwrap_or(file_url);
    format!("{base}#{marker}")
}

fn staging_error(e: connector_store::StoreError) -> SystemError {
    if e.is_transient() {
        SystemError::Transient {
            system: "staging",
            operation: "stage linked file",
            message: e.to_string(),
            retry_after: None,
        }
    } else {
        SystemError::Permanent { system: "staging", operation: "stage linked file", message: e.to_string() }
    }
}

/// Makes sure every product has the version's web link; returns the links' resource id.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ensure(
    app: &App,
    facts: &AssetFacts,
    title: Option<&TitleFacts>,
    work_id: WorkId,
    product_ids: &[ProductId],
    role: AssetRole,
    website_role: &str,
    target: LinkTarget,
    marker: &str,
) -> Result<String, SystemError> {
    let file_url = match target {
        LinkTarget::Otmm => app.dam.content_url(facts),
        LinkTarget::Staged => {
            let (Some(base), Some(title)) = (&app.config.consonance.staged_link_base_url, title) else {
                return Err(SystemError::Permanent {
                    system: "connector",
                    operation: "stage linked file",
                    message: format!(
                        "{role} links to a staged copy but consonance.staged_link_base_url is not set in {}",
                        app.config.source
                    ),
                });
            };
            let key = staged_key(title.isbn.as_str(), role, facts);
            // One object per version: a retry after a failure further on finds it staged.
            if app.stores.staging.head(&key).await.map_err(staging_error)?.is_none() {
                let stream = app.dam.content_stream(&facts.asset_id).await?;
                app.stores.staging.put_stream(&key, stream, &facts.mime_type).await.map_err(staging_error)?;
            }
            format!("{base}{key}")
        }
    };
    let request = WebLinkRequest {
        work_id,
        product_ids: product_ids.to_vec(),
        website_role: website_role.to_string(),
        link: link_with_marker(&file_url, marker),
        note: format!("{role} {} v{} from OTMM [{marker}]", facts.lineage_id, facts.version),
    };
    app.pms.ensure_web_links(&request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_marker_once() {
        assert_eq!(link_with_marker("https://x/a.mp3", "otmm:1:v2:p3"), "https://x/a.mp3#otmm:1:v2:p3");
        assert_eq!(link_with_marker("https://x/a.mp3#old", "m"), "https://x/a.mp3#m");
    }
}
