//! The CloudFormation protocol, end to end against a local ResponseURL catcher.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use support::{Stack, catcher, deadline_in, dispatcher, response_url, responses};
use tokio::time::Instant;
use vendor_access::cfn::properties::{Fields, FromProperties, InvalidProperties, Problems};
use vendor_access::cfn::{
    Dispatcher, Failure, HttpSender, Invocation, Outcome, Registry, Resource, Retry, UrlPolicy,
    failed_create_id,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROBE: &str = "Custom::Probe";

/// What the probe resource does when asked to create.
#[derive(Clone, Copy)]
enum Behaviour {
    Succeed,
    Panic,
    Sleep(Duration),
    FailWith(usize),
}

/// A resource type that counts its calls, standing in for one that would call AWS.
#[derive(Clone)]
struct Probe {
    calls: Arc<AtomicUsize>,
    behaviour: Behaviour,
}

impl Probe {
    fn new(behaviour: Behaviour) -> Self {
        Probe {
            calls: Arc::new(AtomicUsize::new(0)),
            behaviour,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

struct ProbeProperties {
    name: String,
    count: Option<i64>,
    enabled: bool,
}

impl FromProperties for ProbeProperties {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties> {
        let problems = Problems::new();
        let mut fields = Fields::root(properties, &problems);
        let name = fields.string("Name");
        let name = fields.required("Name", name).unwrap_or_default();
        let count = fields.integer("Count");
        if count.is_some_and(|c| !(1..=10).contains(&c)) {
            fields.problem("Count", "must be between 1 and 10");
        }
        let enabled = fields.bool("Enabled").unwrap_or(false);
        fields.object_list("Items", |item| item.string("Key"));
        fields.finish();
        problems.into_result(ProbeProperties {
            name,
            count,
            enabled,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ProbeError(String);

impl Resource for Probe {
    const TYPE: &'static str = PROBE;
    type Properties = ProbeProperties;

    fn recognizes(&self, physical_id: &str) -> bool {
        physical_id.starts_with("probe/")
    }

    async fn create(&self, _: &Invocation, props: ProbeProperties) -> Result<Outcome, Failure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.behaviour {
            Behaviour::Succeed => Ok(Outcome::new(format!("probe/{}", props.name))
                .with("Count", props.count.unwrap_or(0).to_string())
                .with("Enabled", props.enabled.to_string())),
            Behaviour::Panic => panic!("probe exploded"),
            Behaviour::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(Outcome::new("probe/slept"))
            }
            Behaviour::FailWith(n) => Err(Failure::resource(ProbeError("x".repeat(n)))),
        }
    }

    async fn update(
        &self,
        i: &Invocation,
        _: &str,
        props: ProbeProperties,
        _: Option<ProbeProperties>,
    ) -> Result<Outcome, Failure> {
        self.create(i, props).await
    }

    async fn delete(
        &self,
        _: &Invocation,
        _: &str,
        _: Option<ProbeProperties>,
    ) -> Result<(), Failure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn with_probe(probe: &Probe) -> Dispatcher {
    dispatcher(Registry::new().with(probe.clone()))
}

async fn create_probe(behaviour: Behaviour, props: Value) -> (Probe, MockServer, Value) {
    let probe = Probe::new(behaviour);
    let catcher = catcher().await;
    let event = Stack::new().create(&response_url(&catcher), PROBE, "Probe", props);
    with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await
        .expect("delivered");
    let mut bodies = responses(&catcher).await;
    assert_eq!(bodies.len(), 1, "exactly one response");
    (probe, catcher, bodies.remove(0))
}

#[tokio::test]
async fn the_put_has_an_empty_content_type_an_exact_length_and_the_full_body() {
    let (_, catcher, body) = create_probe(
        Behaviour::Succeed,
        json!({"Name": "a", "Count": "3", "Enabled": "true", "ServiceToken": "arn"}),
    )
    .await;
    let requests = catcher.received_requests().await.unwrap();
    let put = &requests[0];
    assert_eq!(put.method.as_str(), "PUT");
    assert!(put.url.path().starts_with("/cfn-response/"));
    assert_eq!(put.headers.get("content-type").unwrap().as_bytes(), b"");
    let length: usize = put.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, put.body.len());
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], "probe/a");
    assert_eq!(body["LogicalResourceId"], "Probe");
    assert!(
        body["StackId"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:cloudformation:")
    );
    assert!(body["RequestId"].as_str().unwrap().starts_with("request-"));
    assert_eq!(body["Data"], json!({"Count": "3", "Enabled": "true"}));
}

#[tokio::test]
async fn a_500_is_retried_until_the_response_is_accepted() {
    let catcher = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&catcher)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&catcher)
        .await;
    let probe = Probe::new(Behaviour::Succeed);
    let event = Stack::new().create(&response_url(&catcher), PROBE, "P", json!({"Name": "b"}));
    let sent = with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await;
    assert!(sent.is_ok(), "{sent:?}");
    let bodies = responses(&catcher).await;
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "the same answer every time"
    );
}

#[tokio::test]
async fn a_403_is_not_retried() {
    let catcher = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&catcher)
        .await;
    let probe = Probe::new(Behaviour::Succeed);
    let event = Stack::new().create(&response_url(&catcher), PROBE, "P", json!({"Name": "c"}));
    let sent = with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await;
    assert!(sent.unwrap_err().to_string().contains("403"));
    assert_eq!(catcher.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_5000_byte_reason_is_shortened_to_fit_4096_bytes() {
    let (_, catcher, body) = create_probe(Behaviour::FailWith(5000), json!({"Name": "d"})).await;
    let raw = &catcher.received_requests().await.unwrap()[0].body;
    assert!(raw.len() <= 4096, "{} bytes", raw.len());
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().ends_with("[truncated]"));
    for field in [
        "PhysicalResourceId",
        "StackId",
        "RequestId",
        "LogicalResourceId",
    ] {
        assert!(!body[field].as_str().unwrap().is_empty(), "{field} kept");
    }
}

#[tokio::test]
async fn a_panicking_handler_still_answers_failed() {
    let (probe, _, body) = create_probe(Behaviour::Panic, json!({"Name": "e"})).await;
    assert_eq!(probe.calls(), 1);
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().contains("probe exploded"));
    assert!(
        body["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("vendor-access:failed-create:")
    );
}

#[tokio::test]
async fn a_handler_that_outlives_the_deadline_is_answered_failed_in_time() {
    let probe = Probe::new(Behaviour::Sleep(Duration::from_secs(60)));
    let catcher = catcher().await;
    let event = Stack::new().create(&response_url(&catcher), PROBE, "P", json!({"Name": "f"}));
    let deadline = deadline_in(5);
    with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline)
        .await
        .expect("delivered");
    let answered = Instant::now();
    assert!(
        deadline.duration_since(answered) >= Duration::from_secs(2),
        "answered {:?} before the deadline",
        deadline.duration_since(answered)
    );
    let body = &responses(&catcher).await[0];
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().contains("timed out"));
}

#[tokio::test]
async fn deleting_a_failed_create_succeeds_without_touching_anything() {
    let probe = Probe::new(Behaviour::Succeed);
    let catcher = catcher().await;
    let marker = failed_create_id("req-1");
    let event = Stack::new().delete(&response_url(&catcher), PROBE, "P", &marker, json!({}));
    with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await
        .unwrap();
    let body = &responses(&catcher).await[0];
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], marker.as_str());
    assert_eq!(probe.calls(), 0, "no work for a marker id");
}

#[tokio::test]
async fn deleting_an_id_cloudformation_invented_touches_nothing() {
    let probe = Probe::new(Behaviour::Succeed);
    let catcher = catcher().await;
    let invented = "mystack-Probe-1A2B3C4D5E6F";
    let event = Stack::new().delete(
        &response_url(&catcher),
        PROBE,
        "P",
        invented,
        json!({"Name": "x"}),
    );
    with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await
        .unwrap();
    let body = &responses(&catcher).await[0];
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], invented);
    assert_eq!(probe.calls(), 0);
}

#[tokio::test]
async fn a_delete_keeps_its_physical_id() {
    let probe = Probe::new(Behaviour::Succeed);
    let catcher = catcher().await;
    let event = Stack::new().delete(
        &response_url(&catcher),
        PROBE,
        "P",
        "probe/g",
        json!({"Name": "other"}),
    );
    with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await
        .unwrap();
    let body = &responses(&catcher).await[0];
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], "probe/g");
    assert_eq!(probe.calls(), 1);
}

#[tokio::test]
async fn malformed_json_with_a_response_url_is_answered_failed() {
    let probe = Probe::new(Behaviour::Succeed);
    let catcher = catcher().await;
    let url = response_url(&catcher);
    let broken = format!(
        r#"{{"RequestType": "Create", "ResponseURL": "{url}", "StackId": "arn:stack", "RequestId": "r-9", "LogicalResourceId": "L", "ResourceProperties": {{"#
    );
    with_probe(&probe)
        .handle(broken.as_bytes(), deadline_in(30))
        .await
        .expect("answered");
    let body = &responses(&catcher).await[0];
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["RequestId"], "r-9");
    assert!(body["Reason"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(probe.calls(), 0);
}

#[tokio::test]
async fn json_that_is_not_a_request_is_answered_failed() {
    let probe = Probe::new(Behaviour::Succeed);
    let catcher = catcher().await;
    let event =
        json!({"ResponseURL": response_url(&catcher), "RequestType": "Explode", "StackId": "s"});
    with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await
        .expect("answered");
    let body = &responses(&catcher).await[0];
    assert_eq!(body["Status"], "FAILED");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .starts_with("malformed CloudFormation event")
    );
}

#[tokio::test]
async fn an_unknown_resource_type_names_the_supported_ones() {
    let probe = Probe::new(Behaviour::Succeed);
    let catcher = catcher().await;
    let event = Stack::new().create(&response_url(&catcher), "Custom::Nope", "P", json!({}));
    with_probe(&probe)
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await
        .unwrap();
    let body = &responses(&catcher).await[0];
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.contains("Custom::Nope") && reason.contains(PROBE),
        "{reason}"
    );
}

#[tokio::test]
async fn every_invalid_property_is_named_and_nothing_runs() {
    let (probe, _, body) = create_probe(
        Behaviour::Succeed,
        json!({"Count": "50", "Enabld": "true", "Items": [{"Key": "k"}, {"Kee": "v"}]}),
    )
    .await;
    assert_eq!(probe.calls(), 0, "validation precedes any work");
    let reason = body["Reason"].as_str().unwrap();
    for expected in [
        "Name: is required",
        "Count: must be between 1 and 10",
        "Enabld: unknown property; did you mean Enabled?",
        "Items[1].Kee: unknown property; did you mean Key?",
    ] {
        assert!(
            reason.contains(expected),
            "{expected:?} missing from {reason:?}"
        );
    }
}

#[tokio::test]
async fn a_response_url_that_is_not_https_s3_is_refused() {
    let probe = Probe::new(Behaviour::Succeed);
    let catcher = catcher().await;
    let strict = Dispatcher::new(
        Registry::new().with(probe.clone()),
        Arc::new(HttpSender::new(Retry::default())),
        UrlPolicy::default(),
    );
    let event = Stack::new().create(&response_url(&catcher), PROBE, "P", json!({"Name": "h"}));
    let refused = strict
        .handle(&support::event_bytes(&event), deadline_in(30))
        .await;
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("refusing ResponseURL")
    );
    assert!(catcher.received_requests().await.unwrap().is_empty());
    assert_eq!(
        probe.calls(),
        0,
        "no work for a request that cannot be answered"
    );
}

mod response_url_faults {
    use super::*;
    use support::faults::{Fault, FaultProxy};

    /// A catcher behind the fault proxy: the PUT is what the proxy calls "S3".
    async fn faulty_catcher(fault: Fault) -> (MockServer, FaultProxy) {
        let catcher = catcher().await;
        let proxy = FaultProxy::start(&catcher.uri()).await;
        proxy.inject("S3", fault, 1);
        (catcher, proxy)
    }

    async fn answer_through(proxy: &FaultProxy) -> Result<(), String> {
        let probe = Probe::new(Behaviour::Succeed);
        let url = format!(
            "{}/cfn-response/r?X-Amz-Signature={}",
            proxy.endpoint,
            support::SIGNATURE
        );
        let event = Stack::new().create(&url, PROBE, "P", json!({"Name": "r"}));
        with_probe(&probe)
            .handle(&support::event_bytes(&event), deadline_in(30))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_reset_connection_is_retried() {
        let (catcher, proxy) = faulty_catcher(Fault::Reset).await;
        answer_through(&proxy)
            .await
            .expect("delivered after a reset");
        assert_eq!(proxy.injected(), 1);
        assert_eq!(responses(&catcher).await.len(), 1);
    }

    #[tokio::test]
    async fn a_hanging_response_url_is_retried() {
        // The first PUT hangs past the sender's 2 s attempt timeout.
        let (catcher, proxy) = faulty_catcher(Fault::Delay(Duration::from_secs(4))).await;
        answer_through(&proxy)
            .await
            .expect("delivered by the second attempt");
        assert_eq!(proxy.injected(), 1, "the first attempt hung");
        let bodies = responses(&catcher).await;
        assert_eq!(
            bodies.first().map(|b| &b["Status"]),
            Some(&json!("SUCCESS"))
        );
    }

    #[tokio::test]
    async fn a_response_url_that_never_answers_gives_up_before_the_deadline() {
        let catcher = catcher().await;
        let proxy = FaultProxy::start(&catcher.uri()).await;
        proxy.break_("S3", Fault::Delay(Duration::from_secs(120)));
        let probe = Probe::new(Behaviour::Succeed);
        let url = format!("{}/cfn-response/r", proxy.endpoint);
        let event = Stack::new().create(&url, PROBE, "P", json!({"Name": "s"}));
        let deadline = deadline_in(8);
        let result = with_probe(&probe)
            .handle(&support::event_bytes(&event), deadline)
            .await;
        assert!(result.is_err(), "nothing could be delivered");
        assert!(
            Instant::now() < deadline,
            "gave up before the Lambda deadline"
        );
    }
}
