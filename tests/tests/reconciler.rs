//! The reconciler makes the connector converge without webhooks (issue 5): against the
//! simulators, on the embedded adapters and on moto.

use connector_app::reconciler::{self, Mode, Options};
use connector_core::{Isbn13, LinkStatus};
use connector_tests::e2e::{Backend, Harness};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// (isbn, role, slot, version, status) of every link: what "the same mapping" means.
async fn mapping(h: &Harness) -> BTreeSet<(String, String, String, u32, String)> {
    let mut out = BTreeSet::new();
    for work in &h.catalogue.works {
        for p in &work.products {
            let Ok(isbn) = Isbn13::parse(&p.isbn13) else { continue };
            for l in h.app.stores.mapping.links_for_title(&isbn).await.unwrap() {
                out.insert((
                    l.key.isbn.to_string(),
                    l.key.role.to_string(),
                    l.key.slot.clone(),
                    l.approval.version,
                    format!("{:?}", l.status),
                ));
            }
        }
    }
    out
}

/// Every version of every asset approved in order, as asset teams would over time.
fn approve_everything(h: &Harness) -> usize {
    let mut n = 0;
    for a in &h.catalogue.assets {
        for v in &a.versions {
            h.sims.otmm.approve(&a.original_asset_id, v.version, "team").unwrap();
            n += 1;
        }
    }
    n
}

fn forever() -> Duration {
    Duration::MAX
}

fn options(mode: Mode, page_size: u64) -> Options {
    Options { mode, page_size, ..Options::default() }
}

async fn converges_without_webhooks(backend: Backend) {
    // The webhook path, for reference.
    let reference = Harness::start(Backend::Embedded, "reference", 8).await;
    let n = approve_everything(&reference);
    reference.deliver_and_drain(n).await;
    let expected = mapping(&reference).await;
    assert!(expected.len() > 20, "a meaningful mapping: {}", expected.len());

    // Webhooks off entirely: only the reconciler sees the approvals.
    let h = Harness::start(backend, "converge", 8).await;
    h.sims.otmm.set_webhooks_enabled(false);
    approve_everything(&h);
    let summary = reconciler::run(&h.app, &options(Mode::Incremental, 7), &forever).await.unwrap();
    assert!(summary.finished && summary.enqueued > 0, "{summary:?}");
    h.drain().await;
    assert_eq!(mapping(&h).await, expected, "the reconciler alone converges to the webhook path's mapping");

    // Run again with nothing changed: nothing to do.
    let again = reconciler::run(&h.app, &options(Mode::Incremental, 7), &forever).await.unwrap();
    assert_eq!(again.enqueued, 0, "{again:?}");
    assert!(h.sims.otmm.deliveries().is_empty(), "no webhook was sent");
}

async fn resumes_from_its_checkpoint(backend: Backend) {
    let h = Harness::start(backend, "resume", 8).await;
    h.sims.otmm.set_webhooks_enabled(false);
    approve_everything(&h);
    let page = 5;
    // The deadline comes after 3 pages.
    let pages = Arc::new(AtomicU32::new(0));
    let p = pages.clone();
    let deadline = move || if p.fetch_add(1, Ordering::SeqCst) < 3 { Duration::MAX } else { Duration::ZERO };
    let first = reconciler::run(&h.app, &options(Mode::Incremental, page), &deadline).await.unwrap();
    assert!(!first.finished, "{first:?}");
    assert_eq!(first.pages, 3);
    let second = reconciler::run(&h.app, &options(Mode::Incremental, page), &forever).await.unwrap();
    assert!(second.finished);
    let latest_versions = h.catalogue.assets.len() as u64;
    let seen = first.assets_seen + second.assets_seen;
    assert!(
        seen >= latest_versions && seen <= latest_versions + page,
        "repeats at most one page: saw {seen} of {latest_versions}"
    );
    h.drain().await;

    let reference = Harness::start(Backend::Embedded, "resume-ref", 8).await;
    reference.sims.otmm.set_webhooks_enabled(false);
    approve_everything(&reference);
    reconciler::run(&reference.app, &options(Mode::Incremental, 100), &forever).await.unwrap();
    reference.drain().await;
    assert_eq!(mapping(&h).await, mapping(&reference).await);
}

async fn clock_skew_loses_nothing(backend: Backend) {
    let mut h = Harness::start(backend, "skew", 6).await;
    h.sims.otmm.set_webhooks_enabled(false);
    approve_everything(&h);
    reconciler::run(&h.app, &options(Mode::Incremental, 50), &forever).await.unwrap();
    h.drain().await;
    for skew in [-120i64, 120] {
        // The connector's clock is two minutes off OTMM's; new versions arrive meanwhile.
        h.app.clock = Arc::new(move || chrono::Utc::now() + chrono::Duration::seconds(skew));
        let mut added = Vec::new();
        // Covers whose usage rights cover their products (flow 4 withholds the others).
        let plain =
            |a: &&connector_sim::catalogue::SeedAsset| a.territory == "WORLD" && a.expiration_date.is_none();
        for a in h.catalogue.assets.iter().filter(|a| a.asset_type == "Front Cover").filter(plain).take(3) {
            let id = h.sims.otmm.add_version(&a.original_asset_id, "In Review").unwrap();
            let version = h.sims.otmm.asset(&id).unwrap().version;
            h.sims.otmm.approve(&a.original_asset_id, version, "team").unwrap();
            added.push((a, version));
        }
        let s = reconciler::run(&h.app, &options(Mode::Incremental, 50), &forever).await.unwrap();
        assert!(s.finished);
        h.drain().await;
        for (a, version) in added {
            let links = h
                .app
                .stores
                .mapping
                .links_for_asset(&connector_core::AssetId::parse(&a.original_asset_id).unwrap())
                .await
                .unwrap();
            assert!(
                links.iter().any(|l| l.approval.version == version && l.status == LinkStatus::Linked),
                "skew {skew}s: v{version} of {} linked",
                a.original_asset_id
            );
        }
    }
}

async fn full_scan_repairs_a_resource_deleted_by_hand(backend: Backend) {
    let h = Harness::start(backend, "repair", 6).await;
    h.sims.otmm.set_webhooks_enabled(false);
    approve_everything(&h);
    reconciler::run(&h.app, &options(Mode::Incremental, 50), &forever).await.unwrap();
    h.drain().await;

    let work = &h.catalogue.works[0];
    let victim =
        h.sims.consonance.supporting_resources(work.work_id).into_iter().next().expect("a linked resource");
    let marker = victim.caption.clone().unwrap();
    h.sims.consonance.delete_supporting_resource_by_hand(victim.id).unwrap();

    // The watermark cannot see it.
    let incremental = reconciler::run(&h.app, &options(Mode::Incremental, 50), &forever).await.unwrap();
    h.drain().await;
    assert!(!incremental.drift.contains_key("resource_missing"));
    assert!(
        h.sims
            .consonance
            .supporting_resources(work.work_id)
            .iter()
            .all(|r| r.caption.as_ref() != Some(&marker))
    );

    // The full scan does.
    let full = reconciler::run(&h.app, &options(Mode::Full, 50), &forever).await.unwrap();
    assert_eq!(full.drift.get("resource_missing"), Some(&1), "{full:?}");
    h.drain().await;
    let now = h.sims.consonance.supporting_resources(work.work_id);
    let restored = now.iter().find(|r| r.caption.as_ref() == Some(&marker)).expect("created again");
    assert_ne!(restored.id, victim.id);
    let isbns: Vec<Isbn13> = work.products.iter().filter_map(|p| Isbn13::parse(&p.isbn13).ok()).collect();
    let mut found = false;
    for isbn in isbns {
        for l in h.app.stores.mapping.links_for_title(&isbn).await.unwrap() {
            if l.consonance_resource_id == Some(restored.id.to_string()) {
                assert_eq!(l.status, LinkStatus::Linked);
                found = true;
            }
        }
    }
    assert!(found, "the link names the new resource");
    // And it is audited.
    let again = reconciler::run(&h.app, &options(Mode::Full, 50), &forever).await.unwrap();
    assert_eq!(again.drift.get("resource_missing"), None, "repaired for good: {again:?}");
}

connector_tests::on_both_backends!(
    converges_without_webhooks,
    resumes_from_its_checkpoint,
    clock_skew_loses_nothing,
    full_scan_repairs_a_resource_deleted_by_hand,
);
