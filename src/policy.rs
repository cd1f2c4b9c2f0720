//! IAM policy documents as typed values, serialised the way IAM stores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// `Condition` operator → key → values.
pub type Conditions = BTreeMap<String, BTreeMap<String, OneOrMany>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Value>,
    pub action: OneOrMany,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<OneOrMany>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub condition: Conditions,
}

impl Statement {
    pub fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Self {
        Statement {
            sid: Some(sid.to_string()),
            effect: Effect::Allow,
            principal: None,
            action: OneOrMany::of(actions.iter().map(|a| a.to_string()).collect()),
            resource: Some(OneOrMany::of(resources)),
            condition: Conditions::new(),
        }
    }

    pub fn when(mut self, operator: &str, key: &str, values: Vec<String>) -> Self {
        self.condition
            .entry(operator.to_string())
            .or_default()
            .insert(key.to_string(), OneOrMany::of(values));
        self
    }
}

/// IAM's "a string or a list of strings": one value is written as a plain string.
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
                "StringLike",
                "s3:prefix",
                vec!["p/*".into()],
            ),
        ]);
        let value: Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(
            value,
            json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "A", "Effect": "Allow", "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"StringLike": {"s3:prefix": "p/*"}}
            }]})
        );
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
