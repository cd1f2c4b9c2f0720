//! The request CloudFormation sends to a custom resource.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as Event;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Where and to whom a response goes: the fields every response must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub response_url: String,
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

/// The event could not be read as a custom-resource request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed CloudFormation event: {reason}")]
pub struct MalformedEvent {
    pub reason: String,
    /// Where to answer, when enough of the event could be made out.
    pub reply_to: Option<ReplyTo>,
    pub physical_id: Option<String>,
}

impl Request {
    /// Parses an event. `event` may be a JSON string holding text that is not JSON at all;
    /// then the reply fields are searched for in the text.
    pub fn parse(event: &Value) -> Result<Request, Box<MalformedEvent>> {
        if let Value::String(text) = event {
            return Err(Box::new(MalformedEvent {
                reason: "the event is not valid JSON".into(),
                reply_to: reply_to_from_text(text),
                physical_id: field_from_text(text, "PhysicalResourceId"),
            }));
        }
        let malformed = |reason: String| {
            Box::new(MalformedEvent {
                reason,
                reply_to: reply_to_from_value(event),
                physical_id: event
                    .get("PhysicalResourceId")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .map(str::to_string),
            })
        };
        let parsed: Event =
            serde_json::from_value(event.clone()).map_err(|e| malformed(e.to_string()))?;
        let as_object = |properties: Value, name: &str| match properties {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Map::new()),
            _ => Err(malformed(format!("{name} must be an object"))),
        };
        let known_id = |id: String| {
            if id.is_empty() {
                Err(malformed("PhysicalResourceId must not be empty".into()))
            } else {
                Ok(id)
            }
        };
        // The three request shapes share these fields but no type.
        macro_rules! request {
            ($r:expr, $action:expr) => {
                Request {
                    reply_to: ReplyTo {
                        response_url: $r.response_url,
                        stack_id: $r.stack_id,
                        request_id: $r.request_id,
                        logical_resource_id: $r.logical_resource_id,
                    },
                    resource_type: $r.resource_type,
                    properties: as_object($r.resource_properties, "ResourceProperties")?,
                    action: $action,
                }
            };
        }
        let request = match parsed {
            Event::Create(r) => request!(r, Action::Create),
            Event::Update(r) => {
                let action = Action::Update {
                    physical_id: known_id(r.physical_resource_id)?,
                    old_properties: as_object(r.old_resource_properties, "OldResourceProperties")?,
                };
                request!(r, action)
            }
            Event::Delete(r) => {
                let action = Action::Delete {
                    physical_id: known_id(r.physical_resource_id)?,
                };
                request!(r, action)
            }
            _ => return Err(malformed("unsupported RequestType".into())),
        };
        Ok(request)
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

fn reply_to_from_value(event: &Value) -> Option<ReplyTo> {
    let field = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_string);
    Some(ReplyTo {
        response_url: field("ResponseURL")?,
        stack_id: field("StackId").unwrap_or_default(),
        request_id: field("RequestId").unwrap_or_default(),
        logical_resource_id: field("LogicalResourceId").unwrap_or_default(),
    })
}

fn reply_to_from_text(text: &str) -> Option<ReplyTo> {
    Some(ReplyTo {
        response_url: field_from_text(text, "ResponseURL")?,
        stack_id: field_from_text(text, "StackId").unwrap_or_default(),
        request_id: field_from_text(text, "RequestId").unwrap_or_default(),
        logical_resource_id: field_from_text(text, "LogicalResourceId").unwrap_or_default(),
    })
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
    use serde_json::json;

    #[test]
    fn reply_fields_are_found_in_broken_json() {
        let text = r#"{"RequestType": "Create", "ResponseURL": "https://x.s3.amazonaws.com/a?b=c\"d", "StackId": "s", "#;
        let reply = reply_to_from_text(text).expect("reply fields");
        assert_eq!(reply.response_url, "https://x.s3.amazonaws.com/a?b=c\"d");
        assert_eq!(reply.stack_id, "s");
        assert_eq!(reply.request_id, "");
    }

    #[test]
    fn an_update_carries_its_old_properties() {
        let event = json!({
            "RequestType": "Update", "ResponseURL": "https://u", "StackId": "s",
            "RequestId": "r", "ResourceType": "Custom::X", "LogicalResourceId": "L",
            "PhysicalResourceId": "p", "ResourceProperties": {"A": "1"},
            "OldResourceProperties": {"A": "0"}
        });
        let request = Request::parse(&event).expect("parses");
        assert_eq!(request.physical_id(), Some("p"));
        let Action::Update { old_properties, .. } = request.action else {
            panic!("not an update")
        };
        assert_eq!(old_properties["A"], "0");
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
