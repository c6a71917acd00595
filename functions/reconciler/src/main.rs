//! Lambda entry point: EventBridge schedule -> [`connector_app::reconciler::run`], stopping
//! cleanly before the invocation's deadline (the next run continues from the checkpoints).
//! Environment: as the flow processor (`connector_store::aws::AwsConfig`, `connector_app::wiring`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use connector_app::{App, system_clock, wiring};
use connector_store::aws::{AwsConfig, aws_stores};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            let deadline_ms = event.context.deadline;
            let remaining = move || {
                let now_ms =
                    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
                Duration::from_millis(deadline_ms.saturating_sub(now_ms))
            };
            let options = ::reconciler::options(::reconciler::mode_of(&event.payload));
            let summary = connector_app::reconciler::run(app, &options, &remaining).await?;
            Ok::<_, Error>(serde_json::to_value(summary)?)
        },
    ))
    .await
}
