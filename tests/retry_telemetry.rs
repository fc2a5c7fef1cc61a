//! Telemetry of retries: each retry is a `tracing` event with its reason and wait. In a file
//! of its own because `tracing`'s per-callsite interest cache is global: a test that installs a
//! subscriber for its thread only sees events reliably when no other test in the process hit
//! the same callsites first without one.

#[path = "support/capture.rs"]
mod capture;
#[path = "support/paused.rs"]
mod paused;
#[path = "support/scripted.rs"]
mod scripted;

use capture::Capture;
use scripted::{Reply, Scripted, Seen};

#[tokio::test(start_paused = true)]
async fn each_retry_is_a_tracing_event_with_reason_and_wait() {
    let buf = Capture::default();
    let subscriber = buf.subscriber(tracing::Level::INFO);
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Scripted::start(|seen: &Seen| {
        if seen.index < 2 {
            Reply::new(503).header("retry-after", "2")
        } else {
            Reply::ok()
        }
    })
    .await;
    paused::client(server.url(), paused::exact())
        .get("x")
        .send()
        .await
        .unwrap();
    let text = buf.text();
    let retries: Vec<&str> = text.lines().filter(|l| l.contains("retrying")).collect();
    assert_eq!(retries.len(), 2, "{text}");
    for line in retries {
        assert!(line.contains("authed::retry"), "{line}");
        assert!(line.contains("reason=status 503"), "{line}");
        assert!(line.contains("wait_ms=2000"), "{line}");
        assert!(line.contains("server_asked_ms=2000"), "{line}");
    }
}
