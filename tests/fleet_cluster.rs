//! The fleet on a real Redis Cluster (`Fleet::cluster`): three `redis-server` primaries on
//! 127.0.0.1 joined by `redis-cli --cluster create` (tests/support/redis.rs).
//!
//! - shared pacing: two replicas against three APIs whose keys live on three different nodes,
//!   each API's first contact one request for both replicas;
//! - the shared token: two token caches make one token request (lock and fenced save are Lua
//!   scripts on several keys, which a cluster refuses with `CROSSSLOT` unless they share a
//!   slot), and a late lock holder cannot overwrite a newer token;
//! - an ACL user's password in the node URLs connects and is never shown;
//! - a killed node degrades the fleet with one warning, its restart is rejoined.
//!
//! `AUTHED_TEST_SKIP=redis bash scripts/test.sh` skips them.
#![cfg(feature = "redis")]

#[path = "support/capture.rs"]
mod capture;
#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/token_bucket.rs"]
mod token_bucket;

mod needs_redis {
    use std::time::Duration;

    use authed::{Client, Secret, fleet::Fleet};

    use super::{capture::Capture, redis_server::RedisCluster, token_bucket::TokenBucketServer};

    /// The APIs' buckets: requests per second, and how many they hold.
    const RATE: u32 = 50;
    const BURST: u32 = 10;
    /// Replicas (clients, each with a fleet of its own) and tasks in each, per API.
    const REPLICAS: usize = 2;
    const TASKS: usize = 4;

    /// The origin of a URL, as the fleet names its scope.
    fn origin(url: &str) -> String {
        url::Url::parse(url).unwrap().origin().ascii_serialization()
    }

    #[tokio::test]
    async fn replicas_pace_apis_whose_keys_live_on_three_nodes_first_contact_one_request_each() {
        let cluster = RedisCluster::start("cluster-pacing").await;
        // The first answer takes longer than a replica's own first-contact patience
        // (250 ms), shorter than the fleet's probe.
        let delay = Duration::from_millis(400);
        // One API per node: APIs are started until their origins (which hold the ports the OS
        // chose) hash to slots of every node.
        let mut apis: Vec<Option<TokenBucketServer>> = (0..3).map(|_| None).collect();
        for started in 0.. {
            if apis.iter().all(Option::is_some) {
                break;
            }
            assert!(started < 100, "100 origins and still a node without one");
            let api = TokenBucketServer::start_with_first_delay(RATE, BURST, delay).await;
            let node = cluster.owner(&format!("authed:{{{}}}:tat", origin(&api.url())));
            apis[node].get_or_insert(api);
        }
        let apis: Vec<TokenBucketServer> = apis.into_iter().map(Option::unwrap).collect();

        let mut fleets = Vec::new();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..REPLICAS {
            // Each replica has its own connection to the cluster, as separate processes do.
            let fleet = Fleet::cluster(cluster.urls()).unwrap();
            for api in &apis {
                let client = Client::builder(api.url())
                    .shared_pacing(fleet.pacing())
                    .build()
                    .unwrap();
                for _ in 0..TASKS {
                    let client = client.clone();
                    tasks.spawn(async move { client.get("items").send().await.map(|_| ()) });
                }
            }
            fleets.push(fleet);
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        for fleet in &fleets {
            assert!(!fleet.is_degraded(), "{fleet:?}");
        }
        for (node, api) in apis.iter().enumerate() {
            let log = api.log();
            assert_eq!(log.len(), REPLICAS * TASKS, "no 429, no retry: {log:?}");
            assert!(log.iter().all(|a| a.ok), "{log:?}");
            let second = log[1].at.saturating_duration_since(log[0].at);
            assert!(
                second >= delay,
                "API on node {node}: a second request {second:?} after the first, before its \
                 answer (sent {delay:?} after it)"
            );
            // Its keys are on its node, all in one slot.
            let origin = origin(&api.url());
            let keys = cluster.keys_on(node, &format!("authed:{{{origin}}}:*"));
            assert!(
                keys.iter().any(|k| k.ends_with(":policy")),
                "node {node}: {keys:?}"
            );
            let slot = cluster.keyslot(&keys[0]);
            for key in &keys {
                assert_eq!(cluster.keyslot(key), slot, "{key}");
            }
            for other in (0..3).filter(|&other| other != node) {
                let elsewhere = cluster.keys_on(other, &format!("authed:{{{origin}}}:*"));
                assert!(elsewhere.is_empty(), "node {other}: {elsewhere:?}");
            }
        }
    }

    #[cfg(feature = "oauth2")]
    mod token {
        use std::time::{Duration, Instant};

        use authed::{
            Client, ExposeSecret,
            fleet::{Fleet, RedisTokenStore},
            oauth2::{ClientCredentials, Token, TokenStore},
        };
        use wiremock::{
            Mock, MockServer, ResponseTemplate,
            matchers::{header, method, path},
        };

        use super::{Capture, RedisCluster};

        /// The fleet's key (base64 of 32 bytes).
        const KEY: &str = "3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8=";

        #[tokio::test]
        async fn two_token_caches_on_a_cluster_make_one_token_request() {
            let cluster = RedisCluster::start("cluster-token").await;
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/token"))
                .respond_with(
                    // Long enough for the other cache to find the lock held.
                    ResponseTemplate::new(200)
                        .set_delay(Duration::from_millis(300))
                        .set_body_json(serde_json::json!({
                            "access_token": "cluster-shared-token",
                            "token_type": "Bearer",
                            "expires_in": 3600,
                        })),
                )
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .and(path("/v1/api"))
                .and(header("authorization", "Bearer cluster-shared-token"))
                .respond_with(ResponseTemplate::new(200))
                .mount(&server)
                .await;
            let mut fleets = Vec::new();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..2 {
                let fleet = Fleet::cluster(cluster.urls()).unwrap();
                let store = RedisTokenStore::new(&fleet, "shared", KEY).unwrap();
                let auth =
                    ClientCredentials::new(format!("{}/token", server.uri()), "id", "secret")
                        .into_auth()
                        .store(store);
                let client = Client::builder(format!("{}/v1/", server.uri()))
                    .auth(auth)
                    .build()
                    .unwrap();
                for _ in 0..4 {
                    let client = client.clone();
                    tasks.spawn(async move {
                        client.get("api").send().await.map(|r| r.status().as_u16())
                    });
                }
                fleets.push(fleet);
            }
            while let Some(done) = tasks.join_next().await {
                assert_eq!(done.unwrap().unwrap(), 200);
            }
            let received = server.received_requests().await.unwrap();
            let token_requests = received.iter().filter(|r| r.url.path() == "/token").count();
            assert_eq!(token_requests, 1, "one token request for both caches");
            for fleet in &fleets {
                assert!(!fleet.is_degraded(), "{fleet:?}");
            }
            // The record and its fence counter live on one node, in one slot.
            let record = "authed:{shared}:token";
            let node = cluster.owner(record);
            let keys = cluster.keys_on(node, "authed:{shared}:*");
            assert!(keys.iter().any(|k| k == record), "{keys:?}");
            assert!(keys.len() >= 2, "the record and its fence: {keys:?}");
        }

        #[tokio::test]
        async fn a_late_lock_holder_on_a_cluster_cannot_overwrite_a_newer_token() {
            let cluster = RedisCluster::start("cluster-fence").await;
            let ttl = Duration::from_secs(1);
            let store = |fleet: &Fleet| {
                RedisTokenStore::new(fleet, "fence", KEY)
                    .unwrap()
                    .lock_ttl(ttl)
            };
            let late = store(&Fleet::cluster(cluster.urls()).unwrap());
            let next = store(&Fleet::cluster(cluster.urls()).unwrap());
            let lock_key = "authed:{fence}:lock";

            let held = late.lock().await.unwrap().expect("the lock is free");
            // Its watchdog renews it while it is held: still there after 1.5 TTLs.
            tokio::time::sleep(ttl * 3 / 2).await;
            assert!(
                cluster
                    .command_for(lock_key, &["EXISTS", lock_key])
                    .starts_with(b":1\r\n")
            );
            // The lock expires as if its holder had stalled...
            cluster.command_for(lock_key, &["DEL", lock_key]);
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
        }

        /// A scope name whose keys the node `node` holds (`want`) or does not hold.
        fn scope_on(cluster: &RedisCluster, node: usize, want: bool) -> String {
            (0..)
                .map(|i| format!("scope-{i}"))
                .find(|name| (cluster.owner(&format!("authed:{{{name}}}:token")) == node) == want)
                .unwrap()
        }

        #[tokio::test]
        async fn a_killed_cluster_node_warns_once_and_the_fleet_is_back_when_it_is() {
            let mut cluster = RedisCluster::start("cluster-restart").await;
            let fleet = Fleet::cluster(cluster.urls())
                .unwrap()
                .timeout(Duration::from_millis(200));
            // One token set on the node that will be killed, one on another node.
            let on_dead = RedisTokenStore::new(&fleet, scope_on(&cluster, 1, true), KEY).unwrap();
            let on_live = RedisTokenStore::new(&fleet, scope_on(&cluster, 1, false), KEY).unwrap();
            on_dead.save(&Token::bearer("dead")).await.unwrap();
            on_live.save(&Token::bearer("live")).await.unwrap();
            assert!(fleet.is_reachable().await);

            let capture = Capture::default();
            let _guard = tracing::subscriber::set_default(capture.subscriber(tracing::Level::INFO));
            cluster.node_mut(1).kill();
            // Calls on both nodes' slots over three retry intervals: the first on the dead
            // node's fails and warns; the retries that the live node would answer do not end
            // the outage, nor does `is_reachable`, which asks every primary.
            let deadline = Instant::now() + authed::fleet::RETRY_INTERVAL * 3;
            let mut calls = 0;
            while Instant::now() < deadline {
                // The live node's first: the retry at the end of each interval is on it.
                on_live.load().await.unwrap();
                on_dead.load().await.unwrap();
                assert!(!fleet.is_reachable().await);
                calls += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(calls > 10);
            assert!(fleet.is_degraded());
            let text = capture.text();
            assert_eq!(text.matches("Redis failed").count(), 1, "{text}");
            assert_eq!(text.matches("Redis is back").count(), 0, "{text}");

            // Back with its identity and slots (nodes.conf), well within the node timeout.
            cluster.node_mut(1).restart().await;
            cluster.wait_ok().await;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !fleet.is_reachable().await {
                assert!(
                    Instant::now() < deadline,
                    "the fleet did not rejoin the cluster"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(!fleet.is_degraded());
            // The restarted node is empty (nothing persisted); the other kept its token.
            assert!(on_dead.load().await.unwrap().is_none());
            let live = on_live
                .load()
                .await
                .unwrap()
                .expect("the live node's token set");
            assert_eq!(live.access_token().expose_secret(), "live");
            let text = capture.text();
            assert_eq!(text.matches("Redis is back").count(), 1, "{text}");
            assert_eq!(text.matches("Redis failed").count(), 1, "{text}");
        }
    }

    #[tokio::test]
    async fn an_acl_user_in_the_cluster_urls_connects_and_its_password_is_never_shown() {
        const PASSWORD: &str = "canary-cluster-pw-5150";
        let cluster = RedisCluster::with_acl_user("cluster-acl", "worker", PASSWORD).await;
        let urls = cluster.urls();
        assert!(urls[0].contains(PASSWORD));
        let fleet = Fleet::cluster(urls.iter().cloned().map(Secret::from)).unwrap();
        assert!(
            fleet.is_reachable().await,
            "{}",
            cluster.nodes()[0].log_text()
        );
        assert!(!format!("{fleet:?}").contains(PASSWORD), "{fleet:?}");

        let wrong = Fleet::cluster(urls.iter().map(|u| u.replace(PASSWORD, "wrong"))).unwrap();
        let capture = Capture::default();
        let reachable = {
            let _guard =
                tracing::subscriber::set_default(capture.subscriber(tracing::Level::TRACE));
            wrong.is_reachable().await
        };
        assert!(!reachable);
        assert!(wrong.is_degraded());
        let text = capture.text();
        assert!(text.contains("Redis failed"), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");

        // URLs that do not fit together: an error that names them without the password.
        let mixed = [urls[0].clone(), urls[1].replace(PASSWORD, "other")];
        let err = Fleet::cluster(mixed).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(err.is_config(), "{shown}");
        assert!(shown.contains("127.0.0.1"), "{shown}");
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
}
