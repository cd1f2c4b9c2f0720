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
    #[serde(skip)]
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
