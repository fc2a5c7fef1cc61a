//! The fleet's connection to a real Redis (tests/support/redis.rs starts `redis-server`):
//! reachable, credentials of an ACL user in the URL, and the failure rules of `authed::fleet`
//! (a killed Redis degrades the fleet with one warning, a restarted one is rejoined), and TLS
//! (`rediss://`) with a private certificate authority.
//! `AUTHED_TEST_SKIP=redis bash scripts/test.sh` skips them.
#![cfg(feature = "redis")]

#[path = "support/capture.rs"]
mod capture;
#[path = "support/redis.rs"]
mod redis_server;

mod needs_redis {
    use std::time::Duration;

    use authed::{Secret, fleet::Fleet};

    use super::{capture::Capture, redis_server::RedisServer};

    #[tokio::test]
    async fn an_acl_user_in_the_url_connects_and_a_wrong_password_does_not() {
        let redis = RedisServer::with_acl_user("acl", "worker", "canary-redis-pw-4711").await;
        let fleet = Fleet::new(Secret::new(redis.url())).unwrap();
        assert!(fleet.is_reachable().await, "{}", redis.log_text());

        let wrong = Fleet::new(redis.url().replace("canary-redis-pw-4711", "wrong")).unwrap();
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
        assert!(!text.contains("canary-redis-pw-4711"), "{text}");
        assert!(!format!("{fleet:?}").contains("canary-redis-pw-4711"));
    }

    /// A Redis that speaks only TLS, with a certificate from the test's own CA: refused with
    /// the platform's roots, connected with `tls_root_certificates`, and the token store's
    /// scripts run over it.
    #[cfg(feature = "rustls")]
    #[tokio::test]
    async fn rediss_is_verified_against_the_given_ca_and_works_end_to_end() {
        let redis = RedisServer::with_tls("tls").await;
        let url = redis.url();
        assert!(url.starts_with("rediss://"), "{url}");

        let untrusted = Fleet::new(url.clone()).unwrap();
        assert!(
            !untrusted.is_reachable().await,
            "a certificate the platform does not trust is refused"
        );
        let plain = Fleet::new(url.replace("rediss://", "redis://")).unwrap();
        assert!(!plain.is_reachable().await, "no plain text on a TLS port");

        let fleet = Fleet::new(url.clone())
            .unwrap()
            .tls_root_certificates(redis.ca_pem())
            .unwrap();
        assert!(fleet.is_reachable().await, "{}", redis.log_text());
        #[cfg(feature = "oauth2")]
        {
            use authed::{
                ExposeSecret,
                fleet::RedisTokenStore,
                oauth2::{Token, TokenStore},
            };
            let store = RedisTokenStore::insecure_plaintext(&fleet, "tls");
            store
                .save(&Token::bearer("over-tls").with_refresh_token("r"))
                .await
                .unwrap();
            let loaded = store
                .load()
                .await
                .unwrap()
                .expect("the token set is stored");
            assert_eq!(loaded.access_token().expose_secret(), "over-tls");
            assert!(!fleet.is_degraded());
        }

        // Certificates only make sense for rediss://, and must be certificates.
        let err = Fleet::new(url.replace("rediss://", "redis://"))
            .unwrap()
            .tls_root_certificates(redis.ca_pem())
            .unwrap_err();
        assert!(err.to_string().contains("rediss://"), "{err}");
        let err = Fleet::new(url)
            .unwrap()
            .tls_root_certificates(b"not a certificate")
            .unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }

    #[tokio::test]
    async fn a_killed_redis_warns_once_and_a_restarted_one_is_rejoined() {
        let mut redis = RedisServer::start("restart").await;
        let fleet = Fleet::new(redis.url())
            .unwrap()
            .timeout(Duration::from_millis(200));
        assert!(fleet.is_reachable().await);

        let capture = Capture::default();
        let subscriber = capture.subscriber(tracing::Level::INFO);
        let _guard = tracing::subscriber::set_default(subscriber);
        redis.kill();
        // Calls over three retry intervals: the first fails and warns, the ones before the
        // next retry time are not even tried, the retries fail quietly.
        let deadline = tokio::time::Instant::now() + authed::fleet::RETRY_INTERVAL * 3;
        let mut calls = 0;
        while tokio::time::Instant::now() < deadline {
            assert!(!fleet.is_reachable().await);
            calls += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(calls > 10);
        assert!(fleet.is_degraded());
        let text = capture.text();
        assert_eq!(text.matches("Redis failed").count(), 1, "{text}");

        redis.restart().await;
        // Once the retry time has come, the first try reaches the restarted Redis: the
        // connection that failed was dropped, so it is not a reconnection given up earlier.
        tokio::time::sleep(authed::fleet::RETRY_INTERVAL + Duration::from_millis(50)).await;
        assert!(
            fleet.is_reachable().await,
            "the first try after the restart rejoins:\n{}",
            capture.text()
        );
        assert!(!fleet.is_degraded());
        let text = capture.text();
        assert_eq!(text.matches("Redis is back").count(), 1, "{text}");
        assert_eq!(text.matches("Redis failed").count(), 1, "{text}");
    }
}
