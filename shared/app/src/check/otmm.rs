//! The OTMM half of `connector check`: credentials, field ids, operator ids, sort syntax, the
//! versions method, the approval value's lookup domain, the request folder, one asset read.

use super::{CheckReport, Status};
use crate::adapters::OtmmDam;
use connector_core::AssetId;
use connector_core::config::{FieldName, MappingConfig, VersionsMethod};
use otmm_client::{OtmmAsset, OtmmClient, OtmmError, SearchCondition};
use std::collections::BTreeSet;

/// What OTMM said, short.
fn said(e: &OtmmError) -> String {
    let s = e.to_string();
    if s.chars().count() > 240 { format!("{}…", s.chars().take(240).collect::<String>()) } else { s }
}

/// Every configured field id, with the key that names it.
fn configured_fields(config: &MappingConfig) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = FieldName::ALL
        .iter()
        .filter_map(|f| config.otmm.fields.get(*f).map(|id| (format!("otmm.fields.{f}"), id.to_string())))
        .collect();
    if !out.iter().any(|(_, id)| *id == config.otmm.approval.field) {
        out.push(("otmm.approval.field".into(), config.otmm.approval.field.clone()));
    }
    if let Some(r) = &config.request_rules {
        for (k, v) in
            [("requests.status_field", &r.status_field), ("requests.readiness_field", &r.readiness_field)]
        {
            if let Some(id) = v {
                out.push((k.into(), id.clone()));
            }
        }
    }
    out
}

pub(super) async fn run(report: &mut CheckReport, dam: &OtmmDam, config: &MappingConfig) {
    let client = dam.client();
    let s = &config.otmm.search;
    let base = client.config().base_url.clone();

    // 1. Credentials and session headers: a search needs both.
    let probe = client.search(&[], None, 0, 1).await;
    let sample: Option<String> = match &probe {
        Ok(page) => {
            report.pass(
                "otmm.session",
                format!("logged in at {base} and searched with the session (cookie, X-Requested-By or bearer token)"),
            );
            page.asset_ids.first().cloned()
        }
        Err(e @ OtmmError::Unauthorized { .. }) => {
            report.fail(
                "otmm.session",
                format!("login and a search at {base}: {}", said(e)),
                "OTMM_USERNAME/OTMM_PASSWORD or OTMM_TOKEN",
            );
            return;
        }
        Err(e) => {
            report.fail(
                "otmm.session",
                format!("a first search at {base}: {}", said(e)),
                "OTMM_BASE_URL (and OTMM_API_VERSION)",
            );
            return;
        }
    };

    // 2. One asset read: its metadata shows the model's field ids.
    let asset: Option<OtmmAsset> = match sample.as_deref().map(AssetId::parse) {
        Some(Ok(id)) => match client.get_asset(&id).await {
            Ok(a) => Some(a),
            Err(e) => {
                report.fail(
                    "otmm.asset_read",
                    format!("GET assets/{id} (load_type=full): {}", said(&e)),
                    "OTMM_API_VERSION",
                );
                None
            }
        },
        _ => {
            report.push(Status::Skip, "otmm.asset_read", "the search found no asset to read", None);
            None
        }
    };
    if let Some(a) = &asset {
        let f = dam.facts(a);
        let role = f.asset_type_field.as_deref().and_then(|v| config.role_for(v));
        report.pass(
            "otmm.asset_read",
            format!(
                "dry read of asset {} v{} ({}): ISBN {:?}, type {:?} (role {}), approved {}",
                a.asset_id,
                a.version,
                a.name,
                f.isbn_field.as_deref().unwrap_or(""),
                f.asset_type_field.as_deref().unwrap_or(""),
                role.map_or_else(|| "unmapped".to_string(), |r| r.to_string()),
                f.approved
            ),
        );
    }
    let seen: BTreeSet<&str> = asset.iter().flat_map(|a| a.metadata.keys().map(String::as_str)).collect();

    // 3. Each configured field id: in the model (the asset's metadata), or accepted in a search.
    for (key, id) in configured_fields(config) {
        if seen.contains(id.as_str()) {
            report.pass(
                &key,
                format!("{id:?} is in the metadata of asset {}", sample.as_deref().unwrap_or("")),
            );
            continue;
        }
        let cond = SearchCondition::new(id.clone(), s.text_operator.clone(), "x");
        match client.search(&[cond], None, 0, 1).await {
            Ok(_) => report.pass(&key, format!("{id:?} accepted in a one-item search")),
            Err(e) => report.fail(
                &key,
                format!("{id:?}: not in the asset's metadata; a search on it: {}", said(&e)),
                key.clone(),
            ),
        }
    }

    // 4. Operators and sort syntax, one probe each so a failure names its key.
    let isbn = &config.otmm.fields.isbn;
    let search = |conds: Vec<SearchCondition>, sort: Option<String>| async move {
        client.search(&conds, sort.as_deref(), 0, 1).await
    };
    let sort = s.sort_ascending_on(isbn);
    match search(vec![], Some(sort.clone())).await {
        Ok(_) => report.pass("otmm.search.sort_ascending", format!("sort {sort:?} accepted")),
        Err(e) => report.fail(
            "otmm.search.sort_ascending",
            format!("sort {sort:?}: {}", said(&e)),
            "otmm.search.sort_ascending",
        ),
    }
    let by_date = s.sort_ascending_on(&s.change_date_field);
    match search(vec![], Some(by_date.clone())).await {
        Ok(_) => report.pass("otmm.search.change_date_field", format!("sort {by_date:?} accepted")),
        Err(e) => report.fail(
            "otmm.search.change_date_field",
            format!("sort {by_date:?}: {}", said(&e)),
            "otmm.search.change_date_field",
        ),
    }
    let since = SearchCondition::new(
        s.change_date_field.clone(),
        s.date_on_or_after_operator.clone(),
        "2000-01-01T00:00:00Z",
    );
    match search(vec![since], None).await {
        Ok(_) => report.pass(
            "otmm.search.date_on_or_after_operator",
            format!(
                "{:?} {:?} 2000-01-01 accepted (the change feed)",
                s.change_date_field, s.date_on_or_after_operator
            ),
        ),
        Err(e) => report.fail(
            "otmm.search.date_on_or_after_operator",
            format!("{:?} {:?} 2000-01-01: {}", s.change_date_field, s.date_on_or_after_operator, said(&e)),
            "otmm.search.date_on_or_after_operator",
        ),
    }
    let text = SearchCondition::new(isbn.clone(), s.text_operator.clone(), "9");
    match search(vec![text], None).await {
        Ok(_) => {
            report.pass("otmm.search.text_operator", format!("{isbn:?} {:?} \"9\" accepted", s.text_operator))
        }
        Err(e) => report.fail(
            "otmm.search.text_operator",
            format!("{isbn:?} {:?} \"9\": {}", s.text_operator, said(&e)),
            "otmm.search.text_operator",
        ),
    }
    or_conditions(report, client, config).await;
    match &s.latest_version {
        None => report.push(
            Status::Skip,
            "otmm.search.latest_version_field",
            "off (\"\"): searches are taken to return latest versions only",
            None,
        ),
        Some((field, value)) => {
            let cond = SearchCondition::new(field.clone(), s.text_operator.clone(), value.clone());
            match client.search(&[cond], None, 0, 5).await {
                Ok(p) if p.assets.iter().all(|a| a.latest_version) => report.pass(
                    "otmm.search.latest_version_field",
                    format!(
                        "{field:?} {:?} {value:?}: {} hits, all latest",
                        s.text_operator, p.total_hit_count
                    ),
                ),
                Ok(_) => report.fail(
                    "otmm.search.latest_version_field",
                    format!("{field:?} {value:?} returned versions that are not the latest"),
                    "otmm.search.latest_version_value",
                ),
                Err(e) => report.fail(
                    "otmm.search.latest_version_field",
                    format!("{field:?}: {}", said(&e)),
                    "otmm.search.latest_version_field",
                ),
            }
        }
    }

    // 5. Versions, by the configured method.
    versions(report, dam, config, asset.as_ref()).await;

    // 6. The approval value in its lookup domain.
    let a = &config.otmm.approval;
    match &a.lookup_domain {
        None => report.push(
            Status::Skip,
            "otmm.approval.value",
            format!("{:?} not checked: set otmm.approval.lookup_domain to check it", a.value),
            None,
        ),
        Some(domain) => match client.lookup_domain(domain).await {
            Ok(values)
                if values.iter().any(|v| {
                    v.value.as_deref() == Some(&a.value) || v.display_value.as_deref() == Some(&a.value)
                }) =>
            {
                report.pass(
                    "otmm.approval.value",
                    format!("{:?} is a value of lookup domain {domain}", a.value),
                )
            }
            Ok(values) => {
                let list: Vec<String> = values.iter().filter_map(|v| v.value.clone()).collect();
                report.fail(
                    "otmm.approval.value",
                    format!("{:?} is not in lookup domain {domain} ({})", a.value, list.join(", ")),
                    "otmm.approval.value",
                )
            }
            Err(e) => report.fail(
                "otmm.approval.lookup_domain",
                format!("GET lookupdomains/{domain}: {}", said(&e)),
                "otmm.approval.lookup_domain",
            ),
        },
    }

    // 7. The request folder.
    if let Some(r) = &config.otmm.requests {
        match client.folder_children(&r.parent_folder_id, 0, 1).await {
            Ok(_) => report.pass(
                "otmm.requests.parent_folder_id",
                format!("folder {} can be listed", r.parent_folder_id),
            ),
            Err(e) => report.fail(
                "otmm.requests.parent_folder_id",
                format!("folder {}: {}", r.parent_folder_id, said(&e)),
                "otmm.requests.parent_folder_id",
            ),
        }
    }
}

async fn versions(
    report: &mut CheckReport,
    dam: &OtmmDam,
    config: &MappingConfig,
    asset: Option<&OtmmAsset>,
) {
    let v = &config.otmm.versions;
    let Some(asset) = asset else {
        report.push(Status::Skip, "otmm.versions.method", "no asset to find the versions of", None);
        return;
    };
    let client = dam.client();
    let lineage = &asset.original_asset_id;
    let cond = SearchCondition::new(
        v.original_asset_id_field.clone(),
        config.otmm.search.text_operator.clone(),
        lineage.as_str(),
    );
    let by_search = client.search(&[cond], None, 0, 50).await;
    let search_ok = matches!(&by_search, Ok(p) if p.assets.iter().any(|a| a.asset_id == asset.asset_id));
    // The reconciler searches for an asset's versions by the lineage its change-feed page
    // names. A search answer that names none (the asset names itself) costs a read of the
    // asset first; one that names another lineage would list the wrong versions.
    if let Ok(p) = &by_search
        && let Some(found) = p.assets.iter().find(|a| a.asset_id == asset.asset_id)
    {
        let check = "otmm.versions.lineage_in_search";
        let named = &found.original_asset_id;
        if named == lineage {
            report
                .pass(check, format!("the search answer for {} names its lineage {lineage}", asset.asset_id));
        } else if *named == found.asset_id {
            let tried = format!(
                "the search answer for {} names no lineage (the asset's own id; a GET says {lineage}): each version list reads the asset first",
                asset.asset_id
            );
            report.push(Status::Warn, check, tried, None);
        } else {
            report.fail(
                check,
                format!("the search answer for {} names lineage {named}, a GET {lineage}", asset.asset_id),
                "the search's data_load_request (original_asset_id must be the GET's)",
            );
        }
    }
    match v.method {
        VersionsMethod::Search => match by_search {
            Ok(p) if search_ok => report.pass(
                "otmm.versions.method",
                format!(
                    "search {:?} contains {lineage}: {} versions",
                    v.original_asset_id_field, p.total_hit_count
                ),
            ),
            Ok(p) => report.fail(
                "otmm.versions.method",
                format!(
                    "search {:?} contains {lineage}: {} hits, not the asset itself",
                    v.original_asset_id_field, p.total_hit_count
                ),
                "otmm.versions.original_asset_id_field (or method = \"resource\")",
            ),
            Err(e) => report.fail(
                "otmm.versions.method",
                format!("search {:?}: {}", v.original_asset_id_field, said(&e)),
                "otmm.versions.original_asset_id_field (or method = \"resource\")",
            ),
        },
        VersionsMethod::Resource => match client.asset_versions(&v.resource_path, &asset.asset_id).await {
            Ok(list) => report.pass(
                "otmm.versions.method",
                format!(
                    "GET {}: {} versions",
                    v.resource_path.replace("{id}", asset.asset_id.as_str()),
                    list.len()
                ),
            ),
            Err(e) => {
                let fallback = if search_ok {
                    "; the lineage search works (the connector falls back to it meanwhile)"
                } else {
                    ""
                };
                report.fail(
                    "otmm.versions.method",
                    format!(
                        "GET {}: {}{fallback}",
                        v.resource_path.replace("{id}", asset.asset_id.as_str()),
                        said(&e)
                    ),
                    if search_ok {
                        "otmm.versions.method = \"search\""
                    } else {
                        "otmm.versions.resource_path"
                    },
                )
            }
        },
    }
}

/// `otmm.search.or_conditions`: two ISBN prefixes searched alone and as one ORed group. The
/// group must find at least what each found alone and no more than both together: an
/// installation that ignored `relational_operator` would AND them and find fewer.
async fn or_conditions(report: &mut CheckReport, client: &OtmmClient, config: &MappingConfig) {
    const KEY: &str = "otmm.search.or_conditions";
    let s = &config.otmm.search;
    if !s.or_conditions {
        report.push(Status::Skip, KEY, "off: one search per value", None);
        return;
    }
    let isbn = &config.otmm.fields.isbn;
    let cond = |v: &str| SearchCondition::new(isbn.clone(), s.text_operator.clone(), v);
    let (x, y) = ("9780", "9781");
    let hits = |conds: Vec<SearchCondition>| async move {
        client.search(&conds, None, 0, 1).await.map(|p| p.total_hit_count)
    };
    let (alone_x, alone_y) = match (hits(vec![cond(x)]).await, hits(vec![cond(y)]).await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return report.fail(
                KEY,
                format!("{isbn:?} contains {x:?}: {}", said(&e)),
                "otmm.search.text_operator",
            );
        }
    };
    let tried = format!("{isbn:?} contains {x:?} ({alone_x} hits) or {y:?} ({alone_y} hits), in one group");
    match hits(SearchCondition::any_of(vec![cond(x), cond(y)])).await {
        Err(e) => report.fail(KEY, format!("{tried}: {}", said(&e)), format!("set {KEY} = false")),
        Ok(_) if alone_x.max(alone_y) == 0 => report.push(
            Status::Warn,
            KEY,
            format!("{tried}: accepted, not confirmed (no ISBN holds either)"),
            None,
        ),
        Ok(both) if both >= alone_x.max(alone_y) && both <= alone_x + alone_y => {
            report.pass(KEY, format!("{tried}: {both} hits"))
        }
        Ok(both) => report.fail(
            KEY,
            format!("{tried}: {both} hits, so the installation does not OR them"),
            format!("set {KEY} = false"),
        ),
    }
}
