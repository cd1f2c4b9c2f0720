//! The adapter between the Lambda runtime and the [`Dispatcher`].
//!
//! The runtime would parse the event into a payload type; the dispatcher parses it itself,
//! once, from the bytes Lambda sent (so that even an event that is not JSON gets its FAILED
//! answer). [`RawEvent`] takes the bytes from the invocation before the runtime sees them
//! and hands them to [`serve`]; the runtime is left an empty payload to read, so it never
//! holds (nor, at TRACE, logs) the event, whose ResponseURL carries credentials.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{LambdaEvent, LambdaInvocation};
use serde::de::IgnoredAny;
use tokio::task::futures::TaskLocalFuture;
use tokio::time::Instant;

use crate::cfn::Dispatcher;

tokio::task_local! {
    /// The bytes of the event being served, for [`serve`].
    static EVENT_BYTES: bytes::Bytes;
}

/// Serves one Lambda event. Errors are logged, not returned: an error would make Lambda
/// retry the event, and CloudFormation must see one answer per request.
pub async fn serve(
    dispatcher: &Dispatcher,
    event: LambdaEvent<IgnoredAny>,
) -> Result<(), Infallible> {
    let deadline = instant_of(event.context.deadline);
    let bytes = EVENT_BYTES.try_with(Clone::clone).unwrap_or_default();
    if let Err(error) = dispatcher.handle(&bytes, deadline).await {
        tracing::error!(%error, "no response could be delivered");
    }
    Ok(())
}

/// Lambda gives the deadline in milliseconds since the epoch. Some local emulators
/// (`cargo lambda watch`) send the time budget itself instead; a "deadline" more than a
/// day in the past cannot be a real one, so it is read as that budget.
fn instant_of(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    instant_at(deadline_ms, now_ms)
}

fn instant_at(deadline_ms: u64, now_ms: u64) -> Instant {
    const DAY_MS: u64 = 24 * 60 * 60 * 1000;
    let remaining = if deadline_ms + DAY_MS < now_ms {
        deadline_ms
    } else {
        deadline_ms.saturating_sub(now_ms)
    };
    Instant::now() + Duration::from_millis(remaining)
}

/// Takes the event's bytes out of each invocation and hands them to [`serve`]; the
/// runtime gets `null` to deserialise in their place.
#[derive(Clone, Copy, Default)]
pub struct RawEvent;

impl<S> Layer<S> for RawEvent {
    type Service = RawEventService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RawEventService { inner }
    }
}

pub struct RawEventService<S> {
    inner: S,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for RawEventService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<bytes::Bytes, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let bytes = std::mem::replace(&mut invocation.body, bytes::Bytes::from_static(b"null"));
        EVENT_BYTES.scope(bytes, self.inner.call(invocation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_deadline_is_the_time_left_until_it() {
        let now_ms = 1_790_000_000_000;
        let left = instant_at(now_ms + 30_000, now_ms).duration_since(Instant::now());
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
        assert!(instant_at(now_ms - 1_000, now_ms) <= Instant::now());
    }

    #[test]
    fn an_emulators_budget_in_place_of_a_deadline_is_read_as_the_budget() {
        let left = instant_at(600_000, 1_790_000_000_000).duration_since(Instant::now());
        assert!(left > Duration::from_secs(599) && left <= Duration::from_secs(600));
    }
}
