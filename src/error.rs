//! [`Error`]: everything that can go wrong, as one `#[non_exhaustive]` enum.
//!
//! Every message says what happened and, where it can, what to do. No message contains a
//! secret: URLs are redacted by [`crate::redact`] before they are stored here, response body
//! excerpts are bounded and scrubbed of the credentials the request carried, and transport
//! errors from reqwest are stored without their URL (reqwest's own error prints it, query
//! string and all).
//!
//! # Example
//!
//! The predicates cover the common decisions; match on [`Error`]'s variants for the details.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use authed::{Client, http::StatusCode};
//!
//! /// The item, `None` if there is none; waits once when the server asks for too long a wait.
//! async fn find(api: &Client, id: &str) -> authed::Result<Option<serde_json::Value>> {
//!     for _ in 0..2 {
//!         match api.get(&authed::path!("items/{}", id)).send().await {
//!             Ok(response) => return response.json().await.map(Some),
//!             Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => return Ok(None),
//!             Err(e) if e.is_rate_limited() => {
//!                 // The client did not sleep through a wait above `max_retry_after`: decide here.
//!                 let wait = e.retry_after().unwrap_or(Duration::from_secs(60));
//!                 eprintln!("{e}");
//!                 tokio::time::sleep(wait).await;
//!             }
//!             Err(e) if e.is_reauth_required() => {
//!                 eprintln!("the session is over: log in again");
//!                 return Err(e);
//!             }
//!             Err(e) => return Err(e), // its Display names the request, redacted, and what to do
//!         }
//!     }
//!     Ok(None)
//! }
//! ```

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

use http::{Method, StatusCode};

use crate::{
    ratelimit::{DelaySource, RateLimitState},
    retry::RetryStop,
};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
///
/// Match on the variant, or use the `is_*` predicates and accessors such as
/// [`Error::status`]. The enum is `#[non_exhaustive]`: later versions add variants without a
/// breaking change. It is `Clone` (underlying errors are shared), so that one failed token
/// refresh can be handed to every task that waited for it.
///
/// # Example
///
/// ```no_run
/// use authed::{Client, Error};
///
/// async fn delete_item(api: &Client, id: &str) -> authed::Result<()> {
///     match api.delete(&authed::path!("items/{}", id)).send().await {
///         Ok(_) => Ok(()),
///         Err(Error::Status(e)) if e.status == authed::http::StatusCode::CONFLICT => {
///             // The answer's body, bounded and scrubbed of the request's credentials.
///             eprintln!("item {id} is in use: {}", e.body_excerpt);
///             if let Some(request_id) = &e.request_id {
///                 eprintln!("quote request id {request_id} to the API's support");
///             }
///             Ok(())
///         }
///         Err(Error::RateLimited(_)) => {
///             // Same as `e.is_rate_limited()`; `e.retry_after()` says how long the server asked for.
///             Err(Error::auth("the API is rate limiting us; try again later"))
///         }
///         Err(e @ Error::ReauthRequired { .. }) => Err(e), // log in again
///         Err(e) if e.is_connect() || e.is_timeout() => {
///             eprintln!("the API did not answer ({e}); is the network up?");
///             Err(e)
///         }
///         // `Error` is #[non_exhaustive]: later versions may add variants.
///         Err(e) => Err(e),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The client, a request or a credential was configured in a way that cannot work. Raised
    /// by the client itself, before anything is sent.
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A path or URL could not be turned into a request URL.
    InvalidUrl {
        /// What is wrong; any URL in it is redacted.
        message: String,
    },
    /// The server answered with a status that is not a success.
    Status(Box<StatusError>),
    /// The request could not be sent or its response could not be read.
    Transport(Box<TransportError>),
    /// A redirect could not be followed.
    Redirect(Box<RedirectError>),
    /// The response body was not what the caller asked to decode it into.
    Decode(Box<DecodeError>),
    /// The server asked the client to wait longer than [`crate::RetryPolicy::max_retry_after`]
    /// (or pacing for its rate limit would take that long), so the client returned at once
    /// instead of sleeping. Raised by the client on the server's word.
    RateLimited(Box<RateLimitedError>),
    /// The request did not finish within its overall deadline (set with
    /// [`crate::ClientBuilder::deadline`] or [`crate::RequestBuilder::deadline`]). Raised by
    /// the client, not the server.
    Deadline {
        /// The request.
        request: RequestInfo,
        /// The deadline that ran out.
        deadline: Duration,
    },
    /// A credential could not be produced or applied (for example a custom
    /// [`crate::auth::Authenticate`] implementation failed).
    Auth {
        /// What went wrong, without the secret.
        message: String,
        /// The underlying error, if any.
        source: Option<Arc<dyn StdError + Send + Sync>>,
    },
    /// The authorization server answered a token, device or revocation request with an OAuth
    /// error (`invalid_client`, `access_denied`, ...), or with a body that is not a valid
    /// token response.
    OAuth(Box<OAuthFailure>),
    /// An interactive authorization did not complete: the redirect carried `error=`
    /// (`access_denied`...), its `state` or `iss` did not match, no redirect or approval came
    /// in time, or a server's metadata named another issuer.
    Authorization {
        /// What happened.
        message: String,
        /// The authorization server's error, when the redirect carried one.
        error: Option<OAuthError>,
    },
    /// A response body the client reads for itself (a token, device authorization, discovery
    /// or revocation answer) was longer than the client's limit for it
    /// ([`crate::oauth2::MAX_OAUTH_BODY`]). The client stopped reading at the limit (or
    /// before reading, when `Content-Length` said so) and closed the connection. Raised by
    /// the client, not the server.
    BodyTooLarge(Box<BodyTooLargeError>),
    /// A credential store failed (see [`crate::store`]).
    Store(Box<StoreError>),
    /// A signing key (for `private_key_jwt`, `client_secret_jwt` or the JWT bearer grant)
    /// could not be read or does not fit its algorithm. Raised by the client, before anything
    /// is sent; the message never contains the key.
    Key(Box<KeyError>),
    // --- Issue 12: ID token validation (OpenID Connect Core §3.1.3.7) ---
    /// An ID token failed validation ([`crate::oauth2::IdTokenValidator`]): its signature,
    /// algorithm, key, issuer, audience, times or nonce. Raised by the client; the message
    /// never contains the token.
    IdToken(Box<IdTokenError>),
    // --- end of the ID token block ---
    /// The session cannot be renewed (the refresh token was refused with `invalid_grant`, or
    /// there is none): the stored session was forgotten and the user must log in again.
    ReauthRequired {
        /// Why, in words, with the server's error when it gave one.
        reason: String,
        /// The authorization server's error, if it gave one.
        error: Option<OAuthError>,
    },
}

/// An error response from an OAuth 2.0 endpoint (RFC 6749 §5.2, RFC 8628 §3.5, RFC 7009 §2.2.1).
///
/// Built from a token, revocation or device answer, every field is scrubbed of the secrets
/// the request carried (client secret, Basic credentials, password, refresh token, code, code
/// verifier, assertion, device code, and every other form value not known to be public), in
/// every encoding the scrubber reads: a server that echoes the request in
/// `error_description` does not put them into this error's `Display`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// The `error` code (`invalid_grant`, `slow_down`, ...).
    pub code: String,
    /// `error_description`, if any.
    pub description: Option<String>,
    /// `error_uri`, if any.
    pub uri: Option<String>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        if let Some(u) = &self.uri {
            write!(f, " (see {u})")?;
        }
        Ok(())
    }
}

/// A failed exchange with an OAuth endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OAuthFailure {
    /// The request (a POST to the token endpoint, say).
    pub request: RequestInfo,
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The server's OAuth error, when the body was one.
    pub error: Option<OAuthError>,
    /// When the body was not an OAuth error: what was wrong with it (which field), without
    /// any value from it.
    pub problem: Option<String>,
}

/// The request an error is about: method, redacted URL, attempts and time spent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The HTTP method.
    pub method: Method,
    /// The URL of the last attempt, with credential query parameters and userinfo replaced by
    /// `[redacted]`.
    pub url: String,
    /// How many times the request went out (redirect hops included).
    pub attempts: u32,
    /// Time from the first attempt to the error.
    pub elapsed: Duration,
    /// Time spent waiting: retry backoff, server-requested delays and rate-limit pacing.
    pub waited: Duration,
    /// The status of the last response, if any arrived (a transport error after a 503, say).
    pub last_status: Option<StatusCode>,
    /// Why the client did not retry a failure it could have retried, if that is what happened.
    pub retry_stop: Option<RetryStop>,
}

/// A non-success answer from the server.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StatusError {
    /// The request.
    pub request: RequestInfo,
    /// The status the server answered with.
    pub status: StatusCode,
    /// The first bytes of the body (at most [`crate::client::MAX_ERROR_BODY`]), as lossy UTF-8,
    /// with any credential the request carried replaced by `[redacted]`, in any form a server
    /// plausibly echoes it in (percent-encoded, JSON-escaped, HTML references, base64). The
    /// body is scrubbed before it is cut: a credential straddling the cut shows as one whole
    /// `[redacted]` (which may end past the limit), never as a prefix.
    pub body_excerpt: String,
    /// `true` when the body was longer than the excerpt.
    pub body_truncated: bool,
    /// The request id the server sent (`x-request-id`, `request-id`, `x-amzn-requestid`, ...).
    pub request_id: Option<String>,
    /// The `WWW-Authenticate` challenge on a 401, if any (not a secret: the server's own words).
    pub www_authenticate: Option<String>,
    /// The response headers: credential headers (`set-cookie`, ...) show `[redacted]`, other
    /// values are scrubbed of the credentials the request carried. For `Retry-After`,
    /// rate-limit headers, `Link`, vendor error codes.
    pub headers: http::HeaderMap,
}

/// Which part of the exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// No connection could be made; nothing was sent.
    Connect,
    /// The attempt took longer than its timeout.
    Timeout,
    /// The connection failed while the request was being sent or the response awaited.
    Request,
    /// The response body could not be read to the end.
    Body,
}

/// A failure below HTTP: DNS, TCP, TLS, a timeout, a dropped connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportError {
    /// The request.
    pub request: RequestInfo,
    /// Which part failed.
    pub kind: TransportKind,
    /// reqwest's error, stored without its URL (shared, so that the error can be cloned).
    pub source: Arc<reqwest::Error>,
}

/// Why a redirect was not followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectKind {
    /// More hops than the limit ([`crate::redirect::DEFAULT_MAX_REDIRECTS`] by default).
    TooMany,
    /// A 3xx without a usable `Location` header.
    MissingLocation,
    /// A `Location` that is not a valid http(s) URL.
    InvalidLocation,
    /// A redirect that would replay a request body that cannot be replayed (a stream).
    BodyNotReplayable,
    /// A supplied `reqwest::Client` followed a redirect by itself; build it with
    /// `redirect(reqwest::redirect::Policy::none())`.
    FollowedByReqwest,
    /// The redirect policy refused the hop ([`crate::redirect::Attempt::error`]).
    Refused,
    /// A 307 or 308 would have sent the request body to another origin, which the redirect
    /// policy does not allow unless
    /// [`crate::redirect::Policy::replay_body_cross_origin`] is on. [`RedirectError::target`]
    /// names that origin.
    BodyToOtherOrigin,
    /// A 307 or 308 from `https` to plain `http` would have sent the request body
    /// unencrypted: never followed, whatever the policy.
    BodyToPlainHttp,
}

/// A redirect that could not be followed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedirectError {
    /// The request, at the hop that failed.
    pub request: RequestInfo,
    /// The redirect status.
    pub status: StatusCode,
    /// Why it stopped.
    pub kind: RedirectKind,
    /// The origin the redirect led to (`https://host:port`, scrubbed of the request's
    /// credentials), when the hop was refused for where it led.
    pub target: Option<String>,
}

/// A wait the client refused to sit through.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RateLimitedError {
    /// The request.
    pub request: RequestInfo,
    /// The status that asked for the wait (429, 503, a 3xx), or `None` when the wait came from
    /// pacing: an earlier answer had blocked the origin or reported its quota spent.
    pub status: Option<StatusCode>,
    /// How long the server asked to wait.
    pub retry_after: Duration,
    /// Which header said so, when a response did.
    pub source: Option<DelaySource>,
    /// The origin's rate-limit state as last reported, if any.
    pub rate_limit: Option<RateLimitState>,
}

/// A response body that did not decode into the requested type.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecodeError {
    /// The request.
    pub request: RequestInfo,
    /// The path of the field that failed, as `serde_path_to_error` writes it (`items[3].id`);
    /// `.` for the top level.
    pub path: String,
    /// What was wrong, with string values from the body replaced by `[redacted]` (serde quotes
    /// the offending value, which may be a token).
    pub message: String,
}

/// A response body past the client's limit ([`Error::BodyTooLarge`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BodyTooLargeError {
    /// The request, with the status of its answer.
    pub request: RequestInfo,
    /// The limit, in bytes.
    pub limit: usize,
    /// The length the server declared in `Content-Length`, if it declared one.
    pub declared: Option<u64>,
}

/// What failed in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// No backend is available (no Secret Service on D-Bus, no keyring).
    Unavailable,
    /// The backend is locked and did not unlock.
    Locked,
    /// The operation took longer than [`crate::store::STORE_TIMEOUT`].
    Timeout,
    /// What was stored is not a valid record.
    Corrupted,
    /// Reading or writing failed.
    Io,
}

/// A store failure. The message names the backend, the entry and the fix; never a secret.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreError {
    /// What failed.
    pub kind: StoreErrorKind,
    /// What happened and what to do.
    pub message: String,
}

/// What was wrong with a signing key ([`Error::Key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyErrorKind {
    /// Not a PEM or JWK private key the client can read (bad armour, bad base64, bad DER,
    /// missing JWK members, a public key where a private one was needed).
    Malformed,
    /// A valid key of another type than the algorithm needs (an EC key for RS256, a P-384 key
    /// for ES256), or a JWK whose `alg` says otherwise.
    Mismatch,
    /// A key the client does not handle: encrypted PEM, an unknown curve or algorithm.
    Unsupported,
}

/// A signing key problem. The message says what is wrong and what to do; never the key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KeyError {
    /// What is wrong.
    pub kind: KeyErrorKind,
    /// What happened and what to do.
    pub message: String,
}

// --- Issue 12: ID token validation ---

/// Which check an ID token failed ([`Error::IdToken`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenErrorKind {
    /// The signature does not verify with the issuer's key (or the client secret, for HS256).
    BadSignature,
    /// The issuer's key set has no key with the token's `kid` (or none of its type), even
    /// after a re-fetch.
    UnknownKey,
    /// The token's `alg` is not allowed: `none`, HMAC without the client secret, or an
    /// algorithm outside the configured list.
    DisallowedAlgorithm,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `aud` does not contain the client id, or `azp` is not the client id.
    WrongAudience,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `nonce` is not the one the login sent, or is missing.
    NonceMismatch,
    /// Not a compact JWS with a JSON header and claims, or a required claim is missing or of
    /// the wrong type; or the token response of an `openid` login carried no ID token.
    Malformed,
    /// The ID token of a refresh names another `iss`, `sub`, `aud` or `azp` than the
    /// login's (OpenID Connect Core §12.2): another user's or another client's session.
    SessionMismatch,
}

/// An ID token that failed validation. The message says which check failed; never the token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IdTokenError {
    /// Which check failed.
    pub kind: IdTokenErrorKind,
    /// What happened.
    pub message: String,
}

impl Error {
    #[cfg(feature = "oauth2")]
    pub(crate) fn id_token(kind: IdTokenErrorKind, message: impl Into<String>) -> Self {
        Self::IdToken(Box::new(IdTokenError {
            kind,
            message: message.into(),
        }))
    }

    /// For [`Error::IdToken`]: which check the ID token failed.
    pub fn id_token_error_kind(&self) -> Option<IdTokenErrorKind> {
        match self {
            Self::IdToken(e) => Some(e.kind),
            _ => None,
        }
    }
}

// --- end of the ID token block ---

impl Error {
    #[cfg(feature = "oauth2")]
    pub(crate) fn key(kind: KeyErrorKind, message: impl Into<String>) -> Self {
        Self::Key(Box::new(KeyError {
            kind,
            message: message.into(),
        }))
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
        }
    }

    pub(crate) fn invalid_url(message: impl Into<String>) -> Self {
        Self::InvalidUrl {
            message: message.into(),
        }
    }

    /// [`Error::ReauthRequired`], for a custom token source whose refresh was refused.
    pub fn reauth_required(reason: impl Into<String>) -> Self {
        Self::ReauthRequired {
            reason: reason.into(),
            error: None,
        }
    }

    #[cfg(feature = "oauth2")]
    pub(crate) fn authorization(message: String, error: Option<OAuthError>) -> Self {
        Self::Authorization { message, error }
    }

    /// An error for a [`crate::store::CredentialStore`] of your own to return. Say what failed
    /// and what to do; never put a secret (or a keyring's raw error, which may carry one) in
    /// `message`.
    pub fn store(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self::Store(Box::new(StoreError {
            kind,
            message: message.into(),
        }))
    }

    /// An error for a custom [`crate::auth::Authenticate`] implementation to return. Do not put
    /// a secret in `message`.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::Auth {
            message: message.into(),
            source: None,
        }
    }

    /// Like [`Error::auth`], keeping the underlying error as `source()`.
    pub fn auth_with_source(
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Auth {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The request the error is about, when one was made.
    pub fn request(&self) -> Option<&RequestInfo> {
        match self {
            Self::Status(e) => Some(&e.request),
            Self::Transport(e) => Some(&e.request),
            Self::Redirect(e) => Some(&e.request),
            Self::Decode(e) => Some(&e.request),
            Self::RateLimited(e) => Some(&e.request),
            Self::OAuth(e) => Some(&e.request),
            Self::Deadline { request, .. } => Some(request),
            Self::BodyTooLarge(e) => Some(&e.request),
            Self::Config { .. }
            | Self::InvalidUrl { .. }
            | Self::Auth { .. }
            | Self::Authorization { .. }
            | Self::Store(_)
            | Self::Key(_)
            | Self::IdToken(_)
            | Self::ReauthRequired { .. } => None,
        }
    }

    /// The HTTP status, for [`Error::Status`] and [`Error::Redirect`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status(e) => Some(e.status),
            Self::Redirect(e) => Some(e.status),
            Self::RateLimited(e) => e.status,
            Self::OAuth(e) => Some(e.status),
            Self::BodyTooLarge(e) => e.request.last_status,
            _ => None,
        }
    }

    /// For [`Error::RateLimited`]: how long the server asked to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(e) => Some(e.retry_after),
            _ => None,
        }
    }

    /// The OAuth error the authorization server sent, if this error carries one.
    pub fn oauth_error(&self) -> Option<&OAuthError> {
        match self {
            Self::OAuth(e) => e.error.as_ref(),
            Self::ReauthRequired { error, .. } | Self::Authorization { error, .. } => {
                error.as_ref()
            }
            _ => None,
        }
    }

    /// `true` when the user must log in again.
    pub fn is_reauth_required(&self) -> bool {
        matches!(self, Self::ReauthRequired { .. })
    }

    /// `true` when the client gave up because the server asked for too long a wait.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited(_))
    }

    /// The request id the server sent with a non-success answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Status(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// `true` for a configuration error raised before anything was sent.
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Config { .. })
    }

    /// `true` for a signing key that could not be read or does not fit its algorithm
    /// ([`Error::Key`]).
    pub fn is_key(&self) -> bool {
        matches!(self, Self::Key(_))
    }

    /// `true` for a non-success status.
    pub fn is_status(&self) -> bool {
        matches!(self, Self::Status(_))
    }

    /// `true` when no connection could be made.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Transport(e) if e.kind == TransportKind::Connect)
    }

    /// `true` for a per-attempt timeout or an overall deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Deadline { .. })
            || matches!(self, Self::Transport(e) if e.kind == TransportKind::Timeout)
    }

    /// `true` for a body that did not decode.
    pub fn is_decode(&self) -> bool {
        matches!(self, Self::Decode(_))
    }

    /// `true` when a response body the client reads for itself was past its limit
    /// ([`Error::BodyTooLarge`]).
    pub fn is_body_too_large(&self) -> bool {
        matches!(self, Self::BodyTooLarge(_))
    }

    /// `true` for a redirect that could not be followed.
    pub fn is_redirect(&self) -> bool {
        matches!(self, Self::Redirect(_))
    }
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { message } => write!(f, "invalid configuration (client-side): {message}"),
            Self::InvalidUrl { message } => write!(f, "invalid URL: {message}"),
            Self::Status(e) => {
                write!(f, "{}: server answered {}", e.request, e.status)?;
                if let Some(id) = &e.request_id {
                    write!(f, " (request id {id})")?;
                }
                write_retries(f, &e.request)?;
                if !e.body_excerpt.is_empty() {
                    let more = if e.body_truncated { "..." } else { "" };
                    write!(f, ": {}{more}", e.body_excerpt.trim_end())?;
                }
                Ok(())
            }
            Self::Transport(e) => {
                let what = match e.kind {
                    TransportKind::Connect => "could not connect",
                    TransportKind::Timeout => "timed out",
                    TransportKind::Request => "connection failed",
                    TransportKind::Body => "failed to read the response body",
                };
                write!(f, "{}: {what}", e.request)?;
                write_retries(f, &e.request)?;
                // reqwest's top-level message is generic ("error sending request"); the cause
                // is further down the chain and carries no URL.
                let mut cause: Option<&dyn StdError> = e.source.source();
                if let Some(c) = cause.take() {
                    write!(f, ": {c}")?;
                    let mut next = c.source();
                    while let Some(n) = next {
                        write!(f, ": {n}")?;
                        next = n.source();
                    }
                }
                Ok(())
            }
            Self::Redirect(e) => {
                let why = match e.kind {
                    RedirectKind::TooMany => "too many redirects",
                    RedirectKind::MissingLocation => "redirect without a Location header",
                    RedirectKind::InvalidLocation => "redirect to an invalid or non-http(s) URL",
                    RedirectKind::BodyNotReplayable => {
                        "redirect needs the request body again, but it was a stream and cannot be replayed"
                    }
                    RedirectKind::Refused => "the redirect policy refused to follow it",
                    RedirectKind::FollowedByReqwest => {
                        "the supplied reqwest::Client followed a redirect by itself; build it with redirect(Policy::none())"
                    }
                    RedirectKind::BodyToOtherOrigin => {
                        "not followed by the client: it would send the request body to another origin (allow it with redirect::Policy::replay_body_cross_origin(true))"
                    }
                    RedirectKind::BodyToPlainHttp => {
                        "not followed by the client: it would send the request body from https to plain http"
                    }
                };
                write!(f, "{} ({}): {why}", e.request, e.status)?;
                if let Some(target) = &e.target {
                    write!(f, " (target {target})")?;
                }
                Ok(())
            }
            Self::Decode(e) => write!(
                f,
                "{}: response body did not decode at `{}`: {}",
                e.request, e.path, e.message
            ),
            Self::RateLimited(e) => {
                write!(
                    f,
                    "{}: the server asked to wait {:?}",
                    e.request, e.retry_after
                )?;
                if let (Some(status), Some(source)) = (e.status, e.source) {
                    write!(f, " ({status}, {})", source.as_str())?;
                }
                write!(
                    f,
                    ", longer than the client's max_retry_after; gave up at once (client-side)"
                )
            }
            Self::Deadline { request, deadline } => write!(
                f,
                "{request}: gave up after the client-side deadline of {deadline:?} ({} attempts)",
                request.attempts
            ),
            Self::Auth { message, .. } => write!(f, "authentication failed: {message}"),
            Self::OAuth(e) => {
                write!(
                    f,
                    "{}: the authorization server answered {}",
                    e.request, e.status
                )?;
                if let Some(err) = &e.error {
                    write!(f, " with OAuth error {err}")?;
                }
                if let Some(problem) = &e.problem {
                    write!(f, ": {problem}")?;
                }
                Ok(())
            }
            Self::Authorization { message, error } => {
                write!(f, "authorization did not complete: {message}")?;
                if let Some(e) = error {
                    write!(f, " ({e})")?;
                }
                Ok(())
            }
            Self::BodyTooLarge(e) => {
                write!(
                    f,
                    "{}: the response body is longer than the client's limit of {} bytes",
                    e.request, e.limit
                )?;
                if let Some(declared) = e.declared {
                    write!(f, " ({declared} bytes declared)")?;
                }
                write!(f, "; stopped reading it (client-side)")
            }
            Self::Store(e) => write!(f, "credential store: {}", e.message),
            Self::Key(e) => write!(f, "signing key (client-side): {}", e.message),
            Self::IdToken(e) => write!(f, "ID token refused (client-side): {}", e.message),
            Self::ReauthRequired { reason, .. } => {
                write!(f, "the session cannot be renewed, log in again: {reason}")
            }
        }
    }
}

/// " after 3 attempts (waited 1.5s); not retried: ..." where there is something to say.
fn write_retries(f: &mut fmt::Formatter<'_>, request: &RequestInfo) -> fmt::Result {
    if request.attempts > 1 {
        write!(f, " after {} attempts", request.attempts)?;
        if !request.waited.is_zero() {
            write!(f, " (waited {:?})", request.waited)?;
        }
    }
    if let Some(stop) = request.retry_stop {
        write!(f, "; not retried (client-side): {}", stop.as_str())?;
    }
    Ok(())
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Transport(e) => Some(e.source.as_ref()),
            Self::Auth {
                source: Some(s), ..
            } => Some(s.as_ref()),
            _ => None,
        }
    }
}
