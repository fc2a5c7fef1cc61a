//! The cost of shared pacing: one Redis round trip per request (the reservation's Lua
//! script), against pacing at the local gate alone.
//!
//! ```text
//! cargo bench -p authed-benches --features fleet --bench fleet
//! ```
//!
//! One `GET /v1/items` at a time against a local HTTP/1.1 keep-alive server (hyper, in
//! process, `127.0.0.1:0`) that announces a quota it never enforces
//! (`RateLimit-Policy: "default";q=1000000;w=1`, `RateLimit: "default";r=999999;t=0`), so that
//! every gate is active (it tracks the limits on every answer) and nobody ever waits. Rows:
//!
//! * `local_pacing`: `authed::Client::builder(url).build()`, pacing at its local gate;
//! * `shared_pacing`: the same with `.shared_pacing(fleet.pacing())`: each request also
//!   reserves its departure in Redis (one `EVALSHA`; nothing is published, the headers say
//!   nothing new after the first answer);
//! * `redis_ping`: `Fleet::is_reachable()` alone, one `PING` through the fleet's bounded call:
//!   what a Redis round trip costs here.
//!
//! Redis is a `redis-server` started by the bench (`REDIS_SERVER`, or `redis-server` on the
//! `PATH` or in `/usr/sbin`; Debian: `apt-get install redis-server`) on a loopback port, with
//! no persistence, killed at the end. As in `overhead.rs`, one multi-thread tokio runtime with
//! 2 workers runs the client and the API server, and each timed loop runs in one task on it;
//! redis-server is a third process on the same two cores.

#[path = "machine.rs"]
mod machine;

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use http_body_util::Full;
use hyper::{
    Request, Response,
    body::Incoming,
    header::{CONTENT_TYPE, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;

const GROUP: &str = "fleet_sequential";
const ROWS: [&str; 3] = ["local_pacing", "shared_pacing", "redis_ping"];
const BODY: &[u8] = br#"{"ok":true}"#;

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
                    let service = service_fn(|_req: Request<Incoming>| async {
                        let mut r = Response::new(Full::new(Bytes::from_static(BODY)));
                        let h = r.headers_mut();
                        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        h.insert(
                            "ratelimit-policy",
                            HeaderValue::from_static("\"default\";q=1000000;w=1"),
                        );
                        h.insert(
                            "ratelimit",
                            HeaderValue::from_static("\"default\";r=999999;t=0"),
                        );
                        Ok::<_, Infallible>(r)
                    });
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

/// A `redis-server` on a loopback port, killed when dropped.
struct Redis {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let binary = std::env::var_os("REDIS_SERVER")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .chain([PathBuf::from("/usr/sbin")])
                        .map(|dir| dir.join("redis-server"))
                        .find(|p| p.is_file())
                })
            })
            .expect(
                "the fleet bench needs redis-server: install it (Debian: `apt-get install \
                 redis-server`), or set REDIS_SERVER to its path",
            );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("authed-bench-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for redis-server");
        let child = Command::new(&binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, dir, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fetch(client: &authed::Client) {
    let response = client.get("items").send().await.expect("request");
    let body = response.bytes().await.expect("body");
    assert_eq!(&body[..], BODY);
}

fn bench_client(c: &mut Criterion, rt: &Runtime, name: &str, client: authed::Client) {
    let client = Arc::new(client);
    // Warm: a live connection, a contacted origin, a known policy (and in Redis).
    rt.block_on(async {
        for _ in 0..50 {
            fetch(&client).await;
        }
    });
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let client = Arc::clone(&client);
            let rounds = rt.spawn(async move {
                let started = Instant::now();
                for _ in 0..iters {
                    fetch(&client).await;
                }
                started.elapsed()
            });
            async move { rounds.await.expect("benchmark task panicked") }
        })
    });
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = start_server(&rt);
    let redis = Redis::start();
    let fleet = authed::fleet::Fleet::new(redis.url()).expect("a Redis URL");
    let base = format!("http://{addr}/v1/");

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(10))
        .sample_size(100)
        .configure_from_args();

    let local = authed::Client::builder(&base).build().expect("client");
    bench_client(&mut c, &rt, ROWS[0], local);
    let shared = authed::Client::builder(&base)
        .shared_pacing(fleet.pacing())
        .build()
        .expect("client");
    bench_client(&mut c, &rt, ROWS[1], shared);
    {
        let fleet = fleet.clone();
        assert!(
            rt.block_on(fleet.is_reachable()),
            "the bench's redis-server answers"
        );
        let mut group = c.benchmark_group(GROUP);
        group.throughput(Throughput::Elements(1));
        group.bench_function(ROWS[2], |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let fleet = fleet.clone();
                let rounds = rt.spawn(async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        assert!(fleet.is_reachable().await);
                    }
                    started.elapsed()
                });
                async move { rounds.await.expect("benchmark task panicked") }
            })
        });
        group.finish();
    }
    assert!(
        !fleet.is_degraded(),
        "Redis failed during the bench: the shared row paced alone"
    );
    c.final_summary();
    print_summary(started);
    drop(redis);
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("criterion")
}

/// Median and its 95% confidence interval in nanoseconds, if this run wrote the estimate.
fn median(dir: &Path, id: &str, started: SystemTime) -> Option<[f64; 3]> {
    let path = dir.join(GROUP).join(id).join("new").join("estimates.json");
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

fn print_summary(started: SystemTime) {
    let dir = criterion_dir();
    let rows: Vec<_> = ROWS
        .iter()
        .map(|id| (*id, median(&dir, id, started)))
        .collect();
    let us = |ns: f64| format!("{:.2} µs", ns / 1000.0);
    println!();
    machine::print_machine();
    println!();
    println!("Sequential requests, median time per request (criterion 95 % CI in brackets):");
    println!();
    println!("| row | per request | vs local_pacing |");
    println!("|---|---|---|");
    let base = rows[0].1.map(|[m, ..]| m);
    for (id, est) in &rows {
        let cell = est.map_or_else(
            || "–".to_owned(),
            |[m, lo, hi]| format!("{} [{} – {}]", us(m), us(lo), us(hi)),
        );
        let rel = match (est, base) {
            (Some([m, ..]), Some(b)) if *id == "shared_pacing" => {
                format!("{:+.2} µs ({:.2}×)", (m - b) / 1000.0, m / b)
            }
            _ => "–".to_owned(),
        };
        println!("| {id} | {cell} | {rel} |");
    }
    println!();
}
