//! Self-test of the OIDC test harness (tests/oidc/server.mjs and
//! tests/support/oidc.rs) against the real node-oidc-provider. Uses only
//! reqwest and serde_json, none of authed's OAuth code: it pins down how the
//! server behaves so that authed's own OAuth tests can rely on it.
//!
//! The server's packages are installed by the harness itself (see
//! tests/support/oidc.rs); a server that cannot start fails the tests in
//! `needs_oidc`, unless they are skipped with `AUTHED_TEST_SKIP=oidc` and
//! `bash scripts/test.sh`.

// The harness exists for the OAuth tests (tests/support/oidc.rs uses sha2 for PKCE, a
// dependency of the `oauth2` feature).
#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;

use std::time::Duration;

use base64::Engine as _;
use oidc::OidcServer;
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE},
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bound on each test once its server is up (the first start may install the server's
/// packages, and the server has a start timeout of its own).
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

struct Reply {
    status: StatusCode,
    www_authenticate: Option<String>,
    json: Value,
}

impl Reply {
    fn str(&self, key: &str) -> &str {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("no string {key:?} in {}", self.json))
    }

    #[track_caller]
    fn assert_error(&self, status: StatusCode, error: &str) {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["error"], error, "{}", self.json);
    }

    #[track_caller]
    fn assert_ok(&self) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.json);
    }
}

async fn post_form(url: &str, authorization: Option<&str>, pairs: &[(&str, &str)]) -> Reply {
    let mut request = http()
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(oidc::form(pairs));
    if let Some(authorization) = authorization {
        request = request.header(AUTHORIZATION, authorization);
    }
    reply(request.send().await.unwrap()).await
}

async fn get_bearer(url: &str, token: &str) -> Reply {
    let response = http().get(url).bearer_auth(token).send().await.unwrap();
    reply(response).await
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let www_authenticate = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    };
    Reply {
        status,
        www_authenticate,
        json,
    }
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A PKCE code_verifier: 64 unreserved characters.
fn new_verifier() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn authorize_url(
    server: &OidcServer,
    redirect_uri: &str,
    state: &str,
    challenge: Option<&str>,
    prompt_consent: bool,
) -> String {
    let mut url = authed::url::Url::parse(&server.authorization_endpoint()).unwrap();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", oidc::NATIVE)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid offline_access")
            .append_pair("state", state);
        // OIDC Core §11: offline_access is only honoured with prompt=consent;
        // oidc-provider silently drops it otherwise.
        if prompt_consent {
            query.append_pair("prompt", "consent");
        }
        if let Some(challenge) = challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    url.to_string()
}

async fn exchange_code(
    server: &OidcServer,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Reply {
    post_form(
        &server.token_endpoint(),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", oidc::NATIVE),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(server: &OidcServer, client_id: &str, refresh_token: &str) -> Reply {
    post_form(
        &server.token_endpoint(),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await
}

macro_rules! with_server {
    (|$server:ident| $body:expr) => {{
        let $server = oidc::require().await;
        tokio::time::timeout(TEST_TIMEOUT, async { $body })
            .await
            .expect("test timed out")
    }};
}

#[test]
fn sha256_and_pkce_known_answers() {
    let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(oidc::sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(oidc::sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(oidc::sha256(&[b'a'; 1000])),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
    // RFC 7636 Appendix B.
    assert_eq!(
        oidc::pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn client_secret_basic_is_form_encoded_before_base64() {
    let header = oidc::client_secret_basic(oidc::CC_BASIC, oidc::CC_SECRET);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "cc-basic:s3cr%2Bt%25%2F%3Ax"
    );
}

/// The tests that talk to the server (skipped as a group with `AUTHED_TEST_SKIP=oidc`).
mod needs_oidc {
    use super::*;

    #[tokio::test]
    async fn discovery_and_client_credentials() {
        with_server!(|server| {
            let discovery = http().get(server.discovery_url()).send().await.unwrap();
            assert_eq!(discovery.status(), StatusCode::OK);
            let d: Value = serde_json::from_str(&discovery.text().await.unwrap()).unwrap();
            assert_eq!(d["issuer"], server.issuer);
            assert_eq!(d["authorization_endpoint"], server.authorization_endpoint());
            assert_eq!(d["token_endpoint"], server.token_endpoint());
            assert_eq!(
                d["device_authorization_endpoint"],
                server.device_authorization_endpoint()
            );
            assert_eq!(d["revocation_endpoint"], server.revocation_endpoint());
            assert_eq!(d["introspection_endpoint"], server.introspection_endpoint());
            assert_eq!(d["userinfo_endpoint"], server.userinfo_endpoint());
            assert_eq!(
                d["code_challenge_methods_supported"],
                serde_json::json!(["S256"])
            );
            assert_eq!(d["authorization_response_iss_parameter_supported"], true);
            for grant in [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                oidc::DEVICE_CODE_GRANT,
            ] {
                assert!(
                    d["grant_types_supported"]
                        .as_array()
                        .unwrap()
                        .contains(&grant.into()),
                    "{grant} missing from {}",
                    d["grant_types_supported"]
                );
            }

            let token = server.token_endpoint();
            let basic = oidc::client_secret_basic(oidc::CC_BASIC, oidc::CC_SECRET);

            // client_secret_basic, encoded per RFC 6749 §2.3.1: accepted.
            let ok = post_form(
                &token,
                Some(&basic),
                &[("grant_type", "client_credentials"), ("scope", "api:read")],
            )
            .await;
            ok.assert_ok();
            assert!(!ok.str("access_token").is_empty());
            assert_eq!(ok.str("token_type"), "Bearer");
            assert_eq!(ok.json["expires_in"], 3);
            assert_eq!(ok.str("scope"), "api:read");
            assert!(ok.json.get("refresh_token").is_none());
            // Opaque (not a JWT) without a resource indicator.
            assert_eq!(ok.str("access_token").matches('.').count(), 0);

            // The same credentials base64-encoded WITHOUT the form-encoding step
            // (what a naive `basic_auth(id, secret)` sends): rejected.
            let raw = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    oidc::CC_BASIC,
                    oidc::CC_SECRET
                ))
            );
            let rejected =
                post_form(&token, Some(&raw), &[("grant_type", "client_credentials")]).await;
            rejected.assert_error(StatusCode::BAD_REQUEST, "invalid_request");

            // Wrong secret: 401 invalid_client with a Basic challenge.
            let wrong = oidc::client_secret_basic(oidc::CC_BASIC, "s3cr+t%/:y");
            let unauthorized = post_form(
                &token,
                Some(&wrong),
                &[("grant_type", "client_credentials")],
            )
            .await;
            unauthorized.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
            assert!(
                unauthorized
                    .www_authenticate
                    .as_deref()
                    .is_some_and(|v| v.starts_with("Basic ")),
                "{:?}",
                unauthorized.www_authenticate
            );

            // client_secret_post.
            let post = post_form(
                &token,
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", oidc::CC_POST),
                    ("client_secret", oidc::CC_SECRET),
                ],
            )
            .await;
            post.assert_ok();
            assert_eq!(post.json["expires_in"], 3);
            // No scope asked, none granted: the field is absent.
            assert!(post.json.get("scope").is_none(), "{}", post.json);

            // Quirk: for client_secret_basic/_post clients oidc-provider accepts
            // either method, whatever was registered. Tests cannot rely on the
            // server to catch a client using the wrong one.
            let basic_for_post = oidc::client_secret_basic(oidc::CC_POST, oidc::CC_SECRET);
            post_form(
                &token,
                Some(&basic_for_post),
                &[("grant_type", "client_credentials")],
            )
            .await
            .assert_ok();

            // With the resource indicator the access token is a JWT for it.
            let jwt = post_form(
                &token,
                Some(&basic),
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "api:read api:write"),
                    ("resource", oidc::TEST_API),
                ],
            )
            .await;
            jwt.assert_ok();
            let access_token = jwt.str("access_token");
            assert_eq!(jwt_part(access_token, 0)["typ"], "at+jwt");
            let claims = jwt_part(access_token, 1);
            assert_eq!(claims["aud"], oidc::TEST_API);
            assert_eq!(claims["iss"], server.issuer);
            assert_eq!(claims["client_id"], oidc::CC_BASIC);
            assert_eq!(claims["scope"], "api:read api:write");
            assert_eq!(
                claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
                3
            );

            // A client without the grant.
            let not_allowed = post_form(
                &token,
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", oidc::NATIVE),
                ],
            )
            .await;
            assert_eq!(
                not_allowed.status,
                StatusCode::BAD_REQUEST,
                "{}",
                not_allowed.json
            );
        })
    }

    #[tokio::test]
    async fn authorization_code_pkce_then_rotating_refresh() {
        with_server!(|server| {
            // Made-up port: the native client's loopback redirect accepts any.
            let redirect_uri = "http://127.0.0.1:61999/callback";
            let verifier = new_verifier();
            let state = uuid::Uuid::new_v4().to_string();
            let url = authorize_url(
                &server,
                redirect_uri,
                &state,
                Some(&oidc::pkce_s256(&verifier)),
                true,
            );

            let location = server.approve_authorization(&url, "alice").await.unwrap();
            assert!(location.starts_with(redirect_uri), "{location}");
            assert_eq!(
                oidc::url_param(&location, "state").as_deref(),
                Some(&*state)
            );
            assert_eq!(
                oidc::url_param(&location, "iss").as_deref(),
                Some(&*server.issuer)
            );
            let code = oidc::url_param(&location, "code").expect("code");

            let tokens = exchange_code(&server, &code, redirect_uri, &verifier).await;
            tokens.assert_ok();
            assert_eq!(tokens.str("token_type"), "Bearer");
            assert_eq!(tokens.json["expires_in"], 3);
            assert!(
                tokens
                    .str("scope")
                    .split(' ')
                    .any(|s| s == "offline_access")
            );
            assert_eq!(jwt_part(tokens.str("id_token"), 1)["sub"], "alice");
            let access_token = tokens.str("access_token").to_string();
            let rt0 = tokens.str("refresh_token").to_string();

            let me = get_bearer(&server.userinfo_endpoint(), &access_token).await;
            me.assert_ok();
            assert_eq!(me.json["sub"], "alice");

            // The access token expires after 3 s.
            tokio::time::sleep(oidc::ACCESS_TOKEN_TTL + Duration::from_millis(1100)).await;
            let expired = get_bearer(&server.userinfo_endpoint(), &access_token).await;
            expired.assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
            assert!(
                expired
                    .www_authenticate
                    .as_deref()
                    .is_some_and(|v| v.starts_with("Bearer ") && v.contains("invalid_token")),
                "{:?}",
                expired.www_authenticate
            );

            // Refresh twice: a new refresh token each time.
            let first = refresh(&server, oidc::NATIVE, &rt0).await;
            first.assert_ok();
            assert_eq!(first.json["expires_in"], 3);
            let rt1 = first.str("refresh_token").to_string();
            assert_ne!(rt1, rt0);
            get_bearer(&server.userinfo_endpoint(), first.str("access_token"))
                .await
                .assert_ok();

            let second = refresh(&server, oidc::NATIVE, &rt1).await;
            second.assert_ok();
            let rt2 = second.str("refresh_token").to_string();
            assert_ne!(rt2, rt1);
            let at2 = second.str("access_token").to_string();

            // The rotated-out token is refused...
            refresh(&server, oidc::NATIVE, &rt0)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
            // ...and that replay revoked the whole grant: the newest refresh
            // token and the access tokens are dead too.
            refresh(&server, oidc::NATIVE, &rt2)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
            get_bearer(&server.userinfo_endpoint(), &at2)
                .await
                .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        })
    }

    #[tokio::test]
    async fn authorization_delivery_denial_and_refusals() {
        with_server!(|server| {
            // A real loopback listener on an ephemeral port receives the redirect.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let received = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0, "connection closed mid-request");
                    head.extend_from_slice(&buf[..n]);
                }
                stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await
                    .unwrap();
                let head = String::from_utf8(head).unwrap();
                head.lines().next().unwrap().to_string()
            });
            let redirect_uri = format!("http://127.0.0.1:{port}/callback");
            let verifier = new_verifier();
            let url = authorize_url(
                &server,
                &redirect_uri,
                "s1",
                Some(&oidc::pkce_s256(&verifier)),
                false,
            );
            let location = server.approve_and_deliver(&url, "carol").await.unwrap();
            let request_line = received.await.unwrap();
            let code = oidc::url_param(&location, "code").unwrap();
            assert!(
                request_line.starts_with("GET /callback?code=")
                    && request_line.contains("state=s1"),
                "{request_line}"
            );

            // PKCE: a wrong verifier is refused, without spending the code.
            let wrong = exchange_code(&server, &code, &redirect_uri, &new_verifier()).await;
            wrong.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
            assert_eq!(wrong.json["error_description"], "grant request is invalid");
            let tokens = exchange_code(&server, &code, &redirect_uri, &verifier).await;
            tokens.assert_ok();
            // Without prompt=consent, offline_access was dropped from the grant,
            // but a refresh token is issued anyway (see server.mjs).
            assert_eq!(tokens.str("scope"), "openid");
            assert!(!tokens.str("refresh_token").is_empty());
            get_bearer(&server.userinfo_endpoint(), tokens.str("access_token"))
                .await
                .assert_ok();
            // Replaying a spent code is refused and revokes what it issued.
            exchange_code(&server, &code, &redirect_uri, &verifier)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
            get_bearer(&server.userinfo_endpoint(), tokens.str("access_token"))
                .await
                .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
            refresh(&server, oidc::NATIVE, tokens.str("refresh_token"))
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

            // No PKCE for the public client: redirected back with an error,
            // before any login.
            let no_pkce =
                authorize_url(&server, "http://127.0.0.1:1234/callback", "s2", None, false);
            let location = server
                .approve_authorization(&no_pkce, "carol")
                .await
                .unwrap();
            assert_eq!(
                oidc::url_param(&location, "error").as_deref(),
                Some("invalid_request"),
                "{location}"
            );
            assert_eq!(oidc::url_param(&location, "state").as_deref(), Some("s2"));

            // An unregistered redirect path is never redirected to.
            let bad_path = authorize_url(
                &server,
                "http://127.0.0.1:1234/elsewhere",
                "s3",
                Some(&oidc::pkce_s256(&verifier)),
                false,
            );
            let err = server
                .approve_authorization(&bad_path, "carol")
                .await
                .unwrap_err();
            assert!(err.contains("redirect_uri"), "{err}");

            // The user says no at the consent page.
            let url = authorize_url(
                &server,
                "http://127.0.0.1:1234/callback",
                "s4",
                Some(&oidc::pkce_s256(&verifier)),
                true,
            );
            let location = server.deny_authorization(&url, "carol").await.unwrap();
            assert_eq!(
                oidc::url_param(&location, "error").as_deref(),
                Some("access_denied"),
                "{location}"
            );
            assert_eq!(oidc::url_param(&location, "state").as_deref(), Some("s4"));
        })
    }

    #[tokio::test]
    async fn device_flow_refresh_and_revocation() {
        with_server!(|server| {
            let start = post_form(
                &server.device_authorization_endpoint(),
                None,
                &[
                    ("client_id", oidc::DEVICE),
                    ("scope", "openid offline_access"),
                ],
            )
            .await;
            start.assert_ok();
            let device_code = start.str("device_code").to_string();
            let user_code = start.str("user_code").to_string();
            assert_eq!(start.str("verification_uri"), server.url("/device"));
            assert!(
                start
                    .str("verification_uri_complete")
                    .contains("user_code=")
            );
            assert!(start.json["expires_in"].as_u64().unwrap() > 0);
            // oidc-provider sends no `interval` (clients default to 5 s) and
            // never answers slow_down.
            assert!(start.json.get("interval").is_none(), "{}", start.json);

            let poll = async || {
                post_form(
                    &server.token_endpoint(),
                    None,
                    &[
                        ("grant_type", oidc::DEVICE_CODE_GRANT),
                        ("device_code", &device_code),
                        ("client_id", oidc::DEVICE),
                    ],
                )
                .await
            };
            poll()
                .await
                .assert_error(StatusCode::BAD_REQUEST, "authorization_pending");
            poll()
                .await
                .assert_error(StatusCode::BAD_REQUEST, "authorization_pending");

            server.approve_device(&user_code, "bob").await.unwrap();

            let tokens = poll().await;
            tokens.assert_ok();
            assert_eq!(tokens.json["expires_in"], 3);
            // No prompt parameter here, so offline_access is granted as asked.
            assert_eq!(tokens.str("scope"), "openid offline_access");
            assert_eq!(jwt_part(tokens.str("id_token"), 1)["sub"], "bob");
            let rt0 = tokens.str("refresh_token").to_string();

            let refreshed = refresh(&server, oidc::DEVICE, &rt0).await;
            refreshed.assert_ok();
            let rt1 = refreshed.str("refresh_token").to_string();
            assert_ne!(rt1, rt0);

            // Revocation (RFC 7009): 200 with an empty body, then the token is
            // refused.
            let revoked = post_form(
                &server.revocation_endpoint(),
                None,
                &[
                    ("token", &rt1),
                    ("token_type_hint", "refresh_token"),
                    ("client_id", oidc::DEVICE),
                ],
            )
            .await;
            assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.json);
            assert_eq!(revoked.json, Value::Null);
            refresh(&server, oidc::DEVICE, &rt1)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

            // The user aborts another device login: the device gets access_denied.
            let other = post_form(
                &server.device_authorization_endpoint(),
                None,
                &[("client_id", oidc::DEVICE), ("scope", "openid")],
            )
            .await;
            other.assert_ok();
            server
                .deny_device(other.str("user_code"), "bob")
                .await
                .unwrap();
            post_form(
                &server.token_endpoint(),
                None,
                &[
                    ("grant_type", oidc::DEVICE_CODE_GRANT),
                    ("device_code", other.str("device_code")),
                    ("client_id", oidc::DEVICE),
                ],
            )
            .await
            .assert_error(StatusCode::BAD_REQUEST, "access_denied");

            // A mistyped user code is reported, not silently accepted.
            let err = server.approve_device("BCDF-GHJK", "bob").await.unwrap_err();
            assert!(err.contains("incorrect"), "{err}");
        })
    }

    #[tokio::test]
    async fn introspection_and_access_token_revocation() {
        with_server!(|server| {
            let basic = oidc::client_secret_basic(oidc::CC_BASIC, oidc::CC_SECRET);
            let issued = post_form(
                &server.token_endpoint(),
                Some(&basic),
                &[("grant_type", "client_credentials"), ("scope", "api:write")],
            )
            .await;
            issued.assert_ok();
            let token = issued.str("access_token").to_string();

            let introspect = async || {
                post_form(
                    &server.introspection_endpoint(),
                    Some(&basic),
                    &[("token", &token)],
                )
                .await
            };
            let active = introspect().await;
            active.assert_ok();
            assert_eq!(active.json["active"], true);
            assert_eq!(active.json["client_id"], oidc::CC_BASIC);
            assert_eq!(active.json["scope"], "api:write");
            assert_eq!(active.json["token_type"], "Bearer");

            let revoked = post_form(
                &server.revocation_endpoint(),
                Some(&basic),
                &[("token", &token), ("token_type_hint", "access_token")],
            )
            .await;
            assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.json);

            let inactive = introspect().await;
            inactive.assert_ok();
            assert_eq!(inactive.json, serde_json::json!({ "active": false }));

            // Revoking an unknown token is not an error (RFC 7009 §2.2).
            let unknown = post_form(
                &server.revocation_endpoint(),
                Some(&basic),
                &[("token", "no-such-token")],
            )
            .await;
            assert_eq!(unknown.status, StatusCode::OK, "{}", unknown.json);
        })
    }
}
