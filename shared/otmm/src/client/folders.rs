//! Folders, placeholders, lookup domains and jobs.

use super::*;

impl OtmmClient {
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
