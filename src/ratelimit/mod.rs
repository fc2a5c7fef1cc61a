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
//! all clones of a client. Every request reserves a departure time from it before it is sent:
//!
//! - after a 429 or 503 that named a delay, nothing leaves before that delay has passed;
//! - while the server reports quota left (minus what is in flight), requests leave at once;
//! - once it reports none, requests leave one at a time, spaced by the rate the server
//!   announced (quota / window from `RateLimit-Policy`, else limit / window, else the reset
//!   time spread over the limit), starting when its window resets.
//!
//! - a block longer than the caller's [`crate::RetryPolicy::max_retry_after`] fails requests
//!   fast ([`crate::Error::RateLimited`]) instead of sleeping; it lasts no longer than the
//!   server announced, a success from a request sent after it began ends it, and
//!   [`crate::Client::reset_rate_limit`] forgets it.
//!
//! Sleeping exactly `Retry-After` in every waiter makes them all wake at the same instant and
//! collect 429s again; spacing them at the announced rate is what keeps a throttled client at
//! the server's pace without a herd.

//!
//! # Files
//!
//! `headers.rs` reads the header families; `gate.rs` is the gate (the model of the server's
//! limiter); `pacing.rs` chooses the gate for a request ([`Pacing`]).
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

pub use gate::FIRST_CONTACT_WAIT;
pub(crate) use gate::{Ticket, TooLong};
pub(crate) use headers::mentions_limits;
pub use headers::{DelaySource, MAX_HINT, RateLimitState, server_delay};
#[doc(hidden)]
pub use headers::{parse_retry_after, parse_retry_after_ms, parse_x_reset};
pub(crate) use pacing::Buckets;
pub use pacing::{MAX_BUCKETS, MAX_LEARNED_ROUTES, Pacing};
