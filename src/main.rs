use std::sync::Arc;

use lambda_runtime::{Runtime, layers::TracingLayer, service_fn};
use vendor_access::aws::Clients;
use vendor_access::aws::cloudformation::StackConfirmation;
use vendor_access::cfn::lambda::{RawEvent, serve};
use vendor_access::cfn::{Dispatcher, HttpSender, Retry, UrlPolicy};
use vendor_access::http::Https;
use vendor_access::resources::registry;
use vendor_access::settings::Settings;

// One thread: Lambda hands the process one event at a time, and the few tasks an event
// spawns (its deadline, the AWS calls) wait on the network, not the CPU. No worker threads
// to start before the first `next`, no stacks of theirs to keep resident.
//
// The larger futures awaited here are boxed: the runtime holds `main`'s own future on the
// process stack and moves it there whole, so every byte of the largest one inlined (the
// command line's, the SDK's configuration loader) would be stack written at every start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // With a subcommand the binary is the command line (`plan`, `validate`, `drift`);
    // Lambda starts it without one.
    if std::env::args_os().len() > 1 {
        std::process::exit(Box::pin(vendor_access::cli::main(std::env::args_os())).await);
    }
    vendor_access::logging::init();
    // One HTTP client for the AWS calls and the response PUT.
    let https = Https::new();
    let clients = Box::pin(Clients::in_lambda(&https)).await;
    let settings = Settings::from_env();
    let sender = HttpSender::over(https, Retry::default());
    let mut dispatcher = Dispatcher::new(
        registry(&clients, &settings),
        Arc::new(sender),
        UrlPolicy::from_env(),
    );
    if settings.confirm_requests {
        let confirmation = StackConfirmation {
            client: clients.cloudformation.clone(),
        };
        dispatcher = dispatcher.confirming_with(Arc::new(confirmation));
    }
    let handler = service_fn(|event| serve(&dispatcher, event));
    let runtime = Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(RawEvent);
    Box::pin(runtime.run()).await
}
