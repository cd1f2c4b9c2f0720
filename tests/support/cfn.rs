//! CloudFormation's side of a conversation with the real dispatcher: send an event, get
//! back the one response the function PUT to its ResponseURL.

use serde_json::Value;
use vendor_access::cfn::{Dispatcher, Registry};
use vendor_access::resources::registry;

use super::logs::CapturedLogs;
use super::{Stack, catcher, clients, deadline_in, dispatcher, response_url, responses};

pub struct Cfn {
    pub stack: Stack,
    dispatcher: Dispatcher,
    /// The Lambda deadline each request gets, in seconds from its start.
    deadline_secs: u64,
}

impl Cfn {
    /// Every real resource type, talking to moto.
    pub async fn new() -> Self {
        let clients = clients().await;
        Self::with_registry(registry(&clients, &super::settings()))
    }

    pub fn with_registry(registry: Registry) -> Self {
        Cfn {
            stack: Stack::new(),
            dispatcher: dispatcher(registry),
            deadline_secs: 60,
        }
    }

    /// CloudFormation talking to `dispatcher` (one built with its own settings).
    pub fn with_dispatcher(dispatcher: Dispatcher) -> Self {
        Cfn {
            stack: Stack::new(),
            dispatcher,
            deadline_secs: 60,
        }
    }

    /// The same function, serving `stack`.
    pub fn in_stack(&self, stack: Stack) -> Self {
        Cfn {
            stack,
            dispatcher: self.dispatcher.clone(),
            deadline_secs: self.deadline_secs,
        }
    }

    /// The same resource in another stack.
    pub fn in_new_stack(&self) -> Self {
        Cfn {
            stack: Stack::new(),
            dispatcher: self.dispatcher.clone(),
            deadline_secs: self.deadline_secs,
        }
    }

    /// Requests from now on get a Lambda deadline `secs` seconds after they start.
    pub fn with_deadline(mut self, secs: u64) -> Self {
        self.deadline_secs = secs;
        self
    }

    /// Delivers `event` (its ResponseURL replaced by a fresh catcher's) and returns the
    /// response body; fails the test unless exactly one response arrived.
    ///
    /// Every request's logs are scanned: no secret key, session token or ResponseURL
    /// signature may appear in them.
    pub async fn send(&self, mut event: Value) -> Value {
        let catcher = catcher().await;
        event["ResponseURL"] = Value::String(response_url(&catcher));
        let (logs, _capture) = CapturedLogs::current_or_start();
        self.dispatcher
            .handle(&super::event_bytes(&event), deadline_in(self.deadline_secs))
            .await
            .expect("a response was delivered");
        logs.assert_no_secret_shapes();
        let mut bodies = responses(&catcher).await;
        assert_eq!(bodies.len(), 1, "exactly one response per request");
        bodies.remove(0)
    }

    pub async fn create(&self, resource_type: &str, logical_id: &str, props: Value) -> Value {
        self.send(self.stack.create("", resource_type, logical_id, props))
            .await
    }

    pub async fn update(
        &self,
        resource_type: &str,
        logical_id: &str,
        physical_id: &str,
        props: Value,
        old: Value,
    ) -> Value {
        self.send(
            self.stack
                .update("", resource_type, logical_id, physical_id, props, old),
        )
        .await
    }

    pub async fn delete(
        &self,
        resource_type: &str,
        logical_id: &str,
        physical_id: &str,
        props: Value,
    ) -> Value {
        self.send(
            self.stack
                .delete("", resource_type, logical_id, physical_id, props),
        )
        .await
    }
}

/// The response's `Reason`, or a test failure that shows the whole response.
pub fn reason(response: &Value) -> &str {
    response["Reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no Reason in {response}"))
}

/// Fails the test with the reason unless the response is SUCCESS.
pub fn assert_success(response: &Value) {
    assert_eq!(
        response["Status"], "SUCCESS",
        "expected SUCCESS, got {response:#}"
    );
}
