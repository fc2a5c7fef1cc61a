//! `authed login --browser` in a real browser: the built binary logs in to node-oidc-provider
//! (tests/support/oidc.rs) while headless Chromium (tests/support/chromium.rs, driven over the
//! DevTools protocol) opens the URL the CLI prints, signs in and consents or cancels, and comes
//! back to the CLI's loopback listener. The tests check what that page says, keep its
//! screenshot in `target/test-output/browser/`, and check the session (`status`, `token` valid
//! at userinfo) or its absence.
//!
//! They are in `needs_oidc::needs_browser`: `AUTHED_TEST_SKIP=oidc` or `AUTHED_TEST_SKIP=browser`
//! with `bash scripts/test.sh` skips them. The session goes to the file store
//! (`--insecure-storage`), the browser is never the user's: `--no-browser`, or `BROWSER` set to
//! a script that only records the URL it was given.

// The two harnesses each include tests/support/lock.rs and output.rs as private modules of
// their own: two harmless copies (no statics; the locks are files).
#![allow(clippy::duplicate_mod)]

#[path = "../../tests/support/chromium.rs"]
mod chromium;
#[path = "support/cli.rs"]
mod cli;
#[path = "../../tests/support/oidc.rs"]
mod oidc;

/// `--browser` where it cannot work: no server needed.
mod usage {
    use crate::cli::Cli;

    #[tokio::test]
    async fn browser_login_is_refused_for_a_profile_that_logs_no_user_in() {
        let cli = Cli::new("browser-cc");
        cli.run_with_stdin_async(
            &[
                "profile",
                "add",
                "svc",
                "--token-url",
                "http://127.0.0.1:9/token",
                "--client-id",
                "svc",
                "--grant",
                "client-credentials",
                "--client-secret-stdin",
                "--insecure-storage",
            ],
            "secret",
        )
        .await
        .ok();
        let run = cli.run_async(&["login", "--browser"]).await.expect(2);
        assert!(
            run.stderr
                .contains("client-credentials grant, which logs no user in"),
            "{}",
            run.stderr
        );
    }
}

mod needs_oidc {
    mod needs_browser {
        use std::{
            io::{BufRead, BufReader},
            path::PathBuf,
            process::{Child, Command, ExitStatus},
            time::Duration,
        };

        use authed::{ExposeSecret, url::Url};
        use tokio::sync::mpsc;

        use crate::{
            chromium::{self, Choice},
            cli::Cli,
            oidc,
        };

        /// How long the CLI may take to print the URL, and to finish once the browser is back.
        const CLI_TIMEOUT: Duration = Duration::from_secs(30);

        /// `authed login ...` running; its stderr read line by line on a thread.
        struct Login {
            child: Child,
            lines: mpsc::UnboundedReceiver<String>,
            seen: Vec<String>,
        }

        impl Login {
            fn start(mut command: Command) -> Self {
                let mut child = command.spawn().unwrap();
                let stderr = child.stderr.take().unwrap();
                let (tx, lines) = mpsc::unbounded_channel();
                std::thread::spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                });
                Self {
                    child,
                    lines,
                    seen: vec![],
                }
            }

            /// The URL after "Open this URL to log in: ".
            async fn url(&mut self) -> String {
                loop {
                    let line = tokio::time::timeout(CLI_TIMEOUT, self.lines.recv())
                        .await
                        .unwrap_or_else(|_| {
                            panic!("no URL within {CLI_TIMEOUT:?}:\n{}", self.stderr())
                        })
                        .unwrap_or_else(|| panic!("the CLI ended:\n{}", self.stderr()));
                    self.seen.push(line.clone());
                    if let Some(url) = line.split("Open this URL to log in: ").nth(1) {
                        return url.trim().to_owned();
                    }
                }
            }

            fn stderr(&self) -> String {
                self.seen.join("\n")
            }

            /// Waits for the CLI to exit (killed after [`CLI_TIMEOUT`]): its status and all it
            /// wrote on stderr.
            async fn finish(mut self) -> (ExitStatus, String) {
                let started = tokio::time::Instant::now();
                let status = loop {
                    if let Some(status) = self.child.try_wait().unwrap() {
                        break status;
                    }
                    if started.elapsed() > CLI_TIMEOUT {
                        let _ = self.child.kill();
                        panic!(
                            "the CLI did not finish within {CLI_TIMEOUT:?}:\n{}",
                            self.stderr()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                // The pipe closes with the process: the reader thread sends what is left.
                while let Ok(Some(line)) =
                    tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
                {
                    self.seen.push(line);
                }
                (status, self.stderr())
            }
        }

        /// A `BROWSER` for the CLI that only writes the URL it is given to a file: (the
        /// script, the file).
        fn recording_browser(cli: &Cli) -> (PathBuf, PathBuf) {
            use std::os::unix::fs::PermissionsExt as _;
            let script = cli.dir().join("record-browser.sh");
            let record = cli.dir().join("browser-was-given.txt");
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{}'\n",
                    record.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            (script, record)
        }

        /// `authed profile add web` for the server's public native client, grant `browser`,
        /// with `extra` arguments.
        async fn add_profile(cli: &Cli, server: &oidc::OidcServer, scope: &str, extra: &[&str]) {
            let mut args = vec![
                "profile",
                "add",
                "web",
                "--issuer",
                &server.issuer,
                "--client-id",
                oidc::NATIVE,
                "--grant",
                "browser",
                "--scope",
                scope,
                "--insecure-storage",
            ];
            args.extend_from_slice(extra);
            cli.run_async(&args).await.ok();
        }

        fn screenshot(name: &str) -> PathBuf {
            let path = chromium::output_file(&format!("browser/{name}"));
            let _ = std::fs::remove_file(&path);
            path
        }

        #[track_caller]
        fn assert_png(path: &PathBuf) {
            let png = std::fs::read(path)
                .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
            assert!(
                png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000,
                "{} is not a screenshot ({} bytes)",
                path.display(),
                png.len()
            );
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn browser_login_in_chromium_lands_on_a_page_that_says_signed_in_and_where_next() {
            let server = oidc::require().await;
            let browser = chromium::require().await;
            let cli = Cli::new("browser");
            // A fixed loopback port (a server that accepts only the registered one).
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            add_profile(
                &cli,
                &server,
                "openid offline_access",
                &["--redirect-port", &port.to_string()],
            )
            .await;
            let (recorder, record) = recording_browser(&cli);

            let mut command = cli.command(&["login", "--browser", "--no-browser"]);
            command.env("BROWSER", &recorder);
            let mut login = Login::start(command);
            let url = login.url().await;
            assert!(
                url.starts_with(&format!("{}?", server.authorization_endpoint())),
                "{url}"
            );
            let redirect_uri = Url::parse(&url)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .map(|(_, v)| v.into_owned());
            assert_eq!(
                redirect_uri.as_deref(),
                Some(format!("http://127.0.0.1:{port}/callback").as_str()),
                "{url}"
            );
            let shot = screenshot("login-approved.png");
            let page = browser
                .log_in(&url, "ada", Choice::Approve, &shot)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{e}\nthe CLI so far:\n{}\nthe server:\n{}",
                        login.stderr(),
                        server.logs()
                    )
                });
            let (status, stderr) = login.finish().await;
            assert!(
                status.success(),
                "login failed ({status}):\n{stderr}\n{}",
                server.logs()
            );
            assert!(stderr.contains("logged in to web as ada"), "{stderr}");
            assert!(
                !record.exists() && !stderr.contains("opening it in your browser"),
                "--no-browser opens no browser:\n{stderr}"
            );

            // The browser came back to the CLI's loopback listener, whose page says that the
            // login succeeded and where to go next, and shows neither the code nor the state.
            let landed = Url::parse(&page.url).unwrap();
            assert_eq!(landed.host_str(), Some("127.0.0.1"), "{}", page.url);
            assert_eq!(landed.path(), "/callback");
            assert_eq!(page.title, "Signed in", "{}", page.html);
            assert!(page.text.contains("The login succeeded."), "{}", page.text);
            assert!(
                page.text
                    .contains("You can close this tab and return to the terminal."),
                "{}",
                page.text
            );
            let code = oidc::url_param(&page.url, "code").expect("the redirect has a code");
            let state = oidc::url_param(&page.url, "state").expect("the redirect has a state");
            for (what, value) in [("code", &code), ("state", &state)] {
                assert!(
                    !page.html.contains(value.as_str()),
                    "the page shows the {what}:\n{}",
                    page.html
                );
            }
            // (The state is in the URL the CLI prints; the code is not.)
            assert!(!stderr.contains(code.as_str()), "the CLI printed the code");
            assert!(!page.html.contains("code="), "{}", page.html);
            assert_png(&shot);

            // Logged in: `status` says so, `token` gives a token valid at userinfo, and no
            // token of the session is on the page or was printed on stderr.
            let status = cli.run_async(&["status", "--json"]).await.ok().json();
            assert_eq!(status[0]["logged_in"], true, "{status}");
            assert_eq!(status[0]["refresh_token"], true, "{status}");
            let token = cli
                .run_async(&["token"])
                .await
                .ok()
                .stdout
                .trim_end()
                .to_owned();
            assert_eq!(server.userinfo_sub(&token).await, Ok("ada".into()));
            let session = cli.stored_session("web").await.expect("a stored session");
            let refresh = session.refresh_token().expect("a refresh token");
            for secret in [token.as_str(), refresh.expose_secret()] {
                assert!(!page.html.contains(secret), "a token on the page");
                assert!(!stderr.contains(secret), "a token on stderr");
            }
            eprintln!("screenshot: {}", shot.display());
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn a_cancelled_browser_login_shows_why_fails_the_cli_and_stores_nothing() {
            let server = oidc::require().await;
            let browser = chromium::require().await;
            let cli = Cli::new("browser-denied");
            add_profile(&cli, &server, "openid", &[]).await;
            let (recorder, record) = recording_browser(&cli);

            // `authed login` on a browser profile opens $BROWSER with the URL it prints.
            let mut command = cli.command(&["login"]);
            command.env("BROWSER", &recorder);
            let mut login = Login::start(command);
            let url = login.url().await;
            let started = tokio::time::Instant::now();
            let given = loop {
                if let Ok(text) = std::fs::read_to_string(&record)
                    && text.ends_with('\n')
                {
                    break text.trim_end().to_owned();
                }
                assert!(
                    started.elapsed() < CLI_TIMEOUT,
                    "$BROWSER was not run:\n{}",
                    login.stderr()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert_eq!(given, url, "$BROWSER gets the URL the CLI prints");

            let shot = screenshot("login-cancelled.png");
            let page = browser
                .log_in(&url, "ada", Choice::Deny, &shot)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{e}\nthe CLI so far:\n{}\nthe server:\n{}",
                        login.stderr(),
                        server.logs()
                    )
                });
            assert_eq!(page.title, "Sign-in failed", "{}", page.html);
            assert!(
                page.text.contains(
                    "The authorization server refused the login \
                     (access_denied: End-User aborted interaction)."
                ),
                "{}",
                page.text
            );
            assert!(
                page.text
                    .contains("Return to the terminal: it says what to do next."),
                "{}",
                page.text
            );
            assert_png(&shot);

            let (status, stderr) = login.finish().await;
            assert_eq!(status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains(
                    "the login was denied at the authorization server; nothing was stored"
                ),
                "{stderr}"
            );
            assert!(cli.stored_session("web").await.is_none());
            cli.run_async(&["status"]).await.expect(1);
        }
    }
}
