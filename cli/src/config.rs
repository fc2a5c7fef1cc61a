//! The config file: named profiles, in TOML.
//!
//! Where it lives: `$AUTHED_CONFIG` when set, else `$XDG_CONFIG_HOME/authed/config.toml`, else
//! `$HOME/.config/authed/config.toml` (on every Unix-like system, as `authed::store::FileStore`
//! does), `%APPDATA%\authed\config.toml` on Windows. The file holds no secret: client secrets
//! and sessions go to the profile's credential store. The insecure file store
//! (`--insecure-storage`) is `credentials.json` beside the config file.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// The environment variable that overrides the config file's path.
pub const CONFIG_ENV: &str = "AUTHED_CONFIG";
/// The environment variable that names the profile when `--profile` is not given.
pub const PROFILE_ENV: &str = "AUTHED_PROFILE";

/// The whole file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when neither `--profile` nor `AUTHED_PROFILE` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// How a profile gets its tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Grant {
    /// The device authorization grant (RFC 8628): a code to enter in a browser anywhere.
    #[default]
    Device,
    /// The authorization code grant with PKCE in this machine's browser, which comes back to a
    /// listener on 127.0.0.1 (RFC 8252).
    Browser,
    /// The client credentials grant: the client's own identity, no user.
    ClientCredentials,
    /// A static token or API key given to `authed login --with-token` on stdin.
    Token,
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuthKind {
    /// A public client: no secret.
    #[default]
    None,
    /// `client_secret_basic`, the secret kept in the profile's store.
    SecretBasic,
    /// `client_secret_post`, the secret kept in the profile's store.
    SecretPost,
    /// `private_key_jwt`, with the key in `private_key_file`.
    PrivateKeyJwt,
}

/// Where a profile's secrets (its session, its client secret) are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// The OS keyring (Secret Service, the kernel keyring, Keychain, Credential Manager).
    #[default]
    Keyring,
    /// A plain-text file readable by anything running as the user: only when asked
    /// (`--insecure-storage`).
    File,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keyring => "keyring",
            Self::File => "file",
        })
    }
}

/// One profile: a server, a client, a grant, an API and a store. No secret in here.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The authorization server's issuer: its endpoints come from discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The token endpoint (overrides discovery's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// The device authorization endpoint (overrides discovery's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_url: Option<String>,
    /// The authorization endpoint of the browser login (overrides discovery's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// The loopback port of the browser login's redirect URI (`http://127.0.0.1:<port>/callback`),
    /// for servers that accept only the port registered with them; none: any free port (RFC
    /// 8252 §7.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_port: Option<u16>,
    /// The revocation endpoint (overrides discovery's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
    /// The OAuth client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// How the client authenticates.
    #[serde(default)]
    pub client_auth: ClientAuthKind,
    /// The PEM private key of `private-key-jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// Its JWS algorithm (`RS256`, `PS256`, `ES256`, `ES384`, `EdDSA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_alg: Option<String>,
    /// Its key id (`kid`), when the server registered several keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Scopes to ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// How tokens are obtained.
    #[serde(default)]
    pub grant: Grant,
    /// The API that `authed request` calls; credentials go to its origin only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Sends the stored token in this header instead of `Authorization: Bearer` (an API key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<String>,
    /// Sends the stored token as this query parameter instead (an API key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_query: Option<String>,
    /// Where the session and the client secret are kept.
    #[serde(default)]
    pub store: StoreKind,
}

impl Profile {
    /// Whether the client sends a secret kept in the store.
    pub fn needs_client_secret(&self) -> bool {
        matches!(
            self.client_auth,
            ClientAuthKind::SecretBasic | ClientAuthKind::SecretPost
        )
    }

    /// Checks that the profile has what its grant needs.
    pub fn validate(&self, name: &str) -> Result<()> {
        let missing = |what: &str| {
            CliError::usage(format!(
                "profile {name:?}: the {} grant needs {what}",
                grant_name(self.grant)
            ))
        };
        if self.grant != Grant::Token {
            if self.client_id.is_none() {
                return Err(missing("--client-id"));
            }
            if self.issuer.is_none() && self.token_url.is_none() {
                return Err(missing("--issuer (discovery) or --token-url"));
            }
        }
        if self.grant == Grant::Device && self.issuer.is_none() && self.device_url.is_none() {
            return Err(missing("--issuer (discovery) or --device-url"));
        }
        if self.grant == Grant::Browser && self.issuer.is_none() && self.authorization_url.is_none()
        {
            return Err(missing("--issuer (discovery) or --authorization-url"));
        }
        if self.redirect_port.is_some() && self.grant != Grant::Browser {
            return Err(CliError::usage(format!(
                "profile {name:?}: --redirect-port is for the browser login (--grant browser)"
            )));
        }
        if self.client_auth == ClientAuthKind::PrivateKeyJwt && self.private_key_file.is_none() {
            return Err(CliError::usage(format!(
                "profile {name:?}: private-key-jwt needs --private-key-file"
            )));
        }
        if self.api_key_header.is_some() && self.api_key_query.is_some() {
            return Err(CliError::usage(format!(
                "profile {name:?}: choose --api-key-header or --api-key-query, not both"
            )));
        }
        // The file holds no secret: a URL may not carry one (never shown in the message).
        let names = authed::redact::CredentialNames::builtin();
        for (flag, url) in [
            ("--issuer", &self.issuer),
            ("--token-url", &self.token_url),
            ("--device-url", &self.device_url),
            ("--revocation-url", &self.revocation_url),
            ("--authorization-url", &self.authorization_url),
            ("--base-url", &self.base_url),
        ] {
            let Some(url) = url.as_deref().and_then(|u| authed::url::Url::parse(u).ok()) else {
                continue;
            };
            let in_query = url.query_pairs().any(|(k, _)| names.is_query(&k));
            if !url.username().is_empty() || url.password().is_some() || in_query {
                return Err(CliError::usage(format!(
                    "profile {name:?}: the {flag} URL carries a credential ({}); the config \
                     file holds no secret: give the URL without it, and the credential with \
                     `authed login --with-token` or `authed secret set`",
                    if in_query {
                        "a credential query parameter"
                    } else {
                        "user:password@"
                    }
                )));
            }
        }
        Ok(())
    }
}

/// The grant's name as the config file writes it.
pub fn grant_name(grant: Grant) -> &'static str {
    match grant {
        Grant::Device => "device",
        Grant::Browser => "browser",
        Grant::ClientCredentials => "client-credentials",
        Grant::Token => "token",
    }
}

/// The config file's path: see the module docs.
pub fn path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            if cfg!(windows) {
                std::env::var_os("APPDATA").map(PathBuf::from)
            } else {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config"))
            }
        })
        .ok_or_else(|| {
            CliError::usage(format!(
                "no configuration directory: set {CONFIG_ENV}, XDG_CONFIG_HOME or HOME"
            ))
        })?;
    Ok(base.join("authed").join("config.toml"))
}

/// The config file and where it was read from.
#[derive(Debug)]
pub struct Loaded {
    /// Its contents (empty when there is no file yet).
    pub config: Config,
    /// Its path.
    pub path: PathBuf,
}

impl Loaded {
    /// Reads the config file (an absent file is an empty config).
    pub fn load() -> Result<Self> {
        let path = path()?;
        let config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                CliError::usage(format!("{}: not a valid config file: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(CliError::new(format!("reading {}: {e}", path.display()))),
        };
        Ok(Self { config, path })
    }

    /// Writes the config file (atomically: a temporary file, then a rename).
    pub fn save(&self) -> Result<()> {
        let text = toml::to_string_pretty(&self.config)
            .map_err(|e| CliError::new(format!("serialising the config: {e}")))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::new(format!("creating {}: {e}", dir.display())))?;
        }
        let tmp = self.path.with_extension("toml.tmp");
        let header = "# authed profiles (`authed profile add --help`). No secrets in here:\n\
                      # they are in each profile's credential store.\n\n";
        std::fs::write(&tmp, format!("{header}{text}"))
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| CliError::new(format!("writing {}: {e}", self.path.display())))
    }

    /// The directory of the config file: the insecure file store and its locks live there.
    pub fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// The profile to use: `requested`, else `AUTHED_PROFILE`, else the default profile, else
    /// the only one.
    pub fn resolve(&self, requested: Option<&str>) -> Result<(String, Profile)> {
        let env = std::env::var(PROFILE_ENV).ok().filter(|v| !v.is_empty());
        let name = requested
            .map(str::to_owned)
            .or(env)
            .or_else(|| self.config.default_profile.clone())
            .or_else(|| {
                (self.config.profiles.len() == 1)
                    .then(|| self.config.profiles.keys().next().cloned())
                    .flatten()
            });
        let Some(name) = name else {
            return Err(CliError::usage(if self.config.profiles.is_empty() {
                "no profile yet: create one with `authed profile add NAME ...`".to_owned()
            } else {
                format!(
                    "which profile? pass --profile (one of: {}) or set a default with `authed profile add NAME --default`",
                    self.config
                        .profiles
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }));
        };
        let profile = self.config.profiles.get(&name).cloned().ok_or_else(|| {
            CliError::usage(format!(
                "no profile {name:?} in {} (`authed profile list`)",
                self.path.display()
            ))
        })?;
        Ok((name, profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_round_trips_through_toml() {
        let mut config = Config::default();
        config.profiles.insert(
            "work".into(),
            Profile {
                issuer: Some("https://auth.example.com".into()),
                client_id: Some("cli".into()),
                scopes: vec!["openid".into(), "offline_access".into()],
                grant: Grant::ClientCredentials,
                client_auth: ClientAuthKind::SecretPost,
                store: StoreKind::File,
                ..Profile::default()
            },
        );
        let text = toml::to_string_pretty(&config).unwrap();
        assert!(text.contains("grant = \"client-credentials\""), "{text}");
        assert!(text.contains("client_auth = \"secret-post\""), "{text}");
        let back: Config = toml::from_str(&text).unwrap();
        let work = &back.profiles["work"];
        assert_eq!(work.grant, Grant::ClientCredentials);
        assert_eq!(work.store, StoreKind::File);
        assert_eq!(work.scopes, ["openid", "offline_access"]);
    }

    #[test]
    fn an_unknown_key_is_an_error_not_ignored() {
        let err = toml::from_str::<Config>("[profiles.a]\nclient_secret = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("client_secret"), "{err}");
    }
}
