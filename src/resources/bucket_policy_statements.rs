//! `Custom::BucketPolicyStatements`: statements merged into a bucket's existing policy.
//!
//! Every statement this resource owns has the Sid `VA<owner-hash><name>`, where the name is
//! the statement's own Sid, `Statement<n>` for one given without, or the network fence's
//! name. Statements of anyone else, and the policy's `Version` and `Id`, are kept.

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::{Map, Value, json};

use super::bucket_document::{BucketDocument, DocumentError, OwnedEntries, Shape};
use super::bucket_part::{self, BucketPart, MergedIntoBucket, partition_of};
use super::network_fence::{NetworkFence, OBJECTS_SID};
use crate::cfn::Invocation;
use crate::propagation::{Backoff, Retried, retry_while_propagating};
use crate::properties::{Fields, FromProperties, InvalidProperties, Problems};

/// S3 refuses a bucket policy larger than this (20 KB).
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

const POLICY_VERSION: &str = "2012-10-17";
const PRINCIPAL_TYPES: [&str; 4] = ["AWS", "Service", "Federated", "CanonicalUser"];

/// Condition keys that single out principals: a Deny conditioned on one of them does not
/// fall on everyone. `aws:PrincipalIsAWSService` is not among them: exempting AWS services
/// still leaves every person and application of the account denied.
const PRINCIPAL_KEYS: [&str; 7] = [
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principaltype",
    "aws:userid",
    "aws:username",
];
const PRINCIPAL_TAG_KEY: &str = "aws:principaltag/";

/// Condition keys that depend only on where a request comes from: a Deny conditioned on
/// them shuts out everyone who happens to be elsewhere.
const NETWORK_KEYS: [&str; 5] = [
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:vpcsourceip",
    "aws:sourcevpcarn",
];

/// The statements of one bucket's policy, owned by one resource.
pub struct BucketPolicyStatements {
    s3: aws_sdk_s3::Client,
}

impl BucketPolicyStatements {
    pub fn new(s3: aws_sdk_s3::Client) -> MergedIntoBucket<Self> {
        MergedIntoBucket(BucketPolicyStatements { s3 })
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
        properties.owned(&prefix, partition_of(&invocation.request.reply_to.stack_id))
    }

    fn document<'a>(&'a self, bucket: &'a str, invocation: &'a Invocation) -> PolicyOf<'a> {
        PolicyOf {
            s3: &self.s3,
            bucket,
            invocation,
        }
    }
}

/// What `Custom::BucketPolicyStatements` is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketPolicyStatementsProperties {
    pub bucket: String,
    pub statements: Vec<Statement>,
    pub restrict_to_network: Option<NetworkFence>,
    pub accept_lockout_risk: bool,
}

/// One statement of `Statements`, as it will be written but for its Sid.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// What the Sid ends in after the owner's prefix.
    pub name: String,
    /// The statement's other fields.
    pub body: Map<String, Value>,
}

impl BucketPolicyStatementsProperties {
    /// Every owned statement as (name, statement without Sid): the given ones, then the
    /// network fence's.
    fn named_statements(&self, partition: &str) -> Vec<(String, Map<String, Value>)> {
        let bucket_arn = format!("arn:{partition}:s3:::{}", self.bucket);
        let given = self
            .statements
            .iter()
            .map(|s| (s.name.clone(), s.body.clone()));
        let fence = self
            .restrict_to_network
            .iter()
            .flat_map(|fence| fence.statements(&bucket_arn))
            .map(|(name, body)| (name.to_string(), body));
        given.chain(fence).collect()
    }

    fn owned(&self, prefix: &str, partition: &str) -> OwnedEntries {
        let entries = self
            .named_statements(partition)
            .into_iter()
            .map(|(name, body)| {
                let mut statement = Map::new();
                statement.insert("Sid".into(), json!(format!("{prefix}{name}")));
                statement.extend(body);
                Value::Object(statement)
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
        let bucket = bucket_part::read_bucket(&mut fields);
        let mut index = 0;
        let statements = fields.object_list("Statements", |statement| {
            index += 1;
            read_statement(statement, index, bucket.as_deref())
        });
        let restrict_to_network = fields.object("RestrictToNetwork", NetworkFence::read);
        let accept_lockout_risk = fields.bool("AcceptLockoutRisk").unwrap_or(false);
        let has_fence = fields.has("RestrictToNetwork");
        match &statements {
            None if !has_fence && !fields.has("Statements") => {
                fields.problem("Statements", "is required unless RestrictToNetwork is set");
            }
            Some(listed) if listed.is_empty() && !has_fence => {
                fields.problem(
                    "Statements",
                    "must list at least one statement unless RestrictToNetwork is set",
                );
            }
            _ => {}
        }
        fields.finish();
        let properties = BucketPolicyStatementsProperties {
            bucket: bucket.unwrap_or_default(),
            statements: statements.unwrap_or_default(),
            restrict_to_network,
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
    let named = properties.named_statements("aws");
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
        for (i, (name, statement)) in named.iter().enumerate() {
            if !could_lock_out_everyone(statement) {
                continue;
            }
            if i >= given && name == OBJECTS_SID {
                problems.add(
                    "RestrictToNetwork.ExemptPrincipalArns",
                    "is empty, so the Deny falls on every principal outside the network, \
                     your administrators included; list at least one role that keeps access, \
                     or set AcceptLockoutRisk: true",
                );
            } else if i < given {
                problems.add(
                    path(i),
                    "denies every principal with none exempted (no NotPrincipal, no \
                     aws:PrincipalArn-like condition), which can lock your own administrators \
                     out; exempt one, or set AcceptLockoutRisk: true",
                );
            }
        }
    }
    let alone = properties.owned(&BucketPolicyStatements::id_prefix(&"0".repeat(16)), "aws");
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

/// Whether a statement could shut the account's own people out: a Deny on every principal,
/// none singled out for exemption, that holds either always or merely by where a request
/// comes from. ("Deny unless TLS" and the like are conditions a caller can meet, and pass.)
fn could_lock_out_everyone(statement: &Map<String, Value>) -> bool {
    let denies = statement.get("Effect").and_then(Value::as_str) == Some("Deny");
    let everyone = match statement.get("Principal") {
        Some(Value::String(principal)) => principal == "*",
        Some(Value::Object(types)) => types.get("AWS").is_some_and(|aws| match aws {
            Value::String(one) => one == "*",
            Value::Array(many) => many.iter().any(|p| p == "*"),
            _ => false,
        }),
        _ => false,
    };
    let keys: Vec<String> = statement
        .get("Condition")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|operators| operators.values())
        .filter_map(Value::as_object)
        .flat_map(|keys| keys.keys())
        .map(|key| key.to_ascii_lowercase())
        .collect();
    let singles_out = keys
        .iter()
        .any(|k| PRINCIPAL_KEYS.contains(&k.as_str()) || k.starts_with(PRINCIPAL_TAG_KEY));
    let by_place_or_always =
        keys.is_empty() || keys.iter().any(|k| NETWORK_KEYS.contains(&k.as_str()));
    denies && everyone && !singles_out && by_place_or_always
}

/// Reads statement number `number` (from 1) of `Statements`.
fn read_statement(
    fields: &mut Fields<'_>,
    number: usize,
    bucket: Option<&str>,
) -> Option<Statement> {
    let sid = fields.string("Sid");
    if let Some(sid) = &sid
        && (sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        fields.problem("Sid", format!("{sid:?} must be letters and digits only"));
    }
    let effect = fields.string("Effect");
    let effect = fields.required("Effect", effect).and_then(|effect| {
        match effect.to_ascii_lowercase().as_str() {
            "allow" => Some("Allow"),
            "deny" => Some("Deny"),
            _ => {
                fields.problem("Effect", format!("must be Allow or Deny, got {effect:?}"));
                None
            }
        }
    });
    let mut body = Map::new();
    body.insert("Effect".into(), json!(effect));
    exactly_one(
        fields,
        ["Principal", "NotPrincipal"],
        &mut body,
        principal_problem,
    );
    exactly_one(fields, ["Action", "NotAction"], &mut body, |actions| {
        each_string(actions, |action| {
            let s3 = action == "*" || action.to_ascii_lowercase().starts_with("s3:");
            (!s3).then(|| format!("bucket policies take only s3: actions, got {action:?}"))
        })
    });
    exactly_one(
        fields,
        ["Resource", "NotResource"],
        &mut body,
        |resources| {
            let bucket = bucket?;
            each_string(resources, |resource| resource_problem(resource, bucket))
        },
    );
    if let Some(condition) = fields.value("Condition") {
        match condition_problem(condition) {
            Some(problem) => fields.problem("Condition", problem),
            None => {
                body.insert("Condition".into(), condition.clone());
            }
        }
    }
    effect?;
    Some(Statement {
        name: sid.unwrap_or_else(|| format!("Statement{number}")),
        body,
    })
}

/// Reads whichever of a field and its `Not` form is given; exactly one must be.
fn exactly_one(
    fields: &mut Fields<'_>,
    [name, negated]: [&'static str; 2],
    body: &mut Map<String, Value>,
    problem: impl Fn(&Value) -> Option<String>,
) {
    let given = fields.value(name);
    let given_negated = fields.value(negated);
    let (field, value) = match (given, given_negated) {
        (Some(value), None) => (name, value),
        (None, Some(value)) => (negated, value),
        (None, None) => {
            fields.problem(name, format!("is required (or {negated})"));
            return;
        }
        (Some(_), Some(_)) => {
            fields.problem(negated, format!("cannot be given together with {name}"));
            return;
        }
    };
    match problem(value) {
        Some(message) => fields.problem(field, message),
        None => {
            body.insert(field.into(), value.clone());
        }
    }
}

/// Checks a string or a non-empty list of strings, item by item.
fn each_string(value: &Value, problem: impl Fn(&str) -> Option<String>) -> Option<String> {
    match value {
        Value::String(one) => problem(one),
        Value::Array(many) if !many.is_empty() => many.iter().find_map(|item| match item {
            Value::String(one) => problem(one),
            _ => Some("must hold only strings".into()),
        }),
        _ => Some("must be a string or a non-empty list of strings".into()),
    }
}

fn principal_problem(principal: &Value) -> Option<String> {
    match principal {
        Value::String(everyone) if everyone == "*" => None,
        Value::Object(types) if !types.is_empty() => types.iter().find_map(|(kind, who)| {
            if PRINCIPAL_TYPES.contains(&kind.as_str()) {
                each_string(who, |_| None).map(|problem| format!("{kind} {problem}"))
            } else {
                Some(format!(
                    "{kind:?} is not a principal type; use {}",
                    PRINCIPAL_TYPES.join(", ")
                ))
            }
        }),
        _ => Some(
            "must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::123456789012:role/NAME\"}"
                .into(),
        ),
    }
}

/// S3 accepts only its own bucket and objects as a bucket policy's resources.
fn resource_problem(resource: &str, bucket: &str) -> Option<String> {
    let within = resource
        .split_once(":s3:::")
        .filter(|(partition, _)| partition.starts_with("arn:aws"))
        .is_some_and(|(_, path)| {
            path == bucket
                || path
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
fn condition_problem(condition: &Value) -> Option<String> {
    let shape = "must map operators to keys and values, e.g. \
                 {\"Bool\": {\"aws:SecureTransport\": \"false\"}}";
    let Value::Object(operators) = condition else {
        return Some(shape.into());
    };
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    let well_formed = operators.values().all(|keys| {
        keys.as_object().is_some_and(|keys| {
            !keys.is_empty()
                && keys.values().all(|value| match value {
                    Value::Array(values) => !values.is_empty() && values.iter().all(scalar),
                    single => scalar(single),
                })
        })
    });
    (!well_formed).then(|| shape.into())
}

/// One bucket's policy, as a document to merge into.
pub struct PolicyOf<'a> {
    s3: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    invocation: &'a Invocation,
}

impl PolicyOf<'_> {
    async fn put(&self, policy: &str) -> Result<(), DocumentError> {
        let result =
            retry_while_propagating(&Backoff::default(), self.invocation.work_deadline, || {
                self.s3
                    .put_bucket_policy()
                    .bucket(self.bucket)
                    .policy(policy)
                    .send()
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(Retried::StillRejected(rejected)) => Err(DocumentError::Write {
                document: Self::SHAPE.name,
                bucket: self.bucket.to_string(),
                reason: rejected.explain("a principal in Statements"),
            }),
            Err(Retried::Failed(error)) => Err(self.failure(&error, true)),
        }
    }
}

impl BucketDocument for PolicyOf<'_> {
    const SHAPE: Shape = Shape {
        name: "bucket policy",
        entries: "Statement",
        id: "Sid",
        new_fields: &[("Version", POLICY_VERSION)],
    };

    fn bucket(&self) -> &str {
        self.bucket
    }

    async fn read(&self) -> Result<Option<Value>, DocumentError> {
        let output = match self.s3.get_bucket_policy().bucket(self.bucket).send().await {
            Ok(output) => output,
            Err(error) if error.code() == Some("NoSuchBucketPolicy") => {
                return Ok(None);
            }
            Err(error) => return Err(self.failure(&error, false)),
        };
        let Some(text) = output.policy().filter(|text| !text.trim().is_empty()) else {
            return Ok(None);
        };
        serde_json::from_str(text)
            .map(Some)
            .map_err(|error| DocumentError::Unmergeable {
                document: Self::SHAPE.name,
                bucket: self.bucket.to_string(),
                reason: format!("it is not JSON ({error})"),
            })
    }

    async fn write(&self, document: Option<&Value>) -> Result<(), DocumentError> {
        match document {
            Some(policy) => self.put(&policy.to_string()).await,
            None => match self
                .s3
                .delete_bucket_policy()
                .bucket(self.bucket)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => Err(self.failure(&error, true)),
            },
        }
    }

    fn over_limit(document: &Value) -> Option<String> {
        let size = document.to_string().len();
        (size > MAX_POLICY_BYTES).then(|| {
            format!(
                "the merged bucket policy would be {size} bytes; S3 allows at most \
                 {MAX_POLICY_BYTES}"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::testing;

    fn read(properties: Value) -> Result<BucketPolicyStatementsProperties, InvalidProperties> {
        testing::read(properties)
    }

    fn problems(properties: Value) -> Vec<String> {
        testing::problems::<BucketPolicyStatementsProperties>(properties)
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
        let owned = properties.owned("VA0123456789abcdef", "aws");
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
        let owned = properties.owned("VAx", "aws-cn");
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
