//! `ClientBuilder::on_wait`: the hook hears of every wait before it starts (a retry's, a
//! pacing gate's, a delayed redirect's), with its length, reason and a redacted URL. On
//! tokio's paused clock, so the lengths are exact.

#[path = "support/paused.rs"]
mod paused;
#[path = "support/scripted.rs"]
mod scripted;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use authed::{
    Client, RetryPolicy, Secret, WaitEvent,
    audit::WaitReason,
    auth::ApiKey,
    http::{Method, StatusCode},
    retry::RetryReason,
};
use scripted::{Reply, Scripted, Seen};
use tokio::time::Instant;

/// The events a hook heard, with the (virtual) time each was heard at.
type Heard = Arc<Mutex<Vec<(Instant, WaitEvent)>>>;

fn listening(builder: authed::ClientBuilder) -> (Client, Heard) {
    let heard: Heard = Arc::default();
    let sink = heard.clone();
    let client = builder
        .on_wait(move |event| sink.lock().unwrap().push((Instant::now(), event.clone())))
        .build()
        .unwrap();
    (client, heard)
}

const KEY: &str = "wait-hook-canary-key-3f2e";

#[tokio::test(start_paused = true)]
async fn a_retry_after_429_is_announced_with_its_wait_before_it_starts() {
    let server = Scripted::start(|seen: &Seen| {
        if seen.index == 0 {
            Reply::new(429).header("retry-after", "2")
        } else {
            Reply::ok()
        }
    })
    .await;
    let (client, heard) = listening(
        paused::builder(server.url())
            .retry(paused::exact())
            .auth(ApiKey::query("api_key", Secret::from(KEY))),
    );
    let started = Instant::now();
    client.get("items").send().await.unwrap();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 1, "{heard:?}");
    let (at, event) = &heard[0];
    assert_eq!(
        event.reason,
        WaitReason::Retry(RetryReason::Status(StatusCode::TOO_MANY_REQUESTS))
    );
    assert_eq!(event.reason.as_str(), "retry");
    assert_eq!(event.wait, Duration::from_secs(2), "the server's delay");
    assert_eq!(event.method, Method::GET);
    assert_eq!(event.attempts, 1);
    assert!(
        event.url.ends_with("/items?api_key=[redacted]"),
        "{}",
        event.url
    );
    assert!(!format!("{event:?}").contains(KEY));
    // Heard before the wait, not after it.
    assert!(
        *at - started < Duration::from_millis(100),
        "{:?}",
        *at - started
    );
    assert_eq!(
        server.seen()[1].at - server.seen()[0].at,
        Duration::from_secs(2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_held_at_the_gate_by_another_requests_429_hears_a_pacing_wait() {
    let server = Scripted::start(|seen: &Seen| {
        if seen.index == 0 {
            Reply::new(429).header("retry-after", "3")
        } else {
            Reply::ok()
        }
    })
    .await;
    let (client, heard) = listening(paused::builder(server.url()).retry(paused::exact()));
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.get("a").send().await.map(|_| ()) }
    });
    // The 429 has arrived and holds the origin for 3 s; then a second request comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.seen().len(), 1);
    client.get("b").send().await.unwrap();
    first.await.unwrap().unwrap();
    let heard = heard.lock().unwrap().clone();
    let pacing: Vec<_> = heard
        .iter()
        .filter(|(_, e)| e.reason == WaitReason::Pacing)
        .collect();
    assert_eq!(pacing.len(), 1, "{heard:?}");
    let (_, event) = pacing[0];
    assert!(event.url.ends_with("/b"), "{}", event.url);
    assert_eq!(event.attempts, 0, "before its first attempt");
    assert!(
        event.wait > Duration::from_millis(2400) && event.wait <= Duration::from_millis(2500),
        "the rest of the 3 s: {:?}",
        event.wait
    );
    assert!(
        heard
            .iter()
            .any(|(_, e)| matches!(e.reason, WaitReason::Retry(_)) && e.url.ends_with("/a")),
        "{heard:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_redirect_that_asks_for_a_delay_is_announced() {
    let server = Scripted::start(|seen: &Seen| {
        if seen.path == "/start" {
            Reply::new(302)
                .header("location", "/done")
                .header("retry-after", "1")
        } else {
            Reply::ok()
        }
    })
    .await;
    let (client, heard) = listening(paused::builder(server.url()));
    client.get("start").send().await.unwrap();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0].1.reason, WaitReason::Redirect);
    assert_eq!(heard[0].1.wait, Duration::from_secs(1));
    assert_eq!(heard[0].1.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn no_wait_no_event_and_a_failed_request_after_retries_heard_each_one() {
    let server = Scripted::start(|seen: &Seen| match seen.path.as_str() {
        "/fine" => Reply::ok(),
        _ => Reply::new(503).header("retry-after", "1"),
    })
    .await;
    let (client, heard) = listening(
        paused::builder(server.url()).retry(RetryPolicy::default().max_retries(2).jitter(0.0)),
    );
    client.get("fine").send().await.unwrap();
    assert!(heard.lock().unwrap().is_empty(), "no wait, no event");
    let error = client.get("down").send().await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    let heard = heard.lock().unwrap().clone();
    let attempts: Vec<u32> = heard.iter().map(|(_, e)| e.attempts).collect();
    assert_eq!(attempts, [1, 2], "one event per retry: {heard:?}");
    for (_, e) in &heard {
        assert_eq!(
            e.reason,
            WaitReason::Retry(RetryReason::Status(StatusCode::SERVICE_UNAVAILABLE))
        );
        assert!(
            e.wait >= Duration::from_secs(1),
            "never sooner than asked: {:?}",
            e.wait
        );
    }
}
