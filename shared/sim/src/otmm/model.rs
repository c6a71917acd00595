//! The simulator's records and how they render as OTMM JSON.
//!
//! Shapes follow the public clients cited in `/work/shared/API-NOTES.md`: the asset record as
//! OpenText's own pyxecm (`pyxecm/otmm.py`, `get_asset` docstring) prints it, metadata as
//! `metadata_element_list` groups of `com.artesia.metadata.MetadataField` /
//! `MetadataTableField` with values at `value.value.value` or, for lookup domains,
//! `value.value.field_value.value` (mureb/damTestScript `json.js`), errors as
//! `{"exception_body":{...}}`.

use crate::catalogue::{SeedAsset, otmm_fields};
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The system field the change feed searches and sorts on (`date_last_updated`), as the
/// mapping config's default names it (UNCONFIRMED; see `search::SearchIds`).
pub const DATE_LAST_UPDATED_FIELD: &str = connector_core::config::otmm_defaults::CHANGE_DATE_FIELD;
/// The asset id as a search/sort field (public clients sort `desc_ARTESIA.FIELD.ASSET ID`).
pub const ASSET_ID_FIELD: &str = "ARTESIA.FIELD.ASSET ID";
/// Lookup domains of the model's domain fields (`GET /lookupdomains/{id}`).
pub const APPROVAL_DOMAIN_ID: &str = "CUSTOM.DOMAIN.APPROVAL_STATUS";
pub const ASSET_TYPE_DOMAIN_ID: &str = "CUSTOM.DOMAIN.ASSET_TYPE";

/// The values of a lookup domain of the simulated model.
pub(crate) fn lookup_domain_values(id: &str) -> Option<Vec<String>> {
    match id {
        APPROVAL_DOMAIN_ID => {
            Some(["Approved", "In Review", "Rejected"].iter().map(|s| s.to_string()).collect())
        }
        ASSET_TYPE_DOMAIN_ID => {
            Some(crate::catalogue::role_values().iter().map(|(v, _)| v.to_string()).collect())
        }
        _ => None,
    }
}
/// The simulator's root folder, parent of the seeded assets.
pub const ROOT_FOLDER_ID: &str = "f0f0000000000000000000000000000000000001";
/// A second root folder, "Asset Requests", where the connector raises asset requests (flow 3;
/// the example mapping config's `otmm.requests.parent_folder_id`).
pub const REQUESTS_FOLDER_ID: &str = "f0f0000000000000000000000000000000000002";
pub const METADATA_MODEL_ID: &str = "ARTESIA.MODEL.DEFAULT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    /// A lookup-domain value: `value.value.field_value.value` with `display_value`.
    Domain,
    Date,
    /// A tabular field; the simulator stores it comma-separated and renders one row per item.
    Table,
}

/// A field of the model: (id, name, kind).
type FieldDef = (&'static str, &'static str, Kind);

/// The metadata model: groups (id, name) and their fields.
pub(crate) const MODEL: &[(&str, &str, &[FieldDef])] = &[
    (
        "CUSTOM.GROUP.TITLE",
        "Title",
        &[
            (otmm_fields::ISBN, "ISBN", Kind::Text),
            (otmm_fields::ASSET_TYPE, "Asset Type", Kind::Domain),
            (otmm_fields::IMPRINT, "Imprint", Kind::Text),
        ],
    ),
    (
        "CUSTOM.GROUP.APPROVAL",
        "Approval",
        &[
            (otmm_fields::APPROVAL_STATUS, "Approval Status", Kind::Domain),
            (otmm_fields::APPROVED_BY, "Approved By", Kind::Text),
            (otmm_fields::APPROVED_DATE, "Approved Date", Kind::Date),
        ],
    ),
    (
        "CUSTOM.GROUP.RIGHTS",
        "Rights & Permissions",
        &[
            (otmm_fields::TERRITORY, "Territory", Kind::Text),
            (otmm_fields::CHANNELS, "Channels", Kind::Table),
            (otmm_fields::EMBARGO_UNTIL, "Embargo Until", Kind::Date),
            (otmm_fields::EXPIRATION_DATE, "Expiration Date", Kind::Date),
            (otmm_fields::RIGHTS_FLAG, "Rights Flag", Kind::Text),
            (otmm_fields::DELIVERY_CHECK, "Delivery Check", Kind::Text),
        ],
    ),
    (
        "CUSTOM.GROUP.REQUEST",
        "Asset Request",
        &[
            (otmm_fields::REQUEST_ID, "Request Id", Kind::Text),
            (otmm_fields::DUE_DATE, "Due Date", Kind::Date),
            (otmm_fields::REQUEST_STATUS, "Request Status", Kind::Text),
            (otmm_fields::LAUNCH_READINESS, "Launch Readiness", Kind::Text),
        ],
    ),
];

/// One asset version as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimAsset {
    pub asset_id: String,
    pub original_asset_id: String,
    pub version: u32,
    pub latest_version: bool,
    pub name: String,
    pub mime_type: Option<String>,
    pub content_type: String,
    pub deleted: bool,
    pub date_imported: DateTime<Utc>,
    pub date_last_updated: DateTime<Utc>,
    /// 0 for a placeholder created with `no_content`.
    pub content_size: u64,
    pub parent_folder_id: Option<String>,
    /// The login name holding the lock (OTMM locks per user: `asset_lock_state_user_id`).
    pub locked_by: Option<String>,
    pub import_job_id: Option<u64>,
    /// Field id -> value (dates as RFC 3339, tables comma-separated).
    pub fields: BTreeMap<String, String>,
}

impl SimAsset {
    pub fn field(&self, id: &str) -> Option<&str> {
        self.fields.get(id).map(String::as_str)
    }

    /// Expired when the standard expiry field is in the past.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.field(otmm_fields::EXPIRATION_DATE).and_then(parse_date).is_some_and(|d| d < now)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimFolder {
    pub folder_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub container_type_id: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimPlaceholder {
    pub asset_id: String,
    pub job_id: u64,
    pub parent_folder_id: String,
    pub name: String,
    pub fields: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

pub(crate) fn now_secs() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

pub(crate) fn fmt_date(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 date-times and plain `YYYY-MM-DD` dates (midnight UTC).
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
}

fn date_field(d: NaiveDate) -> String {
    format!("{}T00:00:00Z", d.format("%Y-%m-%d"))
}

/// The asset records (one per version) of a seed asset.
pub(crate) fn seed_records(seed: &SeedAsset) -> Vec<SimAsset> {
    let latest = seed.versions.iter().map(|v| v.version).max().unwrap_or(1);
    seed.versions
        .iter()
        .map(|v| {
            let mut fields = BTreeMap::new();
            let mut put = |id: &str, value: Option<String>| {
                if let Some(value) = value.filter(|v| !v.is_empty()) {
                    fields.insert(id.to_string(), value);
                }
            };
            put(otmm_fields::ISBN, Some(seed.isbn.clone()));
            put(otmm_fields::ASSET_TYPE, Some(seed.asset_type.clone()));
            put(otmm_fields::IMPRINT, Some(seed.imprint.clone()));
            put(otmm_fields::APPROVAL_STATUS, Some(v.approval_status.clone()));
            put(otmm_fields::APPROVED_BY, v.approved_by.clone());
            put(otmm_fields::APPROVED_DATE, v.approved_at.map(|d| fmt_date(d.trunc_subsecs(0))));
            put(otmm_fields::TERRITORY, Some(seed.territory.clone()));
            put(otmm_fields::CHANNELS, Some(seed.channels.clone()));
            put(otmm_fields::EMBARGO_UNTIL, seed.embargo_until.map(date_field));
            put(otmm_fields::EXPIRATION_DATE, seed.expiration_date.map(date_field));
            SimAsset {
                asset_id: v.asset_id.clone(),
                original_asset_id: seed.original_asset_id.clone(),
                version: v.version,
                latest_version: v.version == latest,
                name: seed.name.clone(),
                mime_type: Some(seed.mime_type.clone()),
                content_type: seed.content_type.clone(),
                deleted: seed.deleted,
                date_imported: v.imported_at.trunc_subsecs(0),
                date_last_updated: v.last_updated.trunc_subsecs(0),
                content_size: v.size_bytes,
                parent_folder_id: Some(ROOT_FOLDER_ID.to_string()),
                locked_by: None,
                import_job_id: None,
                fields,
            }
        })
        .collect()
}

/// One field in OTMM's shape.
fn render_field(id: &str, name: &str, kind: Kind, value: Option<&str>) -> Value {
    match kind {
        Kind::Table => {
            let values: Vec<Value> = value
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!({"value": {"type": "string", "value": s}}))
                .collect();
            json!({
                "type": "com.artesia.metadata.MetadataTableField",
                "id": id,
                "name": name,
                "data_type": "CHAR",
                "values": values,
            })
        }
        Kind::Domain => {
            let inner = match value {
                Some(v) => json!({
                    "type": "com.artesia.metadata.DomainValue",
                    "display_value": v,
                    "field_value": {"type": "string", "value": v},
                }),
                None => json!({"type": "string"}),
            };
            json!({
                "type": "com.artesia.metadata.MetadataField",
                "id": id,
                "name": name,
                "data_type": "CHAR",
                "domained": true,
                "value": {"value": inner},
            })
        }
        Kind::Text | Kind::Date => {
            let (data_type, value_type) =
                if kind == Kind::Date { ("DATE", "dateTime") } else { ("CHAR", "string") };
            let inner = match value {
                Some(v) => json!({"type": value_type, "value": v}),
                None => json!({"type": value_type}),
            };
            json!({
                "type": "com.artesia.metadata.MetadataField",
                "id": id,
                "name": name,
                "data_type": data_type,
                "value": {"value": inner},
            })
        }
    }
}

/// `metadata` of an asset or folder: the model's groups, then any other fields in a group of
/// their own.
pub(crate) fn render_metadata(fields: &BTreeMap<String, String>) -> Value {
    let mut groups: Vec<Value> = MODEL
        .iter()
        .map(|(gid, gname, gfields)| {
            let list: Vec<Value> = gfields
                .iter()
                .map(|(id, name, kind)| render_field(id, name, *kind, fields.get(*id).map(String::as_str)))
                .collect();
            json!({
                "type": "com.artesia.metadata.MetadataCategory",
                "id": gid,
                "name": gname,
                "metadata_element_list": list,
            })
        })
        .collect();
    let known = |id: &str| MODEL.iter().any(|(_, _, fs)| fs.iter().any(|(f, _, _)| *f == id));
    let other: Vec<Value> = fields
        .iter()
        .filter(|(id, _)| !known(id))
        .map(|(id, v)| render_field(id, id, Kind::Text, Some(v)))
        .collect();
    if !other.is_empty() {
        groups.push(json!({
            "type": "com.artesia.metadata.MetadataCategory",
            "id": "CUSTOM.GROUP.OTHER",
            "name": "Other",
            "metadata_element_list": other,
        }));
    }
    json!({
        "type": "com.artesia.metadata.MetadataModel",
        "id": METADATA_MODEL_ID,
        "name": "Default",
        "metadata_element_list": groups,
    })
}

pub(crate) fn content_id(asset_id: &str) -> String {
    // A stable 40-hex id distinct from the asset id.
    let tail: String = asset_id.chars().skip(2).collect();
    format!("c0{tail}")
}

/// The asset record as `asset_resource.asset` / an `asset_list` item.
pub(crate) fn render_asset(a: &SimAsset, with_metadata: bool, version_path: &str) -> Value {
    let now = Utc::now();
    let mut v = json!({
        "asset_id": a.asset_id,
        "original_asset_id": a.original_asset_id,
        "version": a.version,
        "latest_version": a.latest_version,
        "name": a.name,
        "mime_type": a.mime_type,
        "content_type": a.content_type,
        "metadata_model_id": METADATA_MODEL_ID,
        "asset_state": if a.deleted { "DELETED" } else { "NORMAL" },
        "locked": a.locked_by.is_some(),
        "checked_out": false,
        "deleted": a.deleted,
        "expired": a.expired(now),
        "date_imported": fmt_date(a.date_imported),
        "date_last_updated": fmt_date(a.date_last_updated),
        "creator_id": "1001",
        "security_policy_list": [{"id": 2}],
    });
    if let Some(job) = a.import_job_id {
        v["import_job_id"] = json!(job);
    }
    if let Some(user) = &a.locked_by {
        v["asset_lock_state_user_name"] = json!(user);
    }
    if a.content_size > 0 {
        v["content_size"] = json!(a.content_size);
        let cid = content_id(&a.asset_id);
        v["master_content_info"] = json!({
            "id": cid,
            "name": a.name,
            "mime_type": a.mime_type,
            "content_kind": "MASTER",
            "content_size": a.content_size,
            "unit_of_size": "BYTES",
            "url": format!("/otmmapi/{version_path}/renditions/{cid}"),
        });
    }
    if with_metadata {
        v["metadata"] = render_metadata(&a.fields);
    }
    v
}

pub(crate) fn render_folder(f: &SimFolder, child_count: usize, with_metadata: bool) -> Value {
    let mut v = json!({
        "asset_id": f.folder_id,
        "name": f.name,
        "content_type": "CONTAINER",
        "container_type_id": f.container_type_id.clone().unwrap_or_else(|| "ARTESIA.BASIC.FOLDER".into()),
        "date_imported": fmt_date(f.created_at),
        "date_last_updated": fmt_date(f.created_at),
        "version": 1,
        "latest_version": true,
        "deleted": false,
        "container_child_counts": {"total_child_count": child_count},
    });
    if with_metadata {
        v["metadata"] = render_metadata(&f.fields);
    }
    v
}

/// OTMM's error body.
pub fn exception_body(status: u16, error_code: &str, message: &str) -> Value {
    json!({"exception_body": {
        "http_response_code": status,
        "error_code": error_code,
        "message": message,
        "debug_message": format!("simulated OTMM: {message}"),
    }})
}

/// The fault middleware's error body in OTMM's shape.
pub fn otmm_error_body(status: u16, message: &str) -> (String, &'static str) {
    (exception_body(status, "SIMULATED_FAULT", message).to_string(), "application/json")
}

/// Reads submitted metadata elements (a PATCH's `edited_asset.data.metadata`, or a folder's /
/// asset representation's `metadata_element_list`, nested groups included) into field values.
pub(crate) fn read_submitted_fields(list: &Value, out: &mut BTreeMap<String, String>) {
    let Some(items) = list.as_array() else { return };
    for item in items {
        if let Some(children) = item.get("metadata_element_list") {
            read_submitted_fields(children, out);
            continue;
        }
        let Some(id) = item.get("id").and_then(Value::as_str) else { continue };
        let inner = item.get("value").and_then(|v| v.get("value"));
        let scalar = |v: &Value| -> Option<String> {
            let x = v.get("field_value").and_then(|f| f.get("value")).or_else(|| v.get("value"))?;
            match x {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
        };
        let value = if let Some(rows) = item.get("values").and_then(Value::as_array) {
            let parts: Vec<String> = rows.iter().filter_map(|r| r.get("value").and_then(scalar)).collect();
            Some(parts.join(","))
        } else {
            inner.and_then(scalar)
        };
        match value {
            Some(v) if !v.is_empty() => {
                out.insert(id.to_string(), v);
            }
            _ => {
                out.remove(id);
            }
        }
    }
}
