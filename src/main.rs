use std::sync::Arc;

use lambda_runtime::{Runtime, layers::TracingLayer, service_fn};
use vendor_access::cfn::{Dispatcher, HttpSender, Registry, Retry, UrlPolicy};
use vendor_access::lambda::{NonJsonAsString, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sender = HttpSender::new(UrlPolicy::from_env(), Retry::default());
    let dispatcher = Dispatcher::new(Registry::new(), Arc::new(sender));
    let handler = service_fn(|event| serve(&dispatcher, event));
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(NonJsonAsString)
        .run()
        .await
}
