//! `infra/template.yaml` deployed to the IAM-enforcing moto (`MOTO_IAM_ENDPOINT`, started by
//! `scripts/test`) by `tests/stack/deploy.py`, and each function run from its native binary
//! with the environment and the role credentials the deployment gives it.
//!
//! Every variable a function gets is one of three kinds, and only the last is the test's:
//! - its template `Environment`, as deployed (moto resolved `Ref`/`GetAtt`; the dynamic
//!   references to Secrets Manager and SSM are resolved by deploy.py, as CloudFormation does);
//! - what Lambda sets in every environment: `AWS_LAMBDA_*`, `AWS_REGION`, the role's
//!   `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` (STS AssumeRole of the
//!   function's own role), `_HANDLER`, `TZ`... ([`crate::lambda::FunctionConfig`]);
//! - test-only: `AWS_ENDPOINT_URL` (the SDK's endpoint override, to reach moto instead of
//!   AWS) and `S3_FORCE_PATH_STYLE=true` (moto serves buckets by path, not by host name).

use crate::lambda::{Environment, FunctionConfig};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Lambda's limit on a function's environment variables, all together (keys and values).
pub const ENVIRONMENT_LIMIT: usize = 4096;

/// The IAM-enforcing moto and the administrator `scripts/test` bootstrapped on it.
#[derive(Debug, Clone)]
pub struct IamMoto {
    pub endpoint: String,
    pub admin: Credentials,
    /// JSON lines: every authorisation decision on an assumed role (tests/stack/moto_iam.py).
    pub log: Option<PathBuf>,
}

const NOT_RUNNING: &str = "the IAM-enforcing moto is not running: run ./scripts/test, which starts it";

impl IamMoto {
    /// From `scripts/test`'s environment; panics (never skips) when it is not there.
    pub fn from_env() -> IamMoto {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("{NOT_RUNNING} ({name} is not set)"))
        };
        IamMoto {
            endpoint: var("MOTO_IAM_ENDPOINT"),
            admin: Credentials {
                access_key_id: var("MOTO_IAM_ACCESS_KEY_ID"),
                secret_access_key: var("MOTO_IAM_SECRET_ACCESS_KEY"),
                session_token: None,
            },
            log: std::env::var_os("MOTO_IAM_LOG").map(PathBuf::from),
        }
    }

    /// For benchmarks run on their own (`cargo bench`): the moto `scripts/test` started when
    /// its variables are set, else one started here (tests/stack/moto_iam.py on a free port,
    /// bootstrapped as scripts/test does), stopped when the guard drops.
    pub fn from_env_or_spawn() -> (IamMoto, Option<SpawnedMoto>) {
        if std::env::var_os("MOTO_IAM_ENDPOINT").is_some() {
            return (IamMoto::from_env(), None);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::env::temp_dir().join(format!("moto-iam-{port}.jsonl"));
        let child = std::process::Command::new(python())
            .arg(repo_root().join("tests/stack/moto_iam.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .env("MOTO_IAM_LOG", &log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_iam.py starts");
        let guard = SpawnedMoto { child };
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = std::process::Command::new(python())
            .arg(repo_root().join("tests/stack/moto_iam.py"))
            .args(["bootstrap", &endpoint])
            .output()
            .expect("bootstrap runs");
        let keys = String::from_utf8_lossy(&out.stdout).to_string();
        let mut keys = keys.split_whitespace();
        let (Some(id), Some(secret)) = (keys.next(), keys.next()) else {
            panic!("bootstrap printed no keys: {}", String::from_utf8_lossy(&out.stderr))
        };
        let admin =
            Credentials { access_key_id: id.into(), secret_access_key: secret.into(), session_token: None };
        (IamMoto { endpoint, admin, log: Some(log) }, Some(guard))
    }

    /// SDK configuration for `credentials` on this moto.
    pub async fn sdk(&self, credentials: &Credentials, region: &str) -> SdkConfig {
        let creds = aws_sdk_sqs::config::Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            credentials.session_token.clone(),
            None,
            "stack-test",
        );
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(creds)
            .endpoint_url(&self.endpoint)
            .load()
            .await
    }

    /// Every decision moto made for `role` (by its name, any session), in order.
    pub fn decisions(&self, role_name: &str) -> Vec<Decision> {
        let Some(path) = &self.log else { return Vec::new() };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Decision>(l).ok())
            .filter(|d| d.principal.contains(&format!(":assumed-role/{role_name}/")))
            .collect()
    }
}

/// A moto started by [`IamMoto::from_env_or_spawn`]; stopped on drop.
pub struct SpawnedMoto {
    child: std::process::Child,
}

impl Drop for SpawnedMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

/// One authorisation decision of the IAM-enforcing moto.
#[derive(Debug, Clone, Deserialize)]
pub struct Decision {
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// `true`, `false` (denied), or a string describing an evaluation error.
    pub allowed: serde_json::Value,
}

/// A function as deployed (deploy.py's description of it).
#[derive(Debug, Clone, Deserialize)]
pub struct DeployedFunction {
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    /// The role's logical id in the template.
    pub role: String,
    pub memory_size: u64,
    pub timeout: u64,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub log_format: String,
    pub log_level: Option<String>,
    pub log_group: Option<String>,
    /// Its `Environment` with every reference resolved.
    pub environment: BTreeMap<String, String>,
    /// `${X}` left in a value: resources moto does not create (API Gateway v2).
    pub unresolved: Vec<String>,
    pub credentials: Credentials,
}

impl DeployedFunction {
    pub fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventSourceMapping {
    pub function: String,
    pub event_source_arn: String,
    pub batch_size: usize,
    pub function_response_types: Vec<String>,
    pub maximum_concurrency: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Schedule {
    /// The rule's logical id (`<Function><Event>` after the SAM transform).
    pub rule: String,
    pub name: String,
    pub arn: String,
    pub schedule_expression: Option<String>,
    pub function: Option<String>,
    /// The target's constant `Input`, when the template gives one.
    pub input: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: Option<String>,
    pub payload_format_version: String,
    /// `NONE`, `JWT` or `AWS_IAM`.
    pub auth: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpApi {
    pub logical_id: String,
    pub routes: Vec<Route>,
}

/// One statement of a role's inline policy, as IAM holds it after the deployment.
#[derive(Debug, Clone, Deserialize)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// IAM's wildcard match (`*` any run of characters, `?` one).
pub fn iam_match(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployed {
    pub stack_name: String,
    /// Role logical id -> its statements.
    pub policies: BTreeMap<String, Vec<Statement>>,
    pub region: String,
    pub outputs: BTreeMap<String, String>,
    /// Logical id -> physical id.
    pub resources: BTreeMap<String, String>,
    pub functions: BTreeMap<String, DeployedFunction>,
    pub event_source_mappings: Vec<EventSourceMapping>,
    pub schedules: Vec<Schedule>,
    pub http_apis: Vec<HttpApi>,
    /// Dashboard logical id -> its body as deployed (JSON, every `!Sub` resolved).
    #[serde(default)]
    pub dashboards: BTreeMap<String, serde_json::Value>,
}

/// What to deploy: parameter values, and the secrets and parameters the template's dynamic
/// references name (created before the stack, as an operator does).
#[derive(Debug, Clone, Default)]
pub struct DeploySpec {
    pub parameters: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub ssm: BTreeMap<String, String>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    let venv = repo_root().join(".venv/bin/python");
    assert!(venv.exists(), "{} is missing: run ./scripts/test, which installs it", venv.display());
    venv
}

/// A stack name unique to this test run: `<name>-<8 hex>`.
pub fn stack_name(name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(20).collect();
    format!("{clean}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Deploys the template as `stack`; panics with deploy.py's output on failure.
pub async fn deploy(moto: &IamMoto, stack: &str, spec: &DeploySpec) -> Deployed {
    let admin = moto.admin.clone();
    let input = serde_json::json!({
        "endpoint": moto.endpoint,
        "region": "us-east-1",
        "stack_name": stack,
        "template": repo_root().join("infra/template.yaml"),
        "parameters": spec.parameters,
        "secrets": spec.secrets,
        "ssm": spec.ssm,
    });
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = std::process::Command::new(python())
            .arg(repo_root().join("tests/stack/deploy.py"))
            .env("AWS_ACCESS_KEY_ID", &admin.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &admin.secret_access_key)
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("deploy.py starts");
        child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("deploy.py input");
        child.wait_with_output().expect("deploy.py runs")
    })
    .await
    .expect("deploy.py");
    assert!(
        out.status.success(),
        "deploying {stack} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("deploy.py printed no stack description ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
    })
}

impl Deployed {
    pub fn function(&self, logical_id: &str) -> &DeployedFunction {
        self.functions.get(logical_id).unwrap_or_else(|| panic!("the stack has no function {logical_id}"))
    }

    pub fn physical(&self, logical_id: &str) -> &str {
        self.resources.get(logical_id).unwrap_or_else(|| panic!("the stack has no resource {logical_id}"))
    }

    /// The id a stand-in HTTP API answers as (moto does not create API Gateway v2 APIs).
    pub fn api_id(&self, logical_id: &str) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("{}/{logical_id}", self.stack_name).as_bytes());
        hex::encode(digest)[..10].to_string()
    }

    /// `https://<api id>.execute-api.<region>.amazonaws.com`, as the template's `!Sub` builds it.
    pub fn api_url(&self, logical_id: &str) -> String {
        format!("https://{}.execute-api.{}.amazonaws.com", self.api_id(logical_id), self.region)
    }

    /// The function's environment as Lambda would start it, plus the test-only endpoint
    /// override. `${Api}` left by moto (API Gateway v2 is not deployed) becomes the id the
    /// stand-in API answers as. Fails the test, as CreateFunction fails, when the variables
    /// pass Lambda's 4 KB.
    pub fn environment(
        &self,
        logical_id: &str,
        runtime_api: &str,
        moto: &IamMoto,
    ) -> BTreeMap<String, String> {
        let f = self.function(logical_id);
        let mut own = f.environment.clone();
        for unresolved in &f.unresolved {
            let id = self.api_id(unresolved);
            for v in own.values_mut() {
                *v = v.replace(&format!("${{{unresolved}}}"), &id);
            }
        }
        let size: usize = own.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(
            size <= ENVIRONMENT_LIMIT,
            "{logical_id}: its environment variables take {size} bytes; Lambda refuses more than \
             {ENVIRONMENT_LIMIT} (\"Lambda was unable to configure your environment variables because the \
             environment variables you have provided exceeded the 4KB limit\")"
        );
        let mut env = self.config(logical_id).reserved_environment(runtime_api);
        env.extend(own);
        env.insert("AWS_ACCESS_KEY_ID".into(), f.credentials.access_key_id.clone());
        env.insert("AWS_SECRET_ACCESS_KEY".into(), f.credentials.secret_access_key.clone());
        if let Some(token) = &f.credentials.session_token {
            env.insert("AWS_SESSION_TOKEN".into(), token.clone());
        }
        // Test-only (see the module docs).
        env.insert("AWS_ENDPOINT_URL".into(), moto.endpoint.clone());
        env.insert("S3_FORCE_PATH_STYLE".into(), "true".into());
        env
    }

    pub fn config(&self, logical_id: &str) -> FunctionConfig {
        let f = self.function(logical_id);
        FunctionConfig {
            name: f.name.clone(),
            arn: f.arn.clone(),
            memory_size: f.memory_size,
            timeout: Duration::from_secs(f.timeout),
            log_group: f.log_group.clone().unwrap_or_default(),
            log_format: f.log_format.clone(),
            log_level: f.log_level.clone(),
            region: self.region.clone(),
        }
    }

    /// Starts `logical_id`'s binary in a fresh execution environment.
    pub async fn start(&self, logical_id: &str, binary: &std::path::Path, moto: &IamMoto) -> Environment {
        // The runtime API's address is only known once it listens: reserve it in the env
        // map now, the emulator fills it in.
        let env = self.environment(logical_id, "", moto);
        Environment::start(binary, self.config(logical_id), env).await
    }

    /// `(sid, action, resource)` the role of `function` allows that no allowed call in the IAM
    /// log used (none of its functions' calls matched them).
    pub fn unused_grants(&self, moto: &IamMoto, function: &str) -> Vec<(String, String, String)> {
        let f = self.function(function);
        let calls: Vec<Decision> = moto
            .decisions(f.role_name())
            .into_iter()
            .filter(|d| d.allowed == serde_json::Value::Bool(true))
            .collect();
        let mut unused = Vec::new();
        for st in self.policies.get(&f.role).into_iter().flatten().filter(|s| s.effect == "Allow") {
            for action in &st.actions {
                for resource in &st.resources {
                    let used = calls
                        .iter()
                        .any(|c| iam_match(action, &c.action) && iam_match(resource, &c.resource));
                    if !used {
                        unused.push((st.sid.clone().unwrap_or_default(), action.clone(), resource.clone()));
                    }
                }
            }
        }
        unused
    }

    /// The functions' logical ids whose role is `role` (logical id).
    pub fn functions_with_role(&self, role: &str) -> BTreeSet<String> {
        self.functions.iter().filter(|(_, f)| f.role == role).map(|(id, _)| id.clone()).collect()
    }
}
