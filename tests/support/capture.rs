//! Text written by `tracing` (and `log`, bridged), kept for "does this secret appear"
//! assertions.
#![allow(dead_code)]

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

/// A `tracing_subscriber` writer that keeps everything written to it.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Appends raw bytes (for recorders other than `tracing`).
    pub fn push(&self, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }

    /// Installs a subscriber at TRACE writing here as the process's global default, with the
    /// `log` -> `tracing` bridge (so reqwest's and hyper's `log` records are captured too).
    /// For a test binary of its own: there is one global default per process.
    pub fn install_global_trace() -> Capture {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(capture.subscriber(tracing::Level::TRACE))
            .expect("no other global subscriber in this test binary");
        tracing_log::LogTracer::init().expect("no other `log` logger in this test binary");
        capture
    }

    /// A subscriber at `level` writing here.
    pub fn subscriber(
        &self,
        level: tracing::Level,
    ) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }
}
