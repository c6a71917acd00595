//! Asset requests (flow 3): carries out [`connector_core::requests::plan_requests`] in OTMM.
//!
//! For one title: the needs at its stage, the work's links and the requests already raised go
//! into the pure planner; each command then runs against OTMM and is recorded as a `Documents`
//! record of kind `asset_request` (id `<isbn13>#<role>`) with its audit record in the same
//! write (`request.created`, `request.closed`, `request.redated`).
//!
//! Never twice: a create runs under the idempotency key `request-create:<key>`, records its
//! attempt before it creates (a `request_attempt` document), and where an earlier attempt is
//! recorded looks in OTMM for a folder/placeholder already carrying the request id (one that
//! timed out) before creating one; the document is written create-only. Without `[otmm.requests]` in
//! the mapping config nothing is raised (readiness still says what is missing).

use crate::App;
use crate::once::{Once, once};
use crate::readiness::ReadinessError;
use crate::systems::NewRequest;
use chrono::NaiveDate;
use connector_core::readiness::{REQUEST_DOC_KIND, ReadinessStatus};
use connector_core::requests::{
    AssetRequest, RequestCommand, RequestFacts, apply_command, needed_assets, plan_requests, request_key,
    request_summary,
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

    /// The title's requests as they will be once the commands are carried out (readiness
    /// evaluated ahead, so a new request folder carries it from its creation).
    pub fn projected(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<AssetRequest> {
        let existing: Vec<AssetRequest> = self.existing.iter().map(|s| s.request.clone()).collect();
        connector_core::requests::apply_commands(&existing, &self.commands, now)
    }
}

/// What [`carry_out`] did: the title's requests afterwards, the commands carried out, and the
/// keys of the requests whose OTMM folder or placeholder was created now carrying the readiness
/// status it was given (its readiness field needs no update for that status).
#[derive(Debug, Clone, Default)]
pub struct CarriedOut {
    pub requests: Vec<AssetRequest>,
    pub done: Vec<RequestCommand>,
    pub created_with_readiness: Vec<String>,
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

/// Carries out [`plan_title`]'s commands. A request raised now carries `readiness` (the
/// title's status as evaluated on [`TitleRequests::projected`]) in `requests.readiness_field`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn carry_out(
    app: &App,
    facts: &RequestFacts,
    planned: TitleRequests,
    readiness: Option<ReadinessStatus>,
    correlation_id: &str,
) -> Result<CarriedOut, ReadinessError> {
    let TitleRequests { existing, commands } = planned;
    if commands.is_empty() {
        let requests = existing.into_iter().map(|s| s.request).collect();
        return Ok(CarriedOut { requests, ..Default::default() });
    }
    let mut out = CarriedOut::default();
    for command in commands {
        let current = existing.iter().find(|s| s.request.key == command.key());
        let ran = run(app, &command, current, readiness, correlation_id).await?;
        if ran.created_with_readiness {
            out.created_with_readiness.push(command.key().to_string());
        }
        if ran.written {
            out.done.push(command);
        }
    }
    out.requests = of_title(app, facts).await?.into_iter().map(|s| s.request).collect();
    Ok(out)
}

/// What running one command did.
#[derive(Debug, Clone, Copy, Default)]
struct Ran {
    written: bool,
    /// A request created in OTMM now, carrying the readiness status it was given.
    created_with_readiness: bool,
}

/// `requests.readiness_field`, where the mapping config sets one.
pub(crate) fn readiness_field(app: &App) -> Option<&String> {
    app.config.request_rules.as_ref().and_then(|r| r.readiness_field.as_ref())
}

fn date_value(d: Option<NaiveDate>) -> String {
    d.map(|d| format!("{}T00:00:00Z", d.format("%Y-%m-%d"))).unwrap_or_default()
}

/// The metadata a new request carries in OTMM (fields the mapping config names), with the
/// title's readiness status where `requests.readiness_field` is set.
fn request_fields(app: &App, r: &AssetRequest, readiness: Option<ReadinessStatus>) -> Vec<(String, String)> {
    let f = &app.config.otmm.fields;
    let mut out = vec![(f.isbn.clone(), r.isbn.to_string())];
    if let (Some(field), Some(status)) = (readiness_field(app), readiness) {
        out.push((field.clone(), status.as_str().to_string()));
    }
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
    readiness: Option<ReadinessStatus>,
    correlation_id: &str,
) -> Result<Ran, ReadinessError> {
    match command {
        RequestCommand::Create { request } => create(app, command, request, readiness, correlation_id).await,
        RequestCommand::Close { .. } | RequestCommand::Redate { .. } => {
            let Some(current) = current else { return Ok(Ran::default()) };
            let Some(next) = apply_command(Some(&current.request), command, app.now()) else {
                return Ok(Ran::default());
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
            let written =
                write(app, &next, Some(current.revision), &[audit(app, command, &next, correlation_id)])
                    .await?;
            Ok(Ran { written, created_with_readiness: false })
        }
    }
}

async fn create(
    app: &App,
    command: &RequestCommand,
    request: &AssetRequest,
    readiness: Option<ReadinessStatus>,
    correlation_id: &str,
) -> Result<Ran, ReadinessError> {
    let key = keys::request_create(&request.key);
    let raise = || async {
        // An earlier attempt may have created it and lost the answer: then OTMM is searched
        // for it (that one carries the fields of its time, so its readiness field is updated
        // like any other's). Every attempt records itself before its create, so one that finds
        // no record knows no create was sent and has nothing to look for.
        let earlier = app.stores.documents.get_doc(keys::REQUEST_ATTEMPT_KIND, &request.key).await?;
        let first = earlier.is_none() && record_attempt(app, &request.key).await?;
        let found = if first { None } else { app.dam.find_request(&request.key).await? };
        let (at, created) = match found {
            Some(found) => (found, false),
            None => {
                let new = NewRequest {
                    request_id: request.key.clone(),
                    name: request_name(request),
                    fields: request_fields(app, request, readiness),
                };
                (app.dam.create_request(&new).await?, true)
            }
        };
        let mut request = request.clone();
        request.otmm = Some(at);
        let written = write(app, &request, None, &[audit(app, command, &request, correlation_id)]).await?;
        Ok::<_, ReadinessError>(Ran {
            written,
            created_with_readiness: created && readiness.is_some() && readiness_field(app).is_some(),
        })
    };
    match once(app, &key, app.settings.idempotency_ttl, |_| None, raise).await? {
        Once::Ran(ran) => Ok(ran),
        Once::Done(_) => Ok(Ran::default()),
        Once::Held { .. } => {
            Err(ReadinessError::Busy(format!("another worker is raising request {}", request.key)))
        }
    }
}

/// Records that an attempt to raise `key` in OTMM begins (see [`keys::REQUEST_ATTEMPT_KIND`]);
/// `false` when another attempt recorded itself first (then it may have created it: look).
async fn record_attempt(app: &App, key: &str) -> Result<bool, ReadinessError> {
    let doc = Document {
        kind: keys::REQUEST_ATTEMPT_KIND.to_string(),
        id: key.to_string(),
        body: serde_json::json!({ "began_at": app.now() }),
        updated_at: app.now(),
        revision: 0,
    };
    match app.stores.documents.put_doc(&doc, None, &[]).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
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
