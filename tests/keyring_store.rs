//! [`KeyringStore`] against the real backends: the Linux kernel keyring, and a Secret Service
//! (gnome-keyring) on a private session D-Bus that the tests start themselves
//! (tests/support/secret_service.rs, which runs scripts/secret-service.sh) and stop.
//!
//! A backend that cannot be had fails the test with the fix. The only way around that is an
//! explicit opt-out, `AUTHED_TEST_SKIP=kernel-keyring` or `secret-service` with
//! `bash scripts/test.sh`, which filters out the tests in the `needs_kernel_keyring` or
//! `needs_secret_service` module and counts them as skipped.
//!
//! The kernel keyring tests first join a fresh session keyring for the test's thread (what
//! `keyctl session` does): in a container the inherited session keyring is often one this
//! process can add keys to but not read them back from. The probe rejects such a keyring
//! (see `probe_rejects_an_unreadable_kernel_keyring`); the tests want one that works.
#![cfg(feature = "keyring")]
#![cfg(target_os = "linux")]

#[path = "support/secret_service.rs"]
mod secret_service;
#[path = "support/store_contract.rs"]
mod store_contract;
#[path = "support/tempdir.rs"]
mod tempdir;

#[cfg(feature = "file-store")]
use authed::store::FileStore;
use authed::{
    Error, Secret,
    store::{CredentialStore, KeyringBackend, KeyringStore, Persistence, StoreErrorKind},
};
#[cfg(feature = "oauth2")]
use authed::{
    oauth2::{Token, TokenStore},
    store::CredentialTokenStore,
};
#[cfg(any(feature = "oauth2", feature = "file-store"))]
use secrecy::ExposeSecret;
use secret_service::child;
#[cfg(feature = "file-store")]
use tempdir::temp_dir;

/// What to do when the kernel keyring cannot be used.
const KERNEL_FIX: &str = "Fix: run the tests where keyctl(2) is allowed (a container's seccomp \
    profile may block it), or opt out with AUTHED_TEST_SKIP=kernel-keyring and run \
    `bash scripts/test.sh`, which reports these tests as skipped";

/// A service name of this test alone, so runs never see each other's entries.
fn service(test: &str) -> String {
    format!("authed-test-{test}-{}", uuid::Uuid::new_v4())
}

/// Gives the calling thread (and the threads it starts afterwards, such as the runtime's
/// blocking pool) a new anonymous session keyring: `keyctl session`.
fn join_fresh_session_keyring() {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) takes no pointers but the null name.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    assert!(
        id >= 0,
        "could not join a fresh session keyring: {}\n{KERNEL_FIX}",
        std::io::Error::last_os_error()
    );
}

fn store_kind(err: &Error) -> Option<StoreErrorKind> {
    match err {
        Error::Store(e) => Some(e.kind),
        _ => None,
    }
}

/// Fails the test, with the fix, unless `store` (on the kernel keyring) works.
async fn require_kernel(store: &KeyringStore) {
    if let Err(e) = store.get("authed-availability-check").await {
        if store_kind(&e) == Some(StoreErrorKind::Unavailable) {
            panic!("the kernel keyring is needed and cannot be used: {e}\n{KERNEL_FIX}");
        }
        panic!("the kernel keyring failed: {e}");
    }
}

/// A token set larger than some backends take in one entry survives a save and a load.
#[cfg(feature = "oauth2")]
async fn large_token_set_round_trip(store: KeyringStore) {
    use std::time::Duration;

    let backend = store.status().backend;
    let tokens = CredentialTokenStore::new(store, "session");
    let big = "a".repeat(9000);
    let token = Token::bearer(big.as_str())
        .with_refresh_token("r-€-1")
        .with_scope("read write")
        .with_expires_in(Duration::from_secs(3600));
    tokens.save(&token).await.unwrap();
    let back = tokens.load().await.unwrap().unwrap();
    assert_eq!(back.access_token().expose_secret(), big, "via {backend}");
    assert_eq!(back.refresh_token().unwrap().expose_secret(), "r-€-1");
    tokens.clear().await.unwrap();
    assert!(tokens.load().await.unwrap().is_none());
}

/// The opt-in file at the end of the chain: `KeyringStore::insecure_file_fallback` (feature
/// `file-store`; without it, the error still names the opt-in). These tests need no keyring:
/// they take one away. To make every backend of the chain fail, the
/// chain is restricted with `KeyringStore::with_backends` (an explicit builder option, not a
/// test knob) to backends that cannot work here: the Secret Service, in a child process whose
/// D-Bus address points nowhere, or the macOS Keychain, which is not on Linux. The kernel
/// keyring cannot be taken away from a process without privileges, so it is left out of the
/// chain instead.
mod insecure_file_fallback {
    use super::*;

    const NO_BUS: &str = "unix:path=/nonexistent/authed-test/bus";

    /// Runs `test` again in a child with no reachable Secret Service; true in the child.
    fn in_child_without_dbus(test: &str) -> bool {
        if child::is_child(test) {
            return true;
        }
        let mut command = child::command(test);
        command.env("DBUS_SESSION_BUS_ADDRESS", NO_BUS);
        child::run(command);
        false
    }

    /// With no Secret Service reachable and no other backend in the chain, an opted-in store
    /// keeps the store contract in the file, which is mode 0600, and says it is insecure.
    #[cfg(feature = "file-store")]
    #[test]
    fn no_keyring_and_opted_in_uses_the_file_and_reports_insecure_storage() {
        const TEST: &str = "insecure_file_fallback::no_keyring_and_opted_in_uses_the_file_and_reports_insecure_storage";
        if !in_child_without_dbus(TEST) {
            return;
        }
        child::block_on(async {
            let path = temp_dir("fallback").join("app").join("credentials.json");
            let store =
                KeyringStore::with_backends(&service("fallback"), &[KeyringBackend::SecretService])
                    .insecure_file_fallback(FileStore::at(&path));
            assert!(!store.status().insecure, "not chosen before the first call");
            store_contract::round_trip(&store).await;

            store.set("k", &Secret::from("in the file")).await.unwrap();
            assert!(store.is_insecure_storage());
            assert_eq!(store.backend(), None, "no keyring backend is in use");
            let status = store.status();
            assert!(status.insecure, "{status:?}");
            assert_eq!(status.persistence, Persistence::Persistent);
            assert_eq!(
                status.backend,
                format!(
                    "file {} (insecure storage: no OS keyring works)",
                    path.display()
                )
            );
            assert!(status.to_string().contains("insecure storage"), "{status}");
            assert!(
                format!("{store:?}").contains("insecure storage"),
                "{store:?}"
            );

            // It is the file: a FileStore of the same path reads the entry.
            let file = FileStore::at(&path);
            assert_eq!(
                file.get("k").await.unwrap().unwrap().expose_secret(),
                "in the file"
            );
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "only the owner may read the file");
            }
            store.delete("k").await.unwrap();
            assert!(file.get("k").await.unwrap().is_none());
        });
    }

    /// The same machine without the opt-in: a typed error naming both fixes (install a
    /// keyring, or opt in to the file), and no file.
    #[test]
    fn no_keyring_and_not_opted_in_fails_naming_the_fixes() {
        const TEST: &str =
            "insecure_file_fallback::no_keyring_and_not_opted_in_fails_naming_the_fixes";
        if !in_child_without_dbus(TEST) {
            return;
        }
        child::block_on(async {
            let store = KeyringStore::with_backends(
                &service("no-fallback"),
                &[KeyringBackend::SecretService, KeyringBackend::Keychain],
            );
            let err = store.set("k", &Secret::from("nowhere")).await.unwrap_err();
            assert_eq!(store_kind(&err), Some(StoreErrorKind::Unavailable), "{err}");
            let text = err.to_string();
            assert!(text.contains("no keyring backend works"), "{text}");
            assert!(text.contains("install and unlock gnome-keyring"), "{text}");
            assert!(
                text.contains("KeyringStore::insecure_file_fallback"),
                "{text}"
            );
            assert!(text.contains("insecure storage"), "{text}");
            // Built without the file store, the fix also names its feature.
            assert_eq!(
                text.contains("cargo feature `file-store`"),
                cfg!(not(feature = "file-store")),
                "{text}"
            );
            let status = store.status();
            assert_eq!(status.backend, "keyring (none available)");
            assert!(!status.insecure);
            #[cfg(feature = "file-store")]
            assert!(!store.is_insecure_storage());
        });
    }

    /// In process, with a chain of backends this platform does not have (the Keychain) or
    /// none at all: the opted-in file is used.
    #[cfg(feature = "file-store")]
    #[tokio::test]
    async fn a_chain_of_unavailable_backends_falls_to_the_file() {
        let dir = temp_dir("fallback-chain");
        for (i, chain) in [&[KeyringBackend::Keychain][..], &[]]
            .into_iter()
            .enumerate()
        {
            let path = dir.join(format!("{i}.json"));
            let store = KeyringStore::with_backends(&service("chain"), chain)
                .insecure_file_fallback(FileStore::at(&path));
            store_contract::round_trip(&store).await;
            assert!(store.status().insecure, "{chain:?}");
            assert!(path.exists(), "{chain:?}");
        }
        // Not opted in: a typed error that says how to opt in.
        let err = KeyringStore::with_backends(&service("chain"), &[KeyringBackend::Keychain])
            .get("k")
            .await
            .unwrap_err();
        assert_eq!(store_kind(&err), Some(StoreErrorKind::Unavailable), "{err}");
        assert!(err.to_string().contains("insecure_file_fallback"), "{err}");
    }
}

mod needs_kernel_keyring {
    use super::*;

    #[tokio::test]
    async fn kernel_keyring_round_trip() {
        join_fresh_session_keyring();
        let store = KeyringStore::kernel(&service("kernel"));
        require_kernel(&store).await;
        store_contract::round_trip(&store).await;
        assert_eq!(store.backend(), Some(KeyringBackend::Kernel));
        let status = store.status();
        assert_eq!(status.backend, "kernel keyring");
        assert_eq!(status.persistence, Persistence::UntilReboot);
        assert!(!status.insecure);
        assert_eq!(
            status.to_string(),
            "kernel keyring: keeps secrets until reboot (lost when the machine restarts)"
        );
        assert_eq!(store.max_entry_len(), None);
    }

    #[tokio::test]
    async fn the_probe_takes_the_next_backend_in_an_explicit_order() {
        join_fresh_session_keyring();
        require_kernel(&KeyringStore::kernel(&service("order-check"))).await;
        // The Keychain is not on Linux: the probe moves on to the kernel keyring.
        let store = KeyringStore::with_backends(
            &service("order"),
            &[KeyringBackend::Keychain, KeyringBackend::Kernel],
        );
        store.set("k", &Secret::from("v")).await.unwrap();
        assert_eq!(store.backend(), Some(KeyringBackend::Kernel));
        assert_eq!(store.status().persistence, Persistence::UntilReboot);
        store.delete("k").await.unwrap();
    }

    /// The probe in a child process of this test whose D-Bus address points nowhere: the
    /// Secret Service alone is a typed error that names the fix, and the default order falls
    /// back to the kernel keyring.
    #[test]
    fn probe_falls_back_to_kernel_without_dbus() {
        const TEST: &str = "needs_kernel_keyring::probe_falls_back_to_kernel_without_dbus";
        if !child::is_child(TEST) {
            let mut command = child::command(TEST);
            command.env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/authed-test/bus",
            );
            child::run(command);
            return;
        }
        // Before the runtime starts any thread: a blocking-pool thread started earlier would
        // keep the inherited session keyring, and the kernel keyring calls may run on it.
        join_fresh_session_keyring();
        child::block_on(async {
            // The Secret Service alone: a typed error that names the fix, remembered for a
            // while.
            let only = KeyringStore::secret_service(&service("no-dbus"));
            let err = only.get("k").await.unwrap_err();
            assert_eq!(store_kind(&err), Some(StoreErrorKind::Unavailable), "{err}");
            assert!(
                err.to_string().contains("no Secret Service on D-Bus"),
                "{err}"
            );
            assert!(err.to_string().contains("KeyringStore::kernel()"), "{err}");
            assert_eq!(only.status().backend, "keyring (none available)");
            let again = only.get("k").await.unwrap_err();
            assert_eq!(again.to_string(), err.to_string());

            require_kernel(&KeyringStore::kernel(&service("no-dbus-check"))).await;
            let store = KeyringStore::new(&service("no-dbus-probe"));
            store.set("k", &Secret::from("v")).await.unwrap();
            assert_eq!(store.backend(), Some(KeyringBackend::Kernel));
            assert_eq!(store.status().backend, "kernel keyring");
            assert_eq!(store.status().persistence, Persistence::UntilReboot);
            store.delete("k").await.unwrap();
        });
    }

    /// Without a fresh session keyring, a container's inherited one may accept keys but refuse
    /// to read them: the probe must notice (a write alone would not) and say so.
    #[test]
    fn probe_rejects_an_unreadable_kernel_keyring() {
        // A thread of its own: its session keyring is whatever the process inherited.
        let result = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let store =
                    KeyringStore::with_backends(&service("inherited"), &[KeyringBackend::Kernel]);
                store.set("k", &Secret::from("v")).await.map(|()| store)
            })
        })
        .join()
        .unwrap();
        match result {
            Ok(store) => {
                // A normal login session: the inherited keyring works.
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(store.delete("k")).unwrap();
                println!("the inherited session keyring works here");
            }
            Err(e) => {
                assert_eq!(store_kind(&e), Some(StoreErrorKind::Unavailable), "{e}");
                let text = e.to_string();
                assert!(text.contains("probe failed"), "{text}");
                assert!(text.contains("keyctl session"), "{text}");
            }
        }
    }

    #[cfg(feature = "oauth2")]
    #[tokio::test]
    async fn a_large_token_set_round_trips_through_the_keyring() {
        join_fresh_session_keyring();
        let store = KeyringStore::kernel(&service("tokens"));
        require_kernel(&store).await;
        large_token_set_round_trip(store).await;
    }

    #[tokio::test]
    async fn errors_and_debug_never_show_the_secret() {
        join_fresh_session_keyring();
        let svc = service("canary");
        let store = KeyringStore::kernel(&svc);
        require_kernel(&store).await;
        let canary = format!("CANARY-{}", uuid::Uuid::new_v4());
        store
            .set("good", &Secret::from(canary.as_str()))
            .await
            .unwrap();

        // An entry that is not UTF-8 and holds the canary, written behind the store's back:
        // keyring-core's error for it carries the raw bytes in its Debug.
        let raw = {
            let mut bytes = canary.clone().into_bytes();
            bytes.extend_from_slice(&[0xff, 0xfe]);
            bytes
        };
        let svc2 = svc.clone();
        tokio::task::spawn_blocking(move || {
            use keyring_core::api::CredentialStoreApi as _;
            let core = linux_keyutils_keyring_store::Store::new().unwrap();
            core.build(&svc2, "bad", None)
                .unwrap()
                .set_secret(&raw)
                .unwrap();
        })
        .await
        .unwrap();

        let err = store.get("bad").await.unwrap_err();
        assert_eq!(store_kind(&err), Some(StoreErrorKind::Corrupted), "{err}");
        #[allow(unused_mut)] // without `oauth2`
        let mut shown = vec![
            err.to_string(),
            format!("{err:?}"),
            format!("{err:#?}"),
            format!("{store:?}"),
            format!("{:?}", store.status()),
        ];
        #[cfg(feature = "oauth2")]
        shown.push(format!(
            "{:?}",
            CredentialTokenStore::new(KeyringStore::kernel(&svc), "good")
        ));
        for text in shown {
            assert!(!text.contains(&canary), "the secret leaked: {text}");
            assert!(
                !text.contains("67, 65, 78, 65, 82, 89"),
                "the secret's bytes leaked: {text}"
            );
        }
        assert!(format!("{store:?}").contains(&svc));
        assert!(format!("{store:?}").contains("kernel keyring"));
        store.delete("bad").await.unwrap();
        store.delete("good").await.unwrap();
        assert!(store.get("bad").await.unwrap().is_none());
    }
}

/// Each test runs in a child process on a private Secret Service of its own
/// ([`secret_service::run`]).
mod needs_secret_service {
    use super::*;

    #[test]
    fn secret_service_round_trip() {
        secret_service::run("needs_secret_service::secret_service_round_trip", async {
            let store = KeyringStore::secret_service(&service("secret-service"));
            store_contract::round_trip(&store).await;
            assert_eq!(store.backend(), Some(KeyringBackend::SecretService));
            let status = store.status();
            assert_eq!(status.backend, "Secret Service");
            assert_eq!(status.persistence, Persistence::Persistent);
        });
    }

    #[test]
    fn the_probe_prefers_the_secret_service() {
        secret_service::run(
            "needs_secret_service::the_probe_prefers_the_secret_service",
            async {
                join_fresh_session_keyring();
                let store = KeyringStore::new(&service("probe"));
                assert_eq!(store.status().backend, "keyring (not probed yet)");
                assert!(format!("{store:?}").contains("not probed yet"), "{store:?}");
                store.set("k", &Secret::from("v")).await.unwrap();
                assert_eq!(store.backend(), Some(KeyringBackend::SecretService));
                assert_eq!(store.status().persistence, Persistence::Persistent);
                assert!(format!("{store:?}").contains("Secret Service"), "{store:?}");
                store.delete("k").await.unwrap();
            },
        );
    }

    #[cfg(feature = "oauth2")]
    #[test]
    fn a_large_token_set_round_trips_through_the_keyring() {
        secret_service::run(
            "needs_secret_service::a_large_token_set_round_trips_through_the_keyring",
            async {
                large_token_set_round_trip(KeyringStore::secret_service(&service("tokens-ss")))
                    .await;
            },
        );
    }
}
