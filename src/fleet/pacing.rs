//! Shared pacing: the gate of each origin (or bucket) lives in Redis, so that N replicas of a
//! worker using one API key send what the key allows, not N times that.
//!
//! Each process keeps its local gate (see [`crate::ratelimit`]): it still learns from its own
//! answers and holds its own requests. A [`SharedPacing`] adds one constraint: a request that
//! its local gate lets go also reserves a departure time in Redis, for its *scope* (its origin,
//! userinfo never included, and the bucket it waits at), and waits for it. What answers say
//! that the others need is published there.
//!
//! # The model
//!
//! One GCRA (generic cell rate algorithm, the virtual-scheduling form of a token bucket) per
//! scope: an *interval* between departures (the announced window over its quota, slowed by the
//! same 2 % margin as local pacing) and a *burst* (how many may leave at once). A reservation
//! is one Lua script, one round trip: it reads Redis's `TIME` (the fleet's clock: the machines'
//! clocks do not matter; each process sleeps a *duration* from the reply), the scope's block
//! and policy and its theoretical arrival time (TAT), and returns how long to wait. Requests
//! waiting at once are handed departure times one interval apart, never a herd.
//!
//! - **The rate** is what the local gate models from the headers: the quota with the shortest
//!   window (`RateLimit-Policy: "default";q=50;w=1`, the draft 7 `limit` and `window`, or a
//!   window inferred from `X-RateLimit-Reset`). Further policies (a daily quota beside a
//!   per-second one) are kept by their blocks (below) and by each process's local gate.
//! - **The burst** is one more than the most the server ever said was left (`remaining`), at
//!   most the quota (a token bucket of 10 reports 9 after its first request), less a fifth
//!   (at least one): 8 for that bucket. It only grows while the policy lives.
//!   Before any report: 1 (even spacing). The margin is for lateness: a burst reserved at
//!   once may reach the server a few milliseconds apart (a busy machine between the
//!   reservation and the send), and a server's bucket that is full stops filling, so the
//!   refill the model counted on during that delay never happened; the next paced request
//!   would find the bucket a fraction of a token short, and its 429 would hold the whole
//!   fleet for the `Retry-After`. Two tokens of a 50/s bucket absorb 40 ms of lateness, and
//!   cost 40 ms once.
//! - **Blocks**: a refusal's delay (`Retry-After`, `retry-after-ms`, a `RateLimit` reset on a
//!   429 or 503) holds every replica until it ends, and then lets one request go first and the
//!   rest at the interval (the server's bucket has just one token then). A spent quota
//!   (`remaining=0`) whose reset is further off than one interval and a second (a window, not
//!   a token bucket that says `t=0`) holds every replica until the reset.
//! - **First contact**: while no policy is known fleet-wide, one process claims a probe
//!   (`SET NX PX`, [`PROBE_TTL`]) and sends one request; the others ask again every
//!   [`PROBE_POLL`] until its answer has published the policy (or the probe expired, and
//!   one of them probes). A fleet's first contact is one request, not one per task. The
//!   probe's answer also sets the TAT from what it said was left, so the rest of the burst
//!   goes at once and no more.
//! - **A caller-set quota** ([`SharedPacing::quota`], for APIs that send no headers) replaces
//!   the announced rate and burst: no probe, nothing learned; blocks still hold the fleet.
//!   [`Quota::per_window`] spaces requests evenly (at most that many in any span of the
//!   window, whatever limiter the server runs); [`Quota::burst`] lets a token bucket's
//!   capacity go at once.
//!
//! Answers are published only when they say something new to this process: a rate or a
//! larger burst than it last published, a block that ends later than the last it published,
//! the answer to its probe, or a policy it last published more than half of [`POLICY_TTL`]
//! ago (to keep it alive). One round trip then, in a task of its own: the answer is not held.
//! Most answers publish nothing, so a request costs one round trip, its reservation.
//!
//! # Keys
//!
//! Per scope, with [`Fleet::prefix`] (`authed` by default) and the scope as the cluster hash
//! tag (`authed:{https://api.example.com#search}:tat`; the default bucket has no `#` part), so
//! both scripts touch one slot and run unchanged on Redis Cluster:
//!
//! | key | holds | expires |
//! | --- | --- | --- |
//! | `…:policy` | hash: `interval` (µs), `burst` | [`POLICY_TTL`] after it was last published |
//! | `…:tat` | the GCRA theoretical arrival time (µs of Redis `TIME`) | when the bucket would be full again (nothing to remember after that) |
//! | `…:block` | nothing leaves before this (µs of Redis `TIME`) | when the block ends |
//! | `…:probe` | a first-contact probe is out | [`PROBE_TTL`] (plus the block it waits out) |
//!
//! Nothing lives forever: an idle scope leaves at most its policy, for [`POLICY_TTL`].
//! Fleets that share a Redis but not an API key use different prefixes. The scripts need
//! Redis 5 or later (`TIME` in a script that writes); `redis::Script` loads them again after a
//! restart (`NOSCRIPT`). ACL users and TLS are the [`Fleet`]'s URL (`rediss://user:pw@…`): the
//! user needs `EVALSHA`, `SCRIPT LOAD` and the commands the scripts call (`TIME`, `GET`,
//! `SET`, `HMGET`, `HSET`, `PEXPIRE`, `DEL`, `PTTL`) on the keys under the prefix
//! (`~authed:*`).
//!
//! # When Redis fails
//!
//! Every call goes through the fleet's bounded call ([`Fleet::timeout`]): a reservation that
//! fails or times out lets the request go at once, as far as the fleet is concerned: each
//! process paces alone at its local gate (which has been learning all along), one warning says
//! so, and the fleet rejoins when Redis answers again (at most every
//! [`super::RETRY_INTERVAL`]). A restarted Redis is empty: the fleet probes again, once. No
//! call fails only because Redis did; while alone, the replicas together may send more than
//! the quota, and their 429s are handled as without a fleet.
//!
//! # Why this shape
//!
//! - GCRA rather than a counted token bucket or a log: one number per scope (the TAT), no
//!   refill to run, and a reservation may lie in the future, so the reply is a wait and the
//!   fleet's requests queue in time, one interval apart, instead of retrying.
//! - The client knows nothing of Redis: `client/throttle.rs` consults a small crate-internal
//!   `SharedGate` (reserve a departure; hear what an answer said), which [`SharedPacing`]
//!   implements. The client and `ThrottleMiddleware` share that stage, so both get the
//!   fleet; without one, the request path is what it was (the overhead bench still counts
//!   56 allocations per request).
//! - The local gate keeps working under the fleet's: it is already there (and learning)
//!   when Redis fails, and it paces what the fleet cannot see (other policies, silent
//!   refusals). Its spacing does not add to the fleet's: it allows one process the whole
//!   announced rate, the fleet gives a process at most that, so the reservation decides.
//! - No count of requests in flight is kept in Redis: a process that dies would leave it
//!   wrong. GCRA needs only the TAT; a reserved departure that is never used (the request was
//!   cancelled) costs one interval of the fleet's quota, never a 429.
//! - A `remaining` report does not move the TAT (except the probe's, when nothing else is
//!   out): answers to concurrent requests arrive out of order, and a report cannot say which
//!   reservations it already counts. The local gates use them as before.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use super::Fleet;
use crate::{
    ratelimit::PACING_MARGIN,
    ratelimit::shared::{Scope, Seen, SharedGate, SharedReservation},
};

/// How long a first-contact probe holds the fleet: if its answer has not published a policy
/// by then (a slow server, a process that died), another process probes.
pub const PROBE_TTL: Duration = Duration::from_secs(1);

/// How often a process waiting for a probe's answer asks Redis again.
pub const PROBE_POLL: Duration = Duration::from_millis(25);

/// How long a policy lives in Redis after it was last published. Processes with traffic
/// publish it again after half of this; an idle fleet learns it anew (one probe).
pub const POLICY_TTL: Duration = Duration::from_secs(600);

/// The longest a request waits for a fleet's first contact (probes that keep failing to
/// answer) before it goes on its local gate alone.
const MAX_FIRST_CONTACT: Duration = Duration::from_secs(5);

/// A spent quota whose reset is further off than one interval and this is a window, and
/// holds the fleet until its reset; a nearer one is a token bucket rounding its reset up.
const WINDOW_RESET: Duration = Duration::from_secs(1);

/// A block is published again only when it ends this much later than the last published.
const BLOCK_SLACK: Duration = Duration::from_millis(100);

/// Scopes one process remembers what it published for. Past it, answers in further scopes
/// publish only blocks.
const MAX_SCOPES: usize = 256;

/// The fleet's burst is the server's less this share of it (a fifth, at least one request):
/// see the module docs (a burst that reaches the server late).
const BURST_MARGIN: u64 = 5;

/// The burst the fleet lets go at once for a server whose bucket holds `server`.
fn fleet_burst(server: u64) -> u64 {
    server.saturating_sub(server.div_ceil(BURST_MARGIN)).max(1)
}

/// The longest wait passed to Redis (a year): `max_retry_after` may be `Duration::MAX`.
const MAX_WAIT_US: u64 = 365 * 24 * 3600 * 1_000_000;

/// A request rate set by the caller, for an API that announces none (see
/// [`SharedPacing::quota`]).
///
/// ```
/// use std::time::Duration;
/// use authed::fleet::Quota;
///
/// // "100 requests per minute": evenly spaced, never 100 in less than a minute.
/// let documented = Quota::per_window(100, Duration::from_secs(60));
/// // A token bucket of 10 per second that holds 20: 20 at once after a quiet spell.
/// let bucket = Quota::per_window(10, Duration::from_secs(1)).burst(20);
/// # let _ = (documented, bucket);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    requests: u64,
    window: Duration,
    burst: u64,
}

impl Quota {
    /// `requests` per `window`, evenly spaced (2 % slower, as local pacing): never more than
    /// `requests` in any span of `window`, which suits fixed windows, sliding windows and
    /// token buckets alike. `0` requests is taken as 1; a zero window means no rate (blocks
    /// the server announces still hold the fleet).
    #[must_use]
    pub fn per_window(requests: u64, window: Duration) -> Self {
        Self {
            requests: requests.max(1),
            window,
            burst: 1,
        }
    }

    /// How many may leave at once after a quiet spell (default 1): a token bucket's
    /// capacity. Only for limiters that allow it: a fixed window of `requests` refuses a
    /// burst that follows a full window.
    #[must_use]
    pub fn burst(mut self, burst: u64) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// Microseconds between departures (0: no rate).
    fn interval_us(&self) -> f64 {
        self.window.as_micros() as f64 * PACING_MARGIN / self.requests as f64
    }
}

/// Pacing shared by every process of a fleet through Redis: set it on a client with
/// [`crate::ClientBuilder::shared_pacing`] (or on a
/// `ThrottleMiddleware` with `shared_pacing`, feature `reqwest-middleware`). See the
/// [module docs](self) for what it stores and how it fails.
///
/// ```no_run
/// use std::time::Duration;
/// use authed::{Client, Secret, fleet::{Fleet, Quota}};
///
/// # fn example() -> authed::Result<()> {
/// let fleet = Fleet::new(Secret::from_env("REDIS_URL")?)?;
/// // The rate the API announces in its headers, shared by every replica:
/// let api = Client::builder("https://api.example.com/v1/")
///     .shared_pacing(fleet.pacing())
///     .build()?;
/// // An API that announces nothing, documented as 100 requests per minute:
/// let quiet = Client::builder("https://quiet.example.com/")
///     .shared_pacing(fleet.pacing().quota(Quota::per_window(100, Duration::from_secs(60))))
///     .build()?;
/// # let _ = (api, quiet); Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct SharedPacing {
    inner: Arc<Inner>,
}

struct Inner {
    fleet: Fleet,
    quota: Option<Quota>,
    reserve: redis::Script,
    publish: redis::Script,
    views: Mutex<HashMap<Box<str>, View>>,
}

/// What this process knows of one scope: its keys, and what it last published there.
struct View {
    keys: Arc<[String; 4]>,
    /// The policy last published (interval in µs, burst), and when.
    interval_us: Option<f64>,
    burst: u64,
    published_at: Option<Instant>,
    /// The end of the last block published.
    block_until: Option<Instant>,
    /// This process holds the scope's first-contact probe: its next answer is published.
    probing: bool,
}

impl fmt::Debug for SharedPacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPacing")
            .field("fleet", &self.inner.fleet)
            .field("quota", &self.inner.quota)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Pacing shared by the fleet (see [`SharedPacing`]): set it on every replica's client
    /// with [`crate::ClientBuilder::shared_pacing`].
    pub fn pacing(&self) -> SharedPacing {
        SharedPacing::new(self)
    }
}

impl SharedPacing {
    /// Pacing shared through `fleet`'s Redis, at the rate the server announces.
    pub fn new(fleet: &Fleet) -> Self {
        Self {
            inner: Arc::new(Inner {
                fleet: fleet.clone(),
                quota: None,
                reserve: redis::Script::new(RESERVE),
                publish: redis::Script::new(PUBLISH),
                views: Mutex::default(),
            }),
        }
    }

    /// Paces at `quota` instead of the rate the server announces (for an API that sends no
    /// rate-limit headers). Every replica must set the same quota.
    pub fn quota(mut self, quota: Quota) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.quota = Some(quota),
            None => {
                let mut fresh = Self::new(&self.inner.fleet);
                if let Some(inner) = Arc::get_mut(&mut fresh.inner) {
                    inner.quota = Some(quota);
                }
                self = fresh;
            }
        }
        self
    }

    /// The gate the client's throttling stage consults.
    pub(crate) fn into_gate(self) -> Arc<dyn SharedGate> {
        Arc::new(self)
    }
}

/// The scope's name: its origin (no userinfo), and `#bucket` for a named bucket.
fn scope_name(scope: Scope<'_>) -> String {
    let origin = scope.url.origin().ascii_serialization();
    match scope.bucket {
        None => origin,
        Some(bucket) => format!("{origin}#{bucket}"),
    }
}

/// What a reservation script answered.
const GO: i64 = 0;
const PROBE: i64 = 1;
const AWAIT: i64 = 2;
const TOO_LONG: i64 = 3;

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

impl Inner {
    fn views(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, View>> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The scope's keys (remembered for the next request).
    fn keys(&self, name: &str) -> Arc<[String; 4]> {
        let mut views = self.views();
        if let Some(view) = views.get(name) {
            return Arc::clone(&view.keys);
        }
        let fleet = &self.fleet;
        let keys = Arc::new(["policy", "tat", "block", "probe"].map(|kind| fleet.key(name, kind)));
        if views.len() < MAX_SCOPES {
            views.insert(
                name.into(),
                View {
                    keys: Arc::clone(&keys),
                    interval_us: None,
                    burst: 0,
                    published_at: None,
                    block_until: None,
                    probing: false,
                },
            );
        }
        keys
    }

    /// Redis failed: what this process published may be gone (a restart), so it publishes
    /// again when it can.
    fn forget(&self) {
        for view in self.views().values_mut() {
            view.interval_us = None;
            view.burst = 0;
            view.published_at = None;
            view.block_until = None;
        }
    }

    /// The caller's quota as script arguments: interval (µs, -1: none) and burst.
    fn quota_args(&self) -> (String, u64) {
        match self.quota {
            Some(q) => (format!("{:.3}", q.interval_us()), q.burst),
            None => ("-1".to_owned(), 0),
        }
    }

    async fn reserve_at(&self, scope: Scope<'_>, max_wait: Duration) -> Result<Duration, Duration> {
        let name = scope_name(scope);
        let keys = self.keys(&name);
        let max_wait_us = u64::try_from(max_wait.as_micros())
            .unwrap_or(u64::MAX)
            .min(MAX_WAIT_US);
        let probe_ttl_ms = u64::try_from(PROBE_TTL.as_millis()).unwrap_or(1000);
        let (interval, burst) = self.quota_args();
        let started = Instant::now();
        loop {
            let reply = self
                .fleet
                .call("pacing reservation", |mut conn| {
                    let mut invocation = self.reserve.prepare_invoke();
                    for key in keys.iter() {
                        invocation.key(key);
                    }
                    invocation
                        .arg(max_wait_us)
                        .arg(probe_ttl_ms)
                        .arg(&interval)
                        .arg(burst);
                    async move { invocation.invoke_async::<(i64, i64)>(&mut conn).await }
                })
                .await;
            let Some((status, value)) = reply else {
                // Redis failed (one warning, from the fleet): alone at the local gate.
                self.forget();
                return Ok(Duration::ZERO);
            };
            match status {
                GO => return Ok(micros(value)),
                PROBE => {
                    if let Some(view) = self.views().get_mut(name.as_str()) {
                        view.probing = true;
                    }
                    return Ok(micros(value));
                }
                TOO_LONG => return Err(micros(value)),
                AWAIT if started.elapsed() < MAX_FIRST_CONTACT => {
                    let poll = micros(value).clamp(Duration::from_millis(1), PROBE_POLL);
                    tokio::time::sleep(poll).await;
                }
                _ => return Ok(Duration::ZERO),
            }
        }
    }
}

// Defined here rather than in the client module, which then needs nothing of the fleet
// (no import circle: the fleet's token store uses the OAuth module, which uses the client).
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl crate::client::ClientBuilder {
    /// Shares pacing with every process that sets the same [`crate::fleet::SharedPacing`]
    /// (feature `redis`): each request that its local gate lets go also reserves a departure
    /// in Redis, so that a fleet of replicas sends what one API key allows, not that many
    /// times it. A block the server announces to one replica holds them all. When Redis fails,
    /// each process paces alone (one warning) until it is back: no call fails because of it.
    /// With [`Pacing::off`](crate::ratelimit::Pacing::off), there is no gate, shared or not. See [`crate::fleet`].
    pub fn shared_pacing(self, shared: SharedPacing) -> Self {
        self.shared_gate(shared.into_gate())
    }
}

impl SharedGate for SharedPacing {
    fn reserve<'a>(&'a self, scope: Scope<'a>, max_wait: Duration) -> SharedReservation<'a> {
        Box::pin(self.inner.reserve_at(scope, max_wait))
    }

    fn observe(&self, scope: Scope<'_>, seen: &Seen) {
        let Some(update) = self.inner.update(scope, seen) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // `observe` runs on the request's task and must not wait: one round trip, on a task
        // of its own.
        let this = Arc::clone(&self.inner);
        runtime.spawn(async move {
            let done = this
                .fleet
                .call("pacing update", |mut conn| {
                    let mut invocation = this.publish.prepare_invoke();
                    for key in update.keys.iter() {
                        invocation.key(key);
                    }
                    for arg in &update.args {
                        invocation.arg(arg);
                    }
                    async move { invocation.invoke_async::<i64>(&mut conn).await }
                })
                .await;
            if done.is_none() {
                this.forget();
            }
        });
    }
}

/// One publication: the scope's keys and the script's arguments.
struct Update {
    keys: Arc<[String; 4]>,
    args: [String; 9],
}

impl Inner {
    /// Decides what of an answer is new to this process, and records it as published.
    fn update(&self, scope: Scope<'_>, seen: &Seen) -> Option<Update> {
        let now = Instant::now();
        let name = scope_name(scope);
        let keys = self.keys(&name);
        let mut views = self.views();
        let mut spare;
        let view = match views.get_mut(name.as_str()) {
            Some(view) => view,
            None => {
                spare = View {
                    keys: Arc::clone(&keys),
                    interval_us: None,
                    burst: 0,
                    published_at: None,
                    block_until: None,
                    probing: false,
                };
                &mut spare
            }
        };
        // The policy: the local gate's model of the binding quota (none with a caller's
        // quota, which every process passes itself).
        let mut policy = None;
        let mut remaining = None;
        if self.quota.is_none() {
            let (interval_us, burst) = match seen.rate {
                Some((limit, window, free)) => {
                    remaining = free.or(seen.remaining);
                    let limit = limit.max(1);
                    let interval = window.as_micros() as f64 * PACING_MARGIN / limit as f64;
                    let burst = free.map_or(1, |f| f.saturating_add(1)).min(limit);
                    (interval, fleet_burst(burst))
                }
                // Nothing modelled: no rate known (it never replaces one in Redis).
                None => (0.0, 1),
            };
            let stale = view
                .published_at
                .is_none_or(|at| now.saturating_duration_since(at) >= POLICY_TTL / 2);
            if view.probing || stale || view.interval_us != Some(interval_us) || burst > view.burst
            {
                policy = Some((interval_us, burst));
                view.interval_us = Some(interval_us);
                view.burst = view.burst.max(burst);
                view.published_at = Some(now);
            }
        }
        let init = std::mem::take(&mut view.probing);
        // A block: a refusal's delay, or a spent window until its reset.
        let interval = Duration::from_micros(view.interval_us.unwrap_or(0.0) as u64);
        let (block, bump) = match (seen.block, seen.remaining, seen.reset) {
            (Some(d), _, _) => (Some(d), true),
            (None, Some(0), Some(reset)) if reset > interval + WINDOW_RESET => (Some(reset), false),
            _ => (None, false),
        };
        let block = block.filter(|d| {
            let until = now + *d;
            let new = view
                .block_until
                .is_none_or(|known| until > known + BLOCK_SLACK);
            if new {
                view.block_until = Some(until);
            }
            new
        });
        if policy.is_none() && block.is_none() && !init {
            return None;
        }
        let (quota_interval, quota_burst) = self.quota_args();
        let (interval_us, burst) =
            policy.map_or(("-1".to_owned(), 0), |(i, b)| (format!("{i:.3}"), b));
        let block_us = block.map_or(0, |d| {
            u64::try_from(d.as_micros())
                .unwrap_or(MAX_WAIT_US)
                .min(MAX_WAIT_US)
        });
        Some(Update {
            keys,
            args: [
                interval_us,
                burst.to_string(),
                remaining.map_or_else(|| "-1".to_owned(), |r| r.to_string()),
                if init { "1" } else { "0" }.to_owned(),
                block_us.to_string(),
                if bump { "1" } else { "0" }.to_owned(),
                POLICY_TTL.as_millis().to_string(),
                quota_interval,
                quota_burst.to_string(),
            ],
        })
    }
}

/// Reserves a departure. KEYS: policy, tat, block, probe. ARGV: the longest wait (µs), the
/// probe's expiry (ms), the caller's quota interval (µs, -1: none) and burst. Returns
/// `{status, value}`: GO (0) and the wait (µs); PROBE (1): go after the wait (µs) as the
/// fleet's first contact; AWAIT (2): a probe is out, ask again (its expiry in µs); TOO_LONG
/// (3) and the wait (µs), with nothing reserved.
const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local at = now
local block = tonumber(redis.call('GET', KEYS[3]))
if block and block > at then at = block end
local interval = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
if interval < 0 then
  local policy = redis.call('HMGET', KEYS[1], 'interval', 'burst')
  if not policy[1] then
    if at - now > max_wait then return {3, at - now} end
    local ttl = tonumber(ARGV[2]) + math.ceil((at - now) / 1000)
    if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ttl) then
      return {1, at - now}
    end
    return {2, redis.call('PTTL', KEYS[4]) * 1000}
  end
  interval = tonumber(policy[1]) or 0
  burst = tonumber(policy[2]) or 1
end
if interval <= 0 then
  if at - now > max_wait then return {3, at - now} end
  return {0, at - now}
end
if burst < 1 then burst = 1 end
local tat = tonumber(redis.call('GET', KEYS[2])) or at
if tat < at then tat = at end
local depart = tat - (burst - 1) * interval
if depart < at then depart = at end
local wait = depart - now
if wait > max_wait then return {3, wait} end
local new = tat + interval
redis.call('SET', KEYS[2], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
return {0, wait}
";

/// Publishes what an answer said. KEYS: policy, tat, block, probe. ARGV: the policy's
/// interval (µs; -1: nothing to say of it; 0: no rate announced, which never replaces one)
/// and burst; what was left (-1: unknown); 1 when this is the probe's answer (the TAT is set
/// from what was left); a block (µs, 0: none); 1 when the block is a refusal's (one request
/// first when it ends); the policy's expiry (ms); the caller's quota interval (µs, -1: none)
/// and burst.
const PUBLISH: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function set_until(key, value)
  if value > now then
    local old = tonumber(redis.call('GET', key))
    if not old or value > old then
      redis.call('SET', key, string.format('%.0f', value), 'PX', math.ceil((value - now) / 1000) + 1)
    end
  end
end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local old = redis.call('HMGET', KEYS[1], 'interval', 'burst')
local old_interval = tonumber(old[1])
local old_burst = tonumber(old[2]) or 1
if interval >= 0 then
  if interval == 0 and old_interval and old_interval > 0 then
    interval = old_interval
    burst = old_burst
  elseif old_interval == interval and old_burst > burst then
    burst = old_burst
  end
  redis.call('HSET', KEYS[1], 'interval', string.format('%.3f', interval), 'burst', string.format('%.0f', burst))
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  redis.call('DEL', KEYS[4])
else
  interval = old_interval or 0
  burst = old_burst
end
if tonumber(ARGV[8]) >= 0 then
  interval = tonumber(ARGV[8])
  burst = tonumber(ARGV[9])
end
if burst < 1 then burst = 1 end
local tau = (burst - 1) * interval
local remaining = tonumber(ARGV[3])
if ARGV[4] == '1' then
  redis.call('DEL', KEYS[4])
  if interval > 0 and remaining >= 0 then
    set_until(KEYS[2], now + tau - (remaining - 1) * interval)
  end
end
local block = tonumber(ARGV[5])
if block > 0 then
  set_until(KEYS[3], now + block)
  if ARGV[6] == '1' and interval > 0 then
    set_until(KEYS[2], now + block + tau)
  end
end
return 1
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_spaces_requests_with_the_margin_and_takes_no_zero() {
        let q = Quota::per_window(100, Duration::from_secs(60));
        assert_eq!(q.interval_us().round(), 612_000.0);
        assert_eq!(q.burst, 1);
        let none = Quota::per_window(0, Duration::ZERO).burst(0);
        assert_eq!((none.requests, none.burst), (1, 1));
        assert_eq!(none.interval_us(), 0.0);
    }

    #[test]
    fn the_fleets_burst_keeps_a_fifth_in_reserve_and_never_drops_below_one() {
        let bursts: Vec<_> = [0, 1, 2, 5, 10, 11, 100].map(fleet_burst).into();
        assert_eq!(bursts, [1, 1, 1, 4, 8, 8, 80]);
    }

    #[test]
    fn the_redis_password_shows_nowhere() {
        let fleet = Fleet::new("redis://worker:canary-pw-5150@127.0.0.1:1/").unwrap();
        let pacing = fleet
            .pacing()
            .quota(Quota::per_window(5, Duration::from_secs(1)));
        let client = crate::Client::builder("https://api.example.com/")
            .shared_pacing(pacing.clone())
            .build()
            .unwrap();
        for shown in [format!("{pacing:?}"), format!("{client:?}")] {
            assert!(!shown.contains("canary-pw-5150"), "{shown}");
            assert!(shown.contains("SharedPacing"), "{shown}");
        }
    }

    #[test]
    fn scopes_are_origins_without_userinfo_and_their_bucket() {
        let url = url::Url::parse("https://user:hunter2@api.example.com:8443/v1/x?q=1").unwrap();
        let name = scope_name(Scope {
            url: &url,
            bucket: None,
        });
        assert_eq!(name, "https://api.example.com:8443");
        let name = scope_name(Scope {
            url: &url,
            bucket: Some("search"),
        });
        assert_eq!(name, "https://api.example.com:8443#search");
    }
}
