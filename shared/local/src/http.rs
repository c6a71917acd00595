//! The HTTP routes the local runner serves: the webhook intake as API Gateway would call it.

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

/// Serves `router` on `addr` (port 0 for any) in the background; returns the bound address.
pub async fn spawn(router: Router, addr: &str) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(bound)
}
