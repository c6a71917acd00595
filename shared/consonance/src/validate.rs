//! Validating documents against the tenant's introspected schema, before sending them
//! (`connector check`): the tenant's types become an async-graphql dynamic schema with resolvers
//! that answer nothing, and a document is run through async-graphql's validator (every rule of
//! the GraphQL spec's validation section), stopping before execution.

use crate::tenant::{SchemaError, TenantSchema, TypeRef as IntroRef};
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, InputObject, InputValue, Interface, InterfaceField, Object, Scalar, Schema,
    TypeRef, Union,
};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};
use serde::Deserialize;
use std::sync::Arc;

const VALID: &str = "__connector_document_is_valid__";
const BUILT_IN: &[&str] = &["Int", "Float", "String", "Boolean", "ID"];

/// A schema to validate documents against.
pub struct Validator {
    schema: Schema,
}

#[derive(Deserialize)]
struct RawArg {
    name: String,
    #[serde(rename = "type")]
    ty: IntroRef,
}

#[derive(Deserialize)]
struct RawField {
    name: String,
    #[serde(default)]
    args: Vec<RawArg>,
    #[serde(rename = "type")]
    ty: IntroRef,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct RawType {
    kind: String,
    name: String,
    #[serde(default)]
    fields: Option<Vec<RawField>>,
    #[serde(default, rename = "inputFields")]
    input_fields: Option<Vec<RawArg>>,
    #[serde(default)]
    interfaces: Option<Vec<Named>>,
    #[serde(default, rename = "enumValues")]
    enum_values: Option<Vec<Named>>,
    #[serde(default, rename = "possibleTypes")]
    possible_types: Option<Vec<Named>>,
}

fn type_ref(t: &IntroRef) -> TypeRef {
    match (t.kind.as_str(), &t.of_type) {
        ("NON_NULL", Some(inner)) => TypeRef::NonNull(Box::new(type_ref(inner))),
        ("LIST", Some(inner)) => TypeRef::List(Box::new(type_ref(inner))),
        _ => TypeRef::named(t.name.clone().unwrap_or_default()),
    }
}

fn input_value(a: &RawArg) -> InputValue {
    InputValue::new(a.name.clone(), type_ref(&a.ty))
}

struct StopAfterValidation;

impl ExtensionFactory for StopAfterValidation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(StopAfterValidation)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for StopAfterValidation {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await?;
        // Valid: say so and stop; nothing is executed.
        Err(vec![ServerError::new(VALID, None)])
    }
}

impl Validator {
    /// Builds the validator from the tenant's schema. An error names what could not be built.
    pub fn new(schema: &TenantSchema) -> Result<Validator, SchemaError> {
        let types: Vec<RawType> =
            serde_json::from_value(schema.raw.get("types").cloned().ok_or(SchemaError::NoTypes)?)
                .map_err(|e| SchemaError::Shape { part: "introspected types", message: e.to_string() })?;
        let mut b = Schema::build(&schema.query_type, schema.mutation_type.as_deref(), None)
            .extension(StopAfterValidation);
        for t in types.iter().filter(|t| !t.name.starts_with("__")) {
            let fields = t.fields.iter().flatten();
            b = match t.kind.as_str() {
                "SCALAR" if BUILT_IN.contains(&t.name.as_str()) => b,
                "SCALAR" => b.register(Scalar::new(&t.name)),
                "ENUM" => b.register(
                    t.enum_values.iter().flatten().fold(Enum::new(&t.name), |e, v| e.item(v.name.as_str())),
                ),
                "INPUT_OBJECT" => b.register(
                    t.input_fields
                        .iter()
                        .flatten()
                        .fold(InputObject::new(&t.name), |o, f| o.field(input_value(f))),
                ),
                "OBJECT" => {
                    let mut o = Object::new(&t.name);
                    for f in fields {
                        let field = f.args.iter().fold(
                            Field::new(f.name.clone(), type_ref(&f.ty), |_| FieldFuture::Value(None)),
                            |field, a| field.argument(input_value(a)),
                        );
                        o = o.field(field);
                    }
                    for i in t.interfaces.iter().flatten() {
                        o = o.implement(i.name.as_str());
                    }
                    b.register(o)
                }
                "INTERFACE" => {
                    let mut i = Interface::new(&t.name);
                    for f in fields {
                        let field = f
                            .args
                            .iter()
                            .fold(InterfaceField::new(f.name.clone(), type_ref(&f.ty)), |field, a| {
                                field.argument(input_value(a))
                            });
                        i = i.field(field);
                    }
                    for x in t.interfaces.iter().flatten() {
                        i = i.implement(x.name.as_str());
                    }
                    b.register(i)
                }
                "UNION" => b.register(
                    t.possible_types
                        .iter()
                        .flatten()
                        .fold(Union::new(&t.name), |u, p| u.possible_type(p.name.as_str())),
                ),
                _ => b,
            };
        }
        let schema = b.finish().map_err(|e| SchemaError::Rebuild(e.to_string()))?;
        Ok(Validator { schema })
    }

    /// The validation errors of `document` against the tenant's schema; empty when it is valid.
    pub async fn errors(&self, document: &str) -> Vec<String> {
        let response = self.schema.execute(async_graphql::Request::new(document)).await;
        response.errors.into_iter().map(|e| e.message).filter(|m| m != VALID).collect()
    }
}
