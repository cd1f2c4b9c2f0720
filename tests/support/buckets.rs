//! Buckets in moto that already have a policy or CORS rules of their own, the function as
//! CloudFormation drives it, and each bucket's documents read back for comparison.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use serde_json::{Value, json};
use vendor_access::cfn::Dispatcher;
use vendor_access::resources::registry;
use wiremock::MockServer;

use super::{ACCOUNT, catcher, clients, deadline_in, dispatcher, response_url, unique};

/// The deployed function with every registered type, and a ResponseURL catcher.
pub struct Lambda {
    dispatcher: Dispatcher,
    catcher: MockServer,
    pub s3: aws_sdk_s3::Client,
}

impl Lambda {
    pub async fn start() -> Lambda {
        let clients = clients().await;
        Lambda {
            dispatcher: dispatcher(registry(&clients, &super::settings())),
            catcher: catcher().await,
            s3: clients.s3,
        }
    }

    /// A fresh ResponseURL for one event.
    pub fn url(&self) -> String {
        response_url(&self.catcher)
    }

    /// Handles one event and returns the response CloudFormation received for it.
    pub async fn send(&self, event: Value) -> Value {
        let url = event["ResponseURL"].clone();
        self.dispatcher
            .handle(&super::event_bytes(&event), deadline_in(60))
            .await
            .expect("the response was delivered");
        let url = url.as_str().expect("the event has a ResponseURL");
        let path = url.split('?').next().unwrap_or(url);
        let requests = self.catcher.received_requests().await.unwrap_or_default();
        let answers: Vec<Value> = requests
            .iter()
            .filter(|r| path.ends_with(r.url.path()))
            .map(|r| serde_json::from_slice(&r.body).expect("response body is JSON"))
            .collect();
        assert_eq!(answers.len(), 1, "exactly one response per event");
        answers.into_iter().next().unwrap_or_default()
    }

    pub async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("bucket created");
        name
    }

    pub async fn put_policy(&self, bucket: &str, policy: &Value) {
        self.s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .expect("policy written");
    }

    /// The bucket policy, parsed; `None` when the bucket has none.
    pub async fn policy(&self, bucket: &str) -> Option<Value> {
        match self.s3.get_bucket_policy().bucket(bucket).send().await {
            Ok(output) => Some(
                serde_json::from_str(output.policy().expect("a policy")).expect("policy is JSON"),
            ),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
            Err(e) => panic!("GetBucketPolicy failed: {e:?}"),
        }
    }

    pub async fn put_cors(&self, bucket: &str, rules: Vec<CorsRule>) {
        let configuration = CorsConfiguration::builder()
            .set_cors_rules(Some(rules))
            .build()
            .expect("a CORS configuration");
        self.s3
            .put_bucket_cors()
            .bucket(bucket)
            .cors_configuration(configuration)
            .send()
            .await
            .expect("CORS written");
    }

    /// The bucket's CORS rules; `None` when it has no CORS configuration.
    pub async fn cors(&self, bucket: &str) -> Option<Vec<CorsRule>> {
        match self.s3.get_bucket_cors().bucket(bucket).send().await {
            Ok(output) => Some(output.cors_rules().to_vec()),
            Err(e) if e.code() == Some("NoSuchCORSConfiguration") => None,
            Err(e) => panic!("GetBucketCors failed: {e:?}"),
        }
    }
}

/// A CORS rule as a bucket owner would have written it by hand.
pub fn cors_rule(id: Option<&str>, origin: &str, methods: &[&str]) -> CorsRule {
    let mut rule = CorsRule::builder()
        .set_id(id.map(str::to_string))
        .allowed_origins(origin)
        .set_allowed_methods(Some(methods.iter().map(|m| m.to_string()).collect()));
    if id.is_some() {
        rule = rule
            .allowed_headers("Authorization")
            .expose_headers("ETag")
            .max_age_seconds(3000);
    }
    rule.build().expect("a CORS rule")
}

pub fn reason(response: &Value) -> &str {
    response["Reason"].as_str().unwrap_or_default()
}

pub fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// A policy as a bucket owner writes it: its own Id, TLS enforced, one reader.
pub fn own_policy(bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Id": "CustomerPolicy",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "AnalyticsRead",
                "Effect": "Allow",
                "Principal": {"AWS": role("analytics")},
                "Action": ["s3:GetObject"],
                "Resource": format!("arn:aws:s3:::{bucket}/reports/*")
            }
        ]
    })
}
