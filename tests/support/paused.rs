//! Clients for tests on tokio's paused clock (`#[tokio::test(start_paused = true)]`).
//!
//! A paused clock jumps straight to the next timer when every task is idle, so a client under
//! test must have no timers but the ones being tested: no per-attempt timeout, no connection
//! pool idle timer. Then a retry wait of 2 s is exactly 2 s of virtual time, taken at once.
//!
//! ```ignore
//! #[path = "support/paused.rs"]
//! mod paused;
//!
//! let client = paused::client(server.url(), paused::exact());
//! ```
#![allow(dead_code)]

use std::time::Duration;

use authed::{Client, ClientBuilder, RetryPolicy};

/// Backoff of exactly 1 ms and no jitter, so that the wait a test sees is the server's delay.
pub fn exact() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(1))
        .jitter(0.0)
}

/// The reqwest client authed expects (no redirects or retries of its own) without the pool's
/// idle timer, for tests to finish with more settings of their own.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .pool_idle_timeout(None)
}

/// A client builder on `base` over [`reqwest_builder`], with no per-attempt timeout.
pub fn builder(base: impl AsRef<str>) -> ClientBuilder {
    Client::builder(base)
        .reqwest_client(reqwest_builder().build().expect("reqwest client builds"))
        .no_timeout()
}

/// A client on `base` whose only timers are `policy`'s waits.
pub fn client(base: impl AsRef<str>, policy: RetryPolicy) -> Client {
    builder(base).retry(policy).build().expect("client builds")
}
