//! One quota of a server's limiter, as the client models it: what is left, when more comes
//! back, and how (all at once at a window's end, or a little at a time).
//!
//! Servers run different limiters and mostly do not say which:
//!
//! - a **fixed window** (express-rate-limit, Flask-Limiter `fixed-window`, GitHub): the
//!   counter goes back to the quota all at once when the window ends. Right: spend what is
//!   left at once, then wait for the reset. Wrong: spacing requests at quota/window, which
//!   sends them into a spent window.
//! - a **moving window** (Flask-Limiter `moving-window`, Redis sorted-set limiters): each
//!   request's slot comes back one window after it was used.
//! - a **token bucket** or **GCRA** (AWS, Stripe, `governor`): quota trickles back at
//!   quota/window. Right: once it is spent, leave one at a time at that rate; waiting for
//!   the "reset" (often the time until the bucket is full) wastes capacity.
//!
//! The model covers the first two with one rule, a **sliding log**: a request may leave when
//! the `limit`-th most recent use of the quota (our answered requests, and those in flight)
//! is a window old. Each use is dated by when its answer *arrived*, which is after the server
//! counted it, so the log never releases a request early. For a fixed window whose window
//! starts at its first request (express-rate-limit's and Flask-Limiter's memory stores), the
//! log releases the next burst exactly one window after the first answer of the last one;
//! for a moving window, each slot one window after its use. Bounds on the log (see
//! [`Quota::log_time`]) keep it from ever releasing a request earlier than a second before
//! the reset the server announced, so a wrong guess costs at most that.
//!
//! Token buckets are recognised from what they say ([`Kind::Trickle`]): a reset of zero while
//! quota is spent, or quota that grew back before the announced reset. Then spent quota is
//! paced at the announced rate. A 429 after a departure the model allowed is evidence that it
//! was wrong: a trickle model becomes a window model, and a distrusted log gives way to the
//! announced reset.
//!
//! Whole-second resets (`X-RateLimit-Reset` in epoch seconds, delta seconds rounded up) are
//! up to a second late: waiting for them costs up to half the throughput of a 2-second
//! window. The sliding log does not depend on them; when a server announces no window, its
//! length is inferred from the first answer of a window (see [`Quota::infer_window`]).

use std::{collections::VecDeque, time::Duration};

use tokio::time::Instant;

/// Pacing runs this much slower than the announced rate (2 %): sending at exactly the
/// server's refill rate leaves no slack for network jitter, and one early arrival costs a 429
/// and a `Retry-After` for everyone.
pub(crate) const PACING_MARGIN: f64 = 1.02;

/// Most uses kept in a quota's log: a quota larger than this has windows long enough (an
/// hour for GitHub's 5,000) that its announced reset is precise enough.
const MAX_LOG: u64 = 256;

/// How far before an announced reset the log may release a request: whole-second resets are
/// rounded up by less than this. An estimate earlier than that contradicts the server, so
/// the model is wrong (a window aligned to the clock, say): the reset is used instead.
const RESET_ROUNDING: Duration = Duration::from_secs(1);

/// Slack added to a window learned from the sliding log (scheduling and clock jitter).
const LOG_SLACK: Duration = Duration::from_millis(5);

/// How the quota comes back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    /// All at once at the reset (fixed window), or each slot a window after its use (moving
    /// window): spend what is left, then wait. The default: the drafts say a client should
    /// not exceed `remaining` before `reset`.
    #[default]
    Window,
    /// A little at a time (token bucket, GCRA, leaky bucket): once spent, leave one at a time
    /// at the announced rate.
    Trickle,
}

/// One quota of a bucket's server, as last reported and as learned.
#[derive(Debug, Default)]
pub(crate) struct Quota {
    /// The policy's name, when the server reported several.
    pub(crate) name: Option<Box<str>>,
    /// Requests per window (the policy's quota, or the `limit` field).
    limit: Option<u64>,
    /// The announced window.
    window: Option<Duration>,
    /// A whole-second window inferred from a first answer (no window announced).
    inferred: Option<Duration>,
    /// What the server last said was left.
    free: Option<u64>,
    /// When that report arrived.
    reported_at: Option<Instant>,
    /// When the server said more comes back.
    reset_at: Option<Instant>,
    /// How it comes back.
    pub(crate) kind: Kind,
    /// Arrival times of the latest answers counted against this quota (at most `limit`,
    /// capped at [`MAX_LOG`]), oldest first.
    log: VecDeque<Instant>,
    /// A 429 came while the log was trusted: it is not, any more.
    log_distrusted: bool,
    /// A probe is out after a reset nobody could predict: the others wait for its answer.
    probing: bool,
    /// `probing` was set by the departure being decided now (undone if it does not leave).
    claimed: bool,
}

/// What a quota says about the next departure.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No objection.
    Go,
    /// Not before this instant.
    NotBefore(Instant),
    /// Spent, and trickling back: leave one at a time, spaced by this.
    Spaced(Duration),
    /// Spent, with nothing to say when it comes back: wait for an answer.
    AwaitAnswer,
}

/// What one answer said about a quota.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) limit: Option<u64>,
    pub(crate) window: Option<Duration>,
    pub(crate) remaining: Option<u64>,
    pub(crate) reset: Option<Duration>,
    /// An epoch-seconds reset less the response's `Date` (whole seconds).
    pub(crate) reset_after_date: Option<u64>,
}

impl Quota {
    /// A quota for the policy named `name` (none for the only one).
    pub(crate) fn named(name: Option<&str>) -> Self {
        Self {
            name: name.map(Into::into),
            ..Self::default()
        }
    }

    /// The window: announced, else inferred.
    fn window(&self) -> Option<Duration> {
        self.window.or(self.inferred)
    }

    /// The spacing that keeps to the announced rate (quota / window, plus the margin).
    pub(crate) fn interval(&self) -> Option<Duration> {
        let (limit, window) = (self.limit?, self.window()?);
        let n = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
        Some(window.mul_f64(PACING_MARGIN) / n)
    }

    /// The rate as announced (or inferred): `(limit, window, what the server last said was
    /// left)`, for a fleet's shared gate.
    pub(crate) fn rate(&self) -> Option<(u64, Duration, Option<u64>)> {
        Some((self.limit?, self.window()?, self.free))
    }

    /// The decision for one more departure at `at`, with `in_flight` requests out.
    pub(crate) fn verdict(&mut self, at: Instant, in_flight: u64) -> Verdict {
        if self.reset_at.is_some_and(|reset| reset <= at) {
            // Past the reset: what the server said is left is stale. The log, or a probe,
            // tells how much came back.
            self.reset_at = None;
        }
        let Some(free) = self.free else {
            return Verdict::Go;
        };
        if free > in_flight {
            return Verdict::Go;
        }
        match self.kind {
            Kind::Trickle => match self.interval() {
                Some(interval) => Verdict::Spaced(interval),
                None => self
                    .reset_at
                    .map_or(Verdict::AwaitAnswer, Verdict::NotBefore),
            },
            Kind::Window => {
                let log = self.log_time(in_flight, at);
                match (log, self.reset_at) {
                    // The log, not the announced reset, even when the reset is sooner: a
                    // moving window's reset frees only its oldest slot, and this request may
                    // need a later one.
                    (Some(t), _) => Verdict::NotBefore(t),
                    // Only the reset to go by, and no telling how much comes back then (all
                    // of a fixed window, one slot of a moving window): one probe leaves then,
                    // its answer tells the rest.
                    (None, Some(_)) if self.probing => Verdict::AwaitAnswer,
                    (None, Some(t)) => {
                        self.probing = true;
                        self.claimed = true;
                        Verdict::NotBefore(t)
                    }
                    // Spent, and nothing says when it comes back (a reset that has passed, and
                    // no log): one probe goes, its answer tells the rest.
                    (None, None) if self.probing => Verdict::AwaitAnswer,
                    (None, None) => {
                        self.probing = true;
                        self.claimed = true;
                        Verdict::Go
                    }
                }
            }
        }
    }

    /// When the sliding log lets one more request go (see the module docs): the
    /// `limit`-th most recent use, counting `in_flight` requests as the most recent, plus a
    /// window. `None` when the log cannot tell: no window or limit known, a log too short to
    /// account for the quota, a distrusted log, or a time that contradicts the announced
    /// reset by more than its rounding.
    fn log_time(&self, in_flight: u64, now: Instant) -> Option<Instant> {
        if self.log_distrusted {
            return None;
        }
        let (limit, window) = (self.limit?, self.window()?);
        if limit > MAX_LOG {
            return None;
        }
        let answered = limit.checked_sub(in_flight)?.checked_sub(1)?;
        // The log holds the latest `limit` answers; the use `limit` back from the newest
        // (in-flight ones included) is at this index from the oldest.
        let len = self.log.len() as u64;
        let index = len.checked_sub(answered + 1)?;
        let used = *self.log.get(usize::try_from(index).ok()?)?;
        let at = used.checked_add(window)?.checked_add(LOG_SLACK)?;
        // Only a quota the server reported spent (not one spent by requests in flight, which
        // it may have counted already) is held to its reset.
        if self.free == Some(0)
            && at > now
            && let Some(reset) = self.reset_at
            && at + RESET_ROUNDING < reset
        {
            return None;
        }
        Some(at.max(now))
    }

    /// Records an answer that arrived at `now`, from a request that left at `departed`.
    /// `accepted`: the server counted it (a 2xx or other non-throttled answer).
    pub(crate) fn observe(
        &mut self,
        report: &Report,
        accepted: bool,
        departed: Instant,
        now: Instant,
    ) {
        self.probing = false;
        if report.limit.is_some() {
            self.limit = report.limit;
        }
        if report.window.is_some() {
            self.window = report.window;
        }
        let reset_at = report.reset.and_then(|r| now.checked_add(r));
        if accepted && self.limit.is_some_and(|l| l <= MAX_LOG) {
            let cap = usize::try_from(self.limit.unwrap_or(0)).unwrap_or(0);
            self.log.push_back(now);
            while self.log.len() > cap {
                self.log.pop_front();
            }
        }
        // Answers to concurrent requests arrive in any order: one from a request that left
        // before the latest report was read may be older news than that report.
        let stale = self.reported_at.is_some_and(|at| departed < at);
        if !stale {
            self.learn_kind(report);
        }
        if self.window.is_none()
            && let (Some(limit), Some(remaining), Some(reset_at)) =
                (self.limit, report.remaining, reset_at)
            && remaining + 1 == limit
        {
            self.infer_window(reset_at, report.reset_after_date, departed, now);
        }
        if let Some(remaining) = report.remaining {
            self.free = Some(match self.free {
                Some(free) if stale => free.min(remaining),
                _ => remaining,
            });
            if !stale {
                self.reported_at = Some(now);
            }
        }
        if reset_at.is_some() || report.remaining.is_some() {
            self.reset_at = reset_at;
        }
    }

    /// Tells fixed and moving windows from token buckets by what the server says.
    ///
    /// Not from quota that grows back before the reset: answers to concurrent requests
    /// arrive out of order, servers compute what is left after the fact (Flask-Limiter), and
    /// a moving window grows back one slot at a time; a token bucket that never says its reset
    /// is zero is paced as a window, which costs it nothing (it waits for the bucket to be
    /// full, then spends it).
    fn learn_kind(&mut self, report: &Report) {
        let (Some(remaining), Some(limit)) = (report.remaining, self.limit) else {
            return;
        };
        match report.reset {
            // Quota spent, and back in no time: it trickles back (a window would say when
            // it ends). Full quota with a zero reset says nothing.
            Some(reset) if reset.is_zero() && remaining < limit => self.kind = Kind::Trickle,
            // The reset is further off than a bucket at the announced rate would need to
            // refill everything used: a window.
            Some(reset) => {
                if let Some(interval) = self.interval() {
                    let used = u32::try_from(limit - remaining.min(limit)).unwrap_or(u32::MAX);
                    if reset > interval * used + RESET_ROUNDING {
                        self.kind = Kind::Window;
                    }
                }
            }
            None => {}
        }
    }

    /// Infers a whole-second window from the first answer of a window (remaining one below
    /// the limit), when the server announced none.
    ///
    /// The window started when the server counted the request, between its departure and
    /// its answer, and the announced reset `R` is its end rounded up to a whole second
    /// (express-rate-limit: `ceil`; Flask-Limiter: `int(end + 1)`): `R - 1 <= start + window
    /// <= R`. So the window is a whole number of seconds in `[R - 1 - answered, R - departed]`,
    /// a span of one second and a round trip: usually one candidate, two when the round trip
    /// straddles a second (the larger is safe: late, never early). The response's `Date` (the
    /// server's clock, whole seconds, taken as it counted) settles it: `R - Date - 1` for both
    /// roundings, when it is one of the candidates.
    fn infer_window(
        &mut self,
        reset_at: Instant,
        reset_after_date: Option<u64>,
        departed: Instant,
        now: Instant,
    ) {
        if reset_at <= now {
            return;
        }
        let hi = reset_at.saturating_duration_since(departed).as_secs();
        let lo = reset_at
            .saturating_duration_since(now)
            .saturating_sub(Duration::from_secs(1))
            .as_secs_f64()
            .ceil() as u64;
        let secs = match reset_after_date.and_then(|d| d.checked_sub(1)) {
            Some(w) if (lo..=hi).contains(&w) => w,
            _ => hi,
        };
        if secs == 0 {
            return;
        }
        let window = Duration::from_secs(secs);
        // A later window that says less is the better measurement (the larger candidate was
        // only the safe side). One that is too small (a window aligned to the clock, which
        // started before our first request) is caught by the log's bound on the announced
        // reset.
        self.inferred = Some(self.inferred.map_or(window, |known| known.min(window)));
    }

    /// A probe is out.
    pub(crate) fn is_probing(&self) -> bool {
        self.probing
    }

    /// The departure decided by the last [`Quota::verdict`] happens (`true`) or not: a probe
    /// it claimed is kept, or given back.
    pub(crate) fn settle(&mut self, departs: bool) {
        if std::mem::take(&mut self.claimed) && !departs {
            self.probing = false;
        }
    }

    /// A request counted here got no answer: if it was the probe, the next one probes.
    pub(crate) fn abandoned(&mut self) {
        self.probing = false;
    }

    /// A refusal came after a departure this model allowed: it was wrong.
    pub(crate) fn refuted(&mut self) {
        self.probing = false;
        match self.kind {
            Kind::Trickle => self.kind = Kind::Window,
            Kind::Window => self.log_distrusted = true,
        }
    }

    /// Whether this quota matches `name` (an unnamed quota matches anything).
    pub(crate) fn is(&self, name: Option<&str>) -> bool {
        self.name.as_deref() == name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_answer(reset_after_date: Option<u64>) -> Option<Duration> {
        let mut quota = Quota::named(None);
        let departed = Instant::now();
        let answered = departed + Duration::from_millis(300);
        // A slow first answer: the window's end is between 2.1 and 3.1 s after the departure,
        // so 2 and 3 s are both candidates.
        let report = Report {
            limit: Some(5),
            remaining: Some(4),
            reset: Some(Duration::from_millis(2800)),
            reset_after_date,
            ..Report::default()
        };
        quota.observe(&report, true, departed, answered);
        quota.inferred
    }

    #[tokio::test(start_paused = true)]
    async fn the_date_settles_a_window_the_round_trip_left_open() {
        assert_eq!(first_answer(Some(3)), Some(Duration::from_secs(2)));
        // Without it, the safe side (late, never early).
        assert_eq!(first_answer(None), Some(Duration::from_secs(3)));
        // A date that contradicts the timing is ignored.
        assert_eq!(first_answer(Some(9)), Some(Duration::from_secs(3)));
    }
}
