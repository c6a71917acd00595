//! Delivery checks in the packages build (issue 18): each file is measured on the stream that
//! stages it (`delivery::tee`: the same chunks go to `Staging::put_stream`), the package's
//! measurements are held against every recipient of its channel and form, the manifest and
//! the document record each verdict, a failed recipient is audited as `package.blocked`, and
//! the failing asset is flagged in OTMM (`[packages] check_flag_field`).
//!
//! A transient fault while reading from OTMM fails `put_stream` first: the build is retried,
//! never judged on a partial file.

use super::{DocFile, PackageError, audit};
use crate::App;
use connector_core::config::Recipient;
use connector_core::delivery::{FileMeasurements, PackageMeasurements, RecipientVerdict, failures};
use connector_core::package::PackagePlan;
use connector_core::{AssetId, AuditAction, Isbn13, Outcome};
use connector_store::{ByteStream, ObjectInfo};
use futures::StreamExt;

/// The recipients of the plan's product (empty: no checks, today's packages).
pub(super) fn recipients<'a>(app: &'a App, plan: &'a PackagePlan) -> Vec<&'a Recipient> {
    app.config
        .packages
        .as_ref()
        .map(|p| p.recipients_for(plan.channel, &plan.form).collect())
        .unwrap_or_default()
}

/// The name the recipient receives the file under: the staged key's last segment.
pub(super) fn delivered_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Stages `body` at `key`, measuring it on the way when a checker reads its type.
pub(super) async fn put_measured(
    app: &App,
    key: &str,
    body: ByteStream,
    mime_type: &str,
) -> Result<(ObjectInfo, Option<FileMeasurements>), PackageError> {
    let Some(kind) = delivery::FileKind::from_mime(mime_type) else {
        return Ok((app.stores.staging.put_stream(key, body, mime_type).await?, None));
    };
    let (passed_on, meter) = delivery::tee(kind, delivered_name(key), body, delivery::Options::default());
    // A read or upload fault is the build's error (transient ones retried): never a verdict.
    let info = app.stores.staging.put_stream(key, passed_on.boxed(), mime_type).await?;
    Ok((info, Some(meter.finish().await)))
}

/// The verdicts of the recipients over the staged files' measurements.
pub(super) fn judge(isbn: &Isbn13, recipients: &[&Recipient], files: &[DocFile]) -> Vec<RecipientVerdict> {
    let package = PackageMeasurements {
        isbn: isbn.to_string(),
        files: files.iter().filter_map(|f| f.measurements.clone()).collect(),
    };
    connector_core::delivery::verdicts(recipients.iter().copied(), &package)
}

/// The manifest with a `delivery_checks` section (recipient, spec, every check with its
/// measured value and limit). Without recipients the manifest is today's, byte for byte.
pub(super) fn manifest_with_checks(bytes: Vec<u8>, verdicts: &[RecipientVerdict]) -> Vec<u8> {
    if verdicts.is_empty() {
        return bytes;
    }
    let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return bytes };
    m["delivery_checks"] = serde_json::to_value(verdicts).unwrap_or_default();
    let mut out = serde_json::to_vec_pretty(&m).unwrap_or(bytes);
    out.push(b'\n');
    out
}

/// One `package.blocked` record per failed recipient, naming every failed check.
pub(super) fn blocked_records(
    app: &App,
    plan: &PackagePlan,
    package_version: u32,
    verdicts: &[RecipientVerdict],
    correlation_id: &str,
) -> Vec<connector_core::AuditRecord> {
    verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| {
            let reasons = v.reasons();
            audit(
                app,
                AuditAction::PackageBlocked,
                Outcome::Rejected,
                &plan.isbn,
                None,
                format!(
                    "{} package v{package_version} of {} blocked for {}: {}",
                    plan.channel,
                    plan.isbn,
                    v.recipient,
                    reasons.join("; ")
                ),
                serde_json::json!({
                    "channel": plan.channel, "package_version": package_version,
                    "recipient": v.recipient, "reasons": reasons,
                    "failed_checks": failures(&v.checks).collect::<Vec<_>>(),
                }),
                correlation_id,
            )
        })
        .collect()
}

/// Per staged file (by OTMM version asset id), the reasons it failed any recipient.
pub(super) fn failed_files(
    files: &[DocFile],
    verdicts: &[RecipientVerdict],
) -> Vec<(AssetId, String, Vec<String>)> {
    files
        .iter()
        .filter_map(|f| {
            let name = delivered_name(&f.key);
            let reasons: Vec<String> = verdicts
                .iter()
                .flat_map(|v| {
                    failures(&v.checks)
                        .filter(|c| c.file == name)
                        .map(|c| format!("{}: {}", v.recipient, c.reason))
                })
                .collect();
            let id = AssetId::parse(&f.version_asset_id).ok()?;
            (!reasons.is_empty()).then(|| (id, f.role.clone(), reasons))
        })
        .collect()
}

/// Flags each failing asset version in OTMM with its reasons (when a field is configured).
pub(super) async fn flag_in_otmm(
    app: &App,
    failed: &[(AssetId, String, Vec<String>)],
) -> Result<(), PackageError> {
    let Some(field) = app.config.packages.as_ref().and_then(|p| p.check_flag_field.clone()) else {
        return Ok(());
    };
    for (asset, _, reasons) in failed {
        let value = format!("Delivery check failed: {}", reasons.join("; "));
        app.dam.update_fields(asset, &[(field.clone(), value)]).await?;
    }
    Ok(())
}

/// The files the previous build of this package flagged that now pass every recipient (the
/// same OTMM version: a new version was never flagged). A file not re-checked is not cleared.
pub(super) fn cleared_files<'a>(
    previous: Option<&super::PackageDoc>,
    files: &'a [DocFile],
    verdicts: &[RecipientVerdict],
) -> Vec<&'a DocFile> {
    let Some(previous) = previous else { return Vec::new() };
    if verdicts.is_empty() {
        return Vec::new();
    }
    let flagged: Vec<&str> = previous
        .files
        .iter()
        .filter(|f| {
            let name = delivered_name(&f.key);
            previous.delivery_checks.iter().any(|v| failures(&v.checks).any(|c| c.file == name))
        })
        .map(|f| f.version_asset_id.as_str())
        .collect();
    files
        .iter()
        .filter(|f| f.measurements.is_some() && flagged.contains(&f.version_asset_id.as_str()))
        .filter(|f| {
            let name = delivered_name(&f.key);
            !verdicts.iter().any(|v| failures(&v.checks).any(|c| c.file == name))
        })
        .collect()
}

/// Sets the flag field of each cleared file to say it passed (OTMM keeps the field's history
/// in the asset's metadata; a passed value says more than an empty one), and audits it on the
/// asset's trail as `package.check_passed`.
pub(super) async fn clear_in_otmm(
    app: &App,
    plan: &PackagePlan,
    package_version: u32,
    cleared: &[&DocFile],
    verdicts: &[RecipientVerdict],
    correlation_id: &str,
) -> Result<Vec<connector_core::AuditRecord>, PackageError> {
    let Some(field) = app.config.packages.as_ref().and_then(|p| p.check_flag_field.clone()) else {
        return Ok(Vec::new());
    };
    let recipients: Vec<&str> = verdicts.iter().map(|v| v.recipient.as_str()).collect();
    let mut records = Vec::with_capacity(cleared.len());
    for f in cleared {
        let (Ok(version_asset), Ok(lineage)) =
            (AssetId::parse(&f.version_asset_id), AssetId::parse(&f.asset_id))
        else {
            continue;
        };
        let value = format!(
            "Delivery checks passed: {} ({} package v{package_version} of {})",
            recipients.join(", "),
            plan.channel,
            plan.isbn
        );
        app.dam.update_fields(&version_asset, &[(field.clone(), value.clone())]).await?;
        records.push(audit(
            app,
            AuditAction::PackageCheckPassed,
            Outcome::Applied,
            &plan.isbn,
            Some((&lineage, f.version)),
            format!(
                "{} v{} passes every recipient's delivery checks again: {field} set to \"{value}\"",
                f.asset_id, f.version
            ),
            serde_json::json!({
                "channel": plan.channel, "package_version": package_version, "field": field,
                "value": value, "recipients": recipients, "file": delivered_name(&f.key),
            }),
            correlation_id,
        ));
    }
    Ok(records)
}
