//! Token introspection (RFC 7662): `OAuthClient::introspect`. The exact request and the odd
//! answers with wiremock; active, revoked and expired tokens against node-oidc-provider.

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;

use authed::{
    Secret,
    oauth2::{ClientAuth, ClientCredentials, MAX_OAUTH_BODY, OAuthClient, ServerMetadata},
};
use base64::Engine as _;
use secrecy::ExposeSecret;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string, header, method, path},
};

const CANARY: &str = "canary-token-7f3a";

fn client(server: &MockServer) -> OAuthClient {
    OAuthClient::new(format!("{}/token", server.uri()), "rs-1").secret("rs-secret")
}

fn endpoint(server: &MockServer) -> String {
    format!("{}/introspect", server.uri())
}

#[tokio::test]
async fn sends_the_token_and_hint_with_client_authentication_and_parses_the_rfc_example() {
    let server = MockServer::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode("rs-1:rs-secret");
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(format!(
            "token={CANARY}&token_type_hint=access_token"
        )))
        // RFC 7662 §2.2's example answer.
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"active":true,"client_id":"l238j323ds-23ij4","username":"jdoe","scope":"read write dolphin","sub":"Z5O3upPC88QrAjx00dis","aud":"https://protected.example.net/resource","iss":"https://server.example.com/","exp":1419356238,"iat":1419350238,"extension_field":"twenty-seven"}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let answer = client(&server)
        .introspect(
            &endpoint(&server),
            &Secret::from(CANARY),
            Some("access_token"),
        )
        .await
        .unwrap();
    assert!(answer.active);
    assert_eq!(answer.client_id.as_deref(), Some("l238j323ds-23ij4"));
    assert_eq!(answer.username.as_deref(), Some("jdoe"));
    assert_eq!(
        answer.scopes().collect::<Vec<_>>(),
        ["read", "write", "dolphin"]
    );
    assert_eq!(answer.aud, ["https://protected.example.net/resource"]);
    assert_eq!(answer.exp, Some(1_419_356_238));
    assert_eq!(answer.extra["extension_field"], "twenty-seven");
}

#[tokio::test]
async fn client_secret_post_and_no_hint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .and(body_string(format!(
            "token={CANARY}&client_id=rs-1&client_secret=rs-secret"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"active":false}"#))
        .expect(1)
        .mount(&server)
        .await;
    let answer = client(&server)
        .auth_method(ClientAuth::SecretPost)
        .introspect(&endpoint(&server), &Secret::from(CANARY), None)
        .await
        .unwrap();
    assert!(
        !answer.active,
        "an inactive token is an answer, not an error"
    );
    assert_eq!(answer.scope, None);
}

#[tokio::test]
async fn an_error_answer_is_typed_and_never_quotes_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            format!(
                r#"{{"error":"invalid_client","error_description":"no client may ask about {CANARY}"}}"#
            ),
            "application/json",
        ))
        .mount(&server)
        .await;
    let err = client(&server)
        .introspect(&endpoint(&server), &Secret::from(CANARY), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.oauth_error().map(|e| e.code.as_str()),
        Some("invalid_client")
    );
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(CANARY), "{text}");
    }
}

#[tokio::test]
async fn a_malformed_answer_is_a_typed_error_naming_the_member() {
    let server = MockServer::start().await;
    for (body, member) in [
        (
            format!(r#"{{"active":"yes","sub":"{CANARY}"}}"#),
            "`active`",
        ),
        (format!(r#"{{"scope":"{CANARY}"}}"#), "`active` is missing"),
        (r#"{"active":true,"exp":"tomorrow"}"#.to_owned(), "`exp`"),
        ("<html>".to_owned(), "not JSON"),
    ] {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let err = client(&server)
            .introspect(&endpoint(&server), &Secret::from(CANARY), None)
            .await
            .unwrap_err();
        let authed::Error::OAuth(failure) = &err else {
            panic!("{err:?}")
        };
        let problem = failure.problem.as_deref().unwrap_or_default();
        assert!(
            problem.contains("not an introspection response") && problem.contains(member),
            "{problem}"
        );
        assert!(!format!("{err} {err:?}").contains(CANARY), "{err:?}");
    }
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let server = MockServer::start().await;
    let huge = format!(
        r#"{{"active":true,"pad":"{}"}}"#,
        "x".repeat(MAX_OAUTH_BODY)
    );
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .mount(&server)
        .await;
    let err = client(&server)
        .introspect(&endpoint(&server), &Secret::from(CANARY), None)
        .await
        .unwrap_err();
    assert!(err.is_body_too_large(), "{err:?}");
}

#[tokio::test]
async fn a_plain_http_endpoint_off_loopback_is_refused_before_sending() {
    let server = MockServer::start().await;
    let err = client(&server)
        .introspect(
            "http://idp.example.com/introspect",
            &Secret::from(CANARY),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
}

mod needs_oidc {
    use super::*;

    /// A confidential client introspects its own client credentials token, found through
    /// discovery: active, with the server's claims; revoked: `active: false`.
    #[tokio::test]
    async fn an_active_token_then_the_same_token_revoked() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let introspection = metadata.introspection_endpoint.clone().unwrap();
        assert_eq!(introspection, server.introspection_endpoint());
        let client = metadata
            .client(oidc::CC_BASIC)
            .unwrap()
            .secret(oidc::CC_SECRET);
        let token = ClientCredentials::with_client(client.clone())
            .scopes(["api:read"])
            .into_auth()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));

        let answer = client
            .introspect(&introspection, token.access_token(), Some("access_token"))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(answer.active, "{answer:?}");
        assert_eq!(answer.client_id.as_deref(), Some(oidc::CC_BASIC));
        assert_eq!(answer.scopes().collect::<Vec<_>>(), ["api:read"]);
        assert_eq!(answer.iss.as_deref(), Some(server.issuer.as_str()));
        assert_eq!(answer.token_type.as_deref(), Some("Bearer"));
        let now = std::time::SystemTime::now();
        assert!(answer.expires_at().unwrap() > now, "{answer:?}");
        assert!(answer.issued_at().unwrap() <= now, "{answer:?}");

        client
            .revoke(
                metadata.revocation_endpoint.as_deref().unwrap(),
                token.access_token(),
                "access_token",
            )
            .await
            .unwrap();
        let answer = client
            .introspect(&introspection, token.access_token(), Some("access_token"))
            .await
            .unwrap();
        assert!(!answer.active, "revoked: {answer:?}");
        assert_eq!(answer.client_id, None, "nothing more is said");
    }

    /// A public client introspects its own refresh token (24 h: only revocation can make it
    /// inactive within the test), through the client authentication `none`.
    #[tokio::test]
    async fn a_public_clients_refresh_token_active_then_revoked() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let client = metadata.client(oidc::NATIVE).unwrap();
        let pending = metadata
            .authorization_code(client.clone())
            .unwrap()
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid"])
            .begin()
            .unwrap();
        let callback = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let token = pending.exchange(&callback).await.unwrap();
        let refresh = token.refresh_token().unwrap();
        let endpoint = metadata.introspection_endpoint.as_deref().unwrap();

        let answer = client
            .introspect(endpoint, refresh, Some("refresh_token"))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(answer.active, "{answer:?}");
        assert_eq!(answer.sub.as_deref(), Some("ada"));
        assert_eq!(answer.client_id.as_deref(), Some(oidc::NATIVE));
        assert!(
            !format!("{answer:?}").contains(refresh.expose_secret()),
            "the Debug of an answer does not carry the token"
        );

        client
            .revoke(
                metadata.revocation_endpoint.as_deref().unwrap(),
                refresh,
                "refresh_token",
            )
            .await
            .unwrap();
        let answer = client
            .introspect(endpoint, refresh, Some("refresh_token"))
            .await
            .unwrap();
        assert!(!answer.active, "revoked: {answer:?}");
    }

    /// A wrong client secret: the server's `invalid_client`, typed, not `active: false`.
    #[tokio::test]
    async fn a_wrong_client_secret_is_invalid_client() {
        let server = oidc::require().await;
        let client = OAuthClient::new(server.token_endpoint(), oidc::CC_BASIC).secret("wrong");
        let err = client
            .introspect(
                &server.introspection_endpoint(),
                &Secret::from(CANARY),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.oauth_error().map(|e| e.code.as_str()),
            Some("invalid_client"),
            "{err}"
        );
        assert!(!format!("{err} {err:?}").contains(CANARY));
    }
}

mod parser {
    use authed::oauth2::{Introspection, TokenResponseError};
    use proptest::prelude::*;

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// JSON values of the shapes servers send, and the ones they should not.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::{Value, json};
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "[ -~]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop::collection::vec(inner, 0..4).prop_map(Value::Array)
        })
    }

    proptest! {
        #![proptest_config(config())]

        /// Any bytes: an answer or a typed error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = Introspection::from_response(&body);
        }

        /// Any mix of the RFC's members with any values: parsed, or refused naming a member;
        /// a boolean `active` and well-typed members always parse, and nothing is lost.
        #[test]
        fn members_of_any_type_are_parsed_or_named(
            members in prop::collection::btree_map(
                prop::sample::select(vec![
                    "active", "scope", "client_id", "username", "token_type", "exp", "iat",
                    "nbf", "sub", "aud", "iss", "jti", "error", "cnf", "ext",
                ]),
                value(),
                0..10,
            ),
        ) {
            let object: serde_json::Map<String, serde_json::Value> =
                members.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            let body = serde_json::to_vec(&object).unwrap();
            match Introspection::from_response(&body) {
                Ok(answer) => {
                    prop_assert_eq!(Some(&serde_json::Value::Bool(answer.active)), object.get("active"));
                    for key in ["cnf", "ext"] {
                        prop_assert_eq!(answer.extra.get(key), object.get(key));
                    }
                }
                Err(TokenResponseError::Invalid(problem)) => {
                    prop_assert!(problem.contains('`'), "{}", problem);
                }
                Err(TokenResponseError::OAuth(error)) => {
                    prop_assert_eq!(Some(error.code.as_str()), object.get("error").and_then(|v| v.as_str()));
                }
                Err(other) => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
