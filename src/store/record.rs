//! [`CredentialTokenStore`]: an OAuth token set kept in any [`CredentialStore`], split across
//! entries when the backend limits their size, with a lock that keeps two processes from
//! refreshing the same session at once; and the compact record format it writes.
//!
//! This module uses `oauth2`'s [`Token`] and [`TokenStore`]; `oauth2` knows nothing of stores
//! beyond its own [`TokenStore`] trait.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::{
    Secret,
    error::{Error, Result, StoreErrorKind},
    oauth2::{Token, TokenStore, TokenStoreLock},
    store::CredentialStore,
};

/// The first entry of a record split across several: `authed:chunks:<count>`.
const CHUNK_HEADER: &str = "authed:chunks:";

/// The most entries one record may be split into (a corrupt header cannot make us read
/// thousands).
const MAX_CHUNKS: usize = 64;

/// How long a refresh waits for another process's refresh of the same session.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Keeps an OAuth token set under one name in a [`CredentialStore`], as a compact record
/// (access token, refresh token, ID token, scope, times). A record larger than the backend's
/// entry limit is split across `name#1`, `name#2`, ... and joined back on reading.
///
/// Refreshes are serialised across processes with an advisory lock ([`std::fs::File::lock`])
/// on a file named after the entry: the cache takes it, re-reads the store, refreshes only if
/// the stored token is still stale, writes, and releases. Two runs of a CLI sharing a session
/// then make one refresh between them, and with a server that rotates refresh tokens neither
/// presents one that was already used.
///
/// # The lock file
///
/// Whoever can open the lock file can hold it and stall every refresh of the session (for up
/// to a minute each), so it lives where only the user can reach it:
///
/// - by default in a directory of the user's: `$XDG_RUNTIME_DIR/authed/` (per-user by the
///   XDG specification), else `$XDG_CACHE_HOME/authed/locks/`, else
///   `$HOME/.cache/authed/locks/`, else, without a home, `<temp dir>/authed-<uid>-locks/`
///   (on Windows, the temporary directory, which is per-user there); never the shared
///   temporary directory itself;
/// - or in the directory given to [`CredentialTokenStore::lock_dir`].
///
/// Directories it creates get mode 0700; the lock file gets mode 0600. On Unix, before it
/// takes the lock, it refuses ([`StoreErrorKind::Io`], naming the path and the fix) a lock
/// directory that belongs to another user or that group or others may write (a sticky
/// `/tmp` included: anyone could create the lock file first), and a lock file that belongs
/// to another user, is a symbolic link, or is not a regular file. "The user" is the owner
/// of a file the store has just created in the lock directory: the crate has no `unsafe`
/// code to ask the OS for its uid, and the owner the file system gives new files is the
/// one that matters (it is also right on file systems that map owners, such as NFS with
/// root squashing).
///
/// # Example
///
#[cfg_attr(feature = "keyring", doc = "```no_run")]
#[cfg_attr(not(feature = "keyring"), doc = "```ignore")]
/// use authed::{
///     oauth2::{OAuthClient, RefreshToken, TokenAuth},
///     store::{CredentialTokenStore, KeyringStore},
/// };
///
/// fn session() -> TokenAuth {
///     let client = OAuthClient::new("https://auth.example.com/token", "my-cli");
///     // The token set of this server and client, as an entry of the "my-cli" service.
///     let store = CredentialTokenStore::new(
///         KeyringStore::new("my-cli"),
///         "https://auth.example.com my-cli",
///     );
///     // Loaded on first use; every new token set is written before it is used.
///     RefreshToken::new(client).into_auth().store(store)
/// }
/// ```
///
/// The whole flow (log in only when there is no stored session) is in the crate docs:
/// [Persisting a login](crate#persisting-a-login).
#[derive(Clone)]
pub struct CredentialTokenStore {
    store: Arc<dyn CredentialStore>,
    name: String,
    /// `None`: the default, found when the lock is first taken.
    lock_dir: Option<PathBuf>,
}

impl fmt::Debug for CredentialTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialTokenStore")
            .field("store", &self.store)
            .field("name", &self.name)
            .finish()
    }
}

impl CredentialTokenStore {
    /// The token set called `name` in `store`.
    pub fn new(store: impl CredentialStore + 'static, name: impl Into<String>) -> Self {
        Self {
            store: Arc::new(store),
            name: name.into(),
            lock_dir: None,
        }
    }

    /// Puts the lock files in `dir` instead (created with mode 0700 if missing), for example
    /// beside a [`crate::store::FileStore`]'s file. On Unix it must belong to the user and be
    /// writable by nobody else, or taking the lock fails (see [the lock
    /// file](CredentialTokenStore#the-lock-file)).
    ///
    #[cfg_attr(
        not(feature = "file-store"),
        doc = "[`crate::store::FileStore`]: crate#cargo-features"
    )]
    #[must_use]
    pub fn lock_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lock_dir = Some(dir.into());
        self
    }

    fn chunk_name(&self, i: usize) -> String {
        format!("{}#{i}", self.name)
    }

    /// The lock file's name in the lock directory.
    fn lock_name(&self) -> String {
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // The name alone could collide after sanitising; a hash of the exact name does not.
        let digest = short_hash(self.name.as_bytes());
        format!("authed-{safe}-{digest}.lock")
    }

    fn corrupted(&self, what: &str) -> Error {
        Error::store(
            StoreErrorKind::Corrupted,
            format!(
                "the stored token set {:?} is not a valid record ({what}); it will be replaced at the next login",
                self.name
            ),
        )
    }
}

/// Hex SHA-256, short: enough to tell lock files apart.
fn short_hash(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Splits `text` into pieces of at most `max` bytes, on character boundaries.
fn split(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max.max(4));
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

#[async_trait]
impl TokenStore for CredentialTokenStore {
    async fn load(&self) -> Result<Option<Token>> {
        let Some(first) = self.store.get(&self.name).await? else {
            return Ok(None);
        };
        let text = first.expose_secret();
        let record = match text.strip_prefix(CHUNK_HEADER) {
            None => first.clone(),
            Some(count) => {
                let count: usize = count
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_CHUNKS).contains(n))
                    .ok_or_else(|| self.corrupted("bad chunk header"))?;
                let mut joined = String::new();
                for i in 1..=count {
                    let piece = self
                        .store
                        .get(&self.chunk_name(i))
                        .await?
                        .ok_or_else(|| self.corrupted("a chunk is missing"))?;
                    joined.push_str(piece.expose_secret());
                }
                Secret::new(joined)
            }
        };
        from_record(record.expose_secret())
            .map(Some)
            .ok_or_else(|| self.corrupted("not a token record"))
    }

    async fn save(&self, token: &Token) -> Result<()> {
        let record = to_record(token);
        let text = record.expose_secret();
        match self.store.max_entry_len() {
            Some(max) if text.len() > max => {
                let pieces = split(text, max);
                if pieces.len() > MAX_CHUNKS {
                    return Err(Error::store(
                        StoreErrorKind::Io,
                        format!(
                            "the token set is too large for this store ({} bytes)",
                            text.len()
                        ),
                    ));
                }
                // Chunks first, the header last: a reader never sees a header without them.
                for (i, piece) in pieces.iter().enumerate() {
                    self.store
                        .set(&self.chunk_name(i + 1), &Secret::new(*piece))
                        .await?;
                }
                self.store
                    .set(
                        &self.name,
                        &Secret::new(format!("{CHUNK_HEADER}{}", pieces.len())),
                    )
                    .await
            }
            _ => self.store.set(&self.name, &record).await,
        }
    }

    async fn clear(&self) -> Result<()> {
        if let Some(first) = self.store.get(&self.name).await?
            && let Some(count) = first.expose_secret().strip_prefix(CHUNK_HEADER)
            && let Ok(count) = count.parse::<usize>()
        {
            for i in 1..=count.min(MAX_CHUNKS) {
                self.store.delete(&self.chunk_name(i)).await?;
            }
        }
        self.store.delete(&self.name).await
    }

    async fn lock(&self) -> Result<Option<TokenStoreLock>> {
        let (dir, name) = (self.lock_dir.clone(), self.lock_name());
        let task = tokio::task::spawn_blocking(move || {
            let dir = match dir {
                Some(dir) => dir,
                None => default_lock_dir()?,
            };
            lock_file(&dir, &name)
        });
        match tokio::time::timeout(LOCK_TIMEOUT, task).await {
            Ok(Ok(result)) => result.map(|file| Some(TokenStoreLock::new(file))),
            Ok(Err(e)) => Err(Error::store(
                StoreErrorKind::Io,
                format!("the lock task failed: {e}"),
            )),
            Err(_) => Err(Error::store(
                StoreErrorKind::Timeout,
                format!(
                    "another process held the refresh lock for {:?} longer than {LOCK_TIMEOUT:?}",
                    self.name
                ),
            )),
        }
    }
}

fn lock_error(path: &Path, what: impl fmt::Display) -> Error {
    Error::store(
        StoreErrorKind::Io,
        format!("the refresh lock {}: {what}", path.display()),
    )
}

/// The default directory of the lock files (see [`CredentialTokenStore`]): the user's, never
/// the shared temporary directory.
fn default_lock_dir() -> Result<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        return Ok(runtime.join("authed"));
    }
    if !cfg!(unix) {
        // Per-user on Windows (%LOCALAPPDATA%\Temp).
        return Ok(std::env::temp_dir());
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return Ok(cache.join("authed").join("locks"));
    }
    if let Some(home) = var("HOME") {
        return Ok(home.join(".cache").join("authed").join("locks"));
    }
    // No home: a directory of our own in the temporary directory, named for the user so that
    // users do not collide; one planted by someone else is refused by its owner.
    let tmp = std::env::temp_dir();
    let uid = owner_of_new_file(&tmp).map_err(|e| lock_error(&tmp, e))?;
    Ok(tmp.join(format!("authed-{uid}-locks")))
}

/// The owner the file system gives a file this process creates in `dir`: a file is created
/// there exclusively under a random name, looked at and removed.
#[cfg(unix)]
fn owner_of_new_file(dir: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let probe = dir.join(format!(
        ".authed-owner-{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)?;
    let uid = file.metadata().map(|m| m.uid());
    drop(file);
    let _ = std::fs::remove_file(&probe);
    uid
}

#[cfg(not(unix))]
fn owner_of_new_file(_dir: &Path) -> std::io::Result<u32> {
    Ok(0)
}

/// Creates `dir` (mode 0700) if missing, checks that only the user can write it, then opens
/// (mode 0600), checks and locks the lock file `name` in it, waiting for another process.
fn lock_file(dir: &Path, name: &str) -> Result<std::fs::File> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| lock_error(dir, format_args!("cannot create the directory: {e}")))?;
    let path = dir.join(name);
    #[cfg(unix)]
    check_lock_dir(dir, &path)?;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options
        .open(&path)
        .map_err(|e| lock_error(&path, format_args!("cannot open it: {e}")))?;
    #[cfg(unix)]
    check_lock_file(&file, &path)?;
    file.lock()
        .map_err(|e| lock_error(&path, format_args!("cannot lock it: {e}")))?;
    Ok(file)
}

/// The user's uid (the owner of a file just created in `dir`); refuses `dir` if it is
/// another user's or others may write it, and a lock file already at `path` that is a
/// symbolic link or another user's.
#[cfg(unix)]
fn check_lock_dir(dir: &Path, path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let me = owner_of_new_file(dir).map_err(|e| {
        lock_error(
            path,
            format_args!(
                "cannot create a file in its directory ({e}); choose a directory of your own with CredentialTokenStore::lock_dir"
            ),
        )
    })?;
    let meta = std::fs::metadata(dir)
        .map_err(|e| lock_error(path, format_args!("cannot read its directory: {e}")))?;
    if meta.uid() != me {
        return Err(lock_error(
            path,
            format_args!(
                "its directory belongs to another user (uid {}, not {me}); refusing it: choose a directory of your own with CredentialTokenStore::lock_dir",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(lock_error(
            path,
            format_args!(
                "its directory can be written by other users (mode {:o}), who could hold the lock; refusing it: `chmod 700 {}` or choose another with CredentialTokenStore::lock_dir",
                meta.mode() & 0o7777,
                dir.display()
            ),
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(existing) if existing.file_type().is_symlink() => Err(lock_error(
            path,
            "it is a symbolic link (another user could point it at a file of theirs); refusing it: remove it",
        )),
        Ok(existing) if existing.uid() != me => Err(owned_by_another(path, existing.uid(), me)),
        _ => Ok(()),
    }
}

/// Refuses an opened lock file that is another user's or not a regular file; makes one of
/// ours private (mode 0600) if it is not.
#[cfg(unix)]
fn check_lock_file(file: &std::fs::File, path: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let meta = file
        .metadata()
        .map_err(|e| lock_error(path, format_args!("cannot read it: {e}")))?;
    let me = std::fs::metadata(path.parent().unwrap_or(Path::new(".")))
        .map(|d| d.uid())
        .map_err(|e| lock_error(path, format_args!("cannot read its directory: {e}")))?;
    if meta.uid() != me {
        return Err(owned_by_another(path, meta.uid(), me));
    }
    if !meta.is_file() {
        return Err(lock_error(path, "it is not a regular file; refusing it"));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| lock_error(path, format_args!("cannot make it private: {e}")))?;
    }
    Ok(())
}

#[cfg(unix)]
fn owned_by_another(path: &Path, owner: u32, me: u32) -> Error {
    lock_error(
        path,
        format_args!(
            "it belongs to another user (uid {owner}, not {me}), who could hold it and stall every refresh; refusing it: remove it"
        ),
    )
}

/// The compact record a [`CredentialTokenStore`] keeps: short keys, times as Unix seconds,
/// unknown response fields left out. `v` is the format version.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    v: u8,
    a: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    /// Received at.
    at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<f64>,
    // --- DPoP (RFC 9449); records written before them have neither ---
    /// The token type, when not `Bearer` (`DPoP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    /// The DPoP private key the token set is bound to (`<alg>.<base64url PKCS#8>`): a
    /// DPoP-bound refresh token is useless without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn from_unix(secs: f64) -> Option<SystemTime> {
    (secs.is_finite() && (0.0..=32_503_680_000.0).contains(&secs))
        .then(|| UNIX_EPOCH + Duration::from_secs_f64(secs))
}

/// `token` as a compact record. Contains the secrets. (Also the plaintext of
/// `fleet::RedisTokenStore`'s encrypted records.)
pub(crate) fn to_record(token: &Token) -> Secret {
    let record = Record {
        v: 1,
        a: token.access_token().expose_secret().to_owned(),
        r: token.refresh_token().map(|s| s.expose_secret().to_owned()),
        i: token.id_token().map(|s| s.expose_secret().to_owned()),
        s: token.scope().map(str::to_owned),
        at: unix(token.received_at()),
        exp: token.expires_at().map(unix),
        t: (!token.token_type().eq_ignore_ascii_case("bearer"))
            .then(|| token.token_type().to_owned()),
        k: token
            .dpop_key()
            .map(|key| key.to_stored().expose_secret().to_owned()),
    };
    Secret::new(serde_json::to_string(&record).unwrap_or_default())
}

/// Reads a record written by [`to_record`]; `None` when it is not one.
pub(crate) fn from_record(text: &str) -> Option<Token> {
    let record: Record = serde_json::from_str(text).ok()?;
    if record.v != 1 || record.a.is_empty() {
        return None;
    }
    let mut token = Token::from_parts(
        Secret::new(record.a),
        from_unix(record.at)?,
        match record.exp {
            Some(e) => Some(from_unix(e)?),
            None => None,
        },
        record.r.map(Secret::new),
        record.i.map(Secret::new),
        record.s,
    );
    if let Some(token_type) = record.t {
        token = token.with_token_type(token_type);
    }
    if let Some(key) = record.k {
        token = token.with_dpop_key(crate::oauth2::DpopKey::from_stored(&key).ok()?);
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_other_versions_are_refused() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = Token::bearer("a-1")
            .with_refresh_token("r-1")
            .with_scope("read write")
            .with_expires_at(at + Duration::from_secs(3600));
        let back = from_record(to_record(&token).expose_secret()).expect("a record");
        assert_eq!(back.access_token().expose_secret(), "a-1");
        assert_eq!(back.refresh_token().map(|s| s.expose_secret()), Some("r-1"));
        assert_eq!(back.scope(), Some("read write"));
        assert_eq!(back.expires_at(), token.expires_at());
        assert_eq!(back.token_type(), "Bearer");

        assert!(from_record(r#"{"v":2,"a":"a-1","at":1700000000}"#).is_none());
        // A record without DPoP members (written before them) is a bearer token set.
        let old = from_record(r#"{"v":1,"a":"a-1","r":"r-1","at":1700000000}"#).unwrap();
        assert_eq!(old.token_type(), "Bearer");
        assert!(old.dpop_key().is_none());
        assert!(from_record(r#"{"v":1,"a":"a-1","at":1700000000,"k":"ES256.AAAA"}"#).is_none());
        assert!(from_record(r#"{"v":1,"a":"","at":1700000000}"#).is_none());
        assert!(from_record(r#"{"v":1,"a":"a-1","at":-1}"#).is_none());
        assert!(from_record("not json").is_none());
    }

    #[test]
    fn a_dpop_token_set_keeps_its_type_and_key() {
        let key = crate::oauth2::DpopKey::generate().unwrap();
        let token = Token::bearer("a-1")
            .with_token_type("DPoP")
            .with_refresh_token("r-1")
            .with_dpop_key(key.clone());
        let text = to_record(&token);
        let back = from_record(text.expose_secret()).expect("a record");
        assert_eq!(back.token_type(), "DPoP");
        assert_eq!(
            back.dpop_key().map(|k| k.thumbprint()),
            Some(key.thumbprint())
        );
    }

    #[test]
    fn split_respects_limits_and_characters() {
        let text = "ab€cd€€e";
        for max in 4..12 {
            let pieces = split(text, max);
            assert_eq!(pieces.concat(), text);
            assert!(
                pieces.iter().all(|p| p.len() <= max.max(4)),
                "{max}: {pieces:?}"
            );
        }
    }
}
