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
