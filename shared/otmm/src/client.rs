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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchCondition {
    pub metadata_field_id: String,
    pub relational_operator_id: String,
    pub value: String,
}

impl SearchCondition {
    pub fn new(field: impl Into<String>, operator: impl Into<String>, value: impl Into<String>) -> Self {
        SearchCondition {
            metadata_field_id: field.into(),
            relational_operator_id: operator.into(),
            value: value.into(),
        }
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

    // -----------------------------------------------------------------------------------------
    // Auth

    async fn login(&self, generation: u64) -> Result<Creds, OtmmError> {
        let cred = match &self.inner.config.auth {
            OtmmAuth::Token(t) => Cred::Bearer(t.clone()),
            OtmmAuth::Session { username, password } => {
                let url = self.url(&["sessions"]);
                let body = form_text([("username", username.as_str()), ("password", password.as_str())]);
                let resp = self
                    .inner
                    .http
                    .send("login", Retry::Idempotent, |c| {
                        c.post(url.clone())
                            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body(body.clone())
                    })
                    .await?;
                let v = self.json_ok("login", "session", resp).await?;
                let id = at("login", &v, "session_resource.session.id")?;
                let id = match id {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) if !s.is_empty() => s.clone(),
                    other => {
                        return Err(OtmmError::protocol(
                            "login",
                            format!(
                                "expected JSON at session_resource.session.id: a session id, found {other}"
                            ),
                        ));
                    }
                };
                Cred::Session(id)
            }
            OtmmAuth::OAuth2 { username, password, client_id, client_secret } => {
                let url = self.url(&["sessions", "oauth2", "token"]);
                let body = form_text([
                    ("grant_type", "password"),
                    ("username", username.as_str()),
                    ("password", password.as_str()),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.as_str()),
                ]);
                let resp = self
                    .inner
                    .http
                    .send("oauth2_token", Retry::Idempotent, |c| {
                        c.post(url.clone())
                            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body(body.clone())
                    })
                    .await?;
                let v = self.json_ok("oauth2_token", "token", resp).await?;
                // pyxecm: response.json()["token_info"]["oauth_token"]["accessToken"].
                match at("oauth2_token", &v, "token_info.oauth_token.accessToken")? {
                    Value::String(s) if !s.is_empty() => Cred::Bearer(s.clone()),
                    other => {
                        return Err(OtmmError::protocol(
                            "oauth2_token",
                            format!(
                                "expected JSON at token_info.oauth_token.accessToken: a token, found {other}"
                            ),
                        ));
                    }
                }
            }
        };
        tracing::debug!(generation, "otmm logged in");
        Ok(Creds { generation, cred })
    }

    async fn creds(&self) -> Result<Creds, OtmmError> {
        let mut guard = self.inner.auth.lock().await;
        if let Some(c) = &*guard {
            return Ok(c.clone());
        }
        let c = self.login(1).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Logs in again unless someone already did since `stale` was handed out.
    async fn relogin(&self, stale: u64) -> Result<Creds, OtmmError> {
        let mut guard = self.inner.auth.lock().await;
        if let Some(c) = &*guard
            && c.generation != stale
        {
            return Ok(c.clone());
        }
        let next = guard.as_ref().map_or(1, |c| c.generation + 1);
        *guard = None;
        let c = self.login(next).await?;
        tracing::info!(generation = next, "otmm session rejected; logged in again");
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Ends the session (`DELETE /sessions`), if there is one.
    pub async fn logout(&self) -> Result<(), OtmmError> {
        let mut guard = self.inner.auth.lock().await;
        if let Some(Creds { cred: Cred::Session(_), .. }) = guard.take() {
            let url = self.url(&["sessions"]);
            let resp = self.inner.http.send("logout", Retry::Idempotent, |c| c.delete(url.clone())).await?;
            if !resp.status().is_success() && resp.status().as_u16() != 401 {
                return Err(self.error_from("logout", "session", resp).await);
            }
        }
        Ok(())
    }

    fn apply(rb: reqwest::RequestBuilder, creds: &Creds) -> reqwest::RequestBuilder {
        match &creds.cred {
            Cred::Session(id) => rb.header("X-Requested-By", id.as_str()),
            Cred::Bearer(t) => rb.bearer_auth(t),
        }
    }

    /// Sends an authenticated request; on 401 logs in again once (single flight) and resends
    /// it. Non-success statuses become typed errors (`what` names the object for NotFound).
    async fn call<F>(
        &self,
        operation: &'static str,
        what: &str,
        retry: Retry,
        build: F,
    ) -> Result<reqwest::Response, OtmmError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        // OTMM answers 500 for transient trouble too (API-NOTES: "5xx → transient"), which the
        // shared policy never retries; idempotent calls get a few extra tries here.
        let mut server_error_retries =
            if retry == Retry::Idempotent { self.inner.config.options.server_error_retries } else { 0 };
        let mut round: u64 = 0;
        loop {
            let creds = self.creds().await?;
            let resp = self.inner.http.send(operation, retry, |c| Self::apply(build(c), &creds)).await?;
            let resp =
                if resp.status().as_u16() == 401 && !matches!(self.inner.config.auth, OtmmAuth::Token(_)) {
                    drop(resp);
                    let fresh = self.relogin(creds.generation).await?;
                    self.inner.http.send(operation, retry, |c| Self::apply(build(c), &fresh)).await?
                } else {
                    resp
                };
            if resp.status().as_u16() == 500 && server_error_retries > 0 {
                server_error_retries -= 1;
                round += 1;
                drop(resp);
                let wait = self.inner.config.policy.base_backoff_ms.saturating_mul(round);
                tracing::debug!(
                    system = SYSTEM,
                    operation,
                    wait_ms = wait,
                    reason = "status 500",
                    "retrying"
                );
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                continue;
            }
            return if resp.status().is_success() {
                Ok(resp)
            } else {
                Err(self.error_from(operation, what, resp).await)
            };
        }
    }

    async fn error_from(&self, operation: &'static str, what: &str, resp: reqwest::Response) -> OtmmError {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = resp.bytes().await.unwrap_or_default();
        from_status(operation, what, status, retry_after, &body)
    }

    async fn body(&self, operation: &'static str, resp: reqwest::Response) -> Result<Bytes, OtmmError> {
        resp.bytes().await.map_err(|e| {
            if e.is_timeout() {
                // The answer began and stopped arriving: not whole, like a truncated one, so
                // an idempotent read is asked again (`call_json`'s reread).
                OtmmError::unreadable(
                    operation,
                    format!(
                        "the body stopped arriving (no bytes for {} ms)",
                        self.inner.config.policy.request_timeout_ms
                    ),
                )
            } else {
                OtmmError::unreadable(operation, format!("the body could not be read: {e}"))
            }
        })
    }

    async fn json(&self, operation: &'static str, resp: reqwest::Response) -> Result<Value, OtmmError> {
        let body = self.body(operation, resp).await?;
        decode_json(operation, &body)
    }

    /// [`call`](Self::call) then the JSON body, asked again (idempotent requests only) while
    /// the answer is unreadable: cut short, not JSON, a proxy's page.
    async fn call_json<F>(
        &self,
        operation: &'static str,
        what: &str,
        retry: Retry,
        build: F,
    ) -> Result<Value, OtmmError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.inner
            .http
            .reread(operation, retry, || async {
                let resp = self.call(operation, what, retry, &build).await?;
                self.json(operation, resp).await
            })
            .await
    }

    /// For unauthenticated calls (login): status check, then JSON.
    async fn json_ok(
        &self,
        operation: &'static str,
        what: &str,
        resp: reqwest::Response,
    ) -> Result<Value, OtmmError> {
        if !resp.status().is_success() {
            return Err(self.error_from(operation, what, resp).await);
        }
        self.json(operation, resp).await
    }

    fn asset_list(operation: &'static str, v: &Value, path: &str) -> Result<Vec<OtmmAsset>, OtmmError> {
        match v.pointer(&format!("/{}", path.replace('.', "/"))) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, a)| parse_asset(operation, a, &format!("{path}[{i}]")))
                .collect(),
            Some(other) => Err(OtmmError::protocol(
                operation,
                format!("expected JSON at {path}: an array, found {other}"),
            )),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Assets

    /// One asset version with its metadata (`load_type=full`, `data_load_request` asking for
    /// metadata and content info; API-NOTES "Assets").
    pub async fn get_asset(&self, id: &AssetId) -> Result<OtmmAsset, OtmmError> {
        const OP: &str = "get_asset";
        let url = self.url(&["assets", id.as_str()]);
        let dlr = r#"{"data_load_request":{"load_metadata":true,"load_asset_content_info":true}}"#;
        let v = self
            .call_json(OP, &format!("asset {id}"), Retry::Idempotent, |c| {
                c.get(url.clone()).query(&[
                    ("load_type", "full"),
                    ("level_of_detail", "full"),
                    ("data_load_request", dlr),
                ])
            })
            .await?;
        parse_asset(OP, at(OP, &v, "asset_resource.asset")?, "asset_resource.asset")
    }

    /// Several assets by id in one call (`selection_context` with an
    /// `AssetIdsSelectionContext`). Ids OTMM does not know are left out. The answer's wrapper
    /// `assets_resource.asset_list` is UNCONFIRMED.
    pub async fn get_assets(&self, ids: &[AssetId]) -> Result<Vec<OtmmAsset>, OtmmError> {
        const OP: &str = "get_assets";
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(AssetId::as_str).collect();
        let ctx = json!({"selection_context_param": {"selection_context": {
            "type": "com.artesia.asset.selection.AssetIdsSelectionContext",
            "asset_ids": ids,
            "child_type": "ASSETS",
            "include_descendants": "NONE",
            "include_deleted_assets": false,
        }}})
        .to_string();
        let url = self.url(&["assets"]);
        let v = self
            .call_json(OP, "assets", Retry::Idempotent, |c| {
                c.get(url.clone()).query(&[
                    ("load_type", "full"),
                    ("level_of_detail", "full"),
                    ("selection_context", ctx.as_str()),
                ])
            })
            .await?;
        at(OP, &v, "assets_resource")?;
        Self::asset_list(OP, &v, "assets_resource.asset_list")
    }

    /// Every version of the asset's lineage, oldest first, from a versions listing at
    /// `path_template` (relative to `/otmmapi/{v}/`, `{id}` replaced; UNCONFIRMED resource).
    pub async fn asset_versions(
        &self,
        path_template: &str,
        id: &AssetId,
    ) -> Result<Vec<OtmmAsset>, OtmmError> {
        const OP: &str = "asset_versions";
        let url = self.templated(path_template, id.as_str());
        let v = self
            .call_json(OP, &format!("asset {id}"), Retry::Idempotent, |c| {
                c.get(url.clone()).query(&[("load_type", "full"), ("level_of_detail", "full")])
            })
            .await?;
        at(OP, &v, "assets_resource")?;
        let mut list = Self::asset_list(OP, &v, "assets_resource.asset_list")?;
        list.sort_by_key(|a| a.version);
        Ok(list)
    }

    /// `PUT /assets/{id}/state`, form `action=...` (ngiri22/PriintPreProcessor
    /// `changeAssetState`; `unlock` as the inverse of `lock` is UNCONFIRMED).
    async fn set_state(&self, operation: &'static str, id: &AssetId, action: &str) -> Result<(), OtmmError> {
        let url = self.url(&["assets", id.as_str(), "state"]);
        let body = form_text([
            ("action", action),
            (
                "asset_state_options",
                r#"{"asset_state_options_param":{"asset_state_options":{"apply_to_all_versions":false}}}"#,
            ),
        ]);
        let resp = self
            .call(operation, &format!("asset {id}"), Retry::Idempotent, |c| {
                c.put(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone())
            })
            .await?;
        // Drain the body so the connection can be reused.
        let _ = resp.bytes().await;
        Ok(())
    }

    /// Sets metadata fields (text values; an empty value clears the field): lock, PATCH
    /// `{"edited_asset":{"data":{"metadata":[...]}}}`, unlock. The unlock is sent whatever the
    /// PATCH did (and, if this future is dropped half-way, from a spawned task).
    pub async fn update_metadata(&self, id: &AssetId, fields: &[(&str, &str)]) -> Result<(), OtmmError> {
        self.set_state("lock_asset", id, "lock").await?;
        let mut guard = UnlockGuard { client: Some(self.clone()), id: id.clone() };
        let patched = self.patch_metadata(id, fields).await;
        guard.client = None;
        let unlocked = self.set_state("unlock_asset", id, "unlock").await;
        match (patched, unlocked) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) => Err(e),
            (Ok(()), Err(u)) => Err(u),
            (Err(e), Err(u)) => {
                tracing::warn!(asset_id = %id, error = %u, "otmm unlock after a failed edit failed too");
                Err(e)
            }
        }
    }

    async fn patch_metadata(&self, id: &AssetId, fields: &[(&str, &str)]) -> Result<(), OtmmError> {
        let body = json!({"edited_asset": {"data": {"metadata": metadata_elements(fields)}}});
        self.patch_json("update_metadata", self.url(&["assets", id.as_str()]), &format!("asset {id}"), body)
            .await
    }

    /// `PATCH` of a JSON body whose answer carries nothing the caller needs (metadata edits:
    /// idempotent, so retried like reads).
    async fn patch_json(
        &self,
        op: &'static str,
        url: reqwest::Url,
        what: &str,
        body: serde_json::Value,
    ) -> Result<(), OtmmError> {
        let body = body.to_string();
        let resp = self
            .call(op, what, Retry::Idempotent, |c| {
                c.patch(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        let _ = resp.bytes().await;
        Ok(())
    }

    /// Streams the original content (`GET /assets/{id}/contents`, pyxecm `download_asset`):
    /// the length when the server sends one, and the bytes chunk by chunk (never buffered).
    pub async fn download_content(&self, id: &AssetId) -> Result<(Option<u64>, ContentStream), OtmmError> {
        const OP: &str = "download_content";
        let url = self.url(&["assets", id.as_str(), "contents"]);
        let resp = self
            .call(OP, &format!("content of asset {id}"), Retry::Idempotent, |c| c.get(url.clone()))
            .await?;
        let length = resp.content_length();
        let timeout_ms = self.inner.config.policy.request_timeout_ms;
        let mut received: u64 = 0;
        let stream = resp
            .bytes_stream()
            .map(move |chunk| match chunk {
                Ok(b) => {
                    received += b.len() as u64;
                    Ok(b)
                }
                Err(e) if e.is_timeout() => Err(OtmmError::Http(connector_http::HttpError::Timeout {
                    system: SYSTEM,
                    operation: OP,
                    after_ms: timeout_ms,
                })),
                Err(e) => Err(OtmmError::unreadable(
                    OP,
                    format!("content stream broke after {received} bytes: {e}"),
                )),
            })
            .boxed();
        Ok((length, stream))
    }

    // -----------------------------------------------------------------------------------------
    // Search

    /// One page of `POST /search/text` (form; pyxecm `search_assets` sends the same fields)
    /// with the conditions ANDed, sorted by `sort` (a field id with its direction prefix, as the
    /// mapping config spells it). A result flagged `contains_invalid_conditions` (pyxecm's
    /// search answer shows the flag) is an error naming the conditions, never an empty page.
    pub async fn search(
        &self,
        conditions: &[SearchCondition],
        sort: Option<&str>,
        after: u64,
        limit: u64,
    ) -> Result<SearchPage, OtmmError> {
        const OP: &str = "search";
        let mut list: Vec<Value> = Vec::new();
        for c in conditions {
            list.push(json!({
                "type": "com.artesia.search.SearchScalarCondition",
                "metadata_field_id": c.metadata_field_id,
                "relational_operator_id": c.relational_operator_id,
                "value": c.value,
            }));
        }
        let condition_text = json!({"search_condition_list": {"search_condition": list}}).to_string();
        let after_s = after.to_string();
        let limit_s = limit.max(1).to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("keyword_query", "*"),
            ("load_type", "full"),
            ("level_of_detail", "full"),
            ("after", &after_s),
            ("limit", &limit_s),
            ("search_condition_list", &condition_text),
        ];
        if let Some(s) = sort {
            pairs.push(("sort", s));
        }
        if let Some(id) = &self.inner.config.options.search_config_id {
            pairs.push(("search_config_id", id));
        }
        let body = form_text(pairs);
        let url = self.url(&["search", "text"]);
        let v = self
            .call_json(OP, "search", Retry::Idempotent, |c| {
                c.post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone())
            })
            .await?;
        let result = at(OP, &v, "search_result_resource.search_result")?;
        if result.get("contains_invalid_conditions").and_then(Value::as_bool) == Some(true) {
            let list: Vec<String> = conditions
                .iter()
                .map(|c| format!("{} {} {:?}", c.metadata_field_id, c.relational_operator_id, c.value))
                .collect();
            return Err(OtmmError::Rejected {
                operation: OP,
                status: 200,
                error_code: Some("contains_invalid_conditions".into()),
                message: format!("OTMM reports invalid search conditions: {}", list.join("; ")),
            });
        }
        let count = |k: &str| -> Result<u64, OtmmError> {
            result
                .get(k)
                .and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok())))
                .ok_or_else(|| {
                    OtmmError::protocol(
                        OP,
                        format!("expected JSON at search_result_resource.search_result.{k}: a count"),
                    )
                })
        };
        let assets = Self::asset_list(OP, &v, "search_result_resource.asset_list")?;
        let asset_ids: Vec<String> = result
            .get("asset_id_list")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_else(|| assets.iter().map(|a| a.asset_id.to_string()).collect());
        Ok(SearchPage {
            hit_count: result.get("hit_count").map_or(Ok(asset_ids.len() as u64), |_| count("hit_count"))?,
            total_hit_count: count("total_hit_count")?,
            offset: result.get("offset").and_then(Value::as_u64).unwrap_or(after),
            assets,
            asset_ids,
        })
    }

    /// Assets whose date field matches `feed.operator` against `since`, in `feed.sort` order:
    /// the change feed.
    pub async fn search_changed_since(
        &self,
        feed: &ChangeFeed,
        since: DateTime<Utc>,
        after: u64,
        limit: u64,
    ) -> Result<SearchPage, OtmmError> {
        let mut conds = vec![SearchCondition::new(
            feed.date_field.clone(),
            feed.operator.clone(),
            since.to_rfc3339_opts(SecondsFormat::Secs, true),
        )];
        conds.extend(feed.extra.iter().cloned());
        self.search(&conds, Some(&feed.sort), after, limit).await
    }

    /// Every asset changed since `since`, paging until `total_hit_count` (or an empty page).
    /// An asset that moves between pages while paging is returned once (its last sighting).
    pub async fn search_all_changed_since(
        &self,
        feed: &ChangeFeed,
        since: DateTime<Utc>,
    ) -> Result<Vec<OtmmAsset>, OtmmError> {
        let limit = self.inner.config.options.page_size.max(1);
        let mut after = 0;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut out: Vec<OtmmAsset> = Vec::new();
        loop {
            let page = self.search_changed_since(feed, since, after, limit).await?;
            for a in page.assets {
                match seen.get(a.asset_id.as_str()) {
                    Some(&i) => out[i] = a,
                    None => {
                        seen.insert(a.asset_id.to_string(), out.len());
                        out.push(a);
                    }
                }
            }
            after += page.hit_count;
            if page.hit_count == 0 || after >= page.total_hit_count {
                return Ok(out);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Folders, placeholders, jobs

    /// One page of a folder's children (`folder_children.asset_list`: folders and assets).
    pub async fn folder_children(
        &self,
        folder_id: &str,
        after: u64,
        limit: u64,
    ) -> Result<Vec<OtmmAsset>, OtmmError> {
        const OP: &str = "folder_children";
        let url = self.url(&["folders", folder_id, "children"]);
        let (after_s, limit_s) = (after.to_string(), limit.max(1).to_string());
        let v = self
            .call_json(OP, &format!("folder {folder_id}"), Retry::Idempotent, |c| {
                c.get(url.clone()).query(&[
                    ("after", after_s.as_str()),
                    ("limit", limit_s.as_str()),
                    ("load_type", "full"),
                    ("level_of_detail", "slim"),
                ])
            })
            .await?;
        at(OP, &v, "folder_children")?;
        Self::asset_list(OP, &v, "folder_children.asset_list")
    }

    /// `POST /folders/{parentId}` with `{"folder_resource":{"folder":{...}}}`
    /// (joaquinOnSoft/OTMMAssetUploader). Not retried: a retry could create two folders.
    pub async fn create_folder(
        &self,
        parent_id: &str,
        name: &str,
        fields: &[(&str, &str)],
    ) -> Result<OtmmAsset, OtmmError> {
        const OP: &str = "create_folder";
        let opts = &self.inner.config.options;
        let mut folder = json!({
            "name": name,
            "container_type_id": opts.folder_container_type_id,
            "metadata": {"metadata_element_list": metadata_elements(fields)},
        });
        if let Some(model) = &opts.folder_metadata_model_id {
            folder["metadata_model_id"] = json!(model);
        }
        if !opts.security_policy_ids.is_empty() {
            folder["security_policy_list"] =
                Value::Array(opts.security_policy_ids.iter().map(|id| json!({"id": id})).collect());
        }
        let body = json!({"folder_resource": {"folder": folder}}).to_string();
        let url = self.url(&["folders", parent_id]);
        let v = self
            .call_json(OP, &format!("parent folder {parent_id}"), Retry::Never, |c| {
                c.post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        parse_asset(OP, at(OP, &v, "folder_resource.folder")?, "folder_resource.folder")
    }

    /// Sets metadata fields of a folder: `PATCH /folders/{id}` with
    /// `{"edited_folder":{"data":{"metadata":[...]}}}`, the asset edit's shape (UNCONFIRMED: no
    /// public client shows a folder edit; folders are not locked first). Idempotent.
    pub async fn update_folder_metadata(
        &self,
        folder_id: &str,
        fields: &[(&str, &str)],
    ) -> Result<(), OtmmError> {
        let body = json!({"edited_folder": {"data": {"metadata": metadata_elements(fields)}}});
        self.patch_json(
            "update_folder_metadata",
            self.url(&["folders", folder_id]),
            &format!("folder {folder_id}"),
            body,
        )
        .await
    }

    /// A placeholder asset without content: multipart `POST /assets` with
    /// `asset_representation`, `parent_folder_id` and `no_content=true` (API-NOTES "Create").
    /// Returns the import job id (`job_handle.job_id`). Not retried.
    pub async fn create_placeholder_asset(
        &self,
        parent_folder_id: &str,
        fields: &[(&str, &str)],
        name: &str,
    ) -> Result<String, OtmmError> {
        const OP: &str = "create_placeholder_asset";
        let opts = &self.inner.config.options;
        let representation = json!({"asset_resource": {"asset": {
            "name": name,
            "metadata": {"metadata_element_list": metadata_elements(fields)},
            "metadata_model_id": opts.asset_metadata_model_id,
            "security_policy_list": opts.security_policy_ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
        }}})
        .to_string();
        let url = self.url(&["assets"]);
        let parent = parent_folder_id.to_string();
        let v = self
            .call_json(OP, &format!("parent folder {parent_folder_id}"), Retry::Never, |c| {
                let form = reqwest::multipart::Form::new()
                    .text("asset_representation", representation.clone())
                    .text("parent_folder_id", parent.clone())
                    .text("no_content", "true");
                c.post(url.clone()).multipart(form)
            })
            .await?;
        match at(OP, &v, "job_handle.job_id")? {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(OtmmError::protocol(
                OP,
                format!("expected JSON at job_handle.job_id: a job id, found {other}"),
            )),
        }
    }

    /// The values of a lookup domain: `GET /lookupdomains/{id}` →
    /// `lookup_domain_resource.lookup_domain.domainValues[{display_value, field_value{value}}]`
    /// (pyxecm `get_lookup_domain`).
    pub async fn lookup_domain(&self, domain_id: &str) -> Result<Vec<LookupValue>, OtmmError> {
        const OP: &str = "lookup_domain";
        let url = self.url(&["lookupdomains", domain_id]);
        let v = self
            .call_json(OP, &format!("lookup domain {domain_id}"), Retry::Idempotent, |c| c.get(url.clone()))
            .await?;
        let values = at(OP, &v, "lookup_domain_resource.lookup_domain.domainValues")?;
        let list = values.as_array().ok_or_else(|| {
            OtmmError::protocol(
                OP,
                "expected JSON at lookup_domain_resource.lookup_domain.domainValues: a list",
            )
        })?;
        Ok(list
            .iter()
            .map(|d| LookupValue {
                display_value: d.get("display_value").and_then(Value::as_str).map(str::to_string),
                value: d.pointer("/field_value/value").and_then(|x| {
                    x.as_str().map(str::to_string).or_else(|| (!x.is_null()).then(|| x.to_string()))
                }),
            })
            .collect())
    }

    /// An import job's state ([`OtmmOptions::job_path`]; answer shape UNCONFIRMED:
    /// `job_resource.job{job_id, job_state, asset_id_list}`).
    pub async fn job_status(&self, job_id: &str) -> Result<JobStatus, OtmmError> {
        const OP: &str = "job_status";
        let url = self.templated(&self.inner.config.options.job_path, job_id);
        let v =
            self.call_json(OP, &format!("job {job_id}"), Retry::Idempotent, |c| c.get(url.clone())).await?;
        let job = at(OP, &v, "job_resource.job")?;
        Ok(JobStatus {
            job_id: job
                .get("job_id")
                .and_then(|x| x.as_str().map(str::to_string).or_else(|| x.as_u64().map(|n| n.to_string())))
                .unwrap_or_else(|| job_id.to_string()),
            state: job
                .get("job_state")
                .or_else(|| job.get("status"))
                .and_then(Value::as_str)
                .map(str::to_string),
            asset_ids: job
                .get("asset_id_list")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        })
    }
}

/// Unlocks from a spawned task if `update_metadata` is dropped between lock and unlock.
struct UnlockGuard {
    client: Option<OtmmClient>,
    id: AssetId,
}

impl Drop for UnlockGuard {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let id = self.id.clone();
            rt.spawn(async move {
                if let Err(e) = client.set_state("unlock_asset", &id, "unlock").await {
                    tracing::warn!(asset_id = %id, error = %e, "otmm unlock after a cancelled edit failed");
                }
            });
        }
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
