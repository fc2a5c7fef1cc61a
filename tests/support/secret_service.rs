//! A private Secret Service for tests: `scripts/secret-service.sh` starts a session D-Bus of
//! its own with an unlocked gnome-keyring in a temporary directory, and the test runs in a
//! child process of the test binary whose `DBUS_SESSION_BUS_ADDRESS` is that bus. The user's
//! own session bus and login keyring are never used: the child is given the private bus
//! whatever the caller's environment says, and checks that it got it.
//!
//! ```ignore
//! #[path = "support/secret_service.rs"]
//! mod secret_service;
//!
//! #[test]
//! fn round_trip() {
//!     secret_service::run("needs_secret_service::round_trip", async {
//!         // KeyringStore::secret_service(..) talks to the private keyring here
//!     });
//! }
//! ```
//!
//! A Secret Service that cannot be started fails the test with the fix; the only way around
//! that is to opt out with `AUTHED_TEST_SKIP=secret-service` and run `bash scripts/test.sh`,
//! which filters out the tests in `needs_secret_service` modules and counts them as skipped.
#![allow(dead_code)]

/// Included here (use it as `secret_service::child`): a test binary may load a file once.
#[path = "child.rs"]
pub mod child;
#[path = "lock.rs"]
mod lock;

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

/// Marks the private bus's address: the script's state directory is
/// `$TMPDIR/authed-secret-service.XXXXXX`, and the bus socket is in it.
const PRIVATE_MARK: &str = "/authed-secret-service.";

/// A running private Secret Service, stopped (bus, keyring and its files) when dropped.
pub struct PrivateSecretService {
    /// The bus address, for the child's `DBUS_SESSION_BUS_ADDRESS`.
    pub bus_address: String,
    env_file: PathBuf,
}

/// `scripts/secret-service.sh` of the authed repository: under the including crate's own
/// directory, or its parent's for a workspace member that includes this file (`cli/`).
fn script() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = |dir: &Path| dir.join("scripts").join("secret-service.sh");
    match manifest.parent() {
        Some(parent) if !script(manifest).is_file() => script(parent),
        _ => script(manifest),
    }
}

impl PrivateSecretService {
    /// Runs `scripts/secret-service.sh` (one process at a time: it may install packages with
    /// apt-get) and reads the bus address it prints.
    pub fn start() -> Result<Self, String> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let env_file = lock::dir().join(format!(
            "authed-secret-service-{}-{}.env",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        ));
        let _lock = lock::exclusive("secret-service-start")?;
        let output = Command::new("bash")
            .arg(script())
            .env("AUTHED_SECRET_SERVICE_ENV", &env_file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run bash {}: {e}", script().display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "{} failed ({}):\n{stderr}",
                script().display(),
                output.status
            ));
        }
        // From here on, dropping `service` stops what the script started.
        let mut service = Self {
            bus_address: String::new(),
            env_file,
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(bus_address) = stdout
            .lines()
            .find_map(|l| l.strip_prefix("export DBUS_SESSION_BUS_ADDRESS='"))
            .and_then(|rest| rest.strip_suffix('\''))
            .filter(|address| address.contains(PRIVATE_MARK))
        else {
            return Err(format!(
                "{} printed no private bus address:\n{stdout}\n{stderr}",
                script().display()
            ));
        };
        service.bus_address = bus_address.to_owned();
        Ok(service)
    }

    /// [`start`](Self::start), or fail the test saying why and what to do.
    pub fn require() -> Self {
        Self::start().unwrap_or_else(|e| {
            panic!(
                "a private Secret Service is needed and could not start: {e}\n\
                 Fix: install dbus-daemon, dbus-send and gnome-keyring (scripts/secret-service.sh \
                 does so with apt-get when run as root or with sudo), or opt out with \
                 AUTHED_TEST_SKIP=secret-service and run `bash scripts/test.sh`, which reports \
                 these tests as skipped"
            )
        })
    }
}

impl Drop for PrivateSecretService {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.env_file)
            .stdin(Stdio::null())
            .output();
    }
}

/// Runs the test `test` (its full name) with a private Secret Service: in this process, starts
/// one, runs `test` again in a child process on its bus, asserts that the child passed, and
/// stops the service; in that child, runs `body` on a tokio runtime.
#[track_caller]
pub fn run(test: &str, body: impl Future<Output = ()>) {
    if child::is_child(test) {
        let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default();
        assert!(
            address.contains(PRIVATE_MARK),
            "refusing to run on a session bus that is not the private one: {address:?}"
        );
        child::block_on(body);
        return;
    }
    let service = PrivateSecretService::require();
    let mut command = child::command(test);
    command.env("DBUS_SESSION_BUS_ADDRESS", &service.bus_address);
    child::run(command);
    drop(service);
}
