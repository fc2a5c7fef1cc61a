//! The send loop: one request, from [`RequestBuilder::send`] to its final answer.
//!
//! ```text
//! send(request)
//!   loop attempt():
//!     pace          wait at the request's gate                        (throttle.rs, ratelimit/)
//!     credentials   may this origin get them? strip them if not       (redirect.rs: Origins)
//!     authenticate  each scheme writes through AuthRequest            (credentials.rs)
//!     transmit      reqwest sends it (its redirects and retries are off)
//!     classify      observe the rate-limit headers, then decide:      (retry.rs, redirect.rs)
//!       -> Next::Done | Follow(url, wait) | Retry(wait) | Replay | Fail(error)
//!   match next { ... }   one place acts on the decision
//! ```
//!
//! Each phase is a small function over plain values; the policies it consults (retry classes
//! and budget, the redirect policy, the pacing gate, the credential origins) live in their
//! own modules and never see the client.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use super::{
    Client, Inner,
    credentials::{self, Applied, AuthList},
    redirect::{self, Policy as RedirectPolicy},
    request::{Body, IDEMPOTENCY_KEY, RequestBuilder},
    response::{Response, status_error},
    throttle::{Answer, OriginState, Throttle},
};
use crate::{
    audit::{self, AuditEvent, Outcome, WaitEvent, WaitReason},
    error::{
        Error, RateLimitedError, RedirectError, RedirectKind, RequestInfo, Result, TransportError,
        TransportKind,
    },
    ratelimit::{DelaySource, OnWait, RateLimitState, Ticket},
    redact::Redactor,
    retry::{self, Clock, Hint, Retries, RetryReason, RetryStop},
};

/// What one attempt decided.
enum Next {
    /// The final answer.
    Done(reqwest::Response),
    /// Follow a redirect to this URL, after this wait (a `Retry-After` on the 3xx).
    Follow(Url, Duration),
    /// Try again after this wait, for this reason.
    Retry(Duration, RetryReason),
    /// Send again at once: a scheme renewed its credential after a 401.
    Replay,
    /// Give up.
    Fail(Error),
}

impl RequestBuilder {
    /// Sends the request, follows redirects, retries what may be retried, and returns the
    /// final answer: a success, or any status with [`RequestBuilder::any_status`].
    ///
    /// # Errors
    ///
    /// - [`Error::Status`] for a non-2xx answer (after any retries), with a scrubbed body
    ///   excerpt, the headers, the request id, and the attempts made and time waited;
    /// - [`Error::RateLimited`] when the server asked for a longer wait than
    ///   [`crate::RetryPolicy::max_retry_after`] (or pacing would take that long);
    /// - [`Error::Transport`] when the exchange failed (the URL is redacted);
    /// - [`Error::Redirect`] for a redirect loop, a bad `Location`, a hop the redirect policy
    ///   refused, or a stream that a 307/308 needed again;
    /// - [`Error::Deadline`] when the overall deadline ran out;
    /// - [`Error::Config`] or [`Error::InvalidUrl`] for a request that could not be built, or
    ///   credentials that would go over plain http;
    /// - [`Error::Auth`] (or another error of the scheme) when an auth scheme failed.
    pub async fn send(self) -> Result<Response> {
        let mut request = self;
        let url = match (request.url.take(), request.error.take()) {
            (Some(url), None) => url,
            (_, error) => {
                let error = error.unwrap_or_else(|| Error::invalid_url("the request has no URL"));
                let inner = &request.client.inner;
                audit_event(inner, Unsent(&request.method).event("(invalid URL)".into()));
                return Err(error);
            }
        };
        let (client, mut call) = Call::new(request, url);
        let inner = &*client.inner;
        let span = call.span();
        // The loop's future is large (it holds reqwest's); boxing it once keeps `send()`'s own
        // future small, so callers do not copy kilobytes each time they move it.
        let result = match call.deadline {
            None => Box::pin(call.run(inner).instrument(span.clone())).await,
            Some(limit) => {
                let run = Box::pin(call.run(inner).instrument(span.clone()));
                let outcome = tokio::time::timeout(limit, run).await;
                outcome.unwrap_or_else(|_| {
                    Err(Error::Deadline {
                        request: call.info(),
                        deadline: limit,
                    })
                })
            }
        };
        call.close(&span, &result);
        call.audit(inner, &result);
        result
    }
}

impl Call {
    /// The request's span, with OpenTelemetry's HTTP client field names
    /// (`http.request.method`, `url.full` redacted, `server.address`, `server.port`,
    /// `http.response.status_code`, `http.request.resend_count`). Retries, waits and
    /// redirects are events inside it. Nothing is computed when no subscriber wants it.
    fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            target: "authed::client",
            "request",
            otel.name = %self.method,
            otel.kind = "client",
            http.request.method = %self.method,
            url.full = tracing::field::Empty,
            server.address = tracing::field::Empty,
            server.port = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            http.request.resend_count = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if !span.is_disabled() {
            span.record("url.full", self.redactor.url(&self.url).as_str());
            if let Some(host) = self.url.host_str() {
                span.record("server.address", host);
            }
            if let Some(port) = self.url.port_or_known_default() {
                span.record("server.port", port);
            }
        }
        span
    }

    /// Records how the request ended on its span.
    fn close(&self, span: &tracing::Span, result: &Result<Response>) {
        if span.is_disabled() {
            return;
        }
        // The URL as finally sent (after redirects, with query credentials redacted).
        match result {
            Ok(response) => span.record("url.full", response.redacted_url().as_str()),
            Err(_) => span.record("url.full", self.redacted_url().as_str()),
        };
        if let Some(status) = self.status {
            span.record("http.response.status_code", status.as_u16());
        }
        if self.attempts > 1 {
            span.record("http.request.resend_count", self.attempts - 1);
        }
        if let Err(e) = result {
            span.record("error.type", error_type(e));
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// A low-cardinality name for an error, for `error.type`.
fn error_type(error: &Error) -> &'static str {
    match error {
        Error::Status(_) => "status",
        Error::Transport(e) => match e.kind {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            _ => "transport",
        },
        Error::Redirect(_) => "redirect",
        Error::Decode(_) => "decode",
        Error::RateLimited(_) => "rate_limited",
        Error::Deadline { .. } => "deadline",
        Error::Auth { .. } | Error::OAuth(_) | Error::ReauthRequired { .. } => "auth",
        Error::Config { .. } | Error::InvalidUrl { .. } => "config",
        _ => "other",
    }
}

/// One call: what it sends, and what has happened so far (read by errors, the deadline and
/// the audit event).
struct Call {
    method: Method,
    /// The hop's URL, before authentication.
    url: Url,
    /// The URL as sent, when authentication changed it (a query credential).
    sent_url: Option<Url>,
    /// The request's own headers; the client's defaults are merged in per attempt.
    headers: HeaderMap,
    has_idempotency_key: bool,
    /// A redirect left the first origin: credential headers set by hand stay behind for good.
    left_origin: bool,
    /// A 301/302/303 dropped the body (and its content headers).
    body_dropped: bool,
    body: Body,
    auth: AuthList,
    /// Credentials were allowed on the last attempt.
    allowed: bool,
    timeout: Option<Duration>,
    redirect: Option<RedirectPolicy>,
    visited: Vec<Url>,
    retries: Retries,
    renewed: bool,
    any_status: bool,
    redactor: Redactor,
    attempts: u32,
    status: Option<StatusCode>,
    credential: Credential,
    started: Instant,
    deadline: Option<Duration>,
    deadline_at: Option<Instant>,
    waited: Duration,
    retry_stop: Option<RetryStop>,
}

impl Call {
    fn new(b: RequestBuilder, url: Url) -> (Client, Self) {
        let inner = &b.client.inner;
        let mut headers = b.headers;
        // Only a method that is not idempotent needs the key to be retried.
        let mut has_idempotency_key = !retry::is_idempotent(&b.method)
            && (headers.contains_key(&IDEMPOTENCY_KEY)
                || inner.default_headers.contains_key(&IDEMPOTENCY_KEY));
        if inner.idempotency_keys
            && (b.method == Method::POST || b.method == Method::PATCH)
            && !has_idempotency_key
        {
            // One key for every attempt of this call, so the server can tell a retry.
            let key = uuid::Uuid::new_v4().hyphenated().to_string();
            if let Ok(value) = HeaderValue::from_str(&key) {
                headers.insert(IDEMPOTENCY_KEY, value);
                has_idempotency_key = true;
            }
        }
        // Credentials set by hand are scrubbed from error text like the schemes' own: the
        // client's defaults were registered once when it was built; the request's own
        // credential headers (marked sensitive by `RequestBuilder::header`) are few.
        let mut redactor = Redactor::new(Arc::clone(&inner.names));
        if let Some(defaults) = &inner.default_credentials {
            redactor.add(defaults);
        }
        for (name, value) in &headers {
            if value.is_sensitive() && inner.names.is_header(name) {
                redactor.add_header_value(name, value);
            }
        }
        let started = Instant::now();
        let deadline = b.deadline.or(inner.deadline);
        let call = Self {
            method: b.method,
            url,
            sent_url: None,
            headers,
            has_idempotency_key,
            left_origin: false,
            body_dropped: false,
            body: b.body,
            auth: b.auth.unwrap_or_else(|| Arc::clone(&inner.auth)),
            allowed: false,
            timeout: b.timeout.unwrap_or(inner.timeout),
            redirect: b.redirect,
            visited: Vec::new(),
            retries: Retries::new(b.retry.unwrap_or_else(|| inner.retry.clone())),
            renewed: false,
            any_status: b.any_status,
            redactor,
            attempts: 0,
            status: None,
            credential: Credential::None,
            started,
            deadline,
            deadline_at: deadline.and_then(|d| started.checked_add(d)),
            waited: Duration::ZERO,
            retry_stop: None,
        };
        (b.client, call)
    }

    /// The loop: one attempt after another until one decides it is over.
    async fn run(&mut self, inner: &Inner) -> Result<Response> {
        loop {
            match self.attempt(inner).await {
                Next::Done(response) => return Ok(self.respond(response)),
                Next::Follow(next, wait) => {
                    let previous = std::mem::replace(&mut self.url, next);
                    self.visited.push(previous);
                    self.sent_url = None;
                    if !wait.is_zero() {
                        self.waited += wait;
                        self.waiting(inner, WaitReason::Redirect, wait);
                        tokio::time::sleep(wait).await;
                    }
                }
                Next::Retry(wait, reason) => {
                    self.waiting(inner, WaitReason::Retry(reason), wait);
                    tokio::time::sleep(wait).await;
                }
                Next::Replay => {}
                Next::Fail(error) => return Err(error),
            }
        }
    }

    /// One attempt: pace → credentials → authenticate → transmit → classify.
    async fn attempt(&mut self, inner: &Inner) -> Next {
        let origin = inner.throttle.origin(&self.url);
        let max_wait = self.retries.policy.max_retry_after;
        // Only with a hook: a closure over the call's fields (not `self`, whose `waited` the
        // gate adds to), told the length of each pacing wait.
        let (method, url, redactor, attempts) =
            (&self.method, &self.url, &self.redactor, self.attempts);
        let notify = |wait: Duration| {
            if let Some(hook) = &inner.on_wait {
                (hook.0)(&WaitEvent {
                    method: method.clone(),
                    url: redactor.url(url),
                    wait,
                    reason: WaitReason::Pacing,
                    attempts,
                });
            }
        };
        let on_wait: OnWait<'_> = match inner.on_wait {
            Some(_) => Some(&notify),
            None => None,
        };
        let paced = inner
            .throttle
            .pace(&origin, method, url, max_wait, &mut self.waited, on_wait)
            .await;
        let ticket = match paced {
            Ok(ticket) => ticket,
            Err(too_long) => {
                return Next::Fail(self.rate_limited(None, too_long.wait, None, too_long.snapshot));
            }
        };
        let (request, applied) = match self.prepare(inner).await {
            Ok(prepared) => prepared,
            Err(e) => return Next::Fail(e),
        };
        self.attempts += 1;
        tracing::debug!(
            target: "authed::client",
            method = %self.method,
            url = %self.redacted_url(),
            attempt = self.attempts,
            "sending"
        );
        match inner.http.execute(request).await {
            Ok(response) => {
                self.classify(inner, response, ticket, &origin, &applied)
                    .await
            }
            Err(e) => {
                drop(ticket);
                self.transport_failed(e, &origin)
            }
        }
    }

    /// The headers of this attempt: the client's defaults, the request's own over them, minus
    /// what redirects took away.
    fn headers(&self, inner: &Inner) -> HeaderMap {
        let defaults = &inner.default_headers;
        // Room for the credential headers and reqwest's own defaults too, so that neither
        // grows the map.
        let mut headers = HeaderMap::with_capacity(defaults.len() + self.headers.len() + 4);
        for (name, value) in defaults {
            if !self.headers.contains_key(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if self.body_dropped {
            redirect::remove_body_headers(&mut headers);
        }
        if self.left_origin {
            redirect::strip_credential_headers(&mut headers, &self.redactor);
        }
        headers
    }

    /// Builds the attempt's request: decides whether credentials may go to this origin, and
    /// lets the schemes write them.
    async fn prepare(&mut self, inner: &Inner) -> Result<(reqwest::Request, Applied)> {
        let mut headers = self.headers(inner);
        // Without schemes, only credentials set by hand make the origin matter.
        self.allowed =
            if self.auth.is_empty() && !headers.keys().any(|n| self.redactor.is_header(n)) {
                true
            } else {
                inner.origins.allows(&self.url)?
            };
        if !self.allowed {
            // Another origin: no scheme is asked, and credentials set by hand stay home.
            redirect::strip_credential_headers(&mut headers, &self.redactor);
            self.credential = Credential::Withheld;
        }
        let mut request = reqwest::Request::new(self.method.clone(), self.url.clone());
        *request.headers_mut() = headers;
        if self.timeout.is_some() {
            // reqwest keeps it in the request's extensions: no map for no timeout.
            *request.timeout_mut() = self.timeout;
        }
        match &mut self.body {
            Body::Empty => {}
            Body::Bytes(b) => *request.body_mut() = Some(reqwest::Body::from(b.clone())),
            Body::Stream(s) => match s.take() {
                Some(stream) => *request.body_mut() = Some(stream),
                None => {
                    let status = self.status.unwrap_or(StatusCode::TEMPORARY_REDIRECT);
                    return Err(self.redirect_error(status, RedirectKind::BodyNotReplayable));
                }
            },
        }
        let schemes: &[_] = if self.allowed { &self.auth } else { &[] };
        let applied = credentials::authenticate(schemes, &mut request, &mut self.redactor).await?;
        if self.allowed
            && !self.auth.is_empty()
            && !matches!(self.credential, Credential::Request(_))
        {
            self.credential = if Arc::ptr_eq(&self.auth, &inner.auth) {
                Credential::Client
            } else {
                Credential::Request(credentials::label(&self.auth))
            };
        }
        if applied.url_written {
            self.sent_url = Some(request.url().clone());
        }
        Ok((request, applied))
    }

    /// Decides what an answer means: done, follow, retry, replay, or fail.
    async fn classify(
        &mut self,
        inner: &Inner,
        response: reqwest::Response,
        ticket: Option<Ticket<'_>>,
        origin: &OriginState,
        applied: &Applied,
    ) -> Next {
        let status = response.status();
        self.status = Some(status);
        if self.allowed {
            // The schemes see every answer to their credentials (a DPoP nonce, RFC 9449 §9).
            credentials::answered(&self.auth, &self.url, status, response.headers());
        }
        let Answer {
            class,
            delay,
            paced,
        } = inner.throttle.answer(
            origin,
            ticket,
            &self.retries.policy,
            &self.method,
            &self.url,
            status,
            response.headers(),
        );
        if inner.supplied_reqwest && response.url() != self.sent_url.as_ref().unwrap_or(&self.url) {
            return Next::Fail(self.redirect_error(status, RedirectKind::FollowedByReqwest));
        }
        tracing::debug!(target: "authed::client", status = status.as_u16(), "response");
        let redirects = redirect::is_redirect(status);
        let retries = class.retries(self.replay_safe());
        if let Some((wait, source)) = delay
            && wait > self.retries.policy.max_retry_after
            && (redirects || retries)
        {
            let snapshot = Throttle::snapshot_of(origin);
            return Next::Fail(self.rate_limited(Some(status), wait, Some(source), snapshot));
        }
        if redirects {
            return self.follow(inner, response, delay).await;
        }
        if status.is_success() {
            self.retries.succeeded(&origin.budget);
            return Next::Done(response);
        }
        if self.allowed && !self.renewed && self.body.replayable() {
            match credentials::renew(&self.auth, &self.url, status, response.headers(), applied)
                .await
            {
                Ok(true) => {
                    self.renewed = true;
                    return Next::Replay;
                }
                Ok(false) => {}
                Err(e) => return Next::Fail(e),
            }
        }
        if retries {
            let hint = Hint::new(delay.map(|(d, _)| d), paced);
            let reason = RetryReason::Status(status);
            match self.plan(reason, hint, origin) {
                Ok(wait) => return Next::Retry(wait, reason),
                Err(stop) => self.retry_stop = Some(stop),
            }
        }
        self.finish(response).await
    }

    /// A redirect: follow it (as the policy allows), or take it as the final answer.
    async fn follow(
        &mut self,
        inner: &Inner,
        response: reqwest::Response,
        delay: Option<(Duration, DelaySource)>,
    ) -> Next {
        let status = response.status();
        let mut next = match redirect::location(&self.url, response.headers()) {
            Ok(next) => next,
            Err(kind) => return Next::Fail(self.redirect_error(status, kind)),
        };
        let policy = self.redirect.as_ref().unwrap_or(&inner.redirect);
        match policy.decide(status, &next, &self.visited) {
            Ok(true) => {}
            Ok(false) => return self.finish(response).await,
            Err(kind) => return Next::Fail(self.redirect_error(status, kind)),
        }
        if redirect::drops_body(status) {
            self.method = redirect::next_method(status, &self.method);
            self.body = Body::Empty;
            self.body_dropped = true;
        } else if matches!(self.body, Body::Stream(None)) {
            return Next::Fail(self.redirect_error(status, RedirectKind::BodyNotReplayable));
        } else if self.body.has_content()
            && let Err(kind) = policy.check_body_hop(&self.url, &next)
        {
            // The body was meant for this origin (see redirect::Policy).
            let mut error = self.redirect_error(status, kind);
            if let Error::Redirect(e) = &mut error {
                let origin = next.origin().ascii_serialization();
                e.target = Some(self.redactor.scrub(&origin).into_owned());
            }
            return Next::Fail(error);
        }
        if !crate::path::same_origin(&next, &self.url) {
            // Leaving the origin: credentials set by the caller stay behind for good, and so
            // does any credential value the server copied into the Location.
            self.left_origin = true;
            redirect::strip_credential_query(&mut next, &self.redactor);
        }
        tracing::debug!(
            target: "authed::client",
            status = status.as_u16(),
            to = %self.redactor.url(&next),
            "following redirect"
        );
        Next::Follow(next, delay.map_or(Duration::ZERO, |(d, _)| d))
    }

    /// No answer: retry what may be retried, else fail with a redacted transport error.
    fn transport_failed(&mut self, error: reqwest::Error, origin: &OriginState) -> Next {
        if let Some(reason) = transport_retry(&error, self.replay_safe()) {
            match self.plan(reason, Hint::None, origin) {
                Ok(wait) => return Next::Retry(wait, reason),
                Err(stop) => self.retry_stop = Some(stop),
            }
        }
        Next::Fail(Error::Transport(Box::new(TransportError {
            request: self.info(),
            kind: transport_kind(&error),
            source: Arc::new(error.without_url()),
        })))
    }

    /// The final answer: `Done` if the request accepts any status, else [`Error::Status`].
    async fn finish(&mut self, response: reqwest::Response) -> Next {
        if self.any_status {
            Next::Done(response)
        } else {
            Next::Fail(status_error(self.info(), &self.redactor, response).await)
        }
    }

    /// Whether to retry, and after how long (see [`Retries::plan`]).
    fn plan(
        &mut self,
        reason: RetryReason,
        server: Hint,
        origin: &OriginState,
    ) -> std::result::Result<Duration, RetryStop> {
        let clock = Clock {
            started: self.started,
            deadline: self.deadline_at,
        };
        let replayable = self.body.replayable();
        let wait = self
            .retries
            .plan(reason, server, replayable, &origin.budget, clock)?;
        self.waited += wait;
        tracing::info!(
            target: "authed::retry",
            method = %self.method,
            url = %self.redacted_url(),
            reason = %reason,
            retry = self.retries.made(),
            wait_ms = millis(wait),
            server_asked_ms = match server {
                Hint::Server(d) => Some(millis(d)),
                _ => None,
            },
            paced_by_gate = server == Hint::Paced,
            "retrying"
        );
        Ok(wait)
    }

    /// Tells the client's wait hook, if it has one, that the call is about to wait.
    fn waiting(&self, inner: &Inner, reason: WaitReason, wait: Duration) {
        if let Some(hook) = &inner.on_wait
            && !wait.is_zero()
        {
            (hook.0)(&WaitEvent {
                method: self.method.clone(),
                url: self.redacted_url(),
                wait,
                reason,
                attempts: self.attempts,
            });
        }
    }

    /// An idempotent method, or an `Idempotency-Key`: safe to send twice.
    fn replay_safe(&self) -> bool {
        retry::is_idempotent(&self.method) || self.has_idempotency_key
    }

    /// The final answer. The call is over: its redactor moves to the response.
    fn respond(&mut self, response: reqwest::Response) -> Response {
        Response::new(
            response,
            self.method.clone(),
            self.redactor.take(),
            self.attempts,
            self.started,
        )
    }

    fn redacted_url(&self) -> String {
        self.redactor
            .url(self.sent_url.as_ref().unwrap_or(&self.url))
    }

    fn info(&self) -> RequestInfo {
        RequestInfo {
            method: self.method.clone(),
            url: self.redacted_url(),
            attempts: self.attempts,
            elapsed: self.started.elapsed(),
            waited: self.waited,
            last_status: self.status,
            retry_stop: self.retry_stop,
        }
    }

    fn rate_limited(
        &self,
        status: Option<StatusCode>,
        retry_after: Duration,
        source: Option<DelaySource>,
        rate_limit: Option<RateLimitState>,
    ) -> Error {
        Error::RateLimited(Box::new(RateLimitedError {
            request: self.info(),
            status,
            retry_after,
            source,
            rate_limit,
        }))
    }

    fn redirect_error(&self, status: StatusCode, kind: RedirectKind) -> Error {
        Error::Redirect(Box::new(RedirectError {
            request: self.info(),
            status,
            kind,
            target: None,
        }))
    }

    fn audit(&self, inner: &Inner, result: &Result<Response>) {
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(Error::Status(_)) => Outcome::Status,
            Err(_) => Outcome::Failed,
        };
        if !audit::wanted(inner.audit.as_ref()) {
            return;
        }
        // A response reads the URL it was sent to from reqwest's answer.
        let url = match result {
            Ok(response) => response.redacted_url(),
            Err(_) => self.redacted_url(),
        };
        audit_event(
            inner,
            AuditEvent {
                at: SystemTime::now(),
                method: self.method.clone(),
                url,
                status: self.status,
                attempts: self.attempts,
                elapsed: self.started.elapsed(),
                credential: self.credential.label(inner).to_owned(),
                outcome,
            },
        );
    }
}

/// Which credential a request carried, for the audit trail (labels are resolved only when
/// an event is written).
enum Credential {
    None,
    /// The origin was not allowed to get credentials.
    Withheld,
    /// The client's schemes.
    Client,
    /// The request's own schemes ([`RequestBuilder::auth`]).
    Request(Arc<str>),
}

impl Credential {
    fn label<'a>(&'a self, inner: &'a Inner) -> &'a str {
        match self {
            Self::None => "none",
            Self::Withheld => "withheld",
            Self::Client => &inner.labels.auth,
            Self::Request(label) => label,
        }
    }
}

/// A request that failed before it was sent (its URL or a header did not build).
struct Unsent<'a>(&'a Method);

impl Unsent<'_> {
    fn event(&self, url: String) -> AuditEvent {
        AuditEvent {
            at: SystemTime::now(),
            method: self.0.clone(),
            url,
            status: None,
            attempts: 0,
            elapsed: Duration::ZERO,
            credential: "none".to_owned(),
            outcome: Outcome::Failed,
        }
    }
}

fn audit_event(inner: &Inner, event: AuditEvent) {
    if audit::wanted(inner.audit.as_ref()) {
        audit::emit(&event, inner.audit.as_ref());
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a request that got no answer may be retried; `None` when it may not (a TLS failure
/// will not fix itself; a request dropped mid-way is replayed only when that is safe).
pub(crate) fn transport_retry(error: &reqwest::Error, replay_safe: bool) -> Option<RetryReason> {
    let reason = match transport_kind(error) {
        TransportKind::Connect if retry::is_tls_failure(error) => return None,
        TransportKind::Connect => RetryReason::Connect,
        TransportKind::Timeout => RetryReason::Timeout,
        TransportKind::Request | TransportKind::Body => RetryReason::Dropped,
    };
    retry::transport_is_retryable(reason, replay_safe).then_some(reason)
}

fn transport_kind(error: &reqwest::Error) -> TransportKind {
    if error.is_connect() {
        TransportKind::Connect
    } else if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_body() || error.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Request
    }
}
