//! The HTTP server of the local runner: the routers of `connector-web` (the webhook intake as
//! API Gateway would call it, the people-facing API with the readiness board) merged with the
//! runner's own routes (`GET /healthz`; `GET /metrics`, the process's counters in the
//! Prometheus text format). No authentication here: in AWS, API Gateway checks JWTs and IAM
//! signatures before the function runs.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::routing::get;
use connector_metrics::prometheus::{self, Prometheus};
use connector_web::api::{self, ApiDeps};
use connector_web::intake::{self, IntakeDeps};
use std::sync::Arc;

/// The intake's routes and `GET /healthz` (no fallback: merge it with [`api::router`], whose
/// JSON 404 then answers every other path, or serve it alone).
pub fn router(intake: Arc<IntakeDeps>) -> Router {
    intake::routes(intake)
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
}

/// `GET /metrics`: every counter of this process (`connector_metrics`), Prometheus text.
pub fn metrics_router(metrics: Prometheus) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Prometheus>| async move {
                ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], m.render())
            }),
        )
        .with_state(metrics)
}

/// Everything `connector serve` answers: [`router`] and [`metrics_router`] merged with the
/// people-facing API.
pub fn app(intake: Arc<IntakeDeps>, api: Arc<ApiDeps>, metrics: Prometheus) -> Router {
    api::router(api).merge(router(intake)).merge(metrics_router(metrics))
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
