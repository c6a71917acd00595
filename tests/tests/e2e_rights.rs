//! Mission flow 4 end to end: rights kept in step both ways. Rights change in the simulators
//! (OTMM asset fields, Consonance product sales rights); the processor and the daily rights
//! pass withdraw, narrow and restore links in Consonance, audit why, and flag the asset in OTMM.
//! Every case runs on the embedded adapters and on moto.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use connector_app::reconciler::{self, Mode, Options, Summary};
use connector_core::AuditAction;
use connector_core::event::{ConsonanceEvent, ConsonanceEventType, EventId, FlowMessage, InboundEvent};
use connector_core::rights_eval::RightsReason;
use connector_core::{AssetId, AssetLink, AssetRole, AuditRecord, Flow, Isbn13, LinkKey, LinkStatus, WorkId};
use connector_sim::catalogue::{SeedAsset, SeedWork, otmm_fields};
use connector_sim::consonance::ResourceRec;
use connector_store::PageRequest;
use connector_tests::e2e::{Backend, Harness};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A front cover with plain rights (WORLD, no expiry, all channels) and a canonical ISBN, on a
/// work with at least `min_products` products.
fn pick(h: &Harness, min_products: usize) -> (SeedAsset, SeedWork) {
    h.catalogue
        .assets
        .iter()
        .filter(|a| a.asset_type == "Front Cover" && a.territory == "WORLD" && a.expiration_date.is_none())
        .filter(|a| a.channels.is_empty() && !a.deleted)
        .filter(|a| Isbn13::parse(&a.isbn).is_ok_and(|i| i.as_str() == a.isbn))
        .find_map(|a| {
            let w = h.catalogue.works.iter().find(|w| w.products.iter().any(|p| p.isbn13 == a.isbn))?;
            (w.products.len() >= min_products).then(|| (a.clone(), w.clone()))
        })
        .expect("a plain front cover in the catalogue")
}

/// A clock the test moves.
fn clock(h: &mut Harness, start: DateTime<Utc>) -> Arc<Mutex<DateTime<Utc>>> {
    let now = Arc::new(Mutex::new(start));
    let c = now.clone();
    h.app.clock = Arc::new(move || *c.lock().unwrap());
    now
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    let d = day(s);
    Utc.from_utc_datetime(&d.and_hms_opt(9, 0, 0).unwrap())
}

fn key(asset: &SeedAsset) -> LinkKey {
    LinkKey::for_asset(
        Isbn13::parse(&asset.isbn).unwrap(),
        AssetRole::FrontCover,
        &AssetId::parse(&asset.original_asset_id).unwrap(),
    )
}

async fn link(h: &Harness, asset: &SeedAsset) -> AssetLink {
    h.app.stores.mapping.get_link(&key(asset)).await.unwrap().expect("link recorded")
}

fn resources(h: &Harness, work: &SeedWork, asset: &SeedAsset) -> Vec<ResourceRec> {
    let marker = format!("otmm:{}:", asset.original_asset_id);
    h.sims
        .consonance
        .supporting_resources(work.work_id)
        .into_iter()
        .filter(|r| r.caption.as_deref().is_some_and(|c| c.contains(&marker)))
        .collect()
}

async fn trail(h: &Harness, asset: &SeedAsset) -> Vec<AuditRecord> {
    let id = AssetId::parse(&asset.original_asset_id).unwrap();
    h.app.stores.audit.by_asset(&id, PageRequest { limit: 200, cursor: None }).await.unwrap().items
}

async fn by_title(h: &Harness, isbn: &str) -> Vec<AuditRecord> {
    let isbn = Isbn13::parse(isbn).unwrap();
    h.app.stores.audit.by_title(&isbn, PageRequest { limit: 200, cursor: None }).await.unwrap().items
}

fn flag(h: &Harness, version_id: &str) -> String {
    h.sims.otmm.asset(version_id).unwrap().field(otmm_fields::RIGHTS_FLAG).unwrap_or_default().to_string()
}

async fn rights_pass(h: &Harness) -> Summary {
    let forever = || Duration::MAX;
    reconciler::run(&h.app, &Options { mode: Mode::Rights, ..Options::default() }, &forever).await.unwrap()
}

fn all_worldwide(h: &Harness, work: &SeedWork) {
    for p in &work.products {
        h.sims.consonance.set_sales_rights(p.product_id, true, &[], &[]).unwrap();
    }
}

async fn expiry_withdraws_reports_once_and_a_restored_right_relinks(backend: Backend) {
    let mut h = Harness::start(backend, "rights_expiry", 12).await;
    let now = clock(&mut h, at("2026-12-01"));
    let (asset, work) = pick(&h, 1);
    all_worldwide(&h, &work);
    let version = asset.versions.len() as u32;
    let version_id = h.sims.otmm.approve(&asset.original_asset_id, version, "rights.tester").unwrap();
    h.sims.otmm.set_field(&version_id, otmm_fields::EXPIRATION_DATE, "2026-12-10").unwrap();
    h.deliver_and_drain(2).await;
    let linked = link(&h, &asset).await;
    assert_eq!(linked.status, LinkStatus::Linked);
    assert_eq!(linked.rights.as_ref().and_then(|r| r.window.expiry), Some(day("2026-12-10")));
    assert_eq!(resources(&h, &work, &asset).len(), 1);

    // Nine days before: reported once, however often the pass runs.
    let first = rights_pass(&h).await.rights.expect("rights summary");
    assert_eq!((first.expiring_reported, first.withdrawals_enqueued), (1, 0), "{first:?}");
    *now.lock().unwrap() = at("2026-12-02");
    let second = rights_pass(&h).await.rights.unwrap();
    assert_eq!(second.expiring_reported, 0, "{second:?}");
    let expiring: Vec<_> =
        trail(&h, &asset).await.into_iter().filter(|r| r.action == AuditAction::RightsExpiring).collect();
    assert_eq!(expiring.len(), 1, "{expiring:?}");
    assert_eq!(expiring[0].flow, Flow::RightsSync);
    assert!(expiring[0].detail.contains("expire on 2026-12-10"), "{}", expiring[0].detail);

    // The last day of use is still a day of use; the day after, the link is withdrawn.
    *now.lock().unwrap() = at("2026-12-10");
    assert_eq!(rights_pass(&h).await.rights.unwrap().withdrawals_enqueued, 0);
    *now.lock().unwrap() = at("2026-12-11");
    let pass = rights_pass(&h).await.rights.unwrap();
    assert_eq!(pass.withdrawals_enqueued, 1, "{pass:?}");
    let report = h.drain().await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    let withdrawn = link(&h, &asset).await;
    assert_eq!(withdrawn.status, LinkStatus::Withdrawn);
    assert!(withdrawn.product_ids.is_empty() && withdrawn.consonance_resource_id.is_none());
    assert!(
        withdrawn
            .rights_denials
            .iter()
            .all(|d| d.reasons.contains(&RightsReason::Expired { expiry: day("2026-12-10") })),
        "{:?}",
        withdrawn.rights_denials
    );
    assert!(resources(&h, &work, &asset).is_empty(), "the resource is gone from Consonance");
    let audit = trail(&h, &asset).await;
    let w = audit.iter().find(|r| r.action == AuditAction::LinkWithdrawn).expect("withdrawal audited");
    assert_eq!(w.flow, Flow::RightsSync);
    assert!(w.detail.contains("expired 2026-12-10"), "{}", w.detail);
    let f = flag(&h, &version_id);
    assert!(f.starts_with("withdrawn 2026-12-11") && f.ends_with("expired 2026-12-10"), "{f}");
    // The next pass finds nothing more to do.
    assert_eq!(rights_pass(&h).await.enqueued, 0);

    // OTMM extends the rights: linked again, flag cleared.
    h.sims.otmm.set_field(&version_id, otmm_fields::EXPIRATION_DATE, "2027-12-31").unwrap();
    h.deliver_and_drain(3).await;
    let restored = link(&h, &asset).await;
    assert_eq!(restored.status, LinkStatus::Linked);
    let now_there = resources(&h, &work, &asset);
    assert_eq!(now_there.len(), 1, "{now_there:?}");
    assert_eq!(restored.consonance_resource_id, Some(now_there[0].id.to_string()));
    let all: std::collections::BTreeSet<i64> = work.products.iter().map(|p| p.product_id).collect();
    assert_eq!(now_there[0].product_ids, all);
    assert!(trail(&h, &asset).await.iter().any(|r| r.action == AuditAction::LinkRestored));
    assert!(flag(&h, &version_id).starts_with("cleared 2026-12-11"), "{}", flag(&h, &version_id));
}

async fn a_territory_removed_on_the_asset_narrows_the_link(backend: Backend) {
    let mut h = Harness::start(backend, "rights_narrow", 12).await;
    clock(&mut h, at("2026-12-01"));
    let (asset, work) = pick(&h, 2);
    all_worldwide(&h, &work);
    // The first product is sold in GB only; the others worldwide.
    let uk_only = work.products[0].product_id;
    h.sims.consonance.set_sales_rights(uk_only, false, &["GB"], &[]).unwrap();
    let version = asset.versions.len() as u32;
    let version_id = h.sims.otmm.approve(&asset.original_asset_id, version, "rights.tester").unwrap();
    h.deliver_and_drain(1).await;
    let before = resources(&h, &work, &asset);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].product_ids.len(), work.products.len());

    // OTMM: the asset may now be shown in GB and IE only.
    h.sims.otmm.set_field(&version_id, otmm_fields::TERRITORY, "GB IE").unwrap();
    let report = h.deliver_and_drain(2).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    let narrowed = link(&h, &asset).await;
    assert_eq!(
        (narrowed.status, narrowed.product_ids.iter().map(|p| p.0).collect::<Vec<_>>()),
        (LinkStatus::Linked, vec![uk_only])
    );
    let after = resources(&h, &work, &asset);
    assert_eq!(after.len(), 1, "the old resource is replaced, not kept: {after:?}");
    assert_ne!(after[0].id, before[0].id);
    assert_eq!(after[0].product_ids, [uk_only].into());
    assert_eq!(narrowed.consonance_resource_id, Some(after[0].id.to_string()));
    let denied: Vec<i64> = narrowed.rights_denials.iter().map(|d| d.product_id.0).collect();
    let expected: Vec<i64> = work.products.iter().map(|p| p.product_id).filter(|p| *p != uk_only).collect();
    assert_eq!(denied, expected);
    let audit = trail(&h, &asset).await;
    let n = audit.iter().find(|r| r.action == AuditAction::LinkNarrowed).expect("narrowing audited");
    assert!(n.detail.contains("sold in WORLD -GB -IE where the asset may not be shown"), "{}", n.detail);
    assert_eq!(n.data["removed"], serde_json::json!(expected));
    assert!(flag(&h, &version_id).starts_with("narrowed "), "{}", flag(&h, &version_id));
}

async fn a_product_newly_sold_where_the_asset_may_not_be_shown_is_re_evaluated_from_consonance(
    backend: Backend,
) {
    let mut h = Harness::start(backend, "rights_consonance", 12).await;
    clock(&mut h, at("2026-12-01"));
    let (asset, work) = pick(&h, 2);
    for p in &work.products {
        h.sims.consonance.set_sales_rights(p.product_id, false, &["GB"], &[]).unwrap();
    }
    let version = asset.versions.len() as u32;
    let version_id = h.sims.otmm.approve(&asset.original_asset_id, version, "rights.tester").unwrap();
    h.sims.otmm.set_field(&version_id, otmm_fields::TERRITORY, "GB IE").unwrap();
    h.deliver_and_drain(2).await;
    assert_eq!(link(&h, &asset).await.product_ids.len(), work.products.len(), "GB-only products are covered");

    // Consonance: the last product is now sold in the US too. A change notification arrives.
    let widened = work.products.last().unwrap().product_id;
    h.sims.consonance.set_sales_rights(widened, false, &["GB", "US"], &[]).unwrap();
    let event = InboundEvent::Consonance(ConsonanceEvent {
        event_id: EventId::parse("consonance-rights-1").unwrap(),
        event_type: ConsonanceEventType::WorkChanged,
        work_id: Some(WorkId(work.work_id)),
        product_id: None,
        isbn: None,
        changed_at: h.app.now(),
        fields: vec!["forSaleCountryCodes".into()],
    });
    h.app
        .stores
        .queue
        .send(&FlowMessage::new(event, h.app.now(), "consonance-notification").to_json())
        .await
        .unwrap();
    let report = h.drain().await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");

    let l = link(&h, &asset).await;
    assert!(!l.product_ids.iter().any(|p| p.0 == widened), "{:?}", l.product_ids);
    assert_eq!(l.product_ids.len(), work.products.len() - 1);
    let denial =
        l.rights_denials.iter().find(|d| d.product_id.0 == widened).expect("denial kept on the link");
    assert!(
        matches!(&denial.reasons[..], [RightsReason::TerritoryNotCovered { uncovered }] if uncovered.to_string() == "US"),
        "{denial:?}"
    );
    let after = resources(&h, &work, &asset);
    assert_eq!(after.len(), 1);
    assert!(!after[0].product_ids.contains(&widened));
    // The Consonance side is audited by title: the sales-rights change, then the narrowing.
    let widened_isbn = &work.products.last().unwrap().isbn13;
    assert!(by_title(&h, widened_isbn).await.iter().any(|r| r.action == AuditAction::RightsSalesChanged));
    assert!(
        trail(&h, &asset)
            .await
            .iter()
            .any(|r| r.action == AuditAction::LinkNarrowed && r.detail.contains("sold in US"))
    );
}

connector_tests::on_both_backends!(
    expiry_withdraws_reports_once_and_a_restored_right_relinks,
    a_territory_removed_on_the_asset_narrows_the_link,
    a_product_newly_sold_where_the_asset_may_not_be_shown_is_re_evaluated_from_consonance,
);
