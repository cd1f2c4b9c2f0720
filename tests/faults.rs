//! Faults between the function and AWS: throttling, 500s, resets and slow answers.
//! Transient faults are ridden out; lasting ones end in FAILED before the deadline, and
//! whatever a failed Create left behind is removed by the Delete that follows it.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::cfn::{Cfn, assert_success, reason};
use support::faults::{Fault, FaultProxy};
use support::{clients, clients_at, data, moto, new_bucket, unique};
use vendor_access::aws::Clients;
use vendor_access::resources::registry;

const ROLE: &str = "Custom::VendorS3Access";
const USER: &str = "Custom::VendorS3User";

/// A stack whose function reaches moto through the fault proxy.
async fn faulty() -> (Cfn, FaultProxy, Clients) {
    let proxy = FaultProxy::start(&moto().endpoint).await;
    let through_proxy = clients_at(&proxy.endpoint).await;
    let cfn = Cfn::with_registry(registry(&through_proxy, &support::settings()));
    (cfn, proxy, clients().await)
}

async fn role_exists(clients: &Clients, name: &str) -> bool {
    clients.iam.get_role().role_name(name).send().await.is_ok()
}

async fn user_exists(clients: &Clients, name: &str) -> bool {
    clients.iam.get_user().user_name(name).send().await.is_ok()
}

#[tokio::test]
async fn a_role_rides_out_transient_faults_through_create_update_and_delete() {
    let (cfn, proxy, clients) = faulty().await;
    let bucket = new_bucket(&clients, "faults").await;
    let props = json!({"Vendor": "lightly", "Locations": [{"Bucket": bucket}]});
    proxy
        .inject("GetBucketEncryption", Fault::Reset, 1)
        .inject("CreateRole", Fault::Throttle, 2)
        .inject("PutRolePolicy", Fault::ServerError, 1);
    let created = cfn.create(ROLE, "Role", props.clone()).await;
    assert_success(&created);

    let new = json!({"Vendor": "lightly", "Access": "read", "Locations": [{"Bucket": bucket}]});
    proxy.inject("GetRole", Fault::ServerError, 2).inject(
        "PutRolePolicy",
        Fault::Delay(Duration::from_millis(1500)),
        1,
    );
    let arn = data(&created, "RoleArn");
    assert_success(&cfn.update(ROLE, "Role", &arn, new.clone(), props).await);

    proxy
        .inject("DeleteRolePolicy", Fault::Throttle, 1)
        .inject("DeleteRole", Fault::Reset, 1);
    assert_success(&cfn.delete(ROLE, "Role", &arn, new).await);
    assert!(!role_exists(&clients, &data(&created, "RoleName")).await);
    assert_eq!(proxy.injected(), 9, "every scripted fault was hit");
}

#[tokio::test]
async fn a_lasting_iam_outage_fails_the_create_cleanly() {
    let (cfn, proxy, clients) = faulty().await;
    let bucket = new_bucket(&clients, "faults").await;
    let name = unique("Outage");
    proxy.break_("CreateRole", Fault::ServerError);
    let response = cfn
        .create(
            ROLE,
            "Role",
            json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_eq!(response["Status"], "FAILED");
    assert!(reason(&response).contains("CreateRole"), "{response}");
    assert!(reason(&response).contains("HTTP 500"), "{response}");
    assert!(
        response["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("vendor-access:failed-create:")
    );
    assert!(!role_exists(&clients, &name).await);
}

#[tokio::test]
async fn a_create_that_fails_after_making_the_role_rolls_it_back() {
    let (cfn, proxy, clients) = faulty().await;
    let bucket = new_bucket(&clients, "faults").await;
    let name = unique("HalfMade");
    proxy.break_("PutRolePolicy", Fault::ServerError);
    let response = cfn
        .create(
            ROLE,
            "Role",
            json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_eq!(response["Status"], "FAILED");
    assert!(reason(&response).contains("PutRolePolicy"), "{response}");
    assert!(
        !role_exists(&clients, &name).await,
        "the role it made was removed again"
    );
    assert!(
        response["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("vendor-access:failed-create:")
    );
}

#[tokio::test]
async fn what_a_failed_create_could_not_roll_back_is_removed_by_the_rollback_delete() {
    let (cfn, proxy, clients) = faulty().await;
    let bucket = new_bucket(&clients, "faults").await;
    let name = unique("LeftBehind");
    let props = json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": bucket}]});
    // GIVEN IAM fails the policy write and the rollback's role deletion
    proxy
        .break_("PutRolePolicy", Fault::ServerError)
        .break_("DeleteRole", Fault::ServerError);
    let failed = cfn.create(ROLE, "Role", props.clone()).await;
    // THEN the FAILED answer names the role it left, not the marker
    assert_eq!(failed["Status"], "FAILED");
    let left = failed["PhysicalResourceId"].as_str().unwrap().to_string();
    assert!(left.ends_with(&format!("/{name}")), "{failed}");
    assert!(role_exists(&clients, &name).await);
    // WHEN IAM recovers and CloudFormation deletes that id
    proxy.heal();
    assert_success(&cfn.delete(ROLE, "Role", &left, props).await);
    assert!(!role_exists(&clients, &name).await);
}

#[tokio::test]
async fn a_hung_aws_call_is_answered_failed_before_the_deadline() {
    let (cfn, proxy, clients) = faulty().await;
    let cfn = cfn.with_deadline(8);
    let bucket = new_bucket(&clients, "faults").await;
    proxy.break_("CreateRole", Fault::Delay(Duration::from_secs(120)));
    let started = Instant::now();
    let response = cfn
        .create(
            ROLE,
            "Role",
            json!({"Vendor": "lightly", "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(response["Status"], "FAILED");
    assert!(reason(&response).contains("timed out"), "{response}");
    assert!(
        took <= Duration::from_secs(6),
        "answered after {took:?}, not 2 s before the deadline"
    );
}

#[tokio::test]
async fn a_create_abandoned_after_making_the_role_answers_with_the_role_so_delete_cleans_up() {
    let (cfn, proxy, clients) = faulty().await;
    let cfn = cfn.with_deadline(8);
    let bucket = new_bucket(&clients, "faults").await;
    let name = unique("Abandoned");
    let props = json!({"Vendor": "lightly", "RoleName": name, "Locations": [{"Bucket": bucket}]});
    proxy.break_("PutRolePolicy", Fault::Delay(Duration::from_secs(120)));
    let failed = cfn.create(ROLE, "Role", props.clone()).await;
    assert!(reason(&failed).contains("timed out"), "{failed}");
    let left = failed["PhysicalResourceId"].as_str().unwrap().to_string();
    assert!(left.ends_with(&format!("/{name}")), "{failed}");
    proxy.heal();
    assert_success(&cfn.delete(ROLE, "Role", &left, props).await);
    assert!(!role_exists(&clients, &name).await);
}

#[tokio::test]
async fn a_user_rides_out_transient_faults_and_a_lasting_one_leaves_nothing() {
    let (cfn, proxy, clients) = faulty().await;
    let bucket = new_bucket(&clients, "faults").await;
    let props = json!({"Locations": [{"Bucket": bucket}], "SecretRecoveryWindowDays": 0});
    proxy
        .inject("CreateUser", Fault::Throttle, 1)
        .inject("CreateAccessKey", Fault::Reset, 1)
        .inject("CreateSecret", Fault::Throttle, 2);
    let created = cfn.create(USER, "User", props.clone()).await;
    assert_success(&created);
    proxy
        .inject("DeleteSecret", Fault::ServerError, 1)
        .inject("DeleteUser", Fault::Throttle, 1);
    assert_success(
        &cfn.delete(USER, "User", &data(&created, "UserArn"), props.clone())
            .await,
    );
    assert!(!user_exists(&clients, &data(&created, "UserName")).await);

    // A Secrets Manager outage: the user made for the key is rolled back
    let name = unique("no-secrets");
    let mut props = props;
    props["UserName"] = json!(name);
    proxy.break_("CreateSecret", Fault::ServerError);
    let failed = cfn.create(USER, "User", props).await;
    assert_eq!(failed["Status"], "FAILED");
    assert!(reason(&failed).contains("CreateSecret"), "{failed}");
    assert!(!user_exists(&clients, &name).await);
}
