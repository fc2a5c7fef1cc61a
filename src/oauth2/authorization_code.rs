//! The authorization code grant with PKCE S256 (RFC 6749 §4.1, RFC 7636), for apps that
//! handle the redirect themselves ([`AuthorizationCode::begin`] then
//! [`PendingAuthorization::exchange`]) and for native apps and CLIs, with a one-shot loopback
//! listener on 127.0.0.1 ([`AuthorizationCode::login_loopback`], RFC 8252 §7.3).
//!
//! `state` is random per attempt and compared in constant time; when the server says it
//! sends `iss` in the redirect (RFC 9207), `iss` must equal the expected issuer. The PKCE
//! verifier never leaves the process until the code exchange.

use std::{fmt, time::Duration};

use base64::Engine as _;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use url::Url;

use crate::{
    Secret,
    error::{Error, OAuthError, Result},
    oauth2::{
        client::OAuthClient, client::parse_endpoint, grants::Target, id_token::IdTokenValidator,
        token::Token,
    },
    redact::{self, REDACTED},
};

/// How long [`AuthorizationCode::login_loopback`] waits for the browser by default: long
/// enough to type a password and pass a second factor, short enough that a forgotten login
/// does not hold a port forever.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The success page's hint by default ([`LoopbackPages`]).
const DEFAULT_SUCCESS_HINT: &str = "You can close this tab and return to the application.";
/// The failure page's hint by default ([`LoopbackPages`]).
const DEFAULT_FAILURE_HINT: &str = "Return to the application for details, and try again.";
/// The longest failure reason a page shows, in characters: a server's `error_description` can
/// be any length, and the page is no place for all of it.
const MAX_PAGE_REASON: usize = 300;

/// Random bytes as unpadded base64url (RFC 7636 §4.1: 32 bytes give a 43-character verifier).
pub(crate) fn random_token(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::auth(format!("the system random source failed: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// The S256 code challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An authorization code flow for one client and authorization endpoint.
///
/// Its `Debug` shows the endpoint and the redirect URI with userinfo and credential query
/// parameters redacted, and the values of extra parameters whose names are credential names
/// ([`crate::redact::CREDENTIAL_QUERY`]) as `[redacted]`.
///
/// # Example
///
/// A web application: [`begin`](AuthorizationCode::begin) when the user clicks "sign in", keep
/// the [`PendingAuthorization`] (in the user's server-side session), and
/// [`exchange`](PendingAuthorization::exchange) the URL the browser comes back to:
///
/// ```no_run
/// use authed::{
///     Secret,
///     oauth2::{AuthorizationCode, OAuthClient, PendingAuthorization, Token},
/// };
///
/// fn sign_in() -> authed::Result<(String, PendingAuthorization)> {
///     let client = OAuthClient::new("https://auth.example.com/token", "my-web-app")
///         .secret(Secret::from_env("OAUTH_CLIENT_SECRET")?);
///     let flow = AuthorizationCode::new(client, "https://auth.example.com/authorize")
///         .redirect_uri("https://my-app.example.com/callback")
///         .scopes(["openid", "email"]);
///     let pending = flow.begin()?; // a fresh `state` and PKCE verifier
///     Ok((pending.url().to_string(), pending)) // redirect the browser to the URL
/// }
///
/// /// `callback`: the URL the browser arrived at,
/// /// `https://my-app.example.com/callback?code=...&state=...&iss=...`.
/// async fn callback(pending: PendingAuthorization, callback: &str) -> authed::Result<Token> {
///     pending.exchange(callback).await // checks `state` and `iss`, then redeems the code
/// }
/// ```
///
/// A CLI or desktop app can let [`login_loopback`](AuthorizationCode::login_loopback) run the
/// redirect listener on 127.0.0.1 and open the browser itself; flows built by
/// [`ServerMetadata::authorization_code`](crate::oauth2::ServerMetadata::authorization_code)
/// know the server's issuer.
#[derive(Clone)]
pub struct AuthorizationCode {
    client: OAuthClient,
    authorization_endpoint: std::result::Result<Url, Error>,
    redirect_uri: Option<String>,
    scopes: Vec<String>,
    target: Target,
    params: Vec<(String, String)>,
    issuer: Option<String>,
    par_endpoint: Option<std::result::Result<Url, Error>>,
    use_par: bool,
    /// Issue 12, ID tokens: validates the ID token of the exchange.
    id_token_validator: Option<IdTokenValidator>,
    /// What the loopback listener's pages say.
    pages: LoopbackPages,
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(n, v)| {
                let shown = if redact::is_builtin_query(n) {
                    REDACTED
                } else {
                    v.as_str()
                };
                (n.as_str(), shown)
            })
            .collect();
        f.debug_struct("AuthorizationCode")
            .field("client", &self.client)
            .field(
                "authorization_endpoint",
                &self
                    .authorization_endpoint
                    .as_ref()
                    .map(redact::url_builtin)
                    .ok(),
            )
            .field(
                "redirect_uri",
                &self.redirect_uri.as_deref().map(redact::url_text_builtin),
            )
            .field("scopes", &self.scopes)
            .field("target", &self.target)
            .field("params", &params)
            .field("issuer", &self.issuer)
            .field(
                "par_endpoint",
                &self
                    .par_endpoint
                    .as_ref()
                    .and_then(|e| e.as_ref().ok())
                    .map(redact::url_builtin),
            )
            .field("use_par", &self.use_par)
            .field("id_token_validator", &self.id_token_validator)
            .field("pages", &self.pages)
            .finish()
    }
}

impl AuthorizationCode {
    /// A flow through `authorization_endpoint` for `client` (a public client, usually:
    /// native apps cannot keep a secret).
    pub fn new(client: OAuthClient, authorization_endpoint: impl AsRef<str>) -> Self {
        Self {
            client,
            authorization_endpoint: parse_endpoint(
                authorization_endpoint.as_ref(),
                "authorization endpoint",
            ),
            redirect_uri: None,
            scopes: Vec::new(),
            target: Target::default(),
            params: Vec::new(),
            issuer: None,
            par_endpoint: None,
            use_par: false,
            id_token_validator: None,
            pages: LoopbackPages::default(),
        }
    }

    /// The redirect URI registered for the client (for [`AuthorizationCode::begin`];
    /// the loopback login makes its own).
    #[must_use]
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// The scopes to ask for.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Asks for tokens usable at the resource `uri` (RFC 8707: `resource`, an absolute URI
    /// without a fragment), in the authorization request and again in the token request (so
    /// that the access token is issued for it, §2.2). Repeatable.
    ///
    /// ```
    /// use authed::oauth2::{AuthorizationCode, OAuthClient};
    ///
    /// let client = OAuthClient::new("https://auth.example.com/token", "my-cli");
    /// let flow = AuthorizationCode::new(client, "https://auth.example.com/authorize")
    ///     .redirect_uri("http://127.0.0.1:8400/callback")
    ///     .scopes(["api:read"])
    ///     .resource("https://api.example.com/");
    /// let pending = flow.begin()?;
    /// assert!(pending.url().query().unwrap().contains("resource=https%3A%2F%2Fapi.example.com%2F"));
    /// # Ok::<(), authed::Error>(())
    /// ```
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.target.resources.push(uri.into());
        self
    }

    /// Asks for tokens meant for `audience` (the `audience` authorization request parameter
    /// of several providers, Auth0's among them). Sent in the authorization request only.
    /// Repeatable.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.target.audiences.push(audience.into());
        self
    }

    /// An extra authorization request parameter (`prompt`, `login_hint`, ...).
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The server's pushed authorization request endpoint (RFC 9126), where
    /// [`begin_pushed`](AuthorizationCode::begin_pushed) sends the request. Flows built by
    /// [`ServerMetadata::authorization_code`](crate::oauth2::ServerMetadata::authorization_code)
    /// have it when the server advertises one (`pushed_authorization_request_endpoint`).
    #[must_use]
    pub fn pushed_authorization_endpoint(mut self, endpoint: impl AsRef<str>) -> Self {
        self.par_endpoint = Some(parse_endpoint(
            endpoint.as_ref(),
            "pushed authorization request endpoint",
        ));
        self
    }

    /// Pushes every authorization request (RFC 9126): [`login_loopback`] pushes, and
    /// [`begin`] refuses (it cannot make a network call), leaving
    /// [`begin_pushed`](AuthorizationCode::begin_pushed). Discovery turns it on when the
    /// server says `require_pushed_authorization_requests`; turn it on yourself to push to
    /// a server that merely supports it (the request's parameters then travel over the
    /// back channel, authenticated, instead of through the browser).
    ///
    /// [`login_loopback`]: AuthorizationCode::login_loopback
    /// [`begin`]: AuthorizationCode::begin
    #[must_use]
    pub fn use_par(mut self, push: bool) -> Self {
        self.use_par = push;
        self
    }

    /// Whether this flow pushes its authorization requests ([`AuthorizationCode::use_par`]).
    pub fn uses_par(&self) -> bool {
        self.use_par
    }

    /// Requires the redirect to carry `iss` equal to `issuer` (RFC 9207). Set it when the
    /// server's metadata says `authorization_response_iss_parameter_supported` (discovery
    /// does this for you); it defends against mix-up attacks between servers.
    #[must_use]
    pub fn expect_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// What the pages of [`login_loopback`](AuthorizationCode::login_loopback) tell the user
    /// about where to go next, after a login that succeeded or failed: a CLI says "return to
    /// the terminal", a desktop app names itself. The default says "the application".
    ///
    /// ```
    /// use authed::oauth2::{AuthorizationCode, LoopbackPages, OAuthClient};
    ///
    /// let client = OAuthClient::new("https://auth.example.com/token", "my-cli");
    /// let flow = AuthorizationCode::new(client, "https://auth.example.com/authorize")
    ///     .loopback_pages(
    ///         LoopbackPages::default()
    ///             .success_hint("You can close this tab and return to the terminal.")
    ///             .failure_hint("The terminal says what to do next."),
    ///     );
    /// ```
    #[must_use]
    pub fn loopback_pages(mut self, pages: LoopbackPages) -> Self {
        self.pages = pages;
        self
    }

    // --- Issue 12: ID token validation (OpenID Connect Core §3.1.3.7) ---

    /// Validates the ID token of the exchange with `validator`
    /// ([`ServerMetadata::authorization_code`](crate::oauth2::ServerMetadata::authorization_code)
    /// sets one when the server publishes its keys, `jwks_uri`). When the scope contains
    /// `openid`, every authorization request carries a fresh random `nonce` (whether or not
    /// there is a validator); with a validator, the exchange then requires an ID token whose
    /// signature, `iss`, `aud`, times and `nonce` check out, and keeps its claims on the
    /// token ([`Token::id_token_claims`]).
    ///
    /// ```
    /// use authed::oauth2::{AuthorizationCode, IdTokenValidator, OAuthClient};
    ///
    /// let client = OAuthClient::new("https://auth.example.com/token", "my-cli");
    /// let validator = IdTokenValidator::new(
    ///     "https://auth.example.com",
    ///     client.client_id(),
    ///     "https://auth.example.com/jwks",
    /// );
    /// let flow = AuthorizationCode::new(client, "https://auth.example.com/authorize")
    ///     .redirect_uri("http://127.0.0.1:8400/callback")
    ///     .scopes(["openid", "email"])
    ///     .id_token_validator(validator);
    /// let pending = flow.begin()?;
    /// assert!(pending.url().query().unwrap().contains("nonce="));
    /// # Ok::<(), authed::Error>(())
    /// ```
    #[must_use]
    pub fn id_token_validator(mut self, validator: IdTokenValidator) -> Self {
        self.id_token_validator = Some(validator);
        self
    }

    fn asks_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    // --- end of the ID token block ---

    /// Starts an authorization: a fresh `state` and PKCE verifier; send the user to
    /// [`.url()`](PendingAuthorization::url), then hand the URL the browser comes back to
    /// (with its `code`, `state` and `iss`) to [`PendingAuthorization::exchange`].
    ///
    /// The request's parameters travel in the URL, through the browser. To push them to the
    /// server first (RFC 9126), use [`begin_pushed`](AuthorizationCode::begin_pushed).
    ///
    /// When the client has a DPoP key ([`OAuthClient::dpop`]), the request carries its
    /// thumbprint as `dpop_jkt` (RFC 9449 §10): the server binds the code to the key, and
    /// only a token request with a proof of that key redeems it. A pushed request carries
    /// `dpop_jkt` as well, and a proof.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without a redirect URI, with an invalid endpoint or resource
    /// indicator, or when the flow pushes its requests ([`AuthorizationCode::use_par`], set
    /// by discovery when the server requires it: call `begin_pushed().await` instead); a
    /// failing random source.
    pub fn begin(&self) -> Result<PendingAuthorization> {
        if self.use_par {
            return Err(Error::config(
                "this authorization code flow pushes its requests (RFC 9126: the server requires it, \
                 or use_par(true) was set): call begin_pushed().await instead of begin()",
            ));
        }
        let redirect_uri = self.configured_redirect_uri()?;
        self.start(redirect_uri)
    }

    /// Starts an authorization with a pushed authorization request (RFC 9126): posts the
    /// request's parameters to the pushed authorization request endpoint, authenticating
    /// the client as at the token endpoint, and gets a `request_uri` back. The URL to send
    /// the user to then carries only `client_id` and that `request_uri`; complete it as
    /// with [`begin`](AuthorizationCode::begin), with
    /// [`PendingAuthorization::exchange`].
    ///
    /// ```no_run
    /// use authed::oauth2::{PendingAuthorization, ServerMetadata};
    ///
    /// async fn sign_in(issuer: &str) -> authed::Result<PendingAuthorization> {
    ///     let metadata = ServerMetadata::discover(issuer).await?;
    ///     let flow = metadata
    ///         .authorization_code(metadata.client("my-web-app")?)? // knows the PAR endpoint
    ///         .redirect_uri("https://my-app.example.com/callback")
    ///         .scopes(["openid"]);
    ///     let pending = flow.begin_pushed().await?;
    ///     // https://auth.example.com/authorize?client_id=my-web-app&request_uri=urn%3A...
    ///     println!("{}", pending.url());
    ///     Ok(pending)
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without a redirect URI or a pushed authorization request endpoint
    /// ([`AuthorizationCode::pushed_authorization_endpoint`]); [`Error::OAuth`] for the
    /// server's refusal (`invalid_request`, `invalid_client`, ...) or an answer without a
    /// `request_uri`; [`Error::BodyTooLarge`] for an answer longer than
    /// [`MAX_OAUTH_BODY`](crate::oauth2::MAX_OAUTH_BODY); the request's errors.
    pub async fn begin_pushed(&self) -> Result<PendingAuthorization> {
        let redirect_uri = self.configured_redirect_uri()?;
        self.start_pushed(redirect_uri).await
    }

    fn configured_redirect_uri(&self) -> Result<String> {
        self.redirect_uri
            .clone()
            .ok_or_else(|| Error::config("the authorization code flow needs a redirect URI"))
    }

    /// A fresh `state` and PKCE verifier, and the authorization request's parameters.
    fn request(&self, redirect_uri: &str) -> Result<AuthorizationRequest> {
        self.target.check()?;
        let state = Secret::new(random_token(32)?);
        let verifier = Secret::new(random_token(32)?);
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("client_id", self.client.client_id().to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("state", state.expose_secret().to_owned()),
            ("code_challenge", pkce_challenge(verifier.expose_secret())),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if !self.scopes.is_empty() {
            params.push(("scope", self.scopes.join(" ")));
        }
        // Issue 12, ID tokens: a nonce binds the ID token to this attempt (OIDC Core §3.1.2.1).
        let nonce = if self.asks_openid() {
            let nonce = Secret::new(random_token(32)?);
            params.push(("nonce", nonce.expose_secret().to_owned()));
            Some(nonce)
        } else {
            None
        };
        // RFC 9449 §10: the code is bound to the client's DPoP key, so that only a token
        // request with a proof of that key can redeem it.
        if let Some(key) = self.client.dpop_key() {
            params.push(("dpop_jkt", key.thumbprint().to_owned()));
        }
        params.extend(
            self.target
                .resources
                .iter()
                .map(|r| ("resource", r.clone())),
        );
        params.extend(
            self.target
                .audiences
                .iter()
                .map(|a| ("audience", a.clone())),
        );
        Ok(AuthorizationRequest {
            state,
            verifier,
            params,
            nonce,
        })
    }

    fn start(&self, redirect_uri: String) -> Result<PendingAuthorization> {
        let mut url = self.authorization_endpoint.clone()?;
        let AuthorizationRequest {
            state,
            verifier,
            params,
            nonce,
        } = self.request(&redirect_uri)?;
        {
            let mut q = url.query_pairs_mut();
            for (n, v) in &params {
                q.append_pair(n, v);
            }
            for (n, v) in &self.params {
                q.append_pair(n, v);
            }
        }
        Ok(self
            .pending(url, redirect_uri, state, verifier, None)
            .with_nonce(nonce))
    }

    async fn start_pushed(&self, redirect_uri: String) -> Result<PendingAuthorization> {
        let mut url = self.authorization_endpoint.clone()?;
        let endpoint = self
            .par_endpoint
            .clone()
            .ok_or_else(|| {
                Error::config(
                    "no pushed authorization request endpoint: the server advertises none, \
                     or set one with pushed_authorization_endpoint()",
                )
            })?
            .map_err(|e| e.clone())?;
        let AuthorizationRequest {
            state,
            verifier,
            params,
            nonce,
        } = self.request(&redirect_uri)?;
        let mut form: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        form.extend(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let pushed = push(&self.client, &endpoint, &form).await?;
        url.query_pairs_mut()
            .append_pair("client_id", self.client.client_id())
            .append_pair("request_uri", &pushed.request_uri);
        Ok(self
            .pending(url, redirect_uri, state, verifier, pushed.expires_in)
            .with_nonce(nonce))
    }

    fn pending(
        &self,
        url: Url,
        redirect_uri: String,
        state: Secret,
        verifier: Secret,
        request_uri_expires_in: Option<Duration>,
    ) -> PendingAuthorization {
        PendingAuthorization {
            client: self.client.clone(),
            url,
            redirect_uri,
            state,
            verifier,
            issuer: self.issuer.clone(),
            resources: self.target.resources.clone(),
            request_uri_expires_in,
            nonce: None,
            id_token_validator: self.id_token_validator.clone(),
        }
    }

    /// The whole login for a native app or CLI (RFC 8252): listens once on
    /// `127.0.0.1:<port>` (0 = any free port), makes the redirect URI
    /// `http://127.0.0.1:<port>/callback`, calls `open` with the URL to show the user (open a
    /// browser, print it) before it waits, waits up to `timeout` for the browser to come back,
    /// checks `state` (and `iss`), exchanges the code, and only then answers the browser with
    /// a small page that tells the outcome: "Signed in" and where to go next, or "Sign-in
    /// failed" with the reason (the server's `error` and `error_description`, HTML-escaped and
    /// cut at 300 characters). The pages never show the code, the `state` or a token; they
    /// load nothing and run no script (`Content-Security-Policy: default-src 'none'`). What
    /// they say about where to go next: [`AuthorizationCode::loopback_pages`].
    ///
    /// The listener serves connections concurrently (up to 32 at once), and gives each 10
    /// seconds to send its request: a connection that stays silent (a browser's preconnect,
    /// another local process) is closed and never holds up the redirect. Requests other than
    /// `GET /callback` (a favicon, another method) get a 404 and the listener keeps waiting;
    /// the first `GET /callback` ends the wait, and its `state` decides the outcome.
    ///
    /// # Errors
    ///
    /// [`Error::Authorization`] for an `error=` redirect, a wrong `state` or `iss`, or a
    /// timeout; token endpoint errors as [`Error::OAuth`].
    pub async fn login_loopback(
        &self,
        port: u16,
        timeout: Duration,
        open: impl FnOnce(&Url),
    ) -> Result<Token> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            Error::config(format!(
                "cannot listen on 127.0.0.1:{port} for the redirect: {e}"
            ))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::config(format!("loopback listener has no address: {e}")))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
        let pending = if self.use_par {
            self.start_pushed(redirect_uri).await?
        } else {
            self.start(redirect_uri)?
        };
        open(pending.url());
        let (callback, browser) = tokio::time::timeout(timeout, accept_callback(&listener))
            .await
            .map_err(|_| {
                Error::authorization(
                    format!("no redirect reached the loopback listener within {timeout:?}"),
                    None,
                )
            })??;
        // The browser waits for the outcome, so that its page tells the truth.
        let result = pending.exchange(callback.as_str()).await;
        let page = match &result {
            Ok(_) => self.pages.success_page(),
            Err(e) => self.pages.failure_page(&failure_reason(e)),
        };
        respond(browser, "200 OK", &page).await;
        result
    }
}

/// One authorization request: its secrets, and its parameters (`state` and the code
/// challenge among them, the verifier not).
struct AuthorizationRequest {
    state: Secret,
    verifier: Secret,
    params: Vec<(&'static str, String)>,
    /// The `nonce` sent, when the scope asks for `openid`.
    nonce: Option<Secret>,
}

/// The answer of a pushed authorization request endpoint (RFC 9126 §2.2).
struct Pushed {
    request_uri: String,
    expires_in: Option<Duration>,
}

/// Posts an authorization request to the pushed authorization request endpoint.
async fn push(client: &OAuthClient, endpoint: &Url, form: &[(&str, &str)]) -> Result<Pushed> {
    let answer = client.post_dpop(endpoint, form).await?;
    if !answer.status.is_success() {
        return Err(answer.error_from_body());
    }
    let invalid = |what: &str| {
        answer.failure(
            None,
            Some(format!("not a pushed authorization response: {what}")),
        )
    };
    let Ok(serde_json::Value::Object(map)) =
        serde_json::from_slice::<serde_json::Value>(&answer.body)
    else {
        return Err(invalid("the body is not a JSON object"));
    };
    if let Some(error) = crate::oauth2::token::oauth_error(&map) {
        return Err(answer.failure(Some(error), None));
    }
    let request_uri = match map.get("request_uri") {
        Some(serde_json::Value::String(uri)) if !uri.is_empty() => uri.clone(),
        Some(_) => return Err(invalid("`request_uri` is not a non-empty string")),
        None => return Err(invalid("`request_uri` is missing")),
    };
    let expires_in = map
        .get("expires_in")
        .and_then(serde_json::Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)));
    Ok(Pushed {
        request_uri,
        expires_in,
    })
}

/// How long one connection to the loopback listener may take to send its request line and
/// headers. A browser sends them at once; a connection that stays silent (a browser's
/// speculative preconnect, another local process) is closed after this. Connections are
/// served concurrently, so a silent one never delays the redirect, only holds a slot.
const CONNECTION_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; more wait in the listen backlog until one is done, so that a
/// local process opening connections in a loop cannot exhaust memory or file descriptors.
const MAX_CONNECTIONS: usize = 32;

/// The largest request head (request line and headers) read from one connection.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The redirect path of the loopback login.
const CALLBACK_PATH: &str = "/callback";

/// Waits for the redirect (`GET /callback?...`) on the loopback listener, and returns its URL
/// with the connection it came on (answered once the login's outcome is known). Connections
/// are served concurrently, each with [`CONNECTION_READ_TIMEOUT`] to send its request head;
/// requests that are not the redirect (a favicon, another method) get a 404 and change nothing.
async fn accept_callback(listener: &TcpListener) -> Result<(Url, TcpStream)> {
    // Dropped on return (or when the login times out): connections still open are aborted.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => {
                match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream));
                    }
                    // Out of file descriptors, say: let the open connections finish first.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            Some(served) = connections.join_next(), if !connections.is_empty() => {
                if let Ok(Some(callback)) = served {
                    return Ok(callback);
                }
            }
            else => {
                return Err(Error::config("the loopback listener stopped accepting"));
            }
        }
    }
}

/// Serves one connection: the redirect's URL and the connection, unanswered, when it carried
/// the redirect; else `None` (after a 404, or nothing when it sent no complete request head in
/// time).
async fn serve_connection(mut stream: TcpStream) -> Option<(Url, TcpStream)> {
    let head = tokio::time::timeout(CONNECTION_READ_TIMEOUT, read_head(&mut stream))
        .await
        .ok()??;
    match callback_url(&head) {
        Some(url) => Some((url, stream)),
        None => {
            respond(stream, "404 Not Found", "").await;
            None
        }
    }
}

/// Answers one request with `status` and an HTML `page` (empty: no content type), then closes
/// the connection. The answer is small; a peer that does not read it does not hold the login.
async fn respond(mut stream: TcpStream, status: &str, page: &str) {
    let answer = if page.is_empty() {
        format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    } else {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
             cache-control: no-store\r\ncontent-security-policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
             x-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\nconnection: close\r\n\r\n{page}",
            page.len()
        )
    };
    let _ = tokio::time::timeout(CONNECTION_READ_TIMEOUT, async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Reads up to the end of the request head (`\r\n\r\n`); `None` when the peer closed first
/// or the head is larger than [`MAX_REQUEST_HEAD`].
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        // Look for the end only where it can be: the new bytes and the 3 before them.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(chunk.get(..n)?);
        if head.get(from..)?.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(head);
        }
        if head.len() >= MAX_REQUEST_HEAD {
            return None;
        }
    }
}

/// The redirect's URL, when `head` is `GET /callback?...`.
fn callback_url(head: &[u8]) -> Option<Url> {
    let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = std::str::from_utf8(head.get(..line_end)?).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method != "GET" || !target.starts_with('/') || !version.starts_with("HTTP/") {
        return None;
    }
    let url = Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
    (url.path() == CALLBACK_PATH).then_some(url)
}

/// What the pages of [`AuthorizationCode::login_loopback`] say, after the redirect reached the
/// loopback listener and the code was exchanged: "Signed in" or "Sign-in failed" with the
/// reason, each followed by a hint of yours about where to go next. The hints are plain text
/// (HTML-escaped on the page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopbackPages {
    success_hint: String,
    failure_hint: String,
}

impl Default for LoopbackPages {
    /// Hints that name "the application".
    fn default() -> Self {
        Self {
            success_hint: DEFAULT_SUCCESS_HINT.to_owned(),
            failure_hint: DEFAULT_FAILURE_HINT.to_owned(),
        }
    }
}

impl LoopbackPages {
    /// The sentence under "Signed in" (default: "You can close this tab and return to the
    /// application.").
    #[must_use]
    pub fn success_hint(mut self, text: impl Into<String>) -> Self {
        self.success_hint = text.into();
        self
    }

    /// The sentence under the reason of a failed login (default: "Return to the application
    /// for details, and try again.").
    #[must_use]
    pub fn failure_hint(mut self, text: impl Into<String>) -> Self {
        self.failure_hint = text.into();
        self
    }

    fn success_page(&self) -> String {
        page(
            "Signed in",
            &["The login succeeded.", self.success_hint.as_str()],
        )
    }

    fn failure_page(&self, reason: &str) -> String {
        page("Sign-in failed", &[reason, self.failure_hint.as_str()])
    }
}

/// A page with a title and paragraphs of plain text, escaped.
fn page(title: &str, paragraphs: &[&str]) -> String {
    let body: String = paragraphs
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", html_escape(p)))
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em;max-width:40em\"><h1>{title}</h1>{body}</body></html>",
        title = html_escape(title)
    )
}

/// Text made safe to put between HTML tags or in a quoted attribute.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the failure page says went wrong: the server's error, or what the client refused; never
/// a code, `state` or token (the errors of the exchange carry none), cut at
/// [`MAX_PAGE_REASON`] characters.
fn failure_reason(error: &Error) -> String {
    let reason = match error {
        Error::Authorization { error: Some(e), .. } => {
            format!("The authorization server refused the login ({e}).")
        }
        Error::Authorization { message, .. } => format!("The redirect was refused: {message}."),
        Error::OAuth(failure) => match &failure.error {
            Some(e) => format!("The token endpoint refused the code ({e})."),
            None => "The token endpoint's answer was not a token.".to_owned(),
        },
        Error::IdToken(_) => "The ID token of the login did not validate.".to_owned(),
        _ => "The code could not be exchanged for tokens.".to_owned(),
    };
    match reason.char_indices().nth(MAX_PAGE_REASON) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason,
    }
}

/// One authorization attempt: the URL for the user, and what the exchange needs (the state
/// and the PKCE verifier, both secret).
pub struct PendingAuthorization {
    client: OAuthClient,
    url: Url,
    redirect_uri: String,
    state: Secret,
    verifier: Secret,
    issuer: Option<String>,
    resources: Vec<String>,
    request_uri_expires_in: Option<Duration>,
    /// Issue 12, ID tokens: the `nonce` sent, and what validates the ID token.
    nonce: Option<Secret>,
    id_token_validator: Option<IdTokenValidator>,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field(
                "redirect_uri",
                &redact::url_text_builtin(&self.redirect_uri),
            )
            .field("state", &REDACTED)
            .field("code_verifier", &REDACTED)
            .field("nonce", &self.nonce.as_ref().map(|_| REDACTED))
            .field("id_token_validator", &self.id_token_validator)
            .finish_non_exhaustive()
    }
}

impl PendingAuthorization {
    /// The URL to send the user to. It carries `state` and the code challenge (not the
    /// verifier): fine to show, not to log.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// For a pushed request ([`AuthorizationCode::begin_pushed`]), how long the server keeps
    /// its `request_uri` (its `expires_in`): the user must reach the URL within it. `None`
    /// for a request that was not pushed, or when the server did not say.
    pub fn request_uri_expires_in(&self) -> Option<Duration> {
        self.request_uri_expires_in
    }

    /// Completes the attempt from the redirect the browser arrived at: the whole URL
    /// (`https://my-app.example.com/callback?code=…&state=…&iss=…`), or just its query. It
    /// carries `code`, `state` and, from servers that send it (RFC 9207), `iss`: all three
    /// are checked here, so this is the call to make.
    ///
    /// # Errors
    ///
    /// [`Error::Authorization`] for an `error=` redirect, one without a code, a `state` that
    /// does not match (a forged or replayed redirect) or a missing or wrong `iss`; token
    /// endpoint errors as [`Error::OAuth`].
    pub async fn exchange(self, callback: &str) -> Result<Token> {
        let callback = callback.trim();
        let query = match Url::parse(callback) {
            Ok(url) => url.query().unwrap_or("").to_owned(),
            Err(_) => callback.trim_start_matches('?').to_owned(),
        };
        let get = |name: &str| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(code) = get("error") {
            return Err(Error::authorization(
                "the authorization server redirected back with an error".into(),
                Some(OAuthError {
                    code,
                    description: get("error_description"),
                    uri: get("error_uri"),
                }),
            ));
        }
        let code = get("code")
            .ok_or_else(|| Error::authorization("the redirect carries no code".into(), None))?;
        let state = get("state").unwrap_or_default();
        self.exchange_code(&Secret::new(code), &state, get("iss").as_deref())
            .await
    }

    /// Completes the attempt with the parts of the redirect your handler took apart: `code`,
    /// `state`, and `iss` when the redirect has one. A server that announced RFC 9207
    /// (`authorization_response_iss_parameter_supported`, or [`AuthorizationCode::expect_issuer`])
    /// must send `iss`: `None` is then refused, since the check is what defeats mix-up
    /// attacks. [`PendingAuthorization::exchange`] with the whole redirect URL does all this.
    ///
    /// # Errors
    ///
    /// As [`PendingAuthorization::exchange`].
    pub async fn exchange_code(
        self,
        code: &Secret,
        state: &str,
        iss: Option<&str>,
    ) -> Result<Token> {
        let expected = self.state.expose_secret().as_bytes();
        if !bool::from(expected.ct_eq(state.as_bytes())) {
            return Err(Error::authorization(
                "the redirect's state does not match this login attempt (forged, replayed or from another attempt)"
                    .into(),
                None,
            ));
        }
        if let Some(issuer) = &self.issuer
            && iss != Some(issuer.as_str())
        {
            let message = match iss {
                None => format!(
                    "the redirect carries no iss, but {issuer:?} sends one (RFC 9207): pass the \
                     whole redirect URL to exchange(), or its iss to exchange_code()"
                ),
                Some(iss) => format!(
                    "the redirect's iss is {iss:?}, not the expected issuer {issuer:?} (RFC 9207)"
                ),
            };
            return Err(Error::authorization(message, None));
        }
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", self.verifier.expose_secret()),
        ];
        // RFC 8707 §2.2: the resource again, for the access token to be issued for it.
        form.extend(self.resources.iter().map(|r| ("resource", r.as_str())));
        let token = self.client.token_request(&form).await?;
        self.check_id_token(token).await
    }
}

// --- Issue 12: ID token validation (OpenID Connect Core §3.1.3.7) ---
impl PendingAuthorization {
    fn with_nonce(mut self, nonce: Option<Secret>) -> Self {
        self.nonce = nonce;
        self
    }

    /// Whether the authorization request carried a `nonce` (its scope asks for `openid`).
    pub fn has_nonce(&self) -> bool {
        self.nonce.is_some()
    }

    /// Validates the token response's ID token, when the flow has a validator, and keeps its
    /// claims on the token.
    async fn check_id_token(&self, token: Token) -> Result<Token> {
        let Some(validator) = &self.id_token_validator else {
            return Ok(token);
        };
        let nonce = self.nonce.as_ref().map(|n| n.expose_secret());
        // The validator goes with the token set: a refresh that brings a new ID token has it
        // checked against the login's (OpenID Connect Core §12.2).
        let token = token.with_id_token_validator(validator.clone());
        match token.id_token() {
            Some(id_token) => {
                let claims = validator.validate(id_token.expose_secret(), nonce).await?;
                Ok(token.with_id_token_claims(claims))
            }
            None if nonce.is_some() => Err(Error::id_token(
                crate::error::IdTokenErrorKind::Malformed,
                "the token response of an openid login carries no id_token (OpenID Connect \
                 Core §3.1.3.3)",
            )),
            None => Ok(token),
        }
    }
}
// --- end of the ID token block ---

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_callback_is_the_redirect() {
        let url = callback_url(b"GET /callback?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(url.unwrap().query(), Some("code=c&state=s"));
        for head in [
            &b"POST /callback?code=c HTTP/1.1\r\n\r\n"[..],
            b"GET /favicon.ico HTTP/1.1\r\n\r\n",
            b"GET //evil.example/callback HTTP/1.1\r\n\r\n",
            b"GET http://evil.example/callback HTTP/1.1\r\n\r\n",
            b"GET /callback\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
            b"",
        ] {
            assert!(callback_url(head).is_none(), "{head:?}");
        }
    }

    #[test]
    fn pages_escape_what_they_show() {
        let pages = LoopbackPages::default();
        let ok = pages.success_page();
        assert!(ok.contains("<h1>Signed in</h1>"), "{ok}");
        assert!(ok.contains(DEFAULT_SUCCESS_HINT), "{ok}");
        let err = Error::authorization(
            "the authorization server redirected back with an error".into(),
            Some(OAuthError {
                code: "invalid_scope".into(),
                description: Some("<img src=x onerror=alert(1)> & 'more'".into()),
                uri: None,
            }),
        );
        let failed = pages.failure_page(&failure_reason(&err));
        assert!(
            failed.contains(
                "(invalid_scope: &lt;img src=x onerror=alert(1)&gt; &amp; &#39;more&#39;)"
            ),
            "{failed}"
        );
        assert!(!failed.contains("<img"), "{failed}");
        assert!(failed.contains(DEFAULT_FAILURE_HINT), "{failed}");
    }

    #[test]
    fn a_long_reason_is_cut() {
        let err = Error::authorization(
            String::new(),
            Some(OAuthError {
                code: "access_denied".into(),
                description: Some("é".repeat(10_000)),
                uri: None,
            }),
        );
        let reason = failure_reason(&err);
        assert_eq!(reason.chars().count(), MAX_PAGE_REASON + 1, "{reason}");
        assert!(reason.ends_with('…'));
    }

    #[test]
    fn rfc7636_appendix_b_challenge() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_43_url_safe_characters_and_differ() {
        let a = random_token(32).unwrap();
        let b = random_token(32).unwrap();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }
}
