//! The pacing gate: one per bucket, shared by all clones of a client. Every request reserves a
//! departure time from it before it is sent, and reports what the answer said (see the
//! [module docs](super) for the rules).

use std::{
    ops::Deref,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::RateLimitState;

/// How long requests to an origin wait for its first answer before going anyway. Until an
/// origin has answered once, the client does not know its limits: sending 32 requests at
/// once to a server that allows a burst of 10 collects 22 429s, and each 429 blocks the origin
/// for its `Retry-After`. One round trip of patience (on a new origin only) avoids that; the
/// cap keeps a slow first answer from holding the others for long.
pub const FIRST_CONTACT_WAIT: Duration = Duration::from_millis(250);

/// Pacing runs this much slower than the announced rate (2 %): sending at exactly the
/// server's refill rate leaves no slack for network jitter, and one early arrival costs a 429
/// and a `Retry-After` for everyone.
const PACING_MARGIN: f64 = 1.02;

/// Pacing state for one bucket (by default, one origin). Shared by all clones of a client.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    inner: Mutex<GateState>,
    /// Signalled when the origin first answers (or fails to).
    first_contact: tokio::sync::Notify,
    /// Lock-free copies of `contacted`, and of "has ever reported a limit or a delay": an
    /// origin that never did is not tracked at all, so its requests take no lock.
    contacted: AtomicBool,
    active: AtomicBool,
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
    /// Quota the server last reported.
    free: Option<u64>,
    /// When the server said its window resets.
    reset_at: Option<Instant>,
    /// Spacing between departures once the quota is gone.
    interval: Option<Duration>,
    /// `interval` comes from an announced policy (quota / window), not from limit / reset.
    policy: bool,
    /// The next free departure slot when pacing.
    next_slot: Option<Instant>,
    /// Requests reserved and not yet answered (queued ones included).
    in_flight: u64,
    /// The latest state, as reported.
    last: Option<(RateLimitState, Instant)>,
}

impl<'a> GateRef<'a> {
    /// Waits until a request may leave and returns its ticket. `waited` grows by the time
    /// spent here.
    ///
    /// # Errors
    ///
    /// [`TooLong`] when the wait would be longer than `max_wait`: the caller fails fast instead
    /// of sleeping.
    pub(crate) async fn depart(
        self,
        max_wait: Duration,
        waited: &mut Duration,
    ) -> Result<Ticket<'a>, TooLong> {
        let mut patient = true;
        loop {
            let now = Instant::now();
            match self.slot(now, patient) {
                Slot::AwaitFirstContact => {
                    // Register for the signal, then ask again: an answer that arrived in
                    // between would otherwise be missed.
                    let contact = self.first_contact();
                    tokio::pin!(contact);
                    contact.as_mut().enable();
                    if self.contacted() {
                        continue;
                    }
                    if tokio::time::timeout(FIRST_CONTACT_WAIT, contact)
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
                        gate: self,
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
                        tokio::time::sleep_until(at).await;
                    }
                    return Ok(ticket);
                }
            }
        }
    }
}

/// A departure time, before it becomes a [`Ticket`].
enum Slot {
    Depart(Instant, bool),
    AwaitFirstContact,
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
    /// The origin has not answered yet and another request is out: wait for
    /// [`Gate::first_contact`] (at most [`FIRST_CONTACT_WAIT`]), then ask again.
    AwaitFirstContact,
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
    /// Records what the response said and closes the ticket. `success` is a 2xx answer.
    pub(crate) fn observe(
        mut self,
        state: RateLimitState,
        block_for: Option<Duration>,
        success: bool,
        now: Instant,
    ) {
        let counted = std::mem::take(&mut self.open);
        if !counted && state.is_empty() && block_for.is_none() {
            return; // an untracked origin that still has nothing to say
        }
        self.gate
            .observe(state, block_for, success, counted, self.departed, now);
    }

    /// `true` when the request was counted in flight at its gate (the gate tracks limits).
    pub(crate) fn counted(&self) -> bool {
        self.open
    }

    /// When the request left.
    pub(crate) fn departed(&self) -> Instant {
        self.departed
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

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.open {
            self.gate.abandon();
        }
    }
}

impl Gate {
    /// A future that completes when the origin first answers. Create it (and `enable` it)
    /// before [`Gate::reserve`], so that no signal is missed.
    pub(crate) fn first_contact(&self) -> tokio::sync::futures::Notified<'_> {
        self.first_contact.notified()
    }

    /// `true` once the origin has answered (or failed) at least once.
    pub(crate) fn contacted(&self) -> bool {
        self.contacted.load(Ordering::Acquire)
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
            Slot::AwaitFirstContact => Reservation::AwaitFirstContact,
        }
    }

    /// Reserves a departure time; `true` when the request is counted in flight (and must be
    /// released by a ticket).
    fn slot(&self, now: Instant, patient: bool) -> Slot {
        if self.contacted.load(Ordering::Acquire) && !self.active.load(Ordering::Acquire) {
            return Slot::Depart(now, false);
        }
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if patient && !s.contacted && s.in_flight > 0 {
            return Slot::AwaitFirstContact;
        }
        let mut at = now;
        let mut unblocked = false;
        if let Some(b) = s.blocked_until {
            // The first request after a block leaves when it ends; the rest are paced.
            unblocked = true;
            if b > at {
                at = b;
            } else {
                s.blocked_until = None;
                s.blocked_at = None;
            }
        }
        if s.reset_at.is_some_and(|reset| reset <= at) {
            s.reset_at = None;
        }
        // Requests in flight may not have been counted by the server yet: assume they will be.
        let quota_left = s.free.is_none_or(|free| free > s.in_flight);
        let queue_ahead = s.next_slot.is_some_and(|slot| slot > at);
        if !quota_left || queue_ahead {
            let mut waited_for_reset = false;
            if s.free == Some(0)
                && !s.policy
                && let Some(reset) = s.reset_at
            {
                // Nothing left in this window: wait for it to reset, not for a 429.
                at = at.max(reset);
                waited_for_reset = true;
            }
            if let Some(interval) = s.interval {
                // Leave one at a time at the announced rate, never as a herd. With a policy,
                // the rate is trusted over the reset time (a token bucket refills before its
                // reset); the first paced request waits one interval unless it already waited
                // for a block or a reset.
                let first = if waited_for_reset || unblocked {
                    Some(at)
                } else {
                    at.checked_add(interval)
                };
                let slot = s.next_slot.or(first).map_or(at, |slot| slot.max(at));
                at = slot;
                s.next_slot = slot.checked_add(interval);
            }
        }
        s.in_flight += 1;
        Slot::Depart(at, true)
    }

    /// Records what a response said (its rate-limit headers, and a delay on a 429/503).
    /// `counted` says whether the request was counted in flight here; `departed` is when it
    /// left.
    pub(crate) fn observe(
        &self,
        state: RateLimitState,
        block_for: Option<Duration>,
        success: bool,
        counted: bool,
        departed: Instant,
        now: Instant,
    ) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if counted {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.contact(&mut s);
        if block_for.is_some() || !state.is_empty() {
            self.active.store(true, Ordering::Release);
        }
        if let Some(d) = block_for
            && let Some(until) = now.checked_add(d)
        {
            s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
            s.blocked_at = Some(now);
        } else if success
            && let Some(since) = s.blocked_at
            && departed >= since
        {
            // The origin served a request sent after the block began: the block is over,
            // whatever length the server announced (a `Retry-After: 3600` from a proxy must
            // not hold requests the server is answering).
            s.blocked_until = None;
            s.blocked_at = None;
        }
        if state.is_empty() {
            return;
        }
        if let Some(remaining) = state.remaining {
            s.free = Some(remaining);
            // Quota to spare beyond what is already out (queued requests count as out):
            // newcomers need not queue.
            if remaining > s.in_flight {
                s.next_slot = None;
            }
        }
        // An explicit delay on a 429/503 supersedes the window's reset time.
        s.reset_at = if block_for.is_some() {
            None
        } else {
            state.reset.and_then(|r| now.checked_add(r))
        };
        let per = |span: Duration, n: u64| {
            span.mul_f64(PACING_MARGIN) / u32::try_from(n).unwrap_or(u32::MAX)
        };
        let (interval, policy) = match (state.limit, state.window, state.reset, state.remaining) {
            (Some(q), Some(w), _, _) if q > 0 => (Some(per(w, q)), true),
            // No policy: spread what is left over the time to the reset.
            (_, None, Some(reset), Some(remaining)) if remaining > 0 => {
                (Some(per(reset, remaining)), false)
            }
            (Some(limit), None, Some(reset), _) if limit > 0 => (Some(per(reset, limit)), false),
            _ => (s.interval, s.policy),
        };
        s.interval = interval;
        s.policy = policy;
        s.last = Some((state, now));
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
        self.contact(&mut s);
    }

    fn contact(&self, s: &mut GateState) {
        if !s.contacted {
            s.contacted = true;
            self.contacted.store(true, Ordering::Release);
            self.first_contact.notify_waiters();
        }
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
mod tests {
    use super::*;

    fn depart(gate: &Gate, now: Instant) -> Instant {
        match gate.reserve(now, true) {
            Reservation::Depart(at, ticket) => {
                std::mem::forget(ticket); // stays in flight
                at
            }
            Reservation::AwaitFirstContact => panic!("the gate has been contacted"),
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
        assert!(matches!(
            gate.reserve(t0, true),
            Reservation::AwaitFirstContact
        ));
        // Impatient (waited FIRST_CONTACT_WAIT): goes anyway.
        assert!(matches!(gate.reserve(t0, false), Reservation::Depart(..)));
        ticket.observe(
            RateLimitState {
                limit: Some(10),
                remaining: Some(0),
                reset: Some(Duration::from_secs(1)),
                window: Some(Duration::from_secs(1)),
                bucket: None,
            },
            Some(Duration::from_secs(2)),
            false,
            t0,
        );
        // Blocked for 2 s by the 429; then one every 102 ms (100 ms + the margin).
        let slots: Vec<_> = (0..3).map(|_| depart(&gate, t0) - t0).collect();
        assert_eq!(
            slots,
            [
                Duration::from_secs(2),
                Duration::from_millis(2102),
                Duration::from_millis(2204)
            ]
        );
        let snap = gate.snapshot(t0 + Duration::from_millis(400)).unwrap();
        assert_eq!(snap.reset, Some(Duration::from_millis(600)));
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
            false,
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
        gate.observe(RateLimitState::default(), None, true, false, t1, t1);
        let ticket = GateRef::Default(&gate)
            .depart(Duration::from_secs(60), &mut waited)
            .await
            .expect("the block is over");
        drop(ticket);
        // A success from a request that left before the block proves nothing.
        blocked(&gate, t1, 3600);
        gate.observe(RateLimitState::default(), None, true, false, t0, t1);
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
