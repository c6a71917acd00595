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

/// The link check asks for a page's works in one query (aliased `work` lookups). A tenant
/// whose complexity limit refuses that query is asked one work at a time: same verdict (the
/// resource deleted by hand found, nothing else), more calls.
async fn the_link_check_asks_one_work_at_a_time_where_a_tenant_refuses_large_queries(backend: Backend) {
    async fn scan(
        backend: Backend,
        name: &str,
        max_complexity: Option<usize>,
    ) -> (reconciler::Summary, usize) {
        let consonance = connector_sim::consonance::ConsonanceSimOptions {
            variant: connector_sim::consonance::SchemaVariant { max_complexity, ..Default::default() },
            ..Default::default()
        };
        let catalogue =
            connector_sim::catalogue::Catalogue::generate(12, 11, connector_sim::catalogue::fixture_now());
        let h = Harness::start_custom(backend, name, catalogue, Default::default(), consonance, None).await;
        h.sims.otmm.set_webhooks_enabled(false);
        approve_everything(&h);
        reconciler::run(&h.app, &options(Mode::Incremental, 50), &forever).await.unwrap();
        h.drain().await;
        let work = &h.catalogue.works[0];
        let victim = h
            .sims
            .consonance
            .supporting_resources(work.work_id)
            .into_iter()
            .next()
            .expect("a linked resource");
        h.sims.consonance.delete_supporting_resource_by_hand(victim.id).unwrap();
        h.sims.consonance.faults().clear_log();
        let full = reconciler::run(&h.app, &options(Mode::Full, 50), &forever).await.unwrap();
        (full, h.sims.consonance.faults().requests().len())
    }
    let (batched, batched_calls) = scan(backend, "lookups-batched", None).await;
    // Room for every document the connector sends about one work, not for a page of them.
    let (limited, limited_calls) = scan(backend, "lookups-limited", Some(LIMIT)).await;
    const LIMIT: usize = 100;
    for s in [&batched, &limited] {
        assert!(s.finished && s.links_checked > 0, "{s:?}");
        assert_eq!(s.drift.get("resource_missing"), Some(&1), "{s:?}");
        assert_eq!(s.drift.len(), 1, "{s:?}");
    }
    assert_eq!(batched.links_checked, limited.links_checked);
    // Refused batches, then one query per work (12 works).
    assert!(limited_calls >= batched_calls + 12, "{limited_calls} calls limited, {batched_calls} batched");
}

fn backfill(page_size: u64, since: Option<chrono::DateTime<chrono::Utc>>) -> Options {
    Options { since, ..options(Mode::Backfill, page_size) }
}

/// A deadline that comes after `pages` pages (the reconciler asks before each one).
fn after_pages(pages: u32) -> impl Fn() -> Duration + Send + Sync {
    let asked = Arc::new(AtomicU32::new(0));
    move || if asked.fetch_add(1, Ordering::SeqCst) < pages { Duration::MAX } else { Duration::ZERO }
}

async fn a_backfill_stopped_half_way_ends_as_an_uninterrupted_one(backend: Backend) {
    let reference = Harness::start(Backend::Embedded, "backfill-ref", 8).await;
    reference.sims.otmm.set_webhooks_enabled(false);
    approve_everything(&reference);
    let whole = reconciler::run(&reference.app, &backfill(100, None), &forever).await.unwrap();
    assert!(whole.finished && whole.enqueued > 0, "{whole:?}");
    reference.drain().await;
    let expected = mapping(&reference).await;
    assert!(expected.len() > 20, "a meaningful mapping: {}", expected.len());

    let h = Harness::start(backend, "backfill", 8).await;
    h.sims.otmm.set_webhooks_enabled(false);
    approve_everything(&h);
    let page = 5;
    let latest_versions = h.catalogue.assets.len() as u64;
    // Stopped in the OTMM pass, then in the Consonance pass, then to the end; the queue is
    // processed in between, as a worker beside it would.
    let first = reconciler::run(&h.app, &backfill(page, None), &after_pages(3)).await.unwrap();
    assert!(!first.finished && first.pages == 3, "{first:?}");
    h.drain().await;
    // The rest of the OTMM pass, then the deadline comes after the first page of works.
    let in_works = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen_works, stop) = (in_works.clone(), in_works.clone());
    let on_page = move |p: &reconciler::Progress| {
        if matches!(p, reconciler::Progress::Works { .. }) {
            seen_works.store(true, Ordering::SeqCst);
        }
    };
    let deadline = move || if stop.load(Ordering::SeqCst) { Duration::ZERO } else { Duration::MAX };
    let second = reconciler::run_observed(&h.app, &backfill(page, None), &deadline, &on_page).await.unwrap();
    assert!(!second.finished && second.works_seen > 0, "stopped in the Consonance pass: {second:?}");
    h.drain().await;
    let third = reconciler::run(&h.app, &backfill(page, None), &forever).await.unwrap();
    assert!(third.finished, "{third:?}");
    assert_eq!(third.assets_seen, 0, "the finished OTMM pass is not walked again: {third:?}");
    // A resumed pass re-reads the assets sharing its cursor's date (the processor edited some
    // of them meanwhile: counting past them would pass over unread ones); nothing more.
    let seen = first.assets_seen + second.assets_seen;
    assert!(
        seen >= latest_versions && seen <= latest_versions + first.assets_seen,
        "re-reads at most what the stopped run read: saw {seen} of {latest_versions}"
    );
    h.drain().await;
    assert_eq!(mapping(&h).await, expected, "the same links as the uninterrupted backfill");

    // Finished, the next backfill starts from the beginning and finds nothing missing.
    let again = reconciler::run(&h.app, &backfill(page, None), &forever).await.unwrap();
    assert!(again.finished && again.assets_seen == latest_versions, "{again:?}");
    assert_eq!(again.enqueued, 0, "{again:?}");
    // And the incremental schedule's own checkpoint was never touched.
    assert!(h.app.stores.checkpoints.get_checkpoint("otmm-assets").await.unwrap().is_none());
}

async fn a_backfill_reads_from_its_look_back_date(backend: Backend) {
    let h = Harness::start(backend, "backfill-since", 6).await;
    h.sims.otmm.set_webhooks_enabled(false);
    let (old, recent) = h.catalogue.assets.split_at(h.catalogue.assets.len() / 2);
    let approve = |assets: &[connector_sim::catalogue::SeedAsset]| {
        for a in assets {
            for v in &a.versions {
                h.sims.otmm.approve(&a.original_asset_id, v.version, "team").unwrap();
            }
        }
    };
    approve(old);
    // OTMM's change dates have whole seconds.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let since = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    approve(recent);
    let s = reconciler::run(&h.app, &backfill(7, Some(since)), &forever).await.unwrap();
    assert!(s.finished, "{s:?}");
    assert_eq!(s.assets_seen, recent.len() as u64, "only the assets changed since {since}: {s:?}");
    h.drain().await;
    let mut recent_linked = 0;
    for (assets, is_recent) in [(old, false), (recent, true)] {
        for a in assets {
            let id = connector_core::AssetId::parse(&a.original_asset_id).unwrap();
            let links = h.app.stores.mapping.links_for_asset(&id).await.unwrap();
            if is_recent {
                recent_linked += usize::from(!links.is_empty());
            } else {
                assert!(links.is_empty(), "{} changed before {since}: not linked", a.original_asset_id);
            }
        }
    }
    assert!(recent_linked > recent.len() / 3, "{recent_linked} of {} recent assets linked", recent.len());
    // Another date starts over from it: the whole catalogue, this time.
    let all = reconciler::run(&h.app, &backfill(7, None), &forever).await.unwrap();
    assert_eq!(all.assets_seen, h.catalogue.assets.len() as u64, "{all:?}");
}

connector_tests::on_both_backends!(
    converges_without_webhooks,
    resumes_from_its_checkpoint,
    clock_skew_loses_nothing,
    full_scan_repairs_a_resource_deleted_by_hand,
    the_link_check_asks_one_work_at_a_time_where_a_tenant_refuses_large_queries,
    a_backfill_stopped_half_way_ends_as_an_uninterrupted_one,
    a_backfill_reads_from_its_look_back_date,
);
