//! Mission flows 3 and 8 end to end: stage changes in the Consonance simulator raise exactly the
//! right asset requests as folders in the OTMM simulator (never twice), an arriving approval
//! closes its request, a slipped publication date re-dates it, and launch readiness moves
//! ready → at risk → blocked for the right reasons, with the audit records. Every case runs on
//! the embedded adapters and on moto.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use connector_app::readiness;
use connector_core::AuditAction;
use connector_core::config::ProductForm;
use connector_core::event::{ConsonanceEvent, ConsonanceEventType, EventId, FlowMessage, InboundEvent};
use connector_core::readiness::{READINESS_DOC_KIND, REQUEST_DOC_KIND, ReadinessStatus, RoleState};
use connector_core::requests::{AssetRequest, RequestStatus};
use connector_core::{AssetRole, AuditRecord, Isbn13, WorkId};
use connector_sim::catalogue::{SeedAsset, SeedProduct, SeedWork, fixture_now, otmm_fields};
use connector_sim::otmm::{REQUESTS_FOLDER_ID, SimFolder};
use connector_store::PageRequest;
use connector_tests::e2e::{Backend, Harness};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const APPROVER: &str = "e2e.approver";

/// A clock the test moves (seconds since the epoch).
fn movable_clock(h: &mut Harness, start: DateTime<Utc>) -> Arc<AtomicI64> {
    let secs = Arc::new(AtomicI64::new(start.timestamp()));
    let read = secs.clone();
    h.app.clock = Arc::new(move || {
        DateTime::from_timestamp(read.load(Ordering::SeqCst), 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    });
    secs
}

/// A work at `stage` whose first product has `form`, whose assets carry its ISBN exactly and
/// whose asset of `role_type` exists, with WORLD rights and no expiry.
fn pick<'a>(h: &'a Harness, stage: &str, forms: &[&str], role_type: &str) -> (&'a SeedWork, &'a SeedAsset) {
    h.catalogue
        .works
        .iter()
        .filter(|w| w.project_stage == stage)
        .filter(|w| forms.iter().all(|f| w.products.iter().any(|p| p.product_form == *f)))
        .find_map(|w| {
            let lead = &w.products[0].isbn13;
            let mine: Vec<&SeedAsset> =
                h.catalogue.assets.iter().filter(|a| a.name.starts_with(lead.as_str())).collect();
            if mine.iter().any(|a| &a.isbn != lead) {
                return None;
            }
            let a = mine.into_iter().find(|a| a.asset_type == role_type)?;
            (a.territory == "WORLD" && a.expiration_date.is_none()).then_some((w, a))
        })
        .unwrap_or_else(|| panic!("no {stage} work with {forms:?} and a clean {role_type} in the catalogue"))
}

/// Sends a Consonance change notification for the work through the queue and processes it.
async fn work_changed(h: &Harness, work_id: i64, n: &mut u32) {
    *n += 1;
    let event = InboundEvent::Consonance(ConsonanceEvent {
        event_id: EventId::parse(&format!("e2e-work-{work_id}-{n}")).unwrap(),
        event_type: ConsonanceEventType::WorkChanged,
        work_id: Some(WorkId(work_id)),
        product_id: None,
        isbn: None,
        changed_at: h.app.now(),
        fields: vec!["projectStage".into()],
    });
    let message = FlowMessage::new(event, h.app.now(), format!("e2e-consonance-{n}"));
    h.app.stores.queue.send(&message.to_json()).await.unwrap();
    let report = h.drain().await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
}

fn request_folders(h: &Harness) -> BTreeMap<String, SimFolder> {
    h.sims
        .otmm
        .folders()
        .into_iter()
        .filter(|f| f.parent_id.as_deref() == Some(REQUESTS_FOLDER_ID))
        .map(|f| (f.fields.get(otmm_fields::REQUEST_ID).cloned().unwrap_or_default(), f))
        .collect()
}

/// Every request folder carries its title's launch readiness as stored (raised with it, or
/// told it when it changed).
async fn assert_folders_tell_readiness(h: &Harness) {
    for (key, f) in request_folders(h) {
        let isbn = Isbn13::parse(f.fields.get(otmm_fields::ISBN).expect("the folder's ISBN")).unwrap();
        let stored = readiness::stored(&h.app, &isbn).await.unwrap().expect("a readiness report");
        assert_eq!(
            f.fields.get(otmm_fields::LAUNCH_READINESS).map(String::as_str),
            Some(stored.status.as_str()),
            "{key}: {f:?}"
        );
    }
}

async fn request_doc(h: &Harness, key: &str) -> Option<AssetRequest> {
    let doc = h.app.stores.documents.get_doc(REQUEST_DOC_KIND, key).await.unwrap()?;
    Some(serde_json::from_value(doc.body).unwrap())
}

async fn trail(h: &Harness, isbn: &Isbn13) -> Vec<AuditRecord> {
    h.app.stores.audit.by_title(isbn, PageRequest { limit: 200, cursor: None }).await.unwrap().items
}

fn due(h: &Harness, form: &str, publication: NaiveDate) -> NaiveDate {
    let days =
        h.app.config.launch_for(&ProductForm::parse(form).unwrap()).unwrap().due_days_before_publication;
    publication - Duration::days(i64::from(days))
}

/// The request keys the config asks for at `stage` for the work's products.
fn expected_keys(h: &Harness, work: &SeedWork, stage: &str) -> BTreeSet<String> {
    let rules = h.app.config.request_rules.as_ref().unwrap();
    let mut out = BTreeSet::new();
    for p in &work.products {
        let Some(launch) = h.app.config.launch_for(&ProductForm::parse(&p.product_form).unwrap()) else {
            continue;
        };
        for role in &launch.roles {
            if rules.requests_role_at(*role, stage) {
                out.insert(format!("{}#{role}", p.isbn13));
            }
        }
    }
    out
}

/// The request tests' start: 30 titles on the fixture's clock, an Editorial work with a
/// hardback, the hardback and its author photo.
async fn editorial_hardback(backend: Backend, name: &str) -> (Harness, SeedWork, SeedAsset, SeedProduct) {
    let mut h = Harness::start(backend, name, 30).await;
    movable_clock(&mut h, fixture_now());
    let (work, photo) = pick(&h, "Editorial", &["BB"], "Author Photo");
    let (work, photo) = (work.clone(), photo.clone());
    let hardback = work.products.iter().find(|p| p.product_form == "BB").unwrap().clone();
    (h, work, photo, hardback)
}

async fn requests_follow_stages_arrivals_and_slips(backend: Backend) {
    let (h, work, photo, hardback) = editorial_hardback(backend, "requests").await;
    let bb_isbn = Isbn13::parse(&hardback.isbn13).unwrap();
    let latest = photo.versions.last().unwrap().clone();
    let mut deliveries = 0;
    let mut n = 0;

    // The author photo is not (yet) an author photo: the title has no asset for that role.
    h.sims.otmm.set_field(&latest.asset_id, otmm_fields::ASSET_TYPE, "Portrait Draft").unwrap();
    deliveries += 1;
    h.deliver_and_drain(deliveries).await;

    // Acquisition: nothing is requested yet.
    h.sims.consonance.set_project_stage(work.work_id, "Acquisition").unwrap();
    work_changed(&h, work.work_id, &mut n).await;
    assert!(request_folders(&h).is_empty(), "{:?}", request_folders(&h).keys());

    // Editorial: the author photo (requests.roles moves it earlier), for the hardback only.
    h.sims.consonance.set_project_stage(work.work_id, "Editorial").unwrap();
    work_changed(&h, work.work_id, &mut n).await;
    let folders = request_folders(&h);
    let photo_key = format!("{}#author_photo", hardback.isbn13);
    assert_eq!(folders.keys().cloned().collect::<BTreeSet<_>>(), expected_keys(&h, &work, "Editorial"));
    assert_eq!(folders.keys().collect::<Vec<_>>(), vec![&photo_key]);
    let f = &folders[&photo_key];
    let bb_due = due(&h, "BB", hardback.planned_publication_date);
    assert_eq!(f.fields.get(otmm_fields::ISBN), Some(&hardback.isbn13));
    assert_eq!(f.fields.get(otmm_fields::ASSET_TYPE).map(String::as_str), Some("Author Photo"));
    assert_eq!(f.fields.get(otmm_fields::REQUEST_STATUS).map(String::as_str), Some("Open"));
    assert!(f.fields.get(otmm_fields::DUE_DATE).is_some_and(|d| d.starts_with(&bb_due.to_string())), "{f:?}");
    assert!(
        f.name.contains(&work.work_id.to_string())
            && f.name.contains(&hardback.planned_publication_date.to_string()),
        "{}",
        f.name
    );
    let doc = request_doc(&h, &photo_key).await.expect("request recorded");
    assert_eq!((doc.status, doc.due, doc.role), (RequestStatus::Open, Some(bb_due), AssetRole::AuthorPhoto));
    assert_eq!(doc.otmm.as_ref().map(|o| o.id.as_str()), Some(f.folder_id.as_str()));
    assert_folders_tell_readiness(&h).await;

    // The same change again: nothing new.
    work_changed(&h, work.work_id, &mut n).await;
    assert_eq!(request_folders(&h).len(), 1);

    // Design: every launch role of every product.
    h.sims.consonance.set_project_stage(work.work_id, "Design").unwrap();
    work_changed(&h, work.work_id, &mut n).await;
    work_changed(&h, work.work_id, &mut n).await;
    let folders = request_folders(&h);
    assert_eq!(folders.keys().cloned().collect::<BTreeSet<_>>(), expected_keys(&h, &work, "Design"));
    assert!(folders.len() > 1);
    let created =
        trail(&h, &bb_isbn).await.into_iter().filter(|r| r.action == AuditAction::RequestCreated).count();
    let bb_roles = h.app.config.launch_for(&ProductForm::parse("BB").unwrap()).unwrap().roles.len();
    assert_eq!(created, bb_roles, "one request.created per hardback role, never twice");
    assert_folders_tell_readiness(&h).await;

    // The author photo arrives: approved in OTMM, linked, its request closed.
    h.sims.otmm.set_field(&latest.asset_id, otmm_fields::ASSET_TYPE, "Author Photo").unwrap();
    h.sims.otmm.approve(&photo.original_asset_id, latest.version, APPROVER).unwrap();
    deliveries += 2;
    let report = h.deliver_and_drain(deliveries).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    let doc = request_doc(&h, &photo_key).await.unwrap();
    assert_eq!(doc.status, RequestStatus::Closed);
    assert_eq!(doc.fulfilled_by.as_ref().map(|a| a.as_str()), Some(photo.original_asset_id.as_str()));
    assert_eq!(doc.fulfilled_version, Some(latest.version));
    let folder = &request_folders(&h)[&photo_key];
    assert_eq!(folder.fields.get(otmm_fields::REQUEST_STATUS).map(String::as_str), Some("Fulfilled"));
    let closed: Vec<AuditRecord> =
        trail(&h, &bb_isbn).await.into_iter().filter(|r| r.action == AuditAction::RequestClosed).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].asset_id.as_ref().map(|a| a.as_str()), Some(photo.original_asset_id.as_str()));

    // The hardback slips a month: its open requests are re-dated, the closed one is not.
    let slipped = hardback.planned_publication_date + Duration::days(30);
    h.sims.consonance.set_planned_publication_date(hardback.product_id, slipped).unwrap();
    work_changed(&h, work.work_id, &mut n).await;
    let new_due = due(&h, "BB", slipped);
    let folders = request_folders(&h);
    for (key, f) in folders.iter().filter(|(k, _)| k.starts_with(&hardback.isbn13)) {
        let doc = request_doc(&h, key).await.unwrap();
        if key == &photo_key {
            assert_eq!(doc.due, Some(bb_due), "closed requests keep their date");
            continue;
        }
        assert_eq!(doc.due, Some(new_due), "{key}");
        assert_eq!(doc.previous_due, vec![bb_due]);
        assert_eq!(doc.first_publication_date, Some(hardback.planned_publication_date));
        assert!(
            f.fields.get(otmm_fields::DUE_DATE).is_some_and(|d| d.starts_with(&new_due.to_string())),
            "{f:?}"
        );
    }
    let redated =
        trail(&h, &bb_isbn).await.into_iter().filter(|r| r.action == AuditAction::RequestRedated).count();
    assert_eq!(redated, bb_roles - 1);
    // Other products of the work kept their dates; nothing was raised twice.
    assert_eq!(request_folders(&h).len(), folders.len());
    // Readiness shows the requests: the hardback's photo is linked, the rest requested.
    let r = readiness::stored(&h.app, &bb_isbn).await.unwrap().expect("readiness stored");
    assert_eq!(r.role(AssetRole::AuthorPhoto).unwrap().state, RoleState::Linked);
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Requested);
    assert_eq!(r.status, ReadinessStatus::AtRisk, "{r:#?}");
    assert_eq!(r.stage.as_deref(), Some("Design"));
    assert_folders_tell_readiness(&h).await;
}

async fn readiness_moves_ready_at_risk_blocked(backend: Backend) {
    let mut h = Harness::start(backend, "readiness", 30).await;
    let clock = movable_clock(&mut h, fixture_now());
    h.app.settings.public_base_url = Some("https://connector.example.com/".into());
    let (work, cover) = pick(&h, "Production", &["DG"], "Front Cover");
    let (work, cover) = (work.clone(), cover.clone());
    let ebook = work.products.iter().find(|p| p.product_form == "DG").unwrap().clone();
    let isbn = Isbn13::parse(&ebook.isbn13).unwrap();
    // Far enough out that the front cover is due in the future.
    let publication = fixture_now().date_naive() + Duration::days(200);
    h.sims.consonance.set_planned_publication_date(ebook.product_id, publication).unwrap();
    let latest = cover.versions.last().unwrap().clone();

    // The cover is approved and linked: the ebook (front cover only) is ready.
    h.sims.otmm.approve(&cover.original_asset_id, latest.version, APPROVER).unwrap();
    let report = h.deliver_and_drain(1).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    let r = readiness::stored(&h.app, &isbn).await.unwrap().expect("evaluated after the link");
    assert_eq!(r.status, ReadinessStatus::Ready, "{r:#?}");
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Linked);
    assert_eq!(r.days_to_publication, Some(200));
    // Reported back: a web link on the Consonance product, once.
    let url = format!("https://connector.example.com/titles/{isbn}/readiness");
    let links = h.sims.consonance.web_links(ebook.product_id);
    assert_eq!(links.iter().filter(|l| l.link == url).count(), 1, "{links:?}");

    // The cover is deleted in OTMM: the link is withdrawn, a request raised, at risk.
    h.sims.otmm.delete_asset(&cover.original_asset_id).unwrap();
    let report = h.deliver_and_drain(2).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    let r = readiness::stored(&h.app, &isbn).await.unwrap().unwrap();
    let cover_due = due(&h, "DG", publication);
    assert_eq!(r.status, ReadinessStatus::AtRisk, "{r:#?}");
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Requested);
    assert!(
        r.reasons[0].contains("front_cover") && r.reasons[0].contains(&format!("due {cover_due}")),
        "{:?}",
        r.reasons
    );
    assert!(request_folders(&h).contains_key(&format!("{isbn}#front_cover")));

    // Time passes the cover's due date with no event: the sweep finds it blocked.
    clock.store(
        (cover_due + Duration::days(5)).and_hms_opt(9, 0, 0).unwrap().and_utc().timestamp(),
        Ordering::SeqCst,
    );
    let swept = readiness::reevaluate_stored(&h.app, "e2e-sweep").await.unwrap();
    assert!(
        swept.transitions.iter().any(|t| t.isbn == isbn && t.to == ReadinessStatus::Blocked),
        "{swept:?}"
    );
    let r = readiness::stored(&h.app, &isbn).await.unwrap().unwrap();
    assert_eq!(r.status, ReadinessStatus::Blocked);
    assert!(r.reasons[0].contains("5 days ago"), "{:?}", r.reasons);
    // A second sweep changes nothing.
    assert!(readiness::reevaluate_stored(&h.app, "e2e-sweep-2").await.unwrap().transitions.is_empty());

    // The audit trail tells the story, oldest first: (new) → ready → at risk → blocked.
    let changes: Vec<(Option<String>, String)> = trail(&h, &isbn)
        .await
        .into_iter()
        .rev()
        .filter(|r| r.action == AuditAction::ReadinessChanged)
        .map(|r| {
            (
                r.data["from"].as_str().map(str::to_string),
                r.data["to"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (None, "ready".to_string()),
            (Some("ready".into()), "at_risk".into()),
            (Some("at_risk".into()), "blocked".into()),
        ]
    );
    // Listing and filtering the stored reports.
    let blocked = readiness::list(
        &h.app,
        &connector_core::readiness::ReadinessFilter {
            status: Some(ReadinessStatus::Blocked),
            form: Some("DG".into()),
            ..Default::default()
        },
        PageRequest { limit: 50, cursor: None },
    )
    .await
    .unwrap();
    assert!(blocked.items.iter().any(|r| r.isbn == isbn));
    assert!(blocked.items.iter().all(|r| r.status == ReadinessStatus::Blocked));
    let docs = h
        .app
        .stores
        .documents
        .list_docs(READINESS_DOC_KIND, PageRequest { limit: 100, cursor: None })
        .await
        .unwrap();
    assert_eq!(docs.items.len(), work.products.len(), "one report per product of the work");
}

/// Without any notification, the reconciler sees the new stage in Consonance's change feed
/// (the stored readiness says another stage), enqueues the work, and the requests follow.
async fn reconciler_catches_a_silent_stage_change(backend: Backend) {
    use connector_app::reconciler::{self, Options};
    let mut h = Harness::start(backend, "requests_reconcile", 30).await;
    movable_clock(&mut h, fixture_now());
    let (work, _) = pick(&h, "Editorial", &["BB"], "Author Photo");
    let work = work.clone();
    let mut n = 0;
    work_changed(&h, work.work_id, &mut n).await;
    let before = request_folders(&h).len();
    h.sims.consonance.set_project_stage(work.work_id, "Design").unwrap();
    let forever = || std::time::Duration::MAX;
    let summary = reconciler::run(&h.app, &Options::default(), &forever).await.unwrap();
    assert_eq!(summary.drift.get("readiness_stale"), Some(&1), "{summary:?}");
    // Every Design-stage role of the work's products, but the author photo (in OTMM already).
    let expected: BTreeSet<String> =
        expected_keys(&h, &work, "Design").into_iter().filter(|k| !k.ends_with("#author_photo")).collect();
    let raised = |h: &Harness| -> BTreeSet<String> {
        request_folders(h)
            .into_keys()
            .filter(|k| work.products.iter().any(|p| k.starts_with(&p.isbn13)))
            .collect()
    };
    // The run enqueues the rest of the catalogue too; on a loaded machine one drain's 60 s may
    // end before the work's message (or its retry after a held slot lapses) is done.
    for _ in 0..3 {
        let report = h.drain().await;
        assert_eq!(report.dead_lettered, 0, "{report:?}");
        if raised(&h) == expected {
            break;
        }
    }
    assert_eq!(raised(&h), expected);
    assert!(request_folders(&h).len() > before);
    // Converged: the next run finds nothing about this work.
    let again = reconciler::run(&h.app, &Options::default(), &forever).await.unwrap();
    assert_eq!(again.drift.get("readiness_stale"), None, "{again:?}");
}

/// A request's first attempt searches OTMM for nothing (no attempt began before it, so no
/// create can have landed); an attempt after one whose create landed but whose answer was lost
/// finds that folder and raises no second one.
async fn a_request_whose_create_answer_was_lost_is_found_not_raised_again(backend: Backend) {
    let (h, work, photo, hardback) = editorial_hardback(backend, "request_lost_answer").await;
    let photo_key = format!("{}#author_photo", hardback.isbn13);
    let latest = photo.versions.last().unwrap().clone();
    h.sims.otmm.set_field(&latest.asset_id, otmm_fields::ASSET_TYPE, "Portrait Draft").unwrap();
    h.sims.consonance.set_project_stage(work.work_id, "Acquisition").unwrap();
    let mut n = 0;
    work_changed(&h, work.work_id, &mut n).await;
    assert!(request_folders(&h).is_empty());
    let otmm = h.sims.otmm.faults();
    let calls = |method: &str, path: &str| {
        otmm.requests().iter().filter(|r| r.method == method && r.path.contains(path)).count()
    };

    // Editorial raises the hardback's author photo: the first attempt creates without a lookup.
    h.sims.consonance.set_project_stage(work.work_id, "Editorial").unwrap();
    otmm.clear_log();
    work_changed(&h, work.work_id, &mut n).await;
    assert_eq!(request_folders(&h).keys().cloned().collect::<Vec<_>>(), vec![photo_key.clone()]);
    assert_eq!(calls("POST", "/folders/"), 1);
    assert_eq!(calls("POST", "/search/text"), 1, "the readiness search only, no request lookup");

    // Design raises every launch role of every product: the first create lands, its answer is
    // cut short, the pass fails and is retried; the retry finds that folder (its attempt was
    // recorded) and creates only the rest.
    h.sims.consonance.set_project_stage(work.work_id, "Design").unwrap();
    otmm.set(
        Some("POST"),
        "/otmmapi/v6/folders/",
        connector_sim::faults::Fault { truncate_body: true, corrupt_next: 1, ..Default::default() },
    );
    otmm.clear_log();
    work_changed(&h, work.work_id, &mut n).await;
    let folders = request_folders(&h);
    let expected = expected_keys(&h, &work, "Design");
    assert_eq!(folders.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let all: Vec<SimFolder> = h
        .sims
        .otmm
        .folders()
        .into_iter()
        .filter(|f| f.parent_id.as_deref() == Some(REQUESTS_FOLDER_ID))
        .collect();
    assert_eq!(all.len(), expected.len(), "each raised once although an answer was lost");
    assert_eq!(calls("POST", "/folders/"), expected.len() - 1, "no second create of the lost one");
    for key in &expected {
        let doc = request_doc(&h, key).await.expect("recorded");
        assert_eq!(doc.otmm.as_ref().map(|o| o.id.as_str()), Some(folders[key].folder_id.as_str()), "{key}");
    }
}

connector_tests::on_both_backends!(
    requests_follow_stages_arrivals_and_slips,
    readiness_moves_ready_at_risk_blocked,
    reconciler_catches_a_silent_stage_change,
    a_request_whose_create_answer_was_lost_is_found_not_raised_again
);

/// Readiness after a link uses the work's last OTMM searches (issue 16: they were three
/// searches a link), with the asset the link read; it searches again to raise a request, so an
/// asset uploaded since the last search is not requested. With the age at 0 it always searches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_after_a_link_reuses_searches_but_raises_requests_on_fresh_ones() {
    readiness_after_a_link_reuses_searches(true).await;
}

/// The same with `otmm.search.or_conditions` off, against an OTMM that refuses "or": one
/// search per ISBN of the work, none ORed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_searches_one_isbn_at_a_time_where_or_conditions_are_off() {
    readiness_after_a_link_reuses_searches(false).await;
}

async fn readiness_after_a_link_reuses_searches(or_conditions: bool) {
    let example = include_str!("../../config/mapping.example.toml");
    let mapping = example.replace("or_conditions = true", &format!("or_conditions = {or_conditions}"));
    let mapping = connector_core::config::MappingConfig::from_toml_str(&mapping, "mapping.toml").unwrap();
    let otmm = connector_sim::otmm::OtmmSimOptions {
        search: connector_sim::otmm::SearchIds { or_conditions, ..Default::default() },
        ..Default::default()
    };
    let cat = connector_sim::catalogue::Catalogue::generate(30, 11, fixture_now());
    let mut h = Harness::start_custom(
        Backend::Embedded,
        &format!("observations_{or_conditions}"),
        cat,
        otmm,
        Default::default(),
        Some(Arc::new(mapping)),
    )
    .await;
    movable_clock(&mut h, fixture_now());
    h.app.settings.concurrency = 1;
    // A hardback whose ISBN has an author photo and a front cover (a Design work: its stage is
    // set below).
    let of_type = |lead: &str, ty: &str| {
        h.catalogue.assets.iter().find(|a| a.isbn == lead && a.asset_type == ty && !a.deleted).cloned()
    };
    let (work, photo, cover) = h
        .catalogue
        .works
        .iter()
        .filter(|w| w.project_stage == "Design" && w.products[0].product_form == "BB")
        .find_map(|w| {
            let lead = &w.products[0].isbn13;
            Some((w.clone(), of_type(lead, "Author Photo")?, of_type(lead, "Front Cover")?))
        })
        .expect("a Design hardback with an author photo and a front cover");
    let lead = work.products[0].isbn13.clone();
    let photo_latest = photo.versions.last().unwrap().asset_id.clone();
    // A work's ISBNs in one search where OTMM ORs conditions, else one search each.
    let isbns = if or_conditions { 1 } else { work.products.len() };
    assert!(work.products.len() > 1, "a work of several ISBNs");
    let searches = |h: &Harness| {
        h.sims.otmm.faults().requests().iter().filter(|r| r.path.ends_with("/search/text")).count()
    };
    // Approves a new version of the cover (a link), with webhooks on only for the approval.
    let mut delivered = 0;
    let link_cover = async |h: &Harness, delivered: &mut usize| {
        h.sims.otmm.set_webhooks_enabled(false);
        let id = h.sims.otmm.add_version(&cover.original_asset_id, "Pending").unwrap();
        let version = h.sims.otmm.asset(&id).unwrap().version;
        h.sims.otmm.set_webhooks_enabled(true);
        h.sims.otmm.faults().clear_log();
        h.sims.otmm.approve(&cover.original_asset_id, version, APPROVER).unwrap();
        *delivered += 1;
        let report = h.deliver_and_drain(*delivered).await;
        assert_eq!((report.done, report.dead_lettered), (1, 0), "{report:?}");
    };

    // Acquisition (nothing requested), the author photo not in OTMM yet: the first link searches
    // every ISBN of the work and keeps what it found.
    h.sims.consonance.set_project_stage(work.work_id, "Acquisition").unwrap();
    h.sims.otmm.set_webhooks_enabled(false);
    h.sims.otmm.set_field(&photo_latest, otmm_fields::ASSET_TYPE, "Portrait Draft").unwrap();
    link_cover(&h, &mut delivered).await;
    assert_eq!(searches(&h), isbns, "the first link searches the work's ISBNs");
    assert!(request_folders(&h).is_empty());

    // The photo is uploaded (no event reaches the connector), and the work moves to Editorial,
    // where the hardback's author photo is requested when missing. The next link's last
    // searches say it is missing; a request is raised only on a search made now, which finds it.
    h.sims.otmm.set_webhooks_enabled(false);
    h.sims.otmm.set_field(&photo_latest, otmm_fields::ASSET_TYPE, "Author Photo").unwrap();
    h.sims.consonance.set_project_stage(work.work_id, "Editorial").unwrap();
    link_cover(&h, &mut delivered).await;
    assert!(request_folders(&h).is_empty(), "requested though uploaded: {:?}", request_folders(&h).keys());
    assert_eq!(searches(&h), isbns, "searched again before raising a request");

    // Nothing to raise: the link searches nothing.
    link_cover(&h, &mut delivered).await;
    assert_eq!(searches(&h), 0, "the last searches are reused");
    let stored = readiness::stored(&h.app, &Isbn13::parse(&lead).unwrap()).await.unwrap().unwrap();
    let photo_role = stored.roles.iter().find(|r| r.role == AssetRole::AuthorPhoto);
    assert!(
        photo_role.is_none_or(|r| r.state != RoleState::Missing),
        "the searched-again photo shows: {photo_role:?}"
    );

    // Age 0: every link searches.
    h.app.settings.observations_max_age = std::time::Duration::ZERO;
    link_cover(&h, &mut delivered).await;
    assert_eq!(searches(&h), isbns);
}
