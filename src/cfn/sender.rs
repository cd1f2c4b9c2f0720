//! Delivering a response to CloudFormation's pre-signed ResponseURL.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use tokio::time::Instant;

use super::response_url::ResponseUrl;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("CloudFormation rejected the response with HTTP {status}")]
    Rejected { status: u16 },
    #[error("the response could not be delivered after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

/// The seam between the protocol and the network.
#[async_trait]
pub trait ResponseSender: Send + Sync {
    /// PUTs `body` to `url`, finishing before `deadline`.
    async fn send(
        &self,
        url: &ResponseUrl,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<(), SendError>;
}

/// How hard to try before giving up.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub attempt_timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 8,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// Exponential backoff with full jitter for the given (1-based) attempt.
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// Sends responses over HTTPS with reqwest.
pub struct HttpSender {
    client: reqwest::Client,
    retry: Retry,
}

impl HttpSender {
    pub fn new(retry: Retry) -> Self {
        HttpSender {
            client: reqwest::Client::new(),
            retry,
        }
    }
}

#[async_trait]
impl ResponseSender for HttpSender {
    async fn send(
        &self,
        url: &ResponseUrl,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<(), SendError> {
        let shown = url.redacted();
        let mut last = String::from("no attempt fitted before the deadline");
        let mut attempts = 0;
        while attempts < self.retry.attempts {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            attempts += 1;
            let put = self
                .client
                .put(url.url().clone())
                .header(CONTENT_TYPE, HeaderValue::from_static(""))
                .header(CONTENT_LENGTH, body.len())
                .body(body.clone())
                .timeout(self.retry.attempt_timeout.min(remaining))
                .send();
            match put.await {
                Ok(reply) if reply.status().is_success() => {
                    tracing::info!(url = %shown, attempts, "response delivered");
                    return Ok(());
                }
                Ok(reply) if reply.status().is_client_error() => {
                    let status = reply.status().as_u16();
                    tracing::error!(url = %shown, status, "CloudFormation rejected the response");
                    return Err(SendError::Rejected { status });
                }
                Ok(reply) => {
                    last = format!("HTTP {}", reply.status().as_u16());
                    tracing::warn!(url = %shown, attempt = attempts, status = %last, "retrying response");
                }
                Err(error) => {
                    last = error.without_url().to_string();
                    tracing::warn!(url = %shown, attempt = attempts, error = %last, "retrying response");
                }
            }
            let pause = self
                .retry
                .delay(attempts)
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
        }
        tracing::error!(url = %shown, attempts, last = %last, "giving up on the response");
        Err(SendError::GaveUp { attempts, last })
    }
}
