//! Waiting out IAM's eventual consistency.
//!
//! A role or user created moments ago is not yet known to every AWS service: S3 answers
//! "Invalid principal in policy" until it has propagated, which takes seconds, rarely more
//! than a minute. Such calls are retried with jittered backoff inside a bounded window, as
//! the Terraform AWS provider does, and always inside the Lambda's deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How retries are spaced and how long they go on.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts later than this after the first attempt.
    pub window: Duration,
}

impl Backoff {
    /// A principal still unknown after two minutes is taken to be mistyped or deleted.
    pub const NEW_PRINCIPAL: Backoff = Backoff {
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(10),
        window: Duration::from_secs(120),
    };

    /// Runs `attempt` until it succeeds, fails in a way `is_transient` does not accept, or
    /// the window (cut short by `deadline`) closes; returns the last result. When the last
    /// error is still transient, the window closed on it.
    pub async fn retry<T, E, Fut>(
        &self,
        deadline: Instant,
        is_transient: impl Fn(&E) -> bool,
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let until = deadline.min(Instant::now() + self.window);
        let mut delay = self.first_delay;
        loop {
            let error = match attempt().await {
                Err(error) if is_transient(&error) => error,
                done => return done,
            };
            // Jitter (half to all of the delay), so that retries do not march in step.
            let pause = delay.mul_f64(rand::random_range(0.5..=1.0));
            if Instant::now() + pause >= until {
                return Err(error);
            }
            tracing::info!(
                pause_ms = pause.as_millis() as u64,
                "waiting for IAM to propagate"
            );
            tokio::time::sleep(pause).await;
            delay = (delay * 2).min(self.max_delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const QUICK: Backoff = Backoff {
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        window: Duration::from_secs(5),
    };

    #[tokio::test]
    async fn a_transient_error_is_retried_until_the_call_succeeds() {
        let calls = Cell::new(0);
        let result: Result<u32, &str> = QUICK
            .retry(
                Instant::now() + Duration::from_secs(5),
                |e| *e == "unpropagated",
                || {
                    calls.set(calls.get() + 1);
                    let outcome = if calls.get() < 3 {
                        Err("unpropagated")
                    } else {
                        Ok(7)
                    };
                    async move { outcome }
                },
            )
            .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test]
    async fn any_other_error_ends_at_once() {
        let calls = Cell::new(0);
        let result: Result<u32, &str> = QUICK
            .retry(
                Instant::now() + Duration::from_secs(5),
                |e| *e == "unpropagated",
                || {
                    calls.set(calls.get() + 1);
                    async { Err("denied") }
                },
            )
            .await;
        assert_eq!(result, Err("denied"));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn the_deadline_closes_the_window() {
        let started = Instant::now();
        let result: Result<u32, &str> = QUICK
            .retry(
                started + Duration::from_millis(100),
                |_| true,
                || async { Err("unpropagated") },
            )
            .await;
        assert_eq!(result, Err("unpropagated"));
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
    }
}
