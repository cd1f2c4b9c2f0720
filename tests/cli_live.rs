//! `plan --live` and `drift` against moto: what a reviewer sees before an Update, and what
//! an operator learns after someone edited a vendor's role or a bucket's CORS by hand.
//!
//! moto cannot host a stack whose custom resources answer with our physical ids (its
//! custom resources invoke Lambda in Docker and keep ids of their own), so the stack's
//! three read-only CloudFormation answers (DescribeStacks, GetTemplate,
//! DescribeStackResources) come from aws-smithy-mocks, built from a real deployment of
//! the function into moto; IAM and S3 are moto's.

mod support;

use std::process::Command;

use aws_sdk_cloudformation::operation::describe_stack_resources::DescribeStackResourcesOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::primitives::DateTime;
use aws_sdk_cloudformation::types::{
    Parameter, ResourceStatus, Stack as CfnStack, StackResource, StackStatus,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::{Value, json};
use support::buckets::{Lambda, cors_rule, own_policy};
use support::{REGION, Stack};
use vendor_access::aws::Clients;
use vendor_access::cli;

const POLICY_TEMPLATE: &str = r#"
Parameters:
  Bucket: {Type: String}
Resources:
  PartnerRead:
    Type: Custom::BucketPolicyStatements
    Properties:
      ServiceToken: !ImportValue vendor-access-ServiceToken
      Bucket: !Ref Bucket
      Statements:
        - Sid: PartnerRead
          Effect: Allow
          Principal: {AWS: "arn:aws:iam::111122223333:root"}
          Action: s3:GetObject
          Resource: !Sub arn:${AWS::Partition}:s3:::${Bucket}/partner/*
"#;

fn facet<'v>(view: &'v Value, name: &str) -> &'v Value {
    view["facets"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == name))
        .map(|f| &f["value"])
        .unwrap_or(&Value::Null)
}

fn sids(document: &Value) -> Vec<String> {
    document["Statement"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["Sid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn plan_live_shows_the_buckets_own_statements_kept_and_ours_added() {
    // GIVEN a bucket whose policy has statements of the customer's own
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("plan-live").await;
    lambda.put_policy(&bucket, &own_policy(&bucket)).await;
    let dir = std::env::temp_dir().join(format!("vendor-access-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let template = dir.join("partner.yaml");
    std::fs::write(&template, POLICY_TEMPLATE).expect("written");

    // WHEN a reviewer runs `plan --live` with read-only credentials (moto's here)
    let output = Command::new(env!("CARGO_BIN_EXE_vendor-access"))
        .args([
            "plan",
            &template.to_string_lossy(),
            "--live",
            "--format",
            "json",
        ])
        .args(["-p", &format!("Bucket={bucket}")])
        .env("AWS_ENDPOINT_URL", &support::moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .output()
        .expect("the binary runs");
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });

    // THEN it shows the whole policy before and after: theirs unchanged, ours added
    assert_eq!(output.status.code(), Some(0), "{plan:#}");
    let resource = &plan["resources"][0];
    assert_eq!(resource["status"], "planned", "{resource:#}");
    let whole = format!("bucket policy of {bucket}");
    let before = facet(&resource["current"], &whole);
    let after = facet(&resource["planned"], &whole);
    assert_eq!(before, &own_policy(&bucket));
    let mut expected_sids = sids(&own_policy(&bucket));
    let ours = facet(&resource["planned"], "Statement (this resource's)");
    let our_sid = ours[0]["Sid"].as_str().unwrap_or_default().to_string();
    assert!(
        our_sid.starts_with("VA") && our_sid.ends_with("PartnerRead"),
        "{ours:#}"
    );
    expected_sids.push(our_sid);
    assert_eq!(sids(after), expected_sids);
    assert_eq!(after["Id"], "CustomerPolicy");
    for own in own_policy(&bucket)["Statement"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert!(
            after["Statement"]
                .as_array()
                .is_some_and(|s| s.contains(own)),
            "{own} kept"
        );
    }
    assert_eq!(
        facet(&resource["current"], "Statement (this resource's)"),
        &json!([])
    );

    // AND nothing was written: the bucket's policy is as it was
    assert_eq!(lambda.policy(&bucket).await, Some(own_policy(&bucket)));

    // AND the text form marks the added statement
    let text = Command::new(env!("CARGO_BIN_EXE_vendor-access"))
        .args(["plan", &template.to_string_lossy(), "--live"])
        .args(["-p", &format!("Bucket={bucket}")])
        .env("AWS_ENDPOINT_URL", &support::moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("bucket policy of {bucket}: changes")),
        "{text}"
    );
    assert!(text.contains("+       \"Sid\": \"VA"), "{text}");
    assert!(
        text.contains("        \"Sid\": \"AnalyticsRead\""),
        "{text}"
    );
}

const STACK_TEMPLATE: &str = r#"
Parameters:
  Bucket: {Type: String}
Resources:
  LightlyRole:
    Type: Custom::VendorS3Access
    Properties:
      ServiceToken: !ImportValue vendor-access-ServiceToken
      Vendor: lightly
      Access: read-write
      Locations:
        - Bucket: !Ref Bucket
          Prefix: images/
  KolenaCors:
    Type: Custom::BucketCors
    Properties:
      ServiceToken: !ImportValue vendor-access-ServiceToken
      Vendor: kolena
      Bucket: !Ref Bucket
"#;

/// A deployed stack of the template: its two resources created by the function in moto.
struct Deployed {
    lambda: Lambda,
    stack: Stack,
    bucket: String,
    role_arn: String,
    cors_id: String,
}

async fn deploy() -> Deployed {
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("drift").await;
    lambda
        .put_cors(
            &bucket,
            vec![cors_rule(
                Some("website"),
                "https://www.example.com",
                &["GET"],
            )],
        )
        .await;
    let stack = Stack::new();
    let role = json!({
        "Vendor": "lightly", "Access": "read-write",
        "Locations": [{"Bucket": bucket, "Prefix": "images/"}],
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:vendor-access",
    });
    let created = lambda
        .send(stack.create(&lambda.url(), "Custom::VendorS3Access", "LightlyRole", role))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let cors = json!({"Vendor": "kolena", "Bucket": bucket});
    let cors_created = lambda
        .send(stack.create(&lambda.url(), "Custom::BucketCors", "KolenaCors", cors))
        .await;
    assert_eq!(cors_created["Status"], "SUCCESS", "{cors_created}");
    Deployed {
        role_arn: created["PhysicalResourceId"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        cors_id: cors_created["PhysicalResourceId"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        lambda,
        stack,
        bucket,
    }
}

/// Clients on moto, with CloudFormation's answers about `deployed`'s stack.
async fn clients_for(deployed: &Deployed) -> (Clients, String) {
    let stack_id = deployed.stack.stack_id.clone();
    let name = stack_id.split('/').nth(1).unwrap_or_default().to_string();
    let (id, stack_name, bucket) = (stack_id.clone(), name.clone(), deployed.bucket.clone());
    let describe = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_output(move || {
        let stack = CfnStack::builder()
            .stack_id(&id)
            .stack_name(&stack_name)
            .creation_time(DateTime::from_secs(0))
            .stack_status(StackStatus::CreateComplete)
            .parameters(
                Parameter::builder()
                    .parameter_key("Bucket")
                    .parameter_value(&bucket)
                    .build(),
            )
            .build();
        DescribeStacksOutput::builder().stacks(stack).build()
    });
    let template = mock!(aws_sdk_cloudformation::Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body(STACK_TEMPLATE)
            .build()
    });
    let ids = [
        (
            "LightlyRole",
            "Custom::VendorS3Access",
            deployed.role_arn.clone(),
        ),
        ("KolenaCors", "Custom::BucketCors", deployed.cors_id.clone()),
    ];
    let id = stack_id.clone();
    let resources =
        mock!(aws_sdk_cloudformation::Client::describe_stack_resources).then_output(move || {
            let mut output = DescribeStackResourcesOutput::builder();
            for (logical, kind, physical) in &ids {
                output = output.stack_resources(
                    StackResource::builder()
                        .stack_id(&id)
                        .logical_resource_id(*logical)
                        .physical_resource_id(physical)
                        .resource_type(*kind)
                        .timestamp(DateTime::from_secs(0))
                        .resource_status(ResourceStatus::CreateComplete)
                        .build(),
                );
            }
            output.build()
        });
    let mut clients = support::clients().await;
    clients.cloudformation = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        &[&describe, &template, &resources]
    );
    (clients, name)
}

#[tokio::test]
async fn drift_reports_nothing_after_a_clean_deploy_and_each_hand_edit_after() {
    // GIVEN a stack with a Lightly role and Kolena's CORS rule, freshly deployed
    let deployed = deploy().await;
    let (clients, name) = clients_for(&deployed).await;

    // WHEN drift is checked right after the deploy
    let clean = cli::drift(&clients, &name).await.expect("drift runs");

    // THEN everything is in sync
    assert!(clean.in_sync(), "{clean:#?}");
    assert_eq!(clean.exit_code(), 0);
    assert_eq!(clean.resources, 2);

    // WHEN someone widens the role's inline policy by hand and removes our CORS rule
    let role_name = deployed
        .role_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let widened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    clients
        .iam
        .put_role_policy()
        .role_name(&role_name)
        .policy_name("vendor-access-s3")
        .policy_document(widened.to_string())
        .send()
        .await
        .expect("PutRolePolicy");
    deployed
        .lambda
        .put_cors(
            &deployed.bucket,
            vec![cors_rule(
                Some("website"),
                "https://www.example.com",
                &["GET"],
            )],
        )
        .await;
    let drifted = cli::drift(&clients, &name).await.expect("drift runs");

    // THEN both are reported, with what the stack says and what was found
    assert!(!drifted.in_sync());
    assert_eq!(drifted.exit_code(), 3);
    let found: Vec<(&str, &str)> = drifted
        .differences
        .iter()
        .map(|d| (d.logical_id.as_str(), d.facet.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("LightlyRole", "InlinePolicy"),
            ("KolenaCors", "CORSRules (this resource's)")
        ],
        "{drifted:#?}"
    );
    assert_eq!(drifted.differences[0].found, Some(widened));
    assert_eq!(drifted.differences[1].found, Some(json!([])));
    let text = cli::render::drift_text(&drifted, cli::render::Style { colour: false });
    assert!(text.contains("LightlyRole InlinePolicy: drifted"), "{text}");
    assert!(text.contains("+       \"Action\": \"s3:*\""), "{text}");
    assert!(text.contains("2 differences"), "{text}");
}
