//! `authed profile add|list|show|rm`.

use serde_json::json;

use crate::{
    ProfileAddArgs,
    cmd::{Global, print_json},
    config::{ClientAuthKind, Loaded, Profile, StoreKind, grant_name},
    error::{CliError, Result, exit},
    session::{self, client_secret_entry, session_entry},
    ui::Style,
};

/// `authed profile add`.
pub async fn add(_g: &Global, args: ProfileAddArgs) -> Result<i32> {
    let mut loaded = Loaded::load()?;
    let name = args.name;
    if name.is_empty() || name.contains(['/', '#']) || name.chars().any(char::is_whitespace) {
        return Err(CliError::usage(format!(
            "{name:?} is not a profile name (no spaces, `/` or `#`)"
        )));
    }
    if loaded.config.profiles.contains_key(&name) && !args.force {
        return Err(CliError::usage(format!(
            "profile {name:?} exists: pass --force to replace it"
        )));
    }
    let client_auth = match (args.client_auth, args.client_secret_stdin) {
        (Some(kind), _) => kind,
        (None, true) => ClientAuthKind::SecretBasic,
        (None, false) if args.private_key_file.is_some() => ClientAuthKind::PrivateKeyJwt,
        (None, false) => ClientAuthKind::None,
    };
    let store = if args.insecure_storage {
        StoreKind::File
    } else {
        args.store.unwrap_or_default()
    };
    let profile = Profile {
        issuer: args.issuer,
        token_url: args.token_url,
        device_url: args.device_url,
        authorization_url: args.authorization_url,
        redirect_port: args.redirect_port,
        revocation_url: args.revocation_url,
        client_id: args.client_id,
        client_auth,
        private_key_file: args.private_key_file,
        private_key_alg: args.private_key_alg,
        key_id: args.key_id,
        scopes: args
            .scopes
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect(),
        grant: args.grant,
        base_url: args.base_url,
        api_key_header: args.api_key_header,
        api_key_query: args.api_key_query,
        store,
    };
    profile.validate(&name)?;
    if let Some(alg) = &profile.private_key_alg {
        session::parse_alg(alg)?;
    }
    if profile.needs_client_secret() && !args.client_secret_stdin {
        // A secret method without a new secret: keep the one stored when replacing a profile
        // (--force); a new profile has none.
        let replaced = loaded.config.profiles.get(&name);
        let stored = match replaced {
            Some(old) if old.store == profile.store => session::store(profile.store, &loaded)
                .get(&client_secret_entry(&name))
                .await?
                .is_some(),
            _ => false,
        };
        if !stored {
            return Err(CliError::usage(format!(
                "--client-auth {} needs the client secret: pass --client-secret-stdin and pipe it in",
                if client_auth == ClientAuthKind::SecretPost {
                    "secret-post"
                } else {
                    "secret-basic"
                }
            )));
        }
    }
    if args.client_secret_stdin {
        if !profile.needs_client_secret() {
            return Err(CliError::usage(
                "--client-secret-stdin goes with --client-auth secret-basic or secret-post",
            ));
        }
        let secret = session::read_secret("client secret").await?;
        let store = session::store(profile.store, &loaded);
        store.set(&client_secret_entry(&name), &secret).await?;
    }
    let style = Style::stderr();
    let make_default = args.default || loaded.config.profiles.is_empty();
    loaded.config.profiles.insert(name.clone(), profile.clone());
    if make_default {
        loaded.config.default_profile = Some(name.clone());
    }
    loaded.save()?;
    eprintln!(
        "{} profile {} saved in {}{}",
        style.green("✓"),
        style.bold(&name),
        loaded.path.display(),
        if make_default { " (default)" } else { "" }
    );
    if profile.store == StoreKind::File {
        eprintln!(
            "{} its secrets go to {}, plain text readable by anything running as you (insecure storage)",
            style.yellow("!"),
            loaded.dir().join(session::CREDENTIALS_FILE).display()
        );
    }
    Ok(exit::OK)
}

/// `authed profile list`.
pub fn list(g: &Global) -> Result<i32> {
    let loaded = Loaded::load()?;
    let default = loaded.config.default_profile.as_deref();
    if g.json {
        let profiles: Vec<_> = loaded
            .config
            .profiles
            .iter()
            .map(|(name, p)| {
                json!({
                    "name": name,
                    "default": Some(name.as_str()) == default,
                    "grant": grant_name(p.grant),
                    "issuer": p.issuer,
                    "token_url": p.token_url,
                    "base_url": p.base_url,
                    "store": p.store.to_string(),
                })
            })
            .collect();
        print_json(&json!(profiles));
        return Ok(exit::OK);
    }
    if loaded.config.profiles.is_empty() {
        eprintln!(
            "no profiles in {} yet: `authed profile add NAME --issuer URL --client-id ID`",
            loaded.path.display()
        );
        return Ok(exit::OK);
    }
    for (name, p) in &loaded.config.profiles {
        let server = p
            .issuer
            .as_deref()
            .or(p.token_url.as_deref())
            .unwrap_or("-");
        println!(
            "{}{name}\t{}\t{server}\t{}",
            if Some(name.as_str()) == default {
                "* "
            } else {
                "  "
            },
            grant_name(p.grant),
            p.store
        );
    }
    Ok(exit::OK)
}

/// `authed profile show [NAME]`: everything but secrets; for the client secret, whether one is
/// stored.
pub async fn show(g: &Global, name: Option<&str>) -> Result<i32> {
    let loaded = Loaded::load()?;
    let (name, profile) = loaded.resolve(name.or(g.profile.as_deref()))?;
    let store = session::store(profile.store, &loaded);
    let client_secret = if profile.needs_client_secret() {
        Some(match store.get(&client_secret_entry(&name)).await {
            Ok(Some(_)) => "stored (not shown)".to_owned(),
            Ok(None) => "missing".to_owned(),
            Err(e) => format!("unknown ({})", CliError::from(e)),
        })
    } else {
        None
    };
    if g.json {
        let mut value = serde_json::to_value(&profile)
            .map_err(|e| CliError::new(format!("serialising the profile: {e}")))?;
        value["name"] = json!(name);
        value["client_secret"] = json!(client_secret);
        value["store_status"] = json!(store.status().to_string());
        print_json(&value);
        return Ok(exit::OK);
    }
    let text = toml::to_string_pretty(&profile)
        .map_err(|e| CliError::new(format!("serialising the profile: {e}")))?;
    println!("[profiles.{name}]");
    print!("{text}");
    if let Some(state) = client_secret {
        println!("# client secret: {state}");
    }
    Ok(exit::OK)
}

/// `authed profile rm NAME`: the profile, its session and its client secret.
pub async fn rm(_g: &Global, name: &str) -> Result<i32> {
    let mut loaded = Loaded::load()?;
    let Some(profile) = loaded.config.profiles.remove(name) else {
        return Err(CliError::usage(format!("no profile {name:?}")));
    };
    let store = session::store(profile.store, &loaded);
    // The session may be split across entries: the token store knows how to clear it.
    let session = session::session_store(name, profile.store, store.clone(), &loaded);
    let style = Style::stderr();
    for result in [
        authed::oauth2::TokenStore::clear(&session).await,
        store.delete(&client_secret_entry(name)).await,
    ] {
        if let Err(e) = result {
            eprintln!(
                "{} could not delete {} from {}: {}",
                style.yellow("!"),
                session_entry(name),
                store.status().backend,
                CliError::from(e)
            );
        }
    }
    if loaded.config.default_profile.as_deref() == Some(name) {
        loaded.config.default_profile = None;
    }
    loaded.save()?;
    eprintln!("{} profile {name} removed", style.green("✓"));
    Ok(exit::OK)
}
