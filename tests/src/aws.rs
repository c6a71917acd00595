//! DynamoDB, SQS and S3 on moto, created from `infra/template.yaml`.
//!
//! The template is the single source of the key schema, indexes, TTL attribute, redrive
//! policy and bucket versioning: this module reads it and creates exactly those resources
//! in moto, under a prefix unique to the test so tests run in parallel. A name that differs
//! between the template and `connector_store::keys` therefore fails the adapter tests.

use crate::moto_endpoint;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use connector_store::Stores;
use connector_store::aws::{AwsConfig, aws_stores, sdk_config};
use connector_store::conformance::Context;
use serde_yaml::Value;
use std::collections::HashMap;
use std::path::PathBuf;

/// Logical ids in the template, and which [`AwsConfig`] field each one fills.
pub const STATE_TABLE: &str = "StateTable";
pub const AUDIT_TABLE: &str = "AuditTable";
pub const IDEMPOTENCY_TABLE: &str = "IdempotencyTable";
pub const FLOW_QUEUE: &str = "FlowQueue";
pub const FLOW_DLQ: &str = "FlowDeadLetterQueue";
pub const STAGING_BUCKET: &str = "StagingBucket";

/// Deviations from the template's parameter defaults.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `MaxReceiveCount` (the template's default otherwise): small keeps DLQ tests quick.
    pub max_receive_count: Option<u32>,
}

/// Every port on moto, with the resources of the template, for one test.
pub async fn stores(test_name: &str) -> (Stores, AwsConfig) {
    stores_with(test_name, Overrides::default()).await
}

pub async fn stores_with(test_name: &str, overrides: Overrides) -> (Stores, AwsConfig) {
    let cfg = create_resources(test_name, &overrides).await;
    (aws_stores(&cfg).await, cfg)
}

/// A conformance context on moto (the AWS twin of [`crate::embedded::context`]).
pub async fn context(name: &str, max_receives: u32) -> Context {
    let (stores, _) = stores_with(name, Overrides { max_receive_count: Some(max_receives) }).await;
    Context { stores, max_receives, name: name.to_string() }
}

/// Raw SDK clients on moto, for tests that look behind an adapter.
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
}

pub async fn clients(cfg: &AwsConfig) -> Clients {
    let sdk = sdk_config(cfg).await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(cfg.force_path_style).build();
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        s3: aws_sdk_s3::Client::from_conf(s3),
    }
}

/// `infra/template.yaml`, parsed. CloudFormation short forms (`!Ref`, `!GetAtt`, `!Sub`...)
/// arrive as YAML tagged values; [`Template::resolve`] understands the ones state needs.
pub struct Template {
    doc: Value,
}

impl Template {
    pub fn path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml")
    }

    pub fn load() -> Template {
        let path = Self::path();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        Template { doc }
    }

    /// `(logical id, Properties)` of every resource of `type_`, in template order.
    pub fn resources_of_type(&self, type_: &str) -> Vec<(String, &Value)> {
        let resources =
            self.doc.get("Resources").and_then(Value::as_mapping).expect("template has Resources");
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(type_))
            .map(|(id, r)| {
                let id = id.as_str().expect("logical ids are strings").to_string();
                (id, r.get("Properties").unwrap_or(&Value::Null))
            })
            .collect()
    }

    pub fn resource(&self, logical_id: &str) -> &Value {
        self.doc
            .get("Resources")
            .and_then(|r| r.get(logical_id))
            .unwrap_or_else(|| panic!("infra/template.yaml has no resource {logical_id}"))
    }

    pub fn parameter_default(&self, name: &str) -> Option<&Value> {
        self.doc.get("Parameters")?.get(name)?.get("Default")
    }

    /// Resolves `Ref` (to a parameter default, an override, or a created resource's name)
    /// and `GetAtt X.Arn` (to a created resource's ARN). Panics on anything else: a template
    /// construct the harness does not understand must not be silently dropped.
    fn resolve(&self, v: &Value, env: &Env) -> Value {
        let (function, arg) = match v {
            Value::Tagged(t) => (t.tag.to_string().trim_start_matches('!').to_string(), &t.value),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                match k.as_str() {
                    Some(k) if k == "Ref" || k.starts_with("Fn::") => {
                        (k.trim_start_matches("Fn::").to_string(), arg)
                    }
                    _ => return v.clone(),
                }
            }
            _ => return v.clone(),
        };
        match function.as_str() {
            "Ref" => {
                let name = arg.as_str().expect("Ref takes a name");
                if let Some(value) = env.parameters.get(name) {
                    return value.clone();
                }
                if let Some(created) = env.created.get(name) {
                    return Value::String(created.name.clone());
                }
                match self.parameter_default(name) {
                    Some(value) => value.clone(),
                    None => panic!("Ref {name}: no such parameter with a default, nor a created resource"),
                }
            }
            "GetAtt" => {
                let (id, attr) = match arg {
                    Value::String(s) => s.split_once('.').expect("GetAtt X.Attr"),
                    Value::Sequence(parts) => (
                        parts.first().and_then(Value::as_str).expect("GetAtt [X, Attr]"),
                        parts.get(1).and_then(Value::as_str).expect("GetAtt [X, Attr]"),
                    ),
                    other => panic!("GetAtt of {other:?}"),
                };
                let created =
                    env.created.get(id).unwrap_or_else(|| panic!("GetAtt {id}.{attr}: {id} not created yet"));
                match attr {
                    "Arn" => Value::String(created.arn.clone()),
                    other => panic!("GetAtt {id}.{other}: only Arn is supported by the test harness"),
                }
            }
            other => panic!("the test harness cannot resolve {other} in {v:?}"),
        }
    }
}

struct Created {
    name: String,
    arn: String,
}

#[derive(Default)]
struct Env {
    parameters: HashMap<String, Value>,
    created: HashMap<String, Created>,
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn str_field<'a>(v: &'a Value, field: &str, what: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or_else(|| panic!("{what}: missing string {field}"))
}

fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field).and_then(Value::as_sequence).map(Vec::as_slice).unwrap_or_default()
}

/// `<test name, sanitised>-<random>`: valid in table, queue and bucket names.
fn unique_prefix(test_name: &str) -> String {
    let mut clean: String = test_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    clean.truncate(24);
    let clean = clean.trim_matches('-');
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", if clean.is_empty() { "t" } else { clean }, &random[..8])
}

fn key_schema(v: &Value, what: &str) -> Vec<KeySchemaElement> {
    list(v, "KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_field(k, "AttributeName", what))
                .key_type(KeyType::from(str_field(k, "KeyType", what)))
                .build()
                .expect("key schema element")
        })
        .collect()
}

async fn create_tables(template: &Template, prefix: &str, env: &mut Env, client: &aws_sdk_dynamodb::Client) {
    for (id, props) in template.resources_of_type("AWS::DynamoDB::Table") {
        let name = format!("{prefix}-{id}");
        assert!(
            props.get("LocalSecondaryIndexes").is_none(),
            "{id}: LocalSecondaryIndexes are not created by the test harness yet"
        );
        let definitions: Vec<AttributeDefinition> = list(props, "AttributeDefinitions")
            .iter()
            .map(|d| {
                AttributeDefinition::builder()
                    .attribute_name(str_field(d, "AttributeName", &id))
                    .attribute_type(ScalarAttributeType::from(str_field(d, "AttributeType", &id)))
                    .build()
                    .expect("attribute definition")
            })
            .collect();
        let on_demand = props.get("BillingMode").and_then(Value::as_str) == Some("PAY_PER_REQUEST");
        let throughput = || {
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .expect("throughput")
        };
        let indexes: Vec<GlobalSecondaryIndex> = list(props, "GlobalSecondaryIndexes")
            .iter()
            .map(|g| {
                let projection = g.get("Projection").unwrap_or(&Value::Null);
                let mut index = GlobalSecondaryIndex::builder()
                    .index_name(str_field(g, "IndexName", &id))
                    .set_key_schema(Some(key_schema(g, &id)))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(
                                projection.get("ProjectionType").and_then(Value::as_str).unwrap_or("ALL"),
                            ))
                            .set_non_key_attributes(
                                projection.get("NonKeyAttributes").and_then(Value::as_sequence).map(
                                    |attrs| {
                                        attrs
                                            .iter()
                                            .map(|a| a.as_str().expect("attribute name").to_string())
                                            .collect()
                                    },
                                ),
                            )
                            .build(),
                    );
                if !on_demand {
                    index = index.provisioned_throughput(throughput());
                }
                index.build().expect("global secondary index")
            })
            .collect();
        let mut request = client
            .create_table()
            .table_name(&name)
            .set_attribute_definitions(Some(definitions))
            .set_key_schema(Some(key_schema(props, &id)))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes));
        request = if on_demand {
            request.billing_mode(BillingMode::PayPerRequest)
        } else {
            request.provisioned_throughput(throughput())
        };
        let out = request.send().await.unwrap_or_else(|e| {
            panic!(
                "creating table {id} from the template failed: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
        let arn = out.table_description.and_then(|d| d.table_arn).unwrap_or_default();
        if let Some(ttl) = props.get("TimeToLiveSpecification")
            && ttl.get("Enabled").and_then(Value::as_bool) == Some(true)
        {
            client
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(str_field(ttl, "AttributeName", &id))
                        .enabled(true)
                        .build()
                        .expect("ttl specification"),
                )
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("TTL on {id}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
                });
        }
        env.created.insert(id, Created { name, arn });
    }
}

/// Queue properties that map one-to-one onto SQS attributes.
const QUEUE_ATTRIBUTES: &[(&str, QueueAttributeName)] = &[
    ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
    ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
    ("DelaySeconds", QueueAttributeName::DelaySeconds),
    ("MaximumMessageSize", QueueAttributeName::MaximumMessageSize),
    ("ReceiveMessageWaitTimeSeconds", QueueAttributeName::ReceiveMessageWaitTimeSeconds),
    ("FifoQueue", QueueAttributeName::FifoQueue),
    ("ContentBasedDeduplication", QueueAttributeName::ContentBasedDeduplication),
];

async fn create_queues(template: &Template, prefix: &str, env: &mut Env, client: &aws_sdk_sqs::Client) {
    let mut queues = template.resources_of_type("AWS::SQS::Queue");
    // Dead-letter targets first: a redrive policy needs its target's ARN.
    queues.sort_by_key(|(_, props)| props.get("RedrivePolicy").is_some());
    for (id, props) in queues {
        let fifo = props.get("FifoQueue").and_then(Value::as_bool) == Some(true);
        let name = format!("{prefix}-{id}{}", if fifo { ".fifo" } else { "" });
        let mut attributes = HashMap::new();
        for (property, attribute) in QUEUE_ATTRIBUTES {
            if let Some(v) = props.get(*property) {
                attributes.insert(attribute.clone(), scalar(&template.resolve(v, env)));
            }
        }
        if let Some(policy) = props.get("RedrivePolicy") {
            let target =
                template.resolve(policy.get("deadLetterTargetArn").expect("deadLetterTargetArn"), env);
            let max = template.resolve(policy.get("maxReceiveCount").expect("maxReceiveCount"), env);
            let max: u32 = scalar(&max).parse().expect("maxReceiveCount is a number");
            let policy =
                serde_json::json!({ "deadLetterTargetArn": scalar(&target), "maxReceiveCount": max });
            attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let out = client
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attributes))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "creating queue {id} from the template failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            });
        let url = out.queue_url.expect("queue url");
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue arn");
        // For queues, `Ref` is the URL.
        env.created.insert(id, Created { name: url, arn });
    }
}

async fn create_buckets(template: &Template, prefix: &str, env: &mut Env, client: &aws_sdk_s3::Client) {
    for (id, props) in template.resources_of_type("AWS::S3::Bucket") {
        let name = format!("{prefix}-{}", id.to_ascii_lowercase());
        assert!(name.len() <= 63, "bucket name {name} is too long");
        client.create_bucket().bucket(&name).send().await.unwrap_or_else(|e| {
            panic!("creating bucket {id} failed: {}", aws_sdk_s3::error::DisplayErrorContext(e))
        });
        let status =
            props.get("VersioningConfiguration").and_then(|v| v.get("Status")).and_then(Value::as_str);
        if status == Some("Enabled") {
            client
                .put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(
                    VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
                )
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("versioning on {id}: {}", aws_sdk_s3::error::DisplayErrorContext(e))
                });
        }
        env.created.insert(id, Created { arn: format!("arn:aws:s3:::{name}"), name });
    }
}

/// Creates the template's tables, queues and bucket in moto; returns the adapter config.
pub async fn create_resources(test_name: &str, overrides: &Overrides) -> AwsConfig {
    let endpoint = moto_endpoint();
    let template = Template::load();
    let prefix = unique_prefix(test_name);
    let mut env = Env::default();
    if let Some(max) = overrides.max_receive_count {
        env.parameters.insert("MaxReceiveCount".into(), Value::Number(max.into()));
    }
    let placeholder = AwsConfig {
        state_table: String::new(),
        audit_table: String::new(),
        idempotency_table: String::new(),
        queue_url: String::new(),
        dead_letter_queue_url: String::new(),
        bucket: String::new(),
        endpoint_url: Some(endpoint),
        force_path_style: true,
    };
    let raw = clients(&placeholder).await;
    create_tables(&template, &prefix, &mut env, &raw.dynamodb).await;
    create_queues(&template, &prefix, &mut env, &raw.sqs).await;
    create_buckets(&template, &prefix, &mut env, &raw.s3).await;
    let name = |id: &str| {
        env.created
            .get(id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| panic!("infra/template.yaml has no resource {id}"))
    };
    AwsConfig {
        state_table: name(STATE_TABLE),
        audit_table: name(AUDIT_TABLE),
        idempotency_table: name(IDEMPOTENCY_TABLE),
        queue_url: name(FLOW_QUEUE),
        dead_letter_queue_url: name(FLOW_DLQ),
        bucket: name(STAGING_BUCKET),
        ..placeholder
    }
}
