//! Hardening (issue 10, items 6, 8 and 9): the size cap on bodies the client reads from the
//! authorization server, `FileStore` under concurrent writers (tasks and processes), and the
//! private cross-process lock file of `CredentialTokenStore`.

#[path = "support/child.rs"]
mod child;
#[path = "support/tempdir.rs"]
mod tempdir;

// Item 6 and item 9 need the `oauth2` feature, item 8 `file-store`.
#[cfg(any(feature = "oauth2", feature = "file-store"))]
use std::{path::Path, time::Duration};
#[cfg(feature = "oauth2")]
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

#[cfg(any(feature = "oauth2", feature = "file-store"))]
use authed::Secret;
#[cfg(feature = "file-store")]
use authed::store::{CredentialStore, FileStore};
#[cfg(feature = "oauth2")]
use authed::{
    Error,
    oauth2::{
        ClientCredentials, DeviceAuthorization, MAX_OAUTH_BODY, OAuthClient, ServerMetadata,
        TokenStore,
    },
    store::{CredentialTokenStore, MemoryStore},
};
#[cfg(feature = "file-store")]
use secrecy::ExposeSecret;
#[cfg(any(feature = "oauth2", feature = "file-store"))]
use tempdir::temp_dir;
#[cfg(feature = "oauth2")]
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

#[cfg(all(unix, any(feature = "oauth2", feature = "file-store")))]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------
// Item 6: bodies read from the authorization server are capped.

/// How long the hostile bodies are: far past the cap, and past anything the kernel's socket
/// buffers could absorb, so that "the server wrote less than this" means "the client
/// stopped reading".
#[cfg(feature = "oauth2")]
const HUGE: usize = 64 * 1024 * 1024;

/// A server on 127.0.0.1 that answers every request with `status`, then a JSON `start`
/// followed by whitespace up to `HUGE` bytes: chunked, or with a `Content-Length` that says
/// so. Returns its base URL and the number of body bytes it managed to write (the client
/// stopped reading when that is well under `HUGE`).
#[cfg(feature = "oauth2")]
async fn huge_body_server(
    status: &'static str,
    start: &'static str,
    declare_length: bool,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                // The request head (the small form body that follows is left unread).
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let framing = if declare_length {
                    format!("content-length: {HUGE}")
                } else {
                    "transfer-encoding: chunked".to_owned()
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let filler = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < HUGE {
                    let piece: Vec<u8> = if sent == 0 {
                        let mut p = start.as_bytes().to_vec();
                        p.extend_from_slice(&filler[start.len()..]);
                        p
                    } else {
                        filler.clone()
                    };
                    let frame = if declare_length {
                        piece
                    } else {
                        let mut f = format!("{:x}\r\n", piece.len()).into_bytes();
                        f.extend_from_slice(&piece);
                        f.extend_from_slice(b"\r\n");
                        f
                    };
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                    sent += filler.len();
                    counter.fetch_add(filler.len(), Ordering::SeqCst);
                }
                if !declare_length {
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                }
            });
        }
    });
    (url, written)
}

/// Asserts that `result` is the typed size error and that the server could not push the
/// whole body: the client stopped reading.
#[cfg(feature = "oauth2")]
#[track_caller]
fn assert_capped<T: std::fmt::Debug>(result: authed::Result<T>, written: &AtomicUsize) {
    let err = result.expect_err("a body past MAX_OAUTH_BODY must not be accepted");
    assert!(err.is_body_too_large(), "not the typed size error: {err:?}");
    let Error::BodyTooLarge(e) = &err else {
        unreachable!()
    };
    assert_eq!(e.limit, MAX_OAUTH_BODY);
    let text = err.to_string();
    assert!(text.contains("limit"), "{text}");
    let written = written.load(Ordering::SeqCst);
    assert!(
        written < HUGE / 2,
        "the client kept reading: the server wrote {written} of {HUGE} bytes"
    );
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn oauth_bodies_past_the_cap_are_refused_and_not_read_whole() {
    let token_body = r#"{"access_token":"a-1","token_type":"Bearer","expires_in":3600}"#;

    // Token endpoint, chunked (no length to refuse up front: the read must stop).
    let (url, written) = huge_body_server("200 OK", token_body, false).await;
    let auth = ClientCredentials::new(format!("{url}/token"), "id", "secret").into_auth();
    let result = tokio::time::timeout(Duration::from_secs(30), auth.token())
        .await
        .expect("the token request finishes");
    assert_capped(result, &written);

    // Token endpoint, with a Content-Length past the cap: refused before reading.
    let (url, written) = huge_body_server("200 OK", token_body, true).await;
    let auth = ClientCredentials::new(format!("{url}/token"), "id", "secret").into_auth();
    let result = tokio::time::timeout(Duration::from_secs(30), auth.token())
        .await
        .expect("the token request finishes");
    assert_capped(result, &written);

    // Device authorization endpoint.
    let (url, written) = huge_body_server(
        "200 OK",
        r#"{"device_code":"d","user_code":"U","verification_uri":"https://x.example/","expires_in":600}"#,
        false,
    )
    .await;
    let device = DeviceAuthorization::new(
        OAuthClient::new(format!("{url}/token"), "id"),
        format!("{url}/device"),
    );
    let result = tokio::time::timeout(Duration::from_secs(30), device.start())
        .await
        .expect("the device request finishes");
    assert_capped(result, &written);

    // Revocation endpoint, answering an error with a huge body.
    let (url, written) =
        huge_body_server("400 Bad Request", r#"{"error":"invalid_request"}"#, false).await;
    let client = OAuthClient::new(format!("{url}/token"), "id");
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        client.revoke(
            &format!("{url}/revoke"),
            &Secret::from("t-1"),
            "access_token",
        ),
    )
    .await
    .expect("the revocation finishes");
    assert_capped(result, &written);

    // Discovery (an unfinished document: only the cap may end the read).
    let (url, written) = huge_body_server("200 OK", "{", false).await;
    let result = tokio::time::timeout(Duration::from_secs(30), ServerMetadata::discover(&url))
        .await
        .expect("discovery finishes");
    assert_capped(result, &written);
}

// ---------------------------------------------------------------------------------------
// Item 8: FileStore keeps every write of concurrent writers.

#[cfg(feature = "file-store")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_keeps_every_write_of_64_concurrent_tasks() {
    let dir = temp_dir("tasks");
    let path = dir.join("credentials.json");
    let store = FileStore::at(&path);
    let mut tasks = Vec::new();
    for i in 0..64 {
        // Half share one store value, half make their own: both must be serialised.
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            FileStore::at(&path)
        };
        tasks.push(tokio::spawn(async move {
            store
                .set(&format!("key-{i}"), &Secret::from(format!("value-{i}")))
                .await
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} writes failed: {failures:?}",
        failures.len()
    );
    for i in 0..64 {
        let got = store.get(&format!("key-{i}")).await.unwrap();
        assert_eq!(
            got.as_ref().map(|s| s.expose_secret()),
            Some(format!("value-{i}").as_str()),
            "key-{i} was lost"
        );
    }
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600, "only the owner may read the file");
    let strays: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(strays.is_empty(), "temporary files left behind: {strays:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(feature = "file-store")]
const FOUR_PROCESSES: &str = "file_store_keeps_every_write_of_4_processes";
#[cfg(feature = "file-store")]
const KEYS_PER_PROCESS: usize = 16;

#[cfg(feature = "file-store")]
#[tokio::test]
async fn file_store_keeps_every_write_of_4_processes() {
    if child::is_child(FOUR_PROCESSES) {
        // One of the four: its keys one after the other, all four processes at once.
        let path = std::env::var("AUTHED_STORE_PATH").unwrap();
        let me = std::env::var("AUTHED_PROCESS").unwrap();
        let start_at: u128 = std::env::var("AUTHED_START_AT").unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        if start_at > now {
            tokio::time::sleep(Duration::from_millis((start_at - now) as u64)).await;
        }
        let store = FileStore::at(path);
        for k in 0..KEYS_PER_PROCESS {
            store
                .set(&format!("p{me}-k{k}"), &Secret::from(format!("v{me}-{k}")))
                .await
                .expect("the write succeeds");
        }
        return;
    }
    let dir = temp_dir("processes");
    let path = dir.join("credentials.json");
    let start_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let mut children = Vec::new();
    for p in 0..4 {
        let mut command = child::command(FOUR_PROCESSES);
        command
            .env("AUTHED_STORE_PATH", &path)
            .env("AUTHED_PROCESS", p.to_string())
            .env("AUTHED_START_AT", start_at.to_string());
        children.push(
            tokio::process::Command::from(command)
                .kill_on_drop(true)
                .output(),
        );
    }
    for process in children {
        let out = tokio::time::timeout(Duration::from_secs(60), process)
            .await
            .expect("the child finishes")
            .unwrap();
        child::check(&out);
    }
    let store = FileStore::at(&path);
    let mut lost = Vec::new();
    for p in 0..4 {
        for k in 0..KEYS_PER_PROCESS {
            let got = store.get(&format!("p{p}-k{k}")).await.unwrap();
            if got.as_ref().map(|s| s.expose_secret().to_owned()) != Some(format!("v{p}-{k}")) {
                lost.push(format!("p{p}-k{k}"));
            }
        }
    }
    assert!(lost.is_empty(), "{} entries lost: {lost:?}", lost.len());
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600, "only the owner may read the file");
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(all(unix, feature = "file-store"))]
#[tokio::test]
async fn file_store_never_writes_through_a_symlink_planted_at_a_temp_path() {
    let dir = temp_dir("symlink");
    let path = dir.join("credentials.json");
    let victim = dir.join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    // The name the store used to write through, predictable from the process id.
    let planted = dir.join(format!(".credentials.json.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();

    let store = FileStore::at(&path);
    store
        .set("k", &Secret::from("v-canary-symlink"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"untouched",
        "the store wrote through the planted symlink"
    );
    assert!(
        !std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the credentials file became a symlink"
    );
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        store.get("k").await.unwrap().unwrap().expose_secret(),
        "v-canary-symlink"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// Item 9: the cross-process lock file is private.

/// Every `*.lock` file under `dir`.
#[cfg(feature = "oauth2")]
fn lock_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            found.extend(lock_files(&path));
        } else if path.extension().is_some_and(|e| e == "lock") {
            found.push(path);
        }
    }
    found
}

#[cfg(feature = "oauth2")]
const NO_RUNTIME_DIR: &str = "lock_file_without_xdg_runtime_dir_is_private_to_the_user";

#[cfg(all(unix, feature = "oauth2"))]
#[test]
fn lock_file_without_xdg_runtime_dir_is_private_to_the_user() {
    if child::is_child(NO_RUNTIME_DIR) {
        child::block_on(async {
            let store = CredentialTokenStore::new(MemoryStore::new(), "session");
            let lock = store.lock().await.expect("the lock is taken");
            assert!(lock.is_some());
        });
        return;
    }
    let dir = temp_dir("runtime");
    let home = dir.join("home");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    // A shared temporary directory, as /tmp is: anyone may create files in it.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let mut command = child::command(NO_RUNTIME_DIR);
    command
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home)
        .env("TMPDIR", &tmp);
    child::run(command);

    let in_tmp = lock_files(&tmp);
    assert!(
        in_tmp.is_empty(),
        "lock file in the shared temporary directory: {in_tmp:?}"
    );
    let in_home = lock_files(&home);
    assert_eq!(in_home.len(), 1, "one lock file under $HOME: {in_home:?}");
    let lock = &in_home[0];
    assert_eq!(mode(lock), 0o600, "{}", lock.display());
    let parent = lock.parent().unwrap();
    assert_eq!(mode(parent), 0o700, "{}", parent.display());
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(all(unix, feature = "oauth2"))]
#[tokio::test]
async fn a_lock_file_owned_by_another_user_is_refused() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let dir = temp_dir("owner");
    let store = CredentialTokenStore::new(MemoryStore::new(), "session").lock_dir(&dir);
    drop(store.lock().await.expect("the first lock is taken"));
    let locks = lock_files(&dir);
    assert_eq!(locks.len(), 1, "{locks:?}");
    let lock = &locks[0];
    let me = std::fs::metadata(lock).unwrap().uid();
    if me == 0 {
        // Root can give the file away, as another user's own file would be.
        std::os::unix::fs::chown(lock, Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(lock, std::fs::Permissions::from_mode(0o666)).unwrap();
    } else {
        // Anyone else: the lock path names a file of root's.
        std::fs::remove_file(lock).unwrap();
        assert_ne!(std::fs::metadata("/etc/passwd").unwrap().uid(), me);
        std::os::unix::fs::symlink("/etc/passwd", lock).unwrap();
    }
    let err = store
        .lock()
        .await
        .expect_err("a lock file of another user's must be refused");
    assert!(matches!(&err, Error::Store(_)), "{err:?}");
    assert!(err.to_string().contains("another user"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(all(unix, feature = "oauth2"))]
#[tokio::test]
async fn a_lock_dir_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("shared-lock-dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let store = CredentialTokenStore::new(MemoryStore::new(), "session").lock_dir(&dir);
    let err = store
        .lock()
        .await
        .expect_err("a lock directory anyone can write must be refused");
    assert!(matches!(&err, Error::Store(_)), "{err:?}");
    assert!(lock_files(&dir).is_empty(), "a lock file was created");
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(all(unix, feature = "oauth2"))]
#[tokio::test]
async fn a_lock_file_that_is_a_symlink_is_refused() {
    let dir = temp_dir("lock-symlink");
    let store = CredentialTokenStore::new(MemoryStore::new(), "session").lock_dir(&dir);
    drop(store.lock().await.expect("the first lock is taken"));
    let locks = lock_files(&dir);
    assert_eq!(locks.len(), 1, "{locks:?}");
    let victim = dir.join("elsewhere");
    std::fs::write(&victim, b"").unwrap();
    std::fs::remove_file(&locks[0]).unwrap();
    std::os::unix::fs::symlink(&victim, &locks[0]).unwrap();
    let err = store
        .lock()
        .await
        .expect_err("a symbolic link at the lock path must be refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
