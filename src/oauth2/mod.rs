//! OAuth 2.0: tokens that look after themselves.
//!
//! | piece | what it does |
//! | --- | --- |
//! | [`OAuthClient`] | the client's registration: id, secret, [`ClientAuth`], token endpoint |
//! | [`ClientAuth::private_key_jwt`], [`ClientAuth::client_secret_jwt`], [`SigningKey`] | client authentication with a key instead of a shared secret (RFC 7523 §2.2) |
//! | [`ClientCredentials`], [`JwtBearer`] (service accounts), [`RefreshToken`], [`Password`] (legacy), [`Custom`] | where tokens come from ([`TokenSource`]) |
//! | [`TokenExchange`] | token exchange (RFC 8693): a subject (and actor) token for a token meant elsewhere |
//! | `.resource(..)`, `.audience(..)` on every grant | resource indicators (RFC 8707) and audiences |
//! | [`AuthorizationCode`] (PKCE S256, loopback listener, PAR), [`DeviceAuthorization`] | interactive logins that hand back a [`Token`] to seed a [`TokenAuth`]; [`AuthorizationCode::begin_pushed`] pushes the request first (RFC 9126) |
//! | [`ServerMetadata`] | discovery (RFC 8414, OpenID Connect), and the flows built from it |
//! | [`OAuthClient::revoke`], [`TokenAuth::logout`] | revocation (RFC 7009) |
//! | [`OAuthClient::introspect`] → [`Introspection`] | introspection (RFC 7662) |
//! | [`OAuthClient::dpop`] with a [`DpopKey`] | DPoP (RFC 9449): tokens bound to the client's key, a fresh proof on every token and resource request, server nonces |
//! | [`IdTokenValidator`] → [`IdTokenClaims`] | OpenID Connect ID tokens: signature against the JWKS, `iss`, `aud`/`azp`, `exp`/`iat`, `nonce` (the flows built by discovery validate them) |
//! | [`TokenAuth`] | the cache: refresh ahead of expiry, single flight, refresh and replay after a 401, [`TokenStore`] |
//! | [`Token`] | the token set, parsed leniently from real providers' answers |
//!
//! Every request to the authorization server goes through the same send loop as any other
//! request: retries on 429/503, redaction, tracing.
//!
//! # Example
//!
//! A machine-to-machine client: the client credentials grant, with the token cached and
//! refreshed ahead of expiry by the [`TokenAuth`] that `into_auth()` returns.
//!
//! ```no_run
//! use authed::{
//!     Client, Secret,
//!     oauth2::{ClientAuth, ClientCredentials, OAuthClient},
//! };
//!
//! async fn example() -> authed::Result<()> {
//!     let registration = OAuthClient::new("https://auth.example.com/oauth/token", "reporting")
//!         .secret(Secret::from_env("REPORTING_CLIENT_SECRET")?)
//!         .auth_method(ClientAuth::SecretPost); // the default is client_secret_basic
//!     let auth = ClientCredentials::with_client(registration)
//!         .scopes(["reports:read"])
//!         .audience("https://api.example.com/")
//!         .into_auth();
//!
//!     let api = Client::builder("https://api.example.com/").auth(auth.clone()).build()?;
//!     let reports: serde_json::Value = api.get("reports").send().await?.json().await?;
//!     println!("{reports}");
//!
//!     // The cache is shared: this is the token the request above used, not a new one.
//!     let token = auth.token().await?;
//!     println!("token expires at {:?}", token.expires_at());
//!     Ok(())
//! }
//! ```
//!
//! Interactive logins are on [`AuthorizationCode`] and [`DeviceAuthorization`]; keeping the
//! session between runs is in the crate docs ([Persisting a login](crate#persisting-a-login)).

mod assertion;
mod authorization_code;
mod client;
mod device;
mod discovery;
mod dpop;
mod grants;
mod id_token;
mod introspection;
mod revocation;
mod signing_key;
mod token;
mod token_auth;
mod token_exchange;

pub use assertion::ASSERTION_LIFETIME;
pub use authorization_code::{
    AuthorizationCode, DEFAULT_LOGIN_TIMEOUT, LoopbackPages, PendingAuthorization, pkce_challenge,
};
pub use client::{ClientAuth, MAX_OAUTH_BODY, OAuthClient};
pub use device::{DEFAULT_INTERVAL, DeviceAuthorization, DeviceCode, SLOW_DOWN_STEP};
pub use discovery::ServerMetadata;
pub use dpop::DpopKey;
pub use grants::{ClientCredentials, Custom, JwtBearer, Password, RefreshToken};
pub use id_token::{
    DEFAULT_ID_TOKEN_ALGORITHMS, ID_TOKEN_LEEWAY, IdTokenClaims, IdTokenValidator,
    JWKS_REFETCH_FLOOR,
};
pub use introspection::Introspection;
pub use signing_key::{JwsAlgorithm, SigningKey};
pub use token::{Token, TokenResponseError};
pub use token_auth::{
    DEFAULT_REFRESH_SKEW, MemoryTokenStore, RETRY_EARLY_REFRESH_AFTER, TokenAuth, TokenSource,
    TokenStore, TokenStoreLock,
};
pub use token_exchange::{TokenExchange, token_type};
