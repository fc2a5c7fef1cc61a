//! Redirects are followed by authed's send loop: credentials stay with their origin.

#[path = "support/demo_api.rs"]
mod demo_api;

use authed::{
    Client, Error,
    auth::{ApiKey, Basic, Bearer},
    error::RedirectKind,
};
use demo_api::{DemoApi, DemoConfig, RecordedRequest};
use http::{Method, StatusCode};

async fn pair() -> (DemoApi, DemoApi) {
    let home = DemoApi::start(DemoConfig::default()).await.unwrap();
    let other = DemoApi::start(DemoConfig::default()).await.unwrap();
    (home, other)
}

fn redirect_to(status: u16, to: &str) -> String {
    let to: String = authed::url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
    format!("redirect?status={status}&to={to}")
}

/// A client that carries every kind of credential at once.
fn loaded(home: &DemoApi) -> Client {
    Client::builder(home.url())
        .auth(Bearer::new("demo-token"))
        .auth(ApiKey::header("X-API-Key", "demo-key"))
        .auth(ApiKey::query("api_key", "demo-key"))
        .default_header("X-Auth-Token", "manual-s3cret")
        .build()
        .unwrap()
}

fn assert_no_credentials(seen: &RecordedRequest) {
    assert_eq!(seen.header("authorization"), None, "{}", seen.raw());
    assert_eq!(seen.header("x-api-key"), None, "{}", seen.raw());
    assert_eq!(seen.header("x-auth-token"), None, "{}", seen.raw());
    let raw = seen.raw();
    for secret in ["demo-token", "demo-key", "manual-s3cret"] {
        assert!(
            !raw.contains(secret),
            "{secret} reached the other origin:\n{raw}"
        );
    }
}

#[tokio::test]
async fn every_status_to_another_origin_drops_every_credential() {
    let (home, other) = pair().await;
    let client = loaded(&home);
    for status in [301, 302, 303, 307, 308] {
        other.clear_requests();
        let target = format!("{}echo?page=2", other.url());
        let response = client
            .get(&redirect_to(status, &target))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let seen = other.requests();
        assert_eq!(seen.len(), 1, "status {status}");
        assert_no_credentials(&seen[0]);
        assert_eq!(seen[0].query.as_deref(), Some("page=2"));
    }
    // The first hop did carry them.
    let first = home.requests().pop().unwrap();
    assert_eq!(first.header("authorization"), Some("Bearer demo-token"));
    assert_eq!(first.header("x-auth-token"), Some("manual-s3cret"));
}

#[tokio::test]
async fn a_location_that_copies_the_key_into_the_query_loses_it() {
    let (home, other) = pair().await;
    let client = loaded(&home);
    // The server builds its Location from the request URL, query (and key) included.
    let target = format!(
        "{}echo?api_key=demo-key&page=2&copy=demo-token",
        other.url()
    );
    client.get(&redirect_to(302, &target)).send().await.unwrap();
    let seen = other.requests().pop().unwrap();
    assert_no_credentials(&seen);
    assert_eq!(seen.query.as_deref(), Some("page=2"));
}

#[tokio::test]
async fn same_origin_hops_keep_credentials() {
    let (home, _other) = pair().await;
    let client = Client::builder(home.url())
        .auth(Bearer::new("demo-token"))
        .build()
        .unwrap();
    let response = client
        .get(&redirect_to(302, "/bearer/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.attempts(), 2);
}

#[tokio::test]
async fn an_allowed_origin_gets_credentials() {
    let (home, other) = pair().await;
    let origin = other.url().trim_end_matches('/').to_owned();
    let client = Client::builder(home.url())
        .auth(Bearer::new("demo-token"))
        .auth(ApiKey::header("X-API-Key", "demo-key"))
        .auth(ApiKey::query("api_key", "demo-key"))
        .allow_origin(origin)
        .build()
        .unwrap();
    // What the allowed origin received: every credential, on a redirect to it and on an
    // absolute URL to it.
    let assert_received = |how: &str| {
        let seen = other.requests();
        assert_eq!(seen.len(), 1, "{how}");
        let seen = &seen[0];
        assert_eq!(seen.path, "/bearer/me", "{how}");
        assert_eq!(
            seen.header("authorization"),
            Some("Bearer demo-token"),
            "{how}: {}",
            seen.raw()
        );
        assert_eq!(seen.header("x-api-key"), Some("demo-key"), "{how}");
        assert_eq!(seen.query.as_deref(), Some("api_key=demo-key"), "{how}");
        other.clear_requests();
    };
    let response = client
        .get(&redirect_to(302, &format!("{}bearer/me", other.url())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.attempts(), 2);
    assert_received("redirect");
    client
        .get(&format!("{}bearer/me", other.url()))
        .send()
        .await
        .unwrap();
    assert_received("absolute URL");
}

#[tokio::test]
async fn an_absolute_url_to_another_origin_gets_no_credentials() {
    let (home, other) = pair().await;
    let err = loaded(&home)
        .get(&format!("{}bearer/me", other.url()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert_no_credentials(&other.requests()[0]);
    assert!(home.requests().is_empty());
}

#[tokio::test]
async fn back_to_the_home_origin_credentials_return() {
    // home -> other -> home: the scheme's credentials are added again for home, but a
    // credential the caller set by hand stays behind once it has left.
    let (home, other) = pair().await;
    let client = loaded(&home);
    let back = format!("{}echo/back", home.url());
    let via_other = format!("{}{}", other.url(), redirect_to(302, &back));
    client
        .get(&redirect_to(302, &via_other))
        .send()
        .await
        .unwrap();
    assert_no_credentials(&other.requests()[0]);
    let last = home.requests().pop().unwrap();
    assert_eq!(last.path, "/echo/back");
    assert_eq!(last.header("authorization"), Some("Bearer demo-token"));
    assert_eq!(last.header("x-auth-token"), None);
}

#[tokio::test]
async fn see_other_and_found_continue_as_get_without_body() {
    let (home, _other) = pair().await;
    let client = Client::builder(home.url()).build().unwrap();
    for status in [301, 302, 303] {
        home.clear_requests();
        client
            .post(&redirect_to(status, "/echo/next"))
            .json(&serde_json::json!({"a": 1}))
            .send()
            .await
            .unwrap();
        let last = home.requests().pop().unwrap();
        assert_eq!(last.method, "GET", "status {status}");
        assert!(last.body.is_empty());
        assert_eq!(last.header("content-type"), None);
    }
}

#[tokio::test]
async fn temporary_and_permanent_redirects_replay_method_and_body() {
    let (home, _other) = pair().await;
    let client = Client::builder(home.url())
        .auth(Basic::new("ada", "correct horse"))
        .build()
        .unwrap();
    for status in [307, 308] {
        home.clear_requests();
        client
            .request(Method::PUT, &redirect_to(status, "/echo/next"))
            .json(&serde_json::json!({"a": 1}))
            .send()
            .await
            .unwrap();
        let last = home.requests().pop().unwrap();
        assert_eq!(last.method, "PUT");
        assert_eq!(last.body, br#"{"a":1}"#);
    }
}

#[tokio::test]
async fn a_stream_cannot_be_replayed() {
    let (home, _other) = pair().await;
    let client = Client::builder(home.url()).build().unwrap();
    // A body that is not held in memory cannot be sent twice.
    let stream = reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from_static(
        b"streamed",
    )));
    let err = client
        .post(&redirect_to(307, "/echo/next"))
        .body_stream(stream)
        .send()
        .await
        .unwrap_err();
    let Error::Redirect(r) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(r.kind, RedirectKind::BodyNotReplayable);
    assert!(err.to_string().contains("cannot be replayed"), "{err}");
}

#[tokio::test]
async fn ten_hops_are_followed_eleven_are_not() {
    let (home, _other) = pair().await;
    let client = Client::builder(home.url()).build().unwrap();
    let ok = client.get("redirect-chain/10").send().await.unwrap();
    assert_eq!(ok.attempts(), 11);
    let err = client.get("redirect-chain/11").send().await.unwrap_err();
    let Error::Redirect(r) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(r.kind, RedirectKind::TooMany);
}

#[tokio::test]
async fn another_host_name_for_the_same_server_is_another_origin() {
    // 127.0.0.1 and localhost reach the same socket, but they are different origins.
    let (home, _other) = pair().await;
    let alias = format!("http://localhost:{}/echo/alias", home.addr().port());
    loaded(&home)
        .get(&redirect_to(307, &alias))
        .send()
        .await
        .unwrap();
    let seen = home.requests().pop().unwrap();
    assert_eq!(seen.path, "/echo/alias");
    assert_no_credentials(&seen);
}

#[tokio::test]
async fn bad_locations_are_typed_errors() {
    let (home, _other) = pair().await;
    let client = Client::builder(home.url()).build().unwrap();
    let err = client
        .get(&redirect_to(302, "ftp://example.com/x"))
        .send()
        .await
        .unwrap_err();
    let Error::Redirect(r) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(r.kind, RedirectKind::InvalidLocation);
}

#[tokio::test]
async fn redirect_policy_none_returns_the_3xx() {
    let (home, _other) = pair().await;
    let client = Client::builder(home.url())
        .redirect(authed::redirect::Policy::none())
        .build()
        .unwrap();
    let err = client
        .get(&redirect_to(302, "/echo"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FOUND));
}
