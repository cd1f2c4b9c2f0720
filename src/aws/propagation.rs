//! Waiting out IAM's eventual consistency.
//!
//! A principal created moments ago (the vendor's new role, our own new role as a grantee)
//! may be refused as "Invalid principal" for a few seconds, rarely a minute. The call is
//! retried with jittered backoff for at most [`PROPAGATION_WINDOW`], and never past the
//! invocation's work deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::CallError;

/// How long IAM may take to accept a new principal before we call it a mistake. The
/// Terraform AWS provider waits the same two minutes for the same reason.
pub const PROPAGATION_WINDOW: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub window: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            window: PROPAGATION_WINDOW,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Whether an AWS error means "that principal does not exist yet (or at all)".
pub fn is_unpropagated_principal(error: &CallError) -> bool {
    let message = error
        .message
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match error.code.as_deref().unwrap_or_default() {
        // IAM's and KMS's names for it, and S3's for a bucket policy.
        "MalformedPolicyDocument" | "MalformedPolicyDocumentException" | "MalformedPolicy" => {
            message.contains("principal")
        }
        // KMS refuses a grantee it cannot resolve yet.
        "InvalidArnException" => true,
        _ => false,
    }
}

/// The call kept being refused for its principal.
#[derive(Debug)]
pub struct StillRejected {
    pub error: CallError,
    pub waited: Duration,
    /// True when the Lambda deadline, not the propagation window, ended the wait.
    pub cut_short: bool,
}

impl StillRejected {
    /// A reason that says which is likelier: a typo or a principal still propagating.
    pub fn explain(&self, principals: &str) -> String {
        let message = self.error.message.as_deref().unwrap_or("invalid principal");
        if self.cut_short {
            format!(
                "IAM did not accept {principals} ({message}); it may not have propagated yet \
                 (retried for {}s until the Lambda deadline drew near). Retry the deployment; \
                 if it keeps failing, check the principal for a typo",
                self.waited.as_secs()
            )
        } else {
            format!(
                "IAM did not accept {principals} ({message}) for {}s; new principals \
                 propagate within seconds, so it looks mistyped or deleted: check the account \
                 id and the role or user name",
                self.waited.as_secs()
            )
        }
    }
}

/// The outcome of a call retried while its principal propagates.
#[derive(Debug)]
pub enum Retried<E = CallError> {
    /// Failed for another reason; not retried.
    Failed(E),
    StillRejected(StillRejected),
}

/// Runs `call` until it succeeds, fails for a reason other than an unpropagated principal,
/// or the window (or `stop_by`) is used up.
pub async fn retry_while_propagating<T, F, Fut>(
    backoff: &Backoff,
    stop_by: Instant,
    call: F,
) -> Result<T, Retried>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let unpropagated = |error: &CallError| is_unpropagated_principal(error).then(|| error.clone());
    retry_while_rejected(backoff, stop_by, unpropagated, call).await
}

/// [`retry_while_propagating`] for calls whose error is not a bare [`CallError`]:
/// `unpropagated` picks out the AWS error that refused a principal. The pauses happen
/// between calls, so a call that takes a turn on a document ([`super::turns`]) has given
/// it back before the wait: no other request waits while a principal propagates.
pub async fn retry_while_rejected<T, E, F, Fut>(
    backoff: &Backoff,
    stop_by: Instant,
    unpropagated: impl Fn(&E) -> Option<CallError>,
    mut call: F,
) -> Result<T, Retried<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let give_up = stop_by.min(started + backoff.window);
    let mut delay = backoff.first_delay;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => match unpropagated(&error) {
                Some(refused) => refused,
                None => return Err(Retried::Failed(error)),
            },
        };
        let pause = delay.mul_f64(rand::random_range(0.5..=1.0));
        if Instant::now() + pause >= give_up {
            return Err(Retried::StillRejected(StillRejected {
                error,
                waited: started.elapsed(),
                cut_short: give_up < started + backoff.window,
            }));
        }
        tracing::info!(
            code = error.code.as_deref().unwrap_or_default(),
            pause_ms = pause.as_millis() as u64,
            "principal not accepted yet; retrying"
        );
        tokio::time::sleep(pause).await;
        delay = (delay * 2).min(backoff.max_delay);
    }
}
