//! Asset requests (flow 3, Consonance → OTMM), decided purely.
//!
//! As a title moves through Consonance's project stages, [`needed_assets`] says which asset
//! roles it needs by when (the product form's launch requirement, from the stage the
//! `[requests]` config names, due `due_days_before_publication` before publication);
//! [`plan_requests`] compares that with the links and the requests already raised and answers
//! what to do: create a request, close one whose asset arrived, re-date one whose schedule
//! slipped. Requests have a deterministic key (`<isbn13>#<role>`, [`request_key`]), so the same
//! request is never raised twice; [`apply_commands`] gives the requests after a plan, and
//! planning again on that result asks for nothing.
//!
//! The application layer (`connector_app::requests`) gathers the facts, carries the commands
//! out in OTMM (a folder or a placeholder asset per request) and stores each request as a
//! `Documents` record of kind [`REQUEST_DOC_KIND`](crate::readiness::REQUEST_DOC_KIND).

use crate::audit::AuditAction;
use crate::config::{MappingConfig, ProductForm};
use crate::ids::{AssetId, Isbn13, ProductId, WorkId};
use crate::mapping::{AssetLink, LinkStatus};
use crate::role::AssetRole;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What the request planner needs to know about one title (one Consonance product).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFacts {
    pub isbn: Isbn13,
    pub work_id: WorkId,
    pub product_id: ProductId,
    pub title: String,
    pub imprint: Option<String>,
    pub form: Option<ProductForm>,
    /// The product's publication date (actual, else planned).
    pub publication_date: Option<NaiveDate>,
    /// The work's Consonance `projectStage`.
    pub stage: Option<String>,
}

/// One asset role a title needs, and by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub role: AssetRole,
    /// Publication date minus the form's lead time; `None` while there is no publication date.
    pub due: Option<NaiveDate>,
}

/// The due date of a role for a product of `form` published on `publication_date`.
pub fn due_date(
    config: &MappingConfig,
    form: &ProductForm,
    publication_date: Option<NaiveDate>,
) -> Option<NaiveDate> {
    let lead = config.launch_for(form)?.due_days_before_publication;
    publication_date.map(|d| d - Duration::days(i64::from(lead)))
}

/// The roles the title needs at its current stage, in the launch requirement's order. Nothing
/// without `[requests]` in the config, without a launch requirement for the form, or at a
/// stage the config does not list (an unknown stage raises nothing rather than everything).
pub fn needed_assets(facts: &RequestFacts, config: &MappingConfig) -> Vec<Need> {
    let (Some(rules), Some(form), Some(stage)) = (&config.request_rules, &facts.form, &facts.stage) else {
        return Vec::new();
    };
    let Some(launch) = config.launch_for(form) else { return Vec::new() };
    let due = due_date(config, form, facts.publication_date);
    launch
        .roles
        .iter()
        .filter(|role| rules.requests_role_at(**role, stage))
        .map(|role| Need { role: *role, due })
        .collect()
}

/// The request's key and id, in the connector and in OTMM's request-id field: `<isbn13>#<role>`.
pub fn request_key(isbn: &Isbn13, role: AssetRole) -> String {
    format!("{isbn}#{role}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Open,
    /// The asset arrived (an approved version was linked).
    Closed,
}

/// Where the request lives in OTMM once created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtmmRequestRef {
    /// `folder` or `placeholder`.
    pub kind: String,
    /// The folder id, or the placeholder asset's id.
    pub id: String,
}

/// An asset request: the body of a `Documents` record of kind `asset_request`, id [`AssetRequest::key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRequest {
    /// `<isbn13>#<role>`: also the value of OTMM's request-id field.
    pub key: String,
    pub isbn: Isbn13,
    pub work_id: WorkId,
    pub product_id: ProductId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_form: Option<String>,
    pub role: AssetRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    /// The release (publication) date the due date was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication_date: Option<NaiveDate>,
    /// The publication date when the request was raised (shows a slipped schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_publication_date: Option<NaiveDate>,
    pub status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otmm: Option<OtmmRequestRef>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// The asset (lineage id) and version whose approval closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfilled_by: Option<AssetId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfilled_version: Option<u32>,
    /// Earlier due dates, oldest first (each re-dating appends the one it replaced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_due: Vec<NaiveDate>,
}

/// What to do about one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum RequestCommand {
    /// Raise the request in OTMM and record it.
    Create { request: Box<AssetRequest> },
    /// The asset arrived: mark the request fulfilled in OTMM.
    Close { key: String, asset_id: AssetId, version: u32 },
    /// The schedule moved: write the new due date.
    Redate {
        key: String,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        publication_date: Option<NaiveDate>,
    },
}

impl RequestCommand {
    pub fn key(&self) -> &str {
        match self {
            RequestCommand::Create { request } => &request.key,
            RequestCommand::Close { key, .. } | RequestCommand::Redate { key, .. } => key,
        }
    }
    /// The audit action: `request.created`, `request.closed`, `request.redated`.
    pub fn action(&self) -> AuditAction {
        match self {
            RequestCommand::Create { .. } => AuditAction::RequestCreated,
            RequestCommand::Close { .. } => AuditAction::RequestClosed,
            RequestCommand::Redate { .. } => AuditAction::RequestRedated,
        }
    }
}

/// Whether a link stands for an asset of this product: linked (not pending, withdrawn or
/// failed), and on this product (its resource is on the product, or it is the title's own).
pub fn link_covers(link: &AssetLink, isbn: &Isbn13, product_id: ProductId) -> bool {
    link.status == LinkStatus::Linked && (link.product_ids.contains(&product_id) || &link.key.isbn == isbn)
}

/// The approved, linked asset of `role` for this product, if any (the latest approval).
pub fn arrived<'a>(links: &'a [AssetLink], facts: &RequestFacts, role: AssetRole) -> Option<&'a AssetLink> {
    links
        .iter()
        .filter(|l| l.key.role == role && link_covers(l, &facts.isbn, facts.product_id))
        .max_by_key(|l| l.approval.approved_at)
}

/// Decides what to do about the title's requests. `links` are the work's links (any ISBN of the
/// work: a cover approved for the hardback covers the ebook too); `existing` its requests.
///
/// - a needed role with no arrived asset and no request: create one;
/// - an open request whose asset arrived: close it (whether or not the role is still needed);
/// - an open request whose due date changed: re-date it;
/// - a closed request is never raised again (the key stays taken).
pub fn plan_requests(
    facts: &RequestFacts,
    needs: &[Need],
    links: &[AssetLink],
    existing: &[AssetRequest],
    now: DateTime<Utc>,
) -> Vec<RequestCommand> {
    let mut commands = Vec::new();
    let find = |key: &str| existing.iter().find(|r| r.key == key);
    for need in needs {
        let key = request_key(&facts.isbn, need.role);
        let asset = arrived(links, facts, need.role);
        match (find(&key), asset) {
            (None, None) => commands.push(RequestCommand::Create {
                request: Box::new(AssetRequest {
                    key,
                    isbn: facts.isbn.clone(),
                    work_id: facts.work_id,
                    product_id: facts.product_id,
                    title: facts.title.clone(),
                    imprint: facts.imprint.clone(),
                    product_form: facts.form.as_ref().map(|f| f.to_string()),
                    role: need.role,
                    due: need.due,
                    publication_date: facts.publication_date,
                    first_publication_date: facts.publication_date,
                    status: RequestStatus::Open,
                    otmm: None,
                    created_at: now,
                    closed_at: None,
                    fulfilled_by: None,
                    fulfilled_version: None,
                    previous_due: Vec::new(),
                }),
            }),
            (Some(r), None) if r.status == RequestStatus::Open && r.due != need.due => {
                commands.push(RequestCommand::Redate {
                    key,
                    from: r.due,
                    to: need.due,
                    publication_date: facts.publication_date,
                })
            }
            _ => {}
        }
    }
    // Close every open request of the title whose asset arrived, needed now or not.
    for r in existing.iter().filter(|r| r.status == RequestStatus::Open && r.isbn == facts.isbn) {
        if let Some(link) = arrived(links, facts, r.role) {
            commands.push(RequestCommand::Close {
                key: r.key.clone(),
                asset_id: link.approval.asset_id.clone(),
                version: link.approval.version,
            });
        }
    }
    commands
}

/// One request after a command (`None` for a `Create` of a key that exists, or a command for
/// another key). The application layer writes this as the new document.
pub fn apply_command(
    current: Option<&AssetRequest>,
    command: &RequestCommand,
    now: DateTime<Utc>,
) -> Option<AssetRequest> {
    match (command, current) {
        (RequestCommand::Create { request }, None) => Some(request.as_ref().clone()),
        (RequestCommand::Close { key, asset_id, version }, Some(r)) if &r.key == key => Some(AssetRequest {
            status: RequestStatus::Closed,
            closed_at: Some(now),
            fulfilled_by: Some(asset_id.clone()),
            fulfilled_version: Some(*version),
            ..r.clone()
        }),
        (RequestCommand::Redate { key, from, to, publication_date }, Some(r)) if &r.key == key => {
            let mut previous_due = r.previous_due.clone();
            previous_due.extend(*from);
            Some(AssetRequest { due: *to, publication_date: *publication_date, previous_due, ..r.clone() })
        }
        _ => None,
    }
}

/// The requests after carrying out `commands` (pure; for tests and dry runs).
pub fn apply_commands(
    existing: &[AssetRequest],
    commands: &[RequestCommand],
    now: DateTime<Utc>,
) -> Vec<AssetRequest> {
    let mut out: Vec<AssetRequest> = existing.to_vec();
    for c in commands {
        let pos = out.iter().position(|r| r.key == c.key());
        if let Some(next) = apply_command(pos.map(|i| &out[i]), c, now) {
            match pos {
                Some(i) => out[i] = next,
                None => out.push(next),
            }
        }
    }
    out
}

/// A one-line description of a request (OTMM folder/placeholder name, audit detail).
pub fn request_summary(r: &AssetRequest) -> String {
    let due = r.due.map_or_else(|| "no due date yet".to_string(), |d| format!("due {d}"));
    format!(
        "{} for {} ({}, ISBN {}), {due}",
        r.role,
        r.title,
        r.product_form.as_deref().unwrap_or("?"),
        r.isbn
    )
}

#[cfg(test)]
pub(crate) mod tests;
