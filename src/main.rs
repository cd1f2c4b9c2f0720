use std::sync::Arc;

use lambda_runtime::{Runtime, layers::TracingLayer, service_fn};
use vendor_access::aws::Clients;
use vendor_access::cfn::lambda::{RawEvent, serve};
use vendor_access::cfn::{Dispatcher, HttpSender, Retry, UrlPolicy};
use vendor_access::resources::registry;
use vendor_access::settings::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let clients = Clients::from_env().await;
    let sender = HttpSender::new(Retry::default());
    let dispatcher = Dispatcher::new(
        registry(&clients, &Settings::from_env()),
        Arc::new(sender),
        UrlPolicy::from_env(),
    );
    let handler = service_fn(|event| serve(&dispatcher, event));
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(RawEvent)
        .run()
        .await
}
