//! State ports (traits) and their adapters.
//!
//! Handlers take a [`Stores`] of trait objects, so the same code runs on DynamoDB/SQS/S3
//! (features `aws-dynamodb`, `aws-sqs`, `aws-s3`, or `aws` for all three) or on SQLite and a
//! directory (feature `embedded`). One conformance suite
//! ([`conformance`], feature `conformance`) runs the same cases against every adapter.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use connector_core::{AssetId, AssetLink, AuditRecord, Checkpoint, Isbn13, LinkKey, TitleRecord};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

pub mod keys;
mod no_staging;
mod support;
pub use no_staging::NoStaging;
pub use support::{Checksums, new_audit_id};

#[cfg(feature = "aws-sdk-config")]
pub mod aws;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "embedded")]
pub mod embedded;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictReason {
    /// Create-only write, but the item exists.
    AlreadyExists,
    /// The item changed since it was read.
    RevisionChanged { expected: Option<u64>, found: Option<u64> },
    /// The write carries an older approval than the stored one (versions are monotonic).
    StaleVersion { stored_version: u32, incoming_version: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conditional write on {key} refused: {reason:?}")]
    Conflict { key: String, reason: ConflictReason },
    #[error("idempotency key {key} was used before with a different payload")]
    PayloadMismatch { key: String },
    #[error("stored item {key} cannot be read: {message}")]
    Corrupt { key: String, message: String },
    #[error("checksum mismatch for {key}: stored sha256 {expected}, read {actual}")]
    Checksum { key: String, expected: String, actual: String },
    #[error("{backend} failed during {operation}: {message}")]
    Backend { backend: &'static str, operation: &'static str, message: String, transient: bool },
}

impl StoreError {
    /// Worth retrying as is (throttling, network, 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Backend { transient: true, .. })
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// Newest-first paging over the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// Continue after this cursor (from a previous [`Page::next`]).
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Titles and links: the mapping between Consonance titles and OTMM asset versions.
#[async_trait]
pub trait MappingStore: Send + Sync {
    async fn get_title(&self, isbn: &Isbn13) -> Result<Option<TitleRecord>>;
    /// Writes the title if its stored revision is `expected_revision` (`None`: must not exist),
    /// with `audit` appended in the same transaction. Returns the record with its new revision.
    async fn put_title(
        &self,
        title: &TitleRecord,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<TitleRecord>;
    /// Every title, a page at a time (order unspecified: a DynamoDB scan).
    async fn list_titles(&self, page: PageRequest) -> Result<Page<TitleRecord>>;

    async fn get_link(&self, key: &LinkKey) -> Result<Option<AssetLink>>;
    async fn links_for_title(&self, isbn: &Isbn13) -> Result<Vec<AssetLink>>;
    async fn links_for_asset(&self, asset_id: &AssetId) -> Result<Vec<AssetLink>>;
    /// Writes the link if its stored revision is `expected_revision` and the stored approval
    /// does not supersede the incoming one (an older version never overwrites a newer one),
    /// with `audit` appended in the same transaction.
    async fn put_link(
        &self,
        link: &AssetLink,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<AssetLink>;
}

/// Append-only audit trail, queryable by title and by asset, newest first.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append(&self, records: &[AuditRecord]) -> Result<()>;
    async fn by_title(&self, isbn: &Isbn13, page: PageRequest) -> Result<Page<AuditRecord>>;
    async fn by_asset(&self, asset_id: &AssetId, page: PageRequest) -> Result<Page<AuditRecord>>;
    /// Records about no title (`reconcile.run`, replays, unreadable messages), newest first.
    async fn untitled(&self, page: PageRequest) -> Result<Page<AuditRecord>>;
}

/// Outcome of claiming an idempotency key (the Powertools record: INPROGRESS/COMPLETED with
/// expiry; an expired record counts as absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller owns the key now and must `complete` or `release` it.
    Acquired,
    /// Someone else holds it and has not finished (until `until`).
    InProgress { until: DateTime<Utc> },
    /// Done before; `data` is what the first caller stored (e.g. the original event id).
    Completed { data: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyTtl {
    /// How long an INPROGRESS claim blocks others (the holder may have crashed).
    pub in_progress: Duration,
    /// How long a COMPLETED record is kept (DynamoDB TTL).
    pub completed: Duration,
}

impl Default for IdempotencyTtl {
    fn default() -> Self {
        IdempotencyTtl {
            in_progress: Duration::from_secs(120),
            completed: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[async_trait]
pub trait Idempotency: Send + Sync {
    /// Claims `key` with a conditional write. `payload_hash`, when given, must match the hash
    /// the key was first claimed with, or the claim fails with [`StoreError::PayloadMismatch`].
    async fn claim(
        &self,
        key: &str,
        payload_hash: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<Claim>;
    async fn complete(
        &self,
        key: &str,
        data: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<()>;
    /// Gives the key up after a failure so a retry can claim it.
    async fn release(&self, key: &str) -> Result<()>;
}

#[async_trait]
pub trait Checkpoints: Send + Sync {
    async fn get_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>>;
    /// Conditional on the stored revision, like the mapping writes.
    async fn put_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        expected_revision: Option<u64>,
    ) -> Result<Checkpoint>;
}

/// A small JSON document the connector keeps besides titles and links: an asset request, a
/// production package, a readiness report. Identified by `kind` and `id`; revisions as for titles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub kind: String,
    pub id: String,
    pub body: serde_json::Value,
    pub updated_at: DateTime<Utc>,
    pub revision: u64,
}

/// Documents by kind (asset requests, packages, readiness reports), with optimistic revisions
/// and audit records written in the same transaction as the document.
#[async_trait]
pub trait Documents: Send + Sync {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Document>>;
    /// Writes the document if its stored revision is `expected_revision` (`None`: must not
    /// exist), with `audit` appended in the same transaction. Returns it with its new revision.
    async fn put_doc(
        &self,
        doc: &Document,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<Document>;
    /// Every document of a kind, ordered by id, a page at a time.
    async fn list_docs(&self, kind: &str, page: PageRequest) -> Result<Page<Document>>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub message_id: String,
    /// Handle for `ack`/`retry_later`; changes on every receive.
    pub receipt: String,
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub dead: u64,
}

/// The flow queue with its dead-letter queue: a message received more than the configured
/// number of times without being acked moves to the DLQ instead of being delivered again.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Returns the message id.
    async fn send(&self, body: &str) -> Result<String>;
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>>;
    async fn ack(&self, receipt: &str) -> Result<()>;
    /// Makes a received message visible again after `delay` (e.g. a `Retry-After`).
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<()>;
    /// Moves a received message to the dead-letter queue now (a permanent failure: retrying
    /// cannot help until someone fixes the cause), with the reason for whoever replays it.
    async fn dead_letter(&self, message: &QueueMessage, reason: &str) -> Result<()>;
    /// Up to `max` dead letters, oldest first, without removing them.
    async fn dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>>;
    /// Moves dead letters back to the queue: those with the given message ids, or all of them.
    /// Returns how many moved.
    async fn redrive(&self, message_ids: Option<&[String]>) -> Result<usize>;
    async fn depth(&self) -> Result<QueueDepth>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Hex SHA-256 and MD5 of the bytes, computed while writing.
    pub sha256: String,
    pub md5: String,
    pub content_type: String,
    /// S3 object version when bucket versioning is on.
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
}

pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Where production packages are staged (S3 bucket or a directory).
#[async_trait]
pub trait Staging: Send + Sync {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<ObjectInfo>;
    /// Writes a stream without holding it in memory: parts of `PART_SIZE` (multipart upload
    /// on S3 once the body passes one part).
    async fn put_stream(&self, key: &str, body: ByteStream, content_type: &str) -> Result<ObjectInfo>;
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// Reads the object and checks it against the stored SHA-256.
    async fn get(&self, key: &str) -> Result<Option<(ObjectInfo, Bytes)>>;
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>>;
}

/// Multipart part size for streamed uploads (S3's minimum is 5 MiB; 8 MiB per the design).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Every port, as the handlers see them.
#[derive(Clone)]
pub struct Stores {
    pub mapping: Arc<dyn MappingStore>,
    pub audit: Arc<dyn AuditLog>,
    pub idempotency: Arc<dyn Idempotency>,
    pub checkpoints: Arc<dyn Checkpoints>,
    pub documents: Arc<dyn Documents>,
    pub queue: Arc<dyn Queue>,
    pub staging: Arc<dyn Staging>,
}
