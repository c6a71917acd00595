//! Why a step failed, and the audit records the processor writes about it.

use crate::App;
use crate::systems::SystemError;
use connector_core::event::{FlowMessage, OtmmEvent};
use connector_core::plan::{AssetFacts, Note};
use connector_core::{Actor, AssetId, AuditAction, AuditRecord, Flow, Isbn13, Outcome};
use connector_store::{StoreError, new_audit_id};
use std::time::Duration;

/// Why a step failed.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// `records`: audit records that explain it (e.g. `asset.not_found`), written together with
    /// the dead letter's record; empty, the processor writes a `message.dead_lettered` one.
    Permanent {
        cause: String,
        records: Vec<AuditRecord>,
    },
}

impl Failure {
    pub(super) fn permanent(cause: impl Into<String>) -> Self {
        Failure::Permanent { cause: cause.into(), records: Vec::new() }
    }
}

impl From<SystemError> for Failure {
    fn from(e: SystemError) -> Self {
        match e {
            SystemError::Transient { retry_after, .. } => {
                Failure::Transient { reason: e.to_string(), retry_after }
            }
            other => Failure::permanent(other.to_string()),
        }
    }
}

impl From<crate::readiness::ReadinessError> for Failure {
    fn from(e: crate::readiness::ReadinessError) -> Self {
        if e.is_transient() {
            Failure::Transient { reason: e.to_string(), retry_after: None }
        } else {
            Failure::permanent(e.to_string())
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        // Store failures (throttling, a lost race) are retried; the plan is made again then.
        if e.is_transient() || e.is_conflict() {
            Failure::Transient { reason: e.to_string(), retry_after: None }
        } else {
            Failure::permanent(e.to_string())
        }
    }
}

/// An audit record of this flow, now.
pub(super) fn record(
    app: &App,
    flow: Flow,
    action: AuditAction,
    outcome: Outcome,
    detail: &str,
    isbn: Option<Isbn13>,
    asset: Option<(&AssetId, u32)>,
) -> AuditRecord {
    let at = app.now();
    AuditRecord {
        isbn,
        asset_id: asset.map(|(a, _)| a.clone()),
        asset_version: asset.map(|(_, v)| v),
        detail: detail.to_string(),
        ..AuditRecord::new(new_audit_id(at), at, flow, action, outcome)
    }
}

/// A record of the link flow about an OTMM event's asset version, by the event's actor.
pub(super) fn event_record(
    app: &App,
    message: &FlowMessage,
    event: &OtmmEvent,
    (action, outcome): (AuditAction, Outcome),
    detail: &str,
    isbn: Option<Isbn13>,
    version: u32,
) -> AuditRecord {
    AuditRecord {
        correlation_id: message.correlation_id.clone(),
        actor: Some(event.actor.clone()),
        ..record(
            app,
            Flow::LinkApprovedAsset,
            action,
            outcome,
            detail,
            isbn,
            Some((&event.asset_id, version)),
        )
    }
}

/// Audit records for a plan's notes.
pub(super) fn records_for(
    app: &App,
    notes: &[Note],
    isbn: Option<&Isbn13>,
    facts: &AssetFacts,
    actor: &Actor,
    correlation_id: &str,
) -> Vec<AuditRecord> {
    notes
        .iter()
        .map(|n| {
            let mut data = n.data.clone();
            if let Some(obj) = data.as_object_mut() {
                obj.insert("asset_name".into(), facts.name.clone().into());
            }
            AuditRecord {
                actor: Some(facts.approved_by.clone().unwrap_or_else(|| actor.clone())),
                correlation_id: correlation_id.to_string(),
                data,
                ..record(
                    app,
                    n.flow,
                    n.action,
                    n.outcome,
                    &n.detail,
                    isbn.cloned(),
                    Some((&facts.lineage_id, facts.version)),
                )
            }
        })
        .collect()
}
