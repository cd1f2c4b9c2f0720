//! The request CloudFormation sends to a custom resource, parsed once from the bytes the
//! Lambda runtime received.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::response_url::{ResponseUrl, UrlPolicy, UrlRefused};

/// Where and to whom a response goes: the fields every response must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub response_url: ResponseUrl,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
}

/// What CloudFormation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create,
    Update {
        physical_id: String,
        old_properties: Map<String, Value>,
    },
    Delete {
        physical_id: String,
    },
}

/// One custom-resource request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub reply_to: ReplyTo,
    pub resource_type: String,
    pub properties: Map<String, Value>,
    pub action: Action,
}

/// Why an event is not a request this function can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unparsed {
    /// Enough was made out to answer: CloudFormation gets a FAILED response.
    #[error("malformed CloudFormation event: {reason}")]
    Malformed {
        reason: String,
        reply_to: Box<ReplyTo>,
        physical_id: Option<String>,
    },
    #[error("no ResponseURL could be found in the event: {0}")]
    NoResponseUrl(String),
    #[error(transparent)]
    Refused(#[from] UrlRefused),
}

impl Request {
    /// Parses the event's bytes. Text that is not JSON at all is searched for the reply
    /// fields, so that even a broken event is answered; the ResponseURL is checked
    /// against `urls` before anything else is done.
    pub fn parse(event: &[u8], urls: &UrlPolicy) -> Result<Request, Unparsed> {
        let mut fields: Map<String, Value> = match serde_json::from_slice(event) {
            Ok(fields) => fields,
            Err(error) if error.is_data() => {
                return Err(Unparsed::NoResponseUrl(format!(
                    "the event is not a JSON object ({error})"
                )));
            }
            Err(_) => return Err(from_text(&String::from_utf8_lossy(event), urls)),
        };
        let reply_to = reply_to(&fields, urls)?;
        let physical_id = text(&fields, "PhysicalResourceId").filter(|id| !id.is_empty());
        let malformed = |reason: &str| Unparsed::Malformed {
            reason: reason.to_string(),
            reply_to: Box::new(reply_to.clone()),
            physical_id: physical_id.clone(),
        };
        for name in ["StackId", "RequestId", "LogicalResourceId", "ResourceType"] {
            if text(&fields, name).is_none() {
                return Err(malformed(&format!("{name} must be a string")));
            }
        }
        let known_id = || {
            physical_id
                .clone()
                .ok_or_else(|| malformed("PhysicalResourceId must not be empty"))
        };
        let action = match text(&fields, "RequestType").as_deref() {
            Some("Create") => Action::Create,
            Some("Update") => Action::Update {
                physical_id: known_id()?,
                old_properties: object(&mut fields, "OldResourceProperties")
                    .map_err(|r| malformed(&r))?,
            },
            Some("Delete") => Action::Delete {
                physical_id: known_id()?,
            },
            _ => return Err(malformed("unsupported RequestType")),
        };
        Ok(Request {
            resource_type: text(&fields, "ResourceType").unwrap_or_default(),
            properties: object(&mut fields, "ResourceProperties").map_err(|r| malformed(&r))?,
            reply_to,
            action,
        })
    }

    /// A request the command line makes up to plan a resource of a template: what
    /// CloudFormation would send, never answered.
    pub fn planned(
        stack_id: &str,
        logical_resource_id: &str,
        resource_type: &str,
        properties: Map<String, Value>,
        action: Action,
    ) -> Request {
        Request {
            reply_to: ReplyTo {
                response_url: ResponseUrl::nowhere(),
                stack_id: stack_id.to_string(),
                request_id: "plan".to_string(),
                logical_resource_id: logical_resource_id.to_string(),
            },
            resource_type: resource_type.to_string(),
            properties,
            action,
        }
    }

    /// The physical id CloudFormation already knows, for Update and Delete.
    pub fn physical_id(&self) -> Option<&str> {
        match &self.action {
            Action::Create => None,
            Action::Update { physical_id, .. } | Action::Delete { physical_id } => {
                Some(physical_id)
            }
        }
    }

    pub fn owner(&self) -> OwnerId {
        OwnerId::new(&self.reply_to.stack_id, &self.reply_to.logical_resource_id)
    }

    pub fn kind(&self) -> &'static str {
        match self.action {
            Action::Create => "Create",
            Action::Update { .. } => "Update",
            Action::Delete { .. } => "Delete",
        }
    }
}

/// Who owns what this project makes: one resource of one stack.
///
/// The tag value is `<StackId>/<LogicalResourceId>`; the hash is a short, stable id derived
/// from it for names and ids that have little room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerId {
    value: String,
}

impl OwnerId {
    /// The tag key every entity this project creates carries.
    pub const TAG_KEY: &'static str = "vendor-access:owner";

    pub fn new(stack_id: &str, logical_resource_id: &str) -> Self {
        OwnerId {
            value: format!("{stack_id}/{logical_resource_id}"),
        }
    }

    /// The tag value. IAM tag values hold 256 characters; a longer owner keeps its start and
    /// ends with its hash, which stays unique.
    pub fn tag_value(&self) -> String {
        const MAX: usize = 256;
        if self.value.chars().count() <= MAX {
            return self.value.clone();
        }
        let hash = self.hash();
        let keep: String = self.value.chars().take(MAX - hash.len() - 1).collect();
        format!("{keep}#{hash}")
    }

    /// 16 hex digits of SHA-256 of the owner: deterministic, short, collision-resistant
    /// enough to tell one stack's resources from another's.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.value.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// A string field of the event; `None` when absent or not a string.
fn text(fields: &Map<String, Value>, name: &str) -> Option<String> {
    fields.get(name).and_then(Value::as_str).map(str::to_string)
}

/// An object field, moved out of the event; absent or `null` is empty.
fn object(fields: &mut Map<String, Value>, name: &str) -> Result<Map<String, Value>, String> {
    match fields.remove(name) {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Ok(Map::new()),
        Some(_) => Err(format!("{name} must be an object")),
    }
}

fn reply_to(fields: &Map<String, Value>, urls: &UrlPolicy) -> Result<ReplyTo, Unparsed> {
    let url = text(fields, "ResponseURL")
        .ok_or_else(|| Unparsed::NoResponseUrl("ResponseURL is missing or not a string".into()))?;
    Ok(ReplyTo {
        response_url: urls.check(&url)?,
        stack_id: text(fields, "StackId").unwrap_or_default(),
        request_id: text(fields, "RequestId").unwrap_or_default(),
        logical_resource_id: text(fields, "LogicalResourceId").unwrap_or_default(),
    })
}

/// The reply fields of text that is not JSON, so that it can still be answered FAILED.
fn from_text(text: &str, urls: &UrlPolicy) -> Unparsed {
    let Some(url) = field_from_text(text, "ResponseURL") else {
        return Unparsed::NoResponseUrl("the event is not valid JSON".into());
    };
    let response_url = match urls.check(&url) {
        Ok(url) => url,
        Err(refused) => return Unparsed::Refused(refused),
    };
    Unparsed::Malformed {
        reason: "the event is not valid JSON".into(),
        reply_to: Box::new(ReplyTo {
            response_url,
            stack_id: field_from_text(text, "StackId").unwrap_or_default(),
            request_id: field_from_text(text, "RequestId").unwrap_or_default(),
            logical_resource_id: field_from_text(text, "LogicalResourceId").unwrap_or_default(),
        }),
        physical_id: field_from_text(text, "PhysicalResourceId").filter(|id| !id.is_empty()),
    }
}

/// Finds `"name": "value"` in text that is not valid JSON as a whole.
fn field_from_text(text: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let after_key = &text[text.find(&key)? + key.len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let body = after_colon.strip_prefix('"')?;
    let mut escaped = false;
    let end = body.char_indices().find_map(|(i, c)| {
        let at_end = c == '"' && !escaped;
        escaped = c == '\\' && !escaped;
        at_end.then_some(i)
    })?;
    serde_json::from_str(&format!("\"{}\"", &body[..end])).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> UrlPolicy {
        UrlPolicy::default()
    }

    const URL: &str =
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a?b=c";

    #[test]
    fn reply_fields_are_found_in_broken_json() {
        let text =
            format!(r#"{{"RequestType": "Create", "ResponseURL": "{URL}\"d", "StackId": "s", "#);
        let Unparsed::Malformed { reply_to, .. } =
            Request::parse(text.as_bytes(), &urls()).unwrap_err()
        else {
            panic!("not answerable")
        };
        assert_eq!(reply_to.response_url.as_str(), format!("{URL}\"d"));
        assert_eq!(reply_to.stack_id, "s");
        assert_eq!(reply_to.request_id, "");
    }

    #[test]
    fn an_update_carries_its_old_properties() {
        let event = format!(
            r#"{{"RequestType": "Update", "ResponseURL": "{URL}", "StackId": "s",
            "RequestId": "r", "ResourceType": "Custom::X", "LogicalResourceId": "L",
            "PhysicalResourceId": "p", "ResourceProperties": {{"A": "1"}},
            "OldResourceProperties": {{"A": "0"}}}}"#
        );
        let request = Request::parse(event.as_bytes(), &urls()).expect("parses");
        assert_eq!(request.physical_id(), Some("p"));
        let Action::Update { old_properties, .. } = request.action else {
            panic!("not an update")
        };
        assert_eq!(old_properties["A"], "0");
    }

    #[test]
    fn json_that_is_no_object_or_has_no_url_cannot_be_answered() {
        for event in [
            r#"[{"ResponseURL": "x"}]"#,
            r#""text""#,
            r#"{"RequestType": "Create"}"#,
        ] {
            assert!(
                matches!(
                    Request::parse(event.as_bytes(), &urls()),
                    Err(Unparsed::NoResponseUrl(_))
                ),
                "{event}"
            );
        }
    }

    #[test]
    fn owner_hash_is_stable_and_long_owners_fit_a_tag() {
        let owner = OwnerId::new("arn:aws:cloudformation:eu-west-1:1:stack/s/1", "Role");
        assert_eq!(owner.hash(), owner.clone().hash());
        assert_eq!(owner.hash().len(), 16);
        let long = OwnerId::new(&"s".repeat(300), "Role");
        assert_eq!(long.tag_value().chars().count(), 256);
        assert_ne!(
            long.tag_value(),
            OwnerId::new(&"s".repeat(301), "Role").tag_value()
        );
    }
}
