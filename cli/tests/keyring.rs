//! The CLI on the real Secret Service: each test runs in a child process of this test binary
//! whose session bus is a private one with an unlocked gnome-keyring, started by the library's
//! harness (tests/support/secret_service.rs; the user's keyring is never touched), and the CLI
//! is given that bus (`DBUS_SESSION_BUS_ADDRESS`). `secret set|get|rm` and a client
//! credentials session (its client secret too) go to the keyring, which the test reads back
//! with the library's `KeyringStore`. In `needs_secret_service`:
//! `AUTHED_TEST_SKIP=secret-service bash scripts/test.sh` skips them.

#[path = "support/cli.rs"]
mod cli;
#[path = "../../tests/support/demo_api.rs"]
mod demo_api;
#[path = "../../tests/support/secret_service.rs"]
mod secret_service;

mod needs_secret_service {
    use authed::{
        ExposeSecret,
        oauth2::TokenStore,
        store::{CredentialStore, CredentialTokenStore, KeyringStore, Persistence},
    };

    use super::{
        cli::Cli,
        demo_api::{self, DemoApi, DemoConfig},
        secret_service,
    };

    /// The CLI's keyring service (cli/src/session.rs).
    const SERVICE: &str = "authed";
    const CLIENT_SECRET: &str = "keyring-canary-client-secret-51c0";
    const API_KEY: &str = "keyring-canary-api-key-0e77";

    /// A CLI on the private bus this child process was given.
    fn cli(name: &str) -> Cli {
        let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("the harness set the bus");
        Cli::new(name).env("DBUS_SESSION_BUS_ADDRESS", &bus)
    }

    /// The CLI's entries, read by the library straight from the Secret Service.
    fn keyring() -> KeyringStore {
        KeyringStore::secret_service(SERVICE)
    }

    #[test]
    fn secrets_are_set_read_and_removed_in_the_secret_service() {
        secret_service::run(
            "needs_secret_service::secrets_are_set_read_and_removed_in_the_secret_service",
            async {
                let cli = cli("ss-secret");
                let set = cli
                    .run_with_stdin_async(&["secret", "set", "nasa"], &format!("{API_KEY}\n"))
                    .await
                    .ok();
                assert!(
                    set.stderr.contains(
                        "secret nasa stored in Secret Service: keeps secrets until deleted"
                    ),
                    "{}",
                    set.stderr
                );
                assert!(!set.stderr.contains(API_KEY) && set.stdout.is_empty());
                // In the Secret Service, and nowhere else: no file was written.
                let stored = keyring().get("secret/nasa").await.unwrap().expect("stored");
                assert_eq!(stored.expose_secret(), API_KEY);
                assert!(!cli.credentials_file().exists());

                let get = cli.run_async(&["secret", "get", "nasa"]).await.ok();
                assert_eq!(get.stdout, format!("{API_KEY}\n"));

                cli.run_async(&["secret", "rm", "nasa"]).await.ok();
                assert!(keyring().get("secret/nasa").await.unwrap().is_none());
                let get = cli.run_async(&["secret", "get", "nasa"]).await.expect(1);
                assert!(
                    get.stderr.contains("no secret \"nasa\" in Secret Service"),
                    "{}",
                    get.stderr
                );
            },
        );
    }

    #[test]
    fn a_session_and_its_client_secret_live_in_the_secret_service_until_logout() {
        secret_service::run(
            "needs_secret_service::a_session_and_its_client_secret_live_in_the_secret_service_until_logout",
            async {
                let api = DemoApi::start(DemoConfig {
                    api_key: CLIENT_SECRET.into(),
                    ..DemoConfig::default()
                })
                .await
                .unwrap();
                let cli = cli("ss-session");
                // No --insecure-storage: the profile's store is the keyring.
                cli.run_with_stdin_async(
                    &[
                        "profile",
                        "add",
                        "api",
                        "--token-url",
                        &format!("{}oauth/token", api.url()),
                        "--client-id",
                        demo_api::OAUTH_CLIENT_ID,
                        "--client-secret-stdin",
                        "--grant",
                        "client-credentials",
                        "--base-url",
                        &api.url(),
                    ],
                    CLIENT_SECRET,
                )
                .await
                .ok();
                let secret = keyring().get("profile/api/client-secret").await.unwrap();
                assert_eq!(secret.unwrap().expose_secret(), CLIENT_SECRET);

                let login = cli.run_async(&["login"]).await.ok();
                assert!(
                    login
                        .stderr
                        .contains("session kept in Secret Service: keeps secrets until deleted"),
                    "{}",
                    login.stderr
                );
                assert!(
                    !login.stderr.contains("forgets it at reboot"),
                    "{}",
                    login.stderr
                );

                // The session, read by the library from the Secret Service, is what `token`
                // prints and what the server issued.
                let session = CredentialTokenStore::new(keyring(), "profile/api/session");
                let stored = session
                    .load()
                    .await
                    .unwrap()
                    .expect("a session in the keyring");
                let token = cli.run_async(&["token"]).await.ok();
                assert_eq!(
                    token.stdout.trim_end(),
                    stored.access_token().expose_secret()
                );
                assert!(
                    api.issued_tokens()
                        .iter()
                        .any(|t| t == token.stdout.trim_end())
                );
                let me = cli.run_async(&["request", "GET", "oauth/me"]).await.ok();
                assert_eq!(me.json()["client"], demo_api::OAUTH_CLIENT_ID);

                // `status`: the keyring backend, and it survives a reboot (Persistent).
                let status = cli.run_async(&["status"]).await.ok();
                assert!(
                    status
                        .stderr
                        .contains("store: Secret Service: keeps secrets until deleted"),
                    "{}",
                    status.stderr
                );
                assert!(
                    !status.stderr.contains("does not survive a reboot"),
                    "{}",
                    status.stderr
                );
                let json = cli.run_async(&["status", "--json"]).await.ok().json();
                assert_eq!(json[0]["logged_in"], true);
                assert_eq!(json[0]["store"]["backend"], "Secret Service");
                assert_eq!(json[0]["store"]["persistence"], "Persistent");
                assert_eq!(json[0]["store"]["survives_reboot"], true);
                assert_eq!(json[0]["store"]["insecure"], false);
                assert_eq!(keyring().status().persistence, Persistence::Persistent);

                // Logout deletes the session from the keyring; `profile rm` the client secret.
                cli.run_async(&["logout"]).await.ok();
                assert!(session.load().await.unwrap().is_none());
                cli.run_async(&["status"]).await.expect(1);
                cli.run_async(&["profile", "rm", "api"]).await.ok();
                assert!(
                    keyring()
                        .get("profile/api/client-secret")
                        .await
                        .unwrap()
                        .is_none()
                );
            },
        );
    }
}
