//! `Custom::VendorS3User`: an IAM user with one access key for vendors that take keys
//! instead of assuming a role, its secret kept in Secrets Manager (or handed back once,
//! masked), rotated without downtime by raising `Serial`.

use std::collections::BTreeMap;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::User;
use serde_json::{Map, Value, json};

use crate::access::{AccessLevel, S3Access, permission_policy};
use crate::aws::{AwsError, Clients, describe_error};
use crate::cfn::{Failure, Invocation, Outcome, OwnerId, Resource};
use crate::iam;
use crate::kms::{self, KmsError};
use crate::policy::MAX_USER_INLINE_POLICY_CHARS;
use crate::principal::{
    IamCallError, Principal, Rights, RightsError, apply_rights, check_tag_room, remove, tag,
    tag_map,
};
use crate::propagation::Backoff;
use crate::properties::{Fields, FromProperties, InvalidProperties, Problems};
use crate::resources::Settings;

pub const POLICY_NAME: &str = "vendor-access-s3";
const MAX_USER_NAME: usize = 64;

/// User tag recording the current key: `<serial>/<AccessKeyId>`.
const KEY_TAG: &str = "vendor-access:access-key";
/// User tag recording the secret that holds the current key, by ARN.
const SECRET_TAG: &str = "vendor-access:secret";
/// Secret tag naming the user whose key it holds, so that deleting an old user after a
/// replacement never deletes the secret the new user now uses.
const SECRET_USER_TAG: &str = "vendor-access:user";

/// The execution role may only touch secrets under this prefix.
pub const SECRET_PREFIX: &str = "vendor-access/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStorage {
    SecretsManager,
    Attribute,
}

impl std::str::FromStr for SecretStorage {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "secrets-manager" => Ok(SecretStorage::SecretsManager),
            "attribute" => Ok(SecretStorage::Attribute),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserProperties {
    pub s3: S3Access,
    pub user_name: Option<String>,
    pub user_path: String,
    pub tags: Vec<(String, String)>,
    pub serial: i64,
    pub storage: SecretStorage,
    pub secret_name: Option<String>,
    /// Days Secrets Manager keeps a deleted secret recoverable; 0 deletes it at once.
    pub secret_recovery_window_days: i64,
}

/// What a Delete assumes when the properties no longer read: the defaults.
impl Default for UserProperties {
    fn default() -> Self {
        UserProperties {
            s3: S3Access::default(),
            user_name: None,
            user_path: iam::PATH.to_string(),
            tags: Vec::new(),
            serial: 1,
            storage: SecretStorage::SecretsManager,
            secret_name: None,
            secret_recovery_window_days: 30,
        }
    }
}

impl UserProperties {
    /// The name and path of the entity these properties describe.
    fn target(&self, invocation: &Invocation) -> (String, String) {
        iam::target(
            invocation,
            self.user_name.as_deref(),
            &self.user_path,
            MAX_USER_NAME,
        )
    }
}

impl FromProperties for UserProperties {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties> {
        let problems = Problems::new();
        let mut fields = Fields::root(properties, &problems);
        let s3 = S3Access::read(&mut fields, AccessLevel::Read);
        let user_name = fields.string("UserName");
        if let Some(name) = &user_name
            && let Err(why) = iam::check_name(name, MAX_USER_NAME)
        {
            fields.problem("UserName", why);
        }
        let user_path = fields
            .string("UserPath")
            .unwrap_or_else(|| iam::PATH.to_string());
        if let Err(why) = iam::check_path(&user_path) {
            fields.problem("UserPath", why);
        }
        let tags = iam::read_tags(&mut fields);
        let serial = fields.integer("Serial").unwrap_or(1);
        if serial < 1 {
            fields.problem("Serial", "must be 1 or more; raise it to rotate the key");
        }
        let storage = fields
            .choice("SecretStorage", &["secrets-manager", "attribute"])
            .unwrap_or(SecretStorage::SecretsManager);
        let secret_name = fields.string("SecretName");
        if let Some(name) = &secret_name {
            if storage == SecretStorage::Attribute {
                fields.problem(
                    "SecretName",
                    "only applies with SecretStorage: secrets-manager",
                );
            } else if !name.starts_with(SECRET_PREFIX) || name.len() > 512 {
                fields.problem(
                    "SecretName",
                    format!("must start with {SECRET_PREFIX} (the function may only manage those secrets) and be at most 512 characters"),
                );
            } else if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
            {
                fields.problem("SecretName", "may hold letters, digits and /_+=.@- only");
            }
        }
        let secret_recovery_window_days = fields.integer("SecretRecoveryWindowDays").unwrap_or(30);
        if secret_recovery_window_days != 0 && !(7..=30).contains(&secret_recovery_window_days) {
            fields.problem(
                "SecretRecoveryWindowDays",
                "must be 7 to 30, or 0 to delete the secret without a recovery window",
            );
        }
        fields.finish();
        let properties = UserProperties {
            s3: s3.unwrap_or_default(),
            user_name,
            user_path,
            tags,
            serial,
            storage,
            secret_name,
            secret_recovery_window_days,
        };
        if problems.is_empty() {
            let keys: Vec<_> = properties
                .s3
                .kms_key_arns
                .iter()
                .map(|arn| crate::access::KeyStatementFor {
                    key_arn: arn.clone(),
                    access: properties.s3.max_access(),
                })
                .collect();
            let size =
                permission_policy(&properties.s3.locations, &properties.s3.network, &keys).size();
            if size > MAX_USER_INLINE_POLICY_CHARS {
                problems.add(
                    "Locations",
                    format!("the user's policy would be {size} characters, over IAM's {MAX_USER_INLINE_POLICY_CHARS} for a user's inline policies: use fewer locations, or Custom::VendorS3Access (roles allow 10,240)"),
                );
            }
        }
        problems.into_result(properties)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    NotOurs(String),
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error(transparent)]
    Iam(#[from] IamCallError),
    #[error(transparent)]
    Rights(#[from] RightsError),
    #[error("Secrets Manager {action} for secret {secret} failed: {message}")]
    Secret {
        action: &'static str,
        secret: String,
        message: String,
    },
    #[error(
        "the user's policy would be {0} characters, over IAM's limit of {MAX_USER_INLINE_POLICY_CHARS}"
    )]
    TooLarge(usize),
    #[error("UserPath: user {0} already exists under another path; moving it needs a new UserName")]
    PathTaken(String),
}

impl From<UserError> for Failure {
    fn from(error: UserError) -> Self {
        Failure::resource(error)
    }
}

fn secret_error(action: &'static str, secret: &str, error: impl AwsError) -> UserError {
    UserError::Secret {
        action,
        secret: secret.to_string(),
        message: describe_error(&error),
    }
}

/// A key pair, never logged.
struct KeyPair {
    id: String,
    secret: String,
}

impl KeyPair {
    fn to_secret_string(&self) -> String {
        json!({"AccessKeyId": self.id, "SecretAccessKey": self.secret}).to_string()
    }
}

/// Serves `Custom::VendorS3User`.
pub struct VendorS3User {
    clients: Clients,
    settings: Settings,
    backoff: Backoff,
}

impl VendorS3User {
    pub fn new(clients: Clients, settings: Settings) -> Self {
        VendorS3User {
            clients,
            settings,
            backoff: Backoff::default(),
        }
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>, UserError> {
        match self.clients.iam.get_user().user_name(name).send().await {
            Ok(output) => Ok(output.user),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(Principal::User(name).error("GetUser", e).into()),
        }
    }

    /// The user's tags. GetUser does not always return them, so they are listed.
    async fn user_tags(&self, name: &str) -> Result<BTreeMap<String, String>, UserError> {
        let output = self
            .clients
            .iam
            .list_user_tags()
            .user_name(name)
            .send()
            .await
            .map_err(|e| Principal::User(name).error("ListUserTags", e))?;
        Ok(tag_map(output.tags()))
    }

    async fn converge(
        &self,
        invocation: &Invocation,
        name: &str,
        path: &str,
        properties: &UserProperties,
        old: Option<&UserProperties>,
    ) -> Result<Outcome, UserError> {
        let owner = invocation.owner();
        let principal = Principal::User(name);
        let existing = self.get_user(name).await?;
        let mut tags = BTreeMap::new();
        if let Some(user) = &existing {
            tags = self.user_tags(name).await?;
            let owned = iam::ownership(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), &owner);
            if let Some(refusal) = owned.refusal(&principal.describe()) {
                return Err(UserError::NotOurs(refusal));
            }
            if user.path() != path {
                return Err(UserError::PathTaken(name.to_string()));
            }
        }
        let plan = kms::plan(&self.clients.s3, &self.clients.kms, &properties.s3).await?;
        let policy = permission_policy(
            &properties.s3.locations,
            &properties.s3.network,
            &plan.iam_statements(),
        );
        if policy.size() > MAX_USER_INLINE_POLICY_CHARS {
            return Err(UserError::TooLarge(policy.size()));
        }
        // The key and secret tags are ours too.
        check_tag_room(principal, properties.tags.len(), 2, &plan)?;
        let (user, created) = match existing {
            Some(user) => (user, false),
            None => {
                let user = self.create_user(name, path, properties, &owner).await?;
                invocation.made(user.arn());
                (user, true)
            }
        };
        let result = async {
            let rights = Rights {
                policy_name: POLICY_NAME,
                policy: &policy,
                policy_known_stale: created,
                plan: &plan,
                tags: &properties.tags,
                previous_tag_keys: old
                    .map(|o| o.tags.iter().map(|(k, _)| k.clone()).collect())
                    .unwrap_or_default(),
            };
            apply_rights(
                &self.clients,
                principal,
                user.arn(),
                &tags,
                &rights,
                &owner,
                &self.backoff,
                invocation.work_deadline,
            )
            .await?;
            let tags = self.user_tags(name).await?;
            self.converge_key(name, &tags, properties, &owner).await
        }
        .await;
        match result {
            Ok(key) => {
                let mut outcome = Outcome::new(user.arn())
                    .with("UserName", user.user_name())
                    .with("UserArn", user.arn())
                    .with("AccessKeyId", key.id)
                    .with("Warnings", plan.warnings.join(" | "));
                match (properties.storage, key.secret_arn, key.secret) {
                    (SecretStorage::SecretsManager, Some(arn), _) => {
                        outcome = outcome.with("SecretArn", arn);
                    }
                    (_, _, secret) => {
                        let mut warnings = plan.warnings.clone();
                        if secret.is_none() {
                            warnings.push(
                                "SecretAccessKey is returned only when the key is created or rotated; raise Serial for a new key".into(),
                            );
                        }
                        outcome = outcome
                            .with("SecretAccessKey", secret.unwrap_or_default())
                            .with("Warnings", warnings.join(" | "));
                        outcome.no_echo = true;
                    }
                }
                Ok(outcome)
            }
            Err(error) => {
                if created {
                    tracing::warn!(user = name, "rolling back the user this request created");
                    match self.remove_user(name, &owner, properties).await {
                        Ok(()) => invocation.unmade(),
                        Err(cleanup) => {
                            tracing::error!(user = name, error = %cleanup, "rollback failed")
                        }
                    }
                }
                Err(error)
            }
        }
    }

    async fn create_user(
        &self,
        name: &str,
        path: &str,
        properties: &UserProperties,
        owner: &OwnerId,
    ) -> Result<User, UserError> {
        let mut tags = vec![tag(OwnerId::TAG_KEY, &owner.tag_value())];
        tags.extend(properties.tags.iter().map(|(k, v)| tag(k, v)));
        let output = self
            .clients
            .iam
            .create_user()
            .user_name(name)
            .path(path)
            .set_permissions_boundary(self.settings.permissions_boundary_arn.clone())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| Principal::User(name).error("CreateUser", e))?;
        tracing::info!(user = name, "user created");
        output.user.ok_or_else(|| {
            UserError::Iam(IamCallError {
                action: "CreateUser",
                entity: format!("user {name}"),
                message: "the response held no user".into(),
            })
        })
    }

    /// Makes sure the user has its one current key, stored where the properties say.
    /// A new key is made when there is none, when `Serial` rises above the one recorded,
    /// or when the secret that should hold the key cannot give it back.
    async fn converge_key(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
        properties: &UserProperties,
        owner: &OwnerId,
    ) -> Result<CurrentKey, UserError> {
        let keys = self.access_key_ids(name).await?;
        let recorded = tags
            .get(KEY_TAG)
            .and_then(|v| v.split_once('/'))
            .and_then(|(serial, id)| Some((serial.parse::<i64>().ok()?, id.to_string())))
            .filter(|(_, id)| keys.contains(id));
        let secret_id = self.secret_name(name, properties);
        let stored = match (properties.storage, &secret_id) {
            (SecretStorage::SecretsManager, Some(secret)) => {
                self.read_secret(secret, name, owner).await?
            }
            _ => None,
        };
        if let Some((serial, id)) = &recorded
            && *serial >= properties.serial
        {
            match properties.storage {
                SecretStorage::Attribute => {
                    // The old secret's value, if we are moving away from Secrets Manager.
                    let previous = match tags.get(SECRET_TAG) {
                        Some(arn) => self.read_secret(arn, name, owner).await?,
                        None => None,
                    };
                    if let Some(arn) = tags.get(SECRET_TAG) {
                        self.delete_secret(arn, name, owner, properties).await?;
                        self.untag(name, &[SECRET_TAG]).await?;
                    }
                    return Ok(CurrentKey {
                        id: id.clone(),
                        secret: previous.filter(|k| &k.id == id).map(|k| k.secret),
                        secret_arn: None,
                    });
                }
                SecretStorage::SecretsManager => {
                    if let (Some(pair), Some(secret)) = (&stored, &secret_id)
                        && &pair.id == id
                    {
                        let arn = self.store_key(secret, name, pair, owner).await?;
                        self.move_secret_tag(name, tags, &arn, owner, properties)
                            .await?;
                        return Ok(CurrentKey {
                            id: id.clone(),
                            secret: None,
                            secret_arn: Some(arn),
                        });
                    }
                }
            }
        }
        self.rotate(
            name,
            tags,
            &keys,
            recorded.map(|(_, id)| id),
            properties,
            owner,
        )
        .await
    }

    /// New key first, then the secret, then the old key goes: the old key keeps working
    /// until the new one is stored. Never more than two keys.
    async fn rotate(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
        keys: &[String],
        current: Option<String>,
        properties: &UserProperties,
        owner: &OwnerId,
    ) -> Result<CurrentKey, UserError> {
        // Keys other than the current one are leftovers of an interrupted rotation.
        for stale in keys.iter().filter(|k| Some(*k) != current.as_ref()) {
            self.delete_key(name, stale).await?;
        }
        let created = self
            .clients
            .iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .map_err(|e| Principal::User(name).error("CreateAccessKey", e))?;
        let Some(key) = created.access_key else {
            return Err(UserError::Iam(IamCallError {
                action: "CreateAccessKey",
                entity: format!("user {name}"),
                message: "the response held no key".into(),
            }));
        };
        let pair = KeyPair {
            id: key.access_key_id,
            secret: key.secret_access_key,
        };
        tracing::info!(user = name, access_key_id = %pair.id, "access key created");
        let secret_arn = match (properties.storage, self.secret_name(name, properties)) {
            (SecretStorage::SecretsManager, Some(secret)) => {
                match self.store_key(&secret, name, &pair, owner).await {
                    Ok(arn) => Some(arn),
                    Err(error) => {
                        // The old key still works; the new one is withdrawn.
                        self.delete_key(name, &pair.id).await.ok();
                        return Err(error);
                    }
                }
            }
            _ => None,
        };
        self.clients
            .iam
            .tag_user()
            .user_name(name)
            .tags(tag(KEY_TAG, &format!("{}/{}", properties.serial, pair.id)))
            .send()
            .await
            .map_err(|e| Principal::User(name).error("TagUser", e))?;
        match &secret_arn {
            Some(arn) => {
                self.move_secret_tag(name, tags, arn, owner, properties)
                    .await?
            }
            None => {
                if let Some(old) = tags.get(SECRET_TAG) {
                    self.delete_secret(old, name, owner, properties).await?;
                    self.untag(name, &[SECRET_TAG]).await?;
                }
            }
        }
        if let Some(old) = current {
            self.delete_key(name, &old).await?;
            tracing::info!(user = name, access_key_id = %old, "previous access key deleted");
        }
        Ok(CurrentKey {
            id: pair.id,
            secret: (properties.storage == SecretStorage::Attribute).then_some(pair.secret),
            secret_arn,
        })
    }

    /// Records `arn` as the user's secret; a different secret recorded before (a renamed
    /// `SecretName`) is deleted.
    async fn move_secret_tag(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
        arn: &str,
        owner: &OwnerId,
        properties: &UserProperties,
    ) -> Result<(), UserError> {
        match tags.get(SECRET_TAG) {
            Some(recorded) if recorded == arn => Ok(()),
            previous => {
                if let Some(previous) = previous {
                    self.delete_secret(previous, name, owner, properties)
                        .await?;
                }
                self.clients
                    .iam
                    .tag_user()
                    .user_name(name)
                    .tags(tag(SECRET_TAG, arn))
                    .send()
                    .await
                    .map_err(|e| Principal::User(name).error("TagUser", e))?;
                Ok(())
            }
        }
    }

    async fn untag(&self, name: &str, keys: &[&str]) -> Result<(), UserError> {
        self.clients
            .iam
            .untag_user()
            .user_name(name)
            .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
            .send()
            .await
            .map_err(|e| Principal::User(name).error("UntagUser", e))?;
        Ok(())
    }

    fn secret_name(&self, user: &str, properties: &UserProperties) -> Option<String> {
        match properties.storage {
            SecretStorage::Attribute => None,
            SecretStorage::SecretsManager => Some(
                properties
                    .secret_name
                    .clone()
                    .unwrap_or_else(|| format!("{SECRET_PREFIX}{user}")),
            ),
        }
    }

    async fn access_key_ids(&self, name: &str) -> Result<Vec<String>, UserError> {
        let output = self
            .clients
            .iam
            .list_access_keys()
            .user_name(name)
            .send()
            .await
            .map_err(|e| Principal::User(name).error("ListAccessKeys", e))?;
        Ok(output
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_string))
            .collect())
    }

    async fn delete_key(&self, name: &str, key_id: &str) -> Result<(), UserError> {
        match self
            .clients
            .iam
            .delete_access_key()
            .user_name(name)
            .access_key_id(key_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(Principal::User(name).error("DeleteAccessKey", e).into()),
        }
    }

    /// Whether a secret exists and whose it is: `None` when there is none.
    async fn secret_owner(&self, secret: &str) -> Result<Option<SecretState>, UserError> {
        match self
            .clients
            .secrets
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
        {
            Ok(output) => {
                let tags: BTreeMap<String, String> = output
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect();
                Ok(Some(SecretState {
                    arn: output.arn().unwrap_or(secret).to_string(),
                    tags,
                    scheduled_for_deletion: output.deleted_date().is_some(),
                }))
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(secret_error("DescribeSecret", secret, e)),
        }
    }

    fn check_secret_owner(
        &self,
        secret: &str,
        state: &SecretState,
        owner: &OwnerId,
    ) -> Result<(), UserError> {
        let owned = iam::ownership(
            state.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            owner,
        );
        match owned.refusal(&format!("secret {secret}")) {
            Some(refusal) => Err(UserError::NotOurs(refusal)),
            None => Ok(()),
        }
    }

    /// The key pair held by our secret for this user, if there is one.
    async fn read_secret(
        &self,
        secret: &str,
        user: &str,
        owner: &OwnerId,
    ) -> Result<Option<KeyPair>, UserError> {
        let Some(state) = self.secret_owner(secret).await? else {
            return Ok(None);
        };
        self.check_secret_owner(secret, &state, owner)?;
        if state.scheduled_for_deletion
            || state.tags.get(SECRET_USER_TAG).map(String::as_str) != Some(user)
        {
            return Ok(None);
        }
        let value = self
            .clients
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| secret_error("GetSecretValue", secret, e))?;
        let parsed: Option<Value> = value
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok());
        Ok(parsed.and_then(|v| {
            Some(KeyPair {
                id: v["AccessKeyId"].as_str()?.to_string(),
                secret: v["SecretAccessKey"].as_str()?.to_string(),
            })
        }))
    }

    /// Writes the key pair into the secret, creating (or restoring) it when needed.
    async fn store_key(
        &self,
        secret: &str,
        user: &str,
        pair: &KeyPair,
        owner: &OwnerId,
    ) -> Result<String, UserError> {
        let secrets = &self.clients.secrets;
        match self.secret_owner(secret).await? {
            None => {
                let user_tag = aws_sdk_secretsmanager::types::Tag::builder()
                    .key(SECRET_USER_TAG)
                    .value(user)
                    .build();
                let owner_tag = aws_sdk_secretsmanager::types::Tag::builder()
                    .key(OwnerId::TAG_KEY)
                    .value(owner.tag_value())
                    .build();
                let created = secrets
                    .create_secret()
                    .name(secret)
                    .description(format!(
                        "Access key of IAM user {user}, managed by vendor-access"
                    ))
                    .secret_string(pair.to_secret_string())
                    .tags(owner_tag)
                    .tags(user_tag)
                    .send()
                    .await
                    .map_err(|e| secret_error("CreateSecret", secret, e))?;
                tracing::info!(secret, "secret created");
                Ok(created.arn().unwrap_or(secret).to_string())
            }
            Some(state) => {
                self.check_secret_owner(secret, &state, owner)?;
                if state.scheduled_for_deletion {
                    secrets
                        .restore_secret()
                        .secret_id(secret)
                        .send()
                        .await
                        .map_err(|e| secret_error("RestoreSecret", secret, e))?;
                }
                if state.tags.get(SECRET_USER_TAG).map(String::as_str) != Some(user) {
                    secrets
                        .tag_resource()
                        .secret_id(secret)
                        .tags(
                            aws_sdk_secretsmanager::types::Tag::builder()
                                .key(SECRET_USER_TAG)
                                .value(user)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| secret_error("TagResource", secret, e))?;
                }
                let current = self.read_secret(secret, user, owner).await?;
                if current.is_none_or(|c| c.id != pair.id || c.secret != pair.secret) {
                    secrets
                        .put_secret_value()
                        .secret_id(secret)
                        .secret_string(pair.to_secret_string())
                        .send()
                        .await
                        .map_err(|e| secret_error("PutSecretValue", secret, e))?;
                    tracing::info!(secret, "secret updated");
                }
                Ok(state.arn)
            }
        }
    }

    /// Deletes our secret for `user`, keeping the recovery window unless asked not to.
    async fn delete_secret(
        &self,
        secret: &str,
        user: &str,
        owner: &OwnerId,
        properties: &UserProperties,
    ) -> Result<(), UserError> {
        let Some(state) = self.secret_owner(secret).await? else {
            return Ok(());
        };
        self.check_secret_owner(secret, &state, owner)?;
        if state.scheduled_for_deletion
            || state.tags.get(SECRET_USER_TAG).map(String::as_str) != Some(user)
        {
            return Ok(());
        }
        let request = self.clients.secrets.delete_secret().secret_id(secret);
        let request = match properties.secret_recovery_window_days {
            0 => request.force_delete_without_recovery(true),
            days => request.recovery_window_in_days(days),
        };
        match request.send().await {
            Ok(_) => {
                tracing::info!(secret, "secret deleted");
                Ok(())
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(secret_error("DeleteSecret", secret, e)),
        }
    }

    /// Deletes the secret, keys, rights and user, if the user is ours. Gone is success.
    async fn remove_user(
        &self,
        name: &str,
        owner: &OwnerId,
        properties: &UserProperties,
    ) -> Result<(), UserError> {
        let principal = Principal::User(name);
        let Some(user) = self.get_user(name).await? else {
            // A user gone by hand may have left its secret behind.
            if let Some(secret) = self.secret_name(name, properties) {
                self.delete_secret(&secret, name, owner, properties).await?;
            }
            return Ok(());
        };
        let tags = self.user_tags(name).await?;
        let owned = iam::ownership(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), owner);
        if let Some(refusal) = owned.refusal(&principal.describe()) {
            return Err(UserError::NotOurs(refusal));
        }
        if let Some(secret) = tags
            .get(SECRET_TAG)
            .cloned()
            .or_else(|| self.secret_name(name, properties))
        {
            self.delete_secret(&secret, name, owner, properties).await?;
        }
        for key in self.access_key_ids(name).await? {
            self.delete_key(name, &key).await?;
        }
        remove(
            &self.clients,
            principal,
            user.arn(),
            &tags,
            owner,
            POLICY_NAME,
        )
        .await?;
        Ok(())
    }
}

struct SecretState {
    arn: String,
    tags: BTreeMap<String, String>,
    scheduled_for_deletion: bool,
}

struct CurrentKey {
    id: String,
    /// Known only when the key was made (or read back) in this request.
    secret: Option<String>,
    secret_arn: Option<String>,
}

impl Resource for VendorS3User {
    const TYPE: &'static str = "Custom::VendorS3User";
    type Properties = UserProperties;

    fn recognizes(&self, physical_id: &str) -> bool {
        iam::name_and_path(physical_id, "user").is_some_and(|(_, path)| path.starts_with(iam::PATH))
    }

    async fn create(
        &self,
        invocation: &Invocation,
        properties: UserProperties,
    ) -> Result<Outcome, Failure> {
        let (name, path) = properties.target(invocation);
        Ok(self
            .converge(invocation, &name, &path, &properties, None)
            .await?)
    }

    async fn update(
        &self,
        invocation: &Invocation,
        _physical_id: &str,
        properties: UserProperties,
        old: Option<UserProperties>,
    ) -> Result<Outcome, Failure> {
        // A new name or path is a new user (and key); CloudFormation deletes the old one.
        let (name, path) = properties.target(invocation);
        Ok(self
            .converge(invocation, &name, &path, &properties, old.as_ref())
            .await?)
    }

    async fn delete(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        properties: Option<UserProperties>,
    ) -> Result<(), Failure> {
        let Some((name, _)) = iam::name_and_path(physical_id, "user") else {
            return Ok(());
        };
        let properties = properties.unwrap_or_default();
        Ok(self
            .remove_user(&name, &invocation.owner(), &properties)
            .await?)
    }
}
