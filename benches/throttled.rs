//! Throttled goodput: how close a client gets to a rate-limited server's pace.
//!
//! The server (hyper 1, HTTP/1.1 keep-alive, `127.0.0.1:0`, in-process) is a token bucket of
//! `R = 50` requests per second with a burst of `B = 10`, full at the start of each run. A
//! request that finds a whole token takes it and gets `200 {"ok":true}`; any other gets `429`.
//! Every answer carries
//!
//! ```text
//! RateLimit-Policy: "default";q=50;w=1
//! RateLimit: "default";r=<floor(tokens)>;t=<seconds until a token, rounded down>
//! X-RateLimit-Limit: 50
//! X-RateLimit-Remaining: <floor(tokens)>
//! ```
//!
//! and a 429 also `Retry-After: <seconds until a token, rounded up, at least 1>` (so always
//! `1` here: a token is at most 20 ms away). The server logs every arrival: when, and whether
//! it was answered 200 or 429.
//!
//! Each client makes 1,000 successful `GET /v1/items` calls with 32 concurrent workers. A
//! worker takes the next call number from a shared atomic counter and repeats that call until
//! it succeeds (a call the client gives up on, returning an error or a 429, is counted and
//! made again), until all 1,000 have succeeded. The clients:
//!
//! * `authed`: `authed::Client::builder(url).build()`, i.e. the **default** `RetryPolicy`
//!   (3 retries, 500 ms first backoff, per-origin retry budget) and its rate-limit pacing;
//! * `reqwest-retry`: `reqwest_middleware` with
//!   `RetryTransientMiddleware::new_with_policy(ExponentialBackoff::builder().build_with_max_retries(10))`,
//!   retry-policies' defaults otherwise (1 s minimum, 30 min maximum, full jitter, base 2).
//!   It retries 429s but ignores `Retry-After` and the `RateLimit` fields.
//!
//! Each run gets a fresh server and a fresh client; the runs are sequential, never
//! concurrent. Ideal time: `(1000 - B) / R = 19.8 s` (the burst is free, the rest arrive at
//! the refill rate), or simply `1000 / R = 20 s`.
//!
//! Setup as in `overhead.rs`: one multi-thread tokio runtime with 2 worker threads runs the
//! clients and the server, and the scenario runs in a task spawned on it (the main thread only
//! waits), so two threads do all the work on a 2-core machine.
//!
//! Each run is capped at [`RUN_CAP`] (60 s): a client still short of 1,000 successes then is
//! reported as not finished, with what it had done. `authed` takes about 20 s;
//! `reqwest-retry`'s time is set by its last few calls, asleep in long jittered backoffs, and
//! varied from 27 s to 50 s on the machine this was written on, so the whole bench takes
//! about a minute (at most about 85 s). The table also gives when the 990th 200 was answered,
//! which shows the bulk of the work apart from that tail. Each client runs once per
//! invocation: run the bench a few times to see the spread.
//!
//! ```text
//! cargo bench -p authed-benches --bench throttled
//! ```
//!
//! It prints a markdown table, then per-second 200/429 counts and a few lines on how the
//! requests arrived at the server (the 429s among them), for diagnosis.

#[path = "machine.rs"]
mod machine;
use machine::print_machine;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// Refill rate, requests per second.
const RATE: u32 = 50;
/// Bucket size.
const BURST: u32 = 10;
/// Successful calls per run.
const CALLS: usize = 1_000;
/// Concurrent workers per run.
const WORKERS: usize = 32;
/// Longest a run may take before it is reported as not finished.
const RUN_CAP: Duration = Duration::from_secs(60);

const OK_BODY: &[u8] = br#"{"ok":true}"#;
const THROTTLED_BODY: &[u8] = br#"{"error":"rate limited"}"#;

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// One request as the server saw it.
#[derive(Clone, Copy)]
struct Arrival {
    at: Instant,
    ok: bool,
    /// Tokens in the bucket when it arrived (after refill, before taking one).
    tokens: f64,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct ServerState {
    bucket: Mutex<Bucket>,
    log: Mutex<Vec<Arrival>>,
}

impl ServerState {
    fn new() -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                tokens: f64::from(BURST),
                last: Instant::now(),
            }),
            log: Mutex::new(Vec::with_capacity(4 * CALLS)),
        }
    }

    /// Refills, takes a token if there is a whole one, and answers.
    fn admit(&self) -> Response<Full<Bytes>> {
        let rate = f64::from(RATE);
        let (arrival, left, wait) = {
            let mut b = self.bucket.lock().unwrap();
            let now = Instant::now();
            let refill = now.duration_since(b.last).as_secs_f64() * rate;
            b.tokens = (b.tokens + refill).min(f64::from(BURST));
            b.last = now;
            let before = b.tokens;
            let ok = b.tokens >= 1.0;
            if ok {
                b.tokens -= 1.0;
            }
            // Seconds until at least one whole token.
            let wait = if b.tokens >= 1.0 {
                0.0
            } else {
                (1.0 - b.tokens) / rate
            };
            (
                Arrival {
                    at: now,
                    ok,
                    tokens: before,
                },
                b.tokens,
                wait,
            )
        };
        self.log.lock().unwrap().push(arrival);

        let remaining = left.floor() as u64;
        let mut response = if arrival.ok {
            Response::new(Full::new(Bytes::from_static(OK_BODY)))
        } else {
            let mut r = Response::new(Full::new(Bytes::from_static(THROTTLED_BODY)));
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            let retry_after = (wait.ceil() as u64).max(1);
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            r
        };
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            "ratelimit-policy",
            HeaderValue::from_str(&format!("\"default\";q={RATE};w=1")).unwrap(),
        );
        h.insert(
            "ratelimit",
            HeaderValue::from_str(&format!(
                "\"default\";r={remaining};t={}",
                wait.floor() as u64
            ))
            .unwrap(),
        );
        h.insert("x-ratelimit-limit", HeaderValue::from(RATE));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        response
    }
}

/// Starts a fresh server (full bucket, empty log) on `rt`; returns its address, its state,
/// and the accept loop's handle (abort it when done).
fn start_server(rt: &Runtime) -> (SocketAddr, Arc<ServerState>, tokio::task::JoinHandle<()>) {
    let state = Arc::new(ServerState::new());
    let (addr, handle) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::clone(&state);
        let handle = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |_req: Request<Incoming>| {
                        let response = state.admit();
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, handle)
    });
    (addr, state, handle)
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// One `GET /v1/items`, body read. `Err` with a short description when the client gave up
/// (an error, or a non-2xx answer handed back after its retries).
trait Call: Send + Sync + 'static {
    fn call(&self) -> impl Future<Output = Result<(), String>> + Send;
}

struct Authed {
    client: authed::Client,
}

impl Call for Authed {
    async fn call(&self) -> Result<(), String> {
        let response = self
            .client
            .get("items")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if &body[..] == OK_BODY {
            Ok(())
        } else {
            Err("unexpected body".to_owned())
        }
    }
}

struct RetryMiddleware {
    client: reqwest_middleware::ClientWithMiddleware,
    url: String,
}

impl Call for RetryMiddleware {
    async fn call(&self) -> Result<(), String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status.is_success() && &body[..] == OK_BODY {
            Ok(())
        } else {
            Err(format!("status {status} after its retries"))
        }
    }
}

// ---------------------------------------------------------------------------
// Scenario
// ---------------------------------------------------------------------------

struct Counters {
    next: AtomicUsize,
    succeeded: AtomicUsize,
    gave_up: AtomicU64,
    first_error: Mutex<Option<String>>,
}

async fn worker<C: Call>(client: Arc<C>, counters: Arc<Counters>) {
    loop {
        if counters.next.fetch_add(1, Ordering::Relaxed) >= CALLS {
            return;
        }
        // Repeat this call until it succeeds.
        loop {
            match client.call().await {
                Ok(()) => {
                    counters.succeeded.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    counters.gave_up.fetch_add(1, Ordering::Relaxed);
                    counters.first_error.lock().unwrap().get_or_insert(e);
                }
            }
        }
    }
}

/// What one run measured.
struct Outcome {
    name: &'static str,
    policy: &'static str,
    wall: Duration,
    finished: bool,
    succeeded: usize,
    gave_up: u64,
    first_error: Option<String>,
    started: Instant,
    log: Vec<Arrival>,
}

impl Outcome {
    fn ok(&self) -> usize {
        self.log.iter().filter(|a| a.ok).count()
    }

    fn throttled(&self) -> usize {
        self.log.iter().filter(|a| !a.ok).count()
    }

    /// When the server answered its `n`th 200 (1-based), from the start of the run.
    fn nth_ok(&self, n: usize) -> Option<Duration> {
        let a = self.log.iter().filter(|a| a.ok).nth(n.checked_sub(1)?)?;
        Some(a.at.saturating_duration_since(self.started))
    }
}

/// Runs one client against a fresh server: 32 workers until 1,000 calls have succeeded (or
/// [`RUN_CAP`] has passed).
fn run<C: Call>(
    rt: &Runtime,
    name: &'static str,
    policy: &'static str,
    make: impl FnOnce(SocketAddr) -> C,
) -> Outcome {
    let (addr, server, accept) = start_server(rt);
    let client = Arc::new(make(addr));
    let counters = Arc::new(Counters {
        next: AtomicUsize::new(0),
        succeeded: AtomicUsize::new(0),
        gave_up: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    eprintln!("running {name} ...");
    let scenario = {
        let counters = Arc::clone(&counters);
        async move {
            let started = Instant::now();
            let mut set = JoinSet::new();
            for _ in 0..WORKERS {
                set.spawn(worker(Arc::clone(&client), Arc::clone(&counters)));
            }
            let all = async {
                while let Some(r) = set.join_next().await {
                    r.expect("worker panicked");
                }
            };
            let finished = tokio::time::timeout(RUN_CAP, all).await.is_ok();
            let wall = started.elapsed();
            set.abort_all();
            (started, wall, finished)
        }
    };
    let (started, wall, finished) = rt
        .block_on(async { rt.spawn(scenario).await })
        .expect("scenario task panicked");
    accept.abort();
    let log = std::mem::take(&mut *server.log.lock().unwrap());
    let first_error = counters.first_error.lock().unwrap().take();
    Outcome {
        name,
        policy,
        wall,
        finished,
        succeeded: counters.succeeded.load(Ordering::Relaxed),
        gave_up: counters.gave_up.load(Ordering::Relaxed),
        first_error,
        started,
        log,
    }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn print_table(outcomes: &[Outcome]) {
    let ideal_burst = f64::from(CALLS as u32 - BURST) / f64::from(RATE);
    let ideal_plain = CALLS as f64 / f64::from(RATE);
    println!();
    println!(
        "Throttled goodput: {CALLS} successful GETs, {WORKERS} workers, server bucket R = {RATE}/s, B = {BURST} \
         (ideal ({CALLS} − B)/R = {ideal_burst:.1} s, {CALLS}/R = {ideal_plain:.1} s):"
    );
    println!();
    println!(
        "| client | retry policy | wall time | vs ({CALLS} − B)/R = {ideal_burst:.1} s | vs {CALLS}/R = {ideal_plain:.1} s | 990th 200 at | 429 answers | 429s, % of calls | requests sent (200 + 429) | calls given up (redone) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let wall = if o.finished {
            secs(o.wall)
        } else {
            format!(
                "**not finished** at {} ({} of {CALLS} done)",
                secs(o.wall),
                o.succeeded
            )
        };
        let w = o.wall.as_secs_f64();
        println!(
            "| {} | {} | {wall} | {:.3}× ({:+.1} %) | {:.3}× ({:+.1} %) | {} | {} | {:.1} % | {} ({} + {}) | {} |",
            o.name,
            o.policy,
            w / ideal_burst,
            (w / ideal_burst - 1.0) * 100.0,
            w / ideal_plain,
            (w / ideal_plain - 1.0) * 100.0,
            o.nth_ok(CALLS - CALLS / 100)
                .map_or_else(|| "–".to_owned(), secs),
            o.throttled(),
            o.throttled() as f64 / CALLS as f64 * 100.0,
            o.log.len(),
            o.ok(),
            o.throttled(),
            o.gave_up,
        );
    }
    println!();
    println!(
        "Target for authed: wall time within 5 % of the ideal and at most 1 % of calls answered 429."
    );
    if let Some(o) = outcomes.iter().find(|o| o.name == "authed") {
        let ratio = o.wall.as_secs_f64() / ideal_burst;
        let share = o.throttled() as f64 / CALLS as f64;
        let met = o.finished && ratio <= 1.05 && share <= 0.01;
        println!(
            "authed: {} ({:+.1} % vs ({CALLS} − B)/R, {:.1} % of calls answered 429).",
            if met {
                "target met"
            } else {
                "**target missed**"
            },
            (ratio - 1.0) * 100.0,
            share * 100.0
        );
    }
    for o in outcomes {
        if let Some(e) = &o.first_error {
            println!("{}: first call given up: {e}", o.name);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn print_diagnostics(o: &Outcome) {
    println!();
    println!("### {} ({})", o.name, o.policy);
    println!();
    let seconds = (o.wall.as_secs_f64().ceil() as usize).max(1);
    let mut ok = vec![0usize; seconds + 1];
    let mut throttled = vec![0usize; seconds + 1];
    for a in &o.log {
        let s = (a.at.saturating_duration_since(o.started).as_secs_f64() as usize).min(seconds);
        if a.ok {
            ok[s] += 1;
        } else {
            throttled[s] += 1;
        }
    }
    let join = |v: &[usize]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("200s per second: {}", join(&ok));
    println!("429s per second: {}", join(&throttled));

    // Gaps between consecutive arrivals once the burst is spent (after the first second).
    let after_burst: Vec<&Arrival> = o
        .log
        .iter()
        .filter(|a| a.at.saturating_duration_since(o.started) >= Duration::from_secs(1))
        .collect();
    let mut gaps: Vec<f64> = after_burst
        .windows(2)
        .map(|w| w[1].at.saturating_duration_since(w[0].at).as_secs_f64() * 1e3)
        .collect();
    gaps.sort_by(f64::total_cmp);
    if !gaps.is_empty() {
        println!(
            "gaps between arrivals after the first second (ms): min {:.2}, p1 {:.2}, p50 {:.2}, p99 {:.2}, max {:.2} ({} gaps)",
            gaps[0],
            percentile(&gaps, 0.01),
            percentile(&gaps, 0.5),
            percentile(&gaps, 0.99),
            gaps[gaps.len() - 1],
            gaps.len()
        );
    }
    // Tokens in the bucket as requests arrived, once the burst is spent: how close to a 429.
    let mut tokens: Vec<f64> = o
        .log
        .iter()
        .skip(BURST as usize)
        .map(|a| a.tokens)
        .collect();
    tokens.sort_by(f64::total_cmp);
    if !tokens.is_empty() {
        println!(
            "bucket tokens on arrival, request {} onwards (< 1 is a 429): min {:.3}, p1 {:.3}, p50 {:.3}, max {:.3}",
            BURST + 1,
            tokens[0],
            percentile(&tokens, 0.01),
            percentile(&tokens, 0.5),
            tokens[tokens.len() - 1]
        );
    }
    let first_429s: Vec<String> = o
        .log
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.ok)
        .take(12)
        .map(|(i, a)| {
            let gap = i
                .checked_sub(1)
                .map(|j| a.at.saturating_duration_since(o.log[j].at).as_secs_f64() * 1e3)
                .unwrap_or(0.0);
            format!(
                "#{i} at {:.1} ms (gap {gap:.2} ms, tokens {:.3})",
                a.at.saturating_duration_since(o.started).as_secs_f64() * 1e3,
                a.tokens
            )
        })
        .collect();
    if !first_429s.is_empty() {
        println!(
            "first 429s (request number, arrival, gap from the previous arrival, bucket tokens):"
        );
        for line in first_429s {
            println!("  {line}");
        }
    }
    let last_ok = o.log.iter().rev().find(|a| a.ok);
    if let Some(last) = last_ok {
        println!(
            "last 200 at {:.2} s",
            last.at.saturating_duration_since(o.started).as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let authed = run(&rt, "authed", "default (3 retries)", |addr| Authed {
        client: authed::Client::builder(format!("http://{addr}/v1/"))
            .build()
            .expect("authed client"),
    });
    let retry = run(
        &rt,
        "reqwest-retry",
        "ExponentialBackoff, 10 retries",
        |addr| RetryMiddleware {
            client: reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                .with(RetryTransientMiddleware::new_with_policy(
                    ExponentialBackoff::builder().build_with_max_retries(10),
                ))
                .build(),
            url: format!("http://{addr}/v1/items"),
        },
    );

    let outcomes = [authed, retry];
    println!();
    print_machine();
    print_table(&outcomes);
    println!();
    println!("Diagnostics:");
    for o in &outcomes {
        print_diagnostics(o);
    }
    println!();
}
