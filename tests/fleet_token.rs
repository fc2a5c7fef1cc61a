//! One token shared by a fleet of processes through a real Redis (`fleet::RedisTokenStore`):
//! the processes are children of this test binary (tests/support/child.rs), the token
//! endpoint and the protected API are an in-process server of this file that counts token
//! requests, and `redis-server` is started by tests/support/redis.rs.
//!
//! - 8 processes on a cold shared token make exactly 1 token request, and exactly 1 per
//!   expiry across 3 expiries (every process uses every token);
//! - 4 processes sharing a session with a rotating refresh token present each refresh
//!   token once;
//! - a lock holder killed (SIGKILL) in the middle of its token request: the others take over
//!   within the lock's TTL and make exactly one more request;
//! - Redis killed in the middle of a run and restarted (empty): every call of 4 processes
//!   completes, each warns once, and once they rejoin they share one token again; in one
//!   process, the token written back to the restarted Redis is the one in use;
//! - a slow Redis (paused) costs a call at most the fleet's timeout, with one warning;
//! - what Redis holds is ciphertext; a wrong key is a typed error and a new token, not a
//!   failed call; fencing keeps a late lock holder from overwriting a newer token.
//!
//! `AUTHED_TEST_SKIP=redis bash scripts/test.sh` skips them.
#![cfg(all(feature = "redis", feature = "oauth2"))]

#[path = "support/capture.rs"]
mod capture;
#[path = "support/child.rs"]
mod child;
#[path = "support/redis.rs"]
mod redis_server;

/// A token endpoint (client credentials, every answer with a new refresh token too) and a
/// protected API on 127.0.0.1, counting what they see.
mod token_server {
    use std::{
        collections::HashMap,
        convert::Infallible,
        net::SocketAddr,
        sync::{
            Arc, Mutex,
            atomic::{AtomicBool, AtomicU64, Ordering},
        },
        time::{Duration, SystemTime},
    };

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use hyper::{Request, Response, StatusCode, body::Incoming};
    use hyper_util::rt::TokioIo;
    use serde_json::json;
    use tokio::{net::TcpListener, task::JoinHandle};

    pub const CLIENT_ID: &str = "fleet-client";
    pub const CLIENT_SECRET: &str = "fleet-client-secret";

    #[derive(Clone, Copy)]
    pub struct Config {
        /// `expires_in` of every token.
        pub expires_in: u64,
        /// The API answers `"stop": true` to a token of this generation or later.
        pub stop_at: u64,
        /// The first token request is never answered.
        pub hang_first: bool,
    }

    #[derive(Default)]
    struct Issued {
        /// Access token -> (generation, expiry).
        live: HashMap<String, (u64, SystemTime)>,
        /// (access token, refresh token) of each generation, in order.
        all: Vec<(String, String)>,
        /// The one refresh token the refresh grant accepts now (rotated at every answer).
        latest_refresh: Option<String>,
        /// Refresh tokens presented that were not the latest (spent or unknown).
        reused: u64,
    }

    struct State {
        config: Config,
        token_requests: AtomicU64,
        rejected: AtomicU64,
        issued: Mutex<Issued>,
        /// The API says stop to every token from now on.
        stop: AtomicBool,
    }

    pub struct TokenServer {
        addr: SocketAddr,
        state: Arc<State>,
        task: JoinHandle<()>,
    }

    impl Drop for TokenServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl TokenServer {
        pub async fn start(config: Config) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state = Arc::new(State {
                config,
                token_requests: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                issued: Mutex::default(),
                stop: AtomicBool::new(false),
            });
            let shared = Arc::clone(&state);
            let task = tokio::spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    let state = Arc::clone(&shared);
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let state = Arc::clone(&state);
                            async move { Ok::<_, Infallible>(handle(&state, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            Self { addr, state, task }
        }

        /// `http://127.0.0.1:<port>/`: the API; the token endpoint is `token` below it.
        pub fn url(&self) -> String {
            format!("http://{}/", self.addr)
        }

        /// Token requests received (answered or not).
        pub fn token_requests(&self) -> u64 {
            self.state.token_requests.load(Ordering::SeqCst)
        }

        /// API calls refused (unknown or expired token).
        pub fn rejected(&self) -> u64 {
            self.state.rejected.load(Ordering::SeqCst)
        }

        /// From now on the API answers `"stop": true`.
        pub fn stop(&self) {
            self.state.stop.store(true, Ordering::SeqCst);
        }

        /// A refresh token the refresh grant accepts (once), as if from an earlier login.
        pub fn seed_refresh_token(&self) -> String {
            let refresh = format!("rt-0-{}", uuid::Uuid::new_v4().simple());
            self.state.issued.lock().unwrap().latest_refresh = Some(refresh.clone());
            refresh
        }

        /// Refresh tokens presented that were spent or unknown.
        pub fn reused(&self) -> u64 {
            self.state.issued.lock().unwrap().reused
        }

        /// (access token, refresh token) of every generation issued.
        pub fn issued(&self) -> Vec<(String, String)> {
            self.state.issued.lock().unwrap().all.clone()
        }
    }

    type Resp = Response<Full<Bytes>>;

    fn json_response(status: StatusCode, body: serde_json::Value) -> Resp {
        let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        resp
    }

    async fn handle(state: &State, req: Request<Incoming>) -> Resp {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        match parts.uri.path() {
            "/token" => {
                let n = state.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
                if state.config.hang_first && n == 1 {
                    std::future::pending::<()>().await;
                }
                let form: HashMap<String, String> =
                    url::form_urlencoded::parse(&body).into_owned().collect();
                let mut issued = state.issued.lock().unwrap();
                match form.get("grant_type").map(String::as_str) {
                    Some("client_credentials") => {}
                    // Rotation: only the latest refresh token is accepted, once.
                    Some("refresh_token") => {
                        if form.get("refresh_token") != issued.latest_refresh.as_ref() {
                            issued.reused += 1;
                            return json_response(
                                StatusCode::BAD_REQUEST,
                                json!({"error": "invalid_grant"}),
                            );
                        }
                    }
                    _ => {
                        return json_response(
                            StatusCode::BAD_REQUEST,
                            json!({"error": "unsupported_grant_type"}),
                        );
                    }
                }
                let generation = issued.all.len() as u64 + 1;
                let access = format!("at-{generation}-{}", uuid::Uuid::new_v4().simple());
                let refresh = format!("rt-{generation}-{}", uuid::Uuid::new_v4().simple());
                let expiry = SystemTime::now() + Duration::from_secs(state.config.expires_in);
                issued.live.insert(access.clone(), (generation, expiry));
                issued.all.push((access.clone(), refresh.clone()));
                issued.latest_refresh = Some(refresh.clone());
                json_response(
                    StatusCode::OK,
                    json!({
                        "access_token": access,
                        "token_type": "Bearer",
                        "expires_in": state.config.expires_in,
                        "refresh_token": refresh,
                    }),
                )
            }
            "/api" => {
                let presented = parts
                    .headers
                    .get(hyper::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default();
                let found = state.issued.lock().unwrap().live.get(presented).copied();
                match found {
                    Some((generation, expiry)) if SystemTime::now() < expiry => json_response(
                        StatusCode::OK,
                        json!({
                            "gen": generation,
                            "stop": generation >= state.config.stop_at
                                || state.stop.load(Ordering::SeqCst),
                        }),
                    ),
                    _ => {
                        state.rejected.fetch_add(1, Ordering::SeqCst);
                        let mut resp = json_response(
                            StatusCode::UNAUTHORIZED,
                            json!({"error": "invalid_token"}),
                        );
                        resp.headers_mut().insert(
                            hyper::header::WWW_AUTHENTICATE,
                            hyper::header::HeaderValue::from_static(
                                "Bearer error=\"invalid_token\"",
                            ),
                        );
                        resp
                    }
                }
            }
            _ => json_response(StatusCode::NOT_FOUND, json!({"error": "not found"})),
        }
    }
}

mod needs_redis {
    use std::{
        collections::BTreeSet,
        process::{Output, Stdio},
        sync::{Arc, Mutex},
        time::{Duration, SystemTime, UNIX_EPOCH},
    };

    use authed::{
        Client, Error, ExposeSecret, Secret,
        fleet::{Fleet, RedisTokenStore},
        oauth2::{ClientCredentials, OAuthClient, RefreshToken, Token, TokenStore},
        store::StoreErrorKind,
    };
    use base64::Engine as _;
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

    use super::{
        capture::Capture,
        child,
        redis_server::RedisServer,
        token_server::{CLIENT_ID, CLIENT_SECRET, Config, TokenServer},
    };

    /// The fleet's key (base64 of 32 bytes), the same in every process.
    const KEY: &str = "3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8=";
    /// How long a child may run before it fails.
    const CHILD_DEADLINE: Duration = Duration::from_secs(45);

    fn now_ms() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
    }

    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "gen")]
        generation: u64,
        stop: bool,
    }

    fn client(api: &str, store: RedisTokenStore) -> Client {
        let auth = ClientCredentials::new(format!("{api}token"), CLIENT_ID, CLIENT_SECRET)
            .into_auth()
            .store(store);
        Client::builder(api).auth(auth).build().unwrap()
    }

    async fn call(client: &Client) -> Answer {
        let response = client
            .get("api")
            .send()
            .await
            .expect("the API call succeeds");
        response.json().await.expect("the API answers JSON")
    }

    /// The child's side: calls the API every 50 ms until it says stop, then prints which
    /// token generations it used and how many fleet warnings it logged. It prints `rejoined`
    /// once the fleet said Redis is back. Its settings come from the parent's environment;
    /// with `refresh_grant`, its client refreshes the session stored in Redis (refresh token
    /// grant) instead of using client credentials.
    fn child_calls(refresh_grant: bool) {
        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(capture.subscriber(tracing::Level::INFO));
        child::block_on(async {
            let var = |name: &str| std::env::var(name).unwrap();
            let api = var("FLEET_API");
            // A second, not the default quarter: eight processes on a busy two-core machine
            // can be descheduled that long, and a Redis call timing out would make this one
            // work alone (correctly, but not what these tests count).
            let fleet = Fleet::new(Secret::new(var("FLEET_REDIS")))
                .unwrap()
                .timeout(Duration::from_secs(1));
            let ttl = Duration::from_millis(var("FLEET_LOCK_TTL_MS").parse().unwrap());
            let store =
                RedisTokenStore::new(&fleet, var("FLEET_NAME"), Secret::new(var("FLEET_KEY")))
                    .unwrap()
                    .lock_ttl(ttl);
            let client = if refresh_grant {
                let oauth =
                    OAuthClient::new(format!("{api}token"), CLIENT_ID).secret(CLIENT_SECRET);
                let auth = RefreshToken::new(oauth).into_auth().store(store);
                Client::builder(&api).auth(auth).build().unwrap()
            } else {
                client(&api, store)
            };
            println!("child started");
            let deadline = tokio::time::Instant::now() + CHILD_DEADLINE;
            let mut seen = BTreeSet::new();
            let mut rejoined = false;
            loop {
                let answer = call(&client).await;
                if seen.is_empty() {
                    println!("first_ok_ms={}", now_ms());
                }
                seen.insert(answer.generation);
                if answer.stop {
                    break;
                }
                if !rejoined && capture.text().contains("Redis is back") {
                    rejoined = true;
                    println!("rejoined");
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the API did not say stop within {CHILD_DEADLINE:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let seen: Vec<String> = seen.iter().map(u64::to_string).collect();
            println!("generations={}", seen.join(","));
        });
        let text = capture.text();
        // For the parent's failure messages (the library's words: no secret in them).
        for line in text.lines().filter(|l| l.contains(" WARN ")) {
            println!("child warning: {line}");
        }
        println!("warnings={}", text.matches("Redis failed").count());
        println!("back={}", text.matches("Redis is back").count());
    }

    /// A child process running `test` in the child role, its output collected as it comes.
    struct Running {
        child: tokio::process::Child,
        stdout: Arc<Mutex<String>>,
        stderr: Arc<Mutex<String>>,
    }

    impl Running {
        fn spawn(
            test: &str,
            api: &TokenServer,
            redis: &RedisServer,
            name: &str,
            ttl: Duration,
        ) -> Self {
            let mut command = child::command(test);
            command
                .env("FLEET_API", api.url())
                .env("FLEET_REDIS", redis.url())
                .env("FLEET_KEY", KEY)
                .env("FLEET_NAME", name)
                .env("FLEET_LOCK_TTL_MS", ttl.as_millis().to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut command = tokio::process::Command::from(command);
            command.kill_on_drop(true);
            let mut child = command.spawn().expect("the test binary runs again");
            let stdout = Arc::new(Mutex::new(String::new()));
            let stderr = Arc::new(Mutex::new(String::new()));
            let out = BufReader::new(child.stdout.take().unwrap());
            let sink = Arc::clone(&stdout);
            tokio::spawn(async move {
                let mut lines = out.lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut text = sink.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            });
            let mut err = child.stderr.take().unwrap();
            let sink = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = err.read_to_string(&mut text).await;
                sink.lock().unwrap().push_str(&text);
            });
            Self {
                child,
                stdout,
                stderr,
            }
        }

        fn stdout(&self) -> String {
            self.stdout.lock().unwrap().clone()
        }

        /// Waits (bounded) until the child printed `line`.
        async fn printed(&self, line: &str) {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            // libtest's "test ... " has no newline before the test's first line.
            while !self.stdout().lines().any(|l| l.ends_with(line)) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the child did not print {line:?}:\n{}",
                    self.stdout()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        /// Waits (bounded) for the child to end, checks that its test ran and passed, and
        /// returns what it printed.
        async fn finish(mut self) -> String {
            let status =
                tokio::time::timeout(CHILD_DEADLINE + Duration::from_secs(15), self.child.wait())
                    .await
                    .unwrap_or_else(|_| panic!("the child did not end:\n{}", self.stdout()))
                    .unwrap();
            // Let the readers reach the end of the pipes.
            for _ in 0..100 {
                if self.stdout().contains("test result:") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let stdout = self.stdout();
            let stderr = self.stderr.lock().unwrap().clone();
            child::check(&Output {
                status,
                stdout: stdout.clone().into_bytes(),
                stderr: stderr.into_bytes(),
            });
            stdout
        }
    }

    /// The value after `name=` in a child's output.
    fn printed_value<'a>(stdout: &'a str, name: &str) -> &'a str {
        stdout
            .lines()
            .find_map(|l| l.split_once(&format!("{name}=")).map(|(_, value)| value))
            .unwrap_or_else(|| panic!("the child printed no {name}:\n{stdout}"))
    }

    #[test]
    fn eight_processes_make_one_token_request_cold_and_one_per_expiry() {
        const TEST: &str =
            "needs_redis::eight_processes_make_one_token_request_cold_and_one_per_expiry";
        if child::is_child(TEST) {
            return child_calls(false);
        }
        child::block_on(async {
            let redis = RedisServer::start("fleet-token-eight").await;
            // Tokens live 4 s and are renewed at half their life: the run spans the cold
            // start and three expiries, then the API says stop to the fourth token.
            let api = TokenServer::start(Config {
                expires_in: 4,
                stop_at: 4,
                hang_first: false,
            })
            .await;
            let children: Vec<Running> = (0..8)
                .map(|_| Running::spawn(TEST, &api, &redis, "eight", Duration::from_secs(5)))
                .collect();
            let mut outputs = Vec::new();
            for child in children {
                outputs.push(child.finish().await);
            }
            assert_eq!(
                api.token_requests(),
                4,
                "one token request cold and one per expiry across 8 processes"
            );
            assert_eq!(api.rejected(), 0, "no call carried an expired token");
            for stdout in &outputs {
                assert_eq!(
                    printed_value(stdout, "generations"),
                    "1,2,3,4",
                    "every process used every one of the four tokens:\n{stdout}"
                );
            }
        });
    }

    #[test]
    fn four_processes_present_each_rotated_refresh_token_once() {
        const TEST: &str = "needs_redis::four_processes_present_each_rotated_refresh_token_once";
        if child::is_child(TEST) {
            return child_calls(true);
        }
        child::block_on(async {
            let redis = RedisServer::start("fleet-token-rotate").await;
            // Every answer rotates the refresh token; a spent one is refused (invalid_grant,
            // which would end the child's session and fail its calls).
            let api = TokenServer::start(Config {
                expires_in: 4,
                stop_at: 4,
                hang_first: false,
            })
            .await;
            // The session of an earlier login: an expired access token and a refresh token.
            let fleet = Fleet::new(redis.url()).unwrap();
            RedisTokenStore::new(&fleet, "rotate", KEY)
                .unwrap()
                .save(
                    &Token::bearer("at-0-expired")
                        .with_expires_at(SystemTime::now() - Duration::from_secs(1))
                        .with_refresh_token(api.seed_refresh_token()),
                )
                .await
                .unwrap();
            let children: Vec<Running> = (0..4)
                .map(|_| Running::spawn(TEST, &api, &redis, "rotate", Duration::from_secs(5)))
                .collect();
            for child in children {
                let stdout = child.finish().await;
                assert_eq!(printed_value(&stdout, "generations"), "1,2,3,4", "{stdout}");
            }
            assert_eq!(api.reused(), 0, "no refresh token was presented twice");
            assert_eq!(
                api.token_requests(),
                4,
                "one refresh cold and one per expiry"
            );
        });
    }

    #[test]
    fn a_lock_holder_killed_mid_refresh_is_replaced_within_the_lock_ttl() {
        const TEST: &str =
            "needs_redis::a_lock_holder_killed_mid_refresh_is_replaced_within_the_lock_ttl";
        if child::is_child(TEST) {
            return child_calls(false);
        }
        child::block_on(async {
            let redis = RedisServer::start("fleet-token-killed").await;
            // The first token request is never answered: its process holds the lock
            // (renewing it) until it is killed.
            let api = TokenServer::start(Config {
                expires_in: 60,
                stop_at: 1,
                hang_first: true,
            })
            .await;
            let ttl = Duration::from_secs(2);
            let mut holder = Running::spawn(TEST, &api, &redis, "killed", ttl);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while api.token_requests() == 0 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the first process made no token request:\n{}",
                    holder.stdout()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let others: Vec<Running> = (0..7)
                .map(|_| Running::spawn(TEST, &api, &redis, "killed", ttl))
                .collect();
            for other in &others {
                other.printed("child started").await;
            }
            // Twice the lock's TTL: the holder's watchdog keeps it, so nobody else may have
            // fetched a token meanwhile.
            tokio::time::sleep(ttl * 2).await;
            assert_eq!(
                api.token_requests(),
                1,
                "the others wait while the holder lives"
            );
            holder.child.start_kill().unwrap();
            let killed_ms = now_ms();
            holder.child.wait().await.unwrap();

            for other in others {
                let stdout = other.finish().await;
                let first_ok: u128 = printed_value(&stdout, "first_ok_ms").parse().unwrap();
                assert!(
                    first_ok >= killed_ms,
                    "no call succeeded before the holder died:\n{stdout}"
                );
                // Within the lock's TTL, plus the poll, one token request and the time to
                // schedule seven processes on a busy machine.
                let after = Duration::from_millis((first_ok - killed_ms) as u64);
                assert!(
                    after <= ttl + Duration::from_secs(2),
                    "recovered {after:?} after the holder died (lock TTL {ttl:?}):\n{stdout}"
                );
            }
            assert_eq!(
                api.token_requests(),
                2,
                "the dead holder's request, then exactly one more"
            );
        });
    }

    #[test]
    fn four_processes_through_a_redis_restart_fail_no_call_warn_once_each_and_share_again() {
        const TEST: &str = "needs_redis::four_processes_through_a_redis_restart_fail_no_call_warn_once_each_and_share_again";
        if child::is_child(TEST) {
            return child_calls(false);
        }
        child::block_on(async {
            let mut redis = RedisServer::start("fleet-token-restart4").await;
            // Tokens live 2 s, renewed every second or so.
            let api = TokenServer::start(Config {
                expires_in: 2,
                stop_at: u64::MAX,
                hang_first: false,
            })
            .await;
            let ttl = Duration::from_secs(2);
            let children: Vec<Running> = (0..4)
                .map(|_| Running::spawn(TEST, &api, &redis, "restart4", ttl))
                .collect();
            for child in &children {
                child.printed("child started").await;
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
            // Away for longer than a token lives: every process renews alone meanwhile
            // (each child fails if any of its calls does).
            redis.kill();
            tokio::time::sleep(Duration::from_millis(2500)).await;
            redis.restart().await;
            for child in &children {
                child.printed("rejoined").await;
            }
            // Once all have rejoined, the next tokens are shared again: every process uses
            // the second and third generation after this point (the first may still have
            // been fetched by a process that had not yet taken the lock).
            let rejoined_at = api.issued().len() as u64;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while (api.issued().len() as u64) < rejoined_at + 4 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no new tokens after Redis came back"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            api.stop();
            for child in children {
                let stdout = child.finish().await;
                assert_eq!(printed_value(&stdout, "warnings"), "1", "{stdout}");
                assert_eq!(printed_value(&stdout, "back"), "1", "{stdout}");
                let used: BTreeSet<u64> = printed_value(&stdout, "generations")
                    .split(',')
                    .map(|g| g.parse().unwrap())
                    .collect();
                for shared in [rejoined_at + 2, rejoined_at + 3] {
                    assert!(
                        used.contains(&shared),
                        "token {shared} was not shared by every process after Redis came back:\n{stdout}"
                    );
                }
            }
            assert_eq!(api.rejected(), 0, "no call carried an expired token");
            assert!(
                redis
                    .command(&["EXISTS", "authed:{restart4}:token"])
                    .starts_with(b":1\r\n"),
                "the restarted Redis holds the token set again"
            );
        });
    }

    #[tokio::test]
    async fn a_slow_redis_costs_a_call_at_most_the_fleet_timeout_and_warns_once() {
        let redis = RedisServer::start("fleet-token-slow").await;
        let api = TokenServer::start(Config {
            expires_in: 2,
            stop_at: u64::MAX,
            hang_first: false,
        })
        .await;
        let timeout = Duration::from_millis(200);
        let fleet = Fleet::new(redis.url()).unwrap().timeout(timeout);
        let client = client(
            &api.url(),
            RedisTokenStore::new(&fleet, "slow", KEY).unwrap(),
        );
        call(&client).await;

        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(capture.subscriber(tracing::Level::INFO));
        // Redis stops answering anyone for 4 s (connections stay open: slow, not down). Not
        // through `redis.command`, whose QUIT would wait out the pause.
        let mut pauser = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
        std::io::Write::write_all(&mut pauser, b"CLIENT PAUSE 4000 ALL\r\n").unwrap();
        let mut ok = [0u8; 5];
        std::io::Read::read_exact(&mut pauser, &mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n");
        let before = api.token_requests();
        let mut slowest = Duration::ZERO;
        let until = tokio::time::Instant::now() + Duration::from_millis(2500);
        while tokio::time::Instant::now() < until {
            let started = tokio::time::Instant::now();
            call(&client).await;
            slowest = slowest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            api.token_requests() > before,
            "the token was renewed while Redis was paused"
        );
        // One Redis call (the lock) waited for the timeout, then the fleet worked alone:
        // far from the 4 s pause.
        assert!(
            slowest < timeout * 4,
            "a call took {slowest:?} with a fleet timeout of {timeout:?}"
        );
        let text = capture.text();
        assert_eq!(text.matches("Redis failed").count(), 1, "{text}");
        assert!(text.contains("timed out"), "{text}");
    }

    #[tokio::test]
    async fn a_redis_killed_and_restarted_mid_run_fails_no_call_warns_once_and_is_refilled() {
        let mut redis = RedisServer::start("fleet-token-restart").await;
        let api = TokenServer::start(Config {
            expires_in: 2,
            stop_at: u64::MAX,
            hang_first: false,
        })
        .await;
        // Killed, Redis refuses connections at once; a second for calls while it is up (see
        // `child_calls`).
        let fleet = Fleet::new(redis.url())
            .unwrap()
            .timeout(Duration::from_secs(1));
        let store = RedisTokenStore::new(&fleet, "restart", KEY).unwrap();
        let client = client(&api.url(), store.clone());
        let record_key = "authed:{restart}:token";
        // The reply, then QUIT's.
        let stored = |redis: &RedisServer| {
            redis
                .command(&["EXISTS", record_key])
                .starts_with(b":1\r\n")
        };

        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(capture.subscriber(tracing::Level::INFO));
        let mut calls = 0;
        // Calls every 50 ms for `span`; tokens (2 s) are renewed every second or so.
        async fn calls_for(client: &Client, span: Duration, calls: &mut u32) {
            let until = tokio::time::Instant::now() + span;
            while tokio::time::Instant::now() < until {
                call(client).await;
                *calls += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        calls_for(&client, Duration::from_millis(1500), &mut calls).await;
        assert!(stored(&redis), "the token set is in Redis");

        redis.kill();
        let before = api.token_requests();
        calls_for(&client, Duration::from_millis(2500), &mut calls).await;
        assert!(
            api.token_requests() > before,
            "the token was renewed alone while Redis was away"
        );

        redis.restart().await;
        assert!(!stored(&redis), "the restarted Redis is empty");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !stored(&redis) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the process did not write its token set to the restarted Redis"
            );
            calls_for(&client, Duration::from_millis(200), &mut calls).await;
        }
        // What it wrote is the token it uses, and it decrypts with the fleet's key.
        let back = RedisTokenStore::new(&Fleet::new(redis.url()).unwrap(), "restart", KEY)
            .unwrap()
            .load()
            .await
            .unwrap()
            .expect("a token set");
        let (access, _) = api.issued().last().cloned().unwrap();
        assert_eq!(back.access_token().expose_secret(), access);

        assert!(calls > 60, "{calls} calls");
        assert_eq!(api.rejected(), 0);
        let text = capture.text();
        assert_eq!(text.matches("Redis failed").count(), 1, "{text}");
        assert_eq!(text.matches("Redis is back").count(), 1, "{text}");
        assert!(!text.contains(" ERROR "), "{text}");
    }

    /// The forms in which a token could be found in what Redis holds.
    fn forms(secret: &str) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        vec![
            secret.to_owned(),
            STANDARD.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            // The random part alone (`at-<n>-<uuid>`).
            secret.rsplit('-').next().unwrap().to_owned(),
        ]
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    #[tokio::test]
    async fn tokens_in_redis_are_ciphertext_and_a_wrong_key_gets_a_new_token_not_an_error() {
        let redis = RedisServer::start("fleet-token-cipher").await;
        let api = TokenServer::start(Config {
            expires_in: 60,
            stop_at: u64::MAX,
            hang_first: false,
        })
        .await;
        let fleet = Fleet::new(redis.url()).unwrap();
        let store = RedisTokenStore::new(&fleet, "cipher", KEY).unwrap();
        call(&client(&api.url(), store.clone())).await;
        let (access, refresh) = api.issued()[0].clone();

        let raw = redis.command(&["HGETALL", "authed:{cipher}:token"]);
        assert!(raw.len() > 100, "a record is stored: {raw:?}");
        for secret in [&access, &refresh] {
            for form in forms(secret) {
                assert!(
                    !contains(&raw, &form),
                    "{form} is readable in Redis: {raw:?}"
                );
            }
        }
        // The test can fail: the same token set in clear shows them.
        let plain = RedisTokenStore::insecure_plaintext(&fleet, "plain");
        plain
            .save(&store.load().await.unwrap().unwrap())
            .await
            .unwrap();
        let raw_plain = redis.command(&["HGETALL", "authed:{plain}:token"]);
        assert!(contains(&raw_plain, &access) && contains(&raw_plain, &refresh));

        // Another key: a typed error from the store, never the key or the tokens...
        let other_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let wrong = RedisTokenStore::new(&fleet, "cipher", other_key).unwrap();
        let err = wrong.load().await.unwrap_err();
        assert!(
            matches!(&err, Error::Store(e) if e.kind == StoreErrorKind::Corrupted),
            "{err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(other_key) && !shown.contains(KEY) && !shown.contains(&access));
        // ...and for TokenAuth a missing token: a warning and a new token, the call works.
        let capture = Capture::default();
        {
            let _guard = tracing::subscriber::set_default(capture.subscriber(tracing::Level::INFO));
            let answer = call(&client(&api.url(), wrong.clone())).await;
            assert_eq!(answer.generation, 2);
        }
        assert!(
            capture.text().contains("does not decrypt"),
            "{}",
            capture.text()
        );
        assert_eq!(api.token_requests(), 2);
        // It replaced the record: now the first key is the wrong one.
        assert!(wrong.load().await.unwrap().is_some());
        assert!(store.load().await.is_err());
    }

    #[tokio::test]
    async fn a_lock_holder_whose_lock_expired_cannot_overwrite_a_newer_token() {
        let redis = RedisServer::start("fleet-token-fence").await;
        let fleet = Fleet::new(redis.url()).unwrap();
        let ttl = Duration::from_secs(1);
        let late = RedisTokenStore::new(&fleet, "fence", KEY)
            .unwrap()
            .lock_ttl(ttl);
        let next = RedisTokenStore::new(&Fleet::new(redis.url()).unwrap(), "fence", KEY)
            .unwrap()
            .lock_ttl(ttl);
        let lock_key = "authed:{fence}:lock";

        let held = late.lock().await.unwrap().expect("the lock is free");
        // Its watchdog renews it while it is held: still there after 1.5 TTLs.
        tokio::time::sleep(ttl * 3 / 2).await;
        assert!(redis.command(&["EXISTS", lock_key]).starts_with(b":1\r\n"));
        // The lock expires as if its holder had stalled (its renewals lost)...
        redis.command(&["DEL", lock_key]);
        // ...another process takes it and writes a newer token...
        let newer_lock = next
            .lock()
            .await
            .unwrap()
            .expect("the expired lock is free");
        next.save(&Token::bearer("newer-token").with_refresh_token("newer-refresh"))
            .await
            .unwrap();
        drop(newer_lock);
        // ...and the late holder's write and clear do not replace it.
        late.save(&Token::bearer("late-token").with_refresh_token("late-refresh"))
            .await
            .unwrap();
        late.clear().await.unwrap();
        drop(held);
        let stored = next.load().await.unwrap().expect("the newer token set");
        assert_eq!(stored.access_token().expose_secret(), "newer-token");
        assert_eq!(
            stored.refresh_token().map(|s| s.expose_secret().to_owned()),
            Some("newer-refresh".to_owned())
        );
        // A save outside any lock (a new login) takes a new fence and wins.
        late.save(&Token::bearer("login-token")).await.unwrap();
        let stored = next.load().await.unwrap().unwrap();
        assert_eq!(stored.access_token().expose_secret(), "login-token");
    }
}
