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

    /// Reads a secret from a file, as systemd credentials (`$CREDENTIALS_DIRECTORY/name`),
    /// Docker and Kubernetes secrets (`/run/secrets/name`) and `pass`-style stores keep them.
    /// One trailing newline (`\n` or `\r\n`) is removed, as editors and `echo` add one.
    ///
    /// On Unix the file must not be readable by its group or by others (mode `0600` or
    /// `0400`): a secret anyone on the machine can read is already leaked. Use
    /// [`Secret::from_shared_file`] for a file whose permissions you accept (a container
    /// secret mounted `0644` inside a single-user container).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the path (never the content) when the file is missing,
    /// unreadable, group- or world-readable, larger than [`MAX_SECRET_FILE`], empty, or not
    /// UTF-8.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        read_secret_file(path.as_ref(), true)
    }

    /// [`Secret::from_file`] without the permission check.
    ///
    /// # Errors
    ///
    /// As [`Secret::from_file`], but a readable file is accepted.
    pub fn from_shared_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        read_secret_file(path.as_ref(), false)
    }

    /// Runs `program` with `args` and takes what it prints on standard output as the secret,
    /// one trailing newline removed: 1Password's `op read op://vault/item/field`, `pass show
    /// name`, `security find-generic-password -w`, a cloud CLI's `print-access-token`, or any
    /// credential process.
    ///
    /// The program runs without a shell (arguments are passed as they are), with standard
    /// input closed, for at most `timeout` (it is killed after that). Its standard error is
    /// never put into an error message (a failing secret tool may print the secret, or
    /// parts of it, there); only the program's name and exit status are.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the program when it cannot be started, exits unsuccessfully,
    /// runs longer than `timeout`, prints nothing, prints more than [`MAX_SECRET_FILE`]
    /// bytes, or prints something that is not UTF-8.
    pub async fn from_command<I, S>(
        program: &str,
        args: I,
        timeout: std::time::Duration,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            Error::config(format!(
                "secret command {program:?} could not be started: {e}"
            ))
        })?;
        let stdout = child.stdout.take();
        let run = async move {
            use tokio::io::AsyncReadExt as _;
            let mut out = Vec::new();
            if let Some(stdout) = stdout {
                // One byte past the limit says "too long" without reading a flood.
                stdout
                    .take(MAX_SECRET_FILE + 1)
                    .read_to_end(&mut out)
                    .await?;
            }
            if out.len() as u64 > MAX_SECRET_FILE {
                // It would block on a full pipe: stop it rather than wait for the timeout.
                let _ = child.start_kill();
            }
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out))
        };
        let (status, stdout) = match tokio::time::timeout(timeout, run).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => {
                return Err(Error::config(format!(
                    "secret command {program:?} failed while running: {}",
                    e.kind()
                )));
            }
            Err(_) => {
                return Err(Error::config(format!(
                    "secret command {program:?} did not finish within {timeout:?} and was killed"
                )));
            }
        };
        if !status.success() && stdout.len() as u64 <= MAX_SECRET_FILE {
            let mut stdout = stdout;
            secrecy::zeroize::Zeroize::zeroize(&mut stdout);
            return Err(Error::config(format!(
                "secret command {program:?} exited with {status} (its error output is not \
                 shown: it may contain the secret)"
            )));
        }
        secret_from_bytes(stdout, || {
            format!("the output of secret command {program:?}")
        })
    }

    /// `true` when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

/// The largest secret file, or command output, read (64 KiB: far more than any key, token or
/// certificate bundle; a larger file is not a secret someone meant).
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

fn read_secret_file(path: &std::path::Path, check_mode: bool) -> Result<Secret> {
    use std::io::Read as _;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        Error::config(format!(
            "secret file {shown} could not be opened: {}",
            e.kind()
        ))
    })?;
    let meta = file.metadata().map_err(|e| {
        Error::config(format!(
            "secret file {shown} could not be read: {}",
            e.kind()
        ))
    })?;
    if !meta.is_file() {
        return Err(Error::config(format!(
            "secret file {shown} is not a regular file"
        )));
    }
    #[cfg(unix)]
    if check_mode {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::config(format!(
                "secret file {shown} is readable by others (mode {mode:o}): chmod 600 it, or \
                 use Secret::from_shared_file if you accept that"
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = check_mode;
    if meta.len() > MAX_SECRET_FILE {
        return Err(Error::config(format!(
            "secret file {shown} is larger than {MAX_SECRET_FILE} bytes"
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::config(format!(
                "secret file {shown} could not be read: {}",
                e.kind()
            ))
        })?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(Error::config(format!(
            "secret file {shown} is larger than {MAX_SECRET_FILE} bytes"
        )));
    }
    secret_from_bytes(bytes, || format!("secret file {shown}"))
}

/// The secret in `bytes` (one trailing newline removed); `what` names the source for errors.
fn secret_from_bytes(mut bytes: Vec<u8>, what: impl Fn() -> String) -> Result<Secret> {
    if bytes.len() as u64 > MAX_SECRET_FILE {
        secrecy::zeroize::Zeroize::zeroize(&mut bytes);
        return Err(Error::config(format!(
            "{} is larger than {MAX_SECRET_FILE} bytes",
            what()
        )));
    }
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    match String::from_utf8(bytes) {
        Ok(text) if text.is_empty() => Err(Error::config(format!("{} is empty", what()))),
        Ok(text) => Ok(Secret::new(text)),
        Err(e) => {
            let mut bytes = e.into_bytes();
            secrecy::zeroize::Zeroize::zeroize(&mut bytes);
            Err(Error::config(format!("{} is not valid UTF-8", what())))
        }
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
