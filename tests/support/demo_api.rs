//! A small in-process HTTP/1.1 API server for integration tests and examples.
//!
//! It deliberately does not depend on the `authed` crate. Include it with
//! `#[path = "support/demo_api.rs"] mod demo_api;` (tests) or
//! `#[path = "../tests/support/demo_api.rs"] mod demo_api;` (examples).
//!
//! Every request is recorded (method, raw path and query, headers, body) so
//! tests can assert on exactly what a client sent, and every response carries
//! an `x-request-id: req-<n>` header.
//!
//! Besides the static-credential routes it plays two token-issuing APIs (see
//! [`TOKEN_LIFETIME`]):
//!
//! - a JWT login API like Flask-JWT-Extended: `POST /login` with
//!   `{"username", "password"}` (the [`DemoConfig`] Basic user and password)
//!   answers `{"access_token": <JWT>, "refresh_token": <opaque>}`;
//!   `POST /refresh` with `Authorization: Bearer <refresh token>` answers
//!   `{"access_token": <JWT>}`; `GET /jwt/me` needs a live access token;
//! - an OAuth 2.0 token endpoint for the client credentials grant:
//!   `POST /oauth/token` for client [`OAUTH_CLIENT_ID`] with the
//!   [`DemoConfig`] API key as its secret (`client_secret_basic` or
//!   `client_secret_post`); `GET /oauth/me` needs a live access token.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Largest request body the server accepts (1 MiB); larger bodies get a 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Credentials the demo server accepts.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub basic_user: String,
    pub basic_password: String,
    pub api_key: String,
    pub bearer_token: String,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            basic_user: "ada".to_owned(),
            basic_password: "correct horse".to_owned(),
            api_key: "demo-key".to_owned(),
            bearer_token: "demo-token".to_owned(),
        }
    }
}

/// One request as received by the server.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw path, still percent-encoded.
    pub path: String,
    /// Raw query string (without the `?`), still percent-encoded.
    pub query: Option<String>,
    /// Header names are lowercase; values are decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Everything the client sent, as one string: request line, headers and
    /// the body (lossy UTF-8). Meant for "does this secret appear anywhere"
    /// assertions.
    pub fn raw(&self) -> String {
        let mut out = format!("{} {}", self.method, self.path);
        if let Some(query) = &self.query {
            out.push('?');
            out.push_str(query);
        }
        out.push('\n');
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&String::from_utf8_lossy(&self.body));
        out
    }
}

struct State {
    config: DemoConfig,
    requests: Mutex<Vec<RecordedRequest>>,
    counter: AtomicU64,
    /// `/limited/...`: a token bucket of LIMIT_RATE per second, burst LIMIT_BURST.
    bucket: Mutex<(f64, tokio::time::Instant)>,
    /// `/busy/...`: how many requests it has refused.
    busy_refusals: AtomicU64,
    limited_429s: AtomicU64,
    /// TCP connections accepted.
    connections: AtomicU64,
    /// Tokens issued by `/login`, `/refresh` and `/oauth/token`.
    tokens: Mutex<Tokens>,
}

/// How long the access tokens of `/login`, `/refresh` and `/oauth/token` live.
/// `/oauth/token` says `"expires_in": 2`; the JWTs carry `exp` in whole
/// seconds (`iat` rounded down, plus 2), so they live between 1 and 2 s. Expiry
/// follows the wall clock (`SystemTime`), not tokio's (pausable) clock.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(2);

/// The client id `/oauth/token` accepts; its secret is [`DemoConfig::api_key`].
pub const OAUTH_CLIENT_ID: &str = "demo-client";

/// How many tokens each endpoint has issued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokensIssued {
    /// Access tokens (each with a refresh token) from `POST /login`.
    pub login: u64,
    /// Access tokens from `POST /refresh`.
    pub refresh: u64,
    /// Access tokens from `POST /oauth/token` (client credentials).
    pub client_credentials: u64,
}

#[derive(Default)]
struct Tokens {
    /// Live JWT access tokens (`/login`, `/refresh`): token -> (subject, expiry).
    jwt: HashMap<String, (String, SystemTime)>,
    /// Live refresh tokens (`/login`): token -> subject.
    refresh: HashMap<String, String>,
    /// Live client credentials access tokens: token -> (client id, expiry).
    oauth: HashMap<String, (String, SystemTime)>,
    /// Every token ever issued, revoked or not.
    issued: Vec<String>,
    counts: TokensIssued,
}

/// `/limited/...` allows this many requests per second...
pub const LIMIT_RATE: f64 = 5.0;
/// ... with bursts of this many.
pub const LIMIT_BURST: f64 = 3.0;

impl State {
    fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A panicking test thread must not make the server unusable.
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tokens(&self) -> MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running demo server. Dropping it shuts the server down (the accept task
/// and every open connection are aborted).
pub struct DemoApi {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl DemoApi {
    /// Binds `127.0.0.1:0` and serves HTTP/1.1 (with keep-alive) on a tokio
    /// task of the current runtime.
    pub async fn start(config: DemoConfig) -> std::io::Result<DemoApi> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            config,
            requests: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            bucket: Mutex::new((LIMIT_BURST, tokio::time::Instant::now())),
            busy_refusals: AtomicU64::new(0),
            limited_429s: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            tokens: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Ok(DemoApi { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL with a trailing slash, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Every request received so far, in order of arrival (recorded once its
    /// body has been read).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests().clone()
    }

    /// How many 429s `/limited/...` has sent.
    pub fn limited_429s(&self) -> u64 {
        self.state.limited_429s.load(Ordering::SeqCst)
    }

    /// How many TCP connections the server has accepted (requests on a kept-alive
    /// connection do not count again).
    pub fn connections_accepted(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn clear_requests(&self) {
        self.state.requests().clear();
    }

    /// How many tokens `/login`, `/refresh` and `/oauth/token` have issued.
    pub fn tokens_issued(&self) -> TokensIssued {
        self.state.tokens().counts
    }

    /// Every access and refresh token issued so far, revoked or not: for
    /// "no token appears in this output" checks.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.tokens().issued.clone()
    }

    /// Revokes every token issued so far (as a password change or "sign out
    /// everywhere" would): access tokens and refresh tokens get 401 from then on.
    pub fn revoke_tokens(&self) {
        let mut tokens = self.state.tokens();
        tokens.jwt.clear();
        tokens.refresh.clear();
        tokens.oauth.clear();
    }
}

impl Drop for DemoApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    // Connections live in this JoinSet so that aborting the accept task also
    // aborts (drops) every open connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(_) => {
                        // E.g. too many open files: back off briefly.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type Resp = Response<Full<Bytes>>;

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Resp {
    let id = state.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let (parts, body) = req.into_parts();

    let mut recorded = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
    };

    let body_result = Limited::new(body, MAX_BODY_BYTES).collect().await;
    let mut response = match body_result {
        Ok(collected) => {
            recorded.body = collected.to_bytes().to_vec();
            state.requests().push(recorded.clone());
            if recorded.path.starts_with("/limited/") {
                limited(&state)
            } else if recorded.path.starts_with("/busy/") {
                busy(&state)
            } else if let Some(resp) = token_route(&state, &parts.method, &parts.headers, &recorded)
            {
                resp
            } else {
                route(&state.config, &parts.method, &parts.headers, &recorded).await
            }
        }
        Err(err) => {
            state.requests().push(recorded);
            if err.downcast_ref::<LengthLimitError>().is_some() {
                json_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"error": "payload_too_large"}),
                )
            } else {
                json_response(StatusCode::BAD_REQUEST, json!({"error": "bad_body"}))
            }
        }
    };

    if let Ok(value) = HeaderValue::from_str(&format!("req-{id}")) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}

async fn route(
    cfg: &DemoConfig,
    method: &Method,
    headers: &HeaderMap,
    req: &RecordedRequest,
) -> Resp {
    let path = req.path.as_str();
    let query = req.query.as_deref();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let is_get = method == Method::GET || method == Method::HEAD;

    // Routes that accept any method.
    if path == "/echo" || path.starts_with("/echo/") {
        return echo(req);
    }
    if path == "/redirect" {
        return redirect(query);
    }

    let known_get_route = matches!(
        segments.as_slice(),
        ["basic", "whoami"]
            | ["header-key", "items", _]
            | ["query-key", "items", _]
            | ["bearer", "me"]
            | ["both", "me"]
            | ["items", _]
            | ["status", _]
            | ["reflect-401"]
            | ["redirect-chain", _]
            | ["bad-json"]
            | ["slow", _]
    );
    if !known_get_route {
        return json_response(StatusCode::NOT_FOUND, json!({"error": "not_found"}));
    }
    if !is_get {
        let mut resp = json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "method_not_allowed"}),
        );
        resp.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }

    match segments.as_slice() {
        ["basic", "whoami"] => {
            if basic_ok(cfg, headers) {
                json_response(StatusCode::OK, json!({"user": cfg.basic_user}))
            } else {
                let mut resp =
                    json_response(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
                resp.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"demo\", charset=\"UTF-8\""),
                );
                resp
            }
        }
        ["header-key", "items", id] => {
            if api_key_header_ok(cfg, headers) {
                item(id)
            } else {
                invalid_api_key()
            }
        }
        ["query-key", "items", id] => {
            if query_param_matches(query, "api_key", &cfg.api_key) {
                item(id)
            } else {
                invalid_api_key()
            }
        }
        ["bearer", "me"] => {
            if bearer_ok(cfg, headers) {
                json_response(StatusCode::OK, json!({"user": "ada", "scopes": ["read"]}))
            } else {
                let mut resp =
                    json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"}));
                resp.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                resp
            }
        }
        ["both", "me"] => {
            if api_key_header_ok(cfg, headers) && bearer_ok(cfg, headers) {
                json_response(StatusCode::OK, json!({"user": "ada"}))
            } else {
                json_response(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}))
            }
        }
        ["items", id] => item(id),
        ["status", code] => status(code),
        ["reflect-401"] => {
            let lossy = |name: &str| {
                headers
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            json_response(
                StatusCode::UNAUTHORIZED,
                json!({
                    "error": "rejected",
                    "you_sent": {
                        "authorization": lossy("authorization"),
                        "x-api-key": lossy("x-api-key"),
                        "query": query,
                    }
                }),
            )
        }
        ["redirect-chain", n] => match parse_digits(n) {
            Some(0) => json_response(StatusCode::OK, json!({"done": true})),
            Some(n) => {
                let to = format!("/redirect-chain/{}", n - 1);
                let mut resp = json_response(StatusCode::FOUND, json!({"location": to}));
                if let Ok(value) = HeaderValue::from_str(&to) {
                    resp.headers_mut().insert(hyper::header::LOCATION, value);
                }
                resp
            }
            None => json_response(StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        },
        ["bad-json"] => json_response(StatusCode::OK, json!({"id": "not-a-number", "name": 5})),
        ["slow", ms] => match parse_digits(ms) {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                json_response(StatusCode::OK, json!({"slept": ms}))
            }
            None => json_response(StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        },
        _ => json_response(StatusCode::NOT_FOUND, json!({"error": "not_found"})),
    }
}

/// The token-issuing routes (`/login`, `/refresh`, `/jwt/me`, `/oauth/token`,
/// `/oauth/me`); `None` for any other path.
fn token_route(
    state: &State,
    method: &Method,
    headers: &HeaderMap,
    req: &RecordedRequest,
) -> Option<Resp> {
    let post_only = matches!(req.path.as_str(), "/login" | "/refresh" | "/oauth/token");
    let get_only = matches!(req.path.as_str(), "/jwt/me" | "/oauth/me");
    if !post_only && !get_only {
        return None;
    }
    let allowed = if post_only {
        method == Method::POST
    } else {
        method == Method::GET || method == Method::HEAD
    };
    if !allowed {
        let mut resp = json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "method_not_allowed"}),
        );
        let allow = if post_only { "POST" } else { "GET, HEAD" };
        resp.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
        return Some(resp);
    }
    Some(match req.path.as_str() {
        "/login" => login(state, req),
        "/refresh" => refresh(state, headers),
        "/jwt/me" => jwt_me(state, headers),
        "/oauth/token" => oauth_token(state, headers, req),
        _ => oauth_me(state, headers),
    })
}

/// `POST /login` with `{"username", "password"}`: a JWT access token and an
/// opaque refresh token, or 401 `{"msg": "Bad username or password"}`.
fn login(state: &State, req: &RecordedRequest) -> Resp {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let (Some(user), Some(password)) = (body["username"].as_str(), body["password"].as_str())
    else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"msg": "a JSON body with string username and password is required"}),
        );
    };
    let cfg = &state.config;
    if user != cfg.basic_user || password != cfg.basic_password {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Bad username or password"}),
        );
    }
    let mut tokens = state.tokens();
    let access_token = tokens.issue_jwt(user);
    let refresh_token = random_token(32);
    tokens.issued.push(refresh_token.clone());
    tokens
        .refresh
        .insert(refresh_token.clone(), user.to_owned());
    tokens.counts.login += 1;
    no_store(json_response(
        StatusCode::OK,
        json!({"access_token": access_token, "refresh_token": refresh_token}),
    ))
}

/// `POST /refresh` with `Authorization: Bearer <refresh token>`: a new JWT
/// access token (and no new refresh token).
fn refresh(state: &State, headers: &HeaderMap) -> Resp {
    let Some(presented) = bearer_token(headers) else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Missing Authorization Header"}),
        );
    };
    let mut tokens = state.tokens();
    let Some(user) = tokens.refresh.get(presented).cloned() else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Token has been revoked"}),
        );
    };
    let access_token = tokens.issue_jwt(&user);
    tokens.counts.refresh += 1;
    no_store(json_response(
        StatusCode::OK,
        json!({"access_token": access_token}),
    ))
}

/// `GET /jwt/me` with a live access token from `/login` or `/refresh`.
fn jwt_me(state: &State, headers: &HeaderMap) -> Resp {
    let tokens = state.tokens();
    let found = bearer_token(headers).and_then(|t| tokens.jwt.get(t));
    match found {
        Some((user, expiry)) if SystemTime::now() < *expiry => {
            json_response(StatusCode::OK, json!({"user": user}))
        }
        Some(_) => invalid_token(json!({"msg": "Token has expired"})),
        None => invalid_token(json!({"msg": "Invalid token"})),
    }
}

/// `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4) for
/// [`OAUTH_CLIENT_ID`], authenticated with `client_secret_basic` (id and
/// secret form-urlencoded, then Basic: RFC 6749 §2.3.1) or
/// `client_secret_post`, never both.
fn oauth_token(state: &State, headers: &HeaderMap, req: &RecordedRequest) -> Resp {
    let oauth_error =
        |status: StatusCode, code: &str| json_response(status, json!({"error": code}));
    let form_type = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let mut form: HashMap<String, String> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(&req.body) {
        // RFC 6749 §3.2: parameters must not be repeated.
        if form.insert(name.into_owned(), value.into_owned()).is_some() {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
    }
    let basic = single_header(headers, "authorization")
        .and_then(split_authorization)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| decode_client_basic(credentials));
    let post = form.get("client_secret");
    let (client_id, secret) = match (basic, post) {
        (Some(_), Some(_)) => {
            // RFC 6749 §2.3.1: one authentication method per request.
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
        (Some(Some((id, secret))), None) => (id, secret),
        (None, Some(secret)) => match form.get("client_id") {
            Some(id) => (id.clone(), secret.clone()),
            None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
        },
        (Some(None), None) | (None, None) => (String::new(), String::new()),
    };
    if client_id != OAUTH_CLIENT_ID || secret != state.config.api_key {
        let mut resp = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        // RFC 6749 §5.2: a client that tried the Authorization header gets a challenge.
        if headers.contains_key(hyper::header::AUTHORIZATION) {
            resp.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"demo\""),
            );
        }
        return resp;
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    }
    let mut tokens = state.tokens();
    let access_token = random_token(32);
    let expiry = SystemTime::now() + TOKEN_LIFETIME;
    tokens.issued.push(access_token.clone());
    tokens
        .oauth
        .insert(access_token.clone(), (client_id, expiry));
    tokens.counts.client_credentials += 1;
    no_store(json_response(
        StatusCode::OK,
        json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME.as_secs(),
        }),
    ))
}

/// `GET /oauth/me` with a live access token from `/oauth/token`.
fn oauth_me(state: &State, headers: &HeaderMap) -> Resp {
    let tokens = state.tokens();
    match bearer_token(headers).and_then(|t| tokens.oauth.get(t)) {
        Some((client, expiry)) if SystemTime::now() < *expiry => {
            json_response(StatusCode::OK, json!({"client": client}))
        }
        _ => invalid_token(json!({"error": "invalid_token"})),
    }
}

impl Tokens {
    /// A JWT-shaped access token for `user`: `{"alg":"HS256","typ":"JWT"}`,
    /// claims `sub`, `iat`, `exp` (= `iat` + [`TOKEN_LIFETIME`]) and `jti`, and
    /// a random "signature" (nobody verifies it: the server looks tokens up).
    fn issue_jwt(&mut self, user: &str) -> String {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let exp = iat + TOKEN_LIFETIME.as_secs();
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let claims = json!({"sub": user, "iat": iat, "exp": exp, "jti": random_token(12)});
        let token = format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            random_token(32)
        );
        self.issued.push(token.clone());
        self.jwt.insert(
            token.clone(),
            (user.to_owned(), UNIX_EPOCH + Duration::from_secs(exp)),
        );
        token
    }
}

/// `bytes` random bytes as unpadded base64url.
fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the system random source failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The credential of a single `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = split_authorization(single_header(headers, "authorization")?)?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// Client id and secret from the credentials of `Basic`, each
/// form-urlencoded before base64 (RFC 6749 §2.3.1). `None` if they do not decode.
fn decode_client_basic(credentials: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((decode_component(id, true)?, decode_component(secret, true)?))
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1).
fn invalid_token(body: Value) -> Resp {
    let mut resp = json_response(StatusCode::UNAUTHORIZED, body);
    resp.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    resp
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store(mut resp: Resp) -> Resp {
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

/// `/busy/...`: the first request is refused with 429 and `Retry-After: 1`, the rest succeed.
fn busy(state: &State) -> Resp {
    if state.busy_refusals.fetch_add(1, Ordering::SeqCst) == 0 {
        let mut resp = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "busy, come back in a second"}),
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        resp
    } else {
        json_response(StatusCode::OK, json!({"ok": true}))
    }
}

/// `/limited/...`: a token bucket that announces itself with IETF `RateLimit` headers (draft
/// 8+) and `X-RateLimit-*`, and answers 429 with `Retry-After` when empty.
fn limited(state: &State) -> Resp {
    let mut bucket = state.bucket.lock().unwrap_or_else(|e| e.into_inner());
    let now = tokio::time::Instant::now();
    let (tokens, last) = *bucket;
    let tokens = (tokens + (now - last).as_secs_f64() * LIMIT_RATE).min(LIMIT_BURST);
    let allowed = tokens >= 1.0;
    let tokens = if allowed { tokens - 1.0 } else { tokens };
    *bucket = (tokens, now);
    drop(bucket);
    let until_next = ((1.0 - tokens).max(0.0) / LIMIT_RATE).ceil() as u64;
    let mut resp = if allowed {
        json_response(StatusCode::OK, json!({"ok": true}))
    } else {
        state.limited_429s.fetch_add(1, Ordering::SeqCst);
        let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, json!({"error": "slow down"}));
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(until_next.max(1)));
        resp
    };
    let remaining = tokens.floor() as u64;
    let h = resp.headers_mut();
    let policy = format!("\"demo\";q={};w=1", LIMIT_RATE as u64);
    let now_state = format!(
        "\"demo\";r={remaining};t={}",
        if remaining > 0 { 0 } else { until_next }
    );
    h.insert("ratelimit-policy", HeaderValue::from_str(&policy).unwrap());
    h.insert("ratelimit", HeaderValue::from_str(&now_state).unwrap());
    h.insert("x-ratelimit-limit", HeaderValue::from(LIMIT_RATE as u64));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    resp
}

fn json_response(status: StatusCode, body: Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn invalid_api_key() -> Resp {
    json_response(
        StatusCode::UNAUTHORIZED,
        json!({"error": "invalid api key"}),
    )
}

/// Non-empty ASCII digits only (no sign), parsed as u64.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn item(id: &str) -> Resp {
    match parse_digits(id) {
        Some(id) => json_response(
            StatusCode::OK,
            json!({"id": id, "name": format!("item {id}")}),
        ),
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "message": "no item here"}),
        ),
    }
}

fn status(code: &str) -> Resp {
    let code = parse_digits(code)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok());
    let Some(code) = code else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid status code"}),
        );
    };
    if matches!(code.as_u16(), 204 | 205 | 304) {
        // These must not carry a body.
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = code;
        return resp;
    }
    json_response(code, json!({"error": format!("status {}", code.as_u16())}))
}

fn echo(req: &RecordedRequest) -> Resp {
    let mut headers = serde_json::Map::new();
    for (name, value) in &req.headers {
        match headers.get_mut(name) {
            // Repeated headers are joined like a proxy would fold them.
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    json_response(
        StatusCode::OK,
        json!({
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": headers,
            "body": String::from_utf8_lossy(&req.body),
        }),
    )
}

fn redirect(query: Option<&str>) -> Resp {
    let status = match query_param(query, "status") {
        None => Some(StatusCode::FOUND),
        Some(s) => parse_digits(&s)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (300..=399).contains(c))
            .and_then(|c| StatusCode::from_u16(c).ok()),
    };
    let Some(status) = status else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "status must be 3xx"}),
        );
    };
    let Some(to) = query_param(query, "to") else {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "missing to"}));
    };
    let Ok(location) = HeaderValue::from_bytes(to.as_bytes()) else {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid to"}));
    };
    let mut resp = json_response(status, json!({"location": to}));
    resp.headers_mut().insert(hyper::header::LOCATION, location);
    resp
}

/// The value of a header that must appear exactly once.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    Some(first)
}

/// Splits `Authorization` into (scheme, credentials).
fn split_authorization(value: &HeaderValue) -> Option<(&str, &str)> {
    let s = std::str::from_utf8(value.as_bytes()).ok()?;
    let s = s.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = s.split_once(' ')?;
    let rest = rest.trim_start_matches(' ');
    if scheme.is_empty() || rest.is_empty() {
        return None;
    }
    Some((scheme, rest))
}

/// RFC 7617: `Basic base64(user-id ":" password)`, UTF-8.
fn basic_ok(cfg: &DemoConfig, headers: &HeaderMap) -> bool {
    let Some(value) = single_header(headers, "authorization") else {
        return false;
    };
    let Some((scheme, credentials)) = split_authorization(value) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    match text.split_once(':') {
        Some((user, password)) => user == cfg.basic_user && password == cfg.basic_password,
        None => false,
    }
}

fn bearer_ok(cfg: &DemoConfig, headers: &HeaderMap) -> bool {
    let Some(value) = single_header(headers, "authorization") else {
        return false;
    };
    match split_authorization(value) {
        Some((scheme, token)) => scheme.eq_ignore_ascii_case("bearer") && token == cfg.bearer_token,
        None => false,
    }
}

fn api_key_header_ok(cfg: &DemoConfig, headers: &HeaderMap) -> bool {
    single_header(headers, "x-api-key").is_some_and(|v| v.as_bytes() == cfg.api_key.as_bytes())
}

/// Percent-decodes `s`; with `plus_as_space`, `+` means a space first
/// (application/x-www-form-urlencoded). `None` if the result is not UTF-8.
fn decode_component(s: &str, plus_as_space: bool) -> Option<String> {
    let replaced;
    let s = if plus_as_space {
        replaced = s.replace('+', " ");
        replaced.as_str()
    } else {
        s
    };
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The raw (still encoded) value of the first query parameter called `name`.
fn raw_query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| {
            decode_component(key, false).as_deref() == Some(name)
                || decode_component(key, true).as_deref() == Some(name)
        })
        .map(|(_, value)| value)
}

/// The percent-decoded value (`+` kept literally) of query parameter `name`.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    decode_component(raw_query_param(query, name)?, false)
}

/// Whether query parameter `name` decodes to `expected`, accepting either
/// plain percent-decoding or form decoding (`+` as space).
fn query_param_matches(query: Option<&str>, name: &str, expected: &str) -> bool {
    let Some(raw) = raw_query_param(query, name) else {
        return false;
    };
    decode_component(raw, false).as_deref() == Some(expected)
        || decode_component(raw, true).as_deref() == Some(expected)
}
