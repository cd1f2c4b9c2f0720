//! The CloudFormation custom-resource protocol: request, response, sender, deadline.
//! Nothing here knows about IAM or S3; resource types plug in through [`Resource`].

pub mod dispatch;
pub mod request;
pub mod resource;
pub mod response;
pub mod sender;

pub use dispatch::{Dispatcher, failed_create_id, is_failed_create_id};
pub use request::{Action, OwnerId, ReplyTo, Request};
pub use resource::{Failure, Invocation, Registry, Resource, ResourceType};
pub use response::{Outcome, Response, Status};
pub use sender::{HttpSender, ResponseSender, Retry, SendError, UrlPolicy};
