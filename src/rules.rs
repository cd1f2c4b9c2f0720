//! The vocabulary of input rules: what a bucket name, an IP range, a VPC id, a principal, an
//! ARN, an IAM name or path, an external id and a tag may look like. Each rule lives here
//! once and every resource type uses it. A rule answers with the problem it finds, phrased
//! to follow the property path in a FAILED reason, or `None` when the value is fine.
//!
//! Where AWS accepts more in one place than in another, the stricter rule AWS enforces
//! today is the one kept (docs/maintainers.md lists those choices).

use std::net::IpAddr;

use serde_json::Value;

use crate::cfn::properties::Fields;

/// S3's naming rules for buckets created today: 3 to 63 lowercase letters, digits, dots
/// and hyphens, starting and ending with a letter or digit, no `..`, not an IP address.
/// (Older us-east-1 buckets may have capitals and underscores; S3 no longer creates them,
/// and their names do not work with virtual-hosted requests, so they are refused.)
pub fn bucket_name_problem(name: &str) -> Option<String> {
    if name.starts_with("arn:") || name.starts_with("s3://") {
        return Some(format!(
            "must be the bucket's name, not {name:?} (e.g. my-bucket, not arn:aws:s3:::my-bucket)"
        ));
    }
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len()) {
        return Some(format!("{name:?} must be 3 to 63 characters long"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Some(format!(
            "{name:?} may hold only lowercase letters, digits, dots and hyphens (a bucket name, not an ARN or URL)"
        ));
    }
    if !ends_ok(name.chars().next()) || !ends_ok(name.chars().last()) {
        return Some(format!(
            "{name:?} must begin and end with a letter or digit"
        ));
    }
    if name.contains("..") || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some(format!("{name:?} is not a valid bucket name"));
    }
    None
}

/// Reads the required `Bucket` property of a resource owning part of a bucket's documents.
pub fn read_bucket(fields: &mut Fields<'_>) -> Option<String> {
    let bucket = fields.string("Bucket");
    let bucket = fields.required("Bucket", bucket)?;
    match bucket_name_problem(&bucket) {
        Some(problem) => {
            fields.problem("Bucket", problem);
            None
        }
        None => Some(bucket),
    }
}

/// A key prefix within a bucket, matched literally.
pub fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.starts_with('/') {
        return Some("must not start with '/' (S3 keys have no leading slash)".into());
    }
    if prefix.contains(['*', '?']) {
        return Some("must not contain '*' or '?': IAM would read them as wildcards".into());
    }
    if prefix.len() > 1024 {
        return Some("must be at most 1024 bytes".into());
    }
    None
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

/// A VPC id (`vpc-…`).
pub fn vpc_id_problem(id: &str) -> Option<String> {
    aws_id_problem(id, "vpc")
}

/// A VPC endpoint id (`vpce-…`).
pub fn vpce_id_problem(id: &str) -> Option<String> {
    aws_id_problem(id, "vpce")
}

/// EC2 ids are the kind, a hyphen and 8 or 17 lowercase hex digits; AWS compares them
/// case-sensitively, so `vpc-ABCDEF12` would never match a request.
fn aws_id_problem(id: &str, kind: &str) -> Option<String> {
    let digits = id
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix('-'));
    let well_formed = digits.is_some_and(|d| {
        (8..=17).contains(&d.len())
            && d.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    (!well_formed).then(|| format!("{id:?} is not a {kind} id (e.g. {kind}-1a2b3c4d)"))
}

/// Whether `text` is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The AWS partitions this function knows.
pub const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// The parts of an ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArnParts<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Splits an ARN of a known partition into its parts.
pub fn arn_parts(arn: &str) -> Option<ArnParts<'_>> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, service, region, account, resource]
            if PARTITIONS.contains(partition) =>
        {
            Some(ArnParts {
                partition,
                service,
                region,
                account,
                resource,
            })
        }
        _ => None,
    }
}

/// `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`.
pub fn kms_key_arn_problem(arn: &str) -> Option<String> {
    let ok = arn_parts(arn).is_some_and(|p| {
        p.service == "kms"
            && !p.region.is_empty()
            && is_account_id(p.account)
            && p.resource
                .strip_prefix("key/")
                .is_some_and(|id| !id.is_empty())
    });
    (!ok).then(|| format!("{arn:?} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"))
}

/// Whether `arn` is an IAM role or user ARN (`*` and `?` may stand in the name), or an
/// account root.
fn is_iam_principal_arn(arn: &str) -> bool {
    arn_parts(arn).is_some_and(|p| {
        p.service == "iam"
            && p.region.is_empty()
            && is_account_id(p.account)
            && (p.resource == "root"
                || ["role/", "user/"].iter().any(|kind| {
                    p.resource
                        .strip_prefix(kind)
                        .is_some_and(|name| !name.is_empty())
                }))
    })
}

/// A role or user ARN as `aws:PrincipalArn` carries it; `*` and `?` may stand in the name.
pub fn principal_arn_problem(arn: &str) -> Option<String> {
    if is_iam_principal_arn(arn) {
        return None;
    }
    if arn_parts(arn).is_some_and(|p| p.service == "sts" && p.resource.starts_with("assumed-role/"))
    {
        return Some(format!(
            "{arn:?} is a session; name its role instead (arn:aws:iam::ACCOUNT:role/NAME), \
             which is what aws:PrincipalArn carries"
        ));
    }
    Some(format!(
        "{arn:?} is not an IAM role or user ARN (e.g. arn:aws:iam::123456789012:role/NAME)"
    ))
}

/// A principal a role may trust: a 12-digit account id, an account root ARN, or an IAM
/// role or user ARN; never a wildcard.
pub fn trusted_principal_problem(principal: &str) -> Option<String> {
    if principal.contains(['*', '?']) {
        return Some(format!(
            "{principal:?} is a wildcard; name the vendor's account id or role ARN"
        ));
    }
    let named = arn_parts(principal).is_some_and(|p| {
        p.service == "iam"
            && p.region.is_empty()
            && is_account_id(p.account)
            && (p.resource == "root"
                || p.resource
                    .strip_prefix("role/")
                    .or_else(|| p.resource.strip_prefix("user/"))
                    .and_then(|rest| rest.rsplit('/').next())
                    .is_some_and(|name| iam_name_problem(name, MAX_IAM_NAME).is_none()))
    });
    (!(is_account_id(principal) || named)).then(|| {
        format!(
            "{principal:?} is not a 12-digit account id, an account root ARN or an IAM role/user ARN"
        )
    })
}

/// IAM's limit on role and user names.
pub const MAX_IAM_NAME: usize = 64;

/// Role and user names: 1 to `max` characters of letters, digits and `+=,.@_-`.
pub fn iam_name_problem(name: &str, max: usize) -> Option<String> {
    if name.is_empty() || name.chars().count() > max {
        return Some(format!("must be 1 to {max} characters long"));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
        .map(|bad| format!("{name:?} holds {bad:?}; IAM names allow letters, digits and +=,.@_-"))
}

/// Every role and user this function manages lives under this path; its execution role
/// may touch nothing else.
pub const IAM_PATH: &str = "/vendor-access/";

/// `RolePath` / `UserPath`: `/vendor-access/` or a path below it.
pub fn iam_path_problem(path: &str) -> Option<String> {
    if !path.starts_with(IAM_PATH) || !path.ends_with('/') {
        return Some(format!(
            "{path:?} must be {IAM_PATH} or a path below it ending in '/' (the function manages nothing outside {IAM_PATH})"
        ));
    }
    if path.len() > 512 || path.contains("//") || !path.chars().all(|c| ('!'..='~').contains(&c)) {
        return Some(format!("{path:?} is not a valid IAM path"));
    }
    None
}

/// `<Kind>Name` and `<Kind>Path` of a role or user: an optional name, and a path under
/// the fence (`/vendor-access/` when absent).
pub fn read_name_and_path(fields: &mut Fields<'_>, kind: &str) -> (Option<String>, String) {
    let (name_field, path_field) = match kind {
        "Role" => ("RoleName", "RolePath"),
        _ => ("UserName", "UserPath"),
    };
    let name = fields.string(name_field);
    if let Some(why) = name
        .as_deref()
        .and_then(|n| iam_name_problem(n, MAX_IAM_NAME))
    {
        fields.problem(name_field, why);
    }
    let path = fields
        .string(path_field)
        .unwrap_or_else(|| IAM_PATH.to_string());
    if let Some(why) = iam_path_problem(&path) {
        fields.problem(path_field, why);
    }
    (name, path)
}

/// An external id: 2 to 1224 characters of `[A-Za-z0-9+=,.@:/_-]`.
pub fn external_id_problem(id: &str) -> Option<String> {
    if !(2..=1224).contains(&id.chars().count()) {
        return Some("must be 2 to 1224 characters long".into());
    }
    id.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(*c)))
        .map(|bad| format!("holds {bad:?}; allowed are letters, digits and +=,.@:/_-"))
}

/// A role's description: what IAM takes.
pub fn description_problem(text: &str) -> Option<String> {
    let bad = text.chars().count() > 1000
        || text
            .chars()
            .any(|c| c.is_control() && !"\t\n\r".contains(c));
    bad.then(|| "must be at most 1000 printable characters".to_string())
}

/// Tag keys starting with these are reserved: `aws:` by AWS, `vendor-access:` by this
/// function. IAM compares tag keys case-insensitively, and so does this check.
pub const RESERVED_TAG_PREFIXES: [(&str, &str); 2] =
    [("aws:", "AWS"), ("vendor-access:", "this function")];

/// IAM allows 50 tags on a role or user.
pub const MAX_TAGS: usize = 50;

/// Whether a tag key is reserved (compared as IAM compares keys: ignoring case).
pub fn reserved_tag_owner(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    RESERVED_TAG_PREFIXES
        .iter()
        .find(|(prefix, _)| lower.starts_with(prefix))
        .map(|(_, owner)| *owner)
}

/// Reads `Tags`: a list of `{Key, Value}` (CloudFormation's form) or a map.
pub fn read_tags(fields: &mut Fields<'_>) -> Vec<(String, String)> {
    let path = fields.path_of("Tags");
    let problems = fields.problems();
    let Some(value) = fields.value("Tags") else {
        return Vec::new();
    };
    let pairs: Vec<(String, Option<String>)> = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item.get("Key").and_then(Value::as_str) {
                Some(key) => Some((key.to_string(), item.get("Value").and_then(scalar))),
                None => {
                    problems.add(format!("{path}[{i}]"), "must be {Key, Value}");
                    None
                }
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
            .collect(),
        _ => {
            problems.add(&path, "must be a list of {Key, Value} or a map");
            return Vec::new();
        }
    };
    let mut tags = Vec::new();
    for (key, value) in pairs {
        let at = format!("{path}.{key}");
        match (tag_problem(&key, value.as_deref()), value) {
            (Some(problem), _) => problems.add(at, problem),
            (None, Some(value)) => tags.push((key, value)),
            (None, None) => {}
        }
    }
    tags
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn tag_problem(key: &str, value: Option<&str>) -> Option<String> {
    let Some(value) = value else {
        return Some("value must be a string".into());
    };
    if key.is_empty() || key.chars().count() > 128 {
        return Some("key must be 1 to 128 characters".into());
    }
    if let Some(owner) = reserved_tag_owner(key) {
        let prefix = &key[..key.find(':').map_or(0, |i| i + 1)];
        return Some(format!(
            "keys starting with {} are reserved by {owner}",
            prefix.to_ascii_lowercase()
        ));
    }
    (value.chars().count() > 256).then(|| "value must be at most 256 characters".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_the_rules_s3_enforces_today() {
        assert_eq!(bucket_name_problem("share-with-kolena"), None);
        assert_eq!(bucket_name_problem("data.lake-2"), None);
        for bad in [
            "ab",
            "Upper",
            "Legacy_Bucket.2017",
            "-lead",
            "a..b",
            "192.168.1.1",
            "a/b",
        ] {
            assert!(bucket_name_problem(bad).is_some(), "{bad}");
        }
        assert!(
            bucket_name_problem("arn:aws:s3:::data")
                .unwrap()
                .contains("not arn:")
        );
        assert!(bucket_name_problem("s3://data").is_some());
    }

    #[test]
    fn addresses_and_network_ids_are_checked() {
        for good in ["21.21.21.0/24", "10.0.0.1", "2001:db8::/32"] {
            assert_eq!(source_ip_problem(good), None, "{good}");
        }
        for bad in ["21.21.21.0/33", "example.com", "21.21.21.x"] {
            assert!(source_ip_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(vpc_id_problem("vpc-111bbb22"), None);
        assert_eq!(vpce_id_problem("vpce-0123456789abcdef0"), None);
        for bad in ["vpc-ABCDEF12", "vpc-XYZ", "vpce-111bbb22", "vpc111bbb22"] {
            assert!(vpc_id_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn principals_and_arns_are_checked_in_every_partition() {
        for good in [
            "123456789012",
            "arn:aws:iam::123456789012:root",
            "arn:aws-cn:iam::123456789012:role/a/b",
            "arn:aws-us-gov:iam::123456789012:user/u",
        ] {
            assert_eq!(trusted_principal_problem(good), None, "{good}");
        }
        for bad in [
            "*",
            "arn:aws:iam::*:root",
            "arn:aws-xx:iam::123456789012:root",
            "1234",
        ] {
            assert!(trusted_principal_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            principal_arn_problem("arn:aws:iam::123456789012:role/a/b-*"),
            None
        );
        assert!(principal_arn_problem("arn:aws:iam::*:role/x").is_some());
        assert!(
            principal_arn_problem("arn:aws:sts::123456789012:assumed-role/r/s")
                .unwrap()
                .contains("name its role")
        );
        assert_eq!(
            kms_key_arn_problem("arn:aws-cn:kms:cn-north-1:123456789012:key/k"),
            None
        );
        assert!(kms_key_arn_problem("arn:aws:kms:eu-west-1:1:key/k").is_some());
    }

    #[test]
    fn paths_must_stay_under_the_fence() {
        assert_eq!(iam_path_problem("/vendor-access/"), None);
        assert_eq!(iam_path_problem("/vendor-access/lightly/"), None);
        for bad in [
            "/",
            "/admin/",
            "/vendor-access",
            "vendor-access/",
            "/vendor-access//x/",
        ] {
            assert!(iam_path_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn reserved_tag_keys_are_found_whatever_their_case() {
        assert_eq!(
            reserved_tag_owner("Vendor-Access:Owner"),
            Some("this function")
        );
        assert_eq!(reserved_tag_owner("AWS:cloudformation:x"), Some("AWS"));
        assert_eq!(reserved_tag_owner("team"), None);
        assert!(
            tag_problem("VENDOR-ACCESS:owner", Some("x"))
                .unwrap()
                .contains("reserved by this function")
        );
    }
}
