//! The pacing gate: one per bucket, shared by all clones of a client. Every request reserves a
//! departure time from it before it is sent, and reports what the answer said (see the
//! [module docs](super) for the rules).

use std::{
    ops::Deref,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{
    RateLimitState,
    quota::{Quota, Report, Verdict},
};

/// How long requests to an origin wait for its first answer before going anyway. Until an
/// origin has answered once, the client does not know its limits: sending 32 requests at
/// once to a server that allows a burst of 10 collects 22 429s, and each 429 blocks the origin
/// for its `Retry-After`. One round trip of patience (on a new origin only) avoids that; the
/// cap keeps a slow first answer from holding the others for long.
pub const FIRST_CONTACT_WAIT: Duration = Duration::from_millis(250);

/// Most quotas tracked per bucket (a server may announce several policies at once).
const MAX_QUOTAS: usize = 4;

/// Pacing state for one bucket (by default, one origin). Shared by all clones of a client.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    inner: Mutex<GateState>,
    /// Signalled when the origin first answers (or fails to), and when a probe is answered.
    answered: tokio::sync::Notify,
    /// Lock-free copies of `contacted`, and of "has ever reported a limit or a delay, or
    /// refused a request": an origin that never did is not tracked at all, so its requests
    /// take no lock.
    contacted: AtomicBool,
    active: AtomicBool,
    /// Counts refusals: a request whose departure time was set before the latest one asks
    /// again when its time comes (its time was set by a model that the refusal proved wrong).
    refusals: AtomicU64,
}

#[derive(Debug, Default)]
struct GateState {
    /// The origin has answered (or failed) at least once.
    contacted: bool,
    /// Nothing leaves before this (set by a 429/503 with a delay).
    blocked_until: Option<Instant>,
    /// When the block was set: a success from a request that left after it proves the block
    /// over, whatever the server said its length was.
    blocked_at: Option<Instant>,
    /// The server's quotas, as reported and learned (one, unless it announced several).
    quotas: Vec<Quota>,
    /// A rate learned from refusals that said nothing (no headers at all).
    learned: Learned,
    /// The next free departure slot when pacing at a rate.
    next_slot: Option<Instant>,
    /// Requests reserved and not yet answered (queued ones included).
    in_flight: u64,
    /// The latest state, as reported.
    last: Option<(RateLimitState, Instant)>,
}

/// What an answer was, for the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A 2xx.
    Success,
    /// A refusal: a 429, a 503, or whatever the retry policy called throttled.
    Throttled,
    /// Anything else (counted by the server, but proves nothing about a block).
    Other,
}

/// A safe rate for a server that refuses requests without saying anything about its limits
/// (nginx `limit_req`: a bare 503 or 429), learned from its refusals: additive increase,
/// multiplicative decrease, with the decrease set by measurement rather than a fixed factor.
///
/// Such a limiter is a leaky bucket, and a refusal means its bucket is full. Between two
/// refusals it went from full to full, so it drained at least what it accepted in between
/// (exactly that, unless it emptied on the way): `accepted / elapsed` is a lower bound of its
/// rate, and a tight one when the client kept it busy. A refusal while pacing at some rate
/// says that rate is too fast. So:
///
/// - what was accepted before the first refusal (the requests already in flight are refused
///   with it, and teach nothing more) is about the bucket's size;
/// - then requests leave one at a time until the next refusal: the bucket is full again, and
///   its rate is at least what was accepted since the first over the time since, and at least
///   its size over the time nothing was sent (if it emptied then);
/// - departures are then paced at that rate, less [`LEARNED_MARGIN`], and the pace grows by
///   [`LEARNED_INCREASE`] with every accepted request: when the measurement was low, the pace
///   climbs back to the server's rate;
/// - a refusal while paced: the pace was too fast. It restarts at the slower of the rate
///   measured since the last refusal and [`LEARNED_BACKOFF`] of the refused pace, and climbs
///   half as fast as before, so refusals become rare.
#[derive(Debug)]
enum Learned {
    /// Nothing refused yet.
    Unknown {
        /// Requests accepted so far.
        accepted: u64,
    },
    /// After the first refusal: a pause, then one at a time, until the next.
    Measuring {
        /// The refusal that started it.
        since: Instant,
        /// Nothing leaves before `since + pause`.
        pause: Duration,
        /// About the bucket's size: what was accepted before that refusal.
        burst: u64,
        /// When the first request left after it.
        resumed: Option<Instant>,
        /// Requests accepted since.
        accepted: u64,
    },
    /// Paced.
    Paced {
        /// Spacing between departures.
        interval: Duration,
        /// How much faster each accepted request makes the pace.
        increase: f64,
        /// The last refusal: refusals of requests that left before it belong to it.
        since: Instant,
        /// Requests accepted since.
        accepted: u64,
    },
}

impl Default for Learned {
    fn default() -> Self {
        Self::Unknown { accepted: 0 }
    }
}

/// A measurement that sees this many requests accepted one after the other (or four times the
/// burst it estimated, if more) found no limiter: the refusal was a hiccup.
const MEASURE_MAX: u64 = 64;

/// How long departures pause after the first refusal that said nothing, before measuring:
/// the bucket drains a little, not all (real burst sizes outlast it). Doubled, up to
/// [`MAX_MEASURE_PAUSE`], when not even one request drained.
const MEASURE_PAUSE: Duration = Duration::from_millis(100);

/// The longest measuring pause.
const MAX_MEASURE_PAUSE: Duration = Duration::from_secs(5);

/// The learned rate starts this much below what was measured (5 %).
const LEARNED_MARGIN: f64 = 1.05;

/// How much each accepted request speeds up the learned pace, at first (1 %).
const LEARNED_INCREASE: f64 = 0.01;

/// After each refusal while paced, the pace climbs this many times more slowly: the rate
/// measured then is close (the client kept the bucket busy), so the climb only has to find
/// what the server gains later.
const LEARNED_SLOWDOWN: f64 = 10.0;

/// After a refusal while paced, the pace restarts no slower than this share of the pace that
/// was refused.
const LEARNED_BACKOFF: f64 = 0.5;

impl Learned {
    /// A refusal that named no delay, of a request that left at `departed`.
    fn refusal(&mut self, departed: Instant, now: Instant) {
        match *self {
            // Sent before the refusal that started the measurement: part of it.
            Self::Measuring { since, .. } | Self::Paced { since, .. } if departed <= since => {}
            Self::Unknown { accepted } => {
                *self = Self::Measuring {
                    since: now,
                    pause: MEASURE_PAUSE,
                    burst: accepted.saturating_sub(1),
                    resumed: None,
                    accepted: 0,
                };
            }
            Self::Measuring {
                since,
                pause,
                burst,
                resumed,
                accepted,
            } => {
                let span = now.saturating_duration_since(since).as_secs_f64();
                let idle =
                    resumed.map_or(0.0, |r| r.saturating_duration_since(since).as_secs_f64());
                let mut rate = accepted as f64 / span;
                if rate * idle >= burst as f64 && idle > 0.0 {
                    // It may have emptied while nothing was sent: it drained its size in less
                    // than that time.
                    rate = rate.max(burst as f64 / idle);
                }
                if rate > 0.0 && rate.is_finite() {
                    *self = Self::Paced {
                        interval: Duration::from_secs_f64(LEARNED_MARGIN / rate),
                        increase: LEARNED_INCREASE,
                        since: now,
                        accepted: 0,
                    };
                } else {
                    // Refused again at once: the pause was too short for one request to
                    // drain. Measure from here, pausing twice as long.
                    *self = Self::Measuring {
                        since: now,
                        pause: (pause * 2).min(MAX_MEASURE_PAUSE),
                        burst,
                        resumed: None,
                        accepted: 0,
                    };
                }
            }
            Self::Paced {
                interval,
                increase,
                since,
                accepted,
            } => {
                let interval = if accepted > 0 {
                    // Full at both refusals: at least this much drained in between.
                    let n = u32::try_from(accepted).unwrap_or(u32::MAX);
                    now.saturating_duration_since(since).mul_f64(LEARNED_MARGIN) / n
                } else {
                    interval.div_f64(LEARNED_BACKOFF)
                };
                *self = Self::Paced {
                    interval,
                    increase: increase / LEARNED_SLOWDOWN,
                    since: now,
                    accepted: 0,
                };
            }
        }
    }

    /// A request leaves at `at`.
    fn departs(&mut self, at: Instant) {
        if let Self::Measuring { resumed, .. } = self {
            resumed.get_or_insert(at);
        }
    }

    fn accepted(&mut self) {
        match self {
            Self::Unknown { accepted } => *accepted += 1,
            Self::Measuring {
                accepted, burst, ..
            } => {
                *accepted += 1;
                if *accepted > MEASURE_MAX.max(burst.saturating_mul(4)) {
                    // Nothing refused since: that refusal was a hiccup (a 503 from a restart),
                    // not a limiter. Back to sending freely.
                    *self = Self::default();
                }
            }
            Self::Paced {
                interval,
                increase,
                accepted,
                ..
            } => {
                *accepted += 1;
                *interval = interval.div_f64(1.0 + *increase);
            }
        }
    }
}

impl<'a> GateRef<'a> {
    /// Waits until a request may leave and returns its ticket. `waited` grows by the time
    /// spent here.
    ///
    /// # Errors
    ///
    /// [`TooLong`] when the wait would be longer than `max_wait`: the caller fails fast instead
    /// of sleeping.
    #[cfg(test)]
    pub(crate) async fn depart(
        self,
        max_wait: Duration,
        waited: &mut Duration,
    ) -> Result<Ticket<'a>, TooLong> {
        self.depart_notifying(max_wait, waited, None).await
    }

    /// [`depart`](Self::depart), calling `on_wait` with the length of each wait for a
    /// departure time just before it starts (the short waits for a new origin's first answer
    /// are not reported).
    pub(crate) async fn depart_notifying(
        self,
        max_wait: Duration,
        waited: &mut Duration,
        on_wait: OnWait<'_>,
    ) -> Result<Ticket<'a>, TooLong> {
        let mut patient = true;
        let mut gate = self;
        loop {
            let now = Instant::now();
            let refusals = gate.refusals.load(Ordering::Acquire);
            match gate.slot(now, patient) {
                Slot::AwaitAnswer => {
                    // Register for the signal, then ask again: an answer that arrived in
                    // between would otherwise be missed.
                    let answer = gate.answer();
                    tokio::pin!(answer);
                    answer.as_mut().enable();
                    if !matches!(gate.slot_peek(now), Slot::AwaitAnswer) {
                        continue;
                    }
                    if tokio::time::timeout(FIRST_CONTACT_WAIT, answer)
                        .await
                        .is_err()
                    {
                        patient = false;
                    }
                    *waited += now.elapsed();
                }
                Slot::Depart(at, open) => {
                    // The ticket exists before any sleep, so that a cancelled request gives
                    // its place back.
                    let ticket = Ticket {
                        gate,
                        open,
                        departed: at,
                    };
                    if at > now {
                        let wait = at - now;
                        if wait > max_wait {
                            let snapshot = ticket.gate.snapshot(now);
                            return Err(TooLong { wait, snapshot });
                        }
                        tracing::debug!(
                            target: "authed::ratelimit",
                            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            "pacing for the server's rate limit"
                        );
                        *waited += wait;
                        if let Some(on_wait) = on_wait {
                            on_wait(wait);
                        }
                        tokio::time::sleep_until(at).await;
                        if ticket.gate.refusals.load(Ordering::Acquire) != refusals {
                            // Refused meanwhile: the time was wrong. Give the place back and
                            // ask again.
                            gate = ticket.gate.clone();
                            drop(ticket);
                            continue;
                        }
                    }
                    return Ok(ticket);
                }
            }
        }
    }
}

/// Told the length of a pacing wait before it starts (the client's
/// [`crate::ClientBuilder::on_wait`]); `None` costs nothing.
pub(crate) type OnWait<'a> = Option<&'a (dyn Fn(Duration) + Sync)>;

/// A departure time, before it becomes a [`Ticket`].
enum Slot {
    Depart(Instant, bool),
    /// The origin has not answered yet and a request is out (wait at most
    /// [`FIRST_CONTACT_WAIT`], then go anyway), or a probe is out after a reset (wait for its
    /// answer, asking again every [`FIRST_CONTACT_WAIT`]).
    AwaitAnswer,
}

/// Pacing would hold a request longer than the caller allows.
#[derive(Debug)]
pub(crate) struct TooLong {
    /// How long it would wait.
    pub(crate) wait: Duration,
    /// What the server last said, for the error.
    pub(crate) snapshot: Option<RateLimitState>,
}

/// The outcome of asking a [`Gate`] for a departure time.
#[cfg(test)]
#[derive(Debug)]
pub(crate) enum Reservation<'a> {
    /// Leave at this time, holding the ticket until the answer arrives.
    Depart(Instant, Ticket<'a>),
    /// Wait for [`Gate::answer`] (at most [`FIRST_CONTACT_WAIT`]), then ask again.
    AwaitAnswer,
}

/// One request counted as in flight at its gate. Dropping it without [`Ticket::observe`]
/// (an error, a cancelled future) releases the count.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    gate: GateRef<'a>,
    open: bool,
    departed: Instant,
}

/// A gate of an origin: its default gate (borrowed), or a named bucket's (shared).
#[derive(Clone, Debug)]
pub(crate) enum GateRef<'a> {
    Default(&'a Gate),
    Named(Arc<Gate>),
}

impl Deref for GateRef<'_> {
    type Target = Gate;

    fn deref(&self) -> &Gate {
        match self {
            Self::Default(g) => g,
            Self::Named(g) => g,
        }
    }
}

impl Ticket<'_> {
    /// Records what the response said and closes the ticket. `true` when the gate paces the
    /// retry of this refusal itself (a refusal that said nothing: see `Learned`), so that the
    /// retry needs no backoff of its own.
    pub(crate) fn observe(
        mut self,
        state: RateLimitState,
        block_for: Option<Duration>,
        outcome: Outcome,
        now: Instant,
    ) -> bool {
        let counted = std::mem::take(&mut self.open);
        if !counted && state.is_empty() && block_for.is_none() && outcome != Outcome::Throttled {
            return false; // an untracked origin that still has nothing to say
        }
        self.gate
            .observe(state, block_for, outcome, counted, self.departed, now)
    }

    /// `true` when the request was counted in flight at its gate (the gate tracks limits).
    pub(crate) fn counted(&self) -> bool {
        self.open
    }

    /// When the request left.
    pub(crate) fn departed(&self) -> Instant {
        self.departed
    }

    /// The request leaves later than its gate said (it also waited at a fleet's shared gate).
    pub(crate) fn leaves_at(&mut self, at: Instant) {
        self.departed = self.departed.max(at);
    }

    /// Closes the ticket of a request that got no answer from this gate's bucket (it was
    /// counted here, but the server named another bucket: the answer is recorded there).
    pub(crate) fn release(mut self) {
        if std::mem::take(&mut self.open) {
            self.gate.abandon();
        }
    }

    /// The gate this ticket was taken from.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl<'a> Ticket<'a> {
    /// The gate this ticket was taken from, to keep after the ticket is closed.
    pub(crate) fn gate_ref(&self) -> GateRef<'a> {
        self.gate.clone()
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.open {
            self.gate.abandon();
        }
    }
}

impl Gate {
    /// A future that completes when the bucket's next answer arrives. Create it (and
    /// `enable` it) before [`Gate::reserve`], so that no signal is missed.
    pub(crate) fn answer(&self) -> tokio::sync::futures::Notified<'_> {
        self.answered.notified()
    }

    /// Reserves a departure time for one request. `patient` is false once a request has
    /// waited [`FIRST_CONTACT_WAIT`] for the first answer.
    #[cfg(test)]
    pub(crate) fn reserve(&self, now: Instant, patient: bool) -> Reservation<'_> {
        match self.slot(now, patient) {
            Slot::Depart(at, open) => Reservation::Depart(
                at,
                Ticket {
                    gate: GateRef::Default(self),
                    open,
                    departed: at,
                },
            ),
            Slot::AwaitAnswer => Reservation::AwaitAnswer,
        }
    }

    /// Whether a request would still have to wait for an answer (nothing reserved).
    fn slot_peek(&self, now: Instant) -> Slot {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !s.contacted && s.in_flight > 0 {
            return Slot::AwaitAnswer;
        }
        if s.quotas.iter().any(Quota::is_probing)
            || (matches!(s.learned, Learned::Measuring { .. }) && s.in_flight > 0)
        {
            return Slot::AwaitAnswer;
        }
        Slot::Depart(now, false)
    }

    /// Reserves a departure time; `true` when the request is counted in flight (and must be
    /// released by a ticket).
    fn slot(&self, now: Instant, patient: bool) -> Slot {
        if self.contacted.load(Ordering::Acquire) && !self.active.load(Ordering::Acquire) {
            return Slot::Depart(now, false);
        }
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if patient && !s.contacted && s.in_flight > 0 {
            return Slot::AwaitAnswer;
        }
        let mut at = now;
        // The first request after a block or a reset leaves when it ends; the rest are paced.
        let mut waited = false;
        if let Some(b) = s.blocked_until {
            waited = true;
            if b > at {
                at = b;
            } else {
                s.blocked_until = None;
                s.blocked_at = None;
            }
        }
        let in_flight = s.in_flight;
        let mut spacing = None;
        match s.learned {
            Learned::Unknown { .. } => {}
            Learned::Measuring { since, pause, .. } => {
                // One at a time: each leaves when the previous one is answered.
                if in_flight > 0 {
                    return Slot::AwaitAnswer;
                }
                if let Some(end) = since.checked_add(pause)
                    && end > at
                {
                    at = end;
                    waited = true;
                }
            }
            Learned::Paced { interval, .. } => spacing = Some(interval),
        }
        let mut await_answer = false;
        for quota in &mut s.quotas {
            match quota.verdict(at, in_flight) {
                Verdict::Go => {}
                Verdict::NotBefore(t) => {
                    if t > at {
                        at = t;
                        waited = true;
                    }
                }
                Verdict::Spaced(interval) => spacing = spacing.max(Some(interval)),
                // A probe is out: its answer says what came back (patience lost waiting
                // for a first contact does not apply: going now would be refused).
                Verdict::AwaitAnswer => await_answer = true,
            }
        }
        for quota in &mut s.quotas {
            quota.settle(!await_answer);
        }
        if await_answer {
            return Slot::AwaitAnswer;
        }
        if let Some(interval) = spacing {
            // Leave one at a time at the rate, never as a herd; the first paced request waits
            // one interval unless it already waited for a block or a reset.
            let first = if waited {
                Some(at)
            } else {
                at.checked_add(interval)
            };
            let slot = s.next_slot.or(first).map_or(at, |slot| slot.max(at));
            at = slot;
            s.next_slot = slot.checked_add(interval);
        } else {
            s.next_slot = None;
        }
        s.learned.departs(at);
        s.in_flight += 1;
        Slot::Depart(at, true)
    }

    /// Records what a response said (its rate-limit headers, and a delay on a 429/503).
    /// `counted` says whether the request was counted in flight here; `departed` is when it
    /// left.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe(
        &self,
        state: RateLimitState,
        block_for: Option<Duration>,
        outcome: Outcome,
        counted: bool,
        departed: Instant,
        now: Instant,
    ) -> bool {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if counted {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        let throttled = outcome == Outcome::Throttled;
        if block_for.is_some() || !state.is_empty() || throttled {
            self.active.store(true, Ordering::Release);
        }
        if throttled {
            self.refusals.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(d) = block_for
            && let Some(until) = now.checked_add(d)
        {
            s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
            s.blocked_at = Some(now);
        } else if outcome == Outcome::Success
            && let Some(since) = s.blocked_at
            && departed >= since
        {
            // The origin served a request sent after the block began: the block is over,
            // whatever length the server announced (a `Retry-After: 3600` from a proxy must
            // not hold requests the server is answering).
            s.blocked_until = None;
            s.blocked_at = None;
        }
        let mut paces = false;
        if throttled {
            // A refusal of a request the model let go: the model was wrong.
            for quota in &mut s.quotas {
                quota.refuted();
            }
            if block_for.is_none() && state.is_empty() {
                s.learned.refusal(departed, now);
                paces = true;
            }
        } else if outcome == Outcome::Success {
            s.learned.accepted();
        }
        if !state.is_empty() {
            Self::record(&mut s, &state, !throttled, departed, now);
            s.last = Some((state, now));
        }
        self.contact(&mut s);
        // A probe may have been answered: its waiters ask again.
        self.answered.notify_waiters();
        paces
    }

    /// Updates the quotas from a reported state.
    fn record(
        s: &mut GateState,
        state: &RateLimitState,
        accepted: bool,
        departed: Instant,
        now: Instant,
    ) {
        // A 429's delay holds the gate (see `observe`); the reset it announces still says when
        // its spent quota comes back. Both are kept: Flask-Limiter's `Retry-After` is its
        // rounded-up reset truncated again, and says 0 while 0.3 s are left.
        let mut update = |name: Option<&str>, report: Report| {
            let at = match s.quotas.iter().position(|q| q.is(name)) {
                Some(at) => at,
                None if s.quotas.len() < MAX_QUOTAS => {
                    s.quotas.push(Quota::named(name));
                    s.quotas.len() - 1
                }
                None => return,
            };
            s.quotas[at].observe(&report, accepted, departed, now);
        };
        if state.policies.is_empty() {
            update(
                None,
                Report {
                    limit: state.limit,
                    window: state.window,
                    remaining: state.remaining,
                    reset: state.reset,
                    reset_after_date: state.reset_after_date,
                },
            );
        } else {
            for p in &state.policies {
                update(
                    Some(&p.name),
                    Report {
                        limit: p.quota,
                        window: p.window,
                        remaining: p.remaining,
                        reset: p.reset,
                        reset_after_date: None,
                    },
                );
            }
        }
    }

    /// Forgets everything the bucket's server said (blocks, quota, pacing), keeping only that
    /// it has been contacted. Requests already waiting keep their departure times.
    pub(crate) fn reset(&self) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let in_flight = s.in_flight;
        let contacted = s.contacted;
        *s = GateState {
            in_flight,
            contacted,
            ..GateState::default()
        };
        self.active.store(false, Ordering::Release);
    }

    /// Records a request that got no response.
    fn abandon(&self) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.in_flight = s.in_flight.saturating_sub(1);
        for quota in &mut s.quotas {
            quota.abandoned();
        }
        self.contact(&mut s);
        self.answered.notify_waiters();
    }

    fn contact(&self, s: &mut GateState) {
        if !s.contacted {
            s.contacted = true;
            self.contacted.store(true, Ordering::Release);
        }
    }

    /// The quota whose window is shortest (the rate that binds first), as the gate models it:
    /// `(limit, window, what the server last said was left)`. For a fleet's shared gate.
    pub(crate) fn binding_rate(&self) -> Option<(u64, Duration, Option<u64>)> {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.quotas
            .iter()
            .filter_map(Quota::rate)
            .min_by_key(|&(_, window, _)| window)
    }

    /// The latest state, with its reset counted down to `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> Option<RateLimitState> {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (state, seen) = s.last.as_ref()?;
        let mut state = state.clone();
        let elapsed = now.saturating_duration_since(*seen);
        state.reset = state.reset.map(|r| r.saturating_sub(elapsed));
        Some(state)
    }
}

#[cfg(test)]
#[path = "simulated.rs"]
mod simulated;

#[cfg(test)]
mod tests {
    use super::*;

    fn depart(gate: &Gate, now: Instant) -> Instant {
        match gate.reserve(now, true) {
            Reservation::Depart(at, ticket) => {
                std::mem::forget(ticket); // stays in flight
                at
            }
            Reservation::AwaitAnswer => panic!("the gate has been contacted"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gate_waits_for_first_contact_then_blocks_then_paces() {
        let gate = Gate::default();
        let t0 = Instant::now();
        // The first request goes; the next waits for its answer.
        let Reservation::Depart(at, ticket) = gate.reserve(t0, true) else {
            panic!()
        };
        assert_eq!(at, t0);
        assert!(matches!(gate.reserve(t0, true), Reservation::AwaitAnswer));
        // Impatient (waited FIRST_CONTACT_WAIT): goes anyway.
        assert!(matches!(gate.reserve(t0, false), Reservation::Depart(..)));
        ticket.observe(
            RateLimitState {
                limit: Some(10),
                remaining: Some(0),
                reset: Some(Duration::from_secs(1)),
                window: Some(Duration::from_secs(1)),
                ..RateLimitState::default()
            },
            Some(Duration::from_secs(2)),
            Outcome::Throttled,
            t0,
        );
        // Blocked for 2 s by the 429. Then one probe leaves; the others wait for its answer
        // (after a refusal, nothing says how much quota came back).
        let Reservation::Depart(at, probe) = gate.reserve(t0, true) else {
            panic!("the probe leaves")
        };
        assert_eq!(at - t0, Duration::from_secs(2));
        assert!(matches!(gate.reserve(t0, true), Reservation::AwaitAnswer));
        // The probe's answer: spent, and back in no time (a token bucket): one every 102 ms
        // (100 ms + the margin), starting one interval after the answer.
        let t2 = t0 + Duration::from_secs(2);
        probe.observe(
            RateLimitState {
                limit: Some(10),
                remaining: Some(0),
                reset: Some(Duration::ZERO),
                window: Some(Duration::from_secs(1)),
                ..RateLimitState::default()
            },
            None,
            Outcome::Success,
            t2,
        );
        let slots: Vec<_> = (0..3).map(|_| depart(&gate, t2) - t2).collect();
        assert_eq!(
            slots,
            [
                Duration::from_millis(102),
                Duration::from_millis(204),
                Duration::from_millis(306)
            ]
        );
        let snap = gate.snapshot(t2 + Duration::from_millis(400)).unwrap();
        assert_eq!(snap.remaining, Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_ticket_releases_its_place() {
        let gate = Gate::default();
        let t0 = Instant::now();
        let Reservation::Depart(_, ticket) = gate.reserve(t0, true) else {
            panic!()
        };
        drop(ticket); // a cancelled request
        assert_eq!(gate.inner.lock().unwrap().in_flight, 0);
        let next = gate.reserve(t0, true);
        assert!(
            matches!(next, Reservation::Depart(..)),
            "not stuck behind the dropped one"
        );
    }

    fn blocked(gate: &Gate, t0: Instant, secs: u64) {
        let Reservation::Depart(_, ticket) = gate.reserve(t0, true) else {
            panic!()
        };
        ticket.observe(
            RateLimitState::default(),
            Some(Duration::from_secs(secs)),
            Outcome::Throttled,
            t0,
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_sent_after_a_block_clears_it() {
        let gate = Gate::default();
        let t0 = Instant::now();
        blocked(&gate, t0, 3600);
        // Callers fail fast rather than wait an hour...
        let mut waited = Duration::ZERO;
        let err = GateRef::Default(&gate)
            .depart(Duration::from_secs(60), &mut waited)
            .await
            .unwrap_err();
        assert!(err.wait > Duration::from_secs(3500), "{err:?}");
        // ...until a request sent after the block (another route, a probe) succeeds.
        let t1 = t0 + Duration::from_secs(5);
        gate.observe(
            RateLimitState::default(),
            None,
            Outcome::Success,
            false,
            t1,
            t1,
        );
        let ticket = GateRef::Default(&gate)
            .depart(Duration::from_secs(60), &mut waited)
            .await
            .expect("the block is over");
        drop(ticket);
        // A success from a request that left before the block proves nothing.
        blocked(&gate, t1, 3600);
        gate.observe(
            RateLimitState::default(),
            None,
            Outcome::Success,
            false,
            t0,
            t1,
        );
        assert!(
            GateRef::Default(&gate)
                .depart(Duration::from_secs(60), &mut waited)
                .await
                .is_err()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reset_forgets_blocks_and_quota() {
        let gate = Gate::default();
        let t0 = Instant::now();
        blocked(&gate, t0, 3600);
        gate.reset();
        let mut waited = Duration::ZERO;
        let ticket = GateRef::Default(&gate)
            .depart(Duration::from_secs(1), &mut waited)
            .await
            .expect("reset clears the block");
        drop(ticket);
        assert_eq!(waited, Duration::ZERO);
        assert!(gate.snapshot(t0).is_none());
    }
}
