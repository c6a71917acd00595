//! Release: a staged package marked released to a recipient, with a web link to its manifest
//! on the Consonance product.

use super::{
    DOC_KIND, PackageDoc, PackageError, PackageStatus, Release, audit, doc_id, put_doc, read_doc,
    with_work_lease,
};
use crate::App;
use crate::once::{Once, once};
use connector_core::{AuditAction, Channel, Isbn13, Outcome};
use connector_store::keys;
use serde::Serialize;

/// What a release did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReleaseOutcome {
    Released {
        isbn: Isbn13,
        channel: Channel,
        package_version: u32,
        web_link_id: String,
        link: String,
    },
    AlreadyReleased {
        isbn: Isbn13,
        channel: Channel,
        package_version: u32,
    },
    /// Nothing staged to release (no package, or it is blocked).
    NotReleasable {
        isbn: Isbn13,
        channel: Channel,
        reason: String,
    },
}

/// Marks the staged package released to `recipient` (`None`: to none in particular, refused
/// when the package is blocked for any recipient; see `delivery::release_refusal`): a web
/// link to its manifest on the Consonance product (`createWebLink`, looked up first so a retry
/// adds none), the document's status, and an audit record.
pub async fn release(
    app: &App,
    isbn: &Isbn13,
    channel: Channel,
    recipient: Option<&str>,
    correlation_id: &str,
) -> Result<ReleaseOutcome, PackageError> {
    let Some(packages) = app.config.packages.clone() else {
        return Ok(ReleaseOutcome::NotReleasable {
            isbn: isbn.clone(),
            channel,
            reason: "no [packages] in the mapping config".into(),
        });
    };
    let id = doc_id(isbn, channel);
    let work = match app.stores.documents.get_doc(DOC_KIND, &id).await? {
        Some(d) => read_doc(&d)?.work_id,
        None => {
            return Ok(ReleaseOutcome::NotReleasable {
                isbn: isbn.clone(),
                channel,
                reason: "no package has been built".into(),
            });
        }
    };
    with_work_lease(app, connector_core::WorkId(work), async {
        let Some(existing) = app.stores.documents.get_doc(DOC_KIND, &id).await? else {
            return Ok(ReleaseOutcome::NotReleasable {
                isbn: isbn.clone(),
                channel,
                reason: "no package has been built".into(),
            });
        };
        let doc = read_doc(&existing)?;
        // Checked before "already released": a release never reaches a recipient it failed.
        if let Some(reason) = connector_core::delivery::release_refusal(&doc.delivery_checks, recipient) {
            return Ok(ReleaseOutcome::NotReleasable { isbn: isbn.clone(), channel, reason });
        }
        if doc.status == PackageStatus::Released {
            return Ok(ReleaseOutcome::AlreadyReleased {
                isbn: isbn.clone(),
                channel,
                package_version: doc.package_version,
            });
        }
        let Some(manifest_key) = doc.manifest_key.clone().filter(|_| doc.status == PackageStatus::Staged) else {
            return Ok(ReleaseOutcome::NotReleasable {
                isbn: isbn.clone(),
                channel,
                reason: format!("the package is {}: {}", doc.status, doc.reasons.join("; ")),
            });
        };
        let link = packages.link_for(&manifest_key);
        let note = format!("Production package ({channel}) v{}: manifest", doc.package_version);
        let key = keys::package_release(&id, doc.package_version);
        let ensure = || async {
            let made = app.pms.ensure_web_link(isbn, &link, &packages.release_link_role, &note).await;
            made.map_err(PackageError::from)
        };
        let web_link_id = match once(app, &key, app.settings.idempotency_ttl, |id: &String| Some(id.clone()), ensure)
            .await?
        {
            Once::Ran(id) | Once::Done(Some(id)) => id,
            // Completed without its id (by an older build): the ensure finds the link it made.
            Once::Done(None) => ensure().await?,
            Once::Held { .. } => return Err(PackageError::Busy(format!("{key} is being applied"))),
        };
        let now = app.now();
        let released = PackageDoc {
            status: PackageStatus::Released,
            updated_at: now,
            release: Some(Release {
                package_version: doc.package_version,
                web_link_id: web_link_id.clone(),
                link: link.clone(),
                released_at: now,
            }),
            ..doc.clone()
        };
        let rec = audit(
            app,
            AuditAction::PackageReleased,
            Outcome::Applied,
            isbn,
            None,
            format!(
                "{channel} package v{} of {isbn} released: Consonance web link {web_link_id} -> {link}",
                doc.package_version
            ),
            serde_json::json!({"channel": channel, "package_version": doc.package_version, "web_link_id": web_link_id, "link": link, "manifest_key": manifest_key}),
            correlation_id,
        );
        put_doc(app, &released, Some(&existing), &[rec]).await?;
        Ok(ReleaseOutcome::Released {
            isbn: isbn.clone(),
            channel,
            package_version: doc.package_version,
            web_link_id,
            link,
        })
    })
    .await
}
