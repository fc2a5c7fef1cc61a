//! ID token validation (OpenID Connect Core §3.1.3.7) against a real authorization server
//! (node-oidc-provider on 127.0.0.1, started by the test; see tests/oidc/ and
//! tests/support/oidc.rs): a real login whose ID token validates, a key rotation across a
//! server restart, and forged tokens refused with their typed error. A server that cannot
//! start fails the test; `AUTHED_TEST_SKIP=oidc` with `bash scripts/test.sh` skips them.

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use authed::{
    Client, Error,
    error::IdTokenErrorKind,
    oauth2::{
        AuthorizationCode, IdTokenValidator, JwsAlgorithm, OAuthClient, RefreshToken,
        ServerMetadata, Token,
    },
};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The server's signing key in these tests (`tests/oidc/keys/id-token-1.pem`, kid `id-token-1`).
const KEY_1: (&str, &str) = (oidc::SIGNING_KEY_ENV, "id-token-1.pem");
/// The key after the rotation (kid `id-token-2`).
const KEY_2: (&str, &str) = (oidc::SIGNING_KEY_ENV, "id-token-2.pem");

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token signed with the test key `file` (RS256), as the server would sign it.
fn sign(file: &str, kid: &str, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(oidc::test_key(file).as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// A token with any header, signed with HMAC-SHA-256 keyed by `key` (or unsigned).
fn hand_made(header: &Value, claims: &Value, hmac_key: Option<&[u8]>) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!("{}.{}", b64(header), b64(claims));
    // By hand: jsonwebtoken would refuse to write `alg: none`, and checks nothing here anyway.
    let signature = hmac_key.map_or_else(String::new, |key| hmac_sha256(key, input.as_bytes()));
    format!("{input}.{signature}")
}

/// HMAC-SHA-256 (RFC 2104) over SHA-256 from the `sha2` crate, base64url.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&oidc::sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let mut inner = pad(0x36);
    inner.extend_from_slice(message);
    let mut outer = pad(0x5c);
    outer.extend_from_slice(&oidc::sha256(&inner));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(oidc::sha256(&outer))
}

/// Claims the validator accepts for `issuer`, client `native` and nonce `n-1`.
fn good_claims(issuer: &str) -> Value {
    json!({
        "iss": issuer, "sub": "ada", "aud": oidc::NATIVE,
        "exp": now() + 300, "iat": now(), "nonce": "n-1",
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// The kind of an ID token error, after checking that its Display does not quote the token.
fn refused(result: authed::Result<authed::oauth2::IdTokenClaims>, token: &str) -> IdTokenErrorKind {
    let err = result.expect_err("the forged token is refused");
    let shown = format!("{err} {err:?}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!shown.contains(token), "{shown}");
    assert!(
        signature.is_empty() || !shown.contains(signature),
        "{shown}"
    );
    match err {
        Error::IdToken(e) => e.kind,
        other => panic!("not an ID token error: {other}"),
    }
}

/// A client whose audit hook counts the requests for the JWKS.
fn counting_client(issuer: &str, jwks_uri: &str, fetches: &Arc<AtomicUsize>) -> Client {
    let (count, jwks) = (fetches.clone(), jwks_uri.to_owned());
    Client::builder(issuer)
        .on_audit(move |event| {
            if event.url == jwks {
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap()
}

/// Logs in as `user` with `flow` (scope `openid`): `begin`, the test plays the browser, then
/// `exchange` with the redirect.
async fn login(server: &oidc::OidcServer, flow: &AuthorizationCode, user: &str) -> Token {
    let pending = flow.begin().unwrap();
    assert!(pending.has_nonce(), "an openid request carries a nonce");
    assert!(
        oidc::url_param(pending.url().as_str(), "nonce").is_some_and(|n| n.len() >= 43),
        "the nonce is in the authorization request and has 256 bits"
    );
    let redirect = server
        .approve_authorization(pending.url().as_str(), user)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    pending
        .exchange(&redirect)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()))
}

fn flow(metadata: &ServerMetadata) -> AuthorizationCode {
    metadata
        .authorization_code(metadata.client(oidc::NATIVE).unwrap())
        .unwrap()
        .redirect_uri(format!("http://127.0.0.1:9{}", oidc::NATIVE_REDIRECT_PATH))
        .scopes(["openid", "profile"])
}

mod needs_oidc {
    use super::*;

    #[tokio::test]
    async fn an_openid_login_validates_its_id_token_and_returns_the_claims() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let token = login(&server, &flow(&metadata), "ada").await;
        let claims = token
            .id_token_claims()
            .expect("the flow built by discovery validated the ID token");
        assert_eq!(claims.iss, server.issuer);
        assert_eq!(claims.sub, "ada");
        assert_eq!(claims.aud, vec![oidc::NATIVE.to_owned()]);
        assert!(claims.nonce.is_some(), "the server echoed the nonce");
        assert!(claims.expires_at() > SystemTime::now());
        assert!(claims.issued_at() <= SystemTime::now());
        assert!(
            claims.extra.contains_key("at_hash"),
            "unknown claims are kept: {claims:?}"
        );
        // The same ID token, validated by hand, checks the nonce: another one is refused.
        let id_token = token.id_token().unwrap().expose_secret().to_owned();
        let validator = metadata.id_token_validator(oidc::NATIVE).unwrap();
        let nonce = claims.nonce.clone().unwrap();
        assert_eq!(
            &validator.validate(&id_token, Some(&nonce)).await.unwrap(),
            claims
        );
        assert_eq!(
            refused(
                validator.validate(&id_token, Some("another")).await,
                &id_token
            ),
            IdTokenErrorKind::NonceMismatch
        );
        // A login without openid sends no nonce and gets no ID token to validate.
        let plain = flow(&metadata).scopes(["api:read"]).begin().unwrap();
        assert!(!plain.has_nonce());
        assert!(oidc::url_param(plain.url().as_str(), "nonce").is_none());
    }

    /// The ID token of a refresh is validated (OpenID Connect Core §12.2) with the login
    /// flow's validator, which the token set carries: its claims replace the login's.
    #[tokio::test]
    async fn a_refresh_validates_the_id_token_it_brings() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        assert!(
            metadata
                .id_token_signing_alg_values_supported
                .iter()
                .any(|a| a == "RS256"),
            "{metadata:?}"
        );
        let flow = flow(&metadata)
            .scopes(["openid", "offline_access"])
            .param("prompt", "consent");
        let token = login(&server, &flow, "ada").await;
        let login_claims = token.id_token_claims().unwrap().clone();
        let auth = RefreshToken::new(metadata.client(oidc::NATIVE).unwrap()).into_auth();
        auth.set_token(token.clone().with_expires_in(Duration::ZERO))
            .await
            .unwrap();
        let refreshed = auth
            .token()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        let new_id_token = refreshed
            .id_token()
            .expect("the refresh brings an ID token");
        assert_ne!(
            new_id_token.expose_secret(),
            token.id_token().unwrap().expose_secret()
        );
        let claims = refreshed
            .id_token_claims()
            .expect("the refresh's ID token was validated");
        assert_eq!(
            (&claims.iss, &claims.sub, &claims.aud),
            (&login_claims.iss, &login_claims.sub, &login_claims.aud)
        );
        assert_ne!(claims, &login_claims, "the new token's claims");
    }

    #[tokio::test]
    async fn a_device_login_with_openid_validates_its_id_token() {
        let server = Arc::new(oidc::require().await);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let device = metadata
            .device(metadata.client(oidc::DEVICE).unwrap())
            .unwrap()
            .scopes(["openid"]);
        let browser = server.clone();
        let token = device
            .login(|code| {
                let user_code = code.user_code.clone();
                tokio::spawn(
                    async move { browser.approve_device(&user_code, "ada").await.unwrap() },
                );
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        let claims = token.id_token_claims().expect("validated");
        assert_eq!(
            (claims.sub.as_str(), claims.aud.as_slice()),
            ("ada", &[oidc::DEVICE.to_owned()][..])
        );
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_once_on_its_new_kid() {
        let server = oidc::OidcServer::require_with_env(&[KEY_1]).await;
        let port = server.port();
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let jwks_uri = metadata.jwks_uri.clone().unwrap();
        let fetches = Arc::new(AtomicUsize::new(0));
        let floor = Duration::from_millis(500);
        let validator = metadata
            .id_token_validator(oidc::NATIVE)
            .unwrap()
            .http_client(counting_client(&server.issuer, &jwks_uri, &fetches))
            .jwks_refetch_floor(floor);
        let flow = flow(&metadata).id_token_validator(validator.clone());

        let first = login(&server, &flow, "ada").await;
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "the first login fetched the JWKS"
        );
        let first_id = first.id_token().unwrap().expose_secret().to_owned();
        let nonce = first.id_token_claims().unwrap().nonce.clone();
        validator
            .validate(&first_id, nonce.as_deref())
            .await
            .unwrap();
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "a known kid uses the cache"
        );

        // The server restarts with another key, on the same port (so the same issuer).
        server.stop().await;
        let server = oidc::OidcServer::require_on_port(port, &[KEY_2]).await;
        assert_eq!(server.issuer, metadata.issuer);
        tokio::time::sleep(floor).await; // past the floor since the first fetch

        let second = login(&server, &flow, "grace").await;
        assert_eq!(second.id_token_claims().unwrap().sub, "grace");
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "the unknown kid made exactly one re-fetch"
        );

        // Within the floor, another unknown kid does not fetch again; the old key is gone.
        let stranger = sign("id-token-1.pem", "id-token-3", &good_claims(&server.issuer));
        assert_eq!(
            refused(validator.validate(&stranger, Some("n-1")).await, &stranger),
            IdTokenErrorKind::UnknownKey
        );
        assert_eq!(
            refused(
                validator.validate(&first_id, nonce.as_deref()).await,
                &first_id
            ),
            IdTokenErrorKind::UnknownKey
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "the floor holds");
    }

    #[tokio::test]
    async fn forged_id_tokens_are_refused_with_their_typed_error() {
        let server = oidc::OidcServer::require_with_env(&[KEY_1]).await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let validator = metadata.id_token_validator(oidc::NATIVE).unwrap();
        let issuer = server.issuer.as_str();
        let good = good_claims(issuer);

        // The control: signed with the server's key, as the server would.
        let genuine = sign("id-token-1.pem", "id-token-1", &good);
        let claims = validator.validate(&genuine, Some("n-1")).await.unwrap();
        assert_eq!(claims.sub, "ada");

        let public_pem = oidc::test_key("id-token-1.pub.pem");
        let cases: Vec<(&str, String, IdTokenErrorKind)> = vec![
            (
                "signed with a key not in the JWKS, under the server's kid",
                sign("rs256.pem", "id-token-1", &good),
                IdTokenErrorKind::BadSignature,
            ),
            (
                "a kid the JWKS does not have",
                sign("rs256.pem", "attacker-key", &good),
                IdTokenErrorKind::UnknownKey,
            ),
            (
                "alg none",
                hand_made(&json!({"alg": "none", "kid": "id-token-1"}), &good, None),
                IdTokenErrorKind::DisallowedAlgorithm,
            ),
            (
                "HS256 keyed by the server's public key (key confusion)",
                hand_made(
                    &json!({"alg": "HS256", "kid": "id-token-1"}),
                    &good,
                    Some(public_pem.as_bytes()),
                ),
                IdTokenErrorKind::DisallowedAlgorithm,
            ),
            (
                "another audience",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(good.clone(), "aud", json!("someone-else")),
                ),
                IdTokenErrorKind::WrongAudience,
            ),
            (
                "several audiences, azp another client",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(
                        with(good.clone(), "aud", json!([oidc::NATIVE, "other"])),
                        "azp",
                        json!("other"),
                    ),
                ),
                IdTokenErrorKind::WrongAudience,
            ),
            (
                "another issuer",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(good.clone(), "iss", json!(format!("{issuer}/"))),
                ),
                IdTokenErrorKind::WrongIssuer,
            ),
            (
                "expired an hour ago",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(
                        with(good.clone(), "exp", json!(now() - 3600)),
                        "iat",
                        json!(now() - 7200),
                    ),
                ),
                IdTokenErrorKind::Expired,
            ),
            (
                "issued in an hour",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(good.clone(), "iat", json!(now() + 3600)),
                ),
                IdTokenErrorKind::IssuedInFuture,
            ),
            (
                "another nonce",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(good.clone(), "nonce", json!("n-2")),
                ),
                IdTokenErrorKind::NonceMismatch,
            ),
            (
                "no nonce",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(good.clone(), "nonce", Value::Null),
                ),
                IdTokenErrorKind::NonceMismatch,
            ),
            (
                "no sub",
                sign(
                    "id-token-1.pem",
                    "id-token-1",
                    &with(good.clone(), "sub", Value::Null),
                ),
                IdTokenErrorKind::Malformed,
            ),
            (
                "not a JWS",
                "not-a-token".to_owned(),
                IdTokenErrorKind::Malformed,
            ),
        ];
        for (what, token, expected) in &cases {
            let kind = refused(validator.validate(token, Some("n-1")).await, token);
            assert_eq!(kind, *expected, "{what}");
        }

        // HS256 allowed: only with the client secret as its key, never the public key.
        let with_secret = validator.clone().allow_hs256(oidc::JWT_SECRET);
        let confused = &cases[3].1;
        assert_eq!(
            refused(with_secret.validate(confused, Some("n-1")).await, confused),
            IdTokenErrorKind::BadSignature
        );
        let by_secret = hand_made(
            &json!({"alg": "HS256"}),
            &good,
            Some(oidc::JWT_SECRET.as_bytes()),
        );
        with_secret.validate(&by_secret, Some("n-1")).await.unwrap();
        // Narrowed to ES256, the genuine RS256 token is refused.
        let es_only =
            IdTokenValidator::new(issuer, oidc::NATIVE, metadata.jwks_uri.as_deref().unwrap())
                .algorithms([JwsAlgorithm::ES256]);
        assert_eq!(
            refused(es_only.validate(&genuine, Some("n-1")).await, &genuine),
            IdTokenErrorKind::DisallowedAlgorithm
        );
    }
}

// --- Discovery narrows the algorithms; refreshed ID tokens (wiremock: exact answers). ---

/// A server with discovery, a JWKS holding `id-token-1`'s public key, and an authorization
/// endpoint; `algs` is its `id_token_signing_alg_values_supported`, if any.
async fn wiremock_issuer(algs: Option<Value>) -> wiremock::MockServer {
    use wiremock::{Mock, ResponseTemplate, matchers::path};
    let server = wiremock::MockServer::start().await;
    let issuer = server.uri();
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    });
    if let Some(algs) = algs {
        metadata["id_token_signing_alg_values_supported"] = algs;
    }
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
        .mount(&server)
        .await;
    let private = oidc::node_jwk("id-token-1.pem");
    let public = json!({
        "kty": "RSA", "n": private["n"], "e": private["e"], "kid": "id-token-1",
        "use": "sig", "alg": "RS256",
    });
    Mock::given(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [public]})))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn discovery_narrows_the_id_token_algorithms_to_what_the_server_signs_with() {
    let cases = [
        (None, DEFAULT_ALGORITHMS.to_vec()),
        (
            Some(json!(["ES256", "HS256", "none"])),
            vec![JwsAlgorithm::ES256],
        ),
        (
            Some(json!(["PS256", "RS256", "RS512"])),
            vec![JwsAlgorithm::RS256, JwsAlgorithm::PS256],
        ),
        (Some(json!(["none"])), vec![]),
    ];
    for (algs, expected) in cases {
        let server = wiremock_issuer(algs.clone()).await;
        let metadata = ServerMetadata::discover(&server.uri()).await.unwrap();
        let validator = metadata.id_token_validator("app").unwrap();
        assert_eq!(validator.allowed_algorithms(), expected, "{algs:?}");

        // What it means: a genuine RS256 token passes only where RS256 is listed.
        let token = sign(
            "id-token-1.pem",
            "id-token-1",
            &json!({"iss": server.uri(), "sub": "ada", "aud": "app", "exp": now() + 300, "iat": now()}),
        );
        let result = validator.validate(&token, None).await;
        if expected.contains(&JwsAlgorithm::RS256) {
            result.unwrap();
        } else {
            assert_eq!(
                refused(result, &token),
                IdTokenErrorKind::DisallowedAlgorithm,
                "{algs:?}"
            );
        }
    }
}

const DEFAULT_ALGORITHMS: [JwsAlgorithm; 5] = authed::oauth2::DEFAULT_ID_TOKEN_ALGORITHMS;

/// An ID token from the wiremock issuer for client `app`.
fn id_token(server: &wiremock::MockServer, sub: &str, nonce: Option<&str>) -> String {
    let mut claims = json!({
        "iss": server.uri(), "sub": sub, "aud": "app", "exp": now() + 300, "iat": now(),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    sign("id-token-1.pem", "id-token-1", &claims)
}

/// Answers the next refresh (once) with `id_token`, if any.
async fn next_refresh(server: &wiremock::MockServer, id_token: Option<String>) {
    use wiremock::{Mock, ResponseTemplate, matchers::body_string_contains};
    let mut body = json!({
        "access_token": format!("at-{}", now()), "token_type": "Bearer", "expires_in": 300,
        "refresh_token": "rt-next",
    });
    if let Some(id_token) = id_token {
        body["id_token"] = id_token.into();
    }
    Mock::given(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .up_to_n_times(1)
        .mount(server)
        .await;
}

/// Refreshes `token` at once through a new cache over `grant`.
async fn refreshed(grant: RefreshToken, token: Token) -> authed::Result<Token> {
    let auth = grant.into_auth();
    auth.set_token(token.with_expires_in(Duration::ZERO))
        .await?;
    auth.token().await
}

#[tokio::test]
async fn a_refreshed_id_token_must_name_the_logins_session() {
    use wiremock::{Mock, ResponseTemplate, matchers::body_string_contains};
    let server = wiremock_issuer(Some(json!(["RS256"]))).await;
    let metadata = ServerMetadata::discover(&server.uri()).await.unwrap();
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app");
    let pending = metadata
        .authorization_code(client.clone())
        .unwrap()
        .redirect_uri("http://127.0.0.1:9/callback")
        .scopes(["openid"])
        .begin()
        .unwrap();
    let nonce = oidc::url_param(pending.url().as_str(), "nonce").unwrap();
    let state = oidc::url_param(pending.url().as_str(), "state").unwrap();
    Mock::given(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-login", "token_type": "Bearer", "expires_in": 300,
            "refresh_token": "rt-1", "id_token": id_token(&server, "ada", Some(&nonce)),
        })))
        .mount(&server)
        .await;
    let login = pending
        .exchange(&format!("?code=c-1&state={state}"))
        .await
        .unwrap();
    assert_eq!(login.id_token_claims().unwrap().sub, "ada");

    // The same user, no nonce (§12.2 needs none): validated, its claims on the token.
    next_refresh(&server, Some(id_token(&server, "ada", None))).await;
    let token = refreshed(RefreshToken::new(client.clone()), login.clone())
        .await
        .unwrap();
    let claims = token.id_token_claims().expect("validated");
    assert_eq!(claims.sub, "ada");
    assert_eq!(claims.nonce, None);

    // No ID token in the answer: the login's stays, with its claims.
    next_refresh(&server, None).await;
    let token = refreshed(RefreshToken::new(client.clone()), token)
        .await
        .unwrap();
    assert_eq!(token.id_token_claims().unwrap().sub, "ada");

    // Another user's ID token: refused, typed.
    let eve = id_token(&server, "eve", None);
    next_refresh(&server, Some(eve.clone())).await;
    let kind = refused(
        refreshed(RefreshToken::new(client.clone()), token.clone())
            .await
            .map(|t| t.id_token_claims().unwrap().clone()),
        &eve,
    );
    assert_eq!(kind, IdTokenErrorKind::SessionMismatch);

    // A forged one (signed by another key): refused as at login.
    let forged = sign(
        "id-token-2.pem",
        "id-token-1",
        &json!({"iss": server.uri(), "sub": "ada", "aud": "app", "exp": now() + 300, "iat": now()}),
    );
    next_refresh(&server, Some(forged.clone())).await;
    let kind = refused(
        refreshed(RefreshToken::new(client.clone()), token)
            .await
            .map(|t| t.id_token_claims().unwrap().clone()),
        &forged,
    );
    assert_eq!(kind, IdTokenErrorKind::BadSignature);

    // A token set read back from a store has no validator: the grant's checks its refresh,
    // against the claims of the stored ID token.
    let stored = Token::from_response(
        json!({
            "access_token": "at-stored", "token_type": "Bearer", "refresh_token": "rt-s",
            "id_token": login.id_token().unwrap().expose_secret(),
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    next_refresh(&server, Some(eve.clone())).await;
    let unchecked = refreshed(RefreshToken::new(client.clone()), stored.clone())
        .await
        .unwrap();
    assert!(
        unchecked.id_token_claims().is_none(),
        "no validator anywhere: nothing is checked, no claims"
    );
    next_refresh(&server, Some(eve.clone())).await;
    let grant =
        RefreshToken::new(client).id_token_validator(metadata.id_token_validator("app").unwrap());
    let kind = refused(
        refreshed(grant, stored)
            .await
            .map(|t| t.id_token_claims().unwrap().clone()),
        &eve,
    );
    assert_eq!(kind, IdTokenErrorKind::SessionMismatch);
}
