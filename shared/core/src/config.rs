//! The declarative mapping config: how one publisher's OTMM metadata model maps to Consonance.
//!
//! A TOML file (documented key by key in `docs/mapping-config.md`, example in
//! `config/mapping.example.toml`) is read in two steps: serde into `raw` structs that reject
//! unknown keys, then [`validate`](MappingConfig::from_toml_str) into typed values with the
//! cross-field rules checked. Every error names the file, the key path (TOML syntax, e.g.
//! `otmm.roles."Front Cover"`) and the reason; validation reports every problem it finds, not
//! only the first.
//!
//! Pure: reading the file in [`MappingConfig::load`] is the only I/O.

use crate::rights::Channel;
use crate::role::AssetRole;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

mod otmm_api;
mod packages;
mod routes;
pub use otmm_api::{SearchConfig, VersionsConfig, VersionsMethod, defaults as otmm_defaults};
pub use packages::{ChannelPackage, PACKAGE_CHANNELS, PackagesConfig, Recipient};
pub use routes::{LinkRoute, LinkTarget, UploadConfig, UploadMethod, is_jpeg, website_role_code};

// ---------------------------------------------------------------------------------------------
// Errors

/// One thing wrong with the config: where (key path, and line when known) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// TOML key path, e.g. `otmm.roles."Front Cover"`; empty for the document itself.
    pub key: String,
    pub reason: String,
    /// 1-based line, when the problem was found while reading the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() { "(document)" } else { &self.key };
        match self.line {
            Some(line) => write!(f, "{key} (line {line}): {}", self.reason),
            None => write!(f, "{key}: {}", self.reason),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read mapping config {file}: {message}")]
    Read { file: String, message: String },
    #[error("mapping config {file} is not valid TOML at line {line}, column {column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    #[error("{}", render_invalid(file, problems))]
    Invalid { file: String, problems: Vec<Problem> },
}

impl ConfigError {
    pub fn file(&self) -> &str {
        match self {
            ConfigError::Read { file, .. }
            | ConfigError::Syntax { file, .. }
            | ConfigError::Invalid { file, .. } => file,
        }
    }
    /// The problems of an `Invalid` error (empty otherwise).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn render_invalid(file: &str, problems: &[Problem]) -> String {
    match problems {
        [one] => format!("mapping config {file}: {one}"),
        many => {
            let mut s = format!("mapping config {file} has {} problems:", many.len());
            for p in many {
                s.push_str("\n  - ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validated config

/// The validated mapping config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingConfig {
    /// Where it was read from (file path or a name given by the caller).
    pub source: String,
    pub otmm: OtmmConfig,
    pub consonance: ConsonanceConfig,
    pub authority: Authority,
    pub launch: LaunchConfig,
    pub rights: RightsConfig,
    /// `[requests]`: when asset requests (flow 3) are raised. `None`: never.
    pub request_rules: Option<RequestRules>,
    /// `[packages]` (flow 5); `None`: no production packages are built.
    pub packages: Option<PackagesConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtmmConfig {
    pub fields: OtmmFields,
    pub approval: ApprovalRule,
    /// Asset-type field value -> role. Exactly one value per role (asset requests write it back).
    pub roles: BTreeMap<String, AssetRole>,
    pub requests: Option<RequestsConfig>,
    /// `[otmm.search]`: operator and field ids of the connector's searches.
    pub search: SearchConfig,
    /// `[otmm.versions]`: how an asset's versions are found.
    pub versions: VersionsConfig,
}

/// OTMM metadata field ids (e.g. `CUSTOM.FIELD.ISBN`, `ARTESIA.FIELD.EXPIRATION DATE`).
/// `None`: the installation does not hold that fact; the flows that need it say so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtmmFields {
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

/// The logical metadata fields the connector knows, as named under `[otmm.fields]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldName {
    Isbn,
    AssetType,
    ApprovalStatus,
    ApprovedBy,
    ApprovedDate,
    Imprint,
    Territory,
    Channels,
    ExpirationDate,
    EmbargoUntil,
    RightsFlag,
    RequestId,
    DueDate,
}

impl FieldName {
    pub const ALL: [FieldName; 13] = [
        FieldName::Isbn,
        FieldName::AssetType,
        FieldName::ApprovalStatus,
        FieldName::ApprovedBy,
        FieldName::ApprovedDate,
        FieldName::Imprint,
        FieldName::Territory,
        FieldName::Channels,
        FieldName::ExpirationDate,
        FieldName::EmbargoUntil,
        FieldName::RightsFlag,
        FieldName::RequestId,
        FieldName::DueDate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::Isbn => "isbn",
            FieldName::AssetType => "asset_type",
            FieldName::ApprovalStatus => "approval_status",
            FieldName::ApprovedBy => "approved_by",
            FieldName::ApprovedDate => "approved_date",
            FieldName::Imprint => "imprint",
            FieldName::Territory => "territory",
            FieldName::Channels => "channels",
            FieldName::ExpirationDate => "expiration_date",
            FieldName::EmbargoUntil => "embargo_until",
            FieldName::RightsFlag => "rights_flag",
            FieldName::RequestId => "request_id",
            FieldName::DueDate => "due_date",
        }
    }

    pub fn parse(s: &str) -> Option<FieldName> {
        FieldName::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OtmmFields {
    /// The OTMM field id configured for a logical field.
    pub fn get(&self, name: FieldName) -> Option<&str> {
        match name {
            FieldName::Isbn => Some(&self.isbn),
            FieldName::AssetType => Some(&self.asset_type),
            FieldName::ApprovalStatus => Some(&self.approval_status),
            FieldName::ApprovedBy => self.approved_by.as_deref(),
            FieldName::ApprovedDate => self.approved_date.as_deref(),
            FieldName::Imprint => self.imprint.as_deref(),
            FieldName::Territory => self.territory.as_deref(),
            FieldName::Channels => self.channels.as_deref(),
            FieldName::ExpirationDate => self.expiration_date.as_deref(),
            FieldName::EmbargoUntil => self.embargo_until.as_deref(),
            FieldName::RightsFlag => self.rights_flag.as_deref(),
            FieldName::RequestId => self.request_id.as_deref(),
            FieldName::DueDate => self.due_date.as_deref(),
        }
    }
}

/// Which field value means "approved" (OTMM has no approval endpoint: API-NOTES, "Approval").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRule {
    /// The OTMM field id holding the status (defaults to `otmm.fields.approval_status`).
    pub field: String,
    pub value: String,
    /// The lookup domain the field takes its values from (`GET /lookupdomains/{id}`), so
    /// `connector check` can confirm `value` is one of them.
    pub lookup_domain: Option<String>,
}

impl ApprovalRule {
    /// Exact match after trimming: lookup-domain values are fixed strings.
    pub fn is_approved(&self, field_value: &str) -> bool {
        field_value.trim() == self.value
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestMode {
    /// One folder per request, carrying ISBN, role and due date in its metadata.
    Folder,
    /// One placeholder asset (`no_content`) per request.
    Placeholder,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestsConfig {
    pub parent_folder_id: String,
    pub mode: RequestMode,
    pub metadata_model_id: Option<String>,
    /// `container_type_id` of request folders (mode `folder`).
    pub container_type_id: String,
}

/// An ONIX 2.1 product form code as Consonance reports it (`BB` hardback, `BC` paperback,
/// `DG` ebook, `AJ` audio download): two characters, an upper-case letter then a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductForm(String);

impl ProductForm {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        if b.len() == 2 && b[0].is_ascii_uppercase() && (b[1].is_ascii_uppercase() || b[1].is_ascii_digit()) {
            Ok(ProductForm(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not an ONIX product form code; expected two characters such as BB, BC, DG or AJ"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for ProductForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for ProductForm {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ProductForm::parse(&s)
    }
}
impl From<ProductForm> for String {
    fn from(p: ProductForm) -> String {
        p.0
    }
}

/// Which products of a work a role's supporting resource is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductForms {
    All,
    Only(BTreeSet<ProductForm>),
}

impl ProductForms {
    pub fn contains(&self, form: &ProductForm) -> bool {
        match self {
            ProductForms::All => true,
            ProductForms::Only(set) => set.contains(form),
        }
    }
}

/// How a role is written to Consonance: its route (a JPG supporting resource, with the
/// tenant's `resourceVariant`/`status` enum values, or a web link) and the products it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceSettings {
    pub route: LinkRoute,
    pub product_forms: ProductForms,
}

impl ResourceSettings {
    /// The `resourceVariant` of a supporting-resource route.
    pub fn resource_variant(&self) -> Option<&str> {
        match &self.route {
            LinkRoute::SupportingResource { resource_variant, .. } => Some(resource_variant),
            LinkRoute::WebLink { .. } => None,
        }
    }
    /// The `status` of a supporting-resource route.
    pub fn status(&self) -> Option<&str> {
        match &self.route {
            LinkRoute::SupportingResource { status, .. } => Some(status),
            LinkRoute::WebLink { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsonanceConfig {
    pub resources: BTreeMap<AssetRole, ResourceSettings>,
    /// Where staged copies are reachable (web links with `link_target = "staged"`), ending `/`.
    pub staged_link_base_url: Option<String>,
    /// `[consonance.upload]`: how supporting-resource files get to Consonance.
    pub upload: UploadConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Otmm,
    Consonance,
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::Otmm => "otmm",
            System::Consonance => "consonance",
        })
    }
}

/// Which side wins when identifier alignment finds the two disagreeing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// Title data: ISBN, imprint, titles (default: consonance).
    pub title_data: System,
    /// Asset data: files, versions, approval, usage rights (default: otmm).
    pub asset_data: System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchRequirement {
    pub label: Option<String>,
    pub roles: Vec<AssetRole>,
    pub due_days_before_publication: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchConfig {
    /// "Correctly tagged": these metadata fields must be non-empty on a linked asset.
    pub required_fields: Vec<FieldName>,
    pub forms: BTreeMap<ProductForm, LaunchRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RightsConfig {
    pub expiry_warning_days: u32,
    /// The channels a product of this form is sold on (used by `may_use`).
    pub default_channels: BTreeMap<ProductForm, BTreeSet<Channel>>,
    /// `[rights.role_channels]`: the channels an asset of this role is used on, whatever the
    /// product (campaign material: social, retail web). Overrides `default_channels`.
    pub role_channels: BTreeMap<AssetRole, BTreeSet<Channel>>,
}

/// `[requests]`: which Consonance project stages raise asset requests, and how a request's
/// state is shown in OTMM. Consonance's `projectStage` values are tenant-defined (UNCONFIRMED),
/// hence listed here in workflow order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRules {
    /// `projectStage` values in workflow order, e.g. Acquisition, Editorial, Design, Production.
    pub stages: Vec<String>,
    /// From this stage on, every role the product form needs for launch is requested.
    pub from_stage: String,
    /// Roles requested earlier (or later) than `from_stage`, e.g. `author_photo = "Editorial"`.
    pub role_from_stage: BTreeMap<AssetRole, String>,
    /// OTMM field id holding the request's state (open/closed), if the model has one.
    pub status_field: Option<String>,
    pub open_value: String,
    pub closed_value: String,
    /// OTMM field id on the request folder/placeholder that receives the title's launch
    /// readiness status (ready / at_risk / blocked), if any.
    pub readiness_field: Option<String>,
}

impl RequestRules {
    /// Position of a stage in the workflow (`None`: a value this config does not know).
    pub fn stage_index(&self, stage: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.eq_ignore_ascii_case(stage.trim()))
    }

    /// Whether a title at `stage` has reached the point where `role` is requested.
    pub fn requests_role_at(&self, role: AssetRole, stage: &str) -> bool {
        let from = self.role_from_stage.get(&role).unwrap_or(&self.from_stage);
        match (self.stage_index(stage), self.stage_index(from)) {
            (Some(at), Some(from)) => at >= from,
            _ => false,
        }
    }
}

impl MappingConfig {
    /// Parses and validates a config. `source_name` is used in every error (a path or a label).
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<MappingConfig, ConfigError> {
        let raw = parse_raw(text, source_name)?;
        validate(raw, source_name)
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<MappingConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { file: file.clone(), message: e.to_string() })?;
        MappingConfig::from_toml_str(&text, &file)
    }

    /// The role an asset-type field value stands for (exact match after trimming).
    pub fn role_for(&self, asset_type_value: &str) -> Option<AssetRole> {
        self.otmm.roles.get(asset_type_value.trim()).copied()
    }

    /// The asset-type value written to OTMM for a role (asset requests).
    pub fn value_for_role(&self, role: AssetRole) -> Option<&str> {
        self.otmm.roles.iter().find(|(_, r)| **r == role).map(|(v, _)| v.as_str())
    }

    pub fn resource_for(&self, role: AssetRole) -> Option<&ResourceSettings> {
        self.consonance.resources.get(&role)
    }

    /// Whether an asset of `role` is linked to products of `form`.
    pub fn links_to(&self, role: AssetRole, form: &ProductForm) -> bool {
        self.resource_for(role).is_some_and(|r| r.product_forms.contains(form))
    }

    pub fn launch_for(&self, form: &ProductForm) -> Option<&LaunchRequirement> {
        self.launch.forms.get(form)
    }

    pub fn default_channels(&self, form: &ProductForm) -> Option<&BTreeSet<Channel>> {
        self.rights.default_channels.get(form)
    }

    /// The channels an asset of `role` linked to a product of `form` is used on: the role's
    /// own (`[rights.role_channels]`) if set, else the form's (`[rights.default_channels]`).
    pub fn usage_channels(&self, role: AssetRole, form: Option<&ProductForm>) -> Option<&BTreeSet<Channel>> {
        self.rights.role_channels.get(&role).or_else(|| form.and_then(|f| self.default_channels(f)))
    }
}

// ---------------------------------------------------------------------------------------------
// Raw shape (serde)

mod raw {
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
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse_raw(text: &str, file: &str) -> Result<raw::Root, ConfigError> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        ConfigError::Syntax { file: file.to_string(), line, column, message: e.message().trim().to_string() }
    })?;
    serde_path_to_error::deserialize::<_, raw::Root>(de).map_err(|e| {
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

fn path(parts: &[&str]) -> String {
    parts.iter().map(|p| toml_key(p)).collect::<Vec<_>>().join(".")
}

// ---------------------------------------------------------------------------------------------
// Validation

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: String, reason: impl Into<String>) {
        self.0.push(Problem { key, reason: reason.into(), line: None });
    }
}

fn roles_list() -> String {
    AssetRole::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

fn channels_list() -> String {
    Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

fn parse_role(s: &str) -> Result<AssetRole, String> {
    s.parse::<AssetRole>().map_err(|_| format!("unknown role {s:?}; expected one of {}", roles_list()))
}

fn non_empty(p: &mut Problems, key: String, value: &str) -> String {
    let v = value.trim();
    if v.is_empty() {
        p.add(key, "must not be empty");
    }
    v.to_string()
}

fn positive_days(p: &mut Problems, key: String, days: i64) -> u32 {
    match u32::try_from(days) {
        Ok(d) if d > 0 && d <= 3660 => d,
        _ => {
            p.add(key, format!("must be a number of days from 1 to 3660, got {days}"));
            0
        }
    }
}

fn validate(raw: raw::Root, file: &str) -> Result<MappingConfig, ConfigError> {
    let mut p = Problems(Vec::new());

    // [otmm.fields]
    let f = &raw.otmm.fields;
    let opt = |p: &mut Problems, name: &str, v: &Option<String>| -> Option<String> {
        v.as_ref().map(|v| non_empty(p, path(&["otmm", "fields", name]), v))
    };
    let fields = OtmmFields {
        isbn: non_empty(&mut p, path(&["otmm", "fields", "isbn"]), &f.isbn),
        asset_type: non_empty(&mut p, path(&["otmm", "fields", "asset_type"]), &f.asset_type),
        approval_status: non_empty(&mut p, path(&["otmm", "fields", "approval_status"]), &f.approval_status),
        approved_by: opt(&mut p, "approved_by", &f.approved_by),
        approved_date: opt(&mut p, "approved_date", &f.approved_date),
        imprint: opt(&mut p, "imprint", &f.imprint),
        territory: opt(&mut p, "territory", &f.territory),
        channels: opt(&mut p, "channels", &f.channels),
        expiration_date: opt(&mut p, "expiration_date", &f.expiration_date),
        embargo_until: opt(&mut p, "embargo_until", &f.embargo_until),
        rights_flag: opt(&mut p, "rights_flag", &f.rights_flag),
        request_id: opt(&mut p, "request_id", &f.request_id),
        due_date: opt(&mut p, "due_date", &f.due_date),
    };
    // Two logical fields in one OTMM field would make the connector read one fact as another.
    let mut seen: BTreeMap<&str, FieldName> = BTreeMap::new();
    for name in FieldName::ALL {
        if let Some(id) = fields.get(name).filter(|id| !id.is_empty()) {
            if let Some(first) = seen.get(id) {
                p.add(
                    path(&["otmm", "fields", name.as_str()]),
                    format!("field id {id:?} is already used by otmm.fields.{first}; each fact needs its own field"),
                );
            } else {
                seen.insert(id, name);
            }
        }
    }

    // [otmm.approval]
    let approval = ApprovalRule {
        field: match &raw.otmm.approval.field {
            Some(field) => non_empty(&mut p, path(&["otmm", "approval", "field"]), field),
            None => fields.approval_status.clone(),
        },
        value: non_empty(&mut p, path(&["otmm", "approval", "value"]), &raw.otmm.approval.value),
        lookup_domain: raw
            .otmm
            .approval
            .lookup_domain
            .as_ref()
            .map(|d| non_empty(&mut p, path(&["otmm", "approval", "lookup_domain"]), d)),
    };
    let search = otmm_api::validate_search(&mut p, &raw.otmm.search);
    let versions = otmm_api::validate_versions(&mut p, &raw.otmm.versions);

    // [otmm.roles]
    let mut roles: BTreeMap<String, AssetRole> = BTreeMap::new();
    let mut role_source: BTreeMap<AssetRole, String> = BTreeMap::new();
    if raw.otmm.roles.is_empty() {
        p.add(path(&["otmm", "roles"]), "must map at least one asset-type value to a role");
    }
    for (value, role_name) in &raw.otmm.roles {
        let key = path(&["otmm", "roles", value]);
        if value.trim().is_empty() {
            p.add(key, "an asset-type value must not be empty");
            continue;
        }
        if value.trim() != value {
            p.add(key, "an asset-type value must not start or end with spaces");
            continue;
        }
        match parse_role(role_name) {
            Err(reason) => p.add(key, reason),
            Ok(role) => {
                if let Some(first) = role_source.get(&role) {
                    p.add(
                        key,
                        format!(
                            "role {role} is already mapped from {first:?}; each role needs exactly one \
                             asset-type value, because asset requests write it back to OTMM"
                        ),
                    );
                } else {
                    role_source.insert(role, value.clone());
                    roles.insert(value.clone(), role);
                }
            }
        }
    }

    // Cross-checks against the role mapping only run once it is valid: one typo should give one
    // problem, not one per place the role is used.
    let roles_ok = p.0.iter().all(|x| !x.key.starts_with("otmm.roles"));

    // [otmm.requests]
    let requests = raw.otmm.requests.as_ref().map(|r| {
        for (name, v) in [("request_id", &fields.request_id), ("due_date", &fields.due_date)] {
            if v.is_none() {
                p.add(path(&["otmm", "fields", name]), "is required when [otmm.requests] is present");
            }
        }
        RequestsConfig {
            parent_folder_id: non_empty(
                &mut p,
                path(&["otmm", "requests", "parent_folder_id"]),
                &r.parent_folder_id,
            ),
            mode: r.mode,
            metadata_model_id: r
                .metadata_model_id
                .as_ref()
                .map(|m| non_empty(&mut p, path(&["otmm", "requests", "metadata_model_id"]), m)),
            container_type_id: match &r.container_type_id {
                Some(c) => non_empty(&mut p, path(&["otmm", "requests", "container_type_id"]), c),
                None => otmm_api::defaults::FOLDER_CONTAINER_TYPE.to_string(),
            },
        }
    });

    // [consonance.resources.<role>]
    let mut resources: BTreeMap<AssetRole, ResourceSettings> = BTreeMap::new();
    for (role_name, r) in &raw.consonance.resources {
        let key = |leaf: &str| path(&["consonance", "resources", role_name, leaf]);
        let role = match parse_role(role_name) {
            Ok(role) => role,
            Err(reason) => {
                p.add(path(&["consonance", "resources", role_name]), reason);
                continue;
            }
        };
        if roles_ok && !role_source.contains_key(&role) {
            p.add(
                path(&["consonance", "resources", role_name]),
                format!("no asset-type value in [otmm.roles] maps to role {role}"),
            );
        }
        let product_forms = match &r.product_forms {
            raw::FormsSpec::Keyword(k) if k == "all" => ProductForms::All,
            raw::FormsSpec::Keyword(k) => {
                p.add(
                    key("product_forms"),
                    format!("{k:?} is not \"all\"; use \"all\" or a list such as [\"AJ\"]"),
                );
                ProductForms::All
            }
            raw::FormsSpec::List(list) => ProductForms::Only(forms_list(&mut p, key("product_forms"), list)),
        };
        let route = routes::validate_route(
            &mut p,
            role_name,
            routes::raw::RouteKeys {
                route: r.route,
                resource_variant: &r.resource_variant,
                status: &r.status,
                website_role: &r.website_role,
                link_target: r.link_target,
            },
        );
        if matches!(route, LinkRoute::WebLink { target: LinkTarget::Staged, .. })
            && raw.consonance.staged_link_base_url.is_none()
        {
            p.add(
                key("link_target"),
                "\"staged\" needs consonance.staged_link_base_url (where staged copies are reachable)",
            );
        }
        resources.insert(role, ResourceSettings { route, product_forms });
    }
    let staged_link_base_url = raw.consonance.staged_link_base_url.as_ref().map(|u| {
        let key = path(&["consonance", "staged_link_base_url"]);
        let v = u.trim();
        if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains(char::is_whitespace) {
            p.add(key, format!("{v:?} must be an http(s) base URL, e.g. \"https://files.example.com/\""));
        }
        if v.ends_with('/') { v.to_string() } else { format!("{v}/") }
    });
    let upload = routes::validate_upload(&mut p, &raw.consonance.upload);

    let resources_ok = p.0.iter().all(|x| !x.key.starts_with("consonance.resources"));

    // [launch]
    let mut required_fields = Vec::new();
    for (i, name) in raw.launch.required_fields.iter().enumerate() {
        let key = format!("launch.required_fields[{i}]");
        match FieldName::parse(name) {
            None => p.add(
                key,
                format!(
                    "unknown field {name:?}; expected one of {}",
                    FieldName::ALL.map(FieldName::as_str).join(", ")
                ),
            ),
            Some(f) if fields.get(f).is_none() => p.add(key, format!("otmm.fields.{f} is not configured")),
            Some(f) if required_fields.contains(&f) => p.add(key, format!("{f} is listed twice")),
            Some(f) => required_fields.push(f),
        }
    }
    let mut forms = BTreeMap::new();
    for (form_code, lf) in &raw.launch.forms {
        let base = ["launch", "forms", form_code.as_str()];
        let form = match ProductForm::parse(form_code) {
            Ok(f) => f,
            Err(reason) => {
                p.add(path(&base), reason);
                continue;
            }
        };
        let key = |leaf: &str| path(&[base[0], base[1], base[2], leaf]);
        let mut launch_roles = Vec::new();
        if lf.roles.is_empty() {
            p.add(key("roles"), "must list at least one role");
        }
        for (i, name) in lf.roles.iter().enumerate() {
            let k = format!("{}[{i}]", key("roles"));
            let role = match parse_role(name) {
                Ok(r) => r,
                Err(reason) => {
                    p.add(k, reason);
                    continue;
                }
            };
            if launch_roles.contains(&role) {
                p.add(k, format!("role {role} is listed twice"));
            } else if !role_source.contains_key(&role) {
                if roles_ok {
                    p.add(k, format!("role {role} is not mapped from any asset-type value in [otmm.roles]"));
                }
            } else if !resources.contains_key(&role) {
                if resources_ok {
                    p.add(k, format!("role {role} has no [consonance.resources.{role}] to link it with"));
                }
            } else if !resources[&role].product_forms.contains(&form) {
                p.add(
                    k,
                    format!(
                        "role {role} is required for {form} but consonance.resources.{role}.product_forms \
                         does not include {form}, so it could never be linked"
                    ),
                );
            } else {
                launch_roles.push(role);
            }
        }
        let due = positive_days(&mut p, key("due_days_before_publication"), lf.due_days_before_publication);
        let label = lf.label.as_ref().map(|l| non_empty(&mut p, key("label"), l));
        forms
            .insert(form, LaunchRequirement { label, roles: launch_roles, due_days_before_publication: due });
    }

    // [rights]
    let expiry_warning_days =
        positive_days(&mut p, "rights.expiry_warning_days".into(), raw.rights.expiry_warning_days);
    let mut default_channels = BTreeMap::new();
    for (form_code, list) in &raw.rights.default_channels {
        let key = path(&["rights", "default_channels", form_code]);
        let form = match ProductForm::parse(form_code) {
            Ok(f) => f,
            Err(reason) => {
                p.add(key, reason);
                continue;
            }
        };
        default_channels.insert(form, channel_set(&mut p, &key, list));
    }
    let mut role_channels = BTreeMap::new();
    for (role_name, list) in &raw.rights.role_channels {
        let key = path(&["rights", "role_channels", role_name]);
        match parse_role(role_name) {
            Ok(role) => {
                role_channels.insert(role, channel_set(&mut p, &key, list));
            }
            Err(reason) => p.add(key, reason),
        }
    }

    let request_rules = raw.requests.as_ref().map(|r| request_rules(&mut p, r));

    // [packages]
    let mapped_roles: BTreeSet<AssetRole> = role_source.keys().copied().collect();
    let packages = raw
        .packages
        .as_ref()
        .map(|pk| packages::validate(&mut p, pk, &mapped_roles, roles_ok, &resources, resources_ok));

    if !p.0.is_empty() {
        return Err(ConfigError::Invalid { file: file.to_string(), problems: p.0 });
    }
    Ok(MappingConfig {
        source: file.to_string(),
        otmm: OtmmConfig { fields, approval, roles, requests, search, versions },
        consonance: ConsonanceConfig { resources, staged_link_base_url, upload },
        authority: Authority { title_data: raw.authority.title_data, asset_data: raw.authority.asset_data },
        launch: LaunchConfig { required_fields, forms },
        rights: RightsConfig { expiry_warning_days, default_channels, role_channels },
        request_rules,
        packages,
    })
}

fn request_rules(p: &mut Problems, r: &raw::RequestRules) -> RequestRules {
    let mut stages: Vec<String> = Vec::new();
    if r.stages.is_empty() {
        p.add("requests.stages".into(), "must list the project stages in workflow order");
    }
    for (i, s) in r.stages.iter().enumerate() {
        let v = non_empty(p, format!("requests.stages[{i}]"), s);
        if stages.iter().any(|x| x.eq_ignore_ascii_case(&v)) {
            p.add(format!("requests.stages[{i}]"), format!("stage {v:?} is listed twice"));
        } else if !v.is_empty() {
            stages.push(v);
        }
    }
    let known = |s: &str| stages.iter().any(|x| x.eq_ignore_ascii_case(s.trim()));
    let from_stage = r.from_stage.trim().to_string();
    if !known(&from_stage) {
        p.add(
            "requests.from_stage".into(),
            format!("{from_stage:?} is not one of requests.stages ({})", stages.join(", ")),
        );
    }
    let mut role_from_stage = BTreeMap::new();
    for (role_name, stage) in &r.roles {
        let key = path(&["requests", "roles", role_name]);
        match parse_role(role_name) {
            Err(reason) => p.add(key, reason),
            Ok(_) if !known(stage) => {
                p.add(key, format!("{stage:?} is not one of requests.stages ({})", stages.join(", ")))
            }
            Ok(role) => {
                role_from_stage.insert(role, stage.trim().to_string());
            }
        }
    }
    let status_field = r.status_field.as_ref().map(|f| non_empty(p, "requests.status_field".into(), f));
    let readiness_field =
        r.readiness_field.as_ref().map(|f| non_empty(p, "requests.readiness_field".into(), f));
    let open_value = non_empty(p, "requests.open_value".into(), &r.open_value);
    let closed_value = non_empty(p, "requests.closed_value".into(), &r.closed_value);
    if open_value == closed_value && !open_value.is_empty() {
        p.add("requests.closed_value".into(), "must differ from requests.open_value");
    }
    RequestRules {
        stages,
        from_stage,
        role_from_stage,
        status_field,
        open_value,
        closed_value,
        readiness_field,
    }
}

/// A non-empty list of channel names without repeats.
fn channel_set(p: &mut Problems, key: &str, list: &[String]) -> BTreeSet<Channel> {
    if list.is_empty() {
        p.add(key.to_string(), format!("must list at least one channel of {}", channels_list()));
    }
    let mut set = BTreeSet::new();
    for (i, c) in list.iter().enumerate() {
        match c.parse::<Channel>() {
            Ok(ch) if !set.insert(ch) => {
                p.add(format!("{key}[{i}]"), format!("channel {ch} is listed twice"))
            }
            Ok(_) => {}
            Err(_) => p.add(
                format!("{key}[{i}]"),
                format!("unknown channel {c:?}; expected one of {}", channels_list()),
            ),
        }
    }
    set
}

fn forms_list(p: &mut Problems, key: String, list: &[String]) -> BTreeSet<ProductForm> {
    if list.is_empty() {
        p.add(key.clone(), "must list at least one product form, or be \"all\"");
    }
    let mut set = BTreeSet::new();
    for (i, code) in list.iter().enumerate() {
        match ProductForm::parse(code) {
            Ok(f) => {
                if !set.insert(f) {
                    p.add(format!("{key}[{i}]"), format!("{code} is listed twice"));
                }
            }
            Err(reason) => p.add(format!("{key}[{i}]"), reason),
        }
    }
    set
}

#[cfg(test)]
mod tests;
