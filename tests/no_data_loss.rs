//! No data loss: whatever a bucket's policy and CORS configuration hold that is not ours
//! survives every create, update and delete of `Custom::BucketPolicyStatements` and
//! `Custom::BucketCors`, and the last delete leaves each document exactly as it was.
//!
//! Property tests against moto. Each case is a bucket of its own with a random foreign
//! policy (1–6 statements with and without Sids, some looking like another owner's; Allow
//! and Deny; `*`, account and role principals; conditions; with and without `Id`) or CORS
//! configuration (0–6 rules with and without `ID`). Inputs moto refuses are skipped.
//! After every step the foreign part is compared, as parsed JSON, with what the bucket
//! held before: every statement or rule not ours, in order, and the top-level fields.
//!
//! Bounded for `make test`; `PROPTEST_CASES=200 cargo test --test no_data_loss` runs more.

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{Map, Value, json};
use support::cfn::Cfn;
use support::{ACCOUNT, unique};
use vendor_access::cfn::OwnerId;

const STATEMENTS: &str = "Custom::BucketPolicyStatements";
const CORS: &str = "Custom::BucketCors";

/// Stands for the case's bucket in generated documents and properties.
const BUCKET: &str = "__BUCKET__";

// ---------------------------------------------------------------------------------------
// Generated foreign documents

fn account() -> impl Strategy<Value = String> {
    prop_oneof![Just(ACCOUNT.to_string()), "[0-9]{12}"]
}

fn role_arn() -> impl Strategy<Value = String> {
    (account(), "[a-z][a-z0-9-]{0,15}")
        .prop_map(|(account, name)| format!("arn:aws:iam::{account}:role/{name}"))
}

fn principal() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("*")),
        Just(json!({"AWS": "*"})),
        account().prop_map(|a| json!({"AWS": format!("arn:aws:iam::{a}:root")})),
        account().prop_map(|a| json!({"AWS": a})),
        role_arn().prop_map(|arn| json!({"AWS": arn})),
        vec(role_arn(), 1..4).prop_map(|arns| json!({"AWS": arns})),
        Just(json!({"Service": "logging.s3.amazonaws.com"})),
    ]
}

const ACTIONS: [&str; 8] = [
    "s3:*",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:PutObjectAcl",
    "s3:GetObjectVersion",
];

/// A string, or a list of one or more.
fn one_or_many(items: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Value> {
    prop_oneof![
        items.clone().prop_map(Value::from),
        vec(items, 1..4).prop_map(Value::from),
    ]
}

fn resource() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just(format!("arn:aws:s3:::{BUCKET}")),
        Just(format!("arn:aws:s3:::{BUCKET}/*")),
        "[a-z]{1,8}".prop_map(|prefix| format!("arn:aws:s3:::{BUCKET}/{prefix}/*")),
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    let one = prop_oneof![
        Just(json!({"Bool": {"aws:SecureTransport": "false"}})),
        vec("(10|172|192)\\.[1-9][0-9]?\\.0\\.0/16", 1..3)
            .prop_map(|ips| json!({"IpAddress": {"aws:SourceIp": ips}})),
        Just(json!({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})),
        "vpce-[0-9a-f]{8}".prop_map(|id| json!({"StringEquals": {"aws:SourceVpce": id}})),
        Just(json!({"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}})),
        "[a-z]{1,6}/\\*".prop_map(|p| json!({"StringLike": {"s3:prefix": [p, ""]}})),
        Just(json!({"NumericLessThan": {"s3:TlsVersion": 1.2}})),
        "o-[a-z0-9]{10}".prop_map(|org| json!({"StringEquals": {"aws:PrincipalOrgID": org}})),
    ];
    vec(one, 1..3).prop_map(|parts| {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(operators) = part {
                merged.extend(operators);
            }
        }
        Value::Object(merged)
    })
}

/// A Sid of the bucket owner's, or one shaped like another stack's resource's.
fn foreign_sid() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z][A-Za-z0-9]{0,23}",
        1 => "VA[0-9a-f]{16}[A-Za-z]{1,10}",
        1 => "[A-Za-z0-9 ._-]{1,20}",
    ]
}

fn foreign_statement() -> impl Strategy<Value = Value> {
    (
        option::of(foreign_sid()),
        select(vec!["Allow", "Deny"]),
        principal(),
        one_or_many(select(ACTIONS.to_vec()).prop_map(str::to_string)),
        one_or_many(resource()),
        option::of(condition()),
    )
        .prop_map(|(sid, effect, principal, action, resource, condition)| {
            let mut statement = Map::new();
            if let Some(sid) = sid {
                statement.insert("Sid".into(), json!(sid));
            }
            statement.insert("Effect".into(), json!(effect));
            statement.insert("Principal".into(), principal);
            statement.insert("Action".into(), action);
            statement.insert("Resource".into(), resource);
            if let Some(condition) = condition {
                statement.insert("Condition".into(), condition);
            }
            Value::Object(statement)
        })
}

/// A bucket policy of the owner's: 1–6 statements (a single one sometimes written as an
/// object, as IAM allows), an optional `Id`, rarely no `Version`; or no policy at all.
fn foreign_policy() -> impl Strategy<Value = Option<Value>> {
    let policy = (
        option::of("[A-Za-z0-9-]{1,20}"),
        option::weighted(0.9, select(vec!["2012-10-17", "2008-10-17"])),
        vec(foreign_statement(), 1..=6),
        any::<bool>(),
    )
        .prop_map(|(id, version, statements, single_as_object)| {
            let mut policy = Map::new();
            if let Some(version) = version {
                policy.insert("Version".into(), json!(version));
            }
            if let Some(id) = id {
                policy.insert("Id".into(), json!(id));
            }
            let statement = match statements.as_slice() {
                [only] if single_as_object => only.clone(),
                _ => Value::Array(statements),
            };
            policy.insert("Statement".into(), statement);
            Value::Object(policy)
        });
    prop_oneof![7 => policy.prop_map(Some), 1 => Just(None)]
}

const ORIGINS: [&str; 6] = [
    "*",
    "https://www.example.com",
    "http://localhost:3000",
    "https://*.example.org",
    "https://app.kolena.io",
    "https://console.partner.example:8443",
];
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
const HEADERS: [&str; 5] = ["*", "Authorization", "Content-Type", "x-amz-*", "Range"];
const EXPOSED: [&str; 4] = [
    "ETag",
    "x-amz-request-id",
    "x-amz-meta-custom",
    "Content-Length",
];

/// A rule as S3 names its fields; empty lists are left out, as S3 returns them.
fn cors_rule(id: impl Strategy<Value = Option<String>>) -> impl Strategy<Value = Value> {
    (
        id,
        subsequence(ORIGINS.to_vec(), 1..=3),
        subsequence(METHODS.to_vec(), 1..=5),
        subsequence(HEADERS.to_vec(), 0..=3),
        subsequence(EXPOSED.to_vec(), 0..=3),
        option::of(0..100_000i32),
    )
        .prop_map(|(id, origins, methods, headers, exposed, max_age)| {
            let mut rule = Map::new();
            if let Some(id) = id {
                rule.insert("ID".into(), json!(id));
            }
            for (name, items) in [
                ("AllowedHeaders", headers),
                ("AllowedMethods", methods),
                ("AllowedOrigins", origins),
                ("ExposeHeaders", exposed),
            ] {
                if !items.is_empty() {
                    rule.insert(name.into(), json!(items));
                }
            }
            if let Some(seconds) = max_age {
                rule.insert("MaxAgeSeconds".into(), json!(seconds));
            }
            Value::Object(rule)
        })
}

/// 0–6 rules of the owner's, with and without `ID`; some IDs look like another stack's.
fn foreign_cors() -> impl Strategy<Value = Vec<Value>> {
    let id = option::of(prop_oneof![
        3 => "[A-Za-z0-9 ._-]{1,30}",
        1 => "vendor-access-[0-9a-f]{16}-[1-9]",
    ]);
    vec(cors_rule(id), 0..=6)
}

// ---------------------------------------------------------------------------------------
// Our resources' properties

/// An account our statements may name: the stack's, or one the deployer allows.
fn allowed_account() -> impl Strategy<Value = String> {
    select(vec![
        ACCOUNT,
        support::PARTNER_ACCOUNTS[0],
        support::PARTNER_ACCOUNTS[1],
    ])
    .prop_map(str::to_string)
}

fn our_statement() -> impl Strategy<Value = Value> {
    (
        option::of("[A-Za-z][A-Za-z0-9]{0,15}"),
        select(vec!["Allow", "Deny"]),
        prop_oneof![
            (allowed_account(), "[a-z][a-z0-9-]{0,15}")
                .prop_map(|(a, name)| json!({"AWS": format!("arn:aws:iam::{a}:role/{name}")})),
            allowed_account().prop_map(|a| json!({"AWS": format!("arn:aws:iam::{a}:root")})),
        ],
        one_or_many(select(ACTIONS.to_vec()).prop_map(str::to_string)),
        one_or_many(resource()),
        option::of(condition()),
    )
        .prop_map(|(sid, effect, principal, action, resource, condition)| {
            let mut statement = json!({
                "Effect": effect, "Principal": principal, "Action": action, "Resource": resource
            });
            if let Some(sid) = sid {
                statement["Sid"] = json!(sid);
            }
            if let Some(condition) = condition {
                statement["Condition"] = condition;
            }
            statement
        })
}

/// Our statements, their Sids made unique.
fn our_statements() -> impl Strategy<Value = Value> {
    vec(our_statement(), 1..=3).prop_map(|mut statements| {
        for (i, statement) in statements.iter_mut().enumerate() {
            if let Some(sid) = statement["Sid"].as_str() {
                statement["Sid"] = json!(format!("{sid}{i}"));
            }
        }
        Value::Array(statements)
    })
}

fn network_fence() -> impl Strategy<Value = Value> {
    (
        vec("(21|22|198)\\.[1-9][0-9]?\\.[1-9][0-9]?\\.0/24", 1..3),
        option::of(vec("vpc-[0-9a-f]{8}", 1..2)),
        vec(role_arn(), 1..3),
        option::of(vec(role_arn(), 1..2)),
    )
        .prop_map(|(ips, vpcs, exempt, listing)| {
            let mut fence = json!({"SourceIps": ips, "ExemptPrincipalArns": exempt});
            if let Some(vpcs) = vpcs {
                fence["SourceVpcs"] = json!(vpcs);
            }
            if let Some(listing) = listing {
                fence["AllowListBucketFor"] = json!(listing);
            }
            fence
        })
}

/// `Custom::BucketPolicyStatements` properties: statements, a fence, or both. Generated
/// Deny statements may be of the kinds that could lock the account out: the risk is
/// accepted, since what is tested here is that the bucket's own statements survive.
fn statements_properties() -> impl Strategy<Value = Value> {
    (option::of(our_statements()), option::of(network_fence())).prop_map(|(statements, fence)| {
        let mut properties = json!({"Bucket": BUCKET, "AcceptLockoutRisk": true});
        match (statements, fence) {
            (None, None) => {
                properties["Statements"] = json!([{
                    "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                    "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{BUCKET}/*")
                }])
            }
            (statements, fence) => {
                if let Some(statements) = statements {
                    properties["Statements"] = statements;
                }
                if let Some(fence) = fence {
                    properties["RestrictToNetwork"] = fence;
                }
            }
        }
        properties
    })
}

/// The same, always with a network fence that exempts principals.
fn fenced_statements_properties() -> impl Strategy<Value = Value> {
    (statements_properties(), network_fence()).prop_map(|(mut properties, fence)| {
        properties["RestrictToNetwork"] = fence;
        properties
    })
}

/// `Custom::BucketCors` properties: 1–3 rules, with or without the Kolena preset.
fn cors_properties() -> impl Strategy<Value = Value> {
    (vec(cors_rule(Just(None)), 1..=3), any::<bool>()).prop_map(|(rules, kolena)| {
        let mut properties = json!({"Bucket": BUCKET, "Rules": rules});
        if kolena {
            properties["Vendor"] = json!("kolena");
        }
        properties
    })
}

/// `value` with the bucket's name in place of [`BUCKET`].
fn in_bucket(value: &Value, bucket: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(BUCKET, bucket)),
        Value::Array(items) => Value::Array(items.iter().map(|v| in_bucket(v, bucket)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), in_bucket(v, bucket)))
                .collect(),
        ),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// The bucket's documents

struct Bucket {
    s3: aws_sdk_s3::Client,
    name: String,
}

impl Bucket {
    async fn create(s3: &aws_sdk_s3::Client) -> Bucket {
        let name = unique("foreign");
        s3.create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("bucket created");
        Bucket {
            s3: s3.clone(),
            name,
        }
    }

    async fn put_policy(&self, policy: &Value) -> Result<(), String> {
        self.s3
            .put_bucket_policy()
            .bucket(&self.name)
            .policy(policy.to_string())
            .send()
            .await
            .map(drop)
            .map_err(|e| DisplayErrorContext(e).to_string())
    }

    /// The bucket policy, parsed; `None` when the bucket has none.
    async fn policy(&self) -> Option<Value> {
        match self.s3.get_bucket_policy().bucket(&self.name).send().await {
            Ok(output) => Some(
                serde_json::from_str(output.policy().expect("a policy")).expect("policy is JSON"),
            ),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
            Err(e) => panic!("GetBucketPolicy failed: {}", DisplayErrorContext(e)),
        }
    }

    async fn put_cors(&self, rules: &[Value]) -> Result<(), String> {
        let rules = rules
            .iter()
            .map(rule_from_json)
            .collect::<Result<Vec<_>, _>>()?;
        let configuration = CorsConfiguration::builder()
            .set_cors_rules(Some(rules))
            .build()
            .map_err(|e| e.to_string())?;
        self.s3
            .put_bucket_cors()
            .bucket(&self.name)
            .cors_configuration(configuration)
            .send()
            .await
            .map(drop)
            .map_err(|e| DisplayErrorContext(e).to_string())
    }

    /// The CORS rules as JSON; `None` when the bucket has no CORS configuration.
    async fn cors(&self) -> Option<Vec<Value>> {
        match self.s3.get_bucket_cors().bucket(&self.name).send().await {
            Ok(output) => Some(output.cors_rules().iter().map(rule_to_json).collect()),
            Err(e) if e.code() == Some("NoSuchCORSConfiguration") => None,
            Err(e) => panic!("GetBucketCors failed: {}", DisplayErrorContext(e)),
        }
    }
}

fn rule_to_json(rule: &CorsRule) -> Value {
    let mut json = Map::new();
    if let Some(id) = rule.id() {
        json.insert("ID".into(), json!(id));
    }
    for (name, items) in [
        ("AllowedHeaders", rule.allowed_headers()),
        ("AllowedMethods", rule.allowed_methods()),
        ("AllowedOrigins", rule.allowed_origins()),
        ("ExposeHeaders", rule.expose_headers()),
    ] {
        if !items.is_empty() {
            json.insert(name.into(), json!(items));
        }
    }
    if let Some(seconds) = rule.max_age_seconds() {
        json.insert("MaxAgeSeconds".into(), json!(seconds));
    }
    Value::Object(json)
}

fn rule_from_json(rule: &Value) -> Result<CorsRule, String> {
    let list = |name: &str| -> Option<Vec<String>> {
        rule[name].as_array().map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    };
    CorsRule::builder()
        .set_id(rule["ID"].as_str().map(str::to_string))
        .set_allowed_headers(list("AllowedHeaders"))
        .set_allowed_methods(list("AllowedMethods"))
        .set_allowed_origins(list("AllowedOrigins"))
        .set_expose_headers(list("ExposeHeaders"))
        .set_max_age_seconds(rule["MaxAgeSeconds"].as_i64().map(|n| n as i32))
        .build()
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// Ours and theirs

/// One of our resources on the bucket, as the checks see it.
struct Ours {
    /// What the ids of its entries start with.
    prefix: String,
    /// The ids its last answer listed; `None` once deleted.
    ids: Option<Vec<String>>,
}

impl Ours {
    fn statements(cfn: &Cfn, logical_id: &str) -> Ours {
        Ours {
            prefix: format!("VA{}", OwnerId::new(&cfn.stack.stack_id, logical_id).hash()),
            ids: None,
        }
    }

    fn cors(cfn: &Cfn, logical_id: &str) -> Ours {
        Ours {
            prefix: format!(
                "vendor-access-{}-",
                OwnerId::new(&cfn.stack.stack_id, logical_id).hash()
            ),
            ids: None,
        }
    }

    fn owns(&self, entry: &Value, id_field: &str) -> bool {
        entry[id_field]
            .as_str()
            .is_some_and(|id| id.starts_with(&self.prefix))
    }

    /// Records the ids a SUCCESS answer lists under `output`.
    fn answered(&mut self, response: &Value, output: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(&response["Status"], "SUCCESS", "{:#}", response);
        let ids = response["Data"][output].as_str().unwrap_or_default();
        self.ids = Some(ids.split(',').map(str::to_string).collect());
        Ok(())
    }
}

/// A policy's statements as a list (IAM allows a single one as an object).
fn statements_of(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    }
}

/// Checks a document against what the bucket held before any of our resources: the
/// entries of none of `ours`, in order, and the top-level fields are unchanged; each of
/// `ours` holds exactly the entries it last answered with; and once all are deleted the
/// document is the original.
fn check_document(
    step: &str,
    original: Option<&Value>,
    now: Option<&Value>,
    ours: &[&Ours],
    id_field: &str,
    entries: impl Fn(&Value) -> Vec<Value>,
    entries_field: &str,
) -> Result<(), TestCaseError> {
    let is_ours = |entry: &Value| ours.iter().any(|o| o.owns(entry, id_field));
    let theirs = |document: Option<&Value>| -> Vec<Value> {
        document
            .map(&entries)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| !is_ours(e))
            .collect()
    };
    prop_assert_eq!(
        theirs(now),
        theirs(original),
        "{}: the bucket's own entries changed",
        step
    );
    let top_level = |document: Option<&Value>| -> Map<String, Value> {
        let mut fields = document
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        fields.remove(entries_field);
        fields
    };
    if original.is_some() {
        prop_assert_eq!(
            top_level(now),
            top_level(original),
            "{}: the document's own fields changed",
            step
        );
    }
    for owner in ours {
        let mut found: Vec<String> = now
            .map(&entries)
            .unwrap_or_default()
            .iter()
            .filter(|e| owner.owns(e, id_field))
            .filter_map(|e| e[id_field].as_str().map(str::to_string))
            .collect();
        let mut expected = owner.ids.clone().unwrap_or_default();
        found.sort();
        expected.sort();
        prop_assert_eq!(found, expected, "{}: entries of {}", step, &owner.prefix);
    }
    if ours.iter().all(|o| o.ids.is_none()) {
        prop_assert_eq!(now, original, "{}: not restored exactly", step);
    }
    Ok(())
}

/// A single statement written as an object comes back as a list of one once ours were
/// merged in: the same policy to IAM (see `a_single_statement_policy_is_restored_as_written`).
fn as_list(policy: Option<Value>) -> Option<Value> {
    policy.map(|mut p| {
        if p["Statement"].is_object() {
            p["Statement"] = json!([p["Statement"].take()]);
        }
        p
    })
}

async fn check_policy(
    step: &str,
    bucket: &Bucket,
    original: Option<&Value>,
    ours: &[&Ours],
) -> Result<(), TestCaseError> {
    let now = as_list(bucket.policy().await);
    let original = as_list(original.cloned());
    check_document(
        step,
        original.as_ref(),
        now.as_ref(),
        ours,
        "Sid",
        statements_of,
        "Statement",
    )
}

async fn check_cors(
    step: &str,
    bucket: &Bucket,
    original: Option<&Value>,
    ours: &[&Ours],
) -> Result<(), TestCaseError> {
    let now = bucket
        .cors()
        .await
        .map(|rules| json!({ "CORSRules": rules }));
    let rules = |document: &Value| {
        document["CORSRules"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    check_document(step, original, now.as_ref(), ours, "ID", rules, "CORSRules")
}

// ---------------------------------------------------------------------------------------
// Running the properties

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(default, |n: u32| n.max(default))
}

/// Runs `test` on `cases` inputs, each on a fresh bucket in moto, and reports the tally.
/// At least three in four cases must have run for real: inputs moto refuses are skipped,
/// and a property that skipped most of its cases would prove little.
fn run<S: Strategy>(
    what: &str,
    strategy: S,
    default_cases: u32,
    regressions: &'static str,
    test: impl AsyncFn(&Cfn, &Bucket, S::Value) -> Result<&'static str, TestCaseError>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (cfn, s3) = runtime.block_on(async { (Cfn::new().await, support::clients().await.s3) });
    let tally: RefCell<BTreeMap<&str, usize>> = RefCell::default();
    let cases = cases(default_cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        max_shrink_iters: 100,
        ..Config::default()
    });
    let result = runner.run(&strategy, |input| {
        let outcome = runtime.block_on(async {
            let cfn = cfn.in_new_stack();
            let bucket = Bucket::create(&s3).await;
            test(&cfn, &bucket, input).await
        })?;
        *tally.borrow_mut().entry(outcome).or_default() += 1;
        Ok(())
    });
    println!("{what}:");
    for (outcome, n) in tally.borrow().iter() {
        println!("  {n:4}  {outcome}");
    }
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let real: usize = tally
        .borrow()
        .iter()
        .filter(|(outcome, _)| !outcome.starts_with("skipped"))
        .map(|(_, n)| n)
        .sum();
    let needed = (cases as usize * 3).div_ceil(4);
    assert!(
        real >= needed,
        "{what}: only {real} of {cases} cases ran for real, fewer than {needed}"
    );
}

#[test]
fn a_buckets_own_policy_survives_our_statements_and_is_restored_on_delete() {
    let strategy = (
        foreign_policy(),
        statements_properties(),
        fenced_statements_properties(),
    );
    run(
        "foreign bucket policies",
        strategy,
        16,
        "proptest-regressions/no_data_loss/policy.txt",
        async |cfn, bucket, (original, created, updated)| {
            // GIVEN a bucket with a policy of its own (or none)
            let original = original.map(|p| in_bucket(&p, &bucket.name));
            if let Some(policy) = &original
                && bucket.put_policy(policy).await.is_err()
            {
                return Ok("skipped: moto refused the generated policy");
            }
            let original = bucket.policy().await;
            let (created, updated) = (
                in_bucket(&created, &bucket.name),
                in_bucket(&updated, &bucket.name),
            );
            let mut ours = Ours::statements(cfn, "BucketStatements");

            // WHEN our statements are created, THEN the bucket's own are as they were
            let response = cfn
                .create(STATEMENTS, "BucketStatements", created.clone())
                .await;
            ours.answered(&response, "Sids")?;
            check_policy("create", bucket, original.as_ref(), &[&ours]).await?;
            let physical_id = response["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_string();

            // WHEN they are updated to other statements and a network fence, THEN too
            let response = cfn
                .update(
                    STATEMENTS,
                    "BucketStatements",
                    &physical_id,
                    updated.clone(),
                    created,
                )
                .await;
            ours.answered(&response, "Sids")?;
            prop_assert_eq!(&response["PhysicalResourceId"], &json!(physical_id));
            check_policy("update", bucket, original.as_ref(), &[&ours]).await?;

            // WHEN they are deleted, THEN the policy is the bucket's own again, exactly
            let response = cfn
                .delete(STATEMENTS, "BucketStatements", &physical_id, updated)
                .await;
            prop_assert_eq!(&response["Status"], "SUCCESS", "{:#}", response);
            ours.ids = None;
            check_policy("delete", bucket, original.as_ref(), &[&ours]).await?;
            Ok(match &original {
                None => "no policy before, none after",
                Some(p) if p["Statement"].is_object() => "one statement written as an object",
                Some(_) => "policy kept through create, update (with fence) and delete",
            })
        },
    );
}

#[test]
fn a_buckets_own_cors_rules_survive_our_rules_and_are_restored_on_delete() {
    let strategy = (foreign_cors(), cors_properties(), cors_properties());
    run(
        "foreign CORS configurations",
        strategy,
        16,
        "proptest-regressions/no_data_loss/cors.txt",
        async |cfn, bucket, (rules, created, updated)| {
            // GIVEN a bucket with CORS rules of its own (or none)
            if !rules.is_empty() && bucket.put_cors(&rules).await.is_err() {
                return Ok("skipped: moto refused the generated rules");
            }
            let original = bucket
                .cors()
                .await
                .map(|rules| json!({ "CORSRules": rules }));
            let (created, updated) = (
                in_bucket(&created, &bucket.name),
                in_bucket(&updated, &bucket.name),
            );
            let mut ours = Ours::cors(cfn, "BucketCors");

            // WHEN our rules are created, updated and deleted, THEN the bucket's own rules
            // are as they were after each step, and exactly the original after the last
            let response = cfn.create(CORS, "BucketCors", created.clone()).await;
            ours.answered(&response, "RuleIds")?;
            check_cors("create", bucket, original.as_ref(), &[&ours]).await?;
            let physical_id = response["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_string();

            let response = cfn
                .update(CORS, "BucketCors", &physical_id, updated.clone(), created)
                .await;
            ours.answered(&response, "RuleIds")?;
            check_cors("update", bucket, original.as_ref(), &[&ours]).await?;

            let response = cfn.delete(CORS, "BucketCors", &physical_id, updated).await;
            prop_assert_eq!(&response["Status"], "SUCCESS", "{:#}", response);
            ours.ids = None;
            check_cors("delete", bucket, original.as_ref(), &[&ours]).await?;
            Ok(if original.is_none() {
                "no CORS before, none after"
            } else {
                "rules kept through create, update and delete"
            })
        },
    );
}

#[test]
fn two_of_our_resources_on_one_bucket_interleaved_leave_the_buckets_own_entries_alone() {
    let strategy = (
        foreign_policy(),
        foreign_cors(),
        vec(statements_properties(), 3),
        vec(cors_properties(), 3),
    );
    run(
        "two resources of ours per document, interleaved",
        strategy,
        6,
        "proptest-regressions/no_data_loss/interleaved.txt",
        async |cfn, bucket, (policy, rules, statements, cors)| {
            // GIVEN a bucket with a policy and CORS rules of its own
            let policy = policy.map(|p| in_bucket(&p, &bucket.name));
            if let Some(policy) = &policy
                && bucket.put_policy(policy).await.is_err()
            {
                return Ok("skipped: moto refused the generated policy");
            }
            if !rules.is_empty() && bucket.put_cors(&rules).await.is_err() {
                return Ok("skipped: moto refused the generated rules");
            }
            let original_policy = bucket.policy().await;
            let original_cors = bucket
                .cors()
                .await
                .map(|rules| json!({ "CORSRules": rules }));
            let statements: Vec<Value> = statements
                .iter()
                .map(|p| in_bucket(p, &bucket.name))
                .collect();
            let cors: Vec<Value> = cors.iter().map(|p| in_bucket(p, &bucket.name)).collect();

            // AND two stacks, each with statements and CORS rules for it under the same
            // logical ids: A in this stack, B in another
            let other = cfn.in_new_stack();
            let mut a_statements = Ours::statements(cfn, "Shared");
            let mut b_statements = Ours::statements(&other, "Shared");
            let mut a_cors = Ours::cors(cfn, "SharedCors");
            let mut b_cors = Ours::cors(&other, "SharedCors");
            let check =
                async |step: &str, s: [&Ours; 2], c: [&Ours; 2]| -> Result<(), TestCaseError> {
                    check_policy(step, bucket, original_policy.as_ref(), &s).await?;
                    check_cors(step, bucket, original_cors.as_ref(), &c).await
                };

            // WHEN they are created, updated and deleted interleaved
            let r = cfn
                .create(STATEMENTS, "Shared", statements[0].clone())
                .await;
            a_statements.answered(&r, "Sids")?;
            let a_statements_id = r["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let r = other.create(CORS, "SharedCors", cors[0].clone()).await;
            b_cors.answered(&r, "RuleIds")?;
            let b_cors_id = r["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            check(
                "A statements, B CORS created",
                [&a_statements, &b_statements],
                [&a_cors, &b_cors],
            )
            .await?;

            let r = other
                .create(STATEMENTS, "Shared", statements[1].clone())
                .await;
            b_statements.answered(&r, "Sids")?;
            let b_statements_id = r["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let r = cfn.create(CORS, "SharedCors", cors[1].clone()).await;
            a_cors.answered(&r, "RuleIds")?;
            let a_cors_id = r["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            check(
                "all four created",
                [&a_statements, &b_statements],
                [&a_cors, &b_cors],
            )
            .await?;

            let r = cfn
                .update(
                    STATEMENTS,
                    "Shared",
                    &a_statements_id,
                    statements[2].clone(),
                    statements[0].clone(),
                )
                .await;
            a_statements.answered(&r, "Sids")?;
            let r = other
                .update(
                    CORS,
                    "SharedCors",
                    &b_cors_id,
                    cors[2].clone(),
                    cors[0].clone(),
                )
                .await;
            b_cors.answered(&r, "RuleIds")?;
            check(
                "A statements, B CORS updated",
                [&a_statements, &b_statements],
                [&a_cors, &b_cors],
            )
            .await?;

            let r = other
                .delete(
                    STATEMENTS,
                    "Shared",
                    &b_statements_id,
                    statements[1].clone(),
                )
                .await;
            prop_assert_eq!(&r["Status"], "SUCCESS", "{:#}", r);
            b_statements.ids = None;
            let r = cfn
                .delete(CORS, "SharedCors", &a_cors_id, cors[1].clone())
                .await;
            prop_assert_eq!(&r["Status"], "SUCCESS", "{:#}", r);
            a_cors.ids = None;
            check(
                "B statements, A CORS deleted",
                [&a_statements, &b_statements],
                [&a_cors, &b_cors],
            )
            .await?;

            let r = cfn
                .delete(
                    STATEMENTS,
                    "Shared",
                    &a_statements_id,
                    statements[2].clone(),
                )
                .await;
            prop_assert_eq!(&r["Status"], "SUCCESS", "{:#}", r);
            a_statements.ids = None;
            let r = other
                .delete(CORS, "SharedCors", &b_cors_id, cors[2].clone())
                .await;
            prop_assert_eq!(&r["Status"], "SUCCESS", "{:#}", r);
            b_cors.ids = None;

            // THEN after each step the bucket's own entries were untouched, and now both
            // documents are exactly as they began
            check(
                "all deleted",
                [&a_statements, &b_statements],
                [&a_cors, &b_cors],
            )
            .await?;
            Ok("both documents kept through 8 interleaved requests")
        },
    );
}

#[tokio::test]
async fn a_single_statement_policy_is_restored_as_written() {
    // GIVEN a bucket whose policy has its one statement written as an object
    let s3 = support::clients().await.s3;
    let bucket = Bucket::create(&s3).await;
    let written = json!({
        "Version": "2012-10-17",
        "Statement": {
            "Sid": "OwnerRead", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{}/*", bucket.name)
        }
    });
    bucket.put_policy(&written).await.expect("policy written");
    let original = bucket.policy().await;
    assert!(
        original
            .as_ref()
            .is_some_and(|p| p["Statement"].is_object())
    );

    // WHEN statements of ours are created and deleted
    let cfn = Cfn::new().await;
    let properties = json!({"Bucket": bucket.name, "Statements": [{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/reader")},
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{}/shared/*", bucket.name)
    }]});
    let created = cfn.create(STATEMENTS, "Reader", properties.clone()).await;
    support::cfn::assert_success(&created);
    let physical_id = created["PhysicalResourceId"].as_str().unwrap_or_default();
    support::cfn::assert_success(
        &cfn.delete(STATEMENTS, "Reader", physical_id, properties)
            .await,
    );

    // THEN the policy is the document the owner wrote
    assert_eq!(bucket.policy().await, original);
}
