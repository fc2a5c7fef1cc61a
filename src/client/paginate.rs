//! Pagination by `Link: <…>; rel="next"` (RFC 8288), as GitHub, GitLab and many others do:
//! [`RequestBuilder::paginate`] and the [`Pages`] stream.

use std::{
    collections::{HashSet, VecDeque},
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderMap, Method, header::LINK};
use serde::de::DeserializeOwned;
use url::Url;

use super::{
    Client, credentials::AuthList, redirect::Policy as RedirectPolicy, request::RequestBuilder,
};
use crate::{
    error::{Error, Result},
    retry::RetryPolicy,
};

/// Pages one paginated listing follows at most before it stops with an error: a server whose
/// `next` links never end (or loop through changing URLs) must not hold a caller forever.
/// Take fewer with `StreamExt::take` when you want fewer.
pub const MAX_PAGES: usize = 10_000;

type PageStream<T> = dyn futures_core::Stream<Item = Result<T>> + Send;

/// The items of a paginated listing, page after page ([`RequestBuilder::paginate`]).
///
/// A [`futures_core::Stream`] of `Result<T>`: an error (a page that failed after its retries,
/// a body that does not decode, a `next` link to an origin the credentials may not go to) is
/// the last item.
pub struct Pages<T> {
    inner: Pin<Box<PageStream<T>>>,
}

impl<T> fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}

impl<T> futures_core::Stream for Pages<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// What every page request repeats from the first.
struct Template {
    client: Client,
    headers: HeaderMap,
    auth: Option<AuthList>,
    timeout: Option<Option<Duration>>,
    deadline: Option<Duration>,
    retry: Option<RetryPolicy>,
    redirect: Option<RedirectPolicy>,
}

impl Template {
    fn page(&self, url: Url) -> RequestBuilder {
        let mut request = RequestBuilder::new(self.client.clone(), Method::GET, Ok(url));
        request.headers = self.headers.clone();
        request.auth = self.auth.clone();
        request.timeout = self.timeout;
        request.deadline = self.deadline;
        request.retry = self.retry.clone();
        request.redirect = self.redirect.clone();
        request
    }
}

struct State<T> {
    template: Arc<Template>,
    next: Option<RequestBuilder>,
    items: VecDeque<T>,
    /// Why the listing ends, delivered after the last page's items.
    end: Option<Error>,
    /// Hashes of the page URLs requested (before authentication: no credential is kept).
    visited: HashSet<u64>,
}

impl RequestBuilder {
    /// Follows a listing page by page: each answer's body is a JSON array of `T`, and its
    /// `Link: <…>; rel="next"` header names the next page. Every page goes through the same
    /// pipeline as any request (authentication, retries, `Retry-After`, pacing), with this
    /// request's headers, auth, timeout, deadline (per page), retry and redirect policies;
    /// pages after the first are `GET`s of the `next` link.
    ///
    /// A `next` link to an origin the client's credentials may not go to (not the base URL's
    /// origin nor one allowed with [`crate::ClientBuilder::allow_origin`]) ends the listing with
    /// [`Error::InvalidUrl`] rather than being followed without credentials. A link that
    /// comes back to a page already read ends it too.
    ///
    /// `Pages` is a [`futures_core::Stream`]: with `futures::StreamExt`,
    /// `while let Some(repo) = repos.next().await { ... }`. Without a stream crate:
    ///
    /// ```no_run
    /// use std::{future::poll_fn, pin::Pin};
    ///
    /// # async fn run(github: authed::Client) -> authed::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Repo { full_name: String }
    ///
    /// let mut repos = github.get("user/repos").paginate::<Repo>();
    /// while let Some(repo) =
    ///     poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut repos), cx)).await
    /// {
    ///     println!("{}", repo?.full_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn paginate<T>(self) -> Pages<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let template = Arc::new(Template {
            client: self.client.clone(),
            headers: self.headers.clone(),
            auth: self.auth.clone(),
            timeout: self.timeout,
            deadline: self.deadline,
            retry: self.retry.clone(),
            redirect: self.redirect.clone(),
        });
        let state = State {
            template,
            next: Some(self),
            items: VecDeque::new(),
            end: None,
            visited: HashSet::new(),
        };
        Pages {
            inner: Box::pin(futures_util::stream::unfold(state, next_item)),
        }
    }
}

async fn next_item<T: DeserializeOwned>(mut state: State<T>) -> Option<(Result<T>, State<T>)> {
    loop {
        if let Some(item) = state.items.pop_front() {
            return Some((Ok(item), state));
        }
        if let Some(end) = state.end.take() {
            return Some((Err(end), state));
        }
        let request = state.next.take()?;
        match page(request, &state.template, &mut state.visited).await {
            Ok((items, next)) => {
                state.items = items.into();
                match next {
                    Ok(Some(url)) => state.next = Some(state.template.page(url)),
                    Ok(None) => {}
                    Err(end) => state.end = Some(end),
                }
            }
            // The error is the last item: `next` stays empty.
            Err(e) => return Some((Err(e), state)),
        }
    }
}

/// One page: its items, and the next page's URL (checked: an error there ends the listing
/// after these items). `visited` gains the page's URL.
async fn page<T: DeserializeOwned>(
    request: RequestBuilder,
    template: &Template,
    visited: &mut HashSet<u64>,
) -> Result<(Vec<T>, Result<Option<Url>>)> {
    if visited.len() >= MAX_PAGES {
        return Err(Error::invalid_url(format!(
            "the listing has more than {MAX_PAGES} pages; stopped"
        )));
    }
    if let Some(url) = &request.url {
        visited.insert(url_hash(url));
    }
    let response = request.send().await?;
    let next = next_link(response.headers(), response.url());
    let items: Vec<T> = response.json().await?;
    let next = match next {
        Some(next) => check_next(next, template, visited),
        None => Ok(None),
    };
    Ok((items, next))
}

/// A `next` link the listing may follow.
fn check_next(next: Url, template: &Template, visited: &HashSet<u64>) -> Result<Option<Url>> {
    let inner = &template.client.inner;
    let credentials = template
        .auth
        .as_ref()
        .map_or(!inner.auth.is_empty(), |a| !a.is_empty());
    if credentials && !inner.origins.allows(&next)? {
        return Err(Error::invalid_url(format!(
            "the next page link leads to {}, where this client's credentials may not go; not \
             followed (allow the origin on the builder if it is the API's own)",
            next.origin().ascii_serialization()
        )));
    }
    if visited.contains(&url_hash(&next)) {
        return Err(Error::invalid_url(
            "the next page link leads back to a page already read; stopped",
        ));
    }
    Ok(Some(next))
}

/// A URL's hash, the same for the same URL for the life of the listing.
fn url_hash(url: &Url) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(url.as_str())
}

/// The `rel="next"` target of the `Link` headers, resolved against `base`; `None` when there
/// is none or it does not parse.
pub(crate) fn next_link(headers: &HeaderMap, base: &Url) -> Option<Url> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_links)
        .find_map(|link| {
            let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
            let is_next = params.split(';').any(|p| {
                let Some((name, value)) = p.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if !is_next {
                return None;
            }
            base.join(target.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
        })
}

/// Splits a `Link` value into links at the commas that are outside `<…>` and quotes.
fn split_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_target, mut in_quotes) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quotes => in_target = true,
            '>' if !in_quotes => in_target = false,
            '"' if !in_target => in_quotes = !in_quotes,
            ',' if !in_target && !in_quotes => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(LINK, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn next_links_are_found_in_every_shape() {
        let base = Url::parse("https://api.example.com/v1/items?page=1").unwrap();
        let github = headers(&[
            "<https://api.example.com/v1/items?page=2>; rel=\"next\", <https://api.example.com/v1/items?page=9>; rel=\"last\"",
        ]);
        assert_eq!(
            next_link(&github, &base).unwrap().as_str(),
            "https://api.example.com/v1/items?page=2"
        );
        let relative = headers(&["</v1/items?page=3&a=b,c>; rel=next"]);
        assert_eq!(
            next_link(&relative, &base).unwrap().as_str(),
            "https://api.example.com/v1/items?page=3&a=b,c"
        );
        let two_headers = headers(&[
            "<x>; rel=\"prev\"",
            "<y>; title=\"a, b\"; rel=\"last next\"",
        ]);
        assert_eq!(
            next_link(&two_headers, &base).unwrap().as_str(),
            "https://api.example.com/v1/y"
        );
        for bad in [
            "",
            "<>",
            "garbage",
            "<https://x/>; rel=prev",
            "<javascript:alert(1)>; rel=next",
            "<; rel=next",
        ] {
            assert_eq!(next_link(&headers(&[bad]), &base), None, "{bad}");
        }
    }
}
