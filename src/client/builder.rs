//! [`ClientBuilder`]: every setting of a [`Client`], checked once by [`ClientBuilder::build`].

use std::{fmt, sync::Arc, time::Duration};

use http::{HeaderMap, HeaderName, HeaderValue, header::USER_AGENT};

use super::{
    Client, Inner, Labels, credentials, redirect::Origins, redirect::Policy as RedirectPolicy,
    redirect::is_loopback, throttle::Throttle,
};
use crate::{
    audit::{AuditEvent, AuditHook, WaitEvent, WaitHook},
    auth::Authenticate,
    error::{Error, Result},
    path::BaseUrl,
    ratelimit::{Pacing, shared::SharedGate},
    redact::{self, Additions, CredentialNames},
    retry::RetryPolicy,
};

/// Default time to establish a connection. Ten seconds covers a slow TLS handshake across the
/// world; a host that has not answered by then is usually down.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time for one attempt (send and read the whole response). An API call that takes
/// longer than this is usually stuck; raise it for large downloads.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a [`Client`]. Every setter takes and returns the builder; errors are collected and
/// reported once, by [`ClientBuilder::build`].
///
/// ```no_run
/// use std::time::Duration;
/// use authed::{Client, RetryPolicy, Secret, auth::ApiKey, ratelimit::Pacing, redirect};
///
/// # fn run() -> authed::Result<()> {
/// let api = Client::builder("https://api.example.com/v1/")
///     .auth(ApiKey::header("X-API-Key", Secret::from_env("EXAMPLE_KEY")?))
///     .allow_origin("https://uploads.example.com")       // credentials may go there too
///     .default_header("accept", "application/json")
///     .timeout(Duration::from_secs(10))                  // per attempt
///     .deadline(Duration::from_secs(60))                 // whole call, retries included
///     .retry(RetryPolicy::default().max_retries(5))
///     .redirect(redirect::Policy::limited(3))
///     .pacing(Pacing::default())
///     .build()?;
/// # let _ = api; Ok(()) }
/// ```
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
    redirect: RedirectPolicy,
    reqwest: Option<reqwest::Client>,
    names: CredentialNames,
    audit: Option<AuditHook>,
    on_wait: Option<WaitHook>,
    retry: RetryPolicy,
    pacing: Pacing,
    /// Pacing shared with other processes (`fleet::SharedPacing`, feature `redis`).
    shared: Option<Arc<dyn SharedGate>>,
    idempotency_keys: bool,
    errors: Vec<Error>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field(
                "base_url",
                &self.base.as_ref().map(|b| self.names.url(b.as_url())),
            )
            .field("auth", &self.auth)
            .field(
                "default_headers",
                &redact::headers_for_debug(&self.default_headers, |n| self.names.is_header(n)),
            )
            .field("allowed_origins", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(base_url: &str) -> Self {
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
            redirect: RedirectPolicy::default(),
            reqwest: None,
            names: CredentialNames::builtin(),
            audit: None,
            on_wait: None,
            retry: RetryPolicy::default(),
            pacing: Pacing::default(),
            shared: None,
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
    ///
    /// Loopback means an IP literal in `127.0.0.0/8`, `::1`, or exactly the name `localhost`.
    /// Other names under `.localhost` (`api.localhost`) are not loopback here, since nothing
    /// guarantees they resolve there: plain http to them needs this opt-in.
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
            Ok(n) => self.names.add_header(n),
            Err(_) => self
                .errors
                .push(Error::config("sensitive header name is not valid")),
        }
        self
    }

    /// Adds a query parameter name to the credential list (redacted from all text).
    pub fn sensitive_query(mut self, name: &str) -> Self {
        self.names.add_query(name);
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

    /// Time allowed for a whole call, redirects, retries and their waits included. None by
    /// default.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Which redirects are followed ([`RedirectPolicy::default`]: up to
    /// [`crate::redirect::DEFAULT_MAX_REDIRECTS`] hops). Whatever the policy, credentials never
    /// follow a redirect to another origin.
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = policy;
        self
    }

    /// Sends through your own `reqwest::Client` (its TLS roots, proxy, pool settings).
    ///
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: authed follows redirects
    /// itself so that credentials never follow a redirect to another origin. A client that
    /// follows them anyway is detected after the fact and the request fails with
    /// [`crate::error::RedirectKind::FollowedByReqwest`]; by then reqwest has already sent your
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

    /// How requests are paced to fit the server's rate limits ([`Pacing::default`]: per
    /// origin, and per bucket when the server names one). See [`crate::ratelimit`].
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Adds a gate shared with other processes: `ClientBuilder::shared_pacing`, which the
    /// fleet module defines (so that this module needs nothing of it).
    #[cfg(feature = "redis")]
    pub(crate) fn shared_gate(mut self, gate: Arc<dyn SharedGate>) -> Self {
        self.shared = Some(gate);
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

    /// Calls `hook` with a [`WaitEvent`] just before a request waits: before a retry, at its
    /// origin's pacing gate, or before following a redirect that asked for a delay (see
    /// [Waits](crate::audit#waits)). For a progress indicator: the event says why and for how
    /// long. Keep it quick: it runs on the request's task, and the wait starts when it
    /// returns. Without a hook, no event is built.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let waits = Arc::new(Mutex::new(Vec::new()));
    /// let log = waits.clone();
    /// let api = authed::Client::builder("https://api.example.com/")
    ///     .on_wait(move |event| log.lock().unwrap().push((event.reason, event.wait)))
    ///     .build()?;
    /// # let _ = api; Ok::<(), authed::Error>(())
    /// ```
    pub fn on_wait(mut self, hook: impl Fn(&WaitEvent) + Send + Sync + 'static) -> Self {
        self.on_wait = Some(WaitHook(Arc::new(hook)));
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
        let base_url = base.as_url();
        let origins = Origins::new(base_url, &self.allowed, self.allow_http_credentials)?;
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
            if self.names.is_header(name) {
                value.set_sensitive(true);
            }
        }
        let default_credentials = Additions::hand_set(&default_headers, &self.names);
        let labels = Labels {
            auth: credentials::label(&self.auth),
        };
        let mut throttle = Throttle::new(self.pacing, Some(base_url));
        if let Some(shared) = self.shared {
            throttle = throttle.shared(shared);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                supplied_reqwest,
                default_headers,
                auth: self.auth.into(),
                origins,
                timeout: self.timeout,
                deadline: self.deadline,
                redirect: self.redirect,
                names: Arc::new(self.names),
                default_credentials,
                audit: self.audit,
                on_wait: self.on_wait,
                retry: self.retry,
                idempotency_keys: self.idempotency_keys,
                throttle,
                labels,
                base,
            }),
        })
    }
}
