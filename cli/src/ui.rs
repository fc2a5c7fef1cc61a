//! Terminal output: colours only on a terminal and without `NO_COLOR`, a small spinner on
//! stderr (only when stderr is a terminal) for the device flow and the client's waits, and
//! prompts for secrets that do not echo.

use std::{
    io::{IsTerminal, Write},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use authed::{WaitEvent, audit::WaitReason, retry::RetryReason};
use tokio::{task::JoinHandle, time::Instant};

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
/// it hides the cursor and redraws one line every 100 ms until it is stopped or dropped, or
/// its deadline passes; then it clears its line and shows the cursor again. Dropping it (the
/// command was interrupted) cleans up the same way, at once.
#[derive(Debug)]
pub struct Spinner {
    task: Option<JoinHandle<()>>,
    /// Its line is drawn (and the cursor hidden): someone must clean up.
    drawn: Arc<AtomicBool>,
}

/// How often the spinner redraws.
const SPINNER_TICK: Duration = Duration::from_millis(100);

/// Clears the spinner's line and shows the cursor.
const CLEAN_UP: &str = "\r\x1b[2K\x1b[?25h";

impl Spinner {
    /// Starts a spinner showing `message` and the time left until `deadline`; elsewhere than
    /// on a terminal, prints `message...` once.
    pub fn start(message: &str, deadline: Instant) -> Self {
        Self::on_terminal(message, deadline).unwrap_or_else(|| {
            eprintln!("{message}...");
            Self {
                task: None,
                drawn: Arc::default(),
            }
        })
    }

    /// A spinner if stderr is a terminal, else nothing at all.
    pub fn on_terminal(message: &str, deadline: Instant) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let message = message.to_owned();
        let drawn = Arc::new(AtomicBool::new(false));
        let flag = drawn.clone();
        let task = tokio::spawn(async move {
            const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
            let mut tick = tokio::time::interval(SPINNER_TICK);
            let mut i = 0;
            loop {
                tick.tick().await;
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let left = seconds_left(deadline - now);
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K\x1b[?25l{} {message} ({}:{:02} left)",
                    FRAMES[i % FRAMES.len()],
                    left / 60,
                    left % 60
                );
                let _ = err.flush();
                flag.store(true, Ordering::Release);
                i += 1;
            }
            if flag.swap(false, Ordering::AcqRel) {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "{CLEAN_UP}");
                let _ = err.flush();
            }
        });
        Some(Self {
            task: Some(task),
            drawn,
        })
    }

    /// Stops the spinner and clears its line.
    pub async fn stop(self) {
        drop(self);
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // The runtime has one thread: the task is not running now, and after `abort` it
            // never draws again.
            task.abort();
        }
        if self.drawn.swap(false, Ordering::AcqRel) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{CLEAN_UP}");
            let _ = err.flush();
        }
    }
}

/// Whole seconds left, rounded up: a wait of 2 s shows `0:02`, not `0:01`, at its start.
fn seconds_left(left: Duration) -> u64 {
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// What the client's waits of more than a second look like on stderr: a spinner on a
/// terminal; on a pipe nothing, or with `-v` one plain line per wait. One for the process
/// ([`Waits::global`]): `request`'s API client and the OAuth clients share it.
#[derive(Clone, Debug)]
pub struct Waits {
    current: Arc<Mutex<Option<Spinner>>>,
    verbose: Arc<AtomicBool>,
}

/// Waits shorter than this are not shown: a spinner that flashes for a moment is noise.
pub const SHOW_WAITS_FROM: Duration = Duration::from_secs(1);

impl Waits {
    /// The process's.
    pub fn global() -> &'static Waits {
        static WAITS: OnceLock<Waits> = OnceLock::new();
        WAITS.get_or_init(|| Waits {
            current: Arc::default(),
            verbose: Arc::default(),
        })
    }

    /// With `-v`, a wait on a pipe gets a plain line.
    pub fn set_verbose(&self, verbose: bool) {
        self.verbose.store(verbose, Ordering::Relaxed);
    }

    /// The hook for `ClientBuilder::on_wait`.
    pub fn hook(&self) -> impl Fn(&WaitEvent) + Send + Sync + 'static {
        let waits = self.clone();
        move |event| waits.show(event)
    }

    fn show(&self, event: &WaitEvent) {
        if event.wait < SHOW_WAITS_FROM {
            return;
        }
        let message = wait_message(event.reason);
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        // The previous wait's spinner goes first (its line is cleared).
        drop(current.take());
        match Spinner::on_terminal(&message, Instant::now() + event.wait) {
            Some(spinner) => *current = Some(spinner),
            None if self.verbose.load(Ordering::Relaxed) => {
                eprintln!("  {message} in {}", human(event.wait));
            }
            None => {}
        }
    }

    /// Stops the spinner of the current wait, if any (before printing the answer).
    pub fn clear(&self) {
        let spinner = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(spinner);
    }
}

/// Why the client waits, in words (no URL: it could be long, and the status line follows).
pub fn wait_message(reason: WaitReason) -> String {
    match reason {
        WaitReason::Retry(RetryReason::Status(status)) => {
            let what = match status.as_u16() {
                429 => "Rate limited",
                503 => "Server unavailable",
                _ => "Server error",
            };
            format!(
                "{what} ({} {}): retrying",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
        }
        WaitReason::Retry(reason) => {
            let mut text = reason.to_string();
            if let Some(first) = text.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            format!("{text}: retrying")
        }
        WaitReason::Pacing => "Waiting for the server's rate limit".to_owned(),
        _ => "Waiting before following the redirect".to_owned(),
    }
}

/// Holds off Ctrl-C while alive: `main` lets a command finish what it is doing in a shielded
/// section (writing a session to the store) instead of dropping it half done.
#[derive(Debug)]
pub struct Shield(());

static SHIELDS: AtomicUsize = AtomicUsize::new(0);

impl Shield {
    /// Raises the shield until the value is dropped.
    pub fn up() -> Self {
        SHIELDS.fetch_add(1, Ordering::AcqRel);
        Self(())
    }

    /// Whether a shield is up.
    pub fn is_up() -> bool {
        SHIELDS.load(Ordering::Acquire) > 0
    }
}

impl Drop for Shield {
    fn drop(&mut self) {
        SHIELDS.fetch_sub(1, Ordering::AcqRel);
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

/// Reads one line from stdin, a terminal, without echoing it: `prompt` on stderr, then the
/// line, up to Enter (which still moves to the next line). The terminal's settings come back
/// when the line is read, and also when the command is interrupted (this future dropped:
/// Ctrl-C), so that the shell gets its echo back either way. `Ok(None)` at end of input.
#[cfg(unix)]
pub async fn read_hidden_line(prompt: &str) -> std::io::Result<Option<String>> {
    let _echo_off = EchoOff::new()?;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    read_line_off_runtime().await
}

/// Elsewhere: the line is read as typed (visible), and the prompt says so.
#[cfg(not(unix))]
pub async fn read_hidden_line(prompt: &str) -> std::io::Result<Option<String>> {
    eprint!("{prompt}(visible as you type) ");
    let _ = std::io::stderr().flush();
    read_line_off_runtime().await
}

/// One line of stdin, read on a blocking thread so that the runtime still sees Ctrl-C.
async fn read_line_off_runtime() -> std::io::Result<Option<String>> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line)? {
            0 => Ok(None),
            _ => Ok(Some(line)),
        }
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The terminal on stdin with echo off (but the newline of Enter echoed), restored on drop.
#[cfg(unix)]
struct EchoOff {
    saved: rustix::termios::Termios,
}

#[cfg(unix)]
impl EchoOff {
    fn new() -> std::io::Result<Self> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
        Ok(Self { saved })
    }
}

#[cfg(unix)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        use rustix::termios::{OptionalActions, tcsetattr};
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use authed::http::StatusCode;

    use super::*;

    #[test]
    fn the_time_left_is_rounded_up_to_whole_seconds() {
        assert_eq!(seconds_left(Duration::from_secs(2)), 2);
        assert_eq!(seconds_left(Duration::from_millis(1999)), 2);
        assert_eq!(seconds_left(Duration::from_millis(1)), 1);
        assert_eq!(seconds_left(Duration::ZERO), 0);
    }

    #[test]
    fn waits_are_told_in_words() {
        let message = wait_message;
        assert_eq!(
            message(WaitReason::Retry(RetryReason::Status(
                StatusCode::TOO_MANY_REQUESTS
            ))),
            "Rate limited (429 Too Many Requests): retrying"
        );
        assert_eq!(
            message(WaitReason::Retry(RetryReason::Status(
                StatusCode::SERVICE_UNAVAILABLE
            ))),
            "Server unavailable (503 Service Unavailable): retrying"
        );
        assert_eq!(
            message(WaitReason::Retry(RetryReason::Connect)),
            "Connection failed: retrying"
        );
        assert_eq!(
            message(WaitReason::Pacing),
            "Waiting for the server's rate limit"
        );
    }
}
