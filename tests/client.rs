//! The client itself: joins, headers, typed endpoints and errors, timeouts, the audit trail.

#[path = "support/demo_api.rs"]
mod demo_api;

use std::{
    borrow::Cow,
    sync::{Arc, Mutex},
    time::Duration,
};

use authed::{
    AuditEvent, Client, Endpoint, Error, RequestBuilder, Secret,
    audit::Outcome,
    auth::{ApiKey, Bearer},
    error::{RedirectKind, TransportKind},
};
use demo_api::{DemoApi, DemoConfig};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

async fn api() -> DemoApi {
    DemoApi::start(DemoConfig::default()).await.unwrap()
}

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: u64,
    name: String,
}

struct GetItem<'a> {
    id: &'a str,
}

impl Endpoint for GetItem<'_> {
    type Output = Item;
    fn method(&self) -> Method {
        Method::GET
    }
    fn path(&self) -> Cow<'_, str> {
        authed::path!("items/{}", self.id).into()
    }
}

struct Echo;

impl Endpoint for Echo {
    type Output = Value;
    fn method(&self) -> Method {
        Method::POST
    }
    fn path(&self) -> Cow<'_, str> {
        "echo".into()
    }
    fn configure(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .query(&[("q", "a b"), ("page", "2")])
            .json(&serde_json::json!({"hello": "world"}))
    }
}

#[tokio::test]
async fn typed_endpoint_decodes_its_output() {
    let api = api().await;
    let client = Client::builder(api.url()).build().unwrap();
    let item = client.call(&GetItem { id: "42" }).await.unwrap();
    assert_eq!(
        item,
        Item {
            id: 42,
            name: "item 42".into()
        }
    );
    let echo = client.call(&Echo).await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["query"], "q=a+b&page=2");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["body"], r#"{"hello":"world"}"#);
}

#[tokio::test]
async fn path_parameters_cannot_change_the_path_or_query() {
    let api = api().await;
    let client = Client::builder(format!("{}items/", api.url()))
        .build()
        .unwrap();
    for id in ["../basic/whoami", "1?x=1", "1/../2", "1#frag"] {
        api.clear_requests();
        let err = client
            .call(&GetItem { id })
            .await
            .expect_err("these ids name no item");
        assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{id}: {err}");
        let seen = api.requests().pop().unwrap();
        assert!(
            seen.path.starts_with("/items/items/"),
            "{id}: {}",
            seen.path
        );
        assert_eq!(seen.path.matches('/').count(), 3, "{id}: one segment");
        assert_eq!(seen.query, None, "{id}");
    }
    let err = client.call(&GetItem { id: ".." }).await.unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn base_url_join_rules() {
    let api = api().await;
    // No trailing slash on the base, a leading slash on the path: both are forgiven.
    let client = Client::builder(format!("{}echo", api.url()))
        .build()
        .unwrap();
    client.get("/v1/things").send().await.unwrap();
    assert_eq!(api.requests().pop().unwrap().path, "/echo/v1/things");
    assert_eq!(client.base_url().path(), "/echo/");
}

#[tokio::test]
async fn user_agent_default_headers_and_request_headers() {
    let api = api().await;
    let client = Client::builder(api.url())
        .default_header("X-Tenant", "blue")
        .default_header("X-Override", "client")
        .build()
        .unwrap();
    client
        .get("echo")
        .header("X-Override", "request")
        .send()
        .await
        .unwrap();
    let seen = api.requests().pop().unwrap();
    assert_eq!(
        seen.header("user-agent"),
        Some(concat!("authed/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(seen.header("x-tenant"), Some("blue"));
    assert_eq!(seen.header("x-override"), Some("request"));

    let custom = Client::builder(api.url())
        .user_agent("my-app/1.0")
        .build()
        .unwrap();
    custom.get("echo").send().await.unwrap();
    assert_eq!(
        api.requests().pop().unwrap().header("user-agent"),
        Some("my-app/1.0")
    );
}

#[tokio::test]
async fn invalid_headers_are_config_errors_not_panics() {
    let api = api().await;
    let err = Client::builder(api.url())
        .default_header("bad header", "x")
        .build()
        .unwrap_err();
    assert!(err.is_config());
    let client = Client::builder(api.url()).build().unwrap();
    let err = client
        .get("echo")
        .header("x-ok", "line\nbreak")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn form_text_and_bytes() {
    let api = api().await;
    let client = Client::builder(api.url()).build().unwrap();
    let text = client
        .put("echo")
        .form(&[("a", "1 2"), ("b", "&")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let echo: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(echo["body"], "a=1+2&b=%26");
    assert_eq!(
        echo["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    let bytes = client
        .patch("echo")
        .body("raw")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.starts_with(b"{"));
    client.delete("echo").send().await.unwrap();
    let seen = api.requests();
    assert_eq!(
        seen.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
        ["PUT", "PATCH", "DELETE"]
    );
}

#[tokio::test]
async fn not_found_is_a_typed_error_with_everything_a_caller_needs() {
    let api = api().await;
    let client = Client::builder(api.url())
        .auth(ApiKey::query("api_key", "demo-key"))
        .build()
        .unwrap();
    let err = client.get("items/nope").send().await.unwrap_err();
    let Error::Status(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status.status, StatusCode::NOT_FOUND);
    assert_eq!(status.request.method, Method::GET);
    assert!(
        status
            .request
            .url
            .ends_with("/items/nope?api_key=[redacted]"),
        "{}",
        status.request.url
    );
    assert!(status.body_excerpt.contains("not_found"));
    assert!(!status.body_truncated);
    assert_eq!(err.request_id(), status.request_id.as_deref());
    assert!(err.request_id().unwrap().starts_with("req-"));
    let text = err.to_string();
    assert!(
        text.contains("404 Not Found") && text.contains("request id req-"),
        "{text}"
    );
}

#[tokio::test]
async fn error_bodies_are_bounded() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(500).set_body_string("x".repeat(100_000)))
        .mount(&server)
        .await;
    let client = Client::builder(server.uri())
        .retry(authed::RetryPolicy::never())
        .build()
        .unwrap();
    let err = client.get("big").send().await.unwrap_err();
    let Error::Status(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status.body_excerpt.len(), authed::client::MAX_ERROR_BODY);
    assert!(status.body_truncated);
}

#[tokio::test]
async fn decode_errors_name_the_field_and_hide_values() {
    let api = api().await;
    let client = Client::builder(api.url()).build().unwrap();
    let err = client
        .get("bad-json")
        .send()
        .await
        .unwrap()
        .json::<Item>()
        .await
        .unwrap_err();
    let Error::Decode(decode) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(decode.path, "id");
    assert!(
        decode.message.contains("expected u64"),
        "{}",
        decode.message
    );
    assert!(
        !decode.message.contains("not-a-number"),
        "{}",
        decode.message
    );
    assert!(err.to_string().contains("at `id`"), "{err}");
}

#[tokio::test]
async fn empty_bodies_decode_as_null() {
    let api = api().await;
    let client = Client::builder(api.url()).build().unwrap();
    let unit: () = client
        .get("status/204")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nothing: Option<Item> = client
        .get("status/204")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unit, ());
    assert_eq!(nothing, None);
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::builder(format!("http://127.0.0.1:{port}/"))
        .auth(ApiKey::query("api_key", "k3y-v4lue"))
        .retry(authed::RetryPolicy::never())
        .build()
        .unwrap();
    let err = client.get("x").send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let Error::Transport(t) = &err else { panic!() };
    assert_eq!(t.kind, TransportKind::Connect);
    let text = format!("{err} {err:?}");
    assert!(text.contains("api_key=[redacted]"), "{text}");
    assert!(!text.contains("k3y-v4lue"), "{text}");
}

#[tokio::test]
async fn per_attempt_timeout_and_overall_deadline() {
    let api = api().await;
    let client = Client::builder(api.url())
        .timeout(Duration::from_millis(100))
        .retry(authed::RetryPolicy::never())
        .build()
        .unwrap();
    let err = client.get("slow/2000").send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(matches!(&err, Error::Transport(t) if t.kind == TransportKind::Timeout));

    let err = Client::builder(api.url())
        .deadline(Duration::from_millis(100))
        .build()
        .unwrap()
        .get("slow/2000")
        .send()
        .await
        .unwrap_err();
    let Error::Deadline { request, deadline } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*deadline, Duration::from_millis(100));
    assert_eq!(request.attempts, 1);
    assert!(err.to_string().contains("client-side deadline"), "{err}");

    // Per request, overriding the client.
    let err = client
        .get("slow/2000")
        .deadline(Duration::from_millis(50))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Deadline { .. }));
    client
        .get("slow/10")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_callback_sees_every_request_without_secrets() {
    let api = api().await;
    let events: Arc<Mutex<Vec<AuditEvent>>> = Arc::default();
    let sink = events.clone();
    let client = Client::builder(api.url())
        .auth(Bearer::new(Secret::from("demo-token")))
        .auth(ApiKey::query("api_key", "demo-key"))
        .on_audit(move |e| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    client.get("bearer/me").send().await.unwrap();
    client.get("items/nope").send().await.unwrap_err();
    client.get("redirect-chain/2").send().await.unwrap();
    let other = api_other().await;
    client
        .get(&format!("{}echo", other.url()))
        .send()
        .await
        .unwrap();

    let events = events.lock().unwrap();
    assert_eq!(events.len(), 4);
    let first = &events[0];
    assert_eq!(first.method, Method::GET);
    assert_eq!(first.status, Some(StatusCode::OK));
    assert_eq!(first.outcome, Outcome::Success);
    assert_eq!(first.attempts, 1);
    assert_eq!(first.credential, "bearer + api-key query api_key");
    assert!(
        first.url.ends_with("/bearer/me?api_key=[redacted]"),
        "{}",
        first.url
    );
    assert_eq!(events[1].outcome, Outcome::Status);
    assert_eq!(events[1].status, Some(StatusCode::NOT_FOUND));
    assert_eq!(events[2].attempts, 3);
    assert_eq!(events[3].credential, "withheld");
    let all = format!("{events:?}");
    assert!(
        !all.contains("demo-token") && !all.contains("demo-key"),
        "{all}"
    );
}

async fn api_other() -> DemoApi {
    api().await
}

#[tokio::test]
async fn a_supplied_reqwest_client_that_follows_redirects_is_caught() {
    let api = api().await;
    let follows = reqwest::Client::builder().build().unwrap();
    let client = Client::builder(api.url())
        .reqwest_client(follows)
        .build()
        .unwrap();
    let err = client.get("redirect-chain/1").send().await.unwrap_err();
    assert!(
        matches!(&err, Error::Redirect(r) if r.kind == RedirectKind::FollowedByReqwest),
        "{err:?}"
    );

    let proper = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = Client::builder(api.url())
        .reqwest_client(proper)
        .build()
        .unwrap();
    assert_eq!(
        client
            .get("redirect-chain/1")
            .send()
            .await
            .unwrap()
            .attempts(),
        2
    );
}

#[cfg(feature = "oauth2")] // the shared token cache is an OAuth one
#[tokio::test]
async fn clients_are_cheap_clones_shared_across_tasks() {
    use authed::oauth2::{Custom, Token};
    use demo_api::LIMIT_RATE;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let api = api().await;
    let logins = Arc::new(AtomicUsize::new(0));
    let auth = Custom::new({
        let logins = logins.clone();
        move || {
            logins.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::task::yield_now().await; // let the other tasks queue up behind it
                Ok(Token::bearer("demo-token"))
            }
        }
    })
    .into_auth();
    let client = Client::builder(api.url()).auth(auth).build().unwrap();

    // Clones in 16 tasks share one token cache: one login.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let c = client.clone();
        tasks.spawn(async move {
            c.get("bearer/me").send().await?;
            c.call(&GetItem { id: &i.to_string() }).await
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        ids.push(r.unwrap().unwrap().id);
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..16).collect::<Vec<_>>());
    assert_eq!(
        logins.load(Ordering::SeqCst),
        1,
        "one login for every clone"
    );

    // They share one connection pool: new clones, one after another, reuse the connections
    // already open instead of opening their own.
    let connections = api.connections_accepted();
    assert!(connections >= 1);
    for i in 0..4 {
        let c = client.clone();
        c.call(&GetItem { id: &i.to_string() }).await.unwrap();
    }
    assert_eq!(api.connections_accepted(), connections, "no new connection");

    // And one view of the server's rate limits: what one clone learned, the others see.
    assert!(
        client
            .rate_limit(&api.url())
            .is_none_or(|s| s.limit.is_none())
    );
    client.clone().get("limited/1").send().await.unwrap();
    let state = client
        .rate_limit(&api.url())
        .expect("the state learned through a clone");
    assert_eq!(state.limit, Some(LIMIT_RATE as u64));
}

#[tokio::test]
async fn bad_base_urls_and_origins_are_reported_by_build() {
    assert!(matches!(
        Client::builder("ftp://x/").build().unwrap_err(),
        Error::InvalidUrl { .. }
    ));
    assert!(
        Client::builder("https://x/")
            .allow_origin("nonsense")
            .build()
            .unwrap_err()
            .is_config()
    );
    let err = Client::builder("https://user:pw-s3cret@x/")
        .build()
        .unwrap_err();
    assert!(!err.to_string().contains("pw-s3cret"), "{err}");
}

#[tokio::test]
async fn response_and_decode_error_show_the_url_as_sent() {
    let api = api().await;
    let client = Client::builder(api.url())
        .auth(ApiKey::query("api_key", "demo-key"))
        .build()
        .unwrap();
    let response = client.get("query-key/items/7").send().await.unwrap();
    assert!(
        response
            .redacted_url()
            .ends_with("/query-key/items/7?api_key=[redacted]"),
        "{}",
        response.redacted_url()
    );
    let err = client
        .get("bad-json")
        .send()
        .await
        .unwrap()
        .json::<Item>()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("bad-json?api_key=[redacted]"),
        "{err}"
    );
}
