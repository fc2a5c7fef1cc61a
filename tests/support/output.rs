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

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
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

/// Spawns `command` (killed on drop, its output drained into a [`Log`]) and waits at most
/// `timeout` for the line `{prefix}http://127.0.0.1:PORT` on its stdout: returns the child,
/// the address and the log. `program` and `name` are for messages.
pub async fn spawn_announcing(
    mut command: Command,
    program: &std::ffi::OsStr,
    name: &str,
    prefix: &str,
    timeout: Duration,
) -> Result<(Child, String, Log), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{}` not found", program.to_string_lossy())
            } else {
                format!("could not run `{}`: {e}", program.to_string_lossy())
            }
        })?;
    let log = Log::default();
    let stderr_task = log.drain(child.stderr.take().expect("stderr is piped"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let wait_line = async {
        let mut line = String::new();
        loop {
            line.clear();
            match stdout.read_line(&mut line).await {
                Ok(0) => return Err(format!("exited before printing its {} line", prefix.trim())),
                Ok(_) => {
                    if let Some(url) = line.trim_end().strip_prefix(prefix) {
                        return Ok(url.to_string());
                    }
                    log.push(&line);
                }
                Err(e) => return Err(format!("reading its stdout: {e}")),
            }
        }
    };
    let url = match tokio::time::timeout(timeout, wait_line).await {
        Ok(Ok(url)) => url,
        Ok(Err(why)) => {
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
            let status = match status {
                Ok(Ok(status)) => status.to_string(),
                _ => "unknown status".to_string(),
            };
            return Err(format!(
                "{name} {why} ({status}); its output:\n{}",
                log.snapshot()
            ));
        }
        Err(_) => {
            let _ = child.start_kill();
            return Err(format!(
                "{name} did not print its {} line within {timeout:?}; its output:\n{}",
                prefix.trim(),
                log.snapshot()
            ));
        }
    };
    if !url.starts_with("http://127.0.0.1:") {
        return Err(format!("{name} printed an unexpected address {url:?}"));
    }
    // Keep draining stdout so that the child never blocks on a full pipe.
    log.drain(stdout);
    Ok((child, url, log))
}
