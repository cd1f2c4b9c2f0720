//! The `events/30-bucket-merge` scenario of `make demo`, replayed against moto: a bucket with
//! a policy and CORS rules of its own gets the Kolena CORS rule and a network fence, both are
//! updated and deleted, and the bucket ends exactly as it began.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use support::buckets::{Lambda, cors_rule, own_policy};
use support::{ACCOUNT, Stack, unique};

const BUCKET: &str = "demo-shared-data";

/// The scenario's events in order, as (file name, text with placeholders).
fn events() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events/30-bucket-merge");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the scenario's events")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into();
            (name, std::fs::read_to_string(&path).expect("readable"))
        })
        .collect()
}

/// Fills the placeholders `make demo` fills, and drops its annotations.
fn fill(template: &str, stack: &Stack, url: &str, physical_ids: &HashMap<String, String>) -> Value {
    let mut text = template
        .replace("${ResponseURL}", url)
        .replace("${StackId}", &stack.stack_id)
        .replace("${AccountId}", ACCOUNT)
        .replace("${RequestId}", &unique("request"));
    for (logical_id, physical_id) in physical_ids {
        text = text.replace(
            &format!("${{PhysicalResourceId:{logical_id}}}"),
            physical_id,
        );
    }
    assert!(!text.contains("${"), "an unfilled placeholder in {text}");
    let mut event: Value = serde_json::from_str(&text).expect("JSON");
    if let Value::Object(fields) = &mut event {
        fields.retain(|key, _| !key.starts_with('_'));
    }
    event
}

#[tokio::test]
async fn the_demo_bucket_gets_kolena_cors_and_a_fence_and_ends_exactly_as_it_began() {
    // GIVEN demo-shared-data with a policy and CORS rules of its own
    let lambda = Lambda::start().await;
    lambda
        .s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket created");
    let policy = own_policy(BUCKET);
    let cors = vec![
        cors_rule(Some("website"), "https://www.example.com", &["GET", "HEAD"]),
        cors_rule(None, "*", &["PUT"]),
    ];
    lambda.put_policy(BUCKET, &policy).await;
    lambda.put_cors(BUCKET, cors.clone()).await;

    // WHEN every event of the scenario is sent in order, as the demo does
    let stack = Stack::new();
    let mut physical_ids = HashMap::new();
    let events = events();
    assert_eq!(events.len(), 8, "the scenario's steps");
    for (name, template) in events {
        let annotations: Value = serde_json::from_str(&template).expect("JSON");
        let event = fill(&template, &stack, &lambda.url(), &physical_ids);
        let response = lambda.send(event.clone()).await;

        // THEN each answers as the event expects
        if let Some(expected) = annotations["_expect"].as_str() {
            assert_eq!(response["Status"], expected, "{name}: {response}");
        }
        let logical_id = event["LogicalResourceId"].as_str().unwrap_or_default();
        let physical_id = response["PhysicalResourceId"].as_str().unwrap_or_default();
        physical_ids.insert(logical_id.to_string(), physical_id.to_string());
        if name.starts_with("04-") {
            let merged = lambda.policy(BUCKET).await.expect("a policy");
            assert_eq!(merged["Statement"].as_array().map(Vec::len), Some(4));
            assert_eq!(lambda.cors(BUCKET).await.map(|r| r.len()), Some(4));
        }
    }

    // AND the bucket's policy and CORS rules are exactly what they were
    assert_eq!(lambda.policy(BUCKET).await, Some(policy));
    assert_eq!(lambda.cors(BUCKET).await, Some(cors));
}
