//! `infra/template.yaml` against the API's code: every route of `api::ROUTES` is an event of
//! `ApiFunction` on the people-facing HTTP API and nothing else is; admin routes are
//! IAM-authorised, the OpenAPI document open, every other route behind the JWT authorizer; the
//! role grants what the DLQ and reconcile code paths call. Parses the template only.

use connector_web::api;
use serde_yaml::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    let path = connector_tests::aws::Template::path();
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).expect("YAML")
}

fn tag_value(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        v => v,
    }
}

#[test]
fn api_routes_and_their_authorization_match_the_code() {
    let doc = template();
    let function = &doc["Resources"]["ApiFunction"]["Properties"];
    let mut events = BTreeSet::new();
    for (_, event) in function["Events"].as_mapping().expect("events") {
        assert_eq!(event["Type"], "HttpApi");
        let p = &event["Properties"];
        assert_eq!(tag_value(&p["ApiId"]).as_str(), Some("PeopleApi"), "on the people-facing API");
        let method = p["Method"].as_str().unwrap().to_string();
        let path = p["Path"].as_str().unwrap().to_string();
        let auth = p["Auth"]["Authorizer"].as_str().map(str::to_string);
        events.insert((method, path, auth));
    }
    let expected: BTreeSet<(String, String, Option<String>)> = api::ROUTES
        .iter()
        .map(|r| {
            let auth = if r.is_admin() {
                Some("AWS_IAM".to_string())
            } else if r.id == api::RouteId::OpenApi {
                Some("NONE".to_string())
            } else {
                None // the API's default: the JWT authorizer
            };
            (r.method.to_string(), r.path.to_string(), auth)
        })
        .collect();
    assert_eq!(events, expected);
    let auth = &doc["Resources"]["PeopleApi"]["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"], "JwtAuthorizer");
    assert_eq!(auth["EnableIamAuthorizer"], true);
    let jwt = &auth["Authorizers"]["JwtAuthorizer"]["JwtConfiguration"];
    assert_eq!(tag_value(&jwt["issuer"]).as_str(), Some("ApiJwtIssuer"));
    assert_eq!(tag_value(&jwt["audience"]).as_str(), Some("ApiJwtAudience"));
    // Under API Gateway's 30 s integration limit, above the reconcile slice's budget.
    let timeout = function["Timeout"].as_u64().unwrap();
    assert!(timeout <= 30 && timeout > api::RECONCILE_BUDGET.as_secs(), "timeout {timeout}");
}

#[test]
fn api_role_covers_dead_letters_and_reconcile_and_no_wildcards() {
    let doc = template();
    let statements = doc["Resources"]["ApiRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap()
        .clone();
    let actions_of = |sid: &str| -> BTreeSet<String> {
        let s = statements.iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("no statement {sid}"));
        match &s["Action"] {
            Value::String(a) => [a.clone()].into(),
            Value::Sequence(v) => v.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
            _ => panic!("actions"),
        }
    };
    // The SQS adapter's dead_letters/redrive: receive, make visible again, delete; send back.
    for a in
        ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    {
        assert!(actions_of("DeadLetters").contains(a), "{a}");
    }
    assert!(actions_of("FlowQueue").contains("sqs:SendMessage"));
    // Audit reads on the table and its by_asset index; writes on the table only (an index
    // takes none).
    assert_eq!(actions_of("AuditRead"), ["dynamodb:Query".to_string()].into());
    assert_eq!(actions_of("Audit"), ["dynamodb:PutItem".to_string()].into());
    for s in &statements {
        let text = serde_yaml::to_string(&s["Action"]).unwrap();
        assert!(!text.contains('*'), "no wildcard actions: {text}");
    }
}
