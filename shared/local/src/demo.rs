//! `connector demo`: a realistic catalogue in both simulators, approvals driven through the
//! webhook path, everything processed on embedded state, and a report of what happened.
//! Here the run and its phases; the delivery checks in `delivery`, the report in `render`.

use crate::http;
use crate::worker::{self, DrainReport};
use crate::{SIM_WEBHOOK_SECRET, Simulators, app_from_env, intake_deps, open_state};
use chrono::Utc;
use connector_app::{App, Settings};
use connector_core::{AuditAction, AuditRecord, LinkStatus, Outcome};
use connector_sim::catalogue::Catalogue;
use connector_store::PageRequest;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod delivery;
mod render;
use delivery::{delivery_figures, demo_mapping, large_cover, set_cover_contents, size_check};
pub use render::{one_line, render};

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
    /// Flow 3: requests raised in OTMM, by role; how many are still open.
    pub requests_by_role: BTreeMap<String, usize>,
    pub requests_open: usize,
    pub requests_closed: usize,
    /// Flow 8: readiness reports by status, with a few example reasons.
    pub readiness: BTreeMap<String, u64>,
    pub readiness_examples: Vec<String>,
    /// Flow 4: links withheld at approval because the asset's rights covered no product.
    pub withheld_by_rights: usize,
    /// Flow 4: what the rights phase changed, one line each (`action`, ISBN, role, why).
    pub rights_changes: Vec<RightsChange>,
    /// `rights.expiring` records written by the daily rights pass.
    pub expiring_reported: u64,
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
    /// Delivery checks (issue 18): per recipient, packages that passed and that were blocked.
    pub delivery_by_recipient: BTreeMap<String, (usize, usize)>,
    /// A few verdicts with the measured value and the limit, passed and blocked.
    pub delivery_samples: Vec<String>,
    /// A release to a recipient the package failed, and why it was refused.
    pub release_refused: Option<String>,
    pub staging_dir: String,
}

/// One link the rights phase of the demo changed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RightsChange {
    /// What was done to the rights, in the simulators.
    pub change: String,
    pub action: String,
    pub isbn: String,
    pub detail: String,
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
    let deps =
        intake_deps(&stores, SIM_WEBHOOK_SECRET, None).map_err(|e| DemoError::Wiring(e.to_string()))?;
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
    let mapping = Arc::new(demo_mapping()?);
    let app = app_from_env(stores, &lookup, Some(mapping), Some(settings))
        .map_err(|e| DemoError::Wiring(e.to_string()))?;
    set_cover_contents(&sims, &catalogue);

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
    launch_phase(&app, &catalogue, &mut summary).await?;
    reconcile_phase(&app, &catalogue, &sims, &mut summary).await?;
    rights_phase(&app, &catalogue, &sims, &mut summary).await?;
    package_phase(&app, &mut summary).await?;
    summary.staging_dir = options.state_dir.join("staging").display().to_string();
    summary.seconds = started.elapsed().as_secs_f64();
    sims.otmm.shutdown().await;
    sims.consonance.shutdown().await;
    Ok(summary)
}

/// Flows 3 and 8: Consonance tells the connector about every work (as its change notifier or
/// the reconciler would); requests are raised for what is missing at each title's stage and
/// every product's launch readiness is evaluated.
async fn launch_phase(app: &App, catalogue: &Catalogue, s: &mut DemoSummary) -> Result<(), DemoError> {
    use connector_core::event::{ConsonanceEvent, ConsonanceEventType, EventId, FlowMessage, InboundEvent};
    use connector_core::readiness::{ReadinessFilter, ReadinessStatus};
    use connector_store::keys::REQUEST_KIND;
    for work in &catalogue.works {
        let Ok(event_id) = EventId::parse(&format!("demo-work-{}", work.work_id)) else { continue };
        let event = InboundEvent::Consonance(ConsonanceEvent {
            event_id,
            event_type: ConsonanceEventType::WorkChanged,
            work_id: Some(connector_core::WorkId(work.work_id)),
            product_id: None,
            isbn: None,
            changed_at: app.now(),
            fields: Vec::new(),
        });
        app.stores.queue.send(&FlowMessage::new(event, app.now(), "demo-launch").to_json()).await?;
    }
    worker::drain(app, Duration::from_secs(600), |_| {}).await?;
    let mut cursor = None;
    loop {
        let page = app.stores.documents.list_docs(REQUEST_KIND, PageRequest { limit: 200, cursor }).await?;
        for doc in &page.items {
            if let Ok(r) = serde_json::from_value::<connector_core::requests::AssetRequest>(doc.body.clone())
            {
                *s.requests_by_role.entry(r.role.to_string()).or_default() += 1;
                match r.status {
                    connector_core::requests::RequestStatus::Open => s.requests_open += 1,
                    connector_core::requests::RequestStatus::Closed => s.requests_closed += 1,
                }
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    s.readiness = connector_app::readiness::counts(app)
        .await?
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect();
    for status in [ReadinessStatus::Blocked, ReadinessStatus::AtRisk] {
        let filter = ReadinessFilter { status: Some(status), ..Default::default() };
        let page =
            connector_app::readiness::list(app, &filter, PageRequest { limit: 50, cursor: None }).await?;
        // Examples with different first reasons.
        let mut seen = std::collections::BTreeSet::new();
        for r in &page.items {
            let Some(first) = r.reasons.first() else { continue };
            let kind: String =
                first.split(';').next().unwrap_or(first).chars().filter(|c| !c.is_ascii_digit()).collect();
            if seen.insert(kind) && seen.len() <= 3 {
                s.readiness_examples.push(format!(
                    "{} {} ({}, {}): {}",
                    r.status.as_str(),
                    r.isbn,
                    r.product_form.as_deref().unwrap_or("?"),
                    r.days_to_publication.map_or("no date".into(), |d| format!("{d} days to publication")),
                    first
                ));
            }
        }
    }
    Ok(())
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
    // Covers whose rights cover their products (the others are withheld by flow 4).
    let plain =
        |a: &&connector_sim::catalogue::SeedAsset| a.territory == "WORLD" && a.expiration_date.is_none();
    for asset in catalogue.assets.iter().filter(|a| a.asset_type == "Front Cover").filter(plain).step_by(10) {
        if let Ok(id) = sims.otmm.add_version(&asset.original_asset_id, "In Review")
            && sims.otmm.set_content(&id, large_cover()).is_ok()
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

/// Flow 4: rights change on both sides; the connector withdraws, narrows and restores links.
/// Webhooks on again for OTMM; the Consonance change is found by the incremental reconciler.
async fn rights_phase(
    app: &App,
    catalogue: &Catalogue,
    sims: &Simulators,
    s: &mut DemoSummary,
) -> Result<(), DemoError> {
    use connector_app::reconciler::{self, Mode, Options};
    use connector_sim::catalogue::otmm_fields as f;
    sims.otmm.set_webhooks_enabled(true);
    let before = sims.otmm.deliveries().len();
    let today = app.now().date_naive();
    // Linked covers with plain rights, on works with two or more products.
    let mut picks = Vec::new();
    for asset in catalogue.assets.iter().filter(|a| a.asset_type == "Front Cover" && a.territory == "WORLD") {
        let Ok(lineage) = connector_core::AssetId::parse(&asset.original_asset_id) else { continue };
        let links = app.stores.mapping.links_for_asset(&lineage).await?;
        let Some(link) =
            links.into_iter().find(|l| l.status == LinkStatus::Linked && l.product_ids.len() >= 2)
        else {
            continue;
        };
        if link.rights.as_ref().is_some_and(|r| r.window.expiry.is_none()) {
            picks.push(link);
        }
        if picks.len() == 4 {
            break;
        }
    }
    let [expired, narrowed, sold_wider, expiring] = picks.as_slice() else { return Ok(()) };
    let version = |l: &connector_core::AssetLink| {
        l.version_asset_id.clone().unwrap_or_else(|| l.approval.asset_id.clone()).to_string()
    };
    let mut changes: Vec<(connector_core::AssetLink, String)> = Vec::new();
    // 1. OTMM: the rights of a cover expired yesterday.
    let yesterday = today - chrono::Duration::days(1);
    if sims.otmm.set_field(&version(expired), f::EXPIRATION_DATE, &yesterday.to_string()).is_ok() {
        changes.push((expired.clone(), format!("OTMM: expiration date set to {yesterday}")));
    }
    // 2. OTMM: a cover may now be shown in GB and IE only; one product of its work is sold in GB only.
    let uk_only = narrowed.product_ids[0];
    let _ = sims.consonance.set_sales_rights(uk_only.0, false, &["GB"], &[]);
    if sims.otmm.set_field(&version(narrowed), f::TERRITORY, "GB IE").is_ok() {
        changes.push((
            narrowed.clone(),
            format!("OTMM: territory set to \"GB IE\" (product {uk_only} sold in GB only)"),
        ));
    }
    // 3. Consonance: a cover shown in GB and IE; its products sold in GB, then one also in the US.
    for p in &sold_wider.product_ids {
        let _ = sims.consonance.set_sales_rights(p.0, false, &["GB"], &[]);
    }
    let _ = sims.otmm.set_field(&version(sold_wider), f::TERRITORY, "GB IE");
    // 4. OTMM: a cover's rights expire in ten days (the daily pass reports it).
    let soon = today + chrono::Duration::days(10);
    let _ = sims.otmm.set_field(&version(expiring), f::EXPIRATION_DATE, &soon.to_string());
    // Four field edits in OTMM, four webhooks.
    sims.otmm.wait_for_deliveries(before + 4, Duration::from_secs(30)).await;
    worker::drain(app, Duration::from_secs(600), |_| {}).await?;
    if let Some(last) = sold_wider.product_ids.last()
        && sims.consonance.set_sales_rights(last.0, false, &["GB", "US"], &[]).is_ok()
    {
        changes.push((sold_wider.clone(), format!("Consonance: product {last} now also sold in the US")));
    }
    let forever = || Duration::MAX;
    reconciler::run(app, &Options { mode: Mode::Incremental, ..Default::default() }, &forever)
        .await
        .map_err(|e| DemoError::Wiring(e.to_string()))?;
    worker::drain(app, Duration::from_secs(600), |_| {}).await?;
    // The daily rights pass: expiring within `rights.expiry_warning_days` reported once.
    let pass = reconciler::run(app, &Options { mode: Mode::Rights, ..Default::default() }, &forever)
        .await
        .map_err(|e| DemoError::Wiring(e.to_string()))?;
    worker::drain(app, Duration::from_secs(600), |_| {}).await?;
    s.expiring_reported = pass.rights.map_or(0, |r| r.expiring_reported);
    changes.push((expiring.clone(), format!("OTMM: expiration date set to {soon}")));
    // 5. OTMM: the expired cover's rights are extended: linked again.
    let next_year = today + chrono::Duration::days(365);
    if sims.otmm.set_field(&version(expired), f::EXPIRATION_DATE, &next_year.to_string()).is_ok() {
        sims.otmm.wait_for_deliveries(before + 5, Duration::from_secs(30)).await;
        worker::drain(app, Duration::from_secs(600), |_| {}).await?;
        changes.push((expired.clone(), format!("OTMM: expiration date extended to {next_year}")));
    }
    // What the connector did about each, from the audit trail (oldest first).
    let mut seen = std::collections::BTreeSet::new();
    for (link, change) in changes {
        let trail = app
            .stores
            .audit
            .by_asset(&link.approval.asset_id, PageRequest { limit: 100, cursor: None })
            .await?;
        let rights: Vec<&AuditRecord> = trail
            .items
            .iter()
            .rev()
            .filter(|r| {
                r.flow == connector_core::Flow::RightsSync && r.action != AuditAction::RightsRefreshed
            })
            .filter(|r| !seen.contains(&r.id))
            .collect();
        match rights.first() {
            Some(r) => {
                seen.insert(r.id.clone());
                s.rights_changes.push(RightsChange {
                    change,
                    action: r.action.to_string(),
                    isbn: link.key.isbn.to_string(),
                    detail: r.detail.clone(),
                });
            }
            None => s.rights_changes.push(RightsChange {
                change,
                action: "-".into(),
                isbn: link.key.isbn.to_string(),
                detail: "no rights change recorded".into(),
            }),
        }
    }
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
    // Released: one that every recipient passed. Refused: one to the recipient it failed.
    let passed_all = |d: &&packages::PackageDoc| {
        connector_core::delivery::release_refusal(&d.delivery_checks, None).is_none()
    };
    if let Some(first) = docs.iter().filter(passed_all).find(|d| d.status == packages::PackageStatus::Staged)
    {
        packages::release(app, &first.isbn, first.channel, None, "demo-release").await.map_err(wiring)?;
    }
    // (One that failed on the cover's size only: the demo's point.)
    let failed = docs.iter().find_map(|d| {
        let by_size = |v: &&connector_core::delivery::RecipientVerdict| {
            !v.passed && connector_core::delivery::failures(&v.checks).all(size_check)
        };
        d.delivery_checks.iter().find(by_size).map(|v| (d, v))
    });
    if let Some((d, v)) = failed {
        let r = packages::release(app, &d.isbn, d.channel, Some(&v.recipient), "demo-release")
            .await
            .map_err(wiring)?;
        if let packages::ReleaseOutcome::NotReleasable { reason, .. } = r {
            s.release_refused = Some(format!("{} {} to {}: {reason}", d.isbn, d.channel, v.recipient));
        }
    }
    for d in packages::list(app).await.map_err(wiring)? {
        delivery_figures(&d, s);
        match d.status {
            packages::PackageStatus::Blocked => {
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
                if status == packages::PackageStatus::Released {
                    s.packages_released += 1;
                } else {
                    s.packages_staged += 1;
                }
                if s.package_samples.len() < 5 || status == packages::PackageStatus::Released {
                    s.package_samples.push(format!(
                        "{} {:<5} v{} {}{}",
                        d.isbn,
                        d.channel.as_str(),
                        d.package_version,
                        d.manifest_key.as_deref().unwrap_or(""),
                        if status == packages::PackageStatus::Released {
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
            s.withheld_by_rights += links
                .iter()
                .filter(|l| l.status == LinkStatus::Withdrawn && !l.rights_denials.is_empty())
                .count();
            let trail =
                app.stores.audit.by_title(&title.isbn, PageRequest { limit: 1000, cursor: None }).await?;
            s.audit_records += trail.items.len();
            s.stale_approvals_ignored +=
                trail.items.iter().filter(|r| r.action == AuditAction::ApprovalStale).count();
            s.identifiers_aligned +=
                trail.items.iter().filter(|r| r.action == AuditAction::IdentifiersAligned).count();
            let covered = trail.items.iter().any(|r| r.action == AuditAction::LinkReplaced);
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
                .filter(|r| r.action == AuditAction::IsbnInvalid && r.outcome == Outcome::Rejected)
                .count()
                .min(1);
        }
    }
    s.consonance_resources =
        catalogue.works.iter().map(|w| sims.consonance.supporting_resources(w.work_id).len()).sum();
    s.dead_letters = app.stores.queue.dead_letters(20).await?.into_iter().map(|m| m.message_id).collect();
    Ok(())
}
