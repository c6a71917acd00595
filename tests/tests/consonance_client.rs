//! The Consonance client against the Consonance simulator, over HTTP: reads, keyset paging,
//! supporting-resource writes, error mapping, retries and create-once under faults, REST v4.

use chrono::{Duration, Utc};
use connector_core::{CountryCode, Isbn13, ProductId, WorkId};
use connector_http::HttpPolicy;
use connector_sim::catalogue::{Catalogue, SeedWork, fixture_now};
use connector_sim::consonance::{ConsonanceSim, ConsonanceSimHandle, ConsonanceSimOptions, SchemaVariant};
use connector_sim::faults::Fault;
use consonance_client::{
    ConsonanceClient, ConsonanceConfig, ConsonanceError, CreateOutcome, CreateSupportingResourceInput,
    DedupeMarker,
};
use std::collections::BTreeSet;
use std::time::Instant;

const KEY: &str = "0f9g8bhnhj6594jfjfior9d215kks3w0";

fn policy() -> HttpPolicy {
    HttpPolicy {
        connect_timeout_ms: 2_000,
        request_timeout_ms: 5_000,
        max_attempts: 3,
        base_backoff_ms: 10,
        max_backoff_ms: 100,
        max_retry_after_ms: 3_000,
        max_concurrency: 8,
        requests_per_second: 0.0,
        burst: 10,
    }
}

struct Env {
    catalogue: Catalogue,
    sim: ConsonanceSimHandle,
    client: ConsonanceClient,
}

async fn env(titles: usize, page_size: usize) -> Env {
    env_with(titles, page_size, SchemaVariant::default()).await
}

/// A tenant with this schema variant; the client has read the schema already (one
/// introspection call), so the tests' call budgets count only their own calls.
async fn env_with(titles: usize, page_size: usize, variant: SchemaVariant) -> Env {
    let catalogue = Catalogue::generate(titles, 7, fixture_now());
    let sim = ConsonanceSim::start(
        &catalogue,
        ConsonanceSimOptions { port: 0, api_key: KEY.into(), page_size, seed: 3, variant },
    )
    .await;
    let client = client_for(&sim, KEY);
    assert!(client.tenant().await.schema.is_some(), "the simulator answers introspection");
    sim.faults().clear_log();
    Env { catalogue, sim, client }
}

fn client_for(sim: &ConsonanceSimHandle, key: &str) -> ConsonanceClient {
    ConsonanceClient::new(ConsonanceConfig {
        base_url: sim.base_url().into(),
        api_key: key.into(),
        policy: policy(),
    })
    .expect("client")
}

fn seed_work(c: &Catalogue, pred: impl Fn(&SeedWork) -> bool) -> &SeedWork {
    c.works.iter().find(|w| pred(w)).expect("a seed work matching the test's needs")
}

fn jpg_input(work: &SeedWork, name: &str) -> CreateSupportingResourceInput {
    let mut input = CreateSupportingResourceInput::new(WorkId(work.work_id));
    input.image_remote_url = Some(format!("https://staging.example/covers/{name}.jpg"));
    input.resource_variant = Some("front_cover".into());
    input.status = Some("approved".into());
    input.onix_content_audience_code = Some("_00".into());
    input
}

fn graphql_posts(sim: &ConsonanceSimHandle) -> usize {
    sim.faults().count(Some("POST"), "/graphql")
}

#[tokio::test]
async fn work_by_id_has_products_rights_contract_and_runs() {
    let e = env(10, 100).await;
    // Work index 3 sells in GB and IE only; index 5 is worldwide except US and CA.
    for seed in [&e.catalogue.works[3], &e.catalogue.works[5], &e.catalogue.works[0]] {
        let work = e.client.work(WorkId(seed.work_id)).await.unwrap();
        assert_eq!(work.title.as_deref(), Some(seed.title.as_str()));
        assert_eq!(work.imprint.as_ref().and_then(|i| i.name.as_deref()), Some(seed.imprint.as_str()));
        assert_eq!(work.project_stage.as_deref(), Some(seed.project_stage.as_str()));
        assert_eq!(work.contributor_pretty_list.as_deref(), Some(seed.contributors[0].name.as_str()));
        assert_eq!(work.products.len(), seed.products.len());
        for (p, sp) in work.products.iter().zip(&seed.products) {
            assert_eq!(p.id, ProductId(sp.product_id));
            assert_eq!(p.isbn13().unwrap().as_str(), sp.isbn13);
            assert_eq!(p.onix21_product_form_code.as_deref(), Some(sp.product_form.as_str()));
            assert_eq!(p.planned_publication_date, Some(sp.planned_publication_date));
            let expected_type = match sp.product_form.as_str() {
                "DG" => "ElectronicBookProduct",
                "AJ" => "ElectronicAudioProduct",
                _ => "PhysicalBookProduct",
            };
            assert_eq!(p.typename.as_deref(), Some(expected_type));
            let rights = p.sales_rights().unwrap();
            assert_eq!(rights.for_sale_worldwide, sp.for_sale_worldwide);
            let gb = CountryCode::parse("GB").unwrap();
            let us = CountryCode::parse("US").unwrap();
            assert!(rights.is_for_sale_in(gb));
            assert_eq!(
                rights.is_for_sale_in(us),
                sp.for_sale_worldwide && sp.not_for_sale_countries.is_empty()
            );
        }
    }
    let seed = &e.catalogue.works[3];
    let products = e.client.products_of_work(WorkId(seed.work_id)).await.unwrap();
    assert_eq!(products.len(), seed.products.len());

    let sc = seed.contract.as_ref().unwrap();
    let contract = e.client.contract(sc.contract_id).await.unwrap();
    assert_eq!(contract.ms_delivery_date, sc.ms_delivery_date);
    assert_eq!(contract.licensed_rights.len(), sc.licensed_rights.len());
    assert_eq!(contract.delivery_dates[0].deliverable_type.as_deref(), Some("Manuscript"));
    // The strict tenant has no Work.contract (only Contract.work): said, not guessed.
    assert!(matches!(
        e.client.contract_of_work(WorkId(seed.work_id)).await,
        Err(ConsonanceError::Unsupported { operation: "contract_of_work", .. })
    ));
    let runs = e.client.production_runs_of_work(WorkId(seed.work_id)).await.unwrap();
    assert!(runs.iter().all(|r| r.delivery_date.is_some()));

    let missing = e.client.work(WorkId(99_999)).await.unwrap_err();
    assert!(
        matches!(&missing, ConsonanceError::NotFound { operation: "work", what } if what.contains("99999"))
    );
    assert!(matches!(e.client.contract(1).await, Err(ConsonanceError::NotFound { .. })));
}

/// Several works' resources in one query (aliased lookups), in the order asked, each the same
/// as that work's own listing; an unknown work answers `None`, not an error for the rest.
#[tokio::test]
async fn resources_of_works_answers_each_work_in_one_query() {
    let e = env(5, 100).await;
    let mut ids: Vec<WorkId> = e.catalogue.works.iter().rev().map(|w| WorkId(w.work_id)).collect();
    ids.insert(2, WorkId(999_999));
    let answers = e.client.resources_of_works(&ids).await.unwrap();
    assert_eq!(graphql_posts(&e.sim), 1, "one query");
    assert_eq!(answers.len(), ids.len());
    for (id, answer) in ids.iter().zip(&answers) {
        if id.0 == 999_999 {
            assert!(answer.is_none(), "{answer:?}");
            continue;
        }
        let answer = answer.as_ref().expect("a known work");
        assert_eq!(answer.id, *id);
        let alone = e.client.supporting_resources_of_work(*id).await.unwrap();
        assert_eq!(answer.supporting_resources, alone, "work {id}");
        let products = e.client.products_of_work(*id).await.unwrap();
        let links: Vec<_> = products.iter().flat_map(|p| p.web_links.clone()).collect();
        assert_eq!(answer.products.iter().flat_map(|p| p.web_links.clone()).collect::<Vec<_>>(), links);
    }
    assert!(e.client.resources_of_works(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn product_by_isbn_and_unknown_isbn() {
    let e = env(6, 100).await;
    let seed = &e.catalogue.works[2];
    let sp = &seed.products[1];
    let p = e.client.product_by_isbn(&Isbn13::parse(&sp.isbn13).unwrap()).await.unwrap();
    assert_eq!(p.id, ProductId(sp.product_id));
    assert_eq!(p.work.as_ref().map(|w| w.id), Some(WorkId(seed.work_id)));
    assert_eq!(p.in_house_format.as_deref(), Some(sp.in_house_format.as_str()));
    let unknown = Isbn13::parse("9780306406157").unwrap();
    let err = e.client.product_by_isbn(&unknown).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::NotFound { what, .. } if what.contains("9780306406157")),
        "{err}"
    );
}

#[tokio::test]
async fn changed_since_keyset_paging_visits_each_changed_work_once() {
    let e = env(40, 4).await;
    let cutoff = (fixture_now() - Duration::days(30)).date_naive();
    let midnight = cutoff.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let expected: BTreeSet<i64> =
        e.catalogue.works.iter().filter(|w| w.updated_at >= midnight).map(|w| w.work_id).collect();
    assert!(expected.len() > 8, "the seed should give several pages, got {}", expected.len());
    assert!(expected.len() < e.catalogue.works.len(), "and leave some works out");

    e.sim.faults().clear_log();
    let works = e.client.all_works_changed_since(cutoff).await.unwrap();
    let ids: Vec<i64> = works.iter().map(|w| w.id.0).collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a work was visited twice: {ids:?}");
    assert_eq!(unique, expected);
    // Full pages, then the last partial (or empty) page that ends the walk.
    assert_eq!(graphql_posts(&e.sim), expected.len() / 4 + 1);

    // Page at a time: the first page is server-sized, the next starts after its last id.
    let first = e.client.works_changed_since(cutoff, None).await.unwrap();
    assert_eq!(first.len(), 4);
    let second = e.client.works_changed_since(cutoff, Some(first[3].id.0)).await.unwrap();
    assert!(second[0].id.0 > first[3].id.0);

    // Products follow their work's change date.
    let products = e.client.all_products_changed_since(cutoff).await.unwrap();
    let expected_products: BTreeSet<i64> = e
        .catalogue
        .works
        .iter()
        .filter(|w| expected.contains(&w.work_id))
        .flat_map(|w| w.products.iter().map(|p| p.product_id))
        .collect();
    let got: BTreeSet<i64> = products.iter().map(|p| p.id.0).collect();
    assert_eq!(got.len(), products.len());
    assert_eq!(got, expected_products);

    // A change made now (stage, date, rights) shows up in a feed from today, and only that.
    let today = Utc::now().date_naive();
    assert!(e.client.all_works_changed_since(today).await.unwrap().is_empty());
    let (a, b) = (&e.catalogue.works[1], &e.catalogue.works[17]);
    e.sim.set_project_stage(a.work_id, "Production").unwrap();
    e.sim.set_sales_rights(b.products[0].product_id, false, &["GB"], &[]).unwrap();
    let changed = e.client.all_works_changed_since(today).await.unwrap();
    assert_eq!(changed.iter().map(|w| w.id.0).collect::<Vec<_>>(), vec![a.work_id, b.work_id]);
    assert_eq!(changed[0].project_stage.as_deref(), Some("Production"));
    let rights = changed[1].products[0].sales_rights().unwrap();
    assert!(!rights.for_sale_worldwide && rights.is_for_sale_in(CountryCode::parse("GB").unwrap()));
}

#[tokio::test]
async fn create_supporting_resource_links_products_and_unlink_previous_replaces() {
    let e = env(6, 100).await;
    let seed = seed_work(&e.catalogue, |w| w.products.len() >= 3);
    let all: BTreeSet<i64> = seed.products.iter().map(|p| p.product_id).collect();

    let mut first = jpg_input(seed, "cover-v1");
    first.link_to_all_products = Some(true);
    first.caption = Some("otmm:aaa:v1".into());
    let a = e.client.create_supporting_resource(&first).await.unwrap();
    assert_eq!(a.supporting_resource.product_ids.iter().copied().collect::<BTreeSet<_>>(), all);
    assert_eq!(a.supporting_resource.filename.as_deref(), Some("cover-v1.jpg"));
    assert_eq!(a.supporting_resource.resource_variant.as_deref(), Some("front_cover"));
    assert!(a.presigned_url.is_none());

    let hardback = ProductId(seed.products[0].product_id);
    let mut second = jpg_input(seed, "cover-v2");
    second.product_ids = Some(vec![hardback]);
    second.unlink_previous = Some(true);
    let b = e.client.create_supporting_resource(&second).await.unwrap();
    assert_eq!(b.supporting_resource.product_ids, vec![hardback.0]);

    let listed = e.client.supporting_resources_of_work(WorkId(seed.work_id)).await.unwrap();
    let a_now = listed.iter().find(|r| r.id == a.supporting_resource.id).unwrap();
    assert!(!a_now.product_ids.contains(&hardback.0), "unlinkPrevious must unlink the hardback from v1");
    assert_eq!(a_now.product_ids.len(), all.len() - 1);
    // The product's own view agrees.
    let work = e.client.work(WorkId(seed.work_id)).await.unwrap();
    let hb = work.products.iter().find(|p| p.id == hardback).unwrap();
    assert_eq!(
        hb.supporting_resources.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![b.supporting_resource.id]
    );

    // An author image is another variant: unlinkPrevious leaves the covers alone.
    let mut author = jpg_input(seed, "author");
    author.resource_variant = Some("author_image".into());
    author.link_to_all_products = Some(true);
    author.unlink_previous = Some(true);
    e.client.create_supporting_resource(&author).await.unwrap();
    assert_eq!(
        e.sim
            .supporting_resources(seed.work_id)
            .iter()
            .filter(|r| r.product_ids.contains(&hardback.0))
            .count(),
        2
    );

    // resourceFileName: a presigned URL to PUT the file to; processing until it arrives.
    let mut upload = CreateSupportingResourceInput::new(WorkId(seed.work_id));
    upload.resource_file_name = Some("back.jpg".into());
    upload.resource_variant = Some("back_cover".into());
    let u = e.client.create_supporting_resource(&upload).await.unwrap();
    assert!(u.supporting_resource.is_processing);
    let url = u.presigned_url.expect("presigned URL");
    e.client.upload_to_presigned_url(&url, "image/jpeg", vec![0xFF, 0xD8, 0xFF, 0xD9]).await.unwrap();
    let after = e.sim.supporting_resources(seed.work_id);
    let up = after.iter().find(|r| r.id == u.supporting_resource.id).unwrap();
    assert!(!up.is_processing);
    assert_eq!(up.file_size, Some(4));

    // Delete: gone, and deleting again reports that it was already gone.
    assert!(e.client.delete_supporting_resource(a.supporting_resource.id).await.unwrap());
    assert!(!e.client.delete_supporting_resource(a.supporting_resource.id).await.unwrap());
    assert!(e.sim.supporting_resources(seed.work_id).iter().all(|r| r.id != a.supporting_resource.id));

    // Web links.
    let link = e
        .client
        .create_web_link(hardback, "https://harbour.example/books/1", "02", Some("title page"))
        .await
        .unwrap();
    assert_eq!(link.role.as_deref(), Some("02"));
    assert_eq!(e.sim.web_links(hardback.0).len(), 1);
    let work = e.client.work(WorkId(seed.work_id)).await.unwrap();
    let hb = work.products.iter().find(|p| p.id == hardback).unwrap();
    assert_eq!(hb.web_links[0].link, "https://harbour.example/books/1");
    assert!(e.client.delete_web_link(link.id).await.unwrap());
    assert!(e.sim.web_links(hardback.0).is_empty());
}

#[tokio::test]
async fn graphql_errors_map_to_typed_errors() {
    let e = env(6, 100).await;
    let (w0, w1) = (&e.catalogue.works[0], &e.catalogue.works[1]);

    let mut png = jpg_input(w0, "x");
    png.image_remote_url = Some("https://staging.example/covers/x.png".into());
    let err = e.client.create_supporting_resource(&png).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::Validation { operation: "create_supporting_resource", message, .. } if message.contains("JPG")),
        "{err}"
    );

    let mut foreign = jpg_input(w0, "y");
    foreign.product_ids = Some(vec![ProductId(w1.products[0].product_id)]);
    let err = e.client.create_supporting_resource(&foreign).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::Validation { message, .. } if message.contains("does not belong")),
        "{err}"
    );

    let mut both = jpg_input(w0, "z");
    both.link_to_all_products = Some(true);
    both.product_ids = Some(vec![ProductId(w0.products[0].product_id)]);
    assert!(matches!(
        e.client.create_supporting_resource(&both).await,
        Err(ConsonanceError::Validation { .. })
    ));

    // Not a value of the enum: rejected by GraphQL validation itself, naming the value.
    let mut bad_variant = jpg_input(w0, "v");
    bad_variant.resource_variant = Some("FRONT_COVER_TYPO".into());
    let err = e.client.create_supporting_resource(&bad_variant).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::Validation { message, .. } if message.contains("FRONT_COVER_TYPO")),
        "{err}"
    );

    let mut no_work = jpg_input(w0, "w");
    no_work.work_id = WorkId(424_242);
    let err = e.client.create_supporting_resource(&no_work).await.unwrap_err();
    assert!(matches!(&err, ConsonanceError::NotFound { what, .. } if what.contains("424242")), "{err}");

    assert!(e.sim.supporting_resources(w0.work_id).is_empty(), "nothing was created by refused calls");
}

#[tokio::test]
async fn wrong_key_is_unauthorized_on_graphql_and_rest() {
    let e = env(3, 100).await;
    let wrong = client_for(&e.sim, "not-the-key");
    let err = wrong.work(WorkId(e.catalogue.works[0].work_id)).await.unwrap_err();
    assert!(matches!(&err, ConsonanceError::Unauthorized { operation: "work", .. }), "{err}");
    assert!(!err.is_transient());
    let err = wrong.rest_products(1).await.unwrap_err();
    assert!(matches!(&err, ConsonanceError::Unauthorized { operation: "rest_products", .. }), "{err}");
}

#[tokio::test]
async fn reads_wait_out_429_with_retry_after_and_retry() {
    let e = env(3, 100).await;
    let isbn = Isbn13::parse(&e.catalogue.works[0].products[0].isbn13).unwrap();
    e.sim.faults().set(
        Some("POST"),
        "/graphql",
        Fault { fail_next: 1, status: Some(429), retry_after_secs: Some(1), ..Default::default() },
    );
    let started = Instant::now();
    let p = e.client.product_by_isbn(&isbn).await.unwrap();
    assert_eq!(p.isbn13().as_ref(), Some(&isbn));
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "Retry-After was not honoured");
    let log = e.sim.faults().requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].status, log[0].injected.as_deref()), (429, Some("fail_next")));
    assert_eq!(log[1].status, 200);
    assert_eq!(e.client.metrics().operation("product_by_isbn").retries, 1);

    // Retries are bounded: a 503 that never clears surfaces as Transient after max_attempts.
    e.sim.faults().clear_log();
    e.sim.faults().set(
        Some("POST"),
        "/graphql",
        Fault { fail_next: 10, status: Some(503), ..Default::default() },
    );
    let err = e.client.product_by_isbn(&isbn).await.unwrap_err();
    assert!(matches!(err, ConsonanceError::Transient { status: 503, .. }) && err.is_transient(), "{err}");
    assert_eq!(graphql_posts(&e.sim), 3);
}

#[tokio::test]
async fn creates_are_not_blindly_retried_and_create_once_never_duplicates() {
    let e = env(6, 100).await;
    let seed = seed_work(&e.catalogue, |w| w.products.len() >= 2);
    let count = |sim: &ConsonanceSimHandle| sim.supporting_resources(seed.work_id).len();

    // 1. A plain create that gets a 503 is tried once, and nothing was created.
    e.sim.fail_next_mutations(1, 503, false);
    e.sim.faults().clear_log();
    let input = jpg_input(seed, "9781800000001-front_cover-5e01-v1");
    let err = e.client.create_supporting_resource(&input).await.unwrap_err();
    assert!(matches!(err, ConsonanceError::Transient { status: 503, .. }), "{err}");
    assert_eq!(graphql_posts(&e.sim), 1, "a create must not be retried by the HTTP layer");
    assert_eq!(count(&e.sim), 0);

    // 2. create-once, first create attempt refused with 503 before it was applied: check, create
    //    (503), check (nothing), create. Exactly one resource.
    let marker = DedupeMarker::FilenameContains("5e01-v1".into());
    e.sim.fail_next_mutations(1, 503, false);
    e.sim.faults().clear_log();
    let once = e.client.create_supporting_resource_once(&input, &marker).await.unwrap();
    assert_eq!(once.outcome, CreateOutcome::Created);
    assert_eq!(once.create_calls, 2);
    assert_eq!(graphql_posts(&e.sim), 4);
    assert_eq!(count(&e.sim), 1);

    // 3. Called again (a redelivered message): found, not created.
    let again = e.client.create_supporting_resource_once(&input, &marker).await.unwrap();
    assert_eq!(
        (again.outcome, again.create_calls, again.resource.id),
        (CreateOutcome::AlreadyExisted, 0, once.resource.id)
    );
    assert_eq!(count(&e.sim), 1);

    // 4. The create lands but its answer is lost (503 after commit): the check that follows
    //    finds it, and no second create is sent.
    let v2 = jpg_input(seed, "9781800000001-front_cover-5e01-v2");
    let marker2 = DedupeMarker::FilenameContains("5e01-v2".into());
    e.sim.fail_next_mutations(1, 503, true);
    e.sim.faults().clear_log();
    let recovered = e.client.create_supporting_resource_once(&v2, &marker2).await.unwrap();
    assert_eq!(recovered.outcome, CreateOutcome::RecoveredAfterUnknownOutcome);
    assert_eq!(recovered.create_calls, 1);
    assert_eq!(graphql_posts(&e.sim), 3);
    assert_eq!(
        e.sim
            .supporting_resources(seed.work_id)
            .iter()
            .filter(|r| r.filename.as_deref().is_some_and(|f| f.contains("5e01-v2")))
            .count(),
        1
    );
    assert_eq!(count(&e.sim), 2);

    // 5. Same with a proxy's 502 after the write landed, and a caption marker.
    let mut v3 = jpg_input(seed, "cover-v3");
    v3.caption = Some("Cover. otmm:5e01:v3".into());
    let marker3 = DedupeMarker::CaptionContains("otmm:5e01:v3".into());
    e.sim.fail_next_mutations(1, 502, true);
    let r3 = e.client.create_supporting_resource_once(&v3, &marker3).await.unwrap();
    assert_eq!(r3.outcome, CreateOutcome::RecoveredAfterUnknownOutcome);
    assert_eq!(count(&e.sim), 3);

    // 6. A validation error is not retried.
    let mut bad = jpg_input(seed, "x");
    bad.image_remote_url = Some("https://staging.example/x.tiff".into());
    e.sim.faults().clear_log();
    let err = e
        .client
        .create_supporting_resource_once(&bad, &DedupeMarker::FilenameContains("x.tiff".into()))
        .await;
    assert!(matches!(err, Err(ConsonanceError::Validation { .. })));
    assert_eq!(graphql_posts(&e.sim), 2);
}

/// The title read's listing (`Work.supportingResources`) stands in for a create's first check
/// only where it shows no resource with the marker; one that shows it is listed again, so a
/// resource deleted since that read is never taken for the earlier attempt's.
#[tokio::test]
async fn a_create_checks_the_title_reads_listing_and_lists_again_where_it_shows_the_marker() {
    let e = env(6, 100).await;
    let seed = seed_work(&e.catalogue, |w| w.products.len() >= 2);
    let work = WorkId(seed.work_id);
    let input = jpg_input(seed, "9781800000001-front_cover-5e07-v1");
    let marker = DedupeMarker::FilenameContains("5e07-v1".into());

    // No resource with the marker in the listing: the create alone.
    let before = e.client.supporting_resources_of_work(work).await.unwrap();
    e.sim.faults().clear_log();
    let first = e.client.create_supporting_resource_once_after(&input, &marker, Some(before)).await.unwrap();
    assert_eq!(first.outcome, CreateOutcome::Created);
    assert_eq!(graphql_posts(&e.sim), 1, "the listing given is the check");

    // A listing that shows it, though it was deleted since: listed again, created anew.
    let stale = e.client.supporting_resources_of_work(work).await.unwrap();
    assert!(stale.iter().any(|r| r.id == first.resource.id));
    e.client.delete_supporting_resource(first.resource.id).await.unwrap();
    e.sim.faults().clear_log();
    let again = e.client.create_supporting_resource_once_after(&input, &marker, Some(stale)).await.unwrap();
    assert_eq!(again.outcome, CreateOutcome::Created, "the deleted resource was taken for ours");
    assert_ne!(again.resource.id, first.resource.id);
    assert_eq!(graphql_posts(&e.sim), 2, "one listing, one create");
    let live: Vec<i64> = e.sim.supporting_resources(seed.work_id).iter().map(|r| r.id).collect();
    assert_eq!(live, vec![again.resource.id]);
}

/// A body cut short or replaced by a proxy's HTML page is not Consonance speaking: transient
/// (connector_http::fault), asked again inside the call, and still transient when it persists.
#[tokio::test]
async fn truncated_or_invalid_json_is_unreadable_transient_and_asked_again() {
    let e = env(3, 100).await;
    let id = WorkId(e.catalogue.works[0].work_id);
    let attempts = policy().max_attempts;
    e.sim.faults().set(Some("POST"), "/graphql", Fault { truncate_body: true, ..Default::default() });
    e.sim.faults().clear_log();
    let err = e.client.work(id).await.unwrap_err();
    assert!(matches!(&err, ConsonanceError::Unreadable { operation: "work", .. }), "{err}");
    assert!(err.to_string().contains("Consonance work"), "{err}");
    assert!(err.write_outcome_unknown() && err.is_transient());
    assert_eq!(graphql_posts(&e.sim), attempts as usize, "asked again up to max_attempts");

    e.sim.faults().set(Some("POST"), "/graphql", Fault { invalid_json: true, ..Default::default() });
    let err = e.client.all_works_changed_since(fixture_now().date_naive()).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::Unreadable { operation: "works_changed_since", message, .. } if message.contains("<html>")),
        "{err}"
    );
    assert!(err.is_transient());

    e.sim.faults().set(Some("GET"), "/api/v4", Fault { truncate_body: true, ..Default::default() });
    assert!(matches!(
        e.client.rest_products(1).await,
        Err(ConsonanceError::Unreadable { operation: "rest_products", .. })
    ));

    e.sim.faults().clear();
    assert!(e.client.work(id).await.is_ok());
}

#[tokio::test]
async fn rest_v4_products_page_and_no_isbn() {
    let e = env(9, 4).await;
    let total = e.catalogue.product_count();
    let first = e.client.rest_products(1).await.unwrap();
    assert_eq!((first.current_page, first.per_page), (1, 4));
    assert_eq!(first.total_pages as usize, total.div_ceil(4));
    assert_eq!(first.products.len(), 4);

    let seed_product = &e.catalogue.works[0].products[0];
    e.sim.set_isbn(seed_product.product_id, None).unwrap();
    let all = e.client.all_rest_products().await.unwrap();
    assert_eq!(all.len(), total);
    let ids: BTreeSet<i64> = all.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), total, "each product once across pages");
    let no_isbn = all.iter().find(|p| p.id == seed_product.product_id).unwrap();
    assert_eq!(no_isbn.isbn, None, "\"No ISBN\" becomes None");
    let other = &e.catalogue.works[0].products[1];
    let with_isbn = all.iter().find(|p| p.id == other.product_id).unwrap();
    assert_eq!(with_isbn.isbn.as_deref(), Some(other.isbn13.as_str()));
    assert_eq!(with_isbn.work_id, Some(e.catalogue.works[0].work_id));
    assert!(with_isbn.all_related_products.iter().any(|r| r.isbn.is_none()));

    // A page past the end is empty, not an error.
    assert!(e.client.rest_products(first.total_pages + 1).await.unwrap().products.is_empty());
}

#[tokio::test]
async fn a_deletion_by_hand_is_visible_to_the_change_feed() {
    let e = env(6, 100).await;
    let seed = &e.catalogue.works[2];
    let mut input = jpg_input(seed, "cover");
    input.link_to_all_products = Some(true);
    let created = e.client.create_supporting_resource(&input).await.unwrap().supporting_resource;
    let today = Utc::now().date_naive();
    e.sim.delete_supporting_resource_by_hand(created.id).unwrap();
    let changed = e.client.all_works_changed_since(today).await.unwrap();
    assert_eq!(changed.iter().map(|w| w.id.0).collect::<Vec<_>>(), vec![seed.work_id]);
    assert!(e.client.supporting_resources_of_work(WorkId(seed.work_id)).await.unwrap().is_empty());
    assert!(e.sim.work(seed.work_id).unwrap().supporting_resources.is_empty());
    e.sim.shutdown().await;
}

/// The client reads the tenant's schema once (for every clone) and selects optional fields
/// only where they exist: no WebLink.note or Work.contract on the strict tenant, both where
/// the tenant has them.
#[tokio::test]
async fn the_client_adapts_to_the_tenants_schema() {
    let e = env(4, 100).await;
    let seed = seed_work(&e.catalogue, |w| w.contract.is_some());
    let t = e.client.tenant().await;
    let caps = &t.documents.caps;
    assert!(caps.introspected && !caps.web_link_note && !caps.work_contract, "{caps:?}");
    assert!(caps.notes.iter().any(|n| n.contains("WebLink.note absent")), "{:?}", caps.notes);
    assert!(!t.documents.work.contains("note") && t.documents.contract_of_work.is_none());
    // A clone shares what was read: no second introspection.
    let clone = e.client.clone();
    clone.tenant().await;
    e.client.tenant().await;
    assert_eq!(graphql_posts(&e.sim), 0);
    // Readiness without contract dates says so.
    let schedule = e.client.work_schedule(WorkId(seed.work_id)).await.unwrap();
    assert!(schedule.contract.is_none());
    assert!(schedule.contract_unavailable.as_deref().unwrap().contains("Work.contract"));
    // A web link with a note on a tenant whose input has none: the note is left out, not refused.
    let product = ProductId(seed.products[0].product_id);
    let link = e.client.create_web_link(product, "https://x.example/a", "28", Some("n")).await.unwrap();
    assert_eq!((link.role.as_deref(), link.note), (Some("28"), None));

    let p = env_with(4, 100, SchemaVariant::permissive()).await;
    let seed = seed_work(&p.catalogue, |w| w.contract.is_some());
    let caps = p.client.tenant().await.documents.caps.clone();
    assert!(caps.web_link_note && caps.work_contract && caps.web_link_note_input, "{caps:?}");
    let sc = seed.contract.as_ref().unwrap();
    assert_eq!(p.client.contract_of_work(WorkId(seed.work_id)).await.unwrap().unwrap().id, sc.contract_id);
    let schedule = p.client.work_schedule(WorkId(seed.work_id)).await.unwrap();
    assert_eq!(schedule.contract.unwrap().ms_delivery_date, sc.ms_delivery_date);
    assert!(schedule.contract_unavailable.is_none());
    let product = ProductId(seed.products[0].product_id);
    let link = p.client.create_web_link(product, "https://x.example/b", "02", Some("a note")).await.unwrap();
    assert_eq!(link.note.as_deref(), Some("a note"));
    let work = p.client.work(WorkId(seed.work_id)).await.unwrap();
    assert_eq!(work.products[0].web_links[0].note.as_deref(), Some("a note"));
}

/// A tenant that refuses introspection gets the baseline documents (the confirmed names), and
/// the reason is kept.
#[tokio::test]
async fn without_introspection_the_baseline_documents_serve() {
    let variant = SchemaVariant { introspection: false, ..Default::default() };
    let catalogue = Catalogue::generate(3, 7, fixture_now());
    let sim = ConsonanceSim::start(
        &catalogue,
        ConsonanceSimOptions { api_key: KEY.into(), variant, ..Default::default() },
    )
    .await;
    let client = client_for(&sim, KEY);
    let t = client.tenant().await;
    assert!(t.schema.is_none() && t.introspection_error.is_some(), "{t:?}");
    let seed = &catalogue.works[0];
    let work = client.work(WorkId(seed.work_id)).await.unwrap();
    assert_eq!(work.products.len(), seed.products.len());
}

/// A mutation refused by its own checks answers `errors { field message }` in its payload: a
/// failed create is an error (never a decode error or a resource), a failed delete is not a
/// deletion, and nothing changed.
#[tokio::test]
async fn mutation_payload_errors_are_read_and_classified() {
    let e = env(4, 100).await;
    let seed = seed_work(&e.catalogue, |w| w.products.len() >= 2);
    let created =
        e.client.create_supporting_resource(&jpg_input(seed, "c1")).await.unwrap().supporting_resource;

    e.sim.refuse_next_mutations(1);
    let err = e.client.create_supporting_resource(&jpg_input(seed, "c2")).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::Validation { message, path: Some(p), .. } if message.contains("could not be saved") && p == "base"),
        "{err}"
    );
    assert!(!err.write_outcome_unknown(), "a refusal is a clear answer: nothing to recover");
    e.sim.refuse_next_mutations(1);
    let err = e.client.delete_supporting_resource(created.id).await.unwrap_err();
    assert!(matches!(err, ConsonanceError::Validation { .. }), "{err}");
    assert_eq!(e.sim.supporting_resources(seed.work_id).len(), 1, "the refused delete deleted nothing");
    // The simulator's own validation answers the same way.
    let mut png = jpg_input(seed, "x");
    png.image_remote_url = Some("https://x.example/x.png".into());
    let err = e.client.create_supporting_resource(&png).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::Validation { path: Some(p), .. } if p == "imageRemoteUrl"),
        "{err}"
    );
    // And a resourceFileName must name a JPG too.
    let mut mp3 = CreateSupportingResourceInput::new(WorkId(seed.work_id));
    mp3.resource_file_name = Some("sample.mp3".into());
    let err = e.client.create_supporting_resource(&mp3).await.unwrap_err();
    assert!(
        matches!(&err, ConsonanceError::Validation { path: Some(p), .. } if p == "resourceFileName"),
        "{err}"
    );
}
