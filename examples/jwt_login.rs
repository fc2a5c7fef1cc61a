//! An API with its own JWT login endpoint (Flask-JWT-Extended and many others), signed in to
//! with a custom token source: `cargo run --example jwt_login`.
//!
//! The API is the in-process demo server of `tests/support/demo_api.rs`, so this runs offline:
//!
//! - `POST /login` with `{"username", "password"}` answers
//!   `{"access_token": <JWT>, "refresh_token": <opaque>}`;
//! - `POST /refresh` with `Authorization: Bearer <refresh token>` answers
//!   `{"access_token": <JWT>}` (no new refresh token);
//! - `GET /jwt/me` wants `Authorization: Bearer <access token>`.
//!
//! [`Custom`] turns two async closures, "log in" and "refresh", into a token source;
//! `into_auth()` wraps it in the same cache as the OAuth grants: `Token::bearer` reads the
//! expiry from the JWT's `exp` claim, and the cache refreshes ahead of it. The demo's access
//! tokens live 2 s (real ones live minutes or hours), so a few calls over 3 s show a refresh.
//! Nothing printed is a secret: tokens appear only as counts.

#[path = "../tests/support/demo_api.rs"]
mod demo_api;

use std::time::{Duration, Instant};

use authed::{
    Client, Error, Secret,
    auth::Bearer,
    http::StatusCode,
    oauth2::{Custom, Token},
};
use demo_api::{DemoApi, DemoConfig};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

/// What `/login` and `/refresh` answer.
#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
}

impl Tokens {
    fn into_token(self) -> Token {
        // `bearer` reads the expiry from the JWT's `exp` claim (decoded, not verified).
        let token = Token::bearer(self.access_token);
        match self.refresh_token {
            Some(refresh_token) => token.with_refresh_token(refresh_token),
            // From /refresh: the cache keeps the refresh token it already has.
            None => token,
        }
    }
}

#[derive(Deserialize)]
struct Me {
    user: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = DemoConfig::default();
    let api = DemoApi::start(cfg.clone()).await?;
    println!("The API: {}", api.url());

    // A plain client, without credentials of its own, for /login and /refresh.
    let http = Client::builder(api.url()).build()?;
    // In real life: Secret::from_env("API_PASSWORD")?
    let (username, password) = (cfg.basic_user.clone(), Secret::from(cfg.basic_password));

    let login = {
        let http = http.clone();
        // Called for every login; the future it returns must own what it uses.
        move || {
            let (http, username, password) = (http.clone(), username.clone(), password.clone());
            async move {
                println!("  (POST /login)");
                let body = serde_json::json!({
                    "username": username,
                    "password": password.expose_secret(),
                });
                let tokens: Tokens = http.post("login").json(&body).send().await?.json().await?;
                Ok(tokens.into_token())
            }
        }
    };

    // Called with the current token set when it is due for renewal.
    let refresh = move |current: Token| {
        let http = http.clone();
        async move {
            let reauth = |reason: &str| Error::ReauthRequired {
                reason: reason.into(),
                error: None,
            };
            let refresh_token = current
                .refresh_token()
                .cloned()
                .ok_or_else(|| reauth("no refresh token"))?;
            println!("  (POST /refresh)");
            // The refresh token goes as a bearer token, on this request only.
            let sent = http.post("refresh").auth(Bearer::new(refresh_token)).send();
            match sent.await {
                Ok(response) => Ok(response.json::<Tokens>().await?.into_token()),
                // ReauthRequired tells Custom to log in again instead.
                Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
                    Err(reauth("the refresh token was refused"))
                }
                Err(e) => Err(e),
            }
        }
    };

    let auth = Custom::new(login)
        .refresh(refresh)
        .label("jwt login")
        .into_auth();
    let client = Client::builder(api.url()).auth(auth).build()?;

    // Five calls over 3 s: the first logs in, later ones refresh ahead of expiry.
    let started = Instant::now();
    for _ in 0..5 {
        let me: Me = client.get("jwt/me").send().await?.json().await?;
        let issued = api.tokens_issued();
        println!(
            "{:.1}s: GET jwt/me -> {:?} (logins: {}, refreshes: {})",
            started.elapsed().as_secs_f64(),
            me.user,
            issued.login,
            issued.refresh
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(api.tokens_issued().login, 1);
    assert!(api.tokens_issued().refresh >= 1, "no refresh happened");

    // The server revokes every token (a password change, say). The next call is refused with
    // 401, or its token is due for renewal anyway; either way the refresh is refused too, so
    // Custom logs in again, and the call goes through (replayed once after a 401).
    api.revoke_tokens();
    println!("The server revokes every token.");
    let me: Me = client.get("jwt/me").send().await?.json().await?;
    let issued = api.tokens_issued();
    println!(
        "{:.1}s: GET jwt/me -> {:?} (logins: {}, refreshes: {})",
        started.elapsed().as_secs_f64(),
        me.user,
        issued.login,
        issued.refresh
    );
    assert_eq!(issued.login, 2);
    Ok(())
}
