//! A service account that authenticates with a private key instead of a shared secret:
//! `private_key_jwt` client authentication (RFC 7523 §2.2) for the client credentials grant,
//! and the JWT bearer grant (RFC 7523 §2.1), each token cached and refreshed ahead of expiry.
//! `cargo run --example service_account`.
//!
//! Without configuration it runs offline against an in-process authorization server that
//! checks each assertion's signature with the public key, its `aud`, `exp` and that no `jti`
//! is used twice. It signs with `tests/oidc/keys/es256.pem`, a **test-only** key. Against
//! your own server:
//!
//! ```sh
//! TOKEN_URL=https://auth.example.com/oauth/token CLIENT_ID=my-service \
//! KEY_FILE=/run/secrets/my-service.pem KEY_ALG=ES256 KEY_ID=key-1 \
//! cargo run --example service_account
//! ```
//!
//! `KEY_FILE` must be mode 0600 (as `Secret::from_file` wants). Nothing printed is a secret.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use authed::oauth2::{
    ClientAuth, ClientCredentials, JwsAlgorithm, JwtBearer, OAuthClient, SigningKey,
};
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::method};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo;
    let (token_url, client_id, key) = match std::env::var("TOKEN_URL") {
        Ok(url) => {
            let alg = match std::env::var("KEY_ALG").as_deref() {
                Ok("RS256") => JwsAlgorithm::RS256,
                Ok("PS256") => JwsAlgorithm::PS256,
                Ok("EdDSA") => JwsAlgorithm::EdDSA,
                _ => JwsAlgorithm::ES256,
            };
            let mut key = SigningKey::from_pem_file(alg, std::env::var("KEY_FILE")?)?;
            if let Ok(kid) = std::env::var("KEY_ID") {
                key = key.kid(kid);
            }
            (url, std::env::var("CLIENT_ID")?, key)
        }
        Err(_) => {
            let pem = include_str!("../tests/oidc/keys/es256.pem"); // test-only key
            let key = SigningKey::from_pem(JwsAlgorithm::ES256, pem)?.kid("demo-1");
            demo = demo_server(pem).await;
            (format!("{}/token", demo.uri()), "reporting".to_owned(), key)
        }
    };
    println!("signing key: {key:?}"); // algorithm and kid only

    // 1. Client credentials, the client authenticated by a signed assertion.
    let client = OAuthClient::new(&token_url, &client_id)
        .auth_method(ClientAuth::private_key_jwt(key.clone()));
    let auth = ClientCredentials::with_client(client).into_auth();
    let token = auth.token().await?;
    let lifetime = token
        .expires_at()
        .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok())
        .map(|left| left.as_secs());
    println!(
        "private_key_jwt: a {} token, valid for {lifetime:?} s",
        token.token_type()
    );
    auth.token().await?; // cached: no second request

    // 2. The JWT bearer grant: the assertion is the grant (Google-style service accounts).
    let grant = JwtBearer::new(&token_url, key, &client_id).scopes(["reports:read"]);
    let token = grant.into_auth().token().await?;
    println!(
        "jwt-bearer:      a {} token, scope {:?}",
        token.token_type(),
        token.scope()
    );
    Ok(())
}

/// A token endpoint that accepts either kind of assertion signed by `pem`'s key.
async fn demo_server(pem: &'static str) -> MockServer {
    let server = MockServer::start().await;
    let token_url = format!("{}/token", server.uri());
    let der = {
        use base64::Engine as _;
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let private = jsonwebtoken::EncodingKey::from_ec_der(&der);
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&private, jsonwebtoken::Algorithm::ES256)
        .unwrap();
    let public = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let seen = Arc::new(Mutex::new(HashSet::<String>::new()));
    Mock::given(method("POST"))
        .respond_with(move |request: &Request| {
            let form: Vec<(String, String)> = authed::url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
            let get = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            let assertion = get("client_assertion").or_else(|| get("assertion"));
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
            validation.set_audience(&[&token_url]);
            let verified = assertion.and_then(|a| {
                jsonwebtoken::decode::<serde_json::Value>(&a, &public, &validation).ok()
            });
            let fresh = verified.as_ref().is_some_and(|data| {
                let jti = data.claims["jti"].as_str().unwrap_or_default().to_owned();
                seen.lock().unwrap().insert(jti)
            });
            if !fresh {
                return ResponseTemplate::new(401)
                    .set_body_json(serde_json::json!({"error": "invalid_client"}));
            }
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": uuid::Uuid::new_v4().to_string(),
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": get("scope"),
            }))
        })
        .mount(&server)
        .await;
    server
}
