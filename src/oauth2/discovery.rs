//! Authorization server metadata (RFC 8414, and OpenID Connect Discovery 1.0).

use std::fmt;

use serde::Deserialize;

use crate::{
    Client,
    error::{Error, Result},
    oauth2::{
        authorization_code::AuthorizationCode,
        client::{MAX_OAUTH_BODY, OAuthClient, parse_endpoint},
        device::DeviceAuthorization,
        id_token::{DEFAULT_ID_TOKEN_ALGORITHMS, IdTokenValidator},
    },
    redact,
};

/// What an authorization server says about itself. Unknown fields are ignored.
///
/// Its `Debug` shows every URL with userinfo and credential query parameters
/// ([`crate::redact::CREDENTIAL_QUERY`]) redacted, like every URL the crate shows: a
/// metadata document is the server's word, and an endpoint carrying a key would otherwise
/// reach logs through it. (The fields themselves hold the URLs as sent.)
///
/// # Example
///
/// ```no_run
/// use authed::oauth2::{RefreshToken, ServerMetadata, TokenAuth};
///
/// async fn login(issuer: &str) -> authed::Result<TokenAuth> {
///     // The RFC 8414 or OpenID Connect document; its `issuer` must equal ours exactly.
///     let metadata = ServerMetadata::discover(issuer).await?;
///     let client = metadata.client("my-cli")?; // the token endpoint, a public client
///
///     let device = metadata.device(client.clone())?.scopes(["openid", "offline_access"]);
///     let token = device
///         .login(|code| println!("Open {} and enter {}", code.verification_uri, code.user_code))
///         .await?;
///
///     let auth = RefreshToken::new(client).into_auth();
///     auth.set_token(token).await?;
///     Ok(auth)
/// }
/// ```
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerMetadata {
    /// The issuer identifier; checked to equal the one asked for, exactly.
    pub issuer: String,
    /// The authorization endpoint (authorization code flow).
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: Option<String>,
    /// The device authorization endpoint (RFC 8628).
    pub device_authorization_endpoint: Option<String>,
    /// The revocation endpoint (RFC 7009).
    pub revocation_endpoint: Option<String>,
    /// The introspection endpoint (RFC 7662).
    pub introspection_endpoint: Option<String>,
    /// The OpenID Connect userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// The JSON Web Key Set of the server's signing keys.
    pub jwks_uri: Option<String>,
    /// PKCE methods supported.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// Grant types supported.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// Scopes supported.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Whether authorization responses carry `iss` (RFC 9207).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// The pushed authorization request endpoint (RFC 9126).
    pub pushed_authorization_request_endpoint: Option<String>,
    /// Whether the server accepts authorization requests only when pushed (RFC 9126 §5).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// The algorithms the server signs ID tokens with (OpenID Connect Discovery); the
    /// validators built from this metadata accept only these, among
    /// [`DEFAULT_ID_TOKEN_ALGORITHMS`](crate::oauth2::DEFAULT_ID_TOKEN_ALGORITHMS).
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

impl fmt::Debug for ServerMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<String>| u.as_deref().map(redact::url_text_builtin);
        f.debug_struct("ServerMetadata")
            .field("issuer", &redact::url_text_builtin(&self.issuer))
            .field("authorization_endpoint", &url(&self.authorization_endpoint))
            .field("token_endpoint", &url(&self.token_endpoint))
            .field(
                "device_authorization_endpoint",
                &url(&self.device_authorization_endpoint),
            )
            .field("revocation_endpoint", &url(&self.revocation_endpoint))
            .field("introspection_endpoint", &url(&self.introspection_endpoint))
            .field("userinfo_endpoint", &url(&self.userinfo_endpoint))
            .field("jwks_uri", &url(&self.jwks_uri))
            .field(
                "code_challenge_methods_supported",
                &self.code_challenge_methods_supported,
            )
            .field("grant_types_supported", &self.grant_types_supported)
            .field("scopes_supported", &self.scopes_supported)
            .field(
                "authorization_response_iss_parameter_supported",
                &self.authorization_response_iss_parameter_supported,
            )
            .field(
                "pushed_authorization_request_endpoint",
                &url(&self.pushed_authorization_request_endpoint),
            )
            .field(
                "require_pushed_authorization_requests",
                &self.require_pushed_authorization_requests,
            )
            .field(
                "id_token_signing_alg_values_supported",
                &self.id_token_signing_alg_values_supported,
            )
            .finish()
    }
}

impl ServerMetadata {
    /// Fetches the metadata of `issuer`: first the RFC 8414 well-known URI
    /// (`/.well-known/oauth-authorization-server`, inserted before any issuer path), then the
    /// OpenID Connect one (`/.well-known/openid-configuration`, appended). The document's
    /// `issuer` must equal `issuer` exactly (RFC 8414 §3.3), or it is refused.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an issuer that is not an https URL (or http on loopback); the
    /// request's errors; [`Error::Authorization`] when the document's issuer differs;
    /// [`Error::BodyTooLarge`] for a document longer than [`MAX_OAUTH_BODY`].
    pub async fn discover(issuer: &str) -> Result<Self> {
        let url = parse_endpoint(issuer, "issuer")?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::config(
                "an issuer has no query or fragment (RFC 8414 §2)",
            ));
        }
        let http = Client::builder(url.origin().ascii_serialization()).build()?;
        let path = url.path().trim_end_matches('/');
        let origin = url.origin().ascii_serialization();
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ];
        let mut last = None;
        for candidate in candidates {
            match http.get(&candidate).send().await {
                Ok(response) => {
                    let metadata: Self = response.json_limited(MAX_OAUTH_BODY).await?;
                    if metadata.issuer != issuer {
                        return Err(Error::authorization(
                            format!(
                                "the metadata at {candidate} names issuer {:?}, not {issuer:?}: refusing it (RFC 8414 §3.3)",
                                metadata.issuer
                            ),
                            None,
                        ));
                    }
                    return Ok(metadata);
                }
                Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::config("no metadata found")))
    }

    fn endpoint(&self, value: &Option<String>, what: &str) -> Result<String> {
        value
            .clone()
            .ok_or_else(|| Error::config(format!("the authorization server advertises no {what}")))
    }

    /// An [`OAuthClient`] for this server's token endpoint.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the server has no token endpoint.
    pub fn client(&self, client_id: impl Into<String>) -> Result<OAuthClient> {
        Ok(OAuthClient::new(
            self.endpoint(&self.token_endpoint, "token endpoint")?,
            client_id,
        ))
    }

    /// An authorization code flow for `client` at this server, expecting `iss` in redirects
    /// when the server says it sends it, knowing its pushed authorization request endpoint
    /// when it has one, and pushing every request
    /// ([`AuthorizationCode::use_par`]) when the server requires it
    /// (`require_pushed_authorization_requests`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the server has no authorization endpoint, or requires pushed
    /// requests and advertises no endpoint for them.
    ///
    /// When the server publishes its keys (`jwks_uri`), the flow validates ID tokens
    /// ([`AuthorizationCode::id_token_validator`]).
    pub fn authorization_code(&self, client: OAuthClient) -> Result<AuthorizationCode> {
        let mut flow = AuthorizationCode::new(
            client.clone(),
            self.endpoint(&self.authorization_endpoint, "authorization endpoint")?,
        );
        if self.authorization_response_iss_parameter_supported {
            flow = flow.expect_issuer(self.issuer.clone());
        }
        if let Some(par) = &self.pushed_authorization_request_endpoint {
            flow = flow.pushed_authorization_endpoint(par);
        }
        // Issue 12, ID tokens: validated against the server's keys when it publishes them.
        if self.jwks_uri.is_some() {
            flow = flow.id_token_validator(self.id_token_validator_for(&client)?);
        }
        if self.require_pushed_authorization_requests {
            self.endpoint(
                &self.pushed_authorization_request_endpoint,
                "pushed authorization request endpoint, although it requires pushed requests,",
            )?;
            flow = flow.use_par(true);
        }
        Ok(flow)
    }

    // --- Issue 12: ID token validation ---

    /// An [`IdTokenValidator`] for ID tokens this server issues to `client_id`: `iss` must
    /// be this server's issuer, signatures are checked against its `jwks_uri`, with the
    /// algorithms of [`DEFAULT_ID_TOKEN_ALGORITHMS`] that the server says it signs with
    /// (`id_token_signing_alg_values_supported`; all of them when it does not say). `none`
    /// and HS256 are never taken from the metadata (see [`IdTokenValidator::allow_hs256`]).
    ///
    /// ```
    /// use authed::oauth2::{JwsAlgorithm, ServerMetadata};
    ///
    /// let metadata: ServerMetadata = serde_json::from_value(serde_json::json!({
    ///     "issuer": "https://auth.example.com",
    ///     "jwks_uri": "https://auth.example.com/jwks",
    ///     "id_token_signing_alg_values_supported": ["ES256", "HS256", "none"],
    /// }))?;
    /// let validator = metadata.id_token_validator("my-app")?;
    /// assert_eq!(validator.allowed_algorithms(), [JwsAlgorithm::ES256]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the server publishes no `jwks_uri`.
    pub fn id_token_validator(&self, client_id: impl Into<String>) -> Result<IdTokenValidator> {
        let jwks = self.endpoint(&self.jwks_uri, "JWKS (jwks_uri)")?;
        let validator = IdTokenValidator::new(self.issuer.clone(), client_id, jwks);
        if self.id_token_signing_alg_values_supported.is_empty() {
            return Ok(validator);
        }
        let supported = &self.id_token_signing_alg_values_supported;
        Ok(validator.algorithms(
            DEFAULT_ID_TOKEN_ALGORITHMS
                .into_iter()
                .filter(|alg| supported.iter().any(|s| s == alg.as_str())),
        ))
    }

    /// The validator of `client`'s flows: fetches the keys through the client's HTTP client.
    fn id_token_validator_for(&self, client: &OAuthClient) -> Result<IdTokenValidator> {
        let validator = self.id_token_validator(client.client_id())?;
        Ok(match client.http() {
            Ok(http) => validator.http_client(http.clone()),
            Err(_) => validator,
        })
    }

    // --- end of the ID token block ---

    /// A device authorization flow for `client` at this server, validating ID tokens
    /// ([`DeviceAuthorization::id_token_validator`]) when the server publishes its keys.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the server has no device authorization endpoint.
    pub fn device(&self, client: OAuthClient) -> Result<DeviceAuthorization> {
        let mut flow = DeviceAuthorization::new(
            client.clone(),
            self.endpoint(
                &self.device_authorization_endpoint,
                "device authorization endpoint",
            )?,
        );
        // Issue 12, ID tokens: validated against the server's keys when it publishes them.
        if self.jwks_uri.is_some() {
            flow = flow.id_token_validator(self.id_token_validator_for(&client)?);
        }
        Ok(flow)
    }
}
