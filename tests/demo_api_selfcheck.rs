//! Self-check of the in-process demo API server in `tests/support/demo_api.rs`,
//! using raw HTTP/1.1 over TCP (no dependency on the `authed` crate).

#[path = "support/demo_api.rs"]
mod demo_api;

use std::time::{Duration, Instant};

use base64::Engine as _;
use demo_api::{DemoApi, DemoConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A keep-alive HTTP/1.1 connection speaking raw bytes.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(api: &DemoApi) -> Conn {
        let stream = TcpStream::connect(api.addr()).await.expect("connect");
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send_raw(&mut self, raw: &[u8]) -> RawResponse {
        self.stream.write_all(raw).await.expect("write request");
        self.read_response().await
    }

    async fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> RawResponse {
        let mut raw = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n").into_bytes();
        for (name, value) in headers {
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(b": ");
            raw.extend_from_slice(value);
            raw.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            raw.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(body);
        self.send_raw(&raw).await
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(IO_TIMEOUT, self.stream.read(&mut chunk))
            .await
            .expect("read timed out")
            .expect("read");
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    async fn read_response(&mut self) -> RawResponse {
        let head_end = loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            assert!(self.fill().await > 0, "connection closed before response");
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ascii head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (n, v) = line.split_once(':').expect("header line");
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().expect("content-length"))
            .unwrap_or(0);
        self.buf.drain(..head_end + 4);
        while self.buf.len() < len {
            assert!(self.fill().await > 0, "connection closed mid-body");
        }
        let body = self.buf.drain(..len).collect();
        RawResponse {
            status,
            headers,
            body,
        }
    }
}

async fn get(api: &DemoApi, target: &str, headers: &[(&str, &[u8])]) -> RawResponse {
    Conn::open(api)
        .await
        .send("GET", target, headers, b"")
        .await
}

fn basic(user_pass: &str) -> Vec<u8> {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
    .into_bytes()
}

async fn start() -> DemoApi {
    DemoApi::start(DemoConfig::default()).await.expect("start")
}

#[tokio::test]
async fn url_and_request_ids() {
    let api = start().await;
    assert_eq!(
        api.url(),
        format!("http://127.0.0.1:{}/", api.addr().port())
    );
    let mut conn = Conn::open(&api).await;
    // Two requests on one keep-alive connection.
    let a = conn.send("GET", "/items/1", &[], b"").await;
    let b = conn.send("GET", "/nope", &[], b"").await;
    assert_eq!(a.header("x-request-id"), Some("req-1"));
    assert_eq!(b.header("x-request-id"), Some("req-2"));
    assert_eq!(b.status, 404);
    assert_eq!(b.json(), json!({"error": "not_found"}));
    assert_eq!(b.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn basic_auth() {
    let api = start().await;
    let ok = get(
        &api,
        "/basic/whoami",
        &[("Authorization", &basic("ada:correct horse"))],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!({"user": "ada"}));

    let lower = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode("ada:correct horse")
    );
    let ok = get(
        &api,
        "/basic/whoami",
        &[("authorization", lower.as_bytes())],
    )
    .await;
    assert_eq!(ok.status, 200);

    let bad_cases: Vec<Vec<u8>> = vec![
        basic("ada:wrong"),
        basic("ada"),
        b"Basic !!!not-base64!!!".to_vec(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':', 0xff])
        )
        .into_bytes(),
        b"Bearer demo-token".to_vec(),
        b"Basic".to_vec(),
        b"Basic \xff\xfe".to_vec(),
    ];
    for case in &bad_cases {
        let r = get(&api, "/basic/whoami", &[("Authorization", case)]).await;
        assert_eq!(r.status, 401, "case {:?}", String::from_utf8_lossy(case));
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Basic realm="demo", charset="UTF-8""#)
        );
        assert_eq!(r.json(), json!({"error": "unauthorized"}));
    }
    let missing = get(&api, "/basic/whoami", &[]).await;
    assert_eq!(missing.status, 401);

    // UTF-8 credentials (RFC 7617 charset="UTF-8").
    let api = DemoApi::start(DemoConfig {
        basic_user: "zoë".into(),
        basic_password: "pässwörd:with colon".into(),
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let ok = get(
        &api,
        "/basic/whoami",
        &[("Authorization", &basic("zoë:pässwörd:with colon"))],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!({"user": "zoë"}));
}

#[tokio::test]
async fn api_keys() {
    let api = start().await;
    let ok = get(&api, "/header-key/items/7", &[("X-API-Key", b"demo-key")]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!({"id": 7, "name": "item 7"}));
    for bad in [&b"wrong"[..], b"demo-keyX", b"\xff\xfe"] {
        let r = get(&api, "/header-key/items/7", &[("X-API-Key", bad)]).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json(), json!({"error": "invalid api key"}));
    }
    assert_eq!(get(&api, "/header-key/items/7", &[]).await.status, 401);
    // The non-UTF-8 header was recorded lossily.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.header("x-api-key") == Some("\u{fffd}\u{fffd}"))
    );

    let ok = get(&api, "/query-key/items/3?api_key=demo-key", &[]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!({"id": 3, "name": "item 3"}));
    let ok = get(&api, "/query-key/items/3?x=1&api_key=%64emo-key", &[]).await;
    assert_eq!(ok.status, 200);
    for bad in [
        "",
        "?api_key=nope",
        "?api_key=%zz",
        "?api_key=%ff",
        "?other=demo-key",
    ] {
        let r = get(&api, &format!("/query-key/items/3{bad}"), &[]).await;
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(r.json(), json!({"error": "invalid api key"}));
    }

    // Keys with reserved characters, percent- or form-encoded.
    let api = DemoApi::start(DemoConfig {
        api_key: "k+y &=/ü".into(),
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    for q in ["k%2By%20%26%3D%2F%C3%BC", "k%2By+%26%3D%2F%C3%BC"] {
        let r = get(&api, &format!("/query-key/items/1?api_key={q}"), &[]).await;
        assert_eq!(r.status, 200, "{q}");
    }
}

#[tokio::test]
async fn bearer_and_both() {
    let api = start().await;
    for auth in [
        &b"Bearer demo-token"[..],
        b"bearer demo-token",
        b"BEARER  demo-token",
    ] {
        let r = get(&api, "/bearer/me", &[("Authorization", auth)]).await;
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(auth));
        assert_eq!(r.json(), json!({"user": "ada", "scopes": ["read"]}));
    }
    for auth in [
        &b"Bearer nope"[..],
        b"Basic demo-token",
        b"demo-token",
        b"\xff",
    ] {
        let r = get(&api, "/bearer/me", &[("Authorization", auth)]).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
    assert_eq!(get(&api, "/bearer/me", &[]).await.status, 401);

    let both = [
        ("Authorization", &b"Bearer demo-token"[..]),
        ("X-API-Key", b"demo-key"),
    ];
    let r = get(&api, "/both/me", &both).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"user": "ada"}));
    assert_eq!(get(&api, "/both/me", &both[..1]).await.status, 401);
    assert_eq!(get(&api, "/both/me", &both[1..]).await.status, 401);
}

#[tokio::test]
async fn plain_routes() {
    let api = start().await;
    let r = get(&api, "/items/42", &[]).await;
    assert_eq!(r.json(), json!({"id": 42, "name": "item 42"}));
    for bad in ["/items/abc", "/items/-1", "/items/+1", "/items/"] {
        let r = get(&api, bad, &[]).await;
        assert_eq!(r.status, 404);
        assert_eq!(
            r.json(),
            json!({"error": "not_found", "message": "no item here"})
        );
    }

    let r = get(&api, "/status/503", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json(), json!({"error": "status 503"}));
    assert_eq!(get(&api, "/status/429", &[]).await.status, 429);
    assert_eq!(get(&api, "/status/204", &[]).await.status, 204);
    assert_eq!(get(&api, "/status/99999", &[]).await.status, 400);

    let r = get(&api, "/bad-json", &[]).await;
    assert_eq!(r.json(), json!({"id": "not-a-number", "name": 5}));

    let start = Instant::now();
    let r = get(&api, "/slow/50", &[]).await;
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(r.json(), json!({"slept": 50}));

    let r = Conn::open(&api)
        .await
        .send("DELETE", "/items/1", &[], b"")
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn echo_and_recording() {
    let api = start().await;
    let r = Conn::open(&api)
        .await
        .send(
            "POST",
            "/echo/a%20b/c?x=1&y=%2F",
            &[("Content-Type", b"text/plain"), ("X-Thing", b"value")],
            "héllo".as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/echo/a%20b/c");
    assert_eq!(v["query"], "x=1&y=%2F");
    assert_eq!(v["headers"]["x-thing"], "value");
    assert_eq!(v["headers"]["content-type"], "text/plain");
    assert_eq!(v["body"], "héllo");

    let v = get(&api, "/echo", &[]).await.json();
    assert_eq!(v["query"], Value::Null);
    assert_eq!(v["body"], "");

    let reqs = api.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/echo/a%20b/c");
    assert_eq!(reqs[0].query.as_deref(), Some("x=1&y=%2F"));
    assert_eq!(reqs[0].header("X-THING"), Some("value"));
    assert_eq!(reqs[0].body, "héllo".as_bytes());
    assert!(reqs[0].headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    let raw = reqs[0].raw();
    for needle in ["POST /echo/a%20b/c?x=1&y=%2F", "x-thing: value", "héllo"] {
        assert!(raw.contains(needle), "{needle} not in {raw}");
    }
    api.clear_requests();
    assert!(api.requests().is_empty());

    // A 1 MiB body is accepted; anything larger is rejected.
    let big = vec![b'a'; 1024 * 1024];
    let r = Conn::open(&api).await.send("PUT", "/echo", &[], &big).await;
    assert_eq!(r.status, 200);
    assert_eq!(api.requests()[0].body.len(), big.len());
    let bigger = vec![b'a'; 1024 * 1024 + 1];
    let r = Conn::open(&api)
        .await
        .send("PUT", "/echo", &[], &bigger)
        .await;
    assert_eq!(r.status, 413);
}

#[tokio::test]
async fn reflect_401_leaks_everything() {
    let api = start().await;
    let r = get(
        &api,
        "/reflect-401?api_key=sekret",
        &[("Authorization", b"Bearer tok"), ("X-API-Key", b"k")],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"error": "rejected", "you_sent": {
            "authorization": "Bearer tok", "x-api-key": "k", "query": "api_key=sekret"
        }})
    );
    let r = get(&api, "/reflect-401", &[]).await;
    assert_eq!(
        r.json()["you_sent"],
        json!({"authorization": null, "x-api-key": null, "query": null})
    );
}

#[tokio::test]
async fn redirects() {
    let api = start().await;
    let r = get(&api, "/redirect?to=%2Fitems%2F1", &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/items/1"));

    let to = format!("{}bearer/me", api.url());
    let encoded = percent_encoding::utf8_percent_encode(&to, percent_encoding::NON_ALPHANUMERIC);
    for method in ["GET", "POST", "PUT"] {
        let r = Conn::open(&api)
            .await
            .send(
                method,
                &format!("/redirect?status=307&to={encoded}"),
                &[],
                b"{}",
            )
            .await;
        assert_eq!(r.status, 307);
        assert_eq!(r.header("location"), Some(to.as_str()));
    }
    let r = get(
        &api,
        "/redirect?status=301&to=https://example.invalid/x",
        &[],
    )
    .await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://example.invalid/x"));
    assert_eq!(
        get(&api, "/redirect?status=200&to=/", &[]).await.status,
        400
    );
    assert_eq!(get(&api, "/redirect", &[]).await.status, 400);
    assert_eq!(get(&api, "/redirect?to=%0d%0a", &[]).await.status, 400);

    let mut conn = Conn::open(&api).await;
    let mut target = "/redirect-chain/3".to_owned();
    let mut hops = 0;
    let last = loop {
        let r = conn.send("GET", &target, &[], b"").await;
        if r.status != 302 {
            break r;
        }
        target = r.header("location").unwrap().to_owned();
        hops += 1;
    };
    assert_eq!(hops, 3);
    assert_eq!(last.status, 200);
    assert_eq!(last.json(), json!({"done": true}));
}

#[tokio::test]
async fn drop_closes_open_connections() {
    let api = start().await;
    let mut conn = Conn::open(&api).await;
    assert_eq!(conn.send("GET", "/items/1", &[], b"").await.status, 200);
    drop(api);
    // The keep-alive connection must be closed by the server.
    assert_eq!(conn.fill().await, 0);
}

async fn post(api: &DemoApi, target: &str, headers: &[(&str, &[u8])], body: &[u8]) -> RawResponse {
    Conn::open(api)
        .await
        .send("POST", target, headers, body)
        .await
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// The claims of a JWT-shaped token (not verified).
fn jwt_claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not header.payload.signature");
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = serde_json::from_slice(&engine.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["typ"], "JWT");
    serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn login(api: &DemoApi) -> (String, String) {
    let json = [("Content-Type", &b"application/json"[..])];
    let r = post(
        api,
        "/login",
        &json,
        br#"{"username":"ada","password":"correct horse"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    (
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn jwt_login_refresh_and_me() {
    let api = start().await;
    let json = [("Content-Type", &b"application/json"[..])];

    let r = post(
        &api,
        "/login",
        &json,
        br#"{"username":"ada","password":"correct horse"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    let access = v["access_token"].as_str().unwrap().to_owned();
    let refresh = v["refresh_token"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&access);
    assert_eq!(claims["sub"], "ada");
    let exp = claims["exp"].as_u64().expect("exp is a NumericDate") as f64;
    let lifetime = exp - unix_now();
    assert!(lifetime > 0.0 && lifetime <= 2.0, "lifetime {lifetime}");
    assert_eq!(refresh.split('.').count(), 1, "the refresh token is opaque");

    for bad in [
        &br#"{"username":"ada","password":"wrong"}"#[..],
        br#"{"username":"eve","password":"correct horse"}"#,
    ] {
        let r = post(&api, "/login", &json, bad).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json(), json!({"msg": "Bad username or password"}));
    }
    for bad in [&b"not json"[..], br#"{"username":"ada"}"#, b""] {
        assert_eq!(post(&api, "/login", &json, bad).await.status, 400);
    }

    let r = get(&api, "/jwt/me", &[("Authorization", &bearer(&access))]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"user": "ada"}));
    for auth in [bearer(&refresh), bearer("nope"), basic("ada:correct horse")] {
        let r = get(&api, "/jwt/me", &[("Authorization", &auth)]).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
    assert_eq!(get(&api, "/jwt/me", &[]).await.status, 401);

    let r = post(
        &api,
        "/refresh",
        &[("Authorization", &bearer(&refresh))],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let renewed = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(v.as_object().unwrap().len(), 1, "no new refresh token: {v}");
    assert_ne!(renewed, access);
    assert_eq!(jwt_claims(&renewed)["sub"], "ada");
    let r = get(&api, "/jwt/me", &[("Authorization", &bearer(&renewed))]).await;
    assert_eq!(r.status, 200);
    // The refresh token keeps working (it is not rotated).
    let r = post(
        &api,
        "/refresh",
        &[("Authorization", &bearer(&refresh))],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);

    for auth in [bearer("nope"), bearer(&access)] {
        let r = post(&api, "/refresh", &[("Authorization", &auth)], b"").await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json(), json!({"msg": "Token has been revoked"}));
    }
    let r = post(&api, "/refresh", &[], b"").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"msg": "Missing Authorization Header"}));

    let r = get(&api, "/login", &[]).await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = post(&api, "/jwt/me", &[], b"").await;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));

    let issued = api.tokens_issued();
    assert_eq!((issued.login, issued.refresh), (1, 2));
    assert_eq!(issued.client_credentials, 0);
    let all = api.issued_tokens();
    assert_eq!(all.len(), 4);
    for token in [&access, &refresh, &renewed] {
        assert!(all.contains(token));
    }

    api.revoke_tokens();
    let r = get(&api, "/jwt/me", &[("Authorization", &bearer(&renewed))]).await;
    assert_eq!(r.status, 401);
    let r = post(
        &api,
        "/refresh",
        &[("Authorization", &bearer(&refresh))],
        b"",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        api.issued_tokens().len(),
        4,
        "revoked tokens are still listed"
    );
}

#[tokio::test]
async fn jwt_access_tokens_expire_at_exp() {
    let api = start().await;
    let (access, _) = login(&api).await;
    let auth = [("Authorization", &bearer(&access)[..])];
    assert_eq!(get(&api, "/jwt/me", &auth).await.status, 200);
    let exp = jwt_claims(&access)["exp"].as_f64().unwrap();
    tokio::time::sleep(Duration::from_secs_f64(exp - unix_now() + 0.05)).await;
    let r = get(&api, "/jwt/me", &auth).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"msg": "Token has expired"}));
}

/// `client_secret_basic` as RFC 6749 §2.3.1 has it: each part form-urlencoded.
fn client_basic(id: &str, secret: &str) -> Vec<u8> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    basic(&format!("{}:{}", enc(id), enc(secret)))
}

const FORM: (&str, &[u8]) = ("Content-Type", b"application/x-www-form-urlencoded");

#[tokio::test]
async fn oauth_client_credentials() {
    let api = start().await;
    let grant = b"grant_type=client_credentials";

    let auth = client_basic("demo-client", "demo-key");
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &auth)],
        grant,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 2);
    let token = v["access_token"].as_str().unwrap().to_owned();

    let body = b"grant_type=client_credentials&client_id=demo-client&client_secret=demo-key";
    let r = post(&api, "/oauth/token", &[FORM], body).await;
    assert_eq!(r.status, 200);
    let posted = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(posted, token);

    let r = get(&api, "/oauth/me", &[("Authorization", &bearer(&token))]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"client": "demo-client"}));
    let r = get(&api, "/oauth/me", &[("Authorization", &bearer(&posted))]).await;
    assert_eq!(r.status, 200);
    for auth in [bearer("nope"), bearer(&login(&api).await.0)] {
        let r = get(&api, "/oauth/me", &[("Authorization", &auth)]).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
    // A client credentials token is not a JWT API token either.
    let r = get(&api, "/jwt/me", &[("Authorization", &bearer(&token))]).await;
    assert_eq!(r.status, 401);

    // Wrong secret: with Basic, 401 and a challenge; in the body, 401 alone.
    let wrong = client_basic("demo-client", "nope");
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &wrong)],
        grant,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "invalid_client"}));
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let other = client_basic("someone", "demo-key");
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &other)],
        grant,
    )
    .await;
    assert_eq!(r.status, 401);
    let body = b"grant_type=client_credentials&client_id=demo-client&client_secret=nope";
    let r = post(&api, "/oauth/token", &[FORM], body).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "invalid_client"}));
    assert_eq!(r.header("www-authenticate"), None);
    let r = post(&api, "/oauth/token", &[FORM], grant).await;
    assert_eq!(r.status, 401);

    // Both methods at once, a repeated parameter, another grant, or no form: 400.
    let body = b"grant_type=client_credentials&client_id=demo-client&client_secret=demo-key";
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &auth)],
        body,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"error": "invalid_request"}));
    let body = b"grant_type=client_credentials&grant_type=client_credentials";
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &auth)],
        body,
    )
    .await;
    assert_eq!(r.json(), json!({"error": "invalid_request"}));
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &auth)],
        b"grant_type=password",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"error": "unsupported_grant_type"}));
    let json_type = ("Content-Type", &b"application/json"[..]);
    let r = post(
        &api,
        "/oauth/token",
        &[json_type, ("Authorization", &auth)],
        grant,
    )
    .await;
    assert_eq!(r.status, 400);
    let r = get(&api, "/oauth/token", &[]).await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));

    let issued = api.tokens_issued();
    assert_eq!(issued.client_credentials, 2);
    assert_eq!(issued.login, 1);

    // The token lives 2 s (expires_in).
    tokio::time::sleep(Duration::from_millis(2050)).await;
    let r = get(&api, "/oauth/me", &[("Authorization", &bearer(&token))]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn oauth_client_secret_is_form_urlencoded_in_basic() {
    let api = DemoApi::start(DemoConfig {
        api_key: "k+y &=/ü:%".into(),
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let grant = b"grant_type=client_credentials";
    let encoded = client_basic("demo-client", "k+y &=/ü:%");
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &encoded)],
        grant,
    )
    .await;
    assert_eq!(r.status, 200);
    // Sent raw, `+` reads as a space and `%` as a broken escape: refused.
    let raw = basic("demo-client:k+y &=/ü:%");
    let r = post(
        &api,
        "/oauth/token",
        &[FORM, ("Authorization", &raw)],
        grant,
    )
    .await;
    assert_eq!(r.status, 401);
    let body = format!(
        "grant_type=client_credentials&client_id=demo-client&client_secret={}",
        url::form_urlencoded::byte_serialize("k+y &=/ü:%".as_bytes()).collect::<String>()
    );
    let r = post(&api, "/oauth/token", &[FORM], body.as_bytes()).await;
    assert_eq!(r.status, 200);
}
