//! OAuth 2.0 protocol cases the real authorization server never produces, with wiremock: odd
//! token responses, error bodies on 2xx, JWT-only expiry, 401 -> refresh -> replay,
//! `invalid_grant`, rotation, and the token cache under contention.

#![cfg(feature = "oauth2")]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use authed::{
    Client, Error, Secret,
    oauth2::{
        ClientAuth, ClientCredentials, Custom, MemoryTokenStore, OAuthClient, RefreshToken, Token,
        TokenAuth, TokenStore,
    },
};
use base64::Engine as _;
use secrecy::ExposeSecret;
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

const SECRET: &str = "s3cr+t%/:x";

fn token_json(access: &str, extra: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        format!(r#"{{"access_token":"{access}","token_type":"bearer"{extra}}}"#),
        "application/json",
    )
}

fn form(request: &Request) -> Vec<(String, String)> {
    authed::url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field(request: &Request, name: &str) -> Option<String> {
    form(request)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

async fn api_accepting(tokens: &[&str]) -> MockServer {
    let api = MockServer::start().await;
    for t in tokens {
        Mock::given(method("GET"))
            .and(header("authorization", format!("Bearer {t}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_string("{\"ok\":true}"))
            .mount(&api)
            .await;
    }
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Bearer error=\"invalid_token\""),
        )
        .with_priority(10)
        .mount(&api)
        .await;
    api
}

#[tokio::test]
async fn client_secret_basic_form_urlencodes_before_base64() {
    let auth_server = MockServer::start().await;
    let expected =
        base64::engine::general_purpose::STANDARD.encode("my%3Aclient:s3cr%2Bt%25%2F%3Ax");
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header(
            "authorization",
            format!("Basic {expected}").as_str(),
        ))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("scope=read+write"))
        .respond_with(token_json("tok-A", r#","expires_in":3600"#))
        .expect(1)
        .mount(&auth_server)
        .await;
    let auth = ClientCredentials::new(format!("{}/token", auth_server.uri()), "my:client", SECRET)
        .scopes(["read", "write"])
        .into_auth();
    let token = auth.token().await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "tok-A");
    // The body carries no secret with client_secret_basic.
    let seen = &auth_server.received_requests().await.unwrap()[0];
    assert_eq!(field(seen, "client_secret"), None);
    assert_eq!(field(seen, "client_id"), None);
}

#[tokio::test]
async fn client_secret_post_and_none_put_the_client_in_the_body_only() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_json("tok", ""))
        .mount(&auth_server)
        .await;
    let url = format!("{}/token", auth_server.uri());
    ClientCredentials::new(&url, "cid", SECRET)
        .auth_method(ClientAuth::SecretPost)
        .into_auth()
        .token()
        .await
        .unwrap();
    let public = RefreshToken::new(OAuthClient::new(&url, "public-app")).into_auth();
    public
        .set_token(Token::bearer("old").with_refresh_token("r-1"))
        .await
        .unwrap();
    public.forget().await.unwrap();
    let seen = auth_server.received_requests().await.unwrap();
    assert_eq!(field(&seen[0], "client_id").as_deref(), Some("cid"));
    assert_eq!(field(&seen[0], "client_secret").as_deref(), Some(SECRET));
    assert!(seen[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn string_expires_in_error_bodies_on_2xx_and_garbage() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("scope=ok"))
        .respond_with(token_json("tok", r#","expires_in":"120""#))
        .mount(&auth_server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("scope=err"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"error":"invalid_scope","error_description":"nope"}"#,
            "application/json",
        ))
        .mount(&auth_server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("scope=html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
        .mount(&auth_server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("scope=400"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"error":"invalid_client","error_uri":"https://docs/x"}"#,
            "application/json",
        ))
        .mount(&auth_server)
        .await;
    let url = format!("{}/token", auth_server.uri());
    let get = |scope: &str| {
        ClientCredentials::new(&url, "cid", SECRET)
            .scopes([scope.to_owned()])
            .into_auth()
    };
    let token = get("ok").token().await.unwrap();
    let lifetime = token
        .expires_at()
        .unwrap()
        .duration_since(token.received_at())
        .unwrap();
    assert_eq!(lifetime, Duration::from_secs(120));

    let err = get("err").token().await.unwrap_err();
    assert_eq!(err.oauth_error().unwrap().code, "invalid_scope");
    assert!(err.to_string().contains("invalid_scope: nope"), "{err}");

    let err = get("html").token().await.unwrap_err();
    let Error::OAuth(failure) = &err else {
        panic!("{err:?}")
    };
    assert!(
        failure.problem.as_deref().unwrap().contains("JSON"),
        "{err}"
    );

    let err = get("400").token().await.unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    assert_eq!(err.oauth_error().unwrap().code, "invalid_client");
    assert!(!format!("{err} {err:?}").contains(SECRET));
}

fn jwt(exp: u64) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"RS256"}"#),
        b64(&format!(r#"{{"sub":"svc","exp":{exp}}}"#))
    )
}

#[tokio::test]
async fn jwt_only_expiry_drives_the_refresh() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    // Each token lives 2 s by its `exp` claim only; no expires_in.
    let source = Custom::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok(Token::bearer(jwt(now + 2 + n as u64))) }
    });
    let auth = source.into_auth();
    let first = auth.token().await.unwrap();
    assert!(first.expires_at().is_some(), "expiry read from the JWT");
    auth.token().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "fresh: cached");
    // Half of a short lifetime (shorter than the 60 s skew) later, it is refreshed.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    auth.token().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_401_refreshes_once_and_replays() {
    let api = api_accepting(&["tok-B"]).await;
    let auth_server = MockServer::start().await;
    let issued = Arc::new(AtomicUsize::new(0));
    struct Issue(Arc<AtomicUsize>);
    impl Respond for Issue {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            token_json(
                if n == 0 { "tok-A" } else { "tok-B" },
                r#","expires_in":3600"#,
            )
        }
    }
    Mock::given(method("POST"))
        .respond_with(Issue(issued.clone()))
        .mount(&auth_server)
        .await;
    let auth =
        ClientCredentials::new(format!("{}/token", auth_server.uri()), "cid", SECRET).into_auth();
    let client = Client::builder(api.uri()).auth(auth).build().unwrap();
    let response = client.get("me").send().await.unwrap();
    assert_eq!(response.attempts(), 2);
    assert_eq!(issued.load(Ordering::SeqCst), 2, "one token, one refresh");
    let seen = api.received_requests().await.unwrap();
    let sent: Vec<_> = seen
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(sent, ["Bearer tok-A", "Bearer tok-B"]);

    // A 401 that persists is not replayed forever: once.
    let stubborn = api_accepting(&[]).await;
    let client = Client::builder(stubborn.uri())
        .auth(
            ClientCredentials::new(format!("{}/token", auth_server.uri()), "cid", SECRET)
                .into_auth(),
        )
        .build()
        .unwrap();
    let err = client.get("me").send().await.unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_eq!(stubborn.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn insufficient_scope_is_not_a_reason_to_refresh() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "www-authenticate",
            "Bearer error=\"insufficient_scope\", scope=\"admin\"",
        ))
        .mount(&api)
        .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let auth = Custom::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(Token::bearer("tok")) }
    })
    .into_auth();
    let client = Client::builder(api.uri()).auth(auth).build().unwrap();
    client.get("admin").send().await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(api.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn rotation_is_stored_before_use_and_an_unrotated_refresh_token_is_kept() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("refresh_token=r-1"))
        .respond_with(token_json(
            "a-2",
            r#","refresh_token":"r-2","expires_in":3600"#,
        ))
        .mount(&auth_server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("refresh_token=r-2"))
        .respond_with(token_json("a-3", r#","expires_in":3600"#))
        .mount(&auth_server)
        .await;
    let store = Arc::new(MemoryTokenStore::default());
    let auth = RefreshToken::new(OAuthClient::new(
        format!("{}/token", auth_server.uri()),
        "app",
    ))
    .into_auth()
    .store(store.clone());
    // An expired session with refresh token r-1.
    auth.set_token(
        Token::bearer("a-1")
            .with_refresh_token("r-1")
            .with_expires_in(Duration::ZERO),
    )
    .await
    .unwrap();
    auth.token().await.unwrap();
    let stored = store.load().await.unwrap().unwrap();
    assert_eq!(
        stored.refresh_token().unwrap().expose_secret(),
        "r-2",
        "rotated and stored"
    );
    // Expire it again by hand: the next refresh does not rotate, r-2 is kept.
    auth.set_token(stored.with_expires_in(Duration::ZERO))
        .await
        .unwrap();
    let t = auth.token().await.unwrap();
    assert_eq!(t.access_token().expose_secret(), "a-3");
    assert_eq!(t.refresh_token().unwrap().expose_secret(), "r-2");
    let stored = store.load().await.unwrap().unwrap();
    assert_eq!(stored.refresh_token().unwrap().expose_secret(), "r-2");
}

#[tokio::test]
async fn invalid_grant_forgets_the_session() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#,
            "application/json",
        ))
        .mount(&auth_server)
        .await;
    let store = Arc::new(MemoryTokenStore::default());
    let auth = RefreshToken::new(OAuthClient::new(
        format!("{}/token", auth_server.uri()),
        "app",
    ))
    .into_auth()
    .store(store.clone());
    auth.set_token(
        Token::bearer("a")
            .with_refresh_token("r")
            .with_expires_in(Duration::ZERO),
    )
    .await
    .unwrap();
    let err = auth.token().await.unwrap_err();
    assert!(err.is_reauth_required(), "{err:?}");
    assert_eq!(err.oauth_error().unwrap().code, "invalid_grant");
    assert!(
        store.load().await.unwrap().is_none(),
        "the stored session is gone"
    );
    // And it stays a ReauthRequired: there is nothing to refresh with.
    assert!(auth.token().await.unwrap_err().is_reauth_required());
}

/// Lets a test keep a handle on the store it gives the cache.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_one_token_request() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            token_json("tok", r#","expires_in":3600"#).set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&auth_server)
        .await;
    let auth =
        ClientCredentials::new(format!("{}/token", auth_server.uri()), "cid", SECRET).into_auth();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let auth = auth.clone();
        tasks.spawn(async move { auth.token().await });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap().access_token().expose_secret(), "tok");
        ok += 1;
    }
    assert_eq!(ok, 1000);
    auth_server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failure_reaches_every_waiter_and_the_next_call_recovers() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_raw(r#"{"error":"temporarily_unavailable"}"#, "application/json")
                .set_delay(Duration::from_millis(200)),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&auth_server)
        .await;
    Mock::given(method("POST"))
        .respond_with(token_json("tok", r#","expires_in":3600"#))
        .with_priority(10)
        .expect(1)
        .mount(&auth_server)
        .await;
    let auth =
        ClientCredentials::new(format!("{}/token", auth_server.uri()), "cid", SECRET).into_auth();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let auth = auth.clone();
        tasks.spawn(async move { auth.token().await });
    }
    while let Some(r) = tasks.join_next().await {
        let err = r.unwrap().unwrap_err();
        assert_eq!(err.oauth_error().unwrap().code, "temporarily_unavailable");
    }
    auth.token().await.unwrap();
    auth_server.verify().await;
}

#[tokio::test]
async fn a_failed_early_refresh_keeps_serving_the_valid_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let auth = Custom::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                // Lives 2 s: refreshed ahead of expiry after 1 s (half its life).
                Ok(Token::bearer("first").with_expires_in(Duration::from_secs(2)))
            } else {
                Err(Error::auth("the authorization server is down"))
            }
        }
    })
    .into_auth();
    auth.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = auth.token().await.unwrap();
    assert_eq!(t.access_token().expose_secret(), "first");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "it tried, failed, and kept the token"
    );
    auth.token().await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "and waits before trying again"
    );
    // Once it has expired, the failure shows.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let err = auth.token().await.unwrap_err();
    assert!(err.to_string().contains("down"), "{err}");
}

#[tokio::test]
async fn a_cancelled_caller_does_not_strand_the_others() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_json("tok", "").set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&auth_server)
        .await;
    let auth =
        ClientCredentials::new(format!("{}/token", auth_server.uri()), "cid", SECRET).into_auth();
    let first = tokio::spawn({
        let auth = auth.clone();
        async move { auth.token().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort(); // the task that started the token request goes away
    let t = auth.token().await.unwrap();
    assert_eq!(t.access_token().expose_secret(), "tok");
    auth_server.verify().await;
}

#[tokio::test]
async fn debug_of_every_oauth_type_hides_secrets() {
    let client = OAuthClient::new("https://auth.example.com/token", "cid").secret("canary-secret");
    let auth = ClientCredentials::with_client(client.clone()).into_auth();
    auth.set_token(Token::bearer("canary-access").with_refresh_token("canary-refresh"))
        .await
        .unwrap();
    let password = authed::oauth2::Password::new(client.clone(), "ada", Secret::from("canary-pw"));
    let text = format!(
        "{client:?} {auth:?} {password:?} {:?}",
        auth.token().await.unwrap()
    );
    assert!(!text.contains("canary"), "{text}");
}

#[tokio::test]
async fn plain_http_to_a_remote_token_endpoint_is_refused() {
    let auth = ClientCredentials::new("http://auth.example.com/token", "cid", SECRET).into_auth();
    let err = Client::builder("https://api.example.com/")
        .auth(auth)
        .build()
        .unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().contains("plain http"), "{err}");
}

#[tokio::test]
async fn token_auth_works_as_a_shared_handle() {
    // Each login hands out a new token, so a second login would show.
    let logins = Arc::new(AtomicUsize::new(0));
    let auth: TokenAuth = Custom::new({
        let logins = logins.clone();
        move || {
            let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::task::yield_now().await; // let the other handles queue up behind it
                Ok(Token::bearer(format!("tok-{n}")))
            }
        }
    })
    .into_auth();

    // Many uses through handles: clones asking for the token from tasks of their own, and
    // two clients built with clones of it calling an API that accepts only the first token.
    let api = api_accepting(&["tok-1"]).await;
    let clients: Vec<Client> = (0..2)
        .map(|_| {
            Client::builder(api.uri())
                .auth(auth.clone())
                .build()
                .unwrap()
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let handle = auth.clone();
        tasks.spawn(async move { handle.token().await });
    }
    for client in &clients {
        for _ in 0..3 {
            client.get("me").send().await.unwrap();
        }
    }
    while let Some(token) = tasks.join_next().await {
        assert_eq!(
            token.unwrap().unwrap().access_token().expose_secret(),
            "tok-1"
        );
    }
    assert_eq!(
        auth.token().await.unwrap().access_token().expose_secret(),
        "tok-1"
    );
    assert_eq!(
        logins.load(Ordering::SeqCst),
        1,
        "every handle shares one token cache: one login"
    );
}

#[tokio::test]
async fn the_token_endpoint_is_never_followed_through_a_redirect() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_json("stolen", ""))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/token", elsewhere.uri()).as_str()),
        )
        .mount(&auth_server)
        .await;
    let err = ClientCredentials::new(format!("{}/token", auth_server.uri()), "cid", SECRET)
        .auth_method(ClientAuth::SecretPost)
        .into_auth()
        .token()
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(http::StatusCode::TEMPORARY_REDIRECT),
        "{err:?}"
    );
    elsewhere.verify().await; // the form with the secret went nowhere else
}

#[tokio::test]
async fn after_logout_reauth_required_says_the_session_was_logged_out() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&auth_server)
        .await;
    let client = OAuthClient::new(format!("{}/token", auth_server.uri()), "app");
    let auth = RefreshToken::new(client.clone()).into_auth();
    auth.set_token(Token::bearer("a-1").with_refresh_token("r-1"))
        .await
        .unwrap();
    auth.logout(&client, &format!("{}/revoke", auth_server.uri()))
        .await
        .unwrap();
    let err = auth.token().await.unwrap_err();
    assert!(err.is_reauth_required(), "{err}");
    assert!(err.to_string().contains("logged out"), "{err}");
    // Without a logout, a missing refresh token says just that.
    let fresh = RefreshToken::new(client).into_auth();
    let err = fresh.token().await.unwrap_err();
    assert!(
        err.is_reauth_required() && !err.to_string().contains("logged out"),
        "{err}"
    );
    // A new session clears the state.
    auth.set_token(Token::bearer("a-2").with_expires_in(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(
        auth.token().await.unwrap().access_token().expose_secret(),
        "a-2"
    );
}

#[tokio::test]
async fn the_token_endpoints_requests_reach_an_audit_hook() {
    let auth_server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_json("a-1", r#","expires_in":3600"#))
        .mount(&auth_server)
        .await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let client = OAuthClient::new(format!("{}/token", auth_server.uri()), "app")
        .secret("audit-s3cret-value")
        .on_audit(move |event| {
            log.lock()
                .unwrap()
                .push((event.method.to_string(), event.url.clone(), event.status));
        });
    let auth = ClientCredentials::with_client(client).into_auth();
    auth.token().await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (method, url, status) = &seen[0];
    assert_eq!(method, "POST");
    assert!(url.ends_with("/token"), "{url}");
    assert_eq!(*status, Some(http::StatusCode::OK));
    assert!(!format!("{seen:?}").contains("audit-s3cret-value"));
}
