//! Redirects and where credentials may go: the public redirect [`Policy`], the next-hop rules,
//! and the origin policy that decides, for every hop, whether credentials go with it.
//!
//! What a policy decides is only *whether* to follow. What travels with the next hop is not
//! its business and cannot be changed from it:
//!
//! - 301, 302 and 303 continue as `GET` without a body (`HEAD` stays `HEAD`); 307 and 308
//!   replay the method and the body (a stream cannot be replayed: the redirect fails);
//! - a 307 or 308 that would replay a body to another origin is not followed
//!   ([`RedirectKind::BodyToOtherOrigin`]) unless the policy opts in with
//!   [`Policy::replay_body_cross_origin`], and one from `https` to plain `http` never is
//!   ([`RedirectKind::BodyToPlainHttp`]);
//! - a hop to another origin carries no credentials: no scheme is asked, credential headers
//!   set by hand stay behind for good, and credential values copied into the `Location`'s
//!   query are removed;
//! - credentials go only to the base URL's origin and the origins allowed on the builder, and
//!   never over plain `http://` to a host that is not loopback unless the builder allows it
//!   (loopback means `127.0.0.0/8`, `::1` or exactly `localhost`; `*.localhost` is not: see
//!   [`is_loopback`]).

use std::{fmt, sync::Arc};

use http::{
    HeaderMap, HeaderName, Method, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION},
};
use url::{Origin, Url};

use crate::{
    error::{Error, RedirectKind, Result},
    path::same_origin,
    redact::Redactor,
};

/// Redirect hops followed by default before [`RedirectKind::TooMany`]. Browsers and reqwest
/// use 10 or more; 10 is enough for any API and stops loops quickly.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

type CustomFn = dyn Fn(Attempt<'_>) -> Action + Send + Sync;

/// Which redirects a client follows, in the shape of `reqwest::redirect::Policy`.
///
/// ```
/// use authed::redirect::Policy;
///
/// // Follow at most 3 hops, and never to a host outside example.com.
/// let policy = Policy::custom(|attempt| {
///     if attempt.previous().len() >= 3 {
///         attempt.error()
///     } else if attempt.url().host_str().is_some_and(|h| h.ends_with(".example.com")) {
///         attempt.follow()
///     } else {
///         attempt.stop()
///     }
/// });
/// # let _ = policy;
/// ```
///
/// # Request bodies on 307 and 308
///
/// A 307 or 308 asks for the same request again, body included. Browsers, curl and Go send
/// the body wherever the `Location` points; authed does not, by default, when it points to
/// another origin: a body sent to an authenticated API often carries secrets of its own (a
/// JSON login, a form with a password), and the new origin is one the server chose, not the
/// caller. Such a hop fails with [`RedirectKind::BodyToOtherOrigin`], naming the target
/// origin. [`Policy::replay_body_cross_origin`] lets it through. A hop from `https` to plain
/// `http` with a body fails with [`RedirectKind::BodyToPlainHttp`] whatever the policy says.
/// A 307/308 without a body (or with an empty one), and 301/302/303 (which drop the body),
/// are not affected.
#[derive(Clone)]
pub struct Policy {
    kind: Kind,
    replay_body_cross_origin: bool,
}

#[derive(Clone)]
enum Kind {
    Limited(usize),
    None,
    Custom(Arc<CustomFn>),
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Limited(n) => write!(f, "Policy::limited({n})")?,
            Kind::None => f.write_str("Policy::none()")?,
            Kind::Custom(_) => f.write_str("Policy::custom(..)")?,
        }
        if self.replay_body_cross_origin {
            f.write_str(".replay_body_cross_origin(true)")?;
        }
        Ok(())
    }
}

impl Default for Policy {
    /// [`Policy::limited`] with [`DEFAULT_MAX_REDIRECTS`].
    fn default() -> Self {
        Self::limited(DEFAULT_MAX_REDIRECTS)
    }
}

impl Policy {
    /// Follows up to `hops` redirects; one more fails with [`RedirectKind::TooMany`].
    /// `limited(0)` is [`Policy::none`].
    pub fn limited(hops: usize) -> Self {
        Self::of(Kind::Limited(hops))
    }

    /// Follows none: a 3xx is the final answer (an [`Error::Status`] unless the request
    /// accepts any status).
    pub fn none() -> Self {
        Self::of(Kind::None)
    }

    /// Decides each hop with `decide`, which sees the status, the next URL and the URLs
    /// visited so far.
    pub fn custom<F>(decide: F) -> Self
    where
        F: Fn(Attempt<'_>) -> Action + Send + Sync + 'static,
    {
        Self::of(Kind::Custom(Arc::new(decide)))
    }

    fn of(kind: Kind) -> Self {
        Self {
            kind,
            replay_body_cross_origin: false,
        }
    }

    /// Whether a 307 or 308 to another origin may send the request body there again (off by
    /// default: such a hop fails with [`RedirectKind::BodyToOtherOrigin`]).
    ///
    /// Turn it on only when every origin the API may redirect to should see what you post
    /// (an upload service behind a 307, say). Credentials still stay behind, and a hop from
    /// `https` to plain `http` still never carries a body ([`RedirectKind::BodyToPlainHttp`]).
    ///
    /// ```
    /// use authed::redirect::Policy;
    /// let uploads = Policy::limited(3).replay_body_cross_origin(true);
    /// # let _ = uploads;
    /// ```
    #[must_use]
    pub fn replay_body_cross_origin(mut self, replay: bool) -> Self {
        self.replay_body_cross_origin = replay;
        self
    }

    /// Whether a 307/308 hop from `from` to `to` may carry the request body again: never from
    /// https to plain http, and to another origin only with the opt-in.
    pub(crate) fn check_body_hop(
        &self,
        from: &Url,
        to: &Url,
    ) -> std::result::Result<(), RedirectKind> {
        if from.scheme() == "https" && to.scheme() == "http" {
            return Err(RedirectKind::BodyToPlainHttp);
        }
        if !self.replay_body_cross_origin && !same_origin(from, to) {
            return Err(RedirectKind::BodyToOtherOrigin);
        }
        Ok(())
    }

    /// Whether to follow a redirect to `next`, after `previous` hops: `Ok(true)` to follow,
    /// `Ok(false)` to take the 3xx as the final answer.
    pub(crate) fn decide(
        &self,
        status: StatusCode,
        next: &Url,
        previous: &[Url],
    ) -> std::result::Result<bool, RedirectKind> {
        let attempt = Attempt {
            status,
            next,
            previous,
        };
        match &self.kind {
            Kind::None | Kind::Limited(0) => Ok(false),
            Kind::Limited(max) if previous.len() >= *max => Err(RedirectKind::TooMany),
            Kind::Limited(_) => Ok(true),
            Kind::Custom(decide) => match decide(attempt).0 {
                Act::Follow => Ok(true),
                Act::Stop => Ok(false),
                Act::Error => Err(RedirectKind::Refused),
            },
        }
    }

    /// `true` when no redirect is ever followed.
    #[cfg(test)]
    fn is_none(&self) -> bool {
        matches!(self.kind, Kind::None | Kind::Limited(0))
    }
}

/// One redirect, as a [`Policy::custom`] function sees it.
#[derive(Debug)]
pub struct Attempt<'a> {
    status: StatusCode,
    next: &'a Url,
    previous: &'a [Url],
}

impl Attempt<'_> {
    /// The redirect's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Where it leads (before any credential is added).
    pub fn url(&self) -> &Url {
        self.next
    }

    /// The URLs requested so far, the first request's first.
    pub fn previous(&self) -> &[Url] {
        self.previous
    }

    /// Follow it.
    pub fn follow(self) -> Action {
        Action(Act::Follow)
    }

    /// Do not follow it: the 3xx is the final answer.
    pub fn stop(self) -> Action {
        Action(Act::Stop)
    }

    /// Fail the request with [`RedirectKind::Refused`] (or [`RedirectKind::TooMany`] from
    /// [`Policy::limited`]).
    pub fn error(self) -> Action {
        Action(Act::Error)
    }
}

/// What a [`Policy`] decided for one redirect.
#[derive(Debug)]
pub struct Action(pub(crate) Act);

#[derive(Debug)]
pub(crate) enum Act {
    Follow,
    Stop,
    Error,
}

/// `true` for the statuses that redirect (304 and 300 do not).
pub(crate) fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// Where a redirect leads: its `Location` resolved against `url`, fragment dropped.
pub(crate) fn location(url: &Url, headers: &HeaderMap) -> std::result::Result<Url, RedirectKind> {
    let location = headers.get(LOCATION).ok_or(RedirectKind::MissingLocation)?;
    let mut next = location
        .to_str()
        .ok()
        .and_then(|l| url.join(l).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or(RedirectKind::InvalidLocation)?;
    next.set_fragment(None);
    Ok(next)
}

/// `true` when a redirect with `status` continues as GET without a body.
pub(crate) fn drops_body(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
    )
}

/// The method of the next hop after a redirect with `status`.
pub(crate) fn next_method(status: StatusCode, method: &Method) -> Method {
    if drops_body(status) && *method != Method::HEAD {
        Method::GET
    } else {
        method.clone()
    }
}

/// Removes the headers that described a body that is no longer sent.
pub(crate) fn remove_body_headers(headers: &mut HeaderMap) {
    headers.remove(CONTENT_TYPE);
    headers.remove(CONTENT_LENGTH);
}

/// Removes every credential header (the built-in list, the user's additions, and whatever
/// authentication wrote on this request).
pub(crate) fn strip_credential_headers(headers: &mut HeaderMap, redactor: &Redactor) {
    if !headers.keys().any(|n| redactor.is_header(n)) {
        return;
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| redactor.is_header(n))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

/// Removes from `url` every query parameter that authentication wrote on this request, or whose
/// value is a credential the request carried.
pub(crate) fn strip_credential_query(url: &mut Url, redactor: &Redactor) {
    let Some(query) = url.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let mut parsed = url::form_urlencoded::parse(pair.as_bytes());
            match parsed.next() {
                Some((name, value)) => {
                    !redactor
                        .auth_query_names()
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&name))
                        && !redactor.is_credential_value(&value)
                }
                None => true,
            }
        })
        .collect();
    if kept.len() != query.split('&').count() {
        let joined = kept.join("&");
        url.set_query(if joined.is_empty() {
            None
        } else {
            Some(&joined)
        });
    }
}

/// `true` for the hosts that may get credentials over plain `http://` without an opt-in: the IP
/// literals 127.0.0.0/8 and `::1`, and the exact name `localhost` (any case).
///
/// Names are not resolved here, so a name counts only if every resolver maps it to loopback.
/// RFC 6761 reserves `*.localhost` for loopback, but nothing enforces it: a resolver that does
/// not special-case it (or a `/etc/hosts` or DNS search-domain entry) may send
/// `api.localhost` anywhere, and the credentials with it. So `*.localhost` and `localhost.`
/// are ordinary hosts: plain http to them needs `allow_http_credentials(true)`. IPv4-mapped
/// IPv6 (`::ffff:127.0.0.1`) is not accepted either; write `127.0.0.1`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The origins credentials may go to, and whether plain http is acceptable.
#[derive(Clone, Debug)]
pub(crate) struct Origins {
    /// The first is the home origin (the base URL's), checked without allocating.
    home: Url,
    allowed: Vec<Origin>,
    allow_http: bool,
}

impl Origins {
    /// Credentials for `home`'s origin and each of `others` (http(s) URLs with a host).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an origin that does not parse or is not http(s).
    pub(crate) fn new(home: &Url, others: &[String], allow_http: bool) -> Result<Self> {
        let mut allowed = vec![home.origin()];
        for origin in others {
            let url = Url::parse(origin).map_err(|e| {
                Error::config(format!("allowed origin {origin:?} does not parse: {e}"))
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(Error::config(format!(
                    "allowed origin {origin:?} must be an http(s) URL with a host"
                )));
            }
            allowed.push(url.origin());
        }
        Ok(Self {
            home: home.clone(),
            allowed,
            allow_http,
        })
    }

    /// The origins, serialized, for `Debug`.
    pub(crate) fn names(&self) -> Vec<String> {
        self.allowed
            .iter()
            .map(Origin::ascii_serialization)
            .collect()
    }

    fn contains(&self, url: &Url) -> bool {
        same_origin(url, &self.home)
            || (self.allowed.len() > 1 && self.allowed[1..].contains(&url.origin()))
    }

    /// `Ok(true)` when credentials may go to `url`, `Ok(false)` when they must not.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when they would go over plain http to a host that is not loopback.
    pub(crate) fn allows(&self, url: &Url) -> Result<bool> {
        if !self.contains(url) {
            return Ok(false);
        }
        if url.scheme() == "http" && !is_loopback(url) && !self.allow_http {
            return Err(Error::config(format!(
                "refusing to send credentials over plain http to {}: use https, or call \
                 allow_http_credentials(true) on the builder if you accept that anyone on the \
                 path can read them",
                url.host_str().unwrap_or("?")
            )));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn limited_counts_hops_and_none_stops() {
        let next = url("https://a.example/2");
        let one = [url("https://a.example/1")];
        assert_eq!(
            Policy::limited(1).decide(StatusCode::FOUND, &next, &[]),
            Ok(true)
        );
        assert_eq!(
            Policy::limited(1).decide(StatusCode::FOUND, &next, &one),
            Err(RedirectKind::TooMany)
        );
        assert_eq!(
            Policy::none().decide(StatusCode::FOUND, &next, &[]),
            Ok(false)
        );
        assert!(Policy::limited(0).is_none());
        let refuse = Policy::custom(|a| {
            if a.url().host_str() == Some("a.example") {
                a.error()
            } else {
                a.follow()
            }
        });
        assert_eq!(
            refuse.decide(StatusCode::FOUND, &next, &[]),
            Err(RedirectKind::Refused)
        );
    }

    #[test]
    fn bodies_stay_with_their_origin_and_never_go_to_plain_http() {
        let strict = Policy::default();
        let open = Policy::default().replay_body_cross_origin(true);
        let home = url("https://api.example.com/login");
        let same = url("https://api.example.com:443/elsewhere");
        let other = url("https://evil.example.net/x");
        let down = url("http://api.example.com/login");
        assert_eq!(strict.check_body_hop(&home, &same), Ok(()));
        assert_eq!(
            strict.check_body_hop(&home, &other),
            Err(RedirectKind::BodyToOtherOrigin)
        );
        assert_eq!(open.check_body_hop(&home, &other), Ok(()));
        for policy in [&strict, &open] {
            assert_eq!(
                policy.check_body_hop(&home, &down),
                Err(RedirectKind::BodyToPlainHttp)
            );
        }
        // http to http on loopback (the test servers) is only an origin question.
        let a = url("http://127.0.0.1:1/");
        let b = url("http://127.0.0.1:2/");
        assert_eq!(open.check_body_hop(&a, &b), Ok(()));
        assert_eq!(
            strict.check_body_hop(&a, &b),
            Err(RedirectKind::BodyToOtherOrigin)
        );
        assert!(format!("{open:?}").contains("replay_body_cross_origin(true)"));
    }

    #[test]
    fn origins_allow_home_and_listed_origins_only() {
        let o = Origins::new(
            &url("https://api.example.com/v1/"),
            &["https://uploads.example.com".into()],
            false,
        )
        .unwrap();
        assert!(o.allows(&url("https://api.example.com:443/x")).unwrap());
        assert!(o.allows(&url("https://uploads.example.com/y")).unwrap());
        assert!(!o.allows(&url("https://evil.example.com/")).unwrap());
        assert!(!o.allows(&url("http://api.example.com/")).unwrap());
        let plain = Origins::new(&url("http://api.example.com/"), &[], false).unwrap();
        assert!(plain.allows(&url("http://api.example.com/")).is_err());
        let local = Origins::new(&url("http://127.0.0.1:8080/"), &[], false).unwrap();
        assert!(local.allows(&url("http://127.0.0.1:8080/a")).unwrap());
        assert!(Origins::new(&url("https://a/"), &["ftp://x".into()], false).is_err());
    }

    #[test]
    fn loopback_is_an_address_or_exactly_localhost() {
        for yes in [
            "http://127.0.0.1/",
            "http://127.255.0.1:9/",
            "http://[::1]:8080/",
            "http://localhost/",
            "http://LocalHost:1/",
        ] {
            assert!(is_loopback(&url(yes)), "{yes}");
        }
        for no in [
            "http://api.localhost/",
            "http://localhost./",
            "http://localhost.evil.example/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.0.0.1/",
            "http://0.0.0.0/",
        ] {
            assert!(!is_loopback(&url(no)), "{no}");
        }
        let named = Origins::new(&url("http://api.localhost:8080/"), &[], false).unwrap();
        assert!(named.allows(&url("http://api.localhost:8080/a")).is_err());
    }

    #[test]
    fn locations_resolve_and_reject_other_schemes() {
        let base = url("https://a.example/x/y");
        let mut h = HeaderMap::new();
        assert_eq!(location(&base, &h), Err(RedirectKind::MissingLocation));
        h.insert(LOCATION, "../z#frag".parse().unwrap());
        assert_eq!(location(&base, &h).unwrap().as_str(), "https://a.example/z");
        h.insert(LOCATION, "javascript:alert(1)".parse().unwrap());
        assert_eq!(location(&base, &h), Err(RedirectKind::InvalidLocation));
    }
}
