//! The connector's pure domain. Nothing here knows AWS, HTTP or an async runtime (the only I/O
//! is `MappingConfig::load` reading its file): every decision the connector takes (is this
//! approval newer, may this asset be used there) is a function of values, so it is unit- and
//! property-tested without a network.

pub mod approval;
pub mod audit;
pub mod config;
pub mod dead_letter;
pub mod delivery;
pub mod event;
pub mod ids;
pub mod mapping;
pub mod onix;
pub mod package;
pub mod plan;
pub mod readiness;
pub mod requests;
pub mod rights;
pub mod rights_eval;
pub mod role;
pub mod signature;

pub use approval::{Approval, Supersession, supersedes};
pub use audit::{Actor, AuditAction, AuditId, AuditRecord, Flow, Outcome};
pub use ids::{AssetId, IdError, Isbn13, ProductId, WorkId};
pub use mapping::{AssetLink, Checkpoint, LinkKey, LinkStatus, TitleRecord};
pub use rights::{
    AssetRights, Channel, CountryCode, Denial, ProductSalesRights, Territory, ValidityWindow, may_use,
};
pub use role::AssetRole;

/// Where "now" comes from: the one clock type every layer takes (the functions read the system
/// clock, tests move a fixed one). A type, not a read: the core itself never asks for the time.
pub type Clock = std::sync::Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;
