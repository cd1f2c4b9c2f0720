//! The adapter between the Lambda runtime and the [`Dispatcher`].

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{LambdaEvent, LambdaInvocation};
use serde_json::Value;
use tokio::time::Instant;

use crate::cfn::Dispatcher;

/// Serves one Lambda event. Errors are logged, not returned: an error would make Lambda
/// retry the event, and CloudFormation must see one answer per request.
pub async fn serve(dispatcher: &Dispatcher, event: LambdaEvent<Value>) -> Result<(), Infallible> {
    let deadline = instant_of(event.context.deadline);
    if let Err(error) = dispatcher.handle(event.payload, deadline).await {
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

/// Lets an event that is not JSON reach the handler as a JSON string, so that a
/// ResponseURL inside it can still be answered instead of the runtime failing the event.
#[derive(Clone, Copy, Default)]
pub struct NonJsonAsString;

impl<S> Layer<S> for NonJsonAsString {
    type Service = NonJsonAsStringService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        NonJsonAsStringService { inner }
    }
}

pub struct NonJsonAsStringService<S> {
    inner: S,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for NonJsonAsStringService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        if serde_json::from_slice::<serde::de::IgnoredAny>(&invocation.body).is_err() {
            let text = String::from_utf8_lossy(&invocation.body).into_owned();
            invocation.body = serde_json::to_vec(&Value::String(text))
                .unwrap_or_default()
                .into();
        }
        self.inner.call(invocation)
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
