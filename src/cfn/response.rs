//! The response CloudFormation reads from the ResponseURL.

use serde::Serialize;
use serde_json::{Map, Value};

use super::request::ReplyTo;

/// CloudFormation rejects response bodies larger than this.
pub const MAX_BODY_BYTES: usize = 4096;

/// The outcome of a request. A failure cannot exist without its reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Success,
    Failed { reason: String },
}

/// What a resource type hands back on success.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub physical_id: String,
    pub data: Map<String, Value>,
    /// Asks CloudFormation to mask `data` in its console and API output.
    pub no_echo: bool,
}

impl Outcome {
    pub fn new(physical_id: impl Into<String>) -> Self {
        Outcome {
            physical_id: physical_id.into(),
            ..Outcome::default()
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.data
            .insert(key.to_string(), Value::String(value.into()));
        self
    }
}

/// A request that failed: why, and the physical id CloudFormation is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub physical_id: String,
    pub reason: String,
}

impl Failed {
    pub fn new(physical_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Failed {
            physical_id: physical_id.into(),
            reason: reason.into(),
        }
    }
}

/// A complete response, ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: Status,
    pub physical_id: String,
    pub reply_to: ReplyTo,
    pub data: Map<String, Value>,
    pub no_echo: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    physical_resource_id: &'a str,
    stack_id: &'a str,
    request_id: &'a str,
    logical_resource_id: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_echo: bool,
    #[serde(skip_serializing_if = "Map::is_empty")]
    data: &'a Map<String, Value>,
}

impl Response {
    /// The one place a response is made: the outcome of a request, or why it failed and
    /// the physical id to answer with then (a failure never answers without a reason).
    pub fn new(reply_to: ReplyTo, answer: Result<Outcome, Failed>) -> Self {
        match answer {
            Ok(outcome) => Response {
                status: Status::Success,
                physical_id: outcome.physical_id,
                reply_to,
                data: outcome.data,
                no_echo: outcome.no_echo,
            },
            Err(Failed {
                physical_id,
                reason,
            }) => Response {
                status: Status::Failed { reason },
                physical_id,
                reply_to,
                data: Map::new(),
                no_echo: false,
            },
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.status {
            Status::Success => None,
            Status::Failed { reason } => Some(reason),
        }
    }

    /// The JSON body, at most [`MAX_BODY_BYTES`]. A long reason is shortened first; a
    /// success whose data cannot fit becomes a failure that says so. The required fields
    /// are never dropped.
    pub fn to_body(&self) -> Vec<u8> {
        let full = self.render(self.reason(), &self.data);
        if full.len() <= MAX_BODY_BYTES {
            return full;
        }
        match &self.status {
            Status::Failed { reason } => self.render_shortened(reason),
            Status::Success => self.render_shortened(&format!(
                "the response data is {} bytes, over CloudFormation's {MAX_BODY_BYTES}-byte limit",
                full.len()
            )),
        }
    }

    fn render_shortened(&self, reason: &str) -> Vec<u8> {
        const MARK: &str = " [truncated]";
        let empty = Map::new();
        let mut keep = reason.chars().count();
        loop {
            let shortened: String = reason.chars().take(keep).collect::<String>() + MARK;
            let body = self.render_failed(&shortened, &empty);
            if body.len() <= MAX_BODY_BYTES || keep == 0 {
                return body;
            }
            let excess = body.len() - MAX_BODY_BYTES;
            // A character may take up to 6 bytes once escaped; remove at least one.
            keep = keep.saturating_sub(excess.div_ceil(6).max(1));
        }
    }

    fn render_failed(&self, reason: &str, data: &Map<String, Value>) -> Vec<u8> {
        self.serialize(Body {
            status: "FAILED",
            reason: Some(reason),
            physical_resource_id: &self.physical_id,
            stack_id: &self.reply_to.stack_id,
            request_id: &self.reply_to.request_id,
            logical_resource_id: &self.reply_to.logical_resource_id,
            no_echo: false,
            data,
        })
    }

    fn render(&self, reason: Option<&str>, data: &Map<String, Value>) -> Vec<u8> {
        match reason {
            Some(reason) => self.render_failed(reason, data),
            None => self.serialize(Body {
                status: "SUCCESS",
                reason: None,
                physical_resource_id: &self.physical_id,
                stack_id: &self.reply_to.stack_id,
                request_id: &self.reply_to.request_id,
                logical_resource_id: &self.reply_to.logical_resource_id,
                no_echo: self.no_echo,
                data,
            }),
        }
    }

    fn serialize(&self, body: Body<'_>) -> Vec<u8> {
        // Serialising strings and string-keyed maps cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to() -> ReplyTo {
        ReplyTo {
            response_url: crate::cfn::UrlPolicy::default()
                .check(
                    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/key",
                )
                .unwrap(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/guid".into(),
            request_id: "req-1".into(),
            logical_resource_id: "Role".into(),
        }
    }

    #[test]
    fn a_5000_byte_reason_is_shortened_and_every_required_field_kept() {
        let response = Response::new(reply_to(), Err(Failed::new("phys", "é".repeat(2500))));
        let body = response.to_body();
        assert!(body.len() <= MAX_BODY_BYTES, "{} bytes", body.len());
        let json: Value = serde_json::from_slice(&body).expect("json");
        for field in [
            "Status",
            "Reason",
            "PhysicalResourceId",
            "StackId",
            "RequestId",
            "LogicalResourceId",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert!(json["Reason"].as_str().unwrap().ends_with("[truncated]"));
        assert!(json["Reason"].as_str().unwrap().len() > 3000);
    }

    #[test]
    fn reasons_of_control_characters_still_fit() {
        let response = Response::new(reply_to(), Err(Failed::new("phys", "\u{1}".repeat(5000))));
        assert!(response.to_body().len() <= MAX_BODY_BYTES);
    }

    #[test]
    fn a_success_too_large_for_cloudformation_becomes_a_failure() {
        let outcome = Outcome::new("phys").with("Big", "x".repeat(5000));
        let body = Response::new(reply_to(), Ok(outcome)).to_body();
        let json: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["Status"], "FAILED");
        assert!(json["Reason"].as_str().unwrap().contains("4096"));
    }

    #[test]
    fn success_carries_data_and_no_echo() {
        let mut outcome = Outcome::new("phys").with("RoleArn", "arn");
        outcome.no_echo = true;
        let json: Value =
            serde_json::from_slice(&Response::new(reply_to(), Ok(outcome)).to_body()).unwrap();
        assert_eq!(json["Status"], "SUCCESS");
        assert_eq!(json["NoEcho"], true);
        assert_eq!(json["Data"]["RoleArn"], "arn");
        assert!(json.get("Reason").is_none());
    }
}
