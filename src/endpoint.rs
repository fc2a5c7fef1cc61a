//! [`Endpoint`]: a typed request whose response type travels with it.

use std::borrow::Cow;

use http::Method;
use serde::de::DeserializeOwned;

use crate::client::RequestBuilder;

/// A typed API call: method, path, and what the response decodes into.
///
/// [`crate::Client::call`] joins [`Endpoint::path`] to the base URL (see [`mod@crate::path`] for
/// the rules; build paths with [`path!`](crate::path!) so that parameters stay one segment),
/// lets [`Endpoint::configure`] add a query, a body or headers, sends it, and decodes a success
/// into [`Endpoint::Output`]. An empty body decodes as JSON `null`, so `()` and `Option<T>` work
/// for `204 No Content`.
///
/// ```
/// use std::borrow::Cow;
/// use authed::{Endpoint, RequestBuilder};
/// use http::Method;
///
/// #[derive(serde::Deserialize)]
/// struct User { id: u64, name: String }
///
/// struct GetUser { id: u64 }
///
/// impl Endpoint for GetUser {
///     type Output = User;
///     fn method(&self) -> Method { Method::GET }
///     fn path(&self) -> Cow<'_, str> { authed::path!("users/{}", self.id).into() }
/// }
///
/// struct SearchUsers<'a> { name: &'a str }
///
/// impl Endpoint for SearchUsers<'_> {
///     type Output = Vec<User>;
///     fn method(&self) -> Method { Method::GET }
///     fn path(&self) -> Cow<'_, str> { "users".into() }
///     fn configure(&self, request: RequestBuilder) -> RequestBuilder {
///         request.query(&[("name", self.name)])
///     }
/// }
/// ```
pub trait Endpoint {
    /// What a successful response decodes into.
    type Output: DeserializeOwned;

    /// The HTTP method.
    fn method(&self) -> Method;

    /// The path, relative to the client's base URL.
    fn path(&self) -> Cow<'_, str>;

    /// Adds a query, a body or headers to the request. The default adds nothing.
    fn configure(&self, request: RequestBuilder) -> RequestBuilder {
        request
    }
}
