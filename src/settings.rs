//! What the function's deployer decided, read once at start-up from the environment, and
//! how long it waits for AWS (shorter in tests).

use crate::aws::bucket_documents::Rounds;
use crate::aws::propagation::Backoff;
use crate::aws::turns::{LOCK_BUCKET_ENV, TurnWaits};
use crate::guardrails::Guardrails;

/// Says that the AWS endpoint (`AWS_ENDPOINT_URL`) is a local stand-in of AWS, such as moto.
/// Only then, and only when that endpoint is on a loopback address, may requests go
/// unconfirmed by CloudFormation and roles be made without a boundary. `template.yaml`
/// never sets it (its test checks that).
pub const LOCAL_STANDIN_ENV: &str = "VENDOR_ACCESS_LOCAL_STANDIN";

/// With a local stand-in: roles and users may be created without a permissions boundary.
pub const ALLOW_NO_BOUNDARY_ENV: &str = "VENDOR_ACCESS_ALLOW_NO_BOUNDARY";

/// Deployment settings every resource type may need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The managed policy attached as permissions boundary to every role and user created
    /// (`VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN`).
    pub permissions_boundary_arn: Option<String>,
    pub guardrails: Guardrails,
    /// Every request is confirmed with CloudFormation before anything is written.
    pub confirm_requests: bool,
    /// Roles and users may be created without a boundary (local stand-ins only).
    pub allow_no_boundary: bool,
    /// The bucket whose lease objects make writers of one bucket document take turns
    /// (`VENDOR_ACCESS_LOCK_BUCKET`); without it nothing is coordinated, and the function
    /// must run one invocation at a time.
    pub lock_bucket: Option<String>,
    pub waits: Waits,
}

/// The strict settings: nothing allowed that the deployer did not allow.
impl Default for Settings {
    fn default() -> Self {
        Settings {
            permissions_boundary_arn: None,
            guardrails: Guardrails::default(),
            confirm_requests: true,
            allow_no_boundary: false,
            lock_bucket: None,
            waits: Waits::default(),
        }
    }
}

/// How long to wait for AWS's eventual consistency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Waits {
    /// A new principal that IAM, KMS or S3 does not accept yet.
    pub propagation: Backoff,
    /// A bucket document that does not show our entries after a write.
    pub document_rounds: Rounds,
    /// Another request's turn on the same bucket document.
    pub turns: TurnWaits,
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether `AWS_ENDPOINT_URL` names a loopback host and the stand-in setting is given.
pub fn is_local_standin() -> bool {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let host = url::Url::parse(&endpoint)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    flag(LOCAL_STANDIN_ENV) && loopback
}

impl Settings {
    pub const PERMISSIONS_BOUNDARY_ENV: &'static str = "VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN";

    pub fn from_env() -> Self {
        let local = is_local_standin();
        if flag(LOCAL_STANDIN_ENV) && !local {
            tracing::warn!(
                "{LOCAL_STANDIN_ENV} is ignored: AWS_ENDPOINT_URL is not a loopback address"
            );
        }
        Settings {
            permissions_boundary_arn: std::env::var(Self::PERMISSIONS_BOUNDARY_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
            guardrails: Guardrails::from_env(),
            confirm_requests: !local,
            allow_no_boundary: local && flag(ALLOW_NO_BOUNDARY_ENV),
            lock_bucket: std::env::var(LOCK_BUCKET_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty()),
            waits: Waits::default(),
        }
    }
}
