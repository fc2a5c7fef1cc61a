//! ID token validation (OpenID Connect Core 1.0 §3.1.3.7): [`IdTokenValidator`] checks the
//! signature against the server's JSON Web Key Set and the claims against what the client
//! expects, and hands back [`IdTokenClaims`].
//!
//! The authorization code flow built by discovery
//! ([`ServerMetadata::authorization_code`](crate::oauth2::ServerMetadata::authorization_code))
//! has a validator already: it sends a fresh `nonce` whenever the scope contains `openid`,
//! and [`PendingAuthorization::exchange`](crate::oauth2::PendingAuthorization::exchange)
//! validates the ID token of the answer and keeps its claims on the token
//! ([`Token::id_token_claims`](crate::oauth2::Token::id_token_claims)).
//!
//! A failure is [`Error::IdToken`] with an [`IdTokenErrorKind`]; its message never contains
//! the token.

use std::{
    collections::HashSet,
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse},
};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use url::Url;

use crate::{
    Client, Secret,
    error::{Error, IdTokenErrorKind, Result},
    oauth2::{
        client::{MAX_OAUTH_BODY, parse_endpoint},
        signing_key::JwsAlgorithm,
    },
    redact::{self, REDACTED},
};

/// How far `exp` may be in the past and `iat` in the future (60 s): the server's clock and
/// ours differ a little, and an ID token is checked seconds after it was made. More would
/// stretch a token's life; none would refuse good tokens from a server a second ahead.
pub const ID_TOKEN_LEEWAY: Duration = Duration::from_secs(60);

/// The shortest time between two fetches of the key set caused by an unknown `kid` (30 s).
/// A server that rotated its keys publishes the new one before signing with it, so one
/// re-fetch finds it; a stream of tokens with made-up `kid`s must not turn the client into
/// a tool for hammering the server's JWKS endpoint.
pub const JWKS_REFETCH_FLOOR: Duration = Duration::from_secs(30);

/// The algorithms an ID token may be signed with unless configured otherwise: the
/// asymmetric ones (RS256 is what OpenID Connect servers use by default).
pub const DEFAULT_ID_TOKEN_ALGORITHMS: [JwsAlgorithm; 5] = [
    JwsAlgorithm::RS256,
    JwsAlgorithm::PS256,
    JwsAlgorithm::ES256,
    JwsAlgorithm::ES384,
    JwsAlgorithm::EdDSA,
];

/// The claims of a validated ID token (OpenID Connect Core §2), with the claims this type
/// does not model kept in [`IdTokenClaims::extra`].
///
/// Its `Debug` shows every claim but `nonce` (shown as `[redacted]`) and the values of the
/// extra claims (their names only: they may be personal data).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// The issuer, equal to the expected one.
    pub iss: String,
    /// The subject: the user's identifier at the issuer.
    pub sub: String,
    /// The audiences (a single string in the token is one element here).
    pub aud: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: i64,
    /// The nonce the client sent, echoed.
    pub nonce: Option<String>,
    /// The authorized party (the client id).
    pub azp: Option<String>,
    /// When the user authenticated, seconds since the Unix epoch.
    pub auth_time: Option<i64>,
    /// Authentication context class reference.
    pub acr: Option<String>,
    /// Authentication methods references (`pwd`, `otp`, `hwk`...).
    pub amr: Option<Vec<String>>,
    /// Every other claim (`email`, `name`, `at_hash`, `sid`...), as it came.
    pub extra: Map<String, Value>,
}

impl fmt::Debug for IdTokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTokenClaims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("nonce", &self.nonce.as_ref().map(|_| REDACTED))
            .field("azp", &self.azp)
            .field("auth_time", &self.auth_time)
            .field("acr", &self.acr)
            .field("amr", &self.amr)
            .field("extra_claims", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl IdTokenClaims {
    /// The expiry as a time.
    pub fn expires_at(&self) -> SystemTime {
        epoch(self.exp)
    }

    /// The issue time as a time.
    pub fn issued_at(&self) -> SystemTime {
        epoch(self.iat)
    }

    /// Reads the claims from a JSON object, leniently where the spec allows (`aud` as a string
    /// or an array, times as integers or decimals).
    fn from_map(mut map: Map<String, Value>) -> Result<Self> {
        let string = |map: &mut Map<String, Value>, name: &str| match map.remove(name) {
            Some(Value::String(s)) => Ok(Some(s)),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(malformed(format!("the `{name}` claim is not a string"))),
        };
        let time = |map: &mut Map<String, Value>, name: &str| match map.remove(name) {
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|t| t.is_finite() && (0.0..=32_503_680_000.0).contains(t))
                // Whole seconds: the fraction is below the leeway's notice.
                .map(|t| Some(t as i64))
                .ok_or_else(|| malformed(format!("the `{name}` claim is not a time"))),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(malformed(format!("the `{name}` claim is not a number"))),
        };
        fn required<T>(v: Option<T>, name: &str) -> Result<T> {
            v.ok_or_else(|| malformed(format!("the `{name}` claim is missing")))
        }
        let iss = required(string(&mut map, "iss")?, "iss")?;
        let sub = required(string(&mut map, "sub")?, "sub")?;
        let aud = match map.remove("aud") {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(malformed("an `aud` member is not a string".into())),
                })
                .collect::<Result<_>>()?,
            None => return Err(malformed("the `aud` claim is missing".into())),
            Some(_) => return Err(malformed("the `aud` claim is not a string or array".into())),
        };
        let exp = required(time(&mut map, "exp")?, "exp")?;
        let iat = required(time(&mut map, "iat")?, "iat")?;
        let nonce = string(&mut map, "nonce")?;
        let azp = string(&mut map, "azp")?;
        let auth_time = time(&mut map, "auth_time")?;
        let acr = string(&mut map, "acr")?;
        let amr = match map.remove("amr") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(malformed("an `amr` member is not a string".into())),
                    })
                    .collect::<Result<_>>()?,
            ),
            Some(_) => return Err(malformed("the `amr` claim is not an array".into())),
        };
        Ok(Self {
            iss,
            sub,
            aud,
            exp,
            iat,
            nonce,
            azp,
            auth_time,
            acr,
            amr,
            extra: map,
        })
    }
}

fn epoch(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0).unsigned_abs())
}

fn malformed(message: String) -> Error {
    Error::id_token(IdTokenErrorKind::Malformed, message)
}

/// Validates ID tokens of one issuer for one client: signature against the issuer's JSON Web
/// Key Set (fetched on first use, cached, re-fetched once on an unknown `kid`), then the
/// claims. Cheap to clone; clones share the cached key set.
///
/// What is checked, in order:
/// 1. the form: a compact JWS (three parts), a JSON header and a JSON object of claims;
/// 2. the algorithm: one of those allowed ([`DEFAULT_ID_TOKEN_ALGORITHMS`] unless configured),
///    never `none`, and HS256 only when allowed explicitly with the client secret
///    ([`IdTokenValidator::allow_hs256`]), which is then its only key: an HMAC is never
///    keyed by a public key from the JWKS (the key-confusion attack);
/// 3. the signature, with the JWKS key named by `kid` (of a type that fits the algorithm);
///    a `kid` the cached set does not have makes one re-fetch of the set (the server rotated
///    its keys), at most once per [`JWKS_REFETCH_FLOOR`];
/// 4. `iss` equal to the issuer, exactly; `aud` containing the client id, and `azp` equal
///    to it when there are several audiences (or when `azp` is present);
/// 5. `exp` in the future and `iat` not in the future, each with [`ID_TOKEN_LEEWAY`];
/// 6. `nonce` equal to the one sent, when one was sent.
///
/// # Example
///
/// The flows built by discovery validate for you; a validator of your own checks an ID
/// token that reached you another way:
///
/// ```no_run
/// use authed::oauth2::{IdTokenValidator, ServerMetadata};
///
/// async fn who(issuer: &str, id_token: &str, nonce: &str) -> authed::Result<String> {
///     let metadata = ServerMetadata::discover(issuer).await?;
///     let validator = metadata.id_token_validator("my-web-app")?; // RS256, PS256, ES256, ES384, EdDSA
///     let claims = validator.validate(id_token, Some(nonce)).await?;
///     Ok(claims.sub)
/// }
/// ```
///
/// Without discovery:
///
/// ```
/// use authed::oauth2::{IdTokenValidator, JwsAlgorithm};
///
/// let validator = IdTokenValidator::new(
///     "https://auth.example.com",
///     "my-web-app",
///     "https://auth.example.com/jwks",
/// )
/// .algorithms([JwsAlgorithm::ES256]); // only what the server is known to use
/// # let _ = validator;
/// ```
#[derive(Clone)]
pub struct IdTokenValidator {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    client_id: String,
    jwks_uri: std::result::Result<Url, Error>,
    http: Option<Client>,
    algorithms: Vec<JwsAlgorithm>,
    hs256_secret: Option<Secret>,
    leeway: Duration,
    refetch_floor: Duration,
    cache: tokio::sync::Mutex<KeyCache>,
}

impl Clone for Inner {
    fn clone(&self) -> Self {
        Self {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            jwks_uri: self.jwks_uri.clone(),
            http: self.http.clone(),
            algorithms: self.algorithms.clone(),
            hs256_secret: self.hs256_secret.clone(),
            leeway: self.leeway,
            refetch_floor: self.refetch_floor,
            // A reconfigured validator starts with an empty cache.
            cache: tokio::sync::Mutex::new(KeyCache::default()),
        }
    }
}

/// The cached key set and when it was fetched.
#[derive(Default)]
struct KeyCache {
    keys: Vec<Jwk>,
    fetched_at: Option<tokio::time::Instant>,
}

impl fmt::Debug for IdTokenValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("IdTokenValidator")
            .field("issuer", &redact::url_text_builtin(&i.issuer))
            .field("client_id", &i.client_id)
            .field(
                "jwks_uri",
                &i.jwks_uri.as_ref().map(redact::url_builtin).ok(),
            )
            .field("algorithms", &i.algorithms)
            .field("hs256", &i.hs256_secret.as_ref().map(|_| REDACTED))
            .field("leeway", &i.leeway)
            .field("refetch_floor", &i.refetch_floor)
            .finish_non_exhaustive()
    }
}

impl IdTokenValidator {
    /// A validator for ID tokens issued by `issuer` (compared exactly with `iss`) to
    /// `client_id`, with the server's keys at `jwks_uri` (https, or http on loopback).
    /// Problems with the URL are reported by the first validation.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        jwks_uri: impl AsRef<str>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuer: issuer.into(),
                client_id: client_id.into(),
                jwks_uri: parse_endpoint(jwks_uri.as_ref(), "JWKS"),
                http: None,
                algorithms: DEFAULT_ID_TOKEN_ALGORITHMS.to_vec(),
                hs256_secret: None,
                leeway: ID_TOKEN_LEEWAY,
                refetch_floor: JWKS_REFETCH_FLOOR,
                cache: tokio::sync::Mutex::new(KeyCache::default()),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The asymmetric algorithms accepted ([`DEFAULT_ID_TOKEN_ALGORITHMS`] by default):
    /// narrow them to what your server uses (its `id_token_signing_alg_values_supported`).
    #[must_use]
    pub fn algorithms(self, algorithms: impl IntoIterator<Item = JwsAlgorithm>) -> Self {
        let algorithms = algorithms.into_iter().collect();
        self.with(|i| i.algorithms = algorithms)
    }

    /// Also accepts HS256 ID tokens, keyed by `client_secret` (OpenID Connect Core §10.1:
    /// the only key HS256 may use). Off by default: turn it on only for a confidential
    /// client whose server signs its ID tokens so. An HS256 token is never checked with a
    /// key of the JWKS.
    #[must_use]
    pub fn allow_hs256(self, client_secret: impl Into<Secret>) -> Self {
        let secret = client_secret.into();
        self.with(|i| i.hs256_secret = Some(secret))
    }

    /// The clock skew allowed on `exp` and `iat` ([`ID_TOKEN_LEEWAY`] by default).
    #[must_use]
    pub fn leeway(self, leeway: Duration) -> Self {
        self.with(|i| i.leeway = leeway)
    }

    /// The shortest time between two re-fetches of the key set for an unknown `kid`
    /// ([`JWKS_REFETCH_FLOOR`] by default).
    #[must_use]
    pub fn jwks_refetch_floor(self, floor: Duration) -> Self {
        self.with(|i| i.refetch_floor = floor)
    }

    /// Fetches the key set with `client` (its timeouts, retries, audit hook). Without it, a
    /// client of the validator's own is used, built for the JWKS URL's origin.
    #[must_use]
    pub fn http_client(self, client: Client) -> Self {
        self.with(|i| i.http = Some(client))
    }

    /// The asymmetric algorithms accepted (see [`IdTokenValidator::algorithms`]).
    pub fn allowed_algorithms(&self) -> &[JwsAlgorithm] {
        &self.inner.algorithms
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The client id the tokens must be meant for.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// Validates `id_token`, expecting the `nonce` sent in the authorization request (`None`
    /// when none was sent: the device flow, a refresh), and returns its claims.
    ///
    /// # Errors
    ///
    /// [`Error::IdToken`] with its [`IdTokenErrorKind`] for a token that fails a check; the
    /// errors of fetching the key set ([`Error::Status`], [`Error::BodyTooLarge`] past
    /// [`MAX_OAUTH_BODY`], ...); [`Error::Config`] for an invalid JWKS URL.
    pub async fn validate(&self, id_token: &str, nonce: Option<&str>) -> Result<IdTokenClaims> {
        let i = &*self.inner;
        let header = Header::parse(id_token)?;
        let alg = self.allowed(&header.alg)?;
        let claims = if alg == Algorithm::HS256 {
            let secret = i
                .hs256_secret
                .as_ref()
                .ok_or_else(|| disallowed(&header.alg))?;
            let key = DecodingKey::from_secret(secret.expose_secret().as_bytes())
                .map_err(|_| Error::config("the client secret for HS256 ID tokens is empty"))?;
            verify(id_token, &key, alg)?.ok_or_else(|| {
                Error::id_token(
                    IdTokenErrorKind::BadSignature,
                    "the ID token's HS256 signature does not verify with the client secret",
                )
            })?
        } else {
            self.verify_with_jwks(id_token, alg, header.kid.as_deref())
                .await?
        };
        let claims = IdTokenClaims::from_map(claims)?;
        self.check_claims(&claims, nonce, SystemTime::now())?;
        Ok(claims)
    }

    /// Validates the ID token of a refresh (OpenID Connect Core §12.2): checked as at login,
    /// without a nonce (a refreshed ID token need not carry one), and it must name the same
    /// `iss`, `sub`, `aud` (and `azp`, when both have one) as the login's, `original`.
    pub(crate) async fn validate_refreshed(
        &self,
        id_token: &str,
        original: Option<&IdTokenClaims>,
    ) -> Result<IdTokenClaims> {
        let claims = self.validate(id_token, None).await?;
        if let Some(original) = original {
            let changed = if claims.iss != original.iss {
                Some("iss")
            } else if claims.sub != original.sub {
                Some("sub")
            } else if !same_members(&claims.aud, &original.aud) {
                Some("aud")
            } else if claims.azp.is_some() && original.azp.is_some() && claims.azp != original.azp {
                Some("azp")
            } else {
                None
            };
            if let Some(claim) = changed {
                return Err(Error::id_token(
                    IdTokenErrorKind::SessionMismatch,
                    format!(
                        "the ID token of the refresh has another `{claim}` than the login's                          (OpenID Connect Core §12.2): refusing it; log in again"
                    ),
                ));
            }
        }
        Ok(claims)
    }

    /// The header's algorithm, if it is allowed.
    fn allowed(&self, name: &str) -> Result<Algorithm> {
        if name == "HS256" && self.inner.hs256_secret.is_some() {
            return Ok(Algorithm::HS256);
        }
        self.inner
            .algorithms
            .iter()
            .find(|a| a.as_str() == name)
            .and_then(|a| a.as_str().parse::<Algorithm>().ok())
            .ok_or_else(|| disallowed(name))
    }

    /// Verifies with the key set, re-fetching it once for an unknown `kid`.
    async fn verify_with_jwks(
        &self,
        id_token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Map<String, Value>> {
        let i = &*self.inner;
        let mut cache = i.cache.lock().await;
        if cache.fetched_at.is_none() {
            self.refresh(&mut cache).await?;
        }
        let mut candidates = candidates(&cache.keys, alg, kid);
        if candidates.is_empty()
            && cache
                .fetched_at
                .is_none_or(|at| at.elapsed() >= i.refetch_floor)
        {
            // A key we do not know: the server may have rotated its keys.
            self.refresh(&mut cache).await?;
            candidates = self::candidates(&cache.keys, alg, kid);
        }
        if candidates.is_empty() {
            let which = match kid {
                Some(kid) => format!("no key with kid {kid:?}"),
                None => "no key".to_owned(),
            };
            return Err(Error::id_token(
                IdTokenErrorKind::UnknownKey,
                format!(
                    "the issuer's key set has {which} usable for {alg:?} (re-fetched at most once \
                     per {:?})",
                    i.refetch_floor
                ),
            ));
        }
        for key in &candidates {
            if let Some(claims) = verify(id_token, key, alg)? {
                return Ok(claims);
            }
        }
        Err(Error::id_token(
            IdTokenErrorKind::BadSignature,
            format!("the ID token's {alg:?} signature does not verify with the issuer's key"),
        ))
    }

    /// Fetches the key set into `cache`.
    async fn refresh(&self, cache: &mut KeyCache) -> Result<()> {
        let i = &*self.inner;
        let url = i.jwks_uri.as_ref().map_err(Clone::clone)?;
        let own;
        let http = match &i.http {
            Some(client) => client,
            None => {
                own = Client::builder(url.origin().ascii_serialization())
                    .redirect(crate::redirect::Policy::none())
                    .build()?;
                &own
            }
        };
        // Counted as a fetch even when it fails: a failing endpoint is not hammered either.
        cache.fetched_at = Some(tokio::time::Instant::now());
        let set: Value = http
            .get(url.as_str())
            .send()
            .await?
            .json_limited(MAX_OAUTH_BODY)
            .await?;
        let keys = set.get("keys").and_then(Value::as_array).ok_or_else(|| {
            Error::id_token(
                IdTokenErrorKind::UnknownKey,
                "the issuer's JWKS document has no `keys` array",
            )
        })?;
        // Keys this client cannot read (another key type, encryption keys) are skipped.
        cache.keys = keys
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .collect();
        Ok(())
    }

    fn check_claims(
        &self,
        claims: &IdTokenClaims,
        nonce: Option<&str>,
        now: SystemTime,
    ) -> Result<()> {
        let i = &*self.inner;
        if claims.iss != i.issuer {
            return Err(Error::id_token(
                IdTokenErrorKind::WrongIssuer,
                format!(
                    "the ID token's iss is {:?}, not the expected issuer {:?}",
                    claims.iss, i.issuer
                ),
            ));
        }
        if !claims.aud.contains(&i.client_id) {
            return Err(Error::id_token(
                IdTokenErrorKind::WrongAudience,
                format!(
                    "the ID token is meant for {:?}, not for client {:?}",
                    claims.aud, i.client_id
                ),
            ));
        }
        let azp_needed = claims.aud.len() > 1;
        match &claims.azp {
            Some(azp) if *azp != i.client_id => {
                return Err(Error::id_token(
                    IdTokenErrorKind::WrongAudience,
                    format!(
                        "the ID token's azp is {azp:?}, not client {:?}",
                        i.client_id
                    ),
                ));
            }
            None if azp_needed => {
                return Err(Error::id_token(
                    IdTokenErrorKind::WrongAudience,
                    "the ID token has several audiences and no azp naming this client",
                ));
            }
            _ => {}
        }
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let leeway = i64::try_from(i.leeway.as_secs()).unwrap_or(i64::MAX);
        if claims.exp.saturating_add(leeway) <= now {
            return Err(Error::id_token(
                IdTokenErrorKind::Expired,
                format!(
                    "the ID token expired {} s ago (leeway {} s)",
                    now - claims.exp,
                    leeway
                ),
            ));
        }
        if claims.iat.saturating_sub(leeway) > now {
            return Err(Error::id_token(
                IdTokenErrorKind::IssuedInFuture,
                format!(
                    "the ID token was issued {} s in the future (leeway {} s): is this machine's clock right?",
                    claims.iat - now,
                    leeway
                ),
            ));
        }
        match (nonce, &claims.nonce) {
            (None, _) => Ok(()),
            (Some(sent), Some(got)) if bool::from(sent.as_bytes().ct_eq(got.as_bytes())) => Ok(()),
            (Some(_), Some(_)) => Err(Error::id_token(
                IdTokenErrorKind::NonceMismatch,
                "the ID token's nonce is not the one this login sent (a replayed or injected token)",
            )),
            (Some(_), None) => Err(Error::id_token(
                IdTokenErrorKind::NonceMismatch,
                "the ID token carries no nonce, but this login sent one",
            )),
        }
    }
}

/// Whether two lists hold the same members, in any order.
fn same_members(a: &[String], b: &[String]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// The claims of an ID token this client validated before and kept (read back from a token
/// store, which keeps the token but not its claims), without checking the signature again:
/// it is trusted as the refresh token stored beside it is, and its `exp` has passed by now.
/// `None` when it does not read.
pub(crate) fn stored_claims(id_token: &str) -> Option<IdTokenClaims> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => IdTokenClaims::from_map(map).ok(),
        _ => None,
    }
}

fn disallowed(alg: &str) -> Error {
    let hint = match alg {
        "none" => " (an unsigned token is never accepted)",
        a if a.starts_with("HS") => {
            " (HMAC needs the client secret as its key: allow it with allow_hs256(secret); a \
             public key is never used as an HMAC key)"
        }
        _ => "",
    };
    // The name is capped: it comes from the token.
    let shown: String = alg.chars().take(16).collect();
    Error::id_token(
        IdTokenErrorKind::DisallowedAlgorithm,
        format!("the ID token's alg {shown:?} is not allowed{hint}"),
    )
}

/// The JOSE header members this validator reads.
struct Header {
    alg: String,
    kid: Option<String>,
}

impl Header {
    fn parse(token: &str) -> Result<Self> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(
                "the ID token is not a compact JWS (three dot-separated parts)".into(),
            ));
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| malformed("the ID token's header is not base64url".into()))?;
        let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(malformed(
                "the ID token's header is not a JSON object".into(),
            ));
        };
        let alg = match map.remove("alg") {
            Some(Value::String(alg)) => alg,
            _ => return Err(malformed("the ID token's header has no alg".into())),
        };
        // A header with `crit` names extensions the token needs understood: we know none.
        if map.contains_key("crit") {
            return Err(malformed(
                "the ID token's header has crit extensions this client does not know".into(),
            ));
        }
        let kid = match map.remove("kid") {
            Some(Value::String(kid)) => Some(kid),
            _ => None,
        };
        Ok(Self { alg, kid })
    }
}

/// Whether `jwk` can verify `alg`: its key type and curve fit, its `alg` (if any) is `alg`,
/// and it is not an encryption key. Symmetric keys (`oct`) never qualify.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let type_fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::PS256) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    let alg_fits = jwk
        .common
        .key_algorithm
        .is_none_or(|ka| Algorithm::try_from(ka).ok() == Some(alg));
    let use_fits = !matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    );
    type_fits && alg_fits && use_fits
}

/// The keys that may have signed a token with `alg` and `kid`.
fn candidates(keys: &[Jwk], alg: Algorithm, kid: Option<&str>) -> Vec<DecodingKey> {
    keys.iter()
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .filter(|k| fits(k, alg))
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .collect()
}

/// The token's claims when its signature verifies with `key`, `None` when it does not.
fn verify(token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Option<Map<String, Value>>> {
    // jsonwebtoken checks the signature only; the claims are checked by the validator, which
    // gives each failure its own kind.
    let mut validation = Validation::new(alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    match jsonwebtoken::decode::<Value>(token, key, &validation) {
        Ok(data) => match data.claims {
            Value::Object(map) => Ok(Some(map)),
            _ => Err(malformed(
                "the ID token's payload is not a JSON object".into(),
            )),
        },
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
            | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey => Ok(None),
            // jsonwebtoken's error names the kind of failure, never the token.
            _ => Err(malformed(format!("the ID token does not decode: {e}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> IdTokenValidator {
        IdTokenValidator::new(
            "https://issuer.example",
            "client-1",
            "https://issuer.example/jwks",
        )
    }

    fn claims(extra: Value) -> IdTokenClaims {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut base = serde_json::json!({
            "iss": "https://issuer.example", "sub": "ada", "aud": "client-1",
            "exp": now + 300, "iat": now, "nonce": "n-1",
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        IdTokenClaims::from_map(base.as_object().unwrap().clone()).unwrap()
    }

    fn kind(e: Error) -> IdTokenErrorKind {
        match e {
            Error::IdToken(e) => e.kind,
            other => panic!("not an ID token error: {other}"),
        }
    }

    #[test]
    fn good_claims_pass_and_each_bad_one_has_its_kind() {
        let v = validator();
        let now = SystemTime::now();
        v.check_claims(&claims(serde_json::json!({})), Some("n-1"), now)
            .unwrap();
        let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        for (extra, nonce, expected) in [
            (
                serde_json::json!({"iss": "https://issuer.example/"}),
                Some("n-1"),
                IdTokenErrorKind::WrongIssuer,
            ),
            (
                serde_json::json!({"aud": "other"}),
                Some("n-1"),
                IdTokenErrorKind::WrongAudience,
            ),
            (
                serde_json::json!({"aud": ["client-1", "other"]}),
                Some("n-1"),
                IdTokenErrorKind::WrongAudience,
            ),
            (
                serde_json::json!({"azp": "other"}),
                Some("n-1"),
                IdTokenErrorKind::WrongAudience,
            ),
            (
                serde_json::json!({"exp": secs - 61}),
                Some("n-1"),
                IdTokenErrorKind::Expired,
            ),
            (
                serde_json::json!({"iat": secs + 120}),
                Some("n-1"),
                IdTokenErrorKind::IssuedInFuture,
            ),
            (
                serde_json::json!({}),
                Some("n-2"),
                IdTokenErrorKind::NonceMismatch,
            ),
            (
                serde_json::json!({"nonce": null}),
                Some("n-1"),
                IdTokenErrorKind::NonceMismatch,
            ),
        ] {
            let c = claims(extra.clone());
            assert_eq!(
                kind(v.check_claims(&c, nonce, now).unwrap_err()),
                expected,
                "{extra}"
            );
        }
        // Several audiences with azp = the client, a time within the leeway: fine.
        let c = claims(
            serde_json::json!({"aud": ["client-1", "other"], "azp": "client-1", "exp": secs - 30}),
        );
        v.check_claims(&c, Some("n-1"), now).unwrap();
    }

    #[test]
    fn headers_that_are_not_jws_or_not_allowed_are_refused_before_any_fetch() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let v = validator();
        for (token, expected) in [
            (
                format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("{}")),
                IdTokenErrorKind::DisallowedAlgorithm,
            ),
            (
                format!("{}.{}.x", b64(r#"{"alg":"HS256"}"#), b64("{}")),
                IdTokenErrorKind::DisallowedAlgorithm,
            ),
            (
                format!("{}.{}.x", b64(r#"{"alg":"RS512"}"#), b64("{}")),
                IdTokenErrorKind::DisallowedAlgorithm,
            ),
            ("a.b".to_owned(), IdTokenErrorKind::Malformed),
            ("a.b.c.d.e".to_owned(), IdTokenErrorKind::Malformed),
            (format!("{}.x.y", b64("[]")), IdTokenErrorKind::Malformed),
        ] {
            let header = Header::parse(&token).and_then(|h| v.allowed(&h.alg).map(|_| ()));
            assert_eq!(kind(header.unwrap_err()), expected, "{token}");
        }
    }

    #[test]
    fn claims_keep_unknown_members_and_debug_hides_the_nonce() {
        let c = claims(serde_json::json!({"email": "ada@example.com", "amr": ["pwd"]}));
        assert_eq!(c.extra["email"], "ada@example.com");
        assert_eq!(c.amr.as_deref(), Some(&["pwd".to_owned()][..]));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("n-1") && !shown.contains("ada@example.com"),
            "{shown}"
        );
    }
}
