//! The simulated Consonance tenant's data, in memory, seeded from a [`Catalogue`].
//!
//! Everything the GraphQL schema and REST v4 endpoint read goes through here, under one lock;
//! every change bumps the owning work's `updated_at` so `changedSince` finds it.

use crate::catalogue::Catalogue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// The writes (`impl State`): supporting resources, web links, schedule and product fields.
mod mutations;

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
}

fn normalise_isbn(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

#[cfg(test)]
mod tests;
