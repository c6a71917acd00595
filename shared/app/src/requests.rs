//! Asset requests (flow 3): carries out [`connector_core::requests::plan_requests`] in OTMM.
//!
//! For one title: the needs at its stage, the work's links and the requests already raised go
//! into the pure planner; each command then runs against OTMM and is recorded as a `Documents`
//! record of kind `asset_request` (id `<isbn13>#<role>`) with its audit record in the same
//! write (`request.created`, `request.closed`, `request.redated`).
//!
//! Never twice: a create runs under the idempotency key `request-create:<key>`, looks in OTMM
//! for a folder/placeholder already carrying the request id (an earlier attempt that timed out)
//! before creating one, and the document is written create-only. Without `[otmm.requests]` in
//! the mapping config nothing is raised (readiness still says what is missing).

use crate::App;
use crate::once::{Once, once};
use crate::readiness::ReadinessError;
use crate::systems::NewRequest;
use chrono::NaiveDate;
use connector_core::readiness::REQUEST_DOC_KIND;
use connector_core::requests::{
    AssetRequest, OtmmRequestRef, RequestCommand, RequestFacts, apply_command, needed_assets, plan_requests,
    request_key, request_summary,
};
use connector_core::{AssetLink, AssetRole, AuditRecord, Flow, Outcome};
use connector_store::{Document, StoreError, keys, new_audit_id};

/// A request with the revision of its document.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    pub request: AssetRequest,
    pub revision: u64,
}

/// The stored request for a title's role, if one was raised.
pub async fn stored(app: &App, key: &str) -> Result<Option<StoredRequest>, ReadinessError> {
    let Some(doc) = app.stores.documents.get_doc(REQUEST_DOC_KIND, key).await? else { return Ok(None) };
    let request: AssetRequest = serde_json::from_value(doc.body).map_err(|e| StoreError::Corrupt {
        key: format!("{REQUEST_DOC_KIND}/{key}"),
        message: e.to_string(),
    })?;
    Ok(Some(StoredRequest { request, revision: doc.revision }))
}

/// The requests raised for a title (one per role its product form requires).
pub async fn of_title(app: &App, facts: &RequestFacts) -> Result<Vec<StoredRequest>, ReadinessError> {
    let roles: Vec<AssetRole> = facts
        .form
        .as_ref()
        .and_then(|f| app.config.launch_for(f))
        .map(|l| l.roles.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for role in roles {
        if let Some(r) = stored(app, &request_key(&facts.isbn, role)).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// A title's requests as stored and the commands its stage, schedule and links call for
/// ([`plan_title`]), not carried out yet ([`carry_out`]).
#[derive(Debug, Clone)]
pub struct TitleRequests {
    existing: Vec<StoredRequest>,
    commands: Vec<RequestCommand>,
}

impl TitleRequests {
    /// Whether a request would be raised in OTMM.
    pub fn raises(&self) -> bool {
        self.commands.iter().any(|c| matches!(c, RequestCommand::Create { .. }))
    }
}

/// What the title's requests need: raised, closed or re-dated as its stage, schedule and links
/// say. `present`: roles with an asset in OTMM already (in review, not linked yet): not
/// missing, so not requested.
pub async fn plan_title(
    app: &App,
    facts: &RequestFacts,
    links: &[AssetLink],
    present: &[AssetRole],
) -> Result<TitleRequests, ReadinessError> {
    let existing = of_title(app, facts).await?;
    if app.config.otmm.requests.is_none() {
        return Ok(TitleRequests { existing, commands: Vec::new() });
    }
    let requests: Vec<AssetRequest> = existing.iter().map(|s| s.request.clone()).collect();
    let mut needs = needed_assets(facts, &app.config);
    needs.retain(|n| !present.contains(&n.role) || requests.iter().any(|r| r.role == n.role));
    let commands = plan_requests(facts, &needs, links, &requests, app.now());
    Ok(TitleRequests { existing, commands })
}

/// Carries out [`plan_title`]'s commands. Returns the title's requests afterwards and the
/// commands carried out.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn carry_out(
    app: &App,
    facts: &RequestFacts,
    planned: TitleRequests,
    correlation_id: &str,
) -> Result<(Vec<AssetRequest>, Vec<RequestCommand>), ReadinessError> {
    let TitleRequests { existing, commands } = planned;
    if commands.is_empty() {
        return Ok((existing.into_iter().map(|s| s.request).collect(), Vec::new()));
    }
    let mut done = Vec::new();
    for command in commands {
        let current = existing.iter().find(|s| s.request.key == command.key());
        if run(app, &command, current, correlation_id).await? {
            done.push(command);
        }
    }
    let after = of_title(app, facts).await?.into_iter().map(|s| s.request).collect();
    Ok((after, done))
}

fn date_value(d: Option<NaiveDate>) -> String {
    d.map(|d| format!("{}T00:00:00Z", d.format("%Y-%m-%d"))).unwrap_or_default()
}

/// The metadata a new request carries in OTMM (fields the mapping config names).
fn request_fields(app: &App, r: &AssetRequest) -> Vec<(String, String)> {
    let f = &app.config.otmm.fields;
    let mut out = vec![(f.isbn.clone(), r.isbn.to_string())];
    if let Some(value) = app.config.value_for_role(r.role) {
        out.push((f.asset_type.clone(), value.to_string()));
    }
    if let Some(id) = &f.request_id {
        out.push((id.clone(), r.key.clone()));
    }
    if let Some(id) = &f.due_date {
        out.push((id.clone(), date_value(r.due)));
    }
    if let (Some(id), Some(imprint)) = (&f.imprint, &r.imprint) {
        out.push((id.clone(), imprint.clone()));
    }
    if let Some(rules) = &app.config.request_rules
        && let Some(id) = &rules.status_field
    {
        out.push((id.clone(), rules.open_value.clone()));
    }
    out
}

/// The request's name in OTMM: what, for which title and product, by when (the facts that
/// have no field of their own: work id, format, release date).
fn request_name(r: &AssetRequest) -> String {
    let release =
        r.publication_date.map_or_else(|| "no release date".to_string(), |d| format!("release {d}"));
    format!("Request {}: {}, work {}, {release}", r.key, request_summary(r), r.work_id)
}

fn audit(app: &App, command: &RequestCommand, r: &AssetRequest, correlation_id: &str) -> AuditRecord {
    let at = app.now();
    let detail = match command {
        RequestCommand::Create { .. } => format!("requested {}", request_summary(r)),
        RequestCommand::Close { asset_id, version, .. } => {
            format!("{} for {} arrived: asset {asset_id} version {version} is linked", r.role, r.isbn)
        }
        RequestCommand::Redate { from, to, .. } => format!(
            "{} for {} re-dated from {} to {} (release {})",
            r.role,
            r.isbn,
            from.map_or("none".into(), |d| d.to_string()),
            to.map_or("none".into(), |d| d.to_string()),
            r.publication_date.map_or("unknown".into(), |d| d.to_string())
        ),
    };
    AuditRecord {
        id: new_audit_id(at),
        at,
        flow: Flow::AssetRequest,
        action: command.action(),
        outcome: Outcome::Applied,
        isbn: Some(r.isbn.clone()),
        asset_id: match command {
            RequestCommand::Close { asset_id, .. } => Some(asset_id.clone()),
            _ => None,
        },
        asset_version: match command {
            RequestCommand::Close { version, .. } => Some(*version),
            _ => None,
        },
        actor: None,
        correlation_id: correlation_id.to_string(),
        detail,
        data: serde_json::json!({
            "request_id": r.key, "role": r.role, "due": r.due, "publication_date": r.publication_date,
            "otmm": r.otmm, "work_id": r.work_id, "product_id": r.product_id,
        }),
    }
}

/// Carries out one command. Returns whether it did anything (false: someone else did).
async fn run(
    app: &App,
    command: &RequestCommand,
    current: Option<&StoredRequest>,
    correlation_id: &str,
) -> Result<bool, ReadinessError> {
    match command {
        RequestCommand::Create { request } => create(app, command, request, correlation_id).await,
        RequestCommand::Close { .. } | RequestCommand::Redate { .. } => {
            let Some(current) = current else { return Ok(false) };
            let Some(next) = apply_command(Some(&current.request), command, app.now()) else {
                return Ok(false);
            };
            if let Some(at) = &current.request.otmm {
                let mut fields = Vec::new();
                match command {
                    RequestCommand::Close { .. } => {
                        if let Some(rules) = &app.config.request_rules
                            && let Some(id) = &rules.status_field
                        {
                            fields.push((id.clone(), rules.closed_value.clone()));
                        }
                    }
                    _ => {
                        if let Some(id) = &app.config.otmm.fields.due_date {
                            fields.push((id.clone(), date_value(next.due)));
                        }
                    }
                }
                if !fields.is_empty() {
                    app.dam.update_request(at, &fields).await?;
                }
            }
            write(app, &next, Some(current.revision), &[audit(app, command, &next, correlation_id)]).await
        }
    }
}

async fn create(
    app: &App,
    command: &RequestCommand,
    request: &AssetRequest,
    correlation_id: &str,
) -> Result<bool, ReadinessError> {
    let key = keys::request_create(&request.key);
    let raise = || async {
        // An earlier attempt may have created it and lost the answer.
        let at: OtmmRequestRef = match app.dam.find_request(&request.key).await? {
            Some(found) => found,
            None => {
                let new = NewRequest {
                    request_id: request.key.clone(),
                    name: request_name(request),
                    fields: request_fields(app, request),
                };
                app.dam.create_request(&new).await?
            }
        };
        let mut request = request.clone();
        request.otmm = Some(at);
        write(app, &request, None, &[audit(app, command, &request, correlation_id)]).await
    };
    match once(app, &key, app.settings.idempotency_ttl, |_| None, raise).await? {
        Once::Ran(written) => Ok(written),
        Once::Done(_) => Ok(false),
        Once::Held { .. } => {
            Err(ReadinessError::Busy(format!("another worker is raising request {}", request.key)))
        }
    }
}

async fn write(
    app: &App,
    request: &AssetRequest,
    expected: Option<u64>,
    audit: &[AuditRecord],
) -> Result<bool, ReadinessError> {
    let doc = Document {
        kind: REQUEST_DOC_KIND.to_string(),
        id: request.key.clone(),
        body: serde_json::to_value(request).unwrap_or_default(),
        updated_at: app.now(),
        revision: 0,
    };
    match app.stores.documents.put_doc(&doc, expected, audit).await {
        Ok(_) => Ok(true),
        // Another worker wrote it first; the next pass plans from theirs.
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
