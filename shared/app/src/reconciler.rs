//! The scheduled reconciler: webhooks make the connector fast, this makes it correct.
//!
//! It pulls what changed since its checkpoints (OTMM assets by last-modified date, Consonance
//! works by `changedSince`), compares with the mapping table, and enqueues the same flow
//! messages a webhook would have caused: it never calls a side-effect API itself, so
//! idempotency lives in one place (the processor). A full scan also walks every live link and
//! checks its resource still exists in Consonance (a deletion by hand there sends no event).
//!
//! Checkpoints are written after every page, so an invocation stopped at its deadline (or one
//! that crashed) continues where it was and repeats at most one page.

use crate::App;
use crate::systems::SystemError;
use chrono::{DateTime, Duration as Span, NaiveDate, Utc};
use connector_core::event::{
    ConsonanceEvent, ConsonanceEventType, EventId, FlowMessage, InboundEvent, OtmmEvent, OtmmEventType,
};
use connector_core::plan::{AssetFacts, asset_isbn, link_create_key};
use connector_core::{
    Actor, Approval, AssetLink, AuditRecord, Checkpoint, Flow, LinkKey, LinkStatus, Outcome, Supersession,
    TitleRecord, supersedes,
};
use connector_store::{PageRequest, StoreError, new_audit_id};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// What changed since the checkpoints.
    Incremental,
    /// Everything, from the beginning (first install; drift a watermark cannot see).
    Full,
    /// Flow 4, daily: rights expiring soon are reported, expired ones withdrawn, withheld ones
    /// whose rights start linked (`crate::rights::expiry_pass`). Reads no external system.
    Rights,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// OTMM search page size.
    pub page_size: u64,
    /// How far each new pass reaches back before the last change seen (clock skew, late commits).
    pub overlap: Duration,
    /// Stop when less than this remains before the deadline.
    pub stop_margin: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Incremental,
            page_size: 100,
            overlap: Duration::from_secs(300),
            stop_margin: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub mode: Option<Mode>,
    pub pages: u64,
    pub assets_seen: u64,
    pub works_seen: u64,
    pub links_checked: u64,
    /// Drift found, by kind: `not_linked`, `newer_version`, `identifier_form`, `deleted_asset`,
    /// `title_changed`, `resource_missing`, `link_unfinished`, `readiness_stale` (stage or
    /// publication date moved), `readiness_due` (a due date passed).
    pub drift: BTreeMap<String, u64>,
    pub enqueued: u64,
    pub duration_ms: u64,
    /// False when it stopped at the deadline; the next run continues from the checkpoints.
    pub finished: bool,
    /// The daily rights pass (mode `rights`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<crate::rights::ExpirySummary>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    System(#[from] SystemError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the OTMM pass is: assets changed on or after `since`, the first `skip` of which (all
/// at exactly `since`) are done. Keyset on the change date, so an asset updated while the pass
/// runs moves behind the cursor instead of shifting unseen ones in front of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AssetCursor {
    since: DateTime<Utc>,
    skip: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WorkCursor {
    since: NaiveDate,
    after: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LinkCursor {
    after: Option<String>,
}

fn names(mode: Mode) -> (&'static str, &'static str, &'static str) {
    match mode {
        Mode::Incremental => ("otmm-assets", "consonance-works", "links"),
        Mode::Full => ("full/otmm-assets", "full/consonance-works", "full/links"),
        Mode::Rights => ("rights/none", "rights/none", "rights/none"),
    }
}

struct Run<'a> {
    app: &'a App,
    options: &'a Options,
    remaining: &'a (dyn Fn() -> Duration + Send + Sync),
    run_id: String,
    summary: Summary,
}

/// Runs one reconciliation. `remaining` says how long the invocation may still run (the
/// Lambda context's deadline; `Duration::MAX` locally).
pub async fn run(
    app: &App,
    options: &Options,
    remaining: &(dyn Fn() -> Duration + Send + Sync),
) -> Result<Summary, ReconcileError> {
    let started = Instant::now();
    let run_id = new_audit_id(app.now()).0;
    let mut r = Run {
        app,
        options,
        remaining,
        run_id,
        summary: Summary { mode: Some(options.mode), ..Default::default() },
    };
    let (assets, works, links) = names(options.mode);
    let finished = if options.mode == Mode::Rights {
        let pass = crate::rights::expiry_pass(app, &r.run_id, remaining, options.stop_margin).await.map_err(
            |e| match e {
                crate::rights::PassError::Store(e) => ReconcileError::Store(e),
                crate::rights::PassError::System(e) => ReconcileError::System(e),
            },
        )?;
        r.summary.enqueued += pass.withdrawals_enqueued + pass.starts_enqueued;
        let finished = pass.finished;
        r.summary.rights = Some(pass);
        finished
    } else {
        let mut finished = r.otmm_pass(assets).await? && r.consonance_pass(works).await?;
        if finished {
            r.readiness_sweep().await?;
        }
        if finished && options.mode == Mode::Full {
            finished = r.links_pass(links).await?;
        }
        finished
    };
    r.summary.finished = finished;
    r.summary.duration_ms = started.elapsed().as_millis() as u64;
    crate::metrics::reconcile_run(&r.summary);
    let s = &r.summary;
    tracing::info!(
        mode = ?options.mode, pages = s.pages, assets = s.assets_seen, works = s.works_seen,
        links = s.links_checked, enqueued = s.enqueued, finished, drift = ?s.drift, "reconcile run"
    );
    let detail = format!(
        "{:?} run: {} pages, {} assets, {} works, {} links checked, {} enqueued, drift {:?}{}",
        options.mode,
        s.pages,
        s.assets_seen,
        s.works_seen,
        s.links_checked,
        s.enqueued,
        s.drift,
        if finished { "" } else { "; stopped before the deadline, continues next run" }
    );
    let at = app.now();
    app.stores
        .audit
        .append(&[AuditRecord {
            id: new_audit_id(at),
            at,
            flow: Flow::Reconcile,
            action: "reconcile.run".into(),
            outcome: Outcome::Applied,
            isbn: None,
            asset_id: None,
            asset_version: None,
            actor: None,
            correlation_id: r.run_id.clone(),
            detail,
            data: serde_json::to_value(&r.summary).unwrap_or_default(),
        }])
        .await?;
    Ok(r.summary)
}

impl Run<'_> {
    fn out_of_time(&self) -> bool {
        (self.remaining)() < self.options.stop_margin
    }

    fn drift(&mut self, kind: &str) {
        *self.summary.drift.entry(kind.to_string()).or_default() += 1;
    }

    async fn load<T: for<'de> Deserialize<'de>>(
        &self,
        name: &str,
    ) -> Result<(Option<T>, Option<u64>), ReconcileError> {
        Ok(match self.app.stores.checkpoints.get_checkpoint(name).await? {
            Some(cp) => (serde_json::from_str(&cp.cursor).ok(), Some(cp.revision)),
            None => (None, None),
        })
    }

    async fn save<T: Serialize>(
        &self,
        name: &str,
        cursor: &T,
        revision: Option<u64>,
    ) -> Result<Option<u64>, ReconcileError> {
        let cp = Checkpoint {
            name: name.to_string(),
            cursor: serde_json::to_string(cursor).unwrap_or_default(),
            updated_at: self.app.now(),
            revision: 0,
        };
        // Conditional on the revision read: two overlapping runs cannot both advance it.
        Ok(Some(self.app.stores.checkpoints.put_checkpoint(&cp, revision).await?.revision))
    }

    async fn enqueue(&mut self, event: InboundEvent) -> Result<(), ReconcileError> {
        let message = FlowMessage::new(event, self.app.now(), format!("reconcile-{}", self.run_id));
        self.app.stores.queue.send(&message.to_json()).await?;
        self.summary.enqueued += 1;
        Ok(())
    }

    fn otmm_event(&self, facts: &AssetFacts, event_type: OtmmEventType) -> InboundEvent {
        let id = format!("reconcile-{}-{}-v{}", self.run_id, facts.asset_id, facts.version);
        InboundEvent::Otmm(OtmmEvent {
            event_id: EventId::derived(&id),
            event_type,
            otmm_event_id: None,
            asset_id: facts.asset_id.clone(),
            version: facts.version,
            occurred_at: facts.last_updated,
            actor: Actor { user_id: "reconciler".into(), name: None },
        })
    }

    /// Returns true when the pass reached the end of the feed.
    async fn otmm_pass(&mut self, name: &str) -> Result<bool, ReconcileError> {
        let (cursor, mut revision) = self.load::<AssetCursor>(name).await?;
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let mut cursor = cursor.unwrap_or(AssetCursor { since: epoch, skip: 0 });
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let page = self.app.dam.changed_since(cursor.since, cursor.skip, self.options.page_size).await?;
            self.summary.pages += 1;
            for facts in &page {
                self.summary.assets_seen += 1;
                self.assess_asset(facts).await?;
            }
            let full_page = page.len() as u64 >= self.options.page_size;
            cursor = match page.last() {
                Some(last) if last.last_updated == cursor.since => {
                    AssetCursor { since: cursor.since, skip: cursor.skip + page.len() as u64 }
                }
                Some(last) => AssetCursor {
                    since: last.last_updated,
                    skip: page.iter().filter(|f| f.last_updated == last.last_updated).count() as u64,
                },
                None => cursor,
            };
            if !full_page {
                // End of the feed: the next pass starts a little before the newest change seen.
                let next = match self.options.mode {
                    Mode::Incremental | Mode::Rights => AssetCursor {
                        since: cursor.since - Span::from_std(self.options.overlap).unwrap_or_default(),
                        skip: 0,
                    },
                    Mode::Full => AssetCursor { since: epoch, skip: 0 },
                };
                self.save(name, &next, revision).await?;
                return Ok(true);
            }
            revision = self.save(name, &cursor, revision).await?;
        }
    }

    /// Compares one asset (its latest version) with the mapping; enqueues what a webhook would.
    async fn assess_asset(&mut self, latest: &AssetFacts) -> Result<(), ReconcileError> {
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
        let candidate = if latest.approved {
            Some(latest.clone())
        } else if latest.version > 1 {
            app.dam
                .versions(&latest.asset_id)
                .await?
                .into_iter()
                .filter(|v| v.approved)
                .max_by_key(|v| v.version)
        } else {
            None
        };
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

    async fn consonance_pass(&mut self, name: &str) -> Result<bool, ReconcileError> {
        let (cursor, mut revision) = self.load::<WorkCursor>(name).await?;
        let start = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let mut cursor = cursor.unwrap_or(WorkCursor { since: start, after: None });
        let pass_started = self.app.now().date_naive();
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let page = self.app.pms.works_changed_since(cursor.since, cursor.after).await?;
            self.summary.pages += 1;
            if page.is_empty() {
                // `changedSince` is a date: the next pass starts the day before this one began.
                let next = match self.options.mode {
                    Mode::Incremental | Mode::Rights => {
                        WorkCursor { since: pass_started - Span::days(1), after: None }
                    }
                    Mode::Full => WorkCursor { since: start, after: None },
                };
                self.save(name, &next, revision).await?;
                return Ok(true);
            }
            for work in &page {
                self.summary.works_seen += 1;
                let mut changed = false;
                for title in &work.titles {
                    if let Some(stored) = self.app.stores.mapping.get_title(&title.isbn).await? {
                        changed |= title_differs(&stored, title);
                    }
                }
                // Flows 3 and 8: a new stage or publication date raises or re-dates requests.
                let kind = if changed {
                    Some("title_changed")
                } else if crate::readiness::work_is_stale(self.app, work).await? {
                    Some("readiness_stale")
                } else {
                    None
                };
                if let Some(kind) = kind {
                    self.drift(kind);
                    let id = format!("reconcile-{}-work-{}", self.run_id, work.work_id);
                    let e = InboundEvent::Consonance(ConsonanceEvent {
                        event_id: EventId::derived(&id),
                        event_type: ConsonanceEventType::WorkChanged,
                        work_id: Some(work.work_id),
                        product_id: None,
                        isbn: None,
                        changed_at: self.app.now(),
                        fields: Vec::new(),
                    });
                    self.enqueue(e).await?;
                }
            }
            cursor.after = page.last().map(|w| w.work_id.0);
            revision = self.save(name, &cursor, revision).await?;
        }
    }

    /// Once a day (and on every full scan): works whose stored readiness the date alone
    /// changes (a due date passed) are enqueued, since no event announces that.
    async fn readiness_sweep(&mut self) -> Result<(), ReconcileError> {
        let today = self.app.now().date_naive();
        let (last, revision) = self.load::<NaiveDate>("readiness-sweep").await?;
        if last == Some(today) && self.options.mode == Mode::Incremental {
            return Ok(());
        }
        let mut works: BTreeSet<i64> = BTreeSet::new();
        for (_, work) in crate::readiness::stale_by_time(self.app).await? {
            works.insert(work.0);
        }
        for work in works {
            self.drift("readiness_due");
            let id = format!("reconcile-{}-due-{work}", self.run_id);
            let e = InboundEvent::Consonance(ConsonanceEvent {
                event_id: EventId::derived(&id),
                event_type: ConsonanceEventType::WorkChanged,
                work_id: Some(connector_core::WorkId(work)),
                product_id: None,
                isbn: None,
                changed_at: self.app.now(),
                fields: Vec::new(),
            });
            self.enqueue(e).await?;
        }
        self.save("readiness-sweep", &today, revision).await?;
        Ok(())
    }

    /// Full scan only: every live link's resource must still exist in Consonance.
    async fn links_pass(&mut self, name: &str) -> Result<bool, ReconcileError> {
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
            for (work, links) in by_work {
                let present: BTreeSet<String> = self
                    .app
                    .pms
                    .resource_ids_of_work(connector_core::WorkId(work))
                    .await?
                    .into_iter()
                    .collect();
                for link in links {
                    self.summary.links_checked += 1;
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
            action: "link.resource_missing".into(),
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
        app.stores.idempotency.release(&link_create_key(&link)).await?;
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
        };
        let e = self.otmm_event(&facts, OtmmEventType::AssetApproved);
        self.enqueue(e).await
    }
}

/// Whether Consonance now says something else about a title than the mapping holds.
fn title_differs(stored: &TitleRecord, fresh: &connector_core::plan::TitleFacts) -> bool {
    let product = fresh.products.iter().find(|p| p.product_id == fresh.product_id);
    stored.work_id != fresh.work_id
        || stored.product_id != fresh.product_id
        || stored.title != fresh.title
        || stored.imprint != fresh.imprint
        || stored.product_form != product.and_then(|p| p.form.as_ref()).map(|f| f.to_string())
        || stored.sales_rights != product.map(|p| p.sales_rights.clone())
}
