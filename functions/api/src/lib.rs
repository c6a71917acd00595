//! The people-facing HTTP API: launch readiness per title, the titles at risk, a title's assets,
//! the audit trail, the dead-letter queue and an on-demand reconcile, with its OpenAPI 3.1
//! document at `/openapi.json` and the readiness board (HTML) at `/board`.
//!
//! The handler ([`handle`]) is transport-neutral: an [`ApiRequest`] in, an [`ApiResponse`] out.
//! [`from_lambda`] / [`to_lambda`] adapt API Gateway HTTP API (payload v2) events for the Lambda
//! (`main.rs`); the local runner (`connector serve`) calls [`handle`] from its axum router.
//! Routing is driven by [`ROUTES`], which a test compares with the OpenAPI document both ways.
//!
//! Authentication is API Gateway's (`infra/template.yaml`: a JWT authorizer on the read routes,
//! IAM on the admin routes); the handler only reads who the caller is, for the audit trail.

mod board;
mod query;
mod routes;

pub use board::{ROLE_STATE_COLOURS, colour_of, render_board};
pub use query::{TitleFilter, decode_title_cursor, encode_title_cursor};
pub use routes::{LinkView, TitlesPage};

use chrono::Utc;
use connector_app::App;
use connector_app::readiness::{self, ReadinessError};
use connector_app::reconciler::{self, Mode, Options, Summary};
use connector_core::Isbn13;
use connector_core::readiness::TitleReadiness;
use connector_store::{StoreError, Stores};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The OpenAPI 3.1 document served at `/openapi.json` (hand-written; a test checks it against
/// [`ROUTES`] and schemathesis checks it against the running server).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

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
pub type Reconcile = Arc<dyn Fn(Mode, Duration) -> BoxFuture<'static, Result<Summary, String>> + Send + Sync>;
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
                reconciler::run(&app, &options, &remaining).await.map_err(|e| e.to_string())
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

/// A request, independent of the transport.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string (without `?`), if any.
    pub query: Option<String>,
    pub body: Vec<u8>,
    /// Who API Gateway says the caller is (JWT `sub`, IAM user ARN), for the audit trail.
    pub caller: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl ApiResponse {
    pub fn json(status: u16, body: &Value) -> Self {
        ApiResponse { status, content_type: "application/json", headers: Vec::new(), body: body.to_string() }
    }
    pub fn html(status: u16, body: String) -> Self {
        ApiResponse { status, content_type: "text/html; charset=utf-8", headers: Vec::new(), body }
    }
    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// The JSON body, for tests.
    pub fn json_body(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
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
    pub fn to_response(&self) -> ApiResponse {
        let mut error = json!({ "status": self.status, "message": self.message });
        if let Some(f) = &self.field {
            error["field"] = json!(f);
        }
        let response = ApiResponse::json(self.status, &json!({ "error": error }));
        match self.retry_after_secs {
            Some(secs) => response.with_header("retry-after", secs.to_string()),
            None => response,
        }
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

/// Which route a method and path select, or the refusal (404, 405 with the allowed methods).
pub fn route(method: &str, path: &str) -> Result<(Route, Vec<String>), ApiResponse> {
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = if trimmed.is_empty() { Vec::new() } else { trimmed[1..].split('/').collect() };
    let mut allowed = Vec::new();
    for r in ROUTES {
        if let Some(params) = match_template(r.path, &segments) {
            if r.method.eq_ignore_ascii_case(method) {
                return Ok((*r, params));
            }
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() {
        let paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
        return Err(
            ApiError::new(404, format!("no route for {path:?}; routes: {}", paths.join(", "))).to_response()
        );
    }
    Err(ApiError::new(
        405,
        format!("method {method} is not allowed on {path}; allowed: {}", allowed.join(", ")),
    )
    .to_response()
    .with_header("allow", allowed.join(", ")))
}

fn match_template(template: &str, segments: &[&str]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template[1..].split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in parts.iter().zip(segments) {
        if p.starts_with('{') {
            if s.is_empty() {
                return None;
            }
            params.push(percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned());
        } else if p != s {
            return None;
        }
    }
    Some(params)
}

/// Handles one request. Never panics on input; every refusal is a JSON error naming the field.
pub async fn handle(deps: &ApiDeps, req: ApiRequest) -> ApiResponse {
    let started = Instant::now();
    let response = match route(&req.method, &req.path) {
        Err(r) => r,
        Ok((r, params)) => match routes::dispatch(deps, r.id, &params, &req).await {
            Ok(resp) => resp,
            Err(e) => e.to_response(),
        },
    };
    let ms = started.elapsed().as_millis() as u64;
    if response.status >= 500 {
        tracing::error!(method = %req.method, path = %req.path, status = response.status, ms, body = %response.body, "api request failed");
    } else if response.status >= 400 {
        tracing::warn!(method = %req.method, path = %req.path, status = response.status, ms, body = %response.body, "api request refused");
    } else {
        tracing::info!(method = %req.method, path = %req.path, status = response.status, ms, "api request");
    }
    response
}

// ---------------------------------------------------------------------------------------------
// API Gateway HTTP API (v2) adapter

/// Converts a `lambda_http` request (API Gateway HTTP API payload v2).
pub fn from_lambda(req: &lambda_http::Request) -> ApiRequest {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;

    let raw = req.raw_http_path();
    let path = if raw.is_empty() { req.uri().path().to_string() } else { raw.to_string() };
    let caller = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().and_then(|a| {
            let jwt = a.jwt.as_ref().and_then(|j| j.claims.get("sub").cloned());
            jwt.or_else(|| a.iam.as_ref().and_then(|i| i.user_arn.clone()))
        }),
        _ => None,
    };
    let body = match req.body() {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.as_bytes().to_vec(),
        lambda_http::Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    ApiRequest {
        method: req.method().as_str().to_string(),
        path,
        query: req.uri().query().map(str::to_string),
        body,
        caller,
    }
}

/// Converts the handler's answer into a `lambda_http` response.
pub fn to_lambda(resp: ApiResponse) -> lambda_http::Response<lambda_http::Body> {
    let mut builder =
        lambda_http::Response::builder().status(resp.status).header("content-type", resp.content_type);
    for (name, value) in &resp.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(lambda_http::Body::Text(resp.body)).unwrap_or_else(|_| {
        let mut r = lambda_http::Response::new(lambda_http::Body::Text(
            "{\"error\":{\"status\":500,\"message\":\"response could not be built\"}}".into(),
        ));
        *r.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn routing_matches_templates_and_refuses_the_rest() {
        let (r, params) = route("GET", "/titles/978-1-80010-000-8/readiness").unwrap();
        assert_eq!((r.id, params), (RouteId::Readiness, vec!["978-1-80010-000-8".to_string()]));
        assert_eq!(route("GET", "/titles/").unwrap().0.id, RouteId::Titles);
        let e = route("DELETE", "/dlq").unwrap_err();
        assert_eq!(e.status, 405);
        assert!(e.headers.iter().any(|(k, v)| *k == "allow" && v == "GET"));
        assert_eq!(route("GET", "/dlq/replay").unwrap_err().status, 405);
        assert_eq!(route("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(route("GET", "/titles//readiness").unwrap_err().status, 404);
        assert_eq!(route("GET", "").unwrap_err().status, 404);
    }

    #[tokio::test]
    async fn every_route_answers_on_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let stores = connector_store::embedded::open(
            dir.path(),
            connector_store::embedded::EmbeddedOptions { max_receives: 5 },
        )
        .unwrap();
        let deps = ApiDeps::new(stores);
        for r in ROUTES {
            let path = r.path.replace("{isbn}", "9781800100008");
            let body = match r.id {
                RouteId::DlqReplay => br#"{"all": true}"#.to_vec(),
                RouteId::Reconcile => br#"{"mode": "incremental"}"#.to_vec(),
                _ => Vec::new(),
            };
            let query = (r.id == RouteId::Audit).then(|| "title=9781800100008".to_string());
            let resp = handle(
                &deps,
                ApiRequest { method: r.method.into(), path: path.clone(), query, body, caller: None },
            )
            .await;
            let expected = match r.id {
                RouteId::Readiness | RouteId::Assets => 404,
                RouteId::Reconcile => 503,
                _ => 200,
            };
            assert_eq!(resp.status, expected, "{} {path}: {}", r.method, resp.body);
            if r.id != RouteId::Board {
                assert!(resp.json_body().is_object(), "{} {path}: JSON body", r.method);
            }
        }
        let resp = handle(
            &deps,
            ApiRequest {
                method: "GET".into(),
                path: "/titles/97818001000x8/readiness".into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.json_body()["error"]["field"], "isbn");
    }
}
