//! The conformance suite: the same cases for every adapter of every port. Each case is a
//! public async fn taking a [`Context`]; `tests/tests/conformance.rs` runs every case against
//! the embedded adapters and against DynamoDB/SQS/S3 on moto. A case panics on failure, with
//! a message that names the broken promise.

use crate::{
    Claim, ConflictReason, IdempotencyTtl, PART_SIZE, PageRequest, StoreError, Stores, new_audit_id,
};
use bytes::Bytes;
use chrono::{DateTime, Duration as Days, TimeZone, Utc};
use connector_core::{
    Actor, Approval, AssetId, AssetLink, AssetRole, AuditAction, AuditRecord, Checkpoint, Flow, Isbn13,
    LinkKey, LinkStatus, Outcome, ProductId, TitleRecord, WorkId,
};
use futures::StreamExt;
use std::collections::BTreeSet;
use std::time::Duration;

/// What a case runs against. `max_receives` must be what the queue was created with.
pub struct Context {
    pub stores: Stores,
    pub max_receives: u32,
    /// Unique per case, so cases can share a backend (e.g. object key prefixes).
    pub name: String,
}

/// Names of every case, for the runner's macro and the closing report.
pub const CASES: &[&str] = &[
    "title_create_only_once",
    "title_update_needs_current_revision",
    "concurrent_writers_one_wins",
    "link_versions_are_monotonic",
    "link_from_other_asset_needs_later_approval",
    "link_write_and_audit_are_atomic",
    "links_by_title_and_by_asset",
    "titles_page_through_all",
    "audit_newest_first_with_paging",
    "audit_order_within_one_millisecond",
    "idempotency_concurrent_claims_one_wins",
    "idempotency_completed_returns_data",
    "idempotency_payload_mismatch",
    "idempotency_expiry_and_release",
    "checkpoint_revisions",
    "documents_revisions_audit_and_paging",
    "queue_send_receive_ack",
    "queue_redelivery_after_visibility_timeout",
    "queue_dead_letter_after_max_receives_and_redrive",
    "queue_retry_later_and_selective_redrive",
    "queue_dead_letter_now",
    "staging_put_get_checksums_and_list",
    "staging_stream_multipart",
    "staging_source_failures_are_transient",
];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).single().expect("valid date")
}

/// A distinct valid ISBN per (case, n).
fn isbn(ctx: &Context, n: u32) -> Isbn13 {
    let h = ctx.name.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 100_000;
    Isbn13::from_prefix12(&format!("9781{h:05}{n:03}")).expect("valid prefix")
}

fn asset(n: u64) -> AssetId {
    AssetId::parse(&format!("{n:040x}")).expect("hex id")
}

fn title(ctx: &Context, n: u32) -> TitleRecord {
    TitleRecord {
        isbn: isbn(ctx, n),
        work_id: WorkId(1000 + i64::from(n)),
        product_id: ProductId(10_000 + i64::from(n)),
        title: format!("Title {n}"),
        imprint: Some("Harbour Press".into()),
        product_form: Some("BB".into()),
        publication_date: None,
        sales_rights: None,
        updated_at: t0(),
        revision: 0,
    }
}

fn audit(isbn: Option<&Isbn13>, asset_id: Option<&AssetId>, action: AuditAction) -> AuditRecord {
    tagged(isbn, asset_id, action, action.as_str())
}

/// A record told apart from its neighbours by `tag` (its detail), for order and paging checks.
fn tagged(isbn: Option<&Isbn13>, asset_id: Option<&AssetId>, action: AuditAction, tag: &str) -> AuditRecord {
    let at = Utc::now();
    AuditRecord {
        id: new_audit_id(at),
        at,
        flow: Flow::LinkApprovedAsset,
        action,
        outcome: Outcome::Applied,
        isbn: isbn.cloned(),
        asset_id: asset_id.cloned(),
        asset_version: Some(1),
        actor: Some(Actor { user_id: "mpatel".into(), name: Some("M. Patel".into()) }),
        correlation_id: "conformance".into(),
        detail: tag.to_string(),
        data: serde_json::Value::Null,
    }
}

fn link(isbn: &Isbn13, role: AssetRole, asset_id: &AssetId, version: u32, minute: i64) -> AssetLink {
    AssetLink {
        key: LinkKey::for_asset(isbn.clone(), role, asset_id),
        version_asset_id: None,
        approval: Approval { asset_id: asset_id.clone(), version, approved_at: t0() + Days::minutes(minute) },
        status: LinkStatus::Linked,
        approved_by: None,
        work_id: Some(WorkId(1)),
        product_ids: vec![ProductId(10), ProductId(11)],
        consonance_resource_id: Some(format!("sr-{version}")),
        rights: None,
        rights_denials: Vec::new(),
        updated_at: t0(),
        revision: 0,
    }
}

fn conflict_reason(e: StoreError) -> ConflictReason {
    match e {
        StoreError::Conflict { reason, .. } => reason,
        other => panic!("expected a conditional-write conflict, got: {other}"),
    }
}

pub async fn title_create_only_once(ctx: &Context) {
    let m = &ctx.stores.mapping;
    let t = title(ctx, 1);
    let written = m.put_title(&t, None, &[]).await.expect("first create");
    assert_eq!(written.revision, 1, "a new item starts at revision 1");
    let again = m.put_title(&t, None, &[]).await.expect_err("create-only write must refuse an existing item");
    assert_eq!(conflict_reason(again), ConflictReason::AlreadyExists);
    assert_eq!(m.get_title(&t.isbn).await.unwrap(), Some(written));
    assert_eq!(m.get_title(&isbn(ctx, 999)).await.unwrap(), None, "an unknown title reads as None");
}

pub async fn title_update_needs_current_revision(ctx: &Context) {
    let m = &ctx.stores.mapping;
    let mut t = m.put_title(&title(ctx, 1), None, &[]).await.unwrap();
    t.title = "Renamed".into();
    let v2 = m.put_title(&t, Some(1), &[]).await.expect("update at the current revision");
    assert_eq!(v2.revision, 2);
    t.title = "Lost update".into();
    let err = m.put_title(&t, Some(1), &[]).await.expect_err("update from a stale read must fail");
    assert_eq!(conflict_reason(err), ConflictReason::RevisionChanged { expected: Some(1), found: Some(2) });
    assert_eq!(m.get_title(&t.isbn).await.unwrap().unwrap().title, "Renamed");
}

pub async fn concurrent_writers_one_wins(ctx: &Context) {
    let m = ctx.stores.mapping.clone();
    let base = m.put_title(&title(ctx, 1), None, &[]).await.unwrap();
    let writers = (0..6).map(|i| {
        let (m, mut t) = (m.clone(), base.clone());
        t.title = format!("writer {i}");
        tokio::spawn(async move { m.put_title(&t, Some(1), &[]).await })
    });
    let results = futures::future::join_all(writers).await;
    let wins = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(wins, 1, "exactly one of six writers at the same revision may win");
    for r in results {
        if let Ok(Err(e)) = r {
            assert!(e.is_conflict(), "losers get a conflict, not {e}");
        }
    }
}

pub async fn link_versions_are_monotonic(ctx: &Context) {
    let m = &ctx.stores.mapping;
    let i = isbn(ctx, 1);
    let a = asset(1);
    let v4 = m.put_link(&link(&i, AssetRole::FrontCover, &a, 4, 40), None, &[]).await.unwrap();
    let err = m
        .put_link(&link(&i, AssetRole::FrontCover, &a, 3, 30), Some(v4.revision), &[])
        .await
        .expect_err("version 3 must not overwrite version 4");
    assert_eq!(conflict_reason(err), ConflictReason::StaleVersion { stored_version: 4, incoming_version: 3 });
    // The same version may be rewritten (status changes), and a newer one replaces it.
    let mut withdrawn = v4.clone();
    withdrawn.status = LinkStatus::Withdrawn;
    let w = m.put_link(&withdrawn, Some(v4.revision), &[]).await.expect("same version, new status");
    let v5 = m.put_link(&link(&i, AssetRole::FrontCover, &a, 5, 50), Some(w.revision), &[]).await.unwrap();
    let stored = m.get_link(&v5.key).await.unwrap().unwrap();
    assert_eq!((stored.approval.version, stored.status, stored.revision), (5, LinkStatus::Linked, 3));
}

pub async fn link_from_other_asset_needs_later_approval(ctx: &Context) {
    let m = &ctx.stores.mapping;
    let i = isbn(ctx, 1);
    let current = m.put_link(&link(&i, AssetRole::FrontCover, &asset(2), 1, 100), None, &[]).await.unwrap();
    let older_design = link(&i, AssetRole::FrontCover, &asset(1), 7, 50);
    let err = m
        .put_link(&older_design, Some(current.revision), &[])
        .await
        .expect_err("an earlier approval of another asset loses");
    assert!(matches!(conflict_reason(err), ConflictReason::StaleVersion { .. }));
    let newer_design = link(&i, AssetRole::FrontCover, &asset(3), 1, 200);
    m.put_link(&newer_design, Some(current.revision), &[])
        .await
        .expect("a later approval of another asset wins");
    assert_eq!(m.get_link(&newer_design.key).await.unwrap().unwrap().approval.asset_id, asset(3));
}

pub async fn link_write_and_audit_are_atomic(ctx: &Context) {
    let (m, log) = (&ctx.stores.mapping, &ctx.stores.audit);
    let i = isbn(ctx, 1);
    let a = asset(1);
    let first = link(&i, AssetRole::Spine, &a, 2, 20);
    m.put_link(&first, None, &[audit(Some(&i), Some(&a), AuditAction::LinkCreated)]).await.unwrap();
    let refused = m
        .put_link(
            &link(&i, AssetRole::Spine, &a, 1, 10),
            Some(1),
            // Must not appear.
            &[audit(Some(&i), Some(&a), AuditAction::LinkReplaced)],
        )
        .await;
    assert!(refused.is_err());
    let trail = log.by_title(&i, PageRequest { limit: 50, cursor: None }).await.unwrap().items;
    let actions: Vec<AuditAction> = trail.iter().map(|r| r.action).collect();
    assert_eq!(actions, vec![AuditAction::LinkCreated], "a refused write leaves no audit record behind");
    let by_asset = log.by_asset(&a, PageRequest { limit: 50, cursor: None }).await.unwrap().items;
    assert_eq!(by_asset.len(), 1);
    assert_eq!(by_asset[0].actor.as_ref().map(|x| x.user_id.as_str()), Some("mpatel"));
}

pub async fn links_by_title_and_by_asset(ctx: &Context) {
    let m = &ctx.stores.mapping;
    let (i1, i2) = (isbn(ctx, 1), isbn(ctx, 2));
    let shared_photo = asset(9);
    let links = [
        link(&i1, AssetRole::FrontCover, &asset(1), 1, 1),
        link(&i1, AssetRole::AuthorPhoto, &shared_photo, 1, 1),
        // Multi-slot role: two banners for one title are two links.
        link(&i1, AssetRole::CampaignBanner, &asset(3), 1, 1),
        link(&i1, AssetRole::CampaignBanner, &asset(4), 1, 1),
        link(&i2, AssetRole::AuthorPhoto, &shared_photo, 1, 1),
    ];
    for l in &links {
        m.put_link(l, None, &[]).await.unwrap();
    }
    let of_title: BTreeSet<LinkKey> =
        m.links_for_title(&i1).await.unwrap().into_iter().map(|l| l.key).collect();
    assert_eq!(of_title, links[..4].iter().map(|l| l.key.clone()).collect());
    let of_asset: BTreeSet<Isbn13> =
        m.links_for_asset(&shared_photo).await.unwrap().into_iter().map(|l| l.key.isbn).collect();
    assert_eq!(of_asset, [i1, i2].into_iter().collect(), "one author photo linked to two titles");
    assert!(m.links_for_asset(&asset(77)).await.unwrap().is_empty());
}

pub async fn titles_page_through_all(ctx: &Context) {
    let m = &ctx.stores.mapping;
    let mine: BTreeSet<Isbn13> = (1..=7).map(|n| isbn(ctx, n)).collect();
    for n in 1..=7 {
        m.put_title(&title(ctx, n), None, &[]).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let page = m.list_titles(PageRequest { limit: 3, cursor }).await.unwrap();
        assert!(page.items.len() <= 3, "a page holds at most `limit` items");
        seen.extend(page.items.into_iter().map(|t| t.isbn).filter(|i| mine.contains(i)));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let unique: BTreeSet<Isbn13> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "paging returns no title twice");
    assert_eq!(unique, mine, "paging reaches every title");
}

pub async fn audit_newest_first_with_paging(ctx: &Context) {
    let log = &ctx.stores.audit;
    let i = isbn(ctx, 1);
    let (a, b) = (asset(1), asset(2));
    let mut written = Vec::new();
    for n in 0..25 {
        let asset_id = if n % 5 == 0 { &b } else { &a };
        let rec = tagged(Some(&i), Some(asset_id), AuditAction::LinkCreated, &format!("step.{n:02}"));
        log.append(std::slice::from_ref(&rec)).await.unwrap();
        written.push(rec);
        if n % 7 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let mut got = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = log.by_title(&i, PageRequest { limit: 10, cursor }).await.unwrap();
        pages += 1;
        got.extend(page.items.into_iter().map(|r| r.detail));
        cursor = page.next;
        if cursor.is_none() || pages > 10 {
            break;
        }
    }
    let expected: Vec<String> = written.iter().rev().map(|r| r.detail.clone()).collect();
    assert_eq!(got, expected, "newest first, every record once, across pages");
    assert!(pages >= 3, "25 records in pages of 10 take at least 3 pages");
    let for_b = log.by_asset(&b, PageRequest { limit: 100, cursor: None }).await.unwrap().items;
    let expected_b: Vec<String> =
        written.iter().rev().filter(|r| r.asset_id == Some(b.clone())).map(|r| r.detail.clone()).collect();
    assert_eq!(for_b.iter().map(|r| r.detail.clone()).collect::<Vec<_>>(), expected_b);
    // Records without a title are kept and found by asset.
    let orphan = audit(None, Some(&asset(3)), AuditAction::IsbnInvalid);
    log.append(std::slice::from_ref(&orphan)).await.unwrap();
    let found = log.by_asset(&asset(3), PageRequest { limit: 5, cursor: None }).await.unwrap().items;
    assert_eq!(found, vec![orphan]);
}

pub async fn audit_order_within_one_millisecond(ctx: &Context) {
    let log = &ctx.stores.audit;
    let i = isbn(ctx, 1);
    let at = Utc::now();
    // Ids made in the same millisecond still sort in the order they were made.
    let records: Vec<AuditRecord> = (0..5)
        .map(|n| AuditRecord {
            id: new_audit_id(at),
            at,
            ..tagged(Some(&i), None, AuditAction::LinkCreated, &format!("same.ms.{n}"))
        })
        .collect();
    log.append(&records).await.unwrap();
    let got = log.by_title(&i, PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    let expected: Vec<AuditRecord> = records.into_iter().rev().collect();
    assert_eq!(got, expected);
    let dup = log.append(&expected[..1]).await.expect_err("an audit id is written once");
    assert!(dup.is_conflict());
}

pub async fn idempotency_concurrent_claims_one_wins(ctx: &Context) {
    let key = format!("{}-event-1", ctx.name);
    let ttl = IdempotencyTtl::default();
    let claims = (0..8).map(|_| {
        let (store, key) = (ctx.stores.idempotency.clone(), key.clone());
        tokio::spawn(async move { store.claim(&key, Some("hash-a"), t0(), ttl).await })
    });
    let results: Vec<Claim> = futures::future::join_all(claims)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("claim"))
        .collect();
    let acquired = results.iter().filter(|c| **c == Claim::Acquired).count();
    assert_eq!(acquired, 1, "exactly one concurrent claim wins: {results:?}");
    assert!(results.iter().all(|c| matches!(c, Claim::Acquired | Claim::InProgress { .. })));
}

pub async fn idempotency_completed_returns_data(ctx: &Context) {
    let store = &ctx.stores.idempotency;
    let key = format!("{}-event-2", ctx.name);
    let ttl = IdempotencyTtl::default();
    assert_eq!(store.claim(&key, None, t0(), ttl).await.unwrap(), Claim::Acquired);
    store.complete(&key, Some("evt-original"), t0(), ttl).await.unwrap();
    assert_eq!(
        store.claim(&key, None, t0() + Days::minutes(5), ttl).await.unwrap(),
        Claim::Completed { data: Some("evt-original".into()) }
    );
}

pub async fn idempotency_payload_mismatch(ctx: &Context) {
    let store = &ctx.stores.idempotency;
    let key = format!("{}-event-3", ctx.name);
    let ttl = IdempotencyTtl::default();
    assert_eq!(store.claim(&key, Some("hash-a"), t0(), ttl).await.unwrap(), Claim::Acquired);
    store.complete(&key, Some("x"), t0(), ttl).await.unwrap();
    let err = store.claim(&key, Some("hash-b"), t0(), ttl).await.expect_err("same key, other payload");
    assert!(matches!(err, StoreError::PayloadMismatch { .. }), "{err}");
}

pub async fn idempotency_expiry_and_release(ctx: &Context) {
    let store = &ctx.stores.idempotency;
    let ttl = IdempotencyTtl { in_progress: Duration::from_secs(60), completed: Duration::from_secs(3600) };
    // A holder that crashed: its INPROGRESS claim lapses.
    let k1 = format!("{}-crashed", ctx.name);
    assert_eq!(store.claim(&k1, None, t0(), ttl).await.unwrap(), Claim::Acquired);
    assert!(matches!(
        store.claim(&k1, None, t0() + Days::seconds(30), ttl).await.unwrap(),
        Claim::InProgress { .. }
    ));
    assert_eq!(store.claim(&k1, None, t0() + Days::seconds(61), ttl).await.unwrap(), Claim::Acquired);
    // A completed record past its TTL counts as absent (TTL deletion is lazy on DynamoDB).
    let k2 = format!("{}-old", ctx.name);
    store.claim(&k2, None, t0(), ttl).await.unwrap();
    store.complete(&k2, Some("done"), t0(), ttl).await.unwrap();
    assert_eq!(store.claim(&k2, None, t0() + Days::seconds(3601), ttl).await.unwrap(), Claim::Acquired);
    // Released after a failure: claimable again at once.
    let k3 = format!("{}-failed", ctx.name);
    store.claim(&k3, None, t0(), ttl).await.unwrap();
    store.release(&k3).await.unwrap();
    assert_eq!(store.claim(&k3, None, t0(), ttl).await.unwrap(), Claim::Acquired);
}

pub async fn checkpoint_revisions(ctx: &Context) {
    let cps = &ctx.stores.checkpoints;
    let name = format!("{}-consonance-works", ctx.name);
    assert_eq!(cps.get_checkpoint(&name).await.unwrap(), None);
    let cp =
        Checkpoint { name: name.clone(), cursor: "{\"after\":10}".into(), updated_at: t0(), revision: 0 };
    let v1 = cps.put_checkpoint(&cp, None).await.unwrap();
    let v2 = cps
        .put_checkpoint(&Checkpoint { cursor: "{\"after\":20}".into(), ..v1.clone() }, Some(1))
        .await
        .unwrap();
    assert_eq!(v2.revision, 2);
    let err =
        cps.put_checkpoint(&Checkpoint { cursor: "{\"after\":15}".into(), ..v1 }, Some(1)).await.unwrap_err();
    assert!(err.is_conflict(), "two reconciler runs must not both advance the cursor");
    assert_eq!(cps.get_checkpoint(&name).await.unwrap().unwrap().cursor, "{\"after\":20}");
}

pub async fn documents_revisions_audit_and_paging(ctx: &Context) {
    let (docs, log) = (&ctx.stores.documents, &ctx.stores.audit);
    let kind = format!("{}-request", ctx.name);
    let i = isbn(ctx, 1);
    assert_eq!(docs.get_doc(&kind, "a").await.unwrap(), None);
    let doc = |id: &str, body: serde_json::Value| crate::Document {
        kind: kind.clone(),
        id: id.to_string(),
        body,
        updated_at: t0(),
        revision: 0,
    };
    let v1 = docs
        .put_doc(
            &doc("b#front_cover", serde_json::json!({"due": "2027-01-01", "n": 1})),
            None,
            &[audit(Some(&i), None, AuditAction::RequestCreated)],
        )
        .await
        .unwrap();
    assert_eq!(v1.revision, 1);
    let again = docs.put_doc(&doc("b#front_cover", serde_json::json!({})), None, &[]).await.unwrap_err();
    assert!(again.is_conflict(), "a document is created only once");
    let stale = docs
        .put_doc(
            &doc("b#front_cover", serde_json::json!({"n": 3})),
            Some(7),
            // Must not appear.
            &[audit(Some(&i), None, AuditAction::RequestClosed)],
        )
        .await
        .unwrap_err();
    assert!(stale.is_conflict());
    let v2 = docs
        .put_doc(&doc("b#front_cover", serde_json::json!({"due": "2027-02-01", "n": 2})), Some(1), &[])
        .await
        .unwrap();
    assert_eq!(v2.revision, 2);
    let read = docs.get_doc(&kind, "b#front_cover").await.unwrap().unwrap();
    assert_eq!(read.body, serde_json::json!({"due": "2027-02-01", "n": 2}));
    assert_eq!(read.revision, 2);
    let actions: Vec<AuditAction> = log
        .by_title(&i, PageRequest { limit: 10, cursor: None })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        vec![AuditAction::RequestCreated],
        "the audit record goes with the write, a refused write leaves none"
    );

    for id in ["c", "a", "e", "d"] {
        docs.put_doc(&doc(id, serde_json::json!({"id": id})), None, &[]).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = docs.list_docs(&kind, PageRequest { limit: 2, cursor }).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|d| d.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec!["a", "b#front_cover", "c", "d", "e"], "ordered by id, every one once");
    let other =
        docs.list_docs(&format!("{kind}-other"), PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert!(other.items.is_empty(), "kinds do not mix");
}

async fn drain(ctx: &Context) {
    // Cases that share a queue start from empty.
    for _ in 0..20 {
        let got = ctx.stores.queue.receive(10, Duration::from_secs(30)).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            ctx.stores.queue.ack(&m.receipt).await.unwrap();
        }
    }
}

pub async fn queue_send_receive_ack(ctx: &Context) {
    let q = &ctx.stores.queue;
    drain(ctx).await;
    let mut sent = BTreeSet::new();
    for n in 0..3 {
        sent.insert(q.send(&format!("{{\"n\":{n}}}")).await.unwrap());
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.extend(q.receive(10, Duration::from_secs(30)).await.unwrap());
        if got.len() >= 3 {
            break;
        }
    }
    assert_eq!(got.iter().map(|m| m.message_id.clone()).collect::<BTreeSet<_>>(), sent);
    assert!(got.iter().all(|m| m.receive_count == 1));
    let bodies: BTreeSet<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert!(bodies.contains("{\"n\":2}"));
    for m in &got {
        q.ack(&m.receipt).await.unwrap();
    }
    let depth = q.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "acked messages are gone");
    assert!(q.receive(10, Duration::from_secs(1)).await.unwrap().is_empty());
}

pub async fn queue_redelivery_after_visibility_timeout(ctx: &Context) {
    let q = &ctx.stores.queue;
    drain(ctx).await;
    let id = q.send("{\"redeliver\":true}").await.unwrap();
    let first = q.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(q.receive(1, Duration::from_secs(1)).await.unwrap().is_empty(), "invisible while in flight");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let second = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(second.len(), 1, "an unacked message comes back after its visibility timeout");
    assert_eq!(second[0].message_id, id);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(second[0].receipt, first[0].receipt, "each receive has its own receipt");
    q.ack(&second[0].receipt).await.unwrap();
}

pub async fn queue_dead_letter_after_max_receives_and_redrive(ctx: &Context) {
    let q = &ctx.stores.queue;
    drain(ctx).await;
    let _ = q.redrive(None).await.unwrap();
    drain(ctx).await;
    q.send("{\"poison\":true}").await.unwrap();
    for n in 1..=ctx.max_receives {
        let got = q.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1, "receive {n} of {} delivers", ctx.max_receives);
        assert_eq!(got[0].receive_count, n);
    }
    // The next attempt moves it to the dead-letter queue instead of delivering it.
    let mut after = Vec::new();
    for _ in 0..3 {
        after.extend(q.receive(1, Duration::ZERO).await.unwrap());
    }
    assert!(after.is_empty(), "received more than max_receives times: {after:?}");
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "{\"poison\":true}");
    assert_eq!(q.dead_letters(10).await.unwrap().len(), 1, "listing dead letters does not consume them");
    assert_eq!(q.depth().await.unwrap().dead, 1);
    assert_eq!(q.redrive(None).await.unwrap(), 1);
    assert_eq!(q.depth().await.unwrap().dead, 0);
    let back = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back.len(), 1, "a redriven message is delivered again");
    assert_eq!(back[0].body, "{\"poison\":true}");
    q.ack(&back[0].receipt).await.unwrap();
}

pub async fn queue_retry_later_and_selective_redrive(ctx: &Context) {
    let q = &ctx.stores.queue;
    drain(ctx).await;
    let _ = q.redrive(None).await.unwrap();
    drain(ctx).await;
    q.send("{\"later\":true}").await.unwrap();
    let got = q.receive(1, Duration::from_secs(60)).await.unwrap();
    q.retry_later(&got[0].receipt, Duration::ZERO).await.unwrap();
    let again = q.receive(1, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.len(), 1, "retry_later(0) makes it visible at once");
    q.ack(&again[0].receipt).await.unwrap();

    // Two poison messages; redrive only one of them.
    q.send("{\"poison\":1}").await.unwrap();
    q.send("{\"poison\":2}").await.unwrap();
    for _ in 0..(ctx.max_receives + 2) * 2 {
        let _ = q.receive(10, Duration::ZERO).await.unwrap();
    }
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 2);
    let chosen =
        dead.iter().find(|m| m.body == "{\"poison\":2}").expect("second poison message").message_id.clone();
    assert_eq!(q.redrive(Some(&[chosen])).await.unwrap(), 1);
    let left = q.dead_letters(10).await.unwrap();
    assert_eq!(left.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["{\"poison\":1}"]);
    let back = q.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["{\"poison\":2}"]);
    q.ack(&back[0].receipt).await.unwrap();
}

pub async fn queue_dead_letter_now(ctx: &Context) {
    let q = &ctx.stores.queue;
    drain(ctx).await;
    let _ = q.redrive(None).await.unwrap();
    drain(ctx).await;
    q.send("{\"unknown_isbn\":true}").await.unwrap();
    let got = q.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 1);
    q.dead_letter(&got[0], "no Consonance product has ISBN 9780306406157")
        .await
        .expect("permanent failure parked");
    let mut again = Vec::new();
    for _ in 0..3 {
        again.extend(q.receive(10, Duration::ZERO).await.unwrap());
    }
    assert!(again.is_empty(), "a dead-lettered message is not delivered again: {again:?}");
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["{\"unknown_isbn\":true}"]);
    assert_eq!(q.redrive(None).await.unwrap(), 1, "and can be replayed");
    let back = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back.len(), 1);
    q.ack(&back[0].receipt).await.unwrap();
}

pub async fn staging_put_get_checksums_and_list(ctx: &Context) {
    let s = &ctx.stores.staging;
    let prefix = format!("{}/packages/9781800000001/print/v1/", ctx.name);
    let body = Bytes::from_static(b"%PDF-1.7 cover file");
    let info = s.put(&format!("{prefix}cover.pdf"), body.clone(), "application/pdf").await.unwrap();
    // Checksums computed independently of the adapter.
    use sha2::Digest as _;
    assert_eq!(info.sha256, hex::encode(sha2::Sha256::digest(&body)));
    assert_eq!(info.md5, hex::encode(md5::Md5::digest(&body)));
    assert_eq!(info.size, body.len() as u64);
    let (head, bytes) = s.get(&info.key).await.unwrap().expect("object exists");
    assert_eq!(bytes, body);
    assert_eq!(
        (head.sha256, head.md5, head.content_type),
        (info.sha256.clone(), info.md5.clone(), "application/pdf".into())
    );
    s.put(&format!("{prefix}manifest.json"), Bytes::from_static(b"{}"), "application/json").await.unwrap();
    s.put(&format!("{}/elsewhere/x", ctx.name), Bytes::from_static(b"x"), "text/plain").await.unwrap();
    let listed: Vec<String> = s.list(&prefix).await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(listed, vec![format!("{prefix}cover.pdf"), format!("{prefix}manifest.json")]);
    assert_eq!(s.head(&format!("{prefix}missing")).await.unwrap(), None);
    assert!(s.get(&format!("{prefix}missing")).await.unwrap().is_none());
}

pub async fn staging_stream_multipart(ctx: &Context) {
    let s = &ctx.stores.staging;
    // More than one part: exercises the multipart path on S3.
    let total = PART_SIZE + PART_SIZE / 2 + 12_345;
    let chunk = 256 * 1024;
    let make = move |i: usize| -> u8 { (i.wrapping_mul(2_654_435_761) >> 13) as u8 };
    let stream = futures::stream::iter((0..total).step_by(chunk).map(move |start| {
        let end = (start + chunk).min(total);
        Ok(Bytes::from((start..end).map(make).collect::<Vec<u8>>()))
    }))
    .boxed();
    let key = format!("{}/packages/big/audio.mp3", ctx.name);
    let info = s.put_stream(&key, stream, "audio/mpeg").await.expect("streamed upload");
    let expected: Vec<u8> = (0..total).map(make).collect();
    use sha2::Digest as _;
    assert_eq!(info.size, total as u64);
    assert_eq!(info.sha256, hex::encode(sha2::Sha256::digest(&expected)));
    let (_, bytes) = s.get(&key).await.unwrap().expect("object exists");
    assert_eq!(bytes.len(), total);
    assert!(bytes[..] == expected[..], "bytes read back equal bytes written");
}

/// A source stream that times out or breaks off (OTMM mid-download) fails the upload as a
/// transient error, on every backend; another source error does not.
pub async fn staging_source_failures_are_transient(ctx: &Context) {
    let s = &ctx.stores.staging;
    for (kind, transient) in [
        (std::io::ErrorKind::TimedOut, true),
        (std::io::ErrorKind::ConnectionReset, true),
        (std::io::ErrorKind::InvalidData, false),
    ] {
        let stream = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"the first half")),
            Err(std::io::Error::new(kind, "source failed")),
        ])
        .boxed();
        let key = format!("{}/packages/broken/{kind:?}.jpg", ctx.name);
        let err =
            s.put_stream(&key, stream, "image/jpeg").await.expect_err("a broken source fails the upload");
        assert_eq!(err.is_transient(), transient, "{kind:?}: {err}");
        assert!(s.head(&key).await.unwrap().is_none(), "{kind:?}: nothing half-written is left");
    }
}
