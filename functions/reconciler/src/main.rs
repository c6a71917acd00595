//! Lambda entry point: EventBridge schedule -> [`connector_app::reconciler::run`], stopping
//! cleanly before the invocation's deadline (the next run continues from the checkpoints).
//! The payload is either a schedule's constant `Input` (`{"mode": "full"}`) or the scheduled
//! event envelope ([`reconciler::options_of`]; a backfill is `{"mode": "backfill", "since": ...}`); anything else fails the invocation with the reason.
//! Environment: as the flow processor (`connector_store::aws::AwsConfig`, `connector_app::wiring`,
//! `METRICS_NAMESPACE` for the EMF metrics written after each run).
//! It never stages packages (no S3 in its role), so its stores hold no S3 client.

use connector_app::wiring;
use connector_store::NoStaging;
use connector_store::aws::{AwsClients, AwsConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let metrics = connector_metrics::emf::Emf::install(env("METRICS_NAMESPACE"))?;
    let clients = AwsClients::load(&AwsConfig::from_env()?).await;
    let stores = clients.stores(Arc::new(NoStaging::new("the reconciler")));
    let app = wiring::app(stores, &env, None, None)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        metrics.around(async move {
            let deadline_ms = event.context.deadline;
            let remaining = move || {
                let now_ms =
                    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
                Duration::from_millis(deadline_ms.saturating_sub(now_ms))
            };
            let options = ::reconciler::options_of(&event.payload)?;
            let summary = connector_app::reconciler::run(app, &options, &remaining).await?;
            Ok::<_, Error>(serde_json::to_value(summary)?)
        })
    }))
    .await
}
