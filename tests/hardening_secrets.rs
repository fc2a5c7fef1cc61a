//! Issue 10, "Secrets that still reach text": regression tests for items 1-5 against local
//! servers (wiremock on 127.0.0.1), and a property test over the scrubber as a user meets it
//! (a server that echoes a credential around the excerpt's cut, in every supported encoding).

#[cfg(feature = "oauth2")]
use authed::oauth2::{AuthorizationCode, ClientAuth, OAuthClient, Password, ServerMetadata};
use authed::{
    Client, Error, Secret,
    auth::{ApiKey, Basic},
};
use base64::Engine as _;
use proptest::prelude::*;
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

/// `MAX_ERROR_BODY` of `authed::client::response` (bytes of an error body kept).
const CUT: usize = 4096;

/// Every form a server plausibly echoes `secret` in (the encodings of issue 10, item 4).
fn encodings(secret: &str) -> Vec<(&'static str, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64_url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let percent_upper: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let percent_lower: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect();
    let form: String = authed::url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    // JSON as a server writes it: every non-ASCII character as \uXXXX (lower case), `/` as
    // `\/` (PHP's json_encode), quotes and backslashes escaped.
    let mut json = String::new();
    let mut json_upper = String::new();
    for c in secret.chars() {
        match c {
            '"' => json_upper.push_str("\\\""),
            '\\' => json_upper.push_str("\\\\"),
            '/' => json_upper.push_str("\\/"),
            c if c.is_ascii() && !c.is_ascii_control() => json_upper.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    json_upper.push_str(&format!("\\u{u:04X}"));
                }
            }
        }
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '/' => json.push_str("\\/"),
            c if c.is_ascii() && !c.is_ascii_control() => json.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    json.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    // JSON inside a JSON string (a logged request body, echoed as JSON).
    let json_twice = json.replace('\\', "\\\\").replace('"', "\\\"");
    // An HTML error page: every character that is not a letter or digit as a reference.
    let html: String = secret
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else if c == '&' {
                "&amp;".to_owned()
            } else {
                format!("&#x{:X};", u32::from(c))
            }
        })
        .collect();
    vec![
        ("plain", secret.to_owned()),
        ("percent upper", percent_upper),
        ("percent lower", percent_lower),
        ("form", form.clone()),
        ("form %20", form.replace('+', "%20")),
        ("json", json),
        ("json upper hex", json_upper),
        ("json twice", json_twice),
        ("html", html),
        ("base64", b64.encode(secret)),
        ("base64 url no pad", b64_url.encode(secret)),
        // Inside a Basic header of someone else's user id: not aligned on 3 bytes.
        ("base64 in basic", b64.encode(format!("u:{secret}"))),
        ("base64 in basic 2", b64.encode(format!("us:{secret}"))),
    ]
}

/// A server that answers every request with `status` and a body built from the request.
struct Echo(u16, fn(&Request) -> String);

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        ResponseTemplate::new(self.0).set_body_string((self.1)(request))
    }
}

fn header_text(request: &Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

async fn status_error(result: authed::Result<authed::Response>) -> Box<authed::error::StatusError> {
    match result {
        Err(Error::Status(e)) => e,
        other => panic!("expected a status error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Item 1: OAuth error descriptions
// ---------------------------------------------------------------------------------------------

/// A token endpoint that puts everything the request carried into `error_description`
/// (JSON-escaped as a JSON encoder writes it) and `error_uri`.
#[cfg(feature = "oauth2")]
fn echo_token_request(request: &Request) -> String {
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let authorization = header_text(request, "authorization");
    let pairs: Vec<String> = authed::url::form_urlencoded::parse(&request.body)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let description = format!(
        "bad request: {authorization} | {body} | {} | basic={}",
        pairs.join(", "),
        authorization.trim_start_matches("Basic ")
    );
    serde_json::json!({
        "error": "invalid_client",
        "error_description": description,
        "error_uri": format!("https://auth.example/errors?echo={}", pairs.join("&")),
    })
    .to_string()
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn oauth_error_descriptions_are_scrubbed_of_every_secret_the_token_request_carried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(Echo(400, echo_token_request))
        .mount(&server)
        .await;
    let client_secret = "client-s3cret/+ wörd";
    let password = "user-pässword\"x";
    for auth_method in [ClientAuth::SecretBasic, ClientAuth::SecretPost] {
        let client = OAuthClient::new(format!("{}/token", server.uri()), "my-app")
            .secret(client_secret)
            .auth_method(auth_method.clone());
        let basic_b64 = base64::engine::general_purpose::STANDARD.encode(format!(
            "my-app:{}",
            authed::url::form_urlencoded::byte_serialize(client_secret.as_bytes())
                .collect::<String>()
        ));
        let auth = Password::new(client, "ada", Secret::from(password)).into_auth();
        let error = auth.token().await.unwrap_err();
        let shown = format!("{error} {error:?}");
        let oauth = error.oauth_error().expect("an OAuth error");
        assert_eq!(oauth.code, "invalid_client");
        assert!(
            oauth
                .description
                .as_deref()
                .is_some_and(|d| d.contains("bad request")),
            "{shown}"
        );
        for secret in [client_secret, password] {
            for (encoding, form) in encodings(secret) {
                assert!(
                    !shown.contains(&form),
                    "{auth_method:?}: the {encoding} form of a secret survived: {shown}"
                );
            }
        }
        assert!(!shown.contains(&basic_b64), "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 2: credentials set by hand
// ---------------------------------------------------------------------------------------------

fn echo_headers(request: &Request) -> String {
    let mut out = String::from("you sent:");
    for name in ["authorization", "x-api-key", "x-tenant-secret", "cookie"] {
        out.push_str(&format!(" {name}={}", header_text(request, name)));
    }
    // Servers often echo only the credential, not the scheme or the cookie's name.
    out.push_str(&format!(
        " token={} sid={}",
        header_text(request, "authorization").trim_start_matches("Bearer "),
        header_text(request, "cookie")
            .split(';')
            .find_map(|c| c.trim().strip_prefix("sid="))
            .unwrap_or("")
    ));
    out
}

#[tokio::test]
async fn credentials_set_by_hand_are_scrubbed_from_error_excerpts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Echo(400, echo_headers))
        .mount(&server)
        .await;
    let api = Client::builder(server.uri())
        .default_header("x-api-key", "default-key-1234")
        .sensitive_header("x-tenant-secret")
        .build()
        .unwrap();
    let error = status_error(
        api.get("x")
            .header("authorization", "Bearer hand-token-5678")
            .header("x-tenant-secret", "tenant-secret-9012")
            .header("cookie", "theme=dark; sid=session-cookie-3456")
            .send()
            .await,
    )
    .await;
    let excerpt = &error.body_excerpt;
    assert!(excerpt.starts_with("you sent:"), "{excerpt}");
    for secret in [
        "default-key-1234",
        "hand-token-5678",
        "tenant-secret-9012",
        "session-cookie-3456",
    ] {
        assert!(!excerpt.contains(secret), "{secret} survived: {excerpt}");
    }
    // The rest of the text is kept.
    assert!(
        excerpt.contains(" token=[redacted] sid=[redacted]"),
        "{excerpt}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 3: the cut
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_secret_straddling_the_excerpt_cut_is_not_shown_in_part() {
    const KEY: &str = "STRADDLE-canary-key-0123456789";
    let server = MockServer::start().await;
    for offset in [1usize, 5, 10, 20, 29] {
        // The key starts `offset` bytes before the cut.
        let body = format!("{}{KEY} and more text after it", "a".repeat(CUT - offset));
        Mock::given(method("GET"))
            .and(path(format!("/cut{offset}")))
            .respond_with(ResponseTemplate::new(500).set_body_string(body))
            .mount(&server)
            .await;
    }
    let api = Client::builder(server.uri())
        .auth(ApiKey::header("x-api-key", Secret::from(KEY)))
        .retry(authed::RetryPolicy::default().max_retries(0))
        .build()
        .unwrap();
    for offset in [1usize, 5, 10, 20, 29] {
        let error = status_error(api.get(&format!("cut{offset}")).send().await).await;
        let excerpt = &error.body_excerpt;
        assert!(error.body_truncated);
        assert!(excerpt.starts_with("aaaa"), "{excerpt}");
        let tail = excerpt.trim_start_matches('a');
        // Not even the first byte of the key: "S" would be its prefix. The marker replaces
        // the key whole (and what follows it fills the excerpt up to the cut).
        assert!(
            tail.is_empty() || tail.starts_with(authed::redact::REDACTED),
            "offset {offset}: the excerpt ends in {tail:?}"
        );
        assert!(excerpt.len() <= CUT + authed::redact::REDACTED.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Item 4: encodings
// ---------------------------------------------------------------------------------------------

fn echo_password_encoded(_: &Request) -> String {
    let mut out = String::from("{\"echo\":[");
    for (name, form) in encodings(ENCODED_PASSWORD) {
        out.push_str(&format!("\"{name}: {form}\","));
    }
    out.push_str("\"end\"]}");
    out
}

const ENCODED_PASSWORD: &str = "pä/ss wörd+\"q~😀";

#[tokio::test]
async fn secrets_echoed_in_other_encodings_are_scrubbed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Echo(403, echo_password_encoded))
        .mount(&server)
        .await;
    let api = Client::builder(server.uri())
        .auth(Basic::new("ada", Secret::from(ENCODED_PASSWORD)))
        .build()
        .unwrap();
    let error = status_error(api.get("x").send().await).await;
    let excerpt = &error.body_excerpt;
    for (name, form) in encodings(ENCODED_PASSWORD) {
        assert!(
            !excerpt.contains(&form),
            "the {name} form survived: {excerpt}"
        );
        // Only what is not the password is left around the marker (the base64 of the user
        // id before it, padding after it).
        let shown = excerpt
            .split(&format!("\"{name}: "))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        let expected = match name {
            "base64 in basic" => "dT[redacted]==",
            "base64 in basic 2" => "dXM6[redacted]=",
            "base64" => "[redacted]=",
            _ => "[redacted]",
        };
        assert!(
            shown == expected || shown == "[redacted]",
            "{name}: {shown:?} in {excerpt}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 5: Debug of the OAuth types
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "oauth2")]
#[test]
fn debug_of_oauth_types_redacts_userinfo_and_credential_query() {
    let client = OAuthClient::new(
        "https://ada:url-pw-1111@auth.example.com/token?client_secret=query-secret-2222&tenant=t1",
        "my-app",
    );
    let flow = AuthorizationCode::new(
        client.clone(),
        "https://auth.example.com/authorize?api_key=query-key-3333&audience=x",
    );
    let metadata: ServerMetadata = serde_json::from_value(serde_json::json!({
        "issuer": "https://auth.example.com",
        "token_endpoint": "https://ada:meta-pw-4444@auth.example.com/token",
        "authorization_endpoint": "https://auth.example.com/authorize?access_token=meta-token-5555",
        "jwks_uri": "https://auth.example.com/jwks?sig=meta-sig-6666",
    }))
    .unwrap();
    let shown = format!("{client:?} {flow:?} {metadata:?} {client:#?} {flow:#?} {metadata:#?}");
    for secret in [
        "url-pw-1111",
        "query-secret-2222",
        "query-key-3333",
        "meta-pw-4444",
        "meta-token-5555",
        "meta-sig-6666",
    ] {
        assert!(!shown.contains(secret), "{secret} survived: {shown}");
    }
    // What is not a credential is still shown.
    for kept in ["auth.example.com/token", "tenant=t1", "audience=x", "/jwks"] {
        assert!(shown.contains(kept), "{kept} is missing: {shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// The property: no registered secret survives, in any supported encoding, whatever the cut
// ---------------------------------------------------------------------------------------------

/// Printable characters, ASCII and not, including the ones encoders treat specially.
fn secret_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('!', '~'),
        1 => Just(' '),
        1 => prop::sample::select(vec!['ä', 'ö', 'é', 'ß', 'Ω', 'ж', '中', '€', '😀', '𝄞']),
    ]
}

fn secret() -> impl Strategy<Value = String> {
    // MIN_SCRUB_LEN is 4 bytes; a key shorter than that is not scrubbed (by design).
    proptest::collection::vec(secret_char(), 4..40)
        .prop_map(|cs| cs.into_iter().collect::<String>())
        .prop_filter("at least 4 bytes", |s| s.len() >= 4)
}

fn filler() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::char::range(' ', '~'),
            1 => prop::sample::select(vec!['ä', '\n', '中', '😀', '%', '\\', '=']),
        ],
        0..60,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// One server for every case: it answers `400` with the body it was sent.
fn echo_body(request: &Request) -> String {
    String::from_utf8_lossy(&request.body).into_owned()
}

fn runtime() -> &'static (tokio::runtime::Runtime, MockServer) {
    static RT: std::sync::OnceLock<(tokio::runtime::Runtime, MockServer)> =
        std::sync::OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(async {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(Echo(400, echo_body))
                .mount(&server)
                .await;
            server
        });
        (rt, server)
    })
}

/// Where the secret's own characters start in an encoded form: the base64 of `u:` / `us:`
/// before it is not secret.
fn secret_offset(name: &str) -> usize {
    match name {
        "base64 in basic" => 2,
        "base64 in basic 2" => 4,
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_registered_secret_survives_in_any_encoding_at_any_cut(
        password in secret(),
        encoding in 0usize..13,
        before in filler(),
        after in filler(),
        // Where the echo starts relative to the cut: well before it, straddling it, after it.
        shift in 0usize..400,
    ) {
        let (rt, server) = runtime();
        let (name, form) = encodings(&password).swap_remove(encoding);
        let lead = (CUT + 100).saturating_sub(shift + before.len());
        let body = format!("{}{before}{form}{after}", "x".repeat(lead));
        let error = rt.block_on(async {
            let api = Client::builder(server.uri())
                .auth(Basic::new("ada", Secret::from(password.as_str())))
                .build()
                .unwrap();
            status_error(api.post("p").body(body.clone()).send().await).await
        });
        let excerpt = &error.body_excerpt;
        // No form of the secret in the excerpt...
        for (other, shown) in encodings(&password) {
            prop_assert!(
                !excerpt.contains(&shown),
                "{name} echo, {other} form survived: {excerpt:?}"
            );
        }
        // ...and none cut in part: where the secret's characters began, the excerpt shows
        // the marker (or has already ended).
        let secret_at = lead + before.len() + secret_offset(name);
        if excerpt.get(..secret_at) == body.get(..secret_at)
            && let Some(kept) = excerpt.get(secret_at..).filter(|k| !k.is_empty())
        {
            prop_assert!(
                kept.starts_with(authed::redact::REDACTED),
                "{name} echo at {secret_at}: the excerpt keeps {kept:?}"
            );
        }
    }
}
