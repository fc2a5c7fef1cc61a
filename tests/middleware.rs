//! authed's stages inside someone else's `reqwest_middleware` stack, against a real local
//! server: an outer middleware of the caller's, then [`ThrottleMiddleware`], then
//! [`AuthMiddleware`] with a client-credentials token cache (so the `oauth2` feature too).
#![cfg(all(feature = "reqwest-middleware", feature = "oauth2"))]

#[path = "support/demo_api.rs"]
mod demo_api;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use authed::{
    RetryPolicy,
    auth::ApiKey,
    middleware::{AuthMiddleware, ThrottleMiddleware},
    oauth2::ClientCredentials,
    ratelimit::Pacing,
};
use demo_api::{DemoApi, DemoConfig, OAUTH_CLIENT_ID};
use http::{Extensions, StatusCode};
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next};

/// The caller's own middleware: counts what passes and tags it, as a tracing layer would.
#[derive(Clone, Default)]
struct Tagger {
    seen: Arc<AtomicUsize>,
    authorization_seen: Arc<Mutex<Vec<bool>>>,
}

#[async_trait::async_trait]
impl Middleware for Tagger {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        self.authorization_seen
            .lock()
            .unwrap()
            .push(req.headers().contains_key("authorization"));
        req.headers_mut()
            .insert("x-tagged", n.to_string().parse().unwrap());
        next.run(req, extensions).await
    }
}

fn plain_reqwest() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn stack(api: &DemoApi, tagger: &Tagger) -> ClientWithMiddleware {
    let token_url = format!("{}oauth/token", api.url());
    let auth = ClientCredentials::new(token_url, OAUTH_CLIENT_ID, DemoConfig::default().api_key)
        .into_auth();
    reqwest_middleware::ClientBuilder::new(plain_reqwest())
        .with(tagger.clone())
        .with(ThrottleMiddleware::new(
            RetryPolicy::default().jitter(0.0),
            Pacing::default(),
        ))
        .with(
            AuthMiddleware::builder(api.url())
                .auth(auth)
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn a_401_is_renewed_and_replayed_inside_the_stack() {
    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let tagger = Tagger::default();
    let client = stack(&api, &tagger);
    let me = format!("{}oauth/me", api.url());

    let first = client.get(&me).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(api.tokens_issued().client_credentials, 1);

    // The server forgets every token: the next call gets a 401, the token cache fetches a
    // new one, and the request is replayed once, below the caller's middleware.
    api.revoke_tokens();
    api.clear_requests();
    let second = client.get(&me).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(api.tokens_issued().client_credentials, 2, "one refresh");
    let to_me: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/me")
        .collect();
    assert_eq!(to_me.len(), 2, "the 401 and its replay");
    assert_ne!(
        to_me[0].header("authorization"),
        to_me[1].header("authorization"),
        "the replay carries the new token"
    );
    assert!(to_me.iter().all(|r| r.header("x-tagged") == Some("2")));
    // The outer middleware saw each call once, before any credential was added.
    assert_eq!(tagger.seen.load(Ordering::SeqCst), 2);
    assert_eq!(*tagger.authorization_seen.lock().unwrap(), [false, false]);
}

#[tokio::test]
async fn a_429_is_obeyed_inside_the_stack() {
    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let tagger = Tagger::default();
    let client = stack(&api, &tagger);
    let started = Instant::now();
    // `/busy/...` answers its first request 429 with `Retry-After: 1`, then 200.
    let response = client
        .get(format!("{}busy/once", api.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After obeyed: {:?}",
        started.elapsed()
    );
    let busy: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/busy/"))
        .collect();
    assert_eq!(busy.len(), 2, "one refusal, one retry");
    assert!(
        busy.iter().all(|r| r.header("authorization").is_some()),
        "the retry was authenticated afresh"
    );
    assert_eq!(tagger.seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn credentials_stay_with_their_origin_in_the_stack() {
    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let other = DemoApi::start(DemoConfig::default()).await.unwrap();
    let client = reqwest_middleware::ClientBuilder::new(plain_reqwest())
        .with(
            AuthMiddleware::builder(api.url())
                .auth(ApiKey::header("x-api-key", "demo-key"))
                .build()
                .unwrap(),
        )
        .build();
    client
        .get(format!("{}echo", api.url()))
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}echo", other.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.requests()[0].header("x-api-key"),
        Some("demo-key"),
        "the configured origin gets the key"
    );
    assert_eq!(
        other.requests()[0].header("x-api-key"),
        None,
        "another origin does not"
    );
}

#[tokio::test]
async fn pacing_refuses_fast_past_max_retry_after_and_returns_the_answer() {
    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let client = reqwest_middleware::ClientBuilder::new(plain_reqwest())
        .with(ThrottleMiddleware::new(
            RetryPolicy::default().max_retry_after(Duration::from_millis(500)),
            Pacing::default(),
        ))
        .build();
    // The 429 asks for 1 s, more than the 500 ms allowed: the middleware hands it back.
    let first = client
        .get(format!("{}busy/a", api.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    // The origin's gate now holds for that second: the next request is refused by the
    // client without being sent, with authed's typed error.
    let err = client
        .get(format!("{}busy/b", api.url()))
        .send()
        .await
        .unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("expected authed's error, got {err:?}")
    };
    let authed = inner
        .downcast_ref::<authed::Error>()
        .expect("an authed::Error");
    assert!(authed.is_rate_limited(), "{authed}");
    assert_eq!(api.requests().len(), 1, "the second request was not sent");
}

/// A DPoP token through `AuthMiddleware`: the nonce a resource server sends on a success goes
/// into the next request's proof (the stack shows the scheme every answer, as the client
/// does).
#[tokio::test]
async fn a_dpop_nonce_from_a_success_reaches_the_next_proof_in_the_stack() {
    use base64::Engine as _;
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{method, path},
    };
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "at-1", "token_type": "DPoP", "expires_in": 3600,
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/data"))
        .respond_with(ResponseTemplate::new(200).insert_header("dpop-nonce", "mw-1"))
        .mount(&server)
        .await;
    let client = authed::oauth2::OAuthClient::new(format!("{}/token", server.uri()), "svc")
        .secret("s3cret")
        .dpop(authed::oauth2::DpopKey::generate().unwrap());
    let stack = reqwest_middleware::ClientBuilder::new(plain_reqwest())
        .with(
            AuthMiddleware::builder(server.uri())
                .auth(ClientCredentials::with_client(client).into_auth())
                .build()
                .unwrap(),
        )
        .build();
    for _ in 0..2 {
        let response = stack
            .get(format!("{}/data", server.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let nonces: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/data")
        .map(|r| {
            let proof = r.headers["dpop"].to_str().unwrap();
            let claims = proof.split('.').nth(1).unwrap();
            let claims: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(claims)
                    .unwrap(),
            )
            .unwrap();
            claims["nonce"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(nonces, [None, Some("mw-1".to_owned())]);
}
