//! The template's queue and function numbers against the sizing rule (`connector_app::sizing`):
//! the flow processor's Timeout, the flow queue's visibility timeout and maxReceiveCount (their
//! defaults and the smallest values the parameters allow) must size claims, leases and retries
//! so a dead worker's claims lapse before its messages run out of receives, and the Lambda's
//! built-in settings must be the ones derived from the template's defaults.

use connector_app::Settings;
use connector_app::sizing::QueueTiming;
use connector_tests::aws::Template;
use std::time::Duration;

fn number(v: Option<&serde_yaml::Value>, what: &str) -> u64 {
    v.and_then(serde_yaml::Value::as_u64)
        .unwrap_or_else(|| panic!("infra/template.yaml: {what} is not a number"))
}

fn parameter(doc: &serde_yaml::Value, name: &str, key: &str) -> u64 {
    number(doc.get("Parameters").and_then(|p| p.get(name)).and_then(|p| p.get(key)), &format!("{name}.{key}"))
}

#[test]
fn the_templates_timing_follows_the_sizing_rule() {
    let t = Template::load();
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(Template::path()).unwrap()).expect("YAML");
    let step = number(
        t.resource("FlowProcessorFunction").get("Properties").and_then(|p| p.get("Timeout")),
        "FlowProcessorFunction Timeout",
    );
    let timing = |visibility: u64, receives: u64| QueueTiming {
        visibility: Duration::from_secs(visibility),
        step_timeout: Duration::from_secs(step),
        max_receives: receives as u32,
        base_retry: QueueTiming::LAMBDA.base_retry,
    };
    let defaults = timing(
        parameter(&doc, "FlowQueueVisibilityTimeout", "Default"),
        parameter(&doc, "MaxReceiveCount", "Default"),
    );
    assert_eq!(defaults, QueueTiming::LAMBDA, "the code's Lambda timing must be the template's defaults");
    let sizing = defaults.sizing().unwrap_or_else(|e| panic!("template defaults: {e}"));
    // The smallest values a deployment may choose must hold too.
    let smallest = timing(
        parameter(&doc, "FlowQueueVisibilityTimeout", "MinValue"),
        parameter(&doc, "MaxReceiveCount", "MinValue"),
    );
    smallest.sizing().unwrap_or_else(|e| panic!("template minimums: {e}"));
    // What the Lambda runs with is what the rule derives.
    let settings = Settings::default();
    assert_eq!(settings.idempotency_ttl.in_progress, sizing.claim_ttl);
    assert_eq!((settings.lease, settings.slot_wait), (sizing.lease_ttl, sizing.slot_wait));
    assert_eq!(settings.max_receives, defaults.max_receives);
    assert!(settings.message_deadline < Duration::from_secs(step));
}
