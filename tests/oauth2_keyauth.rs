//! Client authentication with a key (`private_key_jwt`, `client_secret_jwt`; RFC 7523 §2.2)
//! against a real authorization server (node-oidc-provider, tests/oidc/), and the signing
//! keys themselves (PEM, file, JWK, and the typed errors of keys that do not fit).
//! `AUTHED_TEST_SKIP=oidc` with `bash scripts/test.sh` skips the `needs_oidc` tests.

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/tempdir.rs"]
mod tempdir;

use authed::{
    ExposeSecret,
    error::KeyErrorKind,
    oauth2::{ClientAuth, ClientCredentials, JwsAlgorithm, OAuthClient, SigningKey},
};

fn key(alg: JwsAlgorithm, file: &str, kid: &str) -> SigningKey {
    SigningKey::from_pem(alg, oidc::test_key(file))
        .unwrap()
        .kid(kid)
}

fn key_kind(err: &authed::Error) -> Option<KeyErrorKind> {
    match err {
        authed::Error::Key(e) => Some(e.kind),
        _ => None,
    }
}

mod needs_oidc {
    use super::*;

    fn client(server: &oidc::OidcServer, client_id: &str, auth: ClientAuth) -> OAuthClient {
        OAuthClient::new(server.token_endpoint(), client_id).auth_method(auth)
    }

    #[tokio::test]
    async fn private_key_jwt_gets_a_token_with_each_key_type() {
        let server = oidc::require().await;
        for (client_id, alg, file, kid) in [
            (
                oidc::PKJWT_RS256,
                JwsAlgorithm::RS256,
                "rs256.pem",
                "rs256-1",
            ),
            (
                oidc::PKJWT_ES256,
                JwsAlgorithm::ES256,
                "es256.pem",
                "es256-1",
            ),
            (
                oidc::PKJWT_EDDSA,
                JwsAlgorithm::EdDSA,
                "ed25519.pem",
                "ed25519-1",
            ),
        ] {
            let auth = ClientCredentials::with_client(client(
                &server,
                client_id,
                ClientAuth::private_key_jwt(key(alg, file, kid)),
            ))
            .scopes(["api:read"])
            .into_auth();
            let token = auth
                .token()
                .await
                .unwrap_or_else(|e| panic!("{client_id}: {e}\n{}", server.logs()));
            assert!(
                !token.access_token().expose_secret().is_empty(),
                "{client_id}"
            );
        }
    }

    #[tokio::test]
    async fn client_secret_jwt_gets_a_token() {
        let server = oidc::require().await;
        let registration = OAuthClient::new(server.token_endpoint(), oidc::CSJWT)
            .secret(oidc::JWT_SECRET)
            .auth_method(ClientAuth::client_secret_jwt());
        let token = ClientCredentials::with_client(registration)
            .into_auth()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(!token.access_token().expose_secret().is_empty());
    }

    /// The server refuses a reused `jti`: every request of ours must carry a new assertion.
    /// Three token requests in a row (the cache forced to fetch each time) all succeed.
    #[tokio::test]
    async fn every_request_carries_a_fresh_assertion_that_the_replay_check_accepts() {
        let server = oidc::require().await;
        let registration = client(
            &server,
            oidc::PKJWT_ES256,
            ClientAuth::private_key_jwt(key(JwsAlgorithm::ES256, "es256.pem", "es256-1")),
        );
        let grant = ClientCredentials::with_client(registration);
        for round in 0..3 {
            // A new cache each time: nothing cached, a token request each round.
            grant
                .clone()
                .into_auth()
                .token()
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}\n{}", server.logs()));
        }
    }

    /// The same assertion sent twice (by hand: the client never does) is refused the second
    /// time; an expired one is refused at once.
    #[tokio::test]
    async fn the_server_refuses_a_replayed_or_expired_assertion() {
        let server = oidc::require().await;
        let pem = oidc::test_key("es256.pem");
        let signing = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes());
        // Without jsonwebtoken's `use_pem`: read the PKCS#8 DER ourselves.
        let signing = signing.unwrap_or_else(|_| {
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            use base64::Engine as _;
            jsonwebtoken::EncodingKey::from_ec_der(
                &base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            )
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let assertion = |iat: u64, exp: u64| {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some("es256-1".into());
            let claims = serde_json::json!({
                "iss": oidc::PKJWT_ES256, "sub": oidc::PKJWT_ES256,
                "aud": server.token_endpoint(), "jti": uuid::Uuid::new_v4().to_string(),
                "iat": iat, "exp": exp,
            });
            jsonwebtoken::encode(&header, &claims, &signing).unwrap()
        };
        let post = |assertion: String| {
            let url = server.token_endpoint();
            async move {
                let form = oidc::form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", oidc::PKJWT_ES256),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ]);
                let response = reqwest::Client::new()
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (
                    status,
                    serde_json::from_slice::<serde_json::Value>(&response.bytes().await.unwrap())
                        .unwrap(),
                )
            }
        };
        let once = assertion(now, now + 60);
        let (status, body) = post(once.clone()).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = post(once).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        let (status, body) = post(assertion(now - 120, now - 60)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{body}"
        );
    }

    /// A key the server does not know, a key of another client, a wrong audience: each is the
    /// server's `invalid_client`, as an `Error::OAuth` without the assertion in it.
    #[tokio::test]
    async fn a_wrong_key_or_audience_is_a_typed_invalid_client() {
        let server = oidc::require().await;
        let cases = [
            (
                "unknown key",
                client(
                    &server,
                    oidc::PKJWT_ES256,
                    ClientAuth::private_key_jwt(key(
                        JwsAlgorithm::ES256,
                        "es256-other.pem",
                        "es256-1",
                    )),
                ),
            ),
            (
                "another client's key",
                client(
                    &server,
                    oidc::PKJWT_EDDSA,
                    ClientAuth::private_key_jwt(key(JwsAlgorithm::ES256, "es256.pem", "ed25519-1")),
                ),
            ),
            (
                "wrong audience",
                client(
                    &server,
                    oidc::PKJWT_RS256,
                    ClientAuth::private_key_jwt(key(JwsAlgorithm::RS256, "rs256.pem", "rs256-1")),
                )
                .assertion_audience("https://somewhere-else.example/"),
            ),
            (
                "wrong HS256 secret",
                OAuthClient::new(server.token_endpoint(), oidc::CSJWT)
                    .secret("not-the-secret-but-long-enough-for-hs256!!")
                    .auth_method(ClientAuth::client_secret_jwt()),
            ),
        ];
        for (what, registration) in cases {
            let err = ClientCredentials::with_client(registration)
                .into_auth()
                .token()
                .await
                .unwrap_err();
            assert!(matches!(err, authed::Error::OAuth(_)), "{what}: {err:?}");
            assert_eq!(
                err.oauth_error().map(|e| e.code.as_str()),
                Some("invalid_client"),
                "{what}: {err}"
            );
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains("eyJ"),
                "{what}: an assertion in the error: {shown}"
            );
        }
    }

    /// A key read from a private JWK signs assertions the server verifies with the public
    /// key it registered from the PEM.
    #[tokio::test]
    async fn a_key_from_a_private_jwk_gets_a_token() {
        let server = oidc::require().await;
        for (client_id, file, kid) in [
            (oidc::PKJWT_RS256, "rs256.pem", "rs256-1"),
            (oidc::PKJWT_ES256, "es256.pem", "es256-1"),
            (oidc::PKJWT_EDDSA, "ed25519.pem", "ed25519-1"),
        ] {
            let mut jwk = oidc::node_jwk(file);
            jwk["kid"] = kid.into();
            let key = SigningKey::from_jwk(jwk.to_string()).unwrap();
            ClientCredentials::with_client(client(
                &server,
                client_id,
                ClientAuth::private_key_jwt(key),
            ))
            .into_auth()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{client_id}: {e}\n{}", server.logs()));
        }
    }

    /// The issuer as `aud` (servers that want it) is accepted too.
    #[tokio::test]
    async fn the_issuer_as_audience_is_accepted() {
        let server = oidc::require().await;
        let registration = client(
            &server,
            oidc::PKJWT_EDDSA,
            ClientAuth::private_key_jwt(key(JwsAlgorithm::EdDSA, "ed25519.pem", "ed25519-1")),
        )
        .assertion_audience(&server.issuer);
        ClientCredentials::with_client(registration)
            .into_auth()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    }

    /// Revocation authenticates the client the same way (a fresh assertion there too).
    #[tokio::test]
    async fn revocation_authenticates_with_the_key() {
        let server = oidc::require().await;
        let registration = client(
            &server,
            oidc::PKJWT_RS256,
            ClientAuth::private_key_jwt(key(JwsAlgorithm::RS256, "rs256.pem", "rs256-1")),
        );
        let token = ClientCredentials::with_client(registration.clone())
            .into_auth()
            .token()
            .await
            .unwrap();
        registration
            .revoke(
                &server.revocation_endpoint(),
                token.access_token(),
                "access_token",
            )
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        // A key the server does not know is refused there as well.
        let stranger = client(
            &server,
            oidc::PKJWT_RS256,
            ClientAuth::private_key_jwt(key(JwsAlgorithm::ES256, "es256-other.pem", "rs256-1")),
        );
        let err = stranger
            .revoke(
                &server.revocation_endpoint(),
                token.access_token(),
                "access_token",
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.oauth_error().map(|e| e.code.as_str()),
            Some("invalid_client"),
            "{err}"
        );
    }
}

#[test]
fn a_key_of_the_wrong_type_is_a_mismatch_without_the_key() {
    for (alg, file) in [
        (JwsAlgorithm::RS256, "es256.pem"),
        (JwsAlgorithm::ES256, "rs256.pem"),
        (JwsAlgorithm::ES384, "es256.pem"),
        (JwsAlgorithm::EdDSA, "rs256.pem"),
        (JwsAlgorithm::ES256, "ed25519.pem"),
    ] {
        let pem = oidc::test_key(file);
        let err = SigningKey::from_pem(alg, pem.clone()).unwrap_err();
        assert_eq!(
            key_kind(&err),
            Some(KeyErrorKind::Mismatch),
            "{alg} {file}: {err}"
        );
        let shown = format!("{err} {err:?}");
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for line in body {
            assert!(
                !shown.contains(line),
                "{alg} {file}: key material in {shown}"
            );
        }
    }
}

#[test]
fn bad_pem_is_malformed_or_unsupported() {
    let cases = [
        ("no PEM at all", KeyErrorKind::Malformed),
        (
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            KeyErrorKind::Malformed,
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            KeyErrorKind::Malformed,
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n",
            KeyErrorKind::Malformed,
        ),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            KeyErrorKind::Unsupported,
        ),
        // A PKCS#8 RSA key cut short: the header says RSA, aws-lc cannot parse the rest.
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC\n-----END PRIVATE KEY-----\n",
            KeyErrorKind::Malformed,
        ),
    ];
    for (pem, kind) in cases {
        let err = SigningKey::from_pem(JwsAlgorithm::RS256, pem).unwrap_err();
        assert_eq!(key_kind(&err), Some(kind), "{pem:?}: {err}");
    }
}

#[test]
fn a_pem_file_is_read_with_the_secret_file_checks() {
    let dir = tempdir::TempDir::new("keyauth");
    let path = dir.path().join("key.pem");
    std::fs::write(&path, oidc::test_key("ed25519.pem")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SigningKey::from_pem_file(JwsAlgorithm::EdDSA, &path).unwrap_err();
        assert!(
            err.is_config(),
            "a group-readable key file is refused: {err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let key = SigningKey::from_pem_file(JwsAlgorithm::EdDSA, &path).unwrap();
    assert_eq!(key.algorithm(), JwsAlgorithm::EdDSA);
}

/// A private JWK of each type (exported by Node, an independent encoder) reads to a key with
/// its `kid`; a public JWK, a wrong `alg`, a symmetric key and non-JSON are typed errors.
#[test]
fn private_jwks_of_each_type_are_read() {
    for (file, alg, kty) in [
        ("rs256.pem", JwsAlgorithm::RS256, "RSA"),
        ("es256.pem", JwsAlgorithm::ES256, "EC"),
        ("ed25519.pem", JwsAlgorithm::EdDSA, "OKP"),
    ] {
        let jwk = oidc::node_jwk(file);
        assert_eq!(jwk["kty"], kty);
        let mut with_kid = jwk.clone();
        with_kid["kid"] = "from-jwk".into();
        let key =
            SigningKey::from_jwk(with_kid.to_string()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.algorithm(), alg, "{file}");
        assert_eq!(key.key_id(), Some("from-jwk"));
        assert!(!format!("{key:?}").contains(jwk["d"].as_str().unwrap()));

        // The public JWK (no `d`) is not a signing key.
        let mut public = jwk.clone();
        public.as_object_mut().unwrap().remove("d");
        let err = SigningKey::from_jwk(public.to_string()).unwrap_err();
        assert_eq!(
            key_kind(&err),
            Some(KeyErrorKind::Malformed),
            "{file}: {err}"
        );

        // An `alg` that does not fit the key.
        let mut wrong = jwk.clone();
        wrong["alg"] = if kty == "RSA" { "ES256" } else { "RS256" }.into();
        let err = SigningKey::from_jwk(wrong.to_string()).unwrap_err();
        assert_eq!(
            key_kind(&err),
            Some(KeyErrorKind::Mismatch),
            "{file}: {err}"
        );
        assert!(!format!("{err:?}").contains(jwk["d"].as_str().unwrap()));
    }
    let err = SigningKey::from_jwk(r#"{"kty":"oct","k":"c2VjcmV0"}"#).unwrap_err();
    assert_eq!(key_kind(&err), Some(KeyErrorKind::Unsupported));
    let err = SigningKey::from_jwk("not json").unwrap_err();
    assert_eq!(key_kind(&err), Some(KeyErrorKind::Malformed));
}
