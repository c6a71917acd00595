//! Output object types: works, the `Product` interface and its implementations, supporting
//! resources, web links, contracts, production runs.

use super::codes::{PRODUCT_TYPES, product_type};
use super::{
    BOOLEAN, DATE, INT, Obj, STRING, SchemaVariant, date, enum_value, int_list, leaf, nn, nn_list_nn, string,
    string_list, t, with_state,
};
use crate::consonance::state::{
    ContractRec, DeliveryDateRec, LicensedRightRec, ProductRec, ResourceRec, WebLinkRec, WorkRec,
};
use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldValue, Interface, InterfaceField, Object, TypeRef};

/// A product as a value of the `Product` interface, typed by its form.
pub(super) fn product_value(p: ProductRec) -> FieldValue<'static> {
    let ty = product_type(&p.product_form);
    FieldValue::owned_any(p).with_type(ty)
}

fn list<T: std::any::Any + Send + Sync>(items: impl IntoIterator<Item = T>) -> Option<FieldValue<'static>> {
    Some(FieldValue::list(items.into_iter().map(FieldValue::owned_any)))
}

/// The fields of `Product` and every implementation: (name, type, resolver).
fn product_fields(variant: &SchemaVariant) -> Vec<(&'static str, TypeRef, Field)> {
    let f = |name: &'static str, ty: TypeRef, field: Field| (name, ty, field);
    let mut out = vec![
        f("id", nn(INT), leaf::<ProductRec>("id", nn(INT), |p| Some(p.id.into()))),
        f(
            "isbn",
            t("ISBN"),
            with_state::<ProductRec>("isbn", t("ISBN"), |p, _| p.isbn13.clone().map(FieldValue::owned_any)),
        ),
        f(
            "fullTitle",
            t(STRING),
            leaf::<ProductRec>("fullTitle", t(STRING), |p| Some(string(&p.full_title))),
        ),
        f(
            "publicationDate",
            t(DATE),
            leaf::<ProductRec>("publicationDate", t(DATE), |p| p.publication_date.map(date)),
        ),
        f(
            "plannedPublicationDate",
            t(DATE),
            leaf::<ProductRec>("plannedPublicationDate", t(DATE), |p| p.planned_publication_date.map(date)),
        ),
        f(
            "onixPublishingStatusCode",
            t(STRING),
            leaf::<ProductRec>("onixPublishingStatusCode", t(STRING), |p| Some(string(&p.publishing_status))),
        ),
        f(
            "onix21ProductFormCode",
            t("ONIX21ProductFormCode"),
            leaf::<ProductRec>("onix21ProductFormCode", t("ONIX21ProductFormCode"), |p| {
                Some(enum_value(&p.product_form))
            }),
        ),
        f(
            "inHouseFormat",
            t("InHouseFormat"),
            with_state::<ProductRec>("inHouseFormat", t("InHouseFormat"), |p, _| {
                Some(FieldValue::owned_any(InHouseFormat(p.in_house_format.clone())))
            }),
        ),
        f(
            "forSaleCountryCodes",
            nn_list_nn(STRING),
            leaf::<ProductRec>("forSaleCountryCodes", nn_list_nn(STRING), |p| Some(string_list(&p.for_sale))),
        ),
        f(
            "notForSaleCountryCodes",
            nn_list_nn(STRING),
            leaf::<ProductRec>("notForSaleCountryCodes", nn_list_nn(STRING), |p| {
                Some(string_list(&p.not_for_sale))
            }),
        ),
        f(
            "isForSaleWorldwide",
            t(BOOLEAN),
            leaf::<ProductRec>("isForSaleWorldwide", t(BOOLEAN), |p| Some(p.for_sale_worldwide.into())),
        ),
        f(
            "webLinks",
            nn_list_nn("WebLink"),
            with_state::<ProductRec>("webLinks", nn_list_nn("WebLink"), |p, st| {
                list(st.web_links_of_product(p.id))
            }),
        ),
        f(
            "supportingResources",
            nn_list_nn("SupportingResource"),
            with_state::<ProductRec>("supportingResources", nn_list_nn("SupportingResource"), |p, st| {
                list(st.resources_of_product(p.id))
            }),
        ),
        f(
            "work",
            nn("Work"),
            with_state::<ProductRec>("work", nn("Work"), |p, st| {
                st.works.get(&p.work_id).cloned().map(FieldValue::owned_any)
            }),
        ),
    ];
    out.retain(|(name, _, _)| !variant.hides("Product", name));
    out
}

pub(super) fn product_interface(variant: &SchemaVariant) -> Interface {
    product_fields(variant)
        .into_iter()
        .fold(Interface::new("Product"), |i, (name, ty, _)| i.field(InterfaceField::new(name, ty)))
}

struct InHouseFormat(String);

/// A production run the simulator derives from the work (the catalogue has none).
struct ProductionRun {
    id: i64,
    delivery_date: chrono::NaiveDate,
    product_ids: Vec<i64>,
}

fn work(variant: &SchemaVariant) -> Object {
    let mut w = Obj::new("Work", variant)
        .field("id", leaf::<WorkRec>("id", nn(INT), |w| Some(w.id.into())))
        .field("title", leaf::<WorkRec>("title", t(STRING), |w| Some(string(&w.title))))
        .field("subtitle", leaf::<WorkRec>("subtitle", t(STRING), |w| w.subtitle.clone().map(Value::String)))
        .field(
            "imprint",
            with_state::<WorkRec>("imprint", t("Imprint"), |w, _| {
                Some(FieldValue::owned_any((w.imprint_id, w.imprint.clone())))
            }),
        )
        .field("projectStage", leaf::<WorkRec>("projectStage", t(STRING), |w| Some(string(&w.project_stage))))
        .field(
            "contributorPrettyList",
            leaf::<WorkRec>("contributorPrettyList", t(STRING), |w| {
                Some(string(w.contributor_pretty_list()))
            }),
        )
        .field(
            "products",
            with_state::<WorkRec>("products", nn_list_nn("Product"), |w, st| {
                Some(FieldValue::list(st.products_of_work(w.id).into_iter().map(product_value)))
            }),
        )
        .field(
            "supportingResources",
            with_state::<WorkRec>("supportingResources", nn_list_nn("SupportingResource"), |w, st| {
                list(st.resources_of_work(w.id))
            }),
        )
        .field(
            "productionRuns",
            with_state::<WorkRec>("productionRuns", nn_list_nn("ProductionRun"), |w, _| {
                list(w.production_run_delivery_date.map(|d| ProductionRun {
                    id: w.id * 10,
                    delivery_date: d,
                    product_ids: w.product_ids.clone(),
                }))
            }),
        );
    if variant.work_contract {
        w = w.field(
            "contract",
            with_state::<WorkRec>("contract", t("Contract"), |w, st| {
                w.contract_id.and_then(|c| st.contracts.get(&c)).cloned().map(FieldValue::owned_any)
            }),
        );
    }
    w.done()
}

fn supporting_resource(variant: &SchemaVariant) -> Object {
    let mut o = Obj::new("SupportingResource", variant)
        .field("aspectRatio", leaf::<ResourceRec>("aspectRatio", t(TypeRef::FLOAT), |_| None))
        .field("caption", leaf::<ResourceRec>("caption", t(STRING), |r| r.caption.clone().map(Value::String)))
        .field(
            "copyright",
            leaf::<ResourceRec>("copyright", t(STRING), |r| r.copyright.clone().map(Value::String)),
        )
        .field("copyrightHolder", leaf::<ResourceRec>("copyrightHolder", t(STRING), |_| None))
        .field(
            "createdAt",
            leaf::<ResourceRec>("createdAt", nn("ISO8601DateTime"), |r| {
                Some(string(r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
            }),
        )
        .field("delayedJobStatus", leaf::<ResourceRec>("delayedJobStatus", t(STRING), |_| None))
        .field("fileSize", leaf::<ResourceRec>("fileSize", t(INT), |r| r.file_size.map(Value::from)))
        .field(
            "filename",
            leaf::<ResourceRec>("filename", t(STRING), |r| r.filename.clone().map(Value::String)),
        )
        .field("height", leaf::<ResourceRec>("height", t(INT), |_| None))
        .field("id", leaf::<ResourceRec>("id", nn(INT), |r| Some(r.id.into())))
        .field(
            "imageContentType",
            leaf::<ResourceRec>("imageContentType", t(STRING), |r| {
                r.image_content_type.clone().map(Value::String)
            }),
        )
        .field(
            "imageRemoteUrl",
            leaf::<ResourceRec>("imageRemoteUrl", t("URI"), |r| {
                r.image_remote_url.clone().map(Value::String)
            }),
        )
        .field(
            "isProcessing",
            leaf::<ResourceRec>("isProcessing", nn(BOOLEAN), |r| Some(r.is_processing.into())),
        )
        .field(
            "onixContentAudienceCode",
            leaf::<ResourceRec>("onixContentAudienceCode", nn("ONIXContentAudienceCode"), |r| {
                // Non-null on the schema page: "_00" (unrestricted) when none was given.
                Some(enum_value(r.onix_content_audience_code.as_deref().unwrap_or("_00")))
            }),
        )
        .field(
            "productIds",
            leaf::<ResourceRec>("productIds", nn_list_nn(INT), |r| {
                Some(int_list(r.product_ids.iter().copied()))
            }),
        )
        .field(
            "requiredCredit",
            leaf::<ResourceRec>("requiredCredit", t(STRING), |r| {
                r.required_credit.clone().map(Value::String)
            }),
        )
        .field(
            "resourceVariant",
            leaf::<ResourceRec>("resourceVariant", t("SupportingResourceVariant"), |r| {
                r.resource_variant.as_deref().map(enum_value)
            }),
        )
        .field(
            "url",
            leaf::<ResourceRec>("url", t(STRING), |r| r.image_remote_url.clone().map(Value::String)),
        );
    if variant.resource_status_field {
        o = o.field(
            "status",
            leaf::<ResourceRec>("status", t("SupportingResourceStatus"), |r| {
                r.status.as_deref().map(enum_value)
            }),
        );
    }
    o.done()
}

fn web_link(variant: &SchemaVariant) -> Object {
    let mut o = Obj::new("WebLink", variant)
        .field("id", leaf::<WebLinkRec>("id", nn(INT), |l| Some(l.id.into())))
        .field("link", leaf::<WebLinkRec>("link", nn("URL"), |l| Some(string(&l.link))))
        .field("role", leaf::<WebLinkRec>("role", nn("ONIXWebsiteRoleCode"), |l| Some(enum_value(&l.role))));
    if variant.web_link_note {
        o = o.field("note", leaf::<WebLinkRec>("note", t(STRING), |l| l.note.clone().map(Value::String)));
    }
    o.done()
}

fn contract(variant: &SchemaVariant) -> Object {
    Obj::new("Contract", variant)
        .field("id", leaf::<ContractRec>("id", nn(INT), |c| Some(c.id.into())))
        .field(
            "msDeliveryDate",
            leaf::<ContractRec>("msDeliveryDate", t(DATE), |c| c.ms_delivery_date.map(date)),
        )
        .field(
            "revisedMsDeliveryDate",
            leaf::<ContractRec>("revisedMsDeliveryDate", t(DATE), |c| c.revised_ms_delivery_date.map(date)),
        )
        .field(
            "actualMsDeliveryDate",
            leaf::<ContractRec>("actualMsDeliveryDate", t(DATE), |c| c.actual_ms_delivery_date.map(date)),
        )
        .field("msProofsDate", leaf::<ContractRec>("msProofsDate", t(DATE), |_| None))
        .field("pubBeforeDate", leaf::<ContractRec>("pubBeforeDate", t(DATE), |_| None))
        .field(
            "licensedRights",
            with_state::<ContractRec>("licensedRights", nn_list_nn("LicensedRight"), |c, _| {
                list(c.licensed_rights.clone())
            }),
        )
        .field(
            "deliveryDates",
            with_state::<ContractRec>("deliveryDates", nn_list_nn("DeliveryDate"), |c, _| {
                list(c.delivery_dates.clone())
            }),
        )
        .field(
            "work",
            with_state::<ContractRec>("work", t("Work"), |c, st| {
                st.works.get(&c.work_id).cloned().map(FieldValue::owned_any)
            }),
        )
        .done()
}

/// Every object type but the roots and the mutation payloads.
pub(super) fn objects(variant: &SchemaVariant) -> Vec<Object> {
    let mut out = vec![
        work(variant),
        supporting_resource(variant),
        web_link(variant),
        contract(variant),
        Obj::new("Imprint", variant)
            .field("id", leaf::<(i64, String)>("id", nn(INT), |i| Some(i.0.into())))
            .field("name", leaf::<(i64, String)>("name", t(STRING), |i| Some(string(&i.1))))
            .done(),
        // isbn13, isbn10, isbnWithDashes as the examples select them (schema page `isbn`).
        Obj::new("ISBN", variant)
            .field("isbn13", leaf::<String>("isbn13", t(STRING), |s| Some(string(s))))
            .field("isbn10", leaf::<String>("isbn10", t(STRING), |_| None))
            .field(
                "isbnWithDashes",
                leaf::<String>("isbnWithDashes", t(STRING), |d| {
                    // Hyphenation needs the ISBN range tables; the simulator splits 3-1-5-3-1.
                    Some(string(if d.len() == 13 && d.is_ascii() {
                        format!("{}-{}-{}-{}-{}", &d[..3], &d[3..4], &d[4..9], &d[9..12], &d[12..])
                    } else {
                        d.clone()
                    }))
                }),
            )
            .done(),
        Obj::new("InHouseFormat", variant)
            .field("name", leaf::<InHouseFormat>("name", t(STRING), |f| Some(string(&f.0))))
            .field("code", leaf::<InHouseFormat>("code", t(STRING), |f| Some(string(&f.0))))
            .done(),
        Obj::new("LicensedRight", variant)
            .field("id", leaf::<LicensedRightRec>("id", nn(INT), |r| Some(r.id.into())))
            .field(
                "rightType",
                leaf::<LicensedRightRec>("rightType", t(STRING), |r| Some(string(&r.right_type))),
            )
            .done(),
        Obj::new("DeliveryDate", variant)
            .field("id", leaf::<DeliveryDateRec>("id", t(INT), |d| Some(d.id.into())))
            .field("dateDue", leaf::<DeliveryDateRec>("dateDue", t(DATE), |d| Some(date(d.date_due))))
            .field(
                "deliverableType",
                leaf::<DeliveryDateRec>("deliverableType", t(STRING), |d| Some(string(&d.deliverable_type))),
            )
            .field(
                "percentageOfTotal",
                leaf::<DeliveryDateRec>("percentageOfTotal", t(TypeRef::FLOAT), |_| None),
            )
            .field(
                "slippedDate",
                leaf::<DeliveryDateRec>("slippedDate", t(DATE), |d| d.slipped_date.map(date)),
            )
            .done(),
        Obj::new("ProductionRun", variant)
            .field("id", leaf::<ProductionRun>("id", nn(INT), |r| Some(r.id.into())))
            .field("name", leaf::<ProductionRun>("name", t(STRING), |_| Some(string("First printing"))))
            .field(
                "deliveryDate",
                leaf::<ProductionRun>("deliveryDate", t(DATE), |r| Some(date(r.delivery_date))),
            )
            .field(
                "productIds",
                leaf::<ProductionRun>("productIds", nn_list_nn(INT), |r| {
                    Some(int_list(r.product_ids.iter().copied()))
                }),
            )
            .done(),
    ];
    for name in PRODUCT_TYPES {
        let o = product_fields(variant)
            .into_iter()
            .fold(Obj::new(name, variant).hidden_as("Product").implement("Product"), |o, (n, _, f)| {
                o.field(n, f)
            });
        out.push(o.done());
    }
    out
}
