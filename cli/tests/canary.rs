//! The canary: every command, with `-v`, prints no secret, on stdout or stderr, in any form a
//! secret takes on its way out (as is, percent-encoded, base64 in a longer blob such as a
//! `Basic` header), except the two outputs that exist to print one: `authed token`'s and
//! `authed secret get`'s stdout, and those only their own secret.
//!
//! The secrets are distinctive canaries: a client secret, the access and refresh tokens a local
//! token server issues (client credentials; a device login; the refresh that follows), the
//! device code, an API key (`login --with-token`) and a secret (`secret set`) read from stdin,
//! a password in a URL, a credential header set by hand. The server (support: scripted.rs)
//! checks that they were really sent, so the test cannot pass by not using them; a second
//! origin, reached by a redirect, must receive none of them. The config file holds none.

#[path = "support/cli.rs"]
mod cli;
#[path = "../../tests/support/scripted.rs"]
mod scripted;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use authed::url::form_urlencoded;
use base64::Engine as _;
use cli::{Cli, Run};
use scripted::{Reply, Scripted, Seen};

// `+ / :` and a space make the percent-encoded and base64 forms differ from the raw one.
const CLIENT_SECRET: &str = "cnry-client-secret+/:x 41";
const ACCESS_CC: &str = "cnry-access-cc-7f3a/+b";
const ACCESS_1: &str = "cnry-access-device-1-9c2d";
const REFRESH_1: &str = "cnry-refresh-device-1+e81";
const ACCESS_2: &str = "cnry-access-device-2-55aa";
const REFRESH_2: &str = "cnry-refresh-device-2/0b7";
const DEVICE_CODE: &str = "cnry-device-code-31f0+";
const API_KEY: &str = "cnry-api-key-query-8d1e";
const STORED: &str = "cnry-stored-secret-a7/9";
const URL_PASSWORD: &str = "cnry-url-password-2b6c";
const HAND_HEADER: &str = "cnry-hand-set-header-6e4f";

fn all_canaries() -> Vec<&'static str> {
    vec![
        CLIENT_SECRET,
        ACCESS_CC,
        ACCESS_1,
        REFRESH_1,
        ACCESS_2,
        REFRESH_2,
        DEVICE_CODE,
        API_KEY,
        STORED,
        URL_PASSWORD,
        HAND_HEADER,
    ]
}

/// The forms `secret` may take in text: as is, percent-encoded (form and path styles, either
/// hex case), JSON-escaped, and base64 (standard and URL-safe) of the raw and the
/// form-encoded secret (HTTP Basic client authentication encodes it first, RFC 6749 §2.3.1)
/// at each of the three alignments it can have inside a longer blob (the middle of the
/// encoding, which the neighbours do not touch).
fn forms(secret: &str) -> Vec<String> {
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut forms = vec![
        secret.to_owned(),
        form.clone(),
        form.to_ascii_lowercase(),
        form.replace('+', "%20"),
        secret.replace('/', "\\/"),
    ];
    for text in [secret, form.as_str()] {
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            for offset in 0..3 {
                let mut bytes = vec![b'x'; offset];
                bytes.extend_from_slice(text.as_bytes());
                let encoded = engine.encode(&bytes);
                // Skip the first group when it mixes in the prefix, and the last (the
                // neighbour that follows, or padding).
                let start = if offset == 0 { 0 } else { 4 };
                forms.push(encoded[start..encoded.len() - 4].to_owned());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Fails if any form of any of `secrets` is in `text`.
#[track_caller]
fn assert_clean(where_: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !text.contains(&form),
                "{where_} carries the canary {secret:?} (as {form:?}):\n{text}"
            );
        }
    }
}

/// The token server and API, recording what it was sent.
struct Server {
    scripted: Scripted,
}

impl Server {
    async fn start(other_origin: String) -> Self {
        let busy = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let scripted = Scripted::start(move |seen: &Seen| {
            let form: HashMap<String, String> =
                form_urlencoded::parse(&seen.body).into_owned().collect();
            let bearer = seen
                .header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or("");
            let tokens = |access: &str, refresh: Option<&str>, expires_in: u64| {
                let mut body = serde_json::json!({
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": expires_in,
                    "scope": "offline_access",
                });
                if let Some(refresh) = refresh {
                    body["refresh_token"] = refresh.into();
                }
                Reply::new(200)
                    .header("content-type", "application/json")
                    .body(body.to_string())
            };
            let oauth_error = |code: &str| {
                Reply::new(400)
                    .header("content-type", "application/json")
                    .body(format!("{{\"error\":\"{code}\"}}"))
            };
            let json = |status: u16, body: &str| {
                Reply::new(status)
                    .header("content-type", "application/json")
                    .body(body.to_owned())
            };
            match (seen.method.as_str(), seen.path.as_str()) {
                ("POST", "/token") => match form.get("grant_type").map(String::as_str) {
                    Some("client_credentials") => tokens(ACCESS_CC, None, 3600),
                    Some("urn:ietf:params:oauth:grant-type:device_code")
                        if form.get("device_code").map(String::as_str) == Some(DEVICE_CODE) =>
                    {
                        // Short-lived: the next `token` refreshes.
                        tokens(ACCESS_1, Some(REFRESH_1), 1)
                    }
                    Some("refresh_token")
                        if form.get("refresh_token").map(String::as_str) == Some(REFRESH_1) =>
                    {
                        tokens(ACCESS_2, Some(REFRESH_2), 3600)
                    }
                    _ => oauth_error("invalid_grant"),
                },
                ("POST", "/device") => json(
                    200,
                    &serde_json::json!({
                        "device_code": DEVICE_CODE,
                        "user_code": "WDJB-MJHT",
                        "verification_uri": "http://127.0.0.1/device",
                        "expires_in": 60,
                        "interval": 1,
                    })
                    .to_string(),
                ),
                ("POST", "/revoke") => Reply::new(200),
                ("GET", "/api/me") => {
                    let key = seen.query.as_deref().is_some_and(|q| {
                        form_urlencoded::parse(q.as_bytes())
                            .any(|(k, v)| k == "api_key" && v == API_KEY)
                    });
                    if [ACCESS_CC, ACCESS_1, ACCESS_2].contains(&bearer) || key {
                        json(200, "{\"me\":\"ada\"}")
                    } else {
                        Reply::new(401).header("www-authenticate", "Bearer error=\"invalid_token\"")
                    }
                }
                ("GET", "/api/status/401") => Reply::new(401)
                    .header("www-authenticate", "Bearer error=\"invalid_token\"")
                    .body("{\"error\":\"invalid_token\"}"),
                ("GET", "/api/missing") => json(404, "{\"error\":\"not_found\"}"),
                ("GET", "/api/boom") => Reply::new(500).body("it broke"),
                ("GET", "/api/busy") => {
                    let mut busy = busy.lock().unwrap();
                    let n = busy.entry(bearer.to_owned()).or_default();
                    *n += 1;
                    if *n == 1 {
                        Reply::new(429).header("retry-after", "1")
                    } else {
                        json(200, "{\"ok\":true}")
                    }
                }
                ("GET", "/api/away") => {
                    Reply::new(302).header("location", format!("{other_origin}landing"))
                }
                ("GET", "/api/list") => {
                    if seen.query.as_deref() == Some("page=2") {
                        json(200, "[3]")
                    } else {
                        json(200, "[1, 2]").header("link", "</api/list?page=2>; rel=\"next\"")
                    }
                }
                ("GET", "/api/open") => json(200, "{\"open\":true}"),
                _ => json(404, "{\"error\":\"no such route\"}"),
            }
        })
        .await;
        Self { scripted }
    }

    fn url(&self) -> String {
        self.scripted.url()
    }

    fn seen(&self) -> Vec<Seen> {
        self.scripted.seen()
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn canary_no_secret_in_any_output_but_token_and_secret_get_stdout() {
    let other = Scripted::start(|_: &Seen| Reply::ok()).await;
    let server = Server::start(other.url()).await;
    let base = server.url();
    let api = format!("{base}api/");
    let cli = Cli::new("canary");
    // Every run, to be checked at the end; `token` and `secret get` apart.
    let mut runs: Vec<Run> = vec![];
    let mut printing: Vec<(Run, Vec<&str>)> = vec![];

    let endpoints = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "--token-url",
            &format!("{base}token"),
            "--revocation-url",
            &format!("{base}revoke"),
            "--base-url",
            &api,
            "--insecure-storage",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let with = |head: &[&str], tail: &[String]| -> Vec<String> {
        head.iter()
            .map(|s| (*s).to_owned())
            .chain(tail.iter().cloned())
            .collect()
    };
    macro_rules! run {
        ($args:expr) => {{
            let a: Vec<String> = $args;
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            cli.run_async(&a).await
        }};
        ($args:expr, stdin = $stdin:expr) => {{
            let a: Vec<String> = $args;
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            cli.run_with_stdin_async(&a, $stdin).await
        }};
    }
    let v = |a: &[&str]| -> Vec<String> { a.iter().map(|s| (*s).to_owned()).collect() };

    // Profiles.
    runs.push(
        run!(
            with(
                &[
                    "-v",
                    "profile",
                    "add",
                    "cc",
                    "--client-id",
                    "canary-cc",
                    "--grant",
                    "client-credentials",
                    "--client-secret-stdin"
                ],
                &endpoints(&[])
            ),
            stdin = &format!("{CLIENT_SECRET}\n")
        )
        .ok(),
    );
    runs.push(
        run!(with(
            &[
                "-v",
                "profile",
                "add",
                "dev",
                "--client-id",
                "canary-device",
                "--scope",
                "offline_access"
            ],
            &endpoints(&["--device-url", &format!("{base}device")])
        ))
        .ok(),
    );
    runs.push(
        run!(v(&[
            "-v",
            "profile",
            "add",
            "keyed",
            "--grant",
            "token",
            "--api-key-query",
            "api_key",
            "--base-url",
            &api,
            "--insecure-storage",
        ]))
        .ok(),
    );
    // A URL with a password is refused, without repeating it.
    let bad = run!(v(&[
        "-v",
        "profile",
        "add",
        "bad",
        "--grant",
        "token",
        "--insecure-storage",
        "--base-url",
        &format!("http://ada:{URL_PASSWORD}@127.0.0.1:1/"),
    ]))
    .expect(2);
    assert!(
        bad.stderr.contains("carries a credential"),
        "{}",
        bad.stderr
    );
    runs.push(bad);
    for a in [
        v(&["-v", "profile", "list"]),
        v(&["-v", "profile", "list", "--json"]),
        v(&["-v", "profile", "show", "cc"]),
        v(&["-v", "profile", "show", "cc", "--json"]),
        v(&["-v", "profile", "show", "dev"]),
        v(&["-v", "profile", "show", "keyed", "--json"]),
    ] {
        runs.push(run!(a).ok());
    }

    // Logins: client credentials, the device flow (approved by the server on its first poll),
    // a static API key on stdin.
    runs.push(run!(v(&["-v", "login", "-p", "cc"])).ok());
    let device = run!(v(&["-v", "login", "-p", "dev"])).ok();
    assert!(
        device.stderr.contains("WDJB-MJHT"),
        "the user code is shown: {}",
        device.stderr
    );
    runs.push(device);
    runs.push(
        run!(
            v(&["-v", "login", "-p", "keyed", "--with-token"]),
            stdin = API_KEY
        )
        .ok(),
    );
    runs.push(run!(v(&["-v", "status"])).ok());
    runs.push(run!(v(&["-v", "status", "--json"])).ok());

    // `secret`: set from stdin, get (allowed), rm.
    runs.push(
        run!(
            v(&["-v", "secret", "set", "k", "--insecure-storage"]),
            stdin = STORED
        )
        .ok(),
    );
    let get = run!(v(&["-v", "secret", "get", "k", "--insecure-storage"])).ok();
    assert_eq!(get.stdout, format!("{STORED}\n"));
    printing.push((get, vec![STORED]));

    // `token`: the device session's access token has expired (1 s): a refresh, then the new
    // token (allowed on stdout, and only it).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = run!(v(&["-v", "token", "-p", "dev"])).ok();
    assert_eq!(token.stdout, format!("{ACCESS_2}\n"), "refreshed");
    printing.push((token, vec![ACCESS_2]));
    let token = run!(v(&["-v", "token", "-p", "cc", "--json"])).ok();
    assert_eq!(token.json()["access_token"], ACCESS_CC);
    printing.push((token, vec![ACCESS_CC]));
    runs.push(run!(v(&["-v", "status", "-p", "dev"])).ok());

    // Requests, with their error paths.
    for (profile, path, code) in [
        ("cc", "me", 0),
        ("dev", "me", 0),
        ("keyed", "me", 0),
        ("cc", "status/401", 4),
        ("dev", "missing", 4),
        ("cc", "boom", 5),
        ("cc", "busy", 0),
        ("dev", "busy", 0),
        ("keyed", "busy", 0),
        ("cc", "away", 0),
    ] {
        let run = run!(v(&["-v", "request", "-p", profile, "GET", path])).expect(code);
        runs.push(run);
    }
    // Credentials set by hand: a header and a query parameter.
    let hand = run!(v(&[
        "-v",
        "request",
        "--no-auth",
        "GET",
        &format!("{api}missing"),
        &format!("Authorization:Bearer {HAND_HEADER}"),
        &format!("api_key=={API_KEY}"),
    ]))
    .expect(4);
    assert!(
        hand.stderr.contains("> Authorization: [redacted]"),
        "{}",
        hand.stderr
    );
    runs.push(hand);
    runs.push(
        run!(v(&[
            "-v",
            "request",
            "-p",
            "dev",
            "GET",
            "list",
            "--paginate"
        ]))
        .ok(),
    );
    // A password in a URL: refused (never sent, never repeated), whether or not anything
    // listens there.
    let port = server.scripted.url();
    let port = port
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    for port in [port, closed_port().to_string()] {
        let url = format!("http://ada:{URL_PASSWORD}@127.0.0.1:{port}/api/open");
        let refused = run!(v(&["-v", "request", "--no-auth", "GET", &url])).expect(2);
        assert!(
            refused.stderr.contains("user:password@"),
            "{}",
            refused.stderr
        );
        runs.push(refused);
    }
    // A transport error.
    let refused = run!(v(&[
        "-v",
        "request",
        "-p",
        "cc",
        "GET",
        &format!("http://127.0.0.1:{}/x", closed_port()),
    ]))
    .expect(1);
    assert!(refused.stderr.contains("error:"), "{}", refused.stderr);
    runs.push(refused);
    runs.push(run!(v(&["-v", "request", "-p", "cc", "DELETE", "me", "x:=["])).expect(2));

    // The rest: completions, logout (revokes), secret rm, profile rm.
    for shell in ["bash", "zsh", "fish"] {
        runs.push(run!(v(&["-v", "completions", shell])).ok());
    }
    runs.push(run!(v(&["-v", "logout", "-p", "dev"])).ok());
    runs.push(run!(v(&["-v", "logout", "-p", "cc"])).ok());
    runs.push(run!(v(&["-v", "secret", "rm", "k", "--insecure-storage"])).ok());
    runs.push(run!(v(&["-v", "status"])).expect(1));
    runs.push(run!(v(&["-v", "profile", "rm", "cc"])).ok());

    // The secrets were used: the server saw each of them, so their absence from the output
    // means something.
    let seen = server.seen();
    let sent = |what: &str, secret: &str| {
        assert!(
            seen.iter().any(|s| {
                let text = format!(
                    "{:?} {:?} {}",
                    s.headers,
                    s.query,
                    String::from_utf8_lossy(&s.body)
                );
                forms(secret).iter().any(|f| text.contains(f.as_str()))
            }),
            "the server never saw {what}"
        );
    };
    sent("the client secret", CLIENT_SECRET);
    sent("the device code", DEVICE_CODE);
    sent("the first refresh token", REFRESH_1);
    sent("the second refresh token (revoked)", REFRESH_2);
    sent("the device access token", ACCESS_2);
    sent("the client credentials token", ACCESS_CC);
    sent("the API key", API_KEY);
    sent("the hand-set header", HAND_HEADER);
    assert_clean(
        "what the server received",
        &format!("{seen:?}"),
        &[URL_PASSWORD],
    );
    // The other origin, reached by a redirect, got no credential.
    let landed = other.seen();
    assert_eq!(landed.len(), 1, "the redirect was followed");
    let text = format!("{:?} {:?}", landed[0].headers, landed[0].query);
    assert_clean("what the other origin received", &text, &all_canaries());

    // Now the outputs.
    assert!(runs.len() > 40, "{} runs", runs.len());
    for run in &runs {
        assert_clean(
            &format!("`authed {}` stdout", run.args),
            &run.stdout,
            &all_canaries(),
        );
        assert_clean(
            &format!("`authed {}` stderr", run.args),
            &run.stderr,
            &all_canaries(),
        );
    }
    for (run, allowed) in &printing {
        let others: Vec<&str> = all_canaries()
            .into_iter()
            .filter(|c| !allowed.contains(c))
            .collect();
        assert_clean(
            &format!("`authed {}` stdout", run.args),
            &run.stdout,
            &others,
        );
        assert_clean(
            &format!("`authed {}` stderr", run.args),
            &run.stderr,
            &all_canaries(),
        );
    }
    // -v did show what it shows: headers, redacted URLs.
    let verbose = runs
        .iter()
        .find(|r| r.args.contains("keyed GET me"))
        .unwrap();
    assert!(
        verbose.stderr.contains("api_key=[redacted]"),
        "{}",
        verbose.stderr
    );
    assert!(
        verbose.stderr.contains("< content-type: application/json"),
        "{}",
        verbose.stderr
    );
    let url = runs.iter().find(|r| r.args.contains("cc GET me")).unwrap();
    assert!(
        url.stderr.contains("> GET http://127.0.0.1:"),
        "{}",
        url.stderr
    );
    assert!(
        url.stderr.contains("> (credentials: authed profile cc"),
        "{}",
        url.stderr
    );
    // The config file holds no secret.
    let config = std::fs::read_to_string(cli.config()).unwrap();
    assert_clean("the config file", &config, &all_canaries());
}
