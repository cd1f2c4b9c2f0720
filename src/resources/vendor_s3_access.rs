//! `Custom::VendorS3Access`: a role a vendor's account assumes to reach the customer's S3
//! data, with an external id, a session length, a least-privilege policy and KMS access.
//!
//! The role's lifecycle is the one every principal shares ([`crate::aws::principal`]);
//! what is the role's own is here: its properties, trust policy and session length.

use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Map, Value};

use crate::aws::CallError;
use crate::aws::Clients;
use crate::aws::iam::{Entity, EntityKind, Existing, RoleFields};
use crate::aws::kms::KmsPlan;
use crate::aws::principal::{
    Common, ManagedPrincipal, POLICY_NAME, PrincipalError, PrincipalType, check_size,
};
use crate::aws::propagation::{Retried, retry_while_propagating};
use crate::cfn::properties::{Fields, FromProperties, InvalidProperties, Problem, Problems};
use crate::cfn::{Facet, Invocation, Outcome};
use crate::policy::s3_access::{AccessLevel, Location, S3Access, permission_policy_with};
use crate::policy::trust::{TrustShape, Trusted, external_id_of, role_trust};
use crate::policy::{
    MAX_ROLE_INLINE_POLICY_CHARS, MAX_TRUST_POLICY_CHARS, Partition, PolicyDocument,
};
use crate::rules::{self, MAX_IAM_NAME};
use crate::settings::Settings;
use crate::vendors::{self, Vendor};

/// The properties of a `Custom::VendorS3Access`, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleProperties {
    /// The preset, when `Vendor` names one.
    pub vendor: Option<&'static Vendor>,
    pub trusted_principals: Vec<Trusted>,
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
    /// A two-step vendor's values are still missing: the role trusts only itself.
    pub fn pending(&self) -> bool {
        let Some(vendor) = self.vendor.filter(|v| v.two_step) else {
            return false;
        };
        let missing_id = self.require_external_id
            && self.external_id.is_none()
            && !vendor.generates_external_id();
        self.trusted_principals.is_empty() || missing_id
    }

    fn trusts_itself(&self) -> bool {
        self.vendor.is_some_and(|v| v.trusts_itself)
    }
}

/// The defaults without a `Vendor`: an external id required (generated when omitted).
const NO_PRESET: Vendor = Vendor {
    external_id: vendors::ExternalIdIssuer::Customer,
    ..vendors::ROLE
};

impl FromProperties for RoleProperties {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties> {
        let problems = Problems::new();
        let mut fields = Fields::root(properties, &problems);
        let preset = fields.one_of("Vendor", &vendors::presets());
        let vendor = preset.unwrap_or(&NO_PRESET);
        let trusted_principals = read_trusted(&mut fields, vendor);
        let external_id = fields.string("ExternalId");
        if let Some(why) = external_id.as_deref().and_then(rules::external_id_problem) {
            fields.problem("ExternalId", why);
        }
        let require_external_id = fields
            .bool("RequireExternalId")
            .unwrap_or(vendor.requires_external_id());
        if require_external_id
            && external_id.is_none()
            && !vendor.generates_external_id()
            && !vendor.two_step
        {
            fields.problem(
                "ExternalId",
                format!(
                    "is required: {} issues it (it shows it to you in its app), so it cannot be made up here",
                    vendor.title
                ),
            );
        }
        let max_session_duration = read_session(&mut fields, vendor.session_seconds);
        let s3 = S3Access::read(&mut fields, vendor.access);
        let vendor_locations = vendor
            .vendor_buckets
            .iter()
            .map(|bucket| Location {
                bucket: bucket.to_string(),
                prefix: String::new(),
                access: AccessLevel::Read,
            })
            .collect();
        let (role_name, role_path) = match vendor.role_name {
            Some(required) => read_required_name(&mut fields, vendor, required),
            None => rules::read_name_and_path(&mut fields, "Role"),
        };
        let description = fields.string("Description");
        if let Some(why) = description.as_deref().and_then(rules::description_problem) {
            fields.problem("Description", why);
        }
        let tags = rules::read_tags(&mut fields);
        fields.finish();
        let properties = RoleProperties {
            vendor: preset,
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

/// `TrustedPrincipal`: the stack's, or the preset's fixed one.
fn read_trusted(fields: &mut Fields<'_>, vendor: &Vendor) -> Vec<Trusted> {
    let principals = fields
        .string_list("TrustedPrincipal")
        .or_else(|| vendor.fixed_principal().map(|p| vec![p.to_string()]));
    // A two-step vendor's principal may come in a later Update.
    let principals = match vendor.two_step {
        true => principals,
        false => fields.required("TrustedPrincipal", principals),
    }
    .unwrap_or_default();
    if principals.is_empty() && fields.has("TrustedPrincipal") {
        fields.problem("TrustedPrincipal", "must name at least one principal");
    }
    principals
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match Trusted::parse(p) {
            Ok(trusted) => Some(trusted),
            Err(why) => {
                fields.problem(&format!("TrustedPrincipal[{i}]"), why);
                None
            }
        })
        .collect()
}

/// A vendor that builds the role's ARN from the account id and a name of its own (Scale):
/// the role gets that name at path `/` (the guard checks the deployer allows it).
fn read_required_name(
    fields: &mut Fields<'_>,
    vendor: &Vendor,
    required: &str,
) -> (Option<String>, String) {
    let name = fields
        .string("RoleName")
        .unwrap_or_else(|| required.to_string());
    let path = fields.string("RolePath").unwrap_or_else(|| "/".to_string());
    if name != required || path != "/" {
        fields.problem(
            "RoleName",
            format!(
                "{} builds the role's ARN itself from your account id and {required}: RoleName must be {required} and RolePath /",
                vendor.title
            ),
        );
    }
    (Some(name), path)
}

fn read_session(fields: &mut Fields<'_>, default: i32) -> i32 {
    match fields.integer("MaxSessionDuration") {
        Some(s) if (3600..=43_200).contains(&s) => s as i32,
        Some(s) => {
            fields.problem(
                "MaxSessionDuration",
                format!("{s} is outside 3600 to 43200 seconds (1 to 12 hours)"),
            );
            default
        }
        None => default,
    }
}

const GENERATED_EXTERNAL_ID_LEN: usize = 32;

/// How `plan` shows an external id that Create would generate.
pub const GENERATED_EXTERNAL_ID_SHOWN: &str = "<generated at deploy: 32 random characters>";

/// A strong external id: 32 characters from a cryptographically secure generator.
fn generate_external_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), GENERATED_EXTERNAL_ID_LEN)
}

impl RoleProperties {
    /// IAM's size limits, checked up front with what is known before any AWS call: the
    /// longest external id that could be generated, and explicitly named keys.
    fn check_sizes(&self, problems: &Problems) {
        let partition = Partition::Aws;
        let external_id = self.external_id.clone().or_else(|| {
            self.require_external_id
                .then(|| "x".repeat(GENERATED_EXTERNAL_ID_LEN))
        });
        let longest_self = format!(
            "arn:aws:iam::123456789012:role{}{}",
            self.role_path,
            "x".repeat(MAX_IAM_NAME)
        );
        let shape = TrustShape {
            self_arn: &longest_self,
            trusts_itself: self.trusts_itself(),
            pending: self.pending(),
        };
        let trust = role_trust(
            partition,
            "123456789012",
            &self.trusted_principals,
            external_id.as_deref(),
            shape,
        );
        if trust.size() > MAX_TRUST_POLICY_CHARS {
            problems.add(
                "TrustedPrincipal",
                format!(
                    "the trust policy would be {} characters, over IAM's {MAX_TRUST_POLICY_CHARS}",
                    trust.size()
                ),
            );
        }
        let mut locations = self.s3.locations.clone();
        locations.extend(self.vendor_locations.iter().cloned());
        let policy = permission_policy_with(
            partition,
            &locations,
            &self.s3.network,
            &self.s3.named_keys(),
            self.vendor.map_or(&[], |v| v.extra_writes),
        );
        if policy.size() > MAX_ROLE_INLINE_POLICY_CHARS {
            problems.add(
                "Locations",
                format!("the permission policy would be {} characters, over IAM's {MAX_ROLE_INLINE_POLICY_CHARS} for a role's inline policies", policy.size()),
            );
        }
    }
}

/// An external id shorter than this is easy to guess (IAM takes 2 characters); the ones
/// this function generates have 32.
const SHORT_EXTERNAL_ID: usize = 16;

/// What the stack should know: KMS keys that could not be inspected, and the confused-deputy
/// risk AWS documents for roles that outside accounts assume without a (strong) external id.
fn warnings(
    invocation: &Invocation,
    properties: &RoleProperties,
    own: &RolePlan,
    kms: &KmsPlan,
) -> Vec<String> {
    let mut warnings = kms.warnings.clone();
    if own.replaced_lost_external_id {
        warnings.push(
            "the role's trust policy held no external id (edited outside CloudFormation?): a new one was generated; give the vendor the new ExternalId output, or set ExternalId in the stack".into(),
        );
    }
    if properties.pending() {
        // "Snowflake (storage integration)" reads as "Snowflake" here.
        let title = properties.vendor.map_or("the vendor", |v| {
            v.title.split(" (").next().unwrap_or(v.title)
        });
        warnings.push(format!(
            "waiting for {title}'s values: the role trusts only itself until an Update gives TrustedPrincipal and ExternalId as {title} shows them (docs/vendors.md, two-step vendors)"
        ));
        return warnings;
    }
    let outside: Vec<String> = properties
        .trusted_principals
        .iter()
        .filter(|p| p.account() != invocation.account())
        .map(|p| p.arn(Partition::of_arn(invocation.stack_id())))
        .collect();
    match &own.external_id {
        None if !outside.is_empty() => warnings.push(format!(
            "the role trusts {} outside this account without an external id: any customer of that account's owner could make it act on your data (the confused-deputy problem); set ExternalId, or RequireExternalId: true",
            outside.join(", ")
        )),
        Some(id) if id.chars().count() < SHORT_EXTERNAL_ID => warnings.push(format!(
            "the external id has {} characters; one of at least {SHORT_EXTERNAL_ID} is hard to guess (omit ExternalId to get a generated one of 32)",
            id.chars().count()
        )),
        _ => {}
    }
    warnings
}

/// A role's own documents, planned or found: IAM stores no description as none.
fn role_facets(
    trust: Option<Value>,
    session: Option<i32>,
    description: Option<String>,
) -> Vec<Facet> {
    vec![
        Facet::owned("TrustPolicy", trust),
        Facet::owned("MaxSessionDuration", session.map(Value::from)),
        Facet::owned(
            "Description",
            Some(Value::String(description.unwrap_or_default())),
        ),
    ]
}

/// What the role's own planning decided.
pub struct RolePlan {
    pub external_id: Option<String>,
    /// The external id is new, made by this request (shown by `plan` as such, never as
    /// the value a plan happened to draw).
    pub generated_external_id: bool,
    /// The role exists but its trust policy held no external id (edited by hand): the
    /// one the vendor was given is lost, and a new one was made.
    pub replaced_lost_external_id: bool,
    pub trust: PolicyDocument,
}

/// Serves `Custom::VendorS3Access`.
pub struct VendorS3Access {
    clients: Clients,
    settings: Settings,
}

impl VendorS3Access {
    pub fn new(clients: Clients, settings: Settings) -> ManagedPrincipal<Self> {
        ManagedPrincipal(VendorS3Access { clients, settings })
    }

    /// Writes the trust policy when it differs from the role's, waiting for a principal
    /// IAM does not accept yet.
    async fn update_trust(
        &self,
        invocation: &Invocation,
        existing: &Existing,
        properties: &RoleProperties,
        trust: &PolicyDocument,
    ) -> Result<(), PrincipalError> {
        if existing.trust.as_ref() == Some(&trust.to_value()) {
            return Ok(());
        }
        let iam = &self.clients.iam;
        let updated = retry_while_propagating(
            &self.settings.waits.propagation,
            invocation.work_deadline,
            || async {
                iam.update_assume_role_policy()
                    .role_name(&existing.name)
                    .policy_document(trust.to_json())
                    .send()
                    .await
                    .map_err(CallError::of)
            },
        )
        .await;
        let role = Entity::new(EntityKind::Role, &existing.name, &existing.path);
        match updated {
            Ok(_) => {
                tracing::info!(role = %existing.name, "trust policy updated");
                Ok(())
            }
            Err(Retried::Failed(error)) => Err(role.error("UpdateAssumeRolePolicy", error).into()),
            Err(Retried::StillRejected(rejected)) => Err(PrincipalError::Principal(
                rejected.explain(&self.common(properties).principals),
            )),
        }
    }
}

impl PrincipalType for VendorS3Access {
    const RESOURCE_TYPE: &'static str = "Custom::VendorS3Access";
    const KIND: EntityKind = EntityKind::Role;
    const POLICY_LIMIT: usize = MAX_ROLE_INLINE_POLICY_CHARS;
    const BOOKKEEPING_TAGS: usize = 0;
    type Properties = RoleProperties;
    type Own = RolePlan;
    /// The external id of the role being replaced.
    type Carried = Option<String>;

    fn clients(&self) -> &Clients {
        &self.clients
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn common<'a>(&self, properties: &'a RoleProperties) -> Common<'a> {
        let partition = Partition::Aws;
        Common {
            name: properties.role_name.as_deref(),
            path: &properties.role_path,
            s3: &properties.s3,
            vendor_locations: &properties.vendor_locations,
            tags: &properties.tags,
            extra_writes: properties.vendor.map_or(&[], |v| v.extra_writes),
            principals: properties
                .trusted_principals
                .iter()
                .map(|p| p.arn(partition))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The preset must be an allowed vendor, and every principal outside the account one
    /// the deployer allows.
    fn guard_own(&self, invocation: &Invocation, properties: &RoleProperties) -> Vec<Problem> {
        let guardrails = &self.settings.guardrails;
        let vendor = properties
            .vendor
            .and_then(|v| guardrails.vendor_problem(v))
            .map(|problem| Problem::new("Vendor", problem));
        let root = (properties.role_path == "/")
            .then(|| {
                guardrails.root_role_problem(properties.role_name.as_deref().unwrap_or_default())
            })
            .flatten()
            .map(|problem| Problem::new("RolePath", problem));
        let principals =
            properties
                .trusted_principals
                .iter()
                .enumerate()
                .filter_map(|(i, principal)| {
                    let problem = guardrails.trusted_problem(principal, invocation.account())?;
                    Some(Problem::new(format!("TrustedPrincipal[{i}]"), problem))
                });
        vendor.into_iter().chain(root).chain(principals).collect()
    }

    /// The external id of the role a replacement replaces, kept when none is given.
    async fn carried_from(&self, replaced: &Entity) -> Result<Option<String>, PrincipalError> {
        let existing = replaced.get(&self.clients.iam).await?;
        Ok(existing
            .and_then(|r| r.trust)
            .as_ref()
            .and_then(external_id_of))
    }

    /// The external id: the stack's; or, when one is required, the role's own (kept across
    /// updates), the replaced role's, or a new one.
    fn plan_own(
        &self,
        invocation: &Invocation,
        entity: &Entity,
        properties: &RoleProperties,
        existing: Option<&Existing>,
        carried: &Option<String>,
    ) -> Result<RolePlan, PrincipalError> {
        let pending = properties.pending();
        let mut generated_external_id = false;
        let external_id = properties
            .external_id
            .clone()
            .filter(|_| !pending)
            .or_else(|| {
                (properties.require_external_id && !pending).then(|| {
                    existing
                        .and_then(|r| r.trust.as_ref())
                        .and_then(external_id_of)
                        .or_else(|| carried.clone())
                        .unwrap_or_else(|| {
                            generated_external_id = true;
                            generate_external_id()
                        })
                })
            });
        let partition = Partition::of_arn(invocation.stack_id());
        let self_arn = format!(
            "arn:{}:iam::{}:role{}{}",
            partition.name(),
            invocation.account(),
            entity.path,
            entity.name
        );
        let shape = TrustShape {
            self_arn: &self_arn,
            trusts_itself: properties.trusts_itself(),
            pending,
        };
        let trust = role_trust(
            partition,
            invocation.account(),
            &properties.trusted_principals,
            external_id.as_deref(),
            shape,
        );
        check_size(entity, "trust", trust.size(), MAX_TRUST_POLICY_CHARS)?;
        Ok(RolePlan {
            external_id,
            replaced_lost_external_id: generated_external_id && existing.is_some(),
            generated_external_id,
            trust,
        })
    }

    fn role_fields<'a>(
        &self,
        properties: &'a RoleProperties,
        own: &'a RolePlan,
    ) -> Option<RoleFields<'a>> {
        Some(RoleFields {
            trust: &own.trust,
            max_session_duration: properties.max_session_duration,
            description: properties.description.as_deref(),
        })
    }

    /// Trust, session length and description, each written only when it differs.
    async fn update_own(
        &self,
        invocation: &Invocation,
        existing: &Existing,
        properties: &RoleProperties,
        own: &RolePlan,
    ) -> Result<(), PrincipalError> {
        self.update_trust(invocation, existing, properties, &own.trust)
            .await?;
        let description = properties.description.clone().unwrap_or_default();
        if existing.max_session_duration == Some(properties.max_session_duration)
            && existing.description.clone().unwrap_or_default() == description
        {
            return Ok(());
        }
        self.clients
            .iam
            .update_role()
            .role_name(&existing.name)
            .max_session_duration(properties.max_session_duration)
            .description(description)
            .send()
            .await
            .map_err(|e| {
                Entity::new(EntityKind::Role, &existing.name, &existing.path)
                    .error("UpdateRole", CallError::of(e))
            })?;
        tracing::info!(role = %existing.name, "session length or description updated");
        Ok(())
    }

    async fn finish(
        &self,
        invocation: &Invocation,
        existing: &Existing,
        properties: &RoleProperties,
        own: &RolePlan,
        kms: &KmsPlan,
    ) -> Result<Outcome, PrincipalError> {
        let partition = Partition::of_arn(invocation.stack_id());
        let trusted: Vec<String> = properties
            .trusted_principals
            .iter()
            .map(|p| p.arn(partition))
            .collect();
        Ok(Outcome::new(&existing.arn)
            .with("RoleArn", &existing.arn)
            .with("RoleName", &existing.name)
            .with("RoleId", &existing.id)
            .with("ExternalId", own.external_id.clone().unwrap_or_default())
            .with("TrustedPrincipal", trusted.join(","))
            .with("PolicyName", POLICY_NAME)
            .with("KmsKeyArns", kms.key_arns().join(","))
            .with(
                "Warnings",
                warnings(invocation, properties, own, kms).join(" | "),
            ))
    }

    fn own_facets(&self, properties: &RoleProperties, own: &RolePlan) -> Vec<Facet> {
        let mut trust = own.trust.to_json();
        if let Some(id) = own
            .external_id
            .as_ref()
            .filter(|_| own.generated_external_id)
        {
            trust = trust.replace(id, GENERATED_EXTERNAL_ID_SHOWN);
        }
        role_facets(
            serde_json::from_str(&trust).ok(),
            Some(properties.max_session_duration),
            properties.description.clone(),
        )
    }

    async fn current_own_facets(
        &self,
        _invocation: &Invocation,
        existing: &Existing,
        _properties: &RoleProperties,
    ) -> Result<Vec<Facet>, PrincipalError> {
        Ok(role_facets(
            existing.trust.clone(),
            existing.max_session_duration,
            existing.description.clone(),
        ))
    }

    /// A role has nothing of its own beyond what every principal has.
    async fn remove_own(
        &self,
        _invocation: &Invocation,
        _entity: &Entity,
        _existing: Option<&Existing>,
        _properties: Option<&RoleProperties>,
    ) -> Result<(), PrincipalError> {
        Ok(())
    }
}
