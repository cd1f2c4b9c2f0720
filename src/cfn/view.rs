//! What a resource's properties would leave in AWS, and what is there now, as named
//! documents: what `vendor-access plan` prints and `vendor-access drift` compares.

use serde::Serialize;
use serde_json::Value;

/// One thing a resource owns: a role's trust policy, its inline policy, a bucket's CORS
/// rules of this resource. `None` is "there is none".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facet {
    pub name: String,
    pub value: Option<Value>,
    /// Whether drift compares it: a whole bucket policy is shown to a reviewer, but only
    /// this resource's statements in it are its own.
    pub owned: bool,
}

impl Facet {
    pub fn owned(name: impl Into<String>, value: Option<Value>) -> Self {
        Facet {
            name: name.into(),
            value,
            owned: true,
        }
    }

    /// Shown for context (the whole document this resource's part sits in), not compared.
    pub fn context(name: impl Into<String>, value: Option<Value>) -> Self {
        Facet {
            name: name.into(),
            value,
            owned: false,
        }
    }
}

/// A resource as planned or as found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct View {
    /// What CloudFormation would call it: a role ARN, a bucket's CORS rules of this owner.
    pub target: String,
    pub facets: Vec<Facet>,
    /// What the plan cannot know offline, or should say (KMS detection, warnings).
    pub notes: Vec<String>,
}

impl View {
    pub fn new(target: impl Into<String>) -> Self {
        View {
            target: target.into(),
            ..View::default()
        }
    }

    pub fn facet(&self, name: &str) -> Option<&Facet> {
        self.facets.iter().find(|f| f.name == name)
    }
}

/// Equal as IAM and S3 mean it: a list of one is its one item (`"Action": "s3:GetObject"`
/// is `"Action": ["s3:GetObject"]`), and the order of an object's fields is no matter.
pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    a.map(canonical) == b.map(canonical)
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.len() == 1 => canonical(&items[0]),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The owned facets of `expected` that `found` does not have as they are.
pub fn differing(expected: &[Facet], found: &[Facet]) -> Vec<String> {
    expected
        .iter()
        .filter(|facet| facet.owned)
        .filter(|facet| {
            let now = found
                .iter()
                .find(|f| f.name == facet.name)
                .and_then(|f| f.value.as_ref());
            !same(facet.value.as_ref(), now)
        })
        .map(|facet| facet.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_of_one_is_its_item_and_field_order_is_no_matter() {
        let planned = json!({"Effect": "Allow", "Action": ["s3:GetObject"]});
        let found = json!({"Action": "s3:GetObject", "Effect": "Allow"});
        assert!(same(Some(&planned), Some(&found)));
        let changed = json!({"Action": "s3:*", "Effect": "Allow"});
        assert!(!same(Some(&planned), Some(&changed)));
        assert!(!same(Some(&planned), None));
    }

    #[test]
    fn only_owned_facets_that_differ_are_listed() {
        let expected = vec![
            Facet::owned("TrustPolicy", Some(json!({"a": 1}))),
            Facet::owned("MaxSessionDuration", Some(json!(3600))),
            Facet::context("Whole", Some(json!(1))),
        ];
        let found = vec![
            Facet::owned("TrustPolicy", Some(json!({"a": 2}))),
            Facet::owned("MaxSessionDuration", Some(json!(3600))),
        ];
        assert_eq!(differing(&expected, &found), ["TrustPolicy"]);
    }
}
