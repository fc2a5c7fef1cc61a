//! Property tests for the rate-limit header parsers (`authed::ratelimit`), which read
//! untrusted server input: arbitrary strings and header bytes never panic and never produce a
//! delay above `MAX_HINT`; valid values of every supported family round-trip; and
//! `server_delay` honours the documented precedence (Retry-After > retry-after-ms > RateLimit >
//! X-RateLimit-Reset).
//!
//! HTTP dates are formatted here from the calendar (an independent oracle), and checked
//! against `httpdate::fmt_http_date` for the IMF-fixdate form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authed::{
    RateLimitState,
    http::{HeaderMap, HeaderName, HeaderValue},
    ratelimit::{
        DelaySource, MAX_HINT, parse_retry_after, parse_retry_after_ms, parse_x_reset, server_delay,
    },
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// No regression files: other people work in `tests/` concurrently.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const DAY: u64 = 86_400;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn capped(d: Duration) -> Duration {
    d.min(MAX_HINT)
}

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("test builds valid header values"),
        );
    }
    h
}

/// A client clock that may be arbitrarily wrong: from about 1875 to 2223, with nanoseconds.
fn any_now() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        4 => (0u64..=8_000_000_000, 0u32..1_000_000_000)
            .prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n)),
        1 => (1u64..=3_000_000_000, 0u32..1_000_000_000)
            .prop_map(|(s, n)| UNIX_EPOCH - Duration::new(s, n)),
        1 => Just(UNIX_EPOCH),
    ]
}

/// A whole-second instant within 30 years of the real now (so between 1996 and 2056: inside
/// the range of HTTP dates and inside RFC 850's two-digit-year window, 1970 to 2069).
fn recent_instant() -> impl Strategy<Value = SystemTime> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let span = 30 * 365 * DAY;
    (now - span..=now + span).prop_map(|s| UNIX_EPOCH + secs(s))
}

#[derive(Clone, Copy, Debug)]
enum DateForm {
    Imf,
    Rfc850,
    Asctime,
}

fn date_form() -> impl Strategy<Value = DateForm> {
    prop_oneof![
        Just(DateForm::Imf),
        Just(DateForm::Rfc850),
        Just(DateForm::Asctime)
    ]
}

/// Index 0 is Sunday.
const WEEKDAYS: [(&str, &str); 7] = [
    ("Sun", "Sunday"),
    ("Mon", "Monday"),
    ("Tue", "Tuesday"),
    ("Wed", "Wednesday"),
    ("Thu", "Thursday"),
    ("Fri", "Friday"),
    ("Sat", "Saturday"),
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

/// `t` (after 1970, whole seconds used) as an HTTP date in one of RFC 9110's three forms.
fn format_date(t: SystemTime, form: DateForm) -> String {
    let s = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let days = s / DAY;
    let sod = s % DAY;
    let (h, mi, se) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let (wd, weekday) = WEEKDAYS[usize::try_from((days + 4) % 7).expect("small")];
    let mon = MONTHS[usize::try_from(m - 1).expect("small")];
    match form {
        DateForm::Imf => format!("{wd}, {d:02} {mon} {y:04} {h:02}:{mi:02}:{se:02} GMT"),
        DateForm::Rfc850 => format!(
            "{weekday}, {d:02}-{mon}-{:02} {h:02}:{mi:02}:{se:02} GMT",
            y % 100
        ),
        DateForm::Asctime => format!("{wd} {mon} {d:>2} {h:02}:{mi:02}:{se:02} {y:04}"),
    }
}

/// Any valid HTTP date (1970 to 9999) in any form, for fuzzing the date paths.
fn any_date_string() -> impl Strategy<Value = String> {
    (0u64..=253_402_300_799, date_form()).prop_map(|(s, f)| format_date(UNIX_EPOCH + secs(s), f))
}

/// Pieces of the grammars these parsers read, including numbers on every size boundary
/// (`X-RateLimit-Reset` tells delta / epoch seconds / epoch millis apart by size) and around
/// `u64::MAX`.
const TOKENS: &[&str] = &[
    "0",
    "1",
    "7",
    "30",
    "60",
    "86400",
    "86401",
    "999999999",
    "1000000000",
    "1700000000",
    "999999999999",
    "1000000000000",
    "1700000000000",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    ".",
    "-",
    "+",
    " ",
    "\t",
    ",",
    ";",
    "\"",
    "=",
    "\\",
    "r",
    "t",
    "q",
    "w",
    "limit",
    "remaining",
    "reset",
    "default",
    "e",
    "E",
    "inf",
    "NaN",
    "Sun, ",
    "Sunday, ",
    "06 Nov 1994 ",
    "06-Nov-94 ",
    "Nov  6 ",
    "08:49:37",
    " GMT",
    "1994",
    "é",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..12).prop_map(|v| v.concat())
}

/// Strings for the parsers: anything, or biased to the characters their grammars use.
fn fuzz_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        3 => r#"[0-9.+\- ,;"=rtqwlimaengs]{0,40}"#,
        3 => token_soup(),
        1 => "[0-9]{1,400}(\\.[0-9]{0,400})?",
        1 => any_date_string(),
    ]
}

/// Every header the parsers read.
const HEADER_NAMES: &[&str] = &[
    "retry-after",
    "retry-after-ms",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "date",
];

/// Raw header bytes: anything (including obs-text and control bytes), or text from
/// [`fuzz_string`].
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..24),
        1 => prop::collection::vec(
            prop_oneof![3 => 0x20u8..0x7f, 1 => 0x80u8..=0xff, 1 => Just(b'\t')],
            0..24
        ),
        4 => fuzz_string().prop_map(String::into_bytes),
    ]
}

/// A header map with any number of values (possibly repeated) under the headers above; byte
/// strings that are not valid header values (`HeaderValue::from_bytes` refuses them) are
/// skipped.
fn header_map() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((prop::sample::select(HEADER_NAMES), header_bytes()), 0..16).prop_map(
        |pairs| {
            let mut h = HeaderMap::new();
            for (name, bytes) in pairs {
                if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                    h.append(HeaderName::from_static(name), v);
                }
            }
            h
        },
    )
}

/// What a header reads as text, the way a server's value is seen by the parsers.
fn visible<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)?.to_str().ok().map(str::trim)
}

fn check_state_bounded(s: &RateLimitState) -> Result<(), TestCaseError> {
    if let Some(r) = s.reset {
        prop_assert!(r <= MAX_HINT, "reset {r:?} > MAX_HINT in {s:?}");
    }
    if let Some(w) = s.window {
        prop_assert!(w <= MAX_HINT, "window {w:?} > MAX_HINT in {s:?}");
    }
    Ok(())
}

/// A structured-field string (`"..."`, with `"` and `\` escaped) naming a policy: any
/// printable ASCII, or a few names that servers use or that look like draft-7 keys.
fn policy_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,12}",
        1 => prop::sample::select(&["default", "burst", "limit", "remaining", "reset"][..])
            .prop_map(str::to_owned),
    ]
    .prop_map(|name| {
        let escaped: String = name
            .chars()
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    })
}

// ---------------------------------------------------------------------------------------------
// 1. Arbitrary strings never panic; any result is at most MAX_HINT.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn parse_retry_after_is_total_and_bounded(
        value in fuzz_string(),
        date in prop::option::of(fuzz_string()),
        now in any_now(),
    ) {
        if let Some(d) = parse_retry_after(&value, date.as_deref(), now) {
            prop_assert!(d <= MAX_HINT, "{value:?} (date {date:?}) gave {d:?}");
        }
    }

    #[test]
    fn parse_retry_after_ms_is_total_and_bounded(value in fuzz_string()) {
        if let Some(d) = parse_retry_after_ms(&value) {
            prop_assert!(d <= MAX_HINT, "{value:?} gave {d:?}");
        }
    }

    #[test]
    fn parse_x_reset_is_total_and_bounded(value in fuzz_string(), now in any_now()) {
        if let Some(d) = parse_x_reset(&value, now) {
            prop_assert!(d <= MAX_HINT, "{value:?} gave {d:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Arbitrary header bytes: `server_delay` and `RateLimitState::from_headers` never panic,
//    stay bounded, and agree with each other and with the individual parsers.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn header_maps_never_panic_and_stay_bounded(h in header_map(), now in any_now()) {
        let delay = server_delay(&h, now);
        if let Some((d, source)) = delay {
            prop_assert!(d <= MAX_HINT, "{h:?} gave {d:?} from {source:?}");
        }
        let state = RateLimitState::from_headers(&h, now);
        check_state_bounded(&state)?;

        // The documented precedence, checked against the public single-header parsers: the
        // first family that parses wins; the RateLimit and X-RateLimit families are exactly
        // what `from_headers` reports as `reset` (IETF first).
        let retry_after = visible(&h, "retry-after")
            .and_then(|v| parse_retry_after(v, visible(&h, "date"), now));
        let retry_after_ms = visible(&h, "retry-after-ms").and_then(parse_retry_after_ms);
        if let Some(d) = retry_after {
            prop_assert_eq!(delay, Some((d, DelaySource::RetryAfter)));
        } else if let Some(d) = retry_after_ms {
            prop_assert_eq!(delay, Some((d, DelaySource::RetryAfterMs)));
        } else {
            prop_assert_eq!(delay.map(|(d, _)| d), state.reset, "{:?}", h);
            if let Some((_, source)) = delay {
                prop_assert!(
                    matches!(source, DelaySource::RateLimit | DelaySource::XRateLimitReset),
                    "{source:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Round trips.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// The calendar oracle agrees with `httpdate` on IMF-fixdate.
    #[test]
    fn date_oracle_matches_httpdate(s in 0u64..=253_402_300_799) {
        let t = UNIX_EPOCH + secs(s);
        prop_assert_eq!(format_date(t, DateForm::Imf), httpdate::fmt_http_date(t));
    }

    #[test]
    fn retry_after_delta_seconds_round_trip(
        n in prop_oneof![3 => 0..=DAY, 1 => any::<u64>()],
        zeros in "0{0,3}",
        pad in (" {0,2}", " {0,2}"),
        now in any_now(),
    ) {
        let value = format!("{}{zeros}{n}{}", pad.0, pad.1);
        prop_assert_eq!(parse_retry_after(&value, None, now), Some(capped(secs(n))), "{:?}", value);
        let h = headers(&[("retry-after", value)]);
        prop_assert_eq!(
            server_delay(&h, now),
            Some((capped(secs(n)), DelaySource::RetryAfter))
        );
    }

    /// A date `k` seconds after the reference gives `k` seconds, in every form, whether the
    /// reference is our clock or the response's `Date` (which wins over a wrong clock).
    #[test]
    fn retry_after_date_round_trip(
        t in recent_instant(),
        k in 0..DAY,
        form in date_form(),
        date_form in date_form(),
        wrong_now in any_now(),
    ) {
        let value = format_date(t, form);
        let expected = Some(secs(k));
        let reference = t - secs(k);
        prop_assert_eq!(parse_retry_after(&value, None, reference), expected, "{}", value);
        // Same instant, IMF-fixdate: the forms agree.
        prop_assert_eq!(
            parse_retry_after(&format_date(t, DateForm::Imf), None, reference),
            expected
        );
        let date = format_date(reference, date_form);
        prop_assert_eq!(
            parse_retry_after(&value, Some(&date), wrong_now),
            expected,
            "{} with Date {}", value, date
        );
        let h = headers(&[("retry-after", value.clone()), ("date", date.clone())]);
        prop_assert_eq!(
            server_delay(&h, wrong_now),
            Some((secs(k), DelaySource::RetryAfter)),
            "{} with Date {}", value, date
        );
    }

    /// A date in the past means "now", against our clock or against `Date`.
    #[test]
    fn retry_after_past_date_is_zero(
        t in recent_instant(),
        j in 1..=10 * 365 * DAY,
        form in date_form(),
        date_form in date_form(),
        wrong_now in any_now(),
    ) {
        let value = format_date(t, form);
        let later = t + secs(j);
        prop_assert_eq!(parse_retry_after(&value, None, later), Some(Duration::ZERO), "{}", value);
        let date = format_date(later, date_form);
        prop_assert_eq!(
            parse_retry_after(&value, Some(&date), wrong_now),
            Some(Duration::ZERO),
            "{} with Date {}", value, date
        );
    }

    /// Integer milliseconds, up to twice the cap.
    #[test]
    fn retry_after_ms_round_trip(m in 0..=2 * DAY * 1000, now in any_now()) {
        let expected = capped(Duration::from_millis(m));
        prop_assert_eq!(parse_retry_after_ms(&m.to_string()), Some(expected), "{}", m);
        let h = headers(&[("retry-after-ms", m.to_string())]);
        prop_assert_eq!(server_delay(&h, now), Some((expected, DelaySource::RetryAfterMs)));
    }

    /// Fractional milliseconds (`m.fff`) are accepted, to within a nanosecond.
    #[test]
    fn retry_after_ms_fractional_round_trip(m in 0..=2 * DAY * 1000, frac in 0u64..1000) {
        let value = format!("{m}.{frac:03}");
        let expected = capped(Duration::from_micros(m * 1000 + frac));
        let got = parse_retry_after_ms(&value);
        prop_assert!(
            got.is_some_and(|d| d.abs_diff(expected) <= Duration::from_nanos(1)),
            "{value:?}: expected {expected:?}, got {got:?}"
        );
    }

    /// Below 10^9, `X-RateLimit-Reset` is delta seconds, whatever the clock says.
    #[test]
    fn x_reset_delta_seconds_round_trip(n in 0u64..1_000_000_000, now in any_now()) {
        prop_assert_eq!(parse_x_reset(&n.to_string(), now), Some(capped(secs(n))), "{}", n);
    }

    /// Fractional delta seconds are accepted, to within a nanosecond.
    #[test]
    fn x_reset_fractional_delta_round_trip(
        n in 0u64..=2 * DAY,
        frac in 0u64..1000,
        now in any_now(),
    ) {
        let value = format!("{n}.{frac:03}");
        let expected = capped(Duration::from_millis(n * 1000 + frac));
        let got = parse_x_reset(&value, now);
        prop_assert!(
            got.is_some_and(|d| d.abs_diff(expected) <= Duration::from_nanos(1)),
            "{value:?}: expected {expected:?}, got {got:?}"
        );
    }

    /// Epoch seconds `now + k` give `k` seconds (less the clock's fraction of a second); a
    /// time in the past gives zero.
    #[test]
    fn x_reset_epoch_seconds_round_trip(
        now_s in 1_100_000_000u64..=4_000_000_000,
        nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
        k in 0..=2 * DAY,
        // At most three years back, so the past time is still >= 10^9 (epoch seconds).
        j in 1..=3 * 365 * DAY,
    ) {
        let now = UNIX_EPOCH + Duration::new(now_s, nanos);
        let expected = capped(secs(k));
        let got = parse_x_reset(&(now_s + k).to_string(), now);
        prop_assert!(
            got.is_some_and(|d| d <= expected && d + secs(1) > expected),
            "now {now_s}.{nanos:09}, reset {}: expected {expected:?}, got {got:?}", now_s + k
        );
        if nanos == 0 {
            prop_assert_eq!(got, Some(expected));
        }
        prop_assert_eq!(parse_x_reset(&(now_s - j).to_string(), now), Some(Duration::ZERO));
    }

    /// Epoch milliseconds `now + k ms` give `k` ms, to within the clock's fraction of a
    /// millisecond.
    #[test]
    fn x_reset_epoch_millis_round_trip(
        now_s in 1_000_000_000u64..=4_000_000_000,
        nanos in 0u32..1_000_000_000,
        k_ms in 0..=2 * DAY * 1000,
    ) {
        let now = UNIX_EPOCH + Duration::new(now_s, nanos);
        let now_ms = now_s * 1000 + u64::from(nanos / 1_000_000);
        let value = (now_ms + k_ms).to_string();
        let expected = capped(Duration::from_millis(k_ms));
        let got = parse_x_reset(&value, now);
        prop_assert!(
            got.is_some_and(|d| d <= expected && d + Duration::from_millis(1) > expected),
            "now {now_s}.{nanos:09}, reset {value}: expected {expected:?}, got {got:?}"
        );
    }

    /// IETF draft 8 and later: `RateLimit: "p";r=..;t=..` with `RateLimit-Policy:
    /// "p";q=..;w=..`, whatever the policy is called.
    #[test]
    fn ratelimit_draft8_round_trip(
        name in policy_name(),
        r in any::<u64>(),
        t in 0..=DAY,
        q in 1..=u64::MAX,
        w in 1..=DAY,
        now in any_now(),
    ) {
        let h = headers(&[
            ("ratelimit", format!("{name};r={r};t={t}")),
            ("ratelimit-policy", format!("{name};q={q};w={w}")),
        ]);
        let s = RateLimitState::from_headers(&h, now);
        prop_assert_eq!(s.remaining, Some(r), "{:?}", h);
        prop_assert_eq!(s.reset, Some(secs(t)), "{:?}", h);
        prop_assert_eq!(s.limit, Some(q), "{:?}", h);
        prop_assert_eq!(s.window, Some(secs(w)), "{:?}", h);
        prop_assert_eq!(server_delay(&h, now), Some((secs(t), DelaySource::RateLimit)), "{:?}", h);
    }

    /// Draft 7: `RateLimit: limit=.., remaining=.., reset=..` in any order, with an optional
    /// `RateLimit-Policy: {limit};w=..`.
    #[test]
    fn ratelimit_draft7_round_trip(
        l in any::<u64>(),
        r in any::<u64>(),
        t in 0..=DAY,
        order in Just(vec![0usize, 1, 2]).prop_shuffle(),
        w in prop::option::of(1..=DAY),
        now in any_now(),
    ) {
        let fields = [format!("limit={l}"), format!("remaining={r}"), format!("reset={t}")];
        let value = order.iter().map(|&i| fields[i].as_str()).collect::<Vec<_>>().join(", ");
        let mut pairs = vec![("ratelimit", value)];
        if let Some(w) = w {
            pairs.push(("ratelimit-policy", format!("{l};w={w}")));
        }
        let h = headers(&pairs);
        let s = RateLimitState::from_headers(&h, now);
        prop_assert_eq!(s.limit, Some(l), "{:?}", h);
        prop_assert_eq!(s.remaining, Some(r), "{:?}", h);
        prop_assert_eq!(s.reset, Some(secs(t)), "{:?}", h);
        // A policy with no quota is ignored.
        prop_assert_eq!(s.window, w.filter(|_| l > 0).map(secs), "{:?}", h);
        prop_assert_eq!(server_delay(&h, now), Some((secs(t), DelaySource::RateLimit)), "{:?}", h);
    }

    /// Draft 6: `RateLimit-Limit`, `-Remaining`, `-Reset`, with an optional policy.
    #[test]
    fn ratelimit_draft6_round_trip(
        l in any::<u64>(),
        r in any::<u64>(),
        t in 0..=DAY,
        w in prop::option::of(1..=DAY),
        now in any_now(),
    ) {
        let mut pairs = vec![
            ("ratelimit-limit", l.to_string()),
            ("ratelimit-remaining", r.to_string()),
            ("ratelimit-reset", t.to_string()),
        ];
        if let Some(w) = w {
            pairs.push(("ratelimit-policy", format!("{l};w={w}")));
        }
        let h = headers(&pairs);
        let s = RateLimitState::from_headers(&h, now);
        prop_assert_eq!(s.limit, Some(l), "{:?}", h);
        prop_assert_eq!(s.remaining, Some(r), "{:?}", h);
        prop_assert_eq!(s.reset, Some(secs(t)), "{:?}", h);
        prop_assert_eq!(s.window, w.filter(|_| l > 0).map(secs), "{:?}", h);
        prop_assert_eq!(server_delay(&h, now), Some((secs(t), DelaySource::RateLimit)), "{:?}", h);
    }

    /// `X-RateLimit-*` and `X-Rate-Limit-*`; where both are sent, `X-RateLimit-*` wins.
    #[test]
    fn x_ratelimit_round_trip(
        dashed in any::<bool>(),
        l in any::<u64>(),
        r in any::<u64>(),
        t in 0..1_000_000_000u64,
        other in prop::option::of((any::<u64>(), any::<u64>(), 0..1_000_000_000u64)),
        now in any_now(),
    ) {
        let (first, second) = if dashed {
            ("x-rate-limit-", None)
        } else {
            ("x-ratelimit-", other)
        };
        let name = |prefix: &str, field: &str| -> &'static str {
            match (prefix, field) {
                ("x-ratelimit-", "limit") => "x-ratelimit-limit",
                ("x-ratelimit-", "remaining") => "x-ratelimit-remaining",
                ("x-ratelimit-", _) => "x-ratelimit-reset",
                (_, "limit") => "x-rate-limit-limit",
                (_, "remaining") => "x-rate-limit-remaining",
                _ => "x-rate-limit-reset",
            }
        };
        let mut pairs = vec![
            (name(first, "limit"), l.to_string()),
            (name(first, "remaining"), r.to_string()),
            (name(first, "reset"), t.to_string()),
        ];
        if let Some((l2, r2, t2)) = second {
            pairs.push(("x-rate-limit-limit", l2.to_string()));
            pairs.push(("x-rate-limit-remaining", r2.to_string()));
            pairs.push(("x-rate-limit-reset", t2.to_string()));
        }
        let h = headers(&pairs);
        let s = RateLimitState::from_headers(&h, now);
        prop_assert_eq!(s.limit, Some(l), "{:?}", h);
        prop_assert_eq!(s.remaining, Some(r), "{:?}", h);
        prop_assert_eq!(s.reset, Some(capped(secs(t))), "{:?}", h);
        prop_assert_eq!(s.window, None);
        prop_assert_eq!(
            server_delay(&h, now),
            Some((capped(secs(t)), DelaySource::XRateLimitReset)),
            "{:?}", h
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Precedence: Retry-After > retry-after-ms > RateLimit > X-RateLimit-Reset.
// ---------------------------------------------------------------------------------------------

/// One header family in a response: absent, present but unparsable, or valid.
#[derive(Clone, Debug)]
enum Family<T> {
    Absent,
    Garbage(&'static str),
    Valid(T),
}

fn family<T: std::fmt::Debug + Clone>(
    garbage: &'static [&'static str],
    valid: impl Strategy<Value = T>,
) -> impl Strategy<Value = Family<T>> {
    prop_oneof![
        1 => Just(Family::Absent),
        1 => prop::sample::select(garbage).prop_map(Family::Garbage),
        2 => valid.prop_map(Family::Valid),
    ]
}

#[derive(Clone, Debug)]
enum RetryAfterValue {
    Seconds(u64),
    /// A date `k` seconds after the response's `Date`.
    Date {
        date: SystemTime,
        k: u64,
        form: DateForm,
        date_form: DateForm,
    },
}

#[derive(Clone, Copy, Debug)]
enum Draft {
    Eight,
    Seven,
    Six,
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn server_delay_honours_precedence(
        retry_after in family(
            &["soon", "-1", "1.5", "", "12 34", "Sun, 32 Nov 1994 08:49:37 GMT"],
            prop_oneof![
                (0..=DAY).prop_map(RetryAfterValue::Seconds),
                (recent_instant(), 0..DAY, date_form(), date_form()).prop_map(
                    |(date, k, form, date_form)| RetryAfterValue::Date { date, k, form, date_form }
                ),
            ],
        ),
        retry_after_ms in family(&["-5", "abc", "1e3", ".5", "1.2.3", ""], 0..=DAY),
        ietf in family(
            &["\"default\";r=0", "limit=5, remaining=0", "default;q=1"],
            (prop_oneof![Just(Draft::Eight), Just(Draft::Seven), Just(Draft::Six)], 0..=DAY),
        ),
        x_ratelimit in family(&["never", "-3", "", "1e9"], 0..=DAY),
        x_rate_limit in family(&["never", "-3", "", "1e9"], 0..=DAY),
        now in any_now(),
    ) {
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        let mut expected = None;
        let mut expect = |d: Duration, source: DelaySource| {
            expected = expected.or(Some((d, source)));
        };

        match &retry_after {
            Family::Absent => {}
            Family::Garbage(g) => pairs.push(("retry-after", (*g).to_owned())),
            Family::Valid(RetryAfterValue::Seconds(n)) => {
                pairs.push(("retry-after", n.to_string()));
                expect(secs(*n), DelaySource::RetryAfter);
            }
            Family::Valid(RetryAfterValue::Date { date, k, form, date_form }) => {
                pairs.push(("retry-after", format_date(*date + secs(*k), *form)));
                pairs.push(("date", format_date(*date, *date_form)));
                expect(secs(*k), DelaySource::RetryAfter);
            }
        }
        match &retry_after_ms {
            Family::Absent => {}
            Family::Garbage(g) => pairs.push(("retry-after-ms", (*g).to_owned())),
            Family::Valid(m) => {
                pairs.push(("retry-after-ms", m.to_string()));
                expect(Duration::from_millis(*m), DelaySource::RetryAfterMs);
            }
        }
        match &ietf {
            Family::Absent => {}
            Family::Garbage(g) => pairs.push(("ratelimit", (*g).to_owned())),
            Family::Valid((draft, t)) => {
                match draft {
                    Draft::Eight => pairs.push(("ratelimit", format!("\"default\";r=0;t={t}"))),
                    Draft::Seven => {
                        pairs.push(("ratelimit", format!("limit=10, remaining=0, reset={t}")));
                    }
                    Draft::Six => pairs.push(("ratelimit-reset", t.to_string())),
                }
                expect(secs(*t), DelaySource::RateLimit);
            }
        }
        for (name, fam) in [("x-ratelimit-reset", &x_ratelimit), ("x-rate-limit-reset", &x_rate_limit)] {
            match fam {
                Family::Absent => {}
                Family::Garbage(g) => pairs.push((name, (*g).to_owned())),
                Family::Valid(n) => {
                    pairs.push((name, n.to_string()));
                    expect(secs(*n), DelaySource::XRateLimitReset);
                }
            }
        }

        let h = headers(&pairs);
        prop_assert_eq!(server_delay(&h, now), expected, "{:?}", h);
    }
}
