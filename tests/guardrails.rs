//! The guardrails of issue 12, each attack a stack author (anyone allowed to invoke the
//! function) could try, refused before anything is written; and the requests the deployer
//! allows, still served.

mod support;

use std::sync::Arc;

use aws_sdk_cloudformation::operation::describe_stack_resource::DescribeStackResourceOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, StackResourceDetail};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::{Value, json};
use support::cfn::{Cfn, assert_success, reason};
use support::logs::CapturedLogs;
use support::{ACCOUNT, Stack, clients, data, new_bucket};
use vendor_access::aws::Clients;
use vendor_access::aws::cloudformation::StackConfirmation;
use vendor_access::cfn::{Dispatcher, UrlPolicy};
use vendor_access::guardrails::Guardrails;
use vendor_access::resources::registry;
use vendor_access::settings::Settings;
use wiremock::matchers::any as any_request;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROLE: &str = "Custom::VendorS3Access";
const USER: &str = "Custom::VendorS3User";
const CORS: &str = "Custom::BucketCors";
const STATEMENTS: &str = "Custom::BucketPolicyStatements";
const OUTSIDER: &str = "999999999999";

/// What this deployer allows: buckets `datalake-*`, the vendors Lightly and Kolena, one
/// partner account, no extra KMS key.
fn deployer() -> Settings {
    let mut settings = support::settings();
    settings.guardrails = Guardrails {
        buckets: vec!["datalake-*".into()],
        vendors: Some(vec!["lightly".into(), "kolena".into()]),
        trusted_principals: vec!["111122223333".into()],
        kms_key_arns: vec![],
        root_role_names: vec![],
        unrestricted: false,
    };
    settings
}

/// The function under `settings`, with every AWS client pointed at a server that records
/// each request (and answers 500): a refusal must leave it untouched.
async fn recorded(settings: &Settings) -> (Cfn, MockServer) {
    let aws = MockServer::start().await;
    Mock::given(any_request())
        .respond_with(ResponseTemplate::new(500))
        .mount(&aws)
        .await;
    let clients = support::clients_at(&aws.uri()).await;
    (Cfn::with_registry(registry(&clients, settings)), aws)
}

async fn aws_requests(aws: &MockServer) -> usize {
    aws.received_requests().await.map_or(0, |r| r.len())
}

/// The function under `settings`, on moto.
async fn on_moto(settings: &Settings) -> Cfn {
    Cfn::with_registry(registry(&clients().await, settings))
}

/// Creates Lightly's role under a name of its own and checks it is refused with
/// `expected` and that no such role exists.
async fn assert_named_role_refused(cfn: &Cfn, clients: &Clients, bucket: &str, expected: &str) {
    let name = support::unique("refused").to_lowercase();
    let response = cfn
        .create(
            ROLE,
            "Refused",
            json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_refused(&response, &[expected]);
    let found = clients.iam.get_role().role_name(&name).send().await;
    assert!(found.is_err(), "the role {name} exists");
}

/// The function confirming every request with `clients.cloudformation`.
fn confirming_dispatcher(clients: &Clients, settings: &Settings) -> Dispatcher {
    Dispatcher::new(
        registry(clients, settings),
        support::test_sender(),
        support::local_urls(),
    )
    .confirming_with(Arc::new(StackConfirmation {
        client: clients.cloudformation.clone(),
    }))
}

fn assert_refused(response: &Value, expected: &[&str]) {
    assert_eq!(response["Status"], "FAILED", "{response}");
    let reason = reason(response);
    for part in expected {
        assert!(reason.contains(part), "{part:?} missing from {reason}");
    }
}

#[tokio::test]
async fn attack_1_an_outside_account_on_any_bucket_with_a_grant_is_refused_before_any_call() {
    let (cfn, aws) = recorded(&deployer()).await;
    let role = cfn
        .create(
            ROLE,
            "Payroll",
            json!({"TrustedPrincipal": OUTSIDER, "RequireExternalId": "false",
                   "Access": "read-write-delete", "KmsAccess": "grant",
                   "Locations": [{"Bucket": "payroll-prod"}]}),
        )
        .await;
    assert_refused(
        &role,
        &[
            "Locations[0].Bucket: \"payroll-prod\" is not a bucket the function's deployer allows",
            "AllowedBuckets",
            "TrustedPrincipal[0]: \"999999999999\" is outside this account",
            "AllowedTrustedPrincipals",
        ],
    );
    let user = cfn
        .create(
            USER,
            "PayrollKeys",
            json!({"Access": "read-write-delete", "Locations": [{"Bucket": "payroll-prod"}],
                   "KmsKeyArns": [format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/payroll")]}),
        )
        .await;
    assert_refused(
        &user,
        &["Locations[0].Bucket", "KmsKeyArns[0]", "AllowedKmsKeyArns"],
    );
    let vendor = cfn
        .create(
            ROLE,
            "Activeloop",
            json!({"Vendor": "activeloop", "Locations": [{"Bucket": "datalake-raw"}]}),
        )
        .await;
    assert_refused(
        &vendor,
        &["Vendor: \"activeloop\" is not a vendor", "AllowedVendors"],
    );
    let cors = cfn
        .create(
            CORS,
            "Cors",
            json!({"Bucket": "payroll-prod", "Vendor": "kolena"}),
        )
        .await;
    assert_refused(&cors, &["Bucket: \"payroll-prod\"", "AllowedBuckets"]);
    assert_eq!(
        aws_requests(&aws).await,
        0,
        "no AWS call for a refused request"
    );
}

#[tokio::test]
async fn a_role_outside_the_fence_needs_the_deployers_leave_by_name() {
    let (cfn, aws) = recorded(&deployer()).await;
    // Scale builds its role's ARN from the account id: the role must be at "/"
    let mut settings = deployer();
    settings.guardrails.vendors = None;
    let (cfn_all_vendors, _) = recorded(&settings).await;
    let scale = cfn_all_vendors
        .create(
            ROLE,
            "Scale",
            json!({"Vendor": "scale", "ExternalId": "scale-shown-external-id",
                   "Locations": [{"Bucket": "datalake-raw"}]}),
        )
        .await;
    assert_refused(
        &scale,
        &[
            "RolePath: \"/\" is outside /vendor-access/",
            "AllowedRootRoleNames",
        ],
    );
    // and no other role may sit at "/", whatever its name
    let root = cfn
        .create(
            ROLE,
            "Root",
            json!({"Vendor": "lightly", "RolePath": "/", "Locations": [{"Bucket": "datalake-raw"}]}),
        )
        .await;
    assert_refused(&root, &["RolePath: \"/\" must be /vendor-access/"]);
    assert_eq!(aws_requests(&aws).await, 0);
}

#[tokio::test]
async fn attack_2_bucket_policies_open_to_outsiders_are_refused() {
    let (cfn, aws) = recorded(&deployer()).await;
    let object = "arn:aws:s3:::datalake-raw/*";
    for (statement, expected) in [
        (
            json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OUTSIDER}:root")},
                   "Action": "*", "Resource": object}),
            "is outside this account",
        ),
        (
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": object}),
            "opens the bucket to everyone",
        ),
        (
            json!({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "NotAction": "s3:DeleteObject",
                   "Resource": object}),
            "an Allow with NotAction",
        ),
        (
            json!({"Effect": "Allow", "NotPrincipal": {"AWS": ACCOUNT}, "Action": "s3:GetObject",
                   "Resource": object}),
            "an Allow with NotPrincipal",
        ),
        (
            json!({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:GetObject",
                   "NotResource": "arn:aws:s3:::datalake-raw/private/*"}),
            "an Allow with NotResource",
        ),
        (
            json!({"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                   "Action": "s3:PutObject", "Resource": object}),
            "aws:SourceAccount",
        ),
    ] {
        let response = cfn
            .create(
                STATEMENTS,
                "Open",
                json!({"Bucket": "datalake-raw", "Statements": [statement]}),
            )
            .await;
        assert_refused(&response, &["Statements[0]", expected]);
    }
    assert_eq!(aws_requests(&aws).await, 0, "nothing was written to S3");
}

#[tokio::test]
async fn attack_3_every_lockout_form_needs_the_risk_accepted() {
    let (cfn, aws) = recorded(&deployer()).await;
    let bucket = "arn:aws:s3:::datalake-raw";
    let both = json!([bucket, format!("{bucket}/*")]);
    let forms = [
        json!({"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*", "Resource": both}),
        json!({"Effect": "Deny", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
               "Action": "s3:GetObject", "Resource": format!("{bucket}/*")}),
        json!({"Effect": "Deny", "NotPrincipal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/admin")},
               "Action": "s3:*", "Resource": both}),
        json!({"Effect": "Deny", "Principal": {"Service": "cloudtrail.amazonaws.com"},
               "Action": "s3:PutObject", "Resource": format!("{bucket}/*")}),
        json!({"Effect": "Deny", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/ops")},
               "Action": ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"], "Resource": bucket}),
    ];
    for form in &forms {
        let refused = cfn
            .create(
                STATEMENTS,
                "Lockout",
                json!({"Bucket": "datalake-raw", "Statements": [form]}),
            )
            .await;
        assert_refused(&refused, &["Statements[0]", "AcceptLockoutRisk"]);
    }
    assert_eq!(aws_requests(&aws).await, 0, "nothing was written to S3");
    // Accepting the risk lets the request through to S3 (here: a server that fails it).
    for form in &forms {
        let accepted = cfn
            .create(
                STATEMENTS,
                "Lockout",
                json!({"Bucket": "datalake-raw", "Statements": [form], "AcceptLockoutRisk": true}),
            )
            .await;
        assert!(
            !reason(&accepted).contains("AcceptLockoutRisk"),
            "{accepted}"
        );
    }
    assert!(aws_requests(&aws).await > 0);
}

/// A CloudFormation client that describes the event's resource in `status`.
fn cloudformation_saying(stack: &Stack, logical_id: &str, status: ResourceStatus) -> Clients {
    let stack_id = stack.stack_id.clone();
    let logical_id = logical_id.to_string();
    let describe =
        mock!(aws_sdk_cloudformation::Client::describe_stack_resource).then_output(move || {
            DescribeStackResourceOutput::builder()
                .stack_resource_detail(
                    StackResourceDetail::builder()
                        .stack_id(&stack_id)
                        .logical_resource_id(&logical_id)
                        .physical_resource_id("arn:aws:iam::123456789012:role/vendor-access/victim")
                        .resource_type(ROLE)
                        .resource_status(status.clone())
                        .last_updated_timestamp(
                            aws_sdk_cloudformation::primitives::DateTime::from_secs(0),
                        )
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&describe]);
    let mut clients = offline_clients();
    clients.cloudformation = client;
    clients
}

fn offline_clients() -> Clients {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(support::REGION))
        .build();
    Clients::new(&config)
}

/// The function as deployed: every request confirmed with CloudFormation first; AWS
/// otherwise answered by a recording server.
async fn confirming(stack: &Stack, logical_id: &str, status: ResourceStatus) -> (Cfn, MockServer) {
    let aws = MockServer::start().await;
    Mock::given(any_request())
        .respond_with(ResponseTemplate::new(500))
        .mount(&aws)
        .await;
    let mut clients = support::clients_at(&aws.uri()).await;
    clients.cloudformation = cloudformation_saying(stack, logical_id, status).cloudformation;
    let settings = support::settings();
    let dispatcher = Dispatcher::new(
        registry(&clients, &settings),
        support::test_sender(),
        support::local_urls(),
    )
    .confirming_with(Arc::new(StackConfirmation {
        client: clients.cloudformation.clone(),
    }));
    (
        Cfn::with_dispatcher(dispatcher).in_stack(stack.clone()),
        aws,
    )
}

#[tokio::test]
async fn attack_4_a_forged_event_for_another_stacks_resource_is_not_confirmed() {
    // GIVEN a victim's role, complete in its stack
    let victim = Stack::new();
    let (cfn, aws) = confirming(&victim, "VictimUser", ResourceStatus::CreateComplete).await;
    // WHEN an attacker replays its stack and logical id in an Update, a Delete and a Create
    let props = json!({"Vendor": "lightly", "Locations": [{"Bucket": "datalake-raw"}]});
    let physical = "arn:aws:iam::123456789012:role/vendor-access/victim";
    for response in [
        cfn.update(ROLE, "VictimUser", physical, props.clone(), props.clone())
            .await,
        cfn.delete(ROLE, "VictimUser", physical, props.clone())
            .await,
        cfn.create(ROLE, "VictimUser", props.clone()).await,
    ] {
        // THEN CloudFormation does not confirm it, and nothing reaches IAM or S3
        assert_refused(
            &response,
            &[
                "CloudFormation does not confirm this request",
                "CREATE_COMPLETE",
            ],
        );
    }
    assert_eq!(aws_requests(&aws).await, 0);
}

#[tokio::test]
async fn a_request_cloudformation_confirms_goes_ahead() {
    for (status, logical) in [
        (ResourceStatus::CreateInProgress, "Created"),
        (ResourceStatus::UpdateInProgress, "Updated"),
        (ResourceStatus::DeleteInProgress, "Deleted"),
    ] {
        let stack = Stack::new();
        let (cfn, aws) = confirming(&stack, logical, status).await;
        let props = json!({"Vendor": "lightly", "Locations": [{"Bucket": "datalake-raw"}]});
        let physical = "arn:aws:iam::123456789012:role/vendor-access/victim";
        let response = match logical {
            "Created" => cfn.create(ROLE, logical, props).await,
            "Updated" => {
                cfn.update(ROLE, logical, physical, props.clone(), props)
                    .await
            }
            _ => cfn.delete(ROLE, logical, physical, props).await,
        };
        assert!(
            !reason(&response).contains("does not confirm"),
            "{response}"
        );
        assert!(aws_requests(&aws).await > 0, "the request went on to AWS");
    }
}

#[tokio::test]
async fn a_request_for_a_stack_moto_has_never_heard_of_is_not_confirmed() {
    // GIVEN the function confirming with moto's CloudFormation, which has no such stack
    let clients = clients().await;
    let bucket = new_bucket(&clients, "datalake").await;
    let cfn = Cfn::with_dispatcher(confirming_dispatcher(&clients, &support::settings()));
    // WHEN a Create arrives for it, THEN it is refused and no role exists
    assert_named_role_refused(
        &cfn,
        &clients,
        &bucket,
        "CloudFormation does not confirm this request",
    )
    .await;
}

#[tokio::test]
async fn attack_4_a_response_url_outside_cloudformations_buckets_is_never_answered() {
    let (_, aws) = recorded(&deployer()).await;
    let clients = support::clients_at(&aws.uri()).await;
    let strict = Dispatcher::new(
        registry(&clients, &deployer()),
        support::test_sender(),
        UrlPolicy::in_region("us-east-1"),
    );
    for url in [
        "https://attacker.s3.amazonaws.com/cfn?X-Amz-Signature=1",
        "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/x",
    ] {
        let event = Stack::new().create(
            url,
            USER,
            "VictimUser",
            json!({"SecretStorage": "attribute", "Serial": 2, "Locations": [{"Bucket": "datalake-raw"}]}),
        );
        let refused = strict
            .handle(&support::event_bytes(&event), support::deadline_in(10))
            .await;
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("refusing ResponseURL")
        );
    }
    assert_eq!(aws_requests(&aws).await, 0);
}

#[tokio::test]
async fn attack_5_the_owner_tag_cannot_be_rewritten_in_another_case() {
    let (cfn, aws) = recorded(&deployer()).await;
    for key in [
        "Vendor-Access:Owner",
        "VENDOR-ACCESS:owner",
        "AWS:cloudformation:stack-id",
    ] {
        let response = cfn
            .create(
                ROLE,
                "Tags",
                json!({"Vendor": "lightly", "Locations": [{"Bucket": "datalake-raw"}],
                       "Tags": [{"Key": key, "Value": "arn:aws:cloudformation:us-east-1:1:stack/victim/1/Role"}]}),
            )
            .await;
        assert_refused(&response, &["Tags.", "are reserved by"]);
    }
    assert_eq!(aws_requests(&aws).await, 0);
}

#[tokio::test]
async fn attack_6_a_key_rotation_at_trace_leaves_no_secret_in_the_logs() {
    // GIVEN the function logging at TRACE, as a deployer's LogLevel: TRACE asks
    let (logs, _capture) = CapturedLogs::start_at(tracing::Level::TRACE);
    let clients = clients().await;
    let bucket = new_bucket(&clients, "datalake").await;
    let cfn = on_moto(&support::settings()).await;
    let props = |serial: i64| json!({"SecretStorage": "attribute", "Serial": serial, "Locations": [{"Bucket": bucket}]});
    // WHEN a user is created, its key rotated and the user deleted
    let created = cfn.create(USER, "Keys", props(1)).await;
    assert_success(&created);
    let arn = data(&created, "UserArn");
    let rotated = cfn.update(USER, "Keys", &arn, props(2), props(1)).await;
    assert_success(&rotated);
    assert_success(&cfn.delete(USER, "Keys", &arn, props(2)).await);
    // THEN neither secret key, nor the ResponseURL's signature, is in the logs
    logs.assert_free_of(&[
        &data(&created, "SecretAccessKey"),
        &data(&rotated, "SecretAccessKey"),
        support::SIGNATURE,
    ]);
    logs.assert_no_secret_shapes();
    // AND the function's own TRACE events were captured: the capture was at TRACE
    assert!(
        logs.text().contains("TRACE"),
        "nothing at TRACE was captured"
    );
}

#[tokio::test]
async fn a_permitted_request_of_each_type_is_served() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "datalake").await;
    let cfn = on_moto(&deployer()).await;
    let role = cfn
        .create(
            ROLE,
            "Lightly",
            json!({"Vendor": "lightly", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&role);
    let kolena = cfn
        .create(
            ROLE,
            "Kolena",
            json!({"Vendor": "kolena", "TrustedPrincipal": "arn:aws:iam::111122223333:role/kolena",
                   "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&kolena);
    let user = cfn
        .create(USER, "User", json!({"Locations": [{"Bucket": bucket}]}))
        .await;
    assert_success(&user);
    let cors = cfn
        .create(CORS, "Cors", json!({"Bucket": bucket, "Vendor": "kolena"}))
        .await;
    assert_success(&cors);
    let statements = cfn
        .create(
            STATEMENTS,
            "Statements",
            json!({"Bucket": bucket, "Statements": [{"Effect": "Allow",
                   "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/analytics")},
                   "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/reports/*")}]}),
        )
        .await;
    assert_success(&statements);
}

#[tokio::test]
async fn a_delete_outside_the_allow_list_still_cleans_up_and_an_update_keeping_it_fails() {
    // GIVEN a role made while the deployer allowed every bucket
    let clients = clients().await;
    let bucket = new_bucket(&clients, "legacy").await;
    let before = on_moto(&support::settings()).await;
    let props = json!({"Vendor": "lightly", "Locations": [{"Bucket": bucket}]});
    let created = before.create(ROLE, "Legacy", props.clone()).await;
    assert_success(&created);
    let arn = data(&created, "RoleArn");
    // WHEN the deployer narrows AllowedBuckets to datalake-*
    let after = on_moto(&deployer()).await.in_stack(before.stack.clone());
    // THEN an Update that keeps the bucket fails, naming it
    let updated = after
        .update(ROLE, "Legacy", &arn, props.clone(), props.clone())
        .await;
    assert_refused(
        &updated,
        &["Locations[0].Bucket", &bucket, "AllowedBuckets"],
    );
    // AND a Delete still removes the role
    assert_success(&after.delete(ROLE, "Legacy", &arn, props).await);
    let name = data(&created, "RoleName");
    assert!(
        clients
            .iam
            .get_role()
            .role_name(&name)
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn no_role_or_user_is_created_without_a_boundary() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "datalake").await;
    let mut settings = support::settings();
    settings.allow_no_boundary = false;
    let cfn = on_moto(&settings).await;
    assert_named_role_refused(
        &cfn,
        &clients,
        &bucket,
        "no permissions boundary is configured",
    )
    .await;
}

#[tokio::test]
async fn roles_outside_accounts_assume_without_a_strong_external_id_are_warned_about() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "datalake").await;
    let cfn = on_moto(&support::settings()).await;
    let activeloop = cfn
        .create(
            ROLE,
            "Activeloop",
            json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&activeloop);
    assert!(
        data(&activeloop, "Warnings").contains("confused-deputy"),
        "{activeloop}"
    );
    let short = cfn
        .create(
            ROLE,
            "Short",
            json!({"Vendor": "lightly", "ExternalId": "abc123", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert!(
        data(&short, "Warnings").contains("has 6 characters"),
        "{short}"
    );
    let generated = cfn
        .create(
            ROLE,
            "Generated",
            json!({"Vendor": "lightly", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_eq!(data(&generated, "ExternalId").len(), 32);
    assert_eq!(data(&generated, "Warnings"), "");
}
