//! The audit trail's record: who did what to which asset version and title, in which flow,
//! with what outcome. Append-only; ids sort by time.

use crate::ids::{AssetId, Isbn13};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

mod action;
pub use action::{AuditAction, UnknownAction};

/// A ULID string: lexicographic order is creation order (milliseconds, then a monotonic
/// counter within the same millisecond in one process).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditId(pub String);

impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The mission's flows, numbered as in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    LinkApprovedAsset,
    CampaignAsset,
    AssetRequest,
    RightsSync,
    ProductionPackage,
    IdentifierAlignment,
    Intake,
    Reconcile,
    LaunchReadiness,
    Replay,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::LinkApprovedAsset => "link_approved_asset",
            Flow::CampaignAsset => "campaign_asset",
            Flow::AssetRequest => "asset_request",
            Flow::RightsSync => "rights_sync",
            Flow::ProductionPackage => "production_package",
            Flow::IdentifierAlignment => "identifier_alignment",
            Flow::Intake => "intake",
            Flow::Reconcile => "reconcile",
            Flow::LaunchReadiness => "launch_readiness",
            Flow::Replay => "replay",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The side effect happened.
    Applied,
    /// Decided that nothing needed doing (repeat, stale version), with the reason in `detail`.
    Skipped,
    /// Will be retried.
    Retrying,
    /// Given up: parked in the dead-letter queue.
    DeadLettered,
    /// Refused (invalid ISBN, rights forbid it).
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: AuditId,
    pub at: DateTime<Utc>,
    pub flow: Flow,
    /// What was decided or done; stored dotted: `link.created`, `link.replaced`, `approval.stale`.
    pub action: AuditAction,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isbn: Option<Isbn13>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The inbound event (or reconciler run) that caused this record.
    pub correlation_id: String,
    /// Human-readable explanation.
    pub detail: String,
    /// Structured facts (ids on the other side, denial reasons).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl AuditRecord {
    /// A record of `action` by the connector at `at`, about no title or asset yet: callers
    /// add what they know (`AuditRecord { isbn, correlation_id, data, ..AuditRecord::new(..) }`).
    pub fn new(id: AuditId, at: DateTime<Utc>, flow: Flow, action: AuditAction, outcome: Outcome) -> Self {
        AuditRecord {
            id,
            at,
            flow,
            action,
            outcome,
            isbn: None,
            asset_id: None,
            asset_version: None,
            actor: None,
            correlation_id: String::new(),
            detail: String::new(),
            data: serde_json::Value::Null,
        }
    }
}
