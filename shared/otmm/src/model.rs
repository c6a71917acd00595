//! OTMM records as the client returns them, parsed leniently from the JSON but never silently
//! wrong: a missing or mistyped required value is a [`OtmmError::Protocol`] naming the JSON
//! path.
//!
//! Shapes: the asset record as printed by opentext/pyxecm `pyxecm/otmm.py` (`get_asset`
//! docstring: `asset_id`, `original_asset_id`, `version`, `latest_version`,
//! `date_last_updated`, `master_content_info.content_size`...); metadata as
//! `metadata.metadata_element_list` groups of fields with values at `value.value.value`,
//! lookup-domain values at `value.value.field_value.value` and table fields with `values[]`
//! (API-NOTES "Assets", mureb/damTestScript `json.js`).

use crate::error::OtmmError;
use chrono::{DateTime, Utc};
use connector_core::AssetId;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One value of a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScalarValue {
    /// The stored value (for lookup domains the `field_value.value`), numbers and booleans
    /// rendered as JSON text.
    pub value: String,
    /// A lookup domain's `display_value`.
    pub display_value: Option<String>,
    /// OTMM's value type: `string`, `dateTime`, `long`...
    pub value_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FieldValue {
    /// The field is in the model but has no value.
    Empty,
    Scalar(ScalarValue),
    /// A tabular field's rows (single-column tables; multi-column rows keep their first value).
    Table(Vec<ScalarValue>),
}

impl FieldValue {
    /// The value as text: a scalar's value, a table's first value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Empty => None,
            FieldValue::Scalar(s) => Some(s.value.as_str()),
            FieldValue::Table(rows) => rows.first().map(|r| r.value.as_str()),
        }
    }

    /// Every value: one for a scalar, one per row for a table.
    pub fn values(&self) -> Vec<&str> {
        match self {
            FieldValue::Empty => Vec::new(),
            FieldValue::Scalar(s) => vec![s.value.as_str()],
            FieldValue::Table(rows) => rows.iter().map(|r| r.value.as_str()).collect(),
        }
    }
}

/// An asset (one version) or a folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtmmAsset {
    pub asset_id: AssetId,
    /// The first version's id: the lineage all versions share (itself when absent).
    pub original_asset_id: AssetId,
    pub version: u32,
    pub latest_version: bool,
    pub name: String,
    pub mime_type: Option<String>,
    /// BITMAP, VIDEO, AUDIO, ACROBAT...; CONTAINER for folders.
    pub content_type: Option<String>,
    pub deleted: bool,
    pub expired: bool,
    pub locked: bool,
    pub date_last_updated: Option<DateTime<Utc>>,
    pub master_content_size: Option<u64>,
    /// Field id → value, from every group (empty when metadata was not loaded).
    pub metadata: BTreeMap<String, FieldValue>,
}

impl OtmmAsset {
    /// The text of a field: plain values, lookup-domain values and (first row of) table fields.
    pub fn field_str(&self, field_id: &str) -> Option<&str> {
        self.metadata.get(field_id).and_then(FieldValue::as_str).filter(|s| !s.is_empty())
    }

    pub fn field(&self, field_id: &str) -> Option<&FieldValue> {
        self.metadata.get(field_id)
    }

    /// Every value of a field (table rows), empty when absent.
    pub fn field_values(&self, field_id: &str) -> Vec<&str> {
        self.metadata.get(field_id).map(FieldValue::values).unwrap_or_default()
    }

    pub fn is_folder(&self) -> bool {
        self.content_type.as_deref() == Some("CONTAINER")
    }
}

/// One page of `/search/text`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    pub assets: Vec<OtmmAsset>,
    pub asset_ids: Vec<String>,
    pub total_hit_count: u64,
    pub offset: u64,
    pub hit_count: u64,
}

/// One value of a lookup domain (`domainValues[]`, pyxecm `get_lookup_domain`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookupValue {
    pub display_value: Option<String>,
    /// `field_value.value`.
    pub value: Option<String>,
}

/// State of an import job (`job_resource.job`; shape UNCONFIRMED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    pub job_id: String,
    pub state: Option<String>,
    pub asset_ids: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// `v` at `path` (dotted keys), or a Protocol error naming the path.
pub(crate) fn at<'a>(operation: &'static str, v: &'a Value, path: &str) -> Result<&'a Value, OtmmError> {
    let mut cur = v;
    for key in path.split('.') {
        cur = match cur.get(key) {
            Some(next) if !next.is_null() => next,
            _ => return Err(OtmmError::protocol(operation, format!("expected JSON at {path}: missing"))),
        };
    }
    Ok(cur)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn flag(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn asset_id(operation: &'static str, v: &Value, path: &str, key: &str) -> Result<Option<AssetId>, OtmmError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => AssetId::parse(s).map(Some).map_err(|e| {
            OtmmError::protocol(operation, format!("expected JSON at {path}.{key}: an asset id ({e})"))
        }),
        Some(other) => Err(OtmmError::protocol(
            operation,
            format!("expected JSON at {path}.{key}: a string, found {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An asset record; `path` names where it sits, for error messages.
pub(crate) fn parse_asset(operation: &'static str, v: &Value, path: &str) -> Result<OtmmAsset, OtmmError> {
    if !v.is_object() {
        return Err(OtmmError::protocol(
            operation,
            format!("expected JSON at {path}: an object, found {}", kind(v)),
        ));
    }
    let id = asset_id(operation, v, path, "asset_id")?.ok_or_else(|| {
        OtmmError::protocol(operation, format!("expected JSON at {path}.asset_id: missing"))
    })?;
    let original = asset_id(operation, v, path, "original_asset_id")?.unwrap_or_else(|| id.clone());
    let version = match v.get("version") {
        None | Some(Value::Null) => 1,
        Some(x) => number(x).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
            OtmmError::protocol(
                operation,
                format!("expected JSON at {path}.version: a version number, found {x}"),
            )
        })?,
    };
    let date_last_updated = match v.get("date_last_updated") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_date(s).ok_or_else(|| {
            OtmmError::protocol(
                operation,
                format!("expected JSON at {path}.date_last_updated: a date, found {s:?}"),
            )
        })?),
        Some(other) => {
            return Err(OtmmError::protocol(
                operation,
                format!("expected JSON at {path}.date_last_updated: a string, found {}", kind(other)),
            ));
        }
    };
    let s = |k: &str| v.get(k).and_then(text);
    let mut metadata = BTreeMap::new();
    if let Some(md) = v.get("metadata").filter(|m| !m.is_null()) {
        let list = md.get("metadata_element_list").unwrap_or(&Value::Null);
        read_elements(operation, list, &format!("{path}.metadata.metadata_element_list"), &mut metadata)?;
    }
    Ok(OtmmAsset {
        asset_id: id,
        original_asset_id: original,
        version,
        latest_version: v.get("latest_version").is_none_or(|_| flag(v, "latest_version")),
        name: s("name").unwrap_or_default(),
        mime_type: s("mime_type"),
        content_type: s("content_type"),
        deleted: flag(v, "deleted"),
        expired: flag(v, "expired"),
        locked: flag(v, "locked"),
        date_last_updated,
        master_content_size: v
            .get("master_content_info")
            .and_then(|m| m.get("content_size"))
            .and_then(number)
            .or_else(|| v.get("content_size").and_then(number)),
        metadata,
    })
}

/// A value object (`value.value` of a field, or a table row's `value`).
fn scalar(v: &Value) -> Option<ScalarValue> {
    let value_type = v.get("type").and_then(Value::as_str).map(str::to_string);
    // Lookup domain: {"field_value":{"type","value"},"display_value"}.
    if let Some(fv) = v.get("field_value") {
        let value = fv.get("value").and_then(text)?;
        return Some(ScalarValue {
            value,
            display_value: v.get("display_value").and_then(text),
            value_type: fv.get("type").and_then(Value::as_str).map(str::to_string).or(value_type),
        });
    }
    let value = v.get("value").and_then(text)?;
    Some(ScalarValue { value, display_value: v.get("display_value").and_then(text), value_type })
}

fn read_elements(
    operation: &'static str,
    list: &Value,
    path: &str,
    out: &mut BTreeMap<String, FieldValue>,
) -> Result<(), OtmmError> {
    let items = match list {
        Value::Null => return Ok(()),
        Value::Array(items) => items,
        other => {
            return Err(OtmmError::protocol(
                operation,
                format!("expected JSON at {path}: an array, found {}", kind(other)),
            ));
        }
    };
    for (i, item) in items.iter().enumerate() {
        // A group (category) carries its own list; fields do not.
        if let Some(children) = item.get("metadata_element_list") {
            read_elements(operation, children, &format!("{path}[{i}].metadata_element_list"), out)?;
            continue;
        }
        let Some(id) = item.get("id").and_then(Value::as_str) else { continue };
        let is_table = item.get("type").and_then(Value::as_str)
            == Some("com.artesia.metadata.MetadataTableField")
            || item.get("values").is_some_and(Value::is_array);
        let value = if is_table {
            let rows: Vec<ScalarValue> = item
                .get("values")
                .and_then(Value::as_array)
                .map(|rows| {
                    rows.iter()
                        .filter_map(|row| {
                            let cell = row.get("value").unwrap_or(row);
                            // A row may itself be {"value":{...}} or a list of column values.
                            match cell {
                                Value::Array(cols) => cols
                                    .first()
                                    .and_then(|c| c.get("value").and_then(scalar).or_else(|| scalar(c))),
                                c => scalar(c),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            if rows.is_empty() { FieldValue::Empty } else { FieldValue::Table(rows) }
        } else {
            match item.get("value").and_then(|v| v.get("value")).and_then(scalar) {
                Some(s) => FieldValue::Scalar(s),
                None => FieldValue::Empty,
            }
        };
        out.insert(id.to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_every_shape_read_through_field_str() {
        let v = json!({
            "asset_id": "5E00000000000000000000000000000000000001",
            "original_asset_id": "5e00000000000000000000000000000000000001",
            "version": "3",
            "latest_version": true,
            "name": "cover.jpg",
            "date_last_updated": "2026-10-01T10:00:00Z",
            "master_content_info": {"content_size": 12345},
            "metadata": {"metadata_element_list": [
                {"id": "G1", "metadata_element_list": [
                    {"id": "PLAIN", "type": "com.artesia.metadata.MetadataField", "value": {"value": {"type": "string", "value": "9781800000001"}}},
                    {"id": "DOMAIN", "value": {"value": {"display_value": "Front Cover", "field_value": {"type": "string", "value": "FC"}}}},
                    {"id": "EMPTY", "value": {"value": {"type": "string"}}},
                    {"id": "NUM", "value": {"value": {"type": "long", "value": 42}}},
                ]},
                {"id": "TABLE", "type": "com.artesia.metadata.MetadataTableField", "values": [
                    {"value": {"type": "string", "value": "social"}}, {"value": {"type": "string", "value": "retail_web"}}
                ]},
            ]},
        });
        let a = parse_asset("get_asset", &v, "asset_resource.asset").unwrap();
        assert_eq!(a.asset_id.as_str(), "5e00000000000000000000000000000000000001");
        assert_eq!(a.version, 3);
        assert_eq!(a.master_content_size, Some(12345));
        assert_eq!(a.field_str("PLAIN"), Some("9781800000001"));
        assert_eq!(a.field_str("DOMAIN"), Some("FC"));
        assert!(
            matches!(a.field("DOMAIN"), Some(FieldValue::Scalar(s)) if s.display_value.as_deref() == Some("Front Cover"))
        );
        assert_eq!(a.field_str("EMPTY"), None);
        assert_eq!(a.field_str("NUM"), Some("42"));
        assert_eq!(a.field_str("TABLE"), Some("social"));
        assert_eq!(a.field_values("TABLE"), vec!["social", "retail_web"]);
        assert_eq!(a.field_str("MISSING"), None);
    }

    #[test]
    fn bad_records_are_protocol_errors_naming_the_path() {
        let err = parse_asset("get_asset", &json!({"name": "x"}), "asset_resource.asset").unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTMM get_asset: unexpected answer: expected JSON at asset_resource.asset.asset_id: missing"
        );
        let err = parse_asset("get_asset", &json!({"asset_id": "nothex"}), "a").unwrap_err();
        assert!(err.to_string().contains("expected JSON at a.asset_id: an asset id"), "{err}");
        let err = parse_asset(
            "search",
            &json!({"asset_id": "5e00000000000000000000000000000000000001", "version": "x"}),
            "a",
        )
        .unwrap_err();
        assert!(err.to_string().contains("a.version"), "{err}");
        let err = parse_asset(
            "search",
            &json!({"asset_id": "5e00000000000000000000000000000000000001", "date_last_updated": "yesterday"}),
            "a",
        )
        .unwrap_err();
        assert!(err.to_string().contains("a.date_last_updated: a date"), "{err}");
        let err = parse_asset("search", &json!([1]), "x").unwrap_err();
        assert!(err.to_string().contains("an object, found an array"), "{err}");
        assert!(at("op", &json!({"a": {"b": null}}), "a.b").is_err());
    }
}
