//! From a profile to authed's pieces: the credential store, the server's endpoints, the OAuth
//! client, and the token cache that `token` and `request` use.

use std::{borrow::Cow, sync::Arc};

use authed::{
    Secret,
    oauth2::{
        ClientAuth, ClientCredentials, JwsAlgorithm, OAuthClient, RefreshToken, ServerMetadata,
        SigningKey, Token, TokenAuth, TokenSource,
    },
    store::{CredentialStore, CredentialTokenStore, FileStore, KeyringStore},
};
use tokio::sync::OnceCell;

use crate::{
    config::{ClientAuthKind, Grant, Loaded, Profile, StoreKind},
    error::{CliError, Result},
    ui,
};

/// The `User-Agent` of every request the CLI makes.
pub const USER_AGENT: &str = concat!("authed-cli/", env!("CARGO_PKG_VERSION"));

/// The keyring service every entry of the CLI lives under.
pub const KEYRING_SERVICE: &str = "authed";

/// The file of the insecure store, beside the config file.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// The entry of a profile's session (its token set).
pub fn session_entry(profile: &str) -> String {
    format!("profile/{profile}/session")
}

/// The entry of a profile's client secret.
pub fn client_secret_entry(profile: &str) -> String {
    format!("profile/{profile}/client-secret")
}

/// The entry of a secret of `authed secret`.
pub fn secret_entry(name: &str) -> String {
    format!("secret/{name}")
}

/// The credential store of `kind`.
pub fn store(kind: StoreKind, loaded: &Loaded) -> Arc<dyn CredentialStore> {
    match kind {
        StoreKind::Keyring => Arc::new(KeyringStore::new(KEYRING_SERVICE)),
        StoreKind::File => Arc::new(FileStore::at(loaded.dir().join(CREDENTIALS_FILE))),
    }
}

/// The token set of profile `name` in `store` (with its cross-process refresh lock; beside the
/// file for the file store).
pub fn session_store(
    name: &str,
    kind: StoreKind,
    store: Arc<dyn CredentialStore>,
    loaded: &Loaded,
) -> CredentialTokenStore {
    let session = CredentialTokenStore::new(store, session_entry(name));
    match kind {
        StoreKind::File => session.lock_dir(loaded.dir().join("locks")),
        StoreKind::Keyring => session,
    }
}

/// The endpoints a profile uses: explicit ones win over discovery's.
#[derive(Debug, Default)]
pub struct Endpoints {
    /// Discovery's answer, when the profile names an issuer.
    pub metadata: Option<ServerMetadata>,
    /// The token endpoint.
    pub token: Option<String>,
    /// The device authorization endpoint.
    pub device: Option<String>,
    /// The authorization endpoint (browser login).
    pub authorization: Option<String>,
    /// The revocation endpoint.
    pub revocation: Option<String>,
}

impl Endpoints {
    /// Discovers the issuer's metadata when the profile names one.
    pub async fn resolve(profile: &Profile) -> Result<Self> {
        let metadata = match &profile.issuer {
            Some(issuer) => Some(
                ServerMetadata::discover(issuer)
                    .await
                    .map_err(|e| CliError::from(e).context(format!("discovery at {issuer}")))?,
            ),
            None => None,
        };
        let from = |explicit: &Option<String>,
                    discovered: fn(&ServerMetadata) -> &Option<String>| {
            explicit
                .clone()
                .or_else(|| metadata.as_ref().and_then(|m| discovered(m).clone()))
        };
        Ok(Self {
            token: from(&profile.token_url, |m| &m.token_endpoint),
            device: from(&profile.device_url, |m| &m.device_authorization_endpoint),
            authorization: from(&profile.authorization_url, |m| &m.authorization_endpoint),
            revocation: from(&profile.revocation_url, |m| &m.revocation_endpoint),
            metadata,
        })
    }
}

/// The profile's OAuth client at `token_url`, with its client authentication (a client secret
/// read from `store`, or a private key read from its file).
pub async fn oauth_client(
    name: &str,
    profile: &Profile,
    store: &dyn CredentialStore,
    token_url: &str,
) -> Result<OAuthClient> {
    let client_id = profile
        .client_id
        .as_deref()
        .ok_or_else(|| CliError::usage(format!("profile {name:?} has no client id")))?;
    // The library's default client for the authorization server (no redirects), which also
    // shows its waits (a 429 from the token endpoint) like `request` does.
    let origin = authed::url::Url::parse(token_url)
        .map_err(|e| {
            CliError::usage(format!(
                "profile {name:?}: token endpoint {token_url:?}: {e}"
            ))
        })?
        .origin()
        .ascii_serialization();
    let http = authed::Client::builder(origin)
        .user_agent(USER_AGENT)
        .redirect(authed::redirect::Policy::none())
        .on_wait(ui::Waits::global().hook())
        .build()?;
    let client = OAuthClient::new(token_url, client_id).http_client(http);
    Ok(match profile.client_auth {
        ClientAuthKind::None => client,
        ClientAuthKind::SecretBasic | ClientAuthKind::SecretPost => {
            let secret = store
                .get(&client_secret_entry(name))
                .await?
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "profile {name:?} has no client secret in its store ({}): add it with \
                     `authed profile add {name} --client-secret-stdin --force ...`",
                        store.status().backend
                    ))
                })?;
            let method = if profile.client_auth == ClientAuthKind::SecretPost {
                ClientAuth::SecretPost
            } else {
                ClientAuth::SecretBasic
            };
            client.secret(secret).auth_method(method)
        }
        ClientAuthKind::PrivateKeyJwt => {
            let path = profile.private_key_file.as_ref().ok_or_else(|| {
                CliError::usage(format!("profile {name:?} has no private_key_file"))
            })?;
            let alg = parse_alg(profile.private_key_alg.as_deref().unwrap_or("RS256"))?;
            let mut key = SigningKey::from_pem_file(alg, path)?;
            if let Some(kid) = &profile.key_id {
                key = key.kid(kid.clone());
            }
            client.auth_method(ClientAuth::private_key_jwt(key))
        }
    })
}

/// A JWS algorithm by its JOSE name.
pub fn parse_alg(name: &str) -> Result<JwsAlgorithm> {
    Ok(match name {
        "RS256" => JwsAlgorithm::RS256,
        "PS256" => JwsAlgorithm::PS256,
        "ES256" => JwsAlgorithm::ES256,
        "ES384" => JwsAlgorithm::ES384,
        "EdDSA" => JwsAlgorithm::EdDSA,
        other => {
            return Err(CliError::usage(format!(
                "unknown key algorithm {other:?} (RS256, PS256, ES256, ES384, EdDSA)"
            )));
        }
    })
}

/// The token source behind `authed token` and `authed request`: renews a stored session with
/// the profile's grant, and builds the OAuth client (discovery, client secret) only when a
/// renewal is due, so a fresh stored token costs no request. With no stored session it asks
/// for a login rather than logging in behind the user's back.
pub struct ProfileSource {
    name: String,
    profile: Profile,
    store: Arc<dyn CredentialStore>,
    inner: OnceCell<Box<dyn TokenSource>>,
}

impl std::fmt::Debug for ProfileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSource")
            .field("profile", &self.name)
            .finish_non_exhaustive()
    }
}

impl ProfileSource {
    async fn inner(&self) -> authed::Result<&dyn TokenSource> {
        let source = self
            .inner
            .get_or_try_init(|| async {
                let endpoints = Endpoints::resolve(&self.profile)
                    .await
                    .map_err(|e| authed::Error::auth(e.message))?;
                let token_url = endpoints.token.ok_or_else(|| {
                    authed::Error::auth(format!(
                        "profile {:?} has no token endpoint (set issuer or token_url)",
                        self.name
                    ))
                })?;
                let client = oauth_client(&self.name, &self.profile, &*self.store, &token_url)
                    .await
                    .map_err(|e| authed::Error::auth(e.message))?;
                let source: Box<dyn TokenSource> = match self.profile.grant {
                    Grant::ClientCredentials => Box::new(
                        ClientCredentials::with_client(client)
                            .scopes(self.profile.scopes.iter().cloned()),
                    ),
                    Grant::Device | Grant::Browser | Grant::Token => {
                        Box::new(RefreshToken::new(client))
                    }
                };
                Ok::<_, authed::Error>(source)
            })
            .await?;
        Ok(&**source)
    }
}

#[authed::async_trait]
impl TokenSource for ProfileSource {
    async fn fetch(&self, current: Option<&Token>) -> authed::Result<Token> {
        let Some(current) = current else {
            return Err(authed::Error::reauth_required(format!(
                "not logged in to profile {:?}: run `authed login --profile {}`",
                self.name, self.name
            )));
        };
        if self.profile.grant == Grant::Token
            || (matches!(self.profile.grant, Grant::Device | Grant::Browser)
                && current.refresh_token().is_none())
        {
            return Err(authed::Error::reauth_required(format!(
                "the token of profile {:?} expired and cannot be renewed: run `authed login --profile {}`",
                self.name, self.name
            )));
        }
        self.inner().await?.fetch(Some(current)).await
    }

    fn label(&self) -> Cow<'static, str> {
        Cow::Owned(format!("authed profile {}", self.name))
    }
}

/// The profile's token cache over its stored session.
pub fn token_auth(name: &str, profile: &Profile, loaded: &Loaded) -> TokenAuth {
    let store = store(profile.store, loaded);
    let session = session_store(name, profile.store, store.clone(), loaded);
    TokenAuth::new(ProfileSource {
        name: name.to_owned(),
        profile: profile.clone(),
        store,
        inner: OnceCell::new(),
    })
    .store(session)
}

/// Reads a secret from stdin. At a terminal: a prompt, and one line typed without echo.
/// Otherwise (a pipe, a file): everything up to EOF, without the final line break. An empty
/// secret is an error. Read off the runtime's thread, so that Ctrl-C still interrupts.
pub async fn read_secret(what: &str) -> Result<Secret> {
    use std::io::{IsTerminal, Read};
    let text = if std::io::stdin().is_terminal() {
        ui::read_hidden_line(&format!("Enter the {what} (not shown): "))
            .await
            .map_err(|e| CliError::new(format!("reading the {what} from the terminal: {e}")))?
            .unwrap_or_default()
    } else {
        tokio::task::spawn_blocking(|| {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map(|_| text)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| CliError::new(format!("reading the {what} from stdin: {e}")))?
    };
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.trim().is_empty() {
        return Err(CliError::usage(format!("no {what} on stdin")));
    }
    let secret = Secret::from(trimmed.to_owned());
    // Best effort: the copy in `text` is dropped here; `Secret` zeroes its own on drop.
    drop(text);
    Ok(secret)
}
