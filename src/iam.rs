//! What roles and users made by this function have in common: the path fence, names,
//! tags and the owner tag that proves an entity is ours.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cfn::{Invocation, OwnerId};
use crate::properties::Fields;

/// Every role and user this function manages lives under this path; its execution role
/// may touch nothing else.
pub const PATH: &str = "/vendor-access/";

/// Tag keys starting with this are ours; stacks may not set them.
pub const RESERVED_TAG_PREFIX: &str = "vendor-access:";

/// IAM allows 50 tags; we keep room for the owner tag and grant bookkeeping.
pub const MAX_USER_TAGS: usize = 40;

/// `RolePath` / `UserPath`: `/vendor-access/` or a path below it.
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with(PATH) || !path.ends_with('/') {
        return Err(format!(
            "{path:?} must be {PATH} or a path below it ending in '/' (the function manages nothing outside {PATH})"
        ));
    }
    if path.len() > 512 || path.contains("//") || !path.chars().all(|c| ('!'..='~').contains(&c)) {
        return Err(format!("{path:?} is not a valid IAM path"));
    }
    Ok(())
}

/// Role and user names: 1 to `max` characters of letters, digits and `+=,.@_-`.
pub fn check_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > max {
        return Err(format!("must be 1 to {max} characters long"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        return Err(format!(
            "{name:?} holds {bad:?}; IAM names allow letters, digits and +=,.@_-"
        ));
    }
    Ok(())
}

/// A name derived from the stack and logical id, unique per owner and path, at most `max`
/// characters: `<stack>-<logical id>-<hash>`, shortened in front of the hash when long.
/// The path is part of the hash so that moving the entity to another path (a replacement)
/// gets a new name; IAM names are unique across paths.
pub fn default_name(stack_id: &str, logical_id: &str, path: &str, max: usize) -> String {
    let stack_name = stack_id.split('/').nth(1).unwrap_or("stack");
    let digest = Sha256::digest(format!("{stack_id}/{logical_id}{path}").as_bytes());
    let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    let readable: String = format!("{stack_name}-{logical_id}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(max - hash.len() - 1)
        .collect();
    format!("{readable}-{hash}")
}

/// The name and path a role or user of `invocation`'s resource gets: the explicit name,
/// or [`default_name`].
pub fn target(
    invocation: &Invocation,
    name: Option<&str>,
    path: &str,
    max: usize,
) -> (String, String) {
    let name = name.map(str::to_string).unwrap_or_else(|| {
        let reply_to = &invocation.request.reply_to;
        default_name(&reply_to.stack_id, &reply_to.logical_resource_id, path, max)
    });
    (name, path.to_string())
}

/// Name and path of a role or user from its ARN (`arn:aws:iam::ACCOUNT:role/PATH/NAME`).
pub fn name_and_path(arn: &str, kind: &str) -> Option<(String, String)> {
    let resource = arn.split(':').nth(5)?;
    let rest = resource.strip_prefix(kind)?.strip_prefix('/')?;
    let (path, name) = match rest.rsplit_once('/') {
        Some((path, name)) => (format!("/{path}/"), name),
        None => ("/".to_string(), rest),
    };
    (!name.is_empty()).then(|| (name.to_string(), path))
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
            .filter_map(|(i, item)| {
                let key = item.get("Key").and_then(Value::as_str);
                let value = item.get("Value").map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                });
                match key {
                    Some(key) => Some((key.to_string(), value.flatten())),
                    None => {
                        problems.add(format!("{path}[{i}]"), "must be {Key, Value}");
                        None
                    }
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
        let Some(value) = value else {
            problems.add(at, "value must be a string");
            continue;
        };
        if key.is_empty() || key.chars().count() > 128 {
            problems.add(at, "key must be 1 to 128 characters");
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            problems.add(at, "keys starting with aws: are reserved by AWS");
        } else if key.starts_with(RESERVED_TAG_PREFIX) {
            problems.add(
                at,
                format!("keys starting with {RESERVED_TAG_PREFIX} are reserved by this function"),
            );
        } else if value.chars().count() > 256 {
            problems.add(at, "value must be at most 256 characters");
        } else {
            tags.push((key, value));
        }
    }
    if tags.len() > MAX_USER_TAGS {
        problems.add(&path, format!("at most {MAX_USER_TAGS} tags"));
    }
    tags
}

/// Whose an existing entity is, by its owner tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Ours,
    /// Tagged by another owner, or not tagged at all (`None`).
    NotOurs(Option<String>),
}

pub fn ownership<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    owner: &OwnerId,
) -> Ownership {
    let found = tags
        .into_iter()
        .find(|(k, _)| *k == OwnerId::TAG_KEY)
        .map(|(_, v)| v.to_string());
    match found {
        Some(value) if value == owner.tag_value() => Ownership::Ours,
        other => Ownership::NotOurs(other),
    }
}

impl Ownership {
    /// Why an entity that is not ours is left alone.
    pub fn refusal(&self, entity: &str) -> Option<String> {
        match self {
            Ownership::Ours => None,
            Ownership::NotOurs(None) => Some(format!(
                "{entity} already exists and has no {} tag: it was not created by this resource, so it is left unchanged",
                OwnerId::TAG_KEY
            )),
            Ownership::NotOurs(Some(other)) => Some(format!(
                "{entity} already exists and belongs to {other}, not to this resource: it is left unchanged"
            )),
        }
    }
}

/// What to set and what to remove to turn `current` tags into `desired`. Only keys this
/// call manages are removed: those starting with `managed_prefix`, and the stack's previous
/// `Tags`; tags added by others (a tag policy, a person) stay.
pub fn tag_changes(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
    previously_desired: &[String],
    managed_prefix: &str,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = current
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .filter(|k| k.starts_with(managed_prefix) || previously_desired.contains(k))
        .cloned()
        .collect();
    (set, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_under_the_fence() {
        assert!(check_path("/vendor-access/").is_ok());
        assert!(check_path("/vendor-access/lightly/").is_ok());
        for bad in [
            "/",
            "/admin/",
            "/vendor-access",
            "vendor-access/",
            "/vendor-access//x/",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_names_fit_and_change_with_the_path() {
        let stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/a-very-long-stack-name-for-a-data-platform-team/guid";
        let name = default_name(stack, "LightlyOutputRoleForTheDatalake", PATH, 64);
        assert!(name.len() <= 64, "{name}");
        assert!(check_name(&name, 64).is_ok());
        assert!(name.starts_with("a-very-long-stack-name"));
        assert_ne!(
            name,
            default_name(
                stack,
                "LightlyOutputRoleForTheDatalake",
                "/vendor-access/x/",
                64
            )
        );
        assert_eq!(
            name,
            default_name(stack, "LightlyOutputRoleForTheDatalake", PATH, 64)
        );
    }

    #[test]
    fn names_and_paths_come_out_of_arns() {
        assert_eq!(
            name_and_path(
                "arn:aws:iam::123456789012:role/vendor-access/lightly/In",
                "role"
            ),
            Some(("In".into(), "/vendor-access/lightly/".into()))
        );
        assert_eq!(
            name_and_path("arn:aws:iam::123456789012:user/vendor-access/u", "role"),
            None
        );
    }

    #[test]
    fn only_managed_tags_are_removed() {
        let current = BTreeMap::from([
            ("team".to_string(), "data".to_string()),
            ("cost-center".to_string(), "42".to_string()),
            ("vendor-access:kms-grant:k1".to_string(), "arn".to_string()),
            ("vendor-access:access-key".to_string(), "1/AKIA".to_string()),
        ]);
        let desired = BTreeMap::from([("team".to_string(), "ml".to_string())]);
        let (set, remove) = tag_changes(
            &current,
            &desired,
            &["team".into()],
            "vendor-access:kms-grant:",
        );
        assert_eq!(
            set,
            BTreeMap::from([("team".to_string(), "ml".to_string())])
        );
        assert_eq!(remove, vec!["vendor-access:kms-grant:k1".to_string()]);
    }
}
