//! The full scan's links pass: every live link's supporting resource must still exist.

use super::{LinkCursor, Progress, ReconcileError, Run};
use crate::systems::SystemError;
use connector_core::event::OtmmEventType;
use connector_core::plan::AssetFacts;
use connector_core::{AssetLink, AuditAction, AuditRecord, Flow, LinkStatus, Outcome, WorkId};
use connector_store::{PageRequest, StoreError, keys, new_audit_id};
use futures::StreamExt as _;
use std::collections::{BTreeMap, BTreeSet};

impl Run<'_> {
    /// Full scan only: every live link's resource must still exist in Consonance.
    pub(super) async fn links_pass(&mut self, name: &str) -> Result<bool, ReconcileError> {
        let (cursor, mut revision) = self.load::<LinkCursor>(name).await?;
        let mut cursor = cursor.unwrap_or(LinkCursor { after: None });
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let page = self
                .app
                .stores
                .mapping
                .list_titles(PageRequest { limit: 100, cursor: cursor.after.clone() })
                .await?;
            self.summary.pages += 1;
            // Links grouped by work: one Consonance call per work.
            let mut by_work: BTreeMap<i64, Vec<AssetLink>> = BTreeMap::new();
            for title in &page.items {
                for link in self.app.stores.mapping.links_for_title(&title.isbn).await? {
                    // Backfill of the rights watch index (flow 4) for links written before it.
                    crate::rights::watch(self.app, &link).await?;
                    if link.status == LinkStatus::Linked
                        && let Some(work) = link.work_id
                    {
                        by_work.entry(work.0).or_default().push(link);
                    }
                }
            }
            // The works' resource listings, `lookups_per_query` works to a query and
            // `concurrency` queries at a time (the client's rate limit still paces them), in
            // order.
            let pms = &self.app.pms;
            let works: Vec<WorkId> = by_work.keys().map(|w| WorkId(*w)).collect();
            // Collected first (see `list_versions`).
            let calls: Vec<_> = works
                .chunks(self.app.settings.lookups_per_query.max(1))
                .map(|chunk| pms.resource_ids_of_works(chunk))
                .collect();
            let mut listings = Vec::with_capacity(works.len());
            let answers: Vec<_> =
                futures::stream::iter(calls).buffered(self.options.concurrency.max(1)).collect().await;
            for answer in answers {
                listings.extend(answer?);
            }
            // One listing per work asked, or a link would go unchecked unseen.
            if listings.len() != works.len() {
                return Err(SystemError::Permanent {
                    system: "Consonance",
                    operation: "supporting resources of works",
                    message: format!("{} listings for {} works", listings.len(), works.len()),
                }
                .into());
            }
            for ((_, links), listing) in by_work.into_iter().zip(listings) {
                let present: BTreeSet<String> = listing.into_iter().collect();
                for link in links {
                    self.summary.links_checked += 1;
                    (self.progress)(&Progress::Links { checked: self.summary.links_checked });
                    if link.consonance_resource_id.as_ref().is_some_and(|id| !present.contains(id)) {
                        self.repair_missing_resource(link).await?;
                    }
                }
            }
            match page.next {
                Some(next) => {
                    cursor.after = Some(next);
                    revision = self.save(name, &cursor, revision).await?;
                }
                None => {
                    self.save(name, &LinkCursor { after: None }, revision).await?;
                    return Ok(true);
                }
            }
        }
    }

    /// A resource removed by hand in Consonance: mark the link unfinished, free the create
    /// key, and enqueue the approval again so the processor creates it anew.
    async fn repair_missing_resource(&mut self, link: AssetLink) -> Result<(), ReconcileError> {
        self.drift("resource_missing");
        let app = self.app;
        let at = app.now();
        let detail = format!(
            "resource {} of {} {} is gone from Consonance; linking again",
            link.consonance_resource_id.as_deref().unwrap_or("?"),
            link.key.role,
            link.approval.asset_id
        );
        let record = AuditRecord {
            id: new_audit_id(at),
            at,
            flow: Flow::Reconcile,
            action: AuditAction::LinkResourceMissing,
            outcome: Outcome::Retrying,
            isbn: Some(link.key.isbn.clone()),
            asset_id: Some(link.approval.asset_id.clone()),
            asset_version: Some(link.approval.version),
            actor: None,
            correlation_id: format!("reconcile-{}", self.run_id),
            detail,
            data: serde_json::json!({ "resource_id": link.consonance_resource_id }),
        };
        let revision = link.revision;
        let unfinished = AssetLink { status: LinkStatus::Failed, updated_at: at, ..link.clone() };
        match app.stores.mapping.put_link(&unfinished, Some(revision), &[record]).await {
            Ok(_) => {}
            // Changed meanwhile (a newer approval linked): nothing to repair here.
            Err(StoreError::Conflict { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        app.stores.idempotency.release(&keys::link_create(&link)).await?;
        let version_id = link.version_asset_id.clone().unwrap_or_else(|| link.approval.asset_id.clone());
        let facts = AssetFacts {
            asset_id: version_id,
            lineage_id: link.approval.asset_id.clone(),
            version: link.approval.version,
            deleted: false,
            name: String::new(),
            mime_type: String::new(),
            isbn_field: None,
            asset_type_field: None,
            imprint_field: None,
            approved: true,
            approved_by: None,
            approved_at: Some(link.approval.approved_at),
            rights: connector_core::AssetRights::unrestricted(),
            last_updated: at,
            missing_launch_fields: Vec::new(),
        };
        let e = self.otmm_event(&facts, OtmmEventType::AssetApproved);
        self.enqueue(e).await
    }
}
