//! Folder routes: root folders, one folder, its children (paged), metadata edit, creation.

use super::*;

pub(super) async fn root_folders(State(sh): Sh, Caller(_): Caller) -> Response {
    let st = sh.lock();
    let list: Vec<Value> = st
        .folders
        .values()
        .filter(|f| f.parent_id.is_none())
        .map(|f| render_folder(f, st.child_count(&f.folder_id), false))
        .collect();
    Json(json!({"folders_resource": {"folder_list": list}})).into_response()
}

pub(super) async fn get_folder(OnResource { sh, id, .. }: OnResource) -> Response {
    let st = sh.lock();
    match st.folders.get(&id) {
        Some(f) => Json(json!({"folder_resource": {"folder": render_folder(f, st.child_count(&id), true)}}))
            .into_response(),
        None => folder_not_found(&id),
    }
}

/// `GET /folders/{id}/children?after&limit` → `folder_children.asset_list` (folders first,
/// then assets, each by id).
pub(super) async fn folder_children(
    OnResource { sh, v, id, .. }: OnResource,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let after: usize = q.get("after").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|s| s.parse().ok()).unwrap_or(25).clamp(1, 200);
    let st = sh.lock();
    if !st.folders.contains_key(&id) {
        return folder_not_found(&id);
    }
    let md = with_metadata(&q);
    let folders = st
        .folders
        .values()
        .filter(|f| f.parent_id.as_deref() == Some(id.as_str()))
        .map(|f| render_folder(f, st.child_count(&f.folder_id), md));
    let assets = st.assets.latest_in_folder(&id).into_iter().map(|a| render_asset(a, md, &v));
    let list: Vec<Value> = folders.chain(assets).skip(after).take(limit).collect();
    Json(json!({"folder_children": {"asset_list": list}})).into_response()
}

/// `PATCH /folders/{id}` with `{"edited_folder":{"data":{"metadata":[...]}}}`: the asset edit's
/// shape for a folder. UNCONFIRMED (no public client shows a folder metadata edit); folders are
/// not locked first.
pub(super) async fn patch_folder(OnResource { sh, id, .. }: OnResource, body: Bytes) -> Response {
    let list = match json_at(&body, "/edited_folder/data/metadata") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = &list;
    let mut st = sh.lock();
    let count = st.child_count(&id);
    let Some(f) = st.folders.get_mut(&id) else {
        return folder_not_found(&id);
    };
    read_submitted_fields(list, &mut f.fields);
    Json(json!({"folder_resource": {"folder": render_folder(f, count, true)}})).into_response()
}

/// `POST /folders/{parentId}` with `{"folder_resource":{"folder":{"name",...,"metadata"}}}`.
pub(super) async fn create_folder(
    OnResource { sh, user, id: parent, .. }: OnResource,
    body: Bytes,
) -> Response {
    let folder = match json_at(&body, "/folder_resource/folder") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let folder = &folder;
    let Some(name) = folder.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "folder_resource.folder.name is required");
    };
    let mut fields = BTreeMap::new();
    if let Some(list) = folder.pointer("/metadata/metadata_element_list") {
        read_submitted_fields(list, &mut fields);
    }
    let mut st = sh.lock();
    if !st.folders.contains_key(&parent) {
        return parent_folder_not_found(&parent);
    }
    st.next_folder += 1;
    let folder_id = format!("f1{:038x}", st.next_folder);
    let rec = SimFolder {
        folder_id: folder_id.clone(),
        parent_id: Some(parent),
        name: name.to_string(),
        container_type_id: folder.get("container_type_id").and_then(Value::as_str).map(str::to_string),
        fields,
        created_at: sh.now(),
        created_by: user,
    };
    let rendered = render_folder(&rec, 0, true);
    st.folders.insert(folder_id, rec);
    (StatusCode::CREATED, Json(json!({"folder_resource": {"folder": rendered}}))).into_response()
}
