//! authed's stages as [`reqwest_middleware`] middleware, for teams that already have a
//! `ClientWithMiddleware` stack (tracing, caching, their own retry).
//!
//! | middleware | what it does | the same code as in [`crate::Client`] |
//! | --- | --- | --- |
//! | [`AuthMiddleware`] | writes any [`Authenticate`] scheme's credentials (a [`crate::oauth2::TokenAuth`] refreshes ahead of expiry), only to the origins you name; after a `401` lets the scheme renew and replays once | `client/credentials.rs`, `client/redirect.rs` (origins) |
//! | [`ThrottleMiddleware`] | paces requests at the origin's gate, obeys `Retry-After` and the rate-limit headers, retries what [`RetryPolicy`] says may be retried, with backoff and a retry budget | `client/throttle.rs`, `retry.rs`, `ratelimit/` |
//!
//! ```no_run
//! # #[cfg(feature = "reqwest-middleware")]
//! # async fn run(token: authed::Secret) -> Result<(), Box<dyn std::error::Error>> {
//! use authed::{auth::Bearer, middleware::{AuthMiddleware, ThrottleMiddleware}};
//!
//! let http = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none()) // see "Redirects" below
//!     .build()?;
//! let api = reqwest_middleware::ClientBuilder::new(http)
//!     .with(ThrottleMiddleware::default())              // outermost: paces and retries
//!     .with(AuthMiddleware::builder("https://api.example.com").auth(Bearer::new(token)).build()?)
//!     .build();
//! let me = api.get("https://api.example.com/me").send().await?;
//! # let _ = me; Ok(()) }
//! ```
//!
//! Put [`ThrottleMiddleware`] before (outside) [`AuthMiddleware`], so that every retry is
//! authenticated afresh (a token refreshed while the request waited is used).
//!
//! # What differs from [`crate::Client`]
//!
//! - **Answers stay answers.** A middleware returns the last response, whatever its status (a
//!   429 that asked for longer than [`RetryPolicy::max_retry_after`] included). Errors are
//!   authed's own [`crate::Error`] inside [`reqwest_middleware::Error::Middleware`] (pacing
//!   that would wait too long, a scheme that failed, credentials refused over plain http),
//!   or reqwest's, returned without their URL (it may carry a query credential).
//! - **Redirects** are whatever the underlying `reqwest::Client` does: build it with
//!   `redirect(reqwest::redirect::Policy::none())`, or reqwest will follow redirects below
//!   the middleware, where custom credential headers (an API key) go along to other hosts.
//!   authed's own `Client` follows redirects itself and strips credentials on the way.
//! - **Redaction.** The request's own text (errors, `tracing`) is redacted as in the client;
//!   what other middleware logs is up to them: the credential headers are marked sensitive,
//!   which hyper and reqwest honour.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use http::{Extensions, Method};
use reqwest_middleware::{Middleware, Next};
use tokio::time::Instant;
use url::Url;

use crate::{
    auth::Authenticate,
    client::{
        credentials::{self, AuthList},
        redirect::Origins,
        throttle::{Answer, OriginState, Throttle},
    },
    error::{Error, RateLimitedError, RequestInfo, Result},
    ratelimit::{Pacing, Ticket},
    redact::{CredentialNames, Redactor},
    retry::{self, Clock, Hint, Retries, RetryPolicy, RetryReason},
};

fn mw(e: Error) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(e)
}

/// Authenticates requests in a `reqwest_middleware` stack with any [`Authenticate`] scheme.
///
/// Credentials go only to the origin given to [`AuthMiddleware::builder`] and those added with
/// [`AuthMiddlewareBuilder::allow_origin`], and never over plain http to a host that is not
/// loopback unless allowed: a request elsewhere passes through untouched. After a `401` to a
/// request that carried them, each scheme may renew its credential
/// ([`Authenticate::unauthorized`]: [`crate::oauth2::TokenAuth`] refreshes) and the request is
/// replayed once (not a streaming body, which cannot be sent twice).
#[derive(Clone)]
pub struct AuthMiddleware {
    schemes: AuthList,
    origins: Origins,
    names: Arc<CredentialNames>,
}

impl fmt::Debug for AuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddleware")
            .field("auth", &self.schemes)
            .field("origins", &self.origins.names())
            .finish()
    }
}

/// Builds an [`AuthMiddleware`]; errors are reported by [`AuthMiddlewareBuilder::build`].
#[must_use]
pub struct AuthMiddlewareBuilder {
    origin: String,
    schemes: Vec<Arc<dyn Authenticate>>,
    allowed: Vec<String>,
    allow_http: bool,
    names: CredentialNames,
}

impl fmt::Debug for AuthMiddlewareBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddlewareBuilder")
            .field("origin", &self.origin)
            .field("auth", &self.schemes)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl AuthMiddleware {
    /// Starts an auth middleware whose credentials go to `origin`
    /// (`https://api.example.com`, or any URL on it).
    pub fn builder(origin: impl Into<String>) -> AuthMiddlewareBuilder {
        AuthMiddlewareBuilder {
            origin: origin.into(),
            schemes: Vec::new(),
            allowed: Vec::new(),
            allow_http: false,
            names: CredentialNames::builtin(),
        }
    }
}

impl AuthMiddlewareBuilder {
    /// Adds a scheme; several are applied in order.
    pub fn auth(mut self, auth: impl Authenticate + 'static) -> Self {
        self.schemes.push(Arc::new(auth));
        self
    }

    /// Lets the credentials go to `origin` too.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed.push(origin.into());
        self
    }

    /// Allows credentials over plain http to hosts that are not loopback (off by default).
    pub fn allow_http_credentials(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Checks the origins and the schemes.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an origin that is not an http(s) URL, no scheme, or a scheme
    /// that fails [`Authenticate::validate`].
    pub fn build(self) -> Result<AuthMiddleware> {
        let home = Url::parse(&self.origin)
            .map_err(|e| Error::config(format!("origin {:?} does not parse: {e}", self.origin)))?;
        if !matches!(home.scheme(), "http" | "https") || home.host_str().is_none() {
            return Err(Error::config(format!(
                "origin {:?} must be an http(s) URL with a host",
                self.origin
            )));
        }
        if self.schemes.is_empty() {
            return Err(Error::config(
                "an auth middleware needs at least one scheme",
            ));
        }
        for scheme in &self.schemes {
            scheme.validate()?;
        }
        Ok(AuthMiddleware {
            origins: Origins::new(&home, &self.allowed, self.allow_http)?,
            schemes: self.schemes.into(),
            names: Arc::new(self.names),
        })
    }
}

#[async_trait]
impl Middleware for AuthMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        if !self.origins.allows(req.url()).map_err(mw)? {
            return next.run(req, extensions).await;
        }
        let mut redactor = Redactor::new(Arc::clone(&self.names));
        // A copy to replay after a 401 (none for a streaming body, or when no scheme can
        // renew its credential).
        let replay = if self.schemes.iter().any(|s| s.can_renew()) {
            req.try_clone()
        } else {
            None
        };
        let applied = credentials::authenticate(&self.schemes, &mut req, &mut redactor)
            .await
            .map_err(mw)?;
        let response = next.clone().run(req, extensions).await?;
        credentials::answered(
            &self.schemes,
            response.url(),
            response.status(),
            response.headers(),
        );
        if let Some(mut again) = replay
            && credentials::renew(
                &self.schemes,
                response.url(),
                response.status(),
                response.headers(),
                &applied,
            )
            .await
            .map_err(mw)?
        {
            drop(response);
            credentials::authenticate(&self.schemes, &mut again, &mut redactor)
                .await
                .map_err(mw)?;
            let response = next.run(again, extensions).await?;
            credentials::answered(
                &self.schemes,
                response.url(),
                response.status(),
                response.headers(),
            );
            return Ok(response);
        }
        Ok(response)
    }
}

/// Paces, obeys and retries in a `reqwest_middleware` stack: the client's throttling stage.
///
/// Per origin (and per bucket the server names, see [`Pacing`]) it keeps a gate shared by
/// every request through this middleware and its clones: after a 429/503 with a delay nothing
/// leaves before the delay, a spent quota waits for its reset, queued requests leave at the
/// announced rate. Failures are retried as [`RetryPolicy`] classifies them, never sooner than
/// the server asked, with exponential backoff, jitter and a per-origin retry budget.
#[derive(Clone, Debug)]
pub struct ThrottleMiddleware {
    throttle: Arc<Throttle>,
    policy: RetryPolicy,
    names: Arc<CredentialNames>,
}

impl Default for ThrottleMiddleware {
    /// [`RetryPolicy::default`] and [`Pacing::default`].
    fn default() -> Self {
        Self::new(RetryPolicy::default(), Pacing::default())
    }
}

impl ThrottleMiddleware {
    /// A middleware with this retry policy and pacing.
    pub fn new(policy: RetryPolicy, pacing: Pacing) -> Self {
        Self {
            throttle: Arc::new(Throttle::new(pacing, None)),
            policy,
            names: Arc::new(CredentialNames::builtin()),
        }
    }

    /// Shares pacing with every process that sets the same [`crate::fleet::SharedPacing`]
    /// (feature `redis`), as [`crate::ClientBuilder::shared_pacing`] does for a client. Call
    /// it before cloning the middleware: the gates start afresh.
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn shared_pacing(mut self, shared: crate::fleet::SharedPacing) -> Self {
        let pacing = self.throttle.pacing().clone();
        self.throttle = Arc::new(Throttle::new(pacing, None).shared(shared.into_gate()));
        self
    }

    fn info(&self, method: &Method, url: &Url, attempts: u32, started: Instant) -> RequestInfo {
        RequestInfo {
            method: method.clone(),
            url: CredentialNames::url(&self.names, url),
            attempts,
            elapsed: started.elapsed(),
            waited: Duration::ZERO,
            last_status: None,
            retry_stop: None,
        }
    }
}

#[async_trait]
impl Middleware for ThrottleMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let origin = self.throttle.origin(req.url());
        let method = req.method().clone();
        let replay_safe = retry::is_idempotent(&method)
            || req.headers().contains_key(&crate::client::IDEMPOTENCY_KEY);
        let clock = Clock {
            started: Instant::now(),
            deadline: None,
        };
        let mut retries = Retries::new(self.policy.clone());
        let max_wait = self.policy.max_retry_after;
        let mut waited = Duration::ZERO;
        let mut attempts = 0;
        let mut request = req;
        loop {
            let ticket = self
                .throttle
                .pace(&origin, &method, request.url(), max_wait, &mut waited, None)
                .await
                .map_err(|too_long| {
                    mw(Error::RateLimited(Box::new(RateLimitedError {
                        request: self.info(&method, request.url(), attempts, clock.started),
                        status: None,
                        retry_after: too_long.wait,
                        source: None,
                        rate_limit: too_long.snapshot,
                    })))
                })?;
            // The next attempt's copy (none for a streaming body: it is sent once; none when
            // no retry is left to make).
            let spare = if retries.made() < self.policy.max_retries {
                request.try_clone()
            } else {
                None
            };
            attempts += 1;
            let (reason, server, last) = match next.clone().run(request, extensions).await {
                Ok(response) => {
                    let judged = self.judge(&origin, ticket, &method, replay_safe, &response);
                    if response.status().is_success() {
                        retries.succeeded(&origin.budget);
                    }
                    match judged {
                        Some((reason, server)) => (reason, server, Ok(response)),
                        None => return Ok(response),
                    }
                }
                Err(reqwest_middleware::Error::Reqwest(e)) => {
                    drop(ticket);
                    let e = e.without_url();
                    match crate::client::transport_retry(&e, replay_safe) {
                        Some(reason) => (
                            reason,
                            Hint::None,
                            Err(reqwest_middleware::Error::Reqwest(e)),
                        ),
                        None => return Err(reqwest_middleware::Error::Reqwest(e)),
                    }
                }
                Err(other) => return Err(other),
            };
            let Some(again) = spare else { return last };
            match retries.plan(reason, server, true, &origin.budget, clock) {
                Ok(wait) => {
                    drop(last);
                    self.retry_after(&method, again.url(), reason, wait).await;
                    request = again;
                }
                Err(_) => return last,
            }
        }
    }
}

impl ThrottleMiddleware {
    /// Records an answer at its gate and decides whether it is retried: `Some((reason,
    /// hint))` to retry, `None` to hand it back (a success, an answer the policy does not
    /// retry, or a delay longer than `max_retry_after`).
    fn judge(
        &self,
        origin: &OriginState,
        ticket: Option<Ticket<'_>>,
        method: &Method,
        replay_safe: bool,
        response: &reqwest::Response,
    ) -> Option<(RetryReason, Hint)> {
        let status = response.status();
        let Answer {
            class,
            delay,
            paced,
        } = self.throttle.answer(
            origin,
            ticket,
            &self.policy,
            method,
            response.url(),
            status,
            response.headers(),
        );
        let server = delay.map(|(d, _)| d);
        let too_long = server.is_some_and(|d| d > self.policy.max_retry_after);
        (class.retries(replay_safe) && !too_long)
            .then_some((RetryReason::Status(status), Hint::new(server, paced)))
    }

    async fn retry_after(&self, method: &Method, url: &Url, reason: RetryReason, wait: Duration) {
        tracing::info!(
            target: "authed::retry",
            method = %method,
            url = %self.names.url(url),
            reason = %reason,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

// Both stay usable across tasks and in `Arc<dyn Middleware>`.
const _: fn() = || {
    fn assert_middleware<T: Middleware + Clone + Send + Sync>() {}
    assert_middleware::<AuthMiddleware>();
    assert_middleware::<ThrottleMiddleware>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Bearer;

    #[test]
    fn the_builder_checks_origins_and_schemes() {
        assert!(
            AuthMiddleware::builder("https://api.example.com")
                .build()
                .is_err()
        );
        assert!(
            AuthMiddleware::builder("ftp://x")
                .auth(Bearer::new("t0ken"))
                .build()
                .is_err()
        );
        assert!(
            AuthMiddleware::builder("https://api.example.com")
                .auth(Bearer::new(""))
                .build()
                .is_err()
        );
        let m = AuthMiddleware::builder("https://api.example.com/v1/")
            .auth(Bearer::new("t0ken-secret"))
            .allow_origin("https://uploads.example.com")
            .build()
            .unwrap();
        let shown = format!("{m:?}");
        assert!(shown.contains("uploads.example.com") && !shown.contains("t0ken-secret"));
    }
}
