//! Lambda entry point: SQS (flow queue) -> [`flow_processor::handle`].
//! Environment: `connector_store::aws::AwsConfig` and `connector_app::wiring` (see their docs);
//! metrics as EMF on stdout after each batch, in `METRICS_NAMESPACE`.

use connector_app::wiring;
use connector_store::aws::{AwsConfig, aws_stores};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let metrics = connector_metrics::emf::Emf::install(env("METRICS_NAMESPACE"))?;
    let app = wiring::app(aws_stores(&AwsConfig::from_env()?).await, &env, None, None)?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, Error>(metrics.around(flow_processor::handle(app, event.payload)).await)
        },
    ))
    .await
}
