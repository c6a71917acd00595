//! What to do about one OTMM asset version (flows 1, 2 and 6), decided purely.
//!
//! The flow processor gathers the facts (the asset through the mapping config, the Consonance
//! title its ISBN names, the current link), calls [`plan_asset`], carries out the commands
//! with idempotency keys, and writes the new link with the audit notes in one transaction.

use crate::approval::{Approval, Supersession, supersedes};
use crate::audit::{Actor, AuditAction, Flow, Outcome};
use crate::config::{LinkRoute, LinkTarget, MappingConfig, ProductForm, is_jpeg};
use crate::ids::{AssetId, IdError, Isbn13, ProductId, WorkId};
use crate::mapping::{AssetLink, LinkKey, LinkStatus};
use crate::rights::{AssetRights, ProductSalesRights};
use crate::rights_eval::evaluate;
use crate::role::AssetRole;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One OTMM asset version as the processor read it, through the mapping config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetFacts {
    /// This version's own id.
    pub asset_id: AssetId,
    /// The first version's id (`original_asset_id`): the identity of the asset across versions.
    pub lineage_id: AssetId,
    pub version: u32,
    pub deleted: bool,
    pub name: String,
    pub mime_type: String,
    /// Raw values of the mapped fields (`None`: empty or absent).
    pub isbn_field: Option<String>,
    pub asset_type_field: Option<String>,
    pub imprint_field: Option<String>,
    pub approved: bool,
    pub approved_by: Option<Actor>,
    pub approved_at: Option<DateTime<Utc>>,
    pub rights: AssetRights,
    pub last_updated: DateTime<Utc>,
    /// `[launch] required_fields` empty on this version (launch readiness reads them).
    #[serde(default)]
    pub missing_launch_fields: Vec<crate::config::FieldName>,
}

/// A Consonance product of the title's work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductFacts {
    pub product_id: ProductId,
    pub isbn: Option<Isbn13>,
    pub form: Option<ProductForm>,
    pub publication_date: Option<NaiveDate>,
    pub sales_rights: ProductSalesRights,
}

/// The Consonance title an asset's ISBN names: the product with that ISBN and its work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TitleFacts {
    pub isbn: Isbn13,
    pub work_id: WorkId,
    pub product_id: ProductId,
    pub title: String,
    pub imprint: Option<String>,
    /// Every product of the work, this one included.
    pub products: Vec<ProductFacts>,
}

/// A side effect for the processor to carry out, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Create a Consonance supporting resource for the asset version and link it to products.
    CreateResource {
        work_id: WorkId,
        product_ids: Vec<ProductId>,
        role: AssetRole,
        resource_variant: String,
        status: String,
        /// Carried in the resource's caption: finds an earlier attempt before creating again.
        dedupe_marker: String,
        /// Single-slot roles unlink the previous resource of the same variant.
        unlink_previous: bool,
    },
    /// Add a web link to the asset version's file on each product (roles whose files are not
    /// JPG images: Consonance supporting resources take JPG only). One link per product, its URL
    /// carrying `dedupe_marker` as its fragment, so a retry finds it and a link on another
    /// product set is never mistaken for it.
    CreateWebLinks {
        work_id: WorkId,
        product_ids: Vec<ProductId>,
        role: AssetRole,
        /// ONIX list 73, two digits.
        website_role: String,
        target: LinkTarget,
        dedupe_marker: String,
    },
    /// Remove a resource (or the web links) this connector created earlier (replaced, or the
    /// asset is gone).
    DeleteResource { resource_id: String },
    /// Remove the supporting resources an earlier attempt for this asset version may have made
    /// (found by the marker in their caption): its approval turned out stale, a newer version is
    /// linked. An attempt interrupted after its create landed (a worker killed with the answer in
    /// flight) stores no link, so nothing else knows that resource; single-slot roles have it
    /// emptied by the newer version's `unlinkPrevious` and swept, multi-slot (campaign) roles
    /// would keep it beside the newer one. Found by the chaos run.
    RemoveResourcesMarked { work_id: WorkId, marker_prefix: String },
    /// Write metadata fields on the OTMM asset (identifier alignment, rights flag).
    UpdateOtmmFields { asset_id: AssetId, fields: Vec<(String, String)> },
}

/// The side-effect key of creating the resource for `dedupe_marker` on these products. The
/// reconciler releases it to have a resource deleted by hand in Consonance created again.
pub fn create_resource_key(dedupe_marker: &str, product_ids: &[ProductId]) -> String {
    let ids: Vec<String> = product_ids.iter().map(|p| p.to_string()).collect();
    format!("create-resource:{dedupe_marker}:{}", ids.join(","))
}

impl Command {
    /// The side-effect key: the same command from any event or retry has the same key.
    pub fn idempotency_key(&self) -> String {
        match self {
            // Both routes share the key: the link's create key is the same whatever the route,
            // so releasing it after a deletion works for either.
            Command::CreateResource { dedupe_marker, product_ids, .. }
            | Command::CreateWebLinks { dedupe_marker, product_ids, .. } => {
                create_resource_key(dedupe_marker, product_ids)
            }
            Command::DeleteResource { resource_id } => format!("delete-resource:{resource_id}"),
            Command::RemoveResourcesMarked { marker_prefix, .. } => format!("remove-marked:{marker_prefix}"),
            Command::UpdateOtmmFields { asset_id, fields } => {
                let f: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("otmm-fields:{asset_id}:{}", f.join(";"))
            }
        }
    }
}

/// An audit entry the plan asks for; the processor adds ids, time, actor and correlation id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub flow: Flow,
    pub action: AuditAction,
    pub outcome: Outcome,
    pub detail: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// How the event ends once the commands are done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Processed (possibly deciding to do nothing).
    Done,
    /// Cannot succeed as things stand (no title for the ISBN): dead-letter it, replay later.
    Permanent { cause: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub isbn: Option<Isbn13>,
    pub commands: Vec<Command>,
    /// The link to write after the commands succeed (the processor fills in the resource id).
    pub link: Option<AssetLink>,
    pub notes: Vec<Note>,
    pub verdict: Verdict,
}

/// Every product of the title's work that has an ISBN, as a title of its own (this one first):
/// a link covers the work's products, so the mapping keeps each one's sales-rights snapshot.
pub fn work_titles(title: &TitleFacts) -> Vec<TitleFacts> {
    let mut out = vec![title.clone()];
    for p in &title.products {
        if let Some(isbn) = p.isbn.as_ref().filter(|i| **i != title.isbn) {
            out.push(TitleFacts { isbn: isbn.clone(), product_id: p.product_id, ..title.clone() });
        }
    }
    out
}

/// How the title lookup went.
#[derive(Debug, Clone, PartialEq)]
pub enum TitleLookup<'a> {
    Found(&'a TitleFacts),
    /// Consonance has no product with this ISBN.
    NotFound,
}

/// The dedupe marker for one asset version in one role slot: what a supporting resource's
/// caption carries so a retried create can find the first attempt.
pub fn dedupe_marker(lineage: &AssetId, version: u32) -> String {
    format!("otmm:{lineage}:v{version}")
}

/// The marker of one resource: the version's [`dedupe_marker`] and the products it is linked
/// to (`otmm:<lineage>:v<version>:p<id>+<id>`), so a resource re-created on another product
/// set (rights narrowed or widened) is never mistaken for the one it replaces. Captions carry
/// it in brackets and are searched for `[marker]`, so one marker is never a prefix match of
/// another.
pub fn resource_marker(lineage: &AssetId, version: u32, product_ids: &[ProductId]) -> String {
    let mut ids: Vec<i64> = product_ids.iter().map(|p| p.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let ids: Vec<String> = ids.iter().map(|p| p.to_string()).collect();
    format!("{}:p{}", dedupe_marker(lineage, version), ids.join("+"))
}

/// The create key of the resource a link points at: released when that resource is deleted,
/// so the same product set can be linked again later (a right restored).
pub fn link_create_key(link: &AssetLink) -> String {
    let marker = resource_marker(&link.approval.asset_id, link.approval.version, &link.product_ids);
    create_resource_key(&marker, &link.product_ids)
}

fn note(
    flow: Flow,
    action: AuditAction,
    outcome: Outcome,
    detail: impl Into<String>,
    data: serde_json::Value,
) -> Note {
    Note { flow, action, outcome, detail: detail.into(), data }
}

fn done(isbn: Option<Isbn13>, notes: Vec<Note>) -> Plan {
    Plan { isbn, commands: Vec::new(), link: None, notes, verdict: Verdict::Done }
}

/// The ISBN an asset names, or why it names none.
pub fn asset_isbn(asset: &AssetFacts) -> Result<Isbn13, Option<IdError>> {
    let raw = asset.isbn_field.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or(None)?;
    Isbn13::parse(raw).map_err(Some)
}

/// Decides what one asset version means for its title. `current` is the link now in the
/// asset's role slot (for single-slot roles, possibly another asset's).
pub fn plan_asset(
    asset: &AssetFacts,
    title: TitleLookup<'_>,
    current: Option<&AssetLink>,
    config: &MappingConfig,
    now: DateTime<Utc>,
) -> Plan {
    let asset_data = serde_json::json!({ "asset_id": asset.asset_id, "lineage_id": asset.lineage_id, "version": asset.version });

    // The role first: assets that are not title assets (no mapped type) are none of our business.
    let Some(role) = asset.asset_type_field.as_deref().and_then(|v| config.role_for(v)) else {
        let detail = format!(
            "asset type {:?} is not mapped to a role in {}; nothing to link",
            asset.asset_type_field.as_deref().unwrap_or(""),
            config.source
        );
        return done(
            None,
            vec![note(
                Flow::LinkApprovedAsset,
                AuditAction::AssetUnmappedType,
                Outcome::Skipped,
                detail,
                asset_data,
            )],
        );
    };
    let flow = if role.is_campaign() { Flow::CampaignAsset } else { Flow::LinkApprovedAsset };

    // An invalid ISBN is reported and never written anywhere; fixing it in OTMM sends a new event.
    let isbn = match asset_isbn(asset) {
        Ok(isbn) => isbn,
        Err(None) => {
            let detail = format!("the asset has no ISBN in field {}", config.otmm.fields.isbn);
            return done(
                None,
                vec![note(
                    Flow::IdentifierAlignment,
                    AuditAction::IsbnMissing,
                    Outcome::Rejected,
                    detail,
                    asset_data,
                )],
            );
        }
        Err(Some(e)) => {
            return done(
                None,
                vec![note(
                    Flow::IdentifierAlignment,
                    AuditAction::IsbnInvalid,
                    Outcome::Rejected,
                    e.to_string(),
                    asset_data,
                )],
            );
        }
    };

    let mut notes = Vec::new();
    let mut commands = Vec::new();

    // A deleted asset leaves its slot; the resource it put in Consonance goes with it.
    if asset.deleted {
        let Some(cur) =
            current.filter(|c| c.approval.asset_id == asset.lineage_id && c.status == LinkStatus::Linked)
        else {
            return done(
                Some(isbn),
                vec![note(
                    flow,
                    AuditAction::AssetDeleted,
                    Outcome::Skipped,
                    "deleted asset was not linked",
                    asset_data,
                )],
            );
        };
        if let Some(id) = &cur.consonance_resource_id {
            commands.push(Command::DeleteResource { resource_id: id.clone() });
        }
        let mut link = cur.clone();
        link.status = LinkStatus::Withdrawn;
        link.updated_at = now;
        notes.push(note(
            flow,
            AuditAction::LinkWithdrawn,
            Outcome::Applied,
            "the asset was deleted in OTMM",
            asset_data,
        ));
        return Plan { isbn: Some(isbn), commands, link: Some(link), notes, verdict: Verdict::Done };
    }

    let title = match title {
        TitleLookup::Found(t) => t,
        TitleLookup::NotFound => {
            let cause = format!("no Consonance product has ISBN {isbn}");
            notes.push(note(
                flow,
                AuditAction::TitleNotFound,
                Outcome::DeadLettered,
                cause.clone(),
                asset_data,
            ));
            return Plan {
                isbn: Some(isbn),
                commands,
                link: None,
                notes,
                verdict: Verdict::Permanent { cause },
            };
        }
    };

    // Identifier alignment: the authoritative side's title data is written to the other side.
    let alignment = align_identifiers(asset, &isbn, title, config);
    notes.extend(alignment.1);
    if let Some(cmd) = alignment.0 {
        commands.push(cmd);
    }

    if !asset.approved {
        notes.push(note(
            flow,
            AuditAction::AssetNotApproved,
            Outcome::Skipped,
            "version is not approved; the linked version stays",
            asset_data,
        ));
        return Plan { isbn: Some(isbn), commands, link: None, notes, verdict: Verdict::Done };
    }

    let approval = Approval {
        asset_id: asset.lineage_id.clone(),
        version: asset.version,
        approved_at: asset.approved_at.unwrap_or(asset.last_updated),
    };
    let key = LinkKey::for_asset(isbn.clone(), role, &asset.lineage_id);
    let supersession = supersedes(current.map(|c| &c.approval), &approval);
    if supersession == Supersession::Stale {
        let cur = current.map(|c| (c.approval.asset_id.to_string(), c.approval.version));
        let detail = match &cur {
            Some((id, v)) if *id == asset.lineage_id.as_str() => {
                format!(
                    "version {} arrived after version {v} was linked; the newer version stays",
                    asset.version
                )
            }
            _ => "an asset approved later is already linked in this slot; it stays".to_string(),
        };
        notes.push(note(flow, AuditAction::ApprovalStale, Outcome::Skipped, detail, asset_data));
        if config.resource_for(role).is_some_and(|s| matches!(s.route, LinkRoute::SupportingResource { .. }))
        {
            commands.push(Command::RemoveResourcesMarked {
                work_id: title.work_id,
                marker_prefix: format!("{}:", dedupe_marker(&asset.lineage_id, asset.version)),
            });
        }
        return Plan { isbn: Some(isbn), commands, link: None, notes, verdict: Verdict::Done };
    }

    let Some(settings) = config.resource_for(role) else {
        let detail = format!("role {role} has no [consonance.resources.{role}] in {}", config.source);
        notes.push(note(flow, AuditAction::RoleNotConfigured, Outcome::Skipped, detail, asset_data));
        return Plan { isbn: Some(isbn), commands, link: None, notes, verdict: Verdict::Done };
    };
    // Supporting resources are JPG images (CreateSupportingResourceInput: "Must be a JPG
    // file"): anything else goes as a web link, or not at all.
    if !settings.route.is_web_link() && !is_jpeg(&asset.mime_type, &asset.name) {
        let detail = format!(
            "{role} {} v{} is {} ({}), not a JPG; Consonance supporting resources take JPG only: \
             convert it in OTMM, or send {role} as a web link (route = \"web_link\" in \
             [consonance.resources.{role}] of {})",
            asset.lineage_id, asset.version, asset.mime_type, asset.name, config.source
        );
        notes.push(note(flow, AuditAction::LinkNotJpeg, Outcome::Rejected, detail, asset_data));
        return Plan { isbn: Some(isbn), commands, link: None, notes, verdict: Verdict::Done };
    }
    // The products the role links to (by form), then those the rights cover today (flow 4).
    let eligible: Vec<&ProductFacts> = title
        .products
        .iter()
        .filter(|p| p.form.as_ref().is_some_and(|f| settings.product_forms.contains(f)))
        .collect();
    if eligible.is_empty() {
        let detail = format!("work {} has no product of a form that takes a {role}", title.work_id);
        notes.push(note(flow, AuditAction::LinkNoProducts, Outcome::Skipped, detail, asset_data));
        return Plan { isbn: Some(isbn), commands, link: None, notes, verdict: Verdict::Done };
    }
    let coverage = evaluate(&asset.rights, role, &eligible, config, now.date_naive());
    let ctx = Ctx { asset, title, role, settings, config, now, flow };

    // The same version is already in the slot (linked or withdrawn): only rights can change
    // what it is linked to. Anything unfinished (pending, failed) is simply done again below.
    if supersession == Supersession::Repeat
        && let Some(cur) = current.filter(|c| matches!(c.status, LinkStatus::Linked | LinkStatus::Withdrawn))
    {
        let plan = ctx.resync(cur, &coverage, asset_data);
        commands.extend(plan.0);
        notes.extend(plan.2);
        return Plan { isbn: Some(isbn), commands, link: plan.1, notes, verdict: Verdict::Done };
    }

    // Whatever was in this slot before is retired. For single-slot roles that may be another
    // asset (a new cover design); for multi-slot roles the slot is the asset itself, so only its
    // own older version is replaced: campaign material never displaces other material.
    let replaced =
        current.filter(|c| c.status == LinkStatus::Linked).and_then(|c| c.consonance_resource_id.clone());
    let mut link = AssetLink {
        key,
        version_asset_id: Some(asset.asset_id.clone()),
        approval,
        status: LinkStatus::Linked,
        approved_by: asset.approved_by.clone(),
        work_id: Some(title.work_id),
        product_ids: coverage.covered.clone(),
        consonance_resource_id: None,
        rights: Some(asset.rights.clone()),
        rights_denials: coverage.denied.clone(),
        updated_at: now,
        revision: current.map_or(0, |c| c.revision),
    };
    let eligible_ids: Vec<i64> = eligible.iter().map(|p| p.product_id.0).collect();
    if coverage.covered.is_empty() {
        // Approved, but its rights cover none of the products: recorded as withdrawn (so an
        // older approval cannot come back, and a restored right links it), nothing created.
        if let Some(old) = &replaced {
            commands.push(Command::DeleteResource { resource_id: old.clone() });
        }
        link.status = LinkStatus::Withdrawn;
        let detail = format!(
            "{role} {} v{} is approved but its rights cover none of products {eligible_ids:?}: {}{}",
            asset.lineage_id,
            asset.version,
            coverage.summary(),
            if replaced.is_some() { "; the resource it replaces was removed" } else { "" }
        );
        notes.push(note(
            Flow::RightsSync,
            AuditAction::LinkWithheld,
            Outcome::Rejected,
            detail,
            serde_json::json!({
                "asset_id": asset.asset_id, "lineage_id": asset.lineage_id, "version": asset.version,
                "work_id": title.work_id, "product_ids": eligible_ids, "denied": coverage.denied,
                "replaced_resource_id": replaced,
            }),
        ));
        commands.extend(ctx.flag(None, &link));
        return Plan { isbn: Some(isbn), commands, link: Some(link), notes, verdict: Verdict::Done };
    }

    commands.push(ctx.create(&coverage.covered));
    if let Some(old) = &replaced {
        commands.push(Command::DeleteResource { resource_id: old.clone() });
    }
    let action = if replaced.is_some() { AuditAction::LinkReplaced } else { AuditAction::LinkCreated };
    let mut detail = format!(
        "{role} {} v{} linked to work {} and products {:?}",
        asset.lineage_id,
        asset.version,
        title.work_id,
        coverage.covered.iter().map(|p| p.0).collect::<Vec<_>>()
    );
    if !coverage.denied.is_empty() {
        detail.push_str(&format!(" (rights exclude {})", coverage.summary()));
    }
    notes.push(note(
        flow,
        action,
        Outcome::Applied,
        detail,
        serde_json::json!({
            "asset_id": asset.asset_id, "lineage_id": asset.lineage_id, "version": asset.version,
            "work_id": title.work_id, "product_ids": coverage.covered, "replaced_resource_id": replaced,
            "denied": coverage.denied,
        }),
    ));
    commands.extend(ctx.flag(None, &link));
    Plan { isbn: Some(isbn), commands, link: Some(link), notes, verdict: Verdict::Done }
}

mod identifiers;
mod repeat;
mod rights;
use identifiers::align_identifiers;
pub use repeat::repeated_approval;
use rights::Ctx;
pub use rights::rights_flag_value;

#[cfg(test)]
mod tests;
