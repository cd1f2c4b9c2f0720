//! Delivering a response to CloudFormation's pre-signed ResponseURL.
//!
//! Over the HTTP and TLS stack the AWS SDK's own client is built on (hyper, rustls with
//! AWS-LC), so the binary carries one of each. The client is built at the first response,
//! not at start-up: Lambda's init phase asks for the first event sooner.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
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

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Sends responses over HTTPS (and, for local stand-ins, HTTP).
pub struct HttpSender {
    client: OnceLock<Result<HttpsClient, String>>,
    retry: Retry,
}

impl HttpSender {
    pub fn new(retry: Retry) -> Self {
        HttpSender {
            client: OnceLock::new(),
            retry,
        }
    }

    fn client(&self) -> Result<&HttpsClient, &str> {
        self.client
            .get_or_init(https_client)
            .as_ref()
            .map_err(String::as_str)
    }
}

fn https_client() -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(trusted_roots())
        .with_no_client_auth();
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// The public roots compiled in (Mozilla's, as webpki-roots ships them: ResponseURLs are
/// S3 pre-signed URLs, whose certificates chain to them), without reading or scanning the
/// file system; plus, only when `SSL_CERT_FILE` is set, the certificates of that file, as
/// OpenSSL would trust them (a private CA of a local stand-in, a proxy's).
fn trusted_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        match CertificateDer::pem_file_iter(&file) {
            Ok(certs) => {
                let (_, ignored) = roots.add_parsable_certificates(certs.filter_map(Result::ok));
                if ignored > 0 {
                    tracing::warn!(ignored, "certificates of SSL_CERT_FILE were not usable");
                }
            }
            Err(error) => tracing::warn!(%error, "SSL_CERT_FILE could not be read"),
        }
    }
    roots
}

/// One PUT: the HTTP status, or what went wrong, as a person reads it (never the URL).
async fn put(
    client: &HttpsClient,
    url: &ResponseUrl,
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let uri: hyper::Uri = url
        .url()
        .as_str()
        .parse()
        .map_err(|_| "the ResponseURL is not a valid URI".to_string())?;
    let request = hyper::Request::put(uri)
        .header(CONTENT_TYPE, HeaderValue::from_static(""))
        .header(CONTENT_LENGTH, body.len())
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let reply = client.request(request).await.map_err(|e| causes(&e))?;
        let status = reply.status().as_u16();
        // Read to the end, so that the connection can serve the next response.
        let _ = reply.into_body().collect().await;
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
            let client = match self.client() {
                Ok(client) => client,
                Err(error) => {
                    last = error.to_string();
                    break;
                }
            };
            let timeout = self.retry.attempt_timeout.min(remaining);
            match put(client, url, &body, timeout).await {
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
