//! vendor-access: CloudFormation custom resources that give SaaS vendors scoped access to
//! S3 data (roles, users, CORS rules and bucket-policy statements).

pub mod access;
pub mod aws;
pub mod cfn;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod policy;
pub mod principal;
pub mod propagation;
pub mod properties;
pub mod resources;
