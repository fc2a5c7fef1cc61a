//! Building request URLs: the base URL, its join rules, and [`Segment`] / [`path!`](crate::path!)
//! for path parameters that cannot change the path.
//!
//! # Join rules
//!
//! A [`crate::Client`] has one base URL, say `https://api.example.com/v1`. The path given to
//! `get`, `post`, ... or returned by [`crate::Endpoint::path`] is joined to it like this:
//!
//! | path | request URL |
//! | --- | --- |
//! | `users/42` | `https://api.example.com/v1/users/42` |
//! | `/users/42` (leading `/` is ignored) | `https://api.example.com/v1/users/42` |
//! | `users?page=2` | `https://api.example.com/v1/users?page=2` |
//! | `""` | `https://api.example.com/v1/` |
//! | `https://uploads.example.com/x` (absolute) | used as is; credentials only if that origin is allowed |
//! | `../admin`, `a/./b`, `a/%2e%2e/b` | error: dot segments could leave the base path |
//! | `a//b` | error: an empty segment in the middle is almost always an empty parameter |
//! | `a\b` | error: `\` is read as `/` by URL parsers; encode it |
//!
//! The base URL always ends with `/` (one is added), so a relative path never replaces its
//! last segment, and a leading `/` never climbs to the host root: the two surprises of plain
//! RFC 3986 resolution. The result always stays under the base path.
//!
//! # Path parameters
//!
//! Put untrusted values in a path only through [`Segment`] or the [`path!`](crate::path!)
//! macro: every byte that is not unreserved (`A-Z a-z 0-9 - . _ ~`) is percent-encoded, so an
//! id of `../admin` or `a/b?x=1` stays one segment. A value of `.` or `..` cannot be one
//! segment in any URL (parsers remove it), so it is written as `%2E` / `%2E%2E`, which the join
//! above rejects.
//!
//! # Example
//!
//! ```
//! use authed::path::BaseUrl;
//!
//! let base = BaseUrl::parse("https://api.example.com/v1")?;
//! assert_eq!(base.join("users/42")?.as_str(), "https://api.example.com/v1/users/42");
//! assert_eq!(base.join("/users/42")?.as_str(), "https://api.example.com/v1/users/42");
//!
//! // An untrusted value stays one segment, and dot segments are refused.
//! let id = "../admin";
//! let path = authed::path!("users/{}", id);
//! assert_eq!(path, "users/..%2Fadmin");
//! assert_eq!(base.join(&path)?.as_str(), "https://api.example.com/v1/users/..%2Fadmin");
//! assert!(base.join("users/../admin").is_err());
//! # Ok::<(), authed::Error>(())
//! ```

use std::{borrow::Cow, fmt};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::error::{Error, Result};

/// Everything but the RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value written as exactly one percent-encoded path segment.
///
/// ```
/// use authed::path::Segment;
/// assert_eq!(format!("users/{}", Segment(&"a/b?x=1")), "users/a%2Fb%3Fx%3D1");
/// assert_eq!(format!("users/{}", Segment(&42)), "users/42");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a, T: ?Sized>(pub &'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for Segment<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        match text.as_str() {
            "." => f.write_str("%2E"),
            ".." => f.write_str("%2E%2E"),
            other => write!(f, "{}", utf8_percent_encode(other, SEGMENT)),
        }
    }
}

/// `format!` for paths: every argument is written as one [`Segment`].
///
/// ```
/// let id = "../admin";
/// assert_eq!(authed::path!("users/{}/posts", id), "users/..%2Fadmin/posts");
/// ```
#[macro_export]
macro_rules! path {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        ::std::format!($fmt $(, $crate::path::Segment(&$arg))*)
    };
}

/// A validated base URL: http or https, a host, no userinfo, query or fragment, and a path
/// that ends with `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    url: Url,
}

impl BaseUrl {
    /// Parses and checks a base URL.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for anything but an absolute http(s) URL with a host, or one with
    /// userinfo, a query or a fragment (credentials belong in an auth scheme, and a query on
    /// the base would be silently dropped by some joins and kept by others).
    pub fn parse(input: &str) -> Result<Self> {
        let mut url = Url::parse(input.trim())
            .map_err(|e| Error::invalid_url(format!("base URL does not parse: {e}")))?;
        check_http(&url, "base URL")?;
        if url.query().is_some() {
            return Err(Error::invalid_url(
                "base URL must not have a query: add parameters per request, or use ApiKey::query for a key",
            ));
        }
        if url.fragment().is_some() {
            return Err(Error::invalid_url("base URL must not have a fragment"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self { url })
    }

    /// The base URL.
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// Joins `path` to the base by the rules in the [module docs](self).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a path that could leave the base path or that does not parse.
    pub fn join(&self, path: &str) -> Result<Url> {
        if is_absolute(path) {
            let url = Url::parse(path)
                .map_err(|e| Error::invalid_url(format!("absolute URL does not parse: {e}")))?;
            check_http(&url, "request URL")?;
            return Ok(without_fragment(url));
        }
        if path.chars().any(|c| c.is_ascii_control()) {
            // URL parsers silently delete tabs and newlines and trim control characters,
            // which would let `.\t.` become a `..` segment after our checks.
            return Err(Error::invalid_url(
                "path contains control characters; encode parameters with authed::path::Segment",
            ));
        }
        let relative = path.trim_start_matches('/');
        let end = relative.find(['?', '#']).unwrap_or(relative.len());
        let (path_part, rest) = relative.split_at(end);
        if path_part.contains('\\') {
            return Err(Error::invalid_url(
                "path contains '\\', which URL parsers read as '/'; encode it with authed::path::Segment",
            ));
        }
        let mut segments = path_part.split('/').peekable();
        while let Some(segment) = segments.next() {
            if is_dot_segment(segment) {
                return Err(Error::invalid_url(
                    "path has a '.' or '..' segment (possibly percent-encoded), which would change the path; encode parameters with authed::path::Segment",
                ));
            }
            if segment.is_empty() && segments.peek().is_some() {
                return Err(Error::invalid_url(
                    "path has an empty segment ('//'), usually an empty path parameter",
                ));
            }
        }
        // "./" keeps a first segment such as "user:42" from being read as a scheme; spaces are
        // encoded here because the parser would trim a trailing one (turning `.. ` into `..`).
        if rest.is_empty() && path_part.is_empty() {
            return Ok(self.url.clone());
        }
        if rest.is_empty()
            && path_part.bytes().all(is_plain_path_byte)
            && !self.url.path().contains("//")
        {
            // Nothing to encode, resolve or check: append the segments to the base, as the
            // join below would (it re-parses the whole URL; this costs a third as much). A
            // base with empty segments (`https://h//`) takes the join: appending to it is
            // not the same.
            let mut joined = self.url.clone();
            if let Ok(mut segments) = joined.path_segments_mut() {
                segments.pop_if_empty().extend(path_part.split('/'));
            }
            return Ok(joined);
        }
        let first_segment = path_part.split('/').next().unwrap_or("");
        let reference: Cow<'_, str> = if path_part.contains(' ') || first_segment.contains(':') {
            Cow::Owned(format!("./{}{rest}", path_part.replace(' ', "%20")))
        } else {
            // Nothing the parser could misread: join as given, without a copy.
            Cow::Borrowed(relative)
        };
        let joined = self
            .url
            .join(&reference)
            .map_err(|e| Error::invalid_url(format!("path does not join to the base URL: {e}")))?;
        let joined = without_fragment(joined);
        if !joined.path().starts_with(self.url.path()) || !same_origin(&joined, &self.url) {
            return Err(Error::invalid_url("path would leave the base URL"));
        }
        Ok(joined)
    }
}

fn is_absolute(path: &str) -> bool {
    let starts = |prefix: &str| {
        path.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    starts("http://") || starts("https://")
}

/// Bytes a path segment carries as they are: unreserved and sub-delims, `:` and `@` (RFC 3986
/// `pchar` without `%`), and `/` between segments.
fn is_plain_path_byte(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')'
        | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@' | b'/')
}

/// Scheme, host and port equal (what `Url::origin` compares for http(s), without allocating
/// two `Origin`s). The one origin comparison of the crate.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn without_fragment(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

fn check_http(url: &Url, what: &str) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid_url(format!(
            "{what} must be http or https, not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid_url(format!("{what} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_url(format!(
            "{what} must not carry a user name or password; use authed::auth::Basic"
        )));
    }
    Ok(())
}

/// `.` and `..`, and their percent-encoded spellings, which WHATWG URL parsing also removes.
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BaseUrl {
        BaseUrl::parse("https://api.example.com/v1").unwrap()
    }

    #[test]
    fn join_table_from_the_docs() {
        let b = base();
        let j = |p: &str| b.join(p).map(|u| u.to_string());
        assert_eq!(
            j("users/42").unwrap(),
            "https://api.example.com/v1/users/42"
        );
        assert_eq!(
            j("/users/42").unwrap(),
            "https://api.example.com/v1/users/42"
        );
        assert_eq!(
            j("//users/42").unwrap(),
            "https://api.example.com/v1/users/42"
        );
        assert_eq!(
            j("users?page=2").unwrap(),
            "https://api.example.com/v1/users?page=2"
        );
        assert_eq!(j("").unwrap(), "https://api.example.com/v1/");
        assert_eq!(j("user:42").unwrap(), "https://api.example.com/v1/user:42");
        assert_eq!(j("a/.. ").unwrap(), "https://api.example.com/v1/a/..%20");
        assert_eq!(
            j("HTTPS://other.example/x#f").unwrap(),
            "https://other.example/x"
        );
        for bad in [
            "../admin",
            "a/./b",
            "a/%2e%2E/b",
            "a//b",
            "a\\..\\b",
            "..",
            "a/..",
            ".\t/0",
            "a/.\n./b",
        ] {
            assert!(j(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn base_url_rules() {
        assert!(BaseUrl::parse("ftp://x/").is_err());
        assert!(BaseUrl::parse("https://u:p@x/").is_err());
        assert!(BaseUrl::parse("https://x/?api_key=1").is_err());
        assert!(BaseUrl::parse("not a url").is_err());
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:8080")
                .unwrap()
                .as_url()
                .as_str(),
            "http://127.0.0.1:8080/"
        );
    }

    #[test]
    fn segments_stay_single() {
        let b = base();
        for id in ["../admin", "a/b?x=1", "#frag", "%2e%2e", "a\\b", "é ü"] {
            let url = b.join(&crate::path!("users/{}", id)).unwrap();
            assert_eq!(url.path_segments().unwrap().count(), 3, "{id}");
            assert_eq!(url.query(), None);
        }
        assert!(b.join(&crate::path!("users/{}", "..")).is_err());
        assert!(b.join(&crate::path!("users/{}", ".")).is_err());
    }
}

#[cfg(test)]
mod join_fast_path {
    use super::BaseUrl;

    /// The fast path and `Url::join` agree, on bases with empty segments too (a property test
    /// found `https://h//` joined with "" giving `https://h/`).
    #[test]
    fn appending_agrees_with_join() {
        for base in [
            "https://h/",
            "https://h/v1/",
            "https://h//",
            "https://h/a//b/",
        ] {
            let b = BaseUrl::parse(base).unwrap();
            for path in ["", "x", "x/y", "x/", "a:b", "users/42/items"] {
                let fast = b.join(path).unwrap();
                let slow = b.as_url().join(&format!("./{path}")).unwrap();
                assert_eq!(fast.as_str(), slow.as_str(), "{base} + {path:?}");
            }
        }
    }
}
