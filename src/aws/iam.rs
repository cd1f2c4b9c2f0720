//! Roles and users as IAM entities. The calls that differ between them only in the
//! operation and the name parameter are written once, for both.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{Role, Tag, User};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::CallError;
use crate::cfn::{Invocation, OwnerId};
use crate::policy::{PolicyDocument, decode_document};
use crate::rules::{IAM_PATH, MAX_IAM_NAME};

/// Sends one IAM request to the role or the user API, which differ only in the operation
/// (`get_role_policy` / `get_user_policy`) and the name parameter (`role_name` /
/// `user_name`). `$verb` and `$noun` name the operation in messages (`Get` + `Policy`:
/// GetRolePolicy or GetUserPolicy); `$map` turns either output into the result.
macro_rules! on_entity {
    ($entity:expr, $iam:expr, $verb:literal $noun:literal,
     $role_op:ident / $user_op:ident $(. $method:ident ($($arg:expr),*))*
     => |$output:pat_param| $map:expr) => {{
        let entity: &Entity = $entity;
        let sent = match entity.kind {
            EntityKind::Role => $iam.$role_op().role_name(&entity.name)
                $(.$method($($arg),*))*.send().await.map(|$output| $map).map_err(CallError::of),
            EntityKind::User => $iam.$user_op().user_name(&entity.name)
                $(.$method($($arg),*))*.send().await.map(|$output| $map).map_err(CallError::of),
        };
        sent.map_err(|error| entity.error(&entity.kind.operation($verb, $noun), error))
    }};
}

/// Whether an entity is a role or a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Role,
    User,
}

impl EntityKind {
    /// `role` or `user`, as ARNs and messages write it.
    pub fn word(self) -> &'static str {
        match self {
            EntityKind::Role => "role",
            EntityKind::User => "user",
        }
    }

    /// `Role` or `User`, as IAM's operations and our property names write it.
    pub fn title(self) -> &'static str {
        match self {
            EntityKind::Role => "Role",
            EntityKind::User => "User",
        }
    }

    /// An IAM operation's name: `Put` + `Policy` is PutRolePolicy or PutUserPolicy.
    pub fn operation(self, verb: &str, noun: &str) -> String {
        format!("{verb}{}{noun}", self.title())
    }
}

/// One role or user, by name and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
    pub path: String,
}

/// A failed IAM call, naming the operation and the entity.
#[derive(Debug, Clone, thiserror::Error)]
#[error("IAM {action} for {entity} failed: {}", .error.described)]
pub struct IamCallError {
    pub action: String,
    pub entity: String,
    pub error: CallError,
}

impl IamCallError {
    pub fn is(&self, code: &str) -> bool {
        self.error.is(code)
    }
}

/// What IAM says of an entity that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub path: String,
    pub tags: BTreeMap<String, String>,
    /// A role's trust policy, decoded.
    pub trust: Option<Value>,
    pub max_session_duration: Option<i32>,
    pub description: Option<String>,
}

impl Existing {
    fn of_role(role: Role) -> Existing {
        Existing {
            tags: tag_map(role.tags()),
            trust: role.assume_role_policy_document().and_then(decode_document),
            max_session_duration: role.max_session_duration(),
            description: role.description().map(str::to_string),
            arn: role.arn,
            id: role.role_id,
            name: role.role_name,
            path: role.path,
        }
    }

    fn of_user(user: User, tags: BTreeMap<String, String>) -> Existing {
        Existing {
            tags,
            trust: None,
            max_session_duration: None,
            description: None,
            arn: user.arn,
            id: user.user_id,
            name: user.user_name,
            path: user.path,
        }
    }
}

/// What CreateRole or CreateUser is given.
pub struct Creation<'a> {
    pub boundary: Option<&'a str>,
    pub tags: Vec<Tag>,
    /// A role's own fields; `None` for a user.
    pub role: Option<RoleFields<'a>>,
}

pub struct RoleFields<'a> {
    pub trust: &'a PolicyDocument,
    pub max_session_duration: i32,
    pub description: Option<&'a str>,
}

impl Entity {
    pub fn new(kind: EntityKind, name: impl Into<String>, path: impl Into<String>) -> Self {
        Entity {
            kind,
            name: name.into(),
            path: path.into(),
        }
    }

    /// The role or user of the stack's resource: the given name, or one derived from the
    /// stack and logical id.
    pub fn of_resource(
        invocation: &Invocation,
        kind: EntityKind,
        name: Option<&str>,
        path: &str,
    ) -> Entity {
        let name = name.map(str::to_string).unwrap_or_else(|| {
            let reply_to = &invocation.request.reply_to;
            default_name(
                &reply_to.stack_id,
                &reply_to.logical_resource_id,
                path,
                MAX_IAM_NAME,
            )
        });
        Entity::new(kind, name, path)
    }

    /// The role or user an ARN names (`arn:aws:iam::ACCOUNT:role/PATH/NAME`).
    pub fn from_arn(arn: &str, kind: EntityKind) -> Option<Entity> {
        let resource = arn.split(':').nth(5)?;
        let rest = resource.strip_prefix(kind.word())?.strip_prefix('/')?;
        let (path, name) = match rest.rsplit_once('/') {
            Some((path, name)) => (format!("/{path}/"), name),
            None => ("/".to_string(), rest),
        };
        (!name.is_empty()).then(|| Entity::new(kind, name, path))
    }

    /// Whether this is an entity this function could have made: one under its path, or a
    /// role a vendor requires at `/` by name (made only where the deployer allows it).
    pub fn is_fenced(&self) -> bool {
        self.path.starts_with(IAM_PATH)
            || (self.kind == EntityKind::Role
                && self.path == "/"
                && crate::vendors::root_role_names().any(|n| n == self.name))
    }

    /// "role NAME" or "user NAME", as messages name it.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind.word(), self.name)
    }

    pub fn error(&self, action: &str, error: CallError) -> IamCallError {
        IamCallError {
            action: action.to_string(),
            entity: self.describe(),
            error,
        }
    }

    /// The entity as IAM has it; `None` when there is none.
    pub async fn get(&self, iam: &aws_sdk_iam::Client) -> Result<Option<Existing>, IamCallError> {
        let found = match self.kind {
            EntityKind::Role => iam
                .get_role()
                .role_name(&self.name)
                .send()
                .await
                .map(|o| o.role.map(Existing::of_role))
                .map_err(CallError::of),
            EntityKind::User => iam
                .get_user()
                .user_name(&self.name)
                .send()
                .await
                .map(|o| o.user.map(|u| Existing::of_user(u, BTreeMap::new())))
                .map_err(CallError::of),
        };
        let existing = match found {
            Ok(existing) => existing,
            Err(error) if error.is("NoSuchEntity") => return Ok(None),
            Err(error) => return Err(self.error(&self.kind.operation("Get", ""), error)),
        };
        match (self.kind, existing) {
            // GetUser does not always return a user's tags; they are listed.
            (EntityKind::User, Some(mut user)) => {
                user.tags = self.tags(iam).await?;
                Ok(Some(user))
            }
            (_, existing) => Ok(existing),
        }
    }

    /// The entity's tags, listed.
    pub async fn tags(
        &self,
        iam: &aws_sdk_iam::Client,
    ) -> Result<BTreeMap<String, String>, IamCallError> {
        on_entity!(self, iam, "List" "Tags", list_role_tags / list_user_tags
            => |output| tag_map(output.tags()))
    }

    /// CreateRole or CreateUser; the error tells a name already taken apart.
    pub async fn create(
        &self,
        iam: &aws_sdk_iam::Client,
        creation: &Creation<'_>,
    ) -> Result<Existing, CallError> {
        let boundary = creation.boundary.map(str::to_string);
        let tags = Some(creation.tags.clone());
        match (&creation.role, self.kind) {
            (Some(role), EntityKind::Role) => iam
                .create_role()
                .role_name(&self.name)
                .path(&self.path)
                .assume_role_policy_document(role.trust.to_json())
                .max_session_duration(role.max_session_duration)
                .set_description(role.description.map(str::to_string))
                .set_permissions_boundary(boundary)
                .set_tags(tags)
                .send()
                .await
                .map_err(CallError::of)?
                .role
                .map(Existing::of_role),
            _ => iam
                .create_user()
                .user_name(&self.name)
                .path(&self.path)
                .set_permissions_boundary(boundary)
                .set_tags(tags)
                .send()
                .await
                .map_err(CallError::of)?
                .user
                .map(|u| Existing::of_user(u, tag_map(&creation.tags))),
        }
        .ok_or_else(|| CallError {
            code: None,
            message: None,
            described: format!("the response held no {}", self.kind.word()),
        })
    }

    /// The inline policy `policy`, decoded; `None` when there is none.
    pub async fn inline_policy(
        &self,
        iam: &aws_sdk_iam::Client,
        policy: &str,
    ) -> Result<Option<Value>, IamCallError> {
        let read = on_entity!(self, iam, "Get" "Policy",
            get_role_policy / get_user_policy.policy_name(policy)
            => |output| output.policy_document);
        match read {
            Ok(document) => Ok(decode_document(&document)),
            Err(error) if error.is("NoSuchEntity") => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn put_inline_policy(
        &self,
        iam: &aws_sdk_iam::Client,
        policy: &str,
        document: &PolicyDocument,
    ) -> Result<(), IamCallError> {
        on_entity!(self, iam, "Put" "Policy",
            put_role_policy / put_user_policy.policy_name(policy).policy_document(document.to_json())
            => |_| ())
    }

    /// Deletes the inline policy `policy`; one already gone is fine.
    pub async fn delete_inline_policy(
        &self,
        iam: &aws_sdk_iam::Client,
        policy: &str,
    ) -> Result<(), IamCallError> {
        let deleted = on_entity!(self, iam, "Delete" "Policy",
            delete_role_policy / delete_user_policy.policy_name(policy) => |_| ());
        match deleted {
            Err(error) if error.is("NoSuchEntity") => Ok(()),
            other => other,
        }
    }

    /// The names of every inline policy.
    pub async fn inline_policy_names(
        &self,
        iam: &aws_sdk_iam::Client,
    ) -> Result<Vec<String>, IamCallError> {
        on_entity!(self, iam, "List" "Policies", list_role_policies / list_user_policies
            => |output| output.policy_names)
    }

    pub async fn tag(&self, iam: &aws_sdk_iam::Client, tags: Vec<Tag>) -> Result<(), IamCallError> {
        on_entity!(self, iam, "Tag" "", tag_role / tag_user.set_tags(Some(tags)) => |_| ())
    }

    pub async fn untag(
        &self,
        iam: &aws_sdk_iam::Client,
        keys: Vec<String>,
    ) -> Result<(), IamCallError> {
        on_entity!(self, iam, "Untag" "", untag_role / untag_user.set_tag_keys(Some(keys)) => |_| ())
    }

    /// Deletes the entity: `false` when IAM refuses because something still hangs on it;
    /// gone already is success.
    pub async fn delete(&self, iam: &aws_sdk_iam::Client) -> Result<bool, IamCallError> {
        match on_entity!(self, iam, "Delete" "", delete_role / delete_user => |_| ()) {
            Ok(()) => Ok(true),
            Err(error) if error.is("NoSuchEntity") => Ok(true),
            Err(error) if error.is("DeleteConflict") => Ok(false),
            Err(error) => Err(error),
        }
    }
}

/// A user's access keys, by id.
pub async fn access_key_ids(
    iam: &aws_sdk_iam::Client,
    user: &Entity,
) -> Result<Vec<String>, IamCallError> {
    let listed = iam
        .list_access_keys()
        .user_name(&user.name)
        .send()
        .await
        .map_err(|e| user.error("ListAccessKeys", CallError::of(e)))?;
    Ok(listed
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id().map(str::to_string))
        .collect())
}

/// A new access key of a user: (id, secret).
pub async fn create_access_key(
    iam: &aws_sdk_iam::Client,
    user: &Entity,
) -> Result<(String, String), IamCallError> {
    let created = iam
        .create_access_key()
        .user_name(&user.name)
        .send()
        .await
        .map_err(|e| user.error("CreateAccessKey", CallError::of(e)))?;
    created
        .access_key
        .map(|key| (key.access_key_id, key.secret_access_key))
        .ok_or_else(|| {
            user.error(
                "CreateAccessKey",
                CallError {
                    code: None,
                    message: None,
                    described: "the response held no key".into(),
                },
            )
        })
}

/// Deletes one access key of a user; one already gone is fine.
pub async fn delete_access_key(
    iam: &aws_sdk_iam::Client,
    user: &Entity,
    key_id: &str,
) -> Result<(), IamCallError> {
    match iam
        .delete_access_key()
        .user_name(&user.name)
        .access_key_id(key_id)
        .send()
        .await
        .map_err(CallError::of)
    {
        Ok(_) => Ok(()),
        Err(error) if error.is("NoSuchEntity") => Ok(()),
        Err(error) => Err(user.error("DeleteAccessKey", error)),
    }
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

pub fn tag(key: &str, value: &str) -> Tag {
    // Both required fields are set, so building cannot fail.
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .unwrap_or_else(|_| unreachable!("key and value are set"))
}

/// Tags as a map, from the SDK's list.
pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Whose an existing entity is, by its owner tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Ours,
    /// Tagged by another owner, or not tagged at all (`None`).
    NotOurs(Option<String>),
}

/// Whose an entity with `tags` is. Tag keys are compared as IAM compares them: ignoring
/// case.
pub fn ownership(tags: &BTreeMap<String, String>, owner: &OwnerId) -> Ownership {
    let found = tags
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(OwnerId::TAG_KEY))
        .map(|(_, v)| v.clone());
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
    use crate::rules::iam_name_problem;

    #[test]
    fn default_names_fit_and_change_with_the_path() {
        let stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/a-very-long-stack-name-for-a-data-platform-team/guid";
        let name = default_name(stack, "LightlyOutputRoleForTheDatalake", IAM_PATH, 64);
        assert!(name.len() <= 64, "{name}");
        assert_eq!(iam_name_problem(&name, MAX_IAM_NAME), None);
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
            default_name(stack, "LightlyOutputRoleForTheDatalake", IAM_PATH, 64)
        );
    }

    #[test]
    fn names_and_paths_come_out_of_arns() {
        assert_eq!(
            Entity::from_arn(
                "arn:aws:iam::123456789012:role/vendor-access/lightly/In",
                EntityKind::Role
            ),
            Some(Entity::new(
                EntityKind::Role,
                "In",
                "/vendor-access/lightly/"
            ))
        );
        assert_eq!(
            Entity::from_arn(
                "arn:aws:iam::123456789012:user/vendor-access/u",
                EntityKind::Role
            ),
            None
        );
        assert_eq!(EntityKind::User.operation("Put", "Policy"), "PutUserPolicy");
    }

    #[test]
    fn the_owner_tag_is_found_whatever_its_case() {
        let owner = OwnerId::new("arn:aws:cloudformation:us-east-1:1:stack/s/1", "Role");
        let tags = BTreeMap::from([("Vendor-Access:Owner".to_string(), owner.tag_value())]);
        assert_eq!(ownership(&tags, &owner), Ownership::Ours);
        assert_eq!(
            ownership(&BTreeMap::new(), &owner),
            Ownership::NotOurs(None)
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
