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
mod raw;
mod routes;
mod validate;
pub use otmm_api::{SearchConfig, VersionsConfig, VersionsMethod, defaults as otmm_defaults};
pub use packages::{ChannelPackage, PACKAGE_CHANNELS, PackagesConfig, Recipient};
pub use raw::toml_key;
use raw::{parse_raw, path};
pub use routes::{LinkRoute, LinkTarget, UploadConfig, UploadMethod, is_jpeg, website_role_code};
use validate::{Problems, non_empty, parse_role, validate};

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
    pub fn parse(s: &str) -> Result<Self, ProductFormError> {
        let b = s.as_bytes();
        if b.len() == 2 && b[0].is_ascii_uppercase() && (b[1].is_ascii_uppercase() || b[1].is_ascii_digit()) {
            Ok(ProductForm(s.to_string()))
        } else {
            Err(ProductFormError(s.to_string()))
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
/// A string that is not an ONIX product form code (the string, as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ONIX product form code; expected two characters such as BB, BC, DG or AJ")]
pub struct ProductFormError(pub String);

impl TryFrom<String> for ProductForm {
    type Error = ProductFormError;
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

#[cfg(test)]
mod tests;
