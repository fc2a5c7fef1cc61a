//! [`Token`]: an OAuth 2.0 token set, and the lenient parsing of token responses.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::{
    Secret,
    error::OAuthError,
    oauth2::{
        dpop::DpopKey,
        id_token::{IdTokenClaims, IdTokenValidator},
    },
    redact::REDACTED,
};

/// An access token and what came with it.
///
/// Its `Debug` shows which parts are present, never their values.
///
/// ```
/// use std::time::Duration;
/// use authed::oauth2::Token;
///
/// let token = Token::bearer("eyJ...")
///     .with_refresh_token("r-123")
///     .with_expires_in(Duration::from_secs(3600));
/// assert!(token.refresh_token().is_some());
/// assert!(!format!("{token:?}").contains("r-123"));
/// ```
#[derive(Clone)]
pub struct Token {
    access_token: Secret,
    token_type: String,
    received_at: SystemTime,
    expires_at: Option<SystemTime>,
    refresh_token: Option<Secret>,
    id_token: Option<Secret>,
    scope: Option<String>,
    extra: Map<String, Value>,
    /// The DPoP key the token set is bound to (RFC 9449), kept with it.
    dpop_key: Option<DpopKey>,
    /// The claims of `id_token`, once validated (issue 12, ID tokens).
    id_token_claims: Option<Box<IdTokenClaims>>,
    /// The validator of the login that made this token set: a refresh that brings a new
    /// ID token validates it (OpenID Connect Core §12.2). Not stored.
    id_token_validator: Option<IdTokenValidator>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| REDACTED),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| REDACTED))
            .field("scope", &self.scope)
            .field("extra_fields", &self.extra.keys().collect::<Vec<_>>())
            .field("dpop_key", &self.dpop_key)
            .field("id_token_claims", &self.id_token_claims)
            .field("id_token_validator", &self.id_token_validator.is_some())
            .finish()
    }
}

impl Token {
    /// A bearer token received now, with no expiry unless one can be read from a JWT `exp`
    /// claim (see [`Token::expires_at`]).
    pub fn bearer(access_token: impl Into<Secret>) -> Self {
        let access_token = access_token.into();
        let received_at = SystemTime::now();
        let expires_at = jwt_expiry(access_token.expose_secret());
        Self {
            access_token,
            token_type: "Bearer".to_owned(),
            received_at,
            expires_at,
            refresh_token: None,
            id_token: None,
            scope: None,
            extra: Map::new(),
            dpop_key: None,
            id_token_claims: None,
            id_token_validator: None,
        }
    }

    /// With a refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: impl Into<Secret>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// Expiring `lifetime` after it was received.
    #[must_use]
    pub fn with_expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_at = self.received_at.checked_add(lifetime);
        self
    }

    /// Expiring at `at`.
    #[must_use]
    pub fn with_expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// With a scope string.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The access token.
    pub fn access_token(&self) -> &Secret {
        &self.access_token
    }

    /// The token type, normalised: `Bearer` for any spelling of it; `N_A` from a token
    /// exchange that issued something other than an access token (RFC 8693 §2.2.1, see
    /// [`Token::issued_token_type`]).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// When the token set was received.
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// When the access token expires: from `expires_in` when the server sent it (as a number
    /// or a numeric string), else from the `exp` claim when the access token is a JWT (decoded,
    /// not verified: the client only needs the time), else unknown.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The refresh token, if any.
    pub fn refresh_token(&self) -> Option<&Secret> {
        self.refresh_token.as_ref()
    }

    /// The OpenID Connect ID token, if any.
    pub fn id_token(&self) -> Option<&Secret> {
        self.id_token.as_ref()
    }

    /// The claims of the ID token, when it was validated: by
    /// [`PendingAuthorization::exchange`](crate::oauth2::PendingAuthorization::exchange) of a
    /// flow with an [`IdTokenValidator`](crate::oauth2::IdTokenValidator) (every flow built by
    /// discovery has one), and by the refreshes of such a token set that bring a new ID
    /// token (see [`RefreshToken::id_token_validator`](crate::oauth2::RefreshToken::id_token_validator));
    /// a refresh without one keeps the login's. `None` when there is no ID token or it was
    /// not validated (a token read back from a store).
    ///
    /// ```no_run
    /// # async fn f(pending: authed::oauth2::PendingAuthorization, callback: &str) -> authed::Result<()> {
    /// let token = pending.exchange(callback).await?; // the ID token was validated here
    /// if let Some(claims) = token.id_token_claims() {
    ///     println!("signed in as {} at {}", claims.sub, claims.iss);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn id_token_claims(&self) -> Option<&IdTokenClaims> {
        self.id_token_claims.as_deref()
    }

    pub(crate) fn with_id_token_claims(mut self, claims: IdTokenClaims) -> Self {
        self.id_token_claims = Some(Box::new(claims));
        self
    }

    /// Remembers the validator of the login, for the ID tokens of later refreshes.
    pub(crate) fn with_id_token_validator(mut self, validator: IdTokenValidator) -> Self {
        self.id_token_validator = Some(validator);
        self
    }

    pub(crate) fn id_token_validator(&self) -> Option<&IdTokenValidator> {
        self.id_token_validator.as_ref()
    }

    /// The granted scope, if the server said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Fields of the token response this type does not model, kept as they came. They are
    /// not redacted by `Debug` (which shows only their names), so treat their values with care.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// The DPoP key this token set is bound to (RFC 9449): the key of the
    /// [`OAuthClient::dpop`](crate::oauth2::OAuthClient::dpop) that fetched it, or the one
    /// read back from a store. A token with `token_type` `DPoP` is presented with a proof
    /// signed by it, and a DPoP-bound refresh token is refreshed with it.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop_key.as_ref()
    }

    /// Binds the token set to `key` (a token set read from a store of your own, say). The
    /// token type is left as it is: a `DPoP` token needs its key, a `Bearer` one ignores it
    /// except to refresh.
    #[must_use]
    pub fn with_dpop_key(mut self, key: DpopKey) -> Self {
        self.dpop_key = Some(key);
        self
    }

    /// Sets the token type (a token set read back from a store).
    pub(crate) fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// Whether the token is a DPoP token (`token_type` `DPoP`, in any case).
    pub(crate) fn is_dpop(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("dpop")
    }

    /// Keeps `previous`'s refresh token when this one came without one (a refresh response
    /// need not rotate it, RFC 6749 §6), its DPoP key when this one has none, and its ID token
    /// (with its claims) when this one brought none: the login's identity holds until a
    /// refresh brings a new ID token.
    pub(crate) fn inherit_refresh_token(mut self, previous: Option<&Token>) -> Self {
        if self.refresh_token.is_none() {
            self.refresh_token = previous.and_then(|p| p.refresh_token.clone());
        }
        if self.dpop_key.is_none() {
            self.dpop_key = previous.and_then(|p| p.dpop_key.clone());
        }
        if self.id_token.is_none()
            && let Some(previous) = previous
        {
            self.id_token = previous.id_token.clone();
            self.id_token_claims = previous.id_token_claims.clone();
        }
        self.inherit_id_token_validator(previous)
    }

    /// Keeps `previous`'s ID token validator when this token set has none (a token set read
    /// back from a store, which does not keep it).
    pub(crate) fn inherit_id_token_validator(mut self, previous: Option<&Token>) -> Self {
        if self.id_token_validator.is_none() {
            self.id_token_validator = previous.and_then(|p| p.id_token_validator.clone());
        }
        self
    }

    /// Parses a token endpoint's JSON answer leniently: `expires_in` as a number or a
    /// string, `token_type` in any case (missing means Bearer), unknown fields kept, and an
    /// `error` member treated as an error even on a 2xx.
    ///
    /// # Errors
    ///
    /// [`TokenResponseError::OAuth`] for an error body; [`TokenResponseError::Invalid`] saying
    /// which field is missing or wrong, never quoting a value.
    pub fn from_response(body: &[u8]) -> Result<Self, TokenResponseError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| TokenResponseError::Invalid("the body is not JSON".into()))?;
        let Value::Object(mut map) = value else {
            return Err(TokenResponseError::Invalid(
                "the body is not a JSON object".into(),
            ));
        };
        if let Some(error) = oauth_error(&map) {
            return Err(TokenResponseError::OAuth(error));
        }
        let access_token = match map.remove("access_token") {
            Some(Value::String(s)) if !s.is_empty() => Secret::new(s),
            Some(_) => {
                return Err(TokenResponseError::Invalid(
                    "`access_token` is not a non-empty string".into(),
                ));
            }
            None => {
                return Err(TokenResponseError::Invalid(
                    "`access_token` is missing".into(),
                ));
            }
        };
        let token_type = match map.remove("token_type") {
            None => "Bearer".to_owned(),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            // RFC 8693 §2.2.1: a token exchange that issued something other than an access
            // token (an ID token, a SAML assertion) says so; `issued_token_type` says what.
            Some(Value::String(t)) if t == "N_A" => "N_A".to_owned(),
            // RFC 9449 §5: a token bound to the DPoP key of the request's proof.
            Some(Value::String(t)) if t.eq_ignore_ascii_case("dpop") => "DPoP".to_owned(),
            Some(Value::String(t)) => {
                return Err(TokenResponseError::Invalid(format!(
                    "token_type {t:?} is not supported (only Bearer and DPoP)"
                )));
            }
            Some(_) => {
                return Err(TokenResponseError::Invalid(
                    "`token_type` is not a string".into(),
                ));
            }
        };
        let received_at = SystemTime::now();
        let expires_in = match map.remove("expires_in") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        }
        .filter(|secs| secs.is_finite() && *secs >= 0.0);
        let expires_at = match expires_in {
            // Capped at ten years: beyond that the number is nonsense, and overflow is not.
            Some(secs) => received_at.checked_add(Duration::from_secs_f64(secs.min(315_360_000.0))),
            None => jwt_expiry(access_token.expose_secret()),
        };
        let take_secret = |map: &mut Map<String, Value>, key: &str| match map.remove(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(Secret::new(s)),
            _ => None,
        };
        let refresh_token = take_secret(&mut map, "refresh_token");
        let id_token = take_secret(&mut map, "id_token");
        let scope = match map.remove("scope") {
            Some(Value::String(s)) => Some(s),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        };
        Ok(Self {
            access_token,
            token_type,
            received_at,
            expires_at,
            refresh_token,
            id_token,
            scope,
            extra: map,
            dpop_key: None,
            id_token_claims: None,
            id_token_validator: None,
        })
    }
}

impl Token {
    /// A token set from the parts a store keeps (see the `store` module's record format): a
    /// bearer token with no extra response fields.
    pub(crate) fn from_parts(
        access_token: Secret,
        received_at: SystemTime,
        expires_at: Option<SystemTime>,
        refresh_token: Option<Secret>,
        id_token: Option<Secret>,
        scope: Option<String>,
    ) -> Self {
        Self {
            access_token,
            token_type: "Bearer".to_owned(),
            received_at,
            expires_at,
            refresh_token,
            id_token,
            scope,
            extra: Map::new(),
            dpop_key: None,
            id_token_claims: None,
            id_token_validator: None,
        }
    }
}

/// Why a token response was not a token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenResponseError {
    /// The server sent an OAuth error.
    OAuth(OAuthError),
    /// The body was not a valid token response; the message names the field.
    Invalid(String),
}

/// Reads `error`, `error_description` and `error_uri` from a JSON error body.
pub(crate) fn oauth_error(map: &Map<String, Value>) -> Option<OAuthError> {
    let code = map.get("error")?.as_str()?.to_owned();
    Some(OAuthError {
        code,
        description: map
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        uri: map
            .get("error_uri")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// The `exp` claim of a JWT, decoded but not verified.
pub(crate) fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    if !exp.is_finite() || !(0.0..=32_503_680_000.0).contains(&exp) {
        return None; // not before 1970, not after the year 3000
    }
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"none"}"#), b64(claims))
    }

    #[test]
    fn lenient_parsing() {
        let t = Token::from_response(
            br#"{"access_token":"a-1","token_type":"bearer","expires_in":"3600","refresh_token":"r-1","scope":"read write","custom":1}"#,
        )
        .unwrap();
        assert_eq!(t.token_type(), "Bearer");
        let lifetime = t
            .expires_at()
            .unwrap()
            .duration_since(t.received_at())
            .unwrap();
        assert_eq!(lifetime, Duration::from_secs(3600));
        assert_eq!(t.scope(), Some("read write"));
        assert!(t.extra().contains_key("custom"));
        assert!(Token::from_response(br#"{"access_token":"a","expires_in":12.5}"#).is_ok());
    }

    #[test]
    fn error_bodies_on_2xx_are_errors() {
        let e = Token::from_response(br#"{"error":"invalid_grant","error_description":"expired"}"#)
            .unwrap_err();
        let TokenResponseError::OAuth(e) = e else {
            panic!()
        };
        assert_eq!(e.code, "invalid_grant");
        assert_eq!(e.description.as_deref(), Some("expired"));
    }

    #[test]
    fn invalid_responses_name_the_field_not_the_value() {
        for (body, field) in [
            (&br#"{"token_type":"bearer"}"#[..], "access_token"),
            (br#"{"access_token":5}"#, "access_token"),
            (
                br#"{"access_token":"canary-a","token_type":"mac"}"#,
                "token_type",
            ),
            (br#"[1,2]"#, "object"),
            (br#"<html>"#, "JSON"),
        ] {
            let TokenResponseError::Invalid(msg) = Token::from_response(body).unwrap_err() else {
                panic!()
            };
            assert!(msg.contains(field), "{msg}");
            assert!(!msg.contains("canary"), "{msg}");
        }
    }

    #[test]
    fn jwt_exp_is_used_when_expires_in_is_absent() {
        let token = jwt(r#"{"sub":"x","exp":4102444800}"#); // 2100-01-01
        let t =
            Token::from_response(format!(r#"{{"access_token":"{token}"}}"#).as_bytes()).unwrap();
        assert_eq!(
            t.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(4_102_444_800))
        );
        assert_eq!(jwt_expiry("not.a.jwt"), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":"soon"}"#)), None);
        assert_eq!(jwt_expiry("a.b"), None);
    }

    #[test]
    fn debug_hides_values() {
        let t = Token::bearer("canary-access").with_refresh_token("canary-refresh");
        let d = format!("{t:?}");
        assert!(!d.contains("canary"), "{d}");
    }
}
