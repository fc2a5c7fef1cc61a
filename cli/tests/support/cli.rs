//! Runs the built `authed` binary in a world of its own: a temporary directory holds its config
//! (`AUTHED_CONFIG`), its home and XDG directories, so that no test sees the user's profiles,
//! keyring entries or lock files, nor another test's.
#![allow(dead_code)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
};

/// A temporary home for the CLI; removed when dropped.
pub struct Cli {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Cli {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "authed-cli-test-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("runtime")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for d in [&dir, &dir.join("runtime")] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
            }
        }
        Self { dir, env: vec![] }
    }

    /// Sets `key` in every run's environment (after the private defaults: it may give back
    /// `DBUS_SESSION_BUS_ADDRESS`, of a private bus).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The config file (`AUTHED_CONFIG`).
    pub fn config(&self) -> PathBuf {
        self.dir.join("config").join("config.toml")
    }

    /// The insecure file store beside the config.
    pub fn credentials_file(&self) -> PathBuf {
        self.dir.join("config").join("credentials.json")
    }

    /// The command, with a private environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authed"));
        command
            .args(args)
            .env("AUTHED_CONFIG", self.config())
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg-config"))
            .env("XDG_CACHE_HOME", self.dir.join("xdg-cache"))
            .env("XDG_RUNTIME_DIR", self.dir.join("runtime"))
            .env_remove("AUTHED_PROFILE")
            .env_remove("NO_COLOR")
            // No Secret Service of the user's: the keyring store finds none (or the kernel
            // keyring); tests choose the file store unless they start their own.
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs `authed args...` with `stdin` and waits.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command(args).stdin(Stdio::piped()).spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Run::new(args, child.wait_with_output().unwrap())
    }

    /// Runs `authed args...` and waits.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::new(args, self.command(args).output().unwrap())
    }

    /// Runs `authed args...` on a blocking thread (for async tests whose servers run on the
    /// test's runtime).
    pub async fn run_async(&self, args: &[&str]) -> Run {
        let command = self.command(args);
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let mut command = command;
            let output = command.output().unwrap();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Run::new(&args, output)
        })
        .await
        .unwrap()
    }

    /// [`Cli::run_with_stdin`] on a blocking thread.
    pub async fn run_with_stdin_async(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command(args).stdin(Stdio::piped()).spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let output = child.wait_with_output().unwrap();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Run::new(&args, output)
        })
        .await
        .unwrap()
    }

    /// Starts `authed args...` without waiting.
    /// `authed profile add dev` for a device login at `issuer` as `client_id`, the session in
    /// the file store.
    pub async fn add_device_profile(&self, issuer: &str, client_id: &str, scope: &str) {
        self.run_async(&[
            "profile",
            "add",
            "dev",
            "--issuer",
            issuer,
            "--client-id",
            client_id,
            "--scope",
            scope,
            "--insecure-storage",
        ])
        .await
        .ok();
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap()
    }

    /// The session the CLI stored for `profile` in the file store (`--insecure-storage`), read
    /// with the library.
    pub async fn stored_session(&self, profile: &str) -> Option<authed::oauth2::Token> {
        use authed::oauth2::TokenStore as _;
        authed::store::CredentialTokenStore::new(
            authed::store::FileStore::at(self.credentials_file()),
            format!("profile/{profile}/session"),
        )
        .load()
        .await
        .unwrap()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub args: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn new(args: &[&str], output: Output) -> Self {
        Self {
            args: args.join(" "),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Fails the test unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "`authed {}` exited with {}, expected {code}\nstdout:\n{}\nstderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    /// Fails the test unless it succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.expect(0)
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`authed {}` printed no JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }
}
