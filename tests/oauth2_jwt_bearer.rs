//! The JWT bearer grant (RFC 7523 §2.1) with wiremock (node-oidc-provider does not implement
//! it): the exact form of RFC 7523's example, the assertion's claims and signature, caching
//! and refresh ahead of expiry, and client authentication together with the grant.

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authed::{
    ExposeSecret,
    oauth2::{ClientAuth, JwsAlgorithm, JwtBearer, OAuthClient, SigningKey},
};
use base64::Engine as _;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn token(access: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": access, "token_type": "Bearer", "expires_in": expires_in,
    }))
}

fn form(request: &Request) -> Vec<(String, String)> {
    authed::url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field(request: &Request, name: &str) -> String {
    form(request)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in the form"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn es256_key() -> SigningKey {
    SigningKey::from_pem(JwsAlgorithm::ES256, oidc::test_key("es256.pem"))
        .unwrap()
        .kid("16")
}

/// Verifies `jws` with the public half of `tests/oidc/keys/es256.pem`, derived by
/// jsonwebtoken from the PKCS#8 DER (not through authed's PEM reader), and returns its
/// header and claims.
fn verify_es256(jws: &str, aud: &str) -> (jsonwebtoken::Header, serde_json::Value) {
    let pem = oidc::test_key("es256.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let private = jsonwebtoken::EncodingKey::from_ec_der(&der);
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&private, jsonwebtoken::Algorithm::ES256)
        .unwrap();
    let public = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[aud]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(jws, &public, &validation)
        .expect("the assertion verifies with the key's public half");
    (data.header, data.claims)
}

/// RFC 7523 §2.1's example request: `grant_type` and `assertion`, nothing else (no client
/// authentication, no `client_id`), form-encoded; the assertion is an ES256 JWS with `kid`,
/// `iss`, `sub`, `aud` = the token endpoint, `jti`, `iat` and `exp` 60 s later.
#[tokio::test]
async fn the_request_is_rfc_7523s_example_and_the_assertion_carries_the_claims() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token.oauth2"))
        .respond_with(token("at-1", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let token_url = format!("{}/token.oauth2", server.uri());
    let auth = JwtBearer::new(&token_url, es256_key(), "svc@example.com").into_auth();
    let before = now();
    let got = auth.token().await.unwrap();
    assert_eq!(got.access_token().expose_secret(), "at-1");

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(
        request.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert!(request.headers.get("authorization").is_none());
    let names: Vec<String> = form(request).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["grant_type", "assertion"]);
    assert_eq!(field(request, "grant_type"), GRANT);
    let body = String::from_utf8(request.body.clone()).unwrap();
    assert!(
        body.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ"
        ),
        "{body}"
    );

    let (header, claims) = verify_es256(&field(request, "assertion"), &token_url);
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("16"));
    assert_eq!(claims["iss"], "svc@example.com");
    assert_eq!(claims["sub"], "svc@example.com", "sub defaults to iss");
    assert_eq!(claims["aud"], token_url.as_str());
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=now()).contains(&iat), "iat is now");
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 60);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(jti).unwrap().get_version_num(), 4);
}

/// Subject, audience, scopes (form), an extra claim (Google's `scope`), a longer lifetime;
/// the registered claims cannot be overridden through `claim`.
#[tokio::test]
async fn subject_audience_scopes_and_extra_claims() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("at", 3600))
        .mount(&server)
        .await;
    let auth = JwtBearer::new(format!("{}/token", server.uri()), es256_key(), "svc")
        .subject("ada@example.com")
        .audience("https://issuer.example/")
        .scopes(["read", "write"])
        .claim("scope", "read write")
        .claim("iss", "forged")
        .assertion_lifetime(Duration::from_secs(300))
        .param("resource", "https://api.example/")
        .into_auth();
    auth.token().await.unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let names: Vec<String> = form(request).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["grant_type", "assertion", "scope", "resource"]);
    assert_eq!(field(request, "scope"), "read write");
    let (_, claims) = verify_es256(&field(request, "assertion"), "https://issuer.example/");
    assert_eq!(claims["iss"], "svc");
    assert_eq!(claims["sub"], "ada@example.com");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        300
    );
}

/// Many callers at once: one token request, the token cached for all of them.
#[tokio::test]
async fn many_callers_share_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("shared", 3600).set_delay(Duration::from_millis(100)))
        .expect(1)
        .mount(&server)
        .await;
    let auth = JwtBearer::new(format!("{}/token", server.uri()), es256_key(), "svc").into_auth();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.token().await.unwrap() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().access_token().expose_secret(), "shared");
    }
    auth.token().await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

/// A token that lives 2 s is refreshed after half its life (shorter than the 60 s skew),
/// before it expires, with a new assertion (a new `jti`).
#[tokio::test]
async fn the_token_is_refreshed_ahead_of_expiry_with_a_new_assertion() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("short", 2))
        .mount(&server)
        .await;
    let auth = JwtBearer::new(format!("{}/token", server.uri()), es256_key(), "svc").into_auth();
    auth.token().await.unwrap();
    auth.token().await.unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "cached while fresh"
    );
    // Real time: the cache's expiry comes from `expires_in` measured on the tokio clock, and
    // the request goes over a real socket. Bounded: 1.1 s.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    auth.token().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "refreshed ahead of expiry");
    let jtis: Vec<String> = requests
        .iter()
        .map(|r| {
            verify_es256(&field(r, "assertion"), &format!("{}/token", server.uri())).1["jti"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_ne!(jtis[0], jtis[1], "a new assertion each time");
}

/// A registered client can authenticate too (RFC 7523 §3.1): its own `private_key_jwt`
/// assertion (iss = sub = client id) next to the grant's assertion.
#[tokio::test]
async fn the_grant_with_client_authentication_sends_both_assertions() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("at", 3600))
        .mount(&server)
        .await;
    let token_url = format!("{}/token", server.uri());
    let client_key =
        SigningKey::from_pem(JwsAlgorithm::EdDSA, oidc::test_key("ed25519.pem")).unwrap();
    let client = OAuthClient::new(&token_url, "my-client")
        .auth_method(ClientAuth::private_key_jwt(client_key));
    JwtBearer::with_client(client, es256_key(), "svc")
        .into_auth()
        .token()
        .await
        .unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let names: Vec<String> = form(request).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "assertion",
            "client_id",
            "client_assertion_type",
            "client_assertion"
        ]
    );
    assert_eq!(field(request, "client_id"), "my-client");
    assert_eq!(
        field(request, "client_assertion_type"),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let client_assertion = field(request, "client_assertion");
    let payload = client_assertion.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "my-client");
    assert_eq!(claims["sub"], "my-client");
    assert_eq!(claims["aud"], token_url.as_str());
    assert_ne!(client_assertion, field(request, "assertion"));
}

/// The server's refusal is a typed OAuth error, without the assertion in it even when the
/// server echoes it back.
#[tokio::test]
async fn a_refused_assertion_is_a_typed_error_without_the_assertion() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|request: &Request| {
            let assertion = field(request, "assertion");
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_grant",
                "error_description": format!("bad assertion {assertion}"),
            }))
        })
        .mount(&server)
        .await;
    let err = JwtBearer::new(format!("{}/token", server.uri()), es256_key(), "svc")
        .into_auth()
        .token()
        .await
        .unwrap_err();
    assert_eq!(
        err.oauth_error().map(|e| e.code.as_str()),
        Some("invalid_grant")
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("eyJ"), "{shown}");
}
