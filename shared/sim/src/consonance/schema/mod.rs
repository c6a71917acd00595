//! The simulated Consonance GraphQL schema: the subset the connector uses, with the names and
//! types the public evidence shows, built at start-up (async-graphql's dynamic schema) so a
//! [`SchemaVariant`] can add the fields the evidence disputes, drop optional ones, or carry a
//! tenant's own enum values.
//!
//! Sources (schema pages at graphql-schema.consonance.app, one per type, and the
//! GeneralProducts/consonance-graphql examples):
//! - `ProductSearchAttributes` and `WorkSearchAttributes`: every attribute on their pages;
//!   `onix21ProductFormCodeIn` is `[ONIX21ProductFormCode!]`.
//! - `SupportingResource`: `imageContentType` (not `mimeType`), `url`, `height`, `aspectRatio`,
//!   `copyrightHolder`, `onixContentAudienceCode: ONIXContentAudienceCode!`, `productIds: [Int!]!`.
//! - `CreateSupportingResourceInput`: as published (`imageRemoteUrl` "Must be a JPG file",
//!   `resourceFileName` "The name of the JPG to upload").
//! - `WebLink{id link: URL! role: ONIXWebsiteRoleCode!}`; `note` only in the
//!   [`SchemaVariant::web_link_note`] variant (one official example selects it, the page does not
//!   show it).
//! - `Contract.work`, `WorkSearchAttributes.contractIdEq`, `contract(contractSearch:{idEq})`;
//!   `Work.contract` only in the [`SchemaVariant::work_contract`] variant (no source shows it).
//! - `Product.inHouseFormat{name code}` is an object (`examples/sample_custom_report.md`).
//! - Mutation payloads carry `errors { field message }` (the update examples in the
//!   repository's history select it).
//!
//! UNCONFIRMED, the simulator's choices: the values of `SupportingResourceVariant` and
//! `SupportingResourceStatus` (configurable: [`SchemaVariant::resource_variants`]); payload field
//! names `supportingResource`, `presignedUrl`, `webLink`, `success`; the payload error type's
//! name; `DeleteSupportingResourceInput{id}`, `CreateWebLinkInput{productId link role}`,
//! `DeleteWebLinkInput{id}`; `projectStage`, `onixPublishingStatusCode` as strings.

pub mod codes;
mod mutations;
mod objects;

use super::state::{ProductFilter, Shared, WorkFilter};
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar, Schema,
    TypeRef,
};
use async_graphql::{Name, Value};
use chrono::NaiveDate;
use serde::Deserialize;
use std::any::Any;
use std::collections::BTreeSet;

pub type ConsonanceSchema = Schema;

/// Where presigned upload URLs point (the simulator's own base URL).
#[derive(Clone)]
pub struct UploadBase(pub String);

/// Which schema the simulated tenant has. The default is as strict as the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVariant {
    /// `WebLink.note` (and `CreateWebLinkInput.note`).
    pub web_link_note: bool,
    /// `Work.contract`.
    pub work_contract: bool,
    /// `SupportingResource.status` readable (the input has `status`; the read type's page is
    /// cut short after `resourceVariant`).
    pub resource_status_field: bool,
    /// The tenant's `SupportingResourceVariant` values.
    pub resource_variants: Vec<String>,
    /// The tenant's `SupportingResourceStatus` values.
    pub resource_statuses: Vec<String>,
    /// Fields left out, as `Type.field` (`Product.x` applies to every product type).
    pub hidden_fields: BTreeSet<String>,
    /// Answers introspection queries.
    pub introspection: bool,
    /// A query-complexity limit (graphql-ruby's `max_complexity`: one point per field
    /// selected); Consonance publishes none, so by default there is none.
    pub max_complexity: Option<usize>,
}

impl Default for SchemaVariant {
    fn default() -> Self {
        // The example mapping config's values (config/mapping.example.toml).
        let variants = [
            "front_cover",
            "back_cover",
            "spine",
            "full_cover",
            "author_image",
            "interior",
            "marketing_banner",
            "marketing_social",
            "other",
        ];
        SchemaVariant {
            web_link_note: false,
            work_contract: false,
            resource_status_field: false,
            resource_variants: variants.iter().map(|s| s.to_string()).collect(),
            resource_statuses: ["draft", "approved", "archived"].iter().map(|s| s.to_string()).collect(),
            hidden_fields: BTreeSet::new(),
            introspection: true,
            max_complexity: None,
        }
    }
}

impl SchemaVariant {
    /// The variant with every disputed field present (`WebLink.note`, `Work.contract`,
    /// `SupportingResource.status`).
    pub fn permissive() -> Self {
        SchemaVariant {
            web_link_note: true,
            work_contract: true,
            resource_status_field: true,
            ..Default::default()
        }
    }

    fn hides(&self, type_name: &str, field: &str) -> bool {
        self.hidden_fields.contains(&format!("{type_name}.{field}"))
    }
}

/// An object type whose fields a variant can leave out.
pub(super) struct Obj<'v> {
    obj: Object,
    /// The name fields are hidden under (`Product` for the product types).
    hide_as: &'static str,
    variant: &'v SchemaVariant,
}

impl<'v> Obj<'v> {
    fn new(name: &'static str, variant: &'v SchemaVariant) -> Self {
        Obj { obj: Object::new(name), hide_as: name, variant }
    }
    fn hidden_as(mut self, name: &'static str) -> Self {
        self.hide_as = name;
        self
    }
    fn field(mut self, name: &str, f: Field) -> Self {
        if !self.variant.hides(self.hide_as, name) {
            self.obj = self.obj.field(f);
        }
        self
    }
    fn implement(mut self, interface: &str) -> Self {
        self.obj = self.obj.implement(interface);
        self
    }
    fn done(self) -> Object {
        self.obj
    }
}

/// A leaf field read from the parent record `T`.
pub(super) fn leaf<T: Any + Send + Sync>(
    name: &str,
    ty: TypeRef,
    get: impl Fn(&T) -> Option<Value> + Send + Sync + 'static,
) -> Field {
    Field::new(name, ty, move |ctx: ResolverContext<'_>| match ctx.parent_value.try_downcast_ref::<T>() {
        Ok(t) => FieldFuture::Value(get(t).map(FieldValue::value)),
        Err(e) => FieldFuture::new(async move { Err::<Option<Value>, _>(e) }),
    })
}

/// A field resolved from the parent record and the tenant's state (objects, lists).
pub(super) fn with_state<T: Any + Send + Sync>(
    name: &str,
    ty: TypeRef,
    get: impl Fn(&T, &super::state::State) -> Option<FieldValue<'static>> + Send + Sync + 'static,
) -> Field {
    Field::new(name, ty, move |ctx: ResolverContext<'_>| {
        let result = (|| -> async_graphql::Result<Option<FieldValue<'static>>> {
            let t = ctx.parent_value.try_downcast_ref::<T>()?;
            let st = ctx.data::<Shared>()?.lock();
            Ok(get(t, &st))
        })();
        match result {
            Ok(v) => FieldFuture::Value(v),
            Err(e) => FieldFuture::new(async move { Err::<Option<Value>, _>(e) }),
        }
    })
}

pub(super) fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}
pub(super) fn enum_value(s: &str) -> Value {
    Value::Enum(Name::new(s))
}
pub(super) fn date(d: NaiveDate) -> Value {
    string(d.format("%Y-%m-%d").to_string())
}
pub(super) fn int_list(ids: impl IntoIterator<Item = i64>) -> Value {
    Value::List(ids.into_iter().map(Value::from).collect())
}
pub(super) fn string_list(v: &[String]) -> Value {
    Value::List(v.iter().cloned().map(Value::String).collect())
}

// ---------------------------------------------------------------------------------------------
// Scalars, enums, inputs

fn is_date(v: &Value) -> bool {
    matches!(v, Value::String(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
}
fn is_date_time(v: &Value) -> bool {
    matches!(v, Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok())
}
fn is_url(v: &Value) -> bool {
    matches!(v, Value::String(s) if url::Url::parse(s).is_ok())
}

fn enumeration(name: &str, values: impl IntoIterator<Item = impl AsRef<str>>) -> Enum {
    values.into_iter().fold(Enum::new(name), |e, v| e.item(v.as_ref()))
}

fn input(name: &str, fields: &[(&str, TypeRef)]) -> InputObject {
    fields.iter().fold(InputObject::new(name), |o, (f, ty)| o.field(InputValue::new(*f, ty.clone())))
}

fn t(name: &str) -> TypeRef {
    TypeRef::named(name)
}
fn nn(name: &str) -> TypeRef {
    TypeRef::named_nn(name)
}
fn nn_list(name: &str) -> TypeRef {
    TypeRef::named_nn_list(name)
}
pub(super) fn nn_list_nn(name: &str) -> TypeRef {
    TypeRef::named_nn_list_nn(name)
}

const INT: &str = TypeRef::INT;
const STRING: &str = TypeRef::STRING;
const BOOLEAN: &str = TypeRef::BOOLEAN;
const DATE: &str = "ISO8601Date";

fn search_inputs() -> [InputObject; 3] {
    let work = input(
        "WorkSearchAttributes",
        &[
            ("after", t(INT)),
            ("idEq", t(INT)),
            ("contractIdEq", t(INT)),
            ("changedSince", t(DATE)),
            ("titleEq", t(STRING)),
            ("titleCont", t(STRING)),
            ("subtitleEq", t(STRING)),
            ("subtitleCont", t(STRING)),
            ("subtitlePresent", t(BOOLEAN)),
            ("imprintIdIn", nn_list(INT)),
        ],
    );
    let product = input(
        "ProductSearchAttributes",
        &[
            ("after", t(INT)),
            ("idEq", t(INT)),
            ("isbn13Eq", t(STRING)),
            ("isbn13In", nn_list(STRING)),
            ("isbn13Assigned", t(BOOLEAN)),
            ("titleEq", t(STRING)),
            ("titleCont", t(STRING)),
            ("titlePrefixPresent", t(STRING)),
            ("publicationDateEq", t(DATE)),
            ("publicationDateGt", t(DATE)),
            ("publicationDateLt", t(DATE)),
            ("publicationDateGteq", t(DATE)),
            ("publicationDateLteq", t(DATE)),
            ("onix21ProductFormCodeIn", nn_list("ONIX21ProductFormCode")),
            ("changedSince", t(DATE)),
            ("productTypes", nn_list("ProductTypename")),
        ],
    );
    let contract = input("ContractSearchAttributes", &[("idEq", t(INT))]);
    [work, product, contract]
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkSearch {
    after: Option<i64>,
    id_eq: Option<i64>,
    contract_id_eq: Option<i64>,
    changed_since: Option<NaiveDate>,
    title_eq: Option<String>,
    title_cont: Option<String>,
    subtitle_eq: Option<String>,
    subtitle_cont: Option<String>,
    subtitle_present: Option<bool>,
    imprint_id_in: Option<Vec<i64>>,
}

impl WorkSearch {
    fn filter(self) -> WorkFilter {
        WorkFilter {
            id_eq: self.id_eq,
            after: self.after,
            changed_since: self.changed_since,
            contract_id_eq: self.contract_id_eq,
            title_eq: self.title_eq,
            title_cont: self.title_cont,
            subtitle_eq: self.subtitle_eq,
            subtitle_cont: self.subtitle_cont,
            subtitle_present: self.subtitle_present,
            imprint_id_in: self.imprint_id_in,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductSearch {
    after: Option<i64>,
    id_eq: Option<i64>,
    isbn13_eq: Option<String>,
    isbn13_in: Option<Vec<String>>,
    isbn13_assigned: Option<bool>,
    title_eq: Option<String>,
    title_cont: Option<String>,
    title_prefix_present: Option<String>,
    publication_date_eq: Option<NaiveDate>,
    publication_date_gt: Option<NaiveDate>,
    publication_date_lt: Option<NaiveDate>,
    publication_date_gteq: Option<NaiveDate>,
    publication_date_lteq: Option<NaiveDate>,
    onix21_product_form_code_in: Option<Vec<String>>,
    changed_since: Option<NaiveDate>,
    product_types: Option<Vec<String>>,
}

impl ProductSearch {
    fn filter(self) -> ProductFilter {
        ProductFilter {
            id_eq: self.id_eq,
            after: self.after,
            changed_since: self.changed_since,
            isbn13_eq: self.isbn13_eq,
            isbn13_in: self.isbn13_in,
            isbn13_assigned: self.isbn13_assigned,
            title_eq: self.title_eq,
            title_cont: self.title_cont,
            // No simulated product has a title prefix.
            title_prefix_present: self.title_prefix_present.map(|v| matches!(v.trim(), "true" | "1" | "yes")),
            publication_date: [
                (std::cmp::Ordering::Equal, self.publication_date_eq, true),
                (std::cmp::Ordering::Greater, self.publication_date_gt, false),
                (std::cmp::Ordering::Less, self.publication_date_lt, false),
                (std::cmp::Ordering::Greater, self.publication_date_gteq, true),
                (std::cmp::Ordering::Less, self.publication_date_lteq, true),
            ]
            .into_iter()
            .filter_map(|(ord, d, or_equal)| d.map(|d| (ord, d, or_equal)))
            .collect(),
            product_forms: self
                .onix21_product_form_code_in
                .map(|v| v.into_iter().map(|f| f.trim_start_matches('_').to_string()).collect()),
            // "passing this parameter with an empty set of product types is ignored"
            product_types: self.product_types.filter(|t| !t.is_empty()),
        }
    }
}

fn arg<T: Default + serde::de::DeserializeOwned>(
    ctx: &ResolverContext<'_>,
    name: &str,
) -> async_graphql::Result<Option<T>> {
    match ctx.args.get(name) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => Ok(Some(v.deserialize::<T>()?)),
    }
}

/// `work`/`works`/`product`/`products`: one record or one keyset page.
fn search_resolver(
    paged: bool,
    works: bool,
) -> impl for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync {
    move |ctx: ResolverContext<'_>| {
        let run = || -> async_graphql::Result<Option<FieldValue<'static>>> {
            let w = arg::<WorkSearch>(&ctx, "workSearch")?.map(WorkSearch::filter);
            let p = arg::<ProductSearch>(&ctx, "productSearch")?.map(ProductSearch::filter);
            let st = ctx.data::<Shared>()?.lock();
            Ok(if works {
                let found = st.works_page(&w.unwrap_or_default(), p.as_ref(), paged);
                if paged {
                    Some(FieldValue::list(found.into_iter().map(FieldValue::owned_any)))
                } else {
                    found.into_iter().next().map(FieldValue::owned_any)
                }
            } else {
                let found = st.products_page(&p.unwrap_or_default(), w.as_ref(), paged);
                if paged {
                    Some(FieldValue::list(found.into_iter().map(objects::product_value)))
                } else {
                    found.into_iter().next().map(objects::product_value)
                }
            })
        };
        match run() {
            Ok(v) => FieldFuture::Value(v),
            Err(e) => FieldFuture::new(async move { Err::<Option<Value>, _>(e) }),
        }
    }
}

fn query_root() -> Object {
    let ws = || InputValue::new("workSearch", t("WorkSearchAttributes"));
    let ps = || InputValue::new("productSearch", t("ProductSearchAttributes"));
    let resolve = search_resolver;
    Object::new("Query")
        .field(Field::new("work", t("Work"), resolve(false, true)).argument(ws()))
        .field(Field::new("works", nn_list_nn("Work"), resolve(true, true)).argument(ws()).argument(ps()))
        .field(Field::new("product", t("Product"), resolve(false, false)).argument(ps()).argument(ws()))
        .field(
            Field::new("products", nn_list_nn("Product"), resolve(true, false)).argument(ps()).argument(ws()),
        )
        .field(
            Field::new("contract", t("Contract"), |ctx: ResolverContext<'_>| {
                #[derive(Default, Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Search {
                    id_eq: Option<i64>,
                }
                let run = || -> async_graphql::Result<Option<FieldValue<'static>>> {
                    let id = arg::<Search>(&ctx, "contractSearch")?.unwrap_or_default().id_eq;
                    let st = ctx.data::<Shared>()?.lock();
                    let c = st.contracts.values().find(|c| id.is_none_or(|id| c.id == id)).cloned();
                    Ok(c.map(FieldValue::owned_any))
                };
                match run() {
                    Ok(v) => FieldFuture::Value(v),
                    Err(e) => FieldFuture::new(async move { Err::<Option<Value>, _>(e) }),
                }
            })
            .argument(InputValue::new("contractSearch", t("ContractSearchAttributes"))),
        )
}

/// The schema of a tenant with this variant, over `shared`.
///
/// Panics only if the built-in type definitions are inconsistent (a programming error that
/// every simulator test would hit).
pub fn build(shared: Shared, upload_base: String, variant: &SchemaVariant) -> ConsonanceSchema {
    let mut b = Schema::build("Query", Some("Mutation"), None)
        .register(Scalar::new("ISO8601Date").validator(is_date))
        .register(Scalar::new("ISO8601DateTime").validator(is_date_time))
        .register(Scalar::new("URL").validator(is_url))
        .register(Scalar::new("URI").validator(is_url))
        .register(enumeration("ONIXWebsiteRoleCode", codes::WEBSITE_ROLES))
        .register(enumeration("ONIXContentAudienceCode", codes::CONTENT_AUDIENCES))
        .register(enumeration("ONIX21ProductFormCode", codes::PRODUCT_FORMS))
        .register(enumeration("ProductTypename", codes::PRODUCT_TYPES))
        .register(enumeration("SupportingResourceVariant", &variant.resource_variants))
        .register(enumeration("SupportingResourceStatus", &variant.resource_statuses))
        .register(query_root())
        .register(mutations::mutation_root(variant));
    for i in search_inputs() {
        b = b.register(i);
    }
    for i in mutations::inputs(variant) {
        b = b.register(i);
    }
    for o in mutations::payloads(variant) {
        b = b.register(o);
    }
    b = b.register(objects::product_interface(variant));
    for o in objects::objects(variant) {
        b = b.register(o);
    }
    if !variant.introspection {
        b = b.disable_introspection();
    }
    if let Some(limit) = variant.max_complexity {
        b = b.limit_complexity(limit);
    }
    b.data(shared)
        .data(UploadBase(upload_base))
        .limit_depth(16)
        .limit_recursive_depth(32)
        .finish()
        .unwrap_or_else(|e| panic!("the simulated Consonance schema is inconsistent: {e}"))
}
