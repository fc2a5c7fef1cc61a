//! Resource indicators (RFC 8707) and `audience` on every grant: wiremock checks where each
//! is sent; node-oidc-provider shows that they take effect (with
//! `resource=urn:authed:test-api` it issues JWT access tokens whose `aud` is that resource).

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/paused.rs"]
mod paused;

use std::{sync::Arc, time::Duration};

use authed::oauth2::{
    AuthorizationCode, ClientCredentials, DeviceAuthorization, OAuthClient, Password, RefreshToken,
    ServerMetadata, Token,
};
use base64::Engine as _;
use secrecy::ExposeSecret;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_string_contains, method, path},
};

const API: &str = "https://api.example.com/";
const OTHER: &str = "urn:example:other";

fn token_json() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        r#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r2"}"#,
        "application/json",
    )
}

/// The values of `name` in the form of `request`, in order.
fn values(request: &Request, name: &str) -> Vec<String> {
    authed::url::form_urlencoded::parse(&request.body)
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

async fn token_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_json())
        .mount(&server)
        .await;
    server
}

async fn last_request(server: &MockServer) -> Request {
    server.received_requests().await.unwrap().pop().unwrap()
}

#[tokio::test]
async fn client_credentials_password_and_refresh_send_resource_and_audience() {
    let server = token_server().await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app").secret("s3cret");

    ClientCredentials::with_client(client.clone())
        .resource(API)
        .resource(OTHER)
        .audience("billing")
        .into_auth()
        .token()
        .await
        .unwrap();
    let request = last_request(&server).await;
    assert_eq!(values(&request, "resource"), [API, OTHER]);
    assert_eq!(values(&request, "audience"), ["billing"]);

    Password::new(client.clone(), "ada", "pw")
        .resource(API)
        .audience("billing")
        .into_auth()
        .token()
        .await
        .unwrap();
    let request = last_request(&server).await;
    assert_eq!(values(&request, "grant_type"), ["password"]);
    assert_eq!(values(&request, "resource"), [API]);
    assert_eq!(values(&request, "audience"), ["billing"]);

    let auth = RefreshToken::new(client).resource(API).into_auth();
    auth.set_token(
        Token::bearer("old")
            .with_refresh_token("r1")
            .with_expires_in(Duration::ZERO),
    )
    .await
    .unwrap();
    auth.token().await.unwrap();
    let request = last_request(&server).await;
    assert_eq!(values(&request, "grant_type"), ["refresh_token"]);
    assert_eq!(values(&request, "resource"), [API]);
    assert!(values(&request, "audience").is_empty());
}

#[tokio::test]
async fn authorization_code_sends_resource_in_both_requests_and_audience_in_the_first() {
    let server = token_server().await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app");
    let flow = AuthorizationCode::new(client, format!("{}/authorize", server.uri()))
        .redirect_uri("http://127.0.0.1:9/callback")
        .resource(API)
        .audience("billing");
    let pending = flow.begin().unwrap();
    let query: Vec<(String, String)> = pending.url().query_pairs().into_owned().collect();
    let get = |name: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("resource"), [API]);
    assert_eq!(get("audience"), ["billing"]);
    let state = get("state")[0].to_owned();
    pending
        .exchange(&format!(
            "http://127.0.0.1:9/callback?code=c-1&state={state}"
        ))
        .await
        .unwrap();
    let request = last_request(&server).await;
    assert_eq!(values(&request, "grant_type"), ["authorization_code"]);
    assert_eq!(values(&request, "resource"), [API]);
    assert!(values(&request, "audience").is_empty());
}

#[tokio::test(start_paused = true)]
async fn device_flow_sends_resource_in_both_requests_and_audience_in_the_first() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/device"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"device_code":"d","user_code":"U","verification_uri":"https://x/device","expires_in":600,"interval":1}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("device_code=d"))
        .respond_with(token_json())
        .mount(&server)
        .await;
    // No timers but the polling wait, for the paused clock.
    let http = paused::builder(server.uri()).build().unwrap();
    let client = OAuthClient::new(format!("{}/token", server.uri()), "tv").http_client(http);
    DeviceAuthorization::new(client, format!("{}/device", server.uri()))
        .resource(API)
        .audience("billing")
        .login(|_| {})
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let (start, poll) = (&requests[0], &requests[1]);
    assert_eq!(values(start, "resource"), [API]);
    assert_eq!(values(start, "audience"), ["billing"]);
    assert_eq!(values(poll, "resource"), [API]);
    assert!(values(poll, "audience").is_empty());
}

#[tokio::test]
async fn a_resource_that_is_not_an_absolute_uri_is_refused_before_sending() {
    let server = token_server().await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app").secret("s3cret");
    for bad in ["/api", "https://api.example.com/#frag"] {
        let err = ClientCredentials::with_client(client.clone())
            .resource(bad)
            .into_auth()
            .token()
            .await
            .unwrap_err();
        assert!(err.is_config(), "{bad}: {err:?}");
        let err = AuthorizationCode::new(client.clone(), format!("{}/authorize", server.uri()))
            .redirect_uri("http://127.0.0.1:9/callback")
            .resource(bad)
            .begin()
            .unwrap_err();
        assert!(err.is_config(), "{bad}: {err:?}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// The claims of a JWT, decoded (not verified); `None` for an opaque token.
fn jwt_claims(token: &Token) -> Option<serde_json::Value> {
    let text = token.access_token().expose_secret();
    let mut parts = text.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn assert_for_test_api(token: &Token) {
    let claims = jwt_claims(token).expect("a JWT access token, issued for the resource");
    assert_eq!(claims["aud"], oidc::TEST_API, "{claims}");
}

mod needs_oidc {
    use super::*;

    #[tokio::test]
    async fn client_credentials_with_a_resource_get_a_token_for_it() {
        let server = oidc::require().await;
        let plain =
            ClientCredentials::new(server.token_endpoint(), oidc::CC_BASIC, oidc::CC_SECRET)
                .scopes(["api:read"])
                .into_auth()
                .token()
                .await
                .unwrap();
        assert!(jwt_claims(&plain).is_none(), "without a resource: opaque");

        let token =
            ClientCredentials::new(server.token_endpoint(), oidc::CC_BASIC, oidc::CC_SECRET)
                .scopes(["api:read"])
                .resource(oidc::TEST_API)
                .into_auth()
                .token()
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_for_test_api(&token);
        assert_eq!(jwt_claims(&token).unwrap()["scope"], "api:read");

        // A resource the server does not know: its invalid_target, typed.
        let err = ClientCredentials::new(server.token_endpoint(), oidc::CC_BASIC, oidc::CC_SECRET)
            .scopes(["api:read"])
            .resource(OTHER)
            .into_auth()
            .token()
            .await
            .unwrap_err();
        assert_eq!(
            err.oauth_error().map(|e| e.code.as_str()),
            Some("invalid_target"),
            "{err}"
        );
    }

    /// The resource in the authorization request and the token request gives a JWT for it;
    /// a refresh asking for it again gets another.
    #[tokio::test]
    async fn authorization_code_then_refresh_with_a_resource() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let client = metadata.client(oidc::NATIVE).unwrap();
        let pending = metadata
            .authorization_code(client.clone())
            .unwrap()
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid", "api:read"])
            .resource(oidc::TEST_API)
            .begin()
            .unwrap();
        let callback = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let token = pending
            .exchange(&callback)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_for_test_api(&token);
        assert_eq!(jwt_claims(&token).unwrap()["sub"], "ada");

        let auth = RefreshToken::new(client)
            .resource(oidc::TEST_API)
            .into_auth();
        let first = token.access_token().expose_secret().to_owned();
        auth.set_token(token.with_expires_in(Duration::ZERO))
            .await
            .unwrap();
        let refreshed = auth
            .token()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_ne!(refreshed.access_token().expose_secret(), first);
        assert_for_test_api(&refreshed);
    }

    #[tokio::test]
    async fn device_flow_with_a_resource() {
        let server = Arc::new(oidc::require().await);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let browser = server.clone();
        let token = metadata
            .device(metadata.client(oidc::DEVICE).unwrap())
            .unwrap()
            .scopes(["openid", "api:read"])
            .resource(oidc::TEST_API)
            .login(move |code| {
                let user_code = code.user_code.clone();
                tokio::spawn(async move {
                    browser.approve_device(&user_code, "ada").await.unwrap();
                });
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_for_test_api(&token);
    }
}
