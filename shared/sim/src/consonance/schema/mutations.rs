//! The mutations the connector uses, their inputs and payloads.
//!
//! A mutation's own validation failures are answered in the payload, `errors { field message }`
//! (the shape the update examples in GeneralProducts/consonance-graphql's history select), with
//! the result field null; a record that does not exist is a GraphQL error with code NOT_FOUND.

use super::{
    BOOLEAN, INT, STRING, SchemaVariant, UploadBase, input, leaf, nn, nn_list, nn_list_nn, string, t,
};
use crate::consonance::state::{NewResource, ResourceRec, Shared, StateError, WebLinkRec};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
};
use async_graphql::{ErrorExtensions, Value};
use serde::Deserialize;

pub(super) fn inputs(variant: &SchemaVariant) -> Vec<InputObject> {
    let create_resource = input(
        "CreateSupportingResourceInput",
        &[
            ("clientMutationId", t(STRING)),
            ("workId", nn(INT)),
            ("copyright", t(STRING)),
            ("requiredCredit", t(STRING)),
            ("caption", t(STRING)),
            ("imageRemoteUrl", t("URL")),
            ("resourceFileName", t(STRING)),
            ("status", t("SupportingResourceStatus")),
            ("resourceVariant", t("SupportingResourceVariant")),
            ("onixContentAudienceCode", t("ONIXContentAudienceCode")),
            ("productIds", nn_list(INT)),
            ("linkToAllProducts", t(BOOLEAN)),
            ("unlinkPrevious", t(BOOLEAN)),
        ],
    );
    let mut web_link = input(
        "CreateWebLinkInput",
        &[
            ("clientMutationId", t(STRING)),
            ("productId", nn(INT)),
            ("link", nn("URL")),
            ("role", nn("ONIXWebsiteRoleCode")),
        ],
    );
    if variant.web_link_note {
        web_link = web_link.field(InputValue::new("note", t(STRING)));
    }
    vec![
        create_resource,
        input("DeleteSupportingResourceInput", &[("clientMutationId", t(STRING)), ("id", nn(INT))]),
        web_link,
        input("DeleteWebLinkInput", &[("clientMutationId", t(STRING)), ("id", nn(INT))]),
    ]
}

/// What a mutation answered: its result (a record, or `success`), echoed id, and errors.
#[derive(Default)]
struct Payload {
    client_mutation_id: Option<String>,
    resource: Option<ResourceRec>,
    presigned_url: Option<String>,
    web_link: Option<WebLinkRec>,
    success: Option<bool>,
    errors: Vec<(Option<String>, String)>,
}

/// A payload type: `clientMutationId`, `errors`, and its result field(s).
fn payload_object(name: &str, result: &str) -> Object {
    let mut o = Object::new(name)
        .field(leaf::<Payload>("clientMutationId", t(STRING), |p| {
            p.client_mutation_id.clone().map(Value::String)
        }))
        .field(Field::new("errors", nn_list_nn("FieldError"), |ctx: ResolverContext<'_>| {
            match ctx.parent_value.try_downcast_ref::<Payload>() {
                Ok(p) => FieldFuture::Value(Some(FieldValue::list(
                    p.errors.iter().cloned().map(FieldValue::owned_any),
                ))),
                Err(e) => FieldFuture::new(async move { Err::<Option<Value>, _>(e) }),
            }
        }));
    match result {
        "supportingResource" => {
            o = o
                .field(Field::new(
                    "supportingResource",
                    t("SupportingResource"),
                    |ctx: ResolverContext<'_>| {
                        let r = ctx
                            .parent_value
                            .try_downcast_ref::<Payload>()
                            .ok()
                            .and_then(|p| p.resource.clone());
                        FieldFuture::Value(r.map(FieldValue::owned_any))
                    },
                ))
                .field(leaf::<Payload>("presignedUrl", t(STRING), |p| {
                    p.presigned_url.clone().map(Value::String)
                }));
        }
        "webLink" => {
            o = o.field(Field::new("webLink", t("WebLink"), |ctx: ResolverContext<'_>| {
                let l = ctx.parent_value.try_downcast_ref::<Payload>().ok().and_then(|p| p.web_link.clone());
                FieldFuture::Value(l.map(FieldValue::owned_any))
            }));
        }
        _ => {
            // The Boolean schema page lists the delete payloads; the field's name is UNCONFIRMED.
            o = o.field(leaf::<Payload>("success", t(BOOLEAN), |p| p.success.map(Value::Boolean)));
        }
    }
    o
}

pub(super) fn payloads(_variant: &SchemaVariant) -> Vec<Object> {
    vec![
        payload_object("CreateSupportingResourcePayload", "supportingResource"),
        payload_object("DeleteSupportingResourcePayload", "success"),
        payload_object("CreateWebLinkPayload", "webLink"),
        payload_object("DeleteWebLinkPayload", "success"),
        Object::new("FieldError")
            .field(leaf::<(Option<String>, String)>("field", t(STRING), |e| e.0.clone().map(Value::String)))
            .field(leaf::<(Option<String>, String)>("message", nn(STRING), |e| Some(string(&e.1)))),
    ]
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateResource {
    client_mutation_id: Option<String>,
    work_id: i64,
    copyright: Option<String>,
    required_credit: Option<String>,
    caption: Option<String>,
    image_remote_url: Option<String>,
    resource_file_name: Option<String>,
    status: Option<String>,
    resource_variant: Option<String>,
    onix_content_audience_code: Option<String>,
    product_ids: Option<Vec<i64>>,
    link_to_all_products: Option<bool>,
    unlink_previous: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ById {
    client_mutation_id: Option<String>,
    id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateWebLink {
    client_mutation_id: Option<String>,
    product_id: i64,
    link: String,
    role: String,
    note: Option<String>,
}

/// A state failure as the mutation answers it: payload errors, or a NOT_FOUND GraphQL error.
fn answer(
    client_mutation_id: Option<String>,
    r: Result<Payload, StateError>,
) -> async_graphql::Result<Payload> {
    match r {
        Ok(p) => Ok(Payload { client_mutation_id, ..p }),
        Err(StateError::Field { field, message }) => Ok(Payload {
            client_mutation_id,
            errors: vec![(Some(field.to_string()), message)],
            ..Default::default()
        }),
        Err(e @ StateError::Invalid(_)) => {
            Ok(Payload { client_mutation_id, errors: vec![(None, e.to_string())], ..Default::default() })
        }
        Err(e @ StateError::NotFound(_)) => Err(e.extend_with(|_, ext| ext.set("code", "NOT_FOUND"))),
    }
}

fn mutation<T: serde::de::DeserializeOwned>(
    name: &str,
    input_type: &str,
    payload_type: &str,
    run: impl Fn(&ResolverContext<'_>, T) -> async_graphql::Result<Payload> + Send + Sync + 'static,
) -> Field {
    Field::new(name, t(payload_type), move |ctx: ResolverContext<'_>| {
        let result =
            ctx.args.try_get("input").and_then(|v| v.deserialize::<T>()).and_then(|input| run(&ctx, input));
        match result {
            Ok(p) => FieldFuture::Value(Some(FieldValue::owned_any(p))),
            Err(e) => FieldFuture::new(async move { Err::<Option<Value>, _>(e) }),
        }
    })
    .argument(InputValue::new("input", nn(input_type)))
}

pub(super) fn mutation_root(variant: &SchemaVariant) -> Object {
    let note = variant.web_link_note;
    Object::new("Mutation")
        .field(mutation(
            "createSupportingResource",
            "CreateSupportingResourceInput",
            "CreateSupportingResourcePayload",
            |ctx, i: CreateResource| {
                let needs_upload = i.resource_file_name.is_some();
                let new = NewResource {
                    work_id: i.work_id,
                    image_remote_url: i.image_remote_url,
                    resource_file_name: i.resource_file_name,
                    status: i.status,
                    resource_variant: i.resource_variant,
                    onix_content_audience_code: i.onix_content_audience_code,
                    product_ids: i.product_ids,
                    link_to_all_products: i.link_to_all_products.unwrap_or(false),
                    unlink_previous: i.unlink_previous.unwrap_or(false),
                    caption: i.caption,
                    copyright: i.copyright,
                    required_credit: i.required_credit,
                };
                let base = ctx.data::<UploadBase>().map(|b| b.0.clone()).unwrap_or_default();
                let r = ctx.data::<Shared>()?.lock().create_resource(new).map(|rec| Payload {
                    presigned_url: needs_upload.then(|| {
                        format!("{base}/uploads/supporting-resources/{}?X-Amz-Signature=sim", rec.id)
                    }),
                    resource: Some(rec),
                    ..Default::default()
                });
                answer(i.client_mutation_id, r)
            },
        ))
        .field(mutation(
            "deleteSupportingResource",
            "DeleteSupportingResourceInput",
            "DeleteSupportingResourcePayload",
            |ctx, i: ById| {
                let r = ctx.data::<Shared>()?.lock().delete_resource(i.id);
                answer(i.client_mutation_id, r.map(|_| Payload { success: Some(true), ..Default::default() }))
            },
        ))
        .field(mutation(
            "createWebLink",
            "CreateWebLinkInput",
            "CreateWebLinkPayload",
            move |ctx, i: CreateWebLink| {
                let note = if note { i.note } else { None };
                let r = ctx.data::<Shared>()?.lock().create_web_link(i.product_id, i.link, i.role, note);
                answer(i.client_mutation_id, r.map(|l| Payload { web_link: Some(l), ..Default::default() }))
            },
        ))
        .field(mutation("deleteWebLink", "DeleteWebLinkInput", "DeleteWebLinkPayload", |ctx, i: ById| {
            let r = ctx.data::<Shared>()?.lock().delete_web_link(i.id);
            answer(i.client_mutation_id, r.map(|_| Payload { success: Some(true), ..Default::default() }))
        }))
}
