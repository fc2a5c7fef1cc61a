//! [`Secret`]: the one type every credential lives in while it is in memory.

use std::{fmt, sync::Arc};

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// A secret string: a password, an API key, a token.
///
/// It wraps [`secrecy::SecretString`], so the memory is zeroed when the last copy is dropped,
/// and it has no `Display` and a `Debug` that prints `[redacted]`. The value is read only
/// through [`ExposeSecret::expose_secret`], which the crate calls only where the secret is
/// written onto the wire.
///
/// Clones share one allocation (an `Arc`), so handing a secret to each request costs a
/// reference count, not a copy; the memory is zeroed when the last clone goes.
///
/// ```
/// use authed::Secret;
/// use secrecy::ExposeSecret;
///
/// let key = Secret::from("s3cr3t");
/// assert_eq!(format!("{key:?}"), "Secret([redacted])");
/// assert_eq!(key.expose_secret(), "s3cr3t");
/// ```
#[derive(Clone)]
pub struct Secret(Arc<SecretString>);

impl Secret {
    /// Wraps a string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::new(SecretString::from(value.into())))
    }

    /// Reads a secret from the environment variable `var`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the variable is not set, is empty or is not valid Unicode. The
    /// message names the variable and never contains a value.
    pub fn from_env(var: &str) -> Result<Self> {
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(Self::new(value)),
            Ok(_) => Err(Error::config(format!(
                "environment variable {var} is set but empty"
            ))),
            Err(std::env::VarError::NotPresent) => Err(Error::config(format!(
                "environment variable {var} is not set"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::config(format!(
                "environment variable {var} is not valid Unicode"
            ))),
        }
    }

    /// `true` when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl ExposeSecret<str> for Secret {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<SecretString> for Secret {
    fn from(value: SecretString) -> Self {
        Self(Arc::new(value))
    }
}

impl From<Secret> for SecretString {
    fn from(value: Secret) -> Self {
        Arc::unwrap_or_clone(value.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_env_names_the_variable_not_the_value() {
        let err = Secret::from_env("AUTHED_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("AUTHED_TEST_SURELY_UNSET_VARIABLE"), "{text}");
        assert!(err.is_config());
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from("canary-9f1c");
        assert!(!format!("{s:?}").contains("canary"));
        assert!(!format!("{s:#?}").contains("canary"));
    }
}
