//! Captures what the function logs during a test, to check that no secret gets there.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// The capture running on this thread, if a test started one.
    static ACTIVE: RefCell<Option<CapturedLogs>> = const { RefCell::new(None) };
}

/// Ends a capture: the previous subscriber is restored when dropped.
pub struct Capture {
    _guard: DefaultGuard,
}

impl Drop for Capture {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.borrow_mut().take());
    }
}

impl CapturedLogs {
    /// Captures every log line at DEBUG and above on this thread (a `#[tokio::test]` runs
    /// all its tasks on it) until the guard is dropped, filtered as the function filters.
    pub fn start() -> (Self, Capture) {
        Self::start_at(tracing::Level::DEBUG)
    }

    /// The same at `level`, as the function logs when its deployer asks for that level.
    pub fn start_at(level: tracing::Level) -> (Self, Capture) {
        let logs = CapturedLogs::default();
        let buffer = logs.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(buffer.clone()))
            .finish()
            .with(vendor_access::logging::filter(level));
        let guard = tracing::subscriber::set_default(subscriber);
        ACTIVE.with(|active| *active.borrow_mut() = Some(logs.clone()));
        (logs, Capture { _guard: guard })
    }

    /// The capture running on this thread, or a new one with its guard.
    pub fn current_or_start() -> (Self, Option<Capture>) {
        match ACTIVE.with(|active| active.borrow().clone()) {
            Some(logs) => (logs, None),
            None => {
                let (logs, capture) = Self::start();
                (logs, Some(capture))
            }
        }
    }

    /// Fails the test if the logs hold anything shaped like a secret: an AWS secret
    /// access key (40 characters of base64 mixing cases and digits), a session token, or
    /// a pre-signed URL's signature.
    pub fn assert_no_secret_shapes(&self) {
        let text = self.text();
        for marker in [
            "X-Amz-Signature",
            "X-Amz-Security-Token",
            "x-amz-security-token",
            super::SIGNATURE,
        ] {
            assert!(!text.contains(marker), "the logs hold {marker}");
        }
        let secret_like = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '+'))
            .find(|token| {
                token.len() == 40
                    && token.chars().any(|c| c.is_ascii_uppercase())
                    && token.chars().any(|c| c.is_ascii_lowercase())
                    && token.chars().any(|c| c.is_ascii_digit())
            });
        assert!(
            secret_like.is_none(),
            "the logs hold something shaped like a secret access key: {}…",
            &secret_like.unwrap_or_default()[..4.min(secret_like.unwrap_or_default().len())]
        );
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// Fails the test if any of `secrets` appears in the logs.
    pub fn assert_free_of(&self, secrets: &[&str]) {
        let text = self.text();
        assert!(
            !text.is_empty(),
            "nothing was logged: the capture is not working"
        );
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(
                !text.contains(secret),
                "a secret reached the logs: {}…",
                &secret[..secret.len().min(4)]
            );
        }
    }
}
