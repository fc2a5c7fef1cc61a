//! [`Pacing`]: which gate a request waits at, and the per-origin set of gates ([`Buckets`]).

use std::{
    borrow::Cow,
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use http::Method;
use url::Url;

use super::gate::{Gate, GateRef};

/// Routes (paths) whose bucket one origin remembers. Past it, new routes use the origin's
/// default gate: a client that calls a million distinct paths must not grow a million
/// entries.
pub const MAX_LEARNED_ROUTES: usize = 1024;

/// Named buckets one origin keeps. Past it, further names share the default gate.
pub const MAX_BUCKETS: usize = 64;

type KeyFn = dyn Fn(&Method, &Url) -> Option<Cow<'static, str>> + Send + Sync;

/// How requests are paced to fit the server's rate limits.
///
/// Requests wait at a *gate* before they are sent; the gate holds them after a 429 or 503
/// with a delay, while a reported quota is spent, and spaces them at the announced rate (see
/// [the module docs](super)). By default there is one gate per origin, plus one per bucket the
/// server names:
///
/// - **per origin** ([`Pacing::default`]): every request to `https://api.example.com` shares
///   one gate, and a 429 on one route holds the others;
/// - **per bucket, as the server says**: when a response names its bucket (GitHub's
///   `x-ratelimit-resource: search`, the partition key `pk` of an IETF `RateLimit` field), its
///   limits go to that bucket's gate, and later requests to the same path wait there. A 429 in
///   the `search` bucket does not hold `core` requests. On by default;
///   [`Pacing::learn_buckets`] turns it off;
/// - **per bucket, by a key you give** ([`Pacing::key`]): a function of the method and URL
///   names the bucket before the request leaves (`None` means the origin's default gate);
/// - **off** ([`Pacing::off`]): no gate at all. Retries still obey `Retry-After`.
///
/// ```
/// use std::borrow::Cow;
/// use authed::ratelimit::Pacing;
///
/// // Uploads have their own quota at this API: pace them apart from everything else.
/// let pacing = Pacing::default().key(|_method, url| {
///     url.path().starts_with("/v1/uploads/").then_some(Cow::Borrowed("uploads"))
/// });
/// # let _ = pacing;
/// ```
#[derive(Clone)]
#[must_use]
pub struct Pacing {
    pub(crate) enabled: bool,
    pub(crate) learn: bool,
    pub(crate) key: Option<Arc<KeyFn>>,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            enabled: true,
            learn: true,
            key: None,
        }
    }
}

impl fmt::Debug for Pacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacing")
            .field("enabled", &self.enabled)
            .field("learn_buckets", &self.learn)
            .field("key", &self.key.as_ref().map(|_| "fn"))
            .finish()
    }
}

impl Pacing {
    /// No pacing: requests leave at once, whatever the server said before. A 429's
    /// `Retry-After` is still obeyed by the request that got it (see [`crate::RetryPolicy`]).
    pub fn off() -> Self {
        Self {
            enabled: false,
            learn: false,
            key: None,
        }
    }

    /// Whether buckets the server names are learned (default on).
    pub fn learn_buckets(mut self, learn: bool) -> Self {
        self.learn = learn;
        self
    }

    /// Names the bucket of each request before it is sent. `None` puts the request at its
    /// origin's default gate (or the bucket learned for its path). Buckets are per origin:
    /// the same name on two origins is two buckets.
    pub fn key<F>(mut self, key: F) -> Self
    where
        F: Fn(&Method, &Url) -> Option<Cow<'static, str>> + Send + Sync + 'static,
    {
        self.key = Some(Arc::new(key));
        self
    }
}

/// The gates of one origin: the default one, and one per named bucket.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    default: Gate,
    /// Set once any bucket exists, so that origins without buckets take no lock.
    any: AtomicBool,
    named: Mutex<Named>,
}

#[derive(Debug, Default)]
struct Named {
    gates: HashMap<Arc<str>, Arc<Gate>>,
    /// Path → the bucket the server counted it against.
    routes: HashMap<String, Arc<str>>,
}

impl Buckets {
    fn lock(&self) -> std::sync::MutexGuard<'_, Named> {
        self.named.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gate a request waits at.
    pub(crate) fn select(&self, pacing: &Pacing, method: &Method, url: &Url) -> GateRef<'_> {
        if let Some(key) = &pacing.key
            && let Some(name) = key(method, url)
        {
            return self.named_gate(&name);
        }
        if !self.any.load(Ordering::Acquire) {
            return GateRef::Default(&self.default);
        }
        let named = self.lock();
        match named
            .routes
            .get(url.path())
            .and_then(|b| named.gates.get(b))
        {
            Some(gate) => GateRef::Named(Arc::clone(gate)),
            None => GateRef::Default(&self.default),
        }
    }

    /// The name of the bucket [`Buckets::select`] picks for a request (`None`: the origin's
    /// default gate), for a fleet's shared gate.
    pub(crate) fn bucket_name(
        &self,
        pacing: &Pacing,
        method: &Method,
        url: &Url,
    ) -> Option<Arc<str>> {
        if let Some(key) = &pacing.key
            && let Some(name) = key(method, url)
        {
            return Some(Arc::from(name));
        }
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.lock().routes.get(url.path()).cloned()
    }

    /// The gate of bucket `name`, made on first use (the default gate past [`MAX_BUCKETS`]).
    pub(crate) fn named_gate(&self, name: &str) -> GateRef<'_> {
        let mut named = self.lock();
        if let Some(gate) = named.gates.get(name) {
            return GateRef::Named(Arc::clone(gate));
        }
        if named.gates.len() >= MAX_BUCKETS {
            return GateRef::Default(&self.default);
        }
        let gate = Arc::new(Gate::default());
        named.gates.insert(Arc::from(name), Arc::clone(&gate));
        self.any.store(true, Ordering::Release);
        GateRef::Named(gate)
    }

    /// Remembers that requests to `path` count against bucket `name` (the server said so),
    /// and returns that bucket's gate.
    pub(crate) fn learn(&self, path: &str, name: &str) -> GateRef<'_> {
        let gate = self.named_gate(name);
        if let GateRef::Named(_) = gate {
            let mut named = self.lock();
            let known = named.routes.get(path).is_some_and(|b| &**b == name);
            if !known && named.routes.len() < MAX_LEARNED_ROUTES {
                let key = named
                    .gates
                    .get_key_value(name)
                    .map(|(k, _)| Arc::clone(k))
                    .unwrap_or_else(|| Arc::from(name));
                named.routes.insert(path.to_owned(), key);
            }
        }
        gate
    }

    /// `true` when `gate` is the gate of bucket `name` (or `name`'s bucket could not be made
    /// and the default gate stands in for it).
    pub(crate) fn is_gate_of(&self, gate: &Gate, name: &str) -> bool {
        let named = self.lock();
        match named.gates.get(name) {
            Some(g) => std::ptr::eq(&**g, gate),
            None => std::ptr::eq(&self.default, gate) && named.gates.len() >= MAX_BUCKETS,
        }
    }

    /// The default gate.
    pub(crate) fn default_gate(&self) -> &Gate {
        &self.default
    }

    /// Forgets what every gate of this origin learned (blocks, quotas, routes).
    pub(crate) fn reset(&self) {
        self.default.reset();
        let mut named = self.lock();
        for gate in named.gates.values() {
            gate.reset();
        }
        named.routes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_to_the_default_gate_until_a_bucket_is_named() {
        let b = Buckets::default();
        let pacing = Pacing::default();
        let url = Url::parse("https://api.example.com/search/code?q=x").unwrap();
        let gate = b.select(&pacing, &Method::GET, &url);
        assert!(std::ptr::eq(&*gate, b.default_gate()));
        let learned = b.learn(url.path(), "search");
        assert!(!std::ptr::eq(&*learned, b.default_gate()));
        let again = b.select(&pacing, &Method::GET, &url);
        assert!(std::ptr::eq(&*again, &*learned));
        assert!(b.is_gate_of(&again, "search"));
        let other = Url::parse("https://api.example.com/user").unwrap();
        assert!(std::ptr::eq(
            &*b.select(&pacing, &Method::GET, &other),
            b.default_gate()
        ));
    }

    #[test]
    fn a_key_function_picks_the_bucket() {
        let b = Buckets::default();
        let pacing = Pacing::default().key(|_, url| {
            url.path()
                .starts_with("/up")
                .then_some(Cow::Borrowed("uploads"))
        });
        let up = Url::parse("https://h/up/1").unwrap();
        let down = Url::parse("https://h/down/1").unwrap();
        let g = b.select(&pacing, &Method::PUT, &up);
        assert!(b.is_gate_of(&g, "uploads"));
        assert!(std::ptr::eq(
            &*b.select(&pacing, &Method::GET, &down),
            b.default_gate()
        ));
    }

    #[test]
    fn buckets_and_routes_are_bounded() {
        let b = Buckets::default();
        for i in 0..MAX_BUCKETS + 5 {
            b.learn(&format!("/p{i}"), &format!("b{i}"));
        }
        let named = b.lock();
        assert_eq!(named.gates.len(), MAX_BUCKETS);
        assert!(named.routes.len() <= MAX_BUCKETS);
    }
}
