//! The ResponseURL: where CloudFormation reads the answer, checked once when the event is
//! parsed, and never logged with its query string (it holds pre-signed credentials).

use std::fmt;

use reqwest::Url;

/// Setting that lets the function answer `http://` ResponseURLs on loopback hosts, for
/// local stand-ins of CloudFormation. Never set in AWS.
pub const ALLOW_HTTP_RESPONSE_URL_ENV: &str = "VENDOR_ACCESS_ALLOW_HTTP_RESPONSE_URL";

/// A ResponseURL this function may answer. Its `Debug` and `Display` show it redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseUrl {
    text: String,
    url: Url,
}

impl ResponseUrl {
    fn new(text: &str, url: Url) -> Self {
        ResponseUrl {
            text: text.to_string(),
            url,
        }
    }

    /// The URL as the event gave it (with its signature: never log this).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL without its query string.
    pub fn redacted(&self) -> String {
        redact(&self.text)
    }
}

impl fmt::Debug for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseUrl({})", self.redacted())
    }
}

impl fmt::Display for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A ResponseURL this function will not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing ResponseURL {url}: {why}")]
pub struct UrlRefused {
    pub url: String,
    pub why: &'static str,
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
    pub fn check(&self, url: &str) -> Result<ResponseUrl, UrlRefused> {
        let refuse = |why| UrlRefused {
            url: redact(url),
            why,
        };
        let parsed = Url::parse(url).map_err(|_| refuse("not a URL"))?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        if self.allow_loopback_http && is_loopback(&host) {
            return match parsed.scheme() {
                "http" | "https" => Ok(ResponseUrl::new(url, parsed)),
                _ => Err(refuse("only http or https")),
            };
        }
        if parsed.scheme() != "https" {
            return Err(refuse("only https ResponseURLs are accepted"));
        }
        if !is_s3_host(&host) {
            return Err(refuse("the host is not an Amazon S3 endpoint"));
        }
        Ok(ResponseUrl::new(url, parsed))
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
