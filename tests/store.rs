//! Credential stores: round trips, the file store's safety, token sets split across entries,
//! persistence across clients, failures, and two processes sharing one session.

#[path = "support/child.rs"]
mod child;
#[path = "support/store_contract.rs"]
mod store_contract;
#[path = "support/tempdir.rs"]
mod tempdir;

// Token sets (`CredentialTokenStore`) need the `oauth2` feature, `FileStore` `file-store`.
#[cfg(feature = "oauth2")]
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

#[cfg(feature = "file-store")]
use authed::store::FileStore;
#[cfg(any(feature = "oauth2", feature = "file-store"))]
use authed::{Error, store::StoreErrorKind};
use authed::{
    Secret,
    store::{CredentialStore, MemoryStore, Persistence},
};
#[cfg(feature = "oauth2")]
use authed::{
    oauth2::{Custom, Token, TokenStore},
    store::{CredentialTokenStore, StoreStatus},
};
use secrecy::ExposeSecret;
#[cfg(feature = "file-store")]
use tempdir::temp_dir;

#[tokio::test]
async fn memory_round_trip() {
    let store = MemoryStore::new();
    store_contract::round_trip(&store).await;
    assert_eq!(store.status().persistence, Persistence::Process);
    assert!(!store.status().insecure);
}

#[cfg(feature = "file-store")]
#[tokio::test]
async fn file_round_trip_mode_and_atomic_replace() {
    let dir = temp_dir("file");
    let path = dir.join("nested").join("credentials.json");
    let store = FileStore::at(&path);
    store_contract::round_trip(&store).await;
    store.set("other", &Secret::from("kept")).await.unwrap();
    let status = store.status();
    assert_eq!(status.backend, format!("file {}", path.display()));
    assert_eq!(status.persistence, Persistence::Persistent);
    assert!(status.insecure, "a plain file is insecure storage");
    assert!(status.to_string().contains("insecure storage"), "{status}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the owner may read the file");
    }
    // No temporary files are left next to it; the writers' lock file stays.
    let mut names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, [".credentials.json.lock", "credentials.json"]);
    // Another store on the same file sees the same entries (it is the disk, not memory).
    let again = FileStore::at(&path);
    assert_eq!(
        again.get("other").await.unwrap().unwrap().expose_secret(),
        "kept"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(feature = "file-store")]
#[tokio::test]
async fn for_app_uses_the_config_directory() {
    let store = FileStore::for_app("my-app").unwrap();
    assert!(
        store.path().ends_with("my-app/credentials.json"),
        "{:?}",
        store.path()
    );
    assert!(FileStore::for_app("../evil").unwrap_err().is_config());
}

#[cfg(feature = "file-store")]
#[tokio::test]
async fn a_corrupted_file_is_a_typed_error() {
    let dir = temp_dir("corrupt");
    let path = dir.join("credentials.json");
    std::fs::write(&path, b"{not json").unwrap();
    let err = FileStore::at(&path).get("x").await.unwrap_err();
    assert!(
        matches!(&err, Error::Store(e) if e.kind == StoreErrorKind::Corrupted),
        "{err:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn a_corrupted_token_record_is_a_typed_error() {
    let memory = Arc::new(MemoryStore::new());
    memory
        .set("session", &Secret::from("{\"v\":1}"))
        .await
        .unwrap();
    let tokens = CredentialTokenStore::new(memory.clone(), "session");
    let err = tokens.load().await.unwrap_err();
    assert!(
        matches!(&err, Error::Store(e) if e.kind == StoreErrorKind::Corrupted),
        "{err:?}"
    );
    memory
        .set("session", &Secret::from("authed:chunks:3"))
        .await
        .unwrap();
    let err = tokens.load().await.unwrap_err();
    assert!(err.to_string().contains("chunk is missing"), "{err}");
}

#[cfg(feature = "file-store")]
#[tokio::test]
async fn an_unwritable_backend_says_what_failed() {
    let store = FileStore::at("/dev/null/impossible/credentials.json");
    let err = store.set("k", &Secret::from("v-canary")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Store(e) if e.kind == StoreErrorKind::Io),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("/dev/null/impossible"), "{text}");
    assert!(!text.contains("v-canary"), "{text}");
}

#[tokio::test]
async fn a_missing_entry_is_a_clear_error_for_static_secrets() {
    let store = MemoryStore::new();
    let err = Secret::from_store(&store, "github-token")
        .await
        .unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().contains("github-token"), "{err}");
    store
        .set("github-token", &Secret::from("ghp_x"))
        .await
        .unwrap();
    let key = Secret::from_store(&store, "github-token").await.unwrap();
    assert_eq!(key.expose_secret(), "ghp_x");
}

/// A store whose entries hold at most `max` bytes (Windows Credential Manager: 2560).
#[cfg(feature = "oauth2")]
#[derive(Debug)]
struct Limited {
    inner: MemoryStore,
    max: usize,
}

#[cfg(feature = "oauth2")]
#[async_trait::async_trait]
impl CredentialStore for Limited {
    async fn get(&self, name: &str) -> authed::Result<Option<Secret>> {
        self.inner.get(name).await
    }
    async fn set(&self, name: &str, value: &Secret) -> authed::Result<()> {
        assert!(
            value.expose_secret().len() <= self.max,
            "an entry over the limit was written"
        );
        self.inner.set(name, value).await
    }
    async fn delete(&self, name: &str) -> authed::Result<()> {
        self.inner.delete(name).await
    }
    fn status(&self) -> StoreStatus {
        self.inner.status()
    }
    fn max_entry_len(&self) -> Option<usize> {
        Some(self.max)
    }
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn a_large_token_set_is_split_and_joined_back() {
    let limited = Arc::new(Limited {
        inner: MemoryStore::new(),
        max: 2560,
    });
    let tokens = CredentialTokenStore::new(limited.clone(), "session");
    let big = "x".repeat(6000);
    let token = Token::bearer(big.as_str())
        .with_refresh_token("r-€-1")
        .with_expires_in(Duration::from_secs(3600));
    tokens.save(&token).await.unwrap();
    let header = limited.get("session").await.unwrap().unwrap();
    assert_eq!(header.expose_secret(), "authed:chunks:3");
    let back = tokens.load().await.unwrap().unwrap();
    assert_eq!(back.access_token().expose_secret(), big);
    assert_eq!(back.refresh_token().unwrap().expose_secret(), "r-€-1");
    let lifetime = back
        .expires_at()
        .unwrap()
        .duration_since(back.received_at())
        .unwrap();
    assert!(
        (lifetime.as_secs_f64() - 3600.0).abs() < 0.01,
        "{lifetime:?}"
    );
    tokens.clear().await.unwrap();
    for name in ["session", "session#1", "session#2", "session#3"] {
        assert!(limited.get(name).await.unwrap().is_none(), "{name} cleared");
    }
    // A small one fits in one entry.
    tokens.save(&Token::bearer("small")).await.unwrap();
    assert!(limited.get("session#1").await.unwrap().is_none());
    assert_eq!(
        tokens
            .load()
            .await
            .unwrap()
            .unwrap()
            .access_token()
            .expose_secret(),
        "small"
    );
}

#[cfg(all(feature = "oauth2", feature = "file-store"))]
#[tokio::test]
async fn a_new_client_uses_the_stored_session_without_logging_in() {
    let dir = temp_dir("persist");
    let path = dir.join("credentials.json");
    let logins = Arc::new(AtomicUsize::new(0));
    let source = {
        let logins = logins.clone();
        Custom::new(move || {
            logins.fetch_add(1, Ordering::SeqCst);
            async { Ok(Token::bearer("session-1").with_expires_in(Duration::from_secs(3600))) }
        })
    };
    let first = source
        .clone()
        .into_auth()
        .store(CredentialTokenStore::new(FileStore::at(&path), "default"));
    first.token().await.unwrap();
    drop(first);
    // The next run: a new cache over the same file.
    let second = source
        .into_auth()
        .store(CredentialTokenStore::new(FileStore::at(&path), "default"));
    let token = second.token().await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "session-1");
    assert_eq!(logins.load(Ordering::SeqCst), 1, "no second login");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A store that cannot be written.
#[cfg(feature = "oauth2")]
#[derive(Debug, Default)]
struct ReadOnly;

#[cfg(feature = "oauth2")]
#[async_trait::async_trait]
impl TokenStore for ReadOnly {
    async fn load(&self) -> authed::Result<Option<Token>> {
        Ok(None)
    }
    async fn save(&self, _: &Token) -> authed::Result<()> {
        Err(Error::auth("disk full"))
    }
    async fn clear(&self) -> authed::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn a_store_failing_during_a_refresh_does_not_lose_the_token() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let auth = Custom::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(Token::bearer("fresh-canary").with_expires_in(Duration::from_secs(3600))) }
    })
    .into_auth()
    .store(ReadOnly);
    // The call that fetched it says what happened...
    let err = auth.token().await.unwrap_err();
    assert!(matches!(&err, Error::Store(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("could not be stored") && text.contains("disk full"),
        "{text}"
    );
    assert!(!text.contains("fresh-canary"), "{text}");
    // ...and the token set is not lost: the next calls use it without a new request.
    assert_eq!(
        auth.token().await.unwrap().access_token().expose_secret(),
        "fresh-canary"
    );
    assert_eq!(
        auth.token().await.unwrap().access_token().expose_secret(),
        "fresh-canary"
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

/// The `Debug` of every store this build has, and of a loaded token set.
#[tokio::test]
async fn debug_and_errors_never_show_stored_secrets() {
    let memory = MemoryStore::new();
    memory
        .set("k", &Secret::from("canary-stored"))
        .await
        .unwrap();
    #[allow(unused_mut)] // with neither feature
    let mut text = format!("{memory:?}");
    #[cfg(feature = "oauth2")]
    {
        let tokens = CredentialTokenStore::new(MemoryStore::new(), "s");
        tokens
            .save(&Token::bearer("canary-access").with_refresh_token("canary-refresh"))
            .await
            .unwrap();
        text += &format!(" {tokens:?} {:?}", tokens.load().await.unwrap());
    }
    #[cfg(feature = "file-store")]
    {
        let file = FileStore::at(temp_dir("debug").join("c.json"));
        file.set("k", &Secret::from("canary-file")).await.unwrap();
        text += &format!(" {file:?}");
    }
    assert!(!text.contains("canary"), "{text}");
}

// --- Two processes sharing one session -------------------------------------------------

#[cfg(all(feature = "oauth2", feature = "file-store"))]
const TWO_PROCESSES: &str = "two_processes_refresh_once_against_a_rotating_server";

/// Two processes (this test binary twice, as children of this test) find the stored session
/// expired at the same moment: one refreshes, the other waits on the file lock and uses the
/// result, so the rotating refresh token is used once.
#[cfg(all(feature = "oauth2", feature = "file-store"))]
#[tokio::test]
async fn two_processes_refresh_once_against_a_rotating_server() {
    if child::is_child(TWO_PROCESSES) {
        return one_of_two_processes().await;
    }
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{body_string_contains, method},
    };
    let server = MockServer::start().await;
    // r-1 may be used once; using it again would be a reuse (the server would revoke).
    Mock::given(method("POST"))
        .and(body_string_contains("refresh_token=r-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    r#"{"access_token":"a-2","refresh_token":"r-2","token_type":"Bearer","expires_in":3600}"#,
                    "application/json",
                )
                .set_delay(Duration::from_millis(300)),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"error":"invalid_grant","error_description":"refresh token reused"}"#,
            "application/json",
        ))
        .with_priority(10)
        .expect(0)
        .mount(&server)
        .await;

    let dir = temp_dir("cross");
    let store_path = dir.join("credentials.json");
    let store = CredentialTokenStore::new(FileStore::at(&store_path), "default");
    store
        .save(
            &Token::bearer("a-1")
                .with_refresh_token("r-1")
                .with_expires_in(Duration::ZERO),
        )
        .await
        .unwrap();
    let start_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut command = child::command(TWO_PROCESSES);
        command
            .env("AUTHED_TOKEN_URL", format!("{}/token", server.uri()))
            .env("AUTHED_STORE_PATH", &store_path)
            .env("AUTHED_LOCK_DIR", &dir)
            .env("AUTHED_START_AT", start_at.to_string());
        children.push(
            tokio::process::Command::from(command)
                .kill_on_drop(true)
                .output(),
        );
    }
    let mut got = Vec::new();
    for process in children {
        let out = tokio::time::timeout(Duration::from_secs(60), process)
            .await
            .expect("the child finishes")
            .unwrap();
        child::check(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // libtest may print `test <name> ... ` on the same line first.
        let which = stdout
            .split("CHILD-GOT ")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or_else(|| panic!("{stdout}"));
        got.push(which.to_owned());
    }
    assert_eq!(got[0], got[1], "both processes use the one refreshed token");
    server.verify().await; // exactly one refresh, no reuse
    let stored = store.load().await.unwrap().unwrap();
    assert_eq!(stored.refresh_token().unwrap().expose_secret(), "r-2");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The child side of [`two_processes_refresh_once_against_a_rotating_server`].
#[cfg(all(feature = "oauth2", feature = "file-store"))]
async fn one_of_two_processes() {
    use authed::oauth2::{OAuthClient, RefreshToken};

    let token_url = std::env::var("AUTHED_TOKEN_URL").unwrap();
    let store_path = std::env::var("AUTHED_STORE_PATH").unwrap();
    let lock_dir = std::env::var("AUTHED_LOCK_DIR").unwrap();
    let start_at: u128 = std::env::var("AUTHED_START_AT").unwrap().parse().unwrap();
    let auth = RefreshToken::new(OAuthClient::new(token_url, "cli"))
        .into_auth()
        .store(CredentialTokenStore::new(FileStore::at(store_path), "default").lock_dir(lock_dir));
    // Both processes ask at the same moment.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    if start_at > now {
        tokio::time::sleep(Duration::from_millis((start_at - now) as u64)).await;
    }
    let token = auth.token().await.expect("the child gets a token");
    // Print which token, not the token.
    println!(
        "CHILD-GOT {}",
        authed::oauth2::pkce_challenge(token.access_token().expose_secret())
    );
}

/// A store of the caller's own can say what it is and fail with the crate's typed error.
#[tokio::test]
async fn a_store_of_your_own_reports_its_status_and_typed_errors() {
    use authed::{
        error::StoreErrorKind,
        store::{CredentialStore, Persistence, StoreStatus},
    };

    #[derive(Debug)]
    struct Vault;

    #[authed::async_trait]
    impl CredentialStore for Vault {
        async fn get(&self, _name: &str) -> authed::Result<Option<Secret>> {
            Err(authed::Error::store(
                StoreErrorKind::Locked,
                "the vault is sealed: unseal it with `vault operator unseal`",
            ))
        }
        async fn set(&self, _name: &str, _value: &Secret) -> authed::Result<()> {
            Ok(())
        }
        async fn delete(&self, _name: &str) -> authed::Result<()> {
            Ok(())
        }
        fn status(&self) -> StoreStatus {
            StoreStatus::new("vault kv/app", Persistence::Persistent)
        }
    }

    let status = Vault.status();
    assert_eq!(status.backend, "vault kv/app");
    assert!(!status.insecure);
    assert!(
        StoreStatus::new("dump", Persistence::Persistent)
            .insecure(true)
            .insecure
    );
    let err = Vault.get("token").await.unwrap_err();
    assert!(err.to_string().contains("sealed"), "{err}");
    assert!(
        matches!(&err, authed::Error::Store(e) if e.kind == StoreErrorKind::Locked),
        "{err:?}"
    );
}
