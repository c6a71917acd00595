//! Production packages (flow 5): for each product of a work, the files its channel needs,
//! streamed from OTMM into the staging bucket with a `manifest.json` and ONIX
//! `SupportingResource` fragments, recorded as a `package` document with audit records.
//!
//! What goes in is decided by `connector_core::package::plan_package`; this module gathers the
//! facts (links of the work, each linked version from OTMM, the approval audit ids), stages the
//! bytes and writes the record. Idempotent: a rebuild with the same inputs finds the same
//! fingerprint in the document and changes nothing (no upload, no new version); a changed
//! input stages `package_version + 1` under the same keys (the versioned bucket keeps the old
//! objects). One builder per product package at a time (a lease, as for link slots).
//!
//! The document (kind [`DOC_KIND`], id `<isbn13>#<channel>`) is the contract with launch
//! readiness: `isbn`, `channel`, `status` (`staged` | `released` | `blocked`),
//! `package_version`, `manifest_key`, `reasons`, `files[{role, asset_id, version}]`,
//! `updated_at`, and more (checksums, S3 version ids, history, release).

use crate::App;
use crate::systems::SystemError;
use chrono::{DateTime, Utc};
use connector_core::package::{
    BlockedPackage, FileCandidate, PackageDecision, PackagePlan, PackageProduct, StagedFile, manifest_bytes,
    onix_fragment, plan_package,
};
use connector_core::plan::TitleFacts;
use connector_core::{
    AssetId, AssetLink, AuditId, AuditRecord, Channel, Flow, Isbn13, LinkStatus, Outcome, WorkId,
};
use connector_store::{Claim, Document, IdempotencyTtl, PageRequest, StoreError, new_audit_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tracing::info;

mod checks;

/// `Documents` kind of package records.
pub const DOC_KIND: &str = "package";

/// The document id of a product's channel package.
pub fn doc_id(isbn: &Isbn13, channel: Channel) -> String {
    format!("{isbn}#{channel}")
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    System(#[from] SystemError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another worker is building the same package, or a write lost a race: try again.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Invalid(String),
}

impl PackageError {
    pub fn is_transient(&self) -> bool {
        match self {
            PackageError::System(e) => e.is_transient(),
            PackageError::Store(e) => e.is_transient() || e.is_conflict(),
            PackageError::Busy(_) => true,
            PackageError::Invalid(_) => false,
        }
    }
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PackageError::System(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// A file as the document records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocFile {
    pub role: String,
    /// OTMM lineage id (`original_asset_id`).
    pub asset_id: String,
    pub version: u32,
    pub version_asset_id: String,
    pub key: String,
    pub onix_key: String,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    /// S3 object version (None on the directory backend, which keeps no versions).
    #[serde(default)]
    pub s3_version_id: Option<String>,
    /// What the delivery checks read off the bytes (recipients configured and a checker for
    /// the file's type): kept so a rebuild re-judges without re-reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements: Option<connector_core::delivery::FileMeasurements>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub package_version: u32,
    pub staged_at: DateTime<Utc>,
    pub manifest_sha256: String,
    #[serde(default)]
    pub manifest_version_id: Option<String>,
    /// `role asset_id vN` per file.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub package_version: u32,
    pub web_link_id: String,
    pub link: String,
    pub released_at: DateTime<Utc>,
}

/// The body of a `package` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageDoc {
    pub isbn: Isbn13,
    pub channel: Channel,
    /// `staged` | `released` | `blocked`.
    pub status: String,
    /// The last staged version (0: never staged).
    pub package_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_key: Option<String>,
    pub reasons: Vec<String>,
    pub files: Vec<DocFile>,
    pub updated_at: DateTime<Utc>,
    pub product_id: i64,
    pub work_id: i64,
    #[serde(default)]
    pub product_form: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub manifest_sha256: Option<String>,
    #[serde(default)]
    pub manifest_version_id: Option<String>,
    /// Optional files left out and why.
    #[serde(default)]
    pub excluded: Vec<String>,
    #[serde(default)]
    pub release: Option<Release>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Each recipient's verdict on the staged files (issue 18); empty without recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_checks: Vec<connector_core::delivery::RecipientVerdict>,
}

pub const STAGED: &str = "staged";
pub const RELEASED: &str = "released";
pub const BLOCKED: &str = "blocked";

/// What a build did for one product.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BuildOutcome {
    Staged {
        isbn: Isbn13,
        channel: Channel,
        package_version: u32,
        manifest_key: String,
    },
    /// Same inputs as the recorded package: nothing done.
    Unchanged {
        isbn: Isbn13,
        channel: Channel,
        package_version: u32,
    },
    Blocked {
        isbn: Isbn13,
        channel: Channel,
        reasons: Vec<String>,
    },
    /// No file of the required set yet (and nothing recorded): nothing to say.
    NotStarted {
        isbn: Isbn13,
        channel: Channel,
    },
    NotPackaged {
        isbn: Isbn13,
        reason: String,
    },
}

/// Whether some channel's package takes files of `role`.
pub fn takes_role(app: &App, role: connector_core::AssetRole) -> bool {
    app.config.packages.as_ref().is_some_and(|p| p.channels.values().any(|c| c.takes(role)))
}

/// Builds (or confirms) the package of every product of the title's work.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn build_for_work(
    app: &App,
    title: &TitleFacts,
    correlation_id: &str,
) -> Result<Vec<BuildOutcome>, PackageError> {
    if app.config.packages.is_none() {
        return Ok(Vec::new());
    }
    // One builder per work, from reading the links to writing the documents: a builder that
    // read the links before another link was written must not overwrite a newer decision.
    let result =
        with_lease(app, &format!("work:{}", title.work_id), build_work_locked(app, title, correlation_id))
            .await;
    crate::metrics::package_builds(&result);
    result
}

async fn build_work_locked(
    app: &App,
    title: &TitleFacts,
    correlation_id: &str,
) -> Result<Vec<BuildOutcome>, PackageError> {
    let candidates = work_candidates(app, title).await?;
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
        Some(title) => build_for_work(app, &title, correlation_id).await,
        None => Ok(Vec::new()),
    }
}

/// The links of every product of the work, with what OTMM says about each linked version.
async fn work_candidates(app: &App, title: &TitleFacts) -> Result<Vec<FileCandidate>, PackageError> {
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
        let facts = match app.dam.asset(&version_id).await {
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
                        && matches!(r.action.as_str(), "link.created" | "link.replaced")
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

/// Holds a package lease (`lease:package:<name>`) while `f` runs.
async fn with_lease<T>(
    app: &App,
    id: &str,
    f: impl std::future::Future<Output = Result<T, PackageError>>,
) -> Result<T, PackageError> {
    let lease = format!("lease:package:{id}");
    let ttl = IdempotencyTtl { in_progress: app.settings.lease, completed: app.settings.lease };
    let started = std::time::Instant::now();
    loop {
        if app.stores.idempotency.claim(&lease, None, app.now(), ttl).await? == Claim::Acquired {
            break;
        }
        if started.elapsed() >= app.settings.slot_wait {
            return Err(PackageError::Busy(format!("another worker is building package {id}")));
        }
        tokio::time::sleep(app.settings.contention_delay).await;
    }
    let result = f.await;
    let _ = app.stores.idempotency.release(&lease).await;
    result
}

fn read_doc(doc: &Document) -> Result<PackageDoc, PackageError> {
    serde_json::from_value(doc.body.clone()).map_err(|e| {
        PackageError::Store(StoreError::Corrupt {
            key: format!("{}/{}", doc.kind, doc.id),
            message: format!("package document cannot be read: {e}"),
        })
    })
}

#[allow(clippy::too_many_arguments)]
fn audit(
    app: &App,
    action: &str,
    outcome: Outcome,
    isbn: &Isbn13,
    asset: Option<(&AssetId, u32)>,
    detail: String,
    data: serde_json::Value,
    correlation_id: &str,
) -> AuditRecord {
    let at = app.now();
    AuditRecord {
        id: new_audit_id(at),
        at,
        flow: Flow::ProductionPackage,
        action: action.to_string(),
        outcome,
        isbn: Some(isbn.clone()),
        asset_id: asset.map(|(a, _)| a.clone()),
        asset_version: asset.map(|(_, v)| v),
        actor: None,
        correlation_id: correlation_id.to_string(),
        detail,
        data,
    }
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
        && cur.status == BLOCKED
        && cur.reasons == blocked.reasons
    {
        return Ok(BuildOutcome::Blocked { isbn, channel, reasons: blocked.reasons });
    }
    let now = app.now();
    let doc = PackageDoc {
        isbn: isbn.clone(),
        channel,
        status: BLOCKED.into(),
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
        "package.blocked",
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

async fn put_doc(
    app: &App,
    doc: &PackageDoc,
    existing: Option<&Document>,
    audit: &[AuditRecord],
) -> Result<(), PackageError> {
    let body = serde_json::to_value(doc).map_err(|e| PackageError::Invalid(e.to_string()))?;
    let record = Document {
        kind: DOC_KIND.into(),
        id: doc_id(&doc.isbn, doc.channel),
        body,
        updated_at: doc.updated_at,
        revision: existing.map_or(0, |d| d.revision),
    };
    app.stores.documents.put_doc(&record, existing.map(|d| d.revision), audit).await?;
    Ok(())
}

/// Whether the recorded manifest is still the object in staging.
async fn manifest_intact(app: &App, doc: &PackageDoc) -> Result<bool, PackageError> {
    let (Some(key), Some(sha)) = (&doc.manifest_key, &doc.manifest_sha256) else { return Ok(false) };
    Ok(app.stores.staging.head(key).await?.is_some_and(|info| &info.sha256 == sha))
}

async fn stage(
    app: &App,
    product: &PackageProduct,
    plan: PackagePlan,
    existing: Option<&Document>,
    current: Option<PackageDoc>,
    correlation_id: &str,
) -> Result<BuildOutcome, PackageError> {
    let (isbn, channel) = (plan.isbn.clone(), plan.channel);
    let recipients = checks::recipients(app, &plan);
    // The recipients' specs are inputs too: a spec change re-judges the same files.
    let fingerprint = if recipients.is_empty() {
        plan.fingerprint.clone()
    } else {
        let specs = connector_core::delivery::recipients_fingerprint(recipients.iter().copied());
        format!("{}+{specs}", plan.fingerprint)
    };
    let same_inputs = current.as_ref().is_some_and(|c| {
        (c.status == STAGED || c.status == RELEASED || (c.status == BLOCKED && !c.delivery_checks.is_empty()))
            && c.fingerprint.as_deref() == Some(fingerprint.as_str())
    });
    if same_inputs
        && let Some(cur) = &current
        && manifest_intact(app, cur).await?
    {
        return Ok(BuildOutcome::Unchanged { isbn, channel, package_version: cur.package_version });
    }
    // Same inputs but the staged manifest is gone or altered: stage the same version again.
    let previous = current.as_ref().map_or(0, |c| c.package_version);
    let package_version = if same_inputs { previous.max(1) } else { previous + 1 };

    // The files: streamed from OTMM, unless the same version is already staged at the key.
    let mut staged = Vec::with_capacity(plan.files.len());
    let mut doc_files = Vec::with_capacity(plan.files.len());
    for f in &plan.files {
        let reusable = match current.as_ref().and_then(|c| {
            c.files.iter().find(|d| d.key == f.key && d.version_asset_id == f.version_asset_id.as_str())
        }) {
            Some(d) => match app.stores.staging.head(&f.key).await? {
                Some(info) if info.sha256 == d.sha256 && info.size == d.size => Some(d.clone()),
                _ => None,
            },
            None => None,
        };
        // Checked files are reused only with their measurements.
        let reusable = reusable.filter(|d| {
            recipients.is_empty()
                || d.measurements.is_some()
                || delivery::FileKind::from_mime(&f.mime_type).is_none()
        });
        let file = match reusable {
            Some(d) => d,
            None => {
                let body = app.dam.content_stream(&f.version_asset_id).await?;
                let (info, measurements) = if recipients.is_empty() {
                    (app.stores.staging.put_stream(&f.key, body, &f.mime_type).await?, None)
                } else {
                    checks::put_measured(app, &f.key, body, &f.mime_type).await?
                };
                DocFile {
                    role: f.role.to_string(),
                    asset_id: f.lineage_id.to_string(),
                    version: f.version,
                    version_asset_id: f.version_asset_id.to_string(),
                    key: f.key.clone(),
                    onix_key: f.onix_key.clone(),
                    size: info.size,
                    sha256: info.sha256,
                    md5: info.md5,
                    s3_version_id: info.version_id,
                    measurements,
                }
            }
        };
        staged.push(StagedFile { size: file.size, sha256: file.sha256.clone(), md5: file.md5.clone() });
        doc_files.push(file);
    }
    for (f, s) in plan.files.iter().zip(&staged) {
        let xml = onix_fragment(f, s).map_err(|e| PackageError::Invalid(e.to_string()))?;
        app.stores.staging.put(&f.onix_key, xml.into_bytes().into(), "application/xml").await?;
    }
    let verdicts = checks::judge(&isbn, &recipients, &doc_files);
    let manifest =
        manifest_bytes(&plan, &staged, package_version).map_err(|e| PackageError::Invalid(e.to_string()))?;
    let manifest = checks::manifest_with_checks(manifest, &verdicts);
    // Flagged before the document is written: a failed flag retries the build.
    checks::flag_in_otmm(app, &checks::failed_files(&doc_files, &verdicts)).await?;
    let cleared = checks::cleared_files(current.as_ref(), &doc_files, &verdicts);
    let cleared_records =
        checks::clear_in_otmm(app, &plan, package_version, &cleared, &verdicts, correlation_id).await?;
    let check_reasons: Vec<String> = verdicts.iter().flat_map(|v| v.reasons()).collect();
    let all_blocked = !verdicts.is_empty() && verdicts.iter().all(|v| !v.passed);
    let manifest_info =
        app.stores.staging.put(&plan.manifest_key, manifest.into(), "application/json").await?;

    let now = app.now();
    let file_lines: Vec<String> =
        doc_files.iter().map(|f| format!("{} {} v{}", f.role, f.asset_id, f.version)).collect();
    let mut history = current.as_ref().map(|c| c.history.clone()).unwrap_or_default();
    history.retain(|h| h.package_version != package_version);
    history.push(HistoryEntry {
        package_version,
        staged_at: now,
        manifest_sha256: manifest_info.sha256.clone(),
        manifest_version_id: manifest_info.version_id.clone(),
        files: file_lines.clone(),
    });
    let doc = PackageDoc {
        isbn: isbn.clone(),
        channel,
        // Blocked when no recipient may have it; otherwise staged, with the blocked ones named.
        status: if all_blocked { BLOCKED } else { STAGED }.into(),
        package_version,
        manifest_key: Some(plan.manifest_key.clone()),
        reasons: check_reasons,
        files: doc_files.clone(),
        updated_at: now,
        product_id: product.product_id.0,
        work_id: product.work_id.0,
        product_form: Some(plan.form.to_string()),
        fingerprint: Some(fingerprint.clone()),
        manifest_sha256: Some(manifest_info.sha256.clone()),
        manifest_version_id: manifest_info.version_id.clone(),
        excluded: plan.excluded.clone(),
        release: current.as_ref().and_then(|c| c.release.clone()),
        history,
        delivery_checks: verdicts.clone(),
    };
    let files_json: Vec<serde_json::Value> = doc_files
        .iter()
        .map(|f| {
            serde_json::json!({
                "role": f.role, "asset_id": f.asset_id, "version": f.version,
                "version_asset_id": f.version_asset_id, "key": f.key, "sha256": f.sha256,
                "s3_version_id": f.s3_version_id,
            })
        })
        .collect();
    let mut records = vec![audit(
        app,
        "package.staged",
        Outcome::Applied,
        &isbn,
        None,
        format!(
            "{channel} package v{package_version} of {isbn} staged at {}: {}",
            plan.manifest_key,
            file_lines.join(", ")
        ),
        serde_json::json!({
            "channel": channel, "package_version": package_version, "manifest_key": plan.manifest_key,
            "manifest_sha256": manifest_info.sha256, "manifest_version_id": manifest_info.version_id,
            "files": files_json, "excluded": plan.excluded, "previous_version": previous,
        }),
        correlation_id,
    )];
    // One record per file on the asset's own trail: which version went into which package.
    for f in &plan.files {
        records.push(audit(
            app,
            "package.file_staged",
            Outcome::Applied,
            &isbn,
            Some((&f.lineage_id, f.version)),
            format!("{} v{} is the {} of {channel} package v{package_version} of {isbn}", f.lineage_id, f.version, f.role),
            serde_json::json!({"channel": channel, "package_version": package_version, "key": f.key, "version_asset_id": f.version_asset_id}),
            correlation_id,
        ));
    }
    records.extend(checks::blocked_records(app, &plan, package_version, &verdicts, correlation_id));
    records.extend(cleared_records);
    put_doc(app, &doc, existing, &records).await?;
    info!(%isbn, %channel, package_version, "package staged");
    Ok(BuildOutcome::Staged { isbn, channel, package_version, manifest_key: plan.manifest_key })
}

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
    with_lease(app, &format!("work:{work}"), async {
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
        if doc.status == RELEASED {
            return Ok(ReleaseOutcome::AlreadyReleased {
                isbn: isbn.clone(),
                channel,
                package_version: doc.package_version,
            });
        }
        let Some(manifest_key) = doc.manifest_key.clone().filter(|_| doc.status == STAGED) else {
            return Ok(ReleaseOutcome::NotReleasable {
                isbn: isbn.clone(),
                channel,
                reason: format!("the package is {}: {}", doc.status, doc.reasons.join("; ")),
            });
        };
        let link = packages.link_for(&manifest_key);
        let note = format!("Production package ({channel}) v{}: manifest", doc.package_version);
        let key = format!("package-release:{id}:v{}", doc.package_version);
        let ttl = app.settings.idempotency_ttl;
        let web_link_id = match app.stores.idempotency.claim(&key, None, app.now(), ttl).await? {
            Claim::Completed { data: Some(id) } => id,
            Claim::InProgress { .. } => return Err(PackageError::Busy(format!("{key} is being applied"))),
            Claim::Acquired | Claim::Completed { data: None } => {
                match app.pms.ensure_web_link(isbn, &link, &packages.release_link_role, &note).await {
                    Ok(id) => {
                        app.stores.idempotency.complete(&key, Some(&id), app.now(), ttl).await?;
                        id
                    }
                    Err(e) => {
                        let _ = app.stores.idempotency.release(&key).await;
                        return Err(e.into());
                    }
                }
            }
        };
        let now = app.now();
        let released = PackageDoc {
            status: RELEASED.into(),
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
            "package.released",
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

/// Every package document, in id order.
pub async fn list(app: &App) -> Result<Vec<PackageDoc>, PackageError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = app.stores.documents.list_docs(DOC_KIND, PageRequest { limit: 200, cursor }).await?;
        for d in &page.items {
            out.push(read_doc(d)?);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
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
