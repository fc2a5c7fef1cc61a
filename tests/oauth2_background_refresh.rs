//! `TokenAuth::refresh_in_background`: a due token keeps being served while one refresh runs,
//! until half the skew is left; without it (the default) requests wait for the refresh. On
//! tokio's paused clock, with a token source whose refreshes the test releases by hand.
#![cfg(feature = "oauth2")]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use authed::{
    ExposeSecret,
    oauth2::{Token, TokenAuth, TokenSource},
};
use tokio::sync::Semaphore;

/// Issues `t1`, `t2`, ... living 200 s; every fetch after the first waits for a permit.
#[derive(Debug)]
struct Gated {
    fetches: AtomicUsize,
    permits: Arc<Semaphore>,
}

#[async_trait]
impl TokenSource for Gated {
    async fn fetch(&self, _current: Option<&Token>) -> authed::Result<Token> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        if n > 1 {
            self.permits.acquire().await.unwrap().forget();
        }
        Ok(Token::bearer(format!("t{n}")).with_expires_in(Duration::from_secs(200)))
    }
}

fn source() -> (Arc<Gated>, Arc<Semaphore>) {
    let permits = Arc::new(Semaphore::new(0));
    let gated = Arc::new(Gated {
        fetches: AtomicUsize::new(0),
        permits: Arc::clone(&permits),
    });
    (gated, permits)
}

/// Shares the source between the cache and the test.
#[derive(Debug)]
struct Shared(Arc<Gated>);

#[async_trait]
impl TokenSource for Shared {
    async fn fetch(&self, current: Option<&Token>) -> authed::Result<Token> {
        self.0.fetch(current).await
    }
}

fn access(token: &Token) -> String {
    token.access_token().expose_secret().to_owned()
}

/// `auth.token()` if it completes without the test releasing a refresh (on the paused clock,
/// a blocked call lets the clock run to the timeout).
async fn at_once(auth: &TokenAuth) -> Option<Token> {
    tokio::time::timeout(Duration::from_millis(1), auth.token())
        .await
        .ok()
        .map(Result::unwrap)
}

#[tokio::test(start_paused = true)]
async fn a_due_token_is_served_while_one_refresh_runs_until_half_the_skew_is_left() {
    let (gated, permits) = source();
    // Skew 60 s: due at 140 s, served in the background until 170 s, expired at 200 s.
    let auth = TokenAuth::new(Shared(Arc::clone(&gated))).refresh_in_background(true);
    assert_eq!(access(&auth.token().await.unwrap()), "t1");

    tokio::time::advance(Duration::from_secs(145)).await;
    // Due: served at once, three times, with one refresh started and held.
    for _ in 0..3 {
        let token = at_once(&auth).await.expect("a due token is served at once");
        assert_eq!(access(&token), "t1");
    }
    tokio::task::yield_now().await;
    assert_eq!(
        gated.fetches.load(Ordering::SeqCst),
        2,
        "one refresh, not three"
    );

    // The refresh ends: the next call gets its token.
    permits.add_permits(1);
    let mut token = auth.token().await.unwrap();
    for _ in 0..10 {
        if access(&token) == "t2" {
            break;
        }
        tokio::task::yield_now().await;
        token = auth.token().await.unwrap();
    }
    assert_eq!(access(&token), "t2");
    assert_eq!(gated.fetches.load(Ordering::SeqCst), 2);

    // t2 due (145 s after it came) and its refresh held until past half the skew (31 s
    // left): callers then wait for it.
    tokio::time::advance(Duration::from_secs(145)).await;
    assert_eq!(access(&at_once(&auth).await.unwrap()), "t2");
    tokio::time::advance(Duration::from_secs(25)).await;
    assert!(
        at_once(&auth).await.is_none(),
        "with less than half the skew left, callers wait for the refresh"
    );
    permits.add_permits(1);
    assert_eq!(access(&auth.token().await.unwrap()), "t3");
    assert_eq!(gated.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn by_default_a_due_token_waits_for_its_refresh() {
    let (gated, permits) = source();
    let auth = TokenAuth::new(Shared(Arc::clone(&gated)));
    assert_eq!(access(&auth.token().await.unwrap()), "t1");
    tokio::time::advance(Duration::from_secs(145)).await;
    assert!(
        at_once(&auth).await.is_none(),
        "the caller waits for the refresh"
    );
    permits.add_permits(1);
    assert_eq!(access(&auth.token().await.unwrap()), "t2");
    assert_eq!(gated.fetches.load(Ordering::SeqCst), 2);
}
