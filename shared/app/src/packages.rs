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
use connector_core::{AssetId, AuditAction, AuditRecord, Channel, Flow, Isbn13, Outcome};
use connector_store::{Document, PageRequest, StoreError, keys, new_audit_id};
use serde::{Deserialize, Serialize};

mod build;
mod checks;
mod release;
mod stage;
pub use build::{build_all, build_for_isbn, build_for_work};
pub use connector_core::package::PackageStatus;
pub use release::{ReleaseOutcome, release};

/// `Documents` kind of package records and a package's document id (`<isbn13>#<channel>`):
/// the store's declarations, under the names this module's callers use.
pub use connector_store::keys::{PACKAGE_KIND as DOC_KIND, package_doc_id as doc_id};

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
    pub status: PackageStatus,
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

/// Holds the work's package lease (`keys::work_package_lease`: one builder per work) while `f` runs.
async fn with_work_lease<T>(
    app: &App,
    work: connector_core::WorkId,
    f: impl std::future::Future<Output = Result<T, PackageError>>,
) -> Result<T, PackageError> {
    let busy = |_| PackageError::Busy(format!("another worker is building the packages of work {work}"));
    crate::once::with_lease(app, &keys::work_package_lease(&work), busy, f).await
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
    action: AuditAction,
    outcome: Outcome,
    isbn: &Isbn13,
    asset: Option<(&AssetId, u32)>,
    detail: String,
    data: serde_json::Value,
    correlation_id: &str,
) -> AuditRecord {
    let at = app.now();
    AuditRecord {
        isbn: Some(isbn.clone()),
        asset_id: asset.map(|(a, _)| a.clone()),
        asset_version: asset.map(|(_, v)| v),
        correlation_id: correlation_id.to_string(),
        detail,
        data,
        ..AuditRecord::new(new_audit_id(at), at, Flow::ProductionPackage, action, outcome)
    }
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
