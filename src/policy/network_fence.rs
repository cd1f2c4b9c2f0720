//! `RestrictToNetwork`: the Deny statements that fence a bucket to networks.
//!
//! How IAM evaluates them, which is why each condition is written the way it is:
//! - All operators of a Condition, and all keys under one operator, must hold for the
//!   statement to apply (AND). The values listed for one key are alternatives (OR); under a
//!   negated operator (`NotIpAddress`, `StringNotEquals`, `ArnNotLike`) the request must
//!   match none of them (NOR).
//! - A negated operator on a key the request does not carry is true. `aws:SourceIp` is
//!   absent from requests through a VPC endpoint; `aws:SourceVpc` and `aws:SourceVpce` are
//!   present only on those. So `NotIpAddress aws:SourceIp` AND `StringNotEquals
//!   aws:SourceVpc / aws:SourceVpce` holds exactly when the request comes from none of the
//!   listed networks, whichever way it reached S3.
//! - `aws:PrincipalIsAWSService` is true for service principals (CloudTrail, log delivery),
//!   false on every other signed request and absent on anonymous ones: `BoolIfExists` false
//!   exempts the services and still covers anonymous requests.
//! - `ArnNotLike aws:PrincipalArn` exempts the listed roles and users (an assumed-role
//!   session carries its role's ARN there); an anonymous request lacks the key, so the
//!   negated operator is true and it stays denied.
//!
//! The Deny therefore applies when the request comes from outside every listed network,
//! from no AWS service principal and from no exempt principal. Services acting for a
//! principal (`aws:ViaAWSService`, e.g. Athena) are not exempt: they call from AWS's
//! network, so such principals must be listed in `ExemptPrincipalArns`.

use super::s3_access::{Network, checked_list};
use super::{Effect, Operator, Partition, Principal, Statement};
use crate::cfn::properties::Fields;
use crate::rules;

/// Sid (after the owner's prefix) of the Deny on object actions.
pub const OBJECTS_SID: &str = "DenyObjectsOutsideNetwork";
/// Sid (after the owner's prefix) of the Deny on listing the bucket.
pub const LISTING_SID: &str = "DenyListingOutsideNetwork";

/// Listing reveals object names, so it is fenced too, except for `AllowListBucketFor`.
const LISTING_ACTIONS: [&str; 3] = [
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
];

/// What `RestrictToNetwork` asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkFence {
    pub network: Network,
    /// Keep every action from anywhere.
    pub exempt_principal_arns: Vec<String>,
    /// Keep listing the bucket from anywhere (Lightly's "minimum policy").
    pub allow_list_bucket_for: Vec<String>,
}

impl NetworkFence {
    pub fn read(fields: &mut Fields<'_>) -> Option<NetworkFence> {
        let fence = NetworkFence {
            network: Network::read(fields),
            exempt_principal_arns: checked_list(
                fields,
                "ExemptPrincipalArns",
                rules::principal_arn_problem,
            ),
            allow_list_bucket_for: checked_list(
                fields,
                "AllowListBucketFor",
                rules::principal_arn_problem,
            ),
        };
        if fence.network.is_open() {
            fields.problem(
                "SourceIps",
                "at least one of SourceIps, SourceVpcs or SourceVpces is required: \
                 they are the network the bucket is fenced to",
            );
        }
        Some(fence)
    }

    /// The Deny statements, without Sid, each with the name its Sid ends in.
    pub fn statements(&self, partition: Partition, bucket: &str) -> Vec<(&'static str, Statement)> {
        let bucket_arn = partition.bucket_arn(bucket);
        let listing_exempt: Vec<String> = self
            .exempt_principal_arns
            .iter()
            .chain(&self.allow_list_bucket_for)
            .cloned()
            .collect();
        let objects = Statement::new(Effect::Deny)
            .actions(vec!["s3:*".into()])
            .resources(vec![format!("{bucket_arn}/*")]);
        let listing = Statement::new(Effect::Deny)
            .actions(LISTING_ACTIONS.iter().map(|a| a.to_string()).collect())
            .resources(vec![bucket_arn]);
        vec![
            (
                OBJECTS_SID,
                self.outside(objects, &self.exempt_principal_arns),
            ),
            (LISTING_SID, self.outside(listing, &listing_exempt)),
        ]
    }

    /// `deny` made to fall on everyone outside the networks, but AWS services and `exempt`.
    fn outside(&self, deny: Statement, exempt: &[String]) -> Statement {
        let network = &self.network;
        let mut deny = deny.principal(Principal::Everyone);
        if !network.source_ips.is_empty() {
            deny = deny.when_any_of(Operator::NotIpAddress, "aws:SourceIp", &network.source_ips);
        }
        if !network.source_vpcs.is_empty() {
            deny = deny.when_any_of(
                Operator::StringNotEquals,
                "aws:SourceVpc",
                &network.source_vpcs,
            );
        }
        if !network.source_vpces.is_empty() {
            deny = deny.when_any_of(
                Operator::StringNotEquals,
                "aws:SourceVpce",
                &network.source_vpces,
            );
        }
        deny = deny.when(
            Operator::BoolIfExists,
            "aws:PrincipalIsAWSService",
            vec!["false".into()],
        );
        if !exempt.is_empty() {
            deny = deny.when_any_of(Operator::ArnNotLike, "aws:PrincipalArn", exempt);
        }
        deny
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lightly_minimum_policy_fences_objects_and_listing_but_lightly_keeps_listing() {
        let fence = NetworkFence {
            network: Network {
                source_ips: vec!["21.21.21.0/24".into()],
                source_vpcs: vec!["vpc-111bbb22".into()],
                source_vpces: vec![],
            },
            exempt_principal_arns: vec!["arn:aws:iam::123456789012:role/admin".into()],
            allow_list_bucket_for: vec!["arn:aws:iam::123456789012:role/lightly".into()],
        };
        let statements = fence.statements(Partition::Aws, "datalake");
        assert_eq!(
            serde_json::to_value(&statements[0].1).unwrap(),
            json!({
                "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": "arn:aws:s3:::datalake/*",
                "Condition": {
                    "NotIpAddress": {"aws:SourceIp": ["21.21.21.0/24"]},
                    "StringNotEquals": {"aws:SourceVpc": ["vpc-111bbb22"]},
                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                    "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/admin"]}
                }
            })
        );
        assert_eq!(statements[1].0, LISTING_SID);
        let listing = serde_json::to_value(&statements[1].1).unwrap();
        assert_eq!(listing["Resource"], "arn:aws:s3:::datalake");
        assert_eq!(listing["Action"][0], "s3:ListBucket");
        assert_eq!(
            listing["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
            json!([
                "arn:aws:iam::123456789012:role/admin",
                "arn:aws:iam::123456789012:role/lightly"
            ])
        );
    }

    #[test]
    fn without_exempt_principals_there_is_no_principal_condition() {
        let fence = NetworkFence {
            network: Network {
                source_vpces: vec!["vpce-0a23398e8144e3ce8".into()],
                ..Network::default()
            },
            ..NetworkFence::default()
        };
        let statements = fence.statements(Partition::Aws, "b");
        let condition = &serde_json::to_value(&statements[0].1).unwrap()["Condition"];
        assert_eq!(
            condition,
            &json!({
                "StringNotEquals": {"aws:SourceVpce": ["vpce-0a23398e8144e3ce8"]},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}
            })
        );
    }
}
