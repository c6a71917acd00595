//! The people-facing HTTP API: launch readiness per title, the titles at risk, a title's assets,
//! the audit trail, the dead-letter queue and an on-demand reconcile, with its OpenAPI 3.1
//! document at `/openapi.json` and the readiness board (HTML) at `/board`.
//!
//! [`router`] is an axum router built from [`ROUTES`] (which a test compares with the OpenAPI
//! document both ways): the Lambda (`functions/api`) serves it with `lambda_http`, the local
//! runner (`connector serve`) merges it with the intake's routes. A path no route has, or a
//! method a path does not take, gets the same JSON error shape as every other refusal.
//!
//! Authentication is API Gateway's (`infra/template.yaml`: a JWT authorizer on the read routes,
//! IAM on the admin routes); the handler only reads who the caller is, for the audit trail.

mod board;
mod query;
mod routes;

pub use board::{ROLE_STATE_COLOURS, colour_of, render_board};
pub use query::{TitleFilter, decode_title_cursor, encode_title_cursor};
pub use routes::{LinkView, TitlesPage};

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::Utc;
use connector_app::App;
use connector_app::readiness::{self, ReadinessError};
use connector_app::reconciler::{self, Mode, Options, ReconcileError, Summary};
use connector_core::Isbn13;
use connector_core::readiness::TitleReadiness;
use connector_store::{StoreError, Stores};
use futures::future::BoxFuture;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The OpenAPI 3.1 document served at `/openapi.json` (hand-written; a test checks it against
/// [`ROUTES`] and schemathesis checks it against the running server).
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// One route: method and path template (`{name}` matches one path segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub id: RouteId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    Titles,
    Readiness,
    Assets,
    Audit,
    Dlq,
    DlqReplay,
    Reconcile,
    OpenApi,
    Board,
}

/// Every route the handler serves. Admin routes (IAM auth in AWS) are [`Route::is_admin`].
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/titles", id: RouteId::Titles },
    Route { method: "GET", path: "/titles/{isbn}/readiness", id: RouteId::Readiness },
    Route { method: "GET", path: "/titles/{isbn}/assets", id: RouteId::Assets },
    Route { method: "GET", path: "/audit", id: RouteId::Audit },
    Route { method: "GET", path: "/dlq", id: RouteId::Dlq },
    Route { method: "POST", path: "/dlq/replay", id: RouteId::DlqReplay },
    Route { method: "POST", path: "/reconcile", id: RouteId::Reconcile },
    Route { method: "GET", path: "/openapi.json", id: RouteId::OpenApi },
    Route { method: "GET", path: "/board", id: RouteId::Board },
];

impl Route {
    /// Routes that change state or show message bodies: IAM-authorised in the template.
    pub fn is_admin(&self) -> bool {
        matches!(self.id, RouteId::Dlq | RouteId::DlqReplay | RouteId::Reconcile)
    }
}

/// Evaluates a title's readiness now (`?refresh=true`). `Ok(None)`: no such title; `Err`: the
/// answer to give (503 with `Retry-After` when the failure is worth retrying).
pub type Evaluate =
    Arc<dyn Fn(Isbn13) -> BoxFuture<'static, Result<Option<TitleReadiness>, ApiError>> + Send + Sync>;
/// Runs one reconcile slice of the given mode within the given time budget.
pub type Reconcile =
    Arc<dyn Fn(Mode, Duration) -> BoxFuture<'static, Result<Summary, ReconcileError>> + Send + Sync>;
pub use connector_core::Clock;

/// Wraps an async evaluation function as an [`Evaluate`]:
/// `deps.evaluate = Some(api::evaluator(move |isbn| { let app = app.clone(); async move { ... } }))`.
pub fn evaluator<F, Fut>(f: F) -> Evaluate
where
    F: Fn(Isbn13) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Option<TitleReadiness>, ApiError>> + Send + 'static,
{
    Arc::new(move |isbn| Box::pin(f(isbn)))
}

/// What the handler needs.
#[derive(Clone)]
pub struct ApiDeps {
    pub stores: Stores,
    /// `GET /titles/{isbn}/readiness?refresh=true`; `None`: refresh answers 501 and the stored
    /// report is what the route serves.
    pub evaluate: Option<Evaluate>,
    /// `POST /reconcile`; `None`: 503.
    pub reconcile: Option<Reconcile>,
    /// How long one `POST /reconcile` may run (API Gateway's integration timeout is 30 s).
    pub reconcile_budget: Duration,
    pub now: Clock,
}

/// Default [`ApiDeps::reconcile_budget`]: 25 s, under API Gateway's 30 s.
pub const RECONCILE_BUDGET: Duration = Duration::from_secs(25);
/// The reconciler stops when less than this remains of the budget (one page's worth).
pub const RECONCILE_STOP_MARGIN: Duration = Duration::from_secs(8);

impl ApiDeps {
    /// Read routes and the DLQ only: no evaluation, no reconcile.
    pub fn new(stores: Stores) -> Self {
        ApiDeps {
            stores,
            evaluate: None,
            reconcile: None,
            reconcile_budget: RECONCILE_BUDGET,
            now: Arc::new(Utc::now),
        }
    }

    /// Everything, on an [`App`]: `?refresh=true` runs [`readiness::evaluate_title`] (which also
    /// stores the report and raises or closes requests), and `POST /reconcile` runs
    /// [`reconciler::run`] inline, bounded by
    /// the budget (it checkpoints after every page, so the next call continues).
    pub fn for_app(app: App) -> Self {
        let stores = app.stores.clone();
        let clock = app.clock.clone();
        let app = Arc::new(app);
        let for_evaluate = app.clone();
        let reconcile: Reconcile = Arc::new(move |mode, budget| {
            let app = app.clone();
            Box::pin(async move {
                let started = Instant::now();
                let remaining = move || budget.saturating_sub(started.elapsed());
                let options = Options { mode, stop_margin: RECONCILE_STOP_MARGIN, ..Options::default() };
                reconciler::run(&app, &options, &remaining).await
            })
        });
        let evaluate = evaluator(move |isbn| {
            let app = for_evaluate.clone();
            async move {
                match readiness::evaluate_title(&app, &isbn).await {
                    Ok(report) => Ok(Some(report)),
                    Err(ReadinessError::UnknownTitle(_)) => Ok(None),
                    Err(e) => Err(evaluation_failed(&isbn, &e)),
                }
            }
        });
        ApiDeps { reconcile: Some(reconcile), evaluate: Some(evaluate), now: clock, ..ApiDeps::new(stores) }
    }
}

/// Seconds a client is told to wait when a refresh failed for a reason worth retrying and the
/// system gave no `Retry-After` of its own.
pub const REFRESH_RETRY_AFTER_SECS: u64 = 5;

/// The answer to a failed `?refresh=true`: OTMM or Consonance unavailable, throttled, or another
/// worker raising the same request is 503 with `Retry-After` (the caller may simply ask again);
/// a failure that would happen again is 502.
pub fn evaluation_failed(isbn: &Isbn13, e: &ReadinessError) -> ApiError {
    let message = format!("readiness of {isbn} could not be evaluated: {e}");
    if !e.is_transient() {
        return ApiError::new(502, message);
    }
    let after = match e {
        ReadinessError::System(s) => s.retry_after().map(|d| d.as_secs().max(1)),
        _ => None,
    };
    ApiError::new(503, message).with_retry_after(after.unwrap_or(REFRESH_RETRY_AFTER_SECS))
}

/// A refusal or failure: `{"error": {"status", "message", "field"?}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub field: Option<String>,
    /// Sent as `Retry-After` (seconds).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), field: None, retry_after_secs: None }
    }
    pub fn field(status: u16, field: &str, message: impl Into<String>) -> Self {
        ApiError { field: Some(field.to_string()), ..ApiError::new(status, message) }
    }
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        ApiError::field(400, field, message)
    }
    /// A store failure; a cursor the store cannot read is the caller's fault.
    pub fn store(e: StoreError, cursor_given: bool) -> Self {
        match e {
            StoreError::Corrupt { ref key, .. } if cursor_given && key.contains("cursor") => {
                ApiError::bad("cursor", format!("cursor is not one this API returned: {e}"))
            }
            e if e.is_transient() => ApiError::new(503, format!("state store unavailable, retry: {e}")),
            e => ApiError::new(500, format!("state store failed: {e}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "status": self.status, "message": self.message });
        if let Some(f) = &self.field {
            error["field"] = json!(f);
        }
        let body = json!({ "error": error });
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let logged = Refusal(body.to_string());
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(logged);
        response
    }
}

/// The body of a refusal, kept on the response for the request log ([`log`]).
#[derive(Debug, Clone)]
struct Refusal(String);

/// The people-facing API: every route of [`ROUTES`] (also with a trailing slash), a JSON 405
/// naming the allowed method for another method on a route's path, a JSON 404 listing the
/// routes for any other path, and one log line per request.
pub fn router(deps: Arc<ApiDeps>) -> Router {
    let mut router = Router::new();
    for r in ROUTES {
        let allowed = r.method;
        let methods = routes::endpoint(r.id, r.method).fallback(move |method: Method, uri: Uri| async move {
            ApiError::new(
                405,
                format!("method {method} is not allowed on {}; allowed: {allowed}", uri.path()),
            )
            .into_response_with_allow(allowed)
        });
        router = router.route(r.path, methods.clone()).route(&format!("{}/", r.path), methods);
    }
    router.fallback(not_found).layer(middleware::from_fn(log)).with_state(deps)
}

impl ApiError {
    fn into_response_with_allow(self, allowed: &'static str) -> Response {
        let mut response = self.into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allowed));
        response
    }
}

async fn not_found(uri: Uri) -> ApiError {
    no_route(uri.path())
}

/// The 404 for a path no route takes, listing the routes.
pub(crate) fn no_route(path: &str) -> ApiError {
    let paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
    ApiError::new(404, format!("no route for {path:?}; routes: {}", paths.join(", ")))
}

/// One line per request: refusals at warn with their body, failures (5xx) at error.
async fn log(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    let ms = started.elapsed().as_millis() as u64;
    let status = response.status().as_u16();
    let body = response.extensions().get::<Refusal>().map(|r| r.0.as_str()).unwrap_or("");
    if status >= 500 {
        tracing::error!(%method, %path, status, ms, body, "api request failed");
    } else if status >= 400 {
        tracing::warn!(%method, %path, status, ms, body, "api request refused");
    } else {
        tracing::info!(%method, %path, status, ms, "api request");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn openapi() -> Value {
        serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_routed() {
        let doc = openapi();
        assert_eq!(doc["openapi"], "3.1.0");
        let routed: BTreeSet<(String, String)> =
            ROUTES.iter().map(|r| (r.method.to_ascii_lowercase(), r.path.to_string())).collect();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        assert_eq!(routed, documented, "ROUTES and openapi.json paths differ");
        // Path parameters: the template's names are declared as path parameters.
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let in_template: BTreeSet<String> = r
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_string)
                .collect();
            assert_eq!(declared, in_template, "{} {}", r.method, r.path);
            // Admin routes are the IAM ones; read routes use the JWT scheme.
            let scheme = op["security"][0].as_object().and_then(|o| o.keys().next().cloned());
            match r.id {
                RouteId::OpenApi => assert!(scheme.is_none()),
                _ if r.is_admin() => assert_eq!(scheme.as_deref(), Some("sigv4"), "{}", r.path),
                _ => assert_eq!(scheme.as_deref(), Some("jwt"), "{}", r.path),
            }
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = openapi();
        fn walk(v: &Value, doc: &Value, seen: &mut usize) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        let path = r.strip_prefix("#/").expect("local ref");
                        let target = path.split('/').fold(doc, |acc, k| &acc[k]);
                        assert!(!target.is_null(), "dangling {r}");
                        *seen += 1;
                    }
                    m.values().for_each(|x| walk(x, doc, seen));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, doc, seen)),
                _ => {}
            }
        }
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 30);
    }

    /// One request through the router: status, `Allow` header, body as JSON (or `Null`).
    async fn call(deps: &ApiDeps, method: &str, uri: &str, body: &[u8]) -> (u16, Option<String>, Value) {
        use tower::ServiceExt;
        let req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::from(body.to_vec()))
            .unwrap();
        let resp = router(Arc::new(deps.clone())).oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let allow = resp.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, allow, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn empty_deps() -> (tempfile::TempDir, ApiDeps) {
        let dir = tempfile::tempdir().unwrap();
        let stores = connector_store::embedded::open(
            dir.path(),
            connector_store::embedded::EmbeddedOptions { max_receives: 5 },
        )
        .unwrap();
        (dir, ApiDeps::new(stores))
    }

    #[tokio::test]
    async fn routing_matches_templates_and_refuses_the_rest() {
        let (_dir, deps) = empty_deps();
        // The path parameter is percent-decoded before it is checked.
        let (status, _, body) = call(&deps, "GET", "/titles/978-1-80010-000-8%2F/readiness", b"").await;
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some("isbn")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("978-1-80010-000-8/"), "{body}");
        assert_eq!(call(&deps, "GET", "/titles/9781800100008/readiness/", b"").await.0, 404);
        assert_eq!(call(&deps, "GET", "/titles/", b"").await.0, 200);
        let (status, allow, body) = call(&deps, "DELETE", "/dlq", b"").await;
        assert_eq!((status, allow.as_deref()), (405, Some("GET")));
        assert_eq!(body["error"]["status"], 405);
        assert!(body["error"]["message"].as_str().unwrap().contains("allowed: GET"), "{body}");
        let (status, allow, _) = call(&deps, "GET", "/dlq/replay", b"").await;
        assert_eq!((status, allow.as_deref()), (405, Some("POST")));
        let (status, _, body) = call(&deps, "GET", "/nope", b"").await;
        assert_eq!((status, body["error"]["status"].as_u64()), (404, Some(404)));
        assert!(body["error"]["message"].as_str().unwrap().contains("/titles/{isbn}/readiness"), "{body}");
        assert_eq!(call(&deps, "GET", "/titles//readiness", b"").await.0, 404);
        assert_eq!(call(&deps, "GET", "/", b"").await.0, 404);
    }

    #[tokio::test]
    async fn every_route_answers_on_empty_state() {
        let (_dir, deps) = empty_deps();
        for r in ROUTES {
            let path = r.path.replace("{isbn}", "9781800100008");
            let body: &[u8] = match r.id {
                RouteId::DlqReplay => br#"{"all": true}"#,
                RouteId::Reconcile => br#"{"mode": "incremental"}"#,
                _ => b"",
            };
            let uri =
                if r.id == RouteId::Audit { format!("{path}?title=9781800100008") } else { path.clone() };
            let (status, _, json) = call(&deps, r.method, &uri, body).await;
            let expected = match r.id {
                RouteId::Readiness | RouteId::Assets => 404,
                RouteId::Reconcile => 503,
                _ => 200,
            };
            assert_eq!(status, expected, "{} {path}: {json}", r.method);
            if r.id != RouteId::Board {
                assert!(json.is_object(), "{} {path}: JSON body", r.method);
            }
        }
        let (status, _, json) = call(&deps, "GET", "/titles/97818001000x8/readiness", b"").await;
        assert_eq!(status, 400);
        assert_eq!(json["error"]["field"], "isbn");
    }
}
