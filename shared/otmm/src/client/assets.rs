//! Assets: read one or many, versions, lock/edit/unlock of metadata, content download.

use super::*;

impl OtmmClient {
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
    pub(super) async fn set_state(
        &self,
        operation: &'static str,
        id: &AssetId,
        action: &str,
    ) -> Result<(), OtmmError> {
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

    pub(super) async fn patch_metadata(
        &self,
        id: &AssetId,
        fields: &[(&str, &str)],
    ) -> Result<(), OtmmError> {
        let body = json!({"edited_asset": {"data": {"metadata": metadata_elements(fields)}}});
        self.patch_json("update_metadata", self.url(&["assets", id.as_str()]), &format!("asset {id}"), body)
            .await
    }

    /// `PATCH` of a JSON body whose answer carries nothing the caller needs (metadata edits:
    /// idempotent, so retried like reads).
    pub(super) async fn patch_json(
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
