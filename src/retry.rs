//! [`RetryPolicy`]: when a request is tried again, and how long to wait first.
//!
//! # What is retried
//!
//! | failure | retried for |
//! | --- | --- |
//! | 429 Too Many Requests, 503 Service Unavailable | any method: the server refused before doing the work |
//! | no connection could be made (nothing was sent) | any method |
//! | 408, 500, 502, 504, a timeout before the response head, a connection dropped after the request was sent and before the response head was complete | idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) or a request with an `Idempotency-Key` |
//! | 501, any other 4xx, TLS and certificate errors | never |
//! | a failure while reading the body of a returned [`crate::Response`] (dropped, truncated, timed out) | never (below) |
//!
//! A server's `x-should-retry: true` or `false` overrides the table (as Stainless-generated
//! SDKs do). A body that cannot be replayed (a stream) is never retried, and the error says
//! so.
//!
//! # Failures after the response
//!
//! [`crate::RequestBuilder::send`] returns as soon as a final response head has arrived; the
//! retries above all happen before that. A failure while the body is read afterwards (by
//! [`crate::Response::json`], `text`, `bytes`, `chunk` or `bytes_stream`) is returned as
//! [`crate::Error::Transport`] with kind `Body` (or `Timeout`) and is **not** retried, for any
//! method: its `retry_stop` is [`RetryStop::ResponseReturned`], and its message says so.
//! Why:
//!
//! - the caller holds the response and may already have consumed part of the body
//!   (`chunk`, `bytes_stream`); the client cannot take those bytes back, and splicing a second
//!   answer onto them (which may be a different representation) would be wrong;
//! - resending from inside a body read would run pacing, credentials, the retry budget and
//!   redirects a second time out of the caller's sight, and the response would need to keep
//!   the request (its body, its schemes) alive for as long as it lives.
//!
//! When resending is safe for your request, retry the whole call yourself:
//! `loop { match api.get(p).send().await?.json::<T>().await { ... } }`.
//!
//! # Changing what is retried
//!
//! The table is the default [classification](RetryClass) of a response. A policy can change
//! it for a status ([`RetryPolicy::retry_status`]) or decide from the whole response head with
//! a function ([`RetryPolicy::classify`]). The order is: your function, then your statuses,
//! then `x-should-retry`, then the table.
//!
//! GitHub, for example, answers its secondary rate limits with **403** and `Retry-After` (or
//! `x-ratelimit-remaining: 0` and a reset time), while a plain 403 means "forbidden". Retry
//! the first and not the second:
//!
//! ```
//! use authed::{RetryPolicy, retry::RetryClass};
//! use http::StatusCode;
//!
//! let github = RetryPolicy::default().classify(|response| {
//!     let h = response.headers();
//!     let throttled = response.status() == StatusCode::FORBIDDEN
//!         && (h.contains_key("retry-after")
//!             || h.get("x-ratelimit-remaining").is_some_and(|v| v == "0"));
//!     throttled.then_some(RetryClass::Throttled)
//! });
//! # let _ = github;
//! ```
//!
//! A response classified [`RetryClass::Throttled`] is handled like a 429: retried for any
//! method, after the delay its headers name (`Retry-After`, `X-RateLimit-Reset`, ...), which
//! also holds the pacing gate.
//!
//! # How long to wait
//!
//! `max(server delay, backoff)`: never sooner than the server asked
//! ([`crate::ratelimit::server_delay`], honoured only on 429, 503 and redirects, since some
//! servers send `Retry-After` on successes too), and never sooner than exponential backoff with
//! jitter. When the server asks for more than [`RetryPolicy::max_retry_after`], the client does
//! not sleep: it returns [`crate::Error::RateLimited`] at once.
//!
//! The backoff delays come from the `backoff` crate's `ExponentialBackoff`, used only as a
//! delay generator (its `retry_after` path skips every limit; this module counts attempts and
//! applies the caps itself). It stays private to this file, so that moving to `backon` or a
//! hand-written generator changes nothing else.
//!
//! # Retry budget
//!
//! Each origin has a token bucket of 500 shared by every clone of the client (smithy's
//! standard retry quota): a retry spends 5 (a retry after a timeout 10), a success gives back
//! what its own retries spent, or 1 if it needed none. When the bucket
//! is empty, failures are returned without a retry, and the error says the client chose not to
//! retry. A server that fails every request is then hit once per request, not `1 + max_retries`
//! times.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use backoff::backoff::Backoff as _;
use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;

/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Default first backoff delay: long enough for a restarting instance, short enough that a
/// one-off blip costs half a second.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Default ceiling for one backoff delay.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Default longest server-requested delay the client will sleep for. Beyond it the caller
/// gets [`crate::Error::RateLimited`] at once: an interactive program should not hang for an
/// hour because a quota is spent.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Tokens in a full retry budget: 100 retries' worth.
#[doc(hidden)] // public for the integration tests; the module docs give the numbers
pub const RETRY_BUDGET_CAPACITY: u32 = 500;

/// What one retry spends.
#[doc(hidden)]
pub const RETRY_COST: u32 = 5;

/// What one retry after a timeout spends (timeouts are the most expensive failure to repeat).
#[doc(hidden)]
pub const TIMEOUT_RETRY_COST: u32 = 10;

/// What a success that needed no retry gives back.
#[doc(hidden)]
pub const SUCCESS_REFILL: u32 = 1;

/// When and how requests are retried. Set one on the builder
/// ([`crate::ClientBuilder::retry`]) and override it per request
/// ([`crate::RequestBuilder::retry`]).
///
/// ```
/// use std::time::Duration;
/// use authed::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .max_retries(5)
///     .max_elapsed(Duration::from_secs(30))
///     .max_retry_after(Duration::from_secs(120));
/// let never = RetryPolicy::never();
/// ```
#[derive(Clone)]
#[must_use]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) multiplier: f64,
    pub(crate) jitter: f64,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) max_retry_after: Duration,
    pub(crate) budget: bool,
    /// Per-status classes that replace the table's.
    statuses: Vec<(StatusCode, RetryClass)>,
    classifier: Option<Arc<Classifier>>,
}

type Classifier = dyn Fn(&ResponseHead<'_>) -> Option<RetryClass> + Send + Sync;

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .field("max_elapsed", &self.max_elapsed)
            .field("max_retry_after", &self.max_retry_after)
            .field("retry_budget", &self.budget)
            .field("statuses", &self.statuses)
            .field("classify", &self.classifier.as_ref().map(|_| "fn"))
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            multiplier: 2.0,
            jitter: 0.5,
            max_elapsed: None,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            budget: true,
            statuses: Vec::new(),
            classifier: None,
        }
    }
}

impl RetryPolicy {
    /// No retries at all. Pacing still applies (requests wait at the gate of an origin that
    /// announced a limit); turn it off with [`crate::ratelimit::Pacing::off`].
    pub fn never() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Retries after the first attempt (default 3).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// First backoff delay (default 500 ms); each retry multiplies it by 2, up to
    /// [`RetryPolicy::max_backoff`].
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Ceiling for one backoff delay (default 8 s).
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Jitter as a fraction of each delay, 0 to 1 (default 0.5: a delay `d` becomes a random
    /// value in `[d/2, 3d/2]`). 0 turns jitter off, for tests.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.5
        };
        self
    }

    /// Total time allowed for all attempts and waits of one call (none by default). A retry
    /// whose wait would pass it is not made.
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = Some(budget);
        self
    }

    /// Longest server-requested delay to sleep for (default 60 s); a longer one returns
    /// [`crate::Error::RateLimited`] at once.
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// Whether retries draw on the per-origin retry budget (default on).
    pub fn retry_budget(mut self, enabled: bool) -> Self {
        self.budget = enabled;
        self
    }

    /// Classifies `status` as `class`, replacing the table's entry (and `x-should-retry`):
    /// `retry_status(StatusCode::CONFLICT, RetryClass::Transient)` retries a 409 for
    /// idempotent requests, `retry_status(StatusCode::SERVICE_UNAVAILABLE, RetryClass::Final)`
    /// never retries a 503.
    pub fn retry_status(mut self, status: StatusCode, class: RetryClass) -> Self {
        self.statuses.retain(|(s, _)| *s != status);
        self.statuses.push((status, class));
        self
    }

    /// Classifies responses with `classify` first: `Some(class)` decides, `None` falls through
    /// to [`RetryPolicy::retry_status`], `x-should-retry` and the table. It sees every
    /// answer that is not a success or a redirect. See the [module docs](self) for a recipe.
    pub fn classify<F>(mut self, classify: F) -> Self
    where
        F: Fn(&ResponseHead<'_>) -> Option<RetryClass> + Send + Sync + 'static,
    {
        self.classifier = Some(Arc::new(classify));
        self
    }

    /// The class of a response that is not a success or a redirect.
    pub(crate) fn class_of(&self, head: &ResponseHead<'_>) -> RetryClass {
        if let Some(class) = self.classifier.as_ref().and_then(|f| f(head)) {
            return class;
        }
        if let Some((_, class)) = self.statuses.iter().find(|(s, _)| *s == head.status) {
            return *class;
        }
        match should_retry_hint(head.headers) {
            Some(true) => RetryClass::Retry,
            Some(false) => RetryClass::Final,
            None => default_class(head.status),
        }
    }

    pub(crate) fn backoff(&self) -> Delays {
        Delays(
            backoff::ExponentialBackoffBuilder::new()
                .with_initial_interval(self.initial_backoff)
                .with_max_interval(self.max_backoff)
                .with_multiplier(self.multiplier)
                .with_randomization_factor(self.jitter)
                .with_max_elapsed_time(None)
                .build(),
        )
    }
}

/// The backoff delays of one call. Wraps the `backoff` crate so that nothing else sees it.
pub(crate) struct Delays(backoff::ExponentialBackoff);

impl Delays {
    /// The next delay. `ExponentialBackoff` with no elapsed-time limit always has one.
    pub(crate) fn next(&mut self) -> Duration {
        self.0.next_backoff().unwrap_or(self.0.max_interval)
    }
}

impl std::fmt::Debug for Delays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delays")
    }
}

/// What an answer says about when to retry it, besides the backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Nothing: the backoff decides.
    None,
    /// The server asked for this delay (the longer of it and the backoff is waited).
    Server(Duration),
    /// The pacing gate spaces the retry itself (a refusal that said nothing, see
    /// `ratelimit::gate`): no backoff.
    Paced,
}

impl Hint {
    /// From what an answer said.
    pub(crate) fn new(server: Option<Duration>, paced: bool) -> Self {
        match (server, paced) {
            (Some(d), _) => Self::Server(d),
            (None, true) => Self::Paced,
            (None, false) => Self::None,
        }
    }
}

/// Why an attempt may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryReason {
    /// The server answered with this status.
    Status(StatusCode),
    /// No connection could be made.
    Connect,
    /// The attempt timed out.
    Timeout,
    /// The connection failed after the request was sent.
    Dropped,
}

impl std::fmt::Display for RetryReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(s) => write!(f, "status {s}"),
            Self::Connect => f.write_str("connection failed"),
            Self::Timeout => f.write_str("timeout"),
            Self::Dropped => f.write_str("connection dropped"),
        }
    }
}

/// Why the client stopped retrying. Shown in errors, so that a failure the client chose not
/// to retry is not mistaken for the server's last word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryStop {
    /// [`RetryPolicy::max_retries`] were made.
    MaxRetries,
    /// The next wait would pass [`RetryPolicy::max_elapsed`] or the deadline.
    OutOfTime,
    /// The origin's retry budget is empty (client-side).
    RetryBudgetEmpty,
    /// The request body is a stream and cannot be sent again.
    BodyNotReplayable,
    /// The response body failed after the response had been returned to the caller: the call
    /// was over, and the client does not send it again (see "Failures after the response" in
    /// the [module docs](self)).
    ResponseReturned,
}

impl RetryStop {
    /// Why, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxRetries => "the retry limit was reached",
            Self::OutOfTime => "the next wait would pass the time budget or deadline",
            Self::RetryBudgetEmpty => {
                "the client-side retry budget for this origin is empty (too many recent failures)"
            }
            Self::BodyNotReplayable => "the request body is a stream and cannot be replayed",
            Self::ResponseReturned => {
                "the response had already been returned when its body failed; retry the whole call if it is safe"
            }
        }
    }
}

/// `true` for methods that RFC 9110 §9.2.2 calls idempotent.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// The server's explicit word, if it gave one.
fn should_retry_hint(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get("x-should-retry")?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The table in the [module docs](self).
fn default_class(status: StatusCode) -> RetryClass {
    match status.as_u16() {
        429 | 503 => RetryClass::Throttled,
        408 | 500 | 502 | 504 => RetryClass::Transient,
        _ => RetryClass::Final,
    }
}

/// How a response that is not a success or a redirect is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryClass {
    /// The server refused before doing the work, because of a limit (429, 503): retried for
    /// any method, never sooner than the delay its headers name; that delay also holds the
    /// pacing gate, and one longer than [`RetryPolicy::max_retry_after`] fails at once with
    /// [`crate::Error::RateLimited`].
    Throttled,
    /// Retried for any method, with backoff (`x-should-retry: true`).
    Retry,
    /// Retried only when the request is safe to send again: an idempotent method or an
    /// `Idempotency-Key` (408, 500, 502, 504).
    Transient,
    /// Not retried. (A 429 or 503 that names a delay still holds the pacing gate for it,
    /// whatever its class: the server said the origin is busy, not just this request.)
    Final,
}

impl RetryClass {
    /// Whether a request of this class is retried, given whether it is safe to replay.
    pub(crate) fn retries(self, replay_safe: bool) -> bool {
        match self {
            Self::Throttled | Self::Retry => true,
            Self::Transient => replay_safe,
            Self::Final => false,
        }
    }
}

/// What a classifier ([`RetryPolicy::classify`]) sees of a response: its request's method,
/// its status and its headers (the body is not read before the decision).
#[derive(Debug)]
pub struct ResponseHead<'a> {
    method: &'a Method,
    status: StatusCode,
    headers: &'a HeaderMap,
}

impl<'a> ResponseHead<'a> {
    pub(crate) fn new(method: &'a Method, status: StatusCode, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            status,
            headers,
        }
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

/// Whether a failure with no response may be retried.
pub(crate) fn transport_is_retryable(reason: RetryReason, replay_safe: bool) -> bool {
    match reason {
        RetryReason::Connect => true,
        RetryReason::Timeout | RetryReason::Dropped => replay_safe,
        RetryReason::Status(_) => false,
    }
}

/// `true` when the error chain shows a TLS or certificate failure (never retried: it will not
/// fix itself and retrying only delays the real message).
pub(crate) fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut stack = vec![error];
    while let Some(e) = stack.pop() {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            // rustls reports a bad handshake as InvalidData; `io::Error::source` skips the
            // wrapped error itself, so look inside it explicitly.
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            if let Some(inner) = io.get_ref() {
                stack.push(inner);
            }
        }
        if let Some(source) = e.source() {
            stack.push(source);
        }
    }
    false
}

/// The retry state of one call: the policy, its backoff delays, and what it has spent.
#[derive(Debug)]
pub(crate) struct Retries {
    pub(crate) policy: RetryPolicy,
    delays: Option<Delays>,
    made: u32,
    spent: u32,
}

/// The time limits of one call, for [`Retries::plan`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub(crate) started: Instant,
    pub(crate) deadline: Option<Instant>,
}

impl Retries {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            delays: None,
            made: 0,
            spent: 0,
        }
    }

    /// Retries made so far.
    pub(crate) fn made(&self) -> u32 {
        self.made
    }

    /// Decides whether to retry and how long to wait first: `max(server, backoff)`, within the
    /// retry limit, the time budget, the deadline and the origin's retry budget.
    pub(crate) fn plan(
        &mut self,
        reason: RetryReason,
        server: Hint,
        replayable: bool,
        budget: &Budget,
        clock: Clock,
    ) -> Result<Duration, RetryStop> {
        if self.made >= self.policy.max_retries {
            return Err(RetryStop::MaxRetries);
        }
        if !replayable {
            return Err(RetryStop::BodyNotReplayable);
        }
        let wait = match server {
            // The pacing gate spaces this retry itself: a backoff on top would only idle.
            Hint::Paced => Duration::ZERO,
            hint => {
                let backoff = self
                    .delays
                    .get_or_insert_with(|| self.policy.backoff())
                    .next();
                match hint {
                    Hint::Server(s) => s.max(backoff),
                    _ => backoff,
                }
            }
        };
        let now = Instant::now();
        let past_budget = self
            .policy
            .max_elapsed
            .is_some_and(|limit| now.duration_since(clock.started) + wait > limit);
        let past_deadline = clock
            .deadline
            .is_some_and(|deadline| now.checked_add(wait).is_none_or(|r| r > deadline));
        if past_budget || past_deadline {
            return Err(RetryStop::OutOfTime);
        }
        let cost = if reason == RetryReason::Timeout {
            TIMEOUT_RETRY_COST
        } else {
            RETRY_COST
        };
        if self.policy.budget && !budget.withdraw(cost) {
            return Err(RetryStop::RetryBudgetEmpty);
        }
        self.made += 1;
        self.spent += cost;
        Ok(wait)
    }

    /// Gives back to the origin's budget: what this call's retries spent, or a little.
    pub(crate) fn succeeded(&self, budget: &Budget) {
        if self.policy.budget {
            budget.deposit(if self.made == 0 {
                SUCCESS_REFILL
            } else {
                self.spent
            });
        }
    }
}

/// A per-origin retry budget. Lock-free: every success deposits into it, from every task at
/// once, so a full budget is only read, never written.
#[derive(Debug)]
pub(crate) struct Budget {
    tokens: AtomicU32,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            tokens: AtomicU32::new(RETRY_BUDGET_CAPACITY),
        }
    }
}

impl Budget {
    /// Takes `cost` tokens; `false` when there are not enough.
    pub(crate) fn withdraw(&self, cost: u32) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }

    /// Gives back `amount` tokens (capped at capacity).
    pub(crate) fn deposit(&self, amount: u32) {
        if self.tokens.load(Ordering::Relaxed) >= RETRY_BUDGET_CAPACITY {
            return;
        }
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(amount).min(RETRY_BUDGET_CAPACITY))
            });
    }

    #[cfg(test)]
    pub(crate) fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retried(policy: &RetryPolicy, status: u16, headers: &HeaderMap, replay_safe: bool) -> bool {
        let status = StatusCode::from_u16(status).unwrap();
        policy
            .class_of(&ResponseHead::new(&Method::POST, status, headers))
            .retries(replay_safe)
    }

    #[test]
    fn classification_table() {
        let p = RetryPolicy::default();
        let h = HeaderMap::new();
        for s in [429, 503] {
            assert!(retried(&p, s, &h, false));
        }
        for s in [408, 500, 502, 504] {
            assert!(retried(&p, s, &h, true));
            assert!(!retried(&p, s, &h, false));
        }
        for s in [400, 401, 403, 404, 409, 422, 501] {
            assert!(!retried(&p, s, &h, true));
        }
        let mut hint = HeaderMap::new();
        hint.insert("x-should-retry", "false".parse().unwrap());
        assert!(!retried(&p, 503, &hint, true));
        hint.insert("x-should-retry", "TRUE".parse().unwrap());
        assert!(retried(&p, 409, &hint, false));
        assert!(transport_is_retryable(RetryReason::Connect, false));
        assert!(!transport_is_retryable(RetryReason::Timeout, false));
        assert!(transport_is_retryable(RetryReason::Dropped, true));
    }

    #[test]
    fn statuses_and_functions_change_the_table_in_order() {
        let h = HeaderMap::new();
        let p = RetryPolicy::default()
            .retry_status(StatusCode::SERVICE_UNAVAILABLE, RetryClass::Final)
            .retry_status(StatusCode::CONFLICT, RetryClass::Transient);
        assert!(!retried(&p, 503, &h, true));
        assert!(retried(&p, 409, &h, true));
        assert!(!retried(&p, 409, &h, false));
        // A status rule beats the server's hint; the function beats both.
        let mut hint = HeaderMap::new();
        hint.insert("x-should-retry", "true".parse().unwrap());
        assert!(!retried(&p, 503, &hint, true));
        let p = p.classify(|r| {
            (r.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(RetryClass::Retry)
        });
        assert!(retried(&p, 503, &h, false));
        assert!(
            !retried(&p, 404, &h, true),
            "None falls through to the table"
        );
    }

    #[test]
    fn delays_grow_and_stay_capped() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(400))
            .jitter(0.0);
        let mut d = policy.backoff();
        let got: Vec<_> = (0..5).map(|_| d.next().as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 400, 400]);
        let mut jittered = RetryPolicy::default().backoff();
        for _ in 0..20 {
            let v = jittered.next();
            assert!(v <= DEFAULT_MAX_BACKOFF.mul_f64(1.5), "{v:?}");
        }
    }

    #[test]
    fn budget_spends_and_refills() {
        let b = Budget::default();
        let mut spent = 0;
        while b.withdraw(RETRY_COST) {
            spent += 1;
        }
        assert_eq!(spent, RETRY_BUDGET_CAPACITY / RETRY_COST);
        b.deposit(RETRY_COST);
        assert!(b.withdraw(RETRY_COST));
        b.deposit(10_000);
        assert_eq!(b.available(), RETRY_BUDGET_CAPACITY);
    }

    #[test]
    fn tls_failures_are_recognised() {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid peer certificate");
        assert!(is_tls_failure(&e));
        let e = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_tls_failure(&e));
    }
}
