//! Policy documents as typed values (statements, effects, principals, conditions), built
//! for the stack's partition and serialised the way IAM and S3 store them.
//!
//! - [`arn`]: partitions and the ARNs built in them.
//! - [`s3_access`]: the least-privilege S3 (and KMS) policy of a vendor's role or user.
//! - [`trust`]: a role's trust policy.
//! - [`network_fence`]: the Deny statements that fence a bucket to networks.
//! - [`review`]: what a reviewer accepts in a bucket-policy statement a stack writes.
//! - [`merge`]: the part of a shared document (bucket policy, CORS) one resource owns.

pub mod arn;
pub mod merge;
pub mod network_fence;
pub mod review;
pub mod s3_access;
pub mod trust;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use arn::Partition;

pub const VERSION: &str = "2012-10-17";

/// IAM's limit on a role's trust policy (characters, whitespace excluded).
pub const MAX_TRUST_POLICY_CHARS: usize = 2048;
/// IAM's limit on the inline policies of one role, together.
pub const MAX_ROLE_INLINE_POLICY_CHARS: usize = 10_240;
/// IAM's limit on the inline policies of one user, together.
pub const MAX_USER_INLINE_POLICY_CHARS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statements: Vec<Statement>) -> Self {
        PolicyDocument {
            version: VERSION.to_string(),
            statements,
        }
    }

    /// Compact JSON, as sent to IAM.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The document as a JSON value, to compare with one read back.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The length IAM counts against its limits: the JSON without whitespace.
    pub fn size(&self) -> usize {
        self.to_json().chars().count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

impl crate::cfn::properties::Choice for Effect {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("Allow", Effect::Allow), ("Deny", Effect::Deny)];
}

/// One IAM statement: every field IAM and S3 policies know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub principal: Option<Principal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_principal: Option<Principal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<OneOrMany>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_action: Option<OneOrMany>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<OneOrMany>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_resource: Option<OneOrMany>,
    #[serde(skip_serializing_if = "Conditions::is_empty", default)]
    pub condition: Conditions,
}

impl Statement {
    /// A statement of `effect` with nothing else set yet.
    pub fn new(effect: Effect) -> Self {
        Statement {
            sid: None,
            effect,
            principal: None,
            not_principal: None,
            action: None,
            not_action: None,
            resource: None,
            not_resource: None,
            condition: Conditions::default(),
        }
    }

    /// An identity-policy Allow of `actions` on `resources`.
    pub fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Self {
        Statement::new(Effect::Allow)
            .sid(sid)
            .actions(actions.iter().map(|a| a.to_string()).collect())
            .resources(resources)
    }

    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    pub fn principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    pub fn actions(mut self, actions: Vec<String>) -> Self {
        self.action = Some(OneOrMany::of(actions));
        self
    }

    pub fn resources(mut self, resources: Vec<String>) -> Self {
        self.resource = Some(OneOrMany::of(resources));
        self
    }

    /// Adds `key` under `operator` with `values` (one is written as a plain string).
    pub fn when(mut self, operator: Operator, key: &str, values: Vec<String>) -> Self {
        self.condition
            .insert(operator, key, OneOrMany::of(values).into());
        self
    }

    /// Adds `key` under `operator` with `values`, written as a list even when one.
    pub fn when_any_of(mut self, operator: Operator, key: &str, values: &[String]) -> Self {
        self.condition
            .insert(operator, key, Value::from(values.to_vec()));
        self
    }

    /// The condition keys of this statement, lower-cased as IAM compares them.
    pub fn condition_keys(&self) -> Vec<String> {
        self.condition
            .0
            .values()
            .flat_map(|keys| keys.keys())
            .map(|key| key.to_ascii_lowercase())
            .collect()
    }
}

/// IAM's "a string or a list of strings". A list read stays a list, even of one; lists
/// this project builds with one value are written as a plain string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn of(mut values: Vec<String>) -> Self {
        if values.len() == 1 {
            OneOrMany::One(values.remove(0))
        } else {
            OneOrMany::Many(values)
        }
    }

    pub fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(v) => vec![v.as_str()],
            OneOrMany::Many(vs) => vs.iter().map(String::as_str).collect(),
        }
    }
}

impl From<OneOrMany> for Value {
    fn from(values: OneOrMany) -> Value {
        match values {
            OneOrMany::One(v) => Value::String(v),
            OneOrMany::Many(vs) => Value::from(vs),
        }
    }
}

/// The kinds of principal a statement can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PrincipalType {
    #[serde(rename = "AWS")]
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl crate::cfn::properties::Choice for PrincipalType {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("AWS", PrincipalType::Aws),
        ("Service", PrincipalType::Service),
        ("Federated", PrincipalType::Federated),
        ("CanonicalUser", PrincipalType::CanonicalUser),
    ];
}

/// Who a statement is about: everyone (`"*"`), or named principals by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    Everyone,
    Named(BTreeMap<PrincipalType, OneOrMany>),
}

impl Principal {
    /// IAM principals (`{"AWS": …}`): accounts, roles, users.
    pub fn aws(arns: Vec<String>) -> Self {
        Principal::Named(BTreeMap::from([(PrincipalType::Aws, OneOrMany::of(arns))]))
    }

    /// The principals of one type; everyone (`"*"`) counts as `["*"]` of the AWS ones.
    pub fn of_type(&self, kind: PrincipalType) -> Vec<&str> {
        match self {
            Principal::Everyone if kind == PrincipalType::Aws => vec!["*"],
            Principal::Everyone => Vec::new(),
            Principal::Named(named) => named.get(&kind).map(OneOrMany::values).unwrap_or_default(),
        }
    }

    /// Whether this names everyone: `"*"`, or `"*"` among the AWS principals.
    pub fn is_everyone(&self) -> bool {
        self.of_type(PrincipalType::Aws).contains(&"*")
    }

    /// Every (type, principal) named.
    pub fn all(&self) -> Vec<(PrincipalType, &str)> {
        match self {
            Principal::Everyone => vec![(PrincipalType::Aws, "*")],
            Principal::Named(named) => named
                .iter()
                .flat_map(|(kind, values)| values.values().into_iter().map(|v| (*kind, v)))
                .collect(),
        }
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Principal::Everyone => serializer.serialize_str("*"),
            Principal::Named(named) => named.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(star) if star == "*" => Ok(Principal::Everyone),
            Value::Object(types) => {
                let named =
                    serde_json::from_value(Value::Object(types)).map_err(D::Error::custom)?;
                Ok(Principal::Named(named))
            }
            other => Err(D::Error::custom(format!(
                "a principal is \"*\" or an object of principal types, not {other}"
            ))),
        }
    }
}

/// A condition operator. The ones this project writes are named; any other operator a
/// stack writes is kept as it is spelled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringLike,
    ArnLike,
    ArnNotLike,
    IpAddress,
    NotIpAddress,
    BoolIfExists,
    Other(String),
}

impl Operator {
    const NAMED: [(&'static str, Operator); 8] = [
        ("StringEquals", Operator::StringEquals),
        ("StringNotEquals", Operator::StringNotEquals),
        ("StringLike", Operator::StringLike),
        ("ArnLike", Operator::ArnLike),
        ("ArnNotLike", Operator::ArnNotLike),
        ("IpAddress", Operator::IpAddress),
        ("NotIpAddress", Operator::NotIpAddress),
        ("BoolIfExists", Operator::BoolIfExists),
    ];

    pub fn name(&self) -> &str {
        match self {
            Operator::Other(name) => name,
            named => Self::NAMED
                .iter()
                .find(|(_, op)| op == named)
                .map(|(name, _)| *name)
                .unwrap_or_default(),
        }
    }

    pub fn parse(name: &str) -> Operator {
        Self::NAMED
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, op)| op.clone())
            .unwrap_or_else(|| Operator::Other(name.to_string()))
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A statement's `Condition`: operator → condition key → value(s). Values are JSON as IAM
/// takes them (strings, or the booleans and numbers a stack may write).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions(pub BTreeMap<Operator, BTreeMap<String, Value>>);

impl Conditions {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn insert(&mut self, operator: Operator, key: &str, values: Value) {
        self.0
            .entry(operator)
            .or_default()
            .insert(key.to_string(), values);
    }

    /// The values of `key` under `operator`, as strings.
    pub fn values(&self, operator: &Operator, key: &str) -> Vec<String> {
        let Some(value) = self.0.get(operator).and_then(|keys| keys.get(key)) else {
            return Vec::new();
        };
        match value {
            Value::Array(items) => items.iter().map(scalar_text).collect(),
            one => vec![scalar_text(one)],
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(op, keys)| (op.name(), keys)))
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, BTreeMap<String, Value>>::deserialize(deserializer)?;
        Ok(Conditions(
            raw.into_iter()
                .map(|(op, keys)| (Operator::parse(&op), keys))
                .collect(),
        ))
    }
}

/// Parses a policy document as IAM returns it: URL-encoded JSON.
pub fn decode_document(encoded: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?;
    serde_json::from_str(&decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_value_is_written_as_a_string_and_many_as_a_list() {
        let doc = PolicyDocument::new(vec![
            Statement::allow("A", &["s3:ListBucket"], vec!["arn:aws:s3:::b".into()]).when(
                Operator::StringLike,
                "s3:prefix",
                vec!["p/*".into()],
            ),
        ]);
        assert_eq!(
            doc.to_value(),
            json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "A", "Effect": "Allow", "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"StringLike": {"s3:prefix": "p/*"}}
            }]})
        );
    }

    #[test]
    fn statements_read_from_json_are_written_back_in_the_same_form() {
        let given = json!({
            "Sid": "X", "Effect": "Deny", "Principal": "*", "NotAction": ["s3:GetObject"],
            "Resource": "arn:aws:s3:::b/*",
            "Condition": {"Bool": {"aws:SecureTransport": false},
                          "StringEquals": {"aws:SourceAccount": ["1", "2"]}}
        });
        let statement: Statement = serde_json::from_value(given.clone()).unwrap();
        assert_eq!(statement.principal, Some(Principal::Everyone));
        assert_eq!(
            statement
                .condition
                .values(&Operator::StringEquals, "aws:SourceAccount"),
            ["1", "2"]
        );
        assert_eq!(serde_json::to_value(&statement).unwrap(), given);
        let named: Principal =
            serde_json::from_value(json!({"AWS": ["a", "*"], "Service": "s"})).unwrap();
        assert!(named.is_everyone());
        assert_eq!(named.of_type(PrincipalType::Service), ["s"]);
    }

    #[test]
    fn url_encoded_documents_decode() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_document(encoded),
            Some(json!({"Version": "2012-10-17", "Statement": []}))
        );
        assert_eq!(decode_document("{\"a\":1}"), Some(json!({"a": 1})));
    }
}
