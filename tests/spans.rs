//! One `tracing` span per request, with OpenTelemetry's HTTP client field names, redacted; one
//! span per token request.

#[path = "support/capture.rs"]
mod capture;
#[path = "support/demo_api.rs"]
mod demo_api;

use authed::{Client, Secret, auth::ApiKey};
use capture::Capture;
use demo_api::{DemoApi, DemoConfig};
use tracing_subscriber::fmt::format::FmtSpan;

fn subscriber(capture: &Capture) -> impl tracing::Subscriber + Send + Sync + 'static {
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish()
}

const KEY: &str = "span-canary-key-5b2e";

#[tokio::test]
async fn a_request_is_one_span_with_otel_fields_and_nothing_secret() {
    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(subscriber(&capture));
    let client = Client::builder(api.url())
        .auth(ApiKey::query("api_key", Secret::from(KEY)))
        .build()
        .unwrap();
    // `/busy/...` answers 429 with Retry-After: 1 once: one retry, inside the span.
    client.get("busy/span").send().await.unwrap();
    let text = capture.text();
    let close = text
        .lines()
        .find(|l| l.contains("request{") && l.contains("close"))
        .unwrap_or_else(|| panic!("no closed request span in:\n{text}"));
    let port = api.addr().port();
    for field in [
        "http.request.method=GET".to_owned(),
        format!("url.full=\"http://127.0.0.1:{port}/busy/span?api_key=[redacted]\""),
        "server.address=\"127.0.0.1\"".to_owned(),
        format!("server.port={port}"),
        "http.response.status_code=200".to_owned(),
        "http.request.resend_count=1".to_owned(),
    ] {
        assert!(close.contains(&field), "{field} missing from: {close}");
    }
    let retry = text
        .lines()
        .find(|l| l.contains("retrying"))
        .expect("a retry event");
    assert!(
        retry.contains("request{"),
        "the retry is inside the span: {retry}"
    );
    assert!(
        !text.contains(KEY),
        "the key never reaches the trace:\n{text}"
    );
}

#[tokio::test]
async fn a_failed_request_says_why_on_its_span() {
    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(subscriber(&capture));
    let client = Client::builder(api.url()).build().unwrap();
    client.get("no/such/route").send().await.unwrap_err();
    let text = capture.text();
    let close = text
        .lines()
        .find(|l| l.contains("request{") && l.contains("close"))
        .unwrap_or_else(|| panic!("no closed request span in:\n{text}"));
    assert!(close.contains("http.response.status_code=404"), "{close}");
    assert!(close.contains("error.type=\"status\""), "{close}");
    assert!(close.contains("otel.status_code=\"ERROR\""), "{close}");
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn a_token_request_is_a_span_of_its_own() {
    use authed::oauth2::ClientCredentials;
    use demo_api::OAUTH_CLIENT_ID;

    let api = DemoApi::start(DemoConfig::default()).await.unwrap();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(subscriber(&capture));
    let secret = DemoConfig::default().api_key;
    let auth = ClientCredentials::new(
        format!("{}oauth/token", api.url()),
        OAUTH_CLIENT_ID,
        secret.clone(),
    )
    .into_auth();
    let client = Client::builder(api.url()).auth(auth).build().unwrap();
    client.get("oauth/me").send().await.unwrap();
    let text = capture.text();
    let refresh = text
        .lines()
        .find(|l| l.contains("token refresh{") && l.contains("close"))
        .unwrap_or_else(|| panic!("no token refresh span in:\n{text}"));
    assert!(refresh.contains("refresh=false"), "{refresh}");
    // The token endpoint's own request is a request span inside the refresh span.
    assert!(
        text.lines().any(|l| l.contains("token refresh{")
            && l.contains("request{")
            && l.contains("/oauth/token")),
        "nested request span:\n{text}"
    );
    assert!(
        !text.contains(&secret),
        "the client secret never reaches the trace"
    );
    assert_eq!(api.tokens_issued().client_credentials, 1);
}
