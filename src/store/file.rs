//! [`FileStore`]: secrets in a file of the user's, mode 0600, replaced atomically.

use std::{
    collections::BTreeMap,
    fmt,
    io::Write as _,
    path::{Path, PathBuf},
};

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::{
    Secret,
    error::{Error, Result, StoreErrorKind},
    store::{CredentialStore, Persistence, STORE_TIMEOUT, StoreStatus},
};

/// Keeps secrets in one JSON file, readable and writable by its owner only (mode 0600 on
/// Unix), replaced by writing a temporary file next to it and renaming it over the old one,
/// so a crash never leaves half a file.
///
/// Use it only deliberately: anything running as the same user can read the file. It is never
/// chosen as a silent fallback.
#[derive(Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish()
    }
}

impl FileStore {
    /// The file `credentials.json` in the user's configuration directory for `app`:
    /// `$XDG_CONFIG_HOME/<app>/`, else `$HOME/.config/<app>/` (on every Unix-like system;
    /// `%APPDATA%\<app>\` on Windows).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when no such directory can be found, or `app` is not a plain name.
    pub fn for_app(app: &str) -> Result<Self> {
        if app.is_empty() || app.contains(['/', '\\']) || app == "." || app == ".." {
            return Err(Error::config(format!(
                "{app:?} is not a plain application name"
            )));
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
                Error::config(
                    "no configuration directory: set XDG_CONFIG_HOME or HOME, or use FileStore::at",
                )
            })?;
        Ok(Self::at(base.join(app).join("credentials.json")))
    }

    /// The file at `path` (created on first write, with its directory).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Path) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let path = self.path.clone();
        let task = tokio::task::spawn_blocking(move || f(&path));
        match tokio::time::timeout(STORE_TIMEOUT, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(Error::store(
                StoreErrorKind::Io,
                format!("the file store task failed while it {what}: {e}"),
            )),
            Err(_) => Err(Error::store(
                StoreErrorKind::Timeout,
                format!("the file store took longer than {STORE_TIMEOUT:?} while it {what}"),
            )),
        }
    }
}

type Entries = BTreeMap<String, String>;

fn read(path: &Path) -> Result<Entries> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| {
            Error::store(
                StoreErrorKind::Corrupted,
                format!(
                    "{} is not a credentials file written by authed (not a JSON object of strings); move it away to start afresh",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Entries::new()),
        Err(e) => Err(io_error(path, "reading", &e)),
    }
}

fn write(path: &Path, entries: &Entries) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "creating", &e))?;
    let bytes = serde_json::to_vec_pretty(entries).map_err(|e| {
        Error::store(
            StoreErrorKind::Io,
            format!("credentials did not serialize: {e}"),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("credentials"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, "writing", &e)
    })
}

fn io_error(path: &Path, doing: &str, e: &std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "permission denied: check the file's owner and mode"
        }
        _ => "",
    };
    Error::store(
        StoreErrorKind::Io,
        format!("{doing} {} failed: {e} {kind}", path.display()),
    )
}

#[async_trait]
impl CredentialStore for FileStore {
    async fn get(&self, name: &str) -> Result<Option<Secret>> {
        let name = name.to_owned();
        self.blocking("read", move |path| {
            Ok(read(path)?.remove(&name).map(Secret::new))
        })
        .await
    }

    async fn set(&self, name: &str, value: &Secret) -> Result<()> {
        let (name, value) = (name.to_owned(), value.clone());
        self.blocking("wrote", move |path| {
            let mut entries = read(path)?;
            entries.insert(name, value.expose_secret().to_owned());
            write(path, &entries)
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.blocking("deleted", move |path| {
            let mut entries = read(path)?;
            if entries.remove(&name).is_some() {
                write(path, &entries)?;
            }
            Ok(())
        })
        .await
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            backend: format!("file {}", self.path.display()),
            persistence: Persistence::Persistent,
        }
    }
}
