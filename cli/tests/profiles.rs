//! `authed profile`, `completions`, and what `token`, `status` and `logout` say before any
//! login: no server needed. Each test has its own config (`AUTHED_CONFIG` in a temporary
//! directory).

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

const CLIENT_SECRET: &str = "canary-client-secret-4f1d9c";

#[test]
fn profiles_are_added_listed_shown_and_removed() {
    let cli = Cli::new("profiles");
    cli.run(&[
        "profile",
        "add",
        "work",
        "--issuer",
        "https://auth.example.com",
        "--client-id",
        "my-cli",
        "--scope",
        "openid offline_access",
        "--base-url",
        "https://api.example.com/v1/",
        "--insecure-storage",
    ])
    .ok();
    cli.run_with_stdin(
        &[
            "profile",
            "add",
            "robot",
            "--token-url",
            "https://auth.example.com/token",
            "--client-id",
            "robot",
            "--grant",
            "client-credentials",
            "--client-secret-stdin",
            "--client-auth",
            "secret-post",
            "--store",
            "file",
        ],
        &format!("{CLIENT_SECRET}\n"),
    )
    .ok();

    // The file: profiles in TOML, no secret.
    let text = std::fs::read_to_string(cli.config()).unwrap();
    assert!(text.contains("[profiles.work]"), "{text}");
    assert!(
        text.contains("default_profile = \"work\""),
        "the first profile is the default: {text}"
    );
    assert!(text.contains("grant = \"client-credentials\""), "{text}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    // The secret went to the store the profile chose.
    let credentials = std::fs::read_to_string(cli.credentials_file()).unwrap();
    assert!(credentials.contains(CLIENT_SECRET));

    let list = cli.run(&["profile", "list"]).ok();
    assert!(
        list.stdout
            .contains("* work\tdevice\thttps://auth.example.com\tfile"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("  robot\tclient-credentials"),
        "{}",
        list.stdout
    );
    let list = cli.run(&["profile", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2);

    // `show` says a secret is stored, never what it is.
    for args in [
        &["profile", "show", "robot"][..],
        &["profile", "show", "robot", "--json"],
        &["-v", "profile", "show", "-p", "robot"],
    ] {
        let show = cli.run(args).ok();
        assert!(
            show.stdout.contains("stored (not shown)"),
            "{}",
            show.stdout
        );
        assert!(!show.stdout.contains(CLIENT_SECRET) && !show.stderr.contains(CLIENT_SECRET));
    }
    let show = cli.run(&["profile", "show", "--json"]).ok().json();
    assert_eq!(show["name"], "work", "the default profile");
    assert_eq!(
        show["scopes"],
        serde_json::json!(["openid", "offline_access"])
    );

    // An existing name needs --force.
    let again = cli
        .run(&["profile", "add", "work", "--grant", "token"])
        .expect(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);

    // rm takes the client secret with it.
    cli.run(&["profile", "rm", "robot"]).ok();
    let credentials = std::fs::read_to_string(cli.credentials_file()).unwrap();
    assert!(!credentials.contains(CLIENT_SECRET), "{credentials}");
    let list = cli.run(&["profile", "list"]).ok();
    assert!(!list.stdout.contains("robot"));
}

#[test]
fn an_incomplete_profile_is_refused_with_what_it_needs() {
    let cli = Cli::new("incomplete");
    let run = cli
        .run(&["profile", "add", "x", "--client-id", "c"])
        .expect(2);
    assert!(run.stderr.contains("--issuer"), "{}", run.stderr);
    let run = cli
        .run(&[
            "profile",
            "add",
            "x",
            "--issuer",
            "https://a.example",
            "--client-auth",
            "secret-basic",
            "--client-id",
            "c",
        ])
        .expect(2);
    assert!(
        run.stderr.contains("--client-secret-stdin"),
        "{}",
        run.stderr
    );
    // A loopback port is for the browser login only; port 0 is no port.
    let run = cli
        .run(&[
            "profile",
            "add",
            "x",
            "--issuer",
            "https://a.example",
            "--client-id",
            "c",
            "--redirect-port",
            "8400",
        ])
        .expect(2);
    assert!(run.stderr.contains("--grant browser"), "{}", run.stderr);
    let run = cli
        .run(&[
            "profile",
            "add",
            "x",
            "--issuer",
            "https://a.example",
            "--client-id",
            "c",
            "--grant",
            "browser",
            "--redirect-port",
            "0",
        ])
        .expect(2);
    assert!(run.stderr.contains("--redirect-port"), "{}", run.stderr);
    assert!(!cli.config().exists(), "nothing written");
}

#[test]
fn before_any_login_token_fails_and_status_exits_1() {
    let cli = Cli::new("nologin");
    cli.run(&[
        "profile",
        "add",
        "dev",
        "--issuer",
        "https://auth.example.com",
        "--client-id",
        "c",
        "--insecure-storage",
    ])
    .ok();
    let token = cli.run(&["token"]).expect(1);
    assert!(token.stdout.is_empty());
    assert!(
        token.stderr.contains("not logged in")
            && token.stderr.contains("authed login --profile dev"),
        "{}",
        token.stderr
    );
    let status = cli.run(&["status"]).expect(1);
    assert!(
        status.stderr.contains("dev: not logged in"),
        "{}",
        status.stderr
    );
    assert!(
        status.stderr.contains("insecure storage"),
        "the store says it is insecure: {}",
        status.stderr
    );
    let status = cli.run(&["status", "--json"]).expect(1).json();
    assert_eq!(status[0]["logged_in"], false);
    assert_eq!(status[0]["store"]["insecure"], true);
    assert_eq!(status[0]["store"]["survives_reboot"], true);
    let logout = cli.run(&["logout"]).ok();
    assert!(logout.stderr.contains("not logged in"), "{}", logout.stderr);
}

#[test]
fn no_profile_is_a_usage_error_that_says_how_to_make_one() {
    let cli = Cli::new("noprofile");
    let run = cli.run(&["token"]).expect(2);
    assert!(run.stderr.contains("authed profile add"), "{}", run.stderr);
}

#[test]
fn completions_are_printed_for_each_shell() {
    let cli = Cli::new("completions");
    for shell in ["bash", "zsh", "fish"] {
        let run = cli.run(&["completions", shell]).ok();
        assert!(run.stdout.contains("authed"), "{shell}");
        assert!(
            run.stdout.contains("login"),
            "{shell}: subcommands are completed"
        );
    }
}

#[test]
fn secrets_are_set_read_and_removed_in_the_file_store() {
    let cli = Cli::new("secrets");
    let key = "canary-api-key-77c1";
    let set = cli
        .run_with_stdin(
            &["secret", "set", "nasa", "--insecure-storage"],
            &format!("{key}\n"),
        )
        .ok();
    assert!(!set.stderr.contains(key) && set.stdout.is_empty());
    let get = cli
        .run(&["secret", "get", "nasa", "--insecure-storage"])
        .ok();
    assert_eq!(get.stdout, format!("{key}\n"));
    cli.run(&["secret", "rm", "nasa", "--insecure-storage"])
        .ok();
    let get = cli
        .run(&["secret", "get", "nasa", "--insecure-storage"])
        .expect(1);
    assert!(
        get.stdout.is_empty() && get.stderr.contains("no secret"),
        "{}",
        get.stderr
    );
    // Never from an argument: there is no such argument.
    cli.run(&["secret", "set", "nasa", key]).expect(2);
    // An empty stdin is refused.
    cli.run_with_stdin(&["secret", "set", "nasa", "--insecure-storage"], "\n")
        .expect(2);
}

#[test]
fn no_color_on_a_pipe() {
    let cli = Cli::new("color");
    let run = cli.run(&["status"]);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
}
