//! Lambda entry point: API Gateway HTTP API (payload v2) -> [`webhook_intake::handle`].
//!
//! Environment: the store variables of `connector_store::aws::AwsConfig` (tables, queue URLs,
//! bucket; set by `infra/template.yaml`) and the signing secrets `WEBHOOK_SECRET_OTMM` /
//! `WEBHOOK_SECRET_CONSONANCE` (at least one; in AWS the template resolves them from Secrets
//! Manager or SSM Parameter Store, e.g. `{{resolve:secretsmanager:...}}`, so they never live in
//! the template or the repository). A source without a secret answers 404.
//!
//! It builds only the DynamoDB (idempotency) and SQS (flow queue) clients it calls. Metrics:
//! EMF on stdout after each invocation, in `METRICS_NAMESPACE` (`connector_metrics::emf`).

use connector_store::aws::{AwsClients, AwsConfig};
use lambda_http::{Error, Request, service_fn};
use std::sync::Arc;
use webhook_intake::{IntakeDeps, Secrets, from_lambda, handle, to_lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let metrics = connector_metrics::emf::Emf::install(env("METRICS_NAMESPACE"))?;
    let config = AwsConfig::from_env()?;
    let secrets = Secrets::from_lookup(env)?;
    let clients = AwsClients::load(&config).await;
    let deps = Arc::new(IntakeDeps::new(Arc::new(clients.dynamo()), Arc::new(clients.queue()), secrets));
    tracing::info!(sources = ?deps.secrets.sources().collect::<Vec<_>>(), "webhook intake ready");

    lambda_http::run(service_fn(move |req: Request| {
        let deps = deps.clone();
        metrics.around(async move { Ok::<_, Error>(to_lambda(handle(&deps, from_lambda(&req)).await)) })
    }))
    .await
}
