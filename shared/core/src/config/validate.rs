//! Validation: the raw config into typed values, with the cross-field rules checked and every
//! problem reported (not only the first).

use super::raw::{self, path};
use super::*;

pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    pub(super) fn add(&mut self, key: String, reason: impl Into<String>) {
        self.0.push(Problem { key, reason: reason.into(), line: None });
    }
}

pub(super) fn roles_list() -> String {
    AssetRole::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

pub(super) fn channels_list() -> String {
    Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

pub(super) fn parse_role(s: &str) -> Result<AssetRole, String> {
    s.parse::<AssetRole>().map_err(|_| format!("unknown role {s:?}; expected one of {}", roles_list()))
}

pub(super) fn non_empty(p: &mut Problems, key: String, value: &str) -> String {
    let v = value.trim();
    if v.is_empty() {
        p.add(key, "must not be empty");
    }
    v.to_string()
}

pub(super) fn positive_days(p: &mut Problems, key: String, days: i64) -> u32 {
    match u32::try_from(days) {
        Ok(d) if d > 0 && d <= 3660 => d,
        _ => {
            p.add(key, format!("must be a number of days from 1 to 3660, got {days}"));
            0
        }
    }
}

pub(super) fn validate(raw: raw::Root, file: &str) -> Result<MappingConfig, ConfigError> {
    let mut p = Problems(Vec::new());

    // [otmm.fields]
    let f = &raw.otmm.fields;
    let opt = |p: &mut Problems, name: &str, v: &Option<String>| -> Option<String> {
        v.as_ref().map(|v| non_empty(p, path(&["otmm", "fields", name]), v))
    };
    let fields = OtmmFields {
        isbn: non_empty(&mut p, path(&["otmm", "fields", "isbn"]), &f.isbn),
        asset_type: non_empty(&mut p, path(&["otmm", "fields", "asset_type"]), &f.asset_type),
        approval_status: non_empty(&mut p, path(&["otmm", "fields", "approval_status"]), &f.approval_status),
        approved_by: opt(&mut p, "approved_by", &f.approved_by),
        approved_date: opt(&mut p, "approved_date", &f.approved_date),
        imprint: opt(&mut p, "imprint", &f.imprint),
        territory: opt(&mut p, "territory", &f.territory),
        channels: opt(&mut p, "channels", &f.channels),
        expiration_date: opt(&mut p, "expiration_date", &f.expiration_date),
        embargo_until: opt(&mut p, "embargo_until", &f.embargo_until),
        rights_flag: opt(&mut p, "rights_flag", &f.rights_flag),
        request_id: opt(&mut p, "request_id", &f.request_id),
        due_date: opt(&mut p, "due_date", &f.due_date),
    };
    // Two logical fields in one OTMM field would make the connector read one fact as another.
    let mut seen: BTreeMap<&str, FieldName> = BTreeMap::new();
    for name in FieldName::ALL {
        if let Some(id) = fields.get(name).filter(|id| !id.is_empty()) {
            if let Some(first) = seen.get(id) {
                p.add(
                    path(&["otmm", "fields", name.as_str()]),
                    format!("field id {id:?} is already used by otmm.fields.{first}; each fact needs its own field"),
                );
            } else {
                seen.insert(id, name);
            }
        }
    }

    // [otmm.approval]
    let approval = ApprovalRule {
        field: match &raw.otmm.approval.field {
            Some(field) => non_empty(&mut p, path(&["otmm", "approval", "field"]), field),
            None => fields.approval_status.clone(),
        },
        value: non_empty(&mut p, path(&["otmm", "approval", "value"]), &raw.otmm.approval.value),
        lookup_domain: raw
            .otmm
            .approval
            .lookup_domain
            .as_ref()
            .map(|d| non_empty(&mut p, path(&["otmm", "approval", "lookup_domain"]), d)),
    };
    let search = otmm_api::validate_search(&mut p, &raw.otmm.search);
    let versions = otmm_api::validate_versions(&mut p, &raw.otmm.versions);

    // [otmm.roles]
    let mut roles: BTreeMap<String, AssetRole> = BTreeMap::new();
    let mut role_source: BTreeMap<AssetRole, String> = BTreeMap::new();
    if raw.otmm.roles.is_empty() {
        p.add(path(&["otmm", "roles"]), "must map at least one asset-type value to a role");
    }
    for (value, role_name) in &raw.otmm.roles {
        let key = path(&["otmm", "roles", value]);
        if value.trim().is_empty() {
            p.add(key, "an asset-type value must not be empty");
            continue;
        }
        if value.trim() != value {
            p.add(key, "an asset-type value must not start or end with spaces");
            continue;
        }
        match parse_role(role_name) {
            Err(reason) => p.add(key, reason),
            Ok(role) => {
                if let Some(first) = role_source.get(&role) {
                    p.add(
                        key,
                        format!(
                            "role {role} is already mapped from {first:?}; each role needs exactly one \
                             asset-type value, because asset requests write it back to OTMM"
                        ),
                    );
                } else {
                    role_source.insert(role, value.clone());
                    roles.insert(value.clone(), role);
                }
            }
        }
    }

    // Cross-checks against the role mapping only run once it is valid: one typo should give one
    // problem, not one per place the role is used.
    let roles_ok = p.0.iter().all(|x| !x.key.starts_with("otmm.roles"));

    // [otmm.requests]
    let requests = raw.otmm.requests.as_ref().map(|r| {
        for (name, v) in [("request_id", &fields.request_id), ("due_date", &fields.due_date)] {
            if v.is_none() {
                p.add(path(&["otmm", "fields", name]), "is required when [otmm.requests] is present");
            }
        }
        RequestsConfig {
            parent_folder_id: non_empty(
                &mut p,
                path(&["otmm", "requests", "parent_folder_id"]),
                &r.parent_folder_id,
            ),
            mode: r.mode,
            metadata_model_id: r
                .metadata_model_id
                .as_ref()
                .map(|m| non_empty(&mut p, path(&["otmm", "requests", "metadata_model_id"]), m)),
            container_type_id: match &r.container_type_id {
                Some(c) => non_empty(&mut p, path(&["otmm", "requests", "container_type_id"]), c),
                None => otmm_api::defaults::FOLDER_CONTAINER_TYPE.to_string(),
            },
        }
    });

    // [consonance.resources.<role>]
    let mut resources: BTreeMap<AssetRole, ResourceSettings> = BTreeMap::new();
    for (role_name, r) in &raw.consonance.resources {
        let key = |leaf: &str| path(&["consonance", "resources", role_name, leaf]);
        let role = match parse_role(role_name) {
            Ok(role) => role,
            Err(reason) => {
                p.add(path(&["consonance", "resources", role_name]), reason);
                continue;
            }
        };
        if roles_ok && !role_source.contains_key(&role) {
            p.add(
                path(&["consonance", "resources", role_name]),
                format!("no asset-type value in [otmm.roles] maps to role {role}"),
            );
        }
        let product_forms = match &r.product_forms {
            raw::FormsSpec::Keyword(k) if k == "all" => ProductForms::All,
            raw::FormsSpec::Keyword(k) => {
                p.add(
                    key("product_forms"),
                    format!("{k:?} is not \"all\"; use \"all\" or a list such as [\"AJ\"]"),
                );
                ProductForms::All
            }
            raw::FormsSpec::List(list) => ProductForms::Only(forms_list(&mut p, key("product_forms"), list)),
        };
        let route = routes::validate_route(
            &mut p,
            role_name,
            routes::raw::RouteKeys {
                route: r.route,
                resource_variant: &r.resource_variant,
                status: &r.status,
                website_role: &r.website_role,
                link_target: r.link_target,
            },
        );
        if matches!(route, LinkRoute::WebLink { target: LinkTarget::Staged, .. })
            && raw.consonance.staged_link_base_url.is_none()
        {
            p.add(
                key("link_target"),
                "\"staged\" needs consonance.staged_link_base_url (where staged copies are reachable)",
            );
        }
        resources.insert(role, ResourceSettings { route, product_forms });
    }
    let staged_link_base_url = raw.consonance.staged_link_base_url.as_ref().map(|u| {
        let key = path(&["consonance", "staged_link_base_url"]);
        let v = u.trim();
        if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains(char::is_whitespace) {
            p.add(key, format!("{v:?} must be an http(s) base URL, e.g. \"https://files.example.com/\""));
        }
        if v.ends_with('/') { v.to_string() } else { format!("{v}/") }
    });
    let upload = routes::validate_upload(&mut p, &raw.consonance.upload);

    let resources_ok = p.0.iter().all(|x| !x.key.starts_with("consonance.resources"));

    // [launch]
    let mut required_fields = Vec::new();
    for (i, name) in raw.launch.required_fields.iter().enumerate() {
        let key = format!("launch.required_fields[{i}]");
        match FieldName::parse(name) {
            None => p.add(
                key,
                format!(
                    "unknown field {name:?}; expected one of {}",
                    FieldName::ALL.map(FieldName::as_str).join(", ")
                ),
            ),
            Some(f) if fields.get(f).is_none() => p.add(key, format!("otmm.fields.{f} is not configured")),
            Some(f) if required_fields.contains(&f) => p.add(key, format!("{f} is listed twice")),
            Some(f) => required_fields.push(f),
        }
    }
    let mut forms = BTreeMap::new();
    for (form_code, lf) in &raw.launch.forms {
        let base = ["launch", "forms", form_code.as_str()];
        let form = match ProductForm::parse(form_code) {
            Ok(f) => f,
            Err(reason) => {
                p.add(path(&base), reason.to_string());
                continue;
            }
        };
        let key = |leaf: &str| path(&[base[0], base[1], base[2], leaf]);
        let mut launch_roles = Vec::new();
        if lf.roles.is_empty() {
            p.add(key("roles"), "must list at least one role");
        }
        for (i, name) in lf.roles.iter().enumerate() {
            let k = format!("{}[{i}]", key("roles"));
            let role = match parse_role(name) {
                Ok(r) => r,
                Err(reason) => {
                    p.add(k, reason);
                    continue;
                }
            };
            if launch_roles.contains(&role) {
                p.add(k, format!("role {role} is listed twice"));
            } else if !role_source.contains_key(&role) {
                if roles_ok {
                    p.add(k, format!("role {role} is not mapped from any asset-type value in [otmm.roles]"));
                }
            } else if !resources.contains_key(&role) {
                if resources_ok {
                    p.add(k, format!("role {role} has no [consonance.resources.{role}] to link it with"));
                }
            } else if !resources[&role].product_forms.contains(&form) {
                p.add(
                    k,
                    format!(
                        "role {role} is required for {form} but consonance.resources.{role}.product_forms \
                         does not include {form}, so it could never be linked"
                    ),
                );
            } else {
                launch_roles.push(role);
            }
        }
        let due = positive_days(&mut p, key("due_days_before_publication"), lf.due_days_before_publication);
        let label = lf.label.as_ref().map(|l| non_empty(&mut p, key("label"), l));
        forms
            .insert(form, LaunchRequirement { label, roles: launch_roles, due_days_before_publication: due });
    }

    // [rights]
    let expiry_warning_days =
        positive_days(&mut p, "rights.expiry_warning_days".into(), raw.rights.expiry_warning_days);
    let mut default_channels = BTreeMap::new();
    for (form_code, list) in &raw.rights.default_channels {
        let key = path(&["rights", "default_channels", form_code]);
        let form = match ProductForm::parse(form_code) {
            Ok(f) => f,
            Err(reason) => {
                p.add(key, reason.to_string());
                continue;
            }
        };
        default_channels.insert(form, channel_set(&mut p, &key, list));
    }
    let mut role_channels = BTreeMap::new();
    for (role_name, list) in &raw.rights.role_channels {
        let key = path(&["rights", "role_channels", role_name]);
        match parse_role(role_name) {
            Ok(role) => {
                role_channels.insert(role, channel_set(&mut p, &key, list));
            }
            Err(reason) => p.add(key, reason),
        }
    }

    let request_rules = raw.requests.as_ref().map(|r| request_rules(&mut p, r));

    // [packages]
    let mapped_roles: BTreeSet<AssetRole> = role_source.keys().copied().collect();
    let packages = raw
        .packages
        .as_ref()
        .map(|pk| packages::validate(&mut p, pk, &mapped_roles, roles_ok, &resources, resources_ok));

    if !p.0.is_empty() {
        return Err(ConfigError::Invalid { file: file.to_string(), problems: p.0 });
    }
    Ok(MappingConfig {
        source: file.to_string(),
        otmm: OtmmConfig { fields, approval, roles, requests, search, versions },
        consonance: ConsonanceConfig { resources, staged_link_base_url, upload },
        authority: Authority { title_data: raw.authority.title_data, asset_data: raw.authority.asset_data },
        launch: LaunchConfig { required_fields, forms },
        rights: RightsConfig { expiry_warning_days, default_channels, role_channels },
        request_rules,
        packages,
    })
}

pub(super) fn request_rules(p: &mut Problems, r: &raw::RequestRules) -> RequestRules {
    let mut stages: Vec<String> = Vec::new();
    if r.stages.is_empty() {
        p.add("requests.stages".into(), "must list the project stages in workflow order");
    }
    for (i, s) in r.stages.iter().enumerate() {
        let v = non_empty(p, format!("requests.stages[{i}]"), s);
        if stages.iter().any(|x| x.eq_ignore_ascii_case(&v)) {
            p.add(format!("requests.stages[{i}]"), format!("stage {v:?} is listed twice"));
        } else if !v.is_empty() {
            stages.push(v);
        }
    }
    let known = |s: &str| stages.iter().any(|x| x.eq_ignore_ascii_case(s.trim()));
    let from_stage = r.from_stage.trim().to_string();
    if !known(&from_stage) {
        p.add(
            "requests.from_stage".into(),
            format!("{from_stage:?} is not one of requests.stages ({})", stages.join(", ")),
        );
    }
    let mut role_from_stage = BTreeMap::new();
    for (role_name, stage) in &r.roles {
        let key = path(&["requests", "roles", role_name]);
        match parse_role(role_name) {
            Err(reason) => p.add(key, reason),
            Ok(_) if !known(stage) => {
                p.add(key, format!("{stage:?} is not one of requests.stages ({})", stages.join(", ")))
            }
            Ok(role) => {
                role_from_stage.insert(role, stage.trim().to_string());
            }
        }
    }
    let status_field = r.status_field.as_ref().map(|f| non_empty(p, "requests.status_field".into(), f));
    let readiness_field =
        r.readiness_field.as_ref().map(|f| non_empty(p, "requests.readiness_field".into(), f));
    let open_value = non_empty(p, "requests.open_value".into(), &r.open_value);
    let closed_value = non_empty(p, "requests.closed_value".into(), &r.closed_value);
    if open_value == closed_value && !open_value.is_empty() {
        p.add("requests.closed_value".into(), "must differ from requests.open_value");
    }
    RequestRules {
        stages,
        from_stage,
        role_from_stage,
        status_field,
        open_value,
        closed_value,
        readiness_field,
    }
}

/// A non-empty list of channel names without repeats.
pub(super) fn channel_set(p: &mut Problems, key: &str, list: &[String]) -> BTreeSet<Channel> {
    if list.is_empty() {
        p.add(key.to_string(), format!("must list at least one channel of {}", channels_list()));
    }
    let mut set = BTreeSet::new();
    for (i, c) in list.iter().enumerate() {
        match c.parse::<Channel>() {
            Ok(ch) if !set.insert(ch) => {
                p.add(format!("{key}[{i}]"), format!("channel {ch} is listed twice"))
            }
            Ok(_) => {}
            Err(_) => p.add(
                format!("{key}[{i}]"),
                format!("unknown channel {c:?}; expected one of {}", channels_list()),
            ),
        }
    }
    set
}

pub(super) fn forms_list(p: &mut Problems, key: String, list: &[String]) -> BTreeSet<ProductForm> {
    if list.is_empty() {
        p.add(key.clone(), "must list at least one product form, or be \"all\"");
    }
    let mut set = BTreeSet::new();
    for (i, code) in list.iter().enumerate() {
        match ProductForm::parse(code) {
            Ok(f) => {
                if !set.insert(f) {
                    p.add(format!("{key}[{i}]"), format!("{code} is listed twice"));
                }
            }
            Err(reason) => p.add(format!("{key}[{i}]"), reason.to_string()),
        }
    }
    set
}
