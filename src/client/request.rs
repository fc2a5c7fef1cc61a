//! [`RequestBuilder`]: one request being built, and [`Endpoint`] for typed requests.

use std::{borrow::Cow, fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header::CONTENT_TYPE};
use serde::{Serialize, de::DeserializeOwned};
use url::Url;

use super::{Client, credentials::AuthList, redirect::Policy as RedirectPolicy};
use crate::{
    auth::Authenticate,
    error::{Error, Result},
    redact,
    retry::RetryPolicy,
};

/// The header a caller (or [`crate::ClientBuilder::idempotency_keys`]) sets to make a POST
/// safe to retry.
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// A request body.
pub(crate) enum Body {
    Empty,
    /// In memory: can be replayed on a redirect or a retry.
    Bytes(Bytes),
    /// A stream: sent once; a redirect or retry that needs it again fails.
    Stream(Option<reqwest::Body>),
}

impl Body {
    /// `true` when the body can be sent again.
    pub(crate) fn replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }

    /// `true` when there is something to send (a stream, or bytes that are not empty).
    pub(crate) fn has_content(&self) -> bool {
        match self {
            Self::Empty => false,
            Self::Bytes(b) => !b.is_empty(),
            Self::Stream(_) => true,
        }
    }
}

/// A request being built. Errors (an invalid header, a body that does not serialize) are kept
/// and returned by [`RequestBuilder::send`].
///
/// ```no_run
/// use std::time::Duration;
/// use authed::{Client, RetryPolicy};
///
/// # async fn run(api: Client) -> authed::Result<()> {
/// #[derive(serde::Serialize)]
/// struct NewItem<'a> { name: &'a str }
///
/// let created: serde_json::Value = api
///     .post("items")
///     .query(&[("dry_run", "false")])
///     .json(&NewItem { name: "spanner" })
///     .idempotency_key("3f0c2a9e-item-spanner")   // lets the POST be retried safely
///     .timeout(Duration::from_secs(5))
///     .retry(RetryPolicy::default().max_retries(5))
///     .send()
///     .await?
///     .json()
///     .await?;
/// # let _ = created; Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    pub(crate) client: Client,
    pub(crate) method: Method,
    /// `None` when the path did not join (the reason is in `error`).
    pub(crate) url: Option<Url>,
    /// The first problem found while building.
    pub(crate) error: Option<Error>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    pub(crate) auth: Option<AuthList>,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) redirect: Option<RedirectPolicy>,
    /// Return any final status as `Ok`.
    pub(crate) any_status: bool,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = &self.client.inner.names;
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url.as_ref().map(|u| names.url(u)))
            .field("error", &self.error.as_ref().map(ToString::to_string))
            .field(
                "headers",
                &redact::headers_for_debug(&self.headers, |n| names.is_header(n)),
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
    pub(crate) fn new(client: Client, method: Method, url: Result<Url>) -> Self {
        let (url, error) = match url {
            Ok(url) => (Some(url), None),
            Err(e) => (None, Some(e)),
        };
        Self {
            client,
            method,
            url,
            error,
            headers: HeaderMap::new(),
            body: Body::Empty,
            auth: None,
            timeout: None,
            deadline: None,
            retry: None,
            redirect: None,
            any_status: false,
        }
    }

    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Returns every final answer as `Ok`, whatever its status: for `304 Not Modified`, or an
    /// API whose 404 is an answer rather than a failure. Retries, redirects and the 401
    /// renewal still happen first. Turn a status back into an error with
    /// [`crate::Response::error_for_status`].
    ///
    /// ```no_run
    /// use http::{StatusCode, header::IF_NONE_MATCH};
    ///
    /// # async fn run(api: authed::Client, etag: &str) -> authed::Result<()> {
    /// let response = api.get("items").header(IF_NONE_MATCH, etag).any_status().send().await?;
    /// if response.status() == StatusCode::NOT_MODIFIED {
    ///     // keep the cached copy
    /// } else {
    ///     let items: Vec<String> = response.error_for_status().await?.json().await?;
    /// #   let _ = items;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn any_status(mut self) -> Self {
        self.any_status = true;
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
        if let Some(url) = &mut self.url
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
    /// marked sensitive, redacted, scrubbed from error text, and not sent to other origins.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(mut value)) => {
                if self.client.inner.names.is_header(&name) {
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

    /// A body held in memory (replayed on a retry or a 307/308 redirect).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::Bytes(body.into());
        self
    }

    /// A streaming body. It is sent once: a retry or a redirect that needs it again (307/308)
    /// fails with [`crate::error::RedirectKind::BodyNotReplayable`] or
    /// [`crate::retry::RetryStop::BodyNotReplayable`].
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

    /// The redirect policy for this request, instead of the client's.
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = Some(policy);
        self
    }

    /// Sets the `Idempotency-Key` header, which lets a POST or PATCH be retried like a PUT:
    /// the server recognises a repeat and does the work once.
    pub fn idempotency_key(self, key: impl AsRef<str>) -> Self {
        self.header(IDEMPOTENCY_KEY, key.as_ref())
    }
}

/// A typed API call: method, path, and what the response decodes into.
///
/// [`crate::Client::call`] joins [`Endpoint::path`] to the base URL (see [`mod@crate::path`] for
/// the rules; build paths with [`path!`](crate::path!) so that parameters stay one segment),
/// lets [`Endpoint::configure`] add a query, a body or headers, sends it, and decodes a success
/// into [`Endpoint::Output`]. An empty body decodes as JSON `null`, so `()` and `Option<T>` work
/// for `204 No Content`.
///
/// ```
/// use std::borrow::Cow;
/// use authed::{Endpoint, RequestBuilder};
/// use http::Method;
///
/// #[derive(serde::Deserialize)]
/// struct User { id: u64, name: String }
///
/// struct GetUser { id: u64 }
///
/// impl Endpoint for GetUser {
///     type Output = User;
///     fn method(&self) -> Method { Method::GET }
///     fn path(&self) -> Cow<'_, str> { authed::path!("users/{}", self.id).into() }
/// }
///
/// struct SearchUsers<'a> { name: &'a str }
///
/// impl Endpoint for SearchUsers<'_> {
///     type Output = Vec<User>;
///     fn method(&self) -> Method { Method::GET }
///     fn path(&self) -> Cow<'_, str> { "users".into() }
///     fn configure(&self, request: RequestBuilder) -> RequestBuilder {
///         request.query(&[("name", self.name)])
///     }
/// }
/// ```
pub trait Endpoint {
    /// What a successful response decodes into.
    type Output: DeserializeOwned;

    /// The HTTP method.
    fn method(&self) -> Method;

    /// The path, relative to the client's base URL.
    fn path(&self) -> Cow<'_, str>;

    /// Adds a query, a body or headers to the request. The default adds nothing.
    fn configure(&self, request: RequestBuilder) -> RequestBuilder {
        request
    }
}
