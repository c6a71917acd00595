//! The OTMM pass: assets changed since the cursor, each compared with the mapping.

use super::{AssetCursor, Mode, Progress, ReconcileError, Run, asset_start};
use chrono::Duration as Span;
use connector_core::event::OtmmEventType;
use connector_core::plan::{AssetFacts, asset_isbn};
use connector_core::{Approval, LinkKey, LinkStatus, Supersession, supersedes};
use connector_store::{Document, StoreError, keys};
use futures::StreamExt as _;

/// What the pass knows of an asset's versions.
enum Listing {
    /// Its latest version is approved (or it is not one the connector links): no list needed.
    NotNeeded,
    /// Listed at its current `date_last_updated` by an earlier run (incremental only).
    Unchanged,
    Needed,
    Listed(Vec<AssetFacts>),
}

impl Run<'_> {
    /// Returns true when the pass reached the end of the feed.
    pub(super) async fn otmm_pass(&mut self, name: &str) -> Result<bool, ReconcileError> {
        let (cursor, mut revision) = self.load::<AssetCursor>(name).await?;
        let start = asset_start(self.options);
        let mut cursor = match cursor {
            Some(resumed) => self.resume_assets(resumed),
            None => start.clone(),
        };
        if cursor.done {
            return Ok(true);
        }
        cursor.pass_started.get_or_insert_with(|| self.app.now());
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let page = self.app.dam.changed_since(cursor.since, cursor.skip, self.options.page_size).await?;
            self.summary.pages += 1;
            let listings = self.list_versions(&page).await?;
            for (facts, listing) in page.iter().zip(listings) {
                self.summary.assets_seen += 1;
                self.assess_asset(facts, listing).await?;
            }
            if let Some(last) = page.last() {
                tracing::debug!(mode = ?self.options.mode, at = %last.last_updated, seen = self.summary.assets_seen, "assets page read");
                (self.progress)(&Progress::Assets {
                    from: start.since,
                    at: last.last_updated,
                    seen: self.summary.assets_seen,
                });
            }
            let full_page = page.len() as u64 >= self.options.page_size;
            cursor = match page.last() {
                Some(last) if last.last_updated == cursor.since => {
                    AssetCursor { skip: cursor.skip + page.len() as u64, ..cursor }
                }
                Some(last) => AssetCursor {
                    since: last.last_updated,
                    skip: page.iter().filter(|f| f.last_updated == last.last_updated).count() as u64,
                    ..cursor
                },
                None => cursor,
            };
            if !full_page {
                // End of the feed. A change becomes visible within `overlap` of its date (late
                // commits, clock skew): everything dated before this pass began less `overlap`
                // was visible to it, and so read. The next pass starts there, or `overlap`
                // before the newest change seen if that is later: with nothing changed for a
                // while, it reads one empty page instead of the last five minutes' assets again.
                let overlap = Span::from_std(self.options.overlap).unwrap_or_default();
                let next = match self.options.mode {
                    Mode::Incremental | Mode::Rights => AssetCursor {
                        since: cursor.since.max(cursor.pass_started.unwrap_or(cursor.since)) - overlap,
                        skip: 0,
                        done: false,
                        pass_started: None,
                    },
                    Mode::Full | Mode::Backfill => AssetCursor { done: true, ..cursor },
                };
                self.save(name, &next, revision).await?;
                return Ok(true);
            }
            revision = self.save(name, &cursor, revision).await?;
        }
    }

    /// Where an OTMM pass stopped by an earlier invocation goes on. A full scan or backfill
    /// re-reads the assets sharing its cursor's date from the first: between invocations the
    /// processor edits assets it already read (identifier alignment, rights flags), which
    /// moves them out of that group, so counting `skip` places past them would pass over as
    /// many unread ones, and those modes have no overlap to catch them later. Bounded (a group
    /// larger than a few pages keeps its place: re-reading it every time could never finish).
    /// Found by the backfill test that processes between invocations.
    fn resume_assets(&self, cursor: AssetCursor) -> AssetCursor {
        const REREAD_PAGES: u64 = 4;
        let rereads = matches!(self.options.mode, Mode::Full | Mode::Backfill);
        if rereads && !cursor.done && cursor.skip <= REREAD_PAGES * self.options.page_size {
            AssetCursor { skip: 0, ..cursor }
        } else {
            cursor
        }
    }

    /// The version list of each asset of the page that needs one (its latest version is not
    /// approved, so only the list says which version to link), `concurrency` at a time (the
    /// client's rate limit still paces them). An incremental pass lists an asset's versions
    /// once per change of it (its `date_last_updated`), not on every run that reads it again;
    /// the full scan and the backfill list them every time.
    async fn list_versions(&self, page: &[AssetFacts]) -> Result<Vec<Listing>, ReconcileError> {
        let mut listings = Vec::with_capacity(page.len());
        for facts in page {
            listings.push(if !self.needs_versions(facts) {
                Listing::NotNeeded
            } else if self.options.mode == Mode::Incremental && self.versions_seen(facts).await? {
                Listing::Unchanged
            } else {
                Listing::Needed
            });
        }
        let dam = &self.app.dam;
        // Collected first: a stream over a closure's futures is not `Send` for every lifetime
        // the async trait methods above need (rustc's higher-ranked lifetime limitation).
        let calls: Vec<_> = page
            .iter()
            .zip(&listings)
            .filter(|(_, l)| matches!(l, Listing::Needed))
            .map(|(f, _)| dam.versions(f))
            .collect();
        let mut fetched = futures::stream::iter(calls)
            .buffered(self.options.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter();
        for listing in listings.iter_mut().filter(|l| matches!(l, Listing::Needed)) {
            if let Some(versions) = fetched.next() {
                *listing = Listing::Listed(versions?);
            }
        }
        Ok(listings)
    }

    fn needs_versions(&self, latest: &AssetFacts) -> bool {
        !latest.deleted
            && !latest.approved
            && latest.version > 1
            && latest.asset_type_field.as_deref().and_then(|v| self.app.config.role_for(v)).is_some()
            && asset_isbn(latest).is_ok()
    }

    /// Compares one asset (its latest version) with the mapping; enqueues what a webhook would.
    async fn assess_asset(&mut self, latest: &AssetFacts, listing: Listing) -> Result<(), ReconcileError> {
        let app = self.app;
        if latest.deleted {
            let linked = app.stores.mapping.links_for_asset(&latest.lineage_id).await?;
            if linked.iter().any(|l| l.status == LinkStatus::Linked) {
                self.drift("deleted_asset");
                let e = self.otmm_event(latest, OtmmEventType::AssetDeleted);
                self.enqueue(e).await?;
            }
            return Ok(());
        }
        let Some(role) = latest.asset_type_field.as_deref().and_then(|v| app.config.role_for(v)) else {
            return Ok(());
        };
        let isbn = match asset_isbn(latest) {
            Ok(isbn) => isbn,
            // No or invalid ISBN: the processor reports it once per change; nothing to repair.
            Err(_) => return Ok(()),
        };
        // The version to link is the latest approved one, which need not be the latest.
        let candidate = match &listing {
            _ if latest.approved => Some(latest.clone()),
            Listing::Listed(versions) => {
                versions.iter().filter(|v| v.approved).max_by_key(|v| v.version).cloned()
            }
            // Listed at this change of the asset already, and acted on.
            Listing::Unchanged => return Ok(()),
            Listing::NotNeeded | Listing::Needed => None,
        };
        self.assess_candidate(candidate, isbn, role).await?;
        if matches!(listing, Listing::Listed(_)) {
            self.remember_versions_seen(latest).await?;
        }
        Ok(())
    }

    /// Whether this asset's versions were listed (and the result acted on) at its current
    /// `date_last_updated`.
    async fn versions_seen(&self, latest: &AssetFacts) -> Result<bool, ReconcileError> {
        let doc =
            self.app.stores.documents.get_doc(keys::VERSIONS_SEEN_KIND, latest.lineage_id.as_str()).await?;
        Ok(doc.is_some_and(|d| {
            d.body.get("last_updated").and_then(|v| v.as_str()) == Some(&latest.last_updated.to_rfc3339())
        }))
    }

    async fn remember_versions_seen(&self, latest: &AssetFacts) -> Result<(), ReconcileError> {
        let documents = &self.app.stores.documents;
        let id = latest.lineage_id.as_str();
        let revision = documents.get_doc(keys::VERSIONS_SEEN_KIND, id).await?.map(|d| d.revision);
        let doc = Document {
            kind: keys::VERSIONS_SEEN_KIND.into(),
            id: id.to_string(),
            body: serde_json::json!({ "last_updated": latest.last_updated.to_rfc3339() }),
            updated_at: self.app.now(),
            revision: 0,
        };
        match documents.put_doc(&doc, revision, &[]).await {
            // Another run wrote it meanwhile: it saw the same or a later change.
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Compares the version to link with the mapping; enqueues what a webhook would.
    async fn assess_candidate(
        &mut self,
        candidate: Option<AssetFacts>,
        isbn: connector_core::Isbn13,
        role: connector_core::AssetRole,
    ) -> Result<(), ReconcileError> {
        let app = self.app;
        let Some(candidate) = candidate else { return Ok(()) };
        let key = LinkKey::for_asset(isbn, role, &candidate.lineage_id);
        let current = app.stores.mapping.get_link(&key).await?;
        let approval = Approval {
            asset_id: candidate.lineage_id.clone(),
            version: candidate.version,
            approved_at: candidate.approved_at.unwrap_or(candidate.last_updated),
        };
        let kind = match (&current, supersedes(current.as_ref().map(|c| &c.approval), &approval)) {
            (None, _) => Some("not_linked"),
            (Some(_), Supersession::Replaces) => Some("newer_version"),
            (Some(c), Supersession::Repeat)
                if matches!(c.status, LinkStatus::Pending | LinkStatus::Failed) =>
            {
                Some("link_unfinished")
            }
            // Flow 4: the usage rights in OTMM differ from the link's snapshot (linked or
            // withdrawn alike): evaluate again. A withdrawn link with the same rights stays.
            (Some(c), Supersession::Repeat) if c.rights.as_ref() != Some(&candidate.rights) => {
                Some("rights_changed")
            }
            (Some(c), Supersession::Repeat) if c.status == LinkStatus::Withdrawn => None,
            // Linked and current; the ISBN written in a non-canonical form is still drift.
            _ if candidate.isbn_field.as_deref().map(str::trim) != Some(key.isbn.as_str()) => {
                Some("identifier_form")
            }
            _ => None,
        };
        if let Some(kind) = kind {
            self.drift(kind);
            let e = self.otmm_event(&candidate, OtmmEventType::AssetApproved);
            self.enqueue(e).await?;
        }
        Ok(())
    }
}
