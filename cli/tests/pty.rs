//! `authed` at a real terminal (a pseudo-terminal of a private tmux server, see
//! support/pty.rs), read back as a person sees it: the device login's code and spinner, and
//! Ctrl-C (exit 130, a clean message, nothing stored, the cursor shown again); the spinner of a
//! rate-limit wait in `request`, and Ctrl-C during one (and, on a pipe, no spinner at all);
//! `secret set` typed without
//! echo, and Ctrl-C at its prompt giving the terminal its echo back. The device login runs
//! against node-oidc-provider (tests/support/oidc.rs) in `needs_oidc`.

// The OIDC harness and the tmux harness each include tests/support/lock.rs for themselves.
#![allow(clippy::duplicate_mod)]

#[path = "support/cli.rs"]
mod cli;
#[path = "../../tests/support/oidc.rs"]
mod oidc;
#[path = "support/pty.rs"]
mod pty;
#[path = "../../tests/support/scripted.rs"]
mod scripted;

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use cli::Cli;
use scripted::{Reply, Scripted, Seen};

/// The spinner's line on `screen`, if it shows one: `(frame, text, seconds left)`.
fn spinner(screen: &str, message: &str) -> Option<(char, String, u64)> {
    let line = screen.lines().find(|l| l.contains(message))?;
    let frame = line.chars().next()?;
    let left = line.rsplit_once('(')?.1.strip_suffix(" left)")?;
    let (m, s) = left.split_once(':')?;
    let seconds = m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?;
    Some((frame, line.to_owned(), seconds))
}

/// A server whose every path answers its first request 429 with `Retry-After: 2`, then 200;
/// but `/slow` always asks for 30 s.
async fn busy_server() -> Scripted {
    let counts: Mutex<HashMap<String, usize>> = Mutex::default();
    Scripted::start(move |seen: &Seen| {
        let mut counts = counts.lock().unwrap();
        let n = counts.entry(seen.path.clone()).or_default();
        *n += 1;
        if seen.path == "/slow" {
            Reply::new(429).header("retry-after", "30")
        } else if *n == 1 {
            Reply::new(429)
                .header("retry-after", "2")
                .body("{\"error\":\"slow down\"}")
        } else {
            Reply::ok()
        }
    })
    .await
}

const WAIT_LINE: &str = "Rate limited (429 Too Many Requests): retrying";

#[tokio::test(flavor = "multi_thread")]
async fn through_a_pipe_a_rate_limit_wait_prints_no_spinner() {
    let server = busy_server().await;
    let cli = Cli::new("pipe-429");
    let url = format!("{}items", server.url());
    let run = cli
        .run_async(&["request", "--no-auth", "GET", &url])
        .await
        .ok();
    assert_eq!(
        run.stderr, "200 OK (after 2 attempts)\n",
        "{:?}",
        run.stderr
    );
    assert_eq!(run.stdout, "{\n  \"ok\": true\n}\n");
    // With -v, one plain line says why it waited.
    let url = format!("{}other", server.url());
    let run = cli
        .run_async(&["-v", "request", "--no-auth", "GET", &url])
        .await
        .ok();
    assert!(
        run.stderr.contains(&format!("  {WAIT_LINE} in 2 s\n")),
        "{:?}",
        run.stderr
    );
    for garbage in ['\r', '\x1b'] {
        assert!(!run.stderr.contains(garbage), "{:?}", run.stderr);
    }
}

/// Everything at a terminal needs tmux (installed with apt-get when missing):
/// `AUTHED_TEST_SKIP=terminal bash scripts/test.sh` skips these.
mod needs_terminal {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_rate_limit_wait_shows_a_spinner_with_the_time_left_at_a_terminal() {
        let server = busy_server().await;
        let cli = Cli::new("pty-429");
        let tmux = pty::Tmux::require(&cli);
        let url = format!("{}items", server.url());
        let pane = tmux.run(&cli, &["request", "--no-auth", "GET", &url], &[]);
        let waiting = pane.wait_for("the wait's spinner", |s| spinner(s, WAIT_LINE).is_some());
        let (_, line, left) = spinner(&waiting, WAIT_LINE).unwrap();
        assert!((1..=2).contains(&left), "2 s at most: {line}");
        assert!(!pane.cursor_shown(), "the cursor is hidden while it spins");
        assert_eq!(pane.wait_exit(Duration::from_secs(10)), 0);
        let done = pane.screen();
        assert!(done.contains("200 OK (after 2 attempts)"), "{done}");
        assert!(
            !done.contains(WAIT_LINE),
            "the spinner's line is cleared:\n{done}"
        );
        assert!(done.contains("\"ok\": true"), "{done}");
        assert!(pane.cursor_shown(), "the cursor is shown again");
        assert!(
            pane.screen_with_attributes().contains("\x1b[32m"),
            "colours at a terminal: {:?}",
            pane.screen_with_attributes()
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].at - seen[0].at >= Duration::from_secs(2));

        // NO_COLOR: the same, without colours.
        let url = format!("{}other", server.url());
        let pane = tmux.run(
            &cli,
            &["request", "--no-auth", "GET", &url],
            &[("NO_COLOR", Some("1"))],
        );
        pane.wait_for("the wait's spinner", |s| spinner(s, WAIT_LINE).is_some());
        assert_eq!(pane.wait_exit(Duration::from_secs(10)), 0);
        let plain = pane.screen_with_attributes();
        assert!(plain.contains("200 OK (after 2 attempts)"), "{plain}");
        assert!(
            !plain.contains("\x1b[3"),
            "no colour with NO_COLOR: {plain:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn ctrl_c_during_a_rate_limit_wait_exits_130_and_leaves_the_terminal_clean() {
        let server = busy_server().await;
        let cli = Cli::new("pty-slow");
        let tmux = pty::Tmux::require(&cli);
        let url = format!("{}slow", server.url());
        let pane = tmux.run(&cli, &["request", "--no-auth", "GET", &url], &[]);
        let waiting = pane.wait_for("the wait's spinner", |s| spinner(s, WAIT_LINE).is_some());
        let (_, line, left) = spinner(&waiting, WAIT_LINE).unwrap();
        assert!((28..=30).contains(&left), "{line}");
        pane.keys(&["C-c"]);
        let sent = Instant::now();
        assert_eq!(pane.wait_exit(Duration::from_secs(5)), 130);
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "{:?}",
            sent.elapsed()
        );
        let last = pane.screen();
        assert!(
            last.contains("! interrupted (the request may have reached the server)"),
            "{last}"
        );
        assert!(
            !last.contains(WAIT_LINE),
            "the spinner's line is cleared:\n{last}"
        );
        assert!(pane.cursor_shown(), "the cursor is shown again");
        assert_eq!(server.seen().len(), 1, "no retry after Ctrl-C");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn secret_set_at_a_terminal_does_not_echo_what_is_typed() {
        let cli = Cli::new("pty-secret");
        let tmux = pty::Tmux::require(&cli);
        let secret = "typed-canary-7d1e0b";
        let pane = tmux.run(&cli, &["secret", "set", "nasa", "--insecure-storage"], &[]);
        pane.wait_for("the prompt", |s| {
            s.contains("Enter the secret (not shown):")
        });
        pane.type_text(secret);
        // Give the terminal time to echo, were it going to.
        std::thread::sleep(Duration::from_millis(300));
        let typed = pane.screen();
        assert!(!typed.contains(secret), "echoed:\n{typed}");
        pane.keys(&["Enter"]);
        assert_eq!(
            pane.wait_exit(Duration::from_secs(10)),
            0,
            "{}",
            pane.screen()
        );
        let done = pane.screen();
        assert!(!done.contains(secret), "{done}");
        assert!(done.contains("secret nasa stored"), "{done}");
        assert!(pane.echo_on(), "the terminal echoes again");
        let get = cli
            .run_async(&["secret", "get", "nasa", "--insecure-storage"])
            .await
            .ok();
        assert_eq!(
            get.stdout,
            format!("{secret}\n"),
            "the typed secret was stored"
        );

        // Ctrl-C at the prompt: exit 130, nothing stored, and the terminal echoes again.
        let pane = tmux.run(&cli, &["secret", "set", "other", "--insecure-storage"], &[]);
        pane.wait_for("the prompt", |s| {
            s.contains("Enter the secret (not shown):")
        });
        pane.type_text("half-typed");
        pane.keys(&["C-c"]);
        assert_eq!(
            pane.wait_exit(Duration::from_secs(5)),
            130,
            "{}",
            pane.screen()
        );
        let screen = pane.screen();
        assert!(screen.contains("cancelled; nothing was stored"), "{screen}");
        assert!(!screen.contains("half-typed"), "{screen}");
        assert!(
            pane.echo_on(),
            "the terminal's echo is restored after Ctrl-C"
        );
        cli.run_async(&["secret", "get", "other", "--insecure-storage"])
            .await
            .expect(1);
    }

    mod needs_oidc {
        use super::*;
        use authed::{
            oauth2::TokenStore,
            store::{CredentialTokenStore, FileStore},
        };

        #[tokio::test(flavor = "multi_thread")]
        async fn device_login_at_a_terminal_shows_code_and_spinner_and_ctrl_c_cancels_cleanly() {
            let server = oidc::require().await;
            let cli = Cli::new("pty-device");
            cli.add_device_profile(&server.issuer, oidc::DEVICE, "openid offline_access")
                .await;
            let tmux = pty::Tmux::require(&cli);
            let pane = tmux.run(&cli, &["login"], &[]);
            const WAITING: &str = "Waiting for you to approve the login";
            let first = pane.wait_for("the code and the spinner", |s| {
                s.contains("one-time code:") && spinner(s, WAITING).is_some()
            });
            // The prompt: the code, where to enter it, how long it lasts.
            let code = first
                .lines()
                .find_map(|l| l.split("one-time code: ").nth(1))
                .unwrap()
                .trim()
                .to_owned();
            assert!(
                code.len() >= 8 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{code:?}"
            );
            assert!(
                first.contains(&format!("Then open: {}/device", server.issuer)),
                "{first}"
            );
            assert!(first.contains("The code expires in"), "{first}");
            let (frame1, line1, left1) = spinner(&first, WAITING).unwrap();
            assert!(!pane.cursor_shown(), "hidden while it spins");
            // A moment later the spinner has turned and the time left has gone down.
            std::thread::sleep(Duration::from_millis(1250));
            let second = pane.screen();
            let (frame2, line2, left2) = spinner(&second, WAITING).expect("still spinning");
            assert_ne!(frame1, frame2, "the frame turns: {line1} / {line2}");
            assert!(left2 < left1, "the time left goes down: {line1} / {line2}");

            // Ctrl-C: out at once with 130, a clean message, the cursor back.
            pane.keys(&["C-c"]);
            let sent = Instant::now();
            assert_eq!(pane.wait_exit(Duration::from_secs(5)), 130);
            assert!(
                sent.elapsed() < Duration::from_secs(2),
                "promptly: {:?}",
                sent.elapsed()
            );
            let last = pane.screen();
            assert!(
                last.contains("! login cancelled; nothing was stored"),
                "{last}"
            );
            assert!(
                !last.contains(WAITING),
                "the spinner's line is cleared:\n{last}"
            );
            assert!(pane.cursor_shown(), "the cursor is shown again");
            assert!(pane.echo_on());

            // Nothing stored: neither the library nor `status` finds a session.
            let session = CredentialTokenStore::new(
                FileStore::at(cli.credentials_file()),
                "profile/dev/session",
            );
            assert!(session.load().await.unwrap().is_none());
            let status = cli.run_async(&["status"]).await.expect(1);
            assert!(
                status.stderr.contains("dev: not logged in"),
                "{}",
                status.stderr
            );
        }
    }
}
