//! The OAuth 2.0 client credentials grant (RFC 6749 §4.4): an application calling an API as
//! itself, no user involved. `cargo run --example client_credentials`.
//!
//! Without configuration it runs offline, against the in-process demo API of
//! `tests/support/demo_api.rs` (token endpoint `/oauth/token`, API `/oauth/me`). Against your
//! own authorization server and API, set:
//!
//! ```sh
//! TOKEN_URL=https://auth.example.com/oauth/token \
//! CLIENT_ID=my-client CLIENT_SECRET=... \
//! API_URL=https://api.example.com/v1/me \
//! SCOPES="read write" \
//! cargo run --example client_credentials
//! ```
//!
//! `SCOPES` is optional. The secret goes in HTTP Basic (`client_secret_basic`, id and secret
//! form-urlencoded first); set `CLIENT_AUTH=post` for a server that wants it in the form body
//! (`client_secret_post`). Nothing printed is a secret: the token shows only as its type,
//! scope and lifetime.

#[path = "../tests/support/demo_api.rs"]
mod demo_api;

use std::time::SystemTime;

use authed::{
    Client, Secret,
    oauth2::{ClientAuth, ClientCredentials},
    url::Url,
};
use demo_api::{DemoApi, DemoConfig, OAUTH_CLIENT_ID};

/// Where the token comes from and what it is for.
struct Setup {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    api_url: String,
    /// The demo API when no `TOKEN_URL` is set (it stops when dropped).
    demo: Option<DemoApi>,
}

async fn setup() -> Result<Setup, Box<dyn std::error::Error>> {
    if let Ok(token_url) = std::env::var("TOKEN_URL") {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        return Ok(Setup {
            token_url,
            client_id: var("CLIENT_ID")?,
            // Secret::from_env names the variable in its error, never the value.
            client_secret: Secret::from_env("CLIENT_SECRET")?,
            api_url: var("API_URL")?,
            demo: None,
        });
    }
    let cfg = DemoConfig::default();
    let demo = DemoApi::start(cfg.clone()).await?;
    println!("No TOKEN_URL set: using the demo API at {}", demo.url());
    Ok(Setup {
        token_url: format!("{}oauth/token", demo.url()),
        client_id: OAUTH_CLIENT_ID.to_owned(),
        client_secret: Secret::from(cfg.api_key),
        api_url: format!("{}oauth/me", demo.url()),
        demo: Some(demo),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = setup().await?;

    let mut grant = ClientCredentials::new(&setup.token_url, setup.client_id, setup.client_secret);
    if let Ok(scopes) = std::env::var("SCOPES") {
        grant = grant.scopes(scopes.split_whitespace());
    }
    if std::env::var("CLIENT_AUTH").as_deref() == Ok("post") {
        grant = grant.auth_method(ClientAuth::SecretPost);
    }
    // The token cache: it asks for a token on first use and again ahead of expiry. Clones share it.
    let auth = grant.into_auth();

    // Credentials go only to the base URL's origin: here, the API's.
    let api_url = Url::parse(&setup.api_url)?;
    let api = Client::builder(api_url.origin().ascii_serialization())
        .auth(auth.clone())
        .build()?;

    for _ in 0..3 {
        let response = api.get(api_url.as_str()).send().await?;
        let status = response.status();
        let url = response.redacted_url();
        let body = response.bytes().await?;
        println!("GET {url} -> {status}, {} bytes", body.len());
    }

    // What the cache holds (no request: the token is still fresh).
    let token = auth.token().await?;
    let expiry = match token
        .expires_at()
        .map(|at| at.duration_since(SystemTime::now()))
    {
        Some(Ok(left)) => format!("expires in {left:.1?}"),
        Some(Err(_)) => "expired".to_owned(),
        None => "no expiry given".to_owned(),
    };
    println!(
        "The token: type {}, scope {:?}, {expiry}",
        token.token_type(),
        token.scope()
    );
    if let Some(demo) = &setup.demo {
        let issued = demo.tokens_issued().client_credentials;
        println!("The token endpoint issued {issued} token(s) for 3 calls.");
        assert_eq!(issued, 1);
    }
    Ok(())
}
