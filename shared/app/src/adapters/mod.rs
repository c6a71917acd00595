//! The system ports over the real clients: [`OtmmDam`] over `otmm-client`, [`ConsonancePms`]
//! over `consonance-client`. They translate between the clients' shapes and the connector's
//! (`AssetFacts`, `TitleFacts`) through the mapping config, and map errors onto
//! [`SystemError`](crate::systems::SystemError)'s transient / not found / permanent.

mod consonance;
mod otmm;

pub use consonance::ConsonancePms;
pub use otmm::OtmmDam;
