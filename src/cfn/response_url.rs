//! The ResponseURL: where CloudFormation reads the answer, checked once when the event is
//! parsed, and never logged with its query string (it holds pre-signed credentials).

use std::fmt;

use url::Url;

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

    /// A URL no answer is ever sent to (`.invalid` never resolves, RFC 2606): requests
    /// made up by the command line to plan a resource are never answered.
    pub fn nowhere() -> Self {
        let text = "https://plan.invalid/";
        ResponseUrl::new(
            text,
            Url::parse(text).unwrap_or_else(|_| unreachable!("a valid URL")),
        )
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

/// Which ResponseURLs may be answered: https URLs of CloudFormation's response buckets
/// (`cloudformation-custom-resource-response-<region>`, in every partition) for the
/// function's own region, or (for local stand-ins, when allowed) loopback URLs.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    pub allow_loopback_http: bool,
    /// The function's region (`AWS_REGION`); `None` accepts the buckets of every region.
    pub region: Option<String>,
}

/// The response buckets CloudFormation pre-signs URLs in, named after their region.
const RESPONSE_BUCKET_PREFIX: &str = "cloudformation-custom-resource-response-";

impl UrlPolicy {
    pub fn from_env() -> Self {
        let allow = std::env::var(ALLOW_HTTP_RESPONSE_URL_ENV)
            .is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        UrlPolicy {
            allow_loopback_http: allow,
            region: std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()),
        }
    }

    /// Only for the function's `region`.
    pub fn in_region(region: &str) -> Self {
        UrlPolicy {
            allow_loopback_http: false,
            region: Some(region.to_string()),
        }
    }

    /// Whether `url` is one CloudFormation would send this function.
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
        let Some((bucket, host_region)) = response_bucket(&host, parsed.path()) else {
            return Err(refuse(
                "it is not in one of CloudFormation's response buckets (cloudformation-custom-resource-response-<region> on Amazon S3)",
            ));
        };
        if let Some(region) = &self.region {
            let ours = format!("{RESPONSE_BUCKET_PREFIX}{}", region.replace('-', ""));
            if bucket != ours || host_region.is_some_and(|r| r != *region) {
                return Err(refuse(
                    "it is CloudFormation's response bucket of another region than the function's",
                ));
            }
        }
        Ok(ResponseUrl::new(url, parsed))
    }
}

/// The response bucket an S3 URL points into, and the region its host names (if any):
/// virtual-hosted (`BUCKET.s3.REGION.amazonaws.com`, `BUCKET.s3-REGION…`,
/// `BUCKET.s3.amazonaws.com`, and `.amazonaws.com.cn`) or path-style.
fn response_bucket(host: &str, path: &str) -> Option<(String, Option<String>)> {
    let rest = host
        .strip_suffix(".amazonaws.com.cn")
        .or_else(|| host.strip_suffix(".amazonaws.com"))?;
    let (bucket, endpoint) = match rest.split_once(".s3") {
        Some((bucket, endpoint)) => (bucket.to_string(), endpoint),
        None if rest == "s3" || rest.starts_with("s3.") || rest.starts_with("s3-") => {
            let bucket = path.trim_start_matches('/').split('/').next()?.to_string();
            (bucket, rest.strip_prefix("s3").unwrap_or_default())
        }
        None => return None,
    };
    let region = match endpoint {
        "" => None,
        other => Some(
            other
                .strip_prefix('.')
                .or_else(|| other.strip_prefix('-'))?
                .to_string(),
        ),
    };
    let well_formed = bucket
        .strip_prefix(RESPONSE_BUCKET_PREFIX)
        .is_some_and(|r| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    let region_ok = region.as_deref().is_none_or(|r| {
        !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    (well_formed && region_ok).then_some((bucket, region))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
    fn only_cloudformations_response_buckets_are_answered() {
        let any_region = UrlPolicy::default();
        for good in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation/x?X-Amz-Signature=1",
            "https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com/a",
            "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/a",
            "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/a",
            "https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com/a",
            "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1/a",
        ] {
            assert!(any_region.check(good).is_ok(), "{good}");
        }
        for bad in [
            "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
            "https://attacker.s3.amazonaws.com/cfn-response?X-Amz-Signature=1",
            "https://cfn-response.s3.cn-north-1.amazonaws.com.cn/a",
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example/a",
            "https://cloudformation-custom-resource-response-useast1.evil.example/a",
            "https://example.com/a",
            "https://s3.amazonaws.com/attacker/a",
            "http://127.0.0.1:9000/a",
            "not a url",
        ] {
            assert!(any_region.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_functions_own_region_is_answered() {
        let ireland = UrlPolicy::in_region("eu-west-1");
        assert!(
            ireland
                .check("https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/a")
                .is_ok()
        );
        for other in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
            "https://cloudformation-custom-resource-response-euwest1.s3.us-east-1.amazonaws.com/a",
        ] {
            assert!(ireland.check(other).is_err(), "{other}");
        }
    }

    #[test]
    fn loopback_http_needs_the_explicit_setting() {
        let local = UrlPolicy {
            allow_loopback_http: true,
            region: None,
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
