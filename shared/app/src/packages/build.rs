//! Building: the candidate files of a work (its links, what OTMM says about each linked
//! version, the approval audit ids), the decision per product, and the blocked record.

use super::stage::stage;
use super::{
    BuildOutcome, DOC_KIND, PackageDoc, PackageError, PackageStatus, audit, doc_id, put_doc, read_doc,
    with_work_lease,
};
use crate::App;
use crate::systems::SystemError;
use connector_core::package::{BlockedPackage, FileCandidate, PackageDecision, PackageProduct, plan_package};
use connector_core::plan::{AssetFacts, TitleFacts};
use connector_core::{AssetLink, AuditAction, AuditId, Isbn13, LinkStatus, Outcome, WorkId};
use connector_store::{Document, PageRequest};
use std::collections::BTreeMap;
use tracing::info;

/// Builds (or confirms) the package of every product of the title's work. `known`: a version
/// just read from OTMM (a link's follow-up carries it), used for that version's link instead of
/// reading it again while the link still holds what was read with it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn build_for_work(
    app: &App,
    title: &TitleFacts,
    known: Option<&AssetFacts>,
    correlation_id: &str,
) -> Result<Vec<BuildOutcome>, PackageError> {
    if app.config.packages.is_none() {
        return Ok(Vec::new());
    }
    // One builder per work, from reading the links to writing the documents: a builder that
    // read the links before another link was written must not overwrite a newer decision.
    let result =
        with_work_lease(app, title.work_id, build_work_locked(app, title, known, correlation_id)).await;
    crate::metrics::package_builds(&result);
    result
}

async fn build_work_locked(
    app: &App,
    title: &TitleFacts,
    known: Option<&AssetFacts>,
    correlation_id: &str,
) -> Result<Vec<BuildOutcome>, PackageError> {
    let candidates = work_candidates(app, title, known).await?;
    let mut out = Vec::new();
    for p in &title.products {
        let Some(isbn) = &p.isbn else { continue };
        let product = PackageProduct {
            isbn: isbn.clone(),
            product_id: p.product_id,
            work_id: title.work_id,
            title: title.title.clone(),
            form: p.form.clone(),
            publication_date: p.publication_date,
            sales_rights: p.sales_rights.clone(),
        };
        out.push(build_product(app, &product, &candidates, correlation_id).await?);
    }
    Ok(out)
}

/// Builds the packages of the work the ISBN belongs to (a no-op when Consonance does not know it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn build_for_isbn(
    app: &App,
    isbn: &Isbn13,
    correlation_id: &str,
) -> Result<Vec<BuildOutcome>, PackageError> {
    match app.pms.title_by_isbn(isbn).await? {
        Some(title) => build_for_work(app, &title, None, correlation_id).await,
        None => Ok(Vec::new()),
    }
}

/// The links of every product of the work, with what OTMM says about each linked version
/// (`known` for its own version while the link holds the rights read with it: a later change
/// of them rewrote the link, and then OTMM is read again).
async fn work_candidates(
    app: &App,
    title: &TitleFacts,
    known: Option<&AssetFacts>,
) -> Result<Vec<FileCandidate>, PackageError> {
    let Some(packages) = &app.config.packages else { return Ok(Vec::new()) };
    let mut links: BTreeMap<String, AssetLink> = BTreeMap::new();
    for p in &title.products {
        let Some(isbn) = &p.isbn else { continue };
        for link in app.stores.mapping.links_for_title(isbn).await? {
            if packages.channels.values().any(|c| c.takes(link.key.role)) {
                links.insert(format!("{}|{}|{}", link.key.isbn, link.key.role, link.key.slot), link);
            }
        }
    }
    let mut out = Vec::new();
    for link in links.into_values() {
        let version_id = link.version_asset_id.clone().unwrap_or_else(|| link.approval.asset_id.clone());
        let known = known.filter(|k| k.asset_id == version_id && link.rights.as_ref() == Some(&k.rights));
        let read = match known {
            Some(k) => Ok(k.clone()),
            None => app.dam.asset(&version_id).await,
        };
        let facts = match read {
            Ok(f) => Some(f),
            Err(SystemError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let linked = link.status == LinkStatus::Linked && facts.as_ref().is_some_and(|f| !f.deleted);
        let approval_audit_ids = if linked { approval_audit_ids(app, &link).await? } else { Vec::new() };
        out.push(FileCandidate {
            role: link.key.role,
            lineage_id: link.approval.asset_id.clone(),
            version_asset_id: version_id,
            version: link.approval.version,
            linked,
            approved_at: link.approval.approved_at,
            approved_by: link.approved_by.as_ref().map(|a| a.user_id.clone()),
            file_name: facts.as_ref().map(|f| f.name.clone()).unwrap_or_default(),
            mime_type: facts.as_ref().map(|f| f.mime_type.clone()).unwrap_or_default(),
            // OTMM's current rights for the version (the link's snapshot if OTMM is silent).
            rights: facts.map(|f| f.rights).or(link.rights.clone()),
            approval_audit_ids,
        });
    }
    Ok(out)
}

/// The audit records of the linked version reaching Consonance.
async fn approval_audit_ids(app: &App, link: &AssetLink) -> Result<Vec<AuditId>, PackageError> {
    let mut ids = Vec::new();
    let mut cursor = None;
    // The trail of one lineage is short; two pages are plenty, and the oldest matter less.
    for _ in 0..2 {
        let page =
            app.stores.audit.by_asset(&link.approval.asset_id, PageRequest { limit: 100, cursor }).await?;
        ids.extend(
            page.items
                .iter()
                .filter(|r| {
                    r.asset_version == Some(link.approval.version)
                        && r.outcome == Outcome::Applied
                        && matches!(r.action, AuditAction::LinkCreated | AuditAction::LinkReplaced)
                })
                .map(|r| r.id.clone()),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids.sort();
    Ok(ids)
}

async fn build_product(
    app: &App,
    product: &PackageProduct,
    candidates: &[FileCandidate],
    correlation_id: &str,
) -> Result<BuildOutcome, PackageError> {
    let decision = plan_package(product, candidates, &app.config, app.now().date_naive());
    let channel = match &decision {
        PackageDecision::NotPackaged { reason } => {
            return Ok(BuildOutcome::NotPackaged { isbn: product.isbn.clone(), reason: reason.clone() });
        }
        PackageDecision::Blocked(b) => b.channel,
        PackageDecision::Ready(p) => p.channel,
    };
    // The caller holds the work's lease; a release writes the document conditionally too.
    let id = doc_id(&product.isbn, channel);
    let existing = app.stores.documents.get_doc(DOC_KIND, &id).await?;
    let current = existing.as_ref().map(read_doc).transpose()?;
    match decision {
        PackageDecision::Blocked(b) => {
            record_blocked(app, product, b, existing.as_ref(), current, correlation_id).await
        }
        PackageDecision::Ready(plan) => {
            stage(app, product, plan, existing.as_ref(), current, correlation_id).await
        }
        PackageDecision::NotPackaged { reason } => {
            Ok(BuildOutcome::NotPackaged { isbn: product.isbn.clone(), reason })
        }
    }
}

async fn record_blocked(
    app: &App,
    product: &PackageProduct,
    blocked: BlockedPackage,
    existing: Option<&Document>,
    current: Option<PackageDoc>,
    correlation_id: &str,
) -> Result<BuildOutcome, PackageError> {
    let (isbn, channel) = (blocked.isbn.clone(), blocked.channel);
    if blocked.nothing_yet && current.is_none() {
        return Ok(BuildOutcome::NotStarted { isbn, channel });
    }
    if let Some(cur) = &current
        && cur.status == PackageStatus::Blocked
        && cur.reasons == blocked.reasons
    {
        return Ok(BuildOutcome::Blocked { isbn, channel, reasons: blocked.reasons });
    }
    let now = app.now();
    let doc = PackageDoc {
        isbn: isbn.clone(),
        channel,
        status: PackageStatus::Blocked,
        package_version: current.as_ref().map_or(0, |c| c.package_version),
        manifest_key: None,
        reasons: blocked.reasons.clone(),
        files: Vec::new(),
        updated_at: now,
        product_id: product.product_id.0,
        work_id: product.work_id.0,
        product_form: product.form.as_ref().map(|f| f.to_string()),
        fingerprint: None,
        manifest_sha256: None,
        manifest_version_id: None,
        excluded: Vec::new(),
        // A release and the history stay: they say what partners may already have.
        release: current.as_ref().and_then(|c| c.release.clone()),
        history: current.map(|c| c.history).unwrap_or_default(),
        delivery_checks: Vec::new(),
    };
    let detail = format!("{channel} package of {isbn} blocked: {}", blocked.reasons.join("; "));
    let rec = audit(
        app,
        AuditAction::PackageBlocked,
        Outcome::Rejected,
        &isbn,
        None,
        detail,
        serde_json::json!({"channel": channel, "reasons": blocked.reasons, "package_version": doc.package_version}),
        correlation_id,
    );
    put_doc(app, &doc, existing, &[rec]).await?;
    info!(%isbn, %channel, "package blocked");
    Ok(BuildOutcome::Blocked { isbn, channel, reasons: blocked.reasons })
}

/// Builds the packages of every work the mapping knows a title of (the `connector package`
/// command and the demo; also a repair pass). Works are visited once each.
pub async fn build_all(app: &App, correlation_id: &str) -> Result<Vec<BuildOutcome>, PackageError> {
    let mut works: BTreeMap<WorkId, Isbn13> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = app.stores.mapping.list_titles(PageRequest { limit: 200, cursor }).await?;
        for t in page.items {
            works.entry(t.work_id).or_insert(t.isbn);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut out = Vec::new();
    for isbn in works.values() {
        out.extend(build_for_isbn(app, isbn, correlation_id).await?);
    }
    Ok(out)
}
