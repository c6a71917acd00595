//! `[otmm.search]` and `[otmm.versions]`: the OTMM ids the connector's searches use (field
//! ids, relational operator ids, the sort syntax) and how it finds an asset's versions.
//!
//! OTMM installations differ and OpenText's reference pages are not public, so no id is a
//! literal in the clients: these are the only place they are named, as defaults that
//! `connector check` settles on a live tenant (docs/ASSUMPTIONS.md lists the evidence).

use super::{Problems, non_empty, path};
use serde::{Deserialize, Serialize};

/// Defaults, each from the public source named beside it (docs/ASSUMPTIONS.md).
pub mod defaults {
    /// Text match. Seen in opentext/pyxecm `pyxecm/otmm.py` (`get_product_assets`), and in the
    /// public OTMM panels that find versions by `ARTESIA.FIELD.ORIGINAL ASSET ID`. "Contains",
    /// so the connector filters hits for an exact value itself.
    pub const TEXT_OPERATOR: &str = "ARTESIA.OPERATOR.CHAR.CONTAINS";
    /// The last-modified date the change feed filters and sorts on. UNCONFIRMED: no public
    /// source shows it (the asset record's `date_last_updated` is confirmed, its field id not).
    pub const CHANGE_DATE_FIELD: &str = "ARTESIA.FIELD.DATE LAST UPDATED";
    /// "On or after" for dates. UNCONFIRMED (no public source shows a date operator).
    pub const DATE_ON_OR_AFTER_OPERATOR: &str = "ARTESIA.OPERATOR.DATE.IS_ON_OR_AFTER";
    /// Sort syntax: public clients sort `desc_ARTESIA.FIELD.ASSET ID`
    /// (joaquinOnSoft/otmm-site- `otmm/Search.js`); `asc_` is the same form ascending.
    pub const SORT_ASCENDING: &str = "asc_{field}";
    /// Latest versions only: the public OTMM panel that verifies asset versions searches
    /// `ARTESIA.FIELD.IS LATEST VERSION` contains `Y` (API-NOTES, evidence audit).
    pub const LATEST_VERSION_FIELD: &str = "ARTESIA.FIELD.IS LATEST VERSION";
    pub const LATEST_VERSION_VALUE: &str = "Y";
    /// An asset's lineage: the same panel searches `ARTESIA.FIELD.ORIGINAL ASSET ID`.
    pub const ORIGINAL_ASSET_ID_FIELD: &str = "ARTESIA.FIELD.ORIGINAL ASSET ID";
    /// A versions listing resource, relative to `/otmmapi/{v}/`. UNCONFIRMED (no public
    /// client lists versions this way); used only with `method = "resource"`.
    pub const VERSIONS_RESOURCE_PATH: &str = "assets/{id}/versions";
    /// `container_type_id` of request folders (joaquinOnSoft/OTMMAssetUploader
    /// `OTMMAPIFolders.java`).
    pub const FOLDER_CONTAINER_TYPE: &str = "ARTESIA.BASIC.FOLDER";
    /// The standard metadata model of created assets (API-NOTES "Assets").
    pub const ASSET_METADATA_MODEL: &str = "ARTESIA.MODEL.DEFAULT";
}

/// `[otmm.search]`: how the connector's searches are spelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchConfig {
    /// Relational operator for text fields (ISBN, request id, lineage id). Hits are filtered
    /// for an exact match afterwards, so "contains" is enough.
    pub text_operator: String,
    /// The last-modified date field of the change feed (condition and sort).
    pub change_date_field: String,
    /// "On or after" for `change_date_field`.
    pub date_on_or_after_operator: String,
    /// Ascending sort on a field: a template with `{field}`.
    pub sort_ascending: String,
    /// A condition `<field> <text_operator> <value>` that keeps searches to latest versions;
    /// `None` when the installation's searches return latest versions only anyway.
    pub latest_version: Option<(String, String)>,
    /// Search several values of a field in one search: conditions ORed in a parenthesised
    /// group (`relational_operator: "or"`, `left_paren`, `right_paren`), as a public OTMM
    /// client searches several lineages (docs/ASSUMPTIONS.md O25). Readiness then searches a
    /// work's ISBNs in one call, not one per ISBN. `false`: one search per value.
    pub or_conditions: bool,
}

impl SearchConfig {
    pub fn sort_ascending_on(&self, field: &str) -> String {
        self.sort_ascending.replace("{field}", field)
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            text_operator: defaults::TEXT_OPERATOR.into(),
            change_date_field: defaults::CHANGE_DATE_FIELD.into(),
            date_on_or_after_operator: defaults::DATE_ON_OR_AFTER_OPERATOR.into(),
            sort_ascending: defaults::SORT_ASCENDING.into(),
            latest_version: Some((
                defaults::LATEST_VERSION_FIELD.into(),
                defaults::LATEST_VERSION_VALUE.into(),
            )),
            or_conditions: true,
        }
    }
}

/// How an asset's versions are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionsMethod {
    /// A search on the lineage field (`original_asset_id_field` contains the first version's
    /// id): the pattern public OTMM code uses.
    Search,
    /// `GET {resource_path}` (UNCONFIRMED resource); falls back to the search when OTMM
    /// answers 404 for the resource itself.
    Resource,
}

/// `[otmm.versions]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionsConfig {
    pub method: VersionsMethod,
    pub original_asset_id_field: String,
    /// Relative to `/otmmapi/{v}/`, `{id}` replaced by the asset id.
    pub resource_path: String,
}

impl Default for VersionsConfig {
    fn default() -> Self {
        VersionsConfig {
            method: VersionsMethod::Search,
            original_asset_id_field: defaults::ORIGINAL_ASSET_ID_FIELD.into(),
            resource_path: defaults::VERSIONS_RESOURCE_PATH.into(),
        }
    }
}

pub(super) mod raw {
    use super::VersionsMethod;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Search {
        pub text_operator: Option<String>,
        pub change_date_field: Option<String>,
        pub date_on_or_after_operator: Option<String>,
        pub sort_ascending: Option<String>,
        /// `""` turns the latest-version condition off.
        pub latest_version_field: Option<String>,
        pub latest_version_value: Option<String>,
        pub or_conditions: Option<bool>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Versions {
        pub method: Option<VersionsMethod>,
        pub original_asset_id_field: Option<String>,
        pub resource_path: Option<String>,
    }
}

fn or_default(p: &mut Problems, key: &[&str], value: &Option<String>, default: &str) -> String {
    match value {
        Some(v) => non_empty(p, path(key), v),
        None => default.to_string(),
    }
}

pub(super) fn validate_search(p: &mut Problems, raw: &raw::Search) -> SearchConfig {
    let k = |leaf| ["otmm", "search", leaf];
    let sort_ascending = or_default(p, &k("sort_ascending"), &raw.sort_ascending, defaults::SORT_ASCENDING);
    if !sort_ascending.contains("{field}") {
        p.add(
            path(&k("sort_ascending")),
            format!("{sort_ascending:?} must contain {{field}}, e.g. \"asc_{{field}}\""),
        );
    }
    let latest_version = match raw.latest_version_field.as_deref().map(str::trim) {
        Some("") => {
            if raw.latest_version_value.is_some() {
                p.add(
                    path(&k("latest_version_value")),
                    "is set but otmm.search.latest_version_field is \"\" (off)",
                );
            }
            None
        }
        field => Some((
            field.unwrap_or(defaults::LATEST_VERSION_FIELD).to_string(),
            or_default(
                p,
                &k("latest_version_value"),
                &raw.latest_version_value,
                defaults::LATEST_VERSION_VALUE,
            ),
        )),
    };
    SearchConfig {
        text_operator: or_default(p, &k("text_operator"), &raw.text_operator, defaults::TEXT_OPERATOR),
        change_date_field: or_default(
            p,
            &k("change_date_field"),
            &raw.change_date_field,
            defaults::CHANGE_DATE_FIELD,
        ),
        date_on_or_after_operator: or_default(
            p,
            &k("date_on_or_after_operator"),
            &raw.date_on_or_after_operator,
            defaults::DATE_ON_OR_AFTER_OPERATOR,
        ),
        sort_ascending,
        latest_version,
        or_conditions: raw.or_conditions.unwrap_or(true),
    }
}

pub(super) fn validate_versions(p: &mut Problems, raw: &raw::Versions) -> VersionsConfig {
    let k = |leaf| ["otmm", "versions", leaf];
    let resource_path =
        or_default(p, &k("resource_path"), &raw.resource_path, defaults::VERSIONS_RESOURCE_PATH);
    if !resource_path.contains("{id}") {
        p.add(
            path(&k("resource_path")),
            format!("{resource_path:?} must contain {{id}}, e.g. \"assets/{{id}}/versions\""),
        );
    }
    VersionsConfig {
        method: raw.method.unwrap_or(VersionsMethod::Search),
        original_asset_id_field: or_default(
            p,
            &k("original_asset_id_field"),
            &raw.original_asset_id_field,
            defaults::ORIGINAL_ASSET_ID_FIELD,
        ),
        resource_path,
    }
}
