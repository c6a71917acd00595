use crate::systems::{Dam, NewRequest, SystemError};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use connector_core::Isbn13;
use connector_core::config::{FieldName, MappingConfig};
use connector_core::config::{RequestMode, VersionsMethod};
use connector_core::plan::AssetFacts;
use connector_core::readiness::ObservedAsset;
use connector_core::requests::OtmmRequestRef;
use connector_core::{Actor, AssetId, AssetRights, Channel, Territory, ValidityWindow};
use otmm_client::{ChangeFeed, OtmmAsset, OtmmClient, OtmmError, SearchCondition};
use std::collections::BTreeSet;
use std::sync::Arc;

/// OTMM through `otmm-client`, read with the mapping config's field ids, and searched with its
/// operator ids and sort syntax (`[otmm.search]`, `[otmm.versions]`): no OTMM id is a literal
/// here.
pub struct OtmmDam {
    client: OtmmClient,
    config: Arc<MappingConfig>,
    /// Where Consonance fetches an asset version's file: `{asset_id}`, `{lineage_id}`,
    /// `{version}` and `{file_name}` are filled in. The default names OTMM's content resource;
    /// an installation usually points this at its delivery host or CDN.
    content_url_template: String,
}

impl OtmmDam {
    pub fn new(client: OtmmClient, config: Arc<MappingConfig>, content_url_template: Option<String>) -> Self {
        let base = client.config().base_url.trim_end_matches('/').to_string();
        let template = content_url_template
            .unwrap_or_else(|| format!("{base}/otmmapi/v6/assets/{{asset_id}}/contents/{{file_name}}"));
        OtmmDam { client, config, content_url_template: template }
    }

    /// The change feed's search, as `[otmm.search]` spells it.
    pub fn change_feed(&self) -> ChangeFeed {
        let s = &self.config.otmm.search;
        ChangeFeed {
            date_field: s.change_date_field.clone(),
            operator: s.date_on_or_after_operator.clone(),
            sort: s.sort_ascending_on(&s.change_date_field),
            extra: self.latest_only(),
        }
    }

    /// The condition keeping a search to latest versions, if the config has one.
    fn latest_only(&self) -> Vec<SearchCondition> {
        let s = &self.config.otmm.search;
        s.latest_version
            .iter()
            .map(|(f, v)| SearchCondition::new(f.clone(), s.text_operator.clone(), v.clone()))
            .collect()
    }

    /// `field` matching `value` with the configured text operator. OTMM's public clients show
    /// "contains" only, so callers filter the hits for an exact value.
    fn text_condition(&self, field: &str, value: &str) -> SearchCondition {
        SearchCondition::new(field, self.config.otmm.search.text_operator.clone(), value)
    }

    /// The versions by a search on the lineage (the first version's id). The asset as read
    /// names it (`original_asset_id`); a later version that names itself (an answer without
    /// the field) is read again for it.
    async fn versions_of_lineage(&self, asset: &AssetFacts) -> Result<Vec<OtmmAsset>, OtmmError> {
        let lineage = if asset.lineage_id != asset.asset_id || asset.version <= 1 {
            asset.lineage_id.clone()
        } else {
            self.client.get_asset(&asset.asset_id).await?.original_asset_id
        };
        self.versions_by_search(&lineage).await
    }

    /// Every version of the lineage by the documented search on the lineage field.
    async fn versions_by_search(&self, lineage: &AssetId) -> Result<Vec<OtmmAsset>, OtmmError> {
        let field = &self.config.otmm.versions.original_asset_id_field;
        let cond = self.text_condition(field, lineage.as_str());
        let mut out: Vec<OtmmAsset> = Vec::new();
        loop {
            let page = self.client.search(std::slice::from_ref(&cond), None, out.len() as u64, 100).await?;
            let n = page.assets.len();
            out.extend(page.assets.into_iter().filter(|a| a.original_asset_id == *lineage));
            if n == 0 || page.hit_count == 0 || out.len() as u64 >= page.total_hit_count {
                break;
            }
        }
        out.sort_by_key(|a| a.version);
        Ok(out)
    }

    pub fn client(&self) -> &OtmmClient {
        &self.client
    }

    /// Reads one OTMM asset into the connector's terms.
    pub fn facts(&self, asset: &OtmmAsset) -> AssetFacts {
        let f = &self.config.otmm.fields;
        let field =
            |id: &Option<String>| id.as_deref().and_then(|id| asset.field_str(id)).map(str::to_string);
        let approved = asset
            .field_str(&self.config.otmm.approval.field)
            .is_some_and(|v| self.config.otmm.approval.is_approved(v));
        AssetFacts {
            asset_id: asset.asset_id.clone(),
            lineage_id: asset.original_asset_id.clone(),
            version: asset.version,
            deleted: asset.deleted,
            name: asset.name.clone(),
            mime_type: asset.mime_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
            isbn_field: asset.field_str(&f.isbn).map(str::to_string),
            asset_type_field: asset.field_str(&f.asset_type).map(str::to_string),
            imprint_field: field(&f.imprint),
            approved,
            approved_by: field(&f.approved_by).map(|user_id| Actor { user_id, name: None }),
            approved_at: field(&f.approved_date).and_then(|d| parse_time(&d)),
            rights: rights_of(asset, &self.config),
            last_updated: asset.date_last_updated.unwrap_or_else(Utc::now),
            missing_launch_fields: self.missing_launch_fields(asset),
        }
    }

    /// `[launch] required_fields` empty on `asset` (or not mapped to an OTMM field).
    fn missing_launch_fields(&self, asset: &OtmmAsset) -> Vec<FieldName> {
        self.config
            .launch
            .required_fields
            .iter()
            .copied()
            .filter(|f| self.config.otmm.fields.get(*f).is_none_or(|id| asset.field_str(id).is_none()))
            .collect()
    }
}

/// OTMM dates arrive as RFC 3339 timestamps or plain dates, depending on the field type.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| parse_date(s).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc()))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok()
}

/// Usage rights from the configured fields. Fails closed: a territory that does not parse
/// allows nowhere (and the rights flow reports it), rather than everywhere.
pub(crate) fn rights_of(asset: &OtmmAsset, config: &MappingConfig) -> AssetRights {
    let f = &config.otmm.fields;
    let text = |id: &Option<String>| id.as_deref().and_then(|id| asset.field_str(id));
    let territory = match text(&f.territory) {
        None => Territory::world(),
        Some(t) => Territory::parse(t).unwrap_or_default(),
    };
    let channels = text(&f.channels).and_then(|c| {
        let set: BTreeSet<Channel> =
            c.split(',').map(str::trim).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect();
        (!set.is_empty()).then_some(set)
    });
    AssetRights {
        territory,
        channels,
        window: ValidityWindow {
            start: None,
            expiry: text(&f.expiration_date).and_then(parse_date),
            embargo_until: text(&f.embargo_until).and_then(parse_date),
        },
        withdrawn: asset.expired,
    }
}

pub(crate) fn otmm_error(operation: &'static str, e: OtmmError) -> SystemError {
    match e {
        OtmmError::NotFound { what, .. } => SystemError::NotFound { system: "OTMM", operation, what },
        OtmmError::Transient { retry_after, .. } => {
            SystemError::Transient { system: "OTMM", operation, message: e.to_string(), retry_after }
        }
        e if e.is_transient() => {
            SystemError::Transient { system: "OTMM", operation, message: e.to_string(), retry_after: None }
        }
        e => SystemError::Permanent { system: "OTMM", operation, message: e.to_string() },
    }
}

#[async_trait]
impl Dam for OtmmDam {
    async fn asset(&self, asset_id: &AssetId) -> Result<AssetFacts, SystemError> {
        let asset = self.client.get_asset(asset_id).await.map_err(|e| otmm_error("get asset", e))?;
        Ok(self.facts(&asset))
    }

    async fn update_fields(
        &self,
        asset_id: &AssetId,
        fields: &[(String, String)],
    ) -> Result<(), SystemError> {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.client.update_metadata(asset_id, &pairs).await.map_err(|e| otmm_error("update metadata", e))
    }

    async fn changed_since(
        &self,
        since: DateTime<Utc>,
        skip: u64,
        limit: u64,
    ) -> Result<Vec<AssetFacts>, SystemError> {
        // "On or after": the cursor re-reads its own second, skipping what it has seen.
        let page = self
            .client
            .search_changed_since(&self.change_feed(), since, skip, limit)
            .await
            .map_err(|e| otmm_error("search changed assets", e))?;
        Ok(page.assets.iter().filter(|a| !a.is_folder()).map(|a| self.facts(a)).collect())
    }

    async fn versions(&self, asset: &AssetFacts) -> Result<Vec<AssetFacts>, SystemError> {
        let v = &self.config.otmm.versions;
        let versions = match v.method {
            VersionsMethod::Search => self.versions_of_lineage(asset).await,
            VersionsMethod::Resource => match self.client.asset_versions(&v.resource_path, &asset.asset_id).await {
                // No such resource on this installation: the documented search still works.
                Err(OtmmError::NotFound { .. }) => {
                    tracing::warn!(path = %v.resource_path, "otmm versions resource not found; using the lineage search (set otmm.versions.method = \"search\")");
                    self.versions_of_lineage(asset).await
                }
                other => other,
            },
        }
        .map_err(|e| otmm_error("asset versions", e))?;
        Ok(versions.iter().map(|a| self.facts(a)).collect())
    }

    async fn content(&self, asset_id: &AssetId) -> Result<Vec<u8>, SystemError> {
        use futures::StreamExt;
        let (_, mut stream) =
            self.client.download_content(asset_id).await.map_err(|e| otmm_error("download content", e))?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| otmm_error("download content", e))?);
        }
        Ok(bytes)
    }

    async fn content_stream(&self, asset_id: &AssetId) -> Result<connector_store::ByteStream, SystemError> {
        use futures::StreamExt;
        let (_, stream) =
            self.client.download_content(asset_id).await.map_err(|e| otmm_error("download content", e))?;
        Ok(stream
            .map(|chunk| {
                chunk.map_err(|e| {
                    // Timeouts and broken streams are worth another attempt; the rest is not.
                    let kind = match &e {
                        OtmmError::Http(connector_http::HttpError::Timeout { .. }) => {
                            std::io::ErrorKind::TimedOut
                        }
                        OtmmError::Protocol { .. } => std::io::ErrorKind::ConnectionReset,
                        e if e.is_transient() => std::io::ErrorKind::ConnectionReset,
                        _ => std::io::ErrorKind::Other,
                    };
                    std::io::Error::new(kind, e.to_string())
                })
            })
            .boxed())
    }

    fn content_url(&self, asset: &AssetFacts) -> String {
        self.content_url_template
            .replace("{asset_id}", asset.asset_id.as_str())
            .replace("{lineage_id}", asset.lineage_id.as_str())
            .replace("{version}", &asset.version.to_string())
            .replace("{file_name}", &asset.name)
    }

    async fn titles_assets(&self, isbns: &[Isbn13]) -> Result<Vec<Vec<ObservedAsset>>, SystemError> {
        // ISBNs in one search where the installation ORs conditions: a work's, a few.
        const ISBNS_PER_SEARCH: usize = 20;
        let per_search = if self.config.otmm.search.or_conditions { ISBNS_PER_SEARCH } else { 1 };
        let isbn_field = &self.config.otmm.fields.isbn;
        let mut out = vec![Vec::new(); isbns.len()];
        for (n, group) in isbns.chunks(per_search).enumerate() {
            let any = group.iter().map(|i| self.text_condition(isbn_field, i.as_str())).collect();
            let mut conds = self.latest_only();
            conds.extend(SearchCondition::any_of(any));
            let mut seen = 0u64;
            loop {
                let page = self
                    .client
                    .search(&conds, None, seen, 200)
                    .await
                    .map_err(|e| otmm_error("search assets of titles", e))?;
                seen += page.assets.len() as u64;
                // "Contains" may match more than the ISBN (a longer value): keep exact matches,
                // in any ISBN form (hyphens, ISBN-10), each under the ISBN it names.
                for a in page.assets.iter().filter(|a| !a.is_folder() && !a.deleted) {
                    let Some(named) = a.field_str(isbn_field).and_then(|v| Isbn13::parse(v.trim()).ok())
                    else {
                        continue;
                    };
                    let Some(at) = group.iter().position(|i| *i == named) else { continue };
                    let facts = self.facts(a);
                    if let Some(role) =
                        facts.asset_type_field.as_deref().and_then(|v| self.config.role_for(v))
                    {
                        out[n * per_search + at].push(ObservedAsset::of(&facts, role));
                    }
                }
                if page.assets.is_empty() || seen >= page.total_hit_count {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn find_request(&self, request_id: &str) -> Result<Option<OtmmRequestRef>, SystemError> {
        let Some(field) = self.config.otmm.fields.request_id.clone() else { return Ok(None) };
        let cond = self.text_condition(&field, request_id);
        let page = self
            .client
            .search(&[cond], None, 0, 10)
            .await
            .map_err(|e| otmm_error("search asset request", e))?;
        // Exact match: "contains" would also find `<isbn>#front_cover` for `<isbn>#front`.
        let exact = |a: &&OtmmAsset| a.field_str(&field).is_some_and(|v| v.trim() == request_id);
        Ok(page.assets.iter().filter(exact).find(|a| !a.deleted).map(|a| OtmmRequestRef {
            kind: if a.is_folder() { "folder" } else { "placeholder" }.into(),
            id: a.asset_id.to_string(),
        }))
    }

    async fn create_request(&self, request: &NewRequest) -> Result<OtmmRequestRef, SystemError> {
        let Some(settings) = &self.config.otmm.requests else {
            return Err(SystemError::Permanent {
                system: "OTMM",
                operation: "create asset request",
                message: "the mapping config has no [otmm.requests]".into(),
            });
        };
        let fields: Vec<(&str, &str)> =
            request.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match settings.mode {
            RequestMode::Folder => {
                let folder = self
                    .client
                    .create_folder(&settings.parent_folder_id, &request.name, &fields)
                    .await
                    .map_err(|e| otmm_error("create request folder", e))?;
                Ok(OtmmRequestRef { kind: "folder".into(), id: folder.asset_id.to_string() })
            }
            RequestMode::Placeholder => {
                let job = self
                    .client
                    .create_placeholder_asset(&settings.parent_folder_id, &fields, &request.name)
                    .await
                    .map_err(|e| otmm_error("create request placeholder", e))?;
                let status =
                    self.client.job_status(&job).await.map_err(|e| otmm_error("import job status", e))?;
                match status.asset_ids.first() {
                    Some(id) => Ok(OtmmRequestRef { kind: "placeholder".into(), id: id.clone() }),
                    // The import has not produced the asset yet: find it by its request id.
                    None => {
                        self.find_request(&request.request_id).await?.ok_or_else(|| SystemError::Transient {
                            system: "OTMM",
                            operation: "create request placeholder",
                            message: format!("import job {job} has not created the placeholder yet"),
                            retry_after: None,
                        })
                    }
                }
            }
        }
    }

    async fn update_request(
        &self,
        request: &OtmmRequestRef,
        fields: &[(String, String)],
    ) -> Result<(), SystemError> {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if request.kind == "folder" {
            self.client
                .update_folder_metadata(&request.id, &pairs)
                .await
                .map_err(|e| otmm_error("update request folder", e))
        } else {
            let id = AssetId::parse(&request.id).map_err(|e| SystemError::Permanent {
                system: "OTMM",
                operation: "update request placeholder",
                message: e.to_string(),
            })?;
            self.client
                .update_metadata(&id, &pairs)
                .await
                .map_err(|e| otmm_error("update request placeholder", e))
        }
    }
}
