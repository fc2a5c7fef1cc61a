//! Runs one test again in a child process of the test binary, with an environment of its own.
//!
//! For tests about the process environment (`Secret::from_env`, `DBUS_SESSION_BUS_ADDRESS`):
//! `std::env::set_var` is unsound while other test threads run (they may read the environment
//! at the same time), so the variable is set for a child process instead. The test is one
//! function with two roles:
//!
//! ```ignore
//! #[path = "support/child.rs"]
//! mod child;
//!
//! #[test]
//! fn reads_the_variable() {
//!     if child::is_child("reads_the_variable") {
//!         // the test itself, with the variable set
//!     } else {
//!         let mut command = child::command("reads_the_variable");
//!         command.env("SOME_VARIABLE", "value");
//!         child::run(command);
//!     }
//! }
//! ```
#![allow(dead_code)]

use std::{
    future::Future,
    process::{Command, Output},
};

/// Set in the child to the name of the test it runs.
pub const CHILD_VAR: &str = "AUTHED_TEST_CHILD";

/// Whether this process is the child started to run `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_VAR).is_ok_and(|v| v == test)
}

/// A command that runs exactly `test` (its full name, `module::name` inside a module) of
/// this test binary, as the child.
pub fn command(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, test);
    command
}

/// Runs `command` (from [`command`]) and asserts that the child ran its one test and that it
/// passed. Returns what the child wrote.
#[track_caller]
pub fn run(mut command: Command) -> Output {
    let output = command.output().expect("the test binary runs again");
    check(&output);
    output
}

/// The assertions of [`run`], for a child started some other way (e.g. with
/// `tokio::process::Command::from(command(...))`).
#[track_caller]
pub fn check(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // An unknown test name runs nothing and still exits 0.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child did not run its test:\n{stdout}\n{stderr}"
    );
}

/// Runs `body` to completion on a new single-threaded tokio runtime: the child's side of an
/// async test written as a plain `#[test]` (which may not start a runtime in both roles).
pub fn block_on<F: Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(body)
}
