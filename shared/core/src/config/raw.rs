//! The raw shape of the mapping config: serde structs that reject unknown keys, and the
//! parse that turns a TOML syntax or type error into a [`ConfigError`] naming the key and line.

use super::{ConfigError, Problem};
use super::{RequestMode, System};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    pub otmm: Otmm,
    pub consonance: Consonance,
    #[serde(default)]
    pub authority: Authority,
    pub launch: Launch,
    pub rights: Rights,
    #[serde(default)]
    pub requests: Option<RequestRules>,
    pub packages: Option<super::packages::raw::Packages>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRules {
    pub stages: Vec<String>,
    pub from_stage: String,
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    pub status_field: Option<String>,
    #[serde(default = "open_value")]
    pub open_value: String,
    #[serde(default = "closed_value")]
    pub closed_value: String,
    pub readiness_field: Option<String>,
}
fn open_value() -> String {
    "Open".into()
}
fn closed_value() -> String {
    "Fulfilled".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Otmm {
    pub fields: Fields,
    pub approval: Approval,
    pub roles: BTreeMap<String, String>,
    pub requests: Option<Requests>,
    #[serde(default)]
    pub search: super::otmm_api::raw::Search,
    #[serde(default)]
    pub versions: super::otmm_api::raw::Versions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub isbn: String,
    pub asset_type: String,
    pub approval_status: String,
    pub approved_by: Option<String>,
    pub approved_date: Option<String>,
    pub imprint: Option<String>,
    pub territory: Option<String>,
    pub channels: Option<String>,
    pub expiration_date: Option<String>,
    pub embargo_until: Option<String>,
    pub rights_flag: Option<String>,
    pub request_id: Option<String>,
    pub due_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub field: Option<String>,
    pub value: String,
    pub lookup_domain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    pub parent_folder_id: String,
    pub mode: RequestMode,
    pub metadata_model_id: Option<String>,
    pub container_type_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consonance {
    pub resources: BTreeMap<String, Resource>,
    pub staged_link_base_url: Option<String>,
    #[serde(default)]
    pub upload: super::routes::raw::Upload,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub route: Option<super::routes::raw::Route>,
    pub resource_variant: Option<String>,
    pub status: Option<String>,
    pub website_role: Option<String>,
    pub link_target: Option<super::LinkTarget>,
    pub product_forms: FormsSpec,
}

/// `"all"` or a list of product form codes.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "\"all\" or a list of product form codes such as [\"BB\", \"BC\"]")]
pub enum FormsSpec {
    Keyword(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    #[serde(default = "consonance")]
    pub title_data: System,
    #[serde(default = "otmm")]
    pub asset_data: System,
}
impl Default for Authority {
    fn default() -> Self {
        Authority { title_data: System::Consonance, asset_data: System::Otmm }
    }
}
fn consonance() -> System {
    System::Consonance
}
fn otmm() -> System {
    System::Otmm
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    #[serde(default)]
    pub required_fields: Vec<String>,
    pub forms: BTreeMap<String, LaunchForm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchForm {
    pub label: Option<String>,
    pub roles: Vec<String>,
    pub due_days_before_publication: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rights {
    pub expiry_warning_days: i64,
    pub default_channels: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub role_channels: BTreeMap<String, Vec<String>>,
}

/// 1-based line and column of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

pub(super) fn parse_raw(text: &str, file: &str) -> Result<Root, ConfigError> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        ConfigError::Syntax { file: file.to_string(), line, column, message: e.message().trim().to_string() }
    })?;
    serde_path_to_error::deserialize::<_, Root>(de).map_err(|e| {
        let key = key_path(e.path());
        let inner = e.inner();
        let line = inner.span().map(|s| line_col(text, s.start).0);
        let reason = inner.message().trim().to_string();
        ConfigError::Invalid { file: file.to_string(), problems: vec![Problem { key, reason, line }] }
    })
}

/// Renders a serde path in TOML syntax: bare keys as is, others quoted, array indexes `[i]`.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut out, key),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(&toml_key(key));
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
pub fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

pub(super) fn path(parts: &[&str]) -> String {
    parts.iter().map(|p| toml_key(p)).collect::<Vec<_>>().join(".")
}
