//! The device authorization grant (RFC 8628): for CLIs and devices without a browser. The
//! user opens `verification_uri` elsewhere and types `user_code`; the client polls.
//!
//! Polling follows §3.4–3.5: every `interval` seconds (5 when the server gives none);
//! `authorization_pending` keeps waiting; `slow_down` adds 5 seconds to the interval for good;
//! `access_denied` and `expired_token` end it with the server's error; the device code's
//! `expires_in` ends it too; a connection failure backs off exponentially (up to a minute).
//! Dropping the future cancels the login.

use std::{fmt, time::Duration};

use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::{
    Secret,
    error::{Error, Result},
    oauth2::{
        client::{OAuthClient, parse_endpoint},
        grants::Target,
        token::Token,
    },
    redact::REDACTED,
};

/// The polling interval when the server gives none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The longest wait between polls after connection failures.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(60);

/// The grant type of the polling requests.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device authorization flow for one client. Its `Debug` shows the endpoint redacted
/// (userinfo and credential query parameters).
///
/// # Example
///
/// ```no_run
/// use authed::oauth2::{DeviceAuthorization, OAuthClient, Token};
///
/// async fn login() -> authed::Result<Token> {
///     let client = OAuthClient::new("https://auth.example.com/oauth/token", "my-tv-app");
///     let device = DeviceAuthorization::new(client, "https://auth.example.com/oauth/device/code")
///         .scopes(["openid", "offline_access"]);
///     // Shows the code, then polls at the server's interval until the user has approved.
///     device
///         .login(|code| {
///             println!("Open {} and enter {}", code.verification_uri, code.user_code);
///         })
///         .await
/// }
/// ```
///
/// Seed a [`RefreshToken`](crate::oauth2::RefreshToken) cache with the token
/// ([`TokenAuth::set_token`](crate::oauth2::TokenAuth::set_token)) to keep the session.
#[derive(Clone)]
pub struct DeviceAuthorization {
    client: OAuthClient,
    endpoint: std::result::Result<Url, Error>,
    scopes: Vec<String>,
    target: Target,
    /// Issue 12, ID tokens: validates the ID token of the answer (no nonce in this flow).
    id_token_validator: Option<crate::oauth2::IdTokenValidator>,
}

/// What to show the user.
#[derive(Clone)]
pub struct DeviceCode {
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// A URI with the code already in it (for a QR code or a link), if the server gave one.
    pub verification_uri_complete: Option<String>,
    /// How long the codes are valid.
    pub expires_in: Duration,
    /// The polling interval the server asked for (or the default).
    pub interval: Duration,
    device_code: Secret,
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCode")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("verification_uri_complete", &self.verification_uri_complete)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .field("device_code", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("client", &self.client)
            .field(
                "endpoint",
                &self.endpoint.as_ref().map(crate::redact::url_builtin).ok(),
            )
            .field("scopes", &self.scopes)
            .field("target", &self.target)
            .field("id_token_validator", &self.id_token_validator)
            .finish()
    }
}

// --- Issue 12: ID token validation ---
impl DeviceAuthorization {
    /// Validates the ID token the login returns with `validator` and keeps its claims on the
    /// token ([`Token::id_token_claims`]); flows built by
    /// [`ServerMetadata::device`](crate::oauth2::ServerMetadata::device) have one when the
    /// server publishes its keys. The device flow sends no `nonce` (RFC 8628 has none), so
    /// none is checked; the rest is as for the authorization code flow.
    #[must_use]
    pub fn id_token_validator(mut self, validator: crate::oauth2::IdTokenValidator) -> Self {
        self.id_token_validator = Some(validator);
        self
    }

    async fn check_id_token(&self, token: Token) -> Result<Token> {
        let Some(validator) = &self.id_token_validator else {
            return Ok(token);
        };
        // The validator goes with the token set, for the ID tokens of its refreshes.
        let token = token.with_id_token_validator(validator.clone());
        match token.id_token() {
            Some(id_token) => {
                let claims = validator.validate(id_token.expose_secret(), None).await?;
                Ok(token.with_id_token_claims(claims))
            }
            None => Ok(token),
        }
    }
}
// --- end of the ID token block ---

impl DeviceAuthorization {
    /// A flow through the device authorization endpoint `endpoint` for `client`.
    pub fn new(client: OAuthClient, endpoint: impl AsRef<str>) -> Self {
        Self {
            client,
            endpoint: parse_endpoint(endpoint.as_ref(), "device authorization endpoint"),
            scopes: Vec::new(),
            target: Target::default(),
            id_token_validator: None,
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

    /// Asks for tokens usable at the resource `uri` (RFC 8707: `resource`, an absolute URI
    /// without a fragment), in the device authorization request and in every poll of the
    /// token endpoint. Repeatable.
    ///
    /// ```
    /// use authed::oauth2::{DeviceAuthorization, OAuthClient};
    ///
    /// let client = OAuthClient::new("https://auth.example.com/oauth/token", "my-tv-app");
    /// let device = DeviceAuthorization::new(client, "https://auth.example.com/oauth/device/code")
    ///     .scopes(["media:read"])
    ///     .resource("https://media.example.com/");
    /// # let _ = device;
    /// ```
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.target.resources.push(uri.into());
        self
    }

    /// Asks for tokens meant for `audience` (the `audience` parameter of several providers'
    /// device authorization requests, Auth0's among them). Sent in the device authorization
    /// request only. Repeatable.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.target.audiences.push(audience.into());
        self
    }

    /// Asks for a device code and a user code.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a resource indicator that is not an absolute URI;
    /// [`Error::OAuth`] for an error answer or one without the required fields;
    /// [`Error::BodyTooLarge`] for one longer than [`crate::oauth2::MAX_OAUTH_BODY`].
    pub async fn start(&self) -> Result<DeviceCode> {
        let url = self.endpoint.as_ref().map_err(Clone::clone)?;
        self.target.check()?;
        let scope = self.scopes.join(" ");
        let mut form = vec![];
        if !scope.is_empty() {
            form.push(("scope", scope.as_str()));
        }
        form.extend(self.target.form());
        let answer = self.client.post(url, &form).await?;
        if !answer.status.is_success() {
            return Err(answer.error_from_body());
        }
        let invalid = |what: &str| {
            answer.failure(
                None,
                Some(format!("not a device authorization response: {what}")),
            )
        };
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&answer.body) else {
            return Err(invalid("the body is not a JSON object"));
        };
        if let Some(error) = crate::oauth2::token::oauth_error(&map) {
            return Err(answer.failure(Some(error), None));
        }
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        let seconds = |key: &str| {
            map.get(key)
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        };
        Ok(DeviceCode {
            device_code: Secret::new(
                text("device_code").ok_or_else(|| invalid("`device_code` is missing"))?,
            ),
            user_code: text("user_code").ok_or_else(|| invalid("`user_code` is missing"))?,
            verification_uri: text("verification_uri")
                // Some servers use the OIDC draft's name.
                .or_else(|| text("verification_url"))
                .ok_or_else(|| invalid("`verification_uri` is missing"))?,
            verification_uri_complete: text("verification_uri_complete"),
            expires_in: seconds("expires_in").ok_or_else(|| invalid("`expires_in` is missing"))?,
            interval: seconds("interval").unwrap_or(DEFAULT_INTERVAL),
        })
    }

    /// The whole login: [`DeviceAuthorization::start`], `show` the codes to the user, then
    /// [`DeviceAuthorization::poll`].
    ///
    /// # Errors
    ///
    /// As those two.
    pub async fn login(&self, show: impl FnOnce(&DeviceCode)) -> Result<Token> {
        let code = self.start().await?;
        show(&code);
        self.poll(&code).await
    }

    /// Polls the token endpoint until the user approves, refuses, or the code expires.
    ///
    /// # Errors
    ///
    /// [`Error::OAuth`] with `access_denied` or `expired_token` (or any other error the
    /// server sends); [`Error::Authorization`] when `expires_in` passes first; transport
    /// errors are retried with backoff until then.
    pub async fn poll(&self, code: &DeviceCode) -> Result<Token> {
        let deadline = Instant::now() + code.expires_in;
        let mut interval = code.interval;
        let mut backoff = interval;
        loop {
            let wait = backoff.max(interval);
            if Instant::now() + wait > deadline {
                return Err(Error::authorization(
                    "the device code expired before the user approved the login".into(),
                    None,
                ));
            }
            tokio::time::sleep(wait).await;
            let mut form = vec![
                ("grant_type", DEVICE_GRANT),
                ("device_code", code.device_code.expose_secret()),
            ];
            form.extend(
                self.target
                    .resources
                    .iter()
                    .map(|r| ("resource", r.as_str())),
            );
            let result = self.client.token_request(&form).await;
            match result {
                Ok(token) => return self.check_id_token(token).await,
                Err(e) => match e.oauth_error().map(|o| o.code.as_str()) {
                    Some("authorization_pending") => backoff = interval,
                    Some("slow_down") => {
                        interval += SLOW_DOWN_STEP;
                        backoff = interval;
                        tracing::debug!(target: "authed::oauth2", interval_s = interval.as_secs(), "device flow: slow_down");
                    }
                    Some(_) => return Err(e),
                    None if matches!(e, Error::Transport(_)) => {
                        backoff = (backoff * 2).min(MAX_POLL_BACKOFF);
                        tracing::debug!(target: "authed::oauth2", error = %e, "device flow: poll failed; backing off");
                    }
                    None => return Err(e),
                },
            }
        }
    }
}
