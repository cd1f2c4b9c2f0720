//! Lambda delivers an asynchronous event again when it thinks the first delivery failed,
//! sometimes while the first is still running. Every delivery must give the same answer
//! and leave exactly one of everything.

mod support;

use serde_json::{Value, json};
use support::cfn::{Cfn, assert_success};
use support::{clients, new_bucket, unique};

/// The same event delivered twice at once, then once more: three equal answers.
async fn delivered_three_times(cfn: &Cfn, event: Value) -> Value {
    let (first, second) = tokio::join!(cfn.send(event.clone()), cfn.send(event.clone()));
    let third = cfn.send(event).await;
    for response in [&first, &second, &third] {
        assert_success(response);
    }
    assert_eq!(first["PhysicalResourceId"], second["PhysicalResourceId"]);
    assert_eq!(first["PhysicalResourceId"], third["PhysicalResourceId"]);
    assert_eq!(first["Data"], third["Data"]);
    assert_eq!(second["Data"], third["Data"]);
    third
}

#[tokio::test]
async fn a_role_event_delivered_again_makes_one_role_and_one_grant() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "retry").await;
    let key = clients
        .kms
        .create_key()
        .policy(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/key-admin"},
                "Action": "kms:*", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let cfn = Cfn::new().await;
    let name = unique("Retried");
    let event = cfn.stack.create(
        "",
        "Custom::VendorS3Access",
        "Role",
        json!({"Vendor": "activeloop", "RoleName": name, "KmsKeyArns": [key], "KmsAccess": "grant",
               "Locations": [{"Bucket": bucket}]}),
    );
    let response = delivered_three_times(&cfn, event).await;
    let arn = response["Data"]["RoleArn"].as_str().unwrap();
    let grants = clients.kms.list_grants().key_id(&key).send().await.unwrap();
    let ours = grants
        .grants()
        .iter()
        .filter(|g| g.grantee_principal() == Some(arn))
        .count();
    assert_eq!(ours, 1, "one grant");
    let policies = clients
        .iam
        .list_role_policies()
        .role_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(policies.policy_names().len(), 1);
}

#[tokio::test]
async fn a_user_event_delivered_again_makes_one_user_one_key_and_one_secret() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "retry").await;
    let cfn = Cfn::new().await;
    let name = unique("retried-user");
    let event = cfn.stack.create(
        "",
        "Custom::VendorS3User",
        "User",
        json!({"UserName": name, "Locations": [{"Bucket": bucket}]}),
    );
    let response = delivered_three_times(&cfn, event).await;
    let keys = clients
        .iam
        .list_access_keys()
        .user_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1, "one key");
    assert_eq!(
        keys.access_key_metadata()[0].access_key_id(),
        response["Data"]["AccessKeyId"].as_str()
    );
    let secrets = clients.secrets.list_secrets().send().await.unwrap();
    let named = secrets
        .secret_list()
        .iter()
        .filter(|s| s.name() == Some(&format!("vendor-access/{name}")))
        .count();
    assert_eq!(named, 1, "one secret");
}

#[tokio::test]
async fn bucket_events_delivered_again_add_one_rule_and_one_statement() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "retry").await;
    let cfn = Cfn::new().await;
    let cors = cfn.stack.create(
        "",
        "Custom::BucketCors",
        "Cors",
        json!({"Bucket": bucket, "Vendor": "kolena"}),
    );
    delivered_three_times(&cfn, cors).await;
    let rules = clients
        .s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(rules.cors_rules().len(), 1);

    let fence = cfn.stack.create(
        "",
        "Custom::BucketPolicyStatements",
        "Fence",
        json!({"Bucket": bucket, "RestrictToNetwork": {"SourceIps": ["21.21.21.0/24"],
               "ExemptPrincipalArns": ["arn:aws:iam::123456789012:role/admin"]}}),
    );
    let response = delivered_three_times(&cfn, fence).await;
    let policy = clients
        .s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let sids: Vec<&str> = response["Data"]["Sids"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(
        policy["Statement"].as_array().unwrap().len(),
        sids.len(),
        "{policy}"
    );
}
