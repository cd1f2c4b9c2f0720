//! S3 access for a vendor: the `Locations`, `Access`, network and KMS properties shared by
//! `Custom::VendorS3Access` and `Custom::VendorS3User`, and the least-privilege policy
//! they turn into.

use std::str::FromStr;

use crate::policy::{PolicyDocument, Statement};
use crate::properties::Fields;

/// How much a vendor may do in a location. Each level adds to the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    List,
    Read,
    ReadWrite,
    ReadWriteDelete,
}

impl AccessLevel {
    pub const CHOICES: [&'static str; 4] = ["list", "read", "read-write", "read-write-delete"];

    /// Object actions on `BUCKET/PREFIX*`; listing is granted separately.
    pub fn object_actions(self) -> &'static [&'static str] {
        match self {
            AccessLevel::List => &[],
            AccessLevel::Read => &["s3:GetObject"],
            AccessLevel::ReadWrite => &["s3:GetObject", "s3:PutObject"],
            AccessLevel::ReadWriteDelete => &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        }
    }

    /// KMS actions S3 performs for the caller on SSE-KMS objects: reading decrypts,
    /// writing asks for a data key.
    pub fn kms_actions(self) -> &'static [&'static str] {
        match self {
            AccessLevel::List => &[],
            AccessLevel::Read => &["kms:Decrypt"],
            AccessLevel::ReadWrite | AccessLevel::ReadWriteDelete => {
                &["kms:Decrypt", "kms:GenerateDataKey"]
            }
        }
    }

    fn sid(self) -> &'static str {
        match self {
            AccessLevel::List => "List",
            AccessLevel::Read => "ReadObjects",
            AccessLevel::ReadWrite => "ReadWriteObjects",
            AccessLevel::ReadWriteDelete => "ReadWriteDeleteObjects",
        }
    }
}

impl FromStr for AccessLevel {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "list" => Ok(AccessLevel::List),
            "read" => Ok(AccessLevel::Read),
            "read-write" => Ok(AccessLevel::ReadWrite),
            "read-write-delete" => Ok(AccessLevel::ReadWriteDelete),
            _ => Err(()),
        }
    }
}

/// One bucket, or a prefix of it, and what may be done there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Empty for the whole bucket. Matched literally: `data/` is a folder, `data` also
    /// matches `database/`.
    pub prefix: String,
    pub access: AccessLevel,
}

impl Location {
    pub fn bucket_arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.bucket)
    }

    pub fn objects_arn(&self) -> String {
        format!("arn:aws:s3:::{}/{}*", self.bucket, self.prefix)
    }
}

/// Where requests for objects must come from; empty when anywhere will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub source_ips: Vec<String>,
    pub source_vpcs: Vec<String>,
    pub source_vpces: Vec<String>,
}

impl Network {
    pub fn is_open(&self) -> bool {
        self.source_ips.is_empty() && self.source_vpcs.is_empty() && self.source_vpces.is_empty()
    }

    /// Reads `SourceIps`, `SourceVpcs`, `SourceVpces`, checking each entry's form.
    pub fn read(fields: &mut Fields<'_>) -> Network {
        let mut list = |name: &'static str, check: fn(&str) -> bool, what: &str| {
            let values = fields.string_list(name).unwrap_or_default();
            for (i, value) in values.iter().enumerate() {
                if !check(value) {
                    fields.problems().add(
                        format!("{}[{i}]", fields.path_of(name)),
                        format!("{value:?} is not {what}"),
                    );
                }
            }
            values
        };
        Network {
            source_ips: list(
                "SourceIps",
                is_cidr,
                "an IPv4 or IPv6 address or CIDR block",
            ),
            source_vpcs: list("SourceVpcs", |v| is_aws_id(v, "vpc-"), "a VPC id (vpc-…)"),
            source_vpces: list(
                "SourceVpces",
                |v| is_aws_id(v, "vpce-"),
                "a VPC endpoint id (vpce-…)",
            ),
        }
    }

    /// The condition each allow statement for objects is repeated under: IAM ANDs the
    /// keys of one statement, so each network gets its own statement and they OR.
    fn conditions(&self) -> Vec<(&'static str, &'static str, &'static str, Vec<String>)> {
        let mut out = Vec::new();
        if !self.source_ips.is_empty() {
            out.push((
                "FromIps",
                "IpAddress",
                "aws:SourceIp",
                self.source_ips.clone(),
            ));
        }
        if !self.source_vpcs.is_empty() {
            out.push((
                "FromVpcs",
                "StringEquals",
                "aws:SourceVpc",
                self.source_vpcs.clone(),
            ));
        }
        if !self.source_vpces.is_empty() {
            out.push((
                "FromVpces",
                "StringEquals",
                "aws:SourceVpce",
                self.source_vpces.clone(),
            ));
        }
        out
    }
}

fn is_cidr(value: &str) -> bool {
    let (address, bits) = match value.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (value, None),
    };
    let Ok(ip) = address.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|n| n <= max))
}

fn is_aws_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| {
        (8..=17).contains(&rest.len())
            && rest
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

/// How KMS keys of encrypted buckets are made usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KmsAccess {
    /// AWS-managed keys need nothing; customer keys whose policy delegates to the account
    /// get an IAM statement; other customer keys get a grant.
    #[default]
    Auto,
    IamPolicy,
    Grant,
    None,
}

impl FromStr for KmsAccess {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(KmsAccess::Auto),
            "iam-policy" => Ok(KmsAccess::IamPolicy),
            "grant" => Ok(KmsAccess::Grant),
            "none" => Ok(KmsAccess::None),
            _ => Err(()),
        }
    }
}

/// The shared S3 properties of a vendor's access, read and checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct S3Access {
    /// The customer's locations; KMS detection looks only at these.
    pub locations: Vec<Location>,
    pub network: Network,
    pub kms_key_arns: Vec<String>,
    pub kms_access: KmsAccess,
}

impl S3Access {
    /// Reads `Locations`, `Access`, `SourceIps`, `SourceVpcs`, `SourceVpces`,
    /// `KmsKeyArns` and `KmsAccess`. `default_access` applies when `Access` is absent.
    pub fn read(fields: &mut Fields<'_>, default_access: AccessLevel) -> Option<S3Access> {
        let access = fields
            .choice::<AccessLevel>("Access", &AccessLevel::CHOICES)
            .unwrap_or(default_access);
        let locations = fields.object_list("Locations", |location| {
            let bucket = location.string("Bucket");
            let bucket = location.required("Bucket", bucket)?;
            if let Err(why) = check_bucket_name(&bucket) {
                location.problem("Bucket", why);
            }
            let prefix = location.string("Prefix").unwrap_or_default();
            if let Err(why) = check_prefix(&prefix) {
                location.problem("Prefix", why);
            }
            let level = location
                .choice::<AccessLevel>("Access", &AccessLevel::CHOICES)
                .unwrap_or(access);
            Some(Location {
                bucket,
                prefix,
                access: level,
            })
        });
        let locations = fields.required("Locations", locations);
        if locations.as_ref().is_some_and(Vec::is_empty) {
            fields.problem("Locations", "must name at least one bucket");
        }
        let network = Network::read(fields);
        let kms_key_arns = fields.string_list("KmsKeyArns").unwrap_or_default();
        for (i, arn) in kms_key_arns.iter().enumerate() {
            if !is_kms_key_arn(arn) {
                fields.problems().add(
                    format!("{}[{i}]", fields.path_of("KmsKeyArns")),
                    format!("{arn:?} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"),
                );
            }
        }
        let kms_access = fields
            .choice::<KmsAccess>("KmsAccess", &["auto", "iam-policy", "grant", "none"])
            .unwrap_or(KmsAccess::Auto);
        if kms_access == KmsAccess::None && !kms_key_arns.is_empty() {
            fields.problem("KmsKeyArns", "cannot be used with KmsAccess: none");
        }
        Some(S3Access {
            locations: dedupe(locations?),
            network,
            kms_key_arns,
            kms_access,
        })
    }

    /// The highest access level among the customer's locations.
    pub fn max_access(&self) -> AccessLevel {
        self.locations
            .iter()
            .map(|l| l.access)
            .max()
            .unwrap_or(AccessLevel::List)
    }
}

fn dedupe(locations: Vec<Location>) -> Vec<Location> {
    let mut out: Vec<Location> = Vec::with_capacity(locations.len());
    for location in locations {
        match out
            .iter_mut()
            .find(|l| l.bucket == location.bucket && l.prefix == location.prefix)
        {
            Some(existing) => existing.access = existing.access.max(location.access),
            None => out.push(location),
        }
    }
    out
}

/// S3's bucket naming rules for general-purpose buckets.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len()) {
        return Err(format!("{name:?} must be 3 to 63 characters long"));
    }
    if !valid_chars {
        return Err(format!(
            "{name:?} may hold only lowercase letters, digits, dots and hyphens (a bucket name, not an ARN or URL)"
        ));
    }
    if !ends_ok(name.chars().next()) || !ends_ok(name.chars().last()) {
        return Err(format!(
            "{name:?} must begin and end with a letter or digit"
        ));
    }
    if name.contains("..") || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!("{name:?} is not a valid bucket name"));
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.starts_with('/') {
        return Err("must not start with '/' (S3 keys have no leading slash)".into());
    }
    if prefix.contains(['*', '?']) {
        return Err("must not contain '*' or '?': IAM would read them as wildcards".into());
    }
    if prefix.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>`.
pub fn is_kms_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, "kms", region, account, resource]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty()))
}

/// The region in a KMS key ARN.
pub fn kms_key_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// A customer-managed key the policy must let the principal use through S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatementFor {
    pub key_arn: String,
    pub access: AccessLevel,
}

/// The least-privilege permission policy for `locations`:
/// - `s3:ListBucket` on each bucket ARN, limited by `s3:prefix` to the locations' prefixes
///   (never on an object ARN, where it would grant nothing);
/// - `s3:GetBucketLocation` on each bucket;
/// - object actions on `BUCKET/PREFIX*`, grouped by access level, under the network
///   conditions when any are set (listing stays unconditioned);
/// - KMS use through S3 only (`kms:ViaService`) for customer keys that allow IAM policies.
pub fn permission_policy(
    locations: &[Location],
    network: &Network,
    kms_keys: &[KeyStatementFor],
) -> PolicyDocument {
    let mut statements = Vec::new();
    let mut buckets: Vec<&str> = Vec::new();
    for location in locations {
        if !buckets.contains(&location.bucket.as_str()) {
            buckets.push(&location.bucket);
        }
    }
    for (i, bucket) in buckets.iter().enumerate() {
        let here: Vec<&Location> = locations.iter().filter(|l| l.bucket == *bucket).collect();
        let list = Statement::allow(
            &format!("ListBucket{}", i + 1),
            &["s3:ListBucket"],
            vec![here[0].bucket_arn()],
        );
        let list = if here.iter().any(|l| l.prefix.is_empty()) {
            list
        } else {
            let prefixes = here.iter().map(|l| format!("{}*", l.prefix)).collect();
            list.when("StringLike", "s3:prefix", prefixes)
        };
        statements.push(list);
    }
    statements.push(Statement::allow(
        "BucketLocation",
        &["s3:GetBucketLocation"],
        buckets
            .iter()
            .map(|b| format!("arn:aws:s3:::{b}"))
            .collect(),
    ));
    for level in [
        AccessLevel::Read,
        AccessLevel::ReadWrite,
        AccessLevel::ReadWriteDelete,
    ] {
        let resources: Vec<String> = locations
            .iter()
            .filter(|l| l.access == level)
            .map(Location::objects_arn)
            .collect();
        if resources.is_empty() {
            continue;
        }
        let conditions = network.conditions();
        if conditions.is_empty() {
            statements.push(Statement::allow(
                level.sid(),
                level.object_actions(),
                resources,
            ));
        } else {
            for (suffix, operator, key, values) in conditions {
                statements.push(
                    Statement::allow(
                        &format!("{}{suffix}", level.sid()),
                        level.object_actions(),
                        resources.clone(),
                    )
                    .when(operator, key, values),
                );
            }
        }
    }
    statements.extend(kms_statements(kms_keys));
    PolicyDocument::new(statements)
}

/// One statement per (region, actions): S3 calls KMS in the bucket's region, which is the
/// key's region.
fn kms_statements(keys: &[KeyStatementFor]) -> Vec<Statement> {
    let mut groups: Vec<(&str, &[&str], Vec<String>)> = Vec::new();
    for key in keys {
        let actions = key.access.kms_actions();
        let Some(region) = kms_key_region(&key.key_arn) else {
            continue;
        };
        if actions.is_empty() {
            continue;
        }
        match groups
            .iter_mut()
            .find(|(r, a, _)| *r == region && *a == actions)
        {
            Some((_, _, arns)) => arns.push(key.key_arn.clone()),
            None => groups.push((region, actions, vec![key.key_arn.clone()])),
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (region, actions, arns))| {
            Statement::allow(&format!("KmsViaS3{}", i + 1), actions, arns).when(
                "StringEquals",
                "kms:ViaService",
                vec![format!("s3.{region}.amazonaws.com")],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn location(bucket: &str, prefix: &str, access: AccessLevel) -> Location {
        Location {
            bucket: bucket.into(),
            prefix: prefix.into(),
            access,
        }
    }

    fn as_json(doc: &PolicyDocument) -> Value {
        serde_json::from_str(&doc.to_json()).unwrap()
    }

    #[test]
    fn a_prefix_limits_listing_by_condition_and_objects_by_arn() {
        let doc = permission_policy(
            &[location(
                "datalake",
                "projects/farm-animals/",
                AccessLevel::Read,
            )],
            &Network::default(),
            &[],
        );
        assert_eq!(
            as_json(&doc)["Statement"],
            json!([
                {"Sid": "ListBucket1", "Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": "arn:aws:s3:::datalake",
                 "Condition": {"StringLike": {"s3:prefix": "projects/farm-animals/*"}}},
                {"Sid": "BucketLocation", "Effect": "Allow", "Action": "s3:GetBucketLocation",
                 "Resource": "arn:aws:s3:::datalake"},
                {"Sid": "ReadObjects", "Effect": "Allow", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::datalake/projects/farm-animals/*"}
            ])
        );
    }

    #[test]
    fn network_conditions_apply_to_objects_only_one_statement_per_network() {
        let network = Network {
            source_ips: vec!["21.21.21.0/24".into()],
            source_vpcs: vec!["vpc-111bbb22".into()],
            source_vpces: vec![],
        };
        let doc = as_json(&permission_policy(
            &[location("datalake", "", AccessLevel::ReadWrite)],
            &network,
            &[],
        ));
        let statements = doc["Statement"].as_array().unwrap();
        assert!(
            statements[0].get("Condition").is_none(),
            "listing unconditioned"
        );
        assert_eq!(statements[2]["Sid"], "ReadWriteObjectsFromIps");
        assert_eq!(
            statements[2]["Condition"],
            json!({"IpAddress": {"aws:SourceIp": "21.21.21.0/24"}})
        );
        assert_eq!(
            statements[3]["Condition"],
            json!({"StringEquals": {"aws:SourceVpc": "vpc-111bbb22"}})
        );
        assert_eq!(statements.len(), 4);
    }

    #[test]
    fn no_policy_ever_grants_s3_star_or_list_on_objects() {
        for level in [
            AccessLevel::List,
            AccessLevel::Read,
            AccessLevel::ReadWrite,
            AccessLevel::ReadWriteDelete,
        ] {
            let doc = permission_policy(&[location("b-1", "p/", level)], &Network::default(), &[]);
            for statement in &doc.statements {
                let actions = statement.action.values();
                assert!(!actions.iter().any(|a| a.contains('*')), "{actions:?}");
                if actions.contains(&"s3:ListBucket") {
                    let resources = statement.resource.as_ref().unwrap().values();
                    assert!(resources.iter().all(|r| !r.contains('/')), "{resources:?}");
                }
            }
        }
    }

    #[test]
    fn kms_use_is_limited_to_s3_in_the_key_region() {
        let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let doc = as_json(&permission_policy(
            &[location("b-1", "", AccessLevel::ReadWriteDelete)],
            &Network::default(),
            &[KeyStatementFor {
                key_arn: key.into(),
                access: AccessLevel::ReadWriteDelete,
            }],
        ));
        let kms = doc["Statement"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            kms,
            json!({"Sid": "KmsViaS31", "Effect": "Allow",
                   "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key,
                   "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}})
        );
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(check_bucket_name("share-with-kolena").is_ok());
        for bad in [
            "ab",
            "Upper",
            "arn:aws:s3:::b",
            "-lead",
            "a..b",
            "192.168.1.1",
            "s3://bucket",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidrs_and_network_ids_are_checked() {
        assert!(is_cidr("21.21.21.0/24") && is_cidr("10.0.0.1") && is_cidr("2001:db8::/32"));
        assert!(!is_cidr("21.21.21.0/33") && !is_cidr("example.com"));
        assert!(is_aws_id("vpc-111bbb22", "vpc-") && is_aws_id("vpce-0123456789abcdef0", "vpce-"));
        assert!(!is_aws_id("vpc-XYZ", "vpc-"));
    }
}
