//! `MappingStore` on DynamoDB: titles and links, each write conditional on its revision and
//! carrying its audit records in the same transaction.

use super::*;

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
