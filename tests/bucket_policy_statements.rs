//! Custom::BucketPolicyStatements against moto: statements merged into buckets whose
//! policies have statements of their own, as a customer's stacks create, update and delete
//! them.

mod support;

use serde_json::{Value, json};
use support::buckets::{Lambda, own_policy, reason, role};
use support::{ACCOUNT, Stack};
use vendor_access::cfn::OwnerId;

const STATEMENTS: &str = "Custom::BucketPolicyStatements";

fn sid_prefix(stack: &Stack, logical_id: &str) -> String {
    format!("VA{}", OwnerId::new(&stack.stack_id, logical_id).hash())
}

/// The policy without the statements whose Sid starts with `prefix`.
fn without(policy: &Value, prefix: &str) -> Value {
    let mut rest = policy.clone();
    let statements: Vec<Value> = policy["Statement"]
        .as_array()
        .expect("a list of statements")
        .iter()
        .filter(|s| !s["Sid"].as_str().is_some_and(|sid| sid.starts_with(prefix)))
        .cloned()
        .collect();
    rest["Statement"] = Value::Array(statements);
    rest
}

fn sids(policy: &Value, prefix: &str) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .expect("a list of statements")
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .filter(|sid| sid.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn statement<'p>(policy: &'p Value, sid: &str) -> &'p Value {
    policy["Statement"]
        .as_array()
        .expect("a list of statements")
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {policy}"))
}

fn fence(bucket: &str) -> Value {
    json!({
        "Bucket": bucket,
        "RestrictToNetwork": {
            "SourceIps": ["21.21.21.0/24"],
            "SourceVpcs": "vpc-111bbb22",
            "ExemptPrincipalArns": [role("data-admin")],
            "AllowListBucketFor": [role("vendor-access/lightly")]
        }
    })
}

#[tokio::test]
async fn a_network_fence_joins_a_buckets_own_policy_and_delete_restores_it_exactly() {
    // GIVEN a bucket whose policy has an Id and statements of its own
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("fenced").await;
    let original = own_policy(&bucket);
    lambda.put_policy(&bucket, &original).await;
    let stack = Stack::new();
    let prefix = sid_prefix(&stack, "BucketFence");

    // WHEN the Lightly fence is created
    let created = lambda
        .send(stack.create(&lambda.url(), STATEMENTS, "BucketFence", fence(&bucket)))
        .await;

    // THEN the fence's two Deny statements join the policy, which is otherwise unchanged
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let physical_id = created["PhysicalResourceId"].as_str().unwrap().to_string();
    assert_eq!(physical_id, format!("{bucket}/policy/{}", &prefix[2..]));
    let objects = format!("{prefix}DenyObjectsOutsideNetwork");
    let listing = format!("{prefix}DenyListingOutsideNetwork");
    assert_eq!(
        created["Data"]["Sids"],
        format!("{objects},{listing}").as_str()
    );
    let policy = lambda.policy(&bucket).await.expect("a policy");
    assert_eq!(without(&policy, &prefix), original);
    let deny_objects = statement(&policy, &objects);
    assert_eq!(deny_objects["Effect"], "Deny");
    assert_eq!(deny_objects["Resource"], format!("arn:aws:s3:::{bucket}/*"));
    assert_eq!(
        deny_objects["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!([role("data-admin")])
    );
    assert_eq!(
        statement(&policy, &listing)["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!([role("data-admin"), role("vendor-access/lightly")])
    );

    // WHEN the stack is updated with a second range and a statement of its own
    let mut wider = fence(&bucket);
    wider["RestrictToNetwork"]["SourceIps"] = json!(["21.21.21.0/24", "22.22.22.0/24"]);
    wider["Statements"] = json!([{
        "Sid": "LightlyRead",
        "Effect": "Allow",
        "Principal": {"AWS": role("vendor-access/lightly")},
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{bucket}/lightly/*")
    }]);
    let updated = lambda
        .send(stack.update(
            &lambda.url(),
            STATEMENTS,
            "BucketFence",
            &physical_id,
            wider.clone(),
            fence(&bucket),
        ))
        .await;

    // THEN the fence is replaced in place, the new statement is namespaced, theirs unchanged
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["PhysicalResourceId"], physical_id.as_str());
    assert_eq!(
        updated["Data"]["Sids"],
        format!("{prefix}LightlyRead,{objects},{listing}").as_str()
    );
    let policy = lambda.policy(&bucket).await.expect("a policy");
    assert_eq!(without(&policy, &prefix), original);
    assert_eq!(
        sids(&policy, &prefix),
        [format!("{prefix}LightlyRead"), objects.clone(), listing]
    );
    assert_eq!(
        statement(&policy, &objects)["Condition"]["NotIpAddress"]["aws:SourceIp"],
        json!(["21.21.21.0/24", "22.22.22.0/24"])
    );

    // WHEN the stack is deleted
    let deleted = lambda
        .send(stack.delete(
            &lambda.url(),
            STATEMENTS,
            "BucketFence",
            &physical_id,
            wider,
        ))
        .await;

    // THEN the policy is exactly the bucket's own again
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.policy(&bucket).await, Some(original));
}

#[tokio::test]
async fn a_fence_for_a_stack_in_china_names_the_bucket_in_aws_cn() {
    // GIVEN a bucket and a stack in the aws-cn partition
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("fenced-cn").await;
    let stack = Stack::in_partition("aws-cn", "cn-north-1");
    let prefix = sid_prefix(&stack, "BucketFence");
    // WHEN its fence is created
    let mut props = fence(&bucket);
    props["RestrictToNetwork"]["ExemptPrincipalArns"] =
        json!([format!("arn:aws-cn:iam::{ACCOUNT}:role/data-admin")]);
    props["RestrictToNetwork"]["AllowListBucketFor"] = json!([]);
    let created = lambda
        .send(stack.create(&lambda.url(), STATEMENTS, "BucketFence", props))
        .await;
    // THEN its statements name the bucket's aws-cn ARNs
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let policy = lambda.policy(&bucket).await.expect("a policy");
    let objects = statement(&policy, &format!("{prefix}DenyObjectsOutsideNetwork"));
    assert_eq!(objects["Resource"], format!("arn:aws-cn:s3:::{bucket}/*"));
    let listing = statement(&policy, &format!("{prefix}DenyListingOutsideNetwork"));
    assert_eq!(listing["Resource"], format!("arn:aws-cn:s3:::{bucket}"));
}

#[tokio::test]
async fn two_stacks_statements_in_one_policy_coexist_and_leave_independently() {
    // GIVEN a bucket with a policy of its own and two stacks that each add statements
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("shared").await;
    let original = own_policy(&bucket);
    lambda.put_policy(&bucket, &original).await;
    let (fence_stack, partner_stack) = (Stack::new(), Stack::new());
    let partner = json!({"Bucket": bucket, "Statements": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": ["s3:GetObject"],
        "Resource": format!("arn:aws:s3:::{bucket}/partner/*")
    }]});

    // WHEN both are created, one after the other
    let first = lambda
        .send(fence_stack.create(&lambda.url(), STATEMENTS, "Policy", fence(&bucket)))
        .await;
    let second = lambda
        .send(partner_stack.create(&lambda.url(), STATEMENTS, "Policy", partner.clone()))
        .await;

    // THEN both stacks' statements are in the policy beside the bucket's own
    assert_eq!(first["Status"], "SUCCESS", "{first}");
    assert_eq!(second["Status"], "SUCCESS", "{second}");
    let fence_prefix = sid_prefix(&fence_stack, "Policy");
    let partner_prefix = sid_prefix(&partner_stack, "Policy");
    let policy = lambda.policy(&bucket).await.expect("a policy");
    assert_eq!(sids(&policy, &fence_prefix).len(), 2);
    assert_eq!(
        sids(&policy, &partner_prefix),
        [format!("{partner_prefix}Statement1")]
    );
    assert_eq!(
        without(&without(&policy, &fence_prefix), &partner_prefix),
        original
    );
    let partner_only = without(&policy, &fence_prefix);

    // WHEN the fence is deleted, THEN only its statements are gone
    let physical_id = first["PhysicalResourceId"].as_str().unwrap();
    let deleted = lambda
        .send(fence_stack.delete(
            &lambda.url(),
            STATEMENTS,
            "Policy",
            physical_id,
            fence(&bucket),
        ))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.policy(&bucket).await, Some(partner_only));

    // WHEN the partner's statement is deleted too, THEN the policy is the bucket's own
    let physical_id = second["PhysicalResourceId"].as_str().unwrap();
    lambda
        .send(partner_stack.delete(&lambda.url(), STATEMENTS, "Policy", physical_id, partner))
        .await;
    assert_eq!(lambda.policy(&bucket).await, Some(original));
}

#[tokio::test]
async fn a_bucket_without_a_policy_has_none_again_after_delete() {
    // GIVEN a bucket with no policy
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("bare").await;
    let stack = Stack::new();

    // WHEN a fence is created
    let created = lambda
        .send(stack.create(&lambda.url(), STATEMENTS, "Fence", fence(&bucket)))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let policy = lambda.policy(&bucket).await.expect("a policy");
    assert_eq!(policy["Version"], "2012-10-17");
    assert_eq!(policy["Statement"].as_array().map(Vec::len), Some(2));

    // AND deleted
    let physical_id = created["PhysicalResourceId"].as_str().unwrap();
    let deleted = lambda
        .send(stack.delete(
            &lambda.url(),
            STATEMENTS,
            "Fence",
            physical_id,
            fence(&bucket),
        ))
        .await;

    // THEN the bucket has no policy at all
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.policy(&bucket).await, None);
}

#[tokio::test]
async fn a_policy_over_20_kb_is_refused_before_anything_is_written() {
    // GIVEN a bucket whose own policy is just under 20 KB
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("crowded").await;
    let readers: Vec<String> = (0..440).map(|i| role(&format!("reader-{i:04}"))).collect();
    let original = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "ManyReaders",
        "Effect": "Allow",
        "Principal": {"AWS": readers},
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{bucket}/*")
    }]});
    let size = original.to_string().len();
    assert!((19_000..20_480).contains(&size), "{size} bytes");
    lambda.put_policy(&bucket, &original).await;

    // WHEN a fence is added to it
    let refused = lambda
        .send(Stack::new().create(&lambda.url(), STATEMENTS, "Fence", fence(&bucket)))
        .await;

    // THEN the create fails naming the limit, and the policy is untouched
    assert_eq!(refused["Status"], "FAILED");
    let reason = reason(&refused);
    assert!(
        reason.contains(&bucket) && reason.contains("S3 allows at most 20480"),
        "{reason}"
    );
    assert_eq!(lambda.policy(&bucket).await, Some(original));
}

#[tokio::test]
async fn a_fence_that_exempts_nobody_is_refused_unless_the_lockout_risk_is_accepted() {
    // GIVEN a bucket with no policy
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("lockout").await;
    let mut unexempt = json!({
        "Bucket": bucket,
        "RestrictToNetwork": {"SourceVpces": ["vpce-0a23398e8144e3ce8"]}
    });

    // WHEN a fence with no exempt principal is asked for
    let refused = lambda
        .send(Stack::new().create(&lambda.url(), STATEMENTS, "Fence", unexempt.clone()))
        .await;

    // THEN it is refused, saying how to proceed, and nothing is written
    assert_eq!(refused["Status"], "FAILED");
    let reason = reason(&refused);
    assert!(
        reason.contains("RestrictToNetwork.ExemptPrincipalArns")
            && reason.contains("AcceptLockoutRisk"),
        "{reason}"
    );
    assert_eq!(lambda.policy(&bucket).await, None);

    // WHEN the risk is accepted
    unexempt["AcceptLockoutRisk"] = json!("true");
    let accepted = lambda
        .send(Stack::new().create(&lambda.url(), STATEMENTS, "Fence", unexempt))
        .await;

    // THEN the fence is written, exempting only AWS service principals
    assert_eq!(accepted["Status"], "SUCCESS", "{accepted}");
    let policy = lambda.policy(&bucket).await.expect("a policy");
    let condition = &policy["Statement"][0]["Condition"];
    assert_eq!(
        condition,
        &json!({
            "StringNotEquals": {"aws:SourceVpce": ["vpce-0a23398e8144e3ce8"]},
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}
        })
    );
}

#[tokio::test]
async fn a_missing_bucket_fails_by_name_and_deleting_from_it_succeeds() {
    // GIVEN a bucket name with a typo
    let lambda = Lambda::start().await;
    let stack = Stack::new();
    let props = fence("datalkae");

    // WHEN the fence is created on it
    let failed = lambda
        .send(stack.create(&lambda.url(), STATEMENTS, "Fence", props.clone()))
        .await;

    // THEN the reason names the bucket
    assert_eq!(failed["Status"], "FAILED");
    assert!(
        reason(&failed).contains("bucket \"datalkae\" does not exist"),
        "{failed}"
    );

    // AND deleting statements from a bucket that is gone succeeds
    let hash = OwnerId::new(&stack.stack_id, "Fence").hash();
    let deleted = lambda
        .send(stack.delete(
            &lambda.url(),
            STATEMENTS,
            "Fence",
            &format!("datalkae/policy/{hash}"),
            props,
        ))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
}

#[tokio::test]
async fn changing_the_bucket_moves_the_statements_once_cloudformation_deletes_the_old_id() {
    // GIVEN a fence on one bucket that has a policy of its own
    let lambda = Lambda::start().await;
    let old_bucket = lambda.bucket("old").await;
    let original = own_policy(&old_bucket);
    lambda.put_policy(&old_bucket, &original).await;
    let new_bucket = lambda.bucket("new").await;
    let stack = Stack::new();
    let created = lambda
        .send(stack.create(&lambda.url(), STATEMENTS, "Fence", fence(&old_bucket)))
        .await;
    let old_id = created["PhysicalResourceId"].as_str().unwrap().to_string();

    // WHEN the stack is updated to another bucket
    let updated = lambda
        .send(stack.update(
            &lambda.url(),
            STATEMENTS,
            "Fence",
            &old_id,
            fence(&new_bucket),
            fence(&old_bucket),
        ))
        .await;

    // THEN the answer is a new physical id, and the new bucket is fenced
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    let new_id = updated["PhysicalResourceId"].as_str().unwrap();
    assert!(
        new_id.starts_with(&format!("{new_bucket}/policy/")),
        "{new_id}"
    );
    let policy = lambda.policy(&new_bucket).await.expect("a policy");
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!("arn:aws:s3:::{new_bucket}/*")
    );

    // WHEN CloudFormation deletes the old id, THEN the old bucket's policy is its own again
    let deleted = lambda
        .send(stack.delete(
            &lambda.url(),
            STATEMENTS,
            "Fence",
            &old_id,
            fence(&old_bucket),
        ))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.policy(&old_bucket).await, Some(original));
    assert!(lambda.policy(&new_bucket).await.is_some());
}

#[tokio::test]
async fn invalid_statements_are_all_reported_before_any_aws_call() {
    // GIVEN a bucket name that does not exist (any AWS call would say so)
    let lambda = Lambda::start().await;
    let props = json!({
        "Bucket": "no-such-bucket-for-validation",
        "Statements": [{"Effect": "Allow", "Principal": "*", "Action": "iam:PassRole",
                        "Resource": "arn:aws:s3:::another-bucket/*"}],
        "RestrictToNetwork": {"SourceIps": "21.21.21.0/33", "ExemptPrincipalArns": "admin"}
    });

    // WHEN a stack asks for invalid statements
    let refused = lambda
        .send(Stack::new().create(&lambda.url(), STATEMENTS, "Policy", props))
        .await;

    // THEN every problem is named with its path, and no call reached S3
    assert_eq!(refused["Status"], "FAILED");
    let reason = reason(&refused);
    for expected in [
        "Statements[0].Action: bucket policies take only s3: actions",
        "Statements[0].Resource: \"arn:aws:s3:::another-bucket/*\" is neither this bucket",
        "RestrictToNetwork.SourceIps[0]: \"21.21.21.0/33\" is not an IP address",
        "RestrictToNetwork.ExemptPrincipalArns[0]: \"admin\" is not an IAM role or user ARN",
    ] {
        assert!(
            reason.contains(expected),
            "{expected:?} missing from {reason}"
        );
    }
    assert!(!reason.contains("does not exist"), "{reason}");
}

#[tokio::test]
async fn a_bucket_policy_vendors_statements_join_the_buckets_policy_and_leave_it_as_it_was() {
    // GIVEN a bucket with a policy of its own
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("wandb").await;
    let original = own_policy(&bucket);
    lambda.put_policy(&bucket, &original).await;
    let stack = Stack::new();
    let prefix = sid_prefix(&stack, "Wandb");
    let props = json!({"Bucket": bucket, "Vendor": "wandb", "Prefix": "runs/"});

    // WHEN W&B's secure storage connector statements are created
    let created = lambda
        .send(stack.create(&lambda.url(), STATEMENTS, "Wandb", props.clone()))
        .await;

    // THEN W&B's role (its guide's multi-tenant principal) may list the prefix and read,
    // write and delete below it, and the bucket's own statements are untouched
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let policy = lambda.policy(&bucket).await.expect("a policy");
    assert_eq!(without(&policy, &prefix), original);
    let wandb = json!({"AWS": "arn:aws:iam::725579432336:role/WandbIntegration"});
    let ours: Vec<Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["Sid"]
                .as_str()
                .is_some_and(|sid| sid.starts_with(&prefix))
        })
        .cloned()
        .collect();
    assert_eq!(
        ours,
        [
            json!({"Sid": format!("{prefix}VendorListBucket1"), "Effect": "Allow", "Principal": wandb,
                   "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}"),
                   "Condition": {"StringLike": {"s3:prefix": "runs/*"}}}),
            json!({"Sid": format!("{prefix}VendorBucketLocation"), "Effect": "Allow", "Principal": wandb,
                   "Action": "s3:GetBucketLocation", "Resource": format!("arn:aws:s3:::{bucket}")}),
            json!({"Sid": format!("{prefix}VendorReadWriteDeleteObjects"), "Effect": "Allow",
                   "Principal": wandb,
                   "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                   "Resource": format!("arn:aws:s3:::{bucket}/runs/*")}),
        ]
    );

    // WHEN they are deleted, THEN the policy is the bucket's own again
    let physical_id = created["PhysicalResourceId"].as_str().unwrap();
    let deleted = lambda
        .send(stack.delete(&lambda.url(), STATEMENTS, "Wandb", physical_id, props))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.policy(&bucket).await, Some(original));
}

#[tokio::test]
async fn wandb_gets_a_grant_on_the_buckets_key_for_its_own_role_retired_on_delete() {
    // GIVEN a bucket encrypted with a customer managed key and an S3 Bucket Key
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("wandb-kms").await;
    let clients = support::clients().await;
    let key = clients.kms.create_key().send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    support::encrypt_bucket(
        &lambda.s3,
        &bucket,
        aws_sdk_s3::types::ServerSideEncryption::AwsKms,
        Some(&key_arn),
        true,
    )
    .await;
    let wandb = "arn:aws:iam::725579432336:role/WandbIntegration";
    let grants = async || support::grants_to(&clients, &key_arn, wandb).await;
    let stack = Stack::new();
    let props = json!({"Bucket": bucket, "Vendor": "wandb"});

    // WHEN W&B's statements are created
    let created = lambda
        .send(stack.create(&lambda.url(), STATEMENTS, "Wandb", props.clone()))
        .await;

    // THEN W&B's role holds one grant on the key, for reading and writing through the bucket
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(created["Data"]["KmsKeyArns"], key_arn.as_str());
    let held = grants().await;
    assert_eq!(held.len(), 1, "{held:?}");
    let mut operations: Vec<&str> = held[0].operations().iter().map(|o| o.as_str()).collect();
    operations.sort();
    assert_eq!(operations, ["Decrypt", "GenerateDataKey"]);
    let context = held[0]
        .constraints()
        .and_then(|c| c.encryption_context_subset())
        .and_then(|subset| subset.get("aws:s3:arn"))
        .cloned();
    assert_eq!(context, Some(format!("arn:aws:s3:::{bucket}")));

    // WHEN they are deleted, THEN so is the grant
    let physical_id = created["PhysicalResourceId"].as_str().unwrap();
    let deleted = lambda
        .send(stack.delete(&lambda.url(), STATEMENTS, "Wandb", physical_id, props))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert!(grants().await.is_empty());
}
