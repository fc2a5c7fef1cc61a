//! The audit trail: one structured record per finished request.
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

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{Method, StatusCode};

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
