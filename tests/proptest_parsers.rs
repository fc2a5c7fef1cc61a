//! Property tests for the parsers and builders that see untrusted input: URL joining, path
//! segments, base URL parsing, auth scheme validation, URL redaction and `RequestBuilder`'s
//! `Debug` output.
//!
//! Secrets are always generated with a fixed prefix (a "canary") so that "the secret never
//! appears in this text" can be checked even for short or empty generated values.

use std::sync::LazyLock;

use authed::{
    Client,
    auth::{ApiKey, Basic, Bearer},
    http::{HeaderName, HeaderValue},
    path::BaseUrl,
    redact::{CREDENTIAL_HEADERS, CREDENTIAL_QUERY, CredentialNames, REDACTED, redact_url},
    url::Url,
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

const BASES: &[&str] = &[
    "https://api.example.com/v1",
    "https://api.example.com/",
    "http://127.0.0.1:8080",
    "https://h.example/a/b/",
    "HTTPS://Api.Example.COM:443/v1/x%20y",
    "http://[::1]:9000/api",
];

fn base() -> impl Strategy<Value = BaseUrl> {
    prop::sample::select(BASES).prop_map(|b| BaseUrl::parse(b).expect("fixed base parses"))
}

/// `http://` or `https://`, ASCII case-insensitively (the crate's test for an absolute URL).
fn is_absolute(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://"))
        || (b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://"))
}

/// The path part of a relative input as `join` sees it: leading `/`s dropped, up to the first
/// `?` or `#`.
fn relative_path_part(s: &str) -> &str {
    let rel = s.trim_start_matches('/');
    let end = rel.find(['?', '#']).unwrap_or(rel.len());
    &rel[..end]
}

/// Strict percent-decoding (every `%` must start a two-digit hex escape). Written here rather
/// than taken from the crate's own `percent-encoding` dependency, to be an independent oracle.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn form_encode(s: &str) -> String {
    authed::url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Strings made of URL-ish pieces: separators, dot segments in several spellings, escapes,
/// characters URL parsers strip or reinterpret, scheme-like prefixes.
fn urlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => Just("/".to_owned()),
        3 => Just(".".to_owned()),
        3 => Just("..".to_owned()),
        1 => Just("//".to_owned()),
        2 => Just("%".to_owned()),
        2 => Just("%2e".to_owned()),
        1 => Just("%2E".to_owned()),
        1 => Just("%2f".to_owned()),
        1 => Just("%5C".to_owned()),
        2 => Just("?".to_owned()),
        2 => Just("#".to_owned()),
        2 => Just("\\".to_owned()),
        2 => Just(":".to_owned()),
        1 => Just("@".to_owned()),
        1 => Just("&".to_owned()),
        1 => Just("=".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("\t".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\r".to_owned()),
        1 => Just("\u{0}".to_owned()),
        1 => Just("\u{7f}".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("http://".to_owned()),
        1 => Just("HTTPS://".to_owned()),
        1 => Just("http:".to_owned()),
        1 => Just("evil.example".to_owned()),
        6 => "[a-z0-9]{1,4}",
        1 => any::<char>().prop_map(String::from),
        // Dots and escaped dots mixed with what WHATWG parsing strips (tab, CR, LF anywhere;
        // C0 controls and spaces at the ends of the input).
        3 => prop::collection::vec(
            prop::sample::select(&[".", ".", "%2e", "%2E", "\t", "\n", "\r", " ", "\u{0}", "\u{1f}"][..]),
            1..5,
        )
        .prop_map(|v| v.concat()),
    ];
    prop::collection::vec(piece, 0..14).prop_map(|v| v.concat())
}

fn any_or_urlish() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), urlish()]
}

/// ASCII case scrambling driven by a bit mask.
fn scramble_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Each byte of `s` either literal or as `%XX` (upper or lower hex), driven by a bit mask.
fn scramble_percent(s: &str, mask: u64, upper: bool) -> String {
    s.bytes()
        .enumerate()
        .map(|(i, b)| {
            if mask >> (i % 64) & 1 == 1 {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            } else {
                (b as char).to_string()
            }
        })
        .collect()
}

/// A client with no credentials, for `RequestBuilder` tests (built once: building one is not
/// free).
static PLAIN: LazyLock<Client> = LazyLock::new(|| {
    Client::builder("https://api.example.com/v1/")
        .sensitive_header("x-custom-secret")
        .build()
        .expect("plain client builds")
});

const HTTPS_BASE: &str = "https://api.example.com/v1/";

// ---------------------------------------------------------------------------------------------
// 1. URL joining
// ---------------------------------------------------------------------------------------------

/// Why the join rules of `authed::path` reject `input`, or `None` when they accept it. Written
/// from the documentation (the module's table, and `join`'s promise that what stays is under
/// the base), not from the crate's code: an absolute http(s) URL is used as is if it parses
/// and has a host and no userinfo; a relative path is refused for a `\` in its path part, a
/// `.` or `..` segment in any percent-encoded spelling, or an empty segment in the middle, and
/// for ASCII control characters anywhere (URL parsers delete or trim them, which could turn
/// `.\t.` into `..` after the checks; the error message says so).
fn documented_rejection(input: &str) -> Option<&'static str> {
    if is_absolute(input) {
        return match Url::parse(input) {
            Err(_) => Some("an absolute URL that does not parse"),
            Ok(url) if url.host_str().is_none_or(str::is_empty) => Some("no host"),
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                Some("a user name or password in the URL")
            }
            Ok(_) => None,
        };
    }
    if input.chars().any(|c| c.is_ascii_control()) {
        return Some("a control character");
    }
    let part = relative_path_part(input);
    if part.contains('\\') {
        return Some("a backslash in the path");
    }
    let segments: Vec<&str> = part.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if percent_decode(segment).is_some_and(|d| d == b"." || d == b"..") {
            return Some("a dot segment");
        }
        if segment.is_empty() && i + 1 < segments.len() {
            return Some("an empty segment in the middle");
        }
    }
    None
}

/// A failed join is a typed `InvalidUrl` error for an input the documented rules reject.
fn check_rejected(input: &str, err: &authed::Error) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(err, authed::Error::InvalidUrl { .. }),
        "{:?}: not an InvalidUrl error: {:?}",
        input,
        err
    );
    prop_assert!(
        documented_rejection(input).is_some(),
        "{:?} was rejected ({}), but the documented rules accept it",
        input,
        err
    );
    Ok(())
}

fn check_join(base: &BaseUrl, input: &str) -> Result<(), TestCaseError> {
    let url = match base.join(input) {
        Ok(url) => url,
        Err(err) => return check_rejected(input, &err),
    };
    prop_assert_eq!(
        documented_rejection(input),
        None,
        "{:?} was accepted as {}",
        input,
        url
    );
    prop_assert_eq!(url.fragment(), None, "fragment kept for {:?}", input);
    prop_assert!(matches!(url.scheme(), "http" | "https"), "{}", url);
    prop_assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{}", url);
    prop_assert!(
        url.username().is_empty() && url.password().is_none(),
        "{}",
        url
    );
    if !is_absolute(input) {
        let b = base.as_url();
        prop_assert_eq!(
            url.origin(),
            b.origin(),
            "{:?} left the origin: {}",
            input,
            url
        );
        prop_assert!(
            url.path().starts_with(b.path()),
            "{:?} left the base path {}: {}",
            input,
            b.path(),
            url
        );
    }
    Ok(())
}

/// A relative join never removes, merges or climbs over a segment: the joined path below the
/// base has exactly as many segments as the input's path part. A failed join is a documented
/// rejection.
fn check_segments_kept(base: &BaseUrl, input: &str) -> Result<(), TestCaseError> {
    match base.join(input) {
        Ok(url) => {
            let below = &url.path()[base.as_url().path().len()..];
            let part = relative_path_part(input);
            prop_assert_eq!(
                below.split('/').count(),
                part.split('/').count(),
                "input {:?} (path part {:?}) joined to {}",
                input,
                part,
                url
            );
            Ok(())
        }
        Err(err) => check_rejected(input, &err),
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Never panics; an `Ok` join has no fragment, an http(s) scheme and a host, and a relative
    /// input stays on the base's origin and under its path.
    #[test]
    fn join_stays_under_base(base in base(), input in any_or_urlish()) {
        check_join(&base, &input)?;
    }

    /// The same, for inputs that look like paths with a query or fragment glued on.
    #[test]
    fn join_stays_under_base_with_suffix(
        base in base(),
        path in urlish(),
        suffix in prop_oneof![Just(""), Just("?"), Just("#"), Just("?a=1#f"), Just("#x?y")],
        tail in urlish(),
    ) {
        check_join(&base, &format!("{path}{suffix}{tail}"))?;
    }

    /// A relative join never removes, merges or climbs over a segment: the joined path below
    /// the base has exactly as many segments as the input's path part (the documented "dot
    /// segments are an error" rule, stated as an outcome).
    #[test]
    fn join_keeps_every_segment(base in base(), input in any_or_urlish()) {
        prop_assume!(!is_absolute(&input));
        check_segments_kept(&base, &input)?;
    }

    /// The same, for inputs built segment by segment, where a segment may be a dot or escaped
    /// dot mixed with characters WHATWG URL parsing strips (tab, LF, CR anywhere; C0 controls
    /// and spaces at the end of the input).
    #[test]
    fn join_keeps_every_segment_of_dotty_paths(
        base in base(),
        segs in prop::collection::vec(
            prop_oneof![
                2 => "[a-z0-9]{1,3}",
                3 => prop::collection::vec(
                    prop::sample::select(
                        &[".", ".", "%2e", "%2E", "\t", "\n", "\r", " ", "\u{0}", "\u{1f}", "a"][..],
                    ),
                    1..5,
                )
                .prop_map(|v| v.concat()),
            ],
            1..5,
        ),
        query in prop::option::of("[a-z0-9=]{0,4}"),
    ) {
        let mut input = segs.join("/");
        if let Some(q) = &query {
            input = format!("{input}?{q}");
        }
        check_segments_kept(&base, &input)?;
    }

    /// A leading `/` is ignored: `join("/" + p)` is `join(p)` for any non-absolute `p`.
    #[test]
    fn join_ignores_leading_slashes(base in base(), p in any_or_urlish(), n in 1usize..4) {
        prop_assume!(!is_absolute(&p));
        let slashed = format!("{}{p}", "/".repeat(n));
        let a = base.join(&p).map(|u| u.to_string()).map_err(|e| e.to_string());
        let b = base.join(&slashed).map(|u| u.to_string()).map_err(|e| e.to_string());
        prop_assert_eq!(a, b);
    }

    /// Plain segments (unreserved characters only) join to exactly base + input, with the
    /// query kept as given.
    #[test]
    fn join_of_plain_segments_is_concatenation(
        base in base(),
        segs in prop::collection::vec("[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}", 0..5),
        trailing_slash in any::<bool>(),
        query in prop::option::of("[a-z0-9=&]{0,12}"),
    ) {
        let mut path = segs.join("/");
        if trailing_slash && !path.is_empty() {
            path.push('/');
        }
        let input = match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let url = base.join(&input);
        prop_assert!(url.is_ok(), "{:?}: {:?}", input, url);
        let url = url.unwrap();
        prop_assert_eq!(url.path(), format!("{}{path}", base.as_url().path()));
        prop_assert_eq!(url.query(), query.as_deref());
        prop_assert_eq!(url.origin(), base.as_url().origin());
    }

    /// The documented rejections: a dot segment (in any spelling the crate lists), an empty
    /// segment in the middle, or a `\` anywhere in the path part, are errors wherever they sit.
    #[test]
    fn join_rejects_documented_bad_paths(
        base in base(),
        before in prop::collection::vec("[a-z0-9]{1,5}", 0..3),
        after in prop::collection::vec("[a-z0-9]{1,5}", 0..3),
        bad in prop_oneof![
            Just(".".to_owned()),
            Just("..".to_owned()),
            (any::<u64>(), prop::sample::select(&["%2e", "%2e%2e", ".%2e", "%2e."][..]))
                .prop_map(|(m, s)| scramble_case(s, m)),
            Just("".to_owned()),
            "[a-z]{0,3}\\\\[a-z.]{0,3}",
        ],
        query in prop::option::of("[a-z0-9=&./]{0,8}"),
    ) {
        let is_empty = bad.is_empty();
        // An empty segment is only an error in the middle.
        prop_assume!(!is_empty || !after.is_empty());
        let mut segs = before.clone();
        segs.push(bad.clone());
        segs.extend(after.iter().cloned());
        let mut input = segs.join("/");
        if is_empty && before.is_empty() {
            // "/x" would just be a leading slash; make the empty segment a real one.
            input = format!("a/{input}");
        }
        if let Some(q) = &query {
            input = format!("{input}?{q}");
        }
        let res = base.join(&input);
        prop_assert!(res.is_err(), "{:?} should be rejected, got {:?}", input, res);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Path segments
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// `path!("items/{}", s)` is one segment that decodes back to `s`; only `.` and `..` are
    /// rejected.
    #[test]
    fn path_macro_makes_exactly_one_segment(
        base in base(),
        s in prop_oneof![
            3 => any::<String>(),
            3 => urlish(),
            1 => Just(".".to_owned()),
            1 => Just("..".to_owned()),
            1 => Just("...".to_owned()),
            1 => Just("".to_owned()),
        ],
    ) {
        let path = authed::path!("items/{}", s);
        let res = base.join(&path);
        if s == "." || s == ".." {
            prop_assert!(res.is_err(), "{:?} -> {:?} should be rejected: {:?}", s, path, res);
            return Ok(());
        }
        prop_assert!(res.is_ok(), "{:?} -> {:?} rejected: {:?}", s, path, res);
        let url = res.unwrap();
        prop_assert_eq!(url.query(), None);
        prop_assert_eq!(url.fragment(), None);
        prop_assert_eq!(url.origin(), base.as_url().origin());
        let prefix = format!("{}items/", base.as_url().path());
        prop_assert!(url.path().starts_with(&prefix), "{} does not start with {}", url, prefix);
        let segment = &url.path()[prefix.len()..];
        prop_assert!(!segment.contains('/'), "{:?} became several segments: {}", s, url);
        prop_assert!(
            segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "segment {:?} has characters beyond unreserved and escapes",
            segment
        );
        let decoded = percent_decode(segment);
        prop_assert_eq!(decoded.as_deref(), Some(s.as_bytes()), "segment {:?}", segment);
    }

    /// Several parameters stay several segments, each decoding to its value, whatever the
    /// values are. The join fails exactly when a middle parameter is empty (an empty segment)
    /// or is `.`/`..`.
    #[test]
    fn path_macro_keeps_parameters_apart(
        a in prop_oneof![4 => any_or_urlish(), 1 => prop::sample::select(&["", ".", ".."][..]).prop_map(str::to_owned)],
        b in prop_oneof![4 => any_or_urlish(), 1 => prop::sample::select(&["", ".", ".."][..]).prop_map(str::to_owned)],
        n in any::<u32>(),
    ) {
        let base = BaseUrl::parse("https://api.example.com/v1").unwrap();
        let url = base.join(&authed::path!("users/{}/posts/{}/n/{}", a, b, n));
        let bad = |s: &str| ["", ".", ".."].contains(&s);
        if bad(&a) || bad(&b) {
            prop_assert!(url.is_err(), "{:?} / {:?} accepted: {:?}", a, b, url);
            return Ok(());
        }
        prop_assert!(url.is_ok(), "{:?}", url);
        let url = url.unwrap();
        let segs: Vec<&str> = url.path_segments().unwrap().collect();
        prop_assert_eq!(segs.len(), 7, "{}", url);
        prop_assert_eq!(segs[0], "v1");
        prop_assert_eq!(segs[1], "users");
        prop_assert_eq!(percent_decode(segs[2]), Some(a.clone().into_bytes()));
        prop_assert_eq!(segs[3], "posts");
        prop_assert_eq!(percent_decode(segs[4]), Some(b.clone().into_bytes()));
        prop_assert_eq!(segs[5], "n");
        let n_text = n.to_string();
        prop_assert_eq!(segs[6], n_text.as_str());
        prop_assert_eq!(url.query(), None);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Base URL parsing
// ---------------------------------------------------------------------------------------------

fn base_like() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("https"),
        Just("http"),
        Just("HTTPS"),
        Just("hTtP"),
        Just("ftp"),
        Just("file"),
        Just("ws"),
        Just(""),
    ];
    let userinfo = prop_oneof![
        4 => Just(""),
        1 => Just("u@"),
        1 => Just("u:p@"),
        1 => Just(":p@"),
        1 => Just("@"),
    ];
    let host = prop_oneof![
        Just("api.example.com".to_owned()),
        Just("127.0.0.1".to_owned()),
        Just("[::1]".to_owned()),
        Just("".to_owned()),
        Just("xn--nxasmq6b".to_owned()),
        Just("ex%41mple.com".to_owned()),
        "[a-z0-9.-]{1,12}",
        any::<String>(),
    ];
    let port = prop_oneof![
        3 => Just(String::new()),
        1 => (0u32..70000).prop_map(|p| format!(":{p}")),
        1 => Just(":".to_owned()),
    ];
    (
        scheme,
        prop_oneof![Just("://"), Just(":/"), Just(":"), Just(":///")],
        userinfo,
        host,
        port,
        urlish(),
        prop_oneof![Just(" "), Just(""), Just("\t"), Just("\n")],
    )
        .prop_map(|(s, sep, ui, h, p, rest, ws)| format!("{ws}{s}{sep}{ui}{h}{p}{rest}{ws}"))
}

proptest! {
    #![proptest_config(config(256))]

    /// An `Ok` base URL is http(s) with a host, no userinfo, query or fragment, and a path
    /// ending in `/`; it parses again to itself.
    #[test]
    fn base_url_invariants(input in prop_oneof![any::<String>(), urlish(), base_like()]) {
        if let Ok(b) = BaseUrl::parse(&input) {
            let u = b.as_url();
            prop_assert!(matches!(u.scheme(), "http" | "https"), "{:?} -> {}", input, u);
            prop_assert!(u.host_str().is_some_and(|h| !h.is_empty()), "{:?} -> {}", input, u);
            prop_assert!(u.path().ends_with('/'), "{:?} -> {}", input, u);
            prop_assert_eq!(u.query(), None, "{:?} -> {}", input, u);
            prop_assert_eq!(u.fragment(), None, "{:?} -> {}", input, u);
            prop_assert!(u.username().is_empty(), "{:?} -> {}", input, u);
            prop_assert_eq!(u.password(), None, "{:?} -> {}", input, u);
            let again = BaseUrl::parse(u.as_str());
            prop_assert_eq!(again.as_ref().ok(), Some(&b), "{:?} -> {} -> {:?}", input, u, again);
            // Joining nothing gives the base itself.
            let empty = b.join("");
            prop_assert_eq!(empty.as_ref().ok(), Some(u), "{:?}", empty);
        }
    }

    /// A base URL carrying userinfo, a query or a fragment is always rejected.
    #[test]
    fn base_url_rejects_userinfo_query_fragment(
        host in "[a-z]{1,8}(\\.[a-z]{1,5}){0,2}",
        path in "(/[a-z0-9]{0,4}){0,3}",
        which in 0u8..4,
        extra in "[a-z0-9]{1,6}",
    ) {
        let input = match which {
            0 => format!("https://{extra}@{host}{path}"),
            1 => format!("https://{extra}:pw@{host}{path}"),
            2 => format!("https://{host}{path}?{extra}"),
            _ => format!("https://{host}{path}#{extra}"),
        };
        let res = BaseUrl::parse(&input);
        prop_assert!(res.is_err(), "{:?} accepted: {:?}", input, res);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Auth schemes through ClientBuilder::build
// ---------------------------------------------------------------------------------------------

/// Builds and checks: `Ok` exactly when `expect_ok`; an error is a config error; neither the
/// error's `Display` nor the client's `Debug` contains any of `secrets`.
fn check_build(
    built: authed::Result<Client>,
    expect_ok: bool,
    secrets: &[&str],
    what: &str,
) -> Result<(), TestCaseError> {
    match built {
        Ok(client) => {
            prop_assert!(expect_ok, "{} built but should have been rejected", what);
            let debug = format!("{client:?}");
            for s in secrets {
                prop_assert!(
                    !debug.contains(s),
                    "{}: client Debug shows a secret: {}",
                    what,
                    debug
                );
            }
        }
        Err(err) => {
            prop_assert!(
                !expect_ok,
                "{} rejected but should have built: {}",
                what,
                err
            );
            prop_assert!(err.is_config(), "{}: not a config error: {:?}", what, err);
            let display = err.to_string();
            let debug = format!("{err:?}");
            for s in secrets {
                prop_assert!(
                    !display.contains(s),
                    "{}: error Display shows a secret: {}",
                    what,
                    display
                );
                prop_assert!(
                    !debug.contains(s),
                    "{}: error Debug shows a secret: {}",
                    what,
                    debug
                );
            }
        }
    }
    Ok(())
}

fn header_name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}",
        1 => "[A-Za-z -]{0,12}",
        2 => any::<String>(),
        1 => urlish(),
    ]
}

fn secret_like() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[!-~]{0,16}",
        1 => "[ -~\t\r\n]{0,16}",
        2 => any::<String>(),
        1 => Just(String::new()),
    ]
}

/// Header credentials must be ASCII (issue 10, item 13): `HeaderValue::from_str` alone would
/// accept UTF-8 bytes as `obs-text`.
fn api_key_header_ok(name: &str, key: &str) -> bool {
    HeaderName::from_bytes(name.as_bytes()).is_ok()
        && key.is_ascii()
        && HeaderValue::from_str(key).is_ok()
        && !key.is_empty()
}

fn bearer_ok(token: &str) -> bool {
    !token.is_empty()
        && token.is_ascii()
        && !token.chars().any(|c| c.is_whitespace() || c.is_control())
        && HeaderValue::from_str(token).is_ok()
}

fn basic_ok(user: &str, pass: &str) -> bool {
    !user.contains(':')
        && !user.chars().any(char::is_control)
        && !pass.chars().any(char::is_control)
}

proptest! {
    // Each successful build constructs a reqwest client (~10 ms in a debug build).
    #![proptest_config(config(64))]

    #[test]
    fn api_key_header_builds_or_config_error(name in header_name_like(), key in secret_like()) {
        let canary = format!("CANARY{key}");
        prop_assume!(!name.contains("CANARY"));
        // The raw key (possibly empty or short): the exact acceptance rule.
        let built = Client::builder(HTTPS_BASE).auth(ApiKey::header(name.as_str(), key.as_str())).build();
        check_build(built, api_key_header_ok(&name, &key), &[], "ApiKey::header")?;
        // A canary-prefixed key: the rule again, and the key never shows.
        let built = Client::builder(HTTPS_BASE)
            .auth(ApiKey::header(name.as_str(), canary.as_str()))
            .build();
        check_build(built, api_key_header_ok(&name, &canary), &[&canary], "ApiKey::header")?;
    }

    #[test]
    fn api_key_query_builds_or_config_error(name in header_name_like(), key in secret_like()) {
        let canary = format!("CANARY{key}");
        prop_assume!(!name.contains("CANARY"));
        let built = Client::builder(HTTPS_BASE).auth(ApiKey::query(name.as_str(), key.as_str())).build();
        check_build(built, !name.is_empty() && !key.is_empty(), &[], "ApiKey::query")?;
        let built = Client::builder(HTTPS_BASE)
            .auth(ApiKey::query(name.as_str(), canary.as_str()))
            .build();
        check_build(built, !name.is_empty(), &[&canary], "ApiKey::query")?;
    }

    #[test]
    fn bearer_builds_or_config_error(token in secret_like()) {
        let canary = format!("CANARY{token}");
        let built = Client::builder(HTTPS_BASE).auth(Bearer::new(token.as_str())).build();
        check_build(built, bearer_ok(&token), &[], "Bearer")?;
        let built = Client::builder(HTTPS_BASE).auth(Bearer::new(canary.as_str())).build();
        check_build(built, bearer_ok(&canary), &[&canary], "Bearer")?;
    }

    /// `build()` fails exactly when the user id has `:` or a control character or the password
    /// has a control character (RFC 7617), and never shows either.
    #[test]
    fn basic_builds_or_config_error(
        user in prop_oneof![secret_like(), "[a-z:]{0,6}"],
        pass in prop_oneof![secret_like(), "[a-z:]{0,6}"],
    ) {
        let built = Client::builder(HTTPS_BASE).auth(Basic::new(user.as_str(), pass.as_str())).build();
        check_build(built, basic_ok(&user, &pass), &[], "Basic")?;
        let user_canary = format!("USERCANARY{user}");
        let pass_canary = format!("PASSCANARY{pass}");
        let built = Client::builder(HTTPS_BASE)
            .auth(Basic::new(user_canary.as_str(), pass_canary.as_str()))
            .build();
        check_build(
            built,
            basic_ok(&user_canary, &pass_canary),
            &[&user_canary, &pass_canary],
            "Basic",
        )?;
    }

    /// Several schemes at once: the first failing one decides, and no secret shows.
    #[test]
    fn several_schemes_never_show_secrets(
        name in prop_oneof![Just("X-API-Key".to_owned()), header_name_like()],
        key in prop_oneof!["[!-~]{0,12}", secret_like()],
        token in prop_oneof!["[!-~]{0,12}", secret_like()],
        user in prop_oneof!["[a-z]{0,12}", secret_like()],
        pass in prop_oneof!["[ -~]{0,12}", secret_like()],
    ) {
        prop_assume!(!name.contains("CANARY"));
        let key = format!("KEYCANARY{key}");
        let token = format!("TOKCANARY{token}");
        let user = format!("USERCANARY{user}");
        let pass = format!("PASSCANARY{pass}");
        let built = Client::builder(HTTPS_BASE)
            .auth(ApiKey::header(name.as_str(), key.as_str()))
            .auth(Bearer::new(token.as_str()))
            .auth(Basic::new(user.as_str(), pass.as_str()))
            .auth(ApiKey::query("api_key", key.as_str()))
            .build();
        let ok = api_key_header_ok(&name, &key) && bearer_ok(&token) && basic_ok(&user, &pass);
        check_build(built, ok, &[&key, &token, &user, &pass], "ApiKey+Bearer+Basic")?;
    }
}

// ---------------------------------------------------------------------------------------------
// 5. URL redaction
// ---------------------------------------------------------------------------------------------

fn redact_base() -> impl Strategy<Value = Url> {
    prop::sample::select(
        &[
            "https://api.example.com/v1/items",
            "http://127.0.0.1:8080/",
            "http://[::1]:9000/a%20b/c",
            "https://h.example:8443/x?",
            "https://h.example/x?pre=1&flag",
        ][..],
    )
    .prop_map(|u| Url::parse(u).unwrap())
}

fn param() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            "[a-z_]{1,8}",
            any::<String>(),
            urlish(),
            Just("page".to_owned()),
            Just("api_keys".to_owned()),
            Just("xapi_key".to_owned()),
        ],
        prop_oneof![any::<String>(), urlish(), "[a-z0-9]{0,6}"],
    )
}

proptest! {
    #![proptest_config(config(256))]

    /// An `api_key` value appended anywhere among arbitrary other parameters never shows; the
    /// parameter shows as `api_key=[redacted]`; every other parameter name stays.
    #[test]
    fn redact_url_hides_api_key(
        url in redact_base(),
        value in "[a-zA-Z0-9]{4,20}",
        before in prop::collection::vec(param(), 0..4),
        after in prop::collection::vec(param(), 0..4),
    ) {
        let secret = format!("SECRET{value}");
        let others_mention = before.iter().chain(&after).any(|(n, v)| {
            n.contains("SECRET") || v.contains("SECRET")
        });
        prop_assume!(!others_mention);
        let mut url = url;
        {
            let mut q = url.query_pairs_mut();
            for (n, v) in &before {
                q.append_pair(n, v);
            }
            q.append_pair("api_key", &secret);
            for (n, v) in &after {
                q.append_pair(n, v);
            }
        }
        let out = redact_url(&url, |name| name == "api_key");
        prop_assert!(!out.contains(&secret), "{}", out);
        prop_assert!(!out.contains(&form_encode(&secret)), "{}", out);
        prop_assert!(out.contains("api_key=[redacted]"), "{}", out);
        for (n, _) in before.iter().chain(&after) {
            let encoded = form_encode(n);
            prop_assert!(out.contains(&encoded), "name {:?} ({}) lost: {}", n, encoded, out);
        }
        // Everything before the query is unchanged.
        let head = &url.as_str()[..url.as_str().find('?').unwrap()];
        prop_assert!(out.starts_with(head), "{} vs {}", out, url);
    }

    /// Same with arbitrary (non-alphanumeric) secret values: the form-encoded value never shows.
    #[test]
    fn redact_url_hides_any_api_key_value(
        url in redact_base(),
        value in any_or_urlish(),
        others in prop::collection::vec(("[a-z]{1,6}", "[a-z0-9]{0,6}"), 0..4),
    ) {
        let secret = format!("SECRET{value}");
        let mut url = url;
        url.query_pairs_mut().append_pair("api_key", &secret);
        for (n, v) in &others {
            url.query_pairs_mut().append_pair(n, v);
        }
        let out = redact_url(&url, |name| name == "api_key");
        prop_assert!(!out.contains("SECRET"), "{}", out);
        prop_assert!(out.contains("api_key=[redacted]"), "{}", out);
    }

    /// The built-in list matches names ASCII case-insensitively and after percent-decoding:
    /// any spelling of a credential parameter is redacted.
    #[test]
    fn sensitive_url_redacts_every_spelling(
        url in redact_base(),
        name in prop::sample::select(CREDENTIAL_QUERY),
        case_mask in any::<u64>(),
        pct_mask in any::<u64>(),
        upper in any::<bool>(),
        value in "[a-zA-Z0-9]{4,20}",
        also_bare in any::<bool>(),
    ) {
        let spelled = scramble_percent(&scramble_case(name, case_mask), pct_mask, upper);
        let secret = format!("SECRET{value}");
        let mut url = url;
        let query = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{spelled}={secret}&page=2"),
            _ => format!("{spelled}={secret}&page=2"),
        };
        url.set_query(Some(&query));
        let out = CredentialNames::builtin().url(&url);
        prop_assert!(!out.contains(&secret), "{} -> {}", url, out);
        let redacted_pair = format!("{spelled}={REDACTED}");
        prop_assert!(out.contains(&redacted_pair), "{} -> {}", url, out);
        prop_assert!(out.ends_with("&page=2"), "{}", out);
        // A bare name (no `=value`) is shown as redacted too, never as itself plus a value.
        if also_bare {
            let mut bare = url.clone();
            bare.set_query(Some(&format!("{spelled}&x=1")));
            let out = CredentialNames::builtin().url(&bare);
            prop_assert!(out.contains(&redacted_pair), "{} -> {}", bare, out);
        }
    }

    /// With nothing secret, no userinfo and no fragment, the output is the URL byte for byte.
    #[test]
    fn redact_url_keeps_everything_else(url in redact_base(), query in prop::option::of(any_or_urlish())) {
        let mut url = url;
        url.set_query(query.as_deref());
        let out = redact_url(&url, |_| false);
        prop_assert_eq!(out.as_str(), url.as_str());
    }

    /// Userinfo and the fragment never show, whatever they are.
    #[test]
    fn redact_url_hides_userinfo_and_fragment(
        url in redact_base(),
        user in any::<String>(),
        pass in prop::option::of(any::<String>()),
        fragment in prop::option::of(any::<String>()),
    ) {
        let mut url = url;
        let user = format!("USERCANARY{user}");
        prop_assert!(url.set_username(&user).is_ok());
        let pass = pass.map(|p| format!("PASSCANARY{p}"));
        prop_assert!(url.set_password(pass.as_deref()).is_ok());
        let fragment = fragment.map(|f| format!("FRAGCANARY{f}"));
        url.set_fragment(fragment.as_deref());
        let out = redact_url(&url, |_| false);
        prop_assert!(!out.contains("USERCANARY"), "{}", out);
        prop_assert!(!out.contains("PASSCANARY"), "{}", out);
        prop_assert!(!out.contains("FRAGCANARY"), "{}", out);
        let redacted_userinfo = format!("://{REDACTED}@");
        prop_assert!(out.contains(&redacted_userinfo), "{}", out);
        prop_assert_eq!(fragment.is_some(), out.ends_with("#[fragment removed]"), "{}", out);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. RequestBuilder headers and Debug output
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// A credential header (any built-in name, any ASCII case, or one added with
    /// `sensitive_header`) never shows its value in `Debug`, valid value or not.
    #[test]
    fn credential_header_never_in_debug(
        name in prop_oneof![
            prop::sample::select(CREDENTIAL_HEADERS),
            Just("x-custom-secret"),
        ],
        mask in any::<u64>(),
        value in prop_oneof!["[ -~]{0,24}", any::<String>()],
    ) {
        let name = scramble_case(name, mask);
        let canary = format!("CANARY{value}");
        let req = PLAIN.get("x").header(name.as_str(), canary.as_str());
        let debug = format!("{req:?}");
        let pretty = format!("{req:#?}");
        prop_assert!(!debug.contains("CANARY"), "{}", debug);
        prop_assert!(!pretty.contains("CANARY"), "{}", pretty);
        if HeaderValue::from_str(&canary).is_ok() {
            let shown = format!("({:?}, {:?})", name.to_ascii_lowercase(), REDACTED);
            prop_assert!(debug.contains(&shown), "{} lacks {}", debug, shown);
        } else {
            prop_assert!(debug.contains("cannot carry"), "{}", debug);
        }
    }

    /// Arbitrary header names and values: an invalid name or value is recorded as a config error
    /// (shown in `Debug` without the value); a valid non-credential header is shown as given.
    #[test]
    fn arbitrary_headers_are_checked(name in header_name_like(), value in secret_like()) {
        let req = PLAIN.get("x").header(name.as_str(), value.as_str());
        let debug = format!("{req:?}");
        let name_ok = HeaderName::from_bytes(name.as_bytes());
        let value_ok = HeaderValue::from_str(&value).is_ok();
        match name_ok {
            Err(_) => prop_assert!(debug.contains("request header name is not valid"), "{}", debug),
            Ok(_) if !value_ok => {
                prop_assert!(debug.contains("has a value an HTTP header cannot carry"), "{}", debug);
            }
            Ok(n) => {
                let sensitive = CREDENTIAL_HEADERS.contains(&n.as_str()) || n.as_str() == "x-custom-secret";
                let shown_value = if sensitive { REDACTED.to_owned() } else { value.clone() };
                let shown = format!("({:?}, {:?})", n.as_str(), shown_value);
                prop_assert!(debug.contains(&shown), "{} lacks {}", debug, shown);
            }
        }
    }

    /// A credential query parameter put in the path or added with `.query()` never shows in
    /// `Debug`.
    #[test]
    fn credential_query_never_in_debug(
        name in prop::sample::select(CREDENTIAL_QUERY),
        mask in any::<u64>(),
        value in "[a-zA-Z0-9]{4,20}",
        via_query in any::<bool>(),
    ) {
        let name = scramble_case(name, mask);
        let secret = format!("SECRET{value}");
        let req = if via_query {
            PLAIN.get("items").query(&[(name.as_str(), secret.as_str()), ("page", "2")])
        } else {
            PLAIN.get(&format!("items?{name}={secret}&page=2"))
        };
        let debug = format!("{req:?}");
        prop_assert!(!debug.contains(&secret), "{}", debug);
        let shown = format!("{name}={REDACTED}&page=2");
        prop_assert!(debug.contains(&shown), "{} lacks {}", debug, shown);
    }
}
