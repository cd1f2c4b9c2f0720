//! `Custom::VendorS3Access`: a role a vendor's account assumes to reach the customer's S3
//! data, with an external id, a session length, a least-privilege policy and KMS access.

use std::str::FromStr;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Role;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::access::{AccessLevel, Location, S3Access, permission_policy};
use crate::aws::{AwsError, Clients, describe_error};
use crate::cfn::{Failure, Invocation, Outcome, OwnerId, Resource};
use crate::iam;
use crate::kms::{self, KmsError, KmsPlan};
use crate::policy::{
    MAX_ROLE_INLINE_POLICY_CHARS, MAX_TRUST_POLICY_CHARS, PolicyDocument, Statement,
    decode_document,
};
use crate::principal::{
    Principal, Rights, RightsError, apply_rights, check_tag_room, remove, tag, tag_map,
};
use crate::propagation::{Backoff, Retried, retry_while_propagating};
use crate::properties::{Fields, FromProperties, InvalidProperties, Problems};
use crate::resources::Settings;

/// The name of the inline policy holding the S3 and KMS rights.
pub const POLICY_NAME: &str = "vendor-access-s3";

const MAX_ROLE_NAME: usize = 64;

/// The vendors whose setup guides come with defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Lightly,
    Activeloop,
    Kolena,
}

impl FromStr for Vendor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "lightly" => Ok(Vendor::Lightly),
            "activeloop" => Ok(Vendor::Activeloop),
            "kolena" => Ok(Vendor::Kolena),
            _ => Err(()),
        }
    }
}

/// What a vendor's guide asks for, as defaults every property can override.
struct Preset {
    principal: Option<&'static str>,
    require_external_id: bool,
    max_session_duration: i32,
    access: AccessLevel,
    /// The vendor's own buckets the role also reads (never inspected for KMS).
    vendor_buckets: &'static [&'static str],
}

impl Vendor {
    fn preset(self) -> Preset {
        match self {
            Vendor::Lightly => Preset {
                principal: Some("916419735646"),
                require_external_id: true,
                max_session_duration: 43_200,
                access: AccessLevel::ReadWriteDelete,
                vendor_buckets: &[],
            },
            Vendor::Activeloop => Preset {
                principal: Some("arn:aws:iam::597713067985:role/activeloop_backend"),
                require_external_id: false,
                max_session_duration: 3600,
                access: AccessLevel::ReadWriteDelete,
                vendor_buckets: &[],
            },
            Vendor::Kolena => Preset {
                principal: None,
                require_external_id: false,
                max_session_duration: 3600,
                access: AccessLevel::Read,
                vendor_buckets: &["kolena-public-datasets"],
            },
        }
    }
}

const NO_PRESET: Preset = Preset {
    principal: None,
    require_external_id: true,
    max_session_duration: 3600,
    access: AccessLevel::Read,
    vendor_buckets: &[],
};

/// The properties of a `Custom::VendorS3Access`, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleProperties {
    pub trusted_principals: Vec<String>,
    pub external_id: Option<String>,
    pub require_external_id: bool,
    pub max_session_duration: i32,
    pub s3: S3Access,
    /// The vendor's own buckets from the preset.
    pub vendor_locations: Vec<Location>,
    pub role_name: Option<String>,
    pub role_path: String,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl RoleProperties {
    /// The name and path of the entity these properties describe.
    fn target(&self, invocation: &Invocation) -> (String, String) {
        iam::target(
            invocation,
            self.role_name.as_deref(),
            &self.role_path,
            MAX_ROLE_NAME,
        )
    }
}

impl FromProperties for RoleProperties {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties> {
        let problems = Problems::new();
        let mut fields = Fields::root(properties, &problems);
        let vendor: Option<Vendor> = fields.choice("Vendor", &["lightly", "activeloop", "kolena"]);
        let preset = vendor.map(Vendor::preset).unwrap_or(NO_PRESET);

        let principals = fields
            .string_list("TrustedPrincipal")
            .or_else(|| preset.principal.map(|p| vec![p.to_string()]));
        let principals = fields
            .required("TrustedPrincipal", principals)
            .unwrap_or_default();
        if principals.is_empty() && fields.has("TrustedPrincipal") {
            fields.problem("TrustedPrincipal", "must name at least one principal");
        }
        let trusted_principals = principals
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match normalize_principal(p) {
                Ok(arn) => Some(arn),
                Err(why) => {
                    problems.add(format!("TrustedPrincipal[{i}]"), why);
                    None
                }
            })
            .collect();

        let external_id = fields.string("ExternalId");
        if let Some(id) = &external_id
            && let Err(why) = check_external_id(id)
        {
            fields.problem("ExternalId", why);
        }
        let require_external_id = fields
            .bool("RequireExternalId")
            .unwrap_or(preset.require_external_id);

        let max_session_duration = match fields.integer("MaxSessionDuration") {
            Some(s) if (3600..=43_200).contains(&s) => s as i32,
            Some(s) => {
                fields.problem(
                    "MaxSessionDuration",
                    format!("{s} is outside 3600 to 43200 seconds (1 to 12 hours)"),
                );
                preset.max_session_duration
            }
            None => preset.max_session_duration,
        };

        let s3 = S3Access::read(&mut fields, preset.access);
        let vendor_locations = preset
            .vendor_buckets
            .iter()
            .map(|bucket| Location {
                bucket: bucket.to_string(),
                prefix: String::new(),
                access: AccessLevel::Read,
            })
            .collect();

        let role_name = fields.string("RoleName");
        if let Some(name) = &role_name
            && let Err(why) = iam::check_name(name, MAX_ROLE_NAME)
        {
            fields.problem("RoleName", why);
        }
        let role_path = fields
            .string("RolePath")
            .unwrap_or_else(|| iam::PATH.to_string());
        if let Err(why) = iam::check_path(&role_path) {
            fields.problem("RolePath", why);
        }
        let description = fields.string("Description");
        if let Some(text) = &description
            && (text.chars().count() > 1000
                || text
                    .chars()
                    .any(|c| c.is_control() && !"\t\n\r".contains(c)))
        {
            fields.problem("Description", "must be at most 1000 printable characters");
        }
        let tags = iam::read_tags(&mut fields);
        fields.finish();

        let properties = RoleProperties {
            trusted_principals,
            external_id,
            require_external_id,
            max_session_duration,
            s3: s3.unwrap_or_default(),
            vendor_locations,
            role_name,
            role_path,
            description,
            tags,
        };
        if problems.is_empty() {
            properties.check_sizes(&problems);
        }
        problems.into_result(properties)
    }
}

impl RoleProperties {
    fn locations(&self) -> Vec<Location> {
        let mut all = self.s3.locations.clone();
        all.extend(self.vendor_locations.iter().cloned());
        all
    }

    /// IAM's size limits, checked up front with what is known before any AWS call: the
    /// longest external id that could be generated, and explicitly named keys.
    fn check_sizes(&self, problems: &Problems) {
        let external_id = self.external_id.clone().or_else(|| {
            self.require_external_id
                .then(|| "x".repeat(GENERATED_EXTERNAL_ID_LEN))
        });
        let trust = trust_policy(&self.trusted_principals, external_id.as_deref()).size();
        if trust > MAX_TRUST_POLICY_CHARS {
            problems.add(
                "TrustedPrincipal",
                format!("the trust policy would be {trust} characters, over IAM's {MAX_TRUST_POLICY_CHARS}"),
            );
        }
        let keys: Vec<_> = self
            .s3
            .kms_key_arns
            .iter()
            .map(|arn| crate::access::KeyStatementFor {
                key_arn: arn.clone(),
                access: self.s3.max_access(),
            })
            .collect();
        let policy = permission_policy(&self.locations(), &self.s3.network, &keys).size();
        if policy > MAX_ROLE_INLINE_POLICY_CHARS {
            problems.add(
                "Locations",
                format!("the permission policy would be {policy} characters, over IAM's {MAX_ROLE_INLINE_POLICY_CHARS} for a role's inline policies"),
            );
        }
    }
}

const GENERATED_EXTERNAL_ID_LEN: usize = 32;

/// A strong external id: 32 characters from a cryptographically secure generator.
fn generate_external_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), GENERATED_EXTERNAL_ID_LEN)
}

fn check_external_id(id: &str) -> Result<(), String> {
    if !(2..=1224).contains(&id.chars().count()) {
        return Err("must be 2 to 1224 characters long".into());
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(*c)))
    {
        return Err(format!(
            "holds {bad:?}; allowed are letters, digits and +=,.@:/_-"
        ));
    }
    Ok(())
}

/// A 12-digit account id, an account root ARN, or a role or user ARN; never a wildcard.
fn normalize_principal(principal: &str) -> Result<String, String> {
    let principal = principal.trim();
    if principal.contains(['*', '?']) {
        return Err(format!(
            "{principal:?} is a wildcard; name the vendor's account id or role ARN"
        ));
    }
    let is_account = |s: &str| s.len() == 12 && s.chars().all(|c| c.is_ascii_digit());
    if is_account(principal) {
        return Ok(format!("arn:aws:iam::{principal}:root"));
    }
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let valid = match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource] => {
            ["aws", "aws-cn", "aws-us-gov"].contains(partition)
                && is_account(account)
                && (*resource == "root"
                    || resource
                        .strip_prefix("role/")
                        .or_else(|| resource.strip_prefix("user/"))
                        .and_then(|rest| rest.rsplit('/').next())
                        .is_some_and(|name| iam::check_name(name, MAX_ROLE_NAME).is_ok()))
        }
        _ => false,
    };
    if valid {
        Ok(principal.to_string())
    } else {
        Err(format!(
            "{principal:?} is not a 12-digit account id, an account root ARN or an IAM role/user ARN"
        ))
    }
}

/// The trust policy: the vendor's principals may assume the role, with the external id
/// when one is used.
pub fn trust_policy(principals: &[String], external_id: Option<&str>) -> PolicyDocument {
    let principal = match principals {
        [one] => json!({ "AWS": one }),
        many => json!({ "AWS": many }),
    };
    let mut statement = Statement {
        sid: Some("TrustVendor".into()),
        effect: crate::policy::Effect::Allow,
        principal: Some(principal),
        action: crate::policy::OneOrMany::One("sts:AssumeRole".into()),
        resource: None,
        condition: Default::default(),
    };
    if let Some(id) = external_id {
        statement = statement.when("StringEquals", "sts:ExternalId", vec![id.to_string()]);
    }
    PolicyDocument::new(vec![statement])
}

/// The external id in a trust policy we wrote, if any.
fn external_id_of(trust: &Value) -> Option<String> {
    trust["Statement"]
        .as_array()?
        .iter()
        .find_map(|s| s["Condition"]["StringEquals"]["sts:ExternalId"].as_str())
        .map(str::to_string)
}

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{0}")]
    NotOurs(String),
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error(transparent)]
    Rights(#[from] RightsError),
    #[error(transparent)]
    Tags(#[from] crate::principal::IamCallError),
    #[error("IAM {action} for role {role} failed: {message}")]
    Iam {
        action: &'static str,
        role: String,
        message: String,
    },
    #[error("TrustedPrincipal: {0}")]
    Principal(String),
    #[error(
        "{which} policy of role {role} would be {size} characters, over IAM's limit of {limit}"
    )]
    TooLarge {
        which: &'static str,
        role: String,
        size: usize,
        limit: usize,
    },
    /// CreateRole found the name taken; the caller looks at whose it is.
    #[error("the role already exists")]
    AlreadyExists,
    #[error(
        "RolePath: role {0} already exists under another path; IAM names are unique across paths, so moving it needs a new RoleName"
    )]
    PathTaken(String),
}

impl From<RoleError> for Failure {
    fn from(error: RoleError) -> Self {
        Failure::resource(error)
    }
}

fn iam_error(action: &'static str, role: &str, error: impl AwsError) -> RoleError {
    RoleError::Iam {
        action,
        role: role.to_string(),
        message: describe_error(&error),
    }
}

/// How bringing a role to its properties begins.
#[derive(Debug, Clone)]
struct Start {
    /// Try CreateRole before looking (a Create, a replacement).
    assume_new: bool,
    /// The external id of the role being replaced, kept when none is given.
    carried_external_id: Option<String>,
}

impl Start {
    fn new_role(carried_external_id: Option<String>) -> Self {
        Start {
            assume_new: true,
            carried_external_id,
        }
    }

    fn existing_role() -> Self {
        Start {
            assume_new: false,
            carried_external_id: None,
        }
    }
}

/// Serves `Custom::VendorS3Access`.
pub struct VendorS3Access {
    clients: Clients,
    settings: Settings,
    backoff: Backoff,
}

impl VendorS3Access {
    pub fn new(clients: Clients, settings: Settings) -> Self {
        VendorS3Access {
            clients,
            settings,
            backoff: Backoff::default(),
        }
    }

    /// Replaces the IAM-propagation backoff (tests use a short one).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    async fn get_role(&self, name: &str) -> Result<Option<Role>, RoleError> {
        match self.clients.iam.get_role().role_name(name).send().await {
            Ok(output) => Ok(output.role),
            Err(error) if error.code() == Some("NoSuchEntity") => Ok(None),
            Err(error) => Err(iam_error("GetRole", name, error)),
        }
    }

    /// Brings the role `name` to what `properties` ask for, creating it when missing.
    /// `carried_external_id` is the external id to keep when none is given (from the role
    /// being replaced). On a failure after creating the role, the role is removed again.
    async fn converge(
        &self,
        invocation: &Invocation,
        name: &str,
        path: &str,
        properties: &RoleProperties,
        old: Option<&RoleProperties>,
        start: Start,
    ) -> Result<Outcome, RoleError> {
        let Start {
            assume_new,
            carried_external_id,
        } = start.clone();
        let owner = invocation.owner();
        // A Create tries CreateRole first and looks only when the name is taken: one read
        // fewer in the common case, the same checks otherwise.
        let existing = if assume_new {
            None
        } else {
            self.get_role(name).await?
        };
        if let Some(role) = &existing {
            let tags = role.tags().iter().map(|t| (t.key(), t.value()));
            if let Some(refusal) = iam::ownership(tags, &owner).refusal(&format!("role {name}")) {
                return Err(RoleError::NotOurs(refusal));
            }
            if role.path() != path {
                return Err(RoleError::PathTaken(name.to_string()));
            }
        }
        let current_trust = existing
            .as_ref()
            .and_then(|r| r.assume_role_policy_document())
            .and_then(decode_document);
        let external_id = properties.external_id.clone().or_else(|| {
            properties.require_external_id.then(|| {
                current_trust
                    .as_ref()
                    .and_then(external_id_of)
                    .or_else(|| carried_external_id.clone())
                    .unwrap_or_else(generate_external_id)
            })
        });

        let plan = kms::plan(&self.clients.s3, &self.clients.kms, &properties.s3).await?;
        check_tag_room(Principal::Role(name), properties.tags.len(), 0, &plan)?;
        let trust = trust_policy(&properties.trusted_principals, external_id.as_deref());
        let policy = permission_policy(
            &properties.locations(),
            &properties.s3.network,
            &plan.iam_statements(),
        );
        for (which, size, limit) in [
            ("trust", trust.size(), MAX_TRUST_POLICY_CHARS),
            ("inline", policy.size(), MAX_ROLE_INLINE_POLICY_CHARS),
        ] {
            if size > limit {
                return Err(RoleError::TooLarge {
                    which,
                    role: name.to_string(),
                    size,
                    limit,
                });
            }
        }

        let (role, created) = match existing {
            Some(role) => {
                self.update_role(
                    &role,
                    &trust,
                    current_trust.as_ref(),
                    properties,
                    invocation.work_deadline,
                )
                .await?;
                (role, false)
            }
            None => {
                let created = self
                    .create_role(
                        name,
                        path,
                        &trust,
                        properties,
                        &owner,
                        invocation.work_deadline,
                    )
                    .await;
                let role = match created {
                    Err(RoleError::AlreadyExists) => {
                        // A retried Create, or a name taken by someone else: look, then adopt
                        // our own role or refuse.
                        let looked = Start {
                            assume_new: false,
                            ..start
                        };
                        let again = self.converge(invocation, name, path, properties, old, looked);
                        return Box::pin(again).await;
                    }
                    other => other?,
                };
                invocation.made(role.arn());
                (role, true)
            }
        };
        // Just created, or changed by the properties themselves: the policy is written
        // without reading it first. Otherwise it is read, so drift is repaired.
        let policy_known_stale = created
            || old.is_some_and(|o| {
                permission_policy(&o.locations(), &o.s3.network, &plan.iam_statements()) != policy
            });
        let rights = Rights {
            policy_name: POLICY_NAME,
            policy: &policy,
            policy_known_stale,
            plan: &plan,
            tags: &properties.tags,
            previous_tag_keys: old
                .map(|o| o.tags.iter().map(|(k, _)| k.clone()).collect())
                .unwrap_or_default(),
        };
        let applied = apply_rights(
            &self.clients,
            Principal::Role(name),
            role.arn(),
            &tag_map(role.tags()),
            &rights,
            &owner,
            &self.backoff,
            invocation.work_deadline,
        )
        .await;
        if let Err(error) = applied {
            if created {
                tracing::warn!(role = name, "rolling back the role this request created");
                match self.remove_role(name, &owner).await {
                    Ok(()) => invocation.unmade(),
                    Err(cleanup) => {
                        tracing::error!(role = name, error = %cleanup, "rollback failed")
                    }
                }
            }
            return Err(error.into());
        }
        Ok(outputs(&role, external_id, properties, &plan))
    }

    async fn create_role(
        &self,
        name: &str,
        path: &str,
        trust: &PolicyDocument,
        properties: &RoleProperties,
        owner: &OwnerId,
        stop_by: Instant,
    ) -> Result<Role, RoleError> {
        let mut tags = vec![tag(OwnerId::TAG_KEY, &owner.tag_value())];
        tags.extend(properties.tags.iter().map(|(k, v)| tag(k, v)));
        let created = retry_while_propagating(&self.backoff, stop_by, || {
            self.clients
                .iam
                .create_role()
                .role_name(name)
                .path(path)
                .assume_role_policy_document(trust.to_json())
                .max_session_duration(properties.max_session_duration)
                .set_description(properties.description.clone())
                .set_permissions_boundary(self.settings.permissions_boundary_arn.clone())
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await;
        match created {
            Ok(output) => {
                tracing::info!(role = name, "role created");
                output.role.ok_or_else(|| RoleError::Iam {
                    action: "CreateRole",
                    role: name.to_string(),
                    message: "the response held no role".into(),
                })
            }
            Err(Retried::Failed(error)) if error.code() == Some("EntityAlreadyExists") => {
                Err(RoleError::AlreadyExists)
            }
            Err(Retried::Failed(error)) => Err(iam_error("CreateRole", name, error)),
            Err(Retried::StillRejected(rejected)) => Err(RoleError::Principal(
                rejected.explain(&properties.trusted_principals.join(", ")),
            )),
        }
    }

    /// In-place changes to an existing role: trust, session length, description. Only
    /// what differs is written.
    async fn update_role(
        &self,
        role: &Role,
        trust: &PolicyDocument,
        current_trust: Option<&Value>,
        properties: &RoleProperties,
        stop_by: Instant,
    ) -> Result<(), RoleError> {
        let name = role.role_name();
        let wanted_trust: Value = serde_json::from_str(&trust.to_json()).unwrap_or_default();
        if current_trust != Some(&wanted_trust) {
            let updated = retry_while_propagating(&self.backoff, stop_by, || {
                self.clients
                    .iam
                    .update_assume_role_policy()
                    .role_name(name)
                    .policy_document(trust.to_json())
                    .send()
            })
            .await;
            match updated {
                Ok(_) => tracing::info!(role = name, "trust policy updated"),
                Err(Retried::Failed(error)) => {
                    return Err(iam_error("UpdateAssumeRolePolicy", name, error));
                }
                Err(Retried::StillRejected(rejected)) => {
                    return Err(RoleError::Principal(
                        rejected.explain(&properties.trusted_principals.join(", ")),
                    ));
                }
            }
        }
        let description_differs = role.description().unwrap_or_default()
            != properties.description.as_deref().unwrap_or_default();
        if role.max_session_duration() != Some(properties.max_session_duration)
            || description_differs
        {
            self.clients
                .iam
                .update_role()
                .role_name(name)
                .max_session_duration(properties.max_session_duration)
                .description(properties.description.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| iam_error("UpdateRole", name, e))?;
            tracing::info!(role = name, "session length or description updated");
        }
        Ok(())
    }

    /// Deletes the role and what hangs on it, if it is ours. Already gone is success.
    async fn remove_role(&self, name: &str, owner: &OwnerId) -> Result<(), RoleError> {
        let Some(role) = self.get_role(name).await? else {
            tracing::info!(role = name, "role already gone");
            return Ok(());
        };
        let tags = tag_map(role.tags());
        let owned = iam::ownership(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), owner);
        if let Some(refusal) = owned.refusal(&format!("role {name}")) {
            return Err(RoleError::NotOurs(refusal));
        }
        remove(
            &self.clients,
            Principal::Role(name),
            role.arn(),
            &tags,
            owner,
            POLICY_NAME,
        )
        .await?;
        Ok(())
    }
}

fn outputs(
    role: &Role,
    external_id: Option<String>,
    properties: &RoleProperties,
    plan: &KmsPlan,
) -> Outcome {
    Outcome::new(role.arn())
        .with("RoleArn", role.arn())
        .with("RoleName", role.role_name())
        .with("RoleId", role.role_id())
        .with("ExternalId", external_id.unwrap_or_default())
        .with("TrustedPrincipal", properties.trusted_principals.join(","))
        .with("PolicyName", POLICY_NAME)
        .with("KmsKeyArns", plan.key_arns().join(","))
        .with("Warnings", plan.warnings.join(" | "))
}

impl Resource for VendorS3Access {
    const TYPE: &'static str = "Custom::VendorS3Access";
    type Properties = RoleProperties;

    fn recognizes(&self, physical_id: &str) -> bool {
        iam::name_and_path(physical_id, "role").is_some_and(|(_, path)| path.starts_with(iam::PATH))
    }

    async fn create(
        &self,
        invocation: &Invocation,
        properties: RoleProperties,
    ) -> Result<Outcome, Failure> {
        let (name, path) = properties.target(invocation);
        Ok(self
            .converge(
                invocation,
                &name,
                &path,
                &properties,
                None,
                Start::new_role(None),
            )
            .await?)
    }

    async fn update(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        properties: RoleProperties,
        old: Option<RoleProperties>,
    ) -> Result<Outcome, Failure> {
        let (name, path) = properties.target(invocation);
        let current = iam::name_and_path(physical_id, "role");
        let (old, start) = if current.as_ref() == Some(&(name.clone(), path.clone())) {
            (old.as_ref(), Start::existing_role())
        } else {
            // A new name or path: a new role. CloudFormation deletes the old one afterwards;
            // the external id moves with it unless a new one is given.
            let carried = match &current {
                Some((old_name, _)) => self
                    .get_role(old_name)
                    .await?
                    .and_then(|r| r.assume_role_policy_document().and_then(decode_document))
                    .as_ref()
                    .and_then(external_id_of),
                None => None,
            };
            tracing::info!(from = physical_id, to = %name, "replacing the role");
            (None, Start::new_role(carried))
        };
        Ok(self
            .converge(invocation, &name, &path, &properties, old, start)
            .await?)
    }

    async fn delete(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        _properties: Option<RoleProperties>,
    ) -> Result<(), Failure> {
        let Some((name, _)) = iam::name_and_path(physical_id, "role") else {
            return Ok(());
        };
        Ok(self.remove_role(&name, &invocation.owner()).await?)
    }
}
