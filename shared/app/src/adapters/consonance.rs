use crate::systems::{
    EnsuredResource, ListedResource, Pms, ResourceRequest, SystemError, TitleRead, WebLinkRequest,
    WorkChange, web_link_ids, web_links_resource_id,
};
use async_trait::async_trait;
use chrono::NaiveDate;
use connector_core::config::{ProductForm, UploadConfig, UploadMethod};
use connector_core::plan::{ProductFacts, TitleFacts};
use connector_core::readiness::ScheduleFacts;
use connector_core::{Isbn13, WorkId};
use consonance_client::{
    ConsonanceClient, ConsonanceError, CreateSupportingResourceInput, DedupeMarker, Product,
    SupportingResource, WebLink, Work, WorkSchedule,
};

/// Consonance through `consonance-client`.
pub struct ConsonancePms {
    client: ConsonanceClient,
    upload: UploadConfig,
    /// Some role goes as web links: the full scan then also reads the work's products' links.
    web_links: bool,
}

impl ConsonancePms {
    pub fn new(client: ConsonanceClient) -> Self {
        ConsonancePms { client, upload: UploadConfig::default(), web_links: false }
    }

    /// With the mapping config's `[consonance.upload]` and whether any role is a web link.
    pub fn with_config(mut self, upload: UploadConfig, web_links: bool) -> Self {
        self.upload = upload;
        self.web_links = web_links;
        self
    }

    pub fn client(&self) -> &ConsonanceClient {
        &self.client
    }

    /// The ids the links pass checks: each supporting resource's, and, with a role going as
    /// web links, one per URL of the products' links to asset files (they carry the marker
    /// fragment), as created ([`web_links_resource_id`]).
    fn resource_ids(&self, resources: &[SupportingResource], links: &[WebLink]) -> Vec<String> {
        let mut ids: Vec<String> = resources.iter().map(|r| r.id.to_string()).collect();
        if self.web_links {
            let mut by_link: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
            for l in links.iter().filter(|l| l.link.contains("#otmm:")) {
                by_link.entry(l.link.as_str()).or_default().push(l.id);
            }
            ids.extend(by_link.values().map(|v| web_links_resource_id(v)));
        }
        ids
    }

    /// After a single-slot create (`unlinkPrevious`): resources of the same OTMM lineage that
    /// now link no product are leftovers (the replaced version's, deleted next anyway, or one an
    /// interrupted attempt created for a version that was then overtaken: a worker killed while
    /// its create was in flight). Deleting them here keeps nothing orphaned in Consonance.
    async fn sweep_leftovers(&self, request: &ResourceRequest, keep: i64) -> Result<(), SystemError> {
        let Some(lineage_marker) = lineage_marker(request) else { return Ok(()) };
        let leftover = |r: &consonance_client::SupportingResource| {
            r.id != keep && r.product_ids.is_empty() && caption_has(r, &lineage_marker)
        };
        self.delete_resources_where(request.work_id, "a leftover resource of the same asset", leftover)
            .await
            .map(|_| ())
    }

    /// Deletes the work's supporting resources `doomed` picks (one listing, then a delete each);
    /// returns how many went.
    async fn delete_resources_where(
        &self,
        work_id: WorkId,
        what: &'static str,
        doomed: impl Fn(&consonance_client::SupportingResource) -> bool,
    ) -> Result<usize, SystemError> {
        let resources = self
            .client
            .supporting_resources_of_work(work_id)
            .await
            .map_err(|e| consonance_error("supporting resources of work", e))?;
        let mut deleted = 0;
        for r in resources.iter().filter(|r| doomed(r)) {
            tracing::info!(resource_id = r.id, caption = ?r.caption, "deleting {what}");
            self.client
                .delete_supporting_resource(r.id)
                .await
                .map_err(|e| consonance_error("delete supporting resource", e))?;
            deleted += 1;
        }
        Ok(deleted)
    }
}

fn listed_resource(r: &SupportingResource) -> ListedResource {
    ListedResource {
        id: r.id,
        caption: r.caption.clone(),
        filename: r.filename.clone(),
        product_ids: r.product_ids.clone(),
    }
}

/// A listed resource as the client's create-once check reads it (marker fields and products).
fn supporting_resource(r: &ListedResource) -> SupportingResource {
    SupportingResource {
        id: r.id,
        image_remote_url: None,
        url: None,
        is_processing: false,
        image_content_type: None,
        filename: r.filename.clone(),
        product_ids: r.product_ids.clone(),
        caption: r.caption.clone(),
        created_at: None,
        resource_variant: None,
        status: None,
    }
}

/// `[otmm:<lineage>:v`, the caption prefix every resource of the request's OTMM lineage has.
fn lineage_marker(request: &ResourceRequest) -> Option<String> {
    let mut parts = request.dedupe_marker.splitn(3, ':');
    let (Some("otmm"), Some(lineage)) = (parts.next(), parts.next()) else { return None };
    Some(format!("[otmm:{lineage}:v"))
}

/// Whether `listed` holds a resource of the request's lineage other than `keep`.
fn others_of_lineage(
    listed: &[consonance_client::SupportingResource],
    request: &ResourceRequest,
    keep: i64,
) -> bool {
    lineage_marker(request).is_some_and(|m| listed.iter().any(|r| r.id != keep && caption_has(r, &m)))
}

fn caption_has(r: &consonance_client::SupportingResource, text: &str) -> bool {
    r.caption.as_deref().is_some_and(|c| c.contains(text))
}

pub(crate) fn consonance_error(operation: &'static str, e: ConsonanceError) -> SystemError {
    match e {
        ConsonanceError::NotFound { what, .. } => {
            SystemError::NotFound { system: "Consonance", operation, what }
        }
        e if e.is_transient() => SystemError::Transient {
            system: "Consonance",
            operation,
            message: e.to_string(),
            retry_after: e.retry_after(),
        },
        e => SystemError::Permanent { system: "Consonance", operation, message: e.to_string() },
    }
}

fn product_facts(p: &Product) -> ProductFacts {
    ProductFacts {
        product_id: p.id,
        isbn: p.isbn13(),
        form: p.onix21_product_form_code.as_deref().and_then(|f| ProductForm::parse(f).ok()),
        publication_date: p.publication_date.or(p.planned_publication_date),
        // Unreadable rights fail closed: not for sale anywhere until fixed.
        sales_rights: p.sales_rights().unwrap_or_default(),
    }
}

/// The dates launch readiness reads from a work's schedule.
fn schedule_facts(w: &WorkSchedule) -> ScheduleFacts {
    let c = w.contract.as_ref();
    ScheduleFacts {
        stage: w.project_stage.clone(),
        ms_delivery_date: c.and_then(|c| c.ms_delivery_date),
        revised_ms_delivery_date: c.and_then(|c| c.revised_ms_delivery_date),
        actual_ms_delivery_date: c.and_then(|c| c.actual_ms_delivery_date),
        delivery_dates: c
            .map(|c| {
                c.delivery_dates
                    .iter()
                    .filter_map(|d| {
                        Some((d.deliverable_type.clone().unwrap_or_default(), d.date_due?, d.slipped_date))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        production_run_dates: w.production_runs.iter().filter_map(|r| r.delivery_date).collect(),
        unavailable: w.contract_unavailable.iter().cloned().collect(),
    }
}

/// Every product of the work with an ISBN, as a title.
pub(crate) fn titles_of(work: &Work) -> Vec<TitleFacts> {
    let products: Vec<ProductFacts> = work.products.iter().map(product_facts).collect();
    work.products
        .iter()
        .filter_map(|p| {
            Some(TitleFacts {
                isbn: p.isbn13()?,
                work_id: work.id,
                product_id: p.id,
                title: work.title.clone().or_else(|| p.full_title.clone()).unwrap_or_default(),
                imprint: work.imprint.as_ref().and_then(|i| i.name.clone()),
                products: products.clone(),
            })
        })
        .collect()
}

#[async_trait]
impl Pms for ConsonancePms {
    async fn title_by_isbn(&self, isbn: &Isbn13) -> Result<Option<TitleFacts>, SystemError> {
        Ok(self.title_and_schedule_by_isbn(isbn).await?.map(|read| read.title))
    }

    async fn title_and_schedule_by_isbn(&self, isbn: &Isbn13) -> Result<Option<TitleRead>, SystemError> {
        let (product_id, work) = match self.client.work_by_isbn(isbn).await {
            Ok(found) => found,
            Err(ConsonanceError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(consonance_error("work by ISBN", e)),
        };
        let Some((work, schedule)) = work else {
            return Err(SystemError::Permanent {
                system: "Consonance",
                operation: "work by ISBN",
                message: format!("product {product_id} (ISBN {isbn}) names no work"),
            });
        };
        let resources = work.supporting_resources.as_ref().map(|rs| rs.iter().map(listed_resource).collect());
        let title = titles_of(&work).into_iter().find(|t| &t.isbn == isbn);
        Ok(title.map(|title| TitleRead { title, schedule: schedule_facts(&schedule), resources }))
    }

    async fn titles_of_work(&self, work_id: WorkId) -> Result<Vec<TitleFacts>, SystemError> {
        match self.client.work(work_id).await {
            Ok(work) => Ok(titles_of(&work)),
            Err(ConsonanceError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(consonance_error("work", e)),
        }
    }

    async fn ensure_resource(&self, request: &ResourceRequest) -> Result<EnsuredResource, SystemError> {
        let mut input = CreateSupportingResourceInput::new(request.work_id);
        input.status = Some(request.status.clone());
        input.resource_variant = Some(request.resource_variant.clone());
        input.product_ids = Some(request.product_ids.clone());
        input.unlink_previous = Some(request.unlink_previous);
        input.caption = Some(request.caption.clone());
        // Supporting resources are JPG images: the planner sends nothing else here. Consonance
        // fetches the file (imageRemoteUrl) or it is uploaded to the presigned URL a
        // resourceFileName create answers with, as `[consonance.upload]` says.
        request.refuse_unless_jpeg()?;
        match self.upload.method {
            UploadMethod::RemoteUrl => input.image_remote_url = Some(request.file_url.clone()),
            UploadMethod::Presigned => input.resource_file_name = Some(request.file_name.clone()),
        }
        // The caption carries the marker in brackets (see the processor): searching for
        // `[marker]` keeps one marker from matching another it is a prefix of.
        let marker = DedupeMarker::CaptionContains(format!("[{}]", request.dedupe_marker));
        let listed = request.listed.as_ref().map(|l| l.iter().map(supporting_resource).collect());
        let mut created = self
            .client
            .create_supporting_resource_once_after(&input, &marker, listed)
            .await
            .map_err(|e| consonance_error("create supporting resource", e))?;
        // Found by its marker (an earlier attempt landed without our knowing), but no longer on
        // the products it was made for: a create for another version ran meanwhile and its
        // `unlinkPrevious` took them. There is no update mutation: delete it and create it again
        // (found by the chaos test: answer lost, another version linked, then this retry).
        let wanted: std::collections::BTreeSet<i64> = request.product_ids.iter().map(|p| p.0).collect();
        let has: std::collections::BTreeSet<i64> = created.resource.product_ids.iter().copied().collect();
        if created.outcome != consonance_client::CreateOutcome::Created && has != wanted {
            tracing::warn!(resource_id = created.resource.id, marker = %request.dedupe_marker, ?has, ?wanted, "resource found by its marker lost its products; creating it again");
            self.client
                .delete_supporting_resource(created.resource.id)
                .await
                .map_err(|e| consonance_error("delete supporting resource", e))?;
            created = self
                .client
                .create_supporting_resource_once(&input, &marker)
                .await
                .map_err(|e| consonance_error("create supporting resource", e))?;
        }
        // A leftover is a resource of the same lineage: when the listing before the create
        // showed none but ours, the create displaced none (one writer per slot: the processor's
        // lease), and the sweep's second listing is not needed.
        if request.unlink_previous && others_of_lineage(&created.listed, request, created.resource.id) {
            self.sweep_leftovers(request, created.resource.id).await?;
        }
        Ok(EnsuredResource { id: created.resource.id.to_string(), upload_url: created.presigned_url })
    }

    async fn upload(
        &self,
        resource_id: &str,
        upload_url: &str,
        mime_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), SystemError> {
        self.client
            .upload_to_presigned_url(upload_url, mime_type, bytes)
            .await
            .map_err(|e| consonance_error("upload supporting resource", e))?;
        let Some(follow_up) = &self.upload.follow_up_mutation else { return Ok(()) };
        let id: i64 = resource_id.parse().map_err(|_| SystemError::Permanent {
            system: "Consonance",
            operation: "upload follow-up",
            message: format!("resource id {resource_id:?} is not a Consonance id"),
        })?;
        self.client.run_follow_up(follow_up, id).await.map_err(|e| consonance_error("upload follow-up", e))
    }

    async fn ensure_web_links(&self, request: &WebLinkRequest) -> Result<String, SystemError> {
        // createWebLink is not idempotent: each product's links are read first, and a link is
        // made only where the exact URL (its fragment carries the marker) is not there yet.
        let products = self
            .client
            .products_of_work(request.work_id)
            .await
            .map_err(|e| consonance_error("products of work", e))?;
        let mut ids = Vec::new();
        for product_id in &request.product_ids {
            let existing = products
                .iter()
                .find(|p| p.id == *product_id)
                .and_then(|p| p.web_links.iter().find(|l| l.link == request.link));
            let id = match existing {
                Some(l) => l.id,
                None => {
                    self.client
                        .create_web_link(
                            *product_id,
                            &request.link,
                            &request.website_role,
                            Some(&request.note),
                        )
                        .await
                        .map_err(|e| consonance_error("create web link", e))?
                        .id
                }
            };
            ids.push(id);
        }
        Ok(web_links_resource_id(&ids))
    }

    async fn works_changed_since(
        &self,
        since: NaiveDate,
        after: Option<i64>,
    ) -> Result<Vec<WorkChange>, SystemError> {
        let works = self
            .client
            .works_changed_since(since, after)
            .await
            .map_err(|e| consonance_error("works changed since", e))?;
        Ok(works
            .iter()
            .map(|w| WorkChange { work_id: w.id, titles: titles_of(w), stage: w.project_stage.clone() })
            .collect())
    }

    async fn resource_ids_of_work(&self, work_id: WorkId) -> Result<Vec<String>, SystemError> {
        let resources = self
            .client
            .supporting_resources_of_work(work_id)
            .await
            .map_err(|e| consonance_error("supporting resources of work", e))?;
        let web_links = match self.web_links {
            true => self
                .client
                .products_of_work(work_id)
                .await
                .map_err(|e| consonance_error("products of work", e))?
                .into_iter()
                .flat_map(|p| p.web_links)
                .collect(),
            false => Vec::new(),
        };
        Ok(self.resource_ids(&resources, &web_links))
    }

    async fn resource_ids_of_works(&self, works: &[WorkId]) -> Result<Vec<Vec<String>>, SystemError> {
        const OP: &str = "supporting resources of works";
        match self.client.resources_of_works(works).await {
            Ok(answers) => works
                .iter()
                .zip(answers)
                .map(|(work, answer)| match answer {
                    Some(w) => {
                        let links: Vec<WebLink> = match self.web_links {
                            true => w.products.into_iter().flat_map(|p| p.web_links).collect(),
                            false => Vec::new(),
                        };
                        Ok(self.resource_ids(&w.supporting_resources, &links))
                    }
                    None => Err(SystemError::NotFound {
                        system: "Consonance",
                        operation: OP,
                        what: format!("work {work}"),
                    }),
                })
                .collect(),
            // Refused as a whole (a query-size limit, or one work's error): each work's own
            // answer, one query each.
            Err(e) if !e.is_transient() && works.len() > 1 => {
                tracing::warn!(error = %e, works = works.len(), "the batched resource lookup was refused; asking one work at a time (a tenant that limits query size needs a lower RECONCILE_LOOKUPS_PER_QUERY)");
                let mut out = Vec::with_capacity(works.len());
                for work in works {
                    out.push(self.resource_ids_of_work(*work).await?);
                }
                Ok(out)
            }
            Err(e) => Err(consonance_error(OP, e)),
        }
    }

    async fn delete_resource(&self, resource_id: &str) -> Result<(), SystemError> {
        if let Some(link_ids) = web_link_ids(resource_id) {
            let link_ids = link_ids.map_err(|e| SystemError::Permanent {
                system: "Consonance",
                operation: "delete web links",
                message: e.to_string(),
            })?;
            for id in link_ids {
                self.client.delete_web_link(id).await.map_err(|e| consonance_error("delete web link", e))?;
            }
            return Ok(());
        }
        let id: i64 = resource_id.parse().map_err(|_| SystemError::Permanent {
            system: "Consonance",
            operation: "delete supporting resource",
            message: format!("resource id {resource_id:?} is not a Consonance id"),
        })?;
        self.client
            .delete_supporting_resource(id)
            .await
            .map(|_| ())
            .map_err(|e| consonance_error("delete supporting resource", e))
    }

    async fn delete_resources_marked(
        &self,
        work_id: WorkId,
        marker_prefix: &str,
    ) -> Result<usize, SystemError> {
        let needle = format!("[{marker_prefix}");
        self.delete_resources_where(work_id, "a resource a stale version's earlier attempt made", |r| {
            caption_has(r, &needle)
        })
        .await
    }

    async fn work_schedule(&self, work_id: WorkId) -> Result<ScheduleFacts, SystemError> {
        let w = self.client.work_schedule(work_id).await.map_err(|e| consonance_error("work schedule", e))?;
        Ok(schedule_facts(&w))
    }

    async fn ensure_web_link(
        &self,
        isbn: &Isbn13,
        link: &str,
        role: &str,
        note: &str,
    ) -> Result<String, SystemError> {
        // `createWebLink` is not idempotent: look at the product's links first.
        let product =
            self.client.product_by_isbn(isbn).await.map_err(|e| consonance_error("product by ISBN", e))?;
        if let Some(existing) = product.web_links.iter().find(|w| w.link == link) {
            return Ok(existing.id.to_string());
        }
        let created = self
            .client
            .create_web_link(product.id, link, role, Some(note))
            .await
            .map_err(|e| consonance_error("create web link", e))?;
        Ok(created.id.to_string())
    }
}
