//! `connector check` against the simulators: it passes against the strict ones and writes
//! nothing; against simulators started with deliberate differences it names each one, with the
//! config key to change; and the connector keeps working where a difference is optional.

use connector::Simulators;
use connector_app::check::{self, CheckReport, Status};
use connector_core::LinkStatus;
use connector_core::config::MappingConfig;
use connector_sim::catalogue::{Catalogue, fixture_now};
use connector_sim::consonance::{ConsonanceSimOptions, SchemaVariant};
use connector_sim::otmm::{OtmmSimOptions, SearchIds};
use connector_tests::e2e::{Backend, Harness};
use std::collections::BTreeMap;
use std::sync::Arc;

const EXAMPLE: &str = include_str!("../../config/mapping.example.toml");

fn config(text: &str) -> Arc<MappingConfig> {
    Arc::new(MappingConfig::from_toml_str(text, "mapping.toml").unwrap())
}

async fn run(sims: &Simulators, mapping: Arc<MappingConfig>) -> CheckReport {
    let env: BTreeMap<String, String> = sims.env().into_iter().collect();
    check::run_from_env(&|k: &str| env.get(k).cloned(), mapping).await.unwrap()
}

fn status_of(r: &CheckReport, check: &str) -> Status {
    r.line(check).unwrap_or_else(|| panic!("no line for {check}:\n{}", r.render())).status
}

#[tokio::test]
async fn check_passes_against_the_strict_simulators_and_writes_nothing() {
    let cat = Catalogue::generate(8, 7, fixture_now());
    let sims = Simulators::start(&cat, None, "secret").await;
    let report = run(&sims, config(EXAMPLE)).await;
    assert!(!report.failed(), "{}", report.render());
    for check in [
        "otmm.session",
        "otmm.asset_read",
        "otmm.fields.isbn",
        "otmm.fields.expiration_date",
        "otmm.search.text_operator",
        "otmm.search.date_on_or_after_operator",
        "otmm.search.change_date_field",
        "otmm.search.sort_ascending",
        "otmm.search.latest_version_field",
        "otmm.search.or_conditions",
        "otmm.versions.method",
        "otmm.versions.lineage_in_search",
        "otmm.approval.value",
        "consonance.introspection",
        "consonance.documents.work",
        "consonance.documents.create_supporting_resource",
        "consonance.documents.create_web_link",
        "consonance.documents.resources_of_works",
        "consonance.resources.front_cover.resource_variant",
        "consonance.resources.front_cover.status",
        "consonance.resources.audio_sample.website_role",
        "launch.forms.AJ",
        "consonance.work_read",
        "requests.stages",
    ] {
        assert_eq!(status_of(&report, check), Status::Pass, "{check}:\n{}", report.render());
    }
    // What the strict tenant lacks is named, and not a failure.
    assert_eq!(status_of(&report, "consonance.schema.WebLink.note"), Status::Warn);
    assert_eq!(status_of(&report, "consonance.contract_dates"), Status::Warn);
    // --json: the same lines as data.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["lines"][0]["status"], "PASS");
    // Reads only: no GraphQL mutation, no OTMM call but logins, reads and searches.
    assert_eq!(sims.consonance.mutations_received(), 0);
    let writes: Vec<_> = sims
        .otmm
        .faults()
        .requests()
        .into_iter()
        .filter(|r| {
            !(r.method == "GET"
                || (r.method == "POST"
                    && (r.path.ends_with("/sessions") || r.path.ends_with("/search/text"))))
        })
        .collect();
    assert!(writes.is_empty(), "OTMM writes: {writes:?}");
    assert!(sims.consonance.faults().requests().iter().all(|r| r.method == "POST" && r.path == "/graphql"));
    assert!(cat.works.iter().all(|w| sims.consonance.supporting_resources(w.work_id).is_empty()));
}

/// Every deliberate difference: a missing optional field, other enum values, another operator
/// id, versions only by search.
fn differing() -> (OtmmSimOptions, ConsonanceSimOptions, Arc<MappingConfig>) {
    let otmm = OtmmSimOptions {
        search: SearchIds {
            date_on_or_after: "ARTESIA.OPERATOR.DATE.AFTER_OR_EQUAL".into(),
            versions_resource: false,
            ..SearchIds::default()
        },
        ..Default::default()
    };
    let mut variant = SchemaVariant::default();
    variant.hidden_fields.insert("SupportingResource.imageContentType".into());
    variant.resource_variants = [
        "FRONT_COVER",
        "BACK_COVER",
        "SPINE",
        "FULL_COVER",
        "AUTHOR_IMAGE",
        "INTERIOR",
        "MARKETING_BANNER",
        "MARKETING_SOCIAL",
        "other",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let consonance = ConsonanceSimOptions { variant, ..Default::default() };
    // A deployment that chose the versions resource.
    let mapping = config(&EXAMPLE.replacen("method = \"search\"", "method = \"resource\"", 1));
    (otmm, consonance, mapping)
}

#[tokio::test]
async fn check_names_each_deliberate_difference() {
    let cat = Catalogue::generate(8, 7, fixture_now());
    let (otmm, consonance, mapping) = differing();
    let sims = Simulators::start_with(&cat, None, "secret", otmm, consonance).await;
    let report = run(&sims, mapping).await;
    assert!(report.failed(), "{}", report.render());
    let line =
        |c: &str| report.line(c).unwrap_or_else(|| panic!("no line for {c}:\n{}", report.render())).clone();

    // The missing optional field: named, the connector adapts.
    let l = line("consonance.schema.SupportingResource.imageContentType");
    assert_eq!(l.status, Status::Warn, "{l}");
    // Other enum values: each configured value that is not one, with its key and the tenant's values.
    let l = line("consonance.resources.front_cover.resource_variant");
    assert_eq!(
        (l.status, l.fix.as_deref()),
        (Status::Fail, Some("consonance.resources.front_cover.resource_variant")),
        "{l}"
    );
    assert!(l.tried.contains("FRONT_COVER"), "{l}");
    assert_eq!(line("consonance.resources.campaign_banner.resource_variant").status, Status::Fail);
    // Another operator id.
    let l = line("otmm.search.date_on_or_after_operator");
    assert_eq!(
        (l.status, l.fix.as_deref()),
        (Status::Fail, Some("otmm.search.date_on_or_after_operator")),
        "{l}"
    );
    assert!(l.tried.contains("IS_ON_OR_AFTER"), "{l}");
    // Versions only by search, with the config on the resource.
    let l = line("otmm.versions.method");
    assert_eq!(l.status, Status::Fail, "{l}");
    assert_eq!(l.fix.as_deref(), Some("otmm.versions.method = \"search\""), "{l}");
    // What did not change still passes.
    assert_eq!(status_of(&report, "otmm.search.text_operator"), Status::Pass);
    assert_eq!(status_of(&report, "consonance.documents.work"), Status::Pass);
    // The text report says it, one line each, and counts the failures.
    let text = report.render();
    assert!(
        text.contains("FAIL otmm.versions.method:") && text.contains("-> change otmm.versions.method"),
        "{text}"
    );
    assert!(text.lines().last().unwrap().contains(&format!("{} failed", report.with(Status::Fail).len())));
}

/// An installation that refuses conditions ORed in a group: the check fails naming the key,
/// and passes with it off (one search per value), which the readiness searches then use.
#[tokio::test]
async fn or_conditions_are_checked_and_can_be_turned_off() {
    let cat = Catalogue::generate(6, 7, fixture_now());
    let otmm = OtmmSimOptions {
        search: SearchIds { or_conditions: false, ..SearchIds::default() },
        ..Default::default()
    };
    let sims = Simulators::start_with(&cat, None, "secret", otmm, ConsonanceSimOptions::default()).await;
    let report = run(&sims, config(EXAMPLE)).await;
    let l = report.line("otmm.search.or_conditions").unwrap();
    assert_eq!(
        (l.status, l.fix.as_deref()),
        (Status::Fail, Some("set otmm.search.or_conditions = false")),
        "{l}"
    );
    assert!(l.tried.contains("does not accept relational_operator"), "{l}");
    let off = EXAMPLE.replace("or_conditions = true", "or_conditions = false");
    assert_ne!(off, EXAMPLE, "the example spells the key");
    let report = run(&sims, config(&off)).await;
    assert_eq!(status_of(&report, "otmm.search.or_conditions"), Status::Skip);
    assert!(!report.failed(), "{}", report.render());
}

/// A required field the client cannot do without is a failed document, named.
#[tokio::test]
async fn a_document_that_does_not_validate_fails_the_check() {
    let cat = Catalogue::generate(4, 7, fixture_now());
    let mut variant = SchemaVariant::default();
    variant.hidden_fields.insert("Product.webLinks".into());
    let sims = Simulators::start_with(
        &cat,
        None,
        "secret",
        OtmmSimOptions::default(),
        ConsonanceSimOptions { variant, ..Default::default() },
    )
    .await;
    let report = run(&sims, config(EXAMPLE)).await;
    let l = report.line("consonance.documents.product_by_isbn").unwrap();
    assert_eq!(l.status, Status::Fail, "{l}");
    assert!(l.tried.contains("webLinks"), "{l}");
}

/// The optional differences (a missing optional field, versions only by search with the
/// config on the resource) do not stop the connector: approvals are linked, versions found.
async fn the_connector_keeps_working_where_the_difference_is_optional(backend: Backend) {
    let (otmm, mut consonance, mapping) = differing();
    consonance.variant.resource_variants = SchemaVariant::default().resource_variants;
    let otmm =
        OtmmSimOptions { search: SearchIds { versions_resource: false, ..SearchIds::default() }, ..otmm };
    let cat = Catalogue::generate(6, 11, fixture_now());
    let h = Harness::start_custom(backend, "check_optional", cat, otmm, consonance, Some(mapping)).await;
    let seed = h
        .catalogue
        .assets
        .iter()
        .find(|a| {
            a.asset_type == "Front Cover"
                && a.versions.len() > 1
                && !a.deleted
                && a.territory == "WORLD"
                && a.expiration_date.is_none()
        })
        .unwrap();
    let last = seed.versions.last().unwrap().version;
    h.sims.otmm.approve(&seed.original_asset_id, last, "approver").unwrap();
    let report = h.deliver_and_drain(1).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    let isbn = connector_core::Isbn13::parse(&seed.isbn).unwrap();
    let links = h.app.stores.mapping.links_for_title(&isbn).await.unwrap();
    assert!(links.iter().any(|l| l.status == LinkStatus::Linked && l.approval.version == last), "{links:?}");
    // Versions through the fallback search, although the config names the resource.
    let first =
        h.app.dam.asset(&connector_core::AssetId::parse(&seed.original_asset_id).unwrap()).await.unwrap();
    let versions = h.app.dam.versions(&first).await.unwrap();
    assert_eq!(versions.len(), seed.versions.len());
}

connector_tests::on_both_backends!(the_connector_keeps_working_where_the_difference_is_optional);
