//! What servers say about their limits, and pacing requests to fit.
//!
//! # Parsing
//!
//! [`server_delay`] reads how long a server asked us to wait, from the first of these that
//! parses (the precedence the issue tracker settled on, most specific first):
//!
//! 1. `Retry-After` (RFC 9110 §10.2.3): delta-seconds, or an HTTP date in any of the three
//!    forms (IMF-fixdate, RFC 850, asctime), measured against the response's own `Date` when it
//!    has one (so a skewed local clock does not matter); a date in the past means "now";
//! 2. `retry-after-ms` (milliseconds, as sent by Azure and the OpenAI-style SDK servers);
//! 3. the IETF `RateLimit` fields: draft 8 and later (`RateLimit: "default";r=0;t=30`), draft 7
//!    (`RateLimit: limit=100, remaining=0, reset=30`), draft 6 (`RateLimit-Reset: 30`);
//! 4. `X-RateLimit-Reset` / `x-rate-limit-reset`: epoch seconds, epoch milliseconds or delta
//!    seconds, told apart by size.
//!
//! Garbage in any of them means "no hint" (and a `debug` event), never a panic. Every duration
//! is capped at [`MAX_HINT`] so that arithmetic on it cannot overflow.
//!
//! [`RateLimitState::from_headers`] reads limit / remaining / reset / window from the same
//! families, for pacing and for [`crate::Client::rate_limit`].
//!
//! # Pacing
//!
//! Each origin has one gate (and one per bucket the server names, see [`Pacing`]), shared by
//! all clones of a client. Every request reserves a departure time from it before it is sent,
//! and every answer tells it what the server said. The gate models the server's limiter,
//! whichever kind it runs and whichever headers it sends (details in `quota.rs` and
//! `gate.rs`):
//!
//! - after a 429 or 503 that named a delay, nothing leaves before that delay has passed; the
//!   first request after it goes alone, and its answer says how much quota came back;
//! - while the server reports quota left (minus what is in flight), requests leave at once;
//! - a **fixed or moving window** (express-rate-limit, Flask-Limiter, GitHub): once the quota
//!   is spent, requests wait for it to come back: each slot one window after the answer
//!   that used it (a sliding log of answer times), or the announced reset when the log cannot
//!   tell. Spent quota is never paced into a spent window, and a whole-second reset (epoch
//!   seconds, up to a second late) costs nothing: the log is exact to a round trip. With no
//!   window announced (`X-RateLimit-*`), it is inferred, in whole seconds, from the first
//!   answer of a window;
//! - a **token bucket or GCRA** (quota back in no time, or growing back before the reset):
//!   once spent, requests leave one at a time at the announced rate (quota / window, 2 %
//!   slower), never as a herd;
//! - **several policies** at once (`RateLimit-Policy: "burst";q=10;w=1, "daily";q=1000;w=86400`):
//!   each is modelled on its own, and a request leaves when all of them allow it;
//! - a **limiter that says nothing** (nginx `limit_req`: a bare 429 or 503): its rate is
//!   learned from its refusals (measured between two of them, then paced just below it and
//!   nudged up slowly), so that the refusals stop; retries of such refusals are paced by the
//!   gate instead of a backoff;
//! - a refusal of a request the model let go is evidence the model was wrong: a token-bucket
//!   model becomes a window model, a window's log gives way to the announced reset, and
//!   requests already waiting for a departure time computed before it ask again;
//! - a block longer than the caller's [`crate::RetryPolicy::max_retry_after`] fails requests
//!   fast ([`crate::Error::RateLimited`]) instead of sleeping; it lasts no longer than the
//!   server announced, a success from a request sent after it began ends it, and
//!   [`crate::Client::reset_rate_limit`] forgets it.
//!
//! Until an origin has answered once, the client does not know its limits: one request goes
//! first, and the others wait up to [`FIRST_CONTACT_WAIT`] for its answer.
//!
//! # Files
//!
//! `headers.rs` reads the header families; `quota.rs` models one quota of the server's
//! limiter (windows and buckets); `gate.rs` is the gate (blocks, quotas, the rate learned from
//! silent refusals, first contact); `pacing.rs` chooses the gate for a request ([`Pacing`]);
//! `simulated.rs` (tests) runs the gate against simulated limiters of each kind;
//! `sfv_oracle.rs` (tests) checks the structured-field reading of `headers.rs` against the
//! `sfv` crate.
//!
//! # Example
//!
//! Reading what a server said (the client does this on every response; [`Pacing`] chooses
//! which requests share a gate):
//!
//! ```
//! use std::time::{Duration, SystemTime};
//!
//! use authed::http::{HeaderMap, HeaderValue};
//! use authed::ratelimit::{DelaySource, RateLimitState, server_delay};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("retry-after", HeaderValue::from_static("30"));
//! headers.insert("ratelimit", HeaderValue::from_static("limit=100, remaining=0, reset=30"));
//!
//! let now = SystemTime::now();
//! assert_eq!(
//!     server_delay(&headers, now),
//!     Some((Duration::from_secs(30), DelaySource::RetryAfter)),
//! );
//! let state = RateLimitState::from_headers(&headers, now);
//! assert_eq!((state.limit, state.remaining), (Some(100), Some(0)));
//! assert_eq!(state.reset, Some(Duration::from_secs(30)));
//! ```

mod gate;
mod headers;
mod pacing;
mod quota;
pub(crate) mod shared;

pub use gate::FIRST_CONTACT_WAIT;
pub(crate) use gate::{GateRef, OnWait, Outcome, Ticket, TooLong};
pub use headers::{DelaySource, MAX_HINT, Policy, RateLimitState, server_delay};
pub(crate) use headers::{mentions_ietf_limits, mentions_limits};
#[doc(hidden)]
pub use headers::{parse_retry_after, parse_retry_after_ms, parse_x_reset};
pub(crate) use pacing::Buckets;
pub use pacing::{MAX_BUCKETS, MAX_LEARNED_ROUTES, Pacing};
#[cfg(feature = "redis")]
pub(crate) use quota::PACING_MARGIN;
