//! The deployed path: `infra/template.yaml` expanded by the SAM translator and created on
//! moto's CloudFormation with IAM enforced, each function's native binary run against the
//! Lambda Runtime API emulator with exactly the environment and role the stack gives it, fed
//! the payloads its event sources send (tests/src/stack_harness.rs, sources.rs, lambda.rs).
//!
//! Needs `./scripts/test` (the IAM-enforcing moto on MOTO_IAM_ENDPOINT).

use connector_core::AssetId;
use connector_core::AuditAction;
use connector_store::{AuditLog, MappingStore, PageRequest, Queue, Staging};
use connector_tests::lambda::InvokeError;
use connector_tests::packages::{AJ, BB, DG, WORK_ID, catalogue, default_specs, isbn_of, lineage};
use connector_tests::sources::schedule_payload;
use connector_tests::stack_harness::{API, INTAKE, PROCESSOR, RECONCILER, StackHarness};
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

    // A message no webhook makes (the processor dead-letters it with the reason).
    h.admin.queue.send("this is not a flow message").await.unwrap();

    // The SQS mapping polls with the processor's role and invokes the processor binary.
    let batches = h.flow_queue.drain(h.function(PROCESSOR), Duration::from_secs(60)).await;
    assert!(!batches.is_empty(), "nothing was received from the flow queue\n{}", h.logs());
    let first = &batches[0];
    assert_eq!(first.received.len(), specs.len() + 1, "one batch of every message: {batches:?}");
    assert_eq!(first.invocation_error, None, "{}", h.logs());
    assert_eq!(first.failed.len(), 1, "only the flaky asset fails: {first:?}\n{}", h.logs());
    assert_eq!(first.deleted.len(), specs.len(), "the rest are deleted (the dead letter too): {first:?}");
    let retried = first.failed.iter().next().unwrap();
    let again =
        batches.iter().skip(1).find(|b| b.received.contains(retried)).expect("the failed message comes back");
    assert_eq!(again.receive_counts[retried], 2, "received again, not duplicated: {again:?}");
    assert!(again.deleted.contains(retried), "{again:?}\n{}", h.logs());
    assert!(batches.iter().all(|b| b.invocation_error.is_none()));

    // Links in the Consonance simulator; mapping and audit in DynamoDB.
    // JPEGs become supporting resources; the audio sample a web link (a supporting resource
    // must be a JPG file, per CreateSupportingResourceInput).
    let resources = h.sims.consonance.supporting_resources(WORK_ID);
    let jpegs = specs.iter().filter(|s| s.mime == "image/jpeg").count();
    assert!(resources.len() >= jpegs, "{resources:?}");
    assert!(resources.iter().all(|r| r.image_content_type.as_deref() == Some("image/jpeg")), "{resources:?}");
    let links = h.admin.dynamo.links_for_title(&isbn).await.unwrap();
    assert_eq!(links.len(), specs.len(), "{links:?}\n{}", h.logs());
    for s in &specs {
        let audit = h
            .admin
            .dynamo
            .by_asset(&AssetId::parse(&lineage(s.n)).unwrap(), PageRequest { limit: 50, cursor: None })
            .await
            .unwrap();
        assert!(
            audit.items.iter().any(|r| r.action == AuditAction::LinkCreated),
            "asset {}: {:?}",
            s.n,
            audit.items
        );
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

    // A supporting resource deleted by hand in Consonance (no event says so); the reconciler
    // on the weekly full scan's payload, as the template's schedule sends it, finds it and
    // enqueues the repair; the processor re-creates it.
    let gone = h.sims.consonance.supporting_resources(WORK_ID)[0].id;
    h.sims.consonance.delete_supporting_resource_by_hand(gone).unwrap();
    let full_scan =
        h.deployed.schedules.iter().find(|s| s.rule.ends_with("FullScan")).expect("the full scan schedule");
    let run = h.function(RECONCILER).invoke(&schedule_payload(full_scan, &h.deployed)).await;
    let summary = run.json();
    assert_eq!(summary["mode"], "full", "{summary}\n{}", h.function(RECONCILER).logs());
    assert_eq!(summary["finished"], true, "{summary}");
    assert!(summary["links_checked"].as_u64().unwrap() >= specs.len() as u64, "{summary}");
    assert_eq!(summary["drift"]["resource_missing"], 1, "{summary}");
    assert_eq!(summary["enqueued"], 1, "{summary}");
    let repair = h.flow_queue.drain(h.function(PROCESSOR), Duration::from_secs(30)).await;
    assert!(
        repair.iter().all(|b| b.failed.is_empty() && b.invocation_error.is_none()),
        "{repair:?}\n{}",
        h.logs()
    );
    let restored = h.sims.consonance.supporting_resources(WORK_ID);
    assert_eq!(restored.len(), resources.len(), "the deleted resource is back: {restored:?}");

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
    let followed =
        http.get(h.people_api.local(&readiness_link.link)).bearer_auth("token").send().await.unwrap();
    assert_eq!(followed.status(), 200);

    // Every other route of the people-facing API, with the authorisation it is deployed with:
    // IAM routes are refused unsigned by API Gateway. The dead letter is listed, then replayed.
    let dlq = format!("{}/dlq", h.people_api.local_url);
    assert_eq!(http.get(&dlq).send().await.unwrap().status(), 403);
    let listed = call(&h, &http, "GET", "/dlq", None).await;
    assert!(listed.to_string().contains("this is not a flow message"), "{listed}");
    let api = h.deployed.http_apis.iter().find(|a| a.logical_id == "PeopleApi").expect("PeopleApi");
    for route in &api.routes {
        let path = route.path.replace("{isbn}", isbn.as_str());
        let (path, body) = match (route.method.as_str(), route.path.as_str()) {
            ("GET", "/audit") => (format!("{path}?title={isbn}"), None),
            ("GET", "/titles/{isbn}/readiness") => (format!("{path}?refresh=true"), None),
            ("POST", "/dlq/replay") => (path, Some(serde_json::json!({"all": true}))),
            ("POST", "/reconcile") => (path, Some(serde_json::json!({"mode": "incremental"}))),
            ("GET", _) => (path, None),
            (method, p) => panic!("{method} {p}: a new route; say what body the stack test sends it"),
        };
        call(&h, &http, &route.method, &path, body).await;
    }
    let by_asset = call(&h, &http, "GET", &format!("/audit?asset={}", lineage(1)), None).await;
    assert!(by_asset.to_string().contains(AuditAction::LinkCreated.as_str()), "{by_asset}");

    assert_nothing_denied(&h);
    assert_every_grant_used(&h);
}

/// One request through the people-facing API with the credentials its route needs (a bearer
/// token, or a SigV4 header: API Gateway checks both; the stand-in only that they are there).
async fn call(
    h: &StackHarness,
    http: &reqwest::Client,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let route = path.split('?').next().unwrap_or(path);
    let iam = ["/dlq", "/dlq/replay", "/reconcile"].contains(&route);
    let mut req = http.request(method.parse().unwrap(), format!("{}{path}", h.people_api.local_url));
    req = if iam {
        req.header("authorization", "AWS4-HMAC-SHA256 Credential=AKIASTACKTEST/20261201/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
    } else {
        req.bearer_auth("a-token-from-the-identity-provider")
    };
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status} {text}\n{}", h.function(API).logs());
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

/// Grants no call of the scenario used, and why each is still needed. Anything else a role
/// allows and no function called is wider than the code: the test fails until it is removed
/// (or the scenario exercises it, or it is listed here with the reason).
const NOT_EXERCISED: &[(&str, &str, &str)] = &[
    ("*", "logs:CreateLogStream", "the Lambda service writes the function's logs with its role"),
    ("*", "logs:PutLogEvents", "the Lambda service writes the function's logs with its role"),
    ("WebhookIntakeFunction", "dynamodb:DeleteItem", "releases the idempotency claim when SendMessage fails"),
    ("FlowProcessorFunction", "s3:AbortMultipartUpload", "only after a multipart upload failed"),
    (
        "FlowProcessorFunction",
        "s3:GetObjectVersion:/links/",
        "a staged link copy above the multipart threshold (a video): the checksum copy's source",
    ),
    (
        "FlowProcessorFunction",
        "s3:DeleteObjectVersion:/links/",
        "a staged link copy above the multipart threshold: the version the checksum copy replaces",
    ),
    (
        "FlowProcessorFunction",
        "sqs:SendMessage:FlowQueue",
        "flow 4: re-evaluations after a sales-rights change",
    ),
    (
        "FlowProcessorFunction",
        "dynamodb:Query:index/by_asset:StateTable",
        "links_for_asset: asset.deleted events",
    ),
    (
        "ReconcilerFunction",
        "dynamodb:Query:index/by_asset:StateTable",
        "links_for_asset: deleted OTMM assets",
    ),
    ("ApiFunction", "dynamodb:Query:index/by_asset:StateTable", "POST /reconcile finding deleted assets"),
    ("ApiFunction", "dynamodb:DeleteItem", "POST /reconcile repairing a missing resource"),
    ("ApiFunction", "dynamodb:Scan", "POST /reconcile in full mode"),
];

fn assert_every_grant_used(h: &StackHarness) {
    let mut unexplained = Vec::new();
    for function in h.deployed.functions.keys() {
        for (sid, action, resource) in h.deployed.unused_grants(&h.moto, function) {
            let explained = NOT_EXERCISED.iter().any(|(f, what, _)| {
                let mut parts = what.split(':');
                let service_action =
                    format!("{}:{}", parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                (*f == "*" || f == function)
                    && service_action == action
                    && parts.all(|needle| resource.contains(needle))
            });
            if !explained {
                unexplained.push(format!("{function} ({sid}): {action} on {resource}"));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "grants no call of the scenario used (remove them, exercise them, or say in NOT_EXERCISED why they stay):\n{}",
        unexplained.join("\n")
    );
}

/// Every schedule the stack deployed for the reconciler, with the payload EventBridge sends
/// for it (derived from the rule: its constant Input, or the scheduled-event envelope), runs
/// the mode it names; a wrong input fails the invocation with the reason, and the environment
/// serves the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_schedule_runs_its_mode_and_a_wrong_input_fails_loudly() {
    let h = StackHarness::start("schedules", catalogue(&default_specs(), &[])).await;
    let reconciler = h.function(RECONCILER);
    let schedules: Vec<_> =
        h.deployed.schedules.iter().filter(|s| s.function.as_deref() == Some(RECONCILER)).collect();
    assert!(schedules.len() >= 3, "incremental, full scan and rights pass: {schedules:?}");
    for schedule in &schedules {
        let payload = schedule_payload(schedule, &h.deployed);
        let expected = payload.get("mode").and_then(|m| m.as_str()).unwrap_or("incremental").to_string();
        let run = reconciler.invoke(&payload).await;
        let summary = match &run.result {
            Ok(_) => run.json(),
            Err(e) => panic!("{} ({payload}) failed: {e}\n{}", schedule.rule, reconciler.logs()),
        };
        assert_eq!(summary["mode"], expected.as_str(), "{}: {summary}", schedule.rule);
        assert_eq!(summary["finished"], true, "{}: {summary}", schedule.rule);
    }
    // The first install's manual invoke (docs/deploy.md), as documented.
    let backfill: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/reconciler-backfill.json"))
            .unwrap(),
    )
    .unwrap();
    let run = reconciler.invoke(&backfill).await;
    let summary = match &run.result {
        Ok(_) => run.json(),
        Err(e) => panic!("the backfill ({backfill}) failed: {e}\n{}", reconciler.logs()),
    };
    assert_eq!(
        (summary["mode"].as_str(), summary["finished"].as_bool()),
        (Some("backfill"), Some(true)),
        "{summary}"
    );
    for wrong in [
        serde_json::json!({"mode": "full", "since": "2024-01-01"}),
        serde_json::json!({"mode": "backfill", "since": "last spring"}),
        serde_json::json!({"mode": "weekly"}),
        serde_json::json!({"mode": "full", "dry_run": true}),
        serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"mode": "fulll"}}),
    ] {
        match reconciler.invoke(&wrong).await.result {
            Err(InvokeError::Function(e)) => {
                assert!(e.error_message.contains("reconciler input"), "{wrong}: {e:?}");
            }
            other => panic!("{wrong} must fail the invocation, got {other:?}"),
        }
    }
    let again = reconciler.invoke(&schedule_payload(schedules[0], &h.deployed)).await;
    assert!(again.result.is_ok(), "the environment serves the next invocation: {:?}", again.result);
    assert_nothing_denied(&h);
}

fn is_access_denied<E: std::fmt::Debug>(what: &str, result: Result<impl std::fmt::Debug, E>) {
    let err = format!("{:?}", result.expect_err(what));
    assert!(err.contains("AccessDenied") || err.contains("status: StatusCode(403)"), "{what}: {err}");
}

/// Each role is refused what its function never calls: a grant wider than the code needs fails
/// here (and the IAM log of the other tests shows every call a grant must allow).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_role_is_refused_what_its_function_does_not_call() {
    let h = StackHarness::start("roles", catalogue(&default_specs(), &[])).await;
    let c = &h.admin.config;
    let key = format!("packages/{}/print/probe.txt", isbn_of(BB));
    for function in [INTAKE, RECONCILER, API] {
        let sdk = h.role_sdk(function).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build(),
        );
        is_access_denied(
            &format!("{function} PutObject"),
            s3.put_object().bucket(&c.bucket).key(&key).body(b"x".to_vec().into()).send().await,
        );
        is_access_denied(
            &format!("{function} GetObject"),
            s3.get_object().bucket(&c.bucket).key(&key).send().await,
        );
    }
    let intake = h.role_sdk(INTAKE).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&intake);
    let k = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    is_access_denied(
        "intake GetItem on the state table",
        dynamodb
            .get_item()
            .table_name(&c.state_table)
            .key("pk", k("TITLE#x"))
            .key("sk", k("TITLE"))
            .send()
            .await,
    );
    let sqs = aws_sdk_sqs::Client::new(&intake);
    is_access_denied("intake ReceiveMessage", sqs.receive_message().queue_url(&c.queue_url).send().await);
    let reconciler = aws_sdk_sqs::Client::new(&h.role_sdk(RECONCILER).await);
    is_access_denied(
        "reconciler SendMessage to the DLQ",
        reconciler.send_message().queue_url(&c.dead_letter_queue_url).message_body("x").send().await,
    );

    // The processor: objects under packages/ only, and no listing or plain deletes.
    let sdk = h.role_sdk(PROCESSOR).await;
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.put_object()
        .bucket(&c.bucket)
        .key(&key)
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("the processor stages under packages/");
    is_access_denied(
        "processor PutObject outside packages/",
        s3.put_object().bucket(&c.bucket).key("elsewhere.txt").body(b"x".to_vec().into()).send().await,
    );
    is_access_denied("processor ListObjectsV2", s3.list_objects_v2().bucket(&c.bucket).send().await);
    is_access_denied("processor DeleteObject", s3.delete_object().bucket(&c.bucket).key(&key).send().await);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    is_access_denied("processor Scan", dynamodb.scan().table_name(&c.state_table).send().await);
}

/// A mapping config with a mistake deploys (CloudFormation does not read it) and fails the
/// function's cold start, naming the key: Lambda reports the exit and the invocation fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_mapping_config_fails_the_cold_start_with_its_reason() {
    let moto = connector_tests::stack::IamMoto::from_env();
    let binaries = tokio::task::spawn_blocking(connector_tests::binaries::functions).await.unwrap();
    let sims =
        connector::Simulators::start(&catalogue(&default_specs(), &[]), None, connector::SIM_WEBHOOK_SECRET)
            .await;
    let name = connector_tests::stack::stack_name("badmapping");
    let mut spec = connector_tests::stack_harness::deploy_spec(&name, &sims);
    for v in spec.ssm.values_mut() {
        *v = v.replace("[otmm.approval]\nvalue=", "[otmm.approval]\nvalu=");
    }
    let deployed = connector_tests::stack::deploy(&moto, &name, &spec).await;
    let env = deployed.start(PROCESSOR, &binaries["flow-processor"], &moto).await;
    let err = env.init_duration(Duration::from_secs(20)).await.expect_err("the cold start fails");
    assert!(err.to_string().contains("valu"), "the error names the key: {err}");
    match env.invoke(&serde_json::json!({"Records": []})).await.result {
        Err(InvokeError::Exited { stderr, .. }) => assert!(stderr.contains("MAPPING_CONFIG"), "{stderr}"),
        other => panic!("expected Runtime.ExitError, got {other:?}"),
    }
}
