//! The route handlers: read the stores, shape the answers.

use super::query::{self, TitleFilter, sort_key};
use super::{ApiDeps, ApiError, OPENAPI_JSON, RouteId};
use crate::gateway::Caller;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use chrono::{DateTime, NaiveDate, Utc};
use connector_app::dlq;
use connector_app::reconciler::Mode;
use connector_core::readiness::TitleReadiness;
use connector_core::{
    Actor, AssetId, AssetLink, AssetRights, AssetRole, Channel, Isbn13, LinkStatus, TitleRecord,
};
use connector_store::keys::{self, PACKAGE_KIND, READINESS_KIND, REQUEST_KIND};
use connector_store::{Document, PageRequest};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Readiness documents read per store page while listing titles.
const SCAN_PAGE: usize = 500;

type Deps = State<Arc<ApiDeps>>;
type Answer = Result<Response, ApiError>;

/// The handler of a route, on its method.
pub(crate) fn endpoint(id: RouteId, method: &str) -> MethodRouter<Arc<ApiDeps>> {
    let filter = if method.eq_ignore_ascii_case("POST") { MethodFilter::POST } else { MethodFilter::GET };
    match id {
        RouteId::Titles => {
            on(filter, |State(d): Deps, RawQuery(q): RawQuery| async move { titles(&d, q.as_deref()).await })
        }
        RouteId::Readiness => {
            on(filter, |State(d): Deps, isbn: IsbnPath, RawQuery(q): RawQuery| async move {
                readiness(&d, isbn.parse()?, q.as_deref()).await
            })
        }
        RouteId::Assets => on(filter, |State(d): Deps, isbn: IsbnPath, RawQuery(q): RawQuery| async move {
            assets(&d, isbn.parse()?, q.as_deref()).await
        }),
        RouteId::Audit => {
            on(filter, |State(d): Deps, RawQuery(q): RawQuery| async move { audit(&d, q.as_deref()).await })
        }
        RouteId::Dlq => {
            on(
                filter,
                |State(d): Deps, RawQuery(q): RawQuery| async move { dead_letters(&d, q.as_deref()).await },
            )
        }
        RouteId::DlqReplay => on(
            filter,
            |State(d): Deps, RawQuery(q): RawQuery, Caller(caller): Caller, body: Body| async move {
                replay(&d, q.as_deref(), &body.bytes()?, caller.as_deref()).await
            },
        ),
        RouteId::Reconcile => on(filter, |State(d): Deps, RawQuery(q): RawQuery, body: Body| async move {
            reconcile(&d, q.as_deref(), &body.bytes()?).await
        }),
        RouteId::OpenApi => on(filter, |RawQuery(q): RawQuery| async move {
            query::params(q.as_deref(), &[])?;
            Ok::<_, ApiError>(([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response())
        }),
        RouteId::Board => {
            on(filter, |State(d): Deps, RawQuery(q): RawQuery| async move { board(&d, q.as_deref()).await })
        }
    }
}

/// The `{isbn}` of a route's path (percent-decoded by axum), checked as an ISBN-13. An empty
/// segment (`/titles//readiness`) names no route: 404, as for any other path no route takes.
struct IsbnPath {
    path: String,
    isbn: Result<Path<String>, PathRejection>,
}

impl<S: Send + Sync> FromRequestParts<S> for IsbnPath {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let isbn = Path::<String>::from_request_parts(parts, state).await;
        Ok(IsbnPath { path: parts.uri.path().to_string(), isbn })
    }
}

impl IsbnPath {
    fn parse(self) -> Result<Isbn13, ApiError> {
        match self.isbn {
            Ok(Path(isbn)) if isbn.is_empty() => Err(super::no_route(&self.path)),
            Ok(Path(isbn)) => query::isbn("isbn", &isbn),
            Err(e) => Err(ApiError::bad("isbn", format!("the ISBN in the path cannot be read: {e}"))),
        }
    }
}

/// A request body as bytes; one that cannot be read is refused naming `body`.
struct Body(Result<Bytes, BytesRejection>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = std::convert::Infallible;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Body(Bytes::from_request(req, state).await))
    }
}

impl Body {
    fn bytes(self) -> Result<Bytes, ApiError> {
        self.0.map_err(|e| {
            ApiError::field(e.status().as_u16(), "body", format!("the body cannot be read: {e}"))
        })
    }
}

fn json(status: StatusCode, body: Value) -> Answer {
    Ok((status, Json(body)).into_response())
}

fn ok(body: &impl Serialize) -> Answer {
    let value = serde_json::to_value(body)
        .map_err(|e| ApiError::new(500, format!("answer cannot be written: {e}")))?;
    json(StatusCode::OK, value)
}

fn parse_readiness(doc: &Document) -> Result<TitleReadiness, ApiError> {
    serde_json::from_value(doc.body.clone())
        .map_err(|e| ApiError::new(500, format!("stored readiness report {} cannot be read: {e}", doc.id)))
}

async fn readiness(deps: &ApiDeps, isbn: Isbn13, q: Option<&str>) -> Answer {
    let p = query::params(q, &["refresh"])?;
    if query::boolean("refresh", p.get("refresh"))? {
        let Some(evaluate) = &deps.evaluate else {
            return Err(ApiError::field(
                501,
                "refresh",
                "this deployment cannot evaluate readiness on demand; leave out refresh for the stored report",
            ));
        };
        return match evaluate(isbn.clone()).await {
            Ok(Some(report)) => ok(&report),
            Ok(None) => Err(ApiError::field(404, "isbn", format!("no title with ISBN {isbn}"))),
            Err(e) => Err(e),
        };
    }
    let doc = deps
        .stores
        .documents
        .get_doc(READINESS_KIND, isbn.as_str())
        .await
        .map_err(|e| ApiError::store(e, false))?;
    match doc {
        Some(doc) => ok(&parse_readiness(&doc)?),
        None => Err(unknown_or_unevaluated(deps, &isbn).await?),
    }
}

async fn unknown_or_unevaluated(deps: &ApiDeps, isbn: &Isbn13) -> Result<ApiError, ApiError> {
    let title = deps.stores.mapping.get_title(isbn).await.map_err(|e| ApiError::store(e, false))?;
    Ok(match title {
        Some(_) => ApiError::field(404, "isbn", format!("title {isbn} has no readiness report yet")),
        None => ApiError::field(404, "isbn", format!("no title with ISBN {isbn}")),
    })
}

/// Every readiness report that passes `filter`, in board order. Reads every readiness document
/// (a page of [`SCAN_PAGE`] at a time): the store lists documents by id only.
pub(crate) async fn matching_titles(
    deps: &ApiDeps,
    filter: &TitleFilter,
) -> Result<(Vec<TitleReadiness>, usize), ApiError> {
    let mut out = Vec::new();
    let mut cursor = None;
    let mut scanned = 0;
    loop {
        let page = deps
            .stores
            .documents
            .list_docs(READINESS_KIND, PageRequest { limit: SCAN_PAGE, cursor })
            .await
            .map_err(|e| ApiError::store(e, false))?;
        scanned += page.items.len();
        for doc in &page.items {
            match serde_json::from_value::<TitleReadiness>(doc.body.clone()) {
                Ok(t) if filter.matches(&t) => out.push(t),
                Ok(_) => {}
                // One unreadable report must not hide the others: log it and go on.
                Err(e) => tracing::error!(id = %doc.id, error = %e, "stored readiness report cannot be read"),
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.sort_by_key(sort_key);
    Ok((out, scanned))
}

#[derive(Debug, Serialize)]
pub struct TitlesPage {
    pub items: Vec<TitleReadiness>,
    pub next_cursor: Option<String>,
    /// Titles matching the filter in all pages.
    pub total: usize,
    /// Readiness reports read to answer (every stored one: see `docs/api.md`, cost).
    pub scanned: usize,
}

async fn titles(deps: &ApiDeps, q: Option<&str>) -> Answer {
    let mut allowed = TitleFilter::PARAMS.to_vec();
    allowed.extend(["limit", "cursor"]);
    let p = query::params(q, &allowed)?;
    let filter = TitleFilter::from_params(&p, false)?;
    let limit = query::limit(&p, 50, 200)?;
    let after =
        p.get("cursor").filter(|c| !c.is_empty()).map(|c| query::decode_title_cursor(c)).transpose()?;
    let (all, scanned) = matching_titles(deps, &filter).await?;
    let total = all.len();
    let start = match &after {
        None => 0,
        Some(key) => all.partition_point(|t| &sort_key(t) <= key),
    };
    let items: Vec<TitleReadiness> = all.into_iter().skip(start).take(limit + 1).collect();
    let (items, next_cursor) = if items.len() > limit {
        let items: Vec<TitleReadiness> = items.into_iter().take(limit).collect();
        let next = items.last().map(query::encode_title_cursor);
        (items, next)
    } else {
        (items, None)
    };
    ok(&TitlesPage { items, next_cursor, total, scanned })
}

/// A link as the API shows it.
#[derive(Debug, Serialize)]
pub struct LinkView {
    pub role: AssetRole,
    /// Empty for single-slot roles; the asset's lineage id for multi-slot ones.
    pub slot: String,
    /// OTMM lineage id (the first version's asset id).
    pub asset_id: AssetId,
    pub version: u32,
    /// The linked version's own OTMM asset id.
    pub version_asset_id: Option<AssetId>,
    pub approved_at: DateTime<Utc>,
    pub approved_by: Option<Actor>,
    pub status: LinkStatus,
    pub work_id: Option<i64>,
    pub product_ids: Vec<i64>,
    pub consonance_resource_id: Option<String>,
    /// The usage rights seen when it was linked.
    pub rights: Option<AssetRights>,
    pub updated_at: DateTime<Utc>,
}

impl From<AssetLink> for LinkView {
    fn from(l: AssetLink) -> Self {
        LinkView {
            role: l.key.role,
            slot: l.key.slot,
            asset_id: l.approval.asset_id,
            version: l.approval.version,
            version_asset_id: l.version_asset_id,
            approved_at: l.approval.approved_at,
            approved_by: l.approved_by,
            status: l.status,
            work_id: l.work_id.map(|w| w.0),
            product_ids: l.product_ids.iter().map(|p| p.0).collect(),
            consonance_resource_id: l.consonance_resource_id,
            rights: l.rights,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct StoredDoc {
    id: String,
    updated_at: DateTime<Utc>,
    revision: u64,
    body: Value,
}

#[derive(Debug, Serialize)]
struct AssetsView {
    isbn: Isbn13,
    title: TitleRecord,
    links: Vec<LinkView>,
    requests: Vec<StoredDoc>,
    packages: Vec<StoredDoc>,
}

async fn docs_by_id(deps: &ApiDeps, kind: &str, ids: Vec<String>) -> Result<Vec<StoredDoc>, ApiError> {
    let gets = ids.iter().map(|id| deps.stores.documents.get_doc(kind, id));
    let found = futures::future::try_join_all(gets).await.map_err(|e| ApiError::store(e, false))?;
    Ok(found
        .into_iter()
        .flatten()
        .map(|d| StoredDoc { id: d.id, updated_at: d.updated_at, revision: d.revision, body: d.body })
        .collect())
}

async fn assets(deps: &ApiDeps, isbn: Isbn13, q: Option<&str>) -> Answer {
    query::params(q, &[])?;
    let Some(title) = deps.stores.mapping.get_title(&isbn).await.map_err(|e| ApiError::store(e, false))?
    else {
        return Err(ApiError::field(404, "isbn", format!("no title with ISBN {isbn}")));
    };
    let mut links =
        deps.stores.mapping.links_for_title(&isbn).await.map_err(|e| ApiError::store(e, false))?;
    links.sort_by(|a, b| a.key.cmp(&b.key));
    // Requests are one per role, packages one per channel: direct reads, no scan.
    let request_ids = AssetRole::ALL.iter().map(|r| keys::request_id(&isbn, *r)).collect();
    let package_ids = Channel::ALL.iter().map(|c| keys::package_doc_id(&isbn, *c)).collect();
    let requests = docs_by_id(deps, REQUEST_KIND, request_ids).await?;
    let packages = docs_by_id(deps, PACKAGE_KIND, package_ids).await?;
    ok(&AssetsView {
        isbn,
        title,
        links: links.into_iter().map(LinkView::from).collect(),
        requests,
        packages,
    })
}

async fn audit(deps: &ApiDeps, q: Option<&str>) -> Answer {
    let p = query::params(q, &["title", "asset", "limit", "cursor"])?;
    let limit = query::limit(&p, 50, 200)?;
    let cursor = p.get("cursor").cloned().filter(|c| !c.is_empty());
    let cursor_given = cursor.is_some();
    let page = PageRequest { limit, cursor };
    let result = match (p.get("title"), p.get("asset")) {
        (Some(t), None) => {
            let isbn = query::isbn("title", t)?;
            deps.stores.audit.by_title(&isbn, page).await
        }
        (None, Some(a)) => {
            let id = AssetId::parse(a).map_err(|e| ApiError::bad("asset", e.to_string()))?;
            deps.stores.audit.by_asset(&id, page).await
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "asset",
                "give exactly one of title (an ISBN) or asset (an OTMM lineage id), not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad(
                "title",
                "give exactly one of title (an ISBN) or asset (an OTMM lineage id)",
            ));
        }
    };
    let page = result.map_err(|e| ApiError::store(e, cursor_given))?;
    json(StatusCode::OK, json!({ "items": page.items, "next_cursor": page.next }))
}

async fn dead_letters(deps: &ApiDeps, q: Option<&str>) -> Answer {
    let p = query::params(q, &["limit"])?;
    let limit = query::limit(&p, 100, dlq::MAX_LISTED)?;
    let items = dlq::list(&deps.stores, limit).await.map_err(|e| ApiError::store(e, false))?;
    let depth = deps.stores.queue.depth().await.map_err(|e| ApiError::store(e, false))?;
    json(StatusCode::OK, json!({ "items": items, "depth": depth }))
}

fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad("body", "the body is empty; send a JSON object"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad("body", "the body must be a JSON object")),
        Err(e) => Err(ApiError::bad("body", format!("the body is not JSON: {e}"))),
    }
}

/// Parses a `POST /dlq/replay` body: `{"message_ids": [...]}` or `{"all": true}`.
pub(crate) fn replay_selection(body: &[u8]) -> Result<dlq::Selection, ApiError> {
    let m = json_object(body)?;
    if let Some(k) = m.keys().find(|k| !["message_ids", "all"].contains(&k.as_str())) {
        return Err(ApiError::bad(k, format!("unknown field {k:?}; send message_ids or all")));
    }
    match (m.get("message_ids"), m.get("all")) {
        (Some(_), Some(_)) => Err(ApiError::bad("all", "give message_ids or all, not both")),
        (None, None) => Err(ApiError::bad("message_ids", "give message_ids (a list) or \"all\": true")),
        (None, Some(Value::Bool(true))) => Ok(dlq::Selection::All),
        (None, Some(_)) => {
            Err(ApiError::bad("all", "all must be true (to replay chosen ones, send message_ids)"))
        }
        (Some(Value::Array(ids)), None) => {
            if ids.is_empty() || ids.len() > dlq::MAX_LISTED {
                return Err(ApiError::bad(
                    "message_ids",
                    format!("message_ids must hold 1 to {} ids", dlq::MAX_LISTED),
                ));
            }
            let ids = ids
                .iter()
                .map(|v| {
                    v.as_str().map(str::trim).filter(|s| !s.is_empty() && s.len() <= 256).map(str::to_string)
                })
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| ApiError::bad("message_ids", "every message id must be a non-empty string"))?;
            Ok(dlq::Selection::Ids(ids))
        }
        (Some(_), None) => Err(ApiError::bad("message_ids", "message_ids must be a list of message ids")),
    }
}

async fn replay(deps: &ApiDeps, q: Option<&str>, body: &[u8], caller: Option<&str>) -> Answer {
    query::params(q, &[])?;
    let selection = replay_selection(body)?;
    let outcome = dlq::replay(&deps.stores, &selection, (deps.now)(), caller)
        .await
        .map_err(|e| ApiError::store(e, false))?;
    ok(&outcome)
}

pub(crate) fn reconcile_mode(body: &[u8]) -> Result<Mode, ApiError> {
    let m = json_object(body)?;
    if let Some(k) = m.keys().find(|k| k.as_str() != "mode") {
        return Err(ApiError::bad(
            k,
            format!("unknown field {k:?}; send {{\"mode\": \"incremental\"|\"full\"|\"rights\"}}"),
        ));
    }
    match m.get("mode").and_then(Value::as_str) {
        Some("incremental") => Ok(Mode::Incremental),
        Some("full") => Ok(Mode::Full),
        Some("rights") => Ok(Mode::Rights),
        _ => Err(ApiError::bad("mode", "mode must be \"incremental\", \"full\" or \"rights\"")),
    }
}

async fn reconcile(deps: &ApiDeps, q: Option<&str>, body: &[u8]) -> Answer {
    query::params(q, &[])?;
    let mode = reconcile_mode(body)?;
    let Some(run) = &deps.reconcile else {
        return Err(ApiError::new(503, "reconcile is not available on this deployment"));
    };
    let summary = run(mode, deps.reconcile_budget).await.map_err(|e| {
        ApiError::new(502, format!("reconcile stopped: {e}; the next run continues from the checkpoints"))
    })?;
    let more = !summary.finished;
    json(StatusCode::ACCEPTED, json!({ "summary": summary, "more": more }))
}

async fn board(deps: &ApiDeps, q: Option<&str>) -> Answer {
    let p = query::params(q, &TitleFilter::PARAMS)?;
    let filter = TitleFilter::from_params(&p, true)?;
    let (all, _) = matching_titles(deps, &TitleFilter::default()).await?;
    let today: NaiveDate = (deps.now)().date_naive();
    Ok(Html(super::board::render_board(&all, &filter, today)).into_response())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use connector_core::readiness::{ReadinessStatus, RoleReadiness, RoleState};
    use connector_core::{ProductId, WorkId};

    pub(crate) fn readiness(
        isbn: &Isbn13,
        date: Option<NaiveDate>,
        status: ReadinessStatus,
    ) -> TitleReadiness {
        TitleReadiness {
            isbn: isbn.clone(),
            work_id: WorkId(1),
            product_id: ProductId(2),
            title: "T".into(),
            imprint: Some("Imprint".into()),
            stage: None,
            product_form: Some("BB".into()),
            publication_date: date,
            days_to_publication: None,
            status,
            reasons: vec![],
            milestones: vec![],
            roles: vec![RoleReadiness {
                role: AssetRole::FrontCover,
                state: RoleState::Linked,
                asset_id: None,
                version: None,
                request_id: None,
                due: None,
                reasons: vec![],
            }],
            evaluated_at: Utc::now(),
        }
    }

    #[test]
    fn replay_bodies_are_checked_field_by_field() {
        assert_eq!(replay_selection(br#"{"all": true}"#).unwrap(), dlq::Selection::All);
        assert_eq!(
            replay_selection(br#"{"message_ids": ["a", "b"]}"#).unwrap(),
            dlq::Selection::Ids(vec!["a".into(), "b".into()])
        );
        let field = |b: &[u8]| replay_selection(b).unwrap_err().field.unwrap();
        assert_eq!(field(br#"{"all": false}"#), "all");
        assert_eq!(field(br#"{"message_ids": []}"#), "message_ids");
        assert_eq!(field(br#"{"message_ids": [1]}"#), "message_ids");
        assert_eq!(field(br#"{"message_ids": ["a"], "all": true}"#), "all");
        assert_eq!(field(br#"{"ids": ["a"]}"#), "ids");
        assert_eq!(field(b"[1]"), "body");
        assert_eq!(field(b"{"), "body");
        assert_eq!(field(b""), "body");
    }

    #[test]
    fn reconcile_bodies_name_the_mode() {
        assert_eq!(reconcile_mode(br#"{"mode": "full"}"#).unwrap(), Mode::Full);
        assert_eq!(reconcile_mode(br#"{"mode": "incremental"}"#).unwrap(), Mode::Incremental);
        assert_eq!(reconcile_mode(br#"{"mode": "rights"}"#).unwrap(), Mode::Rights);
        assert_eq!(reconcile_mode(br#"{"mode": "weekly"}"#).unwrap_err().field.as_deref(), Some("mode"));
        assert_eq!(reconcile_mode(br#"{}"#).unwrap_err().field.as_deref(), Some("mode"));
        assert_eq!(reconcile_mode(br#"{"mode": "full", "x": 1}"#).unwrap_err().field.as_deref(), Some("x"));
    }
}
