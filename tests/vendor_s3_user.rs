//! `Custom::VendorS3User` against moto: Lightly's "IAM user access" guide as a resource.

mod support;

use aws_sdk_iam::types::StatusType;
use serde_json::{Value, json};
use support::cfn::{Cfn, assert_success, reason};
use support::logs::CapturedLogs;
use support::{SIGNATURE, clients, data, new_bucket, unique};
use vendor_access::aws::Clients;
use vendor_access::policy::decode_document;

const TYPE: &str = "Custom::VendorS3User";

/// (id, status) of every access key of the user.
async fn keys(clients: &Clients, user: &str) -> Vec<(String, StatusType)> {
    clients
        .iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("keys listed")
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_string(),
                k.status().unwrap().clone(),
            )
        })
        .collect()
}

/// The key pair stored in a secret.
async fn stored(clients: &Clients, secret: &str) -> (String, String) {
    let value = clients
        .secrets
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .expect("secret readable");
    let json: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    (
        json["AccessKeyId"].as_str().unwrap().to_string(),
        json["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

async fn user_exists(clients: &Clients, name: &str) -> bool {
    clients.iam.get_user().user_name(name).send().await.is_ok()
}

fn lightly_user(bucket: &str, serial: i64) -> Value {
    json!({"Locations": [{"Bucket": bucket, "Prefix": "projects/farm-animals/"}],
           "Serial": serial.to_string()})
}

#[tokio::test]
async fn a_user_gets_one_working_key_stored_in_secrets_manager() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "user-data").await;
    let cfn = Cfn::new().await;
    let (logs, _guard) = CapturedLogs::start();
    let response = cfn
        .create(TYPE, "LightlyUser", lightly_user(&bucket, 1))
        .await;
    assert_success(&response);
    let name = data(&response, "UserName");
    let key_id = data(&response, "AccessKeyId");
    assert_eq!(response["PhysicalResourceId"], data(&response, "UserArn"));
    assert!(
        response["Data"].get("SecretAccessKey").is_none(),
        "the secret stays in Secrets Manager"
    );
    assert_ne!(response["NoEcho"], true);
    // THEN the secret holds the user's one active key
    let (stored_id, secret) = stored(&clients, &data(&response, "SecretArn")).await;
    assert_eq!(stored_id, key_id);
    assert_eq!(secret.len(), 40);
    assert_eq!(
        keys(&clients, &name).await,
        vec![(key_id, StatusType::Active)]
    );
    // AND its policy is scoped to the prefix, without the guide's s3:*
    let policy = clients
        .iam
        .get_user_policy()
        .user_name(&name)
        .policy_name("vendor-access-s3")
        .send()
        .await
        .unwrap();
    let policy = decode_document(policy.policy_document()).unwrap();
    assert_eq!(
        policy["Statement"][2],
        json!({"Sid": "ReadObjects", "Effect": "Allow", "Action": "s3:GetObject",
               "Resource": format!("arn:aws:s3:::{bucket}/projects/farm-animals/*")})
    );
    // AND the secret never reached the logs
    logs.assert_free_of(&[&secret, SIGNATURE]);
}

#[tokio::test]
async fn raising_serial_rotates_to_a_new_key_and_leaves_exactly_one() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "user-data").await;
    let cfn = Cfn::new().await;
    let (logs, _guard) = CapturedLogs::start();
    let created = cfn.create(TYPE, "User", lightly_user(&bucket, 1)).await;
    let arn = data(&created, "UserArn");
    let name = data(&created, "UserName");
    let old_key = data(&created, "AccessKeyId");
    let (_, old_secret) = stored(&clients, &data(&created, "SecretArn")).await;

    // An update that does not raise Serial keeps the key
    let same = cfn
        .update(
            TYPE,
            "User",
            &arn,
            lightly_user(&bucket, 1),
            lightly_user(&bucket, 1),
        )
        .await;
    assert_success(&same);
    assert_eq!(data(&same, "AccessKeyId"), old_key);

    let rotated = cfn
        .update(
            TYPE,
            "User",
            &arn,
            lightly_user(&bucket, 2),
            lightly_user(&bucket, 1),
        )
        .await;
    assert_success(&rotated);
    let new_key = data(&rotated, "AccessKeyId");
    assert_ne!(new_key, old_key);
    assert_eq!(rotated["PhysicalResourceId"], arn.as_str());
    assert_eq!(
        keys(&clients, &name).await,
        vec![(new_key.clone(), StatusType::Active)]
    );
    let (stored_id, new_secret) = stored(&clients, &data(&rotated, "SecretArn")).await;
    assert_eq!(stored_id, new_key);
    logs.assert_free_of(&[&old_secret, &new_secret]);
}

#[tokio::test]
async fn attribute_storage_returns_the_secret_only_in_no_echo_data() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "user-data").await;
    let cfn = Cfn::new().await;
    let (logs, _guard) = CapturedLogs::start();
    let mut props = lightly_user(&bucket, 1);
    props["SecretStorage"] = json!("attribute");
    let response = cfn.create(TYPE, "User", props).await;
    assert_success(&response);
    assert_eq!(response["NoEcho"], true);
    let secret = data(&response, "SecretAccessKey");
    assert_eq!(secret.len(), 40);
    assert!(response["Data"].get("SecretArn").is_none());
    let name = data(&response, "UserName");
    let listed = clients.secrets.list_secrets().send().await.unwrap();
    assert!(
        !listed
            .secret_list()
            .iter()
            .any(|s| s.name().unwrap_or_default().ends_with(&name)),
        "no secret is stored"
    );
    logs.assert_free_of(&[&secret]);
}

#[tokio::test]
async fn delete_leaves_no_user_key_or_secret_behind() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "user-data").await;
    let cfn = Cfn::new().await;
    let mut props = lightly_user(&bucket, 1);
    props["SecretRecoveryWindowDays"] = json!("0");
    let created = cfn.create(TYPE, "User", props.clone()).await;
    let (arn, name, secret) = (
        data(&created, "UserArn"),
        data(&created, "UserName"),
        data(&created, "SecretArn"),
    );
    assert_success(&cfn.delete(TYPE, "User", &arn, props.clone()).await);
    assert!(!user_exists(&clients, &name).await);
    let gone = clients
        .secrets
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await;
    assert!(gone.is_err(), "secret deleted without recovery window");
    assert_success(&cfn.delete(TYPE, "User", &arn, props).await);
}

#[tokio::test]
async fn by_default_a_deleted_secret_keeps_its_recovery_window() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "user-data").await;
    let cfn = Cfn::new().await;
    let props = lightly_user(&bucket, 1);
    let created = cfn.create(TYPE, "User", props.clone()).await;
    let secret = data(&created, "SecretArn");
    assert_success(
        &cfn.delete(TYPE, "User", &data(&created, "UserArn"), props)
            .await,
    );
    let described = clients
        .secrets
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await
        .unwrap();
    assert!(
        described.deleted_date().is_some(),
        "scheduled for deletion, still recoverable"
    );
}

#[tokio::test]
async fn a_user_that_is_not_ours_is_refused_and_left_unchanged() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "user-data").await;
    let name = unique("hand-made-user");
    clients
        .iam
        .create_user()
        .user_name(&name)
        .path("/vendor-access/")
        .send()
        .await
        .unwrap();
    let cfn = Cfn::new().await;
    let mut props = lightly_user(&bucket, 1);
    props["UserName"] = json!(name);
    let response = cfn.create(TYPE, "User", props).await;
    assert_eq!(response["Status"], "FAILED");
    assert!(
        reason(&response).contains(&format!("user {name}")),
        "{response}"
    );
    assert!(keys(&clients, &name).await.is_empty(), "no key was added");
    let policies = clients
        .iam
        .list_user_policies()
        .user_name(&name)
        .send()
        .await
        .unwrap();
    assert!(policies.policy_names().is_empty());
}

#[tokio::test]
async fn a_rotation_that_cannot_store_the_new_key_leaves_the_old_key_working() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "user-data").await;
    // GIVEN a secret of someone else's under the name the rotation will write to
    let foreign = format!("vendor-access/{}", unique("someone-else"));
    clients
        .secrets
        .create_secret()
        .name(&foreign)
        .secret_string("{\"theirs\": true}")
        .send()
        .await
        .unwrap();
    let cfn = Cfn::new().await;
    let created = cfn.create(TYPE, "User", lightly_user(&bucket, 1)).await;
    let name = data(&created, "UserName");
    let old_key = data(&created, "AccessKeyId");
    // WHEN the update rotates the key into that secret
    let mut new = lightly_user(&bucket, 2);
    new["SecretName"] = json!(foreign);
    let failed = cfn
        .update(
            TYPE,
            "User",
            &data(&created, "UserArn"),
            new,
            lightly_user(&bucket, 1),
        )
        .await;
    // THEN it fails, the old key is still the only key, and their secret is untouched
    assert_eq!(failed["Status"], "FAILED");
    assert!(
        reason(&failed).contains(&format!("secret {foreign}")),
        "{failed}"
    );
    assert_eq!(
        keys(&clients, &name).await,
        vec![(old_key.clone(), StatusType::Active)]
    );
    let (stored_id, _) = stored(&clients, &data(&created, "SecretArn")).await;
    assert_eq!(stored_id, old_key);
    let theirs = clients
        .secrets
        .get_secret_value()
        .secret_id(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.secret_string(), Some("{\"theirs\": true}"));
}

#[tokio::test]
async fn invalid_user_properties_are_all_named() {
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "User",
            json!({"Locations": [{"Bucket": "Bad_Bucket"}], "Serial": "0",
                   "SecretStorage": "vault", "SecretName": "prod/keys",
                   "SecretRecoveryWindowDays": 3, "UserPath": "/"}),
        )
        .await;
    let reason = reason(&response);
    for expected in [
        "Locations[0].Bucket:",
        "Serial: must be 1 or more",
        "SecretStorage: must be one of secrets-manager, attribute",
        "SecretName: must start with vendor-access/",
        "SecretRecoveryWindowDays: must be 7 to 30",
        "UserPath:",
    ] {
        assert!(
            reason.contains(expected),
            "{expected:?} missing from {reason}"
        );
    }
}

#[test]
#[should_panic(expected = "shaped like a secret access key")]
fn the_log_scan_catches_a_logged_secret_key() {
    let (logs, _capture) = CapturedLogs::start();
    tracing::info!(key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "oops");
    logs.assert_no_secret_shapes();
}
