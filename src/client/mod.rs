//! [`Client`], [`ClientBuilder`], [`RequestBuilder`], [`Response`], and the send loop.
//!
//! | file | owns |
//! | --- | --- |
//! | `mod.rs` | [`Client`] and the state its clones share |
//! | `builder.rs` | [`ClientBuilder`] and the defaults |
//! | `request.rs` | [`RequestBuilder`], [`Endpoint`] |
//! | `send.rs` | the send loop: `attempt()` = pace → credentials → authenticate → transmit → classify, one decision per attempt |
//! | `credentials.rs` | the authentication stage (schemes write through `AuthRequest`; renewal after a 401) |
//! | `redirect.rs` | the redirect [`Policy`](crate::redirect::Policy), next-hop rules, credential stripping, which origins get credentials |
//! | `throttle.rs` | the throttling stage: per-origin gates and retry budgets |
//! | `response.rs` | [`Response`], and [`crate::Error::Status`] built from an answer |
//!
//! The stages are the same ones `authed::middleware` (feature `reqwest-middleware`) offers to
//! reqwest-middleware stacks.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use authed::{Client, RetryPolicy, Secret, auth::Bearer};
//!
//! #[derive(serde::Deserialize)]
//! struct Repo {
//!     full_name: String,
//!     stargazers_count: u64,
//! }
//!
//! async fn example() -> authed::Result<()> {
//!     let api = Client::builder("https://api.github.com/")
//!         .auth(Bearer::new(Secret::from_env("GITHUB_TOKEN")?))
//!         .default_header("accept", "application/vnd.github+json")
//!         .timeout(Duration::from_secs(30)) // per attempt
//!         .deadline(Duration::from_secs(120)) // the whole request, retries and waits included
//!         .retry(RetryPolicy::default().max_retries(5))
//!         .build()?; // configuration errors surface here, before anything is sent
//!
//!     // Path parameters through `path!`: each stays one segment.
//!     let (owner, name) = ("rust-lang", "rust");
//!     let repo: Repo = api
//!         .get(&authed::path!("repos/{}/{}", owner, name))
//!         .send()
//!         .await?
//!         .json()
//!         .await?;
//!     println!("{}: {} stars", repo.full_name, repo.stargazers_count);
//!
//!     // A non-success status is an `Err` (see `crate::error`); `Client` is cheap to clone.
//!     let created = api
//!         .clone()
//!         .post("user/repos")
//!         .json(&serde_json::json!({ "name": "demo", "private": true }))
//!         .send()
//!         .await?;
//!     println!("{} after {} attempt(s)", created.status(), created.attempts());
//!     Ok(())
//! }
//! ```

mod builder;
pub(crate) mod credentials;
mod paginate;
pub(crate) mod redirect;
mod request;
mod response;
mod send;
pub(crate) mod throttle;

use std::{fmt, sync::Arc, time::Duration};

use http::{HeaderMap, Method};
use url::Url;

pub use builder::{ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use paginate::{MAX_PAGES, Pages};
#[cfg(feature = "reqwest-middleware")]
pub(crate) use request::IDEMPOTENCY_KEY;
pub use request::{Endpoint, RequestBuilder};
pub use response::{BodyStream, MAX_ERROR_BODY, Response};
#[cfg(feature = "reqwest-middleware")]
pub(crate) use send::transport_retry;

use crate::{
    audit::{AuditHook, WaitHook},
    error::Result,
    path::BaseUrl,
    ratelimit::RateLimitState,
    redact::{self, Additions, CredentialNames},
    retry::RetryPolicy,
};
use credentials::AuthList;
use redirect::{Origins, Policy as RedirectPolicy};
use throttle::Throttle;

/// A client for one API: a base URL, credentials, and the rules for sending them.
///
/// Cheap to clone (one `Arc`); clones share the connection pool, the pacing gates, the retry
/// budgets and the credentials (a token cache refreshes once for all of them). `Send + Sync`.
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
    pub(crate) inner: Arc<Inner>,
}

/// What every clone of a client shares.
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) supplied_reqwest: bool,
    pub(crate) base: BaseUrl,
    pub(crate) default_headers: HeaderMap,
    pub(crate) auth: AuthList,
    pub(crate) origins: Origins,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) redirect: RedirectPolicy,
    pub(crate) names: Arc<CredentialNames>,
    /// The credential values among the default headers (`default_header("x-api-key", ..)`),
    /// registered once for scrubbing; `None` when there is none.
    pub(crate) default_credentials: Option<Arc<Additions>>,
    pub(crate) audit: Option<AuditHook>,
    pub(crate) on_wait: Option<WaitHook>,
    pub(crate) retry: RetryPolicy,
    pub(crate) idempotency_keys: bool,
    pub(crate) throttle: Throttle,
    pub(crate) labels: Labels,
}

/// Credential labels for the audit trail, built once.
pub(crate) struct Labels {
    /// The client's schemes (`"bearer"`, `"basic + api-key header x-api-key"`).
    pub(crate) auth: Arc<str>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Client")
            .field("base_url", &i.names.url(i.base.as_url()))
            .field("auth", &i.auth)
            .field(
                "default_headers",
                &redact::headers_for_debug(&i.default_headers, |n| i.names.is_header(n)),
            )
            .field("allowed_origins", &i.origins.names())
            .field("timeout", &i.timeout)
            .field("deadline", &i.deadline)
            .field("redirect", &i.redirect)
            .field("retry", &i.retry)
            .field("pacing", &i.throttle)
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
        self.inner.throttle.snapshot(&url)
    }

    /// Forgets what `origin` (an origin, or any URL on it) said about its limits: blocks
    /// after a 429, spent quotas, learned buckets. For every clone of this client. Use it
    /// when you know better than the server's last word (a quota raised, a proxy's bogus
    /// `Retry-After: 86400`). Returns `false` when the client never talked to that origin.
    pub fn reset_rate_limit(&self, origin: &str) -> bool {
        Url::parse(origin).is_ok_and(|url| self.inner.throttle.reset(&url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resetting_an_unknown_or_invalid_origin_says_so() {
        let client = Client::builder("http://127.0.0.1:9/").build().unwrap();
        assert!(client.reset_rate_limit("http://127.0.0.1:9"));
        assert!(!client.reset_rate_limit("https://elsewhere.example"));
        assert!(!client.reset_rate_limit("not a url"));
    }
}
