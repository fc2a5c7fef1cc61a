//! The authentication stage: every scheme writes its credentials onto the request through an
//! [`AuthRequest`], and after a `401` each may renew its credential so that the request is
//! replayed once.
//!
//! Used by the client's send loop and by [`crate::middleware::AuthMiddleware`]; whether
//! credentials may go to a URL at all is decided before, by [`super::redirect::Origins`].

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode, header::WWW_AUTHENTICATE};

use crate::{
    auth::{Answered, AuthRequest, Authenticate, Unauthorized},
    error::Result,
    redact::Redactor,
};

/// The schemes a request is authenticated with.
pub(crate) type AuthList = Arc<[Arc<dyn Authenticate>]>;

/// What [`authenticate`] left on the request, for the `401` handshake.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// The `Authorization` header sent, to tell a renewed credential from the rejected one.
    pub(crate) authorization: Option<HeaderValue>,
    /// A scheme wrote a query credential into the URL.
    pub(crate) url_written: bool,
}

/// Lets every scheme write its credentials onto `request`. Every credential header is marked
/// sensitive (so that hyper and reqwest never print it) where it is set: by `AuthRequest`
/// for the schemes, by `RequestBuilder::header` and `ClientBuilder::default_header` for the
/// names in the credential list.
///
/// # Errors
///
/// The first scheme's error; the request is not sent.
pub(crate) async fn authenticate(
    schemes: &[Arc<dyn Authenticate>],
    request: &mut reqwest::Request,
    redactor: &mut Redactor,
) -> Result<Applied> {
    let mut applied = Applied::default();
    if !schemes.is_empty() {
        // reqwest's Request lends one part at a time: move the headers and body out while the
        // schemes see them beside the URL, then put them back.
        let method = request.method().clone();
        let body = request.body_mut().take();
        let mut headers = std::mem::take(request.headers_mut());
        let result = async {
            for scheme in schemes {
                let mut auth = AuthRequest::new(
                    &method,
                    request.url_mut(),
                    &mut headers,
                    body.as_ref().and_then(reqwest::Body::as_bytes),
                    redactor,
                );
                scheme.authenticate(&mut auth).await?;
                applied.url_written |= auth.url_written();
            }
            Ok::<_, crate::Error>(())
        }
        .await;
        *request.headers_mut() = headers;
        *request.body_mut() = body;
        result?;
        applied.authorization = request.headers().get(http::header::AUTHORIZATION).cloned();
    }
    Ok(applied)
}

/// Shows every scheme the answer to a request that carried their credentials (see
/// [`Authenticate::answered`]).
pub(crate) fn answered(
    schemes: &[Arc<dyn Authenticate>],
    url: &url::Url,
    status: StatusCode,
    headers: &HeaderMap,
) {
    let answer = Answered {
        url,
        status,
        headers,
    };
    for scheme in schemes {
        scheme.answered(&answer);
    }
}

/// After a `401` to a request that carried the schemes' credentials: asks each scheme to
/// renew, and returns `true` when one did (replay the request once). A challenge that says
/// `insufficient_scope` is not renewed: a new token with the same scopes would not help.
///
/// # Errors
///
/// A scheme's renewal failed; it ends the request.
pub(crate) async fn renew(
    schemes: &[Arc<dyn Authenticate>],
    url: &url::Url,
    status: StatusCode,
    headers: &HeaderMap,
    applied: &Applied,
) -> Result<bool> {
    if status != StatusCode::UNAUTHORIZED || schemes.is_empty() {
        return Ok(false);
    }
    let challenge = headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
    if challenge.is_some_and(|c| c.contains("insufficient_scope")) {
        return Ok(false);
    }
    let rejected = Unauthorized {
        authorization: applied.authorization.as_ref(),
        challenge,
        url: Some(url),
        headers: Some(headers),
    };
    let mut renewed = false;
    for scheme in schemes {
        renewed |= scheme.unauthorized(&rejected).await?;
    }
    if renewed {
        tracing::debug!(
            target: "authed::client",
            "credential renewed after a 401; replaying once"
        );
    }
    Ok(renewed)
}

/// The label of a set of schemes for the audit trail (`"bearer"`, `"basic + api-key ..."`).
pub(crate) fn label(schemes: &[Arc<dyn Authenticate>]) -> Arc<str> {
    if schemes.is_empty() {
        return Arc::from("none");
    }
    schemes
        .iter()
        .map(|a| a.label())
        .collect::<Vec<_>>()
        .join(" + ")
        .into()
}
