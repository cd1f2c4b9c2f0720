//! `Custom::VendorS3User`: an IAM user with one access key for vendors that take keys
//! instead of assuming a role, its secret kept in Secrets Manager (or handed back once,
//! masked), rotated without downtime by raising `Serial`.
//!
//! The user's lifecycle is the one every principal shares ([`crate::aws::principal`]);
//! what is the user's own is here: its properties, its access key and the key's secret.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::aws::Clients;
use crate::aws::iam::{self, Entity, EntityKind, Existing, RoleFields, tag};
use crate::aws::kms::KmsPlan;
use crate::aws::principal::{Common, ManagedPrincipal, PrincipalError, PrincipalType};
use crate::aws::secrets::{KeyPair, KeySecrets, SECRET_PREFIX};
use crate::cfn::properties::{Choice, Fields, FromProperties, InvalidProperties, Problems};
use crate::cfn::{Facet, Invocation, Outcome};
use crate::policy::s3_access::{AccessLevel, S3Access, permission_policy};
use crate::policy::{MAX_USER_INLINE_POLICY_CHARS, Partition};
use crate::rules;
use crate::settings::Settings;

/// User tag recording the current key: `<serial>/<AccessKeyId>`.
const KEY_TAG: &str = "vendor-access:access-key";
/// User tag recording the secret that holds the current key, by ARN.
const SECRET_TAG: &str = "vendor-access:secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStorage {
    SecretsManager,
    Attribute,
}

impl Choice for SecretStorage {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("secrets-manager", SecretStorage::SecretsManager),
        ("attribute", SecretStorage::Attribute),
    ];
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
            user_path: rules::IAM_PATH.to_string(),
            tags: Vec::new(),
            serial: 1,
            storage: SecretStorage::SecretsManager,
            secret_name: None,
            secret_recovery_window_days: 30,
        }
    }
}

impl FromProperties for UserProperties {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties> {
        let problems = Problems::new();
        let mut fields = Fields::root(properties, &problems);
        let s3 = S3Access::read(&mut fields, AccessLevel::Read);
        let (user_name, user_path) = rules::read_name_and_path(&mut fields, "User");
        let tags = rules::read_tags(&mut fields);
        let serial = fields.integer("Serial").unwrap_or(1);
        if serial < 1 {
            fields.problem("Serial", "must be 1 or more; raise it to rotate the key");
        }
        let storage = fields
            .choice("SecretStorage")
            .unwrap_or(SecretStorage::SecretsManager);
        let secret_name = fields.string("SecretName");
        if let Some(why) = secret_name
            .as_deref()
            .and_then(|name| secret_name_problem(name, storage))
        {
            fields.problem("SecretName", why);
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
            properties.check_size(&problems);
        }
        problems.into_result(properties)
    }
}

fn secret_name_problem(name: &str, storage: SecretStorage) -> Option<String> {
    if storage == SecretStorage::Attribute {
        return Some("only applies with SecretStorage: secrets-manager".into());
    }
    if !name.starts_with(SECRET_PREFIX) || name.len() > 512 {
        return Some(format!(
            "must start with {SECRET_PREFIX} (the function may only manage those secrets) and be at most 512 characters"
        ));
    }
    (!name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)))
    .then(|| "may hold letters, digits and /_+=.@- only".to_string())
}

impl UserProperties {
    fn check_size(&self, problems: &Problems) {
        let size = permission_policy(
            Partition::Aws,
            &self.s3.locations,
            &self.s3.network,
            &self.s3.named_keys(),
        )
        .size();
        if size > MAX_USER_INLINE_POLICY_CHARS {
            problems.add(
                "Locations",
                format!("the user's policy would be {size} characters, over IAM's {MAX_USER_INLINE_POLICY_CHARS} for a user's inline policies: use fewer locations, or Custom::VendorS3Access (roles allow 10,240)"),
            );
        }
    }

    /// The secret that holds the user's key, when kept in Secrets Manager.
    fn secret_name(&self, user: &str) -> Option<String> {
        match self.storage {
            SecretStorage::Attribute => None,
            SecretStorage::SecretsManager => Some(
                self.secret_name
                    .clone()
                    .unwrap_or_else(|| format!("{SECRET_PREFIX}{user}")),
            ),
        }
    }
}

/// The user's key after this request.
struct CurrentKey {
    id: String,
    /// Known only when the key was made (or read back) in this request.
    secret: Option<String>,
    secret_arn: Option<String>,
}

/// Serves `Custom::VendorS3User`.
pub struct VendorS3User {
    clients: Clients,
    settings: Settings,
}

/// One request's view of one user's key: the user, its tags, the properties.
struct KeyWork<'a> {
    iam: &'a aws_sdk_iam::Client,
    secrets: KeySecrets<'a>,
    user: &'a Entity,
    tags: &'a BTreeMap<String, String>,
    properties: &'a UserProperties,
}

impl VendorS3User {
    pub fn new(clients: Clients, settings: Settings) -> ManagedPrincipal<Self> {
        ManagedPrincipal(VendorS3User { clients, settings })
    }
}

impl KeyWork<'_> {
    /// Makes sure the user has its one current key, stored where the properties say.
    /// A new key is made when there is none, when `Serial` rises above the one recorded,
    /// or when the secret that should hold the key cannot give it back.
    async fn converge(&self) -> Result<CurrentKey, PrincipalError> {
        let keys = iam::access_key_ids(self.iam, self.user).await?;
        let recorded = self
            .tags
            .get(KEY_TAG)
            .and_then(|v| v.split_once('/'))
            .and_then(|(serial, id)| Some((serial.parse::<i64>().ok()?, id.to_string())))
            .filter(|(_, id)| keys.contains(id));
        if let Some((serial, id)) = &recorded
            && *serial >= self.properties.serial
            && let Some(kept) = self.keep(id).await?
        {
            return Ok(kept);
        }
        self.rotate(&keys, recorded.map(|(_, id)| id)).await
    }

    /// The recorded key `id`, stored as the properties say now; `None` when it cannot be
    /// kept (its secret lost it) and a new one is needed.
    async fn keep(&self, id: &str) -> Result<Option<CurrentKey>, PrincipalError> {
        let name = &self.user.name;
        match self.properties.secret_name(name) {
            None => {
                // The old secret's value, if we are moving away from Secrets Manager.
                let previous = match self.tags.get(SECRET_TAG) {
                    Some(arn) => self.secrets.read_key(arn, name).await?,
                    None => None,
                };
                self.drop_recorded_secret().await?;
                Ok(Some(CurrentKey {
                    id: id.to_string(),
                    secret: previous.filter(|k| k.id == id).map(|k| k.secret),
                    secret_arn: None,
                }))
            }
            Some(secret) => match self.secrets.read_key(&secret, name).await? {
                Some(pair) if pair.id == id => {
                    let arn = self.secrets.store_key(&secret, name, &pair).await?;
                    self.record_secret(&arn).await?;
                    Ok(Some(CurrentKey {
                        id: id.to_string(),
                        secret: None,
                        secret_arn: Some(arn),
                    }))
                }
                _ => Ok(None),
            },
        }
    }

    /// New key first, then the secret, then the old key goes: the old key keeps working
    /// until the new one is stored. Never more than two keys.
    async fn rotate(
        &self,
        keys: &[String],
        current: Option<String>,
    ) -> Result<CurrentKey, PrincipalError> {
        // Keys other than the current one are leftovers of an interrupted rotation.
        for stale in keys.iter().filter(|k| Some(*k) != current.as_ref()) {
            iam::delete_access_key(self.iam, self.user, stale).await?;
        }
        let (id, secret) = iam::create_access_key(self.iam, self.user).await?;
        let pair = KeyPair { id, secret };
        tracing::info!(user = %self.user.name, access_key_id = %pair.id, "access key created");
        let secret_arn = self.store_new(&pair).await?;
        let serial = self.properties.serial;
        self.user
            .tag(
                self.iam,
                vec![tag(KEY_TAG, &format!("{serial}/{}", pair.id))],
            )
            .await?;
        match &secret_arn {
            Some(arn) => self.record_secret(arn).await?,
            None => self.drop_recorded_secret().await?,
        }
        if let Some(old) = current {
            iam::delete_access_key(self.iam, self.user, &old).await?;
            tracing::info!(user = %self.user.name, access_key_id = %old, "previous access key deleted");
        }
        let attribute = self.properties.storage == SecretStorage::Attribute;
        Ok(CurrentKey {
            id: pair.id,
            secret: attribute.then_some(pair.secret),
            secret_arn,
        })
    }

    /// Stores a new key where the properties say; if that fails, the new key is withdrawn
    /// and the old one keeps working.
    async fn store_new(&self, pair: &KeyPair) -> Result<Option<String>, PrincipalError> {
        let Some(secret) = self.properties.secret_name(&self.user.name) else {
            return Ok(None);
        };
        match self.secrets.store_key(&secret, &self.user.name, pair).await {
            Ok(arn) => Ok(Some(arn)),
            Err(error) => {
                iam::delete_access_key(self.iam, self.user, &pair.id)
                    .await
                    .ok();
                Err(error.into())
            }
        }
    }

    /// Records `arn` as the user's secret; a different secret recorded before (a renamed
    /// `SecretName`) is deleted.
    async fn record_secret(&self, arn: &str) -> Result<(), PrincipalError> {
        match self.tags.get(SECRET_TAG) {
            Some(recorded) if recorded == arn => Ok(()),
            previous => {
                if let Some(previous) = previous {
                    self.delete_secret(previous).await?;
                }
                Ok(self.user.tag(self.iam, vec![tag(SECRET_TAG, arn)]).await?)
            }
        }
    }

    /// The key is no longer kept in Secrets Manager: the recorded secret goes.
    async fn drop_recorded_secret(&self) -> Result<(), PrincipalError> {
        if let Some(old) = self.tags.get(SECRET_TAG) {
            self.delete_secret(old).await?;
            self.user
                .untag(self.iam, vec![SECRET_TAG.to_string()])
                .await?;
        }
        Ok(())
    }

    async fn delete_secret(&self, secret: &str) -> Result<(), PrincipalError> {
        let window = self.properties.secret_recovery_window_days;
        Ok(self.secrets.delete(secret, &self.user.name, window).await?)
    }
}

impl PrincipalType for VendorS3User {
    const RESOURCE_TYPE: &'static str = "Custom::VendorS3User";
    const KIND: EntityKind = EntityKind::User;
    const POLICY_LIMIT: usize = MAX_USER_INLINE_POLICY_CHARS;
    /// The key and secret tags.
    const BOOKKEEPING_TAGS: usize = 2;
    type Properties = UserProperties;
    type Own = ();
    type Carried = ();

    fn clients(&self) -> &Clients {
        &self.clients
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn common<'a>(&self, properties: &'a UserProperties) -> Common<'a> {
        Common {
            name: properties.user_name.as_deref(),
            path: &properties.user_path,
            s3: &properties.s3,
            vendor_locations: &[],
            tags: &properties.tags,
            principals: String::new(),
            extra_writes: &[],
        }
    }

    /// A new user gets a new key: nothing is carried over.
    async fn carried_from(&self, _replaced: &Entity) -> Result<(), PrincipalError> {
        Ok(())
    }

    fn plan_own(
        &self,
        _invocation: &Invocation,
        _entity: &Entity,
        _properties: &UserProperties,
        _existing: Option<&Existing>,
        _carried: &(),
    ) -> Result<(), PrincipalError> {
        Ok(())
    }

    fn role_fields<'a>(&self, _: &'a UserProperties, _: &'a ()) -> Option<RoleFields<'a>> {
        None
    }

    async fn update_own(
        &self,
        _invocation: &Invocation,
        _existing: &Existing,
        _properties: &UserProperties,
        _own: &(),
    ) -> Result<(), PrincipalError> {
        Ok(())
    }

    /// The access key, then the outputs.
    async fn finish(
        &self,
        invocation: &Invocation,
        existing: &Existing,
        properties: &UserProperties,
        _own: &(),
        kms: &KmsPlan,
    ) -> Result<Outcome, PrincipalError> {
        let user = Entity::new(EntityKind::User, &existing.name, &existing.path);
        // The rights step changed the tags: read them again.
        let tags = user.tags(&self.clients.iam).await?;
        let owner = invocation.owner();
        let work = KeyWork {
            iam: &self.clients.iam,
            secrets: KeySecrets {
                client: &self.clients.secrets,
                owner: &owner,
            },
            user: &user,
            tags: &tags,
            properties,
        };
        let key = work.converge().await?;
        Ok(outputs(existing, properties, key, kms))
    }

    /// One access key, the one recorded for the current `Serial`.
    fn own_facets(&self, properties: &UserProperties, _own: &()) -> Vec<Facet> {
        let storage = match properties.storage {
            SecretStorage::SecretsManager => "secrets-manager",
            SecretStorage::Attribute => "attribute",
        };
        vec![
            Facet::owned("AccessKey", Some(key_facet(properties.serial, 1, true))),
            Facet::context(
                "SecretStorage",
                Some(serde_json::json!({
                    "SecretStorage": storage,
                    "SecretName": properties.secret_name.clone().unwrap_or_else(|| format!("{SECRET_PREFIX}<UserName>")),
                })),
            ),
        ]
    }

    async fn current_own_facets(
        &self,
        _invocation: &Invocation,
        existing: &Existing,
        _properties: &UserProperties,
    ) -> Result<Vec<Facet>, PrincipalError> {
        let user = Entity::new(EntityKind::User, &existing.name, &existing.path);
        let keys = iam::access_key_ids(&self.clients.iam, &user).await?;
        let recorded = existing.tags.get(KEY_TAG);
        let (serial, id) = recorded
            .and_then(|r| r.split_once('/'))
            .map(|(serial, id)| (serial.parse().unwrap_or(0), id))
            .unwrap_or((0, ""));
        let present = keys.iter().any(|k| k == id);
        Ok(vec![Facet::owned(
            "AccessKey",
            Some(key_facet(serial, keys.len(), present)),
        )])
    }

    /// The secret (kept for its recovery window) and the access keys.
    async fn remove_own(
        &self,
        invocation: &Invocation,
        entity: &Entity,
        existing: Option<&Existing>,
        properties: Option<&UserProperties>,
    ) -> Result<(), PrincipalError> {
        let defaults = UserProperties::default();
        let properties = properties.unwrap_or(&defaults);
        let owner = invocation.owner();
        let secrets = KeySecrets {
            client: &self.clients.secrets,
            owner: &owner,
        };
        // A user gone by hand may have left its secret behind.
        let recorded = existing.and_then(|user| user.tags.get(SECRET_TAG).cloned());
        if let Some(secret) = recorded.or_else(|| properties.secret_name(&entity.name)) {
            let window = properties.secret_recovery_window_days;
            secrets.delete(&secret, &entity.name, window).await?;
        }
        if existing.is_some() {
            for key in iam::access_key_ids(&self.clients.iam, entity).await? {
                iam::delete_access_key(&self.clients.iam, entity, &key).await?;
            }
        }
        Ok(())
    }
}

/// The access key as `plan` shows it and `drift` compares it.
fn key_facet(serial: i64, keys: usize, recorded_key_exists: bool) -> Value {
    serde_json::json!({
        "Serial": serial,
        "KeysOnUser": keys,
        "RecordedKeyExists": recorded_key_exists,
    })
}

fn outputs(
    user: &Existing,
    properties: &UserProperties,
    key: CurrentKey,
    kms: &KmsPlan,
) -> Outcome {
    let outcome = Outcome::new(&user.arn)
        .with("UserName", &user.name)
        .with("UserArn", &user.arn)
        .with("AccessKeyId", key.id);
    if let (SecretStorage::SecretsManager, Some(arn)) = (properties.storage, key.secret_arn) {
        return outcome
            .with("SecretArn", arn)
            .with("Warnings", kms.warnings.join(" | "));
    }
    let mut warnings = kms.warnings.clone();
    if key.secret.is_none() {
        warnings.push(
            "SecretAccessKey is returned only when the key is created or rotated; raise Serial for a new key".into(),
        );
    }
    let mut outcome = outcome
        .with("SecretAccessKey", key.secret.unwrap_or_default())
        .with("Warnings", warnings.join(" | "));
    outcome.no_echo = true;
    outcome
}
