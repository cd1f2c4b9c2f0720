//! HTTP: one client type for every request the function makes.
//!
//! The AWS SDK's own connector (hyper 1, rustls on ring, the system's trusted roots or those
//! of `SSL_CERT_FILE`) serves the SDK clients and the response PUT alike. Each other client
//! type is another instantiation of hyper's client, HTTP/2 and the TLS glue in the binary
//! (the second one cost 0.25 MiB of the binary; bench/README.md), so there is one.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpConnectorSettings, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::shared::IntoShared;

/// Every peer here (AWS endpoints, the ResponseURL's S3) accepts a connection within seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connector made at its first use, so that the trusted roots are read and parsed when a
/// request needs them, not before Lambda's first `next` (nor by a `plan` that makes no call).
/// Clones share the one connector and its connection pool.
#[derive(Clone, Debug, Default)]
pub struct Https(Arc<OnceLock<SharedHttpConnector>>);

impl Https {
    pub fn new() -> Self {
        Self::default()
    }

    /// The connector: TCP without Nagle's delay, a connect timeout, no read timeout (each
    /// caller bounds its own exchange: the SDK per attempt, the response PUT per try).
    pub fn connector(&self) -> SharedHttpConnector {
        self.0
            .get_or_init(|| {
                let settings = HttpConnectorSettings::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build();
                Connector::builder()
                    .connector_settings(settings)
                    .enable_tcp_nodelay(true)
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build()
                    .into_shared()
            })
            .clone()
    }

    /// The connector as the SDK's HTTP client, for every SDK client alike: the SDK asks for
    /// a connector at each attempt, with the client's timeout settings, and always gets
    /// this one (whose connect timeout is the one every client is given; `aws::Clients`).
    pub fn sdk_client(&self) -> SharedHttpClient {
        let https = self.clone();
        http_client_fn(move |_settings, _components| https.connector())
    }
}
