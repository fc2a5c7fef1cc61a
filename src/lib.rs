//! # authed
//!
//! A typed async client for other people's authenticated HTTP APIs, on reqwest and tokio,
//! that keeps its secrets secret.
//!
//! ```no_run
//! use authed::{Client, Secret, auth::{ApiKey, Bearer}};
//!
//! #[derive(serde::Deserialize)]
//! struct Item { id: u64, name: String }
//!
//! # async fn run() -> authed::Result<()> {
//! let api = Client::builder("https://api.example.com/v1/")      // paths join under /v1/
//!     .auth(ApiKey::header("X-API-Key", Secret::from_env("EXAMPLE_KEY")?))
//!     .auth(Bearer::new(Secret::from_env("EXAMPLE_TOKEN")?))    // both go on every request
//!     .build()?;                                                // config errors surface here
//!
//! let id = "42";
//! let item: Item = api.get(&authed::path!("items/{}", id)).send().await?.json().await?;
//!
//! match api.get("items/nope").send().await {
//!     Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) => { /* typed, redacted */ }
//!     other => { other?; }
//! }
//! # Ok(()) }
//! ```
//!
//! What the crate promises:
//!
//! - **One send pipeline** ([`client`]): each attempt is paced, authenticated, sent and
//!   classified in named phases, with open policies for retries ([`retry`]), redirects
//!   ([`redirect`]) and rate-limit pacing ([`ratelimit`]), so every request follows the same
//!   rules, token requests included. The same stages work in a `reqwest-middleware` stack
//!   (`middleware`, behind the `reqwest-middleware` feature).
//! - **Credentials go only where they belong** ([`auth`]): to the base URL's origin and the
//!   origins you allow; never across a redirect to another origin, never over plain http to a
//!   host that is not loopback unless you opt in.
//! - **Secrets stay secret** ([`Secret`], [`redact`]): `Debug`, `Display`, errors, the audit
//!   trail ([`audit`]) and `tracing` output show `[redacted]`.
//! - **Typed everything**: [`Endpoint`] for typed calls, [`path!`] for path parameters that
//!   cannot change the path ([`mod@path`]), one [`Error`] with the status, redacted URL, body
//!   excerpt and request id.
//! - **Tokens that look after themselves** ([`oauth2`]): client credentials, authorization
//!   code + PKCE, device, refresh, custom logins; refreshed ahead of expiry and after a 401,
//!   one request in flight, kept in a [`store`] between runs.
//!
//! Run `cargo run --example tour` for a walk through all of it against a local server.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod auth;
pub mod client;
pub mod error;
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub mod middleware;
pub mod oauth2;
pub mod path;
pub mod ratelimit;
pub mod redact;
pub mod retry;
mod secret;
pub mod store;

pub use audit::AuditEvent;
pub use client::{Client, ClientBuilder, Endpoint, Pages, RequestBuilder, Response};
/// Redirect policies ([`redirect::Policy`]), in the shape of `reqwest::redirect`.
pub mod redirect {
    pub use crate::client::redirect::{Action, Attempt, DEFAULT_MAX_REDIRECTS, Policy};
}
pub use error::{Error, Result};
pub use ratelimit::RateLimitState;
pub use retry::{RetryClass, RetryPolicy};
pub use secret::{MAX_SECRET_FILE, Secret};

/// Re-exported so that implementing [`auth::Authenticate`], [`oauth2::TokenStore`] or
/// [`store::CredentialStore`] needs no `async-trait` dependency of your own:
/// `#[authed::async_trait]` on the `impl`.
pub use async_trait::async_trait;
pub use http;
/// Re-exported: reqwest types appear in the API ([`ClientBuilder::reqwest_client`],
/// [`RequestBuilder::body_stream`], transport error sources).
pub use reqwest;
/// Re-exported so that reading a [`Secret`] needs no `secrecy` dependency of your own.
pub use secrecy::ExposeSecret;
pub use url;

/// The README's Rust examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// The client must stay shareable across tasks.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Client>();
};
