//! `AuditLog`, `Documents` and `Checkpoints` on DynamoDB.

use super::*;

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

    async fn untitled(&self, page: PageRequest) -> Result<Page<AuditRecord>> {
        self.audit_page(None, PK, NO_TITLE_PK.to_string(), page).await
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
