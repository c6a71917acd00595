//! OpenText Media Management (OTMM) REST client, built on [`connector_http`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), otmm_client::OtmmError> {
//! use otmm_client::{OtmmAuth, OtmmClient, OtmmConfig};
//! let otmm = OtmmClient::new(OtmmConfig::new(
//!     "https://dam.example.com",
//!     OtmmAuth::Session { username: "svc".into(), password: "...".into() },
//! ))?;
//! let id = connector_core::AssetId::parse("5e00000000000000000000000000000000000001").unwrap();
//! let asset = otmm.get_asset(&id).await?;
//! println!("{:?}", asset.field_str("CUSTOM.FIELD.ISBN"));
//! # Ok(()) }
//! ```
//!
//! Auth: a session (cookie + `X-Requested-By`), OAuth2 password grant, or a fixed bearer
//! token; a 401 triggers one re-login (shared by concurrent callers) and one resend.
//! Resilience (timeouts, retries of transient failures, rate and concurrency limits) comes
//! from the [`connector_http::HttpPolicy`] in the config; creating requests are never retried.
//! Every failure is an [`OtmmError`] naming the operation.

mod client;
mod decode;
mod error;
mod model;

pub use client::{
    ChangeFeed, ContentStream, Join, OtmmAuth, OtmmClient, OtmmConfig, OtmmOptions, SearchCondition,
};
pub use connector_http::{CallMetrics, HttpPolicy, OperationMetrics};
pub use decode::{decode_asset_answer, decode_json};
pub use error::{OtmmError, from_status};
pub use model::{FieldValue, JobStatus, LookupValue, OtmmAsset, ScalarValue, SearchPage};
