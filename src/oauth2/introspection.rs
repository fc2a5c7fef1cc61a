//! Token introspection (RFC 7662): [`OAuthClient::introspect`] asks the authorization server
//! what it knows about a token, and gets an [`Introspection`] back.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use url::Url;

use crate::{
    Secret,
    error::Result,
    oauth2::{
        client::{OAuthClient, parse_endpoint},
        token::{TokenResponseError, oauth_error},
    },
};

/// What an introspection endpoint says about a token (RFC 7662 §2.2).
///
/// `active: false` is an answer, not an error: the token is expired, revoked, unknown, or
/// not the caller's to ask about, and the server need not say which (RFC 7662 §2.2 lets it
/// leave every other member out). The other members are optional; `exp`, `iat` and `nbf` are
/// NumericDates (seconds since the epoch), read leniently (an integer, a fraction or a numeric
/// string); `aud` is one string or an array of them, always a list here. Members this type
/// does not model (a server's own claims, `cnf`, `acr`, ...) are kept in
/// [`extra`](Introspection::extra).
///
/// Its `Debug` shows the modelled members and only the names of the extra ones (a server may
/// put anything there). The introspected token itself is never in it.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Introspection {
    /// Whether the token is active (issued by this server, not expired, not revoked).
    pub active: bool,
    /// The token's scopes, space-separated.
    pub scope: Option<String>,
    /// The client the token was issued to.
    pub client_id: Option<String>,
    /// A human-readable name of the resource owner.
    pub username: Option<String>,
    /// The token's type (`Bearer`, `DPoP`, ...).
    pub token_type: Option<String>,
    /// When the token expires, in seconds since the epoch.
    pub exp: Option<u64>,
    /// When the token was issued, in seconds since the epoch.
    pub iat: Option<u64>,
    /// When the token starts being usable, in seconds since the epoch.
    pub nbf: Option<u64>,
    /// The subject (usually a machine-readable user id).
    pub sub: Option<String>,
    /// The audiences the token is meant for (`aud`, one string or an array of them); empty
    /// when the server did not say.
    pub aud: Vec<String>,
    /// The issuer.
    pub iss: Option<String>,
    /// The token's identifier.
    pub jti: Option<String>,
    /// Every other member of the answer, as sent.
    pub extra: Map<String, Value>,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("active", &self.active)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("token_type", &self.token_type)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("nbf", &self.nbf)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("iss", &self.iss)
            .field("jti", &self.jti)
            .field("extra_fields", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Introspection {
    /// The scopes, one by one (empty when the server did not say).
    ///
    /// ```
    /// use authed::oauth2::Introspection;
    ///
    /// let answer = Introspection::from_response(br#"{"active":true,"scope":"read write"}"#)?;
    /// assert_eq!(answer.scopes().collect::<Vec<_>>(), ["read", "write"]);
    /// # Ok::<(), authed::oauth2::TokenResponseError>(())
    /// ```
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_ascii_whitespace()
    }

    /// `exp` as a time.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.exp.and_then(epoch)
    }

    /// `iat` as a time.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.iat.and_then(epoch)
    }

    /// `nbf` as a time.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.nbf.and_then(epoch)
    }

    /// Parses an introspection endpoint's JSON answer (RFC 7662 §2.2): `active` is required
    /// and must be a boolean (a server that says `"true"` is not guessed at); the other
    /// members are optional, and an `error` member is an error even on a 2xx.
    ///
    /// ```
    /// use authed::oauth2::Introspection;
    ///
    /// let answer = Introspection::from_response(
    ///     br#"{"active":true,"client_id":"l238j323ds-23ij4","aud":"https://api.example.com","exp":1419356238,"tenant":"acme"}"#,
    /// )?;
    /// assert!(answer.active);
    /// assert_eq!(answer.aud, ["https://api.example.com"]);
    /// assert_eq!(answer.exp, Some(1_419_356_238));
    /// assert_eq!(answer.extra["tenant"], "acme");
    ///
    /// assert!(!Introspection::from_response(br#"{"active":false}"#)?.active);
    /// assert!(Introspection::from_response(br#"{"scope":"read"}"#).is_err()); // no `active`
    /// # Ok::<(), authed::oauth2::TokenResponseError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TokenResponseError::OAuth`] for an error body; [`TokenResponseError::Invalid`] naming
    /// the member that is missing or of the wrong type, never quoting a value.
    pub fn from_response(body: &[u8]) -> std::result::Result<Self, TokenResponseError> {
        let invalid = |what: &str| TokenResponseError::Invalid(what.to_owned());
        let value: Value =
            serde_json::from_slice(body).map_err(|_| invalid("the body is not JSON"))?;
        let Value::Object(mut map) = value else {
            return Err(invalid("the body is not a JSON object"));
        };
        if let Some(error) = oauth_error(&map) {
            return Err(TokenResponseError::OAuth(error));
        }
        let active = match map.remove("active") {
            Some(Value::Bool(active)) => active,
            Some(_) => return Err(invalid("`active` is not a boolean")),
            None => return Err(invalid("`active` is missing")),
        };
        let mut text = |key: &str| match map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(TokenResponseError::Invalid(format!(
                "`{key}` is not a string"
            ))),
        };
        let scope = text("scope")?;
        let client_id = text("client_id")?;
        let username = text("username")?;
        let token_type = text("token_type")?;
        let sub = text("sub")?;
        let iss = text("iss")?;
        let jti = text("jti")?;
        let mut date = |key: &str| match map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => numeric_date(&value).map(Some).ok_or_else(|| {
                TokenResponseError::Invalid(format!("`{key}` is not a NumericDate"))
            }),
        };
        let exp = date("exp")?;
        let iat = date("iat")?;
        let nbf = date("nbf")?;
        let aud = match map.remove("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid("`aud` is not a string or an array of strings")),
                })
                .collect::<std::result::Result<_, _>>()?,
            Some(_) => return Err(invalid("`aud` is not a string or an array of strings")),
        };
        Ok(Self {
            active,
            scope,
            client_id,
            username,
            token_type,
            exp,
            iat,
            nbf,
            sub,
            aud,
            iss,
            jti,
            extra: map,
        })
    }
}

/// Seconds since the epoch from a JSON number or numeric string; fractions are cut, and
/// negative, non-finite or absurd values (past the year 3000) are refused.
fn numeric_date(value: &Value) -> Option<u64> {
    let secs = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // Not before 1970, not after the year 3000.
    (secs.is_finite() && (0.0..=32_503_680_000.0).contains(&secs)).then_some(secs as u64)
}

fn epoch(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

impl OAuthClient {
    /// Asks the introspection endpoint at `endpoint` (RFC 7662; discovery's
    /// [`introspection_endpoint`](crate::oauth2::ServerMetadata::introspection_endpoint))
    /// about `token`, with an optional `token_type_hint` (`"access_token"`,
    /// `"refresh_token"`). The client authenticates as it does at the token endpoint, and a
    /// client with a DPoP key ([`OAuthClient::dpop`]) sends a proof.
    ///
    /// The token is a secret: it is written only into the request body, and scrubbed from
    /// any text of the answer that reaches an error.
    ///
    /// ```no_run
    /// use authed::{Secret, oauth2::{OAuthClient, ServerMetadata}};
    ///
    /// async fn check(issuer: &str, token: &Secret) -> authed::Result<bool> {
    ///     let metadata = ServerMetadata::discover(issuer).await?;
    ///     let endpoint = metadata.introspection_endpoint.clone().unwrap_or_default();
    ///     let resource_server = metadata
    ///         .client("my-api")?
    ///         .secret(Secret::from_env("MY_API_CLIENT_SECRET")?);
    ///     let answer = resource_server.introspect(&endpoint, token, Some("access_token")).await?;
    ///     Ok(answer.active && answer.scopes().any(|s| s == "reports:read"))
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::OAuth`](crate::Error::OAuth) for an error answer (`invalid_client`, say) or a
    /// 2xx that is not an introspection response (the problem names the member);
    /// [`Error::BodyTooLarge`](crate::Error::BodyTooLarge) for an answer longer than
    /// [`MAX_OAUTH_BODY`](crate::oauth2::MAX_OAUTH_BODY); [`Error::Config`](crate::Error::Config)
    /// for an endpoint that is not https (or http on loopback); the request's errors.
    pub async fn introspect(
        &self,
        endpoint: &str,
        token: &Secret,
        token_type_hint: Option<&str>,
    ) -> Result<Introspection> {
        let url: Url = parse_endpoint(endpoint, "introspection endpoint")?;
        let mut form = vec![("token", token.expose_secret())];
        if let Some(hint) = token_type_hint {
            form.push(("token_type_hint", hint));
        }
        let answer = self.post_dpop(&url, &form).await?;
        if !answer.status.is_success() {
            return Err(answer.error_from_body());
        }
        Introspection::from_response(&answer.body).map_err(|e| match e {
            TokenResponseError::OAuth(error) => answer.failure(Some(error), None),
            TokenResponseError::Invalid(problem) => answer.failure(
                None,
                Some(format!("not an introspection response: {problem}")),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7662_example_response() {
        // RFC 7662 §2.2.
        let answer = Introspection::from_response(
            br#"{
              "active": true,
              "client_id": "l238j323ds-23ij4",
              "username": "jdoe",
              "scope": "read write dolphin",
              "sub": "Z5O3upPC88QrAjx00dis",
              "aud": "https://protected.example.net/resource",
              "iss": "https://server.example.com/",
              "exp": 1419356238,
              "iat": 1419350238,
              "extension_field": "twenty-seven"
            }"#,
        )
        .unwrap();
        assert!(answer.active);
        assert_eq!(answer.client_id.as_deref(), Some("l238j323ds-23ij4"));
        assert_eq!(answer.username.as_deref(), Some("jdoe"));
        assert_eq!(answer.scopes().count(), 3);
        assert_eq!(answer.sub.as_deref(), Some("Z5O3upPC88QrAjx00dis"));
        assert_eq!(answer.aud, ["https://protected.example.net/resource"]);
        assert_eq!(answer.iss.as_deref(), Some("https://server.example.com/"));
        assert_eq!(answer.exp, Some(1_419_356_238));
        assert_eq!(answer.iat, Some(1_419_350_238));
        assert_eq!(
            answer.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_419_356_238))
        );
        assert_eq!(answer.extra["extension_field"], "twenty-seven");
        assert!(!answer.extra.contains_key("active"));
    }

    #[test]
    fn lenient_where_servers_differ_strict_on_active() {
        let answer = Introspection::from_response(
            br#"{"active":true,"aud":["a","b"],"exp":"1419356238","nbf":1419350238.7,"jti":null}"#,
        )
        .unwrap();
        assert_eq!(answer.aud, ["a", "b"]);
        assert_eq!(answer.exp, Some(1_419_356_238));
        assert_eq!(answer.nbf, Some(1_419_350_238));
        assert_eq!(answer.jti, None);
        for (body, member) in [
            (&br#"{"scope":"x"}"#[..], "active"),
            (br#"{"active":"true"}"#, "active"),
            (br#"{"active":true,"exp":-1}"#, "exp"),
            (br#"{"active":true,"iat":"soon"}"#, "iat"),
            (br#"{"active":true,"aud":[1]}"#, "aud"),
            (br#"{"active":true,"sub":{"canary":1}}"#, "sub"),
            (br#"[true]"#, "object"),
            (b"<html>", "JSON"),
        ] {
            let Err(TokenResponseError::Invalid(msg)) = Introspection::from_response(body) else {
                panic!("{}", String::from_utf8_lossy(body))
            };
            assert!(msg.contains(member), "{msg}");
            assert!(!msg.contains("canary"), "{msg}");
        }
        let Err(TokenResponseError::OAuth(error)) =
            Introspection::from_response(br#"{"error":"invalid_client"}"#)
        else {
            panic!()
        };
        assert_eq!(error.code, "invalid_client");
    }

    #[test]
    fn debug_shows_only_the_names_of_extra_members() {
        let answer =
            Introspection::from_response(br#"{"active":true,"cnf":{"jkt":"canary"}}"#).unwrap();
        let debug = format!("{answer:?}");
        assert!(
            debug.contains("cnf") && !debug.contains("canary"),
            "{debug}"
        );
    }
}
