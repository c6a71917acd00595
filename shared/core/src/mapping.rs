//! What the mapping table holds: titles with their identifiers on both sides, and the link
//! between a title's role slot and the OTMM asset version currently in it.

use crate::approval::Approval;
use crate::audit::Actor;
use crate::ids::{AssetId, Isbn13, ProductId, WorkId};
use crate::rights::{AssetRights, ProductSalesRights};
use crate::rights_eval::ProductDenial;
use crate::role::AssetRole;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Identifies a slot: single-slot roles (covers, author photo) have one per title; multi-slot
/// roles (campaign, interior) one per asset, so `slot` is the asset id there and empty otherwise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkKey {
    pub isbn: Isbn13,
    pub role: AssetRole,
    pub slot: String,
}

impl LinkKey {
    pub fn for_asset(isbn: Isbn13, role: AssetRole, asset_id: &AssetId) -> Self {
        let slot = if role.is_single_slot() { String::new() } else { asset_id.to_string() };
        LinkKey { isbn, role, slot }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Decided, side effect not yet confirmed.
    Pending,
    Linked,
    /// Rights no longer allow it; unlinked in Consonance.
    Withdrawn,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetLink {
    pub key: LinkKey,
    /// `approval.asset_id` is the lineage (first version's id); this is the linked version's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_asset_id: Option<AssetId>,
    pub approval: Approval,
    pub status: LinkStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_id: Option<WorkId>,
    #[serde(default)]
    pub product_ids: Vec<ProductId>,
    /// Consonance supporting resource id, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consonance_resource_id: Option<String>,
    /// The linked version's usage rights as last read from OTMM (flow 4's asset-side snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<AssetRights>,
    /// Flow 4: products the role would link to that the rights do not cover, with every
    /// reason, as of the last evaluation. On a `Withdrawn` link: why it was withdrawn. Empty
    /// when every product is covered. `product_ids` holds the covered ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rights_denials: Vec<ProductDenial>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency counter: each write expects the revision it read.
    pub revision: u64,
}

/// A title (one Consonance product, keyed by its ISBN-13) with its identifiers on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TitleRecord {
    pub isbn: Isbn13,
    pub work_id: WorkId,
    pub product_id: ProductId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imprint: Option<String>,
    /// ONIX product form (BB hardback, BC paperback, DG ebook, AJ audio download...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_form: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_rights: Option<ProductSalesRights>,
    pub updated_at: DateTime<Utc>,
    pub revision: u64,
}

/// A reconciler's position in a change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub name: String,
    /// Opaque to the store: the reconciler's serialised cursor.
    pub cursor: String,
    pub updated_at: DateTime<Utc>,
    pub revision: u64,
}
