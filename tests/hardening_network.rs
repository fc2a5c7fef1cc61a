//! Issue 10, network edges: loopback by address only (11), no body replayed to another origin
//! on 307/308 (12), ASCII-only header credentials (13), what is retried around a response (7),
//! and the loopback login listener under idle connections (10) and what its pages show. Every
//! server listens on 127.0.0.1 and every wait is bounded.

#[path = "support/scripted.rs"]
mod scripted;

#[cfg(feature = "oauth2")]
use authed::oauth2::{ClientCredentials, OAuthClient};
use authed::{
    Client, Error, Secret,
    auth::{ApiKey, AuthRequest, Authenticate, Basic, Bearer},
    error::RedirectKind,
    redirect::Policy,
};
use scripted::{Reply, Scripted};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---- 11: "loopback" is an address, not a name ------------------------------------------

#[test]
fn plain_http_credentials_are_refused_for_names_under_localhost() {
    for base in [
        "http://api.localhost:8080/",
        "http://evil.localhost/",
        "http://localhost.:8080/",
    ] {
        let err = Client::builder(base)
            .auth(Bearer::new("tok-canary"))
            .build()
            .expect_err(base);
        assert!(err.is_config(), "{base}: {err}");
        assert!(!err.to_string().contains("tok-canary"), "{err}");
    }
    // The exact name and the IP literals still get them.
    for base in [
        "http://localhost:8080/",
        "http://127.0.0.1:8080/",
        "http://127.8.9.10/",
        "http://[::1]:8080/",
    ] {
        Client::builder(base)
            .auth(Bearer::new("tok"))
            .build()
            .unwrap_or_else(|e| panic!("{base}: {e}"));
    }
}

#[cfg(feature = "oauth2")]
#[test]
fn oauth_endpoints_on_names_under_localhost_are_refused() {
    let auth = authed::oauth2::ClientCredentials::new(
        "http://idp.localhost:9000/token",
        "client",
        "secret-canary",
    )
    .into_auth();
    let err = Client::builder("https://api.example.com/")
        .auth(auth)
        .build()
        .expect_err("a plain-http token endpoint on *.localhost");
    assert!(err.is_config(), "{err}");
    assert!(!err.to_string().contains("secret-canary"), "{err}");
}

// ---- 12: a 307/308 does not carry the body to another origin -----------------------------

/// A server that answers every request with `status` and a `Location` pointing at `target`.
async fn redirecting(status: u16, target: String) -> Scripted {
    Scripted::start(move |_| Reply::new(status).header("location", target.clone())).await
}

#[tokio::test]
async fn a_cross_origin_307_or_308_with_a_body_is_refused_and_names_the_target() {
    let other = Scripted::start(|_| Reply::ok()).await;
    for status in [307, 308] {
        let home = redirecting(status, format!("{}collect?api_key=k-canary", other.url())).await;
        let client = Client::builder(home.url()).build().unwrap();
        let err = client
            .post("login")
            .json(&serde_json::json!({ "password": "pw-canary" }))
            .send()
            .await
            .expect_err("a body must not follow a redirect to another origin");
        let Error::Redirect(e) = &err else {
            panic!("not a redirect error: {err}")
        };
        assert_eq!(e.kind, RedirectKind::BodyToOtherOrigin, "{err}");
        let origin = other.url().trim_end_matches('/').to_owned();
        assert_eq!(e.target.as_deref(), Some(origin.as_str()));
        let text = err.to_string();
        assert!(
            text.contains(&origin) && text.contains("replay_body_cross_origin"),
            "{text}"
        );
        assert!(!text.contains("canary"), "{text}");
    }
    assert!(other.seen().is_empty(), "the body reached the other origin");
}

#[tokio::test]
async fn cross_origin_body_replay_is_an_explicit_opt_in_and_same_origin_is_unaffected() {
    let other = Scripted::start(|_| Reply::ok()).await;
    let home = Scripted::start({
        let target = format!("{}upload", other.url());
        move |seen| match seen.path.as_str() {
            "/moved" => Reply::new(308).header("location", "/here"),
            "/away" => Reply::new(307).header("location", target.clone()),
            _ => Reply::ok(),
        }
    })
    .await;
    let client = Client::builder(home.url()).build().unwrap();
    // Same origin: followed with the body, by default.
    client
        .post("moved")
        .body("same-origin-body")
        .send()
        .await
        .unwrap();
    let here = home.seen().pop().unwrap();
    assert_eq!(
        (here.path.as_str(), &here.body[..]),
        ("/here", &b"same-origin-body"[..])
    );
    // No body: followed.
    client.post("away").send().await.unwrap();
    assert_eq!(other.seen().len(), 1);
    // With the opt-in, per request: followed, body and all.
    client
        .post("away")
        .body("opted-in-body")
        .redirect(Policy::default().replay_body_cross_origin(true))
        .send()
        .await
        .unwrap();
    assert_eq!(other.seen().pop().unwrap().body, b"opted-in-body");
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn the_token_endpoint_never_follows_a_redirect_even_with_a_user_client() {
    let elsewhere = Scripted::start(|_| Reply::ok()).await;
    let token = Scripted::start({
        let target = format!("{}stolen", elsewhere.url());
        move |seen| match seen.path.as_str() {
            "/token" => Reply::new(307).header("location", "/same-origin"),
            "/token2" => Reply::new(307).header("location", target.clone()),
            _ => Reply::ok().body(r#"{"access_token":"a","token_type":"bearer"}"#),
        }
    })
    .await;
    // A user-supplied client that follows redirects and even replays bodies across origins.
    let http = Client::builder(token.url())
        .redirect(Policy::limited(5).replay_body_cross_origin(true))
        .build()
        .unwrap();
    for path in ["token", "token2"] {
        let oauth = OAuthClient::new(format!("{}{path}", token.url()), "id")
            .secret("client-secret-canary")
            .http_client(http.clone());
        let err = ClientCredentials::with_client(oauth)
            .into_auth()
            .token()
            .await
            .expect_err("a 307 from the token endpoint is an error");
        assert!(!err.to_string().contains("client-secret-canary"), "{err}");
    }
    let paths: Vec<_> = token.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/token", "/token2"]);
    assert!(elsewhere.seen().is_empty());
}

// ---- 13: header credentials are ASCII ----------------------------------------------------

#[test]
fn non_ascii_header_credentials_are_refused_at_build_time_without_the_secret() {
    let api_key = Client::builder("https://api.example.com/")
        .auth(ApiKey::header("X-API-Key", "cl\u{e9}-canary"))
        .build()
        .expect_err("a non-ASCII API key header");
    let bearer = Client::builder("https://api.example.com/")
        .auth(Bearer::new("t\u{f6}ken-canary"))
        .build()
        .expect_err("a non-ASCII bearer token");
    for err in [api_key, bearer] {
        let text = err.to_string();
        assert!(err.is_config(), "{text}");
        assert!(text.contains("ASCII"), "{text}");
        assert!(
            !text.contains("canary") && !text.contains("\u{f6}"),
            "{text}"
        );
    }
    // Basic is base64 of UTF-8 (RFC 7617), and a query key is percent-encoded: both fine.
    Client::builder("https://api.example.com/")
        .auth(Basic::new("user", "p\u{e4}ss"))
        .auth(ApiKey::query("api_key", "cl\u{e9}"))
        .build()
        .unwrap();
}

/// A custom scheme that writes its secret with `AuthRequest::set_header`.
#[derive(Debug)]
struct RawHeader(Secret);

#[async_trait::async_trait]
impl Authenticate for RawHeader {
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> authed::Result<()> {
        request.set_header(http::HeaderName::from_static("x-token"), &self.0)
    }
}

#[tokio::test]
async fn set_header_refuses_a_non_ascii_secret_and_sends_nothing() {
    let server = Scripted::start(|_| Reply::ok()).await;
    let client = Client::builder(server.url())
        .auth(RawHeader(Secret::from("\u{fc}ber-canary")))
        .build()
        .unwrap();
    let err = client
        .get("x")
        .send()
        .await
        .expect_err("a non-ASCII header secret");
    let text = err.to_string();
    assert!(err.is_config() && text.contains("ASCII"), "{text}");
    assert!(!text.contains("canary"), "{text}");
    assert!(server.seen().is_empty());
}

// ---- 7: what is retried around the response head ----------------------------------------

/// A raw server: connection `n` (from 0) reads one request, writes `script(n)` and hangs up.
/// Returns its base URL and the number of connections accepted.
async fn raw(script: fn(usize) -> &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(script(n)).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/"), count)
}

const FULL: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}";

fn quick_retries() -> authed::RetryPolicy {
    authed::RetryPolicy::default()
        .max_retries(3)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
        .retry_budget(false)
}

#[tokio::test]
async fn a_connection_dropped_before_the_head_is_complete_is_retried_when_idempotent() {
    // The first connection hangs up in the middle of the status line's headers.
    let (url, count) = raw(|n| {
        if n == 0 {
            b"HTTP/1.1 200 OK\r\ncontent-len"
        } else {
            FULL
        }
    })
    .await;
    let client = Client::builder(&url)
        .retry(quick_retries())
        .build()
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.get("x").send())
        .await
        .expect("bounded")
        .expect("a GET whose answer was cut before its head is retried");
    assert_eq!(response.attempts(), 2);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true);

    // A POST is not: the server may have done the work.
    let (url, count) = raw(|n| if n == 0 { b"HTTP/1.1 200 OK\r\n" } else { FULL }).await;
    let client = Client::builder(&url)
        .retry(quick_retries())
        .build()
        .unwrap();
    let err = client.post("x").json(&1).send().await.unwrap_err();
    assert_eq!(err.request().unwrap().attempts, 1, "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_cut_after_the_response_was_returned_is_not_retried_and_says_so() {
    // The head is complete (200, 100 bytes announced); the body stops after 10.
    let (url, count) = raw(|n| {
        if n == 0 {
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"items\":["
        } else {
            FULL
        }
    })
    .await;
    let client = Client::builder(&url)
        .retry(quick_retries())
        .build()
        .unwrap();
    let response = client
        .get("x")
        .send()
        .await
        .expect("the head arrived whole");
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        response.json::<serde_json::Value>(),
    )
    .await
    .expect("bounded")
    .expect_err("a truncated body is an error");
    let Error::Transport(e) = &err else {
        panic!("not a transport error: {err}")
    };
    assert_eq!(e.kind, authed::error::TransportKind::Body, "{err}");
    assert_eq!(
        e.request.retry_stop,
        Some(authed::retry::RetryStop::ResponseReturned),
        "{err}"
    );
    assert!(err.to_string().contains("not retried"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "the client did not resend");
}

// ---- 10: the loopback login listener under idle and stray connections ------------------

/// Sends `request` on a new connection to `port` and returns the status line of the answer.
#[cfg(feature = "oauth2")]
async fn status_line(port: u16, request: String) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn the_loopback_listener_completes_the_login_with_idle_and_stray_connections_open() {
    let token_server = Scripted::start(|seen| {
        let body = String::from_utf8_lossy(&seen.body).into_owned();
        if seen.path == "/token" && body.contains("code=the-code") {
            Reply::ok().body(r#"{"access_token":"from-loopback","token_type":"Bearer"}"#)
        } else {
            Reply::new(400).body(r#"{"error":"invalid_grant"}"#)
        }
    })
    .await;
    let client = OAuthClient::new(format!("{}token", token_server.url()), "native-app");
    let flow = authed::oauth2::AuthorizationCode::new(client, "https://idp.example.com/authorize");
    let (report, mut answers) = tokio::sync::mpsc::unbounded_channel::<String>();
    let login = flow.login_loopback(0, Duration::from_secs(20), move |url| {
        let pairs: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        let redirect = authed::url::Url::parse(&pairs["redirect_uri"]).unwrap();
        let port = redirect.port().unwrap();
        let state = pairs["state"].clone();
        tokio::spawn(async move {
            // A connection that never sends anything (a browser's speculative preconnect, or
            // another local process), and one that stops in the middle of its headers.
            let idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let mut half = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            half.write_all(b"GET /callback?code=stolen HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            // Requests that are not the redirect get a 404 and do not end the login.
            for request in [
                "GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_owned(),
                "POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n"
                    .to_owned(),
            ] {
                let _ = report.send(status_line(port, request).await);
            }
            let callback = format!(
                "GET /callback?code=the-code&state={state} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            );
            let _ = report.send(status_line(port, callback).await);
            drop((idle, half));
        });
    });
    let token = tokio::time::timeout(Duration::from_secs(15), login)
        .await
        .expect("the login finished while idle connections were open")
        .expect("the login succeeded");
    assert_eq!(
        authed::ExposeSecret::expose_secret(token.access_token()),
        "from-loopback"
    );
    let mut seen = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(5), answers.recv()).await {
        seen.push(line);
        if seen.len() == 3 {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 200 OK"
        ]
    );
    assert_eq!(token_server.seen().len(), 1, "one code exchange");
}

// ---- 10: what the loopback listener's pages show -----------------------------------------

/// What [`loopback_page`] saw.
#[cfg(feature = "oauth2")]
struct PageSeen {
    /// The login's outcome.
    result: authed::Result<authed::oauth2::Token>,
    /// The whole answer the browser got: head and page.
    answer: String,
    /// Requests that reached the token endpoint.
    exchanges: usize,
    /// The login's `state`.
    state: String,
}

/// A loopback login whose "browser" sends `GET /callback?{query(state)}`.
#[cfg(feature = "oauth2")]
async fn loopback_page(query: impl FnOnce(&str) -> String + Send + 'static) -> PageSeen {
    use authed::oauth2::LoopbackPages;
    let token_server = Scripted::start(|seen| {
        let body = String::from_utf8_lossy(&seen.body).into_owned();
        if seen.path == "/token" && body.contains("code=the-code") {
            Reply::ok().body(r#"{"access_token":"the-access-token","token_type":"Bearer"}"#)
        } else {
            Reply::new(400).body(r#"{"error":"invalid_grant"}"#)
        }
    })
    .await;
    let client = OAuthClient::new(format!("{}token", token_server.url()), "native-app");
    let flow = authed::oauth2::AuthorizationCode::new(client, "https://idp.example.com/authorize")
        .loopback_pages(
            LoopbackPages::default()
                .success_hint("Return to <the> terminal & close this tab.")
                .failure_hint("The terminal says what to do."),
        );
    let (report, answer) = tokio::sync::oneshot::channel::<(String, String)>();
    let login = flow.login_loopback(0, Duration::from_secs(20), move |url| {
        let pairs: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        let port = authed::url::Url::parse(&pairs["redirect_uri"])
            .unwrap()
            .port()
            .unwrap();
        let state = pairs["state"].clone();
        let request = format!(
            "GET /callback?{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            query(&state)
        );
        tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            let _ = report.send((String::from_utf8_lossy(&answer).into_owned(), state));
        });
    });
    let result = tokio::time::timeout(Duration::from_secs(15), login)
        .await
        .expect("the login ends");
    let (answer, state) = tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .expect("the browser got an answer")
        .unwrap();
    PageSeen {
        result,
        answer,
        exchanges: token_server.seen().len(),
        state,
    }
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn the_success_page_comes_after_the_exchange_and_shows_no_code_state_or_token() {
    let PageSeen {
        result,
        answer,
        exchanges,
        state,
    } = loopback_page(|state| format!("code=the-code&state={state}")).await;
    result.expect("the login succeeded");
    assert_eq!(exchanges, 1);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("content-security-policy: default-src 'none'"),
        "{answer}"
    );
    assert!(answer.contains("<h1>Signed in</h1>"), "{answer}");
    assert!(answer.contains("The login succeeded."), "{answer}");
    assert!(
        answer.contains("Return to &lt;the&gt; terminal &amp; close this tab."),
        "the hint, escaped: {answer}"
    );
    for secret in ["the-code", state.as_str(), "the-access-token"] {
        assert!(!answer.contains(secret), "{secret:?} on the page: {answer}");
    }
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn an_error_redirect_shows_the_servers_error_escaped() {
    let PageSeen {
        result,
        answer,
        exchanges,
        ..
    } = loopback_page(|state| {
        format!(
            "error=access_denied&error_description=%3Cscript%3Ealert(%27x%27)%3C%2Fscript%3E%20%22no%22&state={state}"
        )
    })
    .await;
    let err = result.expect_err("the login failed");
    assert_eq!(
        err.oauth_error().map(|e| e.code.as_str()),
        Some("access_denied")
    );
    assert_eq!(exchanges, 0);
    assert!(answer.contains("<h1>Sign-in failed</h1>"), "{answer}");
    assert!(
        answer.contains(
            "The authorization server refused the login (access_denied: \
             &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;no&quot;)."
        ),
        "{answer}"
    );
    assert!(answer.contains("The terminal says what to do."), "{answer}");
    assert!(!answer.contains("<script"), "{answer}");
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn a_forged_redirect_gets_the_failure_page_not_the_success_page() {
    let PageSeen {
        result,
        answer,
        exchanges,
        ..
    } = loopback_page(|_| "code=the-code&state=forged".to_owned()).await;
    let err = result.expect_err("a wrong state fails the login");
    assert!(matches!(err, Error::Authorization { .. }), "{err}");
    assert_eq!(exchanges, 0, "no exchange with a wrong state");
    assert!(answer.contains("<h1>Sign-in failed</h1>"), "{answer}");
    assert!(
        answer.contains("does not match this login attempt"),
        "{answer}"
    );
    assert!(!answer.contains("Signed in"), "{answer}");
}
