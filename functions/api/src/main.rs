//! Lambda entry point: API Gateway HTTP API (payload v2) -> [`connector_web::api::router`].
//!
//! Environment: as the reconciler (`connector_store::aws::AwsConfig` for the tables and queues,
//! `connector_app::wiring` for OTMM, Consonance and the mapping config): `POST /reconcile` runs a
//! reconcile slice inline. Authentication happens in API Gateway (see `infra/template.yaml`).
//! It never stages packages (no S3 in its role), so its stores hold no S3 client. Metrics: EMF
//! on stdout after each invocation, in `METRICS_NAMESPACE`.

use connector_app::wiring;
use connector_store::NoStaging;
use connector_store::aws::{AwsClients, AwsConfig};
use connector_web::api::{self, ApiDeps};
use lambda_http::tower::ServiceExt;
use lambda_http::{Error, Request, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let metrics = connector_metrics::emf::Emf::install(env("METRICS_NAMESPACE"))?;
    let clients = AwsClients::load(&AwsConfig::from_env()?).await;
    let stores = clients.stores(Arc::new(NoStaging::new("the people-facing API")));
    let app = wiring::app(stores, &env, None, None)?;
    let router = api::router(Arc::new(ApiDeps::for_app(app)));
    lambda_http::run(service_fn(move |req: Request| metrics.around(router.clone().oneshot(req)))).await
}
