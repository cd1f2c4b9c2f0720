//! Access keys kept in Secrets Manager: one secret per user, tagged with its owner and its
//! user, holding `{"AccessKeyId", "SecretAccessKey"}`.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::Tag;
use serde_json::{Value, json};

use super::CallError;
use super::iam::{Ownership, ownership};
use crate::cfn::OwnerId;

/// Secret tag naming the user whose key it holds, so that deleting an old user after a
/// replacement never deletes the secret the new user now uses.
pub const SECRET_USER_TAG: &str = "vendor-access:user";

/// The execution role may only touch secrets under this prefix.
pub const SECRET_PREFIX: &str = "vendor-access/";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0}")]
    NotOurs(String),
    #[error("Secrets Manager {action} for secret {secret} failed: {}", .error.described)]
    Call {
        action: &'static str,
        secret: String,
        error: CallError,
    },
}

fn call_error(action: &'static str, secret: &str, error: CallError) -> SecretError {
    SecretError::Call {
        action,
        secret: secret.to_string(),
        error,
    }
}

/// A key pair, never logged.
pub struct KeyPair {
    pub id: String,
    pub secret: String,
}

impl KeyPair {
    fn to_secret_string(&self) -> String {
        json!({"AccessKeyId": self.id, "SecretAccessKey": self.secret}).to_string()
    }
}

/// A secret as Secrets Manager describes it.
pub struct SecretState {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub scheduled_for_deletion: bool,
}

impl SecretState {
    fn holds_key_of(&self, user: &str) -> bool {
        !self.scheduled_for_deletion
            && self.tags.get(SECRET_USER_TAG).map(String::as_str) == Some(user)
    }

    fn check_owner(&self, secret: &str, owner: &OwnerId) -> Result<(), SecretError> {
        match ownership(&self.tags, owner) {
            Ownership::Ours => Ok(()),
            other => Err(SecretError::NotOurs(
                other
                    .refusal(&format!("secret {secret}"))
                    .unwrap_or_default(),
            )),
        }
    }
}

/// The access keys of this function's users, in Secrets Manager.
pub struct KeySecrets<'a> {
    pub client: &'a aws_sdk_secretsmanager::Client,
    pub owner: &'a OwnerId,
}

impl KeySecrets<'_> {
    /// Whether a secret exists and whose it is: `None` when there is none.
    async fn describe(&self, secret: &str) -> Result<Option<SecretState>, SecretError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(CallError::of);
        match described {
            Ok(output) => Ok(Some(SecretState {
                arn: output.arn().unwrap_or(secret).to_string(),
                tags: output
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect(),
                scheduled_for_deletion: output.deleted_date().is_some(),
            })),
            Err(error) if error.is("ResourceNotFoundException") => Ok(None),
            Err(error) => Err(call_error("DescribeSecret", secret, error)),
        }
    }

    /// The key pair our secret holds for `user`, if there is one.
    pub async fn read_key(&self, secret: &str, user: &str) -> Result<Option<KeyPair>, SecretError> {
        let Some(state) = self.describe(secret).await? else {
            return Ok(None);
        };
        state.check_owner(secret, self.owner)?;
        if !state.holds_key_of(user) {
            return Ok(None);
        }
        let value = self
            .client
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| call_error("GetSecretValue", secret, CallError::of(e)))?;
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
    /// Returns the secret's ARN.
    pub async fn store_key(
        &self,
        secret: &str,
        user: &str,
        pair: &KeyPair,
    ) -> Result<String, SecretError> {
        let Some(state) = self.describe(secret).await? else {
            return self.create(secret, user, pair).await;
        };
        state.check_owner(secret, self.owner)?;
        let call = |action| move |e: CallError| call_error(action, secret, e);
        if state.scheduled_for_deletion {
            self.client
                .restore_secret()
                .secret_id(secret)
                .send()
                .await
                .map_err(CallError::of)
                .map_err(call("RestoreSecret"))?;
        }
        if state.tags.get(SECRET_USER_TAG).map(String::as_str) != Some(user) {
            self.client
                .tag_resource()
                .secret_id(secret)
                .tags(tag(SECRET_USER_TAG, user))
                .send()
                .await
                .map_err(CallError::of)
                .map_err(call("TagResource"))?;
        }
        let current = self.read_key(secret, user).await?;
        if current.is_none_or(|c| c.id != pair.id || c.secret != pair.secret) {
            self.client
                .put_secret_value()
                .secret_id(secret)
                .secret_string(pair.to_secret_string())
                .send()
                .await
                .map_err(CallError::of)
                .map_err(call("PutSecretValue"))?;
            tracing::info!(secret, "secret updated");
        }
        Ok(state.arn)
    }

    async fn create(
        &self,
        secret: &str,
        user: &str,
        pair: &KeyPair,
    ) -> Result<String, SecretError> {
        let created = self
            .client
            .create_secret()
            .name(secret)
            .description(format!(
                "Access key of IAM user {user}, managed by vendor-access"
            ))
            .secret_string(pair.to_secret_string())
            .tags(tag(OwnerId::TAG_KEY, &self.owner.tag_value()))
            .tags(tag(SECRET_USER_TAG, user))
            .send()
            .await
            .map_err(|e| call_error("CreateSecret", secret, CallError::of(e)))?;
        tracing::info!(secret, "secret created");
        Ok(created.arn().unwrap_or(secret).to_string())
    }

    /// Deletes our secret for `user`, keeping a recovery window of `recovery_days` (none
    /// when 0). A secret gone, or holding another user's key, is left.
    pub async fn delete(
        &self,
        secret: &str,
        user: &str,
        recovery_days: i64,
    ) -> Result<(), SecretError> {
        let Some(state) = self.describe(secret).await? else {
            return Ok(());
        };
        state.check_owner(secret, self.owner)?;
        if !state.holds_key_of(user) {
            return Ok(());
        }
        let request = self.client.delete_secret().secret_id(secret);
        let request = match recovery_days {
            0 => request.force_delete_without_recovery(true),
            days => request.recovery_window_in_days(days),
        };
        match request.send().await.map_err(CallError::of) {
            Ok(_) => {
                tracing::info!(secret, "secret deleted");
                Ok(())
            }
            Err(error) if error.is("ResourceNotFoundException") => Ok(()),
            Err(error) => Err(call_error("DeleteSecret", secret, error)),
        }
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}
