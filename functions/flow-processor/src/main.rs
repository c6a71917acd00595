//! Lambda entry point: SQS (flow queue) -> [`flow_processor::handle`].
//! Environment: `connector_store::aws::AwsConfig` and `connector_app::wiring` (see their docs).

use connector_app::{App, system_clock, wiring};
use connector_store::aws::{AwsConfig, aws_stores};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let mapping = Arc::new(wiring::mapping_config(&env)?);
    let wiring::Systems { dam, pms } = wiring::systems(
        wiring::otmm_config(&env)?,
        wiring::consonance_config(&env)?,
        mapping.clone(),
        env("OTMM_CONTENT_URL_TEMPLATE"),
    )?;
    let app = App {
        stores: aws_stores(&AwsConfig::from_env()?).await,
        dam,
        pms,
        config: mapping,
        settings: wiring::settings(&env)?,
        clock: system_clock(),
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, Error>(flow_processor::handle(app, event.payload).await)
        },
    ))
    .await
}
