//! Per-request overhead of `authed` compared with the clients it is built on.
//!
//! What is measured: the wall-clock time of one authenticated `GET /v1/items`
//! against a local HTTP/1.1 keep-alive server, body read to the end, for
//! three clients that all end up on the same `reqwest` 0.13 connection pool:
//!
//! * `reqwest`: a bare `reqwest::Client`, `.bearer_auth("bench-token")` on
//!   each request;
//! * `reqwest_middleware`: a `reqwest_middleware::ClientWithMiddleware` with
//!   an empty middleware chain, `.bearer_auth(..)` on each request;
//! * `authed`: an `authed::Client` with `authed::auth::Bearer`, calling
//!   `client.get("items").send().await?.bytes().await?`.
//!
//! Two more rows compare like with like on timeouts: `reqwest_30s_timeout` (bare
//! reqwest with authed's default 30 s per-request timeout) and
//! `authed_no_timeout` (authed with `.no_timeout()`, like bare reqwest).
//!
//! Each client is used as written in its docs, defaults included: the two
//! reqwest clients parse the URL string on every request, authed joins
//! `"items"` onto its base URL; authed's default 30 s per-attempt timeout is
//! on (the reqwest clients have none), and its rate-limit, redirect and
//! redaction bookkeeping runs on every request. That is the overhead measured.
//!
//! Two groups:
//!
//! * `sequential`: one request at a time, reported per request;
//! * `concurrent_64`: each iteration spawns 64 requests on a
//!   `tokio::task::JoinSet` and awaits them all, reported per batch of 64
//!   (the closing summary also divides by 64).
//!
//! Setup, identical for the three clients: one multi-thread tokio runtime
//! with 2 worker threads runs the clients *and* the server (hyper 1,
//! HTTP/1.1 keep-alive, bound to `127.0.0.1:0`, answering `200 {"ok":true}`
//! when `Authorization: Bearer bench-token` is present and `401` otherwise).
//! The timed loop of each benchmark runs inside one task spawned on that
//! runtime (criterion `to_async(..).iter_custom`, the task times `iters`
//! rounds itself), so exactly two threads do all the work on a 2-core machine.
//! Driving the loop with `block_on` from the main thread, or giving the
//! server its own thread, puts three busy threads on two cores and, on the
//! 2-vCPU VM this was written on, made the sequential figures flip between
//! about 14 µs and 90 µs per request from run to run.
//!
//! Before each benchmark the client is warmed with a batch of 64 concurrent
//! requests (so its pool holds live connections, and every answer is checked
//! to be the authorized 200 body), then criterion's own warm-up runs.
//!
//! Run it (about two and a half minutes on 2 cores):
//!
//! ```text
//! cargo bench -p authed-benches --bench overhead
//! ```
//!
//! A criterion filter works as usual, e.g. `... --bench overhead -- sequential`.
//! At the end a markdown table of medians (with criterion's 95% confidence
//! intervals) is printed from the `estimates.json` files written by this run.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const TOKEN: &str = "bench-token";
const EXPECTED_AUTH: &str = "Bearer bench-token";
const BODY: &[u8] = br#"{"ok":true}"#;
const BATCH: usize = 64;

const GROUP_SEQUENTIAL: &str = "sequential";
const GROUP_CONCURRENT: &str = "concurrent_64";
const CLIENTS: [&str; 5] = [
    "reqwest",
    "reqwest_middleware",
    "authed",
    "reqwest_30s_timeout",
    "authed_no_timeout",
];

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let authorized = req
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == EXPECTED_AUTH.as_bytes());
    let response = if authorized {
        let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    } else {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
    };
    Ok(response)
}

/// Starts the server as a task on `rt` and returns its address.
fn start_server(rt: &Runtime) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service_fn(handle))
                        .await;
                });
            }
        });
        addr
    })
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// One authenticated `GET /v1/items`, whole body read. Panics on any error so
/// that a broken setup cannot produce fast-looking numbers.
trait Fetch: Send + Sync + 'static {
    fn fetch(&self) -> impl Future<Output = Bytes> + Send;
}

struct Bare {
    client: reqwest::Client,
    url: String,
    /// A per-request timeout, like authed's default: a like-for-like comparison.
    timeout: Option<Duration>,
}

impl Fetch for Bare {
    async fn fetch(&self) -> Bytes {
        let request = self.client.get(&self.url).bearer_auth(TOKEN);
        let request = match self.timeout {
            Some(t) => request.timeout(t),
            None => request,
        };
        request.send().await.unwrap().bytes().await.unwrap()
    }
}

struct Middleware {
    client: reqwest_middleware::ClientWithMiddleware,
    url: String,
}

impl Fetch for Middleware {
    async fn fetch(&self) -> Bytes {
        self.client
            .get(&self.url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    }
}

struct Authed {
    client: authed::Client,
}

impl Fetch for Authed {
    async fn fetch(&self) -> Bytes {
        self.client
            .get("items")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    }
}

/// Fires `BATCH` requests concurrently on the runtime's workers and waits for
/// all of them.
async fn batch<C: Fetch>(client: &Arc<C>) -> usize {
    let mut set = JoinSet::new();
    for _ in 0..BATCH {
        let client = Arc::clone(client);
        set.spawn(async move { client.fetch().await });
    }
    let mut total = 0;
    while let Some(body) = set.join_next().await {
        total += black_box(body.expect("request task panicked")).len();
    }
    total
}

/// `iters` requests one after the other; the time they took.
async fn sequential_rounds<C: Fetch>(client: Arc<C>, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(client.fetch().await);
    }
    start.elapsed()
}

/// `iters` batches of `BATCH` concurrent requests; the time they took.
async fn concurrent_rounds<C: Fetch>(client: Arc<C>, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(batch(&client).await);
    }
    start.elapsed()
}

/// Opens connections (one concurrent batch) and checks every answer is the
/// authorized body, so a 401 or an empty body cannot go unnoticed.
fn warm_up<C: Fetch>(rt: &Runtime, client: &Arc<C>) {
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..BATCH {
            let client = Arc::clone(client);
            set.spawn(async move { client.fetch().await });
        }
        while let Some(body) = set.join_next().await {
            assert_eq!(&body.expect("warm-up request")[..], BODY);
        }
        assert_eq!(&client.fetch().await[..], BODY);
    });
}

fn bench_sequential<C: Fetch>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    client: &Arc<C>,
) {
    warm_up(rt, client);
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let rounds = rt.spawn(sequential_rounds(Arc::clone(client), iters));
            async move { rounds.await.expect("benchmark task panicked") }
        })
    });
}

fn bench_concurrent<C: Fetch>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    client: &Arc<C>,
) {
    warm_up(rt, client);
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let rounds = rt.spawn(concurrent_rounds(Arc::clone(client), iters));
            async move { rounds.await.expect("benchmark task panicked") }
        })
    });
}

// ---------------------------------------------------------------------------
// Summary table
// ---------------------------------------------------------------------------

/// Same search order as criterion 0.8 (`CRITERION_HOME`, `CARGO_TARGET_DIR`,
/// `cargo metadata`, `target/`).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    let from_metadata = std::env::var_os("CARGO").and_then(|cargo| {
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(PathBuf::from(meta["target_directory"].as_str()?))
    });
    from_metadata
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion")
}

/// Median and its 95% confidence interval, in nanoseconds, if this run wrote
/// the estimate (older files from a filtered-out benchmark are ignored).
fn median(dir: &Path, group: &str, id: &str, started: SystemTime) -> Option<[f64; 3]> {
    let path = dir.join(group).join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < started {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let m = &json["median"];
    let ci = &m["confidence_interval"];
    Some([
        m["point_estimate"].as_f64()?,
        ci["lower_bound"].as_f64()?,
        ci["upper_bound"].as_f64()?,
    ])
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.3} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn fmt_cell(est: Option<[f64; 3]>, divisor: f64) -> String {
    match est {
        Some([m, lo, hi]) => format!(
            "{} [{} – {}]",
            fmt_ns(m / divisor),
            fmt_ns(lo / divisor),
            fmt_ns(hi / divisor)
        ),
        None => "–".to_owned(),
    }
}

fn fmt_rel(est: Option<[f64; 3]>, base: Option<[f64; 3]>) -> String {
    match (est, base) {
        (Some([m, ..]), Some([b, ..])) if b > 0.0 => format!("{:+.1}%", (m / b - 1.0) * 100.0),
        _ => "–".to_owned(),
    }
}

fn print_summary(started: SystemTime) {
    let dir = criterion_dir();
    let rows: Vec<_> = CLIENTS
        .iter()
        .map(|id| {
            (
                *id,
                median(&dir, GROUP_SEQUENTIAL, id, started),
                median(&dir, GROUP_CONCURRENT, id, started),
            )
        })
        .collect();
    if rows.iter().all(|(_, s, c)| s.is_none() && c.is_none()) {
        return;
    }
    let (base_seq, base_conc) = (rows[0].1, rows[0].2);
    println!();
    println!(
        "Median time per request, criterion 95% CI in brackets (from {}):",
        dir.display()
    );
    println!();
    println!(
        "| client | sequential, per request | vs reqwest | 64 in flight, per batch | 64 in flight, per request | vs reqwest |"
    );
    println!("|---|---|---|---|---|---|");
    for (id, seq, conc) in rows {
        println!(
            "| {id} | {} | {} | {} | {} | {} |",
            fmt_cell(seq, 1.0),
            fmt_rel(seq, base_seq),
            fmt_cell(conc, 1.0),
            fmt_cell(conc, BATCH as f64),
            fmt_rel(conc, base_conc),
        );
    }
    println!();
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() {
    let started = SystemTime::now();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let addr = start_server(&rt);
    let url = format!("http://{addr}/v1/items");

    let bare = Arc::new(Bare {
        client: reqwest::Client::new(),
        url: url.clone(),
        timeout: None,
    });
    let bare_timeout = Arc::new(Bare {
        client: reqwest::Client::new(),
        url: url.clone(),
        timeout: Some(Duration::from_secs(30)),
    });
    let middleware = Arc::new(Middleware {
        client: reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build(),
        url,
    });
    let authed = Arc::new(Authed {
        client: authed::Client::builder(format!("http://{addr}/v1/"))
            .auth(authed::auth::Bearer::new(authed::Secret::from(TOKEN)))
            .build()
            .expect("authed client"),
    });
    let authed_no_timeout = Arc::new(Authed {
        client: authed::Client::builder(format!("http://{addr}/v1/"))
            .auth(authed::auth::Bearer::new(authed::Secret::from(TOKEN)))
            .no_timeout()
            .build()
            .expect("authed client"),
    });

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(10))
        .sample_size(100)
        .configure_from_args();

    {
        let mut group = c.benchmark_group(GROUP_SEQUENTIAL);
        group.throughput(Throughput::Elements(1));
        bench_sequential(&mut group, &rt, CLIENTS[0], &bare);
        bench_sequential(&mut group, &rt, CLIENTS[1], &middleware);
        bench_sequential(&mut group, &rt, CLIENTS[2], &authed);
        bench_sequential(&mut group, &rt, CLIENTS[3], &bare_timeout);
        bench_sequential(&mut group, &rt, CLIENTS[4], &authed_no_timeout);
        group.finish();
    }
    {
        let mut group = c.benchmark_group(GROUP_CONCURRENT);
        group.throughput(Throughput::Elements(BATCH as u64));
        bench_concurrent(&mut group, &rt, CLIENTS[0], &bare);
        bench_concurrent(&mut group, &rt, CLIENTS[1], &middleware);
        bench_concurrent(&mut group, &rt, CLIENTS[2], &authed);
        bench_concurrent(&mut group, &rt, CLIENTS[3], &bare_timeout);
        bench_concurrent(&mut group, &rt, CLIENTS[4], &authed_no_timeout);
        group.finish();
    }

    c.final_summary();
    print_summary(started);
}
