//! The intake over HTTP and the flow processor's SQS glue, on moto: what API Gateway and the
//! SQS event source mapping would see.

use aws_lambda_events::event::sqs::SqsEvent;
use connector::SIM_WEBHOOK_SECRET;
use connector_core::AuditAction;
use connector_core::signature::sign;
use connector_store::PageRequest;
use connector_tests::e2e::{Backend, Harness};
use std::time::Duration;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn approved_body(asset_id: &str, version: u32, event_id: &str) -> String {
    serde_json::json!({
        "event_id": event_id, "event_type": "asset.approved", "otmm_event_id": 80008,
        "asset_id": asset_id, "version": version, "occurred_at": chrono::Utc::now().to_rfc3339(),
        "actor": {"user_id": "mpatel", "name": "M. Patel"}
    })
    .to_string()
}

async fn post(
    h: &Harness,
    body: &str,
    timestamp: i64,
    signature: Option<String>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/webhooks/otmm", h.intake_url))
        .header("content-type", "application/json")
        .header("x-signature-timestamp", timestamp.to_string())
        .body(body.to_string());
    if let Some(sig) = signature {
        req = req.header("x-signature-256", sig);
    }
    let resp = req.send().await.expect("intake answers");
    (resp.status().as_u16(), resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_over_http_on_moto() {
    let h = Harness::start(Backend::Moto, "intake_http", 4).await;
    let asset = &h.catalogue.assets[0];
    let body = approved_body(&asset.versions[0].asset_id, 1, "evt-http-1");
    let ts = now();
    let good = sign(SIM_WEBHOOK_SECRET.as_bytes(), ts, body.as_bytes());

    // Forged signature, stale timestamp, malformed JSON: refused with the reason.
    let (status, err) = post(&h, &body, ts, Some(sign(b"not-the-secret-at-all", ts, body.as_bytes()))).await;
    assert_eq!(status, 401, "{err}");
    let stale_ts = ts - 600;
    let (status, err) =
        post(&h, &body, stale_ts, Some(sign(SIM_WEBHOOK_SECRET.as_bytes(), stale_ts, body.as_bytes()))).await;
    assert_eq!(status, 401);
    assert!(err.to_string().contains("X-Signature-Timestamp"), "{err}");
    let broken = "{\"event_id\": \"x\",\n \"event_type\": }";
    let (status, err) =
        post(&h, broken, ts, Some(sign(SIM_WEBHOOK_SECRET.as_bytes(), ts, broken.as_bytes()))).await;
    assert_eq!(status, 400);
    assert!(err.to_string().contains("line 2"), "{err}");
    let missing = serde_json::json!({"event_id": "e", "event_type": "asset.approved"}).to_string();
    let (status, err) =
        post(&h, &missing, ts, Some(sign(SIM_WEBHOOK_SECRET.as_bytes(), ts, missing.as_bytes()))).await;
    assert_eq!(status, 400);
    assert!(err.to_string().contains("asset_id"), "{err}");
    assert_eq!(h.app.stores.queue.depth().await.unwrap().visible, 0, "nothing refused was enqueued");

    // Accepted once; a duplicate delivery (re-signed later) answers with the original id.
    let (status, first) = post(&h, &body, ts, Some(good)).await;
    assert_eq!(status, 202, "{first}");
    let later = ts + 5;
    let (status, again) =
        post(&h, &body, later, Some(sign(SIM_WEBHOOK_SECRET.as_bytes(), later, body.as_bytes()))).await;
    assert_eq!(status, 202);
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["status"], "duplicate");
    let depth = h.app.stores.queue.depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1, "one message for two deliveries");
    let report = h.drain().await;
    assert_eq!(report.done, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batch_reports_only_retryable_failures() {
    let h = Harness::start(Backend::Moto, "sqs_batch", 6).await;
    // Plain rights (flow 4 would withhold a cover whose rights do not cover the products).
    let asset = h
        .catalogue
        .assets
        .iter()
        .find(|a| a.asset_type == "Front Cover" && a.territory == "WORLD" && a.expiration_date.is_none())
        .expect("a cover");
    let v = asset.versions.last().unwrap();
    h.sims.otmm.approve(&asset.original_asset_id, v.version, "mpatel").unwrap();
    h.sims.otmm.wait_for_deliveries(1, Duration::from_secs(10)).await;

    // The sample event from events/, with the real queued message in its first record.
    let mut event: SqsEvent = serde_json::from_str(include_str!("../../events/sqs-flow-batch.json"))
        .expect("sample SQS event parses");
    let queued = h.app.stores.queue.receive(1, Duration::from_secs(60)).await.unwrap();
    assert_eq!(queued.len(), 1);
    event.records[0].message_id = Some(queued[0].message_id.clone());
    event.records[0].receipt_handle = Some(queued[0].receipt.clone());
    event.records[0].body = Some(queued[0].body.clone());
    // The sample's unreadable second record, really on the queue (its receipt must be real).
    h.app.stores.queue.send(event.records[1].body.as_deref().unwrap()).await.unwrap();
    let unreadable = h.app.stores.queue.receive(1, Duration::from_secs(60)).await.unwrap();
    event.records[1].message_id = Some(unreadable[0].message_id.clone());
    event.records[1].receipt_handle = Some(unreadable[0].receipt.clone());

    // A third record whose OTMM call keeps failing: reported for retry, not lost.
    let mut failing = event.records[0].clone();
    failing.message_id = Some("retry-me".into());
    failing.receipt_handle = Some("no-such-receipt".into());
    failing.body = Some(queued[0].body.replace(&v.asset_id, "5effffffffffffffffffffffffffffffffffffff"));
    event.records.push(failing);
    h.sims.otmm.faults().set(
        Some("GET"),
        "/otmmapi/v6/assets/5effffffffffffffffffffffffffffffffffffff",
        connector_sim::faults::Fault { error_rate: 1.0, status: Some(503), ..Default::default() },
    );

    let response = flow_processor::handle(&h.app, event).await;
    let failed: Vec<String> =
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["retry-me".to_string()], "only the transient failure is retried");
    // The approval was linked; the unreadable message was dead-lettered with an audit record.
    let isbn = connector_core::Isbn13::parse(&asset.isbn).unwrap();
    let links = h.app.stores.mapping.links_for_title(&isbn).await.unwrap();
    assert_eq!(links.len(), 1);
    let dead = h.app.stores.queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["this is not a flow message"]);
    let page = h.app.stores.audit.by_title(&isbn, PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert!(page.items.iter().any(|r| r.action == AuditAction::LinkCreated));
}
