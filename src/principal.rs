//! The rights of a role or user this function manages: its inline policy, the KMS grants
//! it holds, and the tags that record both. Roles and users differ only in the IAM calls.

use std::collections::BTreeMap;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Tag;
use serde_json::Value;
use tokio::time::Instant;

use crate::aws::{AwsError, Clients, describe_error};
use crate::cfn::OwnerId;
use crate::iam;
use crate::kms::{self, KmsError, KmsPlan};
use crate::policy::{PolicyDocument, decode_document};
use crate::propagation::Backoff;

/// Tags recording which KMS keys carry a grant for the principal, so that update and
/// delete can retire them without re-reading the buckets.
pub const GRANT_TAG_PREFIX: &str = "vendor-access:kms-grant:";

/// A role or a user, by name.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    Role(&'a str),
    User(&'a str),
}

#[derive(Debug, thiserror::Error)]
#[error("IAM {action} for {entity} failed: {message}")]
pub struct IamCallError {
    pub action: &'static str,
    pub entity: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RightsError {
    #[error(transparent)]
    Iam(#[from] IamCallError),
    #[error(transparent)]
    Kms(#[from] KmsError),
}

pub fn tag(key: &str, value: &str) -> Tag {
    // Both required fields are set, so building cannot fail.
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .unwrap_or_else(|_| unreachable!("key and value are set"))
}

fn is_no_such_entity(error: &impl ProvideErrorMetadata) -> bool {
    error.code() == Some("NoSuchEntity")
}

impl Principal<'_> {
    pub fn name(&self) -> &str {
        match self {
            Principal::Role(name) | Principal::User(name) => name,
        }
    }

    /// "role NAME" or "user NAME", as messages name it.
    pub fn describe(&self) -> String {
        match self {
            Principal::Role(name) => format!("role {name}"),
            Principal::User(name) => format!("user {name}"),
        }
    }

    pub fn error(&self, action: &'static str, error: impl AwsError) -> IamCallError {
        IamCallError {
            action,
            entity: self.describe(),
            message: describe_error(&error),
        }
    }

    async fn inline_policy(
        &self,
        clients: &Clients,
        policy: &str,
    ) -> Result<Option<Value>, IamCallError> {
        let iam = &clients.iam;
        let document = match self {
            Principal::Role(name) => {
                match iam
                    .get_role_policy()
                    .role_name(*name)
                    .policy_name(policy)
                    .send()
                    .await
                {
                    Ok(output) => Some(output.policy_document),
                    Err(e) if is_no_such_entity(&e) => None,
                    Err(e) => return Err(self.error("GetRolePolicy", e)),
                }
            }
            Principal::User(name) => {
                match iam
                    .get_user_policy()
                    .user_name(*name)
                    .policy_name(policy)
                    .send()
                    .await
                {
                    Ok(output) => Some(output.policy_document),
                    Err(e) if is_no_such_entity(&e) => None,
                    Err(e) => return Err(self.error("GetUserPolicy", e)),
                }
            }
        };
        Ok(document.as_deref().and_then(decode_document))
    }

    async fn put_inline_policy(
        &self,
        clients: &Clients,
        policy: &str,
        document: &PolicyDocument,
    ) -> Result<(), IamCallError> {
        let iam = &clients.iam;
        match self {
            Principal::Role(name) => iam
                .put_role_policy()
                .role_name(*name)
                .policy_name(policy)
                .policy_document(document.to_json())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("PutRolePolicy", e)),
            Principal::User(name) => iam
                .put_user_policy()
                .user_name(*name)
                .policy_name(policy)
                .policy_document(document.to_json())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("PutUserPolicy", e)),
        }
    }

    async fn tag(&self, clients: &Clients, tags: Vec<Tag>) -> Result<(), IamCallError> {
        let iam = &clients.iam;
        match self {
            Principal::Role(name) => iam
                .tag_role()
                .role_name(*name)
                .set_tags(Some(tags))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("TagRole", e)),
            Principal::User(name) => iam
                .tag_user()
                .user_name(*name)
                .set_tags(Some(tags))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("TagUser", e)),
        }
    }

    async fn untag(&self, clients: &Clients, keys: Vec<String>) -> Result<(), IamCallError> {
        let iam = &clients.iam;
        match self {
            Principal::Role(name) => iam
                .untag_role()
                .role_name(*name)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("UntagRole", e)),
            Principal::User(name) => iam
                .untag_user()
                .user_name(*name)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("UntagUser", e)),
        }
    }

    async fn delete_inline_policy(
        &self,
        clients: &Clients,
        policy: &str,
    ) -> Result<(), IamCallError> {
        let iam = &clients.iam;
        let deleted = match self {
            Principal::Role(name) => iam
                .delete_role_policy()
                .role_name(*name)
                .policy_name(policy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_no_such_entity(&e), self.error("DeleteRolePolicy", e))),
            Principal::User(name) => iam
                .delete_user_policy()
                .user_name(*name)
                .policy_name(policy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_no_such_entity(&e), self.error("DeleteUserPolicy", e))),
        };
        match deleted {
            Ok(()) | Err((true, _)) => Ok(()),
            Err((false, error)) => Err(error),
        }
    }

    /// Deletes the role or user: `false` when IAM refuses because something still hangs
    /// on it; gone already is success.
    async fn delete_itself(&self, clients: &Clients) -> Result<bool, IamCallError> {
        let iam = &clients.iam;
        let deleted = match self {
            Principal::Role(name) => iam
                .delete_role()
                .role_name(*name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(str::to_string), self.error("DeleteRole", e))),
            Principal::User(name) => iam
                .delete_user()
                .user_name(*name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(str::to_string), self.error("DeleteUser", e))),
        };
        match deleted {
            Ok(()) => Ok(true),
            Err((Some(code), _)) if code == "NoSuchEntity" => Ok(true),
            Err((Some(code), _)) if code == "DeleteConflict" => Ok(false),
            Err((_, error)) => Err(error),
        }
    }

    /// Deletes every inline policy; one already gone is fine.
    async fn delete_inline_policies(&self, clients: &Clients) -> Result<(), IamCallError> {
        let iam = &clients.iam;
        let names = match self {
            Principal::Role(name) => iam
                .list_role_policies()
                .role_name(*name)
                .send()
                .await
                .map(|o| o.policy_names)
                .map_err(|e| self.error("ListRolePolicies", e))?,
            Principal::User(name) => iam
                .list_user_policies()
                .user_name(*name)
                .send()
                .await
                .map(|o| o.policy_names)
                .map_err(|e| self.error("ListUserPolicies", e))?,
        };
        for policy in names {
            let deleted = match self {
                Principal::Role(name) => iam
                    .delete_role_policy()
                    .role_name(*name)
                    .policy_name(&policy)
                    .send()
                    .await
                    .map(|_| ())
                    .or_else(|e| {
                        if is_no_such_entity(&e) {
                            Ok(())
                        } else {
                            Err(self.error("DeleteRolePolicy", e))
                        }
                    }),
                Principal::User(name) => iam
                    .delete_user_policy()
                    .user_name(*name)
                    .policy_name(&policy)
                    .send()
                    .await
                    .map(|_| ())
                    .or_else(|e| {
                        if is_no_such_entity(&e) {
                            Ok(())
                        } else {
                            Err(self.error("DeleteUserPolicy", e))
                        }
                    }),
            };
            deleted?;
        }
        Ok(())
    }
}

/// IAM's limit on the tags of one role or user.
pub const MAX_TAGS: usize = 50;

/// Checks, before anything is written, that the stack's tags, the owner tag, `bookkeeping`
/// further tags of ours and one tag per granted key fit IAM's 50.
pub fn check_tag_room(
    principal: Principal<'_>,
    stack_tags: usize,
    bookkeeping: usize,
    plan: &KmsPlan,
) -> Result<(), IamCallError> {
    let needed = stack_tags + 1 + bookkeeping + plan.grants().len();
    if needed > MAX_TAGS {
        return Err(IamCallError {
            action: "TagRole/TagUser",
            entity: principal.describe(),
            message: format!(
                "{needed} tags would be needed ({stack_tags} from Tags, {} for KMS grants, {} of ours), over IAM's {MAX_TAGS}: use fewer Tags",
                plan.grants().len(),
                1 + bookkeeping
            ),
        });
    }
    Ok(())
}

/// What a principal should be allowed, beyond its trust: the inline policy and KMS keys.
pub struct Rights<'a> {
    pub policy_name: &'a str,
    pub policy: &'a PolicyDocument,
    /// The principal's policy is known to differ (it was just created, or the properties
    /// changed the policy): write it without reading it first.
    pub policy_known_stale: bool,
    pub plan: &'a KmsPlan,
    /// The stack's `Tags` now, and the keys it set before (only those are removed).
    pub tags: &'a [(String, String)],
    pub previous_tag_keys: Vec<String>,
}

/// Brings an existing principal of ours to `rights`, writing only what differs.
#[allow(clippy::too_many_arguments)]
pub async fn apply_rights(
    clients: &Clients,
    principal: Principal<'_>,
    arn: &str,
    current_tags: &BTreeMap<String, String>,
    rights: &Rights<'_>,
    owner: &OwnerId,
    backoff: &Backoff,
    stop_by: Instant,
) -> Result<(), RightsError> {
    let wanted: Value = serde_json::from_str(&rights.policy.to_json()).unwrap_or_default();
    if rights.policy_known_stale
        || principal.inline_policy(clients, rights.policy_name).await? != Some(wanted)
    {
        principal
            .put_inline_policy(clients, rights.policy_name, rights.policy)
            .await?;
        tracing::info!(entity = %principal.describe(), "permission policy written");
    }

    let previous_grants: Vec<String> = granted_keys(current_tags);
    let granted = kms::sync_grants(
        &clients.kms,
        arn,
        &kms::grant_name(owner),
        &rights.plan.grants(),
        &previous_grants,
        backoff,
        stop_by,
    )
    .await?;

    let mut desired: BTreeMap<String, String> = rights.tags.iter().cloned().collect();
    desired.insert(OwnerId::TAG_KEY.to_string(), owner.tag_value());
    for key_arn in &granted {
        let key_id = key_arn.rsplit('/').next().unwrap_or(key_arn);
        desired.insert(format!("{GRANT_TAG_PREFIX}{key_id}"), key_arn.clone());
    }
    let (set, remove) = iam::tag_changes(
        current_tags,
        &desired,
        &rights.previous_tag_keys,
        GRANT_TAG_PREFIX,
    );
    if !remove.is_empty() {
        principal.untag(clients, remove).await?;
    }
    if !set.is_empty() {
        principal
            .tag(clients, set.iter().map(|(k, v)| tag(k, v)).collect())
            .await?;
    }
    Ok(())
}

/// Retires the principal's grants and deletes its inline policies, before the principal
/// itself is deleted.
pub async fn remove(
    clients: &Clients,
    principal: Principal<'_>,
    arn: &str,
    tags: &BTreeMap<String, String>,
    owner: &OwnerId,
    policy_name: &str,
) -> Result<(), RightsError> {
    let grant_name = kms::grant_name(owner);
    for key_arn in granted_keys(tags) {
        kms::retire_all(&clients.kms, &key_arn, arn, &grant_name).await?;
    }
    // Our policy's name is known; only when IAM refuses the deletion (someone added an
    // inline policy of their own to our principal) are the rest listed and removed.
    principal.delete_inline_policy(clients, policy_name).await?;
    if !principal.delete_itself(clients).await? {
        principal.delete_inline_policies(clients).await?;
        if !principal.delete_itself(clients).await? {
            return Err(RightsError::Iam(IamCallError {
                action: "Delete",
                entity: principal.describe(),
                message: "DeleteConflict: something still hangs on it (a managed policy, a login profile, an MFA device?); it was not created by this function, so it is not removed".into(),
            }));
        }
    }
    tracing::info!(entity = %principal.describe(), "deleted");
    Ok(())
}

fn granted_keys(tags: &BTreeMap<String, String>) -> Vec<String> {
    tags.iter()
        .filter(|(k, _)| k.starts_with(GRANT_TAG_PREFIX))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Tags as a map, from the SDK's list.
pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}
