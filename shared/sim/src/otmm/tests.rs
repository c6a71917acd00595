//! The simulator's own rules, checked with plain HTTP (no OTMM client).

use super::*;
use crate::catalogue::fixture_now;
use chrono::{DateTime, Utc};

async fn start() -> (OtmmSimHandle, Catalogue) {
    let cat = Catalogue::generate(6, 3, fixture_now());
    (OtmmSim::start(&cat, OtmmSimOptions::default()).await, cat)
}

/// A logged-in plain client: (client with cookies, session id).
async fn login(sim: &OtmmSimHandle) -> (reqwest::Client, String) {
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let v: Value = c
        .post(format!("{}/otmmapi/v6/sessions", sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={}&password={}", sim.username(), sim.password()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = v["session_resource"]["session"]["id"].to_string();
    (c, id)
}

#[tokio::test]
async fn auth_is_enforced_with_exception_bodies() {
    let (sim, cat) = start().await;
    let asset = &cat.assets[0].versions[0].asset_id;
    let url = format!("{}/otmmapi/v6/assets/{asset}", sim.base_url());
    let anon = reqwest::Client::new();
    let r = anon.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["exception_body"]["http_response_code"], 401);

    let (c, id) = login(&sim).await;
    // The cookie alone is not enough: X-Requested-By must carry the session id.
    assert_eq!(c.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(c.get(&url).header("X-Requested-By", "999").send().await.unwrap().status(), 401);
    let v: Value = c.get(&url).header("X-Requested-By", &id).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["asset_resource"]["asset"]["asset_id"], asset.as_str());
    assert!(v["asset_resource"]["asset"]["metadata"]["metadata_element_list"].is_array());

    sim.expire_sessions();
    assert_eq!(c.get(&url).header("X-Requested-By", &id).send().await.unwrap().status(), 401);
    // Unknown API versions and paths answer 404 in the same shape.
    let r = anon.get(format!("{}/otmmapi/v9/assets/{asset}", sim.base_url())).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["exception_body"]["http_response_code"], 404);
}

#[tokio::test]
async fn patch_needs_the_lock_and_search_rejects_unknown_operators() {
    let (sim, cat) = start().await;
    let (c, id) = login(&sim).await;
    let asset = &cat.assets[0].versions[0].asset_id;
    let base = format!("{}/otmmapi/v6/assets/{asset}", sim.base_url());
    let body = json!({"edited_asset": {"data": {"metadata": [
        {"id": otmm_fields::RIGHTS_FLAG, "type": "com.artesia.metadata.MetadataField",
         "value": {"value": {"type": "string", "value": "flagged"}}}
    ]}}});
    let r = c.patch(&base).header("X-Requested-By", &id).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["exception_body"]["error_code"], "ASSET_NOT_LOCKED");

    let state = |action: &'static str| {
        c.put(format!("{base}/state"))
            .header("X-Requested-By", &id)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("action={action}"))
            .send()
    };
    assert_eq!(state("lock").await.unwrap().status(), 200);
    assert_eq!(sim.asset(asset).unwrap().locked_by.as_deref(), Some(sim.username()));
    assert_eq!(c.patch(&base).header("X-Requested-By", &id).json(&body).send().await.unwrap().status(), 200);
    assert_eq!(state("unlock").await.unwrap().status(), 200);
    assert_eq!(state("explode").await.unwrap().status(), 400);
    let a = sim.asset(asset).unwrap();
    assert_eq!((a.locked_by.as_deref(), a.field(otmm_fields::RIGHTS_FLAG)), (None, Some("flagged")));

    let cond = json!({"search_condition_list": {"search_condition": [
        {"type": "com.artesia.search.SearchScalarCondition", "metadata_field_id": DATE_LAST_UPDATED_FIELD,
         "relational_operator_id": "ARTESIA.OPERATOR.NONSENSE", "value": "2026-01-01T00:00:00Z"}
    ]}});
    let r = c
        .get(format!("{}/otmmapi/v6/search/text", sim.base_url()))
        .header("X-Requested-By", &id)
        .query(&[("search_condition_list", cond.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["exception_body"]["message"].as_str().unwrap().contains("NONSENSE"));
}

#[tokio::test]
async fn control_routes_drive_the_state_over_http() {
    let (sim, cat) = start().await;
    let c = reqwest::Client::new();
    let seed = &cat.assets[0];
    let ctl = |p: &str| format!("{}/__sim/otmm/{p}", sim.base_url());
    let r = c
        .post(ctl("add_version"))
        .json(&json!({"original_asset_id": seed.original_asset_id, "status": "In Review"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let new_id = v["result"].as_str().unwrap().to_string();
    let next = seed.versions.len() as u32 + 1;
    let r = c
        .post(ctl("approve"))
        .json(&json!({"original_asset_id": seed.original_asset_id, "version": next, "approver": "svale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = sim.asset(&new_id).unwrap();
    assert_eq!((a.version, a.latest_version), (next, true));
    assert_eq!(a.field(otmm_fields::APPROVAL_STATUS), Some(otmm_fields::APPROVED_VALUE));
    assert!(!sim.asset(&seed.versions[0].asset_id).unwrap().latest_version);
    let r = c
        .post(ctl("approve"))
        .json(&json!({"original_asset_id": seed.original_asset_id, "version": 99, "approver": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = c.get(ctl(&format!("assets/{new_id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["asset"]["version"], next);
    assert_eq!(c.post(ctl("expire_sessions")).send().await.unwrap().status(), 204);
    sim.shutdown().await;
}

/// The change feed's search is answered from an index: it must give exactly what filtering and
/// sorting every asset gives, across pages, with extra conditions, and after changes.
#[tokio::test]
async fn change_feed_search_equals_a_sort_of_every_asset() {
    let cat = Catalogue::generate(30, 7, fixture_now());
    let sim = OtmmSim::start(&cat, OtmmSimOptions::default()).await;
    let (c, id) = login(&sim).await;
    let search = |since: String, extra: Option<(String, String)>, after: usize, limit: usize| {
        let mut conds = vec![json!({"type": "com.artesia.search.SearchScalarCondition",
            "metadata_field_id": DATE_LAST_UPDATED_FIELD,
            "relational_operator_id": SearchIds::default().date_on_or_after, "value": since})];
        if let Some((field, value)) = extra {
            conds.push(json!({"type": "com.artesia.search.SearchScalarCondition",
                "metadata_field_id": field, "relational_operator_id": SearchIds::default().text_contains, "value": value}));
        }
        let cond = json!({"search_condition_list": {"search_condition": conds}});
        c.get(format!("{}/otmmapi/v6/search/text", sim.base_url()))
            .header("X-Requested-By", &id)
            .query(&[
                ("search_condition_list", cond.to_string()),
                ("sort", format!("asc_{DATE_LAST_UPDATED_FIELD}")),
                ("after", after.to_string()),
                ("limit", limit.to_string()),
                ("return_type", "ids".to_string()),
            ])
            .send()
    };
    let check = |since: DateTime<Utc>, extra: Option<(String, String)>| {
        let sim = &sim;
        let search = &search;
        async move {
            let mut expected: Vec<SimAsset> = sim
                .assets()
                .into_iter()
                .filter(|a| a.latest_version && !a.deleted && a.date_last_updated >= since)
                .filter(|a| extra.as_ref().is_none_or(|(f, v)| a.field(f) == Some(v.as_str())))
                .collect();
            expected
                .sort_by(|x, y| (x.date_last_updated, &x.asset_id).cmp(&(y.date_last_updated, &y.asset_id)));
            let expected: Vec<String> = expected.into_iter().map(|a| a.asset_id).collect();
            let mut got = Vec::new();
            loop {
                let v: Value =
                    search(fmt_date(since), extra.clone(), got.len(), 7).await.unwrap().json().await.unwrap();
                let r = &v["search_result_resource"]["search_result"];
                assert_eq!(r["total_hit_count"], expected.len(), "since {since}, {extra:?}");
                let ids = r["asset_id_list"].as_array().unwrap().clone();
                if ids.is_empty() {
                    break;
                }
                got.extend(ids.into_iter().map(|i| i.as_str().unwrap().to_string()));
            }
            assert_eq!(got, expected, "since {since}, {extra:?}");
            expected.len()
        }
    };
    let mut dates: Vec<DateTime<Utc>> = sim.assets().iter().map(|a| a.date_last_updated).collect();
    dates.sort();
    let middle = dates[dates.len() / 2];
    let front = Some((otmm_fields::ASSET_TYPE.to_string(), "Front Cover".to_string()));
    assert!(check(DateTime::<Utc>::UNIX_EPOCH, None).await > 50);
    assert!(check(middle, None).await > 0);
    assert!(check(middle, front.clone()).await > 0);

    // Changes move assets to the end of the feed (several in the same second: ties by id),
    // a new version replaces its predecessor, a deletion leaves.
    let seeds: Vec<_> = cat.assets.iter().filter(|a| !a.deleted).take(4).collect();
    let v2 = sim.add_version(&seeds[0].original_asset_id, "In Review").unwrap();
    let latest = sim.asset(&v2).unwrap().version;
    sim.approve(&seeds[0].original_asset_id, latest, "svale").unwrap();
    sim.set_field(
        &seeds[1].versions.iter().max_by_key(|v| v.version).unwrap().asset_id,
        otmm_fields::RIGHTS_FLAG,
        "flagged",
    )
    .unwrap();
    sim.delete_asset(&seeds[2].versions[0].asset_id).unwrap();
    assert!(check(DateTime::<Utc>::UNIX_EPOCH, None).await > 50);
    assert!(check(middle, front).await > 0);
    assert!(check(now_secs() - chrono::Duration::seconds(5), None).await >= 2);
    sim.shutdown().await;
}

/// A search on an identifier (here ISBNs) is answered from the value index: the same hits as
/// testing every asset, for exact, hyphenated and longer values alike, and still after fields
/// change (an ISBN rewritten, a new version, a deletion).
#[tokio::test]
async fn identifier_searches_equal_a_scan_of_every_asset() {
    let cat = Catalogue::generate(30, 7, fixture_now());
    let sim = OtmmSim::start(&cat, OtmmSimOptions::default()).await;
    let (c, id) = login(&sim).await;
    let ids = SearchIds::default();
    let check = |isbn: String| {
        let (sim, c, id, ids) = (&sim, &c, &id, &ids);
        async move {
            let mut expected: Vec<String> = sim
                .assets()
                .into_iter()
                .filter(|a| a.latest_version && !a.deleted)
                .filter(|a| a.field(otmm_fields::ISBN).is_some_and(|v| v.to_lowercase().contains(&isbn)))
                .map(|a| a.asset_id)
                .collect();
            expected.sort();
            let cond = json!({"search_condition_list": {"search_condition": [{"type": "com.artesia.search.SearchScalarCondition",
                "metadata_field_id": otmm_fields::ISBN, "relational_operator_id": ids.text_contains, "value": isbn}]}});
            let v: Value = c
                .get(format!("{}/otmmapi/v6/search/text", sim.base_url()))
                .header("X-Requested-By", id)
                .query(&[
                    ("search_condition_list", cond.to_string()),
                    ("limit", "200".into()),
                    ("return_type", "ids".into()),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let got: Vec<String> = v["search_result_resource"]["search_result"]["asset_id_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, expected, "{isbn}");
            expected.len()
        }
    };
    let isbns: Vec<String> =
        cat.works.iter().flat_map(|w| w.products.iter().map(|p| p.isbn13.clone())).collect();
    let mut found = 0;
    for isbn in &isbns {
        found += check(isbn.clone()).await;
    }
    assert!(found > 10, "the catalogue's ISBNs find its assets: {found}");
    // Values the index keeps apart: one longer than an ISBN that contains it, a hyphenated one.
    let seeds: Vec<_> = cat.assets.iter().filter(|a| !a.deleted).take(3).collect();
    let latest = |s: &crate::catalogue::SeedAsset| {
        s.versions.iter().max_by_key(|v| v.version).unwrap().asset_id.clone()
    };
    let (a, b, gone) = (latest(seeds[0]), latest(seeds[1]), latest(seeds[2]));
    let old = sim.asset(&a).unwrap().field(otmm_fields::ISBN).unwrap().to_string();
    sim.set_field(&a, otmm_fields::ISBN, &format!("{}0", isbns[0])).unwrap();
    sim.set_field(&b, otmm_fields::ISBN, &format!("ISBN {}", isbns[0])).unwrap();
    sim.delete_asset(&gone).unwrap();
    assert!(check(isbns[0].clone()).await >= 2, "the longer and the prefixed value contain it");
    check(old.clone()).await;
    sim.set_field(&a, otmm_fields::ISBN, &old).unwrap();
    assert!(check(old).await >= 1);
    let v2 = sim.add_version(&seeds[1].original_asset_id, "In Review").unwrap();
    assert!(sim.asset(&v2).is_some());
    for isbn in &isbns {
        check(isbn.clone()).await;
    }
    sim.shutdown().await;
}

/// Searches accept only the ids the installation knows: an unknown field, operator or sort is
/// an OTMM exception body, never an empty result. Versions are found by the lineage field;
/// the versions resource can be switched off; lookup domains list their values.
#[tokio::test]
async fn unknown_search_ids_are_refused_and_versions_are_found_by_search() {
    let cat = Catalogue::generate(6, 3, fixture_now());
    let ids = SearchIds::default();
    let sim = OtmmSim::start(
        &cat,
        OtmmSimOptions {
            search: SearchIds { versions_resource: false, ..ids.clone() },
            ..Default::default()
        },
    )
    .await;
    let (c, session) = login(&sim).await;
    let search = |conds: Value, sort: Option<String>| {
        let mut q = vec![(
            "search_condition_list",
            json!({"search_condition_list": {"search_condition": conds}}).to_string(),
        )];
        if let Some(s) = sort {
            q.push(("sort", s));
        }
        c.get(format!("{}/otmmapi/v6/search/text", sim.base_url()))
            .header("X-Requested-By", &session)
            .query(&q)
            .send()
    };
    let cond = |f: &str, op: &str, v: &str| json!({"type": "com.artesia.search.SearchScalarCondition", "metadata_field_id": f, "relational_operator_id": op, "value": v});
    for (conds, sort, code) in [
        (json!([cond("CUSTOM.FIELD.NOPE", &ids.text_contains, "x")]), None, "INVALID_SEARCH_FIELD"),
        (json!([cond(otmm_fields::ISBN, "ARTESIA.OPERATOR.CHAR.IS", "x")]), None, "INVALID_SEARCH_OPERATOR"),
        (json!([]), Some("asc_ARTESIA.FIELD.NOPE".to_string()), "INVALID_SEARCH_SORT"),
        (json!([]), Some("upwards".to_string()), "INVALID_SEARCH_SORT"),
    ] {
        let r = search(conds, sort).await.unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["exception_body"]["error_code"], code, "{v}");
    }
    // Every version of a lineage by the lineage field; only the latest with IS LATEST VERSION.
    let seed = cat.assets.iter().find(|a| a.versions.len() > 1 && !a.deleted).unwrap();
    let lineage = &seed.original_asset_id;
    let count = |v: Value| v["search_result_resource"]["search_result"]["total_hit_count"].as_u64().unwrap();
    let all =
        search(json!([cond(&ids.original_asset_id_field, &ids.text_contains, lineage)]), None).await.unwrap();
    assert_eq!(count(all.json().await.unwrap()), seed.versions.len() as u64);
    let latest = search(
        json!([
            cond(&ids.original_asset_id_field, &ids.text_contains, lineage),
            cond(&ids.latest_version_field, &ids.text_contains, "Y")
        ]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(count(latest.json().await.unwrap()), 1);
    let r = c
        .get(format!("{}/otmmapi/v6/assets/{lineage}/versions", sim.base_url()))
        .header("X-Requested-By", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap().get("exception_body").is_some());
    let v: Value = c
        .get(format!("{}/otmmapi/v6/lookupdomains/{APPROVAL_DOMAIN_ID}", sim.base_url()))
        .header("X-Requested-By", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let values = v["lookup_domain_resource"]["lookup_domain"]["domainValues"].as_array().unwrap();
    assert!(values.iter().any(|d| d["field_value"]["value"] == "Approved"));
    sim.shutdown().await;
}

#[tokio::test]
async fn control_route_lists_assets_filtered_by_isbn_and_role() {
    let (sim, cat) = start().await;
    let c = reqwest::Client::new();
    let list = |q: &str| format!("{}/__sim/otmm/assets{q}", sim.base_url());
    let get = |q: &'static str| {
        let c = c.clone();
        let url = list(q);
        async move { c.get(url).send().await.unwrap() }
    };
    let live: Vec<_> = cat.assets.iter().filter(|a| !a.deleted).collect();
    let v: Value = get("").await.json().await.unwrap();
    // One line per live asset: its latest version.
    assert_eq!(v["count"], live.len());
    assert!(v["assets"].as_array().unwrap().iter().all(|a| a["latest_version"] == true));
    let all: Value = get("?all_versions=true").await.json().await.unwrap();
    let versions: usize = live.iter().map(|a| a.versions.len()).sum();
    assert_eq!(all["count"], versions);

    let cover = live.iter().find(|a| a.asset_type == "Front Cover").expect("a front cover");
    let url = list(&format!("?isbn={}&role=front_cover", cover.isbn));
    let by_role: Value = c.get(url).send().await.unwrap().json().await.unwrap();
    let url = list(&format!("?isbn={}&role=Front%20Cover", cover.isbn));
    let by_value: Value = c.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_role, by_value);
    let expected = live.iter().filter(|a| a.isbn == cover.isbn && a.asset_type == "Front Cover").count();
    assert_eq!(by_role["count"], expected);
    let items = by_role["assets"].as_array().unwrap();
    assert!(items.iter().any(|a| a["original_asset_id"] == cover.original_asset_id.as_str()));
    assert!(items.iter().all(|a| a["isbn"] == cover.isbn.as_str() && a["asset_type"] == "Front Cover"));

    let r = get("?colour=blue").await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["exception_body"]["message"].as_str().unwrap().contains("colour"), "{v}");
    assert_eq!(get("?all_versions=yes").await.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn edit_and_create_bodies_are_checked_before_anything_else() {
    let (sim, cat) = start().await;
    let (c, id) = login(&sim).await;
    let asset = &cat.assets[0].versions[0].asset_id;
    let base = sim.base_url();
    let bad = |url: String, body: &'static str| {
        let c = c.clone();
        let id = id.clone();
        async move {
            let r = c.patch(url).header("X-Requested-By", &id).body(body).send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v["exception_body"]["message"].as_str().unwrap_or_default().to_string())
        }
    };
    let (status, message) = bad(format!("{base}/otmmapi/v6/assets/{asset}"), "not json").await;
    assert_eq!((status, message.as_str()), (400, "the body is not JSON"));
    let (status, message) = bad(format!("{base}/otmmapi/v6/assets/{asset}"), r#"{"edited_asset":{}}"#).await;
    assert_eq!((status, message.as_str()), (400, "expected edited_asset.data.metadata"));
    let (status, message) = bad(format!("{base}/otmmapi/v6/folders/any"), r#"{"x":1}"#).await;
    assert_eq!((status, message.as_str()), (400, "expected edited_folder.data.metadata"));
}

/// Conditions grouped by `left_paren` / `right_paren` and joined by `relational_operator`
/// "or" (a public OTMM client's spelling): the group finds the union of its alternatives'
/// hits (ISBNs, and the client's own case, lineages), each once; a group that mixes "and"
/// and "or", unbalanced parentheses and unknown operators are refused, and an installation
/// without "or" refuses the group.
#[tokio::test]
async fn or_groups_find_the_union_and_ambiguous_groups_are_refused() {
    let cat = Catalogue::generate(30, 7, fixture_now());
    let ids = SearchIds::default();
    let sim = OtmmSim::start(&cat, OtmmSimOptions::default()).await;
    let strict = OtmmSim::start(
        &cat,
        OtmmSimOptions { search: SearchIds { or_conditions: false, ..ids.clone() }, ..Default::default() },
    )
    .await;
    let cond = |f: &str, v: &str| {
        json!({"type": "com.artesia.search.SearchScalarCondition", "metadata_field_id": f,
               "relational_operator_id": ids.text_contains, "value": v})
    };
    let group = |f: &str, values: &[&str]| -> Vec<Value> {
        let last = values.len() - 1;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut c = cond(f, v);
                c["relational_operator"] = json!(if i == 0 { "and" } else { "or" });
                if i == 0 {
                    c["left_paren"] = json!("(");
                }
                if i == last {
                    c["right_paren"] = json!(")");
                }
                c
            })
            .collect()
    };
    async fn ask(sim: &OtmmSimHandle, conds: Vec<Value>) -> (u16, Vec<String>, Value) {
        let (c, session) = login(sim).await;
        let r = c
            .get(format!("{}/otmmapi/v6/search/text", sim.base_url()))
            .header("X-Requested-By", &session)
            .query(&[
                (
                    "search_condition_list",
                    json!({"search_condition_list": {"search_condition": conds}}).to_string(),
                ),
                ("limit", "200".into()),
                ("return_type", "ids".into()),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        let hits: Vec<String> = v["search_result_resource"]["search_result"]["asset_id_list"]
            .as_array()
            .map(|l| l.iter().map(|i| i.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        (status, hits, v)
    }
    let latest = cond(&ids.latest_version_field, "Y");
    let isbns: Vec<String> =
        cat.works.iter().take(3).flat_map(|w| w.products.iter().map(|p| p.isbn13.clone())).collect();
    let isbns: Vec<&str> = isbns.iter().map(String::as_str).collect();
    let mut union = Vec::new();
    for isbn in &isbns {
        let (status, hits, v) = ask(&sim, vec![latest.clone(), cond(otmm_fields::ISBN, isbn)]).await;
        assert_eq!(status, 200, "{v}");
        union.extend(hits);
    }
    union.sort();
    union.dedup();
    assert!(union.len() > 5, "the ISBNs find assets: {union:?}");
    let mut conds = vec![latest.clone()];
    conds.extend(group(otmm_fields::ISBN, &isbns));
    let (status, hits, v) = ask(&sim, conds.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(hits, union, "one grouped search finds what the searches one by one found");
    // The group first, the latest-version condition after it: the same hits.
    let mut first = group(otmm_fields::ISBN, &isbns);
    let mut after = latest.clone();
    after["relational_operator"] = json!("and");
    first.push(after);
    assert_eq!(ask(&sim, first).await.1, union);

    // The public client's case: latest versions of two lineages.
    let lineages: Vec<&str> = cat.assets.iter().take(2).map(|a| a.original_asset_id.as_str()).collect();
    let mut conds_l = vec![latest.clone()];
    conds_l.extend(group(&ids.original_asset_id_field, &lineages));
    let (status, hits, v) = ask(&sim, conds_l).await;
    assert_eq!(status, 200, "{v}");
    let mut expected: Vec<String> = sim
        .assets()
        .into_iter()
        .filter(|a| a.latest_version && !a.deleted && lineages.contains(&a.original_asset_id.as_str()))
        .map(|a| a.asset_id)
        .collect();
    expected.sort();
    assert_eq!(hits, expected);

    // Refused: "and" and "or" mixed in one group (which binds tighter is not public),
    // unbalanced parentheses, an operator that is neither.
    let mut mixed =
        vec![latest.clone(), cond(otmm_fields::ISBN, isbns[0]), cond(otmm_fields::ISBN, isbns[1])];
    mixed[2]["relational_operator"] = json!("or");
    let mut open = conds.clone();
    open.last_mut().unwrap().as_object_mut().unwrap().remove("right_paren");
    let mut close = conds.clone();
    close[1].as_object_mut().unwrap().remove("left_paren");
    let mut xor = conds.clone();
    xor[2]["relational_operator"] = json!("xor");
    for (what, bad) in [("mixed", mixed), ("unclosed", open), ("unopened", close), ("xor", xor)] {
        let (status, _, v) = ask(&sim, bad).await;
        assert_eq!(status, 400, "{what}: {v}");
        assert_eq!(v["exception_body"]["error_code"], "INVALID_SEARCH", "{what}: {v}");
    }
    // An installation without "or" refuses the group, and still answers plain searches.
    let (status, _, v) = ask(&strict, conds).await;
    assert_eq!((status, &v["exception_body"]["error_code"]), (400, &json!("INVALID_SEARCH")), "{v}");
    assert_eq!(ask(&strict, vec![latest, cond(otmm_fields::ISBN, isbns[0])]).await.0, 200);
    sim.shutdown().await;
    strict.shutdown().await;
}
