//! KMS for SSE-KMS buckets: which keys a vendor needs, and how it gets to use them.
//!
//! An AWS-managed key (`aws/s3`) lets every principal of the account use it through S3, so
//! it needs nothing. A customer key whose key policy delegates to the account (the default
//! `arn:aws:iam::ACCOUNT:root` with `kms:*`) honours IAM policies, so an IAM statement
//! limited to S3 is enough. Any other customer key only honours its key policy and grants:
//! the principal gets a grant, named after the owner so it can be found and retired.

use super::CallError;
use super::propagation::{Backoff, Retried, is_unpropagated_principal, retry_while_rejected};
use super::turns::{Document, InTurn, TurnError, Turns};
use crate::cfn::{Invocation, OwnerId};
use crate::policy::s3_access::{AccessLevel, KeyStatementFor, KmsAccess, S3Access};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation, KeyManagerType};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    IamPolicy,
    Grant,
}

/// One customer-managed key the principal will use, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    pub key_arn: String,
    pub access: AccessLevel,
    pub mode: KeyMode,
    /// The one bucket whose S3 Bucket Key makes every request S3 sends KMS carry the
    /// bucket's ARN as encryption context: a grant is then limited to that context.
    pub context_bucket: Option<String>,
}

impl KeyUse {
    /// The encryption context a grant is limited to: S3 Bucket Keys use the bucket's ARN.
    fn grant_context(&self) -> Option<(String, String)> {
        let bucket = self.context_bucket.as_ref()?;
        let partition = self.key_arn.split(':').nth(1).unwrap_or("aws");
        Some((
            "aws:s3:arn".to_string(),
            format!("arn:{partition}:s3:::{bucket}"),
        ))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KmsPlan {
    pub keys: Vec<KeyUse>,
    /// Buckets or keys that could not be inspected; the stack still succeeds.
    pub warnings: Vec<String>,
}

impl KmsPlan {
    pub fn iam_statements(&self) -> Vec<KeyStatementFor> {
        self.keys
            .iter()
            .filter(|k| k.mode == KeyMode::IamPolicy)
            .map(|k| KeyStatementFor {
                key_arn: k.key_arn.clone(),
                access: k.access,
            })
            .collect()
    }

    pub fn grants(&self) -> Vec<&KeyUse> {
        self.keys
            .iter()
            .filter(|k| k.mode == KeyMode::Grant)
            .collect()
    }

    pub fn key_arns(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.key_arn.clone()).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("bucket {0:?} does not exist (check the name in Locations)")]
    NoSuchBucket(String),
    #[error("KMS key {key}: {action} failed: {message}")]
    Call {
        key: String,
        action: &'static str,
        code: Option<String>,
        message: String,
    },
    #[error("KMS grant on {key}: {reason}")]
    Grantee { key: String, reason: String },
    /// KMS does not accept the grantee yet; waited for outside the turn.
    #[error("KMS key {key}: CreateGrant failed: {}", error.described)]
    Unpropagated { key: String, error: CallError },
    #[error(transparent)]
    Turn(#[from] TurnError),
}

fn call_error(key: &str, action: &'static str, error: CallError) -> KmsError {
    KmsError::Call {
        key: key.to_string(),
        action,
        code: error.code,
        message: error.described,
    }
}

/// Decides which keys need what. Looks only at the customer's locations.
pub async fn plan(
    s3: &aws_sdk_s3::Client,
    kms: &aws_sdk_kms::Client,
    access: &S3Access,
) -> Result<KmsPlan, KmsError> {
    let mut plan = KmsPlan::default();
    let detect = access.kms_access != KmsAccess::None && access.kms_key_arns.is_empty();
    if !detect {
        // Detection reads every bucket anyway; without it, a typo must still fail here.
        check_buckets_exist(s3, access).await?;
    }
    if access.kms_access == KmsAccess::None {
        return Ok(plan);
    }
    // (key as named by the bucket or the properties, the access it needs, the bucket whose
    // S3 Bucket Key uses it)
    let mut candidates: Vec<(String, AccessLevel, Option<String>)> = Vec::new();
    if access.kms_key_arns.is_empty() {
        let mut buckets: Vec<(&str, AccessLevel)> = Vec::new();
        for location in &access.locations {
            match buckets.iter_mut().find(|(b, _)| *b == location.bucket) {
                Some((_, level)) => *level = (*level).max(location.access),
                None => buckets.push((&location.bucket, location.access)),
            }
        }
        for (bucket, level) in buckets {
            if let Some((key, bucket_key)) = bucket_key(s3, bucket, &mut plan.warnings).await? {
                candidates.push((key, level, bucket_key.then(|| bucket.to_string())));
            }
        }
    } else {
        let level = access.max_access();
        candidates.extend(access.kms_key_arns.iter().map(|k| (k.clone(), level, None)));
    }
    for (key, level, context_bucket) in candidates {
        if level == AccessLevel::List {
            continue;
        }
        let Some(mut key_use) =
            key_use(kms, &key, level, access.kms_access, &mut plan.warnings).await?
        else {
            continue;
        };
        key_use.context_bucket = context_bucket;
        match plan.keys.iter_mut().find(|k| k.key_arn == key_use.key_arn) {
            Some(existing) => {
                existing.access = existing.access.max(key_use.access);
                // Two buckets on one key: a grant cannot be limited to either.
                existing.context_bucket = None;
            }
            None => plan.keys.push(key_use),
        }
    }
    warn_of_unlimited_grants(&mut plan);
    Ok(plan)
}

/// A grant has no `kms:ViaService`: unless S3 Bucket Keys let it be limited to the
/// bucket's encryption context, its grantee may use the key directly, not only through S3.
fn warn_of_unlimited_grants(plan: &mut KmsPlan) {
    for key in plan.keys.iter().filter(|k| k.mode == KeyMode::Grant) {
        if key.context_bucket.is_none() {
            plan.warnings.push(format!(
                "the KMS grant on {} cannot be limited to S3 (grants have no kms:ViaService) nor, without S3 Bucket Keys on one bucket, to a bucket's encryption context: its grantee may use the key for {} outside S3 too; enable S3 Bucket Keys on the bucket, or give the key a policy that delegates to the account (KmsAccess: iam-policy)",
                key.key_arn,
                key.access.kms_actions().join(" and ")
            ));
        }
    }
}

/// The grant a bucket-policy vendor's own principal needs on the bucket's default key: `None`
/// when the bucket needs no KMS (SSE-S3) or the key cannot serve another account (with a
/// warning).
pub async fn vendor_key_use(
    s3: &aws_sdk_s3::Client,
    kms: &aws_sdk_kms::Client,
    bucket: &str,
    access: AccessLevel,
) -> Result<(Option<KeyUse>, Vec<String>), KmsError> {
    let mut plan = KmsPlan::default();
    let Some((key, bucket_key)) = bucket_key(s3, bucket, &mut plan.warnings).await? else {
        return Ok((None, plan.warnings));
    };
    let Some(mut key_use) =
        key_use(kms, &key, access, KmsAccess::Grant, &mut plan.warnings).await?
    else {
        plan.warnings.push(format!(
            "bucket {bucket} is encrypted with an AWS managed key, which no other account can use: encrypt it with a customer managed key for the vendor to read it"
        ));
        return Ok((None, plan.warnings));
    };
    key_use.context_bucket = bucket_key.then(|| bucket.to_string());
    plan.keys.push(key_use.clone());
    warn_of_unlimited_grants(&mut plan);
    Ok((Some(key_use), plan.warnings))
}

/// Fails on the first customer bucket that does not exist. A bucket we may not look at
/// (another account's) is taken to exist.
async fn check_buckets_exist(s3: &aws_sdk_s3::Client, access: &S3Access) -> Result<(), KmsError> {
    let mut seen: Vec<&str> = Vec::new();
    for location in &access.locations {
        if seen.contains(&location.bucket.as_str()) {
            continue;
        }
        seen.push(&location.bucket);
        if let Err(error) = s3.head_bucket().bucket(&location.bucket).send().await
            && error.as_service_error().is_some_and(|e| e.is_not_found())
        {
            return Err(KmsError::NoSuchBucket(location.bucket.clone()));
        }
    }
    Ok(())
}

/// The customer key a bucket encrypts new objects with, and whether the bucket uses an S3
/// Bucket Key; `None` for SSE-S3, the AWS-managed key, or a bucket whose encryption cannot
/// be read (with a warning).
async fn bucket_key(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<(String, bool)>, KmsError> {
    let output = match s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(output) => output,
        Err(error) => {
            return match error.code() {
                Some("NoSuchBucket") => Err(KmsError::NoSuchBucket(bucket.to_string())),
                Some("ServerSideEncryptionConfigurationNotFoundError") => Ok(None),
                code => {
                    warnings.push(format!(
                        "bucket {bucket}: default encryption could not be read ({}); no KMS access was granted for it",
                        code.unwrap_or("unknown error")
                    ));
                    Ok(None)
                }
            };
        }
    };
    let key = output
        .server_side_encryption_configuration()
        .into_iter()
        .flat_map(|c| c.rules())
        .find_map(|rule| {
            let default = rule.apply_server_side_encryption_by_default()?;
            if !default.sse_algorithm().as_str().starts_with("aws:kms") {
                return None;
            }
            let key = default.kms_master_key_id()?.to_string();
            Some((key, rule.bucket_key_enabled() == Some(true)))
        });
    Ok(key)
}

/// How the principal gets to use `key`, or `None` when it needs nothing (AWS-managed key)
/// or the key cannot be inspected (with a warning).
async fn key_use(
    kms: &aws_sdk_kms::Client,
    key: &str,
    access: AccessLevel,
    mode: KmsAccess,
    warnings: &mut Vec<String>,
) -> Result<Option<KeyUse>, KmsError> {
    let metadata = match kms.describe_key().key_id(key).send().await {
        Ok(output) => output.key_metadata,
        Err(error) if error.code() == Some("NotFoundException") => {
            return Err(call_error(key, "DescribeKey", CallError::of(error)));
        }
        Err(error) => {
            warnings.push(format!(
                "KMS key {key} could not be described ({}); no KMS access was granted for it",
                error.code().unwrap_or("unknown error")
            ));
            return Ok(None);
        }
    };
    let Some(metadata) = metadata else {
        return Ok(None);
    };
    if metadata.key_manager() == Some(&KeyManagerType::Aws) {
        return Ok(None);
    }
    let key_arn = metadata.arn().unwrap_or(key).to_string();
    let mode = match mode {
        KmsAccess::IamPolicy => KeyMode::IamPolicy,
        KmsAccess::Grant => KeyMode::Grant,
        KmsAccess::Auto | KmsAccess::None => {
            let policy = kms
                .get_key_policy()
                .key_id(&key_arn)
                .policy_name("default")
                .send()
                .await;
            match policy {
                Ok(output) => {
                    let account = key_arn.split(':').nth(4).unwrap_or_default();
                    let policy: Value = output
                        .policy()
                        .and_then(|p| serde_json::from_str(p).ok())
                        .unwrap_or(Value::Null);
                    if delegates_to_account(&policy, account) {
                        KeyMode::IamPolicy
                    } else {
                        KeyMode::Grant
                    }
                }
                Err(error) => {
                    warnings.push(format!(
                        "KMS key {key_arn}: key policy could not be read ({}); an IAM statement was added, which works only if the key policy delegates to the account (otherwise set KmsAccess: grant)",
                        error.code().unwrap_or("unknown error")
                    ));
                    KeyMode::IamPolicy
                }
            }
        }
    };
    Ok(Some(KeyUse {
        key_arn,
        access,
        mode,
        context_bucket: None,
    }))
}

/// Whether a key policy lets IAM policies of `account` grant use of the key: an
/// unconditioned Allow of `kms:*` to the account root.
pub fn delegates_to_account(policy: &Value, account: &str) -> bool {
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => Vec::new(),
    };
    let root_suffix = format!(":iam::{account}:root");
    statements.into_iter().any(|statement| {
        let strings = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let principals = strings(&statement["Principal"]["AWS"]);
        statement["Effect"] == "Allow"
            && statement.get("Condition").is_none()
            && strings(&statement["Action"]).iter().any(|a| a == "kms:*")
            && principals
                .iter()
                .any(|p| p == account || (p.starts_with("arn:") && p.ends_with(&root_suffix)))
    })
}

/// The name of every grant one owner makes, so its grants can be found again.
pub fn grant_name(owner: &OwnerId) -> String {
    format!("vendor-access-{}", owner.hash())
}

fn grant_operations(access: AccessLevel) -> Vec<GrantOperation> {
    access
        .kms_actions()
        .iter()
        .map(|action| GrantOperation::from(action.trim_start_matches("kms:")))
        .collect()
}

/// One of our grants as KMS lists it.
struct OurGrant {
    id: String,
    operations: Vec<GrantOperation>,
    context: Option<(String, String)>,
}

/// Grants owned by `name` to `grantee` on `key_arn`.
async fn our_grants(
    kms: &aws_sdk_kms::Client,
    key_arn: &str,
    grantee: &str,
    name: &str,
) -> Result<Vec<OurGrant>, KmsError> {
    let mut found = Vec::new();
    let mut pages = kms.list_grants().key_id(key_arn).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error(key_arn, "ListGrants", CallError::of(e)))?;
        for grant in page.grants() {
            if grant.name() == Some(name) && grant.grantee_principal() == Some(grantee) {
                let mut operations = grant.operations().to_vec();
                operations.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                let context = grant
                    .constraints()
                    .and_then(|c| c.encryption_context_subset())
                    .and_then(|subset| subset.iter().next())
                    .map(|(k, v)| (k.clone(), v.clone()));
                found.push(OurGrant {
                    id: grant.grant_id().unwrap_or_default().to_string(),
                    operations,
                    context,
                });
            }
        }
    }
    Ok(found)
}

/// Where grants are made, and who takes turns on a key's grants.
pub struct Granting<'a> {
    pub kms: &'a aws_sdk_kms::Client,
    pub turns: &'a Turns,
    pub invocation: &'a Invocation,
    /// A new grantee may be too new for KMS to accept yet.
    pub backoff: &'a Backoff,
}

/// Makes the grants to `grantee` exactly `wanted`, retiring ours on keys no longer wanted
/// (`previous` lists the keys granted before). Returns the keys granted now. Each key's
/// grants are changed in a turn on that key; a grantee KMS does not accept yet is waited
/// for between turns.
pub async fn sync_grants(
    granting: &Granting<'_>,
    grantee: &str,
    name: &str,
    wanted: &[&KeyUse],
    previous: &[String],
) -> Result<Vec<String>, KmsError> {
    let unpropagated = |failed: &InTurn<KmsError>| match failed {
        InTurn::Work(KmsError::Unpropagated { error, .. }) => Some(error.clone()),
        _ => None,
    };
    for key in wanted {
        let document = Document::KeyGrants(key.key_arn.clone());
        let synced = retry_while_rejected(
            granting.backoff,
            granting.invocation.work_deadline,
            unpropagated,
            || {
                granting.turns.in_turn(
                    &document,
                    granting.invocation,
                    grant_once(granting.kms, key, grantee, name),
                )
            },
        )
        .await;
        match synced {
            Ok(()) => {}
            Err(Retried::Failed(InTurn::Work(error))) => return Err(error),
            Err(Retried::Failed(InTurn::Turn(error))) => return Err(error.into()),
            Err(Retried::StillRejected(rejected)) => {
                return Err(KmsError::Grantee {
                    key: key.key_arn.clone(),
                    reason: rejected.explain(grantee),
                });
            }
        }
    }
    for key_arn in previous {
        if wanted.iter().any(|k| &k.key_arn == key_arn) {
            continue;
        }
        retire_all(granting, key_arn, grantee, name).await?;
    }
    Ok(wanted.iter().map(|k| k.key_arn.clone()).collect())
}

/// Our one grant to `grantee` on `key` as wanted: kept when it already is, otherwise the
/// old ones retired and one CreateGrant (not retried here; see [`sync_grants`]).
async fn grant_once(
    kms: &aws_sdk_kms::Client,
    key: &KeyUse,
    grantee: &str,
    name: &str,
) -> Result<(), KmsError> {
    let mut operations = grant_operations(key.access);
    operations.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let context = key.grant_context();
    let existing = our_grants(kms, &key.key_arn, grantee, name).await?;
    if let [only] = existing.as_slice()
        && only.operations == operations
        && only.context == context
    {
        return Ok(());
    }
    for grant in &existing {
        retire(kms, &key.key_arn, &grant.id).await?;
    }
    let constraints = context.map(|(k, v)| {
        GrantConstraints::builder()
            .encryption_context_subset(k, v)
            .build()
    });
    let created = kms
        .create_grant()
        .key_id(&key.key_arn)
        .grantee_principal(grantee)
        .name(name)
        .set_operations(Some(operations))
        .set_constraints(constraints)
        .send()
        .await
        .map_err(CallError::of);
    match created {
        Ok(_) => {
            tracing::info!(key = %key.key_arn, "KMS grant created");
            Ok(())
        }
        Err(error) if is_unpropagated_principal(&error) => Err(KmsError::Unpropagated {
            key: key.key_arn.clone(),
            error,
        }),
        Err(error) => Err(call_error(&key.key_arn, "CreateGrant", error)),
    }
}

/// Retires every grant `name` made to `grantee` on `key_arn`, in a turn on the key. A key
/// that is gone (or scheduled for deletion) has nothing left to retire.
pub async fn retire_all(
    granting: &Granting<'_>,
    key_arn: &str,
    grantee: &str,
    name: &str,
) -> Result<(), KmsError> {
    let document = Document::KeyGrants(key_arn.to_string());
    let retired = granting.turns.in_turn(
        &document,
        granting.invocation,
        retire_all_now(granting.kms, key_arn, grantee, name),
    );
    match retired.await {
        Ok(()) => Ok(()),
        Err(InTurn::Work(error)) => Err(error),
        Err(InTurn::Turn(error)) => Err(error.into()),
    }
}

async fn retire_all_now(
    kms: &aws_sdk_kms::Client,
    key_arn: &str,
    grantee: &str,
    name: &str,
) -> Result<(), KmsError> {
    let grants = match our_grants(kms, key_arn, grantee, name).await {
        Ok(grants) => grants,
        Err(KmsError::Call {
            code: Some(code), ..
        }) if code == "NotFoundException" || code == "KMSInvalidStateException" => {
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    for grant in grants {
        retire(kms, key_arn, &grant.id).await?;
    }
    Ok(())
}

/// Retiring needs no key-policy permission when we are allowed to; revoking is the
/// administrator's way and works where retiring is refused.
async fn retire(kms: &aws_sdk_kms::Client, key_arn: &str, grant_id: &str) -> Result<(), KmsError> {
    let retired = kms
        .retire_grant()
        .key_id(key_arn)
        .grant_id(grant_id)
        .send()
        .await;
    match retired {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("NotFoundException") => Ok(()),
        Err(_) => match kms
            .revoke_grant()
            .key_id(key_arn)
            .grant_id(grant_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("NotFoundException") => Ok(()),
            Err(error) => Err(call_error(key_arn, "RevokeGrant", CallError::of(error))),
        },
    }
}

/// What an offline plan cannot know about KMS, said plainly.
pub fn offline_note(access: &S3Access) -> Option<String> {
    if access.kms_access == KmsAccess::None {
        return Some("KmsAccess none: no KMS rights are given".to_string());
    }
    let how = "a customer key whose policy delegates to the account gets an IAM statement in the inline policy, any other key a KMS grant (`plan --live` reads the keys)";
    Some(match access.kms_key_arns.is_empty() {
        true => {
            let mut buckets: Vec<&str> =
                access.locations.iter().map(|l| l.bucket.as_str()).collect();
            buckets.dedup();
            format!(
                "KMS: at deploy, the default encryption of {} is read; an AWS-managed key needs nothing, {how}",
                buckets.join(", ")
            )
        }
        false => format!("KMS: KmsKeyArns {}: {how}", access.kms_key_arns.join(", ")),
    })
}

/// One grant as `plan` shows it and `drift` compares it.
fn grant_value(
    key_arn: &str,
    operations: &[GrantOperation],
    context: Option<&(String, String)>,
) -> Value {
    let mut operations: Vec<&str> = operations.iter().map(GrantOperation::as_str).collect();
    operations.sort_unstable();
    let mut grant = serde_json::json!({"KeyArn": key_arn, "Operations": operations});
    if let Some((key, value)) = context {
        grant["EncryptionContextSubset"] = serde_json::json!({ key: value });
    }
    grant
}

/// The grants a plan would make.
pub fn planned_grants(wanted: &[&KeyUse]) -> Value {
    let grants = wanted.iter().map(|key| {
        grant_value(
            &key.key_arn,
            &grant_operations(key.access),
            key.grant_context().as_ref(),
        )
    });
    Value::Array(grants.collect())
}

/// Our grants to `grantee` on `keys`, as they are now.
pub async fn held_grants(
    kms: &aws_sdk_kms::Client,
    keys: &[String],
    grantee: &str,
    name: &str,
) -> Result<Value, KmsError> {
    let mut grants = Vec::new();
    for key_arn in keys {
        for grant in our_grants(kms, key_arn, grantee, name).await? {
            grants.push(grant_value(
                key_arn,
                &grant.operations,
                grant.context.as_ref(),
            ));
        }
    }
    Ok(Value::Array(grants))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_key_policy_delegates_to_the_account() {
        let policy = json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*", "Resource": "*"}]});
        assert!(delegates_to_account(&policy, "111122223333"));
        assert!(!delegates_to_account(&policy, "444455556666"));
    }

    #[test]
    fn a_key_policy_naming_only_roles_does_not_delegate() {
        let policy = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": ["kms:Describe*"], "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*",
             "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "x"}}}
        ]});
        assert!(!delegates_to_account(&policy, "111122223333"));
    }

    #[test]
    fn grant_operations_follow_the_access_level() {
        assert_eq!(
            grant_operations(AccessLevel::Read),
            vec![GrantOperation::Decrypt]
        );
        assert_eq!(
            grant_operations(AccessLevel::ReadWrite),
            vec![GrantOperation::Decrypt, GrantOperation::GenerateDataKey]
        );
    }
}
