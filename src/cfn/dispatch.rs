//! One invocation, start to finish: read the event, run the resource type, answer once.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use super::request::{Action, OwnerId, Request};
use super::resource::{Invocation, Registry, ResourceType};
use super::response::{Outcome, Response};
use super::sender::{ResponseSender, SendError};

/// Work still running this long before the Lambda deadline is abandoned, so that the
/// "timed out" answer leaves at least 2 s before the deadline with a second to spare for
/// the PUT itself.
pub const ABANDON_BEFORE_DEADLINE: Duration = Duration::from_secs(3);

/// Retries of the PUT stop this long before the Lambda deadline.
pub const SEND_BEFORE_DEADLINE: Duration = Duration::from_millis(500);

const FAILED_CREATE_PREFIX: &str = "vendor-access:failed-create:";

/// The physical id of a Create that failed: deterministic, never empty, and recognised by
/// the Delete CloudFormation sends when it rolls that Create back.
pub fn failed_create_id(request_id: &str) -> String {
    format!("{FAILED_CREATE_PREFIX}{request_id}")
}

pub fn is_failed_create_id(physical_id: &str) -> bool {
    physical_id.starts_with(FAILED_CREATE_PREFIX)
}

/// The invocation could not be answered at all.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("no ResponseURL could be found in the event: {0}")]
    Unanswerable(String),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Serves custom-resource events for the registered resource types.
#[derive(Clone)]
pub struct Dispatcher {
    registry: Registry,
    sender: Arc<dyn ResponseSender>,
    locks: ResourceLocks,
}

impl Dispatcher {
    pub fn new(registry: Registry, sender: Arc<dyn ResponseSender>) -> Self {
        Dispatcher {
            registry,
            sender,
            locks: ResourceLocks::default(),
        }
    }

    /// Handles one event and sends exactly one response, finishing before `deadline`.
    /// Returns the response that was delivered.
    pub async fn handle(&self, event: Value, deadline: Instant) -> Result<Response, DispatchError> {
        let request = match Request::parse(&event) {
            Ok(request) => request,
            Err(malformed) => {
                tracing::error!(reason = %malformed.reason, "malformed event");
                let reply_to = malformed
                    .reply_to
                    .ok_or_else(|| DispatchError::Unanswerable(malformed.reason.clone()))?;
                let physical_id = malformed
                    .physical_id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| failed_create_id(&reply_to.request_id));
                let response = Response::failed(
                    reply_to,
                    physical_id,
                    format!("malformed CloudFormation event: {}", malformed.reason),
                );
                return self.deliver(response, deadline).await;
            }
        };
        let span = tracing::info_span!(
            "request",
            kind = request.kind(),
            resource_type = %request.resource_type,
            logical_id = %request.reply_to.logical_resource_id,
            request_id = %request.reply_to.request_id,
        );
        async {
            self.sender.accepts(&request.reply_to.response_url)?;
            let response = self.respond(request, deadline).await;
            match response.reason() {
                None => tracing::info!(physical_id = %response.physical_id, "SUCCESS"),
                Some(reason) => {
                    tracing::warn!(physical_id = %response.physical_id, reason, "FAILED")
                }
            }
            self.deliver(response, deadline).await
        }
        .instrument(span)
        .await
    }

    async fn deliver(
        &self,
        response: Response,
        deadline: Instant,
    ) -> Result<Response, DispatchError> {
        let send_by = deadline
            .checked_sub(SEND_BEFORE_DEADLINE)
            .unwrap_or(deadline);
        self.sender
            .send(&response.reply_to.response_url, response.to_body(), send_by)
            .await?;
        Ok(response)
    }

    /// The one response for a well-formed request.
    async fn respond(&self, request: Request, deadline: Instant) -> Response {
        let reply_to = request.reply_to.clone();
        // The id to answer with when the work does not succeed.
        let fallback_id = match request.physical_id() {
            Some(id) => id.to_string(),
            None => failed_create_id(&reply_to.request_id),
        };
        if let Action::Delete { physical_id } = &request.action
            && is_failed_create_id(physical_id)
        {
            tracing::info!("delete of a failed create: nothing was made");
            return Response::success(reply_to, Outcome::new(physical_id.clone()));
        }
        let Some(resource_type) = self.registry.find(&request.resource_type) else {
            let reason = format!(
                "unsupported ResourceType {:?}; this function serves {}",
                request.resource_type,
                self.registry.names().join(", ")
            );
            return Response::failed(reply_to, fallback_id, reason);
        };
        if let Action::Delete { physical_id } = &request.action
            && !resource_type.recognizes(physical_id)
        {
            tracing::info!(physical_id, "delete of an id this function never made");
            return Response::success(reply_to, Outcome::new(physical_id.clone()));
        }
        let work_deadline = deadline
            .checked_sub(ABANDON_BEFORE_DEADLINE)
            .unwrap_or_else(Instant::now);
        let delete_id = match &request.action {
            Action::Delete { physical_id } => Some(physical_id.clone()),
            _ => None,
        };
        let invocation = Invocation::new(request, work_deadline);
        let watched = invocation.clone();
        let _serialised = match self.locks.acquire(&watched.owner(), work_deadline).await {
            Some(guard) => guard,
            None => {
                return Response::failed(
                    reply_to,
                    fallback_id,
                    "timed out waiting for another request on the same resource to finish",
                );
            }
        };
        let outcome = run_guarded(resource_type, invocation, work_deadline).await;
        // A Create that made something before failing answers with what it made, so the
        // rollback's Delete cleans it up; otherwise with the marker.
        let fallback_id = match (&watched.request.action, watched.made_id()) {
            (Action::Create, Some(made)) => made,
            _ => fallback_id,
        };
        match outcome {
            Ok(outcome) => {
                let mut outcome = outcome;
                if let Some(id) = delete_id {
                    // A Delete never changes the id.
                    outcome.physical_id = id;
                }
                if outcome.physical_id.is_empty() {
                    return Response::failed(
                        reply_to,
                        fallback_id,
                        "internal error: the resource type returned an empty physical id",
                    );
                }
                Response::success(reply_to, outcome)
            }
            Err(reason) => Response::failed(reply_to, fallback_id, reason),
        }
    }
}

/// Requests for one resource (one owner) are served one at a time, so that a retried event
/// delivered while the first delivery still runs waits for it and then adopts its work.
/// Lambda's reserved concurrency of 1 does the same across invocations in AWS.
#[derive(Clone, Default)]
struct ResourceLocks(Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl ResourceLocks {
    async fn acquire(
        &self,
        owner: &OwnerId,
        until: Instant,
    ) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            // Forget locks nobody holds or waits for.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(owner.as_str().to_string()).or_default().clone()
        };
        tokio::time::timeout_at(until, lock.lock_owned()).await.ok()
    }
}

/// Runs the resource type in its own task, so that a panic or the deadline turns into a
/// reason instead of a lost response. Abandoned work is aborted.
async fn run_guarded(
    resource_type: Arc<dyn ResourceType>,
    invocation: Invocation,
    work_deadline: Instant,
) -> Result<Outcome, String> {
    let task =
        tokio::spawn(async move { resource_type.handle(&invocation).await }.in_current_span());
    let abort = task.abort_handle();
    match tokio::time::timeout_at(work_deadline, task).await {
        Ok(Ok(Ok(outcome))) => Ok(outcome),
        Ok(Ok(Err(failure))) => Err(failure.to_string()),
        Ok(Err(join_error)) if join_error.is_panic() => {
            let message = panic_message(join_error.into_panic());
            tracing::error!(panic = %message, "the resource handler panicked");
            Err(format!("internal error: the handler panicked: {message}"))
        }
        Ok(Err(join_error)) => Err(format!("internal error: {join_error}")),
        Err(_elapsed) => {
            abort.abort();
            tracing::error!("work abandoned before the Lambda deadline");
            Err(
                "timed out: the work did not finish before the Lambda deadline; \
                 nothing more will be done for this request"
                    .to_string(),
            )
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
