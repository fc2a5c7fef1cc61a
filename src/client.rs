//! [`Client`], [`ClientBuilder`], [`RequestBuilder`], [`Response`], and the send loop.
//!
//! Every request, from [`RequestBuilder::send`] to the wire and back, goes through one loop in
//! this file ([`RequestBuilder::send`] → `run`):
//!
//! ```text
//! for each hop:
//!   credentials allowed for this URL's origin?     (base origin + allow_origin, https or loopback)
//!     yes -> every Authenticate writes its credentials through AuthRequest
//!     no  -> credential headers are stripped, no Authenticate is called
//!   reqwest sends it (its own redirect following and retries are off)
//!   3xx with Location -> next hop (301/302/303 as GET without body, 307/308 replay the body;
//!                        to another origin: no credentials, credential query values removed)
//!   2xx               -> Response
//!   else              -> Error::Status with a bounded, scrubbed body excerpt
//! ```
//!
//! Retries and rate limits (issue 3) and refresh-on-401 (issue 4) belong in the same loop.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, USER_AGENT, WWW_AUTHENTICATE},
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::time::Instant;
use url::{Origin, Url};

use crate::{
    audit::{self, AuditEvent, AuditHook, Outcome},
    auth::{AuthRequest, Authenticate, Unauthorized},
    endpoint::Endpoint,
    error::{
        DecodeError, Error, RateLimitedError, RedirectError, RedirectKind, RequestInfo, Result,
        StatusError, TransportError, TransportKind,
    },
    path::BaseUrl,
    ratelimit::{self, Gate, RateLimitState, Reservation, Ticket},
    redact::{self, Redactor, Sensitive},
    retry::{self, Budget, Delays, RetryPolicy, RetryReason, RetryStop},
};

/// Redirect hops followed before giving up (browsers and reqwest use 10 or more; 10 is enough
/// for any API and stops loops quickly).
pub const MAX_REDIRECTS: usize = 10;

/// Bytes of an error response's body kept in [`StatusError::body_excerpt`]: enough for any
/// JSON error object, small enough that a server sending megabytes cannot bloat our errors.
pub const MAX_ERROR_BODY: usize = 4096;

/// Default time to establish a connection. Ten seconds covers a slow TLS handshake across the
/// world; a host that has not answered by then is usually down.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time for one attempt (send and read the whole response). An API call that takes
/// longer than this is usually stuck; raise it for large downloads.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Response headers that carry a request id, in the order they are looked for.
const REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-github-request-id",
    "x-correlation-id",
    "cf-ray",
];

type AuthList = Arc<[Arc<dyn Authenticate>]>;

/// A client for one API: a base URL, credentials, and the rules for sending them.
///
/// Cheap to clone (one `Arc`); clones share the connection pool. `Send + Sync`.
///
/// ```no_run
/// use authed::{Client, Secret, auth::Bearer};
///
/// # async fn run() -> authed::Result<()> {
/// #[derive(serde::Deserialize)]
/// struct Me { login: String }
///
/// let api = Client::builder("https://api.example.com/v1/")
///     .auth(Bearer::new(Secret::from_env("EXAMPLE_TOKEN")?))
///     .build()?;
/// let me: Me = api.get("me").send().await?.json().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    supplied_reqwest: bool,
    base: BaseUrl,
    default_headers: HeaderMap,
    auth: AuthList,
    auth_label: Arc<str>,
    allowed: Vec<Origin>,
    allow_http_credentials: bool,
    timeout: Option<Duration>,
    deadline: Option<Duration>,
    max_redirects: usize,
    sensitive: Arc<Sensitive>,
    audit: Option<AuditHook>,
    retry: RetryPolicy,
    idempotency_keys: bool,
    /// The base URL's origin state, found without hashing (most requests go there).
    home: Arc<OriginState>,
    origins: Mutex<HashMap<Origin, Arc<OriginState>>>,
    none_label: Arc<str>,
    withheld_label: Arc<str>,
}

/// What the client keeps per origin, shared by all its clones: the pacing gate and the retry
/// budget.
#[derive(Debug, Default)]
struct OriginState {
    gate: Gate,
    budget: Budget,
}

impl Inner {
    fn origin(&self, url: &Url) -> Arc<OriginState> {
        let base = self.base.as_url();
        if url.scheme() == base.scheme()
            && url.host() == base.host()
            && url.port_or_known_default() == base.port_or_known_default()
        {
            return Arc::clone(&self.home);
        }
        let origin = url.origin();
        let mut map = self.origins.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(origin).or_default().clone()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Client")
            .field("base_url", &i.sensitive.url(i.base.as_url()))
            .field("auth", &i.auth)
            .field(
                "default_headers",
                &redact::headers_for_debug(&i.default_headers, |n| i.sensitive.is_header(n)),
            )
            .field(
                "allowed_origins",
                &i.allowed
                    .iter()
                    .map(Origin::ascii_serialization)
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &i.timeout)
            .field("deadline", &i.deadline)
            .field("max_redirects", &i.max_redirects)
            .field("retry", &i.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts building a client for the API at `base_url` (see [`mod@crate::path`] for how paths
    /// join to it). Errors in the URL are reported by [`ClientBuilder::build`].
    pub fn builder(base_url: impl AsRef<str>) -> ClientBuilder {
        ClientBuilder::new(base_url.as_ref())
    }

    /// The base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        self.inner.base.as_url()
    }

    /// A request with any method. `path` is relative to the base URL, or an absolute URL.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, self.inner.base.join(path))
    }

    /// A `GET` request.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A `POST` request.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A `PUT` request.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` request.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` request.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A `HEAD` request.
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    /// Sends a typed [`Endpoint`] and decodes its output.
    ///
    /// # Errors
    ///
    /// Any error of [`RequestBuilder::send`] or [`Response::json`].
    pub async fn call<E: Endpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output> {
        let request = self.request(endpoint.method(), &endpoint.path());
        endpoint.configure(request).send().await?.json().await
    }

    /// The rate-limit state last reported by `origin` (an origin such as
    /// `https://api.example.com`, or any URL on it), with its reset counted down to now.
    /// `None` before the origin has sent any rate-limit header, or for an invalid URL.
    pub fn rate_limit(&self, origin: &str) -> Option<RateLimitState> {
        let url = Url::parse(origin).ok()?;
        let map = self.inner.origins.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&url.origin())?.gate.snapshot(Instant::now())
    }

    /// `Some(true)` when credentials may be sent to `url`, `Some(false)` when they must not be,
    /// an error when they would be sent over plain http to a host that is not loopback.
    fn credentials_allowed(&self, url: &Url) -> Result<bool> {
        let i = &self.inner;
        if !i.allowed.contains(&url.origin()) {
            return Ok(false);
        }
        if url.scheme() == "http" && !is_loopback(url) && !i.allow_http_credentials {
            return Err(Error::config(format!(
                "refusing to send credentials over plain http to {}: use https, or call \
                 allow_http_credentials(true) on the builder if you accept that anyone on the \
                 path can read them",
                url.host_str().unwrap_or("?")
            )));
        }
        Ok(true)
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// Builds a [`Client`]. Every setter takes and returns the builder; errors are collected and
/// reported once, by [`ClientBuilder::build`].
#[must_use]
pub struct ClientBuilder {
    base: Result<BaseUrl>,
    default_headers: HeaderMap,
    user_agent: Option<HeaderValue>,
    auth: Vec<Arc<dyn Authenticate>>,
    allowed: Vec<String>,
    allow_http_credentials: bool,
    connect_timeout: Duration,
    timeout: Option<Duration>,
    deadline: Option<Duration>,
    max_redirects: usize,
    reqwest: Option<reqwest::Client>,
    sensitive: Sensitive,
    audit: Option<AuditHook>,
    retry: RetryPolicy,
    idempotency_keys: bool,
    errors: Vec<Error>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field(
                "base_url",
                &self.base.as_ref().map(|b| self.sensitive.url(b.as_url())),
            )
            .field("auth", &self.auth)
            .field(
                "default_headers",
                &redact::headers_for_debug(&self.default_headers, |n| self.sensitive.is_header(n)),
            )
            .field("allowed_origins", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn new(base_url: &str) -> Self {
        Self {
            base: BaseUrl::parse(base_url),
            default_headers: HeaderMap::new(),
            user_agent: None,
            auth: Vec::new(),
            allowed: Vec::new(),
            allow_http_credentials: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: Some(DEFAULT_TIMEOUT),
            deadline: None,
            max_redirects: MAX_REDIRECTS,
            reqwest: None,
            sensitive: Sensitive::builtin(),
            audit: None,
            retry: RetryPolicy::default(),
            idempotency_keys: false,
            errors: Vec::new(),
        }
    }

    /// Adds an authentication scheme. Call it more than once to send several credentials on
    /// every request (an API key and a bearer token, say); they are applied in order.
    pub fn auth(mut self, auth: impl Authenticate + 'static) -> Self {
        self.auth.push(Arc::new(auth));
        self
    }

    /// Lets credentials go to `origin` (`https://uploads.example.com`) as well as to the base
    /// URL's origin, for absolute URLs and redirects. Anything else gets no credentials.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed.push(origin.into());
        self
    }

    /// Allows credentials over plain `http://` to hosts that are not loopback. Off by default:
    /// anyone on the network path can read them.
    pub fn allow_http_credentials(mut self, allow: bool) -> Self {
        self.allow_http_credentials = allow;
        self
    }

    /// A header sent with every request (a request's own header of the same name wins). A
    /// header in the credential list ([`crate::redact::CREDENTIAL_HEADERS`] or added with
    /// [`ClientBuilder::sensitive_header`]) is marked sensitive and is not sent to other origins.
    pub fn default_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.default_headers.insert(name, value);
            }
            (Err(_), _) => self
                .errors
                .push(Error::config("default header name is not valid")),
            (Ok(name), Err(_)) => self.errors.push(Error::config(format!(
                "default header {name} has a value an HTTP header cannot carry"
            ))),
        }
        self
    }

    /// The `User-Agent` header. Default: `authed/<version>`.
    pub fn user_agent(mut self, value: impl TryInto<HeaderValue>) -> Self {
        match value.try_into() {
            Ok(v) => self.user_agent = Some(v),
            Err(_) => self.errors.push(Error::config(
                "user agent has characters a header cannot carry",
            )),
        }
        self
    }

    /// Adds a header name to the credential list (redacted, marked sensitive, stripped on
    /// redirects to other origins).
    pub fn sensitive_header(mut self, name: impl TryInto<HeaderName>) -> Self {
        match name.try_into() {
            Ok(n) => self.sensitive.add_header(n),
            Err(_) => self
                .errors
                .push(Error::config("sensitive header name is not valid")),
        }
        self
    }

    /// Adds a query parameter name to the credential list (redacted from all text).
    pub fn sensitive_query(mut self, name: &str) -> Self {
        self.sensitive.add_query(name);
        self
    }

    /// Time allowed to establish a connection ([`DEFAULT_CONNECT_TIMEOUT`] by default).
    /// Ignored with [`ClientBuilder::reqwest_client`], which has its own.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one attempt: sending it and reading the whole response
    /// ([`DEFAULT_TIMEOUT`] by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// No per-attempt timeout (for long downloads; consider a [`ClientBuilder::deadline`]).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Time allowed for a whole call, redirects (and later retries) included. None by default.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Redirect hops followed before [`RedirectKind::TooMany`] ([`MAX_REDIRECTS`] by default;
    /// 0 turns following off and returns the 3xx as [`Error::Status`]).
    pub fn max_redirects(mut self, hops: usize) -> Self {
        self.max_redirects = hops;
        self
    }

    /// Sends through your own `reqwest::Client` (its TLS roots, proxy, pool settings).
    ///
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: authed follows redirects
    /// itself so that credentials never follow a redirect to another origin. A client that
    /// follows them anyway is detected after the fact and the request fails with
    /// [`RedirectKind::FollowedByReqwest`]; by then reqwest has already sent your
    /// `Authorization` header to the new host, if the hop stayed on the same host, and any
    /// custom credential header to wherever it went.
    pub fn reqwest_client(mut self, client: reqwest::Client) -> Self {
        self.reqwest = Some(client);
        self
    }

    /// How failures are retried ([`RetryPolicy::default`]: 3 retries with exponential backoff,
    /// `Retry-After` obeyed up to 60 s). See [`crate::retry`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Gives every POST and PATCH an `Idempotency-Key` (a random UUID, the same on every
    /// attempt) unless the request has one, so that they can be retried like PUT. Off by
    /// default: only turn it on for an API that honours the header (Stripe, Adyen, many
    /// others), or a retried POST may be done twice.
    pub fn idempotency_keys(mut self, enabled: bool) -> Self {
        self.idempotency_keys = enabled;
        self
    }

    /// Calls `hook` with an [`AuditEvent`] when each request finishes (in addition to the
    /// `tracing` event on target `authed::audit`). Keep it quick: it runs on the request's task.
    pub fn on_audit(mut self, hook: impl Fn(&AuditEvent) + Send + Sync + 'static) -> Self {
        self.audit = Some(AuditHook(Arc::new(hook)));
        self
    }

    /// Checks everything and builds the client.
    ///
    /// # Errors
    ///
    /// The first configuration problem: an invalid base URL or allowed origin, an invalid
    /// header, an auth scheme that fails [`Authenticate::validate`], credentials configured for
    /// a plain-http base URL that is not loopback (see
    /// [`ClientBuilder::allow_http_credentials`]), or a reqwest client that cannot be built.
    pub fn build(mut self) -> Result<Client> {
        if let Some(e) = self.errors.drain(..).next() {
            return Err(e);
        }
        let base = self.base?;
        for auth in &self.auth {
            auth.validate()?;
        }
        let base_origin = base.as_url().origin();
        let home = Arc::new(OriginState::default());
        let mut allowed = vec![base_origin.clone()];
        for origin in &self.allowed {
            let url = Url::parse(origin).map_err(|e| {
                Error::config(format!("allowed origin {origin:?} does not parse: {e}"))
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(Error::config(format!(
                    "allowed origin {origin:?} must be an http(s) URL with a host"
                )));
            }
            allowed.push(url.origin());
        }
        let base_url = base.as_url();
        if !self.auth.is_empty()
            && base_url.scheme() == "http"
            && !is_loopback(base_url)
            && !self.allow_http_credentials
        {
            return Err(Error::config(format!(
                "credentials are configured for plain http://{}: use https, or call \
                 allow_http_credentials(true) if you accept that anyone on the path can read them",
                base_url.host_str().unwrap_or("?")
            )));
        }
        let (http, supplied_reqwest) = match self.reqwest {
            Some(client) => (client, true),
            None => {
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .retry(reqwest::retry::never())
                    .connect_timeout(self.connect_timeout)
                    .build()
                    .map_err(|e| {
                        Error::config(format!("the HTTP client could not be built: {e}"))
                    })?;
                (client, false)
            }
        };
        let mut default_headers = self.default_headers;
        let user_agent = self.user_agent.unwrap_or(HeaderValue::from_static(concat!(
            "authed/",
            env!("CARGO_PKG_VERSION")
        )));
        default_headers.insert(USER_AGENT, user_agent);
        for (name, value) in &mut default_headers {
            if self.sensitive.is_header(name) {
                value.set_sensitive(true);
            }
        }
        let auth_label: Arc<str> = if self.auth.is_empty() {
            Arc::from("none")
        } else {
            self.auth
                .iter()
                .map(|a| a.label())
                .collect::<Vec<_>>()
                .join(" + ")
                .into()
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                supplied_reqwest,
                base,
                default_headers,
                auth: self.auth.into(),
                auth_label,
                allowed,
                allow_http_credentials: self.allow_http_credentials,
                timeout: self.timeout,
                deadline: self.deadline,
                max_redirects: self.max_redirects,
                sensitive: Arc::new(self.sensitive),
                audit: self.audit,
                retry: self.retry,
                idempotency_keys: self.idempotency_keys,
                origins: Mutex::new(HashMap::from([(base_origin, Arc::clone(&home))])),
                home,
                none_label: Arc::from("none"),
                withheld_label: Arc::from("withheld"),
            }),
        })
    }
}

/// A request body.
enum Body {
    Empty,
    /// In memory: can be replayed on a redirect (and, later, a retry).
    Bytes(Bytes),
    /// A stream: sent once; a redirect that needs it again fails.
    Stream(Option<reqwest::Body>),
}

/// A request being built. Errors (an invalid header, a body that does not serialize) are kept
/// and returned by [`RequestBuilder::send`].
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: Result<Url>,
    headers: HeaderMap,
    body: Body,
    auth: Option<AuthList>,
    timeout: Option<Option<Duration>>,
    deadline: Option<Duration>,
    retry: Option<RetryPolicy>,
    /// Return any final status as `Ok` (the OAuth endpoints parse their error bodies).
    any_status: bool,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sensitive = &self.client.inner.sensitive;
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field(
                "url",
                &self
                    .url
                    .as_ref()
                    .map(|u| sensitive.url(u))
                    .map_err(|e| e.to_string()),
            )
            .field(
                "headers",
                &redact::headers_for_debug(&self.headers, |n| sensitive.is_header(n)),
            )
            .field(
                "body",
                &match &self.body {
                    Body::Empty => "empty".to_owned(),
                    Body::Bytes(b) => format!("{} bytes", b.len()),
                    Body::Stream(_) => "stream".to_owned(),
                },
            )
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    fn new(client: Client, method: Method, url: Result<Url>) -> Self {
        Self {
            client,
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            auth: None,
            timeout: None,
            deadline: None,
            retry: None,
            any_status: false,
        }
    }

    /// Returns a non-success final answer as `Ok` instead of [`Error::Status`].
    pub(crate) fn any_status(mut self) -> Self {
        self.any_status = true;
        self
    }

    fn fail(mut self, error: Error) -> Self {
        if self.url.is_ok() {
            self.url = Err(error);
        }
        self
    }

    /// Appends query parameters, serialized with `serde_urlencoded` (a struct, a map, or a
    /// slice of pairs).
    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        let encoded = match serde_urlencoded::to_string(query) {
            Ok(q) => q,
            Err(e) => {
                return self.fail(Error::config(format!(
                    "query parameters did not serialize: {e}"
                )));
            }
        };
        if let Ok(url) = &mut self.url
            && !encoded.is_empty()
        {
            let joined = match url.query() {
                Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
                _ => encoded,
            };
            url.set_query(Some(&joined));
        }
        self
    }

    /// Adds a header (replacing one of the same name). Headers in the credential list are
    /// marked sensitive.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(mut value)) => {
                if self.client.inner.sensitive.is_header(&name) {
                    value.set_sensitive(true);
                }
                self.headers.insert(name, value);
                self
            }
            (Err(_), _) => self.fail(Error::config("request header name is not valid")),
            (Ok(name), Err(_)) => self.fail(Error::config(format!(
                "request header {name} has a value an HTTP header cannot carry"
            ))),
        }
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                self.body = Body::Bytes(bytes.into());
                self
            }
            Err(e) => self.fail(Error::config(format!(
                "request body did not serialize to JSON: {e}"
            ))),
        }
    }

    /// A form body (`Content-Type: application/x-www-form-urlencoded`).
    pub fn form<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_urlencoded::to_string(body) {
            Ok(text) => {
                self.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                self.body = Body::Bytes(text.into());
                self
            }
            Err(e) => self.fail(Error::config(format!("form body did not serialize: {e}"))),
        }
    }

    /// A body held in memory (replayed on a 307/308 redirect).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::Bytes(body.into());
        self
    }

    /// A streaming body. It is sent once: a redirect that needs it again (307/308) fails with
    /// [`RedirectKind::BodyNotReplayable`].
    pub fn body_stream(mut self, body: impl Into<reqwest::Body>) -> Self {
        self.body = Body::Stream(Some(body.into()));
        self
    }

    /// Uses `auth` for this request instead of the client's schemes (for example
    /// [`crate::auth::NoAuth`]).
    pub fn auth(mut self, auth: impl Authenticate + 'static) -> Self {
        if let Err(e) = auth.validate() {
            return self.fail(e);
        }
        self.auth = Some(Arc::from([Arc::new(auth) as Arc<dyn Authenticate>]));
        self
    }

    /// The per-attempt timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }

    /// The overall deadline for this request.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The retry policy for this request, instead of the client's.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Sets the `Idempotency-Key` header, which lets a POST or PATCH be retried like a PUT:
    /// the server recognises a repeat and does the work once.
    pub fn idempotency_key(self, key: impl AsRef<str>) -> Self {
        self.header(IDEMPOTENCY_KEY, key.as_ref())
    }

    /// Sends the request, follows redirects, retries what may be retried, and returns a
    /// success response.
    ///
    /// # Errors
    ///
    /// - [`Error::Status`] for a non-2xx answer (after any retries), with a scrubbed body
    ///   excerpt, the request id, and the attempts made and time waited;
    /// - [`Error::RateLimited`] when the server asked for a longer wait than
    ///   [`RetryPolicy::max_retry_after`];
    /// - [`Error::Transport`] when the exchange failed (the URL is redacted);
    /// - [`Error::Redirect`] for a redirect loop, a bad `Location`, or a stream that a 307/308
    ///   needed again;
    /// - [`Error::Deadline`] when the overall deadline ran out;
    /// - [`Error::Config`] or [`Error::InvalidUrl`] for a request that could not be built, or
    ///   credentials that would go over plain http;
    /// - [`Error::Auth`] when an auth scheme failed.
    pub async fn send(self) -> Result<Response> {
        let client = self.client.clone();
        let inner = &client.inner;
        let deadline = self.deadline.or(inner.deadline);
        let started = Instant::now();
        let mut progress = Progress {
            method: self.method.clone(),
            url: self.url.as_ref().ok().cloned(),
            redactor: Redactor::new(inner.sensitive.clone()),
            attempts: 0,
            status: None,
            credential: Arc::clone(&inner.none_label),
            started,
            deadline_at: deadline.and_then(|d| started.checked_add(d)),
            waited: Duration::ZERO,
            retry_stop: None,
        };
        // The loop's future is large (it holds reqwest's); boxing it once keeps `send()`'s own
        // future small, so callers do not copy kilobytes each time they move it.
        let run = Box::pin(self.run(&mut progress));
        let result = match deadline {
            None => run.await,
            Some(deadline) => match tokio::time::timeout(deadline, run).await {
                Ok(result) => result,
                Err(_) => Err(Error::Deadline {
                    request: progress.info(),
                    deadline,
                }),
            },
        };
        progress.audit(inner.audit.as_ref(), &result);
        result
    }

    /// The send loop: one pass per attempt (a redirect hop or a retry).
    async fn run(mut self, progress: &mut Progress) -> Result<Response> {
        let client = self.client.clone();
        let inner = &*client.inner;
        let mut url = self.url?;
        let mut method = self.method;
        let auth = self.auth.take().unwrap_or_else(|| inner.auth.clone());
        let timeout = self.timeout.unwrap_or(inner.timeout);
        let policy = self.retry.take().unwrap_or_else(|| inner.retry.clone());
        let mut headers = inner.default_headers.clone();
        for (name, value) in self.headers.drain().filter_map(|(n, v)| Some((n?, v))) {
            headers.insert(name, value);
        }
        if inner.idempotency_keys
            && (method == Method::POST || method == Method::PATCH)
            && !headers.contains_key(IDEMPOTENCY_KEY)
        {
            // One key for every attempt of this call, so the server can tell a retry.
            let key = uuid::Uuid::new_v4().hyphenated().to_string();
            headers.insert(
                IDEMPOTENCY_KEY,
                HeaderValue::from_str(&key).expect("a UUID is a valid header value"),
            );
        }
        let mut body = self.body;
        let mut retries = Retries::new(policy);
        let mut hops = 0;
        let mut replayed_after_401 = false;
        loop {
            let origin = inner.origin(&url);
            let mut hop_url = url.clone();
            let mut hop_headers = headers.clone();
            progress.method = method.clone();

            // Pace: wait for the origin's gate (first contact, a 429's delay, a spent quota).
            let ticket = pace(&origin.gate, progress, retries.policy.max_retry_after).await?;

            let carries_manual = hop_headers.keys().any(|n| progress.redactor.is_header(n));
            let allowed = if auth.is_empty() && !carries_manual {
                true
            } else {
                client.credentials_allowed(&url)?
            };
            let mut sent_authorization = None;
            if !allowed {
                // Another origin: no scheme is asked, and credentials set by hand stay home.
                strip_credential_headers(&mut hop_headers, &progress.redactor);
                progress.credential = Arc::clone(&inner.withheld_label);
            } else if !auth.is_empty() {
                let body_bytes = match &body {
                    Body::Bytes(b) => Some(&b[..]),
                    _ => None,
                };
                for a in auth.iter() {
                    let mut request = AuthRequest::new(
                        &method,
                        &mut hop_url,
                        &mut hop_headers,
                        body_bytes,
                        &mut progress.redactor,
                    );
                    a.authenticate(&mut request).await?;
                }
                sent_authorization = hop_headers.get(http::header::AUTHORIZATION).cloned();
                progress.credential = if Arc::ptr_eq(&auth, &inner.auth) {
                    inner.auth_label.clone()
                } else {
                    auth.iter()
                        .map(|a| a.label())
                        .collect::<Vec<_>>()
                        .join(" + ")
                        .into()
                };
            }
            for (name, value) in &mut hop_headers {
                if progress.redactor.is_header(name) {
                    value.set_sensitive(true);
                }
            }
            // Errors and the audit trail show the URL as sent, credentials redacted.
            progress.url = Some(hop_url.clone());
            let mut request = reqwest::Request::new(method.clone(), hop_url);
            *request.headers_mut() = hop_headers;
            *request.timeout_mut() = timeout;
            match &mut body {
                Body::Empty => {}
                Body::Bytes(b) => *request.body_mut() = Some(reqwest::Body::from(b.clone())),
                Body::Stream(s) => match s.take() {
                    Some(stream) => *request.body_mut() = Some(stream),
                    None => {
                        return Err(redirect_error(
                            progress,
                            progress.status.unwrap_or(StatusCode::TEMPORARY_REDIRECT),
                            RedirectKind::BodyNotReplayable,
                        ));
                    }
                },
            }
            progress.attempts += 1;
            tracing::debug!(
                target: "authed::client",
                method = %method,
                url = %progress.redacted_url(),
                attempt = progress.attempts,
                "sending"
            );
            let replay_safe =
                retry::is_idempotent(&method) || headers.contains_key(IDEMPOTENCY_KEY);
            let response = match inner.http.execute(request).await {
                Ok(response) => response,
                Err(e) => {
                    drop(ticket);
                    let reason = match transport_kind(&e) {
                        TransportKind::Connect if retry::is_tls_failure(&e) => None,
                        TransportKind::Connect => Some(RetryReason::Connect),
                        TransportKind::Timeout => Some(RetryReason::Timeout),
                        TransportKind::Request | TransportKind::Body => Some(RetryReason::Dropped),
                    };
                    if let Some(reason) = reason
                        && retry::transport_is_retryable(reason, replay_safe)
                    {
                        match retries.plan(reason, None, &body, &origin, progress) {
                            Ok(wait) => {
                                tokio::time::sleep(wait).await;
                                continue;
                            }
                            Err(stop) => progress.retry_stop = Some(stop),
                        }
                    }
                    return Err(transport_error(progress, e));
                }
            };
            let status = response.status();
            progress.status = Some(status);
            let now = Instant::now();
            let wall = SystemTime::now();
            let asks_delay = status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE
                || status.is_redirection();
            let server_delay = if asks_delay {
                ratelimit::server_delay(response.headers(), wall)
            } else {
                None
            };
            let state = RateLimitState::from_headers(response.headers(), wall);
            let block = server_delay
                .filter(|_| !status.is_redirection())
                .map(|(d, _)| d);
            ticket.observe(state, block, now);
            if inner.supplied_reqwest && Some(response.url()) != progress.url.as_ref() {
                return Err(redirect_error(
                    progress,
                    status,
                    RedirectKind::FollowedByReqwest,
                ));
            }
            tracing::debug!(
                target: "authed::client",
                status = status.as_u16(),
                "response"
            );
            if let Some((delay, source)) = server_delay
                && delay > retries.policy.max_retry_after
                && (status.is_redirection()
                    || retry::status_is_retryable(status, response.headers(), replay_safe))
            {
                return Err(Error::RateLimited(Box::new(RateLimitedError {
                    request: progress.info(),
                    status: Some(status),
                    retry_after: delay,
                    source: Some(source),
                    rate_limit: origin.gate.snapshot(now),
                })));
            }

            if is_followed_redirect(status) && inner.max_redirects > 0 {
                hops += 1;
                if hops > inner.max_redirects {
                    return Err(redirect_error(progress, status, RedirectKind::TooMany));
                }
                let next = match next_hop(&url, &response, &mut method, &mut body, &mut headers) {
                    Ok(next) => next,
                    Err(kind) => return Err(redirect_error(progress, status, kind)),
                };
                let mut next = next;
                if next.origin() != url.origin() {
                    // Leaving the origin: credentials set by the caller stay behind for good,
                    // and so does any credential value the server copied into the Location.
                    strip_credential_headers(&mut headers, &progress.redactor);
                    strip_credential_query(&mut next, &progress.redactor);
                }
                tracing::debug!(
                    target: "authed::client",
                    status = status.as_u16(),
                    to = %progress.redactor.url(&next),
                    "following redirect"
                );
                drop(response);
                if let Some((delay, _)) = server_delay {
                    progress.waited += delay;
                    tokio::time::sleep(delay).await;
                }
                url = next;
                continue;
            }
            if status.is_success() {
                retries.succeeded(&origin);
                return Ok(progress.respond(response, method, url));
            }
            if status == StatusCode::UNAUTHORIZED
                && allowed
                && !auth.is_empty()
                && !replayed_after_401
                && !matches!(body, Body::Stream(_))
            {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok());
                if !challenge.is_some_and(|c| c.contains("insufficient_scope")) {
                    let rejected = Unauthorized {
                        authorization: sent_authorization.as_ref(),
                        challenge,
                    };
                    let mut renewed = false;
                    for a in auth.iter() {
                        renewed |= a.unauthorized(&rejected).await?;
                    }
                    if renewed {
                        tracing::debug!(
                            target: "authed::client",
                            "credential renewed after a 401; replaying once"
                        );
                        replayed_after_401 = true;
                        drop(response);
                        continue;
                    }
                }
            }
            if retry::status_is_retryable(status, response.headers(), replay_safe) {
                let server = server_delay.map(|(d, _)| d);
                match retries.plan(
                    RetryReason::Status(status),
                    server,
                    &body,
                    &origin,
                    progress,
                ) {
                    Ok(wait) => {
                        drop(response);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(stop) => progress.retry_stop = Some(stop),
                }
            }
            if self.any_status {
                return Ok(progress.respond(response, method, url));
            }
            return Err(status_error(progress, response).await);
        }
    }
}

/// Waits at the origin's gate until this request may leave, and returns its ticket.
///
/// # Errors
///
/// [`Error::RateLimited`] when the wait would be longer than `max_retry_after`.
async fn pace<'a>(
    gate: &'a Gate,
    progress: &mut Progress,
    max_retry_after: Duration,
) -> Result<Ticket<'a>> {
    let mut patient = true;
    loop {
        let now = Instant::now();
        match gate.reserve(now, patient) {
            Reservation::AwaitFirstContact => {
                // Register for the signal, then ask again: an answer that arrived in between
                // would otherwise be missed.
                let contact = gate.first_contact();
                tokio::pin!(contact);
                contact.as_mut().enable();
                if gate.contacted() {
                    continue;
                }
                if tokio::time::timeout(ratelimit::FIRST_CONTACT_WAIT, contact)
                    .await
                    .is_err()
                {
                    patient = false;
                }
                progress.waited += now.elapsed();
            }
            Reservation::Depart(at, ticket) => {
                if at > now {
                    let wait = at - now;
                    if wait > max_retry_after {
                        return Err(Error::RateLimited(Box::new(RateLimitedError {
                            request: progress.info(),
                            status: None,
                            retry_after: wait,
                            source: None,
                            rate_limit: gate.snapshot(now),
                        })));
                    }
                    tracing::debug!(
                        target: "authed::ratelimit",
                        wait_ms = millis(wait),
                        "pacing for the origin's rate limit"
                    );
                    progress.waited += wait;
                    tokio::time::sleep_until(at).await;
                }
                return Ok(ticket);
            }
        }
    }
}

/// The header a caller (or [`ClientBuilder::idempotency_keys`]) sets to make a POST safe to
/// retry.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The retry state of one call: the policy, its backoff delays, and what it has spent.
struct Retries {
    policy: RetryPolicy,
    delays: Option<Delays>,
    made: u32,
    spent: u32,
}

impl Retries {
    fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            delays: None,
            made: 0,
            spent: 0,
        }
    }

    /// Decides whether to retry and how long to wait first: `max(server, backoff)`, within the
    /// retry limit, the time budget, the deadline and the origin's retry budget.
    fn plan(
        &mut self,
        reason: RetryReason,
        server: Option<Duration>,
        body: &Body,
        origin: &OriginState,
        progress: &mut Progress,
    ) -> std::result::Result<Duration, RetryStop> {
        if self.made >= self.policy.max_retries {
            return Err(RetryStop::MaxRetries);
        }
        if matches!(body, Body::Stream(_)) {
            return Err(RetryStop::BodyNotReplayable);
        }
        let backoff = self
            .delays
            .get_or_insert_with(|| self.policy.backoff())
            .next();
        let wait = server.map_or(backoff, |s| s.max(backoff));
        let now = Instant::now();
        let resume = now.checked_add(wait);
        let past_budget = self
            .policy
            .max_elapsed
            .is_some_and(|budget| now.duration_since(progress.started) + wait > budget);
        let past_deadline = progress
            .deadline_at
            .is_some_and(|deadline| resume.is_none_or(|r| r > deadline));
        if past_budget || past_deadline {
            return Err(RetryStop::TimeBudget);
        }
        let cost = if reason == RetryReason::Timeout {
            retry::TIMEOUT_RETRY_COST
        } else {
            retry::RETRY_COST
        };
        if self.policy.budget && !origin.budget.withdraw(cost) {
            return Err(RetryStop::Budget);
        }
        self.made += 1;
        self.spent += cost;
        progress.waited += wait;
        tracing::info!(
            target: "authed::retry",
            method = %progress.method,
            url = %progress.redacted_url(),
            reason = %reason,
            retry = self.made,
            wait_ms = millis(wait),
            server_asked_ms = server.map(millis),
            "retrying"
        );
        Ok(wait)
    }

    /// Gives back to the origin's budget: what this call's retries spent, or a little.
    fn succeeded(&self, origin: &OriginState) {
        if self.policy.budget {
            origin.budget.deposit(if self.made == 0 {
                retry::SUCCESS_REFILL
            } else {
                self.spent
            });
        }
    }
}

/// Where a redirect leads, with the method and body adjusted for its status.
fn next_hop(
    url: &Url,
    response: &reqwest::Response,
    method: &mut Method,
    body: &mut Body,
    headers: &mut HeaderMap,
) -> std::result::Result<Url, RedirectKind> {
    let location = response
        .headers()
        .get(LOCATION)
        .ok_or(RedirectKind::MissingLocation)?;
    let mut next = location
        .to_str()
        .ok()
        .and_then(|l| url.join(l).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or(RedirectKind::InvalidLocation)?;
    next.set_fragment(None);
    if matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
    ) {
        if *method != Method::HEAD {
            *method = Method::GET;
        }
        *body = Body::Empty;
        headers.remove(CONTENT_TYPE);
        headers.remove(CONTENT_LENGTH);
    } else if matches!(body, Body::Stream(None)) {
        return Err(RedirectKind::BodyNotReplayable);
    }
    Ok(next)
}

fn strip_credential_headers(headers: &mut HeaderMap, redactor: &Redactor) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| redactor.is_header(n))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// Removes from `url` every query parameter that authentication wrote on this request, or whose
/// value is a credential the request carried.
fn strip_credential_query(url: &mut Url, redactor: &Redactor) {
    let Some(query) = url.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let mut parsed = url::form_urlencoded::parse(pair.as_bytes());
            match parsed.next() {
                Some((name, value)) => {
                    !redactor
                        .auth_query_names()
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&name))
                        && !redactor.is_credential_value(&value)
                }
                None => true,
            }
        })
        .collect();
    if kept.len() != query.split('&').count() {
        let joined = kept.join("&");
        url.set_query(if joined.is_empty() {
            None
        } else {
            Some(&joined)
        });
    }
}

/// What the send loop knows about the request so far; read by errors, the deadline and the
/// audit event.
struct Progress {
    method: Method,
    url: Option<Url>,
    redactor: Redactor,
    attempts: u32,
    status: Option<StatusCode>,
    credential: Arc<str>,
    started: Instant,
    deadline_at: Option<Instant>,
    waited: Duration,
    retry_stop: Option<RetryStop>,
}

impl Progress {
    /// The response handed to the caller. It takes the URL as sent (with any credential
    /// query), so that its redaction matches the error and audit views of the same request.
    fn respond(&mut self, inner: reqwest::Response, method: Method, fallback: Url) -> Response {
        Response {
            inner,
            sent: Sent {
                method,
                url: self.url.take().unwrap_or(fallback),
                redactor: self.redactor.clone(),
                attempts: self.attempts,
                started: self.started,
            },
        }
    }

    fn redacted_url(&self) -> String {
        self.url
            .as_ref()
            .map_or_else(|| "(invalid URL)".to_owned(), |u| self.redactor.url(u))
    }

    pub(crate) fn info(&self) -> RequestInfo {
        RequestInfo {
            method: self.method.clone(),
            url: self.redacted_url(),
            attempts: self.attempts,
            elapsed: self.started.elapsed(),
            waited: self.waited,
            last_status: self.status,
            retry_stop: self.retry_stop,
        }
    }

    fn audit(&self, hook: Option<&AuditHook>, result: &Result<Response>) {
        let audit_enabled = tracing::enabled!(target: audit::TARGET, tracing::Level::INFO);
        if hook.is_none() && !audit_enabled {
            return;
        }
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(Error::Status(_)) => Outcome::Status,
            Err(_) => Outcome::Failed,
        };
        let event = AuditEvent {
            at: SystemTime::now(),
            method: self.method.clone(),
            // A response took the URL it was sent to (it is not copied on the hot path).
            url: match result {
                Ok(response) => response.redacted_url(),
                Err(_) => self.redacted_url(),
            },
            status: self.status,
            attempts: self.attempts,
            elapsed: self.started.elapsed(),
            credential: self.credential.to_string(),
            outcome,
        };
        audit::emit(&event, hook);
    }
}

fn transport_kind(error: &reqwest::Error) -> TransportKind {
    if error.is_connect() {
        TransportKind::Connect
    } else if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_body() || error.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Request
    }
}

fn transport_error(progress: &Progress, error: reqwest::Error) -> Error {
    Error::Transport(Box::new(TransportError {
        request: progress.info(),
        kind: transport_kind(&error),
        source: Arc::new(error.without_url()),
    }))
}

fn redirect_error(progress: &Progress, status: StatusCode, kind: RedirectKind) -> Error {
    Error::Redirect(Box::new(RedirectError {
        request: progress.info(),
        status,
        kind,
    }))
}

async fn status_error(progress: &Progress, mut response: reqwest::Response) -> Error {
    let status = response.status();
    let request_id = REQUEST_ID_HEADERS.iter().find_map(|name| {
        response
            .headers()
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(|v| progress.redactor.scrub(v).into_owned())
    });
    let www_authenticate = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(|v| progress.redactor.scrub(v).into_owned());
    let mut body = Vec::new();
    let mut truncated = false;
    // A body that fails to arrive is not worth hiding the status for.
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ERROR_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body);
    Error::Status(Box::new(StatusError {
        request: progress.info(),
        status,
        body_excerpt: progress.redactor.scrub(&text).into_owned(),
        body_truncated: truncated,
        request_id,
        www_authenticate,
    }))
}

/// A success response. Read its body once, with [`Response::json`], [`Response::text`] or
/// [`Response::bytes`].
pub struct Response {
    inner: reqwest::Response,
    sent: Sent,
}

/// What a response remembers of its request, for the errors its body may still produce.
struct Sent {
    method: Method,
    /// The URL as sent (with any credential query), redacted only when shown.
    url: Url,
    redactor: Redactor,
    attempts: u32,
    started: Instant,
}

impl Sent {
    fn info(&self, last_status: Option<StatusCode>) -> RequestInfo {
        RequestInfo {
            method: self.method.clone(),
            url: self.redactor.url(&self.url),
            attempts: self.attempts,
            elapsed: self.started.elapsed(),
            waited: Duration::ZERO,
            last_status,
            retry_stop: None,
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.inner.status())
            .field("url", &self.redacted_url())
            .field(
                "headers",
                &redact::headers_for_debug(self.inner.headers(), |n| {
                    self.sent.redactor.is_header(n)
                }),
            )
            .field("attempts", &self.sent.attempts)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The status (always a success).
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL of the last hop, with credentials redacted.
    pub fn redacted_url(&self) -> String {
        self.sent.redactor.url(&self.sent.url)
    }

    /// How many times the request went out (redirect hops included).
    pub fn attempts(&self) -> u32 {
        self.sent.attempts
    }

    pub(crate) fn info(&self) -> RequestInfo {
        self.sent.info(Some(self.inner.status()))
    }

    /// The whole body, and what the request was (for errors built after reading it).
    async fn read(self) -> Result<(Bytes, Sent)> {
        let Self { inner, sent } = self;
        match inner.bytes().await {
            Ok(bytes) => Ok((bytes, sent)),
            // The error details are built only on failure: a redacted URL costs more than
            // reading a small body.
            Err(e) => Err(Error::Transport(Box::new(TransportError {
                request: sent.info(None),
                kind: if e.is_timeout() {
                    TransportKind::Timeout
                } else {
                    TransportKind::Body
                },
                source: Arc::new(e.without_url()),
            }))),
        }
    }

    /// The whole body.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with [`TransportKind::Body`] when the body could not be read.
    pub async fn bytes(self) -> Result<Bytes> {
        Ok(self.read().await?.0)
    }

    /// The body as text (invalid UTF-8 is replaced with U+FFFD).
    ///
    /// # Errors
    ///
    /// As [`Response::bytes`].
    pub async fn text(self) -> Result<String> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Decodes the JSON body into `T`. An empty body decodes as `null` (so `()` and `Option`
    /// work for `204 No Content`).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] naming the field that failed (`items[2].id`), with values from the
    /// body redacted; or an error of [`Response::bytes`].
    pub async fn json<T: DeserializeOwned>(self) -> Result<T> {
        let (bytes, sent) = self.read().await?;
        let input: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        let mut de = serde_json::Deserializer::from_slice(input);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let message = redact::serde_message(&e.into_inner().to_string());
            Error::Decode(Box::new(DecodeError {
                request: sent.info(None),
                path: sent.redactor.scrub(&path).into_owned(),
                message: sent.redactor.scrub(&message).into_owned(),
            }))
        })
    }
}
