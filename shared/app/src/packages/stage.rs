//! Staging: the files streamed from OTMM into the staging bucket (reused when already there),
//! the ONIX fragments, the manifest, the delivery checks, and the `staged` record.

use super::{
    BuildOutcome, DocFile, HistoryEntry, PackageDoc, PackageError, PackageStatus, audit, checks, put_doc,
};
use crate::App;
use connector_core::package::{PackagePlan, PackageProduct, StagedFile, manifest_bytes, onix_fragment};
use connector_core::{AuditAction, Outcome};
use connector_store::Document;
use tracing::info;

/// Whether the recorded manifest is still the object in staging.
async fn manifest_intact(app: &App, doc: &PackageDoc) -> Result<bool, PackageError> {
    let (Some(key), Some(sha)) = (&doc.manifest_key, &doc.manifest_sha256) else { return Ok(false) };
    Ok(app.stores.staging.head(key).await?.is_some_and(|info| &info.sha256 == sha))
}

pub(super) async fn stage(
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
        (c.status.is_staged() || (c.status == PackageStatus::Blocked && !c.delivery_checks.is_empty()))
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
        status: if all_blocked { PackageStatus::Blocked } else { PackageStatus::Staged },
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
        AuditAction::PackageStaged,
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
            AuditAction::PackageFileStaged,
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
