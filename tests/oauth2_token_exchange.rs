//! The token exchange grant (RFC 8693) with wiremock: node-oidc-provider does not implement
//! it out of the box. The exact form of RFC 8693 §2.3's example, every optional parameter,
//! `invalid_target`, `N_A` answers, and the cache.

#![cfg(feature = "oauth2")]

use authed::{
    Client, Secret,
    oauth2::{ClientCredentials, OAuthClient, TokenExchange, token_type},
};
use secrecy::ExposeSecret;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_string, body_string_contains, header, method, path},
};

const SUBJECT: &str = "canary-subject-accVkjcJyb4BWCxGsndESCJQbdFMogUC5PbRDqceLTC";
const ACTOR: &str = "canary-actor-eyJhbGciOiJub25lIn0";

fn form(request: &Request) -> Vec<(String, String)> {
    authed::url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// RFC 8693 §2.3: the example request, byte for byte (the example's line breaks aside), and
/// the example answer.
#[tokio::test]
async fn rfc8693_section_2_3_example_request_and_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/as/token.oauth2"))
        // The example's credentials: rs08 / long-secure-random-secret.
        .and(header(
            "authorization",
            "Basic cnMwODpsb25nLXNlY3VyZS1yYW5kb20tc2VjcmV0",
        ))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &resource=https%3A%2F%2Fbackend.example.com%2Fapi\
             &subject_token=accVkjcJyb4BWCxGsndESCJQbdFMogUC5PbRDqceLTC\
             &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{
              "access_token":"eyJhbGciOiJFUzI1NiIsImtpZCI6IjllciJ9.eyJhdWQiOiJodHRwczovL2JhY2tlbmQuZXhhbXBsZS5jb20iLCJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUuY29tIiwiZXhwIjoxNDQxOTE3NTkzLCJpYXQiOjE0NDE5MTc1MzMsInN1YiI6ImJkY0BleGFtcGxlLmNvbSIsInNjb3BlIjoiYXBpIn0.40y3ZgQedw6rxf59WlwHDD9jryFOr0_Wh3CGozQBihNBhnXEQgU85AI9x3KmsPottVMLPIWvmDCMy5-kdXjwhw",
              "issued_token_type":"urn:ietf:params:oauth:token-type:access_token",
              "token_type":"Bearer",
              "expires_in":60
            }"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = OAuthClient::new(format!("{}/as/token.oauth2", server.uri()), "rs08")
        .secret("long-secure-random-secret");
    let token = TokenExchange::new(
        client,
        "accVkjcJyb4BWCxGsndESCJQbdFMogUC5PbRDqceLTC",
        token_type::ACCESS_TOKEN,
    )
    .resource("https://backend.example.com/api")
    .exchange()
    .await
    .unwrap();
    assert_eq!(token.issued_token_type(), Some(token_type::ACCESS_TOKEN));
    assert_eq!(token.token_type(), "Bearer");
    let lifetime = token
        .expires_at()
        .unwrap()
        .duration_since(token.received_at())
        .unwrap();
    assert_eq!(lifetime.as_secs(), 60);
}

/// Every parameter of RFC 8693 §2.1, each once, with its value; the answer's `N_A`
/// (not an access token) and `issued_token_type` come through.
#[tokio::test]
async fn delegation_with_every_optional_parameter() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token":"eyJ.id.token","issued_token_type":"urn:ietf:params:oauth:token-type:id_token","token_type":"N_A"}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "gateway").secret("s3cret");
    let token = TokenExchange::new(client, SUBJECT, token_type::JWT)
        .actor(ACTOR, token_type::ACCESS_TOKEN)
        .resource("https://a.example.com/")
        .resource("https://b.example.com/")
        .audience("billing")
        .scopes(["read", "write"])
        .requested_token_type(token_type::ID_TOKEN)
        .exchange()
        .await
        .unwrap();
    assert_eq!(token.token_type(), "N_A");
    assert_eq!(token.issued_token_type(), Some(token_type::ID_TOKEN));

    let requests = server.received_requests().await.unwrap();
    let mut sent = form(&requests[0]);
    sent.sort();
    let mut expected: Vec<(String, String)> = [
        ("actor_token", ACTOR),
        ("actor_token_type", token_type::ACCESS_TOKEN),
        ("audience", "billing"),
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("requested_token_type", token_type::ID_TOKEN),
        ("resource", "https://a.example.com/"),
        ("resource", "https://b.example.com/"),
        ("scope", "read write"),
        ("subject_token", SUBJECT),
        ("subject_token_type", token_type::JWT),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    expected.sort();
    assert_eq!(sent, expected);
}

/// RFC 8693 §2.2.2: `invalid_target` is the server's OAuth error, typed; the subject and
/// actor tokens never reach the error, even when the server echoes them.
#[tokio::test]
async fn invalid_target_is_a_typed_error_without_the_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("audience=elsewhere"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            format!(
                r#"{{"error":"invalid_target","error_description":"cannot issue for elsewhere with {SUBJECT} as {ACTOR}"}}"#
            ),
            "application/json",
        ))
        .mount(&server)
        .await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "gateway").secret("s3cret");
    let exchange = TokenExchange::new(client, SUBJECT, token_type::ACCESS_TOKEN)
        .actor(ACTOR, token_type::ACCESS_TOKEN)
        .audience("elsewhere");
    let err = exchange.exchange().await.unwrap_err();
    let oauth = err.oauth_error().expect("an OAuth error");
    assert_eq!(oauth.code, "invalid_target");
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    for text in [err.to_string(), format!("{err:?}"), format!("{exchange:?}")] {
        assert!(!text.contains("canary"), "{text}");
    }
    // Through the cache too.
    let err = exchange.into_auth().token().await.unwrap_err();
    assert_eq!(
        err.oauth_error().map(|e| e.code.as_str()),
        Some("invalid_target")
    );
}

/// A resource indicator must be an absolute URI: refused by the client, before sending.
#[tokio::test]
async fn a_relative_resource_is_refused_before_sending() {
    let server = MockServer::start().await;
    let client = OAuthClient::new(format!("{}/token", server.uri()), "gateway").secret("s3cret");
    let err = TokenExchange::new(client, SUBJECT, token_type::ACCESS_TOKEN)
        .resource("/api")
        .exchange()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// As a token source: the exchanged token is cached (many requests, one exchange), and the
/// subject token is the current token of another cache, asked for at the exchange.
#[tokio::test]
async fn the_exchanged_token_is_cached_and_the_subject_comes_from_another_cache() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token":"own-token","token_type":"Bearer","expires_in":3600}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("subject_token=own-token&"))
        .and(body_string_contains("audience=billing"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token":"billing-token","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/invoices"))
        .and(header("authorization", "Bearer billing-token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(3)
        .mount(&server)
        .await;

    let token_url = format!("{}/token", server.uri());
    let own = ClientCredentials::new(&token_url, "gateway", Secret::from("s3cret")).into_auth();
    let billing = TokenExchange::from_auth(
        OAuthClient::new(&token_url, "gateway").secret("s3cret"),
        own,
    )
    .audience("billing")
    .into_auth();
    let api = Client::builder(server.uri())
        .auth(billing.clone())
        .build()
        .unwrap();
    for _ in 0..3 {
        api.get("invoices").send().await.unwrap();
    }
    let token = billing.token().await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "billing-token");
    assert_eq!(token.issued_token_type(), Some(token_type::ACCESS_TOKEN));
}
