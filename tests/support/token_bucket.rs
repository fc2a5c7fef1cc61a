//! A throttled API on 127.0.0.1 (in-process hyper, real time): one token bucket of `rate`
//! requests per second holding `burst`, full at the start, as in `benches/throttled.rs`. A
//! request that finds a whole token takes it and gets `200 {"ok":true}`; any other gets `429`.
//! Every answer carries
//!
//! ```text
//! RateLimit-Policy: "default";q=<rate>;w=1
//! RateLimit: "default";r=<floor(tokens)>;t=<seconds until a token, rounded down>
//! X-RateLimit-Limit: <rate>
//! X-RateLimit-Remaining: <floor(tokens)>
//! ```
//!
//! and a 429 also `Retry-After: <seconds until a token, rounded up, at least 1>`. The server
//! logs every arrival (when, and whether it was answered 200 or 429): tests judge what reached
//! it from its own log.
#![allow(dead_code)]

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Request, Response, StatusCode,
    body::Incoming,
    header::{CONTENT_TYPE, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;

/// One request as the server saw it.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub at: Instant,
    pub ok: bool,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct State {
    /// The first request's answer waits this long (a slow first contact).
    first_delay: std::time::Duration,
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
    log: Mutex<Vec<Arrival>>,
}

/// The running server; stopped when dropped.
pub struct TokenBucketServer {
    addr: SocketAddr,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

impl TokenBucketServer {
    /// Starts a server with a full bucket on the current tokio runtime.
    pub async fn start(rate: u32, burst: u32) -> Self {
        Self::start_with_first_delay(rate, burst, std::time::Duration::ZERO).await
    }

    /// The same, answering its first request only after `delay` (the others at once).
    pub async fn start_with_first_delay(rate: u32, burst: u32, delay: std::time::Duration) -> Self {
        let state = Arc::new(State {
            first_delay: delay,
            rate: f64::from(rate),
            burst: f64::from(burst),
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst),
                last: Instant::now(),
            }),
            log: Mutex::new(Vec::with_capacity(4096)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let served = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |_req: Request<Incoming>| {
                        let (response, first) = state.admit();
                        let delay = if first {
                            state.first_delay
                        } else {
                            std::time::Duration::ZERO
                        };
                        async move {
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            state,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>/v1/`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/", self.addr)
    }

    /// Every arrival so far, in order.
    pub fn log(&self) -> Vec<Arrival> {
        self.state.log.lock().unwrap().clone()
    }

    /// Refills the bucket (full) and forgets the log: a fresh server for the next run.
    pub fn reset(&self) {
        let mut bucket = self.state.bucket.lock().unwrap();
        bucket.tokens = self.state.burst;
        bucket.last = Instant::now();
        self.state.log.lock().unwrap().clear();
    }
}

impl Drop for TokenBucketServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl State {
    /// Refills, takes a token if there is a whole one, logs, and answers; `true` for the
    /// first request since the start (or the last reset).
    fn admit(&self) -> (Response<Full<Bytes>>, bool) {
        let (ok, left, wait, first) = {
            let mut b = self.bucket.lock().unwrap();
            let now = Instant::now();
            let refill = now.duration_since(b.last).as_secs_f64() * self.rate;
            b.tokens = (b.tokens + refill).min(self.burst);
            b.last = now;
            let ok = b.tokens >= 1.0;
            if ok {
                b.tokens -= 1.0;
            }
            let wait = if b.tokens >= 1.0 {
                0.0
            } else {
                (1.0 - b.tokens) / self.rate
            };
            // Logged under the bucket's lock: the log's order is the order of admission.
            let mut log = self.log.lock().unwrap();
            log.push(Arrival { at: now, ok });
            (ok, b.tokens, wait, log.len() == 1)
        };
        let remaining = left.floor() as u64;
        let mut response = if ok {
            Response::new(Full::new(Bytes::from_static(br#"{"ok":true}"#)))
        } else {
            let mut r = Response::new(Full::new(Bytes::from_static(
                br#"{"error":"rate limited"}"#,
            )));
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            let retry_after = (wait.ceil() as u64).max(1);
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            r
        };
        let rate = self.rate as u64;
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            "ratelimit-policy",
            HeaderValue::from_str(&format!("\"default\";q={rate};w=1")).unwrap(),
        );
        h.insert(
            "ratelimit",
            HeaderValue::from_str(&format!(
                "\"default\";r={remaining};t={}",
                wait.floor() as u64
            ))
            .unwrap(),
        );
        h.insert("x-ratelimit-limit", HeaderValue::from(rate));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        (response, first)
    }
}
