//! Each auth scheme against a real HTTP server on loopback: success and rejection.

#[path = "support/child.rs"]
mod child;
#[path = "support/demo_api.rs"]
mod demo_api;

use std::borrow::Cow;

use authed::{
    Client, Error, Secret,
    auth::{ApiKey, AuthRequest, Authenticate, Basic, Bearer, NoAuth},
};
use demo_api::{DemoApi, DemoConfig};
use http::{HeaderName, StatusCode};
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: u64,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Who {
    user: String,
}

async fn api() -> DemoApi {
    DemoApi::start(DemoConfig::default())
        .await
        .expect("demo API starts on 127.0.0.1")
}

fn client(api: &DemoApi, auth: impl Authenticate + 'static) -> Client {
    Client::builder(api.url()).auth(auth).build().unwrap()
}

fn assert_unauthorized(result: authed::Result<authed::Response>) -> Error {
    let err = result.expect_err("the server must reject these credentials");
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
    err
}

#[tokio::test]
async fn basic_accepted_and_rejected() {
    let api = api().await;
    let ok = client(&api, Basic::new("ada", "correct horse"));
    let who: Who = ok
        .get("basic/whoami")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who.user, "ada");

    let bad = client(&api, Basic::new("ada", "wrong horse"));
    let err = assert_unauthorized(bad.get("basic/whoami").send().await);
    let Error::Status(status) = &err else {
        panic!("expected a status error, got {err:?}")
    };
    assert_eq!(
        status.www_authenticate.as_deref(),
        Some(r#"Basic realm="demo", charset="UTF-8""#)
    );
    assert!(status.request_id.as_deref().unwrap().starts_with("req-"));
}

#[tokio::test]
async fn basic_with_non_ascii_password_is_utf8() {
    let config = DemoConfig {
        basic_password: "pässwörd £".into(),
        ..DemoConfig::default()
    };
    let api = DemoApi::start(config).await.unwrap();
    let c = client(&api, Basic::new("ada", "pässwörd £"));
    c.get("basic/whoami").send().await.unwrap();
}

#[tokio::test]
async fn basic_user_id_with_colon_is_a_config_error() {
    let err = Client::builder("http://127.0.0.1:9/")
        .auth(Basic::new("a:b", "pw"))
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(err.to_string().contains("RFC 7617"), "{err}");
}

#[tokio::test]
async fn api_key_in_header_accepted_and_rejected() {
    let api = api().await;
    let ok = client(&api, ApiKey::header("X-API-Key", "demo-key"));
    let item: Item = ok
        .get("header-key/items/7")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        item,
        Item {
            id: 7,
            name: "item 7".into()
        }
    );
    let bad = client(&api, ApiKey::header("X-API-Key", "nope-key"));
    assert_unauthorized(bad.get("header-key/items/7").send().await);
    // The right key in the wrong place is also rejected.
    let wrong_place = client(&api, ApiKey::header("X-Other-Key", "demo-key"));
    assert_unauthorized(wrong_place.get("header-key/items/7").send().await);
}

#[tokio::test]
async fn api_key_in_query_accepted_and_rejected() {
    let api = api().await;
    let ok = client(&api, ApiKey::query("api_key", "demo-key"));
    let item: Item = ok
        .get("query-key/items/9?api_key=stale")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(item.id, 9);
    let sent = api.requests().pop().unwrap();
    assert_eq!(
        sent.query.as_deref(),
        Some("api_key=demo-key"),
        "the stale key is replaced"
    );

    let bad = client(&api, ApiKey::query("api_key", "nope-key"));
    let err = assert_unauthorized(bad.get("query-key/items/9").send().await);
    assert!(
        err.to_string().contains("api_key=[redacted]"),
        "the URL in the error is redacted: {err}"
    );
}

#[tokio::test]
async fn bearer_accepted_and_rejected() {
    let api = api().await;
    let ok = client(&api, Bearer::new("demo-token"));
    let who: Who = ok
        .get("bearer/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who.user, "ada");
    let bad = client(&api, Bearer::new("other-token"));
    let err = assert_unauthorized(bad.get("bearer/me").send().await);
    let Error::Status(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        status.www_authenticate.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
}

#[tokio::test]
async fn several_schemes_at_once() {
    let api = api().await;
    let both = Client::builder(api.url())
        .auth(ApiKey::header("X-API-Key", "demo-key"))
        .auth(Bearer::new("demo-token"))
        .build()
        .unwrap();
    both.get("both/me").send().await.unwrap();
    let seen = api.requests().pop().unwrap();
    assert_eq!(seen.header("x-api-key"), Some("demo-key"));
    assert_eq!(seen.header("authorization"), Some("Bearer demo-token"));

    // Either one alone is not enough.
    let key_only = client(&api, ApiKey::header("X-API-Key", "demo-key"));
    assert_unauthorized(key_only.get("both/me").send().await);
}

#[tokio::test]
async fn no_auth_sends_nothing_and_can_override_per_request() {
    let api = api().await;
    let anonymous = Client::builder(api.url()).build().unwrap();
    assert_unauthorized(anonymous.get("bearer/me").send().await);

    let authed = client(&api, Bearer::new("demo-token"));
    assert_unauthorized(authed.get("bearer/me").auth(NoAuth).send().await);
    let seen = api.requests().pop().unwrap();
    assert_eq!(seen.header("authorization"), None);
}

/// A custom scheme through the trait: an HMAC-like signature over method, path and body.
#[derive(Debug)]
struct Signed {
    key: Secret,
}

#[async_trait::async_trait]
impl Authenticate for Signed {
    async fn authenticate(&self, req: &mut AuthRequest<'_>) -> authed::Result<()> {
        use secrecy::ExposeSecret;
        let body_len = req.body().map_or(0, <[u8]>::len);
        let signature = format!(
            "{}:{}:{}:{}",
            self.key.expose_secret(),
            req.method(),
            req.url().path(),
            body_len
        );
        req.set_header(
            HeaderName::from_static("x-signature"),
            &Secret::new(signature),
        )
    }

    fn label(&self) -> Cow<'static, str> {
        "signed".into()
    }
}

#[tokio::test]
async fn custom_scheme_sees_method_path_and_body() {
    let api = api().await;
    let c = client(
        &api,
        Signed {
            key: Secret::from("k3y-material"),
        },
    );
    c.post("echo/x").body("hello").send().await.unwrap();
    let seen = api.requests().pop().unwrap();
    assert_eq!(
        seen.header("x-signature"),
        Some("k3y-material:POST:/echo/x:5")
    );
}

#[tokio::test]
async fn custom_scheme_failure_ends_the_request() {
    #[derive(Debug)]
    struct Broken;
    #[async_trait::async_trait]
    impl Authenticate for Broken {
        async fn authenticate(&self, _: &mut AuthRequest<'_>) -> authed::Result<()> {
            Err(Error::auth("token source unavailable"))
        }
    }
    let api = api().await;
    let err = client(&api, Broken).get("echo").send().await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(api.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn credentials_over_plain_http_are_refused_unless_loopback_or_opted_in() {
    let err = Client::builder("http://api.example.com/")
        .auth(Bearer::new("t0ken-value"))
        .build()
        .unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().contains("plain http"), "{err}");
    assert!(!err.to_string().contains("t0ken-value"));

    Client::builder("http://api.example.com/")
        .auth(Bearer::new("t0ken-value"))
        .allow_http_credentials(true)
        .build()
        .unwrap();
    Client::builder("http://localhost:1/")
        .auth(Bearer::new("t0ken-value"))
        .build()
        .unwrap();
    Client::builder("http://[::1]:1/")
        .auth(Bearer::new("t0ken-value"))
        .build()
        .unwrap();
    // Without credentials, plain http is the caller's business.
    Client::builder("http://api.example.com/").build().unwrap();
}

/// `Secret::from_env` reads the process environment, and setting a variable in this process
/// (`std::env::set_var`) is unsound while other test threads may read the environment. So the
/// test runs again in a child process of this test binary, with the variable set (and another
/// one removed) for that process only.
#[test]
fn secret_from_env() {
    const VAR: &str = "AUTHED_TEST_TOKEN_FROM_ENV";
    const UNSET: &str = "AUTHED_TEST_UNSET_VARIABLE";
    if !child::is_child("secret_from_env") {
        let mut command = child::command("secret_from_env");
        command.env(VAR, "demo-token").env_remove(UNSET);
        child::run(command);
        return;
    }
    child::block_on(async {
        let api = api().await;
        let token = Secret::from_env(VAR).unwrap();
        let who: Who = client(&api, Bearer::new(token))
            .get("bearer/me")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(who.user, "ada");
        assert_eq!(
            api.requests().pop().unwrap().header("authorization"),
            Some("Bearer demo-token")
        );
    });
    let err = Secret::from_env(UNSET).unwrap_err();
    assert!(
        err.to_string().contains(UNSET),
        "the error names the variable: {err}"
    );
}
