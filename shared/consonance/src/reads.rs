//! Reads: the tenant's schema, works, products, contracts, schedules, production runs and
//! supporting resources (GraphQL, keyset pages), and the REST v4 products.

use super::decode::{decode, retry_after_of, snippet};
use super::*;

impl ConsonanceClient {
    // ----------------------------------------------------------------------------------------
    // The tenant's schema

    /// Reads the tenant's schema (introspection) and builds the documents for it. No caching.
    pub async fn introspect(&self) -> Result<TenantSchema, ConsonanceError> {
        const OP: &str = "introspect";
        let data = self.graphql(OP, tenant::INTROSPECTION_QUERY, json!({}), Retry::Idempotent).await?;
        TenantSchema::from_introspection(&data)
            .map_err(|e| ConsonanceError::Protocol { operation: OP, message: e.to_string() })
    }

    /// The tenant as this process knows it: introspected on the first call, then cached (for
    /// every clone). A transient failure is not cached: the baseline serves this call and the
    /// next one asks again; a refusal (introspection disabled) is, as the baseline.
    pub async fn tenant(&self) -> Arc<Tenant> {
        if let Some(t) = self.tenant.get() {
            return t.clone();
        }
        let result = self
            .tenant
            .get_or_try_init(|| async {
                match self.introspect().await {
                    Ok(schema) => {
                        let documents = Documents::build(Some(&schema));
                        for note in &documents.caps.notes {
                            tracing::info!(note, "consonance schema: adapted");
                        }
                        Ok(Arc::new(Tenant { schema: Some(schema), documents, introspection_error: None }))
                    }
                    Err(e) if e.is_transient() => Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "consonance introspection refused: using the baseline documents");
                        Ok(Arc::new(Tenant {
                            schema: None,
                            documents: Documents::build(None),
                            introspection_error: Some(e.to_string()),
                        }))
                    }
                }
            })
            .await;
        match result {
            Ok(t) => t.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "consonance introspection failed for now: baseline documents for this call");
                Arc::new(Tenant {
                    schema: None,
                    documents: Documents::build(None),
                    introspection_error: Some(e.to_string()),
                })
            }
        }
    }

    pub(super) async fn docs(&self) -> Arc<Tenant> {
        self.tenant().await
    }

    // ----------------------------------------------------------------------------------------
    // Reads

    /// A work with its products (and their rights, web links and supporting resources).
    pub async fn work(&self, id: WorkId) -> Result<Work, ConsonanceError> {
        const OP: &str = "work";
        let t = self.docs().await;
        let mut data = self.graphql(OP, &t.documents.work, json!({"id": id.0}), Retry::Idempotent).await?;
        Self::field(OP, &mut data, "work")?
            .ok_or_else(|| ConsonanceError::NotFound { operation: OP, what: format!("work {id}") })
    }

    /// One page of works changed on or after `since`, with ids greater than `after`. An empty
    /// page means there are no more. "Likely to have changed, not a guarantee" (schema page).
    pub async fn works_changed_since(
        &self,
        since: NaiveDate,
        after: Option<i64>,
    ) -> Result<Vec<Work>, ConsonanceError> {
        const OP: &str = "works_changed_since";
        let t = self.docs().await;
        let vars = json!({"since": since.format("%Y-%m-%d").to_string(), "after": after});
        let mut data = self.graphql(OP, &t.documents.works_changed_since, vars, Retry::Idempotent).await?;
        Ok(Self::field(OP, &mut data, "works")?.unwrap_or_default())
    }

    /// Every work changed since `since`, walking pages until an empty one.
    pub async fn all_works_changed_since(&self, since: NaiveDate) -> Result<Vec<Work>, ConsonanceError> {
        walk_pages("works_changed_since", |after| self.works_changed_since(since, after), |w: &Work| w.id.0)
            .await
    }

    pub async fn product_by_isbn(&self, isbn: &Isbn13) -> Result<Product, ConsonanceError> {
        const OP: &str = "product_by_isbn";
        let t = self.docs().await;
        let mut data = self
            .graphql(OP, &t.documents.product_by_isbn, json!({"isbn": isbn.as_str()}), Retry::Idempotent)
            .await?;
        Self::field(OP, &mut data, "product")?.ok_or_else(|| ConsonanceError::NotFound {
            operation: OP,
            what: format!("product with ISBN {isbn}"),
        })
    }

    /// The work of the product with this ISBN, with every product of it and the work's schedule
    /// (stage, contract, production runs: what [`Self::work_schedule`] reads), in one query
    /// (`Product.work` is a `Work` in the published schema). `Ok((product_id, None))` when the
    /// product names no work.
    pub async fn work_by_isbn(
        &self,
        isbn: &Isbn13,
    ) -> Result<(i64, Option<(Work, WorkSchedule)>), ConsonanceError> {
        const OP: &str = "work_by_isbn";
        #[derive(Deserialize)]
        struct P {
            id: i64,
            #[serde(default)]
            work: Option<serde_json::Value>,
        }
        let t = self.docs().await;
        let mut data = self
            .graphql(OP, &t.documents.work_by_isbn, json!({"isbn": isbn.as_str()}), Retry::Idempotent)
            .await?;
        let p: P = Self::field(OP, &mut data, "product")?.ok_or_else(|| ConsonanceError::NotFound {
            operation: OP,
            what: format!("product with ISBN {isbn}"),
        })?;
        let Some(work) = p.work.filter(|w| !w.is_null()) else { return Ok((p.id, None)) };
        // One object, read as both shapes: the work's fields and its schedule's.
        let invalid = |e: serde_json::Error| ConsonanceError::Protocol {
            operation: OP,
            message: format!("product {} (ISBN {isbn}): its work: {e}", p.id),
        };
        let mut schedule: WorkSchedule = serde_json::from_value(work.clone()).map_err(invalid)?;
        if !t.documents.caps.work_contract {
            schedule.contract_unavailable = Some(CONTRACT_UNAVAILABLE.into());
        }
        Ok((p.id, Some((serde_json::from_value(work).map_err(invalid)?, schedule))))
    }

    /// One page of products changed on or after `since` (their work changed, so "likely").
    pub async fn products_changed_since(
        &self,
        since: NaiveDate,
        after: Option<i64>,
    ) -> Result<Vec<Product>, ConsonanceError> {
        const OP: &str = "products_changed_since";
        let t = self.docs().await;
        let vars = json!({"since": since.format("%Y-%m-%d").to_string(), "after": after});
        let mut data = self.graphql(OP, &t.documents.products_changed_since, vars, Retry::Idempotent).await?;
        Ok(Self::field(OP, &mut data, "products")?.unwrap_or_default())
    }

    pub async fn all_products_changed_since(
        &self,
        since: NaiveDate,
    ) -> Result<Vec<Product>, ConsonanceError> {
        walk_pages(
            "products_changed_since",
            |after| self.products_changed_since(since, after),
            |p: &Product| p.id.0,
        )
        .await
    }

    pub async fn products_of_work(&self, work_id: WorkId) -> Result<Vec<Product>, ConsonanceError> {
        const OP: &str = "products_of_work";
        #[derive(Deserialize)]
        struct W {
            #[serde(default)]
            products: Option<Vec<Product>>,
        }
        let t = self.docs().await;
        let mut data = self
            .graphql(OP, &t.documents.products_of_work, json!({"id": work_id.0}), Retry::Idempotent)
            .await?;
        let w: W = Self::field(OP, &mut data, "work")?
            .ok_or_else(|| ConsonanceError::NotFound { operation: OP, what: format!("work {work_id}") })?;
        Ok(w.products.unwrap_or_default())
    }

    pub async fn contract(&self, id: i64) -> Result<Contract, ConsonanceError> {
        const OP: &str = "contract";
        let t = self.docs().await;
        let mut data = self.graphql(OP, &t.documents.contract, json!({"id": id}), Retry::Idempotent).await?;
        Self::field(OP, &mut data, "contract")?
            .ok_or_else(|| ConsonanceError::NotFound { operation: OP, what: format!("contract {id}") })
    }

    /// The work's contract, `None` when it has none. Needs `Work.contract` (no public source
    /// shows it): [`ConsonanceError::Unsupported`] on a tenant without it.
    pub async fn contract_of_work(&self, work_id: WorkId) -> Result<Option<Contract>, ConsonanceError> {
        const OP: &str = "contract_of_work";
        #[derive(Deserialize)]
        struct W {
            #[serde(default)]
            contract: Option<Contract>,
        }
        let t = self.docs().await;
        let Some(doc) = &t.documents.contract_of_work else {
            return Err(ConsonanceError::Unsupported {
                operation: OP,
                what: "the tenant's schema has no Work.contract (no path from a work to its contract)".into(),
            });
        };
        let mut data = self.graphql(OP, doc, json!({"id": work_id.0}), Retry::Idempotent).await?;
        let w: W = Self::field(OP, &mut data, "work")?
            .ok_or_else(|| ConsonanceError::NotFound { operation: OP, what: format!("work {work_id}") })?;
        Ok(w.contract)
    }

    /// The work's stage, contract and production runs in one query (launch readiness). On a
    /// tenant without `Work.contract` the contract is `None` and `contract_unavailable` says why.
    pub async fn work_schedule(&self, work_id: WorkId) -> Result<WorkSchedule, ConsonanceError> {
        const OP: &str = "work_schedule";
        let t = self.docs().await;
        let mut data =
            self.graphql(OP, &t.documents.work_schedule, json!({"id": work_id.0}), Retry::Idempotent).await?;
        let mut w: WorkSchedule = Self::field(OP, &mut data, "work")?
            .ok_or_else(|| ConsonanceError::NotFound { operation: OP, what: format!("work {work_id}") })?;
        if !t.documents.caps.work_contract {
            w.contract_unavailable = Some(CONTRACT_UNAVAILABLE.into());
        }
        Ok(w)
    }

    pub async fn production_runs_of_work(
        &self,
        work_id: WorkId,
    ) -> Result<Vec<ProductionRun>, ConsonanceError> {
        const OP: &str = "production_runs_of_work";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct W {
            #[serde(default)]
            production_runs: Option<Vec<ProductionRun>>,
        }
        let t = self.docs().await;
        let mut data = self
            .graphql(OP, &t.documents.production_runs_of_work, json!({"id": work_id.0}), Retry::Idempotent)
            .await?;
        let w: W = Self::field(OP, &mut data, "work")?
            .ok_or_else(|| ConsonanceError::NotFound { operation: OP, what: format!("work {work_id}") })?;
        Ok(w.production_runs.unwrap_or_default())
    }

    pub async fn supporting_resources_of_work(
        &self,
        work_id: WorkId,
    ) -> Result<Vec<SupportingResource>, ConsonanceError> {
        const OP: &str = "supporting_resources_of_work";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct W {
            #[serde(default)]
            supporting_resources: Option<Vec<SupportingResource>>,
        }
        let t = self.docs().await;
        let mut data = self
            .graphql(
                OP,
                &t.documents.supporting_resources_of_work,
                json!({"id": work_id.0}),
                Retry::Idempotent,
            )
            .await?;
        let w: W = Self::field(OP, &mut data, "work")?
            .ok_or_else(|| ConsonanceError::NotFound { operation: OP, what: format!("work {work_id}") })?;
        Ok(w.supporting_resources.unwrap_or_default())
    }

    /// The supporting resources and products' web links of each of `works`, in one query
    /// ([`crate::documents::Documents::resources_of_works`]), in the order asked. `None` for a
    /// work Consonance answers null (no such work). Any GraphQL error fails the whole query:
    /// the caller asks one work at a time then, for each work's own answer.
    pub async fn resources_of_works(
        &self,
        works: &[WorkId],
    ) -> Result<Vec<Option<WorkResources>>, ConsonanceError> {
        const OP: &str = "resources_of_works";
        if works.is_empty() {
            return Ok(Vec::new());
        }
        let t = self.docs().await;
        let variables: serde_json::Map<String, serde_json::Value> =
            works.iter().enumerate().map(|(i, w)| (format!("w{i}"), json!(w.0))).collect();
        let mut data = self
            .graphql(
                OP,
                &t.documents.resources_of_works(works.len()),
                serde_json::Value::Object(variables),
                Retry::Idempotent,
            )
            .await?;
        (0..works.len()).map(|i| Self::field(OP, &mut data, &format!("w{i}"))).collect()
    }

    // ----------------------------------------------------------------------------------------
    // REST v4 (read-only, "no longer under development")

    /// One page (1-based) of `GET /api/v4/products.json`.
    pub async fn rest_products(&self, page: u32) -> Result<RestProductsPage, ConsonanceError> {
        const OP: &str = "rest_products";
        let page = page.max(1).to_string();
        let auth = format!("Token token={}", self.api_key);
        let resp = self
            .http
            .send(OP, Retry::Idempotent, |c| {
                c.get(&self.rest_products_url)
                    .query(&[("page", page.as_str())])
                    .header(reqwest::header::AUTHORIZATION, &auth)
            })
            .await?;
        let status = resp.status().as_u16();
        let retry_after = retry_after_of(&resp);
        let bytes = self.read_body(OP, resp).await?;
        if !(200..300).contains(&status) {
            return Err(map_status(OP, status, retry_after, &bytes));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| ConsonanceError::Unreadable {
            operation: OP,
            status: None,
            message: format!("response is not JSON ({e}); body starts {:?}", snippet(&bytes)),
        })?;
        decode(OP, "products page", value)
    }

    /// Every REST v4 product, page 1 to `total_pages`.
    pub async fn all_rest_products(&self) -> Result<Vec<RestProduct>, ConsonanceError> {
        let first = self.rest_products(1).await?;
        let total = first.total_pages;
        let mut out = first.products;
        for page in 2..=total {
            out.extend(self.rest_products(page).await?.products);
        }
        Ok(out)
    }
}

/// Walks keyset pages: `fetch(after)` until an empty page; fails if a page does not move past
/// the previous one (a server ignoring `after` would otherwise loop forever).
pub(super) async fn walk_pages<T, F, Fut>(
    operation: &'static str,
    fetch: F,
    id: fn(&T) -> i64,
) -> Result<Vec<T>, ConsonanceError>
where
    F: Fn(Option<i64>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ConsonanceError>>,
{
    let mut out = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let page = fetch(after).await?;
        let Some(last) = page.iter().map(id).max() else { return Ok(out) };
        if let Some(prev) = after
            && last <= prev
        {
            return Err(ConsonanceError::Protocol {
                operation,
                message: format!("keyset paging did not advance: after={prev} returned ids up to {last}"),
            });
        }
        after = Some(last);
        out.extend(page);
    }
}

/// Why a schedule has no contract dates on a tenant without `Work.contract`.
const CONTRACT_UNAVAILABLE: &str =
    "contract dates unknown: Consonance's schema has no Work.contract (only Contract.work)";
