//! DynamoDB adapter: titles, links and checkpoints in the state table, the audit trail in the
//! audit table, idempotency records (the Powertools shape) in the idempotency table.
//!
//! Records are stored with serde_dynamo, plus the key attributes of [`crate::keys`] and a few
//! attributes that exist only for conditions and indexes (see the constants below).

use super::{AwsConfig, sdk_error};
use crate::keys::{
    ASSET_PK, ASSET_SK, BY_ASSET_INDEX, CHECKPOINT_SK, IDEMPOTENCY_KEY, LINK_SK_PREFIX, NO_TITLE_PK, PK, SK,
    TITLE_SK, TTL_ATTRIBUTE, asset_pk, checkpoint_pk, doc_pk, link_asset_sk, link_sk, title_pk,
};
use crate::{
    AuditLog, Checkpoints, Claim, ConflictReason, Document, Documents, Idempotency, IdempotencyTtl,
    MappingStore, Page, PageRequest, Result, StoreError,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use connector_core::{AssetId, AssetLink, AuditRecord, Checkpoint, Isbn13, LinkKey, TitleRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};

type Item = HashMap<String, AttributeValue>;

const BACKEND: &str = "dynamodb";

/// The optimistic-concurrency counter (the records' own `revision` field).
const REVISION: &str = "revision";
/// Copies of the link's approval as top-level attributes, for the monotonicity condition;
/// `approved_at_ms` is epoch milliseconds so it compares as a number.
const APPROVAL_ASSET_ID: &str = "approval_asset_id";
const APPROVAL_VERSION: &str = "approval_version";
const APPROVED_AT_MS: &str = "approved_at_ms";

/// Powertools idempotency record attributes (besides `id` and `expiration` from keys.rs).
const STATUS: &str = "status";
const IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
const DATA: &str = "data";
const VALIDATION: &str = "validation";
const INPROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";

/// TransactWriteItems takes at most 100 items: one mapping item and the audit records.
const MAX_AUDIT_PER_TRANSACTION: usize = 99;
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;

/// Mapping, audit, idempotency and checkpoints on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    state_table: String,
    audit_table: String,
    idempotency_table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_item<T: Serialize>(key: &str, value: &T) -> Result<Item> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), message: format!("cannot serialise: {e}") })
}

fn from_item<T: DeserializeOwned>(key: &str, item: Item) -> Result<T> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), message: e.to_string() })
}

fn number(item: &Item, attr: &str) -> Option<i64> {
    item.get(attr)?.as_n().ok()?.parse().ok()
}

fn string<'a>(item: &'a Item, attr: &str) -> Option<&'a str> {
    item.get(attr)?.as_s().ok().map(String::as_str)
}

fn build_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        backend: BACKEND,
        operation: "build request",
        message: format!("{what}: {e}"),
        transient: false,
    }
}

/// A conditional put of one mapping item.
struct ConditionalPut {
    table: String,
    /// `table pk/sk`, for errors.
    key: String,
    item: Item,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl ConditionalPut {
    /// `expected_revision` None: the item must not exist; otherwise its revision must match.
    fn new(table: &str, key: String, item: Item, expected_revision: Option<u64>) -> Self {
        let mut put = ConditionalPut {
            table: table.to_string(),
            key,
            item,
            condition: String::new(),
            names: HashMap::new(),
            values: HashMap::new(),
        };
        match expected_revision {
            None => {
                put.condition = "attribute_not_exists(#pk)".into();
                put.names.insert("#pk".into(), PK.into());
            }
            Some(rev) => {
                put.condition = "#rev = :expected_rev".into();
                put.names.insert("#rev".into(), REVISION.into());
                put.values.insert(":expected_rev".into(), n(rev));
            }
        }
        put
    }
}

/// Why a revision-conditioned write was refused, from the item as it was (`ALL_OLD`).
fn revision_conflict(expected: Option<u64>, old: Option<&Item>) -> ConflictReason {
    match (expected, old) {
        (None, Some(_)) => ConflictReason::AlreadyExists,
        (expected, old) => ConflictReason::RevisionChanged {
            expected,
            found: old.and_then(|item| number(item, REVISION)).and_then(|r| u64::try_from(r).ok()),
        },
    }
}

fn new_revision(expected: Option<u64>) -> u64 {
    expected.map_or(1, |r| r + 1)
}

impl DynamoStore {
    pub fn new(client: Client, cfg: &AwsConfig) -> Self {
        DynamoStore {
            client,
            state_table: cfg.state_table.clone(),
            audit_table: cfg.audit_table.clone(),
            idempotency_table: cfg.idempotency_table.clone(),
        }
    }

    fn state_key(&self, pk: &str, sk: &str) -> String {
        format!("{} {pk}/{sk}", self.state_table)
    }

    /// Audit records as create-only puts: `pk` is the title (or `TITLE#NONE`), `sk` the
    /// ULID id (so a partition reads in time order), `asset_pk` feeds the `by_asset` index.
    fn audit_puts(&self, records: &[AuditRecord]) -> Result<Vec<TransactWriteItem>> {
        let mut puts = Vec::with_capacity(records.len());
        for record in records {
            let key = format!("{} audit {}", self.audit_table, record.id);
            let mut item = to_item(&key, record)?;
            let pk = record.isbn.as_ref().map_or_else(|| NO_TITLE_PK.to_string(), title_pk);
            item.insert(PK.into(), s(pk));
            item.insert(SK.into(), s(record.id.0.clone()));
            if let Some(asset) = &record.asset_id {
                item.insert(ASSET_PK.into(), s(asset_pk(asset)));
            }
            let put = Put::builder()
                .table_name(&self.audit_table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build()
                .map_err(|e| build_error(&key, e))?;
            puts.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(puts)
    }

    /// Writes `put` and appends `audit` in one transaction (a plain conditional PutItem when
    /// there is no audit). `Ok(Err(old))`: the mapping item's condition failed; `old` is the
    /// item as it was (None: absent).
    /// Conditionally writes a whole record at `pk`/`sk` (create-only or at the expected revision)
    /// with its audit records; a refused write is a conflict naming the key.
    async fn put_record<T: Serialize>(
        &self,
        pk: String,
        sk: &str,
        record: &T,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<()> {
        let key = self.state_key(&pk, sk);
        let mut item = to_item(&key, record)?;
        item.insert(PK.into(), s(pk));
        item.insert(SK.into(), s(sk));
        let put = ConditionalPut::new(&self.state_table, key.clone(), item, expected_revision);
        match self.put_with_audit(put, audit).await? {
            Ok(()) => Ok(()),
            Err(old) => {
                Err(StoreError::Conflict { key, reason: revision_conflict(expected_revision, old.as_ref()) })
            }
        }
    }

    async fn put_with_audit(
        &self,
        put: ConditionalPut,
        audit: &[AuditRecord],
    ) -> Result<std::result::Result<(), Option<Item>>> {
        if audit.is_empty() {
            let result = self
                .client
                .put_item()
                .table_name(&put.table)
                .set_item(Some(put.item))
                .condition_expression(put.condition)
                .set_expression_attribute_names(Some(put.names))
                .set_expression_attribute_values((!put.values.is_empty()).then_some(put.values))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(Ok(())),
                Err(err) => match err.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(e)) => Ok(Err(e.item().cloned())),
                    _ => Err(sdk_error(BACKEND, "PutItem", &put.key, err)),
                },
            };
        }
        if audit.len() > MAX_AUDIT_PER_TRANSACTION {
            return Err(StoreError::Backend {
                backend: BACKEND,
                operation: "TransactWriteItems",
                message: format!(
                    "{}: {} audit records in one write; at most {MAX_AUDIT_PER_TRANSACTION} fit one transaction",
                    put.key,
                    audit.len()
                ),
                transient: false,
            });
        }
        let main = Put::builder()
            .table_name(&put.table)
            .set_item(Some(put.item))
            .condition_expression(put.condition)
            .set_expression_attribute_names(Some(put.names))
            .set_expression_attribute_values((!put.values.is_empty()).then_some(put.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| build_error(&put.key, e))?;
        let mut items = vec![TransactWriteItem::builder().put(main).build()];
        items.extend(self.audit_puts(audit)?);
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error()
                {
                    let reasons = e.cancellation_reasons();
                    if let Some(first) = reasons.first()
                        && first.code() == Some("ConditionalCheckFailed")
                    {
                        return Ok(Err(first.item().cloned()));
                    }
                    // Items 1.. are the audit records.
                    if let Some(i) =
                        reasons.iter().skip(1).position(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        let id = audit.get(i).map(|r| r.id.to_string()).unwrap_or_default();
                        return Err(StoreError::Conflict {
                            key: format!("{} audit {id}", self.audit_table),
                            reason: ConflictReason::AlreadyExists,
                        });
                    }
                    let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
                    let transient = codes.iter().any(|c| {
                        matches!(
                            *c,
                            "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                        )
                    });
                    return Err(StoreError::Backend {
                        backend: BACKEND,
                        operation: "TransactWriteItems",
                        message: format!(
                            "{} with {} audit records: cancelled, reasons {codes:?}",
                            put.key,
                            audit.len()
                        ),
                        transient,
                    });
                }
                Err(sdk_error(BACKEND, "TransactWriteItems", &put.key, err))
            }
        }
    }

    async fn get_state(&self, pk: String, sk: &str) -> Result<Option<Item>> {
        let key = self.state_key(&pk, sk);
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "GetItem", &key, e))?;
        Ok(out.item)
    }

    /// Every item of a query (following LastEvaluatedKey), as records.
    async fn query_all<T: DeserializeOwned>(
        &self,
        what: &str,
        index: Option<&str>,
        condition: &str,
        names: HashMap<String, String>,
        values: HashMap<String, AttributeValue>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.state_table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                // Only the base table can read consistently; GSIs are eventually consistent.
                .set_consistent_read(index.is_none().then_some(true))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, "Query", what, e))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item(what, item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }

    /// Newest-first page of audit records in one partition of the table or of `by_asset`.
    async fn audit_page(
        &self,
        index: Option<&str>,
        partition_attr: &str,
        partition: String,
        page: PageRequest,
    ) -> Result<Page<AuditRecord>> {
        // Audit ids are ULIDs: sort key descending is newest first.
        self.query_page(&self.audit_table, index, partition_attr, partition, false, page).await
    }

    /// One page of a partition, in sort-key order (`forward`) or reverse.
    async fn query_page<T: DeserializeOwned>(
        &self,
        table: &str,
        index: Option<&str>,
        partition_attr: &str,
        partition: String,
        forward: bool,
        page: PageRequest,
    ) -> Result<Page<T>> {
        let what = format!("{table} {partition_attr}={partition}");
        let limit = page_limit(page.limit);
        let mut start = match &page.cursor {
            None => None,
            Some(cursor) => Some(decode_cursor(cursor, Some((partition_attr, &partition)))?),
        };
        // One item more than asked tells whether there is a next page, so the last page
        // carries no cursor.
        let want = limit + 1;
        let mut items: Vec<Item> = Vec::with_capacity(want);
        loop {
            let out = self
                .client
                .query()
                .table_name(table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", partition_attr)
                .expression_attribute_values(":p", s(partition.clone()))
                .scan_index_forward(forward)
                .limit(i32::try_from(want - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, "Query", &what, e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && items.len() < want => start = Some(key),
                _ => break,
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| encode_cursor(last, Some(partition_attr)))
        } else {
            None
        };
        let records = items.into_iter().map(|item| from_item(&what, item)).collect::<Result<Vec<_>>>()?;
        Ok(Page { items: records, next })
    }
}

fn page_limit(asked: usize) -> usize {
    match asked {
        0 => DEFAULT_PAGE,
        l => l.min(MAX_PAGE),
    }
}

/// A cursor is the last returned item's key (table key plus the index's partition key when
/// paging an index), as base64 JSON: opaque to callers, an ExclusiveStartKey to DynamoDB.
fn encode_cursor(item: &Item, index_attr: Option<&str>) -> String {
    let mut key = BTreeMap::new();
    for attr in [Some(PK), Some(SK), index_attr].into_iter().flatten() {
        if let Some(v) = string(item, attr) {
            key.insert(attr.to_string(), v.to_string());
        }
    }
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key).unwrap_or_default())
}

/// `partition`: the attribute and value the cursor must belong to (a cursor from another
/// query is refused rather than silently skipping items).
fn decode_cursor(cursor: &str, partition: Option<(&str, &str)>) -> Result<Item> {
    let bad = |message: String| StoreError::Corrupt { key: format!("page cursor {cursor:?}"), message };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|e| bad(format!("not base64: {e}")))?;
    let key: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a key: {e}")))?;
    if !key.contains_key(PK) || !key.contains_key(SK) {
        return Err(bad(format!("it lacks {PK} or {SK}")));
    }
    if let Some((attr, value)) = partition
        && key.get(attr).map(String::as_str) != Some(value)
    {
        return Err(bad(format!("it belongs to another query than {attr}={value}")));
    }
    Ok(key.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[async_trait]
impl MappingStore for DynamoStore {
    async fn get_title(&self, isbn: &Isbn13) -> Result<Option<TitleRecord>> {
        let pk = title_pk(isbn);
        let key = self.state_key(&pk, TITLE_SK);
        self.get_state(pk, TITLE_SK).await?.map(|item| from_item(&key, item)).transpose()
    }

    async fn put_title(
        &self,
        title: &TitleRecord,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<TitleRecord> {
        let mut record = title.clone();
        record.revision = new_revision(expected_revision);
        self.put_record(title_pk(&record.isbn), TITLE_SK, &record, expected_revision, audit).await?;
        Ok(record)
    }

    async fn list_titles(&self, page: PageRequest) -> Result<Page<TitleRecord>> {
        let what = format!("{} titles ({SK}={TITLE_SK})", self.state_table);
        let limit = page_limit(page.limit);
        let mut start = match &page.cursor {
            None => None,
            Some(cursor) => Some(decode_cursor(cursor, None)?),
        };
        // A scan filtered on the title sort key: pages may come back short, so keep going
        // until one item more than asked (which says whether there is a next page).
        let want = limit + 1;
        let mut items: Vec<Item> = Vec::with_capacity(want);
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.state_table)
                .filter_expression("#sk = :title")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":title", s(TITLE_SK))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, "Scan", &what, e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && items.len() < want => start = Some(key),
                _ => break,
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| encode_cursor(last, None))
        } else {
            None
        };
        let titles = items.into_iter().map(|item| from_item(&what, item)).collect::<Result<Vec<_>>>()?;
        Ok(Page { items: titles, next })
    }

    async fn get_link(&self, key: &LinkKey) -> Result<Option<AssetLink>> {
        let pk = title_pk(&key.isbn);
        let sk = link_sk(key);
        let what = self.state_key(&pk, &sk);
        self.get_state(pk, &sk).await?.map(|item| from_item(&what, item)).transpose()
    }

    async fn links_for_title(&self, isbn: &Isbn13) -> Result<Vec<AssetLink>> {
        let pk = title_pk(isbn);
        self.query_all(
            &format!("{} {PK}={pk} links", self.state_table),
            None,
            "#pk = :pk AND begins_with(#sk, :prefix)",
            HashMap::from([("#pk".into(), PK.into()), ("#sk".into(), SK.into())]),
            HashMap::from([(":pk".into(), s(pk)), (":prefix".into(), s(LINK_SK_PREFIX))]),
        )
        .await
    }

    async fn links_for_asset(&self, asset_id: &AssetId) -> Result<Vec<AssetLink>> {
        let apk = asset_pk(asset_id);
        self.query_all(
            &format!("{} {BY_ASSET_INDEX} {ASSET_PK}={apk}", self.state_table),
            Some(BY_ASSET_INDEX),
            "#ap = :ap",
            HashMap::from([("#ap".into(), ASSET_PK.into())]),
            HashMap::from([(":ap".into(), s(apk))]),
        )
        .await
    }

    async fn put_link(
        &self,
        link: &AssetLink,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<AssetLink> {
        let mut record = link.clone();
        record.revision = new_revision(expected_revision);
        let pk = title_pk(&record.key.isbn);
        let sk = link_sk(&record.key);
        let key = self.state_key(&pk, &sk);
        let approval = &record.approval;
        let approved_at_ms = approval.approved_at.timestamp_millis();
        let mut item = to_item(&key, &record)?;
        item.insert(PK.into(), s(pk));
        item.insert(SK.into(), s(sk));
        item.insert(ASSET_PK.into(), s(asset_pk(&approval.asset_id)));
        item.insert(ASSET_SK.into(), s(link_asset_sk(&record.key)));
        item.insert(APPROVAL_ASSET_ID.into(), s(approval.asset_id.as_str()));
        item.insert(APPROVAL_VERSION.into(), n(approval.version));
        item.insert(APPROVED_AT_MS.into(), n(approved_at_ms));
        let mut put = ConditionalPut::new(&self.state_table, key.clone(), item, expected_revision);
        if expected_revision.is_some() {
            // Versions are monotonic (connector_core::supersedes): the same asset may not go
            // back to an older version, another asset may not replace a later approval.
            put.condition.push_str(
                " AND ((#aa = :asset AND #av <= :version) OR (#aa <> :asset AND #at <= :approved_at))",
            );
            put.names.extend([
                ("#aa".to_string(), APPROVAL_ASSET_ID.to_string()),
                ("#av".to_string(), APPROVAL_VERSION.to_string()),
                ("#at".to_string(), APPROVED_AT_MS.to_string()),
            ]);
            put.values.extend([
                (":asset".to_string(), s(approval.asset_id.as_str())),
                (":version".to_string(), n(approval.version)),
                (":approved_at".to_string(), n(approved_at_ms)),
            ]);
        }
        let incoming_version = approval.version;
        match self.put_with_audit(put, audit).await? {
            Ok(()) => Ok(record),
            Err(old) => {
                let mut reason = revision_conflict(expected_revision, old.as_ref());
                if let (Some(expected), Some(old)) = (expected_revision, &old)
                    && number(old, REVISION) == i64::try_from(expected).ok()
                {
                    // The revision matched, so the approval check refused it.
                    let stored_version =
                        number(old, APPROVAL_VERSION).and_then(|v| u32::try_from(v).ok()).unwrap_or_default();
                    reason = ConflictReason::StaleVersion { stored_version, incoming_version };
                }
                Err(StoreError::Conflict { key, reason })
            }
        }
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn append(&self, records: &[AuditRecord]) -> Result<()> {
        // All-or-nothing per transaction; longer batches are split (100 records per call).
        for chunk in records.chunks(MAX_AUDIT_PER_TRANSACTION + 1) {
            let items = self.audit_puts(chunk)?;
            let first = chunk.first().map(|r| r.id.to_string()).unwrap_or_default();
            let what =
                format!("{} audit {first} (+{} more)", self.audit_table, chunk.len().saturating_sub(1));
            if let Err(err) = self.client.transact_write_items().set_transact_items(Some(items)).send().await
            {
                if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error()
                    && let Some(i) = e
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"))
                {
                    let id = chunk.get(i).map(|r| r.id.to_string()).unwrap_or_default();
                    return Err(StoreError::Conflict {
                        key: format!("{} audit {id}", self.audit_table),
                        reason: ConflictReason::AlreadyExists,
                    });
                }
                return Err(sdk_error(BACKEND, "TransactWriteItems", &what, err));
            }
        }
        Ok(())
    }

    async fn by_title(&self, isbn: &Isbn13, page: PageRequest) -> Result<Page<AuditRecord>> {
        self.audit_page(None, PK, title_pk(isbn), page).await
    }

    async fn by_asset(&self, asset_id: &AssetId, page: PageRequest) -> Result<Page<AuditRecord>> {
        self.audit_page(Some(BY_ASSET_INDEX), ASSET_PK, asset_pk(asset_id), page).await
    }
}

#[async_trait]
impl Documents for DynamoStore {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Document>> {
        let pk = doc_pk(kind);
        let key = self.state_key(&pk, id);
        self.get_state(pk, id).await?.map(|item| from_item(&key, item)).transpose()
    }

    async fn put_doc(
        &self,
        doc: &Document,
        expected_revision: Option<u64>,
        audit: &[AuditRecord],
    ) -> Result<Document> {
        let mut record = doc.clone();
        record.revision = new_revision(expected_revision);
        self.put_record(doc_pk(&record.kind), &record.id, &record, expected_revision, audit).await?;
        Ok(record)
    }

    async fn list_docs(&self, kind: &str, page: PageRequest) -> Result<Page<Document>> {
        self.query_page(&self.state_table, None, PK, doc_pk(kind), true, page).await
    }
}

#[async_trait]
impl Checkpoints for DynamoStore {
    async fn get_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        let pk = checkpoint_pk(name);
        let key = self.state_key(&pk, CHECKPOINT_SK);
        self.get_state(pk, CHECKPOINT_SK).await?.map(|item| from_item(&key, item)).transpose()
    }

    async fn put_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        expected_revision: Option<u64>,
    ) -> Result<Checkpoint> {
        let mut record = checkpoint.clone();
        record.revision = new_revision(expected_revision);
        self.put_record(checkpoint_pk(&record.name), CHECKPOINT_SK, &record, expected_revision, &[]).await?;
        Ok(record)
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Epoch milliseconds to the TTL attribute's epoch seconds, rounding up.
fn ceil_seconds(ms: i64) -> i64 {
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)
}

#[async_trait]
impl Idempotency for DynamoStore {
    async fn claim(
        &self,
        key: &str,
        payload_hash: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<Claim> {
        let what = format!("{} {IDEMPOTENCY_KEY}={key}", self.idempotency_table);
        let now_s = now.timestamp();
        let now_ms = now.timestamp_millis();
        let in_progress_until_ms = now_ms.saturating_add(millis(ttl.in_progress));
        // The TTL must not remove an INPROGRESS record before its in-progress window ends.
        let keep_ms = millis(ttl.completed.max(ttl.in_progress));
        let expiration = ceil_seconds(now_ms.saturating_add(keep_ms));
        let mut item = HashMap::from([
            (IDEMPOTENCY_KEY.to_string(), s(key)),
            (STATUS.to_string(), s(INPROGRESS)),
            (TTL_ATTRIBUTE.to_string(), n(expiration)),
            (IN_PROGRESS_EXPIRATION.to_string(), n(in_progress_until_ms)),
        ]);
        if let Some(hash) = payload_hash {
            item.insert(VALIDATION.into(), s(hash));
        }
        // Expired records count as absent: TTL deletion is lazy (and never happens on moto).
        let result = self
            .client
            .put_item()
            .table_name(&self.idempotency_table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#id) OR #exp < :now OR (#status = :inprogress AND #ipe < :now_ms)",
            )
            .expression_attribute_names("#id", IDEMPOTENCY_KEY)
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#ipe", IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":now", n(now_s))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":inprogress", s(INPROGRESS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(_) => return Ok(Claim::Acquired),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => e.item().cloned(),
                _ => return Err(sdk_error(BACKEND, "PutItem", &what, err)),
            },
        };
        let Some(old) = old else {
            // The condition can only fail on an existing item; a service that did not return
            // it is answered as "busy" so the caller retries rather than running twice.
            return Ok(Claim::InProgress { until: now });
        };
        if let (Some(stored), Some(incoming)) = (string(&old, VALIDATION), payload_hash)
            && stored != incoming
        {
            return Err(StoreError::PayloadMismatch { key: key.to_string() });
        }
        match string(&old, STATUS) {
            Some(COMPLETED) => Ok(Claim::Completed { data: string(&old, DATA).map(str::to_string) }),
            Some(INPROGRESS) => {
                let until = number(&old, IN_PROGRESS_EXPIRATION)
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or(now);
                Ok(Claim::InProgress { until })
            }
            other => Err(StoreError::Corrupt {
                key: what,
                message: format!("status is {other:?}, expected {INPROGRESS} or {COMPLETED}"),
            }),
        }
    }

    async fn complete(
        &self,
        key: &str,
        data: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<()> {
        let what = format!("{} {IDEMPOTENCY_KEY}={key}", self.idempotency_table);
        let expiration = ceil_seconds(now.timestamp_millis().saturating_add(millis(ttl.completed)));
        let mut update = "SET #status = :completed, #exp = :exp".to_string();
        let mut remove = vec!["#ipe"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.idempotency_table)
            .key(IDEMPOTENCY_KEY, s(key))
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_names("#ipe", IN_PROGRESS_EXPIRATION)
            .expression_attribute_names("#data", DATA)
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":exp", n(expiration));
        match data {
            Some(data) => {
                update.push_str(", #data = :data");
                request = request.expression_attribute_values(":data", s(data));
            }
            None => remove.push("#data"),
        }
        update.push_str(" REMOVE ");
        update.push_str(&remove.join(", "));
        request
            .update_expression(update)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "UpdateItem", &what, e))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<()> {
        let what = format!("{} {IDEMPOTENCY_KEY}={key}", self.idempotency_table);
        self.client
            .delete_item()
            .table_name(&self.idempotency_table)
            .key(IDEMPOTENCY_KEY, s(key))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "DeleteItem", &what, e))?;
        Ok(())
    }
}
