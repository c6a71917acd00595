//! The rights side of planning: which create command a role's route takes, what the OTMM
//! rights flag says, and bringing a re-seen version's links in line with the rights now.

use super::{AssetFacts, Command, Note, TitleFacts, note, resource_marker};
use crate::audit::{AuditAction, Flow, Outcome};
use crate::config::{LinkRoute, MappingConfig, ResourceSettings};
use crate::ids::ProductId;
use crate::mapping::{AssetLink, LinkStatus};
use crate::rights_eval::Coverage;
use crate::role::AssetRole;
use chrono::{DateTime, Utc};

/// What one planning step knows, for the rights helpers.
pub(super) struct Ctx<'a> {
    pub(super) asset: &'a AssetFacts,
    pub(super) title: &'a TitleFacts,
    pub(super) role: AssetRole,
    pub(super) settings: &'a ResourceSettings,
    pub(super) config: &'a MappingConfig,
    pub(super) now: DateTime<Utc>,
    pub(super) flow: Flow,
}

impl Ctx<'_> {
    /// The create command of the role's route (the planner is where the route is decided).
    pub(super) fn create(&self, product_ids: &[ProductId]) -> Command {
        let dedupe_marker = resource_marker(&self.asset.lineage_id, self.asset.version, product_ids);
        match &self.settings.route {
            LinkRoute::SupportingResource { resource_variant, status } => Command::CreateResource {
                work_id: self.title.work_id,
                product_ids: product_ids.to_vec(),
                role: self.role,
                resource_variant: resource_variant.clone(),
                status: status.clone(),
                dedupe_marker,
                unlink_previous: self.role.is_single_slot(),
            },
            LinkRoute::WebLink { website_role, target } => Command::CreateWebLinks {
                work_id: self.title.work_id,
                product_ids: product_ids.to_vec(),
                role: self.role,
                website_role: website_role.clone(),
                target: *target,
                dedupe_marker,
            },
        }
    }

    /// The OTMM rights flag, when what it should say changed between `old` and `new`.
    pub(super) fn flag(&self, old: Option<&AssetLink>, new: &AssetLink) -> Option<Command> {
        let field = self.config.otmm.fields.rights_flag.clone()?;
        let state = |l: &AssetLink| (l.status == LinkStatus::Withdrawn, l.rights_denials.clone());
        let before = old.map_or((false, Vec::new()), state);
        if before == state(new) {
            return None;
        }
        Some(Command::UpdateOtmmFields {
            asset_id: self.asset.asset_id.clone(),
            fields: vec![(field, rights_flag_value(new, self.now))],
        })
    }

    /// The same version again, linked or withdrawn: bring what it is linked to in line with
    /// the rights on both sides as they are now (narrow, widen, withdraw, restore).
    pub(super) fn resync(
        &self,
        cur: &AssetLink,
        coverage: &Coverage,
        asset_data: serde_json::Value,
    ) -> (Vec<Command>, Option<AssetLink>, Vec<Note>) {
        let mut commands = Vec::new();
        let mut notes = Vec::new();
        let snapshot_same =
            cur.rights.as_ref() == Some(&self.asset.rights) && cur.rights_denials == coverage.denied;
        let linked = cur.status == LinkStatus::Linked;
        let mut link = AssetLink {
            rights: Some(self.asset.rights.clone()),
            rights_denials: coverage.denied.clone(),
            updated_at: self.now,
            ..cur.clone()
        };
        let old_ids: Vec<i64> =
            if linked { cur.product_ids.iter().map(|p| p.0).collect() } else { Vec::new() };
        let new_ids: Vec<i64> = coverage.covered.iter().map(|p| p.0).collect();
        let data = serde_json::json!({
            "asset_id": self.asset.asset_id, "lineage_id": self.asset.lineage_id, "version": self.asset.version,
            "work_id": self.title.work_id, "before": old_ids, "after": new_ids,
            "removed": old_ids.iter().filter(|p| !new_ids.contains(p)).collect::<Vec<_>>(),
            "added": new_ids.iter().filter(|p| !old_ids.contains(p)).collect::<Vec<_>>(),
            "denied": coverage.denied, "previous_resource_id": cur.consonance_resource_id,
        });
        let unchanged_links =
            if linked { coverage.covered == cur.product_ids } else { coverage.covered.is_empty() };
        if unchanged_links {
            if snapshot_same {
                let (action, detail) = if linked {
                    (AuditAction::ApprovalRepeat, "this version is already linked")
                } else {
                    (
                        AuditAction::RightsStillWithdrawn,
                        "this version stays withdrawn: its rights still cover no product",
                    )
                };
                notes.push(note(self.flow, action, Outcome::Skipped, detail, asset_data));
                return (commands, None, notes);
            }
            let detail = format!(
                "rights changed but cover the same products {new_ids:?}{}",
                if coverage.denied.is_empty() {
                    String::new()
                } else {
                    format!("; excluded: {}", coverage.summary())
                }
            );
            notes.push(note(Flow::RightsSync, AuditAction::RightsRefreshed, Outcome::Skipped, detail, data));
        } else if coverage.covered.is_empty() {
            if let Some(id) = &cur.consonance_resource_id {
                commands.push(Command::DeleteResource { resource_id: id.clone() });
            }
            link.status = LinkStatus::Withdrawn;
            link.product_ids = Vec::new();
            link.consonance_resource_id = None;
            let detail = format!(
                "{} {} v{} withdrawn from products {old_ids:?}: {}",
                self.role,
                self.asset.lineage_id,
                self.asset.version,
                coverage.summary()
            );
            notes.push(note(Flow::RightsSync, AuditAction::LinkWithdrawn, Outcome::Applied, detail, data));
        } else {
            commands.push(self.create(&coverage.covered));
            if linked && let Some(id) = &cur.consonance_resource_id {
                commands.push(Command::DeleteResource { resource_id: id.clone() });
            }
            let action = if !linked {
                AuditAction::LinkRestored
            } else if new_ids.iter().all(|p| old_ids.contains(p)) {
                AuditAction::LinkNarrowed
            } else if old_ids.iter().all(|p| new_ids.contains(p)) {
                AuditAction::LinkWidened
            } else {
                AuditAction::LinkChanged
            };
            link.status = LinkStatus::Linked;
            link.product_ids = coverage.covered.clone();
            link.consonance_resource_id = None;
            let mut detail = format!(
                "{} {} v{} now linked to products {new_ids:?} (was {old_ids:?})",
                self.role, self.asset.lineage_id, self.asset.version
            );
            if !coverage.denied.is_empty() {
                detail.push_str(&format!("; excluded: {}", coverage.summary()));
            }
            notes.push(note(Flow::RightsSync, action, Outcome::Applied, detail, data));
        }
        commands.extend(self.flag(Some(cur), &link));
        (commands, Some(link), notes)
    }
}

/// What the OTMM rights flag says for a link: why it is withdrawn or narrowed, or that it is
/// clear. Always dated and never empty, so each change is a distinct write (see
/// `docs/mapping-config.md`, `rights_flag`).
pub fn rights_flag_value(link: &AssetLink, now: DateTime<Utc>) -> String {
    let when = now.format("%Y-%m-%d %H:%M:%S UTC");
    let why = crate::rights_eval::summarise(&link.rights_denials);
    match (link.status, link.rights_denials.is_empty()) {
        (LinkStatus::Withdrawn, _) => format!("withdrawn {when}: {why}"),
        (_, false) => format!("narrowed {when}: {why}"),
        (_, true) => format!("cleared {when}: rights cover every linked product"),
    }
}
