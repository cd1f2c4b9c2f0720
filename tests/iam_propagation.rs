//! IAM's eventual consistency, which moto cannot reproduce: IAM answered with
//! aws-smithy-mocks, S3 and KMS by moto.

mod support;

use std::time::Duration;

use aws_sdk_iam::error::ErrorMetadata;
use aws_sdk_iam::operation::create_role::{CreateRoleError, CreateRoleOutput};
use aws_sdk_iam::operation::get_role::GetRoleError;
use aws_sdk_iam::operation::get_role_policy::GetRolePolicyError;
use aws_sdk_iam::operation::put_role_policy::PutRolePolicyOutput;
use aws_sdk_iam::operation::tag_role::TagRoleOutput;
use aws_sdk_iam::types::Role;
use aws_sdk_iam::types::error::{MalformedPolicyDocumentException, NoSuchEntityException};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::json;
use support::cfn::{Cfn, assert_success, reason};
use support::{clients, unique};
use vendor_access::aws::propagation::Backoff;
use vendor_access::cfn::Registry;
use vendor_access::resources::vendor_s3_access::VendorS3Access;

const NEW_PRINCIPAL: &str = "arn:aws:iam::111122223333:role/just-created";

/// Error metadata as the SDK reads it off IAM's wire response.
fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn malformed_policy(message: &str) -> CreateRoleError {
    CreateRoleError::MalformedPolicyDocumentException(
        MalformedPolicyDocumentException::builder()
            .message(message)
            .meta(meta("MalformedPolicyDocument", message))
            .build(),
    )
}

fn invalid_principal() -> CreateRoleError {
    malformed_policy(&format!(
        "Invalid principal in policy: \"AWS\":\"{NEW_PRINCIPAL}\""
    ))
}

fn no_such_entity() -> NoSuchEntityException {
    NoSuchEntityException::builder()
        .message("The role cannot be found.")
        .meta(meta("NoSuchEntity", "The role cannot be found."))
        .build()
}

fn role(name: &str) -> Role {
    Role::builder()
        .role_name(name)
        .path("/vendor-access/")
        .role_id("AROAEXAMPLE")
        .arn(format!(
            "arn:aws:iam::123456789012:role/vendor-access/{name}"
        ))
        .create_date(aws_sdk_iam::primitives::DateTime::from_secs(0))
        .build()
        .expect("role")
}

/// IAM as it behaves right after the vendor's principal was created: `create_role` as
/// given, everything else as for a new role.
fn iam_rules(create_role: Rule) -> Vec<Rule> {
    vec![
        mock!(aws_sdk_iam::Client::get_role)
            .then_error(|| GetRoleError::NoSuchEntityException(no_such_entity())),
        create_role,
        mock!(aws_sdk_iam::Client::get_role_policy)
            .then_error(|| GetRolePolicyError::NoSuchEntityException(no_such_entity())),
        mock!(aws_sdk_iam::Client::put_role_policy)
            .then_output(|| PutRolePolicyOutput::builder().build()),
        mock!(aws_sdk_iam::Client::tag_role).then_output(|| TagRoleOutput::builder().build()),
    ]
}

async fn cfn_with(rules: &[Rule], backoff: Backoff) -> Cfn {
    let mut clients = clients().await;
    clients.iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules);
    let mut settings = support::settings();
    settings.waits.propagation = backoff;
    let resource = VendorS3Access::new(clients, settings);
    Cfn::with_registry(Registry::new().with(resource))
}

async fn bucket() -> String {
    let name = unique("propagation").to_lowercase();
    clients()
        .await
        .s3
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    name
}

fn quick(window: Duration) -> Backoff {
    Backoff {
        window,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn a_principal_that_propagates_after_two_refusals_gets_its_role() {
    // GIVEN IAM refuses the new principal twice, then accepts it
    let name = unique("Propagating");
    let created = role(&name);
    let create_role = mock!(aws_sdk_iam::Client::create_role)
        .sequence()
        .error(invalid_principal)
        .times(2)
        .output(move || CreateRoleOutput::builder().role(created.clone()).build())
        .build();
    let rules = iam_rules(create_role.clone());
    let cfn = cfn_with(&rules, quick(Duration::from_secs(10))).await;
    // WHEN the stack creates the role
    let response = cfn
        .create(
            "Custom::VendorS3Access",
            "Role",
            json!({"TrustedPrincipal": NEW_PRINCIPAL, "RoleName": name,
                   "Locations": [{"Bucket": bucket().await}]}),
        )
        .await;
    // THEN it succeeds after retrying
    assert_success(&response);
    assert_eq!(create_role.num_calls(), 3);
}

#[tokio::test]
async fn a_principal_refused_for_the_whole_window_looks_mistyped() {
    let create_role = mock!(aws_sdk_iam::Client::create_role).then_error(invalid_principal);
    let rules = iam_rules(create_role.clone());
    let cfn = cfn_with(&rules, quick(Duration::from_millis(300))).await;
    let response = cfn
        .create(
            "Custom::VendorS3Access",
            "Role",
            json!({"TrustedPrincipal": NEW_PRINCIPAL, "Locations": [{"Bucket": bucket().await}]}),
        )
        .await;
    assert_eq!(response["Status"], "FAILED");
    let reason = reason(&response);
    assert!(reason.contains(NEW_PRINCIPAL), "{reason}");
    assert!(reason.contains("looks mistyped"), "{reason}");
    assert!(create_role.num_calls() >= 2, "it was retried");
}

#[tokio::test]
async fn other_iam_errors_are_not_retried() {
    let create_role = mock!(aws_sdk_iam::Client::create_role)
        .then_error(|| malformed_policy("Syntax errors in policy."));
    let rules = iam_rules(create_role.clone());
    let cfn = cfn_with(&rules, quick(Duration::from_secs(10))).await;
    let response = cfn
        .create(
            "Custom::VendorS3Access",
            "Role",
            json!({"TrustedPrincipal": NEW_PRINCIPAL, "Locations": [{"Bucket": bucket().await}]}),
        )
        .await;
    assert_eq!(response["Status"], "FAILED");
    assert!(reason(&response).contains("Syntax errors"), "{response}");
    assert_eq!(create_role.num_calls(), 1);
}
