//! A real OAuth 2.0 / OpenID Connect authorization server for tests:
//! node-oidc-provider, configured by `tests/oidc/server.mjs`, run as a child
//! process on 127.0.0.1 with an ephemeral port.
//!
//! ```ignore
//! #[path = "support/oidc.rs"]
//! mod oidc;
//!
//! let server = oidc::require().await; // fails the test if it cannot start
//! let token_endpoint = server.url("/token");
//! ```
//!
//! Needs Node.js >= 18 with npm. The server's packages (pinned in
//! `tests/oidc/package-lock.json`) are installed by the first test that needs
//! them, with `npm ci --prefix tests/oidc` (one process at a time, under a lock
//! in `target/`). A server that cannot be had fails the test with the fix; the
//! only way around that is to opt out with `AUTHED_TEST_SKIP=oidc` and run
//! `bash scripts/test.sh`, which then filters these tests out (they are in
//! modules named `needs_oidc`) and counts them as skipped.
//!
//! What the server does (details and quirks are in the comments of
//! `tests/oidc/server.mjs`):
//! - clients [`CC_BASIC`] (client_secret_basic) and [`CC_POST`]
//!   (client_secret_post), both with secret [`CC_SECRET`], client_credentials
//!   only, scopes `api:read api:write`;
//! - public [`NATIVE`] (authorization code, PKCE S256 required, refresh;
//!   redirect `http://127.0.0.1:<any port>/callback`) and public [`DEVICE`]
//!   (device code, refresh);
//! - access tokens live [`ACCESS_TOKEN_TTL`] (3 s) and are opaque, or JWTs
//!   (`typ` `at+jwt`, `aud` [`TEST_API`]) when `resource=`[`TEST_API`] is
//!   requested; refresh tokens rotate on every use, and replaying a used one
//!   revokes the whole grant;
//! - the login/consent pages are oidc-provider's devInteractions, driven
//!   here without a browser by [`OidcServer::approve_authorization`] and
//!   [`OidcServer::approve_device`].

#![allow(dead_code)]

#[path = "lock.rs"]
mod lock;
#[path = "npm.rs"]
mod npm;
#[path = "output.rs"]
mod output;

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use authed::url::{Url, form_urlencoded};
use base64::Engine as _;
use reqwest::{
    Method, StatusCode,
    header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE},
};
use tokio::process::{Child, Command};

/// Secret of [`CC_BASIC`] and [`CC_POST`]. Contains `+ % / :` so that the
/// RFC 6749 §2.3.1 form-encoding of HTTP Basic credentials matters.
pub const CC_SECRET: &str = "s3cr+t%/:x";
/// Confidential client, `client_secret_basic`, client_credentials only.
pub const CC_BASIC: &str = "cc-basic";
/// Confidential client, `client_secret_post`, client_credentials only.
pub const CC_POST: &str = "cc-post";
/// Public native client: authorization_code (PKCE S256 required) + refresh_token.
pub const NATIVE: &str = "native";
/// Public client: device_code + refresh_token.
pub const DEVICE: &str = "device";
/// Public native client like [`NATIVE`], for which the server requires pushed
/// authorization requests (RFC 9126): an authorization request that was not
/// pushed is refused.
pub const NATIVE_PAR: &str = "native-par";
/// Environment of a server that requires PAR of every client (discovery says
/// `require_pushed_authorization_requests: true`): pass to
/// [`OidcServer::start_with_env`].
pub const REQUIRE_PAR_ENV: (&str, &str) = ("AUTHED_OIDC_REQUIRE_PAR", "1");
/// Path of [`NATIVE`]'s registered redirect URI `http://127.0.0.1/callback`;
/// any port is accepted on 127.0.0.1, localhost and [::1].
pub const NATIVE_REDIRECT_PATH: &str = "/callback";
/// Scopes [`CC_BASIC`] and [`CC_POST`] may ask for.
pub const CC_SCOPES: &str = "api:read api:write";
/// RFC 8707 resource indicator for which access tokens are JWTs.
pub const TEST_API: &str = "urn:authed:test-api";
/// Lifetime of every access token (`expires_in` is 3).
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3);
/// The device flow's grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

// Issue 12: clients that authenticate with a key (tests/oidc/server.mjs, same block there).
/// `private_key_jwt` client with RS256 and `tests/oidc/keys/rs256.pem` (kid `rs256-1`).
pub const PKJWT_RS256: &str = "pkjwt-rs256";
/// `private_key_jwt` client with ES256 and `tests/oidc/keys/es256.pem` (kid `es256-1`).
pub const PKJWT_ES256: &str = "pkjwt-es256";
/// `private_key_jwt` client with EdDSA and `tests/oidc/keys/ed25519.pem` (kid `ed25519-1`).
pub const PKJWT_EDDSA: &str = "pkjwt-eddsa";
/// `client_secret_jwt` client (HS256) with secret [`JWT_SECRET`].
pub const CSJWT: &str = "csjwt";
/// Secret of [`CSJWT`].
pub const JWT_SECRET: &str = "hs256-client-secret-of-44-bytes-for-tests!!!";

// --- DPoP (issue 12 item 3): clients whose tokens must be DPoP-bound; the server requires a
// nonce in every proof (tests/oidc/server.mjs, `withDpop`).
/// A public client (authorization code + PKCE, refresh) with `dpop_bound_access_tokens`.
pub const DPOP_NATIVE: &str = "dpop-native";
/// A confidential client (client credentials, `client_secret_basic` with [`CC_SECRET`]) with
/// `dpop_bound_access_tokens`.
pub const DPOP_CC: &str = "dpop-cc";
// --- end DPoP
// Issue 12, ID tokens: the server's signing key, chosen by file (tests/oidc/server.mjs, same
// block there).
/// The environment variable naming the server's ID token signing key, a file in
/// `tests/oidc/keys/` (kid: the file name without `.pem`).
pub const SIGNING_KEY_ENV: &str = "AUTHED_OIDC_SIGNING_KEY";

/// A test-only private key from `tests/oidc/keys/` (PEM text).
pub fn test_key(file: &str) -> String {
    let path = root().join("tests/oidc/keys").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The root of the authed repository, where `tests/oidc/` is: the including crate's own
/// directory, or its parent for a workspace member that includes this file (`cli/`).
pub fn root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(parent) if !manifest.join("tests/oidc/server.mjs").is_file() => parent,
        _ => manifest,
    }
}

/// The private JWK of a test key, as Node's crypto exports it (an independent encoder).
pub fn node_jwk(file: &str) -> serde_json::Value {
    let path = root().join("tests/oidc/keys").join(file);
    let script = "const c=require('node:crypto');const fs=require('node:fs');\
        process.stdout.write(JSON.stringify(c.createPrivateKey(fs.readFileSync(process.argv[1])).export({format:'jwk'})))";
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    let out = std::process::Command::new(node)
        .args(["-e", script])
        .arg(&path)
        .output()
        .expect("node (Node.js >= 18) is needed to export the test keys as JWK");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How long [`OidcServer::start`] waits for the server to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Per-request timeout of the browser stand-in.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most pages/redirects one approval may go through.
const MAX_STEPS: usize = 24;

/// The running server. Killed when dropped.
///
/// Start one per test (it takes well under a second): its output is drained
/// by tasks on the runtime that started it, so it should not outlive that
/// runtime (e.g. in a `static` shared by several `#[tokio::test]`s).
pub struct OidcServer {
    /// `http://127.0.0.1:PORT`, no trailing slash; discovery is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    child: Child,
    log: output::Log,
}

/// Starts the server, or fails the test saying why: see [`OidcServer::require`].
pub async fn require() -> OidcServer {
    OidcServer::require().await
}

/// Starts the server: see [`OidcServer::start`].
pub async fn start() -> Result<OidcServer, String> {
    OidcServer::start().await
}

/// Runs `npm ci --prefix tests/oidc` in `root` unless it has been done; one process at a
/// time.
fn install(root: &Path) -> Result<(), String> {
    npm::ci(root, "tests/oidc", "oidc-provider")
}

impl OidcServer {
    /// Installs the server's packages if needed (see the module docs), runs
    /// `node tests/oidc/server.mjs 0` from the crate root and waits (at most
    /// 20 s) for its `ISSUER http://127.0.0.1:PORT` line. The `NODE`
    /// environment variable overrides the `node` executable.
    pub async fn start() -> Result<OidcServer, String> {
        Self::start_with_env(&[]).await
    }

    /// [`start`](Self::start) with extra environment variables for the
    /// server (e.g. [`REQUIRE_PAR_ENV`]).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Result<OidcServer, String> {
        let root = root();
        tokio::task::spawn_blocking(|| install(root))
            .await
            .map_err(|e| format!("installing the server's packages panicked: {e}"))??;
        let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
        let mut command = Command::new(&node);
        command
            .arg(Path::new("tests").join("oidc").join("server.mjs"))
            .arg("0")
            .envs(env.iter().copied())
            .current_dir(root);
        let (child, issuer, log) =
            output::spawn_announcing(command, &node, "OIDC test server", "ISSUER ", START_TIMEOUT)
                .await?;
        Ok(OidcServer { issuer, child, log })
    }

    /// [`start`](Self::start), for tests that need the server: on failure the
    /// test fails, saying why and what to do.
    pub async fn require() -> OidcServer {
        Self::require_with_env(&[]).await
    }

    /// [`require`](Self::require) with extra environment variables for the
    /// server: see [`start_with_env`](Self::start_with_env).
    pub async fn require_with_env(env: &[(&str, &str)]) -> OidcServer {
        match Self::start_with_env(env).await {
            Ok(server) => server,
            Err(e) => panic!(
                "the OIDC test server (node-oidc-provider) is needed and could not start: {e}\n\
                 Fix: install Node.js >= 18 with npm (the tests run `npm ci --prefix tests/oidc` \
                 themselves), or opt out with AUTHED_TEST_SKIP=oidc and run `bash scripts/test.sh`, \
                 which reports these tests as skipped"
            ),
        }
    }

    /// `{issuer}{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        self.url("/.well-known/openid-configuration")
    }

    /// `{issuer}/auth` (oidc-provider's default route; also in discovery).
    pub fn authorization_endpoint(&self) -> String {
        self.url("/auth")
    }

    /// `{issuer}/token`.
    pub fn token_endpoint(&self) -> String {
        self.url("/token")
    }

    /// `{issuer}/device/auth` (RFC 8628 device authorization endpoint).
    pub fn device_authorization_endpoint(&self) -> String {
        self.url("/device/auth")
    }

    /// `{issuer}/token/revocation` (RFC 7009).
    pub fn revocation_endpoint(&self) -> String {
        self.url("/token/revocation")
    }

    /// `{issuer}/token/introspection` (RFC 7662).
    pub fn introspection_endpoint(&self) -> String {
        self.url("/token/introspection")
    }

    /// `{issuer}/me` (OIDC userinfo: `{"sub": user}` for opaque access
    /// tokens of an `openid` grant).
    pub fn userinfo_endpoint(&self) -> String {
        self.url("/me")
    }

    /// What the userinfo endpoint says of `access_token`: `Ok(sub)`, or the status of its
    /// refusal.
    pub async fn userinfo_sub(&self, access_token: &str) -> Result<String, u16> {
        let response = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("an HTTP client")
            .get(self.userinfo_endpoint())
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {}: {e}", self.userinfo_endpoint()));
        if !response.status().is_success() {
            return Err(response.status().as_u16());
        }
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap())
            .expect("userinfo answers JSON");
        Ok(body["sub"].as_str().expect("userinfo has a sub").to_owned())
    }

    /// What the server wrote to stdout/stderr so far (provider warnings,
    /// `server_error` stacks), for failure messages.
    pub fn logs(&self) -> String {
        self.log.snapshot()
    }

    /// Plays the user's browser for an authorization request: GETs
    /// `authorize_url`, follows redirects by hand carrying cookies, signs in
    /// as `user` (any name; devInteractions ignores the password), grants
    /// consent, and returns the final redirect to the client: the
    /// `Location` value, e.g.
    /// `http://127.0.0.1:PORT/callback?code=...&state=...&iss=...` (or with
    /// `error=` if the provider refused the request). That URL is NOT
    /// requested: see [`approve_and_deliver`](Self::approve_and_deliver).
    /// Each call is a fresh browser (no session), so it always signs in.
    pub async fn approve_authorization(
        &self,
        authorize_url: &str,
        user: &str,
    ) -> Result<String, String> {
        Browser::new(self, user, Choice::Approve)?
            .authorize(authorize_url)
            .await
    }

    /// [`approve_authorization`](Self::approve_authorization), then GETs the
    /// returned URL (as the browser would) so that a local listener on the
    /// redirect URI receives it. Returns the URL. Fails if nothing answers
    /// there.
    pub async fn approve_and_deliver(
        &self,
        authorize_url: &str,
        user: &str,
    ) -> Result<String, String> {
        let location = self.approve_authorization(authorize_url, user).await?;
        deliver(&location).await?;
        Ok(location)
    }

    /// Like [`approve_authorization`](Self::approve_authorization), but the
    /// user signs in and then cancels at the consent page. The returned
    /// redirect carries `error=access_denied`.
    pub async fn deny_authorization(
        &self,
        authorize_url: &str,
        user: &str,
    ) -> Result<String, String> {
        Browser::new(self, user, Choice::Deny)?
            .authorize(authorize_url)
            .await
    }

    /// Plays the user for the device flow: opens `{issuer}/device`, enters
    /// `user_code`, confirms, signs in as `user`, consents, and checks that
    /// the success page is shown. The device's next token poll then gets
    /// tokens.
    pub async fn approve_device(&self, user_code: &str, user: &str) -> Result<(), String> {
        Browser::new(self, user, Choice::Approve)?
            .device(user_code)
            .await
    }

    /// Like [`approve_device`](Self::approve_device), but the user aborts at
    /// the confirmation page; the device's next poll gets `access_denied`.
    pub async fn deny_device(&self, user_code: &str, user: &str) -> Result<(), String> {
        Browser::new(self, user, Choice::Deny)?
            .device(user_code)
            .await
    }
}

/// The `Authorization` header value for HTTP Basic client authentication as
/// RFC 6749 §2.3.1 defines it: id and secret each
/// application/x-www-form-urlencoded, joined with `:`, then base64.
pub fn client_secret_basic(client_id: &str, client_secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let joined = format!("{}:{}", enc(client_id), enc(client_secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(joined)
    )
}

/// `application/x-www-form-urlencoded` body from pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The query (or fragment) parameter `name` of `url`.
pub fn url_param(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    let from_query = url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    from_query.or_else(|| {
        form_urlencoded::parse(url.fragment()?.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// PKCE `code_challenge` for `code_verifier` with method S256 (RFC 7636
/// §4.2): BASE64URL-without-padding(SHA-256(ASCII(verifier))).
pub fn pkce_s256(code_verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(code_verifier.as_bytes()))
}

/// SHA-256 (the `sha2` crate: independent of authed's own PKCE code, which these checks are
/// about).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

// ---------------------------------------------------------------------------
// The browser stand-in

#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    Approve,
    Deny,
}

struct Browser {
    http: reqwest::Client,
    jar: Jar,
    issuer: Url,
    user: String,
    choice: Choice,
}

/// What to do next.
enum Step {
    Get(Url),
    Post(Url, String),
}

impl Browser {
    fn new(server: &OidcServer, user: &str, choice: Choice) -> Result<Browser, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let issuer = Url::parse(&server.issuer).map_err(|e| format!("bad issuer: {e}"))?;
        Ok(Browser {
            http,
            jar: Jar::default(),
            issuer,
            user: user.to_string(),
            choice,
        })
    }

    fn on_issuer(&self, url: &Url) -> bool {
        url.origin() == self.issuer.origin()
    }

    /// Sends one request with the jar's cookies; stores the response's.
    async fn fetch(&mut self, step: &Step) -> Result<(Url, StatusCode, HeaderMap, String), String> {
        let (method, url, body) = match step {
            Step::Get(url) => (Method::GET, url, None),
            Step::Post(url, body) => (Method::POST, url, Some(body.clone())),
        };
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(cookies) = self.jar.header_for(url) {
            request = request.header(COOKIE, cookies);
        }
        if let Some(body) = body {
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        self.jar.store(url, &headers);
        let text = response
            .text()
            .await
            .map_err(|e| format!("{method} {url}: reading body: {e}"))?;
        Ok((url.clone(), status, headers, text))
    }

    async fn authorize(mut self, authorize_url: &str) -> Result<String, String> {
        let start = Url::parse(authorize_url)
            .map_err(|e| format!("bad authorize URL {authorize_url:?}: {e}"))?;
        if !self.on_issuer(&start) {
            return Err(format!(
                "authorize URL {start} is not on the issuer {}",
                self.issuer
            ));
        }
        let redirect_uri = url_param(authorize_url, "redirect_uri");
        let mut step = Step::Get(start);
        for _ in 0..MAX_STEPS {
            let (url, status, headers, body) = self.fetch(&step).await?;
            if status.is_redirection() {
                let target = location(&url, &headers)?;
                let to_client = redirect_uri
                    .as_deref()
                    .is_some_and(|r| target.as_str().starts_with(r))
                    || !self.on_issuer(&target);
                if to_client {
                    return Ok(target.to_string());
                }
                step = Step::Get(target);
                continue;
            }
            step = self.next_from_page(&url, status, &body, None)?;
        }
        Err(format!(
            "authorization did not finish within {MAX_STEPS} steps"
        ))
    }

    async fn device(mut self, user_code: &str) -> Result<(), String> {
        let mut step = Step::Get(self.issuer.join("/device").expect("valid path"));
        for _ in 0..MAX_STEPS {
            let (url, status, headers, body) = self.fetch(&step).await?;
            if status.is_redirection() {
                let target = location(&url, &headers)?;
                if !self.on_issuer(&target) {
                    return Err(format!(
                        "device flow redirected off the issuer, to {target}"
                    ));
                }
                step = Step::Get(target);
                continue;
            }
            if status.is_success() && title(&body).as_deref() == Some("Sign-in Success") {
                return match self.choice {
                    Choice::Approve => Ok(()),
                    Choice::Deny => Err("device flow succeeded although the user aborted".into()),
                };
            }
            if self.choice == Choice::Deny && body.contains("The Sign-in request was interrupted") {
                return Ok(());
            }
            step = self.next_from_page(&url, status, &body, Some(user_code))?;
        }
        Err(format!(
            "device flow did not finish within {MAX_STEPS} steps"
        ))
    }

    /// Decides what a user would do on this page.
    fn next_from_page(
        &self,
        url: &Url,
        status: StatusCode,
        body: &str,
        user_code: Option<&str>,
    ) -> Result<Step, String> {
        if !status.is_success() {
            return Err(page_error(url, status, body));
        }
        for form in parse_forms(body) {
            let action = match &form.action {
                Some(action) => url
                    .join(action)
                    .map_err(|e| format!("bad form action {action:?} on {url}: {e}"))?,
                None => url.clone(),
            };
            if !self.on_issuer(&action) {
                return Err(format!(
                    "{url} shows a form posting to {action} (response_mode=form_post is not supported here)"
                ));
            }
            let has = |name: &str| form.inputs.iter().any(|i| i.name == name);
            let value_of = |name: &str| {
                form.inputs
                    .iter()
                    .find(|i| i.name == name)
                    .map(|i| i.value.as_str())
            };
            let hidden: Vec<(&str, &str)> = form
                .inputs
                .iter()
                .filter(|i| i.kind.eq_ignore_ascii_case("hidden"))
                .map(|i| (i.name.as_str(), i.value.as_str()))
                .collect();

            // devInteractions login: any name, password ignored.
            if value_of("prompt") == Some("login") && has("login") {
                let mut fields = hidden.clone();
                fields.push(("login", &self.user));
                fields.push(("password", "ignored-by-devInteractions"));
                return Ok(Step::Post(action, form_body(&fields)));
            }
            // devInteractions consent.
            if value_of("prompt") == Some("consent") {
                return match self.choice {
                    Choice::Approve => Ok(Step::Post(action, form_body(&hidden))),
                    Choice::Deny => {
                        let abort = find_abort_link(body).ok_or_else(|| {
                            format!("no [ Cancel ] link on the consent page {url}")
                        })?;
                        Ok(Step::Get(url.join(&abort).map_err(|e| e.to_string())?))
                    }
                };
            }
            // Device flow: user code entry.
            if form.id.as_deref() == Some("op.deviceInputForm")
                || (has("user_code") && !has("confirm"))
            {
                let Some(code) = user_code else {
                    return Err(format!("unexpected user code form on {url}"));
                };
                if let Some(msg) = red_message(body) {
                    return Err(format!("{url}: {msg}"));
                }
                let mut fields: Vec<(&str, &str)> = hidden
                    .iter()
                    .copied()
                    .filter(|(n, _)| *n != "user_code")
                    .collect();
                fields.push(("user_code", code));
                return Ok(Step::Post(action, form_body(&fields)));
            }
            // Device flow: "is this the code on your device?" confirmation.
            if form.id.as_deref() == Some("op.deviceConfirmForm") || has("confirm") {
                let mut fields = hidden.clone();
                if self.choice == Choice::Deny {
                    fields.retain(|(n, _)| *n != "confirm");
                    fields.push(("abort", "yes"));
                }
                return Ok(Step::Post(action, form_body(&fields)));
            }
        }
        Err(page_error(url, status, body))
    }
}

async fn deliver(location: &str) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let response = http
        .get(location)
        .send()
        .await
        .map_err(|e| format!("delivering the redirect to {location}: {e}"))?;
    // Read the body so the listener sees a complete exchange.
    let _ = response.bytes().await;
    Ok(())
}

fn location(url: &Url, headers: &HeaderMap) -> Result<Url, String> {
    let value = headers
        .get(LOCATION)
        .ok_or_else(|| format!("redirect from {url} without Location"))?
        .to_str()
        .map_err(|_| format!("non-ASCII Location from {url}"))?;
    url.join(value)
        .map_err(|e| format!("bad Location {value:?} from {url}: {e}"))
}

fn form_body(fields: &[(&str, &str)]) -> String {
    form(fields)
}

fn page_error(url: &Url, status: StatusCode, body: &str) -> String {
    let detail = element_text(body, "<pre id=\"error\">", "</pre>")
        .or_else(|| red_message(body))
        .or_else(|| title(body))
        .unwrap_or_else(|| body.chars().take(300).collect());
    format!("unexpected page {url} ({status}): {detail}")
}

fn title(body: &str) -> Option<String> {
    element_text(body, "<title>", "</title>")
}

fn red_message(body: &str) -> Option<String> {
    element_text(body, "<p class=\"red\">", "</p>")
}

fn element_text(body: &str, open: &str, close: &str) -> Option<String> {
    let start = body.find(open)? + open.len();
    let end = body[start..].find(close)? + start;
    Some(decode_entities(body[start..end].trim()))
}

fn find_abort_link(body: &str) -> Option<String> {
    let mut rest = body;
    while let Some(i) = rest.find("<a ") {
        let tag = &rest[i + 1..];
        let end = tag_end(tag)?;
        let attrs = parse_attributes(&tag[1..end]);
        if let Some((_, href)) = attrs.iter().find(|(k, _)| k == "href")
            && href.ends_with("/abort")
        {
            return Some(href.clone());
        }
        rest = &tag[end..];
    }
    None
}

// ---------------------------------------------------------------------------
// Minimal HTML form parsing (enough for oidc-provider's own pages)

struct Form {
    id: Option<String>,
    action: Option<String>,
    inputs: Vec<Input>,
}

struct Input {
    name: String,
    value: String,
    kind: String,
}

fn parse_forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<form") {
        let tag = &rest[i + 1..];
        let Some(end) = tag_end(tag) else { break };
        let attrs = parse_attributes(&tag["form".len()..end]);
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let inner_start = end + 1;
        let inner_end = tag[inner_start..]
            .find("</form>")
            .map_or(tag.len(), |j| inner_start + j);
        let inner = &tag[inner_start..inner_end];
        let mut inputs = Vec::new();
        let mut scan = inner;
        while let Some(j) = scan.find("<input") {
            let input = &scan[j + 1..];
            let Some(input_end) = tag_end(input) else {
                break;
            };
            let attrs = parse_attributes(&input["input".len()..input_end]);
            let get_input = |name: &str| {
                attrs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            if let Some(name) = get_input("name") {
                inputs.push(Input {
                    name,
                    value: get_input("value").unwrap_or_default(),
                    kind: get_input("type").unwrap_or_else(|| "text".into()),
                });
            }
            scan = &input[input_end..];
        }
        forms.push(Form {
            id: get("id"),
            action: get("action"),
            inputs,
        });
        rest = &tag[inner_end.min(tag.len())..];
    }
    forms
}

/// Index of the `>` closing a tag (quotes respected); `tag` starts after `<`.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// `name="value" name='value' name=value name` -> pairs (names lowercased,
/// values entity-decoded).
fn parse_attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == '/') {
            i += 1;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' && chars[i] != '/' {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let name: String = chars[start..i]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i < chars.len() && (chars[i] == '"' || chars[i] == '\'') {
                let q = chars[i];
                i += 1;
                let v0 = i;
                while i < chars.len() && chars[i] != q {
                    i += 1;
                }
                value = chars[v0..i].iter().collect();
                i += 1;
            } else {
                let v0 = i;
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                value = chars[v0..i].iter().collect();
            }
        }
        out.push((name, decode_entities(&value)));
    }
    out
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let decoded = after.find(';').filter(|&j| j <= 8).and_then(|j| {
            let entity = &after[..j];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, j))
        });
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &after[j + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// Cookies, by hand (reqwest's `cookies` feature is off)

#[derive(Default)]
struct Jar {
    cookies: Vec<StoredCookie>,
}

struct StoredCookie {
    name: String,
    value: String,
    path: String,
}

impl Jar {
    /// Applies the response's `Set-Cookie` headers (host-only cookies; all
    /// traffic is to the issuer's single origin).
    fn store(&mut self, url: &Url, headers: &HeaderMap) {
        for header in headers.get_all(SET_COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            if name.is_empty() {
                continue;
            }
            let mut path = None;
            let mut expired = false;
            for attr in parts {
                let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
                let (key, val) = (key.trim().to_ascii_lowercase(), val.trim());
                match key.as_str() {
                    "path" if val.starts_with('/') => path = Some(val.to_string()),
                    "max-age" => expired |= val.parse::<i64>().is_ok_and(|secs| secs <= 0),
                    "expires" => {
                        expired |=
                            httpdate::parse_http_date(val).is_ok_and(|t| t <= SystemTime::now());
                    }
                    _ => {}
                }
            }
            let path = path.unwrap_or_else(|| default_path(url.path()));
            self.cookies.retain(|c| !(c.name == name && c.path == path));
            if !expired {
                self.cookies.push(StoredCookie { name, value, path });
            }
        }
    }

    /// The `Cookie` header for a request to `url` (RFC 6265 §5.4: longest
    /// path first).
    fn header_for(&self, url: &Url) -> Option<String> {
        let mut matching: Vec<&StoredCookie> = self
            .cookies
            .iter()
            .filter(|c| path_matches(url.path(), &c.path))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => request_path[..i].to_string(),
    }
}

fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/'))
}

// ---------------------------------------------------------------------------
// Issue 12, ID tokens: a server restarted on the port of another (a key rotation keeps the
// issuer, which carries the port).

impl OidcServer {
    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.issuer
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the issuer ends with the port")
    }

    /// Stops the server and waits for its process to end (its port is then free).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts the server on `port` (a port a stopped server used) with `env`; retries for a
    /// few seconds while the port is still taken. Fails the test if it cannot start.
    pub async fn require_on_port(port: u16, env: &[(&str, &str)]) -> OidcServer {
        let root = root();
        let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
        let mut last = String::new();
        for _ in 0..20 {
            let mut command = Command::new(&node);
            command
                .arg(Path::new("tests").join("oidc").join("server.mjs"))
                .arg(port.to_string())
                .envs(env.iter().copied())
                .current_dir(root);
            match output::spawn_announcing(
                command,
                &node,
                "OIDC test server",
                "ISSUER ",
                START_TIMEOUT,
            )
            .await
            {
                Ok((child, issuer, log)) => return OidcServer { issuer, child, log },
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the OIDC test server could not start again on port {port}: {last}")
    }
}
