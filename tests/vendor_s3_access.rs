//! `Custom::VendorS3Access` against moto: what a platform engineer's stack gets for each
//! vendor, and how the role follows the stack through updates and deletion.

mod support;

use aws_sdk_iam::types::Tag;
use aws_sdk_s3::types::ServerSideEncryption;
use serde_json::{Value, json};
use support::cfn::{Cfn, assert_success, reason};
use support::{ACCOUNT, clients, data, new_bucket, unique};
use vendor_access::aws::Clients;
use vendor_access::policy::decode_document;

const TYPE: &str = "Custom::VendorS3Access";

async fn encrypt(
    clients: &Clients,
    bucket: &str,
    algorithm: ServerSideEncryption,
    key: Option<&str>,
) {
    encrypt_with(clients, bucket, algorithm, key, false).await
}

/// Default encryption, with an S3 Bucket Key when `bucket_key`.
async fn encrypt_with(
    clients: &Clients,
    bucket: &str,
    algorithm: ServerSideEncryption,
    key: Option<&str>,
    bucket_key: bool,
) {
    support::encrypt_bucket(&clients.s3, bucket, algorithm, key, bucket_key).await
}

struct RoleState {
    path: String,
    max_session: i32,
    trust: Value,
    policy: Value,
    tags: Vec<(String, String)>,
}

async fn role_state(clients: &Clients, name: &str) -> Option<RoleState> {
    let role = clients
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .ok()?
        .role?;
    let policy = clients
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name("vendor-access-s3")
        .send()
        .await
        .ok()
        .and_then(|p| decode_document(p.policy_document()))
        .unwrap_or(Value::Null);
    Some(RoleState {
        path: role.path().to_string(),
        max_session: role.max_session_duration().unwrap_or_default(),
        trust: role
            .assume_role_policy_document()
            .and_then(decode_document)
            .unwrap_or(Value::Null),
        policy,
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    })
}

fn trust(principal: &str, external_id: Option<&str>) -> Value {
    let mut statement = json!({"Sid": "TrustVendor", "Effect": "Allow",
        "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"});
    if let Some(id) = external_id {
        statement["Condition"] = json!({"StringEquals": {"sts:ExternalId": id}});
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

async fn grants_on(clients: &Clients, key_arn: &str, grantee: &str) -> usize {
    support::grants_to(clients, key_arn, grantee).await.len()
}

#[tokio::test]
async fn a_lightly_output_role_gets_exactly_the_documents_of_the_guide_done_right() {
    // GIVEN a bucket and Lightly's preset with an output prefix
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    // WHEN the stack creates the role
    let response = cfn
        .create(
            TYPE,
            "LightlyOutput",
            json!({"Vendor": "lightly", "ExternalId": "lightly-ext-0001",
                   "Access": "read-write",
                   "Locations": [{"Bucket": bucket, "Prefix": "lightly/output/"}]}),
        )
        .await;
    // THEN Lightly's account may assume it with the external id, for 12 hours
    assert_success(&response);
    let name = data(&response, "RoleName");
    assert_eq!(response["PhysicalResourceId"], data(&response, "RoleArn"));
    assert_eq!(data(&response, "ExternalId"), "lightly-ext-0001");
    assert_eq!(
        data(&response, "TrustedPrincipal"),
        "arn:aws:iam::916419735646:root"
    );
    assert_eq!(data(&response, "Warnings"), "");
    let state = role_state(&clients, &name).await.expect("role exists");
    assert_eq!(state.path, "/vendor-access/");
    assert_eq!(state.max_session, 43_200);
    assert_eq!(
        state.trust,
        trust("arn:aws:iam::916419735646:root", Some("lightly-ext-0001"))
    );
    // AND its policy lists only the prefix and reads and writes only below it
    assert_eq!(
        state.policy,
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "ListBucket1", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": format!("arn:aws:s3:::{bucket}"),
             "Condition": {"StringLike": {"s3:prefix": "lightly/output/*"}}},
            {"Sid": "BucketLocation", "Effect": "Allow", "Action": "s3:GetBucketLocation",
             "Resource": format!("arn:aws:s3:::{bucket}")},
            {"Sid": "ReadWriteObjects", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": format!("arn:aws:s3:::{bucket}/lightly/output/*")}
        ]})
    );
    let owner = format!("{}/LightlyOutput", cfn.stack.stack_id);
    assert!(
        state
            .tags
            .contains(&("vendor-access:owner".to_string(), owner))
    );
}

#[tokio::test]
async fn a_role_for_a_stack_in_china_names_its_principals_and_buckets_in_aws_cn() {
    // GIVEN a stack in the aws-cn partition
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new()
        .await
        .in_stack(support::Stack::in_partition("aws-cn", "cn-north-1"));
    // WHEN it creates Lightly's role
    let response = cfn
        .create(
            TYPE,
            "LightlyCn",
            json!({"Vendor": "lightly", "ExternalId": "lightly-ext-0001", "Access": "read",
                   "Locations": [{"Bucket": bucket, "Prefix": "in/"}]}),
        )
        .await;
    // THEN the trust names Lightly's account root in aws-cn, and the policy aws-cn buckets
    assert_success(&response);
    let state = role_state(&clients, &data(&response, "RoleName"))
        .await
        .expect("role exists");
    assert_eq!(
        state.trust,
        trust(
            "arn:aws-cn:iam::916419735646:root",
            Some("lightly-ext-0001")
        )
    );
    assert_eq!(
        data(&response, "TrustedPrincipal"),
        "arn:aws-cn:iam::916419735646:root"
    );
    assert_eq!(
        state.policy["Statement"][2]["Resource"],
        format!("arn:aws-cn:s3:::{bucket}/in/*")
    );
    assert!(
        !state.policy.to_string().contains("arn:aws:"),
        "{}",
        state.policy
    );
}

#[tokio::test]
async fn a_lightly_input_role_without_an_external_id_gets_a_strong_one_kept_across_updates() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let props = json!({"Vendor": "lightly", "Access": "read", "Locations": [{"Bucket": bucket}]});
    let created = cfn.create(TYPE, "LightlyInput", props.clone()).await;
    assert_success(&created);
    let generated = data(&created, "ExternalId");
    assert_eq!(generated.len(), 32);
    assert!(generated.chars().all(|c| c.is_ascii_alphanumeric()));
    let arn = data(&created, "RoleArn");

    // WHEN the access changes, the external id stays and the role is updated in place
    let new_props = json!({"Vendor": "lightly", "Access": "read-write-delete",
                           "Locations": [{"Bucket": bucket}]});
    let updated = cfn
        .update(TYPE, "LightlyInput", &arn, new_props, props)
        .await;
    assert_success(&updated);
    assert_eq!(updated["PhysicalResourceId"], arn.as_str());
    assert_eq!(data(&updated, "ExternalId"), generated);
    let state = role_state(&clients, &data(&updated, "RoleName"))
        .await
        .unwrap();
    assert_eq!(
        state.trust,
        trust("arn:aws:iam::916419735646:root", Some(&generated))
    );
    assert_eq!(
        state.policy["Statement"][2]["Action"],
        json!(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
    );
}

#[tokio::test]
async fn an_activeloop_role_uses_the_activeloop_backend_without_an_external_id() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Activeloop",
            json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&response);
    let state = role_state(&clients, &data(&response, "RoleName"))
        .await
        .unwrap();
    assert_eq!(
        state.trust,
        trust("arn:aws:iam::597713067985:role/activeloop_backend", None)
    );
    assert_eq!(state.max_session, 3600);
    assert_eq!(data(&response, "ExternalId"), "");
    let statements = state.policy["Statement"].as_array().unwrap();
    assert_eq!(statements[0]["Action"], "s3:ListBucket");
    assert!(statements[0].get("Condition").is_none(), "whole bucket");
    assert_eq!(
        statements[2]["Action"],
        json!(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
    );
}

#[tokio::test]
async fn a_kolena_role_reads_the_customer_bucket_and_kolenas_public_datasets() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let principal = "arn:aws:iam::111122223333:role/kolena-data-access";
    let response = cfn
        .create(
            TYPE,
            "Kolena",
            json!({"Vendor": "kolena", "TrustedPrincipal": principal,
                   "ExternalId": "kolena-ext", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&response);
    let state = role_state(&clients, &data(&response, "RoleName"))
        .await
        .unwrap();
    assert_eq!(state.trust, trust(principal, Some("kolena-ext")));
    assert_eq!(
        state.policy["Statement"][3],
        json!({"Sid": "ReadObjects", "Effect": "Allow", "Action": "s3:GetObject",
               "Resource": [format!("arn:aws:s3:::{bucket}/*"),
                            "arn:aws:s3:::kolena-public-datasets/*"]})
    );
    assert_eq!(
        state.policy["Statement"][1]["Resource"],
        "arn:aws:s3:::kolena-public-datasets"
    );
}

#[tokio::test]
async fn kolena_needs_the_principal_kolena_supplies() {
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Kolena",
            json!({"Vendor": "kolena", "Locations": [{"Bucket": "share-with-kolena"}]}),
        )
        .await;
    assert_eq!(response["Status"], "FAILED");
    assert!(
        reason(&response).contains("TrustedPrincipal: is required"),
        "{response}"
    );
}

#[tokio::test]
async fn cloudformation_strings_are_read_as_numbers_and_booleans() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Custom",
            json!({"TrustedPrincipal": ["123456789012"], "RequireExternalId": "false",
                   "MaxSessionDuration": "7200", "Locations": [{"Bucket": bucket, "Access": "list"}]}),
        )
        .await;
    assert_success(&response);
    let state = role_state(&clients, &data(&response, "RoleName"))
        .await
        .unwrap();
    assert_eq!(state.max_session, 7200);
    assert_eq!(state.trust, trust("arn:aws:iam::123456789012:root", None));
    assert_eq!(
        state.policy["Statement"].as_array().unwrap().len(),
        2,
        "list only"
    );
}

#[tokio::test]
async fn updating_external_id_locations_and_access_rewrites_the_documents_in_place() {
    let clients = clients().await;
    let first = new_bucket(&clients, "data").await;
    let second = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let old = json!({"TrustedPrincipal": "123456789012", "ExternalId": "old-id",
                     "Locations": [{"Bucket": first, "Prefix": "a/"}], "Tags": [{"Key": "team", "Value": "data"}]});
    let created = cfn.create(TYPE, "Role", old.clone()).await;
    let arn = data(&created, "RoleArn");
    let new = json!({"TrustedPrincipal": "123456789012", "ExternalId": "new-id",
                     "MaxSessionDuration": 14400, "Access": "read-write",
                     "Locations": [{"Bucket": second, "Prefix": "b/"}], "Tags": {"owner": "ml"}});
    let updated = cfn.update(TYPE, "Role", &arn, new, old).await;
    assert_success(&updated);
    assert_eq!(updated["PhysicalResourceId"], arn.as_str());
    let state = role_state(&clients, &data(&updated, "RoleName"))
        .await
        .unwrap();
    assert_eq!(
        state.trust,
        trust("arn:aws:iam::123456789012:root", Some("new-id"))
    );
    assert_eq!(state.max_session, 14_400);
    assert_eq!(
        state.policy["Statement"][2]["Resource"],
        format!("arn:aws:s3:::{second}/b/*")
    );
    assert!(
        !state.policy.to_string().contains(&first),
        "old bucket gone from the policy"
    );
    let keys: Vec<&str> = state.tags.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        keys.contains(&"owner") && !keys.contains(&"team"),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_new_role_name_replaces_the_role_and_the_old_one_is_deleted_after() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let old_name = unique("LightlyOld");
    let new_name = unique("LightlyNew");
    let old = json!({"Vendor": "lightly", "RoleName": old_name, "Locations": [{"Bucket": bucket}]});
    let created = cfn.create(TYPE, "Role", old.clone()).await;
    let old_arn = data(&created, "RoleArn");
    let external_id = data(&created, "ExternalId");
    let new = json!({"Vendor": "lightly", "RoleName": new_name, "Locations": [{"Bucket": bucket}]});
    let replaced = cfn
        .update(TYPE, "Role", &old_arn, new.clone(), old.clone())
        .await;
    assert_success(&replaced);
    let new_arn = data(&replaced, "RoleArn");
    assert_ne!(new_arn, old_arn);
    assert!(new_arn.ends_with(&format!("/{new_name}")));
    assert_eq!(
        data(&replaced, "ExternalId"),
        external_id,
        "the external id moves along"
    );
    // CloudFormation then deletes the old physical id, with the new properties
    assert_success(&cfn.delete(TYPE, "Role", &old_arn, new).await);
    assert!(role_state(&clients, &old_name).await.is_none());
    assert!(role_state(&clients, &new_name).await.is_some());
}

#[tokio::test]
async fn a_new_role_path_replaces_the_role_under_the_new_path() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let old = json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]});
    let created = cfn.create(TYPE, "Role", old.clone()).await;
    let new = json!({"Vendor": "activeloop", "RolePath": "/vendor-access/activeloop/",
                     "Locations": [{"Bucket": bucket}]});
    let replaced = cfn
        .update(TYPE, "Role", &data(&created, "RoleArn"), new, old)
        .await;
    assert_success(&replaced);
    assert_ne!(data(&replaced, "RoleName"), data(&created, "RoleName"));
    let state = role_state(&clients, &data(&replaced, "RoleName"))
        .await
        .unwrap();
    assert_eq!(state.path, "/vendor-access/activeloop/");
}

#[tokio::test]
async fn delete_leaves_nothing_behind_and_a_second_delete_succeeds() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let key_arn = support::customer_key(&clients, Some(support::closed_key_policy())).await;
    encrypt(
        &clients,
        &bucket,
        ServerSideEncryption::AwsKms,
        Some(&key_arn),
    )
    .await;
    let cfn = Cfn::new().await;
    let props = json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]});
    let created = cfn.create(TYPE, "Role", props.clone()).await;
    assert_success(&created);
    let (arn, name) = (data(&created, "RoleArn"), data(&created, "RoleName"));
    assert_eq!(grants_on(&clients, &key_arn, &arn).await, 1);

    assert_success(&cfn.delete(TYPE, "Role", &arn, props.clone()).await);
    assert!(role_state(&clients, &name).await.is_none(), "role gone");
    assert_eq!(
        grants_on(&clients, &key_arn, &arn).await,
        0,
        "grant retired"
    );
    let again = cfn.delete(TYPE, "Role", &arn, props).await;
    assert_success(&again);
    assert_eq!(again["PhysicalResourceId"], arn.as_str());
}

#[tokio::test]
async fn a_repeated_create_adopts_the_role_it_already_made() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let props = json!({"Vendor": "lightly", "Locations": [{"Bucket": bucket}]});
    let event = cfn.stack.create("", TYPE, "Role", props);
    let first = cfn.send(event.clone()).await;
    let second = cfn.send(event).await;
    assert_success(&first);
    assert_success(&second);
    assert_eq!(first["PhysicalResourceId"], second["PhysicalResourceId"]);
    assert_eq!(data(&first, "ExternalId"), data(&second, "ExternalId"));
}

#[tokio::test]
async fn a_role_that_is_not_ours_is_refused_and_left_unchanged() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let name = unique("HandMade");
    let hand_made_trust = trust("arn:aws:iam::999999999999:root", None).to_string();
    clients
        .iam
        .create_role()
        .role_name(&name)
        .path("/vendor-access/")
        .assume_role_policy_document(&hand_made_trust)
        .tags(
            Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let cfn = Cfn::new().await;
    let props = json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": bucket}]});
    let response = cfn.create(TYPE, "Role", props.clone()).await;
    assert_eq!(response["Status"], "FAILED");
    assert!(
        reason(&response).contains(&format!("role {name}")),
        "{response}"
    );
    assert!(reason(&response).contains("left unchanged"));
    let state = role_state(&clients, &name).await.unwrap();
    assert_eq!(state.trust, trust("arn:aws:iam::999999999999:root", None));
    assert_eq!(state.policy, Value::Null, "no policy added");
    assert_eq!(
        state.tags,
        vec![("team".to_string(), "platform".to_string())]
    );

    // Nor may another stack's resource delete it through a forged physical id
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/vendor-access/{name}");
    let deleted = cfn.delete(TYPE, "Role", &arn, props).await;
    assert_eq!(deleted["Status"], "FAILED");
    assert!(role_state(&clients, &name).await.is_some());
}

#[tokio::test]
async fn a_role_of_another_stack_is_not_adopted() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let name = unique("Shared");
    let props = json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": bucket}]});
    assert_success(&cfn.create(TYPE, "Role", props.clone()).await);
    let other = cfn.in_new_stack().create(TYPE, "Role", props).await;
    assert_eq!(other["Status"], "FAILED");
    assert!(reason(&other).contains("belongs to"), "{other}");
}

#[tokio::test]
async fn a_missing_bucket_fails_before_anything_is_created() {
    let clients = clients().await;
    let cfn = Cfn::new().await;
    let missing = unique("no-such-bucket").to_lowercase();
    let name = unique("Typo");
    let response = cfn
        .create(
            TYPE,
            "Role",
            json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": missing}]}),
        )
        .await;
    assert_eq!(response["Status"], "FAILED");
    assert!(reason(&response).contains(&missing), "{response}");
    assert!(role_state(&clients, &name).await.is_none());
}

#[tokio::test]
async fn a_missing_bucket_fails_even_when_kms_is_not_inspected() {
    let cfn = Cfn::new().await;
    let missing = unique("gone-bucket").to_lowercase();
    for extra in [
        json!({"KmsAccess": "none"}),
        json!({"KmsKeyArns": "arn:aws:kms:us-east-1:123456789012:key/k"}),
    ] {
        let mut props = json!({"Vendor": "activeloop", "Locations": [{"Bucket": missing}]});
        props
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let response = cfn.create(TYPE, "Role", props).await;
        assert_eq!(response["Status"], "FAILED", "{extra}");
        assert!(
            reason(&response).contains(&format!("bucket {missing:?} does not exist")),
            "{response}"
        );
    }
}

#[tokio::test]
async fn invalid_input_names_every_problem_and_calls_no_aws_api() {
    // GIVEN AWS clients pointed at a server that records every request
    let aws = wiremock::MockServer::start().await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(aws.uri())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .load()
        .await;
    let clients = Clients::new(&config);
    let cfn = Cfn::with_registry(vendor_access::resources::registry(
        &clients,
        &Default::default(),
    ));
    // WHEN the properties are wrong in five ways
    let response = cfn
        .create(
            TYPE,
            "Role",
            json!({"TrustedPrincipal": "*", "ExternalId": "a b", "MaxSessionDuration": 50000,
                   "Locations": [], "ExternalID": "dup", "RolePath": "/admin/"}),
        )
        .await;
    // THEN each is named with its path, and AWS was never called
    assert_eq!(response["Status"], "FAILED");
    let reason = reason(&response);
    for expected in [
        "TrustedPrincipal[0]: \"*\" is a wildcard",
        "ExternalId: holds ' '",
        "MaxSessionDuration: 50000 is outside 3600 to 43200",
        "Locations: must name at least one bucket",
        "ExternalID: unknown property; did you mean ExternalId?",
        "RolePath: \"/admin/\" must be /vendor-access/",
    ] {
        assert!(
            reason.contains(expected),
            "{expected:?} missing from {reason}"
        );
    }
    assert!(
        aws.received_requests().await.unwrap().is_empty(),
        "no AWS call"
    );
}

#[tokio::test]
async fn an_external_id_too_short_or_with_bad_characters_is_refused() {
    let cfn = Cfn::new().await;
    for (id, expected) in [("x", "2 to 1224"), ("ok!", "holds '!'")] {
        let response = cfn
            .create(
                TYPE,
                "Role",
                json!({"Vendor": "lightly", "ExternalId": id, "Locations": [{"Bucket": "abc"}]}),
            )
            .await;
        assert!(reason(&response).contains(expected), "{response}");
    }
}

mod kms {
    use super::*;

    async fn role_for_encrypted_bucket(
        algorithm: ServerSideEncryption,
        key_policy: Option<Option<Value>>,
        extra: Value,
    ) -> (Clients, Value, Option<String>, RoleState) {
        let clients = clients().await;
        let bucket = new_bucket(&clients, "data").await;
        let key_arn = match key_policy {
            Some(policy) => Some(support::customer_key(&clients, policy).await),
            None => None,
        };
        encrypt(&clients, &bucket, algorithm, key_arn.as_deref()).await;
        let cfn = Cfn::new().await;
        let mut props = json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]});
        props
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let response = cfn.create(TYPE, "Role", props).await;
        assert_success(&response);
        let state = role_state(&clients, &data(&response, "RoleName"))
            .await
            .unwrap();
        (clients, response, key_arn, state)
    }

    fn kms_statements(state: &RoleState) -> Vec<Value> {
        state.policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s.to_string().contains("kms:"))
            .cloned()
            .collect()
    }

    #[tokio::test]
    async fn an_sse_s3_bucket_needs_no_kms_access() {
        let (_, response, _, state) =
            role_for_encrypted_bucket(ServerSideEncryption::Aes256, None, json!({})).await;
        assert!(kms_statements(&state).is_empty());
        assert_eq!(data(&response, "KmsKeyArns"), "");
    }

    #[tokio::test]
    async fn the_aws_managed_key_needs_no_kms_access() {
        let (_, response, _, state) =
            role_for_encrypted_bucket(ServerSideEncryption::AwsKms, None, json!({})).await;
        assert!(kms_statements(&state).is_empty());
        assert_eq!(data(&response, "KmsKeyArns"), "");
    }

    #[tokio::test]
    async fn a_customer_key_that_trusts_the_account_gets_an_iam_statement_via_s3() {
        let (clients, response, key_arn, state) =
            role_for_encrypted_bucket(ServerSideEncryption::AwsKms, Some(None), json!({})).await;
        let key_arn = key_arn.unwrap();
        assert_eq!(
            kms_statements(&state),
            vec![json!({"Sid": "KmsViaS31", "Effect": "Allow",
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn,
                        "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}})]
        );
        assert_eq!(data(&response, "KmsKeyArns"), key_arn);
        assert_eq!(
            grants_on(&clients, &key_arn, &data(&response, "RoleArn")).await,
            0
        );
    }

    #[tokio::test]
    async fn a_customer_key_that_does_not_trust_the_account_gets_a_grant() {
        let (clients, response, key_arn, state) = role_for_encrypted_bucket(
            ServerSideEncryption::AwsKms,
            Some(Some(support::closed_key_policy())),
            json!({}),
        )
        .await;
        let key_arn = key_arn.unwrap();
        assert!(
            kms_statements(&state).is_empty(),
            "IAM could not grant it anyway"
        );
        assert_eq!(
            grants_on(&clients, &key_arn, &data(&response, "RoleArn")).await,
            1
        );
        assert!(
            state
                .tags
                .iter()
                .any(|(k, v)| k.starts_with("vendor-access:kms-grant:") && *v == key_arn)
        );
    }

    #[tokio::test]
    async fn kms_access_none_grants_nothing_even_for_an_encrypted_bucket() {
        let (_, response, _, state) = role_for_encrypted_bucket(
            ServerSideEncryption::AwsKms,
            Some(None),
            json!({"KmsAccess": "none"}),
        )
        .await;
        assert!(kms_statements(&state).is_empty());
        assert_eq!(data(&response, "KmsKeyArns"), "");
    }

    #[tokio::test]
    async fn explicit_keys_with_kms_access_grant_override_detection_and_are_retired_on_update() {
        let clients = clients().await;
        let bucket = new_bucket(&clients, "data").await;
        let explicit = support::customer_key(&clients, None).await;
        let cfn = Cfn::new().await;
        let old = json!({"Vendor": "activeloop", "KmsKeyArns": [explicit], "KmsAccess": "grant",
                         "Locations": [{"Bucket": bucket}]});
        let created = cfn.create(TYPE, "Role", old.clone()).await;
        assert_success(&created);
        let arn = data(&created, "RoleArn");
        assert_eq!(grants_on(&clients, &explicit, &arn).await, 1);
        // WHEN the key is no longer named, its grant is retired
        let new = json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]});
        let updated = cfn.update(TYPE, "Role", &arn, new, old).await;
        assert_success(&updated);
        assert_eq!(grants_on(&clients, &explicit, &arn).await, 0);
        let state = role_state(&clients, &data(&updated, "RoleName"))
            .await
            .unwrap();
        assert!(
            !state
                .tags
                .iter()
                .any(|(k, _)| k.starts_with("vendor-access:kms-grant:"))
        );
    }
}

#[tokio::test]
async fn tags_that_would_not_fit_iam_fail_before_the_role_is_made() {
    // GIVEN 40 stack tags and ten keys to grant: 51 tags with the owner tag
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let mut keys = Vec::new();
    for _ in 0..10 {
        keys.push(support::customer_key(&clients, None).await);
    }
    let tags: Vec<Value> = (0..40)
        .map(|i| json!({"Key": format!("tag{i}"), "Value": "v"}))
        .collect();
    let name = unique("TooManyTags");
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Role",
            json!({"Vendor": "activeloop", "RoleName": name, "Tags": tags, "KmsKeyArns": keys,
                   "KmsAccess": "grant", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_eq!(response["Status"], "FAILED");
    assert!(reason(&response).contains("over IAM's 50"), "{response}");
    assert!(
        role_state(&clients, &name).await.is_none(),
        "nothing was made"
    );
}

#[tokio::test]
async fn delete_also_removes_an_inline_policy_someone_added_to_our_role() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let props = json!({"Vendor": "lightly", "Locations": [{"Bucket": bucket}]});
    let created = cfn.create(TYPE, "Role", props.clone()).await;
    let name = data(&created, "RoleName");
    clients
        .iam
        .put_role_policy()
        .role_name(&name)
        .policy_name("added-by-hand")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                   "Action": "s3:ListAllMyBuckets", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_success(
        &cfn.delete(TYPE, "Role", &data(&created, "RoleArn"), props)
            .await,
    );
    assert!(role_state(&clients, &name).await.is_none());
}

#[tokio::test]
async fn a_grant_is_limited_to_the_buckets_encryption_context_when_it_uses_an_s3_bucket_key() {
    // GIVEN a bucket encrypted with a key that does not trust the account, with S3 Bucket Keys
    let clients = clients().await;
    let bucket = new_bucket(&clients, "bucket-key").await;
    let key_arn = support::customer_key(&clients, Some(support::closed_key_policy())).await;
    encrypt_with(
        &clients,
        &bucket,
        ServerSideEncryption::AwsKms,
        Some(&key_arn),
        true,
    )
    .await;
    // WHEN Activeloop's role is created for it
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Role",
            json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&response);
    // THEN its grant only works with the bucket's ARN as encryption context
    let ours = support::grants_to(&clients, &key_arn, &data(&response, "RoleArn")).await;
    assert_eq!(ours.len(), 1);
    let subset = ours[0]
        .constraints()
        .and_then(|c| c.encryption_context_subset())
        .expect("a constraint");
    assert_eq!(
        subset.get("aws:s3:arn").map(String::as_str),
        Some(format!("arn:aws:s3:::{bucket}").as_str())
    );
    assert!(
        !data(&response, "Warnings").contains("cannot be limited"),
        "{response}"
    );
}

#[tokio::test]
async fn a_grant_that_cannot_be_limited_to_s3_is_named_in_the_warnings() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "no-bucket-key").await;
    let key_arn = support::customer_key(&clients, Some(support::closed_key_policy())).await;
    encrypt(
        &clients,
        &bucket,
        ServerSideEncryption::AwsKms,
        Some(&key_arn),
    )
    .await;
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Role",
            json!({"Vendor": "activeloop", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&response);
    let warnings = data(&response, "Warnings");
    assert!(
        warnings.contains(&format!(
            "the KMS grant on {key_arn} cannot be limited to S3"
        )),
        "{warnings}"
    );
}

#[tokio::test]
async fn an_update_names_what_was_changed_by_hand_and_brings_it_back() {
    // GIVEN a Lightly role, deployed
    let clients = clients().await;
    let bucket = new_bucket(&clients, "data").await;
    let cfn = Cfn::new().await;
    let props = json!({"Vendor": "lightly", "Access": "read", "Locations": [{"Bucket": bucket}],
                       "Tags": [{"Key": "team", "Value": "ml"}]});
    let created = cfn.create(TYPE, "Lightly", props.clone()).await;
    assert_success(&created);
    let arn = data(&created, "RoleArn");
    let name = data(&created, "RoleName");
    let deployed = role_state(&clients, &name).await.expect("the role");

    // WHEN an Update changes only a tag, nobody having touched the role
    let retagged = json!({"Vendor": "lightly", "Access": "read", "Locations": [{"Bucket": bucket}],
                          "Tags": [{"Key": "team", "Value": "data"}]});
    let clean = cfn
        .update(TYPE, "Lightly", &arn, retagged.clone(), props.clone())
        .await;

    // THEN it warns of nothing
    assert_success(&clean);
    assert!(
        !data(&clean, "Warnings").contains("outside CloudFormation"),
        "{clean}"
    );

    // WHEN someone opens the trust, shortens the session and widens the policy by hand,
    // and the next Update again changes only a tag
    let opened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]});
    clients
        .iam
        .update_assume_role_policy()
        .role_name(&name)
        .policy_document(opened.to_string())
        .send()
        .await
        .expect("trust changed");
    clients
        .iam
        .update_role()
        .role_name(&name)
        .max_session_duration(3600)
        .send()
        .await
        .expect("session changed");
    let widened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    clients
        .iam
        .put_role_policy()
        .role_name(&name)
        .policy_name("vendor-access-s3")
        .policy_document(widened.to_string())
        .send()
        .await
        .expect("policy changed");
    let props_now = json!({"Vendor": "lightly", "Access": "read", "Locations": [{"Bucket": bucket}],
                           "Tags": [{"Key": "team", "Value": "platform"}]});
    let updated = cfn.update(TYPE, "Lightly", &arn, props_now, retagged).await;

    // THEN the Warnings output names each, and the role is as the stack says again
    assert_success(&updated);
    let warnings = data(&updated, "Warnings");
    assert!(
        warnings.contains("changed outside CloudFormation and brought back to the stack's properties: TrustPolicy, MaxSessionDuration, InlinePolicy"),
        "{warnings}"
    );
    // AND the external id the hand edit removed cannot be known again: a new one is made,
    // and said so
    assert!(warnings.contains("a new one was generated"), "{warnings}");
    let new_id = data(&updated, "ExternalId");
    assert_ne!(new_id, data(&created, "ExternalId"));
    let restored = role_state(&clients, &name).await.expect("the role");
    assert_eq!(
        restored.trust,
        trust("arn:aws:iam::916419735646:root", Some(&new_id))
    );
    assert_ne!(deployed.trust, Value::Null);
    assert_eq!(restored.max_session, 43200);
    assert_eq!(restored.policy, deployed.policy);
}
