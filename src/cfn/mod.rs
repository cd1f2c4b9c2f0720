//! The CloudFormation custom-resource protocol: request, response, ResponseURL, sender,
//! deadline, the properties reader and the Lambda adapter. Nothing here knows about IAM
//! or S3; resource types plug in through [`Resource`].

pub mod dispatch;
pub mod lambda;
pub mod properties;
pub mod request;
pub mod resource;
pub mod response;
pub mod response_url;
pub mod sender;
pub mod view;

pub use dispatch::{Confirmer, Dispatcher, failed_create_id, is_failed_create_id};
pub use request::{Action, OwnerId, ReplyTo, Request, Unparsed};
pub use resource::{Failure, Invocation, Registry, Resource, ResourceType};
pub use response::{Failed, Outcome, Response, Status};
pub use response_url::{ResponseUrl, UrlPolicy, UrlRefused};
pub use sender::{HttpSender, ResponseSender, Retry, SendError};
pub use view::{Facet, View, differing, same};
