//! Every key the connector stores under, declared once: the table layout shared by the
//! DynamoDB and SQLite adapters and `infra/template.yaml`, the idempotency namespaces (side
//! effects and leases), the document kinds and ids, and the reconciler's checkpoint names.
//!
//! These strings are stored state: changing one makes what is stored unreadable (a key no
//! longer found is a side effect done again, a document or checkpoint lost). The unit tests
//! pin each string form. Changing a table name here without the template makes the adapter
//! tests fail: they create their tables from the template.
//!
//! State table (`pk`, `sk`):
//! - title: `TITLE#<isbn13>` / `TITLE`
//! - link:  `TITLE#<isbn13>` / `LINK#<role>#<slot>`, and on GSI `by_asset`:
//!   `asset_pk` = `ASSET#<original asset id>`, `asset_sk` = `<isbn13>#<role>#<slot>`
//! - checkpoint: `CHECKPOINT#<name>` / `CHECKPOINT` (names: [`INCREMENTAL_PASSES`] and the
//!   other `*_PASSES` and `*_CHECKPOINT` consts)
//! - document: `DOC#<kind>` / `<id>` (kinds: the `*_KIND` consts, ids beside them)
//!
//! Audit table (`pk`, `sk`): `TITLE#<isbn13>` (or `TITLE#NONE`) / `<audit id>`; GSI `by_asset`:
//! `asset_pk` = `ASSET#<asset id>`, `sk`.
//!
//! Idempotency table: `id` (the key, one of the namespaces below), TTL attribute `expiration`.
//! A side-effect key is claimed (INPROGRESS for `in_progress`), completed (kept for
//! `completed`) or released after a failure; a lease is claimed and released, never completed.

use chrono::NaiveDate;
use connector_core::event::{EventId, Source};
use connector_core::plan::Command;
use connector_core::{AssetId, Channel, Isbn13, LinkKey, WorkId};
use sha2::Digest;

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
    link_id(key)
}
pub fn checkpoint_pk(name: &str) -> String {
    format!("CHECKPOINT#{name}")
}
pub fn doc_pk(kind: &str) -> String {
    format!("DOC#{kind}")
}

/// One role slot as text, `<isbn13>#<role>#<slot>`: the link's `asset_sk` and the id of its
/// rights-watch entries.
pub fn link_id(key: &LinkKey) -> String {
    format!("{}#{}#{}", key.isbn, key.role, key.slot)
}

// ---------------------------------------------------------------------------------------------
// Idempotency table: side-effect keys

/// `intake#<source>#<event id>`: webhook dedupe. Intake claims it with the event's payload hash
/// before enqueueing and completes it with the event id, so a redelivery answers 202 with the
/// original id and sends nothing. Declared in core (`InboundEvent::dedupe_key`). TTL: in
/// progress 30 s, completed 7 days (`connector_web::intake::default_ttl`).
pub use connector_core::event::dedupe_key as intake_dedupe;

/// `create-resource:<resource marker>:<product ids>`: creating a link's Consonance resource
/// (a JPG supporting resource or the web links). The plan's commands are keyed by
/// [`Command::idempotency_key`] (`create-resource:`, `delete-resource:<id>`,
/// `remove-marked:<marker prefix>`, `otmm-fields:<asset id>:<field=value;...>`), declared in
/// core because the planner needs them and core cannot depend on this crate. The processor and
/// the full scan release a link's create key when its resource is deleted, so it can be
/// created again. TTL of every command key: `Settings::idempotency_ttl` (in progress: the claim
/// TTL, `F + 5 s`; completed: 7 days).
pub use connector_core::plan::link_create_key as link_create;

/// `delete-resource:<resource id>`: deleting a Consonance resource. The same key as the plan's
/// [`Command::DeleteResource`], so the processor's withdrawal of a deleted asset and a plan's
/// replacement delete it once between them. TTL: `Settings::idempotency_ttl`.
pub fn delete_resource(resource_id: &str) -> String {
    Command::DeleteResource { resource_id: resource_id.to_string() }.idempotency_key()
}

/// `request-create:<isbn13>#<role>`: raising an asset request in OTMM (the create also looks
/// the request id up first). TTL: `Settings::idempotency_ttl`.
pub fn request_create(request_id: &str) -> String {
    format!("request-create:{request_id}")
}

/// `readiness-link:<isbn13>`: writing the readiness web link on the title's Consonance
/// product, once per title. TTL: in progress as `Settings::idempotency_ttl`, completed 10 years
/// (the link stays as long as the title).
pub fn readiness_link(isbn: &Isbn13) -> String {
    format!("readiness-link:{isbn}")
}

/// `package-release:<isbn13>#<channel>:v<package version>`: the release's `createWebLink` for
/// one package version; completed with the web link's id. TTL: `Settings::idempotency_ttl`.
pub fn package_release(package_doc_id: &str, package_version: u32) -> String {
    format!("package-release:{package_doc_id}:v{package_version}")
}

// ---------------------------------------------------------------------------------------------
// Idempotency table: leases (claimed, released, never completed; they lapse if the holder dies)

/// `lease:<isbn13>:<role>:<slot>`: one writer per role slot, held by the processor from reading
/// the slot's link to writing the new one. TTL: `Settings::lease` (`F + 5 s`) both ways.
pub fn slot_lease(key: &LinkKey) -> String {
    format!("lease:{}:{}:{}", key.isbn, key.role, key.slot)
}

/// `lease:package:work:<work id>`: one package builder (or releaser) per work, from reading
/// its links to writing its package documents. TTL: `Settings::lease` both ways.
pub fn work_package_lease(work: &WorkId) -> String {
    format!("lease:package:work:{work}")
}

// ---------------------------------------------------------------------------------------------
// Documents: kinds and ids
//
// Consts, not an enum: the kinds are not a closed set (`rights-watch#<day>` is one kind per
// day, and the conformance suite gives each run kinds of its own so runs sharing a table do not
// mix), so `Documents` takes `&str`. Each fixed kind is declared once, here or in core where
// core names it, and `keys::tests::document_kinds_and_ids` pins every string.

/// Kind `readiness`: a title's launch readiness report; id: the ISBN-13. Declared in core
/// (the readiness evaluator names it).
pub use connector_core::readiness::READINESS_DOC_KIND as READINESS_KIND;

/// Kind `asset_request`: an asset request raised in OTMM; id: [`request_id`].
pub use connector_core::readiness::REQUEST_DOC_KIND as REQUEST_KIND;

/// An asset request's id, `<isbn13>#<role>`, also its id in OTMM's request-id field.
pub use connector_core::requests::request_key as request_id;

/// Kind `package`: a product's production package on one channel; id: [`package_doc_id`].
pub use connector_core::readiness::PACKAGE_DOC_KIND as PACKAGE_KIND;

/// A package document's id, `<isbn13>#<channel>`.
pub fn package_doc_id(isbn: &Isbn13, channel: Channel) -> String {
    format!("{isbn}#{channel}")
}

/// Kind `dead_letter`: why a message was dead-lettered; id: [`dead_letter_event`] or
/// [`dead_letter_body`], from the message body alone.
pub const DEAD_LETTER_KIND: &str = "dead_letter";

/// The dead-letter id of a readable flow message: `event:<source>:<event id>`.
pub fn dead_letter_event(source: Source, event_id: &EventId) -> String {
    format!("event:{source}:{event_id}")
}

/// The dead-letter id of a body that is not a flow message: `body:<hex SHA-256 of the body>`.
pub fn dead_letter_body(body: &str) -> String {
    format!("body:{}", hex::encode(sha2::Sha256::digest(body.as_bytes())))
}

/// Kind `asset_versions_seen`: the `date_last_updated` an asset's version list was last read
/// at by an incremental pass; id: the lineage id.
pub const VERSIONS_SEEN_KIND: &str = "asset_versions_seen";

/// Document kind of an ISBN's OTMM assets as launch readiness last searched them (id: the
/// ISBN-13): what a link's readiness refresh reuses (`connector_app::readiness::Observe`).
pub const OBSERVED_ASSETS_KIND: &str = "observed_assets";

/// Document kind of an asset request's first attempt to raise it in OTMM (id: the request
/// key `<isbn13>#<role>`), written before the create: a later attempt that finds it looks for
/// the folder in OTMM first (the create may have landed and its answer been lost); one that
/// does not find it knows no create was sent (`connector_app::requests`).
pub const REQUEST_ATTEMPT_KIND: &str = "request_attempt";

/// Prefix of the rights-watch kinds, `rights-watch#<day>`: the links whose coverage changes
/// that day (one partition per day); id: [`link_id`].
pub const RIGHTS_WATCH_KIND_PREFIX: &str = "rights-watch#";

/// The rights-watch kind of one day, `rights-watch#<YYYY-MM-DD>`.
pub fn rights_watch_kind(day: NaiveDate) -> String {
    format!("{RIGHTS_WATCH_KIND_PREFIX}{day}")
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// The checkpoint names of one reconciler mode's three passes (OTMM assets, Consonance works,
/// the full scan's walk of the links). Each mode has its own, so a backfill or a full scan
/// never moves the incremental cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassCheckpoints {
    pub assets: &'static str,
    pub works: &'static str,
    pub links: &'static str,
}

pub const INCREMENTAL_PASSES: PassCheckpoints =
    PassCheckpoints { assets: "otmm-assets", works: "consonance-works", links: "links" };
pub const FULL_PASSES: PassCheckpoints =
    PassCheckpoints { assets: "full/otmm-assets", works: "full/consonance-works", links: "full/links" };
pub const BACKFILL_PASSES: PassCheckpoints = PassCheckpoints {
    assets: "backfill/otmm-assets",
    works: "backfill/consonance-works",
    links: "backfill/links",
};
/// The rights mode runs none of the three passes: names no pass reads or writes.
pub const RIGHTS_PASSES: PassCheckpoints =
    PassCheckpoints { assets: "rights/none", works: "rights/none", links: "rights/none" };

/// `backfill/origin`: the look-back date the backfill checkpoints belong to (another date
/// starts the backfill over).
pub const BACKFILL_ORIGIN_CHECKPOINT: &str = "backfill/origin";

/// `rights-expiry`: the daily rights pass's first day not yet fully handled.
pub const RIGHTS_EXPIRY_CHECKPOINT: &str = "rights-expiry";

#[cfg(test)]
mod tests;
