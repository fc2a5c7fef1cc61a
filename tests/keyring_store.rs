//! [`KeyringStore`] against the real backends: the Linux kernel keyring, and the Secret
//! Service on a session D-Bus (start one with `source <(bash scripts/secret-service.sh)`).
//!
//! A backend that is not there is skipped with a "skipping: ..." line, except when the `CI`
//! variable is set: then it fails, so CI cannot pass without exercising both.
//!
//! The kernel keyring tests first join a fresh session keyring for the test's thread (what
//! `keyctl session` does): in a container the inherited session keyring is often one this
//! process can add keys to but not read them back from. The probe rejects such a keyring
//! (see `probe_rejects_an_unreadable_kernel_keyring`); the tests want one that works.
#![cfg(target_os = "linux")]

#[path = "support/store_contract.rs"]
mod store_contract;

use std::{process::Command, time::Duration};

use authed::{
    Error, Secret,
    oauth2::{Token, TokenStore},
    store::{
        CredentialStore, CredentialTokenStore, KeyringBackend, KeyringStore, Persistence,
        StoreErrorKind,
    },
};
use secrecy::ExposeSecret;

/// Set in the child process of `probe_falls_back_to_kernel_without_dbus`.
const CHILD_VAR: &str = "AUTHED_KEYRING_PROBE_CHILD";

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips the test with a message, or fails it in CI.
fn skip(why: &str) {
    if in_ci() {
        panic!("CI is set, so this may not be skipped: {why}");
    }
    println!("skipping: {why}");
}

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
    if id < 0 {
        println!(
            "could not join a fresh session keyring: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn store_kind(err: &Error) -> Option<StoreErrorKind> {
    match err {
        Error::Store(e) => Some(e.kind),
        _ => None,
    }
}

/// Whether `store`'s backend works: `false` (after [`skip`]) when it is unavailable.
async fn usable(store: &KeyringStore, what: &str) -> bool {
    match store.get("authed-availability-check").await {
        Ok(_) => true,
        Err(e) if store_kind(&e) == Some(StoreErrorKind::Unavailable) => {
            skip(&format!("no usable {what}: {e}"));
            false
        }
        Err(e) => panic!("the {what} failed: {e}"),
    }
}

#[tokio::test]
async fn kernel_keyring_round_trip() {
    join_fresh_session_keyring();
    let store = KeyringStore::kernel(&service("kernel"));
    if !usable(&store, "kernel keyring").await {
        return;
    }
    store_contract::round_trip(&store).await;
    assert_eq!(store.backend(), Some(KeyringBackend::Kernel));
    let status = store.status();
    assert_eq!(status.backend, "kernel keyring");
    assert_eq!(status.persistence, Persistence::UntilReboot);
    assert_eq!(store.max_entry_len(), None);
}

/// The Secret Service reachable through `DBUS_SESSION_BUS_ADDRESS`, or `None` (skipped).
async fn secret_service(test: &str) -> Option<KeyringStore> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|v| v.is_empty()) {
        skip(
            "DBUS_SESSION_BUS_ADDRESS is not set: run `source <(bash scripts/secret-service.sh)` first",
        );
        return None;
    }
    let store = KeyringStore::secret_service(&service(test));
    usable(&store, "Secret Service").await.then_some(store)
}

#[tokio::test]
async fn secret_service_round_trip() {
    let Some(store) = secret_service("secret-service").await else {
        return;
    };
    store_contract::round_trip(&store).await;
    assert_eq!(store.backend(), Some(KeyringBackend::SecretService));
    let status = store.status();
    assert_eq!(status.backend, "Secret Service");
    assert_eq!(status.persistence, Persistence::Persistent);
}

#[tokio::test]
async fn the_probe_prefers_the_secret_service() {
    if secret_service("probe-check").await.is_none() {
        return;
    }
    join_fresh_session_keyring();
    let store = KeyringStore::new(&service("probe"));
    assert_eq!(store.status().backend, "keyring (not probed yet)");
    assert!(format!("{store:?}").contains("not probed yet"), "{store:?}");
    store.set("k", &Secret::from("v")).await.unwrap();
    assert_eq!(store.backend(), Some(KeyringBackend::SecretService));
    assert_eq!(store.status().persistence, Persistence::Persistent);
    assert!(format!("{store:?}").contains("Secret Service"), "{store:?}");
    store.delete("k").await.unwrap();
}

#[tokio::test]
async fn the_probe_takes_the_next_backend_in_an_explicit_order() {
    join_fresh_session_keyring();
    if !usable(
        &KeyringStore::kernel(&service("order-check")),
        "kernel keyring",
    )
    .await
    {
        return;
    }
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

/// Runs the probe in a child process whose D-Bus address points nowhere.
#[test]
fn probe_falls_back_to_kernel_without_dbus() {
    if std::env::var_os(CHILD_VAR).is_some() {
        return; // this is the child; it runs `probe_child_without_dbus` only
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "probe_child_without_dbus",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/authed-test/bus",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed:\n{stdout}\n{stderr}"
    );
    if let Some(line) = stdout.lines().find(|l| l.starts_with("skipping:")) {
        println!("{line}");
        return;
    }
    assert!(
        stdout.contains("child: probe chose the kernel keyring"),
        "the child did not run the probe:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn probe_child_without_dbus() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return; // run only as the child of `probe_falls_back_to_kernel_without_dbus`
    }
    // The Secret Service alone: a typed error that names the fix, remembered for a while.
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

    join_fresh_session_keyring();
    if !usable(
        &KeyringStore::kernel(&service("no-dbus-check")),
        "kernel keyring",
    )
    .await
    {
        return;
    }
    let store = KeyringStore::new(&service("no-dbus-probe"));
    store.set("k", &Secret::from("v")).await.unwrap();
    assert_eq!(store.backend(), Some(KeyringBackend::Kernel));
    assert_eq!(store.status().backend, "kernel keyring");
    assert_eq!(store.status().persistence, Persistence::UntilReboot);
    store.delete("k").await.unwrap();
    println!("child: probe chose the kernel keyring");
}

/// Without a fresh session keyring, a container's inherited one may accept keys but refuse to
/// read them: the probe must notice (a write alone would not) and say so.
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

#[tokio::test]
async fn a_large_token_set_round_trips_through_the_keyring() {
    join_fresh_session_keyring();
    let store = if let Some(ss) = secret_service("tokens-ss").await {
        ss
    } else {
        let kernel = KeyringStore::kernel(&service("tokens"));
        if !usable(&kernel, "kernel keyring").await {
            return;
        }
        kernel
    };
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

#[tokio::test]
async fn errors_and_debug_never_show_the_secret() {
    join_fresh_session_keyring();
    let svc = service("canary");
    let store = KeyringStore::kernel(&svc);
    if !usable(&store, "kernel keyring").await {
        return;
    }
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
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{err:#?}"),
        format!("{store:?}"),
        format!("{:?}", store.status()),
        format!(
            "{:?}",
            CredentialTokenStore::new(KeyringStore::kernel(&svc), "good")
        ),
    ] {
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
