//! A bare `lambda_runtime` function: the same runtime, tokio and profile as the connector's
//! functions and nothing else, so its cold start is the floor they are measured against.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
