//! One DPoP-bound login (RFC 9449): `cargo run --example dpop_login`.
//!
//! It runs offline, against two in-process servers on 127.0.0.1: an authorization server
//! and an API, both of which check every DPoP proof (its signature with the key in its
//! header, `htm`, `htu`, `ath`, the nonce) and the binding of code and token to the key.
//! Both demand a nonce, as FAPI 2.0 servers may, so the login shows each round trip:
//!
//! 1. the authorization request carries `dpop_jkt`, the key's thumbprint: the server binds
//!    the code to it;
//! 2. the token request's first proof has no nonce: `400 use_dpop_nonce` with a
//!    `DPoP-Nonce`, and the client retries once with it; the token is `token_type: DPoP`;
//! 3. the first API call gets `401 WWW-Authenticate: DPoP error="use_dpop_nonce"`, and is
//!    replayed once with the nonce (no new token); the API's 200 brings the next nonce,
//!    which the second call uses at once;
//! 4. the same access token sent as a plain bearer token is refused: without the key it is
//!    worthless.
//!
//! The key is generated per run here; one kept in a secret store is read with
//! `DpopKey::from_pem` or `DpopKey::from_jwk`. Nothing printed is a secret.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use authed::{
    Client, ExposeSecret,
    oauth2::{AuthorizationCode, DpopKey, OAuthClient, RefreshToken},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth_server = MockServer::start().await;
    let api_server = MockServer::start().await;
    let state = Arc::new(Demo::default());
    state.mount(&auth_server, &api_server).await;

    let key = DpopKey::generate()?; // ES256
    println!("DPoP key: {key:?}"); // the algorithm and the thumbprint only
    let token_requests = Arc::new(AtomicUsize::new(0));
    let counter = token_requests.clone();
    let client = OAuthClient::new(format!("{}/token", auth_server.uri()), "demo-cli")
        .dpop(key.clone())
        .on_audit(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });

    // 1. The authorization request carries the key's thumbprint.
    let pending =
        AuthorizationCode::new(client.clone(), format!("{}/authorize", auth_server.uri()))
            .redirect_uri("http://127.0.0.1:8400/callback")
            .scopes(["profile"])
            .begin()?;
    let dpop_jkt = pending
        .url()
        .query_pairs()
        .find(|(name, _)| name == "dpop_jkt")
        .map(|(_, value)| value.into_owned());
    println!("1. authorization request: dpop_jkt = {dpop_jkt:?}");
    assert_eq!(dpop_jkt.as_deref(), Some(key.thumbprint()));

    // The user's browser: the demo server signs the user in at once and redirects back.
    let browser = authed::reqwest::Client::builder()
        .redirect(authed::reqwest::redirect::Policy::none())
        .build()?;
    let redirect = browser.get(pending.url().as_str()).send().await?;
    let callback = redirect
        .headers()
        .get("location")
        .ok_or("the authorization server did not redirect")?
        .to_str()?
        .to_owned();

    // 2. The code exchange: a proof, a nonce round trip, a DPoP-bound token.
    let token = pending.exchange(&callback).await?;
    println!(
        "2. token: token_type {}, after {} token requests (use_dpop_nonce, then the retry)",
        token.token_type(),
        token_requests.load(Ordering::SeqCst)
    );
    assert_eq!(token.token_type(), "DPoP");
    assert_eq!(token_requests.load(Ordering::SeqCst), 2);

    // 3. The API: `Authorization: DPoP <token>` and a fresh proof on every request.
    let auth = RefreshToken::new(client).into_auth();
    auth.set_token(token.clone()).await?;
    let api = Client::builder(api_server.uri()).auth(auth).build()?;
    for (call, expected) in [("first", 2), ("second", 1)] {
        let response = api.get("me").send().await?;
        let attempts = response.attempts();
        let me: Value = response.json().await?;
        println!(
            "3. {call} API call: {attempts} attempt(s), signed in as {}",
            me["sub"]
        );
        assert_eq!(attempts, expected, "the nonce round trip only once");
    }

    // 4. The token alone is worthless.
    let stolen = browser
        .get(format!("{}/me", api_server.uri()))
        .bearer_auth(token.access_token().expose_secret())
        .send()
        .await?;
    println!(
        "4. the same token as a bearer token, without the key: {}",
        stolen.status()
    );
    assert_eq!(stolen.status(), 401);
    Ok(())
}

/// What the demo servers remember.
#[derive(Default)]
struct Demo {
    /// The authorization server's current nonce.
    as_nonce: Mutex<String>,
    /// The API's current nonce (a new one after every success).
    api_nonce: Mutex<String>,
    /// code -> the `dpop_jkt` it was bound to.
    codes: Mutex<HashMap<String, String>>,
    /// access token -> the thumbprint it is bound to (its `cnf.jkt`).
    tokens: Mutex<HashMap<String, String>>,
}

impl Demo {
    async fn mount(self: &Arc<Self>, auth_server: &MockServer, api_server: &MockServer) {
        *self.as_nonce.lock().unwrap() = random();
        *self.api_nonce.lock().unwrap() = random();

        let demo = self.clone();
        Mock::given(method("GET"))
            .and(path("/authorize"))
            .respond_with(move |request: &Request| {
                let query: HashMap<_, _> = request.url.query_pairs().into_owned().collect();
                let code = random();
                let jkt = query.get("dpop_jkt").cloned().unwrap_or_default();
                demo.codes.lock().unwrap().insert(code.clone(), jkt);
                let mut back = url::Url::parse(&query["redirect_uri"]).unwrap();
                back.query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", &query["state"]);
                ResponseTemplate::new(302).insert_header("location", back.as_str())
            })
            .mount(auth_server)
            .await;

        let demo = self.clone();
        let token_url = format!("{}/token", auth_server.uri());
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(move |request: &Request| {
                let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
                    .into_owned()
                    .collect();
                let nonce = demo.as_nonce.lock().unwrap().clone();
                let proof = match check_proof(request, "POST", &token_url, None) {
                    Ok(proof) => proof,
                    Err(why) => return oauth_error(400, "invalid_dpop_proof", why),
                };
                if proof.nonce.as_deref() != Some(nonce.as_str()) {
                    return oauth_error(400, "use_dpop_nonce", "a nonce is required")
                        .insert_header("dpop-nonce", nonce.as_str());
                }
                let code = form.get("code").cloned().unwrap_or_default();
                let bound = demo.codes.lock().unwrap().remove(&code);
                if bound.as_deref() != Some(proof.jkt.as_str()) {
                    return oauth_error(400, "invalid_grant", "the code is bound to another key");
                }
                let access_token = random();
                demo.tokens
                    .lock()
                    .unwrap()
                    .insert(access_token.clone(), proof.jkt);
                ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": access_token,
                    "token_type": "DPoP",
                    "expires_in": 300,
                    "refresh_token": random(),
                }))
            })
            .mount(auth_server)
            .await;

        let demo = self.clone();
        let me_url = format!("{}/me", api_server.uri());
        Mock::given(method("GET"))
            .and(path("/me"))
            .respond_with(move |request: &Request| {
                let authorization = request
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let Some(token) = authorization.strip_prefix("DPoP ") else {
                    return challenge(r#"DPoP error="invalid_token""#);
                };
                let Ok(proof) = check_proof(request, "GET", &me_url, Some(token)) else {
                    return challenge(r#"DPoP error="invalid_dpop_proof""#);
                };
                if demo.tokens.lock().unwrap().get(token) != Some(&proof.jkt) {
                    return challenge(r#"DPoP error="invalid_token""#);
                }
                let mut nonce = demo.api_nonce.lock().unwrap();
                if proof.nonce.as_deref() != Some(nonce.as_str()) {
                    return challenge(r#"DPoP error="use_dpop_nonce""#)
                        .insert_header("dpop-nonce", nonce.as_str());
                }
                // A nonce is good for one success here; the answer brings the next one.
                *nonce = random();
                ResponseTemplate::new(200)
                    .insert_header("dpop-nonce", nonce.as_str())
                    .set_body_json(json!({"sub": "ada"}))
            })
            .mount(api_server)
            .await;
    }
}

/// What a checked proof tells: the thumbprint of its key, and the nonce it carries.
struct Proof {
    jkt: String,
    nonce: Option<String>,
}

/// Checks the request's DPoP proof: `typ`, the signature with the key in its header, `htm`,
/// `htu` and, when a token is presented, `ath`.
fn check_proof(
    request: &Request,
    htm: &str,
    htu: &str,
    token: Option<&str>,
) -> Result<Proof, &'static str> {
    let proof = request
        .headers
        .get("dpop")
        .and_then(|v| v.to_str().ok())
        .ok_or("no DPoP proof")?;
    let header = jsonwebtoken::decode_header(proof).map_err(|_| "not a JWS")?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err("typ is not dpop+jwt");
    }
    let jwk = header.jwk.ok_or("no jwk in the header")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|_| "a bad jwk")?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(proof, &key, &validation)
        .map_err(|_| "the signature does not verify")?
        .claims;
    if claims["htm"] != htm || claims["htu"] != htu || !claims["jti"].is_string() {
        return Err("htm, htu or jti is wrong");
    }
    if let Some(token) = token
        && claims["ath"] != URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
    {
        return Err("ath is not the token's hash");
    }
    // RFC 7638: the thumbprint of the required members of an EC key, in lexicographic order
    // (`json!` writes them so).
    let public = serde_json::to_value(&jwk).map_err(|_| "a bad jwk")?;
    let members = json!({
        "crv": public["crv"], "kty": public["kty"], "x": public["x"], "y": public["y"],
    });
    Ok(Proof {
        jkt: URL_SAFE_NO_PAD.encode(Sha256::digest(members.to_string().as_bytes())),
        nonce: claims["nonce"].as_str().map(str::to_owned),
    })
}

fn oauth_error(status: u16, code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": code, "error_description": description}))
}

fn challenge(www_authenticate: &str) -> ResponseTemplate {
    ResponseTemplate::new(401).insert_header("www-authenticate", www_authenticate)
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
