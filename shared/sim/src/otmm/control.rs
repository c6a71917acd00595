//! Control routes (`/__sim/otmm/...`): what a test does to the simulated OTMM (approve, add a
//! version, edit a field, delete, webhooks, expire sessions) and what it reads back.

use super::*;

pub(super) fn sim_result<T: serde::Serialize>(r: Result<T, SimError>) -> Response {
    match r {
        Ok(v) => Json(json!({"ok": true, "result": v})).into_response(),
        Err(e @ SimError::NotFound { .. }) => error(StatusCode::NOT_FOUND, "SIM_NOT_FOUND", e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, "SIM_INVALID", e.to_string()),
    }
}

#[derive(Deserialize)]
pub(super) struct ApproveReq {
    original_asset_id: String,
    version: u32,
    approver: String,
}

pub(super) async fn ctl_approve(State(sh): Sh, Json(r): Json<ApproveReq>) -> Response {
    sim_result(sh.approve(&r.original_asset_id, r.version, &r.approver))
}

#[derive(Deserialize)]
pub(super) struct AddVersionReq {
    original_asset_id: String,
    status: String,
}

pub(super) async fn ctl_add_version(State(sh): Sh, Json(r): Json<AddVersionReq>) -> Response {
    sim_result(sh.add_version(&r.original_asset_id, &r.status))
}

#[derive(Deserialize)]
pub(super) struct SetFieldReq {
    asset_id: String,
    field_id: String,
    value: String,
}

pub(super) async fn ctl_set_field(State(sh): Sh, Json(r): Json<SetFieldReq>) -> Response {
    sim_result(sh.set_field(&r.asset_id, &r.field_id, &r.value))
}

#[derive(Deserialize)]
pub(super) struct DeleteReq {
    asset_id: String,
}

pub(super) async fn ctl_delete_asset(State(sh): Sh, Json(r): Json<DeleteReq>) -> Response {
    sim_result(sh.delete_asset(&r.asset_id))
}

#[derive(Deserialize)]
pub(super) struct WebhooksReq {
    enabled: bool,
}

pub(super) async fn ctl_webhooks(State(sh): Sh, Json(r): Json<WebhooksReq>) -> Response {
    sh.webhooks_enabled.store(r.enabled, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn ctl_expire_sessions(State(sh): Sh) -> Response {
    let mut st = sh.lock();
    st.sessions.clear();
    st.tokens.clear();
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn ctl_asset(State(sh): Sh, Path(id): Path<String>) -> Response {
    match sh.lock().assets.get(&id) {
        Some(a) => Json(json!({"asset": a, "metadata": render_metadata(&a.fields)})).into_response(),
        None => error(StatusCode::NOT_FOUND, "SIM_NOT_FOUND", format!("asset {id} not found")),
    }
}

/// `GET /__sim/otmm/assets?isbn=&role=&status=&all_versions=true`: one short line per asset
/// (its latest version unless `all_versions`), oldest first. `role` takes the asset-type
/// value ("Front Cover") or the connector's role name ("front_cover"); unknown parameters are
/// refused, naming them.
pub(super) async fn ctl_list_assets(State(sh): Sh, Query(q): Query<HashMap<String, String>>) -> Response {
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

pub(super) async fn ctl_folders(State(sh): Sh) -> Response {
    Json(sh.lock().folders.values().cloned().collect::<Vec<_>>()).into_response()
}

pub(super) async fn ctl_placeholders(State(sh): Sh) -> Response {
    Json(sh.lock().placeholders.clone()).into_response()
}

pub(super) async fn ctl_deliveries(State(sh): Sh) -> Response {
    Json(sh.deliveries.snapshot()).into_response()
}
