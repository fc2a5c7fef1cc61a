//! `authed login` with client credentials and with `--with-token`, `token`, `request` (items,
//! retries, exit codes, `--paginate`). Against the in-process demo API
//! (tests/support/demo_api.rs) and scripted listings, with the file store
//! (`--insecure-storage`). The canary over every command is cli/tests/canary.rs.

#[path = "support/cli.rs"]
mod cli;
#[path = "../../tests/support/demo_api.rs"]
mod demo_api;
#[path = "../../tests/support/scripted.rs"]
mod scripted;

use cli::Cli;
use demo_api::{DemoApi, DemoConfig, OAUTH_CLIENT_ID};
use scripted::{Reply, Scripted, Seen};

/// The demo API's API key, which is also its OAuth client's secret.
const CLIENT_SECRET: &str = "canary-demo-secret-9a8b7c";
/// A static token given to `login --with-token`.
const STATIC_KEY: &str = "canary-static-key-5e6f";

async fn demo() -> DemoApi {
    DemoApi::start(DemoConfig {
        api_key: CLIENT_SECRET.into(),
        ..DemoConfig::default()
    })
    .await
    .unwrap()
}

/// A client credentials profile `api` against the demo server, in the file store.
async fn cc_profile(cli: &Cli, api: &DemoApi) {
    cli.run_with_stdin_async(
        &[
            "profile",
            "add",
            "api",
            "--token-url",
            &format!("{}oauth/token", api.url()),
            "--client-id",
            OAUTH_CLIENT_ID,
            "--client-secret-stdin",
            "--grant",
            "client-credentials",
            "--base-url",
            &api.url(),
            "--insecure-storage",
        ],
        CLIENT_SECRET,
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_login_then_token_and_request() {
    let api = demo().await;
    let cli = Cli::new("cc");
    cc_profile(&cli, &api).await;
    let login = cli.run_async(&["login"]).await.ok();
    assert!(
        login.stderr.contains("logged in to api"),
        "{}",
        login.stderr
    );
    assert_eq!(api.tokens_issued().client_credentials, 1);

    // `token` prints the stored token, and it is the one the server issued.
    let token = cli.run_async(&["token"]).await.ok();
    let printed = token.stdout.trim_end();
    assert_eq!(
        token.stdout.lines().count(),
        1,
        "one line: {}",
        token.stdout
    );
    assert!(
        api.issued_tokens().iter().any(|t| t == printed),
        "{printed}"
    );
    assert!(token.stderr.is_empty(), "nothing else: {}", token.stderr);

    // `request` sends it: the protected route answers.
    let me = cli.run_async(&["request", "GET", "oauth/me"]).await.ok();
    assert_eq!(me.json()["client"], OAUTH_CLIENT_ID);
    assert!(me.stderr.starts_with("200 OK"), "{}", me.stderr);

    let status = cli.run_async(&["status", "--json"]).await.ok().json();
    assert_eq!(status[0]["logged_in"], true);
    assert_eq!(status[0]["refresh_token"], false);

    // After expiry (the demo's tokens live 2 s), `token` gets a new one with the grant.
    tokio::time::sleep(demo_api::TOKEN_LIFETIME).await;
    let renewed = cli.run_async(&["token"]).await.ok();
    assert_ne!(renewed.stdout.trim_end(), printed);
    assert_eq!(api.tokens_issued().client_credentials, 2);

    // Logout: the demo has no revocation endpoint; the session is deleted.
    let logout = cli.run_async(&["logout"]).await.ok();
    assert!(
        logout.stderr.contains("no revocation endpoint"),
        "{}",
        logout.stderr
    );
    cli.run_async(&["token"]).await.expect(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_items_become_query_headers_and_a_json_body() {
    let api = demo().await;
    let cli = Cli::new("items");
    cc_profile(&cli, &api).await;
    cli.run_async(&["login"]).await.ok();
    let echo = cli
        .run_async(&[
            "request",
            "POST",
            "echo",
            "q==rust lang",
            "X-Trace:abc",
            "name=ada",
            "age:=36",
            "tags:=[\"a\",\"b\"]",
        ])
        .await
        .ok()
        .json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["query"], "q=rust+lang");
    assert_eq!(echo["headers"]["x-trace"], "abc");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert!(
        echo["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    let body: serde_json::Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "ada", "age": 36, "tags": ["a", "b"]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_retried_after_retry_after_and_status_classes_set_the_exit_code() {
    let api = demo().await;
    let cli = Cli::new("retry");
    cc_profile(&cli, &api).await;
    cli.run_async(&["login"]).await.ok();

    // /busy/ answers its first request 429 with Retry-After: 1, then 200.
    let started = std::time::Instant::now();
    let busy = cli.run_async(&["request", "GET", "busy/x"]).await.ok();
    assert!(
        busy.stderr.contains("200 OK (after 2 attempts)"),
        "{}",
        busy.stderr
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "waited as asked"
    );
    assert_eq!(busy.json()["ok"], true);
    let busy_requests = api
        .requests()
        .iter()
        .filter(|r| r.path == "/busy/x")
        .count();
    assert_eq!(busy_requests, 2);

    let missing = cli.run_async(&["request", "GET", "nope"]).await.expect(4);
    assert!(
        missing.stderr.starts_with("404 Not Found"),
        "{}",
        missing.stderr
    );
    assert_eq!(
        missing.json()["error"],
        "not_found",
        "the error body is printed too"
    );

    // A transport error: nothing listens there.
    let refused = cli
        .run_async(&["request", "--no-auth", "GET", "http://127.0.0.1:9/x"])
        .await
        .expect(1);
    assert!(refused.stderr.contains("error:"), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_api_key_from_stdin_goes_in_its_header() {
    let api = DemoApi::start(DemoConfig {
        api_key: STATIC_KEY.into(),
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let cli = Cli::new("apikey");
    cli.run_async(&[
        "profile",
        "add",
        "keyed",
        "--grant",
        "token",
        "--base-url",
        &api.url(),
        "--api-key-header",
        "X-API-Key",
        "--insecure-storage",
    ])
    .await
    .ok();
    // Never from an argument.
    cli.run_async(&["login", "--with-token", STATIC_KEY])
        .await
        .expect(2);
    cli.run_with_stdin_async(&["login", "--with-token"], &format!("{STATIC_KEY}\n"))
        .await
        .ok();
    let item = cli
        .run_async(&["request", "GET", "header-key/items/7"])
        .await
        .ok();
    assert_eq!(item.json()["id"], 7, "{}", item.stdout);
    let sent = api.requests().last().unwrap().clone();
    assert_eq!(sent.header("x-api-key"), Some(STATIC_KEY));
    assert!(sent.header("authorization").is_none());
}

/// A listing of `/items` on three pages (`?page=2`, `?page=3` by `Link: rel="next"`, the second
/// one relative), each a JSON array; `/objects` the same with `{"items": [...]}` pages; each
/// page carries a `rel="last"` link too, which is not followed.
async fn listing(foreign: Option<String>) -> Scripted {
    Scripted::start(move |seen: &Seen| {
        let page: u32 = seen
            .query
            .as_deref()
            .and_then(|q| q.strip_prefix("page="))
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let items = match page {
            1 => "[1, 2]",
            2 => "[3, 4]",
            _ => "[5]",
        };
        let body = if seen.path == "/objects" {
            format!("{{\"items\": {items}, \"page\": {page}}}")
        } else {
            items.to_owned()
        };
        let next = match (page, &foreign) {
            (1, Some(foreign)) => Some(foreign.clone()),
            // Absolute (on this origin), then relative.
            (1, None) => Some(format!(
                "http://{}{}?page=2",
                seen.header("host").unwrap_or("127.0.0.1"),
                seen.path
            )),
            (2, _) => Some(format!("{}?page=3", seen.path)),
            _ => None,
        };
        let mut reply = Reply::new(if seen.path == "/broken" && page == 2 {
            404
        } else {
            200
        })
        .body(body);
        let mut link = format!("<{}?page=3>; rel=\"last\"", seen.path);
        if let Some(next) = next {
            link = format!("<{next}>; rel=\"next\", {link}");
        }
        reply = reply.header("link", link);
        reply
    })
    .await
}

/// A profile `api` with a static bearer token, on `base`.
async fn token_profile(cli: &Cli, base: &str) {
    cli.run_async(&[
        "profile",
        "add",
        "api",
        "--grant",
        "token",
        "--base-url",
        base,
        "--insecure-storage",
    ])
    .await
    .ok();
    cli.run_with_stdin_async(&["login", "--with-token"], STATIC_KEY)
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn paginate_merges_array_pages_into_one_array_with_credentials_on_every_page() {
    let server = listing(None).await;
    let cli = Cli::new("paginate");
    token_profile(&cli, &server.url()).await;
    let run = cli
        .run_async(&["request", "GET", "items", "--paginate"])
        .await
        .ok();
    assert_eq!(
        run.json(),
        serde_json::json!([1, 2, 3, 4, 5]),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr, "200 OK (page 1)\n200 OK (page 2)\n200 OK (page 3)\n",
        "{}",
        run.stderr
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "the last page's rel=last is not followed");
    for page in &seen {
        assert_eq!(
            page.header("authorization"),
            Some(format!("Bearer {STATIC_KEY}").as_str()),
            "{:?}",
            page.query
        );
    }
    assert_eq!(seen[1].query.as_deref(), Some("page=2"));
    assert_eq!(seen[2].query.as_deref(), Some("page=3"));

    // Pages that are objects: each one's JSON in turn.
    let run = cli
        .run_async(&["request", "GET", "objects", "--paginate"])
        .await
        .ok();
    let pages: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&run.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pages.len(), 3, "{}", run.stdout);
    assert_eq!(pages[2], serde_json::json!({"items": [5], "page": 3}));

    // --max-pages: two pages, and a warning that more remain.
    let before = server.seen().len();
    let run = cli
        .run_async(&["request", "GET", "items", "--paginate", "--max-pages", "2"])
        .await
        .ok();
    assert_eq!(run.json(), serde_json::json!([1, 2, 3, 4]));
    assert!(
        run.stderr
            .contains("stopped after 2 pages; more remain (--max-pages)"),
        "{}",
        run.stderr
    );
    assert_eq!(server.seen().len() - before, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn paginate_stops_at_a_failed_page_a_foreign_next_link_and_refuses_a_post() {
    let other = listing(None).await;
    let server = listing(Some(format!("{}items?page=2", other.url()))).await;
    let cli = Cli::new("paginate-stop");
    token_profile(&cli, &server.url()).await;
    // A next link to another origin: not followed; the first page is printed.
    let run = cli
        .run_async(&["request", "GET", "items", "--paginate"])
        .await
        .expect(1);
    assert_eq!(run.json(), serde_json::json!([1, 2]));
    assert!(run.stderr.contains("another origin"), "{}", run.stderr);
    assert!(other.seen().is_empty(), "nothing went to the other origin");

    // A 404 on page 2 of a listing on one origin: exit 4, page 1 printed.
    let server = listing(None).await;
    let cli = Cli::new("paginate-404");
    token_profile(&cli, &server.url()).await;
    let run = cli
        .run_async(&["request", "GET", "broken", "--paginate"])
        .await
        .expect(4);
    assert_eq!(run.json(), serde_json::json!([1, 2]));
    assert!(run.stderr.contains("page 2:"), "{}", run.stderr);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    assert!(!run.stderr.contains(STATIC_KEY));

    let run = cli
        .run_async(&["request", "POST", "items", "--paginate"])
        .await
        .expect(2);
    assert!(run.stderr.contains("GET only"), "{}", run.stderr);
    cli.run_async(&["request", "GET", "items", "--paginate", "--max-pages", "0"])
        .await
        .expect(2);
}
