//! [`Response`], and the error built from an answer that is not a success.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header::WWW_AUTHENTICATE};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::{
    error::{DecodeError, Error, RequestInfo, Result, StatusError, TransportError, TransportKind},
    redact::{self, REDACTED, Redactor},
    retry::RetryStop,
};

/// Bytes of an error response's body kept in [`StatusError::body_excerpt`]: enough for any
/// JSON error object, small enough that a server sending megabytes cannot bloat our errors.
///
/// The body is scrubbed before it is cut: a little more is read (the longest encoded form of
/// the longest credential the request carried), scrubbed, and then cut at this many bytes on
/// a character boundary, so that a credential straddling the cut shows as one whole
/// `[redacted]` marker (which may end past the limit), never as a prefix.
pub const MAX_ERROR_BODY: usize = 4096;

/// Response headers that carry a request id, in the order they are looked for.
const REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-github-request-id",
    "x-correlation-id",
    "cf-ray",
];

/// The final answer to a request: a success, or any status the request accepted
/// ([`crate::RequestBuilder::any_status`]). Read its body once, with [`Response::json`],
/// [`Response::text`], [`Response::bytes`], or in pieces with [`Response::chunk`] /
/// [`Response::bytes_stream`].
///
/// ```no_run
/// # async fn run(api: authed::Client) -> authed::Result<()> {
/// let response = api.get("report.csv").send().await?;
/// println!("{} after {} attempt(s)", response.status(), response.attempts());
/// let mut response = response;
/// while let Some(piece) = response.chunk().await? {
///     // write `piece` somewhere: the body is never held whole in memory
/// #   let _ = piece;
/// }
/// # Ok(()) }
/// ```
pub struct Response {
    inner: reqwest::Response,
    sent: Sent,
}

/// What a response remembers of its request, for the errors its body may still produce. The
/// URL as sent is the reqwest response's own (authed follows redirects itself, so it is the
/// last hop's, credential query included; shown only redacted).
struct Sent {
    method: Method,
    redactor: Redactor,
    attempts: u32,
    started: Instant,
}

impl Response {
    pub(crate) fn new(
        inner: reqwest::Response,
        method: Method,
        redactor: Redactor,
        attempts: u32,
        started: Instant,
    ) -> Self {
        Self {
            inner,
            sent: Sent {
                method,
                redactor,
                attempts,
                started,
            },
        }
    }

    /// What the request was, with this response's status.
    pub(crate) fn info(&self) -> RequestInfo {
        info(&self.sent, self.inner.url(), Some(self.inner.status()))
    }

    /// What the request carried, to scrub text taken from this response (the OAuth client
    /// scrubs `error_description` with it).
    #[cfg(feature = "oauth2")]
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.sent.redactor
    }

    /// The status: a success, unless the request accepted others.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL as sent (credentials included: never show it).
    pub(crate) fn url(&self) -> &url::Url {
        self.inner.url()
    }

    /// The URL of the last hop, with credentials redacted.
    pub fn redacted_url(&self) -> String {
        self.sent.redactor.url(self.inner.url())
    }

    /// The next page of a listing: the target of this response's `Link: <…>; rel="next"`
    /// header (RFC 8288, as GitHub and GitLab send it), resolved against the URL the response
    /// came from; `None` when there is none or it is not an http(s) URL. For reading a listing
    /// page by page (pages that are not JSON arrays, a page count of your own);
    /// [`crate::RequestBuilder::paginate`] follows the same links item by item, and also stops
    /// at a link to another origin or back to a page already read.
    ///
    /// Send it with the same client, which decides whether credentials may go to its origin.
    /// It is the server's text: it may carry a credential the server copied into it (an
    /// `api_key` query parameter), so show it only redacted
    /// ([`crate::redact::CredentialNames::url`]).
    ///
    /// ```no_run
    /// # async fn run(api: authed::Client) -> authed::Result<()> {
    /// let mut page = api.get("search/issues").query(&[("q", "is:open")]).send().await?;
    /// for _ in 0..10 {
    ///     let next = page.next_link();
    ///     let body: serde_json::Value = page.json().await?;
    ///     println!("{}", body["items"]);
    ///     match next {
    ///         Some(next) => page = api.get(next.as_str()).send().await?,
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn next_link(&self) -> Option<url::Url> {
        super::paginate::next_link(self.inner.headers(), self.inner.url())
    }

    /// How many times the request went out (redirect hops and retries included).
    pub fn attempts(&self) -> u32 {
        self.sent.attempts
    }

    /// Turns a status that is not a success into [`Error::Status`] (with a bounded, scrubbed
    /// body excerpt), for a request sent with [`crate::RequestBuilder::any_status`].
    ///
    /// # Errors
    ///
    /// [`Error::Status`] when the status is not a 2xx.
    pub async fn error_for_status(self) -> Result<Self> {
        if self.status().is_success() {
            return Ok(self);
        }
        let info = self.info();
        Err(status_error(info, &self.sent.redactor, self.inner).await)
    }

    /// The next piece of the body, `None` at its end.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with [`TransportKind::Body`] (or `Timeout`) when the body could
    /// not be read. It is not retried, whatever the method (see "Failures after the response"
    /// in [`crate::retry`]): its `retry_stop` is [`RetryStop::ResponseReturned`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        match self.inner.chunk().await {
            Ok(chunk) => Ok(chunk),
            Err(e) => Err(transport(
                info(&self.sent, self.inner.url(), None),
                body_kind(&e),
                e,
            )),
        }
    }

    /// The body as a stream of pieces, for large downloads.
    pub fn bytes_stream(self) -> BodyStream {
        let url = self.inner.url().clone();
        BodyStream {
            inner: Box::pin(self.inner.bytes_stream()),
            sent: Arc::new((self.sent, url)),
        }
    }

    /// The whole body, read chunk by chunk so that the response (and its URL, for an
    /// error) stays at hand without a copy. A body of one chunk, the usual API answer, is
    /// returned as it came.
    async fn read(&mut self) -> Result<Bytes> {
        let Some(first) = self.chunk().await? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.chunk().await? else {
            return Ok(first);
        };
        let mut all = bytes::BytesMut::with_capacity(first.len() + second.len());
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(more) = self.chunk().await? {
            all.extend_from_slice(&more);
        }
        Ok(all.freeze())
    }

    /// The whole body, if it is at most `limit` bytes: [`Error::BodyTooLarge`] for a
    /// `Content-Length` above it (nothing is read), or as soon as the bytes read pass it (the
    /// rest is never read: the connection is closed when the response is dropped). For the
    /// bodies the client reads for itself ([`crate::oauth2::MAX_OAUTH_BODY`]).
    #[cfg(feature = "oauth2")]
    pub(crate) async fn bytes_limited(mut self, limit: usize) -> Result<Bytes> {
        self.read_limited(limit).await
    }

    /// [`Response::json`] for a body of at most `limit` bytes (see
    /// [`Response::bytes_limited`]).
    #[cfg(feature = "oauth2")]
    pub(crate) async fn json_limited<T: DeserializeOwned>(mut self, limit: usize) -> Result<T> {
        let bytes = self.read_limited(limit).await?;
        self.decode(&bytes)
    }

    #[cfg(feature = "oauth2")]
    async fn read_limited(&mut self, limit: usize) -> Result<Bytes> {
        let declared = self.inner.content_length();
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(self.too_large(limit, declared));
        }
        let mut all = bytes::BytesMut::new();
        while let Some(more) = self.chunk().await? {
            if more.len() > limit - all.len() {
                return Err(self.too_large(limit, declared));
            }
            all.extend_from_slice(&more);
        }
        Ok(all.freeze())
    }

    #[cfg(feature = "oauth2")]
    fn too_large(&self, limit: usize, declared: Option<u64>) -> Error {
        Error::BodyTooLarge(Box::new(crate::error::BodyTooLargeError {
            request: self.info(),
            limit,
            declared,
        }))
    }

    /// The whole body.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with [`TransportKind::Body`] (or `Timeout`) when the body could
    /// not be read (a connection dropped mid-body, a truncated body). Not retried, even for
    /// an idempotent request: see "Failures after the response" in [`crate::retry`].
    pub async fn bytes(mut self) -> Result<Bytes> {
        self.read().await
    }

    /// The body as text (invalid UTF-8 is replaced with U+FFFD).
    ///
    /// # Errors
    ///
    /// As [`Response::bytes`].
    pub async fn text(self) -> Result<String> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Decodes the JSON body into `T`. An empty body decodes as `null` (so `()` and `Option`
    /// work for `204 No Content`).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] naming the field that failed (`items[2].id`), with values from the
    /// body redacted; or an error of [`Response::bytes`].
    pub async fn json<T: DeserializeOwned>(mut self) -> Result<T> {
        let bytes = self.read().await?;
        self.decode(&bytes)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let input: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            bytes
        };
        let mut de = serde_json::Deserializer::from_slice(input);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let message = redact::serde_message(&e.into_inner().to_string());
            let sent = &self.sent;
            Error::Decode(Box::new(DecodeError {
                request: info(sent, self.inner.url(), None),
                path: sent.redactor.scrub(&path).into_owned(),
                message: sent.redactor.scrub(&message).into_owned(),
            }))
        })
    }
}

fn info(sent: &Sent, url: &url::Url, last_status: Option<StatusCode>) -> RequestInfo {
    RequestInfo {
        method: sent.method.clone(),
        url: sent.redactor.url(url),
        attempts: sent.attempts,
        elapsed: sent.started.elapsed(),
        waited: Duration::ZERO,
        last_status,
        retry_stop: None,
    }
}

/// What kind of failure a body read is.
fn body_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Body
    }
}

/// A failure while reading the body. The call ended when the response was returned, so it is
/// not retried, and the error says so ([`RetryStop::ResponseReturned`], see [`crate::retry`]).
fn transport(mut request: RequestInfo, kind: TransportKind, e: reqwest::Error) -> Error {
    request.retry_stop = Some(RetryStop::ResponseReturned);
    Error::Transport(Box::new(TransportError {
        request,
        kind,
        source: Arc::new(e.without_url()),
    }))
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.inner.status())
            .field("url", &self.redacted_url())
            .field(
                "headers",
                &redact::headers_for_debug(self.inner.headers(), |n| {
                    self.sent.redactor.is_header(n)
                }),
            )
            .field("attempts", &self.sent.attempts)
            .finish_non_exhaustive()
    }
}

type ReqwestStream = dyn futures_core::Stream<Item = reqwest::Result<Bytes>> + Send;

/// A response body as a [`futures_core::Stream`] of pieces ([`Response::bytes_stream`]); read
/// failures are [`Error::Transport`] like every other.
pub struct BodyStream {
    inner: Pin<Box<ReqwestStream>>,
    sent: Arc<(Sent, url::Url)>,
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyStream")
            .field("url", &self.sent.0.redactor.url(&self.sent.1))
            .finish_non_exhaustive()
    }
}

impl futures_core::Stream for BodyStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Err(e))) => {
                let (sent, url) = &*self.sent;
                let kind = body_kind(&e);
                Poll::Ready(Some(Err(transport(info(sent, url, None), kind, e))))
            }
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(b))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The headers of an error answer as kept in [`StatusError::headers`]: credential headers
/// (`set-cookie`, ...) show `[redacted]`, and every other value is scrubbed of the
/// credentials the request carried.
fn safe_headers(headers: &HeaderMap, redactor: &Redactor) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let shown = if redactor.is_header(name) || value.is_sensitive() {
            HeaderValue::from_static(REDACTED)
        } else {
            match value.to_str() {
                Ok(text) => match redactor.scrub(text) {
                    std::borrow::Cow::Borrowed(_) => value.clone(),
                    std::borrow::Cow::Owned(s) => {
                        HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(REDACTED))
                    }
                },
                // Not text: it cannot be scrubbed, so it is not kept.
                Err(_) => HeaderValue::from_static(REDACTED),
            }
        };
        out.append(name.clone(), shown);
    }
    out
}

/// [`Error::Status`] for `response`: the status, its headers, the request id, the challenge,
/// and a bounded excerpt of the body, all scrubbed of the credentials the request carried.
pub(crate) async fn status_error(
    request: RequestInfo,
    redactor: &Redactor,
    mut response: reqwest::Response,
) -> Error {
    let status = response.status();
    let headers = safe_headers(response.headers(), redactor);
    let text_of = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request_id = REQUEST_ID_HEADERS.iter().find_map(|name| text_of(name));
    let www_authenticate = text_of(WWW_AUTHENTICATE.as_str());
    // Scrub first, cut after: read past the cut by the longest form a credential can take,
    // so that one straddling the cut is seen whole and shown as the marker, not in part.
    let scrubber = redactor.scrubber();
    let limit = MAX_ERROR_BODY + scrubber.margin();
    let mut body = Vec::new();
    let mut more = false;
    // A body that fails to arrive is not worth hiding the status for.
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            more = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body);
    let (body_excerpt, truncated) = scrubber.excerpt(&text, MAX_ERROR_BODY, more);
    Error::Status(Box::new(StatusError {
        request,
        status,
        body_excerpt,
        body_truncated: truncated,
        request_id,
        www_authenticate,
        headers,
    }))
}

// The limited reads exist for the OAuth client.
#[cfg(all(test, feature = "oauth2"))]
mod tests {
    use super::*;

    fn response(body: &'static [u8], declare: bool) -> Response {
        let mut builder = http::Response::builder().status(200);
        if declare {
            builder = builder.header(http::header::CONTENT_LENGTH, body.len());
        }
        let inner = reqwest::Response::from(builder.body(body).expect("a response"));
        Response::new(
            inner,
            Method::POST,
            Redactor::new(Arc::default()),
            1,
            Instant::now(),
        )
    }

    #[tokio::test]
    async fn a_body_at_the_limit_is_read_and_one_byte_more_is_refused() {
        for declare in [false, true] {
            let body = response(b"0123456789", declare)
                .bytes_limited(10)
                .await
                .expect("at the limit");
            assert_eq!(&body[..], b"0123456789");
            let err = response(b"0123456789", declare)
                .bytes_limited(9)
                .await
                .expect_err("past the limit");
            let Error::BodyTooLarge(e) = &err else {
                panic!("{err:?}")
            };
            assert_eq!(e.limit, 9);
            assert_eq!(e.request.last_status, Some(StatusCode::OK));
            assert!(err.to_string().contains("limit of 9 bytes"), "{err}");
        }
        assert!(
            response(b"", false)
                .bytes_limited(0)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
