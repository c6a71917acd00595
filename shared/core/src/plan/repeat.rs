//! A repeated approval, recognised without asking Consonance (issue 16: a repeat costs the
//! one OTMM read that tells it is one).

use super::{AssetFacts, Plan, asset_isbn, done, note};
use crate::audit::{AuditAction, Flow, Outcome};
use crate::config::MappingConfig;
use crate::mapping::{AssetLink, LinkStatus, TitleRecord};
use crate::rights_eval::RightsReason;
use chrono::NaiveDate;

/// The plan for an approval of the version its slot already holds, when nothing the full
/// [`super::plan_asset`] reads from Consonance could change the answer: the link holds this
/// lineage and version, `Linked` (on every product its rights cover, OTMM's rights still in
/// their window `today`) or `Withdrawn` (they cover none); OTMM's rights are the link's
/// snapshot; every product it leaves out is left out for a reason time cannot end (territory,
/// channels, an OTMM withdrawal, an expiry passed: not an embargo or a start date to come);
/// and identifier alignment would write nothing (the ISBN field is
/// canonical; the imprint is the one the stored title record has). `None`: plan it in full.
///
/// The Consonance side cannot have moved unseen: a change of a product's sales rights is
/// recorded by the title record and re-evaluates every link of the work (as metadata-change
/// messages, which never take this path), and the reconciler's link check catches the rest.
/// That holds for the products a link leaves out as for those it covers.
pub fn repeated_approval(
    asset: &AssetFacts,
    current: Option<&AssetLink>,
    title: Option<&TitleRecord>,
    config: &MappingConfig,
    today: NaiveDate,
) -> Option<Plan> {
    let role = asset.asset_type_field.as_deref().and_then(|v| config.role_for(v))?;
    let isbn = asset_isbn(asset).ok()?;
    let cur = current?;
    let title = title.filter(|t| t.isbn == isbn)?;
    let same_version = cur.approval.asset_id == asset.lineage_id && cur.approval.version == asset.version;
    if !asset.approved
        || asset.deleted
        || !same_version
        || cur.rights.as_ref() != Some(&asset.rights)
        || !cur.rights_denials.iter().flat_map(|d| &d.reasons).all(RightsReason::is_lasting)
    {
        return None;
    }
    let in_window = !asset.rights.withdrawn && asset.rights.window.is_open_on(today);
    let (action, detail) = match cur.status {
        LinkStatus::Linked if in_window => (AuditAction::ApprovalRepeat, "this version is already linked"),
        // Withdrawn for lasting reasons only: territories, channels, an OTMM withdrawal or an
        // expiry already past (only OTMM can lift those, and that changes the rights snapshot).
        LinkStatus::Withdrawn if !cur.rights_denials.is_empty() => (
            AuditAction::RightsStillWithdrawn,
            "this version stays withdrawn: its rights still cover no product",
        ),
        _ => return None,
    };
    let canonical_isbn = asset.isbn_field.as_deref().map(str::trim) == Some(isbn.as_str());
    let imprint_aligned = match (&config.otmm.fields.imprint, &title.imprint) {
        (Some(_), Some(imprint)) => asset.imprint_field.as_deref().map(str::trim) == Some(imprint.trim()),
        _ => true,
    };
    if !(canonical_isbn && imprint_aligned) {
        return None;
    }
    let flow = if role.is_campaign() { Flow::CampaignAsset } else { Flow::LinkApprovedAsset };
    let data = serde_json::json!({ "asset_id": asset.asset_id, "lineage_id": asset.lineage_id, "version": asset.version });
    Some(done(Some(isbn), vec![note(flow, action, Outcome::Skipped, detail, data)]))
}
