//! A Consonance simulator: the GraphQL schema subset the connector uses (parsed and validated by
//! `async-graphql` against the real type and field names, see [`schema`]) at `POST /graphql`
//! with `Authorization: Bearer <key>`, and the read-only REST v4 products endpoint at
//! `GET /api/v4/products.json` with `Authorization: Token token=<key>`.
//!
//! State lives in memory, seeded from a [`Catalogue`]; every change bumps the work's
//! `updated_at` so `changedSince` finds it. Works and products page by keyset (`after` = id
//! greater than) with a fixed server page size. Faults and the request log come from
//! [`crate::faults`]; injected errors use Consonance's GraphQL error shape.
//!
//! Control routes for tests and the demo (not faulted, not logged):
//! - `GET  /__sim/consonance/works/{id}` → [`WorkSnapshot`]
//! - `PUT  /__sim/consonance/works/{id}/project-stage` `{"stage"}`
//! - `PUT  /__sim/consonance/products/{id}/planned-publication-date` `{"date"}`
//! - `PUT  /__sim/consonance/products/{id}/sales-rights` `{"worldwide","for_sale","not_for_sale"}`
//! - `PUT  /__sim/consonance/products/{id}/isbn` `{"isbn13": null | "..."}`
//! - `GET  /__sim/consonance/works/{id}/supporting-resources`
//! - `DELETE /__sim/consonance/supporting-resources/{id}` (a deletion by hand, outside the connector)
//! - `GET  /__sim/consonance/products/{id}/web-links`
//! - `GET  /__sim/consonance/creates`: every supporting resource created, in order, and when each
//!   was deleted (the create log, [`CreateLog`])

mod control;
mod rest;
pub mod schema;
pub mod state;

use crate::catalogue::Catalogue;
use crate::faults::{self, Faults};
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use control::control_router;
use rest::rest_products;
pub use schema::SchemaVariant;
pub use state::{
    ContractRec, CreateLog, ProductRec, ResourceRec, StateError, WebLinkRec, WorkRec, WorkSnapshot,
};
use state::{ProductFilter, Shared, State};

#[derive(Debug, Clone)]
pub struct ConsonanceSimOptions {
    /// 0 picks a free port.
    pub port: u16,
    pub api_key: String,
    /// Works/products per page of `works`/`products` (Consonance chooses; clients loop until empty).
    pub page_size: usize,
    /// Seeds the fault injector's randomness.
    pub seed: u64,
    /// Which schema the tenant has (default: as strict as the public evidence).
    pub variant: SchemaVariant,
}

impl Default for ConsonanceSimOptions {
    fn default() -> Self {
        ConsonanceSimOptions {
            port: 0,
            api_key: "sim-consonance-key-0000000000000000".into(),
            page_size: 100,
            seed: 1,
            variant: SchemaVariant::default(),
        }
    }
}

pub struct ConsonanceSim;

pub struct ConsonanceSimHandle {
    base_url: String,
    addr: SocketAddr,
    faults: Faults,
    shared: Shared,
    mutation_fault: Arc<Mutex<MutationFault>>,
    mutations: Arc<std::sync::atomic::AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Consonance-shaped body for injected faults: GraphQL `errors` (HTTP status set by the fault).
fn error_body(status: u16, message: &str) -> (String, &'static str) {
    let body = json!({"errors": [{"message": format!("{message} (HTTP {status})"), "extensions": {"code": status_code_name(status)}}]});
    (body.to_string(), "application/json")
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHORIZED",
        404 => "NOT_FOUND",
        429 => "RATE_LIMITED",
        500..=599 => "SERVER_ERROR",
        _ => "ERROR",
    }
}

/// Faults aimed at GraphQL mutations only (the path-based [`Faults`] cannot tell a mutation from
/// a query on the one `/graphql` route).
#[derive(Debug, Clone, Copy, Default)]
struct MutationFault {
    remaining: u32,
    status: u16,
    /// Apply the mutation, then answer with the error: the write landed but the answer was lost.
    after_commit: bool,
    /// Answer HTTP 200 with the payload's `errors` set and nothing applied (a mutation its own
    /// checks refused), instead of an HTTP error.
    payload_error: bool,
}

/// The first field of a document's mutation operation (the payload to fake an error in).
fn mutation_field(query: &str) -> Option<String> {
    use async_graphql::parser::types::{OperationType, Selection};
    let doc = async_graphql::parser::parse_query(query).ok()?;
    doc.operations.iter().find(|(_, op)| op.node.ty == OperationType::Mutation).and_then(|(_, op)| {
        op.node.selection_set.node.items.iter().find_map(|s| match &s.node {
            Selection::Field(f) => Some(f.node.name.node.to_string()),
            _ => None,
        })
    })
}

#[derive(Clone)]
struct App {
    shared: Shared,
    mutation_fault: Arc<Mutex<MutationFault>>,
    /// GraphQL documents with a mutation operation received (applied or not).
    mutations: Arc<std::sync::atomic::AtomicU64>,
    schema: schema::ConsonanceSchema,
    api_key: String,
    base_url: String,
}

fn gql_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"errors": [{"message": message, "extensions": {"code": status_code_name(status.as_u16())}}]})))
        .into_response()
}

fn bearer_ok(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| k.trim() == key)
}

fn token_ok(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token token="))
        .is_some_and(|k| k.trim().trim_matches('"') == key)
}

async fn graphql(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_ok(&headers, &app.api_key) {
        return gql_error(StatusCode::UNAUTHORIZED, "Unauthorized: send a valid API key as a Bearer token");
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return gql_error(
                StatusCode::BAD_REQUEST,
                &format!("request body is not a GraphQL JSON request: {e}"),
            );
        }
    };
    let is_mutation = async_graphql::parser::parse_query(&request.query).is_ok_and(|doc| {
        doc.operations
            .iter()
            .any(|(_, op)| op.node.ty == async_graphql::parser::types::OperationType::Mutation)
    });
    if is_mutation {
        app.mutations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let fault = if is_mutation {
        let mut f = app.mutation_fault.lock().unwrap_or_else(|p| p.into_inner());
        (f.remaining > 0).then(|| {
            f.remaining -= 1;
            *f
        })
    } else {
        None
    };
    let field_name = fault.and_then(|f| f.payload_error.then(|| mutation_field(&request.query)).flatten());
    let injected = |f: MutationFault| {
        if f.payload_error {
            let field = field_name.clone().unwrap_or_default();
            let payload = json!({"clientMutationId": null, "errors": [
                {"field": "base", "message": "injected: the record could not be saved"}
            ]});
            return Json(json!({"data": {field: payload}})).into_response();
        }
        let (body, _) = error_body(f.status, "injected mutation fault");
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    match fault {
        Some(f) if !f.after_commit => injected(f),
        Some(f) => {
            let _ = app.schema.execute(request).await;
            injected(f)
        }
        None => Json(app.schema.execute(request).await).into_response(),
    }
}

/// The presigned upload target for `resourceFileName` resources.
async fn upload(AxState(app): AxState<App>, Path(id): Path<i64>, body: Bytes) -> Response {
    match app.shared.lock().complete_upload(id, body.len()) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}

impl ConsonanceSim {
    /// Binds 127.0.0.1:`port` and serves until [`ConsonanceSimHandle::shutdown`].
    ///
    /// Panics only if the loopback port cannot be bound (a test-setup failure).
    pub async fn start(catalogue: &Catalogue, options: ConsonanceSimOptions) -> ConsonanceSimHandle {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .unwrap_or_else(|e| panic!("Consonance simulator cannot bind 127.0.0.1:{}: {e}", options.port));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("Consonance simulator has no local address: {e}"));
        let base_url = format!("http://{addr}");
        let shared = Shared::new(State::from_catalogue(catalogue, options.page_size));
        let faults = Faults::new(options.seed, error_body);
        let app = App {
            shared: shared.clone(),
            mutation_fault: Arc::default(),
            mutations: Arc::default(),
            schema: schema::build(shared.clone(), base_url.clone(), &options.variant),
            api_key: options.api_key.clone(),
            base_url: base_url.clone(),
        };
        let router = Router::new()
            .route("/graphql", post(graphql))
            .route("/api/v4/products.json", get(rest_products))
            .route("/uploads/supporting-resources/{id}", put(upload))
            .with_state(app.clone())
            .merge(control_router(app.clone()))
            .merge(faults.control_router())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let app_fault = app.mutation_fault.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "Consonance simulator stopped with an error");
            }
        });
        let mutation_fault = app_fault.clone();
        let mutations = app.mutations.clone();
        ConsonanceSimHandle {
            mutations,
            base_url,
            addr,
            faults,
            shared,
            mutation_fault,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl ConsonanceSimHandle {
    /// `http://127.0.0.1:PORT` (GraphQL at `/graphql`, REST at `/api/v4/products.json`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn set_project_stage(&self, work_id: i64, stage: &str) -> Result<(), StateError> {
        self.shared.lock().set_project_stage(work_id, stage)
    }
    pub fn set_planned_publication_date(&self, product_id: i64, date: NaiveDate) -> Result<(), StateError> {
        self.shared.lock().set_planned_publication_date(product_id, date)
    }
    /// Sets (or clears) a product's actual `publicationDate`.
    pub fn set_publication_date(&self, product_id: i64, date: Option<NaiveDate>) -> Result<(), StateError> {
        self.shared.lock().set_publication_date(product_id, date)
    }
    /// A late manuscript: the contract's revised (slipped) and actual delivery dates.
    pub fn set_manuscript_dates(
        &self,
        work_id: i64,
        revised: Option<NaiveDate>,
        actual: Option<NaiveDate>,
    ) -> Result<(), StateError> {
        self.shared.lock().set_manuscript_dates(work_id, revised, actual)
    }
    pub fn set_sales_rights(
        &self,
        product_id: i64,
        worldwide: bool,
        for_sale: &[&str],
        not_for_sale: &[&str],
    ) -> Result<(), StateError> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        self.shared.lock().set_sales_rights(product_id, worldwide, owned(for_sale), owned(not_for_sale))
    }
    /// `None` removes the ISBN (REST v4 then reports "No ISBN").
    pub fn set_isbn(&self, product_id: i64, isbn13: Option<&str>) -> Result<(), StateError> {
        self.shared.lock().set_isbn(product_id, isbn13.map(str::to_string))
    }
    /// A supporting resource removed by a person in Consonance, outside the connector.
    pub fn delete_supporting_resource_by_hand(&self, id: i64) -> Result<ResourceRec, StateError> {
        self.shared.lock().delete_resource(id)
    }

    /// A web link removed by a person in Consonance, outside the connector.
    pub fn delete_web_link_by_hand(&self, id: i64) -> Result<WebLinkRec, StateError> {
        self.shared.lock().delete_web_link(id)
    }

    pub fn work(&self, work_id: i64) -> Option<WorkSnapshot> {
        self.shared.lock().snapshot(work_id)
    }
    pub fn product(&self, product_id: i64) -> Option<ProductRec> {
        self.shared.lock().products.get(&product_id).cloned()
    }
    pub fn supporting_resources(&self, work_id: i64) -> Vec<ResourceRec> {
        self.shared.lock().resources_of_work(work_id)
    }
    /// Every supporting resource created so far, in order, and when each was deleted.
    pub fn creates(&self) -> CreateLog {
        self.shared.lock().creates.clone()
    }
    pub fn web_links(&self, product_id: i64) -> Vec<WebLinkRec> {
        self.shared.lock().web_links_of_product(product_id)
    }
    /// The next `count` GraphQL mutations (queries are not affected) answer HTTP `status` with a
    /// Consonance error body. With `after_commit` the mutation is applied first, so the write
    /// lands but its answer is lost (what a timeout or a proxy 503 looks like to the client).
    /// Logged by the request log like any other answer.
    pub fn fail_next_mutations(&self, count: u32, status: u16, after_commit: bool) {
        *self.mutation_fault.lock().unwrap_or_else(|p| p.into_inner()) =
            MutationFault { remaining: count, status, after_commit, payload_error: false };
    }

    /// The next `count` GraphQL mutations answer HTTP 200 with `errors { field message }` in
    /// their payload and change nothing (what a mutation refused by its own checks returns).
    pub fn refuse_next_mutations(&self, count: u32) {
        *self.mutation_fault.lock().unwrap_or_else(|p| p.into_inner()) =
            MutationFault { remaining: count, status: 200, after_commit: false, payload_error: true };
    }

    /// GraphQL mutations received so far (applied, refused or faulted): `connector check` must
    /// send none.
    pub fn mutations_received(&self) -> u64 {
        self.mutations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Server page size of `works`/`products` and REST v4.
    pub fn page_size(&self) -> usize {
        self.shared.lock().page_size
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ConsonanceSimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::fixture_now;

    async fn post(sim: &ConsonanceSimHandle, key: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/graphql", sim.base_url()))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    #[tokio::test]
    async fn validates_queries_and_auth() {
        let cat = Catalogue::generate(6, 1, fixture_now());
        let opts = ConsonanceSimOptions { page_size: 4, ..Default::default() };
        let key = opts.api_key.clone();
        let sim = ConsonanceSim::start(&cat, opts).await;
        let (status, v) = post(&sim, "wrong", json!({"query": "{ works { id } }"})).await;
        assert_eq!(status, 401);
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("Unauthorized"));

        let (status, v) = post(&sim, &key, json!({"query": "{ works { id nope } }"})).await;
        assert_eq!(status, 200);
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("nope"), "{v}");

        let (_, v) = post(&sim, &key, json!({"query": "{ works { id products { __typename id isbn { isbn13 } ... on ElectronicBookProduct { inHouseFormat { name code } } } } }"})).await;
        assert!(v.get("errors").is_none(), "{v}");
        assert_eq!(v["data"]["works"].as_array().unwrap().len(), 4);
        let typename = v["data"]["works"][0]["products"][0]["__typename"].as_str().unwrap();
        assert!(typename.ends_with("Product"));

        let q = json!({"query": "query($a: Int) { works(workSearch: {after: $a}) { id } }", "variables": {"a": 1003}});
        let (_, v) = post(&sim, &key, q).await;
        assert_eq!(v["data"]["works"][0]["id"], 1004);

        // Control routes over HTTP: change a stage, read the snapshot, a 404 for an unknown id.
        let http = reqwest::Client::new();
        let base = format!("{}/__sim/consonance", sim.base_url());
        let r = http
            .put(format!("{base}/works/1002/project-stage"))
            .json(&json!({"stage": "Design"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let snap: WorkSnapshot =
            http.get(format!("{base}/works/1002")).send().await.unwrap().json().await.unwrap();
        assert_eq!(snap.work.project_stage, "Design");
        let r = http
            .put(format!("{base}/products/1/sales-rights"))
            .json(&json!({"worldwide": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        // Malformed bodies are refused, not a crash.
        let r = http
            .post(format!("{}/graphql", sim.base_url()))
            .bearer_auth(&key)
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        sim.shutdown().await;
    }

    fn errors(v: &Value) -> String {
        v["errors"]
            .as_array()
            .map(|e| e.iter().map(|e| e["message"].to_string()).collect::<Vec<_>>().join("; "))
            .unwrap_or_default()
    }

    /// The default schema has the published names and nothing the evidence does not show; the
    /// permissive variant adds the disputed fields.
    #[tokio::test]
    async fn strict_by_default_and_variants_add_or_remove_fields() {
        let cat = Catalogue::generate(3, 1, fixture_now());
        let sim = ConsonanceSim::start(&cat, ConsonanceSimOptions::default()).await;
        let key = ConsonanceSimOptions::default().api_key;
        let ask = |q: &str| json!({"query": q});
        for (q, bad) in [
            ("{ works { supportingResources { mimeType } } }", "mimeType"),
            ("{ products { webLinks { note } } }", "note"),
            ("{ works { contract { id } } }", "contract"),
            // (async-graphql also takes a quoted enum literal, `["BB"]`, where graphql-ruby may
            // not: the connector sends enum values in variables only.)
            ("{ products(productSearch: {onix21ProductFormCodeIn: [QQ]}) { id } }", "QQ"),
        ] {
            let (_, v) = post(&sim, &key, ask(q)).await;
            assert!(errors(&v).contains(bad), "{q}: {v}");
        }
        for q in [
            "{ works { supportingResources { imageContentType url onixContentAudienceCode } } }",
            "{ products(productSearch: {onix21ProductFormCodeIn: [BB, BC], isbn13Assigned: true, productTypes: [PhysicalBookProduct]}) { id onix21ProductFormCode } }",
            "{ works(workSearch: {subtitlePresent: false, contractIdEq: 1}) { id } }",
            "{ contract(contractSearch: {idEq: 1}) { id work { id } } }",
        ] {
            let (_, v) = post(&sim, &key, ask(q)).await;
            assert!(v.get("errors").is_none(), "{q}: {v}");
        }
        // Website roles and audiences as the schema pages list them.
        let (_, v) =
            post(&sim, &key, ask("{ __type(name: \"ONIXWebsiteRoleCode\") { enumValues { name } } }")).await;
        let roles: Vec<&str> = v["data"]["__type"]["enumValues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(roles.len(), 33);
        assert!(roles.contains(&"_28") && roles.contains(&"_36") && !roles.contains(&"_19"));
        sim.shutdown().await;

        let mut variant = SchemaVariant::permissive();
        variant.hidden_fields.insert("Product.webLinks".into());
        variant.resource_variants = vec!["FRONT_COVER".into()];
        let sim = ConsonanceSim::start(&cat, ConsonanceSimOptions { variant, ..Default::default() }).await;
        let (_, v) = post(
            &sim,
            &key,
            ask("{ works { contract { id msDeliveryDate } supportingResources { status } } }"),
        )
        .await;
        assert!(v.get("errors").is_none(), "{v}");
        let (_, v) = post(&sim, &key, ask("{ products { webLinks { id } } }")).await;
        assert!(errors(&v).contains("webLinks"), "{v}");
        let (_, v) =
            post(&sim, &key, ask("{ __type(name: \"SupportingResourceVariant\") { enumValues { name } } }"))
                .await;
        assert_eq!(v["data"]["__type"]["enumValues"], json!([{"name": "FRONT_COVER"}]));
        sim.shutdown().await;
    }

    /// A mutation refused by its own checks answers in the payload, and changes nothing.
    #[tokio::test]
    async fn mutation_validation_is_answered_in_the_payload() {
        let cat = Catalogue::generate(2, 1, fixture_now());
        let sim = ConsonanceSim::start(&cat, ConsonanceSimOptions::default()).await;
        let key = ConsonanceSimOptions::default().api_key;
        let work = cat.works[0].work_id;
        let q = json!({"query": "mutation($w: Int!) { createSupportingResource(input: {workId: $w, imageRemoteUrl: \"https://x.example/a.png\"}) { supportingResource { id } errors { field message } } }", "variables": {"w": work}});
        let (status, v) = post(&sim, &key, q.clone()).await;
        assert_eq!(status, 200);
        let p = &v["data"]["createSupportingResource"];
        assert!(p["supportingResource"].is_null(), "{v}");
        assert_eq!(p["errors"][0]["field"], "imageRemoteUrl");
        assert!(p["errors"][0]["message"].as_str().unwrap().contains("JPG"));
        assert!(sim.supporting_resources(work).is_empty());
        // An injected refusal looks the same, for any mutation.
        sim.refuse_next_mutations(1);
        let q = json!({"query": "mutation { deleteWebLink(input: {id: 1}) { success errors { field message } } }"});
        let (_, v) = post(&sim, &key, q).await;
        assert_eq!(v["data"]["deleteWebLink"]["errors"][0]["field"], "base", "{v}");
        sim.shutdown().await;
    }
}
