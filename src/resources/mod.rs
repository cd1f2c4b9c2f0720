//! The resource types this function serves, one module each.

pub mod bucket_cors;
pub mod bucket_document;
pub mod bucket_part;
pub mod bucket_policy_statements;
pub mod network_fence;
pub mod vendor_s3_access;
pub mod vendor_s3_user;

use crate::aws::Clients;
use crate::cfn::Registry;

/// Deployment settings every resource type may need, read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The managed policy attached as permissions boundary to every role and user created
    /// (`VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN`); none when running locally without one.
    pub permissions_boundary_arn: Option<String>,
}

impl Settings {
    pub const PERMISSIONS_BOUNDARY_ENV: &'static str = "VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN";

    pub fn from_env() -> Self {
        Settings {
            permissions_boundary_arn: std::env::var(Self::PERMISSIONS_BOUNDARY_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }
}

/// Every resource type, registered with the clients and settings it works with.
pub fn registry(clients: &Clients, settings: &Settings) -> Registry {
    Registry::new()
        .with(vendor_s3_access::VendorS3Access::new(
            clients.clone(),
            settings.clone(),
        ))
        .with(vendor_s3_user::VendorS3User::new(
            clients.clone(),
            settings.clone(),
        ))
        .with(bucket_cors::BucketCors::new(clients.s3.clone()))
        .with(bucket_policy_statements::BucketPolicyStatements::new(
            clients.s3.clone(),
        ))
}
