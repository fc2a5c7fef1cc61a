//! The send pipeline end to end: retry classification, redirect policies, per-bucket pacing,
//! the pacing gate, statuses returned as answers, and streamed bodies.
//!
//! Every server is a scripted hyper server on 127.0.0.1 running on the test's own runtime
//! (`support/scripted.rs`), and every client one of `support/paused.rs`: timing tests run on
//! tokio's paused clock, so a `Retry-After: 5` costs no real time and the elapsed times
//! asserted are exact. Each test is bounded by a real-time watchdog (not a tokio timer, which
//! the paused clock would jump to).

#[path = "support/paused.rs"]
mod paused;
#[path = "support/scripted.rs"]
mod scripted;

use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use authed::{
    Client, ClientBuilder, Error, RetryClass, RetryPolicy,
    error::{RateLimitedError, RedirectError, RedirectKind, StatusError},
    ratelimit::Pacing,
    redirect::Policy,
};
use http::{StatusCode, header::IF_NONE_MATCH};
use paused::exact;
use scripted::{Reply, Scripted, Seen, first_n};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// What "at once" means on the paused clock: no timer fired on the way.
const AT_ONCE: Duration = Duration::from_millis(10);

/// Real time any one test may take before it fails.
const REAL_TIME_BOUND: Duration = Duration::from_secs(60);

/// Runs `test`, failing it after [`REAL_TIME_BOUND`] of real time. The watchdog is a thread,
/// not a tokio timer: under the paused clock a pending timer would be jumped to whenever the
/// runtime waits for loopback I/O.
async fn bounded<F: Future>(test: F) -> F::Output {
    let (fire, fired) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(REAL_TIME_BOUND);
        let _ = fire.send(());
    });
    tokio::select! {
        out = test => out,
        _ = fired => panic!("the test did not finish within {REAL_TIME_BOUND:?} of real time"),
    }
}

/// A client builder on `server` whose only timers are the ones under test, with 1 ms backoff.
fn client(server: &Scripted) -> ClientBuilder {
    paused::builder(server.url()).retry(exact())
}

fn status_error(result: authed::Result<authed::Response>) -> Box<StatusError> {
    match result {
        Err(Error::Status(e)) => e,
        other => panic!("expected Error::Status, got {other:?}"),
    }
}

fn redirect_error(result: authed::Result<authed::Response>) -> Box<RedirectError> {
    match result {
        Err(Error::Redirect(e)) => e,
        other => panic!("expected Error::Redirect, got {other:?}"),
    }
}

fn rate_limited(result: authed::Result<authed::Response>) -> Box<RateLimitedError> {
    match result {
        Err(Error::RateLimited(e)) => e,
        other => panic!("expected Error::RateLimited, got {other:?}"),
    }
}

fn paths(server: &Scripted) -> Vec<String> {
    server.seen().into_iter().map(|s| s.path).collect()
}

// ---------------------------------------------------------------------------------------
// 1, 2. Retry classification
// ---------------------------------------------------------------------------------------

/// GitHub's secondary rate limit: 403 with `Retry-After`, or with `x-ratelimit-remaining: 0`.
fn github() -> RetryPolicy {
    exact().classify(|r| {
        let h = r.headers();
        let throttled = r.status() == StatusCode::FORBIDDEN
            && (h.contains_key("retry-after")
                || h.get("x-ratelimit-remaining").is_some_and(|v| v == "0"));
        throttled.then_some(RetryClass::Throttled)
    })
}

#[tokio::test(start_paused = true)]
async fn a_classifier_retries_a_403_with_retry_after_after_the_announced_wait() {
    bounded(async {
        let server = Scripted::start(first_n(1, Reply::new(403).header("retry-after", "2"))).await;
        let c = client(&server).retry(github()).build().unwrap();
        let started = Instant::now();
        let response = c.get("repos").send().await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.attempts(), 2);
        assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2) + 100 * MS, "{elapsed:?}");
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].at - seen[0].at >= Duration::from_secs(2));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_classifier_retries_a_403_with_remaining_0_after_the_x_ratelimit_reset() {
    bounded(async {
        let reply = Reply::new(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "3"); // delta seconds
        let server = Scripted::start(first_n(1, reply)).await;
        let c = client(&server).retry(github()).build().unwrap();
        let started = Instant::now();
        let response = c.get("repos").send().await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.attempts(), 2);
        assert!(elapsed >= Duration::from_secs(3), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3) + 100 * MS, "{elapsed:?}");
        assert_eq!(server.seen().len(), 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn without_the_classifier_a_403_with_retry_after_fails_after_one_attempt() {
    bounded(async {
        let server = Scripted::start(first_n(1, Reply::new(403).header("retry-after", "2"))).await;
        let c = client(&server).build().unwrap();
        let started = Instant::now();
        let e = status_error(c.get("repos").send().await);
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.request.attempts, 1);
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        assert_eq!(server.seen().len(), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_classifier_does_not_retry_a_plain_403() {
    bounded(async {
        let server = Scripted::start(|_: &Seen| Reply::new(403).body("forbidden")).await;
        let c = client(&server).retry(github()).build().unwrap();
        let e = status_error(c.get("repos").send().await);
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.request.attempts, 1);
        assert_eq!(e.request.retry_stop, None);
        assert_eq!(server.seen().len(), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retry_status_final_stops_a_503_from_being_retried() {
    bounded(async {
        let unavailable = || Reply::new(503).header("retry-after", "1");
        // The same server is retried by default (the contrast)...
        let server = Scripted::start(move |_: &Seen| unavailable()).await;
        let c = client(&server)
            .retry(exact().max_retries(1))
            .build()
            .unwrap();
        let e = status_error(c.get("x").send().await);
        assert_eq!(e.request.attempts, 2);
        assert_eq!(server.seen().len(), 2);
        // ...and not with the status made final.
        let server = Scripted::start(move |_: &Seen| unavailable()).await;
        let policy = exact().retry_status(StatusCode::SERVICE_UNAVAILABLE, RetryClass::Final);
        let c = client(&server).retry(policy).build().unwrap();
        let started = Instant::now();
        let e = status_error(c.get("x").send().await);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.request.attempts, 1);
        assert_eq!(e.request.retry_stop, None);
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        assert_eq!(server.seen().len(), 1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 3. Redirect policies
// ---------------------------------------------------------------------------------------

/// A home server whose `/hop` redirects (302) to `other`'s `/target`, and whose `/one`
/// redirects to its own `/two`, which redirects to `other`'s `/end`.
async fn redirecting_to(other: &Scripted) -> Scripted {
    let other = other.url();
    Scripted::start(move |seen: &Seen| match seen.path.as_str() {
        "/hop" => Reply::new(302).header("location", format!("{other}target")),
        "/one" => Reply::new(302).header("location", "/two"),
        "/two" => Reply::new(302).header("location", format!("{other}end")),
        _ => Reply::new(404),
    })
    .await
}

fn port(server: &Scripted) -> Option<u16> {
    authed::url::Url::parse(&server.url()).ok()?.port()
}

/// Refuses (errors on) any hop to `server`'s port, follows the rest.
fn refusing(server: &Scripted) -> Policy {
    let refused = port(server);
    Policy::custom(move |a| {
        if a.url().port() == refused {
            a.error()
        } else {
            a.follow()
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_custom_policy_refusing_a_hop_fails_with_refused_and_the_target_gets_nothing() {
    bounded(async {
        let other = Scripted::start(|_: &Seen| Reply::ok()).await;
        let home = redirecting_to(&other).await;
        let c = client(&home).redirect(refusing(&other)).build().unwrap();
        let e = redirect_error(c.get("hop").send().await);
        assert_eq!(e.kind, RedirectKind::Refused);
        assert_eq!(e.status, StatusCode::FOUND);
        assert_eq!(paths(&home), ["/hop"]);
        assert!(other.seen().is_empty(), "{:?}", other.seen());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_per_request_redirect_policy_overrides_the_clients() {
    bounded(async {
        let other = Scripted::start(|_: &Seen| Reply::ok()).await;
        let home = redirecting_to(&other).await;
        // The client follows (default policy); one request refuses the hop.
        let c = client(&home).build().unwrap();
        let e = redirect_error(c.get("hop").redirect(refusing(&other)).send().await);
        assert_eq!(e.kind, RedirectKind::Refused);
        assert!(other.seen().is_empty());
        let response = c.get("hop").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(paths(&other), ["/target"]);
        // The other way round: the client refuses, one request follows.
        let c = client(&home).redirect(refusing(&other)).build().unwrap();
        let response = c
            .get("hop")
            .redirect(Policy::limited(5))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(paths(&other), ["/target", "/target"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_custom_policy_that_stops_returns_the_302_as_a_status_error_or_with_any_status() {
    bounded(async {
        let other = Scripted::start(|_: &Seen| Reply::ok()).await;
        let home = redirecting_to(&other).await;
        let c = client(&home)
            .redirect(Policy::custom(|a| a.stop()))
            .build()
            .unwrap();
        let e = status_error(c.get("hop").send().await);
        assert_eq!(e.status, StatusCode::FOUND);
        assert_eq!(e.request.attempts, 1);
        let response = c.get("hop").any_status().send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(location, format!("{}target", other.url()));
        assert_eq!(paths(&home), ["/hop", "/hop"]);
        assert!(other.seen().is_empty());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn limited_1_over_a_two_hop_chain_is_too_many_and_limited_2_follows_it() {
    bounded(async {
        let other = Scripted::start(|_: &Seen| Reply::ok()).await;
        let home = redirecting_to(&other).await;
        let c = client(&home).redirect(Policy::limited(1)).build().unwrap();
        let e = redirect_error(c.get("one").send().await);
        assert_eq!(e.kind, RedirectKind::TooMany);
        assert_eq!(paths(&home), ["/one", "/two"]);
        assert!(other.seen().is_empty());
        let response = c
            .get("one")
            .redirect(Policy::limited(2))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.attempts(), 3);
        assert_eq!(paths(&other), ["/end"]);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 4. Per-bucket pacing
// ---------------------------------------------------------------------------------------

/// GitHub-like buckets: `/search` answers 200 once, then 429 `Retry-After: 5`, both naming
/// the `search` bucket; `/core` always answers 200 in the `core` bucket.
async fn github_buckets() -> Scripted {
    let searches = AtomicUsize::new(0);
    Scripted::start(move |seen: &Seen| match seen.path.as_str() {
        "/search" if searches.fetch_add(1, Ordering::SeqCst) == 0 => Reply::ok()
            .header("x-ratelimit-resource", "search")
            .header("x-ratelimit-limit", "30")
            .header("x-ratelimit-remaining", "29"),
        "/search" => Reply::new(429)
            .header("retry-after", "5")
            .header("x-ratelimit-resource", "search")
            .header("x-ratelimit-remaining", "0"),
        "/core" => Reply::ok()
            .header("x-ratelimit-resource", "core")
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "4999"),
        _ => Reply::new(404),
    })
    .await
}

/// Fails fast rather than sleep through the 5 s the buckets' 429 asks for.
fn impatient() -> RetryPolicy {
    exact().max_retry_after(Duration::from_secs(1))
}

/// The search call that gets the 429: a fast `RateLimited` carrying the server's 5 s.
async fn exhaust_search(c: &Client) {
    c.get("search").send().await.unwrap();
    let e = rate_limited(c.get("search").send().await);
    assert_eq!(e.status, Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(e.retry_after, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_429_in_the_learned_search_bucket_does_not_hold_core_requests() {
    bounded(async {
        let server = github_buckets().await;
        let c = client(&server).retry(impatient()).build().unwrap();
        exhaust_search(&c).await;
        let started = Instant::now();
        let response = c.get("core").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        // The search bucket is still blocked: the client holds its requests itself.
        let e = rate_limited(c.get("search").send().await);
        assert_eq!(
            e.status, None,
            "held by the client, not answered by the server"
        );
        assert_eq!(paths(&server), ["/search", "/search", "/core"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn without_learned_buckets_a_search_429_holds_core_requests() {
    bounded(async {
        let server = github_buckets().await;
        let c = client(&server)
            .retry(impatient())
            .pacing(Pacing::default().learn_buckets(false))
            .build()
            .unwrap();
        exhaust_search(&c).await;
        let started = Instant::now();
        let e = rate_limited(c.get("core").send().await);
        assert_eq!(
            e.status, None,
            "held by the client, not answered by the server"
        );
        assert!(
            e.retry_after > Duration::from_secs(4),
            "{:?}",
            e.retry_after
        );
        assert!(
            started.elapsed() < AT_ONCE,
            "failed fast: {:?}",
            started.elapsed()
        );
        assert_eq!(paths(&server), ["/search", "/search"]);
    })
    .await;
}

/// `/a/...` answers 429 `Retry-After: 5` the first time, 200 after; `/b/...` always 200. No
/// bucket header anywhere.
async fn two_prefixes() -> Scripted {
    let a = AtomicUsize::new(0);
    Scripted::start(move |seen: &Seen| {
        if seen.path.starts_with("/a/") && a.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::new(429).header("retry-after", "5")
        } else {
            Reply::ok()
        }
    })
    .await
}

/// Names the bucket by the first path segment.
fn by_prefix() -> Pacing {
    Pacing::default().key(|_, url| {
        url.path_segments()
            .and_then(|mut s| s.next())
            .map(|first| Cow::Owned(first.to_owned()))
    })
}

#[tokio::test(start_paused = true)]
async fn a_key_function_buckets_by_path_prefix_so_a_429_on_a_does_not_hold_b() {
    bounded(async {
        let server = two_prefixes().await;
        let c = client(&server)
            .retry(impatient())
            .pacing(by_prefix())
            .build()
            .unwrap();
        let e = rate_limited(c.get("a/1").send().await);
        assert_eq!(e.status, Some(StatusCode::TOO_MANY_REQUESTS));
        let started = Instant::now();
        c.get("b/1").send().await.unwrap();
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        let e = rate_limited(c.get("a/2").send().await);
        assert_eq!(e.status, None, "the a bucket holds a/2 itself");
        assert_eq!(paths(&server), ["/a/1", "/b/1"]);
        // The contrast: without the key, both prefixes share the origin's gate.
        let server = two_prefixes().await;
        let c = client(&server).retry(impatient()).build().unwrap();
        rate_limited(c.get("a/1").send().await);
        let e = rate_limited(c.get("b/1").send().await);
        assert_eq!(e.status, None);
        assert_eq!(paths(&server), ["/a/1"]);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 5, 6. The gate
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_gate_holds_the_next_request_for_the_retry_after_then_clears() {
    bounded(async {
        let server = Scripted::start(first_n(1, Reply::new(429).header("retry-after", "3"))).await;
        let c = client(&server).retry(RetryPolicy::never()).build().unwrap();
        let e = status_error(c.get("x").send().await);
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        let started = Instant::now();
        c.get("x").send().await.unwrap();
        let held = started.elapsed();
        assert!(held >= Duration::from_secs(3), "{held:?}");
        assert!(held < Duration::from_secs(4), "{held:?}");
        let started = Instant::now();
        c.get("x").send().await.unwrap();
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        let seen = server.seen();
        assert_eq!(seen.len(), 3);
        assert!(seen[1].at - seen[0].at >= Duration::from_secs(3));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_block_beyond_max_retry_after_fails_fast_until_reset_rate_limit() {
    bounded(async {
        let server =
            Scripted::start(first_n(1, Reply::new(429).header("retry-after", "3600"))).await;
        let c = client(&server).retry(RetryPolicy::never()).build().unwrap();
        let e = rate_limited(c.get("x").send().await);
        assert_eq!(e.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(e.retry_after, Duration::from_secs(3600));
        let started = Instant::now();
        let e = rate_limited(c.get("x").send().await);
        assert_eq!(
            e.status, None,
            "held by the client, not answered by the server"
        );
        assert!(
            e.retry_after > Duration::from_secs(3500),
            "{:?}",
            e.retry_after
        );
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        assert_eq!(server.seen().len(), 1);
        assert!(c.reset_rate_limit(&server.url()));
        let started = Instant::now();
        let response = c.get("x").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        assert_eq!(server.seen().len(), 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn pacing_off_sends_the_next_request_at_once_after_a_429() {
    bounded(async {
        let server = Scripted::start(first_n(1, Reply::new(429).header("retry-after", "30"))).await;
        let c = client(&server)
            .retry(RetryPolicy::never())
            .pacing(Pacing::off())
            .build()
            .unwrap();
        let e = status_error(c.get("x").send().await);
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        let started = Instant::now();
        let response = c.get("x").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].at - seen[0].at < AT_ONCE);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 7. Statuses as answers
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_304_is_ok_with_any_status_and_a_status_error_without() {
    bounded(async {
        let server = Scripted::start(|seen: &Seen| {
            if seen.header("if-none-match") == Some("\"v1\"") {
                Reply::new(304).header("etag", "\"v1\"")
            } else {
                Reply::ok().header("etag", "\"v1\"")
            }
        })
        .await;
        let c = client(&server).build().unwrap();
        let response = c
            .get("items")
            .header(IF_NONE_MATCH, "\"v1\"")
            .any_status()
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.attempts(), 1);
        assert_eq!(response.headers().get("etag").unwrap(), "\"v1\"");
        let e = status_error(c.get("items").header(IF_NONE_MATCH, "\"v1\"").send().await);
        assert_eq!(e.status, StatusCode::NOT_MODIFIED);
        assert_eq!(e.request.attempts, 1);
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert!(
            seen.iter()
                .all(|s| s.header("if-none-match") == Some("\"v1\""))
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn error_for_status_turns_a_404_into_a_status_error_with_excerpt_and_safe_headers() {
    bounded(async {
        let server = Scripted::start(|seen: &Seen| {
            if seen.path == "/missing" {
                Reply::new(404)
                    .header("x-custom", "yes")
                    .header("set-cookie", "session=cookie-s3cret")
                    .body(r#"{"message":"Not Found"}"#)
            } else {
                Reply::ok()
            }
        })
        .await;
        let c = client(&server).build().unwrap();
        let ok = c.get("present").any_status().send().await.unwrap();
        assert_eq!(
            ok.error_for_status().await.unwrap().status(),
            StatusCode::OK
        );
        let response = c.get("missing").any_status().send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let error = response.error_for_status().await.unwrap_err();
        let text = format!("{error:?} {error}");
        let Error::Status(e) = error else {
            panic!("expected Error::Status, got {error:?}")
        };
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.body_excerpt.contains("Not Found"), "{:?}", e.body_excerpt);
        assert!(!e.body_truncated);
        assert_eq!(e.headers.get("x-custom").unwrap(), "yes");
        assert_eq!(e.headers.get("set-cookie").unwrap(), "[redacted]");
        assert!(!text.contains("cookie-s3cret"), "{text}");
        // Without any_status, send() builds the same error.
        let e = status_error(c.get("missing").send().await);
        assert_eq!(e.headers.get("x-custom").unwrap(), "yes");
        assert_eq!(e.headers.get("set-cookie").unwrap(), "[redacted]");
        assert!(e.body_excerpt.contains("Not Found"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 8. Streamed bodies
// ---------------------------------------------------------------------------------------

const MIB: usize = 1 << 20;

/// 1 MiB of a repeating alphabet (so that a lost or reordered piece shows).
fn big_body() -> String {
    (0..MIB)
        .map(|i| char::from(b"abcdefghijklmnopqrstuvwxyz"[i % 26]))
        .collect()
}

async fn big_server() -> Scripted {
    let body = big_body();
    Scripted::start(move |_: &Seen| Reply::new(200).body(body.clone())).await
}

#[tokio::test]
async fn bytes_stream_yields_all_of_a_1_mib_body() {
    bounded(async {
        use futures_core::Stream;
        let server = big_server().await;
        let c = client(&server).build().unwrap();
        let mut stream = c.get("big").send().await.unwrap().bytes_stream();
        let mut body = Vec::with_capacity(MIB);
        let mut pieces = 0;
        while let Some(piece) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
        {
            body.extend_from_slice(&piece.unwrap());
            pieces += 1;
        }
        assert_eq!(body.len(), MIB);
        assert!(body == big_body().as_bytes(), "the bytes differ");
        assert!(pieces > 1, "1 MiB came in {pieces} piece(s): not streamed");
    })
    .await;
}

#[tokio::test]
async fn chunk_yields_all_of_a_1_mib_body() {
    bounded(async {
        let server = big_server().await;
        let c = client(&server).build().unwrap();
        let mut response = c.get("big").send().await.unwrap();
        let mut body = Vec::with_capacity(MIB);
        let mut pieces = 0;
        while let Some(piece) = response.chunk().await.unwrap() {
            body.extend_from_slice(&piece);
            pieces += 1;
        }
        assert_eq!(body.len(), MIB);
        assert!(body == big_body().as_bytes(), "the bytes differ");
        assert!(pieces > 1, "1 MiB came in {pieces} piece(s): not streamed");
    })
    .await;
}
