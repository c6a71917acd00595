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
