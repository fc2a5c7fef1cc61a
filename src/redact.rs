//! The one place that turns URLs, headers and bodies into text that is safe to show.
//!
//! One list of credential locations ([`CredentialNames`]) drives every surface that could leak:
//!
//! - `HeaderValue::set_sensitive` on every outgoing header in the list (so hyper and reqwest
//!   never print them);
//! - stripping credential headers on a redirect to another origin;
//! - replacing credential query parameters and userinfo with `[redacted]` in errors, `Debug`
//!   output, the audit trail and `tracing` fields.
//!
//! The list is the built-in names below, plus any the user adds on the builder
//! ([`crate::ClientBuilder::sensitive_header`], [`crate::ClientBuilder::sensitive_query`]), plus
//! whatever an [`Authenticate`](crate::auth::Authenticate) implementation writes through
//! [`AuthRequest`](crate::auth::AuthRequest) on a given request. In addition, the exact
//! credential values a request carried are scrubbed from any text built about it (a server that
//! echoes the API key in its error body does not get it into our error).
//!
//! # Example
//!
//! ```
//! use authed::{redact::CredentialNames, url::Url};
//!
//! let mut names = CredentialNames::builtin();
//! names.add_query("session"); // a credential parameter of your API's own
//! let url = Url::parse("https://ada:hunter2@api.example.com/x?api_key=k-123&session=s-456&page=2")?;
//! let shown = names.url(&url);
//! assert!(!shown.contains("hunter2") && !shown.contains("k-123") && !shown.contains("s-456"));
//! assert!(shown.contains("page=2") && shown.contains("[redacted]"));
//! # Ok::<(), authed::url::ParseError>(())
//! ```

use std::{borrow::Cow, fmt::Write as _, sync::Arc};

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use url::Url;

use crate::Secret;

/// What replaces a secret in any text the crate produces.
pub const REDACTED: &str = "[redacted]";

/// Header names that carry credentials in common APIs. Compared case-insensitively
/// (`HeaderName` is always lowercase).
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "x-refresh-token",
    "private-token",
    "x-goog-api-key",
    "x-amz-security-token",
    "ocp-apim-subscription-key",
    // DPoP (RFC 9449): the proof, and the server's nonce.
    "dpop",
    "dpop-nonce",
];

/// Query parameter names that carry credentials in common APIs. Compared ASCII
/// case-insensitively. Over-redacting a harmless parameter in a log line costs little;
/// leaking a key costs a lot, so the list is generous.
pub const CREDENTIAL_QUERY: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "auth",
    "client_secret",
    "secret",
    "password",
    "pass",
    "passwd",
    "code",
    "code_verifier",
    "sig",
    "signature",
    "session",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// Values shorter than this are not scrubbed from free text: replacing every `a` in a body
/// because someone's password is `a` would destroy the text and reveal the password anyway.
const MIN_SCRUB_LEN: usize = 4;

/// The credential locations known to a client: the built-in header and query names plus the
/// user's additions ([`crate::ClientBuilder::sensitive_header`],
/// [`crate::ClientBuilder::sensitive_query`]).
#[derive(Clone, Debug, Default)]
pub struct CredentialNames {
    headers: Vec<HeaderName>,
    query: Vec<String>,
}

impl CredentialNames {
    /// The built-in lists.
    pub fn builtin() -> Self {
        Self {
            headers: CREDENTIAL_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
            query: CREDENTIAL_QUERY.iter().map(|q| (*q).to_owned()).collect(),
        }
    }

    /// Adds a header name to the list.
    pub fn add_header(&mut self, name: HeaderName) {
        if !self.headers.contains(&name) {
            self.headers.push(name);
        }
    }

    /// Adds a query parameter name to the list.
    pub fn add_query(&mut self, name: &str) {
        if !self.is_query(name) {
            self.query.push(name.to_owned());
        }
    }

    /// `true` when `name` is a credential header.
    pub fn is_header(&self, name: &HeaderName) -> bool {
        self.headers.contains(name)
    }

    /// `true` when `name` is a credential query parameter.
    pub fn is_query(&self, name: &str) -> bool {
        self.query.iter().any(|q| q.eq_ignore_ascii_case(name))
    }

    /// The URL as text with userinfo, credential query parameters and the fragment redacted.
    pub fn url(&self, url: &Url) -> String {
        redact_url(url, |name| self.is_query(name))
    }
}

/// What one request is known to carry: the client's [`CredentialNames`] plus the locations and
/// values its authentication wrote.
///
/// The additions are shared: a credential builds its [`Additions`] once (the built-in schemes
/// when they are created, a token cache when a token arrives) and a request that carries only
/// that credential holds the same `Arc`, so the common case costs two reference counts and no
/// allocation. The values are kept as [`Secret`]s (shared, not copied); their encoded forms are
/// computed only when text is scrubbed, which happens on errors, not on the hot path.
#[derive(Clone, Debug)]
pub(crate) struct Redactor {
    /// `None` once [`Redactor::take`] moved it on.
    base: Option<Arc<CredentialNames>>,
    extra: Option<Arc<Additions>>,
}

/// Credential locations and values one credential adds to a request's redaction.
#[derive(Clone, Debug, Default)]
pub(crate) struct Additions {
    headers: Vec<HeaderName>,
    query: Vec<String>,
    values: Vec<Secret>,
}

impl Additions {
    /// A header credential: its name and the secrets its value is made of (values shorter
    /// than the scrub minimum are left out, see [`MIN_SCRUB_LEN`]).
    pub(crate) fn header(name: &HeaderName, secrets: &[&Secret]) -> Arc<Self> {
        let mut a = Self::default();
        a.add_header(name);
        for s in secrets {
            a.add_secret(s);
        }
        Arc::new(a)
    }

    /// A query credential: its parameter name and value.
    pub(crate) fn query(name: &str, value: &Secret) -> Self {
        let mut a = Self::default();
        a.add_query(name);
        a.add_secret(value);
        a
    }

    /// The credential values of headers set by hand (the client's default headers): for
    /// every header whose name is in `names`, its value and the parts a server may echo
    /// alone (see [`credential_parts`]). `None` when there is none, the usual case.
    pub(crate) fn hand_set(headers: &HeaderMap, names: &CredentialNames) -> Option<Arc<Self>> {
        let mut a = Self::default();
        for (name, value) in headers {
            if names.is_header(name) {
                credential_parts(name, value, |part| a.add_secret(&Secret::new(part)));
            }
        }
        (!a.values.is_empty()).then(|| Arc::new(a))
    }

    fn add_header(&mut self, name: &HeaderName) {
        if !self.headers.contains(name) {
            self.headers.push(name.clone());
        }
    }

    fn add_query(&mut self, name: &str) {
        if !self.query.iter().any(|q| q.eq_ignore_ascii_case(name)) {
            self.query.push(name.to_owned());
        }
    }

    fn add_secret(&mut self, value: &Secret) {
        let text = value.expose_secret();
        if text.len() >= MIN_SCRUB_LEN && !self.values.iter().any(|v| v.expose_secret() == text) {
            self.values.push(value.clone());
        }
    }

    fn merge(&mut self, other: &Self) {
        for h in &other.headers {
            self.add_header(h);
        }
        for q in &other.query {
            self.add_query(q);
        }
        for v in &other.values {
            self.add_secret(v);
        }
    }
}

impl Redactor {
    pub(crate) fn new(base: Arc<CredentialNames>) -> Self {
        Self {
            base: Some(base),
            extra: None,
        }
    }

    fn extra_mut(&mut self) -> &mut Additions {
        Arc::make_mut(self.extra.get_or_insert_with(Arc::default))
    }

    /// Moves everything this redactor knows to a new one (a finished request hands it to its
    /// response without touching the shared counts), leaving this one knowing nothing.
    pub(crate) fn take(&mut self) -> Self {
        Self {
            base: self.base.take(),
            extra: self.extra.take(),
        }
    }

    /// Adds what a credential registered once for itself.
    pub(crate) fn add(&mut self, more: &Arc<Additions>) {
        match &mut self.extra {
            None => self.extra = Some(Arc::clone(more)),
            Some(mine) if Arc::ptr_eq(mine, more) => {}
            Some(mine) => Arc::make_mut(mine).merge(more),
        }
    }

    pub(crate) fn add_header(&mut self, name: &HeaderName) {
        if !self.is_header(name) {
            self.extra_mut().add_header(name);
        }
    }

    pub(crate) fn add_query(&mut self, name: &str) {
        if !self
            .extra
            .as_ref()
            .is_some_and(|e| e.query.iter().any(|q| q.eq_ignore_ascii_case(name)))
        {
            self.extra_mut().add_query(name);
        }
    }

    /// Remembers a credential value to scrub from text about this request.
    pub(crate) fn add_secret(&mut self, value: &Secret) {
        if value.expose_secret().len() >= MIN_SCRUB_LEN
            && !self.is_credential_value(value.expose_secret())
        {
            self.extra_mut().add_secret(value);
        }
    }

    /// Registers the value of a credential header set by hand
    /// ([`crate::RequestBuilder::header`]) for scrubbing, with its parts (see
    /// [`credential_parts`]).
    pub(crate) fn add_header_value(&mut self, name: &HeaderName, value: &HeaderValue) {
        credential_parts(name, value, |part| self.add_value(part));
    }

    /// Like [`Redactor::add_secret`] for a value that is not held in a [`Secret`] yet.
    pub(crate) fn add_value(&mut self, value: &str) {
        if value.len() >= MIN_SCRUB_LEN && !self.is_credential_value(value) {
            self.extra_mut().add_secret(&Secret::new(value));
        }
    }

    fn values(&self) -> &[Secret] {
        self.extra.as_deref().map_or(&[], |e| &e.values)
    }

    pub(crate) fn is_header(&self, name: &HeaderName) -> bool {
        self.base.as_ref().is_some_and(|b| b.is_header(name))
            || self
                .extra
                .as_ref()
                .is_some_and(|e| e.headers.contains(name))
    }

    pub(crate) fn is_query(&self, name: &str) -> bool {
        self.base.as_ref().is_some_and(|b| b.is_query(name))
            || self
                .auth_query_names()
                .iter()
                .any(|q| q.eq_ignore_ascii_case(name))
    }

    /// Query names written by authentication on this request (stripped from a cross-origin
    /// `Location`).
    pub(crate) fn auth_query_names(&self) -> &[String] {
        self.extra.as_deref().map_or(&[], |e| &e.query)
    }

    /// `true` when `value` is one of the credential values this request carried.
    pub(crate) fn is_credential_value(&self, value: &str) -> bool {
        self.values().iter().any(|v| v.expose_secret() == value)
    }

    pub(crate) fn url(&self, url: &Url) -> String {
        let text = redact_url(url, |name| self.is_query(name));
        self.scrub(&text).into_owned()
    }

    /// Replaces every credential value this request carried, in any encoding a server
    /// plausibly echoes it in (see [`Scrubber`]), with `[redacted]`.
    pub(crate) fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        Scrubber::new(self.values()).scrub(text)
    }

    /// The scrubber for the credential values this request carried.
    pub(crate) fn scrubber(&self) -> Scrubber<'_> {
        Scrubber::new(self.values())
    }
}

/// Finds credential values in text a server sent back, in the forms a server plausibly
/// echoes them in, and replaces each occurrence with [`REDACTED`].
///
/// A value is found when a stretch of text *decodes* to it, character by character, where
/// each character may appear:
///
/// - as is;
/// - percent-encoded (its UTF-8 bytes as `%XX`, either hex case; a space also as `+`), as
///   form bodies, query strings and URLs in error messages carry it, whichever characters the
///   server's encoder chose to escape;
/// - JSON-escaped (`\"`, `\\`, `\/`, `\n`..., `\u00f6` in either hex case, surrogate pairs),
///   and escaped twice (`\\u00f6`, `\\\"`: JSON inside a JSON string);
/// - as an HTML character reference (`&amp;`, `&quot;`, `&#47;`, `&#x2F;`...).
///
/// And the value's bytes are found base64-encoded (standard or URL-safe alphabet, padded or
/// not) at any of the three alignments, so that a value inside a longer base64 blob (the
/// password inside a `Basic` header a server echoes) is found too; the characters of the blob
/// read through the same escapes. Characters at the edges that carry bits of the value are
/// redacted with it.
///
/// This runs only when text is built about a request (an error, a `Debug`), never on the
/// request's path. Values shorter than `MIN_SCRUB_LEN` bytes are not registered.
pub(crate) struct Scrubber<'a> {
    values: &'a [Secret],
}

/// Bytes of text one byte of a value can take at most in any form [`Scrubber`] reads (an
/// HTML reference with leading zeros inside a base64 blob), used to size the margin read past
/// an excerpt's cut.
const MAX_WIDTH_PER_BYTE: usize = 16;

/// Never read more than this past an excerpt's cut, however long a credential is; a value
/// running past what was read is redacted up to the end (see [`Scrubber::excerpt`]).
const MAX_SCRUB_MARGIN: usize = 64 * 1024;

impl<'a> Scrubber<'a> {
    pub(crate) fn new(values: &'a [Secret]) -> Self {
        Self { values }
    }

    /// How many bytes past a cut must be read so that any value that starts before the cut
    /// is seen whole, in any form.
    pub(crate) fn margin(&self) -> usize {
        self.values
            .iter()
            .map(|v| v.expose_secret().len())
            .max()
            .map_or(0, |n| {
                n.saturating_mul(MAX_WIDTH_PER_BYTE)
                    .saturating_add(32)
                    .min(MAX_SCRUB_MARGIN)
            })
    }

    /// `text` with every value replaced.
    pub(crate) fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let ranges = self.find(text, false);
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in ranges {
            out.push_str(&text[at..start]);
            out.push_str(REDACTED);
            at = end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// An excerpt of at most `max` bytes of `text` (plus, at most, one marker that starts
    /// before `max`), scrubbed *before* it is cut: a value that straddles the cut is shown as
    /// the whole marker, never in part. `more` says that `text` is itself a prefix of a longer
    /// text: then a value that runs into its end is redacted up to the end. Returns the
    /// excerpt and whether anything was left out.
    pub(crate) fn excerpt(&self, text: &str, max: usize, more: bool) -> (String, bool) {
        let ranges = self.find(text, more);
        let mut out = String::with_capacity(text.len().min(max) + REDACTED.len());
        let mut at = 0;
        let mut pieces = ranges
            .iter()
            .map(|&(s, e)| (s, Some(e)))
            .chain([(text.len(), None)]);
        loop {
            let Some((start, end)) = pieces.next() else {
                return (out, more);
            };
            for c in text[at..start].chars() {
                if out.len() + c.len_utf8() > max {
                    return (out, true);
                }
                out.push(c);
            }
            let Some(end) = end else {
                return (out, more);
            };
            if out.len() >= max {
                return (out, true);
            }
            out.push_str(REDACTED);
            at = end;
        }
    }

    /// The byte ranges of `text` that carry a value, sorted and merged.
    fn find(&self, text: &str, more: bool) -> Vec<(usize, usize)> {
        let mut patterns = Vec::new();
        for v in self.values {
            let value = v.expose_secret();
            if value.len() < MIN_SCRUB_LEN {
                continue;
            }
            patterns.push(Pattern::plain(value));
            for align in 0..3 {
                patterns.push(Pattern::base64(value.as_bytes(), align));
            }
        }
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        if patterns.is_empty() {
            return ranges;
        }
        let mut scratch = (Vec::new(), Vec::new());
        for (start, _) in text.char_indices() {
            let end = patterns
                .iter()
                .filter_map(|p| p.match_at(text, start, more, &mut scratch))
                .max();
            if let Some(end) = end {
                match ranges.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => ranges.push((start, end)),
                }
            }
        }
        ranges
    }
}

/// What one step of a [`Pattern`] accepts.
enum Step {
    /// Exactly this character.
    Char(char),
    /// A base64 character (either alphabet) whose 6-bit value matches `value` on `mask`.
    Sextet { mask: u8, value: u8 },
}

impl Step {
    fn accepts(&self, c: char) -> bool {
        match *self {
            Self::Char(want) => c == want,
            Self::Sextet { mask, value } => sextet(c).is_some_and(|v| v & mask == value & mask),
        }
    }
}

/// A value as a sequence of character steps, each read from the text through the escapes of
/// [`decode_at`].
struct Pattern {
    steps: Vec<Step>,
}

impl Pattern {
    fn plain(value: &str) -> Self {
        Self {
            steps: value.chars().map(Step::Char).collect(),
        }
    }

    /// `bytes` inside a base64 stream, starting `align` bytes after a 3-byte boundary: the
    /// sextets that carry any of its bits, each constrained on those bits only.
    fn base64(bytes: &[u8], align: usize) -> Self {
        let first_bit = 8 * align;
        let end_bit = first_bit + 8 * bytes.len();
        let bit = |i: usize| -> u8 {
            if i < first_bit || i >= end_bit {
                0
            } else {
                let b = bytes[(i - first_bit) / 8];
                (b >> (7 - (i - first_bit) % 8)) & 1
            }
        };
        let steps = (first_bit / 6..=(end_bit - 1) / 6)
            .map(|j| {
                let (mut mask, mut value) = (0u8, 0u8);
                for k in 0..6 {
                    let i = 6 * j + k;
                    mask <<= 1;
                    value <<= 1;
                    if (first_bit..end_bit).contains(&i) {
                        mask |= 1;
                        value |= bit(i);
                    }
                }
                Step::Sextet { mask, value }
            })
            .collect();
        Self { steps }
    }

    /// The end of the longest stretch of `text` from `start` that reads as this pattern.
    /// With `more`, a stretch that runs into the end of `text` while still matching counts
    /// as a match up to the end.
    fn match_at(
        &self,
        text: &str,
        start: usize,
        more: bool,
        (states, next): &mut (Vec<usize>, Vec<usize>),
    ) -> Option<usize> {
        let first = self.steps.first()?;
        // Cheap refusal for the usual case: neither the character nor an escape starts here.
        let b = *text.as_bytes().get(start)?;
        if !matches!(b, b'%' | b'+' | b'\\' | b'&') {
            let c = text[start..].chars().next()?;
            if !first.accepts(c) {
                return None;
            }
        }
        states.clear();
        states.push(start);
        for step in &self.steps {
            next.clear();
            for &at in states.iter() {
                if at >= text.len() {
                    return more.then_some(text.len());
                }
                let ran_out = decode_at(text, at, |c, end| {
                    if step.accepts(c) {
                        next.push(end);
                    }
                });
                if ran_out && more {
                    return Some(text.len());
                }
            }
            if next.is_empty() {
                return None;
            }
            next.sort_unstable();
            next.dedup();
            std::mem::swap(states, next);
        }
        states.last().copied()
    }
}

/// The 6-bit value of a base64 character of either alphabet.
fn sextet(c: char) -> Option<u8> {
    let v = match c {
        'A'..='Z' => c as u32 - 'A' as u32,
        'a'..='z' => c as u32 - 'a' as u32 + 26,
        '0'..='9' => c as u32 - '0' as u32 + 52,
        '+' | '-' => 62,
        '/' | '_' => 63,
        _ => return None,
    };
    u8::try_from(v).ok()
}

fn hex(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

/// Calls `found(character, end)` for every way the text at `at` reads as one character: as
/// is, percent-encoded, JSON-escaped (once or twice), or as an HTML character reference.
/// Returns `true` when an escape starts at `at` but the text ends before it does.
fn decode_at(text: &str, at: usize, mut found: impl FnMut(char, usize)) -> bool {
    let bytes = text.as_bytes();
    let Some(c) = text[at..].chars().next() else {
        return false;
    };
    found(c, at + c.len_utf8());
    let mut ran_out = false;
    match c {
        '+' => found(' ', at + 1),
        '%' => match percent(bytes, at) {
            Decoded::Char(c, end) => found(c, end),
            Decoded::RanOut => ran_out = true,
            Decoded::No => {}
        },
        '\\' => {
            for level in [1, 2] {
                match json(bytes, at, level) {
                    Decoded::Char(c, end) => found(c, end),
                    Decoded::RanOut => ran_out = true,
                    Decoded::No => {}
                }
            }
        }
        '&' => match html(bytes, at) {
            Decoded::Char(c, end) => found(c, end),
            Decoded::RanOut => ran_out = true,
            Decoded::No => {}
        },
        _ => {}
    }
    ran_out
}

enum Decoded {
    Char(char, usize),
    /// The text ended inside the escape.
    RanOut,
    No,
}

/// `%XX` (one to four of them: one UTF-8 character).
fn percent(bytes: &[u8], at: usize) -> Decoded {
    let byte_at = |i: usize| -> Result<u8, Decoded> {
        match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => match (hex(*h), hex(*l)) {
                (Some(h), Some(l)) => Ok(u8::try_from(h * 16 + l).unwrap_or(0)),
                _ => Err(Decoded::No),
            },
            Some(_) => Err(Decoded::No),
            None if bytes[i..]
                .iter()
                .all(|b| *b == b'%' || b.is_ascii_hexdigit()) =>
            {
                Err(Decoded::RanOut)
            }
            None => Err(Decoded::No),
        }
    };
    let first = match byte_at(at) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let len = match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return Decoded::No,
    };
    let mut buf = [first, 0, 0, 0];
    for (k, slot) in buf.iter_mut().enumerate().take(len).skip(1) {
        match byte_at(at + 3 * k) {
            Ok(b) => *slot = b,
            Err(e) => return e,
        }
    }
    match std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) => Decoded::Char(c, at + 3 * len),
        None => Decoded::No,
    }
}

/// A JSON escape at `at`; at `level` 2, one written inside a JSON string that was itself
/// JSON-encoded (`\\u00f6`, `\\\"`, `\\\\\\\\`).
fn json(bytes: &[u8], at: usize, level: u8) -> Decoded {
    let intro: &[u8] = if level == 1 { b"\\" } else { b"\\\\" };
    let Some(rest) = bytes.get(at..) else {
        return Decoded::No;
    };
    if !rest.starts_with(intro) {
        return if intro.starts_with(rest) {
            Decoded::RanOut
        } else {
            Decoded::No
        };
    }
    let i = at + intro.len();
    let simple = |b: u8| -> Option<char> {
        Some(match b {
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => return None,
        })
    };
    let Some(&b) = bytes.get(i) else {
        return Decoded::RanOut;
    };
    if level == 1 && (b == b'"' || b == b'\\') {
        return Decoded::Char(char::from(b), i + 1);
    }
    if level == 2 {
        // The escaped character is itself escaped: `\\\"` is `"`, `\\\\\\\\` is `\\`.
        for (tail, c) in [(&b"\\\""[..], '"'), (b"\\\\", '\\'), (b"\\/", '/')] {
            match bytes.get(i..i + tail.len()) {
                Some(t) if t == tail => return Decoded::Char(c, i + tail.len()),
                None if tail.starts_with(&bytes[i..]) => return Decoded::RanOut,
                _ => {}
            }
        }
    }
    if let Some(c) = simple(b) {
        return Decoded::Char(c, i + 1);
    }
    if b != b'u' {
        return Decoded::No;
    }
    let unit = |j: usize| -> Result<u32, Decoded> {
        match bytes.get(j..j + 4) {
            Some(h) => h.iter().try_fold(0u32, |acc, &d| {
                hex(d).map(|d| acc * 16 + d).ok_or(Decoded::No)
            }),
            None if bytes[j..].iter().all(u8::is_ascii_hexdigit) => Err(Decoded::RanOut),
            None => Err(Decoded::No),
        }
    };
    let high = match unit(i + 1) {
        Ok(u) => u,
        Err(e) => return e,
    };
    let end = i + 5;
    if !(0xd800..0xdc00).contains(&high) {
        return char::from_u32(high).map_or(Decoded::No, |c| Decoded::Char(c, end));
    }
    // A surrogate pair: the low half is escaped the same way.
    let Some(rest) = bytes.get(end..) else {
        return Decoded::RanOut;
    };
    let low_intro: &[u8] = if level == 1 { b"\\u" } else { b"\\\\u" };
    if !rest.starts_with(low_intro) {
        return if low_intro.starts_with(rest) {
            Decoded::RanOut
        } else {
            Decoded::No
        };
    }
    match unit(end + low_intro.len()) {
        Ok(low) if (0xdc00..0xe000).contains(&low) => {
            let c = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
            char::from_u32(c).map_or(Decoded::No, |c| Decoded::Char(c, end + low_intro.len() + 4))
        }
        Ok(_) => Decoded::No,
        Err(e) => e,
    }
}

/// An HTML character reference at `at`: the five named ones XML knows, or a numeric one.
fn html(bytes: &[u8], at: usize) -> Decoded {
    // `&#x10FFFF;` with a few leading zeros at most.
    const LONGEST: usize = 12;
    let window = &bytes[at..bytes.len().min(at + LONGEST)];
    let Some(semi) = window.iter().position(|b| *b == b';') else {
        let plausible = window.len() < LONGEST
            && window[1..]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'#');
        return if plausible {
            Decoded::RanOut
        } else {
            Decoded::No
        };
    };
    let name = &window[1..semi];
    let end = at + semi + 1;
    let c = match name {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', digits @ ..] if !digits.is_empty() => digits
            .iter()
            .try_fold(0u32, |acc, &d| Some(acc.checked_mul(16)? + hex(d)?))
            .and_then(char::from_u32),
        [b'#', digits @ ..] if !digits.is_empty() => digits
            .iter()
            .try_fold(0u32, |acc, &d| {
                Some(acc.checked_mul(10)? + char::from(d).to_digit(10)?)
            })
            .and_then(char::from_u32),
        _ => None,
    };
    c.map_or(Decoded::No, |c| Decoded::Char(c, end))
}

/// The texts of a credential header's value a server may echo: the whole value, the
/// credential of `<scheme> <credential>` (`Bearer abc` -> `abc`), and for `cookie` each
/// cookie's value (`a=1; sid=abc` -> `abc`).
fn credential_parts(name: &HeaderName, value: &HeaderValue, mut part: impl FnMut(&str)) {
    let text = String::from_utf8_lossy(value.as_bytes());
    let text = text.trim();
    part(text);
    if name == http::header::COOKIE {
        for cookie in text.split(';') {
            if let Some((_, v)) = cookie.split_once('=') {
                part(v.trim().trim_matches('"'));
            }
        }
    } else if let Some((_, credential)) = text.split_once(' ') {
        part(credential.trim());
    }
}

/// Formats `url` with userinfo replaced, the fragment dropped and the value of every query
/// parameter for which `is_secret(name)` holds replaced by `[redacted]`. Other parameters are
/// kept byte for byte.
pub fn redact_url(url: &Url, is_secret: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(url.as_str().len());
    out.push_str(url.scheme());
    out.push_str("://");
    if !url.username().is_empty() || url.password().is_some() {
        out.push_str(REDACTED);
        out.push('@');
    }
    if let Some(host) = url.host_str() {
        out.push_str(host);
    }
    if let Some(port) = url.port() {
        let _ = write!(out, ":{port}");
    }
    out.push_str(url.path());
    if let Some(query) = url.query() {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            let (raw_name, has_value) = match pair.split_once('=') {
                Some((n, _)) => (n, true),
                None => (pair, false),
            };
            let name: Cow<'_, str> = url::form_urlencoded::parse(raw_name.as_bytes())
                .next()
                .map(|(n, _)| n)
                .unwrap_or(Cow::Borrowed(""));
            if is_secret(&name) {
                out.push_str(raw_name);
                out.push('=');
                out.push_str(REDACTED);
            } else if has_value {
                out.push_str(pair);
            } else {
                out.push_str(raw_name);
            }
        }
    }
    if url.fragment().is_some() {
        out.push_str("#[fragment removed]");
    }
    out
}

/// `url` redacted with the built-in credential query names ([`CREDENTIAL_QUERY`]), for the
/// `Debug` of types that hold a URL outside a client (OAuth endpoints).
#[cfg(feature = "oauth2")]
pub(crate) fn url_builtin(url: &Url) -> String {
    redact_url(url, is_builtin_query)
}

/// Like [`url_builtin`] for a URL held as text (discovered metadata); text that does not
/// parse as a URL is not shown.
#[cfg(feature = "oauth2")]
pub(crate) fn url_text_builtin(text: &str) -> String {
    Url::parse(text).map_or_else(|_| "[not a URL]".to_owned(), |u| url_builtin(&u))
}

/// `true` when `name` is in [`CREDENTIAL_QUERY`].
#[cfg(feature = "oauth2")]
pub(crate) fn is_builtin_query(name: &str) -> bool {
    CREDENTIAL_QUERY
        .iter()
        .any(|q| q.eq_ignore_ascii_case(name))
}

/// Headers as `(name, value)` text pairs, credential values replaced by `[redacted]`, for
/// `Debug` output.
pub(crate) fn headers_for_debug(
    headers: &HeaderMap,
    is_secret: impl Fn(&HeaderName) -> bool,
) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret(name) || value.is_sensitive() {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

/// serde's messages quote the offending value (`invalid type: string "abc", expected u64`),
/// which may be a token. Keep the shape of the message, drop the values.
pub(crate) fn serde_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    // `"..."` is always a value from the input.
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..=start]);
        match rest[start + 1..].find('"') {
            Some(len) => {
                out.push_str(REDACTED);
                out.push('"');
                rest = &rest[start + 1 + len + 1..];
            }
            None => {
                out.push_str(REDACTED);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // "unknown variant `value`, expected one of ..." quotes the input value in backticks.
    const VARIANT: &str = "unknown variant `";
    if let Some(start) = out.find(VARIANT) {
        let value_start = start + VARIANT.len();
        if let Some(len) = out[value_start..].find('`') {
            out.replace_range(value_start..value_start + len, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensitive() -> CredentialNames {
        CredentialNames::builtin()
    }

    #[test]
    fn url_redacts_query_userinfo_and_fragment() {
        let url =
            Url::parse("https://user:pw@api.example.com:8443/v1/x?api_key=abc&page=2&Token=t#frag")
                .unwrap();
        let shown = sensitive().url(&url);
        assert_eq!(
            shown,
            "https://[redacted]@api.example.com:8443/v1/x?api_key=[redacted]&page=2&Token=[redacted]#[fragment removed]"
        );
    }

    #[test]
    fn url_keeps_other_parameters_byte_for_byte() {
        let url = Url::parse("http://127.0.0.1/a?q=a%20b&flag&x=1+2").unwrap();
        assert_eq!(
            sensitive().url(&url),
            "http://127.0.0.1/a?q=a%20b&flag&x=1+2"
        );
    }

    #[test]
    fn url_redacts_percent_encoded_names() {
        let url = Url::parse("http://h/?api%5Fkey=abc").unwrap();
        assert_eq!(sensitive().url(&url), "http://h/?api%5Fkey=[redacted]");
    }

    #[test]
    fn scrub_replaces_plain_and_encoded_values() {
        let mut r = Redactor::new(Arc::new(sensitive()));
        r.add_value("k+y/secret");
        let text = "got k+y/secret and k%2By%2Fsecret";
        assert_eq!(r.scrub(text), "got [redacted] and [redacted]");
    }

    fn scrubber_of(values: &[&str]) -> Vec<Secret> {
        values.iter().map(|v| Secret::new(*v)).collect()
    }

    #[test]
    fn scrub_reads_through_escapes_in_any_case() {
        let values = scrubber_of(&["a/b ö+c"]);
        let s = Scrubber::new(&values);
        for echo in [
            "a/b ö+c",
            "a%2Fb%20%C3%B6%2Bc",
            "a%2fb+%c3%b6%2bc",
            "a%2Fb ö%2bc",
            "a\\/b \\u00f6+c",
            "a\\/b \\u00F6+c",
            "a\\\\/b \\\\u00f6+c",
            "a&#x2F;b &#246;&#43;c",
            "a&#47;b &ouml;+c",
        ] {
            let shown = s.scrub(echo);
            if echo.contains("&ouml;") {
                // Named references beyond XML's five are not read.
                assert_eq!(shown, echo);
            } else {
                assert_eq!(shown, REDACTED, "{echo}");
            }
        }
    }

    #[test]
    fn scrub_finds_base64_at_every_alignment_and_alphabet() {
        use base64::Engine as _;
        let values = scrubber_of(&["pa55?w>rd~"]);
        let s = Scrubber::new(&values);
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            for prefix in ["", "u:", "us:", "user:"] {
                let blob = engine.encode(format!("{prefix}pa55?w>rd~"));
                let shown = s.scrub(&blob);
                assert!(shown.contains(REDACTED), "{prefix}: {blob} -> {shown}");
                // What is left is the prefix's own characters and padding.
                assert!(shown.len() <= REDACTED.len() + 8, "{blob} -> {shown}");
            }
        }
    }

    #[test]
    fn json_surrogate_pairs_and_truncated_escapes() {
        let values = scrubber_of(&["x😀yz"]);
        let s = Scrubber::new(&values);
        assert_eq!(s.scrub("x\\ud83d\\ude00yz"), REDACTED);
        assert_eq!(s.scrub("x\\uD83D\\uDE00yz!"), "[redacted]!");
        // A lone surrogate is not a character: no match, no panic.
        assert_eq!(s.scrub("x\\ud83dyz"), "x\\ud83dyz");
        // Escapes cut by the end of the text: no match without `more`, a match with it.
        for cut in ["x\\ud8", "x%F0%9F", "x&#x1F6", "x\\", "x%"] {
            assert_eq!(s.excerpt(cut, 100, false).0, cut);
            assert_eq!(s.excerpt(cut, 100, true).0, REDACTED, "{cut}");
        }
    }

    #[test]
    fn excerpt_cuts_after_scrubbing_never_inside_a_value_or_a_marker() {
        let values = scrubber_of(&["SECRET-0123"]);
        let s = Scrubber::new(&values);
        let text = "abcdefSECRET-0123 tail";
        for max in 0..text.len() + 2 {
            let (shown, cut) = s.excerpt(text, max, false);
            let whole = "abcdef[redacted] tail";
            assert!(whole.starts_with(&shown), "{max}: {shown}");
            assert!(shown.len() <= max + REDACTED.len(), "{max}: {shown}");
            assert!(!shown.contains('S'), "{max}: {shown}");
            assert_eq!(cut, shown != whole, "{max}: {shown}");
        }
        // Multi-byte characters are never split.
        let (shown, cut) = s.excerpt("ééé", 3, false);
        assert_eq!((shown.as_str(), cut), ("é", true));
    }

    #[test]
    fn margin_covers_the_longest_form() {
        let values = scrubber_of(&["abcd", "0123456789"]);
        assert!(Scrubber::new(&values).margin() >= 10 * MAX_WIDTH_PER_BYTE);
        assert_eq!(Scrubber::new(&[]).margin(), 0);
    }

    mod property {
        use base64::Engine as _;
        use proptest::prelude::*;

        use super::super::*;

        fn forms(secret: &str) -> Vec<String> {
            let upper: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
            let lower: String = secret.bytes().map(|b| format!("%{b:02x}")).collect();
            let json: String = secret
                .encode_utf16()
                .map(|u| format!("\\u{u:04x}"))
                .collect();
            let html: String = secret
                .chars()
                .map(|c| format!("&#{};", u32::from(c)))
                .collect();
            vec![
                secret.to_owned(),
                upper,
                lower,
                url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
                json,
                html,
                base64::engine::general_purpose::STANDARD.encode(secret),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            ]
        }

        fn text() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    4 => proptest::char::range(' ', '~'),
                    1 => prop::sample::select(vec!['ä', '中', '😀', '%', '\\', '&', '+']),
                ],
                0..40,
            )
            .prop_map(|cs| cs.into_iter().collect())
        }

        fn secret() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    4 => proptest::char::range('!', '~'),
                    1 => prop::sample::select(vec![' ', 'ö', 'ж', '中', '😀']),
                ],
                4..24,
            )
            .prop_map(|cs| cs.into_iter().collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 512,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// Whatever the cut: the excerpt is a prefix of the whole scrubbed text, holds no
            /// form of the secret, and is at most the cut plus one marker long.
            #[test]
            fn excerpt_is_a_scrubbed_prefix_at_any_cut(
                secret in secret(),
                which in 0usize..8,
                before in text(),
                after in text(),
                max in 0usize..200,
                more in any::<bool>(),
            ) {
                let values = vec![Secret::new(secret.as_str())];
                let s = Scrubber::new(&values);
                let form = forms(&secret).swap_remove(which);
                let text = format!("{before}{form}{after}");
                let whole = s.scrub(&text).into_owned();
                for f in forms(&secret) {
                    prop_assert!(!whole.contains(&f), "{f:?} in {whole:?}");
                }
                let (shown, cut) = s.excerpt(&text, max, more);
                prop_assert!(shown.len() <= max + REDACTED.len());
                for f in forms(&secret) {
                    prop_assert!(!shown.contains(&f), "{f:?} in {shown:?}");
                }
                if !more {
                    prop_assert!(whole.starts_with(&shown), "{shown:?} is not a prefix of {whole:?}");
                    prop_assert_eq!(cut, shown != whole);
                }
            }

            /// Any text, any values: no panic, and text without a value comes back as it was.
            #[test]
            fn scrub_never_panics(text in ".{0,80}", value in ".{0,12}", max in 0usize..100) {
                let values = vec![Secret::new(value.as_str())];
                let s = Scrubber::new(&values);
                let _ = s.excerpt(&text, max, true);
                let _ = s.excerpt(&text, max, false);
                let _ = s.scrub(&text);
            }
        }
    }

    #[test]
    fn short_values_are_not_scrubbed() {
        let mut r = Redactor::new(Arc::new(sensitive()));
        r.add_value("ab");
        assert_eq!(r.scrub("abc"), "abc");
    }

    #[test]
    fn serde_messages_lose_their_values() {
        assert_eq!(
            serde_message("invalid type: string \"tok-123\", expected u64 at line 1 column 9"),
            "invalid type: string \"[redacted]\", expected u64 at line 1 column 9"
        );
        assert_eq!(
            serde_message("unknown variant `tok-123`, expected `a` or `b`"),
            "unknown variant `[redacted]`, expected `a` or `b`"
        );
        assert_eq!(serde_message("missing field `id`"), "missing field `id`");
        assert_eq!(serde_message("odd \"unterminated"), "odd \"[redacted]");
    }
}
