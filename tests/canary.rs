//! The canary test: one unique secret, used as Basic password, API key (header and query) and
//! bearer token, driven through success, 401, 404, 500, a refused connection, a decode failure
//! and a cross-origin redirect. It must appear in none of: the Debug and Display of clients,
//! auth values, responses, request builders and errors; the text `tracing` captured at TRACE
//! (with `log` records bridged in, so reqwest's and hyper's logs count too); and what the
//! other origin received.
//!
//! With `redis` and `oauth2`, the fleet path too (`needs_redis`): the password of a Redis
//! ACL user in the fleet's URL, the OAuth client secret, the token values and the key that
//! encrypts them in Redis, through a shared token's fetch, refresh, lock, a wrong key, a bad
//! key, a bad URL and a Redis killed and restarted.

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

/// The process's one global TRACE capture (with `log` bridged), shared by the tests of this
/// binary: each looks for its own canaries in all of it.
fn global_capture() -> &'static Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(Capture::install_global_trace)
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct QueryAsNumber {
    query: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_never_escapes() {
    let capture = global_capture();

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

#[cfg(all(feature = "redis", feature = "oauth2"))]
#[path = "support/redis.rs"]
mod redis_server;

#[cfg(all(feature = "redis", feature = "oauth2"))]
mod needs_redis {
    use std::time::Duration;

    use authed::{
        Client, Secret,
        fleet::{Fleet, RedisTokenStore},
        oauth2::{ClientCredentials, TokenStore},
    };
    use base64::Engine as _;

    use super::{
        assert_clean,
        demo_api::{DemoApi, DemoConfig, OAUTH_CLIENT_ID, TOKEN_LIFETIME},
        global_capture,
        redis_server::RedisServer,
    };

    /// A canary and its encodings (form, base64 in both alphabets).
    fn forms(canary: &str) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let mut forms = super::forms(canary);
        forms.push(STANDARD.encode(canary));
        forms.push(URL_SAFE_NO_PAD.encode(canary));
        forms
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_fleet_path_shows_no_redis_password_token_or_key() {
        let capture = global_capture();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let redis_password = format!("rEdIsCaNaRy{nanos}");
        let client_secret = format!("cLiEnTcAnArY-{nanos}");
        let mut key_bytes = [0u8; 32];
        getrandom::fill(&mut key_bytes).unwrap();
        let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);

        let mut redis = RedisServer::with_acl_user("canary", "worker", &redis_password).await;
        let demo = DemoApi::start(DemoConfig {
            api_key: client_secret.clone(),
            ..DemoConfig::default()
        })
        .await
        .unwrap();
        let fleet = Fleet::new(Secret::new(redis.url()))
            .unwrap()
            .timeout(Duration::from_millis(300));
        let store = RedisTokenStore::new(&fleet, "canary", key.as_str()).unwrap();
        let auth = ClientCredentials::new(
            format!("{}oauth/token", demo.url()),
            OAUTH_CLIENT_ID,
            client_secret.as_str(),
        )
        .into_auth()
        .store(store.clone());
        let client = Client::builder(demo.url())
            .auth(auth.clone())
            .build()
            .unwrap();

        let mut shown = String::new();
        let me = |client: Client| async move {
            let response = client
                .get("oauth/me")
                .send()
                .await
                .expect("the call succeeds");
            let text = format!("{response:?}");
            response.bytes().await.unwrap();
            text
        };
        // A fetch, then a refresh under the fleet's lock once the token is due.
        shown.push_str(&me(client.clone()).await);
        tokio::time::sleep(TOKEN_LIFETIME / 2 + Duration::from_millis(200)).await;
        shown.push_str(&me(client.clone()).await);
        assert!(
            demo.tokens_issued().client_credentials >= 2,
            "a refresh happened"
        );
        for value in [
            format!("{fleet:?}"),
            format!("{fleet:#?}"),
            format!("{store:?}"),
            format!("{store:#?}"),
            format!("{auth:?}"),
            format!("{client:?}"),
            format!("{:?}", store.load().await),
        ] {
            shown.push_str(&value);
            shown.push('\n');
        }

        // A wrong key: a typed error from the store, a new token for the client.
        let other_key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let wrong = RedisTokenStore::new(&fleet, "canary", other_key.as_str()).unwrap();
        let err = wrong.load().await.unwrap_err();
        shown.push_str(&format!("{err}\n{err:?}\n"));
        let rekeyed = ClientCredentials::new(
            format!("{}oauth/token", demo.url()),
            OAUTH_CLIENT_ID,
            client_secret.as_str(),
        )
        .into_auth()
        .store(wrong);
        shown.push_str(&me(Client::builder(demo.url()).auth(rekeyed).build().unwrap()).await);

        // A key that is not one, and a URL that is not a Redis URL: errors that do not echo.
        for bad_key in [format!("{key}!"), key[..20].to_owned()] {
            let err = RedisTokenStore::new(&fleet, "canary", bad_key.as_str()).unwrap_err();
            shown.push_str(&format!("{err}\n{err:?}\n"));
        }
        let err = Fleet::new(redis.url().replace("redis://", "http://")).unwrap_err();
        shown.push_str(&format!("{err}\n{err:?}\n"));
        // The same URL as a cluster's nodes (nothing connects), and nodes whose passwords
        // differ.
        let cluster = Fleet::cluster([redis.url(), redis.url()]).unwrap();
        shown.push_str(&format!("{cluster:?}\n{cluster:#?}\n"));
        let mixed = [redis.url(), redis.url().replace(&redis_password, "other")];
        let err = Fleet::cluster(mixed).unwrap_err();
        shown.push_str(&format!("{err}\n{err:?}\n"));

        // Redis killed mid-run (the warning names the Redis), then back.
        redis.kill();
        tokio::time::sleep(TOKEN_LIFETIME / 2).await;
        shown.push_str(&me(client.clone()).await);
        redis.restart().await;
        tokio::time::sleep(authed::fleet::RETRY_INTERVAL + TOKEN_LIFETIME / 2).await;
        shown.push_str(&me(client.clone()).await);
        shown.push_str(&format!("{fleet:?}\n"));

        let mut forbidden = forms(&redis_password);
        forbidden.extend(forms(&client_secret));
        forbidden.extend(forms(&key));
        forbidden.extend(forms(&other_key));
        for token in demo.issued_tokens() {
            forbidden.extend(forms(&token));
        }
        assert!(shown.contains("[redacted]"), "{shown}");
        assert_clean("Debug/Display output of the fleet path", &shown, &forbidden);
        let traced = capture.text();
        assert!(traced.contains("Redis failed"), "the outage was traced");
        assert!(
            traced.contains("does not decrypt"),
            "the wrong key was traced"
        );
        assert!(
            traced.contains("token refresh"),
            "token requests were traced"
        );
        assert_clean("tracing output of the fleet path", &traced, &forbidden);
    }
}
