//! A dry run of the system ports (`connector plan`): [`DryRunDam`] and [`DryRunPms`] wrap the
//! real [`Dam`] / [`Pms`]. Every read goes to the real system; every write is recorded as a
//! [`PlannedWrite`] and answered with a plausible made-up result (a resource id `planned-<n>`,
//! a request folder `planned-<n>`), so the processor carries on exactly as it would, through
//! the same decisions (rights, readiness, requests, packages), and the real systems see
//! nothing but reads.
//!
//! What is made up is remembered, so a later look-up in the same run finds it: a request
//! "raised" here is found by [`Dam::find_request`], and a resource "created" here is found
//! again by its dedupe marker (one planned create per marker, as the real `ensure_*` look
//! before they create).
//!
//! Limits (a real run may differ where the answer is only known by writing): a resource or
//! web link an earlier, unrecorded attempt already made (a crash between the write and its
//! idempotency record) is reported as a create, where the real `ensure_*` would find it; the count `delete_resources_marked` would
//! remove is not known (answered 0), nor the leftovers a create's `unlinkPrevious` sweep
//! removes.

use crate::systems::{
    Dam, EnsuredResource, NewRequest, Pms, ResourceRequest, SystemError, TitleRead, WebLinkRequest,
    WorkChange,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use connector_core::config::{FieldName, MappingConfig};
use connector_core::plan::{AssetFacts, TitleFacts};
use connector_core::readiness::{ObservedAsset, ScheduleFacts};
use connector_core::requests::OtmmRequestRef;
use connector_core::{AssetId, Isbn13, ProductId, WorkId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One write a real run would have made, with what it would have written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum PlannedWrite {
    /// OTMM: lock, edit, unlock an asset version's metadata fields (identifiers, rights flag,
    /// delivery-check flag).
    OtmmUpdateFields { asset_id: AssetId, fields: Vec<(String, String)> },
    /// OTMM: raise an asset request (a folder or placeholder carrying `request_id`).
    OtmmCreateRequest { request_id: String, name: String, fields: Vec<(String, String)> },
    /// OTMM: write fields of a request (status, due date, readiness). `request_id` is the
    /// request's own id when it was raised in this run, else the OTMM folder/asset id.
    OtmmUpdateRequest { request: String, fields: Vec<(String, String)> },
    /// Consonance: create a supporting resource (a JPG) on a work's products.
    ConsonanceCreateResource {
        work_id: WorkId,
        product_ids: Vec<ProductId>,
        resource_variant: String,
        dedupe_marker: String,
        file_name: String,
        /// The id this plan gave it (`planned-<n>`).
        planned_id: String,
    },
    /// Consonance: upload a resource's file to its presigned URL.
    ConsonanceUpload { resource_id: String, mime_type: String, bytes: usize },
    /// Consonance: web links to an asset file, one per product (files that are not JPGs).
    ConsonanceCreateWebLinks {
        work_id: WorkId,
        product_ids: Vec<ProductId>,
        website_role: String,
        link: String,
        planned_id: String,
    },
    /// Consonance: one web link on a product (readiness page, released package manifest).
    ConsonanceCreateWebLink { isbn: Isbn13, link: String, role: String },
    /// Consonance: delete a supporting resource or a `weblink:` group.
    ConsonanceDeleteResource { resource_id: String },
    /// Consonance: delete a work's resources whose caption carries `[marker_prefix…`.
    ConsonanceDeleteResourcesMarked { work_id: WorkId, marker_prefix: String },
}

impl PlannedWrite {
    /// `OTMM` or `Consonance`.
    pub fn system(&self) -> &'static str {
        match self {
            PlannedWrite::OtmmUpdateFields { .. }
            | PlannedWrite::OtmmCreateRequest { .. }
            | PlannedWrite::OtmmUpdateRequest { .. } => "OTMM",
            _ => "Consonance",
        }
    }
}

/// The writes recorded by one dry run, in the order they were asked for. Shared by the two
/// decorators; cheap to clone.
#[derive(Clone, Default)]
pub struct WriteLog {
    inner: Arc<Mutex<LogState>>,
}

#[derive(Default)]
struct LogState {
    writes: Vec<PlannedWrite>,
    next_id: u64,
    /// Dedupe marker (or web-link URL) -> the planned id given to it.
    resources: BTreeMap<String, String>,
    /// Request id -> the planned folder.
    requests: BTreeMap<String, OtmmRequestRef>,
    /// Planned folder id -> request id (for the updates of a request raised in this run).
    request_ids: BTreeMap<String, String>,
    /// `<isbn>#<link>` -> planned web link id.
    web_links: BTreeMap<String, String>,
}

impl WriteLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every write recorded so far.
    pub fn writes(&self) -> Vec<PlannedWrite> {
        self.lock().writes.clone()
    }

    fn record(&self, write: PlannedWrite) {
        self.lock().writes.push(write);
    }
}

impl LogState {
    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("planned-{}", self.next_id)
    }

    /// The planned id of what `key` names, made (and its write recorded) the first time only,
    /// as the real "ensure" calls find what an earlier call made.
    fn ensure(&mut self, key: &str, write: impl FnOnce(String) -> PlannedWrite) -> String {
        if let Some(id) = self.resources.get(key) {
            return id.clone();
        }
        let id = self.fresh_id();
        self.resources.insert(key.to_string(), id.clone());
        self.writes.push(write(id.clone()));
        id
    }
}

/// Wraps both systems; the two decorators share one [`WriteLog`]. `config` names the OTMM
/// fields a planned field write changes in later reads.
pub fn wrap(
    dam: Arc<dyn Dam>,
    pms: Arc<dyn Pms>,
    config: Arc<MappingConfig>,
) -> (Arc<dyn Dam>, Arc<dyn Pms>, WriteLog) {
    let log = WriteLog::default();
    let dam = Arc::new(DryRunDam { inner: dam, log: log.clone(), config });
    let pms = Arc::new(DryRunPms { inner: pms, log: log.clone() });
    (dam, pms, log)
}

/// OTMM, read for real, written only in the [`WriteLog`]. A field write planned on an asset
/// version shows in later reads of it, as it would after the real write: the ISBN and imprint
/// of [`Dam::asset`], [`Dam::versions`] and [`Dam::changed_since`], and an asset whose ISBN
/// the plan rewrote into a title's form is among that title's [`Dam::titles_assets`] (OTMM's
/// search finds the ISBN as written).
pub struct DryRunDam {
    inner: Arc<dyn Dam>,
    log: WriteLog,
    config: Arc<MappingConfig>,
}

impl DryRunDam {
    /// The fields planned on this version so far (later writes win).
    fn planned_fields(&self, asset_id: &AssetId) -> BTreeMap<String, String> {
        let state = self.log.lock();
        let mut out = BTreeMap::new();
        for w in &state.writes {
            if let PlannedWrite::OtmmUpdateFields { asset_id: a, fields } = w
                && a == asset_id
            {
                out.extend(fields.iter().cloned());
            }
        }
        out
    }

    fn overlay(&self, mut facts: AssetFacts) -> AssetFacts {
        let fields = self.planned_fields(&facts.asset_id);
        let ids = &self.config.otmm.fields;
        if let Some(v) = fields.get(&ids.isbn) {
            facts.isbn_field = Some(v.clone());
        }
        if let Some(v) = ids.imprint.as_ref().and_then(|f| fields.get(f)) {
            facts.imprint_field = Some(v.clone());
        }
        facts
    }

    /// Versions whose ISBN field the plan rewrote to `isbn`, as OTMM's search would now find
    /// them. Launch fields missing on them are read from what [`AssetFacts`] holds (ISBN,
    /// asset type, imprint, approver); others count as present.
    async fn rewritten_to(&self, isbn: &Isbn13) -> Result<Vec<ObservedAsset>, SystemError> {
        let isbn_field = self.config.otmm.fields.isbn.clone();
        let rewritten: Vec<AssetId> = {
            let state = self.log.lock();
            let mut ids: Vec<AssetId> = state
                .writes
                .iter()
                .filter_map(|w| match w {
                    PlannedWrite::OtmmUpdateFields { asset_id, fields }
                        if fields.iter().any(|(f, v)| *f == isbn_field && v.trim() == isbn.as_str()) =>
                    {
                        Some(asset_id.clone())
                    }
                    _ => None,
                })
                .collect();
            ids.dedup();
            ids
        };
        let mut out = Vec::new();
        for id in rewritten {
            let facts = match self.inner.asset(&id).await {
                Ok(f) => self.overlay(f),
                Err(SystemError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if facts.deleted {
                continue;
            }
            let Some(role) = facts.asset_type_field.as_deref().and_then(|v| self.config.role_for(v)) else {
                continue;
            };
            let missing_fields = self
                .config
                .launch
                .required_fields
                .iter()
                .copied()
                .filter(|f| match f {
                    FieldName::AssetType => facts.asset_type_field.is_none(),
                    FieldName::Imprint => facts.imprint_field.is_none(),
                    FieldName::ApprovedBy => facts.approved_by.is_none(),
                    _ => false,
                })
                .collect();
            out.push(ObservedAsset {
                lineage_id: facts.lineage_id,
                role,
                version: facts.version,
                approved: facts.approved,
                missing_fields,
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl Dam for DryRunDam {
    async fn asset(&self, asset_id: &AssetId) -> Result<AssetFacts, SystemError> {
        Ok(self.overlay(self.inner.asset(asset_id).await?))
    }

    async fn update_fields(
        &self,
        asset_id: &AssetId,
        fields: &[(String, String)],
    ) -> Result<(), SystemError> {
        self.log
            .record(PlannedWrite::OtmmUpdateFields { asset_id: asset_id.clone(), fields: fields.to_vec() });
        Ok(())
    }

    fn content_url(&self, asset: &AssetFacts) -> String {
        self.inner.content_url(asset)
    }

    async fn changed_since(
        &self,
        since: DateTime<Utc>,
        skip: u64,
        limit: u64,
    ) -> Result<Vec<AssetFacts>, SystemError> {
        Ok(self.inner.changed_since(since, skip, limit).await?.into_iter().map(|f| self.overlay(f)).collect())
    }

    async fn versions(&self, asset: &AssetFacts) -> Result<Vec<AssetFacts>, SystemError> {
        Ok(self.inner.versions(asset).await?.into_iter().map(|f| self.overlay(f)).collect())
    }

    async fn content(&self, asset_id: &AssetId) -> Result<Vec<u8>, SystemError> {
        self.inner.content(asset_id).await
    }

    async fn titles_assets(&self, isbns: &[Isbn13]) -> Result<Vec<Vec<ObservedAsset>>, SystemError> {
        let mut all = self.inner.titles_assets(isbns).await?;
        for (isbn, found) in isbns.iter().zip(all.iter_mut()) {
            for extra in self.rewritten_to(isbn).await? {
                if !found.iter().any(|a| a.lineage_id == extra.lineage_id && a.version == extra.version) {
                    found.push(extra);
                }
            }
        }
        Ok(all)
    }

    async fn find_request(&self, request_id: &str) -> Result<Option<OtmmRequestRef>, SystemError> {
        if let Some(planned) = self.log.lock().requests.get(request_id).cloned() {
            return Ok(Some(planned));
        }
        self.inner.find_request(request_id).await
    }

    async fn create_request(&self, request: &NewRequest) -> Result<OtmmRequestRef, SystemError> {
        let mut state = self.log.lock();
        if let Some(planned) = state.requests.get(&request.request_id) {
            return Ok(planned.clone());
        }
        let id = state.fresh_id();
        let planned = OtmmRequestRef { kind: "planned".into(), id: id.clone() };
        state.requests.insert(request.request_id.clone(), planned.clone());
        state.request_ids.insert(id, request.request_id.clone());
        state.writes.push(PlannedWrite::OtmmCreateRequest {
            request_id: request.request_id.clone(),
            name: request.name.clone(),
            fields: request.fields.clone(),
        });
        Ok(planned)
    }

    async fn update_request(
        &self,
        request: &OtmmRequestRef,
        fields: &[(String, String)],
    ) -> Result<(), SystemError> {
        let mut state = self.log.lock();
        let name = state.request_ids.get(&request.id).cloned().unwrap_or_else(|| request.id.clone());
        state.writes.push(PlannedWrite::OtmmUpdateRequest { request: name, fields: fields.to_vec() });
        Ok(())
    }

    async fn content_stream(&self, asset_id: &AssetId) -> Result<connector_store::ByteStream, SystemError> {
        self.inner.content_stream(asset_id).await
    }
}

/// Consonance, read for real, written only in the [`WriteLog`].
pub struct DryRunPms {
    inner: Arc<dyn Pms>,
    log: WriteLog,
}

impl DryRunPms {
    /// What this run "created" on the work is there for the rest of the run.
    fn add_planned(&self, work_id: WorkId, ids: &mut Vec<String>) {
        let state = self.log.lock();
        for write in &state.writes {
            match write {
                PlannedWrite::ConsonanceCreateResource { work_id: w, planned_id, .. }
                | PlannedWrite::ConsonanceCreateWebLinks { work_id: w, planned_id, .. }
                    if *w == work_id =>
                {
                    ids.push(planned_id.clone())
                }
                _ => {}
            }
        }
    }
}

#[async_trait]
impl Pms for DryRunPms {
    async fn title_by_isbn(&self, isbn: &Isbn13) -> Result<Option<TitleFacts>, SystemError> {
        self.inner.title_by_isbn(isbn).await
    }

    async fn title_and_schedule_by_isbn(&self, isbn: &Isbn13) -> Result<Option<TitleRead>, SystemError> {
        self.inner.title_and_schedule_by_isbn(isbn).await
    }

    async fn titles_of_work(&self, work_id: WorkId) -> Result<Vec<TitleFacts>, SystemError> {
        self.inner.titles_of_work(work_id).await
    }

    async fn ensure_resource(&self, request: &ResourceRequest) -> Result<EnsuredResource, SystemError> {
        // The real adapter refuses a file that is not a JPG before it writes: so does the plan.
        request.refuse_unless_jpeg()?;
        let id = self.log.lock().ensure(&request.dedupe_marker, |planned_id| {
            PlannedWrite::ConsonanceCreateResource {
                work_id: request.work_id,
                product_ids: request.product_ids.clone(),
                resource_variant: request.resource_variant.clone(),
                dedupe_marker: request.dedupe_marker.clone(),
                file_name: request.file_name.clone(),
                planned_id,
            }
        });
        // No presigned URL: the upload a presigned create needs is not made either.
        Ok(EnsuredResource { id, upload_url: None })
    }

    async fn upload(
        &self,
        resource_id: &str,
        _upload_url: &str,
        mime_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), SystemError> {
        self.log.record(PlannedWrite::ConsonanceUpload {
            resource_id: resource_id.to_string(),
            mime_type: mime_type.to_string(),
            bytes: bytes.len(),
        });
        Ok(())
    }

    async fn ensure_web_links(&self, request: &WebLinkRequest) -> Result<String, SystemError> {
        Ok(self.log.lock().ensure(&request.link, |planned_id| PlannedWrite::ConsonanceCreateWebLinks {
            work_id: request.work_id,
            product_ids: request.product_ids.clone(),
            website_role: request.website_role.clone(),
            link: request.link.clone(),
            planned_id,
        }))
    }

    async fn works_changed_since(
        &self,
        since: NaiveDate,
        after: Option<i64>,
    ) -> Result<Vec<WorkChange>, SystemError> {
        self.inner.works_changed_since(since, after).await
    }

    async fn resource_ids_of_work(&self, work_id: WorkId) -> Result<Vec<String>, SystemError> {
        let mut ids = self.inner.resource_ids_of_work(work_id).await?;
        self.add_planned(work_id, &mut ids);
        Ok(ids)
    }

    async fn resource_ids_of_works(&self, works: &[WorkId]) -> Result<Vec<Vec<String>>, SystemError> {
        let mut answers = self.inner.resource_ids_of_works(works).await?;
        for (work_id, ids) in works.iter().zip(&mut answers) {
            self.add_planned(*work_id, ids);
        }
        Ok(answers)
    }

    async fn delete_resource(&self, resource_id: &str) -> Result<(), SystemError> {
        self.log.record(PlannedWrite::ConsonanceDeleteResource { resource_id: resource_id.to_string() });
        Ok(())
    }

    async fn delete_resources_marked(
        &self,
        work_id: WorkId,
        marker_prefix: &str,
    ) -> Result<usize, SystemError> {
        self.log.record(PlannedWrite::ConsonanceDeleteResourcesMarked {
            work_id,
            marker_prefix: marker_prefix.to_string(),
        });
        Ok(0)
    }

    async fn work_schedule(&self, work_id: WorkId) -> Result<ScheduleFacts, SystemError> {
        self.inner.work_schedule(work_id).await
    }

    async fn ensure_web_link(
        &self,
        isbn: &Isbn13,
        link: &str,
        role: &str,
        _note: &str,
    ) -> Result<String, SystemError> {
        // The real one looks at the product first; the plan runs under the same idempotency
        // key (`readiness-link:<isbn>`, the release's), so it only comes here where the real
        // run would look, and reports that look as a create (see the module's limits).
        let mut state = self.log.lock();
        let key = format!("{isbn}#{link}");
        if let Some(id) = state.web_links.get(&key) {
            return Ok(id.clone());
        }
        let id = state.fresh_id();
        state.web_links.insert(key, id.clone());
        state.writes.push(PlannedWrite::ConsonanceCreateWebLink {
            isbn: isbn.clone(),
            link: link.to_string(),
            role: role.to_string(),
        });
        Ok(id)
    }
}

#[cfg(test)]
mod tests;
