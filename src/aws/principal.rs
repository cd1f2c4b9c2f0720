//! The one lifecycle of a role or user this function manages.
//!
//! Bringing a principal to its properties is the same sequence for both kinds; each step is
//! a function here, and a resource type adds only what is its own through
//! [`PrincipalType`] (a role's trust policy and session length, a user's access key):
//!
//! 1. look: find the entity, unless a Create tries creating it first;
//! 2. check: an existing entity must carry our owner tag and sit at the asked path;
//! 3. plan: the type's own documents, the KMS plan, the permission policy;
//! 4. budgets: IAM's size and tag limits, before anything is written;
//! 5. create or adopt: create the entity (a name already taken is looked at and adopted
//!    when it is ours), or bring an adopted one's own fields up to date;
//! 6. rights: the inline policy, KMS grants and tags, written only where they differ;
//! 7. finish: the type's last step and its outputs;
//! 8. roll back: an entity this request created is removed again if a later step fails.
//!
//! With a lock bucket, every Create, Update and Delete runs in the turn on its own resource
//! ([`Document::Resource`]): two deliveries of one event, or a Create and a Delete of one
//! resource, never interleave, also in two sandboxes. The later one finds the work done and
//! adopts it, answering as the first did.

use std::collections::BTreeMap;
use std::future::Future;

use super::iam::{
    Creation, Entity, EntityKind, Existing, IamCallError, RoleFields, ownership, tag, tag_changes,
};
use super::kms::{self, KmsError, KmsPlan};
use super::propagation::{Retried, retry_while_propagating};
use super::secrets::SecretError;
use super::turns::{Document, InTurn, TurnError, Turns};
use super::{CallError, Clients};
use crate::cfn::properties::{FromProperties, Problem};
use crate::cfn::{Facet, Failure, Invocation, Outcome, OwnerId, Resource, View, differing};
use crate::policy::s3_access::{Location, S3Access, permission_policy_with};
use crate::policy::{Partition, PolicyDocument};
use crate::rules::MAX_TAGS;
use crate::settings::Settings;

/// The name of the inline policy holding the S3 and KMS rights of every role and user.
pub const POLICY_NAME: &str = "vendor-access-s3";

/// Tags recording which KMS keys carry a grant for the principal, so that update and
/// delete can retire them without re-reading the buckets.
pub const GRANT_TAG_PREFIX: &str = "vendor-access:kms-grant:";

#[derive(Debug, thiserror::Error)]
pub enum PrincipalError {
    #[error("{0}")]
    NotOurs(String),
    #[error(
        "{kind}Path: {entity} already exists under another path; IAM names are unique across paths, so moving it needs a new {kind}Name"
    )]
    PathTaken { kind: &'static str, entity: String },
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error(transparent)]
    Iam(#[from] IamCallError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Turn(#[from] TurnError),
    #[error("TrustedPrincipal: {0}")]
    Principal(String),
    #[error("{which} policy of {entity} would be {size} characters, over IAM's limit of {limit}")]
    TooLarge {
        which: &'static str,
        entity: String,
        size: usize,
        limit: usize,
    },
    #[error(
        "IAM TagRole/TagUser for {entity} failed: {needed} tags would be needed ({stack} from Tags, {grants} for KMS grants, {ours} of ours), over IAM's {MAX_TAGS}: use fewer Tags"
    )]
    TagBudget {
        entity: String,
        needed: usize,
        stack: usize,
        grants: usize,
        ours: usize,
    },
    #[error(
        "{0} was not created: no permissions boundary is configured (VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN), and this function creates roles and users only with one"
    )]
    NoBoundary(String),
    #[error("{0} was reported taken, but is gone when looked at; retry the deployment")]
    Vanished(String),
    /// CreateRole or CreateUser found the name taken; the lifecycle looks at whose it is.
    #[error("{0} already exists")]
    AlreadyExists(String),
}

/// What the shared steps need of a resource type's properties.
pub struct Common<'a> {
    /// The entity's name, when the stack gives one (else derived from the stack).
    pub name: Option<&'a str>,
    pub path: &'a str,
    pub s3: &'a S3Access,
    /// Buckets of the vendor's own the policy also covers (never inspected for KMS).
    pub vendor_locations: &'a [Location],
    pub tags: &'a [(String, String)],
    /// The principals the entity names (a role's trusted ones), for messages.
    pub principals: String,
    /// Object actions the vendor needs with every write (see `vendors::Vendor`).
    pub extra_writes: &'a [&'static str],
}

impl Common<'_> {
    fn locations(&self) -> Vec<Location> {
        let mut all = self.s3.locations.clone();
        all.extend(self.vendor_locations.iter().cloned());
        all
    }
}

/// A resource type whose entity is a role or a user: what it adds to the lifecycle.
pub trait PrincipalType: Send + Sync + 'static {
    /// The `ResourceType` it answers, e.g. `Custom::VendorS3Access`.
    const RESOURCE_TYPE: &'static str;
    const KIND: EntityKind;
    /// IAM's limit on the entity's inline policies together.
    const POLICY_LIMIT: usize;
    /// Tags of ours beyond the owner tag and one per granted key.
    const BOOKKEEPING_TAGS: usize;
    type Properties: FromProperties + Send + Sync;
    /// What the type's own planning decides (a role's external id and trust policy).
    type Own: Send + Sync;
    /// What a replacement carries over from the entity it replaces.
    type Carried: Default + Send + Sync;

    fn clients(&self) -> &Clients;
    fn settings(&self) -> &Settings;
    fn common<'a>(&self, properties: &'a Self::Properties) -> Common<'a>;

    /// What the deployer does not allow in the type's own properties (see
    /// [`Resource::guard`]); the shared ones (buckets, keys) are checked for every type.
    fn guard_own(&self, _invocation: &Invocation, _properties: &Self::Properties) -> Vec<Problem> {
        Vec::new()
    }

    /// What a replacement keeps of the entity it replaces.
    fn carried_from(
        &self,
        replaced: &Entity,
    ) -> impl Future<Output = Result<Self::Carried, PrincipalError>> + Send;

    /// Plans the type's own documents, knowing what exists (`None` for a new entity).
    fn plan_own(
        &self,
        invocation: &Invocation,
        entity: &Entity,
        properties: &Self::Properties,
        existing: Option<&Existing>,
        carried: &Self::Carried,
    ) -> Result<Self::Own, PrincipalError>;

    /// A role's own CreateRole fields; `None` for a user.
    fn role_fields<'a>(
        &self,
        properties: &'a Self::Properties,
        own: &'a Self::Own,
    ) -> Option<RoleFields<'a>>;

    /// Brings an adopted entity's own fields to the plan.
    fn update_own(
        &self,
        invocation: &Invocation,
        existing: &Existing,
        properties: &Self::Properties,
        own: &Self::Own,
    ) -> impl Future<Output = Result<(), PrincipalError>> + Send;

    /// The type's last step, once the rights are in place, and the outputs.
    fn finish(
        &self,
        invocation: &Invocation,
        existing: &Existing,
        properties: &Self::Properties,
        own: &Self::Own,
        kms: &KmsPlan,
    ) -> impl Future<Output = Result<Outcome, PrincipalError>> + Send;

    /// The type's own documents as planned (a role's trust policy and session length), as
    /// `plan` shows them and `drift` compares them.
    fn own_facets(&self, properties: &Self::Properties, own: &Self::Own) -> Vec<Facet>;

    /// The same facets as the entity has them now.
    fn current_own_facets(
        &self,
        invocation: &Invocation,
        existing: &Existing,
        properties: &Self::Properties,
    ) -> impl Future<Output = Result<Vec<Facet>, PrincipalError>> + Send;

    /// Removes what the type's own steps made, before the entity itself goes.
    /// `existing` is `None` when the entity is gone already.
    fn remove_own(
        &self,
        invocation: &Invocation,
        entity: &Entity,
        existing: Option<&Existing>,
        properties: Option<&Self::Properties>,
    ) -> impl Future<Output = Result<(), PrincipalError>> + Send;
}

/// How bringing an entity to its properties begins.
pub struct Start<C> {
    /// Try creating it before looking (a Create, a replacement): one read fewer in the
    /// common case, the same checks otherwise.
    pub assume_new: bool,
    pub carried: C,
}

/// What planning decided, before anything is written.
struct Prepared<O> {
    own: O,
    kms: KmsPlan,
    policy: PolicyDocument,
}

/// Brings `entity` to what `properties` ask for, creating it when missing. `old` are the
/// properties it was made with, when known.
pub async fn converge<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    properties: &R::Properties,
    old: Option<&R::Properties>,
    start: Start<R::Carried>,
) -> Result<Outcome, PrincipalError> {
    let iam = &resource.clients().iam;
    let existing = match start.assume_new {
        true => None,
        false => entity.get(iam).await?,
    };
    if let Some(existing) = existing {
        return adopt(
            resource, invocation, entity, properties, old, &start, existing,
        )
        .await;
    }
    match create(resource, invocation, entity, properties, &start).await {
        Err(PrincipalError::AlreadyExists(_)) => {
            // A retried Create, or a name taken by someone else: look, then adopt our own
            // entity or refuse.
            let existing = entity
                .get(iam)
                .await?
                .ok_or_else(|| PrincipalError::Vanished(entity.describe()))?;
            adopt(
                resource, invocation, entity, properties, old, &start, existing,
            )
            .await
        }
        other => other,
    }
}

/// Step 5 for an entity that exists: ours, at our path, brought up to date.
async fn adopt<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    properties: &R::Properties,
    old: Option<&R::Properties>,
    start: &Start<R::Carried>,
    existing: Existing,
) -> Result<Outcome, PrincipalError> {
    check_ours(entity, &existing, &invocation.owner())?;
    let prepared = prepare(
        resource,
        invocation,
        entity,
        properties,
        Some(&existing),
        start,
    )
    .await?;
    let mut overwritten = match old {
        Some(old) => {
            changed_out_of_band(
                resource, invocation, entity, &existing, old, start, &prepared,
            )
            .await?
        }
        None => Vec::new(),
    };
    resource
        .update_own(invocation, &existing, properties, &prepared.own)
        .await?;
    // Changed by the properties themselves: the policy is written without reading it
    // first. Otherwise it is read, so drift is repaired.
    let policy_known_stale = old
        .is_some_and(|old| policy_for(resource, invocation, old, &prepared.kms) != prepared.policy);
    let (outcome, policy_rewritten) = complete(
        resource,
        invocation,
        entity,
        &existing,
        properties,
        old,
        &prepared,
        policy_known_stale,
    )
    .await?;
    if policy_rewritten && old.is_some() {
        overwritten.push(POLICY_FACET.to_string());
    }
    Ok(with_overwritten(outcome, &overwritten))
}

/// What the entity's own documents should have been under the properties it was last
/// brought to (`old`), against what it has: what someone changed outside CloudFormation.
async fn changed_out_of_band<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    existing: &Existing,
    old: &R::Properties,
    start: &Start<R::Carried>,
    prepared: &Prepared<R::Own>,
) -> Result<Vec<String>, PrincipalError> {
    let kms = prepared.kms.clone();
    let carried = &start.carried;
    let Ok(before) = plan_documents(
        resource,
        invocation,
        entity,
        old,
        Some(existing),
        carried,
        kms,
    ) else {
        return Ok(Vec::new());
    };
    let expected = resource.own_facets(old, &before.own);
    let found = resource
        .current_own_facets(invocation, existing, old)
        .await?;
    Ok(differing(&expected, &found))
}

/// The outcome with a warning naming what was found changed outside CloudFormation and
/// brought back to the stack's properties.
fn with_overwritten(mut outcome: Outcome, overwritten: &[String]) -> Outcome {
    if overwritten.is_empty() {
        return outcome;
    }
    tracing::warn!(?overwritten, "changed outside CloudFormation; brought back");
    let warning = format!(
        "changed outside CloudFormation and brought back to the stack's properties: {}",
        overwritten.join(", ")
    );
    let warnings = match outcome.data.get("Warnings").and_then(|w| w.as_str()) {
        Some(existing) if !existing.is_empty() => format!("{existing} | {warning}"),
        _ => warning,
    };
    outcome.data.insert("Warnings".into(), warnings.into());
    outcome
}

/// Step 5 for an entity that does not exist: created, and removed again should a later
/// step fail, so that nothing half-made is left.
async fn create<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    properties: &R::Properties,
    start: &Start<R::Carried>,
) -> Result<Outcome, PrincipalError> {
    let settings = resource.settings();
    if settings.permissions_boundary_arn.is_none() && !settings.allow_no_boundary {
        return Err(PrincipalError::NoBoundary(entity.describe()));
    }
    let prepared = prepare(resource, invocation, entity, properties, None, start).await?;
    let existing = create_entity(resource, invocation, entity, properties, &prepared).await?;
    invocation.made(&existing.arn);
    let done = complete(
        resource, invocation, entity, &existing, properties, None, &prepared, true,
    )
    .await
    .map(|(outcome, _)| outcome);
    if done.is_err() {
        tracing::warn!(entity = %entity.describe(), "rolling back what this request created");
        match remove(resource, invocation, entity, Some(properties)).await {
            Ok(()) => invocation.unmade(),
            Err(cleanup) => tracing::error!(error = %cleanup, "rollback failed"),
        }
    }
    done
}

/// Step 2: an existing entity is changed only when it is ours and where we put it.
fn check_ours(entity: &Entity, existing: &Existing, owner: &OwnerId) -> Result<(), PrincipalError> {
    if let Some(refusal) = ownership(&existing.tags, owner).refusal(&entity.describe()) {
        return Err(PrincipalError::NotOurs(refusal));
    }
    if existing.path != entity.path {
        return Err(PrincipalError::PathTaken {
            kind: entity.kind.title(),
            entity: entity.describe(),
        });
    }
    Ok(())
}

/// Steps 3 and 4.
async fn prepare<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    properties: &R::Properties,
    existing: Option<&Existing>,
    start: &Start<R::Carried>,
) -> Result<Prepared<R::Own>, PrincipalError> {
    let clients = resource.clients();
    let kms = kms::plan(&clients.s3, &clients.kms, resource.common(properties).s3).await?;
    plan_documents(
        resource,
        invocation,
        entity,
        properties,
        existing,
        &start.carried,
        kms,
    )
}

/// Step 3 and 4 once the KMS plan is known: no AWS call, so `plan` runs it too.
fn plan_documents<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    properties: &R::Properties,
    existing: Option<&Existing>,
    carried: &R::Carried,
    kms: KmsPlan,
) -> Result<Prepared<R::Own>, PrincipalError> {
    let own = resource.plan_own(invocation, entity, properties, existing, carried)?;
    let policy = policy_for(resource, invocation, properties, &kms);
    check_size(entity, "inline", policy.size(), R::POLICY_LIMIT)?;
    let stack_tags = resource.common(properties).tags.len();
    check_tag_budget(entity, stack_tags, R::BOOKKEEPING_TAGS, &kms)?;
    Ok(Prepared { own, kms, policy })
}

fn policy_for<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    properties: &R::Properties,
    kms: &KmsPlan,
) -> PolicyDocument {
    let common = resource.common(properties);
    permission_policy_with(
        Partition::of_arn(invocation.stack_id()),
        &common.locations(),
        &common.s3.network,
        &kms.iam_statements(),
        common.extra_writes,
    )
}

/// IAM's limit on a policy of the entity, checked before anything is written.
pub fn check_size(
    entity: &Entity,
    which: &'static str,
    size: usize,
    limit: usize,
) -> Result<(), PrincipalError> {
    if size > limit {
        return Err(PrincipalError::TooLarge {
            which,
            entity: entity.describe(),
            size,
            limit,
        });
    }
    Ok(())
}

/// The stack's tags, the owner tag, `ours` further tags of ours and one tag per granted
/// key must fit IAM's 50.
fn check_tag_budget(
    entity: &Entity,
    stack: usize,
    ours: usize,
    kms: &KmsPlan,
) -> Result<(), PrincipalError> {
    let grants = kms.grants().len();
    let needed = stack + 1 + ours + grants;
    if needed > MAX_TAGS {
        return Err(PrincipalError::TagBudget {
            entity: entity.describe(),
            needed,
            stack,
            grants,
            ours: 1 + ours,
        });
    }
    Ok(())
}

/// CreateRole or CreateUser with the owner tag, the stack's tags and the boundary. A
/// principal the new role trusts may be too new for IAM to accept yet.
async fn create_entity<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    properties: &R::Properties,
    prepared: &Prepared<R::Own>,
) -> Result<Existing, PrincipalError> {
    let common = resource.common(properties);
    let mut tags = vec![tag(OwnerId::TAG_KEY, &invocation.owner().tag_value())];
    tags.extend(common.tags.iter().map(|(k, v)| tag(k, v)));
    let settings = resource.settings();
    let creation = Creation {
        boundary: settings.permissions_boundary_arn.as_deref(),
        tags,
        role: resource.role_fields(properties, &prepared.own),
    };
    let iam = &resource.clients().iam;
    let created = retry_while_propagating(
        &settings.waits.propagation,
        invocation.work_deadline,
        || entity.create(iam, &creation),
    )
    .await;
    match created {
        Ok(existing) => {
            tracing::info!(entity = %entity.describe(), "created");
            Ok(existing)
        }
        Err(Retried::Failed(error)) if error.is("EntityAlreadyExists") => {
            Err(PrincipalError::AlreadyExists(entity.describe()))
        }
        Err(Retried::Failed(error)) => Err(entity
            .error(&entity.kind.operation("Create", ""), error)
            .into()),
        Err(Retried::StillRejected(rejected)) => Err(PrincipalError::Principal(
            rejected.explain(&common.principals),
        )),
    }
}

/// Steps 6 and 7.
#[allow(clippy::too_many_arguments)]
async fn complete<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    existing: &Existing,
    properties: &R::Properties,
    old: Option<&R::Properties>,
    prepared: &Prepared<R::Own>,
    policy_known_stale: bool,
) -> Result<(Outcome, bool), PrincipalError> {
    let rights = Rights {
        policy: &prepared.policy,
        policy_known_stale,
        kms: &prepared.kms,
        tags: resource.common(properties).tags,
        previous_tag_keys: old
            .map(|o| {
                resource
                    .common(o)
                    .tags
                    .iter()
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let policy_rewritten = apply_rights(resource, invocation, entity, existing, &rights).await?;
    let outcome = resource
        .finish(
            invocation,
            existing,
            properties,
            &prepared.own,
            &prepared.kms,
        )
        .await?;
    Ok((outcome, policy_rewritten))
}

/// What a principal should be allowed, beyond its trust.
struct Rights<'a> {
    policy: &'a PolicyDocument,
    /// The entity's policy is known to differ: write it without reading it first.
    policy_known_stale: bool,
    kms: &'a KmsPlan,
    /// The stack's `Tags` now, and the keys it set before (only those are removed).
    tags: &'a [(String, String)],
    previous_tag_keys: Vec<String>,
}

/// Step 6: the inline policy, the grants and the tags recording both, written only where
/// they differ. Returns whether the policy was read, found different, and written.
async fn apply_rights<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    existing: &Existing,
    rights: &Rights<'_>,
) -> Result<bool, PrincipalError> {
    let clients = resource.clients();
    let iam = &clients.iam;
    let found_different = !rights.policy_known_stale
        && entity.inline_policy(iam, POLICY_NAME).await? != Some(rights.policy.to_value());
    if rights.policy_known_stale || found_different {
        entity
            .put_inline_policy(iam, POLICY_NAME, rights.policy)
            .await?;
        tracing::info!(entity = %entity.describe(), "permission policy written");
    } else {
        tracing::trace!(entity = %entity.describe(), "permission policy already in place");
    }
    let owner = invocation.owner();
    let turns = Turns::configured(&clients.s3, resource.settings());
    let granting = granting(resource, invocation, &turns);
    let granted = kms::sync_grants(
        &granting,
        &existing.arn,
        &kms::grant_name(&owner),
        &rights.kms.grants(),
        &granted_keys(&existing.tags),
    )
    .await?;
    let mut desired: BTreeMap<String, String> = rights.tags.iter().cloned().collect();
    desired.insert(OwnerId::TAG_KEY.to_string(), owner.tag_value());
    for key_arn in &granted {
        let key_id = key_arn.rsplit('/').next().unwrap_or(key_arn);
        desired.insert(format!("{GRANT_TAG_PREFIX}{key_id}"), key_arn.clone());
    }
    let (set, remove) = tag_changes(
        &existing.tags,
        &desired,
        &rights.previous_tag_keys,
        GRANT_TAG_PREFIX,
    );
    tracing::trace!(set = set.len(), remove = remove.len(), "tag changes");
    if !remove.is_empty() {
        entity.untag(iam, remove).await?;
    }
    if !set.is_empty() {
        let tags = set.iter().map(|(k, v)| tag(k, v)).collect();
        entity.tag(iam, tags).await?;
    }
    Ok(found_different)
}

/// What making and retiring KMS grants for `resource` needs: its KMS client, the turns on
/// each key's grants, and the wait for a grantee too new for KMS.
fn granting<'a, R: PrincipalType>(
    resource: &'a R,
    invocation: &'a Invocation,
    turns: &'a Turns,
) -> kms::Granting<'a> {
    kms::Granting {
        kms: &resource.clients().kms,
        turns,
        invocation,
        backoff: &resource.settings().waits.propagation,
    }
}

/// Deletes the entity and what hangs on it, if it is ours. Already gone is success.
pub async fn remove<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    entity: &Entity,
    properties: Option<&R::Properties>,
) -> Result<(), PrincipalError> {
    let clients = resource.clients();
    let Some(existing) = entity.get(&clients.iam).await? else {
        tracing::info!(entity = %entity.describe(), "already gone");
        return resource
            .remove_own(invocation, entity, None, properties)
            .await;
    };
    let owner = invocation.owner();
    if let Some(refusal) = ownership(&existing.tags, &owner).refusal(&entity.describe()) {
        return Err(PrincipalError::NotOurs(refusal));
    }
    resource
        .remove_own(invocation, entity, Some(&existing), properties)
        .await?;
    let grant_name = kms::grant_name(&owner);
    let turns = Turns::configured(&clients.s3, resource.settings());
    let granting = granting(resource, invocation, &turns);
    for key_arn in granted_keys(&existing.tags) {
        kms::retire_all(&granting, &key_arn, &existing.arn, &grant_name).await?;
    }
    delete_entity(&clients.iam, entity).await
}

/// Deletes the entity and its inline policies. Our policy's name is known; only when IAM
/// refuses the deletion (someone added an inline policy of their own to our entity) are
/// the rest listed and removed.
async fn delete_entity(iam: &aws_sdk_iam::Client, entity: &Entity) -> Result<(), PrincipalError> {
    entity.delete_inline_policy(iam, POLICY_NAME).await?;
    if !entity.delete(iam).await? {
        for policy in entity.inline_policy_names(iam).await? {
            entity.delete_inline_policy(iam, &policy).await?;
        }
        if !entity.delete(iam).await? {
            return Err(entity
                .error(
                    "Delete",
                    CallError {
                        code: Some("DeleteConflict".into()),
                        message: None,
                        described: "DeleteConflict: something still hangs on it (a managed policy, a login profile, an MFA device?); it was not created by this function, so it is not removed".into(),
                    },
                )
                .into());
        }
    }
    tracing::info!(entity = %entity.describe(), "deleted");
    Ok(())
}

fn granted_keys(tags: &BTreeMap<String, String>) -> Vec<String> {
    tags.iter()
        .filter(|(k, _)| k.starts_with(GRANT_TAG_PREFIX))
        .map(|(_, v)| v.clone())
        .collect()
}

impl From<PrincipalError> for Failure {
    fn from(error: PrincipalError) -> Self {
        Failure::resource(error)
    }
}

/// The entity the properties describe, for the stack's resource.
fn entity_of<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    properties: &R::Properties,
) -> Entity {
    let common = resource.common(properties);
    Entity::of_resource(invocation, R::KIND, common.name, common.path)
}

/// Runs one request of the resource in the turn on it, taken before any document turn
/// (see [`super::turns`]). IAM propagation waits happen inside it: only another request on
/// the same resource waits for them. Without a lock bucket, runs `work` at once.
async fn in_resource_turn<R: PrincipalType, T>(
    resource: &R,
    invocation: &Invocation,
    work: impl Future<Output = Result<T, PrincipalError>>,
) -> Result<T, PrincipalError> {
    let turns = Turns::configured(&resource.clients().s3, resource.settings());
    // The whole lifecycle is a large future: on the heap, not on the worker's stack.
    let work = Box::pin(work);
    match turns
        .in_turn(&Document::resource(invocation), invocation, work)
        .await
    {
        Ok(done) => Ok(done),
        Err(InTurn::Work(error)) => Err(error),
        Err(InTurn::Turn(error)) => Err(error.into()),
    }
}

/// A [`PrincipalType`] as CloudFormation drives it.
pub struct ManagedPrincipal<R>(pub R);

impl<R: PrincipalType> Resource for ManagedPrincipal<R> {
    const TYPE: &'static str = R::RESOURCE_TYPE;
    type Properties = R::Properties;

    fn recognizes(&self, physical_id: &str) -> bool {
        Entity::from_arn(physical_id, R::KIND).is_some_and(|entity| entity.is_fenced())
    }

    /// The customer's buckets and named keys must be allowed by the deployer.
    fn guard(&self, invocation: &Invocation, properties: &R::Properties) -> Vec<Problem> {
        let guardrails = &self.0.settings().guardrails;
        let s3 = self.0.common(properties).s3;
        let buckets = s3.locations.iter().enumerate().filter_map(|(i, l)| {
            let problem = guardrails.bucket_problem(&l.bucket)?;
            Some(Problem::new(format!("Locations[{i}].Bucket"), problem))
        });
        let keys = s3.kms_key_arns.iter().enumerate().filter_map(|(i, key)| {
            let problem = guardrails.kms_key_problem(key)?;
            Some(Problem::new(format!("KmsKeyArns[{i}]"), problem))
        });
        let own = self.0.guard_own(invocation, properties);
        buckets.chain(keys).chain(own).collect()
    }

    async fn create(
        &self,
        invocation: &Invocation,
        properties: R::Properties,
    ) -> Result<Outcome, Failure> {
        let entity = entity_of(&self.0, invocation, &properties);
        let start = Start {
            assume_new: true,
            carried: R::Carried::default(),
        };
        let work = converge(&self.0, invocation, &entity, &properties, None, start);
        Ok(in_resource_turn(&self.0, invocation, work).await?)
    }

    /// A new name or path is a new entity: CloudFormation deletes the old one afterwards,
    /// and what the type carries over (a role's external id) moves with it.
    async fn update(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        properties: R::Properties,
        old: Option<R::Properties>,
    ) -> Result<Outcome, Failure> {
        let work = update(&self.0, invocation, physical_id, &properties, old.as_ref());
        Ok(in_resource_turn(&self.0, invocation, work).await?)
    }

    async fn delete(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        properties: Option<R::Properties>,
    ) -> Result<(), Failure> {
        let Some(entity) = Entity::from_arn(physical_id, R::KIND) else {
            return Ok(());
        };
        let work = remove(&self.0, invocation, &entity, properties.as_ref());
        Ok(in_resource_turn(&self.0, invocation, work).await?)
    }

    async fn planned(
        &self,
        invocation: &Invocation,
        properties: &R::Properties,
        reading: bool,
    ) -> Result<View, Failure> {
        Ok(planned_view(&self.0, invocation, properties, reading).await?)
    }

    async fn current(
        &self,
        invocation: &Invocation,
        properties: &R::Properties,
        physical_id: &str,
    ) -> Result<View, Failure> {
        Ok(current_view(&self.0, invocation, properties, physical_id).await?)
    }
}

/// An Update: the entity brought to `properties` in place, or replaced by a new one.
async fn update<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    physical_id: &str,
    properties: &R::Properties,
    old: Option<&R::Properties>,
) -> Result<Outcome, PrincipalError> {
    let entity = entity_of(resource, invocation, properties);
    let current = Entity::from_arn(physical_id, R::KIND);
    if current.as_ref() == Some(&entity) {
        let start = Start {
            assume_new: false,
            carried: R::Carried::default(),
        };
        return converge(resource, invocation, &entity, properties, old, start).await;
    }
    tracing::info!(from = physical_id, to = %entity.name, "replacing");
    let carried = match &current {
        Some(replaced) => resource.carried_from(replaced).await?,
        None => R::Carried::default(),
    };
    let start = Start {
        assume_new: true,
        carried,
    };
    converge(resource, invocation, &entity, properties, None, start).await
}

/// What `plan` shows and `drift` compares of every principal, beside the type's own.
pub const POLICY_FACET: &str = "InlinePolicy";
pub const TAGS_FACET: &str = "Tags";
pub const GRANTS_FACET: &str = "KmsGrants";

/// Step 3 and 4 without writing anything: what Create or Update would leave.
async fn planned_view<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    properties: &R::Properties,
    reading: bool,
) -> Result<View, PrincipalError> {
    let clients = resource.clients();
    let common = resource.common(properties);
    let entity = entity_of(resource, invocation, properties);
    let mut notes = Vec::new();
    let (existing, kms) = match reading {
        true => (
            entity.get(&clients.iam).await?,
            kms::plan(&clients.s3, &clients.kms, common.s3).await?,
        ),
        false => {
            notes.extend(kms::offline_note(common.s3));
            (None, KmsPlan::default())
        }
    };
    let carried = R::Carried::default();
    let prepared = plan_documents(
        resource,
        invocation,
        &entity,
        properties,
        existing.as_ref(),
        &carried,
        kms,
    )?;
    let mut view = View::new(entity_arn(invocation, &entity));
    view.facets = resource.own_facets(properties, &prepared.own);
    view.facets
        .push(Facet::owned(POLICY_FACET, Some(prepared.policy.to_value())));
    let mut tags: BTreeMap<String, String> = common.tags.iter().cloned().collect();
    tags.insert(OwnerId::TAG_KEY.to_string(), invocation.owner().tag_value());
    view.facets
        .push(Facet::owned(TAGS_FACET, Some(serde_json::json!(tags))));
    if reading {
        let grants = kms::planned_grants(&prepared.kms.grants());
        view.facets.push(Facet::owned(GRANTS_FACET, Some(grants)));
    }
    if common.name.is_none() {
        notes.push(format!(
            "{}Name is not given: the name is derived from the stack's name, its id and the logical id (its last 10 characters depend on the stack id)",
            R::KIND.title()
        ));
    }
    if existing.is_some() {
        notes.push(format!(
            "{} exists: an Update brings it to this",
            entity.describe()
        ));
    }
    notes.extend(prepared.kms.warnings.iter().cloned());
    view.notes = notes;
    Ok(view)
}

/// The facets of [`planned_view`] as the entity has them now.
async fn current_view<R: PrincipalType>(
    resource: &R,
    invocation: &Invocation,
    properties: &R::Properties,
    physical_id: &str,
) -> Result<View, PrincipalError> {
    let clients = resource.clients();
    let entity = Entity::from_arn(physical_id, R::KIND)
        .unwrap_or_else(|| entity_of(resource, invocation, properties));
    let mut view = View::new(physical_id);
    let Some(existing) = entity.get(&clients.iam).await? else {
        view.notes
            .push(format!("{} does not exist", entity.describe()));
        return Ok(view);
    };
    view.facets = resource
        .current_own_facets(invocation, &existing, properties)
        .await?;
    let policy = entity.inline_policy(&clients.iam, POLICY_NAME).await?;
    view.facets.push(Facet::owned(POLICY_FACET, policy));
    let tags: BTreeMap<&String, &String> = existing
        .tags
        .iter()
        .filter(|(k, _)| k.as_str() == OwnerId::TAG_KEY || !k.starts_with("vendor-access:"))
        .collect();
    view.facets
        .push(Facet::owned(TAGS_FACET, Some(serde_json::json!(tags))));
    let grant_name = kms::grant_name(&invocation.owner());
    let grants = kms::held_grants(
        &clients.kms,
        &granted_keys(&existing.tags),
        &existing.arn,
        &grant_name,
    )
    .await?;
    view.facets.push(Facet::owned(GRANTS_FACET, Some(grants)));
    Ok(view)
}

/// The ARN the entity has, or will have.
fn entity_arn(invocation: &Invocation, entity: &Entity) -> String {
    format!(
        "arn:{}:iam::{}:{}{}{}",
        Partition::of_arn(invocation.stack_id()).name(),
        invocation.account(),
        entity.kind.word(),
        entity.path,
        entity.name
    )
}
