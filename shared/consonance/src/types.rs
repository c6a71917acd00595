//! Response and input shapes of the Consonance GraphQL API (camelCase on the wire).
//!
//! Field names follow the schema pages at graphql-schema.consonance.app (Product interface,
//! `SupportingResource`, `WebLink`, `CreateSupportingResourceInput`, `Contract`) and the examples
//! in GeneralProducts/consonance-graphql. Everything optional on the server is optional here, so
//! a missing field never fails a whole page.

use chrono::{DateTime, NaiveDate, Utc};
use connector_core::rights::RightsParseError;
use connector_core::{CountryCode, Isbn13, ProductId, ProductSalesRights, WorkId};
use serde::{Deserialize, Deserializer, Serialize};

/// ONIX code enums come back as `_04` (GraphQL enum names cannot start with a digit, see the
/// ONIXWebsiteRoleCode schema page); some fields are plain strings `04`. Both become `04`.
pub fn onix_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.map(|s| s.strip_prefix('_').map(str::to_string).unwrap_or(s)))
}

/// `inHouseFormat` is an object `{name code}` in the official examples
/// (`examples/sample_custom_report.md`); older tenants may answer a string. Either becomes text.
fn name_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Object(o)) => {
            o.get("name").or_else(|| o.get("code")).and_then(|x| x.as_str()).map(str::to_string)
        }
        _ => None,
    })
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Imprint {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Isbn {
    #[serde(default)]
    pub isbn13: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkRef {
    pub id: WorkId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    pub id: WorkId,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub subtitle: Option<String>,
    #[serde(default)]
    pub imprint: Option<Imprint>,
    #[serde(default)]
    pub project_stage: Option<String>,
    #[serde(default)]
    pub contributor_pretty_list: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub products: Vec<Product>,
    /// The work's own supporting resources, those on no product too; only where the document
    /// selects them (the title read by ISBN): `None` when not read.
    #[serde(default)]
    pub supporting_resources: Option<Vec<SupportingResource>>,
}

/// One product (any implementation of the `Product` interface).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: ProductId,
    /// `PhysicalBookProduct`, `ElectronicBookProduct`, `ElectronicAudioProduct`...
    #[serde(rename = "__typename", default)]
    pub typename: Option<String>,
    #[serde(default)]
    pub isbn: Option<Isbn>,
    #[serde(default)]
    pub full_title: Option<String>,
    #[serde(default)]
    pub publication_date: Option<NaiveDate>,
    #[serde(default)]
    pub planned_publication_date: Option<NaiveDate>,
    /// ONIX list 64: `02` forthcoming, `04` active...
    #[serde(default, deserialize_with = "onix_code")]
    pub onix_publishing_status_code: Option<String>,
    /// ONIX 2.1 product form: `BB`, `BC`, `DG`, `AJ`...
    #[serde(default, deserialize_with = "onix_code")]
    pub onix21_product_form_code: Option<String>,
    #[serde(default, deserialize_with = "name_or_text")]
    pub in_house_format: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub for_sale_country_codes: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub not_for_sale_country_codes: Vec<String>,
    #[serde(default)]
    pub is_for_sale_worldwide: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub web_links: Vec<WebLink>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub supporting_resources: Vec<SupportingResource>,
    /// Present on product searches (`products`, `product`); absent when nested in a work.
    #[serde(default)]
    pub work: Option<WorkRef>,
}

impl Product {
    /// The product's ISBN-13, if it has a valid one.
    pub fn isbn13(&self) -> Option<Isbn13> {
        self.isbn.as_ref()?.isbn13.as_deref().and_then(|s| Isbn13::parse(s).ok())
    }

    /// The product's sales rights as the connector's core models them. A country code that is
    /// not ISO 3166-1 alpha-2 is an error naming it (never silently dropped: rights decide where
    /// an asset may be used).
    pub fn sales_rights(&self) -> Result<ProductSalesRights, RightsParseError> {
        let parse = |codes: &[String]| -> Result<_, RightsParseError> {
            codes.iter().filter(|c| !c.trim().is_empty()).map(|c| CountryCode::parse(c)).collect()
        };
        Ok(ProductSalesRights {
            for_sale_worldwide: self.is_for_sale_worldwide.unwrap_or(false),
            for_sale: parse(&self.for_sale_country_codes)?,
            not_for_sale: parse(&self.not_for_sale_country_codes)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebLink {
    pub id: i64,
    pub link: String,
    /// ONIX list 73 code without the enum's leading underscore (`02`, `27`...).
    #[serde(default, deserialize_with = "onix_code")]
    pub role: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A work's supporting resources and its products' web links (the links pass's check).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkResources {
    pub id: WorkId,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub supporting_resources: Vec<SupportingResource>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub products: Vec<ProductWebLinks>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductWebLinks {
    pub id: ProductId,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub web_links: Vec<WebLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportingResource {
    pub id: i64,
    #[serde(default)]
    pub image_remote_url: Option<String>,
    /// The file's URL (official examples select `supportingResources { url caption }`).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub is_processing: bool,
    /// "The mime type of the supporting resource, e.g. image/jpeg" (schema page).
    #[serde(default)]
    pub image_content_type: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub product_ids: Vec<i64>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Enum value as configured (values UNCONFIRMED: see the mapping config).
    #[serde(default)]
    pub resource_variant: Option<String>,
    /// Read only where the tenant's `SupportingResource` has it (UNCONFIRMED on the read type).
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicensedRight {
    pub id: i64,
    #[serde(default)]
    pub right_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDate {
    #[serde(default)]
    pub date_due: Option<NaiveDate>,
    #[serde(default)]
    pub deliverable_type: Option<String>,
    #[serde(default)]
    pub slipped_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub licensed_rights: Vec<LicensedRight>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub delivery_dates: Vec<DeliveryDate>,
    #[serde(default)]
    pub ms_delivery_date: Option<NaiveDate>,
    #[serde(default)]
    pub revised_ms_delivery_date: Option<NaiveDate>,
    #[serde(default)]
    pub actual_ms_delivery_date: Option<NaiveDate>,
}

impl Contract {
    /// The manuscript date that counts: actual, else revised, else planned.
    pub fn effective_ms_delivery_date(&self) -> Option<NaiveDate> {
        self.actual_ms_delivery_date.or(self.revised_ms_delivery_date).or(self.ms_delivery_date)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductionRun {
    pub id: i64,
    #[serde(default)]
    pub delivery_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub product_ids: Vec<i64>,
}

/// A work's schedule: `projectStage`, `contract` and `productionRuns` (see `work_schedule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkSchedule {
    pub id: WorkId,
    #[serde(default)]
    pub project_stage: Option<String>,
    #[serde(default)]
    pub contract: Option<Contract>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub production_runs: Vec<ProductionRun>,
    /// Set by the client when the tenant's schema cannot give the contract (no `Work.contract`).
    #[serde(skip)]
    pub contract_unavailable: Option<String>,
}

/// `CreateSupportingResourceInput` (schema page createsupportingresourceinput). Give exactly one
/// of `image_remote_url` (must be a JPG) or `resource_file_name` (Consonance answers with a
/// presigned URL to upload to), and at most one of `product_ids` or `link_to_all_products`.
/// `status` and `resource_variant` are enum values that Consonance does not publish: they come
/// from the mapping config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSupportingResourceInput {
    pub work_id: WorkId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_remote_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_variant: Option<String>,
    /// In the enum's spelling, e.g. `_00` (unrestricted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onix_content_audience_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_ids: Option<Vec<ProductId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_to_all_products: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlink_previous: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copyright: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_credit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_mutation_id: Option<String>,
}

impl CreateSupportingResourceInput {
    /// An input for `work_id` with nothing else set.
    pub fn new(work_id: WorkId) -> Self {
        CreateSupportingResourceInput {
            work_id,
            image_remote_url: None,
            resource_file_name: None,
            status: None,
            resource_variant: None,
            onix_content_audience_code: None,
            product_ids: None,
            link_to_all_products: None,
            unlink_previous: None,
            caption: None,
            copyright: None,
            required_credit: None,
            client_mutation_id: None,
        }
    }
}

/// What `createSupportingResource` answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSupportingResource {
    pub supporting_resource: SupportingResource,
    /// Where to PUT the file, for a `resourceFileName` resource.
    #[serde(default)]
    pub presigned_url: Option<String>,
    #[serde(default)]
    pub client_mutation_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// REST v4 (consonance.app/docs/product-api/): snake_case, read-only.

/// `"No ISBN"` (and null or empty) mean the product has none.
fn rest_isbn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.filter(|s| {
        let t = s.trim();
        !t.is_empty() && !t.eq_ignore_ascii_case("no isbn")
    }))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestProductsPage {
    pub current_page: u32,
    pub per_page: u32,
    pub total_pages: u32,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub products: Vec<RestProduct>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestProduct {
    pub id: i64,
    #[serde(default)]
    pub work_id: Option<i64>,
    #[serde(default)]
    pub full_title: Option<String>,
    #[serde(default)]
    pub subtitle: Option<String>,
    /// `None` for "No ISBN".
    #[serde(default, deserialize_with = "rest_isbn")]
    pub isbn: Option<String>,
    /// Kept as text: its format is not documented.
    #[serde(default)]
    pub pub_date: Option<String>,
    #[serde(default)]
    pub publishing_status: Option<String>,
    #[serde(default)]
    pub product_form: Option<String>,
    #[serde(default)]
    pub in_house_format: Option<String>,
    /// A name or an object, depending on the tenant.
    #[serde(default)]
    pub imprint: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub weblinks: Vec<serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub prices: Vec<RestPrice>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub supportingresources: Vec<RestSupportingResource>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub rights_not_available_countries: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub all_related_products: Vec<RestRelatedProduct>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestPrice {
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub price_amount: Option<serde_json::Value>,
    #[serde(default)]
    pub price_qualifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestSupportingResource {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub style_urls: Vec<RestStyleUrl>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestStyleUrl {
    pub style: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestRelatedProduct {
    #[serde(default)]
    pub relation_code: Option<String>,
    #[serde(default, deserialize_with = "rest_isbn")]
    pub isbn: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn product_parses_codes_rights_and_nulls() {
        let p: Product = serde_json::from_value(json!({
            "id": 10000, "__typename": "PhysicalBookProduct", "isbn": {"isbn13": "9780306406157"},
            "onixPublishingStatusCode": "_04", "onix21ProductFormCode": "BB",
            "forSaleCountryCodes": null, "notForSaleCountryCodes": ["US", "ca"], "isForSaleWorldwide": true,
            "webLinks": [{"id": 1, "link": "https://x.example", "role": "_02", "note": null}],
            "supportingResources": null, "plannedPublicationDate": "2027-03-01"
        }))
        .unwrap();
        assert_eq!(p.onix_publishing_status_code.as_deref(), Some("04"));
        assert_eq!(p.web_links[0].role.as_deref(), Some("02"));
        assert_eq!(p.isbn13().unwrap().as_str(), "9780306406157");
        let r = p.sales_rights().unwrap();
        assert!(r.for_sale_worldwide);
        assert!(!r.is_for_sale_in(CountryCode::parse("CA").unwrap()));
        assert!(r.is_for_sale_in(CountryCode::parse("GB").unwrap()));
        let bad = Product { not_for_sale_country_codes: vec!["USA".into()], ..p };
        assert!(bad.sales_rights().unwrap_err().to_string().contains("USA"));
    }

    #[test]
    fn rest_no_isbn_is_none() {
        let page: RestProductsPage = serde_json::from_value(json!({
            "current_page": 1, "per_page": 2, "total_pages": 1,
            "products": [{"id": 1, "isbn": "No ISBN", "all_related_products": [{"relation_code": "06", "isbn": "No ISBN"}]},
                          {"id": 2, "isbn": "9780306406157"}]
        }))
        .unwrap();
        assert_eq!(page.products[0].isbn, None);
        assert_eq!(page.products[0].all_related_products[0].isbn, None);
        assert_eq!(page.products[1].isbn.as_deref(), Some("9780306406157"));
    }

    #[test]
    fn input_serialises_camel_case_without_nulls() {
        let mut i = CreateSupportingResourceInput::new(WorkId(7));
        i.product_ids = Some(vec![ProductId(70)]);
        i.unlink_previous = Some(true);
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v, json!({"workId": 7, "productIds": [70], "unlinkPrevious": true}));
    }
}
