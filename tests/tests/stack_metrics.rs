//! The metrics the deployed functions really write, against what the dashboard and the alarms
//! of `infra/template.yaml` read: every metric name and dimension set a widget or an alarm
//! references in the connector's namespace must be in the EMF lines the real binaries print
//! (stdout, as Lambda hands it to CloudWatch), so the dashboard cannot point at metrics that do
//! not exist. The dashboard is read as moto's CloudWatch holds it after the deploy (its
//! `!Sub`s resolved); alarms from the template (moto's CloudFormation does not create them).
//!
//! The scenario makes every kind of event the widgets and alarms show happen once: webhooks
//! accepted and refused, messages done, retried and dead-lettered, a 429 from OTMM, each
//! reconciler schedule (the rights pass with a link expiring soon), a readiness refresh.
//!
//! Needs `./scripts/test` (the IAM-enforcing moto on MOTO_IAM_ENDPOINT).

use connector_store::Queue as _;
use connector_tests::packages::{BB, WORK_ID, catalogue, default_specs, isbn_of, lineage};
use connector_tests::sources::schedule_payload;
use connector_tests::stack_harness::{API, INTAKE, PROCESSOR, RECONCILER, StackHarness};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A metric as CloudWatch identifies it: namespace, name and the set of dimension names.
type MetricKey = (String, String, BTreeSet<String>);

/// Checks one EMF document as the specification describes it and returns what it declares:
/// `_aws.Timestamp` a number, `_aws.CloudWatchMetrics[]` each with `Namespace`, `Dimensions`
/// (arrays of names) and `Metrics` (`Name`), every dimension and metric a top-level member
/// (dimension values strings, metric values numbers).
fn emf_metrics(doc: &Value) -> Vec<(MetricKey, BTreeMap<String, String>)> {
    let aws = doc.get("_aws").unwrap_or_else(|| panic!("no _aws: {doc}"));
    assert!(aws["Timestamp"].is_u64(), "Timestamp: {doc}");
    let directives =
        aws["CloudWatchMetrics"].as_array().unwrap_or_else(|| panic!("CloudWatchMetrics: {doc}"));
    assert!(!directives.is_empty(), "{doc}");
    let mut out = Vec::new();
    for d in directives {
        let namespace = d["Namespace"].as_str().unwrap_or_else(|| panic!("Namespace: {doc}")).to_string();
        let sets = d["Dimensions"].as_array().unwrap_or_else(|| panic!("Dimensions: {doc}"));
        let metrics = d["Metrics"].as_array().unwrap_or_else(|| panic!("Metrics: {doc}"));
        assert!(!metrics.is_empty(), "{doc}");
        for set in sets {
            let names: BTreeSet<String> = set
                .as_array()
                .unwrap_or_else(|| panic!("a dimension set is an array: {doc}"))
                .iter()
                .map(|n| {
                    n.as_str().unwrap_or_else(|| panic!("dimension names are strings: {doc}")).to_string()
                })
                .collect();
            let values: BTreeMap<String, String> = names
                .iter()
                .map(|n| {
                    let v =
                        doc[n].as_str().unwrap_or_else(|| panic!("dimension {n} has no string value: {doc}"));
                    (n.clone(), v.to_string())
                })
                .collect();
            for m in metrics {
                let name = m["Name"].as_str().unwrap_or_else(|| panic!("Metrics[].Name: {doc}")).to_string();
                assert!(doc[&name].is_number(), "metric {name} has no numeric value: {doc}");
                out.push(((namespace.clone(), name, names.clone()), values.clone()));
            }
        }
    }
    out
}

/// Every EMF line in a function's output.
fn emf_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter(|l| l.starts_with("{\"_aws\""))
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("an EMF line that is not JSON ({e}): {l}"))
        })
        .collect()
}

/// `SEARCH('{<namespace>,<dimension>...} MetricName="<name>" ...', ...)` in a dashboard
/// expression: the metrics it selects.
fn searched(expression: &str) -> Vec<MetricKey> {
    let mut out = Vec::new();
    let mut rest = expression;
    while let Some(i) = rest.find("SEARCH('") {
        rest = &rest[i + "SEARCH('".len()..];
        let (query, tail) =
            rest.split_once('\'').unwrap_or_else(|| panic!("unterminated SEARCH: {expression}"));
        rest = tail;
        let schema =
            query.strip_prefix('{').and_then(|q| q.split_once('}')).map(|(s, _)| s).unwrap_or_else(|| {
                panic!("a SEARCH without a {{namespace,dimensions}} schema: {expression}")
            });
        let mut parts = schema.split(',').map(|p| p.trim().trim_matches('"').to_string());
        let namespace = parts.next().unwrap_or_default();
        let dimensions: BTreeSet<String> = parts.collect();
        let name = query
            .split_once("MetricName=\"")
            .and_then(|(_, n)| n.split_once('"'))
            .map(|(n, _)| n.to_string())
            .unwrap_or_else(|| panic!("a SEARCH without MetricName=\"...\": {expression}"));
        out.push((namespace, name, dimensions));
    }
    assert!(!out.is_empty(), "an expression with no SEARCH the test can read: {expression}");
    out
}

/// The metrics a dashboard's widgets draw: plain `[namespace, name, dim, value, ..., {opts}]`
/// entries and the SEARCH expressions of expression entries.
fn dashboard_metrics(body: &Value) -> Vec<(String, MetricKey)> {
    let mut out = Vec::new();
    for w in body["widgets"].as_array().expect("widgets") {
        let title = w["properties"]["title"].as_str().unwrap_or("(untitled)").to_string();
        for entry in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let items =
                entry.as_array().unwrap_or_else(|| panic!("{title}: a metric entry is an array: {entry}"));
            if let Some(expression) = items.first().and_then(|f| f.get("expression")).and_then(Value::as_str)
            {
                out.extend(searched(expression).into_iter().map(|k| (title.clone(), k)));
                continue;
            }
            let strings: Vec<String> = items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            assert!(
                strings.len() >= 2 && strings.len().is_multiple_of(2),
                "{title}: unreadable metric entry {entry}"
            );
            let dimensions = strings[2..].chunks(2).map(|p| p[0].clone()).collect();
            out.push((title.clone(), (strings[0].clone(), strings[1].clone(), dimensions)));
        }
    }
    out
}

/// A template value as deployed: strings as they are, `!Sub` with the stack name filled in.
fn resolved(v: &serde_yaml::Value, stack: &str) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Tagged(t) if t.tag == "Sub" => {
            t.value.as_str().expect("a !Sub string").replace("${AWS::StackName}", stack)
        }
        other => panic!("a value the test cannot resolve: {other:?}"),
    }
}

/// The metrics the template's alarms read (`Namespace`/`MetricName`/`Dimensions`, or each
/// `Metrics[].MetricStat.Metric`), with the dimension values they name.
fn alarm_metrics(stack: &str) -> Vec<(String, MetricKey, BTreeMap<String, String>)> {
    let path = connector_tests::aws::Template::path();
    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut out = Vec::new();
    for (id, r) in doc["Resources"].as_mapping().expect("Resources") {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let id = id.as_str().unwrap().to_string();
        let p = &r["Properties"];
        let mut metrics = Vec::new();
        if p.get("MetricName").is_some() {
            metrics.push(p.clone());
        }
        for m in p.get("Metrics").and_then(|m| m.as_sequence()).into_iter().flatten() {
            if let Some(metric) = m.get("MetricStat").map(|s| &s["Metric"]) {
                metrics.push(metric.clone());
            }
        }
        assert!(!metrics.is_empty(), "{id} reads no metric the test can find");
        for m in metrics {
            let dims: BTreeMap<String, String> = m
                .get("Dimensions")
                .and_then(|d| d.as_sequence())
                .into_iter()
                .flatten()
                .map(|d| {
                    (resolved(&d["Name"], stack), d["Value"].as_str().map(str::to_string).unwrap_or_default())
                })
                .collect();
            let key = (
                resolved(&m["Namespace"], stack),
                resolved(&m["MetricName"], stack),
                dims.keys().cloned().collect(),
            );
            out.push((id.clone(), key, dims));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_metric_the_dashboard_and_alarms_read_is_written_by_the_functions() {
    // One linked asset's rights expire in ten days: the rights pass reports it.
    let mut cat = catalogue(&default_specs(), &[]);
    let soon = chrono::Utc::now().date_naive() + chrono::Duration::days(10);
    cat.assets.iter_mut().find(|a| a.original_asset_id == lineage(3)).unwrap().expiration_date = Some(soon);
    // OTMM at 2 requests per second (bursts of 10): a batch's calls wait for the rate limit
    // (at 5 a second they stopped waiting when the package follow-ups stopped reading the
    // linked asset again: the batch's calls no longer outran the refill).
    let h = StackHarness::start_with("metrics", cat, &[("OtmmRateLimit", "2")]).await;
    let namespace = format!("OtmmConnector/{}", h.deployed.stack_name);
    for f in [INTAKE, PROCESSOR, RECONCILER, API] {
        assert_eq!(h.deployed.function(f).environment.get("METRICS_NAMESPACE"), Some(&namespace), "{f}");
    }

    // OTMM throttles one read once (retried in the call after Retry-After), and fails
    // another asset's reads until the message is retried.
    let throttled = connector_sim::faults::Fault {
        fail_next: 1,
        status: Some(429),
        retry_after_secs: Some(0),
        ..Default::default()
    };
    h.sims.otmm.faults().set(Some("GET"), &format!("/otmmapi/v6/assets/{}", lineage(4)), throttled.clone());
    // Consonance too: its first request (the processor's schema introspection, a read).
    h.sims.consonance.faults().set(Some("POST"), "/graphql", throttled);
    let failing = connector_sim::faults::Fault {
        fail_next: 4,
        status: Some(503),
        retry_after_secs: Some(1),
        ..Default::default()
    };
    h.sims.otmm.faults().set(Some("GET"), &format!("/otmmapi/v6/assets/{}", lineage(2)), failing);

    let specs = default_specs();
    for s in &specs {
        h.sims.otmm.approve(&lineage(s.n), 1, "metrics.approver").unwrap();
    }
    let deliveries = h.sims.otmm.wait_for_deliveries(specs.len(), Duration::from_secs(30)).await;
    assert_eq!(deliveries.len(), specs.len(), "{}", h.logs());
    // A delivery without a signature: refused.
    let http = reqwest::Client::new();
    let refused = http
        .post(format!("{}/webhooks/otmm", h.webhook_api.local_url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    h.admin.queue.send("this is not a flow message").await.unwrap();
    let batches = h.flow_queue.drain(h.function(PROCESSOR), Duration::from_secs(60)).await;
    assert!(batches.iter().any(|b| !b.failed.is_empty()), "one message is retried: {batches:?}");

    // A supporting resource deleted by hand in Consonance: the full scan finds the drift and
    // enqueues its repair. Not the expiring asset's: its link is marked unfinished until the
    // repair is processed, which would leave the rights pass nothing to report. (Which
    // resource comes first depends on the order the batch was processed in.)
    let expiring = connector_core::plan::dedupe_marker(&lineage(3).parse().unwrap(), 1);
    let gone = h
        .sims
        .consonance
        .supporting_resources(WORK_ID)
        .into_iter()
        .find(|r| !r.caption.as_deref().unwrap_or_default().contains(&expiring))
        .expect("a resource of another asset")
        .id;
    h.sims.consonance.delete_supporting_resource_by_hand(gone).unwrap();

    // Every schedule's run (the rights pass reports the expiring link).
    for schedule in h.deployed.schedules.iter().filter(|s| s.function.as_deref() == Some(RECONCILER)) {
        let run = h.function(RECONCILER).invoke(&schedule_payload(schedule, &h.deployed)).await;
        let summary = run.json();
        assert_eq!(summary["finished"], true, "{}: {summary}", schedule.rule);
        if summary["mode"] == "full" {
            assert_eq!(summary["drift"]["resource_missing"], 1, "{summary}");
        }
        if summary["mode"] == "rights" {
            assert!(summary["rights"]["expiring_reported"].as_u64() >= Some(1), "{summary}");
        }
    }
    let readiness = format!("{}/titles/{}/readiness?refresh=true", h.people_api.local_url, isbn_of(BB));
    let resp = http.get(&readiness).bearer_auth("token").send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", h.function(API).logs());

    // What the functions wrote.
    let mut written: BTreeMap<MetricKey, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    let mut lines = 0;
    for f in [INTAKE, PROCESSOR, RECONCILER, API] {
        let docs = emf_lines(&h.function(f).logs());
        assert!(!docs.is_empty(), "{f} wrote no EMF line:\n{}", h.function(f).logs());
        lines += docs.len();
        for doc in &docs {
            for (key, values) in emf_metrics(doc) {
                assert_eq!(key.0, namespace, "{f}: {doc}");
                written.entry(key).or_default().push(values);
            }
        }
    }
    // Each metric written is one of connector_metrics::METRICS, with its dimensions.
    for (_, name, dims) in written.keys() {
        let def = connector_metrics::def(name).unwrap_or_else(|| panic!("{name} is written but not defined"));
        let defined: BTreeSet<String> = def.dimensions.iter().map(|d| d.to_string()).collect();
        assert_eq!(dims, &defined, "{name}");
    }

    // What the dashboard and the alarms read.
    let mut missing = Vec::new();
    let dashboard = h.deployed.dashboards.get("OperationsDashboard").expect("the dashboard is deployed");
    let drawn = dashboard_metrics(dashboard);
    assert!(drawn.iter().filter(|(_, k)| k.0 == namespace).count() >= 10, "{drawn:?}");
    for (widget, key) in &drawn {
        if key.0.starts_with("AWS/") {
            continue;
        }
        assert_eq!(key.0, namespace, "widget {widget:?} reads another namespace");
        if !written.contains_key(key) {
            missing.push(format!("dashboard widget {widget:?}: {key:?}"));
        }
    }
    let alarmed = alarm_metrics(&h.deployed.stack_name);
    assert!(alarmed.iter().filter(|(_, k, _)| k.0 == namespace).count() >= 4, "{alarmed:?}");
    for (alarm, key, values) in &alarmed {
        if key.0.starts_with("AWS/") {
            continue;
        }
        assert_eq!(key.0, namespace, "alarm {alarm} reads another namespace");
        match written.get(key) {
            None => missing.push(format!("alarm {alarm}: {key:?}")),
            // Each value an alarm names is one the functions wrote. (No Consonance notification
            // is sent here: its messages count under the same outcomes as OTMM's.)
            Some(seen) => {
                for (dim, value) in values {
                    let known = seen.iter().any(|s| s.get(dim) == Some(value))
                        || (dim == "source" && value == "consonance");
                    assert!(known, "alarm {alarm}: {dim}={value} never written: {seen:?}");
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "read by the template but never written by the functions ({lines} EMF lines):\n{}\nwritten: {:#?}",
        missing.join("\n"),
        written.keys().collect::<Vec<_>>()
    );
}

#[test]
fn search_expressions_name_their_metrics() {
    let found = searched(
        "SUM(SEARCH('{\"OtmmConnector/s-1\",system,operation} MetricName=\"external_calls\" system=\"otmm\"', 'Sum', 300)) / SEARCH('{NS,kind} MetricName=\"reconcile_drift\"', 'Sum', 300)",
    );
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        found,
        vec![
            ("OtmmConnector/s-1".to_string(), "external_calls".to_string(), set(&["system", "operation"])),
            ("NS".to_string(), "reconcile_drift".to_string(), set(&["kind"])),
        ]
    );
}

#[test]
fn an_emf_document_declares_its_metrics() {
    let doc = serde_json::json!({
        "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["system", "operation"]],
            "Metrics": [{"Name": "external_calls"}, {"Name": "external_call_latency_ms"}]}]},
        "system": "otmm", "operation": "get_asset", "external_calls": 2, "external_call_latency_ms": 31
    });
    let found = emf_metrics(&doc);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].0.1, "external_calls");
    assert_eq!(found[0].1["system"], "otmm");
    let bad = serde_json::json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N",
        "Dimensions": [["system"]], "Metrics": [{"Name": "x"}]}]}, "x": 1});
    assert!(
        std::panic::catch_unwind(|| emf_metrics(&bad)).is_err(),
        "a dimension without a value is refused"
    );
}
