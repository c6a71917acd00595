//! Key layout shared by the DynamoDB and SQLite adapters, and by `infra/template.yaml`.
//! Changing a name here without the template makes the adapter tests fail: they create their
//! tables from the template.
//!
//! State table (`pk`, `sk`):
//! - title: `TITLE#<isbn13>` / `TITLE`
//! - link:  `TITLE#<isbn13>` / `LINK#<role>#<slot>`, and on GSI `by_asset`:
//!   `asset_pk` = `ASSET#<original asset id>`, `asset_sk` = `<isbn13>#<role>#<slot>`
//! - checkpoint: `CHECKPOINT#<name>` / `CHECKPOINT`
//! - document: `DOC#<kind>` / `<id>` (asset requests, packages, readiness reports)
//!
//! Audit table (`pk`, `sk`): `TITLE#<isbn13>` (or `TITLE#NONE`) / `<audit id>`; GSI `by_asset`:
//! `asset_pk` = `ASSET#<asset id>`, `sk`.
//!
//! Idempotency table: `id` (the key), TTL attribute `expiration`.

use connector_core::{AssetId, Isbn13, LinkKey};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const ASSET_PK: &str = "asset_pk";
pub const ASSET_SK: &str = "asset_sk";
pub const BY_ASSET_INDEX: &str = "by_asset";
pub const IDEMPOTENCY_KEY: &str = "id";
pub const TTL_ATTRIBUTE: &str = "expiration";

pub const TITLE_SK: &str = "TITLE";
pub const CHECKPOINT_SK: &str = "CHECKPOINT";
pub const NO_TITLE_PK: &str = "TITLE#NONE";

pub fn title_pk(isbn: &Isbn13) -> String {
    format!("TITLE#{isbn}")
}
pub fn link_sk(key: &LinkKey) -> String {
    format!("LINK#{}#{}", key.role, key.slot)
}
pub const LINK_SK_PREFIX: &str = "LINK#";
pub fn asset_pk(asset: &AssetId) -> String {
    format!("ASSET#{asset}")
}
pub fn link_asset_sk(key: &LinkKey) -> String {
    format!("{}#{}#{}", key.isbn, key.role, key.slot)
}
pub fn checkpoint_pk(name: &str) -> String {
    format!("CHECKPOINT#{name}")
}
pub fn doc_pk(kind: &str) -> String {
    format!("DOC#{kind}")
}
