//! Pushed authorization requests (RFC 9126) for the authorization code flow: the exact push
//! and the odd answers with wiremock; end to end against node-oidc-provider, for a client
//! that may push, a client the server requires to, and a server that requires it of all
//! (discovery then pushes without being asked).

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;

use std::{sync::Arc, time::Duration};

use authed::{
    oauth2::{AuthorizationCode, OAuthClient, ServerMetadata},
    url::Url,
};
use base64::Engine as _;
use secrecy::ExposeSecret;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

fn form(request: &Request) -> Vec<(String, String)> {
    authed::url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn query(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

/// The names of the browser URL's query parameters: only `client_id` and `request_uri`.
fn assert_only_client_id_and_request_uri(url: &Url, client_id: &str) {
    let pairs = query(url);
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "{url}");
    assert_eq!(pairs[0].1, client_id);
}

async fn par_server(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/par"))
        .respond_with(answer)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":60}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    server
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_raw(
        r#"{"request_uri":"urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c","expires_in":60}"#,
        "application/json",
    )
}

fn flow(server: &MockServer, client: OAuthClient) -> AuthorizationCode {
    AuthorizationCode::new(client, format!("{}/authorize", server.uri()))
        .redirect_uri("https://client.example.org/cb")
        .scopes(["account-information"])
        .pushed_authorization_endpoint(format!("{}/par", server.uri()))
}

/// RFC 9126 §2.1's example: a confidential client pushes with HTTP Basic, the parameters in
/// the body (client_id among them, once); the browser URL carries only client_id and the
/// request_uri (§4); the code exchange then works as without PAR.
#[tokio::test]
async fn a_confidential_client_pushes_with_basic_and_the_url_carries_only_the_request_uri() {
    let server = par_server(created()).await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "s6BhdRkqt3")
        .secret("7Fjfp0ZBr1KtDRbnfVdmIw");
    let pending = flow(&server, client)
        .resource("https://rs.example.com/")
        .param("prompt", "consent")
        .begin_pushed()
        .await
        .unwrap();
    assert_only_client_id_and_request_uri(pending.url(), "s6BhdRkqt3");
    assert_eq!(
        query(pending.url())[1].1,
        "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c"
    );
    assert_eq!(pending.url().path(), "/authorize");
    assert_eq!(
        pending.request_uri_expires_in(),
        Some(Duration::from_secs(60))
    );

    let requests = server.received_requests().await.unwrap();
    let push = &requests[0];
    let basic =
        base64::engine::general_purpose::STANDARD.encode("s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw");
    assert_eq!(
        push.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Basic {basic}")
    );
    let pushed = form(push);
    let names: Vec<&str> = pushed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "code_challenge",
            "code_challenge_method",
            "scope",
            "resource",
            "prompt"
        ]
    );
    let get = |name: &str| pushed.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(get("response_type"), "code");
    assert_eq!(get("redirect_uri"), "https://client.example.org/cb");
    assert_eq!(get("code_challenge_method"), "S256");
    assert_eq!(get("scope"), "account-information");

    pending
        .exchange(&format!(
            "https://client.example.org/cb?code=c-1&state={}",
            get("state")
        ))
        .await
        .unwrap();
    let exchange = form(&server.received_requests().await.unwrap()[1]);
    assert!(exchange.contains(&(
        "redirect_uri".into(),
        "https://client.example.org/cb".into()
    )));
    assert!(exchange.iter().any(|(n, _)| n == "code_verifier"));
}

/// A public client's authentication puts client_id in the body too: it is sent once (the
/// server refuses repeated parameters).
#[tokio::test]
async fn a_public_client_sends_client_id_once() {
    let server = par_server(created()).await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "native-app");
    flow(&server, client).begin_pushed().await.unwrap();
    let pushed = form(&server.received_requests().await.unwrap()[0]);
    let ids: Vec<&str> = pushed
        .iter()
        .filter(|(n, _)| n == "client_id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ids, ["native-app"]);
}

#[tokio::test]
async fn the_servers_refusal_and_a_malformed_answer_are_typed_errors() {
    let server = par_server(ResponseTemplate::new(400).set_body_raw(
        r#"{"error":"invalid_request","error_description":"redirect_uri not registered"}"#,
        "application/json",
    ))
    .await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app");
    let err = flow(&server, client).begin_pushed().await.unwrap_err();
    assert_eq!(
        err.oauth_error().map(|e| e.code.as_str()),
        Some("invalid_request"),
        "{err}"
    );

    let server = par_server(
        ResponseTemplate::new(201).set_body_raw(r#"{"expires_in":60}"#, "application/json"),
    )
    .await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app");
    let err = flow(&server, client).begin_pushed().await.unwrap_err();
    let authed::Error::OAuth(failure) = &err else {
        panic!("{err:?}")
    };
    assert!(
        failure
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("`request_uri` is missing")),
        "{err}"
    );
}

/// `begin()` cannot push: a flow that must push refuses it and names the call to make; a
/// flow with no endpoint to push to says so.
#[tokio::test]
async fn begin_refuses_when_the_flow_pushes_and_begin_pushed_needs_an_endpoint() {
    let server = par_server(created()).await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "app");
    let err = flow(&server, client.clone())
        .use_par(true)
        .begin()
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("begin_pushed"),
        "{err}"
    );

    let err = AuthorizationCode::new(client, format!("{}/authorize", server.uri()))
        .redirect_uri("https://client.example.org/cb")
        .begin_pushed()
        .await
        .unwrap_err();
    assert!(
        err.is_config()
            && err
                .to_string()
                .contains("pushed authorization request endpoint"),
        "{err}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// Discovery: a server that requires PAR gives a flow that pushes; one that merely
/// supports it gives a flow that knows the endpoint and pushes only when asked.
#[tokio::test]
async fn discovery_turns_par_on_when_the_server_requires_it() {
    for required in [true, false] {
        let server = MockServer::start().await;
        let issuer = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/oauth-authorization-server"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "pushed_authorization_request_endpoint": format!("{issuer}/par"),
                "require_pushed_authorization_requests": required,
            })))
            .mount(&server)
            .await;
        let metadata = ServerMetadata::discover(&issuer).await.unwrap();
        assert_eq!(metadata.require_pushed_authorization_requests, required);
        let flow = metadata
            .authorization_code(metadata.client("app").unwrap())
            .unwrap()
            .redirect_uri("https://client.example.org/cb");
        assert_eq!(flow.uses_par(), required);
        assert_eq!(flow.begin().is_err(), required);
    }
}

mod needs_oidc {
    use super::*;

    /// Auth code + PKCE through PAR, end to end: the flow from discovery knows the
    /// endpoint; the browser URL carries only client_id and request_uri; the user approves;
    /// the code is redeemed.
    #[tokio::test]
    async fn authorization_code_with_pkce_through_a_pushed_request() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        assert_eq!(
            metadata.pushed_authorization_request_endpoint.as_deref(),
            Some(server.url("/request").as_str())
        );
        assert!(!metadata.require_pushed_authorization_requests);
        let flow = metadata
            .authorization_code(metadata.client(oidc::NATIVE).unwrap())
            .unwrap()
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid"]);
        assert!(!flow.uses_par(), "supported, not required: opt-in");
        let pending = flow
            .begin_pushed()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert_only_client_id_and_request_uri(pending.url(), oidc::NATIVE);
        assert!(pending.request_uri_expires_in().is_some());
        let callback = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let token = pending
            .exchange(&callback)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(!token.access_token().expose_secret().is_empty());
        assert!(token.id_token().is_some());
    }

    /// A client the server requires to push: a request through the browser is refused; the
    /// same flow pushed (opted in on a flow from discovery) logs in through the loopback
    /// listener.
    #[tokio::test]
    async fn a_client_required_to_push_is_refused_without_par_and_logs_in_with_it() {
        let server = Arc::new(oidc::require().await);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let flow = metadata
            .authorization_code(metadata.client(oidc::NATIVE_PAR).unwrap())
            .unwrap()
            .scopes(["openid"]);

        let unpushed = flow
            .clone()
            .redirect_uri("http://127.0.0.1:9/callback")
            .begin()
            .unwrap();
        let refused = server
            .approve_authorization(unpushed.url().as_str(), "ada")
            .await;
        let refused = match refused {
            Ok(location) => location,
            Err(page) => page,
        };
        assert!(
            refused.contains("invalid_request") && !refused.contains("code="),
            "{refused}"
        );

        let browser = server.clone();
        let token = flow
            .use_par(true)
            .login_loopback(0, Duration::from_secs(30), move |url| {
                assert_only_client_id_and_request_uri(url, oidc::NATIVE_PAR);
                let url = url.to_string();
                tokio::spawn(async move {
                    browser.approve_and_deliver(&url, "ada").await.unwrap();
                });
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(token.id_token().is_some());
    }

    /// A server that requires PAR of every client says so in discovery; the flow built
    /// from it pushes without being asked, and `begin()` says to call `begin_pushed()`.
    #[tokio::test]
    async fn a_server_that_requires_par_is_pushed_to_through_discovery() {
        let server = Arc::new(oidc::OidcServer::require_with_env(&[oidc::REQUIRE_PAR_ENV]).await);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        assert!(metadata.require_pushed_authorization_requests);
        let flow = metadata
            .authorization_code(metadata.client(oidc::NATIVE).unwrap())
            .unwrap()
            .scopes(["openid"]);
        assert!(flow.uses_par());
        let err = flow
            .clone()
            .redirect_uri("http://127.0.0.1:9/callback")
            .begin()
            .unwrap_err();
        assert!(err.to_string().contains("begin_pushed"), "{err}");

        let browser = server.clone();
        let token = flow
            .login_loopback(0, Duration::from_secs(30), move |url| {
                assert_only_client_id_and_request_uri(url, oidc::NATIVE);
                let url = url.to_string();
                tokio::spawn(async move {
                    browser.approve_and_deliver(&url, "ada").await.unwrap();
                });
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(token.id_token().is_some());
    }
}
