//! Keeping an API key in the OS keyring instead of an environment variable or a file.
//!
//! ```sh
//! cargo run --example keyring_api_key                 # offline, against an in-process API
//! API_KEY=... cargo run --example keyring_api_key     # store your own key first
//! ```
//!
//! The first run stores the key (under service `authed-examples`, entry `demo-api-key`); later
//! runs read it from there. On a headless Linux machine, start a Secret Service first with
//! `source <(bash scripts/secret-service.sh)`, or the kernel keyring is used (it forgets at
//! reboot). Nothing printed is the key.

#[path = "../tests/support/demo_api.rs"]
mod demo_api;

use authed::{
    Client, Secret,
    auth::ApiKey,
    store::{CredentialStore, KeyringStore},
};
use demo_api::{DemoApi, DemoConfig};

const ENTRY: &str = "demo-api-key";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = DemoConfig::default();
    let api = DemoApi::start(config.clone()).await?;
    let keyring = KeyringStore::new("authed-examples");

    // Store a key given in the environment, or (first run) the demo API's key.
    if let Ok(key) = std::env::var("API_KEY") {
        keyring.set(ENTRY, &Secret::from(key)).await?;
        println!("Stored API_KEY in the keyring.");
    } else if keyring.get(ENTRY).await?.is_none() {
        keyring
            .set(ENTRY, &Secret::from(config.api_key.as_str()))
            .await?;
        println!("First run: stored the demo key in the keyring.");
    } else {
        println!("Found the key in the keyring.");
    }
    let status = keyring.status();
    println!(
        "Keyring backend: {} (keeps secrets: {:?})",
        status.backend, status.persistence
    );

    // Read it back as a Secret and use it; it never passes through our own text.
    let key = Secret::from_store(&keyring, ENTRY).await?;
    let client = Client::builder(api.url())
        .auth(ApiKey::header("X-API-Key", key))
        .build()?;
    let item: serde_json::Value = client
        .get("header-key/items/7")
        .send()
        .await?
        .json()
        .await?;
    println!("GET header-key/items/7 -> {item}");
    Ok(())
}
