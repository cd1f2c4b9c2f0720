//! vendor-access: CloudFormation custom resources that give SaaS vendors scoped access to
//! S3 data (roles, users, CORS rules and bucket-policy statements).
//!
//! - [`cfn`]: the CloudFormation protocol (request, response, sender, properties reader,
//!   the Lambda adapter). Knows nothing about IAM or S3.
//! - [`rules`]: the input rules every resource type shares.
//! - [`policy`]: policy documents as typed values, and the builders of ours.
//! - [`aws`]: the clients and the operations on IAM, KMS, Secrets Manager and S3.
//! - [`http`]: the one HTTP client type, for the SDK and the response PUT.
//! - [`vendors`]: the vendor catalog, as data.
//! - [`resources`]: the resource types.
//! - [`settings`]: what the deployer decided.

pub mod aws;
pub mod cfn;
pub mod cli;
pub mod guardrails;
pub mod http;
pub mod logging;
pub mod policy;
pub mod resources;
pub mod rules;
pub mod settings;
pub mod vendors;
