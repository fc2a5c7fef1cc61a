//! The extension point of pacing shared with other processes (the fleet's, in Redis:
//! `fleet::SharedPacing`, feature `redis`): the client's throttling stage consults a
//! [`SharedGate`] after a request's local gate let it go, and tells it what each answer said.
//! Here, below both the client and the fleet, so that neither imports the other's insides.

use std::{fmt, future::Future, pin::Pin, time::Duration};

use url::Url;

/// A gate shared with other processes, consulted after a request's local gate let it go:
/// the extension point of the fleet's pacing (`fleet::SharedPacing`). Implementations never
/// fail a request: one that cannot reach what it shares lets requests go, and the local gate
/// paces alone.
pub(crate) trait SharedGate: fmt::Debug + Send + Sync {
    /// Reserves a departure for a request in `scope`: `Ok(wait)` to leave after `wait`, or
    /// `Err(wait)` when that wait would be longer than `max_wait` (then nothing is reserved).
    fn reserve<'a>(&'a self, scope: Scope<'a>, max_wait: Duration) -> SharedReservation<'a>;

    /// What an answer to a request in `scope` said, after its local gate recorded it. Called
    /// on every answer: an implementation shares only what is new.
    fn observe(&self, scope: Scope<'_>, seen: &Seen);
}

/// What [`SharedGate::reserve`] returns.
pub(crate) type SharedReservation<'a> =
    Pin<Box<dyn Future<Output = Result<Duration, Duration>> + Send + 'a>>;

// A shared gate is used as `Arc<dyn SharedGate>`.
const _: fn(Box<dyn SharedGate>) = |_| {};

/// Whose limits a request counts against: its origin (`url`'s scheme, host and port) and the
/// bucket it waits at (`None`: the origin's default one).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct Scope<'a> {
    pub(crate) url: &'a Url,
    pub(crate) bucket: Option<&'a str>,
}

/// The origin only: the request's URL may carry credentials (userinfo, an API key in the
/// query), which a derived `Debug` would print.
impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("origin", &self.url.origin().ascii_serialization())
            .field("bucket", &self.bucket)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_shows_its_origin_not_the_credentials_of_its_url() {
        let url =
            Url::parse("https://user:pw-canary@api.example.com/v1/x?api_key=key-canary").unwrap();
        let shown = format!(
            "{:?}",
            Scope {
                url: &url,
                bucket: Some("search")
            }
        );
        assert!(shown.contains("https://api.example.com"), "{shown}");
        assert!(shown.contains("search"), "{shown}");
        assert!(!shown.contains("canary"), "{shown}");
    }
}

/// What an answer said, for a [`SharedGate`].
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct Seen {
    /// What it said was left of the tightest quota, and when that comes back.
    pub(crate) remaining: Option<u64>,
    pub(crate) reset: Option<Duration>,
    /// The delay a refusal asked for (`Retry-After` and kin).
    pub(crate) block: Option<Duration>,
    /// The bucket's binding quota as its local gate now models it (announced or inferred):
    /// `(limit, window, last reported remaining)`.
    pub(crate) rate: Option<(u64, Duration, Option<u64>)>,
}
