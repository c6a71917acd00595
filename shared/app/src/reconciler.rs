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
use connector_core::plan::AssetFacts;
use connector_core::{Actor, AuditAction, AuditRecord, Checkpoint, Flow, Outcome, TitleRecord};
use connector_store::{StoreError, keys, new_audit_id};

mod assets;
mod links;
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
    /// First install (or a re-sync after an outage): everything changed since
    /// [`Options::since`] (from the beginning without one), on checkpoints of its own, so an
    /// interrupted backfill continues where it stopped and never disturbs the incremental
    /// schedule's watermarks. No links pass: a backfill is how links come to exist.
    Backfill,
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
    /// External reads in flight at once where a pass has many independent ones (version
    /// lists of a page's assets, resource listings of a page's works); the clients' rate
    /// limits still pace them.
    pub concurrency: usize,
    /// Backfill only: the look-back date (assets changed on or after it, works changed on or
    /// after its day). `None`: the whole catalogue.
    pub since: Option<DateTime<Utc>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Incremental,
            page_size: 100,
            overlap: Duration::from_secs(300),
            stop_margin: Duration::from_secs(15),
            concurrency: 8,
            since: None,
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

/// Why a reconcile run, or the daily rights pass it runs, stopped.
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
    /// Full scan and backfill: this pass reached the end and a later pass of the same run has
    /// not yet; an invocation that resumes there does not walk it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    done: bool,
    /// When this pass began (the connector's clock), kept across invocations until it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pass_started: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WorkCursor {
    since: NaiveDate,
    after: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    done: bool,
}

/// Where a run is, after each page: what a progress bar shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The OTMM pass reads assets changed on or after `from`; it has reached `at`.
    Assets { from: DateTime<Utc>, at: DateTime<Utc>, seen: u64 },
    /// The Consonance pass reads works changed since `since`.
    Works { since: NaiveDate, seen: u64 },
    /// The links pass (full scan).
    Links { checked: u64 },
}

/// A look-back date that is neither a date nor an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is {0:?}: expected a date (2024-01-01) or an RFC 3339 time")]
pub struct SinceError(pub String);

/// A backfill's look-back date: `2024-01-01` (its midnight, UTC) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, SinceError> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| SinceError(text.to_string()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LinkCursor {
    after: Option<String>,
}

fn checkpoints(mode: Mode) -> keys::PassCheckpoints {
    match mode {
        Mode::Incremental => keys::INCREMENTAL_PASSES,
        Mode::Full => keys::FULL_PASSES,
        Mode::Rights => keys::RIGHTS_PASSES,
        Mode::Backfill => keys::BACKFILL_PASSES,
    }
}

/// Where each pass of a run starts when no checkpoint says otherwise.
fn asset_start(options: &Options) -> AssetCursor {
    let since = match options.mode {
        Mode::Backfill => options.since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        _ => DateTime::<Utc>::UNIX_EPOCH,
    };
    AssetCursor { since, skip: 0, done: false, pass_started: None }
}

fn work_start(options: &Options) -> WorkCursor {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let since = match options.mode {
        Mode::Backfill => options.since.map(|s| s.date_naive()).unwrap_or(epoch),
        _ => epoch,
    };
    WorkCursor { since, after: None, done: false }
}

struct Run<'a> {
    app: &'a App,
    options: &'a Options,
    remaining: &'a (dyn Fn() -> Duration + Send + Sync),
    progress: &'a (dyn Fn(&Progress) + Send + Sync),
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
    run_observed(app, options, remaining, &|_| {}).await
}

/// [`run`], telling `progress` where it is after every page.
pub async fn run_observed(
    app: &App,
    options: &Options,
    remaining: &(dyn Fn() -> Duration + Send + Sync),
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Summary, ReconcileError> {
    let started = Instant::now();
    let run_id = new_audit_id(app.now()).0;
    let mut r = Run {
        app,
        options,
        remaining,
        progress,
        run_id,
        summary: Summary { mode: Some(options.mode), ..Default::default() },
    };
    let keys::PassCheckpoints { assets, works, links } = checkpoints(options.mode);
    if options.mode == Mode::Backfill {
        r.backfill_origin(assets, works).await?;
    }
    let finished = if options.mode == Mode::Rights {
        let pass = crate::rights::expiry_pass(app, &r.run_id, remaining, options.stop_margin).await?;
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
        if finished && matches!(options.mode, Mode::Full | Mode::Backfill) {
            // The run is complete: the next one starts from the beginning again.
            r.restart(assets, works).await?;
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
            action: AuditAction::ReconcileRun,
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
    /// A backfill asked for another look-back date than the one its checkpoints belong to
    /// starts over (from the new date); the same date continues where the last run stopped.
    async fn backfill_origin(&self, assets: &str, works: &str) -> Result<(), ReconcileError> {
        let (origin, revision) = self.load::<Option<DateTime<Utc>>>(keys::BACKFILL_ORIGIN_CHECKPOINT).await?;
        if origin == Some(self.options.since) {
            return Ok(());
        }
        if origin.is_some() {
            tracing::info!(
                previous = ?origin.flatten(), since = ?self.options.since,
                "a backfill from another date: starting over"
            );
        }
        self.restart(assets, works).await?;
        self.save(keys::BACKFILL_ORIGIN_CHECKPOINT, &self.options.since, revision).await?;
        Ok(())
    }

    /// After a complete full scan or backfill: its passes start from the beginning next time.
    async fn restart(&self, assets: &str, works: &str) -> Result<(), ReconcileError> {
        let (_, revision) = self.load::<AssetCursor>(assets).await?;
        self.save(assets, &asset_start(self.options), revision).await?;
        let (_, revision) = self.load::<WorkCursor>(works).await?;
        self.save(works, &work_start(self.options), revision).await?;
        Ok(())
    }

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

    async fn consonance_pass(&mut self, name: &str) -> Result<bool, ReconcileError> {
        let (cursor, mut revision) = self.load::<WorkCursor>(name).await?;
        let mut cursor = cursor.unwrap_or_else(|| work_start(self.options));
        if cursor.done {
            return Ok(true);
        }
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
                        WorkCursor { since: pass_started - Span::days(1), after: None, done: false }
                    }
                    Mode::Full | Mode::Backfill => WorkCursor { done: true, ..cursor },
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
            (self.progress)(&Progress::Works { since: cursor.since, seen: self.summary.works_seen });
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
