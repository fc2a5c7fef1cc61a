//! Signing a user in with the device authorization grant (RFC 8628), for CLIs and devices
//! without a browser: the program shows a code, the user approves it in a browser anywhere,
//! and the program polls until they have.
//!
//! ```sh
//! cargo run --example device_login -- https://auth.example.com my-client-id
//! # or: ISSUER=https://auth.example.com CLIENT_ID=my-client-id cargo run --example device_login
//! ```
//!
//! Try it against the local test server (node-oidc-provider, see `tests/oidc/README.md`):
//!
//! ```sh
//! npm ci --prefix tests/oidc        # once
//! node tests/oidc/server.mjs 0      # prints "ISSUER http://127.0.0.1:PORT"; leave it running
//! cargo run --example device_login -- http://127.0.0.1:PORT device
//! ```
//!
//! then open the printed URL in a browser, confirm the code, sign in with any name (the
//! password is ignored) and consent. The program picks the tokens up at its next poll (every
//! 5 s: that server sends no `interval`), then calls the userinfo endpoint with them.
//!
//! Nothing printed is a secret: the user code is meant to be shown; tokens are not.

use authed::{
    Client,
    oauth2::{RefreshToken, ServerMetadata},
    store::{CredentialTokenStore, KeyringStore},
    url::Url,
};

/// Positional argument `index`, else environment variable `name`.
fn arg_or_env(index: usize, name: &str) -> Result<String, String> {
    std::env::args()
        .nth(index)
        .or_else(|| std::env::var(name).ok())
        .ok_or_else(|| format!("usage: device_login ISSUER CLIENT_ID (or set {name})"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = arg_or_env(1, "ISSUER")?;
    let client_id = arg_or_env(2, "CLIENT_ID")?;

    // The server's endpoints, from its metadata (its `issuer` must equal ours exactly).
    let metadata = ServerMetadata::discover(&issuer).await?;
    // A public client: a CLI cannot keep a secret.
    let client = metadata.client(client_id)?;
    let device = metadata
        .device(client.clone())?
        .scopes(["openid", "offline_access"]);

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
            let token = device
                .login(|code| {
                    println!("To sign in, open {}", code.verification_uri);
                    println!("and enter the code {}", code.user_code);
                    if let Some(complete) = &code.verification_uri_complete {
                        println!("(or open {complete}, which has the code in it)");
                    }
                    println!(
                        "Waiting for you (the code is valid for {:?})...",
                        code.expires_in
                    );
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
