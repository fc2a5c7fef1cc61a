//! `authed secret set|get|rm NAME`: API keys in the keyring (or, when asked, the insecure file
//! store beside the config).

use authed::ExposeSecret;

use crate::{
    cmd::Global,
    config::{Loaded, StoreKind},
    error::{CliError, Result, exit},
    session::{self, secret_entry},
    ui::Style,
};

fn store(insecure_storage: bool) -> Result<(Loaded, StoreKind)> {
    let loaded = Loaded::load()?;
    let kind = if insecure_storage {
        StoreKind::File
    } else {
        StoreKind::Keyring
    };
    Ok((loaded, kind))
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '#') {
        return Err(CliError::usage(format!(
            "{name:?} is not a secret name (no spaces or `#`)"
        )));
    }
    Ok(())
}

/// `authed secret set NAME`: the value from stdin.
pub async fn set(_g: &Global, name: &str, insecure_storage: bool) -> Result<i32> {
    check_name(name)?;
    let (loaded, kind) = store(insecure_storage)?;
    let secret = session::read_secret("secret").await?;
    let store = session::store(kind, &loaded);
    store.set(&secret_entry(name), &secret).await?;
    eprintln!(
        "{} secret {name} stored in {}",
        Style::stderr().green("✓"),
        store.status()
    );
    Ok(exit::OK)
}

/// `authed secret get NAME`: the value on stdout.
pub async fn get(_g: &Global, name: &str, insecure_storage: bool) -> Result<i32> {
    check_name(name)?;
    let (loaded, kind) = store(insecure_storage)?;
    let store = session::store(kind, &loaded);
    match store.get(&secret_entry(name)).await? {
        Some(secret) => {
            println!("{}", secret.expose_secret());
            Ok(exit::OK)
        }
        None => Err(CliError::new(format!(
            "no secret {name:?} in {}",
            store.status().backend
        ))),
    }
}

/// `authed secret rm NAME`.
pub async fn rm(_g: &Global, name: &str, insecure_storage: bool) -> Result<i32> {
    check_name(name)?;
    let (loaded, kind) = store(insecure_storage)?;
    let store = session::store(kind, &loaded);
    store.delete(&secret_entry(name)).await?;
    eprintln!("{} secret {name} deleted", Style::stderr().green("✓"));
    Ok(exit::OK)
}
