//! JWT assertions (RFC 7521, RFC 7523): the claims every assertion carries, built fresh for
//! each request, for client authentication (`private_key_jwt`, `client_secret_jwt`) and for
//! the JWT bearer grant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    Secret,
    error::Result,
    oauth2::signing_key::{SigningKey, sign_hs256},
};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const CLIENT_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long a JWT assertion is valid: `exp` is `iat` plus this. An assertion is sent at once
/// and used once, so it needs to live only as long as one request (with its retries) takes;
/// a minute also absorbs modest clock skew. A short life bounds what a leaked assertion is
/// worth, and servers that remember `jti`s to refuse replays keep them only this long
/// (node-oidc-provider, Keycloak). Some servers cap it (Google: one hour).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// What signs an assertion.
pub(crate) enum Signer<'a> {
    /// `private_key_jwt`, the JWT bearer grant.
    Key(&'a SigningKey),
    /// `client_secret_jwt`: HS256 with the client secret.
    Secret(&'a Secret),
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// A signed assertion with `iss`, `sub`, `aud`, a random `jti` (UUID v4), `iat` now and `exp`
/// `lifetime` later, and any `extra` claims. Returned as a [`Secret`]: it is a credential.
pub(crate) fn assertion(
    signer: Signer<'_>,
    iss: &str,
    sub: &str,
    aud: &str,
    lifetime: Duration,
    extra: Option<&Map<String, Value>>,
) -> Result<Secret> {
    let empty = Map::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        iss,
        sub,
        aud,
        jti: uuid::Uuid::new_v4().to_string(),
        iat: now,
        exp: now + lifetime.as_secs().max(1),
        extra: extra.unwrap_or(&empty),
    };
    let jws = match signer {
        Signer::Key(key) => key.sign(&claims)?,
        Signer::Secret(secret) => sign_hs256(secret, &claims)?,
    };
    Ok(Secret::new(jws))
}
