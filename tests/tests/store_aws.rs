//! What only the AWS adapters do, checked on moto with resources made from the template:
//! multipart uploads and checksums on S3, DLQ browsing and redrive on SQS, transaction
//! atomicity and TTL on DynamoDB, and the template's names against `connector_store::keys`.

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use chrono::{Duration as Span, TimeZone, Utc};
use connector_core::{
    Actor, Approval, AssetId, AssetLink, AssetRole, AuditAction, AuditRecord, Flow, Isbn13, LinkKey,
    LinkStatus, Outcome, ProductId, TitleRecord, WorkId,
};
use connector_store::aws::AwsConfig;
use connector_store::{
    Claim, ConflictReason, IdempotencyTtl, PART_SIZE, PageRequest, StoreError, keys, new_audit_id,
};
use connector_tests::aws::{self, Overrides, Template};
use futures::StreamExt;
use md5::Md5;
use serde_yaml::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

fn isbn() -> Isbn13 {
    Isbn13::parse("9781800000001").unwrap()
}

fn asset(n: u64) -> AssetId {
    AssetId::parse(&format!("{n:040x}")).unwrap()
}

/// A record told apart by `tag`, its detail.
fn audit(isbn: Option<&Isbn13>, asset_id: Option<&AssetId>, tag: &str) -> AuditRecord {
    let at = Utc::now();
    AuditRecord {
        id: new_audit_id(at),
        at,
        flow: Flow::LinkApprovedAsset,
        action: AuditAction::LinkCreated,
        outcome: Outcome::Applied,
        isbn: isbn.cloned(),
        asset_id: asset_id.cloned(),
        asset_version: Some(1),
        actor: Some(Actor { user_id: "mpatel".into(), name: None }),
        correlation_id: "store-aws".into(),
        detail: tag.into(),
        data: serde_json::json!({"n": 1, "nested": {"ok": true}}),
    }
}

fn link(version: u32, minute: i64) -> AssetLink {
    let a = asset(1);
    AssetLink {
        key: LinkKey::for_asset(isbn(), AssetRole::FrontCover, &a),
        version_asset_id: None,
        approval: Approval {
            asset_id: a,
            version,
            approved_at: Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap() + Span::minutes(minute),
        },
        status: LinkStatus::Linked,
        approved_by: None,
        work_id: Some(WorkId(1)),
        product_ids: vec![ProductId(2)],
        consonance_resource_id: None,
        rights: None,
        rights_denials: Vec::new(),
        updated_at: Utc::now(),
        revision: 0,
    }
}

async fn count_items(cfg: &AwsConfig, table: &str) -> usize {
    let raw = aws::clients(cfg).await;
    let out = raw.dynamodb.scan().table_name(table).send().await.unwrap();
    out.items.unwrap_or_default().len()
}

/// The template's key names are the ones `connector_store::keys` writes. (The moto tests
/// would fail too, less legibly: they create their tables from the template.)
#[test]
fn template_key_names_match_keys_rs() {
    let t = Template::load();
    let names = |v: &Value, field: &str| -> Vec<String> {
        v.get(field)
            .and_then(Value::as_sequence)
            .unwrap()
            .iter()
            .map(|k| k.get("AttributeName").and_then(Value::as_str).unwrap().to_string())
            .collect()
    };
    let props = |id: &str| t.resource(id).get("Properties").unwrap().clone();
    let index = |table: &Value, name: &str| -> Value {
        table
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .unwrap()
            .iter()
            .find(|g| g.get("IndexName").and_then(Value::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no index {name}"))
            .clone()
    };
    let state = props(aws::STATE_TABLE);
    assert_eq!(names(&state, "KeySchema"), [keys::PK, keys::SK]);
    assert_eq!(names(&index(&state, keys::BY_ASSET_INDEX), "KeySchema"), [keys::ASSET_PK, keys::ASSET_SK]);
    let audit = props(aws::AUDIT_TABLE);
    assert_eq!(names(&audit, "KeySchema"), [keys::PK, keys::SK]);
    assert_eq!(names(&index(&audit, keys::BY_ASSET_INDEX), "KeySchema"), [keys::ASSET_PK, keys::SK]);
    let idem = props(aws::IDEMPOTENCY_TABLE);
    assert_eq!(names(&idem, "KeySchema"), [keys::IDEMPOTENCY_KEY]);
    let ttl = idem.get("TimeToLiveSpecification").unwrap();
    assert_eq!(ttl.get("AttributeName").and_then(Value::as_str), Some(keys::TTL_ATTRIBUTE));
    assert_eq!(ttl.get("Enabled").and_then(Value::as_bool), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_follow_the_template() {
    let (stores, cfg) = aws::stores("resources_follow_the_template").await;
    let raw = aws::clients(&cfg).await;
    let state = raw.dynamodb.describe_table().table_name(&cfg.state_table).send().await.unwrap();
    let gsi = state.table.unwrap().global_secondary_indexes.unwrap();
    assert_eq!(gsi[0].index_name(), Some(keys::BY_ASSET_INDEX));
    let ttl = raw.dynamodb.describe_time_to_live().table_name(&cfg.idempotency_table).send().await.unwrap();
    assert_eq!(ttl.time_to_live_description.unwrap().attribute_name(), Some(keys::TTL_ATTRIBUTE));
    let attrs = raw
        .sqs
        .get_queue_attributes()
        .queue_url(&cfg.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let policy: serde_json::Value =
        serde_json::from_str(&attrs[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(policy["maxReceiveCount"], 5, "the template's MaxReceiveCount default");
    assert!(policy["deadLetterTargetArn"].as_str().unwrap().ends_with("-FlowDeadLetterQueue"));
    // (moto 5.2.5 answers GetBucketVersioning with a root element the SDK rejects, so the
    // check is that objects get version ids.)
    let info = stores.staging.put("v/one", Bytes::from_static(b"1"), "text/plain").await.unwrap();
    assert!(info.version_id.is_some(), "the template turns bucket versioning on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_over_8_mib_keeps_checksums() {
    let (stores, cfg) = aws::stores("multipart_upload").await;
    // Two and a half parts in chunks that do not divide the part size.
    let total = 2 * PART_SIZE + PART_SIZE / 2 + 7;
    let chunk = 1024 * 1024 + 13;
    let byte = |i: usize| (i.wrapping_mul(31) ^ (i >> 11)) as u8;
    let expected: Vec<u8> = (0..total).map(byte).collect();
    let body = futures::stream::iter((0..total).step_by(chunk).map(move |start| {
        Ok(Bytes::from((start..(start + chunk).min(total)).map(byte).collect::<Vec<u8>>()))
    }))
    .boxed();
    let key = "packages/9781800000001/print/v3/interior.pdf";
    let info = stores.staging.put_stream(key, body, "application/pdf").await.unwrap();
    assert_eq!(info.size, total as u64);
    assert_eq!(info.sha256, hex::encode(Sha256::digest(&expected)));
    assert_eq!(info.md5, hex::encode(Md5::digest(&expected)));
    assert!(info.version_id.is_some(), "the template turns versioning on");

    let head = stores.staging.head(key).await.unwrap().unwrap();
    assert_eq!(head, info, "head reads back what put_stream reported");
    let (got, bytes) = stores.staging.get(key).await.unwrap().unwrap();
    assert_eq!(got.sha256, info.sha256);
    assert!(bytes[..] == expected[..]);

    let raw = aws::clients(&cfg).await;
    let uploads = raw.s3.list_multipart_uploads().bucket(&cfg.bucket).send().await.unwrap();
    assert!(uploads.uploads.unwrap_or_default().is_empty(), "no upload left open");
    // The metadata-less version the upload produced before the metadata copy is gone.
    let versions = raw.s3.list_object_versions().bucket(&cfg.bucket).prefix(key).send().await.unwrap();
    assert_eq!(versions.versions.unwrap_or_default().len(), 1);

    // Bytes changed behind the adapter's back (same metadata) fail the read.
    raw.s3
        .put_object()
        .bucket(&cfg.bucket)
        .key(key)
        .metadata("sha256", &info.sha256)
        .metadata("md5", &info.md5)
        .body(Bytes::from_static(b"tampered").into())
        .send()
        .await
        .unwrap();
    match stores.staging.get(key).await {
        Err(StoreError::Checksum { expected, actual, .. }) => {
            assert_eq!(expected, info.sha256);
            assert_eq!(actual, hex::encode(Sha256::digest(b"tampered")));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_stream_aborts_the_multipart_upload() {
    let (stores, cfg) = aws::stores("failed_stream_aborts").await;
    let mut sent = 0;
    let body = futures::stream::iter(std::iter::from_fn(move || {
        sent += 1;
        Some(if sent <= 12 {
            Ok(Bytes::from(vec![7u8; 1024 * 1024]))
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "source went away"))
        })
    }))
    .boxed();
    let key = "packages/broken/video.mp4";
    let err = stores.staging.put_stream(key, body, "video/mp4").await.unwrap_err();
    assert!(err.is_transient(), "a reset source is worth retrying: {err}");
    let raw = aws::clients(&cfg).await;
    let uploads = raw.s3.list_multipart_uploads().bucket(&cfg.bucket).send().await.unwrap();
    assert!(uploads.uploads.unwrap_or_default().is_empty(), "the failed upload was aborted");
    assert_eq!(stores.staging.head(key).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_beyond_one_receive_batch_and_redrive() {
    let (stores, _) = aws::stores_with("dlq_redrive", Overrides { max_receive_count: Some(1) }).await;
    let q = &stores.queue;
    // More than SQS's 10 per receive: browsing must page without consuming.
    for n in 0..13 {
        q.send(&format!("{{\"poison\":{n}}}")).await.unwrap();
    }
    let first = q.receive(20, Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 13);
    // The second delivery attempt moves them (maxReceiveCount 1).
    assert!(q.receive(20, Duration::ZERO).await.unwrap().is_empty());
    let dead = q.dead_letters(50).await.unwrap();
    assert_eq!(dead.len(), 13, "every dead letter, once each");
    assert!(dead.windows(2).all(|w| w[0].sent_at <= w[1].sent_at), "oldest first");
    assert_eq!(q.dead_letters(50).await.unwrap().len(), 13, "browsing does not consume");
    assert_eq!(q.dead_letters(4).await.unwrap().len(), 4);
    assert_eq!(q.depth().await.unwrap().dead, 13);

    let chosen =
        vec![dead[0].message_id.clone(), dead[5].message_id.clone(), "not-a-dead-letter".to_string()];
    assert_eq!(q.redrive(Some(&chosen)).await.unwrap(), 2);
    assert_eq!(q.depth().await.unwrap().dead, 11);
    let back = q.receive(10, Duration::from_secs(30)).await.unwrap();
    let mut bodies: Vec<&str> = back.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    let mut want = vec![dead[0].body.as_str(), dead[5].body.as_str()];
    want.sort();
    assert_eq!(bodies, want);
    for m in &back {
        assert_eq!(m.receive_count, 1, "a redriven message starts counting afresh");
        q.ack(&m.receipt).await.unwrap();
    }

    assert_eq!(q.redrive(None).await.unwrap(), 11);
    let depth = q.depth().await.unwrap();
    assert_eq!((depth.visible, depth.dead), (11, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_leave_no_audit_record() {
    let (stores, cfg) = aws::stores("transaction_atomicity").await;
    let (m, log) = (&stores.mapping, &stores.audit);
    let a = asset(1);
    let v2 = m.put_link(&link(2, 20), None, &[audit(Some(&isbn()), Some(&a), "created")]).await.unwrap();
    assert_eq!(count_items(&cfg, &cfg.audit_table).await, 1);

    // Condition fails on the link (older version): the audit put in the same transaction
    // is cancelled with it.
    let err = m
        .put_link(&link(1, 10), Some(v2.revision), &[audit(Some(&isbn()), Some(&a), "stale")])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                reason: ConflictReason::StaleVersion { stored_version: 2, incoming_version: 1 },
                ..
            }
        ),
        "{err}"
    );
    // Stale revision: RevisionChanged with what was found (ALL_OLD on cancellation).
    let err = m.put_link(&link(3, 30), Some(7), &[audit(Some(&isbn()), Some(&a), "lost")]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                reason: ConflictReason::RevisionChanged { expected: Some(7), found: Some(1) },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count_items(&cfg, &cfg.audit_table).await, 1, "no audit item from refused writes");

    // The other direction: an audit id that exists cancels the mapping write.
    let dup = log.by_title(&isbn(), PageRequest { limit: 1, cursor: None }).await.unwrap().items.remove(0);
    let title = TitleRecord {
        isbn: isbn(),
        work_id: WorkId(1),
        product_id: ProductId(2),
        title: "Tide Lines".into(),
        imprint: None,
        product_form: None,
        publication_date: None,
        sales_rights: None,
        updated_at: Utc::now(),
        revision: 0,
    };
    let err = m.put_title(&title, None, &[audit(Some(&isbn()), None, "fresh"), dup]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { reason: ConflictReason::AlreadyExists, ref key } if key.contains("audit")),
        "{err}"
    );
    assert_eq!(m.get_title(&isbn()).await.unwrap(), None, "the title was not written either");
    assert_eq!(count_items(&cfg, &cfg.audit_table).await, 1);

    // Stored shape: the by_asset attributes and the epoch-millis copy of approved_at.
    let raw = aws::clients(&cfg).await;
    let item = raw
        .dynamodb
        .get_item()
        .table_name(&cfg.state_table)
        .key(keys::PK, AttributeValue::S(keys::title_pk(&isbn())))
        .key(keys::SK, AttributeValue::S(keys::link_sk(&v2.key)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item[keys::ASSET_PK], AttributeValue::S(keys::asset_pk(&a)));
    assert_eq!(item[keys::ASSET_SK], AttributeValue::S(keys::link_asset_sk(&v2.key)));
    assert_eq!(
        item["approved_at_ms"],
        AttributeValue::N(v2.approval.approved_at.timestamp_millis().to_string())
    );
    assert_eq!(item["revision"], AttributeValue::N("1".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_idempotency_record_can_be_reclaimed() {
    let (stores, cfg) = aws::stores("idempotency_ttl").await;
    let idem = &stores.idempotency;
    let ttl = IdempotencyTtl { in_progress: Duration::from_secs(120), completed: Duration::from_secs(3600) };
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
    let key = "consonance:evt-42";
    assert_eq!(idem.claim(key, Some("h1"), t0, ttl).await.unwrap(), Claim::Acquired);
    idem.complete(key, Some("evt-42"), t0, ttl).await.unwrap();

    let raw = aws::clients(&cfg).await;
    let read = || async {
        raw.dynamodb
            .get_item()
            .table_name(&cfg.idempotency_table)
            .key(keys::IDEMPOTENCY_KEY, AttributeValue::S(key.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    };
    // The Powertools record shape, with the TTL in epoch seconds.
    let item = read().await;
    assert_eq!(item["status"], AttributeValue::S("COMPLETED".into()));
    assert_eq!(item[keys::TTL_ATTRIBUTE], AttributeValue::N((t0.timestamp() + 3600).to_string()));
    assert_eq!(item["data"], AttributeValue::S("evt-42".into()));
    assert_eq!(item["validation"], AttributeValue::S("h1".into()));
    assert!(!item.contains_key("in_progress_expiration"));

    // Within the TTL: completed; a different payload is refused.
    assert_eq!(
        idem.claim(key, Some("h1"), t0 + Span::minutes(59), ttl).await.unwrap(),
        Claim::Completed { data: Some("evt-42".into()) }
    );
    assert!(matches!(
        idem.claim(key, Some("h2"), t0 + Span::minutes(59), ttl).await,
        Err(StoreError::PayloadMismatch { .. })
    ));
    // Past it: moto (like DynamoDB, lazily) still holds the item, and it counts as absent.
    let later = t0 + Span::hours(2);
    assert_eq!(idem.claim(key, Some("h2"), later, ttl).await.unwrap(), Claim::Acquired);
    let item = read().await;
    assert_eq!(item["status"], AttributeValue::S("INPROGRESS".into()));
    assert_eq!(item["validation"], AttributeValue::S("h2".into()));
    assert_eq!(
        item["in_progress_expiration"],
        AttributeValue::N((later + Span::minutes(2)).timestamp_millis().to_string())
    );
    match idem.claim(key, Some("h2"), later + Span::seconds(10), ttl).await.unwrap() {
        Claim::InProgress { until } => assert_eq!(until, later + Span::minutes(2)),
        other => panic!("expected in progress, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_from_another_query_is_refused() {
    let (stores, _) = aws::stores("foreign_cursor").await;
    let log = &stores.audit;
    let other = Isbn13::parse("9781800000018").unwrap();
    let records: Vec<AuditRecord> = (0..3).map(|n| audit(Some(&isbn()), None, &format!("a.{n}"))).collect();
    log.append(&records).await.unwrap();
    let page = log.by_title(&isbn(), PageRequest { limit: 2, cursor: None }).await.unwrap();
    let cursor = page.next.expect("a second page");
    let err = log.by_title(&other, PageRequest { limit: 2, cursor: Some(cursor.clone()) }).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let rest = log.by_title(&isbn(), PageRequest { limit: 2, cursor: Some(cursor) }).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next, None, "the last page carries no cursor");
    assert_eq!(rest.items[0].data, serde_json::json!({"n": 1, "nested": {"ok": true}}));
}
