//! The bare Lambda runtime the bench compares the function's cold start with (issue 15):
//! `lambda_runtime` from the same Cargo.lock, built with the same profile, serving a handler
//! that echoes the event. No logging, no AWS clients, no TLS: what any Rust function pays
//! before its own start-up. `make bench` builds it (`-p bare-runtime`) in the same cargo
//! invocation as the function, so both use the same compiled crates.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(echo)).await
}
