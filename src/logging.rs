//! The function's logs: structured (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`), at the level
//! Lambda's `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`) asks for, INFO by default.
//!
//! Only this crate's own events follow a DEBUG or TRACE level: the libraries beneath it log,
//! at those levels, what must never reach a log (the raw event with its pre-signed
//! ResponseURL, the bodies of AWS requests and responses, among them `SecretString` and new
//! access keys), so they are held at INFO whatever level is asked for.

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The level asked for in the environment; INFO when none or an unknown one.
pub fn level_from_env() -> Level {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find_map(|value| value.trim().parse::<Level>().ok())
        .unwrap_or(Level::INFO)
}

/// This crate at `level`; every other target at `level` or INFO, whichever says less.
/// A fixed set of targets, not `EnvFilter`'s directive language: that parser brings a regex
/// engine (regex-automata, about 0.4 MiB of the binary) for patterns never written here.
pub fn filter(level: Level) -> Targets {
    let others = LevelFilter::from_level(level).min(LevelFilter::INFO);
    Targets::new()
        .with_default(others)
        .with_target("vendor_access", level)
}

/// Installs the function's subscriber.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("JSON"));
    // The builder's own ceiling (INFO by default) lifted: the filter decides.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_target(false)
        .without_time();
    let filter = filter(level_from_env());
    if json {
        builder.json().finish().with(filter).init();
    } else {
        builder.with_ansi(false).finish().with(filter).init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What is logged under `filter(level)` when each target logs at each level.
    fn logged(level: Level) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(LevelFilter::TRACE)
            .with_writer(move || Writer(sink.clone()))
            .finish()
            .with(filter(level));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "vendor_access::aws::principal", "ours-trace");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "sdk-debug");
            tracing::trace!(target: "lambda_runtime::layers::api_response", "runtime-trace");
            tracing::info!(target: "hyper", "hyper-info");
        });
        String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn libraries_never_log_below_info_whatever_level_is_asked_for() {
        let trace = logged(Level::TRACE);
        assert!(trace.contains("ours-trace"), "{trace}");
        assert!(trace.contains("hyper-info"), "{trace}");
        assert!(!trace.contains("sdk-debug"), "{trace}");
        assert!(!trace.contains("runtime-trace"), "{trace}");
        let warn = logged(Level::WARN);
        assert!(
            !warn.contains("hyper-info") && !warn.contains("ours-trace"),
            "{warn}"
        );
    }
}
