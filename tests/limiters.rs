//! Pacing against real rate-limiter software (issue 9): express-rate-limit in its four header
//! styles, Flask-Limiter's fixed and moving windows, and nginx `limit_req` (no headers at all,
//! refusing with 429 or 503). The harness (`tests/support/limiters.rs`) starts each server on
//! 127.0.0.1 and the server counts, on its side, what its limiter let through and refused.
//!
//! Every test runs the same measurement ([`measure`]): one `authed::Client` with its default
//! retry policy and default pacing, shared by [`TASKS`] tasks that make `calls` calls in all,
//! each `GET api/{i}`, each of which must succeed. It then asserts that
//!
//! - no call failed, and the server let exactly `calls` requests through;
//! - the server refused at most 1 % of `calls` *after the first contact* (refusals of
//!   requests sent before the client had any response cannot be avoided by anyone, and are
//!   not counted against it; see [`measure`] for how "before" is decided);
//! - the wall time is at most 1.10 × the ideal (the least time the server's limiter lets
//!   `calls` requests through in; each case's doc comment derives it), and at least 0.90 × it
//!   (less would mean the limiter let through more than it should: a broken setup).
//!
//! Each run prints one row of a markdown table on stderr; `-- --nocapture` shows them:
//!
//! ```sh
//! bash scripts/test.sh --test limiters -- --nocapture
//! ```
//!
//! The tests sit in `mod needs_limiters`: `AUTHED_TEST_SKIP=limiters bash scripts/test.sh`
//! skips them (and counts them as skipped); without it, a server that cannot be had fails its
//! test with the fix.

#[path = "support/limiters.rs"]
mod limiters;

use std::{
    sync::{Arc, Once, OnceLock},
    time::{Duration, Instant, SystemTime},
};

use limiters::{Event, Limiter};

/// Tasks sharing the one client.
const TASKS: usize = 4;
/// Refusals after the first contact allowed, in percent of the calls.
const MAX_REFUSED_PERCENT: usize = 1;
/// The wall time may exceed the ideal by this factor at most.
const MAX_RATIO: f64 = 1.10;
/// Below this factor of the ideal, the limiter let through more than it should.
const MIN_RATIO: f64 = 0.90;

/// Window quotas (express-rate-limit, Flask-Limiter): 5 requests per 2 s, 20 calls, so that
/// a run spans 4 windows.
const LIMIT: u32 = 5;
const WINDOW: Duration = Duration::from_secs(2);
const WINDOW_CALLS: usize = 20;

/// nginx: 100 r/s, burst 20, nodelay, 1,000 calls (9.79 s).
///
/// A limiter that says nothing can only be learned from its refusals: the requests in
/// flight when its bucket first fills are refused together (up to one per task), one more
/// refusal measures its rate, and the climb back to that rate may cost one or two. So 1 % of
/// the calls must be at least about 8: 1,000 calls. (At the rate of the first measurements,
/// 5 r/s with burst 2, that would take 200 s; BENCHMARKS.md has a 30-call row at that rate.)
const NGINX_RATE: u32 = 100;
const NGINX_BURST: u32 = 20;
const NGINX_CALLS: usize = 1000;

/// The least wall time in which a fixed-window limiter of `limit` requests per `window`
/// lets `calls` requests through, when the window starts at the client's first hit.
///
/// Both fixed windows measured here start a client's window at its first request, not at a
/// clock-aligned boundary (read in their sources, and seen with curl; see
/// `tests/limiters/README.md`): express-rate-limit's MemoryStore sets `resetTime = now +
/// windowMs` when a client's first hit comes, or its first hit after `resetTime`; limits'
/// MemoryStorage (Flask-Limiter's `memory://`) sets the counter's expiry to `now + window`
/// when the counter goes from 0 to 1. So window k (k = 1, 2, ...) opens no sooner than
/// `t0 + (k - 1) × window`, where `t0` is the first request, and takes at most `limit`
/// requests. The last of `calls` requests falls in window `ceil(calls / limit)`, so it cannot
/// be let through before `t0 + (ceil(calls / limit) - 1) × window`; a client that sends
/// `limit` requests at the opening of each window reaches that bound (plus round trips on
/// loopback: a millisecond or two).
fn ideal_fixed_window(calls: usize, limit: u32, window: Duration) -> Duration {
    let windows = calls.div_ceil(limit as usize);
    window * (windows as u32 - 1)
}

/// The least wall time in which a moving-window limiter of `limit` requests per `window`
/// lets `calls` requests through.
///
/// limits' moving window (Flask-Limiter's `moving-window`) keeps the time of every accepted
/// request and accepts one more while fewer than `limit` accepted requests are younger than
/// `window`. Request `i` (0-based) can thus be accepted no sooner than `window` after request
/// `i - limit`, so by induction no sooner than `t0 + floor(i / limit) × window`: the last,
/// `i = calls - 1`, at `t0 + (ceil(calls / limit) - 1) × window`, the same bound as the
/// fixed window, reached by sending `limit` requests at once every `window`.
fn ideal_moving_window(calls: usize, limit: u32, window: Duration) -> Duration {
    ideal_fixed_window(calls, limit, window)
}

/// The least wall time in which nginx `limit_req rate=r burst=b nodelay` lets `calls`
/// requests through.
///
/// `ngx_http_limit_req_module` keeps, per key, an `excess` (in thousandths of a request) and
/// the time of the last accepted request. A request computes `excess - r × elapsed + 1`
/// (floored at 0; a new key starts with excess 0) and is refused when that is over `b`;
/// refused requests change nothing. So `1 + b` requests pass at once, and then the excess
/// drains at `r` per second: request `k` (1-based, `k > 1 + b`) passes no sooner than
/// `t0 + (k - 1 - b) / r`. The last: `(calls - 1 - b) / r`.
fn ideal_leaky_bucket(calls: usize, rate: u32, burst: u32) -> Duration {
    Duration::from_secs_f64((calls - 1 - burst as usize) as f64 / f64::from(rate))
}

/// What one run measured.
struct Measurement {
    calls: usize,
    /// Refusals the server counted.
    refused: u64,
    /// Of those, the ones it decided after the client had its first response.
    refused_after_first_contact: u64,
    /// Attempts the client made beyond one per call (its retries).
    retries: u64,
    wall: Duration,
    ideal: Duration,
}

impl Measurement {
    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.ideal.as_secs_f64()
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {:.2} s | {:.2} s | {:.2} | {} |",
            self.calls,
            self.refused,
            self.refused_after_first_contact,
            self.wall.as_secs_f64(),
            self.ideal.as_secs_f64(),
            self.ratio(),
            self.retries,
        )
    }
}

/// Prints the table's header, once per test binary.
fn print_header() {
    static HEADER: Once = Once::new();
    HEADER.call_once(|| {
        eprintln!(
            "\n| server | calls | refused (server) | refused after 1st contact | wall | ideal | ratio | client retries |\n\
             |---|---|---|---|---|---|---|---|"
        );
    });
}

/// The answers as `+seconds status` from the first one, for failure messages.
fn timeline(events: &[Event]) -> String {
    let Some(first) = events.first().map(|e| e.at) else {
        return "(none)".into();
    };
    events
        .iter()
        .map(|e| {
            let offset =
                e.at.duration_since(first)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or_else(|e| -e.duration().as_secs_f64());
            format!("+{offset:.3} {}", e.status)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `calls` calls against `limiter` with one default `authed::Client` shared by [`TASKS`]
/// tasks (task `t` makes calls `t, t + TASKS, ...`, one after the other), prints the row and
/// asserts what the module docs say.
///
/// "After the first contact": the client notes the time (this machine's wall clock) at which
/// its first call returned a response; the servers note the time at which they decided each
/// answer, on the same clock. A refusal decided before that moment answered a request sent
/// before the client knew anything about the server; one decided after it counts against the
/// client. (A refusal decided in the microseconds between the response reaching the client
/// and the client taking the time would count as "after": the strict side. nginx logs its
/// cached millisecond clock, which may run up to a millisecond behind: the lenient side.)
/// The first call to return is taken as the first response: the first request a fresh
/// limiter sees is always let through at once, so no refusal can reach the client before
/// it. With these quotas the first contact matters for nginx only: when 4 tasks start at
/// once, 1 + burst = 3 of them pass and the 4th is refused before any answer is back. The
/// windows take 5 at once.
async fn measure(limiter: &Limiter, calls: usize, ideal: Duration) {
    let client = authed::Client::builder(limiter.url())
        .build()
        .expect("the client builds");
    // Bounded: a client that waits far too long fails the test rather than hang it.
    let limit = ideal * 2 + Duration::from_secs(10);
    let first_contact = Arc::new(OnceLock::<SystemTime>::new());

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let client = client.clone();
        let first_contact = first_contact.clone();
        tasks.spawn(async move {
            let mut failures = Vec::new();
            let mut retries = 0;
            for i in (task..calls).step_by(TASKS) {
                match client.get(&format!("api/{i}")).send().await {
                    Ok(response) => {
                        first_contact.get_or_init(SystemTime::now);
                        retries += u64::from(response.attempts().saturating_sub(1));
                        if let Err(e) = response.bytes().await {
                            failures.push(format!("GET api/{i}: reading the body: {e}"));
                        }
                    }
                    Err(e) => failures.push(format!("GET api/{i}: {e}")),
                }
            }
            (failures, retries)
        });
    }
    let run = async {
        let mut failures = Vec::new();
        let mut retries = 0;
        while let Some(joined) = tasks.join_next().await {
            let (f, r) = joined.expect("a calling task panicked");
            failures.extend(f);
            retries += r;
        }
        (failures, retries)
    };
    let outcome = tokio::time::timeout(limit, run).await;
    let wall = started.elapsed();
    let stats = limiter.stats().await;
    let Ok((failures, retries)) = outcome else {
        panic!(
            "{}: {calls} calls did not finish within {limit:?} (ideal {ideal:?}); the server \
             let {} through and refused {} so far: {}",
            limiter.name(),
            stats.ok,
            stats.refused,
            timeline(&stats.events)
        );
    };

    let refusal = limiter.refusal_status();
    let refused_after_first_contact = match first_contact.get() {
        Some(&first) => stats
            .events
            .iter()
            .filter(|e| e.status == refusal && e.at >= first)
            .count() as u64,
        None => stats.refused,
    };
    let m = Measurement {
        calls,
        refused: stats.refused,
        refused_after_first_contact,
        retries,
        wall,
        ideal,
    };
    let row = m.row(limiter.name());
    print_header();
    eprintln!("{row}");

    let mut wrong = Vec::new();
    if !failures.is_empty() {
        wrong.push(format!(
            "{} of {calls} calls failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ));
    }
    if stats.ok != calls as u64 {
        wrong.push(format!(
            "the server let {} requests through, not {calls}",
            stats.ok
        ));
    }
    if (m.refused_after_first_contact as usize) * 100 > MAX_REFUSED_PERCENT * calls {
        wrong.push(format!(
            "the server refused {} requests ({refusal}) after the first contact: more than \
             {MAX_REFUSED_PERCENT} % of {calls} calls",
            m.refused_after_first_contact
        ));
    }
    if m.ratio() > MAX_RATIO {
        wrong.push(format!(
            "{wall:.2?} is more than {MAX_RATIO} × the ideal {ideal:.2?}"
        ));
    }
    if m.ratio() < MIN_RATIO {
        wrong.push(format!(
            "{wall:.2?} is less than {MIN_RATIO} × the ideal {ideal:.2?}: the limiter let \
             requests through faster than its quota allows (is it set up as the test thinks?)"
        ));
    }
    assert!(
        wrong.is_empty(),
        "{}:\n- {}\n\n{row}\nthe server's answers: {}\nits output:\n{}",
        limiter.name(),
        wrong.join("\n- "),
        timeline(&stats.events),
        limiter.logs()
    );
}

mod needs_limiters {
    use super::*;
    use limiters::{HeaderStyle, Strategy};

    /// The measurements run one at a time (each test holds this while its server runs), as
    /// the benchmarks do: eight servers and clients at once on two cores would measure the
    /// machine's contention (a first answer that takes longer than the first-contact wait,
    /// say), not the pacing.
    async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
        static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        ALONE.lock().await
    }

    async fn express(style: HeaderStyle) {
        let _alone = one_at_a_time().await;
        let limiter = Limiter::express(style, LIMIT, WINDOW).await;
        measure(
            &limiter,
            WINDOW_CALLS,
            ideal_fixed_window(WINDOW_CALLS, LIMIT, WINDOW),
        )
        .await;
    }

    async fn flask(strategy: Strategy) {
        let _alone = one_at_a_time().await;
        let limiter = Limiter::flask(strategy, LIMIT, WINDOW).await;
        let ideal = match strategy {
            Strategy::FixedWindow => ideal_fixed_window(WINDOW_CALLS, LIMIT, WINDOW),
            Strategy::MovingWindow => ideal_moving_window(WINDOW_CALLS, LIMIT, WINDOW),
        };
        measure(&limiter, WINDOW_CALLS, ideal).await;
    }

    async fn nginx(status: u16) {
        let _alone = one_at_a_time().await;
        let limiter = Limiter::nginx(NGINX_RATE, NGINX_BURST, status).await;
        measure(
            &limiter,
            NGINX_CALLS,
            ideal_leaky_bucket(NGINX_CALLS, NGINX_RATE, NGINX_BURST),
        )
        .await;
    }

    /// `RateLimit: "5-in-2sec"; r=4; t=2` + `RateLimit-Policy: "5-in-2sec"; q=5; w=2; pk=...`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn express_draft_8_no_429s_after_first_contact_within_10_percent_of_ideal() {
        express(HeaderStyle::Draft8).await;
    }

    /// `RateLimit: limit=5, remaining=4, reset=2` + `RateLimit-Policy: 5;w=2`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn express_draft_7_no_429s_after_first_contact_within_10_percent_of_ideal() {
        express(HeaderStyle::Draft7).await;
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (delta s) + `RateLimit-Policy`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn express_draft_6_no_429s_after_first_contact_within_10_percent_of_ideal() {
        express(HeaderStyle::Draft6).await;
    }

    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch s, rounded up).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn express_legacy_no_429s_after_first_contact_within_10_percent_of_ideal() {
        express(HeaderStyle::Legacy).await;
    }

    /// `X-RateLimit-*` (reset in epoch s) and `Retry-After` on every answer, 200s too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flask_fixed_window_no_429s_after_first_contact_within_10_percent_of_ideal() {
        flask(Strategy::FixedWindow).await;
    }

    /// As the fixed window, but the reset is when the oldest request in the window ages out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flask_moving_window_no_429s_after_first_contact_within_10_percent_of_ideal() {
        flask(Strategy::MovingWindow).await;
    }

    /// No rate-limit header at all, and no Retry-After: only the 429s say anything.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nginx_429_no_refusals_after_first_contact_within_10_percent_of_ideal() {
        nginx(429).await;
    }

    /// nginx's default `limit_req_status`: a 503 without Retry-After.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nginx_503_no_refusals_after_first_contact_within_10_percent_of_ideal() {
        nginx(503).await;
    }
}
