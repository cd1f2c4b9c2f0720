//! The local stack for integration tests: a moto server on a free loopback port, a
//! ResponseURL catcher, and events shaped exactly like CloudFormation's.
//!
//! moto is started once per test binary, from a thread that lives as long as the process;
//! the child asks the kernel to kill it when that thread ends, so it stops even when a test
//! fails or the run is interrupted.
#![allow(dead_code)]

pub mod buckets;
pub mod cfn;
pub mod faults;
pub mod lambda;
pub mod logs;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;
use vendor_access::aws::Clients;
use vendor_access::aws::bucket_documents::Rounds;
use vendor_access::aws::propagation::Backoff;
use vendor_access::aws::turns::TurnWaits;
use vendor_access::cfn::{Dispatcher, HttpSender, Registry, Retry, UrlPolicy};
use vendor_access::guardrails::Guardrails;
use vendor_access::settings::{Settings, Waits};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// A moto server shared by the tests of one binary.
pub struct Moto {
    pub endpoint: String,
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start_moto)
}

fn moto_server_path() -> PathBuf {
    if let Ok(path) = std::env::var("VENDOR_ACCESS_MOTO_SERVER") {
        return path.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start_moto() -> Moto {
    let program = moto_server_path();
    if !program.exists() {
        // One line that says what to do, not a backtrace.
        eprintln!(
            "{} is missing: run `make tools` (or `make test`) to create the project virtualenv",
            program.display()
        );
        std::process::exit(2);
    }
    let port = free_port();
    let (started, wait_started) = mpsc::channel();
    std::thread::spawn(move || {
        let mut command = Command::new(&program);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().expect("moto_server starts");
        started.send(wait_ready(port)).ok();
        // This thread outlives every test; when the process ends, so does moto.
        child.wait().ok();
    });
    let endpoint = wait_started.recv().expect("moto thread");
    Moto { endpoint }
}

/// Polls moto until it answers, from a thread of its own (no async runtime there).
fn wait_ready(port: u16) -> String {
    let endpoint = format!("http://127.0.0.1:{port}");
    let probe = format!("{endpoint}/moto-api/data.json");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let up = runtime.block_on(async {
            reqwest::get(&probe)
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        if up {
            return endpoint;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto did not start on port {port} within 60 s");
}

/// AWS clients pointed at moto, exactly as `AWS_ENDPOINT_URL` points the Lambda's.
pub async fn clients() -> Clients {
    clients_at(&moto().endpoint).await
}

/// AWS clients pointed at `endpoint` (a proxy in front of moto, say).
pub async fn clients_at(endpoint: &str) -> Clients {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    Clients::new(&config)
}

/// A ResponseURL catcher answering 200 to every PUT.
pub async fn catcher() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// The response URL CloudFormation would send, pointing at `catcher`. Its query string
/// looks like a real pre-signed one so that tests can check it never reaches the logs.
pub fn response_url(catcher: &MockServer) -> String {
    format!(
        "{}/cfn-response/{}?X-Amz-Signature={SIGNATURE}&X-Amz-Credential=AKIA",
        catcher.uri(),
        unique("r")
    )
}

pub const SIGNATURE: &str = "d3b07384d113edec49eaa6238ad5ff00signature";

/// A sender that answers loopback URLs, with quick retries for tests.
pub fn test_sender() -> Arc<HttpSender> {
    Arc::new(HttpSender::new(Retry {
        attempts: 5,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        attempt_timeout: Duration::from_secs(2),
    }))
}

/// Accounts other than moto's that tests trust (Kolena's role in the examples, a partner).
pub const PARTNER_ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];

/// The function's settings for tests against moto, a local stand-in: every bucket and key
/// of the account and every vendor allowed, the partner accounts too, requests not confirmed with
/// CloudFormation, no boundary, and short waits for AWS's eventual consistency, so that no
/// test sits out the production windows.
pub fn settings() -> Settings {
    Settings {
        guardrails: Guardrails {
            trusted_principals: PARTNER_ACCOUNTS.iter().map(|a| a.to_string()).collect(),
            kms_key_arns: vec![format!("arn:aws:kms:*:{ACCOUNT}:key/*")],
            ..Guardrails::any_bucket()
        },
        confirm_requests: false,
        allow_no_boundary: true,
        waits: Waits {
            propagation: Backoff {
                window: Duration::from_secs(10),
                first_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(200),
            },
            document_rounds: Rounds {
                max_writes: 3,
                pause: Duration::from_millis(100),
            },
            turns: TurnWaits::default(),
        },
        ..Settings::default()
    }
}

/// ResponseURLs a local stand-in of CloudFormation uses: http on loopback.
pub fn local_urls() -> UrlPolicy {
    UrlPolicy {
        allow_loopback_http: true,
        region: None,
    }
}

pub fn dispatcher(registry: Registry) -> Dispatcher {
    Dispatcher::new(registry, test_sender(), local_urls())
}

/// The bytes Lambda would deliver for `event`.
pub fn event_bytes(event: &Value) -> Vec<u8> {
    serde_json::to_vec(event).expect("an event serialises")
}

/// A deadline `secs` seconds from now, as Lambda gives one.
pub fn deadline_in(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// A new, empty bucket in moto; its name starts with `prefix`.
pub async fn new_bucket(clients: &Clients, prefix: &str) -> String {
    let name = unique(prefix).to_lowercase();
    clients
        .s3
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket created");
    name
}

/// Default encryption for `bucket`: `algorithm` with `key`, and an S3 Bucket Key when
/// `bucket_key`.
pub async fn encrypt_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    algorithm: aws_sdk_s3::types::ServerSideEncryption,
    key: Option<&str>,
    bucket_key: bool,
) {
    use aws_sdk_s3::types::{
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    let default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(algorithm)
        .set_kms_master_key_id(key.map(str::to_string))
        .build()
        .expect("an encryption default");
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        .bucket_key_enabled(bucket_key)
        .build();
    let configuration = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .expect("an encryption configuration");
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(configuration)
        .send()
        .await
        .expect("encryption set");
}

/// The grants on `key_arn` to `grantee`.
pub async fn grants_to(
    clients: &Clients,
    key_arn: &str,
    grantee: &str,
) -> Vec<aws_sdk_kms::types::GrantListEntry> {
    let listed = clients
        .kms
        .list_grants()
        .key_id(key_arn)
        .send()
        .await
        .expect("grants listed");
    listed
        .grants()
        .iter()
        .filter(|g| g.grantee_principal() == Some(grantee))
        .cloned()
        .collect()
}

/// A string output of a response's `Data`; fails the test, showing the response, if absent.
pub fn data(response: &Value, key: &str) -> String {
    response["Data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {response:#}"))
        .to_string()
}

/// A name nobody else in this test run uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A stack of CloudFormation's, for building events.
#[derive(Clone, Debug)]
pub struct Stack {
    pub stack_id: String,
}

impl Stack {
    pub fn new() -> Self {
        Stack {
            stack_id: format!(
                "arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{}/0a1b2c3d",
                unique("stack")
            ),
        }
    }

    /// A stack in another partition and region, e.g. `aws-cn` / `cn-north-1`.
    pub fn in_partition(partition: &str, region: &str) -> Self {
        Stack {
            stack_id: format!(
                "arn:{partition}:cloudformation:{region}:{ACCOUNT}:stack/{}/0a1b2c3d",
                unique("stack")
            ),
        }
    }

    pub fn create(&self, url: &str, resource_type: &str, logical_id: &str, props: Value) -> Value {
        json!({
            "RequestType": "Create",
            "ServiceToken": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:vendor-access"),
            "ResponseURL": url,
            "StackId": self.stack_id,
            "RequestId": unique("request"),
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": props,
        })
    }

    pub fn update(
        &self,
        url: &str,
        resource_type: &str,
        logical_id: &str,
        physical_id: &str,
        props: Value,
        old: Value,
    ) -> Value {
        let mut event = self.create(url, resource_type, logical_id, props);
        event["RequestType"] = json!("Update");
        event["PhysicalResourceId"] = json!(physical_id);
        event["OldResourceProperties"] = old;
        event
    }

    pub fn delete(
        &self,
        url: &str,
        resource_type: &str,
        logical_id: &str,
        physical_id: &str,
        props: Value,
    ) -> Value {
        let mut event = self.create(url, resource_type, logical_id, props);
        event["RequestType"] = json!("Delete");
        event["PhysicalResourceId"] = json!(physical_id);
        event
    }
}

/// The bodies of every response the catcher received, parsed.
pub async fn responses(catcher: &MockServer) -> Vec<Value> {
    catcher
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("response body is JSON"))
        .collect()
}

/// A customer-managed key; `policy` None keeps KMS's default (delegates to the account).
pub async fn customer_key(clients: &Clients, policy: Option<Value>) -> String {
    let created = clients
        .kms
        .create_key()
        .set_policy(policy.map(|p| p.to_string()))
        .send()
        .await
        .expect("key created");
    created.key_metadata().unwrap().arn().unwrap().to_string()
}

/// A key policy that names only an administrator role: IAM policies cannot grant its use.
pub fn closed_key_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "KeyAdministrators", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/key-admin")},
        "Action": "kms:*", "Resource": "*"}]})
}
