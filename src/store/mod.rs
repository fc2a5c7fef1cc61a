//! Where secrets are kept between runs: [`CredentialStore`] and its implementations.
//!
//! | store | keeps secrets | when to use it |
//! | --- | --- | --- |
//! | [`MemoryStore`] | for the life of the process | tests; short-lived programs |
//! | [`KeyringStore`] | in the OS keyring: macOS Keychain, Windows Credential Manager, the Secret Service (gnome-keyring, KWallet), else the Linux kernel keyring (until reboot), else, only if you opted in with [`KeyringStore::insecure_file_fallback`], a [`FileStore`] | secrets that should outlive the process; the backend is probed on first use and [`CredentialStore::status`] names it, says how long it keeps secrets and whether the storage is insecure |
//! | [`FileStore`] (feature `file-store`) | on disk, mode 0600, written atomically | only when you ask for it by name: a file is readable by anything running as you (insecure storage, like `gh auth login --insecure-storage`) |
//!
//! Every store is used through the async [`CredentialStore`] trait; blocking backends run
//! off the async runtime with a time limit, so a locked keyring that waits for a prompt
//! gives a typed error instead of a hang. [`CredentialTokenStore`] keeps an OAuth token set in
//! any of them.
//!
//! # Example
//!
//! ```
//! use authed::{
//!     ExposeSecret, Secret,
//!     store::{CredentialStore, MemoryStore, Persistence},
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> authed::Result<()> {
//! let store = MemoryStore::new(); // or KeyringStore::new("my-app"), FileStore::for_app("my-app")?
//! store.set("api-key", &Secret::from("placeholder-key")).await?;
//!
//! let key = Secret::from_store(&store, "api-key").await?; // an error names the missing entry
//! assert_eq!(key.expose_secret(), "placeholder-key");
//! assert_eq!(store.status().persistence, Persistence::Process);
//!
//! store.delete("api-key").await?;
//! assert!(store.get("api-key").await?.is_none());
//! # Ok(())
//! # }
//! ```
//!
//! Which store to choose, and keeping an OAuth session: the crate docs'
//! [Choosing a credential store](crate#choosing-a-credential-store) and
//! [Persisting a login](crate#persisting-a-login).
//!
// Built without `file-store`, its links lead to the crate's table of features.
#![cfg_attr(
    not(feature = "file-store"),
    doc = "[`FileStore`]: crate#cargo-features",
    doc = "[`KeyringStore::insecure_file_fallback`]: crate#cargo-features"
)]

#[cfg(feature = "file-store")]
mod file;
#[cfg(feature = "keyring")]
#[cfg_attr(docsrs, doc(cfg(feature = "keyring")))]
mod keyring;
#[cfg(feature = "oauth2")]
mod record;

use std::{collections::HashMap, fmt, sync::Mutex, time::Duration};

use async_trait::async_trait;

#[cfg(feature = "file-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "file-store")))]
pub use file::FileStore;
#[cfg(feature = "keyring")]
#[cfg_attr(docsrs, doc(cfg(feature = "keyring")))]
pub use keyring::{KeyringBackend, KeyringStore};
#[cfg(feature = "oauth2")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth2")))]
pub use record::CredentialTokenStore;
// The record format, reused by the fleet's Redis token store (encrypted there).
#[cfg(all(feature = "oauth2", feature = "redis"))]
pub(crate) use record::{from_record, to_record};

// Defined with the other error kinds; re-exported here, where users look for them.
pub use crate::error::{StoreError, StoreErrorKind};

use crate::{
    Secret,
    error::{Error, Result},
};

/// How long a blocking store operation may take before it is reported as
/// [`StoreErrorKind::Timeout`]: a keyring that waits for the user to unlock it can wait
/// forever.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a store keeps what it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Persistence {
    /// Until the process exits.
    Process,
    /// Until the machine restarts (the Linux kernel keyring).
    UntilReboot,
    /// Until deleted.
    Persistent,
}

impl fmt::Display for Persistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Process => "until the process exits",
            Self::UntilReboot => "until reboot (lost when the machine restarts)",
            Self::Persistent => "until deleted",
        })
    }
}

/// Which backend a store uses, how long it keeps secrets and whether it keeps them safe.
///
/// Its `Display` is one line for a CLI's `status` command:
/// `kernel keyring: keeps secrets until reboot (lost when the machine restarts)`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStatus {
    /// The backend, in words (`"memory"`, `"file /home/ada/.config/app/credentials"`).
    pub backend: String,
    /// How long it keeps secrets.
    pub persistence: Persistence,
    /// Insecure storage: the secrets are kept as plain text in a file that anything running
    /// as the same user can read (a [`FileStore`], or a [`KeyringStore`] that fell back to its
    /// [file][fallback]), not in a keyring that guards them. What `gh auth status` reports
    /// after `gh auth login --insecure-storage`.
    ///
    #[cfg_attr(
        feature = "file-store",
        doc = "[fallback]: KeyringStore::insecure_file_fallback"
    )]
    #[cfg_attr(
        not(feature = "file-store"),
        doc = "[`FileStore`]: crate#cargo-features",
        doc = "[fallback]: crate#cargo-features"
    )]
    pub insecure: bool,
}

impl StoreStatus {
    /// The status of a store of your own (a [`CredentialStore`] you implement): `backend` in
    /// words, how long it keeps secrets; not insecure storage unless [`StoreStatus::insecure`]
    /// says so.
    pub fn new(backend: impl Into<String>, persistence: Persistence) -> Self {
        Self {
            backend: backend.into(),
            persistence,
            insecure: false,
        }
    }

    /// Marks the store as insecure storage (the `insecure` field: plain text anyone running as
    /// the user can read).
    #[must_use]
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }
}

impl fmt::Display for StoreStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: keeps secrets {}", self.backend, self.persistence)?;
        if self.insecure {
            f.write_str("; insecure storage: readable by anything running as this user")?;
        }
        Ok(())
    }
}

/// A place to keep named secrets.
///
/// # Implementing it
///
/// Use `#[authed::async_trait]` (re-exported: no `async-trait` dependency of your own). This
/// one keeps every entry of another store under a prefix, so that several profiles can share
/// one keyring service:
///
/// ```
/// use authed::{
///     ExposeSecret, Secret,
///     store::{CredentialStore, MemoryStore, StoreStatus},
/// };
///
/// #[derive(Debug)]
/// struct Profile<S> {
///     prefix: String,
///     inner: S,
/// }
///
/// #[authed::async_trait]
/// impl<S: CredentialStore> CredentialStore for Profile<S> {
///     async fn get(&self, name: &str) -> authed::Result<Option<Secret>> {
///         self.inner.get(&format!("{}/{name}", self.prefix)).await
///     }
///     async fn set(&self, name: &str, value: &Secret) -> authed::Result<()> {
///         self.inner.set(&format!("{}/{name}", self.prefix), value).await
///     }
///     async fn delete(&self, name: &str) -> authed::Result<()> {
///         self.inner.delete(&format!("{}/{name}", self.prefix)).await
///     }
///     fn status(&self) -> StoreStatus {
///         self.inner.status()
///     }
///     fn max_entry_len(&self) -> Option<usize> {
///         self.inner.max_entry_len()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> authed::Result<()> {
/// let work = Profile { prefix: "work".into(), inner: MemoryStore::new() };
/// work.set("token", &Secret::from("placeholder")).await?;
/// assert_eq!(work.inner.get("work/token").await?.unwrap().expose_secret(), "placeholder");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait CredentialStore: fmt::Debug + Send + Sync {
    /// The secret called `name`, or `None`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store cannot be read.
    async fn get(&self, name: &str) -> Result<Option<Secret>>;

    /// Stores `value` under `name`, replacing any earlier value.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store cannot be written.
    async fn set(&self, name: &str, value: &Secret) -> Result<()>;

    /// Forgets `name` (no error when it is not there).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store cannot be written.
    async fn delete(&self, name: &str) -> Result<()>;

    /// The backend and how long it keeps secrets.
    fn status(&self) -> StoreStatus;

    /// The largest secret one entry can hold, in bytes, if the backend has a limit (Windows
    /// Credential Manager: 2560). Larger records are split across entries.
    fn max_entry_len(&self) -> Option<usize> {
        None
    }
}

fn _object_safe(_: Box<dyn CredentialStore>) {}

#[async_trait]
impl<T: CredentialStore + ?Sized> CredentialStore for std::sync::Arc<T> {
    async fn get(&self, name: &str) -> Result<Option<Secret>> {
        (**self).get(name).await
    }
    async fn set(&self, name: &str, value: &Secret) -> Result<()> {
        (**self).set(name, value).await
    }
    async fn delete(&self, name: &str) -> Result<()> {
        (**self).delete(name).await
    }
    fn status(&self) -> StoreStatus {
        (**self).status()
    }
    fn max_entry_len(&self) -> Option<usize> {
        (**self).max_entry_len()
    }
}

/// Keeps secrets in memory, for the life of the process.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Secret>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("MemoryStore")
            .field("entries", &entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn get(&self, name: &str) -> Result<Option<Secret>> {
        Ok(self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned())
    }

    async fn set(&self, name: &str, value: &Secret) -> Result<()> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), value.clone());
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        Ok(())
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            backend: "memory".into(),
            persistence: Persistence::Process,
            insecure: false,
        }
    }
}

impl Secret {
    /// Reads the secret called `name` from `store` (an API key or a password put there
    /// before, with [`CredentialStore::set`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when there is no such entry (the message says how to add it);
    /// [`Error::Store`] when the store cannot be read.
    pub async fn from_store(store: &dyn CredentialStore, name: &str) -> Result<Self> {
        store.get(name).await?.ok_or_else(|| {
            Error::config(format!(
                "no secret called {name:?} in the {} store: store it first with CredentialStore::set",
                store.status().backend
            ))
        })
    }
}
