//! `authed login`, `token`, `status`, `logout`: a profile's session.

use std::{
    cell::RefCell,
    process::{Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use authed::{
    ExposeSecret,
    oauth2::{
        AuthorizationCode, ClientCredentials, DEFAULT_LOGIN_TIMEOUT, DeviceAuthorization,
        DeviceCode, LoopbackPages, OAuthClient, Token, TokenSource, TokenStore,
    },
    store::{CredentialStore, Persistence},
    url::Url,
};
use serde_json::json;

use crate::{
    cmd::{Global, print_json},
    config::{Grant, Loaded, Profile, StoreKind, grant_name},
    error::{CliError, Result, exit},
    session::{self, Endpoints},
    ui::{Shield, Spinner, Style, human},
};

/// What `authed login` was asked to do.
#[derive(Clone, Copy, Debug)]
pub struct LoginOptions {
    /// `--with-token`: a static token from stdin.
    pub with_token: bool,
    /// `--insecure-storage`: the profile's store becomes the file.
    pub insecure_storage: bool,
    /// `--browser`: the browser login, whatever the profile's grant.
    pub browser: bool,
    /// Open a browser for the browser login (not `--no-browser`).
    pub open_browser: bool,
}

/// `authed login`.
pub async fn login(g: &Global, options: LoginOptions) -> Result<i32> {
    let mut loaded = Loaded::load()?;
    let (name, mut profile) = loaded.resolve(g.profile.as_deref())?;
    let style = Style::stderr();
    if options.browser && matches!(profile.grant, Grant::ClientCredentials | Grant::Token) {
        return Err(CliError::usage(format!(
            "profile {name:?} uses the {} grant, which logs no user in: --browser goes with \
             device and browser profiles",
            grant_name(profile.grant)
        )));
    }
    if options.insecure_storage && profile.store != StoreKind::File {
        profile.store = StoreKind::File;
        loaded.config.profiles.insert(name.clone(), profile.clone());
        loaded.save()?;
        eprintln!(
            "{} profile {name} now keeps its session in {} (plain text: insecure storage)",
            style.yellow("!"),
            loaded.dir().join(session::CREDENTIALS_FILE).display()
        );
    }
    let store = session::store(profile.store, &loaded);
    let token = if options.with_token {
        Token::bearer(session::read_secret("token").await?)
    } else {
        let grant = if options.browser {
            Grant::Browser
        } else {
            profile.grant
        };
        match grant {
            Grant::Token => {
                return Err(CliError::usage(format!(
                    "profile {name:?} takes a static token: `authed login --profile {name} --with-token < token.txt`"
                )));
            }
            Grant::Device => device_login(&name, &profile, &*store).await?,
            Grant::Browser => browser_login(&name, &profile, &*store, options.open_browser).await?,
            Grant::ClientCredentials => {
                let endpoints = Endpoints::resolve(&profile).await?;
                let token_url = endpoints.token.ok_or_else(|| {
                    CliError::usage(format!("profile {name:?} has no token endpoint"))
                })?;
                let client = session::oauth_client(&name, &profile, &*store, &token_url).await?;
                ClientCredentials::with_client(client)
                    .scopes(profile.scopes.iter().cloned())
                    .fetch(None)
                    .await?
            }
        }
    };
    let session = session::session_store(&name, profile.store, store.clone(), &loaded);
    // Ctrl-C now would leave half a session (one entry of several): let the save finish.
    let shield = Shield::up();
    let saved = session.save(&token).await;
    drop(shield);
    saved.map_err(|e| {
        CliError::from(e).context(
            "logged in, but the session could not be stored (try --insecure-storage to keep it in a file)",
        )
    })?;
    let who = token
        .id_token_claims()
        .map(|c| format!(" as {}", c.sub))
        .unwrap_or_default();
    eprintln!(
        "{} logged in to {}{who}",
        style.green("✓"),
        style.bold(&name)
    );
    let status = store.status();
    eprintln!("  session kept in {status}");
    if status.persistence == Persistence::UntilReboot {
        eprintln!(
            "{} the {} forgets it at reboot: log in again then, or use --insecure-storage",
            style.yellow("!"),
            status.backend
        );
    }
    Ok(exit::OK)
}

/// The profile's endpoints and an OAuth client for its token endpoint.
async fn endpoints_and_client(
    name: &str,
    profile: &Profile,
    store: &dyn CredentialStore,
) -> Result<(Endpoints, OAuthClient)> {
    let endpoints = Endpoints::resolve(profile).await?;
    let token_url = endpoints
        .token
        .clone()
        .ok_or_else(|| CliError::usage(format!("profile {name:?} has no token endpoint")))?;
    let client = session::oauth_client(name, profile, store, &token_url).await?;
    Ok((endpoints, client))
}

/// The device flow: the code on stderr, a spinner while polling. Ctrl-C drops this future
/// (`main`): nothing is stored until `login` has the token.
async fn device_login(name: &str, profile: &Profile, store: &dyn CredentialStore) -> Result<Token> {
    let (endpoints, client) = endpoints_and_client(name, profile, store).await?;
    let flow = match (&profile.device_url, &endpoints.metadata) {
        // Discovery's flow validates ID tokens against the server's keys.
        (None, Some(metadata)) => metadata.device(client)?,
        _ => DeviceAuthorization::new(
            client,
            endpoints.device.as_deref().ok_or_else(|| {
                CliError::usage(format!(
                    "profile {name:?} has no device authorization endpoint"
                ))
            })?,
        ),
    }
    .scopes(profile.scopes.iter().cloned());
    let code = flow.start().await?;
    show_code(&code);
    let deadline = tokio::time::Instant::now() + code.expires_in;
    let spinner = Spinner::start("Waiting for you to approve the login", deadline);
    let result = flow.poll(&code).await;
    spinner.stop().await;
    result.map_err(login_failed)
}

/// The browser login: authorization code + PKCE, the redirect to a listener on 127.0.0.1
/// (`AuthorizationCode::login_loopback`). The URL always goes to stderr; the browser is opened
/// unless `open_browser` is false. Ctrl-C drops this future (`main`; the listener closes with
/// it): nothing is stored until `login` has the token.
async fn browser_login(
    name: &str,
    profile: &Profile,
    store: &dyn CredentialStore,
    open_browser: bool,
) -> Result<Token> {
    let (endpoints, client) = endpoints_and_client(name, profile, store).await?;
    let flow = match (&profile.authorization_url, &endpoints.metadata) {
        // Discovery's flow checks `iss` (RFC 9207), validates ID tokens and knows about PAR.
        (None, Some(metadata)) => metadata.authorization_code(client)?,
        _ => AuthorizationCode::new(
            client,
            endpoints.authorization.as_deref().ok_or_else(|| {
                CliError::usage(format!(
                    "profile {name:?} has no authorization endpoint: add --issuer or \
                     --authorization-url"
                ))
            })?,
        ),
    }
    .scopes(profile.scopes.iter().cloned())
    .loopback_pages(
        LoopbackPages::default()
            .success_hint("You can close this tab and return to the terminal.")
            .failure_hint("Return to the terminal: it says what to do next."),
    );
    // OpenID Connect Core §11: a request for offline_access (a refresh token) must ask for
    // consent, or the server may drop the scope.
    let flow = if profile.scopes.iter().any(|s| s == "offline_access") {
        flow.param("prompt", "consent")
    } else {
        flow
    };
    let deadline = tokio::time::Instant::now() + DEFAULT_LOGIN_TIMEOUT;
    let spinner = RefCell::new(None);
    let open = |url: &Url| {
        show_url(url, open_browser);
        *spinner.borrow_mut() = Some(Spinner::start(
            "Waiting for the login in the browser",
            deadline,
        ));
    };
    let port = profile.redirect_port.unwrap_or(0);
    let result = flow.login_loopback(port, DEFAULT_LOGIN_TIMEOUT, open).await;
    if let Some(spinner) = spinner.take() {
        spinner.stop().await;
    }
    result.map_err(login_failed)
}

/// Prints the URL of the browser login, and opens it unless `open_browser` is false.
fn show_url(url: &Url, open_browser: bool) {
    let style = Style::stderr();
    eprintln!("{} Open this URL to log in: {url}", style.yellow("!"));
    if !open_browser {
        return;
    }
    match open_in_browser(url.as_str()) {
        Ok(()) => eprintln!("  {}", style.dim("(opening it in your browser)")),
        Err(e) => eprintln!("  could not open a browser ({e}): open the URL yourself"),
    }
}

/// Starts the user's browser on `url`: each command of `$BROWSER` in turn (`:`-separated, as
/// sensible-browser reads it; `%s` stands for the URL, else it goes last), else the system's
/// opener. Does not wait: an opener may run as long as the browser it starts. An opener that
/// starts and then fails says so on stderr when it exits. The opener gets its own process group
/// (Ctrl-C at the terminal does not close the browser) and no terminal output.
fn open_in_browser(url: &str) -> std::result::Result<(), String> {
    let commands: Vec<Vec<String>> = match std::env::var("BROWSER") {
        Ok(list) if !list.trim().is_empty() => list
            .split(':')
            .map(|command| {
                let mut words: Vec<String> =
                    command.split_whitespace().map(str::to_owned).collect();
                if words.iter().any(|w| w.contains("%s")) {
                    for word in &mut words {
                        *word = word.replace("%s", url);
                    }
                } else if !words.is_empty() {
                    words.push(url.to_owned());
                }
                words
            })
            .filter(|words| !words.is_empty())
            .collect(),
        _ => vec![system_opener(url)],
    };
    let mut failures = vec![];
    for words in commands {
        let (program, args) = words.split_first().expect("not empty");
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        match command.spawn() {
            Ok(mut child) => {
                let program = program.clone();
                std::thread::spawn(move || {
                    if let Ok(status) = child.wait()
                        && !status.success()
                    {
                        eprintln!(
                            "  {program} could not open a browser ({status}): open the URL yourself"
                        );
                    }
                });
                return Ok(());
            }
            Err(e) => failures.push(format!("{program}: {e}")),
        }
    }
    Err(failures.join("; "))
}

/// The system's command that opens a URL in the default browser.
fn system_opener(url: &str) -> Vec<String> {
    let words: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        // Not `cmd /c start`: cmd would split the URL at its `&`s.
        &["rundll32", "url.dll,FileProtocolHandler"]
    } else {
        &["xdg-open"]
    };
    words
        .iter()
        .map(|w| (*w).to_owned())
        .chain([url.to_owned()])
        .collect()
}

/// What a failed interactive login (device or browser) tells the user.
fn login_failed(e: authed::Error) -> CliError {
    match e.oauth_error().map(|o| o.code.as_str()) {
        Some("access_denied") => {
            CliError::new("the login was denied at the authorization server; nothing was stored")
        }
        Some("expired_token") => CliError::new(
            "the code expired before the login was approved: run `authed login` again",
        ),
        _ if matches!(e, authed::Error::Authorization { .. }) => {
            CliError::new(format!("{}: run `authed login` again", CliError::from(e)))
        }
        _ => CliError::from(e),
    }
}

fn show_code(code: &DeviceCode) {
    let style = Style::stderr();
    eprintln!(
        "{} First copy your one-time code: {}",
        style.yellow("!"),
        style.bold(&code.user_code)
    );
    eprintln!("  Then open: {}", style.bold(&code.verification_uri));
    if let Some(complete) = &code.verification_uri_complete {
        eprintln!("  (or, with the code filled in: {complete})");
    }
    eprintln!(
        "  {}",
        style.dim(&format!("The code expires in {}.", human(code.expires_in)))
    );
}

/// `authed token`: a valid access token on stdout, nothing else.
pub async fn token(g: &Global) -> Result<i32> {
    let loaded = Loaded::load()?;
    let (name, profile) = loaded.resolve(g.profile.as_deref())?;
    let auth = session::token_auth(&name, &profile, &loaded);
    let token = auth.token().await.map_err(|e| {
        if e.is_reauth_required() {
            CliError::new(CliError::from(e).message)
        } else {
            CliError::from(e).context(format!("profile {name}"))
        }
    })?;
    if g.json {
        print_json(&json!({
            "access_token": token.access_token().expose_secret(),
            "token_type": token.token_type(),
            "expires_at": token.expires_at().map(unix),
            "scope": token.scope(),
        }));
    } else {
        println!("{}", token.access_token().expose_secret());
    }
    Ok(exit::OK)
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `authed status`: every profile (or the one named), from the store alone: no request, no
/// refresh. Exit code 0 when every profile shown is logged in.
pub async fn status(g: &Global) -> Result<i32> {
    let loaded = Loaded::load()?;
    let names: Vec<String> = match &g.profile {
        Some(_) => vec![loaded.resolve(g.profile.as_deref())?.0],
        None => loaded.config.profiles.keys().cloned().collect(),
    };
    if names.is_empty() {
        return Err(CliError::new(
            "no profile yet: create one with `authed profile add NAME ...`",
        ));
    }
    let style = Style::stderr();
    let mut all_logged_in = true;
    let mut rows = vec![];
    for name in names {
        let profile = loaded.config.profiles[&name].clone();
        let store = session::store(profile.store, &loaded);
        let session = session::session_store(&name, profile.store, store.clone(), &loaded);
        let loaded_token = session.load().await;
        // After the first call, the store knows which backend it chose.
        let store_status = store.status();
        let now = SystemTime::now();
        let (logged_in, detail) = match &loaded_token {
            Ok(Some(t)) => {
                let expired = t.expires_at().is_some_and(|at| at <= now);
                let renewable =
                    t.refresh_token().is_some() || profile.grant == Grant::ClientCredentials;
                (!expired || renewable, None)
            }
            Ok(None) => (false, None),
            Err(e) => (false, Some(crate::error::describe(e))),
        };
        all_logged_in &= logged_in;
        let token = loaded_token.ok().flatten();
        let expires_at = token.as_ref().and_then(Token::expires_at);
        let scopes: Vec<String> = token
            .as_ref()
            .and_then(|t| t.scope())
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let refresh = token.as_ref().is_some_and(|t| t.refresh_token().is_some());
        if g.json {
            rows.push(json!({
                "profile": name,
                "logged_in": logged_in,
                "store": {
                    "backend": store_status.backend,
                    "persistence": format!("{:?}", store_status.persistence),
                    "survives_reboot": store_status.persistence == Persistence::Persistent,
                    "insecure": store_status.insecure,
                },
                "expires_at": expires_at.map(unix),
                "scopes": scopes,
                "refresh_token": refresh,
                "error": detail,
            }));
            continue;
        }
        let mark = if logged_in {
            style.green("✓")
        } else {
            style.red("✗")
        };
        eprintln!(
            "{mark} {}: {}",
            style.bold(&name),
            if logged_in {
                "logged in"
            } else {
                "not logged in"
            }
        );
        eprintln!("  store: {store_status}");
        if store_status.persistence != Persistence::Persistent {
            eprintln!(
                "  {}",
                style.yellow("the session does not survive a reboot")
            );
        }
        if let Some(detail) = detail {
            eprintln!("  {}", style.red(&detail));
        }
        if token.is_some() {
            match expires_at {
                Some(at) => match at.duration_since(now) {
                    Ok(left) => eprintln!("  access token expires in {}", human(left)),
                    Err(e) => eprintln!(
                        "  access token expired {} ago{}",
                        human(e.duration()),
                        if refresh {
                            " (renewed at next use)"
                        } else {
                            ""
                        }
                    ),
                },
                None => eprintln!("  access token: no known expiry"),
            }
            eprintln!(
                "  scopes: {}",
                if scopes.is_empty() {
                    "-".to_owned()
                } else {
                    scopes.join(" ")
                }
            );
            eprintln!(
                "  refresh token: {}",
                if refresh { "present" } else { "none" }
            );
        } else if !logged_in {
            eprintln!("  run `authed login --profile {name}`");
        }
    }
    if g.json {
        print_json(&json!(rows));
    }
    Ok(if all_logged_in {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// `authed logout`: revokes the refresh token, then the access token, at the revocation
/// endpoint when there is one (a failure is reported, and the session is deleted anyway), then
/// deletes the session.
pub async fn logout(g: &Global) -> Result<i32> {
    let loaded = Loaded::load()?;
    let (name, profile) = loaded.resolve(g.profile.as_deref())?;
    let store = session::store(profile.store, &loaded);
    let session = session::session_store(&name, profile.store, store.clone(), &loaded);
    let style = Style::stderr();
    let Some(token) = session.load().await? else {
        eprintln!("{name}: not logged in; nothing to do");
        return Ok(exit::OK);
    };
    if profile.grant != Grant::Token {
        match revoke(&name, &profile, &*store, &token).await {
            Ok(true) => eprintln!("{} tokens revoked at the server", style.green("✓")),
            Ok(false) => eprintln!(
                "  the server has no revocation endpoint: the tokens stay valid until they expire"
            ),
            Err(e) => eprintln!(
                "{} revoking at the server failed ({e}); deleting the session anyway",
                style.yellow("!")
            ),
        }
    }
    session.clear().await?;
    eprintln!("{} logged out of {}", style.green("✓"), style.bold(&name));
    Ok(exit::OK)
}

/// Revokes `token`'s refresh token (which usually ends the grant) and access token; `false`
/// when the server has no revocation endpoint.
async fn revoke(
    name: &str,
    profile: &Profile,
    store: &dyn CredentialStore,
    token: &Token,
) -> Result<bool> {
    let endpoints = Endpoints::resolve(profile).await?;
    let (Some(revocation), Some(token_url)) = (endpoints.revocation, endpoints.token) else {
        return Ok(false);
    };
    let client = session::oauth_client(name, profile, store, &token_url).await?;
    if let Some(refresh) = token.refresh_token() {
        client.revoke(&revocation, refresh, "refresh_token").await?;
    }
    client
        .revoke(&revocation, token.access_token(), "access_token")
        .await?;
    Ok(true)
}
