//! One invocation, start to finish: read the event, run the resource type, answer once.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::request::{Action, OwnerId, ReplyTo, Request, Unparsed};
use super::resource::{Invocation, Registry, ResourceType};
use super::response::{Failed, Outcome, Response};
use super::response_url::{UrlPolicy, UrlRefused};
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
    Refused(#[from] UrlRefused),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Says whether a request is really CloudFormation's, before anything is written.
#[async_trait::async_trait]
pub trait Confirmer: Send + Sync {
    /// `Err` with the reason when it is not.
    async fn confirm(&self, request: &Request) -> Result<(), String>;
}

/// Serves custom-resource events for the registered resource types.
#[derive(Clone)]
pub struct Dispatcher {
    registry: Registry,
    sender: Arc<dyn ResponseSender>,
    urls: UrlPolicy,
    confirmer: Option<Arc<dyn Confirmer>>,
    locks: ResourceLocks,
}

impl Dispatcher {
    pub fn new(registry: Registry, sender: Arc<dyn ResponseSender>, urls: UrlPolicy) -> Self {
        Dispatcher {
            registry,
            sender,
            urls,
            confirmer: None,
            locks: ResourceLocks::default(),
        }
    }

    /// Requests are acted on only when `confirmer` confirms them.
    pub fn confirming_with(mut self, confirmer: Arc<dyn Confirmer>) -> Self {
        self.confirmer = Some(confirmer);
        self
    }

    /// Handles one event, as the bytes Lambda received, and sends exactly one response,
    /// finishing before `deadline`. Returns the response that was delivered.
    pub async fn handle(&self, event: &[u8], deadline: Instant) -> Result<Response, DispatchError> {
        let request = match Request::parse(event, &self.urls) {
            Ok(request) => request,
            Err(Unparsed::Malformed {
                reason,
                reply_to,
                physical_id,
            }) => {
                tracing::error!(reason = %reason, "malformed event");
                let id = physical_id.unwrap_or_else(|| failed_create_id(&reply_to.request_id));
                let reason = format!("malformed CloudFormation event: {reason}");
                return self
                    .reply(*reply_to, Err(Failed::new(id, reason)), deadline)
                    .await;
            }
            Err(Unparsed::NoResponseUrl(reason)) => {
                tracing::error!(reason = %reason, "malformed event");
                return Err(DispatchError::Unanswerable(reason));
            }
            Err(Unparsed::Refused(refused)) => return Err(refused.into()),
        };
        let span = tracing::info_span!(
            "request",
            kind = request.kind(),
            resource_type = %request.resource_type,
            logical_id = %request.reply_to.logical_resource_id,
            request_id = %request.reply_to.request_id,
        );
        async {
            let reply_to = request.reply_to.clone();
            let answer = self.answer(request, deadline).await;
            self.reply(reply_to, answer, deadline).await
        }
        .instrument(span)
        .await
    }

    /// The one place a response is made and sent.
    async fn reply(
        &self,
        reply_to: ReplyTo,
        answer: Result<Outcome, Failed>,
        deadline: Instant,
    ) -> Result<Response, DispatchError> {
        let response = Response::new(reply_to, answer);
        match response.reason() {
            None => tracing::info!(physical_id = %response.physical_id, "SUCCESS"),
            Some(reason) => tracing::warn!(physical_id = %response.physical_id, reason, "FAILED"),
        }
        let send_by = deadline
            .checked_sub(SEND_BEFORE_DEADLINE)
            .unwrap_or(deadline);
        self.sender
            .send(&response.reply_to.response_url, response.to_body(), send_by)
            .await?;
        Ok(response)
    }

    /// What a well-formed request comes to.
    async fn answer(&self, request: Request, deadline: Instant) -> Result<Outcome, Failed> {
        // The id to answer with when the work does not succeed.
        let fallback_id = match request.physical_id() {
            Some(id) => id.to_string(),
            None => failed_create_id(&request.reply_to.request_id),
        };
        let resource_type = match self.resource_type(&request) {
            Ok(resource_type) => resource_type,
            Err(answered) => return answered.map_err(|reason| Failed::new(fallback_id, reason)),
        };
        let work_deadline = deadline
            .checked_sub(ABANDON_BEFORE_DEADLINE)
            .unwrap_or_else(Instant::now);
        let delete_id = match &request.action {
            Action::Delete { physical_id } => Some(physical_id.clone()),
            _ => None,
        };
        if let Some(confirmer) = &self.confirmer {
            let confirmed = tokio::time::timeout_at(work_deadline, confirmer.confirm(&request))
                .await
                .unwrap_or_else(|_| {
                    Err("timed out confirming the request with CloudFormation".into())
                });
            if let Err(reason) = confirmed {
                tracing::warn!(reason = %reason, "request not confirmed");
                return Err(Failed::new(fallback_id, reason));
            }
        }
        let is_create = request.action == Action::Create;
        let invocation = Invocation::new(request, work_deadline);
        let Some(_serialised) = self.locks.acquire(&invocation.owner(), work_deadline).await else {
            let reason = "timed out waiting for another request on the same resource to finish";
            return Err(Failed::new(fallback_id, reason));
        };
        let outcome = run_guarded(resource_type, invocation.clone(), work_deadline).await;
        // A Create that made something before failing answers with what it made, so the
        // rollback's Delete cleans it up; otherwise with the marker.
        let fallback_id = match (is_create, invocation.made_id()) {
            (true, Some(made)) => made,
            _ => fallback_id,
        };
        match outcome {
            Ok(mut outcome) => {
                if let Some(id) = delete_id {
                    // A Delete never changes the id.
                    outcome.physical_id = id;
                }
                if outcome.physical_id.is_empty() {
                    let reason = "internal error: the resource type returned an empty physical id";
                    return Err(Failed::new(fallback_id, reason));
                }
                Ok(outcome)
            }
            Err(reason) => Err(Failed::new(fallback_id, reason)),
        }
    }

    /// The resource type to run, or the answer given without running one: SUCCESS for a
    /// Delete of an id no type could have made (no AWS call), FAILED for an unknown type.
    fn resource_type(
        &self,
        request: &Request,
    ) -> Result<Arc<dyn ResourceType>, Result<Outcome, String>> {
        let delete_of = match &request.action {
            Action::Delete { physical_id } => Some(physical_id.as_str()),
            _ => None,
        };
        if let Some(id) = delete_of.filter(|id| is_failed_create_id(id)) {
            tracing::info!("delete of a failed create: nothing was made");
            return Err(Ok(Outcome::new(id)));
        }
        let Some(resource_type) = self.registry.find(&request.resource_type) else {
            return Err(Err(format!(
                "unsupported ResourceType {:?}; this function serves {}",
                request.resource_type,
                self.registry.names().join(", ")
            )));
        };
        if let Some(id) = delete_of.filter(|id| !resource_type.recognizes(id)) {
            tracing::info!(physical_id = id, "delete of an id this function never made");
            return Err(Ok(Outcome::new(id)));
        }
        Ok(resource_type)
    }
}

/// Requests for one resource (one owner) are served one at a time, so that a retried event
/// delivered while the first delivery still runs waits for it and then adopts its work.
/// Across invocations, the requests of one role or user, and the writers of one bucket
/// document, take turns instead ([`crate::aws::turns`]); without a lock bucket, a reserved
/// concurrency of 1 does.
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
