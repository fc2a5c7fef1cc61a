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

use std::{borrow::Cow, fmt::Write as _, sync::Arc};

use http::{HeaderMap, HeaderName};
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

    /// Replaces every credential value this request carried, as is or URL-encoded, with
    /// `[redacted]`.
    pub(crate) fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in self.values() {
            let plain = v.expose_secret();
            let encoded = Secret::new(
                url::form_urlencoded::byte_serialize(plain.as_bytes()).collect::<String>(),
            );
            for form in [plain, encoded.expose_secret()] {
                if out.contains(form) {
                    out = Cow::Owned(out.replace(form, REDACTED));
                }
            }
        }
        out
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
