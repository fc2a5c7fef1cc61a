//! The OAuth client: its registration ([`OAuthClient`]: client id, secret, token endpoint),
//! how it authenticates to the authorization server ([`ClientAuth`], RFC 6749 §2.3.1), and the
//! token endpoint requests made with it.
//!
//! (Not to be confused with [`crate::endpoint`], the typed [`crate::Endpoint`] trait.)

use std::{fmt, sync::Arc};

use http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use crate::{
    Client, Secret,
    auth::{Basic, NoAuth},
    error::{Error, OAuthFailure, Result},
    oauth2::{
        assertion::{self, ASSERTION_LIFETIME, CLIENT_ASSERTION_TYPE, Signer},
        dpop::{self, DpopKey, Nonces},
        signing_key::SigningKey,
        token::{Token, TokenResponseError, oauth_error},
    },
    redact::{REDACTED, Redactor},
};

/// The longest body the client reads from the authorization server, in bytes: token, device
/// authorization, revocation and discovery answers (1 MiB). A real answer is a few kilobytes
/// (a token set with a large ID token stays under 16 KiB, a discovery document under 64 KiB);
/// the cap keeps a hostile or broken server from making the client hold an unbounded body.
/// Past it the client stops reading (a `Content-Length` above it is refused before reading)
/// and returns [`Error::BodyTooLarge`].
pub const MAX_OAUTH_BODY: usize = 1024 * 1024;

/// Form parameters of token, revocation and device requests whose values are not secret.
/// Every other parameter's value (`client_secret`, `password`, `refresh_token`, `code`,
/// `code_verifier`, `assertion`, `client_assertion`, `device_code`, `token`, `subject_token`,
/// and any parameter a caller adds) is scrubbed from the text of the answer: a list of what
/// may be shown fails safe when a grant grows a new secret parameter.
const PUBLIC_FORM_PARAMS: &[&str] = &[
    "grant_type",
    "scope",
    "client_id",
    "redirect_uri",
    "username",
    "token_type_hint",
    "audience",
    "resource",
    "requested_token_type",
    "subject_token_type",
    "actor_token_type",
    "client_assertion_type",
];

/// The answer of an authorization server endpoint: its status, its body (read whole), the
/// request it answers, and what that request carried, to scrub any text taken from the body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: bytes::Bytes,
    pub(crate) request: crate::error::RequestInfo,
    pub(crate) redactor: Redactor,
    /// The answer brought a `DPoP-Nonce` other than the one the request's proof carried.
    pub(crate) new_dpop_nonce: bool,
}

/// How the client authenticates to the authorization server (RFC 6749 §2.3.1, RFC 7523 §2.2,
/// OpenID Connect Core §9). Exactly one is used on every request the client makes there:
/// token requests of every grant, revocation, device authorization. The variants are named
/// after the `token_endpoint_auth_method` values of OpenID Connect Dynamic Client Registration
/// (`client_secret_basic`, `client_secret_post`, `none`, `private_key_jwt`,
/// `client_secret_jwt`), which is what an authorization server's registration page shows.
///
/// The two JWT methods send a signed assertion instead of the secret
/// (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
/// `client_assertion=...`, and `client_id`). Each assertion is built for its request:
/// `iss` = `sub` = the client id, `aud` = the token endpoint URL (or
/// [`OAuthClient::assertion_audience`]), a random `jti`, `iat` now and `exp`
/// [`ASSERTION_LIFETIME`] later; it is never reused, so a server that refuses replays accepts
/// every one.
///
/// ```
/// use authed::oauth2::{ClientAuth, ClientCredentials, JwsAlgorithm, OAuthClient, SigningKey};
///
/// let pem = "-----BEGIN PRIVATE KEY-----\n\
///            MC4CAQAwBQYDK2VwBCIEIK0dOhcdSF8PHkdtMaQBsEP9jlN/AjYuY4EZlE+Be8Qm\n\
///            -----END PRIVATE KEY-----\n";
/// // In practice: SigningKey::from_pem_file(JwsAlgorithm::EdDSA, "/run/secrets/client-key.pem")
/// let key = SigningKey::from_pem(JwsAlgorithm::EdDSA, pem)?.kid("key-1");
/// let client = OAuthClient::new("https://auth.example.com/oauth/token", "reporting")
///     .auth_method(ClientAuth::private_key_jwt(key));
/// let auth = ClientCredentials::with_client(client).into_auth();
///
/// // client_secret_jwt: HS256 with the client secret, which never leaves the client.
/// let hs = OAuthClient::new("https://auth.example.com/oauth/token", "legacy")
///     .secret("a secret of at least 32 bytes, for HS256 ....")
///     .auth_method(ClientAuth::client_secret_jwt());
/// # let _ = (auth, hs);
/// # Ok::<(), authed::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and secret, each
    /// form-urlencoded first (so a secret with `+`, `%`, `/` or `:` survives). The default.
    #[default]
    SecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    SecretPost,
    /// `none`: a public client; `client_id` in the form body, no secret.
    Public,
    /// `private_key_jwt`: an assertion signed with the client's private key (RS256, PS256,
    /// ES256, ES384 or EdDSA); the server holds the public key. Nothing secret travels.
    PrivateKeyJwt(SigningKey),
    /// `client_secret_jwt`: an assertion signed with HS256 keyed by the client secret.
    SecretJwt,
}

impl ClientAuth {
    /// `private_key_jwt` with `key` (see [`SigningKey`] to read one from PEM, a file or a
    /// JWK).
    pub fn private_key_jwt(key: SigningKey) -> Self {
        Self::PrivateKeyJwt(key)
    }

    /// `client_secret_jwt`: HS256 assertions keyed by the secret given to
    /// [`OAuthClient::secret`].
    pub fn client_secret_jwt() -> Self {
        Self::SecretJwt
    }

    /// The `token_endpoint_auth_method` name (`"client_secret_basic"`, `"private_key_jwt"`...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SecretBasic => "client_secret_basic",
            Self::SecretPost => "client_secret_post",
            Self::Public => "none",
            Self::PrivateKeyJwt(_) => "private_key_jwt",
            Self::SecretJwt => "client_secret_jwt",
        }
    }

    fn needs_secret(&self) -> bool {
        matches!(self, Self::SecretBasic | Self::SecretPost | Self::SecretJwt)
    }
}

/// An OAuth 2.0 client registration: client id, optional secret, how to authenticate, and
/// the token endpoint. Cheap to clone.
///
/// Its `Debug` shows the token endpoint with userinfo and credential query parameters
/// ([`crate::redact::CREDENTIAL_QUERY`]) replaced by `[redacted]`, like every URL the crate
/// shows. Such URLs are accepted (some servers want a key in the query), not refused.
///
/// ```
/// use authed::oauth2::{ClientAuth, OAuthClient};
/// let client = OAuthClient::new("https://auth.example.com/oauth/token", "my-app")
///     .secret("s3cret")
///     .auth_method(ClientAuth::SecretPost);
/// ```
#[derive(Clone)]
pub struct OAuthClient {
    pub(crate) inner: Arc<Registration>,
}

#[derive(Clone)]
pub(crate) struct Registration {
    pub(crate) client_id: String,
    client_secret: Option<Secret>,
    method: ClientAuth,
    /// `aud` of client assertions, when not the token endpoint URL.
    assertion_audience: Option<String>,
    /// No client authentication at all, not even `client_id` (a JWT bearer grant whose
    /// assertion is the only credential, RFC 7523 §2.1).
    anonymous: bool,
    pub(crate) token_url: std::result::Result<Url, Error>,
    http: std::result::Result<Client, Error>,
    basic: Option<Basic>,
    // --- DPoP (RFC 9449) ---
    /// Signs a proof for every token request; the tokens are bound to it.
    dpop: Option<DpopKey>,
    /// The authorization server's latest `DPoP-Nonce`, shared by the clones.
    dpop_nonces: Arc<Nonces>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.inner;
        f.debug_struct("OAuthClient")
            .field("client_id", &r.client_id)
            .field("client_secret", &r.client_secret.as_ref().map(|_| REDACTED))
            .field("auth_method", &r.method)
            .field("assertion_audience", &r.assertion_audience)
            .field("dpop", &r.dpop)
            .field(
                "token_url",
                &r.token_url.as_ref().map(crate::redact::url_builtin).ok(),
            )
            .finish()
    }
}

impl OAuthClient {
    /// A public client (no secret, [`ClientAuth::Public`]) of the token endpoint at `token_url`.
    /// Problems with the URL are reported by the first request (or by
    /// [`crate::ClientBuilder::build`] when the client's auth uses it).
    pub fn new(token_url: impl AsRef<str>, client_id: impl Into<String>) -> Self {
        let token_url = parse_endpoint(token_url.as_ref(), "token endpoint");
        let http = token_url.clone().and_then(|url| default_http(&url, None));
        Self {
            inner: Arc::new(Registration {
                client_id: client_id.into(),
                client_secret: None,
                method: ClientAuth::Public,
                assertion_audience: None,
                anonymous: false,
                token_url,
                http,
                basic: None,
                dpop: None,
                dpop_nonces: Arc::default(),
            }),
        }
    }

    /// A confidential client: adds the secret and, when the client was public, switches to
    /// [`ClientAuth::SecretBasic`] (a method chosen before, such as
    /// [`ClientAuth::client_secret_jwt`], is kept).
    #[must_use]
    pub fn secret(self, secret: impl Into<Secret>) -> Self {
        let mut r = Arc::unwrap_or_clone(self.inner);
        r.client_secret = Some(secret.into());
        if matches!(r.method, ClientAuth::Public) {
            r.method = ClientAuth::SecretBasic;
        }
        r.rebuild_basic();
        Self { inner: Arc::new(r) }
    }

    /// Chooses how the client authenticates.
    #[must_use]
    pub fn auth_method(self, method: ClientAuth) -> Self {
        let mut r = Arc::unwrap_or_clone(self.inner);
        r.method = method;
        r.rebuild_basic();
        Self { inner: Arc::new(r) }
    }

    /// The `aud` of the client assertions of [`ClientAuth::private_key_jwt`] and
    /// [`ClientAuth::client_secret_jwt`]. The default is the token endpoint URL, which RFC 7523
    /// §3 and OpenID Connect Core §9 name and most servers accept; some want their issuer
    /// identifier instead (the `issuer` of their metadata).
    #[must_use]
    pub fn assertion_audience(self, audience: impl Into<String>) -> Self {
        let mut r = Arc::unwrap_or_clone(self.inner);
        r.assertion_audience = Some(audience.into());
        Self { inner: Arc::new(r) }
    }

    /// Binds the client's tokens to `key` with DPoP (RFC 9449): every token request carries a
    /// proof signed with it (a fresh one each time, with the server's nonce once it gave
    /// one), the server answers `token_type: DPoP`, and the [`crate::oauth2::TokenAuth`] of
    /// any grant presents such a token as `Authorization: DPoP <token>` with a proof of its
    /// own on every request. The key goes with the token set into the token store, so a
    /// DPoP-bound refresh token keeps working in the next run: a refresh always signs with
    /// the key of the token set it refreshes.
    ///
    /// The client's other requests to the authorization server carry a proof too: pushed
    /// authorization requests (RFC 9449 §10.1), revocation and introspection. Authorization
    /// requests of its [`AuthorizationCode`](crate::oauth2::AuthorizationCode) flows carry the
    /// key's thumbprint as `dpop_jkt` (§10), so that the code can be redeemed only with a
    /// proof of this key. A key kept in a secret store is read with [`DpopKey::from_pem`] or
    /// [`DpopKey::from_jwk`].
    ///
    /// ```no_run
    /// use authed::{Client, oauth2::{ClientCredentials, DpopKey, OAuthClient}};
    ///
    /// # async fn example() -> authed::Result<()> {
    /// let client = OAuthClient::new("https://auth.example.com/token", "reporting")
    ///     .secret(authed::Secret::from_env("CLIENT_SECRET")?)
    ///     .dpop(DpopKey::generate()?);
    /// let api = Client::builder("https://api.example.com/")
    ///     .auth(ClientCredentials::with_client(client).into_auth())
    ///     .build()?;
    /// // Authorization: DPoP <token>, DPoP: <a proof for GET https://api.example.com/reports>
    /// let reports = api.get("reports").send().await?;
    /// # let _ = reports;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn dpop(self, key: DpopKey) -> Self {
        let mut r = Arc::unwrap_or_clone(self.inner);
        r.dpop = Some(key);
        Self { inner: Arc::new(r) }
    }

    /// The DPoP key given to [`OAuthClient::dpop`], if any.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.inner.dpop.as_ref()
    }

    /// A client that does not authenticate at all, not even with `client_id`: for a grant
    /// whose assertion is the credential (the JWT bearer grant without client
    /// authentication, RFC 7523 §2.1).
    pub(crate) fn anonymous(token_url: impl AsRef<str>) -> Self {
        let mut r = Arc::unwrap_or_clone(Self::new(token_url, "").inner);
        r.anonymous = true;
        Self { inner: Arc::new(r) }
    }

    /// Uses `client` (its timeouts, retry policy, reqwest client, audit callback) for
    /// requests to the authorization server. Build it with the authorization server's origin
    /// as its base URL; credentials go only there. Without it, token requests use a client of
    /// their own: they emit `tracing` audit events, and call a hook given to
    /// [`OAuthClient::on_audit`].
    /// Its redirect policy is not used: requests to the authorization server never follow a
    /// redirect (each is sent with [`crate::redirect::Policy::none`]), since a 307 would replay
    /// the form, secrets and all. A 3xx answer is an [`Error::OAuth`].
    #[must_use]
    pub fn http_client(self, client: Client) -> Self {
        let mut r = Arc::unwrap_or_clone(self.inner);
        r.http = Ok(client);
        Self { inner: Arc::new(r) }
    }

    /// Calls `hook` with an [`crate::AuditEvent`] for every request to the authorization
    /// server (token, refresh, device, revocation), as [`crate::ClientBuilder::on_audit`] does
    /// for API requests: pass the same hook to both to see a whole session in one place. It
    /// replaces a client given to [`OAuthClient::http_client`] by the default one; with your
    /// own client, set `on_audit` on that client instead.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use authed::oauth2::{ClientCredentials, OAuthClient};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let client = OAuthClient::new("https://auth.example.com/oauth/token", "my-service")
    ///     .secret("s3cret")
    ///     .on_audit(move |event| log.lock().unwrap().push(event.url.clone()));
    /// let auth = ClientCredentials::with_client(client).into_auth();
    /// # let _ = auth;
    /// ```
    #[must_use]
    pub fn on_audit(self, hook: impl Fn(&crate::AuditEvent) + Send + Sync + 'static) -> Self {
        let mut r = Arc::unwrap_or_clone(self.inner);
        let hook: AuditFn = Arc::new(hook);
        r.http = r
            .token_url
            .clone()
            .and_then(|url| default_http(&url, Some(hook)));
        Self { inner: Arc::new(r) }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.inner.token_url.as_ref().map_err(Clone::clone)?;
        self.inner.http.as_ref().map_err(Clone::clone)?;
        if self.inner.method.needs_secret() && self.inner.client_secret.is_none() {
            return Err(Error::config(format!(
                "the OAuth client authenticates with {}, which needs a client secret, but none was given",
                self.inner.method.as_str()
            )));
        }
        Ok(())
    }

    /// Posts a grant to the token endpoint and parses the answer.
    ///
    /// # Errors
    ///
    /// [`Error::OAuth`] with the server's OAuth error or what was wrong with its answer; any
    /// error of the request itself.
    pub(crate) async fn token_request(&self, params: &[(&str, &str)]) -> Result<Token> {
        self.token_request_bound(params, None).await
    }

    /// [`OAuthClient::token_request`], with a DPoP proof signed by `key` (the key a refresh
    /// token is bound to) or else by the client's [`OAuthClient::dpop`] key, if any. A
    /// `use_dpop_nonce` answer that brings a new nonce is retried once with it (RFC 9449 §8).
    pub(crate) async fn token_request_bound(
        &self,
        params: &[(&str, &str)],
        key: Option<&DpopKey>,
    ) -> Result<Token> {
        let url = self.inner.token_url.as_ref().map_err(Clone::clone)?;
        let key = key.or(self.inner.dpop.as_ref());
        let answer = self.post_proved(url, params, key).await?;
        if !answer.status.is_success() {
            return Err(answer.error_from_body());
        }
        let token = Token::from_response(&answer.body).map_err(|e| match e {
            TokenResponseError::OAuth(error) => answer.failure(Some(error), None),
            TokenResponseError::Invalid(problem) => {
                answer.failure(None, Some(format!("not a token response: {problem}")))
            }
        })?;
        Ok(match key {
            Some(key) => token.with_dpop_key(key.clone()),
            None => token,
        })
    }

    /// [`OAuthClient::post`] with a DPoP proof of the client's [`OAuthClient::dpop`] key, when
    /// it has one: for the endpoints besides the token endpoint that take a proof (pushed
    /// authorization requests, RFC 9449 §10.1; revocation and introspection, where a server
    /// that does not ask for one ignores it).
    pub(crate) async fn post_dpop(&self, url: &Url, params: &[(&str, &str)]) -> Result<Answer> {
        self.post_proved(url, params, self.inner.dpop.as_ref())
            .await
    }

    /// Posts `params` to `url` with a fresh proof of `key` (if any) for each attempt: a
    /// `use_dpop_nonce` answer that brings a new nonce is retried once with it (RFC 9449 §8).
    async fn post_proved(
        &self,
        url: &Url,
        params: &[(&str, &str)],
        key: Option<&DpopKey>,
    ) -> Result<Answer> {
        let Some(key) = key else {
            return self.post_with(url, params, None).await;
        };
        let mut nonce_retry = true;
        loop {
            let nonce = self.inner.dpop_nonces.get(url);
            let proof = key.proof(&http::Method::POST, url, None, nonce.as_ref())?;
            let answer = self.post_with(url, params, Some(&proof)).await?;
            if nonce_retry
                && !answer.status.is_success()
                && answer.new_dpop_nonce
                && answer
                    .error_from_body()
                    .oauth_error()
                    .is_some_and(|e| e.code == dpop::USE_DPOP_NONCE)
            {
                nonce_retry = false;
                tracing::debug!(target: "authed::oauth2", "the authorization server wants a DPoP nonce; retrying once with it");
                continue;
            }
            return Ok(answer);
        }
    }

    /// Posts a form to an endpoint of the authorization server, authenticating the client.
    /// The answer's body is read up to [`MAX_OAUTH_BODY`] bytes, whatever its status. The
    /// answer knows every secret the request carried: the Basic credentials (the scheme
    /// registered them), the client secret as given, and the value of every form parameter
    /// not in [`PUBLIC_FORM_PARAMS`].
    pub(crate) async fn post(&self, url: &Url, params: &[(&str, &str)]) -> Result<Answer> {
        self.post_with(url, params, None).await
    }

    /// [`OAuthClient::post`] with a `DPoP` proof header. The server's `DPoP-Nonce`, if it sent
    /// one, is remembered for the next proof to this server.
    async fn post_with(
        &self,
        url: &Url,
        params: &[(&str, &str)],
        dpop_proof: Option<&Secret>,
    ) -> Result<Answer> {
        let r = &self.inner;
        let http = r.http.as_ref().map_err(Clone::clone)?;
        let secret;
        let client_assertion;
        let mut form: Vec<(&str, &str)> = params.to_vec();
        // Never a redirect, whatever the client's policy (a user's client may follow them): a
        // 307 would replay a form that carries the client secret, a code verifier or a
        // refresh token. A 3xx is the answer, and an error.
        let request = http
            .post(url.as_str())
            .redirect(crate::redirect::Policy::none())
            .any_status();
        let request = match (&r.method, &r.basic) {
            _ if r.anonymous => request.auth(NoAuth),
            (ClientAuth::SecretBasic, Some(basic)) => request.auth(basic.clone()),
            (ClientAuth::SecretBasic, None) => {
                return Err(Error::config("client_secret_basic needs a client secret"));
            }
            (ClientAuth::SecretPost, _) => {
                secret = r
                    .client_secret
                    .as_ref()
                    .ok_or_else(|| Error::config("client_secret_post needs a client secret"))?;
                form.push(("client_id", &r.client_id));
                form.push(("client_secret", secret.expose_secret()));
                request.auth(NoAuth)
            }
            (ClientAuth::Public, _) => {
                form.push(("client_id", &r.client_id));
                request.auth(NoAuth)
            }
            (ClientAuth::PrivateKeyJwt(key), _) => {
                client_assertion = r.client_assertion(Signer::Key(key))?;
                form.extend(r.assertion_fields(&client_assertion));
                request.auth(NoAuth)
            }
            (ClientAuth::SecretJwt, _) => {
                let secret = r
                    .client_secret
                    .as_ref()
                    .ok_or_else(|| Error::config("client_secret_jwt needs a client secret"))?;
                client_assertion = r.client_assertion(Signer::Secret(secret))?;
                form.extend(r.assertion_fields(&client_assertion));
                request.auth(NoAuth)
            }
        };
        // A pushed authorization request carries `client_id` as a request parameter already:
        // once is enough, whatever the client authentication added.
        dedup_client_id(&mut form);
        let mut request = request.header(http::header::ACCEPT, "application/json");
        if let Some(proof) = dpop_proof {
            // `dpop` is a credential header: marked sensitive, never sent across origins.
            request = request.header(dpop::DPOP, proof.expose_secret());
        }
        let response = request.form(&form).send().await?;
        let status = response.status();
        let info = response.info();
        let mut redactor = response.redactor().clone();
        let mut new_dpop_nonce = false;
        if let Some(proof) = dpop_proof {
            redactor.add_secret(proof);
            if let Some(nonce) = dpop::nonce_header(response.headers()) {
                redactor.add_value(nonce);
                new_dpop_nonce = r.dpop_nonces.set(url, nonce);
            }
        }
        if let Some(secret) = &r.client_secret {
            redactor.add_secret(secret);
        }
        for (name, value) in &form {
            if !PUBLIC_FORM_PARAMS.contains(name) {
                redactor.add_value(value);
            }
        }
        let body = response.bytes_limited(MAX_OAUTH_BODY).await?;
        Ok(Answer {
            status,
            body,
            request: info,
            redactor,
            new_dpop_nonce,
        })
    }
}

/// Drops every `client_id` parameter after the first that repeats its value (a differing one
/// is left for the server to refuse).
fn dedup_client_id(form: &mut Vec<(&str, &str)>) {
    let mut first = None;
    form.retain(|(name, value)| {
        if *name != "client_id" {
            return true;
        }
        match first {
            None => {
                first = Some(*value);
                true
            }
            Some(seen) => seen != *value,
        }
    });
}

/// A hook for [`OAuthClient::on_audit`].
type AuditFn = Arc<dyn Fn(&crate::AuditEvent) + Send + Sync>;

/// The client of requests to the authorization server, when the caller gives none.
fn default_http(token_url: &Url, audit: Option<AuditFn>) -> Result<Client> {
    // No redirects from the authorization server: a 307 would replay a form that carries the
    // client secret, a code verifier or a refresh token to wherever it points (the SSRF and
    // leak oauth2-rs warns about, enforced here).
    let mut builder = Client::builder(token_url.origin().ascii_serialization())
        .redirect(crate::redirect::Policy::none());
    if let Some(hook) = audit {
        builder = builder.on_audit(move |event| hook(event));
    }
    builder.build()
}

impl Registration {
    /// A fresh client assertion (new `jti`, `iat` now) for one request.
    fn client_assertion(&self, signer: Signer<'_>) -> Result<Secret> {
        let audience = match (&self.assertion_audience, &self.token_url) {
            (Some(audience), _) => audience.as_str(),
            (None, Ok(url)) => url.as_str(),
            (None, Err(e)) => return Err(e.clone()),
        };
        assertion::assertion(
            signer,
            &self.client_id,
            &self.client_id,
            audience,
            ASSERTION_LIFETIME,
            None,
        )
    }

    /// The form fields of JWT client authentication (RFC 7523 §2.2; `client_id` as RFC 7521
    /// §4.2 allows, for servers that look the client up before reading the assertion).
    fn assertion_fields<'a>(&'a self, assertion: &'a Secret) -> [(&'a str, &'a str); 3] {
        [
            ("client_id", self.client_id.as_str()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion.expose_secret()),
        ]
    }

    fn rebuild_basic(&mut self) {
        self.basic = match (&self.method, &self.client_secret) {
            (ClientAuth::SecretBasic, Some(secret)) => {
                // RFC 6749 §2.3.1: form-urlencode both before Base64.
                let id: String =
                    url::form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect();
                let secret: String =
                    url::form_urlencoded::byte_serialize(secret.expose_secret().as_bytes())
                        .collect();
                Some(Basic::new(id, secret))
            }
            _ => None,
        };
    }
}

/// Parses an OAuth endpoint URL: https, or http on loopback (credentials travel there).
/// Loopback is decided as for the client ([`crate::client::redirect::is_loopback`]): an IP
/// literal in 127.0.0.0/8, `::1` or exactly `localhost`; `http://idp.localhost/` is refused.
pub(crate) fn parse_endpoint(input: &str, what: &str) -> std::result::Result<Url, Error> {
    let url =
        Url::parse(input).map_err(|e| Error::config(format!("{what} URL does not parse: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if crate::client::redirect::is_loopback(&url) => Ok(url),
        "http" => Err(Error::config(format!(
            "{what} URL is plain http to a host that is not loopback: client secrets, codes and tokens would travel in the clear; use https"
        ))),
        other => Err(Error::config(format!(
            "{what} URL must be https, not {other}"
        ))),
    }
}

impl Answer {
    /// [`Error::OAuth`] for this answer, every text in it scrubbed of the secrets the
    /// request carried (a server that echoes the request in `error_description` does not get
    /// the client secret into our error).
    pub(crate) fn failure(
        &self,
        error: Option<crate::error::OAuthError>,
        problem: Option<String>,
    ) -> Error {
        let scrubber = self.redactor.scrubber();
        let scrub = |text: String| match scrubber.scrub(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(clean) => clean,
        };
        let error = error.map(|e| crate::error::OAuthError {
            code: scrub(e.code),
            description: e.description.map(scrub),
            uri: e.uri.map(scrub),
        });
        Error::OAuth(Box::new(OAuthFailure {
            request: self.request.clone(),
            status: self.status,
            error,
            problem: problem.map(scrub),
        }))
    }

    /// An error answer: an OAuth error body if it is one, else a description without its
    /// content.
    pub(crate) fn error_from_body(&self) -> Error {
        let error = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.as_object().and_then(oauth_error));
        let problem = error
            .is_none()
            .then(|| format!("the body ({} bytes) is not an OAuth error", self.body.len()));
        self.failure(error, problem)
    }
}

// --- Issue 12, ID tokens: the key set is fetched through the client's HTTP client. ---
impl OAuthClient {
    /// The HTTP client of requests to the authorization server.
    pub(crate) fn http(&self) -> Result<&Client> {
        self.inner.http.as_ref().map_err(Clone::clone)
    }
}
