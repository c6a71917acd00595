//! `connector demo`: a realistic catalogue in both simulators, approvals driven through the
//! webhook path, everything processed on embedded state, and a report of what happened.

use crate::http;
use crate::worker::{self, DrainReport};
use crate::{SIM_WEBHOOK_SECRET, Simulators, app_from_env, intake_deps, open_state};
use chrono::Utc;
use connector_app::{App, Settings};
use connector_core::{AssetRole, AuditRecord, LinkStatus, Outcome};
use connector_sim::catalogue::Catalogue;
use connector_store::PageRequest;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub titles: usize,
    pub seed: u64,
    pub state_dir: PathBuf,
    /// Show progress bars on stderr.
    pub progress: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoSummary {
    pub works: usize,
    pub products: usize,
    pub asset_versions: usize,
    pub approvals_sent: usize,
    pub webhooks_delivered: usize,
    pub messages: u64,
    pub done: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub links_by_role: BTreeMap<String, usize>,
    pub titles_linked: usize,
    pub stale_approvals_ignored: usize,
    pub invalid_isbns_rejected: usize,
    pub identifiers_aligned: usize,
    pub consonance_resources: usize,
    pub audit_records: usize,
    pub seconds: f64,
    pub sample_title: Option<String>,
    #[serde(skip)]
    pub sample_audit: Vec<AuditRecord>,
    pub dead_letters: Vec<String>,
    /// Webhooks switched off, then changes only the reconciler can find.
    pub silent_approvals: usize,
    pub resources_deleted_by_hand: usize,
    pub reconcile_incremental: Option<connector_app::reconciler::Summary>,
    pub reconcile_full: Option<connector_app::reconciler::Summary>,
    pub silent_approvals_linked: usize,
    pub resources_restored: usize,
    /// Production packages (flow 5): documents by status, and samples.
    pub packages_staged: usize,
    pub packages_blocked: usize,
    pub packages_released: usize,
    /// The final pass over every work: packages found unchanged / staged by it.
    pub packages_rebuild_unchanged: usize,
    pub packages_rebuild_staged: usize,
    /// `<isbn> <channel> v<n> <manifest key>`.
    pub package_samples: Vec<String>,
    /// `<isbn> <channel>: <first reason>`.
    pub blocked_samples: Vec<String>,
    pub staging_dir: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot open state in {dir}: {message}")]
    State { dir: String, message: String },
    #[error("cannot start the local intake server: {0}")]
    Server(std::io::Error),
    #[error("cannot build the connector: {0}")]
    Wiring(String),
    #[error("store failure: {0}")]
    Store(#[from] connector_store::StoreError),
}

fn bar(enabled: bool, len: u64, message: &'static str) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(message);
    pb
}

pub async fn run(options: DemoOptions) -> Result<DemoSummary, DemoError> {
    let started = Instant::now();
    let catalogue = Catalogue::generate(options.titles, options.seed, Utc::now());
    let stores = open_state(&options.state_dir, 5).map_err(|e| DemoError::State {
        dir: options.state_dir.display().to_string(),
        message: e.to_string(),
    })?;

    // The intake first, so the OTMM simulator knows where to post.
    let deps = intake_deps(&stores, SIM_WEBHOOK_SECRET, None).map_err(DemoError::Wiring)?;
    let addr = http::spawn(http::router(Arc::new(deps)), "127.0.0.1:0").await.map_err(DemoError::Server)?;
    let sims =
        Simulators::start(&catalogue, Some(format!("http://{addr}/webhooks/otmm")), SIM_WEBHOOK_SECRET).await;
    let env: BTreeMap<String, String> = sims.env().into_iter().collect();
    let lookup = |k: &str| env.get(k).cloned();
    let settings = Settings {
        retry_delay: Duration::from_millis(200),
        contention_delay: Duration::from_millis(10),
        ..Settings::default()
    };
    let app =
        app_from_env(stores, &lookup, None, Some(settings)).map_err(|e| DemoError::Wiring(e.to_string()))?;

    let mut summary = DemoSummary {
        works: catalogue.works.len(),
        products: catalogue.product_count(),
        asset_versions: catalogue.assets.iter().map(|a| a.versions.len()).sum(),
        ..Default::default()
    };

    // Approvals as asset teams would make them: each asset's versions in order, then, for
    // assets with history, a late duplicate of an older approval (it must change nothing).
    let mut approvals = Vec::new();
    for asset in catalogue.assets.iter().filter(|a| !a.deleted) {
        for v in &asset.versions {
            approvals.push((asset.original_asset_id.clone(), v.version));
        }
        if asset.versions.len() > 1 {
            approvals.push((asset.original_asset_id.clone(), 1));
        }
    }
    let pb = bar(options.progress, approvals.len() as u64, "approvals");
    for (i, (original, version)) in approvals.iter().enumerate() {
        if sims.otmm.approve(original, *version, "demo.approver").is_ok() {
            summary.approvals_sent += 1;
        }
        pb.set_position(i as u64 + 1);
    }
    pb.finish_and_clear();
    let deliveries = sims.otmm.wait_for_deliveries(summary.approvals_sent, Duration::from_secs(120)).await;
    summary.webhooks_delivered = deliveries.iter().filter(|d| d.delivered).count();

    let pb = bar(options.progress, summary.webhooks_delivered as u64, "processing");
    let report: DrainReport =
        worker::drain(&app, Duration::from_secs(600), |r| pb.set_position(r.messages)).await?;
    pb.finish_and_clear();
    summary.messages = report.messages;
    summary.done = report.done;
    summary.retried = report.retried;
    summary.dead_lettered = report.dead_lettered;

    collect(&app, &catalogue, &sims, &mut summary).await?;
    reconcile_phase(&app, &catalogue, &sims, &mut summary).await?;
    package_phase(&app, &mut summary).await?;
    summary.staging_dir = options.state_dir.join("staging").display().to_string();
    summary.seconds = started.elapsed().as_secs_f64();
    sims.otmm.shutdown().await;
    sims.consonance.shutdown().await;
    Ok(summary)
}

/// Webhooks off: new versions approved and a resource deleted by hand in Consonance. The
/// incremental reconciler finds the approvals; only the full scan sees the deletion.
async fn reconcile_phase(
    app: &App,
    catalogue: &Catalogue,
    sims: &Simulators,
    s: &mut DemoSummary,
) -> Result<(), DemoError> {
    use connector_app::reconciler::{self, Mode, Options};
    sims.otmm.set_webhooks_enabled(false);
    let mut silent = Vec::new();
    for asset in catalogue.assets.iter().filter(|a| a.asset_type == "Front Cover").step_by(10) {
        if let Ok(id) = sims.otmm.add_version(&asset.original_asset_id, "In Review")
            && let Some(v) = sims.otmm.asset(&id).map(|a| a.version)
            && sims.otmm.approve(&asset.original_asset_id, v, "silent.approver").is_ok()
        {
            silent.push((asset.original_asset_id.clone(), v));
        }
    }
    s.silent_approvals = silent.len();
    // Resources of links that stay current (not ones a silent new version replaces anyway).
    let replaced: Vec<&str> = silent.iter().map(|(lineage, _)| lineage.as_str()).collect();
    let mut deleted = Vec::new();
    for work in catalogue.works.iter().step_by(25) {
        let victim = sims
            .consonance
            .supporting_resources(work.work_id)
            .into_iter()
            .find(|r| r.caption.as_deref().is_some_and(|c| !replaced.iter().any(|l| c.contains(l))));
        if let Some(r) = victim
            && sims.consonance.delete_supporting_resource_by_hand(r.id).is_ok()
        {
            deleted.push((work.work_id, r.caption.unwrap_or_default()));
        }
    }
    s.resources_deleted_by_hand = deleted.len();
    let forever = || Duration::MAX;
    let incremental =
        reconciler::run(app, &Options { mode: Mode::Incremental, ..Default::default() }, &forever)
            .await
            .map_err(|e| DemoError::Wiring(e.to_string()))?;
    worker::drain(app, Duration::from_secs(600), |_| {}).await?;
    let full = reconciler::run(app, &Options { mode: Mode::Full, ..Default::default() }, &forever)
        .await
        .map_err(|e| DemoError::Wiring(e.to_string()))?;
    worker::drain(app, Duration::from_secs(600), |_| {}).await?;
    for (lineage, v) in &silent {
        if let Ok(id) = connector_core::AssetId::parse(lineage) {
            let links = app.stores.mapping.links_for_asset(&id).await?;
            s.silent_approvals_linked +=
                usize::from(links.iter().any(|l| l.approval.version == *v && l.status == LinkStatus::Linked));
        }
    }
    for (work, caption) in &deleted {
        s.resources_restored += usize::from(
            sims.consonance
                .supporting_resources(*work)
                .iter()
                .any(|r| r.caption.as_deref() == Some(caption.as_str())),
        );
    }
    s.reconcile_incremental = Some(incremental);
    s.reconcile_full = Some(full);
    Ok(())
}

/// Flow 5: packages were built as links were made; a last pass over every work confirms them
/// (a rebuild changes nothing), and one staged package is released to Consonance.
async fn package_phase(app: &App, s: &mut DemoSummary) -> Result<(), DemoError> {
    use connector_app::packages::{self, BuildOutcome};
    let wiring = |e: packages::PackageError| DemoError::Wiring(e.to_string());
    let outcomes = packages::build_all(app, "demo-packages").await.map_err(wiring)?;
    s.packages_rebuild_unchanged =
        outcomes.iter().filter(|o| matches!(o, BuildOutcome::Unchanged { .. })).count();
    s.packages_rebuild_staged = outcomes.iter().filter(|o| matches!(o, BuildOutcome::Staged { .. })).count();
    let docs = packages::list(app).await.map_err(wiring)?;
    if let Some(first) = docs.iter().find(|d| d.status == packages::STAGED) {
        packages::release(app, &first.isbn, first.channel, "demo-release").await.map_err(wiring)?;
    }
    for d in packages::list(app).await.map_err(wiring)? {
        match d.status.as_str() {
            packages::BLOCKED => {
                s.packages_blocked += 1;
                if s.blocked_samples.len() < 5 {
                    s.blocked_samples.push(format!(
                        "{} {}: {}",
                        d.isbn,
                        d.channel,
                        d.reasons.first().map(String::as_str).unwrap_or("")
                    ));
                }
            }
            status => {
                if status == packages::RELEASED {
                    s.packages_released += 1;
                } else {
                    s.packages_staged += 1;
                }
                if s.package_samples.len() < 5 || status == packages::RELEASED {
                    s.package_samples.push(format!(
                        "{} {:<5} v{} {}{}",
                        d.isbn,
                        d.channel.as_str(),
                        d.package_version,
                        d.manifest_key.as_deref().unwrap_or(""),
                        if status == packages::RELEASED {
                            "  (released: web link in Consonance)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
    }
    Ok(())
}

async fn collect(
    app: &App,
    catalogue: &Catalogue,
    sims: &Simulators,
    s: &mut DemoSummary,
) -> Result<(), DemoError> {
    let mut cursor = None;
    loop {
        let page = app.stores.mapping.list_titles(PageRequest { limit: 200, cursor }).await?;
        for title in &page.items {
            let links = app.stores.mapping.links_for_title(&title.isbn).await?;
            let linked: Vec<_> = links.iter().filter(|l| l.status == LinkStatus::Linked).collect();
            if !linked.is_empty() {
                s.titles_linked += 1;
            }
            for l in linked {
                *s.links_by_role.entry(l.key.role.to_string()).or_default() += 1;
            }
            let trail =
                app.stores.audit.by_title(&title.isbn, PageRequest { limit: 1000, cursor: None }).await?;
            s.audit_records += trail.items.len();
            s.stale_approvals_ignored += trail.items.iter().filter(|r| r.action == "approval.stale").count();
            s.identifiers_aligned += trail.items.iter().filter(|r| r.action == "identifiers.aligned").count();
            let covered = trail.items.iter().any(|r| r.action == "link.replaced");
            if s.sample_title.is_none() && covered {
                s.sample_title = Some(title.isbn.to_string());
                s.sample_audit = trail.items.iter().take(8).cloned().collect();
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    // Rejected ISBNs have no title: they are found by asset.
    for asset in &catalogue.assets {
        if connector_core::Isbn13::parse(&asset.isbn).is_err()
            && let Ok(id) = connector_core::AssetId::parse(&asset.original_asset_id)
        {
            let trail = app.stores.audit.by_asset(&id, PageRequest { limit: 100, cursor: None }).await?;
            s.invalid_isbns_rejected += trail
                .items
                .iter()
                .filter(|r| r.action == "isbn.invalid" && r.outcome == Outcome::Rejected)
                .count()
                .min(1);
        }
    }
    s.consonance_resources =
        catalogue.works.iter().map(|w| sims.consonance.supporting_resources(w.work_id).len()).sum();
    s.dead_letters = app.stores.queue.dead_letters(20).await?.into_iter().map(|m| m.message_id).collect();
    Ok(())
}

/// The human-readable report (stdout).
pub fn render(s: &DemoSummary) -> String {
    let mut out = String::new();
    let mut line = |t: String| {
        out.push_str(&t);
        out.push('\n');
    };
    line(format!(
        "Catalogue: {} works, {} products, {} asset versions",
        s.works, s.products, s.asset_versions
    ));
    line(format!(
        "Webhook path: {} approvals made in OTMM, {} webhooks delivered, {} messages processed ({} done, {} retried, {} dead-lettered)",
        s.approvals_sent, s.webhooks_delivered, s.messages, s.done, s.retried, s.dead_lettered
    ));
    line(format!(
        "Links made (flows 1 and 2): {} titles linked, {} supporting resources in Consonance",
        s.titles_linked, s.consonance_resources
    ));
    for role in AssetRole::ALL {
        if let Some(n) = s.links_by_role.get(role.as_str()) {
            line(format!("  {:<22} {n}", role.as_str()));
        }
    }
    line(format!(
        "Versions: {} late approvals of older versions ignored (newer version kept)",
        s.stale_approvals_ignored
    ));
    line(format!(
        "Identifiers (flow 6): {} assets aligned to Consonance, {} invalid ISBNs rejected (never written)",
        s.identifiers_aligned, s.invalid_isbns_rejected
    ));
    if !s.dead_letters.is_empty() {
        line(format!("Dead letters: {} (replay with `connector replay`)", s.dead_letters.len()));
    }
    if let (Some(inc), Some(full)) = (&s.reconcile_incremental, &s.reconcile_full) {
        line(format!(
            "Reconciler (webhooks off): {} new versions approved silently, {} resources deleted by hand in Consonance",
            s.silent_approvals, s.resources_deleted_by_hand
        ));
        line(format!(
            "  incremental: {} pages, {} assets and {} works seen, drift {:?}, {} enqueued -> {} of {} silent approvals linked",
            inc.pages,
            inc.assets_seen,
            inc.works_seen,
            inc.drift,
            inc.enqueued,
            s.silent_approvals_linked,
            s.silent_approvals
        ));
        line(format!(
            "  full scan: {} pages, {} links checked, drift {:?}, {} enqueued -> {} of {} deleted resources restored",
            full.pages,
            full.links_checked,
            full.drift,
            full.enqueued,
            s.resources_restored,
            s.resources_deleted_by_hand
        ));
    }
    line(format!(
        "Production packages (flow 5): {} staged, {} released, {} blocked; a final rebuild of every work found {} unchanged and staged {} (staging: {})",
        s.packages_staged,
        s.packages_released,
        s.packages_blocked,
        s.packages_rebuild_unchanged,
        s.packages_rebuild_staged,
        s.staging_dir
    ));
    for p in &s.package_samples {
        line(format!("  staged  {p}"));
    }
    for b in &s.blocked_samples {
        line(format!("  blocked {b}"));
    }
    if let Some(isbn) = &s.sample_title {
        line(format!("Audit trail (flow 7), newest first, for ISBN {isbn}:"));
        for r in &s.sample_audit {
            line(format!(
                "  {} {:<20} {:<22} v{:<2} by {:<14} {}",
                r.at.format("%H:%M:%S%.3f"),
                r.flow.as_str(),
                r.action,
                r.asset_version.map(|v| v.to_string()).unwrap_or_default(),
                r.actor.as_ref().map(|a| a.user_id.as_str()).unwrap_or("-"),
                r.detail
            ));
        }
    }
    out
}

/// The one-line summary the demo ends with.
pub fn one_line(s: &DemoSummary) -> String {
    format!(
        "demo ok: {} titles linked ({} links), {} stale approvals ignored, {} invalid ISBNs rejected, reconciler linked {}/{} silent approvals and restored {}/{} deleted resources, {} packages staged ({} blocked), {} dead letters, {} audit records in {:.1}s",
        s.titles_linked,
        s.links_by_role.values().sum::<usize>(),
        s.stale_approvals_ignored,
        s.invalid_isbns_rejected,
        s.silent_approvals_linked,
        s.silent_approvals,
        s.resources_restored,
        s.resources_deleted_by_hand,
        s.packages_staged + s.packages_released,
        s.packages_blocked,
        s.dead_letters.len(),
        s.audit_records,
        s.seconds
    )
}
