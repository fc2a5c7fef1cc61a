//! Token sources for the non-interactive grants: client credentials, JWT bearer (service
//! accounts), refresh token, password (legacy), and a custom source made of two async
//! closures.

use std::{borrow::Cow, fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::{
    Secret,
    error::{Error, Result},
    oauth2::{
        assertion::{self, ASSERTION_LIFETIME, JWT_BEARER_GRANT, Signer},
        client::{ClientAuth, OAuthClient},
        id_token::IdTokenValidator,
        signing_key::SigningKey,
        token::Token,
        token_auth::{TokenAuth, TokenSource},
    },
    redact::REDACTED,
};

/// Where a token is to be used: RFC 8707 resource indicators (`resource`, absolute URIs
/// without a fragment) and audiences (`audience`: RFC 8693's parameter, which several
/// providers also take on other grants). Each value is one form parameter; both may repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) resources: Vec<String>,
    pub(crate) audiences: Vec<String>,
}

impl Target {
    /// The form parameters, `resource` first.
    pub(crate) fn form(&self) -> impl Iterator<Item = (&str, &str)> {
        let resources = self.resources.iter().map(|r| ("resource", r.as_str()));
        let audiences = self.audiences.iter().map(|a| ("audience", a.as_str()));
        resources.chain(audiences)
    }

    /// RFC 8707 §2: a resource indicator is an absolute URI without a fragment.
    pub(crate) fn check(&self) -> Result<()> {
        for resource in &self.resources {
            match url::Url::parse(resource) {
                Ok(url) if url.fragment().is_none() => {}
                _ => {
                    return Err(Error::config(format!(
                        "resource indicator {resource:?} is not an absolute URI without a fragment (RFC 8707 §2)"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The client credentials grant (RFC 6749 §4.4): the application's own identity, no user. The
/// token is requested again whenever it expires.
///
/// ```
/// use authed::{Client, Secret, oauth2::ClientCredentials};
///
/// let auth = ClientCredentials::new("https://auth.example.com/token", "my-client", Secret::from("s3cret"))
///     .scopes(["read", "write"])
///     .into_auth();
/// let api = Client::builder("https://api.example.com/").auth(auth).build()?;
/// # Ok::<(), authed::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    client: OAuthClient,
    scopes: Vec<String>,
    target: Target,
    params: Vec<(String, String)>,
}

impl ClientCredentials {
    /// A confidential client with `client_secret_basic`.
    pub fn new(
        token_url: impl AsRef<str>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        Self::with_client(OAuthClient::new(token_url, client_id).secret(client_secret))
    }

    /// Uses an [`OAuthClient`] configured elsewhere (another [`ClientAuth`], your own HTTP
    /// client).
    pub fn with_client(client: OAuthClient) -> Self {
        Self {
            client,
            scopes: Vec::new(),
            target: Target::default(),
            params: Vec::new(),
        }
    }

    /// Authenticates with `method` instead of `client_secret_basic`.
    #[must_use]
    pub fn auth_method(mut self, method: ClientAuth) -> Self {
        self.client = self.client.auth_method(method);
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

    /// Asks for a token usable at the resource `uri` (RFC 8707: `resource`, an absolute URI
    /// without a fragment). Call it again for a token valid at several resources; the
    /// authorization server decides what the token's audience becomes.
    ///
    /// ```
    /// use authed::oauth2::ClientCredentials;
    ///
    /// let auth = ClientCredentials::new("https://auth.example.com/token", "reporting", "s3cret")
    ///     .scopes(["reports:read"])
    ///     .resource("https://api.example.com/reports")
    ///     .into_auth();
    /// # let _ = auth;
    /// ```
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.target.resources.push(uri.into());
        self
    }

    /// Asks for a token meant for `audience` (the `audience` parameter: RFC 8693's, also
    /// taken by several providers on this grant, Auth0's among them). Repeatable.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.target.audiences.push(audience.into());
        self
    }

    /// An extra form parameter, sent as given.
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The token cache that sends these tokens.
    pub fn into_auth(self) -> TokenAuth {
        TokenAuth::new(self)
    }
}

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn fetch(&self, _current: Option<&Token>) -> Result<Token> {
        self.target.check()?;
        let scope = self.scopes.join(" ");
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.extend(self.target.form());
        form.extend(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.client.token_request(&form).await
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Owned(format!(
            "oauth2 client credentials ({})",
            self.client.client_id()
        ))
    }

    fn validate(&self) -> Result<()> {
        self.target.check()?;
        self.client.validate()
    }
}

/// The JWT bearer grant (RFC 7523 §2.1): a service account signs an assertion with its
/// private key and exchanges it for an access token
/// (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...`). No user, no
/// shared secret: the server holds the public key. Google service accounts, Salesforce's
/// JWT bearer flow, Okta and Keycloak service clients work this way.
///
/// Each token request signs a new assertion: `iss` (the issuer given), `sub` (the principal,
/// default the issuer), `aud` (default the token endpoint URL), a random `jti`, `iat` now and
/// `exp` [`ASSERTION_LIFETIME`] later, and any extra claims. Scopes go in the form's `scope`
/// parameter (RFC 7521 §4.1); a server that wants them in the assertion (Google) gets them
/// with [`JwtBearer::claim`]. The token is cached and refreshed ahead of expiry by the
/// [`TokenAuth`] of [`JwtBearer::into_auth`], as for [`ClientCredentials`].
///
/// ```
/// use authed::{Client, oauth2::{JwsAlgorithm, JwtBearer, SigningKey}};
///
/// # let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIK0dOhcdSF8PHkdtMaQBsEP9jlN/AjYuY4EZlE+Be8Qm\n-----END PRIVATE KEY-----\n";
/// // In practice: SigningKey::from_pem_file(...) or SigningKey::from_jwk(...)
/// let key = SigningKey::from_pem(JwsAlgorithm::EdDSA, pem)?.kid("sa-key-1");
/// let auth = JwtBearer::new("https://auth.example.com/token", key, "reporting@example.com")
///     .scopes(["reports:read"])
///     .into_auth();
/// let api = Client::builder("https://api.example.com/").auth(auth).build()?;
/// # Ok::<(), authed::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct JwtBearer {
    client: OAuthClient,
    key: SigningKey,
    issuer: String,
    subject: Option<String>,
    audience: Option<String>,
    scopes: Vec<String>,
    claims: serde_json::Map<String, serde_json::Value>,
    params: Vec<(String, String)>,
    lifetime: Duration,
}

/// Claims the grant sets itself; [`JwtBearer::claim`] ignores them.
const REGISTERED_CLAIMS: &[&str] = &["iss", "sub", "aud", "jti", "iat", "exp"];

impl JwtBearer {
    /// The grant at `token_url`, with assertions signed by `key` and issued by `issuer` (the
    /// service account's id or email, as the server knows it). The client does not
    /// authenticate otherwise: the form carries only `grant_type`, `assertion` and `scope`.
    pub fn new(token_url: impl AsRef<str>, key: SigningKey, issuer: impl Into<String>) -> Self {
        Self::with_client(OAuthClient::anonymous(token_url), key, issuer)
    }

    /// The grant through a registered client that also authenticates itself (RFC 7523 §3.1
    /// allows both): with a secret, or with its own key ([`ClientAuth::private_key_jwt`]).
    pub fn with_client(client: OAuthClient, key: SigningKey, issuer: impl Into<String>) -> Self {
        Self {
            client,
            key,
            issuer: issuer.into(),
            subject: None,
            audience: None,
            scopes: Vec::new(),
            claims: serde_json::Map::new(),
            params: Vec::new(),
            lifetime: ASSERTION_LIFETIME,
        }
    }

    /// The principal the token is for (`sub`), when not the issuer: the user a service
    /// account acts for (domain-wide delegation), or a client id.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The assertion's `aud`, when the server wants something other than its token endpoint
    /// URL (its issuer identifier, say).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The scopes to ask for, in the form's `scope` parameter.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// An extra claim in every assertion (Google wants `"scope"` there). `iss`, `sub`,
    /// `aud`, `jti`, `iat` and `exp` are the grant's own and are ignored here.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        let name = name.into();
        if !REGISTERED_CLAIMS.contains(&name.as_str()) {
            self.claims.insert(name, value.into());
        }
        self
    }

    /// An extra form parameter (`audience`, `resource`, ...).
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// How long each assertion is valid (default [`ASSERTION_LIFETIME`]).
    #[must_use]
    pub fn assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The token cache that sends these tokens.
    pub fn into_auth(self) -> TokenAuth {
        TokenAuth::new(self)
    }
}

#[async_trait]
impl TokenSource for JwtBearer {
    async fn fetch(&self, _current: Option<&Token>) -> Result<Token> {
        let audience = match (&self.audience, &self.client.inner.token_url) {
            (Some(audience), _) => audience.clone(),
            (None, Ok(url)) => url.to_string(),
            (None, Err(e)) => return Err(e.clone()),
        };
        let assertion = assertion::assertion(
            Signer::Key(&self.key),
            &self.issuer,
            self.subject.as_deref().unwrap_or(&self.issuer),
            &audience,
            self.lifetime,
            Some(&self.claims),
        )?;
        let scope = self.scopes.join(" ");
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", assertion.expose_secret()),
        ];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.extend(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.client.token_request(&form).await
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Owned(format!("oauth2 jwt bearer ({})", self.issuer))
    }

    fn validate(&self) -> Result<()> {
        self.client.validate()
    }
}

/// The refresh token grant (RFC 6749 §6): exchanges the session's refresh token for a new
/// token set, keeping the old refresh token when the server does not send a new one.
/// `invalid_grant`, or no refresh token at all, is [`Error::ReauthRequired`].
///
/// This is the source behind sessions started interactively (authorization code, device):
/// seed the cache with the first token using [`TokenAuth::set_token`].
///
/// # Example
///
/// ```no_run
/// use authed::{
///     Client,
///     oauth2::{OAuthClient, RefreshToken, Token},
/// };
///
/// /// `token`: what an interactive login returned (`AuthorizationCode`, `DeviceAuthorization`).
/// async fn api_for(token: Token) -> authed::Result<Client> {
///     let client = OAuthClient::new("https://auth.example.com/token", "my-app"); // public client
///     let auth = RefreshToken::new(client)
///         .scopes(["read"]) // optional: ask for less than the login granted
///         .into_auth();
///     auth.set_token(token).await?; // used until near its expiry, then refreshed
///     Client::builder("https://api.example.com/").auth(auth).build()
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RefreshToken {
    client: OAuthClient,
    scopes: Vec<String>,
    target: Target,
    id_token_validator: Option<IdTokenValidator>,
}

impl RefreshToken {
    /// Refreshes with `client`.
    pub fn new(client: OAuthClient) -> Self {
        Self {
            client,
            scopes: Vec::new(),
            target: Target::default(),
            id_token_validator: None,
        }
    }

    /// Validates the ID token a refresh brings with `validator` (OpenID Connect Core §12.2):
    /// its signature, `iss`, `aud` and times as at login, no nonce, and the same `iss`,
    /// `sub`, `aud` (and `azp`) as the login's ID token, or the refresh fails with
    /// [`Error::IdToken`] ([`IdTokenErrorKind::SessionMismatch`](crate::error::IdTokenErrorKind::SessionMismatch)
    /// for another session's token). Its claims are then on the token
    /// ([`Token::id_token_claims`]).
    ///
    /// A token set from a flow that validated its ID token (every flow built by discovery)
    /// carries that flow's validator already, and its refreshes are checked without this. Set
    /// it for token sets read back from a store, which keeps the ID token but not the
    /// validator; the login's claims are then read from the stored ID token.
    #[must_use]
    pub fn id_token_validator(mut self, validator: IdTokenValidator) -> Self {
        self.id_token_validator = Some(validator);
        self
    }

    /// Asks for these scopes on refresh (a subset of the original grant).
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Asks for a token usable at the resource `uri` (RFC 8707: `resource`, an absolute URI
    /// without a fragment). Call it again for a token valid at several resources; the
    /// authorization server decides what the token's audience becomes.
    /// On refresh the resource narrows the new access token to one of the resources the
    /// original grant covered (RFC 8707 §2.2).
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.target.resources.push(uri.into());
        self
    }

    /// Asks for a token meant for `audience` (the `audience` parameter: RFC 8693's, also
    /// taken by several providers on this grant, Auth0's among them). Repeatable.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.target.audiences.push(audience.into());
        self
    }

    /// The token cache that sends these tokens.
    pub fn into_auth(self) -> TokenAuth {
        TokenAuth::new(self)
    }
}

/// Runs the refresh grant with the refresh token of `current`; `invalid_grant` becomes
/// [`Error::ReauthRequired`]. A token set bound to a DPoP key is refreshed with a proof of
/// that key (a DPoP-bound refresh token works with no other).
pub(crate) async fn refresh(
    client: &OAuthClient,
    current: &Token,
    refresh_token: &Secret,
    scope: Option<&str>,
    target: &Target,
    validator: Option<&IdTokenValidator>,
) -> Result<Token> {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose_secret()),
    ];
    if let Some(scope) = scope.filter(|s| !s.is_empty()) {
        form.push(("scope", scope));
    }
    form.extend(target.form());
    let token = client
        .token_request_bound(&form, current.dpop_key())
        .await
        .map_err(|e| match e.oauth_error() {
            Some(oauth) if oauth.code == "invalid_grant" => Error::ReauthRequired {
                reason: "the authorization server refused the refresh token (invalid_grant)".into(),
                error: Some(oauth.clone()),
            },
            _ => e,
        })?;
    check_refreshed_id_token(token, current, validator).await
}

/// Validates the ID token a refresh brought (OpenID Connect Core §12.2), with `validator` or
/// else the one of the login that made `current`; without either, the token set is as it
/// came. A token set with a validator passes it on to the next refresh.
async fn check_refreshed_id_token(
    token: Token,
    current: &Token,
    validator: Option<&IdTokenValidator>,
) -> Result<Token> {
    let Some(validator) = validator.or(current.id_token_validator()) else {
        return Ok(token);
    };
    let token = token.with_id_token_validator(validator.clone());
    let Some(id_token) = token.id_token() else {
        return Ok(token);
    };
    // The login's claims: validated in this process, or read back with a stored token.
    let stored;
    let original = match current.id_token_claims() {
        Some(claims) => Some(claims),
        None => {
            stored = current
                .id_token()
                .and_then(|t| crate::oauth2::id_token::stored_claims(t.expose_secret()));
            stored.as_ref()
        }
    };
    let claims = validator
        .validate_refreshed(id_token.expose_secret(), original)
        .await?;
    Ok(token.with_id_token_claims(claims))
}

#[async_trait]
impl TokenSource for RefreshToken {
    async fn fetch(&self, current: Option<&Token>) -> Result<Token> {
        self.target.check()?;
        let Some((current, refresh_token)) = current.and_then(|c| Some((c, c.refresh_token()?)))
        else {
            return Err(Error::ReauthRequired {
                reason: "there is no refresh token".into(),
                error: None,
            });
        };
        refresh(
            &self.client,
            current,
            refresh_token,
            Some(&self.scopes.join(" ")),
            &self.target,
            self.id_token_validator.as_ref(),
        )
        .await
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Owned(format!("oauth2 ({})", self.client.client_id()))
    }

    fn validate(&self) -> Result<()> {
        self.target.check()?;
        self.client.validate()
    }
}

/// The resource owner password credentials grant (RFC 6749 §4.3).
///
/// **Legacy**: the OAuth 2.0 Security BCP (RFC 9700 §2.4) says it MUST NOT be used: the
/// application sees the user's password, and it cannot do multi-factor login. It is here for
/// old APIs that offer nothing else. It refreshes with the refresh token when there is one,
/// and logs in again with the password when there is not or it is refused.
#[derive(Clone)]
pub struct Password {
    client: OAuthClient,
    username: String,
    password: Secret,
    scopes: Vec<String>,
    target: Target,
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Password")
            .field("client", &self.client)
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("scopes", &self.scopes)
            .field("target", &self.target)
            .finish()
    }
}

impl Password {
    /// The grant for `username` and `password`, through `client`.
    pub fn new(
        client: OAuthClient,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Self {
            client,
            username: username.into(),
            password: password.into(),
            scopes: Vec::new(),
            target: Target::default(),
        }
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

    /// Asks for a token usable at the resource `uri` (RFC 8707: `resource`, an absolute URI
    /// without a fragment). Call it again for a token valid at several resources; the
    /// authorization server decides what the token's audience becomes.
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.target.resources.push(uri.into());
        self
    }

    /// Asks for a token meant for `audience` (the `audience` parameter: RFC 8693's, also
    /// taken by several providers on this grant, Auth0's among them). Repeatable.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.target.audiences.push(audience.into());
        self
    }

    /// The token cache that sends these tokens.
    pub fn into_auth(self) -> TokenAuth {
        TokenAuth::new(self)
    }
}

#[async_trait]
impl TokenSource for Password {
    async fn fetch(&self, current: Option<&Token>) -> Result<Token> {
        self.target.check()?;
        let scope = self.scopes.join(" ");
        if let Some(current) = current
            && let Some(refresh_token) = current.refresh_token()
        {
            match refresh(
                &self.client,
                current,
                refresh_token,
                Some(&scope),
                &self.target,
                None,
            )
            .await
            {
                Err(Error::ReauthRequired { .. }) => {}
                other => return other,
            }
        }
        let mut form = vec![
            ("grant_type", "password"),
            ("username", self.username.as_str()),
            ("password", self.password.expose_secret()),
        ];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.extend(self.target.form());
        self.client.token_request(&form).await
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Owned(format!("oauth2 password ({})", self.client.client_id()))
    }

    fn validate(&self) -> Result<()> {
        self.target.check()?;
        self.client.validate()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type LoginFn = dyn Fn() -> BoxFuture<Result<Token>> + Send + Sync;
type RefreshFn = dyn Fn(Token) -> BoxFuture<Result<Token>> + Send + Sync;

/// A token source made of two async closures: one that logs in, one that refreshes. For APIs
/// with their own login endpoint, such as `POST /login` returning
/// `{"access_token", "refresh_token"}` and `POST /refresh` taking the refresh token as a
/// bearer (Flask-JWT-Extended and many others). See `examples/jwt_login.rs`.
///
/// The refresh closure is called when the current token has a refresh token; when it fails
/// with [`Error::ReauthRequired`] ([`Error::reauth_required`]), a 401, or `invalid_grant` (or
/// there is no refresh token), the login closure runs.
///
/// ```
/// use authed::oauth2::{Custom, Token};
///
/// let source = Custom::new(|| async { Ok(Token::bearer("from-login").with_refresh_token("r")) })
///     .refresh(|old: Token| async move {
///         let _refresh_token = old.refresh_token();
///         Ok(Token::bearer("from-refresh"))
///     });
/// let auth = source.into_auth();
/// ```
#[derive(Clone)]
pub struct Custom {
    login: Arc<LoginFn>,
    refresh: Option<Arc<RefreshFn>>,
    label: Cow<'static, str>,
}

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Custom")
            .field("label", &self.label)
            .field("refresh", &self.refresh.is_some())
            .finish()
    }
}

impl Custom {
    /// A source that logs in with `login`.
    pub fn new<F, Fut>(login: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Token>> + Send + 'static,
    {
        Self {
            login: Arc::new(move || Box::pin(login())),
            refresh: None,
            label: Cow::Borrowed("custom token"),
        }
    }

    /// Refreshes with `refresh`, given the current token set.
    #[must_use]
    pub fn refresh<F, Fut>(mut self, refresh: F) -> Self
    where
        F: Fn(Token) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Token>> + Send + 'static,
    {
        self.refresh = Some(Arc::new(move |t| Box::pin(refresh(t))));
        self
    }

    /// The label for the audit trail (default `"custom token"`).
    #[must_use]
    pub fn label(mut self, label: impl Into<Cow<'static, str>>) -> Self {
        self.label = label.into();
        self
    }

    /// The token cache that sends these tokens.
    pub fn into_auth(self) -> TokenAuth {
        TokenAuth::new(self)
    }
}

#[async_trait]
impl TokenSource for Custom {
    async fn fetch(&self, current: Option<&Token>) -> Result<Token> {
        if let (Some(refresh), Some(token)) = (&self.refresh, current)
            && token.refresh_token().is_some()
        {
            match refresh(token.clone()).await {
                // Refused: log in again. A login API's refresh endpoint usually says so with
                // a 401 (or an OAuth-style 400 invalid_grant), not with our error type.
                Err(Error::ReauthRequired { .. }) => {}
                Err(e) if e.status() == Some(http::StatusCode::UNAUTHORIZED) => {}
                Err(e) if e.oauth_error().is_some_and(|o| o.code == "invalid_grant") => {}
                other => return other,
            }
        }
        (self.login)().await
    }

    fn label(&self) -> Cow<'static, str> {
        self.label.clone()
    }
}
