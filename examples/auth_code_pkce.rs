//! Signing a user in from a native app or CLI with the authorization code grant and PKCE
//! (RFC 6749 §4.1, RFC 7636, RFC 8252): the program listens once on 127.0.0.1, the user signs
//! in with their browser, and the browser brings the code back to the listener.
//!
//! ```sh
//! cargo run --example auth_code_pkce -- https://auth.example.com my-client-id
//! # or: ISSUER=https://auth.example.com CLIENT_ID=my-client-id cargo run --example auth_code_pkce
//! ```
//!
//! The client must be registered with the redirect URI `http://127.0.0.1/callback`, any port
//! (RFC 8252 §7.3). Try it against the local test server (node-oidc-provider, see
//! `tests/oidc/README.md`), whose client `native` is registered that way:
//!
//! ```sh
//! npm ci --prefix tests/oidc        # once
//! node tests/oidc/server.mjs 0      # prints "ISSUER http://127.0.0.1:PORT"; leave it running
//! cargo run --example auth_code_pkce -- http://127.0.0.1:PORT native
//! ```
//!
//! then open the printed URL in a browser on the same machine, sign in with any name (the
//! password is ignored) and consent. The program then calls the userinfo endpoint.
//!
//! Nothing printed is a secret: the URL carries `state` and the PKCE challenge (not the
//! verifier), which is what the browser needs; the code and the tokens are not printed.

use authed::{
    Client,
    oauth2::{DEFAULT_LOGIN_TIMEOUT, RefreshToken, ServerMetadata},
    store::{CredentialTokenStore, KeyringStore},
    url::Url,
};

/// Positional argument `index`, else environment variable `name`.
fn arg_or_env(index: usize, name: &str) -> Result<String, String> {
    std::env::args()
        .nth(index)
        .or_else(|| std::env::var(name).ok())
        .ok_or_else(|| format!("usage: auth_code_pkce ISSUER CLIENT_ID (or set {name})"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = arg_or_env(1, "ISSUER")?;
    let client_id = arg_or_env(2, "CLIENT_ID")?;

    // The server's endpoints, from its metadata (its `issuer` must equal ours exactly). The
    // flow also checks the redirect's `iss` when the server says it sends one (RFC 9207).
    let metadata = ServerMetadata::discover(&issuer).await?;
    // A public client: an app on the user's machine cannot keep a secret; PKCE stands in.
    let client = metadata.client(client_id)?;
    let flow = metadata
        .authorization_code(client.clone())?
        .scopes(["openid", "offline_access"])
        // OpenID Connect grants offline_access (a refresh token) only with explicit consent.
        .param("prompt", "consent");

    // Port 0: any free port; the redirect URI is http://127.0.0.1:<port>/callback.
    // The session lives in the OS keyring (Secret Service, else the kernel keyring), under a
    // name for this server and client: the next run finds it there and does not log in.
    let store = CredentialTokenStore::new(
        KeyringStore::new("authed-examples"),
        format!("{issuer} {}", client.client_id()),
    );
    let auth = RefreshToken::new(client.clone()).into_auth().store(store);
    match auth.token().await {
        Ok(_) => println!("Using the stored session: no login needed (delete it to log in again)."),
        Err(e) if e.is_reauth_required() => {
            let token = flow
                .login_loopback(0, DEFAULT_LOGIN_TIMEOUT, |url| {
                    println!("Open this URL in your browser to sign in:\n  {url}");
                })
                .await?;
            let refresh = if token.refresh_token().is_some() {
                "with"
            } else {
                "without"
            };
            println!(
                "Signed in {refresh} a refresh token; scope {:?}",
                token.scope()
            );
            // Stored before it is used; the cache refreshes it from now on.
            auth.set_token(token).await?;
        }
        Err(e) => return Err(e.into()),
    }

    let userinfo = Url::parse(
        metadata
            .userinfo_endpoint
            .as_deref()
            .ok_or("the server advertises no userinfo endpoint")?,
    )?;
    let api = Client::builder(userinfo.origin().ascii_serialization())
        .auth(auth)
        .build()?;
    let claims: serde_json::Value = api.get(userinfo.as_str()).send().await?.json().await?;
    println!("GET {userinfo} -> you are {}", claims["sub"]);
    Ok(())
}
