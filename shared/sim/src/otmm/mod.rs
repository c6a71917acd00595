//! The OTMM simulator: an axum server speaking the OTMM REST API subset the connector uses
//! (`/otmmapi/{v4|v5|v6}/...`), seeded from a [`Catalogue`], with auth, locks, search paging,
//! folders, placeholder creation, streamed content, fault injection, a request log and signed
//! webhooks of the connector's OTMM event contract.
//!
//! Endpoints and JSON shapes follow `/work/shared/API-NOTES.md` (OTMM section) and the public
//! clients it cites: opentext/pyxecm `pyxecm/otmm.py` (OAuth token, asset record, search form
//! and paging, `/contents`), joaquinOnSoft/OTMMAssetUploader (sessions, multipart create with
//! `job_handle`, folders), ngiri22/PriintPreProcessor `OTMMRestRepository.java`
//! (`PUT .../state` form `action=...`, `otmmauthtoken` + `X-Requested-By`), mureb/damTestScript
//! `json.js` (the PATCH body). Where those sources say nothing (versions listing, job status,
//! date operator ids) the shape is the simulator's choice and marked UNCONFIRMED.
//!
//! Control (not OTMM): `/__sim/faults`, `/__sim/requests` (see [`crate::faults`]) and
//! `/__sim/otmm/...` mirroring the [`OtmmSimHandle`] methods; `GET /__sim/otmm/assets` lists
//! the latest version of each asset (so a person can find what to approve).

// Handlers bail out early with a ready `Response` (an exception body); its size is irrelevant
// next to the request it answers.
#![allow(clippy::result_large_err)]

mod assets;
pub mod content;
mod model;
mod search;
mod webhook;

pub use content::{content_sha256, content_stream};
pub use model::{
    APPROVAL_DOMAIN_ID, ASSET_ID_FIELD, ASSET_TYPE_DOMAIN_ID, DATE_LAST_UPDATED_FIELD, METADATA_MODEL_ID,
    REQUESTS_FOLDER_ID, ROOT_FOLDER_ID, SimAsset, SimFolder, SimPlaceholder, exception_body, otmm_error_body,
};
pub use search::SearchIds;
pub use webhook::{EventActor, OtmmEvent, WebhookDelivery, WebhookTarget};

use crate::catalogue::{Catalogue, otmm_fields};
use crate::faults::{self, Faults};
use assets::Assets;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use model::{
    fmt_date, now_secs, read_submitted_fields, render_asset, render_folder, render_metadata, seed_records,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use webhook::DeliveryLog;

/// How to start the simulator.
#[derive(Debug, Clone)]
pub struct OtmmSimOptions {
    /// 0 for an ephemeral port.
    pub port: u16,
    pub username: String,
    pub password: String,
    pub webhook: Option<WebhookTarget>,
    /// Seeds session ids, tokens, event ids and the fault injector.
    pub seed: u64,
    /// Also emit `asset.metadata_changed` when metadata is edited through the REST API (off by
    /// default, so the connector's own writes do not echo back as events).
    pub emit_on_api_edits: bool,
    /// The field and operator ids searches accept (others are refused with an exception body),
    /// and whether the versions resource is served.
    pub search: SearchIds,
}

impl Default for OtmmSimOptions {
    fn default() -> Self {
        OtmmSimOptions {
            port: 0,
            username: "tsuper".into(),
            password: "otmm-sim-password".into(),
            webhook: None,
            seed: 1,
            emit_on_api_edits: false,
            search: SearchIds::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{0}")]
    Invalid(String),
}

struct Session {
    id: u64,
    user: String,
    jsessionid: String,
    digest: String,
}

struct SimState {
    assets: Assets,
    folders: BTreeMap<String, SimFolder>,
    placeholders: Vec<SimPlaceholder>,
    jobs: BTreeMap<u64, Vec<String>>,
    sessions: Vec<Session>,
    /// OAuth2 bearer tokens: (token, user).
    tokens: Vec<(String, String)>,
    next_session: u64,
    next_job: u64,
    next_asset: u64,
    next_folder: u64,
    rng: StdRng,
    /// Real content a test or the demo gave an asset (a generated JPEG, PDF...); the others
    /// stream their deterministic bytes.
    contents: BTreeMap<String, bytes::Bytes>,
}

impl SimState {
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit(self.rng.random_range(0..16u32), 16).unwrap_or('0')).collect()
    }

    fn new_asset_id(&mut self) -> String {
        self.next_asset += 1;
        format!("5f{:038x}", self.next_asset)
    }

    fn child_count(&self, folder_id: &str) -> usize {
        self.folders.values().filter(|f| f.parent_id.as_deref() == Some(folder_id)).count()
            + self
                .assets
                .values()
                .filter(|a| a.latest_version && a.parent_folder_id.as_deref() == Some(folder_id))
                .count()
    }
}

struct Shared {
    state: Mutex<SimState>,
    options: OtmmSimOptions,
    events: mpsc::UnboundedSender<OtmmEvent>,
    deliveries: Arc<DeliveryLog>,
    webhooks_enabled: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(
        &self,
        st: &mut SimState,
        event_type: &str,
        otmm_event_id: Option<u64>,
        a: &SimAsset,
        actor: &str,
    ) {
        if !self.webhooks_enabled.load(Ordering::SeqCst) || self.options.webhook.is_none() {
            return;
        }
        let event = OtmmEvent {
            event_id: format!("otmm-{}", st.hex(32)),
            event_type: event_type.to_string(),
            otmm_event_id,
            asset_id: a.asset_id.clone(),
            version: a.version,
            occurred_at: fmt_date(now_secs()),
            actor: EventActor { user_id: actor.to_string(), name: actor.to_string() },
        };
        // The worker lives as long as the server; a closed channel only means shutdown.
        let _ = self.events.send(event);
    }

    fn approve(&self, original: &str, version: u32, approver: &str) -> Result<String, SimError> {
        let mut st = self.lock();
        let now = now_secs();
        let id = st
            .assets
            .lineage(original)
            .find(|a| a.version == version)
            .map(|a| a.asset_id.clone())
            .ok_or_else(|| SimError::NotFound { what: format!("asset {original} version {version}") })?;
        let a = st.assets.get_mut(&id).ok_or_else(|| SimError::NotFound { what: format!("asset {id}") })?;
        a.fields.insert(otmm_fields::APPROVAL_STATUS.into(), otmm_fields::APPROVED_VALUE.into());
        a.fields.insert(otmm_fields::APPROVED_BY.into(), approver.into());
        a.fields.insert(otmm_fields::APPROVED_DATE.into(), fmt_date(now));
        a.date_last_updated = now;
        let snapshot = a.clone();
        self.emit(&mut st, "asset.approved", Some(80008), &snapshot, approver);
        Ok(snapshot.asset_id)
    }

    fn add_version(&self, original: &str, status: &str) -> Result<String, SimError> {
        let mut st = self.lock();
        let now = now_secs();
        let latest = st
            .assets
            .lineage(original)
            .max_by_key(|a| a.version)
            .cloned()
            .ok_or_else(|| SimError::NotFound { what: format!("asset lineage {original}") })?;
        let id = st.new_asset_id();
        st.assets.for_lineage_mut(original, |a| a.latest_version = false);
        let mut next = latest;
        next.asset_id = id.clone();
        next.version += 1;
        next.latest_version = true;
        next.date_imported = now;
        next.date_last_updated = now;
        next.locked_by = None;
        next.fields.insert(otmm_fields::APPROVAL_STATUS.into(), status.into());
        next.fields.remove(otmm_fields::APPROVED_BY);
        next.fields.remove(otmm_fields::APPROVED_DATE);
        st.assets.insert(next.clone());
        let actor = self.options.username.clone();
        self.emit(&mut st, "asset.version_added", Some(2_229_145), &next, &actor);
        Ok(id)
    }

    fn set_field(&self, asset_id: &str, field_id: &str, value: &str) -> Result<(), SimError> {
        let mut st = self.lock();
        let a = st
            .assets
            .get_mut(asset_id)
            .ok_or_else(|| SimError::NotFound { what: format!("asset {asset_id}") })?;
        if value.is_empty() {
            a.fields.remove(field_id);
        } else {
            a.fields.insert(field_id.into(), value.into());
        }
        a.date_last_updated = now_secs();
        let snapshot = a.clone();
        let actor = self.options.username.clone();
        self.emit(&mut st, "asset.metadata_changed", Some(80008), &snapshot, &actor);
        Ok(())
    }

    fn delete_asset(&self, asset_id: &str) -> Result<(), SimError> {
        let mut st = self.lock();
        let original = st
            .assets
            .get(asset_id)
            .map(|a| a.original_asset_id.clone())
            .ok_or_else(|| SimError::NotFound { what: format!("asset {asset_id}") })?;
        let now = now_secs();
        st.assets.for_lineage_mut(&original, |a| {
            a.deleted = true;
            a.date_last_updated = now;
        });
        let latest = st.assets.lineage(&original).max_by_key(|a| a.version).cloned();
        if let Some(latest) = latest {
            let actor = self.options.username.clone();
            self.emit(&mut st, "asset.deleted", None, &latest, &actor);
        }
        Ok(())
    }
}

/// Starts simulators.
pub struct OtmmSim;

impl OtmmSim {
    /// Binds 127.0.0.1 on `options.port` and serves until [`OtmmSimHandle::shutdown`].
    ///
    /// # Panics
    /// When the port cannot be bound (a test setup error).
    pub async fn start(catalogue: &Catalogue, options: OtmmSimOptions) -> OtmmSimHandle {
        let mut assets = Assets::default();
        for seed in &catalogue.assets {
            for rec in seed_records(seed) {
                assets.insert(rec);
            }
        }
        let mut folders = BTreeMap::new();
        folders.insert(
            ROOT_FOLDER_ID.to_string(),
            SimFolder {
                folder_id: ROOT_FOLDER_ID.to_string(),
                parent_id: None,
                name: "Publisher Assets".into(),
                container_type_id: None,
                fields: BTreeMap::new(),
                created_at: now_secs(),
                created_by: "system".into(),
            },
        );
        folders.insert(
            REQUESTS_FOLDER_ID.to_string(),
            SimFolder {
                folder_id: REQUESTS_FOLDER_ID.to_string(),
                parent_id: None,
                name: "Asset Requests".into(),
                container_type_id: None,
                fields: BTreeMap::new(),
                created_at: now_secs(),
                created_by: "system".into(),
            },
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let deliveries = Arc::new(DeliveryLog::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState {
                contents: BTreeMap::new(),
                assets,
                folders,
                placeholders: Vec::new(),
                jobs: BTreeMap::new(),
                sessions: Vec::new(),
                tokens: Vec::new(),
                next_session: 1000,
                next_job: 1124,
                next_asset: 0,
                next_folder: 1,
                rng: StdRng::seed_from_u64(options.seed),
            }),
            options: options.clone(),
            events: tx,
            deliveries: deliveries.clone(),
            webhooks_enabled: AtomicBool::new(true),
        });
        let faults = Faults::new(options.seed, otmm_error_body);
        let app = router(shared.clone())
            .merge(faults.control_router())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .unwrap_or_else(|e| panic!("OTMM simulator cannot bind 127.0.0.1:{}: {e}", options.port));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("OTMM simulator has no address: {e}"));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let worker = tokio::spawn(webhook::worker(options.webhook.clone(), rx, deliveries));
        OtmmSimHandle {
            base_url: format!("http://{addr}"),
            faults,
            shared,
            stop: Some(stop_tx),
            server: Some(server),
            worker: Some(worker),
        }
    }
}

/// A running simulator: its address, fault injector and state controls.
pub struct OtmmSimHandle {
    base_url: String,
    faults: Faults,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

impl OtmmSimHandle {
    /// `http://127.0.0.1:<port>` (the API is under `/otmmapi/v6`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn username(&self) -> &str {
        &self.shared.options.username
    }

    pub fn password(&self) -> &str {
        &self.shared.options.password
    }

    /// Ends every session and OAuth2 token: the next call with one gets 401.
    pub fn expire_sessions(&self) {
        let mut st = self.shared.lock();
        st.sessions.clear();
        st.tokens.clear();
    }

    /// Sessions and tokens alive now.
    pub fn session_count(&self) -> usize {
        let st = self.shared.lock();
        st.sessions.len() + st.tokens.len()
    }

    /// Marks a version approved (status, approver, date), bumps `date_last_updated` and emits
    /// `asset.approved`. Returns that version's asset id.
    pub fn approve(&self, original_asset_id: &str, version: u32, approver: &str) -> Result<String, SimError> {
        self.shared.approve(original_asset_id, version, approver)
    }

    /// Adds a version (a new asset id, copying the latest version's metadata with the given
    /// approval status) and emits `asset.version_added`. Returns the new asset id.
    pub fn add_version(&self, original_asset_id: &str, status: &str) -> Result<String, SimError> {
        self.shared.add_version(original_asset_id, status)
    }

    /// Sets (or, with an empty value, clears) a field and emits `asset.metadata_changed`.
    pub fn set_field(&self, asset_id: &str, field_id: &str, value: &str) -> Result<(), SimError> {
        self.shared.set_field(asset_id, field_id, value)
    }

    /// Gives the asset version these bytes as its content (its size follows).
    pub fn set_content(&self, asset_id: &str, content: bytes::Bytes) -> Result<(), SimError> {
        let mut st = self.shared.lock();
        let Some(a) = st.assets.get_mut(asset_id) else {
            return Err(SimError::Invalid(format!("asset {asset_id} does not exist")));
        };
        a.content_size = content.len() as u64;
        st.contents.insert(asset_id.to_string(), content);
        Ok(())
    }

    /// Marks every version of the asset's lineage deleted and emits `asset.deleted`.
    pub fn delete_asset(&self, asset_id: &str) -> Result<(), SimError> {
        self.shared.delete_asset(asset_id)
    }

    /// While disabled, state changes emit nothing (the reconciler must find them).
    pub fn set_webhooks_enabled(&self, enabled: bool) {
        self.shared.webhooks_enabled.store(enabled, Ordering::SeqCst);
    }

    pub fn asset(&self, asset_id: &str) -> Option<SimAsset> {
        self.shared.lock().assets.get(asset_id).cloned()
    }

    /// Every asset record (all versions), by asset id.
    pub fn assets(&self) -> Vec<SimAsset> {
        self.shared.lock().assets.values().cloned().collect()
    }

    pub fn folders(&self) -> Vec<SimFolder> {
        self.shared.lock().folders.values().cloned().collect()
    }

    pub fn placeholders(&self) -> Vec<SimPlaceholder> {
        self.shared.lock().placeholders.clone()
    }

    /// Webhook deliveries finished so far (delivered or given up), in order.
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.deliveries.snapshot()
    }

    /// Waits until at least `n` deliveries have finished, or `timeout` passes; returns them.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Vec<WebhookDelivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.deliveries.changed.notified();
            let now = self.deliveries();
            if now.len() >= n || tokio::time::Instant::now() >= deadline {
                return now;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Stops the server (in-flight requests finish) and the webhook worker.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
    }
}

impl Drop for OtmmSimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

type Sh = State<Arc<Shared>>;

fn router(shared: Arc<Shared>) -> Router {
    let versions_resource = shared.options.search.versions_resource;
    let router = Router::new()
        .route("/otmmapi/{v}/sessions", post(login).get(current_session).delete(logout))
        .route("/otmmapi/{v}/sessions/oauth2/token", post(oauth_token))
        .route("/otmmapi/{v}/assets", get(get_assets).post(create_asset))
        .route("/otmmapi/{v}/assets/{id}", get(get_asset).patch(patch_asset))
        .route("/otmmapi/{v}/assets/{id}/state", put(asset_state))
        .route("/otmmapi/{v}/assets/{id}/contents", get(asset_contents))
        .route("/otmmapi/{v}/search/text", get(search::search_get).post(search::search_post))
        .route("/otmmapi/{v}/lookupdomains/{id}", get(lookup_domain))
        .route("/otmmapi/{v}/folders/rootfolders", get(root_folders))
        .route("/otmmapi/{v}/folders/{id}", get(get_folder).post(create_folder).patch(patch_folder))
        .route("/otmmapi/{v}/folders/{id}/children", get(folder_children))
        .route("/otmmapi/{v}/jobs/{id}", get(job_status))
        .route("/__sim/otmm/approve", post(ctl_approve))
        .route("/__sim/otmm/add_version", post(ctl_add_version))
        .route("/__sim/otmm/set_field", post(ctl_set_field))
        .route("/__sim/otmm/delete_asset", post(ctl_delete_asset))
        .route("/__sim/otmm/webhooks", post(ctl_webhooks))
        .route("/__sim/otmm/expire_sessions", post(ctl_expire_sessions))
        .route("/__sim/otmm/assets", get(ctl_list_assets))
        .route("/__sim/otmm/assets/{id}", get(ctl_asset))
        .route("/__sim/otmm/folders", get(ctl_folders))
        .route("/__sim/otmm/placeholders", get(ctl_placeholders))
        .route("/__sim/otmm/deliveries", get(ctl_deliveries))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", "no such OTMM resource") });
    let router = if versions_resource {
        router.route("/otmmapi/{v}/assets/{id}/versions", get(asset_versions))
    } else {
        router
    };
    router.with_state(shared)
}

/// `GET /lookupdomains/{id}` (pyxecm `get_lookup_domain`): the values of the simulated model's
/// lookup-domain fields (approval status, asset type).
async fn lookup_domain(State(sh): Sh, Path((v, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let Some(values) = model::lookup_domain_values(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            "LOOKUP_DOMAIN_NOT_FOUND",
            format!("lookup domain {id} does not exist"),
        );
    };
    let list: Vec<Value> = values
        .iter()
        .map(|v| {
            json!({"display_value": v, "expired_value": false, "active_from": "", "active_to": "",
            "field_value": {"type": "string", "value": v}})
        })
        .collect();
    Json(json!({"lookup_domain_resource": {"lookup_domain": {
        "cacheable": true, "datatype": "CHAR", "domainId": id, "domainValues": list
    }}}))
    .into_response()
}

fn error(status: StatusCode, code: &str, message: impl AsRef<str>) -> Response {
    (status, Json(exception_body(status.as_u16(), code, message.as_ref()))).into_response()
}

fn unauthorized(message: &str) -> Response {
    error(StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED", message)
}

fn check_version(v: &str) -> Result<(), Response> {
    if matches!(v, "v4" | "v5" | "v6") {
        Ok(())
    } else {
        Err(error(StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", format!("unknown API version {v:?}")))
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|kv| {
            let (k, val) = kv.trim().split_once('=')?;
            (k == name).then(|| val.to_string())
        })
    })
}

/// Who is calling: a bearer token, or a session by `otmmauthtoken` or the `JSESSIONID`
/// cookie; session callers must also send `X-Requested-By: <session id>` (OTMM's CSRF guard).
/// A mismatch answers 401 too, so a client holding a stale session id logs in again.
fn authenticate(sh: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let st = sh.lock();
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = auth.strip_prefix("Bearer ").unwrap_or_default().trim();
        return st
            .tokens
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, u)| u.clone())
            .ok_or_else(|| unauthorized("the bearer token is not valid or has expired"));
    }
    let session = if let Some(digest) = headers.get("otmmauthtoken").and_then(|v| v.to_str().ok()) {
        st.sessions.iter().find(|s| s.digest == digest)
    } else if let Some(id) = cookie(headers, "JSESSIONID") {
        st.sessions.iter().find(|s| s.jsessionid == id)
    } else {
        return Err(unauthorized("no session: log in at /otmmapi/v6/sessions"));
    };
    let Some(session) = session else {
        return Err(unauthorized("the session is not valid or has expired"));
    };
    let csrf = headers.get("x-requested-by").and_then(|v| v.to_str().ok()).map(str::trim);
    if csrf != Some(session.id.to_string().as_str()) {
        return Err(unauthorized("header X-Requested-By must carry the session id"));
    }
    Ok(session.user.clone())
}

fn session_json(s: &Session) -> Value {
    json!({"session_resource": {"session": {
        "id": s.id,
        "login_name": s.user,
        "user_id": "1001",
        "user_full_name": "Simulated Super User",
        "message_digest": s.digest,
        "validation_key": s.digest,
        "role_name": "Administrator",
        "domain_name": "OTMM",
    }}})
}

async fn login(State(sh): Sh, Path(v): Path<String>, body: Bytes) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let f = form(&body);
    let (Some(user), Some(pass)) = (f.get("username"), f.get("password")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "form fields username and password are required",
        );
    };
    if *user != sh.options.username || *pass != sh.options.password {
        return unauthorized("invalid user name or password");
    }
    let mut st = sh.lock();
    st.next_session += 1;
    let session =
        Session { id: st.next_session, user: user.clone(), jsessionid: st.hex(32), digest: st.hex(40) };
    let body = session_json(&session);
    let cookie = format!("JSESSIONID={}; Path=/; HttpOnly", session.jsessionid);
    st.sessions.push(session);
    let mut resp = Json(body).into_response();
    if let Ok(c) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

async fn current_session(State(sh): Sh, Path(v): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let Some(id) = cookie(&headers, "JSESSIONID") else { return unauthorized("no session cookie") };
    let st = sh.lock();
    match st.sessions.iter().find(|s| s.jsessionid == id) {
        Some(s) => Json(session_json(s)).into_response(),
        None => unauthorized("the session is not valid or has expired"),
    }
}

async fn logout(State(sh): Sh, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, "JSESSIONID") {
        sh.lock().sessions.retain(|s| s.jsessionid != id);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Shape from pyxecm `authenticate()`: `token_info.oauth_token.accessToken`.
async fn oauth_token(State(sh): Sh, Path(v): Path<String>, body: Bytes) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let f = form(&body);
    if f.get("grant_type").map(String::as_str) != Some("password") {
        return error(StatusCode::BAD_REQUEST, "INVALID_GRANT", "grant_type must be password");
    }
    if f.get("client_id").is_none_or(|c| c.is_empty()) || f.get("client_secret").is_none_or(|c| c.is_empty())
    {
        return unauthorized("client_id and client_secret are required");
    }
    if f.get("username") != Some(&sh.options.username) || f.get("password") != Some(&sh.options.password) {
        return unauthorized("invalid user name or password");
    }
    let mut st = sh.lock();
    let token = st.hex(40);
    st.tokens.push((token.clone(), sh.options.username.clone()));
    Json(json!({"token_info": {"oauth_token": {
        "accessToken": token,
        "tokenType": "bearer",
        "expires_in": 3600,
    }}}))
    .into_response()
}

/// Checks the version path segment and the caller; the caller's login name.
fn guard(sh: &Shared, v: &str, headers: &HeaderMap) -> Result<String, Response> {
    check_version(v)?;
    authenticate(sh, headers)
}

fn with_metadata(q: &HashMap<String, String>) -> bool {
    let lt = q.get("load_type").map(String::as_str).unwrap_or("full");
    matches!(lt, "full" | "metadata" | "custom")
        || q.get("data_load_request").is_some_and(|d| d.contains("\"load_metadata\":true"))
}

async fn get_asset(
    State(sh): Sh,
    Path((v, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let st = sh.lock();
    match st.assets.get(&id) {
        Some(a) => {
            Json(json!({"asset_resource": {"asset": render_asset(a, with_metadata(&q), &v)}})).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "ASSET_NOT_FOUND", format!("asset {id} does not exist")),
    }
}

/// `GET /assets?selection_context=...`. The answer's wrapper (`assets_resource.asset_list`)
/// is UNCONFIRMED.
async fn get_assets(
    State(sh): Sh,
    Path(v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let Some(ctx) = q.get("selection_context") else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "selection_context is required");
    };
    let Ok(ctx) = serde_json::from_str::<Value>(ctx) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "selection_context is not JSON");
    };
    let sc =
        ctx.pointer("/selection_context_param/selection_context").or_else(|| ctx.get("selection_context"));
    let Some(ids) = sc.and_then(|s| s.get("asset_ids")).and_then(Value::as_array) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "selection_context has no asset_ids");
    };
    let st = sh.lock();
    let md = with_metadata(&q);
    let list: Vec<Value> = ids
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|id| st.assets.get(id))
        .map(|a| render_asset(a, md, &v))
        .collect();
    Json(json!({"assets_resource": {"asset_list": list}})).into_response()
}

/// `GET /assets/{id}/versions`: every version of the asset's lineage, oldest first. Endpoint
/// and wrapper UNCONFIRMED (clients keep the path configurable).
async fn asset_versions(
    State(sh): Sh,
    Path((v, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let st = sh.lock();
    let Some(original) = st.assets.get(&id).map(|a| a.original_asset_id.clone()) else {
        return error(StatusCode::NOT_FOUND, "ASSET_NOT_FOUND", format!("asset {id} does not exist"));
    };
    let mut versions: Vec<&SimAsset> = st.assets.lineage(&original).collect();
    versions.sort_by(|x, y| x.version.cmp(&y.version).then_with(|| x.asset_id.cmp(&y.asset_id)));
    let list: Vec<Value> = versions.iter().map(|a| render_asset(a, true, &v)).collect();
    Json(json!({"assets_resource": {"asset_list": list}})).into_response()
}

/// `PUT /assets/{id}/state`, form `action=lock|unlock|check_out|...`. Locks are per user
/// (OTMM reports `asset_lock_state_user_id`).
async fn asset_state(
    State(sh): Sh,
    Path((v, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match guard(&sh, &v, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = form(&body);
    let action = f.get("action").map(String::as_str).unwrap_or_default();
    let mut st = sh.lock();
    let Some(a) = st.assets.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "ASSET_NOT_FOUND", format!("asset {id} does not exist"));
    };
    match action {
        "lock" | "check_out" => match &a.locked_by {
            Some(holder) if *holder != user => {
                return error(
                    StatusCode::CONFLICT,
                    "ASSET_LOCKED",
                    format!("asset {id} is locked by user {holder}"),
                );
            }
            _ => a.locked_by = Some(user),
        },
        "unlock" | "check_in" => match &a.locked_by {
            Some(holder) if *holder != user => {
                return error(
                    StatusCode::CONFLICT,
                    "ASSET_LOCKED",
                    format!("asset {id} is locked by user {holder}, not by {user}"),
                );
            }
            _ => a.locked_by = None,
        },
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_STATE_ACTION",
                format!("unsupported asset state action {other:?}"),
            );
        }
    }
    Json(json!({"asset_resource": {"asset": render_asset(a, false, &v)}})).into_response()
}

/// `PATCH /assets/{id}` with `{"edited_asset":{"data":{"metadata":[...]}}}` (mureb/damTestScript
/// `json.js`). The caller must hold the asset's lock.
async fn patch_asset(
    State(sh): Sh,
    Path((v, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match guard(&sh, &v, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "the body is not JSON");
    };
    let Some(list) = doc.pointer("/edited_asset/data/metadata") else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "expected edited_asset.data.metadata");
    };
    let mut st = sh.lock();
    let Some(a) = st.assets.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "ASSET_NOT_FOUND", format!("asset {id} does not exist"));
    };
    if a.locked_by.as_deref() != Some(user.as_str()) {
        return error(
            StatusCode::CONFLICT,
            "ASSET_NOT_LOCKED",
            format!("asset {id} must be locked by {user} before its metadata is edited"),
        );
    }
    read_submitted_fields(list, &mut a.fields);
    a.date_last_updated = now_secs();
    let snapshot = a.clone();
    if sh.options.emit_on_api_edits {
        sh.emit(&mut st, "asset.metadata_changed", Some(80008), &snapshot, &user);
    }
    Json(json!({"asset_resource": {"asset": render_asset(&snapshot, true, &v)}})).into_response()
}

/// The original content, streamed (never held in memory).
async fn asset_contents(
    State(sh): Sh,
    Path((v, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let (size, mime, name, given) = {
        let st = sh.lock();
        match st.assets.get(&id) {
            Some(a) => (a.content_size, a.mime_type.clone(), a.name.clone(), st.contents.get(&id).cloned()),
            None => {
                return error(StatusCode::NOT_FOUND, "ASSET_NOT_FOUND", format!("asset {id} does not exist"));
            }
        }
    };
    if size == 0 {
        return error(StatusCode::NOT_FOUND, "CONTENT_NOT_FOUND", format!("asset {id} has no content"));
    }
    let mut resp = match given {
        Some(bytes) => {
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..bytes.len())
                .step_by(64 * 1024)
                .map(|i| Ok(bytes.slice(i..bytes.len().min(i + 64 * 1024))))
                .collect();
            Body::from_stream(futures::stream::iter(chunks)).into_response()
        }
        None => Body::from_stream(content_stream(&id, size)).into_response(),
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Some(ct) = mime.and_then(|m| HeaderValue::from_str(&m).ok()) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if let Ok(cd) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", name.replace('"', ""))) {
        h.insert(header::CONTENT_DISPOSITION, cd);
    }
    resp
}

async fn root_folders(State(sh): Sh, Path(v): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let st = sh.lock();
    let list: Vec<Value> = st
        .folders
        .values()
        .filter(|f| f.parent_id.is_none())
        .map(|f| render_folder(f, st.child_count(&f.folder_id), false))
        .collect();
    Json(json!({"folders_resource": {"folder_list": list}})).into_response()
}

async fn get_folder(State(sh): Sh, Path((v, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let st = sh.lock();
    match st.folders.get(&id) {
        Some(f) => Json(json!({"folder_resource": {"folder": render_folder(f, st.child_count(&id), true)}}))
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "FOLDER_NOT_FOUND", format!("folder {id} does not exist")),
    }
}

/// `GET /folders/{id}/children?after&limit` → `folder_children.asset_list` (folders first,
/// then assets, each by id).
async fn folder_children(
    State(sh): Sh,
    Path((v, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let after: usize = q.get("after").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|s| s.parse().ok()).unwrap_or(25).clamp(1, 200);
    let st = sh.lock();
    if !st.folders.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, "FOLDER_NOT_FOUND", format!("folder {id} does not exist"));
    }
    let md = with_metadata(&q);
    let folders = st
        .folders
        .values()
        .filter(|f| f.parent_id.as_deref() == Some(id.as_str()))
        .map(|f| render_folder(f, st.child_count(&f.folder_id), md));
    let assets = st
        .assets
        .values()
        .filter(|a| a.latest_version && a.parent_folder_id.as_deref() == Some(id.as_str()))
        .map(|a| render_asset(a, md, &v));
    let list: Vec<Value> = folders.chain(assets).skip(after).take(limit).collect();
    Json(json!({"folder_children": {"asset_list": list}})).into_response()
}

/// `PATCH /folders/{id}` with `{"edited_folder":{"data":{"metadata":[...]}}}`: the asset edit's
/// shape for a folder. UNCONFIRMED (no public client shows a folder metadata edit); folders are
/// not locked first.
async fn patch_folder(
    State(sh): Sh,
    Path((v, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "the body is not JSON");
    };
    let Some(list) = doc.pointer("/edited_folder/data/metadata") else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "expected edited_folder.data.metadata");
    };
    let mut st = sh.lock();
    let count = st.child_count(&id);
    let Some(f) = st.folders.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "FOLDER_NOT_FOUND", format!("folder {id} does not exist"));
    };
    read_submitted_fields(list, &mut f.fields);
    Json(json!({"folder_resource": {"folder": render_folder(f, count, true)}})).into_response()
}

/// `POST /folders/{parentId}` with `{"folder_resource":{"folder":{"name",...,"metadata"}}}`.
async fn create_folder(
    State(sh): Sh,
    Path((v, parent)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match guard(&sh, &v, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "the body is not JSON");
    };
    let Some(folder) = doc.pointer("/folder_resource/folder") else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "expected folder_resource.folder");
    };
    let Some(name) = folder.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "folder_resource.folder.name is required");
    };
    let mut fields = BTreeMap::new();
    if let Some(list) = folder.pointer("/metadata/metadata_element_list") {
        read_submitted_fields(list, &mut fields);
    }
    let mut st = sh.lock();
    if !st.folders.contains_key(&parent) {
        return error(
            StatusCode::NOT_FOUND,
            "FOLDER_NOT_FOUND",
            format!("parent folder {parent} does not exist"),
        );
    }
    st.next_folder += 1;
    let folder_id = format!("f1{:038x}", st.next_folder);
    let rec = SimFolder {
        folder_id: folder_id.clone(),
        parent_id: Some(parent),
        name: name.to_string(),
        container_type_id: folder.get("container_type_id").and_then(Value::as_str).map(str::to_string),
        fields,
        created_at: now_secs(),
        created_by: user,
    };
    let rendered = render_folder(&rec, 0, true);
    st.folders.insert(folder_id, rec);
    (StatusCode::CREATED, Json(json!({"folder_resource": {"folder": rendered}}))).into_response()
}

/// `POST /assets`, multipart: `asset_representation`, optional `manifest`, `parent_folder_id`,
/// `no_content` (a placeholder) or `files`. Answers 202 `{"job_handle":{"job_id":"..."}}`.
async fn create_asset(
    State(sh): Sh,
    Path(v): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let user = match guard(&sh, &v, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => {
            return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", format!("expected multipart: {e}"));
        }
    };
    let mut parts: HashMap<String, Bytes> = HashMap::new();
    let mut file: Option<(String, u64)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let file_name = field.file_name().map(str::to_string);
                match field.bytes().await {
                    Ok(bytes) if name == "files" => {
                        file = Some((file_name.unwrap_or_default(), bytes.len() as u64))
                    }
                    Ok(bytes) => {
                        parts.insert(name, bytes);
                    }
                    Err(e) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "INVALID_REQUEST",
                            format!("bad part {name}: {e}"),
                        );
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", format!("bad multipart body: {e}"));
            }
        }
    }
    let text = |k: &str| parts.get(k).map(|b| String::from_utf8_lossy(b).trim().to_string());
    let Some(rep) = text("asset_representation").and_then(|r| serde_json::from_str::<Value>(&r).ok()) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "part asset_representation must be JSON");
    };
    let Some(parent) = text("parent_folder_id").filter(|p| !p.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "part parent_folder_id is required");
    };
    let no_content = text("no_content").is_some_and(|v| v != "false");
    if !no_content && file.is_none() {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "send files or no_content=true");
    }
    let mut fields = BTreeMap::new();
    if let Some(list) = rep.pointer("/asset_resource/asset/metadata/metadata_element_list") {
        read_submitted_fields(list, &mut fields);
    }
    let manifest_name = text("manifest").and_then(|m| serde_json::from_str::<Value>(&m).ok()).and_then(|m| {
        m.pointer("/upload_manifest/master_files/0/file/file_name")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let name = rep
        .pointer("/asset_resource/asset/name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(manifest_name)
        .or_else(|| file.as_ref().map(|f| f.0.clone()))
        .unwrap_or_else(|| "Untitled placeholder".into());
    let mut st = sh.lock();
    if !st.folders.contains_key(&parent) {
        return error(
            StatusCode::NOT_FOUND,
            "FOLDER_NOT_FOUND",
            format!("parent folder {parent} does not exist"),
        );
    }
    st.next_job += 1;
    let job_id = st.next_job;
    let asset_id = st.new_asset_id();
    let now = now_secs();
    let rec = SimAsset {
        asset_id: asset_id.clone(),
        original_asset_id: asset_id.clone(),
        version: 1,
        latest_version: true,
        name: name.clone(),
        mime_type: None,
        content_type: if no_content { "NONE".into() } else { "BITMAP".into() },
        deleted: false,
        date_imported: now,
        date_last_updated: now,
        content_size: if no_content { 0 } else { file.as_ref().map(|f| f.1).unwrap_or(0) },
        parent_folder_id: Some(parent.clone()),
        locked_by: None,
        import_job_id: Some(job_id),
        fields: fields.clone(),
    };
    st.assets.insert(rec);
    st.jobs.insert(job_id, vec![asset_id.clone()]);
    if no_content {
        st.placeholders.push(SimPlaceholder {
            asset_id,
            job_id,
            parent_folder_id: parent,
            name,
            fields,
            created_at: now,
            created_by: user,
        });
    }
    (StatusCode::ACCEPTED, Json(json!({"job_handle": {"job_id": job_id.to_string()}}))).into_response()
}

/// `GET /jobs/{id}`. Shape UNCONFIRMED: `job_resource.job{job_id, job_state, asset_id_list}`.
async fn job_status(State(sh): Sh, Path((v, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&sh, &v, &headers) {
        return r;
    }
    let st = sh.lock();
    match id.parse::<u64>().ok().and_then(|n| st.jobs.get(&n)) {
        Some(assets) => Json(json!({"job_resource": {"job": {
            "job_id": id,
            "job_state": "COMPLETED",
            "asset_id_list": assets,
        }}}))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "JOB_NOT_FOUND", format!("job {id} does not exist")),
    }
}

// ---------------------------------------------------------------------------------------------
// Control routes

fn sim_result<T: serde::Serialize>(r: Result<T, SimError>) -> Response {
    match r {
        Ok(v) => Json(json!({"ok": true, "result": v})).into_response(),
        Err(e @ SimError::NotFound { .. }) => error(StatusCode::NOT_FOUND, "SIM_NOT_FOUND", e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, "SIM_INVALID", e.to_string()),
    }
}

#[derive(Deserialize)]
struct ApproveReq {
    original_asset_id: String,
    version: u32,
    approver: String,
}

async fn ctl_approve(State(sh): Sh, Json(r): Json<ApproveReq>) -> Response {
    sim_result(sh.approve(&r.original_asset_id, r.version, &r.approver))
}

#[derive(Deserialize)]
struct AddVersionReq {
    original_asset_id: String,
    status: String,
}

async fn ctl_add_version(State(sh): Sh, Json(r): Json<AddVersionReq>) -> Response {
    sim_result(sh.add_version(&r.original_asset_id, &r.status))
}

#[derive(Deserialize)]
struct SetFieldReq {
    asset_id: String,
    field_id: String,
    value: String,
}

async fn ctl_set_field(State(sh): Sh, Json(r): Json<SetFieldReq>) -> Response {
    sim_result(sh.set_field(&r.asset_id, &r.field_id, &r.value))
}

#[derive(Deserialize)]
struct DeleteReq {
    asset_id: String,
}

async fn ctl_delete_asset(State(sh): Sh, Json(r): Json<DeleteReq>) -> Response {
    sim_result(sh.delete_asset(&r.asset_id))
}

#[derive(Deserialize)]
struct WebhooksReq {
    enabled: bool,
}

async fn ctl_webhooks(State(sh): Sh, Json(r): Json<WebhooksReq>) -> Response {
    sh.webhooks_enabled.store(r.enabled, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn ctl_expire_sessions(State(sh): Sh) -> Response {
    let mut st = sh.lock();
    st.sessions.clear();
    st.tokens.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn ctl_asset(State(sh): Sh, Path(id): Path<String>) -> Response {
    match sh.lock().assets.get(&id) {
        Some(a) => Json(json!({"asset": a, "metadata": render_metadata(&a.fields)})).into_response(),
        None => error(StatusCode::NOT_FOUND, "SIM_NOT_FOUND", format!("asset {id} not found")),
    }
}

/// `GET /__sim/otmm/assets?isbn=&role=&status=&all_versions=true`: one short line per asset
/// (its latest version unless `all_versions`), oldest first. `role` takes the asset-type
/// value ("Front Cover") or the connector's role name ("front_cover"); unknown parameters are
/// refused, naming them.
async fn ctl_list_assets(State(sh): Sh, Query(q): Query<HashMap<String, String>>) -> Response {
    const PARAMS: [&str; 4] = ["isbn", "role", "status", "all_versions"];
    if let Some(k) = q.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return error(
            StatusCode::BAD_REQUEST,
            "SIM_BAD_PARAMETER",
            format!("unknown parameter {k:?}; use {}", PARAMS.join(", ")),
        );
    }
    let all_versions = match q.get("all_versions").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return error(
                StatusCode::BAD_REQUEST,
                "SIM_BAD_PARAMETER",
                format!("all_versions must be true or false, not {v:?}"),
            );
        }
    };
    // A role name is translated to the asset-type value the simulator stores.
    let asset_type = q.get("role").map(|r| {
        crate::catalogue::role_values()
            .iter()
            .find(|(_, role)| role == r)
            .map_or(r.as_str(), |(value, _)| *value)
            .to_string()
    });
    let st = sh.lock();
    let mut list: Vec<&SimAsset> = st
        .assets
        .values()
        .filter(|a| !a.deleted && (all_versions || a.latest_version))
        .filter(|a| q.get("isbn").is_none_or(|i| a.field(otmm_fields::ISBN) == Some(i.as_str())))
        .filter(|a| asset_type.as_ref().is_none_or(|t| a.field(otmm_fields::ASSET_TYPE) == Some(t.as_str())))
        .filter(|a| q.get("status").is_none_or(|s| a.field(otmm_fields::APPROVAL_STATUS) == Some(s.as_str())))
        .collect();
    list.sort_by(|a, b| (a.date_imported, &a.asset_id).cmp(&(b.date_imported, &b.asset_id)));
    let items: Vec<Value> = list
        .iter()
        .map(|a| {
            json!({
                "asset_id": a.asset_id,
                "original_asset_id": a.original_asset_id,
                "version": a.version,
                "latest_version": a.latest_version,
                "name": a.name,
                "isbn": a.field(otmm_fields::ISBN),
                "asset_type": a.field(otmm_fields::ASSET_TYPE),
                "approval_status": a.field(otmm_fields::APPROVAL_STATUS),
            })
        })
        .collect();
    Json(json!({"count": items.len(), "assets": items})).into_response()
}

async fn ctl_folders(State(sh): Sh) -> Response {
    Json(sh.lock().folders.values().cloned().collect::<Vec<_>>()).into_response()
}

async fn ctl_placeholders(State(sh): Sh) -> Response {
    Json(sh.lock().placeholders.clone()).into_response()
}

async fn ctl_deliveries(State(sh): Sh) -> Response {
    Json(sh.deliveries.snapshot()).into_response()
}

#[cfg(test)]
mod tests;
