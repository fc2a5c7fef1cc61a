//! Hardening (issue 10, item 6): the size cap on bodies the client reads from the
//! authorization server.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use authed::{
    Error, Secret,
    oauth2::{ClientCredentials, DeviceAuthorization, MAX_OAUTH_BODY, OAuthClient, ServerMetadata},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

// ---------------------------------------------------------------------------------------
// Item 6: bodies read from the authorization server are capped.

/// How long the hostile bodies are: far past the cap, and past anything the kernel's socket
/// buffers could absorb, so that "the server wrote less than this" means "the client
/// stopped reading".
const HUGE: usize = 64 * 1024 * 1024;

/// A server on 127.0.0.1 that answers every request with `status`, then a JSON `start`
/// followed by whitespace up to `HUGE` bytes: chunked, or with a `Content-Length` that says
/// so. Returns its base URL and the number of body bytes it managed to write (the client
/// stopped reading when that is well under `HUGE`).
async fn huge_body_server(
    status: &'static str,
    start: &'static str,
    declare_length: bool,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                // The request head (the small form body that follows is left unread).
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let framing = if declare_length {
                    format!("content-length: {HUGE}")
                } else {
                    "transfer-encoding: chunked".to_owned()
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let filler = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < HUGE {
                    let piece: Vec<u8> = if sent == 0 {
                        let mut p = start.as_bytes().to_vec();
                        p.extend_from_slice(&filler[start.len()..]);
                        p
                    } else {
                        filler.clone()
                    };
                    let frame = if declare_length {
                        piece
                    } else {
                        let mut f = format!("{:x}\r\n", piece.len()).into_bytes();
                        f.extend_from_slice(&piece);
                        f.extend_from_slice(b"\r\n");
                        f
                    };
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                    sent += filler.len();
                    counter.fetch_add(filler.len(), Ordering::SeqCst);
                }
                if !declare_length {
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                }
            });
        }
    });
    (url, written)
}

/// Asserts that `result` is the typed size error and that the server could not push the
/// whole body: the client stopped reading.
#[track_caller]
fn assert_capped<T: std::fmt::Debug>(result: authed::Result<T>, written: &AtomicUsize) {
    let err = result.expect_err("a body past MAX_OAUTH_BODY must not be accepted");
    assert!(err.is_body_too_large(), "not the typed size error: {err:?}");
    let Error::BodyTooLarge(e) = &err else {
        unreachable!()
    };
    assert_eq!(e.limit, MAX_OAUTH_BODY);
    let text = err.to_string();
    assert!(text.contains("limit"), "{text}");
    let written = written.load(Ordering::SeqCst);
    assert!(
        written < HUGE / 2,
        "the client kept reading: the server wrote {written} of {HUGE} bytes"
    );
}

#[tokio::test]
async fn oauth_bodies_past_the_cap_are_refused_and_not_read_whole() {
    let token_body = r#"{"access_token":"a-1","token_type":"Bearer","expires_in":3600}"#;

    // Token endpoint, chunked (no length to refuse up front: the read must stop).
    let (url, written) = huge_body_server("200 OK", token_body, false).await;
    let auth = ClientCredentials::new(format!("{url}/token"), "id", "secret").into_auth();
    let result = tokio::time::timeout(Duration::from_secs(30), auth.token())
        .await
        .expect("the token request finishes");
    assert_capped(result, &written);

    // Token endpoint, with a Content-Length past the cap: refused before reading.
    let (url, written) = huge_body_server("200 OK", token_body, true).await;
    let auth = ClientCredentials::new(format!("{url}/token"), "id", "secret").into_auth();
    let result = tokio::time::timeout(Duration::from_secs(30), auth.token())
        .await
        .expect("the token request finishes");
    assert_capped(result, &written);

    // Device authorization endpoint.
    let (url, written) = huge_body_server(
        "200 OK",
        r#"{"device_code":"d","user_code":"U","verification_uri":"https://x.example/","expires_in":600}"#,
        false,
    )
    .await;
    let device = DeviceAuthorization::new(
        OAuthClient::new(format!("{url}/token"), "id"),
        format!("{url}/device"),
    );
    let result = tokio::time::timeout(Duration::from_secs(30), device.start())
        .await
        .expect("the device request finishes");
    assert_capped(result, &written);

    // Revocation endpoint, answering an error with a huge body.
    let (url, written) =
        huge_body_server("400 Bad Request", r#"{"error":"invalid_request"}"#, false).await;
    let client = OAuthClient::new(format!("{url}/token"), "id");
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        client.revoke(
            &format!("{url}/revoke"),
            &Secret::from("t-1"),
            "access_token",
        ),
    )
    .await
    .expect("the revocation finishes");
    assert_capped(result, &written);

    // Discovery (an unfinished document: only the cap may end the read).
    let (url, written) = huge_body_server("200 OK", "{", false).await;
    let result = tokio::time::timeout(Duration::from_secs(30), ServerMetadata::discover(&url))
        .await
        .expect("discovery finishes");
    assert_capped(result, &written);
}
