//! The HTTP routes the local runner serves: the webhook intake as API Gateway would call it,
//! the people-facing API with the readiness board ([`api_router`]; no authentication here:
//! in AWS, API Gateway checks JWTs and IAM signatures before the function runs), and the
//! process's counters in the Prometheus text format ([`metrics_router`], `GET /metrics`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use std::collections::BTreeMap;
use std::sync::Arc;
use webhook_intake::{IntakeDeps, IntakeRequest, handle};

pub fn router(intake: Arc<IntakeDeps>) -> Router {
    Router::new()
        .route("/webhooks/{source}", any(webhook))
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .with_state(intake)
}

async fn webhook(
    State(deps): State<Arc<IntakeDeps>>,
    Path(source): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Names arrive lower-cased; for a repeated header the first value counts.
    let mut map = BTreeMap::new();
    for (k, v) in headers.iter() {
        if let Ok(v) = v.to_str() {
            map.entry(k.as_str().to_string()).or_insert_with(|| v.to_string());
        }
    }
    let headers = map;
    let request = IntakeRequest {
        method: method.to_string(),
        path: format!("/webhooks/{source}"),
        headers,
        body: body.to_vec(),
        request_id: None,
    };
    let answer = handle(&deps, request).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/json")], answer.body.to_string()).into_response();
    for (name, value) in answer.headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// `GET /metrics`: every counter of this process (`connector_metrics`), Prometheus text.
pub fn metrics_router(metrics: connector_metrics::prometheus::Prometheus) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<connector_metrics::prometheus::Prometheus>| async move {
                ([(header::CONTENT_TYPE, connector_metrics::prometheus::CONTENT_TYPE)], m.render())
            }),
        )
        .with_state(metrics)
}

/// The people-facing API (`/titles...`, `/audit`, `/dlq...`, `/reconcile`, `/openapi.json`,
/// `/board`) as a fallback: merge it with [`router`] to serve both.
pub fn api_router(deps: Arc<api::ApiDeps>) -> Router {
    Router::new().fallback(api_request).with_state(deps)
}

async fn api_request(
    State(deps): State<Arc<api::ApiDeps>>,
    method: Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let request = api::ApiRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        body: body.to_vec(),
        caller: None,
    };
    let answer = api::handle(&deps, request).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, answer.content_type)], answer.body).into_response();
    for (name, value) in answer.headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// Serves `router` on `addr` (port 0 for any) in the background; returns the bound address.
pub async fn spawn(router: Router, addr: &str) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    serve(listener, router);
    Ok(bound)
}

/// Serves `router` on a bound listener in the background.
pub fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
}
