//! One module per group of commands.

pub mod login;
pub mod profile;
pub mod request;
pub mod secret;

/// The options every command takes.
#[derive(Debug)]
pub struct Global {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--json`.
    pub json: bool,
    /// `-v`.
    pub verbose: bool,
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
