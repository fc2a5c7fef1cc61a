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
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `oauth2` | yes | [`oauth2`] and [`store::CredentialTokenStore`] (sha2, subtle) |
//! | `keyring` | yes | [`store::KeyringStore`]: the OS keyring (zbus on Linux: about 80 crates) |
//! | `file-store` | no | [`store::FileStore`] and `KeyringStore::insecure_file_fallback`: secrets as plain text in a 0600 file, insecure storage that you choose on purpose (no dependency) |
//! | `http2`, `rustls` | yes | HTTP/2 and TLS by rustls in the underlying reqwest client |
//! | `native-tls` | no | TLS by the platform's library instead (with neither, only `http://`) |
//! | `system-proxy`, `gzip`, `brotli`, `zstd` | no | the same features of reqwest: the system's proxy settings, response decompression |
//! | `reqwest-middleware` | no | `authed::middleware`: the authentication and throttling stages as `reqwest-middleware` middleware |
//! | `redis` | no | `authed::fleet`: processes on many machines share one API quota and one token through Redis |
//!
//! With none of them (`default-features = false`), authed sends API keys, Basic and bearer
//! credentials, keeps secrets in a [`store::MemoryStore`] or a store of your own, and builds
//! about half the crates of the defaults.
//!
//! # Choosing a credential store
//!
//! A [`store::CredentialStore`] keeps named secrets (an API key, a serialised token set)
//! between runs. There are three, and none is chosen behind your back:
//!
//! | store | keeps secrets | use it for |
//! | --- | --- | --- |
//! | [`store::MemoryStore`] | until the process exits | tests, short-lived programs |
//! | [`store::KeyringStore`] | in the OS keyring | desktops and laptops: the default choice |
//! | [`store::FileStore`] | in a file of the user's, mode 0600 | headless machines, when you choose it (feature `file-store`) |
//!
//! [`KeyringStore::new`](store::KeyringStore::new) picks its backend on first use with a
//! write/read/delete probe: the macOS Keychain, Windows Credential Manager, and on Linux the
//! Secret Service (gnome-keyring, KWallet) and then the **kernel keyring**. The kernel keyring
//! keeps secrets in kernel memory: they are **lost at reboot** (and non-root users have a
//! small quota). [`KeyringStore::secret_service`](store::KeyringStore::secret_service) and
//! [`KeyringStore::kernel`](store::KeyringStore::kernel) use one backend, without a probe.
//!
//! [`status()`](store::CredentialStore::status) says what a store does with what it is given:
//! its `backend` in words (`"memory"`, `"Secret Service"`, `"kernel keyring"`,
//! `"file /home/ada/.config/my-app/credentials.json"`) and its
//! [`Persistence`](store::Persistence): `Process`, `UntilReboot` (the kernel keyring) or
//! `Persistent`. `status()` does not probe: before a keyring's first call it reports
//! `"keyring (not probed yet)"`, after a failed probe `"keyring (none available)"`.
//!
//! On **headless Linux** (a server, a container, an SSH session, CI) there is usually no
//! Secret Service on D-Bus, so the keyring falls to the kernel keyring, and where `keyctl` is
//! blocked (many containers) no backend works and every call fails with [`Error::Store`],
//! naming the fix. Then either give the secret from where operations keep it
//! ([`Secret::from_env`], [`Secret::from_file`], [`Secret::from_command`]), or opt in to a
//! [`store::FileStore`] explicitly, as `gh auth login --insecure-storage` does: anything that
//! runs as the same user can read that file.
//!
#![cfg_attr(all(feature = "keyring", feature = "file-store"), doc = "```no_run")]
#![cfg_attr(
    not(all(feature = "keyring", feature = "file-store")),
    doc = "```ignore"
)]
//! use std::sync::Arc;
//!
//! use authed::store::{CredentialStore, FileStore, KeyringStore, Persistence};
//!
//! async fn choose_store(insecure_storage: bool) -> authed::Result<Arc<dyn CredentialStore>> {
//!     let keyring = KeyringStore::new("my-app");
//!     // The first call probes the backends; `status()` then names the one chosen.
//!     match keyring.get("api-key").await {
//!         Ok(_) => {
//!             let status = keyring.status();
//!             if status.persistence == Persistence::UntilReboot {
//!                 eprintln!("note: the {} forgets secrets at reboot", status.backend);
//!             }
//!             Ok(Arc::new(keyring))
//!         }
//!         // No keyring at all (a container): a file, only because the user asked for it.
//!         Err(e) if insecure_storage => {
//!             eprintln!("{e}; keeping secrets in a file instead");
//!             Ok(Arc::new(FileStore::for_app("my-app")?))
//!         }
//!         Err(e) => Err(e),
//!     }
//! }
//! ```
//!
//! # Persisting a login
//!
//! An interactive login (authorization code, device) should happen once, not at every run.
//! Give the token cache ([`oauth2::TokenAuth`]) a [`store::CredentialTokenStore`] over a
//! [`store::KeyringStore`]: the cache loads the stored token set on first use, refreshes it
//! when it is near expiry, and writes every new token set (a rotated refresh token included)
//! to the store before using it. A second run finds the session there and needs no login.
//! When there is no session (first run, logged out, or the refresh token was refused),
//! [`TokenAuth::token`](oauth2::TokenAuth::token) returns [`Error::ReauthRequired`]: log in,
//! and hand the new token set to [`TokenAuth::set_token`](oauth2::TokenAuth::set_token), which
//! stores it and starts using it.
//!
#![cfg_attr(all(feature = "oauth2", feature = "keyring"), doc = "```no_run")]
#![cfg_attr(not(all(feature = "oauth2", feature = "keyring")), doc = "```ignore")]
//! use authed::{
//!     Client,
//!     oauth2::{DeviceAuthorization, OAuthClient, RefreshToken},
//!     store::{CredentialTokenStore, KeyringStore},
//! };
//!
//! #[tokio::main]
//! async fn main() -> authed::Result<()> {
//!     let client = OAuthClient::new("https://auth.example.com/token", "my-cli"); // public
//!     // One entry per server and client id: "my-cli" in the keyring, named after both.
//!     let session = CredentialTokenStore::new(
//!         KeyringStore::new("my-cli"),
//!         "https://auth.example.com my-cli",
//!     );
//!     let auth = RefreshToken::new(client.clone()).into_auth().store(session);
//!
//!     match auth.token().await {
//!         Ok(_) => {} // a stored session, refreshed if it had to be: no login
//!         Err(e) if e.is_reauth_required() => {
//!             let device = DeviceAuthorization::new(client, "https://auth.example.com/device")
//!                 .scopes(["openid", "offline_access"]); // offline_access: a refresh token
//!             let token = device
//!                 .login(|code| {
//!                     println!("open {} and enter {}", code.verification_uri, code.user_code)
//!                 })
//!                 .await?;
//!             auth.set_token(token).await?; // in the keyring before it is used
//!         }
//!         Err(e) => return Err(e),
//!     }
//!
//!     let api = Client::builder("https://api.example.com/").auth(auth).build()?;
//!     let me: serde_json::Value = api.get("me").send().await?.json().await?;
//!     println!("{me}");
//!     Ok(())
//! }
//! ```
//!
//! Two runs sharing the session (a CLI in two terminals) refresh it once between them: the
//! store takes a lock per session across processes (see [`store::CredentialTokenStore`]).
//! The replicas of a service on many machines share one token set through Redis, encrypted,
//! with `fleet::RedisTokenStore` (feature `redis`).
//! [`TokenAuth::logout`](oauth2::TokenAuth::logout) revokes the tokens and deletes the entry.
//!
// Built without a feature, the links to its items lead to the table of features.
#![cfg_attr(
    not(feature = "file-store"),
    doc = "[`store::FileStore`]: crate#cargo-features"
)]
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod auth;
pub mod client;
pub mod error;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod fleet;
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub mod middleware;
#[cfg(feature = "oauth2")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth2")))]
pub mod oauth2;
pub mod path;
pub mod ratelimit;
pub mod redact;
pub mod retry;
mod secret;
pub mod store;

pub use audit::{AuditEvent, WaitEvent};
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

/// The README's Rust examples, compiled by `cargo test --doc` (two of them use OAuth).
#[cfg(all(doctest, feature = "oauth2"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// The client must stay shareable across tasks.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Client>();
};
