//! The GraphQL schema subset of Consonance the connector uses, with the real type, field and
//! argument names, so that queries are parsed and validated as the real server would.
//!
//! Sources (schema pages at graphql-schema.consonance.app and the GeneralProducts/consonance-graphql
//! examples): `ProductSearchAttributes{after idEq isbn13Eq isbn13In titleCont changedSince
//! onix21ProductFormCodeIn}`, `WorkSearchAttributes{after idEq contractIdEq changedSince titleEq
//! titleCont imprintIdIn}`, `CreateSupportingResourceInput` (all fields as published),
//! `SupportingResource{id imageRemoteUrl isProcessing delayedJobStatus filename fileSize mimeType
//! productIds caption copyright requiredCredit createdAt}`, `WebLink{id link role}` with `role:
//! ONIXWebsiteRoleCode` whose values are `_00`, `_01`...; `contract(contractSearch:{idEq:})`,
//! `work(workSearch:{idEq:})`, `product(productSearch:{isbn13Eq:})`, `work.productionRuns{deliveryDate}`.
//!
//! UNCONFIRMED, simulator choices (the client keeps them in its query constants and config):
//! the values of `SupportingResourceVariant` and `SupportingResourceStatus` (these follow the
//! connector's example mapping config), the payload field names (`supportingResource`,
//! `presignedUrl`, `webLink`, `success`), `CreateWebLinkInput{productId link role note}`,
//! `WebLink.note`, `Work.contract`, `Product.work`, and string-typed
//! `onixPublishingStatusCode`/`onix21ProductFormCode`/`projectStage`.

use super::state::{
    ContractRec, NewResource, ProductFilter, ProductRec, ResourceRec, Shared, StateError, WebLinkRec,
    WorkFilter, WorkRec,
};
use async_graphql::{
    Context, EmptySubscription, Enum, ErrorExtensions, InputObject, InputType, InputValueError,
    InputValueResult, Interface, Name, Object, Result, Scalar, ScalarType, Schema, SimpleObject, Value,
};
use chrono::{DateTime, NaiveDate, Utc};

pub type ConsonanceSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Where presigned upload URLs point (the simulator's own base URL).
#[derive(Clone)]
pub struct UploadBase(pub String);

pub fn build(shared: Shared, upload_base: String) -> ConsonanceSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(shared)
        .data(UploadBase(upload_base))
        .limit_depth(16)
        .limit_recursive_depth(32)
        .finish()
}

fn state_error(e: StateError) -> async_graphql::Error {
    match &e {
        StateError::NotFound(_) => e.extend_with(|_, ext| ext.set("code", "NOT_FOUND")),
        StateError::Invalid(_) => e.extend_with(|_, ext| ext.set("code", "VALIDATION")),
    }
}

/// The name of a GraphQL enum value (`Value::Enum`) as a plain string.
pub fn enum_name<T: InputType>(v: &T) -> String {
    match v.to_value() {
        Value::Enum(n) => n.to_string(),
        other => other.to_string(),
    }
}

pub fn enum_parse<T: InputType>(s: &str) -> Option<T> {
    T::parse(Some(Value::Enum(Name::new(s)))).ok()
}

// ---------------------------------------------------------------------------------------------
// Scalars

#[derive(Debug, Clone, Copy)]
pub struct Iso8601Date(pub NaiveDate);

#[Scalar(name = "ISO8601Date")]
impl ScalarType for Iso8601Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Iso8601Date)
                .map_err(|_| InputValueError::custom(format!("{s:?} is not an ISO 8601 date (YYYY-MM-DD)"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Iso8601DateTime(pub DateTime<Utc>);

#[Scalar(name = "ISO8601DateTime")]
impl ScalarType for Iso8601DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .map(|d| Iso8601DateTime(d.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom(format!("{s:?} is not an ISO 8601 date-time"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

fn parse_url<T: InputType>(value: Value, wrap: fn(String) -> T) -> InputValueResult<T> {
    match &value {
        Value::String(s) => match url::Url::parse(s) {
            Ok(_) => Ok(wrap(s.clone())),
            Err(e) => Err(InputValueError::custom(format!("{s:?} is not a valid URL: {e}"))),
        },
        _ => Err(InputValueError::expected_type(value)),
    }
}

#[derive(Debug, Clone)]
pub struct Url(pub String);

#[Scalar(name = "URL")]
impl ScalarType for Url {
    fn parse(value: Value) -> InputValueResult<Self> {
        parse_url(value, Url)
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

#[derive(Debug, Clone)]
pub struct Uri(pub String);

#[Scalar(name = "URI")]
impl ScalarType for Uri {
    fn parse(value: Value) -> InputValueResult<Self> {
        parse_url(value, Uri)
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Enums

/// UNCONFIRMED values (Consonance does not publish them); these match config/mapping.example.toml.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "SupportingResourceVariant")]
pub enum SupportingResourceVariant {
    #[graphql(name = "front_cover")]
    FrontCover,
    #[graphql(name = "back_cover")]
    BackCover,
    #[graphql(name = "spine")]
    Spine,
    #[graphql(name = "full_cover")]
    FullCover,
    #[graphql(name = "author_image")]
    AuthorImage,
    #[graphql(name = "interior")]
    Interior,
    #[graphql(name = "marketing_banner")]
    MarketingBanner,
    #[graphql(name = "marketing_social")]
    MarketingSocial,
    #[graphql(name = "trailer")]
    Trailer,
    #[graphql(name = "audio_sample")]
    AudioSample,
    #[graphql(name = "other")]
    Other,
}

/// UNCONFIRMED values ("the point the resource is at along its lifecycle e.g. draft, approved").
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "SupportingResourceStatus")]
pub enum SupportingResourceStatus {
    #[graphql(name = "draft")]
    Draft,
    #[graphql(name = "approved")]
    Approved,
    #[graphql(name = "archived")]
    Archived,
}

/// ONIX code list 154 as a GraphQL enum, in Consonance's `_NN` style.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ONIXContentAudienceCode")]
pub enum OnixContentAudienceCode {
    #[graphql(name = "_00")]
    Unrestricted,
    #[graphql(name = "_01")]
    Restricted,
    #[graphql(name = "_02")]
    Booktrade,
    #[graphql(name = "_03")]
    EndCustomers,
    #[graphql(name = "_04")]
    Librarians,
    #[graphql(name = "_05")]
    Teachers,
    #[graphql(name = "_06")]
    Students,
    #[graphql(name = "_07")]
    Press,
}

/// ONIX code list 73 (website role), as published on the ONIXWebsiteRoleCode schema page (subset).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ONIXWebsiteRoleCode")]
pub enum OnixWebsiteRoleCode {
    #[graphql(name = "_00")]
    Unspecified,
    #[graphql(name = "_01")]
    PublisherCorporate,
    #[graphql(name = "_02")]
    PublisherWork,
    #[graphql(name = "_06")]
    ContributorOwn,
    #[graphql(name = "_10")]
    ContributorWork,
    #[graphql(name = "_12")]
    ThirdPartyWork,
    #[graphql(name = "_17")]
    PublisherB2b,
    #[graphql(name = "_18")]
    PublisherB2c,
    #[graphql(name = "_27")]
    CoverMaterial,
    #[graphql(name = "_28")]
    SampleContent,
    #[graphql(name = "_29")]
    FullContent,
    #[graphql(name = "_30")]
    OtherCommentary,
}

// ---------------------------------------------------------------------------------------------
// Inputs

#[derive(InputObject, Default)]
#[graphql(name = "WorkSearchAttributes")]
pub struct WorkSearchAttributes {
    /// Where the work's internal ID is greater than the value.
    pub after: Option<i64>,
    pub id_eq: Option<i64>,
    pub contract_id_eq: Option<i64>,
    pub changed_since: Option<Iso8601Date>,
    pub title_eq: Option<String>,
    pub title_cont: Option<String>,
    pub imprint_id_in: Option<Vec<i64>>,
}

impl WorkSearchAttributes {
    fn filter(&self) -> WorkFilter {
        WorkFilter {
            id_eq: self.id_eq,
            after: self.after,
            changed_since: self.changed_since.map(|d| d.0),
            contract_id_eq: self.contract_id_eq,
            title_eq: self.title_eq.clone(),
            title_cont: self.title_cont.clone(),
            imprint_id_in: self.imprint_id_in.clone(),
        }
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "ProductSearchAttributes")]
pub struct ProductSearchAttributes {
    /// Where the product's internal ID is greater than the value.
    pub after: Option<i64>,
    pub id_eq: Option<i64>,
    pub isbn13_eq: Option<String>,
    pub isbn13_in: Option<Vec<String>>,
    pub title_cont: Option<String>,
    pub changed_since: Option<Iso8601Date>,
    pub onix21_product_form_code_in: Option<Vec<String>>,
}

impl ProductSearchAttributes {
    fn filter(&self) -> ProductFilter {
        ProductFilter {
            id_eq: self.id_eq,
            after: self.after,
            changed_since: self.changed_since.map(|d| d.0),
            isbn13_eq: self.isbn13_eq.clone(),
            isbn13_in: self.isbn13_in.clone(),
            title_cont: self.title_cont.clone(),
            product_forms: self.onix21_product_form_code_in.clone(),
        }
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "ContractSearchAttributes")]
pub struct ContractSearchAttributes {
    pub id_eq: Option<i64>,
}

#[derive(InputObject)]
#[graphql(name = "CreateSupportingResourceInput")]
pub struct CreateSupportingResourceInput {
    pub client_mutation_id: Option<String>,
    pub work_id: i64,
    pub copyright: Option<String>,
    pub required_credit: Option<String>,
    pub caption: Option<String>,
    pub image_remote_url: Option<Url>,
    pub resource_file_name: Option<String>,
    pub status: Option<SupportingResourceStatus>,
    pub resource_variant: Option<SupportingResourceVariant>,
    pub onix_content_audience_code: Option<OnixContentAudienceCode>,
    pub product_ids: Option<Vec<i64>>,
    pub link_to_all_products: Option<bool>,
    pub unlink_previous: Option<bool>,
}

#[derive(InputObject)]
#[graphql(name = "DeleteSupportingResourceInput")]
pub struct DeleteSupportingResourceInput {
    pub client_mutation_id: Option<String>,
    pub id: i64,
}

#[derive(InputObject)]
#[graphql(name = "CreateWebLinkInput")]
pub struct CreateWebLinkInput {
    pub client_mutation_id: Option<String>,
    pub product_id: i64,
    pub link: Url,
    pub role: OnixWebsiteRoleCode,
    pub note: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "DeleteWebLinkInput")]
pub struct DeleteWebLinkInput {
    pub client_mutation_id: Option<String>,
    pub id: i64,
}

// ---------------------------------------------------------------------------------------------
// Objects

#[derive(SimpleObject, Clone)]
pub struct Imprint {
    pub id: i64,
    pub name: String,
}

#[derive(SimpleObject, Clone)]
pub struct Isbn {
    pub isbn13: String,
    pub isbn10: Option<String>,
    pub isbn_with_dashes: String,
}

fn isbn_of(isbn13: &str) -> Isbn {
    // Hyphenation needs the ISBN range tables; the simulator splits 3-1-5-3-1 (its own block).
    let d = isbn13;
    let dashed = if d.len() == 13 && d.is_ascii() {
        format!("{}-{}-{}-{}-{}", &d[..3], &d[3..4], &d[4..9], &d[9..12], &d[12..])
    } else {
        d.to_string()
    };
    Isbn { isbn13: d.to_string(), isbn10: None, isbn_with_dashes: dashed }
}

#[derive(SimpleObject, Clone)]
pub struct WebLink {
    pub id: i64,
    pub link: Url,
    pub role: Option<OnixWebsiteRoleCode>,
    pub note: Option<String>,
}

impl From<WebLinkRec> for WebLink {
    fn from(l: WebLinkRec) -> Self {
        WebLink { id: l.id, link: Url(l.link), role: enum_parse(&l.role), note: l.note }
    }
}

#[derive(SimpleObject, Clone)]
pub struct SupportingResource {
    pub id: i64,
    pub image_remote_url: Option<Uri>,
    pub is_processing: bool,
    pub delayed_job_status: Option<String>,
    pub filename: Option<String>,
    pub file_size: Option<i64>,
    pub mime_type: Option<String>,
    pub product_ids: Vec<i64>,
    pub caption: Option<String>,
    pub copyright: Option<String>,
    pub required_credit: Option<String>,
    pub created_at: Iso8601DateTime,
    pub status: Option<SupportingResourceStatus>,
    pub resource_variant: Option<SupportingResourceVariant>,
    pub onix_content_audience_code: Option<OnixContentAudienceCode>,
}

impl From<ResourceRec> for SupportingResource {
    fn from(r: ResourceRec) -> Self {
        SupportingResource {
            id: r.id,
            image_remote_url: r.image_remote_url.map(Uri),
            is_processing: r.is_processing,
            delayed_job_status: None,
            filename: r.filename,
            file_size: r.file_size,
            mime_type: r.mime_type,
            product_ids: r.product_ids.into_iter().collect(),
            caption: r.caption,
            copyright: r.copyright,
            required_credit: r.required_credit,
            created_at: Iso8601DateTime(r.created_at),
            status: r.status.as_deref().and_then(enum_parse),
            resource_variant: r.resource_variant.as_deref().and_then(enum_parse),
            onix_content_audience_code: r.onix_content_audience_code.as_deref().and_then(enum_parse),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct LicensedRight {
    pub id: i64,
    pub right_type: String,
}

#[derive(SimpleObject, Clone)]
pub struct DeliveryDate {
    pub id: i64,
    pub date_due: Option<Iso8601Date>,
    pub deliverable_type: Option<String>,
    pub slipped_date: Option<Iso8601Date>,
    pub percentage_of_total: Option<f64>,
}

#[derive(SimpleObject, Clone)]
pub struct ProductionRun {
    pub id: i64,
    pub name: Option<String>,
    pub delivery_date: Option<Iso8601Date>,
    pub product_ids: Vec<i64>,
}

pub struct Contract(pub ContractRec);

#[Object]
impl Contract {
    async fn id(&self) -> i64 {
        self.0.id
    }
    async fn ms_delivery_date(&self) -> Option<Iso8601Date> {
        self.0.ms_delivery_date.map(Iso8601Date)
    }
    async fn revised_ms_delivery_date(&self) -> Option<Iso8601Date> {
        self.0.revised_ms_delivery_date.map(Iso8601Date)
    }
    async fn actual_ms_delivery_date(&self) -> Option<Iso8601Date> {
        self.0.actual_ms_delivery_date.map(Iso8601Date)
    }
    async fn licensed_rights(&self) -> Vec<LicensedRight> {
        self.0
            .licensed_rights
            .iter()
            .map(|r| LicensedRight { id: r.id, right_type: r.right_type.clone() })
            .collect()
    }
    async fn delivery_dates(&self) -> Vec<DeliveryDate> {
        self.0
            .delivery_dates
            .iter()
            .map(|d| DeliveryDate {
                id: d.id,
                date_due: Some(Iso8601Date(d.date_due)),
                deliverable_type: Some(d.deliverable_type.clone()),
                slipped_date: d.slipped_date.map(Iso8601Date),
                percentage_of_total: None,
            })
            .collect()
    }
    async fn work(&self, ctx: &Context<'_>) -> Result<Option<Work>> {
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.works.get(&self.0.work_id).cloned().map(Work))
    }
}

pub struct Work(pub WorkRec);

#[Object]
impl Work {
    async fn id(&self) -> i64 {
        self.0.id
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn subtitle(&self) -> Option<&str> {
        self.0.subtitle.as_deref()
    }
    async fn imprint(&self) -> Imprint {
        Imprint { id: self.0.imprint_id, name: self.0.imprint.clone() }
    }
    async fn project_stage(&self) -> &str {
        &self.0.project_stage
    }
    async fn contributor_pretty_list(&self) -> String {
        self.0.contributor_pretty_list()
    }
    async fn products(&self, ctx: &Context<'_>) -> Result<Vec<Product>> {
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.products_of_work(self.0.id).into_iter().map(Product::from).collect())
    }
    async fn supporting_resources(&self, ctx: &Context<'_>) -> Result<Vec<SupportingResource>> {
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.resources_of_work(self.0.id).into_iter().map(SupportingResource::from).collect())
    }
    async fn contract(&self, ctx: &Context<'_>) -> Result<Option<Contract>> {
        let st = ctx.data::<Shared>()?.lock();
        Ok(self.0.contract_id.and_then(|c| st.contracts.get(&c)).cloned().map(Contract))
    }
    async fn production_runs(&self) -> Vec<ProductionRun> {
        match self.0.production_run_delivery_date {
            Some(d) => vec![ProductionRun {
                id: self.0.id * 10,
                name: Some("First printing".into()),
                delivery_date: Some(Iso8601Date(d)),
                product_ids: self.0.product_ids.clone(),
            }],
            None => Vec::new(),
        }
    }
}

/// The fields every Product implementation shares; one macro writes the three types.
macro_rules! product_type {
    ($name:ident) => {
        pub struct $name(pub ProductRec);

        #[Object]
        impl $name {
            async fn id(&self) -> i64 {
                self.0.id
            }
            async fn isbn(&self) -> Option<Isbn> {
                self.0.isbn13.as_deref().map(isbn_of)
            }
            async fn full_title(&self) -> Option<String> {
                Some(self.0.full_title.clone())
            }
            async fn publication_date(&self) -> Option<Iso8601Date> {
                self.0.publication_date.map(Iso8601Date)
            }
            async fn planned_publication_date(&self) -> Option<Iso8601Date> {
                self.0.planned_publication_date.map(Iso8601Date)
            }
            async fn onix_publishing_status_code(&self) -> Option<String> {
                Some(self.0.publishing_status.clone())
            }
            async fn onix21_product_form_code(&self) -> Option<String> {
                Some(self.0.product_form.clone())
            }
            async fn in_house_format(&self) -> Option<String> {
                Some(self.0.in_house_format.clone())
            }
            async fn for_sale_country_codes(&self) -> Vec<String> {
                self.0.for_sale.clone()
            }
            async fn not_for_sale_country_codes(&self) -> Vec<String> {
                self.0.not_for_sale.clone()
            }
            async fn is_for_sale_worldwide(&self) -> bool {
                self.0.for_sale_worldwide
            }
            async fn web_links(&self, ctx: &Context<'_>) -> Result<Vec<WebLink>> {
                let st = ctx.data::<Shared>()?.lock();
                Ok(st.web_links_of_product(self.0.id).into_iter().map(WebLink::from).collect())
            }
            async fn supporting_resources(&self, ctx: &Context<'_>) -> Result<Vec<SupportingResource>> {
                let st = ctx.data::<Shared>()?.lock();
                Ok(st.resources_of_product(self.0.id).into_iter().map(SupportingResource::from).collect())
            }
            async fn work(&self, ctx: &Context<'_>) -> Result<Option<Work>> {
                let st = ctx.data::<Shared>()?.lock();
                Ok(st.works.get(&self.0.work_id).cloned().map(Work))
            }
        }
    };
}

product_type!(PhysicalBookProduct);
product_type!(ElectronicBookProduct);
product_type!(ElectronicAudioProduct);

// The derive's repeated `field(...)` entries look like duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface)]
#[graphql(
    name = "Product",
    field(name = "id", ty = "i64"),
    field(name = "isbn", ty = "Option<Isbn>"),
    field(name = "full_title", ty = "Option<String>"),
    field(name = "publication_date", ty = "Option<Iso8601Date>"),
    field(name = "planned_publication_date", ty = "Option<Iso8601Date>"),
    field(name = "onix_publishing_status_code", ty = "Option<String>"),
    field(name = "onix21_product_form_code", ty = "Option<String>"),
    field(name = "in_house_format", ty = "Option<String>"),
    field(name = "for_sale_country_codes", ty = "Vec<String>"),
    field(name = "not_for_sale_country_codes", ty = "Vec<String>"),
    field(name = "is_for_sale_worldwide", ty = "bool"),
    field(name = "web_links", ty = "Vec<WebLink>"),
    field(name = "supporting_resources", ty = "Vec<SupportingResource>"),
    field(name = "work", ty = "Option<Work>")
)]
pub enum Product {
    PhysicalBookProduct(PhysicalBookProduct),
    ElectronicBookProduct(ElectronicBookProduct),
    ElectronicAudioProduct(ElectronicAudioProduct),
}

impl From<ProductRec> for Product {
    fn from(p: ProductRec) -> Self {
        match p.product_form.as_bytes().first() {
            Some(b'D' | b'E') => Product::ElectronicBookProduct(ElectronicBookProduct(p)),
            Some(b'A') => Product::ElectronicAudioProduct(ElectronicAudioProduct(p)),
            _ => Product::PhysicalBookProduct(PhysicalBookProduct(p)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Roots

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// One work, or null when none matches.
    async fn work(
        &self,
        ctx: &Context<'_>,
        work_search: Option<WorkSearchAttributes>,
    ) -> Result<Option<Work>> {
        let ws = work_search.unwrap_or_default().filter();
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.works_page(&ws, None, false).into_iter().next().map(Work))
    }

    /// Works by id, one server-sized page at a time (`workSearch.after` for the next page).
    async fn works(
        &self,
        ctx: &Context<'_>,
        work_search: Option<WorkSearchAttributes>,
        product_search: Option<ProductSearchAttributes>,
    ) -> Result<Vec<Work>> {
        let ws = work_search.unwrap_or_default().filter();
        let ps = product_search.map(|p| p.filter());
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.works_page(&ws, ps.as_ref(), true).into_iter().map(Work).collect())
    }

    async fn product(
        &self,
        ctx: &Context<'_>,
        product_search: Option<ProductSearchAttributes>,
        work_search: Option<WorkSearchAttributes>,
    ) -> Result<Option<Product>> {
        let ps = product_search.unwrap_or_default().filter();
        let ws = work_search.map(|w| w.filter());
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.products_page(&ps, ws.as_ref(), false).into_iter().next().map(Product::from))
    }

    /// Products by id, one server-sized page at a time (`productSearch.after` for the next page).
    async fn products(
        &self,
        ctx: &Context<'_>,
        product_search: Option<ProductSearchAttributes>,
        work_search: Option<WorkSearchAttributes>,
    ) -> Result<Vec<Product>> {
        let ps = product_search.unwrap_or_default().filter();
        let ws = work_search.map(|w| w.filter());
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.products_page(&ps, ws.as_ref(), true).into_iter().map(Product::from).collect())
    }

    async fn contract(
        &self,
        ctx: &Context<'_>,
        contract_search: Option<ContractSearchAttributes>,
    ) -> Result<Option<Contract>> {
        let id = contract_search.unwrap_or_default().id_eq;
        let st = ctx.data::<Shared>()?.lock();
        Ok(st.contracts.values().find(|c| id.is_none_or(|id| c.id == id)).cloned().map(Contract))
    }
}

#[derive(SimpleObject)]
pub struct CreateSupportingResourcePayload {
    pub client_mutation_id: Option<String>,
    pub supporting_resource: Option<SupportingResource>,
    /// Where to PUT the file when the resource was created with `resourceFileName`.
    pub presigned_url: Option<String>,
}

#[derive(SimpleObject)]
pub struct DeleteSupportingResourcePayload {
    pub client_mutation_id: Option<String>,
    pub success: bool,
}

#[derive(SimpleObject)]
pub struct CreateWebLinkPayload {
    pub client_mutation_id: Option<String>,
    pub web_link: Option<WebLink>,
}

#[derive(SimpleObject)]
pub struct DeleteWebLinkPayload {
    pub client_mutation_id: Option<String>,
    pub success: bool,
}

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    async fn create_supporting_resource(
        &self,
        ctx: &Context<'_>,
        input: CreateSupportingResourceInput,
    ) -> Result<CreateSupportingResourcePayload> {
        let new = NewResource {
            work_id: input.work_id,
            image_remote_url: input.image_remote_url.map(|u| u.0),
            resource_file_name: input.resource_file_name,
            status: input.status.as_ref().map(enum_name),
            resource_variant: input.resource_variant.as_ref().map(enum_name),
            onix_content_audience_code: input.onix_content_audience_code.as_ref().map(enum_name),
            product_ids: input.product_ids,
            link_to_all_products: input.link_to_all_products.unwrap_or(false),
            unlink_previous: input.unlink_previous.unwrap_or(false),
            caption: input.caption,
            copyright: input.copyright,
            required_credit: input.required_credit,
        };
        let needs_upload = new.resource_file_name.is_some();
        let rec = ctx.data::<Shared>()?.lock().create_resource(new).map_err(state_error)?;
        let presigned_url = needs_upload.then(|| {
            let base = ctx.data::<UploadBase>().map(|b| b.0.clone()).unwrap_or_default();
            format!("{base}/uploads/supporting-resources/{}?X-Amz-Signature=sim", rec.id)
        });
        Ok(CreateSupportingResourcePayload {
            client_mutation_id: input.client_mutation_id,
            supporting_resource: Some(rec.into()),
            presigned_url,
        })
    }

    async fn delete_supporting_resource(
        &self,
        ctx: &Context<'_>,
        input: DeleteSupportingResourceInput,
    ) -> Result<DeleteSupportingResourcePayload> {
        ctx.data::<Shared>()?.lock().delete_resource(input.id).map_err(state_error)?;
        Ok(DeleteSupportingResourcePayload { client_mutation_id: input.client_mutation_id, success: true })
    }

    async fn create_web_link(
        &self,
        ctx: &Context<'_>,
        input: CreateWebLinkInput,
    ) -> Result<CreateWebLinkPayload> {
        let rec = ctx
            .data::<Shared>()?
            .lock()
            .create_web_link(input.product_id, input.link.0, enum_name(&input.role), input.note)
            .map_err(state_error)?;
        Ok(CreateWebLinkPayload { client_mutation_id: input.client_mutation_id, web_link: Some(rec.into()) })
    }

    async fn delete_web_link(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebLinkInput,
    ) -> Result<DeleteWebLinkPayload> {
        ctx.data::<Shared>()?.lock().delete_web_link(input.id).map_err(state_error)?;
        Ok(DeleteWebLinkPayload { client_mutation_id: input.client_mutation_id, success: true })
    }
}
