//! The simulator's HTTP surface: the router, the OTMM exception body, the [`Caller`] extractor
//! every authenticated route starts with ([`OnResource`] for a route on one resource), and the
//! small read-only resources (lookup domains, jobs).

use super::asset_routes::*;
use super::control::*;
use super::folder_routes::*;
use super::session_routes::*;
use super::*;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub(super) type Sh = State<Arc<Shared>>;

pub(super) fn router(shared: Arc<Shared>) -> Router {
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

pub(super) fn error(status: StatusCode, code: &str, message: impl AsRef<str>) -> Response {
    (status, Json(exception_body(status.as_u16(), code, message.as_ref()))).into_response()
}

pub(super) fn unauthorized(message: &str) -> Response {
    error(StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED", message)
}

pub(super) fn check_version(v: &str) -> Result<(), Response> {
    if matches!(v, "v4" | "v5" | "v6") {
        Ok(())
    } else {
        Err(error(StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", format!("unknown API version {v:?}")))
    }
}

pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|kv| {
            let (k, val) = kv.trim().split_once('=')?;
            (k == name).then(|| val.to_string())
        })
    })
}

pub(super) fn with_metadata(q: &HashMap<String, String>) -> bool {
    let lt = q.get("load_type").map(String::as_str).unwrap_or("full");
    matches!(lt, "full" | "metadata" | "custom")
        || q.get("data_load_request").is_some_and(|d| d.contains("\"load_metadata\":true"))
}

/// The JSON body's value at `pointer` (`/a/b`), or OTMM's 400: the body is not JSON, or it has
/// no such member (named `a.b`). The one body prelude of the edit and create routes.
pub(super) fn json_at(body: &[u8], pointer: &str) -> Result<Value, Response> {
    let Ok(mut doc) = serde_json::from_slice::<Value>(body) else {
        return Err(error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "the body is not JSON"));
    };
    doc.pointer_mut(pointer).map(Value::take).ok_or_else(|| {
        let expected = pointer.trim_start_matches('/').replace('/', ".");
        error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", format!("expected {expected}"))
    })
}

/// The caller of an authenticated route: the `{v}` path segment checked and the session or bearer
/// token verified, the prelude every such handler shares. Rejects with OTMM's exception body.
pub(super) struct Caller(pub(super) String);

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sh: &Arc<Shared>) -> Result<Self, Response> {
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, sh)
            .await
            .map_err(IntoResponse::into_response)?;
        check_version(params.get("v").map(String::as_str).unwrap_or_default())?;
        authenticate(sh, &parts.headers).map(Caller)
    }
}

/// An authenticated route on one resource (`/otmmapi/{v}/<kind>/{id}[/...]`): what [`Caller`]
/// checks, then the simulator, the caller, the API version and the resource id, the prelude of
/// every such handler.
pub(super) struct OnResource {
    pub(super) sh: Arc<Shared>,
    pub(super) user: String,
    pub(super) v: String,
    pub(super) id: String,
}

impl FromRequestParts<Arc<Shared>> for OnResource {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sh: &Arc<Shared>) -> Result<Self, Response> {
        let Caller(user) = Caller::from_request_parts(parts, sh).await?;
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, sh)
            .await
            .map_err(IntoResponse::into_response)?;
        let v = params.remove("v").unwrap_or_default();
        let id = params.remove("id").unwrap_or_default();
        Ok(OnResource { sh: sh.clone(), user, v, id })
    }
}

/// OTMM's 404 for an asset id that does not exist.
pub(super) fn asset_not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, "ASSET_NOT_FOUND", format!("asset {id} does not exist"))
}

/// OTMM's 404 for a folder id that does not exist.
pub(super) fn folder_not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, "FOLDER_NOT_FOUND", format!("folder {id} does not exist"))
}

/// OTMM's 404 for a create under a parent folder that does not exist.
pub(super) fn parent_folder_not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, "FOLDER_NOT_FOUND", format!("parent folder {id} does not exist"))
}

/// `GET /lookupdomains/{id}` (pyxecm `get_lookup_domain`): the values of the simulated model's
/// lookup-domain fields (approval status, asset type).
pub(super) async fn lookup_domain(OnResource { id, .. }: OnResource) -> Response {
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

/// `GET /jobs/{id}`. Shape UNCONFIRMED: `job_resource.job{job_id, job_state, asset_id_list}`.
pub(super) async fn job_status(OnResource { sh, id, .. }: OnResource) -> Response {
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
