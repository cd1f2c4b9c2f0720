//! Delivering a response to CloudFormation's pre-signed ResponseURL.
//!
//! Over the AWS SDK's own connector ([`crate::http`]), so the binary carries one HTTP
//! client; it is made at the first response, not at start-up: Lambda's init phase asks for
//! the first event sooner.

use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use tokio::time::Instant;

use crate::http::Https;

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

/// Sends responses over HTTPS (and, for local stand-ins, HTTP).
pub struct HttpSender {
    https: Https,
    retry: Retry,
}

impl HttpSender {
    pub fn new(retry: Retry) -> Self {
        Self::over(Https::new(), retry)
    }

    /// A sender over `https`, shared with the AWS clients: one connection pool, and the
    /// trusted roots parsed once.
    pub fn over(https: Https, retry: Retry) -> Self {
        HttpSender { https, retry }
    }
}

/// One PUT: the HTTP status, or what went wrong, as a person reads it (never the URL).
async fn put(
    connector: &SharedHttpConnector,
    url: &ResponseUrl,
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let mut request = HttpRequest::new(SdkBody::from(body));
    request
        .set_uri(url.url().as_str())
        .map_err(|_| "the ResponseURL is not a valid URI".to_string())?;
    request.set_method("PUT").map_err(|e| e.to_string())?;
    // The pre-signed URL signs an empty Content-Type.
    request.headers_mut().insert("content-type", "");
    request
        .headers_mut()
        .insert("content-length", body.len().to_string());
    let exchange = async {
        let reply = connector.call(request).await.map_err(|e| causes(&e))?;
        let status = reply.status().as_u16();
        // Read to the end, so that the connection can serve the next response.
        let _ = ByteStream::new(reply.into_body()).collect().await;
        Ok(status)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs_f32())),
    }
}

/// An error and its causes in one line ("client error (Connect): tcp connect error: ...").
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
            let timeout = self.retry.attempt_timeout.min(remaining);
            match put(&self.https.connector(), url, &body, timeout).await {
                Ok(status) if (200..300).contains(&status) => {
                    tracing::info!(url = %shown, attempts, "response delivered");
                    return Ok(());
                }
                Ok(status) if (400..500).contains(&status) => {
                    tracing::error!(url = %shown, status, "CloudFormation rejected the response");
                    return Err(SendError::Rejected { status });
                }
                Ok(status) => {
                    last = format!("HTTP {status}");
                    tracing::warn!(url = %shown, attempt = attempts, status = %last, "retrying response");
                }
                Err(error) => {
                    last = error;
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
