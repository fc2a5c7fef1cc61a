//! Token revocation (RFC 7009): [`OAuthClient::revoke`] revokes one token,
//! [`TokenAuth::logout`] revokes a session's tokens and forgets it.

use secrecy::ExposeSecret;
use url::Url;

use crate::{
    Secret,
    error::Result,
    oauth2::{
        client::{OAuthClient, parse_endpoint},
        token_auth::TokenAuth,
    },
};

impl OAuthClient {
    /// Revokes `token` at `endpoint` (RFC 7009), with a `token_type_hint`
    /// (`"refresh_token"` or `"access_token"`). The server answers 200 for unknown tokens
    /// too, so success means "this token no longer works", not "it existed". A client with a
    /// DPoP key ([`OAuthClient::dpop`]) sends a proof with the request.
    ///
    /// # Errors
    ///
    /// [`Error::OAuth`](crate::Error::OAuth) for an error answer;
    /// [`Error::BodyTooLarge`](crate::Error::BodyTooLarge) for an answer longer than
    /// [`MAX_OAUTH_BODY`](crate::oauth2::MAX_OAUTH_BODY); the request's errors.
    pub async fn revoke(&self, endpoint: &str, token: &Secret, hint: &str) -> Result<()> {
        let url: Url = parse_endpoint(endpoint, "revocation endpoint")?;
        let answer = self
            .post_dpop(
                &url,
                &[("token", token.expose_secret()), ("token_type_hint", hint)],
            )
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.error_from_body())
        }
    }
}

impl TokenAuth {
    /// Logs out: revokes the refresh token and the access token at `endpoint` (best effort:
    /// a failure is logged, not returned), then forgets the session in memory and in the
    /// store.
    ///
    /// # Errors
    ///
    /// The store could not be cleared.
    pub async fn logout(&self, client: &OAuthClient, endpoint: &str) -> Result<()> {
        if let Some(token) = self.current_token() {
            let mut revoke = vec![(token.access_token().clone(), "access_token")];
            if let Some(refresh) = token.refresh_token() {
                // The refresh token first: revoking it usually revokes the whole grant.
                revoke.insert(0, (refresh.clone(), "refresh_token"));
            }
            for (secret, hint) in revoke {
                if let Err(e) = client.revoke(endpoint, &secret, hint).await {
                    tracing::warn!(target: "authed::oauth2", error = %e, hint, "revocation failed; forgetting the token anyway");
                }
            }
        }
        self.forget().await
    }
}
