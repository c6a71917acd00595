//! Asset routes: read one or many, versions, lock/unlock state, metadata edit, contents, and
//! placeholder creation (multipart `POST /assets`).

use super::*;

pub(super) async fn get_asset(
    OnResource { sh, v, id, .. }: OnResource,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = sh.lock();
    match st.assets.get(&id) {
        Some(a) => {
            Json(json!({"asset_resource": {"asset": render_asset(a, with_metadata(&q), &v)}})).into_response()
        }
        None => asset_not_found(&id),
    }
}

/// `GET /assets?selection_context=...`. The answer's wrapper (`assets_resource.asset_list`)
/// is UNCONFIRMED.
pub(super) async fn get_assets(
    State(sh): Sh,
    Caller(_): Caller,
    Path(v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
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
pub(super) async fn asset_versions(OnResource { sh, v, id, .. }: OnResource) -> Response {
    let st = sh.lock();
    let Some(original) = st.assets.get(&id).map(|a| a.original_asset_id.clone()) else {
        return asset_not_found(&id);
    };
    let mut versions: Vec<&SimAsset> = st.assets.lineage(&original).collect();
    versions.sort_by(|x, y| x.version.cmp(&y.version).then_with(|| x.asset_id.cmp(&y.asset_id)));
    let list: Vec<Value> = versions.iter().map(|a| render_asset(a, true, &v)).collect();
    Json(json!({"assets_resource": {"asset_list": list}})).into_response()
}

/// `PUT /assets/{id}/state`, form `action=lock|unlock|check_out|...`. Locks are per user
/// (OTMM reports `asset_lock_state_user_id`).
pub(super) async fn asset_state(OnResource { sh, user, v, id }: OnResource, body: Bytes) -> Response {
    let f = form(&body);
    let action = f.get("action").map(String::as_str).unwrap_or_default();
    let mut st = sh.lock();
    let Some(a) = st.assets.get_mut(&id) else {
        return asset_not_found(&id);
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
pub(super) async fn patch_asset(OnResource { sh, user, v, id }: OnResource, body: Bytes) -> Response {
    let list = match json_at(&body, "/edited_asset/data/metadata") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = &list;
    let mut st = sh.lock();
    let Some(a) = st.assets.get_mut(&id) else {
        return asset_not_found(&id);
    };
    if a.locked_by.as_deref() != Some(user.as_str()) {
        return error(
            StatusCode::CONFLICT,
            "ASSET_NOT_LOCKED",
            format!("asset {id} must be locked by {user} before its metadata is edited"),
        );
    }
    read_submitted_fields(list, &mut a.fields);
    a.date_last_updated = sh.now();
    let snapshot = a.clone();
    if sh.options.emit_on_api_edits {
        sh.emit(&mut st, "asset.metadata_changed", Some(80008), &snapshot, &user);
    }
    Json(json!({"asset_resource": {"asset": render_asset(&snapshot, true, &v)}})).into_response()
}

/// The original content, streamed (never held in memory).
pub(super) async fn asset_contents(OnResource { sh, id, .. }: OnResource) -> Response {
    let (size, mime, name, given) = {
        let st = sh.lock();
        match st.assets.get(&id) {
            Some(a) => (a.content_size, a.mime_type.clone(), a.name.clone(), st.contents.get(&id).cloned()),
            None => {
                return asset_not_found(&id);
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

/// `POST /assets`, multipart: `asset_representation`, optional `manifest`, `parent_folder_id`,
/// `no_content` (a placeholder) or `files`. Answers 202 `{"job_handle":{"job_id":"..."}}`.
pub(super) async fn create_asset(
    State(sh): Sh,
    Caller(user): Caller,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
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
        return parent_folder_not_found(&parent);
    }
    st.next_job += 1;
    let job_id = st.next_job;
    let asset_id = st.new_asset_id();
    let now = sh.now();
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
