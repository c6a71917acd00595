//! The people-facing API over HTTP (the local runner's router), on stored data written through
//! the store ports, on both backends: every route's answer checked against the data, paging,
//! filters, and refusals naming the field.

use connector::http;
use connector_core::AuditAction;
use connector_core::readiness::{ReadinessStatus, TitleReadiness};
use connector_tests::api_seed::{self, IMPRINTS};
use connector_tests::e2e::{self, Backend, Harness};
use connector_tests::on_both_backends;
use connector_web::api;
use serde_json::{Value, json};
use std::sync::Arc;

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn start(deps: api::ApiDeps) -> Api {
        let addr = http::spawn(api::router(Arc::new(deps)), "127.0.0.1:0").await.expect("server");
        Api { base: format!("http://{addr}"), client: reqwest::Client::new() }
    }
    async fn get(&self, path_and_query: &str) -> (u16, Value) {
        let r = self.client.get(format!("{}{path_and_query}", self.base)).send().await.expect("answer");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("answer");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn isbns(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|t| t["isbn"].as_str().unwrap().to_string()).collect()
}

fn expected(reports: &[TitleReadiness], keep: impl Fn(&TitleReadiness) -> bool) -> Vec<String> {
    let kept: Vec<TitleReadiness> = reports.iter().filter(|t| keep(t)).cloned().collect();
    api_seed::board_order(&kept)
}

fn assert_refused(answer: &(u16, Value), status: u16, field: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["status"], status, "{}", answer.1);
    assert_eq!(answer.1["error"]["field"], field, "{}", answer.1);
    assert!(answer.1["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn titles_are_listed_filtered_and_paged(backend: Backend) {
    let (stores, _dir) = e2e::stores(backend, "api_titles").await;
    let seeded = api_seed::seed(&stores, 14).await;
    let api = Api::start(api::ApiDeps::new(stores)).await;
    let all = api_seed::board_order(&seeded.reports);

    let (status, page) = api.get("/titles?limit=200").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(isbns(&page), all);
    assert_eq!((page["total"].as_u64(), page["scanned"].as_u64()), (Some(14), Some(14)));
    assert!(page["next_cursor"].is_null());
    // Reports come back as stored.
    let first: TitleReadiness = serde_json::from_value(page["items"][0].clone()).unwrap();
    assert_eq!(first, *seeded.reports.iter().find(|r| r.isbn.to_string() == all[0]).unwrap());

    // Paging with a cursor walks the same order, without repeats or gaps.
    let mut walked = Vec::new();
    let mut query = "/titles?limit=4".to_string();
    loop {
        let (status, page) = api.get(&query).await;
        assert_eq!(status, 200, "{page}");
        walked.extend(isbns(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("/titles?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(walked, all);

    // Filters, alone and together.
    let at_risk = expected(&seeded.reports, |t| t.status == ReadinessStatus::AtRisk);
    assert!(!at_risk.is_empty() && at_risk.len() < all.len());
    assert_eq!(isbns(&api.get("/titles?status=at_risk").await.1), at_risk);
    let fox = IMPRINTS[2];
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("imprint", &fox.to_uppercase())
        .append_pair("form", "bb")
        .finish();
    let want = expected(&seeded.reports, |t| {
        t.imprint.as_deref() == Some(fox) && t.product_form.as_deref() == Some("BB")
    });
    assert!(!want.is_empty());
    assert_eq!(isbns(&api.get(&format!("/titles?{q}")).await.1), want);
    let (from, to) = ("2027-01-01".parse().unwrap(), "2027-03-31".parse().unwrap());
    let want = expected(&seeded.reports, |t| t.publication_date.is_some_and(|d| d >= from && d <= to));
    assert!(!want.is_empty() && want.len() < all.len());
    assert_eq!(isbns(&api.get("/titles?from=2027-01-01&to=2027-03-31").await.1), want);
    let want = expected(&seeded.reports, |t| {
        t.status == ReadinessStatus::Blocked && t.publication_date.is_some_and(|d| d >= from)
    });
    let (_, page) = api.get("/titles?status=blocked&from=2027-01-01&limit=1").await;
    assert_eq!(page["total"].as_u64(), Some(want.len() as u64));
    assert_eq!(isbns(&page), want[..1]);

    // Refusals name the field.
    assert_refused(&api.get("/titles?from=2027-13-01").await, 400, "from");
    assert_refused(&api.get("/titles?from=2027-05-01&to=2027-01-01").await, 400, "to");
    assert_refused(&api.get("/titles?status=late").await, 400, "status");
    assert_refused(&api.get("/titles?limit=0").await, 400, "limit");
    assert_refused(&api.get("/titles?cursor=not-a-cursor").await, 400, "cursor");
    assert_refused(&api.get("/titles?colour=red").await, 400, "colour");
}

async fn readiness_and_assets_of_one_title(backend: Backend) {
    let (stores, _dir) = e2e::stores(backend, "api_title").await;
    let seeded = api_seed::seed(&stores, 8).await;
    let api = Api::start(api::ApiDeps::new(stores)).await;

    let report = &seeded.reports[3];
    let digits = report.isbn.to_string();
    let hyphenated = format!("{}-{}-{}-{}", &digits[..3], &digits[3..4], &digits[4..12], &digits[12..]);
    let (status, body) = api.get(&format!("/titles/{hyphenated}/readiness")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_value::<TitleReadiness>(body).unwrap(), *report);

    assert_refused(&api.get("/titles/9781800100009/readiness").await, 400, "isbn");
    let (status, body) = api.get(&format!("/titles/{}/readiness", seeded.unevaluated)).await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("no readiness report yet"), "{body}");
    let (status, body) = api.get("/titles/9780000000002/readiness").await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("no title"), "{body}");
    // No evaluator wired: refresh says so rather than serving stale data as fresh.
    assert_refused(&api.get(&format!("/titles/{digits}/readiness?refresh=true")).await, 501, "refresh");
    assert_refused(&api.get(&format!("/titles/{digits}/readiness?refresh=yes")).await, 400, "refresh");

    let (status, body) = api.get(&format!("/titles/{}/assets", seeded.rich)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"]["isbn"], seeded.rich.to_string());
    let links = body["links"].as_array().unwrap();
    assert_eq!(links.len(), seeded.links.len());
    let cover = links.iter().find(|l| l["role"] == "front_cover").expect("cover link");
    let seeded_cover = &seeded.links[0];
    assert_eq!(cover["version"], 2);
    assert_eq!(cover["asset_id"], seeded_cover.approval.asset_id.to_string());
    assert_eq!(cover["version_asset_id"], seeded_cover.version_asset_id.as_ref().unwrap().to_string());
    assert_eq!(cover["status"], "linked");
    assert_eq!(cover["consonance_resource_id"], "sr-77");
    assert_eq!(cover["rights"]["window"]["expiry"], "2030-01-01");
    assert_eq!(cover["approved_by"]["user_id"], "mpatel");
    let banner = links.iter().find(|l| l["role"] == "campaign_banner").expect("banner link");
    assert_eq!((banner["status"].as_str(), banner["rights"].is_null()), (Some("pending"), true));
    assert_eq!(body["requests"][0]["id"], format!("{}#author_photo", seeded.rich));
    assert_eq!(body["requests"][0]["body"]["status"], "open");
    assert_eq!(body["packages"][0]["body"]["channel"], "print");
    // A title without links has empty lists, not an error.
    let (status, body) = api.get(&format!("/titles/{}/assets", seeded.reports[1].isbn)).await;
    assert_eq!((status, body["links"].as_array().map(Vec::len)), (200, Some(0)));
    assert_refused(&api.get("/titles/9780000000002/assets").await, 404, "isbn");
    assert_refused(&api.get("/titles/12345/assets").await, 400, "isbn");
}

async fn audit_trail_newest_first_and_paged(backend: Backend) {
    let (stores, _dir) = e2e::stores(backend, "api_audit").await;
    let seeded = api_seed::seed(&stores, 8).await;
    let api = Api::start(api::ApiDeps::new(stores)).await;

    let newest_first: Vec<String> = seeded.rich_audit.iter().rev().map(|id| id.to_string()).collect();
    let mut walked = Vec::new();
    let mut query = format!("/audit?title={}&limit=3", seeded.rich);
    loop {
        let (status, page) = api.get(&query).await;
        assert_eq!(status, 200, "{page}");
        walked
            .extend(page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => {
                let c = url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>();
                query = format!("/audit?title={}&limit=3&cursor={c}", seeded.rich);
            }
            None => break,
        }
    }
    assert_eq!(walked, newest_first);

    let asset = seeded.links[0].approval.asset_id.to_string();
    let (status, page) = api.get(&format!("/audit?asset={asset}")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["action"], AuditAction::LinkCreated.as_str());

    assert_refused(&api.get("/audit").await, 400, "title");
    assert_refused(&api.get(&format!("/audit?title={}&asset={asset}", seeded.rich)).await, 400, "asset");
    assert_refused(&api.get("/audit?asset=xyz").await, 400, "asset");
    assert_refused(&api.get("/audit?title=978").await, 400, "title");
    assert_refused(&api.get(&format!("/audit?title={}&limit=1000", seeded.rich)).await, 400, "limit");
}

async fn dead_letters_listed_with_cause_and_replayed(backend: Backend) {
    let (stores, _dir) = e2e::stores(backend, "api_dlq").await;
    let seeded = api_seed::seed(&stores, 8).await;
    let api = Api::start(api::ApiDeps::new(stores.clone())).await;
    let (message_id, lost) = &seeded.dead_letter;

    let (status, body) = api.get("/dlq").await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["message_id"], *message_id);
    assert_eq!(items[0]["asset_id"], lost.to_string());
    assert_eq!(items[0]["event_type"], "asset.approved");
    assert_eq!(items[0]["cause"], format!("OTMM has no asset {lost}"));
    assert_eq!(body["depth"]["dead"], 1);

    assert_refused(&api.post("/dlq/replay", "{}").await, 400, "message_ids");
    assert_refused(&api.post("/dlq/replay", r#"{"all": false}"#).await, 400, "all");
    assert_refused(&api.post("/dlq/replay", "not json").await, 400, "body");
    let (status, body) = api.post("/dlq/replay", r#"{"message_ids": ["no-such-message"]}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["moved"], 0);
    assert_eq!(body["not_found"], json!(["no-such-message"]));
    let (status, body) = api.post("/dlq/replay", &json!({"message_ids": [message_id]}).to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["moved"].as_u64(), body["not_found"].as_array().map(Vec::len)), (Some(1), Some(0)));
    // Back on the flow queue, out of the DLQ.
    let (_, body) = api.get("/dlq").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(0), "{body}");
    let back = stores.queue.receive(10, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert!(back[0].body.contains("evt-dead-1"));
    // Reconcile needs the systems: not wired here.
    assert_eq!(api.post("/reconcile", r#"{"mode": "full"}"#).await.0, 503);
}

async fn reconcile_runs_a_bounded_slice(backend: Backend) {
    let h = Harness::start(backend, "api_reconcile", 4).await;
    let api = Api::start(api::ApiDeps::for_app(h.app.clone())).await;
    assert_refused(&api.post("/reconcile", r#"{"mode": "weekly"}"#).await, 400, "mode");
    assert_refused(&api.post("/reconcile", r#"{"mode": "full", "force": true}"#).await, 400, "force");
    let (status, body) = api.post("/reconcile", r#"{"mode": "full"}"#).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["summary"]["mode"], "full");
    assert_eq!(
        (body["summary"]["finished"].as_bool(), body["more"].as_bool()),
        (Some(true), Some(false)),
        "{body}"
    );
    // Every seeded asset was seen; none is linked yet, so repairs were enqueued for the processor.
    assert!(body["summary"]["assets_seen"].as_u64().unwrap() >= h.catalogue.assets.len() as u64, "{body}");
    assert!(body["summary"]["enqueued"].as_u64().unwrap() > 0, "{body}");
    let report = h.drain().await;
    assert!(report.done > 0);
    // A second slice finds nothing new to enqueue for what is now linked.
    let (status, again) = api.post("/reconcile", r#"{"mode": "incremental"}"#).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["more"], false);

    // On an App the handler evaluates readiness on demand (flow 8) and stores the report.
    let isbn = h.catalogue.works[0].products[0].isbn13.clone();
    let (status, fresh) = api.get(&format!("/titles/{isbn}/readiness?refresh=true")).await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(fresh["isbn"], isbn.as_str(), "{fresh}");
    assert!(["ready", "at_risk", "blocked"].contains(&fresh["status"].as_str().unwrap()), "{fresh}");
    let (status, stored) = api.get(&format!("/titles/{isbn}/readiness")).await;
    assert_eq!((status, &stored["status"]), (200, &fresh["status"]), "the evaluation was stored: {stored}");
    // A valid ISBN Consonance does not know: 404, not a failure of the evaluator.
    let (status, body) = api.get("/titles/9780000000002/readiness?refresh=true").await;
    assert_eq!(status, 404, "{body}");
    // Consonance unavailable past the client's retries: 503 with Retry-After, so a caller asks
    // again (it was 502, "bad gateway", for a failure that is only "not now").
    let unavailable =
        connector_sim::faults::Fault { error_rate: 1.0, status: Some(503), ..Default::default() };
    h.sims.consonance.faults().set(Some("POST"), "/graphql", unavailable);
    let r =
        api.client.get(format!("{}/titles/{isbn}/readiness?refresh=true", api.base)).send().await.unwrap();
    h.sims.consonance.faults().clear();
    assert_eq!(r.status().as_u16(), 503);
    let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    assert!(
        retry_after.as_deref().is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)),
        "{retry_after:?}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("could not be evaluated"), "{body}");
    let (status, _) = api.get(&format!("/titles/{isbn}/readiness?refresh=true")).await;
    assert_eq!(status, 200, "asked again once Consonance is back");
}

on_both_backends!(
    titles_are_listed_filtered_and_paged,
    readiness_and_assets_of_one_title,
    audit_trail_newest_first_and_paged,
    dead_letters_listed_with_cause_and_replayed,
    reconcile_runs_a_bounded_slice,
);

#[tokio::test]
async fn openapi_document_and_unknown_routes() {
    let dir = tempfile::tempdir().unwrap();
    let stores = connector::open_state(dir.path(), 5).unwrap();
    let api = Api::start(api::ApiDeps::new(stores)).await;
    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc, serde_json::from_str::<Value>(api::OPENAPI_JSON).unwrap());
    let (status, body) = api.get("/nowhere").await;
    assert_eq!(status, 404, "{body}");
    let r = api.client.delete(format!("{}/dlq", api.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET");
}
