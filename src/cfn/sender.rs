//! Delivering a response to CloudFormation's pre-signed ResponseURL.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use tokio::time::Instant;

/// Setting that lets the function answer `http://` ResponseURLs on loopback hosts, for
/// local stand-ins of CloudFormation. Never set in AWS.
pub const ALLOW_HTTP_RESPONSE_URL_ENV: &str = "VENDOR_ACCESS_ALLOW_HTTP_RESPONSE_URL";

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("refusing ResponseURL {url}: {why}")]
    RefusedUrl { url: String, why: &'static str },
    #[error("CloudFormation rejected the response with HTTP {status}")]
    Rejected { status: u16 },
    #[error("the response could not be delivered after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

/// The seam between the protocol and the network.
#[async_trait]
pub trait ResponseSender: Send + Sync {
    /// Checks, before any work is done, that `url` is a place a response may go.
    fn accepts(&self, url: &str) -> Result<(), SendError>;

    /// PUTs `body` to `url`, finishing before `deadline`.
    async fn send(&self, url: &str, body: Vec<u8>, deadline: Instant) -> Result<(), SendError>;
}

/// Which ResponseURLs may be answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPolicy {
    pub allow_loopback_http: bool,
}

impl UrlPolicy {
    pub fn from_env() -> Self {
        let allow = std::env::var(ALLOW_HTTP_RESPONSE_URL_ENV)
            .is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        UrlPolicy {
            allow_loopback_http: allow,
        }
    }

    /// https on an S3 host, or (when allowed) http(s) on a loopback host.
    pub fn check(&self, url: &str) -> Result<Url, SendError> {
        let refuse = |why| SendError::RefusedUrl {
            url: redact(url),
            why,
        };
        let parsed = Url::parse(url).map_err(|_| refuse("not a URL"))?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        if self.allow_loopback_http && is_loopback(&host) {
            return match parsed.scheme() {
                "http" | "https" => Ok(parsed),
                _ => Err(refuse("only http or https")),
            };
        }
        if parsed.scheme() != "https" {
            return Err(refuse("only https ResponseURLs are accepted"));
        }
        if !is_s3_host(&host) {
            return Err(refuse("the host is not an Amazon S3 endpoint"));
        }
        Ok(parsed)
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_s3_host(host: &str) -> bool {
    let Some(rest) = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    rest.split('.')
        .any(|label| label == "s3" || label.starts_with("s3-"))
}

/// The URL without its query string, which holds the pre-signed credentials.
pub fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?<redacted>"),
        None => url.to_string(),
    }
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
    policy: UrlPolicy,
    retry: Retry,
}

impl HttpSender {
    pub fn new(policy: UrlPolicy, retry: Retry) -> Self {
        HttpSender {
            client: reqwest::Client::new(),
            policy,
            retry,
        }
    }
}

#[async_trait]
impl ResponseSender for HttpSender {
    fn accepts(&self, url: &str) -> Result<(), SendError> {
        self.policy.check(url).map(|_| ())
    }

    async fn send(&self, url: &str, body: Vec<u8>, deadline: Instant) -> Result<(), SendError> {
        let target = self.policy.check(url)?;
        let shown = redact(url);
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
                .put(target.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_s3_urls_are_accepted_by_default() {
        let policy = UrlPolicy::default();
        for good in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a?X=1",
            "https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com/a",
            "https://cfn-response.s3.cn-north-1.amazonaws.com.cn/a",
        ] {
            assert!(policy.check(good).is_ok(), "{good}");
        }
        for bad in [
            "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
            "https://example.com/a",
            "https://s3.amazonaws.com.evil.example/a",
            "https://evil-s3.example.com/a",
            "http://127.0.0.1:9000/a",
            "not a url",
        ] {
            assert!(policy.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_http_needs_the_explicit_setting() {
        let local = UrlPolicy {
            allow_loopback_http: true,
        };
        for url in [
            "http://127.0.0.1:9000/r",
            "http://localhost:1/r",
            "http://[::1]:2/r",
        ] {
            assert!(local.check(url).is_ok(), "{url}");
            assert!(UrlPolicy::default().check(url).is_err(), "{url}");
        }
        assert!(local.check("http://10.0.0.1/r").is_err());
    }

    #[test]
    fn the_query_string_is_redacted() {
        assert_eq!(
            redact("https://b.s3.amazonaws.com/k?Signature=abc"),
            "https://b.s3.amazonaws.com/k?<redacted>"
        );
    }
}
