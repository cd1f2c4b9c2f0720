//! `Custom::BucketPolicyStatements`: statements merged into a bucket's existing policy.
//!
//! Every statement this resource owns has the Sid `VA<owner-hash><name>`, where the name is
//! the statement's own Sid, `Statement<n>` for one given without, or the network fence's
//! name. Statements of anyone else, and the policy's `Version` and `Id`, are kept.

use serde_json::{Map, Value, json};

use crate::aws::bucket_documents::{
    BucketAccess, BucketPart, MAX_POLICY_BYTES, MergedIntoBucket, PolicyOf,
};
use crate::aws::{Clients, kms};
use crate::cfn::properties::{
    Choice, Fields, FromProperties, InvalidProperties, Problem, Problems,
};
use crate::cfn::{Failure, Invocation};
use crate::policy::merge::OwnedEntries;
use crate::policy::network_fence::{NetworkFence, OBJECTS_SID};
use crate::policy::review;
use crate::policy::s3_access::{AccessLevel, Location, Network, permission_policy};
use crate::policy::trust::Trusted;
use crate::policy::{
    Conditions, Effect, OneOrMany, Partition, Principal, PrincipalType, Statement,
};
use crate::rules;
use crate::settings::Settings;
use crate::vendors::{self, Vendor};

const POLICY_VERSION: &str = "2012-10-17";

/// The statements of one bucket's policy, owned by one resource.
pub struct BucketPolicyStatements {
    access: BucketAccess,
}

impl BucketPolicyStatements {
    pub fn new(clients: &Clients, settings: &Settings) -> MergedIntoBucket<Self> {
        MergedIntoBucket(BucketPolicyStatements {
            access: BucketAccess::new(clients, settings),
        })
    }
}

impl BucketPolicyStatements {
    fn granting<'a>(&'a self, invocation: &'a Invocation) -> kms::Granting<'a> {
        kms::Granting {
            kms: &self.access.kms,
            turns: &self.access.turns,
            invocation,
            backoff: &self.access.propagation,
        }
    }

    /// Retires our grant to the vendor's principal on the bucket's current default key. A
    /// bucket that is gone, or no longer encrypted with a customer key, has none to retire.
    async fn retire_vendor_grant(
        &self,
        invocation: &Invocation,
        bucket: &str,
        grant: &VendorGrant,
    ) -> Result<(), Failure> {
        let access = &self.access;
        let key = match kms::vendor_key_use(&access.s3, &access.kms, bucket, grant.access).await {
            Ok((key, _)) => key,
            Err(kms::KmsError::NoSuchBucket(_)) => None,
            Err(error) => return Err(Failure::resource(error)),
        };
        let Some(key) = key else {
            return Ok(());
        };
        let partition = Partition::of_arn(invocation.stack_id());
        kms::retire_all(
            &self.granting(invocation),
            &key.key_arn,
            &grant.principal_arn(partition),
            &kms::grant_name(&invocation.owner()),
        )
        .await
        .map_err(Failure::resource)
    }
}

impl BucketPart for BucketPolicyStatements {
    const RESOURCE_TYPE: &'static str = "Custom::BucketPolicyStatements";
    const KIND: &'static str = "policy";
    const IDS_OUTPUT: &'static str = "Sids";
    type Properties = BucketPolicyStatementsProperties;
    type Document<'a> = PolicyOf<'a>;

    fn bucket(properties: &BucketPolicyStatementsProperties) -> &str {
        &properties.bucket
    }

    /// Bucket-policy Sids this project writes are letters and digits only, like IAM's.
    fn id_prefix(owner_hash: &str) -> String {
        format!("VA{owner_hash}")
    }

    fn owned(
        properties: &BucketPolicyStatementsProperties,
        invocation: &Invocation,
    ) -> OwnedEntries {
        let prefix = Self::id_prefix(&invocation.owner().hash());
        properties.owned(&prefix, Partition::of_arn(invocation.stack_id()))
    }

    fn document<'a>(&'a self, bucket: &'a str, _invocation: &'a Invocation) -> PolicyOf<'a> {
        PolicyOf {
            s3: &self.access.s3,
            bucket,
        }
    }

    fn access(&self) -> &BucketAccess {
        &self.access
    }

    /// A vendor whose guide asks for it (W&B) gets a grant on the bucket's default key for
    /// its own principal; a vendor the stack no longer names loses its grant.
    async fn after_put(
        &self,
        invocation: &Invocation,
        properties: &BucketPolicyStatementsProperties,
        old: Option<&BucketPolicyStatementsProperties>,
    ) -> Result<Vec<(&'static str, String)>, Failure> {
        let partition = Partition::of_arn(invocation.stack_id());
        let wanted = properties
            .vendor
            .as_ref()
            .filter(|g| g.vendor.kms_for_vendor);
        let had = old
            .and_then(|o| o.vendor.as_ref())
            .filter(|g| g.vendor.kms_for_vendor);
        if let Some(had) = had.filter(|h| wanted.is_none_or(|w| w.vendor != h.vendor)) {
            self.retire_vendor_grant(
                invocation,
                &old.map(|o| o.bucket.clone()).unwrap_or_default(),
                had,
            )
            .await?;
        }
        let Some(grant) = wanted else {
            return Ok(Vec::new());
        };
        let access = &self.access;
        let (key, warnings) =
            kms::vendor_key_use(&access.s3, &access.kms, &properties.bucket, grant.access)
                .await
                .map_err(Failure::resource)?;
        let mut outputs = vec![("Warnings", warnings.join(" | "))];
        if let Some(key) = key {
            kms::sync_grants(
                &self.granting(invocation),
                &grant.principal_arn(partition),
                &kms::grant_name(&invocation.owner()),
                &[&key],
                &[],
            )
            .await
            .map_err(Failure::resource)?;
            outputs.push(("KmsKeyArns", key.key_arn));
        }
        Ok(outputs)
    }

    async fn before_remove(
        &self,
        invocation: &Invocation,
        bucket: &str,
        properties: Option<&BucketPolicyStatementsProperties>,
    ) -> Result<(), Failure> {
        let grant = properties
            .and_then(|p| p.vendor.as_ref())
            .filter(|g| g.vendor.kms_for_vendor);
        match grant {
            Some(grant) => self.retire_vendor_grant(invocation, bucket, grant).await,
            None => Ok(()),
        }
    }

    /// Allow statements name only principals the account or the deployer vouches for; a
    /// Deny naming the account itself needs the lockout risk accepted.
    fn guard_own(
        &self,
        invocation: &Invocation,
        properties: &BucketPolicyStatementsProperties,
    ) -> Vec<Problem> {
        let account = invocation.account();
        let bucket_arn = Partition::of_arn(invocation.stack_id()).bucket_arn(&properties.bucket);
        let mut problems: Vec<Problem> = properties
            .vendor
            .as_ref()
            .and_then(|grant| self.access.guardrails.vendor_problem(grant.vendor))
            .map(|problem| Problem::new("Vendor", problem))
            .into_iter()
            .collect();
        for (i, given) in properties.statements.iter().enumerate() {
            let path = format!("Statements[{i}]");
            let statement = &given.statement;
            for problem in review::allow_problems(statement, account, &self.access.guardrails) {
                problems.push(Problem::new(&path, problem));
            }
            if !properties.accept_lockout_risk
                && let Some(problem) =
                    review::lockout_problem(statement, Some(account), &bucket_arn)
            {
                problems.push(Problem::new(&path, problem));
            }
        }
        problems
    }
}

/// What `Custom::BucketPolicyStatements` is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketPolicyStatementsProperties {
    pub bucket: String,
    pub statements: Vec<NamedStatement>,
    pub restrict_to_network: Option<NetworkFence>,
    /// A vendor whose guide gives access by bucket policy, with what it may do where.
    pub vendor: Option<VendorGrant>,
    pub accept_lockout_risk: bool,
}

/// What `Vendor`, `Access` and `Prefix` ask for: the vendor's principal may list the bucket
/// (under the prefix) and act on its objects as the access level allows.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorGrant {
    pub vendor: &'static Vendor,
    pub access: AccessLevel,
    pub prefix: String,
}

impl VendorGrant {
    fn read(fields: &mut Fields<'_>) -> Option<VendorGrant> {
        let vendor = fields.one_of("Vendor", &vendors::bucket_policy_presets());
        let access = fields.choice("Access");
        let prefix = fields.string("Prefix").unwrap_or_default();
        if let Some(why) = rules::prefix_problem(&prefix) {
            fields.problem("Prefix", why);
        }
        let Some(vendor) = vendor else {
            for given in ["Access", "Prefix"] {
                if fields.has(given) {
                    fields.problem(given, "applies only with Vendor");
                }
            }
            return None;
        };
        Some(VendorGrant {
            vendor,
            access: access.unwrap_or(vendor.access),
            prefix,
        })
    }

    /// The vendor's principal, as IAM names it in the stack's partition.
    fn principal_arn(&self, partition: Partition) -> String {
        Trusted::parse(self.vendor.fixed_principal().unwrap_or_default())
            .map(|p| p.arn(partition))
            .unwrap_or_default()
    }

    /// The vendor's Allow statements, each with the name its Sid ends in: the same
    /// least-privilege shape as a vendor's role gets, for its principal.
    fn statements(&self, partition: Partition, bucket: &str) -> Vec<(String, Statement)> {
        let principal = Principal::aws(vec![self.principal_arn(partition)]);
        let location = Location {
            bucket: bucket.to_string(),
            prefix: self.prefix.clone(),
            access: self.access,
        };
        let policy = permission_policy(partition, &[location], &Network::default(), &[]);
        policy
            .statements
            .into_iter()
            .map(|mut statement| {
                let name = format!("Vendor{}", statement.sid.take().unwrap_or_default());
                (name, statement.principal(principal.clone()))
            })
            .collect()
    }
}

/// One statement of `Statements`, as it will be written but for its Sid.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedStatement {
    /// What the Sid ends in after the owner's prefix.
    pub name: String,
    pub statement: Statement,
}

impl BucketPolicyStatementsProperties {
    /// Every owned statement as (name, statement without Sid): the given ones, then the
    /// network fence's.
    fn named_statements(&self, partition: Partition) -> Vec<(String, Statement)> {
        let given = self
            .statements
            .iter()
            .map(|s| (s.name.clone(), s.statement.clone()));
        let vendor = self
            .vendor
            .iter()
            .flat_map(|grant| grant.statements(partition, &self.bucket));
        let fence = self
            .restrict_to_network
            .iter()
            .flat_map(|fence| fence.statements(partition, &self.bucket))
            .map(|(name, statement)| (name.to_string(), statement));
        given.chain(vendor).chain(fence).collect()
    }

    fn owned(&self, prefix: &str, partition: Partition) -> OwnedEntries {
        let entries = self
            .named_statements(partition)
            .into_iter()
            .map(|(name, statement)| {
                serde_json::to_value(statement.sid(format!("{prefix}{name}"))).unwrap_or_default()
            })
            .collect();
        OwnedEntries {
            prefix: prefix.to_string(),
            entries,
        }
    }
}

impl FromProperties for BucketPolicyStatementsProperties {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties> {
        let problems = Problems::new();
        let mut fields = Fields::root(properties, &problems);
        let bucket = rules::read_bucket(&mut fields);
        let mut index = 0;
        let statements = fields.object_list("Statements", |statement| {
            index += 1;
            read_statement(statement, index, bucket.as_deref())
        });
        let restrict_to_network = fields.object("RestrictToNetwork", NetworkFence::read);
        let vendor = VendorGrant::read(&mut fields);
        let accept_lockout_risk = fields.bool("AcceptLockoutRisk").unwrap_or(false);
        let has_other = fields.has("RestrictToNetwork") || fields.has("Vendor");
        match &statements {
            None if !has_other && !fields.has("Statements") => {
                fields.problem(
                    "Statements",
                    "is required unless RestrictToNetwork or Vendor is set",
                );
            }
            Some(listed) if listed.is_empty() && !has_other => {
                fields.problem(
                    "Statements",
                    "must list at least one statement unless RestrictToNetwork or Vendor is set",
                );
            }
            _ => {}
        }
        fields.finish();
        let properties = BucketPolicyStatementsProperties {
            bucket: bucket.unwrap_or_default(),
            statements: statements.unwrap_or_default(),
            restrict_to_network,
            vendor,
            accept_lockout_risk,
        };
        if problems.is_empty() {
            check_whole(&properties, &problems);
        }
        problems.into_result(properties)
    }
}

/// Checks that need every statement: unique Sids, lockout, size.
fn check_whole(properties: &BucketPolicyStatementsProperties, problems: &Problems) {
    let named = properties.named_statements(Partition::Aws);
    let given = properties.statements.len();
    let path = |i: usize| {
        if i < given {
            format!("Statements[{i}]")
        } else {
            "RestrictToNetwork".to_string()
        }
    };
    for (i, (name, _)) in named.iter().enumerate() {
        if let Some(first) = named[..i].iter().position(|(other, _)| other == name) {
            problems.add(
                format!("{}.Sid", path(first.min(i))),
                format!("{name:?} is used by {} too; Sids must be unique", path(i)),
            );
        }
    }
    if !properties.accept_lockout_risk {
        let bucket_arn = Partition::Aws.bucket_arn(&properties.bucket);
        check_lockout(&named, given, &bucket_arn, problems);
    }
    let alone = properties.owned(
        &BucketPolicyStatements::id_prefix(&"0".repeat(16)),
        Partition::Aws,
    );
    let policy = json!({"Version": POLICY_VERSION, "Statement": alone.entries});
    let size = policy.to_string().len();
    if size > MAX_POLICY_BYTES {
        problems.add(
            "Statements",
            format!(
                "these statements alone make a {size}-byte policy; S3 allows at most \
                 {MAX_POLICY_BYTES} bytes"
            ),
        );
    }
}

/// Deny statements that could lock the account out, found without knowing the account
/// (the guard adds those that name it).
fn check_lockout(
    named: &[(String, Statement)],
    given: usize,
    bucket_arn: &str,
    problems: &Problems,
) {
    for (i, (name, statement)) in named.iter().enumerate() {
        let Some(problem) = review::lockout_problem(statement, None, bucket_arn) else {
            continue;
        };
        if i >= given && name == OBJECTS_SID {
            problems.add(
                "RestrictToNetwork.ExemptPrincipalArns",
                "is empty, so the Deny falls on every principal outside the network, \
                 your administrators included; list at least one role that keeps access, \
                 or set AcceptLockoutRisk: true",
            );
        } else if i < given {
            problems.add(format!("Statements[{i}]"), problem);
        }
    }
}

/// Reads statement number `number` (from 1) of `Statements`.
fn read_statement(
    fields: &mut Fields<'_>,
    number: usize,
    bucket: Option<&str>,
) -> Option<NamedStatement> {
    let sid = fields.string("Sid");
    if let Some(sid) = &sid
        && (sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        fields.problem("Sid", format!("{sid:?} must be letters and digits only"));
    }
    let effect = fields.string("Effect");
    let effect = fields.required("Effect", effect).and_then(|text| {
        let effect = Effect::parse(&text);
        if effect.is_none() {
            fields.problem("Effect", format!("must be Allow or Deny, got {text:?}"));
        }
        effect
    });
    let mut statement = Statement::new(effect.unwrap_or(Effect::Deny));
    let principal = exactly_one(fields, ["Principal", "NotPrincipal"], read_principal);
    let action = exactly_one(fields, ["Action", "NotAction"], |actions| {
        read_strings(actions, |action| {
            let s3 = action == "*" || action.to_ascii_lowercase().starts_with("s3:");
            (!s3).then(|| format!("bucket policies take only s3: actions, got {action:?}"))
        })
    });
    let resource = exactly_one(fields, ["Resource", "NotResource"], |resources| {
        read_strings(resources, |resource| {
            bucket.and_then(|bucket| resource_problem(resource, bucket))
        })
    });
    match principal {
        Some((false, p)) => statement.principal = Some(p),
        Some((true, p)) => statement.not_principal = Some(p),
        None => {}
    }
    match action {
        Some((false, a)) => statement.action = Some(a),
        Some((true, a)) => statement.not_action = Some(a),
        None => {}
    }
    match resource {
        Some((false, r)) => statement.resource = Some(r),
        Some((true, r)) => statement.not_resource = Some(r),
        None => {}
    }
    if let Some(condition) = fields.value("Condition") {
        match read_condition(condition) {
            Ok(condition) => statement.condition = condition,
            Err(problem) => fields.problem("Condition", problem),
        }
    }
    effect?;
    Some(NamedStatement {
        name: sid.unwrap_or_else(|| format!("Statement{number}")),
        statement,
    })
}

/// Reads whichever of a field and its `Not` form is given; exactly one must be. Returns
/// whether it was the `Not` form, and the value read.
fn exactly_one<T>(
    fields: &mut Fields<'_>,
    [name, negated]: [&'static str; 2],
    read: impl Fn(&Value) -> Result<T, String>,
) -> Option<(bool, T)> {
    let given = fields.value(name);
    let given_negated = fields.value(negated);
    let (field, is_negated, value) = match (given, given_negated) {
        (Some(value), None) => (name, false, value),
        (None, Some(value)) => (negated, true, value),
        (None, None) => {
            fields.problem(name, format!("is required (or {negated})"));
            return None;
        }
        (Some(_), Some(_)) => {
            fields.problem(negated, format!("cannot be given together with {name}"));
            return None;
        }
    };
    match read(value) {
        Ok(read) => Some((is_negated, read)),
        Err(message) => {
            fields.problem(field, message);
            None
        }
    }
}

/// A string or a non-empty list of strings, each checked by `problem`; a list of one stays
/// a list.
fn read_strings(
    value: &Value,
    problem: impl Fn(&str) -> Option<String>,
) -> Result<OneOrMany, String> {
    let values: OneOrMany = match value {
        Value::Array(many) if many.is_empty() => {
            return Err("must be a string or a non-empty list of strings".into());
        }
        Value::String(_) | Value::Array(_) => serde_json::from_value(value.clone())
            .map_err(|_| "must hold only strings".to_string())?,
        _ => return Err("must be a string or a non-empty list of strings".into()),
    };
    match values.values().into_iter().find_map(problem) {
        Some(problem) => Err(problem),
        None => Ok(values),
    }
}

fn read_principal(principal: &Value) -> Result<Principal, String> {
    let types = match principal {
        Value::String(everyone) if everyone == "*" => return Ok(Principal::Everyone),
        Value::Object(types) if !types.is_empty() => types,
        _ => {
            return Err(
                "must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::123456789012:role/NAME\"}"
                    .into(),
            );
        }
    };
    let mut named = std::collections::BTreeMap::new();
    for (kind, who) in types {
        let Some(kind_type) = PrincipalType::parse(kind).filter(|k| k.name() == kind) else {
            let names: Vec<&str> = PrincipalType::CHOICES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "{kind:?} is not a principal type; use {}",
                names.join(", ")
            ));
        };
        let values = read_strings(who, |_| None).map_err(|problem| format!("{kind} {problem}"))?;
        named.insert(kind_type, values);
    }
    Ok(Principal::Named(named))
}

/// S3 accepts only its own bucket and objects as a bucket policy's resources.
fn resource_problem(resource: &str, bucket: &str) -> Option<String> {
    let within = rules::arn_parts(resource)
        .filter(|arn| arn.service == "s3" && arn.region.is_empty() && arn.account.is_empty())
        .is_some_and(|arn| {
            arn.resource == bucket
                || arn
                    .resource
                    .strip_prefix(bucket)
                    .is_some_and(|p| p.starts_with('/'))
        });
    (!within).then(|| {
        format!(
            "{resource:?} is neither this bucket (arn:aws:s3:::{bucket}) nor objects in it \
             (arn:aws:s3:::{bucket}/*)"
        )
    })
}

/// `{"Operator": {"key": value or [values]}}`.
fn read_condition(condition: &Value) -> Result<Conditions, String> {
    let shape = "must map operators to keys and values, e.g. \
                 {\"Bool\": {\"aws:SecureTransport\": \"false\"}}";
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    let well_formed = condition.as_object().is_some_and(|operators| {
        operators.values().all(|keys| {
            keys.as_object().is_some_and(|keys| {
                !keys.is_empty()
                    && keys.values().all(|value| match value {
                        Value::Array(values) => !values.is_empty() && values.iter().all(scalar),
                        single => scalar(single),
                    })
            })
        })
    });
    if !well_formed {
        return Err(shape.into());
    }
    serde_json::from_value(condition.clone()).map_err(|_| shape.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::properties::testing;

    fn read(properties: Value) -> Result<BucketPolicyStatementsProperties, InvalidProperties> {
        testing::read(properties)
    }

    fn problems(properties: Value) -> Vec<String> {
        testing::problems::<BucketPolicyStatementsProperties>(properties)
    }

    #[test]
    fn each_bucket_policy_vendor_gets_the_statements_of_its_guide() {
        let statements = |properties: Value| {
            read(properties)
                .expect("valid")
                .owned("VAx", Partition::Aws)
                .entries
        };
        // V7: "s3:GetObject", "s3:PutObject" on the bucket's objects, for its external_s3 role.
        let v7 = json!({"AWS": "arn:aws:iam::258327614892:role/external_s3"});
        assert_eq!(
            statements(json!({"Bucket": "data", "Vendor": "v7"})),
            [
                json!({"Sid": "VAxVendorListBucket1", "Effect": "Allow", "Principal": v7,
                       "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data"}),
                json!({"Sid": "VAxVendorBucketLocation", "Effect": "Allow", "Principal": v7,
                       "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::data"}),
                json!({"Sid": "VAxVendorReadWriteObjects", "Effect": "Allow", "Principal": v7,
                       "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/*"}),
            ]
        );
        // Segments.ai: "s3:GetObject" on the bucket's objects, for its prod user.
        let segments = json!({"AWS": "arn:aws:iam::931508227573:user/segmentsai-prod-user"});
        let read_only =
            statements(json!({"Bucket": "data", "Vendor": "segments-ai", "Prefix": "frames/"}));
        assert_eq!(
            read_only[2],
            json!({"Sid": "VAxVendorReadObjects", "Effect": "Allow", "Principal": segments,
                   "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/frames/*"})
        );
        assert_eq!(
            read_only[0]["Condition"],
            json!({"StringLike": {"s3:prefix": "frames/*"}})
        );
        assert!(
            problems(json!({"Bucket": "data", "Vendor": "lightly"}))[0]
                .starts_with("Vendor: must be one of v7, wandb, segments-ai")
        );
        assert!(problems(json!({"Bucket": "data", "RestrictToNetwork": {"SourceIps": "10.0.0.0/8", "ExemptPrincipalArns": "arn:aws:iam::123456789012:role/a"}, "Prefix": "x/"}))[0].starts_with("Prefix: applies only with Vendor"));
    }

    #[test]
    fn given_statements_get_owner_sids_and_keep_their_fields() {
        let properties = read(json!({
            "Bucket": "data",
            "Statements": [
                {"Sid": "ReadForPartner", "Effect": "allow",
                 "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                 "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::data/shared/*"},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
            ]
        }))
        .expect("valid");
        let owned = properties.owned("VA0123456789abcdef", Partition::Aws);
        assert_eq!(
            owned.entries,
            [
                json!({"Sid": "VA0123456789abcdefReadForPartner", "Effect": "Allow",
                       "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                       "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::data/shared/*"}),
                json!({"Sid": "VA0123456789abcdefStatement2", "Effect": "Deny", "Principal": "*",
                       "Action": "s3:*", "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            ]
        );
    }

    #[test]
    fn the_fence_follows_the_given_statements_in_the_stacks_partition() {
        let properties = read(json!({
            "Bucket": "data",
            "RestrictToNetwork": {"SourceIps": "10.0.0.0/8",
                                  "ExemptPrincipalArns": "arn:aws-cn:iam::123456789012:role/admin"}
        }))
        .expect("valid");
        let owned = properties.owned("VAx", Partition::AwsCn);
        let sids: Vec<_> = owned.entries.iter().map(|s| s["Sid"].clone()).collect();
        assert_eq!(
            sids,
            [
                json!("VAxDenyObjectsOutsideNetwork"),
                json!("VAxDenyListingOutsideNetwork")
            ]
        );
        assert_eq!(owned.entries[0]["Resource"], "arn:aws-cn:s3:::data/*");
    }

    #[test]
    fn every_bad_statement_field_is_named_with_its_path() {
        let found = problems(json!({
            "Bucket": "data",
            "Statements": [
                {"Sid": "has space", "Effect": "Permit", "Principal": "*",
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"},
                {"Effect": "Allow", "Principal": "*", "NotPrincipal": "*",
                 "Actions": "s3:GetObject", "Resource": "arn:aws:s3:::data/*",
                 "Condition": {"Bool": "yes"}}
            ],
            "RestrictToNetwork": {"SourceIps": ["1.2.3.4/40"], "SourceVpcs": "vpc-nothex!"},
            "AcceptLockoutRisk": "maybe"
        }));
        let expected = [
            "Statements[0].Sid: \"has space\" must be letters and digits only",
            "Statements[0].Effect: must be Allow or Deny, got \"Permit\"",
            "Statements[1].NotPrincipal: cannot be given together with Principal",
            "Statements[1].Action: is required (or NotAction)",
            "Statements[1].Condition: must map operators to keys and values",
            "Statements[1].Actions: unknown property; did you mean Action?",
            "RestrictToNetwork.SourceIps[0]: \"1.2.3.4/40\" is not an IP address",
            "RestrictToNetwork.SourceVpcs[0]: \"vpc-nothex!\" is not a vpc id",
            "AcceptLockoutRisk: must be true or false",
        ];
        for prefix in expected {
            assert!(
                found.iter().any(|p| p.starts_with(prefix)),
                "{prefix:?} not in {found:#?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }

    #[test]
    fn principal_action_and_resource_are_checked() {
        let found = problems(json!({
            "Bucket": "data",
            "Statements": [{"Effect": "Allow", "Principal": {"Person": "me"},
                            "Action": "iam:PassRole", "Resource": "arn:aws:s3:::data-other/*"}]
        }));
        assert_eq!(
            found,
            [
                "Statements[0].Principal: \"Person\" is not a principal type; use AWS, Service, Federated, CanonicalUser",
                "Statements[0].Action: bucket policies take only s3: actions, got \"iam:PassRole\"",
                "Statements[0].Resource: \"arn:aws:s3:::data-other/*\" is neither this bucket (arn:aws:s3:::data) nor objects in it (arn:aws:s3:::data/*)",
            ]
        );
    }

    #[test]
    fn a_deny_on_everyone_without_exemption_needs_the_risk_accepted() {
        let unexempt_fence =
            json!({"Bucket": "data", "RestrictToNetwork": {"SourceIps": "10.0.0.0/8"}});
        let found = problems(unexempt_fence.clone());
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("RestrictToNetwork.ExemptPrincipalArns: is empty"));
        let mut accepted = unexempt_fence;
        accepted["AcceptLockoutRisk"] = json!("true");
        assert!(read(accepted).is_ok());

        let deny_all = json!({"Effect": "Deny", "Principal": {"AWS": ["*"]}, "Action": "s3:*",
                              "Resource": "arn:aws:s3:::data/*"});
        let found = problems(json!({"Bucket": "data", "Statements": [deny_all]}));
        assert!(
            found[0].starts_with("Statements[0]: denies every principal"),
            "{found:?}"
        );
    }

    #[test]
    fn a_deny_a_caller_can_satisfy_or_that_exempts_someone_is_no_lockout() {
        let tls_only = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": "arn:aws:s3:::data/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
        let exempting = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::data/*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                          "StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/ops-*"}}});
        let one_principal = json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:role/x"},
            "Action": "s3:*", "Resource": "arn:aws:s3:::data/*"});
        assert!(
            read(json!({"Bucket": "data", "Statements": [tls_only, exempting, one_principal]}))
                .is_ok()
        );
    }

    #[test]
    fn sids_must_be_unique_including_the_fences() {
        let statement = |sid: &str| {
            json!({"Sid": sid, "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/public/*"})
        };
        let found = problems(json!({
            "Bucket": "data",
            "Statements": [statement("Public"), statement("Public"), statement("DenyObjectsOutsideNetwork")],
            "RestrictToNetwork": {"SourceIps": "10.0.0.0/8", "ExemptPrincipalArns": "arn:aws:iam::123456789012:role/a"}
        }));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("Statements[0].Sid: \"Public\" is used by Statements[1] too"));
        assert!(found[1].starts_with(
            "Statements[2].Sid: \"DenyObjectsOutsideNetwork\" is used by RestrictToNetwork too"
        ));
    }

    #[test]
    fn statements_that_alone_exceed_20_kb_are_refused_up_front() {
        let prefixes: Vec<String> = (0..1000)
            .map(|i| format!("arn:aws:s3:::data/p{i:05}/*"))
            .collect();
        let found = problems(json!({"Bucket": "data", "Statements": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": prefixes}
        ]}));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("Statements: these statements alone make a"),
            "{found:?}"
        );
    }
}
