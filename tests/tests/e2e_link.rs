//! Mission flows 1, 2, 6 and 7 end to end: a signed OTMM webhook goes through the intake (HTTP),
//! the queue and the flow processor, and the Consonance simulator shows the link; the mapping
//! and the audit trail agree. Every case runs on the embedded adapters and on moto.

use connector_app::systems::ResourceRequest;
use connector_core::AuditAction;
use connector_core::plan::{Command, TitleLookup, plan_asset};
use connector_core::{AssetId, AssetRole, Isbn13, LinkKey, LinkStatus, Outcome, WorkId};
use connector_sim::catalogue::{SeedAsset, SeedWork, otmm_fields};
use connector_sim::consonance::ResourceRec;
use connector_sim::faults::Fault;
use connector_store::Claim;
use connector_store::PageRequest;
use connector_tests::e2e::{Backend, Harness};
use std::collections::BTreeMap;

const APPROVER: &str = "e2e.approver";

/// Usage rights that cover any product (flow 4 withholds the others: see `e2e_rights`).
fn plain_rights(a: &SeedAsset) -> bool {
    a.territory == "WORLD" && a.expiration_date.is_none() && a.embargo_until.is_none()
}

/// An asset of the given type with a valid ISBN, plain rights and at least `min_versions` versions.
fn pick<'a>(h: &'a Harness, asset_type: &str, min_versions: usize) -> (&'a SeedAsset, &'a SeedWork) {
    h.catalogue
        .assets
        .iter()
        .filter(|a| a.asset_type == asset_type && a.versions.len() >= min_versions && a.isbn == a.isbn.trim())
        .filter(|a| plain_rights(a))
        .filter(|a| Isbn13::parse(&a.isbn).is_ok_and(|i| i.as_str() == a.isbn))
        .find_map(|a| {
            let w = h.catalogue.works.iter().find(|w| w.products.iter().any(|p| p.isbn13 == a.isbn))?;
            Some((a, w))
        })
        .unwrap_or_else(|| panic!("no {asset_type} asset with {min_versions}+ versions in the catalogue"))
}

fn resources_of(h: &Harness, work_id: i64, lineage: &str) -> Vec<ResourceRec> {
    let marker = format!("otmm:{lineage}:");
    h.sims
        .consonance
        .supporting_resources(work_id)
        .into_iter()
        .filter(|r| r.caption.as_deref().is_some_and(|c| c.contains(&marker)))
        .collect()
}

fn key(asset: &SeedAsset, role: AssetRole) -> LinkKey {
    LinkKey::for_asset(
        Isbn13::parse(&asset.isbn).unwrap(),
        role,
        &AssetId::parse(&asset.original_asset_id).unwrap(),
    )
}

async fn approved_cover_reaches_consonance(backend: Backend) {
    let h = Harness::start(backend, "approved_cover", 12).await;
    let (asset, work) = pick(&h, "Front Cover", 1);
    let version = asset.versions.len() as u32;
    h.sims.otmm.approve(&asset.original_asset_id, version, APPROVER).unwrap();
    let report = h.deliver_and_drain(1).await;
    assert_eq!((report.done, report.dead_lettered), (1, 0), "{report:?}");

    // Consonance: one resource, on every product of the work (front covers go to all forms).
    let resources = resources_of(&h, work.work_id, &asset.original_asset_id);
    assert_eq!(resources.len(), 1, "{resources:?}");
    let r = &resources[0];
    let all_products: std::collections::BTreeSet<i64> = work.products.iter().map(|p| p.product_id).collect();
    assert_eq!(r.product_ids, all_products);
    assert_eq!(r.resource_variant.as_deref(), Some("front_cover"));
    assert!(r.caption.as_deref().unwrap().contains(&format!("otmm:{}:v{version}", asset.original_asset_id)));

    // Mapping: the link names the resource and the approver.
    let link = h
        .app
        .stores
        .mapping
        .get_link(&key(asset, AssetRole::FrontCover))
        .await
        .unwrap()
        .expect("link recorded");
    assert_eq!(link.status, LinkStatus::Linked);
    assert_eq!(link.approval.version, version);
    assert_eq!(link.consonance_resource_id, Some(r.id.to_string()));
    assert_eq!(link.approved_by.map(|a| a.user_id), Some(APPROVER.to_string()));
    let title = h
        .app
        .stores
        .mapping
        .get_title(&Isbn13::parse(&asset.isbn).unwrap())
        .await
        .unwrap()
        .expect("title recorded");
    assert_eq!(title.work_id.0, work.work_id);

    // Audit: who approved which version, linked to which title, in which flow.
    let trail = h
        .app
        .stores
        .audit
        .by_title(&title.isbn, PageRequest { limit: 50, cursor: None })
        .await
        .unwrap()
        .items;
    let created = trail.iter().find(|r| r.action == AuditAction::LinkCreated).expect("link.created audited");
    assert_eq!(created.asset_version, Some(version));
    assert_eq!(created.actor.as_ref().map(|a| a.user_id.as_str()), Some(APPROVER));
    assert_eq!(created.outcome, Outcome::Applied);
    assert!(!created.correlation_id.is_empty());
    assert!(trail.iter().any(|r| r.action == AuditAction::TitleMapped));
}

async fn older_version_arriving_late_changes_nothing(backend: Backend) {
    let h = Harness::start(backend, "out_of_order", 12).await;
    let (asset, work) = pick(&h, "Front Cover", 2);
    let latest = asset.versions.len() as u32;
    h.sims.otmm.approve(&asset.original_asset_id, latest, APPROVER).unwrap();
    h.deliver_and_drain(1).await;
    h.sims.otmm.approve(&asset.original_asset_id, latest - 1, "late.approver").unwrap();
    h.deliver_and_drain(2).await;

    let link = h.app.stores.mapping.get_link(&key(asset, AssetRole::FrontCover)).await.unwrap().unwrap();
    assert_eq!(link.approval.version, latest, "the newer version stays linked");
    let resources = resources_of(&h, work.work_id, &asset.original_asset_id);
    assert_eq!(resources.len(), 1, "no resource for the stale version: {resources:?}");
    let id = AssetId::parse(&asset.original_asset_id).unwrap();
    let trail =
        h.app.stores.audit.by_asset(&id, PageRequest { limit: 50, cursor: None }).await.unwrap().items;
    let stale =
        trail.iter().find(|r| r.action == AuditAction::ApprovalStale).expect("the stale approval is audited");
    assert_eq!(stale.asset_version, Some(latest - 1));
    assert!(
        stale.detail.contains(&format!("version {} arrived after version {latest}", latest - 1)),
        "{}",
        stale.detail
    );
}

async fn newer_version_replaces_the_resource(backend: Backend) {
    let h = Harness::start(backend, "replace", 12).await;
    let (asset, work) = pick(&h, "Front Cover", 2);
    let latest = asset.versions.len() as u32;
    h.sims.otmm.approve(&asset.original_asset_id, latest - 1, APPROVER).unwrap();
    h.deliver_and_drain(1).await;
    h.sims.otmm.approve(&asset.original_asset_id, latest, APPROVER).unwrap();
    h.deliver_and_drain(2).await;
    let resources = resources_of(&h, work.work_id, &asset.original_asset_id);
    assert_eq!(resources.len(), 1, "the replaced version's resource is deleted: {resources:?}");
    assert!(resources[0].caption.as_deref().unwrap().contains(&format!(":v{latest}:p")));
    let link = h.app.stores.mapping.get_link(&key(asset, AssetRole::FrontCover)).await.unwrap().unwrap();
    assert_eq!(link.consonance_resource_id, Some(resources[0].id.to_string()));
}

async fn campaign_asset_never_replaces_a_cover(backend: Backend) {
    let h = Harness::start(backend, "campaign", 12).await;
    let (cover, work) = pick(&h, "Front Cover", 1);
    let social = h
        .catalogue
        .assets
        .iter()
        .find(|a| a.asset_type == "Social Graphic" && a.isbn == cover.isbn && plain_rights(a))
        .expect("the title also has a social graphic");
    h.sims.otmm.approve(&cover.original_asset_id, cover.versions.len() as u32, APPROVER).unwrap();
    h.sims.otmm.approve(&social.original_asset_id, social.versions.len() as u32, APPROVER).unwrap();
    h.deliver_and_drain(2).await;
    assert_eq!(resources_of(&h, work.work_id, &cover.original_asset_id).len(), 1, "the cover stays");
    let campaign = resources_of(&h, work.work_id, &social.original_asset_id);
    assert_eq!(campaign.len(), 1);
    assert_eq!(campaign[0].resource_variant.as_deref(), Some("marketing_social"));
    let id = AssetId::parse(&social.original_asset_id).unwrap();
    let trail =
        h.app.stores.audit.by_asset(&id, PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    assert!(
        trail
            .iter()
            .any(|r| r.action == AuditAction::LinkCreated && r.flow == connector_core::Flow::CampaignAsset)
    );
}

async fn otmm_500_then_success(backend: Backend) {
    let h = Harness::start(backend, "otmm_500", 12).await;
    let (asset, work) = pick(&h, "Front Cover", 1);
    // More failures than the client's own retries: the message must go back to the queue.
    h.sims.otmm.faults().set(
        Some("GET"),
        "/otmmapi/v6/assets/",
        Fault { fail_next: 3, status: Some(500), ..Default::default() },
    );
    h.sims.otmm.approve(&asset.original_asset_id, asset.versions.len() as u32, APPROVER).unwrap();
    let report = h.deliver_and_drain(1).await;
    assert!(report.retried >= 1, "the first attempt fails and is retried: {report:?}");
    assert_eq!((report.done, report.dead_lettered), (1, 0));
    assert_eq!(resources_of(&h, work.work_id, &asset.original_asset_id).len(), 1);
    let failed = h.sims.otmm.faults().requests().iter().filter(|r| r.injected.is_some()).count();
    assert_eq!(failed, 3);
}

/// A newer version's create landed but its link was not written (its attempt died after the
/// create), and an older version's approval ran meanwhile: newer than the link then held, its
/// create took the products and its sweep deleted the newer resource as a leftover. The newer
/// version's retry must not link the resource its first attempt made without checking it is
/// still there (found by the chaos run: a link to a deleted resource, and no cover at all).
async fn a_retried_create_checks_its_earlier_resource_is_still_there(backend: Backend) {
    let mut h = Harness::start(backend, "retried_create", 12).await;
    h.app.settings.concurrency = 1;
    let (asset, work) = pick(&h, "Front Cover", 1);
    let (asset, work) = (asset.clone(), work.clone());
    let lineage = asset.original_asset_id.clone();
    let isbn = Isbn13::parse(&asset.isbn).unwrap();
    let mut delivered = 0;
    let mut approve = async |h: &Harness, version: u32| {
        h.sims.otmm.approve(&lineage, version, APPROVER).unwrap();
        delivered += 1;
        let report = h.deliver_and_drain(delivered).await;
        assert_eq!((report.done, report.dead_lettered), (1, 0), "{report:?}");
    };
    let latest = asset.versions.last().unwrap().version;
    approve(&h, latest).await;
    // Two newer versions, added quietly.
    h.sims.otmm.set_webhooks_enabled(false);
    let older = h.sims.otmm.asset(&h.sims.otmm.add_version(&lineage, "Pending").unwrap()).unwrap().version;
    let newer_id = h.sims.otmm.add_version(&lineage, "Pending").unwrap();
    let newer = h.sims.otmm.asset(&newer_id).unwrap().version;
    h.sims.otmm.approve(&lineage, newer, APPROVER).unwrap();
    h.sims.otmm.set_webhooks_enabled(true);

    // The newer version's first attempt, as the processor makes it, dies after its create:
    // the create key is completed with the resource, no link is written.
    let facts = h.app.dam.asset(&AssetId::parse(&newer_id).unwrap()).await.unwrap();
    let title = h.app.pms.title_by_isbn(&isbn).await.unwrap().unwrap();
    let current = h.app.stores.mapping.get_link(&key(&asset, AssetRole::FrontCover)).await.unwrap();
    let plan = plan_asset(&facts, TitleLookup::Found(&title), current.as_ref(), &h.app.config, h.app.now());
    let Some(create @ Command::CreateResource { product_ids, resource_variant, status, dedupe_marker, .. }) =
        plan.commands.iter().find(|c| matches!(c, Command::CreateResource { .. }))
    else {
        panic!("the newer version is linked by a create: {:?}", plan.commands)
    };
    let request = ResourceRequest {
        work_id: WorkId(work.work_id),
        product_ids: product_ids.clone(),
        resource_variant: resource_variant.clone(),
        status: status.clone(),
        dedupe_marker: dedupe_marker.clone(),
        unlink_previous: true,
        file_url: h.app.dam.content_url(&facts),
        file_name: facts.name.clone(),
        mime_type: facts.mime_type.clone(),
        caption: format!("front_cover for {} [{dedupe_marker}]", title.title),
        listed: None,
    };
    let made = h.app.pms.ensure_resource(&request).await.unwrap();
    let ttl = h.app.settings.idempotency_ttl;
    let key_of_create = create.idempotency_key();
    let ids = &h.app.stores.idempotency;
    assert!(matches!(ids.claim(&key_of_create, None, h.app.now(), ttl).await.unwrap(), Claim::Acquired));
    ids.complete(&key_of_create, Some(&made.id), h.app.now(), ttl).await.unwrap();

    // The older one's approval (newer than the link held), then the newer one's again.
    approve(&h, older).await;
    approve(&h, newer).await;

    let link = h.app.stores.mapping.get_link(&key(&asset, AssetRole::FrontCover)).await.unwrap().unwrap();
    assert_eq!((link.approval.version, link.status), (newer, LinkStatus::Linked));
    let live = resources_of(&h, work.work_id, &lineage);
    let linked = live.iter().find(|r| Some(r.id.to_string()) == link.consonance_resource_id);
    let linked = linked.unwrap_or_else(|| {
        panic!("the link names resource {:?}, gone: {live:?}", link.consonance_resource_id)
    });
    assert!(linked.caption.as_deref().is_some_and(|c| c.contains(&format!(":v{newer}:"))), "{linked:?}");
    assert_eq!(linked.product_ids.len(), link.product_ids.len(), "on the link's products: {linked:?}");
    assert_eq!(live.len(), 1, "one resource of the asset left: {live:?}");
}

async fn consonance_429_is_waited_out(backend: Backend) {
    let h = Harness::start(backend, "consonance_429", 12).await;
    let (asset, work) = pick(&h, "Front Cover", 1);
    h.sims.consonance.faults().set(
        Some("POST"),
        "/graphql",
        Fault { fail_next: 1, status: Some(429), retry_after_secs: Some(1), ..Default::default() },
    );
    let started = std::time::Instant::now();
    h.sims.otmm.approve(&asset.original_asset_id, asset.versions.len() as u32, APPROVER).unwrap();
    let report = h.deliver_and_drain(1).await;
    assert_eq!((report.done, report.dead_lettered), (1, 0), "{report:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "Retry-After was honoured");
    assert_eq!(resources_of(&h, work.work_id, &asset.original_asset_id).len(), 1);
    let log = h.sims.consonance.faults().requests();
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 1);
}

async fn unknown_isbn_is_dead_lettered_then_replayed(backend: Backend) {
    let h = Harness::start(backend, "unknown_isbn", 12).await;
    let (asset, work) = pick(&h, "Front Cover", 1);
    let latest = asset.versions.last().unwrap();
    // Approved, then its ISBN changed to one Consonance does not know.
    h.sims.otmm.approve(&asset.original_asset_id, latest.version, APPROVER).unwrap();
    h.deliver_and_drain(1).await;
    let unknown = "9780306406157";
    h.sims.otmm.set_field(&latest.asset_id, otmm_fields::ISBN, unknown).unwrap();
    let report = h.deliver_and_drain(2).await;
    assert_eq!(report.dead_lettered, 1, "{report:?}");
    let dead = h.app.stores.queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let trail = h
        .app
        .stores
        .audit
        .by_title(&Isbn13::parse(unknown).unwrap(), PageRequest { limit: 10, cursor: None })
        .await
        .unwrap()
        .items;
    let parked = trail.iter().find(|r| r.action == AuditAction::TitleNotFound).expect("the cause is audited");
    assert_eq!(parked.outcome, Outcome::DeadLettered);
    assert!(parked.detail.contains(unknown));

    // The cause is fixed in Consonance (a product gets that ISBN); the replay links it.
    let product = &work.products[work.products.len() - 1];
    h.sims.consonance.set_isbn(product.product_id, Some(unknown)).unwrap();
    assert_eq!(h.app.stores.queue.redrive(None).await.unwrap(), 1);
    let report = h.drain().await;
    assert_eq!((report.done, report.dead_lettered), (1, 0), "{report:?}");
    assert!(h.app.stores.queue.dead_letters(10).await.unwrap().is_empty());
    let link = h
        .app
        .stores
        .mapping
        .get_link(&LinkKey::for_asset(
            Isbn13::parse(unknown).unwrap(),
            AssetRole::FrontCover,
            &AssetId::parse(&asset.original_asset_id).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(link.map(|l| l.status), Some(LinkStatus::Linked));
}

async fn identifiers_are_aligned_and_bad_isbns_never_written(backend: Backend) {
    let h = Harness::start(backend, "identifiers", 16).await;
    // A hyphenated ISBN in OTMM is rewritten in canonical form (Consonance is authoritative).
    let hyphenated = h
        .catalogue
        .assets
        .iter()
        .find(|a| a.isbn.contains('-') && a.asset_type == "Author Photo" && plain_rights(a))
        .expect("a hyphenated ISBN");
    let v = hyphenated.versions.last().unwrap();
    h.sims.otmm.approve(&hyphenated.original_asset_id, v.version, APPROVER).unwrap();
    // An ISBN with a typo is rejected and left alone.
    let typo = h.catalogue.assets.iter().find(|a| Isbn13::parse(&a.isbn).is_err()).expect("a bad ISBN");
    let tv = typo.versions.last().unwrap();
    h.sims.otmm.approve(&typo.original_asset_id, tv.version, APPROVER).unwrap();
    h.deliver_and_drain(2).await;

    let canonical = Isbn13::parse(&hyphenated.isbn).unwrap().to_string();
    assert_eq!(h.sims.otmm.asset(&v.asset_id).unwrap().field(otmm_fields::ISBN), Some(canonical.as_str()));
    let trail = h
        .app
        .stores
        .audit
        .by_title(&Isbn13::parse(&canonical).unwrap(), PageRequest { limit: 20, cursor: None })
        .await
        .unwrap()
        .items;
    assert!(trail.iter().any(|r| r.action == AuditAction::IdentifiersAligned));

    assert_eq!(
        h.sims.otmm.asset(&tv.asset_id).unwrap().field(otmm_fields::ISBN),
        Some(typo.isbn.as_str()),
        "never rewritten"
    );
    let id = AssetId::parse(&typo.original_asset_id).unwrap();
    let trail =
        h.app.stores.audit.by_asset(&id, PageRequest { limit: 20, cursor: None }).await.unwrap().items;
    let rejected = trail.iter().find(|r| r.action == AuditAction::IsbnInvalid).expect("reported");
    assert_eq!(rejected.outcome, Outcome::Rejected);
    assert!(rejected.detail.contains("check digit"), "{}", rejected.detail);
}

/// Every version of every asset approved in order, then late duplicates of older approvals,
/// as fast as the webhooks go: afterwards Consonance holds exactly one resource per live link.
async fn a_flood_of_approvals_leaves_one_resource_per_link(backend: Backend) {
    let h = Harness::start(backend, "flood", 10).await;
    let mut sent = 0;
    for asset in &h.catalogue.assets {
        for v in &asset.versions {
            h.sims.otmm.approve(&asset.original_asset_id, v.version, APPROVER).unwrap();
            sent += 1;
        }
        if asset.versions.len() > 1 {
            h.sims.otmm.approve(&asset.original_asset_id, 1, APPROVER).unwrap();
            sent += 1;
        }
    }
    let mut report = h.deliver_and_drain(sent).await;
    // A message that met its slot held past `slot_wait` comes back when the holder's lease
    // lapses (`sizing::wait_for_lapse`), which under load can be after one drain's deadline:
    // drain again until every one is done (the count below must still be exact).
    for _ in 0..3 {
        if report.done as usize >= sent {
            break;
        }
        report += h.drain().await;
    }
    assert_eq!(report.done as usize, sent, "{report:?}");
    let mut live: BTreeMap<i64, usize> = BTreeMap::new();
    for work in &h.catalogue.works {
        for p in &work.products {
            let Ok(isbn) = Isbn13::parse(&p.isbn13) else { continue };
            let links = h.app.stores.mapping.links_for_title(&isbn).await.unwrap();
            *live.entry(work.work_id).or_default() +=
                links.iter().filter(|l| l.status == LinkStatus::Linked).count();
        }
    }
    for work in &h.catalogue.works {
        let resources = h.sims.consonance.supporting_resources(work.work_id);
        assert_eq!(
            resources.len(),
            live.get(&work.work_id).copied().unwrap_or(0),
            "work {}: {resources:#?}",
            work.work_id
        );
    }
}

/// `connector_app::once`, the claim / complete / give-back of every side effect on the link
/// path, on both backends' idempotency tables: a failure gives the key back (the retry runs
/// again), a success runs once and keeps its data, and a claim another worker holds is `Held`.
async fn once_runs_a_side_effect_once_and_gives_the_key_back_when_it_fails(backend: Backend) {
    use connector_app::once::{Once, once};
    use connector_app::readiness::ReadinessError;
    let h = Harness::start(backend, "once", 1).await;
    let (app, ttl) = (&h.app, h.app.settings.idempotency_ttl);
    let data = |n: &u32| Some(n.to_string());
    let failed =
        once(app, "test-once:a", ttl, data, || async { Err::<u32, _>(ReadinessError::Busy("down".into())) })
            .await;
    assert!(matches!(failed, Err(ReadinessError::Busy(_))), "{failed:?}");
    let ran = once(app, "test-once:a", ttl, data, || async { Ok::<_, ReadinessError>(7) }).await.unwrap();
    assert!(matches!(ran, Once::Ran(7)), "the failure gave the key back: {ran:?}");
    let again = once(app, "test-once:a", ttl, data, || async { Ok::<_, ReadinessError>(8) }).await.unwrap();
    assert!(matches!(&again, Once::Done(Some(d)) if d == "7"), "ran once, its data kept: {again:?}");

    let claim = app.stores.idempotency.claim("test-once:b", None, app.now(), ttl).await.unwrap();
    assert_eq!(claim, connector_store::Claim::Acquired);
    let held = once(app, "test-once:b", ttl, data, || async { Ok::<_, ReadinessError>(9) }).await.unwrap();
    assert!(matches!(held, Once::Held { .. }), "{held:?}");
}

connector_tests::on_both_backends!(
    a_retried_create_checks_its_earlier_resource_is_still_there,
    once_runs_a_side_effect_once_and_gives_the_key_back_when_it_fails,
    approved_cover_reaches_consonance,
    older_version_arriving_late_changes_nothing,
    newer_version_replaces_the_resource,
    campaign_asset_never_replaces_a_cover,
    otmm_500_then_success,
    consonance_429_is_waited_out,
    unknown_isbn_is_dead_lettered_then_replayed,
    identifiers_are_aligned_and_bad_isbns_never_written,
    a_flood_of_approvals_leaves_one_resource_per_link,
);
