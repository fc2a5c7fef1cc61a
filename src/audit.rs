//! The audit trail: one structured record per finished request, and a note before each wait.
//!
//! Every request, whatever its outcome, ends with one `tracing` event at `INFO` on the target
//! `authed::audit`, and, when one is set with [`crate::ClientBuilder::on_audit`], a call to the
//! user's callback with the same [`AuditEvent`]. The event names the credential used by its
//! label (`"bearer"`, `"api-key header X-API-Key"`), never by its value, and its URL is
//! redacted.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//!
//! use authed::{AuditEvent, Client, Secret, auth::Bearer};
//!
//! async fn example() -> authed::Result<()> {
//!     let trail: Arc<Mutex<Vec<String>>> = Arc::default();
//!     let sink = trail.clone();
//!     let api = Client::builder("https://api.example.com/")
//!         .auth(Bearer::new(Secret::from_env("EXAMPLE_TOKEN")?))
//!         .on_audit(move |event: &AuditEvent| {
//!             // `url` is redacted; `credential` is a label ("bearer"), never the token.
//!             sink.lock().unwrap().push(format!(
//!                 "{} {} -> {:?} via {} in {} attempt(s): {}",
//!                 event.method,
//!                 event.url,
//!                 event.status,
//!                 event.credential,
//!                 event.attempts,
//!                 event.outcome.as_str(),
//!             ));
//!         })
//!         .build()?;
//!     api.get("me").send().await?;
//!     println!("{:?}", trail.lock().unwrap());
//!     Ok(())
//! }
//! ```
//!
//! # Waits
//!
//! A request may wait before it goes out: before a retry (the server's `Retry-After`, or the
//! backoff), at its origin's pacing gate (the rate limit the server announced, or that a 429
//! set), or before following a redirect that asked for a delay. A hook given to
//! [`crate::ClientBuilder::on_wait`] is called with a [`WaitEvent`] just before each such
//! wait, so that an interactive program can say why it is waiting and for how long (a
//! progress line, a spinner with the time left) instead of looking stuck:
//!
//! ```no_run
//! use authed::{Client, audit::WaitReason};
//!
//! # fn run() -> authed::Result<()> {
//! let api = Client::builder("https://api.example.com/")
//!     .on_wait(|wait| {
//!         if wait.wait.as_secs() >= 1 {
//!             let why = match wait.reason {
//!                 WaitReason::Retry(reason) => format!("retrying after {reason}"),
//!                 WaitReason::Pacing => "pacing for the rate limit".to_owned(),
//!                 _ => "waiting".to_owned(),
//!             };
//!             eprintln!("{why}: {} s ({} {})", wait.wait.as_secs(), wait.method, wait.url);
//!         }
//!     })
//!     .build()?;
//! # let _ = api; Ok(()) }
//! ```
//!
//! Nothing is built for a wait when no hook is set. The same waits are also `tracing`
//! events (`authed::retry` at `INFO`, `authed::ratelimit` at `DEBUG`), for logs.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{Method, StatusCode};

use crate::retry::RetryReason;

/// The `tracing` target of audit events.
pub const TARGET: &str = "authed::audit";

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A success status, returned to the caller.
    Success,
    /// A non-success status, returned as [`crate::Error::Status`].
    Status,
    /// No response: connection, timeout, redirect, configuration or auth failure.
    Failed,
}

impl Outcome {
    /// A short lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Status => "status",
            Self::Failed => "failed",
        }
    }
}

/// What happened to one request. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When the request finished.
    pub at: SystemTime,
    /// The method of the last hop (a 303 turns POST into GET).
    pub method: Method,
    /// The redacted URL of the last hop.
    pub url: String,
    /// The status of the last response, if one arrived.
    pub status: Option<StatusCode>,
    /// How many times the request went out (redirect hops included).
    pub attempts: u32,
    /// From the call to `send` to the end.
    pub elapsed: Duration,
    /// The label of the credentials sent on the last hop, `"none"` when the client has no
    /// auth, or `"withheld"` when the hop went to an origin the credentials may not reach.
    pub credential: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// The user's audit callback.
#[derive(Clone)]
pub(crate) struct AuditHook(pub(crate) Arc<dyn Fn(&AuditEvent) + Send + Sync>);

impl fmt::Debug for AuditHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditHook")
    }
}

/// `true` when someone listens: a hook, or a `tracing` subscriber for [`TARGET`].
pub(crate) fn wanted(hook: Option<&AuditHook>) -> bool {
    hook.is_some() || tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

pub(crate) fn emit(event: &AuditEvent, hook: Option<&AuditHook>) {
    tracing::info!(
        target: TARGET,
        at_unix_ms = event
            .at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        method = %event.method,
        url = %event.url,
        status = event.status.map(|s| s.as_u16()),
        attempts = event.attempts,
        elapsed_ms = u64::try_from(event.elapsed.as_millis()).unwrap_or(u64::MAX),
        credential = %event.credential,
        outcome = event.outcome.as_str(),
        "request finished"
    );
    if let Some(hook) = hook {
        (hook.0)(event);
    }
}

/// Why a request is about to wait ([`WaitEvent::reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// Before the next attempt: the last one got a throttled answer (429, 503), an error
    /// worth retrying, or no answer. The wait is the server's delay (`Retry-After` and its
    /// kin) or the backoff, whichever is longer.
    Retry(RetryReason),
    /// Before sending: the origin's pacing gate holds the request so that it fits the rate
    /// limit the server announced, or the delay a 429 or 503 set for every request to it
    /// (see [`crate::ratelimit`]).
    Pacing,
    /// Before following a redirect whose answer asked for a delay (`Retry-After` on a 3xx).
    Redirect,
}

impl WaitReason {
    /// A short lowercase name: `"retry"`, `"pacing"`, `"redirect"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry(_) => "retry",
            Self::Pacing => "pacing",
            Self::Redirect => "redirect",
        }
    }
}

/// A wait a request is about to make, given to the hook of
/// [`crate::ClientBuilder::on_wait`] before the wait starts. Holds no secret: the URL is
/// redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitEvent {
    /// The request's method.
    pub method: Method,
    /// The redacted URL it will be sent to.
    pub url: String,
    /// How long it will wait (never zero: no event is made for no wait). A pacing wait may
    /// be followed by another if the server refused a request meanwhile.
    pub wait: Duration,
    /// Why.
    pub reason: WaitReason,
    /// How many times the request went out so far (0 before the first attempt).
    pub attempts: u32,
}

/// The user's wait callback.
#[derive(Clone)]
pub(crate) struct WaitHook(pub(crate) Arc<dyn Fn(&WaitEvent) + Send + Sync>);

impl fmt::Debug for WaitHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WaitHook")
    }
}
