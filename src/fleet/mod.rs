//! Running a fleet: many processes, on many machines, share one API quota and one token
//! through Redis (feature `redis`).
//!
//! A [`Fleet`] is a connection to Redis (a URL, kept as a [`Secret`]: it may carry an ACL
//! user's password) with the rules every fleet component follows:
//!
//! - **Keys** are `{prefix}:{<scope>}:<kind>` (default prefix `authed`): everything one
//!   component keeps for one origin, bucket or token set shares the hash tag in braces, so
//!   its Lua scripts touch keys of one slot and run unchanged on Redis Cluster.
//! - **Every call is bounded** by [`Fleet::timeout`] (default [`DEFAULT_TIMEOUT`]), connection
//!   included: a slow Redis costs a request at most that.
//! - **Redis trouble never fails an API call**: when a call fails or times out, the fleet is
//!   *degraded*: one `WARN` event (target `authed::fleet`) says so, each component falls back
//!   to what it does alone in one process (the local gate, the in-memory token cache), and
//!   Redis is tried again at most every [`RETRY_INTERVAL`]. The first call that succeeds
//!   again logs one `INFO` event and the fleet is back. One warning per outage, however many
//!   requests run into it.
//!
//! **Shared pacing**: [`Fleet::pacing`] gives a [`SharedPacing`]; set it on each replica's
//! client with [`crate::ClientBuilder::shared_pacing`] (or on a `ThrottleMiddleware`). Each
//! origin's (or bucket's) gate then lives in Redis: a block the server announces to one
//! replica holds them all, departures are spaced across the fleet at the announced rate
//! (GCRA, one Lua script and one round trip per request), a new API is probed by one request
//! for the whole fleet, and [`Quota`] sets the rate of an API that announces none. What is
//! stored under which keys, for how long, and what happens when Redis fails: [`pacing`].
//!
//! ```no_run
//! use authed::{Client, Secret, fleet::Fleet};
//!
//! # fn example() -> authed::Result<()> {
//! let fleet = Fleet::new(Secret::from_env("REDIS_URL")?)?;
//! let client = Client::builder("https://api.example.com/v1/")
//!     .shared_pacing(fleet.pacing())
//!     .build()?;
//! # let _ = client; Ok(()) }
//! ```
//!
//! Connections are made on first use (building a fleet never blocks or fails because Redis
//! is down) and kept by redis's `ConnectionManager`, which reconnects after a restart.
//!
//! # Redis Cluster
//!
//! [`Fleet::cluster`] takes the URLs of some nodes of a Redis Cluster (one is enough; each as
//! for [`Fleet::new`], sharing user, password and scheme, so ACL users and TLS work the same):
//!
//! ```no_run
//! use authed::{Client, Secret, fleet::Fleet};
//!
//! # fn example() -> authed::Result<()> {
//! let fleet = Fleet::cluster([
//!     Secret::from_env("REDIS_NODE_A")?, // rediss://worker:password@10.0.0.1:6379
//!     Secret::from_env("REDIS_NODE_B")?,
//! ])?;
//! let client = Client::builder("https://api.example.com/v1/")
//!     .shared_pacing(fleet.pacing())
//!     .build()?;
//! # let _ = client; Ok(()) }
//! ```
//!
//! Every key of one scope (an origin and bucket, a token set) shares one hash tag, so each
//! Lua script touches one slot and runs on the node that owns it; different scopes spread
//! over the nodes. The cluster connection (redis's `cluster-async`) follows `MOVED` and `ASK`
//! redirections and reads the cluster's layout again when it changes, within
//! [`Fleet::timeout`]; it reconnects to a node that comes back. The failure rules are the
//! same, for the cluster as a whole: when a call fails because one node is down, the fleet is
//! degraded (one warning) and is back only once every primary answers again (one `INFO`), so
//! that calls on the slots of the nodes that are up do not end the outage over and over.

mod connection;
pub mod pacing;
#[cfg(feature = "oauth2")]
mod token_store;

pub use pacing::{POLICY_TTL, PROBE_POLL, PROBE_TTL, Quota, SharedPacing};

#[cfg(feature = "oauth2")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth2")))]
pub use token_store::{DEFAULT_LOCK_TTL, LOCK_POLL, MAX_LOCK_HOLD, MIN_LOCK_TTL, RedisTokenStore};

use std::{
    fmt,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::IntoConnectionInfo as _;
use secrecy::ExposeSecret;
use tokio::time::Instant;

use connection::{Connection, Target};

use crate::{
    Secret,
    error::{Error, Result},
};

/// How long one Redis call may take, connecting included, before the fleet is degraded and
/// the call's component falls back to what it does alone.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// While degraded, Redis is tried again at most this often (one call tries, the others go on
/// alone without waiting for it).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The default first part of every key.
pub const DEFAULT_PREFIX: &str = "authed";

/// A connection to the Redis that a fleet of processes shares. Cheap to clone; clones share
/// the connection and its health.
///
/// ```no_run
/// use authed::{Secret, fleet::Fleet};
///
/// # fn example() -> authed::Result<()> {
/// // rediss://worker:password@redis.internal:6380/0 : an ACL user over TLS.
/// let fleet = Fleet::new(Secret::from_env("REDIS_URL")?)?.prefix("billing-sync");
/// # let _ = fleet; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    /// The URL (a cluster's: the nodes' URLs, comma-separated) without its password, for
    /// `Debug` and the log.
    shown: String,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Option<Connection>>,
    /// Serialises connecting: one task connects, the others go on alone meanwhile.
    connecting: tokio::sync::Mutex<()>,
    health: Mutex<Health>,
}

#[derive(Debug, Clone, Copy)]
enum Health {
    Up,
    /// Degraded since the first failure; `retry_at` is when Redis may be tried again.
    Down {
        retry_at: Instant,
    },
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Fleet");
        if self.inner.target.is_cluster() {
            f.field("cluster", &self.inner.shown);
        } else {
            f.field("url", &self.inner.shown);
        }
        f.field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

impl Fleet {
    /// A fleet on the Redis at `url`: `redis://[user[:password]@]host[:port][/db]`,
    /// `rediss://` for TLS (with the `rustls` feature; the platform's roots, or a private CA
    /// with `Fleet::tls_root_certificates`), `redis+unix:///path`. Nothing is
    /// connected yet.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the URL is not a Redis URL (the message never shows its
    /// password).
    pub fn new(url: impl Into<Secret>) -> Result<Self> {
        let url: Secret = url.into();
        let text = url.expose_secret();
        let shown = shown_url(text);
        let client = redis::Client::open(text).map_err(|e| {
            Error::config(format!(
                "not a usable Redis URL ({shown}): {}",
                describe_error(&e)
            ))
        })?;
        Ok(Self::with_target(Target::Single(Box::new(client)), shown))
    }

    /// A fleet on the Redis Cluster that the node URLs `urls` belong to (one is enough, the
    /// cluster tells the others; several let the fleet connect when one of them is down).
    /// Each URL is one node's as for [`Fleet::new`] (`redis://[user[:password]@]host[:port]`,
    /// `rediss://` for TLS with the `rustls` feature); they must share the user, password
    /// and scheme, which the fleet uses for every node of the cluster. Nothing is connected
    /// yet.
    ///
    /// Each command and script goes to the node that owns its keys' slot (the keys of one
    /// scope share a hash tag, so one slot), redirections (`MOVED`, `ASK`) are followed and the
    /// cluster's layout read again when it changes, within [`Fleet::timeout`] as on one node.
    ///
    /// ```no_run
    /// use authed::{Secret, fleet::Fleet};
    ///
    /// # fn example() -> authed::Result<()> {
    /// let fleet = Fleet::cluster([
    ///     Secret::from_env("REDIS_NODE_A")?, // rediss://worker:password@10.0.0.1:6379
    ///     Secret::from_env("REDIS_NODE_B")?,
    /// ])?;
    /// # let _ = fleet; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when there is no URL, one is not a Redis URL, or they do not fit
    /// together (different users, passwords or schemes, a Unix socket, which a cluster cannot
    /// announce). The messages never show a password.
    pub fn cluster<I>(urls: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: Into<Secret>,
    {
        let mut nodes = Vec::new();
        let mut shown = Vec::new();
        for url in urls {
            let url: Secret = url.into();
            let text = url.expose_secret();
            let one = shown_url(text);
            let node = text.into_connection_info().map_err(|e| {
                Error::config(format!(
                    "not a usable Redis URL ({one}): {}",
                    describe_error(&e)
                ))
            })?;
            nodes.push(node);
            shown.push(one);
        }
        if nodes.is_empty() {
            return Err(Error::config(
                "a Redis Cluster fleet needs the URL of at least one node (it finds the others)",
            ));
        }
        let shown = shown.join(", ");
        // Builds the client once to check the URLs now; connecting builds it again with the
        // fleet's timeout.
        connection::cluster_client(nodes.clone(), DEFAULT_TIMEOUT, None).map_err(|e| {
            Error::config(format!(
                "the Redis Cluster node URLs ({shown}) do not fit together ({}): they must share \
                 user, password, database and scheme (redis:// or rediss://), and none may be \
                 a Unix socket",
                describe_error(&e)
            ))
        })?;
        Ok(Self::with_target(
            Target::Cluster {
                nodes,
                root_cert: None,
            },
            shown,
        ))
    }

    fn with_target(target: Target, shown: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                target,
                shown,
                prefix: DEFAULT_PREFIX.to_owned(),
                timeout: DEFAULT_TIMEOUT,
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                health: Mutex::new(Health::Up),
            }),
        }
    }

    /// The first part of every key (default [`DEFAULT_PREFIX`]): fleets that share a Redis
    /// but not their quotas and tokens use different prefixes. Braces are replaced (they
    /// would move keys to other cluster slots).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into().replace(['{', '}'], "_");
        self.inner_mut().prefix = prefix;
        self
    }

    /// Trusts the certificate authorities in `pem` (one or more PEM certificates) for
    /// `rediss://`, instead of the platform's roots: for a Redis whose certificate comes from a
    /// private CA (an internal PKI, a managed service's own CA). Host names are still checked.
    ///
    /// ```no_run
    /// use authed::{Secret, fleet::Fleet};
    ///
    /// # fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("/etc/redis/ca.pem")?;
    /// let fleet = Fleet::new(Secret::from_env("REDIS_URL")?)? // rediss://worker:pw@redis.internal:6380
    ///     .tls_root_certificates(ca)?;
    /// # let _ = fleet; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `pem` holds no certificate (or one that cannot be read), or the
    /// fleet's URLs are not `rediss://`.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_root_certificates(mut self, pem: impl AsRef<[u8]>) -> Result<Self> {
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        let pem = pem.as_ref();
        if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
            return Err(Error::config(
                "the TLS root certificates for Redis hold no PEM certificate \
                 (-----BEGIN CERTIFICATE-----)",
            ));
        }
        let inner = self.inner_mut();
        let refused = |e: redis::RedisError| {
            Error::config(format!(
                "TLS root certificates for the Redis at {}: {} (the URL must be rediss://, \
                 the PEM certificates readable)",
                inner.shown,
                describe_error(&e)
            ))
        };
        match &mut inner.target {
            Target::Single(client) => {
                let info = client.get_connection_info().clone();
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.to_vec()),
                };
                **client = redis::Client::build_with_tls(info, certs).map_err(refused)?;
            }
            Target::Cluster { nodes, root_cert } => {
                connection::cluster_client(nodes.clone(), DEFAULT_TIMEOUT, Some(pem))
                    .map_err(refused)?;
                *root_cert = Some(pem.to_vec());
            }
        }
        Ok(self)
    }

    /// How long one Redis call may take, connecting included (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner_mut().timeout = timeout;
        self
    }

    /// Whether the last Redis call failed: the fleet's components work alone until one
    /// succeeds again.
    pub fn is_degraded(&self) -> bool {
        matches!(*self.health(), Health::Down { .. })
    }

    /// Asks Redis for a `PING` (bounded by the timeout; on a cluster, every primary that
    /// `CLUSTER SLOTS` lists): whether the fleet works together now. A failure degrades the
    /// fleet like any other call (one warning), a success ends a degraded spell; while
    /// degraded, `false` without asking until [`RETRY_INTERVAL`] has passed. For a readiness
    /// probe, or a log line at start.
    pub async fn is_reachable(&self) -> bool {
        self.call("PING", |mut conn| async move { conn.ping().await })
            .await
            .is_some()
    }

    fn inner_mut(&mut self) -> &mut Inner {
        // Only builders call this, before the fleet is shared; a clone made earlier keeps
        // the old settings (copy on write).
        if Arc::get_mut(&mut self.inner).is_none() {
            let old = &self.inner;
            self.inner = Arc::new(Inner {
                target: old.target.clone(),
                shown: old.shown.clone(),
                prefix: old.prefix.clone(),
                timeout: old.timeout,
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                health: Mutex::new(Health::Up),
            });
        }
        Arc::get_mut(&mut self.inner).expect("just made unique")
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.inner.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key of `kind` in `scope` (an origin and bucket, a token set's name):
    /// `{prefix}:{scope}:kind`, the scope as the cluster hash tag.
    #[allow(dead_code)] // used by the pacing and token store of the fleet (next commits)
    pub(crate) fn key(&self, scope: &str, kind: &str) -> String {
        let scope = scope.replace(['{', '}'], "_");
        format!("{}:{{{scope}}}:{kind}", self.inner.prefix)
    }

    /// Runs `call` on the shared connection, bounded by the timeout. `None` when Redis is not
    /// to be asked now (degraded, and not yet time to try again) or the call failed: the
    /// caller then does what it does alone. `what` names the call in the warning.
    pub(crate) async fn call<T, F, Fut>(&self, what: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.may_try() {
            return None;
        }
        self.call_anyway(what, call).await
    }

    /// [`Fleet::call`] even while degraded: for a clean-up nobody waits for (releasing a
    /// lock), which should reach Redis whenever Redis is there, not only at the next retry
    /// time. Its failure and success count like any call's.
    pub(crate) async fn call_anyway<T, F, Fut>(&self, what: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let deadline = Instant::now() + self.inner.timeout;
        let conn = match tokio::time::timeout_at(deadline, self.connection()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                self.failed(what, &describe_error(&e));
                return None;
            }
            Err(_) => {
                self.failed(what, "timed out connecting");
                return None;
            }
        };
        // A degraded cluster fleet is back when every primary answers, not when the node of
        // one call's slot does: otherwise, with one node down, calls on the others' slots and
        // on its slots would take turns ending and starting the outage (a warning a second).
        let whole = self.inner.target.is_cluster() && self.is_degraded();
        let attempt = async move {
            if whole {
                conn.clone().ping().await?;
            }
            call(conn).await
        };
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(value)) => {
                self.succeeded();
                Some(value)
            }
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.forget_connection();
                }
                self.failed(what, &describe_error(&e));
                None
            }
            Err(_) => {
                self.forget_connection();
                self.failed(what, "timed out");
                None
            }
        }
    }

    /// Drops the shared connection after a connection-level failure, so that the next try
    /// connects afresh (bounded by the timeout) instead of meeting a reconnection that the
    /// connection manager began, and gave up, while Redis was still down: a restarted Redis
    /// is rejoined at the first retry after it is back.
    fn forget_connection(&self) {
        *self.inner.conn.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether Redis may be asked now: always when up; when degraded, once the retry time
    /// has come (and then not again for [`RETRY_INTERVAL`], so one call tries and the rest go
    /// on alone).
    fn may_try(&self) -> bool {
        let mut health = self.health();
        match *health {
            Health::Up => true,
            Health::Down { retry_at } => {
                let now = Instant::now();
                if now < retry_at {
                    return false;
                }
                *health = Health::Down {
                    retry_at: now + RETRY_INTERVAL,
                };
                true
            }
        }
    }

    async fn connection(&self) -> redis::RedisResult<Connection> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let _connecting = self.inner.connecting.lock().await;
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let conn = self.inner.target.connect(self.inner.timeout).await?;
        *self.inner.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    fn cached(&self) -> Option<Connection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn failed(&self, what: &str, why: &str) {
        let mut health = self.health();
        if matches!(*health, Health::Up) {
            tracing::warn!(
                target: "authed::fleet",
                redis = %self.inner.shown,
                call = what,
                error = why,
                "Redis failed: working alone (local pacing and token cache) until it is back"
            );
        }
        *health = Health::Down {
            retry_at: Instant::now() + RETRY_INTERVAL,
        };
    }

    fn succeeded(&self) {
        let mut health = self.health();
        if matches!(*health, Health::Down { .. }) {
            tracing::info!(
                target: "authed::fleet",
                redis = %self.inner.shown,
                "Redis is back: the fleet shares its quota and token again"
            );
            *health = Health::Up;
        }
    }
}

/// Whether `e` says the connection is gone (as opposed to an error reply of a live server).
fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_connection_dropped() || e.is_connection_refusal() || e.is_io_error() || e.is_timeout()
}

/// A Redis error in words: its kind and code, never the server's free text (which may echo
/// a command's arguments).
fn describe_error(e: &redis::RedisError) -> String {
    match e.code() {
        Some(code) => format!("{:?} ({code})", e.kind()),
        None if e.is_timeout() => "timed out".to_owned(),
        None if e.is_connection_refusal() => "connection refused".to_owned(),
        None if e.is_connection_dropped() => "connection dropped".to_owned(),
        None => format!("{:?}", e.kind()),
    }
}

/// `url` with its password replaced, for messages: the one before `@`, and a Unix socket
/// URL's `pass` parameter (`redis+unix:///path?pass=...`).
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.query_pairs().any(|(name, _)| name == "pass") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(name, value)| {
                        let value = if name == "pass" {
                            "[redacted]".to_owned()
                        } else {
                            value.into_owned()
                        };
                        (name.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("redacted"));
                // `[redacted]` as everywhere else (the URL type would percent-encode it).
                return parsed.to_string().replacen(":redacted@", ":[redacted]@", 1);
            }
            parsed.to_string()
        }
        Err(_) => "[unparsable URL]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        let fleet = Fleet::new("redis://worker:hunter2-canary@127.0.0.1:6379/0").unwrap();
        let shown = format!("{fleet:?}");
        assert!(!shown.contains("hunter2-canary"), "{shown}");
        assert!(
            shown.contains("worker:[redacted]@127.0.0.1:6379"),
            "{shown}"
        );
        let err = Fleet::new("http://worker:hunter2-canary@127.0.0.1/").unwrap_err();
        assert!(!err.to_string().contains("hunter2-canary"), "{err}");
        let unix = Fleet::new("redis+unix:///run/redis.sock?db=1&pass=hunter2-canary").unwrap();
        let shown = format!("{unix:?}");
        assert!(!shown.contains("hunter2-canary"), "{shown}");
        assert!(shown.contains("db=1&pass="), "{shown}");
    }

    #[test]
    fn cluster_urls_are_shown_without_their_passwords() {
        let fleet = Fleet::cluster([
            "redis://worker:hunter2-canary@127.0.0.1:7001",
            "redis://worker:hunter2-canary@127.0.0.1:7002",
        ])
        .unwrap();
        let shown = format!("{fleet:?}");
        assert!(!shown.contains("hunter2-canary"), "{shown}");
        assert!(
            shown.contains(
                "worker:[redacted]@127.0.0.1:7001, redis://worker:[redacted]@127.0.0.1:7002"
            ),
            "{shown}"
        );
        for urls in [
            // Passwords that differ.
            vec![
                "redis://worker:hunter2-canary@127.0.0.1:7001",
                "redis://worker:other-canary@127.0.0.1:7002",
            ],
            // Not a Redis URL.
            vec!["http://worker:hunter2-canary@127.0.0.1/"],
            // A Unix socket, which a cluster cannot announce.
            vec!["redis+unix:///run/redis.sock?pass=hunter2-canary"],
        ] {
            let err = Fleet::cluster(urls).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(err.is_config(), "{text}");
            assert!(!text.contains("hunter2-canary"), "{text}");
            assert!(!text.contains("other-canary"), "{text}");
        }
        let none: [&str; 0] = [];
        assert!(Fleet::cluster(none).unwrap_err().is_config());
    }

    #[test]
    fn keys_share_a_hash_tag_per_scope() {
        let fleet = Fleet::new("redis://127.0.0.1/").unwrap().prefix("app{x}");
        assert_eq!(
            fleet.key("https://api.example.com#search", "gcra"),
            "app_x_:{https://api.example.com#search}:gcra"
        );
        assert_eq!(fleet.key("a{b}", "t"), "app_x_:{a_b_}:t");
    }

    #[tokio::test]
    async fn an_unreachable_redis_degrades_once_and_is_not_asked_again_at_once() {
        // A port nothing listens on: bind, read the port, drop.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fleet = Fleet::new(format!("redis://127.0.0.1:{port}/")).unwrap();
        assert!(!fleet.is_degraded());
        let first = fleet
            .call("ping", |mut c| async move {
                redis::cmd("PING").query_async::<String>(&mut c).await
            })
            .await;
        assert_eq!(first, None);
        assert!(fleet.is_degraded());
        let asked = std::sync::atomic::AtomicBool::new(false);
        let second = fleet
            .call("ping", |mut c| {
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
                async move { redis::cmd("PING").query_async::<String>(&mut c).await }
            })
            .await;
        assert_eq!(second, None);
        assert!(
            !asked.load(std::sync::atomic::Ordering::SeqCst),
            "a degraded fleet does not ask Redis again before RETRY_INTERVAL"
        );
    }
}
