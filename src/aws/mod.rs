//! AWS: the clients, built once per process, and the operations this function performs
//! with them.
//!
//! - [`iam`]: roles and users as one kind of entity, and their access keys.
//! - [`principal`]: the one lifecycle of a role or user this function manages.
//! - [`kms`]: which keys a vendor needs, and grants.
//! - [`secrets`]: access keys kept in Secrets Manager.
//! - [`bucket_documents`]: bucket policies and CORS configurations, merged.
//! - [`cloudformation`]: confirming that a request is CloudFormation's.
//! - [`propagation`]: waiting out IAM's eventual consistency.
//! - [`turns`]: writers of one bucket document taking turns across invocations.

pub mod bucket_documents;
pub mod cloudformation;
pub mod iam;
pub mod kms;
pub mod principal;
pub mod propagation;
pub mod secrets;
pub mod turns;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use crate::http::{CONNECT_TIMEOUT, Https};

/// IAM, S3, KMS and Secrets Manager answer the calls made here within seconds.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Clients {
    /// Clients for `config`. When an endpoint is set (`AWS_ENDPOINT_URL`, a local stand-in
    /// of AWS), S3 uses path-style addressing, since such stand-ins have no per-bucket DNS.
    pub fn new(config: &SdkConfig) -> Self {
        // No AWS call may hang the invocation: a stuck attempt is cut and retried.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        let mut builder = config.to_builder().timeout_config(timeouts);
        if config.http_client().is_none() {
            builder.set_http_client(Some(Https::new().sdk_client()));
        }
        let config = &builder.build();
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Clients {
            iam: aws_sdk_iam::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            kms: aws_sdk_kms::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
        }
    }

    /// Clients configured from the environment and the profile files, with the default
    /// credentials chain (the command line's).
    pub async fn from_env() -> Self {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(Https::new().sdk_client());
        Self::new(&loader.load().await)
    }

    /// Clients as Lambda runs the function, over `https`: the credentials and the region
    /// from the environment, where Lambda puts the execution role's and its own, and none
    /// of the rest of the default chains (profiles, SSO, containers, instance metadata).
    /// That code stays in the binary for the command line, but a Lambda process never runs
    /// it, so its pages need not be resident (bench/README.md).
    pub async fn in_lambda(https: &Https) -> Self {
        use aws_config::environment::{
            EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
        };
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(https.sdk_client())
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .region(EnvironmentVariableRegionProvider::new());
        Self::new(&loader.load().await)
    }
}

/// An error of an AWS call, as every SDK client returns it.
pub trait AwsError: std::error::Error + ProvideErrorMetadata {
    /// The HTTP status of the answer, when there was one.
    fn http_status(&self) -> Option<u16>;
}

impl<E> AwsError for SdkError<E, HttpResponse>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    fn http_status(&self) -> Option<u16> {
        self.raw_response().map(|r| r.status().as_u16())
    }
}

/// An AWS error as a person reads it in a stack event: the service's code and message, or
/// what happened when there was no modelled answer.
pub fn describe_error(error: &impl AwsError) -> String {
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => {
            // No modelled answer (a reset, a timeout, an empty 500): the outer kind and the
            // innermost cause say it in one line, unlike the debug dump of the response.
            let mut innermost: &dyn std::error::Error = error;
            while let Some(source) = innermost.source() {
                innermost = source;
            }
            let outer = match error.http_status() {
                Some(status) => format!("{error} (HTTP {status})"),
                None => error.to_string(),
            };
            let inner = innermost.to_string();
            let text = if inner == outer {
                outer
            } else {
                format!("{outer}: {inner}")
            };
            text.chars().take(300).collect()
        }
    }
}

/// A failed AWS call, reduced to what messages and decisions need: the service's code
/// and message, and the whole as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{described}")]
pub struct CallError {
    pub code: Option<String>,
    pub message: Option<String>,
    pub described: String,
}

impl CallError {
    pub fn of(error: impl AwsError) -> Self {
        CallError {
            code: error.code().map(str::to_string),
            message: error.message().map(str::to_string),
            described: describe_error(&error),
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}
