//! The canary test: one unique secret, used as Basic password, API key (header and query) and
//! bearer token, driven through success, 401, 404, 500, a refused connection, a decode failure
//! and a cross-origin redirect. It must appear in none of: the Debug and Display of clients,
//! auth values, responses, request builders and errors; the text `tracing` captured at TRACE
//! (with `log` records bridged in, so reqwest's and hyper's logs count too); and what the
//! other origin received.

#[path = "support/capture.rs"]
mod capture;
#[path = "support/demo_api.rs"]
mod demo_api;

use authed::{
    Client, Secret,
    auth::{ApiKey, Authenticate, Basic, Bearer},
};
use base64::Engine as _;
use capture::Capture;
use demo_api::{DemoApi, DemoConfig};

/// The forms the canary could take on its way out.
fn forms(canary: &str) -> Vec<String> {
    let encoded: String = authed::url::form_urlencoded::byte_serialize(canary.as_bytes()).collect();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("ada:{canary}").as_bytes());
    vec![canary.to_owned(), encoded, basic]
}

fn assert_clean(what: &str, text: &str, forbidden: &[String]) {
    for f in forbidden {
        assert!(
            !text.contains(f.as_str()),
            "the canary ({f}) leaked into {what}:\n{text}"
        );
    }
}

fn quick_retries() -> authed::RetryPolicy {
    authed::RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(1))
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct QueryAsNumber {
    query: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_never_escapes() {
    let capture = Capture::install_global_trace();

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let canary = format!("cAnArY-{nanos}-k+y/z");
    let forbidden = forms(&canary);

    let config = DemoConfig {
        basic_user: "ada".into(),
        basic_password: canary.clone(),
        api_key: canary.clone(),
        bearer_token: canary.clone(),
    };
    let home = DemoApi::start(config.clone()).await.unwrap();
    let other = DemoApi::start(config).await.unwrap();
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}/")
    };

    let secret = || Secret::from(canary.as_str());
    type MakeAuth<'a> = Box<dyn Fn() -> Box<dyn Authenticate> + 'a>;
    let schemes: Vec<(&str, &str, MakeAuth<'_>)> = vec![
        (
            "basic",
            "basic/whoami",
            Box::new(|| Box::new(Basic::new("ada", secret()))),
        ),
        (
            "header key",
            "header-key/items/1",
            Box::new(|| Box::new(ApiKey::header("X-API-Key", secret()))),
        ),
        (
            "query key",
            "query-key/items/1",
            Box::new(|| Box::new(ApiKey::query("api_key", secret()))),
        ),
        (
            "bearer",
            "bearer/me",
            Box::new(|| Box::new(Bearer::new(secret()))),
        ),
    ];

    let mut shown = String::new();
    let mut errors = 0;
    for (name, ok_path, make) in &schemes {
        shown.push_str(&format!("{:?}\n", make()));
        // Retries (quick ones) are part of the path: their tracing events count too.
        let client = Client::builder(home.url())
            .auth(make())
            .retry(quick_retries())
            .build()
            .unwrap();
        shown.push_str(&format!("{client:?}\n{client:#?}\n"));
        shown.push_str(&format!("{:?}\n", client.get(ok_path)));

        // Success.
        let response = client
            .get(ok_path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: the right credential must be accepted: {e}"));
        shown.push_str(&format!("{response:?}\n{}\n", response.redacted_url()));
        response.bytes().await.unwrap();

        // 401 from a server that echoes the credential in its body; 404; 500; a redirect to
        // another origin; a decode failure over a body that contains the credential.
        let to: String =
            authed::url::form_urlencoded::byte_serialize(format!("{}echo", other.url()).as_bytes())
                .collect();
        let failures = [
            client.get("reflect-401").send().await.err(),
            client.get("items/nope").send().await.err(),
            client.get("status/500").send().await.err(),
            client
                .get(&format!("redirect?status=307&to={to}&api_key=x"))
                .send()
                .await
                .and_then(|_| Err::<(), _>(authed::Error::auth("redirect followed, as expected")))
                .err(),
            match client.get("echo").send().await {
                Ok(r) => r.json::<QueryAsNumber>().await.err(),
                Err(e) => Some(e),
            },
        ];
        for err in failures.into_iter().flatten() {
            errors += 1;
            shown.push_str(&format!("{err}\n{err:?}\n{err:#?}\n"));
            if let Some(source) = std::error::Error::source(&err) {
                shown.push_str(&format!("{source}\n{source:?}\n"));
            }
        }

        // A refused connection.
        let dead = Client::builder(&refused)
            .auth(make())
            .retry(quick_retries())
            .build()
            .unwrap();
        let err = dead.get(ok_path).send().await.unwrap_err();
        assert!(err.is_connect(), "{name}: {err:?}");
        errors += 1;
        shown.push_str(&format!("{err}\n{err:?}\n"));
    }
    // 5 failures per scheme (one of them the decode error) + the refused connection.
    assert_eq!(
        errors,
        schemes.len() * 6,
        "every scenario produced an error"
    );
    assert!(shown.contains("[redacted]"), "redaction is visible");
    assert!(shown.contains("api_key=[redacted]"));
    assert_clean("Debug/Display output", &shown, &forbidden);

    // What the other origin received.
    let received = other.requests();
    assert_eq!(
        received.len(),
        schemes.len(),
        "one redirected request per scheme"
    );
    for request in &received {
        assert_clean("the other origin's request", &request.raw(), &forbidden);
    }

    // tracing, at TRACE, with log records bridged.
    let traced = capture.text();
    assert!(
        traced.contains("authed::audit") && traced.contains("request finished"),
        "the capture saw the audit events:\n{traced}"
    );
    assert!(traced.contains("TRACE") || traced.contains("DEBUG"));
    assert!(traced.contains("retrying"), "retries were traced too");
    assert_clean("tracing output", &traced, &forbidden);
}
