//! The canary test over every OAuth grant, against the real authorization server: the client
//! secret, authorization codes, PKCE verifiers, device codes, access, refresh and ID tokens
//! never appear in Debug or Display of any type, in errors, or in `tracing` output at TRACE
//! (with `log` records bridged in). Nor do private keys (PEM and JWK) and the JWT assertions
//! signed with them (`private_key_jwt`, `client_secret_jwt`, the JWT bearer grant), nor
//! DPoP private keys, proofs and server nonces.
//!
//! The secrets are learned from the wire: the client talks to the server through a recording
//! TCP proxy on 127.0.0.1, and every credential-like field of every request and response that
//! crossed it is then looked for in what the client printed.

#![cfg(feature = "oauth2")]

#[path = "support/capture.rs"]
mod capture;
#[path = "support/oidc.rs"]
mod oidc;

use std::{sync::Arc, time::Duration};

use authed::{
    Client,
    oauth2::{
        AuthorizationCode, ClientAuth, ClientCredentials, DeviceAuthorization, DpopKey,
        JwsAlgorithm, JwtBearer, OAuthClient, RefreshToken, SigningKey, Token,
    },
};
use capture::Capture;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A TCP proxy to `upstream` that records every byte in both directions.
async fn recording_proxy(upstream: String, wire: Capture) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let up = wire.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    up.push(&buf[..n]);
                    up.push(b"\n");
                }
            });
            let down = wire.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    down.push(&buf[..n]);
                    down.push(b"\n");
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Every credential-like value in the recorded traffic: JSON fields of responses and form
/// fields of requests.
fn secrets_on_the_wire(wire: &str) -> Vec<String> {
    const NAMES: &[&str] = &[
        "access_token",
        "refresh_token",
        "id_token",
        "device_code",
        "code",
        "code_verifier",
        "client_secret",
        "token",
        "client_assertion",
        "assertion",
    ];
    let mut found = Vec::new();
    for line in wire.lines() {
        // Form bodies (requests).
        for (name, value) in authed::url::form_urlencoded::parse(line.as_bytes()) {
            if NAMES.contains(&name.as_ref()) && value.len() >= 8 {
                found.push(value.into_owned());
            }
        }
        // JSON bodies (responses).
        if let Some(start) = line.find('{')
            && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&line[start..])
        {
            for name in NAMES {
                if let Some(Value::String(v)) = map.get(*name)
                    && v.len() >= 8
                {
                    found.push(v.clone());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

mod needs_oidc {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_oauth_secret_escapes() {
        let capture = Capture::install_global_trace();

        let server = oidc::require().await;
        let server = Arc::new(server);
        let wire = Capture::default();
        let upstream = server.issuer.trim_start_matches("http://").to_owned();
        let proxy = recording_proxy(upstream, wire.clone()).await;
        let token_url = format!("{proxy}/token");
        let mut shown = String::new();
        let mut show = |label: &str, text: String| {
            shown.push_str(label);
            shown.push_str(&text);
            shown.push('\n');
        };

        // Client credentials, right and wrong secret.
        let cc = ClientCredentials::new(&token_url, oidc::CC_BASIC, oidc::CC_SECRET).into_auth();
        let token = cc.token().await.unwrap();
        show("cc token", format!("{token:?}"));
        show("cc auth", format!("{cc:?}"));
        let err = ClientCredentials::new(&token_url, oidc::CC_BASIC, "wrong-s3cret-value")
            .into_auth()
            .token()
            .await
            .unwrap_err();
        show("cc error", format!("{err} {err:?}"));

        // Authorization code + PKCE (the browser talks to the server directly; the client's
        // token requests go through the proxy).
        let native = OAuthClient::new(&token_url, oidc::NATIVE);
        show("client", format!("{native:?}"));
        let flow = AuthorizationCode::new(native.clone(), server.authorization_endpoint())
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid", "offline_access"])
            .param("prompt", "consent");
        let pending = flow.begin().unwrap();
        show("pending", format!("{pending:?}"));
        let location = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let callback = authed::url::Url::parse(&location).unwrap();
        let token = pending.exchange(callback.as_str()).await.unwrap();
        show("code token", format!("{token:?}"));
        // Replaying the code is refused: an error that had a code in its request.
        let replay = flow.begin().unwrap();
        let err = replay.exchange(callback.as_str()).await.unwrap_err();
        show("replayed code (wrong state)", format!("{err} {err:?}"));

        // Refresh with rotation, through a client that calls the real API.
        let auth = RefreshToken::new(native.clone()).into_auth();
        auth.set_token(token.with_expires_in(Duration::ZERO))
            .await
            .unwrap();
        let api = Client::builder(&server.issuer)
            .auth(auth.clone())
            .build()
            .unwrap();
        let response = api.get("me").send().await.unwrap();
        show("response", format!("{response:?}"));
        show("refreshed auth", format!("{auth:?}"));
        let err = api
            .get("me")
            .auth(authed::auth::Bearer::new("not-a-real-token-value"))
            .send()
            .await
            .unwrap_err();
        show("401", format!("{err} {err:?}"));

        // Device flow.
        let device = DeviceAuthorization::new(
            OAuthClient::new(&token_url, oidc::DEVICE),
            format!("{proxy}/device/auth"),
        )
        .scopes(["openid", "offline_access"]);
        let browser = server.clone();
        let token: Token = device
            .login(|code| {
                show("device code", format!("{code:?}"));
                let user_code = code.user_code.clone();
                tokio::spawn(
                    async move { browser.approve_device(&user_code, "ada").await.unwrap() },
                );
            })
            .await
            .unwrap();
        show("device token", format!("{token:?}"));

        // Revocation and logout.
        let session = RefreshToken::new(OAuthClient::new(&token_url, oidc::DEVICE)).into_auth();
        session.set_token(token).await.unwrap();
        session
            .logout(
                &OAuthClient::new(&token_url, oidc::DEVICE),
                &format!("{proxy}/token/revocation"),
            )
            .await
            .unwrap();
        let err = session.token().await.unwrap_err();
        show("after logout", format!("{err} {err:?}"));

        // Client authentication with a key, and the JWT bearer grant (the server does not
        // offer that grant: its refusal is an error that had an assertion in its request).
        let pem = oidc::test_key("es256.pem");
        let key = SigningKey::from_pem(JwsAlgorithm::ES256, pem.clone())
            .unwrap()
            .kid("es256-1");
        show("signing key", format!("{key:?}"));
        let keyed = OAuthClient::new(&token_url, oidc::PKJWT_ES256)
            .auth_method(ClientAuth::private_key_jwt(key.clone()));
        show(
            "keyed client",
            format!("{keyed:?} {:?}", ClientAuth::private_key_jwt(key.clone())),
        );
        let cc = ClientCredentials::with_client(keyed.clone()).into_auth();
        let token = cc.token().await.unwrap();
        show("pkjwt token", format!("{token:?} {cc:?}"));
        keyed
            .revoke(
                &format!("{proxy}/token/revocation"),
                token.access_token(),
                "access_token",
            )
            .await
            .unwrap();
        let stranger = SigningKey::from_pem(JwsAlgorithm::ES256, oidc::test_key("es256-other.pem"))
            .unwrap()
            .kid("es256-1");
        let err = ClientCredentials::with_client(
            OAuthClient::new(&token_url, oidc::PKJWT_ES256)
                .auth_method(ClientAuth::private_key_jwt(stranger)),
        )
        .into_auth()
        .token()
        .await
        .unwrap_err();
        show("wrong key", format!("{err} {err:?}"));
        let hs = OAuthClient::new(&token_url, oidc::CSJWT)
            .secret(oidc::JWT_SECRET)
            .auth_method(ClientAuth::client_secret_jwt());
        let token = ClientCredentials::with_client(hs.clone())
            .into_auth()
            .token()
            .await
            .unwrap();
        show("csjwt", format!("{hs:?} {token:?}"));
        let bearer =
            JwtBearer::new(&token_url, key.clone(), "svc@example.com").scopes(["api:read"]);
        show("jwt bearer", format!("{bearer:?}"));
        let err = bearer.into_auth().token().await.unwrap_err();
        show("jwt bearer refused", format!("{err} {err:?}"));
        let mismatch = SigningKey::from_pem(JwsAlgorithm::RS256, pem.clone()).unwrap_err();
        show("key mismatch", format!("{mismatch} {mismatch:?}"));
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": "not-base64!", "y": "AAAA",
            "d": "canary-jwk-private-member-d",
        });
        let err = SigningKey::from_jwk(jwk.to_string()).unwrap_err();
        show("bad jwk", format!("{err} {err:?}"));

        // DPoP: proofs, nonces and the private key. Against wiremock, which records the proofs
        // (a proof names the URL it is for, so it cannot pass through the recording proxy).
        let dpop_secrets = dpop_section(&mut show).await;

        // What crossed the wire, and what the client let out.
        let wire = wire.text();
        let mut secrets = secrets_on_the_wire(&wire);
        secrets.extend(dpop_secrets);
        secrets.push(oidc::CC_SECRET.to_owned());
        secrets.push(oidc::JWT_SECRET.to_owned());
        secrets.push("canary-jwk-private-member-d".to_owned());
        // Every line of the private key's base64 body.
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_owned),
        );
        for kind in ["client_assertion=eyJ", "&assertion=eyJ"] {
            assert!(wire.contains(kind), "the flows exercised {kind}");
        }
        assert!(
            secrets.len() >= 10,
            "the proxy saw the credentials ({} found):\n{wire}",
            secrets.len()
        );
        for kind in [
            "code_verifier",
            "device_code",
            "refresh_token",
            "access_token",
        ] {
            assert!(wire.contains(kind), "the flows exercised {kind}");
        }
        let traced = capture.text();
        assert!(
            traced.contains("TRACE") && traced.contains("authed::audit"),
            "capture works"
        );
        for secret in &secrets {
            let encoded: String =
                authed::url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            for form in [secret.as_str(), encoded.as_str()] {
                assert!(
                    !shown.contains(form),
                    "a secret leaked into Debug/Display:\n{shown}"
                );
                assert!(
                    !traced.contains(form),
                    "a secret leaked into tracing output"
                );
            }
        }
    }
}

/// Exercises DPoP against wiremock (nonce challenges from the token endpoint and the resource
/// server, a refused request, the session in a credential store) and returns every proof,
/// nonce and private key that was in play.
async fn dpop_section(show: &mut impl FnMut(&str, String)) -> Vec<String> {
    use authed::{
        ExposeSecret,
        store::{CredentialStore, CredentialTokenStore, MemoryStore},
    };
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{method, path},
    };

    const NONCES: [&str; 3] = [
        "canary-as-nonce-0001",
        "canary-as-nonce-0002",
        "canary-rs-nonce-0001",
    ];
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("dpop-nonce", NONCES[0])
                .set_body_json(serde_json::json!({"error": "use_dpop_nonce"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("dpop-nonce", NONCES[1])
                .set_body_json(serde_json::json!({
                    "access_token": "canary-dpop-access-token",
                    "token_type": "DPoP",
                    "expires_in": 3600,
                    "refresh_token": "canary-dpop-refresh-token",
                })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/data"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", r#"DPoP error="use_dpop_nonce""#)
                .insert_header("dpop-nonce", NONCES[2]),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/data"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/denied"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", r#"DPoP error="invalid_token""#)
                .insert_header("dpop-nonce", NONCES[2]),
        )
        .mount(&server)
        .await;

    let key = DpopKey::generate().unwrap();
    show("dpop key", format!("{key:?}"));
    let client = OAuthClient::new(format!("{}/token", server.uri()), "svc")
        .secret("canary-dpop-client-secret")
        .dpop(key);
    show("dpop client", format!("{client:?}"));
    let credentials = Arc::new(MemoryStore::new());
    let auth = ClientCredentials::with_client(client)
        .into_auth()
        .store(CredentialTokenStore::new(credentials.clone(), "dpop"));
    let api = Client::builder(server.uri())
        .auth(auth.clone())
        .build()
        .unwrap();
    let response = api.get("data").send().await.unwrap();
    show("dpop response", format!("{response:?}"));
    let err = api.get("denied").send().await.unwrap_err();
    show("dpop 401", format!("{err} {err:?}"));
    let token = auth.token().await.unwrap();
    show("dpop token", format!("{token:?} {auth:?}"));

    let mut secrets: Vec<String> = NONCES.iter().map(|n| (*n).to_owned()).collect();
    for request in server.received_requests().await.unwrap() {
        let proof = request
            .headers
            .get("dpop")
            .expect("a proof on every request");
        let proof = proof.to_str().unwrap();
        secrets.push(proof.to_owned());
        secrets.push(proof.rsplit('.').next().unwrap().to_owned()); // the signature
    }
    assert!(secrets.len() >= 3 + 5 * 2, "the flows exercised the proofs");
    // The private key, as the store keeps it.
    let record = credentials
        .get("dpop")
        .await
        .unwrap()
        .expect("the session was stored");
    let record: Value = serde_json::from_str(record.expose_secret()).unwrap();
    let stored_key = record["k"].as_str().expect("the key is in the record");
    secrets.push(stored_key.split_once('.').unwrap().1.to_owned());
    secrets
}

// ---------------------------------------------------------------------------
// Issue 12, ID tokens: the ID token (and each of its parts) and the nonce never appear in the
// Debug or Display of the flow, the pending login, the token, the claims, the validator, or
// the errors of a refused ID token.

mod needs_oidc_id_tokens {
    use super::*;
    use authed::oauth2::ServerMetadata;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn no_id_token_or_nonce_escapes() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let validator = metadata.id_token_validator(oidc::NATIVE).unwrap();
        let flow = metadata
            .authorization_code(metadata.client(oidc::NATIVE).unwrap())
            .unwrap()
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid"]);
        let pending = flow.begin().unwrap();
        let nonce = oidc::url_param(pending.url().as_str(), "nonce").expect("a nonce is sent");
        let mut shown = format!("{flow:?}\n{pending:?}\n{validator:?}\n");
        let location = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let token = pending.exchange(&location).await.unwrap();
        let id_token = token.id_token().unwrap().expose_secret().to_owned();
        let claims = token.id_token_claims().unwrap();
        shown.push_str(&format!("{token:?}\n{claims:?}\n"));
        // Refused: another nonce, another client, a broken signature.
        let other_client = metadata.id_token_validator("another-client").unwrap();
        let broken = format!("{}x", id_token.trim_end_matches(|c| c != '.'));
        for err in [
            validator.validate(&id_token, Some("n")).await.unwrap_err(),
            other_client.validate(&id_token, None).await.unwrap_err(),
            validator.validate(&broken, Some(&nonce)).await.unwrap_err(),
        ] {
            assert!(err.id_token_error_kind().is_some(), "{err}");
            shown.push_str(&format!("{err} {err:?}\n"));
        }
        let mut secrets = vec![id_token.clone(), nonce];
        secrets.extend(id_token.split('.').skip(1).map(str::to_owned)); // payload, signature
        for secret in &secrets {
            assert!(!shown.contains(secret.as_str()), "leaked into:\n{shown}");
        }
    }
}
