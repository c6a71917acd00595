//! The connector's HTTP surfaces, one axum [`Router`](axum::Router) each:
//!
//! - [`intake::router`]: `POST /webhooks/{otmm|consonance}` (the webhook API);
//! - [`api::router`]: the people-facing API and the readiness board.
//!
//! The Lambda functions serve them with `lambda_http::run(router)` (`functions/*/src/main.rs`
//! build the dependencies and nothing else); the local runner (`connector serve`) merges them.
//! What API Gateway adds to a request (the request id, who the caller is) reaches the handlers
//! through the request context `lambda_http` stores in the request's extensions: [`gateway`].

#[cfg(feature = "api")]
pub mod api;
pub mod gateway;
pub mod html;
pub mod intake;
