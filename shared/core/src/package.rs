//! Production packages (flow 5), decided purely.
//!
//! Given one product (a Consonance product with its form, publication date and sales rights),
//! the candidate files of its work (live links with their OTMM facts and rights) and the
//! `[packages]` config, [`plan_package`] says either which files go into the product's channel
//! package, under which object keys, or why it is blocked. [`manifest_bytes`] and
//! [`onix_fragment`] then describe the staged files once their sizes and checksums are known.
//!
//! Deterministic: the same inputs give the same plan, keys, fingerprint and manifest bytes (no
//! clock is read; the only times written are approval times taken from the inputs).
//!
//! Keys are stable across versions: `packages/<isbn13>/<channel>/<role>.<ext>` for single-slot
//! roles and `.../<role>-<lineage id>.<ext>` for multi-slot ones, `.../onix/<same stem>.xml`
//! and `.../manifest.json`. A newer approved version overwrites the same keys, and the
//! versioned bucket keeps what was there before; the manifest names the versions.

use crate::audit::AuditId;
use crate::config::{MappingConfig, ProductForm};
use crate::ids::{AssetId, Isbn13, ProductId, WorkId};
use crate::onix::{self, ResourceFile};
use crate::rights::{AssetRights, Channel, ProductSalesRights};
use crate::rights_eval::{self, RightsReason};
use crate::role::AssetRole;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Where a product's channel package stands, as its `package` document records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageStatus {
    /// Files and manifest in staging, not yet released.
    Staged,
    /// Staged, and a web link to its manifest is on the Consonance product.
    Released,
    /// Not staged (rights), or staged but failed by every recipient's checks.
    Blocked,
}

impl PackageStatus {
    pub const ALL: [PackageStatus; 3] =
        [PackageStatus::Staged, PackageStatus::Released, PackageStatus::Blocked];

    pub fn as_str(self) -> &'static str {
        match self {
            PackageStatus::Staged => "staged",
            PackageStatus::Released => "released",
            PackageStatus::Blocked => "blocked",
        }
    }

    /// Whether the files are in staging for partners (staged or released).
    pub fn is_staged(self) -> bool {
        matches!(self, PackageStatus::Staged | PackageStatus::Released)
    }
}

impl std::fmt::Display for PackageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The product a package is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageProduct {
    pub isbn: Isbn13,
    pub product_id: ProductId,
    pub work_id: WorkId,
    pub title: String,
    pub form: Option<ProductForm>,
    pub publication_date: Option<NaiveDate>,
    pub sales_rights: ProductSalesRights,
}

/// One file that may go into a package: a link of the product's work, with what OTMM says
/// about the linked version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCandidate {
    pub role: AssetRole,
    /// The lineage (first version's id, OTMM `original_asset_id`).
    pub lineage_id: AssetId,
    /// The linked version's own id.
    pub version_asset_id: AssetId,
    pub version: u32,
    /// `false` for a link that is withdrawn, pending or failed: it never goes into a package.
    pub linked: bool,
    pub approved_at: DateTime<Utc>,
    pub approved_by: Option<String>,
    pub file_name: String,
    pub mime_type: String,
    /// The version's usage rights; `None` (unknown) fails closed.
    pub rights: Option<AssetRights>,
    /// Audit records of the approval reaching Consonance (`link.created` / `link.replaced`).
    pub approval_audit_ids: Vec<AuditId>,
}

/// A file the package takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFile {
    pub role: AssetRole,
    pub lineage_id: AssetId,
    pub version_asset_id: AssetId,
    pub version: u32,
    pub key: String,
    pub onix_key: String,
    /// Where partners fetch it (`[packages] link_base_url` + key): the ONIX ResourceLink.
    pub link: String,
    pub file_name: String,
    pub mime_type: String,
    pub approved_at: DateTime<Utc>,
    pub approved_by: Option<String>,
    pub approval_audit_ids: Vec<AuditId>,
    pub rights: AssetRights,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackagePlan {
    pub isbn: Isbn13,
    pub product_id: ProductId,
    pub work_id: WorkId,
    pub title: String,
    pub form: ProductForm,
    pub channel: Channel,
    pub publication_date: Option<NaiveDate>,
    pub sales_rights: ProductSalesRights,
    /// Sorted by key.
    pub files: Vec<PlannedFile>,
    /// Optional files left out, and why.
    pub excluded: Vec<String>,
    pub manifest_key: String,
    /// SHA-256 of everything above: equal fingerprints mean an identical package.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockedPackage {
    pub isbn: Isbn13,
    pub product_id: ProductId,
    pub channel: Channel,
    /// Human-readable, naming the role, asset, country or channel, and date; sorted.
    pub reasons: Vec<String>,
    /// No file of any required role is there yet: the package has not started, not failed.
    pub nothing_yet: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PackageDecision {
    /// The product is not packaged (no `[packages]`, or its form is in no channel).
    NotPackaged {
        reason: String,
    },
    Blocked(BlockedPackage),
    Ready(PackagePlan),
}

/// What staging reported for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedFile {
    pub size: u64,
    pub sha256: String,
    pub md5: String,
}

/// The package prefix of a product's channel.
pub fn package_prefix(isbn: &Isbn13, channel: Channel) -> String {
    format!("packages/{isbn}/{channel}/")
}

/// The stem of a file's keys: the role, plus the lineage for multi-slot roles.
pub fn file_stem(role: AssetRole, lineage: &AssetId) -> String {
    if role.is_single_slot() { role.as_str().to_string() } else { format!("{role}-{lineage}") }
}

/// A short, safe extension: the file name's own when it has a sensible one, else the MIME type's.
pub fn extension(file_name: &str, mime_type: &str) -> String {
    let from_name = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()));
    from_name.unwrap_or_else(|| {
        match mime_type.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/tiff" => "tif",
            "application/pdf" => "pdf",
            "audio/mpeg" => "mp3",
            "audio/mp4" => "m4a",
            "video/mp4" => "mp4",
            "application/epub+zip" => "epub",
            _ => "bin",
        }
        .to_string()
    })
}

/// Why a file may not be used for a product on the package's channel at `date`: every reason
/// [`rights_eval::reasons`] gives, the same rule links follow (one territory computation for
/// both). `Ok` when the file's rights cover the product.
pub fn file_rights(
    rights: &AssetRights,
    product: &ProductSalesRights,
    channel: Channel,
    date: NaiveDate,
) -> Result<(), Vec<RightsReason>> {
    let why = rights_eval::reasons(rights, product, Some(&BTreeSet::from([channel])), None, date);
    if why.is_empty() { Ok(()) } else { Err(why) }
}

/// The product's sales territory in the compact form (`WORLD -US`, `GB IE`).
pub fn sales_territory(s: &ProductSalesRights) -> String {
    if s.for_sale_worldwide {
        let mut parts = vec!["WORLD".to_string()];
        parts.extend(s.not_for_sale.iter().map(|c| format!("-{c}")));
        parts.join(" ")
    } else {
        let list: Vec<String> =
            s.for_sale.iter().filter(|c| !s.not_for_sale.contains(c)).map(|c| c.to_string()).collect();
        if list.is_empty() { "nowhere".to_string() } else { list.join(" ") }
    }
}

/// The date rights are checked for: the publication date, or today once it has passed (a
/// package made after publication is used from today).
pub fn rights_date(publication_date: Option<NaiveDate>, as_of: NaiveDate) -> NaiveDate {
    publication_date.map_or(as_of, |p| p.max(as_of))
}

/// Decides the package of `product` from the candidate files of its work.
pub fn plan_package(
    product: &PackageProduct,
    candidates: &[FileCandidate],
    config: &MappingConfig,
    as_of: NaiveDate,
) -> PackageDecision {
    let Some(packages) = &config.packages else {
        return PackageDecision::NotPackaged { reason: format!("{} has no [packages] table", config.source) };
    };
    let Some(form) = &product.form else {
        return PackageDecision::NotPackaged {
            reason: format!("product {} has no product form", product.isbn),
        };
    };
    let Some((channel, spec)) = packages.channel_for(form) else {
        return PackageDecision::NotPackaged {
            reason: format!("product form {form} is not packaged for any channel in [packages]"),
        };
    };
    let date = rights_date(product.publication_date, as_of);
    let territory = sales_territory(&product.sales_rights);

    // Per role, the files the product takes: linked, of a role the channel packages, linked to
    // this form. First the best version of each lineage (highest version, then latest
    // approval, then id), then for single-slot roles the latest approval across lineages (ties
    // to the smaller lineage id): a total order, so the choice never depends on input order.
    let mut best: BTreeMap<(AssetRole, &AssetId), &FileCandidate> = BTreeMap::new();
    let mut unlinked: BTreeMap<AssetRole, Vec<&FileCandidate>> = BTreeMap::new();
    for c in candidates {
        if !spec.takes(c.role) || !config.links_to(c.role, form) {
            continue;
        }
        if !c.linked {
            unlinked.entry(c.role).or_default().push(c);
            continue;
        }
        let rank =
            |x: &FileCandidate| (x.version, x.approved_at, x.version_asset_id.clone(), x.file_name.clone());
        best.entry((c.role, &c.lineage_id))
            .and_modify(|cur| {
                if rank(c) > rank(cur) {
                    *cur = c;
                }
            })
            .or_insert(c);
    }
    let mut by_role: BTreeMap<AssetRole, Vec<&FileCandidate>> = BTreeMap::new();
    for ((role, _), c) in best {
        let slot = by_role.entry(role).or_default();
        match slot.first() {
            Some(cur) if role.is_single_slot() => {
                if (c.approved_at, std::cmp::Reverse(&c.lineage_id))
                    > (cur.approved_at, std::cmp::Reverse(&cur.lineage_id))
                {
                    slot[0] = c;
                }
            }
            _ => slot.push(c),
        }
    }
    for list in unlinked.values_mut() {
        list.sort_by(|a, b| (&a.lineage_id, a.version).cmp(&(&b.lineage_id, b.version)));
        list.dedup_by(|a, b| a.lineage_id == b.lineage_id && a.version == b.version);
    }

    let mut reasons = Vec::new();
    let mut excluded = Vec::new();
    let mut files = Vec::new();
    let mut any_required_present = false;
    let required: BTreeSet<AssetRole> = spec.roles.iter().copied().collect();
    for role in spec.roles.iter().chain(spec.optional_roles.iter()) {
        let is_required = required.contains(role);
        let chosen = by_role.get(role).cloned().unwrap_or_default();
        if chosen.is_empty() {
            if is_required {
                let mut r = format!(
                    "required role {role} has no approved, linked file for product {} ({form}, {channel})",
                    product.isbn
                );
                if let Some(w) = unlinked.get(role).filter(|w| !w.is_empty()) {
                    let ids: Vec<String> =
                        w.iter().map(|c| format!("{} v{}", c.lineage_id, c.version)).collect();
                    r.push_str(&format!("; not linked now: {}", ids.join(", ")));
                }
                reasons.push(r);
            }
            continue;
        }
        if is_required {
            any_required_present = true;
        }
        for c in chosen {
            let verdict = match &c.rights {
                None => Err("OTMM holds no usage rights for it".to_string()),
                Some(r) => file_rights(r, &product.sales_rights, channel, date)
                    .map_err(|why| why.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
            };
            match verdict {
                Err(why) => {
                    let text = format!(
                        "{role} asset {} v{} may not be used for product {} ({channel} channel, sold in {territory}) on {date}: {why}",
                        c.lineage_id, c.version, product.isbn
                    );
                    if is_required { reasons.push(text) } else { excluded.push(text) }
                }
                Ok(()) => {
                    let stem = file_stem(*role, &c.lineage_id);
                    let prefix = package_prefix(&product.isbn, channel);
                    let key = format!("{prefix}{stem}.{}", extension(&c.file_name, &c.mime_type));
                    files.push(PlannedFile {
                        role: *role,
                        lineage_id: c.lineage_id.clone(),
                        version_asset_id: c.version_asset_id.clone(),
                        version: c.version,
                        link: packages.link_for(&key),
                        key,
                        onix_key: format!("{prefix}onix/{stem}.xml"),
                        file_name: c.file_name.clone(),
                        mime_type: c.mime_type.clone(),
                        approved_at: c.approved_at,
                        approved_by: c.approved_by.clone(),
                        approval_audit_ids: {
                            let mut ids = c.approval_audit_ids.clone();
                            ids.sort();
                            ids.dedup();
                            ids
                        },
                        rights: c.rights.clone().unwrap_or_else(AssetRights::unrestricted),
                    });
                }
            }
        }
    }
    if !reasons.is_empty() {
        reasons.sort();
        return PackageDecision::Blocked(BlockedPackage {
            isbn: product.isbn.clone(),
            product_id: product.product_id,
            channel,
            reasons,
            nothing_yet: !any_required_present,
        });
    }
    files.sort_by(|a, b| a.key.cmp(&b.key));
    excluded.sort();
    let mut plan = PackagePlan {
        isbn: product.isbn.clone(),
        product_id: product.product_id,
        work_id: product.work_id,
        title: product.title.clone(),
        form: form.clone(),
        channel,
        publication_date: product.publication_date,
        sales_rights: product.sales_rights.clone(),
        files,
        excluded,
        manifest_key: format!("{}manifest.json", package_prefix(&product.isbn, channel)),
        fingerprint: String::new(),
    };
    plan.fingerprint = fingerprint(&plan);
    PackageDecision::Ready(plan)
}

fn fingerprint(plan: &PackagePlan) -> String {
    let bytes =
        serde_json::to_vec(&PackagePlan { fingerprint: String::new(), ..plan.clone() }).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// Rights of one file as the manifest summarises them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RightsSummary {
    pub territory: String,
    /// `None`: every channel.
    pub channels: Option<Vec<Channel>>,
    pub expiry: Option<NaiveDate>,
    pub embargo_until: Option<NaiveDate>,
}

impl From<&AssetRights> for RightsSummary {
    fn from(r: &AssetRights) -> Self {
        RightsSummary {
            territory: r.territory.to_string(),
            channels: r.channels.as_ref().map(|c| c.iter().copied().collect()),
            expiry: r.window.expiry,
            embargo_until: r.window.embargo_until,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub role: AssetRole,
    pub key: String,
    pub onix_key: String,
    pub link: String,
    /// OTMM lineage id (`original_asset_id`) and the linked version's own id.
    pub otmm_asset_id: AssetId,
    pub otmm_version_asset_id: AssetId,
    pub version: u32,
    pub file_name: String,
    pub mime_type: String,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    pub approved_at: DateTime<Utc>,
    pub approved_by: Option<String>,
    pub approval_audit_ids: Vec<AuditId>,
    pub rights: RightsSummary,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub isbn: Isbn13,
    pub product_id: ProductId,
    pub work_id: WorkId,
    pub title: String,
    pub product_form: ProductForm,
    pub channel: Channel,
    pub package_version: u32,
    pub publication_date: Option<NaiveDate>,
    /// Where the product is sold, and what every file's rights were checked against.
    pub rights_summary: ManifestRights,
    pub files: Vec<ManifestFile>,
    pub excluded: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRights {
    pub sales_territory: String,
    pub channel: Channel,
    pub all_files_allowed: bool,
}

pub const MANIFEST_FORMAT: &str = "otmm-consonance-connector/package-manifest/1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("the plan has {planned} files but {staged} were staged")]
    FileCount { planned: usize, staged: usize },
    #[error(transparent)]
    Onix(#[from] onix::OnixError),
}

/// The manifest for a staged plan (`staged[i]` is `plan.files[i]`).
pub fn manifest(
    plan: &PackagePlan,
    staged: &[StagedFile],
    package_version: u32,
) -> Result<Manifest, PackageError> {
    if plan.files.len() != staged.len() {
        return Err(PackageError::FileCount { planned: plan.files.len(), staged: staged.len() });
    }
    Ok(Manifest {
        format: MANIFEST_FORMAT.to_string(),
        isbn: plan.isbn.clone(),
        product_id: plan.product_id,
        work_id: plan.work_id,
        title: plan.title.clone(),
        product_form: plan.form.clone(),
        channel: plan.channel,
        package_version,
        publication_date: plan.publication_date,
        rights_summary: ManifestRights {
            sales_territory: sales_territory(&plan.sales_rights),
            channel: plan.channel,
            all_files_allowed: true,
        },
        files: plan
            .files
            .iter()
            .zip(staged)
            .map(|(f, s)| ManifestFile {
                role: f.role,
                key: f.key.clone(),
                onix_key: f.onix_key.clone(),
                link: f.link.clone(),
                otmm_asset_id: f.lineage_id.clone(),
                otmm_version_asset_id: f.version_asset_id.clone(),
                version: f.version,
                file_name: f.file_name.clone(),
                mime_type: f.mime_type.clone(),
                size: s.size,
                sha256: s.sha256.clone(),
                md5: s.md5.clone(),
                approved_at: f.approved_at,
                approved_by: f.approved_by.clone(),
                approval_audit_ids: f.approval_audit_ids.clone(),
                rights: RightsSummary::from(&f.rights),
            })
            .collect(),
        excluded: plan.excluded.clone(),
    })
}

/// The manifest's bytes: pretty JSON, fields in declaration order, files sorted by key.
pub fn manifest_bytes(
    plan: &PackagePlan,
    staged: &[StagedFile],
    package_version: u32,
) -> Result<Vec<u8>, PackageError> {
    let m = manifest(plan, staged, package_version)?;
    let mut bytes = serde_json::to_vec_pretty(&m).unwrap_or_default();
    bytes.push(b'\n');
    Ok(bytes)
}

/// The ONIX `SupportingResource` fragment of a staged file.
pub fn onix_fragment(file: &PlannedFile, staged: &StagedFile) -> Result<String, PackageError> {
    Ok(onix::supporting_resource(&ResourceFile {
        role: file.role,
        link: &file.link,
        size: staged.size,
        md5: &staged.md5,
        sha256: &staged.sha256,
    })?)
}

#[cfg(test)]
mod tests;
