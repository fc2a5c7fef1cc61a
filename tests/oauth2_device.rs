//! Device flow polling rules (RFC 8628 §3.4–3.5) that the real server never exercises:
//! `slow_down`, a missing `interval`, `access_denied`, `expired_token` and the code's own
//! expiry. On tokio's paused clock: the waits are exact and take no real time.

#![cfg(feature = "oauth2")]

#[path = "support/paused.rs"]
mod paused;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use authed::oauth2::{DeviceAuthorization, OAuthClient};
use tokio::time::Instant;
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

/// Answers the polls with `replies` in order (the last one repeats).
struct Script {
    replies: Vec<ResponseTemplate>,
    polls: Arc<AtomicUsize>,
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.polls.fetch_add(1, Ordering::SeqCst);
        self.replies[n.min(self.replies.len() - 1)].clone()
    }
}

fn error(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_raw(format!(r#"{{"error":"{code}"}}"#), "application/json")
}

fn token() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        r#"{"access_token":"device-access","token_type":"Bearer","expires_in":60}"#,
        "application/json",
    )
}

async fn server(
    device_json: &str,
    replies: Vec<ResponseTemplate>,
) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/device"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(device_json.to_owned(), "application/json"),
        )
        .mount(&server)
        .await;
    let polls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(Script {
            replies,
            polls: polls.clone(),
        })
        .mount(&server)
        .await;
    (server, polls)
}

/// A flow whose HTTP client has no timers of its own, so the paused clock only moves to the
/// polling waits.
fn flow(server: &MockServer) -> DeviceAuthorization {
    let client = paused::builder(server.uri()).build().unwrap();
    let oauth = OAuthClient::new(format!("{}/token", server.uri()), "tv").http_client(client);
    DeviceAuthorization::new(oauth, format!("{}/device", server.uri()))
}

const NO_INTERVAL: &str = r#"{"device_code":"dc-1","user_code":"ABCD-EFGH","verification_uri":"https://example.com/device","expires_in":600}"#;

#[tokio::test(start_paused = true)]
async fn slow_down_adds_five_seconds_for_good_and_a_missing_interval_means_five() {
    let (server, polls) = server(
        NO_INTERVAL,
        vec![
            error("authorization_pending"),
            error("slow_down"),
            error("authorization_pending"),
            token(),
        ],
    )
    .await;
    let started = Instant::now();
    let mut shown = None;
    let token = flow(&server)
        .login(|code| shown = Some((code.user_code.clone(), code.interval)))
        .await
        .unwrap();
    assert_eq!(
        shown,
        Some(("ABCD-EFGH".to_owned(), Duration::from_secs(5)))
    );
    assert!(token.refresh_token().is_none());
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    // 5 (first wait) + 5 (pending) + 10 (slow_down: 5 + 5) + 10 (still slowed down).
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn the_servers_interval_is_used() {
    let json = r#"{"device_code":"dc","user_code":"U","verification_uri":"https://e/d","verification_uri_complete":"https://e/d?u=U","expires_in":"600","interval":"2"}"#;
    let (server, polls) = server(json, vec![error("authorization_pending"), token()]).await;
    let started = Instant::now();
    let flow = flow(&server);
    let code = flow.start().await.unwrap();
    assert_eq!(
        code.verification_uri_complete.as_deref(),
        Some("https://e/d?u=U")
    );
    assert_eq!(code.interval, Duration::from_secs(2));
    assert!(
        !format!("{code:?}").contains("dc"),
        "the device code is redacted"
    );
    flow.poll(&code).await.unwrap();
    assert_eq!(polls.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn access_denied_and_expired_token_end_the_login() {
    for code in ["access_denied", "expired_token"] {
        let (server, polls) = server(
            NO_INTERVAL,
            vec![error("authorization_pending"), error(code)],
        )
        .await;
        let err = flow(&server).login(|_| {}).await.unwrap_err();
        assert_eq!(
            err.oauth_error().map(|e| e.code.as_str()),
            Some(code),
            "{err}"
        );
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn the_code_expiring_ends_the_login() {
    let json =
        r#"{"device_code":"dc","user_code":"U","verification_uri":"https://e/d","expires_in":12}"#;
    let (server, polls) = server(json, vec![error("authorization_pending")]).await;
    let started = Instant::now();
    let err = flow(&server).login(|_| {}).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(
        polls.load(Ordering::SeqCst),
        2,
        "polls at 5 s and 10 s; 15 s is too late"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_device_response_without_required_fields_is_a_typed_error() {
    let (server, _) = server(r#"{"user_code":"U"}"#, vec![token()]).await;
    let err = flow(&server).start().await.unwrap_err();
    assert!(err.to_string().contains("device_code"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_polling() {
    let (server, polls) = server(NO_INTERVAL, vec![error("authorization_pending")]).await;
    let flow = flow(&server);
    let login = flow.login(|_| {});
    assert!(
        tokio::time::timeout(Duration::from_secs(12), login)
            .await
            .is_err()
    );
    let before = polls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        polls.load(Ordering::SeqCst),
        before,
        "no poll after cancellation"
    );
}
