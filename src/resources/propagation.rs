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

    /// Retries over `answers`, one per attempt (the last one repeats); the result and the
    /// number of attempts.
    async fn retry_over(
        answers: &[Result<u32, &'static str>],
    ) -> (Result<u32, &'static str>, usize) {
        let calls = Cell::new(0);
        let result = QUICK
            .retry(
                Instant::now() + Duration::from_secs(5),
                |e| *e == "unpropagated",
                || {
                    let answer = answers[calls.get().min(answers.len() - 1)];
                    calls.set(calls.get() + 1);
                    async move { answer }
                },
            )
            .await;
        (result, calls.get())
    }

    #[tokio::test]
    async fn a_transient_error_is_retried_until_the_call_succeeds() {
        let answers = [Err("unpropagated"), Err("unpropagated"), Ok(7)];
        assert_eq!(retry_over(&answers).await, (Ok(7), 3));
    }

    #[tokio::test]
    async fn any_other_error_ends_at_once() {
        let answers = [Err("unpropagated"), Err("denied"), Ok(7)];
        assert_eq!(retry_over(&answers).await, (Err("denied"), 2));
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
