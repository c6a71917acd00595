//! Lambda entry point: API Gateway HTTP API (payload v2) -> [`connector_web::intake::router`].
//!
//! Environment: the store variables of `connector_store::aws::AwsConfig` (tables, queue URLs,
//! bucket; set by `infra/template.yaml`) and the signing secrets `WEBHOOK_SECRET_OTMM` /
//! `WEBHOOK_SECRET_CONSONANCE` (at least one; in AWS the template resolves them from Secrets
//! Manager or SSM Parameter Store, so they never live in the template or the repository). A
//! source without a secret answers 404. It builds only the DynamoDB and SQS clients it calls.
//! Metrics: EMF on stdout after each invocation, in `METRICS_NAMESPACE` (`connector_metrics::emf`).

use connector_store::aws::{AwsClients, AwsConfig};
use connector_web::intake::{self, IntakeDeps, Secrets};
use lambda_http::tower::ServiceExt;
use lambda_http::{Error, Request, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let metrics = connector_metrics::emf::Emf::install(env("METRICS_NAMESPACE"))?;
    let config = AwsConfig::from_env()?;
    let secrets = Secrets::from_lookup(env)?;
    let clients = AwsClients::load(&config).await;
    let deps = IntakeDeps::new(Arc::new(clients.dynamo()), Arc::new(clients.queue()), secrets);
    tracing::info!(sources = ?deps.secrets.sources().collect::<Vec<_>>(), "webhook intake ready");
    let router = intake::router(Arc::new(deps));
    lambda_http::run(service_fn(move |req: Request| metrics.around(router.clone().oneshot(req)))).await
}
