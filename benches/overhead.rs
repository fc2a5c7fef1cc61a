//! Per-request overhead of `authed` compared with the clients it is built on:
//! time per request (criterion) and heap allocations per request (counted).
//!
//! What is measured: one authenticated `GET /v1/items` against a local
//! HTTP/1.1 keep-alive server, body read to the end, for clients that all end
//! up on the same `reqwest` 0.13 connection pool:
//!
//! * `reqwest`: a bare `reqwest::Client`, `.bearer_auth("bench-token")` on
//!   each request;
//! * `reqwest_middleware`: a `reqwest_middleware::ClientWithMiddleware` with
//!   an empty middleware chain, `.bearer_auth(..)` on each request;
//! * `authed`: an `authed::Client` with `authed::auth::Bearer`, calling
//!   `client.get("items").send().await?.bytes().await?`;
//! * `authed_middleware`: authed's stages as middleware (feature
//!   `reqwest-middleware`): a `reqwest_middleware::ClientWithMiddleware` over
//!   a `reqwest::Client` with `redirect(Policy::none())`, with
//!   `ThrottleMiddleware::default()` then
//!   `AuthMiddleware::builder("http://127.0.0.1:<port>").auth(Bearer::new(..))`,
//!   fetching the full URL with no `.bearer_auth(..)` (the middleware writes
//!   the header). Like bare reqwest it has no per-request timeout.
//!
//! Two more rows compare like with like on timeouts: `reqwest_30s_timeout` (bare
//! reqwest with authed's default 30 s per-request timeout) and
//! `authed_no_timeout` (authed with `.no_timeout()`, like bare reqwest).
//!
//! Each client is used as written in its docs, defaults included: the
//! reqwest-based clients parse the URL string on every request, authed joins
//! `"items"` onto its base URL; authed's default 30 s per-attempt timeout is
//! on (the reqwest clients have none), and its rate-limit, redirect and
//! redaction bookkeeping runs on every request (in `authed_middleware`: the
//! pacing gate, response-header checks and retry bookkeeping of
//! `ThrottleMiddleware`, the origin check and redactor of `AuthMiddleware`).
//! That is the overhead measured.
//!
//! Two groups:
//!
//! * `sequential`: one request at a time, reported per request;
//! * `concurrent_64`: each iteration spawns 64 requests on a
//!   `tokio::task::JoinSet` and awaits them all, reported per batch of 64
//!   (the closing summary also divides by 64).
//!
//! Setup, identical for every client: one multi-thread tokio runtime
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
//! # Allocations per request
//!
//! Before the timed runs, a table of heap allocations per request is printed.
//! The binary's global allocator forwards to `std::alloc::System` and, while
//! counting is switched on, adds one to a counter for every `alloc`,
//! `alloc_zeroed` and `realloc` (frees are not counted). For each client: the
//! same warm-up as above plus 200 sequential requests, then counting is
//! switched on for 2,000 sequential requests (run, like the timed loop, in one
//! task on the runtime) and the count is divided by 2,000.
//!
//! The server runs in the same process and on the same threads, so its
//! allocations cannot be told apart from the client's and **are included in
//! every row**. They are the same for every row (give or take what parsing
//! the few request headers that differ between clients costs), so
//! *differences between rows are the clients' own*. To show the server's
//! share, the table has one more row, `raw_tcp (server baseline)`: HTTP/1.1
//! written by hand on one keep-alive `TcpStream` with a fixed request and a
//! stack buffer, which allocates nothing per request in its own code, so its
//! count is the server's (and the runtime's) alone. The last column subtracts
//! it: an estimate of each client's own allocations. Allocation counts do not
//! depend on machine load and repeat from run to run, give or take one per
//! request in an occasional run (the two workers' timing picks a path in a few
//! places: in 30 runs, `reqwest` read 53 instead of 52 three times).
//!
//! Outside the counting window the allocator only does one relaxed load of a
//! flag that stays off (and unwritten) during the timed runs, so the counter,
//! a cache line the two workers would otherwise fight over, cannot slow them.
//!
//! Run it (12 benchmarks of 3 s warm-up + 10 s measurement, plus analysis:
//! about three minutes on 2 cores):
//!
//! ```text
//! cargo bench -p authed-benches --bench overhead
//! ```
//!
//! A criterion filter works as usual, e.g. `... --bench overhead -- sequential`
//! (the allocation table is printed first whatever the filter).
//! At the end a markdown table of medians (with criterion's 95% confidence
//! intervals) is printed from the `estimates.json` files written by this run.
//!
//! Only the allocation table, in a second or two (it does not depend on machine
//! load, so it can be run while other work is going on):
//!
//! ```text
//! AUTHED_BENCH_ALLOCS_ONLY=1 cargo bench -p authed-benches --bench overhead
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const TOKEN: &str = "bench-token";
const EXPECTED_AUTH: &str = "Bearer bench-token";
const BODY: &[u8] = br#"{"ok":true}"#;
const BATCH: usize = 64;

const GROUP_SEQUENTIAL: &str = "sequential";
const GROUP_CONCURRENT: &str = "concurrent_64";
const CLIENTS: [&str; 6] = [
    "reqwest",
    "reqwest_middleware",
    "authed",
    "reqwest_30s_timeout",
    "authed_no_timeout",
    "authed_middleware",
];

/// Set to `1`: print only the allocation table, no timed runs.
const ALLOCS_ONLY_ENV: &str = "AUTHED_BENCH_ALLOCS_ONLY";
/// Sequential requests before counting (after the concurrent warm-up batch).
const ALLOC_WARM_UP: u64 = 200;
/// Sequential requests counted per client.
const ALLOC_REQUESTS: u64 = 2_000;

// ---------------------------------------------------------------------------
// Allocation counter
// ---------------------------------------------------------------------------

/// The system allocator, plus a count of `alloc`, `alloc_zeroed` and `realloc`
/// calls made by any thread while `COUNTING` is on. Frees are not counted.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

impl CountingAlloc {
    #[inline]
    fn count() {
        // Off during the timed runs: a read of a line nobody writes, no contention.
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds `GlobalAlloc`'s contract; counting touches only two atomics and
// never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count();
        // SAFETY: our caller's guarantees for `alloc` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

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

/// authed's middleware in a `reqwest_middleware` stack: no `.bearer_auth(..)`,
/// `AuthMiddleware` writes the header.
struct AuthedMiddleware {
    client: reqwest_middleware::ClientWithMiddleware,
    url: String,
}

impl Fetch for AuthedMiddleware {
    async fn fetch(&self) -> Bytes {
        self.client
            .get(&self.url)
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
// Allocations per request
// ---------------------------------------------------------------------------

/// Warms `client` up, then counts the allocations (whole process, the
/// in-process server included) of `ALLOC_REQUESTS` sequential requests made
/// from one task on the runtime; returns the count per request.
fn allocs_per_request<C: Fetch>(rt: &Runtime, client: &Arc<C>) -> f64 {
    warm_up(rt, client);
    let client = Arc::clone(client);
    let counted = rt.block_on(rt.spawn(async move {
        for _ in 0..ALLOC_WARM_UP {
            black_box(client.fetch().await);
        }
        count_allocations(async {
            for _ in 0..ALLOC_REQUESTS {
                black_box(client.fetch().await);
            }
        })
        .await
    }));
    counted.expect("allocation-count task panicked") as f64 / ALLOC_REQUESTS as f64
}

/// `AUTHED_BENCH_RUN=<client>:<n>`: warm `client` up, make `n` sequential requests, exit.
/// For instruction counts under `valgrind --tool=callgrind` (see `benches/instructions.sh`):
/// two runs with different `n` differ only by the requests, so their difference divided by
/// the difference in `n` is the instructions of one request, setup excluded.
const RUN_ENV: &str = "AUTHED_BENCH_RUN";

fn run_only<C: Fetch>(rt: &Runtime, client: &Arc<C>, n: u64) {
    warm_up(rt, client);
    let client = Arc::clone(client);
    rt.block_on(rt.spawn(async move {
        for _ in 0..n {
            black_box(client.fetch().await);
        }
    }))
    .expect("run task panicked");
}

/// Allocations made by the whole process while `work` runs.
async fn count_allocations(work: impl Future<Output = ()>) -> u64 {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    work.await;
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// The request the `raw_tcp` baseline writes, byte for byte.
const RAW_REQUEST: &[u8] =
    b"GET /v1/items HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer bench-token\r\n\r\n";

/// One request on a keep-alive connection, by hand: the fixed request out, the
/// answer read into `buf` until its head and the 11-byte body are in, checked
/// to be the authorized 200. Nothing here allocates.
async fn raw_round_trip(stream: &mut TcpStream, buf: &mut [u8; 1024]) {
    stream.write_all(RAW_REQUEST).await.expect("raw write");
    let mut len = 0;
    loop {
        let n = stream.read(&mut buf[len..]).await.expect("raw read");
        assert!(n > 0, "server closed the raw connection");
        len += n;
        let head_end = buf[..len]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4);
        if head_end.is_some_and(|end| len >= end + BODY.len()) {
            break;
        }
    }
    assert!(buf.starts_with(b"HTTP/1.1 200 OK\r\n"), "raw: not a 200");
    assert!(buf[..len].ends_with(BODY), "raw: unexpected body");
}

/// The `raw_tcp` row: allocations per request with a client that allocates
/// nothing per request, i.e. the server's (and the runtime's) own.
fn server_allocs_per_request(rt: &Runtime, addr: SocketAddr) -> f64 {
    let counted = rt.block_on(rt.spawn(async move {
        let mut stream = TcpStream::connect(addr).await.expect("raw connect");
        stream.set_nodelay(true).expect("raw nodelay");
        let mut buf = [0u8; 1024];
        for _ in 0..ALLOC_WARM_UP {
            raw_round_trip(&mut stream, &mut buf).await;
        }
        count_allocations(async {
            for _ in 0..ALLOC_REQUESTS {
                raw_round_trip(&mut stream, &mut buf).await;
            }
        })
        .await
    }));
    counted.expect("allocation-count task panicked") as f64 / ALLOC_REQUESTS as f64
}

fn print_allocations(rows: &[(&str, f64)], server: f64) {
    let base = rows[0].1;
    println!();
    println!(
        "Heap allocations per request (alloc + alloc_zeroed + realloc calls, whole process, \
         {ALLOC_REQUESTS} sequential requests after warm-up). The in-process server's \
         allocations are included in every row (about the same for each), so differences \
         between rows are the clients' own; the raw_tcp row is the server's share alone:"
    );
    println!();
    println!("| client | allocs/request | vs reqwest | minus server baseline |");
    println!("|---|---|---|---|");
    for &(id, n) in rows {
        println!(
            "| {id} | {n:.2} | {:+.2} ({:+.1}%) | {:.2} |",
            n - base,
            (n / base - 1.0) * 100.0,
            n - server
        );
    }
    println!(
        "| raw_tcp (server baseline) | {server:.2} | {:+.2} | 0.00 |",
        server - base
    );
    println!();
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
        url: url.clone(),
    });
    let authed_middleware = Arc::new(AuthedMiddleware {
        client: reqwest_middleware::ClientBuilder::new(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("reqwest client"),
        )
        .with(authed::middleware::ThrottleMiddleware::default())
        .with(
            authed::middleware::AuthMiddleware::builder(format!("http://{addr}"))
                .auth(authed::auth::Bearer::new(TOKEN))
                .build()
                .expect("auth middleware"),
        )
        .build(),
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

    if let Ok(spec) = std::env::var(RUN_ENV) {
        let (name, n) = spec
            .split_once(':')
            .and_then(|(name, n)| Some((name.to_owned(), n.parse::<u64>().ok()?)))
            .expect("AUTHED_BENCH_RUN=<client>:<requests>");
        match name.as_str() {
            "reqwest" => run_only(&rt, &bare, n),
            "reqwest_middleware" => run_only(&rt, &middleware, n),
            "authed" => run_only(&rt, &authed, n),
            "reqwest_30s_timeout" => run_only(&rt, &bare_timeout, n),
            "authed_no_timeout" => run_only(&rt, &authed_no_timeout, n),
            "authed_middleware" => run_only(&rt, &authed_middleware, n),
            other => panic!("unknown client {other}; one of {CLIENTS:?}"),
        }
        return;
    }

    let allocations = [
        (CLIENTS[0], allocs_per_request(&rt, &bare)),
        (CLIENTS[1], allocs_per_request(&rt, &middleware)),
        (CLIENTS[2], allocs_per_request(&rt, &authed)),
        (CLIENTS[3], allocs_per_request(&rt, &bare_timeout)),
        (CLIENTS[4], allocs_per_request(&rt, &authed_no_timeout)),
        (CLIENTS[5], allocs_per_request(&rt, &authed_middleware)),
    ];
    print_allocations(&allocations, server_allocs_per_request(&rt, addr));
    if std::env::var_os(ALLOCS_ONLY_ENV).is_some_and(|v| v == "1") {
        return;
    }

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
        bench_sequential(&mut group, &rt, CLIENTS[5], &authed_middleware);
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
        bench_concurrent(&mut group, &rt, CLIENTS[5], &authed_middleware);
        group.finish();
    }

    c.final_summary();
    print_summary(started);
}
