//! The real `vendor-access` binary as Lambda runs it: a process of its own that asks a
//! runtime API for events, here a small stand-in served from the test.
//!
//! Each [`FunctionProcess`] has its own [`RuntimeApi`], as each Lambda sandbox has, so a
//! test decides which process serves which event. A process serves one event at a time.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

use super::{REGION, unique};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

struct Event {
    request_id: String,
    body: Vec<u8>,
    deadline_ms: u64,
}

/// Hands queued events to one function process, one per `GET .../invocation/next`.
pub struct RuntimeApi {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` wants it.
    pub address: String,
    events: mpsc::UnboundedSender<Event>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address").to_string();
        let (events, queue) = mpsc::unbounded_channel::<Event>();
        let queue = Arc::new(Mutex::new(queue));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let queue = queue.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| serve(request, queue.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi { address, events }
    }

    /// Queues `event` with a Lambda deadline `timeout` from when it is handed over... as
    /// Lambda does, from now: the event is handed over at once to an idle process.
    pub fn invoke(&self, event: &Value, timeout: Duration) {
        let deadline = SystemTime::now() + timeout;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis() as u64;
        let event = Event {
            request_id: unique("invocation"),
            body: serde_json::to_vec(event).expect("an event serialises"),
            deadline_ms,
        };
        self.events.send(event).ok();
    }
}

async fn serve(
    request: Request<Incoming>,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Event>>>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let is_next = request.method() == hyper::Method::GET && request.uri().path() == NEXT;
    // Responses and errors of the invocation itself: the test reads CloudFormation's answer
    // at the ResponseURL instead.
    let _ = request.into_body().collect().await;
    if !is_next {
        return Ok(Response::builder()
            .status(202)
            .body(Full::new(Bytes::new()))
            .expect("a response"));
    }
    let event = queue.lock().await.recv().await;
    let Some(event) = event else {
        return Err(std::io::Error::other("the test is over"));
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &event.request_id)
        .header("lambda-runtime-deadline-ms", event.deadline_ms.to_string())
        .header(
            "lambda-runtime-invoked-function-arn",
            format!(
                "arn:aws:lambda:{REGION}:{}:function:vendor-access",
                super::ACCOUNT
            ),
        )
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        )
        .body(Full::new(Bytes::from(event.body)))
        .expect("a response"))
}

/// One `vendor-access` process serving the events of its [`RuntimeApi`], against `endpoint`
/// (moto, or a proxy in front of it); killed when dropped, or when the test process ends.
pub struct FunctionProcess {
    pub api: RuntimeApi,
    child: Child,
}

impl FunctionProcess {
    /// With `lock_bucket`, writers of one bucket document take turns through it.
    pub async fn start(endpoint: &str, lock_bucket: Option<&str>, log_name: &str) -> Self {
        let api = RuntimeApi::start().await;
        let log_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lambda-logs");
        std::fs::create_dir_all(&log_dir).expect("a log directory");
        let log = std::fs::File::create(log_dir.join(format!("{log_name}.log"))).expect("a log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_vendor-access"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "vendor-access")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/vendor-access")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_name)
            .env("AWS_LAMBDA_LOG_LEVEL", "info")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("VENDOR_ACCESS_LOCAL_STANDIN", "true")
            .env("VENDOR_ACCESS_ALLOW_NO_BOUNDARY", "true")
            .env("VENDOR_ACCESS_ALLOW_HTTP_RESPONSE_URL", "true")
            .env("VENDOR_ACCESS_ALLOWED_BUCKETS", "*")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log"))
            .stderr(log);
        if let Some(bucket) = lock_bucket {
            command.env("VENDOR_ACCESS_LOCK_BUCKET", bucket);
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().expect("the vendor-access binary starts");
        FunctionProcess { api, child }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
