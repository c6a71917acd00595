//! The deployed path, running: both simulators, the stack on the IAM-enforcing moto, each
//! function's binary in its own Lambda environment with its role's credentials, and the event
//! sources in front of them (the two HTTP APIs, the SQS mapping, the schedules).

use crate::binaries::{self, FUNCTIONS};
use crate::lambda::Environment;
use crate::sources::{HttpApiStandIn, SqsMapping};
use crate::stack::{self, DeploySpec, Deployed, IamMoto};
use connector::{SIM_WEBHOOK_SECRET, Simulators};
use connector_sim::catalogue::Catalogue;
use connector_sim::consonance::ConsonanceSimOptions;
use connector_store::aws::{AwsConfig, DynamoStore, S3Staging, SqsQueue};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const INTAKE: &str = "WebhookIntakeFunction";
pub const PROCESSOR: &str = "FlowProcessorFunction";
pub const RECONCILER: &str = "ReconcilerFunction";
pub const API: &str = "ApiFunction";

/// The mapping config deployed to SSM: tests/stack/mapping.toml without its comments.
pub fn mapping_config() -> String {
    let path = stack::repo_root().join("tests/stack/mapping.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

pub struct StackHarness {
    pub moto: IamMoto,
    pub deployed: Deployed,
    pub sims: Simulators,
    pub catalogue: Catalogue,
    /// Logical id -> its running environment.
    pub functions: BTreeMap<String, Arc<Environment>>,
    pub webhook_api: HttpApiStandIn,
    pub people_api: HttpApiStandIn,
    pub flow_queue: SqsMapping,
    /// The stores on the stack's resources with the administrator's credentials: what the
    /// test inspects (never what a function uses).
    pub admin: AdminStores,
}

pub struct AdminStores {
    pub dynamo: DynamoStore,
    pub staging: S3Staging,
    pub queue: SqsQueue,
    pub s3: aws_sdk_s3::Client,
    pub config: AwsConfig,
}

/// The parameters, secrets and SSM parameter of a deployment against `sims`.
pub fn deploy_spec(stack: &str, sims: &Simulators) -> DeploySpec {
    let otmm_secret = format!("{stack}/otmm-service-user");
    let consonance_secret = format!("{stack}/consonance-api-key");
    let webhook_secret = format!("{stack}/webhook-otmm");
    let mapping = format!("/{stack}/mapping");
    let parameters: BTreeMap<String, String> = [
        // The simulators speak http:// on loopback; the template's AllowedPattern wants
        // https:// (moto does not check it; the one deviation from a real deployment's values).
        ("OtmmBaseUrl", sims.otmm.base_url().to_string()),
        ("OtmmCredentialsSecretName", otmm_secret.clone()),
        ("ConsonanceBaseUrl", sims.consonance.base_url().to_string()),
        ("ConsonanceApiKeySecretName", consonance_secret.clone()),
        ("MappingConfigParameterName", mapping.clone()),
        ("WebhookSecretOtmmName", webhook_secret.clone()),
        ("ApiJwtIssuer", "https://issuer.example.com/pool".to_string()),
        ("ApiJwtAudience", "connector-board".to_string()),
        // Unlimited requests per second: allowed by the template (MinValue 0), and the local
        // simulators need no protection.
        ("OtmmRateLimit", "0".to_string()),
        ("ConsonanceRateLimit", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let secrets = [
        (
            otmm_secret,
            serde_json::json!({"username": sims.otmm.username(), "password": sims.otmm.password()})
                .to_string(),
        ),
        (consonance_secret, ConsonanceSimOptions::default().api_key),
        (webhook_secret, SIM_WEBHOOK_SECRET.to_string()),
    ]
    .into_iter()
    .collect();
    DeploySpec { parameters, secrets, ssm: [(mapping, mapping_config())].into_iter().collect() }
}

impl StackHarness {
    /// Simulators seeded with `catalogue` (OTMM posting its webhooks to the webhook API), the
    /// stack deployed, every function started and polling.
    pub async fn start(name: &str, catalogue: Catalogue) -> StackHarness {
        StackHarness::start_with(name, catalogue, &[]).await
    }

    /// [`start`](Self::start) with some template parameters set otherwise (e.g. a rate limit).
    pub async fn start_with(name: &str, catalogue: Catalogue, parameters: &[(&str, &str)]) -> StackHarness {
        let moto = IamMoto::from_env();
        let binaries = tokio::task::spawn_blocking(binaries::functions).await.expect("build");
        // The webhook API's address must be known before OTMM starts (it posts there).
        let webhook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        let webhook_local = format!("http://{}", webhook_listener.local_addr().expect("address"));
        let sims =
            Simulators::start(&catalogue, Some(format!("{webhook_local}/webhooks/otmm")), SIM_WEBHOOK_SECRET)
                .await;

        let stack_name = stack::stack_name(name);
        let mut spec = deploy_spec(&stack_name, &sims);
        spec.parameters.extend(parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let deployed = stack::deploy(&moto, &stack_name, &spec).await;
        let mut functions = BTreeMap::new();
        let starts = FUNCTIONS.iter().map(|(bin, logical)| {
            let (deployed, moto, path) = (&deployed, &moto, binaries[*bin].clone());
            async move { (logical.to_string(), deployed.start(logical, &path, moto).await) }
        });
        for (logical, env) in futures::future::join_all(starts).await {
            if let Err(e) = env.init_duration(Duration::from_secs(20)).await {
                panic!("{logical} did not start: {e}");
            }
            functions.insert(logical, Arc::new(env));
        }
        let api = |id: &str| {
            deployed
                .http_apis
                .iter()
                .find(|a| a.logical_id == id)
                .unwrap_or_else(|| panic!("no HTTP API {id}"))
                .clone()
        };
        let webhook_api =
            HttpApiStandIn::start_on(webhook_listener, &deployed, &api("WebhookApi"), functions.clone())
                .await;
        let people_api = HttpApiStandIn::start(&deployed, &api("PeopleApi"), functions.clone()).await;
        let mapping = deployed
            .event_source_mappings
            .iter()
            .find(|m| m.function == PROCESSOR)
            .expect("the processor's SQS mapping")
            .clone();
        let flow_queue = SqsMapping::new(&deployed, &mapping, &moto).await;
        let admin = AdminStores::new(&moto, &deployed).await;
        StackHarness {
            moto,
            deployed,
            sims,
            catalogue,
            functions,
            webhook_api,
            people_api,
            flow_queue,
            admin,
        }
    }

    pub fn function(&self, logical_id: &str) -> &Environment {
        self.functions.get(logical_id).unwrap_or_else(|| panic!("no function {logical_id}"))
    }

    /// Every function's output so far, for a failure message.
    pub fn logs(&self) -> String {
        self.functions.iter().map(|(id, f)| format!("--- {id}\n{}", f.logs())).collect::<Vec<_>>().join("\n")
    }

    /// SDK configuration with `logical_id`'s role credentials (for calls the role must not make).
    pub async fn role_sdk(&self, logical_id: &str) -> aws_config::SdkConfig {
        self.moto.sdk(&self.deployed.function(logical_id).credentials, &self.deployed.region).await
    }
}

impl AdminStores {
    pub async fn new(moto: &IamMoto, deployed: &Deployed) -> AdminStores {
        let env = &deployed.function(PROCESSOR).environment;
        let lookup = |k: &str| env.get(k).cloned();
        let config = AwsConfig::from_lookup(lookup).expect("the processor's store variables");
        let sdk = moto.sdk(&moto.admin, &deployed.region).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build(),
        );
        AdminStores {
            dynamo: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config),
            staging: S3Staging::new(s3.clone(), &config),
            queue: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &config),
            s3,
            config,
        }
    }
}
