//! What `connector plan` reports, built from what the dry run left behind: the audit records
//! its full reconcile and processing wrote on the scratch state, and the writes the dry-run
//! ports recorded. Pure: the command gathers the inputs, this sorts them into the sections a
//! production manager reads (links, identifiers, requests, packages, dead letters) and renders
//! the table. The JSON shape ([`PlanReport`]) is documented in README ("connector plan") and
//! versioned by [`FORMAT`].

use connector_app::dry_run::PlannedWrite;
use connector_core::rights_eval::ProductDenial;
use connector_core::{AuditAction, AuditRecord, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `format` of the JSON report; bumped when a field changes meaning or goes away.
pub const FORMAT: &str = "connector-plan/1";

/// Audit actions that are link decisions (flows 1, 2 and 4), shown in the links section.
const LINK_ACTIONS: &[AuditAction] = &[
    AuditAction::LinkCreated,
    AuditAction::LinkReplaced,
    AuditAction::LinkWithdrawn,
    AuditAction::LinkWithheld,
    AuditAction::LinkNarrowed,
    AuditAction::LinkWidened,
    AuditAction::LinkChanged,
    AuditAction::LinkRestored,
    AuditAction::LinkSuperseded,
    AuditAction::LinkNotJpeg,
    AuditAction::LinkNoProducts,
];

/// Identifier actions (flow 6): rewrites, and problems reported but never written.
const IDENTIFIER_ACTIONS: &[AuditAction] = &[
    AuditAction::IdentifiersAligned,
    AuditAction::IdentifiersDrift,
    AuditAction::IsbnInvalid,
    AuditAction::IsbnMissing,
];

const REQUEST_ACTIONS: &[AuditAction] =
    &[AuditAction::RequestCreated, AuditAction::RequestClosed, AuditAction::RequestRedated];

const PACKAGE_ACTIONS: &[AuditAction] = &[
    AuditAction::PackageStaged,
    AuditAction::PackageBlocked,
    AuditAction::PackageCheckPassed,
    AuditAction::PackageReleased,
    AuditAction::PackageFailed,
];

/// Everything `connector plan` found, in a stable shape (`--json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    pub format: String,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// Where the systems were (URLs) and which state the plan started from.
    pub context: Context,
    pub summary: Summary,
    pub links: Vec<LinkAction>,
    pub identifiers: Vec<IdentifierAction>,
    pub requests: Vec<RequestAction>,
    pub packages: Vec<PackageAction>,
    pub dead_letters: Vec<DeadLetterAction>,
    /// Every write a real run would make, in order, as the dry-run ports recorded it.
    pub writes: Vec<PlannedWrite>,
    /// Audit actions of the run that no section above shows, with how often each came up
    /// (e.g. `approval.repeat`, `title.mapped`, `readiness.changed`).
    pub other_actions: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub otmm: String,
    pub consonance: String,
    /// `environment`, `serve simulators` or `own simulators`.
    pub systems: String,
    /// The state directory copied for the plan, or `none` (a first install: fresh state).
    pub state: String,
}

/// Counts per section: `links` by action without its `link.` prefix (`created`, `withheld`…),
/// the same for `requests` and `packages`; `writes` by system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub links: BTreeMap<String, u64>,
    pub identifier_rewrites: u64,
    pub identifier_problems: u64,
    pub requests: BTreeMap<String, u64>,
    pub packages: BTreeMap<String, u64>,
    pub dead_letters: u64,
    pub writes: BTreeMap<String, u64>,
}

/// One link decision about one asset version and title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkAction {
    /// `created`, `replaced`, `withdrawn`, `withheld`, `narrowed`, `widened`, `changed`,
    /// `restored`, `superseded`, `not_jpeg`, `no_products`.
    pub action: String,
    pub isbn: Option<String>,
    /// The OTMM lineage id (first version's id).
    pub asset_id: Option<String>,
    pub version: Option<u32>,
    /// The connector role (`front_cover`…), where the mapping has the link.
    pub role: Option<String>,
    /// Products it would be linked to (`withheld`: the products its role would take, which
    /// the rights keep it from; a rights change: the products after it).
    pub product_ids: Vec<i64>,
    /// Products the rights keep it from, with every reason (`RightsReason` texts).
    pub denied: Vec<Denied>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Denied {
    pub product_id: i64,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentifierAction {
    /// `aligned` (rewritten on the OTMM asset), `drift` (reported: OTMM is authoritative),
    /// `invalid` / `missing` (an ISBN that is never written anywhere).
    pub action: String,
    pub isbn: Option<String>,
    pub asset_id: Option<String>,
    pub version: Option<u32>,
    /// Field id, value now, value it would write (for `aligned` and `drift`).
    pub fixes: Vec<FieldFix>,
    pub detail: String,
}

impl IdentifierAction {
    /// The change as one line: each fix through `fix`, `; `-separated, or the detail when it
    /// has none.
    pub fn change_text(&self, fix: impl Fn(&FieldFix) -> String) -> String {
        if self.fixes.is_empty() {
            self.detail.clone()
        } else {
            self.fixes.iter().map(fix).collect::<Vec<_>>().join("; ")
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldFix {
    pub field: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestAction {
    /// `created`, `closed`, `redated`.
    pub action: String,
    pub isbn: Option<String>,
    /// `<isbn13>#<role>`: the request id OTMM would carry.
    pub request_id: Option<String>,
    pub role: Option<String>,
    pub due: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageAction {
    /// `staged`, `blocked`, `check_passed`, `released`, `failed`.
    pub action: String,
    pub isbn: Option<String>,
    pub channel: Option<String>,
    /// Why it is blocked (delivery checks, rights), one line each.
    pub reasons: Vec<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterAction {
    /// The audit action naming the cause (`title.not_found`, `asset.not_found`…).
    pub action: AuditAction,
    pub isbn: Option<String>,
    pub asset_id: Option<String>,
    pub version: Option<u32>,
    pub cause: String,
}

/// What the report is built from.
pub struct Inputs {
    pub generated_at: chrono::DateTime<chrono::Utc>,
    pub context: Context,
    /// The audit records the plan's run wrote (scratch state), in any order.
    pub records: Vec<AuditRecord>,
    pub writes: Vec<PlannedWrite>,
    /// `(isbn, lineage id)` -> role, from the scratch mapping after the run.
    pub roles: BTreeMap<(String, String), String>,
}

/// The action without its kind (`created` for `link.created`): the section says the kind.
fn strip(action: AuditAction) -> String {
    action.verb().to_string()
}

fn str_at(data: &serde_json::Value, key: &str) -> Option<String> {
    match data.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn ids_at(data: &serde_json::Value, key: &str) -> Vec<i64> {
    data.get(key)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_i64()).collect())
        .unwrap_or_default()
}

fn denied_at(data: &serde_json::Value) -> Vec<Denied> {
    let denials: Vec<ProductDenial> =
        data.get("denied").and_then(|d| serde_json::from_value(d.clone()).ok()).unwrap_or_default();
    denials
        .into_iter()
        .map(|d| Denied {
            product_id: d.product_id.0,
            reasons: d.reasons.iter().map(|r| r.to_string()).collect(),
        })
        .collect()
}

/// Sorts the run's records and writes into the report's sections.
pub fn build(inputs: Inputs) -> PlanReport {
    let Inputs { generated_at, context, mut records, writes, roles } = inputs;
    // Audit ids sort by time: the report reads in the order things would happen.
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let mut report = PlanReport {
        format: FORMAT.to_string(),
        generated_at,
        context,
        summary: Summary::default(),
        links: Vec::new(),
        identifiers: Vec::new(),
        requests: Vec::new(),
        packages: Vec::new(),
        dead_letters: Vec::new(),
        writes,
        other_actions: BTreeMap::new(),
    };
    for r in &records {
        let isbn = r.isbn.as_ref().map(|i| i.to_string());
        let asset_id = r.asset_id.as_ref().map(|a| a.to_string());
        let action = r.action;
        if r.outcome == Outcome::DeadLettered {
            report.dead_letters.push(DeadLetterAction {
                action: r.action,
                isbn,
                asset_id,
                version: r.asset_version,
                cause: r.detail.clone(),
            });
        } else if LINK_ACTIONS.contains(&action) {
            let role = match (&isbn, &asset_id) {
                (Some(i), Some(a)) => roles.get(&(i.clone(), a.clone())).cloned(),
                _ => None,
            };
            let after = ids_at(&r.data, "after");
            report.links.push(LinkAction {
                action: strip(action),
                isbn,
                asset_id,
                version: r.asset_version,
                role,
                product_ids: if r.data.get("after").is_some() {
                    after
                } else {
                    ids_at(&r.data, "product_ids")
                },
                denied: denied_at(&r.data),
                detail: r.detail.clone(),
            });
        } else if IDENTIFIER_ACTIONS.contains(&action) {
            let fixes = r
                .data
                .get("fixes")
                .and_then(|f| f.as_array())
                .map(|a| {
                    a.iter()
                        .map(|f| FieldFix {
                            field: str_at(f, "field").unwrap_or_default(),
                            from: str_at(f, "from").unwrap_or_default(),
                            to: str_at(f, "to").unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            report.identifiers.push(IdentifierAction {
                action: strip(action),
                isbn,
                asset_id,
                version: r.asset_version,
                fixes,
                detail: r.detail.clone(),
            });
        } else if REQUEST_ACTIONS.contains(&action) {
            report.requests.push(RequestAction {
                action: strip(action),
                isbn,
                request_id: str_at(&r.data, "request_id"),
                role: str_at(&r.data, "role"),
                due: str_at(&r.data, "due"),
                detail: r.detail.clone(),
            });
        } else if PACKAGE_ACTIONS.contains(&action) {
            let reasons = r
                .data
                .get("reasons")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            report.packages.push(PackageAction {
                action: strip(action),
                isbn,
                channel: str_at(&r.data, "channel"),
                reasons,
                detail: r.detail.clone(),
            });
        } else {
            *report.other_actions.entry(r.action.to_string()).or_default() += 1;
        }
    }
    let s = &mut report.summary;
    for l in &report.links {
        *s.links.entry(l.action.clone()).or_default() += 1;
    }
    s.identifier_rewrites = report.identifiers.iter().filter(|i| i.action == "aligned").count() as u64;
    s.identifier_problems = report.identifiers.len() as u64 - s.identifier_rewrites;
    for r in &report.requests {
        *s.requests.entry(r.action.clone()).or_default() += 1;
    }
    for p in &report.packages {
        *s.packages.entry(p.action.clone()).or_default() += 1;
    }
    s.dead_letters = report.dead_letters.len() as u64;
    for w in &report.writes {
        *s.writes.entry(w.system().to_string()).or_default() += 1;
    }
    report
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
}

/// Columns padded to their widest cell, two spaces apart; the last column is not padded.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::from("  ");
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            s.push_str(cell);
            if i < last {
                s.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        s.trim_end().to_string()
    };
    out.push_str(&line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>()));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
}

/// A short text for one planned write: system, operation and target.
pub fn describe_write(w: &PlannedWrite) -> (String, String) {
    let fields =
        |f: &[(String, String)]| f.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(", ");
    match w {
        PlannedWrite::OtmmUpdateFields { asset_id, fields: f } => {
            ("update fields".into(), format!("asset {asset_id}: {}", fields(f)))
        }
        PlannedWrite::OtmmCreateRequest { request_id, name, .. } => {
            ("create request".into(), format!("{request_id} ({name})"))
        }
        PlannedWrite::OtmmUpdateRequest { request, fields: f } => {
            ("update request".into(), format!("{request}: {}", fields(f)))
        }
        PlannedWrite::ConsonanceCreateResource {
            work_id,
            product_ids,
            resource_variant,
            dedupe_marker,
            ..
        } => (
            "create resource".into(),
            format!(
                "work {work_id}, products {:?}, {resource_variant} [{dedupe_marker}]",
                product_ids.iter().map(|p| p.0).collect::<Vec<_>>()
            ),
        ),
        PlannedWrite::ConsonanceUpload { resource_id, mime_type, bytes } => {
            ("upload".into(), format!("{resource_id}: {bytes} bytes {mime_type}"))
        }
        PlannedWrite::ConsonanceCreateWebLinks { work_id, product_ids, link, .. } => (
            "create web links".into(),
            format!(
                "work {work_id}, products {:?}: {link}",
                product_ids.iter().map(|p| p.0).collect::<Vec<_>>()
            ),
        ),
        PlannedWrite::ConsonanceCreateWebLink { isbn, link, role } => {
            ("create web link".into(), format!("{isbn} (role {role}): {link}"))
        }
        PlannedWrite::ConsonanceDeleteResource { resource_id } => {
            ("delete resource".into(), resource_id.clone())
        }
        PlannedWrite::ConsonanceDeleteResourcesMarked { work_id, marker_prefix } => {
            ("delete marked resources".into(), format!("work {work_id}: [{marker_prefix}…"))
        }
    }
}

/// The reasons of a link's denials on one line: `10021: territory …; 10022: …`.
pub fn denied_text(denied: &[Denied]) -> String {
    denied
        .iter()
        .map(|d| format!("{}: {}", d.product_id, d.reasons.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The table `connector plan` prints (stdout, the default).
pub fn render_table(r: &PlanReport) -> String {
    let mut out = String::new();
    let s = &r.summary;
    out.push_str(&format!(
        "connector plan (dry run: nothing was written) against OTMM {} and Consonance {} ({}), state {}\n",
        r.context.otmm, r.context.consonance, r.context.systems, r.context.state
    ));
    out.push_str(&format!("  links:        {}\n", counts(&s.links)));
    out.push_str(&format!(
        "  identifiers:  {} rewrites, {} problems reported\n",
        s.identifier_rewrites, s.identifier_problems
    ));
    out.push_str(&format!("  requests:     {}\n", counts(&s.requests)));
    out.push_str(&format!("  packages:     {}\n", counts(&s.packages)));
    out.push_str(&format!("  dead letters: {}\n", s.dead_letters));
    out.push_str(&format!("  writes:       {}\n", counts(&s.writes)));
    if !r.links.is_empty() {
        out.push_str("\nLinks\n");
        let rows: Vec<Vec<String>> = r
            .links
            .iter()
            .map(|l| {
                vec![
                    l.action.clone(),
                    opt(&l.isbn).to_string(),
                    opt(&l.role).to_string(),
                    opt(&l.asset_id).to_string(),
                    l.version.map_or("-".into(), |v| format!("v{v}")),
                    format!("{:?}", l.product_ids),
                    if l.denied.is_empty() { "-".into() } else { denied_text(&l.denied) },
                ]
            })
            .collect();
        table(&mut out, &["action", "isbn", "role", "asset", "version", "products", "rights"], &rows);
    }
    if !r.identifiers.is_empty() {
        out.push_str("\nIdentifiers\n");
        let rows: Vec<Vec<String>> = r
            .identifiers
            .iter()
            .map(|i| {
                let change = i.change_text(|f| format!("{}: {:?} -> {:?}", f.field, f.from, f.to));
                vec![i.action.clone(), opt(&i.isbn).to_string(), opt(&i.asset_id).to_string(), change]
            })
            .collect();
        table(&mut out, &["action", "isbn", "asset", "change"], &rows);
    }
    if !r.requests.is_empty() {
        out.push_str("\nAsset requests\n");
        let rows: Vec<Vec<String>> = r
            .requests
            .iter()
            .map(|q| {
                vec![
                    q.action.clone(),
                    opt(&q.isbn).to_string(),
                    opt(&q.role).to_string(),
                    opt(&q.due).to_string(),
                ]
            })
            .collect();
        table(&mut out, &["action", "isbn", "role", "due"], &rows);
    }
    if !r.packages.is_empty() {
        out.push_str("\nPackages\n");
        let rows: Vec<Vec<String>> = r
            .packages
            .iter()
            .map(|p| {
                vec![
                    p.action.clone(),
                    opt(&p.isbn).to_string(),
                    opt(&p.channel).to_string(),
                    if p.reasons.is_empty() { "-".into() } else { p.reasons.join("; ") },
                ]
            })
            .collect();
        table(&mut out, &["action", "isbn", "channel", "why"], &rows);
    }
    if !r.dead_letters.is_empty() {
        out.push_str("\nWould be dead-lettered\n");
        let rows: Vec<Vec<String>> = r
            .dead_letters
            .iter()
            .map(|d| {
                vec![
                    d.action.to_string(),
                    opt(&d.isbn).to_string(),
                    opt(&d.asset_id).to_string(),
                    d.cause.clone(),
                ]
            })
            .collect();
        table(&mut out, &["action", "isbn", "asset", "cause"], &rows);
    }
    if !r.writes.is_empty() {
        out.push_str("\nWrites it would make\n");
        let rows: Vec<Vec<String>> = r
            .writes
            .iter()
            .map(|w| {
                let (op, target) = describe_write(w);
                vec![w.system().to_string(), op, target]
            })
            .collect();
        table(&mut out, &["system", "operation", "target"], &rows);
    }
    out
}

#[cfg(test)]
mod tests;
