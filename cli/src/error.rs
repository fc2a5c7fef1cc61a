//! The CLI's error: a message (never a secret: authed's errors are redacted) and an exit code.

use std::fmt;

/// Exit codes (also in `authed --help`).
pub mod exit {
    /// Success; for `status`, logged in.
    pub const OK: i32 = 0;
    /// A failure (transport, server, store), or for `status`: not logged in.
    pub const FAILURE: i32 = 1;
    /// Wrong usage: arguments, config, missing profile.
    pub const USAGE: i32 = 2;
    /// `request`: the server answered 3xx (not followed).
    pub const HTTP_3XX: i32 = 3;
    /// `request`: the server answered 4xx.
    pub const HTTP_4XX: i32 = 4;
    /// `request`: the server answered 5xx.
    pub const HTTP_5XX: i32 = 5;
    /// Interrupted (Ctrl-C).
    pub const INTERRUPTED: i32 = 130;
}

/// What went wrong, for stderr, and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// One or more lines, no secret.
    pub message: String,
    /// The process's exit code.
    pub code: i32,
}

/// The CLI's result.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// A failure (exit code 1).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: exit::FAILURE,
        }
    }

    /// Wrong usage or configuration (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: exit::USAGE,
        }
    }

    /// Adds context in front of the message.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<authed::Error> for CliError {
    fn from(e: authed::Error) -> Self {
        let code = if e.is_config() {
            exit::USAGE
        } else {
            exit::FAILURE
        };
        Self {
            message: describe(&e),
            code,
        }
    }
}

/// An authed error in words, with the causes it chains (authed's messages are redacted and say
/// what to do).
pub fn describe(e: &authed::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    if let authed::Error::Store(store) = e
        && store.kind == authed::store::StoreErrorKind::Unavailable
    {
        message.push_str(
            "\nhint: without a working keyring, pass --insecure-storage to keep secrets in a \
             plain-text file beside the config (readable by anything running as you)",
        );
    }
    message
}
