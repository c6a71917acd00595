//! What to do about one OTMM asset version (flows 1, 2 and 6), decided purely.
//!
//! The flow processor gathers the facts (the asset through the mapping config, the Consonance
//! title its ISBN names, the current link), calls [`plan_asset`], carries out the commands
//! with idempotency keys, and writes the new link with the audit notes in one transaction.

use crate::approval::{Approval, Supersession, supersedes};
use crate::audit::{Actor, Flow, Outcome};
use crate::config::{LinkRoute, LinkTarget, MappingConfig, ProductForm, ResourceSettings, System, is_jpeg};
use crate::ids::{AssetId, IdError, Isbn13, ProductId, WorkId};
use crate::mapping::{AssetLink, LinkKey, LinkStatus};
use crate::rights::{AssetRights, ProductSalesRights};
use crate::rights_eval::{Coverage, evaluate};
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
    pub action: String,
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
    action: &str,
    outcome: Outcome,
    detail: impl Into<String>,
    data: serde_json::Value,
) -> Note {
    Note { flow, action: action.to_string(), outcome, detail: detail.into(), data }
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
            vec![note(Flow::LinkApprovedAsset, "asset.unmapped_type", Outcome::Skipped, detail, asset_data)],
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
                vec![note(Flow::IdentifierAlignment, "isbn.missing", Outcome::Rejected, detail, asset_data)],
            );
        }
        Err(Some(e)) => {
            return done(
                None,
                vec![note(
                    Flow::IdentifierAlignment,
                    "isbn.invalid",
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
                    "asset.deleted",
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
            "link.withdrawn",
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
            notes.push(note(flow, "title.not_found", Outcome::DeadLettered, cause.clone(), asset_data));
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
            "asset.not_approved",
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
        notes.push(note(flow, "approval.stale", Outcome::Skipped, detail, asset_data));
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
        notes.push(note(flow, "role.not_configured", Outcome::Skipped, detail, asset_data));
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
        notes.push(note(flow, "link.not_jpeg", Outcome::Rejected, detail, asset_data));
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
        notes.push(note(flow, "link.no_products", Outcome::Skipped, detail, asset_data));
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
            "link.withheld",
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
    let action = if replaced.is_some() { "link.replaced" } else { "link.created" };
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

/// What one planning step knows, for the rights helpers.
struct Ctx<'a> {
    asset: &'a AssetFacts,
    title: &'a TitleFacts,
    role: AssetRole,
    settings: &'a ResourceSettings,
    config: &'a MappingConfig,
    now: DateTime<Utc>,
    flow: Flow,
}

impl Ctx<'_> {
    /// The create command of the role's route (the planner is where the route is decided).
    fn create(&self, product_ids: &[ProductId]) -> Command {
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
    fn flag(&self, old: Option<&AssetLink>, new: &AssetLink) -> Option<Command> {
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
    fn resync(
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
                    ("approval.repeat", "this version is already linked")
                } else {
                    (
                        "rights.still_withdrawn",
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
            notes.push(note(Flow::RightsSync, "rights.refreshed", Outcome::Skipped, detail, data));
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
            notes.push(note(Flow::RightsSync, "link.withdrawn", Outcome::Applied, detail, data));
        } else {
            commands.push(self.create(&coverage.covered));
            if linked && let Some(id) = &cur.consonance_resource_id {
                commands.push(Command::DeleteResource { resource_id: id.clone() });
            }
            let action = if !linked {
                "link.restored"
            } else if new_ids.iter().all(|p| old_ids.contains(p)) {
                "link.narrowed"
            } else if old_ids.iter().all(|p| new_ids.contains(p)) {
                "link.widened"
            } else {
                "link.changed"
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

/// Flow 6 for one asset: title data (ISBN form, imprint) flows from the authoritative side.
fn align_identifiers(
    asset: &AssetFacts,
    isbn: &Isbn13,
    title: &TitleFacts,
    config: &MappingConfig,
) -> (Option<Command>, Vec<Note>) {
    let mut fixes: Vec<(String, String, String)> = Vec::new(); // (field id, from, to)
    let raw_isbn = asset.isbn_field.as_deref().unwrap_or("").trim();
    if raw_isbn != isbn.as_str() {
        fixes.push((config.otmm.fields.isbn.clone(), raw_isbn.to_string(), isbn.to_string()));
    }
    if let (Some(field), Some(consonance_imprint)) = (&config.otmm.fields.imprint, &title.imprint) {
        let otmm_imprint = asset.imprint_field.as_deref().unwrap_or("").trim();
        if otmm_imprint != consonance_imprint.trim() {
            fixes.push((field.clone(), otmm_imprint.to_string(), consonance_imprint.trim().to_string()));
        }
    }
    if fixes.is_empty() {
        return (None, Vec::new());
    }
    let data = serde_json::json!({
        "asset_id": asset.asset_id,
        "fixes": fixes.iter().map(|(f, from, to)| serde_json::json!({"field": f, "from": from, "to": to})).collect::<Vec<_>>(),
    });
    let summary: Vec<String> = fixes.iter().map(|(f, from, to)| format!("{f}: {from:?} -> {to:?}")).collect();
    match config.authority.title_data {
        System::Consonance => {
            let cmd = Command::UpdateOtmmFields {
                asset_id: asset.asset_id.clone(),
                fields: fixes.into_iter().map(|(f, _, to)| (f, to)).collect(),
            };
            let detail = format!(
                "OTMM brought in line with Consonance (authoritative for title data): {}",
                summary.join("; ")
            );
            (
                Some(cmd),
                vec![note(Flow::IdentifierAlignment, "identifiers.aligned", Outcome::Applied, detail, data)],
            )
        }
        // OTMM authoritative for title data: Consonance's API cannot take these writes here,
        // so the drift is reported for a person to settle.
        System::Otmm => {
            let detail = format!(
                "title data differs; OTMM is authoritative, Consonance left as is: {}",
                summary.join("; ")
            );
            (None, vec![note(Flow::IdentifierAlignment, "identifiers.drift", Outcome::Skipped, detail, data)])
        }
    }
}

mod repeat;
pub use repeat::repeated_approval;

#[cfg(test)]
mod tests;
