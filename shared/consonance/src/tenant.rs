//! The tenant's schema as introspection reports it, read once per process, and what the
//! client makes of it: which optional fields exist, how payloads and inputs are spelled.
//!
//! No SDL or introspection dump of Consonance's schema is public (API-NOTES, evidence audit),
//! and the evidence disagrees on some names (`WebLink.note`), so the client asks the tenant.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The standard introspection query (the fields every GraphQL server answers), deep enough for
/// `[[Type!]!]!`.
pub const INTROSPECTION_QUERY: &str = "query IntrospectionQuery { __schema { \
    queryType { name } mutationType { name } \
    types { kind name \
      fields(includeDeprecated: true) { name args { name type { ...T } defaultValue } type { ...T } } \
      inputFields { name type { ...T } defaultValue } \
      interfaces { name } enumValues(includeDeprecated: true) { name } possibleTypes { name } } \
    directives { name locations args { name type { ...T } defaultValue } } } } \
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name \
      ofType { kind name ofType { kind name } } } } } }";

/// A type reference: `[Foo!]!` is NonNull(List(NonNull(Named Foo))).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TypeRef {
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "ofType")]
    pub of_type: Option<Box<TypeRef>>,
}

impl TypeRef {
    /// The named type at the bottom of the wrappers.
    pub fn named(&self) -> &str {
        match (&self.name, &self.of_type) {
            (Some(n), _) => n,
            (None, Some(inner)) => inner.named(),
            (None, None) => "",
        }
    }
    /// GraphQL syntax, e.g. `[Int!]!`.
    pub fn render(&self) -> String {
        match (self.kind.as_str(), &self.of_type) {
            ("NON_NULL", Some(t)) => format!("{}!", t.render()),
            ("LIST", Some(t)) => format!("[{}]", t.render()),
            _ => self.name.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputValueInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldInfo {
    pub name: String,
    #[serde(default)]
    pub args: Vec<InputValueInfo>,
    #[serde(rename = "type")]
    pub ty: TypeRef,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedRef {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TypeInfo {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub fields: Option<Vec<FieldInfo>>,
    #[serde(default, rename = "inputFields")]
    pub input_fields: Option<Vec<InputValueInfo>>,
    #[serde(default, rename = "enumValues")]
    pub enum_values: Option<Vec<NamedRef>>,
}

/// The parts of the tenant's schema the client asks about, by name.
#[derive(Debug, Clone)]
pub struct TenantSchema {
    pub query_type: String,
    pub mutation_type: Option<String>,
    types: BTreeMap<String, TypeInfo>,
    /// The `__schema` object as the tenant answered it (for validating documents).
    pub raw: Value,
}

/// Why an introspected schema cannot be read, or rebuilt for validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("the answer has no __schema")]
    NoSchema,
    #[error("the introspected schema has no types")]
    NoTypes,
    /// A part of the answer is not in the introspection shape (`part` names it).
    #[error("{part}: {message}")]
    Shape { part: &'static str, message: String },
    #[error("the tenant's schema cannot be rebuilt for validation: {0}")]
    Rebuild(String),
}

impl TenantSchema {
    /// Reads an introspection answer's `data` (`{"__schema": {...}}`).
    pub fn from_introspection(data: &Value) -> Result<TenantSchema, SchemaError> {
        let schema = data.get("__schema").ok_or(SchemaError::NoSchema)?;
        #[derive(Deserialize)]
        struct S {
            #[serde(rename = "queryType")]
            query_type: NamedRef,
            #[serde(default, rename = "mutationType")]
            mutation_type: Option<NamedRef>,
            types: Vec<TypeInfo>,
        }
        let s: S = serde_json::from_value(schema.clone())
            .map_err(|e| SchemaError::Shape { part: "__schema", message: e.to_string() })?;
        Ok(TenantSchema {
            query_type: s.query_type.name,
            mutation_type: s.mutation_type.map(|m| m.name),
            types: s.types.into_iter().map(|t| (t.name.clone(), t)).collect(),
            raw: schema.clone(),
        })
    }

    pub fn type_info(&self, name: &str) -> Option<&TypeInfo> {
        self.types.get(name)
    }

    pub fn field(&self, type_name: &str, field: &str) -> Option<&FieldInfo> {
        self.types.get(type_name)?.fields.as_ref()?.iter().find(|f| f.name == field)
    }

    pub fn has_field(&self, type_name: &str, field: &str) -> bool {
        self.field(type_name, field).is_some()
    }

    pub fn input_field(&self, type_name: &str, field: &str) -> Option<&InputValueInfo> {
        self.types.get(type_name)?.input_fields.as_ref()?.iter().find(|f| f.name == field)
    }

    /// The values of an enum type (`None`: no such enum).
    pub fn enum_values(&self, name: &str) -> Option<Vec<String>> {
        let t = self.types.get(name).filter(|t| t.kind == "ENUM")?;
        Some(t.enum_values.iter().flatten().map(|v| v.name.clone()).collect())
    }

    /// Whether the named type is a leaf (scalar or enum), so it takes no subselection.
    pub fn is_leaf(&self, name: &str) -> bool {
        self.types.get(name).is_none_or(|t| t.kind == "SCALAR" || t.kind == "ENUM")
    }

    /// A root field's argument type, e.g. the input type of `createWebLink(input:)`.
    pub fn arg_type(&self, type_name: &str, field: &str, arg: &str) -> Option<&TypeRef> {
        self.field(type_name, field)?.args.iter().find(|a| a.name == arg).map(|a| &a.ty)
    }

    /// The payload type a mutation returns.
    pub fn mutation_payload(&self, mutation: &str) -> Option<&str> {
        let m = self.mutation_type.as_deref()?;
        self.field(m, mutation).map(|f| f.ty.named())
    }

    /// `fields` of `type_name` that exist, in the order given.
    pub fn existing<'a>(&self, type_name: &str, fields: &[&'a str]) -> Vec<&'a str> {
        fields.iter().copied().filter(|f| self.has_field(type_name, f)).collect()
    }
}
