//! The CLI against a real authorization server: node-oidc-provider, started by the shared
//! harness (tests/support/oidc.rs). Device login approved by the test, `status`, `token` (valid
//! at the server's userinfo endpoint, refreshed once by two concurrent runs after expiry),
//! `logout` (revoked at the server), and client credentials. The tests are in `needs_oidc`:
//! `AUTHED_TEST_SKIP=oidc bash scripts/test.sh` skips them. The session goes to the file store
//! (`--insecure-storage`).

#[path = "support/cli.rs"]
mod cli;
#[path = "../../tests/support/oidc.rs"]
mod oidc;

mod needs_oidc {
    use std::{
        io::{BufRead, BufReader},
        time::Duration,
    };

    use authed::{ExposeSecret, Secret, oauth2::OAuthClient};

    use super::{cli::Cli, oidc};

    /// `authed login` for a device profile; the test reads the code on its stderr and approves
    /// it at the server as the user `ada`.
    async fn device_login(cli: &Cli, server: &oidc::OidcServer) -> String {
        let mut child = cli.spawn(&["login"]);
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, lines_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap();
                all.push_str(&line);
                all.push('\n');
                let _ = lines_tx.send(line);
            }
            all
        });
        let code = tokio::task::spawn_blocking(move || {
            loop {
                let line = lines_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("the CLI shows the code");
                if let Some(code) = line.split("one-time code: ").nth(1) {
                    break code.trim().to_owned();
                }
            }
        })
        .await
        .unwrap();
        server
            .approve_device(&code, "ada")
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        let stderr = reader.join().unwrap();
        assert!(
            status.success(),
            "login failed:\n{stderr}\n{}",
            server.logs()
        );
        stderr
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn device_login_status_token_refresh_and_logout() {
        let server = oidc::require().await;
        let cli = Cli::new("device");
        cli.add_device_profile(&server.issuer, oidc::DEVICE, "openid offline_access")
            .await;

        let stderr = device_login(&cli, &server).await;
        assert!(
            stderr.contains(&format!("Then open: {}/device", server.issuer)),
            "{stderr}"
        );
        assert!(stderr.contains("logged in to dev as ada"), "{stderr}");
        assert!(stderr.contains("insecure storage"), "{stderr}");

        let status = cli.run_async(&["status", "--json"]).await.ok().json();
        assert_eq!(status[0]["logged_in"], true);
        assert_eq!(status[0]["refresh_token"], true);
        assert!(
            status[0]["scopes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "openid"),
            "{status}"
        );
        let text = cli.run_async(&["status"]).await.ok();
        assert!(
            text.stderr.contains("refresh token: present"),
            "{}",
            text.stderr
        );

        // `token` prints the stored access token, valid at the server.
        let first = cli
            .run_async(&["token"])
            .await
            .ok()
            .stdout
            .trim_end()
            .to_owned();
        assert_eq!(server.userinfo_sub(&first).await, Ok("ada".into()));

        // After expiry (3 s), two `token` at once: one refresh between them (the store's lock),
        // so both print the same new token, and the rotated refresh token was used once (a
        // reuse would have revoked the grant: the token would fail at userinfo).
        tokio::time::sleep(oidc::ACCESS_TOKEN_TTL + Duration::from_millis(300)).await;
        let (a, b) = tokio::join!(cli.run_async(&["token"]), cli.run_async(&["token"]));
        let (a, b) = (a.ok(), b.ok());
        assert_eq!(a.stdout, b.stdout, "one refresh for two runs");
        let renewed = a.stdout.trim_end().to_owned();
        assert_ne!(renewed, first);
        assert_eq!(server.userinfo_sub(&renewed).await, Ok("ada".into()));
        let before_logout = cli.stored_session("dev").await.expect("a stored session");
        let refresh = before_logout.refresh_token().unwrap().clone();

        // Logout revokes at the server, and the session is gone.
        let logout = cli.run_async(&["logout"]).await.ok();
        assert!(
            logout.stderr.contains("revoked at the server"),
            "{}",
            logout.stderr
        );
        assert!(cli.stored_session("dev").await.is_none());
        let token = cli.run_async(&["token"]).await.expect(1);
        assert!(
            token.stdout.is_empty() && token.stderr.contains("authed login"),
            "{}",
            token.stderr
        );
        cli.run_async(&["status"]).await.expect(1);
        let client = OAuthClient::new(server.token_endpoint(), oidc::DEVICE);
        let answer = client
            .introspect(
                &server.introspection_endpoint(),
                &refresh,
                Some("refresh_token"),
            )
            .await
            .unwrap();
        assert!(!answer.active, "the refresh token is revoked: {answer:?}");
        assert!(
            server.userinfo_sub(&renewed).await.is_err(),
            "so is the access token"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_denied_device_login_says_so_and_stores_nothing() {
        let server = oidc::require().await;
        let cli = Cli::new("denied");
        cli.add_device_profile(&server.issuer, oidc::DEVICE, "openid")
            .await;
        let mut child = cli.spawn(&["login"]);
        let stderr = child.stderr.take().unwrap();
        let mut reader = BufReader::new(stderr);
        let code = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            loop {
                line.clear();
                assert_ne!(
                    reader.read_line(&mut line).unwrap(),
                    0,
                    "the CLI shows the code"
                );
                if let Some(code) = line.split("one-time code: ").nth(1) {
                    return (code.trim().to_owned(), reader);
                }
            }
        })
        .await
        .unwrap();
        let (code, mut reader) = code;
        server.deny_device(&code, "ada").await.unwrap();
        let (status, rest) = tokio::task::spawn_blocking(move || {
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
            (child.wait().unwrap(), rest)
        })
        .await
        .unwrap();
        assert_eq!(status.code(), Some(1), "{rest}");
        assert!(rest.contains("the login was denied"), "{rest}");
        assert!(cli.stored_session("dev").await.is_none());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn client_credentials_login_and_token_valid_at_introspection() {
        let server = oidc::require().await;
        let cli = Cli::new("oidc-cc");
        cli.run_with_stdin_async(
            &[
                "profile",
                "add",
                "svc",
                "--issuer",
                &server.issuer,
                "--client-id",
                oidc::CC_BASIC,
                "--grant",
                "client-credentials",
                "--client-secret-stdin",
                "--scope",
                "api:read",
                "--insecure-storage",
            ],
            oidc::CC_SECRET,
        )
        .await
        .ok();
        let login = cli.run_async(&["-v", "login"]).await.ok();
        assert!(!login.stderr.contains(oidc::CC_SECRET));
        let token = cli
            .run_async(&["token"])
            .await
            .ok()
            .stdout
            .trim_end()
            .to_owned();
        let client =
            OAuthClient::new(server.token_endpoint(), oidc::CC_BASIC).secret(oidc::CC_SECRET);
        let answer = client
            .introspect(
                &server.introspection_endpoint(),
                &Secret::from(token.clone()),
                None,
            )
            .await
            .unwrap();
        assert!(answer.active, "{answer:?}");
        assert_eq!(answer.client_id.as_deref(), Some(oidc::CC_BASIC));
        assert_eq!(answer.scope.as_deref(), Some("api:read"));
        let stored = cli.stored_session("svc").await.unwrap();
        assert_eq!(stored.access_token().expose_secret(), token);
        // The canary: nothing the CLI printed on stderr carries the token or the secret.
        let status = cli.run_async(&["-v", "status"]).await.ok();
        assert!(!status.stderr.contains(&token) && !status.stdout.contains(&token));
    }
}
