//! The simulated Consonance tenant's data, in memory, seeded from a [`Catalogue`].
//!
//! Everything the GraphQL schema and REST v4 endpoint read goes through here, under one lock;
//! every change bumps the owning work's `updated_at` so `changedSince` finds it.

use crate::catalogue::Catalogue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContributorRec {
    pub id: i64,
    pub name: String,
    pub role_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkRec {
    pub id: i64,
    pub title: String,
    pub subtitle: Option<String>,
    pub imprint_id: i64,
    pub imprint: String,
    pub project_stage: String,
    pub contributors: Vec<ContributorRec>,
    pub contract_id: Option<i64>,
    pub product_ids: Vec<i64>,
    /// Simulator-derived production run delivery date (three weeks before the earliest planned
    /// publication date of a physical product); the catalogue has no production runs.
    pub production_run_delivery_date: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

impl WorkRec {
    /// Consonance's `contributorPrettyList`: "A", "A and B", "A, B and C".
    pub fn contributor_pretty_list(&self) -> String {
        let names: Vec<&str> = self.contributors.iter().map(|c| c.name.as_str()).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRec {
    pub id: i64,
    pub work_id: i64,
    /// `None` when the product has no ISBN (REST v4 then says "No ISBN").
    pub isbn13: Option<String>,
    pub full_title: String,
    pub product_form: String,
    pub in_house_format: String,
    pub publication_date: Option<NaiveDate>,
    pub planned_publication_date: Option<NaiveDate>,
    pub publishing_status: String,
    pub for_sale_worldwide: bool,
    pub for_sale: Vec<String>,
    pub not_for_sale: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicensedRightRec {
    pub id: i64,
    pub right_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryDateRec {
    pub id: i64,
    pub deliverable_type: String,
    pub date_due: NaiveDate,
    pub slipped_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractRec {
    pub id: i64,
    pub work_id: i64,
    pub ms_delivery_date: Option<NaiveDate>,
    pub revised_ms_delivery_date: Option<NaiveDate>,
    pub actual_ms_delivery_date: Option<NaiveDate>,
    pub licensed_rights: Vec<LicensedRightRec>,
    pub delivery_dates: Vec<DeliveryDateRec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRec {
    pub id: i64,
    pub work_id: i64,
    pub image_remote_url: Option<String>,
    pub filename: Option<String>,
    /// `imageContentType` (schema page `supportingresource`: "The mime type of the supporting
    /// resource, e.g. image/jpeg").
    pub image_content_type: Option<String>,
    pub file_size: Option<i64>,
    pub is_processing: bool,
    pub product_ids: BTreeSet<i64>,
    pub caption: Option<String>,
    pub copyright: Option<String>,
    pub required_credit: Option<String>,
    pub status: Option<String>,
    pub resource_variant: Option<String>,
    pub onix_content_audience_code: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebLinkRec {
    pub id: i64,
    pub product_id: i64,
    pub link: String,
    pub role: String,
    pub note: Option<String>,
}

/// A work with its products, contract and supporting resources, for tests and the demo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkSnapshot {
    pub work: WorkRec,
    pub products: Vec<ProductRec>,
    pub contract: Option<ContractRec>,
    pub supporting_resources: Vec<ResourceRec>,
}

/// The create log: every supporting resource created (as created), in order, and when each
/// one was deleted (by the connector or by hand).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateLog {
    pub creates: Vec<ResourceRec>,
    pub deleted: BTreeMap<i64, DateTime<Utc>>,
}

/// What `createSupportingResource` was asked for, after GraphQL parsing (enums as their names).
#[derive(Debug, Clone, Default)]
pub struct NewResource {
    pub work_id: i64,
    pub image_remote_url: Option<String>,
    pub resource_file_name: Option<String>,
    pub status: Option<String>,
    pub resource_variant: Option<String>,
    pub onix_content_audience_code: Option<String>,
    pub product_ids: Option<Vec<i64>>,
    pub link_to_all_products: bool,
    pub unlink_previous: bool,
    pub caption: Option<String>,
    pub copyright: Option<String>,
    pub required_credit: Option<String>,
}

/// Why a change was refused: becomes a GraphQL error (or an HTTP 404/422 on control routes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// A mutation's own validation, about one input field: answered in the payload's
    /// `errors { field message }` (as the official update examples select them).
    #[error("{field}: {message}")]
    Field { field: &'static str, message: String },
}

fn field_error(field: &'static str, message: impl Into<String>) -> StateError {
    StateError::Field { field, message: message.into() }
}

#[derive(Debug, Clone, Default)]
pub struct WorkFilter {
    pub id_eq: Option<i64>,
    pub after: Option<i64>,
    pub changed_since: Option<NaiveDate>,
    pub contract_id_eq: Option<i64>,
    pub title_eq: Option<String>,
    pub title_cont: Option<String>,
    pub subtitle_eq: Option<String>,
    pub subtitle_cont: Option<String>,
    pub subtitle_present: Option<bool>,
    pub imprint_id_in: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub id_eq: Option<i64>,
    pub after: Option<i64>,
    pub changed_since: Option<NaiveDate>,
    pub isbn13_eq: Option<String>,
    pub isbn13_in: Option<Vec<String>>,
    pub isbn13_assigned: Option<bool>,
    pub title_eq: Option<String>,
    pub title_cont: Option<String>,
    pub title_prefix_present: Option<bool>,
    /// `publicationDate*`: (how the product's date compares to the bound, the bound, whether
    /// equal also matches).
    pub publication_date: Vec<(std::cmp::Ordering, NaiveDate, bool)>,
    pub product_forms: Option<Vec<String>>,
    /// `productTypes`: `Product` implementations by name.
    pub product_types: Option<Vec<String>>,
}

/// The state behind one lock, shared by the GraphQL resolvers, REST v4 and the control routes.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<State>>);

impl Shared {
    pub fn new(state: State) -> Self {
        Shared(Arc::new(Mutex::new(state)))
    }
    /// Never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The tables are public for reading; changes go through the methods below, which keep the
/// indices (resources by work, web links by product, products by ISBN) in step. The indices
/// make every lookup the GraphQL resolvers do proportional to its answer, not to the tenant
/// (a 100,000-title catalogue has 340,000 resources; a linear scan per product made a page of
/// `works` cost seconds).
pub struct State {
    pub works: BTreeMap<i64, WorkRec>,
    pub products: BTreeMap<i64, ProductRec>,
    pub contracts: BTreeMap<i64, ContractRec>,
    pub resources: BTreeMap<i64, ResourceRec>,
    pub web_links: BTreeMap<i64, WebLinkRec>,
    /// Every supporting resource ever created, in order, and when each was deleted: the
    /// tenant's create log (duplicate side effects are counted from it).
    pub creates: CreateLog,
    pub page_size: usize,
    next_id: i64,
    resources_by_work: HashMap<i64, BTreeSet<i64>>,
    web_links_by_product: HashMap<i64, BTreeSet<i64>>,
    /// Stored `isbn13` -> product ids.
    products_by_isbn: HashMap<String, BTreeSet<i64>>,
}

fn since(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl State {
    pub fn from_catalogue(catalogue: &Catalogue, page_size: usize) -> Self {
        let mut st = State {
            works: BTreeMap::new(),
            products: BTreeMap::new(),
            contracts: BTreeMap::new(),
            resources: BTreeMap::new(),
            web_links: BTreeMap::new(),
            creates: CreateLog::default(),
            page_size: page_size.max(1),
            next_id: 900_000,
            resources_by_work: HashMap::new(),
            web_links_by_product: HashMap::new(),
            products_by_isbn: HashMap::new(),
        };
        for w in &catalogue.works {
            let full_title = match &w.subtitle {
                Some(s) => format!("{}: {s}", w.title),
                None => w.title.clone(),
            };
            for p in &w.products {
                if !p.isbn13.is_empty() {
                    st.products_by_isbn.entry(p.isbn13.clone()).or_default().insert(p.product_id);
                }
                st.products.insert(
                    p.product_id,
                    ProductRec {
                        id: p.product_id,
                        work_id: w.work_id,
                        isbn13: (!p.isbn13.is_empty()).then(|| p.isbn13.clone()),
                        full_title: full_title.clone(),
                        product_form: p.product_form.clone(),
                        in_house_format: p.in_house_format.clone(),
                        publication_date: p.publication_date,
                        planned_publication_date: Some(p.planned_publication_date),
                        publishing_status: p.publishing_status.clone(),
                        for_sale_worldwide: p.for_sale_worldwide,
                        for_sale: p.for_sale_countries.clone(),
                        not_for_sale: p.not_for_sale_countries.clone(),
                    },
                );
            }
            if let Some(c) = &w.contract {
                let base = c.contract_id * 10;
                st.contracts.insert(
                    c.contract_id,
                    ContractRec {
                        id: c.contract_id,
                        work_id: w.work_id,
                        ms_delivery_date: c.ms_delivery_date,
                        revised_ms_delivery_date: None,
                        actual_ms_delivery_date: c.actual_ms_delivery_date,
                        licensed_rights: c
                            .licensed_rights
                            .iter()
                            .enumerate()
                            .map(|(i, r)| LicensedRightRec { id: base + i as i64, right_type: r.clone() })
                            .collect(),
                        delivery_dates: c
                            .delivery_dates
                            .iter()
                            .enumerate()
                            .map(|(i, d)| DeliveryDateRec {
                                id: base + 5 + i as i64,
                                deliverable_type: d.deliverable_type.clone(),
                                date_due: d.date_due,
                                slipped_date: None,
                            })
                            .collect(),
                    },
                );
            }
            let production_run_delivery_date = w
                .products
                .iter()
                .filter(|p| p.product_form.starts_with('B'))
                .map(|p| p.planned_publication_date)
                .min()
                .map(|d| d - Duration::days(21));
            st.works.insert(
                w.work_id,
                WorkRec {
                    id: w.work_id,
                    title: w.title.clone(),
                    subtitle: w.subtitle.clone(),
                    imprint_id: w.imprint_id,
                    imprint: w.imprint.clone(),
                    project_stage: w.project_stage.clone(),
                    contributors: w
                        .contributors
                        .iter()
                        .map(|c| ContributorRec {
                            id: c.id,
                            name: c.name.clone(),
                            role_code: c.role_code.clone(),
                        })
                        .collect(),
                    contract_id: w.contract.as_ref().map(|c| c.contract_id),
                    product_ids: w.products.iter().map(|p| p.product_id).collect(),
                    production_run_delivery_date,
                    updated_at: w.updated_at,
                },
            );
        }
        st
    }

    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Marks a work (and so its products) as changed now.
    pub fn touch(&mut self, work_id: i64) {
        if let Some(w) = self.works.get_mut(&work_id) {
            w.updated_at = Utc::now().max(w.updated_at);
        }
    }

    pub fn work_matches(&self, w: &WorkRec, f: &WorkFilter) -> bool {
        f.id_eq.is_none_or(|id| w.id == id)
            && f.after.is_none_or(|a| w.id > a)
            && f.changed_since.is_none_or(|d| w.updated_at >= since(d))
            && f.contract_id_eq.is_none_or(|c| w.contract_id == Some(c))
            && f.title_eq.as_ref().is_none_or(|t| &w.title == t)
            && f.title_cont.as_ref().is_none_or(|t| w.title.to_lowercase().contains(&t.to_lowercase()))
            && f.subtitle_eq.as_ref().is_none_or(|t| w.subtitle.as_ref() == Some(t))
            && f.subtitle_cont.as_ref().is_none_or(|t| {
                w.subtitle.as_ref().is_some_and(|s| s.to_lowercase().contains(&t.to_lowercase()))
            })
            && f.subtitle_present.is_none_or(|present| w.subtitle.is_some() == present)
            && f.imprint_id_in.as_ref().is_none_or(|ids| ids.contains(&w.imprint_id))
    }

    pub fn product_matches(&self, p: &ProductRec, f: &ProductFilter) -> bool {
        let changed = |d: NaiveDate| self.works.get(&p.work_id).is_some_and(|w| w.updated_at >= since(d));
        f.id_eq.is_none_or(|id| p.id == id)
            && f.after.is_none_or(|a| p.id > a)
            && f.changed_since.is_none_or(changed)
            && f.isbn13_eq.as_ref().is_none_or(|i| p.isbn13.as_deref() == Some(normalise_isbn(i).as_str()))
            && f.isbn13_in
                .as_ref()
                .is_none_or(|set| set.iter().any(|i| p.isbn13.as_deref() == Some(normalise_isbn(i).as_str())))
            && f.isbn13_assigned.is_none_or(|a| p.isbn13.is_some() == a)
            && f.title_eq.as_ref().is_none_or(|t| &p.full_title == t)
            && f.title_cont.as_ref().is_none_or(|t| p.full_title.to_lowercase().contains(&t.to_lowercase()))
            && f.title_prefix_present.is_none_or(|present| !present)
            && f.publication_date.iter().all(|(ord, bound, or_equal)| {
                p.publication_date.is_some_and(|d| d.cmp(bound) == *ord || (*or_equal && d == *bound))
            })
            && f.product_forms.as_ref().is_none_or(|forms| forms.contains(&p.product_form))
            && f.product_types.as_ref().is_none_or(|types| {
                types.iter().any(|t| t == crate::consonance::schema::codes::product_type(&p.product_form))
            })
    }

    /// One keyset page of works (by id), optionally only those with a product matching `pf`.
    pub fn works_page(&self, wf: &WorkFilter, pf: Option<&ProductFilter>, paged: bool) -> Vec<WorkRec> {
        let limit = if paged { self.page_size } else { usize::MAX };
        // Start where the filter can first match (an id, or the keyset position); every
        // candidate still goes through the whole filter.
        let candidates: Box<dyn Iterator<Item = &WorkRec>> = match (wf.id_eq, wf.after) {
            (Some(id), _) => Box::new(self.works.get(&id).into_iter()),
            (None, Some(after)) => Box::new(self.works.range(after.saturating_add(1)..).map(|(_, w)| w)),
            (None, None) => Box::new(self.works.values()),
        };
        candidates
            .filter(|w| self.work_matches(w, wf))
            .filter(|w| {
                pf.is_none_or(|pf| {
                    w.product_ids
                        .iter()
                        .filter_map(|id| self.products.get(id))
                        .any(|p| self.product_matches(p, &ProductFilter { after: None, ..pf.clone() }))
                })
            })
            .take(limit)
            .cloned()
            .collect()
    }

    /// One keyset page of products (by id), optionally only those whose work matches `wf`.
    pub fn products_page(&self, pf: &ProductFilter, wf: Option<&WorkFilter>, paged: bool) -> Vec<ProductRec> {
        let limit = if paged { self.page_size } else { usize::MAX };
        // As `works_page`: candidates from an index, then the whole filter.
        let candidates: Box<dyn Iterator<Item = &ProductRec>> = match (pf.id_eq, &pf.isbn13_eq, pf.after) {
            (Some(id), _, _) => Box::new(self.products.get(&id).into_iter()),
            (None, Some(isbn), _) => Box::new(
                self.products_by_isbn
                    .get(&normalise_isbn(isbn))
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.products.get(id)),
            ),
            (None, None, Some(after)) => {
                Box::new(self.products.range(after.saturating_add(1)..).map(|(_, p)| p))
            }
            (None, None, None) => Box::new(self.products.values()),
        };
        candidates
            .filter(|p| self.product_matches(p, pf))
            .filter(|p| {
                wf.is_none_or(|wf| {
                    self.works
                        .get(&p.work_id)
                        .is_some_and(|w| self.work_matches(w, &WorkFilter { after: None, ..wf.clone() }))
                })
            })
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn products_of_work(&self, work_id: i64) -> Vec<ProductRec> {
        self.works
            .get(&work_id)
            .map(|w| w.product_ids.iter().filter_map(|id| self.products.get(id)).cloned().collect())
            .unwrap_or_default()
    }

    /// Ids of the work's resources, ascending.
    fn resource_ids_of_work(&self, work_id: i64) -> impl Iterator<Item = i64> + '_ {
        self.resources_by_work.get(&work_id).into_iter().flatten().copied()
    }

    pub fn resources_of_work(&self, work_id: i64) -> Vec<ResourceRec> {
        self.resource_ids_of_work(work_id).filter_map(|id| self.resources.get(&id)).cloned().collect()
    }

    /// A resource links only products of its own work (`create_resource` refuses others), so
    /// the work's resources are the only candidates.
    pub fn resources_of_product(&self, product_id: i64) -> Vec<ResourceRec> {
        let Some(work_id) = self.products.get(&product_id).map(|p| p.work_id) else { return Vec::new() };
        self.resource_ids_of_work(work_id)
            .filter_map(|id| self.resources.get(&id))
            .filter(|r| r.product_ids.contains(&product_id))
            .cloned()
            .collect()
    }

    pub fn web_links_of_product(&self, product_id: i64) -> Vec<WebLinkRec> {
        self.web_links_by_product
            .get(&product_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.web_links.get(id))
            .cloned()
            .collect()
    }

    pub fn snapshot(&self, work_id: i64) -> Option<WorkSnapshot> {
        let work = self.works.get(&work_id)?.clone();
        Some(WorkSnapshot {
            products: self.products_of_work(work_id),
            contract: work.contract_id.and_then(|c| self.contracts.get(&c)).cloned(),
            supporting_resources: self.resources_of_work(work_id),
            work,
        })
    }

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

fn normalise_isbn(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

fn is_jpg_name(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    lower.ends_with(".jpg") || lower.ends_with(".jpeg")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::fixture_now;

    fn state() -> State {
        State::from_catalogue(&Catalogue::generate(12, 3, fixture_now()), 5)
    }

    #[test]
    fn pages_by_id_and_filters_changed_since() {
        let st = state();
        let first = st.works_page(&WorkFilter::default(), None, true);
        assert_eq!(first.len(), 5);
        let next = st.works_page(&WorkFilter { after: Some(first[4].id), ..Default::default() }, None, true);
        assert!(next[0].id > first[4].id);
        let cutoff = fixture_now().date_naive();
        assert!(
            st.works_page(&WorkFilter { changed_since: Some(cutoff), ..Default::default() }, None, true)
                .is_empty()
        );
    }

    #[test]
    fn create_validates_and_unlinks_previous() {
        let mut st = state();
        let w = st.works.values().find(|w| w.product_ids.len() >= 2).cloned().unwrap();
        let base = NewResource {
            work_id: w.id,
            image_remote_url: Some("https://img.example/a.jpg".into()),
            resource_variant: Some("front_cover".into()),
            link_to_all_products: true,
            ..Default::default()
        };
        let a = st.create_resource(base.clone()).unwrap();
        assert_eq!(a.product_ids.len(), w.product_ids.len());
        let b = st
            .create_resource(NewResource {
                image_remote_url: Some("https://img.example/b.JPG?x=1".into()),
                unlink_previous: true,
                ..base.clone()
            })
            .unwrap();
        assert!(st.resources[&a.id].product_ids.is_empty());
        assert_eq!(b.filename.as_deref(), Some("b.JPG"));
        let png = NewResource { image_remote_url: Some("https://img.example/a.png".into()), ..base.clone() };
        assert!(
            matches!(st.create_resource(png), Err(StateError::Field { field: "imageRemoteUrl", message }) if message.contains("JPG"))
        );
        let mp3 = NewResource {
            image_remote_url: None,
            resource_file_name: Some("sample.mp3".into()),
            ..base.clone()
        };
        assert!(
            matches!(st.create_resource(mp3), Err(StateError::Field { field: "resourceFileName", message }) if message.contains("JPG"))
        );
        let foreign = NewResource { product_ids: Some(vec![1]), link_to_all_products: false, ..base.clone() };
        assert!(
            matches!(st.create_resource(foreign), Err(StateError::Field { message, .. }) if message.contains("does not belong"))
        );
        assert!(matches!(
            st.create_resource(NewResource { work_id: 1, ..base }),
            Err(StateError::NotFound(_))
        ));
    }

    /// The indices answer what a scan of every record answers, after creates, unlinks,
    /// deletions and ISBN changes.
    #[test]
    fn indexed_lookups_equal_a_scan() {
        let mut st = State::from_catalogue(&Catalogue::generate(40, 5, fixture_now()), 7);
        let works: Vec<WorkRec> = st.works.values().take(6).cloned().collect();
        for (i, w) in works.iter().enumerate() {
            for variant in ["front_cover", "back_cover", "front_cover"] {
                let first = w.product_ids[0];
                st.create_resource(NewResource {
                    work_id: w.id,
                    image_remote_url: Some(format!("https://img.example/{i}-{variant}.jpg")),
                    resource_variant: Some(variant.into()),
                    product_ids: (i % 2 == 0).then(|| vec![first]),
                    link_to_all_products: i % 2 == 1,
                    unlink_previous: true,
                    ..Default::default()
                })
                .unwrap();
            }
            st.create_web_link(w.product_ids[0], format!("https://shop.example/{i}"), "01".into(), None)
                .unwrap();
        }
        let gone = *st.resources.keys().nth(2).unwrap();
        st.delete_resource(gone).unwrap();
        let link = *st.web_links.keys().next().unwrap();
        st.delete_web_link(link).unwrap();
        let moved = works[1].product_ids[0];
        st.set_isbn(moved, Some("978-0-00-000000-2".into())).unwrap();

        for w in st.works.values() {
            let scan: Vec<ResourceRec> =
                st.resources.values().filter(|r| r.work_id == w.id).cloned().collect();
            assert_eq!(st.resources_of_work(w.id), scan);
            for p in &w.product_ids {
                let scan: Vec<ResourceRec> =
                    st.resources.values().filter(|r| r.product_ids.contains(p)).cloned().collect();
                assert_eq!(st.resources_of_product(*p), scan);
                let scan: Vec<WebLinkRec> =
                    st.web_links.values().filter(|l| l.product_id == *p).cloned().collect();
                assert_eq!(st.web_links_of_product(*p), scan);
            }
        }
        for p in st.products.values() {
            let Some(isbn) = &p.isbn13 else { continue };
            let f = ProductFilter { isbn13_eq: Some(isbn.clone()), ..Default::default() };
            let scan: Vec<ProductRec> =
                st.products.values().filter(|q| st.product_matches(q, &f)).cloned().collect();
            assert_eq!(st.products_page(&f, None, false), scan);
        }
        let f = ProductFilter { isbn13_eq: Some("9780000000002".into()), ..Default::default() };
        assert_eq!(st.products_page(&f, None, false).iter().map(|p| p.id).collect::<Vec<_>>(), vec![moved]);
        // Keyset pages from every position, and single ids.
        for after in [None, Some(works[2].id), Some(i64::MAX)] {
            let f = WorkFilter { after, ..Default::default() };
            let scan: Vec<WorkRec> =
                st.works.values().filter(|w| st.work_matches(w, &f)).take(st.page_size).cloned().collect();
            assert_eq!(st.works_page(&f, None, true), scan);
            let f = ProductFilter { after, ..Default::default() };
            let scan: Vec<ProductRec> = st
                .products
                .values()
                .filter(|p| st.product_matches(p, &f))
                .take(st.page_size)
                .cloned()
                .collect();
            assert_eq!(st.products_page(&f, None, true), scan);
        }
        let f = WorkFilter { id_eq: Some(works[3].id), ..Default::default() };
        assert_eq!(st.works_page(&f, None, false), vec![st.works[&works[3].id].clone()]);
    }
}
