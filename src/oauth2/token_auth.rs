//! [`TokenAuth`], the token cache behind every grant's `into_auth()`, and the two traits it
//! is built on: [`TokenSource`] (where tokens come from) and [`TokenStore`] (where they are
//! kept between runs: [`MemoryTokenStore`] here, and the `store` module's `CredentialTokenStore`
//! for a keyring or a file).
//!
//! - A token is refreshed ahead of its expiry, by `skew` (default
//!   [`DEFAULT_REFRESH_SKEW`]), or by half its lifetime when it lives shorter than that, so a
//!   token that lives two seconds is not refreshed on every request.
//! - **Single flight**: however many tasks need a token at once, one token request is made;
//!   the others wait for its result. It runs on a task of its own, so a caller that gives up
//!   (a cancelled request) does not strand the others. A failure reaches every waiter and is
//!   not remembered: the next call tries again.
//! - A failed refresh *ahead* of expiry keeps serving the token that is still valid (and
//!   waits [`RETRY_EARLY_REFRESH_AFTER`] before trying again); only an expired or rejected
//!   token makes the failure visible.
//! - A 401 on a request that carried the cached token marks it stale and refreshes once; a
//!   401 on a request that carried an older token (another task already refreshed) just
//!   replays with the new one.
//! - Every new token set is written to the [`TokenStore`] before it is used, so a rotated
//!   refresh token is never lost; `invalid_grant` on refresh clears the store and returns
//!   [`Error::ReauthRequired`].

use std::{
    borrow::Cow,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use http::{HeaderValue, header::AUTHORIZATION};
use secrecy::ExposeSecret;
use tokio::{sync::watch, time::Instant};

use crate::{
    auth::{Answered, AuthRequest, Authenticate, Unauthorized},
    error::{Error, Result, StoreErrorKind},
    oauth2::{
        dpop::{self, DpopKey, Nonces},
        token::Token,
    },
    redact::Additions,
};

/// Refresh this long before the token expires: a request that starts with a token about to
/// expire may still be in flight when it does, and clocks drift. A minute is what most SDKs
/// use (yup-oauth2, Azure); short-lived tokens use half their lifetime instead.
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(60);

/// After a failed refresh ahead of expiry, wait this long before trying again (the current
/// token keeps being served meanwhile), so that a down authorization server is not asked on
/// every request.
pub const RETRY_EARLY_REFRESH_AFTER: Duration = Duration::from_secs(5);

/// Where token sets come from: a grant (client credentials, refresh, ...) or your own code.
#[async_trait]
pub trait TokenSource: fmt::Debug + Send + Sync {
    /// A new token set. `current` is the one in use (possibly expired), to refresh from.
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] when the session cannot be renewed (the cache then forgets
    /// it); anything else is passed to the waiting requests.
    async fn fetch(&self, current: Option<&Token>) -> Result<Token>;

    /// A label for the audit trail.
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("oauth2")
    }

    /// Checks the configuration (called when a client is built).
    ///
    /// # Errors
    ///
    /// [`Error::Config`].
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// Where token sets are kept between runs.
#[async_trait]
pub trait TokenStore: fmt::Debug + Send + Sync {
    /// The stored token set, if any.
    ///
    /// # Errors
    ///
    /// The store could not be read (a corrupted record is an error, not `None`).
    async fn load(&self) -> Result<Option<Token>>;
    /// Replaces the stored token set.
    ///
    /// # Errors
    ///
    /// The store could not be written.
    async fn save(&self, token: &Token) -> Result<()>;
    /// Forgets the stored token set.
    ///
    /// # Errors
    ///
    /// The store could not be written.
    async fn clear(&self) -> Result<()>;

    /// Serialises refreshes of this token set across processes: the cache holds the returned
    /// guard while it re-reads the store, refreshes if still needed, and writes. The default
    /// (`None`) is right for a store no other process sees.
    ///
    /// # Errors
    ///
    /// The lock could not be taken (the cache then refreshes without it, and says so).
    async fn lock(&self) -> Result<Option<TokenStoreLock>> {
        Ok(None)
    }
}

/// A held cross-process lock; dropping it releases the lock.
pub struct TokenStoreLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl TokenStoreLock {
    /// Wraps whatever holds the lock (a locked file, say).
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Self(Box::new(guard))
    }
}

impl fmt::Debug for TokenStoreLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenStoreLock")
    }
}

fn _object_safe(_: Box<dyn TokenSource>, _: Box<dyn TokenStore>) {}

/// A shared store: keep an `Arc` to read what the cache wrote.
#[async_trait]
impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    async fn load(&self) -> Result<Option<Token>> {
        (**self).load().await
    }
    async fn save(&self, token: &Token) -> Result<()> {
        (**self).save(token).await
    }
    async fn clear(&self) -> Result<()> {
        (**self).clear().await
    }
    async fn lock(&self) -> Result<Option<TokenStoreLock>> {
        (**self).lock().await
    }
}

/// Keeps the token set in memory only (the default).
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    token: Mutex<Option<Token>>,
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<Token>> {
        Ok(self.token.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
    async fn save(&self, token: &Token) -> Result<()> {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        Ok(())
    }
    async fn clear(&self) -> Result<()> {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

/// An [`Authenticate`] scheme that sends `Authorization: Bearer <access token>` from a
/// [`TokenSource`], cached and renewed:
///
/// - refreshed ahead of expiry by the skew ([`DEFAULT_REFRESH_SKEW`]), or at half the
///   lifetime of a token that lives shorter than that;
/// - one token request in flight however many tasks wait (it runs on a task of its own, so a
///   cancelled caller does not strand the others); a failure reaches every waiter and is not
///   remembered;
/// - a failed refresh ahead of expiry keeps serving the still-valid token, and waits
///   [`RETRY_EARLY_REFRESH_AFTER`] before trying again;
/// - a 401 on a request that carried the cached token refreshes once and replays once;
/// - every new token set is written to the [`TokenStore`] before it is used (under the
///   store's cross-process lock, re-reading it first); if that write fails, the token set is
///   kept in memory and the call that fetched it returns [`Error::Store`] saying so (later
///   calls use it); `invalid_grant` clears the store and returns [`Error::ReauthRequired`].
///
/// Cheap to clone; clones share the cache.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
///
/// use authed::{Client, Secret, oauth2::ClientCredentials};
///
/// async fn example() -> authed::Result<()> {
///     let secret = Secret::from_env("CLIENT_SECRET")?;
///     let auth = ClientCredentials::new("https://auth.example.com/token", "my-service", secret)
///         .into_auth() // a TokenAuth
///         .refresh_skew(Duration::from_secs(120)); // renew two minutes before expiry
///
///     // Every clone shares one cache: two clients, one token, one refresh at a time.
///     let orders = Client::builder("https://orders.example.com/").auth(auth.clone()).build()?;
///     let billing = Client::builder("https://billing.example.com/").auth(auth.clone()).build()?;
///     let (a, b) = tokio::join!(orders.get("open").send(), billing.get("due").send());
///     let _ = (a?, b?);
///
///     // The token itself, fetched or refreshed if needed (for a header of your own).
///     let token = auth.token().await?;
///     println!("expires at {:?}, scope {:?}", token.expires_at(), token.scope());
///     Ok(())
/// }
/// ```
///
/// To keep a session between runs, see [`TokenAuth::store`] and the crate docs'
/// [Persisting a login](crate#persisting-a-login).
#[derive(Clone)]
pub struct TokenAuth {
    shared: Arc<Shared>,
}

struct Shared {
    source: Arc<dyn TokenSource>,
    store: Arc<dyn TokenStore>,
    skew: Duration,
    /// [`TokenAuth::refresh_in_background`].
    background: bool,
    state: Mutex<State>,
    /// The latest `DPoP-Nonce` of each resource server (RFC 9449 §9).
    dpop_nonces: Nonces,
}

#[derive(Default)]
struct State {
    current: Option<Arc<Entry>>,
    /// The store has been consulted.
    loaded: bool,
    /// A 401 said the current token is no good.
    stale: bool,
    /// [`TokenAuth::forget`] (or `logout`) ended the session; a new token has not come since.
    logged_out: bool,
    flight: Option<watch::Receiver<Option<Result<Arc<Entry>>>>>,
}

/// A token with its header value built once and its deadlines on the (pausable) tokio clock.
struct Entry {
    token: Token,
    header: HeaderValue,
    /// What the token adds to a request's redaction, built once per token.
    additions: Arc<Additions>,
    refresh_at: Option<Instant>,
    /// Until when it may still be served while a refresh runs in the background (half the
    /// skew before expiry), with [`TokenAuth::refresh_in_background`].
    serve_until: Option<Instant>,
    expires_at: Option<Instant>,
    /// A DPoP token's key: every request gets a proof signed with it.
    dpop: Option<DpopKey>,
}

impl Entry {
    fn new(token: Token, skew: Duration) -> Result<Self> {
        // A DPoP token is presented as such, with a proof of its key (never downgraded to
        // Bearer: the server would refuse it, RFC 9449 §7.1).
        let dpop = if token.is_dpop() {
            Some(token.dpop_key().cloned().ok_or_else(|| {
                Error::auth(
                    "the server issued a DPoP-bound token (token_type DPoP) but the token set has no DPoP key: give the OAuth client one with OAuthClient::dpop",
                )
            })?)
        } else {
            None
        };
        let scheme = if dpop.is_some() { "DPoP" } else { "Bearer" };
        // ASCII only, as for a static bearer token (see auth::header_credential).
        let header = crate::auth::header_credential(&format!(
            "{scheme} {}",
            token.access_token().expose_secret()
        ))
        .map_err(|why| Error::auth(format!("the access token from the server {why}")))?;
        let now = Instant::now();
        let wall = SystemTime::now();
        let expires_at = token.expires_at().map(|at| {
            now.checked_add(at.duration_since(wall).unwrap_or(Duration::ZERO))
                .unwrap_or(now)
        });
        let lifetime = token
            .expires_at()
            .and_then(|at| at.duration_since(token.received_at()).ok());
        // A token that lives shorter than the skew is refreshed at half its life, not at once.
        let skew = lifetime.map_or(skew, |l| skew.min(l / 2));
        let refresh_at = expires_at.map(|at| at.checked_sub(skew).unwrap_or(now));
        let serve_until = expires_at.map(|at| at.checked_sub(skew / 2).unwrap_or(now));
        let additions = Additions::header(&AUTHORIZATION, &[token.access_token()]);
        Ok(Self {
            token,
            header,
            additions,
            refresh_at,
            serve_until,
            expires_at,
            dpop,
        })
    }

    fn fresh(&self, now: Instant) -> bool {
        self.refresh_at.is_none_or(|at| now < at)
    }

    /// Still good enough to send while a refresh runs in the background.
    fn servable(&self, now: Instant) -> bool {
        self.serve_until.is_none_or(|at| now < at)
    }

    fn valid(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

impl fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("TokenAuth")
            .field("source", &self.shared.source)
            .field("store", &self.shared.store)
            .field("skew", &self.shared.skew)
            .field("refresh_in_background", &self.shared.background)
            .field("token", &state.current.as_ref().map(|e| &e.token))
            .finish()
    }
}

impl TokenAuth {
    /// A cache over `source`, with a [`MemoryTokenStore`] and [`DEFAULT_REFRESH_SKEW`].
    pub fn new(source: impl TokenSource + 'static) -> Self {
        Self::from_parts(
            Arc::new(source),
            Arc::new(MemoryTokenStore::default()),
            DEFAULT_REFRESH_SKEW,
            false,
        )
    }

    fn from_parts(
        source: Arc<dyn TokenSource>,
        store: Arc<dyn TokenStore>,
        skew: Duration,
        background: bool,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                source,
                store,
                skew,
                background,
                state: Mutex::default(),
                dpop_nonces: Nonces::default(),
            }),
        }
    }

    /// Keeps token sets in `store` (loaded on first use, written before each new one is used).
    /// Call it before the first request.
    #[must_use]
    pub fn store(self, store: impl TokenStore + 'static) -> Self {
        Self::from_parts(
            self.shared.source.clone(),
            Arc::new(store),
            self.shared.skew,
            self.shared.background,
        )
    }

    /// Refreshes this long before expiry (default [`DEFAULT_REFRESH_SKEW`]).
    #[must_use]
    pub fn refresh_skew(self, skew: Duration) -> Self {
        Self::from_parts(
            self.shared.source.clone(),
            self.shared.store.clone(),
            skew,
            self.shared.background,
        )
    }

    /// Refreshes ahead of expiry without holding requests (default off): once a token is due
    /// (the skew before its expiry), requests keep getting it, while one refresh runs on a
    /// task of its own, until half the skew is left; only then, or after a 401, do they wait
    /// for the new one. A slow token endpoint, or a fleet's refresh lock held by a process
    /// that died (`fleet::RedisTokenStore`, feature `redis`), then
    /// costs no request any latency.
    ///
    /// For long-running services. Off by default because a refresh left running when the
    /// program exits is cut short: with a server that rotates refresh tokens, a refresh
    /// that reached the server but was not stored loses the session. A short-lived program
    /// (a CLI, a cron job) should wait for its refresh, as it does by default.
    #[must_use]
    pub fn refresh_in_background(self, background: bool) -> Self {
        Self::from_parts(
            self.shared.source.clone(),
            self.shared.store.clone(),
            self.shared.skew,
            background,
        )
    }

    /// Starts the session with `token` (from an interactive login): writes it to the store,
    /// then uses it.
    ///
    /// # Errors
    ///
    /// The store could not be written (the token is not used then: a refresh token that
    /// cannot be kept would be lost).
    pub async fn set_token(&self, token: Token) -> Result<()> {
        self.shared.store.save(&token).await?;
        let entry = Arc::new(Entry::new(token, self.shared.skew)?);
        let mut state = self.shared.lock();
        state.current = Some(entry);
        state.loaded = true;
        state.stale = false;
        state.logged_out = false;
        Ok(())
    }

    /// The token set held now, without fetching.
    pub(crate) fn current_token(&self) -> Option<Token> {
        self.shared.lock().current.as_ref().map(|e| e.token.clone())
    }

    /// A valid token set, fetched, refreshed or loaded as needed.
    ///
    /// # Errors
    ///
    /// The token request failed, or [`Error::ReauthRequired`].
    pub async fn token(&self) -> Result<Token> {
        Ok(self.entry().await?.token.clone())
    }

    /// Forgets the session: the cache and the store. ([`TokenAuth::logout`] also revokes the
    /// tokens at the server.)
    ///
    /// # Errors
    ///
    /// The store could not be cleared.
    pub async fn forget(&self) -> Result<()> {
        {
            let mut state = self.shared.lock();
            state.current = None;
            state.loaded = true;
            state.logged_out = true;
        }
        self.shared.store.clear().await
    }

    async fn entry(&self) -> Result<Arc<Entry>> {
        let mut rx = {
            let mut state = self.shared.lock();
            if let Some(entry) = &state.current
                && !state.stale
            {
                let now = Instant::now();
                if entry.fresh(now) {
                    return Ok(entry.clone());
                }
                if self.shared.background && entry.servable(now) {
                    // Due but still good: served while one refresh runs on its own task.
                    let entry = entry.clone();
                    if state.flight.is_none() {
                        let _ = self.shared.clone().take_off(&mut state);
                    }
                    return Ok(entry);
                }
            }
            match &state.flight {
                Some(rx) => rx.clone(),
                None => self.shared.clone().take_off(&mut state),
            }
        };
        let result = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::auth("the token request ended without a result"))?;
        result
            .clone()
            .unwrap_or_else(|| Err(Error::auth("no token result")))
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the one token request; returns the channel its result arrives on.
    fn take_off(self: Arc<Self>, state: &mut State) -> watch::Receiver<Option<Result<Arc<Entry>>>> {
        let (tx, rx) = watch::channel(None);
        state.flight = Some(rx.clone());
        let previous = state.current.clone();
        let forced = state.stale;
        let load = !state.loaded;
        state.loaded = true;
        tokio::spawn(async move {
            let result = self.fly(previous, forced, load).await;
            {
                let mut state = self.lock();
                state.flight = None;
                match &result {
                    Ok(entry) => {
                        state.current = Some(entry.clone());
                        state.stale = false;
                    }
                    Err(Error::ReauthRequired { .. }) => state.current = None,
                    Err(_) => {}
                }
            }
            let _ = tx.send(Some(result));
        });
        rx
    }

    async fn fly(
        &self,
        previous: Option<Arc<Entry>>,
        forced: bool,
        load: bool,
    ) -> Result<Arc<Entry>> {
        let mut previous = previous;
        // Another process may share this session: hold its lock while we look and refresh.
        let lock = match self.store.lock().await {
            Ok(lock) => lock,
            Err(e) => {
                tracing::warn!(target: "authed::oauth2", error = %e, "refreshing without the store's lock");
                None
            }
        };
        if load || lock.is_some() {
            match self.store.load().await {
                Ok(Some(token)) => {
                    // A store keeps no ID token validator: the one in memory still applies.
                    let token =
                        token.inherit_id_token_validator(previous.as_ref().map(|e| &e.token));
                    let entry = Arc::new(Entry::new(token, self.skew)?);
                    let rejected =
                        forced && previous.as_ref().is_some_and(|p| p.header == entry.header);
                    if entry.fresh(Instant::now()) && !rejected {
                        // Loaded, or refreshed meanwhile by another process.
                        return Ok(entry);
                    }
                    // The stored set is the newest: its refresh token may have rotated.
                    previous = Some(entry);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(target: "authed::oauth2", error = %e, "the token store could not be read; fetching a new token");
                }
            }
        }
        let current = previous.as_ref().map(|e| &e.token);
        tracing::debug!(target: "authed::oauth2", forced, refresh = current.is_some(), "token request");
        // One span per token request (its HTTP request is a child span): a refresh can be
        // followed in a trace like any call.
        let span = tracing::info_span!(
            target: "authed::oauth2",
            "token refresh",
            grant = %self.source.label(),
            refresh = current.is_some(),
            forced,
        );
        let fetched = tracing::Instrument::instrument(self.source.fetch(current), span).await;
        match fetched {
            Ok(token) => {
                let token = token.inherit_refresh_token(current);
                let entry = Arc::new(Entry::new(token, self.skew)?);
                // Stored before it is used: a rotated refresh token must not be lost.
                if let Err(e) = self.store.save(&entry.token).await {
                    // Not lost: this process keeps using it. But the caller hears about it,
                    // since the next run (or another process) will not find it.
                    tracing::warn!(target: "authed::oauth2", error = %e, "the new token set could not be stored; it is kept in memory");
                    {
                        let mut state = self.lock();
                        state.current = Some(entry);
                        state.stale = false;
                    }
                    return Err(Error::store(
                        StoreErrorKind::Io,
                        format!(
                            "a new token set was received but could not be stored ({e}); it is kept in memory for this process, so this call failed but the next one will use it, and a later run may have to log in again"
                        ),
                    ));
                }
                Ok(entry)
            }
            Err(Error::ReauthRequired { reason, error }) => {
                if let Err(clear) = self.store.clear().await {
                    tracing::warn!(target: "authed::oauth2", error = %clear, "the token store could not be cleared");
                }
                let logged_out = current.is_none() && self.lock().logged_out;
                let reason = if logged_out {
                    "the session was logged out (TokenAuth::logout or forget): log in again, \
                     then hand the token to set_token"
                        .to_owned()
                } else {
                    reason
                };
                Err(Error::ReauthRequired { reason, error })
            }
            Err(e) => match previous {
                // Refreshing early failed: the token still works, keep serving it for now.
                Some(entry) if !forced && entry.valid(Instant::now()) => {
                    tracing::warn!(target: "authed::oauth2", error = %e, "refresh ahead of expiry failed; using the current token");
                    let now = Instant::now();
                    let retry_at = now.checked_add(RETRY_EARLY_REFRESH_AFTER).unwrap_or(now);
                    Ok(Arc::new(Entry {
                        token: entry.token.clone(),
                        header: entry.header.clone(),
                        additions: Arc::clone(&entry.additions),
                        refresh_at: Some(
                            entry.expires_at.map_or(retry_at, |exp| retry_at.min(exp)),
                        ),
                        serve_until: entry.serve_until,
                        expires_at: entry.expires_at,
                        dpop: entry.dpop.clone(),
                    }))
                }
                _ => Err(e),
            },
        }
    }
}

#[async_trait]
impl Authenticate for TokenAuth {
    async fn authenticate(&self, request: &mut AuthRequest<'_>) -> Result<()> {
        let entry = self.entry().await?;
        request.put_prepared(AUTHORIZATION, entry.header.clone(), &entry.additions);
        if let Some(key) = &entry.dpop {
            // A proof for this attempt only: its method and URL, a new `jti`. The send loop
            // asks again for every retry and redirect hop, and never for another origin.
            let nonce = self.shared.dpop_nonces.get(request.url());
            let proof = key.proof(
                request.method(),
                request.url(),
                Some(entry.token.access_token()),
                nonce.as_ref(),
            )?;
            let value = HeaderValue::from_str(proof.expose_secret())
                .map_err(|_| Error::auth("the DPoP proof is not a valid header value"))?;
            request.set_header_value(dpop::DPOP, value);
        }
        Ok(())
    }

    fn label(&self) -> Cow<'static, str> {
        self.shared.source.label()
    }

    fn validate(&self) -> Result<()> {
        self.shared.source.validate()
    }

    fn answered(&self, answer: &Answered<'_>) {
        // A resource server may hand out a new nonce on any answer, a success included (RFC
        // 9449 §8.2, §9): the next proof to that origin carries it. A `401` is left to
        // `unauthorized`, which replays once when its nonce is new.
        if answer.status() == http::StatusCode::UNAUTHORIZED {
            return;
        }
        if let Some(nonce) = dpop::nonce_header(answer.headers())
            && self
                .shared
                .lock()
                .current
                .as_ref()
                .is_some_and(|e| e.dpop.is_some())
        {
            let fresh = self.shared.dpop_nonces.set(answer.url(), nonce);
            if fresh {
                tracing::debug!(target: "authed::oauth2", "the resource server sent a new DPoP nonce");
            }
        }
    }

    async fn unauthorized(&self, rejected: &Unauthorized<'_>) -> Result<bool> {
        // A resource server that wants a nonce in the proof (RFC 9449 §9): remember it for
        // its origin and replay once with a new proof; the token is fine.
        if let (Some(challenge), Some(url), Some(nonce)) = (
            rejected.challenge(),
            rejected.url(),
            rejected.headers.and_then(dpop::nonce_header),
        ) && dpop::asks_for_nonce(challenge)
            && self
                .shared
                .lock()
                .current
                .as_ref()
                .is_some_and(|e| e.dpop.is_some())
        {
            let fresh = self.shared.dpop_nonces.set(url, nonce);
            tracing::debug!(target: "authed::oauth2", fresh, "the resource server wants a DPoP nonce");
            return Ok(fresh);
        }
        {
            let mut state = self.shared.lock();
            match &state.current {
                // The token we hold was rejected: refresh it.
                Some(entry) if Some(&entry.header) == rejected.authorization() => {
                    state.stale = true
                }
                // Someone renewed it since that request left: just replay.
                Some(_) => return Ok(true),
                None => {}
            }
        }
        self.entry().await?;
        Ok(true)
    }
}
