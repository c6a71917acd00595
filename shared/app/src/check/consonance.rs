//! The Consonance half of `connector check`: the API key, the tenant's schema (introspection),
//! every document the client sends validated against it, every enum value the config names,
//! and a dry read of one work.

use super::{CheckReport, Status};
use connector_core::config::{LinkRoute, MappingConfig, ProductForms, website_role_code};
use consonance_client::validate::Validator;
use consonance_client::{ConsonanceClient, ConsonanceError, TenantSchema};
use std::collections::BTreeSet;

/// The enum type of an input field, with its values (`None`: no such field, or not an enum).
fn input_enum(schema: &TenantSchema, input: &str, field: &str) -> Option<(String, Vec<String>)> {
    let name = schema.input_field(input, field)?.ty.named().to_string();
    let values = schema.enum_values(&name)?;
    Some((name, values))
}

fn list(values: &[String]) -> String {
    if values.len() > 40 { format!("{} values", values.len()) } else { values.join(", ") }
}

/// Values the config names, each with the key that names it, checked against one enum.
fn check_enum(
    report: &mut CheckReport,
    check: &str,
    e: Option<(String, Vec<String>)>,
    wanted: Vec<(String, String)>,
) {
    let Some((name, values)) = e else {
        report.push(
            Status::Skip,
            check,
            "the tenant's schema has no enum for these values: not checked",
            None,
        );
        return;
    };
    for (key, value) in wanted {
        if values.contains(&value) {
            report.pass(&key, format!("{value:?} is a value of {name}"));
        } else {
            report.fail(&key, format!("{value:?} is not a value of {name} ({})", list(&values)), key.clone());
        }
    }
}

fn said(e: &ConsonanceError) -> String {
    let s = e.to_string();
    if s.chars().count() > 240 { format!("{}…", s.chars().take(240).collect::<String>()) } else { s }
}

pub(super) async fn run(report: &mut CheckReport, client: &ConsonanceClient, config: &MappingConfig) {
    // 1. The key and the schema: introspection needs both.
    let tenant = client.tenant().await;
    let Some(schema) = &tenant.schema else {
        let why = tenant.introspection_error.clone().unwrap_or_default();
        let unauthorized = why.contains("unauthorized");
        report.fail(
            "consonance.introspection",
            format!("introspection query: {why}"),
            if unauthorized {
                "CONSONANCE_API_KEY"
            } else {
                "CONSONANCE_BASE_URL (or ask Consonance to allow introspection)"
            },
        );
        return;
    };
    report.pass(
        "consonance.introspection",
        format!(
            "read the tenant's schema with the API key (query type {}, mutations {})",
            schema.query_type,
            schema.mutation_type.as_deref().unwrap_or("none")
        ),
    );
    // What the client adapted to: named, not failed.
    for note in &tenant.documents.caps.notes {
        let field = note.split(' ').next().unwrap_or(note);
        report.push(Status::Warn, format!("consonance.schema.{field}"), note.clone(), None);
    }

    // 2. Every document the client sends, validated against the tenant's schema.
    match Validator::new(schema) {
        Err(e) => report.fail(
            "consonance.documents",
            e.to_string(),
            "nothing in the config: report it with the schema",
        ),
        Ok(v) => {
            for (name, doc) in tenant.documents.all() {
                let errors = v.errors(doc).await;
                if errors.is_empty() {
                    report.pass(
                        format!("consonance.documents.{name}"),
                        "validates against the tenant's schema",
                    );
                } else {
                    report.fail(
                        format!("consonance.documents.{name}"),
                        errors.join("; "),
                        "nothing in the config: a name the connector assumes is missing here (docs/ASSUMPTIONS.md)",
                    );
                }
            }
            if let Some(doc) = &config.consonance.upload.follow_up_mutation {
                let errors = v.errors(doc).await;
                if errors.is_empty() {
                    report.pass(
                        "consonance.upload.follow_up_mutation",
                        "validates against the tenant's schema",
                    );
                } else {
                    report.fail(
                        "consonance.upload.follow_up_mutation",
                        errors.join("; "),
                        "consonance.upload.follow_up_mutation",
                    );
                }
            }
        }
    }

    // 3. Every enum value the config names.
    let caps = &tenant.documents.caps;
    let mut variants = Vec::new();
    let mut statuses = Vec::new();
    let mut website_roles = Vec::new();
    for (role, r) in &config.consonance.resources {
        match &r.route {
            LinkRoute::SupportingResource { resource_variant, status } => {
                variants.push((
                    format!("consonance.resources.{role}.resource_variant"),
                    resource_variant.clone(),
                ));
                statuses.push((format!("consonance.resources.{role}.status"), status.clone()));
            }
            LinkRoute::WebLink { website_role, .. } => {
                website_roles
                    .push((format!("consonance.resources.{role}.website_role"), format!("_{website_role}")));
            }
        }
    }
    if let Some(p) = &config.packages {
        website_roles.push(("packages.release_link_role".into(), format!("_{}", p.release_link_role)));
    }
    let readiness_role = website_role_code(crate::readiness::READINESS_LINK_ROLE).unwrap_or_default();
    website_roles.push(("readiness web link role (built in)".into(), format!("_{readiness_role}")));
    check_enum(
        report,
        "consonance.resources.resource_variant",
        input_enum(schema, &caps.create_resource_input, "resourceVariant"),
        variants,
    );
    check_enum(
        report,
        "consonance.resources.status",
        input_enum(schema, &caps.create_resource_input, "status"),
        statuses,
    );
    check_enum(
        report,
        "consonance.website_roles",
        input_enum(schema, &caps.create_web_link_input, "role"),
        website_roles,
    );
    let mut forms: BTreeSet<(String, String)> = BTreeSet::new();
    for f in config.launch.forms.keys() {
        forms.insert((format!("launch.forms.{f}"), f.to_string()));
    }
    for (role, r) in &config.consonance.resources {
        if let ProductForms::Only(set) = &r.product_forms {
            for f in set {
                forms.insert((format!("consonance.resources.{role}.product_forms ({f})"), f.to_string()));
            }
        }
    }
    for f in config.rights.default_channels.keys() {
        forms.insert((format!("rights.default_channels.{f}"), f.to_string()));
    }
    check_enum(
        report,
        "product forms",
        input_enum(schema, "ProductSearchAttributes", "onix21ProductFormCodeIn"),
        forms.into_iter().collect(),
    );

    // 4. A dry read of one work (and its first product by ISBN, and its schedule).
    let works = match client
        .works_changed_since(chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(), None)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            report.fail(
                "consonance.work_read",
                format!("works changed since 2000-01-01: {}", said(&e)),
                "CONSONANCE_BASE_URL",
            );
            return;
        }
    };
    let Some(first) = works.first() else {
        report.push(Status::Skip, "consonance.work_read", "the tenant has no work to read", None);
        return;
    };
    match client.work(first.id).await {
        Ok(w) => report.pass(
            "consonance.work_read",
            format!(
                "dry read of work {} ({:?}): {} products, stage {:?}",
                w.id,
                w.title.as_deref().unwrap_or(""),
                w.products.len(),
                w.project_stage.as_deref().unwrap_or("")
            ),
        ),
        Err(e) => report.fail(
            "consonance.work_read",
            format!("work {}: {}", first.id, said(&e)),
            "nothing in the config (docs/ASSUMPTIONS.md)",
        ),
    }
    if let Some(isbn) = first.products.iter().find_map(|p| p.isbn13()) {
        match client.product_by_isbn(&isbn).await {
            Ok(p) => report.pass("consonance.product_read", format!("product {} found by ISBN {isbn}", p.id)),
            Err(e) => report.fail(
                "consonance.product_read",
                format!("product by ISBN {isbn}: {}", said(&e)),
                "nothing in the config (docs/ASSUMPTIONS.md)",
            ),
        }
    }
    match client.work_schedule(first.id).await {
        Ok(s) if s.contract_unavailable.is_some() => report.push(
            Status::Warn,
            "consonance.contract_dates",
            format!(
                "{}: launch readiness says manuscript dates are unknown",
                s.contract_unavailable.unwrap_or_default()
            ),
            None,
        ),
        Ok(_) => report.pass(
            "consonance.contract_dates",
            format!("work {}'s contract dates read through Work.contract", first.id),
        ),
        Err(e) => report.fail(
            "consonance.contract_dates",
            format!("work {} schedule: {}", first.id, said(&e)),
            "nothing in the config",
        ),
    }

    // 5. Project stages: an enum on some tenants, free text on others (then compared with what
    //    the first page of works shows).
    if let Some(rules) = &config.request_rules {
        let ty = schema.field("Work", "projectStage").map(|f| f.ty.named().to_string());
        match ty.as_deref().and_then(|t| schema.enum_values(t)) {
            Some(values) => check_enum(
                report,
                "requests.stages",
                ty.map(|t| (t, values)),
                rules
                    .stages
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("requests.stages[{i}]"), s.clone()))
                    .collect(),
            ),
            None => {
                let seen: BTreeSet<String> = works.iter().filter_map(|w| w.project_stage.clone()).collect();
                let unknown: Vec<&String> = seen.iter().filter(|s| rules.stage_index(s).is_none()).collect();
                if unknown.is_empty() {
                    report.pass(
                        "requests.stages",
                        format!(
                            "every stage on the first page of works is listed ({})",
                            seen.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )
                } else {
                    report.fail(
                        "requests.stages",
                        format!(
                            "works are at stages the config does not list: {}",
                            unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        "requests.stages",
                    )
                }
            }
        }
    }
}
