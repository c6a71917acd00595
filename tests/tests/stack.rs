//! The deployed path: `infra/template.yaml` expanded by the SAM translator and created on
//! moto's CloudFormation with IAM enforced, each function's native binary run against the
//! Lambda Runtime API emulator with exactly the environment and role the stack gives it, fed
//! the payloads its event sources send (tests/src/stack_harness.rs, sources.rs, lambda.rs).
//!
//! Needs `./scripts/test` (the IAM-enforcing moto on MOTO_IAM_ENDPOINT).

use connector_core::{AssetId, Isbn13};
use connector_store::{AuditLog, MappingStore, PageRequest, Queue, Staging};
use connector_tests::lambda::InvokeError;
use connector_tests::packages::{AJ, BB, DG, catalogue, default_specs, isbn_of, lineage};
use connector_tests::sources::schedule_payload;
use connector_tests::stack_harness::{API, INTAKE, PROCESSOR, RECONCILER, StackHarness};
use std::collections::BTreeSet;
use std::time::Duration;

const APPROVER: &str = "stack.approver";

/// Calls a role makes in a run and whether IAM allowed them: a denial anywhere is a missing
/// grant (the function's code called something its role does not allow).
fn assert_nothing_denied(h: &StackHarness) {
    for (id, f) in &h.deployed.functions {
        let denied: Vec<_> = h
            .moto
            .decisions(f.role_name())
            .into_iter()
            .filter(|d| d.allowed != serde_json::Value::Bool(true))
            .map(|d| format!("{} on {} ({})", d.action, d.resource, d.allowed))
            .collect();
        assert!(denied.is_empty(), "{id}'s role {} was refused: {denied:#?}\n{}", f.role, h.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_webhook_travels_the_deployed_path_to_the_readiness_route() {
    let h = StackHarness::start("e2e", catalogue(&default_specs(), &[])).await;
    let isbn = isbn_of(BB);
    let specs = default_specs();

    // One asset's first processing fails transiently: OTMM answers 503 with Retry-After 1 to
    // every attempt the client makes, so the processor reports it in batchItemFailures.
    let flaky = lineage(2);
    h.sims.otmm.faults().set(
        Some("GET"),
        &format!("/otmmapi/v6/assets/{flaky}"),
        connector_sim::faults::Fault {
            fail_next: 4,
            status: Some(503),
            retry_after_secs: Some(1),
            ..Default::default()
        },
    );

    // OTMM approves; its listener posts the signed webhooks to the webhook API, API Gateway
    // invokes the intake binary (payload 2.0), which answers 202 after SendMessage.
    for s in &specs {
        h.sims.otmm.approve(&lineage(s.n), 1, APPROVER).unwrap();
    }
    let deliveries = h.sims.otmm.wait_for_deliveries(specs.len(), Duration::from_secs(30)).await;
    assert_eq!(deliveries.len(), specs.len(), "{}", h.logs());
    for d in &deliveries {
        assert_eq!(d.last_status, Some(202), "{d:?}\n{}", h.logs());
    }

    // The SQS mapping polls with the processor's role and invokes the processor binary.
    let batches = h.flow_queue.drain(h.function(PROCESSOR), Duration::from_secs(60)).await;
    assert!(!batches.is_empty(), "nothing was received from the flow queue\n{}", h.logs());
    let first = &batches[0];
    assert_eq!(first.received.len(), specs.len(), "one batch of every webhook's message: {batches:?}");
    assert_eq!(first.invocation_error, None, "{}", h.logs());
    assert_eq!(first.failed.len(), 1, "only the flaky asset fails: {first:?}\n{}", h.logs());
    assert_eq!(first.deleted.len(), specs.len() - 1, "the rest are deleted: {first:?}");
    let retried = first.failed.iter().next().unwrap();
    let again =
        batches.iter().skip(1).find(|b| b.received.contains(retried)).expect("the failed message comes back");
    assert_eq!(again.receive_counts[retried], 2, "received again, not duplicated: {again:?}");
    assert!(again.deleted.contains(retried), "{again:?}\n{}", h.logs());
    assert!(batches.iter().all(|b| b.invocation_error.is_none()));

    // Links in the Consonance simulator; mapping and audit in DynamoDB.
    let resources = h.sims.consonance.supporting_resources(connector_tests::packages::WORK_ID);
    assert!(resources.len() >= specs.len(), "{resources:?}");
    let links = h.admin.dynamo.links_for_title(&isbn).await.unwrap();
    assert_eq!(links.len(), specs.len(), "{links:?}");
    for s in &specs {
        let audit = h
            .admin
            .dynamo
            .by_asset(&AssetId::parse(&lineage(s.n)).unwrap(), PageRequest { limit: 50, cursor: None })
            .await
            .unwrap();
        assert!(audit.items.iter().any(|r| r.action == "link.created"), "asset {}: {:?}", s.n, audit.items);
    }

    // Packages staged in S3 (the 9 MB full cover as a multipart upload).
    for (product, channel) in [(BB, "print"), (DG, "ebook"), (AJ, "audio")] {
        let key = format!("packages/{}/{channel}/manifest.json", isbn_of(product));
        let (info, body) = h
            .admin
            .staging
            .get(&key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is not staged\n{}", h.logs()));
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(manifest["isbn"], isbn_of(product).as_str(), "{manifest}");
        assert!(info.version_id.is_some(), "the staging bucket is versioned");
    }

    // The reconciler on the weekly full scan's payload, as the template's schedule sends it.
    let full_scan =
        h.deployed.schedules.iter().find(|s| s.rule.ends_with("FullScan")).expect("the full scan schedule");
    let run = h.function(RECONCILER).invoke(&schedule_payload(full_scan, &h.deployed)).await;
    let summary = run.json();
    assert_eq!(summary["mode"], "full", "{summary}\n{}", h.function(RECONCILER).logs());
    assert_eq!(summary["finished"], true, "{summary}");
    assert!(summary["links_checked"].as_u64().unwrap() >= specs.len() as u64, "{summary}");

    // The readiness route through the people-facing API (a JWT route: refused without one).
    let http = reqwest::Client::new();
    let readiness = format!("{}/titles/{isbn}/readiness", h.people_api.local_url);
    let refused = http.get(&readiness).send().await.unwrap();
    assert_eq!(refused.status(), 401, "API Gateway's JWT authorizer answers before the function");
    let resp = http.get(&readiness).bearer_auth("a-token-from-the-identity-provider").send().await.unwrap();
    let status = resp.status();
    let report: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 200, "{report}\n{}", h.function(API).logs());
    assert_eq!(report["isbn"], isbn.as_str(), "{report}");

    // The web link the processor wrote on the Consonance product points at that route.
    let links = h.sims.consonance.web_links(BB);
    let readiness_link =
        links.iter().find(|l| l.link.contains("/readiness")).unwrap_or_else(|| panic!("{links:?}"));
    assert_eq!(readiness_link.link, format!("{}/titles/{isbn}/readiness", h.people_api.public_url));

    assert_nothing_denied(&h);
}
