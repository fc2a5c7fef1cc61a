//! A real browser for tests: headless Chromium (Debian's `chromium`), run as a child process
//! with a profile of its own in a temporary directory and its DevTools endpoint on 127.0.0.1
//! (the port chosen by Chromium), killed when dropped; and a driver that plays the user in it,
//! `tests/browser/login.mjs` (Node.js with chrome-remote-interface, pinned in
//! `tests/browser/package-lock.json`).
//!
//! ```ignore
//! #[path = "../../tests/support/chromium.rs"]
//! mod chromium;
//!
//! let browser = chromium::require().await; // fails the test if it cannot start
//! let page = browser
//!     .log_in(&authorize_url, "ada", chromium::Choice::Approve, &chromium::output_file("login.png"))
//!     .await?;
//! assert!(page.text.contains("Signed in"));
//! ```
//!
//! What it needs, and installs when missing, one process at a time (under a lock in `target/`):
//! - Chromium: `CHROMIUM` names the executable, else `chromium` (or `chromium-browser`,
//!   `google-chrome`) on `PATH`; with none, `apt-get install chromium` (as root, or with
//!   `sudo -n`), like nginx in `tests/support/limiters.rs`.
//! - The driver's packages: `npm ci --prefix tests/browser` (Node.js >= 18 with npm, which the
//!   OAuth test server needs anyway). `NODE` and `NPM` override the executables.
//!
//! A browser that cannot be had fails the test with the fix. Chromium runs with
//! `--headless=new --no-sandbox --disable-gpu` (containers, root), no first-run or background
//! networking, and a host resolver that resolves no name at all, so that it sends nothing off
//! this machine (pages that load web fonts from elsewhere just do without). Screenshots and
//! other files for people to look at go to `target/test-output/<name>` ([`output_file`]).

#![allow(dead_code)]

#[path = "apt.rs"]
mod apt;
#[path = "lock.rs"]
mod lock;
#[path = "npm.rs"]
mod npm;
#[path = "output.rs"]
mod output;
#[path = "tempdir.rs"]
mod tempdir;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

/// How long Chromium may take to open its DevTools endpoint (its first start in a fresh
/// profile takes a few seconds on a slow machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one run of the driver may take, all pages included (it bounds itself at 45 s).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the user does at the authorization server's consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Signs in and approves.
    Approve,
    /// Signs in and cancels (the redirect carries `error=access_denied`).
    Deny,
}

/// The page the browser ended on: the first one that is not on the authorization server.
#[derive(Debug, serde::Deserialize)]
pub struct Page {
    /// Its address.
    pub url: String,
    /// Its `<title>`.
    pub title: String,
    /// Its text, as a person sees it (`innerText`).
    pub text: String,
    /// Its HTML.
    pub html: String,
}

/// A running headless Chromium. Killed when dropped, and its profile directory removed.
pub struct Chromium {
    child: Child,
    port: u16,
    log: output::Log,
    /// Its profile (and home) directory, removed when it has ended.
    profile: tempdir::TempDir,
}

/// Starts Chromium, or fails the test saying why and what to do.
pub async fn require() -> Chromium {
    match Chromium::start().await {
        Ok(browser) => browser,
        Err(e) => panic!(
            "headless Chromium is needed and could not start: {e}\n\
             Fix: install Chromium (Debian: `apt-get install chromium`; the tests do it themselves \
             when run as root or with password-less sudo) or set CHROMIUM to its executable; and \
             Node.js >= 18 with npm for the driver (`npm ci --prefix tests/browser`, run by the \
             tests). Or opt out with AUTHED_TEST_SKIP=browser and run `bash scripts/test.sh`, which \
             reports these tests as skipped"
        ),
    }
}

/// `target/test-output/<name>`: a file for people to look at after the run (a screenshot). Its
/// directory is created.
pub fn output_file(name: &str) -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is under the target directory");
    let path = target.join("test-output").join(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    path
}

impl Chromium {
    /// Finds or installs Chromium and the driver's packages (see the module docs), starts it
    /// headless on `about:blank` and waits (at most 30 s) for its DevTools endpoint.
    pub async fn start() -> Result<Chromium, String> {
        let binary = tokio::task::spawn_blocking(chromium_binary)
            .await
            .map_err(|e| format!("finding Chromium panicked: {e}"))??;
        tokio::task::spawn_blocking(|| install_driver(root()))
            .await
            .map_err(|e| format!("installing the driver's packages panicked: {e}"))??;
        let profile = tempdir::TempDir::new("chromium");
        let data_dir = profile.path().join("profile");
        let mut command = Command::new(&binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--no-pings",
                "--password-store=basic",
                "--mute-audio",
                "--hide-scrollbars",
                "--window-size=1000,700",
                // No name resolves: nothing leaves this machine (IP literals such as 127.0.0.1
                // are not names).
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", data_dir.display()))
            .arg("about:blank")
            // Its own home: nothing of the user's (or of the tests' private keyring) is touched.
            .env("HOME", profile.path())
            .env("XDG_CONFIG_HOME", profile.path().join("config"))
            .env("XDG_CACHE_HOME", profile.path().join("cache"))
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| format!("could not run `{}`: {e}", binary.display()))?;
        let log = output::Log::default();
        log.drain(child.stdout.take().expect("stdout is piped"));
        log.drain(child.stderr.take().expect("stderr is piped"));
        // Chromium writes the port it chose to DevToolsActivePort in its profile.
        let port_file = data_dir.join("DevToolsActivePort");
        let started = tokio::time::Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(Ok(port)) = text.lines().next().map(str::parse::<u16>)
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "`{}` exited ({status}) before opening its DevTools endpoint; its output:\n{}",
                    binary.display(),
                    log.snapshot()
                ));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "`{}` did not open its DevTools endpoint within {START_TIMEOUT:?}; its output:\n{}",
                    binary.display(),
                    log.snapshot()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Ok(Chromium {
            child,
            port,
            log,
            profile,
        })
    }

    /// The DevTools endpoint's port on 127.0.0.1.
    pub fn devtools_port(&self) -> u16 {
        self.port
    }

    /// What Chromium wrote so far, for failure messages.
    pub fn logs(&self) -> String {
        self.log.snapshot()
    }

    /// Plays the user (see `tests/browser/login.mjs`): opens `authorize_url`, signs in at
    /// node-oidc-provider's login page as `user`, approves or cancels at its consent page, and
    /// follows the redirect back to the application. Returns the page it ends on (the first
    /// one not on the authorization server), whose screenshot is written to `screenshot`.
    pub async fn log_in(
        &self,
        authorize_url: &str,
        user: &str,
        choice: Choice,
        screenshot: &Path,
    ) -> Result<Page, String> {
        let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
        let mut command = Command::new(&node);
        command
            .arg(Path::new("tests").join("browser").join("login.mjs"))
            .args(["--port", &self.port.to_string()])
            .args(["--url", authorize_url])
            .args(["--user", user])
            .args([
                "--choice",
                match choice {
                    Choice::Approve => "approve",
                    Choice::Deny => "deny",
                },
            ])
            .arg("--screenshot")
            .arg(screenshot)
            .current_dir(root())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(DRIVER_TIMEOUT, command.output())
            .await
            .map_err(|_| format!("the browser driver did not finish within {DRIVER_TIMEOUT:?}"))?
            .map_err(|e| format!("could not run `{}`: {e}", node.to_string_lossy()))?;
        if !output.status.success() {
            return Err(format!(
                "the browser driver failed ({}):\n{}\nChromium's output:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                self.logs()
            ));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| {
            format!(
                "the browser driver printed no page ({e}):\n{}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

impl Drop for Chromium {
    /// Kills Chromium and waits (at most 5 s) for it to end, so that its profile directory can
    /// be removed: its helper processes end with it, and what they still write in the meantime
    /// is removed on a retry.
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..20 {
            if std::fs::remove_dir_all(self.profile.path()).is_ok() || !self.profile.path().exists()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The root of the authed repository, where `tests/browser/` is: the including crate's own
/// directory, or its parent for a workspace member (`cli/`).
fn root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(parent) if !manifest.join("tests/browser/login.mjs").is_file() => parent,
        _ => manifest,
    }
}

// --- The driver's packages -----------------------------------------------------------------

/// `npm ci --prefix tests/browser` unless it has been done; one process at a time.
fn install_driver(root: &Path) -> Result<(), String> {
    npm::ci(root, "tests/browser", "chrome-remote-interface")
}

// --- Chromium itself -----------------------------------------------------------------------

/// `CHROMIUM`, else Chromium on `PATH`; installed with apt-get if there is none.
fn chromium_binary() -> Result<PathBuf, String> {
    apt::any_program(
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
        "chromium",
        "CHROMIUM",
    )
}
