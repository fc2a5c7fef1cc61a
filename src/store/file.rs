//! [`FileStore`]: secrets in a file of the user's, mode 0600, replaced atomically, one
//! writer at a time.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    fs::{File, OpenOptions},
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
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
/// Writers ([`CredentialStore::set`], [`CredentialStore::delete`]) take turns, so that none
/// loses another's entry: within the process (every `FileStore` of the same path shares one
/// async lock) and across processes (an advisory lock, [`File::lock`], on a lock file beside
/// the store, `.<file name>.lock`, mode 0600, left in place). Each write then reads the
/// file, writes a temporary file created exclusively (`O_CREAT | O_EXCL`, so a symbolic link
/// or a leftover file planted at its name is never followed or reused) with a random name and
/// mode 0600, flushes it to disk, renames it over the store and flushes the directory.
/// Readers take no lock: the rename replaces the file at once. A directory the store creates
/// is made with mode 0700. Waiting for the lock counts against [`STORE_TIMEOUT`]; a write that
/// times out while waiting is not made. Temporary files of a process killed mid-write stay
/// behind as `.<file name>.<pid>.<random>.tmp`.
///
/// Use it only deliberately: anything running as the same user can read the file. It is never
/// chosen as a silent fallback.
///
/// # Example
///
/// ```no_run
/// use authed::{
///     ExposeSecret, Secret,
///     store::{CredentialStore, FileStore},
/// };
///
/// async fn example() -> authed::Result<()> {
///     // ~/.config/my-app/credentials.json (or $XDG_CONFIG_HOME/my-app/...), created on first write.
///     let store = FileStore::for_app("my-app")?;
///     store.set("api-key", &Secret::from_env("MY_APP_API_KEY")?).await?;
///
///     let key = store.get("api-key").await?.expect("just stored");
///     assert!(!key.expose_secret().is_empty());
///     println!("kept in {}", store.status().backend); // "file /home/ada/.config/my-app/..."
///     Ok(())
/// }
/// ```
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
        self.within_timeout(what, task).await
    }

    /// Reads the entries, lets `change` edit them, and writes them back if it says so: one
    /// writer at a time in this process (an async lock per path, waited for under the
    /// timeout) and across processes (the lock file, waited for until the same deadline).
    async fn update(
        &self,
        what: &'static str,
        change: impl FnOnce(&mut Entries) -> bool + Send + 'static,
    ) -> Result<()> {
        let path = self.path.clone();
        let deadline = Instant::now() + LOCK_WAIT;
        let writers = writers_of(&path);
        let work = async move {
            let turn = writers.lock_owned().await;
            tokio::task::spawn_blocking(move || {
                let _turn = turn;
                let _lock = lock_writers(&path, deadline)?;
                let mut entries = read(&path)?;
                if change(&mut entries) {
                    write(&path, &entries)?;
                }
                Ok(())
            })
            .await
        };
        self.within_timeout(what, work).await
    }

    async fn within_timeout<T>(
        &self,
        what: &'static str,
        task: impl Future<Output = std::result::Result<Result<T>, tokio::task::JoinError>>,
    ) -> Result<T> {
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

/// How long a writer waits for another process's write: a little less than
/// [`STORE_TIMEOUT`], so that a writer that gives up does so itself, before the caller stops
/// waiting for it, and never writes afterwards.
const LOCK_WAIT: Duration = STORE_TIMEOUT.saturating_sub(Duration::from_millis(500));

/// The in-process lock of the writers of `path` (shared by every `FileStore` of that path).
fn writers_of(path: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static WRITERS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        OnceLock::new();
    let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut writers = WRITERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if writers.len() >= 64 {
        // Forget the locks nobody holds or waits for.
        writers.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
    writers.entry(key).or_default().clone()
}

/// The directory of `path`.
fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `path`'s file name, for the names of the files beside it.
fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("credentials")
}

/// Creates `dir` and its missing parents (mode 0700 on Unix: they will hold secrets).
fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| io_error(dir, "creating", &e))
}

/// Opens (creating it, mode 0600) the lock file beside `path` and locks it, waiting until
/// `deadline` for another process to finish. Released when the file is closed.
fn lock_writers(path: &Path, deadline: Instant) -> Result<File> {
    let dir = dir_of(path);
    create_dir(dir)?;
    let lock_path = dir.join(format!(".{}.lock", file_name(path)));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options
        .open(&lock_path)
        .map_err(|e| io_error(&lock_path, "opening the lock file", &e))?;
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(25));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::store(
                    StoreErrorKind::Timeout,
                    format!(
                        "another process held {} for longer than {LOCK_WAIT:?}; nothing was written",
                        lock_path.display()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_error(&lock_path, "locking", &e));
            }
        }
    }
}

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

/// Replaces the file at `path` with `entries`: a new temporary file beside it (exclusive
/// create, random name, mode 0600), flushed, renamed over `path`, and the directory flushed.
/// The caller holds the writers' lock.
fn write(path: &Path, entries: &Entries) -> Result<()> {
    let dir = dir_of(path);
    create_dir(dir)?;
    let bytes = serde_json::to_vec_pretty(entries).map_err(|e| {
        Error::store(
            StoreErrorKind::Io,
            format!("credentials did not serialize: {e}"),
        )
    })?;
    let (tmp, mut file) = create_temp(dir, file_name(path))?;
    let result = (|| {
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path, "writing", &e));
    }
    sync_dir(dir).map_err(|e| io_error(dir, "flushing the directory of", &e))
}

/// A new temporary file in `dir`, created exclusively: `create_new` fails on any existing
/// name, symbolic links included, so nothing planted there is followed or reused, and the
/// file gets our mode (0600), never a leftover file's.
fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, File)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_error(&tmp, "creating", &e)),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    Err(io_error(dir, "creating a temporary file in", &e))
}

/// Flushes `dir`'s entries (the rename) to disk, where the platform can.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        match File::open(dir).and_then(|d| d.sync_all()) {
            // Some file systems cannot flush a directory; the rename is made all the same.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
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
        self.update("wrote", move |entries| {
            entries.insert(name, value.expose_secret().to_owned());
            true
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.update("deleted", move |entries| entries.remove(&name).is_some())
            .await
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            backend: format!("file {}", self.path.display()),
            persistence: Persistence::Persistent,
            insecure: true,
        }
    }
}
