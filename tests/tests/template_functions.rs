//! `infra/template.yaml` against the code: each function's environment holds exactly the
//! variables its code reads (no more, and every required one), and each role grants what the
//! code calls on the resources it calls it on. Needs no moto: the template is only parsed.
//!
//! The code is asked which variables it reads by handing the real config readers
//! (`AwsConfig::from_lookup`, `Secrets::from_lookup`, `connector_app::wiring`) a lookup that
//! records every name and answers with the template's values. A reader that starts reading a
//! new variable, or a template that drops or adds one, fails here.

use connector_app::wiring;
use connector_store::aws::AwsConfig;
use connector_web::intake::Secrets;
use serde_yaml::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

const INTAKE: &str = "WebhookIntakeFunction";
const PROCESSOR: &str = "FlowProcessorFunction";

/// Variables the code reads that the template deliberately leaves unset, and why.
const UNSET_ON_PURPOSE: &[(&str, &str)] = &[
    ("AWS_ENDPOINT_URL", "local stand-ins (moto) only"),
    ("S3_FORCE_PATH_STYLE", "local stand-ins only"),
    ("MAPPING_CONFIG_PATH", "the local runner's file; Lambda gets MAPPING_CONFIG from SSM"),
    ("OTMM_TOKEN", "alternative to the username/password login the template wires"),
    ("OTMM_API_VERSION", "the default (v6) is the supported API"),
    ("OTMM_MAX_CONCURRENCY", "the default suffices; the rate limit is the parameter"),
    ("CONSONANCE_MAX_CONCURRENCY", "the default suffices; the rate limit is the parameter"),
    ("PROCESSOR_CONCURRENCY", "the default suffices for a batch of at most 10"),
    (
        "CONSONANCE_LOOKUPS_PER_QUERY",
        "the default (25 works a query) until a tenant refuses it (the scan then asks one work at a time and warns); Lambda's 4 KB of environment is kept for the mapping config",
    ),
    (
        "READINESS_OBSERVATIONS_MAX_AGE_SECS",
        "the default (10 minutes) bounds how stale a readiness report after a link may be; requests are raised on fresh searches whatever it is",
    ),
    ("OTMM_REQUEST_TIMEOUT_MS", "the default (30 s) suits the real systems; the chaos test shortens it"),
    (
        "CONSONANCE_REQUEST_TIMEOUT_MS",
        "the default (30 s) suits the real systems; the chaos test shortens it",
    ),
];

fn template() -> Value {
    let path = connector_tests::aws::Template::path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).expect("the template is YAML")
}

fn resource<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc.get("Resources").and_then(|r| r.get(id)).unwrap_or_else(|| panic!("no resource {id}"))
}

/// `(tag without '!', value)` of a short-form intrinsic, e.g. `!Ref X` -> `("Ref", "X")`.
fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_string(), &t.value)),
        _ => None,
    }
}

/// A value as a function would see it: literals as they are, `!Ref` to a parameter's default,
/// anything only known at deploy time (resource names, secrets) as a placeholder that passes
/// the readers' checks (a URL, at least 16 bytes).
fn value_for(doc: &Value, name: &str, v: &Value) -> String {
    if name == "MAPPING_CONFIG" {
        return wiring::EXAMPLE_MAPPING_CONFIG.to_string();
    }
    match v {
        Value::String(s) => return s.clone(),
        Value::Number(n) => return n.to_string(),
        _ => {}
    }
    if let Some(("Ref", Value::String(param))) = tagged(v).as_ref().map(|(t, v)| (t.as_str(), *v))
        && let Some(default) = doc.get("Parameters").and_then(|p| p.get(param)).and_then(|p| p.get("Default"))
    {
        return match default {
            Value::Number(n) => n.to_string(),
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => "https://placeholder.invalid/deploy-time-value".into(),
        };
    }
    "https://placeholder.invalid/deploy-time-value".into()
}

/// The function's environment after SAM merges `Globals`: name -> value as seen at run time.
fn environment(doc: &Value, function: &str) -> BTreeMap<String, String> {
    let vars = |v: Option<&Value>| {
        v.and_then(|v| v.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default()
    };
    let globals = vars(doc.get("Globals").and_then(|g| g.get("Function")));
    let own = vars(resource(doc, function).get("Properties"));
    globals
        .iter()
        .chain(own.iter())
        .map(|(k, v)| {
            let name = k.as_str().expect("variable names are strings").to_string();
            let value = value_for(doc, &name, v);
            (name, value)
        })
        .collect()
}

/// Runs `read` with a lookup over `env`, returning every name it asked for.
fn names_read(
    env: &BTreeMap<String, String>,
    read: impl FnOnce(&dyn Fn(&str) -> Option<String>),
) -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let lookup = |name: &str| {
        asked.borrow_mut().insert(name.to_string());
        env.get(name).cloned()
    };
    read(&lookup);
    asked.into_inner()
}

/// Variables `main.rs` reads itself with `env("NAME")`, outside the shared readers.
fn read_in_main(crate_dir: &str) -> BTreeSet<String> {
    let path = format!("{}/../functions/{crate_dir}/src/main.rs", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split("env(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"'))
        .map(|(name, _)| name.to_string())
        .collect()
}

fn assert_exact(function: &str, env: &BTreeMap<String, String>, read: &BTreeSet<String>) {
    let unset: BTreeSet<String> = UNSET_ON_PURPOSE.iter().map(|(n, _)| n.to_string()).collect();
    let set: BTreeSet<String> = env.keys().cloned().collect();
    let unused: Vec<_> = set.difference(read).collect();
    assert!(unused.is_empty(), "{function}: the template sets {unused:?}, which the code never reads");
    let missing: Vec<_> = read.difference(&set).filter(|n| !unset.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{function}: the code reads {missing:?}, which the template does not set \
         (set them, or add them to UNSET_ON_PURPOSE with the reason)"
    );
}

#[test]
fn intake_environment_is_exactly_what_the_intake_reads() {
    let doc = template();
    let env = environment(&doc, INTAKE);
    let read = names_read(&env, |lookup| {
        AwsConfig::from_lookup(lookup).expect("the store config reads from the template's variables");
        Secrets::from_lookup(lookup).expect("the webhook secrets read from the template's variables");
    });
    let read = &read | &read_in_main("webhook-intake");
    assert_exact(INTAKE, &env, &read);
}

#[test]
fn processor_environment_is_exactly_what_the_processor_reads() {
    let doc = template();
    let env = environment(&doc, PROCESSOR);
    // The same entry point main.rs calls, over throwaway embedded stores.
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = connector::open_state(dir.path(), 5).expect("embedded stores");
    let read = names_read(&env, |lookup| {
        let lookup = &|name: &str| lookup(name);
        AwsConfig::from_lookup(lookup).expect("store config");
        wiring::app(stores, lookup, None, None).expect("the processor builds from the template's variables");
    });
    let read = &read | &read_in_main("flow-processor");
    assert_exact(PROCESSOR, &env, &read);

    // The processor audits the last receive as dead-lettered: it must know the redrive count.
    let props = resource(&doc, PROCESSOR).get("Properties").expect("Properties");
    let max =
        props.get("Environment").and_then(|e| e.get("Variables")).and_then(|v| v.get("MAX_RECEIVE_COUNT"));
    let queue_max = resource(&doc, "FlowQueue")
        .get("Properties")
        .and_then(|p| p.get("RedrivePolicy"))
        .and_then(|r| r.get("maxReceiveCount"));
    assert!(
        max.is_some() && max == queue_max,
        "MAX_RECEIVE_COUNT {max:?} != the redrive policy's {queue_max:?}"
    );
}

#[test]
fn reconciler_and_api_environments_are_exactly_what_they_read() {
    let doc = template();
    for (function, crate_dir) in [("ReconcilerFunction", "reconciler"), ("ApiFunction", "api")] {
        let env = environment(&doc, function);
        let dir = tempfile::tempdir().expect("temp dir");
        let stores = connector::open_state(dir.path(), 5).expect("embedded stores");
        let read = names_read(&env, |lookup| {
            let lookup = &|name: &str| lookup(name);
            AwsConfig::from_lookup(lookup).expect("store config");
            wiring::app(stores, lookup, None, None)
                .expect("the function builds from the template's variables");
        });
        let read = &read | &read_in_main(crate_dir);
        // Read with defaults, left unset on purpose: MAX_RECEIVE_COUNT (only the processor audits
        // a last receive), OTMM_CONTENT_URL_TEMPLATE (only the processor creates resources that
        // name file URLs), PUBLIC_BASE_URL (the processor writes the readiness web links; a
        // readiness refresh in these two writes none).
        let unset: BTreeSet<String> = ["MAX_RECEIVE_COUNT", "PUBLIC_BASE_URL", "OTMM_CONTENT_URL_TEMPLATE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let read: BTreeSet<String> = read.difference(&unset).cloned().collect();
        assert_exact(function, &env, &read);
    }
}

/// Every logical id a role's statement names in its `Resource` (`!GetAtt X.Arn`, `!Ref X`,
/// `!Sub "${X.Arn}/..."`).
fn resources_named(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Tagged(_) => {
            let (tag, inner) = tagged(v).expect("tagged");
            match (tag.as_str(), inner) {
                ("GetAtt", Value::String(s)) | ("Ref", Value::String(s)) => {
                    out.insert(s.split('.').next().unwrap_or_default().to_string());
                }
                ("Sub", Value::String(s)) => {
                    for part in s.split("${").skip(1) {
                        let id = part.split(['}', '.']).next().unwrap_or_default();
                        if !id.starts_with("AWS::") {
                            out.insert(id.to_string());
                        }
                    }
                }
                _ => resources_named(inner, out),
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| resources_named(i, out)),
        Value::Mapping(m) => m.values().for_each(|i| resources_named(i, out)),
        Value::String(s) => assert!(s != "*", "a statement grants on Resource \"*\""),
        _ => {}
    }
}

/// `(action, logical id)` pairs the function's role allows.
fn grants(doc: &Value, function: &str) -> BTreeSet<(String, String)> {
    let props = resource(doc, function).get("Properties").expect("Properties");
    assert!(props.get("Policies").is_none(), "{function}: Policies would make SAM generate a broader role");
    let role = match props.get("Role").and_then(tagged) {
        Some((tag, Value::String(s))) if tag == "GetAtt" => s.trim_end_matches(".Arn").to_string(),
        other => {
            panic!("{function}: Role must be !GetAtt <role>.Arn of a role in this template, found {other:?}")
        }
    };
    let mut out = BTreeSet::new();
    let policies =
        resource(doc, &role).get("Properties").and_then(|p| p.get("Policies")).and_then(Value::as_sequence);
    for policy in policies.into_iter().flatten() {
        let statements = policy
            .get("PolicyDocument")
            .and_then(|d| d.get("Statement"))
            .and_then(Value::as_sequence)
            .expect("Statement");
        for statement in statements {
            assert_eq!(statement.get("Effect").and_then(Value::as_str), Some("Allow"));
            let actions: Vec<String> = match statement.get("Action").expect("Action") {
                Value::String(a) => vec![a.clone()],
                Value::Sequence(a) => a.iter().map(|a| a.as_str().expect("action").to_string()).collect(),
                other => panic!("Action {other:?}"),
            };
            assert!(actions.iter().all(|a| !a.contains('*')), "{role}: wildcard action in {actions:?}");
            let mut ids = BTreeSet::new();
            resources_named(statement.get("Resource").expect("Resource"), &mut ids);
            for action in &actions {
                for id in &ids {
                    out.insert((action.clone(), id.clone()));
                }
            }
        }
    }
    out
}

fn has(grants: &BTreeSet<(String, String)>, action: &str, id: &str) -> bool {
    grants.contains(&(action.to_string(), id.to_string()))
}

#[test]
fn intake_role_reaches_the_idempotency_table_and_the_queue_and_nothing_else() {
    let doc = template();
    let g = grants(&doc, INTAKE);
    for action in ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"] {
        assert!(has(&g, action, "IdempotencyTable"), "intake lacks {action} on IdempotencyTable: {g:?}");
    }
    assert!(has(&g, "sqs:SendMessage", "FlowQueue"), "{g:?}");
    let touched: BTreeSet<&str> = g.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        touched,
        BTreeSet::from(["IdempotencyTable", "FlowQueue", "WebhookIntakeLogGroup"]),
        "the intake reaches exactly its table, its queue and its log group (not StagingBucket)"
    );
}

/// The resources of the statements that grant `action` (the raw `Resource` values).
fn statement_resources(doc: &Value, role: &str, action: &str) -> Vec<Value> {
    let policies =
        resource(doc, role).get("Properties").and_then(|p| p.get("Policies")).and_then(Value::as_sequence);
    let mut out = Vec::new();
    for policy in policies.into_iter().flatten() {
        for statement in policy
            .get("PolicyDocument")
            .and_then(|d| d.get("Statement"))
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let grants = match statement.get("Action") {
                Some(Value::String(a)) => a == action,
                Some(Value::Sequence(a)) => a.iter().any(|a| a.as_str() == Some(action)),
                _ => false,
            };
            if grants {
                out.push(statement.get("Resource").cloned().unwrap_or(Value::Null));
            }
        }
    }
    out
}

#[test]
fn only_the_processor_reaches_the_staging_bucket_and_only_its_packages() {
    let doc = template();
    for function in [INTAKE, "ReconcilerFunction", "ApiFunction"] {
        let g = grants(&doc, function);
        assert!(!g.iter().any(|(a, id)| a.starts_with("s3:") || id == "StagingBucket"), "{function}: {g:?}");
    }
    // Objects under packages/ (connector_core::package keys) and links/ (app::web_links staged
    // copies), not the bucket or other prefixes.
    let mut prefixes = Vec::new();
    for resource in statement_resources(&doc, "FlowProcessorRole", "s3:PutObject") {
        let listed = match resource {
            Value::Sequence(items) => items,
            one => vec![one],
        };
        for r in listed {
            let (tag, value) = tagged(&r).expect("a !Sub");
            assert_eq!(tag, "Sub", "{r:?}");
            prefixes.push(value.as_str().unwrap_or_default().to_string());
        }
    }
    prefixes.sort();
    assert_eq!(prefixes, ["${StagingBucket.Arn}/links/*", "${StagingBucket.Arn}/packages/*"]);
}

#[test]
fn processor_role_covers_the_flow_and_its_event_source() {
    let doc = template();
    let g = grants(&doc, PROCESSOR);
    for (action, id) in [
        ("dynamodb:GetItem", "StateTable"),
        ("dynamodb:PutItem", "StateTable"),
        ("dynamodb:Query", "StateTable"),
        ("dynamodb:PutItem", "AuditTable"),
        ("dynamodb:PutItem", "IdempotencyTable"),
        ("dynamodb:UpdateItem", "IdempotencyTable"),
        ("dynamodb:DeleteItem", "IdempotencyTable"),
        // The event source mapping polls with the function's role.
        ("sqs:ReceiveMessage", "FlowQueue"),
        ("sqs:DeleteMessage", "FlowQueue"),
        ("sqs:GetQueueAttributes", "FlowQueue"),
        ("sqs:ChangeMessageVisibility", "FlowQueue"),
        ("sqs:SendMessage", "FlowDeadLetterQueue"),
        // Flow 4: a product's sales rights changed, its work's links are evaluated again.
        ("sqs:SendMessage", "FlowQueue"),
    ] {
        assert!(has(&g, action, id), "flow processor lacks {action} on {id}: {g:?}");
    }
    // Flow 5: a package manifest names each file's approval records (audit by asset).
    assert!(
        has(&g, "dynamodb:Query", "AuditTable"),
        "flow processor lacks Query on AuditTable's by_asset: {g:?}"
    );
    // Flow 5: exactly the S3 calls of connector_store::aws::S3Staging's put/put_stream/head, no
    // listing, no plain DeleteObject (the stack test proves they suffice: tests/tests/stack.rs).
    let s3: BTreeSet<&str> = g
        .iter()
        .filter(|(a, _)| a.starts_with("s3:"))
        .map(|(a, id)| {
            assert_eq!(id, "StagingBucket", "{a} on {id}");
            a.as_str()
        })
        .collect();
    assert_eq!(
        s3,
        BTreeSet::from([
            "s3:PutObject",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:DeleteObjectVersion",
            "s3:AbortMultipartUpload"
        ]),
        "the processor's S3 grants"
    );

    let props = resource(&doc, PROCESSOR).get("Properties").expect("Properties");
    let event = props.get("Events").and_then(|e| e.get("FlowQueue")).expect("SQS event FlowQueue");
    assert_eq!(event.get("Type").and_then(Value::as_str), Some("SQS"));
    let types =
        event.get("Properties").and_then(|p| p.get("FunctionResponseTypes")).and_then(Value::as_sequence);
    assert_eq!(
        types.map(|t| t.iter().filter_map(Value::as_str).collect::<Vec<_>>()),
        Some(vec!["ReportBatchItemFailures"]),
        "without ReportBatchItemFailures the batch response is ignored and every message retried"
    );
    // The queue hides a message for at least six times the function's timeout.
    let timeout = props.get("Timeout").and_then(Value::as_u64).expect("Timeout");
    let min_visibility = doc
        .get("Parameters")
        .and_then(|p| p.get("FlowQueueVisibilityTimeout"))
        .and_then(|p| p.get("MinValue"))
        .and_then(Value::as_u64)
        .expect("FlowQueueVisibilityTimeout MinValue");
    assert!(min_visibility >= 6 * timeout, "visibility {min_visibility} s < 6 x timeout {timeout} s");
}

/// The sample events in events/ are what the reconciler's schedules deliver: a schedule with a
/// constant `Input` delivers exactly that JSON (no envelope), one without delivers the
/// `Scheduled Event` envelope. A schedule added to the template needs its sample.
#[test]
fn every_reconciler_schedule_has_the_sample_it_delivers() {
    let doc = template();
    let samples: Vec<(String, serde_json::Value)> =
        std::fs::read_dir(format!("{}/../events", env!("CARGO_MANIFEST_DIR")))
            .expect("events/")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("eventbridge-"))
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).expect("sample");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    serde_json::from_str(&text).expect("samples are JSON"),
                )
            })
            .collect();
    let events = resource(&doc, "ReconcilerFunction")
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping)
        .expect("the reconciler's Events");
    let mut schedules = 0;
    for (name, event) in events {
        if event.get("Type").and_then(Value::as_str) != Some("Schedule") {
            continue;
        }
        schedules += 1;
        let delivered = match event.get("Properties").and_then(|p| p.get("Input")).and_then(Value::as_str) {
            Some(input) => serde_json::from_str::<serde_json::Value>(input).expect("Input is JSON"),
            None => {
                serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
            }
        };
        let found = samples.iter().any(|(_, sample)| match delivered.get("detail-type") {
            // An envelope: the sample carries the same detail-type, source and detail.
            Some(_) => {
                ["detail-type", "source", "detail"].iter().all(|k| sample.get(*k) == delivered.get(*k))
            }
            None => sample == &delivered,
        });
        assert!(
            found,
            "schedule {name:?} delivers {delivered}, and no events/eventbridge-*.json is that: {samples:?}"
        );
    }
    assert!(schedules >= 3, "the incremental, full-scan and rights schedules");
}
