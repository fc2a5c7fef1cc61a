//! Issue 10, network edges: loopback by address only (11), no body replayed to another origin
//! on 307/308 (12), ASCII-only header credentials (13), what is retried around a response (7),
//! and the loopback login listener under idle connections (10). Every server listens on
//! 127.0.0.1 and every wait is bounded.

#[path = "support/scripted.rs"]
mod scripted;

use authed::{Client, auth::Bearer};

// ---- 11: "loopback" is an address, not a name ------------------------------------------

#[test]
fn plain_http_credentials_are_refused_for_names_under_localhost() {
    for base in [
        "http://api.localhost:8080/",
        "http://evil.localhost/",
        "http://localhost.:8080/",
    ] {
        let err = Client::builder(base)
            .auth(Bearer::new("tok-canary"))
            .build()
            .expect_err(base);
        assert!(err.is_config(), "{base}: {err}");
        assert!(!err.to_string().contains("tok-canary"), "{err}");
    }
    // The exact name and the IP literals still get them.
    for base in [
        "http://localhost:8080/",
        "http://127.0.0.1:8080/",
        "http://127.8.9.10/",
        "http://[::1]:8080/",
    ] {
        Client::builder(base)
            .auth(Bearer::new("tok"))
            .build()
            .unwrap_or_else(|e| panic!("{base}: {e}"));
    }
}

#[test]
fn oauth_endpoints_on_names_under_localhost_are_refused() {
    let auth = authed::oauth2::ClientCredentials::new(
        "http://idp.localhost:9000/token",
        "client",
        "secret-canary",
    )
    .into_auth();
    let err = Client::builder("https://api.example.com/")
        .auth(auth)
        .build()
        .expect_err("a plain-http token endpoint on *.localhost");
    assert!(err.is_config(), "{err}");
    assert!(!err.to_string().contains("secret-canary"), "{err}");
}
