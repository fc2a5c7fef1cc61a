//! Reading what servers say about their limits: one function per header family.
//!
//! [`server_delay`] reads how long a server asked us to wait; [`RateLimitState::from_headers`]
//! reads limit / remaining / reset / window (and the bucket, when the server names one). The
//! precedence and the formats are in the [module docs](super).
//!
//! # Structured fields, and why not the `sfv` crate
//!
//! `RateLimit` and `RateLimit-Policy` are RFC 9651 structured fields: a List of items with
//! parameters (`"name";r=4;t=2;pk=:base64:`, drafts 8 and later; the draft 6/7 policy
//! `5;w=2`), or a Dictionary (draft 7's `limit=5, remaining=4, reset=2`). They are split here
//! by `parse_list`, about 100 lines that read the subset the drafts use with RFC 9651's
//! semantics (a quoted name's escapes undone, a repeated parameter's last value wins, a field
//! on several lines is one list) and are lenient where servers are sloppy.
//!
//! Issue 11 asked for the `sfv` crate instead, if it passes the property tests. It was tried,
//! and is not used, for these reasons:
//!
//! - **It does not pass them alone.** RFC 9651 refuses a whole field for any fault, and
//!   `tests/proptest_ratelimit.rs` round-trips any `u64` (`r=18446744073709551615`), which is
//!   more than the 15 digits an sf-integer may have: nearly every generated case is refused.
//!   It also refuses, as a whole, fields that this reader reads where a server is sloppy: a
//!   space before `;` or around `=`, `R=4`, a trailing comma, one bad member among good
//!   ones. Keeping that tolerance would need this parser as a fallback anyway: two parsers
//!   instead of one.
//! - **It reads nothing differently on valid input.** `sfv_oracle.rs` (tests) runs `sfv` as
//!   an oracle: on every generated List and Dictionary it accepts, `parse_list` gives the
//!   readers the same members, names, numbers, durations and partition keys (`-0` aside,
//!   zero to RFC 9651 and no number here). The oracle found the differences that were fixed
//!   when it was written (escapes, repeated and bare parameters, inner lists).
//! - **Its cost is small, and buys nothing:** 4 more crates in every build (`sfv`, `ref-cast`,
//!   `ref-cast-impl` and a second `base64`, 0.22 beside our 0.23): 187 to 191 with the
//!   default features, 99 to 103 without (`cargo tree -e normal --prefix none --no-dedupe |
//!   sort -u | wc -l`); about a second of compile time. Its newest release (0.16) needs Rust
//!   1.95, above our `rust-version` (1.89), so it would start out pinned to 0.15.
//!
//! `sfv` stays a dev-dependency, as the oracle; `express_rate_limit_fields_are_valid_rfc_9651`
//! there shows that what express-rate-limit 8 sends (`"5-in-2sec"; r=4; t=2`, a space after
//! each `;`) is valid RFC 9651 (§4.2.3.2 skips spaces after `;`), so either parser reads it.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// The longest delay any header is believed to ask for (a day). Longer values are capped, so
/// that `Instant + delay` cannot overflow; anything near it is far beyond any sane
/// `max_retry_after` and fails fast anyway.
pub const MAX_HINT: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest bucket name kept (a server that sends a kilobyte of name is not naming a bucket).
const MAX_BUCKET_NAME: usize = 64;

/// Values of `X-RateLimit-Reset` at or above this are epoch milliseconds (13 digits: any time
/// after 2001-09-09).
const EPOCH_MILLIS_FLOOR: u64 = 1_000_000_000_000;

/// Values of `X-RateLimit-Reset` at or above this (and below the millisecond floor) are epoch
/// seconds (10 digits: any time after 2001-09-09); below it, delta seconds (up to 31 years).
const EPOCH_SECONDS_FLOOR: u64 = 1_000_000_000;

/// Where a delay came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DelaySource {
    /// `Retry-After`.
    RetryAfter,
    /// `retry-after-ms`.
    RetryAfterMs,
    /// An IETF `RateLimit` field (any draft).
    RateLimit,
    /// `X-RateLimit-Reset` or `x-rate-limit-reset`.
    XRateLimitReset,
}

impl DelaySource {
    /// The header family, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetryAfter => "Retry-After",
            Self::RetryAfterMs => "retry-after-ms",
            Self::RateLimit => "RateLimit",
            Self::XRateLimitReset => "X-RateLimit-Reset",
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?;
    match value.to_str() {
        Ok(v) => Some(v.trim()),
        Err(_) => {
            tracing::debug!(target: "authed::ratelimit", header = name, "ignoring a header that is not visible ASCII");
            None
        }
    }
}

fn capped(d: Duration) -> Duration {
    d.min(MAX_HINT)
}

/// A non-negative decimal (`30`, `1.5`, or 400 digits, which saturates), by a strict grammar:
/// digits with at most one inner `.`.
fn parse_decimal(value: &str) -> Option<f64> {
    let value = value.trim();
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (value.contains('.') && frac.is_empty())
    {
        return None;
    }
    let n: f64 = value.parse().ok()?;
    Some(if n.is_finite() { n } else { f64::MAX })
}

/// Seconds from a non-negative decimal in `unit`s of a second, capped at [`MAX_HINT`].
fn decimal_duration(value: &str, units_per_second: f64) -> Option<Duration> {
    let secs = parse_decimal(value)? / units_per_second;
    Some(Duration::from_secs_f64(secs.min(MAX_HINT.as_secs_f64())))
}

/// Non-negative decimal seconds (`30`, `1.5`), capped at [`MAX_HINT`].
fn parse_seconds(value: &str) -> Option<Duration> {
    decimal_duration(value, 1.0)
}

fn parse_u64(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Saturate rather than fail on absurdly long numbers.
    Some(value.parse().unwrap_or(u64::MAX))
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (all three RFC 9110 forms).
/// A date is measured against `date` (the response's `Date` header) when that parses, else
/// against `now`; a date in the past gives zero.
#[doc(hidden)] // public for the property tests; not part of the API
pub fn parse_retry_after(value: &str, date: Option<&str>, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = parse_u64(value)?;
        return Some(capped(Duration::from_secs(secs.min(MAX_HINT.as_secs()))));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let reference = date
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or(now);
    Some(capped(
        at.duration_since(reference).unwrap_or(Duration::ZERO),
    ))
}

/// Parses `retry-after-ms`: non-negative (possibly fractional) milliseconds.
#[doc(hidden)] // public for the property tests; not part of the API
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    decimal_duration(value, 1000.0)
}

/// Parses an `X-RateLimit-Reset` value into a delay from `now`: epoch milliseconds, epoch
/// seconds or delta seconds, told apart by size (see the constants above). Fractional delta
/// seconds are accepted.
#[doc(hidden)] // public for the property tests; not part of the API
pub fn parse_x_reset(value: &str, now: SystemTime) -> Option<Duration> {
    if let Some(n) = parse_u64(value) {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let at = if n >= EPOCH_MILLIS_FLOOR {
            Duration::from_millis(n)
        } else if n >= EPOCH_SECONDS_FLOOR {
            Duration::from_secs(n)
        } else {
            return Some(capped(Duration::from_secs(n)));
        };
        return Some(capped(at.saturating_sub(since_epoch)));
    }
    parse_seconds(value)
}

/// `true` when `headers` has any rate-limit field (one pass over the names).
pub(crate) fn mentions_limits(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("ratelimit")
            || name.starts_with("x-ratelimit-")
            || name.starts_with("x-rate-limit-")
    })
}

/// `true` when `headers` has an IETF `RateLimit` field (any draft).
pub(crate) fn mentions_ietf_limits(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("ratelimit"))
}

/// One member of a structured-field list (RFC 9651 §3.1; a draft 7 dictionary member reads as
/// one whose key is `name=value`): its key and its `;name=value` parameters.
#[derive(Debug, Default)]
struct Item<'a> {
    /// The bare item: a quoted string's content (escapes undone), else the text as sent.
    key: Cow<'a, str>,
    /// The key was a quoted string (a draft 8+ policy name), not a draft 7 `name=value`.
    quoted: bool,
    /// Parameters in the order sent; a quoted value's content (escapes undone), else the text.
    params: Vec<(&'a str, Cow<'a, str>)>,
}

impl Item<'_> {
    /// The value of parameter `name`: the last one sent, as RFC 9651 §4.2.3.2 says for a key
    /// that repeats. Names are matched without regard to case (a sloppy server's `R=4`).
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }
}

/// Splits a structured-field list (RFC 9651, the subset the RateLimit drafts use) into items.
/// Quoted strings may contain `,` and `;`. Lenient where servers are sloppy (see the module
/// docs): whitespace around `;` and `=`, parameter names in any case, numbers of any length;
/// a member it cannot read yields an item nobody asks for, never an error.
fn parse_list(value: &str) -> Vec<Item<'_>> {
    split_outside_quotes(value, b',')
        .into_iter()
        .filter_map(|member| {
            if member.trim_start().starts_with('(') {
                // An inner list is no RateLimit member: keep its place, not its parameters
                // (`;` inside it would split its items' parameters out of it).
                return Some(Item {
                    key: Cow::Borrowed(member.trim()),
                    ..Item::default()
                });
            }
            let mut parts = split_outside_quotes(member, b';').into_iter();
            let key = parts.next()?.trim();
            let params = parts
                .map(|p| {
                    // A bare `;name` is the boolean true (RFC 9651 §3.1.2): no number, no text.
                    let (n, v) = p.split_once('=').unwrap_or((p, ""));
                    (n.trim(), unquote(v.trim()))
                })
                .collect();
            Some(Item {
                key: unquote(key),
                quoted: key.starts_with('"'),
                params,
            })
        })
        .collect()
}

/// The members of every line of field `name`, in order: a field sent as several lines is one
/// list (RFC 9110 §5.3 joins the lines with commas, and a list member never spans two). Each
/// line is split on its own, so that a malformed line cannot swallow the next one's members;
/// a line that is not visible ASCII is skipped.
fn parse_field<'a>(headers: &'a HeaderMap, name: &str) -> Vec<Item<'a>> {
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        match value.to_str() {
            Ok(v) => items.extend(parse_list(v.trim())),
            Err(_) => {
                tracing::debug!(target: "authed::ratelimit", header = name, "ignoring a header line that is not visible ASCII")
            }
        }
    }
    items
}

/// A quoted string's content with its escapes undone (`"a\"b"` is `a"b`); anything else as it
/// is. Lenient: text after the closing quote is dropped, a string that never closes runs to the
/// end, and `\` escapes any character (RFC 9651 allows only `\"` and `\\`).
fn unquote(value: &str) -> Cow<'_, str> {
    let Some(inner) = value.strip_prefix('"') else {
        return Cow::Borrowed(value);
    };
    let end = inner
        .bytes()
        .scan(false, |escaped, b| {
            let closes = b == b'"' && !*escaped;
            *escaped = b == b'\\' && !*escaped;
            Some(closes)
        })
        .position(|closes| closes)
        .unwrap_or(inner.len());
    let inner = &inner[..end];
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    Cow::Owned(out)
}

fn split_outside_quotes(value: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in value.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == sep && !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// `true` when a `RateLimit` field is draft 7's dictionary (`limit=.., remaining=..`): a
/// member that is not a quoted name sets one of its three keys.
fn is_draft7(items: &[Item<'_>]) -> bool {
    items.iter().any(|i| {
        let k = i.key.split_once('=').map_or("", |(k, _)| k.trim());
        !i.quoted && matches!(k, "limit" | "remaining" | "reset")
    })
}

/// The rate-limit state a response announced: any of limit, remaining, reset and window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitState {
    /// Requests allowed per window (the policy's quota, or the `limit` field).
    pub limit: Option<u64>,
    /// Requests left in the current window.
    pub remaining: Option<u64>,
    /// Time from the response until the window resets (or quota is restored).
    pub reset: Option<Duration>,
    /// The window length, when the server announced a policy.
    pub window: Option<Duration>,
    /// The bucket (quota) the server counted this request against, when it names one:
    /// GitHub's `x-ratelimit-resource` (`core`, `search`, ...) or the partition key `pk` of an
    /// IETF `RateLimit` field (draft 8 and later). Requests to one origin that land in
    /// different buckets are paced apart (see [`crate::ratelimit::Pacing`]).
    pub bucket: Option<String>,
    /// Each policy, when the server reported several (IETF draft 8 and later allow, say, 10 per
    /// second and 1,000 per hour at once: `RateLimit-Policy: "burst";q=10;w=1,
    /// "daily";q=1000;w=86400`). Empty when it reported one or none: the fields above then
    /// describe it. The fields above always describe the tightest (least remaining).
    pub policies: Vec<Policy>,
    /// An epoch-seconds reset (`X-RateLimit-Reset`) less the response's `Date`, both whole
    /// seconds: with the window's start, it tells the window's length (see
    /// `ratelimit::quota`). Not public: a detail of the pacing model.
    pub(crate) reset_after_date: Option<u64>,
}

/// One of several policies a response reported, matched by name across `RateLimit` and
/// `RateLimit-Policy` (see [`RateLimitState::policies`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The policy's name (`"burst"`).
    pub name: String,
    /// Its quota (`q`).
    pub quota: Option<u64>,
    /// Its window (`w`).
    pub window: Option<Duration>,
    /// What is left of it (`r`).
    pub remaining: Option<u64>,
    /// Time until quota comes back (`t`).
    pub reset: Option<Duration>,
}

/// Most policies kept from one response (a server that sends a hundred is not describing
/// its limits).
const MAX_POLICIES: usize = 4;

impl RateLimitState {
    /// Reads the IETF `RateLimit` / `RateLimit-Policy` fields (drafts 6 to 10) and the
    /// de-facto `X-RateLimit-*` / `X-Rate-Limit-*` headers. IETF fields win where both exist.
    pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Self {
        let mut state = Self::default();
        // Most responses carry none of these: one pass over the names says so cheaply.
        if !mentions_limits(headers) {
            return state;
        }
        state.bucket = header(headers, "x-ratelimit-resource")
            .filter(|v| !v.is_empty() && v.len() <= MAX_BUCKET_NAME)
            .map(str::to_owned);
        state.read_ratelimit(&parse_field(headers, "ratelimit"));
        state.read_policy(&parse_field(headers, "ratelimit-policy"));
        state.read_separate_fields(headers, now);
        if state.policies.len() < 2 {
            // One policy: the fields above say it all.
            state.policies.clear();
        }
        state
    }

    /// `RateLimit`: draft 8+ (`"name";r=..;t=..`, several policies, the tightest governs) or
    /// draft 7 (`limit=.., remaining=.., reset=..`).
    fn read_ratelimit(&mut self, items: &[Item<'_>]) {
        if is_draft7(items) {
            // A dictionary: a later member replaces an earlier one of the same name (RFC 9651
            // §4.2.2), a bare `limit` included (a boolean, so no number).
            for item in items.iter().filter(|i| !i.quoted) {
                let (k, v) = item.key.split_once('=').unwrap_or((&item.key, ""));
                let v = unquote(v.trim());
                match k.trim() {
                    "limit" => self.limit = parse_u64(&v),
                    "remaining" => self.remaining = parse_u64(&v),
                    "reset" => self.reset = parse_seconds(&v),
                    _ => {}
                }
            }
            return;
        }
        for item in items {
            if self.bucket.is_none() {
                self.bucket = item
                    .param("pk")
                    .filter(|pk| !pk.is_empty() && pk.len() <= MAX_BUCKET_NAME)
                    .map(str::to_owned);
            }
            let r = item.param("r").and_then(parse_u64);
            let t = item.param("t").and_then(parse_seconds);
            if let Some(p) = self.policy_named(item) {
                p.remaining = r;
                p.reset = t;
            }
            let tighter = match (r, self.remaining) {
                (Some(r), Some(cur)) => r < cur,
                (Some(_), None) => true,
                _ => false,
            };
            if tighter {
                self.remaining = r;
                self.reset = t.or(self.reset);
            } else if self.reset.is_none() {
                self.reset = t;
            }
        }
    }

    /// `RateLimit-Policy` (draft 8+ `"name";q=..;w=..`, draft 7 `100;w=60`): the policy with
    /// the shortest window paces us, it is the one we hit first.
    fn read_policy(&mut self, items: &[Item<'_>]) {
        for item in items {
            if let Some(p) = self.policy_named(item) {
                p.quota = item.param("q").and_then(parse_u64);
                p.window = item.param("w").and_then(parse_seconds);
            }
        }
        let best = items
            .iter()
            .filter_map(|i| {
                let q = i
                    .param("q")
                    .and_then(parse_u64)
                    .or_else(|| parse_u64(&i.key))?;
                let w = i.param("w").and_then(parse_seconds)?;
                Some((q, w))
            })
            .filter(|(q, w)| *q > 0 && !w.is_zero())
            .min_by_key(|(_, w)| *w);
        if let Some((q, w)) = best {
            self.limit = self.limit.or(Some(q));
            self.window = Some(w);
        }
    }

    /// The entry of a draft 8+ member (a quoted name) in [`Self::policies`], added if new.
    fn policy_named(&mut self, item: &Item<'_>) -> Option<&mut Policy> {
        if !item.quoted || item.key.is_empty() || item.key.len() > MAX_BUCKET_NAME {
            return None;
        }
        let at = match self.policies.iter().position(|p| p.name == *item.key) {
            Some(at) => at,
            None if self.policies.len() < MAX_POLICIES => {
                self.policies.push(Policy {
                    name: item.key.clone().into_owned(),
                    ..Policy::default()
                });
                self.policies.len() - 1
            }
            None => return None,
        };
        self.policies.get_mut(at)
    }

    /// Draft 6 (`RateLimit-Limit`, `-Remaining`, `-Reset`) and the de-facto `X-RateLimit-*`
    /// and `X-Rate-Limit-*` (GitHub, Twitter/X, many others), each filling only what the
    /// fields above left empty.
    fn read_separate_fields(&mut self, headers: &HeaderMap, now: SystemTime) {
        self.limit = self
            .limit
            .or_else(|| header(headers, "ratelimit-limit").and_then(parse_u64));
        self.remaining = self
            .remaining
            .or_else(|| header(headers, "ratelimit-remaining").and_then(parse_u64));
        self.reset = self
            .reset
            .or_else(|| header(headers, "ratelimit-reset").and_then(parse_seconds));
        for [limit, remaining, reset] in [
            [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ],
            [
                "x-rate-limit-limit",
                "x-rate-limit-remaining",
                "x-rate-limit-reset",
            ],
        ] {
            self.limit = self
                .limit
                .or_else(|| header(headers, limit).and_then(parse_u64));
            self.remaining = self
                .remaining
                .or_else(|| header(headers, remaining).and_then(parse_u64));
            if self.reset.is_none()
                && let Some(value) = header(headers, reset)
            {
                self.reset = parse_x_reset(value, now);
                self.reset_after_date = parse_u64(value)
                    .filter(|n| (EPOCH_SECONDS_FLOOR..EPOCH_MILLIS_FLOOR).contains(n))
                    .zip(header(headers, "date").and_then(|d| httpdate::parse_http_date(d).ok()))
                    .and_then(|(reset, date)| {
                        let date = date.duration_since(UNIX_EPOCH).ok()?.as_secs();
                        reset.checked_sub(date)
                    });
            }
        }
    }

    /// A `Retry-After` took precedence over the reset of every spent quota.
    pub(crate) fn supersede_reset(&mut self, delay: Duration) {
        if self.remaining == Some(0) {
            self.reset = Some(delay);
        }
        for p in &mut self.policies {
            if p.remaining == Some(0) {
                p.reset = Some(delay);
            }
        }
    }

    /// `true` when no field was found.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// How long the server asked us to wait, by the precedence in the [module docs](crate::ratelimit).
/// Call it only for statuses where a delay is meaningful (429, 503, 3xx): servers such as
/// Flask-Limiter send `Retry-After` on successes too.
pub fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<(Duration, DelaySource)> {
    if let Some(v) = header(headers, "retry-after") {
        match parse_retry_after(v, header(headers, "date"), now) {
            Some(d) => return Some((d, DelaySource::RetryAfter)),
            None => {
                tracing::debug!(target: "authed::ratelimit", "ignoring an unparsable Retry-After")
            }
        }
    }
    if let Some(v) = header(headers, "retry-after-ms") {
        match parse_retry_after_ms(v) {
            Some(d) => return Some((d, DelaySource::RetryAfterMs)),
            None => {
                tracing::debug!(target: "authed::ratelimit", "ignoring an unparsable retry-after-ms")
            }
        }
    }
    let ietf = {
        let mut only_ietf = HeaderMap::new();
        for name in ["ratelimit", "ratelimit-policy", "ratelimit-reset"] {
            for v in headers.get_all(name) {
                only_ietf.append(name, v.clone());
            }
        }
        RateLimitState::from_headers(&only_ietf, now)
    };
    if let Some(reset) = ietf.reset {
        return Some((reset, DelaySource::RateLimit));
    }
    for name in ["x-ratelimit-reset", "x-rate-limit-reset"] {
        if let Some(d) = header(headers, name).and_then(|v| parse_x_reset(v, now)) {
            return Some((d, DelaySource::XRateLimitReset));
        }
    }
    None
}

#[cfg(test)]
#[path = "sfv_oracle.rs"]
mod sfv_oracle;

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn at(s: &str) -> SystemTime {
        httpdate::parse_http_date(s).unwrap()
    }

    #[test]
    fn retry_after_seconds_and_all_three_date_forms() {
        let now = at("Sun, 06 Nov 1994 08:49:07 GMT");
        assert_eq!(
            parse_retry_after("120", None, now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", None, now), Some(Duration::ZERO));
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(form, None, now),
                Some(Duration::from_secs(30)),
                "{form}"
            );
        }
        // Past dates mean now.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", None, now),
            Some(Duration::ZERO)
        );
        // The response's Date wins over our clock.
        let skewed = at("Sun, 06 Nov 1994 09:00:00 GMT");
        assert_eq!(
            parse_retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                Some("Sun, 06 Nov 1994 08:49:07 GMT"),
                skewed
            ),
            Some(Duration::from_secs(30))
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "12 34",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, None, now), None, "{bad}");
        }
        assert_eq!(
            parse_retry_after("99999999999999999999999", None, now),
            Some(MAX_HINT)
        );
    }

    #[test]
    fn x_reset_is_told_apart_by_size() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_x_reset("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_x_reset("1700000045", now),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            parse_x_reset("1700000001500", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_x_reset("1699999999", now), Some(Duration::ZERO));
        assert_eq!(
            parse_x_reset("1.25", now),
            Some(Duration::from_millis(1250))
        );
        assert_eq!(parse_x_reset("x", now), None);
    }

    #[test]
    fn precedence() {
        let now = SystemTime::now();
        let h = headers(&[
            ("retry-after", "7"),
            ("retry-after-ms", "1500"),
            ("ratelimit", "\"default\";r=0;t=30"),
            ("x-ratelimit-reset", "40"),
        ]);
        assert_eq!(
            server_delay(&h, now),
            Some((Duration::from_secs(7), DelaySource::RetryAfter))
        );
        let h = headers(&[("retry-after", "garbage"), ("retry-after-ms", "1500")]);
        assert_eq!(
            server_delay(&h, now),
            Some((Duration::from_millis(1500), DelaySource::RetryAfterMs))
        );
        let h = headers(&[
            ("ratelimit", "\"default\";r=0;t=30"),
            ("x-ratelimit-reset", "40"),
        ]);
        assert_eq!(
            server_delay(&h, now),
            Some((Duration::from_secs(30), DelaySource::RateLimit))
        );
        let h = headers(&[("ratelimit", "limit=100, remaining=0, reset=12")]);
        assert_eq!(
            server_delay(&h, now),
            Some((Duration::from_secs(12), DelaySource::RateLimit))
        );
        let h = headers(&[("ratelimit-reset", "9")]);
        assert_eq!(
            server_delay(&h, now),
            Some((Duration::from_secs(9), DelaySource::RateLimit))
        );
        let h = headers(&[("x-rate-limit-reset", "5")]);
        assert_eq!(
            server_delay(&h, now),
            Some((Duration::from_secs(5), DelaySource::XRateLimitReset))
        );
        assert_eq!(server_delay(&HeaderMap::new(), now), None);
    }

    #[test]
    fn state_from_each_family() {
        let now = SystemTime::now();
        let s = RateLimitState::from_headers(
            &headers(&[
                ("ratelimit", "\"burst\";r=5;t=1, \"daily\";r=900;t=3600"),
                (
                    "ratelimit-policy",
                    "\"burst\";q=10;w=1, \"daily\";q=1000;w=86400",
                ),
            ]),
            now,
        );
        assert_eq!(s.remaining, Some(5));
        assert_eq!(s.reset, Some(Duration::from_secs(1)));
        assert_eq!(s.limit, Some(10));
        assert_eq!(s.window, Some(Duration::from_secs(1)));

        let s = RateLimitState::from_headers(
            &headers(&[
                ("ratelimit", "limit=100, remaining=50, reset=30"),
                ("ratelimit-policy", "100;w=60"),
            ]),
            now,
        );
        assert_eq!((s.limit, s.remaining), (Some(100), Some(50)));
        assert_eq!(s.window, Some(Duration::from_secs(60)));

        let s = RateLimitState::from_headers(
            &headers(&[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "4999"),
                ("x-ratelimit-reset", "60"),
            ]),
            now,
        );
        assert_eq!((s.limit, s.remaining), (Some(5000), Some(4999)));
        assert_eq!(s.reset, Some(Duration::from_secs(60)));
        assert!(RateLimitState::from_headers(&headers(&[("ratelimit", ";;,,\"")]), now).is_empty());
    }

    /// express-rate-limit 8's draft 8 style, as it is on the wire (tests/limiters/README.md):
    /// a space after each `;` (which RFC 9651 allows), the partition key a byte sequence.
    #[test]
    fn express_rate_limit_draft8_fields_are_read() {
        let now = SystemTime::now();
        let s = RateLimitState::from_headers(
            &headers(&[
                ("ratelimit", "\"5-in-2sec\"; r=4; t=2"),
                (
                    "ratelimit-policy",
                    "\"5-in-2sec\"; q=5; w=2; pk=:MTJjYTE3YjQ5YWYy:",
                ),
            ]),
            now,
        );
        assert_eq!((s.limit, s.remaining), (Some(5), Some(4)));
        assert_eq!(s.reset, Some(Duration::from_secs(2)));
        assert_eq!(s.window, Some(Duration::from_secs(2)));
        // One policy: described by the fields above, not listed.
        assert!(s.policies.is_empty());
        // The partition key is read from `RateLimit` (express sends it in the policy only).
        assert_eq!(s.bucket, None);
        let s = RateLimitState::from_headers(
            &headers(&[(
                "ratelimit",
                "\"5-in-2sec\"; r=0; t=1; pk=:MTJjYTE3YjQ5YWYy:",
            )]),
            now,
        );
        assert_eq!(s.bucket.as_deref(), Some(":MTJjYTE3YjQ5YWYy:"));
        assert_eq!(
            server_delay(&headers(&[("ratelimit", "\"5-in-2sec\"; r=0; t=1")]), now),
            Some((Duration::from_secs(1), DelaySource::RateLimit))
        );
    }

    /// Sloppier than RFC 9651 allows, and still read: spaces before `;` and around `=`,
    /// upper-case parameter names, a trailing comma, a member that is not one.
    #[test]
    fn sloppy_fields_are_read() {
        let now = SystemTime::now();
        for field in [
            "\"p\" ; r=4 ; t=2",
            "\"p\";r = 4;t = 2",
            "\"p\";R=4;T=2",
            "\"p\";r=4;t=2,",
            "!!, \"p\";r=4;t=2",
        ] {
            let s = RateLimitState::from_headers(&headers(&[("ratelimit", field)]), now);
            assert_eq!(s.remaining, Some(4), "{field}");
            assert_eq!(s.reset, Some(Duration::from_secs(2)), "{field}");
        }
        let s = RateLimitState::from_headers(
            &headers(&[("ratelimit", "limit = 5, remaining =0, reset= 2,")]),
            now,
        );
        assert_eq!((s.limit, s.remaining), (Some(5), Some(0)));
        assert_eq!(s.reset, Some(Duration::from_secs(2)));
    }

    /// A field sent as several lines is one list (RFC 9110 §5.3), for `RateLimit`,
    /// `RateLimit-Policy` and the delay alike; a malformed line does not take the next with it.
    #[test]
    fn a_field_on_several_lines_is_one_list() {
        let now = SystemTime::now();
        let h = headers(&[
            ("ratelimit", "\"burst\";r=5;t=1"),
            ("ratelimit", "\"daily\";r=0;t=3600"),
            ("ratelimit-policy", "\"burst\";q=10;w=1"),
            ("ratelimit-policy", "\"daily\";q=1000;w=86400"),
        ]);
        let s = RateLimitState::from_headers(&h, now);
        assert_eq!(s.policies.len(), 2);
        let daily = s.policies.iter().find(|p| p.name == "daily").unwrap();
        assert_eq!(daily.remaining, Some(0));
        assert_eq!(daily.quota, Some(1000));
        assert_eq!(daily.window, Some(Duration::from_secs(86400)));
        // The tightest (least remaining) is on the second line.
        assert_eq!(s.remaining, Some(0));
        assert_eq!(s.reset, Some(Duration::from_secs(3600)));
        assert_eq!(
            server_delay(&h, now),
            Some((Duration::from_secs(3600), DelaySource::RateLimit))
        );

        // Draft 7's dictionary split over two lines.
        let s = RateLimitState::from_headers(
            &headers(&[
                ("ratelimit", "limit=5"),
                ("ratelimit", "remaining=0, reset=2"),
            ]),
            now,
        );
        assert_eq!((s.limit, s.remaining), (Some(5), Some(0)));
        assert_eq!(s.reset, Some(Duration::from_secs(2)));

        // An unclosed quote on the first line ends with it.
        let s = RateLimitState::from_headers(
            &headers(&[("ratelimit", "\"open;r=9"), ("ratelimit", "\"p\";r=4;t=2")]),
            now,
        );
        assert_eq!(s.remaining, Some(4));
        assert_eq!(s.reset, Some(Duration::from_secs(2)));
    }

    /// RFC 9651's semantics where the drafts' fields use them: a quoted name's escapes are
    /// undone, a repeated parameter's last value wins, a bare `;r` is no number.
    #[test]
    fn names_and_parameters_follow_rfc_9651() {
        let now = SystemTime::now();
        let s = RateLimitState::from_headers(
            &headers(&[
                ("ratelimit", r#""a\"b";r=1;t=1, "c\\";r=2;t=2"#),
                ("ratelimit-policy", r#""a\"b";q=5;w=1, "c\\";q=6;w=2"#),
            ]),
            now,
        );
        let names: Vec<&str> = s.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a\"b", "c\\"]);
        assert_eq!(s.policies[0].quota, Some(5));
        let s = RateLimitState::from_headers(&headers(&[("ratelimit", "\"p\";r=9;r=3;t=1")]), now);
        assert_eq!(s.remaining, Some(3));
        let s = RateLimitState::from_headers(&headers(&[("ratelimit", "\"p\";r=9;r;t=1")]), now);
        assert_eq!(s.remaining, None);
        assert_eq!(s.reset, Some(Duration::from_secs(1)));
    }

    #[test]
    fn buckets_are_read_from_github_and_the_partition_key() {
        let now = SystemTime::now();
        let s = RateLimitState::from_headers(
            &headers(&[
                ("x-ratelimit-resource", "search"),
                ("x-ratelimit-remaining", "0"),
            ]),
            now,
        );
        assert_eq!(s.bucket.as_deref(), Some("search"));
        let s = RateLimitState::from_headers(
            &headers(&[("ratelimit", "\"default\";r=3;t=10;pk=:dXNlcjE=:")]),
            now,
        );
        assert_eq!(s.bucket.as_deref(), Some(":dXNlcjE=:"));
        assert_eq!(s.remaining, Some(3));
        let long = "x".repeat(MAX_BUCKET_NAME + 1);
        let s = RateLimitState::from_headers(&headers(&[("x-ratelimit-resource", &long)]), now);
        assert_eq!(s.bucket, None);
    }
}
