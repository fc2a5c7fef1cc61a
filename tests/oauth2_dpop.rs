//! DPoP (RFC 9449): proofs on token and resource requests, the servers' nonces, DPoP-bound
//! refresh tokens and the key kept with the session. Against node-oidc-provider (tests/oidc/,
//! configured to require a nonce in every proof) in `needs_oidc`, and against wiremock for
//! what must be seen byte by byte: a proof per attempt and per redirect hop, `htu` without
//! the query, `ath`, and nothing of DPoP sent to another origin.
//! `AUTHED_TEST_SKIP=oidc` with `bash scripts/test.sh` skips the `needs_oidc` tests.

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/tempdir.rs"]
mod tempdir;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use authed::{
    Client, ExposeSecret,
    oauth2::{
        AuthorizationCode, ClientCredentials, DpopKey, JwsAlgorithm, OAuthClient, RefreshToken,
        Token,
    },
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

/// The header and claims of a compact JWS.
fn decode(jws: &str) -> (Value, Value) {
    let mut parts = jws.split('.');
    let mut part = || {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    (part(), part())
}

fn proof_of(request: &Request) -> Option<(Value, Value)> {
    request
        .headers
        .get("dpop")
        .map(|v| decode(v.to_str().unwrap()))
}

fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(oidc::sha256(token.as_bytes()))
}

mod needs_oidc {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct UserInfo {
        sub: String,
    }

    /// Counts the client's requests to the authorization server.
    fn counted(client: OAuthClient) -> (OAuthClient, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let client = client.on_audit(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        (client, count)
    }

    #[tokio::test]
    async fn client_credentials_token_is_dpop_bound_after_a_nonce_round_trip() {
        let server = oidc::require().await;
        for alg in [JwsAlgorithm::ES256, JwsAlgorithm::EdDSA] {
            let key = DpopKey::generate_with(alg).unwrap();
            let (client, requests) = counted(
                OAuthClient::new(server.token_endpoint(), oidc::DPOP_CC)
                    .secret(oidc::CC_SECRET)
                    .dpop(key.clone()),
            );
            let auth = ClientCredentials::with_client(client.clone())
                .scopes(["api:read"])
                .resource(oidc::TEST_API)
                .into_auth();
            let token = auth
                .token()
                .await
                .unwrap_or_else(|e| panic!("{alg}: {e}\n{}", server.logs()));
            assert_eq!(token.token_type(), "DPoP", "{alg}");
            assert_eq!(
                token.dpop_key().map(DpopKey::thumbprint),
                Some(key.thumbprint())
            );
            // The access token is a JWT here: the server bound it to our key's thumbprint.
            let (_, claims) = decode(token.access_token().expose_secret());
            assert_eq!(claims["cnf"]["jkt"], key.thumbprint(), "{alg}");
            assert_eq!(
                requests.load(Ordering::SeqCst),
                2,
                "{alg}: use_dpop_nonce, then the retry with the nonce"
            );
            // The next token request carries the remembered nonce: no round trip.
            ClientCredentials::with_client(client)
                .into_auth()
                .token()
                .await
                .unwrap();
            assert_eq!(requests.load(Ordering::SeqCst), 3, "{alg}");
        }
        // The same client without DPoP is refused: the server requires bound tokens.
        let err = ClientCredentials::new(server.token_endpoint(), oidc::DPOP_CC, oidc::CC_SECRET)
            .into_auth()
            .token()
            .await
            .unwrap_err();
        assert!(err.oauth_error().is_some(), "{err}");
    }

    /// Logs in as `ada` with the DPoP public client through the loopback listener.
    async fn login(server: &Arc<oidc::OidcServer>, client: OAuthClient) -> Token {
        let flow = authed::oauth2::AuthorizationCode::new(client, server.authorization_endpoint())
            .scopes(["openid", "offline_access"])
            .param("prompt", "consent");
        let browser = server.clone();
        flow.login_loopback(0, Duration::from_secs(30), move |url| {
            let url = url.to_string();
            tokio::spawn(async move {
                browser
                    .approve_and_deliver(&url, "ada")
                    .await
                    .expect("the test browser approves the login");
            });
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()))
    }

    fn native(server: &oidc::OidcServer, key: &DpopKey) -> OAuthClient {
        OAuthClient::new(server.token_endpoint(), oidc::DPOP_NATIVE).dpop(key.clone())
    }

    #[tokio::test]
    async fn authorization_code_gives_a_dpop_token_that_userinfo_accepts_with_proofs() {
        let server = Arc::new(oidc::require().await);
        let key = DpopKey::generate().unwrap();
        let token = login(&server, native(&server, &key)).await;
        assert_eq!(token.token_type(), "DPoP");
        assert!(token.refresh_token().is_some());

        let auth = RefreshToken::new(native(&server, &key)).into_auth();
        auth.set_token(token.clone()).await.unwrap();
        let api = Client::builder(&server.issuer).auth(auth).build().unwrap();
        // The first proof to userinfo has no nonce: 401 use_dpop_nonce, then the replay.
        let response = api
            .get("me")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_eq!(response.attempts(), 2, "the nonce round trip");
        let me: UserInfo = response.json().await.unwrap();
        assert_eq!(me.sub, "ada");
        // Then the nonce is known: one attempt, a fresh proof.
        let response = api.get("me").send().await.unwrap();
        assert_eq!(response.attempts(), 1);

        // The token is worthless as a bearer token.
        let plain = reqwest::Client::new()
            .get(server.url("/me"))
            .bearer_auth(token.access_token().expose_secret())
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 401);
    }

    #[tokio::test]
    async fn a_dpop_bound_refresh_token_is_refreshed_across_several_expiries() {
        let server = Arc::new(oidc::require().await);
        let key = DpopKey::generate_with(JwsAlgorithm::EdDSA).unwrap();
        let token = login(&server, native(&server, &key)).await;
        let auth = RefreshToken::new(native(&server, &key)).into_auth();
        auth.set_token(token).await.unwrap();
        let api = Client::builder(&server.issuer)
            .auth(auth.clone())
            .build()
            .unwrap();
        // Access tokens live 3 s: about 8 s of calls make several refreshes, each a token
        // request with a proof of the key the refresh token is bound to.
        let mut access_tokens = vec![];
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(8) {
            let me: UserInfo = api
                .get("me")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()))
                .json()
                .await
                .unwrap();
            assert_eq!(me.sub, "ada");
            let token = auth.token().await.unwrap();
            assert_eq!(token.token_type(), "DPoP");
            let at = token.access_token().expose_secret().to_owned();
            if access_tokens.last() != Some(&at) {
                access_tokens.push(at);
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        assert!(
            access_tokens.len() >= 4,
            "several refreshes: {} access tokens",
            access_tokens.len()
        );

        // Another key cannot use the refresh token: it is bound to ours.
        let stolen = auth
            .token()
            .await
            .unwrap()
            .with_expires_in(Duration::ZERO)
            .with_dpop_key(DpopKey::generate().unwrap());
        let thief = RefreshToken::new(OAuthClient::new(server.token_endpoint(), oidc::DPOP_NATIVE))
            .into_auth();
        thief.set_token(stolen).await.unwrap();
        let err = thief.token().await.unwrap_err();
        assert!(err.is_reauth_required(), "{err}");
    }

    /// The paths of the client's requests to the authorization server, in order.
    fn recorded(client: OAuthClient) -> (OAuthClient, Arc<std::sync::Mutex<Vec<String>>>) {
        let paths = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = paths.clone();
        let client = client.on_audit(move |event| {
            let path = url::Url::parse(&event.url).unwrap().path().to_owned();
            seen.lock().unwrap().push(path);
        });
        (client, paths)
    }

    /// A pushed authorization request with a proof: the server wants a nonce there too, and
    /// the one it gives is used at the token endpoint (one server, one nonce), so the whole
    /// login makes one round trip; the token works at userinfo.
    #[tokio::test]
    async fn a_pushed_dpop_login_makes_one_nonce_round_trip_for_the_whole_server() {
        let server = Arc::new(oidc::require().await);
        let metadata = authed::oauth2::ServerMetadata::discover(&server.issuer)
            .await
            .unwrap();
        let key = DpopKey::generate().unwrap();
        let (client, paths) = recorded(
            metadata
                .client(oidc::DPOP_NATIVE)
                .unwrap()
                .dpop(key.clone()),
        );
        let flow = metadata
            .authorization_code(client.clone())
            .unwrap()
            .use_par(true)
            .scopes(["openid", "offline_access"])
            .param("prompt", "consent");
        let browser = server.clone();
        let token = flow
            .login_loopback(0, Duration::from_secs(30), move |url| {
                let url = url.to_string();
                tokio::spawn(async move {
                    browser.approve_and_deliver(&url, "ada").await.unwrap();
                });
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_eq!(token.token_type(), "DPoP");
        let posts: Vec<_> = paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p != "/jwks")
            .cloned()
            .collect();
        assert_eq!(
            posts,
            ["/request", "/request", "/token"],
            "use_dpop_nonce at the PAR endpoint, the retry, then the token request with the nonce"
        );

        let auth = RefreshToken::new(client).into_auth();
        auth.set_token(token).await.unwrap();
        let api = Client::builder(&server.issuer).auth(auth).build().unwrap();
        let me: UserInfo = api.get("me").send().await.unwrap().json().await.unwrap();
        assert_eq!(me.sub, "ada");
    }

    /// The server honours `dpop_jkt`: a code bound to a key is not redeemed without a proof
    /// of it (the same login without `dpop_jkt` is).
    #[tokio::test]
    async fn a_code_bound_by_dpop_jkt_is_refused_without_a_proof_of_that_key() {
        let server = Arc::new(oidc::require().await);
        let key = DpopKey::generate().unwrap();
        let flow = AuthorizationCode::new(
            OAuthClient::new(server.token_endpoint(), oidc::NATIVE),
            server.authorization_endpoint(),
        )
        .redirect_uri("http://127.0.0.1:9/callback")
        .scopes(["openid"]);
        let bound = flow
            .clone()
            .param("dpop_jkt", key.thumbprint())
            .begin()
            .unwrap();
        let callback = server
            .approve_authorization(bound.url().as_str(), "ada")
            .await
            .unwrap();
        let err = bound.exchange(&callback).await.unwrap_err();
        assert_eq!(
            err.oauth_error().map(|e| e.code.as_str()),
            Some("invalid_grant"),
            "{err}"
        );

        let unbound = flow.begin().unwrap();
        let callback = server
            .approve_authorization(unbound.url().as_str(), "ada")
            .await
            .unwrap();
        unbound
            .exchange(&callback)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    }

    /// A key read from PEM (as from a secret store) binds the token; introspection and
    /// revocation carry proofs with the server's nonce, and see the binding and the
    /// revocation.
    #[tokio::test]
    async fn a_pem_key_binds_the_token_and_introspection_and_revocation_carry_proofs() {
        let server = oidc::require().await;
        let key = DpopKey::from_pem(oidc::test_key("es256.pem")).unwrap();
        let (client, paths) = recorded(
            OAuthClient::new(server.token_endpoint(), oidc::DPOP_CC)
                .secret(oidc::CC_SECRET)
                .dpop(key.clone()),
        );
        let token = ClientCredentials::with_client(client.clone())
            .scopes(["api:read"])
            .into_auth()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_eq!(token.token_type(), "DPoP");

        // An opaque token: introspection tells what it is bound to.
        let introspection = server.introspection_endpoint();
        let answer = client
            .introspect(&introspection, token.access_token(), Some("access_token"))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(answer.active, "{answer:?}");
        assert_eq!(answer.extra["cnf"]["jkt"], key.thumbprint());
        client
            .revoke(
                &server.revocation_endpoint(),
                token.access_token(),
                "access_token",
            )
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        let answer = client
            .introspect(&introspection, token.access_token(), Some("access_token"))
            .await
            .unwrap();
        assert!(!answer.active, "revoked");
        let paths = paths.lock().unwrap().clone();
        assert_eq!(
            paths.iter().filter(|p| p.contains("introspect")).count(),
            2,
            "{paths:?}"
        );
        assert_eq!(
            paths.iter().filter(|p| p.contains("revo")).count(),
            1,
            "{paths:?}"
        );
    }

    #[cfg(feature = "file-store")] // a file, as a CLI's next run would find it
    #[tokio::test]
    async fn a_stored_dpop_session_is_renewed_by_a_new_token_auth() {
        let server = Arc::new(oidc::require().await);
        let dir = std::env::temp_dir().join(format!("authed-dpop-{}", std::process::id()));
        let path = dir.join("credentials.json");
        let store = || {
            authed::store::CredentialTokenStore::new(authed::store::FileStore::at(&path), "dpop")
                .lock_dir(&dir)
        };
        {
            // Run 1: log in with a key, store the session, call the API, drop everything.
            let key = DpopKey::generate().unwrap();
            let token = login(&server, native(&server, &key)).await;
            let auth = RefreshToken::new(native(&server, &key))
                .into_auth()
                .store(store());
            auth.set_token(token).await.unwrap();
            let api = Client::builder(&server.issuer).auth(auth).build().unwrap();
            api.get("me").send().await.unwrap();
        }
        // Run 2: after the access token expired, a client with a new key of its own (as a
        // program that generates one at start would have): the stored key refreshes.
        tokio::time::sleep(oidc::ACCESS_TOKEN_TTL + Duration::from_millis(500)).await;
        let fresh = DpopKey::generate().unwrap();
        let auth = RefreshToken::new(native(&server, &fresh))
            .into_auth()
            .store(store());
        let api = Client::builder(&server.issuer)
            .auth(auth.clone())
            .build()
            .unwrap();
        let me: UserInfo = api
            .get("me")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()))
            .json()
            .await
            .unwrap();
        assert_eq!(me.sub, "ada");
        let token = auth.token().await.unwrap();
        assert_eq!(token.token_type(), "DPoP");
        assert_ne!(
            token.dpop_key().map(DpopKey::thumbprint),
            Some(fresh.thumbprint()),
            "the stored key, not the new one"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A token endpoint on `server` that answers a DPoP token `at-1`.
async fn token_endpoint(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "at-1", "token_type": "DPoP", "expires_in": 3600,
        })))
        .mount(server)
        .await;
}

fn dpop_client(server: &MockServer, key: &DpopKey) -> OAuthClient {
    OAuthClient::new(format!("{}/token", server.uri()), "svc")
        .secret("s3cret")
        .dpop(key.clone())
}

#[tokio::test]
async fn every_attempt_carries_its_own_proof_with_htu_and_ath() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    first_then(
        &server,
        "GET",
        "/data",
        ResponseTemplate::new(503).insert_header("retry-after", "0"),
        ResponseTemplate::new(200),
    )
    .await;
    let key = DpopKey::generate().unwrap();
    let auth = ClientCredentials::with_client(dpop_client(&server, &key)).into_auth();
    let api = Client::builder(server.uri()).auth(auth).build().unwrap();
    let response = api.get("data?page=2#top").send().await.unwrap();
    assert_eq!(response.attempts(), 2);

    let requests = server.received_requests().await.unwrap();
    let token_request = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    let (header, claims) = proof_of(token_request).expect("a proof on the token request");
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["jwk"]["kty"], "EC");
    assert!(header["jwk"].get("d").is_none());
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("{}/token", server.uri()));
    assert!(claims.get("ath").is_none(), "no token yet");

    let data: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/data")
        .collect();
    assert_eq!(data.len(), 2);
    let mut jtis = vec![];
    for request in data {
        assert_eq!(request.headers["authorization"], "DPoP at-1");
        let (header, claims) = proof_of(request).unwrap();
        assert_eq!(header["jwk"], proof_of(token_request).unwrap().0["jwk"]);
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], format!("{}/data", server.uri()), "no query");
        assert_eq!(claims["ath"], ath("at-1"));
        assert!(claims["iat"].is_u64());
        jtis.push(claims["jti"].as_str().unwrap().to_owned());
    }
    assert_ne!(jtis[0], jtis[1], "a new proof for the retry");
}

#[tokio::test]
async fn the_token_endpoint_nonce_is_used_on_the_retry_and_remembered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("dpop-nonce", "as-nonce-1")
                .set_body_json(serde_json::json!({
                    "error": "use_dpop_nonce",
                    "error_description": "Authorization server requires nonce in DPoP proof",
                })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("dpop-nonce", "as-nonce-2")
                .set_body_json(serde_json::json!({
                    "access_token": "at-1", "token_type": "DPoP", "expires_in": 3600,
                })),
        )
        .mount(&server)
        .await;
    let key = DpopKey::generate().unwrap();
    let client = dpop_client(&server, &key);
    let token = ClientCredentials::with_client(client.clone())
        .into_auth()
        .token()
        .await
        .unwrap();
    assert_eq!(token.token_type(), "DPoP");
    // A second cache over the same client: the nonce of the last answer, at once.
    ClientCredentials::with_client(client)
        .into_auth()
        .token()
        .await
        .unwrap();

    let nonces: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| proof_of(r).unwrap().1)
        .map(|claims| {
            claims
                .get("nonce")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        nonces,
        [None, Some("as-nonce-1".into()), Some("as-nonce-2".into())]
    );
}

#[tokio::test]
async fn a_resource_server_nonce_challenge_is_answered_once_without_a_new_token() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    first_then(
        &server,
        "GET",
        "/data",
        ResponseTemplate::new(401)
            .insert_header(
                "www-authenticate",
                r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
            )
            .insert_header("dpop-nonce", "rs-nonce-1"),
        ResponseTemplate::new(200),
    )
    .await;
    let key = DpopKey::generate().unwrap();
    let auth = ClientCredentials::with_client(dpop_client(&server, &key)).into_auth();
    let api = Client::builder(server.uri()).auth(auth).build().unwrap();
    let response = api.get("data").send().await.unwrap();
    assert_eq!(response.attempts(), 2);
    api.get("data").send().await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let token_requests = requests.iter().filter(|r| r.url.path() == "/token").count();
    assert_eq!(token_requests, 1, "the token was fine: no refresh");
    let nonces: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/data")
        .map(|r| proof_of(r).unwrap().1)
        .map(|claims| {
            claims
                .get("nonce")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        nonces,
        [None, Some("rs-nonce-1".into()), Some("rs-nonce-1".into())],
        "the nonce on the replay, and remembered for the origin"
    );
}

#[tokio::test]
async fn each_redirect_hop_gets_a_proof_and_another_origin_gets_nothing() {
    let home = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    token_endpoint(&home).await;
    Mock::given(method("GET"))
        .and(path("/start"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/next?x=1"))
        .mount(&home)
        .await;
    Mock::given(method("GET"))
        .and(path("/next"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/land", elsewhere.uri())),
        )
        .mount(&home)
        .await;
    Mock::given(method("GET"))
        .and(path("/land"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    let key = DpopKey::generate().unwrap();
    let auth = ClientCredentials::with_client(dpop_client(&home, &key)).into_auth();
    let api = Client::builder(home.uri()).auth(auth).build().unwrap();
    api.get("start").send().await.unwrap();

    let hops: Vec<_> = home
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() != "/token")
        .collect();
    assert_eq!(hops.len(), 2);
    let claims: Vec<_> = hops.iter().map(|r| proof_of(r).unwrap().1).collect();
    assert_eq!(claims[0]["htu"], format!("{}/start", home.uri()));
    assert_eq!(claims[1]["htu"], format!("{}/next", home.uri()));
    assert_ne!(claims[0]["jti"], claims[1]["jti"]);

    let landed = elsewhere.received_requests().await.unwrap();
    assert_eq!(landed.len(), 1);
    for name in ["authorization", "dpop"] {
        assert!(
            !landed[0].headers.contains_key(name),
            "{name} went to another origin"
        );
    }
}

#[tokio::test]
async fn a_dpop_token_without_a_key_is_refused_not_sent_as_bearer() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    // The server answers DPoP to a client that did not ask for it.
    let auth = ClientCredentials::with_client(
        OAuthClient::new(format!("{}/token", server.uri()), "svc").secret("s3cret"),
    )
    .into_auth();
    let api = Client::builder(server.uri()).auth(auth).build().unwrap();
    let err = api.get("data").send().await.unwrap_err();
    assert!(err.to_string().contains("OAuthClient::dpop"), "{err}");
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.url.path() == "/token"));
}

#[test]
fn debug_shows_no_private_key() {
    let key = DpopKey::generate().unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains(key.thumbprint()) && shown.contains("[redacted]"));
    let client = OAuthClient::new("https://auth.example.com/token", "c").dpop(key.clone());
    assert!(format!("{client:?}").contains("DpopKey"));
}

// --- The rest of issue 12's DPoP: `dpop_jkt`, proofs on PAR, revocation and introspection,
// nonces from successful answers, keys read from PEM and JWK.

/// The form of a request, as pairs.
fn form_of(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn nonce_of(request: &Request) -> Option<String> {
    proof_of(request)
        .unwrap()
        .1
        .get("nonce")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// An endpoint at `path` that first answers `use_dpop_nonce` with `nonce`, then `ok`.
async fn wants_a_nonce(server: &MockServer, at: &str, nonce: &str, ok: ResponseTemplate) {
    let nonce_wanted = ResponseTemplate::new(400)
        .insert_header("dpop-nonce", nonce)
        .set_body_json(serde_json::json!({"error": "use_dpop_nonce"}));
    first_then(server, "POST", at, nonce_wanted, ok).await;
}

#[test]
fn an_authorization_request_carries_the_keys_thumbprint_as_dpop_jkt() {
    let key = DpopKey::generate().unwrap();
    let flow = |client: OAuthClient| {
        AuthorizationCode::new(client, "https://auth.example.com/authorize")
            .redirect_uri("http://127.0.0.1:8400/callback")
    };
    let bound = flow(OAuthClient::new("https://auth.example.com/token", "app").dpop(key.clone()))
        .begin()
        .unwrap();
    let pairs: Vec<(String, String)> = bound.url().query_pairs().into_owned().collect();
    assert_eq!(param(&pairs, "dpop_jkt"), [key.thumbprint()]);

    let plain = flow(OAuthClient::new("https://auth.example.com/token", "app"))
        .begin()
        .unwrap();
    assert!(!plain.url().query().unwrap().contains("dpop_jkt"));
}

#[tokio::test]
async fn a_pushed_request_carries_dpop_jkt_and_a_proof_and_answers_the_nonce() {
    let server = MockServer::start().await;
    wants_a_nonce(
        &server,
        "/par",
        "par-nonce-1",
        ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "request_uri": "urn:ietf:params:oauth:request_uri:abc", "expires_in": 60,
        })),
    )
    .await;
    let key = DpopKey::generate_with(JwsAlgorithm::EdDSA).unwrap();
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app").dpop(key.clone());
    let pending = AuthorizationCode::new(client, format!("{}/authorize", server.uri()))
        .redirect_uri("http://127.0.0.1:8400/callback")
        .pushed_authorization_endpoint(format!("{}/par", server.uri()))
        .begin_pushed()
        .await
        .unwrap();
    assert!(pending.url().query().unwrap().contains("request_uri="));

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "use_dpop_nonce, then the retry");
    for request in &requests {
        assert_eq!(param(&form_of(request), "dpop_jkt"), [key.thumbprint()]);
        let (header, claims) = proof_of(request).expect("a proof on the pushed request");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], format!("{}/par", server.uri()));
        assert!(claims.get("ath").is_none());
    }
    assert_eq!(nonce_of(&requests[0]), None);
    assert_eq!(nonce_of(&requests[1]).as_deref(), Some("par-nonce-1"));
}

#[tokio::test]
async fn revocation_and_introspection_carry_a_proof_when_the_client_has_a_key() {
    let server = MockServer::start().await;
    wants_a_nonce(
        &server,
        "/introspect",
        "as-nonce-1",
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"active": true})),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let key = DpopKey::generate().unwrap();
    let client = dpop_client(&server, &key);
    let token = authed::Secret::new("at-1".to_owned());
    let answer = client
        .introspect(
            &format!("{}/introspect", server.uri()),
            &token,
            Some("access_token"),
        )
        .await
        .unwrap();
    assert!(answer.active);
    client
        .revoke(&format!("{}/revoke", server.uri()), &token, "access_token")
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    let paths: Vec<_> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(paths, ["/introspect", "/introspect", "/revoke"]);
    for request in &requests {
        let (_, claims) = proof_of(request).expect("a proof");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(
            claims["htu"],
            format!("{}{}", server.uri(), request.url.path())
        );
        assert!(claims.get("ath").is_none(), "the token is not presented");
        // The client still authenticates as usual.
        assert!(
            request.headers["authorization"]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
    }
    let nonces: Vec<_> = requests.iter().map(nonce_of).collect();
    assert_eq!(
        nonces,
        [None, Some("as-nonce-1".into()), Some("as-nonce-1".into())],
        "the retry carries the nonce, and the same server's next endpoint too"
    );

    // Without a key: no proof.
    let plain = OAuthClient::new(format!("{}/token", server.uri()), "svc").secret("s3cret");
    plain
        .revoke(&format!("{}/revoke", server.uri()), &token, "access_token")
        .await
        .unwrap();
    let last = server.received_requests().await.unwrap().pop().unwrap();
    assert!(proof_of(&last).is_none());
}

#[tokio::test]
async fn a_nonce_on_a_successful_answer_is_used_for_that_origin_only() {
    let home = MockServer::start().await;
    let other = MockServer::start().await;
    token_endpoint(&home).await;
    first_then(
        &home,
        "GET",
        "/data",
        ResponseTemplate::new(200).insert_header("dpop-nonce", "home-1"),
        ResponseTemplate::new(200).insert_header("dpop-nonce", "home-2"),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/data"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&other)
        .await;
    let key = DpopKey::generate().unwrap();
    let auth = ClientCredentials::with_client(dpop_client(&home, &key)).into_auth();
    let api = Client::builder(home.uri())
        .allow_origin(other.uri())
        .auth(auth)
        .build()
        .unwrap();
    for _ in 0..3 {
        let response = api.get("data").send().await.unwrap();
        assert_eq!(response.attempts(), 1, "no 401 round trip");
    }
    api.get(&format!("{}/data", other.uri()))
        .send()
        .await
        .unwrap();

    let at_home: Vec<_> = home
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/data")
        .map(nonce_of)
        .collect();
    assert_eq!(
        at_home,
        [None, Some("home-1".into()), Some("home-2".into())],
        "each answer's nonce goes into the next proof"
    );
    let elsewhere = other.received_requests().await.unwrap();
    assert_eq!(elsewhere.len(), 1);
    assert_eq!(
        nonce_of(&elsewhere[0]),
        None,
        "another origin, no nonce of home's"
    );
}

#[test]
fn a_dpop_key_reads_from_pem_and_jwk_as_the_same_key() {
    for (file, alg) in [
        ("es256.pem", JwsAlgorithm::ES256),
        ("ed25519.pem", JwsAlgorithm::EdDSA),
    ] {
        let pem = oidc::test_key(file);
        let from_pem = DpopKey::from_pem(pem.as_str()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(from_pem.algorithm(), alg);
        let jwk = oidc::node_jwk(file);
        let from_jwk = DpopKey::from_jwk(jwk.to_string()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(from_jwk.algorithm(), alg);
        assert_eq!(from_pem.thumbprint(), from_jwk.thumbprint(), "{file}");
        // RFC 7638, computed here from Node's public members: the required ones, in order.
        let members = if jwk["kty"] == "EC" {
            format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            )
        } else {
            format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                jwk["x"].as_str().unwrap()
            )
        };
        assert_eq!(
            from_pem.thumbprint(),
            URL_SAFE_NO_PAD.encode(oidc::sha256(members.as_bytes()))
        );
        let d = jwk["d"].as_str().unwrap();
        assert!(!format!("{from_jwk:?}").contains(d));

        // A JWK whose `alg` is not the key's DPoP algorithm.
        let mut wrong = jwk.clone();
        wrong["alg"] = "RS256".into();
        let err = DpopKey::from_jwk(wrong.to_string()).unwrap_err();
        assert!(err.is_key() && !err.to_string().contains(d), "{err}");
    }
    // An RSA key signs no DPoP proof here: a typed error that says what to use.
    let err = DpopKey::from_pem(oidc::test_key("rs256.pem")).unwrap_err();
    assert!(err.is_key(), "{err}");
    assert!(err.to_string().contains("P-256"), "{err}");
    let err = DpopKey::from_jwk(oidc::node_jwk("rs256.pem").to_string()).unwrap_err();
    assert!(err.is_key(), "{err}");
}

#[test]
fn a_dpop_key_file_is_read_with_the_secret_file_checks() {
    let dir = tempdir::TempDir::new("dpop-key");
    let path = dir.path().join("dpop.pem");
    std::fs::write(&path, oidc::test_key("es256.pem")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(DpopKey::from_pem_file(&path).unwrap_err().is_config());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let key = DpopKey::from_pem_file(&path).unwrap();
    assert_eq!(
        key.thumbprint(),
        DpopKey::from_pem(oidc::test_key("es256.pem"))
            .unwrap()
            .thumbprint()
    );
}

/// Answers `verb at` with `first` once, then with `then` (the one-shot mock has the higher
/// priority while it lasts).
async fn first_then(
    server: &MockServer,
    verb: &str,
    at: &str,
    first: ResponseTemplate,
    then: ResponseTemplate,
) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(then)
        .mount(server)
        .await;
}
