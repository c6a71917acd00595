//! Embedded-adapter behaviour beyond the shared conformance suite.

use bytes::Bytes;
use chrono::Utc;
use connector_core::{Checkpoint, ProductId, TitleRecord, WorkId};
use connector_store::embedded::{self, EmbeddedOptions};
use std::time::Duration;

fn isbn() -> connector_core::Isbn13 {
    connector_core::Isbn13::parse("9780306406157").unwrap()
}

#[tokio::test]
async fn state_queue_and_staging_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let message_id;
    {
        let stores = embedded::open(dir.path(), EmbeddedOptions::default()).unwrap();
        let title = TitleRecord {
            isbn: isbn(),
            work_id: WorkId(1),
            product_id: ProductId(2),
            title: "Durable".into(),
            imprint: None,
            product_form: None,
            publication_date: None,
            sales_rights: None,
            updated_at: Utc::now(),
            revision: 0,
        };
        stores.mapping.put_title(&title, None, &[]).await.unwrap();
        stores
            .checkpoints
            .put_checkpoint(
                &Checkpoint {
                    name: "works".into(),
                    cursor: "42".into(),
                    updated_at: Utc::now(),
                    revision: 0,
                },
                None,
            )
            .await
            .unwrap();
        message_id = stores.queue.send("{\"pending\":true}").await.unwrap();
        // Received but not acked when the process "dies": it must come back.
        assert_eq!(stores.queue.receive(1, Duration::from_millis(300)).await.unwrap().len(), 1);
        stores.staging.put("pkg/manifest.json", Bytes::from_static(b"{}"), "application/json").await.unwrap();
    }
    let stores = embedded::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(stores.mapping.get_title(&isbn()).await.unwrap().unwrap().title, "Durable");
    assert_eq!(stores.checkpoints.get_checkpoint("works").await.unwrap().unwrap().cursor, "42");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let back = stores.queue.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back[0].message_id, message_id);
    assert_eq!(back[0].receive_count, 2);
    assert_eq!(stores.staging.get("pkg/manifest.json").await.unwrap().unwrap().1, Bytes::from_static(b"{}"));
}

#[tokio::test]
async fn staging_refuses_keys_that_leave_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let stores = embedded::open(dir.path(), EmbeddedOptions::default()).unwrap();
    for key in ["../escape", "/etc/passwd", "a/../../b", ""] {
        let err = stores.staging.put(key, Bytes::from_static(b"x"), "text/plain").await.unwrap_err();
        assert!(err.to_string().contains("relative path"), "{key}: {err}");
    }
}

#[tokio::test]
async fn a_tampered_object_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let stores = embedded::open(dir.path(), EmbeddedOptions::default()).unwrap();
    stores.staging.put("pkg/cover.jpg", Bytes::from_static(b"original"), "image/jpeg").await.unwrap();
    std::fs::write(dir.path().join("staging/objects/pkg/cover.jpg"), b"tampered").unwrap();
    let err = stores.staging.get("pkg/cover.jpg").await.unwrap_err();
    assert!(matches!(err, connector_store::StoreError::Checksum { .. }), "{err}");
}

/// `connector plan`'s scratch copy: everything is copied, the source is left byte-identical
/// (an idle database is read as immutable: no `-wal`/`-shm` appear), claims in progress are
/// released and received messages visible in the copy, and `audit_after` reads the copy's
/// records after an id.
#[tokio::test]
async fn snapshot_copies_state_without_touching_it_and_frees_the_copy_of_claims() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let ttl = connector_store::IdempotencyTtl::default();
    let before_id;
    {
        let stores = embedded::open(dir.path(), EmbeddedOptions::default()).unwrap();
        // Told apart by their detail.
        let record = |tag: &str| connector_core::AuditRecord {
            id: connector_store::new_audit_id(Utc::now()),
            at: Utc::now(),
            flow: connector_core::Flow::Reconcile,
            action: connector_core::AuditAction::ReconcileRun,
            outcome: connector_core::Outcome::Applied,
            isbn: Some(isbn()),
            asset_id: None,
            asset_version: None,
            actor: None,
            correlation_id: "c".into(),
            detail: tag.into(),
            data: serde_json::Value::Null,
        };
        let old = record("old");
        before_id = old.id.0.clone();
        stores.audit.append(&[old, record("new")]).await.unwrap();
        stores.idempotency.claim("held", None, Utc::now(), ttl).await.unwrap();
        stores.idempotency.claim("done", None, Utc::now(), ttl).await.unwrap();
        stores.idempotency.complete("done", Some("id-1"), Utc::now(), ttl).await.unwrap();
        stores.queue.send("{\"m\":1}").await.unwrap();
        stores.queue.receive(1, Duration::from_secs(600)).await.unwrap();
        stores
            .staging
            .put("packages/a/manifest.json", Bytes::from_static(b"{}"), "application/json")
            .await
            .unwrap();
    }
    let files = |d: &std::path::Path| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![d.to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push((e.path(), std::fs::read(e.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    };
    let source = files(dir.path());
    assert!(embedded::snapshot(dir.path(), copy.path()).unwrap());
    assert_eq!(files(dir.path()), source, "the source state is byte-identical");

    let stores = embedded::open(copy.path(), EmbeddedOptions::default()).unwrap();
    let now = Utc::now();
    assert_eq!(
        stores.idempotency.claim("held", None, now, ttl).await.unwrap(),
        connector_store::Claim::Acquired
    );
    assert_eq!(
        stores.idempotency.claim("done", None, now, ttl).await.unwrap(),
        connector_store::Claim::Completed { data: Some("id-1".into()) }
    );
    assert_eq!(
        stores.queue.receive(10, Duration::from_secs(1)).await.unwrap().len(),
        1,
        "visible in the copy"
    );
    assert!(stores.staging.head("packages/a/manifest.json").await.unwrap().is_some());
    let after = embedded::audit_after(copy.path(), &before_id).unwrap();
    assert_eq!(after.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>(), ["new"]);
    // Nothing to copy: `false`, and an empty directory to start fresh state in.
    let none = tempfile::tempdir().unwrap();
    assert!(!embedded::snapshot(&none.path().join("missing"), &none.path().join("copy")).unwrap());
}
