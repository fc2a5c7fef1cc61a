//! The throttling stage: pace a request at its gate before it leaves, then tell the gate what
//! the answer said and read the delay a throttled answer asks for.
//!
//! [`Throttle`] keeps the per-origin state (gates and retry budget) shared by every clone of a
//! client, and by every request through a [`crate::middleware::ThrottleMiddleware`]. It takes
//! plain values (method, URL, status, headers) and returns decisions; it knows nothing of the
//! client.
//!
//! A [`SharedGate`] (the fleet's, in Redis: `fleet::SharedPacing`, feature `redis`) is the
//! extension point for pacing shared with other processes: a request that its local gate lets
//! go also reserves a departure there, and what answers say is offered to it. Without one,
//! nothing here changes.

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use crate::{
    path::same_origin,
    ratelimit::shared::{Scope, Seen, SharedGate},
    ratelimit::{
        self, Buckets, DelaySource, GateRef, OnWait, Outcome, Pacing, RateLimitState, Ticket,
        TooLong,
    },
    retry::{Budget, ResponseHead, RetryClass, RetryPolicy},
};

/// What a client keeps per origin: its pacing gates and its retry budget.
#[derive(Debug, Default)]
pub(crate) struct OriginState {
    pub(crate) buckets: Buckets,
    pub(crate) budget: Budget,
}

/// An origin's state: the home origin's borrowed, another's shared.
#[derive(Debug)]
pub(crate) enum OriginRef<'a> {
    Home(&'a OriginState),
    Other(Arc<OriginState>),
}

impl std::ops::Deref for OriginRef<'_> {
    type Target = OriginState;

    fn deref(&self) -> &OriginState {
        match self {
            Self::Home(s) => s,
            Self::Other(s) => s,
        }
    }
}

/// Per-origin pacing and retry budgets, shared by all clones of a client.
pub(crate) struct Throttle {
    pacing: Pacing,
    /// Pacing shared with other processes, consulted after the local gate.
    shared: Option<Arc<dyn SharedGate>>,
    /// The base URL's origin state, found without a lock (most requests go there).
    home: Option<(Url, Arc<OriginState>)>,
    /// Every other origin, found by comparing scheme, host and port (no allocation, a read
    /// lock): a client talks to a handful of origins.
    others: RwLock<Vec<(Url, Arc<OriginState>)>>,
    /// Shared by the origins past [`MAX_ORIGINS`].
    overflow: Arc<OriginState>,
}

/// Origins a client keeps state for, besides its base URL's. Past it, the rest share one
/// state (their pacing and retry budget are pooled): a client that follows links to
/// thousands of hosts must not grow without bound.
pub const MAX_ORIGINS: usize = 256;

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("pacing", &self.pacing)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// What an answer is, for the retry decision.
#[derive(Debug)]
pub(crate) struct Answer {
    /// How the retry policy classifies it.
    pub(crate) class: RetryClass,
    /// The delay it asked for (a throttled answer or a redirect), and where it said so.
    pub(crate) delay: Option<(Duration, DelaySource)>,
    /// A refusal that said nothing, whose retry the gate paces itself (it learns the
    /// server's rate from such refusals): the retry adds no backoff of its own.
    pub(crate) paced: bool,
}

/// A pacing decision that did not let the request go.
pub(crate) type PaceResult<'a> = Result<Option<Ticket<'a>>, TooLong>;

impl Throttle {
    /// `home`: the origin most requests go to (the base URL), if there is one.
    pub(crate) fn new(pacing: Pacing, home: Option<&Url>) -> Self {
        Self {
            pacing,
            shared: None,
            home: home.map(|url| (url.clone(), Arc::default())),
            others: RwLock::default(),
            overflow: Arc::default(),
        }
    }

    /// Adds a gate shared with other processes (see [`SharedGate`]).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn shared(mut self, shared: Arc<dyn SharedGate>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The pacing this throttle was made with.
    #[cfg_attr(
        not(all(feature = "redis", feature = "reqwest-middleware")),
        allow(dead_code)
    )]
    pub(crate) fn pacing(&self) -> &Pacing {
        &self.pacing
    }

    /// The state of `url`'s origin (the home origin's borrowed: no shared count to touch).
    pub(crate) fn origin(&self, url: &Url) -> OriginRef<'_> {
        if let Some((home, state)) = &self.home
            && same_origin(home, url)
        {
            return OriginRef::Home(state);
        }
        if let Some(state) = self.known(url) {
            return OriginRef::Other(state);
        }
        let mut others = self.others.write().unwrap_or_else(|e| e.into_inner());
        if let Some((_, state)) = others.iter().find(|(o, _)| same_origin(o, url)) {
            return OriginRef::Other(Arc::clone(state));
        }
        if others.len() >= MAX_ORIGINS {
            return OriginRef::Other(Arc::clone(&self.overflow));
        }
        let state = Arc::new(OriginState::default());
        let mut key = url.clone();
        key.set_path("");
        key.set_query(None);
        key.set_fragment(None);
        // Userinfo is not part of an origin (and may be a secret): not kept.
        let _ = key.set_username("");
        let _ = key.set_password(None);
        others.push((key, Arc::clone(&state)));
        OriginRef::Other(state)
    }

    fn known(&self, url: &Url) -> Option<Arc<OriginState>> {
        if let Some((home, state)) = &self.home
            && same_origin(home, url)
        {
            return Some(Arc::clone(state));
        }
        let others = self.others.read().unwrap_or_else(|e| e.into_inner());
        others
            .iter()
            .find(|(o, _)| same_origin(o, url))
            .map(|(_, state)| Arc::clone(state))
    }

    /// Waits at the request's gate (none with [`Pacing::off`]), telling `on_wait` how long
    /// before each wait.
    pub(crate) async fn pace<'o>(
        &self,
        origin: &'o OriginState,
        method: &Method,
        url: &Url,
        max_wait: Duration,
        waited: &mut Duration,
        on_wait: OnWait<'_>,
    ) -> PaceResult<'o> {
        if !self.pacing.enabled {
            return Ok(None);
        }
        let gate = origin.buckets.select(&self.pacing, method, url);
        let ticket = gate.depart_notifying(max_wait, waited, on_wait).await?;
        match &self.shared {
            None => Ok(Some(ticket)),
            Some(shared) => self
                .pace_shared(
                    &**shared,
                    origin,
                    ticket,
                    (method, url),
                    max_wait,
                    waited,
                    on_wait,
                )
                .await
                .map(Some),
        }
    }

    /// Waits at the shared gate too, once the local one let the request go.
    #[allow(clippy::too_many_arguments)]
    async fn pace_shared<'o>(
        &self,
        shared: &dyn SharedGate,
        origin: &'o OriginState,
        mut ticket: Ticket<'o>,
        (method, url): (&Method, &Url),
        max_wait: Duration,
        waited: &mut Duration,
        on_wait: OnWait<'_>,
    ) -> std::result::Result<Ticket<'o>, TooLong> {
        let bucket = origin.buckets.bucket_name(&self.pacing, method, url);
        let scope = Scope {
            url,
            bucket: bucket.as_deref(),
        };
        match shared.reserve(scope, max_wait).await {
            Ok(wait) if wait.is_zero() => Ok(ticket),
            Ok(wait) => {
                tracing::debug!(
                    target: "authed::ratelimit",
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "pacing for the fleet's shared rate limit"
                );
                *waited += wait;
                if let Some(on_wait) = on_wait {
                    on_wait(wait);
                }
                let at = Instant::now() + wait;
                tokio::time::sleep_until(at).await;
                ticket.leaves_at(at);
                Ok(ticket)
            }
            Err(wait) => Err(TooLong {
                wait,
                snapshot: ticket.gate().snapshot(Instant::now()),
            }),
        }
    }

    /// Tells the shared gate (if any) what an answer said.
    #[allow(clippy::too_many_arguments)]
    fn tell_shared(
        &self,
        origin: &OriginState,
        method: &Method,
        url: &Url,
        named: Option<&str>,
        mut seen: Seen,
        gate: Option<&GateRef<'_>>,
    ) {
        let Some(shared) = &self.shared else { return };
        seen.rate = gate.and_then(|g| g.binding_rate());
        let learned;
        let bucket = match named {
            Some(name) => Some(name),
            None => {
                learned = origin.buckets.bucket_name(&self.pacing, method, url);
                learned.as_deref()
            }
        };
        shared.observe(Scope { url, bucket }, &seen);
    }

    /// Records an answer at its gate and returns the delay it asked for, if it is a redirect
    /// or `throttled` (a 429, a 503, or whatever the retry classifier called throttled).
    /// Servers such as Flask-Limiter send `Retry-After` on successes too: it means nothing
    /// there.
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &self,
        origin: &OriginState,
        ticket: Option<Ticket<'_>>,
        method: &Method,
        url: &Url,
        status: StatusCode,
        headers: &HeaderMap,
        throttled: bool,
    ) -> (Option<(Duration, DelaySource)>, bool) {
        let asks_delay = throttled || status.is_redirection();
        let Some(ticket) = ticket else {
            // Pacing is off: no gate to tell, but the request that got the answer still
            // obeys its delay.
            let delay = asks_delay
                .then(|| ratelimit::server_delay(headers, SystemTime::now()))
                .flatten();
            return (delay, false);
        };
        if !asks_delay && !ticket.counted() && !ratelimit::mentions_limits(headers) {
            // An origin that never spoke of limits, and still does not: nothing to record,
            // no clock to read (the common case, on every request).
            if self.shared.is_some() {
                self.tell_shared(origin, method, url, None, Seen::default(), None);
            }
            return (None, false);
        }
        let wall = SystemTime::now();
        let server_delay = if asks_delay {
            ratelimit::server_delay(headers, wall)
        } else {
            None
        };
        let mut state = RateLimitState::from_headers(headers, wall);
        let block = server_delay
            .filter(|_| !status.is_redirection())
            .map(|(d, _)| d);
        if let Some((d, DelaySource::RetryAfter | DelaySource::RetryAfterMs)) = server_delay
            && throttled
            && ratelimit::mentions_ietf_limits(headers)
        {
            // The RateLimit drafts: "the Retry-After field MUST take precedence and the reset
            // parameter MAY be ignored". A spent quota comes back when Retry-After says. (The
            // de-facto `X-RateLimit-Reset` keeps its word: Flask-Limiter's Retry-After is its
            // reset truncated, and says 0 while 0.3 s are left.)
            state.supersede_reset(d);
        }
        let seen = self.shared.as_ref().map(|_| Seen {
            remaining: state.remaining,
            reset: state.reset,
            block: block.filter(|_| throttled),
            rate: None,
        });
        let now = Instant::now();
        let outcome = if throttled {
            Outcome::Throttled
        } else if status.is_success() {
            Outcome::Success
        } else {
            Outcome::Other
        };
        let path = url.path();
        let (paced, gate, named) = match state.bucket.take() {
            // The server counted it against a bucket other than the gate it waited at: its
            // limits belong to that bucket, and the path's next requests wait there.
            Some(bucket)
                if self.pacing.learn
                    && self.pacing.key.is_none()
                    && !origin.buckets.is_gate_of(ticket.gate(), &bucket) =>
            {
                let departed = ticket.departed();
                ticket.release();
                let gate = origin.buckets.learn(path, &bucket);
                let named = self.shared.is_some().then(|| bucket.clone());
                state.bucket = Some(bucket);
                let paced = gate.observe(state, block, outcome, false, departed, now);
                (paced, seen.is_some().then_some(gate), named)
            }
            bucket => {
                state.bucket = bucket;
                // Only a shared gate reads the gate's model afterwards.
                let gate = seen.is_some().then(|| ticket.gate_ref());
                (ticket.observe(state, block, outcome, now), gate, None)
            }
        };
        if let Some(seen) = seen {
            self.tell_shared(origin, method, url, named.as_deref(), seen, gate.as_ref());
        }
        (server_delay, paced)
    }

    /// Classifies an answer with `policy` and records it at its gate: the one place where an
    /// answer's class and the delay it asks for are decided, for the client and the
    /// middleware alike.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn answer(
        &self,
        origin: &OriginState,
        ticket: Option<Ticket<'_>>,
        policy: &RetryPolicy,
        method: &Method,
        url: &Url,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Answer {
        let class = if status.is_success() || status.is_redirection() {
            RetryClass::Final
        } else {
            policy.class_of(&ResponseHead::new(method, status, headers))
        };
        let throttled = class == RetryClass::Throttled
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE;
        let (delay, paced) = self.observe(origin, ticket, method, url, status, headers, throttled);
        Answer {
            class,
            delay,
            paced,
        }
    }

    /// The rate-limit state last reported by `url`'s origin (its default bucket).
    pub(crate) fn snapshot(&self, url: &Url) -> Option<RateLimitState> {
        self.known(url)?
            .buckets
            .default_gate()
            .snapshot(Instant::now())
    }

    /// The state of `origin`'s default bucket, for an error.
    pub(crate) fn snapshot_of(origin: &OriginState) -> Option<RateLimitState> {
        origin.buckets.default_gate().snapshot(Instant::now())
    }

    /// Forgets what `url`'s origin said about its limits. `false` when it never said anything.
    pub(crate) fn reset(&self, url: &Url) -> bool {
        match self.known(url) {
            Some(origin) => {
                origin.buckets.reset();
                true
            }
            None => false,
        }
    }
}
