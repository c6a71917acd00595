//! Ports for the two external systems, in the connector's own terms. The adapters over the
//! OTMM and Consonance clients implement them; the processor, reconciler and API only see these.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use connector_core::plan::{AssetFacts, TitleFacts};
use connector_core::readiness::{ObservedAsset, ScheduleFacts};
use connector_core::requests::OtmmRequestRef;
use connector_core::{AssetId, Isbn13, ProductId, WorkId};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SystemError {
    /// Worth retrying: throttling, 5xx, timeouts, a lock held by someone else.
    #[error("{system} {operation} failed, will retry: {message}")]
    Transient {
        system: &'static str,
        operation: &'static str,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{system} {operation}: {what} not found")]
    NotFound { system: &'static str, operation: &'static str, what: String },
    /// Retrying the same request cannot help (rejected input, unexpected answer shape).
    #[error("{system} {operation} failed: {message}")]
    Permanent { system: &'static str, operation: &'static str, message: String },
}

impl SystemError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SystemError::Transient { .. })
    }
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SystemError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The flow processor's one title read ([`Pms::title_and_schedule_by_isbn`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TitleRead {
    pub title: TitleFacts,
    pub schedule: ScheduleFacts,
    /// The work's supporting resources as the same read listed them (those on no product too),
    /// where the system gives them with the title: a create in the same attempt checks these for
    /// an earlier attempt's resource instead of listing again ([`ResourceRequest::listed`]).
    pub resources: Option<Vec<ListedResource>>,
}

/// A supporting resource of a work as listed: what a create's check for an earlier attempt reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedResource {
    pub id: i64,
    pub caption: Option<String>,
    pub filename: Option<String>,
    pub product_ids: Vec<i64>,
}

/// A supporting resource (a JPG image) to create in Consonance for one asset version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub work_id: WorkId,
    pub product_ids: Vec<ProductId>,
    pub resource_variant: String,
    pub status: String,
    /// Also written into the caption: how an earlier attempt is recognised.
    pub dedupe_marker: String,
    pub unlink_previous: bool,
    /// Where Consonance fetches the file (OTMM content URL or a staged copy).
    pub file_url: String,
    pub file_name: String,
    pub mime_type: String,
    pub caption: String,
    /// The work's resources as the title read of this attempt listed them: `None` lists them
    /// before the create. Only the first create of an attempt is given them (a second would not
    /// see the first's).
    pub listed: Option<Vec<ListedResource>>,
}

impl ResourceRequest {
    /// Supporting resources are JPG images: refused before anything is written otherwise (the
    /// planner sends nothing else; this keeps the adapter and the dry run saying the same).
    pub fn refuse_unless_jpeg(&self) -> Result<(), SystemError> {
        if connector_core::config::is_jpeg(&self.mime_type, &self.file_name) {
            return Ok(());
        }
        Err(SystemError::Permanent {
            system: "Consonance",
            operation: "create supporting resource",
            message: format!(
                "{} ({}) is not a JPG: supporting resources take JPG files only",
                self.file_name, self.mime_type
            ),
        })
    }
}

/// Web links to one asset version's file, one per product (files that are not JPG images).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLinkRequest {
    pub work_id: WorkId,
    pub product_ids: Vec<ProductId>,
    /// ONIX list 73, two digits.
    pub website_role: String,
    /// The file's URL with the dedupe marker as its fragment: a link already there is found.
    pub link: String,
    /// Sent as `note` where the tenant's input has one.
    pub note: String,
}

/// The resource id a set of web links is recorded under: `weblink:<id>+<id>`, ids ascending.
pub fn web_links_resource_id(ids: &[i64]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    format!("weblink:{}", ids.iter().map(i64::to_string).collect::<Vec<_>>().join("+"))
}

/// A resource id with the web-link prefix whose ids do not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a web-link resource id")]
pub struct NotWebLinkIds(pub String);

/// The web link ids of a [`web_links_resource_id`], `None` for a supporting resource's id.
pub fn web_link_ids(resource_id: &str) -> Option<Result<Vec<i64>, NotWebLinkIds>> {
    let rest = resource_id.strip_prefix("weblink:")?;
    Some(
        rest.split('+')
            .map(|p| p.parse::<i64>().map_err(|_| NotWebLinkIds(resource_id.to_string())))
            .collect(),
    )
}

/// What [`Pms::ensure_resource`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsuredResource {
    pub id: String,
    /// Set when the file must now be uploaded there (non-JPEG resources).
    pub upload_url: Option<String>,
}

/// A work from Consonance's change feed, with its products as titles.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkChange {
    pub work_id: WorkId,
    pub titles: Vec<TitleFacts>,
    /// The work's `projectStage` (asset requests and readiness follow it).
    pub stage: Option<String>,
}

/// OTMM, the digital asset manager.
#[async_trait]
pub trait Dam: Send + Sync {
    /// One asset version, read through the mapping config.
    async fn asset(&self, asset_id: &AssetId) -> Result<AssetFacts, SystemError>;
    /// Writes metadata fields (lock, edit, unlock).
    async fn update_fields(&self, asset_id: &AssetId, fields: &[(String, String)])
    -> Result<(), SystemError>;
    /// The URL Consonance is given to fetch this version's file.
    fn content_url(&self, asset: &AssetFacts) -> String;
    /// Latest versions changed at or after `since`, oldest change first, from the `skip`-th on
    /// (the reconciler's change feed; `AssetFacts::last_updated` is the sort key).
    async fn changed_since(
        &self,
        since: DateTime<Utc>,
        skip: u64,
        limit: u64,
    ) -> Result<Vec<AssetFacts>, SystemError>;
    /// Every version of the lineage of `asset` (a version as read, e.g. from the change
    /// feed: its `lineage_id` saves reading it again).
    async fn versions(&self, asset: &AssetFacts) -> Result<Vec<AssetFacts>, SystemError>;
    /// The version's original file (for uploads to Consonance). Buffered: supporting
    /// resources are images and short clips; production packages stream instead.
    async fn content(&self, asset_id: &AssetId) -> Result<Vec<u8>, SystemError>;
    /// For each of `isbns`, in order: the latest versions of the assets whose ISBN field holds
    /// it (launch readiness: assets in review, launch fields left empty). Assets of unmapped
    /// types are left out. One search for them all where the installation ORs conditions
    /// (`otmm.search.or_conditions`), else one per ISBN.
    async fn titles_assets(&self, isbns: &[Isbn13]) -> Result<Vec<Vec<ObservedAsset>>, SystemError>;
    /// The request folder or placeholder carrying `request_id` in `otmm.fields.request_id`.
    async fn find_request(&self, request_id: &str) -> Result<Option<OtmmRequestRef>, SystemError>;
    /// Raises a request under `otmm.requests.parent_folder_id` (a folder or a placeholder, per
    /// `otmm.requests.mode`). Not idempotent: look with `find_request` first.
    async fn create_request(&self, request: &NewRequest) -> Result<OtmmRequestRef, SystemError>;
    /// Writes metadata fields of a request (status, due date, readiness).
    async fn update_request(
        &self,
        request: &OtmmRequestRef,
        fields: &[(String, String)],
    ) -> Result<(), SystemError>;
    /// The version's original file as a stream of chunks, never held whole in memory
    /// (production packages). A failure mid-stream is an `io::Error` of kind `TimedOut` or
    /// `ConnectionReset` when retrying may help.
    async fn content_stream(&self, asset_id: &AssetId) -> Result<connector_store::ByteStream, SystemError>;
}

/// An asset request to raise in OTMM: its name and metadata (field id, value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub request_id: String,
    pub name: String,
    pub fields: Vec<(String, String)>,
}

/// Consonance, the publishing management system.
#[async_trait]
pub trait Pms: Send + Sync {
    /// The product with this ISBN and its work, or `None` when Consonance has no such product.
    async fn title_by_isbn(&self, isbn: &Isbn13) -> Result<Option<TitleFacts>, SystemError>;
    /// The title and its work's schedule (stage, contract, production runs): the flow
    /// processor's one title read, which requests and readiness then use. In one read where the
    /// system can (Consonance: `Product.work`); by default the two reads.
    async fn title_and_schedule_by_isbn(&self, isbn: &Isbn13) -> Result<Option<TitleRead>, SystemError> {
        let Some(title) = self.title_by_isbn(isbn).await? else { return Ok(None) };
        let schedule = self.work_schedule(title.work_id).await?;
        Ok(Some(TitleRead { title, schedule, resources: None }))
    }
    /// Every product (as a title) of a work.
    async fn titles_of_work(&self, work_id: WorkId) -> Result<Vec<TitleFacts>, SystemError>;
    /// Creates the resource unless one carrying `dedupe_marker` already exists on the work.
    /// Safe to call again after a timeout.
    async fn ensure_resource(&self, request: &ResourceRequest) -> Result<EnsuredResource, SystemError>;
    /// Sends the file of a resource created for upload (then the follow-up step the upload
    /// path needs, if the mapping config names one).
    async fn upload(
        &self,
        resource_id: &str,
        upload_url: &str,
        mime_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), SystemError>;
    /// Creates the web links of `request` on the products that lack them; returns their
    /// [`web_links_resource_id`]. Safe to call again after a timeout (it looks first).
    async fn ensure_web_links(&self, request: &WebLinkRequest) -> Result<String, SystemError>;
    /// One page of works changed on or after `since` (Consonance `changedSince`, keyset paging
    /// by id with `after`); an empty page ends the feed.
    async fn works_changed_since(
        &self,
        since: NaiveDate,
        after: Option<i64>,
    ) -> Result<Vec<WorkChange>, SystemError>;
    /// Ids of the supporting resources a work has now, and of its products' web links to asset
    /// files grouped as [`web_links_resource_id`]s (one per link URL).
    async fn resource_ids_of_work(&self, work_id: WorkId) -> Result<Vec<String>, SystemError>;
    /// [`Pms::resource_ids_of_work`] of several works, in the order asked; the Consonance
    /// adapter asks for them in one query. Default: one work at a time.
    async fn resource_ids_of_works(&self, works: &[WorkId]) -> Result<Vec<Vec<String>>, SystemError> {
        let mut out = Vec::with_capacity(works.len());
        for work in works {
            out.push(self.resource_ids_of_work(*work).await?);
        }
        Ok(out)
    }
    /// Deletes a resource (or the web links of a `weblink:` id); one already gone counts as
    /// deleted.
    async fn delete_resource(&self, resource_id: &str) -> Result<(), SystemError>;
    /// Deletes the work's supporting resources whose caption carries `[marker_prefix...`;
    /// returns how many went.
    async fn delete_resources_marked(
        &self,
        work_id: WorkId,
        marker_prefix: &str,
    ) -> Result<usize, SystemError>;
    /// The work's project stage, contract dates and production runs (milestones).
    async fn work_schedule(&self, work_id: WorkId) -> Result<ScheduleFacts, SystemError>;
    /// Adds a web link (`createWebLink`, ONIX list 73 `role`) to the product with this ISBN
    /// unless the product already has one to `link`. Returns the web link's id. Safe to call
    /// again after a timeout (it looks before it creates).
    async fn ensure_web_link(
        &self,
        isbn: &Isbn13,
        link: &str,
        role: &str,
        note: &str,
    ) -> Result<String, SystemError>;
}
