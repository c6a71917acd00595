use super::raw::line_col;
use super::*;

const EXAMPLE: &str = include_str!("../../../../config/mapping.example.toml");
const FILE: &str = "mapping.toml";

/// The example with one exact substring replaced (the replacement must happen).
fn edited(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "example has no {from:?}");
    EXAMPLE.replacen(from, to, 1)
}

fn problems(text: &str) -> Vec<Problem> {
    match MappingConfig::from_toml_str(text, FILE) {
        Err(ConfigError::Invalid { file, problems }) => {
            assert_eq!(file, FILE);
            problems
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The single problem of `text`, checked to name `key` and to contain every `needles`.
fn one_problem(text: &str, key: &str, needles: &[&str]) -> Problem {
    let ps = problems(text);
    assert_eq!(ps.len(), 1, "expected one problem, got {ps:#?}");
    let p = ps.into_iter().next().unwrap();
    assert_eq!(p.key, key, "{p:?}");
    for n in needles {
        assert!(p.reason.contains(n), "reason {:?} lacks {n:?}", p.reason);
    }
    // The rendered error names the file, the key and the reason.
    let rendered = ConfigError::Invalid { file: FILE.into(), problems: vec![p.clone()] }.to_string();
    assert!(rendered.contains(FILE) && rendered.contains(key) && rendered.contains(&p.reason), "{rendered}");
    p
}

#[test]
fn example_loads_and_matches_the_simulator() {
    let c = MappingConfig::from_toml_str(EXAMPLE, "config/mapping.example.toml").unwrap();
    // The same strings as connector_sim::catalogue::otmm_fields (core must not depend on sim).
    let f = &c.otmm.fields;
    assert_eq!(f.isbn, "CUSTOM.FIELD.ISBN");
    assert_eq!(f.asset_type, "CUSTOM.FIELD.ASSET_TYPE");
    assert_eq!(f.approval_status, "CUSTOM.FIELD.APPROVAL_STATUS");
    assert_eq!(f.approved_by.as_deref(), Some("CUSTOM.FIELD.APPROVED_BY"));
    assert_eq!(f.approved_date.as_deref(), Some("CUSTOM.FIELD.APPROVED_DATE"));
    assert_eq!(f.imprint.as_deref(), Some("CUSTOM.FIELD.IMPRINT"));
    assert_eq!(f.territory.as_deref(), Some("CUSTOM.FIELD.RIGHTS_TERRITORY"));
    assert_eq!(f.channels.as_deref(), Some("CUSTOM.FIELD.RIGHTS_CHANNELS"));
    assert_eq!(f.embargo_until.as_deref(), Some("CUSTOM.FIELD.EMBARGO_UNTIL"));
    assert_eq!(f.expiration_date.as_deref(), Some("ARTESIA.FIELD.EXPIRATION DATE"));
    assert_eq!(f.rights_flag.as_deref(), Some("CUSTOM.FIELD.RIGHTS_FLAG"));
    assert_eq!(f.request_id.as_deref(), Some("CUSTOM.FIELD.REQUEST_ID"));
    assert_eq!(f.due_date.as_deref(), Some("CUSTOM.FIELD.DUE_DATE"));
    assert_eq!(c.otmm.approval.field, "CUSTOM.FIELD.APPROVAL_STATUS");
    assert!(c.otmm.approval.is_approved(" Approved ") && !c.otmm.approval.is_approved("In Review"));
    // connector_sim::catalogue::role_values(): every role, value = title-cased role name.
    assert_eq!(c.otmm.roles.len(), AssetRole::ALL.len());
    for role in AssetRole::ALL {
        let value = c.value_for_role(role).unwrap();
        let expected: String =
            role.as_str().split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect::<Vec<_>>().join(" ");
        assert_eq!(value, expected);
        assert_eq!(c.role_for(value), Some(role));
    }
    assert_eq!(c.role_for("Front Cover"), Some(AssetRole::FrontCover));
    assert_eq!(c.role_for("front cover"), None);

    let aj = ProductForm::parse("AJ").unwrap();
    let bb = ProductForm::parse("BB").unwrap();
    assert!(c.links_to(AssetRole::AudioSample, &aj) && !c.links_to(AssetRole::AudioSample, &bb));
    assert!(c.links_to(AssetRole::FrontCover, &aj) && c.links_to(AssetRole::FrontCover, &bb));
    let hb = c.launch_for(&bb).unwrap();
    assert_eq!(hb.due_days_before_publication, 120);
    assert_eq!(
        hb.roles,
        vec![AssetRole::FrontCover, AssetRole::BackCover, AssetRole::Spine, AssetRole::AuthorPhoto]
    );
    assert_eq!(c.launch_for(&aj).unwrap().roles, vec![AssetRole::FrontCover, AssetRole::AudioSample]);
    assert_eq!(c.default_channels(&aj).unwrap().iter().copied().collect::<Vec<_>>(), vec![Channel::Audio]);
    assert_eq!(c.rights.expiry_warning_days, 30);
    assert_eq!(c.authority, Authority { title_data: System::Consonance, asset_data: System::Otmm });
    assert_eq!(c.otmm.requests.as_ref().unwrap().mode, RequestMode::Folder);
    assert_eq!(c.launch.required_fields[0], FieldName::Isbn);
}

#[test]
fn load_reads_the_file_and_names_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("mapping-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mapping.toml");
    std::fs::write(&path, EXAMPLE).unwrap();
    let c = MappingConfig::load(&path).unwrap();
    assert_eq!(c.source, path.display().to_string());
    std::fs::remove_file(&path).unwrap();
    let err = MappingConfig::load(&path).unwrap_err();
    assert!(matches!(&err, ConfigError::Read { file, .. } if *file == path.display().to_string()));
    assert!(err.to_string().contains("mapping.toml"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let text = edited("mode = \"folder\"", "mode = \"folder");
    let err = MappingConfig::from_toml_str(&text, FILE).unwrap_err();
    let line = text.lines().position(|l| l.starts_with("mode = \"folder")).unwrap() + 1;
    match &err {
        ConfigError::Syntax { file, line: l, column, .. } => {
            assert_eq!(file, FILE);
            assert_eq!(*l, line);
            assert!(*column >= 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&format!("line {line}")), "{err}");
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let p = one_problem(
        &edited("isbn            =", "isbnn = \"X\"\nisbn            ="),
        "otmm.fields.isbnn",
        &["unknown field `isbnn`", "expected one of `isbn`, `asset_type`"],
    );
    assert!(p.line.is_some());
    one_problem(
        &edited("[authority]", "[authority]\ncolour = \"red\""),
        "authority.colour",
        &["unknown field `colour`"],
    );
    one_problem(&format!("{EXAMPLE}\n[extra]\nx = 1\n"), "extra", &["unknown field `extra`"]);
}

#[test]
fn missing_required_key_is_named() {
    one_problem(
        &edited("isbn            = \"CUSTOM.FIELD.ISBN\"\n", ""),
        "otmm.fields",
        &["missing field `isbn`"],
    );
    one_problem(
        &edited("due_days_before_publication = 90\n\n[rights]", "\n[rights]"),
        "launch.forms.AJ",
        &["missing field `due_days_before_publication`"],
    );
}

#[test]
fn wrong_type_names_the_key() {
    let p = one_problem(
        &edited("due_days_before_publication = 120", "due_days_before_publication = \"120\""),
        "launch.forms.BB.due_days_before_publication",
        &["i64"],
    );
    assert!(p.line.is_some());
    one_problem(&edited("BB = [\"print\"]", "BB = \"print\""), "rights.default_channels.BB", &["sequence"]);
}

#[test]
fn unknown_role_value_names_quoted_key_and_lists_roles() {
    one_problem(
        &edited("\"Front Cover\"           = \"front_cover\"", "\"Front Cover\" = \"front-cover\""),
        "otmm.roles.\"Front Cover\"",
        &["unknown role \"front-cover\"", "expected one of front_cover, back_cover"],
    );
}

#[test]
fn a_role_mapped_from_two_values_is_rejected() {
    one_problem(
        &edited("\"Spine\"                 = \"spine\"", "\"Spine\" = \"spine\"\n\"Spine Art\" = \"spine\""),
        "otmm.roles.\"Spine Art\"",
        &["role spine is already mapped from \"Spine\""],
    );
}

#[test]
fn empty_roles_table_is_rejected() {
    let start = EXAMPLE.find("\"Front Cover\"           =").unwrap();
    let end = EXAMPLE.find("# Asset requests").unwrap();
    let text = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    let ps = problems(&text);
    assert!(ps.iter().any(|p| p.key == "otmm.roles" && p.reason.contains("at least one")), "{ps:#?}");
}

#[test]
fn empty_and_shared_field_ids_are_rejected() {
    one_problem(
        &edited("imprint         = \"CUSTOM.FIELD.IMPRINT\"", "imprint = \"  \""),
        "otmm.fields.imprint",
        &["must not be empty"],
    );
    one_problem(
        &edited("imprint         = \"CUSTOM.FIELD.IMPRINT\"", "imprint = \"CUSTOM.FIELD.ISBN\""),
        "otmm.fields.imprint",
        &["\"CUSTOM.FIELD.ISBN\" is already used by otmm.fields.isbn"],
    );
}

#[test]
fn approval_value_must_not_be_empty_and_field_may_be_overridden() {
    one_problem(
        &edited("value = \"Approved\"", "value = \"\""),
        "otmm.approval.value",
        &["must not be empty"],
    );
    let c = MappingConfig::from_toml_str(
        &edited("value = \"Approved\"", "field = \"CUSTOM.FIELD.WORKFLOW_STATE\"\nvalue = \"Final\""),
        FILE,
    )
    .unwrap();
    assert_eq!(c.otmm.approval.field, "CUSTOM.FIELD.WORKFLOW_STATE");
    assert!(c.otmm.approval.is_approved("Final"));
}

#[test]
fn requests_need_request_id_and_due_date_fields_and_a_known_mode() {
    one_problem(
        &edited("request_id      = \"CUSTOM.FIELD.REQUEST_ID\"\n", ""),
        "otmm.fields.request_id",
        &["required when [otmm.requests] is present"],
    );
    one_problem(
        &edited("mode = \"folder\"", "mode = \"email\""),
        "otmm.requests.mode",
        &["unknown variant `email`", "`folder`", "`placeholder`"],
    );
    one_problem(
        &edited("parent_folder_id = \"f0f0000000000000000000000000000000000002\"", "parent_folder_id = \"\""),
        "otmm.requests.parent_folder_id",
        &["must not be empty"],
    );
    // Without [otmm.requests], the request fields are optional.
    let text = edited("request_id      = \"CUSTOM.FIELD.REQUEST_ID\"\n", "").replacen(
        "[otmm.requests]\nparent_folder_id = \"f0f0000000000000000000000000000000000002\"\nmode = \"folder\"\n",
        "",
        1,
    );
    assert!(MappingConfig::from_toml_str(&text, FILE).unwrap().otmm.requests.is_none());
}

#[test]
fn consonance_resources_are_checked() {
    one_problem(
        &edited("[consonance.resources.spine]", "[consonance.resources.spine-art]"),
        "consonance.resources.spine-art",
        &["unknown role \"spine-art\""],
    );
    // A resource for a role no OTMM value maps to is dead configuration.
    let ps = problems(&edited("\"Promo Video\"           = \"promo_video\"\n", ""));
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].key, "consonance.resources.promo_video");
    assert!(ps[0].reason.contains("no asset-type value in [otmm.roles] maps to role promo_video"));
    one_problem(
        &edited("resource_variant = \"marketing_social\"", "resource_variant = \"\""),
        "consonance.resources.social_graphic.resource_variant",
        &["must not be empty"],
    );
    // Routes: a web link needs a website role, takes no enum values; a supporting resource
    // needs both enum values.
    one_problem(
        &edited("website_role = \"02\"", "website_role = \"B2B\""),
        "consonance.resources.promo_video.website_role",
        &["not an ONIX list 73 website role"],
    );
    one_problem(
        &edited("website_role = \"02\"", "website_role = \"02\"\nstatus = \"approved\""),
        "consonance.resources.promo_video.status",
        &["does not apply to route = \"web_link\""],
    );
    one_problem(
        &edited("resource_variant = \"marketing_social\"\n", ""),
        "consonance.resources.social_graphic.resource_variant",
        &["is required for a supporting resource"],
    );
    one_problem(
        &edited("staged_link_base_url = \"https://assets.example.com/\"\n", ""),
        "consonance.resources.audio_sample.link_target",
        &["needs consonance.staged_link_base_url"],
    );
    one_problem(
        &edited(
            "method = \"remote_url\"",
            "method = \"remote_url\"\nfollow_up_mutation = \"mutation($id: Int!) { x(id: $id) { id } }\"",
        ),
        "consonance.upload.follow_up_mutation",
        &["applies to method = \"presigned\" only"],
    );
    one_problem(
        &edited("product_forms = [\"AJ\"]", "product_forms = \"some\""),
        "consonance.resources.audio_sample.product_forms",
        &["\"some\" is not \"all\""],
    );
    one_problem(
        &edited("product_forms = [\"BB\", \"BC\", \"DG\"]", "product_forms = [\"BB\", \"hardback\"]"),
        "consonance.resources.interior_illustration.product_forms[1]",
        &["\"hardback\" is not an ONIX product form code"],
    );
    one_problem(
        &edited("product_forms = [\"BB\", \"BC\", \"DG\"]", "product_forms = []"),
        "consonance.resources.interior_illustration.product_forms",
        &["at least one product form"],
    );
    one_problem(
        &edited("product_forms = [\"BB\", \"BC\", \"DG\"]", "product_forms = 3"),
        "consonance.resources.interior_illustration.product_forms",
        &["\"all\" or a list of product form codes"],
    );
}

#[test]
fn launch_roles_must_be_mapped_and_linkable() {
    one_problem(
        &edited("roles = [\"front_cover\", \"audio_sample\"]", "roles = [\"front_cover\", \"audio\"]"),
        "launch.forms.AJ.roles[1]",
        &["unknown role \"audio\""],
    );
    // Required for AJ but only linked to AJ: moving the link makes the requirement impossible
    // (for launch, and for the audio package that needs it too).
    let ps = problems(&edited("product_forms = [\"AJ\"]", "product_forms = [\"BB\"]"));
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert!(
        ps[0].key == "launch.forms.AJ.roles[1]"
            && ps[0].reason.contains("audio_sample is required for AJ")
            && ps[0].reason.contains("does not include AJ")
    );
    assert!(ps[1].key == "packages.audio.roles[1]" && ps[1].reason.contains("packaged for AJ"), "{ps:#?}");
    let ps = problems(&edited("\"Author Photo\"          = \"author_photo\"\n", ""));
    assert!(
        ps.iter().any(|p| p.key == "launch.forms.BB.roles[3]"
            && p.reason.contains("author_photo is not mapped from any asset-type value")),
        "{ps:#?}"
    );
    one_problem(
        &edited("roles = [\"front_cover\"]", "roles = [\"front_cover\", \"front_cover\"]"),
        "launch.forms.DG.roles[1]",
        &["listed twice"],
    );
    one_problem(
        &edited("roles = [\"front_cover\"]", "roles = []"),
        "launch.forms.DG.roles",
        &["at least one role"],
    );
    one_problem(
        &edited("[launch.forms.DG]", "[launch.forms.ebook]"),
        "launch.forms.ebook",
        &["not an ONIX product form"],
    );
}

#[test]
fn days_must_be_positive() {
    one_problem(
        &edited(
            "due_days_before_publication = 90\n\n[launch.forms.AJ]",
            "due_days_before_publication = 0\n\n[launch.forms.AJ]",
        ),
        "launch.forms.DG.due_days_before_publication",
        &["from 1 to 3660, got 0"],
    );
    one_problem(
        &edited("due_days_before_publication = 120", "due_days_before_publication = -5"),
        "launch.forms.BB.due_days_before_publication",
        &["got -5"],
    );
    one_problem(
        &edited("expiry_warning_days = 30", "expiry_warning_days = 0"),
        "rights.expiry_warning_days",
        &["got 0"],
    );
}

#[test]
fn required_fields_must_be_known_and_configured() {
    one_problem(
        &edited("\"approval_status\", \"territory\"]", "\"approval_status\", \"colour\"]"),
        "launch.required_fields[3]",
        &["unknown field \"colour\"", "expected one of isbn, asset_type"],
    );
    one_problem(
        &edited("territory       = \"CUSTOM.FIELD.RIGHTS_TERRITORY\"\n", ""),
        "launch.required_fields[3]",
        &["otmm.fields.territory is not configured"],
    );
}

#[test]
fn rights_channels_are_checked() {
    one_problem(
        &edited("DG = [\"ebook\"]", "DG = [\"ebook\", \"kindle\"]"),
        "rights.default_channels.DG[1]",
        &["unknown channel \"kindle\"", "expected one of print, ebook, audio, retail_web, social"],
    );
    one_problem(
        &edited("DG = [\"ebook\"]", "DG = []"),
        "rights.default_channels.DG",
        &["at least one channel"],
    );
    one_problem(
        &edited("DG = [\"ebook\"]", "\"D G\" = [\"ebook\"]"),
        "rights.default_channels.\"D G\"",
        &["not an ONIX"],
    );
}

#[test]
fn authority_accepts_only_the_two_systems_and_defaults() {
    one_problem(
        &edited("title_data = \"consonance\"", "title_data = \"onix\""),
        "authority.title_data",
        &["unknown variant `onix`", "`otmm`", "`consonance`"],
    );
    let start = EXAMPLE.find("[authority]").unwrap();
    let end = EXAMPLE.find("[launch]").unwrap();
    let c = MappingConfig::from_toml_str(&format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]), FILE).unwrap();
    assert_eq!(c.authority, Authority { title_data: System::Consonance, asset_data: System::Otmm });
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = edited("expiry_warning_days = 30", "expiry_warning_days = 0").replacen(
        "\"Front Cover\"           = \"front_cover\"",
        "\"Front Cover\" = \"front-cover\"",
        1,
    );
    let ps = problems(&text);
    let keys: Vec<&str> = ps.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"rights.expiry_warning_days"), "{keys:?}");
    assert!(keys.contains(&"otmm.roles.\"Front Cover\""), "{keys:?}");
    let rendered = MappingConfig::from_toml_str(&text, FILE).unwrap_err().to_string();
    assert!(rendered.contains(&format!("mapping config {FILE} has {} problems", ps.len())), "{rendered}");
}

#[test]
fn toml_keys_are_quoted_only_when_needed() {
    assert_eq!(toml_key("front_cover"), "front_cover");
    assert_eq!(toml_key("Front Cover"), "\"Front Cover\"");
    assert_eq!(toml_key("ARTESIA.FIELD.X"), "\"ARTESIA.FIELD.X\"");
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
}

#[test]
fn role_channels_name_their_role_and_channels() {
    let cfg = MappingConfig::from_toml_str(EXAMPLE, FILE).unwrap();
    let bb = ProductForm::parse("BB").unwrap();
    assert_eq!(cfg.usage_channels(AssetRole::SocialGraphic, Some(&bb)), Some(&[Channel::Social].into()));
    assert_eq!(cfg.usage_channels(AssetRole::FrontCover, Some(&bb)), Some(&[Channel::Print].into()));
    assert_eq!(cfg.usage_channels(AssetRole::FrontCover, None), None);
    one_problem(
        &edited("social_graphic  = [\"social\"]", "social_graphix = [\"social\"]"),
        "rights.role_channels.social_graphix",
        &["unknown role"],
    );
    one_problem(
        &edited("social_graphic  = [\"social\"]", "social_graphic = [\"tiktok\"]"),
        "rights.role_channels.social_graphic[0]",
        &["unknown channel \"tiktok\""],
    );
    one_problem(
        &edited("social_graphic  = [\"social\"]", "social_graphic = []"),
        "rights.role_channels.social_graphic",
        &["at least one channel"],
    );
}

#[test]
fn otmm_search_and_versions_have_documented_defaults_and_are_checked() {
    // Without the tables, the defaults (the ids public OTMM clients use) apply.
    let start = EXAMPLE.find("[otmm.search]").unwrap();
    let end = EXAMPLE.find("# Asset-type field value").unwrap();
    let bare = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    let c = MappingConfig::from_toml_str(&bare, FILE).unwrap();
    assert_eq!(c.otmm.search, SearchConfig::default());
    assert_eq!(c.otmm.versions, VersionsConfig::default());
    assert_eq!(c.otmm.versions.method, VersionsMethod::Search);
    assert_eq!(c.otmm.search.sort_ascending_on("F"), "asc_F");
    // The example states the same values.
    assert_eq!(MappingConfig::from_toml_str(EXAMPLE, FILE).unwrap().otmm.search, SearchConfig::default());
    one_problem(
        &edited("sort_ascending = \"asc_{field}\"", "sort_ascending = \"asc\""),
        "otmm.search.sort_ascending",
        &["must contain {field}"],
    );
    one_problem(
        &edited("resource_path = \"assets/{id}/versions\"", "resource_path = \"assets/versions\""),
        "otmm.versions.resource_path",
        &["must contain {id}"],
    );
    one_problem(
        &edited("text_operator = \"ARTESIA.OPERATOR.CHAR.CONTAINS\"", "text_operator = \" \""),
        "otmm.search.text_operator",
        &["must not be empty"],
    );
    let off =
        edited("latest_version_field = \"ARTESIA.FIELD.IS LATEST VERSION\"", "latest_version_field = \"\"");
    one_problem(&off, "otmm.search.latest_version_value", &["latest_version_field is \"\""]);
    let off = off.replacen("latest_version_value = \"Y\"\n", "", 1);
    assert_eq!(MappingConfig::from_toml_str(&off, FILE).unwrap().otmm.search.latest_version, None);
    one_problem(
        &edited("method = \"search\"", "method = \"guess\""),
        "otmm.versions.method",
        &["unknown variant `guess`"],
    );
}
