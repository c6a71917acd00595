//! Every dead letter carries its cause (issue 13), on both backends: whatever the failure and
//! wherever its audit records are filed (under the lineage id, under no title, under an ISBN),
//! `connector_app::dlq::list` (what `GET /dlq` and `connector replay` show) finds the cause,
//! the audit id and the receive count, through the dead letter's record keyed by the message
//! body. A dead letter whose record cannot be written is retried, not parked without a cause.
//! And duplicates of one event posted at once are all 202 with one enqueue.

use async_trait::async_trait;
use chrono::Utc;
use connector_app::dlq::{self, DeadLetter};
use connector_app::processor::{Disposition, process};
use connector_core::AuditAction;
use connector_core::event::{EventId, FlowMessage, InboundEvent, OtmmEvent, OtmmEventType};
use connector_core::{Actor, AssetId, AuditRecord, Isbn13, Outcome};
use connector_sim::catalogue::otmm_fields;
use connector_sim::faults::Fault;
use connector_store::{Document, Documents, Page, PageRequest, StoreError, Stores};
use connector_tests::e2e::{Backend, Harness, MAX_RECEIVES};
use std::sync::Arc;
use std::time::Duration;

fn otmm_message(asset_id: &str, version: u32, event_id: &str) -> String {
    let event = InboundEvent::Otmm(OtmmEvent {
        event_id: EventId::parse(event_id).unwrap(),
        event_type: OtmmEventType::AssetApproved,
        otmm_event_id: None,
        asset_id: AssetId::parse(asset_id).unwrap(),
        version,
        occurred_at: Utc::now(),
        actor: Actor { user_id: "dlq.test".into(), name: None },
    });
    FlowMessage::new(event, Utc::now(), event_id).to_json()
}

async fn the_only_dead_letter(stores: &Stores) -> DeadLetter {
    let mut dead = dlq::list(stores, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    dead.remove(0)
}

/// The audit record a dead letter names, found in the trail of `asset`.
async fn named_record(stores: &Stores, asset: &str, d: &DeadLetter) -> AuditRecord {
    let id = d.cause_audit_id.clone().expect("an audit id");
    let trail = stores
        .audit
        .by_asset(&AssetId::parse(asset).unwrap(), PageRequest { limit: 50, cursor: None })
        .await
        .unwrap()
        .items;
    trail.into_iter().find(|r| r.id.to_string() == id).unwrap_or_else(|| panic!("no audit record {id}"))
}

/// The title-not-found record is filed under the asset's lineage id; the event names a later
/// version's own id (the lookup by the event's asset id found nothing before).
async fn a_permanent_failure_filed_under_the_lineage_is_found(backend: Backend) {
    let h = Harness::start(backend, "dlq_lineage", 8).await;
    let asset = h
        .catalogue
        .assets
        .iter()
        .find(|a| a.versions.len() >= 2 && !a.deleted)
        .expect("an asset with history");
    let v2 = &asset.versions[1];
    h.sims.otmm.set_webhooks_enabled(false);
    h.sims.otmm.approve(&asset.original_asset_id, 2, "dlq.test").unwrap();
    h.sims.otmm.set_field(&v2.asset_id, otmm_fields::ISBN, "9780306406157").unwrap();
    h.app.stores.queue.send(&otmm_message(&v2.asset_id, 2, "dlq-lineage")).await.unwrap();
    let report = h.drain().await;
    assert_eq!(report.dead_lettered, 1, "{report:?}");
    let d = the_only_dead_letter(&h.app.stores).await;
    assert!(d.cause.as_deref().unwrap().contains("9780306406157"), "{d:?}");
    assert_eq!((d.receive_count, d.exhausted_retries), (1, Some(false)));
    let record = named_record(&h.app.stores, &asset.original_asset_id, &d).await;
    assert_eq!((record.action, record.outcome), (AuditAction::TitleNotFound, Outcome::DeadLettered));
    assert_eq!(record.data["dead_letter"]["event_id"], "dlq-lineage");
    let parked = h.app.stores.queue.dead_letters(1).await.unwrap().remove(0);
    assert_eq!(record.data["dead_letter"]["key"], dlq::dead_letter_key(&parked.body));
}

/// An asset OTMM does not know: `asset.not_found`, written with the dead letter's record.
async fn an_unknown_asset_is_explained(backend: Backend) {
    let h = Harness::start(backend, "dlq_unknown_asset", 4).await;
    let missing = "5effffffffffffffffffffffffffffffffffffff";
    h.app.stores.queue.send(&otmm_message(missing, 1, "dlq-missing")).await.unwrap();
    assert_eq!(h.drain().await.dead_lettered, 1);
    let d = the_only_dead_letter(&h.app.stores).await;
    assert!(d.cause.as_deref().unwrap().contains("OTMM has no asset"), "{d:?}");
    let record = named_record(&h.app.stores, missing, &d).await;
    assert_eq!(record.action, AuditAction::AssetNotFound);
}

/// Transient failures dead-letter only after MAX_RECEIVES receives, and say so.
async fn transient_failures_dead_letter_after_the_last_receive(backend: Backend) {
    let h = Harness::start(backend, "dlq_transient", 4).await;
    let asset = &h.catalogue.assets[0];
    let v = &asset.versions[0];
    h.sims.otmm.faults().set(
        Some("GET"),
        &format!("/otmmapi/v6/assets/{}", v.asset_id),
        Fault { error_rate: 1.0, status: Some(503), ..Default::default() },
    );
    h.app.stores.queue.send(&otmm_message(&v.asset_id, 1, "dlq-transient")).await.unwrap();
    // SQS (moto) may report a message whose visibility was just changed as gone for a moment:
    // drain until it is dead, in rounds.
    let mut report = connector::worker::DrainReport::default();
    for _ in 0..20 {
        report += h.drain().await;
        if report.dead_lettered > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!((report.retried, report.dead_lettered), (u64::from(MAX_RECEIVES) - 1, 1), "{report:?}");
    let d = the_only_dead_letter(&h.app.stores).await;
    assert_eq!((d.receive_count, d.exhausted_retries), (MAX_RECEIVES, Some(true)), "{d:?}");
    assert!(
        d.cause.as_deref().unwrap().starts_with(&format!("gave up after {MAX_RECEIVES} receives")),
        "{d:?}"
    );
    let record = named_record(&h.app.stores, &v.asset_id, &d).await;
    assert_eq!(record.action, AuditAction::MessageDeadLettered);
    assert_eq!(record.data["dead_letter"]["receive_count"], MAX_RECEIVES);
}

/// A body that is no flow message: its cause and audit id, found by the body's hash.
async fn an_unreadable_message_is_explained(backend: Backend) {
    let h = Harness::start(backend, "dlq_unreadable", 2).await;
    h.app.stores.queue.send("{not a flow message").await.unwrap();
    assert_eq!(h.drain().await.dead_lettered, 1);
    let d = the_only_dead_letter(&h.app.stores).await;
    assert!(d.cause.as_deref().unwrap().contains("cannot be read"), "{d:?}");
    assert!(d.cause_audit_id.is_some() && d.event_id.is_none(), "{d:?}");
    let record = dlq::record_of(&h.app.stores, "{not a flow message").await.unwrap().expect("a record");
    assert_eq!(Some(record.audit_id), d.cause_audit_id);
    assert!(record.key.starts_with("body:"));
}

/// Documents whose writes fail: the dead letter's record cannot be written.
struct Unwritable(Arc<dyn Documents>);

#[async_trait]
impl Documents for Unwritable {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Document>, StoreError> {
        self.0.get_doc(kind, id).await
    }
    async fn put_doc(&self, _: &Document, _: Option<u64>, _: &[AuditRecord]) -> Result<Document, StoreError> {
        Err(StoreError::Backend {
            backend: "test",
            operation: "put_doc",
            message: "refused".into(),
            transient: true,
        })
    }
    async fn list_docs(&self, kind: &str, page: PageRequest) -> Result<Page<Document>, StoreError> {
        self.0.list_docs(kind, page).await
    }
}

/// If the cause cannot be written, the message is retried, not parked without it.
async fn a_dead_letter_whose_record_cannot_be_written_is_retried(backend: Backend) {
    let h = Harness::start(backend, "dlq_unwritable", 2).await;
    let mut app = h.app.clone();
    app.stores.documents = Arc::new(Unwritable(h.app.stores.documents.clone()));
    h.app.stores.queue.send("{unreadable").await.unwrap();
    let message = app.stores.queue.receive(1, Duration::from_secs(30)).await.unwrap().remove(0);
    match process(&app, &message).await {
        Disposition::Retry { reason, .. } => assert!(reason.contains("could not be written"), "{reason}"),
        other => panic!("expected a retry, got {other:?}"),
    }
    // With the store back, the same message is parked with its cause.
    match process(&h.app, &message).await {
        Disposition::DeadLetter { cause } => assert!(cause.contains("cannot be read"), "{cause}"),
        other => panic!("expected a dead letter, got {other:?}"),
    }
}

/// A version to approve that links cleanly: a front cover with a valid ISBN and plain rights.
fn linkable(h: &Harness) -> (&connector_sim::catalogue::SeedAsset, Isbn13) {
    h.catalogue
        .assets
        .iter()
        .filter(|a| a.asset_type == "Front Cover" && a.territory == "WORLD" && a.expiration_date.is_none())
        .find_map(|a| Isbn13::parse(&a.isbn).ok().filter(|i| i.as_str() == a.isbn).map(|i| (a, i)))
        .expect("a linkable front cover")
}

/// A worker died holding the create's claim (or the slot's lease): the message comes back when
/// the claim lapses, not in 100 ms, so a dead holder costs it one receive, not all of them.
async fn a_claim_or_lease_held_by_a_dead_worker_is_waited_out(backend: Backend) {
    let h = Harness::start(backend, "dead_holder", 8).await;
    h.sims.otmm.set_webhooks_enabled(false);
    let (asset, isbn) = linkable(&h);
    let v = &asset.versions[0];
    h.sims.otmm.approve(&asset.original_asset_id, 1, "dlq.test").unwrap();
    let id = AssetId::parse(&v.asset_id).unwrap();
    // The create the plan makes, and its key (what the dead worker claimed).
    let facts = h.app.dam.asset(&id).await.unwrap();
    let title = h.app.pms.title_by_isbn(&isbn).await.unwrap().expect("a title");
    let plan = connector_core::plan::plan_asset(
        &facts,
        connector_core::plan::TitleLookup::Found(&title),
        None,
        &h.app.config,
        Utc::now(),
    );
    let create = plan
        .commands
        .iter()
        .find(|c| matches!(c, connector_core::plan::Command::CreateResource { .. }))
        .expect("a create");
    let held = connector_store::IdempotencyTtl { in_progress: Duration::from_secs(60), ..Default::default() };
    let claim =
        h.app.stores.idempotency.claim(&create.idempotency_key(), None, Utc::now(), held).await.unwrap();
    assert_eq!(claim, connector_store::Claim::Acquired);
    h.app.stores.queue.send(&otmm_message(&v.asset_id, 1, "dead-holder")).await.unwrap();
    let message = h.app.stores.queue.receive(1, Duration::from_secs(30)).await.unwrap().remove(0);
    match process(&h.app, &message).await {
        Disposition::Retry { after, reason } => {
            assert!(reason.contains("another worker is applying"), "{reason}");
            assert!(after >= Duration::from_secs(55), "retried after {after:?}, before the claim lapses");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    // The slot's lease, likewise (after the in-step wait for it).
    let mut app = h.app.clone();
    app.settings.slot_wait = Duration::from_millis(100);
    let role = h.app.config.role_for(&asset.asset_type).expect("a role");
    let key = connector_core::LinkKey::for_asset(
        isbn.clone(),
        role,
        &AssetId::parse(&asset.original_asset_id).unwrap(),
    );
    let lease = connector_store::keys::slot_lease(&key);
    assert_eq!(
        h.app.stores.idempotency.claim(&lease, None, Utc::now(), held).await.unwrap(),
        connector_store::Claim::Acquired
    );
    match process(&app, &message).await {
        Disposition::Retry { after, reason } => {
            assert!(reason.contains("another worker is updating"), "{reason}");
            assert!(after >= Duration::from_secs(55), "retried after {after:?}, before the lease lapses");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
}

/// 50 deliveries of one event at once through the HTTP intake: all 202 with its id, one enqueue.
async fn fifty_concurrent_duplicates_are_all_accepted_once(backend: Backend) {
    let h = Harness::start(backend, "intake_fifty", 2).await;
    let v = &h.catalogue.assets[0].versions[0];
    let body = serde_json::json!({
        "event_id": "fifty-at-once", "event_type": "asset.approved", "asset_id": v.asset_id, "version": 1,
        "occurred_at": "2026-11-01T09:00:00Z", "actor": {"user_id": "u", "name": "U"},
    })
    .to_string();
    let client = reqwest::Client::new();
    let post = || {
        let ts = Utc::now().timestamp();
        let sig =
            connector_core::signature::sign(connector::SIM_WEBHOOK_SECRET.as_bytes(), ts, body.as_bytes());
        client
            .post(format!("{}/webhooks/otmm", h.intake_url))
            .header("content-type", "application/json")
            .header(connector_core::signature::TIMESTAMP_HEADER, ts.to_string())
            .header(connector_core::signature::SIGNATURE_HEADER, sig)
            .body(body.clone())
            .send()
    };
    let answers = futures::future::join_all((0..50).map(|_| post())).await;
    let mut accepted = 0;
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), 202);
        let v: serde_json::Value = a.json().await.unwrap();
        assert_eq!(v["event_id"], "fifty-at-once", "{v}");
        accepted += usize::from(v["status"] == "accepted");
    }
    assert_eq!(accepted, 1);
    let depth = h.app.stores.queue.depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1, "{depth:?}");
}

connector_tests::on_both_backends!(
    a_permanent_failure_filed_under_the_lineage_is_found,
    an_unknown_asset_is_explained,
    transient_failures_dead_letter_after_the_last_receive,
    an_unreadable_message_is_explained,
    a_dead_letter_whose_record_cannot_be_written_is_retried,
    a_claim_or_lease_held_by_a_dead_worker_is_waited_out,
    fifty_concurrent_duplicates_are_all_accepted_once,
);
