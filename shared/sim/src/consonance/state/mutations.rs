//! The writes the GraphQL mutations and the control routes make: supporting resources (create,
//! upload, delete), web links, and the schedule and product fields a test moves.

use super::*;

impl State {
    pub fn create_resource(&mut self, input: NewResource) -> Result<ResourceRec, StateError> {
        let work = self
            .works
            .get(&input.work_id)
            .ok_or_else(|| StateError::NotFound(format!("Work {}", input.work_id)))?
            .clone();
        let (image_remote_url, filename, mime) = match (&input.image_remote_url, &input.resource_file_name) {
            (Some(_), Some(_)) => {
                return Err(field_error(
                    "imageRemoteUrl",
                    "Provide either imageRemoteUrl or resourceFileName, not both",
                ));
            }
            (None, None) => {
                return Err(field_error(
                    "imageRemoteUrl",
                    "Provide either imageRemoteUrl or resourceFileName",
                ));
            }
            (Some(url), None) => {
                let parsed = url::Url::parse(url)
                    .map_err(|e| field_error("imageRemoteUrl", format!("{url:?} is not a URL: {e}")))?;
                let name = parsed.path_segments().and_then(|mut s| s.next_back()).unwrap_or("").to_string();
                // "The remote URL for the file. Must be a JPG file." (createsupportingresourceinput)
                if !is_jpg_name(&name) {
                    return Err(field_error("imageRemoteUrl", format!("must be a JPG file (got {name:?})")));
                }
                (Some(url.clone()), Some(name), Some("image/jpeg".to_string()))
            }
            (None, Some(name)) => {
                if name.trim().is_empty() {
                    return Err(field_error("resourceFileName", "can't be blank"));
                }
                // "The name of the JPG to upload to the resource" (createsupportingresourceinput)
                if !is_jpg_name(name) {
                    return Err(field_error(
                        "resourceFileName",
                        format!("must name a JPG file (got {name:?})"),
                    ));
                }
                (None, Some(name.clone()), Some("image/jpeg".to_string()))
            }
        };
        let products: BTreeSet<i64> = match (&input.product_ids, input.link_to_all_products) {
            (Some(_), true) => {
                return Err(field_error(
                    "productIds",
                    "cannot be used in conjunction with linkToAllProducts",
                ));
            }
            (Some(ids), false) => {
                for id in ids {
                    if !work.product_ids.contains(id) {
                        return Err(field_error(
                            "productIds",
                            format!("product {id} does not belong to work {}", work.id),
                        ));
                    }
                }
                ids.iter().copied().collect()
            }
            (None, true) => work.product_ids.iter().copied().collect(),
            (None, false) => BTreeSet::new(),
        };
        if input.unlink_previous {
            for id in self.resources_by_work.get(&work.id).into_iter().flatten() {
                if let Some(r) = self.resources.get_mut(id)
                    && r.resource_variant == input.resource_variant
                {
                    r.product_ids.retain(|p| !products.contains(p));
                }
            }
        }
        let id = self.next_id();
        let rec = ResourceRec {
            id,
            work_id: work.id,
            is_processing: image_remote_url.is_none(),
            image_remote_url,
            filename,
            image_content_type: mime,
            file_size: None,
            product_ids: products,
            caption: input.caption,
            copyright: input.copyright,
            required_credit: input.required_credit,
            status: input.status,
            resource_variant: input.resource_variant,
            onix_content_audience_code: input.onix_content_audience_code,
            created_at: Utc::now(),
        };
        self.resources.insert(id, rec.clone());
        self.resources_by_work.entry(work.id).or_default().insert(id);
        self.creates.creates.push(rec.clone());
        self.touch(work.id);
        Ok(rec)
    }

    /// The presigned upload for a `resourceFileName` resource arrived.
    pub fn complete_upload(&mut self, id: i64, size: usize) -> Result<ResourceRec, StateError> {
        let r = self
            .resources
            .get_mut(&id)
            .ok_or_else(|| StateError::NotFound(format!("Supporting resource {id}")))?;
        r.file_size = Some(size as i64);
        r.is_processing = false;
        let (rec, work) = (r.clone(), r.work_id);
        self.touch(work);
        Ok(rec)
    }

    pub fn delete_resource(&mut self, id: i64) -> Result<ResourceRec, StateError> {
        let rec = self
            .resources
            .remove(&id)
            .ok_or_else(|| StateError::NotFound(format!("Supporting resource {id}")))?;
        if let Some(ids) = self.resources_by_work.get_mut(&rec.work_id) {
            ids.remove(&id);
        }
        self.creates.deleted.insert(id, Utc::now());
        self.touch(rec.work_id);
        Ok(rec)
    }

    pub fn create_web_link(
        &mut self,
        product_id: i64,
        link: String,
        role: String,
        note: Option<String>,
    ) -> Result<WebLinkRec, StateError> {
        let work_id = self
            .products
            .get(&product_id)
            .ok_or_else(|| StateError::NotFound(format!("Product {product_id}")))?
            .work_id;
        match url::Url::parse(&link) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => return Err(field_error("link", format!("{link:?} must be an http(s) URL"))),
        }
        let id = self.next_id();
        let rec = WebLinkRec { id, product_id, link, role, note };
        self.web_links.insert(id, rec.clone());
        self.web_links_by_product.entry(product_id).or_default().insert(id);
        self.touch(work_id);
        Ok(rec)
    }

    pub fn delete_web_link(&mut self, id: i64) -> Result<WebLinkRec, StateError> {
        let rec = self.web_links.remove(&id).ok_or_else(|| StateError::NotFound(format!("Web link {id}")))?;
        if let Some(ids) = self.web_links_by_product.get_mut(&rec.product_id) {
            ids.remove(&id);
        }
        if let Some(w) = self.products.get(&rec.product_id).map(|p| p.work_id) {
            self.touch(w);
        }
        Ok(rec)
    }

    pub fn set_project_stage(&mut self, work_id: i64, stage: &str) -> Result<(), StateError> {
        let w =
            self.works.get_mut(&work_id).ok_or_else(|| StateError::NotFound(format!("Work {work_id}")))?;
        w.project_stage = stage.to_string();
        self.touch(work_id);
        Ok(())
    }

    fn product_mut(&mut self, product_id: i64) -> Result<&mut ProductRec, StateError> {
        self.products
            .get_mut(&product_id)
            .ok_or_else(|| StateError::NotFound(format!("Product {product_id}")))
    }

    pub fn set_planned_publication_date(
        &mut self,
        product_id: i64,
        date: NaiveDate,
    ) -> Result<(), StateError> {
        let p = self.product_mut(product_id)?;
        p.planned_publication_date = Some(date);
        let w = p.work_id;
        self.touch(w);
        Ok(())
    }

    /// The product is published (or un-published with `None`): `publicationDate`.
    pub fn set_publication_date(
        &mut self,
        product_id: i64,
        date: Option<NaiveDate>,
    ) -> Result<(), StateError> {
        let p = self.product_mut(product_id)?;
        p.publication_date = date;
        let w = p.work_id;
        self.touch(w);
        Ok(())
    }

    /// The manuscript is late: the contract's `revisedMsDeliveryDate` (and the manuscript
    /// delivery date's `slippedDate`); `actual` records its delivery.
    pub fn set_manuscript_dates(
        &mut self,
        work_id: i64,
        revised: Option<NaiveDate>,
        actual: Option<NaiveDate>,
    ) -> Result<(), StateError> {
        let contract_id = self
            .works
            .get(&work_id)
            .ok_or_else(|| StateError::NotFound(format!("Work {work_id}")))?
            .contract_id
            .ok_or_else(|| StateError::NotFound(format!("Contract of work {work_id}")))?;
        let c = self
            .contracts
            .get_mut(&contract_id)
            .ok_or_else(|| StateError::NotFound(format!("Contract {contract_id}")))?;
        c.revised_ms_delivery_date = revised;
        c.actual_ms_delivery_date = actual;
        for d in c.delivery_dates.iter_mut().filter(|d| d.deliverable_type.eq_ignore_ascii_case("manuscript"))
        {
            d.slipped_date = revised;
        }
        self.touch(work_id);
        Ok(())
    }

    pub fn set_sales_rights(
        &mut self,
        product_id: i64,
        worldwide: bool,
        for_sale: Vec<String>,
        not_for_sale: Vec<String>,
    ) -> Result<(), StateError> {
        let p = self.product_mut(product_id)?;
        p.for_sale_worldwide = worldwide;
        p.for_sale = for_sale;
        p.not_for_sale = not_for_sale;
        let w = p.work_id;
        self.touch(w);
        Ok(())
    }

    pub fn set_isbn(&mut self, product_id: i64, isbn13: Option<String>) -> Result<(), StateError> {
        let p = self.product_mut(product_id)?;
        let old = std::mem::replace(&mut p.isbn13, isbn13.map(|i| normalise_isbn(&i)));
        let (new, w) = (p.isbn13.clone(), p.work_id);
        if let Some(ids) = old.and_then(|o| self.products_by_isbn.get_mut(&o)) {
            ids.remove(&product_id);
        }
        if let Some(new) = new {
            self.products_by_isbn.entry(new).or_default().insert(product_id);
        }
        self.touch(w);
        Ok(())
    }
}

fn is_jpg_name(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    lower.ends_with(".jpg") || lower.ends_with(".jpeg")
}
