//! [`KeyringStore`]: secrets in the operating system's keyring, through `keyring-core` and a
//! store crate chosen per platform.
//!
//! `keyring`'s own default (`v1`) is not used: on Linux it picks only the Secret Service and
//! caches a `NoDefaultStore` failure for the life of the process. Here the backend is chosen
//! by a write/read/delete probe on first use, a failed probe is retried later, and every call
//! runs off the async runtime under [`STORE_TIMEOUT`].
//!
//! `keyring-core`'s error `Debug` prints raw secret bytes (`BadEncoding(Vec<u8>)`), so its
//! errors are never formatted: [`map_error`] matches the variants and writes its own messages.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use keyring_core::{CredentialStore as CoreStore, Entry, Error as CoreError};
use secrecy::{ExposeSecret, zeroize::Zeroize as _};

#[cfg(feature = "file-store")]
use crate::store::FileStore;
use crate::{
    Secret,
    error::{Error, Result, StoreErrorKind},
    store::{CredentialStore, Persistence, STORE_TIMEOUT, StoreStatus},
};

/// How long a failed probe is remembered before the next call probes again.
const RETRY_PROBE_AFTER: Duration = Duration::from_secs(30);

/// The fixes that errors name mention `FileStore`; built without it, they also name the cargo
/// feature that brings it in.
#[cfg(feature = "file-store")]
macro_rules! file_store_feature {
    () => {
        ""
    };
}
#[cfg(not(feature = "file-store"))]
macro_rules! file_store_feature {
    () => {
        " (cargo feature `file-store`)"
    };
}

/// "a FileStore", as a fix an error names.
macro_rules! a_file_store {
    () => {
        concat!("a FileStore", file_store_feature!())
    };
}

/// The last fix named when no keyring backend works and the file fallback was not chosen.
const OPT_IN_TO_THE_FILE: &str = concat!(
    ". Or, to keep secrets as plain text in a file readable by anything running as this user (insecure storage), opt in with KeyringStore::insecure_file_fallback(FileStore::for_app(\"<app>\")?)",
    file_store_feature!()
);

/// A keyring backend [`KeyringStore`] can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyringBackend {
    /// The Secret Service on the session D-Bus (gnome-keyring, KWallet): Linux and the BSDs.
    /// Keeps secrets until deleted.
    SecretService,
    /// The Linux kernel keyring (keyutils). Keeps secrets in kernel memory: they are lost
    /// when the machine restarts.
    Kernel,
    /// The macOS Keychain.
    Keychain,
    /// Windows Credential Manager (a secret is limited to 2560 bytes).
    CredentialManager,
}

impl KeyringBackend {
    /// The backends [`KeyringStore::new`] tries on this platform, in order.
    pub fn platform_order() -> &'static [Self] {
        if cfg!(target_os = "macos") {
            &[Self::Keychain]
        } else if cfg!(windows) {
            &[Self::CredentialManager]
        } else if cfg!(target_os = "linux") {
            &[Self::SecretService, Self::Kernel]
        } else if cfg!(all(
            unix,
            not(any(target_os = "ios", target_os = "android"))
        )) {
            &[Self::SecretService]
        } else {
            &[]
        }
    }

    /// The backend's name, in words.
    pub fn name(self) -> &'static str {
        match self {
            Self::SecretService => "Secret Service",
            Self::Kernel => "kernel keyring",
            Self::Keychain => "macOS Keychain",
            Self::CredentialManager => "Windows Credential Manager",
        }
    }

    /// How long the backend keeps secrets.
    pub fn persistence(self) -> Persistence {
        match self {
            Self::Kernel => Persistence::UntilReboot,
            Self::SecretService | Self::Keychain | Self::CredentialManager => {
                Persistence::Persistent
            }
        }
    }

    /// What to do when this backend cannot be used at all.
    fn unavailable_fix(self) -> &'static str {
        match self {
            Self::SecretService => concat!(
                "no Secret Service on D-Bus: install and unlock gnome-keyring or KWallet (and check DBUS_SESSION_BUS_ADDRESS), or choose KeyringStore::kernel() or ",
                a_file_store!()
            ),
            Self::Kernel => concat!(
                "the kernel keyring cannot be used by this process (in a container, keyctl may be blocked or the session keyring not possessed: run under `keyctl session`), or choose KeyringStore::secret_service() or ",
                a_file_store!()
            ),
            Self::Keychain => concat!(
                "the macOS Keychain cannot be opened: choose ",
                a_file_store!()
            ),
            Self::CredentialManager => concat!(
                "Windows Credential Manager cannot be opened: choose ",
                a_file_store!()
            ),
        }
    }

    /// Opens the backend (blocking: connects to D-Bus for the Secret Service).
    fn open(self) -> std::result::Result<Arc<CoreStore>, Error> {
        let opened: Option<keyring_core::Result<Arc<CoreStore>>> = match self {
            #[cfg(all(
                unix,
                not(any(target_os = "macos", target_os = "ios", target_os = "android"))
            ))]
            Self::SecretService => {
                Some(zbus_secret_service_keyring_store::Store::new().map(|s| s as Arc<CoreStore>))
            }
            #[cfg(target_os = "linux")]
            Self::Kernel => {
                Some(linux_keyutils_keyring_store::Store::new().map(|s| s as Arc<CoreStore>))
            }
            #[cfg(target_os = "macos")]
            Self::Keychain => Some(
                apple_native_keyring_store::keychain::Store::new().map(|s| s as Arc<CoreStore>),
            ),
            #[cfg(windows)]
            Self::CredentialManager => {
                Some(windows_native_keyring_store::Store::new().map(|s| s as Arc<CoreStore>))
            }
            #[allow(unreachable_patterns)]
            _ => None,
        };
        match opened {
            Some(Ok(store)) => Ok(store),
            Some(Err(e)) => Err(Error::store(
                StoreErrorKind::Unavailable,
                format!(
                    "{} ({})",
                    self.unavailable_fix(),
                    describe(&e).unwrap_or_else(|| "it could not be opened".into())
                ),
            )),
            None => Err(Error::store(
                StoreErrorKind::Unavailable,
                format!(
                    concat!(
                        "the {} is not available on this platform; choose ",
                        a_file_store!()
                    ),
                    self.name()
                ),
            )),
        }
    }
}

impl fmt::Display for KeyringBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The opened backend.
#[derive(Clone)]
enum Active {
    Keyring {
        backend: KeyringBackend,
        store: Arc<CoreStore>,
    },
    /// No keyring backend works and the user opted in to the file.
    #[cfg(feature = "file-store")]
    File(FileStore),
}

impl Active {
    fn description(&self) -> String {
        match self {
            Self::Keyring { backend, .. } => backend.name().into(),
            #[cfg(feature = "file-store")]
            Self::File(file) => format!(
                "file {} (insecure storage: no OS keyring works)",
                file.path().display()
            ),
        }
    }
}

enum State {
    NotProbed,
    Ready(Active),
    Failed {
        at: Instant,
        kind: StoreErrorKind,
        message: String,
    },
}

/// Keeps secrets in the operating system's keyring, as entries `(service, name)`.
///
/// [`KeyringStore::new`] chooses the backend on first use with a write/read/delete probe of a
/// throwaway entry, taking the first that works: the macOS Keychain; Windows Credential
/// Manager; on Linux the Secret Service (gnome-keyring, KWallet) and then the kernel keyring,
/// which loses its secrets at reboot ([`CredentialStore::status`] says which was chosen). A
/// failed probe is remembered for 30 seconds, then tried again. [`KeyringStore::secret_service`]
/// and [`KeyringStore::kernel`] choose one backend without probing.
///
/// When no backend works (a headless server without gnome-keyring, a container where
/// `keyctl` is blocked), the store fails with [`StoreErrorKind::Unavailable`], whose message
/// names the fixes, unless you opted in to keeping secrets in a plain file with
/// [`KeyringStore::insecure_file_fallback`] (feature `file-store`): never silently.
///
/// Every keyring call runs on a blocking thread under [`STORE_TIMEOUT`]: a locked keyring
/// that waits for a password prompt gives [`StoreErrorKind::Locked`] or
/// [`StoreErrorKind::Timeout`] instead of a hang.
///
/// # Example
///
/// ```no_run
/// use authed::{
///     Client, Secret,
///     auth::ApiKey,
///     store::{CredentialStore, KeyringStore, Persistence},
/// };
///
/// async fn example() -> authed::Result<()> {
///     let keyring = KeyringStore::new("my-app"); // the service name of the entries
///
///     // Once, at setup: keep the key the user typed (here from the environment).
///     if keyring.get("api-key").await?.is_none() {
///         keyring.set("api-key", &Secret::from_env("MY_APP_API_KEY")?).await?;
///     }
///     // The first call chose the backend: say when it forgets at reboot (the kernel keyring).
///     let status = keyring.status();
///     if status.persistence == Persistence::UntilReboot {
///         eprintln!("note: the key is kept in the {} until the next reboot", status.backend);
///     }
///
///     let key = Secret::from_store(&keyring, "api-key").await?;
///     let api = Client::builder("https://api.example.com/")
///         .auth(ApiKey::header("X-API-Key", key))
///         .build()?;
///     # let _ = api;
///     Ok(())
/// }
/// ```
///
#[cfg_attr(
    not(feature = "file-store"),
    doc = "[`KeyringStore::insecure_file_fallback`]: crate#cargo-features"
)]
pub struct KeyringStore {
    service: String,
    candidates: Vec<KeyringBackend>,
    probe: bool,
    /// The opted-in end of the chain.
    #[cfg(feature = "file-store")]
    fallback: Option<FileStore>,
    state: Mutex<State>,
    /// One probe at a time.
    probing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("KeyringStore");
        debug
            .field("service", &self.service)
            .field("backend", &self.backend_description());
        #[cfg(feature = "file-store")]
        debug.field(
            "insecure_file_fallback",
            &self.fallback.as_ref().map(FileStore::path),
        );
        debug.finish()
    }
}

impl KeyringStore {
    /// Entries of `service` in the first keyring backend of this platform that works (see
    /// [`KeyringBackend::platform_order`]).
    pub fn new(service: &str) -> Self {
        Self::build(service, KeyringBackend::platform_order().to_vec(), true)
    }

    /// Entries of `service` in the Secret Service (gnome-keyring, KWallet), and nowhere else.
    pub fn secret_service(service: &str) -> Self {
        Self::build(service, vec![KeyringBackend::SecretService], false)
    }

    /// Entries of `service` in the Linux kernel keyring, and nowhere else. Its secrets are
    /// lost when the machine restarts.
    pub fn kernel(service: &str) -> Self {
        Self::build(service, vec![KeyringBackend::Kernel], false)
    }

    /// Entries of `service` in the first of `backends` that passes the probe.
    pub fn with_backends(service: &str, backends: &[KeyringBackend]) -> Self {
        Self::build(service, backends.to_vec(), true)
    }

    /// Ends the chain with `file`, used only when no keyring backend works: insecure
    /// storage, like `gh auth login --insecure-storage`.
    ///
    /// The file is mode 0600 and written atomically (it is a [`FileStore`]), but it holds the
    /// secrets as plain text: anything running as the same user can read them, and so can
    /// anyone who reads your backups. Offer it to users who asked for it (a
    /// `--insecure-storage` flag), on machines that have no keyring.
    ///
    /// It is taken when every backend fails its probe for want of a keyring
    /// ([`StoreErrorKind::Unavailable`], or a backend that fails to write or read), never when
    /// a keyring is there but locked or not answering ([`StoreErrorKind::Locked`],
    /// [`StoreErrorKind::Timeout`]): then the error asks you to unlock it. Once chosen, the
    /// file is kept for the life of this store, and [`CredentialStore::status`] reports it
    /// with `insecure: true`. The file holds the entries of this store only, by name; give
    /// each service a file of its own.
    ///
    /// ```no_run
    /// use authed::store::{CredentialStore, FileStore, KeyringStore};
    ///
    /// # fn main() -> authed::Result<()> {
    /// let insecure_storage = std::env::args().any(|a| a == "--insecure-storage");
    /// let mut store = KeyringStore::new("my-app");
    /// if insecure_storage {
    ///     store = store.insecure_file_fallback(FileStore::for_app("my-app")?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "file-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "file-store")))]
    #[must_use]
    pub fn insecure_file_fallback(mut self, file: FileStore) -> Self {
        self.fallback = Some(file);
        self
    }

    fn build(service: &str, candidates: Vec<KeyringBackend>, probe: bool) -> Self {
        Self {
            service: service.to_owned(),
            candidates,
            probe,
            #[cfg(feature = "file-store")]
            fallback: None,
            state: Mutex::new(State::NotProbed),
            probing: tokio::sync::Mutex::new(()),
        }
    }

    /// The service the entries belong to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The keyring backend in use, once the first call has chosen one (`None` before, and
    /// while the file of `insecure_file_fallback` is in use).
    pub fn backend(&self) -> Option<KeyringBackend> {
        match &*self.lock_state() {
            State::Ready(Active::Keyring { backend, .. }) => Some(*backend),
            _ => None,
        }
    }

    /// Whether the [file fallback](Self::insecure_file_fallback) was chosen: no keyring
    /// backend worked, and the secrets are in a plain file.
    #[cfg(feature = "file-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "file-store")))]
    pub fn is_insecure_storage(&self) -> bool {
        matches!(&*self.lock_state(), State::Ready(Active::File(_)))
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn backend_description(&self) -> String {
        match &*self.lock_state() {
            State::NotProbed => "keyring (not probed yet)".into(),
            State::Ready(active) => active.description(),
            State::Failed { .. } => "keyring (none available)".into(),
        }
    }

    /// The opened backend: probed (or opened) on first use, and again after a failure has
    /// been remembered for [`RETRY_PROBE_AFTER`].
    async fn active(&self) -> Result<Active> {
        if let Some(active) = self.current()? {
            return Ok(active);
        }
        let _probing = self.probing.lock().await;
        // Another call may have finished probing while this one waited.
        if let Some(active) = self.current()? {
            return Ok(active);
        }
        let result = self.choose().await;
        let mut state = self.lock_state();
        match &result {
            Ok(active) => *state = State::Ready(active.clone()),
            Err(Error::Store(e)) => {
                *state = State::Failed {
                    at: Instant::now(),
                    kind: e.kind,
                    message: e.message.clone(),
                };
            }
            Err(_) => {}
        }
        result
    }

    /// The ready backend, or the remembered failure, or `None` to probe.
    fn current(&self) -> Result<Option<Active>> {
        match &*self.lock_state() {
            State::Ready(active) => Ok(Some(active.clone())),
            State::Failed { at, kind, message } if at.elapsed() < RETRY_PROBE_AFTER => {
                Err(Error::store(*kind, message.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn choose(&self) -> Result<Active> {
        if self.candidates.is_empty() {
            #[cfg(feature = "file-store")]
            if let Some(file) = &self.fallback {
                return Ok(self.fall_back(file, "no keyring backend was given"));
            }
            // TODO: Android and iOS stores (keyring-core has crates for both).
            return Err(Error::store(
                StoreErrorKind::Unavailable,
                concat!(
                    "no keyring backend is supported on this platform (or none was given); choose ",
                    a_file_store!(),
                    ", or opt in to insecure storage with KeyringStore::insecure_file_fallback"
                ),
            ));
        }
        let mut failures = Vec::new();
        let mut last_kind = StoreErrorKind::Unavailable;
        // A keyring that is there but locked, or not answering, is not "no keyring": the
        // user should unlock it, and the file fallback is not taken.
        let mut present = false;
        for &backend in &self.candidates {
            let service = self.service.clone();
            let probe = self.probe;
            let result = run_blocking(backend, "opening it", move || {
                let store = backend.open()?;
                if probe {
                    probe_store(backend, &store, &service)?;
                }
                Ok(store)
            })
            .await;
            match result {
                Ok(store) => {
                    tracing::debug!(backend = backend.name(), "keyring backend chosen");
                    return Ok(Active::Keyring { backend, store });
                }
                Err(Error::Store(e)) => {
                    tracing::debug!(backend = backend.name(), reason = %e.message, "keyring backend not usable");
                    last_kind = e.kind;
                    present |= matches!(e.kind, StoreErrorKind::Locked | StoreErrorKind::Timeout);
                    failures.push(e.message);
                }
                Err(e) => return Err(e),
            }
        }
        let kind = if failures.len() == 1 {
            last_kind
        } else {
            StoreErrorKind::Unavailable
        };
        let mut message = if failures.len() == 1 {
            failures.remove(0)
        } else {
            format!("no keyring backend works: {}", failures.join("; "))
        };
        #[cfg(feature = "file-store")]
        match (&self.fallback, present) {
            (Some(file), false) => return Ok(self.fall_back(file, &message)),
            (Some(file), true) => message.push_str(&format!(
                ". The insecure file fallback ({}) is not used while a keyring is locked or not answering",
                file.path().display()
            )),
            (None, false) => message.push_str(OPT_IN_TO_THE_FILE),
            (None, true) => {}
        }
        #[cfg(not(feature = "file-store"))]
        if !present {
            message.push_str(OPT_IN_TO_THE_FILE);
        }
        Err(Error::store(kind, message))
    }

    /// The file fallback, chosen because no keyring works (`why`); said loudly, once.
    #[cfg(feature = "file-store")]
    fn fall_back(&self, file: &FileStore, why: &str) -> Active {
        tracing::warn!(
            service = %self.service,
            file = %file.path().display(),
            reason = why,
            "no OS keyring works: keeping secrets as plain text in the opted-in file (insecure storage)"
        );
        Active::File(file.clone())
    }

    /// Runs `f` on the entry `(service, name)` of the chosen backend, off the runtime and
    /// under [`STORE_TIMEOUT`].
    async fn with_entry<T: Send + 'static>(
        &self,
        backend: KeyringBackend,
        store: Arc<CoreStore>,
        name: &str,
        what: &'static str,
        f: impl FnOnce(&Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<(KeyringBackend, std::result::Result<T, CoreError>)> {
        let service = self.service.clone();
        let name = name.to_owned();
        let result = run_blocking(backend, what, move || {
            let entry = store
                .build(&service, &name, None)
                .map_err(|e| map_error(backend, &service, &name, what, e))?;
            Ok(f(&entry))
        })
        .await?;
        Ok((backend, result))
    }

    fn error(&self, backend: KeyringBackend, name: &str, what: &str, e: CoreError) -> Error {
        map_error(backend, &self.service, name, what, e)
    }
}

/// Runs blocking keyring work on a blocking thread, under [`STORE_TIMEOUT`].
async fn run_blocking<T: Send + 'static>(
    backend: KeyringBackend,
    what: &'static str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let task = tokio::task::spawn_blocking(f);
    match tokio::time::timeout(STORE_TIMEOUT, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(Error::store(
            StoreErrorKind::Io,
            format!("the {backend} task failed while {what}"),
        )),
        Err(_) => Err(Error::store(
            StoreErrorKind::Timeout,
            format!(
                "the {backend} took longer than {STORE_TIMEOUT:?} while {what}: it may be locked and waiting for a password prompt; unlock it and try again"
            ),
        )),
    }
}

/// Writes, reads back and deletes a throwaway entry: a backend that opens may still refuse
/// to store (a missing default collection, a session keyring this process cannot read).
fn probe_store(backend: KeyringBackend, store: &Arc<CoreStore>, service: &str) -> Result<()> {
    let name = format!("authed-probe-{}", uuid::Uuid::new_v4());
    let value = uuid::Uuid::new_v4().to_string();
    let fail = |what, e| {
        let Error::Store(inner) = map_error(backend, service, &name, what, e) else {
            unreachable!("map_error gives store errors")
        };
        Error::store(inner.kind, format!("probe failed: {}", inner.message))
    };
    let entry = store
        .build(service, &name, None)
        .map_err(|e| fail("building the probe entry", e))?;
    entry
        .set_secret(value.as_bytes())
        .map_err(|e| fail("writing the probe entry", e))?;
    let read = entry.get_secret();
    // Delete whatever happened, so no probe entry is left behind.
    let deleted = entry.delete_credential();
    let read = read.map_err(|e| fail("reading the probe entry back", e))?;
    if read != value.as_bytes() {
        return Err(Error::store(
            StoreErrorKind::Io,
            format!(
                "probe failed: the {backend} gave back a different value than was written for {service}/{name}"
            ),
        ));
    }
    match deleted {
        Ok(()) | Err(CoreError::NoEntry) => Ok(()),
        Err(e) => Err(fail("deleting the probe entry", e)),
    }
}

/// A `keyring-core` error as ours. Never formats the error itself (its `Debug` holds secret
/// bytes): only the variant, and the platform error's `Display` where there is one.
fn map_error(
    backend: KeyringBackend,
    service: &str,
    name: &str,
    what: &str,
    e: CoreError,
) -> Error {
    let entry = format!("{service:?}/{name:?}");
    let detail = describe(&e).map(|d| format!(" ({d})")).unwrap_or_default();
    let (kind, message) = match e {
        CoreError::NoStorageAccess(_) => match backend {
            KeyringBackend::Kernel => (
                StoreErrorKind::Unavailable,
                format!(
                    "the kernel keyring refused access to {entry} while {what}{detail}: {}",
                    backend.unavailable_fix()
                ),
            ),
            _ => (
                StoreErrorKind::Locked,
                format!(
                    "the {backend} is locked or refused access to {entry} while {what}{detail}: unlock it (log in to the desktop session, or `gnome-keyring-daemon --unlock`) and try again"
                ),
            ),
        },
        CoreError::PlatformFailure(_) => (
            StoreErrorKind::Io,
            format!("the {backend} failed on {entry} while {what}{detail}"),
        ),
        CoreError::NoEntry => (
            StoreErrorKind::Io,
            format!("the {backend} has no entry {entry} (while {what})"),
        ),
        CoreError::BadEncoding(mut bytes) => {
            bytes.zeroize();
            (
                StoreErrorKind::Corrupted,
                format!(
                    "the {backend} entry {entry} is not UTF-8 text, so not written by authed; delete it and store it again"
                ),
            )
        }
        CoreError::BadDataFormat(mut bytes, _) => {
            bytes.zeroize();
            (
                StoreErrorKind::Corrupted,
                format!(
                    "the {backend} entry {entry} is not in the format the store expects; delete it and store it again"
                ),
            )
        }
        CoreError::BadStoreFormat(_) => (
            StoreErrorKind::Corrupted,
            format!(
                "the {backend} is not in the format its store crate expects (while {what} {entry})"
            ),
        ),
        CoreError::TooLong(attribute, limit) => (
            StoreErrorKind::Io,
            format!(
                "the {attribute} of {entry} is longer than the {backend}'s limit of {limit}; use a shorter service or name"
            ),
        ),
        CoreError::Invalid(attribute, reason) => (
            StoreErrorKind::Io,
            format!("the {backend} rejected the {attribute} of {entry}: {reason}"),
        ),
        CoreError::Ambiguous(entries) => (
            StoreErrorKind::Corrupted,
            format!(
                "{} entries in the {backend} match {entry}; delete the duplicates (e.g. with seahorse or secret-tool)",
                entries.len()
            ),
        ),
        CoreError::NoDefaultStore => (
            StoreErrorKind::Unavailable,
            format!("{} (while {what} {entry})", backend.unavailable_fix()),
        ),
        CoreError::NotSupportedByStore(reason) => (
            StoreErrorKind::Io,
            format!("the {backend} does not support {what} {entry}: {reason}"),
        ),
        _ => (
            StoreErrorKind::Io,
            format!("the {backend} failed on {entry} while {what}"),
        ),
    };
    Error::store(kind, message)
}

/// The platform error under `e`, in words, for the variants that carry no secret.
fn describe(e: &CoreError) -> Option<String> {
    match e {
        CoreError::PlatformFailure(p) | CoreError::NoStorageAccess(p) => Some(p.to_string()),
        _ => None,
    }
}

#[async_trait]
impl CredentialStore for KeyringStore {
    async fn get(&self, name: &str) -> Result<Option<Secret>> {
        let (backend, store) = match self.active().await? {
            Active::Keyring { backend, store } => (backend, store),
            #[cfg(feature = "file-store")]
            Active::File(file) => return file.get(name).await,
        };
        let (backend, result) = self
            .with_entry(backend, store, name, "reading", |entry| entry.get_secret())
            .await?;
        match result {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Ok(Some(Secret::new(text))),
                Err(e) => Err(self.error(
                    backend,
                    name,
                    "reading",
                    CoreError::BadEncoding(e.into_bytes()),
                )),
            },
            Err(CoreError::NoEntry) => Ok(None),
            Err(e) => Err(self.error(backend, name, "reading", e)),
        }
    }

    async fn set(&self, name: &str, value: &Secret) -> Result<()> {
        // Bytes, not `set_password`: Windows would store a password as UTF-16, doubling it
        // against its 2560-byte limit.
        let (backend, store) = match self.active().await? {
            Active::Keyring { backend, store } => (backend, store),
            #[cfg(feature = "file-store")]
            Active::File(file) => return file.set(name, value).await,
        };
        let mut bytes = value.expose_secret().as_bytes().to_vec();
        let (backend, result) = self
            .with_entry(backend, store, name, "writing", move |entry| {
                let result = entry.set_secret(&bytes);
                bytes.zeroize();
                result
            })
            .await?;
        result.map_err(|e| self.error(backend, name, "writing", e))
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let (backend, store) = match self.active().await? {
            Active::Keyring { backend, store } => (backend, store),
            #[cfg(feature = "file-store")]
            Active::File(file) => return file.delete(name).await,
        };
        let (backend, result) = self
            .with_entry(backend, store, name, "deleting", |entry| {
                entry.delete_credential()
            })
            .await?;
        match result {
            Ok(()) | Err(CoreError::NoEntry) => Ok(()),
            Err(e) => Err(self.error(backend, name, "deleting", e)),
        }
    }

    /// The backend in use (`kernel keyring`, with [`Persistence::UntilReboot`]; the file
    /// fallback as `file <path> (insecure storage: no OS keyring works)`, with `insecure`),
    /// or `keyring (not probed yet)` / `keyring (none available)` with the persistence of
    /// the first candidate.
    fn status(&self) -> StoreStatus {
        let (backend, persistence, insecure) = match &*self.lock_state() {
            State::Ready(active @ Active::Keyring { backend, .. }) => {
                (active.description(), backend.persistence(), false)
            }
            #[cfg(feature = "file-store")]
            State::Ready(active @ Active::File(_)) => {
                (active.description(), Persistence::Persistent, true)
            }
            State::NotProbed => (
                "keyring (not probed yet)".to_owned(),
                self.first_persistence(),
                false,
            ),
            State::Failed { .. } => (
                "keyring (none available)".to_owned(),
                self.first_persistence(),
                false,
            ),
        };
        StoreStatus {
            backend,
            persistence,
            insecure,
        }
    }

    fn max_entry_len(&self) -> Option<usize> {
        // CRED_MAX_CREDENTIAL_BLOB_SIZE; the secret is stored as its UTF-8 bytes.
        cfg!(windows).then_some(2560)
    }
}

impl KeyringStore {
    fn first_persistence(&self) -> Persistence {
        self.candidates
            .first()
            .map_or(Persistence::Persistent, |b| b.persistence())
    }
}
