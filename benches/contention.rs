//! Token cache contention: what single flight costs the tasks that wait on it, and what a
//! warm `token()` costs under contention.
//!
//! The token endpoint (hyper 1, HTTP/1.1 keep-alive, `127.0.0.1:0`, in-process) answers every
//! `POST /token` with `{"access_token":"t-<n>","token_type":"Bearer","expires_in":3600}`
//! after [`ENDPOINT_DELAY`] (20 ms, a `tokio::time::sleep`), and counts the requests. The
//! cache is `ClientCredentials::new(format!("{url}/token"), "id", Secret::from("secret"))
//! .into_auth()`, built fresh for each cold measurement (so each one also builds its own
//! `authed::Client` and opens its own connection to the endpoint).
//!
//! Measurements, each repeated [`ROUNDS`] (20) times, medians reported:
//!
//! * `lone cold call`: one task, one `token()` on a fresh cache: the endpoint's delay plus
//!   one token request (connection, form, JSON). The baseline for the next row.
//! * `1,000 tasks, cold cache`: 1,000 tasks wait on a `tokio::sync::Barrier`, then each calls
//!   `auth.token().await` and times it (from its own call to its own answer). Reported: the
//!   token requests the endpoint saw (must be 1 in every round), per-task latency p50 / p99 /
//!   max, the span from the first call to the last answer, and latency minus the endpoint's
//!   delay and minus the lone call.
//! * `warm`: 1,000 tasks × 100 `token()` calls each on a warm cache, released by a barrier.
//!   Each task times its own 100 calls (a warm call never awaits, so a task runs them
//!   without yielding): p50 / p99 of those per-task averages over all rounds, and the time
//!   from the first call to the last answer divided by 100,000 calls. Two more figures pin
//!   the range: one task making 100,000 calls alone (no contention), and two OS threads
//!   making 100,000 calls each at the same moment (`Handle::block_on` on threads of their
//!   own, released by a `std::sync::Barrier`): both cores on the cache's mutex and shared
//!   reference counts at once. Whether the runtime's two workers really run the 1,000 tasks
//!   side by side depends on work stealing (and, on a shared VM, on the host), so the
//!   per-task p50 is usually the solo cost and the p99 shows the contended tail.
//! * The same warm figures for `Token::clone()` of a token the tasks already hold (no cache
//!   involved): a warm `token()` returns such a clone, so the difference is the cache's own
//!   lookup.
//!
//! Setup as in `overhead.rs`: one multi-thread tokio runtime with 2 worker threads runs the
//! tasks and the endpoint, every measurement runs in a task spawned on it, and the main
//! thread only waits.
//!
//! ```text
//! cargo bench -p authed-benches --bench contention
//! ```
//!
//! About 15 s. It prints the machine (cores, CPU, load) and two markdown tables.

#[path = "machine.rs"]
mod machine;
use machine::print_machine;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authed::oauth2::{ClientCredentials, Token, TokenAuth};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// How long the token endpoint takes to answer.
const ENDPOINT_DELAY: Duration = Duration::from_millis(20);
/// Tasks that ask for a token at once.
const TASKS: usize = 1_000;
/// `token()` calls per task on the warm path.
const WARM_CALLS: usize = 100;
/// Repetitions of each measurement.
const ROUNDS: usize = 20;

// ---------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------

async fn handle(
    req: Request<Incoming>,
    count: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_token = req.uri().path() == "/token" && req.method() == hyper::Method::POST;
    // Read the form, as a real endpoint would.
    let _ = req.into_body().collect().await;
    if !is_token {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return Ok(r);
    }
    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(ENDPOINT_DELAY).await;
    let body = format!(r#"{{"access_token":"t-{n}","token_type":"Bearer","expires_in":3600}}"#);
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

fn start_endpoint(rt: &Runtime, count: Arc<AtomicU64>) -> SocketAddr {
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
                let count = Arc::clone(&count);
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, Arc::clone(&count)));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    })
}

fn fresh_cache(url: &str) -> TokenAuth {
    ClientCredentials::new(format!("{url}/token"), "id", authed::Secret::from("secret")).into_auth()
}

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

/// Runs `fut` in a task on `rt` (not on the main thread) and waits for it.
fn on_runtime<T: Send + 'static>(
    rt: &Runtime,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(async { rt.spawn(fut).await })
        .expect("measurement task panicked")
}

/// One cold call by one task on a fresh cache.
async fn lone_cold(auth: TokenAuth) -> Duration {
    let start = Instant::now();
    auth.token().await.expect("token");
    start.elapsed()
}

struct ColdRound {
    /// Per-task latencies, sorted.
    latencies: Vec<Duration>,
    /// First call to last answer.
    span: Duration,
}

/// `TASKS` tasks released together by a barrier, each timing its own `token()`.
async fn cold_round(auth: TokenAuth) -> ColdRound {
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut set = JoinSet::new();
    for _ in 0..TASKS {
        let auth = auth.clone();
        let barrier = Arc::clone(&barrier);
        set.spawn(async move {
            barrier.wait().await;
            let start = Instant::now();
            let token = auth.token().await.expect("token");
            let end = Instant::now();
            assert!(!token.token_type().is_empty());
            (start, end)
        });
    }
    let mut times = Vec::with_capacity(TASKS);
    while let Some(r) = set.join_next().await {
        times.push(r.expect("task panicked"));
    }
    let first = times.iter().map(|t| t.0).min().expect("tasks ran");
    let last = times.iter().map(|t| t.1).max().expect("tasks ran");
    let mut latencies: Vec<Duration> = times.iter().map(|(s, e)| *e - *s).collect();
    latencies.sort();
    ColdRound {
        latencies,
        span: last - first,
    }
}

/// One task's warm calls: when they started and ended.
struct TaskRun {
    start: Instant,
    end: Instant,
}

impl TaskRun {
    fn ns_per_call(&self) -> f64 {
        nanos(self.end - self.start) / WARM_CALLS as f64
    }
}

struct WarmRound {
    /// Per-task average ns per call.
    per_task_ns: Vec<f64>,
    /// First call to last answer, divided by the calls, ns.
    wall_ns_per_call: f64,
}

/// What a warm call does: `auth.token()`, or (for reference) only `Token::clone()` of a token
/// the tasks hold, which is the part of a warm `token()` that is not the cache's lookup.
#[derive(Clone)]
enum Op {
    Cache(TokenAuth),
    CloneOnly(Arc<Token>),
}

impl Op {
    async fn call(&self) -> Token {
        match self {
            Self::Cache(auth) => auth.token().await.expect("token"),
            Self::CloneOnly(token) => Token::clone(token),
        }
    }
}

async fn warm_round(op: Op) -> WarmRound {
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut set = JoinSet::new();
    for _ in 0..TASKS {
        let op = op.clone();
        let barrier = Arc::clone(&barrier);
        set.spawn(async move {
            barrier.wait().await;
            let start = Instant::now();
            for _ in 0..WARM_CALLS {
                std::hint::black_box(op.call().await);
            }
            TaskRun {
                start,
                end: Instant::now(),
            }
        });
    }
    let mut runs = Vec::with_capacity(TASKS);
    while let Some(r) = set.join_next().await {
        runs.push(r.expect("task panicked"));
    }
    let first = runs.iter().map(|r| r.start).min().expect("tasks ran");
    let last = runs.iter().map(|r| r.end).max().expect("tasks ran");
    WarmRound {
        per_task_ns: runs.iter().map(TaskRun::ns_per_call).collect(),
        wall_ns_per_call: nanos(last - first) / (TASKS * WARM_CALLS) as f64,
    }
}

/// One task, `TASKS * WARM_CALLS` calls, nobody else: ns per call.
async fn warm_alone(op: Op) -> f64 {
    let calls = TASKS * WARM_CALLS;
    let start = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(op.call().await);
    }
    nanos(start.elapsed()) / calls as f64
}

/// Two OS threads (outside the runtime's workers, each driving its calls with
/// `Handle::block_on`) making `TASKS * WARM_CALLS` calls each, released together: the
/// average ns per call of the two, i.e. what a warm call costs when both cores call at once.
fn warm_two_threads(rt: &Runtime, op: &Op) -> f64 {
    let calls = TASKS * WARM_CALLS;
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (op, barrier, handle) = (op.clone(), Arc::clone(&barrier), rt.handle().clone());
            std::thread::spawn(move || {
                handle.block_on(async move {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..calls {
                        std::hint::black_box(op.call().await);
                    }
                    nanos(start.elapsed()) / calls as f64
                })
            })
        })
        .collect();
    let per_call: Vec<f64> = threads
        .into_iter()
        .map(|t| t.join().expect("thread panicked"))
        .collect();
    per_call.iter().sum::<f64>() / per_call.len() as f64
}

/// Over [`ROUNDS`] rounds of `op`: per-task averages pooled, the median round's wall time per
/// call; and medians of a few runs alone and on two threads at once.
struct Warm {
    per_task: Vec<f64>,
    wall_per_call: f64,
    alone: f64,
    two_threads: f64,
}

fn measure_warm(rt: &Runtime, op: &Op) -> Warm {
    on_runtime(rt, warm_round(op.clone())); // warm-up
    let mut per_task = Vec::with_capacity(ROUNDS * TASKS);
    let mut wall_per_call = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let round = on_runtime(rt, warm_round(op.clone()));
        per_task.extend(round.per_task_ns);
        wall_per_call.push(round.wall_ns_per_call);
    }
    let alone: Vec<f64> = (0..5)
        .map(|_| on_runtime(rt, warm_alone(op.clone())))
        .collect();
    let two: Vec<f64> = (0..5).map(|_| warm_two_threads(rt, op)).collect();
    per_task.sort_by(f64::total_cmp);
    Warm {
        two_threads: median_f64(two),
        per_task,
        wall_per_call: median_f64(wall_per_call),
        alone: median_f64(alone),
    }
}

// ---------------------------------------------------------------------------
// Statistics and report
// ---------------------------------------------------------------------------

fn pick<T: Copy>(sorted: &[T], p: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    pick(&v, 0.5)
}

fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}

fn fmt_ns(ns: f64) -> String {
    if ns.abs() >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns.abs() >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn nanos(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let count = Arc::new(AtomicU64::new(0));
    let addr = start_endpoint(&rt, Arc::clone(&count));
    let url = format!("http://{addr}");

    // Warm-up: one full cold round, not counted (first connections, allocator, code paths).
    on_runtime(&rt, cold_round(fresh_cache(&url)));
    on_runtime(&rt, lone_cold(fresh_cache(&url)));

    // Lone cold calls.
    let mut lone = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let before = count.load(Ordering::SeqCst);
        lone.push(nanos(on_runtime(&rt, lone_cold(fresh_cache(&url)))));
        assert_eq!(count.load(Ordering::SeqCst) - before, 1);
    }
    let lone_median = median_f64(lone.clone());

    // 1,000 tasks on a cold cache.
    let mut requests = Vec::with_capacity(ROUNDS);
    let (mut p50s, mut p99s, mut maxes, mut mins, mut spans) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut warm_auth = None;
    for _ in 0..ROUNDS {
        let auth = fresh_cache(&url);
        let before = count.load(Ordering::SeqCst);
        let round = on_runtime(&rt, cold_round(auth.clone()));
        requests.push(count.load(Ordering::SeqCst) - before);
        let l = &round.latencies;
        mins.push(nanos(l[0]));
        p50s.push(nanos(pick(l, 0.50)));
        p99s.push(nanos(pick(l, 0.99)));
        maxes.push(nanos(l[l.len() - 1]));
        spans.push(nanos(round.span));
        warm_auth = Some(auth);
    }
    let auth = warm_auth.expect("at least one round");

    // Warm path, and the Token::clone() part of it for reference.
    let before_warm = count.load(Ordering::SeqCst);
    let held = Arc::new(on_runtime(&rt, {
        let auth = auth.clone();
        async move { auth.token().await.expect("token") }
    }));
    let warm = measure_warm(&rt, &Op::Cache(auth));
    let clone_only = measure_warm(&rt, &Op::CloneOnly(held));
    let warm_requests = count.load(Ordering::SeqCst) - before_warm;

    // Report.
    let delay = nanos(ENDPOINT_DELAY);
    let all_one = requests.iter().all(|&n| n == 1);
    println!();
    print_machine();
    println!();
    println!(
        "Token cache, cold: {TASKS} tasks call `token()` at once on a fresh cache; endpoint delay {} ms; medians of {ROUNDS} rounds:",
        ENDPOINT_DELAY.as_millis()
    );
    println!();
    println!("| measurement | value | minus the endpoint's delay | minus the lone cold call |");
    println!("|---|---|---|---|");
    println!(
        "| token requests per round | {} in every round{} | | |",
        requests.iter().max().expect("rounds"),
        if all_one {
            String::new()
        } else {
            format!(
                " **NOT 1 in every round: min {}, max {}**",
                requests.iter().min().expect("rounds"),
                requests.iter().max().expect("rounds")
            )
        }
    );
    println!(
        "| lone cold call (1 task), latency | {} | {} | |",
        ms(lone_median),
        ms(lone_median - delay)
    );
    for (label, v) in [
        ("min", median_f64(mins)),
        ("p50", median_f64(p50s)),
        ("p99", median_f64(p99s)),
        ("max", median_f64(maxes)),
    ] {
        println!(
            "| {TASKS} tasks, per-task latency {label} | {} | {} | {:+.2} ms |",
            ms(v),
            ms(v - delay),
            (v - lone_median) / 1e6
        );
    }
    let span = median_f64(spans);
    println!(
        "| {TASKS} tasks, first call to last answer | {} | {} | {:+.2} ms |",
        ms(span),
        ms(span - delay),
        (span - lone_median) / 1e6
    );
    println!();
    println!(
        "Token cache, warm: time per call ({ROUNDS} rounds of {TASKS} tasks × {WARM_CALLS} calls; 5 runs of the others, median):"
    );
    println!();
    println!("| measurement | `token()` | `Token::clone()` only |");
    println!("|---|---|---|");
    let calls = TASKS * WARM_CALLS;
    let rows = [
        (
            format!("{TASKS} tasks × {WARM_CALLS} calls, per-task average, p50"),
            [&warm, &clone_only].map(|w| pick(&w.per_task, 0.50)),
        ),
        (
            format!("{TASKS} tasks × {WARM_CALLS} calls, per-task average, p99"),
            [&warm, &clone_only].map(|w| pick(&w.per_task, 0.99)),
        ),
        (
            format!(
                "{TASKS} tasks × {WARM_CALLS} calls, (last answer − first call) / calls, median round"
            ),
            [&warm, &clone_only].map(|w| w.wall_per_call),
        ),
        (
            format!("1 task alone, {calls} calls"),
            [&warm, &clone_only].map(|w| w.alone),
        ),
        (
            format!("2 threads × {calls} calls at once (both cores calling)"),
            [&warm, &clone_only].map(|w| w.two_threads),
        ),
    ];
    for (label, [cache, clone]) in rows {
        println!("| {label} | {} | {} |", fmt_ns(cache), fmt_ns(clone));
    }
    println!();
    println!("Token requests during the warm path: {warm_requests}.");
    println!();
}
