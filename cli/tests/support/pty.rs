//! Runs `authed` under a real pseudo-terminal: a tmux server of the test's own (its socket in
//! the test's directory, never the user's tmux), one pane per run, read back with
//! `capture-pane` as a person would see the screen.
//!
//! ```ignore
//! let tmux = pty::Tmux::require(&cli);            // installs tmux with apt-get if missing
//! let pane = tmux.run(&cli, &["login"], &[]);     // `authed login` on a 100x30 terminal
//! let screen = pane.wait_for("the code", |s| s.contains("one-time code"));
//! pane.keys(&["C-c"]);
//! assert_eq!(pane.wait_exit(Duration::from_secs(5)), 130);
//! ```
//!
//! The pane runs a small bash script: it starts `authed`, and when it ends, writes its exit
//! status and whether the terminal echoes (`stty`) to files beside the script, then sleeps, so
//! that the pane stays with the terminal as `authed` left it (is the cursor shown?) until the
//! test ends. Ctrl-C reaches `authed` (the script itself ignores it). A tmux that cannot be had
//! fails the test, saying how to install it.
#![allow(dead_code)]

#[path = "../../../tests/support/apt.rs"]
mod apt;
#[path = "../../../tests/support/lock.rs"]
mod lock;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use super::cli::Cli;

/// The terminal's size.
pub const COLUMNS: u16 = 100;
pub const ROWS: u16 = 30;

/// A private tmux server, killed when dropped.
pub struct Tmux {
    program: PathBuf,
    socket: PathBuf,
    config: PathBuf,
    panes: std::cell::Cell<u32>,
}

/// The tmux program: on `PATH` (or `$AUTHED_TMUX`), else installed with apt-get (the shared
/// tests/support/apt.rs: as root or with password-less sudo, under a lock); else the test fails
/// saying what to do.
fn tmux_program() -> PathBuf {
    apt::program("tmux", "tmux", "AUTHED_TMUX").unwrap_or_else(|e| {
        panic!(
            "tmux is needed to run authed under a pseudo-terminal and could not be had: {e}\n\
             Fix: install tmux (`apt-get install tmux` as root), or point AUTHED_TMUX at one"
        )
    })
}

/// Quotes `text` for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Tmux {
    /// A tmux server for `cli`'s tests (its socket in `cli`'s directory).
    pub fn require(cli: &Cli) -> Self {
        let program = tmux_program();
        let config = cli.dir().join("tmux.conf");
        // No status line: the pane is the whole terminal. The pane stays when its program
        // ends, with its exit status.
        std::fs::write(
            &config,
            "set -g status off\nset -g remain-on-exit on\nset -g history-limit 2000\n",
        )
        .unwrap();
        Self {
            program,
            socket: cli.dir().join("tmux.sock"),
            config,
            panes: std::cell::Cell::new(0),
        }
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.config)
            .env_remove("TMUX")
            .stdin(Stdio::null());
        command
    }

    fn run_tmux(&self, args: &[&str]) -> String {
        let output = self.tmux().args(args).output().expect("tmux runs");
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts `authed args...` in a new pane with `cli`'s private environment plus `env`
    /// (a `None` value removes a variable).
    pub fn run(&self, cli: &Cli, args: &[&str], env: &[(&str, Option<&str>)]) -> Pane<'_> {
        let n = self.panes.get() + 1;
        self.panes.set(n);
        let name = format!("run{n}");
        let script = self.launcher(cli, &name, args, env);
        let dir = cli.dir().to_owned();
        let (columns, rows) = (COLUMNS.to_string(), ROWS.to_string());
        let target = format!("{name}:0.0");
        self.run_tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            &columns,
            "-y",
            &rows,
            script.to_str().unwrap(),
        ]);
        Pane {
            tmux: self,
            target,
            status_file: dir.join(format!("{name}.status")),
            echo_file: dir.join(format!("{name}.echo")),
        }
    }

    /// The pane's bash script: the command's environment, the command, then its exit status
    /// and the terminal's echo flag to files, and a long sleep that keeps the pane open.
    fn launcher(
        &self,
        cli: &Cli,
        name: &str,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> PathBuf {
        let command = cli.command(args);
        // `trap true INT`: Ctrl-C interrupts `authed` (same process group), not the script;
        // `authed` gets the default disposition back (a trap with a command is not inherited).
        let mut text = String::from("#!/bin/bash\ntrap true INT\n");
        let mut set = |key: &str, value: Option<&str>| match value {
            Some(v) => text.push_str(&format!("export {key}={}\n", quote(v))),
            None => text.push_str(&format!("unset {key}\n")),
        };
        for (key, value) in command.get_envs() {
            set(key.to_str().unwrap(), value.map(|v| v.to_str().unwrap()));
        }
        for (key, value) in env {
            set(key, *value);
        }
        text.push_str(&quote(command.get_program().to_str().unwrap()));
        for arg in command.get_args() {
            text.push_str(&format!(" {}", quote(arg.to_str().unwrap())));
        }
        let file = |ext: &str| quote(cli.dir().join(format!("{name}.{ext}")).to_str().unwrap());
        text.push_str(&format!(
            "\nstatus=$?\n\
             printf '[exit %d]\\n' \"$status\"\n\
             stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?echo' > {echo}\n\
             echo \"$status\" > {status}.tmp && mv {status}.tmp {status}\n\
             exec sleep 3600\n",
            echo = file("echo"),
            status = file("status"),
        ));
        let path = cli.dir().join(format!("{name}.sh"));
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        path
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One program on its own terminal.
pub struct Pane<'a> {
    tmux: &'a Tmux,
    target: String,
    status_file: PathBuf,
    echo_file: PathBuf,
}

impl Pane<'_> {
    /// The screen as text (no colours), trailing blank lines dropped.
    pub fn screen(&self) -> String {
        self.tmux
            .run_tmux(&["capture-pane", "-p", "-t", &self.target])
            .trim_end()
            .to_owned()
    }

    /// The screen with its colours and attributes as escape sequences.
    pub fn screen_with_attributes(&self) -> String {
        self.tmux
            .run_tmux(&["capture-pane", "-p", "-e", "-t", &self.target])
            .trim_end()
            .to_owned()
    }

    /// A tmux format of the pane (`#{cursor_flag}`, `#{pane_dead_status}`).
    pub fn format(&self, format: &str) -> String {
        self.tmux
            .run_tmux(&["display-message", "-p", "-t", &self.target, format])
            .trim()
            .to_owned()
    }

    /// Waits until `ready` holds of the screen (at most 30 s), and returns that screen; fails
    /// the test with the last screen otherwise, or if the program ended first.
    #[track_caller]
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if let Some(code) = self.exit_status() {
                panic!("waiting for {what}, the program exited with {code}:\n{screen}");
            }
            if Instant::now() > until {
                panic!("waiting for {what}: not there after 30 s:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `keys` (tmux key names: `C-c`, `Enter`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.target];
        args.extend_from_slice(keys);
        self.tmux.run_tmux(&args);
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.tmux
            .run_tmux(&["send-keys", "-t", &self.target, "-l", text]);
    }

    /// The program's exit status, once it has ended (`128 + n` after signal `n`).
    pub fn exit_status(&self) -> Option<i32> {
        let text = std::fs::read_to_string(&self.status_file).ok()?;
        Some(text.trim().parse().unwrap_or(-1))
    }

    /// After the program ended: whether the terminal echoes what is typed (as the shell
    /// needs it to).
    pub fn echo_on(&self) -> bool {
        let flag = std::fs::read_to_string(&self.echo_file).expect("the script wrote stty's flag");
        match flag.trim() {
            "echo" => true,
            "-echo" => false,
            other => panic!("stty said {other:?}"),
        }
    }

    /// Waits for the program to end (at most `limit`) and returns its exit status.
    #[track_caller]
    pub fn wait_exit(&self, limit: Duration) -> i32 {
        let until = Instant::now() + limit;
        loop {
            if let Some(code) = self.exit_status() {
                return code;
            }
            if Instant::now() > until {
                panic!(
                    "the program is still running after {limit:?}:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether the terminal shows its cursor (after the program ended: whether it left it
    /// shown).
    pub fn cursor_shown(&self) -> bool {
        self.format("#{cursor_flag}") == "1"
    }
}
