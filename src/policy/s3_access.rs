//! S3 access for a vendor: the `Locations`, `Access`, network and KMS properties shared by
//! `Custom::VendorS3Access` and `Custom::VendorS3User`, and the least-privilege policy
//! they turn into.

use super::{Operator, Partition, PolicyDocument, Statement};
use crate::cfn::properties::{Choice, Fields};
use crate::rules;

/// How much a vendor may do in a location. Each level adds to the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    List,
    Read,
    ReadWrite,
    ReadWriteDelete,
}

impl Choice for AccessLevel {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("list", AccessLevel::List),
        ("read", AccessLevel::Read),
        ("read-write", AccessLevel::ReadWrite),
        ("read-write-delete", AccessLevel::ReadWriteDelete),
    ];
}

impl AccessLevel {
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

/// One bucket, or a prefix of it, and what may be done there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Empty for the whole bucket. Matched literally: `data/` is a folder, `data` also
    /// matches `database/`.
    pub prefix: String,
    pub access: AccessLevel,
}

/// Where requests must come from: IP ranges, VPCs, VPC endpoints. Empty when anywhere
/// will do.
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
        Network {
            source_ips: checked_list(fields, "SourceIps", rules::source_ip_problem),
            source_vpcs: checked_list(fields, "SourceVpcs", rules::vpc_id_problem),
            source_vpces: checked_list(fields, "SourceVpces", rules::vpce_id_problem),
        }
    }

    /// (Sid suffix, operator, key, values) for each kind of network listed: IAM ANDs the
    /// keys of one statement, so an Allow gets one statement per kind and they OR.
    fn allow_conditions(&self) -> Vec<(&'static str, Operator, &'static str, &[String])> {
        [
            (
                "FromIps",
                Operator::IpAddress,
                "aws:SourceIp",
                &self.source_ips,
            ),
            (
                "FromVpcs",
                Operator::StringEquals,
                "aws:SourceVpc",
                &self.source_vpcs,
            ),
            (
                "FromVpces",
                Operator::StringEquals,
                "aws:SourceVpce",
                &self.source_vpces,
            ),
        ]
        .into_iter()
        .filter(|(_, _, _, values)| !values.is_empty())
        .map(|(suffix, operator, key, values)| (suffix, operator, key, values.as_slice()))
        .collect()
    }
}

/// A list property whose every item `problem` checks.
pub fn checked_list(
    fields: &mut Fields<'_>,
    name: &'static str,
    problem: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let items = fields.string_list(name).unwrap_or_default();
    fields.check_items(name, &items, problem);
    items
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

impl Choice for KmsAccess {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("auto", KmsAccess::Auto),
        ("iam-policy", KmsAccess::IamPolicy),
        ("grant", KmsAccess::Grant),
        ("none", KmsAccess::None),
    ];
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
        let access = fields.choice("Access").unwrap_or(default_access);
        let locations = fields.object_list("Locations", |location| {
            let bucket = location.string("Bucket");
            let bucket = location.required("Bucket", bucket)?;
            if let Some(why) = rules::bucket_name_problem(&bucket) {
                location.problem("Bucket", why);
            }
            let prefix = location.string("Prefix").unwrap_or_default();
            if let Some(why) = rules::prefix_problem(&prefix) {
                location.problem("Prefix", why);
            }
            let access = location.choice("Access").unwrap_or(access);
            Some(Location {
                bucket,
                prefix,
                access,
            })
        });
        let locations = fields.required("Locations", locations);
        if locations.as_ref().is_some_and(Vec::is_empty) {
            fields.problem("Locations", "must name at least one bucket");
        }
        let network = Network::read(fields);
        let kms_key_arns = checked_list(fields, "KmsKeyArns", rules::kms_key_arn_problem);
        let kms_access = fields.choice("KmsAccess").unwrap_or_default();
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

    /// The keys named in `KmsKeyArns`, each for the highest access level: what is known of
    /// the KMS statements before any AWS call.
    pub fn named_keys(&self) -> Vec<KeyStatementFor> {
        self.kms_key_arns
            .iter()
            .map(|arn| KeyStatementFor {
                key_arn: arn.clone(),
                access: self.max_access(),
            })
            .collect()
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

/// The least-privilege permission policy for `locations`, in `partition`:
/// - `s3:ListBucket` on each bucket ARN, limited by `s3:prefix` to the locations' prefixes
///   (never on an object ARN, where it would grant nothing);
/// - `s3:GetBucketLocation` on each bucket;
/// - object actions on `BUCKET/PREFIX*`, grouped by access level, under the network
///   conditions when any are set (listing stays unconditioned);
/// - KMS use through S3 only (`kms:ViaService`) for customer keys that allow IAM policies.
pub fn permission_policy(
    partition: Partition,
    locations: &[Location],
    network: &Network,
    kms_keys: &[KeyStatementFor],
) -> PolicyDocument {
    permission_policy_with(partition, locations, network, kms_keys, &[])
}

/// [`permission_policy`], with `extra_writes`, the object actions a vendor's guide needs
/// with every write (Segment's `s3:PutObjectAcl`), added where objects may be written.
pub fn permission_policy_with(
    partition: Partition,
    locations: &[Location],
    network: &Network,
    kms_keys: &[KeyStatementFor],
    extra_writes: &[&str],
) -> PolicyDocument {
    let mut buckets: Vec<&str> = Vec::new();
    for location in locations {
        if !buckets.contains(&location.bucket.as_str()) {
            buckets.push(&location.bucket);
        }
    }
    let mut statements: Vec<Statement> = buckets
        .iter()
        .enumerate()
        .map(|(i, bucket)| list_statement(partition, i + 1, bucket, locations))
        .collect();
    statements.push(Statement::allow(
        "BucketLocation",
        &["s3:GetBucketLocation"],
        buckets.iter().map(|b| partition.bucket_arn(b)).collect(),
    ));
    for level in [
        AccessLevel::Read,
        AccessLevel::ReadWrite,
        AccessLevel::ReadWriteDelete,
    ] {
        statements.extend(object_statements(
            partition,
            level,
            locations,
            network,
            extra_writes,
        ));
    }
    statements.extend(kms_statements(partition, kms_keys));
    PolicyDocument::new(statements)
}

/// `s3:ListBucket` on one bucket, limited to its locations' prefixes unless one of them
/// is the whole bucket.
fn list_statement(
    partition: Partition,
    number: usize,
    bucket: &str,
    locations: &[Location],
) -> Statement {
    let here: Vec<&Location> = locations.iter().filter(|l| l.bucket == bucket).collect();
    let list = Statement::allow(
        &format!("ListBucket{number}"),
        &["s3:ListBucket"],
        vec![partition.bucket_arn(bucket)],
    );
    if here.iter().any(|l| l.prefix.is_empty()) {
        return list;
    }
    let prefixes = here.iter().map(|l| format!("{}*", l.prefix)).collect();
    list.when(Operator::StringLike, "s3:prefix", prefixes)
}

/// The object actions of `level` on its locations: one statement, or one per kind of
/// network when the network is fenced.
fn object_statements(
    partition: Partition,
    level: AccessLevel,
    locations: &[Location],
    network: &Network,
    extra_writes: &[&str],
) -> Vec<Statement> {
    let resources: Vec<String> = locations
        .iter()
        .filter(|l| l.access == level)
        .map(|l| partition.objects_arn(&l.bucket, &l.prefix))
        .collect();
    if resources.is_empty() {
        return Vec::new();
    }
    let mut actions = level.object_actions().to_vec();
    if actions.contains(&"s3:PutObject") {
        for extra in extra_writes {
            if !actions.contains(extra) {
                actions.push(extra);
            }
        }
    }
    let actions = actions.as_slice();
    let conditions = network.allow_conditions();
    if conditions.is_empty() {
        return vec![Statement::allow(level.sid(), actions, resources)];
    }
    conditions
        .into_iter()
        .map(|(suffix, operator, key, values)| {
            Statement::allow(
                &format!("{}{suffix}", level.sid()),
                actions,
                resources.clone(),
            )
            .when(operator, key, values.to_vec())
        })
        .collect()
}

/// One statement per (region, actions): S3 calls KMS in the bucket's region, which is the
/// key's region.
fn kms_statements(partition: Partition, keys: &[KeyStatementFor]) -> Vec<Statement> {
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
                Operator::StringEquals,
                "kms:ViaService",
                vec![partition.s3_service(region)],
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
        doc.to_value()
    }

    #[test]
    fn a_prefix_limits_listing_by_condition_and_objects_by_arn() {
        let doc = permission_policy(
            Partition::Aws,
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
            Partition::Aws,
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
            let doc = permission_policy(
                Partition::Aws,
                &[location("b-1", "p/", level)],
                &Network::default(),
                &[],
            );
            for statement in &doc.statements {
                let actions = statement.action.as_ref().unwrap().values();
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
            Partition::Aws,
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
}
