//! Pacing against a token-bucket server (the demo API's `/limited/`, 5 requests/s, burst 3,
//! announced with IETF `RateLimit` headers), on tokio's paused clock: the server's bucket runs
//! on the same virtual time, so the run is exact and instant.

#[path = "support/demo_api.rs"]
mod demo_api;
#[path = "support/paused.rs"]
mod paused;

use std::time::Duration;

use authed::RetryPolicy;
use demo_api::{DemoApi, DemoConfig, LIMIT_BURST, LIMIT_RATE};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn many_workers_stay_under_the_limit_without_429s() {
    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let c = paused::client(api.url(), RetryPolicy::default());
    let calls = 60;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let c = c.clone();
        tasks.spawn(async move {
            for i in (worker..calls).step_by(8) {
                c.get(&format!("limited/{i}")).send().await?;
            }
            Ok::<_, authed::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    let ideal = Duration::from_secs_f64((calls as f64 - LIMIT_BURST) / LIMIT_RATE);
    assert_eq!(api.limited_429s(), 0, "paced, not refused");
    assert!(
        elapsed >= ideal,
        "{elapsed:?} < {ideal:?}: faster than the server allows?"
    );
    assert!(
        elapsed <= ideal.mul_f64(1.05),
        "{elapsed:?} is more than 5% over the ideal {ideal:?}"
    );
    let state = c.rate_limit(&api.url()).expect("the state is kept");
    assert_eq!(state.limit, Some(LIMIT_RATE as u64));
    assert_eq!(state.window, Some(Duration::from_secs(1)));
}
