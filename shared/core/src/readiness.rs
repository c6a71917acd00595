//! Launch readiness (flow 8): the shape of the report the connector keeps per title and shows
//! in the HTTP API, on the board and in Consonance.
//!
//! Stored as a `Documents` record of kind [`READINESS_DOC_KIND`] with the ISBN-13 as id; the
//! pure evaluation that produces it lives beside these types: [`evaluate_readiness`] gives a
//! title's report from its facts (links, OTMM assets, requests, packages, milestones), built
//! from [`role_readiness`] per required role and [`summarise`] for the status and reasons.
//!
//! Status rules (the same everywhere: API, board, Consonance):
//! - **ready**: every required role linked or packaged (so approved, tagged and rights-cleared);
//!   no pending milestone slipped;
//! - **at risk**: a required role is not ready but not yet due, or a milestone (manuscript,
//!   design) slipped and is still pending;
//! - **blocked**: a required role is rights-blocked, or not ready past its due date, or the
//!   title is published without it.
//!
//! Improving any role (in [`RoleState::rank`] order) never worsens the status: a property test
//! checks it.

use crate::config::{FieldName, MappingConfig, ProductForm};
use crate::ids::{AssetId, Isbn13, ProductId, WorkId};
use crate::mapping::{AssetLink, LinkStatus};
use crate::package::PackageStatus;
use crate::requests::{AssetRequest, RequestFacts, RequestStatus, arrived, due_date, request_key};
use crate::rights::{Channel, CountryCode, ProductSalesRights, may_use};
use crate::role::AssetRole;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
    /// Linked, but its file failed a recipient's delivery check (issue 18): the package is
    /// blocked for that recipient until a new version (or a changed spec) passes.
    CheckFailed,
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
            RoleState::CheckFailed => "check_failed",
            RoleState::Linked => "linked",
            RoleState::Packaged => "packaged",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        RoleState::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub const ALL: [RoleState; 8] = [
        RoleState::Missing,
        RoleState::Requested,
        RoleState::InReview,
        RoleState::Untagged,
        RoleState::RightsBlocked,
        RoleState::CheckFailed,
        RoleState::Linked,
        RoleState::Packaged,
    ];
    /// Linked or packaged: counts towards launch.
    pub fn is_ready(self) -> bool {
        matches!(self, RoleState::Linked | RoleState::Packaged)
    }
    /// How far along the role is, for "improving" (rights-blocked and check-failed are worst:
    /// they block the launch outright, whatever the dates).
    pub fn rank(self) -> u8 {
        match self {
            RoleState::RightsBlocked | RoleState::CheckFailed => 0,
            RoleState::Missing => 1,
            RoleState::Requested => 2,
            RoleState::InReview => 3,
            RoleState::Untagged => 4,
            RoleState::Linked => 5,
            RoleState::Packaged => 6,
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
    /// The work's Consonance project stage when evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

impl TitleReadiness {
    /// The role entry, if the form requires the role.
    pub fn role(&self, role: AssetRole) -> Option<&RoleReadiness> {
        self.roles.iter().find(|r| r.role == role)
    }
    /// Whether the report says the same as `other`, apart from when it was evaluated (and so
    /// the days to publication): a re-evaluation that changes nothing is not written again.
    pub fn same_as(&self, other: &TitleReadiness) -> bool {
        let strip = |r: &TitleReadiness| TitleReadiness {
            evaluated_at: DateTime::<Utc>::UNIX_EPOCH,
            days_to_publication: None,
            ..r.clone()
        };
        strip(self) == strip(other)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation inputs

/// The title as readiness sees it: the request facts and the product's sales rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessFacts {
    pub title: RequestFacts,
    pub sales_rights: ProductSalesRights,
}

/// The latest version of an OTMM asset of the title, as seen in OTMM (not only linked ones):
/// shows assets in review and assets whose launch fields are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedAsset {
    pub lineage_id: AssetId,
    pub role: AssetRole,
    pub version: u32,
    pub approved: bool,
    /// `[launch] required_fields` that are empty on this version.
    #[serde(default)]
    pub missing_fields: Vec<FieldName>,
}

impl ObservedAsset {
    /// An asset version as read, in `role`.
    pub fn of(asset: &crate::plan::AssetFacts, role: AssetRole) -> ObservedAsset {
        ObservedAsset {
            lineage_id: asset.lineage_id.clone(),
            role,
            version: asset.version,
            approved: asset.approved,
            missing_fields: asset.missing_launch_fields.clone(),
        }
    }
}

/// A production package of the title (read loosely from the `package` document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSummary {
    pub channel: String,
    pub status: PackageStatus,
    /// Roles of the files it includes.
    pub roles: BTreeSet<AssetRole>,
    /// The recipients' failed delivery checks, per role of the file that failed (issue 18).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_failures: Vec<CheckFailure>,
}

/// One failed delivery check of a package file: the role the file fills, the recipient, and
/// the check's reason (naming the file, the check, the measured value and the limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckFailure {
    pub role: AssetRole,
    pub recipient: String,
    pub reason: String,
}

impl PackageSummary {
    /// Reads a `package` document body (`status`, `files: [{role, ...}]`); unknown roles are
    /// skipped, a body without a status (or with one no build writes) is `None`.
    pub fn from_doc(channel: &str, body: &serde_json::Value) -> Option<PackageSummary> {
        let status: PackageStatus = serde_json::from_value(body.get("status")?.clone()).ok()?;
        let roles = body
            .get("files")
            .and_then(|f| f.as_array())
            .map(|files| {
                files
                    .iter()
                    .filter_map(|f| f.get("role").and_then(|r| r.as_str()).and_then(|r| r.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        let check_failures = check_failures_of(body);
        Some(PackageSummary { channel: channel.to_string(), status, roles, check_failures })
    }
    pub fn includes(&self, role: AssetRole) -> bool {
        self.status.is_staged() && self.roles.contains(&role)
    }
}

/// The failed checks of a `package` document's `delivery_checks` (`[{recipient, checks:
/// [{file, passed, reason}]}]`), each given the role of the file it names (the file's name is
/// the last segment of its staged `key`). Checks of the whole package take no role: skipped.
fn check_failures_of(body: &serde_json::Value) -> Vec<CheckFailure> {
    let str_of = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let empty = Vec::new();
    let files = body.get("files").and_then(|f| f.as_array()).unwrap_or(&empty);
    let role_of = |name: &str| {
        files.iter().find_map(|f| {
            let key = str_of(f, "key")?;
            (key.rsplit('/').next() == Some(name)).then(|| str_of(f, "role")?.parse::<AssetRole>().ok())?
        })
    };
    let verdicts = body.get("delivery_checks").and_then(|d| d.as_array()).unwrap_or(&empty);
    let mut out = Vec::new();
    for v in verdicts {
        let Some(recipient) = str_of(v, "recipient") else { continue };
        let checks = v.get("checks").and_then(|c| c.as_array()).unwrap_or(&empty);
        for c in checks.iter().filter(|c| c.get("passed").and_then(|p| p.as_bool()) == Some(false)) {
            let (Some(file), Some(reason)) = (str_of(c, "file"), str_of(c, "reason")) else { continue };
            if let Some(role) = role_of(&file) {
                out.push(CheckFailure { role, recipient: recipient.clone(), reason });
            }
        }
    }
    out
}

/// Consonance schedule facts of a work, from which the milestones are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleFacts {
    pub stage: Option<String>,
    pub ms_delivery_date: Option<NaiveDate>,
    pub revised_ms_delivery_date: Option<NaiveDate>,
    pub actual_ms_delivery_date: Option<NaiveDate>,
    /// Contract delivery dates: (deliverable type, due, slipped to).
    pub delivery_dates: Vec<(String, NaiveDate, Option<NaiveDate>)>,
    /// Production runs' delivery dates.
    pub production_run_dates: Vec<NaiveDate>,
    /// Schedule facts the tenant could not give, and why (e.g. its schema has no path from a
    /// work to its contract): the report says so in its reasons instead of failing.
    #[serde(default)]
    pub unavailable: Vec<String>,
}

/// The title's milestones: manuscript approval (contract manuscript delivery, revised date as
/// the slip, actual date as done), design completion (the contract's "Design" delivery date,
/// else the first production run's delivery; done once a production run is delivered),
/// publication (first recorded date, slipped to the current one, done once past).
pub fn milestones(
    schedule: &ScheduleFacts,
    publication_date: Option<NaiveDate>,
    first_publication_date: Option<NaiveDate>,
    today: NaiveDate,
) -> Vec<Milestone> {
    let delivery =
        |kind: &str| schedule.delivery_dates.iter().find(|(t, _, _)| t.to_ascii_lowercase().contains(kind));
    let manuscript = delivery("manuscript");
    let ms_due = schedule.ms_delivery_date.or(manuscript.map(|d| d.1));
    let ms_slip =
        schedule.revised_ms_delivery_date.or(manuscript.and_then(|d| d.2)).filter(|s| Some(*s) > ms_due);
    let first_run = schedule.production_run_dates.iter().min().copied();
    let design = delivery("design");
    let design_due = design.map(|d| d.1).or(first_run);
    let design_slip = design.and_then(|d| d.2).filter(|s| Some(*s) > design_due);
    let design_done = first_run.filter(|d| *d <= today);
    let baseline = first_publication_date.or(publication_date);
    let mut out = Vec::new();
    if ms_due.is_some() || schedule.actual_ms_delivery_date.is_some() {
        out.push(Milestone {
            kind: MilestoneKind::ManuscriptApproval,
            due: ms_due,
            done: schedule.actual_ms_delivery_date,
            slipped_to: ms_slip,
        });
    }
    if design_due.is_some() {
        out.push(Milestone {
            kind: MilestoneKind::DesignCompletion,
            due: design_due,
            done: design_done,
            slipped_to: design_slip,
        });
    }
    if baseline.is_some() {
        out.push(Milestone {
            kind: MilestoneKind::Publication,
            due: baseline,
            done: publication_date.filter(|d| *d <= today),
            slipped_to: publication_date.filter(|p| Some(*p) > baseline),
        });
    }
    out
}

impl MilestoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MilestoneKind::ManuscriptApproval => "manuscript approval",
            MilestoneKind::DesignCompletion => "design completion",
            MilestoneKind::Publication => "publication",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Why the asset's rights do not cover the product on `channel` at `date`, if they do not.
/// Checked in every country the product is for sale in that the asset's territory names, and
/// for a product for sale worldwide, the asset must be usable worldwide too.
pub fn rights_denial(
    link: &AssetLink,
    product: &ProductSalesRights,
    channel: Channel,
    date: NaiveDate,
) -> Option<String> {
    if link.status == LinkStatus::Withdrawn {
        return Some("the link was withdrawn (rights no longer cover it)".into());
    }
    let rights = link.rights.as_ref()?;
    if product.for_sale_worldwide && !rights.territory.world {
        return Some(format!(
            "the asset may be used in {} only, the product is for sale worldwide",
            rights.territory
        ));
    }
    let mut countries: BTreeSet<CountryCode> = product.for_sale.iter().copied().collect();
    countries.extend(rights.territory.excluded.iter().copied());
    countries.extend(rights.territory.included.iter().copied());
    countries.retain(|c| product.is_for_sale_in(*c));
    if countries.is_empty() {
        // Window and channel do not depend on the country: check them once.
        countries.extend(CountryCode::parse("GB").ok());
        return countries.into_iter().find_map(|c| {
            let anywhere = ProductSalesRights { for_sale_worldwide: true, ..Default::default() };
            may_use(rights, &anywhere, c, channel, date).err().map(|d| format!("{d} ({channel})"))
        });
    }
    countries.into_iter().find_map(|c| {
        may_use(rights, product, c, channel, date).err().map(|d| format!("{d} ({c}, {channel})"))
    })
}

/// Where one required role stands for the title.
#[allow(clippy::too_many_arguments)]
pub fn role_readiness(
    facts: &ReadinessFacts,
    role: AssetRole,
    links: &[AssetLink],
    assets: &[ObservedAsset],
    requests: &[AssetRequest],
    packages: &[PackageSummary],
    config: &MappingConfig,
    today: NaiveDate,
) -> RoleReadiness {
    let t = &facts.title;
    let due = t.form.as_ref().and_then(|f| due_date(config, f, t.publication_date));
    let key = request_key(&t.isbn, role);
    let request = requests.iter().find(|r| r.key == key);
    let mut out = RoleReadiness {
        role,
        state: RoleState::Missing,
        asset_id: None,
        version: None,
        request_id: request.map(|r| r.key.clone()),
        due,
        reasons: Vec::new(),
    };
    let channel =
        t.form.as_ref().and_then(|f| config.default_channels(f)).and_then(|c| c.iter().next().copied());
    // A withdrawn link whose asset is still in OTMM: its rights no longer cover the product
    // (flow 4). One whose asset is gone (deleted) counts as no asset.
    let withdrawn = links.iter().find(|l| {
        l.key.role == role
            && l.status == LinkStatus::Withdrawn
            && (l.product_ids.contains(&t.product_id) || l.key.isbn == t.isbn)
            && assets.iter().any(|a| a.lineage_id == l.approval.asset_id)
    });
    if let Some(link) = arrived(links, t, role) {
        out.asset_id = Some(link.approval.asset_id.clone());
        out.version = Some(link.approval.version);
        let denial = channel.and_then(|ch| rights_denial(link, &facts.sales_rights, ch, today));
        let observed = assets.iter().find(|a| a.lineage_id == link.approval.asset_id);
        if let Some(d) = denial {
            out.state = RoleState::RightsBlocked;
            out.reasons.push(format!("{role}: rights do not clear it: {d}"));
        } else if let Some(a) = observed.filter(|a| !a.missing_fields.is_empty()) {
            out.state = RoleState::Untagged;
            let names: Vec<&str> = a.missing_fields.iter().map(|f| f.as_str()).collect();
            out.reasons.push(format!("{role}: version {} lacks {}", a.version, names.join(", ")));
        } else if packages.iter().any(|p| p.check_failures.iter().any(|f| f.role == role)) {
            out.state = RoleState::CheckFailed;
            out.reasons.extend(check_failures_for(packages, role));
        } else if packages.iter().any(|p| p.includes(role)) {
            out.state = RoleState::Packaged;
        } else {
            out.state = RoleState::Linked;
        }
    } else if let Some(link) = withdrawn {
        out.asset_id = Some(link.approval.asset_id.clone());
        out.version = Some(link.approval.version);
        out.state = RoleState::RightsBlocked;
        out.reasons.push(format!("{role}: the linked asset was withdrawn (rights no longer cover it)"));
    } else if let Some(a) = assets.iter().filter(|a| a.role == role).max_by_key(|a| a.version) {
        out.asset_id = Some(a.lineage_id.clone());
        out.version = Some(a.version);
        out.state = RoleState::InReview;
        out.reasons.push(if a.approved {
            format!("{role}: version {} is approved but not linked yet", a.version)
        } else {
            format!("{role}: version {} is in review", a.version)
        });
    } else if request.is_some_and(|r| r.status == RequestStatus::Open) {
        out.state = RoleState::Requested;
        out.reasons.push(format!("{role}: requested in OTMM, nothing uploaded yet"));
    } else {
        out.reasons.push(format!("{role}: no asset in OTMM"));
    }
    out
}

/// `<role>: delivery check failed for <recipient>: <reason>` per failed check of the role's
/// file in any of the title's packages.
fn check_failures_for(packages: &[PackageSummary], role: AssetRole) -> Vec<String> {
    packages
        .iter()
        .flat_map(|p| p.check_failures.iter().filter(|f| f.role == role))
        .map(|f| format!("{role}: delivery check failed for {}: {}", f.recipient, f.reason))
        .collect()
}

/// The status and the reasons (most serious first) of a title with these roles and milestones.
pub fn summarise(
    roles: &[RoleReadiness],
    milestones: &[Milestone],
    publication_date: Option<NaiveDate>,
    today: NaiveDate,
) -> (ReadinessStatus, Vec<String>) {
    let mut reasons: Vec<(ReadinessStatus, String)> = Vec::new();
    let published = publication_date.is_some_and(|p| p <= today);
    for r in roles.iter().filter(|r| !r.state.is_ready()) {
        let what = r.reasons.first().cloned().unwrap_or_else(|| format!("{}: {}", r.role, r.state.as_str()));
        if r.state == RoleState::RightsBlocked {
            reasons.push((ReadinessStatus::Blocked, what));
        } else if r.state == RoleState::CheckFailed {
            // Every failed check blocks: the recipient would reject the file.
            reasons.extend(r.reasons.iter().map(|w| (ReadinessStatus::Blocked, w.clone())));
        } else if published {
            let p = publication_date.map(|d| d.to_string()).unwrap_or_default();
            reasons.push((ReadinessStatus::Blocked, format!("{what}; published on {p} without it")));
        } else {
            match r.due {
                Some(due) if due < today => {
                    let late = (today - due).num_days();
                    reasons
                        .push((ReadinessStatus::Blocked, format!("{what}; was due {due} ({late} days ago)")));
                }
                Some(due) => {
                    let left = (due - today).num_days();
                    reasons.push((ReadinessStatus::AtRisk, format!("{what}; due {due} (in {left} days)")));
                }
                None => reasons.push((ReadinessStatus::AtRisk, format!("{what}; no publication date yet"))),
            }
        }
    }
    for m in milestones.iter().filter(|m| m.kind != MilestoneKind::Publication && m.done.is_none()) {
        if let (Some(due), Some(to)) = (m.due, m.slipped_to)
            && to >= today
        {
            reasons
                .push((ReadinessStatus::AtRisk, format!("{} slipped from {due} to {to}", m.kind.as_str())));
        }
    }
    // Most serious first; stable within a severity (role order, then milestones).
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    let status = reasons.first().map_or(ReadinessStatus::Ready, |r| r.0);
    (status, reasons.into_iter().map(|r| r.1).collect())
}

/// A title's launch readiness: every role its product form requires, the milestones, a status
/// with reasons and the days to publication.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_readiness(
    facts: &ReadinessFacts,
    milestones: &[Milestone],
    links: &[AssetLink],
    assets: &[ObservedAsset],
    requests: &[AssetRequest],
    packages: &[PackageSummary],
    config: &MappingConfig,
    now: DateTime<Utc>,
) -> TitleReadiness {
    let today = now.date_naive();
    let t = &facts.title;
    let required: Vec<AssetRole> =
        t.form.as_ref().and_then(|f| config.launch_for(f)).map(|l| l.roles.clone()).unwrap_or_default();
    let roles: Vec<RoleReadiness> = required
        .iter()
        .map(|role| role_readiness(facts, *role, links, assets, requests, packages, config, today))
        .collect();
    let (status, reasons) = summarise(&roles, milestones, t.publication_date, today);
    TitleReadiness {
        isbn: t.isbn.clone(),
        work_id: t.work_id,
        product_id: t.product_id,
        title: t.title.clone(),
        imprint: t.imprint.clone(),
        product_form: t.form.as_ref().map(ProductForm::to_string),
        publication_date: t.publication_date,
        days_to_publication: t.publication_date.map(|p| (p - today).num_days()),
        status,
        reasons,
        milestones: milestones.to_vec(),
        roles,
        evaluated_at: now,
        stage: t.stage.clone(),
    }
}

/// Filter for listing readiness reports (the API's `GET /titles`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReadinessStatus>,
    /// Exact imprint name (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imprint: Option<String>,
    /// ONIX product form, e.g. `BB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// Publication date on or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Publication date on or before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

impl ReadinessFilter {
    pub fn matches(&self, r: &TitleReadiness) -> bool {
        self.status.is_none_or(|s| r.status == s)
            && self
                .imprint
                .as_ref()
                .is_none_or(|i| r.imprint.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(i)))
            && self.form.as_ref().is_none_or(|f| r.product_form.as_deref() == Some(f.as_str()))
            && self.from.is_none_or(|d| r.publication_date.is_some_and(|p| p >= d))
            && self.to.is_none_or(|d| r.publication_date.is_some_and(|p| p <= d))
    }
}

#[cfg(test)]
mod tests;
