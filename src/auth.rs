//! Authentication schemes: [`Basic`], [`ApiKey`], [`Bearer`], [`NoAuth`], and the
//! [`Authenticate`] trait for anything else.
//!
//! A scheme writes its credentials through an [`AuthRequest`], which marks every header it
//! sets as sensitive and remembers the names and values written, so that the request's errors,
//! audit event and `tracing` output can redact them (see [`crate::redact`]).
//!
//! The client calls [`Authenticate::authenticate`] once per hop, and only when the hop's URL
//! belongs to an origin the credentials are allowed to reach: the base URL's origin and those
//! added with [`crate::ClientBuilder::allow_origin`]. A redirect elsewhere is followed without
//! calling it at all.
//!
//! # Example
//!
//! ```no_run
//! use authed::{Client, Secret, auth::{ApiKey, Basic, Bearer}};
//!
//! fn clients() -> authed::Result<()> {
//!     // A bearer token on every request to the base URL's origin.
//!     let github = Client::builder("https://api.github.com/")
//!         .auth(Bearer::new(Secret::from_env("GITHUB_TOKEN")?))
//!         .build()?;
//!
//!     // An API key as a query parameter, also sent to one more origin.
//!     let search = Client::builder("https://search.example.com/v2/")
//!         .auth(ApiKey::query("api_key", Secret::from_env("SEARCH_KEY")?))
//!         .allow_origin("https://files.example.com")
//!         .build()?;
//!
//!     // HTTP Basic and an API key header together: both go on every request.
//!     let legacy = Client::builder("https://legacy.example.com/")
//!         .auth(Basic::new("ada", Secret::from_env("LEGACY_PASSWORD")?))
//!         .auth(ApiKey::header("X-API-Key", Secret::from_env("LEGACY_KEY")?))
//!         .build()?;
//!     # let _ = (github, search, legacy);
//!     Ok(())
//! }
//! ```

use std::{borrow::Cow, fmt, sync::Arc};

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header::AUTHORIZATION};
use secrecy::ExposeSecret;
use url::Url;

use crate::{
    Secret,
    error::{Error, Result},
    redact::{Additions, REDACTED, Redactor},
};

/// A way of putting credentials on a request.
///
/// Implement it for a custom scheme (a signature, a session cookie, a token from elsewhere).
/// Write credentials only through the [`AuthRequest`] methods, which keep them out of logs.
///
/// ```
/// use authed::{Secret, auth::{AuthRequest, Authenticate}};
/// use http::HeaderName;
///
/// #[derive(Debug)]
/// struct Token { secret: Secret }
///
/// #[authed::async_trait] // re-exported: no async-trait dependency of your own
/// impl Authenticate for Token {
///     async fn authenticate(&self, req: &mut AuthRequest<'_>) -> authed::Result<()> {
///         req.set_header(HeaderName::from_static("x-token"), &self.secret)
///     }
///     fn label(&self) -> std::borrow::Cow<'static, str> { "x-token".into() }
/// }
/// ```
#[async_trait]
pub trait Authenticate: fmt::Debug + Send + Sync {
    /// Adds credentials to one outgoing request (called again for each redirect hop to an
    /// allowed origin and each retry).
    ///
    /// # Errors
    ///
    /// Whatever prevents the credential from being produced; it ends the request.
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> Result<()>;

    /// A short name for the audit trail and `tracing` (`"bearer"`, `"api-key header x-api-key"`).
    /// Never the secret.
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("custom")
    }

    /// Checks the configuration; called by [`crate::ClientBuilder::build`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] saying what is wrong, without the secret.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Called when a request that carried this scheme's credentials was answered
    /// `401 Unauthorized` (and the challenge does not say `insufficient_scope`). Return
    /// `Ok(true)` after renewing the credential to have the request replayed, once. The
    /// default does nothing: a static credential will not get better by being sent again.
    ///
    /// # Errors
    ///
    /// Whatever prevented the renewal; it ends the request.
    async fn unauthorized(&self, _rejected: &Unauthorized<'_>) -> Result<bool> {
        Ok(false)
    }

    /// Called with every answer to a request that carried this scheme's credentials (each
    /// attempt and each redirect hop, `401`s included, before
    /// [`Authenticate::unauthorized`]), for schemes that learn from the server's answers: a
    /// DPoP token takes the `DPoP-Nonce` a resource server sends on any answer (RFC 9449
    /// §8.2, §9). The default does nothing.
    fn answered(&self, _answer: &Answered<'_>) {}

    /// Whether [`Authenticate::unauthorized`] can ever renew the credential (default `true`).
    /// A scheme whose credential is fixed says `false`, so that
    /// `authed::middleware::AuthMiddleware` keeps no copy of each request for a replay that
    /// cannot happen.
    fn can_renew(&self) -> bool {
        true
    }
}

/// What [`Authenticate::unauthorized`] learns about the rejected request.
pub struct Unauthorized<'a> {
    pub(crate) authorization: Option<&'a HeaderValue>,
    pub(crate) challenge: Option<&'a str>,
    /// The URL the rejected request went to.
    pub(crate) url: Option<&'a Url>,
    /// The headers of the `401` answer.
    pub(crate) headers: Option<&'a HeaderMap>,
}

impl fmt::Debug for Unauthorized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the URL (it may carry a query credential) nor the answer's headers (a
        // DPoP nonce, a cookie).
        f.debug_struct("Unauthorized")
            .field("authorization", &self.authorization.map(|_| REDACTED))
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Unauthorized<'_> {
    /// The URL of the rejected request (for schemes whose credential depends on the server,
    /// such as a DPoP nonce). Treat it as sensitive: it may carry a credential query
    /// parameter.
    pub fn url(&self) -> Option<&Url> {
        self.url
    }

    /// A header of the `401` answer (`DPoP-Nonce`, say).
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&HeaderValue> {
        self.headers.and_then(|h| h.get(name))
    }

    /// The `Authorization` header the rejected request carried (to tell whether the credential
    /// has been renewed since).
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization
    }

    /// The server's `WWW-Authenticate` challenge, if any.
    pub fn challenge(&self) -> Option<&str> {
        self.challenge
    }
}

/// What [`Authenticate::answered`] learns about an answer: its URL, status and headers.
pub struct Answered<'a> {
    pub(crate) url: &'a Url,
    pub(crate) status: http::StatusCode,
    pub(crate) headers: &'a HeaderMap,
}

impl fmt::Debug for Answered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the URL (it may carry a query credential) nor the headers (a DPoP nonce,
        // a cookie).
        f.debug_struct("Answered")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Answered<'_> {
    /// The URL of the request answered. Treat it as sensitive: it may carry a credential
    /// query parameter.
    pub fn url(&self) -> &Url {
        self.url
    }

    /// The answer's status.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// A header of the answer (`DPoP-Nonce`, say).
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&HeaderValue> {
        self.headers.get(name)
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

// The trait must stay usable as `dyn Authenticate`.
fn _object_safe(_: Box<dyn Authenticate>) {}

#[async_trait]
impl<T: Authenticate + ?Sized> Authenticate for Arc<T> {
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> Result<()> {
        (**self).authenticate(request).await
    }
    fn label(&self) -> Cow<'static, str> {
        (**self).label()
    }
    fn validate(&self) -> Result<()> {
        (**self).validate()
    }
    async fn unauthorized(&self, rejected: &Unauthorized<'_>) -> Result<bool> {
        (**self).unauthorized(rejected).await
    }
    fn answered(&self, answer: &Answered<'_>) {
        (**self).answered(answer)
    }
    fn can_renew(&self) -> bool {
        (**self).can_renew()
    }
}

#[async_trait]
impl<T: Authenticate + ?Sized> Authenticate for Box<T> {
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> Result<()> {
        (**self).authenticate(request).await
    }
    fn label(&self) -> Cow<'static, str> {
        (**self).label()
    }
    fn validate(&self) -> Result<()> {
        (**self).validate()
    }
    async fn unauthorized(&self, rejected: &Unauthorized<'_>) -> Result<bool> {
        (**self).unauthorized(rejected).await
    }
    fn answered(&self, answer: &Answered<'_>) {
        (**self).answered(answer)
    }
    fn can_renew(&self) -> bool {
        (**self).can_renew()
    }
}

/// The request as an [`Authenticate`] implementation sees it: read access to the method, URL
/// and body; write access to headers and query, through methods that keep secrets out of text.
pub struct AuthRequest<'a> {
    method: &'a Method,
    url: &'a mut Url,
    headers: &'a mut HeaderMap,
    body: Option<&'a [u8]>,
    redactor: &'a mut Redactor,
    url_written: bool,
}

impl fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRequest")
            .field("method", self.method)
            .field("url", &self.redactor.url(self.url))
            .finish_non_exhaustive()
    }
}

impl<'a> AuthRequest<'a> {
    pub(crate) fn new(
        method: &'a Method,
        url: &'a mut Url,
        headers: &'a mut HeaderMap,
        body: Option<&'a [u8]>,
        redactor: &'a mut Redactor,
    ) -> Self {
        Self {
            method,
            url,
            headers,
            body,
            redactor,
            url_written: false,
        }
    }

    /// `true` once a query credential was written into the URL.
    pub(crate) fn url_written(&self) -> bool {
        self.url_written
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The request URL (for signing schemes). Treat it as sensitive: it may already carry a
    /// credential query parameter.
    pub fn url(&self) -> &Url {
        self.url
    }

    /// The body, when it is held in memory (not a stream).
    pub fn body(&self) -> Option<&[u8]> {
        self.body
    }

    /// The headers set so far (read only; credential values are marked sensitive).
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// Sets header `name` to the secret `value`, replacing any earlier value, marked sensitive
    /// and redacted from every text about this request.
    ///
    /// The value must be printable ASCII (tabs and spaces allowed): an HTTP header would
    /// otherwise carry raw UTF-8 bytes, which servers and proxies read as Latin-1, reject or
    /// rewrite, so the credential that arrives is not the one configured.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the value is not ASCII or has characters a header cannot carry
    /// (the message names the header, never the value).
    pub fn set_header(&mut self, name: HeaderName, value: &Secret) -> Result<()> {
        let header = header_credential(value.expose_secret())
            .map_err(|why| Error::config(format!("the credential for header {name} {why}")))?;
        self.put_header(name, header, &[value]);
        Ok(())
    }

    /// Sets header `name` to `value` (a value built by the caller, such as `Bearer <token>`),
    /// marked sensitive and redacted like [`AuthRequest::set_header`]. When the value has the
    /// form `<scheme> <credential>`, the credential part is redacted from text too.
    ///
    /// The bytes are sent as given: unlike [`AuthRequest::set_header`], a value that is not
    /// ASCII is not refused here (the caller built the `HeaderValue`, bytes and all).
    pub fn set_header_value(&mut self, name: HeaderName, value: HeaderValue) {
        if let Ok(text) = value.to_str() {
            self.redactor.add_value(text);
            if let Some((_, credential)) = text.split_once(' ') {
                self.redactor.add_value(credential.trim());
            }
        }
        self.put_header(name, value, &[]);
    }

    /// Inserts a header marked sensitive and remembers `secrets` for redaction.
    fn put_header(&mut self, name: HeaderName, mut value: HeaderValue, secrets: &[&Secret]) {
        for secret in secrets {
            self.redactor.add_secret(secret);
        }
        value.set_sensitive(true);
        self.redactor.add_header(&name);
        self.headers.insert(name, value);
    }

    /// Inserts a header value built once by its credential, with the redaction record built
    /// with it: no allocation on the request's path.
    pub(crate) fn put_prepared(
        &mut self,
        name: HeaderName,
        value: HeaderValue,
        additions: &Arc<Additions>,
    ) {
        self.redactor.add(additions);
        self.headers.insert(name, value);
    }

    /// Sets query parameter `name` to the secret `value`, replacing any parameter of that name
    /// already in the URL, redacted from every text about this request.
    pub fn set_query(&mut self, name: &str, value: &Secret) {
        self.redactor.add_query(name);
        self.redactor.add_secret(value);
        set_query_pair(self.url, name, value.expose_secret());
        self.url_written = true;
    }

    /// [`AuthRequest::set_query`] with the redaction record built once by the credential.
    fn put_query(&mut self, name: &str, value: &Secret, additions: &Arc<Additions>) {
        self.redactor.add(additions);
        set_query_pair(self.url, name, value.expose_secret());
        self.url_written = true;
    }

    /// Redacts `value` from every text about this request without writing it anywhere (for a
    /// secret that reaches the wire in a derived form, such as a password inside Basic).
    pub fn redact_value(&mut self, value: &Secret) {
        self.redactor.add_secret(value);
    }
}

/// A header value built once from a secret, marked sensitive. It lives as long as the scheme
/// and, unlike [`Secret`], is not zeroed on drop (nor are the copies reqwest makes when it
/// writes the request): the price of not formatting and validating it on every request.
fn sensitive_value(text: &str) -> Option<HeaderValue> {
    header_credential(text).ok()
}

/// A credential as a header value, marked sensitive, or why it cannot be one (a phrase that
/// completes "the API key ...", never the value).
///
/// `http` accepts any byte from 0x80 up in a header value (RFC 9110 `obs-text`), so a
/// non-ASCII credential would go out as raw UTF-8 bytes, which servers read as Latin-1 or
/// refuse: refused here instead, with a clear error. (Basic is not affected: its value is
/// base64 of UTF-8, RFC 7617.)
pub(crate) fn header_credential(text: &str) -> std::result::Result<HeaderValue, &'static str> {
    if !text.is_ascii() {
        return Err("is not ASCII: HTTP header credentials must be ASCII (RFC 9110 field values)");
    }
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| "has control characters, which an HTTP header cannot carry")?;
    value.set_sensitive(true);
    Ok(value)
}

/// Replaces every `name=` pair in the query with one `name=value`, keeping the other pairs as
/// they were.
fn set_query_pair(url: &mut Url, name: &str, value: &str) {
    let keep: Vec<String> = url
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| {
            let raw = pair.split_once('=').map_or(*pair, |(n, _)| n);
            !pair.is_empty()
                && url::form_urlencoded::parse(raw.as_bytes())
                    .next()
                    .is_none_or(|(n, _)| n != name)
        })
        .map(str::to_owned)
        .collect();
    let mut query = keep.join("&");
    let pair: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish();
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&pair);
    url.set_query(Some(&query));
}

/// HTTP Basic authentication (RFC 7617), encoded as UTF-8.
///
/// The user id is treated as a secret too: several APIs (Stripe among them) put the API key
/// there.
///
/// ```
/// use authed::{Client, Secret, auth::Basic};
/// let client = Client::builder("https://api.example.com/")
///     .auth(Basic::new("ada", Secret::from("correct horse")))
///     .build()?;
/// # Ok::<(), authed::Error>(())
/// ```
#[derive(Clone)]
pub struct Basic {
    user_id: Secret,
    password: Secret,
    /// `Basic <base64>`, and the base64 part (redacted too: a server may echo the header).
    /// `Basic <base64>`, built once, and what it adds to redaction.
    header: Option<(HeaderValue, Arc<Additions>)>,
}

impl Basic {
    /// Credentials for `user_id` and `password`. Checked by [`crate::ClientBuilder::build`]:
    /// a user id with `:` or control characters, or a password with control characters, is a
    /// configuration error (RFC 7617 §2).
    pub fn new(user_id: impl Into<Secret>, password: impl Into<Secret>) -> Self {
        let (user_id, password) = (user_id.into(), password.into());
        let joined = Secret::new(format!(
            "{}:{}",
            user_id.expose_secret(),
            password.expose_secret()
        ));
        let encoded =
            Secret::new(base64::engine::general_purpose::STANDARD.encode(joined.expose_secret()));
        let header = sensitive_value(&format!("Basic {}", encoded.expose_secret())).map(|value| {
            let additions = Additions::header(&AUTHORIZATION, &[&password, &user_id, &encoded]);
            (value, additions)
        });
        Self {
            user_id,
            password,
            header,
        }
    }
}

impl fmt::Debug for Basic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Basic")
            .field("user_id", &REDACTED)
            .field("password", &REDACTED)
            .finish()
    }
}

#[async_trait]
impl Authenticate for Basic {
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> Result<()> {
        // validate() ran when the client (or the request) was built.
        let (value, additions) = self
            .header
            .as_ref()
            .ok_or_else(|| Error::config("Basic auth credentials cannot form a header value"))?;
        request.put_prepared(AUTHORIZATION, value.clone(), additions);
        Ok(())
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("basic")
    }

    fn can_renew(&self) -> bool {
        false
    }

    fn validate(&self) -> Result<()> {
        let user = self.user_id.expose_secret();
        if user.contains(':') {
            return Err(Error::config(
                "Basic auth user id contains ':', which RFC 7617 forbids (the server could not tell user id from password)",
            ));
        }
        if user.chars().any(char::is_control) {
            return Err(Error::config(
                "Basic auth user id contains control characters, which RFC 7617 forbids",
            ));
        }
        if self.password.expose_secret().chars().any(char::is_control) {
            return Err(Error::config(
                "Basic auth password contains control characters, which RFC 7617 forbids",
            ));
        }
        if self.header.is_none() {
            return Err(Error::config(
                "Basic auth credentials cannot form a header value",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum KeyPlace {
    Header(String),
    Query(String),
}

/// An API key sent in a header or a query parameter of any name.
///
/// ```
/// use authed::{Secret, auth::ApiKey};
/// let in_header = ApiKey::header("X-API-Key", Secret::from("k"));
/// let in_query = ApiKey::query("api_key", Secret::from("k"));
/// ```
#[derive(Clone)]
pub struct ApiKey {
    place: KeyPlace,
    key: Secret,
    /// For a header key: the name and value, built once.
    header: Option<(HeaderName, HeaderValue)>,
    /// What the key adds to redaction (its header or query name and its value), built once.
    additions: Arc<Additions>,
}

impl ApiKey {
    /// The key goes in header `name` (checked by [`crate::ClientBuilder::build`]).
    pub fn header(name: impl Into<String>, key: impl Into<Secret>) -> Self {
        let (name, key) = (name.into(), key.into());
        let header_name = HeaderName::from_bytes(name.as_bytes()).ok();
        let additions = header_name
            .as_ref()
            .map_or_else(Arc::default, |n| Additions::header(n, &[&key]));
        let header = header_name.zip(sensitive_value(key.expose_secret()));
        Self {
            place: KeyPlace::Header(name),
            key,
            header,
            additions,
        }
    }

    /// The key goes in query parameter `name`, replacing any parameter of that name.
    ///
    /// Prefer a header where the API accepts one: URLs end up in proxy and server logs.
    pub fn query(name: impl Into<String>, key: impl Into<Secret>) -> Self {
        let (name, key) = (name.into(), key.into());
        let additions = Arc::new(Additions::query(&name, &key));
        Self {
            place: KeyPlace::Query(name),
            key,
            header: None,
            additions,
        }
    }

    fn header_name(name: &str) -> Result<HeaderName> {
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::config(format!(
                "API key header name {name:?} is not a valid header name"
            ))
        })
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ApiKey");
        match &self.place {
            KeyPlace::Header(name) => d.field("header", name),
            KeyPlace::Query(name) => d.field("query", name),
        };
        d.field("key", &REDACTED).finish()
    }
}

#[async_trait]
impl Authenticate for ApiKey {
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> Result<()> {
        match &self.place {
            KeyPlace::Header(name) => {
                let (name, value) = match &self.header {
                    Some(header) => header.clone(),
                    None => {
                        Self::header_name(name)?;
                        let why = header_credential(self.key.expose_secret())
                            .err()
                            .unwrap_or("cannot form a header value");
                        return Err(Error::config(format!(
                            "the API key for header {name} {why}"
                        )));
                    }
                };
                request.put_prepared(name, value, &self.additions);
                Ok(())
            }
            KeyPlace::Query(name) => {
                request.put_query(name, &self.key, &self.additions);
                Ok(())
            }
        }
    }

    fn label(&self) -> Cow<'static, str> {
        match &self.place {
            KeyPlace::Header(name) => Cow::Owned(format!("api-key header {name}")),
            KeyPlace::Query(name) => Cow::Owned(format!("api-key query {name}")),
        }
    }

    fn can_renew(&self) -> bool {
        false
    }

    fn validate(&self) -> Result<()> {
        match &self.place {
            KeyPlace::Header(name) => {
                Self::header_name(name)?;
                header_credential(self.key.expose_secret())
                    .map_err(|why| Error::config(format!("the API key for header {name} {why}")))?;
            }
            KeyPlace::Query(name) if name.is_empty() => {
                return Err(Error::config("API key query parameter name is empty"));
            }
            KeyPlace::Query(_) => {}
        }
        if self.key.is_empty() {
            return Err(Error::config("API key is empty"));
        }
        Ok(())
    }
}

/// A static bearer token (RFC 6750): `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Bearer {
    token: Secret,
    /// `Bearer <token>`, built once, and what it adds to redaction.
    header: Option<(HeaderValue, Arc<Additions>)>,
}

impl Bearer {
    /// A bearer token.
    pub fn new(token: impl Into<Secret>) -> Self {
        let token = token.into();
        let header = sensitive_value(&format!("Bearer {}", token.expose_secret()))
            .map(|value| (value, Additions::header(&AUTHORIZATION, &[&token])));
        Self { token, header }
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer").field("token", &REDACTED).finish()
    }
}

#[async_trait]
impl Authenticate for Bearer {
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> Result<()> {
        let (value, additions) = self.header.as_ref().ok_or_else(|| {
            let why = header_credential(self.token.expose_secret())
                .err()
                .unwrap_or("cannot form a header value");
            Error::config(format!("bearer token {why}"))
        })?;
        request.put_prepared(AUTHORIZATION, value.clone(), additions);
        Ok(())
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("bearer")
    }

    fn can_renew(&self) -> bool {
        false
    }

    fn validate(&self) -> Result<()> {
        let token = self.token.expose_secret();
        if token.is_empty() {
            return Err(Error::config("bearer token is empty"));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::config(
                "bearer token contains whitespace or control characters (RFC 6750 b64token has none)",
            ));
        }
        header_credential(token).map_err(|why| Error::config(format!("bearer token {why}")))?;
        Ok(())
    }
}

/// No credentials. Useful per request ([`crate::RequestBuilder::auth`]) on a client that
/// otherwise authenticates.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAuth;

#[async_trait]
impl Authenticate for NoAuth {
    async fn authenticate(&self, _request: &mut AuthRequest<'_>) -> Result<()> {
        Ok(())
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("none")
    }

    fn can_renew(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::CredentialNames;

    async fn apply(auth: &dyn Authenticate, url: &str) -> (Url, HeaderMap, Redactor) {
        let mut url = Url::parse(url).unwrap();
        let mut headers = HeaderMap::new();
        let mut redactor = Redactor::new(Arc::new(CredentialNames::builtin()));
        let method = Method::GET;
        let mut req = AuthRequest::new(&method, &mut url, &mut headers, None, &mut redactor);
        auth.authenticate(&mut req).await.unwrap();
        (url, headers, redactor)
    }

    #[tokio::test]
    async fn basic_encodes_utf8_per_rfc7617() {
        // RFC 7617 §2.1 example: "test" / "123£" in UTF-8.
        let (_, headers, _) = apply(&Basic::new("test", "123\u{a3}"), "https://h/").await;
        let value = headers.get(AUTHORIZATION).unwrap();
        assert_eq!(value.to_str().unwrap(), "Basic dGVzdDoxMjPCow==");
        assert!(value.is_sensitive());
    }

    #[test]
    fn basic_rejects_colon_and_controls_without_echoing_them() {
        let err = Basic::new("a:b", "pw-canary").validate().unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("':'"));
        let err = Basic::new("a\u{7}", "pw").validate().unwrap_err();
        assert!(err.to_string().contains("control"));
        let err = Basic::new("a", "pw\ncanary").validate().unwrap_err();
        assert!(!err.to_string().contains("canary"));
    }

    #[tokio::test]
    async fn query_key_replaces_existing_parameter_and_is_redacted() {
        let auth = ApiKey::query("api_key", "k-123456");
        let (url, _, redactor) = apply(&auth, "https://h/x?api_key=old&page=2").await;
        assert_eq!(url.query(), Some("page=2&api_key=k-123456"));
        assert_eq!(redactor.url(&url), "https://h/x?page=2&api_key=[redacted]");
    }

    #[tokio::test]
    async fn custom_query_name_is_redacted_for_that_request() {
        let auth = ApiKey::query("zz_custom", "v-123456");
        let (url, _, redactor) = apply(&auth, "https://h/").await;
        assert_eq!(redactor.url(&url), "https://h/?zz_custom=[redacted]");
    }

    #[test]
    fn header_key_name_is_checked() {
        assert!(ApiKey::header("bad header", "k").validate().is_err());
        assert!(ApiKey::header("X-API-Key", "k").validate().is_ok());
        assert!(ApiKey::header("X-API-Key", "k\r\nx").validate().is_err());
    }

    #[test]
    fn header_credentials_must_be_ascii_basic_may_be_utf8() {
        assert!(ApiKey::header("X-API-Key", "k\u{e9}y").validate().is_err());
        assert!(Bearer::new("t\u{f6}k").validate().is_err());
        assert!(ApiKey::query("k", "k\u{e9}y").validate().is_ok());
        assert!(Basic::new("\u{fc}ser", "p\u{e4}ss").validate().is_ok());
        assert!(header_credential("visible ascii\tok").is_ok());
        assert!(header_credential("\u{7f}").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let all = format!(
            "{:?} {:?} {:?} {:?}",
            Basic::new("canary-user", "canary-pw"),
            ApiKey::header("X-Key", "canary-k"),
            ApiKey::query("k", "canary-q"),
            Bearer::new("canary-t")
        );
        assert!(!all.contains("canary"), "{all}");
    }
}
