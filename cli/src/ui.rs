//! Terminal output: colours only on a terminal and without `NO_COLOR`, and a small spinner on
//! stderr (only when stderr is a terminal).

use std::{
    io::{IsTerminal, Write},
    time::Duration,
};

use tokio::{sync::oneshot, task::JoinHandle, time::Instant};

/// Whether to colour what goes to stderr: a terminal, and no `NO_COLOR` (any non-empty value,
/// <https://no-color.org>).
pub fn stderr_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// ANSI styles for stderr, or plain text.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Styles for stderr.
    pub fn stderr() -> Self {
        Self {
            color: stderr_color(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Success.
    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Failure.
    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Warning.
    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Emphasis.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Less important.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// A spinner on stderr with the time left, while something waits: only on a terminal, where
/// it redraws one line every 100 ms; elsewhere it prints its message once.
#[derive(Debug)]
pub struct Spinner {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// How often the spinner redraws.
const SPINNER_TICK: Duration = Duration::from_millis(100);

impl Spinner {
    /// Starts a spinner showing `message` and the time left until `deadline`.
    pub fn start(message: &str, deadline: Instant) -> Self {
        if !std::io::stderr().is_terminal() {
            eprintln!("{message}...");
            return Self {
                stop: None,
                task: None,
            };
        }
        let (tx, mut rx) = oneshot::channel();
        let message = message.to_owned();
        let task = tokio::spawn(async move {
            const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
            let mut tick = tokio::time::interval(SPINNER_TICK);
            let mut i = 0;
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tick.tick() => {}
                }
                let left = deadline.saturating_duration_since(Instant::now()).as_secs();
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K{} {message} ({}:{:02} left)",
                    FRAMES[i % FRAMES.len()],
                    left / 60,
                    left % 60
                );
                let _ = err.flush();
                i += 1;
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        });
        Self {
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the spinner and clears its line.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A duration for people: `42 s`, `5 min`, `3 h 20 min`, `2 days`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} days", s / 86_400),
    }
}
