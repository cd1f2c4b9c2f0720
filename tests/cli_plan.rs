//! `vendor-access plan` and `validate` as a user runs them: the binary, offline, on the
//! example stacks and on templates with mistakes in them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn vendor_access(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vendor-access"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn examples() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .expect("examples/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
    found.sort();
    found
}

fn plan_json(path: &Path, extra: &[&str]) -> (i32, Value) {
    let path = path.to_string_lossy().to_string();
    let mut args = vec!["plan", path.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    let output = vendor_access(&args);
    let plan = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{path}: not JSON ({e}): {}{}",
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), plan)
}

fn facets(resource: &Value) -> Value {
    let facets = resource["planned"]["facets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Value::Object(
        facets
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap_or_default().to_string(),
                    f["value"].clone(),
                )
            })
            .collect(),
    )
}

fn temp_template(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vendor-access-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("written");
    path
}

#[test]
fn every_example_stack_plans_with_every_resource_valid() {
    let examples = examples();
    assert!(examples.len() >= 9, "{examples:?}");
    for example in examples {
        // GIVEN an example stack, with only its parameters' defaults
        // WHEN it is planned offline
        let (code, plan) = plan_json(&example, &[]);

        // THEN every resource of ours is planned, with its documents
        assert_eq!(code, 0, "{}: {plan:#}", example.display());
        let resources = plan["resources"].as_array().cloned().unwrap_or_default();
        assert!(!resources.is_empty(), "{}", example.display());
        for resource in resources {
            assert_eq!(
                resource["status"],
                "planned",
                "{}: {resource:#}",
                example.display()
            );
            assert!(!facets(&resource).as_object().is_some_and(|f| f.is_empty()));
        }
    }
}

#[test]
fn the_lightly_example_plans_both_roles_exactly() {
    // GIVEN Lightly's example with its buckets given
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lightly.yaml");
    let (code, plan) = plan_json(
        &path,
        &[
            "-p",
            "InputBucket=lightly-input",
            "-p",
            "OutputBucket=lightly-output",
            "-p",
            "OutputPrefix=lightly/",
        ],
    );
    assert_eq!(code, 0, "{plan:#}");
    let resources = plan["resources"].as_array().cloned().unwrap_or_default();
    let [input, output] = resources.as_slice() else {
        panic!("two resources: {plan:#}");
    };

    // THEN each role's documents are exactly what Create would write
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TrustVendor",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::916419735646:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "<generated at deploy: 32 random characters>"}}
        }]
    });
    assert_eq!(input["logicalId"], "LightlyInputRole");
    assert_eq!(
        input["planned"]["target"],
        "arn:aws:iam::123456789012:role/vendor-access/lightly-LightlyInputRole-58e7a7060b"
    );
    assert_eq!(
        facets(input),
        json!({
            "TrustPolicy": trust,
            "MaxSessionDuration": 43200,
            "Description": "",
            "InlinePolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "ListBucket1", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::lightly-input"},
                    {"Sid": "BucketLocation", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::lightly-input"},
                    {"Sid": "ReadObjects", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lightly-input/*"}
                ]
            },
            "Tags": {"vendor-access:owner": "arn:aws:cloudformation:us-east-1:123456789012:stack/lightly/<stack-uuid>/LightlyInputRole"}
        })
    );
    assert_eq!(
        facets(output)["InlinePolicy"],
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListBucket1", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::lightly-output",
                 "Condition": {"StringLike": {"s3:prefix": "lightly/*"}}},
                {"Sid": "BucketLocation", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::lightly-output"},
                {"Sid": "ReadWriteObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::lightly-output/lightly/*"}
            ]
        })
    );
    assert_eq!(facets(output)["TrustPolicy"], trust);
}

#[test]
fn the_text_plan_shows_both_roles_trust_and_inline_policies() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lightly.yaml");
    let output = vendor_access(&["plan", &path.to_string_lossy()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for expected in [
        "LightlyInputRole (Custom::VendorS3Access): planned",
        "LightlyOutputRole (Custom::VendorS3Access): planned",
        "known only at deploy: <import:vendor-access-ServiceToken>, <InputBucket>, <OutputBucket>",
        "\"arn:aws:s3:::<InputBucket>/*\"",
        "\"arn:aws:s3:::<OutputBucket>/*\"",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert_eq!(text.matches("TrustPolicy:").count(), 2, "{text}");
    assert_eq!(text.matches("InlinePolicy:").count(), 2, "{text}");
    assert!(!text.contains('\x1b'), "no colour when not on a terminal");
}

const INVALID: &str = r#"
Parameters:
  Bucket: {Type: String, Default: Not_A_Bucket}
Resources:
  VendorRole:
    Type: Custom::VendorS3Access
    Properties:
      ServiceToken: !ImportValue vendor-access-ServiceToken
      TrustedPrincipal: "111122223333"
      Access: write-only
      Locations:
        - Bucket: !Ref Bucket
  Cors:
    Type: Custom::BucketCors
    Properties:
      ServiceToken: !ImportValue vendor-access-ServiceToken
      Bucket: valid-bucket
      Vendor: kolena
"#;

#[test]
fn an_invalid_resource_is_named_with_its_property_and_exits_1() {
    // GIVEN a template whose role has a bad Access and a bad bucket name
    let path = temp_template("invalid.yaml", INVALID);

    // WHEN it is planned and validated
    let (code, plan) = plan_json(&path, &[]);
    let validated = vendor_access(&["validate", &path.to_string_lossy()]);

    // THEN both say which resource and which property, and exit 1
    assert_eq!(code, 1, "{plan:#}");
    let role = &plan["resources"][0];
    assert_eq!(role["status"], "invalid");
    let paths: Vec<&str> = role["problems"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(paths, ["Access", "Locations[0].Bucket"], "{role:#}");
    assert_eq!(plan["resources"][1]["status"], "planned");
    assert_eq!(validated.status.code(), Some(1));
    let text = stdout(&validated);
    assert!(
        text.contains("Resources.VendorRole.Properties.Access: "),
        "{text}"
    );
    assert!(
        text.contains("Resources.VendorRole.Properties.Locations[0].Bucket: "),
        "{text}"
    );
    assert!(!text.contains("Cors"), "only problems are printed: {text}");

    // AND a parameter fixing the bucket leaves only the Access problem
    let (_, fixed) = plan_json(&path, &["-p", "Bucket=good-bucket"]);
    assert_eq!(
        fixed["resources"][0]["problems"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_template_that_cannot_be_read_exits_2_and_says_why() {
    let missing = vendor_access(&["plan", "/nonexistent/template.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot be read"));

    let broken = temp_template("broken.yaml", "Resources: [\n");
    let output = vendor_access(&["validate", &broken.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));

    let unknown_ref = temp_template(
        "unknown-ref.yaml",
        "Resources:\n  R:\n    Type: Custom::BucketCors\n    Properties:\n      Bucket: !Ref Nowhere\n      Vendor: kolena\n",
    );
    let output = vendor_access(&["plan", &unknown_ref.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Resources.R.Properties.Bucket.Ref: Nowhere"),
        "{stderr}"
    );

    let bad_parameter = vendor_access(&["plan", &unknown_ref.to_string_lossy(), "-p", "Nope=1"]);
    assert_eq!(bad_parameter.status.code(), Some(2));
}

#[test]
fn validate_takes_many_templates_and_a_deploy_time_value_is_not_a_problem() {
    // GIVEN every example, whose buckets and principals are parameters without defaults
    let examples: Vec<String> = examples()
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    let mut args = vec!["validate"];
    args.extend(examples.iter().map(String::as_str));

    // WHEN they are validated at once
    let output = vendor_access(&args);

    // THEN each is valid: a value known only at deploy is checked at deploy
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(text.lines().count(), examples.len(), "{text}");
    assert!(
        text.lines()
            .all(|l| l.ends_with(" 1 resource valid") || l.ends_with(" resources valid")),
        "{text}"
    );
}

#[test]
fn a_false_condition_skips_the_resource_and_conditions_follow_parameters() {
    let text = r#"
Parameters:
  WithCors: {Type: String, Default: "no", AllowedValues: ["yes", "no"]}
Conditions:
  Cors: !Equals [!Ref WithCors, "yes"]
Resources:
  KolenaCors:
    Type: Custom::BucketCors
    Condition: Cors
    Properties:
      Bucket: data-bucket
      Vendor: kolena
"#;
    let path = temp_template("condition.yaml", text);
    let (code, plan) = plan_json(&path, &[]);
    assert_eq!(code, 0);
    assert_eq!(plan["resources"][0]["status"], "skipped");
    let (_, plan) = plan_json(&path, &["-p", "WithCors=yes"]);
    let resource = &plan["resources"][0];
    assert_eq!(resource["status"], "planned");
    let rules = &facets(resource)["CORSRules (this resource's)"];
    assert_eq!(
        rules[0]["AllowedOrigins"],
        json!(["https://app.kolena.io"]),
        "{resource:#}"
    );
    let id = rules[0]["ID"].as_str().unwrap_or_default();
    assert!(id.starts_with("vendor-access-"), "{id}");
}
