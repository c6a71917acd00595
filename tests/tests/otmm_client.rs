//! The OTMM client against the OTMM simulator over real HTTP: auth and re-login, metadata
//! reads and the lock/patch/unlock edit, search paging, retries and typed errors, streamed
//! download, folders and placeholders, and the simulator's signed webhooks.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use connector_core::AssetId;
use connector_core::config::{SearchConfig, otmm_defaults};
use connector_core::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use connector_sim::catalogue::{Catalogue, fixture_now, otmm_fields};
use connector_sim::faults::Fault;
use connector_sim::otmm::{
    OtmmSim, OtmmSimHandle, OtmmSimOptions, ROOT_FOLDER_ID, WebhookTarget, content_sha256,
};
use futures::StreamExt as _;
use otmm_client::{ChangeFeed, HttpPolicy, OtmmAuth, OtmmClient, OtmmConfig, OtmmError};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The change feed as the mapping config's defaults spell it.
fn feed() -> ChangeFeed {
    let s = SearchConfig::default();
    ChangeFeed {
        sort: s.sort_ascending_on(&s.change_date_field),
        date_field: s.change_date_field,
        operator: s.date_on_or_after_operator,
        extra: Vec::new(),
    }
}

fn catalogue() -> Catalogue {
    Catalogue::generate(24, 7, fixture_now())
}

async fn sim_with(cat: &Catalogue, webhook: Option<WebhookTarget>) -> OtmmSimHandle {
    OtmmSim::start(cat, OtmmSimOptions { webhook, ..OtmmSimOptions::default() }).await
}

fn fast_policy() -> HttpPolicy {
    HttpPolicy {
        base_backoff_ms: 10,
        max_backoff_ms: 50,
        requests_per_second: 0.0,
        request_timeout_ms: 10_000,
        ..HttpPolicy::default()
    }
}

fn session_client(sim: &OtmmSimHandle) -> OtmmClient {
    let auth = OtmmAuth::Session { username: sim.username().into(), password: sim.password().into() };
    let mut cfg = OtmmConfig::new(sim.base_url(), auth);
    cfg.policy = fast_policy();
    OtmmClient::new(cfg).unwrap()
}

fn id(s: &str) -> AssetId {
    AssetId::parse(s).unwrap()
}

/// (method, path, status) of the logged requests whose path contains `part`.
fn log(sim: &OtmmSimHandle, part: &str) -> Vec<(String, String, u16)> {
    sim.faults()
        .requests()
        .into_iter()
        .filter(|r| r.path.contains(part))
        .map(|r| (r.method, r.path, r.status))
        .collect()
}

#[tokio::test]
async fn login_and_read_asset_metadata_through_field_ids() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let seed = cat.assets.iter().find(|a| a.versions.len() >= 2).expect("a multi-version asset");
    let latest = seed.versions.last().unwrap();

    let a = otmm.get_asset(&id(&latest.asset_id)).await.unwrap();
    assert_eq!(a.asset_id.as_str(), latest.asset_id);
    assert_eq!(a.original_asset_id.as_str(), seed.original_asset_id);
    assert_eq!(a.version, latest.version);
    assert!(a.latest_version);
    assert_eq!(a.name, seed.name);
    assert_eq!(a.master_content_size, Some(latest.size_bytes));
    assert_eq!(a.field_str(otmm_fields::ISBN), Some(seed.isbn.as_str()));
    // A lookup-domain field, read at value.value.field_value.value.
    assert_eq!(a.field_str(otmm_fields::ASSET_TYPE), Some(seed.asset_type.as_str()));
    assert_eq!(a.field_str(otmm_fields::APPROVAL_STATUS), Some(latest.approval_status.as_str()));
    assert_eq!(a.field_str(otmm_fields::TERRITORY), Some(seed.territory.as_str()));
    assert_eq!(a.date_last_updated.map(|d| d.timestamp()), Some(latest.last_updated.timestamp()));

    // A table field (the social graphic's channels).
    let social = cat.assets.iter().find(|a| !a.channels.is_empty()).expect("an asset with channels");
    let s = otmm.get_asset(&id(&social.versions[0].asset_id)).await.unwrap();
    assert_eq!(s.field_values(otmm_fields::CHANNELS), vec!["social", "retail_web"]);

    // Versions and several-by-id.
    let versions = otmm
        .asset_versions(otmm_defaults::VERSIONS_RESOURCE_PATH, &id(&seed.original_asset_id))
        .await
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        (1..=seed.versions.len() as u32).collect::<Vec<_>>()
    );
    assert!(versions.iter().all(|v| v.original_asset_id.as_str() == seed.original_asset_id));
    assert_eq!(versions.iter().filter(|v| v.latest_version).count(), 1);
    let ids: Vec<AssetId> = seed.versions.iter().map(|v| id(&v.asset_id)).collect();
    let many = otmm.get_assets(&ids).await.unwrap();
    assert_eq!(many.len(), ids.len());

    // One login for all of it, X-Requested-By accepted on every call.
    assert_eq!(sim.faults().count(Some("POST"), "/otmmapi/v6/sessions"), 1);
    assert!(sim.faults().requests().iter().all(|r| r.status < 400), "{:?}", sim.faults().requests());
    assert_eq!(otmm.metrics().operation("get_asset").calls, 2);
    assert_eq!(otmm.metrics().operation("login").calls, 1);
}

#[tokio::test]
async fn logs_in_again_after_sessions_expire_without_losing_requests() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let asset = &cat.assets[0].versions[0].asset_id;
    otmm.get_asset(&id(asset)).await.unwrap();

    sim.expire_sessions();
    let a = otmm.get_asset(&id(asset)).await.unwrap();
    assert_eq!(a.asset_id.as_str(), asset);
    let gets: Vec<u16> = log(&sim, &format!("/assets/{asset}")).iter().map(|r| r.2).collect();
    assert_eq!(gets, vec![200, 401, 200]);
    assert_eq!(sim.faults().count(Some("POST"), "/otmmapi/v6/sessions"), 2);

    // Under concurrency the re-login happens once.
    sim.expire_sessions();
    let mut tasks = Vec::new();
    for seed in cat.assets.iter().take(8) {
        let otmm = otmm.clone();
        let aid = seed.versions[0].asset_id.clone();
        tasks.push(tokio::spawn(
            async move { otmm.get_asset(&id(&aid)).await.map(|a| a.asset_id.to_string()) },
        ));
    }
    for (t, seed) in tasks.into_iter().zip(&cat.assets) {
        assert_eq!(t.await.unwrap().unwrap(), seed.versions[0].asset_id);
    }
    assert_eq!(sim.faults().count(Some("POST"), "/otmmapi/v6/sessions"), 3);
}

#[tokio::test]
async fn oauth2_login_and_bad_credentials() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let auth = OtmmAuth::OAuth2 {
        username: sim.username().into(),
        password: sim.password().into(),
        client_id: "connector".into(),
        client_secret: "s3cret".into(),
    };
    let mut cfg = OtmmConfig::new(sim.base_url(), auth);
    cfg.policy = fast_policy();
    let otmm = OtmmClient::new(cfg).unwrap();
    let asset = &cat.assets[0].versions[0].asset_id;
    otmm.get_asset(&id(asset)).await.unwrap();
    sim.expire_sessions();
    otmm.get_asset(&id(asset)).await.unwrap();
    assert_eq!(sim.faults().count(Some("POST"), "/otmmapi/v6/sessions/oauth2/token"), 2);

    let bad = OtmmClient::new(OtmmConfig::new(
        sim.base_url(),
        OtmmAuth::Session { username: "tsuper".into(), password: "wrong".into() },
    ))
    .unwrap();
    let err = bad.get_asset(&id(asset)).await.unwrap_err();
    assert!(matches!(err, OtmmError::Unauthorized { operation: "login", .. }), "{err:?}");
    assert!(err.to_string().contains("invalid user name or password"), "{err}");
}

#[tokio::test]
async fn metadata_edit_locks_patches_and_always_unlocks() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let asset = cat.assets[1].versions[0].asset_id.clone();

    otmm.update_metadata(&id(&asset), &[(otmm_fields::RIGHTS_FLAG, "not cleared for US")]).await.unwrap();
    let seq: Vec<(String, u16)> = log(&sim, &format!("/assets/{asset}"))
        .into_iter()
        .map(|(m, p, s)| (format!("{m} {}", p.rsplit('/').next().unwrap()), s))
        .collect();
    assert_eq!(
        seq,
        vec![("PUT state".to_string(), 200), (format!("PATCH {asset}"), 200), ("PUT state".to_string(), 200)]
    );
    let after = sim.asset(&asset).unwrap();
    assert_eq!(after.field(otmm_fields::RIGHTS_FLAG), Some("not cleared for US"));
    assert_eq!(after.locked_by, None);
    // Read back through the client.
    let a = otmm.get_asset(&id(&asset)).await.unwrap();
    assert_eq!(a.field_str(otmm_fields::RIGHTS_FLAG), Some("not cleared for US"));

    // The PATCH fails: the error comes back and the unlock is still sent.
    sim.faults().clear_log();
    sim.faults().set(
        Some("PATCH"),
        &format!("/otmmapi/v6/assets/{asset}"),
        Fault { fail_next: 1, status: Some(400), ..Default::default() },
    );
    let err = otmm.update_metadata(&id(&asset), &[(otmm_fields::RIGHTS_FLAG, "changed")]).await.unwrap_err();
    assert!(matches!(err, OtmmError::Rejected { operation: "update_metadata", status: 400, .. }), "{err:?}");
    let seq: Vec<(String, u16)> = log(&sim, &asset).into_iter().map(|(m, _, s)| (m, s)).collect();
    assert_eq!(seq, vec![("PUT".into(), 200), ("PATCH".into(), 400), ("PUT".into(), 200)]);
    let after = sim.asset(&asset).unwrap();
    assert_eq!(after.locked_by, None, "unlocked after the failed PATCH");
    assert_eq!(after.field(otmm_fields::RIGHTS_FLAG), Some("not cleared for US"));
}

#[tokio::test]
async fn patch_without_lock_is_a_conflict() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let asset = cat.assets[2].versions[0].asset_id.clone();
    // The lock fails (injected 409): nothing is patched, the conflict is transient.
    sim.faults().set(
        Some("PUT"),
        &format!("/otmmapi/v6/assets/{asset}/state"),
        Fault { fail_next: 1, status: Some(409), ..Default::default() },
    );
    let err = otmm.update_metadata(&id(&asset), &[(otmm_fields::RIGHTS_FLAG, "x")]).await.unwrap_err();
    assert!(matches!(err, OtmmError::Conflict { operation: "lock_asset", status: 409, .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(sim.faults().count(Some("PATCH"), "/otmmapi/v6/assets"), 0);
}

#[tokio::test]
async fn change_feed_pages_return_every_changed_asset_exactly_once() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let mut cfg = OtmmConfig::new(
        sim.base_url(),
        OtmmAuth::Session { username: sim.username().into(), password: sim.password().into() },
    );
    cfg.policy = fast_policy();
    cfg.options.page_size = 4;
    let otmm = OtmmClient::new(cfg).unwrap();

    // Everything updated in the last 40 days of the fixture, plus two fresh approvals.
    let since: DateTime<Utc> = fixture_now() - chrono::Duration::days(40);
    let fresh = &cat.assets[3];
    sim.approve(&fresh.original_asset_id, fresh.versions.last().unwrap().version, "mpatel").unwrap();
    let expected: BTreeSet<String> = sim
        .assets()
        .into_iter()
        .filter(|a| a.latest_version && !a.deleted && a.date_last_updated >= since)
        .map(|a| a.asset_id)
        .collect();
    assert!(expected.len() > 8, "the fixture should span several pages: {}", expected.len());

    let all = otmm.search_all_changed_since(&feed(), since).await.unwrap();
    let ids: Vec<String> = all.iter().map(|a| a.asset_id.to_string()).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "no duplicates");
    assert_eq!(unique, expected);
    // Oldest change first, and the metadata came along.
    let dates: Vec<_> = all.iter().map(|a| a.date_last_updated.unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]));
    assert!(all.iter().all(|a| a.field_str(otmm_fields::ISBN).is_some()));
    assert_eq!(all.last().unwrap().original_asset_id.as_str(), fresh.original_asset_id);
    let pages = sim.faults().count(Some("POST"), "/otmmapi/v6/search/text");
    assert_eq!(pages, expected.len().div_ceil(4));

    // A single page reports the totals.
    let page = otmm.search_changed_since(&feed(), since, 4, 4).await.unwrap();
    assert_eq!((page.offset, page.hit_count, page.total_hit_count), (4, 4, expected.len() as u64));
    assert_eq!(page.asset_ids.len(), 4);
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let asset = cat.assets[0].versions[0].asset_id.clone();
    sim.faults().set(
        Some("GET"),
        &format!("/otmmapi/v6/assets/{asset}"),
        Fault { fail_next: 1, status: Some(500), ..Default::default() },
    );
    otmm.get_asset(&id(&asset)).await.unwrap();
    let statuses: Vec<u16> = log(&sim, &format!("/assets/{asset}")).iter().map(|r| r.2).collect();
    assert_eq!(statuses, vec![500, 200]);

    // 503 is retried by the shared policy.
    sim.faults().clear_log();
    sim.faults().set(
        Some("GET"),
        &format!("/otmmapi/v6/assets/{asset}"),
        Fault { fail_next: 2, status: Some(503), ..Default::default() },
    );
    otmm.get_asset(&id(&asset)).await.unwrap();
    assert_eq!(log(&sim, &format!("/assets/{asset}")).len(), 3);

    // Persistent failure: a transient error naming the operation.
    sim.faults().set(
        Some("GET"),
        &format!("/otmmapi/v6/assets/{asset}"),
        Fault { fail_next: 100, status: Some(503), ..Default::default() },
    );
    let err = otmm.get_asset(&id(&asset)).await.unwrap_err();
    assert!(matches!(err, OtmmError::Transient { operation: "get_asset", status: 503, .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("injected fault"), "{err}");
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let asset = cat.assets[0].versions[0].asset_id.clone();
    otmm.get_asset(&id(&asset)).await.unwrap(); // log in first
    sim.faults().clear_log();
    sim.faults().set(
        None,
        "/otmmapi/v6/search/text",
        Fault { fail_next: 1, status: Some(429), retry_after_secs: Some(1), ..Default::default() },
    );
    let started = Instant::now();
    otmm.search(&[], None, 0, 5).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1_000), "waited only {waited:?}");
    let statuses: Vec<u16> = log(&sim, "/search/text").iter().map(|r| r.2).collect();
    assert_eq!(statuses, vec![429, 200]);
}

#[tokio::test]
async fn not_found_is_typed_and_not_retried() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let err = otmm.get_asset(&id(missing)).await.unwrap_err();
    match &err {
        OtmmError::NotFound { operation, what } => {
            assert_eq!(*operation, "get_asset");
            assert_eq!(what, &format!("asset {missing}"));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(log(&sim, missing).len(), 1);
    let err = otmm.folder_children("f0f0000000000000000000000000000000000999", 0, 10).await.unwrap_err();
    assert!(matches!(err, OtmmError::NotFound { operation: "folder_children", .. }), "{err:?}");
}

/// A body cut short or replaced by a proxy's HTML page is not OTMM speaking: transient
/// (connector_http::fault), asked again inside the call, and still transient when it persists.
#[tokio::test]
async fn truncated_or_invalid_json_is_unreadable_transient_and_asked_again() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let asset = cat.assets[0].versions[0].asset_id.clone();
    let path = format!("/otmmapi/v6/assets/{asset}");

    sim.faults().set(Some("GET"), &path, Fault { truncate_body: true, ..Default::default() });
    let before = log(&sim, &path).len();
    let err = otmm.get_asset(&id(&asset)).await.unwrap_err();
    assert!(matches!(err, OtmmError::Unreadable { operation: "get_asset", .. }), "{err:?}");
    assert!(err.to_string().contains("invalid JSON") && err.is_transient(), "{err}");
    assert_eq!(log(&sim, &path).len() - before, HttpPolicy::default().max_attempts as usize);

    sim.faults().set(Some("GET"), &path, Fault { invalid_json: true, ..Default::default() });
    let err = otmm.get_asset(&id(&asset)).await.unwrap_err();
    assert!(matches!(err, OtmmError::Unreadable { operation: "get_asset", .. }), "{err:?}");
    assert!(err.to_string().contains("<html>"), "{err}");

    sim.faults().set(None, "/otmmapi/v6/search/text", Fault { truncate_body: true, ..Default::default() });
    let err = otmm.search(&[], None, 0, 10).await.unwrap_err();
    assert!(matches!(err, OtmmError::Unreadable { operation: "search", .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn streams_a_50_mb_asset_without_buffering() {
    let mut cat = catalogue();
    const SIZE: u64 = 50 * 1024 * 1024;
    cat.assets[0].versions[0].size_bytes = SIZE;
    let asset = cat.assets[0].versions[0].asset_id.clone();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);

    let (length, mut stream) = otmm.download_content(&id(&asset)).await.unwrap();
    assert_eq!(length, Some(SIZE));
    let mut hasher = Sha256::new();
    let (mut total, mut chunks, mut largest) = (0u64, 0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len() as u64;
        chunks += 1;
        largest = largest.max(chunk.len());
        hasher.update(&chunk);
    }
    assert_eq!(total, SIZE);
    assert!(chunks > 100 && largest <= 1024 * 1024, "{chunks} chunks, largest {largest} bytes");
    assert_eq!(hex::encode(hasher.finalize()), content_sha256(&asset, SIZE));
}

#[tokio::test]
async fn folders_placeholders_and_jobs() {
    let cat = catalogue();
    let sim = sim_with(&cat, None).await;
    let otmm = session_client(&sim);
    let folder = otmm
        .create_folder(
            ROOT_FOLDER_ID,
            "REQ-42 9781800000001 Front Cover",
            &[(otmm_fields::REQUEST_ID, "REQ-42")],
        )
        .await
        .unwrap();
    assert!(folder.is_folder());
    assert_eq!(folder.field_str(otmm_fields::REQUEST_ID), Some("REQ-42"));
    let folders = sim.folders();
    let f = folders.iter().find(|f| f.folder_id == folder.asset_id.as_str()).unwrap();
    assert_eq!(f.parent_id.as_deref(), Some(ROOT_FOLDER_ID));
    assert_eq!(f.fields.get(otmm_fields::REQUEST_ID).map(String::as_str), Some("REQ-42"));
    // Asset requests are found again by their request id, and edited in place.
    otmm.update_folder_metadata(folder.asset_id.as_str(), &[(otmm_fields::REQUEST_STATUS, "Fulfilled")])
        .await
        .unwrap();
    let by_id =
        otmm_client::SearchCondition::new(otmm_fields::REQUEST_ID, otmm_defaults::TEXT_OPERATOR, "REQ-42");
    let found = otmm.search(&[by_id], None, 0, 10).await.unwrap();
    assert_eq!(found.assets.len(), 1, "{found:?}");
    assert!(found.assets[0].is_folder());
    assert_eq!(found.assets[0].field_str(otmm_fields::REQUEST_STATUS), Some("Fulfilled"));
    assert_eq!(found.assets[0].field_str(otmm_fields::REQUEST_ID), Some("REQ-42"));

    let job = otmm
        .create_placeholder_asset(
            folder.asset_id.as_str(),
            &[
                (otmm_fields::ISBN, "9781800000001"),
                (otmm_fields::ASSET_TYPE, "Front Cover"),
                (otmm_fields::DUE_DATE, "2026-12-01T00:00:00Z"),
            ],
            "Front cover for 9781800000001",
        )
        .await
        .unwrap();
    let status = otmm.job_status(&job).await.unwrap();
    assert_eq!(status.job_id, job);
    assert_eq!(status.state.as_deref(), Some("COMPLETED"));
    assert_eq!(status.asset_ids.len(), 1);
    let placeholders = sim.placeholders();
    assert_eq!(placeholders.len(), 1);
    assert_eq!(placeholders[0].asset_id, status.asset_ids[0]);
    assert_eq!(placeholders[0].fields.get(otmm_fields::ISBN).map(String::as_str), Some("9781800000001"));

    let children = otmm.folder_children(folder.asset_id.as_str(), 0, 10).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].asset_id.as_str(), status.asset_ids[0]);
    assert_eq!(children[0].field_str(otmm_fields::ASSET_TYPE), Some("Front Cover"));
    assert_eq!(children[0].master_content_size, None);

    // Creating is never retried: a 503 on POST /assets comes straight back.
    sim.faults().set(
        Some("POST"),
        "/otmmapi/v6/assets",
        Fault { fail_next: 1, status: Some(503), ..Default::default() },
    );
    let err = otmm.create_placeholder_asset(folder.asset_id.as_str(), &[], "x").await.unwrap_err();
    assert!(matches!(err, OtmmError::Transient { operation: "create_placeholder_asset", .. }), "{err:?}");
    assert_eq!(sim.faults().count(Some("POST"), "/otmmapi/v6/assets"), 2);
    assert_eq!(sim.placeholders().len(), 1);
}

/// A webhook receiver: answers 500 to the first delivery, 200 after; keeps what it got.
async fn receiver() -> (String, Arc<Mutex<Vec<(HeaderMap, Bytes)>>>) {
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/webhooks/otmm",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                let mut g = store.lock().unwrap();
                g.push((headers, body));
                if g.len() == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::ACCEPTED }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/webhooks/otmm"), got)
}

#[tokio::test]
async fn approve_delivers_a_correctly_signed_webhook() {
    let cat = catalogue();
    let (url, got) = receiver().await;
    let secret = "whsec-otmm-test";
    let sim = sim_with(&cat, Some(WebhookTarget { url, secret: secret.into() })).await;
    let seed = cat.assets.iter().find(|a| a.versions.len() >= 2).unwrap();
    let v = seed.versions.last().unwrap();

    let approved_id = sim.approve(&seed.original_asset_id, v.version, "jthorne").unwrap();
    assert_eq!(approved_id, v.asset_id);
    let deliveries = sim.wait_for_deliveries(1, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].delivered, "{:?}", deliveries[0]);
    assert_eq!(deliveries[0].attempts, 2, "the first attempt got a 500 and was retried");

    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let (headers, body) = &received[1];
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(
        verify(secret.as_bytes(), h(SIGNATURE_HEADER), h(TIMESTAMP_HEADER), body, Utc::now().timestamp()),
        Ok(())
    );
    assert!(
        verify(b"wrong", h(SIGNATURE_HEADER), h(TIMESTAMP_HEADER), body, Utc::now().timestamp()).is_err()
    );
    let event: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["event_type"], "asset.approved");
    assert_eq!(event["otmm_event_id"], 80008);
    assert_eq!(event["asset_id"], v.asset_id.as_str());
    assert_eq!(event["version"], v.version);
    assert_eq!(event["actor"]["user_id"], "jthorne");
    assert!(event["event_id"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(DateTime::parse_from_rfc3339(event["occurred_at"].as_str().unwrap()).is_ok());

    // The approval is visible through the API, and other changes emit their events.
    let asset = sim.asset(&v.asset_id).unwrap();
    assert_eq!(asset.field(otmm_fields::APPROVED_BY), Some("jthorne"));
    let new_id = sim.add_version(&seed.original_asset_id, "In Review").unwrap();
    sim.set_field(&new_id, otmm_fields::TERRITORY, "GB IE").unwrap();
    sim.set_webhooks_enabled(false);
    sim.delete_asset(&new_id).unwrap(); // silent: the reconciler must find it
    sim.set_webhooks_enabled(true);
    let deliveries = sim.wait_for_deliveries(3, Duration::from_secs(10)).await;
    let types: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(types, vec!["asset.approved", "asset.version_added", "asset.metadata_changed"]);
    assert!(sim.asset(&new_id).unwrap().deleted);
    sim.shutdown().await;
}
