//! What a test server's child process writes, kept (bounded) for failure messages.
//!
//! ```ignore
//! #[path = "output.rs"]
//! mod output;
//!
//! let log = output::Log::default();
//! log.drain(child.stderr.take().unwrap());
//! // ...
//! panic!("the server failed; its output:\n{}", log.snapshot());
//! ```
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    task::JoinHandle,
};

/// Most bytes of output kept; lines past it are dropped.
pub const LOG_LIMIT: usize = 64 * 1024;

/// Lines of output, at most [`LOG_LIMIT`] bytes. Clones share the same log.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<String>>);

impl Log {
    /// Reads `reader` line by line into the log until it ends, on a task of the current
    /// runtime, so that the child never blocks on a full pipe.
    pub fn drain<R>(&self, reader: R) -> JoinHandle<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let log = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(reader);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => log.push(&line),
                }
            }
        })
    }

    /// Appends `line` (a newline is added if it has none), unless the log is full.
    pub fn push(&self, line: &str) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() + line.len() <= LOG_LIMIT {
            log.push_str(line);
            if !line.ends_with('\n') {
                log.push('\n');
            }
        }
    }

    /// Everything kept so far.
    pub fn snapshot(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
