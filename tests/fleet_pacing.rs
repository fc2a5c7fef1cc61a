//! Shared pacing across OS processes through a real Redis (tests/support/redis.rs starts
//! `redis-server`): 4 processes × 8 tasks against one throttled API on 127.0.0.1 (a token
//! bucket of 50 requests/s holding 10, announcing itself in `RateLimit` headers and
//! `Retry-After`: tests/support/token_bucket.rs), judged from the API's own log of arrivals.
//! The processes are this test binary run again (tests/support/child.rs), one test each.
//! `AUTHED_TEST_SKIP=redis bash scripts/test.sh` skips them.
//!
//! ```text
//! cargo test --features redis --test fleet_pacing -- --nocapture   # prints the figures
//! ```
#![cfg(feature = "redis")]

#[path = "support/capture.rs"]
mod capture;
#[path = "support/child.rs"]
mod child;
#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/token_bucket.rs"]
mod token_bucket;

mod needs_redis {
    use std::{
        sync::{
            Arc, Mutex,
            atomic::{AtomicUsize, Ordering},
        },
        time::{Duration, Instant, SystemTime, UNIX_EPOCH},
    };

    use authed::{Client, Secret, fleet::Fleet};

    use super::{
        capture::Capture,
        child,
        redis_server::RedisServer,
        token_bucket::{Arrival, TokenBucketServer},
    };

    /// The API's bucket: requests per second, and how many it holds.
    const RATE: u32 = 50;
    const BURST: u32 = 10;
    /// The fleet: processes, and tasks in each.
    const PROCESSES: usize = 4;
    const TASKS: usize = 8;
    /// Calls made in all (each process makes its share).
    const CALLS: usize = 1_000;
    /// How long before the agreed start the children are launched (they wait for it).
    const LEAD: Duration = Duration::from_millis(1500);
    /// Longest a child may run before it fails (and the parent kills it).
    const CHILD_CAP: Duration = Duration::from_secs(75);

    /// The two tests measure real time on a small machine: one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// What one child did (a line it prints, parsed by the parent).
    #[derive(Debug, Default)]
    struct ChildReport {
        ok: usize,
        gave_up: usize,
        warnings: usize,
        back: usize,
    }

    /// A run: the API's log, and what each process reported.
    struct Run {
        label: &'static str,
        log: Vec<Arrival>,
        start: Instant,
        children: Vec<ChildReport>,
    }

    impl Run {
        fn oks(&self) -> usize {
            self.log.iter().filter(|a| a.ok).count()
        }

        fn refusals(&self) -> usize {
            self.log.iter().filter(|a| !a.ok).count()
        }

        /// From the agreed start to the API's last 200.
        fn wall(&self) -> Duration {
            self.log
                .iter()
                .rev()
                .find(|a| a.ok)
                .map_or(Duration::ZERO, |a| {
                    a.at.saturating_duration_since(self.start)
                })
        }

        /// The aggregate rate, checked against the quota: for every pair of arrivals i <= j
        /// (every request that reached the API, answered 200 or 429, in the API's order), the
        /// count j - i + 1 must be at most BURST + RATE * (t_j - t_i), the most a full token
        /// bucket of that rate and size admits in that span. Returns the worst excess
        /// (requests over that bound; <= 0 when the rate never exceeded the quota) and the
        /// span where it happened.
        fn excess(&self) -> (f64, Duration) {
            let mut worst = (f64::NEG_INFINITY, Duration::ZERO);
            for i in 0..self.log.len() {
                for j in i..self.log.len() {
                    let span = self.log[j].at.saturating_duration_since(self.log[i].at);
                    let allowed = f64::from(BURST) + f64::from(RATE) * span.as_secs_f64();
                    let excess = (j - i + 1) as f64 - allowed;
                    if excess > worst.0 {
                        worst = (excess, span);
                    }
                }
            }
            worst
        }

        fn gave_up(&self) -> usize {
            self.children.iter().map(|c| c.gave_up).sum()
        }
    }

    /// The least time `calls` can take: the burst at once, the rest at the rate.
    fn ideal(calls: usize) -> Duration {
        Duration::from_secs_f64((calls as f64 - f64::from(BURST)) / f64::from(RATE))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn env(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| panic!("the child needs {name}"))
    }

    /// The child's side: `TASKS` tasks make `AUTHED_FLEET_CALLS` calls to the API, from the
    /// agreed start, with the fleet's pacing when `AUTHED_FLEET_REDIS` is set. A call the
    /// client gives up on (an error) is counted and made again. Prints one line for the
    /// parent: `fleet-child ok=.. gave_up=.. warnings=.. back=..`.
    async fn child_main() {
        let api = env("AUTHED_FLEET_API");
        let redis = std::env::var("AUTHED_FLEET_REDIS").ok();
        let calls: usize = env("AUTHED_FLEET_CALLS").parse().unwrap();
        let start_ms: u64 = env("AUTHED_FLEET_START_MS").parse().unwrap();

        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(capture.subscriber(tracing::Level::INFO));
        let mut builder = Client::builder(&api);
        if let Some(url) = &redis {
            // The default timeout (250 ms); connected before the start, as a worker that
            // checks its Redis when it starts (a connection made during the run, on a busy
            // machine, could take longer and send the process off alone).
            let fleet = Fleet::new(Secret::from(url.clone())).unwrap();
            assert!(fleet.is_reachable().await, "Redis answers before the start");
            builder = builder.shared_pacing(fleet.pacing());
        }
        let client = builder.build().unwrap();

        let start = UNIX_EPOCH + Duration::from_millis(start_ms);
        if let Ok(wait) = start.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
        let next = Arc::new(AtomicUsize::new(0));
        let ok = Arc::new(AtomicUsize::new(0));
        let gave_up = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..TASKS {
            let (client, next, ok, gave_up) = (
                client.clone(),
                Arc::clone(&next),
                Arc::clone(&ok),
                Arc::clone(&gave_up),
            );
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < calls {
                    loop {
                        match client.get("items").send().await {
                            Ok(response) => {
                                let body = response.bytes().await.unwrap();
                                assert_eq!(&body[..], br#"{"ok":true}"#);
                                ok.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            Err(e) => {
                                if gave_up.fetch_add(1, Ordering::SeqCst) == 0 {
                                    eprintln!("first call given up (made again): {e}");
                                }
                            }
                        }
                    }
                }
            });
        }
        let all = async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        };
        tokio::time::timeout(CHILD_CAP, all)
            .await
            .expect("the child's calls did not finish in time");
        let text = capture.text();
        if let Some(url) = &redis
            && let Some(password) = url::Url::parse(url).unwrap().password()
        {
            assert!(!text.contains(password), "the Redis password was logged");
        }
        println!(
            "\nfleet-child ok={} gave_up={} warnings={} back={}",
            ok.load(Ordering::SeqCst),
            gave_up.load(Ordering::SeqCst),
            text.matches("Redis failed").count(),
            text.matches("Redis is back").count(),
        );
    }

    fn parse(stdout: &str) -> ChildReport {
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("fleet-child ").map(|(_, report)| report))
            .unwrap_or_else(|| panic!("no report from the child:\n{stdout}"));
        let mut report = ChildReport::default();
        for field in line.split_whitespace() {
            let (name, value) = field.split_once('=').unwrap();
            let value = value.parse().unwrap();
            match name {
                "ok" => report.ok = value,
                "gave_up" => report.gave_up = value,
                "warnings" => report.warnings = value,
                "back" => report.back = value,
                _ => {}
            }
        }
        report
    }

    /// Runs `PROCESSES` children of test `name` against `api`, sharing pacing through `redis`
    /// when given; `during` runs meanwhile (with the agreed start). Returns the run once all
    /// have finished (each is killed at [`CHILD_CAP`] and a bit).
    async fn run<F, Fut>(
        label: &'static str,
        name: &str,
        api: &TokenBucketServer,
        redis: Option<&str>,
        calls: usize,
        during: F,
    ) -> Run
    where
        F: FnOnce(Instant) -> Fut,
        Fut: Future<Output = ()>,
    {
        api.reset();
        let start_ms = (SystemTime::now() + LEAD)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let start = Instant::now() + LEAD;
        let mut children = Vec::new();
        for process in 0..PROCESSES {
            let share = calls / PROCESSES + usize::from(process < calls % PROCESSES);
            let mut command = child::command(name);
            command
                .env("AUTHED_FLEET_API", api.url())
                .env("AUTHED_FLEET_CALLS", share.to_string())
                .env("AUTHED_FLEET_START_MS", start_ms.to_string())
                .env_remove("AUTHED_FLEET_REDIS");
            if let Some(url) = redis {
                command.env("AUTHED_FLEET_REDIS", url);
            }
            let mut command = tokio::process::Command::from(command);
            command.kill_on_drop(true);
            children.push(tokio::spawn(async move {
                tokio::time::timeout(CHILD_CAP + Duration::from_secs(10), command.output())
                    .await
                    .expect("a child hung: killed")
                    .expect("the test binary runs again")
            }));
        }
        during(start).await;
        let mut reports = Vec::new();
        for handle in children {
            let output = handle.await.unwrap();
            child::check(&output);
            reports.push(parse(&String::from_utf8_lossy(&output.stdout)));
        }
        Run {
            label,
            log: api.log(),
            start,
            children: reports,
        }
    }

    fn table(runs: &[&Run], calls: usize) {
        let ideal = ideal(calls);
        println!();
        println!(
            "{PROCESSES} processes x {TASKS} tasks, {calls} calls, API bucket {RATE}/s holding \
             {BURST} (ideal ({calls} - {BURST})/{RATE} = {:.1} s):",
            ideal.as_secs_f64()
        );
        println!();
        println!(
            "| run | wall time (start to last 200) | vs ideal | 200s | 429s | 429s, % of calls | \
             worst excess over {BURST} + {RATE}·span | calls given up (made again) | \
             Redis warnings, per process |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for run in runs {
            let (excess, span) = run.excess();
            println!(
                "| {} | {:.2} s | {:+.1} % | {} | {} | {:.1} % | {excess:+.1} (over {:.2} s) | {} | {:?} |",
                run.label,
                run.wall().as_secs_f64(),
                (run.wall().as_secs_f64() / ideal.as_secs_f64() - 1.0) * 100.0,
                run.oks(),
                run.refusals(),
                run.refusals() as f64 / calls as f64 * 100.0,
                span.as_secs_f64(),
                run.gave_up(),
                run.children.iter().map(|c| c.warnings).collect::<Vec<_>>(),
            );
        }
        println!();
    }

    /// The first arrivals, for a failure message: milliseconds from the start, and 429s.
    fn first_arrivals(run: &Run) -> String {
        run.log
            .iter()
            .take(24)
            .map(|a| {
                let ms = a.at.saturating_duration_since(run.start).as_secs_f64() * 1e3;
                format!("{ms:.1}{}", if a.ok { "" } else { " (429)" })
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn four_processes_sharing_pacing_stay_within_the_quota_near_the_ideal_time() {
        const NAME: &str =
            "needs_redis::four_processes_sharing_pacing_stay_within_the_quota_near_the_ideal_time";
        if child::is_child(NAME) {
            return child::block_on(child_main());
        }
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        runtime().block_on(async {
            // An ACL user with a password, as production fleets have.
            let redis =
                RedisServer::with_acl_user("pacing", "worker", "canary-pacing-pw-8812").await;
            let api = TokenBucketServer::start(RATE, BURST).await;
            let url = redis.url();
            let fleet = run(
                "fleet (shared pacing)",
                NAME,
                &api,
                Some(&url),
                CALLS,
                |_| async {},
            )
            .await;
            let alone = run("4 processes alone", NAME, &api, None, CALLS, |_| async {}).await;
            table(&[&fleet, &alone], CALLS);

            assert_eq!(fleet.oks(), CALLS, "every call succeeded once");
            let (excess, span) = fleet.excess();
            assert!(
                excess <= 1e-6,
                "the fleet sent {excess:.2} requests more than {BURST} + {RATE}/s allows, over \
                 {span:?}; first arrivals (ms): {}",
                first_arrivals(&fleet)
            );
            assert!(
                fleet.refusals() * 100 <= CALLS,
                "{} of {CALLS} calls answered 429 (at most 1 %)",
                fleet.refusals()
            );
            let ideal = ideal(CALLS);
            assert!(
                fleet.wall() <= ideal.mul_f64(1.05),
                "{:?} is more than 5 % over the ideal {ideal:?}",
                fleet.wall()
            );
            // The comparison: alone, the processes together go over the quota, and collect
            // the 429s the fleet avoids.
            assert_eq!(alone.oks(), CALLS);
            assert!(
                alone.excess().0 > 0.0,
                "4 processes pacing alone stayed within the quota?"
            );
            assert!(alone.refusals() > fleet.refusals());
        });
    }

    #[test]
    fn redis_killed_and_restarted_mid_run_every_call_completes_and_each_process_warns_once() {
        const NAME: &str = "needs_redis::redis_killed_and_restarted_mid_run_every_call_completes_and_each_process_warns_once";
        if child::is_child(NAME) {
            return child::block_on(child_main());
        }
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        runtime().block_on(async {
            let mut redis = RedisServer::start("pacing-restart").await;
            let api = TokenBucketServer::start(RATE, BURST).await;
            let url = redis.url();
            // About 12 s of calls at the API's rate: Redis is gone from 2 s to 4 s. Each process
            // tries Redis again at most every RETRY_INTERVAL and rejoins at its first try after
            // the restart, long before its last call.
            let calls = 600;
            let killed = Arc::new(Mutex::new(None));
            let when = Arc::clone(&killed);
            let redis_ref = &mut redis;
            let run = run(
                "fleet, Redis killed",
                NAME,
                &api,
                Some(&url),
                calls,
                |start| async move {
                    tokio::time::sleep_until((start + Duration::from_secs(2)).into()).await;
                    redis_ref.kill();
                    let down = Instant::now();
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    redis_ref.restart().await;
                    *when.lock().unwrap() = Some((down, Instant::now()));
                },
            )
            .await;
            table(&[&run], calls);
            let (down, up) = killed
                .lock()
                .unwrap()
                .expect("Redis was killed and restarted");
            let last = run.log.last().expect("calls were made").at;
            assert!(
                down > run.start && up < last,
                "Redis was not down in the middle of the run"
            );
            assert_eq!(run.oks(), calls, "every call succeeded once");
            for (i, child) in run.children.iter().enumerate() {
                assert_eq!(child.ok, calls / PROCESSES, "process {i}: {child:?}");
                assert_eq!(child.warnings, 1, "process {i} warned once: {child:?}");
                assert_eq!(child.back, 1, "process {i} rejoined: {child:?}");
            }
            // The fleet published its policy again in the restarted Redis.
            let keys = redis.command(&["KEYS", "authed:*:policy"]);
            let keys = String::from_utf8_lossy(&keys);
            assert!(keys.contains(":policy"), "{keys}");
        });
    }

    /// Waits (bounded) until Redis holds a key matching `pattern`: what one replica published
    /// from an answer (publishing does not hold the answer).
    async fn published(redis: &RedisServer, pattern: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let keys = redis.command(&["KEYS", pattern]);
            if String::from_utf8_lossy(&keys).contains("authed:") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nothing matching {pattern} was published"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn a_retry_after_seen_by_one_replica_holds_the_others() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        runtime().block_on(async {
            use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
            let redis = RedisServer::start("pacing-block").await;
            let api = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
                .mount(&api)
                .await;
            let base = format!("{}/v1/", api.uri());
            // Each replica has its own connection to Redis, as separate processes do.
            let replica = |policy: authed::RetryPolicy| {
                Client::builder(&base)
                    .retry(policy)
                    .shared_pacing(Fleet::new(redis.url()).unwrap().pacing())
                    .build()
                    .unwrap()
            };
            let first = replica(authed::RetryPolicy::default().max_retries(0));
            let err = first.get("items").send().await.unwrap_err();
            assert_eq!(
                err.status(),
                Some(http::StatusCode::TOO_MANY_REQUESTS),
                "{err}"
            );
            published(&redis, "authed:*:block").await;

            // Another replica that has never heard from the API waits for the block: with a
            // shorter patience than 30 s, it fails fast without sending anything.
            let patient_for =
                authed::RetryPolicy::default().max_retry_after(Duration::from_secs(5));
            let second = replica(patient_for.clone());
            let err = second.get("items").send().await.unwrap_err();
            assert!(err.is_rate_limited(), "{err}");
            #[cfg(feature = "reqwest-middleware")]
            {
                // The same in a reqwest-middleware stack.
                let middleware = authed::middleware::ThrottleMiddleware::new(
                    patient_for,
                    authed::ratelimit::Pacing::default(),
                )
                .shared_pacing(Fleet::new(redis.url()).unwrap().pacing());
                let stack = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                    .with(middleware)
                    .build();
                let err = stack.get(format!("{base}items")).send().await.unwrap_err();
                assert!(err.to_string().contains("max_retry_after"), "{err}");
            }
            let received = api.received_requests().await.unwrap();
            assert_eq!(
                received.len(),
                1,
                "only the first replica's request reached the API"
            );
        });
    }

    /// The keys under `authed:` (RESP bulk strings of a `KEYS` reply).
    fn keys(redis: &RedisServer) -> Vec<String> {
        let reply = redis.command(&["KEYS", "authed:*"]);
        let reply = String::from_utf8_lossy(&reply);
        let mut lines = reply.split("\r\n");
        let mut keys = Vec::new();
        while let Some(line) = lines.next() {
            if line.starts_with('$') {
                keys.extend(lines.next().map(str::to_owned));
            }
        }
        keys
    }

    #[test]
    fn the_fleets_first_contact_is_one_request_and_what_it_stores_expires() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        runtime().block_on(async {
            let redis = RedisServer::start("pacing-first").await;
            // The first answer takes longer than a replica's own first-contact patience
            // (FIRST_CONTACT_WAIT, 250 ms), shorter than the fleet's probe (PROBE_TTL).
            let delay = Duration::from_millis(400);
            let api = TokenBucketServer::start_with_first_delay(RATE, BURST, delay).await;
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..2 {
                let client = Client::builder(api.url())
                    .shared_pacing(Fleet::new(redis.url()).unwrap().pacing())
                    .build()
                    .unwrap();
                for _ in 0..8 {
                    let client = client.clone();
                    tasks.spawn(async move { client.get("items").send().await.map(|_| ()) });
                }
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap().unwrap();
            }
            let log = api.log();
            assert_eq!(log.len(), 16, "16 calls, no 429: {log:?}");
            let second = log[1].at.saturating_duration_since(log[0].at);
            assert!(
                second >= delay,
                "a second request reached the API {second:?} after the first, before its answer \
                 (sent {delay:?} after it)"
            );
            // Nothing lives forever in Redis: the policy, and the TAT of the departures.
            let keys = keys(&redis);
            assert!(keys.iter().any(|k| k.ends_with(":policy")), "{keys:?}");
            for key in keys {
                let ttl = redis.command(&["PTTL", &key]);
                let ttl = String::from_utf8_lossy(&ttl);
                let ms: i64 = ttl
                    .strip_prefix(':')
                    .and_then(|t| t.split("\r\n").next())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("PTTL {key}: {ttl}"));
                assert!(ms > 0, "{key} has no expiry ({ms})");
            }
        });
    }

    #[test]
    fn a_callers_quota_is_shared_by_the_replicas_of_an_api_that_sends_no_headers() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        runtime().block_on(async {
            use authed::fleet::Quota;
            use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
            let redis = RedisServer::start("pacing-quota").await;
            let api = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
                .mount(&api)
                .await;
            let base = format!("{}/v1/", api.uri());
            // Two calls a minute, both at once after a quiet spell; replicas that give up on a
            // wait longer than 5 s.
            let quota = Quota::per_window(2, Duration::from_secs(60)).burst(2);
            let replica = || {
                Client::builder(&base)
                    .retry(authed::RetryPolicy::default().max_retry_after(Duration::from_secs(5)))
                    .shared_pacing(Fleet::new(redis.url()).unwrap().pacing().quota(quota))
                    .build()
                    .unwrap()
            };
            let (first, second) = (replica(), replica());
            first.get("items").send().await.unwrap();
            second.get("items").send().await.unwrap();
            // The quota is spent, fleet-wide: the next departure is half a minute away.
            for client in [&first, &second] {
                let err = client.get("items").send().await.unwrap_err();
                assert!(err.is_rate_limited(), "{err}");
            }
            let received = api.received_requests().await.unwrap();
            assert_eq!(
                received.len(),
                2,
                "the API saw the quota's two calls, no more"
            );
        });
    }

    #[test]
    fn a_wait_at_the_fleets_gate_is_told_to_on_wait_as_pacing() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        runtime().block_on(async {
            use authed::{audit::WaitReason, fleet::Quota};
            use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
            let redis = RedisServer::start("pacing-on-wait").await;
            let api = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(200))
                .mount(&api)
                .await;
            let base = format!("{}/v1/", api.uri());
            // One call a second, fleet-wide.
            let quota = Quota::per_window(1, Duration::from_secs(1));
            let events = Arc::new(Mutex::new(Vec::new()));
            let replica = |events: Option<Arc<Mutex<Vec<authed::WaitEvent>>>>| {
                let mut builder = Client::builder(&base)
                    .shared_pacing(Fleet::new(redis.url()).unwrap().pacing().quota(quota));
                if let Some(events) = events {
                    builder = builder.on_wait(move |e| events.lock().unwrap().push(e.clone()));
                }
                builder.build().unwrap()
            };
            replica(None).get("items").send().await.unwrap();
            replica(Some(Arc::clone(&events)))
                .get("items")
                .send()
                .await
                .unwrap();
            let events = events.lock().unwrap();
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(events[0].reason, WaitReason::Pacing);
            // Its own gate had nothing against it: the wait is the fleet's, at most one
            // interval of the quota (1.02 s).
            assert!(
                !events[0].wait.is_zero() && events[0].wait <= Duration::from_millis(1020),
                "{events:?}"
            );
        });
    }
}
