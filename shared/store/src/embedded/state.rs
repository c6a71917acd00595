//! Mapping, audit, idempotency and checkpoints in SQLite, with the same keys as DynamoDB.

use super::{Db, begin_write, sqlite_error};
use crate::keys;
use crate::{
    AuditLog, Checkpoints, Claim, ConflictReason, Document, Documents, Idempotency, IdempotencyTtl,
    MappingStore, Page, PageRequest, Result, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_core::{AssetId, AssetLink, AuditRecord, Checkpoint, Isbn13, LinkKey, TitleRecord};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub struct SqliteState {
    db: Db,
}

impl SqliteState {
    pub fn new(db: Db) -> Self {
        SqliteState { db }
    }

    /// The record stored at `pk`/`sk`, if any.
    async fn get_record<T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &'static str,
        pk: String,
        sk: String,
    ) -> Result<Option<T>> {
        self.db
            .run(operation, move |conn| {
                let body: Option<String> = conn
                    .query_row("SELECT body FROM state WHERE pk = ?1 AND sk = ?2", params![pk, sk], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(|e| sqlite_error(operation, e))?;
                body.map(|b| from_json(&format!("{pk}/{sk}"), &b)).transpose()
            })
            .await
    }

    /// Writes a record without an asset index entry at `pk`/`sk`, conditionally, with its audit.
    async fn put_record<T: Serialize>(
        &self,
        operation: &'static str,
        (pk, sk): (String, String),
        record: &T,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<()> {
        let body = to_json(&pk, record)?;
        let audit = audit.to_vec();
        self.db
            .run(operation, move |conn| {
                let row = Row { pk: &pk, sk: &sk, asset: None, body: &body };
                conditional_put(conn, row, expected_revision, &audit, |_| Ok(()))
            })
            .await?;
        Ok(())
    }
}

fn to_json<T: Serialize>(key: &str, value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), message: format!("cannot serialise: {e}") })
}

fn from_json<T: DeserializeOwned>(key: &str, body: &str) -> Result<T> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), message: e.to_string() })
}

fn stored_revision(tx: &Transaction<'_>, pk: &str, sk: &str) -> Result<Option<(u64, String)>> {
    tx.query_row("SELECT revision, body FROM state WHERE pk = ?1 AND sk = ?2", params![pk, sk], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
    })
    .optional()
    .map_err(|e| sqlite_error("read for conditional write", e))
}

fn check_revision(key: &str, expected: Option<u64>, found: Option<u64>) -> Result<()> {
    match (expected, found) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err(StoreError::Conflict { key: key.to_string(), reason: ConflictReason::AlreadyExists })
        }
        (e, f) if e == f => Ok(()),
        (expected, found) => Err(StoreError::Conflict {
            key: key.to_string(),
            reason: ConflictReason::RevisionChanged { expected, found },
        }),
    }
}

fn insert_audit(tx: &Transaction<'_>, records: &[AuditRecord]) -> Result<()> {
    for rec in records {
        let pk = rec.isbn.as_ref().map(keys::title_pk).unwrap_or_else(|| keys::NO_TITLE_PK.to_string());
        let asset_pk = rec.asset_id.as_ref().map(keys::asset_pk);
        let body = to_json(&rec.id.0, rec)?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO audit (pk, sk, asset_pk, body) VALUES (?1, ?2, ?3, ?4)",
                params![pk, rec.id.0, asset_pk, body],
            )
            .map_err(|e| sqlite_error("append audit", e))?;
        if inserted == 0 {
            // Append-only: an id is written once.
            return Err(StoreError::Conflict {
                key: rec.id.0.clone(),
                reason: ConflictReason::AlreadyExists,
            });
        }
    }
    Ok(())
}

/// Writes one state row after checking its revision, with `audit` in the same transaction.
/// `guard` can refuse the write after seeing the stored body (version monotonicity).
/// One state row to write: keys, optional by-asset index keys, JSON body.
struct Row<'a> {
    pk: &'a str,
    sk: &'a str,
    asset: Option<(String, String)>,
    body: &'a str,
}

fn conditional_put(
    conn: &mut rusqlite::Connection,
    row: Row<'_>,
    expected: Option<u64>,
    audit: &[AuditRecord],
    guard: impl FnOnce(&str) -> Result<()>,
) -> Result<u64> {
    let Row { pk, sk, asset, body } = row;
    let tx = begin_write(conn)?;
    let key = format!("{pk}/{sk}");
    let stored = stored_revision(&tx, pk, sk)?;
    check_revision(&key, expected, stored.as_ref().map(|(r, _)| *r))?;
    if let Some((_, stored_body)) = &stored {
        guard(stored_body)?;
    }
    let revision = expected.map_or(1, |r| r + 1);
    let (asset_pk, asset_sk) = asset.unzip();
    tx.execute(
        "INSERT INTO state (pk, sk, asset_pk, asset_sk, revision, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (pk, sk) DO UPDATE SET asset_pk = excluded.asset_pk, asset_sk = excluded.asset_sk,
           revision = excluded.revision, body = excluded.body",
        params![pk, sk, asset_pk, asset_sk, revision as i64, body],
    )
    .map_err(|e| sqlite_error("conditional put", e))?;
    insert_audit(&tx, audit)?;
    tx.commit().map_err(|e| sqlite_error("commit", e))?;
    Ok(revision)
}

/// The store-level guard on links: an older approval never overwrites a newer one.
pub(crate) fn monotonic(key: &str, stored: &AssetLink, incoming: &AssetLink) -> Result<()> {
    let (s, i) = (&stored.approval, &incoming.approval);
    let stale = if s.asset_id == i.asset_id { i.version < s.version } else { i.approved_at < s.approved_at };
    if stale {
        return Err(StoreError::Conflict {
            key: key.to_string(),
            reason: ConflictReason::StaleVersion { stored_version: s.version, incoming_version: i.version },
        });
    }
    Ok(())
}

fn query_bodies<T: DeserializeOwned>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| sqlite_error("prepare query", e))?;
    let rows = stmt
        .query_map(params, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| sqlite_error("query", e))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, body) = row.map_err(|e| sqlite_error("read row", e))?;
        out.push(from_json(&key, &body)?);
    }
    Ok(out)
}

#[async_trait]
impl MappingStore for SqliteState {
    async fn get_title(&self, isbn: &Isbn13) -> Result<Option<TitleRecord>> {
        self.get_record("get title", keys::title_pk(isbn), keys::TITLE_SK.to_string()).await
    }

    async fn put_title(
        &self,
        title: &TitleRecord,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<TitleRecord> {
        let mut record = title.clone();
        record.revision = expected_revision.map_or(1, |r| r + 1);
        let key = (keys::title_pk(&record.isbn), keys::TITLE_SK.to_string());
        self.put_record("put title", key, &record, expected_revision, audit).await?;
        Ok(record)
    }

    async fn list_titles(&self, page: PageRequest) -> Result<Page<TitleRecord>> {
        let limit = page.limit.max(1);
        let after = page.cursor.unwrap_or_default();
        self.db
            .run("list titles", move |conn| {
                let mut items: Vec<TitleRecord> = query_bodies(
                    conn,
                    "SELECT pk, body FROM state WHERE sk = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3",
                    &[&keys::TITLE_SK, &after, &((limit + 1) as i64)],
                )?;
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items.last().map(|t| keys::title_pk(&t.isbn))
                } else {
                    None
                };
                Ok(Page { items, next })
            })
            .await
    }

    async fn get_link(&self, key: &LinkKey) -> Result<Option<AssetLink>> {
        self.get_record("get link", keys::title_pk(&key.isbn), keys::link_sk(key)).await
    }

    async fn links_for_title(&self, isbn: &Isbn13) -> Result<Vec<AssetLink>> {
        let pk = keys::title_pk(isbn);
        let prefix = format!("{}%", keys::LINK_SK_PREFIX);
        self.db
            .run("links for title", move |conn| {
                query_bodies(
                    conn,
                    "SELECT sk, body FROM state WHERE pk = ?1 AND sk LIKE ?2 ORDER BY sk",
                    &[&pk, &prefix],
                )
            })
            .await
    }

    async fn links_for_asset(&self, asset_id: &AssetId) -> Result<Vec<AssetLink>> {
        let apk = keys::asset_pk(asset_id);
        self.db
            .run("links for asset", move |conn| {
                query_bodies(
                    conn,
                    "SELECT sk, body FROM state WHERE asset_pk = ?1 ORDER BY asset_sk",
                    &[&apk],
                )
            })
            .await
    }

    async fn put_link(
        &self,
        link: &AssetLink,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<AssetLink> {
        let mut record = link.clone();
        record.revision = expected_revision.map_or(1, |r| r + 1);
        let (pk, sk) = (keys::title_pk(&record.key.isbn), keys::link_sk(&record.key));
        let asset = Some((keys::asset_pk(&record.approval.asset_id), keys::link_asset_sk(&record.key)));
        let body = to_json(&sk, &record)?;
        let audit = audit.to_vec();
        let incoming = record.clone();
        self.db
            .run("put link", move |conn| {
                let key = format!("{pk}/{sk}");
                conditional_put(
                    conn,
                    Row { pk: &pk, sk: &sk, asset, body: &body },
                    expected_revision,
                    &audit,
                    |stored| {
                        let stored: AssetLink = from_json(&key, stored)?;
                        monotonic(&key, &stored, &incoming)
                    },
                )
            })
            .await?;
        Ok(record)
    }
}

fn audit_page(
    conn: &rusqlite::Connection,
    column: &'static str,
    value: String,
    page: PageRequest,
) -> Result<Page<AuditRecord>> {
    let limit = page.limit.max(1);
    // Newest first: ids are ULIDs, so descending sk is descending time.
    let before = page.cursor.unwrap_or_else(|| "~".to_string());
    let sql = format!("SELECT sk, body FROM audit WHERE {column} = ?1 AND sk < ?2 ORDER BY sk DESC LIMIT ?3");
    let mut items: Vec<AuditRecord> = query_bodies(conn, &sql, &[&value, &before, &((limit + 1) as i64)])?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|r| r.id.0.clone())
    } else {
        None
    };
    Ok(Page { items, next })
}

#[async_trait]
impl AuditLog for SqliteState {
    async fn append(&self, records: &[AuditRecord]) -> Result<()> {
        let records = records.to_vec();
        self.db
            .run("append audit", move |conn| {
                let tx = begin_write(conn)?;
                insert_audit(&tx, &records)?;
                tx.commit().map_err(|e| sqlite_error("commit", e))
            })
            .await
    }

    async fn by_title(&self, isbn: &Isbn13, page: PageRequest) -> Result<Page<AuditRecord>> {
        let pk = keys::title_pk(isbn);
        self.db.run("audit by title", move |conn| audit_page(conn, "pk", pk, page)).await
    }

    async fn by_asset(&self, asset_id: &AssetId, page: PageRequest) -> Result<Page<AuditRecord>> {
        let apk = keys::asset_pk(asset_id);
        self.db.run("audit by asset", move |conn| audit_page(conn, "asset_pk", apk, page)).await
    }

    async fn untitled(&self, page: PageRequest) -> Result<Page<AuditRecord>> {
        let pk = keys::NO_TITLE_PK.to_string();
        self.db.run("audit of no title", move |conn| audit_page(conn, "pk", pk, page)).await
    }
}

const INPROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";

fn epoch_s(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

#[async_trait]
impl Idempotency for SqliteState {
    async fn claim(
        &self,
        key: &str,
        payload_hash: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<Claim> {
        let (key, hash) = (key.to_string(), payload_hash.map(str::to_string));
        self.db
            .run("claim idempotency key", move |conn| {
                let tx = begin_write(conn)?;
                let row: Option<(String, i64, Option<i64>, Option<String>, Option<String>)> = tx
                    .query_row(
                        "SELECT status, expiration, in_progress_expiration, data, validation FROM idempotency WHERE id = ?1",
                        params![key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()
                    .map_err(|e| sqlite_error("read idempotency record", e))?;
                let now_s = epoch_s(now);
                let now_ms = now.timestamp_millis();
                if let Some((status, expiration, in_progress_until, data, validation)) = row {
                    // The same condition as the DynamoDB conditional put: a live record blocks.
                    let expired = expiration < now_s;
                    let stale_in_progress = status == INPROGRESS && in_progress_until.is_some_and(|t| t < now_ms);
                    if !expired && !stale_in_progress {
                        if let (Some(h), Some(v)) = (&hash, &validation)
                            && h != v
                        {
                            return Err(StoreError::PayloadMismatch { key });
                        }
                        return Ok(if status == COMPLETED {
                            Claim::Completed { data }
                        } else {
                            let until = in_progress_until.and_then(DateTime::from_timestamp_millis).unwrap_or(now);
                            Claim::InProgress { until }
                        });
                    }
                }
                tx.execute(
                    "INSERT INTO idempotency (id, status, expiration, in_progress_expiration, data, validation)
                     VALUES (?1, ?2, ?3, ?4, NULL, ?5)
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status, expiration = excluded.expiration,
                       in_progress_expiration = excluded.in_progress_expiration, data = NULL, validation = excluded.validation",
                    params![
                        key,
                        INPROGRESS,
                        now_s + ttl.completed.as_secs() as i64,
                        now_ms + ttl.in_progress.as_millis() as i64,
                        hash
                    ],
                )
                .map_err(|e| sqlite_error("claim idempotency key", e))?;
                tx.commit().map_err(|e| sqlite_error("commit", e))?;
                Ok(Claim::Acquired)
            })
            .await
    }

    async fn complete(
        &self,
        key: &str,
        data: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<()> {
        let (key, data) = (key.to_string(), data.map(str::to_string));
        self.db
            .run("complete idempotency key", move |conn| {
                conn.execute(
                    "INSERT INTO idempotency (id, status, expiration, in_progress_expiration, data, validation)
                     VALUES (?1, ?2, ?3, NULL, ?4, NULL)
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status, expiration = excluded.expiration,
                       in_progress_expiration = NULL, data = excluded.data",
                    params![key, COMPLETED, epoch_s(now) + ttl.completed.as_secs() as i64, data],
                )
                .map_err(|e| sqlite_error("complete idempotency key", e))?;
                Ok(())
            })
            .await
    }

    async fn release(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.db
            .run("release idempotency key", move |conn| {
                conn.execute("DELETE FROM idempotency WHERE id = ?1", params![key])
                    .map_err(|e| sqlite_error("release idempotency key", e))?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl Documents for SqliteState {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Document>> {
        self.get_record("get document", keys::doc_pk(kind), id.to_string()).await
    }

    async fn put_doc(
        &self,
        doc: &Document,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<Document> {
        let mut record = doc.clone();
        record.revision = expected_revision.map_or(1, |r| r + 1);
        let key = (keys::doc_pk(&record.kind), record.id.clone());
        self.put_record("put document", key, &record, expected_revision, audit).await?;
        Ok(record)
    }

    async fn list_docs(&self, kind: &str, page: PageRequest) -> Result<Page<Document>> {
        let limit = page.limit.max(1);
        let after = page.cursor.unwrap_or_default();
        let pk = keys::doc_pk(kind);
        self.db
            .run("list documents", move |conn| {
                let mut items: Vec<Document> = query_bodies(
                    conn,
                    "SELECT sk, body FROM state WHERE pk = ?1 AND sk > ?2 ORDER BY sk LIMIT ?3",
                    &[&pk, &after, &((limit + 1) as i64)],
                )?;
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items.last().map(|d| d.id.clone())
                } else {
                    None
                };
                Ok(Page { items, next })
            })
            .await
    }
}

#[async_trait]
impl Checkpoints for SqliteState {
    async fn get_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        self.get_record("get checkpoint", keys::checkpoint_pk(name), keys::CHECKPOINT_SK.to_string()).await
    }

    async fn put_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        expected_revision: Option<u64>,
    ) -> Result<Checkpoint> {
        let mut record = checkpoint.clone();
        record.revision = expected_revision.map_or(1, |r| r + 1);
        let key = (keys::checkpoint_pk(&record.name), keys::CHECKPOINT_SK.to_string());
        self.put_record("put checkpoint", key, &record, expected_revision, &[]).await?;
        Ok(record)
    }
}
