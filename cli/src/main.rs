//! `authed`: log in once to an OAuth 2.0 server, print fresh tokens for scripts, call any API
//! with its credentials, retries and pacing. Built on the `authed` library's public API.

#![forbid(unsafe_code)]

mod cmd;
mod config;
mod error;
mod session;
mod ui;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::{
    config::{ClientAuthKind, Grant, StoreKind},
    error::exit,
};

/// Log in once, then call any authenticated API or script with fresh tokens.
#[derive(Debug, Parser)]
#[command(
    name = "authed",
    version,
    after_help = "Config: $AUTHED_CONFIG, else $XDG_CONFIG_HOME/authed/config.toml (~/.config/authed/config.toml).\n\
                  Profile: --profile, else $AUTHED_PROFILE, else the default profile, else the only one.\n\
                  Exit codes: 0 success (status: logged in); 1 failure (status: not logged in); 2 usage;\n\
                  request: 3/4/5 for a 3xx/4xx/5xx answer; 130 interrupted."
)]
struct Cli {
    /// The profile to use.
    #[arg(long, short = 'p', global = true, value_name = "NAME")]
    profile: Option<String>,
    /// Print data as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Show more: request and response headers (credentials redacted).
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage profiles (server, client, grant, API, store).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Log in: in a browser, by device flow, by client credentials, or a token on stdin
    /// (--with-token).
    Login(LoginArgs),
    /// Print a valid access token on stdout (refreshed first when needed), nothing else.
    Token,
    /// Show each profile's session: store, expiry, scopes, refresh token present.
    Status,
    /// Revoke the session at the server (when it can) and delete it from the store.
    Logout,
    /// Call the profile's API: `authed request GET items/42 q==rust X-Trace:1 name=ada n:=3`.
    Request(RequestArgs),
    /// Keep API keys in the keyring: `set` prompts at a terminal (without echo) or reads stdin,
    /// `get` prints to stdout.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Print a shell completion script: `authed completions bash > ~/.local/share/bash-completion/completions/authed`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Add a profile, or replace one with --force.
    Add(Box<ProfileAddArgs>),
    /// List the profiles.
    List,
    /// Show a profile (never a secret).
    Show {
        /// The profile (default: the current one).
        name: Option<String>,
    },
    /// Remove a profile, with its session and client secret.
    Rm {
        /// The profile.
        name: String,
    },
}

#[derive(Debug, Args)]
struct ProfileAddArgs {
    /// The profile's name.
    name: String,
    /// The authorization server's issuer (endpoints from discovery).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The token endpoint (instead of, or overriding, discovery's).
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
    /// The device authorization endpoint.
    #[arg(long, value_name = "URL")]
    device_url: Option<String>,
    /// The authorization endpoint (browser login).
    #[arg(long, value_name = "URL")]
    authorization_url: Option<String>,
    /// The browser login's loopback port, when the server accepts only a registered one
    /// (default: any free port).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    redirect_port: Option<u16>,
    /// The revocation endpoint.
    #[arg(long, value_name = "URL")]
    revocation_url: Option<String>,
    /// The OAuth client id.
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// How the client authenticates (default: none, or secret-basic with --client-secret-stdin).
    #[arg(long, value_enum)]
    client_auth: Option<ClientAuthKind>,
    /// Read the client secret from stdin and keep it in the profile's store.
    #[arg(long)]
    client_secret_stdin: bool,
    /// The PEM private key of private-key-jwt.
    #[arg(long, value_name = "PATH")]
    private_key_file: Option<PathBuf>,
    /// Its algorithm: RS256, PS256, ES256, ES384, EdDSA.
    #[arg(long, value_name = "ALG")]
    private_key_alg: Option<String>,
    /// Its key id (kid).
    #[arg(long, value_name = "KID")]
    key_id: Option<String>,
    /// A scope to ask for (repeat, or space-separated).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// How tokens are obtained.
    #[arg(long, value_enum, default_value = "device")]
    grant: Grant,
    /// The API's base URL for `authed request`.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Send the token in this header instead of Authorization: Bearer (API keys).
    #[arg(long, value_name = "HEADER")]
    api_key_header: Option<String>,
    /// Send the token as this query parameter instead (API keys).
    #[arg(long, value_name = "PARAM")]
    api_key_query: Option<String>,
    /// Where secrets go (default: keyring).
    #[arg(long, value_enum)]
    store: Option<StoreKind>,
    /// Keep secrets in a plain-text file beside the config (same as --store file).
    #[arg(long)]
    insecure_storage: bool,
    /// Make it the default profile.
    #[arg(long)]
    default: bool,
    /// Replace an existing profile of that name.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// Read a static token or API key from stdin (never from an argument: shell history).
    #[arg(long, conflicts_with_all = ["browser", "no_browser"])]
    with_token: bool,
    /// Log in in a browser (authorization code + PKCE, the redirect to a listener on
    /// 127.0.0.1), whatever the profile's grant; the default for `--grant browser` profiles.
    #[arg(long)]
    browser: bool,
    /// Do not open a browser: only print the URL to open (for a browser login).
    #[arg(long)]
    no_browser: bool,
    /// Keep the session in a plain-text file beside the config instead of the keyring (the
    /// profile's store becomes `file`).
    #[arg(long)]
    insecure_storage: bool,
}

#[derive(Debug, Args)]
struct RequestArgs {
    /// The HTTP method (GET, POST, ...).
    method: String,
    /// A path under the profile's base URL, or an absolute URL.
    url: String,
    /// `key=value` JSON string field, `key:=json` raw JSON field, `key==value` query
    /// parameter, `Header:value` header.
    items: Vec<String>,
    /// Send no credentials (no profile needed).
    #[arg(long)]
    no_auth: bool,
    /// Follow `Link: <...>; rel="next"` page after page (GET only). Prints one JSON array of
    /// all the pages' items when every page is a JSON array, else each page's JSON in turn.
    #[arg(long)]
    paginate: bool,
    /// With --paginate: stop after this many pages (a warning says when more remain).
    #[arg(long, value_name = "N", default_value_t = cmd::request::DEFAULT_MAX_PAGES,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_pages: u32,
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Store a secret: typed at the prompt (not echoed), or read from stdin.
    Set(SecretArgs),
    /// Print a secret on stdout.
    Get(SecretArgs),
    /// Delete a secret.
    Rm(SecretArgs),
}

#[derive(Debug, Args)]
struct SecretArgs {
    /// The secret's name.
    name: String,
    /// Use the plain-text file beside the config instead of the keyring.
    #[arg(long)]
    insecure_storage: bool,
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    };
    let code = runtime.block_on(run(cli));
    // Drop the runtime without waiting for the keyring's blocking calls.
    runtime.shutdown_background();
    std::process::exit(code);
}

/// Runs the command; Ctrl-C drops it (its spinner clears its line and shows the cursor, a
/// prompt gives the terminal its echo back) and exits with 130, unless the command is in a
/// shielded section (`ui::Shield`: writing a session), which it is then left to finish.
async fn run(cli: Cli) -> i32 {
    let cancelled = cancel_message(&cli.command);
    ui::Waits::global().set_verbose(cli.verbose);
    // Boxed, so that dropping it drops the command (and its spinner, its prompt) here.
    let mut command = Box::pin(dispatch(cli));
    loop {
        tokio::select! {
            biased;
            code = command.as_mut() => {
                ui::Waits::global().clear();
                return code;
            }
            signal = tokio::signal::ctrl_c() => {
                if signal.is_err() {
                    // No handler could be installed: Ctrl-C keeps its default (the process ends).
                    return command.await;
                }
                if !ui::Shield::is_up() {
                    break;
                }
            }
        }
    }
    drop(command);
    // The spinner of a wait is the process's, not the command's.
    ui::Waits::global().clear();
    eprintln!("{} {cancelled}", ui::Style::stderr().yellow("!"));
    exit::INTERRUPTED
}

/// What an interrupted command did and did not do.
fn cancel_message(command: &Command) -> &'static str {
    match command {
        Command::Login(_) => "login cancelled; nothing was stored",
        Command::Secret(SecretCommand::Set(_)) => "cancelled; nothing was stored",
        Command::Request(_) => "interrupted (the request may have reached the server)",
        _ => "interrupted",
    }
}

async fn dispatch(cli: Cli) -> i32 {
    let g = cmd::Global {
        profile: cli.profile,
        json: cli.json,
        verbose: cli.verbose,
    };
    let result = match cli.command {
        Command::Profile(ProfileCommand::Add(args)) => cmd::profile::add(&g, *args).await,
        Command::Profile(ProfileCommand::List) => cmd::profile::list(&g),
        Command::Profile(ProfileCommand::Show { name }) => {
            cmd::profile::show(&g, name.as_deref()).await
        }
        Command::Profile(ProfileCommand::Rm { name }) => cmd::profile::rm(&g, &name).await,
        Command::Login(args) => {
            let options = cmd::login::LoginOptions {
                with_token: args.with_token,
                insecure_storage: args.insecure_storage,
                browser: args.browser,
                open_browser: !args.no_browser,
            };
            cmd::login::login(&g, options).await
        }
        Command::Token => cmd::login::token(&g).await,
        Command::Status => cmd::login::status(&g).await,
        Command::Logout => cmd::login::logout(&g).await,
        Command::Request(args) => cmd::request::request(&g, &args).await,
        Command::Secret(SecretCommand::Set(a)) => {
            cmd::secret::set(&g, &a.name, a.insecure_storage).await
        }
        Command::Secret(SecretCommand::Get(a)) => {
            cmd::secret::get(&g, &a.name, a.insecure_storage).await
        }
        Command::Secret(SecretCommand::Rm(a)) => {
            cmd::secret::rm(&g, &a.name, a.insecure_storage).await
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "authed", &mut std::io::stdout());
            Ok(exit::OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let style = ui::Style::stderr();
            eprintln!("{} {}", style.red("error:"), e.message);
            e.code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
