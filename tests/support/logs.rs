//! Captures what the function logs during a test, to check that no secret gets there.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

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

impl CapturedLogs {
    /// Captures every log line at DEBUG and above on this thread (a `#[tokio::test]` runs
    /// all its tasks on it) until the guard is dropped.
    pub fn start() -> (Self, DefaultGuard) {
        let logs = CapturedLogs::default();
        let buffer = logs.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(buffer.clone()))
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
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
