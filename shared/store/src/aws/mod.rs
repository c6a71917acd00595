//! AWS adapters: DynamoDB (mapping, audit, idempotency, checkpoints), SQS (queue), S3 (staging).
//!
//! Table, queue and bucket names come from the environment ([`AwsConfig::from_env`]), as set
//! by `infra/template.yaml`; the key layout is the one in [`crate::keys`].
//!
//! Each adapter is behind its own feature (`aws-dynamodb`, `aws-sqs`, `aws-s3`; `aws` for all)
//! and is built on its own from [`AwsClients`], so a function links only the SDK clients it
//! calls (the intake, reconciler and API never construct an S3 client: their roles grant no
//! S3, and their [`Stores`] hold a [`crate::NoStaging`]).

#[cfg(feature = "aws-dynamodb")]
mod dynamo;
#[cfg(feature = "aws-s3")]
mod s3;
#[cfg(feature = "aws-sqs")]
mod sqs;

#[cfg(feature = "aws-dynamodb")]
pub use dynamo::DynamoStore;
#[cfg(feature = "aws-s3")]
pub use s3::S3Staging;
#[cfg(feature = "aws-sqs")]
pub use sqs::SqsQueue;

use crate::StoreError;
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
#[cfg(feature = "aws-dynamodb")]
use std::sync::Arc;

/// Where the state lives: table names, queue urls, bucket, and an optional local endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub state_table: String,
    pub audit_table: String,
    pub idempotency_table: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    pub bucket: String,
    /// A local stand-in (moto) instead of the real endpoints.
    pub endpoint_url: Option<String>,
    /// S3 path-style addressing (needed by local stand-ins).
    pub force_path_style: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsConfigError {
    #[error("environment variable {0} is not set (or empty); the template sets it on every function")]
    Missing(&'static str),
    #[error("environment variable {var} has value {value:?}: {reason}")]
    Invalid { var: &'static str, value: String, reason: &'static str },
}

impl AwsConfig {
    pub const STATE_TABLE: &'static str = "STATE_TABLE";
    pub const AUDIT_TABLE: &'static str = "AUDIT_TABLE";
    pub const IDEMPOTENCY_TABLE: &'static str = "IDEMPOTENCY_TABLE";
    pub const FLOW_QUEUE_URL: &'static str = "FLOW_QUEUE_URL";
    pub const FLOW_DLQ_URL: &'static str = "FLOW_DLQ_URL";
    pub const STAGING_BUCKET: &'static str = "STAGING_BUCKET";
    pub const AWS_ENDPOINT_URL: &'static str = "AWS_ENDPOINT_URL";
    pub const S3_FORCE_PATH_STYLE: &'static str = "S3_FORCE_PATH_STYLE";

    pub fn from_env() -> Result<AwsConfig, AwsConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`AwsConfig::from_env`], reading variables through `lookup` (tests, other sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<AwsConfig, AwsConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(AwsConfigError::Missing(name));
        let force_path_style = match get(Self::S3_FORCE_PATH_STYLE) {
            None => false,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(AwsConfigError::Invalid {
                        var: Self::S3_FORCE_PATH_STYLE,
                        value: v,
                        reason: "expected true/false (or 1/0, yes/no, on/off)",
                    });
                }
            },
        };
        Ok(AwsConfig {
            state_table: required(Self::STATE_TABLE)?,
            audit_table: required(Self::AUDIT_TABLE)?,
            idempotency_table: required(Self::IDEMPOTENCY_TABLE)?,
            queue_url: required(Self::FLOW_QUEUE_URL)?,
            dead_letter_queue_url: required(Self::FLOW_DLQ_URL)?,
            bucket: required(Self::STAGING_BUCKET)?,
            endpoint_url: get(Self::AWS_ENDPOINT_URL),
            force_path_style,
        })
    }
}

/// The shared SDK configuration, as Lambda runs the functions: region and credentials from the
/// environment (`AWS_REGION`, the role's `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
/// `AWS_SESSION_TOKEN`), the SDK's default HTTPS client (rustls + aws-lc-rs), standard retries,
/// a 3.1 s connect timeout (aws-config's default), and the endpoint override when configured.
///
/// Built from its parts rather than with `aws_config::defaults().load()`: that chain (profile
/// files, SSO, web identity and assume-role through STS, ECS, IMDS) never applies in Lambda but
/// is linked into every binary, about a megabyte of code. Running a function elsewhere needs
/// the same variables. The HTTP client builds its connector, and so reads the platform's TLS
/// roots, at the first request: the SDK's default does it when each service client is
/// constructed, which put the roots on every cold start (and parsed them again at the first
/// request anyway).
pub async fn sdk_config(cfg: &AwsConfig) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .map(aws_config::Region::new);
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .http_client(SharedHttpClient::new(FirstRequest(https)))
        .retry_config(aws_smithy_types::retry::RetryConfig::standard())
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(3100))
                .build(),
        )
        .time_source(aws_smithy_async::time::SharedTimeSource::default());
    builder.set_region(region);
    builder.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
    if let Some(url) = &cfg.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// An HTTP client whose connectors are all built on demand (`http_connector`, called per
/// request and cached by the inner client), never ahead of time.
#[derive(Debug)]
struct FirstRequest(SharedHttpClient);

impl HttpClient for FirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }
    // validate_base_client_config: the default (nothing), not the inner client's eager build.
    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The SDK configuration and the resource names, from which each adapter is built on its own.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub sdk: aws_config::SdkConfig,
    pub config: AwsConfig,
}

impl AwsClients {
    pub async fn load(cfg: &AwsConfig) -> AwsClients {
        AwsClients { sdk: sdk_config(cfg).await, config: cfg.clone() }
    }

    /// Mapping, audit, idempotency, checkpoints and documents.
    #[cfg(feature = "aws-dynamodb")]
    pub fn dynamo(&self) -> DynamoStore {
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.config)
    }

    /// The flow queue and its dead-letter queue.
    #[cfg(feature = "aws-sqs")]
    pub fn queue(&self) -> SqsQueue {
        SqsQueue::new(aws_sdk_sqs::Client::new(&self.sdk), &self.config)
    }

    /// The staging bucket.
    #[cfg(feature = "aws-s3")]
    pub fn staging(&self) -> S3Staging {
        let s3 = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.config.force_path_style)
            .build();
        S3Staging::new(aws_sdk_s3::Client::from_conf(s3), &self.config)
    }

    /// Every port on DynamoDB and SQS, with `staging` for the bucket (an [`S3Staging`], or a
    /// [`crate::NoStaging`] for a function that never stages).
    #[cfg(all(feature = "aws-dynamodb", feature = "aws-sqs"))]
    pub fn stores(&self, staging: Arc<dyn crate::Staging>) -> crate::Stores {
        let dynamo = Arc::new(self.dynamo());
        crate::Stores {
            mapping: dynamo.clone(),
            audit: dynamo.clone(),
            idempotency: dynamo.clone(),
            checkpoints: dynamo.clone(),
            documents: dynamo,
            queue: Arc::new(self.queue()),
            staging,
        }
    }
}

/// Every port on DynamoDB, SQS and S3.
#[cfg(all(feature = "aws-dynamodb", feature = "aws-sqs", feature = "aws-s3"))]
pub async fn aws_stores(cfg: &AwsConfig) -> crate::Stores {
    let clients = AwsClients::load(cfg).await;
    let staging = Arc::new(clients.staging());
    clients.stores(staging)
}

/// Error codes that mean "slow down and try again" across DynamoDB, SQS and S3.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "KMS.ThrottlingException",
];

type SdkError<E> = aws_smithy_runtime_api::client::result::SdkError<
    E,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;

/// Maps an SDK error to [`StoreError::Backend`]; `what` names the table/queue/bucket and key.
/// Transient: timeouts, connection failures, unparseable responses, throttling and 5xx.
pub(crate) fn sdk_error<E>(
    backend: &'static str,
    operation: &'static str,
    what: &str,
    err: SdkError<E>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service.raw().status().as_u16() == 429
                || service.err().code().is_some_and(|code| THROTTLING_CODES.contains(&code))
        }
        _ => false,
    };
    let detail = match &err {
        // Code and message only: the full context repeats the raw response.
        SdkError::ServiceError(service) => format!(
            "{} (HTTP {}): {}",
            service.err().code().unwrap_or("unknown error"),
            service.raw().status().as_u16(),
            service.err().message().unwrap_or("no message")
        ),
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    };
    StoreError::Backend { backend, operation, message: format!("{what}: {detail}"), transient }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn full() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("STATE_TABLE", "state"),
            ("AUDIT_TABLE", "audit"),
            ("IDEMPOTENCY_TABLE", "idem"),
            ("FLOW_QUEUE_URL", "http://q"),
            ("FLOW_DLQ_URL", "http://dlq"),
            ("STAGING_BUCKET", "bucket"),
        ])
    }

    /// An HTTP client that counts the SDK's ahead-of-time build (`validate_base_client_config`,
    /// which the default client uses to load the TLS roots at construction).
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl HttpClient for Counting {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            unreachable!("no request is made")
        }
        fn validate_base_client_config(
            &self,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            _: &aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[cfg(feature = "aws-sqs")]
    #[tokio::test]
    async fn constructing_a_client_builds_no_connector_when_wrapped() {
        let build = |http: SharedHttpClient| {
            let config = aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .http_client(http)
                .build();
            aws_sdk_sqs::Client::from_conf(config)
        };
        let bare = std::sync::Arc::new(Counting::default());
        let _client = build(SharedHttpClient::new(ArcClient(bare.clone())));
        assert_eq!(bare.0.load(std::sync::atomic::Ordering::SeqCst), 1, "the SDK builds ahead of time");
        let inner = std::sync::Arc::new(Counting::default());
        let _client =
            build(SharedHttpClient::new(FirstRequest(SharedHttpClient::new(ArcClient(inner.clone())))));
        assert_eq!(inner.0.load(std::sync::atomic::Ordering::SeqCst), 0, "deferred to the first request");
        // And the functions' configuration is built that way.
        let cfg = AwsConfig::from_lookup(|k| full().get(k).map(|v| v.to_string())).unwrap();
        let sdk = sdk_config(&cfg).await;
        assert!(format!("{:?}", sdk.http_client()).contains("FirstRequest"), "{:?}", sdk.http_client());
    }

    #[derive(Debug)]
    struct ArcClient(std::sync::Arc<Counting>);

    impl HttpClient for ArcClient {
        fn http_connector(&self, s: &HttpConnectorSettings, c: &RuntimeComponents) -> SharedHttpConnector {
            self.0.http_connector(s, c)
        }
        fn validate_base_client_config(
            &self,
            r: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            c: &aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.validate_base_client_config(r, c)
        }
    }

    #[test]
    fn config_names_the_missing_variable() {
        let mut env = full();
        env.remove("FLOW_DLQ_URL");
        let err = AwsConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert_eq!(err, AwsConfigError::Missing("FLOW_DLQ_URL"));
        assert!(err.to_string().contains("FLOW_DLQ_URL"));
    }

    #[test]
    fn config_reads_optional_endpoint_and_path_style() {
        let mut env = full();
        let cfg = AwsConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(cfg.endpoint_url, None);
        assert!(!cfg.force_path_style);
        env.insert("AWS_ENDPOINT_URL", "http://127.0.0.1:5000");
        env.insert("S3_FORCE_PATH_STYLE", "true");
        let cfg = AwsConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(cfg.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(cfg.force_path_style);
        env.insert("S3_FORCE_PATH_STYLE", "maybe");
        let err = AwsConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(err.to_string().contains("S3_FORCE_PATH_STYLE"));
    }
}
