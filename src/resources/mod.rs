//! The resource types this function serves, one module each. A new type is one module
//! here and one line in [`registry`].

pub mod bucket_cors;
pub mod bucket_policy_statements;
pub mod vendor_s3_access;
pub mod vendor_s3_user;

use crate::aws::Clients;
use crate::cfn::Registry;
use crate::settings::Settings;

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
        .with(bucket_cors::BucketCors::new(clients, settings))
        .with(bucket_policy_statements::BucketPolicyStatements::new(
            clients, settings,
        ))
}
