//! The event sources of the stack, as AWS drives a function: API Gateway HTTP APIs (payload
//! format 2.0), the SQS event source mapping (batches, `ReportBatchItemFailures`), and
//! EventBridge schedules. Each is built from what the stack deployed (routes, mappings, rules),
//! so a new route, queue or schedule in the template is exercised without editing the tests.

use crate::lambda::{Environment, InvokeError};
use crate::stack::{Deployed, EventSourceMapping, HttpApi, Route, Schedule};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

// ----------------------------------------------------------------------------------------
// EventBridge schedules
// ----------------------------------------------------------------------------------------

/// What EventBridge delivers to the rule's target: exactly the target's constant `Input` when
/// the template gives one (no envelope), otherwise the `Scheduled Event` envelope.
pub fn schedule_payload(schedule: &Schedule, deployed: &Deployed) -> Value {
    match &schedule.input {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|e| {
            panic!("{}: Input {text:?} is not JSON ({e}); EventBridge refuses it", schedule.rule)
        }),
        None => json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": deployed.region,
            "resources": [schedule.arn],
            "detail": {}
        }),
    }
}

// ----------------------------------------------------------------------------------------
// API Gateway HTTP API (payload format 2.0)
// ----------------------------------------------------------------------------------------

/// Matches `path` against a route template (`/titles/{isbn}/readiness`, greedy `{proxy+}`).
pub fn match_route(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut params = BTreeMap::new();
    for (i, seg) in t.iter().enumerate() {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            params.insert(name.to_string(), p.get(i..)?.join("/"));
            return Some(params);
        }
        let actual = p.get(i)?;
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !actual.is_empty() => {
                params.insert(
                    name.to_string(),
                    percent_encoding::percent_decode_str(actual).decode_utf8_lossy().into_owned(),
                );
            }
            Some(_) => return None,
            None if seg == actual => {}
            None => return None,
        }
    }
    (t.len() == p.len()).then_some(params)
}

/// Content types API Gateway passes as text; anything else arrives base64-encoded.
fn is_text(content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    ct.is_empty()
        || ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
        )
}

/// The payload format 2.0 event for one request on `route` (API Gateway's documented shape:
/// lower-cased headers with repeats comma-joined, cookies apart, the query both raw and
/// parsed, path parameters, the authorizer's context).
/// One HTTP request as it reached API Gateway.
pub struct HttpRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

pub fn http_event(
    api_id: &str,
    region: &str,
    route: &Route,
    params: &BTreeMap<String, String>,
    request: &HttpRequest<'_>,
) -> Value {
    let HttpRequest { method, uri, headers, body } = *request;
    let domain = format!("{api_id}.execute-api.{region}.amazonaws.com");
    let mut hdrs: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = value.to_str().unwrap_or_default().to_string();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()));
            continue;
        }
        hdrs.entry(name.as_str().to_string()).and_modify(|v| *v = format!("{v},{value}")).or_insert(value);
    }
    let now = epoch_ms();
    let request_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    hdrs.insert("host".into(), domain.clone());
    hdrs.insert("x-forwarded-for".into(), "127.0.0.1".into());
    hdrs.insert("x-forwarded-port".into(), "443".into());
    hdrs.insert("x-forwarded-proto".into(), "https".into());
    hdrs.insert(
        "x-amzn-trace-id".into(),
        format!("Root=1-{:08x}-{}", now / 1000, &uuid::Uuid::new_v4().simple().to_string()[..24]),
    );
    hdrs.insert("content-length".into(), body.len().to_string());
    let raw_query = uri.query().unwrap_or_default().to_string();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query.entry(k.into_owned()).and_modify(|e| *e = format!("{e},{v}")).or_insert_with(|| v.into_owned());
    }
    let route_key = format!("{} {}", route.method, route.path);
    let content_type = hdrs.get("content-type").cloned().unwrap_or_default();
    let (body_field, base64) = if body.is_empty() {
        (Value::Null, false)
    } else if is_text(&content_type) && std::str::from_utf8(body).is_ok() {
        (Value::String(String::from_utf8_lossy(body).into_owned()), false)
    } else {
        (Value::String(base64::engine::general_purpose::STANDARD.encode(body)), true)
    };
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": api_id,
        "http": {
            "method": method.as_str(),
            "path": uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": hdrs.get("user-agent").cloned().unwrap_or_default(),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "timeEpoch": now,
    });
    match route.auth.as_str() {
        "JWT" => {
            context["authorizer"] = json!({"jwt": {"claims": {"sub": "stack-test-user", "iss": "https://issuer.example"}, "scopes": null}})
        }
        "AWS_IAM" => {
            context["authorizer"] = json!({"iam": {
            "accessKey": "AKIASTACKTEST", "accountId": "123456789012", "callerId": "AIDASTACKTEST",
            "cognitoIdentity": null, "principalOrgId": null,
            "userArn": "arn:aws:iam::123456789012:user/stack-test-operator", "userId": "AIDASTACKTEST"}})
        }
        _ => {}
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": hdrs,
        "requestContext": context,
        "isBase64Encoded": base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !body_field.is_null() {
        event["body"] = body_field;
    }
    event
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("apigw-requestid", uuid::Uuid::new_v4().simple().to_string())
        .body(Body::from(json!({"message": message}).to_string()))
        .expect("response")
}

/// The function's answer as API Gateway turns it into HTTP (format 2.0): `statusCode`,
/// `headers`, `cookies`, `body` (base64 when `isBase64Encoded`); any other JSON is a 200 with
/// that JSON as the body.
pub fn http_response(result: Result<Vec<u8>, InvokeError>) -> Response {
    let body = match result {
        Ok(body) => body,
        Err(InvokeError::Timeout(_)) => {
            return gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        Err(_) => return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    };
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    if value.get("statusCode").is_none() {
        return Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("response");
    }
    let status = value["statusCode"].as_u64().and_then(|s| StatusCode::from_u16(s as u16).ok());
    let Some(status) = status else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let mut builder = Response::builder().status(status);
    if let Some(headers) = value["headers"].as_object() {
        for (k, v) in headers {
            builder =
                builder.header(k.as_str(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        }
    }
    if let Some(multi) = value["multiValueHeaders"].as_object() {
        for (k, vs) in multi {
            for v in vs.as_array().into_iter().flatten().filter_map(Value::as_str) {
                builder = builder.header(k.as_str(), v);
            }
        }
    }
    for cookie in value["cookies"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        builder = builder.header("set-cookie", cookie);
    }
    let text = value["body"].as_str().unwrap_or_default();
    let bytes = if value["isBase64Encoded"].as_bool() == Some(true) {
        match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(b) => b,
            Err(_) => return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    } else {
        text.as_bytes().to_vec()
    };
    builder.body(Body::from(bytes)).expect("response")
}

struct Gateway {
    api_id: String,
    region: String,
    routes: Vec<Route>,
    functions: BTreeMap<String, Arc<Environment>>,
}

async fn gateway(
    State(g): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let found = g.routes.iter().find_map(|r| {
        (r.method.eq_ignore_ascii_case(method.as_str()) || r.method == "ANY")
            .then(|| match_route(&r.path, uri.path()).map(|p| (r, p)))
            .flatten()
    });
    let Some((route, params)) = found else {
        return gateway_error(StatusCode::NOT_FOUND, "Not Found");
    };
    // The authorizers run before the function: a JWT route needs the identity source (the
    // token's signature is API Gateway's business, not exercised here), an IAM route a SigV4
    // signature.
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    match route.auth.as_str() {
        "JWT" if authorization.is_empty() => return gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized"),
        "AWS_IAM" if !authorization.starts_with("AWS4-HMAC-SHA256 ") => {
            return gateway_error(StatusCode::FORBIDDEN, "Forbidden");
        }
        _ => {}
    }
    let Some(function) = route.function.as_ref().and_then(|f| g.functions.get(f)) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    assert_eq!(
        route.payload_format_version, "2.0",
        "{} {}: only payload format 2.0 is emulated",
        route.method, route.path
    );
    let request = HttpRequest { method: &method, uri: &uri, headers: &headers, body: &body };
    let event = http_event(&g.api_id, &g.region, route, &params, &request);
    http_response(function.invoke(&event).await.result)
}

/// One HTTP API served on a loopback port, each route invoking its function's environment.
pub struct HttpApiStandIn {
    /// `http://127.0.0.1:<port>`: where the API's `https://<id>.execute-api...` URL is served.
    pub local_url: String,
    /// The URL the deployment would have (`Deployed::api_url`).
    pub public_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl HttpApiStandIn {
    pub async fn start(
        deployed: &Deployed,
        api: &HttpApi,
        functions: BTreeMap<String, Arc<Environment>>,
    ) -> HttpApiStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("stand-in port");
        Self::start_on(listener, deployed, api, functions).await
    }

    /// Like [`HttpApiStandIn::start`], on a listener bound beforehand (its URL given out first).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        deployed: &Deployed,
        api: &HttpApi,
        functions: BTreeMap<String, Arc<Environment>>,
    ) -> HttpApiStandIn {
        let state = Arc::new(Gateway {
            api_id: deployed.api_id(&api.logical_id),
            region: deployed.region.clone(),
            routes: api.routes.clone(),
            functions,
        });
        let app = axum::Router::new().fallback(gateway).with_state(state);
        let local_url = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpApiStandIn { local_url, public_url: deployed.api_url(&api.logical_id), server }
    }

    /// A URL of the deployed API (`https://<id>.execute-api...`) as served here.
    pub fn local(&self, public: &str) -> String {
        public.replace(&self.public_url, &self.local_url)
    }
}

impl Drop for HttpApiStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ----------------------------------------------------------------------------------------
// SQS event source mapping
// ----------------------------------------------------------------------------------------

/// What one poll of the mapping did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub received: Vec<String>,
    /// Reported in `batchItemFailures` (left on the queue).
    pub failed: BTreeSet<String>,
    pub deleted: BTreeSet<String>,
    /// The invocation failed as a whole (nothing deleted).
    pub invocation_error: Option<String>,
    /// The receive counts SQS gave each message.
    pub receive_counts: BTreeMap<String, u32>,
}

/// The SQS event source mapping, polling with the function's own role (as Lambda does).
pub struct SqsMapping {
    pub mapping: EventSourceMapping,
    pub queue_url: String,
    client: aws_sdk_sqs::Client,
    region: String,
}

impl SqsMapping {
    pub async fn new(
        deployed: &Deployed,
        mapping: &EventSourceMapping,
        moto: &crate::stack::IamMoto,
    ) -> SqsMapping {
        let f = deployed.function(&mapping.function);
        let sdk = moto.sdk(&f.credentials, &deployed.region).await;
        let client = aws_sdk_sqs::Client::new(&sdk);
        // The queue's URL from its ARN (arn:aws:sqs:<region>:<account>:<name>), as the mapping
        // knows it: the role needs no sqs:GetQueueUrl (Lambda's mapping asks for
        // ReceiveMessage, DeleteMessage and GetQueueAttributes only).
        let parts: Vec<&str> = mapping.event_source_arn.split(':').collect();
        let queue_url = format!("https://sqs.{}.amazonaws.com/{}/{}", parts[3], parts[4], parts[5]);
        SqsMapping { mapping: mapping.clone(), queue_url, client, region: deployed.region.clone() }
    }

    /// One poll: receive up to the batch size, invoke, then delete what the response says
    /// succeeded (`ReportBatchItemFailures`: the listed ids stay; an empty or missing list
    /// means all succeeded; an id that is not in the batch, or an unreadable response, fails
    /// the whole batch). Nothing received: `None`.
    pub async fn poll(&self, function: &Environment) -> Option<Batch> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.mapping.batch_size.min(10) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("the mapping's ReceiveMessage failed: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
            });
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return None;
        }
        let mut batch = Batch::default();
        let mut records = Vec::new();
        let mut receipts = BTreeMap::new();
        for m in &messages {
            let id = m.message_id.clone().unwrap_or_default();
            let attributes: BTreeMap<String, String> = m
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_string(), v))
                .collect();
            let count = attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
            batch.receive_counts.insert(id.clone(), count);
            let message_attributes: BTreeMap<String, Value> = m
                .message_attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    (k, json!({
                        "stringValue": v.string_value, "binaryValue": v.binary_value.map(|b| base64::engine::general_purpose::STANDARD.encode(b.as_ref())),
                        "stringListValues": [], "binaryListValues": [], "dataType": v.data_type,
                    }))
                })
                .collect();
            records.push(json!({
                "messageId": id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": self.mapping.event_source_arn,
                "awsRegion": self.region,
            }));
            receipts.insert(id.clone(), m.receipt_handle.clone().unwrap_or_default());
            batch.received.push(id);
        }
        let invocation = function.invoke(&json!({"Records": records})).await;
        let reports_failures =
            self.mapping.function_response_types.iter().any(|t| t == "ReportBatchItemFailures");
        let failed: Result<BTreeSet<String>, String> = match &invocation.result {
            Err(e) => Err(e.to_string()),
            Ok(_) if !reports_failures => Ok(BTreeSet::new()),
            Ok(body) => match serde_json::from_slice::<Value>(body) {
                Err(e) => Err(format!("unreadable batch response: {e}")),
                Ok(v) => match v.get("batchItemFailures") {
                    None | Some(Value::Null) => Ok(BTreeSet::new()),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|i| match i["itemIdentifier"].as_str() {
                            Some(id) if receipts.contains_key(id) => Ok(id.to_string()),
                            other => {
                                Err(format!("batchItemFailures names {other:?}, not a message of this batch"))
                            }
                        })
                        .collect(),
                    Some(other) => Err(format!("batchItemFailures is {other}")),
                },
            },
        };
        match failed {
            Err(e) => {
                batch.invocation_error = Some(e);
                batch.failed = receipts.keys().cloned().collect();
            }
            Ok(failed) => {
                let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
                    .iter()
                    .filter(|(id, _)| !failed.contains(*id))
                    .enumerate()
                    .map(|(i, (_, receipt))| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(format!("m{i}"))
                            .receipt_handle(receipt)
                            .build()
                            .expect("entry")
                    })
                    .collect();
                if !entries.is_empty() {
                    let out = self
                        .client
                        .delete_message_batch()
                        .queue_url(&self.queue_url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                        .unwrap_or_else(|e| {
                            panic!(
                                "the mapping's DeleteMessageBatch failed: {}",
                                aws_sdk_sqs::error::DisplayErrorContext(e)
                            )
                        });
                    assert!(out.failed.is_empty(), "DeleteMessageBatch refused {:?}", out.failed);
                }
                batch.deleted = receipts.keys().filter(|id| !failed.contains(*id)).cloned().collect();
                batch.failed = failed;
            }
        }
        Some(batch)
    }

    /// Polls until the queue holds nothing, visible or in flight (messages a function made
    /// invisible come back when their visibility ends), or `limit` passes.
    pub async fn drain(&self, function: &Environment, limit: Duration) -> Vec<Batch> {
        let deadline = std::time::Instant::now() + limit;
        let mut batches = Vec::new();
        loop {
            if let Some(b) = self.poll(function).await {
                batches.push(b);
                continue;
            }
            let attrs = self
                .client
                .get_queue_attributes()
                .queue_url(&self.queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                )
                .send()
                .await
                .expect("GetQueueAttributes with the mapping's role");
            let count = |name| {
                attrs.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            };
            let left = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
            if left == 0 || std::time::Instant::now() >= deadline {
                return batches;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
