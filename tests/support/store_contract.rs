//! The contract every [`CredentialStore`] keeps, as one set of assertions run against each
//! implementation (`MemoryStore`, `FileStore`, `KeyringStore` on each backend).
//!
//! ```ignore
//! #[path = "support/store_contract.rs"]
//! mod store_contract;
//!
//! store_contract::round_trip(&MemoryStore::new()).await;
//! ```
#![allow(dead_code)]

use authed::{ExposeSecret, Secret, store::CredentialStore};

/// Missing entries read as `None`; a set is read back, a second set replaces it (non-ASCII
/// kept), other entries are independent; delete removes, deleting nothing is fine. The store
/// is left without the two entries it used (`api-key`, `other`).
pub async fn round_trip(store: &dyn CredentialStore) {
    assert!(store.get("api-key").await.unwrap().is_none());
    store.set("api-key", &Secret::from("first")).await.unwrap();
    assert_eq!(
        store.get("api-key").await.unwrap().unwrap().expose_secret(),
        "first"
    );
    store
        .set("api-key", &Secret::from("second, with ünïcode"))
        .await
        .unwrap();
    store.set("other", &Secret::from("kept")).await.unwrap();
    assert_eq!(
        store.get("api-key").await.unwrap().unwrap().expose_secret(),
        "second, with ünïcode"
    );
    store.delete("api-key").await.unwrap();
    assert!(
        store.get("api-key").await.unwrap().is_none(),
        "not found after delete"
    );
    store.delete("api-key").await.unwrap(); // deleting nothing is fine
    assert_eq!(
        store.get("other").await.unwrap().unwrap().expose_secret(),
        "kept"
    );
    store.delete("other").await.unwrap();
    assert!(store.get("other").await.unwrap().is_none());
}
