//! The token exchange grant (RFC 8693): a token the client holds (the subject, and
//! optionally an actor) exchanged for one meant for another resource or audience.

use std::{borrow::Cow, fmt};

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::{
    Secret,
    error::Result,
    oauth2::{
        client::OAuthClient,
        grants::Target,
        token::Token,
        token_auth::{TokenAuth, TokenSource},
    },
    redact::REDACTED,
};

/// The grant type of a token exchange.
const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Token type identifiers (RFC 8693 §3), for `subject_token_type`, `actor_token_type`,
/// `requested_token_type` and the answer's `issued_token_type`.
pub mod token_type {
    /// An OAuth 2.0 access token.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// An OAuth 2.0 refresh token.
    pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
    /// An OpenID Connect ID token.
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// A JWT (RFC 7519).
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
    /// A base64url-encoded SAML 1.1 assertion.
    pub const SAML1: &str = "urn:ietf:params:oauth:token-type:saml1";
    /// A base64url-encoded SAML 2.0 assertion.
    pub const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
}

/// Where the subject token comes from.
#[derive(Clone)]
enum Subject {
    /// A token given once.
    Fixed(Secret),
    /// The current access token of another token cache (renewed by it as needed).
    Auth(TokenAuth),
}

/// The token exchange grant (RFC 8693 §2): sends a subject token (what the client acts for:
/// a user's access token, an ID token, a SAML assertion) and, for delegation, an actor token
/// (who acts), and gets back a token for the `resource`s and `audience`s asked for. A
/// [`TokenSource`]: [`into_auth`](TokenExchange::into_auth) caches the issued token and
/// exchanges again when it nears expiry (the subject token must still be valid then: take it
/// from another cache with [`TokenExchange::from_auth`] to have it renewed too).
///
/// The answer's `issued_token_type` is [`Token::issued_token_type`]; a token that is not an
/// access token comes with `token_type` `N_A` ([`Token::token_type`]).
///
/// Its `Debug` shows the token types and targets, never the subject or actor token.
///
/// # Example
///
/// A service that received a user's access token exchanges it for one valid at a backend
/// (RFC 8693 §2.3):
///
/// ```no_run
/// use authed::{
///     Client, Secret,
///     oauth2::{OAuthClient, TokenExchange, token_type},
/// };
///
/// async fn call_backend(user_token: Secret) -> authed::Result<serde_json::Value> {
///     let client = OAuthClient::new("https://as.example.com/as/token.oauth2", "rs08")
///         .secret(Secret::from_env("RS08_CLIENT_SECRET")?);
///     let auth = TokenExchange::new(client, user_token, token_type::ACCESS_TOKEN)
///         .resource("https://backend.example.com/api")
///         .into_auth();
///     let backend = Client::builder("https://backend.example.com/api/").auth(auth).build()?;
///     backend.get("orders").send().await?.json().await
/// }
/// ```
#[derive(Clone)]
pub struct TokenExchange {
    client: OAuthClient,
    subject: Subject,
    subject_token_type: String,
    actor: Option<(Secret, String)>,
    requested_token_type: Option<String>,
    scopes: Vec<String>,
    target: Target,
    params: Vec<(String, String)>,
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match &self.subject {
            Subject::Fixed(_) => REDACTED,
            Subject::Auth(_) => "[from a TokenAuth]",
        };
        f.debug_struct("TokenExchange")
            .field("client", &self.client)
            .field("subject_token", &subject)
            .field("subject_token_type", &self.subject_token_type)
            .field(
                "actor_token",
                &self.actor.as_ref().map(|(_, kind)| (REDACTED, kind)),
            )
            .field("requested_token_type", &self.requested_token_type)
            .field("scopes", &self.scopes)
            .field("target", &self.target)
            .field(
                "params",
                &self.params.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TokenExchange {
    /// Exchanges `subject_token`, of type `subject_token_type` (one of [`token_type`], or
    /// another URI the server knows), through `client`.
    pub fn new(
        client: OAuthClient,
        subject_token: impl Into<Secret>,
        subject_token_type: impl Into<String>,
    ) -> Self {
        Self::with_subject(
            client,
            Subject::Fixed(subject_token.into()),
            subject_token_type.into(),
        )
    }

    /// Exchanges the current access token of `subject` (of type
    /// [`token_type::ACCESS_TOKEN`]), asked of it at every exchange, so that it is renewed
    /// when it nears expiry: a session (a user's login, a service's client credentials)
    /// turned into tokens for another resource.
    ///
    /// ```
    /// use authed::oauth2::{ClientCredentials, OAuthClient, TokenExchange};
    ///
    /// let own = ClientCredentials::new("https://as.example.com/token", "gateway", "s3cret").into_auth();
    /// let exchanged = TokenExchange::from_auth(
    ///     OAuthClient::new("https://as.example.com/token", "gateway").secret("s3cret"),
    ///     own,
    /// )
    /// .audience("billing")
    /// .into_auth();
    /// # let _ = exchanged;
    /// ```
    pub fn from_auth(client: OAuthClient, subject: TokenAuth) -> Self {
        Self::with_subject(
            client,
            Subject::Auth(subject),
            token_type::ACCESS_TOKEN.to_owned(),
        )
    }

    fn with_subject(client: OAuthClient, subject: Subject, subject_token_type: String) -> Self {
        Self {
            client,
            subject,
            subject_token_type,
            actor: None,
            requested_token_type: None,
            scopes: Vec::new(),
            target: Target::default(),
            params: Vec::new(),
        }
    }

    /// The actor token (delegation, RFC 8693 §1.1): who acts on the subject's behalf, and
    /// its type.
    #[must_use]
    pub fn actor(
        mut self,
        actor_token: impl Into<Secret>,
        actor_token_type: impl Into<String>,
    ) -> Self {
        self.actor = Some((actor_token.into(), actor_token_type.into()));
        self
    }

    /// The type of token wanted (`requested_token_type`; one of [`token_type`]). Without
    /// it, the server chooses (usually an access token).
    #[must_use]
    pub fn requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.requested_token_type = Some(token_type.into());
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

    /// Where the token is to be used (`resource`: an absolute URI without a fragment, RFC
    /// 8693 §2.1 and RFC 8707). Repeatable.
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.target.resources.push(uri.into());
        self
    }

    /// The logical name of the service the token is for (`audience`, RFC 8693 §2.1): a
    /// client id, or a name the server knows. Repeatable.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.target.audiences.push(audience.into());
        self
    }

    /// An extra form parameter, sent as given. Its value is treated as a secret in errors.
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The token cache that sends the exchanged tokens.
    pub fn into_auth(self) -> TokenAuth {
        TokenAuth::new(self)
    }

    /// One exchange, without a cache.
    ///
    /// # Errors
    ///
    /// [`Error::OAuth`](crate::Error::OAuth) with the server's error (`invalid_target` for a
    /// resource or audience it will not issue for, `invalid_grant` for a subject token it
    /// refuses, ...) or what was wrong with its answer; the subject cache's errors
    /// ([`TokenExchange::from_auth`]); [`Error::Config`](crate::Error::Config) for a
    /// resource that is not an absolute URI; the request's errors.
    pub async fn exchange(&self) -> Result<Token> {
        self.target.check()?;
        let subject_token = match &self.subject {
            Subject::Fixed(token) => token.clone(),
            Subject::Auth(auth) => auth.token().await?.access_token().clone(),
        };
        let scope = self.scopes.join(" ");
        // The order of RFC 8693 §2.3's example: grant_type, resource, subject.
        let mut form: Vec<(&str, &str)> = vec![("grant_type", TOKEN_EXCHANGE_GRANT)];
        form.extend(self.target.form());
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if let Some(kind) = &self.requested_token_type {
            form.push(("requested_token_type", kind));
        }
        form.push(("subject_token", subject_token.expose_secret()));
        form.push(("subject_token_type", &self.subject_token_type));
        if let Some((token, kind)) = &self.actor {
            form.push(("actor_token", token.expose_secret()));
            form.push(("actor_token_type", kind));
        }
        form.extend(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.client.token_request(&form).await
    }
}

#[async_trait]
impl TokenSource for TokenExchange {
    async fn fetch(&self, _current: Option<&Token>) -> Result<Token> {
        self.exchange().await
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Owned(format!(
            "oauth2 token exchange ({})",
            self.client.client_id()
        ))
    }

    fn validate(&self) -> Result<()> {
        self.target.check()?;
        self.client.validate()
    }
}

impl Token {
    /// The `issued_token_type` of a token exchange's answer (RFC 8693 §2.2.1): what the
    /// access token field holds, one of [`token_type`] or another URI.
    pub fn issued_token_type(&self) -> Option<&str> {
        self.extra()
            .get("issued_token_type")
            .and_then(serde_json::Value::as_str)
    }
}
