//! A fault-injecting HTTP proxy between the function and moto, scripted per test:
//! throttling, 500s, connection resets and slow answers for chosen AWS operations.
//!
//! It can also pass the requests under one path one at a time ([`FaultProxy::one_at_a_time`]):
//! moto checks an S3 condition (`If-None-Match`, `If-Match`) and then writes, in a thread per
//! request, so two conditional writes that arrive together may both pass; S3 decides them
//! atomically. Passing them on one at a time makes moto decide as S3 does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What to do to a request instead of (or before) passing it on.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The service's own "slow down" answer: Throttling (IAM), ThrottlingException
    /// (KMS, Secrets Manager), SlowDown (S3).
    Throttle,
    /// HTTP 500 InternalError.
    ServerError,
    /// Close the connection without an answer.
    Reset,
    /// Answer, but only after this long.
    Delay(Duration),
    /// An S3 error answer: status, code, message.
    Refuse(u16, &'static str, &'static str),
}

struct Rule {
    operation: &'static str,
    /// Only requests whose body holds this.
    body_contains: Option<&'static str>,
    fault: Fault,
    /// How many more requests it applies to; `usize::MAX` for every one.
    remaining: usize,
}

#[derive(Default)]
struct Script {
    rules: Vec<Rule>,
    /// Paths whose requests pass one at a time.
    serialised: Vec<String>,
}

/// The proxy; `endpoint` is what the AWS clients point at.
pub struct FaultProxy {
    pub endpoint: String,
    script: Arc<Mutex<Script>>,
    injected: Arc<AtomicUsize>,
}

/// Held while a serialised request is passed on.
type OneAtATime = Arc<tokio::sync::Mutex<()>>;

impl FaultProxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let script: Arc<Mutex<Script>> = Arc::default();
        let injected: Arc<AtomicUsize> = Arc::default();
        let upstream = upstream.to_string();
        let client = reqwest::Client::new();
        let (shared_script, shared_injected) = (script.clone(), injected.clone());
        let serial: OneAtATime = Arc::default();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (script, injected) = (shared_script.clone(), shared_injected.clone());
                let (upstream, client) = (upstream.clone(), client.clone());
                let serial = serial.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        handle(
                            request,
                            upstream.clone(),
                            client.clone(),
                            script.clone(),
                            injected.clone(),
                            serial.clone(),
                        )
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint,
            script,
            injected,
        }
    }

    /// The next `times` requests for `operation` get `fault`.
    pub fn inject(&self, operation: &'static str, fault: Fault, times: usize) -> &Self {
        self.script.lock().expect("script").rules.push(Rule {
            operation,
            body_contains: None,
            fault,
            remaining: times,
        });
        self
    }

    /// Every request for `operation` whose body holds `text` gets `fault`.
    pub fn break_when(&self, operation: &'static str, text: &'static str, fault: Fault) -> &Self {
        self.script.lock().expect("script").rules.push(Rule {
            operation,
            body_contains: Some(text),
            fault,
            remaining: usize::MAX,
        });
        self
    }

    /// Requests whose path starts with `path` are passed on one at a time, as S3 decides
    /// conditional writes to one key.
    pub fn one_at_a_time(&self, path: &str) -> &Self {
        self.script
            .lock()
            .expect("script")
            .serialised
            .push(path.to_string());
        self
    }

    /// Every request for `operation` gets `fault` until [`FaultProxy::heal`].
    pub fn break_(&self, operation: &'static str, fault: Fault) -> &Self {
        self.inject(operation, fault, usize::MAX)
    }

    pub fn heal(&self) {
        self.script.lock().expect("script").rules.clear();
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }
}

/// The AWS operation a request is for: the Query API's `Action`, the JSON APIs'
/// `X-Amz-Target`, or the S3 subresource.
fn operation(method: &str, query: &str, target: Option<&str>, body: &[u8]) -> String {
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        return action.to_string();
    }
    let sub = query
        .split('&')
        .next()
        .unwrap_or("")
        .split('=')
        .next()
        .unwrap_or("");
    let s3 = match (method, sub) {
        ("GET", "encryption") => "GetBucketEncryption",
        ("GET", "policy") => "GetBucketPolicy",
        ("PUT", "policy") => "PutBucketPolicy",
        ("DELETE", "policy") => "DeleteBucketPolicy",
        ("GET", "cors") => "GetBucketCors",
        ("PUT", "cors") => "PutBucketCors",
        ("DELETE", "cors") => "DeleteBucketCors",
        ("HEAD", _) => "HeadBucket",
        _ => "S3",
    };
    s3.to_string()
}

fn fault_for(script: &Mutex<Script>, operation: &str, body: &[u8]) -> Option<Fault> {
    let mut script = script.lock().expect("script");
    let holds = |text: &str| String::from_utf8_lossy(body).contains(text);
    let rule = script.rules.iter_mut().find(|r| {
        r.operation == operation && r.remaining > 0 && r.body_contains.is_none_or(holds)
    })?;
    rule.remaining = rule.remaining.saturating_sub(1);
    Some(rule.fault)
}

fn answer(status: u16, headers: &[(&str, &str)], body: String) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn throttled(operation: &str, json_protocol: bool) -> Response<Full<Bytes>> {
    if json_protocol {
        return answer(
            400,
            &[
                ("x-amzn-ErrorType", "ThrottlingException"),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        );
    }
    if operation.contains("Bucket") {
        return answer(
            503,
            &[("content-type", "application/xml")],
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into(),
        );
    }
    answer(
        400,
        &[("content-type", "text/xml")],
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>".into(),
    )
}

async fn handle(
    request: Request<Incoming>,
    upstream: String,
    client: reqwest::Client,
    script: Arc<Mutex<Script>>,
    injected: Arc<AtomicUsize>,
    serial: OneAtATime,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = parts.uri.query().unwrap_or("").to_string();
    let op = operation(parts.method.as_str(), &query, target.as_deref(), &body);
    if let Some(fault) = fault_for(&script, &op, &body) {
        injected.fetch_add(1, Ordering::SeqCst);
        match fault {
            Fault::Throttle => return Ok(throttled(&op, target.is_some())),
            Fault::ServerError => {
                return Ok(answer(
                    500,
                    &[("content-type", "text/xml")],
                    "<Error><Code>InternalError</Code><Message>injected</Message></Error>".into(),
                ));
            }
            Fault::Reset => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                ));
            }
            Fault::Delay(pause) => tokio::time::sleep(pause).await,
            Fault::Refuse(status, code, message) => {
                return Ok(answer(
                    status,
                    &[("content-type", "application/xml")],
                    format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
                ));
            }
        }
    }
    let path = parts.uri.path().to_string();
    let serialised = {
        let script = script.lock().expect("script");
        script.serialised.iter().any(|p| path.starts_with(p))
    };
    let _one_at_a_time = match serialised {
        true => Some(serial.lock().await),
        false => None,
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut forward = client.request(parts.method.clone(), format!("{upstream}{path_and_query}"));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let reply = match forward.body(body).send().await {
        Ok(reply) => reply,
        Err(error) => return Ok(answer(502, &[], format!("proxy: {}", error.without_url()))),
    };
    let mut response = Response::builder().status(reply.status().as_u16());
    for (name, value) in reply.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name, value);
        }
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    Ok(response.body(Full::new(bytes)).expect("a valid response"))
}
