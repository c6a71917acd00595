//! The client: auth (session, OAuth2, fixed token) with one re-login on 401, and the
//! operations the connector uses. Endpoints and bodies follow `/work/shared/API-NOTES.md`
//! (OTMM section); the source of each shape is cited where it is used.

use crate::decode::decode_json;
use crate::error::{OtmmError, from_status};
use crate::model::{JobStatus, LookupValue, OtmmAsset, SearchPage, at, parse_asset};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use connector_core::AssetId;
use connector_http::{CallMetrics, HttpPolicy, ResilientClient, Retry, parse_retry_after};
use futures::stream::{BoxStream, StreamExt as _};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

mod assets;
mod folders;
mod search;
mod session;

const SYSTEM: &str = "otmm";

/// How the client authenticates.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtmmAuth {
    /// `POST /otmmapi/{v}/sessions` (form); the `JSESSIONID` cookie and
    /// `X-Requested-By: <session id>` on every later call.
    Session { username: String, password: String },
    /// `POST /otmmapi/{v}/sessions/oauth2/token` (form, `grant_type=password`), then
    /// `Authorization: Bearer` (pyxecm `authenticate()`).
    OAuth2 { username: String, password: String, client_id: String, client_secret: String },
    /// A bearer token obtained elsewhere; a 401 cannot be cured by logging in again.
    Token(String),
}

impl std::fmt::Debug for OtmmAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OtmmAuth::Session { username, .. } => {
                f.debug_struct("Session").field("username", username).field("password", &"***").finish()
            }
            OtmmAuth::OAuth2 { username, client_id, .. } => f
                .debug_struct("OAuth2")
                .field("username", username)
                .field("client_id", client_id)
                .field("password", &"***")
                .field("client_secret", &"***")
                .finish(),
            OtmmAuth::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// Names and paths public sources do not confirm, kept configurable. The search ids (fields,
/// operators, sort syntax, the versions listing) are arguments of the calls that use them: they
/// come from the mapping config (`[otmm.search]`, `[otmm.versions]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct OtmmOptions {
    /// Import job status, relative to `/otmmapi/{v}/`. UNCONFIRMED.
    pub job_path: String,
    /// `container_type_id` of folders the client creates (`otmm.requests.container_type_id`).
    pub folder_container_type_id: String,
    /// Metadata model of created folders (none sent when `None`).
    pub folder_metadata_model_id: Option<String>,
    /// Metadata model of created assets/placeholders.
    pub asset_metadata_model_id: String,
    /// Security policies of created assets (`security_policy_list[{id}]`).
    pub security_policy_ids: Vec<String>,
    /// Sent as `search_config_id` when set.
    pub search_config_id: Option<String>,
    /// Page size of [`OtmmClient::search_all_changed_since`].
    pub page_size: u64,
    /// Extra tries of an idempotent call answered 500 (on top of the policy's retries of
    /// 429/502/503/504, which OTMM's 500s do not get).
    pub server_error_retries: u32,
}

impl Default for OtmmOptions {
    fn default() -> Self {
        use connector_core::config::otmm_defaults;
        OtmmOptions {
            job_path: "jobs/{id}".into(),
            folder_container_type_id: otmm_defaults::FOLDER_CONTAINER_TYPE.into(),
            folder_metadata_model_id: None,
            asset_metadata_model_id: otmm_defaults::ASSET_METADATA_MODEL.into(),
            security_policy_ids: vec!["2".into()],
            search_config_id: None,
            page_size: 100,
            server_error_retries: 2,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct OtmmConfig {
    /// Scheme, host and port, e.g. `https://dam.example.com`.
    pub base_url: String,
    /// `v6` unless an older installation needs `v5`/`v4`.
    #[serde(default = "default_version")]
    pub api_version: String,
    pub auth: OtmmAuth,
    #[serde(default)]
    pub policy: HttpPolicy,
    #[serde(default)]
    pub options: OtmmOptions,
}

fn default_version() -> String {
    "v6".into()
}

impl OtmmConfig {
    pub fn new(base_url: impl Into<String>, auth: OtmmAuth) -> Self {
        OtmmConfig {
            base_url: base_url.into(),
            api_version: default_version(),
            auth,
            policy: HttpPolicy::default(),
            options: OtmmOptions::default(),
        }
    }
}

/// How the change feed searches: the date field, the "on or after" operator, the sort, and
/// extra conditions (latest versions only), all from the mapping config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeFeed {
    pub date_field: String,
    pub operator: String,
    pub sort: String,
    pub extra: Vec<SearchCondition>,
}

/// A search condition (`com.artesia.search.SearchScalarCondition`, pyxecm / API-NOTES).
/// Conditions are ANDed unless grouped by [`SearchCondition::any_of`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchCondition {
    pub metadata_field_id: String,
    pub relational_operator_id: String,
    pub value: String,
    /// How this condition joins the one before it (`relational_operator`); `None` sends no
    /// key, which OTMM takes as "and".
    pub join: Option<Join>,
    /// Opens a group before this condition (`left_paren: "("`).
    pub opens_group: bool,
    /// Closes a group after this condition (`right_paren: ")"`).
    pub closes_group: bool,
}

/// `relational_operator` of a search condition: how it joins the condition before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Join {
    And,
    Or,
}

impl SearchCondition {
    pub fn new(field: impl Into<String>, operator: impl Into<String>, value: impl Into<String>) -> Self {
        SearchCondition {
            metadata_field_id: field.into(),
            relational_operator_id: operator.into(),
            value: value.into(),
            join: None,
            opens_group: false,
            closes_group: false,
        }
    }

    /// `conditions` as one parenthesised group, ORed, ANDed to what comes before it: the
    /// first joins with "and" and opens the group, the rest join with "or", the last closes
    /// it. The spelling of a public OTMM client that searches several lineage ids at once
    /// (`relational_operator: 'or'`, `left_paren`, `right_paren`; docs/ASSUMPTIONS.md O25).
    /// One condition is returned as it is.
    pub fn any_of(mut conditions: Vec<SearchCondition>) -> Vec<SearchCondition> {
        if conditions.len() < 2 {
            return conditions;
        }
        let last = conditions.len() - 1;
        for (i, c) in conditions.iter_mut().enumerate() {
            c.join = Some(if i == 0 { Join::And } else { Join::Or });
            c.opens_group = i == 0;
            c.closes_group = i == last;
        }
        conditions
    }
}

#[derive(Clone, Debug)]
enum Cred {
    /// The session id, for `X-Requested-By` (the cookie lives in the client's store).
    Session(String),
    Bearer(String),
}

#[derive(Clone, Debug)]
struct Creds {
    generation: u64,
    cred: Cred,
}

struct Inner {
    config: OtmmConfig,
    api: Url,
    http: ResilientClient,
    /// Held across a login, so concurrent callers wait for one login instead of each
    /// starting their own (single flight).
    auth: tokio::sync::Mutex<Option<Creds>>,
}

/// The OTMM REST client. Cheap to clone (shared session, limits and metrics).
#[derive(Clone)]
pub struct OtmmClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OtmmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtmmClient").field("api", &self.inner.api.as_str()).finish_non_exhaustive()
    }
}

/// Streamed content: its length when the server says, and the bytes as they arrive.
pub type ContentStream = BoxStream<'static, Result<Bytes, OtmmError>>;

/// An `application/x-www-form-urlencoded` body (reqwest's `.form()` needs a serde value; this
/// keeps bodies explicit, and a `String` is cheap to clone per attempt).
fn form_text<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    fn encode(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        encode(k, &mut out);
        out.push('=');
        encode(v, &mut out);
    }
    out
}

fn metadata_elements(fields: &[(&str, &str)]) -> Vec<Value> {
    // The edited-field shape of mureb/damTestScript `json.js` (API-NOTES "Metadata update").
    fields
        .iter()
        .map(|(id, value)| {
            let inner = if value.is_empty() {
                json!({"type": "string"})
            } else {
                json!({"type": "string", "value": value})
            };
            json!({"id": id, "type": "com.artesia.metadata.MetadataField", "value": {"value": inner}})
        })
        .collect()
}

impl OtmmClient {
    pub fn new(config: OtmmConfig) -> Result<Self, OtmmError> {
        let base = config.base_url.trim_end_matches('/');
        let api = Url::parse(&format!("{base}/otmmapi/{}/", config.api_version))
            .map_err(|e| OtmmError::Config(format!("base_url {:?} is not a URL: {e}", config.base_url)))?;
        if !matches!(api.scheme(), "http" | "https") {
            return Err(OtmmError::Config(format!("base_url {:?} must be http(s)", config.base_url)));
        }
        let client = ResilientClient::builder(&config.policy)
            .cookie_store(true)
            .build()
            .map_err(|e| OtmmError::Config(format!("cannot build the HTTP client: {e}")))?;
        let http = ResilientClient::with_client(SYSTEM, config.policy.clone(), client);
        Ok(OtmmClient { inner: Arc::new(Inner { config, api, http, auth: tokio::sync::Mutex::new(None) }) })
    }

    /// Calls, attempts, retries and statuses per operation.
    pub fn metrics(&self) -> CallMetrics {
        self.inner.http.metrics()
    }

    pub fn config(&self) -> &OtmmConfig {
        &self.inner.config
    }

    /// `{api}/a/b/c` with each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.inner.api.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    fn templated(&self, template: &str, id: &str) -> Url {
        let segs: Vec<String> =
            template.split('/').filter(|s| !s.is_empty()).map(|s| s.replace("{id}", id)).collect();
        let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.url(&refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_and_urls() {
        assert_eq!(form_text([("a b", "x&y=z"), ("n", "ü")]), "a+b=x%26y%3Dz&n=%C3%BC");
        let c = OtmmClient::new(OtmmConfig::new("http://h:1/", OtmmAuth::Token("t".into()))).unwrap();
        assert_eq!(
            c.url(&["folders", "a/b", "children"]).as_str(),
            "http://h:1/otmmapi/v6/folders/a%2Fb/children"
        );
        assert_eq!(
            c.templated("assets/{id}/versions", "abc").as_str(),
            "http://h:1/otmmapi/v6/assets/abc/versions"
        );
        assert!(OtmmClient::new(OtmmConfig::new("ftp://h", OtmmAuth::Token("t".into()))).is_err());
        assert!(OtmmClient::new(OtmmConfig::new("not a url", OtmmAuth::Token("t".into()))).is_err());
        let dbg = format!("{:?}", OtmmAuth::Session { username: "u".into(), password: "secret".into() });
        assert!(!dbg.contains("secret"));
    }
}
