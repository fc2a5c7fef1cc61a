//! The gate's decisions against simulated limiters of every common kind, on tokio's paused
//! clock: each simulated server answers as its real counterpart does (header styles and
//! rounding taken from express-rate-limit 8, Flask-Limiter 4 with `limits` 5, nginx
//! `limit_req`), several tasks share one gate, and the run counts refusals and virtual time.
//! Deterministic and instant; `tests/limiters.rs` runs the real software.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{Gate, GateRef, Outcome};
use crate::ratelimit::{Policy, RateLimitState};

/// Round trip of every simulated request (half each way).
const RTT: Duration = Duration::from_millis(2);

/// The wall clock at the start of a run, in seconds since the epoch: a fractional second, so
/// that whole-second resets are rounded.
const EPOCH0: f64 = 1_700_000_000.37;

/// How the client's retry loop waits after a refusal that named no delay (unless the gate
/// paces its retry).
const BACKOFF: Duration = Duration::from_millis(500);

trait Limiter: Send + 'static {
    /// A request arriving at `at`: accepted or not, the headers' state, and the delay a
    /// refusal names (`Retry-After`).
    fn handle(&mut self, at: Instant) -> (bool, RateLimitState, Option<Duration>);
}

/// How a server writes its reset.
#[derive(Clone, Copy)]
enum Style {
    /// IETF drafts (express-rate-limit's `draft-6/7/8`): delta seconds rounded up, and the
    /// policy (quota and window).
    Draft,
    /// express-rate-limit's legacy `X-RateLimit-Reset`: epoch seconds rounded up, no window.
    EpochCeil,
    /// Flask-Limiter's `X-RateLimit-Reset`: `int(reset + 1)` epoch seconds, no window.
    EpochFloorPlusOne,
}

impl Style {
    /// The reset a response at `now` announces for a real reset at `real`.
    fn reset(self, t0: Instant, real: Instant, now: Instant) -> Duration {
        let wall = |at: Instant| EPOCH0 + (at - t0).as_secs_f64();
        let secs = match self {
            Self::Draft => (real - now).as_secs_f64().max(0.0).ceil(),
            Self::EpochCeil => wall(real).ceil() - wall(now),
            Self::EpochFloorPlusOne => (wall(real) + 1.0).floor() - wall(now),
        };
        Duration::from_secs_f64(secs.max(0.0))
    }

    fn state(
        self,
        limit: u64,
        window: Duration,
        remaining: u64,
        reset: Duration,
    ) -> RateLimitState {
        RateLimitState {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(reset),
            window: matches!(self, Self::Draft).then_some(window),
            ..RateLimitState::default()
        }
    }
}

/// A fixed window that starts at a client's first request (express-rate-limit's and
/// Flask-Limiter's memory stores).
struct FixedWindow {
    limit: u64,
    window: Duration,
    style: Style,
    t0: Instant,
    start: Option<Instant>,
    count: u64,
}

impl FixedWindow {
    fn new(limit: u64, window: Duration, style: Style) -> Self {
        Self {
            limit,
            window,
            style,
            t0: Instant::now(),
            start: None,
            count: 0,
        }
    }
}

impl Limiter for FixedWindow {
    fn handle(&mut self, at: Instant) -> (bool, RateLimitState, Option<Duration>) {
        let start = match self.start {
            Some(start) if at < start + self.window => start,
            _ => {
                self.count = 0;
                *self.start.insert(at)
            }
        };
        let accepted = self.count < self.limit;
        if accepted {
            self.count += 1;
        }
        let real = start + self.window;
        let reset = self.style.reset(self.t0, real, at);
        let state = self
            .style
            .state(self.limit, self.window, self.limit - self.count, reset);
        let retry_after = Duration::from_secs((real - at).as_secs_f64().ceil() as u64);
        (accepted, state, (!accepted).then_some(retry_after))
    }
}

/// Flask-Limiter's moving window: a log of the last `limit` requests; a slot comes back one
/// window after its use.
struct MovingWindow {
    limit: u64,
    window: Duration,
    t0: Instant,
    log: VecDeque<Instant>,
}

impl Limiter for MovingWindow {
    fn handle(&mut self, at: Instant) -> (bool, RateLimitState, Option<Duration>) {
        while self.log.front().is_some_and(|&e| e + self.window <= at) {
            self.log.pop_front();
        }
        let accepted = (self.log.len() as u64) < self.limit;
        if accepted {
            self.log.push_back(at);
        }
        let real = self.log.front().map_or(at, |&e| e) + self.window;
        let reset = Style::EpochFloorPlusOne.reset(self.t0, real, at);
        let remaining = self.limit - self.log.len() as u64;
        let state = Style::EpochFloorPlusOne.state(self.limit, self.window, remaining, reset);
        let retry_after = Duration::from_secs(reset.as_secs());
        (accepted, state, (!accepted).then_some(retry_after))
    }
}

/// A token bucket announcing itself as the demo API does: `RateLimit-Policy` q=rate, w=1,
/// and `t=0` while tokens are left.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Limiter for TokenBucket {
    fn handle(&mut self, at: Instant) -> (bool, RateLimitState, Option<Duration>) {
        self.tokens = (self.tokens + (at - self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = at;
        let accepted = self.tokens >= 1.0;
        if accepted {
            self.tokens -= 1.0;
        }
        let until_next = ((1.0 - self.tokens).max(0.0) / self.rate).ceil() as u64;
        let remaining = self.tokens.floor() as u64;
        let state = RateLimitState {
            limit: Some(self.rate as u64),
            remaining: Some(remaining),
            reset: Some(Duration::from_secs(if remaining > 0 {
                0
            } else {
                until_next
            })),
            window: Some(Duration::from_secs(1)),
            ..RateLimitState::default()
        };
        (
            accepted,
            state,
            (!accepted).then(|| Duration::from_secs(until_next.max(1))),
        )
    }
}

/// nginx `limit_req` with `burst` and `nodelay`: a leaky bucket that says nothing, not even
/// `Retry-After`.
struct LeakyBucket {
    rate: f64,
    burst: f64,
    excess: Option<(f64, Instant)>,
}

impl Limiter for LeakyBucket {
    fn handle(&mut self, at: Instant) -> (bool, RateLimitState, Option<Duration>) {
        let accepted = match self.excess {
            None => {
                self.excess = Some((0.0, at));
                true
            }
            Some((excess, last)) => {
                let excess = (excess - self.rate * (at - last).as_secs_f64()).max(0.0) + 1.0;
                let accepted = excess <= self.burst;
                if accepted {
                    self.excess = Some((excess, at));
                }
                accepted
            }
        };
        (accepted, RateLimitState::default(), None)
    }
}

/// A server with no limiter that refuses one request (a 503 while it restarts).
struct Hiccup {
    refused_once: bool,
}

impl Limiter for Hiccup {
    fn handle(&mut self, _at: Instant) -> (bool, RateLimitState, Option<Duration>) {
        let accepted = std::mem::replace(&mut self.refused_once, true);
        (accepted, RateLimitState::default(), None)
    }
}

/// Two fixed windows at once (IETF draft 8 names them): `second` and `ten`.
struct TwoWindows {
    second: FixedWindow,
    ten: FixedWindow,
}

impl Limiter for TwoWindows {
    fn handle(&mut self, at: Instant) -> (bool, RateLimitState, Option<Duration>) {
        // A request refused by either counts against neither (as a limiter checks all first).
        let (a, b) = (self.second.peek(at), self.ten.peek(at));
        let accepted = a && b;
        let policy = |name: &str, w: &mut FixedWindow| {
            let (_, s, _) = if accepted { w.handle(at) } else { w.refuse(at) };
            Policy {
                name: name.into(),
                quota: s.limit,
                window: s.window,
                remaining: s.remaining,
                reset: s.reset,
            }
        };
        let policies = vec![
            policy("second", &mut self.second),
            policy("ten", &mut self.ten),
        ];
        let tightest = policies
            .iter()
            .min_by_key(|p| p.remaining)
            .cloned()
            .unwrap_or_default();
        let state = RateLimitState {
            limit: tightest.quota,
            remaining: tightest.remaining,
            reset: tightest.reset,
            window: tightest.window,
            policies,
            ..RateLimitState::default()
        };
        let delay = (!accepted).then(|| tightest.reset.unwrap_or(Duration::from_secs(1)));
        (accepted, state, delay)
    }
}

impl FixedWindow {
    fn peek(&self, at: Instant) -> bool {
        match self.start {
            Some(start) if at < start + self.window => self.count < self.limit,
            _ => true,
        }
    }

    /// The answer to a request refused elsewhere: not counted here.
    fn refuse(&mut self, at: Instant) -> (bool, RateLimitState, Option<Duration>) {
        match self.start {
            Some(start) if at < start + self.window => {
                let reset = self.style.reset(self.t0, start + self.window, at);
                let state =
                    self.style
                        .state(self.limit, self.window, self.limit - self.count, reset);
                (false, state, None)
            }
            _ => {
                let state = self
                    .style
                    .state(self.limit, self.window, self.limit, Duration::ZERO);
                (false, state, None)
            }
        }
    }
}

/// What a run did.
#[derive(Debug)]
struct Run {
    refused: u64,
    elapsed: Duration,
}

/// `calls` successful requests from `tasks` tasks sharing one gate; a refused request goes
/// through the gate again (after [`BACKOFF`] when the refusal named no delay and the gate
/// does not pace its retry, as the client's retry loop does).
async fn run(limiter: impl Limiter, tasks: u64, calls: u64) -> Run {
    let gate = Arc::new(Gate::default());
    let server = Arc::new(Mutex::new(limiter));
    let next = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (gate, server, next, refused) = (
            Arc::clone(&gate),
            Arc::clone(&server),
            Arc::clone(&next),
            Arc::clone(&refused),
        );
        set.spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < calls {
                loop {
                    let mut waited = Duration::ZERO;
                    let ticket = GateRef::Named(Arc::clone(&gate))
                        .depart(Duration::from_secs(3600), &mut waited)
                        .await
                        .expect("no wait is that long");
                    tokio::time::sleep(RTT / 2).await;
                    let (accepted, state, delay) = server.lock().unwrap().handle(Instant::now());
                    tokio::time::sleep(RTT / 2).await;
                    let outcome = if accepted {
                        Outcome::Success
                    } else {
                        Outcome::Throttled
                    };
                    let paced = ticket.observe(state, delay, outcome, Instant::now());
                    if accepted {
                        break;
                    }
                    refused.fetch_add(1, Ordering::SeqCst);
                    if delay.is_none() && !paced {
                        tokio::time::sleep(BACKOFF).await;
                    }
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task");
    }
    Run {
        refused: refused.load(Ordering::SeqCst),
        elapsed: started.elapsed(),
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Within `slack` (a fraction) above `ideal`, and not below it.
fn assert_near(run: &Run, ideal: Duration, slack: f64) {
    assert!(
        run.elapsed >= ideal && run.elapsed <= ideal.mul_f64(1.0 + slack),
        "{run:?}: ideal {ideal:?} (+{}%)",
        slack * 100.0
    );
}

/// A fixed window of 5 per 2 s, 20 calls: four bursts, one window apart; the ideal is three
/// windows (plus the round trips of the last burst).
async fn fixed_window(style: Style) -> Run {
    run(FixedWindow::new(5, secs(2.0), style), 4, 20).await
}

#[tokio::test(start_paused = true)]
async fn a_fixed_window_with_a_policy_is_spent_at_once_then_waited_out() {
    let run = fixed_window(Style::Draft).await;
    assert_eq!(run.refused, 0, "{run:?}");
    assert_near(&run, secs(6.0), 0.02);
}

#[tokio::test(start_paused = true)]
async fn a_fixed_window_with_epoch_resets_rounded_up_needs_no_second_of_slack() {
    let run = fixed_window(Style::EpochCeil).await;
    assert_eq!(run.refused, 0, "{run:?}");
    assert_near(&run, secs(6.0), 0.02);
}

#[tokio::test(start_paused = true)]
async fn a_fixed_window_with_flask_resets_needs_no_second_of_slack() {
    let run = fixed_window(Style::EpochFloorPlusOne).await;
    assert_eq!(run.refused, 0, "{run:?}");
    assert_near(&run, secs(6.0), 0.02);
}

#[tokio::test(start_paused = true)]
async fn a_moving_window_releases_each_slot_a_window_after_its_use() {
    let limiter = MovingWindow {
        limit: 5,
        window: secs(2.0),
        t0: Instant::now(),
        log: VecDeque::new(),
    };
    let run = run(limiter, 4, 20).await;
    assert_eq!(run.refused, 0, "{run:?}");
    assert_near(&run, secs(6.0), 0.02);
}

/// Another client used the window before us: our log cannot tell when slots come back, so
/// each announced reset lets one probe go, and its answer the rest (never a herd at the reset
/// of a window that frees one slot).
#[tokio::test(start_paused = true)]
async fn a_moving_window_shared_with_others_is_probed_at_its_reset() {
    let now = Instant::now();
    let earlier = |ms: u64| now - Duration::from_millis(ms);
    let limiter = MovingWindow {
        limit: 5,
        window: secs(2.0),
        t0: now,
        log: [1900, 1500, 1100, 700, 300]
            .into_iter()
            .map(earlier)
            .collect(),
    };
    let run = run(limiter, 4, 15).await;
    // The first request finds the window full (nothing is known before it); none after.
    assert_eq!(run.refused, 1, "{run:?}");
    // The others' slots come back over the first 1.7 s, each found by a probe at its
    // announced reset (whole seconds, up to one late); ours repeat that schedule, a window on.
    assert!(run.elapsed < secs(9.0), "{run:?}");
}

#[tokio::test(start_paused = true)]
async fn a_token_bucket_is_paced_at_its_rate_not_at_its_reset() {
    let limiter = TokenBucket {
        rate: 5.0,
        burst: 3.0,
        tokens: 3.0,
        last: Instant::now(),
    };
    let run = run(limiter, 8, 60).await;
    assert_eq!(run.refused, 0, "{run:?}");
    // The burst is free, the rest come at the rate.
    assert_near(&run, secs((60.0 - 3.0) / 5.0), 0.05);
}

/// nginx `limit_req` (no headers at all): the first refusal comes with those already in
/// flight (one per task), one more measures the rate, and the climb back to the server's rate
/// costs a couple more; then none.
#[tokio::test(start_paused = true)]
async fn a_silent_leaky_bucket_is_learned_from_a_few_refusals() {
    for (rate, burst, calls, most_refused) in [(100.0, 20.0, 1000, 10), (5.0, 2.0, 100, 8)] {
        let limiter = LeakyBucket {
            rate,
            burst,
            excess: None,
        };
        let run = run(limiter, 4, calls).await;
        assert!(run.refused <= most_refused, "{rate} r/s: {run:?}");
        assert_near(&run, secs((calls as f64 - burst - 1.0) / rate), 0.10);
    }
}

/// One bare refusal starts a measurement (one request at a time); when no second refusal
/// comes, the gate goes back to sending freely rather than staying serial.
#[tokio::test(start_paused = true)]
async fn a_single_silent_refusal_does_not_serialise_a_server_for_good() {
    let run = run(
        Hiccup {
            refused_once: false,
        },
        4,
        1000,
    )
    .await;
    assert_eq!(run.refused, 1, "{run:?}");
    // Four at a time: 1000 calls take 250 round trips (0.5 s), plus the pause and the short
    // measurement; one at a time would take 2 s.
    assert!(run.elapsed < secs(1.0), "{run:?}");
}

#[tokio::test(start_paused = true)]
async fn the_tightest_of_several_policies_governs() {
    let limiter = TwoWindows {
        second: FixedWindow::new(5, secs(1.0), Style::Draft),
        ten: FixedWindow::new(12, secs(10.0), Style::Draft),
    };
    let run = run(limiter, 4, 24).await;
    assert_eq!(run.refused, 0, "{run:?}");
    // 5 + 5 + 2 in the first ten seconds (one per-second window apart), the same in the next.
    assert_near(&run, secs(12.0), 0.03);
}
