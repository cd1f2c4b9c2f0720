//! Property tests of event parsing and property validation: the events of `events/`, mutated
//! every way a template, CloudFormation or anyone allowed to invoke the function could get
//! them wrong, fed to the real dispatcher; and arbitrary JSON objects fed to each resource
//! type's property reader.
//!
//! AWS is a recording server that answers 500 to everything, so any request it sees is an
//! AWS call. For every input: no panic; exactly one response PUT when the event carries a
//! usable ResponseURL, none otherwise; every body at most 4096 bytes with the fields
//! CloudFormation requires; invalid properties answered FAILED before any AWS call, naming
//! a property path of the input; nothing shaped like a secret in the logs.
//!
//! The counts are bounded for `make test` (a few seconds): 200 events per resource type,
//! 300 malformed ones, 1000 property objects per type. For a long local run raise them all
//! with `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=20000 cargo test --release --test fuzz_events -- --nocapture`
//! (each test runs at least its own count; `--nocapture` shows what the inputs came to).
//! A failing input is saved under `proptest-regressions/` and tried first on later runs.

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use aws_config::retry::RetryConfig;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{Map, Value, json};
use support::logs::CapturedLogs;
use support::{ACCOUNT, REGION};
use vendor_access::aws::Clients;
use vendor_access::cfn::properties::{FromProperties, InvalidProperties};
use vendor_access::cfn::response::MAX_BODY_BYTES;
use vendor_access::cfn::{Action, Dispatcher, OwnerId, Request, failed_create_id};
use vendor_access::resources::bucket_cors::BucketCorsProperties;
use vendor_access::resources::bucket_policy_statements::BucketPolicyStatementsProperties;
use vendor_access::resources::registry;
use vendor_access::resources::vendor_s3_access::RoleProperties;
use vendor_access::resources::vendor_s3_user::UserProperties;
use wiremock::matchers::{any as any_request, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const VENDOR_S3_ACCESS: &str = "Custom::VendorS3Access";
const VENDOR_S3_USER: &str = "Custom::VendorS3User";
const BUCKET_CORS: &str = "Custom::BucketCors";
const BUCKET_POLICY_STATEMENTS: &str = "Custom::BucketPolicyStatements";
const TYPES: [&str; 4] = [
    VENDOR_S3_ACCESS,
    VENDOR_S3_USER,
    BUCKET_CORS,
    BUCKET_POLICY_STATEMENTS,
];

/// Where the seeds' `${ResponseURL}` stays until each case gets a fresh catcher URL.
const URL_PLACEHOLDER: &str = "${ResponseURL}";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/fuzz/0a1b2c3d";
const BUCKET: &str = "fuzz-shared-data";

// ---------------------------------------------------------------------------------------
// What each resource type reads

/// Reads `properties` as `resource_type` does; `None` for a type this function does not
/// serve.
fn validate(
    resource_type: &str,
    properties: &Map<String, Value>,
) -> Option<Result<(), InvalidProperties>> {
    fn read<P: FromProperties>(properties: &Map<String, Value>) -> Result<(), InvalidProperties> {
        P::from_properties(properties).map(drop)
    }
    Some(match resource_type {
        VENDOR_S3_ACCESS => read::<RoleProperties>(properties),
        VENDOR_S3_USER => read::<UserProperties>(properties),
        BUCKET_CORS => read::<BucketCorsProperties>(properties),
        BUCKET_POLICY_STATEMENTS => read::<BucketPolicyStatementsProperties>(properties),
        _ => return None,
    })
}

/// The top-level properties of each type, as SPEC.md names them.
fn top_level_names(resource_type: &str) -> &'static [&'static str] {
    const S3_ACCESS: [&str; 7] = [
        "Locations",
        "Access",
        "SourceIps",
        "SourceVpcs",
        "SourceVpces",
        "KmsKeyArns",
        "KmsAccess",
    ];
    match resource_type {
        VENDOR_S3_ACCESS => &[
            "Vendor",
            "TrustedPrincipal",
            "ExternalId",
            "RequireExternalId",
            "MaxSessionDuration",
            S3_ACCESS[0],
            S3_ACCESS[1],
            S3_ACCESS[2],
            S3_ACCESS[3],
            S3_ACCESS[4],
            S3_ACCESS[5],
            S3_ACCESS[6],
            "RoleName",
            "RolePath",
            "Description",
            "Tags",
        ],
        VENDOR_S3_USER => &[
            S3_ACCESS[0],
            S3_ACCESS[1],
            S3_ACCESS[2],
            S3_ACCESS[3],
            S3_ACCESS[4],
            S3_ACCESS[5],
            S3_ACCESS[6],
            "UserName",
            "UserPath",
            "Tags",
            "Serial",
            "SecretStorage",
            "SecretName",
            "SecretRecoveryWindowDays",
        ],
        BUCKET_CORS => &["Bucket", "Vendor", "Rules"],
        BUCKET_POLICY_STATEMENTS => &[
            "Bucket",
            "Statements",
            "RestrictToNetwork",
            "AcceptLockoutRisk",
        ],
        _ => &[],
    }
}

/// Names of nested properties, for generated objects.
const NESTED_NAMES: [&str; 21] = [
    "Bucket",
    "Prefix",
    "Access",
    "AllowedOrigins",
    "AllowedMethods",
    "AllowedHeaders",
    "ExposeHeaders",
    "MaxAgeSeconds",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "ExemptPrincipalArns",
    "AllowListBucketFor",
    "Key",
    "Value",
];

/// The path of every property in `properties`, as problems name them: `A`, `A[0]`, `A[0].B`.
fn property_paths(properties: &Map<String, Value>) -> Vec<String> {
    fn walk(value: &Value, at: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(fields) => {
                for (name, value) in fields {
                    let path = if at.is_empty() {
                        name.clone()
                    } else {
                        format!("{at}.{name}")
                    };
                    walk(value, &path, out);
                    out.push(path);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{at}[{i}]");
                    walk(item, &path, out);
                    out.push(path);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&Value::Object(properties.clone()), "", &mut out);
    out
}

/// Whether a problem's path points into the input: a property it has, one below a property
/// it has (a missing required field, an item of a scalar read as a list of one, a tag), or
/// a top-level property of the type (a required one that is missing).
fn grounded(path: &str, input: &[String], resource_type: &str) -> bool {
    top_level_names(resource_type).contains(&path)
        || input.iter().any(|p| {
            path.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
}

// ---------------------------------------------------------------------------------------
// The corpus: events/**/*.json with their placeholders filled

struct Seed {
    name: String,
    event: Value,
}

fn seeds() -> Vec<Seed> {
    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("events/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    assert!(files.len() >= 20, "the corpus is events/**/*.json");
    files
        .iter()
        .map(|path| Seed {
            name: path
                .strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string(),
            event: fill(&std::fs::read_to_string(path).expect("readable")),
        })
        .collect()
}

/// The seed with plausible values for the placeholders `make demo` fills; the ResponseURL
/// is filled per case.
fn fill(template: &str) -> Value {
    let text = template
        .replace("${AccountId}", ACCOUNT)
        .replace("${StackId}", STACK_ID)
        .replace("${RequestId}", "fuzz-request-0001")
        .replace("${Bucket}", BUCKET)
        .replace("${ClosedBucket}", "fuzz-closed-bucket")
        .replace("${DelegatingBucket}", "fuzz-kms-bucket")
        .replace("${KolenaAccount}", "210987654321");
    let mut event: Value = serde_json::from_str(&text).expect("events/ holds JSON");
    if let Value::Object(fields) = &mut event {
        fields.retain(|key, _| !key.starts_with('_'));
    }
    let placeholder = event["PhysicalResourceId"]
        .as_str()
        .is_some_and(|id| id.starts_with("${PhysicalResourceId:"));
    if placeholder {
        event["PhysicalResourceId"] = json!(physical_id_of(&event));
    }
    let filled = event.to_string().replace(URL_PLACEHOLDER, "");
    assert!(!filled.contains("${"), "an unfilled placeholder in {event}");
    event
}

/// The id the function would have answered the seed's Create with.
fn physical_id_of(event: &Value) -> String {
    let logical_id = event["LogicalResourceId"].as_str().unwrap_or_default();
    let bucket = event["ResourceProperties"]["Bucket"]
        .as_str()
        .unwrap_or(BUCKET);
    let hash = OwnerId::new(STACK_ID, logical_id).hash();
    match event["ResourceType"].as_str().unwrap_or_default() {
        VENDOR_S3_ACCESS => format!("arn:aws:iam::{ACCOUNT}:role/vendor-access/{logical_id}"),
        VENDOR_S3_USER => format!("arn:aws:iam::{ACCOUNT}:user/vendor-access/{logical_id}"),
        BUCKET_CORS => format!("{bucket}/cors/{hash}"),
        BUCKET_POLICY_STATEMENTS => format!("{bucket}/policy/{hash}"),
        _ => failed_create_id("fuzz-request-0000"),
    }
}

fn seeds_of_type(seeds: &[Seed], resource_type: &str) -> Vec<Value> {
    let events: Vec<Value> = seeds
        .iter()
        .filter(|s| s.event["ResourceType"] == resource_type)
        .map(|s| s.event.clone())
        .collect();
    assert!(!events.is_empty(), "events/ has no {resource_type} event");
    events
}

// ---------------------------------------------------------------------------------------
// Generated values

fn text() -> BoxedStrategy<String> {
    let plausible = select(vec![
        "",
        " ",
        "true",
        "false",
        "TRUE",
        "yes",
        "43200",
        "3600",
        "50000",
        " 42 ",
        "-1",
        "0",
        "1e3",
        "2147483648",
        "null",
        "*",
        "s3:*",
        "s3:GetObject",
        "iam:PassRole",
        "123456789012",
        "916419735646",
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:role/vendor-access/x",
        "arn:aws:iam::123456789012:user/x",
        "arn:aws:sts::123456789012:assumed-role/r/s",
        "arn:aws:iam::*:role/x",
        "lightly",
        "Kolena",
        "activeloop",
        "list",
        "read",
        "read-write",
        "read-write-delete",
        "auto",
        "grant",
        "none",
        "attribute",
        "secrets-manager",
        "vendor-access/x",
        "/vendor-access/",
        "/other/",
        "fuzz-shared-data",
        "Legacy_Bucket.2017",
        "arn:aws:s3:::fuzz-shared-data",
        "arn:aws:s3:::fuzz-shared-data/*",
        "arn:aws:s3:::other-bucket/*",
        "s3://fuzz-shared-data",
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "https://app.kolena.io",
        "https://*.example.com",
        "app.kolena.io/",
        "GET",
        "get",
        "PATCH",
        "Allow",
        "Deny",
        "10.0.0.0/8",
        "10.0.0.0/33",
        "2001:db8::/32",
        "vpc-1a2b3c4d",
        "vpce-0a23398e8144e3ce8",
        "vpc-xyz",
        "input/",
        "../",
        "vendor-access:owner",
        "aws:reserved",
        "\u{0}",
        "\t\n",
        "é",
        "🦀",
        "\u{202e}gnp.exe",
        "a\"b\\c",
        "${AccountId}",
        "%s%n",
    ])
    .prop_map(str::to_string);
    prop_oneof![
        4 => plausible,
        2 => "\\PC{0,24}",
        1 => "[\\x00-\\x1f\"\\\\]{1,6}",
        1 => (1usize..6000).prop_map(|n| "x".repeat(n)),
        1 => (1usize..1500).prop_map(|n| "é🦀".repeat(n)),
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => select(vec![0.5, 3600.0, 43200.0, -0.0, 1e300]).prop_map(Value::from),
        4 => text().prop_map(Value::String),
    ]
    .boxed()
}

/// A property name: one some type knows, a near miss, or anything at all.
fn name() -> BoxedStrategy<String> {
    let mut known: Vec<&str> = TYPES
        .iter()
        .flat_map(|t| top_level_names(t).iter().copied())
        .collect();
    known.extend(NESTED_NAMES);
    known.extend(["ServiceToken", "ServiceTimeout"]);
    prop_oneof![
        3 => select(known).prop_map(str::to_string),
        1 => "[A-Z][A-Za-z]{0,16}",
        1 => text(),
    ]
    .boxed()
}

/// Values nested a few levels deep, or very deep.
fn json_value() -> BoxedStrategy<Value> {
    let nested = scalar().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((name(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    });
    let deep = (1usize..200, any::<bool>()).prop_map(|(depth, lists)| {
        (0..depth).fold(json!("bottom"), |inner, _| {
            if lists {
                json!([inner])
            } else {
                json!({ "Locations": inner })
            }
        })
    });
    prop_oneof![9 => nested, 1 => deep].boxed()
}

// ---------------------------------------------------------------------------------------
// Mutations of seed events

/// One step along a path into a JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Item(usize),
}

/// Which node a mutation falls on: one of the event's nodes (mostly within
/// `ResourceProperties`), picked by `at`.
#[derive(Debug, Clone, Copy)]
struct Target {
    in_properties: bool,
    at: Index,
}

#[derive(Debug, Clone)]
enum Mutation {
    Drop(Target),
    Replace(Target, Value),
    AddProperty(Target, String, Value),
    WrapInList(Target),
    Unwrap(Target),
    Stringify(Target),
    RequestType(Value),
    ResourceType(Value),
    /// One of the fields CloudFormation sets, replaced by a scalar.
    Envelope(&'static str, Value),
}

/// The fields of an event that CloudFormation fills in.
const ENVELOPE: [&str; 10] = [
    "RequestType",
    "ResponseURL",
    "StackId",
    "RequestId",
    "ResourceType",
    "LogicalResourceId",
    "PhysicalResourceId",
    "ResourceProperties",
    "OldResourceProperties",
    "ServiceToken",
];

fn target() -> impl Strategy<Value = Target> {
    (prop::bool::weighted(0.75), any::<Index>())
        .prop_map(|(in_properties, at)| Target { in_properties, at })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let request_type = prop_oneof![
        select(vec![
            "Create", "Update", "Delete", "create", "DELETE", "Replace", ""
        ])
        .prop_map(Value::from),
        scalar(),
    ];
    let resource_type = prop_oneof![
        select(vec![
            VENDOR_S3_ACCESS,
            VENDOR_S3_USER,
            BUCKET_CORS,
            BUCKET_POLICY_STATEMENTS,
            "Custom::Nope",
            "AWS::S3::Bucket",
            "custom::bucketcors",
            "Custom::BucketCors ",
            "",
        ])
        .prop_map(Value::from),
        scalar(),
    ];
    let envelope_value = prop_oneof![1 => Just(json!("")), 1 => Just(Value::Null), 4 => scalar()];
    prop_oneof![
        3 => target().prop_map(Mutation::Drop),
        5 => (target(), json_value()).prop_map(|(t, v)| Mutation::Replace(t, v)),
        3 => (target(), name(), json_value()).prop_map(|(t, n, v)| Mutation::AddProperty(t, n, v)),
        2 => target().prop_map(Mutation::WrapInList),
        2 => target().prop_map(Mutation::Unwrap),
        2 => target().prop_map(Mutation::Stringify),
        1 => request_type.prop_map(Mutation::RequestType),
        1 => resource_type.prop_map(Mutation::ResourceType),
        2 => (select(ENVELOPE.to_vec()), envelope_value).prop_map(|(field, value)| Mutation::Envelope(field, value)),
    ]
}

/// Every node of `value` with its path, parents before children.
fn nodes(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(at.clone());
        match value {
            Value::Object(fields) => {
                for (name, value) in fields {
                    at.push(Step::Key(name.clone()));
                    walk(value, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    at.push(Step::Item(i));
                    walk(item, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn node_mut<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(name) => node.as_object_mut()?.get_mut(name),
        Step::Item(i) => node.as_array_mut()?.get_mut(*i),
    })
}

/// The node `target` falls on, among those `eligible` admits.
fn pick(
    event: &Value,
    target: Target,
    eligible: impl Fn(&Value, &[Step]) -> bool,
) -> Option<Vec<Step>> {
    let properties = Step::Key("ResourceProperties".into());
    let all: Vec<Vec<Step>> = nodes(event)
        .into_iter()
        .filter(|path| {
            let mut node = event;
            for step in path {
                node = match step {
                    Step::Key(name) => &node[name.as_str()],
                    Step::Item(i) => &node[*i],
                };
            }
            eligible(node, path)
        })
        .collect();
    let within: Vec<Vec<Step>> = all
        .iter()
        .filter(|path| path.first() == Some(&properties))
        .cloned()
        .collect();
    let from = if target.in_properties && !within.is_empty() {
        within
    } else {
        all
    };
    (!from.is_empty()).then(|| target.at.get(&from).clone())
}

fn stringify(value: &mut Value) {
    match value {
        Value::Bool(b) => *value = Value::String(b.to_string()),
        Value::Number(n) => *value = Value::String(n.to_string()),
        Value::Array(items) => items.iter_mut().for_each(stringify),
        Value::Object(fields) => fields.values_mut().for_each(stringify),
        _ => {}
    }
}

fn apply(event: &mut Value, mutation: &Mutation) {
    let anything = |_: &Value, _: &[Step]| true;
    let not_root = |_: &Value, path: &[Step]| !path.is_empty();
    match mutation {
        Mutation::Drop(target) => {
            let Some(mut path) = pick(event, *target, not_root) else {
                return;
            };
            let last = path.pop();
            match (node_mut(event, &path), last) {
                (Some(Value::Object(fields)), Some(Step::Key(name))) => {
                    fields.shift_remove(&name);
                }
                (Some(Value::Array(items)), Some(Step::Item(i))) if i < items.len() => {
                    items.remove(i);
                }
                _ => {}
            }
        }
        Mutation::Replace(target, replacement) => {
            if let Some(path) = pick(event, *target, anything)
                && let Some(node) = node_mut(event, &path)
            {
                *node = replacement.clone();
            }
        }
        Mutation::AddProperty(target, name, value) => {
            let objects = |node: &Value, _: &[Step]| node.is_object();
            if let Some(path) = pick(event, *target, objects)
                && let Some(Value::Object(fields)) = node_mut(event, &path)
            {
                fields.insert(name.clone(), value.clone());
            }
        }
        Mutation::WrapInList(target) => {
            if let Some(path) = pick(event, *target, anything)
                && let Some(node) = node_mut(event, &path)
            {
                *node = Value::Array(vec![node.take()]);
            }
        }
        Mutation::Unwrap(target) => {
            let containers = |node: &Value, _: &[Step]| {
                node.as_array().is_some_and(|a| !a.is_empty())
                    || node.as_object().is_some_and(|o| !o.is_empty())
            };
            if let Some(path) = pick(event, *target, containers)
                && let Some(node) = node_mut(event, &path)
            {
                let first = match node {
                    Value::Array(items) => items.first().cloned(),
                    Value::Object(fields) => fields.values().next().cloned(),
                    _ => None,
                };
                if let Some(first) = first {
                    *node = first;
                }
            }
        }
        Mutation::Stringify(target) => {
            if let Some(path) = pick(event, *target, anything)
                && let Some(node) = node_mut(event, &path)
            {
                stringify(node);
            }
        }
        Mutation::RequestType(value) => set_field(event, "RequestType", value),
        Mutation::ResourceType(value) => set_field(event, "ResourceType", value),
        Mutation::Envelope(field, value) => set_field(event, field, value),
    }
}

fn set_field(event: &mut Value, name: &str, value: &Value) {
    if let Value::Object(fields) = event {
        fields.insert(name.to_string(), value.clone());
    }
}

/// Seed events with up to four mutations each.
fn mutated(seeds: Vec<Value>) -> impl Strategy<Value = Value> {
    (select(seeds), vec(mutation(), 0..5)).prop_map(|(mut event, mutations)| {
        for mutation in &mutations {
            apply(&mut event, mutation);
        }
        event
    })
}

// ---------------------------------------------------------------------------------------
// Delivering an input to the dispatcher

/// What the Lambda runtime hands the function: a JSON event, or bytes that are not JSON.
#[derive(Debug, Clone)]
enum Input {
    Event(Value),
    Bytes(Vec<u8>),
}

/// The event as the test reads it: bytes that are not JSON as their text.
fn as_lambda_delivers(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn with_url(value: &Value, url: &str) -> Value {
    match value {
        Value::String(s) if s == URL_PLACEHOLDER => Value::String(url.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(|v| with_url(v, url)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), with_url(v, url)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(with);
            rest = &rest[needle.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// The function, with AWS clients pointed at a server that answers 500 to everything, and a
/// ResponseURL catcher; both are emptied before each input.
struct Harness {
    dispatcher: Dispatcher,
    aws: MockServer,
    catcher: MockServer,
}

/// What became of one input.
struct Seen {
    /// The event as the test reads it: JSON, or the text of bytes that are not JSON.
    event: Value,
    /// The bytes delivered.
    bytes: Vec<u8>,
    url: String,
    /// The whole reason of the response sent (a body may carry it shortened), or why none
    /// could be sent.
    handled: Result<Option<String>, String>,
    bodies: Vec<Vec<u8>>,
    aws_calls: usize,
}

impl Harness {
    async fn start() -> Harness {
        let aws = MockServer::start().await;
        // No retries: a call on valid input fails at once instead of after backoff.
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(aws.uri())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        let clients = Clients::new(&config);
        Harness {
            dispatcher: support::dispatcher(registry(&clients, &support::settings())),
            aws,
            catcher: MockServer::start().await,
        }
    }

    async fn reset(&self) {
        self.aws.reset().await;
        Mock::given(any_request())
            .respond_with(ResponseTemplate::new(500))
            .mount(&self.aws)
            .await;
        self.catcher.reset().await;
        Mock::given(method("PUT"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&self.catcher)
            .await;
    }

    async fn deliver(&self, input: &Input) -> Seen {
        self.reset().await;
        let url = support::response_url(&self.catcher);
        let bytes = match input {
            Input::Event(event) => support::event_bytes(&with_url(event, &url)),
            Input::Bytes(bytes) => replace_bytes(bytes, URL_PLACEHOLDER.as_bytes(), url.as_bytes()),
        };
        let event = as_lambda_delivers(&bytes);
        let handled = self
            .dispatcher
            .handle(&bytes, support::deadline_in(30))
            .await
            .map(|response| response.reason().map(str::to_string))
            .map_err(|e| e.to_string());
        let bodies = self
            .catcher
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.body)
            .collect();
        let aws_calls = self.aws.received_requests().await.map_or(0, |r| r.len());
        Seen {
            event,
            bytes,
            url,
            handled,
            bodies,
            aws_calls,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The properties every answer must have

/// `"name": "value"` as the first occurrence of the key in text that is not JSON.
fn text_field<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let key = format!("\"{name}\"");
    let rest = text[text.find(&key)? + key.len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// Whether the event names this case's catcher as its ResponseURL, exactly.
fn names_our_url(event: &Value, url: &str) -> bool {
    match event {
        Value::String(text) => text_field(text, "ResponseURL") == Some(url),
        other => other.get("ResponseURL").and_then(Value::as_str) == Some(url),
    }
}

/// The smallest body that could answer with these ids: when even that is over 4096 bytes
/// (a StackId of 5000 characters), no answer can fit.
fn smallest_body(body: &Value) -> usize {
    json!({
        "Status": "FAILED",
        "Reason": " [truncated]",
        "PhysicalResourceId": body["PhysicalResourceId"],
        "StackId": body["StackId"],
        "RequestId": body["RequestId"],
        "LogicalResourceId": body["LogicalResourceId"],
    })
    .to_string()
    .len()
}

/// Checks (a), (b) and (c) of one answered input and says what kind of answer it was.
fn check(seen: &Seen) -> Result<String, TestCaseError> {
    // (a) exactly one response whenever the ResponseURL can be found, never two
    prop_assert!(
        seen.bodies.len() <= 1,
        "{} responses to one event",
        seen.bodies.len()
    );
    let ours = names_our_url(&seen.event, &seen.url);
    if ours {
        prop_assert_eq!(
            seen.bodies.len(),
            1,
            "no response, though the event has a ResponseURL"
        );
        prop_assert!(seen.handled.is_ok(), "{:?}", seen.handled);
    } else if !seen.event.is_string() {
        prop_assert!(
            seen.bodies.is_empty(),
            "a response to an event without our ResponseURL"
        );
    }
    let Some(raw) = seen.bodies.first() else {
        prop_assert!(seen.handled.is_err(), "handled, but nothing was sent");
        return Ok("not answerable: no ResponseURL".into());
    };

    // (b) a body CloudFormation accepts
    let body: Value = serde_json::from_slice(raw)
        .map_err(|e| TestCaseError::fail(format!("the body is not JSON: {e}")))?;
    let status = body["Status"].as_str().unwrap_or_default();
    prop_assert!(
        status == "SUCCESS" || status == "FAILED",
        "Status {}",
        body["Status"]
    );
    let physical_id = body["PhysicalResourceId"].as_str().unwrap_or_default();
    prop_assert!(
        !physical_id.is_empty(),
        "empty or missing PhysicalResourceId in {}",
        body
    );
    for field in ["StackId", "RequestId", "LogicalResourceId"] {
        prop_assert!(body[field].is_string(), "{} missing in {}", field, body);
        if let Some(sent) = seen.event.get(field).and_then(Value::as_str) {
            prop_assert_eq!(body[field].as_str(), Some(sent), "{} not echoed", field);
        }
    }
    let reason = body["Reason"].as_str().unwrap_or_default();
    if status == "FAILED" {
        prop_assert!(!reason.is_empty(), "FAILED without a reason: {}", body);
    }
    let over_limit = raw.len() > MAX_BODY_BYTES;
    if smallest_body(&body) <= MAX_BODY_BYTES {
        prop_assert!(!over_limit, "a {}-byte body", raw.len());
    }

    // With every AWS call failing, nothing can have been done or confirmed.
    if status == "SUCCESS" {
        prop_assert_eq!(seen.aws_calls, 0, "SUCCESS although every AWS call failed");
    }
    // (c) invalid properties are answered before any AWS call
    if reason.starts_with("invalid properties") {
        prop_assert_eq!(
            seen.aws_calls,
            0,
            "AWS was called for invalid properties: {}",
            reason
        );
    }

    let Ok(request) = Request::parse(&seen.bytes, &support::local_urls()) else {
        prop_assert_eq!(status, "FAILED");
        // Even a malformed Update or Delete keeps the id it names.
        let kind = seen.event.get("RequestType").and_then(Value::as_str);
        let sent = seen.event.get("PhysicalResourceId").and_then(Value::as_str);
        if let (Some("Update" | "Delete"), Some(sent)) = (kind, sent)
            && !sent.is_empty()
        {
            prop_assert_eq!(
                physical_id,
                sent,
                "a malformed {:?} changed the physical id",
                kind
            );
        }
        prop_assert_eq!(seen.aws_calls, 0, "AWS was called for a malformed event");
        return Ok(if over_limit {
            "FAILED, malformed event (ids too long for any body to fit)".into()
        } else {
            "FAILED, malformed event".into()
        });
    };
    // A Delete never changes the id; a failed Update keeps it.
    match (&request.action, status) {
        (Action::Delete { physical_id: sent }, _)
        | (
            Action::Update {
                physical_id: sent, ..
            },
            "FAILED",
        ) => {
            prop_assert_eq!(physical_id, sent.as_str(), "the physical id changed");
        }
        _ => {}
    }
    let Some(validation) = validate(&request.resource_type, &request.properties) else {
        prop_assert_eq!(seen.aws_calls, 0, "AWS was called for an unknown type");
        return Ok(if status == "SUCCESS" {
            "SUCCESS, delete with nothing to do".into()
        } else {
            "FAILED, unsupported ResourceType".into()
        });
    };
    let deleting = matches!(request.action, Action::Delete { .. });
    match validation {
        Err(invalid) if !deleting => {
            prop_assert_eq!(status, "FAILED");
            let expected = invalid.to_string();
            let shortened = reason.strip_suffix(" [truncated]");
            prop_assert!(
                reason == expected || shortened.is_some_and(|r| expected.starts_with(r)),
                "reason {:?} is not the validation's {:?}",
                reason,
                expected
            );
            // Ids so long that little room is left for the reason are CloudFormation's
            // problem; otherwise the reason names a property of the input.
            if smallest_body(&body) + 200 > MAX_BODY_BYTES {
                return Ok(
                    "FAILED, invalid properties (ids too long for the reason to fit)".into(),
                );
            }
            let input = property_paths(&request.properties);
            let named = invalid.problems().iter().any(|problem| {
                let shown: String = problem.to_string().chars().take(80).collect();
                grounded(&problem.path, &input, &request.resource_type)
                    && (reason.contains(&shown) || reason.contains(&format!("{}: ", problem.path)))
            });
            prop_assert!(named, "{:?} names no property of the input", reason);
            Ok("FAILED, invalid properties (no AWS call)".into())
        }
        _ if status == "SUCCESS" => Ok("SUCCESS, delete with nothing to do".into()),
        _ if seen.aws_calls > 0 => {
            prop_assert!(!reason.starts_with("invalid properties"));
            Ok("FAILED after AWS calls (valid input, AWS down)".into())
        }
        _ if smallest_body(&body) + 200 > MAX_BODY_BYTES => {
            Ok("FAILED, other reason (ids too long for the reason to fit)".into())
        }
        _ => {
            let full = seen.handled.clone().ok().flatten().unwrap_or_default();
            Ok(format!(
                "FAILED before any AWS call: {}",
                full.chars().take(70).collect::<String>()
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running properties

/// `default`, or `PROPTEST_CASES` when that asks for more.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(default, |n: u32| n.max(default))
}

fn runner(default_cases: u32, regressions: &'static str) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        max_shrink_iters: 2000,
        ..Config::default()
    })
}

/// How many inputs came to what, and other counts worth reporting.
#[derive(Default)]
struct Tally {
    kinds: RefCell<BTreeMap<String, usize>>,
    counts: RefCell<BTreeMap<&'static str, usize>>,
}

impl Tally {
    fn add(&self, kind: impl Into<String>) {
        *self.kinds.borrow_mut().entry(kind.into()).or_default() += 1;
    }

    fn count(&self, what: &'static str, n: usize) {
        *self.counts.borrow_mut().entry(what).or_default() += n;
    }

    fn report(&self, what: &str) {
        let kinds = self.kinds.borrow();
        let total: usize = kinds.values().sum();
        println!("{what}: {total} inputs");
        for (kind, n) in kinds.iter() {
            println!("  {n:6}  {kind}");
        }
        for (what, n) in self.counts.borrow().iter() {
            println!("  ({n} {what})");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Runs `inputs` through the dispatcher, checking every answer.
fn fuzz_dispatcher(
    what: &str,
    inputs: impl Strategy<Value = Input>,
    cases: u32,
    regressions: &'static str,
) {
    let runtime = runtime();
    let harness = runtime.block_on(Harness::start());
    let tally = Tally::default();
    let result = runner(cases, regressions).run(&inputs, |input| {
        // Nothing shaped like a secret, nor the ResponseURL's signature, reaches the logs.
        let (logs, _capture) = CapturedLogs::start();
        let seen = runtime.block_on(harness.deliver(&input));
        logs.assert_no_secret_shapes();
        let kind = check(&seen)?;
        tally.add(kind);
        tally.count("AWS requests recorded, each answered 500", seen.aws_calls);
        Ok(())
    });
    tally.report(what);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

fn mutated_events_of(resource_type: &'static str, regressions: &'static str) {
    let seeds = seeds_of_type(&seeds(), resource_type);
    fuzz_dispatcher(
        &format!("mutated {resource_type} events"),
        mutated(seeds).prop_map(Input::Event),
        200,
        regressions,
    );
}

#[test]
fn mutated_vendor_s3_access_events_are_answered_once_and_invalid_ones_without_aws_calls() {
    mutated_events_of(
        VENDOR_S3_ACCESS,
        "proptest-regressions/fuzz_events/vendor_s3_access.txt",
    );
}

#[test]
fn mutated_vendor_s3_user_events_are_answered_once_and_invalid_ones_without_aws_calls() {
    mutated_events_of(
        VENDOR_S3_USER,
        "proptest-regressions/fuzz_events/vendor_s3_user.txt",
    );
}

#[test]
fn mutated_bucket_cors_events_are_answered_once_and_invalid_ones_without_aws_calls() {
    mutated_events_of(
        BUCKET_CORS,
        "proptest-regressions/fuzz_events/bucket_cors.txt",
    );
}

#[test]
fn mutated_bucket_policy_statements_events_are_answered_once_and_invalid_ones_without_aws_calls() {
    mutated_events_of(
        BUCKET_POLICY_STATEMENTS,
        "proptest-regressions/fuzz_events/bucket_policy_statements.txt",
    );
}

/// Events that are not custom-resource requests at all: random JSON, JSON objects with a
/// ResponseURL and random fields, bytes that are not JSON, seed events cut short or with
/// bytes changed, nesting deeper than the JSON reader allows.
fn malformed_inputs(seeds: &[Seed]) -> impl Strategy<Value = Input> {
    let texts: Vec<Vec<u8>> = seeds
        .iter()
        .map(|s| s.event.to_string().into_bytes())
        .collect();
    let random_object = vec((name(), json_value()), 0..8).prop_map(|fields| {
        let mut event: Map<String, Value> = fields.into_iter().collect();
        event.insert("ResponseURL".into(), json!(URL_PLACEHOLDER));
        Input::Event(Value::Object(event))
    });
    let cut = (select(texts.clone()), any::<Index>()).prop_map(|(text, at)| {
        let end = at.index(text.len());
        Input::Bytes(text[..end].to_vec())
    });
    let changed = (
        select(texts.clone()),
        vec((any::<Index>(), any::<u8>()), 1..4),
    )
        .prop_map(|(mut text, changes)| {
            for (at, byte) in changes {
                let i = at.index(text.len());
                text[i] = byte;
            }
            Input::Bytes(text)
        });
    let inserted = (select(texts), any::<Index>(), vec(any::<u8>(), 1..12)).prop_map(
        |(mut text, at, bytes)| {
            let i = at.index(text.len());
            text.splice(i..i, bytes);
            Input::Bytes(text)
        },
    );
    let too_deep = (100usize..400).prop_map(|depth| {
        let text = format!(
            "{{\"ResponseURL\": \"{URL_PLACEHOLDER}\", \"RequestType\": \"Create\", \"ResourceProperties\": {}{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        Input::Bytes(text.into_bytes())
    });
    prop_oneof![
        2 => json_value().prop_map(Input::Event),
        2 => random_object,
        1 => vec(any::<u8>(), 0..300).prop_map(Input::Bytes),
        1 => "\\PC{0,200}".prop_map(|s| Input::Bytes(s.into_bytes())),
        2 => cut,
        2 => changed,
        2 => inserted,
        1 => too_deep,
    ]
}

#[test]
fn malformed_events_are_answered_once_whenever_a_response_url_can_be_found() {
    let seeds = seeds();
    fuzz_dispatcher(
        "malformed events",
        malformed_inputs(&seeds),
        300,
        "proptest-regressions/fuzz_events/malformed.txt",
    );
}

// ---------------------------------------------------------------------------------------
// (d) FromProperties on arbitrary objects: cheap, so many cases

/// Objects with the type's names and arbitrary values, and the type's seed properties
/// mutated.
fn property_objects(
    resource_type: &'static str,
    seeds: Vec<Value>,
) -> impl Strategy<Value = Map<String, Value>> {
    let mut names: Vec<&str> = top_level_names(resource_type).to_vec();
    names.extend(["ServiceToken", "ServiceTimeout"]);
    let key = prop_oneof![3 => select(names).prop_map(str::to_string), 1 => name()];
    let arbitrary = vec((key, json_value()), 0..10).prop_map(|fields| fields.into_iter().collect());
    let mutated_seeds = mutated(seeds).prop_map(|event| match event.get("ResourceProperties") {
        Some(Value::Object(properties)) => properties.clone(),
        _ => Map::new(),
    });
    prop_oneof![arbitrary, mutated_seeds]
}

fn read_arbitrary_objects<P>(resource_type: &'static str, regressions: &'static str)
where
    P: FromProperties + PartialEq + Debug,
{
    // Only the properties of the seeds, so that every mutation falls on them.
    let seeds: Vec<Value> = seeds_of_type(&seeds(), resource_type)
        .into_iter()
        .map(|event| json!({ "ResourceProperties": event["ResourceProperties"] }))
        .collect();
    let tally = Tally::default();
    let result =
        runner(1000, regressions).run(&property_objects(resource_type, seeds), |properties| {
            let first = P::from_properties(&properties);
            let again = P::from_properties(&properties);
            prop_assert_eq!(&first, &again, "the same properties read differently");
            let Err(invalid) = first else {
                tally.add("valid");
                return Ok(());
            };
            tally.add("invalid");
            prop_assert!(
                !invalid.problems().is_empty(),
                "invalid, with no problem named"
            );
            let input = property_paths(&properties);
            for problem in invalid.problems() {
                tally.count("problems checked", 1);
                prop_assert!(
                    !problem.message.is_empty(),
                    "a problem without a message at {}",
                    problem.path
                );
                prop_assert!(
                    grounded(&problem.path, &input, resource_type),
                    "{:?} is no property of the input (problem: {})",
                    problem.path,
                    problem
                );
            }
            Ok(())
        });
    tally.report(&format!("{resource_type} property objects"));
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn vendor_s3_access_properties_never_panic_and_name_real_paths() {
    read_arbitrary_objects::<RoleProperties>(
        VENDOR_S3_ACCESS,
        "proptest-regressions/fuzz_events/role_properties.txt",
    );
}

#[test]
fn vendor_s3_user_properties_never_panic_and_name_real_paths() {
    read_arbitrary_objects::<UserProperties>(
        VENDOR_S3_USER,
        "proptest-regressions/fuzz_events/user_properties.txt",
    );
}

#[test]
fn bucket_cors_properties_never_panic_and_name_real_paths() {
    read_arbitrary_objects::<BucketCorsProperties>(
        BUCKET_CORS,
        "proptest-regressions/fuzz_events/bucket_cors_properties.txt",
    );
}

#[test]
fn bucket_policy_statements_properties_never_panic_and_name_real_paths() {
    read_arbitrary_objects::<BucketPolicyStatementsProperties>(
        BUCKET_POLICY_STATEMENTS,
        "proptest-regressions/fuzz_events/bucket_policy_statements_properties.txt",
    );
}

/// The seed properties of every type that read without a problem.
fn valid_seed_properties() -> Vec<(&'static str, String, Map<String, Value>)> {
    let mut out = Vec::new();
    for seed in seeds() {
        let Some(resource_type) = TYPES.iter().find(|t| seed.event["ResourceType"] == **t) else {
            continue;
        };
        let Some(Value::Object(properties)) = seed.event.get("ResourceProperties") else {
            continue;
        };
        if validate(resource_type, properties) == Some(Ok(())) {
            out.push((*resource_type, seed.name.clone(), properties.clone()));
        }
    }
    assert!(out.len() >= 10, "too few valid seeds: {}", out.len());
    out
}

#[test]
fn scalars_sent_as_strings_read_like_native_ones() {
    // GIVEN every seed whose properties are valid, WHEN every number and boolean in them is
    // sent as a string, as CloudFormation sends it, THEN they read exactly as before
    fn same<P: FromProperties + PartialEq + Debug>(
        native: &Map<String, Value>,
        strings: &Map<String, Value>,
    ) -> bool {
        P::from_properties(native) == P::from_properties(strings)
    }
    let mut compared = 0;
    for (resource_type, seed, native) in valid_seed_properties() {
        let mut strings = Value::Object(native.clone());
        stringify(&mut strings);
        let Value::Object(strings) = strings else {
            unreachable!("an object stays an object")
        };
        let same = match resource_type {
            VENDOR_S3_ACCESS => same::<RoleProperties>(&native, &strings),
            VENDOR_S3_USER => same::<UserProperties>(&native, &strings),
            BUCKET_CORS => same::<BucketCorsProperties>(&native, &strings),
            // Statements are written as given, so only validity must not change.
            _ => validate(resource_type, &strings) == Some(Ok(())),
        };
        assert!(
            same,
            "{seed}: {strings:?} reads differently from {native:?}"
        );
        compared += 1;
    }
    println!("{compared} valid seeds read alike with every scalar as a string");
}

#[test]
fn an_unknown_property_is_named_with_the_closest_known_name() {
    // GIVEN valid seed properties with one property added that the type does not know:
    // a typo of one it knows (case, a letter missing) or any other name
    let seeds = valid_seed_properties();
    let typo = (any::<Index>(), any::<Index>(), any::<bool>());
    let strategy = (
        select(seeds),
        typo,
        "[A-Za-z][A-Za-z0-9]{0,20}",
        json_value(),
        any::<bool>(),
    );
    let tally = Tally::default();
    let result = runner(500, "proptest-regressions/fuzz_events/unknown_property.txt").run(
        &strategy,
        |((resource_type, seed, mut properties), (which, at, lower), other, value, use_typo)| {
            let names = top_level_names(resource_type);
            let known = |name: &str| {
                names.contains(&name) || ["ServiceToken", "ServiceTimeout"].contains(&name)
            };
            let name = if use_typo {
                let original = which.get(names);
                if lower {
                    original.to_ascii_lowercase()
                } else {
                    let mut chars: Vec<char> = original.chars().collect();
                    chars.remove(at.index(chars.len()));
                    chars.into_iter().collect()
                }
            } else {
                other
            };
            if known(&name) || properties.contains_key(&name) {
                tally.add("skipped: the name is known");
                return Ok(());
            }
            properties.insert(name.clone(), value);

            // WHEN they are read, THEN the reading fails and names the property
            let problems = validate(resource_type, &properties)
                .expect("a served type")
                .expect_err("an unknown property is refused")
                .problems()
                .to_vec();
            let named = problems.iter().find(|p| p.path == name);
            prop_assert!(
                named.is_some(),
                "{}: {:?} is not named in {:?}",
                seed,
                name,
                problems
            );
            let message = &named.map(|p| p.message.clone()).unwrap_or_default();
            prop_assert!(message.starts_with("unknown property"), "{}", message);
            // AND a typo is answered with the name it is closest to, which the type knows
            if use_typo {
                let suggested = message
                    .split("did you mean ")
                    .nth(1)
                    .and_then(|s| s.strip_suffix('?'));
                prop_assert!(
                    suggested.is_some_and(known),
                    "{:?} suggests no known name",
                    message
                );
                tally.add("typo named, closest name suggested");
            } else {
                tally.add("other name named");
            }
            Ok(())
        },
    );
    tally.report("unknown properties");
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

// ---------------------------------------------------------------------------------------
// Bugs the properties above found, as plain scenarios (fixed; kept as regression tests)

/// The seed `events/10-lightly/05-delete-output-role.json`, as one answer to it.
fn answer_to(edit: impl FnOnce(&mut Value)) -> (Value, usize) {
    let seed = seeds()
        .into_iter()
        .find(|s| s.name.ends_with("05-delete-output-role.json"))
        .expect("the Lightly delete seed");
    let mut event = seed.event;
    edit(&mut event);
    let runtime = runtime();
    let harness = runtime.block_on(Harness::start());
    let seen = runtime.block_on(harness.deliver(&Input::Event(event)));
    assert_eq!(seen.bodies.len(), 1, "exactly one response");
    let body = serde_json::from_slice(&seen.bodies[0]).expect("a JSON body");
    (body, seen.aws_calls)
}

#[test]
fn a_malformed_update_or_delete_keeps_its_physical_id() {
    // GIVEN the Delete of a role, and an Update of it, whose properties are not an object
    for (request_type, field) in [
        ("Delete", "ResourceProperties"),
        ("Update", "ResourceProperties"),
        ("Update", "OldResourceProperties"),
    ] {
        // WHEN each is answered
        let (body, aws_calls) = answer_to(|event| {
            event["RequestType"] = json!(request_type);
            event["OldResourceProperties"] = event["ResourceProperties"].clone();
            event[field] = json!("not an object");
        });

        // THEN it fails without touching AWS, and keeps the id CloudFormation knows
        assert_eq!(body["Status"], "FAILED", "{body}");
        assert_eq!(aws_calls, 0);
        assert_eq!(
            body["PhysicalResourceId"],
            format!("arn:aws:iam::{ACCOUNT}:role/vendor-access/LightlyOutputRole"),
            "{request_type} with {field} not an object: {body}"
        );
    }
}

#[test]
fn an_empty_physical_id_is_never_answered() {
    for request_type in ["Update", "Delete"] {
        // GIVEN an event naming the physical id ""
        let (body, aws_calls) = answer_to(|event| {
            event["RequestType"] = json!(request_type);
            event["OldResourceProperties"] = event["ResourceProperties"].clone();
            event["PhysicalResourceId"] = json!("");
        });

        // THEN the answer names a physical id, and no AWS call was made for it
        assert_ne!(body["PhysicalResourceId"], "", "{request_type}: {body}");
        assert_eq!(aws_calls, 0, "{request_type}: AWS called for the id \"\"");
    }
}
