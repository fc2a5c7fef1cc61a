//! OAuth 2.0 against a real authorization server (node-oidc-provider on 127.0.0.1, started
//! by the test; see tests/oidc/ and tests/support/oidc.rs). A server that cannot start fails
//! the test; `AUTHED_TEST_SKIP=oidc` with `bash scripts/test.sh` skips the `needs_oidc` tests.

#![cfg(feature = "oauth2")]

#[path = "support/oidc.rs"]
mod oidc;

use std::{sync::Arc, time::Duration};

use authed::{
    Client,
    oauth2::{
        ClientAuth, ClientCredentials, MemoryTokenStore, OAuthClient, RefreshToken, ServerMetadata,
        Token, TokenStore,
    },
};
use secrecy::ExposeSecret;

mod needs_oidc {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct UserInfo {
        sub: String,
    }

    #[tokio::test]
    async fn discovery_checks_the_issuer() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        assert_eq!(metadata.issuer, server.issuer);
        assert_eq!(
            metadata.token_endpoint.as_deref(),
            Some(server.token_endpoint().as_str())
        );
        assert!(
            metadata
                .code_challenge_methods_supported
                .contains(&"S256".to_owned())
        );
        // Asking for an issuer the document does not name is refused.
        let wrong = format!("{}/", server.issuer);
        let err = ServerMetadata::discover(&wrong).await.unwrap_err();
        assert!(err.to_string().contains("refusing"), "{err}");
    }

    #[tokio::test]
    async fn client_credentials_with_a_secret_full_of_reserved_characters() {
        let server = oidc::require().await;
        for (client_id, method) in [
            (oidc::CC_BASIC, ClientAuth::SecretBasic),
            (oidc::CC_POST, ClientAuth::SecretPost),
        ] {
            let auth = ClientCredentials::new(server.token_endpoint(), client_id, oidc::CC_SECRET)
                .auth_method(method)
                .scopes(["api:read"])
                .into_auth();
            let token = auth
                .token()
                .await
                .unwrap_or_else(|e| panic!("{client_id}: {e}\n{}", server.logs()));
            assert!(!token.access_token().expose_secret().is_empty());
            assert!(token.expires_at().is_some(), "expires_in is honoured");
        }
        // A wrong secret is the server's invalid_client, typed.
        let err = ClientCredentials::new(server.token_endpoint(), oidc::CC_BASIC, "wrong")
            .into_auth()
            .token()
            .await
            .unwrap_err();
        assert_eq!(
            err.oauth_error().map(|e| e.code.as_str()),
            Some("invalid_client"),
            "{err}"
        );
    }

    /// Logs in as `ada` through the loopback listener (the test plays the browser).
    async fn login(server: &Arc<oidc::OidcServer>, metadata: &ServerMetadata) -> Token {
        let client = metadata.client(oidc::NATIVE).unwrap();
        let flow = metadata
            .authorization_code(client)
            .unwrap()
            .scopes(["openid", "offline_access"])
            .param("prompt", "consent");
        let browser = server.clone();
        flow.login_loopback(0, Duration::from_secs(30), move |url| {
            let url = url.to_string();
            tokio::spawn(async move {
                browser
                    .approve_and_deliver(&url, "ada")
                    .await
                    .expect("the test browser approves the login");
            });
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()))
    }

    #[tokio::test]
    async fn authorization_code_with_pkce_through_the_loopback_listener() {
        let server = oidc::require().await;
        let server = Arc::new(server);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let token = login(&server, &metadata).await;
        assert!(
            token.refresh_token().is_some(),
            "offline_access gives a refresh token"
        );
        assert!(token.id_token().is_some());

        // The session works against a protected resource (the userinfo endpoint).
        let auth = RefreshToken::new(metadata.client(oidc::NATIVE).unwrap()).into_auth();
        auth.set_token(token).await.unwrap();
        let api = Client::builder(&server.issuer).auth(auth).build().unwrap();
        let me: UserInfo = api.get("me").send().await.unwrap().json().await.unwrap();
        assert_eq!(me.sub, "ada");
    }

    #[tokio::test]
    async fn a_wrong_state_is_refused_before_any_exchange() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let flow = metadata
            .authorization_code(metadata.client(oidc::NATIVE).unwrap())
            .unwrap()
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid"]);
        let pending = flow.begin().unwrap();
        let location = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let mut forged = authed::url::Url::parse(&location).unwrap();
        let pairs: Vec<(String, String)> = forged
            .query_pairs()
            .map(|(k, v)| {
                let forged_value = if k == "state" {
                    "forged".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), forged_value)
            })
            .collect();
        forged.query_pairs_mut().clear().extend_pairs(pairs);
        let err = pending.exchange(forged.as_str()).await.unwrap_err();
        assert!(err.to_string().contains("state does not match"), "{err}");
    }

    /// The README's flow as written: discovery, `begin()`, the browser's redirect URL handed
    /// to `exchange()`. The server announces RFC 9207, so the redirect carries `iss` and the
    /// flow built from discovery expects it: taking only `code` and `state` apart is refused
    /// with a message that says what to do.
    #[tokio::test]
    async fn the_readme_flow_works_with_a_server_that_sends_iss() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let client = metadata.client(oidc::NATIVE).unwrap();
        let flow = metadata
            .authorization_code(client)
            .unwrap()
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid"]);

        let pending = flow.begin().unwrap();
        let callback = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        assert!(
            callback.contains("iss="),
            "the server sends iss: {callback}"
        );
        let token = pending.exchange(&callback).await.unwrap();
        assert!(!token.access_token().expose_secret().is_empty());

        // The parts without iss: refused, and told why.
        let pending = flow.begin().unwrap();
        let callback = server
            .approve_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let url = authed::url::Url::parse(&callback).unwrap();
        let get = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        let err = pending
            .exchange_code(&authed::Secret::new(get("code")), &get("state"), None)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("pass the whole redirect URL"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn access_denied_in_the_redirect_is_a_typed_error() {
        let server = oidc::require().await;
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let flow = metadata
            .authorization_code(metadata.client(oidc::NATIVE).unwrap())
            .unwrap()
            .redirect_uri("http://127.0.0.1:9/callback")
            .scopes(["openid"]);
        let pending = flow.begin().unwrap();
        let location = server
            .deny_authorization(pending.url().as_str(), "ada")
            .await
            .unwrap();
        let err = pending.exchange(&location).await.unwrap_err();
        assert_eq!(
            err.oauth_error().map(|e| e.code.as_str()),
            Some("access_denied"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn device_flow_approved_by_the_test() {
        let server = oidc::require().await;
        let server = Arc::new(server);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let device = metadata
            .device(metadata.client(oidc::DEVICE).unwrap())
            .unwrap()
            .scopes(["openid", "offline_access"]);
        let browser = server.clone();
        let token = device
            .login(move |code| {
                assert!(!code.user_code.is_empty());
                assert!(code.verification_uri.starts_with(&browser.issuer));
                let user_code = code.user_code.clone();
                let browser = browser.clone();
                tokio::spawn(async move {
                    browser
                        .approve_device(&user_code, "ada")
                        .await
                        .expect("approve");
                });
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        assert!(token.refresh_token().is_some());
    }

    #[tokio::test]
    async fn refresh_with_rotation_across_several_expiries_then_revocation() {
        let server = oidc::require().await;
        let server = Arc::new(server);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let token = login(&server, &metadata).await;
        let store = Arc::new(MemoryTokenStore::default());
        let client: OAuthClient = metadata.client(oidc::NATIVE).unwrap();
        let auth = RefreshToken::new(client.clone())
            .into_auth()
            .store(store.clone());
        auth.set_token(token).await.unwrap();
        let api = Client::builder(&server.issuer)
            .auth(auth.clone())
            .build()
            .unwrap();

        // Access tokens live 3 s; call the API for about 8 s: several refreshes, each rotating
        // the refresh token. A reused refresh token would revoke the grant (the server checks),
        // so every call succeeding proves none was reused.
        let mut refresh_tokens = vec![];
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(8) {
            let me: UserInfo = api
                .get("me")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()))
                .json()
                .await
                .unwrap();
            assert_eq!(me.sub, "ada");
            let stored = store.load().await.unwrap().unwrap();
            let rt = stored.refresh_token().unwrap().expose_secret().to_owned();
            if refresh_tokens.last() != Some(&rt) {
                refresh_tokens.push(rt);
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        assert!(
            refresh_tokens.len() >= 4,
            "the refresh token rotated on each of several refreshes: {} distinct",
            refresh_tokens.len()
        );

        // Log out: revoked at the server, forgotten here.
        let revocation = metadata.revocation_endpoint.clone().unwrap();
        auth.logout(&client, &revocation).await.unwrap();
        assert!(store.load().await.unwrap().is_none());
        let err = auth.token().await.unwrap_err();
        assert!(err.is_reauth_required(), "{err:?}");
        // The last refresh token no longer works at the server either.
        let stale = Token::bearer("x")
            .with_refresh_token(refresh_tokens.last().unwrap().as_str())
            .with_expires_in(Duration::ZERO);
        let again = RefreshToken::new(client).into_auth();
        again.set_token(stale).await.unwrap();
        assert!(again.token().await.unwrap_err().is_reauth_required());
    }

    #[cfg(feature = "file-store")] // a file, as a CLI's next run would find it
    #[tokio::test]
    async fn a_stored_session_survives_the_client() {
        let server = oidc::require().await;
        let server = Arc::new(server);
        let metadata = ServerMetadata::discover(&server.issuer).await.unwrap();
        let dir = std::env::temp_dir().join(format!("authed-persist-{}", std::process::id()));
        let path = dir.join("credentials.json");
        let store = || {
            authed::store::CredentialTokenStore::new(authed::store::FileStore::at(&path), "default")
                .lock_dir(&dir)
        };
        {
            // Run 1: log in, store the session, call the API, drop everything.
            let token = login(&server, &metadata).await;
            let auth = RefreshToken::new(metadata.client(oidc::NATIVE).unwrap())
                .into_auth()
                .store(store());
            auth.set_token(token).await.unwrap();
            let api = Client::builder(&server.issuer).auth(auth).build().unwrap();
            api.get("me").send().await.unwrap();
        }
        // Run 2: a new client from the store alone, after the access token has expired (3 s):
        // no login, the stored refresh token renews the session.
        tokio::time::sleep(oidc::ACCESS_TOKEN_TTL + Duration::from_millis(500)).await;
        let auth = RefreshToken::new(metadata.client(oidc::NATIVE).unwrap())
            .into_auth()
            .store(store());
        let api = Client::builder(&server.issuer).auth(auth).build().unwrap();
        let me: UserInfo = api
            .get("me")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()))
            .json()
            .await
            .unwrap();
        assert_eq!(me.sub, "ada");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
