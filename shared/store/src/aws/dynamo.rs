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

mod idempotency;
mod mapping;
mod records;

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
