//! Custom::BucketCors against moto: CORS rules merged into buckets that have rules of their
//! own, as a customer's stacks create, update and delete them.

mod support;

use aws_sdk_s3::types::CorsRule;
use serde_json::json;
use support::Stack;
use support::buckets::{Lambda, cors_rule, reason};
use vendor_access::cfn::OwnerId;

const CORS: &str = "Custom::BucketCors";

fn rule_id_prefix(stack: &Stack, logical_id: &str) -> String {
    format!(
        "vendor-access-{}-",
        OwnerId::new(&stack.stack_id, logical_id).hash()
    )
}

/// The bucket's rules that `prefix` does not own, in order.
fn foreign(rules: &[CorsRule], prefix: &str) -> Vec<CorsRule> {
    rules
        .iter()
        .filter(|r| !r.id().is_some_and(|id| id.starts_with(prefix)))
        .cloned()
        .collect()
}

fn owned_ids(rules: &[CorsRule], prefix: &str) -> Vec<String> {
    rules
        .iter()
        .filter_map(|r| r.id())
        .filter(|id| id.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// A bucket with a website rule and an unnamed upload rule of the customer's own.
async fn bucket_with_own_rules(lambda: &Lambda) -> (String, Vec<CorsRule>) {
    let bucket = lambda.bucket("cors").await;
    let own = vec![
        cors_rule(Some("website"), "https://www.example.com", &["GET", "HEAD"]),
        cors_rule(None, "*", &["PUT"]),
    ];
    lambda.put_cors(&bucket, own.clone()).await;
    (bucket, own)
}

#[tokio::test]
async fn the_kolena_rule_joins_a_buckets_own_rules_and_leaves_them_as_they_were() {
    // GIVEN a bucket with CORS rules of its own
    let lambda = Lambda::start().await;
    let (bucket, own) = bucket_with_own_rules(&lambda).await;
    let stack = Stack::new();
    let prefix = rule_id_prefix(&stack, "KolenaCors");
    let kolena = json!({"Vendor": "kolena", "Bucket": bucket});

    // WHEN the Kolena stack is created
    let created = lambda
        .send(stack.create(&lambda.url(), CORS, "KolenaCors", kolena.clone()))
        .await;

    // THEN Kolena's rule follows the bucket's own, which are unchanged
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let physical_id = created["PhysicalResourceId"].as_str().unwrap().to_string();
    assert_eq!(
        physical_id,
        format!(
            "{bucket}/cors/{}",
            &prefix["vendor-access-".len()..prefix.len() - 1]
        )
    );
    assert_eq!(created["Data"]["RuleIds"], format!("{prefix}1"));
    let rules = lambda.cors(&bucket).await.expect("a CORS configuration");
    assert_eq!(foreign(&rules, &prefix), own);
    assert_eq!(rules.len(), 3);
    let ours = &rules[2];
    assert_eq!(ours.allowed_origins(), ["https://app.kolena.io"]);
    assert_eq!(ours.allowed_methods(), ["GET"]);
    assert_eq!(ours.allowed_headers(), ["*"]);

    // WHEN the stack is updated with a second rule
    let mut with_staging = kolena.clone();
    with_staging["Rules"] = json!([{
        "AllowedOrigins": ["https://staging.kolena.io"],
        "AllowedMethods": ["GET", "HEAD"],
        "MaxAgeSeconds": "600"
    }]);
    let updated = lambda
        .send(stack.update(
            &lambda.url(),
            CORS,
            "KolenaCors",
            &physical_id,
            with_staging.clone(),
            kolena,
        ))
        .await;

    // THEN both rules are ours, in place, and the bucket's own are still unchanged
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["PhysicalResourceId"], physical_id.as_str());
    assert_eq!(
        updated["Data"]["RuleIds"],
        format!("{prefix}1,{prefix}2").as_str()
    );
    let rules = lambda.cors(&bucket).await.expect("a CORS configuration");
    assert_eq!(foreign(&rules, &prefix), own);
    assert_eq!(rules[3].max_age_seconds(), Some(600));

    // WHEN the stack is deleted
    let deleted = lambda
        .send(stack.delete(
            &lambda.url(),
            CORS,
            "KolenaCors",
            &physical_id,
            with_staging,
        ))
        .await;

    // THEN the bucket has exactly the rules it had before
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.cors(&bucket).await, Some(own));
}

#[tokio::test]
async fn two_stacks_rules_on_one_bucket_coexist_and_leave_independently() {
    // GIVEN a bucket with rules of its own and two stacks that each add one
    let lambda = Lambda::start().await;
    let (bucket, own) = bucket_with_own_rules(&lambda).await;
    let (kolena_stack, upload_stack) = (Stack::new(), Stack::new());
    let kolena = json!({"Vendor": "kolena", "Bucket": bucket});
    let upload = json!({"Bucket": bucket, "Rules": [
        {"AllowedOrigins": "https://upload.example.com", "AllowedMethods": ["PUT", "POST"]}
    ]});

    // WHEN both are created, one after the other
    let first = lambda
        .send(kolena_stack.create(&lambda.url(), CORS, "Cors", kolena.clone()))
        .await;
    let second = lambda
        .send(upload_stack.create(&lambda.url(), CORS, "Cors", upload.clone()))
        .await;

    // THEN the bucket has its own rules, then the first stack's, then the second's
    assert_eq!(first["Status"], "SUCCESS", "{first}");
    assert_eq!(second["Status"], "SUCCESS", "{second}");
    let kolena_prefix = rule_id_prefix(&kolena_stack, "Cors");
    let upload_prefix = rule_id_prefix(&upload_stack, "Cors");
    let rules = lambda.cors(&bucket).await.expect("a CORS configuration");
    assert_eq!(rules[..2], own[..]);
    assert_eq!(
        owned_ids(&rules, &kolena_prefix),
        [format!("{kolena_prefix}1")]
    );
    assert_eq!(
        owned_ids(&rules, &upload_prefix),
        [format!("{upload_prefix}1")]
    );
    let upload_rules = foreign(&rules, &kolena_prefix);

    // WHEN the first stack is deleted
    let physical_id = first["PhysicalResourceId"].as_str().unwrap();
    let deleted = lambda
        .send(kolena_stack.delete(&lambda.url(), CORS, "Cors", physical_id, kolena))
        .await;

    // THEN only its rule is gone
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.cors(&bucket).await, Some(upload_rules));

    // WHEN the second is deleted too, THEN the bucket is as it was
    let physical_id = second["PhysicalResourceId"].as_str().unwrap();
    lambda
        .send(upload_stack.delete(&lambda.url(), CORS, "Cors", physical_id, upload))
        .await;
    assert_eq!(lambda.cors(&bucket).await, Some(own));
}

#[tokio::test]
async fn a_bucket_without_cors_has_none_again_after_delete() {
    // GIVEN a bucket with no CORS configuration
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("bare").await;
    let stack = Stack::new();
    let props = json!({"Vendor": "kolena", "Bucket": bucket});

    // WHEN the rule is created
    let created = lambda
        .send(stack.create(&lambda.url(), CORS, "Cors", props.clone()))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(lambda.cors(&bucket).await.map(|r| r.len()), Some(1));

    // AND deleted
    let physical_id = created["PhysicalResourceId"].as_str().unwrap();
    let deleted = lambda
        .send(stack.delete(&lambda.url(), CORS, "Cors", physical_id, props))
        .await;

    // THEN the bucket has no CORS configuration at all
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.cors(&bucket).await, None);
}

#[tokio::test]
async fn a_repeated_create_adopts_the_rules_it_already_made() {
    // GIVEN a stack whose CORS rule was created once
    let lambda = Lambda::start().await;
    let (bucket, own) = bucket_with_own_rules(&lambda).await;
    let stack = Stack::new();
    let props = json!({"Vendor": "kolena", "Bucket": bucket});
    lambda
        .send(stack.create(&lambda.url(), CORS, "Cors", props.clone()))
        .await;

    // WHEN CloudFormation sends the same Create again
    let again = lambda
        .send(stack.create(&lambda.url(), CORS, "Cors", props))
        .await;

    // THEN it succeeds with the one rule it already had
    assert_eq!(again["Status"], "SUCCESS", "{again}");
    let rules = lambda.cors(&bucket).await.expect("a CORS configuration");
    assert_eq!(rules.len(), own.len() + 1);
}

#[tokio::test]
async fn a_101st_rule_is_refused_before_anything_is_written() {
    // GIVEN a bucket that already has 99 rules
    let lambda = Lambda::start().await;
    let bucket = lambda.bucket("full").await;
    let own: Vec<CorsRule> = (0..99)
        .map(|i| cors_rule(None, &format!("https://site{i}.example.com"), &["GET"]))
        .collect();
    lambda.put_cors(&bucket, own.clone()).await;

    // WHEN a stack asks for two more
    let props = json!({"Vendor": "kolena", "Bucket": bucket, "Rules": [
        {"AllowedOrigins": ["https://staging.kolena.io"], "AllowedMethods": ["GET"]}
    ]});
    let refused = lambda
        .send(Stack::new().create(&lambda.url(), CORS, "Cors", props))
        .await;

    // THEN the create fails naming the limit, and the bucket is untouched
    assert_eq!(refused["Status"], "FAILED");
    let reason = reason(&refused);
    assert!(
        reason.contains(&bucket) && reason.contains("101 rules") && reason.contains("at most 100"),
        "{reason}"
    );
    assert_eq!(lambda.cors(&bucket).await, Some(own));
}

#[tokio::test]
async fn invalid_rules_are_all_reported_before_any_aws_call() {
    // GIVEN a bucket name that does not exist (any AWS call would say so)
    let lambda = Lambda::start().await;
    let props = json!({"Bucket": "no-such-bucket-for-validation", "Rules": [
        {"AllowedOrigins": ["https://app.kolena.io/"], "AllowedMethods": ["PATCH"]},
        {"AllowedOrigin": ["*"], "AllowedMethods": ["GET"]}
    ]});

    // WHEN a stack asks for invalid rules
    let refused = lambda
        .send(Stack::new().create(&lambda.url(), CORS, "Cors", props))
        .await;

    // THEN every problem is named with its path, and no call reached S3
    assert_eq!(refused["Status"], "FAILED");
    let reason = reason(&refused);
    for expected in [
        "Rules[0].AllowedOrigins[0]: \"https://app.kolena.io/\" has a path",
        "Rules[0].AllowedMethods[0]: must be one of GET, PUT, POST, DELETE, HEAD",
        "Rules[1].AllowedOrigins: is required",
        "Rules[1].AllowedOrigin: unknown property; did you mean AllowedOrigins?",
    ] {
        assert!(
            reason.contains(expected),
            "{expected:?} missing from {reason}"
        );
    }
    assert!(!reason.contains("does not exist"), "{reason}");
}

#[tokio::test]
async fn a_missing_bucket_fails_by_name_and_deleting_from_it_succeeds() {
    // GIVEN a bucket name with a typo
    let lambda = Lambda::start().await;
    let stack = Stack::new();
    let props = json!({"Vendor": "kolena", "Bucket": "share-with-kolna"});

    // WHEN the rule is created on it
    let failed = lambda
        .send(stack.create(&lambda.url(), CORS, "Cors", props.clone()))
        .await;

    // THEN the reason names the bucket
    assert_eq!(failed["Status"], "FAILED");
    assert!(
        reason(&failed).contains("bucket \"share-with-kolna\" does not exist"),
        "{failed}"
    );

    // AND deleting rules from a bucket that is gone succeeds
    let hash = OwnerId::new(&stack.stack_id, "Cors").hash();
    let deleted = lambda
        .send(stack.delete(
            &lambda.url(),
            CORS,
            "Cors",
            &format!("share-with-kolna/cors/{hash}"),
            props,
        ))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
}

#[tokio::test]
async fn changing_the_bucket_moves_the_rules_once_cloudformation_deletes_the_old_id() {
    // GIVEN a rule on one bucket
    let lambda = Lambda::start().await;
    let (old_bucket, own) = bucket_with_own_rules(&lambda).await;
    let new_bucket = lambda.bucket("moved").await;
    let stack = Stack::new();
    let old_props = json!({"Vendor": "kolena", "Bucket": old_bucket});
    let created = lambda
        .send(stack.create(&lambda.url(), CORS, "Cors", old_props.clone()))
        .await;
    let old_id = created["PhysicalResourceId"].as_str().unwrap().to_string();

    // WHEN the stack is updated to another bucket
    let new_props = json!({"Vendor": "kolena", "Bucket": new_bucket});
    let updated = lambda
        .send(stack.update(
            &lambda.url(),
            CORS,
            "Cors",
            &old_id,
            new_props,
            old_props.clone(),
        ))
        .await;

    // THEN the answer is a new physical id on the new bucket, which has the rule
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    let new_id = updated["PhysicalResourceId"].as_str().unwrap();
    assert!(
        new_id.starts_with(&format!("{new_bucket}/cors/")),
        "{new_id}"
    );
    assert_eq!(lambda.cors(&new_bucket).await.map(|r| r.len()), Some(1));

    // WHEN CloudFormation deletes the old id, THEN the old bucket is as it was
    let deleted = lambda
        .send(stack.delete(&lambda.url(), CORS, "Cors", &old_id, old_props))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(lambda.cors(&old_bucket).await, Some(own));
    assert_eq!(lambda.cors(&new_bucket).await.map(|r| r.len()), Some(1));
}
