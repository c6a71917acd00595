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

mod asset_routes;
mod assets;
pub mod content;
mod control;
mod folder_routes;
mod http;
mod model;
mod search;
mod session_routes;
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
use http::{
    Caller, OnResource, Sh, asset_not_found, check_version, cookie, error, folder_not_found, form, json_at,
    parent_folder_not_found, router, unauthorized, with_metadata,
};
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
            + self.assets.latest_in_folder(folder_id).len()
    }
}

struct Shared {
    state: Mutex<SimState>,
    options: OtmmSimOptions,
    events: mpsc::UnboundedSender<OtmmEvent>,
    deliveries: Arc<DeliveryLog>,
    webhooks_enabled: AtomicBool,
    /// Seconds added to the wall clock for the dates the simulator writes: a test makes time
    /// pass (`OtmmSimHandle::advance_clock`) without waiting.
    clock_offset_secs: std::sync::atomic::AtomicI64,
}

impl Shared {
    /// The simulator's "now": the wall clock in whole seconds (OTMM's dates), plus the offset.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        now_secs() + chrono::Duration::seconds(self.clock_offset_secs.load(Ordering::SeqCst))
    }

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
            occurred_at: fmt_date(self.now()),
            actor: EventActor { user_id: actor.to_string(), name: actor.to_string() },
        };
        // The worker lives as long as the server; a closed channel only means shutdown.
        let _ = self.events.send(event);
    }

    fn approve(&self, original: &str, version: u32, approver: &str) -> Result<String, SimError> {
        let mut st = self.lock();
        let now = self.now();
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
        let now = self.now();
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
        a.date_last_updated = self.now();
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
        let now = self.now();
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
            clock_offset_secs: Default::default(),
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

    /// Makes `by` pass on the simulator's clock: the dates it writes from now on are that much
    /// later (what a quiet hour looks like to the reconciler, without waiting an hour).
    pub fn advance_clock(&self, by: std::time::Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.shared.clock_offset_secs.fetch_add(secs, Ordering::SeqCst);
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

#[cfg(test)]
mod tests;
