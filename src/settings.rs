//! What the function's deployer decided, read once at start-up from the environment, and
//! how long it waits for AWS (shorter in tests).

use crate::aws::bucket_documents::Rounds;
use crate::aws::propagation::Backoff;

/// Deployment settings every resource type may need.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The managed policy attached as permissions boundary to every role and user created
    /// (`VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN`); none when running locally without one.
    pub permissions_boundary_arn: Option<String>,
    pub waits: Waits,
}

/// How long to wait for AWS's eventual consistency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Waits {
    /// A new principal that IAM, KMS or S3 does not accept yet.
    pub propagation: Backoff,
    /// A bucket document that does not show our entries after a write.
    pub document_rounds: Rounds,
}

impl Settings {
    pub const PERMISSIONS_BOUNDARY_ENV: &'static str = "VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN";

    pub fn from_env() -> Self {
        Settings {
            permissions_boundary_arn: std::env::var(Self::PERMISSIONS_BOUNDARY_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
            waits: Waits::default(),
        }
    }
}
