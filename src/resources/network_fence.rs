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

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::properties::Fields;

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
    pub source_ips: Vec<String>,
    pub source_vpcs: Vec<String>,
    pub source_vpces: Vec<String>,
    /// Keep every action from anywhere.
    pub exempt_principal_arns: Vec<String>,
    /// Keep listing the bucket from anywhere (Lightly's "minimum policy").
    pub allow_list_bucket_for: Vec<String>,
}

impl NetworkFence {
    pub fn read(fields: &mut Fields<'_>) -> Option<NetworkFence> {
        let fence = NetworkFence {
            source_ips: checked_list(fields, "SourceIps", source_ip_problem),
            source_vpcs: checked_list(fields, "SourceVpcs", |id| id_problem(id, "vpc")),
            source_vpces: checked_list(fields, "SourceVpces", |id| id_problem(id, "vpce")),
            exempt_principal_arns: checked_list(
                fields,
                "ExemptPrincipalArns",
                principal_arn_problem,
            ),
            allow_list_bucket_for: checked_list(
                fields,
                "AllowListBucketFor",
                principal_arn_problem,
            ),
        };
        if fence.source_ips.is_empty()
            && fence.source_vpcs.is_empty()
            && fence.source_vpces.is_empty()
        {
            fields.problem(
                "SourceIps",
                "at least one of SourceIps, SourceVpcs or SourceVpces is required: \
                 they are the network the bucket is fenced to",
            );
        }
        Some(fence)
    }

    /// The Deny statements, without Sid, each with the name its Sid ends in.
    pub fn statements(&self, bucket_arn: &str) -> Vec<(&'static str, Map<String, Value>)> {
        let listing_exempt: Vec<&String> = self
            .exempt_principal_arns
            .iter()
            .chain(&self.allow_list_bucket_for)
            .collect();
        vec![
            (
                OBJECTS_SID,
                self.deny(
                    json!("s3:*"),
                    format!("{bucket_arn}/*"),
                    &self.exempt_principal_arns,
                ),
            ),
            (
                LISTING_SID,
                self.deny(
                    json!(LISTING_ACTIONS),
                    bucket_arn.to_string(),
                    &listing_exempt,
                ),
            ),
        ]
    }

    fn deny<S: serde::Serialize>(
        &self,
        action: Value,
        resource: String,
        exempt: &[S],
    ) -> Map<String, Value> {
        let mut condition = Map::new();
        if !self.source_ips.is_empty() {
            condition.insert(
                "NotIpAddress".into(),
                json!({"aws:SourceIp": self.source_ips}),
            );
        }
        let mut outside_vpcs = Map::new();
        if !self.source_vpcs.is_empty() {
            outside_vpcs.insert("aws:SourceVpc".into(), json!(self.source_vpcs));
        }
        if !self.source_vpces.is_empty() {
            outside_vpcs.insert("aws:SourceVpce".into(), json!(self.source_vpces));
        }
        if !outside_vpcs.is_empty() {
            condition.insert("StringNotEquals".into(), Value::Object(outside_vpcs));
        }
        condition.insert(
            "BoolIfExists".into(),
            json!({"aws:PrincipalIsAWSService": "false"}),
        );
        if !exempt.is_empty() {
            condition.insert("ArnNotLike".into(), json!({"aws:PrincipalArn": exempt}));
        }
        let mut statement = Map::new();
        statement.insert("Effect".into(), json!("Deny"));
        statement.insert("Principal".into(), json!("*"));
        statement.insert("Action".into(), action);
        statement.insert("Resource".into(), json!(resource));
        statement.insert("Condition".into(), Value::Object(condition));
        statement
    }
}

fn checked_list(
    fields: &mut Fields<'_>,
    name: &'static str,
    problem: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let items = fields.string_list(name).unwrap_or_default();
    fields.check_items(name, &items, problem);
    items
}

/// An IP address or CIDR range, IPv4 or IPv6, as `aws:SourceIp` takes it.
pub fn source_ip_problem(range: &str) -> Option<String> {
    let (address, prefix) = match range.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (range, None),
    };
    let bad = || {
        Some(format!(
            "{range:?} is not an IP address or CIDR range (e.g. 21.21.21.0/24)"
        ))
    };
    let Ok(ip) = address.parse::<IpAddr>() else {
        return bad();
    };
    let longest = if ip.is_ipv4() { 32 } else { 128 };
    match prefix.map(str::parse::<u8>) {
        None => None,
        Some(Ok(bits)) if bits <= longest => None,
        Some(_) => bad(),
    }
}

/// A VPC (`vpc-…`) or VPC endpoint (`vpce-…`) id.
fn id_problem(id: &str, kind: &str) -> Option<String> {
    let digits = id
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix('-'));
    let well_formed = digits
        .is_some_and(|d| (8..=17).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_hexdigit()));
    (!well_formed).then(|| format!("{id:?} is not a {kind} id (e.g. {kind}-1a2b3c4d)"))
}

/// A role or user ARN as `aws:PrincipalArn` carries it; `*` and `?` may stand in the name.
pub fn principal_arn_problem(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (*resource == "root"
                    || resource
                        .strip_prefix("role/")
                        .is_some_and(|n| !n.is_empty())
                    || resource
                        .strip_prefix("user/")
                        .is_some_and(|n| !n.is_empty())) =>
        {
            None
        }
        ["arn", _, "sts", _, _, resource] if resource.starts_with("assumed-role/") => {
            Some(format!(
                "{arn:?} is a session; name its role instead (arn:aws:iam::ACCOUNT:role/NAME), \
                 which is what aws:PrincipalArn carries"
            ))
        }
        _ => Some(format!(
            "{arn:?} is not an IAM role or user ARN (e.g. arn:aws:iam::123456789012:role/NAME)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightly_minimum_policy_fences_objects_and_listing_but_lightly_keeps_listing() {
        let fence = NetworkFence {
            source_ips: vec!["21.21.21.0/24".into()],
            source_vpcs: vec!["vpc-111bbb22".into()],
            source_vpces: vec![],
            exempt_principal_arns: vec!["arn:aws:iam::123456789012:role/admin".into()],
            allow_list_bucket_for: vec!["arn:aws:iam::123456789012:role/lightly".into()],
        };
        let statements = fence.statements("arn:aws:s3:::datalake");
        assert_eq!(
            Value::Object(statements[0].1.clone()),
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
        let listing = &statements[1].1;
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
            source_vpces: vec!["vpce-0a23398e8144e3ce8".into()],
            ..NetworkFence::default()
        };
        let statements = fence.statements("arn:aws:s3:::b");
        let condition = &statements[0].1["Condition"];
        assert_eq!(
            condition,
            &json!({
                "StringNotEquals": {"aws:SourceVpce": ["vpce-0a23398e8144e3ce8"]},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}
            })
        );
    }

    #[test]
    fn addresses_ids_and_arns_are_checked() {
        assert_eq!(source_ip_problem("21.21.21.0/24"), None);
        assert_eq!(source_ip_problem("2001:db8::/32"), None);
        assert_eq!(source_ip_problem("10.0.0.1"), None);
        assert!(source_ip_problem("10.0.0.0/33").is_some());
        assert!(source_ip_problem("21.21.21.x").is_some());
        assert_eq!(id_problem("vpc-111bbb22", "vpc"), None);
        assert!(id_problem("vpce-111bbb22", "vpc").is_some());
        assert!(id_problem("vpc-xyz", "vpc").is_some());
        assert_eq!(
            principal_arn_problem("arn:aws:iam::123456789012:role/a/b-*"),
            None
        );
        assert_eq!(
            principal_arn_problem("arn:aws-cn:iam::123456789012:root"),
            None
        );
        assert!(principal_arn_problem("*").is_some());
        assert!(principal_arn_problem("arn:aws:iam::*:role/x").is_some());
        assert!(
            principal_arn_problem("arn:aws:sts::123456789012:assumed-role/r/s")
                .unwrap()
                .contains("name its role")
        );
    }
}
