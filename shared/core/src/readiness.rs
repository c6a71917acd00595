//! Launch readiness (flow 8): the shape of the report the connector keeps per title and shows
//! in the HTTP API, on the board and in Consonance.
//!
//! Stored as a `Documents` record of kind [`READINESS_DOC_KIND`] with the ISBN-13 as id; the
//! pure evaluation that produces it lives beside these types.

use crate::ids::{AssetId, Isbn13, ProductId, WorkId};
use crate::role::AssetRole;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// `Documents` kind of a [`TitleReadiness`] (id: the ISBN-13).
pub const READINESS_DOC_KIND: &str = "readiness";
/// `Documents` kind of an asset request raised in OTMM (id: `<isbn13>#<role>`).
pub const REQUEST_DOC_KIND: &str = "asset_request";
/// `Documents` kind of a production package (id: `<isbn13>#<channel>`).
pub const PACKAGE_DOC_KIND: &str = "package";

/// Overall launch status, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
    AtRisk,
    Blocked,
}

impl ReadinessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadinessStatus::Ready => "ready",
            ReadinessStatus::AtRisk => "at_risk",
            ReadinessStatus::Blocked => "blocked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ready" => Some(ReadinessStatus::Ready),
            "at_risk" => Some(ReadinessStatus::AtRisk),
            "blocked" => Some(ReadinessStatus::Blocked),
            _ => None,
        }
    }
}

/// Where one required asset role of a title stands, from nothing to packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleState {
    /// No asset in OTMM and no open request.
    Missing,
    /// An asset request is open in OTMM.
    Requested,
    /// An asset exists but no version is approved.
    InReview,
    /// Approved, but a field the config requires for launch is empty.
    Untagged,
    /// Approved and tagged, but its rights do not cover this product.
    RightsBlocked,
    /// Approved, tagged, rights-cleared and linked in Consonance.
    Linked,
    /// And in a staged or released production package.
    Packaged,
}

impl RoleState {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleState::Missing => "missing",
            RoleState::Requested => "requested",
            RoleState::InReview => "in_review",
            RoleState::Untagged => "untagged",
            RoleState::RightsBlocked => "rights_blocked",
            RoleState::Linked => "linked",
            RoleState::Packaged => "packaged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleReadiness {
    pub role: AssetRole,
    pub state: RoleState,
    /// The asset version counted for this role, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The OTMM request raised for it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the asset is needed (publication date minus the form's lead time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    ManuscriptApproval,
    DesignCompletion,
    Publication,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub kind: MilestoneKind,
    /// The date planned (e.g. contract delivery date, production run delivery, publication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    /// When it happened, if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<NaiveDate>,
    /// The revised date when the schedule slipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slipped_to: Option<NaiveDate>,
}

/// One title's (product's) launch readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleReadiness {
    pub isbn: Isbn13,
    pub work_id: WorkId,
    pub product_id: ProductId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imprint: Option<String>,
    /// ONIX product form code (BB, BC, DG, AJ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_form: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication_date: Option<NaiveDate>,
    /// Negative once published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_to_publication: Option<i64>,
    pub status: ReadinessStatus,
    /// Why the status is not `ready`, most serious first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<Milestone>,
    /// One entry per role the product form requires for launch, in config order.
    pub roles: Vec<RoleReadiness>,
    pub evaluated_at: DateTime<Utc>,
}
