//! The AWS clients, built once per process and shared by every resource type.

use std::time::Duration;

use aws_config::SdkConfig;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// IAM, S3, KMS and Secrets Manager answer the calls made here within seconds.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
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
        let config = &config.to_builder().timeout_config(timeouts).build();
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Clients {
            iam: aws_sdk_iam::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            kms: aws_sdk_kms::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }

    /// Clients configured from the environment, as in Lambda.
    pub async fn from_env() -> Self {
        Self::new(&aws_config::load_from_env().await)
    }
}

/// An AWS error as a person reads it in a stack event: the service's code and message,
/// or the whole error chain when the call never got an answer (a network failure).
pub fn describe_error<E>(error: &E) -> String
where
    E: std::error::Error + aws_sdk_iam::error::ProvideErrorMetadata,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_sdk_iam::error::DisplayErrorContext(error).to_string(),
    }
}
