//! Retries that obey the server. Every test runs on tokio's paused clock against a scripted
//! server on the same runtime, so waits are exact and instant, and the server's arrival
//! times are the test clock's.

#[path = "support/paused.rs"]
mod paused;
#[path = "support/scripted.rs"]
mod scripted;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use authed::{
    Client, Error, RetryPolicy,
    ratelimit::DelaySource,
    retry::{RETRY_BUDGET_CAPACITY, RETRY_COST, RetryStop},
};
use http::StatusCode;
use paused::exact;
use scripted::{Reply, Scripted, Seen, first_n};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

fn gap(seen: &[Seen], i: usize) -> Duration {
    seen[i].at - seen[i - 1].at
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_obeyed_exactly() {
    let server = Scripted::start(first_n(1, Reply::new(429).header("retry-after", "2"))).await;
    let response = paused::client(server.url(), exact())
        .get("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.attempts(), 2);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        gap(&seen, 1) >= Duration::from_secs(2),
        "{:?}",
        gap(&seen, 1)
    );
    assert!(gap(&seen, 1) < Duration::from_secs(2) + 10 * MS);
}

#[tokio::test(start_paused = true)]
async fn every_header_form_gives_its_delay() {
    let now = SystemTime::now();
    let date = httpdate::fmt_http_date(now);
    let in_7s = httpdate::fmt_http_date(now + Duration::from_secs(7));
    let cases: Vec<(Reply, Duration)> = vec![
        (
            Reply::new(429).header("retry-after", "3"),
            Duration::from_secs(3),
        ),
        (
            Reply::new(503)
                .header("retry-after", &in_7s)
                .header("date", &date),
            Duration::from_secs(7),
        ),
        (
            Reply::new(429).header("retry-after-ms", "1500"),
            Duration::from_millis(1500),
        ),
        (
            Reply::new(429).header("ratelimit", "\"default\";r=0;t=4"),
            Duration::from_secs(4),
        ),
        (
            Reply::new(429).header("ratelimit", "limit=10, remaining=0, reset=5"),
            Duration::from_secs(5),
        ),
        (
            Reply::new(429).header("ratelimit-reset", "6"),
            Duration::from_secs(6),
        ),
        (
            Reply::new(429).header("x-ratelimit-reset", "2"),
            Duration::from_secs(2),
        ),
        (
            Reply::new(429).header("x-rate-limit-reset", "3"),
            Duration::from_secs(3),
        ),
        // A date in the past means now (only the backoff is waited).
        (
            Reply::new(429)
                .header("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")
                .header("date", &date),
            MS,
        ),
    ];
    for (reply, want) in cases {
        let label = format!("{reply:?}");
        let server = Scripted::start(first_n(1, reply)).await;
        paused::client(server.url(), exact())
            .get("x")
            .send()
            .await
            .unwrap();
        let seen = server.seen();
        assert_eq!(seen.len(), 2, "{label}");
        let waited = gap(&seen, 1);
        assert!(
            waited >= want,
            "{label}: waited {waited:?}, wanted {want:?}"
        );
        assert!(
            waited < want + 10 * MS,
            "{label}: waited {waited:?}, wanted {want:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn precedence_retry_after_wins_then_ms_then_ratelimit() {
    let reply = Reply::new(429)
        .header("retry-after", "garbage")
        .header("retry-after-ms", "2500")
        .header("ratelimit", "\"p\";r=0;t=9")
        .header("x-ratelimit-reset", "20");
    let server = Scripted::start(first_n(1, reply)).await;
    paused::client(server.url(), exact())
        .get("x")
        .send()
        .await
        .unwrap();
    let waited = gap(&server.seen(), 1);
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn never_sooner_than_the_server_nor_the_backoff() {
    // The backoff (3 s) is longer than the server's 1 s: wait 3 s.
    let server = Scripted::start(first_n(1, Reply::new(503).header("retry-after", "1"))).await;
    let slow_backoff = RetryPolicy::default()
        .initial_backoff(Duration::from_secs(3))
        .jitter(0.0);
    paused::client(server.url(), slow_backoff)
        .get("x")
        .send()
        .await
        .unwrap();
    assert!(gap(&server.seen(), 1) >= Duration::from_secs(3));

    // The server's 5 s is longer than the backoff: wait 5 s, even with jitter.
    let server = Scripted::start(first_n(1, Reply::new(429).header("retry-after", "5"))).await;
    paused::client(server.url(), RetryPolicy::default())
        .get("x")
        .send()
        .await
        .unwrap();
    assert!(gap(&server.seen(), 1) >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn too_long_a_wait_fails_fast_with_rate_limited() {
    let server = Scripted::start(first_n(
        1,
        Reply::new(429)
            .header("retry-after", "120")
            .header("x-ratelimit-limit", "100")
            .header("x-ratelimit-remaining", "0"),
    ))
    .await;
    let started = Instant::now();
    let err = paused::client(
        server.url(),
        exact().max_retry_after(Duration::from_secs(60)),
    )
    .get("x")
    .send()
    .await
    .unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "no sleeping");
    assert!(err.is_rate_limited(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    let Error::RateLimited(e) = &err else {
        panic!()
    };
    assert_eq!(e.source, Some(DelaySource::RetryAfter));
    assert_eq!(e.request.attempts, 1);
    let state = e
        .rate_limit
        .as_ref()
        .expect("the rate-limit state travels with the error");
    assert_eq!((state.limit, state.remaining), (Some(100), Some(0)));
    assert!(err.to_string().contains("client-side"), "{err}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_on_a_success_is_ignored() {
    // Flask-Limiter and others send Retry-After on 200s.
    let server = Scripted::start(|_: &Seen| Reply::ok().header("retry-after", "30")).await;
    let c = paused::client(server.url(), exact());
    let started = Instant::now();
    c.get("a").send().await.unwrap();
    c.get("b").send().await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
}

async fn attempts(method: http::Method, reply: Reply, idempotency_key: bool) -> usize {
    let server = Scripted::start(first_n(1, reply)).await;
    let mut request = paused::client(server.url(), exact()).request(method, "x");
    if idempotency_key {
        request = request.idempotency_key("key-1");
    }
    let _ = request.send().await;
    server.seen().len()
}

#[tokio::test(start_paused = true)]
async fn what_is_retried_depends_on_status_and_method() {
    use http::Method;
    for status in [429, 503] {
        assert_eq!(
            attempts(Method::POST, Reply::new(status), false).await,
            2,
            "{status}"
        );
    }
    for status in [408, 500, 502, 504] {
        assert_eq!(
            attempts(Method::GET, Reply::new(status), false).await,
            2,
            "GET {status}"
        );
        assert_eq!(
            attempts(Method::PUT, Reply::new(status), false).await,
            2,
            "PUT {status}"
        );
        assert_eq!(attempts(Method::DELETE, Reply::new(status), false).await, 2);
        assert_eq!(
            attempts(Method::POST, Reply::new(status), false).await,
            1,
            "POST {status}"
        );
        assert_eq!(attempts(Method::PATCH, Reply::new(status), false).await, 1);
        assert_eq!(
            attempts(Method::POST, Reply::new(status), true).await,
            2,
            "keyed POST"
        );
    }
    for status in [400, 401, 403, 404, 409, 422, 501] {
        assert_eq!(
            attempts(Method::GET, Reply::new(status), false).await,
            1,
            "{status}"
        );
    }
    // The server's explicit word wins.
    let no = Reply::new(503).header("x-should-retry", "false");
    assert_eq!(attempts(Method::GET, no, false).await, 1);
    let yes = Reply::new(409).header("x-should-retry", "true");
    assert_eq!(attempts(Method::POST, yes, false).await, 2);
}

#[tokio::test(start_paused = true)]
async fn max_retries_then_the_error_carries_attempts_and_waits() {
    let server = Scripted::start(|_: &Seen| Reply::new(503).header("retry-after", "1")).await;
    let err = paused::client(server.url(), exact().max_retries(2))
        .get("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(server.seen().len(), 3);
    let request = err.request().unwrap();
    assert_eq!(request.attempts, 3);
    assert_eq!(request.waited, Duration::from_secs(2));
    assert_eq!(request.last_status, Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(request.retry_stop, Some(RetryStop::MaxRetries));
    let text = err.to_string();
    assert!(
        text.contains("after 3 attempts") && text.contains("waited 2s"),
        "{text}"
    );

    let server = Scripted::start(|_: &Seen| Reply::new(503)).await;
    paused::client(server.url(), RetryPolicy::never())
        .get("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn per_request_policy_overrides_the_client() {
    let server = Scripted::start(|_: &Seen| Reply::new(503)).await;
    let c = paused::client(server.url(), exact());
    c.get("x")
        .retry(RetryPolicy::never())
        .send()
        .await
        .unwrap_err();
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn idempotency_keys_are_generated_once_and_never_replace_the_callers() {
    let server = Scripted::start(first_n(1, Reply::new(500))).await;
    let c = paused::builder(server.url())
        .retry(exact())
        .idempotency_keys(true)
        .build()
        .unwrap();
    c.post("x").json(&1).send().await.unwrap();
    let seen = server.seen();
    assert_eq!(
        seen.len(),
        2,
        "a POST with a generated key is retried on 500"
    );
    let key = seen[0].header("idempotency-key").unwrap().to_owned();
    assert_eq!(uuid_version(&key), Some('4'), "{key}");
    assert_eq!(seen[1].header("idempotency-key"), Some(key.as_str()));

    c.patch("y").idempotency_key("mine").send().await.unwrap();
    assert_eq!(server.seen()[2].header("idempotency-key"), Some("mine"));
    c.get("z").send().await.unwrap();
    assert_eq!(server.seen()[3].header("idempotency-key"), None);
}

fn uuid_version(key: &str) -> Option<char> {
    let parts: Vec<&str> = key.split('-').collect();
    (parts.len() == 5 && key.len() == 36).then(|| parts[2].chars().next())?
}

#[tokio::test(start_paused = true)]
async fn a_stream_body_is_not_retried_and_the_error_says_so() {
    let server = Scripted::start(|_: &Seen| Reply::new(503)).await;
    let body = reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from_static(b"s")));
    let err = paused::client(server.url(), exact())
        .post("x")
        .body_stream(body)
        .send()
        .await
        .unwrap_err();
    assert_eq!(server.seen().len(), 1);
    assert_eq!(
        err.request().unwrap().retry_stop,
        Some(RetryStop::BodyNotReplayable)
    );
    assert!(err.to_string().contains("cannot be replayed"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_runs_dry_and_says_it_is_the_client() {
    let server = Scripted::start(|_: &Seen| Reply::new(503)).await;
    let c = paused::client(server.url(), exact().max_retries(3));
    let budget_retries = (RETRY_BUDGET_CAPACITY / RETRY_COST) as usize;
    let mut calls = 0;
    let err = loop {
        calls += 1;
        let err = c.get("x").send().await.unwrap_err();
        if err.request().unwrap().retry_stop == Some(RetryStop::RetryBudgetEmpty) {
            break err;
        }
        assert!(calls < 1000, "the budget never ran dry");
    };
    assert_eq!(server.seen().len(), calls + budget_retries);
    assert!(
        err.to_string().contains("client-side retry budget"),
        "{err}"
    );
    // Dry: the next call is sent once.
    let before = server.seen().len();
    c.get("x").send().await.unwrap_err();
    assert_eq!(server.seen().len(), before + 1);
    // A clone shares the budget.
    let clone = c.clone();
    clone.get("x").send().await.unwrap_err();
    assert_eq!(server.seen().len(), before + 2);
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_or_time_budget_is_not_started() {
    let server = Scripted::start(|_: &Seen| Reply::new(503).header("retry-after", "10")).await;
    let c = paused::client(server.url(), exact());
    let started = Instant::now();
    let err = c
        .get("x")
        .deadline(Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "gave up at once");
    assert_eq!(
        err.request().unwrap().retry_stop,
        Some(RetryStop::OutOfTime)
    );
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));

    let server = Scripted::start(|_: &Seen| Reply::new(503).header("retry-after", "10")).await;
    let c = paused::client(server.url(), exact().max_elapsed(Duration::from_secs(15)));
    let err = c.get("x").send().await.unwrap_err();
    assert_eq!(
        server.seen().len(),
        2,
        "one 10 s wait fits in 15 s, two do not"
    );
    assert_eq!(
        err.request().unwrap().retry_stop,
        Some(RetryStop::OutOfTime)
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_or_a_cancellation_stops_the_waiting_at_once() {
    let server = Scripted::start(first_n(
        1,
        Reply::new(429)
            .header("retry-after", "30")
            .header("x-ratelimit-remaining", "5"),
    ))
    .await;
    let c = paused::client(server.url(), exact());
    // A retries after 30 s; meanwhile the origin is blocked for everyone.
    let a = tokio::spawn({
        let c = c.clone();
        async move { c.get("a").send().await }
    });
    // The rate-limit headers of the 429 show when the client has read it.
    while c.rate_limit(&server.url()).is_none() {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let err = c
        .get("b")
        .deadline(Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(5));

    // Cancelling A (dropping its future) ends its wait: its retry never reaches the server.
    a.abort();
    let _ = a.await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn fifty_tasks_wait_out_one_429_together() {
    // The 429 also reports the quota, so the test can see when the client has read it.
    let server = Scripted::start(first_n(
        1,
        Reply::new(429)
            .header("retry-after", "2")
            .header("x-ratelimit-limit", "100")
            .header("x-ratelimit-remaining", "60"),
    ))
    .await;
    let c = paused::client(server.url(), exact());
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.get("t/0").send().await.map(|r| r.status()) }
    });
    while c.rate_limit(&server.url()).is_none() {
        tokio::task::yield_now().await;
    }
    let t429 = server.seen()[0].at;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 1..50 {
        let c = c.clone();
        tasks.spawn(async move { c.get(&format!("t/{i}")).send().await.map(|r| r.status()) });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), StatusCode::OK);
        ok += 1;
    }
    assert_eq!(first.await.unwrap().unwrap(), StatusCode::OK);
    assert_eq!(ok + 1, 50, "all 50 succeed");
    let seen = server.seen();
    assert_eq!(seen.len(), 51, "49 requests, plus the first one twice");
    for s in &seen[1..] {
        assert!(
            s.at >= t429 + Duration::from_secs(2),
            "{} reached the server {:?} after the 429",
            s.path,
            s.at - t429
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_spent_quota_makes_the_next_requests_wait_for_the_reset() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = Scripted::start(move |seen: &Seen| {
        counter.fetch_add(1, Ordering::SeqCst);
        if seen.index == 0 {
            Reply::ok()
                .header("x-ratelimit-limit", "10")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", "3")
        } else {
            Reply::ok()
                .header("x-ratelimit-limit", "10")
                .header("x-ratelimit-remaining", "9")
                .header("x-ratelimit-reset", "3")
        }
    })
    .await;
    let c = paused::client(server.url(), exact());
    c.get("a").send().await.unwrap();
    let state = c.rate_limit(&server.url()).unwrap();
    assert_eq!((state.limit, state.remaining), (Some(10), Some(0)));
    assert_eq!(state.reset, Some(Duration::from_secs(3)));
    c.get("b").send().await.unwrap();
    let seen = server.seen();
    assert!(
        gap(&seen, 1) >= Duration::from_secs(3),
        "{:?}",
        gap(&seen, 1)
    );
    // With quota back, no more waiting.
    let before = Instant::now();
    c.get("c").send().await.unwrap();
    assert_eq!(before.elapsed(), Duration::ZERO);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "no 429 was needed");
}

#[tokio::test(start_paused = true)]
async fn garbage_headers_mean_no_hint() {
    let server = Scripted::start(first_n(
        1,
        Reply::new(429)
            .header("retry-after", "tomorrow-ish")
            .header("retry-after-ms", "-5")
            .header("ratelimit", "\"p\";r=zero;t=;;")
            .header("x-ratelimit-reset", "NaN"),
    ))
    .await;
    paused::client(server.url(), exact())
        .get("x")
        .send()
        .await
        .unwrap();
    // No delay read from any of them: the retry waits only the pacing gate's short pause
    // after a refusal that said nothing (100 ms, while it learns the server's rate).
    let gap = gap(&server.seen(), 1);
    assert!(gap < Duration::from_millis(150), "{gap:?}");
}

/// A TCP server that accepts connections and does `action` with each, counting them.
async fn raw_server(
    action: fn(tokio::net::TcpStream) -> tokio::task::JoinHandle<()>,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            action(stream);
        }
    });
    (format!("127.0.0.1:{}", addr.port()), count)
}

fn raw_client(base: String, policy: RetryPolicy, timeout: Option<Duration>) -> Client {
    let http = paused::reqwest_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let b = Client::builder(base).reqwest_client(http).retry(policy);
    match timeout {
        Some(t) => b.timeout(t),
        None => b.no_timeout(),
    }
    .build()
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_for_any_method() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = raw_client(format!("http://127.0.0.1:{port}/"), exact(), None);
    let err = c.post("x").json(&1).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(
        err.request().unwrap().attempts,
        4,
        "nothing was sent, so POST is retried"
    );
    assert_eq!(
        err.request().unwrap().retry_stop,
        Some(RetryStop::MaxRetries)
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_dropped_mid_response_is_retried_only_when_idempotent() {
    // Reads the request, then hangs up without answering.
    let (addr, count) = raw_server(|mut stream| {
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
        })
    })
    .await;
    let c = raw_client(format!("http://{addr}/"), exact(), None);
    let err = c.post("x").json(&1).send().await.unwrap_err();
    assert_eq!(err.request().unwrap().attempts, 1, "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let err = c.get("x").send().await.unwrap_err();
    assert_eq!(err.request().unwrap().attempts, 4, "{err:?}");
    let err = c.post("x").idempotency_key("k").send().await.unwrap_err();
    assert_eq!(err.request().unwrap().attempts, 4, "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried_only_when_idempotent() {
    // Accepts and never answers.
    let (addr, count) = raw_server(|stream| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(stream);
        })
    })
    .await;
    let c = raw_client(
        format!("http://{addr}/"),
        exact(),
        Some(Duration::from_secs(1)),
    );
    let err = c.post("x").send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.request().unwrap().attempts, 1);
    let err = c.delete("x").send().await.unwrap_err();
    assert_eq!(err.request().unwrap().attempts, 4, "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn tls_failures_are_never_retried() {
    // Not a TLS server: the handshake fails. The server keeps the connection open until the
    // client closes it, so that the client always reads the bogus answer (a TLS error), never
    // a reset from a socket already closed (a connection error, which is retried).
    let (addr, count) = raw_server(|mut stream| {
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
            let mut buf = [0u8; 1024];
            while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        })
    })
    .await;
    let c = raw_client(format!("https://{addr}/"), exact(), None);
    let err = c.get("x").send().await.unwrap_err();
    assert_eq!(err.request().unwrap().attempts, 1, "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_origin_is_probed_with_one_request_first() {
    // The first answer says the quota is spent: had the other nine not waited for it, they
    // would all have arrived at once and been refused.
    let server = Scripted::start(|seen: &Seen| {
        let remaining = if seen.index == 0 { "0" } else { "50" };
        Reply::ok()
            .header("x-ratelimit-limit", "100")
            .header("x-ratelimit-remaining", remaining)
            .header("x-ratelimit-reset", "5")
    })
    .await;
    let c = paused::client(server.url(), exact());
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let c = c.clone();
        tasks.spawn(async move { c.get(&format!("n/{i}")).send().await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[0].at, t0);
    for s in &seen[1..] {
        assert!(
            s.at >= t0 + Duration::from_secs(5),
            "{} at {:?}",
            s.path,
            s.at - t0
        );
    }
}
