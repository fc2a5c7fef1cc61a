//! A guided tour of `authed`: `cargo run --example tour`.
//!
//! Everything runs offline. Two in-process demo servers on 127.0.0.1 play "the API" and
//! "another origin" (same host, different port, so a different origin). Every line the tour
//! prints goes through `say!`, which also keeps a transcript; the tour ends by checking that no
//! secret made it into the transcript, so it doubles as a smoke test.

#[path = "../tests/support/demo_api.rs"]
mod demo_api;

use std::{
    borrow::Cow,
    io::Write,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use authed::{
    AuditEvent, Client, Endpoint, Error,
    auth::{ApiKey, Basic, Bearer},
    http::{Method, StatusCode},
    oauth2::{ClientCredentials, Custom, Token},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use demo_api::{DemoApi, DemoConfig, OAUTH_CLIENT_ID, TOKEN_LIFETIME};
use serde::Deserialize;
use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt as _,
    util::SubscriberInitExt as _,
};

/// `println!` that also appends the line to the transcript `$t` (a `&mut String`).
macro_rules! say {
    ($t:expr, $($fmt:tt)+) => {{
        let line = format!($($fmt)+);
        println!("{line}");
        $t.push_str(&line);
        $t.push('\n');
    }};
}

/// `tracing` output goes to stdout, and a copy is kept for the final secret check.
#[derive(Clone, Default)]
struct Tee(Arc<Mutex<Vec<u8>>>);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::io::stdout().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // the fields are read through Debug
struct Item {
    id: u64,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Me {
    user: String,
}

/// What the demo API's `POST /login` answers.
#[derive(Deserialize)]
struct LoginTokens {
    access_token: String,
    refresh_token: String,
}

/// A typed endpoint: `GET items/{id}`, answered by an `Item`.
struct GetItem {
    id: String,
}

impl Endpoint for GetItem {
    type Output = Item;
    fn method(&self) -> Method {
        Method::GET
    }
    fn path(&self) -> Cow<'_, str> {
        // `path!` percent-encodes each argument into exactly one path segment.
        authed::path!("items/{}", self.id).into()
    }
}

/// One line of the audit trail. Every field is safe to log: the URL is redacted, and the
/// credential is a label ("bearer", "api-key header X-API-Key"), never a value.
fn audit_line(e: &AuditEvent) -> String {
    let status = e.status.map_or("-".into(), |s| s.as_u16().to_string());
    format!(
        "{} {} -> {status}, {} attempt(s), {:.1?}, credential: {}, {}",
        e.method,
        e.url,
        e.attempts,
        e.elapsed,
        e.credential,
        e.outcome.as_str()
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every finished request is also a `tracing` event (target `authed::audit`, level INFO).
    // Show just those: they are the `INFO authed::audit: request finished ...` lines below.
    let traced = Tee::default();
    let writer = traced.clone();
    tracing_subscriber::fmt()
        .without_time()
        .with_writer(move || writer.clone())
        .finish()
        .with(Targets::new().with_target(authed::audit::TARGET, LevelFilter::INFO))
        .init();

    let t = &mut String::new(); // the transcript
    // One set of secrets: user "ada", password "correct horse", key "demo-key", token "demo-token".
    let cfg = DemoConfig::default();
    let (user, password) = (cfg.basic_user.as_str(), cfg.basic_password.as_str());
    let (key, token) = (cfg.api_key.as_str(), cfg.bearer_token.as_str());
    let api = DemoApi::start(cfg.clone()).await?;
    let other = DemoApi::start(cfg.clone()).await?;
    say!(t, "The API: {}, another origin: {}", api.url(), other.url());

    // Every client below talks to `api` and records its audit events in `audit` (section 8).
    let audit: Arc<Mutex<Vec<AuditEvent>>> = Arc::default();
    let client = || {
        let audit = Arc::clone(&audit);
        Client::builder(api.url()).on_audit(move |e| audit.lock().unwrap().push(e.clone()))
    };

    say!(t, "\n== 1. HTTP Basic ==");
    let basic = client().auth(Basic::new(user, password)).build()?;
    let me: Me = basic.get("basic/whoami").send().await?.json().await?;
    say!(t, "GET basic/whoami -> signed in as {:?}", me.user);
    // A non-2xx answer is a typed error: status, redacted URL, request id, body excerpt.
    let wrong = client().auth(Basic::new(user, "not it")).build()?;
    let err = wrong.get("basic/whoami").send().await.expect_err("401");
    say!(t, "with a wrong password -> {err}");
    say!(t, "  err.status() = {:?}", err.status());
    if let Error::Status(status) = &err {
        say!(t, "  the server's challenge: {:?}", status.www_authenticate);
    }

    say!(t, "\n== 2. API key in a header ==");
    let keyed = client().auth(ApiKey::header("X-API-Key", key)).build()?;
    let item: Item = keyed.get("header-key/items/7").send().await?.json().await?;
    say!(t, "GET header-key/items/7 -> {item:?}");

    say!(t, "\n== 3. API key in a query parameter ==");
    let queried = client().auth(ApiKey::query("api_key", key)).build()?;
    let response = queried.get("query-key/items/7").send().await?;
    let item: Item = response.json().await?;
    say!(t, "GET query-key/items/7 -> {item:?}");
    // The key is in the URL, so every text about the request redacts it.
    let err = queried.get("query-key/items/nope").send().await;
    let err = err.expect_err("404");
    say!(t, "GET query-key/items/nope -> {err}");
    assert!(err.to_string().contains("api_key=[redacted]"), "{err}");

    say!(t, "\n== 4. Bearer token, and several schemes at once ==");
    let bearer = client().auth(Bearer::new(token)).build()?;
    let me: Me = bearer.get("bearer/me").send().await?.json().await?;
    say!(t, "GET bearer/me -> {:?}", me.user);
    let both = client()
        .auth(ApiKey::header("X-API-Key", key)) // applied in order, all on every request
        .auth(Bearer::new(token))
        .build()?;
    let me: Me = both.get("both/me").send().await?.json().await?;
    say!(t, "GET both/me with X-API-Key + Bearer -> {:?}", me.user);

    say!(t, "\n== 5. A typed endpoint ==");
    let item = bearer.call(&GetItem { id: "7".into() }).await?;
    say!(t, "bearer.call(&GetItem {{ id: \"7\" }}) -> {item:?}");
    // An id that tries to climb out of items/ stays one segment: it cannot change the path.
    let id = "../basic/whoami";
    let path = GetItem { id: id.into() }.path().into_owned();
    say!(t, "GetItem {{ id: {id:?} }} has the path {path:?}");
    let err = bearer.call(&GetItem { id: id.into() }).await;
    let err = err.expect_err("404 from items/");
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{err}");
    say!(t, "  -> {err}");
    say!(t, "  err.request_id() = {:?}", err.request_id());
    let received = api.requests().pop().ok_or("the API received nothing")?.path;
    say!(t, "  the API received the path {received:?}");

    say!(t, "\n== 6. A body that does not decode ==");
    let response = bearer.get("bad-json").send().await?;
    let err = response.json::<Item>().await.expect_err("id is a string");
    say!(t, "GET bad-json as Item -> {err}");
    if let Error::Decode(decode) = &err {
        say!(t, "  the field that failed: `{}`", decode.path);
    }

    say!(t, "\n== 7. A redirect to another origin ==");
    let all = client()
        .auth(Bearer::new(token))
        .auth(ApiKey::header("X-API-Key", key))
        .auth(ApiKey::query("api_key", key))
        .build()?;
    // `query` percent-encodes: /redirect?status=307&to=http%3A%2F%2F127.0.0.1%3A...%2Fecho
    let to = format!("{}echo", other.url());
    let redirect = all.get("redirect").query(&[("status", "307"), ("to", &to)]);
    let response = redirect.send().await?;
    say!(t, "followed the 307 to {}", response.redacted_url());
    // Which credentials each server received (present or absent: never print the values).
    let seen = |r: &demo_api::RecordedRequest| {
        let has = |found: bool| if found { "present" } else { "absent" };
        let query = r.query.as_deref().unwrap_or_default();
        format!(
            "authorization {}, x-api-key {}, api_key query {}",
            has(r.header("authorization").is_some()),
            has(r.header("x-api-key").is_some()),
            has(query.contains("api_key")),
        )
    };
    let first = api.requests().pop().ok_or("the API received nothing")?;
    say!(t, "  the API got:          {}", seen(&first));
    let got = other.requests().pop().ok_or("other origin got nothing")?;
    say!(t, "  the other origin got: {}", seen(&got));
    let raw = got.raw();
    if got.header("authorization").is_some()
        || got.header("x-api-key").is_some()
        || raw.contains("api_key")
        || raw.contains(key)
        || raw.contains(token)
    {
        return Err("a credential crossed the redirect to another origin".into());
    }

    say!(t, "\n== 8. Retries that obey the server, and pacing ==");
    // `busy/` refuses its first request with 429 and `Retry-After: 1`: the client waits (at
    // least) that long and tries again. Nothing to configure: RetryPolicy::default() does it.
    let polite = client().auth(Bearer::new(token)).build()?;
    let started = std::time::Instant::now();
    let response = polite.get("busy/now").send().await?;
    say!(
        t,
        "GET busy/now -> {} after {} attempts and {:.1?} (the server asked for 1 s)",
        response.status(),
        response.attempts(),
        started.elapsed()
    );
    // `limited/` allows 5 requests a second (bursts of 3) and says so in `RateLimit` headers.
    // Four workers make 12 calls: the client spreads them out at the announced rate instead of
    // collecting 429s, one gate per origin shared by every clone of the client. (A new client:
    // its first request probes the origin alone, then the others follow at the server's pace.)
    let paced = client().auth(Bearer::new(token)).build()?;
    let started = std::time::Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let c = paced.clone();
        workers.spawn(async move {
            for i in 0..3 {
                c.get(&format!("limited/{w}-{i}")).send().await?;
            }
            Ok::<_, authed::Error>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    say!(
        t,
        "12 calls to limited/ in {:.1?} (ideal (12 - 3) / 5 = 1.8 s), {} answered 429",
        started.elapsed(),
        api.limited_429s()
    );
    let state = paced.rate_limit(&api.url()).ok_or("no rate-limit state")?;
    say!(
        t,
        "  client.rate_limit(..) -> limit {:?} per {:?}, remaining {:?}",
        state.limit,
        state.window,
        state.remaining
    );

    say!(t, "\n== 9. OAuth 2.0 ==");
    // The client credentials grant: the demo's token endpoint knows client "demo-client", whose
    // secret is the API key. Its tokens live 2 s. The cache behind `into_auth()` fetches one on
    // first use and renews it ahead of expiry: a minute ahead by default, or at half its
    // lifetime for a token as short-lived as this one. Six calls over 2.5 s outlive two tokens.
    let token_url = format!("{}oauth/token", api.url());
    let grant = ClientCredentials::new(token_url, OAUTH_CLIENT_ID, key);
    let oauth = client().auth(grant.into_auth()).build()?;
    let started = std::time::Instant::now();
    for call in 0..6 {
        if call > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let response = oauth.get("oauth/me").send().await?; // an error unless 2xx
        assert!(response.status().is_success());
    }
    let issued = api.tokens_issued().client_credentials;
    let seen = api
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/me")
        .count();
    say!(
        t,
        "client credentials: 6 calls to oauth/me in {:.1?}, all succeeded, with {issued} tokens of {TOKEN_LIFETIME:?} each",
        started.elapsed()
    );
    // Had a token expired in use, the API would have answered 401 and the client would have
    // renewed the token and replayed the call: the API would have seen more than 6 requests.
    say!(
        t,
        "  the API saw {seen} requests: every token was renewed before it expired"
    );
    assert!(issued >= 2, "the token was not renewed");
    assert_eq!(seen, 6, "a call was refused and replayed");

    // An API with a login endpoint of its own (`POST /login` with a JSON username and password,
    // answering a JWT and a refresh token): `Custom` makes a token source of an async closure.
    // examples/jwt_login.rs adds the refresh closure.
    let http = client().build()?; // no credentials of its own
    let body = serde_json::json!({"username": user, "password": password});
    let login = move || {
        let (http, body) = (http.clone(), body.clone());
        async move {
            let tokens: LoginTokens = http.post("login").json(&body).send().await?.json().await?;
            Ok(Token::bearer(tokens.access_token).with_refresh_token(tokens.refresh_token))
        }
    };
    let jwt_auth = Custom::new(login).label("jwt login").into_auth();
    let jwt = client().auth(jwt_auth.clone()).build()?;
    let me: Me = jwt.get("jwt/me").send().await?.json().await?;
    say!(
        t,
        "custom source: POST login, then GET jwt/me -> {:?}",
        me.user
    );
    // `Token::bearer` read the expiry from the JWT's `exp` claim; nobody had to say it.
    let expires_at = jwt_auth.token().await?.expires_at().ok_or("no expiry")?;
    let left = expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    say!(
        t,
        "  the token expires in {left:.1?}, as its JWT `exp` claim says"
    );

    say!(t, "\n== 10. The audit trail (ClientBuilder::on_audit) ==");
    for event in audit.lock().unwrap().iter() {
        say!(t, "{}", audit_line(event));
    }

    // The final check: nothing printed, by `say!` or by `tracing`, held a secret. Basic sends
    // base64("ada:correct horse"), so look for that spelling too; and every access and refresh
    // token the demo API issued in section 9.
    let printed = format!("{t}{}", String::from_utf8_lossy(&traced.0.lock().unwrap()));
    let basic_header = STANDARD.encode(format!("{user}:{password}"));
    let issued = api.issued_tokens();
    let fixed = [password, key, token, &basic_header];
    for secret in fixed.into_iter().chain(issued.iter().map(String::as_str)) {
        assert!(!printed.contains(secret), "a secret appeared in the output");
    }
    say!(t, "\n== Done ==");
    say!(
        t,
        "no secret appeared in this transcript ({} fixed, {} issued tokens checked)",
        fixed.len(),
        issued.len()
    );

    // Later issues extend the tour: the OS keyring.
    Ok(())
}
